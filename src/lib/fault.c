/*
 * fault.c - crash points selected by NUBO_FAULT; see fault.h.
 */
#include "lib/fault.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char target[96];          /* the point's name; "" when none */
static long long target_hit = 1; /* die on this hit */
static atomic_llong hits;
static atomic_int armed; /* 1 once NUBO_FAULT named a point */

static void fault_load(void)
{
    const char *v = getenv("NUBO_FAULT");
    if (v == NULL || *v == '\0')
        return;
    const char *colon = strchr(v, ':');
    size_t n = colon ? (size_t)(colon - v) : strlen(v);
    if (n >= sizeof(target))
        return;
    memcpy(target, v, n);
    target[n] = '\0';
    if (colon) {
        char *end;
        long long k = strtoll(colon + 1, &end, 10);
        if (*end != '\0' || k < 1)
            return; /* malformed: no point is armed */
        target_hit = k;
    }
    atomic_store(&armed, 1);
}

void fault_point(const char *name)
{
    pthread_once(&once, fault_load);
    if (!atomic_load_explicit(&armed, memory_order_relaxed) || strcmp(name, target) != 0)
        return;
    if (atomic_fetch_add(&hits, 1) + 1 < target_hit)
        return;
    /* A line for the test's log; write(2) is all a dying process may do. */
    char line[160];
    int len = snprintf(line, sizeof(line), "fault: %s reached: SIGKILL\n", name);
    if (len > 0)
        (void)!write(STDERR_FILENO, line,
                     (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
    kill(getpid(), SIGKILL);
    _exit(137); /* not reached */
}
