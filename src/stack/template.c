/*
 * template.c - the template format: checking a parsed document, the
 * parameters, references and the dependency graph.
 *
 * The format (docs/internals/stacks.md has the full description):
 *
 *   description: text
 *   parameters:
 *     NAME: {type: string|number|integer|boolean|list, default: V,
 *            description: text,
 *            constraints: {allowed_values: [..], min: N, max: N,
 *                          pattern: ERE, min_length: N, max_length: N}}
 *   resources:
 *     NAME: {type: TYPE, properties: {...}, depends_on: [NAME, ...],
 *            wait: bool, wait_timeout: seconds}
 *   outputs:
 *     NAME: {value: V, description: text}
 *
 * Values may be intrinsics, one-key mappings: {ref: NAME} (a parameter's
 * value or a resource's physical id), {get_attr: [NAME, ATTR]} (a
 * resource's attribute) and {join: [SEP, [V, ...]]}.  A reference to a
 * resource is a dependency; so is depends_on.  Resources are ordered so
 * that dependencies come first (template order among independent ones).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dynbuf.h"
#include "lib/ere.h"
#include "lib/util.h"
#include "lib/valid.h"
#include "stack/stack_int.h"

/* The longest value matched against a pattern: matching costs the value's
 * length times the pattern's program (at most ERE_MAX_PROG steps). */
#define PATTERN_SUBJECT_MAX 16384

/* Fails with the position of parent[key] (or parent itself at 1:1). */
static int fail_at(const struct stack_tmpl *t, const json_t *parent, const char *key, size_t index,
                   struct nubo_err *err, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int fail_at(const struct stack_tmpl *t, const json_t *parent, const char *key, size_t index,
                   struct nubo_err *err, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line = 1, col = 1;
    if (stack_marks_find(t->marks, parent, key, index, &line, &col) < 0) {
        line = 1;
        col = 1;
    }
    return nubo_err_set(err, NUBO_E_INVALID, "line %d, column %d: %s", line, col, msg);
}

static const char *ptype_name(enum stack_ptype p)
{
    static const char *const names[] = {"a string", "an integer", "a number", "true or false",
                                        "a list"};
    return names[p];
}

static int ptype_parse(const char *s, enum stack_ptype *out)
{
    static const char *const names[] = {"string", "integer", "number", "boolean", "list"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        if (s && strcmp(s, names[i]) == 0) {
            *out = (enum stack_ptype)i;
            return 0;
        }
    }
    return -1;
}

static bool ptype_ok(enum stack_ptype p, const json_t *v)
{
    switch (p) {
    case STACK_P_STRING:
        return json_is_string(v);
    case STACK_P_INTEGER:
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    case STACK_P_NUMBER:
        return json_is_number(v);
    case STACK_P_BOOLEAN:
        return json_is_boolean(v);
    case STACK_P_LIST:
        return json_is_array(v);
    }
    return false;
}

int stack_prop_check(const struct stack_prop *p, const char *res, const json_t *v,
                     struct nubo_err *err)
{
    if (v == NULL || json_is_null(v)) {
        if (p->required)
            return nubo_err_set(err, NUBO_E_INVALID, "resource '%s': property '%s' is required",
                                res, p->name);
        return 0;
    }
    if (!ptype_ok(p->type, v))
        return nubo_err_set(err, NUBO_E_INVALID, "resource '%s': property '%s' must be %s", res,
                            p->name, ptype_name(p->type));
    return 0;
}

/* ---------------------------------------------------------- intrinsics */

/* The intrinsic function of v ("ref", "get_attr", "join") or NULL. */
static const char *intrinsic(const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) != 1)
        return NULL;
    const char *k = json_object_iter_key(json_object_iter((json_t *)v));
    if (strcmp(k, "ref") == 0 || strcmp(k, "get_attr") == 0 || strcmp(k, "join") == 0)
        return k;
    return NULL;
}

bool stack_is_intrinsic(const json_t *v)
{
    return intrinsic(v) != NULL;
}

static bool is_param(const struct stack_tmpl *t, const char *name)
{
    return json_object_get(json_object_get(t->doc, "parameters"), name) != NULL;
}

static const struct stack_rtype *res_type(const struct stack_tmpl *t, const char *name)
{
    json_t *r = json_object_get(json_object_get(t->doc, "resources"), name);
    return stack_rtype_find(json_string_value(json_object_get(r, "type")));
}

