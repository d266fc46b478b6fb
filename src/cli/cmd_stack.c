/*
 * cmd_stack.c - `nubo stack ...`: infrastructure as code.  A template
 * (YAML or JSON, docs/internals/stacks.md) is planned, shown, confirmed and
 * applied as a stack; the CLI then follows the stack's events until the
 * controller's apply ends.
 *
 *   plan       POST /v1/stacks/plan
 *   apply      GET /v1/stacks/{name} (does it exist?), POST /v1/stacks/plan,
 *              then POST /v1/stacks (new) or PUT /v1/stacks/{name}, then
 *              GET /v1/stacks/{name}/events?after=N until the apply ends
 *   list       GET /v1/stacks
 *   show       GET /v1/stacks/{ref}
 *   events     GET /v1/stacks/{ref}/events
 *   outputs    GET /v1/stacks/{ref}/outputs
 *   resources  GET /v1/stacks/{ref}/resources
 *   drift      GET /v1/stacks/{ref}/drift
 *   destroy    DELETE /v1/stacks/{ref}, then its events until it is gone
 *
 * The routes take a stack's id or name.  apply and destroy ask before
 * changing anything unless --yes; without a terminal to ask on they refuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "lib/valid.h"

#define STACK_TEMPLATE_MAX (256 * 1024) /* the API's limit (docs/openapi.json) */
#define STACK_POLL_MS 250

static const char stack_usage[] =
    "usage: nubo stack COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  plan -f FILE [-p K=V]...      what applying FILE would change (nothing is)\n"
    "  apply NAME -f FILE [-p K=V]... [--yes] [--on-failure rollback|stop]\n"
    "                                create or update stack NAME from FILE\n"
    "  list                          the project's stacks\n"
    "  show STACK                    one stack and its status\n"
    "  events STACK                  what its applies did, oldest first\n"
    "  outputs STACK                 its outputs, from the live resources\n"
    "  resources STACK               its resources as recorded\n"
    "  drift STACK                   what changed outside the stack\n"
    "  destroy STACK [--yes]         delete its resources, then the stack\n"
    "\n"
    "STACK is a stack's name or id.  FILE is a template (docs/internals/stacks.md).\n"
    "\n" CLOUD_COMMON_HELP;

static const char plan_usage[] =
    "usage: nubo stack plan -f FILE [-p KEY=VALUE]... [--stack STACK]\n"
    "\n"
    "Shows what applying the template FILE would do, resource by resource (create,\n"
    "update in place, replace, delete, no change), against the stack STACK or, by\n"
    "default, against nothing.  Nothing is changed.\n"
    "\n"
    "  -f, --file FILE       the template (YAML or JSON)\n"
    "  -p, --param K=V       a parameter's value (again for more); converted to the\n"
    "                        parameter's type (a list is comma-separated)\n"
    "  --stack STACK         plan against this existing stack\n"
    "\n" CLOUD_COMMON_HELP;

static const char apply_usage[] =
    "usage: nubo stack apply NAME -f FILE [-p KEY=VALUE]... [--yes]\n"
    "           [--on-failure rollback|stop]\n"
    "\n"
    "Plans FILE against stack NAME (a new stack when there is none), shows the plan\n"
    "and asks for confirmation (unless --yes), then applies it and shows the\n"
    "stack's events until the apply ends.  Exit status 0 when it completed, 1 when\n"
    "it failed (and was stopped or rolled back).\n"
    "\n"
    "  -f, --file FILE          the template (YAML or JSON)\n"
    "  -p, --param K=V          a parameter's value (again for more)\n"
    "  -y, --yes                apply without asking (needed without a terminal)\n"
    "  --on-failure MODE        rollback (default): undo what this apply did;\n"
    "                           stop: leave what was done, failed resources marked\n"
    "\n" CLOUD_COMMON_HELP;

static const char list_usage[] = "usage: nubo stack list [--limit N]\n"
                                 "\n"
                                 "Lists the project's stacks.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char show_usage[] = "usage: nubo stack show STACK\n"
                                 "\n"
                                 "Shows one stack: its status, revision and last failure.\n"
                                 "\n" CLOUD_COMMON_HELP;

