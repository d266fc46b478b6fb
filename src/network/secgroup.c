/*
 * secgroup.c - security groups and their rules.
 *
 * A project's "default" group is created lazily, the first time anything
 * lists, resolves or creates a group, with the rules of the default
 * policy: egress anything to 0.0.0.0/0, ingress anything from members of
 * the default group; everything else is dropped by the host firewall.
 * Its rules can be edited; the group itself cannot be deleted.  A group
 * that ports use cannot be deleted either (409).
 *
 * A rule: direction ingress|egress; protocol any|tcp|udp|icmp; a port
 * range 1..65535 (min <= max) only for tcp/udp (absent = every port); and
 * at most one of remote_cidr (an IPv4 prefix, host bits zero) and
 * remote_group (a group of the same project).  Neither = from/to anywhere.
 */
#include "network/net_int.h"
#include "network/network.h"

#include <stdio.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/inet.h"
#include "lib/util.h"
#include "lib/valid.h"

#define SG_SELECT                                                                                  \
    "SELECT g.id, g.project_id, g.name, g.description, g.created_at FROM security_groups g"
#define RULE_SELECT                                                                                \
    "SELECT r.id, r.security_group_id, r.project_id, r.direction, r.protocol, r.port_min,"         \
    " r.port_max, r.remote_cidr, r.remote_group_id, r.created_at FROM security_group_rules r"

static int rule_insert(struct store *st, const char *project_id, const char *group_id,
                       const char *direction, const char *protocol, long long pmin, long long pmax,
                       const char *cidr, const char *remote_group, char id[37],
                       struct nubo_err *err)
{
    char now[32];
    id_new(id);
    clock_stamp(now);
    bool ports = pmin >= 0;
    return store_exec(st, err,
                      "INSERT INTO security_group_rules (id, security_group_id, project_id,"
                      " direction, protocol, port_min, port_max, remote_cidr, remote_group_id,"
                      " created_at) VALUES (?, ?, ?, ?, ?, CASE WHEN ? <> 0 THEN ? END,"
                      " CASE WHEN ? <> 0 THEN ? END, ?, ?, ?)",
                      "sssssiiiisss", id, group_id, project_id, direction, protocol,
                      (long long)ports, pmin, (long long)ports, pmax, cidr, remote_group, now) < 0
               ? -1
               : 0;
}

/* Makes sure the project's default group exists (in the caller's
 * transaction, or by itself).  Writes its id into id when not NULL. */
static int default_ensure(struct store *st, const char *project_id, char id[37],
                          struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    char gid[37], rid[37], now[32];
    json_t *row = store_query_one(st, &qerr,
                                  "SELECT id FROM security_groups WHERE project_id = ? AND"
                                  " name = 'default'",
                                  "s", project_id);
    if (row) {
        if (id)
            str_copy(id, 37, jsonx_str(row, "id"));
        json_decref(row);
        return 0;
    }
    if (qerr.code != NUBO_E_NOTFOUND)
        return nubo_err_set(err, qerr.code, "%s", qerr.msg);
    id_new(gid);
    clock_stamp(now);
    /* ON CONFLICT: a concurrent first use outside a transaction made it. */
    if (store_exec(st, err,
                   "INSERT INTO security_groups (id, project_id, name, description, created_at)"
                   " VALUES (?, ?, 'default', 'the project''s default group', ?)"
                   " ON CONFLICT (project_id, name) DO NOTHING",
                   "sss", gid, project_id, now) < 0)
        return -1;
    row = store_query_one(st, &qerr,
                          "SELECT id FROM security_groups WHERE project_id = ? AND"
                          " name = 'default'",
                          "s", project_id);
    if (row == NULL)
        return nubo_err_set(err, qerr.code == NUBO_E_NOTFOUND ? NUBO_E_INTERNAL : qerr.code,
                            "cannot create the default security group");
    bool mine = strcmp(jsonx_str(row, "id"), gid) == 0;
    if (id)
        str_copy(id, 37, jsonx_str(row, "id"));
    json_decref(row);
    if (mine &&
        (rule_insert(st, project_id, gid, "egress", "any", -1, -1, "0.0.0.0/0", NULL, rid, err) <
             0 ||
         rule_insert(st, project_id, gid, "ingress", "any", -1, -1, NULL, gid, rid, err) < 0))
        return -1;
    return 0;
}

int secgroup_resolve(struct store *st, const struct ctx *ctx, const char *ref, char id[37],
                     struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    if (net_ref_lookup(ref, "security group", err) < 0)
        return -1;
    if (default_ensure(st, ctx->project_id, NULL, err) < 0)
        return -1;
    json_t *row = store_query_one(st, &qerr,
                                  "SELECT id FROM security_groups WHERE project_id = ? AND"
                                  " (id = ? OR name = ?) ORDER BY (id = ?) DESC LIMIT 1",
                                  "ssss", ctx->project_id, ref, ref, ref);
    if (row == NULL)
        return net_notfound(err, &qerr, "security group", ref);
    str_copy(id, 37, jsonx_str(row, "id"));
    json_decref(row);
    return 0;
}

