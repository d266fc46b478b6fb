/*
 * output.c - see output.h.
 *
 * Widths are counted in characters (UTF-8 lead bytes), not bytes, so a name
 * with an accent in a reason does not shift the columns.  Tables are small
 * (one row per VM or image): cells are kept as copied strings and laid out
 * when printed.
 */
#include "cli/output.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

#define TABLE_MAX_COLS 16
#define TABLE_GAP "   "
#define KV_KEY_WIDTH 16
#define TEXT_MAX 1024

int output_format_parse(const char *s, enum output_format *out)
{
    if (strcmp(s, "table") == 0)
        *out = OUTPUT_TABLE;
    else if (strcmp(s, "json") == 0)
        *out = OUTPUT_JSON;
    else
        return -1;
    return 0;
}

void output_json(FILE *out, const json_t *v)
{
    json_dumpf(v, out, JSON_INDENT(2));
    fputc('\n', out);
}

/* Characters in a UTF-8 string: bytes that do not continue a sequence. */
static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

void output_text(const char *s, size_t max_chars, char *out, size_t n)
{
    if (n < 4) {
        if (n > 0)
            out[0] = '\0';
        return;
    }
    if (s == NULL)
        s = "-";
    bool cut = max_chars > 0 && text_width(s) > max_chars;
    size_t keep = cut ? (max_chars > 3 ? max_chars - 3 : 0) : SIZE_MAX;
    size_t room = n - 4; /* leaves space for "..." and the NUL */
    size_t chars = 0, o = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && chars < keep) {
        size_t len = 1; /* one character: a byte and its continuation bytes */
        while ((p[len] & 0xC0) == 0x80)
            len++;
        if (o + len > room) {
            cut = true;
            break;
        }
        for (size_t i = 0; i < len; i++)
            out[o++] = (p[i] < 0x20 || p[i] == 0x7F) ? '?' : (char)p[i];
        p += len;
        chars++;
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* ---------------------------------------------------------------- tables */

struct output_table {
    size_t ncols;
    size_t nrows;
    size_t alloc;
    char **cells; /* (nrows + 1) * ncols strings; row 0 is the header */
};

struct output_table *output_table_new(size_t ncols, const char *const *headers)
{
    if (ncols == 0 || ncols > TABLE_MAX_COLS)
        abort(); /* a programming error, not input */
    struct output_table *t = xcalloc(1, sizeof(*t));
    t->ncols = ncols;
    t->alloc = 8;
    t->cells = xcalloc(t->alloc * ncols, sizeof(char *));
    for (size_t i = 0; i < ncols; i++)
        t->cells[i] = xstrdup(headers[i]);
    return t;
}

void output_table_add(struct output_table *t, const char *const *cells)
{
    if (t->nrows + 2 > t->alloc) {
        t->alloc *= 2;
        char **p = realloc(t->cells, t->alloc * t->ncols * sizeof(char *));
        if (p == NULL)
            abort();
        t->cells = p;
    }
    char **row = t->cells + (t->nrows + 1) * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        char buf[TEXT_MAX];
        output_text(cells[i], 0, buf, sizeof(buf));
        row[i] = xstrdup(buf);
    }
    t->nrows++;
}

size_t output_table_rows(const struct output_table *t)
{
    return t->nrows;
}

void output_table_print(const struct output_table *t, FILE *out)
{
    size_t width[TABLE_MAX_COLS] = {0};
    for (size_t r = 0; r <= t->nrows; r++)
        for (size_t i = 0; i < t->ncols; i++) {
            size_t w = text_width(t->cells[r * t->ncols + i]);
            if (w > width[i])
                width[i] = w;
        }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++) {
            const char *cell = t->cells[r * t->ncols + i];
            fputs(cell, out);
            if (i + 1 == t->ncols)
                break;
            for (size_t pad = text_width(cell); pad < width[i]; pad++)
                fputc(' ', out);
            fputs(TABLE_GAP, out);
        }
        fputc('\n', out);
    }
}

void output_table_free(struct output_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

/* -------------------------------------------------------- key/value views */

void output_kv(FILE *out, const char *key, const char *value)
{
    char buf[TEXT_MAX];
    output_text(value, 0, buf, sizeof(buf));
    fprintf(out, "%s:", key);
    for (size_t pad = text_width(key) + 1; pad < KV_KEY_WIDTH; pad++)
        fputc(' ', out);
    fprintf(out, " %s\n", buf);
}

/* ---------------------------------------------------------------- values */

void output_size(uint64_t bytes, char *out, size_t n)
{
    static const char units[] = "KMGTPE";
    if (bytes < 1024) {
        snprintf(out, n, "%lluB", (unsigned long long)bytes);
        return;
    }
    double v = (double)bytes / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) - 1) {
        v /= 1024.0;
        u++;
    }
    if (v < 9.95)
        snprintf(out, n, "%.1f%c", v, units[u]);
    else
        snprintf(out, n, "%.0f%c", v, units[u]);
}

void output_duration(long long s, char *out, size_t n)
{
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(out, n, "%llds", s);
    else if (s < 3600)
        snprintf(out, n, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, n, "%lldd%lldh", s / 86400, s % 86400 / 3600);
}

void output_since(const char *ts, char *out, size_t n)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = ts ? strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (end && *end == '.') /* milliseconds, as the controller writes them */
        for (end++; *end >= '0' && *end <= '9'; end++)
            ;
    if (end == NULL || strcmp(end, "Z") != 0) {
        snprintf(out, n, "-");
        return;
    }
    time_t then = timegm(&tm);
    output_duration((long long)(time(NULL) - then), out, n);
}

/* -------------------------------------------------------------- progress */

#define PROGRESS_LOG_EVERY_S 10

void output_progress_start(struct output_progress *p, const char *label)
{
    output_text(label, 0, p->label, sizeof(p->label));
    p->detail[0] = '\0';
    p->started_ms = clock_mono_ms();
    p->shown_s = -1;
    p->tty = isatty(STDERR_FILENO) == 1;
}

void output_progress_tick(struct output_progress *p)
{
    output_progress_detail(p, NULL);
}

void output_progress_detail(struct output_progress *p, const char *detail)
{
    long long s = (long long)((clock_mono_ms() - p->started_ms) / 1000);
    char safe[128] = "";
    if (detail)
        output_text(detail, 0, safe, sizeof(safe));
    if (p->tty) {
        /* Redrawn when the detail changes too, but not more than the
         * terminal can show: the line is cleared to its end each time. */
        if (s == p->shown_s && (detail == NULL || strcmp(safe, p->detail) == 0))
            return;
        fprintf(stderr, "\r%s... %s%s%llds\x1b[K", p->label, safe, detail ? " " : "", s);
    } else {
        if (s == p->shown_s || (p->shown_s >= 0 && s - p->shown_s < PROGRESS_LOG_EVERY_S))
            return;
        fprintf(stderr, "%s... %s%s%llds\n", p->label, safe, detail ? " " : "", s);
    }
    fflush(stderr);
    str_copy(p->detail, sizeof(p->detail), safe);
    p->shown_s = s;
}

void output_progress_end(struct output_progress *p)
{
    if (p->tty && p->shown_s >= 0) {
        fputc('\n', stderr);
        fflush(stderr);
    }
    p->shown_s = -1;
}