static const char events_usage[] = "usage: nubo stack events STACK [--follow]\n"
                                   "\n"
                                   "Shows the stack's events, oldest first; with --follow,\n"
                                   "goes on until its apply, rollback or destroy ends.\n"
                                   "\n" CLOUD_COMMON_HELP;

static const char outputs_usage[] = "usage: nubo stack outputs STACK\n"
                                    "\n"
                                    "Shows the stack's outputs, resolved from the live resources.\n"
                                    "\n" CLOUD_COMMON_HELP;

static const char resources_usage[] =
    "usage: nubo stack resources STACK\n"
    "\n"
    "Shows the stack's resources as recorded: type, physical id,\n"
    "status.\n"
    "\n" CLOUD_COMMON_HELP;

static const char drift_usage[] =
    "usage: nubo stack drift STACK\n"
    "\n"
    "Compares the stack's recorded resources with the live ones: deleted or changed\n"
    "outside the stack.  'nubo stack apply' with the same template repairs it.\n"
    "Exit status 0 either way; -o json says \"drifted\".\n"
    "\n" CLOUD_COMMON_HELP;

static const char destroy_usage[] =
    "usage: nubo stack destroy STACK [--yes]\n"
    "\n"
    "Deletes the stack's resources in reverse dependency order (never a resource\n"
    "the stack did not create), then the stack, showing its events until done.\n"
    "Asks first unless --yes (needed without a terminal).\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col stack_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"STATUS", "status", CLOUD_STR},
    {"REVISION", "revision", CLOUD_STR},
    {"UPDATED", "updated_at", CLOUD_AGE},
    {"ID", "id", CLOUD_STR},
};

static const struct cloud_col stack_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"status", "status", CLOUD_STR},
    {"reason", "status_reason", CLOUD_STR},
    {"revision", "revision", CLOUD_STR},
    {"good revision", "good_revision", CLOUD_STR},
    {"on failure", "on_failure", CLOUD_STR},
    {"created", "created_at", CLOUD_STR},
    {"updated", "updated_at", CLOUD_STR},
};

static const struct cloud_kind stack_kind = {
    .what = "stack",
    .collection = "/v1/stacks",
    .key = "stacks",
    .cols = stack_cols,
    .ncols = ARRAY_LEN(stack_cols),
    .fields = stack_fields,
    .nfields = ARRAY_LEN(stack_fields),
    .empty = "no stacks (create one: nubo stack apply NAME -f FILE)",
};

static const struct cloud_col event_cols[] = {
    {"ID", "id", CLOUD_STR},
    {"AT", "at", CLOUD_STR},
    {"RESOURCE", "resource", CLOUD_STR},
    {"ACTION", "action", CLOUD_STR},
    {"STATUS", "status", CLOUD_STR},
    {"DETAIL", "detail", CLOUD_STR},
};

static const struct cloud_col resource_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"TYPE", "type", CLOUD_STR},
    {"STATUS", "status", CLOUD_STR},
    {"PHYSICAL ID", "physical_id", CLOUD_STR},
    {"REASON", "status_reason", CLOUD_SHORT},
};

static bool task_active(const char *status)
{
    return status && (strcmp(status, "applying") == 0 || strcmp(status, "rolling_back") == 0 ||
                      strcmp(status, "destroying") == 0);
}

/* ------------------------------------------------------------- options */

/* What plan and apply take besides the common options. */
struct tmpl_opts {
    const char *file;
    json_t *params; /* {name: "text"}; the caller's */
    const char *stack;
    const char *on_failure;
    bool yes;
    bool follow;
};

enum {
    OPT_STACK = CLI_OPT_FIRST_FREE,
    OPT_ON_FAILURE,
    OPT_LIMIT,
    OPT_FOLLOW,
};

/* Adds "-p KEY=VALUE" to params.  Returns 0 or a usage error. */
static int param_add(const struct cli *cli, json_t *params, const char *kv)
{
    const char *eq = strchr(kv, '=');
    char key[128];
    struct nubo_err err;
    if (eq == NULL || eq == kv || (size_t)(eq - kv) >= sizeof(key))
        return cli_usage_error(cli, "-p wants KEY=VALUE, not '%.60s'", kv);
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    if (valid_name(key, "a parameter name", &err) < 0)
        return cli_usage_error(cli, "%s", err.msg);
    json_object_set_new(params, key, json_string(eq + 1));
    return 0;
}

