/*
 * routes_web.c - serves the web portal's files (see web.h and
 * docs/internals/portal.md).
 *
 * What answers what (GET only; every path under /v1 stays the API's):
 *   /                              index.html
 *   /<page>, /instances/<id>,      index.html too: the portal routes on the
 *   /admin/<page>, /admin/<p>/<id> client (history API), so a reload or a
 *                                  bookmark of any view works
 *   /<name>.<ext>                  that file at the top of the web directory
 *                                  (favicon.svg, robots.txt), else 404
 *   /assets/<name>.<ext>           that file under assets/: names carry a
 *                                  hash of the content, so they are cached
 *                                  for a year as immutable
 *
 * Path safety.  The dispatcher has checked every path parameter against
 * [A-Za-z0-9._-] (no '/', no '%', no NUL: escapes are decoded before
 * matching); here a file name must also start with a letter or a digit,
 * which rules out ".", ".." and hidden files.  The file is opened with
 * O_NOFOLLOW and must be a regular file of at most WEB_MAX_FILE bytes.  A
 * request can therefore name nothing outside the web directory.
 *
 * Headers.  Every answer, files and errors alike, carries a strict
 * Content-Security-Policy (everything from 'self' only: no inline script or
 * style, no eval, no plugins, no framing), X-Content-Type-Options: nosniff,
 * Referrer-Policy: no-referrer and X-Frame-Options: DENY (frame-ancestors
 * for browsers that predate it).  Pages are "no-cache" (a new build shows
 * at the next load); hashed assets are immutable.  When the build left a
 * gzip'd sibling (name.gz, scripts/build-web.sh) and the client accepts
 * gzip, the sibling is sent with Content-Encoding: gzip.
 *
 * The portal holds no secret and logs in through the API with a bearer
 * token (never a cookie), so these routes are public and need no CSRF
 * defence: a cross-site page can make the browser fetch them, but gets
 * nothing it could not download itself.
 */
#include "api/web.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define WEB_MAX_FILE (16 << 20) /* bytes; the bundles are a few hundred KiB */

static const char csp[] = "default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self'; font-src 'self'; connect-src 'self'; "
                          "manifest-src 'self'; object-src 'none'; base-uri 'none'; "
                          "form-action 'self'; frame-ancestors 'none'";

/* Set once by web_set_dir() before the server starts, read-only after. */
static char web_dir[PATH_MAX];

int web_set_dir(const char *dir)
{
    char index[PATH_MAX + 16];
    str_copy(web_dir, sizeof(web_dir), dir ? dir : "");
    snprintf(index, sizeof(index), "%s/index.html", web_dir);
    struct stat sb;
    return web_dir[0] && stat(index, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* ------------------------------------------------------------ answers */

static void security_headers(struct http_resp *resp, const char *cache)
{
    http_resp_header(resp, "Content-Security-Policy", csp);
    http_resp_header(resp, "X-Content-Type-Options", "nosniff");
    http_resp_header(resp, "Referrer-Policy", "no-referrer");
    http_resp_header(resp, "X-Frame-Options", "DENY");
    http_resp_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    http_resp_header(resp, "Cache-Control", cache);
}

static void web_fail(struct api_call *call, enum nubo_errcode code, const char *msg)
{
    struct nubo_err err;
    nubo_err_set(&err, code, "%s", msg);
    api_fail(call, &err);
    security_headers(call->resp, "no-store");
}

struct mime {
    const char *ext;
    const char *type;
    int gzip; /* worth compressing: the build leaves a .gz beside it */
};

static const struct mime mimes[] = {
    {"html", "text/html; charset=utf-8", 1},
    {"js", "text/javascript; charset=utf-8", 1},
    {"css", "text/css; charset=utf-8", 1},
    {"svg", "image/svg+xml", 1},
    {"json", "application/json", 1},
    {"webmanifest", "application/manifest+json", 1},
    {"txt", "text/plain; charset=utf-8", 1},
    {"map", "application/json", 1},
    {"png", "image/png", 0},
    {"ico", "image/x-icon", 0},
    {"woff2", "font/woff2", 0},
};

/* The type of a file by its extension; unknown ones are octet-stream
 * (with nosniff, a browser will not run them as anything). */
static const struct mime *mime_of(const char *name)
{
    static const struct mime other = {"", "application/octet-stream", 0};
    const char *dot = strrchr(name, '.');
    if (dot == NULL)
        return &other;
    for (size_t i = 0; i < ARRAY_LEN(mimes); i++)
        if (strcmp(dot + 1, mimes[i].ext) == 0)
            return &mimes[i];
    return &other;
}

/* A file name the portal may serve: [A-Za-z0-9][A-Za-z0-9._-]* and never
 * "..".  (The dispatcher allowed only [A-Za-z0-9._-] already.) */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= 80 || strstr(s, "..") != NULL)
        return 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* True when the client's Accept-Encoding admits gzip (and not as q=0). */
static int accepts_gzip(const char *ae)
{
    while (ae && *ae) {
        while (*ae == ' ' || *ae == ',')
            ae++;
        size_t len = strcspn(ae, ",");
        size_t tok = strcspn(ae, ";,");
        size_t t = tok;
        while (t > 0 && ae[t - 1] == ' ')
            t--;
        if (t == 4 && strncasecmp(ae, "gzip", 4) == 0) {
            const char *q = ae + tok;
            const char *end = ae + len;
            /* "gzip;q=0", "gzip; q=0.0" refuse it */
            while (q < end && (*q == ';' || *q == ' '))
                q++;
            if (q + 2 <= end && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
                double v = strtod(q + 2, NULL);
                return v > 0;
            }
            return 1;
        }
        ae += len;
    }
    return 0;
}

/* Reads the regular file at path (no symlink at its last component) into a
 * malloc'd, NUL-terminated buffer owned by the caller.  Returns NULL with
 * errno (ENOENT for anything that is not a regular file, EFBIG past the
 * cap). */
static char *read_regular(const char *path, size_t *len)
{
    char *buf = NULL;
    int saved = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            errno = ENOENT;
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        saved = errno;
        goto cleanup;
    }
    if (!S_ISREG(sb.st_mode)) {
        saved = ENOENT;
        goto cleanup;
    }
    if (sb.st_size > WEB_MAX_FILE) {
        saved = EFBIG;
        goto cleanup;
    }
    size_t want = (size_t)sb.st_size, got = 0;
    buf = xmalloc(want + 1);
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            saved = r == 0 ? EIO : errno; /* EIO: it shrank, a build replacing it */
            free(buf);
            buf = NULL;
            goto cleanup;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    *len = got;
cleanup:
    close(fd);
    errno = saved;
    return buf;
}

