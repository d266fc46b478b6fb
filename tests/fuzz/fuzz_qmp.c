/*
 * fuzz_qmp.c - libFuzzer target: whatever a QEMU monitor (or something
 * pretending to be one) sends must never crash the QMP client.
 *
 * The input is the monitor's side of a session: written into a socketpair
 * before the client does its handshake, one command and a processing pass.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/vm/vm_int.h"

static void on_event(void *ctx, const char *event, json_t *data)
{
    (void)ctx;
    (void)event;
    (void)data;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    if (size > 200000 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 0;
    int one = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(sv[1], data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(sv[1], SHUT_WR);
    struct qmp *q = qmp_new(sv[0], on_event, NULL);
    struct nubo_err err;
    if (qmp_handshake(q, 50, &err) == 0) {
        json_t *r = qmp_command(q, "query-status", NULL, 50, &err);
        json_decref(r);
    }
    qmp_process(q, &err);
    qmp_free(q);
    close(sv[1]);
    return 0;
}
