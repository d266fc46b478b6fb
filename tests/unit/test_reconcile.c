/*
 * test_reconcile.c - the reconciler's decision table (src/ctrl/decide.c):
 * every row of the table at the top of reconcile.c, and the edges around
 * it (back-off over everything, error kept until deleted, unknown words
 * waited on, scaling-group membership only for a crashed VM).
 */
#include <stddef.h>

#include "check.h"
#include "ctrl/ctrl_int.h"

static enum reconcile_action decide(const char *desired, const char *status, const char *vm)
{
    struct reconcile_input in = {.desired = desired, .status = status, .vm_state = vm};
    return reconcile_decide(&in);
}

#define CHECK_ACTION(got, want)                                                                    \
    CHECK_STR_EQ(reconcile_action_name(got), reconcile_action_name(want))

static const char *const statuses[] = {"building",  "running",  "stopping", "stopped",
                                       "rebooting", "deleting", "unknown",  NULL};
static const char *const vm_states[] = {"running", "starting", "stopping", "stopped",
                                        "paused",  "crashed",  NULL};

/* desired running, no VM: create (started), whatever the status. */
static void test_running_no_vm(void)
{
    for (int i = 0; statuses[i]; i++)
        CHECK_ACTION(decide("running", statuses[i], NULL), RECONCILE_CREATE);
}

static void test_running_stopped_or_crashed(void)
{
    for (int i = 0; statuses[i]; i++) {
        CHECK_ACTION(decide("running", statuses[i], "stopped"), RECONCILE_START);
        CHECK_ACTION(decide("running", statuses[i], "crashed"), RECONCILE_START);
    }
}

/* A crashed member of a scaling group fails (its group replaces it); a
 * stopped member starts again like any instance. */
static void test_running_crashed_in_group(void)
{
    struct reconcile_input in = {
        .desired = "running", .status = "running", .vm_state = "crashed", .in_group = true};
    CHECK_ACTION(reconcile_decide(&in), RECONCILE_FAIL);
    in.status = "building";
    CHECK_ACTION(reconcile_decide(&in), RECONCILE_FAIL);
    in.vm_state = "stopped";
    CHECK_ACTION(reconcile_decide(&in), RECONCILE_START);
    in.vm_state = "running";
    CHECK_ACTION(reconcile_decide(&in), RECONCILE_REACHED_RUNNING);
    /* desired stopped: a crashed VM is simply stopped */
    in.desired = "stopped";
    in.vm_state = "crashed";
    CHECK_ACTION(reconcile_decide(&in), RECONCILE_REACHED_STOPPED);
}

static void test_running_paused(void)
{
    for (int i = 0; statuses[i]; i++)
        CHECK_ACTION(decide("running", statuses[i], "paused"), RECONCILE_RESUME);
}

static void test_running_vm_runs(void)
{
    CHECK_ACTION(decide("running", "rebooting", "running"), RECONCILE_REBOOT);
    CHECK_ACTION(decide("running", "running", "running"), RECONCILE_NOTHING);
    CHECK_ACTION(decide("running", "building", "running"), RECONCILE_REACHED_RUNNING);
    CHECK_ACTION(decide("running", "stopped", "running"), RECONCILE_REACHED_RUNNING);
    CHECK_ACTION(decide("running", "unknown", "running"), RECONCILE_REACHED_RUNNING);
}

/* starting and stopping VMs are waited on, as are states the table does
 * not know. */
static void test_running_wait(void)
{
    for (int i = 0; statuses[i]; i++) {
        CHECK_ACTION(decide("running", statuses[i], "starting"), RECONCILE_NOTHING);
        CHECK_ACTION(decide("running", statuses[i], "stopping"), RECONCILE_NOTHING);
        CHECK_ACTION(decide("running", statuses[i], "migrating"), RECONCILE_NOTHING);
    }
}

static void test_stopped(void)
{
    for (int i = 0; statuses[i]; i++) {
        CHECK_ACTION(decide("stopped", statuses[i], NULL), RECONCILE_CREATE_STOPPED);
        CHECK_ACTION(decide("stopped", statuses[i], "running"), RECONCILE_STOP);
        CHECK_ACTION(decide("stopped", statuses[i], "starting"), RECONCILE_STOP);
        CHECK_ACTION(decide("stopped", statuses[i], "paused"), RECONCILE_STOP);
        CHECK_ACTION(decide("stopped", statuses[i], "stopping"), RECONCILE_NOTHING);
        CHECK_ACTION(decide("stopped", statuses[i], "bogus"), RECONCILE_NOTHING);
    }
    CHECK_ACTION(decide("stopped", "stopping", "stopped"), RECONCILE_REACHED_STOPPED);
    CHECK_ACTION(decide("stopped", "unknown", "crashed"), RECONCILE_REACHED_STOPPED);
    CHECK_ACTION(decide("stopped", "building", "stopped"), RECONCILE_REACHED_STOPPED);
    CHECK_ACTION(decide("stopped", "stopped", "stopped"), RECONCILE_NOTHING);
    CHECK_ACTION(decide("stopped", "stopped", "crashed"), RECONCILE_NOTHING);
}

