/*
 * test_dynbuf.c - unit tests of src/lib/dynbuf.c (the capped byte buffer),
 * src/lib/strv.c (argv vectors) and the libcurl callbacks of
 * src/lib/curlx.c that need no network (body into a capped buffer,
 * headers, upload reads), called as libcurl calls them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/curlx.h"
#include "lib/dynbuf.h"
#include "lib/strv.h"

static void test_empty(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 16);
    CHECK_STR_EQ(dynbuf_str(&b), "");
    CHECK(dynbuf_ptr(&b) == NULL);
    CHECK_INT_EQ(dynbuf_len(&b), 0);
    CHECK_INT_EQ(dynbuf_room(&b), 16);
    /* zero-length adds are fine, and leave a NUL-terminated buffer */
    CHECK_INT_EQ(dynbuf_add(&b, NULL, 0), 0);
    CHECK_INT_EQ(dynbuf_add_str(&b, ""), 0);
    CHECK_INT_EQ(dynbuf_printf(&b, "%s", ""), 0);
    CHECK_INT_EQ(dynbuf_len(&b), 0);
    CHECK_STR_EQ(dynbuf_str(&b), "");
    size_t len = 99;
    char *s = dynbuf_take(&b, &len);
    CHECK_STR_EQ(s, "");
    CHECK_INT_EQ(len, 0);
    free(s);
    dynbuf_free(&b);
    dynbuf_free(NULL);
    /* a zeroed buffer has cap 0: it takes nothing */
    struct dynbuf z = {0};
    CHECK_INT_EQ(dynbuf_add(&z, "x", 1), -1);
    CHECK_INT_EQ(errno, E2BIG);
    dynbuf_free(&z);
}

static void test_growth(void)
{
    struct dynbuf b = DYNBUF_INIT(1 << 20);
    char expect[10000];
    for (int i = 0; i < 10000; i++) {
        char c = (char)('a' + i % 26);
        expect[i] = c;
        if (!CHECK_INT_EQ(dynbuf_add(&b, &c, 1), 0))
            break;
    }
    CHECK_INT_EQ(dynbuf_len(&b), 10000);
    CHECK(memcmp(dynbuf_str(&b), expect, 10000) == 0);
    CHECK_INT_EQ(dynbuf_str(&b)[10000], '\0');
    CHECK(b.alloc <= 2 * 10001);
    /* one large add past several doublings */
    char *big = malloc(300000);
    memset(big, 'z', 300000);
    CHECK_INT_EQ(dynbuf_add(&b, big, 300000), 0);
    CHECK_INT_EQ(dynbuf_len(&b), 310000);
    CHECK_INT_EQ(dynbuf_str(&b)[309999], 'z');
    free(big);
    dynbuf_free(&b);
    CHECK_INT_EQ(dynbuf_len(&b), 0);
    CHECK_INT_EQ(b.cap, 1 << 20);
}

static void test_cap(void)
{
    struct dynbuf b = DYNBUF_INIT(10);
    CHECK_INT_EQ(dynbuf_add_str(&b, "12345"), 0);
    CHECK_INT_EQ(dynbuf_add_str(&b, "67890"), 0); /* exactly the cap */
    CHECK_INT_EQ(dynbuf_room(&b), 0);
    CHECK(b.alloc <= 11); /* never more than cap + NUL */
    errno = 0;
    CHECK_INT_EQ(dynbuf_add(&b, "x", 1), -1);
    CHECK_INT_EQ(errno, E2BIG);
    CHECK_INT_EQ(dynbuf_error(&b), E2BIG);
    CHECK_STR_EQ(dynbuf_str(&b), "1234567890"); /* unchanged */
    /* sticky: even an add that would fit fails now */
    CHECK_INT_EQ(dynbuf_add(&b, NULL, 0), -1);
    struct nubo_err err;
    CHECK_INT_EQ(dynbuf_err_set(&b, "the answer", &err), -1);
    CHECK_INT_EQ(err.code, NUBO_E_TOOLARGE);
    CHECK_STR_HAS(err.msg, "the answer is larger than 10 bytes");
    /* reset clears the error and keeps the cap */
    dynbuf_reset(&b);
    CHECK_INT_EQ(dynbuf_error(&b), 0);
    CHECK_INT_EQ(dynbuf_len(&b), 0);
    CHECK_STR_EQ(dynbuf_str(&b), "");
    /* an add that does not fit adds nothing of itself */
    CHECK_INT_EQ(dynbuf_add_str(&b, "abcdefgh"), 0);
    CHECK_INT_EQ(dynbuf_add_str(&b, "ijk"), -1);
    CHECK_STR_EQ(dynbuf_str(&b), "abcdefgh");
    dynbuf_free(&b);
    /* sizes near SIZE_MAX do not wrap around */
    struct dynbuf h = DYNBUF_INIT(SIZE_MAX);
    CHECK_INT_EQ(dynbuf_add_str(&h, "abc"), 0);
    errno = 0;
    CHECK_INT_EQ(dynbuf_add(&h, "x", SIZE_MAX - 2), -1);
    CHECK_INT_EQ(errno, E2BIG);
    dynbuf_reset(&h);
    CHECK_INT_EQ(dynbuf_add_str(&h, "abc"), 0);
    CHECK_INT_EQ(dynbuf_add(&h, "x", SIZE_MAX), -1);
    dynbuf_free(&h);
    struct dynbuf m;
    dynbuf_init(&m, SIZE_MAX);
    CHECK(m.cap < SIZE_MAX);
    CHECK_INT_EQ(dynbuf_add(&m, "x", SIZE_MAX), -1);
    dynbuf_free(&m);
}

