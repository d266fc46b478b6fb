/*
 * crypto.h - secrets and hashes, on libsodium.
 *
 * Passwords are hashed with argon2id (crypto_pwhash_str, interactive
 * limits).  Bearer tokens, API keys and join tokens are random 32-byte
 * secrets shown to their owner once and stored only as SHA-256 digests.
 */
#ifndef NUBO_CRYPTO_H
#define NUBO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

#define CRYPTO_PWHASH_LEN 128 /* >= crypto_pwhash_STRBYTES */
#define CRYPTO_SECRET_LEN 64  /* a prefix of up to 20 characters + 43 base64url + NUL */
#define CRYPTO_SHA256_HEX 65

/* Must run once before threads start.  Returns -1 when libsodium fails. */
int crypto_init(struct nubo_err *err);

/* Hashes a password (argon2id).  Returns 0 or -1 (out of memory). */
int crypto_password_hash(const char *password, char out[CRYPTO_PWHASH_LEN], struct nubo_err *err);

/* True when password matches a hash made by crypto_password_hash. */
bool crypto_password_verify(const char *hash, const char *password);

/* A new random secret: prefix + 43 base64url characters (256 bits). */
void crypto_secret_new(const char *prefix, char *out, size_t n);

/* SHA-256 of data as lowercase hex. */
void crypto_sha256_hex(const void *data, size_t len, char out[CRYPTO_SHA256_HEX]);

/* SHA-256 of a file as lowercase hex.  Returns -1 with err. */
int crypto_sha256_file(const char *path, char out[CRYPTO_SHA256_HEX], long long *size,
                       struct nubo_err *err);

#endif