/* desired deleted: delete, whatever the VM and the status (error too). */
static void test_deleted(void)
{
    for (int i = 0; statuses[i]; i++) {
        CHECK_ACTION(decide("deleted", statuses[i], NULL), RECONCILE_DELETE);
        for (int j = 0; vm_states[j]; j++)
            CHECK_ACTION(decide("deleted", statuses[i], vm_states[j]), RECONCILE_DELETE);
    }
    CHECK_ACTION(decide("deleted", "error", "running"), RECONCILE_DELETE);
    CHECK_ACTION(decide("deleted", "error", NULL), RECONCILE_DELETE);
}

/* An instance in error is left alone until it is deleted. */
static void test_error_left_alone(void)
{
    CHECK_ACTION(decide("running", "error", NULL), RECONCILE_NOTHING);
    CHECK_ACTION(decide("stopped", "error", NULL), RECONCILE_NOTHING);
    for (int j = 0; vm_states[j]; j++) {
        CHECK_ACTION(decide("running", "error", vm_states[j]), RECONCILE_NOTHING);
        CHECK_ACTION(decide("stopped", "error", vm_states[j]), RECONCILE_NOTHING);
    }
    struct reconcile_input in = {
        .desired = "running", .status = "error", .vm_state = "crashed", .in_group = true};
    CHECK_ACTION(reconcile_decide(&in), RECONCILE_NOTHING);
}

/* A back-off after a refusal wins over every row, a delete included. */
static void test_backing_off(void)
{
    const char *desired[] = {"running", "stopped", "deleted"};
    for (size_t d = 0; d < 3; d++) {
        struct reconcile_input in = {
            .desired = desired[d], .status = "running", .vm_state = NULL, .backing_off = true};
        CHECK_ACTION(reconcile_decide(&in), RECONCILE_NOTHING);
        for (int j = 0; vm_states[j]; j++) {
            in.vm_state = vm_states[j];
            CHECK_ACTION(reconcile_decide(&in), RECONCILE_NOTHING);
        }
    }
}

/* A VM of an older generation than its instance (a copy an evacuation
 * left behind) is destroyed whatever the rest says - never resumed or
 * started, even in a back-off or while the instance is in error; without
 * a VM the flag changes nothing. */
static void test_stale_generation(void)
{
    const char *desired[] = {"running", "stopped", "deleted"};
    for (size_t d = 0; d < 3; d++)
        for (int i = 0; statuses[i]; i++)
            for (int j = 0; vm_states[j]; j++)
                for (int b = 0; b < 2; b++) {
                    struct reconcile_input in = {.desired = desired[d],
                                                 .status = statuses[i],
                                                 .vm_state = vm_states[j],
                                                 .stale = true,
                                                 .backing_off = b};
                    CHECK_ACTION(reconcile_decide(&in), RECONCILE_DESTROY_STALE);
                }
    struct reconcile_input in = {
        .desired = "running", .status = "building", .vm_state = NULL, .stale = true};
    CHECK_ACTION(reconcile_decide(&in), RECONCILE_CREATE);
    /* the paused copy a frozen host kept: not stale, resumed; stale, not */
    in = (struct reconcile_input){.desired = "running", .status = "unknown", .vm_state = "paused"};
    CHECK_ACTION(reconcile_decide(&in), RECONCILE_RESUME);
    in.stale = true;
    CHECK_ACTION(reconcile_decide(&in), RECONCILE_DESTROY_STALE);
}

/* A migrating instance is the migration driver's (src/ctrl/migrate.c):
 * the source's copy pauses for good at the switch-over and must never be
 * resumed, started or recreated by the table. */
static void test_migrating_left_to_the_driver(void)
{
    CHECK_ACTION(decide("running", "migrating", NULL), RECONCILE_NOTHING);
    for (int j = 0; vm_states[j]; j++)
        CHECK_ACTION(decide("running", "migrating", vm_states[j]), RECONCILE_NOTHING);
}

/* A desired state the table does not know does nothing. */
static void test_unknown_desired(void)
{
    CHECK_ACTION(decide("paused", "running", "running"), RECONCILE_NOTHING);
    CHECK_ACTION(decide("", "running", NULL), RECONCILE_NOTHING);
    struct reconcile_input in = {0};
    CHECK_ACTION(reconcile_decide(&in), RECONCILE_NOTHING);
}

static void test_names(void)
{
    CHECK_STR_EQ(reconcile_action_name(RECONCILE_CREATE), "create");
    CHECK_STR_EQ(reconcile_action_name(RECONCILE_REACHED_STOPPED), "reached-stopped");
    CHECK_STR_EQ(reconcile_action_name(RECONCILE_FAIL), "fail");
    CHECK_STR_EQ(reconcile_action_name(RECONCILE_DESTROY_STALE), "destroy-stale");
    CHECK_STR_EQ(reconcile_action_name((enum reconcile_action)99), "?");
}

CHECK_MAIN(TEST(test_running_no_vm), TEST(test_running_stopped_or_crashed),
           TEST(test_running_crashed_in_group), TEST(test_running_paused),
           TEST(test_running_vm_runs), TEST(test_running_wait), TEST(test_stopped),
           TEST(test_deleted), TEST(test_error_left_alone), TEST(test_backing_off),
           TEST(test_stale_generation), TEST(test_migrating_left_to_the_driver),
           TEST(test_unknown_desired), TEST(test_names))
