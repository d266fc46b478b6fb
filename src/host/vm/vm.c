/*
 * vm.c - VM definitions: validation of requests, JSON, local persistence.
 * See vm.h for the on-disk layout.
 */
#include "host/vm/vm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/fsutil.h"
#include "lib/inet.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/valid.h"

static const char *state_names[] = {
    [VM_STOPPED] = "stopped", [VM_STARTING] = "starting", [VM_RUNNING] = "running",
    [VM_PAUSED] = "paused",   [VM_STOPPING] = "stopping", [VM_CRASHED] = "crashed",
};

const char *vm_state_name(enum vm_state st)
{
    if ((size_t)st >= ARRAY_LEN(state_names))
        return "unknown";
    return state_names[st];
}

int vm_state_parse(const char *s, enum vm_state *out)
{
    for (size_t i = 0; i < ARRAY_LEN(state_names); i++) {
        if (s && strcmp(s, state_names[i]) == 0) {
            *out = (enum vm_state)i;
            return 0;
        }
    }
    return -1;
}

bool vm_state_has_process(enum vm_state st)
{
    return st == VM_STARTING || st == VM_RUNNING || st == VM_PAUSED || st == VM_STOPPING;
}

const char *vm_path(const struct vm *vm, const char *file, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", vm->dir, file);
    return buf;
}

void vm_def_clear(struct vm_def *def)
{
    for (int i = 0; i < def->nkeys; i++)
        free(def->ssh_keys[i]);
    def->nkeys = 0;
    free(def->user_data);
    def->user_data = NULL;
}

void vm_free(struct vm *vm)
{
    if (vm == NULL)
        return;
    vm_def_clear(&vm->def);
    free(vm);
}

/* The agent's own MACs (the default NIC): 52:54:00:xx:xx:xx, the range
 * QEMU uses, locally administered unicast. */
static const uint8_t vm_mac_oui[3] = {0x52, 0x54, 0x00};

/* True when o has no key but port_id, network_id and mac. */
static bool nic_keys_ok(json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach (o, key, v)
        if (strcmp(key, "port_id") != 0 && strcmp(key, "network_id") != 0 &&
            strcmp(key, "mac") != 0)
            return false;
    return true;
}

/* Parses a NIC object {"port_id", "network_id", "mac"} (strict: local
 * state is checked like a request).  Returns 0 or -1 with err naming
 * nics[i]. */
static int nic_from_json(json_t *o, size_t i, struct vm_nic *nic, enum nubo_errcode code,
                         struct nubo_err *err)
{
    const char *port = json_string_value(json_object_get(o, "port_id"));
    const char *net = json_string_value(json_object_get(o, "network_id"));
    const char *mac = json_string_value(json_object_get(o, "mac"));
    if (!json_is_object(o) || !nic_keys_ok(o) || port == NULL || !valid_is_uuid(port) ||
        net == NULL || !valid_is_uuid(net) || !inet_mac_valid(mac))
        return nubo_err_set(err, code,
                            "nics[%zu] must be {\"port_id\": UUID, \"network_id\": UUID, "
                            "\"mac\": lowercase unicast MAC}",
                            i);
    str_copy(nic->port_id, sizeof(nic->port_id), port);
    str_copy(nic->network_id, sizeof(nic->network_id), net);
    str_copy(nic->mac, sizeof(nic->mac), mac);
    inet_tap_name("", port, nic->tap);
    return 0;
}

/* Parses the "nics" list of o into def (absent = none). */
static int nics_from_json(json_t *v, struct vm_def *def, enum nubo_errcode code,
                          struct nubo_err *err)
{
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > VM_MAX_NICS)
        return nubo_err_set(err, code, "'nics' must be a list of at most %d NICs", VM_MAX_NICS);
    size_t i;
    json_t *o;
    json_array_foreach (v, i, o) {
        struct vm_nic *nic = &def->nics[i];
        if (nic_from_json(o, i, nic, code, err) < 0)
            return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(def->nics[k].tap, nic->tap) == 0 || strcmp(def->nics[k].mac, nic->mac) == 0)
                return nubo_err_set(err, code, "nics[%zu] repeats a port or a MAC", i);
        def->nnics++;
    }
    return 0;
}

/* True when an authorized_keys line starts with a known OpenSSH key type
 * followed by a space. */
