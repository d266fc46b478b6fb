#!/bin/sh
# Fails when nubo's C code uses a function banned for being unsafe or
# unchecked (after curl's list): unbounded string copies and formats, and
# number parsing without error reporting.  Use snprintf, str_copy,
# valid_int/strtoll with full checking instead.
cd "$(dirname "$0")/.." || exit 2
BANNED='\b(sprintf|vsprintf|strcpy|strcat|strncpy|strncat|strtok|gets|atoi|atol|atoll|atof)[[:space:]]*\('
if grep -rnE "$BANNED" src tests/unit --include='*.c' --include='*.h'; then
    echo "check-banned: the calls above use banned functions" >&2
    exit 1
fi
# The CLI's commands parse options through cli_getopt(), which lets the
# command-tree walk read their tables (src/cli/cli.h): a command calling
# getopt_long() itself would be missing from the shell completions.
if grep -nE '\bgetopt_long[[:space:]]*\(' src/cli/*.c | grep -v '^src/cli/cli\.c:'; then
    echo "check-banned: src/cli commands call cli_getopt(), not getopt_long()" >&2
    exit 1
fi
echo "check-banned: ok"
