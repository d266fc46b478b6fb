/*
 * cloud.c - see cloud.h.
 *
 * Lists are fetched whole (every page, CLOUD_PAGE_MAX items a request) and
 * printed at once, so a table's columns fit all its rows.  Names are
 * resolved to ids by listing, for the routes that take only ids (images,
 * server groups, instances): exact, case-sensitive matches, deleted
 * instances left out.
 */
#include "cli/cloud.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli/config.h"
#include "cli/output.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "lib/valid.h"

#define CREATE_TRIES 3
#define CREATE_RETRY_MS 500
#define SECRET_MAX 1024
#define TEXT_MAX 1024

/* ------------------------------------------------------------ connecting */

/* True when two URLs differ at most in trailing slashes. */
static bool url_same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la > 0 && a[la - 1] == '/')
        la--;
    while (lb > 0 && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

int cloud_connect(struct cli *cli)
{
    int rc = CLI_EXIT_USAGE;
    struct config cfg = {0};
    bool found = false;
    char *token = NULL;
    char url[CLI_URL_MAX];
    struct nubo_err err;
    const char *env_url = getenv("NUBO_URL");
    const char *env_token = getenv("NUBO_TOKEN");
    const char *u = NULL, *u_what = NULL;

    if (cli_walking())
        return CLI_EXIT_USAGE; /* a walk never connects (see cli_walk_set()) */
    if (cli->socket_path)
        return cli_usage_error(cli, "--socket is for 'nubo agent' commands; the controller is "
                                    "reached with --url URL");
    if (cli->url) {
        u = cli->url;
        u_what = "--url";
    } else if (env_url && *env_url) {
        u = env_url;
        u_what = "NUBO_URL";
    }
    bool token_given = cli->token_file || (env_token && *env_token);
    if (u == NULL || !token_given) {
        if (config_load(&cfg, &found, &err) < 0) {
            fprintf(stderr, "nubo: %s\n", err.msg);
            rc = CLI_EXIT_FAIL;
            goto cleanup;
        }
    }
    if (u == NULL) {
        u = cfg.url;
        u_what = "the url of the saved login";
    }
    if (u == NULL) {
        fputs("nubo: not logged in to a controller: run 'nubo login URL --user NAME' (or set "
              "NUBO_URL and NUBO_TOKEN)\n",
              stderr);
        rc = CLI_EXIT_UNREACHABLE;
        goto cleanup;
    }
    if (cli_url_check(cli, u, u_what, url, sizeof(url)) != 0)
        goto cleanup;

    if (cli->token_file) {
        if ((token = cli_token_file_read(cli, cli->token_file)) == NULL)
            goto cleanup;
    } else if (env_token && *env_token) {
        if (!cli_token_valid(env_token)) {
            cli_usage_error(cli, "NUBO_TOKEN does not hold a token (printable, no spaces)");
            goto cleanup;
        }
        token = xstrdup(env_token);
    } else if (cfg.token && cfg.url && url_same(cfg.url, url) && cli_token_valid(cfg.token)) {
        token = cfg.token;
        cfg.token = NULL;
    } else {
        if (cfg.token && cfg.url)
            fprintf(stderr,
                    "nubo: not logged in to %s (the saved login is for %s): run 'nubo login %s "
                    "--user NAME'\n",
                    url, cfg.url, url);
        else
            fprintf(stderr, "nubo: not logged in to %s: run 'nubo login %s --user NAME'\n", url,
                    url);
        rc = CLI_EXIT_UNREACHABLE;
        goto cleanup;
    }

    /* the CA of an https:// controller: given, else the saved login's */
    const char *ca_file = cli->ca_file ? cli->ca_file : getenv("NUBO_CA_FILE");
    if ((ca_file == NULL || *ca_file == '\0') && cfg.url && url_same(cfg.url, url))
        ca_file = cfg.ca_file;
    struct client_cfg ccfg = {
        .base_url = url,
        .token = token,
        .ca_file = ca_file && *ca_file ? ca_file : NULL,
        .peer = "nubod",
        .unreachable_hint = "is the controller running there? (if it moved: nubo login URL)",
        .cancel = cli_cancel_flag(),
    };
    cli->cloud = true;
    cli->client = client_new(&ccfg, &err);
    if (cli->client == NULL) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    rc = 0;
cleanup:
    cli_secret_free(token);
    config_clear(&cfg);
    return rc;
}

/* ------------------------------------------------------------- requests */

int cloud_create(struct cli *cli, const char *path, const json_t *body, json_t **out,
                 struct nubo_err *err)
{
    char key[37], header[64];
    id_new(key);
    snprintf(header, sizeof(header), "Idempotency-Key: %s", key);
    const char *headers[] = {header, NULL};
    struct client_req req = {.method = "POST", .path = path, .body = body, .headers = headers};
    for (int attempt = 1;; attempt++) {
        if (client_call_req(cli->client, &req, out, err) == 0)
            return 0;
        /* Unavailable: no answer, or a 502/503 from the controller or a
         * proxy before it.  The same key makes a repeat harmless. */
        if (err->code != NUBO_E_UNAVAILABLE || attempt >= CREATE_TRIES || cli_interrupted())
            return -1;
        if (cli_sleep_ms(CREATE_RETRY_MS * attempt) < 0)
            return nubo_err_set(err, NUBO_E_INTERNAL, "interrupted");
    }
}

int cloud_query_add(char *buf, size_t n, const char *key, const char *value, struct nubo_err *err)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(buf);
    int w = snprintf(buf + len, n - len, "%c%s=", strchr(buf, '?') ? '&' : '?', key);
    if (w < 0 || (size_t)w >= n - len)
        goto too_long;
    len += (size_t)w;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;
        if (len + (plain ? 1 : 3) >= n)
            goto too_long;
        if (plain) {
            buf[len++] = (char)*p;
        } else {
            buf[len++] = '%';
            buf[len++] = hex[*p >> 4];
            buf[len++] = hex[*p & 15];
        }
    }
    buf[len] = '\0';
    return 0;
