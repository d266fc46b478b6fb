/*
 * cmd_scale.c - autoscaling commands:
 *
 *   nubo template list|create|show|delete|versions|add-version|set-default
 *                                         /v1/launch-templates
 *   nubo group list|create|show|set-desired|update|delete|activities|protect
 *                                         /v1/scaling-groups
 *   nubo policy list|create|show|delete   /v1/scaling-policies
 *   nubo schedule list|create|show|delete /v1/scheduled-actions
 *
 * Creates and updates are table-driven: each --option names a member of
 * the request body and how its value is read (struct opts_field,
 * cli/opts.h), so the commands stay thin over the API.  Templates and groups take names or ids
 * in their routes; policies and schedules are resolved by listing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cloud.h"
#include "cli/cmd.h"
#include "cli/opts.h"
#include "lib/util.h"
#include "lib/valid.h"

/* Sends body with method to path and prints the answer (created or a
 * view). */
static int send_print(struct cli *cli, const char *method, const char *path, json_t *body,
                      const char *what, const struct cloud_col *fields, size_t nfields)
{
    struct nubo_err err;
    json_t *out = NULL;
    int rc = 0;
    if ((rc = cloud_connect(cli)) != 0)
        return rc;
    if (strcmp(method, "POST") == 0 ? cloud_create(cli, path, body, &out, &err) < 0
                                    : client_call(cli->client, method, path, body, &out, &err) < 0)
        rc = cli_fail(cli, &err);
    else if (strcmp(method, "POST") == 0 && fields == NULL)
        cloud_created_print(cli, what, out);
    else
        cloud_object_print(cli, out, fields, nfields);
    json_decref(out);
    return rc;
}

/* A positional ref that goes into a path: checked so it is path-safe. */
static int ref_arg(struct cli *cli, int argc, char **argv, const char *what, const char **ref)
{
    int rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, what)) != 0 ||
        (rc = cloud_ref_check(cli, argv[optind], what)) != 0)
        return rc;
    *ref = argv[optind];
    return 0;
}

/* -------------------------------------------------------- templates */

static const char template_usage[] =
    "usage: nubo template COMMAND [options]\n"
    "\n"
    "Launch templates: named, versioned descriptions of an instance that\n"
    "scaling groups launch.\n"
    "\n"
    "Commands:\n"
    "  list                          the project's templates\n"
    "  create NAME --flavor F --image I [--keypair K] [--user-data-file FILE]\n"
    "         [--server-group G] [--network N]... [--security-group S]...\n"
    "                                a new template (version 1)\n"
    "  show TEMPLATE                 a template and its default version\n"
    "  versions TEMPLATE             its versions\n"
    "  add-version TEMPLATE --flavor F --image I [...] [--set-default true]\n"
    "                                a new version (nothing is inherited)\n"
    "  set-default TEMPLATE VERSION  the version groups that follow the default use\n"
    "  delete TEMPLATE...            remove templates no group uses\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col template_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"DEFAULT", "default_version", CLOUD_STR},
    {"LATEST", "latest_version", CLOUD_STR},
    {"CREATED", "created_at", CLOUD_AGE},
    {"ID", "id", CLOUD_STR},
};

static const struct cloud_col template_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"description", "description", CLOUD_STR},
    {"default version", "default_version", CLOUD_STR},
    {"latest version", "latest_version", CLOUD_STR},
    {"flavor", "default.flavor", CLOUD_NAME},
    {"image", "default.image", CLOUD_NAME},
    {"keypair", "default.keypair", CLOUD_STR},
    {"server group", "default.server_group", CLOUD_STR},
    {"networks", "default.networks", CLOUD_COUNT},
    {"security groups", "default.security_groups", CLOUD_COUNT},
    {"created", "created_at", CLOUD_STR},
};

static const struct cloud_kind template_kind = {
    .what = "launch template",
    .collection = "/v1/launch-templates",
    .key = "launch_templates",
    .cols = template_cols,
    .ncols = ARRAY_LEN(template_cols),
    .fields = template_fields,
    .nfields = ARRAY_LEN(template_fields),
    .empty = "no launch templates (create one: nubo template create)",
};

