/*
 * stack_int.h - the inside of src/stack: the YAML reader, the template
 * model, the resource-type registry and the engine's pieces.  Nothing
 * outside src/stack (and its unit tests) includes this.
 */
#ifndef NUBO_STACK_INT_H
#define NUBO_STACK_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "identity/identity.h"
#include "lib/err.h"
#include "stack/stack.h"

/* ---- YAML (yaml.c) ----------------------------------------------------- */

/* Where each node of a parsed document was: one mark per (container, key)
 * or (container, index). */
struct stack_marks;

/* Parses text (YAML or JSON) into a JSON object (new reference) and its
 * marks (*marks, freed with stack_marks_free()), or NULL with err
 * (NUBO_E_INVALID, "line L, column C: ..."). */
json_t *stack_yaml_parse(const char *text, size_t len, struct stack_marks **marks,
                         struct nubo_err *err);
void stack_marks_free(struct stack_marks *m);

/* The position of parent[key] (key != NULL) or parent[index]; -1 if none. */
int stack_marks_find(const struct stack_marks *m, const json_t *parent, const char *key,
                     size_t index, int *line, int *col);

/* ---- resource types (rtype_*.c, registry in rtype.c) -------------------- */

enum stack_ptype { STACK_P_STRING, STACK_P_INTEGER, STACK_P_NUMBER, STACK_P_BOOLEAN, STACK_P_LIST };

/*
 * A property of a resource type.  Update in place or replace is decided
 * per property: when a planned change touches a property with replace =
 * true (it names the resource, or no service can change it), the resource
 * is replaced (deleted, then created anew); when every changed property
 * has replace = false the type's update() changes it in place.  A type
 * without update() replaces on any change.
 */
struct stack_prop {
    const char *name;
    enum stack_ptype type;
    bool required;
    bool replace;
};

/* What a resource operation runs with. */
struct stack_rctx {
    const struct stack_env *env;
    const struct ctx *ctx;
};

#define STACK_ID_MAX 80

struct stack_rtype {
    const char *name;               /* the template's "type" */
    const struct stack_prop *props; /* ends with {NULL} */
    const char *const *attributes;  /* for get_attr; NULL-terminated */
    /* Optional: checks the template's properties beyond their types when
     * the template is loaded (values may still be intrinsics: those are
     * skipped).  -1 with err and *where = the property to point at. */
    int (*check)(const json_t *props, const char **where, struct nubo_err *err);
    /* Creates the resource from resolved properties; writes its physical
     * id (what {ref} gives and what read/update/delete take) into id. */
    int (*create)(const struct stack_rctx *rc, const json_t *props, char id[STACK_ID_MAX],
                  struct nubo_err *err);
    /* The live resource as {properties: {...}, attributes: {...}} (new
     * reference).  properties holds the properties the service can tell,
     * in the template's terms; attributes always has "created_at" when
     * the service records it.  NULL with NUBO_E_NOTFOUND when it is gone
     * (or is being deleted). */
    json_t *(*read)(const struct stack_rctx *rc, const char *id, struct nubo_err *err);
    /* Changes in place the properties of new_props that differ from
     * old_props (all of them updatable).  NULL: every change replaces. */
    int (*update)(const struct stack_rctx *rc, const char *id, const json_t *old_props,
                  const json_t *new_props, struct nubo_err *err);
    int (*del)(const struct stack_rctx *rc, const char *id, struct nubo_err *err);
    /* For "wait: true": 1 when the live resource (read()'s answer) is
     * ready, 0 not yet, -1 with err when it will never be.  NULL: ready
     * once created. */
    int (*ready)(const json_t *live, struct nubo_err *err);
};

/* The registry: the type called name, or NULL. */
const struct stack_rtype *stack_rtype_find(const char *name);
/* The property of a type called name, or NULL. */
const struct stack_prop *stack_rtype_prop(const struct stack_rtype *t, const char *name);
/* "a, b, c": the registered type names, into out. */
void stack_rtype_names(char *out, size_t n);