struct deps {
    char **v;
    size_t n;
};

static void deps_add(struct deps *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i], name) == 0)
            return;
    d->v = realloc(d->v, (d->n + 1) * sizeof(*d->v));
    if (d->v == NULL)
        abort();
    d->v[d->n++] = xstrdup(name);
}

/* Checks the intrinsics inside v (whose position is parent[key|index]) and
 * collects the resources it references into d (may be NULL). */
static int check_value(const struct stack_tmpl *t, const json_t *parent, const char *key,
                       size_t index, const json_t *v, struct deps *d, struct nubo_err *err)
{
    const char *fn = intrinsic(v);
    if (fn == NULL) {
        if (json_is_array(v)) {
            for (size_t i = 0; i < json_array_size(v); i++)
                if (check_value(t, v, NULL, i, json_array_get(v, i), d, err) < 0)
                    return -1;
        } else if (json_is_object(v)) {
            const char *k;
            json_t *x;
            json_object_foreach ((json_t *)v, k, x) {
                if (check_value(t, v, k, 0, x, d, err) < 0)
                    return -1;
            }
        }
        return 0;
    }
    json_t *arg = json_object_get(v, fn);
    if (strcmp(fn, "ref") == 0) {
        const char *name = json_string_value(arg);
        if (name == NULL)
            return fail_at(t, v, fn, 0, err,
                           "{ref: NAME} takes the name of a parameter or a "
                           "resource");
        if (is_param(t, name))
            return 0;
        if (res_type(t, name) == NULL &&
            json_object_get(json_object_get(t->doc, "resources"), name) == NULL)
            return fail_at(t, v, fn, 0, err,
                           "bad reference: '%.80s' is neither a parameter nor a resource", name);
        if (d)
            deps_add(d, name);
        return 0;
    }
    if (strcmp(fn, "get_attr") == 0) {
        const char *name = json_string_value(json_array_get(arg, 0));
        const char *attr = json_string_value(json_array_get(arg, 1));
        if (!json_is_array(arg) || json_array_size(arg) != 2 || name == NULL || attr == NULL)
            return fail_at(t, v, fn, 0, err, "{get_attr: [RESOURCE, ATTRIBUTE]} takes two names");
        if (json_object_get(json_object_get(t->doc, "resources"), name) == NULL)
            return fail_at(t, v, fn, 0, err, "bad reference: there is no resource '%.80s'", name);
        const struct stack_rtype *rt = res_type(t, name);
        bool found = false;
        for (size_t i = 0; rt && rt->attributes[i]; i++)
            found = found || strcmp(rt->attributes[i], attr) == 0;
        if (rt && !found)
            return fail_at(t, v, fn, 0, err,
                           "bad reference: a resource of type '%s' has no attribute '%.80s'",
                           rt->name, attr);
        if (d)
            deps_add(d, name);
        return 0;
    }
    /* join */
    if (!json_is_array(arg) || json_array_size(arg) != 2 ||
        !json_is_string(json_array_get(arg, 0)) || !json_is_array(json_array_get(arg, 1)))
        return fail_at(t, v, fn, 0, err,
                       "{join: [SEPARATOR, [VALUE, ...]]} takes a string and "
                       "a list");
    json_t *items = json_array_get(arg, 1);
    for (size_t i = 0; i < json_array_size(items); i++)
        if (check_value(t, items, NULL, i, json_array_get(items, i), d, err) < 0)
            return -1;
    return 0;
}

static void scalar_text(const json_t *v, char *out, size_t n)
{
    if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, n, "%g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, n, "%s", json_is_true(v) ? "true" : "false");
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(out, n, "%s", s ? s : "?");
        free(s);
    }
}