/* The letter of `allowed` (see tmpl_opts_parse()) that a getopt value of
 * the template options stands for; 0 for the common options. */
static char tmpl_opt_flag(int val)
{
    return val == 'f'              ? 'f'
           : val == 'p'            ? 'p'
           : val == 'y'            ? 'y'
           : val == OPT_STACK      ? 's'
           : val == OPT_ON_FAILURE ? 'o'
           : val == OPT_FOLLOW     ? 'F'
                                   : 0;
}

/* Parses the options of plan, apply, events and destroy (what each
 * accepts is in `allowed`: "fpsoyF" for file, param, stack, on-failure,
 * yes, follow).  Positional arguments start at argv[optind].  The table
 * handed to getopt holds only the allowed options, so another is an
 * unknown option, and the completions (cli_getopt()) offer only these. */
static int tmpl_opts_parse(struct cli *cli, int argc, char **argv, const char *usage,
                           const char *allowed, struct tmpl_opts *o)
{
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"file", required_argument, NULL, 'f'},
        {"param", required_argument, NULL, 'p'},
        {"yes", no_argument, NULL, 'y'},
        {"stack", required_argument, NULL, OPT_STACK},
        {"on-failure", required_argument, NULL, OPT_ON_FAILURE},
        {"follow", no_argument, NULL, OPT_FOLLOW},
        {NULL, 0, NULL, 0},
    };
    struct option mine[ARRAY_LEN(opts)];
    char optstring[32] = CLI_SHORT_OPTIONS;
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_LEN(opts); i++) {
        char flag = tmpl_opt_flag(opts[i].val);
        if (opts[i].name == NULL || flag == 0 || strchr(allowed, flag) != NULL)
            mine[n++] = opts[i]; /* the terminator too */
    }
    for (const char *f = "fpy"; *f; f++)
        if (strchr(allowed, *f) != NULL)
            snprintf(optstring + strlen(optstring), sizeof(optstring) - strlen(optstring), "%c%s",
                     *f, *f == 'y' ? "" : ":");
    int c, rc;
    cli_getopt_reset();
    while ((c = cli_getopt(argc, argv, optstring, mine)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return CLI_HELP_SHOWN;
        } else if (c == 'f') {
            o->file = optarg;
        } else if (c == 'p') {
            if ((rc = param_add(cli, o->params, optarg)) != 0)
                return rc;
        } else if (c == 'y') {
            o->yes = true;
        } else if (c == OPT_STACK) {
            if ((rc = cloud_ref_check(cli, optarg, "a stack's name or id")) != 0)
                return rc;
            o->stack = optarg;
        } else if (c == OPT_ON_FAILURE) {
            if (strcmp(optarg, "rollback") != 0 && strcmp(optarg, "stop") != 0)
                return cli_usage_error(cli, "--on-failure is rollback or stop");
            o->on_failure = optarg;
        } else if (c == OPT_FOLLOW) {
            o->follow = true;
        } else if ((rc = cli_option(cli, c, argv)) != 0) {
            return rc;
        }
    }
    if (strchr(allowed, 'f') && o->file == NULL)
        return cli_usage_error(cli, "-f FILE (the template) is required");
    return 0;
}

/* Reads the template file into *text (the caller's).  Returns 0 or the
 * exit status after saying why not. */
static int template_read(const struct cli *cli, const char *file, char **text)
{
    struct nubo_err err;
    size_t len;
    *text = fs_read_file(file, STACK_TEMPLATE_MAX, &len, &err);
    if (*text == NULL) {
        fprintf(stderr, "nubo: %s: %s\n", file, err.msg);
        return err.code == NUBO_E_TOOLARGE || err.code == NUBO_E_NOTFOUND ? CLI_EXIT_USAGE
                                                                          : CLI_EXIT_FAIL;
    }
    if (strlen(*text) != len) {
        free(*text);
        *text = NULL;
        return cli_usage_error(cli, "%s holds a NUL byte: not a template", file);
    }
    return 0;
}

/* ------------------------------------------------------------ printing */

/* A JSON value as text for a table cell: strings as they are. */
static void value_text(const json_t *v, char *out, size_t n)
{
    if (json_is_string(v)) {
        output_text(json_string_value(v), 40, out, n);
        return;
    }
    if (json_is_real(v)) { /* 90, not 90.0: the template's number as written */
        snprintf(out, n, "%.15g", json_real_value(v));
        return;
    }
    char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    output_text(s ? s : "-", 40, out, n);
    free(s);
}

