/*
 * ere.c - extended regular expressions: parser, compiler and a Thompson
 * NFA simulation (ere.h says why and what is accepted).
 *
 * The parser builds a tree of at most a few nodes per pattern byte in a
 * fixed arena; its size in instructions is computed (saturating) before
 * anything is emitted, so an expensive pattern is refused without
 * allocating for it.  Counted repetition expands: x{2,4} is x x (x (x)?)?,
 * every optional copy jumping to the common end.  The simulation keeps one
 * list of live instructions per input position; a generation mark per
 * instruction adds each at most once per position, which also makes loops
 * over empty matches (()*) terminate.
 */
#include "lib/ere.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define MAX_NODES (ERE_MAX_LEN * 3 + 8)
#define MAX_CLASSES (ERE_MAX_LEN + 8)

enum node_type { N_EMPTY, N_CLASS, N_BOL, N_EOL, N_CAT, N_ALT, N_REP };

struct node {
    enum node_type type;
    int a, b;     /* children (N_CAT, N_ALT: both; N_REP: a) */
    int min, max; /* N_REP; max -1 = unbounded */
    int cls;      /* N_CLASS: index into the class table */
};

struct cset {
    uint8_t bits[32];
};

enum op { I_CLASS, I_SPLIT, I_JMP, I_BOL, I_EOL, I_MATCH };

struct insn {
    enum op op;
    int x, y;
};

struct ere {
    struct insn *prog;
    int n;
    struct cset *classes;
    int nclasses;
};

struct parser {
    const char *p;
    struct node nodes[MAX_NODES];
    int nnodes;
    struct cset classes[MAX_CLASSES];
    int nclasses;
    int depth;
    struct nubo_err *err;
};

/* ------------------------------------------------------------ classes */

static void cset_add(struct cset *c, unsigned char b)
{
    c->bits[b >> 3] |= (uint8_t)(1u << (b & 7));
}

static bool cset_has(const struct cset *c, unsigned char b)
{
    return c->bits[b >> 3] & (1u << (b & 7));
}

static void cset_invert(struct cset *c)
{
    for (int i = 0; i < 32; i++)
        c->bits[i] = (uint8_t)~c->bits[i];
}

/* The C locale's meaning of a [:name:] class, byte by byte (no <ctype.h>:
 * its answer would depend on the process's locale). */
static bool in_named_class(const char *name, size_t len, int ch)
{
#define IS(s) (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
    bool upper = ch >= 'A' && ch <= 'Z', lower = ch >= 'a' && ch <= 'z';
    bool digit = ch >= '0' && ch <= '9', alpha = upper || lower;
    bool print = ch >= 0x20 && ch < 0x7f;
    if (IS("alpha"))
        return alpha;
    if (IS("digit"))
        return digit;
    if (IS("alnum"))
        return alpha || digit;
    if (IS("upper"))
        return upper;
    if (IS("lower"))
        return lower;
    if (IS("space"))
        return ch == ' ' || (ch >= '\t' && ch <= '\r');
    if (IS("blank"))
        return ch == ' ' || ch == '\t';
    if (IS("punct"))
        return print && ch != ' ' && !alpha && !digit;
    if (IS("xdigit"))
        return digit || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
    if (IS("cntrl"))
        return ch < 0x20 || ch == 0x7f;
    if (IS("print"))
        return print;
    if (IS("graph"))
        return print && ch != ' ';
    return false;
#undef IS
}

static bool known_class(const char *name, size_t len)
{
    static const char *const names[] = {"alpha", "digit", "alnum",  "upper", "lower", "space",
                                        "blank", "punct", "xdigit", "cntrl", "print", "graph"};
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return true;
    return false;
}

static void cset_add_named(struct cset *c, const char *name)
{
    for (int ch = 0; ch < 256; ch++)
        if (in_named_class(name, strlen(name), ch))
            cset_add(c, (unsigned char)ch);
}

/* ------------------------------------------------------------ parser */

