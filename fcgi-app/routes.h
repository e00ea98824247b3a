/*
 * routes — the route table of the responder (one static const array) and the
 * handlers it names. Each resource file (health.c, ...) owns its handlers.
 */
#ifndef FB_ROUTES_H
#define FB_ROUTES_H

#include <stddef.h>

#include "router.h"

extern const struct route routes[];
extern const size_t routes_count;
/* The metrics label of a route id: its pattern, or "unmatched" past the table. */
const char *route_label(size_t id);

/* health.c */
void	health_get(struct request *req);
void	ready_get(struct request *req);
void	metrics_get(struct request *req);
/* openapi.c */
void	openapi_get(struct request *req);
void	docs_get(struct request *req);
void	docs_js_get(struct request *req);
void	jwks_get(struct request *req);

#endif
