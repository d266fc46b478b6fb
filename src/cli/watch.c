/*
 * watch.c - see watch.h.
 *
 * The console log of a VM keeps every boot (QEMU appends to it), so a
 * reader that wants only what comes after an action asks for
 * watch_console_end() first and starts there.
 */
#include "cli/watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define STATE_POLL_MS 200
#define CONSOLE_POLL_MS 250
#define CONSOLE_CHUNK (1024 * 1024) /* the agent's largest console answer */
#define READY_CHUNK (64 * 1024)
#define LINE_MAX_KEEP 4096 /* a console line longer than this is cut when scanned */

bool watch_state_has_process(const char *state)
{
    static const char *const with_process[] = {"starting", "running", "paused", "stopping"};
    for (size_t i = 0; state && i < ARRAY_LEN(with_process); i++)
        if (strcmp(state, with_process[i]) == 0)
            return true;
    return false;
}

/* GET /v1/vms/{ref}; *vm is the caller's. */
static int vm_get(struct cli *cli, const char *ref, json_t **vm, struct nubo_err *err)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/vms/%s", ref);
    if (cli_call(cli, "GET", path, NULL, vm, err) < 0)
        return -1;
    if (json_string_value(json_object_get(*vm, "state")) == NULL) {
        json_decref(*vm);
        *vm = NULL;
        return nubo_err_set(err, NUBO_E_INTERNAL, "nubo-hostd sent a VM without a state");
    }
    return 0;
}

static const char *vm_state(const json_t *vm)
{
    return json_string_value(json_object_get(vm, "state"));
}

static const char *vm_reason(const json_t *vm)
{
    const char *r = json_string_value(json_object_get(vm, "reason"));
    return r && *r ? r : "no reason given";
}

/* One console request from *offset; advances *offset.  resp is the
 * caller's to clear. */
static int console_read(struct cli *cli, const char *ref, long long *offset, int limit,
                        struct client_resp *resp, struct nubo_err *err)
{
    char path[192];
    snprintf(path, sizeof(path), "/v1/vms/%s/console?offset=%lld&limit=%d", ref, *offset, limit);
    if (client_request(cli->client, "GET", path, NULL, resp, err) < 0)
        return -1;
    if (resp->status != 200) {
        client_resp_error(cli->client, resp, err);
        client_resp_clear(resp);
        return -1;
    }
    if (resp->console_offset < 0) {
        client_resp_clear(resp);
        return nubo_err_set(err, NUBO_E_INTERNAL,
                            "nubo-hostd sent console bytes without X-Console-Offset");
    }
    *offset = resp->console_offset;
    return 0;
}

static int interrupted_err(struct nubo_err *err)
{
    return nubo_err_set(err, NUBO_E_INTERNAL, "interrupted");
}

int watch_state(struct cli *cli, const char *ref, const char *target, int timeout_s,
                const char *label, json_t **vm_out, struct nubo_err *err)
{
    int rc = -1;
    json_t *vm = NULL;
    struct output_progress pr;
    output_progress_start(&pr, label);
    int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
    for (;;) {
        json_decref(vm);
        vm = NULL;
        if (vm_get(cli, ref, &vm, err) < 0)
            goto cleanup;
        const char *state = vm_state(vm);
        if (strcmp(state, target) == 0)
            break;
        if (!watch_state_has_process(state)) {
            nubo_err_set(err, NUBO_E_CONFLICT, "VM %s is %s, not %s: %s", ref, state, target,
                         vm_reason(vm));
            goto cleanup;
        }
        if (clock_mono_ms() >= deadline) {
            nubo_err_set(err, NUBO_E_TIMEOUT,
                         "timed out after %d s waiting for VM %s to be %s "
                         "(it is %s: %s)",
                         timeout_s, ref, target, state, vm_reason(vm));
            goto cleanup;
        }
        output_progress_tick(&pr);
        if (cli_sleep_ms(STATE_POLL_MS) < 0) {
            interrupted_err(err);
            goto cleanup;
        }
    }
    if (vm_out) {
        *vm_out = vm;
        vm = NULL;
    }
    rc = 0;
cleanup:
    output_progress_end(&pr);
    json_decref(vm);
    return rc;
}

/* Copies a console line into out without control characters. */
static void ready_line_copy(const char *s, size_t len, char *out, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < n; i++)
        if ((unsigned char)s[i] >= 0x20 && s[i] != 0x7F)
            out[o++] = s[i];
    out[o] = '\0';
}

