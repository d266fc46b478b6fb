/*
 * test_stack_parse.c - templates (src/stack/yaml.c, template.c): every
 * class of error with the exact line:column it points to, the dependency
 * order, parameters (defaults, text converted to the declared type,
 * constraints) and the intrinsics.  No store, no services: only
 * stack_tmpl_load() and stack_resolve().
 */
#include <jansson.h>
#include <string.h>

#include "check.h"
#include "stack/stack_int.h"

#define KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIxJ2IShFGCEqCD9H4PwKCzpF1Plx5o/gS2+mnPHtuP7 u@h"

/* Loads text with params (JSON text or NULL); NULL on error with err. */
static struct stack_tmpl *load(const char *text, const char *params, struct nubo_err *err)
{
    json_t *p = params ? json_loads(params, 0, NULL) : NULL;
    memset(err, 0, sizeof(*err));
    struct stack_tmpl *t = stack_tmpl_load(text, strlen(text), p, err);
    json_decref(p);
    return t;
}

/* Checks that text fails with a message that starts with `where` (the
 * exact "line L, column C: ") and holds `what`. */
static void fails(const char *text, const char *params, const char *where, const char *what,
                  int line)
{
    struct nubo_err err;
    struct stack_tmpl *t = load(text, params, &err);
    if (!check_true(t == NULL, "the template is refused", __FILE__, line)) {
        stack_tmpl_free(t);
        return;
    }
    check_int_eq(err.code, NUBO_E_INVALID, "err.code", "NUBO_E_INVALID", __FILE__, line);
    if (!check_true(strncmp(err.msg, where, strlen(where)) == 0, where, __FILE__, line))
        fprintf(stderr, "    message: %s\n", err.msg);
    check_str_has(err.msg, what, "err.msg", __FILE__, line);
}
#define FAILS(text, params, where, what) fails((text), (params), (where), (what), __LINE__)

/* ------------------------------------------------------------- errors */

static void test_bad_yaml(void)
{
    /* an unclosed flow sequence: libyaml notices at the end of input */
    FAILS("resources:\n  a: [1,\n", NULL, "line 3, column 1: ", "");
    /* a tab where indentation is expected */
    FAILS("resources:\n\ta: 1\n", NULL, "line 2, column 1: ", "");
    /* a mapping value where none may be */
    FAILS("resources: {}\nfoo: bar: baz\n", NULL, "line 2, column 9: ", "");
    /* what the reader refuses on purpose */
    FAILS("resources:\n  a: &x {type: keypair}\n  b: *x\n", NULL, "line 3, column 6: ", "alias");
    FAILS("resources: {}\nresources: {}\n", NULL, "line 2, column 1: ", "duplicate");
    FAILS("resources: {}\n---\nresources: {}\n", NULL, "line 2, column 1: ", "document");
    FAILS("- a\n- b\n", NULL, "line 1, column 1: ", "mapping");
    FAILS("", NULL, "line 1, column 1: ", "");
}

static void test_unknown_type(void)
{
    FAILS("resources:\n  a:\n    type: nope\n", NULL,
          "line 3, column 5: ", "resource 'a': unknown type 'nope' (known: ");
    FAILS("resources:\n  a:\n    type: keypair\n    colour: red\n", NULL,
          "line 4, column 5: ", "colour");
    FAILS("resources:\n  a: {properties: {}}\n", NULL,
          "line 2, column 3: ", "resource 'a' has no type");
    FAILS("resoruces: {}\n", NULL, "line 1, column 1: ", "resoruces");
}

static void test_unknown_property(void)
{
    FAILS("resources:\n"
          "  k:\n"
          "    type: keypair\n"
          "    properties:\n"
          "      name: x\n"
          "      public_key: \"" KEY "\"\n"
          "      colour: red\n",
          NULL, "line 7, column 7: ", "no property 'colour'");
}

static void test_missing_required(void)
{
    FAILS("resources:\n"
          "  k:\n"
          "    type: keypair\n"
          "    properties:\n"
          "      name: x\n",
          NULL, "line 4, column 5: ", "resource 'k': property 'public_key' is required");
    /* no properties at all: the resource itself */
    FAILS("resources:\n  k:\n    type: keypair\n", NULL,
          "line 2, column 3: ", "property 'name' is required");
}