static const struct cloud_col version_cols[] = {
    {"VERSION", "version", CLOUD_STR},    {"FLAVOR", "flavor", CLOUD_NAME},
    {"IMAGE", "image", CLOUD_NAME},       {"KEYPAIR", "keypair", CLOUD_STR},
    {"CREATED", "created_at", CLOUD_AGE},
};

static const struct cloud_kind version_kind = {
    .what = "version",
    .key = "versions",
    .cols = version_cols,
    .ncols = ARRAY_LEN(version_cols),
    .empty = "no versions",
};

static const struct opts_field version_opts[] = {
    {.name = "flavor", .key = "flavor", .type = FIELD_STR},
    {.name = "image", .key = "image", .type = FIELD_STR},
    {.name = "keypair", .key = "keypair", .type = FIELD_STR},
    {.name = "user-data", .key = "user_data", .type = FIELD_STR},
    {.name = "user-data-file", .key = "user_data", .type = FIELD_FILE, .max = 64 * 1024},
    {.name = "server-group", .key = "server_group", .type = FIELD_STR},
    {.name = "network", .key = "networks", .type = FIELD_LIST},
    {.name = "security-group", .key = "security_groups", .type = FIELD_LIST},
    {.name = "description", .key = "description", .type = FIELD_STR},
    {.name = "set-default", .key = "set_default", .type = FIELD_JSON},
};

static int template_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &template_kind, template_usage);
}

static int template_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &template_kind, template_usage);
}

static int template_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &template_kind, template_usage);
}

static int template_create(struct cli *cli, int argc, char **argv)
{
    json_t *body;
    int rc = opts_parse(cli, argc, argv, version_opts, ARRAY_LEN(version_opts) - 1, template_usage,
                        &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    struct nubo_err err;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "the new template's name")) == 0 &&
        valid_name(argv[optind], "the template name", &err) < 0)
        rc = cli_usage_error(cli, "%s", err.msg);
    if (rc == 0) {
        json_object_set_new(body, "name", json_string(argv[optind]));
        rc = send_print(cli, "POST", "/v1/launch-templates", body, "launch template", NULL, 0);
    }
    json_decref(body);
    return rc;
}

static int template_add_version(struct cli *cli, int argc, char **argv)
{
    json_t *body;
    const char *ref;
    char path[CLOUD_PATH_MAX];
    int rc =
        opts_parse(cli, argc, argv, version_opts, ARRAY_LEN(version_opts), template_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = ref_arg(cli, argc, argv, "a template's name or id", &ref)) == 0) {
        snprintf(path, sizeof(path), "/v1/launch-templates/%s/versions", ref);
        rc = send_print(cli, "POST", path, body, "version", version_cols, ARRAY_LEN(version_cols));
    }
    json_decref(body);
    return rc;
}

static int template_set_default(struct cli *cli, int argc, char **argv)
{
    json_t *body;
    char path[CLOUD_PATH_MAX];
    long long v;
    int rc = opts_parse(cli, argc, argv, NULL, 0, template_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 2, 2, "a template and a version")) == 0 &&
        (rc = cloud_ref_check(cli, argv[optind], "a template's name or id")) == 0 &&
        (rc = cloud_int_parse(cli, argv[optind + 1], 1, 1000000, "VERSION", &v)) == 0) {
        json_object_set_new(body, "default_version", json_integer(v));
        snprintf(path, sizeof(path), "/v1/launch-templates/%s", argv[optind]);
        rc =
            send_print(cli, "PATCH", path, body, NULL, template_fields, ARRAY_LEN(template_fields));
    }
    json_decref(body);
    return rc;
}

static int template_versions(struct cli *cli, int argc, char **argv)
{
    json_t *body;
    const char *ref;
    char path[CLOUD_PATH_MAX];
    int rc = opts_parse(cli, argc, argv, NULL, 0, template_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    json_decref(body);
    if ((rc = ref_arg(cli, argc, argv, "a template's name or id", &ref)) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/launch-templates/%s/versions", ref);
    return cloud_list_run(cli, &version_kind, path, 0);
}

int cmd_template(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", template_list},
        {"create", template_create},
        {"show", template_show},
        {"delete", template_delete},
        {"versions", template_versions},
        {"add-version", template_add_version},
        {"set-default", template_set_default},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), template_usage);
}

/* ----------------------------------------------------------- groups */