static json_t *rule_json(json_t *row)
{
    json_object_set(row, "remote_group", json_object_get(row, "remote_group_id"));
    return row;
}

/* Adds "rules" to a group row. */
static int with_rules(struct store *st, json_t *row, struct nubo_err *err)
{
    json_t *rules = store_query(st, err,
                                RULE_SELECT " WHERE r.security_group_id = ?"
                                            " ORDER BY r.created_at, r.id",
                                "s", jsonx_str(row, "id"));
    if (rules == NULL)
        return -1;
    size_t i;
    json_t *r;
    json_array_foreach (rules, i, r)
        rule_json(r);
    json_object_set_new(row, "rules", rules);
    return 0;
}

json_t *secgroup_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                      struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (default_ensure(st, ctx->project_id, NULL, err) < 0)
        return NULL;
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM security_groups WHERE id = ? AND project_id = ?",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    json_t *rows = store_page_query(st, &pg, "g.created_at, g.id", err,
                                    SG_SELECT " WHERE g.project_id = ?", "s", ctx->project_id);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        if (with_rules(st, r, err) < 0) {
            json_decref(rows);
            return NULL;
        }
    return rows;
}

static json_t *sg_find(struct store *st, const struct ctx *ctx, const char *ref,
                       struct nubo_err *err)
{
    char id[37];
    struct nubo_err qerr = {0};
    if (secgroup_resolve(st, ctx, ref, id, err) < 0)
        return NULL;
    json_t *row = store_query_one(st, &qerr, SG_SELECT " WHERE g.id = ? AND g.project_id = ?", "ss",
                                  id, ctx->project_id);
    if (row == NULL)
        net_notfound(err, &qerr, "security group", ref);
    return row;
}

json_t *secgroup_get(struct store *st, const struct ctx *ctx, const char *ref, struct nubo_err *err)
{
    json_t *row = sg_find(st, ctx, ref, err);
    if (row && with_rules(st, row, err) < 0) {
        json_decref(row);
        return NULL;
    }
    return row;
}

json_t *secgroup_create(struct store *st, const struct ctx *ctx, const char *name,
                        const char *description, struct nubo_err *err)
{
    char id[37], now[32];
    const char *desc = description ? description : "";
    json_t *out = NULL;
    if (valid_name(name, "security group name", err) < 0)
        return NULL;
    if (strlen(desc) > 255) {
        nubo_err_set(err, NUBO_E_INVALID, "description holds at most 255 characters");
        return NULL;
    }
    if (store_begin(st, true, err) < 0)
        return NULL;
    if (default_ensure(st, ctx->project_id, NULL, err) < 0 ||
        net_quota_check(st, ctx->project_id, QUOTA_SECURITY_GROUPS, 1, err) < 0)
        goto cleanup;
    id_new(id);
    clock_stamp(now);
    if (store_exec(st, err,
                   "INSERT INTO security_groups (id, project_id, name, description, created_at)"
                   " VALUES (?, ?, ?, ?, ?)",
                   "sssss", id, ctx->project_id, name, desc, now) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "a security group named '%s' already exists in this project", name);
        goto cleanup;
    }
    if (store_commit(st, err) < 0)
        goto cleanup;
    out = secgroup_get(st, ctx, id, err);
cleanup:
    if (out == NULL)
        store_rollback(st);
    return out;
}

int secgroup_delete(struct store *st, const struct ctx *ctx, const char *ref, struct nubo_err *err)
{
    int rc = -1;
    json_t *n = NULL;
    if (store_begin(st, true, err) < 0)
        return -1;
    json_t *row = sg_find(st, ctx, ref, err);
    if (row == NULL)
        goto cleanup;
    if (strcmp(jsonx_str(row, "name"), "default") == 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "the default security group cannot be deleted; edit its rules instead");
        goto cleanup;
    }
    n = store_query_one(st, err,
                        "SELECT COUNT(*) AS n FROM port_security_groups WHERE"
                        " security_group_id = ?",
                        "s", jsonx_str(row, "id"));
    if (n == NULL)
        goto cleanup;
    long long used = json_integer_value(json_object_get(n, "n"));
    if (used > 0) {
        nubo_err_set(err, NUBO_E_CONFLICT,
                     "security group '%s' is used by %lld port%s; remove it from them first",
                     jsonx_str(row, "name"), used, used == 1 ? "" : "s");
        goto cleanup;
    }
    if (store_exec(st, err, "DELETE FROM security_groups WHERE id = ?", "s", jsonx_str(row, "id")) <
            0 ||
        store_commit(st, err) < 0)
        goto cleanup;
    rc = 0;
    net_changed();
cleanup:
    if (rc < 0)
        store_rollback(st);
    json_decref(n);
    json_decref(row);
    return rc;
}

/* ------------------------------------------------------------- rules */

static const char *const directions[] = {"ingress", "egress", NULL};
static const char *const protocols[] = {"any", "tcp", "udp", "icmp", NULL};