json_t *stack_resolve(const struct stack_tmpl *t, const json_t *v, stack_lookup_fn lookup,
                      void *arg, bool *unknown)
{
    const char *fn = intrinsic(v);
    if (fn == NULL) {
        if (json_is_array(v)) {
            json_t *out = json_array();
            for (size_t i = 0; i < json_array_size(v); i++)
                json_array_append_new(out,
                                      stack_resolve(t, json_array_get(v, i), lookup, arg, unknown));
            return out;
        }
        if (json_is_object(v)) {
            json_t *out = json_object();
            const char *k;
            json_t *x;
            json_object_foreach ((json_t *)v, k, x) {
                json_object_set_new(out, k, stack_resolve(t, x, lookup, arg, unknown));
            }
            return out;
        }
        return json_deep_copy(v);
    }
    json_t *a = json_object_get(v, fn);
    json_t *out = NULL;
    if (strcmp(fn, "ref") == 0) {
        const char *name = json_string_value(a);
        json_t *pv = json_object_get(t->params, name);
        if (pv)
            return json_deep_copy(pv);
        lookup(arg, name, NULL, &out);
    } else if (strcmp(fn, "get_attr") == 0) {
        lookup(arg, json_string_value(json_array_get(a, 0)),
               json_string_value(json_array_get(a, 1)), &out);
    } else {
        const char *sep = json_string_value(json_array_get(a, 0));
        json_t *items = json_array_get(a, 1);
        /* Bounded by the template's size (STACK_MAX_TEMPLATE) times a
         * piece's (4 KiB): no cap of its own; out of memory aborts. */
        struct dynbuf buf = DYNBUF_INIT(SIZE_MAX);
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *x = stack_resolve(t, json_array_get(items, i), lookup, arg, unknown);
            char piece[4096];
            scalar_text(x, piece, sizeof(piece));
            json_decref(x);
            if (dynbuf_printf(&buf, "%s%s", i ? sep : "", piece) < 0)
                abort();
        }
        out = json_string(dynbuf_str(&buf));
        dynbuf_free(&buf);
        return out ? out : json_string("");
    }
    if (out == NULL) {
        *unknown = true;
        out = json_string(STACK_UNKNOWN);
    }
    return out;
}

/* ---------------------------------------------------------- parameters */

static int param_coerce(enum stack_ptype type, const json_t *given, json_t **out)
{
    *out = NULL;
    if (!json_is_string(given) || type == STACK_P_STRING) {
        *out = json_deep_copy(given);
        return 0;
    }
    /* A value given as text (nubo stack ... -p k=v) in the parameter's type. */
    const char *s = json_string_value(given);
    char *end;
    switch (type) {
    case STACK_P_INTEGER: {
        long long v;
        if (valid_int(s, -(1LL << 53), 1LL << 53, "value", &v, NULL) < 0)
            return -1;
        *out = json_integer(v);
        return 0;
    }
    case STACK_P_NUMBER: {
        errno = 0;
        double d = strtod(s, &end);
        if (*s == '\0' || *end != '\0' || errno || !isfinite(d))
            return -1;
        *out = json_real(d);
        return 0;
    }
    case STACK_P_BOOLEAN:
        if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
            *out = json_boolean(strcmp(s, "true") == 0);
            return 0;
        }
        return -1;
    case STACK_P_LIST: {
        json_t *list = json_array();
        const char *p = s;
        while (*p) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            json_array_append_new(list, json_stringn(p, n));
            if (!c)
                break;
            p = c + 1;
        }
        *out = list;
        return 0;
    }
    default:
        return -1;
    }
}