static void test_wrong_type(void)
{
    FAILS("resources:\n"
          "  cpu:\n"
          "    type: alarm\n"
          "    properties:\n"
          "      name: c\n"
          "      metric: cpu\n"
          "      statistic: avg\n"
          "      comparison: gt\n"
          "      threshold: high\n"
          "      window_s: 60\n",
          NULL, "line 9, column 7: ", "resource 'cpu': property 'threshold' must be a number");
    FAILS("resources:\n"
          "  k:\n"
          "    type: keypair\n"
          "    properties: {name: [1, 2], public_key: y}\n",
          NULL, "line 4, column 18: ", "property 'name' must be a string");
    FAILS("resources:\n  k:\n    type: keypair\n    properties: [1]\n", NULL,
          "line 4, column 5: ", "properties must be a mapping");
    FAILS("resources:\n"
          "  k:\n"
          "    type: keypair\n"
          "    wait: sometimes\n"
          "    properties: {name: x, public_key: y}\n",
          NULL, "line 4, column 5: ", "wait must be true or false");
}

static void test_bad_reference(void)
{
    FAILS("resources:\n"
          "  k:\n"
          "    type: keypair\n"
          "    properties:\n"
          "      name: {ref: nobody}\n"
          "      public_key: y\n",
          NULL, "line 5, column 14: ", "bad reference: 'nobody'");
    FAILS("resources:\n"
          "  k:\n"
          "    type: keypair\n"
          "    properties:\n"
          "      name: {get_attr: [ghost, name]}\n"
          "      public_key: y\n",
          NULL, "line 5, column 14: ", "bad reference: there is no resource 'ghost'");
    FAILS("resources:\n"
          "  k:\n"
          "    type: keypair\n"
          "    depends_on: [a, zz]\n"
          "    properties: {name: x, public_key: y}\n"
          "  a:\n"
          "    type: keypair\n"
          "    properties: {name: a, public_key: y}\n",
          NULL, "line 4, column 21: ", "bad reference in depends_on: no resource 'zz'");
    FAILS("resources: {}\noutputs:\n  o: {value: {ref: gone}}\n", NULL,
          "line 3, column 15: ", "bad reference");
}

static void test_dependency_cycle(void)
{
    FAILS("resources:\n"
          "  a:\n"
          "    type: keypair\n"
          "    properties: {name: {ref: b}, public_key: y}\n"
          "  b:\n"
          "    type: keypair\n"
          "    properties: {name: {ref: a}, public_key: y}\n",
          NULL, "line 2, column 3: ", "dependency cycle: a -> b -> a");
    /* a longer one reached from outside it, through depends_on */
    FAILS("resources:\n"
          "  start: {type: keypair, depends_on: x, properties: {name: s, public_key: y}}\n"
          "  x: {type: keypair, depends_on: y, properties: {name: x, public_key: y}}\n"
          "  y: {type: keypair, depends_on: z, properties: {name: y, public_key: y}}\n"
          "  z: {type: keypair, depends_on: x, properties: {name: z, public_key: y}}\n",
          NULL, "line 3, column 3: ", "dependency cycle: x -> y -> z -> x");
    FAILS("resources:\n  self: {type: keypair, depends_on: self, properties: {name: s, "
          "public_key: y}}\n",
          NULL, "line 2, column 3: ", "dependency cycle: self -> self");
}

static const char param_tmpl[] = "parameters:\n"
                                 "  count:\n"
                                 "    type: integer\n"
                                 "    default: 2\n"
                                 "    constraints: {min: 1, max: 5}\n"
                                 "  size:\n"
                                 "    type: string\n"
                                 "    default: small\n"
                                 "    constraints:\n"
                                 "      allowed_values: [small, large]\n"
                                 "  tag:\n"
                                 "    type: string\n"
                                 "    default: web\n"
                                 "    constraints: {pattern: '^[a-z]+$', max_length: 8}\n"
                                 "  zones:\n"
                                 "    type: list\n"
                                 "    default: [a]\n"
                                 "    constraints: {min_length: 1}\n"
                                 "resources: {}\n";