static const char group_usage[] =
    "usage: nubo group COMMAND [options]\n"
    "\n"
    "Autoscaling groups: identical instances of a launch template, kept between\n"
    "a minimum and a maximum at the desired size, healthy, and replaced when the\n"
    "template version changes.\n"
    "\n"
    "Commands:\n"
    "  list                          the project's groups\n"
    "  create NAME --template T --min N --max N [--desired N] [--template-version V]\n"
    "         [--grace S] [--cooldown S] [--termination oldest-first|newest-first]\n"
    "         [--batch N]            a new group (it launches at once)\n"
    "  show GROUP                    a group and its instances\n"
    "  set-desired GROUP N           the size to keep\n"
    "  update GROUP [--min N] [--max N] [--desired N] [--template-version V] ...\n"
    "  activities GROUP [--limit N]  what was launched and terminated, and why\n"
    "  protect GROUP INSTANCE on|off scale-in protection of one instance\n"
    "  delete GROUP...               delete groups and their instances\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col group_cols[] = {
    {"NAME", "name", CLOUD_STR},
    {"TEMPLATE", "template", CLOUD_NAME},
    {"VERSION", "effective_version", CLOUD_STR},
    {"MIN", "min_size", CLOUD_STR},
    {"DESIRED", "desired", CLOUD_STR},
    {"MAX", "max_size", CLOUD_STR},
    {"SIZE", "size", CLOUD_STR},
    {"STATUS", "status", CLOUD_STR},
    {"ID", "id", CLOUD_STR},
};

static const struct cloud_col group_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"template", "template", CLOUD_NAME},
    {"template version", "effective_version", CLOUD_STR},
    {"min", "min_size", CLOUD_STR},
    {"desired", "desired", CLOUD_STR},
    {"max", "max_size", CLOUD_STR},
    {"in service", "size", CLOUD_STR},
    {"health grace (s)", "health_grace_s", CLOUD_STR},
    {"cooldown (s)", "cooldown_s", CLOUD_STR},
    {"termination", "termination_policy", CLOUD_STR},
    {"rolling batch", "rolling_batch", CLOUD_STR},
    {"status", "status", CLOUD_STR},
    {"launch failures", "failures", CLOUD_STR},
    {"blocked", "blocked", CLOUD_STR},
    {"instances", "instances", CLOUD_COUNT},
    {"created", "created_at", CLOUD_STR},
};

static const struct cloud_kind group_kind = {
    .what = "scaling group",
    .collection = "/v1/scaling-groups",
    .key = "scaling_groups",
    .cols = group_cols,
    .ncols = ARRAY_LEN(group_cols),
    .fields = group_fields,
    .nfields = ARRAY_LEN(group_fields),
    .empty = "no scaling groups (create one: nubo group create)",
};

static const struct cloud_col activity_cols[] = {
    {"AT", "at", CLOUD_STR},
    {"KIND", "kind", CLOUD_STR},
    {"INSTANCE", "instance_id", CLOUD_INSTANCE_ID},
    {"CAUSE", "cause", CLOUD_SHORT},
    {"DETAIL", "detail", CLOUD_SHORT},
};

static const struct cloud_kind activity_kind = {
    .what = "activity",
    .key = "activities",
    .cols = activity_cols,
    .ncols = ARRAY_LEN(activity_cols),
    .empty = "no activity yet",
};

static const struct opts_field group_opts[] = {
    {.name = "template", .key = "template", .type = FIELD_STR},
    {.name = "min", .key = "min_size", .type = FIELD_ANY_INT},
    {.name = "max", .key = "max_size", .type = FIELD_ANY_INT},
    {.name = "desired", .key = "desired", .type = FIELD_ANY_INT},
    {.name = "template-version", .key = "template_version", .type = FIELD_JSON},
    {.name = "grace", .key = "health_grace_s", .type = FIELD_ANY_INT},
    {.name = "cooldown", .key = "cooldown_s", .type = FIELD_ANY_INT},
    {.name = "termination", .key = "termination_policy", .type = FIELD_STR},
    {.name = "batch", .key = "rolling_batch", .type = FIELD_ANY_INT},
};

static int group_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &group_kind, group_usage);
}

static int group_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &group_kind, group_usage);
}

static int group_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &group_kind, group_usage);
}

