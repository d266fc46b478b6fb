/*
 * test_identity_throttle.c - unit tests of src/identity/throttle.c: the
 * login back-off per user name and per address, and the password-hashing
 * slots, on a fake clock.
 */
#include <stdio.h>

#include "check.h"
#include "identity/identity_int.h"
#include "lib/clock.h"

static int64_t now_ms = 1000000;

static int64_t fake_clock(void)
{
    return now_ms;
}

/* The wait in seconds user (from addr) gets now; 0 when it may try. */
static int wait_of(const char *user, const char *addr)
{
    struct nubo_err err;
    int s = -1;
    if (identity_throttle_check(user, addr, &s, &err) == 0)
        return 0;
    CHECK_INT_EQ(err.code, NUBO_E_TOOMANY);
    CHECK_STR_HAS(err.msg, "try again in");
    return s;
}

static void setup(void)
{
    clock_set_source(fake_clock);
    identity_throttle_reset();
}

static void test_backoff_doubles_and_caps(void)
{
    setup();
    /* Five failures are free; the sixth is the first that costs a wait. */
    for (int i = 0; i < 6; i++) {
        CHECK_INT_EQ(wait_of("alice", "192.0.2.1"), 0);
        identity_throttle_record("alice", "192.0.2.1", false);
    }
    int expect = 1;
    for (int i = 0; i < 14; i++) {
        int w = wait_of("alice", "192.0.2.1");
        CHECK_INT_EQ(w, expect);
        now_ms += (int64_t)w * 1000 - 1;
        CHECK_INT_EQ(wait_of("alice", "192.0.2.1"), 1); /* the right password too */
        now_ms += 1;
        CHECK_INT_EQ(wait_of("alice", "192.0.2.1"), 0);
        identity_throttle_record("alice", "192.0.2.1", false);
        expect = expect * 2 > 900 ? 900 : expect * 2;
    }
    /* Other names from another address are not held back. */
    CHECK_INT_EQ(wait_of("bob", "192.0.2.2"), 0);
    /* Success clears the name's count. */
    now_ms += 900 * 1000;
    identity_throttle_record("alice", "192.0.2.1", true);
    identity_throttle_record("alice", "192.0.2.1", false);
    CHECK_INT_EQ(wait_of("alice", NULL), 0);
}

static void test_address_threshold(void)
{
    setup();
    char name[32];
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof(name), "u%d", i);
        CHECK_INT_EQ(wait_of(name, "198.51.100.7"), 0);
        identity_throttle_record(name, "198.51.100.7", false);
    }
    CHECK_INT_EQ(wait_of("u999", "198.51.100.7"), 0);
    identity_throttle_record("u999", "198.51.100.7", false);
    CHECK_INT_EQ(wait_of("anyone", "198.51.100.7"), 1);
    CHECK_INT_EQ(wait_of("anyone", "198.51.100.8"), 0);
    CHECK_INT_EQ(wait_of("anyone", NULL), 0);
}

static void test_forgotten_and_bounded(void)
{
    setup();
    for (int i = 0; i < 6; i++)
        identity_throttle_record("carol", NULL, false);
    CHECK_INT_EQ(wait_of("carol", NULL), 1);
    /* Many other names fill the table: it stays bounded, and the entry
     * still waiting is not the one that makes room. */
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        identity_throttle_record(name, NULL, false);
    }
    CHECK_INT_EQ(wait_of("carol", NULL), 1);
    /* Quiet for 15 minutes after its wait: forgotten. */
    now_ms += 16LL * 60 * 1000;
    identity_throttle_record("carol", NULL, false);
    CHECK_INT_EQ(wait_of("carol", NULL), 0);
}

static void test_hash_slots(void)
{
    struct nubo_err err;
    identity_set_hash_slots(2);
    CHECK_INT_EQ(identity_hash_acquire(false, &err), 0);
    CHECK_INT_EQ(identity_hash_acquire(false, &err), 0);
    CHECK_INT_EQ(identity_hash_acquire(false, &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_UNAVAILABLE);
    identity_hash_release();
    CHECK_INT_EQ(identity_hash_acquire(true, &err), 0);
    identity_hash_release();
    identity_hash_release();
}

CHECK_MAIN(TEST(test_backoff_doubles_and_caps), TEST(test_address_threshold),
           TEST(test_forgotten_and_bounded), TEST(test_hash_slots))