static bool ssh_key_type_ok(const char *k)
{
    static const char *prefixes[] = {"ssh-ed25519 ",
                                     "ssh-rsa ",
                                     "ssh-dss ",
                                     "ecdsa-sha2-nistp",
                                     "sk-ssh-ed25519@openssh.com ",
                                     "sk-ecdsa-sha2-nistp256@openssh.com "};
    for (size_t i = 0; i < ARRAY_LEN(prefixes); i++)
        if (strncmp(k, prefixes[i], strlen(prefixes[i])) == 0)
            return strchr(k, ' ') != NULL;
    return false;
}

/* Reads an optional size field that may be a number (in default_unit) or a
 * string with a unit ("2G"). */
static int get_size(json_t *body, const char *key, uint64_t default_unit, uint64_t min,
                    uint64_t max, uint64_t *out, bool *present, struct nubo_err *err)
{
    json_t *v = json_object_get(body, key);
    *present = v != NULL && !json_is_null(v);
    if (!*present)
        return 0;
    char what[64];
    snprintf(what, sizeof(what), "'%s'", key);
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        char s[32];
        if (n < 0)
            return nubo_err_set(err, NUBO_E_INVALID, "%s must not be negative", what);
        snprintf(s, sizeof(s), "%lld", (long long)n);
        return valid_size(s, default_unit, min, max, what, out, err);
    }
    if (json_is_string(v))
        return valid_size(json_string_value(v), default_unit, min, max, what, out, err);
    return nubo_err_set(err, NUBO_E_INVALID, "%s must be a number or a size such as \"2G\"", what);
}

static int check_keys(json_t *body, struct nubo_err *err)
{
    static const char *known[] = {"name",       "hostname", "vcpus",        "memory",
                                  "memory_mib", "image",    "root_disk",    "disks",
                                  "network",    "ssh_keys", "user_data",    "start",
                                  "id",         "nics",     "config_drive", "metadata_http_tokens",
                                  "generation"};
    const char *key;
    json_t *v;
    json_object_foreach (body, key, v) {
        bool ok = false;
        for (size_t i = 0; i < ARRAY_LEN(known) && !ok; i++)
            ok = strcmp(key, known[i]) == 0;
        if (!ok)
            return nubo_err_set(err, NUBO_E_INVALID, "unknown field '%.40s' in the VM definition",
                                key);
    }
    return 0;
}

/* A hostname derived from the VM's name: lowercase, '.' and '_' become
 * '-', no trailing '-'. */
static void hostname_from_name(struct vm_def *def)
{
    size_t i = 0;
    for (; i < sizeof(def->hostname) - 1 && def->name[i]; i++) {
        char c = def->name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c == '.' || c == '_')
            c = '-';
        def->hostname[i] = c;
    }
    def->hostname[i] = '\0';
    while (i > 0 && def->hostname[i - 1] == '-')
        def->hostname[--i] = '\0';
}

/* The VM's name and hostname (derived from the name when absent). */
static int def_names(json_t *body, struct vm_def *def, struct nubo_err *err)
{
    json_t *v = json_object_get(body, "name");
    if (!json_is_string(v))
        return nubo_err_set(err, NUBO_E_INVALID, "'name' is required and must be a string");
    if (valid_name(json_string_value(v), "VM name", err) < 0)
        return -1;
    str_copy(def->name, sizeof(def->name), json_string_value(v));

    v = json_object_get(body, "hostname");
    if (v && !json_is_string(v))
        return nubo_err_set(err, NUBO_E_INVALID, "'hostname' must be a string");
    if (v) {
        if (valid_hostname(json_string_value(v), err) < 0)
            return -1;
        str_copy(def->hostname, sizeof(def->hostname), json_string_value(v));
    } else {
        hostname_from_name(def);
    }
    return 0;
}