static int param_constraints(const struct stack_tmpl *t, const char *name, const json_t *def,
                             const json_t *v, struct nubo_err *err)
{
    json_t *c = json_object_get(def, "constraints");
    if (c == NULL)
        return 0;
    if (!json_is_object(c))
        return fail_at(t, def, "constraints", 0, err,
                       "parameter '%s': constraints must be a mapping", name);
    static const char *const known[] = {"allowed_values", "min",        "max",
                                        "pattern",        "min_length", "max_length"};
    const char *k;
    json_t *x;
    char shown[200];
    scalar_text(v, shown, sizeof(shown));
    json_object_foreach (c, k, x) {
        size_t i = 0;
        while (i < ARRAY_LEN(known) && strcmp(known[i], k) != 0)
            i++;
        if (i == ARRAY_LEN(known))
            return fail_at(t, c, k, 0, err,
                           "parameter '%s': unknown constraint '%.60s' (allowed_values, min, "
                           "max, pattern, min_length, max_length)",
                           name, k);
        if (strcmp(k, "allowed_values") == 0) {
            if (!json_is_array(x))
                return fail_at(t, c, k, 0, err, "parameter '%s': allowed_values must be a list",
                               name);
            bool ok = false;
            for (size_t j = 0; j < json_array_size(x); j++)
                ok = ok || json_equal(json_array_get(x, j), (json_t *)v);
            if (!ok)
                return fail_at(t, c, k, 0, err,
                               "parameter '%s': '%s' is not one of the allowed values", name,
                               shown);
        } else if (strcmp(k, "min") == 0 || strcmp(k, "max") == 0) {
            if (!json_is_number(x))
                return fail_at(t, c, k, 0, err, "parameter '%s': %s must be a number", name, k);
            if (!json_is_number(v))
                return fail_at(t, c, k, 0, err, "parameter '%s': %s applies to numbers", name, k);
            double lim = json_number_value(x), val = json_number_value(v);
            if (k[1] == 'i' ? val < lim : val > lim)
                return fail_at(t, c, k, 0, err, "parameter '%s': %s is %s the %s %g", name, shown,
                               k[1] == 'i' ? "below" : "above", k[1] == 'i' ? "minimum" : "maximum",
                               lim);
        } else if (strcmp(k, "min_length") == 0 || strcmp(k, "max_length") == 0) {
            if (!json_is_integer(x))
                return fail_at(t, c, k, 0, err, "parameter '%s': %s must be an integer", name, k);
            long long n = json_is_string(v)  ? (long long)strlen(json_string_value(v))
                          : json_is_array(v) ? (long long)json_array_size(v)
                                             : -1;
            long long lim = json_integer_value(x);
            if (n < 0)
                return fail_at(t, c, k, 0, err, "parameter '%s': %s applies to strings and lists",
                               name, k);
            if (k[1] == 'i' ? n < lim : n > lim)
                return fail_at(t, c, k, 0, err, "parameter '%s': length %lld is %s the %s %lld",
                               name, n, k[1] == 'i' ? "below" : "above",
                               k[1] == 'i' ? "minimum" : "maximum", lim);
        } else { /* pattern */
            const char *pat = json_string_value(x);
            if (pat == NULL)
                return fail_at(t, c, k, 0, err, "parameter '%s': pattern must be a string", name);
            if (!json_is_string(v))
                return fail_at(t, c, k, 0, err, "parameter '%s': pattern applies to strings", name);
            if (strlen(json_string_value(v)) > PATTERN_SUBJECT_MAX)
                return fail_at(t, c, k, 0, err,
                               "parameter '%s': a value checked against a pattern may have at "
                               "most %d bytes",
                               name, PATTERN_SUBJECT_MAX);
            struct nubo_err why;
            struct ere *re = ere_compile(pat, &why);
            if (re == NULL)
                return fail_at(t, c, k, 0, err, "parameter '%s': %s", name, why.msg);
            int rc =
                ere_match_whole(re, json_string_value(v), strlen(json_string_value(v))) ? 0 : 1;
            ere_free(re);
            if (rc != 0)
                return fail_at(t, c, k, 0, err,
                               "parameter '%s': '%s' does not match the pattern %s", name, shown,
                               pat);
        }
    }
    return 0;
}

static int load_params(struct stack_tmpl *t, const json_t *given, struct nubo_err *err)
{
    json_t *ps = json_object_get(t->doc, "parameters");
    t->params = json_object();
    if (ps && !json_is_object(ps))
        return fail_at(t, t->doc, "parameters", 0, err, "parameters must be a mapping");
    const char *name;
    json_t *v;
    json_object_foreach ((json_t *)given, name, v) {
        if (json_object_get(ps, name) == NULL)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "parameter '%.80s' is not declared by the template", name);
    }
    json_t *def;
    json_object_foreach (ps, name, def) {
        if (!json_is_object(def))
            return fail_at(t, ps, name, 0, err, "parameter '%s' must be a mapping with a type",
                           name);
        const char *k;
        json_t *x;
        json_object_foreach (def, k, x) {
            if (strcmp(k, "type") && strcmp(k, "default") && strcmp(k, "description") &&
                strcmp(k, "constraints"))
                return fail_at(t, def, k, 0, err,
                               "parameter '%s': unknown key '%.60s' (type, default, description, "
                               "constraints)",
                               name, k);
        }
        enum stack_ptype type;
        if (ptype_parse(json_string_value(json_object_get(def, "type")), &type) < 0)
            return fail_at(t, ps, name, 0, err,
                           "parameter '%s': type must be string, number, integer, boolean or "
                           "list",
                           name);
        json_t *g = json_object_get(given, name);
        json_t *val = NULL;
        if (g) {
            if (param_coerce(type, g, &val) < 0 || !ptype_ok(type, val)) {
                json_decref(val);
                return fail_at(t, ps, name, 0, err, "parameter '%s': the value given must be %s",
                               name, ptype_name(type));
            }
        } else if ((val = json_object_get(def, "default")) != NULL) {
            if (!ptype_ok(type, val))
                return fail_at(t, def, "default", 0, err, "parameter '%s': default must be %s",
                               name, ptype_name(type));
            json_incref(val);
        } else {
            return fail_at(t, ps, name, 0, err,
                           "parameter '%s' has no default: give it a value (-p %s=...)", name,
                           name);
        }
        json_object_set_new(t->params, name, val);
        if (param_constraints(t, name, def, val, err) < 0)
            return -1;
    }
    return 0;
}

