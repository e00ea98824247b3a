/*
 * dispatch — the request pipeline: target parsing, routing (404/405/OPTIONS),
 * CORS, the body (413/415/400 invalid_json), declared-input validation (422),
 * authorisation, the handler; then the access-log line and the metrics.
 */
#ifndef FB_DISPATCH_H
#define FB_DISPATCH_H

#include "request.h"

/* Runs the pipeline; on return req->resp holds the answer. */
void	dispatch(struct request *req);
/* The same against another route table (tests). */
void	dispatch_table(struct request *req, const struct route *table, size_t n);
/* The access-log line and the metrics of a finished request. */
void	dispatch_finish(struct request *req, long bytes);

#endif
