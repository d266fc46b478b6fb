/*
 * fuzz_ere.c - libFuzzer target: any pattern a tenant puts in a stack
 * parameter's constraints is refused with a message or compiled, and any
 * subject is matched without crash, leak or hang (the matcher is linear in
 * the subject).  Input: the pattern up to the first newline, the subject
 * after it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ere.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *pat = malloc(plen + 1);
    if (pat == NULL)
        return 0;
    memcpy(pat, data, plen);
    pat[plen] = 0;
    struct nubo_err err;
    struct ere *re = ere_compile(pat, &err);
    if (re == NULL) {
        if (err.code != NUBO_E_INVALID || strncmp(err.msg, "pattern ", 8) != 0)
            abort();
    } else {
        const char *subj = nl ? (const char *)nl + 1 : "";
        size_t slen = nl ? size - plen - 1 : 0;
        bool a = ere_match_whole(re, subj, slen);
        if (a != ere_match_whole(re, subj, slen))
            abort();
        ere_free(re);
    }
    free(pat);
    return 0;
}