/* ----------------------------------------------------------- resources */

static int load_resource(struct stack_tmpl *t, json_t *rs, const char *name, json_t *def,
                         struct stack_res *r, struct nubo_err *err)
{
    r->name = xstrdup(name);
    r->wait_timeout_s = 600;
    struct nubo_err verr;
    if (valid_name(name, "resource name", &verr) < 0)
        return fail_at(t, rs, name, 0, err, "%s", verr.msg);
    if (is_param(t, name))
        return fail_at(t, rs, name, 0, err, "'%s' names both a parameter and a resource", name);
    if (!json_is_object(def))
        return fail_at(t, rs, name, 0, err, "resource '%s' must be a mapping with a type", name);
    const char *k;
    json_t *x;
    json_object_foreach (def, k, x) {
        if (strcmp(k, "type") && strcmp(k, "properties") && strcmp(k, "depends_on") &&
            strcmp(k, "wait") && strcmp(k, "wait_timeout"))
            return fail_at(t, def, k, 0, err,
                           "resource '%s': unknown key '%.60s' (type, properties, depends_on, "
                           "wait, wait_timeout)",
                           name, k);
    }
    const char *type = json_string_value(json_object_get(def, "type"));
    if (type == NULL)
        return fail_at(t, rs, name, 0, err, "resource '%s' has no type", name);
    r->type = stack_rtype_find(type);
    if (r->type == NULL) {
        char names[300];
        stack_rtype_names(names, sizeof(names));
        return fail_at(t, def, "type", 0, err, "resource '%s': unknown type '%.60s' (known: %s)",
                       name, type, names);
    }
    json_t *w = json_object_get(def, "wait");
    if (w && !json_is_boolean(w))
        return fail_at(t, def, "wait", 0, err, "resource '%s': wait must be true or false", name);
    r->wait = json_is_true(w);
    w = json_object_get(def, "wait_timeout");
    if (w && (!json_is_integer(w) || json_integer_value(w) < 1 || json_integer_value(w) > 86400))
        return fail_at(t, def, "wait_timeout", 0, err,
                       "resource '%s': wait_timeout must be whole seconds, 1..86400", name);
    if (w)
        r->wait_timeout_s = (int)json_integer_value(w);
    json_t *props = json_object_get(def, "properties");
    if (props == NULL) {
        json_object_set_new(def, "properties", json_object());
        props = json_object_get(def, "properties");
    }
    if (!json_is_object(props))
        return fail_at(t, def, "properties", 0, err, "resource '%s': properties must be a mapping",
                       name);
    r->props = props;
    json_object_foreach (props, k, x) {
        const struct stack_prop *p = stack_rtype_prop(r->type, k);
        if (p == NULL) {
            char known[400] = "";
            size_t len = 0;
            for (const struct stack_prop *q = r->type->props; q->name; q++)
                len += (size_t)snprintf(known + len, len < sizeof(known) ? sizeof(known) - len : 0,
                                        "%s%s", len ? ", " : "", q->name);
            return fail_at(t, props, k, 0, err,
                           "resource '%s': type '%s' has no property '%.60s' (known: %s)", name,
                           type, k, known);
        }
        if (intrinsic(x) == NULL && !json_is_null(x) && !ptype_ok(p->type, x))
            return fail_at(t, props, k, 0, err, "resource '%s': property '%s' must be %s", name, k,
                           ptype_name(p->type));
    }
    for (const struct stack_prop *p = r->type->props; p->name; p++) {
        json_t *v = json_object_get(props, p->name);
        if (p->required && (v == NULL || json_is_null(v))) {
            int line, col;
            bool at_props = stack_marks_find(t->marks, def, "properties", 0, &line, &col) == 0;
            return fail_at(t, at_props ? def : rs, at_props ? "properties" : name, 0, err,
                           "resource '%s': property '%s' is required for type '%s'", name, p->name,
                           type);
        }
    }
    const char *where = NULL;
    if (r->type->check && r->type->check(props, &where, err) < 0) {
        char msg[sizeof(err->msg)];
        str_copy(msg, sizeof(msg), err->msg);
        return fail_at(t, props, where, 0, err, "resource '%s': %s", name, msg);
    }
    struct deps d = {0};
    int rc = check_value(t, def, "properties", 0, props, &d, err);
    json_t *dep = json_object_get(def, "depends_on");
    if (rc == 0 && dep) {
        if (json_is_string(dep)) {
            json_t *one = json_pack("[O]", dep);
            json_object_set_new(def, "depends_on", one);
            dep = one;
        }
        if (!json_is_array(dep)) {
            rc = fail_at(t, def, "depends_on", 0, err,
                         "resource '%s': depends_on must be a list of resource names", name);
        }
        for (size_t i = 0; rc == 0 && i < json_array_size(dep); i++) {
            const char *dn = json_string_value(json_array_get(dep, i));
            if (dn == NULL || json_object_get(rs, dn) == NULL)
                rc = fail_at(t, dep, NULL, i, err,
                             "resource '%s': bad reference in depends_on: no resource '%.80s'",
                             name, dn ? dn : "?");
            else
                deps_add(&d, dn);
        }
    }
    r->deps = d.v;
    r->ndeps = d.n;
    return rc;
}