too_long:
    return nubo_err_set(err, NUBO_E_INVALID, "the request's query is too long");
}

int cloud_list(struct cli *cli, const char *path, const char *key, long long limit, json_t **out,
               struct nubo_err *err)
{
    int rc = -1;
    json_t *all = json_array(), *page = NULL, *next = NULL;
    char marker[256] = "", url[CLOUD_PATH_MAX], num[24];
    long long max = limit > 0 && limit < CLOUD_LIST_MAX ? limit : CLOUD_LIST_MAX;
    *out = NULL;
    for (;;) {
        long long want = max - (long long)json_array_size(all);
        snprintf(num, sizeof(num), "%lld", want < CLOUD_PAGE_MAX ? want : CLOUD_PAGE_MAX);
        if (str_copy(url, sizeof(url), path) < 0 ||
            cloud_query_add(url, sizeof(url), "limit", num, err) < 0 ||
            (marker[0] && cloud_query_add(url, sizeof(url), "marker", marker, err) < 0)) {
            nubo_err_set(err, NUBO_E_INVALID, "the list's query is too long");
            goto cleanup;
        }
        json_decref(page);
        if (cli_call(cli, "GET", url, NULL, &page, err) < 0)
            goto cleanup;
        json_t *items = json_object_get(page, key);
        if (!json_is_array(items)) {
            nubo_err_set(err, NUBO_E_INTERNAL, "nubod sent a list without \"%s\"", key);
            goto cleanup;
        }
        json_array_extend(all, items);
        const char *nm = json_string_value(json_object_get(page, "next_marker"));
        if (nm == NULL || *nm == '\0' || json_array_size(items) == 0)
            break;
        if ((long long)json_array_size(all) >= max) {
            next = json_string(nm);
            break;
        }
        if (strcmp(nm, marker) == 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "nubod sent the same next_marker twice");
            goto cleanup;
        }
        if (str_copy(marker, sizeof(marker), nm) < 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "nubod sent a next_marker too long to send back");
            goto cleanup;
        }
    }
    /* A page larger than asked for must not make the list longer. */
    while ((long long)json_array_size(all) > max) {
        json_array_remove(all, json_array_size(all) - 1);
        json_decref(next);
        next =
            json_string(cli_json_str_or(json_array_get(all, json_array_size(all) - 1), "id", ""));
    }
    *out = json_object();
    json_object_set(*out, key, all);
    json_object_set_new(*out, "next_marker", next ? next : json_null());
    next = NULL;
    rc = 0;
cleanup:
    json_decref(all);
    json_decref(page);
    json_decref(next);
    return rc;
}

