/*
 * health — the operations routes: /health (liveness), /ready (dependencies
 * with latency) and /metrics (Prometheus text of the whole pool).
 */
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "request.h"
#include "routes.h"

static double
ms_since(const struct timespec *t0)
{
	struct timespec	t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

void
health_get(struct request *req)
{
	static const char ok[] = "{\"status\":\"ok\"}";

	resp_text(req, 200, "application/json", ok, sizeof(ok) - 1);
}

void
ready_get(struct request *req)
{
	struct app	*app = req->app;
	struct timespec	 t0;
	PGresult	*res;
	enum fb_err	 e;
	double		 ms;
	json_t		*checks;
	bool		 db_ok, kv_ok = true;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = db_query(&app->db, &res, "SELECT 1", 0, NULL);
	ms = ms_since(&t0);
	db_ok = e == FB_OK;
	PQclear(db_ok ? res : NULL);
	checks = json_pack("{s:{s:s,s:f}}", "database", "status", db_ok ? "ok" : "down",
	    "latency_ms", ms);
	if (app->has_kv) {
		kv_ok = kv_ping(&app->kv, &ms) == FB_OK;
		json_object_set_new(checks, "redis", json_pack("{s:s,s:f}", "status",
		    kv_ok ? "ok" : "down", "latency_ms", ms));
	}
	/* The database is required: without it we are down. Redis is optional:
	 * without it we still serve (rate limits fall back to PostgreSQL). */
	resp_json(req, db_ok ? 200 : 503, json_pack("{s:s,s:o}", "status",
	    !db_ok ? "down" : kv_ok ? "ok" : "degraded", "checks", checks));
	if (!db_ok)
		resp_header(req, "Retry-After", "5");
}

/* The queue's numbers come from the database: workers are other processes.
 * Without the database they are left out; the HTTP metrics still answer. */
static void
jobs_metrics(struct db *db, struct buf *out)
{
	PGresult	*res;
	char		 kind[96], outcome[48];
	int		 i;

	if (db_query(db, &res, "SELECT kind, outcome, count FROM job_counters"
	    " ORDER BY kind, outcome", 0, NULL) == FB_OK) {
		buf_puts(out, "# TYPE jobs_total counter\n");
		for (i = 0; i < PQntuples(res); i++) {
			metrics_escape(kind, sizeof(kind), db_get(res, i, "kind"));
			metrics_escape(outcome, sizeof(outcome), db_get(res, i, "outcome"));
			buf_printf(out, "jobs_total{kind=\"%s\",outcome=\"%s\"} %s\n", kind,
			    outcome, db_get(res, i, "count"));
		}
		PQclear(res);
	}
	if (db_query(db, &res, "SELECT"
	    " count(*) FILTER (WHERE state = 'queued' AND run_at <= now()) AS due,"
	    " count(*) FILTER (WHERE state = 'queued' AND run_at > now()) AS later,"
	    " count(*) FILTER (WHERE state = 'running') AS running"
	    " FROM jobs WHERE state IN ('queued', 'running')", 0, NULL) == FB_OK) {
		buf_printf(out, "# TYPE jobs_queued gauge\n"
		    "jobs_queued{due=\"now\"} %s\njobs_queued{due=\"later\"} %s\n"
		    "# TYPE jobs_running gauge\njobs_running %s\n",
		    db_get(res, 0, "due"), db_get(res, 0, "later"), db_get(res, 0, "running"));
		PQclear(res);
	}
}

void
metrics_get(struct request *req)
{
	static const char *names[METRICS_MAX_ROUTES];
	struct buf	 out = BUF_INIT;
	size_t		 i, n = routes_count + 1;

	if (n > METRICS_MAX_ROUTES)
		n = METRICS_MAX_ROUTES;
	for (i = 0; i < n; i++)
		names[i] = route_label(i);
	metrics_render(&out, names, n);
	buf_printf(&out, "# TYPE fastback_responders gauge\nfastback_responders %d\n",
	    req->app->cfg.fcgi_children);
	jobs_metrics(&req->app->db, &out);
	if (buf_failed(&out)) {
		buf_free(&out);
		resp_error(req, FB_ERR_NOMEM);
		return;
	}
	resp_text(req, 200, "text/plain; version=0.0.4", buf_str(&out), out.len);
	buf_free(&out);
}
