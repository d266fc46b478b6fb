/*
 * crypto.c - see crypto.h.
 */
#include "lib/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int crypto_init(struct nubo_err *err)
{
    if (sodium_init() < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "libsodium failed to initialize");
    return 0;
}

int crypto_password_hash(const char *password, char out[CRYPTO_PWHASH_LEN], struct nubo_err *err)
{
    if (crypto_pwhash_str(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "cannot hash the password (out of memory)");
    return 0;
}

bool crypto_password_verify(const char *hash, const char *password)
{
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

void crypto_secret_new(const char *prefix, char *out, size_t n)
{
    unsigned char raw[32];
    char b64[64];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(out, n, "%s%s", prefix, b64);
    sodium_memzero(raw, sizeof(raw));
}

void crypto_sha256_hex(const void *data, size_t len, char out[CRYPTO_SHA256_HEX])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out, CRYPTO_SHA256_HEX, h, sizeof(h));
}

int crypto_sha256_file(const char *path, char out[CRYPTO_SHA256_HEX], long long *size,
                       struct nubo_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nubo_err_set(err, errno == ENOENT ? NUBO_E_NOTFOUND : NUBO_E_INTERNAL,
                            "cannot read %s: %s", path, strerror(errno));
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char buf[65536];
    long long total = 0;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return nubo_err_set(err, NUBO_E_INTERNAL, "cannot read %s: %s", path, strerror(errno));
        }
        if (r == 0)
            break;
        crypto_hash_sha256_update(&st, buf, (unsigned long long)r);
        total += r;
    }
    close(fd);
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(out, CRYPTO_SHA256_HEX, h, sizeof(h));
    if (size)
        *size = total;
    return 0;
}