int cloud_resolve(struct cli *cli, const char *collection, const char *key, bool by_query,
                  const char *ref, const char *what, char id[37], struct nubo_err *err)
{
    int rc = -1, matches = 0;
    char path[CLOUD_PATH_MAX];
    json_t *list = NULL;
    if (valid_is_uuid(ref)) {
        str_copy(id, 37, ref);
        return 0;
    }
    if (str_copy(path, sizeof(path), collection) < 0 ||
        (by_query && cloud_query_add(path, sizeof(path), "name", ref, err) < 0))
        return nubo_err_set(err, NUBO_E_INVALID, "the path is too long");
    if (cloud_list(cli, path, key, 0, &list, err) < 0)
        return -1;
    size_t i;
    const json_t *item;
    json_array_foreach (json_object_get(list, key), i, item) {
        const char *name = cli_json_str(item, "name");
        const char *status = cli_json_str(item, "status");
        if (name == NULL || strcmp(name, ref) != 0 || (status && strcmp(status, "deleted") == 0))
            continue;
        if (matches++ == 0 && str_copy(id, 37, cli_json_str_or(item, "id", "")) < 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "nubod sent a %s with a malformed id", what);
            goto cleanup;
        }
    }
    if (matches == 0) {
        nubo_err_set(err, NUBO_E_NOTFOUND, "no %s named '%s' (HTTP 404)", what, ref);
        goto cleanup;
    }
    if (matches > 1 || id[0] == '\0') {
        nubo_err_set(err, NUBO_E_CONFLICT, "%d %ss are named '%s': give the id", matches, what,
                     ref);
        goto cleanup;
    }
    rc = 0;
cleanup:
    json_decref(list);
    return rc;
}

int cloud_ref_check(const struct cli *cli, const char *ref, const char *what)
{
    struct nubo_err err;
    if (valid_name(ref, what, &err) < 0)
        return cli_usage_error(cli, "'%.70s': %s", ref, err.msg);
    return 0;
}

int cloud_whoami_ids(struct cli *cli, char project_id[37], char user_id[37], struct nubo_err *err)
{
    json_t *me = NULL;
    if (cli_call(cli, "GET", "/v1/auth/whoami", NULL, &me, err) < 0)
        return -1;
    const char *p = json_string_value(json_object_get(json_object_get(me, "project"), "id"));
    const char *u = json_string_value(json_object_get(json_object_get(me, "user"), "id"));
    int rc = 0;
    if ((project_id && (p == NULL || str_copy(project_id, 37, p) < 0)) ||
        (user_id && (u == NULL || str_copy(user_id, 37, u) < 0)))
        rc = nubo_err_set(err, NUBO_E_INTERNAL, "nubod sent a whoami without ids");
    json_decref(me);
    return rc;
}

/* ------------------------------------------------------------- printing */

/* The member at a dotted path ("host.name") of o, or NULL. */
static const json_t *member_at(const json_t *o, const char *path)
{
    char part[64];
    while (o && *path) {
        size_t len = strcspn(path, ".");
        if (len >= sizeof(part))
            return NULL;
        memcpy(part, path, len);
        part[len] = '\0';
        o = json_object_get(o, part);
        path += len;
        if (*path == '.')
            path++;
    }
    return o;
}

/* --------------------------------------------------- names for ids */

/* Where the resources a CLOUD_*_ID column names are listed. */
struct ref_kind {
    enum cloud_fmt fmt;
    const char *collection; /* "/v1/networks" */
    const char *key;        /* "networks": the list's array */
};

static const struct ref_kind ref_kinds[] = {
    {CLOUD_INSTANCE_ID, "/v1/instances", "instances"},
    {CLOUD_NETWORK_ID, "/v1/networks", "networks"},
    {CLOUD_PORT_ID, "/v1/ports", "ports"},
    {CLOUD_ALARM_ID, "/v1/alarms", "alarms"},
    {CLOUD_PROJECT_ID, "/v1/projects", "projects"},
};

/* {id: name} of the resources listed at ref, leaving out those without a
 * name and names that more than one of them has.  NULL when the list
 * cannot be read. */
