/*
 * opts.c - see opts.h.
 *
 * The getopt_long table is built from the fields: the common options
 * first, then field i as CLI_OPT_FIRST_FREE + i.
 */
#include "cli/opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cloud.h"
#include "lib/util.h"
#include "lib/valid.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/* How messages name field f, into buf. */
static const char *field_what(const struct opts_field *f, char *buf, size_t n)
{
    if (f->what)
        return f->what;
    snprintf(buf, n, "--%s", f->name);
    return buf;
}

/* The member key of o as an array, created when missing. */
static json_t *array_member(json_t *o, const char *key)
{
    json_t *arr = json_object_get(o, key);
    if (arr == NULL) {
        arr = json_array();
        json_object_set_new(o, key, arr);
    }
    return arr;
}

/* True when v is valid UTF-8 (what a JSON string may hold). */
static bool utf8_ok(const char *v)
{
    json_t *s = json_string(v);
    json_decref(s);
    return s != NULL;
}

/* True when v is one of choices ("a|b|c"). */
static bool choice_find(const char *choices, const char *v)
{
    size_t vlen = strlen(v);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncmp(p, v, len) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

/* FIELD_CHOICE: v is one of f->choices, or a usage error listing them
 * ("--policy must be affinity or anti-affinity (got 'x')"). */
static int choice_check(const struct cli *cli, const struct opts_field *f, const char *what,
                        const char *v)
{
    if (choice_find(f->choices, v))
        return 0;
    const char *p;
    char list[256] = "";
    size_t at = 0;
    for (p = f->choices; p && at < sizeof(list);) {
        const char *bar = strchr(p, '|');
        int len = bar ? (int)(bar - p) : (int)strlen(p);
        const char *sep = at == 0 ? "" : bar ? ", " : " or ";
        at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%.*s", sep, len, p);
        p = bar ? bar + 1 : NULL;
    }
    return cli_usage_error(cli, "%s must be %s (got '%.40s')", what, list, v);
}

/* FIELD_RANGE: START-END as {"start", "end"}. */
static int range_add(const struct cli *cli, json_t *arr, const char *what, const char *v)
{
    const char *dash = strchr(v, '-');
    if (dash == NULL || dash == v || dash[1] == '\0' || dash - v > 15)
        return cli_usage_error(cli, "%s takes START-END, e.g. 10.0.0.10-10.0.0.99", what);
    char start[16];
    memcpy(start, v, (size_t)(dash - v));
    start[dash - v] = '\0';
    json_array_append_new(arr, json_pack("{s:s, s:s}", "start", start, "end", dash + 1));
    return 0;
}

/* FIELD_FILE: the text of the file at path, at most max bytes.  Returns a
 * new string, or NULL after a usage error. */
static json_t *file_text(const struct cli *cli, const char *what, const char *path, long long max)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        cli_usage_error(cli, "%s: cannot read '%s'", what, path);
        return NULL;
    }
    char *buf = xcalloc((size_t)max + 2, 1);
    size_t n = fread(buf, 1, (size_t)max + 1, f);
    fclose(f);
    json_t *text = NULL;
    if (n > (size_t)max)
        cli_usage_error(cli, "%s: more than %lld KiB", what, max / 1024);
    else if ((text = json_stringn(buf, n)) == NULL)
        cli_usage_error(cli, "%s: '%s' is not UTF-8 text", what, path);
    free(buf);
    return text;
}

/* FIELD_ANY_INT, FIELD_ANY_NUM, FIELD_JSON: v parsed, or NULL. */
static json_t *any_value(enum opts_type type, const char *v)
{
    char *end;
    if (type == FIELD_ANY_INT) {
        long long x = strtoll(v, &end, 10);
        return end != v && *end == '\0' ? json_integer(x) : NULL;
    }
    if (type == FIELD_ANY_NUM) {
        double x = strtod(v, &end);
        return end != v && *end == '\0' ? json_real(x) : NULL;
    }
    return json_loads(v, JSON_DECODE_ANY, NULL);
}

/* Whether v is a good value of field f, for the types whose one message
 * f->invalid can replace. */
static bool value_ok(const struct opts_field *f, const char *v)
{
    struct nubo_err err;
    long long n;
    json_t *val;
    switch (f->type) {
    case FIELD_STR:
    case FIELD_LIST:
        return utf8_ok(v);
    case FIELD_NAME:
        return valid_name(v, "", &err) == 0;
    case FIELD_INT:
        return valid_int(v, f->min, f->max, "", &n, &err) == 0;
    case FIELD_CHOICE:
        return choice_find(f->choices, v);
    case FIELD_ANY_INT:
    case FIELD_ANY_NUM:
    case FIELD_JSON:
        val = any_value(f->type, v);
        json_decref(val);
        return val != NULL;
    default:
        return true;
    }
}

