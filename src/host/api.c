/*
 * api.c - routes of the host protocol v1 onto host.h operations.
 *
 *   GET    /v1/host                     capabilities, capacity, counts
 *   GET    /v1/images                   base images
 *   PUT    /v1/images/{name}/{part}     upload a part (disk|kernel|initrd|cmdline), streamed
 *   GET    /v1/vms                      all VMs
 *   POST   /v1/vms                      define (and by default start) a VM
 *   GET    /v1/vms/{ref}                one VM with live stats
 *   DELETE /v1/vms/{ref}                force off and remove
 *   POST   /v1/vms/{ref}/{action}       start | stop | reboot | pause | resume
 *   POST   /v1/vms/{ref}/migrate        send it to a destination agent (mobility.md)
 *   GET    /v1/vms/{ref}/migration      its migration's progress
 *   POST   /v1/vms/{ref}/migrate-cancel
 *   GET    /v1/vms/{ref}/console        serial console bytes (?offset=&limit=)
 *   POST   /v1/vms/{ref}/volumes        attach {volume_id}
 *   DELETE /v1/vms/{ref}/volumes/{id}   detach
 *   GET    /v1/network                  tenant networking: generation, status
 *   PUT    /v1/network                  the desired network document (converge)
 *   GET    /v1/volumes                  the local volumes on this host
 *   POST   /v1/volumes                  create {id, size_gib} (idempotent)
 *   GET    /v1/volumes/{id}             one volume
 *   DELETE /v1/volumes/{id}             remove its files
 *   POST   /v1/volumes/{id}/resize      grow to {size_gib}
 *   POST   /v1/volumes/{id}/snapshots   take snapshot {id} (idempotent)
 *   DELETE /v1/volumes/{id}/snapshots/{sid}  drop it
 *
 * {ref} is a VM id or name.  No SQL, no QEMU here: only HTTP <-> host.h.
 */
#include "host/api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host.h"
#include "host/vm/vm.h"
#include "lib/util.h"
#include "lib/valid.h"

#define CONSOLE_DEFAULT_LIMIT (64 * 1024)
#define CONSOLE_MAX_LIMIT (1024 * 1024)

static void problem(struct http_resp *resp, const struct http_req *req, struct nubo_err *err)
{
    http_resp_problem(resp, err, req->path);
}

static void method_not_allowed(struct http_resp *resp, const struct http_req *req,
                               const char *allow)
{
    struct nubo_err err;
    nubo_err_set(&err, NUBO_E_METHOD, "%s is not allowed on %s (allowed: %s)", req->method,
                 req->path, allow);
    problem(resp, req, &err);
    str_copy(resp->extra_name, sizeof(resp->extra_name), "Allow");
    str_copy(resp->extra_value, sizeof(resp->extra_value), allow);
}

/* /v1/volumes/{id}/snapshots[/{sid}]; rest is what follows "snapshots". */
static void snapshot_routes(struct host *h, const struct http_req *req, struct http_resp *resp,
                            const char *id, const char *rest)
{
    struct nubo_err err;
    if (*rest == '\0') {
        if (strcmp(req->method, "POST") != 0) {
            method_not_allowed(resp, req, "POST");
            return;
        }
        bool created = false;
        json_t *body = http_req_json(req, &err);
        json_t *s = body ? host_volume_snapshot_take(h, id, body, &created, &err) : NULL;
        json_decref(body);
        if (s == NULL)
            problem(resp, req, &err);
        else
            http_resp_json(resp, created ? 201 : 200, s);
        return;
    }
    if (*rest != '/' || rest[1] == '\0' || strchr(rest + 1, '/')) {
        nubo_err_set(&err, NUBO_E_NOTFOUND, "no such resource: %.100s", req->path);
        problem(resp, req, &err);
        return;
    }
    if (strcmp(req->method, "DELETE") != 0) {
        method_not_allowed(resp, req, "DELETE");
        return;
    }
    if (host_volume_snapshot_drop(h, id, rest + 1, &err) < 0)
        problem(resp, req, &err);
    else
        http_resp_text(resp, 204, "", 0);
}