int watch_ready(struct cli *cli, const char *ref, long long offset, int timeout_s,
                const char *label, char *line, size_t line_size, struct nubo_err *err)
{
    int rc = -1;
    json_t *vm = NULL;
    struct client_resp resp = {.console_offset = -1};
    char *partial = xmalloc(LINE_MAX_KEEP); /* the console line being read */
    size_t plen = 0;
    struct output_progress pr;
    output_progress_start(&pr, label);
    int64_t deadline = clock_mono_ms() + (int64_t)timeout_s * 1000;
    for (;;) {
        /* The state first: a VM without a process is not ready, whatever
         * its log says about an earlier boot. */
        json_decref(vm);
        vm = NULL;
        if (vm_get(cli, ref, &vm, err) < 0)
            goto cleanup;
        if (!watch_state_has_process(vm_state(vm))) {
            nubo_err_set(err, NUBO_E_CONFLICT, "VM %s %s before its guest was ready: %s", ref,
                         vm_state(vm), vm_reason(vm));
            goto cleanup;
        }
        bool more = true;
        while (more) {
            if (console_read(cli, ref, &offset, READY_CHUNK, &resp, err) < 0)
                goto cleanup;
            for (size_t i = 0; i < resp.len; i++) {
                char ch = resp.body[i];
                if (ch != '\n') {
                    if (plen < LINE_MAX_KEEP)
                        partial[plen++] = ch;
                    continue;
                }
                if (memmem(partial, plen, WATCH_READY_MARKER, strlen(WATCH_READY_MARKER))) {
                    ready_line_copy(partial, plen, line, line_size);
                    rc = 0;
                    goto cleanup;
                }
                plen = 0;
            }
            more = resp.len == READY_CHUNK;
            client_resp_clear(&resp);
        }
        if (clock_mono_ms() >= deadline) {
            nubo_err_set(err, NUBO_E_TIMEOUT,
                         "timed out after %d s waiting for the guest of VM %s to be ready (the "
                         "VM is %s; its console: 'nubo agent vm console %s')",
                         timeout_s, ref, vm_state(vm), ref);
            goto cleanup;
        }
        output_progress_tick(&pr);
        if (cli_sleep_ms(CONSOLE_POLL_MS) < 0) {
            interrupted_err(err);
            goto cleanup;
        }
    }
cleanup:
    output_progress_end(&pr);
    client_resp_clear(&resp);
    json_decref(vm);
    free(partial);
    return rc;
}

int watch_console(struct cli *cli, const char *ref, long long offset, bool follow, FILE *out,
                  struct nubo_err *err)
{
    int rc = -1;
    json_t *vm = NULL;
    struct client_resp resp = {.console_offset = -1};
    bool ended = false; /* the VM has no process: one last read, then stop */
    for (;;) {
        if (console_read(cli, ref, &offset, CONSOLE_CHUNK, &resp, err) < 0) {
            rc = follow && cli_interrupted() ? 0 : -1;
            goto cleanup;
        }
        if (resp.len > 0 && (fwrite(resp.body, 1, resp.len, out) != resp.len || fflush(out))) {
            nubo_err_set(err, NUBO_E_INTERNAL, "cannot write the console out: %s", strerror(errno));
            goto cleanup;
        }
        bool more = resp.len == CONSOLE_CHUNK;
        client_resp_clear(&resp);
        if (more)
            continue;
        if (!follow || ended)
            break;

        json_decref(vm);
        vm = NULL;
        if (vm_get(cli, ref, &vm, err) < 0) {
            rc = cli_interrupted() ? 0 : -1;
            goto cleanup;
        }
        if (!watch_state_has_process(vm_state(vm))) {
            ended = true;
            continue;
        }
        if (cli_sleep_ms(CONSOLE_POLL_MS) < 0)
            break; /* Ctrl-C ends following, like tail -f */
    }
    rc = 0;
cleanup:
    client_resp_clear(&resp);
    json_decref(vm);
    return rc;
}

int watch_console_end(struct cli *cli, const char *ref, long long *end, struct nubo_err *err)
{
    struct client_resp resp = {.console_offset = -1};
    long long offset = -1; /* the last byte: the answer's offset is then the end */
    if (console_read(cli, ref, &offset, 1, &resp, err) < 0)
        return -1;
    client_resp_clear(&resp);
    *end = offset;
    return 0;
}