static json_t *ref_names(struct cli *cli, const struct ref_kind *ref)
{
    struct nubo_err err;
    json_t *list = NULL, *names = NULL, *seen = NULL;
    if (cloud_list(cli, ref->collection, ref->key, 0, &list, &err) < 0)
        return NULL;
    const json_t *items = json_object_get(list, ref->key);
    names = json_object();
    seen = json_object(); /* name -> how many have it */
    size_t i;
    json_t *o;
    json_array_foreach (items, i, o) {
        const char *name = cli_json_str(o, "name");
        if (name && *name)
            json_object_set_new(seen, name,
                                json_integer(json_integer_value(json_object_get(seen, name)) + 1));
    }
    json_array_foreach (items, i, o) {
        const char *id = cli_json_str(o, "id"), *name = cli_json_str(o, "name");
        if (id && name && json_integer_value(json_object_get(seen, name)) == 1)
            json_object_set_new(names, id, json_string(name));
    }
    json_decref(seen);
    json_decref(list);
    return names;
}

json_t *cloud_table_names(struct cli *cli, const json_t *items, const struct cloud_col *cols,
                          size_t ncols)
{
    json_t *copy = NULL;
    for (size_t k = 0; k < ARRAY_LEN(ref_kinds); k++) {
        const struct ref_kind *ref = &ref_kinds[k];
        bool used = false;
        size_t i;
        json_t *o;
        json_array_foreach (items, i, o) {
            for (size_t c = 0; c < ncols; c++)
                used =
                    used || (cols[c].fmt == ref->fmt && json_is_string(member_at(o, cols[c].key)));
        }
        if (!used)
            continue; /* no column of this kind, or no row names one: no call */
        json_t *names = ref_names(cli, ref);
        if (names == NULL)
            continue;
        if (copy == NULL)
            copy = json_deep_copy(items);
        json_array_foreach (copy, i, o) {
            for (size_t c = 0; c < ncols; c++) {
                /* only top-level members: a dotted key stays an id */
                if (cols[c].fmt != ref->fmt || strchr(cols[c].key, '.') != NULL)
                    continue;
                const char *id = cli_json_str(o, cols[c].key);
                json_t *name = id ? json_object_get(names, id) : NULL;
                if (name)
                    json_object_set(o, cols[c].key, name);
            }
        }
        json_decref(names);
    }
    return copy;
}

void cloud_format(const json_t *o, const struct cloud_col *col, char *out, size_t n)
{
    const json_t *v = member_at(o, col->key);
    if (v == NULL || json_is_null(v)) {
        snprintf(out, n, "-");
        return;
    }
    switch (col->fmt) {
    case CLOUD_NAME:
        if (json_is_object(v)) {
            const char *name = cli_json_str(v, "name");
            snprintf(out, n, "%s", name ? name : cli_json_str_or(v, "id", "-"));
            return;
        }
        break;
    case CLOUD_BOOL:
        snprintf(out, n, "%s", json_is_true(v) ? "yes" : json_is_false(v) ? "no" : "-");
        return;
    case CLOUD_MIB:
    case CLOUD_GIB:
    case CLOUD_BYTES:
        if (json_is_integer(v)) {
            long long x = json_integer_value(v);
            uint64_t unit = col->fmt == CLOUD_MIB   ? 1ULL << 20
                            : col->fmt == CLOUD_GIB ? 1ULL << 30
                                                    : 1;
            if (x == 0)
                snprintf(out, n, "0");
            else if (x > 0 && (uint64_t)x <= UINT64_MAX / unit)
                output_size((uint64_t)x * unit, out, n);
            else
                snprintf(out, n, "%lld", x);
            return;
        }
        break;
    case CLOUD_AGE:
        if (json_is_string(v)) {
            output_since(json_string_value(v), out, n);
            return;
        }
        break;
    case CLOUD_COUNT:
        if (json_is_array(v)) {
            snprintf(out, n, "%zu", json_array_size(v));
            return;
        }
        break;
    case CLOUD_ADDRS:
        if (json_is_array(v)) {
            size_t i, used = 0;
            json_t *a;
            out[0] = '\0';
            json_array_foreach (v, i, a) {
                const char *ip = cli_json_str_or(a, "ip", "?");
                const char *fip = cli_json_str(a, "floating_ip");
                int w = snprintf(out + used, n - used, "%s%s%s%s%s", i ? ", " : "", ip,
                                 fip ? " (" : "", fip ? fip : "", fip ? ")" : "");
                if (w < 0 || (size_t)w >= n - used)
                    break;
                used += (size_t)w;
            }
            if (used == 0)
                snprintf(out, n, "-");
            return;
        }
        break;
    case CLOUD_SHORT:
        if (json_is_string(v)) {
            output_text(json_string_value(v), 48, out, n);
            return;
        }
        break;
    case CLOUD_STR:
    case CLOUD_INSTANCE_ID:
    case CLOUD_NETWORK_ID:
    case CLOUD_PORT_ID:
    case CLOUD_ALARM_ID:
    case CLOUD_PROJECT_ID:
        break;
    }
    if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, n, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, n, "%s", json_is_true(v) ? "yes" : "no");
    else if (json_is_object(v) && json_object_get(v, "name"))
        snprintf(out, n, "%s", cli_json_str_or(v, "name", "-"));
    else
        snprintf(out, n, "-");
}