static int new_node(struct parser *ps, enum node_type type)
{
    if (ps->nnodes == MAX_NODES) { /* cannot happen within ERE_MAX_LEN */
        nubo_err_set(ps->err, NUBO_E_INVALID, "pattern is too complex");
        return -1;
    }
    struct node *n = &ps->nodes[ps->nnodes];
    memset(n, 0, sizeof(*n));
    n->type = type;
    return ps->nnodes++;
}

static int new_class(struct parser *ps, struct cset **out)
{
    if (ps->nclasses == MAX_CLASSES) {
        nubo_err_set(ps->err, NUBO_E_INVALID, "pattern is too complex");
        return -1;
    }
    int node = new_node(ps, N_CLASS);
    if (node < 0)
        return -1;
    ps->nodes[node].cls = ps->nclasses;
    *out = &ps->classes[ps->nclasses++];
    memset(*out, 0, sizeof(**out));
    return node;
}

static int fail(struct parser *ps, const char *msg)
{
    nubo_err_set(ps->err, NUBO_E_INVALID, "pattern %s", msg);
    return -1;
}

/* One element of a bracket expression at ps->p: a [:class:], [=c=] or
 * [.c.] or a single byte.  Sets *ch to the byte (-1 for a class, already
 * added to c).  Returns 0 or -1. */
static int bracket_elem(struct parser *ps, struct cset *c, int *ch)
{
    const char *p = ps->p;
    if (p[0] == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
        char close[3] = {p[1], ']', 0};
        const char *end = strstr(p + 2, close);
        if (end == NULL)
            return fail(ps, "has a '[' without its closing ']'");
        size_t len = (size_t)(end - (p + 2));
        if (p[1] == ':') {
            if (!known_class(p + 2, len))
                return fail(ps, "names an unknown character class (known: alpha digit alnum "
                                "upper lower space blank punct xdigit cntrl print graph)");
            char name[8];
            snprintf(name, sizeof(name), "%.*s", (int)len, p + 2);
            cset_add_named(c, name);
            *ch = -1;
        } else {
            if (len != 1)
                return fail(ps, "has a collating element of more than one character");
            *ch = (unsigned char)p[2];
        }
        ps->p = end + 2;
        return 0;
    }
    *ch = (unsigned char)*p;
    ps->p++;
    return 0;
}

/* A bracket expression, ps->p just after '['. */
static int parse_bracket(struct parser *ps)
{
    struct cset *c;
    int node = new_class(ps, &c);
    if (node < 0)
        return -1;
    bool negate = *ps->p == '^';
    if (negate)
        ps->p++;
    bool first = true;
    while (*ps->p && (*ps->p != ']' || first)) {
        first = false;
        int lo, hi;
        if (bracket_elem(ps, c, &lo) < 0)
            return -1;
        if (lo >= 0 && ps->p[0] == '-' && ps->p[1] && ps->p[1] != ']') {
            ps->p++;
            if (bracket_elem(ps, c, &hi) < 0)
                return -1;
            if (hi < 0)
                return fail(ps, "has a range that ends in a character class");
            if (hi < lo)
                return fail(ps, "has a range whose end is below its start (write [a-z], not "
                                "[z-a])");
            for (int ch = lo; ch <= hi; ch++)
                cset_add(c, (unsigned char)ch);
        } else if (lo >= 0) {
            cset_add(c, (unsigned char)lo);
        }
    }
    if (*ps->p != ']')
        return fail(ps, "has a '[' without its closing ']'");
    ps->p++;
    if (negate)
        cset_invert(c);
    return node;
}