/* What the VM is made of: vCPUs, memory, base image, root and extra disks. */
static int def_machine(json_t *body, struct vm_def *def, struct nubo_err *err)
{
    size_t i;
    json_t *d;
    json_t *v = json_object_get(body, "vcpus");
    if (v == NULL)
        def->vcpus = 1;
    else if (!json_is_integer(v) || json_integer_value(v) < 1 ||
             json_integer_value(v) > VM_MAX_VCPUS)
        return nubo_err_set(err, NUBO_E_INVALID, "'vcpus' must be a whole number from 1 to %d",
                            VM_MAX_VCPUS);
    else
        def->vcpus = (int)json_integer_value(v);

    uint64_t bytes;
    bool present;
    const char *memkey = json_object_get(body, "memory_mib") ? "memory_mib" : "memory";
    if (get_size(body, memkey, 1ULL << 20, (uint64_t)VM_MIN_MEMORY_MIB << 20,
                 (uint64_t)VM_MAX_MEMORY_MIB << 20, &bytes, &present, err) < 0)
        return -1;
    def->memory_mib = present ? bytes >> 20 : 256;

    v = json_object_get(body, "image");
    if (!json_is_string(v))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'image' is required: the name of a base image "
                            "(GET /v1/images lists them)");
    if (valid_name(json_string_value(v), "image name", err) < 0)
        return -1;
    str_copy(def->image, sizeof(def->image), json_string_value(v));

    if (get_size(body, "root_disk", 1ULL << 30, 1ULL << 20, 16ULL << 40, &bytes, &present, err) < 0)
        return -1;
    def->root_size = present ? bytes : 0;

    v = json_object_get(body, "disks");
    if (v && !json_is_array(v))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'disks' must be a list of sizes, e.g. [\"1G\", \"10G\"]");
    if (v && json_array_size(v) > VM_MAX_DISKS)
        return nubo_err_set(err, NUBO_E_INVALID, "at most %d extra disks", VM_MAX_DISKS);
    json_array_foreach (v, i, d) {
        json_t *wrap = json_pack("{s:O}", "disk", d);
        int r = get_size(wrap, "disk", 1ULL << 30, 1ULL << 20, 16ULL << 40, &bytes, &present, err);
        json_decref(wrap);
        if (r < 0)
            return -1;
        def->disks[def->ndisks++] = bytes;
    }
    return 0;
}

/* Its networking: "none" or QEMU's "user", or NICs on tenant networks. */
static int def_network(json_t *body, struct vm_def *def, struct nubo_err *err)
{
    json_t *v = json_object_get(body, "network");
    const char *net = v ? json_string_value(v) : "none";
    if (net == NULL || (strcmp(net, "none") != 0 && strcmp(net, "user") != 0))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'network' must be \"none\" or \"user\" (QEMU user-mode networking, "
                            "isolated from the host's networks)");
    str_copy(def->network, sizeof(def->network), net);
    if (nics_from_json(json_object_get(body, "nics"), def, NUBO_E_INVALID, err) < 0)
        return -1;
    if (def->nnics > 0 && strcmp(def->network, "none") != 0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "a VM with 'nics' takes no 'network' (or \"none\")");
    return 0;
}

/* What the guest gets through its config drive and the metadata service:
 * SSH keys and user data.  Allocates (the caller clears def on failure). */
static int def_guest_data(json_t *body, struct vm_def *def, struct nubo_err *err)
{
    size_t i;
    json_t *d;
    json_t *v = json_object_get(body, "ssh_keys");
    if (v && (!json_is_array(v) || json_array_size(v) > VM_MAX_KEYS))
        return nubo_err_set(err, NUBO_E_INVALID, "'ssh_keys' must be a list of at most %d keys",
                            VM_MAX_KEYS);
    json_array_foreach (v, i, d) {
        const char *k = json_string_value(d);
        if (k == NULL || strlen(k) > 16384 || !ssh_key_type_ok(k) || strpbrk(k, "\n\r\"\\") != NULL)
            return nubo_err_set(err, NUBO_E_INVALID,
                                "ssh_keys[%zu] is not an OpenSSH public key (one line: type, "
                                "base64 key, optional comment; types ssh-ed25519, ssh-rsa, "
                                "ecdsa-sha2-*, sk-*)",
                                i);
        def->ssh_keys[def->nkeys++] = xstrdup(k);
    }

    v = json_object_get(body, "user_data");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return nubo_err_set(err, NUBO_E_INVALID, "'user_data' must be a string");
        if (json_string_length(v) > VM_USER_DATA_MAX)
            return nubo_err_set(err, NUBO_E_INVALID, "'user_data' is larger than %d bytes",
                                VM_USER_DATA_MAX);
        def->user_data = xstrdup(json_string_value(v));
    }
    return 0;
}

/* "optional" (or absent) / "required" into *required; -1 otherwise. */
static int http_tokens(json_t *v, bool *required)
{
    const char *s = json_string_value(v);
    *required = s && strcmp(s, "required") == 0;
    return v == NULL || (s && (*required || strcmp(s, "optional") == 0)) ? 0 : -1;
}

