/*
 * routes_compute.c - /v1/flavors, /v1/images, /v1/keypairs,
 * /v1/server-groups, /v1/instances, /v1/tasks.
 *
 * Each handler reads the request (path parameters, query, a JSON body whose
 * fields are type-checked here), calls one service of src/compute, which
 * validates values and does the work, and turns its result into the
 * answer.  Calls that change desired state wake the reconciler.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "compute/compute.h"
#include "lib/util.h"
#include "lib/valid.h"

#define CONSOLE_DEFAULT_LIMIT (64 * 1024)
#define CONSOLE_MAX_LIMIT (1024 * 1024)

/* ------------------------------------------------------------ helpers */

/* An integer member; *out keeps its default when absent (unless required). */
static int field_int(struct api_call *call, json_t *b, const char *key, int required,
                     long long *out)
{
    json_t *v = json_object_get(b, key);
    if (v == NULL || json_is_null(v)) {
        if (!required)
            return 0;
        struct nubo_err err;
        nubo_err_set(&err, NUBO_E_INVALID, "'%s' is required (an integer)", key);
        api_fail(call, &err);
        return -1;
    }
    if (!json_is_integer(v))
        return api_bad_field(call, key, "an integer");
    *out = json_integer_value(v);
    return 0;
}

/* ------------------------------------------------------------ flavors */

static void get_flavors(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "flavors",
                           compute_flavor_list(call->api->st, &call->ctx, limit, marker, &err),
                           limit, &err);
}

static void post_flavor(struct api_call *call)
{
    static const char *const fields[] = {"name",      "vcpus",          "ram_mib", "disk_gib",
                                         "is_public", "required_accel", NULL};
    struct nubo_err err;
    struct compute_flavor_spec s = {.is_public = true};
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "name", "the flavor's name", &s.name) < 0 ||
        field_int(call, b, "vcpus", 1, &s.vcpus) < 0 ||
        field_int(call, b, "ram_mib", 1, &s.ram_mib) < 0 ||
        field_int(call, b, "disk_gib", 1, &s.disk_gib) < 0 ||
        api_field_bool(call, b, "is_public", &s.is_public) < 0)
        return;
    json_t *acc = json_object_get(b, "required_accel");
    if (acc && !json_is_null(acc) && !json_is_string(acc)) {
        nubo_err_set(&err, NUBO_E_INVALID, "'required_accel' must be \"kvm\", \"tcg\" or null");
        api_fail(call, &err);
        return;
    }
    s.required_accel = json_string_value(acc);
    str_copy(call->target, sizeof(call->target), s.name);
    json_t *f = compute_flavor_create(call->api->st, &call->ctx, &s, &err);
    if (f)
        api_target_from(call, f);
    api_reply_or_fail(call, 201, f, &err);
}