void cloud_table_print(const json_t *items, const struct cloud_col *cols, size_t ncols,
                       const char *empty)
{
    const char *headers[16], *row[16];
    char cells[16][TEXT_MAX];
    if (ncols > 16)
        abort(); /* a programming error: output_table takes 16 */
    for (size_t c = 0; c < ncols; c++)
        headers[c] = cols[c].title;
    struct output_table *t = output_table_new(ncols, headers);
    size_t i;
    const json_t *item;
    json_array_foreach (items, i, item) {
        for (size_t c = 0; c < ncols; c++) {
            cloud_format(item, &cols[c], cells[c], sizeof(cells[c]));
            row[c] = cells[c];
        }
        output_table_add(t, row);
    }
    if (output_table_rows(t) == 0 && empty)
        fprintf(stderr, "nubo: %s\n", empty);
    else if (output_table_rows(t) > 0)
        output_table_print(t, stdout);
    output_table_free(t);
}

void cloud_view_print(const json_t *o, const struct cloud_col *fields, size_t nfields)
{
    char buf[TEXT_MAX];
    for (size_t i = 0; i < nfields; i++) {
        cloud_format(o, &fields[i], buf, sizeof(buf));
        output_kv(stdout, fields[i].title, buf);
    }
}

void cloud_created_print(const struct cli *cli, const char *what, const json_t *o)
{
    char name[128], id[64];
    if (cli_print_json(cli, o))
        return;
    const char *n = cli_json_str(o, "name");
    output_text(cli_json_str(o, "id"), 0, id, sizeof(id));
    if (n == NULL || *n == '\0' || strcmp(n, "-") == 0) { /* unnamed: subnets, rules... */
        printf("created %s, id %s\n", what, id);
        return;
    }
    output_text(n, 0, name, sizeof(name));
    printf("created %s %s, id %s\n", what, name, id);
}

void cloud_object_print(const struct cli *cli, const json_t *o, const struct cloud_col *fields,
                        size_t nfields)
{
    if (!cli_print_json(cli, o))
        cloud_view_print(o, fields, nfields);
}

/* ---------------------------------------------- standard subcommands */

/* Parses the options of a list command (the common ones and --limit). */
static int list_options(struct cli *cli, int argc, char **argv, const char *usage, long long *limit)
{
    enum { OPT_LIMIT = CLI_OPT_FIRST_FREE };
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"limit", required_argument, NULL, OPT_LIMIT},
        {NULL, 0, NULL, 0},
    };
    int c, r;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, CLI_SHORT_OPTIONS, opts)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return CLI_HELP_SHOWN;
        } else if (c == OPT_LIMIT) {
            if ((r = cloud_limit_parse(cli, optarg, limit)) != 0)
                return r;
        } else if ((r = cli_option(cli, c, argv)) != 0) {
            return r;
        }
    }
    return 0;
}

int cloud_list_run(struct cli *cli, const struct cloud_kind *kind, const char *path,
                   long long limit)
{
    struct nubo_err err;
    json_t *list = NULL;
    if (cloud_list(cli, path, kind->key, limit, &list, &err) < 0)
        return cli_fail(cli, &err);
    if (!cli_print_json(cli, list)) {
        const json_t *items = json_object_get(list, kind->key);
        json_t *named = cloud_table_names(cli, items, kind->cols, kind->ncols);
        cloud_table_print(named ? named : items, kind->cols, kind->ncols, kind->empty);
        json_decref(named);
        if (!json_is_null(json_object_get(list, "next_marker")))
            fprintf(stderr, "nubo: the first %zu %ss are shown; there are more%s\n",
                    json_array_size(items), kind->what, limit > 0 ? " (--limit)" : "");
    }
    json_decref(list);
    return CLI_EXIT_OK;
}

