/*
 * opts.h - a command's options as data: a table of fields, each an --option
 * that becomes one member of a JSON object (the request body of a create
 * or an update, or the values a command reads back), checked as it is read.
 *
 * Most commands of `nubo` take options that map one to one onto the members
 * of what they send.  Instead of a getopt loop per command, a command
 * describes its options in a table and calls opts_parse():
 *
 *   static const struct opts_field fields[] = {
 *       {.name = "vcpus", .key = "vcpus", .type = FIELD_INT, .min = 1, .max = 64},
 *       {.name = "private", .key = "is_public", .type = FIELD_FALSE},
 *   };
 *   json_t *body;
 *   int rc = opts_parse(cli, argc, argv, fields, ARRAY_LEN(fields), usage, &body);
 *   if (rc != 0)
 *       return rc == CLI_HELP_SHOWN ? CLI_EXIT_OK : rc;
 *   ... positional arguments at argv[optind..] ...
 *
 * The common options (CLI_COMMON_OPTIONS) are handled as everywhere
 * (cli_option()); --help prints the command's own usage text, which stays
 * hand-written.  Bad values are usage errors (exit 2) whose messages name
 * the option ("--vcpus must be between 1 and 64 (got 99)").
 */
#ifndef NUBO_CLI_OPTS_H
#define NUBO_CLI_OPTS_H

#include <jansson.h>
#include <stddef.h>

#include "cli/cli.h"

/* How an option's value becomes a member.  Checked here (so the usage
 * error comes before any request): */
enum opts_type {
    FIELD_STR,    /* "key": "value" (UTF-8 text) */
    FIELD_ARG,    /* "key": the value unchecked, for the command itself (a path) */
    FIELD_NAME,   /* "key": "value", a name (lib/valid.h's valid_name()) */
    FIELD_REF,    /* "key": "value", a name or an id (cloud_ref_check(); `what` names it) */
    FIELD_INT,    /* "key": an integer in [min, max] */
    FIELD_MIB,    /* "key": a size ("512M", "2G"; bare: MiB) as MiB in [min, max] */
    FIELD_GIB,    /* "key": a size ("20G", "1T"; bare: GiB) as GiB in [min, max] */
    FIELD_CHOICE, /* "key": "value", one of `choices` ("a|b|c") */
    FIELD_TRUE,   /* a flag without a value: "key": true */
    FIELD_FALSE,  /* a flag without a value: "key": false */
    FIELD_LIST,   /* repeatable: "key": ["v1", "v2"] */
    FIELD_RANGE,  /* repeatable START-END: "key": [{"start": .., "end": ..}] */
    FIELD_FILE,   /* a file's text (at most max bytes): "key": "text" */
    /* Only parsed: the API checks the range and says what is wrong. */
    FIELD_ANY_INT, /* "key": any integer */
    FIELD_ANY_NUM, /* "key": any number */
    FIELD_JSON,    /* "key": any JSON value ("true", "3", "[...]") */
};

struct opts_field {
    const char *name; /* the long option, without "--" */
    const char *key;  /* the member it sets */
    enum opts_type type;
    long long min, max;  /* FIELD_INT, FIELD_MIB, FIELD_GIB: the range; FIELD_FILE: max bytes */
    const char *choices; /* FIELD_CHOICE: the values, separated by '|' */
    /* The usage error when the option is missing (see opts_required()), or
     * NULL when it is optional. */
    const char *required;
    /* How messages name the option; NULL: "--name". */
    const char *what;
    /* The usage error for any bad value, instead of the type's own
     * message; NULL for the type's. */
    const char *invalid;
};

/* The most fields a table may have. */
#define OPTS_MAX 32

/* Parses the options of a command (argv[0] is its word; options and
 * positional arguments may mix) by the table of n fields.  Returns 0 with
 * *out (a new object holding a member per option given; the caller's) and
 * the positional arguments at argv[optind..]; CLI_HELP_SHOWN after printing
 * usage for --help; or CLI_EXIT_USAGE after a usage error. */
int opts_parse(struct cli *cli, int argc, char **argv, const struct opts_field *table, size_t n,
               const char *usage, json_t **out);

/* Checks that every required field of the table has its member in values.
 * Returns 0, or CLI_EXIT_USAGE after printing the first missing field's
 * message.  Commands call it after checking their positional arguments. */
int opts_required(const struct cli *cli, const struct opts_field *table, size_t n,
                  const json_t *values);

/* A create command whose options map onto the fields of the POST body. */
struct opts_create {
    const char *collection; /* "/v1/networks" */
    const char *what;       /* "network", as the answer is printed */
    const char *positional; /* body member of the one argument, or NULL for none */
    const char *usage;
    const struct opts_field *fields;
    size_t nfields;
    /* How messages name the argument when it is missing, and when it is
     * not a valid name; NULL: positional. */
    const char *arg_missing, *arg_label;
    /* Adds what the body gets when the options did not say (or NULL). */
    void (*fill)(json_t *body);
};

/* `nubo GROUP create [ARG] [--option VALUE]...`: parses the options by
 * def's table, checks the argument (a valid name) and the required
 * options, POSTs the body to the collection and prints what was created.
 * Returns the exit status. */
int opts_cmd_create(struct cli *cli, int argc, char **argv, const struct opts_create *def);

#endif
