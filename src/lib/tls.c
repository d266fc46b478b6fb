/*
 * tls.c - see tls.h.
 */
#include "lib/tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/dynbuf.h"
#include "lib/fsutil.h"
#include "lib/inet.h"
#include "lib/spawn.h"
#include "lib/util.h"
#include "lib/valid.h"

#define CERTTOOL_TIMEOUT_MS 60000

/* Runs certtool with args (NULL-terminated).  0 or -1 with err. */
static int certtool(const char *const *args, struct nubo_err *err)
{
    char *argv[16] = {"certtool"};
    size_t n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    if (spawn_run(argv, CERTTOOL_TIMEOUT_MS, 8192, NULL, err) == 0)
        return 0;
    return nubo_err_set(err, NUBO_E_UNAVAILABLE,
                        "cannot make the TLS certificates: %s (certtool comes with Debian's"
                        " gnutls-bin: apt-get install gnutls-bin)",
                        err->msg);
}

/* A template file for certtool at path.  0 or -1. */
static int write_template(const char *path, const char *text, struct nubo_err *err)
{
    return fs_write_atomic(path, text, strlen(text), 0600, err);
}

/* Makes the key at path when it is missing. */
static int make_key(const char *path, struct nubo_err *err)
{
    if (fs_exists(path))
        return 0;
    const char *args[] = {"--generate-privkey", "--key-type", "ecdsa", "--curve",
                          "secp256r1",          "--outfile",  path,    NULL};
    return certtool(args, err);
}

/* The names, one a line: what server.pem was made for. */
static void names_text(const char *const *names, size_t n, struct dynbuf *b)
{
    for (size_t i = 0; i < n; i++)
        dynbuf_printf(b, "%s\n", names[i]);
}

int tls_auto(const char *dir, const char *const *names, size_t n, struct nubo_err *err)
{
    char ca_key[PATH_MAX], ca[PATH_MAX], key[PATH_MAX], cert[PATH_MAX], tmpl[PATH_MAX],
        made[PATH_MAX];
    snprintf(ca_key, sizeof(ca_key), "%s/ca-key.pem", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(key, sizeof(key), "%s/server-key.pem", dir);
    snprintf(cert, sizeof(cert), "%s/server.pem", dir);
    snprintf(tmpl, sizeof(tmpl), "%s/certtool.tmpl", dir);
    snprintf(made, sizeof(made), "%s/server.names", dir);
    for (size_t i = 0; i < n; i++)
        if (strchr(names[i], '"') || strchr(names[i], '\n') || strlen(names[i]) > 253)
            return nubo_err_set(err, NUBO_E_INVALID, "'%.64s' is no name for a certificate",
                                names[i]);
    if (fs_mkdir_p(dir, 0700, err) < 0)
        return -1;
    char host[256] = "nubo";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    if (!fs_exists(ca)) {
        char text[512];
        snprintf(text, sizeof(text),
                 "cn = \"nubo CA %.64s\"\nca\ncert_signing_key\ncrl_signing_key\n"
                 "expiration_days = 3650\n",
                 host);
        const char *args[] = {"--generate-self-signed",
                              "--load-privkey",
                              ca_key,
                              "--template",
                              tmpl,
                              "--outfile",
                              ca,
                              NULL};
        if (make_key(ca_key, err) < 0 || write_template(tmpl, text, err) < 0 ||
            certtool(args, err) < 0)
            return -1;
        unlink(cert); /* a new CA: a new server certificate */
    }
    struct dynbuf want = DYNBUF_INIT(64 * 1024);
    names_text(names, n, &want);
    size_t len = 0;
    char *had = fs_exists(made) ? fs_read_file(made, 64 * 1024, &len, NULL) : NULL;
    bool same = had && fs_exists(cert) && len == dynbuf_len(&want) &&
                memcmp(had, dynbuf_str(&want), len) == 0;
    free(had);
    int rc = 0;
    if (!same) {
        struct dynbuf t = DYNBUF_INIT(64 * 1024);
        dynbuf_printf(&t, "cn = \"%s\"\n", n > 0 ? names[0] : host);
        for (size_t i = 0; i < n; i++) {
            uint32_t ip;
            bool is_ip = inet_ipv4_parse(names[i], &ip) == 0;
            dynbuf_printf(&t, "%s = \"%s\"\n", is_ip ? "ip_address" : "dns_name", names[i]);
        }
        dynbuf_printf(&t, "tls_www_server\nsigning_key\nexpiration_days = 825\n");
        const char *args[] = {"--generate-certificate",
                              "--load-privkey",
                              key,
                              "--load-ca-certificate",
                              ca,
                              "--load-ca-privkey",
                              ca_key,
                              "--template",
                              tmpl,
                              "--outfile",
                              cert,
                              NULL};
        if (dynbuf_error(&t) || dynbuf_error(&want))
            rc = nubo_err_set(err, NUBO_E_INVALID, "too many names for a certificate");
        else if (make_key(key, err) < 0 || write_template(tmpl, dynbuf_str(&t), err) < 0 ||
                 certtool(args, err) < 0 ||
                 fs_write_atomic(made, dynbuf_str(&want), dynbuf_len(&want), 0600, err) < 0)
            rc = -1;
        dynbuf_free(&t);
    }
    dynbuf_free(&want);
    unlink(tmpl);
    return rc;
}

int tls_pin(const char *cert, char *out, size_t n, struct nubo_err *err)
{
    char *argv[] = {"certtool", "--certificate-info", "--infile", (char *)cert, NULL};
    char *text = NULL;
    if (spawn_run(argv, CERTTOOL_TIMEOUT_MS, 64 * 1024, &text, err) < 0) {
        free(text);
        return -1;
    }
    const char *p = strstr(text, "pin-sha256:");
    size_t len =
        p ? strspn(p + 11, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") : 0;
    int rc = 0;
    if (len != 44 || (size_t)snprintf(out, n, "sha256//%.44s", p + 11) >= n)
        rc = nubo_err_set(err, NUBO_E_INTERNAL, "no public key pin in certtool's view of %s", cert);
    free(text);
    return rc;
}

int tls_load(const char *cert, const char *key, char **cert_pem, char **key_pem,
             struct nubo_err *err)
{
    *cert_pem = *key_pem = NULL;
    char *c = fs_read_file(cert, 1 << 20, NULL, err);
    if (c == NULL)
        return nubo_err_set(err, NUBO_E_INVALID, "cannot read the TLS certificate %s: %s", cert,
                            err->msg);
    char *k = fs_read_file(key, 1 << 20, NULL, err);
    if (k == NULL) {
        free(c);
        return nubo_err_set(err, NUBO_E_INVALID, "cannot read the TLS key %s: %s", key, err->msg);
    }
    if (strstr(c, "-----BEGIN CERTIFICATE-----") == NULL || strstr(k, "PRIVATE KEY-----") == NULL) {
        free(c);
        explicit_bzero(k, strlen(k));
        free(k);
        return nubo_err_set(err, NUBO_E_INVALID,
                            "%s must hold a PEM certificate and %s a PEM private key", cert, key);
    }
    *cert_pem = c;
    *key_pem = k;
    return 0;
}