/* A backslash escape, ps->p on the byte after '\'. */
static int parse_escape(struct parser *ps)
{
    char e = *ps->p;
    if (e == 0)
        return fail(ps, "ends with a lone '\\'");
    if (e >= '1' && e <= '9')
        return fail(ps, "uses a back-reference (\\1 to \\9); they are not supported");
    if (strchr("bB<>`'", e))
        return fail(ps, "uses a word-boundary or buffer anchor (\\b \\B \\< \\> \\` \\'); "
                        "they are not supported");
    ps->p++;
    struct cset *c;
    int node = new_class(ps, &c);
    if (node < 0)
        return -1;
    switch (e) {
    case 'd':
    case 'D':
        cset_add_named(c, "digit");
        break;
    case 'w':
    case 'W':
        cset_add_named(c, "alnum");
        cset_add(c, '_');
        break;
    case 's':
    case 'S':
        cset_add_named(c, "space");
        break;
    default:
        cset_add(c, (unsigned char)e);
        return node;
    }
    if (e == 'D' || e == 'W' || e == 'S')
        cset_invert(c);
    return node;
}

static int parse_alt(struct parser *ps);

static int parse_atom(struct parser *ps)
{
    struct cset *c;
    int node;
    switch (*ps->p) {
    case '(':
        if (ps->depth == ERE_MAX_DEPTH)
            return fail(ps, "nests groups more than 16 deep");
        ps->p++;
        ps->depth++;
        node = parse_alt(ps);
        if (node < 0)
            return -1;
        if (*ps->p != ')')
            return fail(ps, "has a '(' without its ')'");
        ps->p++;
        ps->depth--;
        return node;
    case '*':
    case '+':
    case '?':
    case '{':
        return fail(ps, "has a repetition (*, +, ? or {}) with nothing before it to repeat");
    case '[':
        ps->p++;
        return parse_bracket(ps);
    case '.':
        ps->p++;
        node = new_class(ps, &c);
        if (node >= 0)
            cset_invert(c);
        return node;
    case '^':
        ps->p++;
        return new_node(ps, N_BOL);
    case '$':
        ps->p++;
        return new_node(ps, N_EOL);
    case '\\':
        ps->p++;
        return parse_escape(ps);
    default:
        node = new_class(ps, &c);
        if (node >= 0)
            cset_add(c, (unsigned char)*ps->p++);
        return node;
    }
}

/* Reads a decimal bound (at most 4 digits).  Returns it, or -1. */
static int read_bound(struct parser *ps)
{
    int n = 0, digits = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        if (++digits > 4)
            return -1;
        n = n * 10 + (*ps->p++ - '0');
    }
    return digits ? n : -1;
}

/* A quantifier at ps->p: sets *min and *max (-1 = unbounded). */
static int parse_quant(struct parser *ps, int *min, int *max)
{
    char q = *ps->p++;
    if (q != '{') {
        *min = q == '+';
        *max = q == '?' ? 1 : -1;
        return 0;
    }
    static const char bad[] = "has a '{' that does not start a repetition {m}, {m,} or {m,n} "
                              "(write \\{ for a literal brace)";
    *min = *max = read_bound(ps);
    if (*min < 0)
        return fail(ps, bad);
    if (*ps->p == ',') {
        ps->p++;
        *max = *ps->p == '}' ? -1 : read_bound(ps);
        if (*ps->p != '}' || (*max < 0 && ps->p[-1] != ','))
            return fail(ps, bad);
    }
    if (*ps->p != '}')
        return fail(ps, bad);
    ps->p++;
    if (*min > ERE_MAX_REPEAT || *max > ERE_MAX_REPEAT)
        return fail(ps, "repeats something more than 255 times; use a smaller bound or * / +");
    if (*max >= 0 && *max < *min)
        return fail(ps, "has a repetition {m,n} whose maximum is below its minimum");
    return 0;
}

static int parse_piece(struct parser *ps)
{
    int atom = parse_atom(ps);
    while (atom >= 0 && *ps->p && strchr("*+?{", *ps->p)) {
        enum node_type t = ps->nodes[atom].type;
        if (t == N_BOL || t == N_EOL)
            return fail(ps, "repeats an anchor (^ or $)");
        int min, max;
        if (parse_quant(ps, &min, &max) < 0)
            return -1;
        int rep = new_node(ps, N_REP);
        if (rep < 0)
            return -1;
        ps->nodes[rep].a = atom;
        ps->nodes[rep].min = min;
        ps->nodes[rep].max = max;
        atom = rep;
    }
    return atom;
}