/* Answers with the file rel (relative to the web directory), its gzip'd
 * sibling when there is one and the client takes it. */
static void send_file(struct api_call *call, const char *rel, const char *cache)
{
    const struct mime *m = mime_of(rel);
    char path[PATH_MAX + 128];
    char *body = NULL;
    size_t len = 0;
    int gz = 0;
    if (web_dir[0] == '\0') {
        web_fail(call, NUBO_E_NOTFOUND,
                 "this nubod serves no portal (start it with --web-dir DIR)");
        return;
    }
    if (m->gzip && accepts_gzip(http_req_header(call->req, "Accept-Encoding"))) {
        snprintf(path, sizeof(path), "%s/%s.gz", web_dir, rel);
        body = read_regular(path, &len);
        gz = body != NULL;
    }
    if (body == NULL) {
        snprintf(path, sizeof(path), "%s/%s", web_dir, rel);
        body = read_regular(path, &len);
    }
    if (body == NULL) {
        if (errno != ENOENT)
            log_warn("portal: cannot read %s: %s", path, strerror(errno));
        if (strcmp(rel, "index.html") == 0)
            web_fail(call, NUBO_E_NOTFOUND,
                     "the portal is not built: run scripts/build-web.sh, or start nubod with"
                     " --web-dir pointing at a built portal");
        else
            web_fail(call, NUBO_E_NOTFOUND, "no such file");
        return;
    }
    struct http_resp *resp = call->resp;
    free(resp->body);
    resp->body = body;
    resp->body_len = len;
    resp->status = 200;
    resp->content_type = m->type;
    security_headers(resp, cache);
    if (m->gzip)
        http_resp_header(resp, "Vary", "Accept-Encoding");
    if (gz)
        http_resp_header(resp, "Content-Encoding", "gzip");
}

/* ------------------------------------------------------------- routes */

/* A view of the portal: the client renders it from index.html. */
static void get_page(struct api_call *call)
{
    send_file(call, "index.html", "no-cache");
}

/* /<page>: a view, or a file at the top of the web directory. */
static void get_top(struct api_call *call)
{
    const char *p = call->params[0];
    if (strcmp(p, "v1") == 0 || strcmp(p, "assets") == 0 || !name_ok(p)) {
        web_fail(call, NUBO_E_NOTFOUND, "no such resource");
        return;
    }
    if (strchr(p, '.') == NULL) {
        get_page(call);
        return;
    }
    if (strcmp(p, "index.html") == 0) {
        get_page(call);
        return;
    }
    send_file(call, p, "no-cache");
}

static void get_asset(struct api_call *call)
{
    char rel[128];
    if (!name_ok(call->params[0])) {
        web_fail(call, NUBO_E_NOTFOUND, "no such file");
        return;
    }
    snprintf(rel, sizeof(rel), "assets/%s", call->params[0]);
    send_file(call, rel, "public, max-age=31536000, immutable");
}

const struct route web_routes[] = {
    {"GET", "/", AUTHZ_PUBLIC, NULL, get_page, 0},
    {"GET", "/{page}", AUTHZ_PUBLIC, NULL, get_top, 0},
    {"GET", "/assets/{file}", AUTHZ_PUBLIC, NULL, get_asset, 0},
    {"GET", "/instances/{id}", AUTHZ_PUBLIC, NULL, get_page, 0},
    {"GET", "/admin/{page}", AUTHZ_PUBLIC, NULL, get_page, 0},
    {"GET", "/admin/{page}/{id}", AUTHZ_PUBLIC, NULL, get_page, 0},
    {NULL, NULL, 0, NULL, NULL, 0},
};