static int group_create(struct cli *cli, int argc, char **argv)
{
    json_t *body;
    struct nubo_err err;
    int rc = opts_parse(cli, argc, argv, group_opts, ARRAY_LEN(group_opts), group_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "the new group's name")) == 0 &&
        valid_name(argv[optind], "the group name", &err) < 0)
        rc = cli_usage_error(cli, "%s", err.msg);
    if (rc == 0) {
        json_object_set_new(body, "name", json_string(argv[optind]));
        rc = send_print(cli, "POST", "/v1/scaling-groups", body, "scaling group", NULL, 0);
    }
    json_decref(body);
    return rc;
}

static int group_update(struct cli *cli, int argc, char **argv)
{
    json_t *body;
    const char *ref;
    char path[CLOUD_PATH_MAX];
    /* everything but --template: a group keeps its template */
    int rc =
        opts_parse(cli, argc, argv, group_opts + 1, ARRAY_LEN(group_opts) - 1, group_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = ref_arg(cli, argc, argv, "a group's name or id", &ref)) == 0) {
        snprintf(path, sizeof(path), "/v1/scaling-groups/%s", ref);
        rc = send_print(cli, "PATCH", path, body, NULL, group_fields, ARRAY_LEN(group_fields));
    }
    json_decref(body);
    return rc;
}

static int group_set_desired(struct cli *cli, int argc, char **argv)
{
    json_t *body;
    char path[CLOUD_PATH_MAX];
    long long n;
    int rc = opts_parse(cli, argc, argv, NULL, 0, group_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 2, 2, "a group and a size")) == 0 &&
        (rc = cloud_ref_check(cli, argv[optind], "a group's name or id")) == 0 &&
        (rc = cloud_int_parse(cli, argv[optind + 1], 0, 1000, "the size", &n)) == 0) {
        json_object_set_new(body, "desired", json_integer(n));
        snprintf(path, sizeof(path), "/v1/scaling-groups/%s", argv[optind]);
        rc = send_print(cli, "PATCH", path, body, NULL, group_fields, ARRAY_LEN(group_fields));
    }
    json_decref(body);
    return rc;
}

static int group_protect(struct cli *cli, int argc, char **argv)
{
    json_t *body;
    char path[CLOUD_PATH_MAX];
    static const struct cloud_col fields[] = {{"instance", "instance_id", CLOUD_STR},
                                              {"protected", "protected", CLOUD_BOOL}};
    int rc = opts_parse(cli, argc, argv, NULL, 0, group_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 3, 3, "a group, an instance id and on|off")) ==
            0 &&
        (rc = cloud_ref_check(cli, argv[optind], "a group's name or id")) == 0 &&
        (rc = cloud_ref_check(cli, argv[optind + 1], "an instance id")) == 0) {
        const char *v = argv[optind + 2];
        if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
            rc = cli_usage_error(cli, "protection is on or off");
        } else {
            json_object_set_new(body, "protected", json_boolean(strcmp(v, "on") == 0));
            snprintf(path, sizeof(path), "/v1/scaling-groups/%s/instances/%s/protection",
                     argv[optind], argv[optind + 1]);
            rc = send_print(cli, "PUT", path, body, NULL, fields, ARRAY_LEN(fields));
        }
    }
    json_decref(body);
    return rc;
}

