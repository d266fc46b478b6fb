/*
 * tls.h - TLS material for nubod's API: a private certificate authority and
 * a server certificate made on first start (nubod --tls-auto), with
 * certtool from Debian's gnutls-bin, and PEM files read for the server.
 * docs/internals/operations.md ("TLS").
 */
#ifndef NUBO_LIB_TLS_H
#define NUBO_LIB_TLS_H

#include <stddef.h>

#include "lib/err.h"

/* Makes in dir (created 0700) when missing: ca-key.pem and ca.pem (a CA
 * valid 10 years, "nubo CA <hostname>"), server-key.pem and server.pem (a
 * server certificate signed by it, valid 825 days, for names: DNS names or
 * IPv4 addresses).  Keys are ECDSA P-256, mode 0600.  A server certificate
 * made for other names than these is made again; the CA is kept (clients
 * that trust it keep working).  0 or -1 with err. */
int tls_auto(const char *dir, const char *const *names, size_t n, struct nubo_err *err);

/* The pin of the public key of the PEM certificate at cert, as libcurl's
 * CURLOPT_PINNEDPUBLICKEY takes it: "sha256//<base64 of the SHA-256 of the
 * key's SubjectPublicKeyInfo>" (certtool --certificate-info).  0 or -1. */
int tls_pin(const char *cert, char *out, size_t n, struct nubo_err *err);

/* Reads the PEM files cert and key (at most 1 MiB each) into *cert_pem
 * and *key_pem (malloc'd; the caller frees, the key after zeroing it).
 * Checks they look like a certificate and a private key.  0 or -1. */
int tls_load(const char *cert, const char *key, char **cert_pem, char **key_pem,
             struct nubo_err *err);

#endif