/* /v1/volumes and /v1/volumes/{id}[/resize]; rest is what follows
 * "/v1/volumes" in the path. */
static void volume_routes(struct host *h, const struct http_req *req, struct http_resp *resp,
                          const char *rest)
{
    struct nubo_err err;
    const char *m = req->method;
    if (*rest == '\0') {
        if (strcmp(m, "GET") == 0) {
            http_resp_json(resp, 200, json_pack("{s:o}", "volumes", host_volume_list(h)));
        } else if (strcmp(m, "POST") == 0) {
            bool created = false;
            json_t *body = http_req_json(req, &err);
            json_t *v = body ? host_volume_create(h, body, &created, &err) : NULL;
            json_decref(body);
            if (v == NULL)
                problem(resp, req, &err);
            else
                http_resp_json(resp, created ? 201 : 200, v);
        } else {
            method_not_allowed(resp, req, "GET, POST");
        }
        return;
    }
    char id[40];
    const char *p = rest + 1;
    size_t n = strcspn(p, "/");
    const char *sub = p[n] == '/' ? p + n + 1 : NULL;
    if (*rest != '/' || n == 0 || n >= sizeof(id) ||
        (sub && strcmp(sub, "resize") != 0 && strncmp(sub, "snapshots", 9) != 0)) {
        nubo_err_set(&err, NUBO_E_NOTFOUND, "no such resource: %.100s", req->path);
        problem(resp, req, &err);
        return;
    }
    memcpy(id, p, n);
    id[n] = '\0';
    json_t *v = NULL;
    if (sub && strcmp(sub, "resize") != 0) {
        snapshot_routes(h, req, resp, id, sub + 9);
        return;
    }
    if (sub) {
        if (strcmp(m, "POST") != 0) {
            method_not_allowed(resp, req, "POST");
            return;
        }
        json_t *body = http_req_json(req, &err);
        v = body ? host_volume_resize(h, id, body, &err) : NULL;
        json_decref(body);
    } else if (strcmp(m, "GET") == 0) {
        v = host_volume_get(h, id, &err);
    } else if (strcmp(m, "DELETE") == 0) {
        if (host_volume_delete(h, id, &err) < 0)
            problem(resp, req, &err);
        else
            http_resp_text(resp, 204, "", 0);
        return;
    } else {
        method_not_allowed(resp, req, "GET, DELETE");
        return;
    }
    if (v == NULL)
        problem(resp, req, &err);
    else
        http_resp_json(resp, 200, v);
}

static void console(struct host *h, struct vm *vm, const struct http_req *req,
                    struct http_resp *resp)
{
    struct nubo_err err;
    long long offset = 0, limit = CONSOLE_DEFAULT_LIMIT;
    const char *o = http_req_query(req, "offset");
    const char *l = http_req_query(req, "limit");
    if ((o && valid_int(o, -CONSOLE_MAX_LIMIT, (1LL << 50), "offset", &offset, &err) < 0) ||
        (l && valid_int(l, 0, CONSOLE_MAX_LIMIT, "limit", &limit, &err) < 0)) {
        problem(resp, req, &err);
        return;
    }
    (void)h;
    char path[PATH_MAX];
    vm_path(vm, "console.log", path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    long long size = 0;
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0)
        size = st.st_size;
    /* A negative offset counts from the end: offset=-4096 is "the tail". */
    if (offset < 0)
        offset = size + offset > 0 ? size + offset : 0;
    if (offset > size)
        offset = size;
    if (limit > size - offset)
        limit = size - offset;
    char *buf = xmalloc((size_t)limit + 1);
    ssize_t got = 0;
    if (fd >= 0 && limit > 0) {
        got = pread(fd, buf, (size_t)limit, offset);
        if (got < 0)
            got = 0;
    }
    if (fd >= 0)
        close(fd);
    http_resp_text(resp, 200, buf, (size_t)got);
    free(buf);
    str_copy(resp->extra_name, sizeof(resp->extra_name), "X-Console-Offset");
    snprintf(resp->extra_value, sizeof(resp->extra_value), "%lld", offset + (long long)got);
}

