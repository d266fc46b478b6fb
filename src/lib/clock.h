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

/* A creation stamp: clock_now_ms() formatted like clock_format_ms(), made
 * strictly increasing within the process (thread-safe), so that rows
 * created in the same millisecond - a batch of instances, an instance's
 * first events, anything under a fake clock standing still - still list in
 * creation order when lists sort on (created_at, id).  When the clock goes
 * back by more than a second (a fake clock reset, an NTP step) the stamp
 * follows it: a stamp stays a true time more than it orders. */
void clock_stamp(char out[32]);

#endif