static void test_printf(void)
{
    struct dynbuf b = DYNBUF_INIT(64);
    CHECK_INT_EQ(dynbuf_printf(&b, "%s=%d;", "a", 1), 0);
    CHECK_INT_EQ(dynbuf_printf(&b, "%05.1f|%x", 3.14159, 255), 0);
    CHECK_STR_EQ(dynbuf_str(&b), "a=1;003.1|ff");
    CHECK_INT_EQ(dynbuf_len(&b), strlen("a=1;003.1|ff"));
    /* past the cap: nothing of the text is added */
    CHECK_INT_EQ(dynbuf_printf(&b, "%080d", 7), -1);
    CHECK_INT_EQ(errno, E2BIG);
    CHECK_STR_EQ(dynbuf_str(&b), "a=1;003.1|ff");
    dynbuf_free(&b);
    /* a long text that needs growth, exactly up to the cap */
    struct dynbuf c = DYNBUF_INIT(1000);
    CHECK_INT_EQ(dynbuf_printf(&c, "%0999d", 5), 0);
    CHECK_INT_EQ(dynbuf_len(&c), 999);
    CHECK_INT_EQ(dynbuf_printf(&c, "%d", 6), 0);
    CHECK_INT_EQ(dynbuf_len(&c), 1000);
    CHECK_INT_EQ(dynbuf_str(&c)[999], '6');
    CHECK_INT_EQ(dynbuf_printf(&c, "%s", "7"), -1);
    dynbuf_free(&c);
}

static void test_take_consume(void)
{
    struct dynbuf b = DYNBUF_INIT(100);
    dynbuf_add(&b, "line one\nline two\n", 18);
    dynbuf_consume(&b, 9);
    CHECK_STR_EQ(dynbuf_str(&b), "line two\n");
    CHECK_INT_EQ(dynbuf_len(&b), 9);
    dynbuf_consume(&b, 100);
    CHECK_STR_EQ(dynbuf_str(&b), "");
    /* binary data keeps its NULs; take hands over the bytes and the length */
    dynbuf_add(&b, "a\0b", 3);
    size_t len = 0;
    char *s = dynbuf_take(&b, &len);
    CHECK_INT_EQ(len, 3);
    CHECK(memcmp(s, "a\0b", 4) == 0); /* and a NUL after them */
    free(s);
    /* after take, b is empty, reusable, with the same cap */
    CHECK(dynbuf_ptr(&b) == NULL);
    CHECK_INT_EQ(b.cap, 100);
    CHECK_INT_EQ(dynbuf_add_str(&b, "again"), 0);
    s = dynbuf_take(&b, NULL);
    CHECK_STR_EQ(s, "again");
    free(s);
    dynbuf_free(&b);
}

static void test_strv(void)
{
    struct strv a = {0};
    CHECK_INT_EQ(strv_len(&a), 0);
    strv_free(&a); /* empty is fine */
    strv_add(&a, "ip");
    strv_push(&a, "nx%u", 1001u);
    strv_add(&a, "%s is not a format here");
    CHECK_INT_EQ(strv_len(&a), 3);
    CHECK_STR_EQ(a.v[0], "ip");
    CHECK_STR_EQ(a.v[1], "nx1001");
    CHECK_STR_EQ(a.v[2], "%s is not a format here");
    CHECK(a.v[3] == NULL);
    for (int i = 0; i < 100; i++)
        strv_push(&a, "-%d", i);
    CHECK_INT_EQ(strv_len(&a), 103);
    CHECK_STR_EQ(a.v[102], "-99");
    CHECK(a.v[103] == NULL);
    strv_free(&a);
    CHECK(a.v == NULL);
    CHECK_INT_EQ(strv_len(&a), 0);
}

/* The write callback as libcurl calls it: pieces until the cap, then 0
 * (which makes curl fail the transfer). */