int cloud_cmd_list(struct cli *cli, int argc, char **argv, const struct cloud_kind *kind,
                   const char *usage)
{
    long long limit = 0;
    int r = list_options(cli, argc, argv, usage, &limit);
    if (r != 0)
        return r == CLI_HELP_SHOWN ? CLI_EXIT_OK : r;
    if ((r = cli_args_check(cli, argc - optind, 0, 0, "no arguments")) != 0 ||
        (r = cloud_connect(cli)) != 0)
        return r;
    return cloud_list_run(cli, kind, kind->collection, limit);
}

/* The path of one resource, kind->collection/REF, with REF resolved to an
 * id when the routes take only ids. */
static int resource_path(struct cli *cli, const struct cloud_kind *kind, const char *ref,
                         char *path, size_t n, struct nubo_err *err)
{
    char id[37];
    if (kind->ids_only) {
        if (cloud_resolve(cli, kind->collection, kind->key, kind->name_query, ref, kind->what, id,
                          err) < 0)
            return -1;
        ref = id;
    }
    if (snprintf(path, n, "%s/%s", kind->collection, ref) >= (int)n)
        return nubo_err_set(err, NUBO_E_INVALID, "the path is too long");
    return 0;
}

int cloud_get(struct cli *cli, const struct cloud_kind *kind, const char *ref, json_t **out,
              struct nubo_err *err)
{
    char path[CLOUD_PATH_MAX];
    *out = NULL;
    if (resource_path(cli, kind, ref, path, sizeof(path), err) < 0)
        return -1;
    return cli_call(cli, "GET", path, NULL, out, err);
}

int cloud_cmd_show(struct cli *cli, int argc, char **argv, const struct cloud_kind *kind,
                   const char *usage)
{
    int r;
    char what[64];
    struct nubo_err err;
    json_t *o = NULL;
    snprintf(what, sizeof(what), "a %s name or id", kind->what);
    if ((r = cli_options_common(cli, argc, argv, usage, false)) != 0)
        return r == CLI_HELP_SHOWN ? CLI_EXIT_OK : r;
    if ((r = cli_args_check(cli, argc - optind, 1, 1, what)) != 0 ||
        (r = cloud_ref_check(cli, argv[optind], what)) != 0 || (r = cloud_connect(cli)) != 0)
        return r;
    if (cloud_get(cli, kind, argv[optind], &o, &err) < 0)
        return cli_fail(cli, &err);
    cloud_object_print(cli, o, kind->fields, kind->nfields);
    json_decref(o);
    return CLI_EXIT_OK;
}

int cloud_cmd_delete(struct cli *cli, int argc, char **argv, const struct cloud_kind *kind,
                     const char *usage)
{
    int rc, r;
    char what[64], path[CLOUD_PATH_MAX], safe[128];
    struct nubo_err err;
    snprintf(what, sizeof(what), "one or more %s names or ids", kind->what);
    if ((rc = cli_options_common(cli, argc, argv, usage, false)) != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, -1, what)) != 0)
        return rc;
    for (int i = optind; i < argc; i++)
        if ((rc = cloud_ref_check(cli, argv[i], "a name or id")) != 0)
            return rc;
    if ((rc = cloud_connect(cli)) != 0)
        return rc;
    for (int i = optind; i < argc; i++) {
        if (resource_path(cli, kind, argv[i], path, sizeof(path), &err) < 0 ||
            cli_call(cli, "DELETE", path, NULL, NULL, &err) < 0) {
            r = cli_fail(cli, &err);
            if (r != CLI_EXIT_FAIL)
                return r; /* unreachable or interrupted: the rest would fail too */
            rc = r;
            continue;
        }
        output_text(argv[i], 0, safe, sizeof(safe));
        if (cli->output == OUTPUT_TABLE)
            printf("deleted %s %s\n", kind->what, safe);
    }
    return rc;
}

/* ------------------------------------------------------ option values */

int cloud_limit_parse(const struct cli *cli, const char *s, long long *out)
{
    return cloud_int_parse(cli, s, 1, CLOUD_LIST_MAX, "--limit", out);
}