static int parse_cat(struct parser *ps)
{
    int node = new_node(ps, N_EMPTY);
    while (node >= 0 && *ps->p && *ps->p != '|' && *ps->p != ')') {
        int piece = parse_piece(ps);
        if (piece < 0)
            return -1;
        if (ps->nodes[node].type == N_EMPTY) {
            node = piece;
            continue;
        }
        int cat = new_node(ps, N_CAT);
        if (cat < 0)
            return -1;
        ps->nodes[cat].a = node;
        ps->nodes[cat].b = piece;
        node = cat;
    }
    return node;
}

static int parse_alt(struct parser *ps)
{
    int node = parse_cat(ps);
    while (node >= 0 && *ps->p == '|') {
        ps->p++;
        int right = parse_cat(ps);
        if (right < 0)
            return -1;
        int alt = new_node(ps, N_ALT);
        if (alt < 0)
            return -1;
        ps->nodes[alt].a = node;
        ps->nodes[alt].b = right;
        node = alt;
    }
    return node;
}

/* ------------------------------------------------------------ compiler */

#define SAT (ERE_MAX_PROG + 1L)

static long sat(long v)
{
    return v > SAT ? SAT : v;
}

/* The number of instructions node compiles to, saturating above the limit. */
static long prog_size(const struct parser *ps, int i)
{
    const struct node *n = &ps->nodes[i];
    switch (n->type) {
    case N_EMPTY:
        return 0;
    case N_CLASS:
    case N_BOL:
    case N_EOL:
        return 1;
    case N_CAT:
        return sat(prog_size(ps, n->a) + prog_size(ps, n->b));
    case N_ALT:
        return sat(prog_size(ps, n->a) + prog_size(ps, n->b) + 2);
    case N_REP: {
        long s = prog_size(ps, n->a);
        long fixed = sat(s * n->min);
        long more = n->max < 0 ? s + 2 : sat((long)(n->max - n->min) * (s + 1));
        return sat(fixed + more);
    }
    }
    return SAT;
}

static void emit_node(const struct parser *ps, struct ere *re, int i)
{
    const struct node *n = &ps->nodes[i];
    struct insn *p = re->prog;
    switch (n->type) {
    case N_EMPTY:
        return;
    case N_CLASS:
        p[re->n++] = (struct insn){I_CLASS, n->cls, 0};
        return;
    case N_BOL:
        p[re->n++] = (struct insn){I_BOL, 0, 0};
        return;
    case N_EOL:
        p[re->n++] = (struct insn){I_EOL, 0, 0};
        return;
    case N_CAT:
        emit_node(ps, re, n->a);
        emit_node(ps, re, n->b);
        return;
    case N_ALT: {
        int split = re->n++;
        emit_node(ps, re, n->a);
        int jmp = re->n++;
        p[split] = (struct insn){I_SPLIT, split + 1, re->n};
        emit_node(ps, re, n->b);
        p[jmp] = (struct insn){I_JMP, re->n, 0};
        return;
    }
    case N_REP: {
        for (int k = 0; k < n->min; k++)
            emit_node(ps, re, n->a);
        if (n->max < 0) {
            int split = re->n++;
            emit_node(ps, re, n->a);
            p[re->n] = (struct insn){I_JMP, split, 0};
            re->n++;
            p[split] = (struct insn){I_SPLIT, split + 1, re->n};
            return;
        }
        int first = re->n;
        for (int k = n->min; k < n->max; k++) {
            int split = re->n++;
            p[split] = (struct insn){I_SPLIT, split + 1, -1}; /* y: the end, below */
            emit_node(ps, re, n->a);
        }
        for (int k = first; k < re->n; k++)
            if (p[k].op == I_SPLIT && p[k].y == -1)
                p[k].y = re->n;
        return;
    }
    }
}