/* The create options "start", "config_drive" and "metadata_http_tokens". */
static int def_flags(json_t *body, struct vm_def *def, struct nubo_err *err)
{
    json_t *v = json_object_get(body, "start");
    if (v && !json_is_boolean(v))
        return nubo_err_set(err, NUBO_E_INVALID, "'start' must be true or false");
    v = json_object_get(body, "config_drive");
    if (v && !json_is_boolean(v))
        return nubo_err_set(err, NUBO_E_INVALID, "'config_drive' must be true or false");
    def->no_config_drive = json_is_false(v);
    if (http_tokens(json_object_get(body, "metadata_http_tokens"), &def->metadata_tokens_required) <
        0)
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'metadata_http_tokens' must be \"optional\" or \"required\"");
    v = json_object_get(body, "generation");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
        return nubo_err_set(err, NUBO_E_INVALID,
                            "'generation' must be a non-negative integer: the instance's");
    def->generation = v ? json_integer_value(v) : 0;
    return 0;
}

int vm_def_from_request(json_t *body, struct vm_def *def, struct nubo_err *err)
{
    memset(def, 0, sizeof(*def));
    if (check_keys(body, err) < 0 || def_names(body, def, err) < 0 ||
        def_machine(body, def, err) < 0 || def_network(body, def, err) < 0)
        return -1;
    if (def_guest_data(body, def, err) < 0 || def_flags(body, def, err) < 0) {
        vm_def_clear(def);
        return -1;
    }

    /* The controller passes its instance id, so that the guest's metadata
     * (instance-id) and the cloud agree. */
    json_t *v = json_object_get(body, "id");
    if (v && (!json_is_string(v) || !valid_is_uuid(json_string_value(v)))) {
        vm_def_clear(def);
        return nubo_err_set(err, NUBO_E_INVALID, "'id' must be a lowercase UUID");
    }
    if (v)
        str_copy(def->id, sizeof(def->id), json_string_value(v));
    else
        id_new(def->id);
    inet_mac_random(vm_mac_oui, def->mac);
    time_format_utc(time(NULL), def->created_at);
    return 0;
}

json_t *vm_def_to_json(const struct vm_def *def)
{
    json_t *disks = json_array();
    for (int i = 0; i < def->ndisks; i++)
        json_array_append_new(disks, json_integer((json_int_t)def->disks[i]));
    json_t *keys = json_array();
    for (int i = 0; i < def->nkeys; i++)
        json_array_append_new(keys, json_string(def->ssh_keys[i]));
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:i, s:I, s:s, s:I, s:o, s:s, s:s, s:o, s:s}", "id", def->id,
                  "name", def->name, "hostname", def->hostname, "vcpus", def->vcpus, "memory_mib",
                  (json_int_t)def->memory_mib, "image", def->image, "root_disk_bytes",
                  (json_int_t)def->root_size, "disk_bytes", disks, "network", def->network, "mac",
                  def->mac, "ssh_keys", keys, "created_at", def->created_at);
    json_object_set_new(o, "user_data", def->user_data ? json_string(def->user_data) : json_null());
    json_object_set_new(o, "config_drive", json_boolean(!def->no_config_drive));
    json_object_set_new(o, "metadata_http_tokens",
                        json_string(def->metadata_tokens_required ? "required" : "optional"));
    json_t *vols = json_array();
    for (int i = 0; i < def->nvolumes; i++)
        json_array_append_new(vols, json_string(def->volumes[i]));
    json_object_set_new(o, "volumes", vols);
    json_object_set_new(o, "generation", json_integer(def->generation));
    if (def->nnics > 0) {
        json_t *nics = json_array();
        for (int i = 0; i < def->nnics; i++)
            json_array_append_new(nics,
                                  json_pack("{s:s, s:s, s:s, s:s}", "port_id", def->nics[i].port_id,
                                            "network_id", def->nics[i].network_id, "mac",
                                            def->nics[i].mac, "tap", def->nics[i].tap));
        json_object_set_new(o, "nics", nics);
    }
    return o;
}

static int copy_str(json_t *o, const char *key, char *dst, size_t n, struct nubo_err *err)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL || str_copy(dst, n, s) < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "vm.json: bad or missing '%s'", key);
    return 0;
}

void vm_def_name_taps(struct vm_def *def, const char *tag)
{
    for (int i = 0; i < def->nnics; i++)
        inet_tap_name(tag, def->nics[i].port_id, def->nics[i].tap);
}

