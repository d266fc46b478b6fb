/*
 * throttle.c - login back-off and the bound on concurrent password hashing.
 *
 * Back-off.  Each user name (as typed: unknown names too, so that the
 * answer tells nothing about who exists) and each client address has a
 * count of failed logins.  The first THROTTLE_USER_FREE failures of a name
 * (THROTTLE_IP_FREE of an address) cost nothing; every further one makes
 * the next attempt wait 1 s, 2 s, 4 s ... up to THROTTLE_MAX_S.  An attempt
 * during the wait is refused before the password is looked at - the right
 * password too, that is the point - and does not lengthen the wait.  A
 * successful login clears its name's count (not its address's: one valid
 * account must not reset the guessing budget of an address).  A count
 * nobody has touched for THROTTLE_FORGET_MS after its wait ended is
 * forgotten.
 *
 * The tables are in memory (a restart forgets them), bounded
 * (THROTTLE_SLOTS entries each; when full, the entry whose wait ends
 * first makes room) and guarded by one mutex: the API runs handlers on several
 * threads.
 *
 * Hashing.  An argon2id verification takes 64 MiB and most of a core for
 * a good part of a second.  At most hash_slots of them run at once (half
 * the CPUs, 1 to 4; nubod --login-slots).  Hashing also holds the API
 * thread that runs it, and every connection that thread serves: fewer
 * slots than threads keeps threads free for everything else.  A
 * login that finds them all busy is refused at once (503, Retry-After: 1),
 * not queued: a queued request holds one of the API's few handler threads
 * while it waits, so eight logins waiting for two slots would take every
 * thread, and /v1/health, heartbeats and all other calls would queue
 * behind them - and logins are what anybody on the network can send.
 * Hashing for a caller who is logged in already (an admin creating a user,
 * a password change) waits for a slot instead: those are rare, and a
 * refusal there would only make admins retry by hand.
 */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "identity/identity_int.h"
#include "lib/clock.h"
#include "lib/util.h"

#define THROTTLE_SLOTS 1024
#define THROTTLE_USER_FREE 5
#define THROTTLE_IP_FREE 30
#define THROTTLE_MAX_S 900
#define THROTTLE_FORGET_MS (15LL * 60 * 1000)

struct throttle_entry {
    char key[80];     /* "" when free */
    int failures;     /* counted failures */
    int64_t until_ms; /* no attempt before this */
    int64_t last_ms;  /* last touched, for eviction and forgetting */
};

struct throttle_table {
    struct throttle_entry e[THROTTLE_SLOTS];
    int free_failures;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_freed = PTHREAD_COND_INITIALIZER;
static struct throttle_table users = {.free_failures = THROTTLE_USER_FREE};
static struct throttle_table addrs = {.free_failures = THROTTLE_IP_FREE};
static int hash_slots; /* 0: not set, half the CPUs (1 to 4) */
static int hash_busy;

/* The entry of key (created when create), or NULL.  Under lock.  Forgets
 * entries that have been quiet long enough. */
static struct throttle_entry *entry_find(struct throttle_table *t, const char *key, bool create,
                                         int64_t now)
{
    struct throttle_entry *victim = NULL;
    for (size_t i = 0; i < ARRAY_LEN(t->e); i++) {
        struct throttle_entry *e = &t->e[i];
        if (e->key[0] && now > e->until_ms + THROTTLE_FORGET_MS &&
            now > e->last_ms + THROTTLE_FORGET_MS)
            e->key[0] = '\0';
        if (e->key[0] && strcmp(e->key, key) == 0)
            return e;
        /* Room goes to a free entry, else to the one whose wait ends first
         * (dropping it lifts the least back-off). */
        if (victim == NULL ||
            (victim->key[0] && (!e->key[0] || e->until_ms < victim->until_ms ||
                                (e->until_ms == victim->until_ms && e->last_ms < victim->last_ms))))
            victim = e;
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    str_copy(victim->key, sizeof(victim->key), key);
    victim->last_ms = now;
    return victim;
}

/* Seconds (rounded up, >= 1) until key may try again, 0 when it may now. */
static int entry_wait_s(struct throttle_table *t, const char *key, int64_t now)
{
    struct throttle_entry *e = entry_find(t, key, false, now);
    if (e == NULL || e->until_ms <= now)
        return 0;
    return (int)((e->until_ms - now + 999) / 1000);
}

static void entry_fail(struct throttle_table *t, const char *key, int64_t now)
{
    struct throttle_entry *e = entry_find(t, key, true, now);
    e->failures++;
    e->last_ms = now;
    int over = e->failures - t->free_failures;
    if (over > 0) {
        int64_t wait_s = over > 10 ? THROTTLE_MAX_S : 1LL << (over - 1);
        if (wait_s > THROTTLE_MAX_S)
            wait_s = THROTTLE_MAX_S;
        e->until_ms = now + wait_s * 1000;
    }
}

int identity_throttle_check(const char *user, const char *addr, int *retry_after_s,
                            struct nubo_err *err)
{
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&lock);
    int wu = entry_wait_s(&users, user, now);
    int wa = addr && *addr ? entry_wait_s(&addrs, addr, now) : 0;
    pthread_mutex_unlock(&lock);
    int w = wu > wa ? wu : wa;
    if (w == 0)
        return 0;
    if (retry_after_s)
        *retry_after_s = w;
    return nubo_err_set(err, NUBO_E_TOOMANY,
                        "too many failed logins %s; try again in %d seconds (the wait doubles "
                        "with each further failure, up to %d minutes)",
                        wu >= wa ? "for this user" : "from your address", w, THROTTLE_MAX_S / 60);
}

void identity_throttle_record(const char *user, const char *addr, bool ok)
{
    int64_t now = clock_now_ms();
    pthread_mutex_lock(&lock);
    if (ok) {
        struct throttle_entry *e = entry_find(&users, user, false, now);
        if (e)
            e->key[0] = '\0';
    } else {
        entry_fail(&users, user, now);
        if (addr && *addr)
            entry_fail(&addrs, addr, now);
    }
    pthread_mutex_unlock(&lock);
}

void identity_throttle_reset(void)
{
    pthread_mutex_lock(&lock);
    memset(users.e, 0, sizeof(users.e));
    memset(addrs.e, 0, sizeof(addrs.e));
    pthread_mutex_unlock(&lock);
}

void identity_set_hash_slots(int n)
{
    pthread_mutex_lock(&lock);
    hash_slots = n < 1 ? 1 : n;
    pthread_cond_broadcast(&slot_freed);
    pthread_mutex_unlock(&lock);
}

int identity_hash_acquire(bool wait, struct nubo_err *err)
{
    pthread_mutex_lock(&lock);
    if (hash_slots == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        hash_slots = cpus >= 8 ? 4 : cpus >= 4 ? (int)cpus / 2 : 1;
    }
    while (wait && hash_busy >= hash_slots)
        pthread_cond_wait(&slot_freed, &lock);
    bool got = hash_busy < hash_slots;
    if (got)
        hash_busy++;
    pthread_mutex_unlock(&lock);
    if (got)
        return 0;
    return nubo_err_set(err, NUBO_E_UNAVAILABLE,
                        "the controller is busy checking other passwords; retry in a second");
}

void identity_hash_release(void)
{
    pthread_mutex_lock(&lock);
    if (hash_busy > 0)
        hash_busy--;
    pthread_cond_signal(&slot_freed);
    pthread_mutex_unlock(&lock);
}