static void test_curl_write(void)
{
    struct curlx_resp r;
    curlx_resp_init(&r, 8);
    CHECK_INT_EQ(r.console_offset, -1);
    char hello[] = "hello";
    CHECK_INT_EQ(curlx_write_cb(hello, 1, 5, &r.body), 5);
    CHECK_INT_EQ(curlx_write_cb(hello, 1, 3, &r.body), 3);
    CHECK_STR_EQ(dynbuf_str(&r.body), "hellohel");
    CHECK_INT_EQ(curlx_write_cb(hello, 1, 1, &r.body), 0);
    CHECK_INT_EQ(dynbuf_error(&r.body), E2BIG);
    CHECK_INT_EQ(curlx_write_cb(hello, 1, 0, &r.body), 0); /* failed for good */
    curlx_resp_free(&r);
    CHECK_INT_EQ(dynbuf_len(&r.body), 0);
    CHECK_INT_EQ(dynbuf_error(&r.body), 0);
    CHECK_INT_EQ(r.body.cap, 8);
    CHECK_INT_EQ(curlx_write_cb(hello, 1, 5, &r.body), 5);
    curlx_resp_free(&r);
}

static size_t header(struct curlx_resp *r, const char *line)
{
    char buf[256];
    size_t n = strlen(line);
    memcpy(buf, line, n); /* not NUL-terminated for curl: the callback must not rely on it */
    return curlx_header_cb(buf, 1, n, r);
}

static void test_curl_headers(void)
{
    struct curlx_resp r;
    curlx_resp_init(&r, 64);
    CHECK_INT_EQ(header(&r, "HTTP/1.1 200 OK\r\n"), strlen("HTTP/1.1 200 OK\r\n"));
    header(&r, "Content-Type: application/json\r\n");
    CHECK_INT_EQ(r.console_offset, -1);
    header(&r, "x-console-offset: 12345\r\n");
    CHECK_INT_EQ(r.console_offset, 12345);
    header(&r, "X-Console-Offset: -4\r\n");                      /* negative: ignored */
    header(&r, "X-Console-Offset: 12x\r\n");                     /* junk: ignored */
    header(&r, "X-Console-Offset: 99999999999999999999999\r\n"); /* overflow: ignored */
    CHECK_INT_EQ(r.console_offset, 12345);
    header(&r, "X-Request-Id:  req-1\x01\r\n");
    CHECK_STR_EQ(r.request_id, "req-1?");
    header(&r, "\r\n");
    CHECK_STR_EQ(r.request_id, "req-1?");
    curlx_resp_free(&r);
}

static void test_curl_read(void)
{
    char data[] = "0123456789";
    FILE *f = fmemopen(data, 10, "rb");
    struct curlx_upload u = {.f = f, .size = 10};
    char buf[8];
    CHECK_INT_EQ(curlx_read_cb(buf, 1, sizeof(buf), &u), 8);
    CHECK(memcmp(buf, "01234567", 8) == 0);
    CHECK_INT_EQ(curlx_read_cb(buf, 1, sizeof(buf), &u), 2);
    CHECK_INT_EQ(curlx_read_cb(buf, 1, sizeof(buf), &u), 0); /* the end */
    CHECK(!u.failed);
    CHECK_INT_EQ(u.sent, 10);
    fclose(f);
    /* a file shorter than announced aborts instead of sending less */
    f = fmemopen(data, 4, "rb");
    u = (struct curlx_upload){.f = f, .size = 10};
    CHECK_INT_EQ(curlx_read_cb(buf, 1, sizeof(buf), &u), 4);
    CHECK_INT_EQ(curlx_read_cb(buf, 1, sizeof(buf), &u), CURL_READFUNC_ABORT);
    CHECK(u.failed);
    CHECK_INT_EQ(u.errnum, 0);
    CHECK_INT_EQ(u.sent, 4);
    fclose(f);
}

static void test_curl_url(void)
{
    char url[64];
    const char *sock = "x";
    CHECK_INT_EQ(curlx_url("unix:/run/nubo/hostd.sock", "/v1/vms", url, sizeof(url), &sock), 0);
    CHECK_STR_EQ(url, "http://localhost/v1/vms");
    CHECK_STR_EQ(sock, "/run/nubo/hostd.sock");
    CHECK_INT_EQ(curlx_url("http://10.0.0.1:7700//", "/v1/vms", url, sizeof(url), &sock), 0);
    CHECK_STR_EQ(url, "http://10.0.0.1:7700/v1/vms");
    CHECK(sock == NULL);
    CHECK_INT_EQ(curlx_url("https://x", "/", url, sizeof(url), &sock), -1);
    CHECK_INT_EQ(curlx_url(NULL, "/", url, sizeof(url), &sock), -1);
    CHECK_INT_EQ(curlx_url("http://a", "/a-path-longer-than-the-url-buffer-of-this-test-by-far",
                           url, 32, &sock),
                 -1);
}

CHECK_MAIN(TEST(test_empty), TEST(test_growth), TEST(test_cap), TEST(test_printf),
           TEST(test_take_consume), TEST(test_strv), TEST(test_curl_write), TEST(test_curl_headers),
           TEST(test_curl_read), TEST(test_curl_url))