/* GET /v1/vms/{ref}/migration, POST .../migrate, POST .../migrate-cancel */
static void migration_routes(struct host *h, const struct http_req *req, struct http_resp *resp,
                             struct vm *vm, const char *sub)
{
    struct nubo_err err;
    int get = strcmp(sub, "migration") == 0;
    if (strcmp(req->method, get ? "GET" : "POST") != 0) {
        method_not_allowed(resp, req, get ? "GET" : "POST");
        return;
    }
    if (get) {
        json_t *o = host_vm_migration(h, vm, &err);
        if (o == NULL)
            problem(resp, req, &err);
        else
            http_resp_json(resp, 200, o);
        return;
    }
    json_t *body = NULL;
    if (req->body_len > 0 && (body = http_req_json(req, &err)) == NULL) {
        problem(resp, req, &err);
        return;
    }
    int rc;
    if (strcmp(sub, "migrate") == 0)
        rc = json_is_object(body)
                 ? host_vm_migrate(h, vm, body, &err)
                 : nubo_err_set(&err, NUBO_E_INVALID, "migrate takes {\"uri\": \"tcp:ADDR:PORT\"}");
    else
        rc = host_vm_migrate_cancel(h, vm, &err);
    json_decref(body);
    if (rc < 0)
        problem(resp, req, &err);
    else
        http_resp_json(resp, strcmp(sub, "migrate") == 0 ? 202 : 200, host_vm_show(h, vm));
}

/* POST|DELETE /v1/vms/{ref}/export, POST .../resize, .../resize-confirm,
 * .../resize-revert (host.c) */
static void coldmove_routes(struct host *h, const struct http_req *req, struct http_resp *resp,
                            struct vm *vm, const char *sub)
{
    struct nubo_err err;
    int exp = strcmp(sub, "export") == 0;
    if (strcmp(req->method, "POST") != 0 && !(exp && strcmp(req->method, "DELETE") == 0)) {
        method_not_allowed(resp, req, exp ? "POST, DELETE" : "POST");
        return;
    }
    if (exp && strcmp(req->method, "POST") == 0) {
        json_t *o = host_vm_export(h, vm, &err);
        if (o == NULL)
            problem(resp, req, &err);
        else
            http_resp_json(resp, 200, o);
        return;
    }
    int rc;
    if (exp) {
        rc = host_vm_export_stop(h, vm, &err);
    } else if (strcmp(sub, "resize") == 0) {
        json_t *body = http_req_json(req, &err);
        rc = body ? host_vm_resize(h, vm, body, &err) : -1;
        json_decref(body);
    } else {
        rc = host_vm_resize_end(h, vm, strcmp(sub, "resize-revert") == 0, &err);
    }
    if (rc < 0)
        problem(resp, req, &err);
    else
        http_resp_json(resp, 200, host_vm_show(h, vm));
}

