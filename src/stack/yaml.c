/*
 * yaml.c - templates from YAML (or JSON, which is YAML) into jansson, with
 * the line and column of every node kept in a side table.
 *
 * libyaml's event parser drives a small recursive builder.  Plain scalars
 * are typed the way YAML 1.2's core schema does (null, true/false,
 * integers, floats, else a string); quoted scalars are always strings.
 * Aliases are refused (they make documents that expand exponentially), as
 * are duplicate keys, more than one document and nesting deeper than
 * STACK_YAML_DEPTH.
 *
 * A mark is stored per (container, key or index) rather than per json_t *
 * because jansson shares its null/true/false singletons between documents.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "lib/util.h"
#include "stack/stack_int.h"

#define STACK_YAML_DEPTH 64

struct stack_mark {
    const json_t *parent;
    char *key;    /* NULL for an array element */
    size_t index; /* for an array element */
    int line, col;
};

struct stack_marks {
    struct stack_mark *v;
    size_t n, cap;
};

void stack_marks_free(struct stack_marks *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].key);
    free(m->v);
    free(m);
}

static void mark_add(struct stack_marks *m, const json_t *parent, const char *key, size_t index,
                     const yaml_mark_t *ym)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct stack_mark *v = realloc(m->v, cap * sizeof(*v));
        if (v == NULL)
            abort();
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = (struct stack_mark){parent, key ? xstrdup(key) : NULL, index, (int)ym->line + 1,
                                       (int)ym->column + 1};
}

int stack_marks_find(const struct stack_marks *m, const json_t *parent, const char *key,
                     size_t index, int *line, int *col)
{
    if (m == NULL)
        return -1;
    for (size_t i = 0; i < m->n; i++) {
        const struct stack_mark *k = &m->v[i];
        if (k->parent != parent)
            continue;
        if (key ? (k->key && strcmp(k->key, key) == 0) : (!k->key && k->index == index)) {
            *line = k->line;
            *col = k->col;
            return 0;
        }
    }
    return -1;
}

struct builder {
    yaml_parser_t p;
    struct stack_marks *marks;
    struct nubo_err *err;
};

static int fail_at(struct builder *b, const yaml_mark_t *m, const char *what)
{
    return nubo_err_set(b->err, NUBO_E_INVALID, "line %d, column %d: %s", (int)m->line + 1,
                        (int)m->column + 1, what);
}

static int next(struct builder *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->p, ev)) {
        const char *problem = b->p.problem ? b->p.problem : "cannot parse";
        yaml_mark_t m = b->p.problem_mark;
        return nubo_err_set(b->err, NUBO_E_INVALID, "line %d, column %d: bad YAML: %s%s%s",
                            (int)m.line + 1, (int)m.column + 1, problem, b->p.context ? " " : "",
                            b->p.context ? b->p.context : "");
    }
    return 0;
}

/* YAML 1.2 core schema typing of a plain scalar. */
static json_t *plain_scalar(const char *s, size_t len)
{
    if (len == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
        strcmp(s, "NULL") == 0)
        return json_null();
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        return json_true();
    if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
        return json_false();
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end == '\0' && errno == 0 && end != s && strspn(s, "+-0123456789") == len)
        return json_integer(v);
    if (strspn(s, "+-0123456789.eE") == len && strpbrk(s, "0123456789")) {
        errno = 0;
        double d = strtod(s, &end);
        if (*end == '\0' && errno == 0 && isfinite(d))
            return json_real(d);
    }
    return json_stringn(s, len);
}

static json_t *build(struct builder *b, yaml_event_t *ev, int depth);

/* Builds the value starting with the next event. */
static json_t *build_next(struct builder *b, int depth, yaml_mark_t *start)
{
    yaml_event_t ev;
    if (next(b, &ev) < 0)
        return NULL;
    *start = ev.start_mark;
    json_t *v = build(b, &ev, depth);
    yaml_event_delete(&ev);
    return v;
}