struct ere *ere_compile(const char *pattern, struct nubo_err *err)
{
    if (pattern == NULL || strlen(pattern) > ERE_MAX_LEN) {
        nubo_err_set(err, NUBO_E_INVALID, "pattern must be a string of at most %d bytes",
                     ERE_MAX_LEN);
        return NULL;
    }
    struct parser *ps = xcalloc(1, sizeof(*ps));
    ps->p = pattern;
    ps->err = err;
    struct ere *re = NULL;
    int root = parse_alt(ps);
    if (root >= 0 && *ps->p == ')') {
        fail(ps, "has a ')' without its '('");
        root = -1;
    }
    if (root < 0)
        goto cleanup;
    long size = prog_size(ps, root) + 1; /* + MATCH */
    if (size > ERE_MAX_PROG) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "pattern is too expensive: its repetitions expand it beyond %d steps; use "
                     "smaller or fewer nested repetition bounds",
                     ERE_MAX_PROG);
        goto cleanup;
    }
    re = xcalloc(1, sizeof(*re));
    re->prog = xcalloc((size_t)size, sizeof(*re->prog));
    emit_node(ps, re, root);
    re->prog[re->n++] = (struct insn){I_MATCH, 0, 0};
    re->nclasses = ps->nclasses;
    re->classes = xcalloc((size_t)(ps->nclasses ? ps->nclasses : 1), sizeof(*re->classes));
    memcpy(re->classes, ps->classes, (size_t)ps->nclasses * sizeof(*re->classes));
cleanup:
    free(ps);
    return re;
}

/* ------------------------------------------------------------ matching */

struct list {
    int *pc;
    int n;
};

/* Adds pc and everything reachable from it without consuming a byte to l,
 * each instruction once per generation (mark). */
static void add_thread(const struct ere *re, struct list *l, size_t *mark, size_t gen, int *stack,
                       int pc, size_t pos, size_t len)
{
    int top = 0;
    stack[top++] = pc;
    while (top > 0) {
        pc = stack[--top];
        if (mark[pc] == gen)
            continue;
        mark[pc] = gen;
        const struct insn *in = &re->prog[pc];
        switch (in->op) {
        case I_JMP:
            stack[top++] = in->x;
            break;
        case I_SPLIT:
            stack[top++] = in->y;
            stack[top++] = in->x;
            break;
        case I_BOL:
            if (pos == 0)
                stack[top++] = pc + 1;
            break;
        case I_EOL:
            if (pos == len)
                stack[top++] = pc + 1;
            break;
        case I_CLASS:
        case I_MATCH:
            l->pc[l->n++] = pc;
            break;
        }
    }
}

bool ere_match_whole(const struct ere *re, const char *s, size_t n)
{
    size_t m = (size_t)re->n;
    int *buf = xcalloc(4 * m + 2, sizeof(int)); /* two lists, and a stack of 2m + 2 */
    size_t *mark = xcalloc(m, sizeof(*mark));
    struct list cur = {buf, 0}, next = {buf + m, 0};
    int *stack = buf + 2 * m;
    size_t gen = 1;
    add_thread(re, &cur, mark, gen, stack, 0, 0, n);
    for (size_t pos = 0; pos < n && cur.n > 0; pos++) {
        unsigned char ch = (unsigned char)s[pos];
        next.n = 0;
        gen++;
        for (int i = 0; i < cur.n; i++) {
            const struct insn *in = &re->prog[cur.pc[i]];
            if (in->op == I_CLASS && cset_has(&re->classes[in->x], ch))
                add_thread(re, &next, mark, gen, stack, cur.pc[i] + 1, pos + 1, n);
        }
        struct list t = cur;
        cur = next;
        next = t;
    }
    bool matched = false;
    for (int i = 0; i < cur.n && !matched; i++)
        matched = re->prog[cur.pc[i]].op == I_MATCH;
    free(buf);
    free(mark);
    return matched;
}

void ere_free(struct ere *re)
{
    if (re == NULL)
        return;
    free(re->prog);
    free(re->classes);
    free(re);
}