static int group_activities(struct cli *cli, int argc, char **argv)
{
    static const struct opts_field lim[] = {
        {.name = "limit", .key = "limit", .type = FIELD_ANY_INT}};
    json_t *body;
    const char *ref;
    char path[CLOUD_PATH_MAX];
    int rc = opts_parse(cli, argc, argv, lim, 1, group_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    json_t *l = json_object_get(body, "limit");
    long long limit = l ? (long long)json_integer_value(l) : 0;
    json_decref(body);
    if (l && (limit < 1 || limit > CLOUD_LIST_MAX))
        return cli_usage_error(cli, "--limit is from 1 to %d", CLOUD_LIST_MAX);
    if ((rc = ref_arg(cli, argc, argv, "a group's name or id", &ref)) != 0 ||
        (rc = cloud_connect(cli)) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/scaling-groups/%s/activities", ref);
    return cloud_list_run(cli, &activity_kind, path, limit);
}

int cmd_group(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", group_list},       {"create", group_create},
        {"show", group_show},       {"set-desired", group_set_desired},
        {"update", group_update},   {"activities", group_activities},
        {"protect", group_protect}, {"delete", group_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), group_usage);
}

/* ---------------------------------------------------------- policies */

static const char policy_usage[] =
    "usage: nubo policy COMMAND [options]\n"
    "\n"
    "Scaling policies of groups.\n"
    "\n"
    "Commands:\n"
    "  list                          the project's policies\n"
    "  create NAME --group G --target CPU% [--warmup S] [--out-cooldown S]\n"
    "         [--in-cooldown S]      target tracking: keep the average CPU near CPU%\n"
    "  create NAME --group G --alarm A --steps JSON [--adjustment change|percent]\n"
    "         [--cooldown S]         step scaling while alarm A is in ALARM; JSON is\n"
    "                                [{\"lower\":0,\"upper\":20,\"adjustment\":1}, ...]\n"
    "                                (bounds relative to the alarm's threshold)\n"
    "  show POLICY                   one policy\n"
    "  delete POLICY...              remove policies\n"
    "\n"
    "POLICY is a policy's id or name.\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col policy_cols[] = {
    {"NAME", "name", CLOUD_STR},           {"GROUP", "group_name", CLOUD_STR},
    {"KIND", "kind", CLOUD_STR},           {"TARGET", "target_value", CLOUD_STR},
    {"ALARM", "alarm_id", CLOUD_ALARM_ID}, {"ID", "id", CLOUD_STR},
};

static const struct cloud_col policy_fields[] = {
    {"name", "name", CLOUD_STR},
    {"id", "id", CLOUD_STR},
    {"group", "group_name", CLOUD_STR},
    {"kind", "kind", CLOUD_STR},
    {"metric", "metric", CLOUD_STR},
    {"target", "target_value", CLOUD_STR},
    {"warm-up (s)", "warmup_s", CLOUD_STR},
    {"out cooldown (s)", "scale_out_cooldown_s", CLOUD_STR},
    {"in cooldown (s)", "scale_in_cooldown_s", CLOUD_STR},
    {"alarm", "alarm_id", CLOUD_STR},
    {"adjustment", "adjustment_type", CLOUD_STR},
    {"steps", "steps", CLOUD_COUNT},
    {"created", "created_at", CLOUD_STR},
};

static const struct cloud_kind policy_kind = {
    .what = "scaling policy",
    .collection = "/v1/scaling-policies",
    .key = "scaling_policies",
    .ids_only = true,
    .cols = policy_cols,
    .ncols = ARRAY_LEN(policy_cols),
    .fields = policy_fields,
    .nfields = ARRAY_LEN(policy_fields),
    .empty = "no scaling policies (create one: nubo policy create)",
};

static const struct opts_field policy_opts[] = {
    {.name = "group", .key = "group", .type = FIELD_STR},
    {.name = "target", .key = "target_value", .type = FIELD_ANY_NUM},
    {.name = "warmup", .key = "warmup_s", .type = FIELD_ANY_INT},
    {.name = "out-cooldown", .key = "scale_out_cooldown_s", .type = FIELD_ANY_INT},
    {.name = "in-cooldown", .key = "scale_in_cooldown_s", .type = FIELD_ANY_INT},
    {.name = "alarm", .key = "alarm", .type = FIELD_STR},
    {.name = "steps", .key = "steps", .type = FIELD_JSON},
    {.name = "adjustment", .key = "adjustment_type", .type = FIELD_STR},
    {.name = "cooldown", .key = "cooldown_s", .type = FIELD_ANY_INT},
};

static int policy_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &policy_kind, policy_usage);
}

static int policy_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &policy_kind, policy_usage);
}

static int policy_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &policy_kind, policy_usage);
}

