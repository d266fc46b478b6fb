/*
 * output.h - how `nubo` shows things: aligned tables and key/value views
 * for people, the API's own JSON for scripts, human-readable sizes and
 * durations, and progress lines for waits.
 *
 * Results go to stdout; progress and errors go to stderr, so a script can
 * capture the one without the other.  Text that comes from a server is
 * printed with control characters replaced, so a VM's name or reason cannot
 * move the cursor of the terminal showing it.  Nothing here knows about the
 * agent's or the controller's resources.
 */
#ifndef NUBO_CLI_OUTPUT_H
#define NUBO_CLI_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum output_format {
    OUTPUT_TABLE,
    OUTPUT_JSON,
};

/* Parses "table" or "json".  Returns 0, or -1 for anything else. */
int output_format_parse(const char *s, enum output_format *out);

/* Writes v as indented JSON and a newline. */
void output_json(FILE *out, const json_t *v);

/* ---------------------------------------------------------------- tables */

struct output_table;

/* A table with ncols columns (at most 16) titled by headers (copied). */
struct output_table *output_table_new(size_t ncols, const char *const *headers);

/* Adds a row of ncols cells (copied; NULL shows as "-"). */
void output_table_add(struct output_table *t, const char *const *cells);

/* Number of rows added so far. */
size_t output_table_rows(const struct output_table *t);

/* Prints the header and the rows, columns padded to their widest cell and
 * separated by three spaces. */
void output_table_print(const struct output_table *t, FILE *out);

/* Frees t (NULL is fine). */
void output_table_free(struct output_table *t);

/* -------------------------------------------------------- key/value views */

/* Prints "key:" padded to a fixed width, then the value (NULL as "-"). */
void output_kv(FILE *out, const char *key, const char *value);

/* ---------------------------------------------------------------- values */

/* Bytes in binary units: "512B", "256M", "1.0G", "20G" (one decimal below
 * 10 of a unit).  out must hold 16 bytes. */
void output_size(uint64_t bytes, char *out, size_t n);

/* A duration in seconds: "45s", "3m12s", "2h05m", "3d4h". */
void output_duration(long long seconds, char *out, size_t n);

/* Time elapsed since an RFC 3339 UTC timestamp ("2026-11-26T15:04:51Z",
 * with or without milliseconds), as output_duration(), or "-" when ts is
 * NULL or not such a timestamp. */
void output_since(const char *ts, char *out, size_t n);

/* Copies s into out (size n) with control characters replaced by '?' and,
 * when max_chars > 0, cut to max_chars characters ending in "..." (UTF-8
 * aware).  NULL copies as "-". */
void output_text(const char *s, size_t max_chars, char *out, size_t n);

/* -------------------------------------------------------------- progress */

/* A progress line on stderr for a wait: "label... 12s".  On a terminal one
 * line is rewritten in place; otherwise a line is printed when the wait
 * starts and every 10 s, so logs stay readable. */
struct output_progress {
    char label[160];
    char detail[128]; /* the detail last shown */
    int64_t started_ms;
    long long shown_s; /* seconds last shown, -1 = nothing shown yet */
    bool tty;
};

/* Starts a progress line (nothing is printed yet). */
void output_progress_start(struct output_progress *p, const char *label);

/* Updates the line with the time elapsed since output_progress_start(). */
void output_progress_tick(struct output_progress *p);

/* Like output_progress_tick(), with a detail before the time: "label...
 * 45% of 260M 3s" (detail NULL: none).  On a terminal the line is redrawn
 * whenever the detail changes. */
void output_progress_detail(struct output_progress *p, const char *detail);

/* Ends the line (on a terminal: moves past it). */
void output_progress_end(struct output_progress *p);

#endif