int cloud_int_parse(const struct cli *cli, const char *s, long long min, long long max,
                    const char *what, long long *out)
{
    struct nubo_err err;
    if (valid_int(s, min, max, what, out, &err) < 0)
        return cli_usage_error(cli, "%s", err.msg);
    return 0;
}

int cloud_size_parse(const struct cli *cli, const char *s, uint64_t unit, long long min,
                     long long max, const char *what, long long *out)
{
    struct nubo_err err;
    uint64_t bytes;
    if (valid_size(s, unit, (uint64_t)min * unit, (uint64_t)max * unit, what, &bytes, &err) < 0)
        return cli_usage_error(cli, "%s", err.msg);
    if (bytes % unit != 0)
        return cli_usage_error(cli, "%s must be a whole number of %s (got '%.40s')", what,
                               unit == 1ULL << 30 ? "GiB" : "MiB", s);
    *out = (long long)(bytes / unit);
    return 0;
}

/* Reads one line from the terminal with echo off into buf.  Returns 1 when
 * there is no terminal, 0 on success, -1 when interrupted or on error. */
static int tty_read_line(const char *prompt, char *buf, size_t n)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return 1;
    struct termios saved, quiet;
    if (tcgetattr(fd, &saved) < 0) {
        close(fd);
        return 1;
    }
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL; /* the newline still shows, so the next line starts fresh */
    /* Echo off before the prompt shows, and without flushing: what is typed
     * (or pasted) right after the prompt must not be lost. */
    if (tcsetattr(fd, TCSANOW, &quiet) < 0 || write(fd, prompt, strlen(prompt)) < 0) {
        tcsetattr(fd, TCSANOW, &saved);
        close(fd);
        return -1;
    }
    size_t len = 0;
    int rc = -1;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR && !cli_interrupted())
            continue;
        if (r <= 0)
            break; /* Ctrl-C, Ctrl-D or an error: nothing is entered */
        if (ch == '\n') {
            rc = 0;
            break;
        }
        if (len + 1 < n)
            buf[len++] = ch;
    }
    buf[len] = '\0';
    tcsetattr(fd, TCSANOW, &saved);
    if (rc < 0 && write(fd, "\n", 1) < 0)
        rc = -1;
    close(fd);
    return rc;
}

int cloud_secret_read(const struct cli *cli, const char *file, const char *env, const char *prompt,
                      bool confirm, char **out)
{
    struct nubo_err err;
    const char *env_value = env ? getenv(env) : NULL;
    *out = NULL;
    if (file) {
        char *buf = fs_read_file(file, SECRET_MAX, NULL, &err);
        if (buf == NULL)
            return cli_usage_error(cli, "password file: %s", err.msg);
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0] == '\0') {
            cli_secret_free(buf);
            return cli_usage_error(cli, "password file %s: its first line is empty", file);
        }
        *out = buf;
        return 0;
    }
    if (env_value && *env_value) {
        *out = xstrdup(env_value);
        return 0;
    }
    char *first = xmalloc(SECRET_MAX), *again = NULL;
    int r = tty_read_line(prompt, first, SECRET_MAX);
    if (r == 0 && confirm) {
        again = xmalloc(SECRET_MAX);
        r = tty_read_line("Again: ", again, SECRET_MAX);
    }
    int rc;
    if (r > 0) {
        rc = cli_usage_error(cli,
                             "no terminal to ask for the password on: give --password-file "
                             "FILE%s%s",
                             env ? " or set " : "", env ? env : "");
    } else if (r < 0 && cli_interrupted()) {
        fputs("nubo: interrupted\n", stderr);
        rc = CLI_EXIT_INTERRUPTED;
    } else if (r < 0) {
        fputs("nubo: no password was entered\n", stderr);
        rc = CLI_EXIT_FAIL;
    } else if (first[0] == '\0') {
        rc = cli_usage_error(cli, "the password is empty");
    } else if (again && strcmp(first, again) != 0) {
        rc = cli_usage_error(cli, "the passwords do not match");
    } else {
        *out = xstrdup(first);
        rc = 0;
    }
    explicit_bzero(first, SECRET_MAX);
    free(first);
    if (again) {
        explicit_bzero(again, SECRET_MAX);
        free(again);
    }
    return rc;
}