/* The ATTRIBUTES cell of a plan row: "prop: old -> new, ..." (or the
 * properties a create sets), then the reason. */
static void plan_cell(const json_t *r, char *out, size_t n)
{
    const json_t *changes = json_object_get(r, "changes");
    const char *action = cli_json_str_or(r, "action", "");
    const char *reason = cli_json_str(r, "reason");
    size_t used = 0, i;
    json_t *c;
    out[0] = '\0';
    json_array_foreach (changes, i, c) {
        char oldv[64], newv[64], prop[64];
        output_text(cli_json_str_or(c, "property", "?"), 40, prop, sizeof(prop));
        value_text(json_object_get(c, "new"), newv, sizeof(newv));
        int w;
        if (strcmp(action, "create") == 0 || json_object_get(c, "old") == NULL ||
            json_is_null(json_object_get(c, "old"))) {
            w = snprintf(out + used, n - used, "%s%s=%s", used ? ", " : "", prop, newv);
        } else {
            value_text(json_object_get(c, "old"), oldv, sizeof(oldv));
            w = snprintf(out + used, n - used, "%s%s: %s -> %s", used ? ", " : "", prop, oldv,
                         newv);
        }
        if (w < 0 || (size_t)w >= n - used) {
            out[used] = '\0';
            break;
        }
        used += (size_t)w;
    }
    if (reason && *reason && used + 4 < n) {
        char why[160];
        output_text(reason, 120, why, sizeof(why));
        snprintf(out + used, n - used, "%s(%s)", used ? " " : "", why);
    }
}

/* Prints a plan as a table and its summary line to out; returns how many
 * resources it changes. */
static long long plan_print(const json_t *plan, FILE *out)
{
    static const char *const heads[] = {"RESOURCE", "TYPE", "ACTION", "ATTRIBUTES"};
    struct output_table *t = output_table_new(4, heads);
    const json_t *list = json_object_get(plan, "resources");
    size_t i;
    json_t *r;
    json_array_foreach (list, i, r) {
        char name[96], type[64], action[32], cell[1024];
        output_text(cli_json_str(r, "name"), 60, name, sizeof(name));
        output_text(cli_json_str(r, "type"), 40, type, sizeof(type));
        output_text(cli_json_str(r, "action"), 20, action, sizeof(action));
        plan_cell(r, cell, sizeof(cell));
        const char *cells[] = {name, type, action, cell[0] ? cell : "-"};
        output_table_add(t, cells);
    }
    if (output_table_rows(t) > 0)
        output_table_print(t, out);
    output_table_free(t);
    const json_t *s = json_object_get(plan, "summary");
    long long create = cli_json_int(s, "create"), update = cli_json_int(s, "update"),
              replace = cli_json_int(s, "replace"), del = cli_json_int(s, "delete");
    fprintf(out,
            "plan: %lld to create, %lld to update in place, %lld to replace, %lld to delete, "
            "%lld unchanged\n",
            create, update, replace, del, cli_json_int(s, "no-change"));
    return create + update + replace + del;
}

static void event_print(const json_t *ev, FILE *out)
{
    char at[40], res[96], action[32], status[32], detail[512];
    output_text(cli_json_str(ev, "at"), 30, at, sizeof(at));
    const char *r = cli_json_str(ev, "resource");
    output_text(r && *r ? r : "(stack)", 60, res, sizeof(res));
    output_text(cli_json_str(ev, "action"), 20, action, sizeof(action));
    output_text(cli_json_str(ev, "status"), 20, status, sizeof(status));
    output_text(cli_json_str(ev, "detail"), 300, detail, sizeof(detail));
    fprintf(out, "%s  %-20s %-10s %-12s %s\n", at, res, action, status, detail);
    fflush(out);
}

/* ----------------------------------------------------------- following */

/* Fetches the events after *after (all pages), prints them when out is
 * not NULL and moves *after past them. */
