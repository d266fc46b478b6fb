/*
 * clock.h - the controller's wall clock, injectable for tests.
 *
 * Everything that stores or compares wall-clock time (token expiry,
 * heartbeats, billing, alarms, schedules) asks clock_now_ms().  Tests and
 * simulations replace the source with clock_set_source() (or with the
 * environment variable NUBO_FAKE_CLOCK_FILE, see clock.c) so that a month
 * passes in milliseconds.  Durations and timeouts use the monotonic clock
 * (clock_mono_ms() in util.h), which is never faked.
 */
#ifndef NUBO_CLOCK_H
#define NUBO_CLOCK_H

#include <stdint.h>

/* Unix time in milliseconds, UTC. */
int64_t clock_now_ms(void);

/* Replaces the time source (NULL restores the real clock).  Not
 * thread-safe against concurrent clock_now_ms(): call before threads. */
void clock_set_source(int64_t (*source)(void));

/* Formats Unix milliseconds as RFC 3339 UTC with milliseconds,
 * "2026-11-26T15:04:51.123Z" (24 characters + NUL). */
void clock_format_ms(int64_t ms, char out[32]);

/* clock_format_ms(clock_now_ms(), out). */
void clock_now_str(char out[32]);

#endif