int vm_def_from_json(json_t *o, struct vm_def *def, struct nubo_err *err)
{
    memset(def, 0, sizeof(*def));
    if (!json_is_object(o))
        return nubo_err_set(err, NUBO_E_INTERNAL, "vm.json: 'def' is not an object");
    if (copy_str(o, "id", def->id, sizeof(def->id), err) < 0 ||
        copy_str(o, "name", def->name, sizeof(def->name), err) < 0 ||
        copy_str(o, "hostname", def->hostname, sizeof(def->hostname), err) < 0 ||
        copy_str(o, "image", def->image, sizeof(def->image), err) < 0 ||
        copy_str(o, "network", def->network, sizeof(def->network), err) < 0 ||
        copy_str(o, "mac", def->mac, sizeof(def->mac), err) < 0 ||
        copy_str(o, "created_at", def->created_at, sizeof(def->created_at), err) < 0)
        return -1;
    /* vm.json is local state, but values from it reach QEMU's command line:
     * check them as strictly as a request. */
    if (!valid_is_uuid(def->id) || valid_name(def->name, "name", err) < 0 ||
        valid_name(def->image, "image", err) < 0 || valid_hostname(def->hostname, err) < 0 ||
        !inet_mac_valid(def->mac) || strncmp(def->mac, "52:54:00:", 9) != 0 ||
        (strcmp(def->network, "none") != 0 && strcmp(def->network, "user") != 0))
        return nubo_err_set(err, NUBO_E_INTERNAL,
                            "vm.json: invalid id, name, image, hostname, MAC or network");
    json_t *nics = json_deep_copy(json_object_get(o, "nics"));
    size_t ni;
    json_t *nv;
    json_array_foreach (nics, ni, nv)
        json_object_del(nv, "tap"); /* derived, recomputed */
    int nr = nics_from_json(nics, def, NUBO_E_INTERNAL, err);
    json_decref(nics);
    if (nr < 0)
        return -1;
    json_int_t vcpus = json_integer_value(json_object_get(o, "vcpus"));
    json_int_t mem = json_integer_value(json_object_get(o, "memory_mib"));
    json_int_t root = json_integer_value(json_object_get(o, "root_disk_bytes"));
    if (vcpus < 1 || vcpus > VM_MAX_VCPUS || mem < VM_MIN_MEMORY_MIB || mem > VM_MAX_MEMORY_MIB ||
        root < 0)
        return nubo_err_set(err, NUBO_E_INTERNAL, "vm.json: vcpus, memory or disk out of range");
    def->vcpus = (int)vcpus;
    def->memory_mib = (uint64_t)mem;
    def->root_size = (uint64_t)root;
    size_t i;
    json_t *d;
    json_array_foreach (json_object_get(o, "disk_bytes"), i, d) {
        if (def->ndisks >= VM_MAX_DISKS || !json_is_integer(d) || json_integer_value(d) <= 0)
            return nubo_err_set(err, NUBO_E_INTERNAL, "vm.json: bad disk list");
        def->disks[def->ndisks++] = (uint64_t)json_integer_value(d);
    }
    json_array_foreach (json_object_get(o, "volumes"), i, d) {
        const char *vid = json_string_value(d);
        if (def->nvolumes >= VM_MAX_VOLUMES || vid == NULL || !valid_is_uuid(vid))
            return nubo_err_set(err, NUBO_E_INTERNAL, "vm.json: bad volume list");
        str_copy(def->volumes[def->nvolumes++], sizeof(def->volumes[0]), vid);
    }
    json_array_foreach (json_object_get(o, "ssh_keys"), i, d) {
        if (def->nkeys >= VM_MAX_KEYS || !json_is_string(d)) {
            vm_def_clear(def);
            return nubo_err_set(err, NUBO_E_INTERNAL, "vm.json: bad key list");
        }
        def->ssh_keys[def->nkeys++] = xstrdup(json_string_value(d));
    }
    const char *ud = json_string_value(json_object_get(o, "user_data"));
    if (ud)
        def->user_data = xstrdup(ud);
    def->no_config_drive = json_is_false(json_object_get(o, "config_drive")); /* absent: true */
    def->generation = json_integer_value(json_object_get(o, "generation"));   /* absent: 0 */
    if (http_tokens(json_object_get(o, "metadata_http_tokens"), &def->metadata_tokens_required) <
        0) {
        vm_def_clear(def);
        return nubo_err_set(err, NUBO_E_INTERNAL, "vm.json: bad 'metadata_http_tokens'");
    }
    return 0;
}

