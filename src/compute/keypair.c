/*
 * keypair.c - SSH public keys a project can put into its instances.
 *
 * A keypair is named per project and holds one OpenSSH public key line,
 * "TYPE BASE64 [COMMENT]", as found in ~/.ssh/id_*.pub.  The key is
 * checked before it is stored: a known type, a blob that decodes, and a
 * blob whose structure (RFC 4253 section 6.6 and the OpenSSH PROTOCOL
 * files: a list of uint32-length-prefixed strings starting with the type)
 * matches the type, so that a typo is caught here and not when an instance
 * refuses the login.  The fingerprint is the one `ssh-keygen -l` prints:
 * "SHA256:" and the unpadded base64 of the SHA-256 of the blob.
 */
#include "compute/compute.h"
#include "compute/compute_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "lib/clock.h"
#include "lib/util.h"
#include "lib/valid.h"

#define KEY_LINE_MAX 16384
#define KEY_BLOB_MAX 8192

#define KEYPAIR_COLUMNS "k.id, k.name, k.public_key, k.fingerprint, k.created_at"

/* Key types and how many SSH strings their blob holds (type included). */
static const struct {
    const char *type;
    int strings;
} key_types[] = {
    {"ssh-ed25519", 2},         /* type, key */
    {"ssh-rsa", 3},             /* type, e, n */
    {"ecdsa-sha2-nistp256", 3}, /* type, curve, Q */
    {"ecdsa-sha2-nistp384", 3},
    {"ecdsa-sha2-nistp521", 3},
    {"sk-ssh-ed25519@openssh.com", 3},         /* type, key, application */
    {"sk-ecdsa-sha2-nistp256@openssh.com", 4}, /* type, curve, Q, application */
};

/* Splits blob into SSH strings: up to max of them, in str[]/len[].
 * Returns how many, or -1 when the blob is not a sequence of strings. */
static int ssh_strings(const unsigned char *blob, size_t n, const unsigned char *str[],
                       size_t len[], int max)
{
    size_t off = 0;
    int k = 0;
    while (off < n) {
        if (k == max || n - off < 4)
            return -1;
        uint32_t l = (uint32_t)blob[off] << 24 | (uint32_t)blob[off + 1] << 16 |
                     (uint32_t)blob[off + 2] << 8 | blob[off + 3];
        off += 4;
        if (l > n - off)
            return -1;
        str[k] = blob + off;
        len[k] = l;
        k++;
        off += l;
    }
    return k;
}

/* Bits of an SSH mpint (big-endian, maybe a leading zero byte). */
static size_t mpint_bits(const unsigned char *p, size_t n)
{
    while (n > 0 && *p == 0) {
        p++;
        n--;
    }
    if (n == 0)
        return 0;
    size_t bits = n * 8;
    for (unsigned char top = *p; !(top & 0x80); top = (unsigned char)(top << 1))
        bits--;
    return bits;
}

/* Checks the decoded blob against the key type (index into key_types). */
static int blob_check(size_t t, const unsigned char *blob, size_t n, struct nubo_err *err)
{
    const unsigned char *str[5];
    size_t len[5];
    const char *type = key_types[t].type;
    int k = ssh_strings(blob, n, str, len, 5);
    if (k < 1 || len[0] != strlen(type) || memcmp(str[0], type, len[0]) != 0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "public_key: the base64 data is not a %s key (was the line cut or "
                            "edited?)",
                            type);
    if (k != key_types[t].strings)
        return nubo_err_set(err, NUBO_E_INVALID, "public_key: the %s key data is malformed", type);
    if (strstr(type, "ed25519") && len[1] != 32)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "public_key: an ed25519 key is 32 bytes, this one is %zu", len[1]);
    if (strcmp(type, "ssh-rsa") == 0 && mpint_bits(str[2], len[2]) < 1024)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "public_key: the RSA key has %zu bits; OpenSSH refuses keys under "
                            "1024 bits (make one with ssh-keygen -t ed25519)",
                            mpint_bits(str[2], len[2]));
    if (strstr(type, "ecdsa")) {
        /* "ecdsa-sha2-nistpNNN" and its sk- variant carry "nistpNNN". */
        const char *curve = strstr(type, "nistp");
        size_t cl = strcspn(curve, "@");
        if (len[1] != cl || memcmp(str[1], curve, cl) != 0)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "public_key: the key's curve does not match its type %s", type);
    }
    return 0;
}