/* Orders t->res so that dependencies come first; a cycle is an error that
 * names it ("a -> b -> a"). */
static int order(struct stack_tmpl *t, json_t *rs, struct nubo_err *err)
{
    size_t n = t->nres;
    int *state = xcalloc(n, sizeof(int)); /* 0 new, 1 on the path, 2 done */
    size_t *path = xcalloc(n + 1, sizeof(size_t));
    size_t *ord = xcalloc(n, sizeof(size_t));
    size_t *it = xcalloc(n, sizeof(size_t));
    size_t no = 0;
    int rc = 0;
    for (size_t s = 0; s < n && rc == 0; s++) {
        if (state[s])
            continue;
        size_t depth = 0;
        path[depth++] = s;
        state[s] = 1;
        it[s] = 0;
        while (depth && rc == 0) {
            size_t u = path[depth - 1];
            if (it[u] == t->res[u].ndeps) {
                state[u] = 2;
                ord[no++] = u;
                depth--;
                continue;
            }
            const char *dn = t->res[u].deps[it[u]++];
            size_t v = 0;
            while (v < n && strcmp(t->res[v].name, dn) != 0)
                v++;
            if (v == n || state[v] == 2)
                continue;
            if (state[v] == 1) {
                char cyc[400] = "";
                size_t len = 0, from = 0;
                while (path[from] != v)
                    from++;
                for (size_t i = from; i < depth; i++)
                    len += (size_t)snprintf(cyc + len, len < sizeof(cyc) ? sizeof(cyc) - len : 0,
                                            "%s -> ", t->res[path[i]].name);
                snprintf(cyc + (len < sizeof(cyc) ? len : sizeof(cyc) - 1),
                         len < sizeof(cyc) ? sizeof(cyc) - len : 1, "%s", t->res[v].name);
                rc = fail_at(t, rs, t->res[v].name, 0, err, "dependency cycle: %s", cyc);
                break;
            }
            state[v] = 1;
            it[v] = 0;
            path[depth++] = v;
        }
    }
    if (rc == 0) {
        struct stack_res *sorted = xcalloc(n ? n : 1, sizeof(*sorted));
        for (size_t i = 0; i < n; i++)
            sorted[i] = t->res[ord[i]];
        free(t->res);
        t->res = sorted;
    }
    free(state);
    free(path);
    free(ord);
    free(it);
    return rc;
}

