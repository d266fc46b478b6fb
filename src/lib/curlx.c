/*
 * curlx.c - see curlx.h.
 */
#include "lib/curlx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/util.h"

void curlx_resp_init(struct curlx_resp *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    dynbuf_init(&r->body, cap);
    r->console_offset = -1;
}

void curlx_resp_free(struct curlx_resp *r)
{
    size_t cap = r->body.cap;
    dynbuf_free(&r->body);
    curlx_resp_init(r, cap);
}

size_t curlx_write_cb(char *data, size_t size, size_t nmemb, void *dynbuf)
{
    size_t len = size * nmemb; /* curl guarantees size == 1 */
    if (dynbuf_add(dynbuf, data, len) < 0)
        return 0;
    return len;
}

/* The value of header `name` ("X-Request-Id:") in one header line, without
 * blanks and the line end, copied into out; false when the line is another
 * header or the value does not fit. */
static bool header_value(const char *data, size_t len, const char *name, char *out, size_t n)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(data, name, nlen) != 0)
        return false;
    const char *v = data + nlen;
    size_t vlen = len - nlen;
    while (vlen > 0 && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (vlen >= n)
        return false;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return true;
}

size_t curlx_header_cb(char *data, size_t size, size_t nmemb, void *resp)
{
    struct curlx_resp *r = resp;
    size_t len = size * nmemb;
    char value[128];
    if (header_value(data, len, "X-Console-Offset:", value, sizeof(value))) {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno == 0 && end != value && *end == '\0' && v >= 0)
            r->console_offset = v;
    } else if (header_value(data, len, "X-Request-Id:", value, sizeof(value))) {
        /* Shown in messages: keep it printable. */
        for (char *p = value; *p; p++)
            if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7E)
                *p = '?';
        str_copy(r->request_id, sizeof(r->request_id), value);
    }
    return len;
}

size_t curlx_read_cb(char *buf, size_t size, size_t nitems, void *upload)
{
    struct curlx_upload *u = upload;
    size_t want = size * nitems;
    long long left = u->size - u->sent;
    if (left <= 0)
        return 0;
    if ((long long)want > left)
        want = (size_t)left;
    size_t got = fread(buf, 1, want, u->f);
    if (got == 0) {
        /* The file shrank or cannot be read: a short body must not pass
         * for a whole one. */
        u->failed = true;
        u->errnum = ferror(u->f) ? errno : 0;
        return CURL_READFUNC_ABORT;
    }
    u->sent += (long long)got;
    return got;
}

void curlx_setup(CURL *h, const struct curlx_cfg *cfg)
{
    curl_easy_setopt(h, CURLOPT_URL, cfg->url);
    if (cfg->unix_socket)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, cfg->unix_socket);
    if (cfg->protocols)
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, cfg->protocols);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (cfg->connect_timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
    if (cfg->timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
    if (cfg->errbuf) {
        cfg->errbuf[0] = '\0';
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cfg->errbuf);
    }
    if (cfg->resp) {
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curlx_write_cb);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &cfg->resp->body);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, curlx_header_cb);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, cfg->resp);
    }
}

int curlx_url(const char *address, const char *path, char *url, size_t n, const char **unix_socket)
{
    int w;
    *unix_socket = NULL;
    if (address == NULL)
        return -1;
    if (strncmp(address, "unix:", 5) == 0) {
        *unix_socket = address + 5;
        w = snprintf(url, n, "http://localhost%s", path);
    } else if (strncmp(address, "http://", 7) == 0) {
        size_t l = strlen(address);
        while (l > 7 && address[l - 1] == '/')
            l--;
        w = snprintf(url, n, "%.*s%s", (int)l, address, path);
    } else {
        return -1;
    }
    return w < 0 || (size_t)w >= n ? -1 : 0;
}