static int events_drain(struct cli *cli, const char *ref, long long *after, FILE *out,
                        struct nubo_err *err)
{
    for (;;) {
        char path[CLOUD_PATH_MAX], num[32];
        int w = snprintf(path, sizeof(path), "%s/%s/events?limit=1000", stack_kind.collection, ref);
        if (w < 0 || (size_t)w >= sizeof(path))
            return nubo_err_set(err, NUBO_E_INVALID, "the stack reference is too long");
        snprintf(num, sizeof(num), "%lld", *after);
        if (cloud_query_add(path, sizeof(path), "after", num, err) < 0)
            return -1;
        json_t *ans = NULL;
        if (cli_call(cli, "GET", path, NULL, &ans, err) < 0)
            return -1;
        json_t *list = json_object_get(ans, "events"), *ev;
        size_t i, n = json_array_size(list);
        json_array_foreach (list, i, ev) {
            if (out)
                event_print(ev, out);
            long long id = cli_json_int(ev, "id");
            if (id > *after)
                *after = id;
        }
        json_decref(ans);
        if (n < 1000)
            return 0;
    }
}

/* Follows the stack's events from *after on until its task ends, printing
 * them to out.  gone_ok: the stack disappearing is the end (a destroy).
 * Returns the exit status: 0 when the task completed (or the stack is
 * gone), 1 when it failed; *final (if not NULL) gets the last stack JSON. */
static int follow(struct cli *cli, const char *ref, const char *shown, long long after,
                  bool gone_ok, FILE *out, json_t **final)
{
    struct nubo_err err;
    json_t *st = NULL;
    for (;;) {
        json_decref(st);
        st = NULL;
        if (cloud_get(cli, &stack_kind, ref, &st, &err) < 0) {
            if (gone_ok && err.code == NUBO_E_NOTFOUND) {
                fprintf(out, "stack %s destroyed\n", shown);
                return CLI_EXIT_OK;
            }
            return cli_fail(cli, &err);
        }
        /* the last event is written before the status changes: once the
         * task is seen ended, one more drain has all of its events */
        if (events_drain(cli, ref, &after, out, &err) < 0) {
            if (gone_ok && err.code == NUBO_E_NOTFOUND)
                continue;
            json_decref(st);
            return cli_fail(cli, &err);
        }
        const char *status = cli_json_str(st, "status");
        if (!task_active(status))
            break;
        if (cli_sleep_ms(STACK_POLL_MS) < 0) {
            json_decref(st);
            fprintf(stderr,
                    "nubo: interrupted; the controller goes on (follow it: nubo stack events "
                    "%s --follow)\n",
                    shown);
            return CLI_EXIT_INTERRUPTED;
        }
    }
    const char *status = cli_json_str(st, "status");
    int rc = strcmp(status, "complete") == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    char reason[512];
    output_text(cli_json_str_or(st, "status_reason", ""), 400, reason, sizeof(reason));
    fprintf(out, "stack %s: %s (revision %lld)%s%s\n", shown, status, cli_json_int(st, "revision"),
            rc == CLI_EXIT_OK || !*reason ? "" : ": ", rc == CLI_EXIT_OK ? "" : reason);
    if (final)
        *final = st;
    else
        json_decref(st);
    return rc;
}

/* Asks "question [y/N]" on the terminal unless yes.  Returns 0 to go on,
 * CLI_EXIT_FAIL when declined, CLI_EXIT_USAGE without a terminal. */
static int confirm(const struct cli *cli, const char *question, bool yes)
{
    if (yes)
        return 0;
    if (!isatty(STDIN_FILENO))
        return cli_usage_error(cli, "stdin is not a terminal to confirm on: add --yes to go "
                                    "ahead without asking");
    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    char line[32];
    if (fgets(line, sizeof(line), stdin) == NULL) {
        fputs("\nnubo: nothing done\n", stderr);
        return CLI_EXIT_FAIL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "y") == 0 || strcmp(line, "yes") == 0)
        return 0;
    fputs("nubo: nothing done\n", stderr);
    return CLI_EXIT_FAIL;
}

/* -------------------------------------------------------- subcommands */

