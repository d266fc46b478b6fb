/*
 * web.h - the web portal's files, served by nubod next to the API
 * (routes_web.c; docs/internals/portal.md).
 *
 * The portal is a single-page application built from web/ into a
 * directory (scripts/build-web.sh writes build/web): index.html, a few
 * files beside it and the bundles under assets/, whose names carry a hash
 * of their content.  nubod serves that directory read-only; the portal
 * itself talks to the API only through /v1 like any other client.
 */
#ifndef NUBO_WEB_H
#define NUBO_WEB_H

#include "api/api.h"

/* GET /, the client-side routes of the portal, /assets/<file> and the files
 * at the top of the web directory; every route is public (the files hold
 * no secret: the portal logs in through the API).  Ends with {NULL}. */
extern const struct route web_routes[];

/* Sets the directory the portal is served from (copied).  Call it once,
 * before the HTTP server starts; until then, or when dir holds no
 * index.html, portal pages answer 404 saying how to build the portal.
 * Returns 1 when dir holds an index.html, 0 otherwise. */
int web_set_dir(const char *dir);

#endif