static void test_parameter_constraints(void)
{
    FAILS(param_tmpl, "{\"count\": 9}",
          "line 5, column 27: ", "parameter 'count': 9 is above the maximum 5");
    FAILS(param_tmpl, "{\"count\": \"0\"}",
          "line 5, column 19: ", "parameter 'count': 0 is below the minimum 1");
    FAILS(param_tmpl, "{\"size\": \"huge\"}",
          "line 10, column 7: ", "'huge' is not one of the allowed values");
    FAILS(param_tmpl, "{\"tag\": \"Web\"}", "line 14, column 19: ", "does not match the pattern");
    FAILS(param_tmpl, "{\"tag\": \"abcdefghij\"}",
          "line 14, column 40: ", "parameter 'tag': length 10 is above the maximum 8");
    FAILS(param_tmpl, "{\"zones\": []}",
          "line 18, column 19: ", "parameter 'zones': length 0 is below the minimum 1");
    /* a value that is not of the declared type, a name the template lacks */
    FAILS(param_tmpl, "{\"count\": \"many\"}",
          "line 2, column 3: ", "parameter 'count': the value given must be an integer");
    /* (a value given for a parameter the template lacks has no place in it) */
    FAILS(param_tmpl, "{\"nope\": 1}", "parameter 'nope' is not declared by the template", "");
    /* a default that breaks its own constraints, a parameter without value */
    FAILS("parameters:\n  n: {type: integer, default: 7, constraints: {max: 3}}\nresources: {}\n",
          NULL, "line 2, column 48: ", "parameter 'n': 7 is above the maximum 3");
    FAILS("parameters:\n  n:\n    type: integer\nresources: {}\n", NULL,
          "line 2, column 3: ", "parameter 'n' has no default: give it a value (-p n=...)");
    FAILS("parameters:\n  n: {type: float}\nresources: {}\n", NULL, "line 2, column ",
          "type must be string, number, integer, boolean or");
}

/* ------------------------------------------------------------ success */

static size_t index_of(const struct stack_tmpl *t, const char *name)
{
    for (size_t i = 0; i < t->nres; i++)
        if (strcmp(t->res[i].name, name) == 0)
            return i;
    return (size_t)-1;
}

static void test_dependency_order(void)
{
    /* declared dependents first; independent ones keep template order */
    static const char text[] = "resources:\n"
                               "  alarm:\n"
                               "    type: alarm\n"
                               "    properties: {name: a, metric: cpu, statistic: avg,\n"
                               "      comparison: gt, threshold: 1, window_s: 60,\n"
                               "      instance: {ref: web}}\n"
                               "  web:\n"
                               "    type: instance\n"
                               "    properties: {name: w, flavor: f, image: i,\n"
                               "      keypair: {get_attr: [key, name]},\n"
                               "      server_group: {ref: group}}\n"
                               "  lonely:\n"
                               "    type: keypair\n"
                               "    properties: {name: l, public_key: y}\n"
                               "  group:\n"
                               "    type: server_group\n"
                               "    depends_on: [key]\n"
                               "    properties: {name: g, policy: anti-affinity}\n"
                               "  key:\n"
                               "    type: keypair\n"
                               "    properties: {name: k, public_key: y}\n";
    struct nubo_err err;
    struct stack_tmpl *t = load(text, NULL, &err);
    if (!CHECK(t != NULL)) {
        fprintf(stderr, "    %s\n", err.msg);
        return;
    }
    CHECK_INT_EQ(t->nres, 5);
    CHECK(index_of(t, "key") < index_of(t, "group"));
    CHECK(index_of(t, "group") < index_of(t, "web"));
    CHECK(index_of(t, "key") < index_of(t, "web"));
    CHECK(index_of(t, "web") < index_of(t, "alarm"));
    const struct stack_res *web = stack_tmpl_res(t, "web");
    if (CHECK(web != NULL)) {
        CHECK_INT_EQ(web->ndeps, 2);
        CHECK_STR_EQ(web->type->name, "instance");
    }
    const struct stack_res *group = stack_tmpl_res(t, "group");
    if (CHECK(group != NULL) && CHECK_INT_EQ(group->ndeps, 1))
        CHECK_STR_EQ(group->deps[0], "key");
    CHECK(stack_tmpl_res(t, "nobody") == NULL);
    stack_tmpl_free(t);
}

