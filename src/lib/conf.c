/*
 * conf.c - see conf.h.
 */
#include "lib/conf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "lib/fsutil.h"

#define CONF_MAX_BYTES (256 * 1024)

/* The option of opts named name (len bytes), or NULL. */
static const struct option *conf_find(const struct option *opts, const char *name, size_t len)
{
    for (const struct option *o = opts; o->name != NULL; o++)
        if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Appends the arguments of one line (number lineno of path) to out. */
static int conf_line(const char *path, int lineno, char *line, const struct option *opts,
                     struct strv *out, struct nubo_err *err)
{
    line = trim(line);
    if (line[0] == '\0' || line[0] == '#')
        return 0;
    char *eq = strchr(line, '=');
    char *name = line, *value = NULL;
    if (eq != NULL) {
        *eq = '\0';
        value = trim(eq + 1);
        size_t vn = strlen(value);
        if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
            value[vn - 1] = '\0';
            value++;
        }
    }
    name = trim(name);
    const struct option *o = conf_find(opts, name, strlen(name));
    if (o == NULL || strcmp(name, "help") == 0 || strcmp(name, "version") == 0 ||
        strcmp(name, "config") == 0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "%s:%d: unknown setting '%s' (the settings are the long options"
                            " of --help, without their dashes)",
                            path, lineno, name);
    if (o->has_arg == no_argument && value != NULL)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "%s:%d: '%s' takes no value (write the name alone)", path, lineno,
                            name);
    if (o->has_arg == required_argument && value == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "%s:%d: '%s' needs a value: %s = VALUE", path,
                            lineno, name, name);
    if (value != NULL)
        strv_push(out, "--%s=%s", name, value);
    else
        strv_push(out, "--%s", name);
    return 0;
}

/* Appends the arguments of the file path to out. */
static int conf_file(const char *path, const struct option *opts, struct strv *out,
                     struct nubo_err *err)
{
    size_t len;
    char *text = fs_read_file(path, CONF_MAX_BYTES, &len, err);
    if (text == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "cannot read the configuration file %s: %s", path,
                            err->msg);
    if (memchr(text, '\0', len) != NULL) {
        free(text);
        return nubo_err_set(err, NUBO_E_INVALID, "%s is not a text file", path);
    }
    int lineno = 0, rc = 0;
    for (char *line = text, *next; line != NULL && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        rc = conf_line(path, lineno, line, opts, out, err);
    }
    free(text);
    return rc;
}

int conf_argv(int argc, char **argv, const struct option *opts, struct strv *out,
              struct nubo_err *err)
{
    const char *path = NULL;
    int skip = -1, skip_n = 0; /* the --config argument(s) in argv */
    for (int i = 1; i < argc && path == NULL; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return nubo_err_set(err, NUBO_E_INVALID,
                                    "--config needs a file, e.g. --config /etc/nubo/nubod.conf");
            path = argv[i + 1];
            skip = i;
            skip_n = 2;
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
            skip = i;
            skip_n = 1;
        }
    }
    strv_add(out, argc > 0 ? argv[0] : "nubo");
    if (path != NULL && conf_file(path, opts, out, err) < 0) {
        strv_free(out);
        return -1;
    }
    for (int i = 1; i < argc; i++)
        if (i < skip || i >= skip + skip_n)
            strv_add(out, argv[i]);
    return 0;
}