static int stack_plan_cmd(struct cli *cli, int argc, char **argv)
{
    struct tmpl_opts o = {.params = json_object()};
    char *text = NULL;
    json_t *body = NULL, *plan = NULL;
    struct nubo_err err;
    int rc = tmpl_opts_parse(cli, argc, argv, plan_usage, "fps", &o);
    if (rc == CLI_HELP_SHOWN) {
        rc = CLI_EXIT_OK;
        goto cleanup;
    }
    if (rc != 0 || (rc = cli_args_check(cli, argc - optind, 0, 0, "")) != 0 ||
        (rc = template_read(cli, o.file, &text)) != 0 || (rc = cloud_connect(cli)) != 0)
        goto cleanup;
    body = json_pack("{s:s, s:O}", "template", text, "parameters", o.params);
    if (o.stack)
        json_object_set_new(body, "stack", json_string(o.stack));
    if (cli_call(cli, "POST", "/v1/stacks/plan", body, &plan, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    if (!cli_print_json(cli, plan))
        plan_print(plan, stdout);
cleanup:
    free(text);
    json_decref(body);
    json_decref(plan);
    json_decref(o.params);
    return rc;
}

static int stack_apply_cmd(struct cli *cli, int argc, char **argv)
{
    struct tmpl_opts o = {.params = json_object()};
    char *text = NULL;
    json_t *body = NULL, *plan = NULL, *cur = NULL, *ans = NULL, *final = NULL;
    struct nubo_err err;
    bool json = false;
    const char *name;
    char path[CLOUD_PATH_MAX], question[200];
    long long after = 0;
    int rc = tmpl_opts_parse(cli, argc, argv, apply_usage, "fpoy", &o);
    if (rc == CLI_HELP_SHOWN) {
        rc = CLI_EXIT_OK;
        goto cleanup;
    }
    if (rc != 0 || (rc = cli_args_check(cli, argc - optind, 1, 1, "the stack's name")) != 0)
        goto cleanup;
    name = argv[optind];
    if (valid_name(name, "the stack name", &err) < 0) {
        rc = cli_usage_error(cli, "%s", err.msg);
        goto cleanup;
    }
    if ((rc = template_read(cli, o.file, &text)) != 0 || (rc = cloud_connect(cli)) != 0)
        goto cleanup;
    json = cli->output == OUTPUT_JSON;
    FILE *out = json ? stderr : stdout;

    /* the stack as it is (none yet: a new one) */
    if (cloud_get(cli, &stack_kind, name, &cur, &err) < 0 && err.code != NUBO_E_NOTFOUND) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    if (cur && task_active(cli_json_str(cur, "status"))) {
        fprintf(stderr,
                "nubo: stack %s is %s: wait until it ends (nubo stack events %s --follow)\n", name,
                cli_json_str(cur, "status"), name);
        rc = CLI_EXIT_FAIL;
        goto cleanup;
    }
    body = json_pack("{s:s, s:O}", "template", text, "parameters", o.params);
    if (cur)
        json_object_set_new(body, "stack", json_string(name));
    if (cli_call(cli, "POST", "/v1/stacks/plan", body, &plan, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    fprintf(out, "%s %s:\n", cur ? "Changes to stack" : "New stack", name);
    fflush(out);
    /* under -o json the plan goes to stderr: stdout has the stack's JSON */
    if (plan_print(plan, out) == 0 && cur &&
        strcmp(cli_json_str_or(cur, "status", ""), "complete") == 0) {
        fprintf(out, "stack %s is up to date: nothing to apply\n", name);
        if (json)
            output_json(stdout, cur);
        goto cleanup;
    }
    snprintf(question, sizeof(question), "Apply this plan to stack %s?", name);
    if ((rc = confirm(cli, question, o.yes)) != 0)
        goto cleanup;

    json_object_del(body, "stack");
    if (o.on_failure)
        json_object_set_new(body, "on_failure", json_string(o.on_failure));
    if (cur) {
        /* only this apply's events are shown */
        if (events_drain(cli, name, &after, NULL, &err) < 0) {
            rc = cli_fail(cli, &err);
            goto cleanup;
        }
        snprintf(path, sizeof(path), "%s/%s", stack_kind.collection, name);
        if (cli_call(cli, "PUT", path, body, &ans, &err) < 0) {
            rc = cli_fail(cli, &err);
            goto cleanup;
        }
    } else {
        json_object_set_new(body, "name", json_string(name));
        if (cloud_create(cli, stack_kind.collection, body, &ans, &err) < 0) {
            rc = cli_fail(cli, &err);
            goto cleanup;
        }
    }
    rc = follow(cli, name, name, after, false, out, &final);
    if (json && final)
        output_json(stdout, final);
cleanup:
    free(text);
    json_decref(body);
    json_decref(plan);
    json_decref(cur);
    json_decref(ans);
    json_decref(final);
    json_decref(o.params);
    return rc;
}

static int stack_list_cmd(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &stack_kind, list_usage);
}

static int stack_show_cmd(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &stack_kind, show_usage);
}

/* Parses "SUBCOMMAND STACK" with the options in allowed and connects.
 * Returns 0 with *ref set, or the exit status. */
static int one_stack(struct cli *cli, int argc, char **argv, const char *usage, const char *allowed,
                     struct tmpl_opts *o, const char **ref)
{
    int rc = tmpl_opts_parse(cli, argc, argv, usage, allowed, o);
    if (rc == CLI_HELP_SHOWN)
        return CLI_HELP_SHOWN;
    if (rc != 0 || (rc = cli_args_check(cli, argc - optind, 1, 1, "a stack's name or id")) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind], "a stack's name or id")) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    *ref = argv[optind];
    return 0;
}