static void test_parameter_conversion(void)
{
    static const char text[] = "parameters:\n"
                               "  n: {type: integer}\n"
                               "  x: {type: number}\n"
                               "  b: {type: boolean}\n"
                               "  l: {type: list}\n"
                               "  s: {type: string}\n"
                               "  d: {type: integer, default: 3}\n"
                               "resources: {}\n";
    struct nubo_err err;
    /* text, as `-p k=v` sends it, becomes the declared type */
    struct stack_tmpl *t = load(
        text, "{\"n\": \"42\", \"x\": \"2.5\", \"b\": \"true\", \"l\": \"a,b,,c\", \"s\": \"7\"}",
        &err);
    if (!CHECK(t != NULL)) {
        fprintf(stderr, "    %s\n", err.msg);
        return;
    }
    CHECK(json_is_integer(json_object_get(t->params, "n")));
    CHECK_INT_EQ(json_integer_value(json_object_get(t->params, "n")), 42);
    CHECK(json_real_value(json_object_get(t->params, "x")) == 2.5);
    CHECK(json_is_true(json_object_get(t->params, "b")));
    json_t *l = json_object_get(t->params, "l");
    if (CHECK(json_is_array(l)) && CHECK_INT_EQ(json_array_size(l), 4)) {
        CHECK_STR_EQ(json_string_value(json_array_get(l, 0)), "a");
        CHECK_STR_EQ(json_string_value(json_array_get(l, 2)), "");
        CHECK_STR_EQ(json_string_value(json_array_get(l, 3)), "c");
    }
    CHECK_STR_EQ(json_string_value(json_object_get(t->params, "s")), "7");
    CHECK_INT_EQ(json_integer_value(json_object_get(t->params, "d")), 3);
    stack_tmpl_free(t);

    /* JSON values of the right type are taken as they are */
    t = load(text, "{\"n\": 1, \"x\": 3, \"b\": false, \"l\": [1, 2], \"s\": \"s\", \"d\": 9}",
             &err);
    if (CHECK(t != NULL)) {
        CHECK_INT_EQ(json_integer_value(json_object_get(t->params, "d")), 9);
        CHECK(json_is_false(json_object_get(t->params, "b")));
        CHECK_INT_EQ(json_array_size(json_object_get(t->params, "l")), 2);
        stack_tmpl_free(t);
    }
    /* text that is not of the type */
    static const char *const bad[] = {
        "{\"n\": \"4x\", \"x\": 1, \"b\": true, \"l\": [], \"s\": \"\"}",
        "{\"n\": \"1.5\", \"x\": 1, \"b\": true, \"l\": [], \"s\": \"\"}",
        "{\"n\": 1, \"x\": \"inf\", \"b\": true, \"l\": [], \"s\": \"\"}",
        "{\"n\": 1, \"x\": 1, \"b\": \"yes\", \"l\": [], \"s\": \"\"}",
        "{\"n\": 1, \"x\": 1, \"b\": true, \"l\": [], \"s\": 5}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t = load(text, bad[i], &err);
        if (!CHECK(t == NULL))
            stack_tmpl_free(t);
        else
            CHECK_STR_HAS(err.msg, "the value given must be");
    }
}

struct fake_state {
    int calls;
};

static void fake_lookup(void *arg, const char *res, const char *attr, json_t **out)
{
    struct fake_state *s = arg;
    s->calls++;
    if (strcmp(res, "key") == 0)
        *out = json_string(attr ? "attr-of-key" : "key-id");
    /* "web" stays unknown: still to be created */
}

static void test_intrinsics(void)
{
    static const char text[] = "parameters:\n"
                               "  env: {type: string, default: prod}\n"
                               "resources:\n"
                               "  key: {type: keypair, properties: {name: k, public_key: y}}\n"
                               "  web: {type: keypair, properties: {name: w, public_key: y}}\n"
                               "outputs:\n"
                               "  a: {value: {join: ['-', [{ref: env}, {ref: key}, x]]}}\n"
                               "  b: {value: {get_attr: [key, name]}}\n"
                               "  c: {value: {join: [':', [{ref: web}, {ref: env}]]}}\n";
    struct nubo_err err;
    struct stack_tmpl *t = load(text, NULL, &err);
    if (!CHECK(t != NULL)) {
        fprintf(stderr, "    %s\n", err.msg);
        return;
    }
    struct fake_state s = {0};
    bool unknown = false;
    json_t *a = stack_resolve(t, json_object_get(json_object_get(t->outputs, "a"), "value"),
                              fake_lookup, &s, &unknown);
    CHECK_STR_EQ(json_string_value(a), "prod-key-id-x");
    CHECK(!unknown);
    json_t *b = stack_resolve(t, json_object_get(json_object_get(t->outputs, "b"), "value"),
                              fake_lookup, &s, &unknown);
    CHECK_STR_EQ(json_string_value(b), "attr-of-key");
    CHECK(!unknown);
    json_t *c = stack_resolve(t, json_object_get(json_object_get(t->outputs, "c"), "value"),
                              fake_lookup, &s, &unknown);
    CHECK(unknown);
    CHECK_STR_HAS(json_string_value(c), STACK_UNKNOWN);
    CHECK(s.calls >= 3);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    stack_tmpl_free(t);
}