static void vm_routes(struct host *h, const struct http_req *req, struct http_resp *resp,
                      const char *ref, const char *sub)
{
    struct nubo_err err;
    struct vm *vm = host_vm_find(h, ref, &err);
    if (vm == NULL) {
        problem(resp, req, &err);
        return;
    }
    const char *m = req->method;
    if (sub == NULL) {
        if (strcmp(m, "GET") == 0) {
            http_resp_json(resp, 200, host_vm_show(h, vm));
        } else if (strcmp(m, "DELETE") == 0) {
            if (host_vm_delete(h, vm, &err) < 0)
                problem(resp, req, &err);
            else
                http_resp_text(resp, 204, "", 0);
        } else {
            method_not_allowed(resp, req, "GET, DELETE");
        }
        return;
    }
    if (strcmp(sub, "volumes") == 0 || strncmp(sub, "volumes/", 8) == 0) {
        int rc;
        if (sub[7] == '\0' && strcmp(m, "POST") == 0) {
            json_t *body = http_req_json(req, &err);
            rc = body ? host_vm_volume_attach(h, vm, body, &err) : -1;
            json_decref(body);
        } else if (sub[7] == '/' && sub[8] != '\0' && strcmp(m, "DELETE") == 0) {
            rc = host_vm_volume_detach(h, vm, sub + 8, &err);
        } else {
            method_not_allowed(resp, req, sub[7] == '\0' ? "POST" : "DELETE");
            return;
        }
        if (rc < 0)
            problem(resp, req, &err);
        else
            http_resp_json(resp, 200, host_vm_show(h, vm));
        return;
    }
    if (strcmp(sub, "console") == 0) {
        if (strcmp(m, "GET") != 0)
            method_not_allowed(resp, req, "GET");
        else
            console(h, vm, req, resp);
        return;
    }
    if (strcmp(sub, "export") == 0 || strcmp(sub, "resize") == 0 ||
        strcmp(sub, "resize-confirm") == 0 || strcmp(sub, "resize-revert") == 0) {
        coldmove_routes(h, req, resp, vm, sub);
        return;
    }
    if (strcmp(sub, "migration") == 0 || strcmp(sub, "migrate") == 0 ||
        strcmp(sub, "migrate-cancel") == 0) {
        migration_routes(h, req, resp, vm, sub);
        return;
    }
    static const char *actions[] = {"start", "stop", "reboot", "pause", "resume"};
    int known = 0;
    for (size_t i = 0; i < ARRAY_LEN(actions); i++)
        known = known || strcmp(sub, actions[i]) == 0;
    if (!known) {
        nubo_err_set(&err, NUBO_E_NOTFOUND, "no such resource: %.100s", req->path);
        problem(resp, req, &err);
        return;
    }
    if (strcmp(m, "POST") != 0) {
        method_not_allowed(resp, req, "POST");
        return;
    }
    json_t *opts = NULL;
    if (req->body_len > 0 && (opts = http_req_json(req, &err)) == NULL) {
        problem(resp, req, &err);
        return;
    }
    int accepted = 0;
    int r = host_vm_action(h, vm, sub, opts, &accepted, &err);
    json_decref(opts);
    if (r < 0)
        problem(resp, req, &err);
    else
        http_resp_json(resp, accepted ? 202 : 200, host_vm_show(h, vm));
}

/* Splits "/v1/images/NAME/PART" into name and part; 0 when the path has
 * that shape with a valid name and part. */
