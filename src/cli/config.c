/*
 * config.c - see config.h.
 *
 * The file is small and read once per command.  Permissions are checked on
 * the descriptor that is read (fstat), not by name before opening, so a file
 * swapped in between cannot slip through.
 */
#include "cli/config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/util.h"

#define CONFIG_DIR_MODE 0700
#define CONFIG_FILE_MODE 0600

/* The directory that holds config.json, into out. */
static int config_dir(char *out, size_t n, struct nubo_err *err)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int len;
    /* The XDG spec: a relative XDG_CONFIG_HOME is invalid and ignored. */
    if (xdg && xdg[0] == '/')
        len = snprintf(out, n, "%s/nubo", xdg);
    else if (home && home[0] == '/')
        len = snprintf(out, n, "%s/.config/nubo", home);
    else
        return nubo_err_set(err, NUBO_E_INVALID,
                            "cannot tell where to keep the login: set HOME or XDG_CONFIG_HOME");
    if (len < 0 || (size_t)len >= n)
        return nubo_err_set(err, NUBO_E_INVALID, "the config directory's path is too long");
    return 0;
}

int config_path(char *out, size_t n, struct nubo_err *err)
{
    char dir[PATH_MAX - 16];
    if (config_dir(dir, sizeof(dir), err) < 0)
        return -1;
    int len = snprintf(out, n, "%s/config.json", dir);
    if (len < 0 || (size_t)len >= n)
        return nubo_err_set(err, NUBO_E_INVALID, "the config file's path is too long");
    return 0;
}

void config_set(char **member, const char *value)
{
    free(*member);
    *member = value ? xstrdup(value) : NULL;
}

void config_clear(struct config *cfg)
{
    if (cfg->token) {
        explicit_bzero(cfg->token, strlen(cfg->token));
        free(cfg->token);
    }
    free(cfg->url);
    free(cfg->token_id);
    free(cfg->user);
    free(cfg->project);
    free(cfg->expires_at);
    free(cfg->ca_file);
    memset(cfg, 0, sizeof(*cfg));
}

/* Reads the open config file fd (at most CONFIG_FILE_MAX bytes). */
static char *config_read_fd(int fd, const char *path, struct nubo_err *err)
{
    size_t len = 0;
    char *buf = xmalloc(CONFIG_FILE_MAX + 1);
    for (;;) {
        ssize_t r = read(fd, buf + len, CONFIG_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            nubo_err_set(err, NUBO_E_INTERNAL, "cannot read %s: %s", path, strerror(errno));
            free(buf);
            return NULL;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > CONFIG_FILE_MAX) {
            nubo_err_set(err, NUBO_E_TOOLARGE, "%s is larger than %d KiB: not a nubo config", path,
                         CONFIG_FILE_MAX / 1024);
            free(buf);
            return NULL;
        }
    }
    buf[len] = '\0';
    return buf;
}

/* Copies the string member key of o into *member (absent or not a string:
 * NULL). */
static void member_get(const json_t *o, const char *key, char **member)
{
    config_set(member, json_string_value(json_object_get(o, key)));
}

int config_load(struct config *cfg, bool *found, struct nubo_err *err)
{
    char path[PATH_MAX];
    int rc = -1;
    char *buf = NULL;
    json_t *root = NULL;
    struct stat st;

    memset(cfg, 0, sizeof(*cfg));
    *found = false;
    if (config_path(path, sizeof(path), err) < 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot read %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        nubo_err_set(err, NUBO_E_INVALID, "%s is not a regular file", path);
        goto cleanup;
    }
    if ((buf = config_read_fd(fd, path, err)) == NULL)
        goto cleanup;
    json_error_t jerr;
    root = json_loads(buf, 0, &jerr);
    if (!json_is_object(root)) {
        nubo_err_set(err, NUBO_E_INVALID,
                     "%s is not a nubo config (%s, line %d); remove it and run 'nubo login'", path,
                     root ? "not a JSON object" : jerr.text, jerr.line);
        goto cleanup;
    }
    member_get(root, "url", &cfg->url);
    member_get(root, "token", &cfg->token);
    member_get(root, "token_id", &cfg->token_id);
    member_get(root, "user", &cfg->user);
    member_get(root, "project", &cfg->project);
    member_get(root, "expires_at", &cfg->expires_at);
    member_get(root, "ca_file", &cfg->ca_file);
    if (cfg->token && (st.st_mode & 077) != 0) {
        nubo_err_set(err, NUBO_E_FORBIDDEN,
                     "%s holds a token but others may read it (mode %03o): run 'chmod 600 %s' "
                     "if nobody else did, else 'nubo login' again",
                     path, (unsigned)(st.st_mode & 0777), path);
        goto cleanup;
    }
    *found = true;
    rc = 0;
cleanup:
    close(fd);
    if (buf) {
        explicit_bzero(buf, strlen(buf));
        free(buf);
    }
    json_decref(root);
    if (rc < 0)
        config_clear(cfg);
    return rc;
}

/* Adds "key": value to o unless value is NULL. */
static void member_put(json_t *o, const char *key, const char *value)
{
    if (value)
        json_object_set_new(o, key, json_string(value));
}

int config_save(const struct config *cfg, struct nubo_err *err)
{
    char dir[PATH_MAX - 16], path[PATH_MAX];
    int rc = -1;
    char *text = NULL;
    struct stat st;
    json_t *root = json_object();

    if (config_dir(dir, sizeof(dir), err) < 0 || config_path(path, sizeof(path), err) < 0)
        goto cleanup;
    if (fs_mkdir_p(dir, CONFIG_DIR_MODE, err) < 0)
        goto cleanup;
    /* An existing directory may have been made by hand with a wider mode;
     * it is ours, and it is about to hold a secret. */
    if (stat(dir, &st) == 0 && (st.st_mode & 077) != 0 && chmod(dir, CONFIG_DIR_MODE) < 0) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot make %s private (chmod 700): %s", dir,
                     strerror(errno));
        goto cleanup;
    }
    member_put(root, "url", cfg->url);
    member_put(root, "token", cfg->token);
    member_put(root, "token_id", cfg->token_id);
    member_put(root, "user", cfg->user);
    member_put(root, "project", cfg->project);
    member_put(root, "expires_at", cfg->expires_at);
    member_put(root, "ca_file", cfg->ca_file);
    text = json_dumps(root, JSON_INDENT(2));
    if (text == NULL) {
        nubo_err_set(err, NUBO_E_INTERNAL, "cannot encode the config as JSON");
        goto cleanup;
    }
    size_t len = strlen(text);
    /* fs_write_atomic() creates the new file with this mode before any byte
     * goes in, so the token is never readable by others, not even briefly. */
    char *with_nl = xmalloc(len + 2);
    memcpy(with_nl, text, len);
    with_nl[len] = '\n';
    with_nl[len + 1] = '\0';
    rc = fs_write_atomic(path, with_nl, len + 1, CONFIG_FILE_MODE, err);
    explicit_bzero(with_nl, len + 1);
    free(with_nl);
cleanup:
    if (text) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    json_decref(root);
    return rc;
}