json_t *vm_to_json(const struct vm *vm)
{
    json_t *o = vm_def_to_json(&vm->def);
    json_object_del(o, "user_data");
    json_object_set_new(o, "has_user_data", json_boolean(vm->def.user_data != NULL));
    json_object_set_new(o, "state", json_string(vm_state_name(vm->state)));
    json_object_set_new(o, "reason", json_string(vm->reason));
    json_object_set_new(o, "state_changed_at", json_string(vm->state_changed_at));
    json_object_set_new(o, "boots", json_integer(vm->boots));
    json_object_set_new(o, "console_boot_offset", json_integer(vm->console_boot_offset));
    json_object_set_new(o, "pid", vm->pid > 0 ? json_integer(vm->pid) : json_null());
    if (vm->migration_role[0])
        json_object_set_new(
            o, "migration",
            json_pack("{s:s, s:s}", "role", vm->migration_role, "uri", vm->migration_uri));
    return o;
}

int vm_save(const struct vm *vm, struct nubo_err *err)
{
    json_t *o =
        json_pack("{s:o, s:s, s:s, s:s, s:i, s:I, s:i}", "def", vm_def_to_json(&vm->def), "state",
                  vm_state_name(vm->state), "reason", vm->reason, "state_changed_at",
                  vm->state_changed_at, "boots", vm->boots, "console_boot_offset",
                  (json_int_t)vm->console_boot_offset, "pid", (int)vm->pid);
    if (vm->migration_role[0]) {
        json_object_set_new(o, "migration_role", json_string(vm->migration_role));
        json_object_set_new(o, "migration_uri", json_string(vm->migration_uri));
    }
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    if (s == NULL)
        abort();
    char path[PATH_MAX];
    int r = fs_write_atomic(vm_path(vm, "vm.json", path, sizeof(path)), s, strlen(s), 0600, err);
    free(s);
    return r;
}

struct vm *vm_load(const char *dir, struct nubo_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/vm.json", dir);
    char *text = fs_read_file(path, 1u << 20, NULL, err);
    if (text == NULL)
        return NULL;
    json_error_t je;
    json_t *o = json_loads(text, 0, &je);
    free(text);
    if (o == NULL) {
        nubo_err_set(err, NUBO_E_INTERNAL, "%s is not valid JSON: %s", path, je.text);
        return NULL;
    }
    struct vm *vm = xcalloc(1, sizeof(*vm));
    str_copy(vm->dir, sizeof(vm->dir), dir);
    if (vm_def_from_json(json_object_get(o, "def"), &vm->def, err) < 0 ||
        vm_state_parse(json_string_value(json_object_get(o, "state")), &vm->state) < 0) {
        if (err && err->code == NUBO_OK)
            nubo_err_set(err, NUBO_E_INTERNAL, "%s: unknown state", path);
        json_decref(o);
        vm_free(vm);
        return NULL;
    }
    const char *reason = json_string_value(json_object_get(o, "reason"));
    str_copy(vm->reason, sizeof(vm->reason), reason ? reason : "");
    const char *ch = json_string_value(json_object_get(o, "state_changed_at"));
    str_copy(vm->state_changed_at, sizeof(vm->state_changed_at), ch ? ch : "");
    vm->boots = (int)json_integer_value(json_object_get(o, "boots"));
    vm->console_boot_offset = json_integer_value(json_object_get(o, "console_boot_offset"));
    vm->pid = (pid_t)json_integer_value(json_object_get(o, "pid"));
    const char *role = json_string_value(json_object_get(o, "migration_role"));
    const char *uri = json_string_value(json_object_get(o, "migration_uri"));
    str_copy(vm->migration_role, sizeof(vm->migration_role), role ? role : "");
    str_copy(vm->migration_uri, sizeof(vm->migration_uri), uri ? uri : "");
    json_decref(o);
    return vm;
}

void vm_set_state(struct vm *vm, enum vm_state st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vm->reason, sizeof(vm->reason), fmt, ap);
    va_end(ap);
    if (vm->state != st)
        log_info("vm %s (%s): %s -> %s: %s", vm->def.name, vm->def.id, vm_state_name(vm->state),
                 vm_state_name(st), vm->reason);
    vm->state = st;
    time_format_utc(time(NULL), vm->state_changed_at);
    if (!vm_state_has_process(st))
        vm->pid = 0;
    if (st != VM_STOPPING)
        vm->stop_deadline = 0;
    struct nubo_err err;
    if (vm_save(vm, &err) < 0)
        log_error("vm %s: cannot save its state: %s", vm->def.name, err.msg);
}
