/*
 * metrics — Prometheus counters and latency histograms shared by every
 * process of a pool. metrics_init() maps an anonymous shared region; called
 * by a master before it forks, all its children add to the same numbers with
 * atomic operations (no locks, nothing to do in signal handlers). A process
 * that never called it (or whose mmap failed) counts nothing.
 */
#ifndef FB_METRICS_H
#define FB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define METRICS_MAX_ROUTES	256	/* route ids 0..255; the table has fewer */
#define METRICS_SERIES		4096	/* distinct labelled counter series */
#define METRICS_NAME_MAX	160	/* bytes of one series name with labels */

/* Maps the shared region. Idempotent. */
enum fb_err	metrics_init(void);
/* Counts one HTTP request: http_requests_total{method,route,status} and the
 * duration histogram of route_id. route is the route's pattern. */
void		metrics_http(unsigned route_id, const char *route, const char *method,
		    int status, double seconds);
/* Adds n to the counter series `name` (e.g. jobs_total{kind="x",outcome="ok"}).
 * Label values must already be escaped (metrics_escape). Names longer than
 * METRICS_NAME_MAX or a full table drop the count. */
void		metrics_add(const char *name, uint64_t n);
/* Escapes a label value (\ " and newline) into out (size outlen). */
void		metrics_escape(char *out, size_t outlen, const char *value);
/* Appends every counter and histogram in Prometheus text format.
 * route_names[i] is the label of route id i. */
void		metrics_render(struct buf *out, const char *const *route_names,
		    size_t nroutes);

#endif
