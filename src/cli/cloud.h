/*
 * cloud.h - what the controller commands of `nubo` share (every command but
 * `nubo agent ...`): finding the controller and the token, paged lists,
 * creating with idempotency keys, names resolved to ids, tables and views
 * described by columns, and reading secrets.
 *
 * The controller API is docs/internals/controller-api.md.  Where it is and
 * which token to send, in order of precedence:
 *   URL     --url, env NUBO_URL, the login saved by `nubo login` (config.h)
 *   token   --token-file FILE, env NUBO_TOKEN, the saved login's token (only
 *           when the URL is the saved login's: a token is never sent to
 *           another controller than the one that issued it)
 * No URL or no token is "not logged in": exit 3 with a hint to log in.
 *
 * Like the agent commands, the functions that run a command return its
 * exit status (enum cli_exit); the others return 0 / -1 with a struct
 * nubo_err.
 */
#ifndef NUBO_CLI_CLOUD_H
#define NUBO_CLI_CLOUD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"
#include "lib/err.h"

#define CLOUD_DEFAULT_URL "http://127.0.0.1:7700"
#define CLOUD_PAGE_MAX 1000   /* the API's largest ?limit= */
#define CLOUD_LIST_MAX 100000 /* items fetched by one list at most */
#define CLOUD_PATH_MAX 1024   /* a request path with its query */
#define CLOUD_WAIT_DEFAULT_S 300

/* Help lines for the common options of controller commands. */
#define CLOUD_COMMON_HELP                                                                          \
    "Common options: -o, --output table|json; --url URL and --token-file FILE (or env\n"           \
    "NUBO_URL, NUBO_TOKEN) instead of the login saved by 'nubo login'; --ca-file FILE\n"           \
    "(or NUBO_CA_FILE): the CA of an https:// controller; -h, --help.\n"

/* Creates cli->client for the controller (see above).  Returns 0, or the
 * exit status after printing why not: CLI_EXIT_UNREACHABLE when not logged
 * in, CLI_EXIT_USAGE for bad settings, CLI_EXIT_FAIL for an unreadable
 * config file. */
int cloud_connect(struct cli *cli);

/* ------------------------------------------------------------- requests */

/* POST that creates: sends a random Idempotency-Key and, when no answer
 * came (connection lost, controller restarting: 502, 503), sends the same
 * request with the same key again (3 tries), so a retry never creates
 * twice.  *out as client_call(). */
int cloud_create(struct cli *cli, const char *path, const json_t *body, json_t **out,
                 struct nubo_err *err);

/* GETs a list, following next_marker until the end or until `limit` items
 * (0: all, up to CLOUD_LIST_MAX).  path is the collection with its filters
 * ("/v1/instances?status=running"); key names the array ("instances").  On
 * success *out is {key: [...], "next_marker": marker | null} (the caller's):
 * next_marker is set when `limit` cut the list short. */
int cloud_list(struct cli *cli, const char *path, const char *key, long long limit, json_t **out,
               struct nubo_err *err);

/* Appends "?key=value" or "&key=value" (value percent-encoded) to the path
 * in buf (n bytes).  Returns -1 with err when it does not fit. */
int cloud_query_add(char *buf, size_t n, const char *key, const char *value, struct nubo_err *err);

/* Resolves ref, a name or an id, to an id for routes that take only ids: a
 * UUID is copied as it is; a name is looked up in the list at `collection`
 * (with ?name= when by_query) under `key`.  No match is NUBO_E_NOTFOUND,
 * several are NUBO_E_CONFLICT ("use the id"); `what` ("instance") names the
 * kind in messages. */
int cloud_resolve(struct cli *cli, const char *collection, const char *key, bool by_query,
                  const char *ref, const char *what, char id[37], struct nubo_err *err);

/* Checks that ref can name a resource before it goes into a URL (a name or
 * an id: lib/valid.h's valid_name()).  Returns 0, or CLI_EXIT_USAGE after
 * printing why; `what` ("a project name or id") names it. */
int cloud_ref_check(const struct cli *cli, const char *ref, const char *what);

/* The id of the caller's own project and user (GET /v1/auth/whoami), into
 * project_id and user_id (either may be NULL). */
int cloud_whoami_ids(struct cli *cli, char project_id[37], char user_id[37], struct nubo_err *err);

/* ------------------------------------------------------------- printing */

enum cloud_fmt {
    CLOUD_STR,   /* a string (or a number, printed as it is) */
    CLOUD_NAME,  /* an object {id, name}: its name (or a string as it is) */
    CLOUD_BOOL,  /* yes / no */
    CLOUD_MIB,   /* a count of MiB, as a size: "512M" */
    CLOUD_GIB,   /* a count of GiB, as a size: "20G" */
    CLOUD_BYTES, /* a count of bytes, as a size */
    CLOUD_AGE,   /* an RFC 3339 time, as the time since: "3m12s" */
    CLOUD_COUNT, /* an array: how many members */
    CLOUD_SHORT, /* a string cut at 48 characters, for long texts in tables */
    CLOUD_ADDRS, /* an instance's addresses: "10.0.0.5 (203.0.113.7), 10.1.0.9" */
    /* The id of another resource (a string, printed as it is); tables show
     * the resource's name instead (cloud_table_names()). */
    CLOUD_INSTANCE_ID,
    CLOUD_NETWORK_ID,
    CLOUD_PORT_ID,
    CLOUD_ALARM_ID,
    CLOUD_PROJECT_ID,
};