static void get_flavor(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200,
                      compute_flavor_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void delete_flavor(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(
        call, compute_flavor_delete(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void post_flavor_access(struct api_call *call)
{
    static const char *const fields[] = {"project", NULL};
    struct nubo_err err;
    const char *project;
    json_t *b = api_body(call, fields);
    if (b == NULL ||
        api_field_str_req(call, b, "project",
                          "the id or name of the project to share the flavor with", &project) < 0)
        return;
    api_reply_or_fail(
        call, 200,
        compute_flavor_access_add(call->api->st, &call->ctx, call->params[0], project, &err), &err);
}

/* ------------------------------------------------------------- images */

static void get_images(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "images",
                           compute_image_list(call->api->st, &call->ctx, api_query(call, "name"),
                                              api_query(call, "status"), limit, marker, &err),
                           limit, &err);
}

static void post_image(struct api_call *call)
{
    static const char *const fields[] = {"name", "visibility",  "cmdline",     "min_disk_gib",
                                         "file", "kernel_file", "initrd_file", NULL};
    struct nubo_err err;
    struct compute_image_spec s = {0};
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "name", "the image's name", &s.name) < 0 ||
        api_field_str(call, b, "visibility", &s.visibility) < 0 ||
        api_field_str(call, b, "cmdline", &s.cmdline) < 0 ||
        field_int(call, b, "min_disk_gib", 0, &s.min_disk_gib) < 0 ||
        api_field_str(call, b, "file", &s.file) < 0 ||
        api_field_str(call, b, "kernel_file", &s.kernel_file) < 0 ||
        api_field_str(call, b, "initrd_file", &s.initrd_file) < 0)
        return;
    str_copy(call->target, sizeof(call->target), s.name);
    json_t *img = compute_image_create(call->api->st, &call->ctx, call->api->image_dir, &s, &err);
    if (img)
        api_target_from(call, img);
    api_reply_or_fail(call, 201, img, &err);
}

static void put_image_part(struct api_call *call, enum compute_image_part part)
{
    struct nubo_err err;
    const struct http_req *req = call->req;
    const char *ct = http_req_header(req, "Content-Type");
    if (ct && !http_media_type_is(ct, "application/octet-stream")) {
        nubo_err_set(&err, NUBO_E_UNSUPPORTED,
                     "send the image bytes as application/octet-stream (got %.60s)", ct);
        api_fail(call, &err);
        return;
    }
    api_reply_or_fail(call, 200,
                      compute_image_upload(call->api->st, &call->ctx, call->api->image_dir,
                                           call->params[0], part, req->body_fd, req->body,
                                           req->body_len, &err),
                      &err);
}

static void put_image_file(struct api_call *call)
{
    put_image_part(call, COMPUTE_IMAGE_DISK);
}

static void put_image_kernel(struct api_call *call)
{
    put_image_part(call, COMPUTE_IMAGE_KERNEL);
}

static void put_image_initrd(struct api_call *call)
{
    put_image_part(call, COMPUTE_IMAGE_INITRD);
}

static void get_image(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200,
                      compute_image_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void delete_image(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(call,
                           compute_image_delete(call->api->st, &call->ctx, call->api->image_dir,
                                                call->params[0], &err),
                           &err);
}

/* ----------------------------------------------------------- keypairs */

static void get_keypairs(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "keypairs",
                           compute_keypair_list(call->api->st, &call->ctx, limit, marker, &err),
                           limit, &err);
}

static void post_keypair(struct api_call *call)
{
    static const char *const fields[] = {"name", "public_key", NULL};
    struct nubo_err err;
    const char *name, *key;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "name", "the keypair's name", &name) < 0 ||
        api_field_str_req(call, b, "public_key",
                          "an OpenSSH public key line, as in ~/.ssh/id_ed25519.pub", &key) < 0)
        return;
    str_copy(call->target, sizeof(call->target), name);
    api_reply_or_fail(call, 201, compute_keypair_create(call->api->st, &call->ctx, name, key, &err),
                      &err);
}

static void get_keypair(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200,
                      compute_keypair_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void delete_keypair(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(
        call, compute_keypair_delete(call->api->st, &call->ctx, call->params[0], &err), &err);
}

/* ------------------------------------------------------ server groups */

static void get_server_groups(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(
        call, "server_groups",
        compute_server_group_list(call->api->st, &call->ctx, limit, marker, &err), limit, &err);
}

static void post_server_group(struct api_call *call)
{
    static const char *const fields[] = {"name", "policy", NULL};
    struct nubo_err err;
    const char *name, *policy;
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "name", "the server group's name", &name) < 0 ||
        api_field_str_req(call, b, "policy", "affinity or anti-affinity", &policy) < 0)
        return;
    str_copy(call->target, sizeof(call->target), name);
    json_t *g = compute_server_group_create(call->api->st, &call->ctx, name, policy, &err);
    if (g)
        api_target_from(call, g);
    api_reply_or_fail(call, 201, g, &err);
}

static void get_server_group(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200,
                      compute_server_group_get(call->api->st, &call->ctx, call->params[0], &err),
                      &err);
}

static void delete_server_group(struct api_call *call)
{
    struct nubo_err err;
    api_no_content_or_fail(
        call, compute_server_group_delete(call->api->st, &call->ctx, call->params[0], &err), &err);
}

/* ---------------------------------------------------------- instances */

static void get_instances(struct api_call *call)
{
    struct nubo_err err;
    struct compute_instance_filter f = {
        .name = api_query(call, "name"),
        .status = api_query(call, "status"),
        .host = api_query(call, "host"),
    };
    int limit, all;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0 || api_query_bool(call, "all_projects", &all) < 0)
        return;
    f.all_projects = all;
    api_reply_page_or_fail(
        call, "instances",
        compute_instance_list(call->api->st, &call->ctx, &f, limit, marker, &err), limit, &err);
}