/* GET /v1/stacks/REF/what into *out. */
static int stack_sub_get(struct cli *cli, const char *ref, const char *what, json_t **out,
                         struct nubo_err *err)
{
    char path[CLOUD_PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/%s/%s", stack_kind.collection, ref, what);
    if (n < 0 || (size_t)n >= sizeof(path))
        return nubo_err_set(err, NUBO_E_INVALID, "the stack reference is too long");
    return cli_call(cli, "GET", path, NULL, out, err);
}

static int stack_events_cmd(struct cli *cli, int argc, char **argv)
{
    struct tmpl_opts o = {.params = json_object()};
    const char *ref = NULL;
    struct nubo_err err;
    json_t *ans = NULL;
    int rc = one_stack(cli, argc, argv, events_usage, "F", &o, &ref);
    if (rc != 0)
        goto cleanup;
    if (o.follow) {
        rc = follow(cli, ref, ref, 0, true, stdout, NULL);
        goto cleanup;
    }
    if (stack_sub_get(cli, ref, "events?limit=1000", &ans, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    if (!cli_print_json(cli, ans))
        cloud_table_print(json_object_get(ans, "events"), event_cols, ARRAY_LEN(event_cols),
                          "no events");
cleanup:
    json_decref(ans);
    json_decref(o.params);
    return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
}

static int stack_outputs_cmd(struct cli *cli, int argc, char **argv)
{
    struct tmpl_opts o = {.params = json_object()};
    const char *ref = NULL;
    struct nubo_err err;
    json_t *ans = NULL;
    int rc = one_stack(cli, argc, argv, outputs_usage, "", &o, &ref);
    if (rc != 0)
        goto cleanup;
    if (stack_sub_get(cli, ref, "outputs", &ans, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    if (!cli_print_json(cli, ans)) {
        static const char *const heads[] = {"OUTPUT", "VALUE", "DESCRIPTION"};
        struct output_table *t = output_table_new(3, heads);
        const char *k;
        json_t *v;
        json_object_foreach (json_object_get(ans, "outputs"), k, v) {
            char name[96], value[512], desc[200];
            output_text(k, 60, name, sizeof(name));
            json_t *val = json_object_get(v, "value");
            if (json_is_string(val)) {
                output_text(json_string_value(val), 400, value, sizeof(value));
            } else {
                char *s = json_dumps(val ? val : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
                output_text(s, 400, value, sizeof(value));
                free(s);
            }
            output_text(cli_json_str_or(v, "description", ""), 120, desc, sizeof(desc));
            const char *cells[] = {name, value, desc};
            output_table_add(t, cells);
        }
        if (output_table_rows(t) > 0)
            output_table_print(t, stdout);
        else
            fputs("no outputs\n", stderr);
        output_table_free(t);
    }
cleanup:
    json_decref(ans);
    json_decref(o.params);
    return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
}

static int stack_resources_cmd(struct cli *cli, int argc, char **argv)
{
    struct tmpl_opts o = {.params = json_object()};
    const char *ref = NULL;
    struct nubo_err err;
    json_t *ans = NULL;
    int rc = one_stack(cli, argc, argv, resources_usage, "", &o, &ref);
    if (rc != 0)
        goto cleanup;
    if (stack_sub_get(cli, ref, "resources", &ans, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    if (!cli_print_json(cli, ans))
        cloud_table_print(json_object_get(ans, "resources"), resource_cols,
                          ARRAY_LEN(resource_cols), "no resources");
cleanup:
    json_decref(ans);
    json_decref(o.params);
    return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
}

static int stack_drift_cmd(struct cli *cli, int argc, char **argv)
{
    struct tmpl_opts o = {.params = json_object()};
    const char *ref = NULL;
    struct nubo_err err;
    json_t *ans = NULL;
    int rc = one_stack(cli, argc, argv, drift_usage, "", &o, &ref);
    if (rc != 0)
        goto cleanup;
    if (stack_sub_get(cli, ref, "drift", &ans, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    if (!cli_print_json(cli, ans)) {
        static const char *const heads[] = {"RESOURCE", "TYPE", "DRIFT", "CHANGES"};
        struct output_table *t = output_table_new(4, heads);
        size_t i, j;
        json_t *r, *c;
        json_array_foreach (json_object_get(ans, "resources"), i, r) {
            char name[96], type[64], drift[32], cell[1024] = "", a[64], b[64], p[64];
            size_t used = 0;
            output_text(cli_json_str(r, "name"), 60, name, sizeof(name));
            output_text(cli_json_str(r, "type"), 40, type, sizeof(type));
            output_text(cli_json_str(r, "drift"), 20, drift, sizeof(drift));
            json_array_foreach (json_object_get(r, "changes"), j, c) {
                output_text(cli_json_str_or(c, "property", "?"), 40, p, sizeof(p));
                value_text(json_object_get(c, "recorded"), a, sizeof(a));
                value_text(json_object_get(c, "live"), b, sizeof(b));
                int w = snprintf(cell + used, sizeof(cell) - used, "%s%s: %s -> %s",
                                 used ? ", " : "", p, a, b);
                if (w < 0 || (size_t)w >= sizeof(cell) - used) {
                    cell[used] = '\0';
                    break;
                }
                used += (size_t)w;
            }
            const char *cells[] = {name, type, drift, used ? cell : "-"};
            output_table_add(t, cells);
        }
        if (output_table_rows(t) > 0)
            output_table_print(t, stdout);
        output_table_free(t);
        printf("%s\n", json_is_true(json_object_get(ans, "drifted"))
                           ? "drifted: 'nubo stack apply' with its template repairs it"
                           : "no drift");
    }
cleanup:
    json_decref(ans);
    json_decref(o.params);
    return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
}

static int stack_destroy_cmd(struct cli *cli, int argc, char **argv)
{
    struct tmpl_opts o = {.params = json_object()};
    const char *ref = NULL;
    struct nubo_err err;
    json_t *cur = NULL, *ans = NULL;
    long long after = 0;
    char question[200], path[CLOUD_PATH_MAX];
    int rc = one_stack(cli, argc, argv, destroy_usage, "y", &o, &ref);
    if (rc != 0)
        goto cleanup;
    FILE *out = cli->output == OUTPUT_JSON ? stderr : stdout;
    if (cloud_get(cli, &stack_kind, ref, &cur, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    snprintf(question, sizeof(question), "Destroy stack %.64s and every resource it created?", ref);
    if ((rc = confirm(cli, question, o.yes)) != 0)
        goto cleanup;
    if (events_drain(cli, ref, &after, NULL, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    snprintf(path, sizeof(path), "%s/%s", stack_kind.collection, cli_json_str_or(cur, "id", ref));
    if (cli_call(cli, "DELETE", path, NULL, &ans, &err) < 0) {
        rc = cli_fail(cli, &err);
        goto cleanup;
    }
    rc = follow(cli, cli_json_str_or(cur, "id", ref), ref, after, true, out, NULL);
cleanup:
    json_decref(cur);
    json_decref(ans);
    json_decref(o.params);
    return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
}

int cmd_stack(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"plan", stack_plan_cmd},           {"apply", stack_apply_cmd},
        {"list", stack_list_cmd},           {"show", stack_show_cmd},
        {"events", stack_events_cmd},       {"outputs", stack_outputs_cmd},
        {"resources", stack_resources_cmd}, {"drift", stack_drift_cmd},
        {"destroy", stack_destroy_cmd},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), stack_usage);
}