static int image_upload_path(const char *p, char name[64], char part[16])
{
    static const char prefix[] = "/v1/images/";
    if (strncmp(p, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    const char *rest = p + sizeof(prefix) - 1;
    size_t nl = strcspn(rest, "/");
    if (nl == 0 || nl >= 64 || rest[nl] != '/')
        return -1;
    const char *pt = rest + nl + 1;
    if (strlen(pt) >= 16 || strchr(pt, '/'))
        return -1;
    memcpy(name, rest, nl);
    name[nl] = '\0';
    str_copy(part, 16, pt);
    return valid_name(name, "image name", NULL) == 0 && image_part_valid(part) ? 0 : -1;
}

static int stream(struct host *h, const struct http_req *req)
{
    char name[64], part[16];
    if (strcmp(req->method, "PUT") != 0 || image_upload_path(req->path, name, part) < 0)
        return -1;
    return host_image_upload_fd(h);
}

int api_stream_unix(void *ctx, const struct http_req *req)
{
    return stream(ctx, req);
}

int api_stream_tcp(void *ctx, const struct http_req *req)
{
    if (!host_tcp_token_ok(ctx, http_req_header(req, "Authorization")))
        return -1;
    return stream(ctx, req);
}

static void image_put(struct host *h, const struct http_req *req, struct http_resp *resp)
{
    struct nubo_err err;
    char name[64], part[16];
    if (image_upload_path(req->path, name, part) < 0) {
        nubo_err_set(&err, NUBO_E_NOTFOUND,
                     "upload to /v1/images/NAME/PART with PART disk, kernel, initrd or cmdline");
        problem(resp, req, &err);
        return;
    }
    if (req->body_fd < 0) {
        nubo_err_set(&err, NUBO_E_INTERNAL, "cannot store the upload in the images directory");
        problem(resp, req, &err);
        return;
    }
    if (host_image_put(h, name, part, req->body_fd, http_req_header(req, "X-Checksum-Sha256"),
                       &err) < 0) {
        problem(resp, req, &err);
        return;
    }
    http_resp_json(resp, 200,
                   json_pack("{s:s, s:s, s:I}", "name", name, "part", part, "size",
                             (json_int_t)req->body_streamed));
}

void api_handle(void *ctx, const struct http_req *req, struct http_resp *resp)
{
    struct host *h = ctx;
    struct nubo_err err;
    const char *p = req->path;
    const char *m = req->method;
    if (strcmp(p, "/v1/host") == 0) {
        if (strcmp(m, "GET") != 0)
            method_not_allowed(resp, req, "GET");
        else
            http_resp_json(resp, 200, host_info(h));
        return;
    }
    if (strcmp(p, "/v1/network") == 0) {
        if (strcmp(m, "GET") == 0) {
            http_resp_json(resp, 200, host_network_get(h));
        } else if (strcmp(m, "PUT") == 0) {
            json_t *body = http_req_json(req, &err);
            json_t *st = body ? host_network_put(h, body, &err) : NULL;
            json_decref(body);
            if (st == NULL)
                problem(resp, req, &err);
            else
                http_resp_json(resp, 200, st);
        } else {
            method_not_allowed(resp, req, "GET, PUT");
        }
        return;
    }
    if (strncmp(p, "/v1/images/", 11) == 0) {
        if (strcmp(m, "PUT") != 0)
            method_not_allowed(resp, req, "PUT");
        else
            image_put(h, req, resp);
        return;
    }
    if (strcmp(p, "/v1/images") == 0) {
        if (strcmp(m, "GET") != 0)
            method_not_allowed(resp, req, "GET");
        else
            http_resp_json(resp, 200, json_pack("{s:o}", "images", host_images(h)));
        return;
    }
    if (strncmp(p, "/v1/volumes", 11) == 0 && (p[11] == '\0' || p[11] == '/')) {
        volume_routes(h, req, resp, p + 11);
        return;
    }
    if (strcmp(p, "/v1/vms") == 0) {
        if (strcmp(m, "GET") == 0) {
            http_resp_json(resp, 200, json_pack("{s:o}", "vms", host_vm_list(h)));
        } else if (strcmp(m, "POST") == 0) {
            json_t *body = http_req_json(req, &err);
            struct vm *vm = body ? host_vm_create(h, body, &err) : NULL;
            json_decref(body);
            if (vm == NULL)
                problem(resp, req, &err);
            else
                http_resp_json(resp, 201, host_vm_show(h, vm));
        } else {
            method_not_allowed(resp, req, "GET, POST");
        }
        return;
    }
    static const char prefix[] = "/v1/vms/";
    if (strncmp(p, prefix, sizeof(prefix) - 1) == 0) {
        char ref[80];
        const char *rest = p + sizeof(prefix) - 1;
        size_t rl = strcspn(rest, "/");
        const char *sub = rest[rl] == '/' ? rest + rl + 1 : NULL;
        /* one segment after the VM, or volumes/{id} */
        const char *slash = sub ? strchr(sub, '/') : NULL;
        if (rl == 0 || rl >= sizeof(ref) || (sub && *sub == '\0') ||
            (slash && (strncmp(sub, "volumes/", 8) != 0 || strchr(slash + 1, '/')))) {
            nubo_err_set(&err, NUBO_E_NOTFOUND, "no such resource: %.100s", p);
            problem(resp, req, &err);
            return;
        }
        memcpy(ref, rest, rl);
        ref[rl] = '\0';
        vm_routes(h, req, resp, ref, sub);
        return;
    }
    nubo_err_set(&err, NUBO_E_NOTFOUND, "no such resource: %.100s (the API lives under /v1/)", p);
    problem(resp, req, &err);
}