/* "networks": [{"network": ref, "fixed_ip": optional}] and
 * "security_groups": [ref] of an instance create, into s (pointing into b). */
static int nics_parse(struct api_call *call, json_t *b, struct network_nic *nics, const char **sgs,
                      struct compute_instance_spec *s)
{
    json_t *nets = json_object_get(b, "networks"), *groups = json_object_get(b, "security_groups");
    size_t i;
    json_t *v;
    if (nets && !json_is_null(nets)) {
        if (!json_is_array(nets) || json_array_size(nets) > NETWORK_MAX_NICS)
            return api_bad_field(call, "networks",
                                 "a list of at most 8 {\"network\": id or name, \"fixed_ip\": "
                                 "optional IPv4}");
        json_array_foreach (nets, i, v) {
            json_t *fip = json_object_get(v, "fixed_ip");
            if (!json_is_object(v) || !json_is_string(json_object_get(v, "network")) ||
                (fip && !json_is_null(fip) && !json_is_string(fip)) ||
                json_object_size(v) != 1u + (fip != NULL))
                return api_bad_field(call, "networks",
                                     "a list of {\"network\": id or name, \"fixed_ip\": optional "
                                     "IPv4}");
            nics[i].network = json_string_value(json_object_get(v, "network"));
            nics[i].fixed_ip = json_string_value(fip);
        }
        s->nics = nics;
        s->nnics = json_array_size(nets);
    }
    if (groups && !json_is_null(groups)) {
        if (!json_is_array(groups) || json_array_size(groups) > NETWORK_MAX_SGS)
            return api_bad_field(call, "security_groups",
                                 "a list of at most 16 group ids or names");
        json_array_foreach (groups, i, v) {
            if (!json_is_string(v))
                return api_bad_field(call, "security_groups", "a list of group ids or names");
            sgs[i] = json_string_value(v);
        }
        s->sgs = sgs;
        s->nsgs = json_array_size(groups);
    }
    return 0;
}

static void post_instances(struct api_call *call)
{
    static const char *const fields[] = {"name",
                                         "flavor",
                                         "image",
                                         "keypair",
                                         "user_data",
                                         "count",
                                         "server_group",
                                         "networks",
                                         "security_groups",
                                         "metadata_http_tokens",
                                         "ha",
                                         NULL};
    struct nubo_err err;
    struct compute_instance_spec s = {.count = 1};
    struct network_nic nics[NETWORK_MAX_NICS];
    const char *sgs[NETWORK_MAX_SGS];
    json_t *b = api_body(call, fields);
    if (b == NULL || api_field_str_req(call, b, "name", "the instance's name", &s.name) < 0 ||
        api_field_str_req(call, b, "flavor", "a flavor's id or name (GET /v1/flavors)", &s.flavor) <
            0 ||
        api_field_str_req(call, b, "image", "an image's id or name (GET /v1/images)", &s.image) <
            0 ||
        api_field_str(call, b, "keypair", &s.keypair) < 0 ||
        api_field_str(call, b, "user_data", &s.user_data) < 0 ||
        api_field_str(call, b, "metadata_http_tokens", &s.metadata_http_tokens) < 0 ||
        api_field_bool(call, b, "ha", &s.ha) < 0 || field_int(call, b, "count", 0, &s.count) < 0 ||
        api_field_str(call, b, "server_group", &s.server_group) < 0 ||
        nics_parse(call, b, nics, sgs, &s) < 0)
        return;
    str_copy(call->target, sizeof(call->target), s.name);
    json_t *out = compute_instance_create(call->api->st, &call->ctx, NULL, &s, &err);
    if (out) {
        json_t *insts = json_object_get(out, "instances");
        if (json_array_size(insts) == 1)
            api_target_from(call, json_array_get(insts, 0));
    }
    api_reply_or_fail(call, 202, out, &err);
}

static void get_instance(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200,
                      compute_instance_get(call->api->st, &call->ctx, call->params[0], &err), &err);
}

