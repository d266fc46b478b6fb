/*
 * decide.c - the reconciler's decision table (reconcile.c's opening
 * comment) as a pure function: from what an instance should be (desired),
 * what the controller last recorded (status) and what its host reports
 * (the VM's state), the one thing a pass does.  Everything with a side
 * effect - agent calls, transitions, events - stays in reconcile.c, so
 * this table is testable row by row (tests/unit/test_reconcile.c).
 *
 *   desired   VM                          status        action
 *   (any)     older generation            any           destroy it (stale copy; even
 *                                                       in back-off; never resumed)
 *   (any)     (any)                       (back-off)    nothing
 *   (any)     (any)                       migrating     nothing (migrate.c drives it)
 *   deleted   any or none                 any           delete
 *   (any)     (any)                       resizing,     nothing (resize.c drives it)
 *                                         verify_resize
 *   running   (any)                       error         nothing (until deleted)
 *   running   none                        any           create
 *   running   crashed, in a scaling group any           fail (its group replaces it)
 *   running   stopped / crashed           any           start
 *   running   paused                      any           resume
 *   running   running                     rebooting     reboot (once; then await a boot)
 *   running   running                     running       nothing
 *   running   running                     other         reached running
 *   running   starting / stopping / other any           nothing (wait)
 *   stopped   none                        any           create stopped
 *   stopped   running / starting / paused any           stop
 *   stopped   stopped / crashed           stopped       nothing
 *   stopped   stopped / crashed           other         reached stopped
 *   stopped   stopping / other            any           nothing (wait)
 *   other     (any)                       any           nothing
 */
#include "ctrl/ctrl_int.h"

#include <string.h>

static bool is(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

static enum reconcile_action decide_running(const struct reconcile_input *in)
{
    const char *vm = in->vm_state;
    if (vm == NULL)
        return RECONCILE_CREATE;
    if (is(vm, "crashed") && in->in_group)
        return RECONCILE_FAIL;
    if (is(vm, "stopped") || is(vm, "crashed"))
        return RECONCILE_START;
    if (is(vm, "paused"))
        return RECONCILE_RESUME;
    if (is(vm, "running")) {
        if (is(in->status, "rebooting"))
            return RECONCILE_REBOOT;
        return is(in->status, "running") ? RECONCILE_NOTHING : RECONCILE_REACHED_RUNNING;
    }
    return RECONCILE_NOTHING; /* starting, stopping: wait */
}

static enum reconcile_action decide_stopped(const struct reconcile_input *in)
{
    const char *vm = in->vm_state;
    if (vm == NULL)
        return RECONCILE_CREATE_STOPPED;
    if (is(vm, "running") || is(vm, "starting") || is(vm, "paused"))
        return RECONCILE_STOP;
    if (is(vm, "stopped") || is(vm, "crashed"))
        return is(in->status, "stopped") ? RECONCILE_NOTHING : RECONCILE_REACHED_STOPPED;
    return RECONCILE_NOTHING; /* stopping: wait */
}

enum reconcile_action reconcile_decide(const struct reconcile_input *in)
{
    if (in->vm_state && in->stale)
        return RECONCILE_DESTROY_STALE;
    if (in->backing_off)
        return RECONCILE_NOTHING;
    /* A live migration owns the instance until it ends: the source VM
     * pauses for good at the switch-over, and must not be resumed. */
    if (is(in->status, "migrating"))
        return RECONCILE_NOTHING;
    if (is(in->desired, "deleted"))
        return RECONCILE_DELETE;
    /* A cold migration or resize owns the instance until it ends
     * (resize.c): its copies are made and removed there. */
    if (is(in->status, "resizing") || is(in->status, "verify_resize"))
        return RECONCILE_NOTHING;
    if (is(in->status, "error"))
        return RECONCILE_NOTHING;
    if (is(in->desired, "running"))
        return decide_running(in);
    if (is(in->desired, "stopped"))
        return decide_stopped(in);
    return RECONCILE_NOTHING;
}

const char *reconcile_action_name(enum reconcile_action a)
{
    static const char *const names[] = {
        [RECONCILE_NOTHING] = "nothing",
        [RECONCILE_CREATE] = "create",
        [RECONCILE_CREATE_STOPPED] = "create-stopped",
        [RECONCILE_START] = "start",
        [RECONCILE_RESUME] = "resume",
        [RECONCILE_REBOOT] = "reboot",
        [RECONCILE_STOP] = "stop",
        [RECONCILE_REACHED_RUNNING] = "reached-running",
        [RECONCILE_REACHED_STOPPED] = "reached-stopped",
        [RECONCILE_DELETE] = "delete",
        [RECONCILE_FAIL] = "fail",
        [RECONCILE_DESTROY_STALE] = "destroy-stale",
    };
    return (unsigned)a < sizeof(names) / sizeof(names[0]) && names[a] ? names[a] : "?";
}