static int policy_create(struct cli *cli, int argc, char **argv)
{
    json_t *body;
    struct nubo_err err;
    int rc = opts_parse(cli, argc, argv, policy_opts, ARRAY_LEN(policy_opts), policy_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "the new policy's name")) == 0 &&
        valid_name(argv[optind], "the policy name", &err) < 0)
        rc = cli_usage_error(cli, "%s", err.msg);
    if (rc == 0 && json_object_get(body, "target_value") == json_object_get(body, "alarm"))
        rc = cli_usage_error(cli, "give --target (target tracking) or --alarm (step scaling)");
    if (rc == 0) {
        json_object_set_new(body, "name", json_string(argv[optind]));
        json_object_set_new(body, "kind",
                            json_string(json_object_get(body, "alarm") ? "step" : "target"));
        rc = send_print(cli, "POST", "/v1/scaling-policies", body, "scaling policy", NULL, 0);
    }
    json_decref(body);
    return rc;
}

int cmd_policy(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", policy_list},
        {"create", policy_create},
        {"show", policy_show},
        {"delete", policy_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), policy_usage);
}

/* --------------------------------------------------------- schedules */

static const char schedule_usage[] =
    "usage: nubo schedule COMMAND [options]\n"
    "\n"
    "Scheduled actions: set a group's sizes when a cron expression fires (UTC).\n"
    "\n"
    "Commands:\n"
    "  list                          the project's scheduled actions\n"
    "  create NAME --group G --cron 'MIN HOUR DOM MONTH DOW' [--min N] [--max N]\n"
    "         [--desired N]          a new scheduled action\n"
    "  show SCHEDULE                 one scheduled action and its next run\n"
    "  delete SCHEDULE...            remove scheduled actions\n"
    "\n" CLOUD_COMMON_HELP;

static const struct cloud_col schedule_cols[] = {
    {"NAME", "name", CLOUD_STR},        {"GROUP", "group_name", CLOUD_STR},
    {"CRON", "cron", CLOUD_STR},        {"MIN", "min_size", CLOUD_STR},
    {"DESIRED", "desired", CLOUD_STR},  {"MAX", "max_size", CLOUD_STR},
    {"NEXT", "next_run_at", CLOUD_STR}, {"ID", "id", CLOUD_STR},
};

static const struct cloud_kind schedule_kind = {
    .what = "scheduled action",
    .collection = "/v1/scheduled-actions",
    .key = "scheduled_actions",
    .ids_only = true,
    .cols = schedule_cols,
    .ncols = ARRAY_LEN(schedule_cols),
    .fields = schedule_cols,
    .nfields = ARRAY_LEN(schedule_cols),
    .empty = "no scheduled actions (create one: nubo schedule create)",
};

static const struct opts_field schedule_opts[] = {
    {.name = "group", .key = "group", .type = FIELD_STR},
    {.name = "cron", .key = "cron", .type = FIELD_STR},
    {.name = "min", .key = "min_size", .type = FIELD_ANY_INT},
    {.name = "max", .key = "max_size", .type = FIELD_ANY_INT},
    {.name = "desired", .key = "desired", .type = FIELD_ANY_INT},
};

static int schedule_list(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_list(cli, argc, argv, &schedule_kind, schedule_usage);
}

static int schedule_show(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_show(cli, argc, argv, &schedule_kind, schedule_usage);
}

static int schedule_delete(struct cli *cli, int argc, char **argv)
{
    return cloud_cmd_delete(cli, argc, argv, &schedule_kind, schedule_usage);
}

static int schedule_create(struct cli *cli, int argc, char **argv)
{
    json_t *body;
    struct nubo_err err;
    int rc =
        opts_parse(cli, argc, argv, schedule_opts, ARRAY_LEN(schedule_opts), schedule_usage, &body);
    if (rc != 0)
        return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
    if ((rc = cli_args_check(cli, argc - optind, 1, 1, "the new schedule's name")) == 0 &&
        valid_name(argv[optind], "the schedule name", &err) < 0)
        rc = cli_usage_error(cli, "%s", err.msg);
    if (rc == 0) {
        json_object_set_new(body, "name", json_string(argv[optind]));
        rc = send_print(cli, "POST", "/v1/scheduled-actions", body, "scheduled action", NULL, 0);
    }
    json_decref(body);
    return rc;
}

int cmd_schedule(struct cli *cli, int argc, char **argv)
{
    static const struct cli_command cmds[] = {
        {"list", schedule_list},
        {"create", schedule_create},
        {"show", schedule_show},
        {"delete", schedule_delete},
    };
    return cli_dispatch(cli, argc, argv, cmds, ARRAY_LEN(cmds), schedule_usage);
}