static void test_json_is_yaml(void)
{
    struct nubo_err err;
    struct stack_tmpl *t = load("{\"resources\": {\"k\": {\"type\": \"keypair\", \"properties\":"
                                " {\"name\": \"k\", \"public_key\": \"y\"}}}}",
                                NULL, &err);
    if (CHECK(t != NULL)) {
        CHECK_INT_EQ(t->nres, 1);
        stack_tmpl_free(t);
    }
    /* located errors in JSON too */
    FAILS("{\"resources\": {\"k\": {\"type\": \"nope\"}}}", NULL,
          "line 1, column 22: ", "unknown type");
}

/* ------------------------------------------ networking and scaling types */

/* One resource of type `type` with the properties in `props` (YAML flow
 * lines, each "      key: value\n"), starting at line 5. */
#define ONE(type, props) "resources:\n  r:\n    type: " type "\n    properties:\n" props

static void test_network_types(void)
{
    FAILS(ONE("subnet", "      network: n\n      cidr: 10.0.0.1/24\n"), NULL,
          "line 6, column 7: ", "host bits");
    FAILS(ONE("subnet", "      network: n\n      cidr: 10.0.0.0/24\n      gateway: 10.0.0.300\n"),
          NULL, "line 7, column 7: ", "gateway must be an IPv4 address");
    FAILS(ONE("subnet", "      cidr: 10.0.0.0/24\n"), NULL,
          "line 4, column 5: ", "property 'network' is required for type 'subnet'");
    FAILS(ONE("security_group", "      name: default\n"), NULL,
          "line 5, column 7: ", "\"default\" group exists already");
    FAILS(ONE("security_group_rule", "      security_group: g\n      direction: inwards\n"), NULL,
          "line 6, column 7: ", "direction must be ingress or egress");
    FAILS(ONE("security_group_rule",
              "      security_group: g\n      direction: ingress\n      protocol: sctp\n"),
          NULL, "line 7, column 7: ", "protocol must be any, tcp, udp or icmp");
    FAILS(ONE("security_group_rule", "      security_group: g\n      direction: ingress\n"
                                     "      port_min: 90\n      port_max: 80\n"),
          NULL, "line 8, column 7: ", "port_max must not be below port_min");
    FAILS(ONE("security_group_rule",
              "      security_group: g\n      direction: ingress\n      port_min: 70000\n"),
          NULL, "line 7, column 7: ", "ports must be 0..65535");
    FAILS(ONE("security_group_rule", "      security_group: g\n      direction: ingress\n"
                                     "      remote_cidr: 0.0.0.0/0\n      remote_group: g\n"),
          NULL, "line 8, column 7: ", "not both");
    FAILS(ONE("security_group_rule", "      security_group: g\n      direction: ingress\n"
                                     "      remote_cidr: 10.0.0/8\n"),
          NULL, "line 7, column 7: ", "remote_cidr");
    FAILS(ONE("floating_ip", "      port: p\n      instance: i\n"), NULL,
          "line 6, column 7: ", "port or instance, not both");
    FAILS(ONE("network", "      name: n\n      mtu: big\n"), NULL,
          "line 6, column 7: ", "property 'mtu' must be an integer");
}

