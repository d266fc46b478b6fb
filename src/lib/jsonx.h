/*
 * jsonx.h - small jansson helpers shared by every module.
 */
#ifndef NUBO_LIB_JSONX_H
#define NUBO_LIB_JSONX_H

#include <jansson.h>

/* The string member key of o, or "" when o is NULL, has no such member or
 * it is not a string (a NULL column reads as "").  The pointer is o's:
 * valid while o holds the member. */
const char *jsonx_str(const json_t *o, const char *key);

#endif