/* A table column or a key/value field: a title, the member it shows (a
 * path with dots: "host.name") and how. */
struct cloud_col {
    const char *title;
    const char *key;
    enum cloud_fmt fmt;
};

/* The text of one column for object o, into out (n bytes). */
void cloud_format(const json_t *o, const struct cloud_col *col, char *out, size_t n);

/* For the table output of items (an array of objects): a copy of items in
 * which every column of a CLOUD_*_ID format shows the name of the resource
 * whose id it holds, or NULL when there is nothing to name (print items as
 * they are).  One
 * list call (all pages) per kind of resource named, none per row; an id
 * stays as it is when its resource is not in that list (deleted, another
 * project's), has no name, or shares its name with another of the list,
 * and all of them do when the list call fails (a tenant may not list
 * hosts).  The JSON output never goes through this. */
json_t *cloud_table_names(struct cli *cli, const json_t *items, const struct cloud_col *cols,
                          size_t ncols);

/* Prints the objects of the array items as a table on stdout, or `empty`
 * on stderr when there are none. */
void cloud_table_print(const json_t *items, const struct cloud_col *cols, size_t ncols,
                       const char *empty);

/* Prints object o as "field: value" lines on stdout. */
void cloud_view_print(const json_t *o, const struct cloud_col *fields, size_t nfields);

/* Prints what a create answered: its JSON (-o json), or "created <what>
 * <name>, id <id>" for people. */
void cloud_created_print(const struct cli *cli, const char *what, const json_t *o);

/* Prints an object: its JSON (-o json), or as a key/value view. */
void cloud_object_print(const struct cli *cli, const json_t *o, const struct cloud_col *fields,
                        size_t nfields);

/* ---------------------------------------------- standard subcommands */

/* A kind of resource, for the list / show / delete subcommands that every
 * group has. */
struct cloud_kind {
    const char *what;       /* "flavor", in messages */
    const char *collection; /* "/v1/flavors" */
    const char *key;        /* "flavors": the list's array */
    /* Routes take only ids (names are resolved with cloud_resolve()); with
     * name_query the list can be filtered by ?name=. */
    bool ids_only, name_query;
    const struct cloud_col *cols; /* list columns */
    size_t ncols;
    const struct cloud_col *fields; /* show fields */
    size_t nfields;
    const char *empty; /* said on stderr when the list is empty */
};

/* `nubo GROUP list [--limit N]`: the whole list (all pages). */
int cloud_cmd_list(struct cli *cli, int argc, char **argv, const struct cloud_kind *kind,
                   const char *usage);

/* Runs a list whose path and filters the caller built (after its own
 * option parsing), and prints it.  Returns the exit status. */
int cloud_list_run(struct cli *cli, const struct cloud_kind *kind, const char *path,
                   long long limit);

/* `nubo GROUP show REF`. */
int cloud_cmd_show(struct cli *cli, int argc, char **argv, const struct cloud_kind *kind,
                   const char *usage);

/* `nubo GROUP delete REF...`: goes on after a failure (exit status 1). */
int cloud_cmd_delete(struct cli *cli, int argc, char **argv, const struct cloud_kind *kind,
                     const char *usage);

/* GET kind->collection/REF (resolved when kind->ids_only) into *out. */
int cloud_get(struct cli *cli, const struct cloud_kind *kind, const char *ref, json_t **out,
              struct nubo_err *err);

/* ------------------------------------------------------ option values */

/* Parses a --limit value (1 .. CLOUD_LIST_MAX).  Returns 0 or a usage
 * error. */
int cloud_limit_parse(const struct cli *cli, const char *s, long long *out);

/* Parses an integer option in [min, max].  Returns 0 or a usage error. */
int cloud_int_parse(const struct cli *cli, const char *s, long long min, long long max,
                    const char *what, long long *out);

/* Parses a size ("64G", "512M"; a bare number counts `unit` bytes) into a
 * whole number of `unit` bytes in [min, max] units.  Returns 0 or a usage
 * error (also when the size is not a whole number of units). */
int cloud_size_parse(const struct cli *cli, const char *s, uint64_t unit, long long min,
                     long long max, const char *what, long long *out);

/* Reads a secret (a password): the first line of `file` if given, else the
 * environment variable `env` if given and set, else asked on the terminal
 * without echo (twice when confirm).  Returns 0 and *out (malloc'd; free it
 * with cli_secret_free()), or the exit status after printing why not (no
 * terminal to ask on is a usage error). */
int cloud_secret_read(const struct cli *cli, const char *file, const char *env, const char *prompt,
                      bool confirm, char **out);

#endif