static json_t *build(struct builder *b, yaml_event_t *ev, int depth)
{
    if (depth > STACK_YAML_DEPTH) {
        fail_at(b, &ev->start_mark, "nested too deeply");
        return NULL;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        fail_at(b, &ev->start_mark, "YAML aliases (*name) are not supported in templates");
        return NULL;
    case YAML_SCALAR_EVENT: {
        const char *s = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (strlen(s) != len) {
            fail_at(b, &ev->start_mark, "a NUL character in a string");
            return NULL;
        }
        json_t *v = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? plain_scalar(s, len)
                                                                     : json_stringn(s, len);
        if (v == NULL)
            fail_at(b, &ev->start_mark, "a string that is not valid UTF-8");
        return v;
    }
    case YAML_SEQUENCE_START_EVENT: {
        json_t *arr = json_array();
        for (;;) {
            yaml_event_t e;
            if (next(b, &e) < 0)
                goto fail_arr;
            if (e.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&e);
                return arr;
            }
            mark_add(b->marks, arr, NULL, json_array_size(arr), &e.start_mark);
            json_t *item = build(b, &e, depth + 1);
            yaml_event_delete(&e);
            if (item == NULL)
                goto fail_arr;
            json_array_append_new(arr, item);
        }
    fail_arr:
        json_decref(arr);
        return NULL;
    }
    case YAML_MAPPING_START_EVENT: {
        json_t *obj = json_object();
        for (;;) {
            yaml_event_t k;
            if (next(b, &k) < 0)
                goto fail_obj;
            if (k.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&k);
                return obj;
            }
            if (k.type != YAML_SCALAR_EVENT) {
                fail_at(b, &k.start_mark, "a mapping key must be a plain string");
                yaml_event_delete(&k);
                goto fail_obj;
            }
            char *key = xstrdup((const char *)k.data.scalar.value);
            yaml_mark_t km = k.start_mark;
            yaml_event_delete(&k);
            if (json_object_get(obj, key)) {
                char msg[200];
                snprintf(msg, sizeof(msg), "duplicate key '%.80s'", key);
                fail_at(b, &km, msg);
                free(key);
                goto fail_obj;
            }
            mark_add(b->marks, obj, key, 0, &km);
            yaml_mark_t vm;
            json_t *val = build_next(b, depth + 1, &vm);
            if (val == NULL) {
                free(key);
                goto fail_obj;
            }
            json_object_set_new(obj, key, val);
            free(key);
        }
    fail_obj:
        json_decref(obj);
        return NULL;
    }
    default:
        fail_at(b, &ev->start_mark, "unexpected YAML structure");
        return NULL;
    }
}

json_t *stack_yaml_parse(const char *text, size_t len, struct stack_marks **marks_out,
                         struct nubo_err *err)
{
    struct builder b = {.err = err};
    json_t *doc = NULL;
    yaml_event_t ev;
    *marks_out = NULL;
    if (!yaml_parser_initialize(&b.p)) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot start the YAML parser");
        return NULL;
    }
    b.marks = xcalloc(1, sizeof(*b.marks));
    yaml_parser_set_input_string(&b.p, (const unsigned char *)text, len);
    /* stream start, document start */
    if (next(&b, &ev) < 0)
        goto fail;
    yaml_event_delete(&ev);
    if (next(&b, &ev) < 0)
        goto fail;
    if (ev.type != YAML_DOCUMENT_START_EVENT) {
        yaml_event_delete(&ev);
        nubo_err_set(err, NUBO_E_INVALID, "line 1, column 1: the template is empty");
        goto fail;
    }
    yaml_event_delete(&ev);
    yaml_mark_t start;
    doc = build_next(&b, 0, &start);
    if (doc == NULL)
        goto fail;
    if (!json_is_object(doc)) {
        fail_at(&b, &start, "a template must be a mapping (parameters, resources, outputs)");
        goto fail;
    }
    if (next(&b, &ev) < 0) /* document end */
        goto fail;
    yaml_event_delete(&ev);
    if (next(&b, &ev) < 0)
        goto fail;
    if (ev.type != YAML_STREAM_END_EVENT) {
        fail_at(&b, &ev.start_mark, "a template is one YAML document");
        yaml_event_delete(&ev);
        goto fail;
    }
    yaml_event_delete(&ev);
    yaml_parser_delete(&b.p);
    *marks_out = b.marks;
    return doc;
fail:
    json_decref(doc);
    yaml_parser_delete(&b.p);
    stack_marks_free(b.marks);
    return NULL;
}
