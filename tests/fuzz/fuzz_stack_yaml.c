/*
 * fuzz_stack_yaml.c - libFuzzer target: any template text a tenant sends
 * to /v1/stacks is rejected cleanly (an error with a line and a column)
 * or parsed into JSON whose every member has its position in the marks;
 * it never crashes, leaks or hangs.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stack/stack_int.h"

/* Every member and element of v must have a mark at line >= 1. */
static void walk(const struct stack_marks *m, const json_t *v)
{
    int line, col;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach ((json_t *)v, k, c) {
            if (stack_marks_find(m, v, k, 0, &line, &col) < 0 || line < 1 || col < 1)
                abort();
            walk(m, c);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach (v, i, c) {
            if (stack_marks_find(m, v, NULL, i, &line, &col) < 0 || line < 1 || col < 1)
                abort();
            walk(m, c);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct stack_marks *marks = NULL;
    struct nubo_err err;
    json_t *doc = stack_yaml_parse((const char *)data, size, &marks, &err);
    if (doc == NULL) {
        /* a located, non-empty message */
        if (err.code != NUBO_E_INVALID || err.msg[0] == '\0')
            abort();
    } else {
        walk(marks, doc);
        json_decref(doc);
    }
    stack_marks_free(marks);
    return 0;
}