extern const struct stack_rtype stack_rtype_keypair;
extern const struct stack_rtype stack_rtype_server_group;
extern const struct stack_rtype stack_rtype_instance;
extern const struct stack_rtype stack_rtype_alarm;
extern const struct stack_rtype stack_rtype_flavor;
extern const struct stack_rtype stack_rtype_network;
extern const struct stack_rtype stack_rtype_subnet;
extern const struct stack_rtype stack_rtype_security_group;
extern const struct stack_rtype stack_rtype_security_group_rule;
extern const struct stack_rtype stack_rtype_floating_ip;
extern const struct stack_rtype stack_rtype_launch_template;
extern const struct stack_rtype stack_rtype_autoscaling_group;
extern const struct stack_rtype stack_rtype_scaling_policy;

/* Calls del(st, ctx, id, err) and, while it answers NUBO_E_CONFLICT (in
 * use: e.g. ports of instances the stack deleted just before, released
 * when their host confirms), again every env->poll_ms for up to 60 s. */
int stack_rtype_del_wait(const struct stack_rctx *rc,
                         int (*del)(struct store *, const struct ctx *, const char *,
                                    struct nubo_err *),
                         const char *id, struct nubo_err *err);

/* The "networks" property of instances and launch templates: a list of
 * entries, each a network (id or name) or a mapping {network?, subnet?,
 * fixed_ip?} with at least a network or a subnet (fixed_ip only when
 * fixed_ip_ok).  check: the shape of the literal parts (rtype_network.c).
 * resolve: [{network: id, fixed_ip?}] (new reference) with every network
 * and subnet looked up, a subnet on its network and a fixed_ip inside the
 * subnet's CIDR; NULL with err (NUBO_E_INVALID). */
int stack_networks_check(const json_t *list, bool fixed_ip_ok, struct nubo_err *err);
json_t *stack_networks_resolve(const struct stack_rctx *rc, const json_t *list, bool fixed_ip_ok,
                               struct nubo_err *err);

/* ---- templates (template.c) -------------------------------------------- */

struct stack_res {
    char *name;
    const struct stack_rtype *type;
    json_t *props; /* borrowed from the document: values may hold intrinsics */
    char **deps;   /* names of resources it depends on (refs + depends_on) */
    size_t ndeps;
    bool wait; /* create/replace waits until the type's ready() */
    int wait_timeout_s;
};

struct stack_tmpl {
    json_t *doc;
    struct stack_marks *marks;
    json_t *params;        /* name -> the value in effect (defaults applied) */
    struct stack_res *res; /* in dependency order (dependencies first) */
    size_t nres;
    json_t *outputs; /* borrowed: name -> {value, description} */
};

#define STACK_MAX_TEMPLATE (256 * 1024)
#define STACK_MAX_RESOURCES 1000

/* Parses and checks a template with the given parameter values (an object;
 * NULL = none): structure, types, properties, references, the dependency
 * graph (a cycle is named), parameter types and constraints.  Every error
 * says where ("line L, column C: ...").  Returns a template to free with
 * stack_tmpl_free(), or NULL with err (NUBO_E_INVALID). */
struct stack_tmpl *stack_tmpl_load(const char *text, size_t len, const json_t *param_values,
                                   struct nubo_err *err);
void stack_tmpl_free(struct stack_tmpl *t);

/* The template's resource called name, or NULL. */
const struct stack_res *stack_tmpl_res(const struct stack_tmpl *t, const char *name);

/* What a reference to a resource resolves to: sets *out (new reference) to
 * its id (attr NULL) or attribute, or leaves it NULL when it is not known
 * yet (the resource is still to be created). */
typedef void (*stack_lookup_fn)(void *arg, const char *res, const char *attr, json_t **out);

/* Resolves the intrinsics of v ({ref}, {get_attr}, {join}) against the
 * parameters and lookup.  Returns a new reference; a part that is not
 * known yet becomes the string STACK_UNKNOWN and sets *unknown. */
#define STACK_UNKNOWN "(known after apply)"
json_t *stack_resolve(const struct stack_tmpl *t, const json_t *v, stack_lookup_fn lookup,
                      void *arg, bool *unknown);

/* True when v is an intrinsic ({ref}, {get_attr}, {join}). */
bool stack_is_intrinsic(const json_t *v);

/* Checks a resolved value against a property's type ("property 'x' of
 * 'web' must be an integer"). */
int stack_prop_check(const struct stack_prop *p, const char *res, const json_t *v,
                     struct nubo_err *err);

#endif