/* Adds the value v of field f to o.  Returns 0 or a usage error. */
static int field_add(struct cli *cli, json_t *o, const struct opts_field *f, const char *v)
{
    char buf[64];
    const char *what = field_what(f, buf, sizeof(buf));
    struct nubo_err err;
    json_t *val = NULL;
    long long n;
    int rc;
    if (f->invalid && !value_ok(f, v))
        return cli_usage_error(cli, "%s", f->invalid);
    switch (f->type) {
    case FIELD_STR:
        if ((val = json_string(v)) == NULL)
            return cli_usage_error(cli, "%s must be UTF-8 text", what);
        break;
    case FIELD_ARG:
        val = json_string_nocheck(v); /* not sent: may be any bytes, as a file name */
        break;
    case FIELD_NAME:
        if (valid_name(v, what, &err) < 0)
            return cli_usage_error(cli, "%s", err.msg);
        val = json_string(v);
        break;
    case FIELD_REF:
        if ((rc = cloud_ref_check(cli, v, what)) != 0)
            return rc;
        val = json_string(v);
        break;
    case FIELD_INT:
        if ((rc = cloud_int_parse(cli, v, f->min, f->max, what, &n)) != 0)
            return rc;
        val = json_integer(n);
        break;
    case FIELD_MIB:
    case FIELD_GIB:
        rc = cloud_size_parse(cli, v, f->type == FIELD_MIB ? MIB : GIB, f->min, f->max, what, &n);
        if (rc != 0)
            return rc;
        val = json_integer(n);
        break;
    case FIELD_CHOICE:
        if ((rc = choice_check(cli, f, what, v)) != 0)
            return rc;
        val = json_string(v);
        break;
    case FIELD_TRUE:
    case FIELD_FALSE:
        val = json_boolean(f->type == FIELD_TRUE);
        break;
    case FIELD_LIST:
        if ((val = json_string(v)) == NULL)
            return cli_usage_error(cli, "%s must be UTF-8 text", what);
        json_array_append_new(array_member(o, f->key), val);
        return 0;
    case FIELD_RANGE:
        return range_add(cli, array_member(o, f->key), what, v);
    case FIELD_FILE:
        if ((val = file_text(cli, what, v, f->max)) == NULL)
            return CLI_EXIT_USAGE;
        break;
    case FIELD_ANY_INT:
    case FIELD_ANY_NUM:
    case FIELD_JSON:
        if ((val = any_value(f->type, v)) == NULL)
            return cli_usage_error(cli, "%s: '%s' is not a valid %s", what, v,
                                   f->type == FIELD_ANY_INT   ? "integer"
                                   : f->type == FIELD_ANY_NUM ? "number"
                                                              : "JSON value");
        break;
    }
    json_object_set_new(o, f->key, val);
    return 0;
}

int opts_parse(struct cli *cli, int argc, char **argv, const struct opts_field *table, size_t n,
               const char *usage, json_t **out)
{
    static const struct option common[] = {CLI_COMMON_OPTIONS};
    struct option opts[ARRAY_LEN(common) + OPTS_MAX + 1];
    size_t k = 0;
    if (n > OPTS_MAX)
        n = OPTS_MAX;
    for (; k < ARRAY_LEN(common); k++)
        opts[k] = common[k];
    for (size_t i = 0; i < n; i++) {
        bool flag = table[i].type == FIELD_TRUE || table[i].type == FIELD_FALSE;
        opts[k++] = (struct option){table[i].name, flag ? no_argument : required_argument, NULL,
                                    CLI_OPT_FIRST_FREE + (int)i};
    }
    opts[k] = (struct option){NULL, 0, NULL, 0};

    json_t *values = json_object();
    int c, rc = 0;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            rc = CLI_HELP_SHOWN;
        } else if (c >= CLI_OPT_FIRST_FREE && c < CLI_OPT_FIRST_FREE + (int)n) {
            rc = field_add(cli, values, &table[c - CLI_OPT_FIRST_FREE], optarg);
        } else {
            rc = cli_option(cli, c, argv);
        }
        if (rc != 0) {
            json_decref(values);
            return rc;
        }
    }
    *out = values;
    return 0;
}

int opts_required(const struct cli *cli, const struct opts_field *table, size_t n,
                  const json_t *values)
{
    for (size_t i = 0; i < n; i++)
        if (table[i].required && json_object_get(values, table[i].key) == NULL)
            return cli_usage_error(cli, "%s", table[i].required);
    return 0;
}

int opts_cmd_create(struct cli *cli, int argc, char **argv, const struct opts_create *def)
{
    struct nubo_err err;
    json_t *body = NULL, *out = NULL;
    int rc = opts_parse(cli, argc, argv, def->fields, def->nfields, def->usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    int want = def->positional ? 1 : 0;
    const char *missing = def->arg_missing ? def->arg_missing : def->positional;
    if ((rc = cli_args_check(cli, argc - optind, want, want, missing ? missing : "no arguments")) !=
        0)
        goto done;
    if (def->positional) {
        if (valid_name(argv[optind], def->arg_label ? def->arg_label : def->positional, &err) < 0) {
            rc = cli_usage_error(cli, "%s", err.msg);
            goto done;
        }
        json_object_set_new(body, def->positional, json_string(argv[optind]));
    }
    if ((rc = opts_required(cli, def->fields, def->nfields, body)) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        goto done;
    if (def->fill)
        def->fill(body);
    if (cloud_create(cli, def->collection, body, &out, &err) < 0)
        rc = cli_fail(cli, &err);
    else
        cloud_created_print(cli, def->what, out);
done:
    json_decref(body);
    json_decref(out);
    return rc;
}
