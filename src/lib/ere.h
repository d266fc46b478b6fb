/*
 * ere.h - POSIX extended regular expressions from untrusted input, matched
 * in time linear in the subject and memory linear in the pattern.
 *
 * Why not regcomp(): glibc expands counted repetition by copying the
 * repeated subexpression and builds epsilon closures over the copies, so
 * `((a{1,70}){1,70}){1,70}` takes hundreds of MiB in one request, and even
 * a pattern of 1,000 expanded atoms such as
 * `(((a*b*c*d*e*f*g*h*i*j*){1,10}){1,10})` takes 240 MiB (measured on
 * glibc 2.36).  A tenant supplies these (a stack parameter's
 * `constraints.pattern`), so nubo compiles them itself: a recursive-descent
 * parser builds a tree, which is compiled to a program of at most
 * ERE_MAX_PROG instructions, run as a Thompson NFA simulation (Pike's VM
 * without captures): every input byte advances each live state once, so a
 * match costs O(len(subject) x program) time and O(program) memory, whatever
 * the pattern.
 *
 * Syntax: POSIX ERE in the C locale, byte by byte: literals, `.`, bracket
 * expressions with ranges, negation and [:classes:] ([=c=] and [.c.] for
 * single bytes), groups, `|`, `*`, `+`, `?`, `{m}`, `{m,}`, `{m,n}` (bounds
 * at most ERE_MAX_REPEAT), `^` and `$` as assertions, `\` quoting the next
 * byte.  As GNU and most users expect: `\d \D \w \W \s \S`.  Refused, with a
 * message saying why: back-references (exponential to match), word
 * boundaries, patterns longer than ERE_MAX_LEN, groups nested deeper than
 * ERE_MAX_DEPTH, and patterns whose program exceeds ERE_MAX_PROG.
 */
#ifndef NUBO_LIB_ERE_H
#define NUBO_LIB_ERE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

#define ERE_MAX_LEN 256
#define ERE_MAX_REPEAT 255
#define ERE_MAX_DEPTH 16
#define ERE_MAX_PROG 4096

struct ere;

/* Compiles pattern.  Returns the program (the caller frees it with
 * ere_free()), or NULL with err (NUBO_E_INVALID) saying what is wrong in
 * words a template author can act on. */
struct ere *ere_compile(const char *pattern, struct nubo_err *err);

/* True when the whole of s[0..n) matches (as if the pattern were written
 * ^(pattern)$).  Time O(n x program size); no allocation beyond two state
 * lists sized by the program, made once here. */
bool ere_match_whole(const struct ere *re, const char *s, size_t n);

/* Frees re (NULL is fine). */
void ere_free(struct ere *re);

#endif