static void delete_instance(struct api_call *call)
{
    struct nubo_err err;
    json_t *out = compute_instance_delete(call->api->st, &call->ctx, call->params[0], &err);
    api_reply_or_fail(call, 202, out, &err);
}

static void post_instance_action(struct api_call *call)
{
    static const char *const fields[] = {"action", "host", "flavor", "start", NULL};
    struct nubo_err err;
    const char *action;
    json_t *b = api_body(call, fields);
    if (b == NULL ||
        api_field_str_req(call, b, "action",
                          "start, stop, reboot, migrate, migrate-cancel, cold-migrate, resize, "
                          "confirm-resize or revert-resize",
                          &action) < 0)
        return;
    json_t *host = json_object_get(b, "host");
    json_t *flavor = json_object_get(b, "flavor");
    json_t *start = json_object_get(b, "start");
    bool migrates = strcmp(action, "migrate") == 0 || strcmp(action, "cold-migrate") == 0;
    json_t *out = NULL;
    if (host && (!migrates || !json_is_string(host)))
        nubo_err_set(&err, NUBO_E_INVALID,
                     "'host' goes only with the migrate and cold-migrate actions: a host's "
                     "id or name");
    else if (flavor && (strcmp(action, "resize") != 0 || !json_is_string(flavor)))
        nubo_err_set(&err, NUBO_E_INVALID,
                     "'flavor' goes only with the resize action: the new flavor's id or name");
    else if (start && (strcmp(action, "cold-migrate") != 0 || !json_is_boolean(start)))
        nubo_err_set(&err, NUBO_E_INVALID,
                     "'start' goes only with the cold-migrate action: true to start the "
                     "instance on its new host");
    else if (strcmp(action, "migrate") == 0)
        out = compute_instance_migrate(call->api->st, &call->ctx, call->params[0],
                                       json_string_value(host), &err);
    else if (strcmp(action, "migrate-cancel") == 0)
        out = compute_instance_migrate_cancel(call->api->st, &call->ctx, call->params[0], &err);
    else if (strcmp(action, "cold-migrate") == 0)
        out = compute_instance_cold_migrate(call->api->st, &call->ctx, call->params[0],
                                            json_string_value(host), json_is_true(start), &err);
    else if (strcmp(action, "resize") == 0)
        out = compute_instance_resize(call->api->st, &call->ctx, call->params[0],
                                      json_string_value(flavor), &err);
    else if (strcmp(action, "confirm-resize") == 0 || strcmp(action, "revert-resize") == 0)
        out = compute_instance_resize_end(call->api->st, &call->ctx, call->params[0],
                                          strcmp(action, "confirm-resize") == 0, &err);
    else
        out = compute_instance_action(call->api->st, &call->ctx, call->params[0], action, &err);
    api_reply_or_fail(call, 202, out, &err);
}

static void get_instance_migrations(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200,
                      compute_instance_migrations(call->api->st, &call->ctx, call->params[0], &err),
                      &err);
}

static void get_instance_console(struct api_call *call)
{
    struct nubo_err err;
    long long offset = 0, limit = CONSOLE_DEFAULT_LIMIT, next = 0;
    const char *os = api_query(call, "offset"), *ls = api_query(call, "limit");
    if ((os && valid_int(os, -(1LL << 50), 1LL << 50, "offset", &offset, &err) < 0) ||
        (ls && valid_int(ls, 1, CONSOLE_MAX_LIMIT, "limit", &limit, &err) < 0)) {
        api_fail(call, &err);
        return;
    }
    size_t len = 0;
    char *text = compute_instance_console(call->api->st, &call->ctx, call->params[0], offset,
                                          (int)limit, &len, &next, &err);
    if (text == NULL) {
        api_fail(call, &err);
        return;
    }
    http_resp_text(call->resp, 200, text, len);
    free(text);
    str_copy(call->resp->extra_name, sizeof(call->resp->extra_name), "X-Console-Offset");
    snprintf(call->resp->extra_value, sizeof(call->resp->extra_value), "%lld", next);
}

static void get_instance_events(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(
        call, "events",
        compute_instance_events(call->api->st, &call->ctx, call->params[0], limit, marker, &err),
        limit, &err);
}

/* -------------------------------------------------------------- tasks */