static void test_instance_networks(void)
{
#define INST "      name: i\n      flavor: f\n      image: g\n"
    /* line 8 holds networks */
    FAILS(ONE("instance", INST "      networks: [{fixed_ip: 10.0.0.5}]\n"), NULL,
          "line 8, column 7: ", "networks[0] needs a network or a subnet");
    FAILS(ONE("instance", INST "      networks: [n, {network: n, port: 3}]\n"), NULL,
          "line 8, column 7: ", "networks[1]: unknown key 'port'");
    FAILS(ONE("instance", INST "      networks: [{network: n, fixed_ip: 10.0.0.256}]\n"), NULL,
          "line 8, column 7: ", "is not an IPv4 address");
    FAILS(ONE("instance", INST "      networks: [7]\n"), NULL,
          "line 8, column 7: ", "networks[0] must be a network or a mapping");
    FAILS(ONE("instance", INST "      networks: n\n"), NULL,
          "line 8, column 7: ", "property 'networks' must be a list");
    FAILS(ONE("instance", INST "      security_groups: [{name: g}]\n"), NULL,
          "line 8, column 7: ", "security_groups[0] must be a group's id or name");
    /* a launch template's instances cannot share a fixed address */
    FAILS(ONE("launch_template", INST "      networks: [{network: n, fixed_ip: 10.0.0.5}]\n"), NULL,
          "line 8, column 7: ", "cannot share an address");
    /* references inside entries are fine, and make dependencies */
    struct nubo_err err;
    struct stack_tmpl *t = load("resources:\n"
                                "  i:\n    type: instance\n    properties:\n" INST
                                "      networks: [{subnet: {ref: s}, fixed_ip: 10.0.0.5}]\n"
                                "  s:\n    type: subnet\n"
                                "    properties: {network: {ref: n}, cidr: 10.0.0.0/24}\n"
                                "  n:\n    type: network\n    properties: {name: n}\n",
                                NULL, &err);
    if (CHECK(t != NULL)) {
        CHECK_STR_EQ(t->res[0].name, "n");
        CHECK_STR_EQ(t->res[1].name, "s");
        CHECK_STR_EQ(t->res[2].name, "i");
        stack_tmpl_free(t);
    } else {
        fprintf(stderr, "    %s\n", err.msg);
    }
#undef INST
}

static void test_scale_types(void)
{
#define ASG "      name: a\n      launch_template: t\n"
    FAILS(ONE("autoscaling_group", ASG "      min_size: 3\n      max_size: 2\n"), NULL,
          "line 8, column 7: ", "max_size is below min_size");
    FAILS(ONE("autoscaling_group", ASG "      min_size: 1\n      max_size: 2\n      desired: 5\n"),
          NULL, "line 9, column 7: ", "desired must be between min_size and max_size");
    FAILS(ONE("autoscaling_group", ASG "      min_size: 1\n      max_size: 99\n"), NULL,
          "line 8, column 7: ", "max_size must be 0..50");
    FAILS(ONE("autoscaling_group", ASG "      min_size: 1\n      max_size: 2\n"
                                       "      termination_policy: random\n"),
          NULL, "line 9, column 7: ", "oldest-first or newest-first");
    FAILS(ONE("autoscaling_group", ASG "      max_size: 2\n"), NULL,
          "line 4, column 5: ", "property 'min_size' is required");
#define POL "      name: p\n      group: g\n"
    FAILS(ONE("scaling_policy", POL "      kind: sideways\n"), NULL,
          "line 7, column 7: ", "kind must be target or step");
    FAILS(ONE("scaling_policy", POL "      kind: target\n"), NULL,
          "line 7, column 7: ", "a target policy needs target_value");
    FAILS(ONE("scaling_policy", POL "      kind: step\n      alarm: a\n"), NULL,
          "line 7, column 7: ", "a step policy needs steps");
    FAILS(ONE("scaling_policy", POL "      kind: target\n      target_value: 50\n"
                                    "      alarm: a\n"),
          NULL, "line 9, column 7: ", "alarm is for step policies only");
    /* sizes from parameters are checked when known: here they are fine */
    struct nubo_err err;
    struct stack_tmpl *t =
        load("parameters: {n: {type: integer, default: 2}}\n" ONE(
                 "autoscaling_group", ASG "      min_size: {ref: n}\n      max_size: 4\n"),
             NULL, &err);
    if (CHECK(t != NULL))
        stack_tmpl_free(t);
#undef ASG
#undef POL
}

CHECK_MAIN({"bad_yaml", test_bad_yaml}, {"unknown_type", test_unknown_type},
           {"unknown_property", test_unknown_property}, {"missing_required", test_missing_required},
           {"wrong_type", test_wrong_type}, {"bad_reference", test_bad_reference},
           {"dependency_cycle", test_dependency_cycle},
           {"parameter_constraints", test_parameter_constraints},
           {"dependency_order", test_dependency_order},
           {"parameter_conversion", test_parameter_conversion}, {"intrinsics", test_intrinsics},
           {"json_is_yaml", test_json_is_yaml}, {"network_types", test_network_types},
           {"instance_networks", test_instance_networks}, {"scale_types", test_scale_types})