static bool word_in(const char *s, const char *const words[])
{
    for (const char *const *w = words; s && *w; w++)
        if (strcmp(s, *w) == 0)
            return true;
    return false;
}

/* Checks what needs no database; canonicalizes the CIDR into cidr. */
static int rule_check(const struct secgroup_rule_spec *s, char cidr[24], struct nubo_err *err)
{
    const char *proto = s->protocol ? s->protocol : "any";
    if (!word_in(s->direction, directions))
        return nubo_err_set(err, NUBO_E_INVALID, "direction must be ingress or egress");
    if (!word_in(proto, protocols))
        return nubo_err_set(err, NUBO_E_INVALID, "protocol must be any, tcp, udp or icmp");
    bool ports = s->port_min >= 0 || s->port_max >= 0;
    if (ports) {
        if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "port_min and port_max are only for protocol tcp or udp");
        if (s->port_min < 1 || s->port_min > 65535 || s->port_max < 1 || s->port_max > 65535)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "port_min and port_max must both be given, from 1 to 65535");
        if (s->port_min > s->port_max)
            return nubo_err_set(err, NUBO_E_INVALID, "port_min must not be greater than port_max");
    }
    if (s->remote_cidr && s->remote_group)
        return nubo_err_set(err, NUBO_E_INVALID, "give remote_cidr or remote_group, not both");
    cidr[0] = '\0';
    if (s->remote_cidr) {
        struct inet_cidr c;
        if (inet_cidr_check(s->remote_cidr, true, "remote_cidr", &c, err) < 0)
            return -1;
        snprintf(cidr, 24, "%s", c.s);
    }
    if (s->remote_group &&
        net_ref_check(s->remote_group, "remote_group", "a security group of this project", err) < 0)
        return -1;
    return 0;
}

json_t *secgroup_rule_create(struct store *st, const struct ctx *ctx,
                             const struct secgroup_rule_spec *s, struct nubo_err *err)
{
    char cidr[24], gid[37], rgid[37], id[37];
    json_t *out = NULL;
    struct nubo_err qerr = {0};
    if (rule_check(s, cidr, err) < 0)
        return NULL;
    if (store_begin(st, true, err) < 0)
        return NULL;
    if (secgroup_resolve(st, ctx, s->security_group, gid, err) < 0 ||
        (s->remote_group && secgroup_resolve(st, ctx, s->remote_group, rgid, err) < 0)) {
        net_ref_invalid(err);
        goto cleanup;
    }
    if (net_quota_check(st, ctx->project_id, QUOTA_SECURITY_GROUP_RULES, 1, err) < 0)
        goto cleanup;
    bool ports = s->port_min >= 0;
    if (rule_insert(st, ctx->project_id, gid, s->direction, s->protocol ? s->protocol : "any",
                    ports ? s->port_min : -1, ports ? s->port_max : -1,
                    s->remote_cidr ? cidr : NULL, s->remote_group ? rgid : NULL, id, err) < 0)
        goto cleanup;
    json_t *row = store_query_one(st, &qerr, RULE_SELECT " WHERE r.id = ?", "s", id);
    if (row == NULL) {
        net_notfound(err, &qerr, "security group rule", id);
        goto cleanup;
    }
    row = rule_json(row);
    /* The answer, with the effect, for an Idempotency-Key retry. */
    if (identity_idem_answer(st, "POST", "/v1/security-group-rules", 201, row, err) < 0 ||
        store_commit(st, err) < 0) {
        json_decref(row);
        goto cleanup;
    }
    out = row;
    net_changed();
cleanup:
    if (out == NULL)
        store_rollback(st);
    return out;
}

json_t *secgroup_rule_list(struct store *st, const struct ctx *ctx, const char *group, int limit,
                           const char *marker, struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    char gid[37] = "";
    if (group && secgroup_resolve(st, ctx, group, gid, err) < 0) {
        net_ref_invalid(err);
        return NULL;
    }
    if (group == NULL && default_ensure(st, ctx->project_id, NULL, err) < 0)
        return NULL;
    if (store_page_start(st, &pg, err,
                         "SELECT created_at FROM security_group_rules WHERE"
                         " id = ? AND project_id = ?",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    json_t *rows = store_page_query(st, &pg, "r.created_at, r.id", err,
                                    RULE_SELECT " WHERE r.project_id = ?"
                                                " AND (? = '' OR r.security_group_id = ?)",
                                    "sss", ctx->project_id, gid, gid);
    size_t i;
    json_t *r;
    json_array_foreach (rows, i, r)
        rule_json(r);
    return rows;
}

int secgroup_rule_delete(struct store *st, const struct ctx *ctx, const char *id,
                         struct nubo_err *err)
{
    long long n =
        store_exec(st, err, "DELETE FROM security_group_rules WHERE id = ? AND project_id = ?",
                   "ss", id, ctx->project_id);
    if (n < 0)
        return -1;
    if (n == 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no security group rule '%.64s'", id);
    net_changed();
    return 0;
}