int compute_keypair_fingerprint(const char *key, char *fp, size_t n, struct nubo_err *err)
{
    unsigned char *blob = NULL;
    int rc = -1;
    size_t kl = strlen(key);
    if (kl == 0)
        return nubo_err_set(
            err, NUBO_E_INVALID,
            "public_key must not be empty: paste the line of ~/.ssh/id_ed25519.pub");
    if (kl > KEY_LINE_MAX)
        return nubo_err_set(err, NUBO_E_INVALID, "public_key is longer than %d characters",
                            KEY_LINE_MAX);
    for (const char *p = key; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return nubo_err_set(err, NUBO_E_INVALID,
                                "public_key must be one line, as in ~/.ssh/id_ed25519.pub "
                                "(\"TYPE BASE64 [COMMENT]\")");
    size_t tl = strcspn(key, " \t");
    size_t t = 0;
    while (t < ARRAY_LEN(key_types) &&
           !(strlen(key_types[t].type) == tl && strncmp(key, key_types[t].type, tl) == 0))
        t++;
    if (t == ARRAY_LEN(key_types))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "public_key must start with the key type: ssh-ed25519, ssh-rsa, "
                            "ecdsa-sha2-nistp256/384/521 or sk-ssh-ed25519@openssh.com / "
                            "sk-ecdsa-sha2-nistp256@openssh.com (an OpenSSH one-line public key, "
                            "not a PEM or PuTTY file)");
    const char *b64 = key + tl + strspn(key + tl, " \t");
    size_t bl = strcspn(b64, " \t");
    if (bl == 0)
        return nubo_err_set(err, NUBO_E_INVALID, "public_key has no key data after its type");
    blob = xmalloc(KEY_BLOB_MAX);
    size_t blen = 0;
    const char *end = NULL;
    if (sodium_base642bin(blob, KEY_BLOB_MAX, b64, bl, NULL, &blen, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b64 + bl) {
        nubo_err_set(err, NUBO_E_INVALID, "public_key: the key data is not valid base64");
        goto cleanup;
    }
    if (blob_check(t, blob, blen, err) < 0)
        goto cleanup;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, blob, blen);
    char enc[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
                                       sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
    sodium_bin2base64(enc, sizeof(enc), h, sizeof(h), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    int w = snprintf(fp, n, "SHA256:%s", enc);
    if (w < 0 || (size_t)w >= n) {
        nubo_err_set(err, NUBO_E_INTERNAL, "fingerprint buffer too small");
        goto cleanup;
    }
    rc = 0;
cleanup:
    free(blob);
    return rc;
}

json_t *compute_keypair_list(struct store *st, const struct ctx *ctx, int limit, const char *marker,
                             struct nubo_err *err)
{
    struct store_page pg = {.marker = marker, .limit = limit};
    if (store_page_start(st, &pg, err,
                         "SELECT k.created_at FROM keypairs k WHERE k.id = ? AND k.project_id = ?",
                         "ss", marker, ctx->project_id) < 0)
        return NULL;
    return store_page_query(st, &pg, "k.created_at, k.id", err,
                            "SELECT " KEYPAIR_COLUMNS " FROM keypairs k WHERE k.project_id = ?",
                            "s", ctx->project_id);
}

json_t *compute_keypair_create(struct store *st, const struct ctx *ctx, const char *name,
                               const char *public_key, struct nubo_err *err)
{
    char fp[64], id[37], now[32];
    if (valid_name(name, "keypair name", err) < 0)
        return NULL;
    if (public_key == NULL)
        public_key = "";
    /* Keep the line as given, without the newline a pasted file brings. */
    size_t n = strlen(public_key);
    while (n > 0 && (public_key[n - 1] == '\n' || public_key[n - 1] == '\r' ||
                     public_key[n - 1] == ' ' || public_key[n - 1] == '\t'))
        n--;
    char *line = xmalloc(n + 1);
    memcpy(line, public_key, n);
    line[n] = '\0';
    json_t *out = NULL;
    if (compute_keypair_fingerprint(line, fp, sizeof(fp), err) < 0)
        goto cleanup;
    id_new(id);
    clock_stamp(now);
    /* The count and the insert in one write transaction: the quota. */
    if (store_begin(st, true, err) < 0)
        goto cleanup;
    if (compute_quota_check(st, ctx->project_id, QUOTA_KEYPAIRS, err) < 0)
        goto rollback;
    if (store_exec(st, err,
                   "INSERT INTO keypairs (id, project_id, name, public_key, fingerprint,"
                   " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                   "ssssss", id, ctx->project_id, name, line, fp, now) < 0) {
        if (err->code == NUBO_E_CONFLICT)
            nubo_err_set(err, NUBO_E_CONFLICT,
                         "a keypair named '%s' already exists in this project", name);
        goto rollback;
    }
    if (store_commit(st, err) < 0)
        goto rollback;
    out = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "name", name, "public_key", line,
                    "fingerprint", fp, "created_at", now);
    goto cleanup;
rollback:
    store_rollback(st);
cleanup:
    free(line);
    return out;
}

json_t *compute_keypair_get(struct store *st, const struct ctx *ctx, const char *name,
                            struct nubo_err *err)
{
    struct nubo_err qerr = {0};
    json_t *row = store_query_one(st, &qerr,
                                  "SELECT " KEYPAIR_COLUMNS " FROM keypairs k WHERE k.name = ?"
                                  " AND k.project_id = ?",
                                  "ss", name, ctx->project_id);
    if (row == NULL)
        compute_notfound(err, &qerr, "keypair", name, " in this project");
    return row;
}

int compute_keypair_delete(struct store *st, const struct ctx *ctx, const char *name,
                           struct nubo_err *err)
{
    long long n = store_exec(st, err, "DELETE FROM keypairs WHERE name = ? AND project_id = ?",
                             "ss", name, ctx->project_id);
    if (n < 0)
        return -1;
    if (n == 0)
        return nubo_err_set(err, NUBO_E_NOTFOUND, "no keypair '%.64s' in this project", name);
    return 0;
}