static void get_tasks(struct api_call *call)
{
    struct nubo_err err;
    int limit;
    const char *marker;
    if (api_page(call, &limit, &marker) < 0)
        return;
    api_reply_page_or_fail(call, "tasks",
                           compute_task_list(call->api->st, &call->ctx, api_query(call, "instance"),
                                             api_query(call, "status"), limit, marker, &err),
                           limit, &err);
}

static void get_task(struct api_call *call)
{
    struct nubo_err err;
    api_reply_or_fail(call, 200, compute_task_get(call->api->st, &call->ctx, call->params[0], &err),
                      &err);
}

const struct route compute_routes[] = {
    {"GET", "/v1/flavors", AUTHZ_READ, NULL, get_flavors, 0},
    {"POST", "/v1/flavors", AUTHZ_ADMIN, "flavor.create", post_flavor, ROUTE_IDEMPOTENT},
    {"GET", "/v1/flavors/{id}", AUTHZ_READ, NULL, get_flavor, 0},
    {"DELETE", "/v1/flavors/{id}", AUTHZ_ADMIN, "flavor.delete", delete_flavor, 0},
    {"POST", "/v1/flavors/{id}/access", AUTHZ_ADMIN, "flavor.access", post_flavor_access, 0},

    {"GET", "/v1/images", AUTHZ_READ, NULL, get_images, 0},
    {"POST", "/v1/images", AUTHZ_WRITE, "image.create", post_image, ROUTE_IDEMPOTENT},
    {"GET", "/v1/images/{id}", AUTHZ_READ, NULL, get_image, 0},
    {"DELETE", "/v1/images/{id}", AUTHZ_WRITE, "image.delete", delete_image, 0},
    {"PUT", "/v1/images/{id}/file", AUTHZ_WRITE, "image.upload", put_image_file, ROUTE_STREAM},
    {"PUT", "/v1/images/{id}/kernel", AUTHZ_WRITE, "image.upload", put_image_kernel, ROUTE_STREAM},
    {"PUT", "/v1/images/{id}/initrd", AUTHZ_WRITE, "image.upload", put_image_initrd, ROUTE_STREAM},

    {"GET", "/v1/keypairs", AUTHZ_READ, NULL, get_keypairs, 0},
    {"POST", "/v1/keypairs", AUTHZ_WRITE, "keypair.create", post_keypair, ROUTE_IDEMPOTENT},
    {"GET", "/v1/keypairs/{name}", AUTHZ_READ, NULL, get_keypair, 0},
    {"DELETE", "/v1/keypairs/{name}", AUTHZ_WRITE, "keypair.delete", delete_keypair, 0},

    {"GET", "/v1/server-groups", AUTHZ_READ, NULL, get_server_groups, 0},
    {"POST", "/v1/server-groups", AUTHZ_WRITE, "server_group.create", post_server_group,
     ROUTE_IDEMPOTENT},
    {"GET", "/v1/server-groups/{id}", AUTHZ_READ, NULL, get_server_group, 0},
    {"DELETE", "/v1/server-groups/{id}", AUTHZ_WRITE, "server_group.delete", delete_server_group,
     0},

    {"GET", "/v1/instances", AUTHZ_READ, NULL, get_instances, 0},
    {"POST", "/v1/instances", AUTHZ_WRITE, "instance.create", post_instances, ROUTE_IDEMPOTENT},
    {"GET", "/v1/instances/{id}", AUTHZ_READ, NULL, get_instance, 0},
    {"DELETE", "/v1/instances/{id}", AUTHZ_WRITE, "instance.delete", delete_instance, 0},
    {"POST", "/v1/instances/{id}/actions", AUTHZ_WRITE, "instance.action", post_instance_action, 0},
    {"GET", "/v1/instances/{id}/migrations", AUTHZ_ADMIN, "instance.migrations",
     get_instance_migrations, 0},
    {"GET", "/v1/instances/{id}/console", AUTHZ_READ, NULL, get_instance_console, 0},
    {"GET", "/v1/instances/{id}/events", AUTHZ_READ, NULL, get_instance_events, 0},

    {"GET", "/v1/tasks", AUTHZ_READ, NULL, get_tasks, 0},
    {"GET", "/v1/tasks/{id}", AUTHZ_READ, NULL, get_task, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
