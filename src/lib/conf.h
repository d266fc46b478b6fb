/*
 * conf.h - configuration files for the daemons: every long option of the
 * command line is also a line of the file.
 *
 *     # /etc/nubo/nubod.conf
 *     listen = 0.0.0.0:7700
 *     host-down-ms = 10000
 *
 * nubod and nubo-hostd take `--config FILE`: conf_argv() turns the file
 * into "--name=value" arguments placed before the command line's own, so
 * getopt_long() parses both and the command line wins.
 */
#ifndef NUBO_LIB_CONF_H
#define NUBO_LIB_CONF_H

#include <getopt.h>

#include "lib/err.h"
#include "lib/strv.h"

/* Builds in out (zeroed by the caller) the arguments to parse: argv[0],
 * one "--name=value" ("--name" for an option without argument) per line of
 * the file named by the first "--config FILE" or "--config=FILE" in argv,
 * then argv's other arguments.  Without --config, a copy of argv.
 *
 * Lines are "name = value", "name" (an option without argument), blank or
 * "# comment"; a value may be in double quotes (kept as is inside).  Every
 * name must be one of opts (getopt_long's table, {0} last) and take a
 * value exactly when opts says so; "help", "version" and "config" itself
 * are refused.  Returns 0, or -1 with err naming the file and line (out is
 * left empty). */
int conf_argv(int argc, char **argv, const struct option *opts, struct strv *out,
              struct nubo_err *err);

#endif
