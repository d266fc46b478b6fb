/*
 * config.h - where `nubo` keeps its login to the controller: the file
 * $XDG_CONFIG_HOME/nubo/config.json (~/.config/nubo/config.json when
 * XDG_CONFIG_HOME is unset or not absolute), written by `nubo login`,
 * emptied of its token by `nubo logout`.
 *
 * The file is JSON:
 *
 *   {"url": "http://127.0.0.1:7700", "token": "nubo_...",
 *    "token_id": "<uuid>", "user": "alice", "project": "demo",
 *    "expires_at": "2026-11-27T03:41:26.874Z"}
 *
 * Only "url" is required; a logged-out file keeps "url" and "user" so the
 * next `nubo login` needs neither.  The token is a secret: the directory is
 * created 0700, the file is written atomically with mode 0600, and a file
 * that others can read is refused (like ssh does with keys) rather than
 * used.  Unknown members are ignored, so newer versions can add some.
 */
#ifndef NUBO_CLI_CONFIG_H
#define NUBO_CLI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

/* The largest config file read. */
#define CONFIG_FILE_MAX (64 * 1024)

/* A login.  Every member is a malloc'd string or NULL, owned by the struct
 * and freed by config_clear(). */
struct config {
    char *url;        /* the controller, "http://ADDR:PORT" */
    char *token;      /* bearer token, or NULL when logged out */
    char *token_id;   /* its id, for revoking it */
    char *user;       /* user name */
    char *project;    /* project name the token is scoped to */
    char *expires_at; /* RFC 3339 */
    char *ca_file;    /* the CA to verify an https:// controller with (absolute), or NULL */
};

/* Writes the config file's path into out (n bytes).  Returns -1 with err
 * when neither XDG_CONFIG_HOME nor HOME says where it is, or it is too
 * long. */
int config_path(char *out, size_t n, struct nubo_err *err);

/* Reads the config file into cfg (which is zeroed first; the caller clears
 * it with config_clear()).  A missing file is not an error: *found is then
 * false and cfg empty.  Fails (-1 with err) when the file cannot be read,
 * is not a JSON object, or can be read by others than its owner. */
int config_load(struct config *cfg, bool *found, struct nubo_err *err);

/* Writes cfg to the config file atomically (mode 0600), creating its
 * directory (0700) first.  NULL members are left out. */
int config_save(const struct config *cfg, struct nubo_err *err);

/* Frees the members of cfg (the token is wiped first) and zeroes it. */
void config_clear(struct config *cfg);

/* Replaces *member with a copy of value (NULL frees it): a helper for
 * filling a struct config. */
void config_set(char **member, const char *value);

#endif