static int load_outputs(struct stack_tmpl *t, struct nubo_err *err)
{
    json_t *os = json_object_get(t->doc, "outputs");
    if (os == NULL)
        return 0;
    if (!json_is_object(os))
        return fail_at(t, t->doc, "outputs", 0, err, "outputs must be a mapping");
    t->outputs = os;
    const char *name;
    json_t *o;
    json_object_foreach (os, name, o) {
        if (!json_is_object(o) || json_object_get(o, "value") == NULL)
            return fail_at(t, os, name, 0, err, "output '%s' must be a mapping with a value", name);
        const char *k;
        json_t *x;
        json_object_foreach (o, k, x) {
            if (strcmp(k, "value") && strcmp(k, "description"))
                return fail_at(t, o, k, 0, err,
                               "output '%s': unknown key '%.60s' (value, description)", name, k);
        }
        if (check_value(t, o, "value", 0, json_object_get(o, "value"), NULL, err) < 0)
            return -1;
    }
    return 0;
}

struct stack_tmpl *stack_tmpl_load(const char *text, size_t len, const json_t *param_values,
                                   struct nubo_err *err)
{
    if (len > STACK_MAX_TEMPLATE) {
        nubo_err_set(err, NUBO_E_INVALID, "the template is larger than %d KiB",
                     STACK_MAX_TEMPLATE / 1024);
        return NULL;
    }
    struct stack_tmpl *t = xcalloc(1, sizeof(*t));
    t->doc = stack_yaml_parse(text, len, &t->marks, err);
    if (t->doc == NULL)
        goto fail;
    const char *k;
    json_t *x;
    json_object_foreach (t->doc, k, x) {
        if (strcmp(k, "description") && strcmp(k, "parameters") && strcmp(k, "resources") &&
            strcmp(k, "outputs")) {
            fail_at(t, t->doc, k, 0, err,
                    "unknown top-level key '%.60s' (description, parameters, resources, outputs)",
                    k);
            goto fail;
        }
    }
    if (param_values && !json_is_object(param_values)) {
        nubo_err_set(err, NUBO_E_INVALID, "parameters must be an object of name: value");
        goto fail;
    }
    if (load_params(t, param_values, err) < 0)
        goto fail;
    json_t *rs = json_object_get(t->doc, "resources");
    if (rs == NULL) {
        json_object_set_new(t->doc, "resources", json_object());
        rs = json_object_get(t->doc, "resources");
    }
    if (!json_is_object(rs)) {
        fail_at(t, t->doc, "resources", 0, err, "resources must be a mapping of name: resource");
        goto fail;
    }
    if (json_object_size(rs) > STACK_MAX_RESOURCES) {
        fail_at(t, t->doc, "resources", 0, err, "a template has at most %d resources",
                STACK_MAX_RESOURCES);
        goto fail;
    }
    t->res = xcalloc(json_object_size(rs) + 1, sizeof(*t->res));
    /* Template order: by position in the text (jansson's iteration order is
     * not the document's). */
    const char **names = xcalloc(json_object_size(rs) + 1, sizeof(*names));
    long *pos = xcalloc(json_object_size(rs) + 1, sizeof(*pos));
    size_t n = 0;
    json_object_foreach (rs, k, x) {
        int line = 0, col = 0;
        stack_marks_find(t->marks, rs, k, 0, &line, &col);
        size_t i = n++;
        while (i > 0 && pos[i - 1] > (long)line * 100000 + col) {
            names[i] = names[i - 1];
            pos[i] = pos[i - 1];
            i--;
        }
        names[i] = k;
        pos[i] = (long)line * 100000 + col;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = load_resource(t, rs, names[i], json_object_get(rs, names[i]), &t->res[i], err);
        t->nres = i + 1;
    }
    free(names);
    free(pos);
    if (rc < 0 || order(t, rs, err) < 0 || load_outputs(t, err) < 0)
        goto fail;
    return t;
fail:
    stack_tmpl_free(t);
    return NULL;
}

void stack_tmpl_free(struct stack_tmpl *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nres; i++) {
        free(t->res[i].name);
        for (size_t j = 0; j < t->res[i].ndeps; j++)
            free(t->res[i].deps[j]);
        free(t->res[i].deps);
    }
    free(t->res);
    json_decref(t->params);
    json_decref(t->doc);
    stack_marks_free(t->marks);
    free(t);
}

const struct stack_res *stack_tmpl_res(const struct stack_tmpl *t, const char *name)
{
    for (size_t i = 0; i < t->nres; i++)
        if (strcmp(t->res[i].name, name) == 0)
            return &t->res[i];
    return NULL;
}
