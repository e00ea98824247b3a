/*
 * test_metrics — the shared counters and histograms: nothing before
 * metrics_init(), counters, label escaping, the Prometheus text (cumulative
 * buckets, _count equal to +Inf), dropped series, and four forked children
 * adding to the same counter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "tap.h"

static const char *const routes[] = { "/health", "/api/x/{id}", "/q\"uote\\d" };
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* The rendered text; caller frees. */
static char *
render(void)
{
	struct buf	out = BUF_INIT;
	char		*s;

	metrics_render(&out, routes, NROUTES);
	if (buf_failed(&out))
		bail_out("metrics_render failed");
	s = buf_take(&out);
	return s != NULL ? s : strdup("");
}

/* The value on the line that starts with "series " (or -1). */
static long long
value_of(const char *text, const char *series)
{
	const char	*p = text;
	size_t		 len = strlen(series);

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[len] == ' ')
			return strtoll(p + len + 1, NULL, 10);
		p += len;
	}
	return -1;
}

static int
occurrences(const char *text, const char *needle)
{
	int	n = 0;

	for (; (text = strstr(text, needle)) != NULL; text += strlen(needle))
		n++;
	return n;
}

static void
test_before_init(void)
{
	struct buf	out = BUF_INIT;

	metrics_add("early_total", 1);
	metrics_http(0, "/health", "GET", 200, 0.001);
	ok(1, "metrics_add and metrics_http before metrics_init do nothing");
	metrics_render(&out, routes, NROUTES);
	is_str(buf_str(&out), "", "metrics_render before metrics_init writes nothing");
	buf_free(&out);
}

static void
test_escape(void)
{
	char	out[64];

	metrics_escape(out, sizeof(out), "plain/{id}");
	is_str(out, "plain/{id}", "nothing to escape");
	metrics_escape(out, sizeof(out), "a\"b\\c\nd");
	is_str(out, "a\\\"b\\\\c\\nd", "quote, backslash and newline escaped");
	metrics_escape(out, sizeof(out), "");
	is_str(out, "", "empty value");
	metrics_escape(out, 6, "abcdefgh");
	is_str(out, "abc", "cut to fit, keeping room for a 2-byte escape and the NUL");
	metrics_escape(out, 5, "\"\"\"");
	is_str(out, "\\\"", "an escape is never split");
	out[0] = 'x';
	metrics_escape(out, 0, "abc");
	is_int(out[0], 'x', "outlen 0 writes nothing");
	metrics_escape(out, 1, "abc");
	is_str(out, "", "outlen 1 gives \"\"");
}

static void
test_counters(void)
{
	char	*text, name[METRICS_NAME_MAX + 10];
	long long before;

	is_int(metrics_init(), FB_OK, "metrics_init");
	is_int(metrics_init(), FB_OK, "metrics_init is idempotent");
	metrics_add("jobs_total{kind=\"mail\",outcome=\"ok\"}", 5);
	metrics_add("jobs_total{kind=\"mail\",outcome=\"ok\"}", 2);
	metrics_add("jobs_total{kind=\"mail\",outcome=\"failed\"}", 1);
	metrics_add("logins_total", 3);
	metrics_add("zero_total", 0);
	text = render();
	is_int(value_of(text, "jobs_total{kind=\"mail\",outcome=\"ok\"}"), 7,
	    "a counter adds up");
	is_int(value_of(text, "jobs_total{kind=\"mail\",outcome=\"failed\"}"), 1,
	    "another label set is another series");
	is_int(value_of(text, "logins_total"), 3, "a series without labels");
	is_int(value_of(text, "zero_total"), 0, "adding 0 creates the series");
	is_int(occurrences(text, "# TYPE jobs_total counter\n"), 1,
	    "one TYPE line for both jobs_total series");
	has_str(text, "# TYPE logins_total counter\n", "TYPE line of logins_total");
	is_int(value_of(text, "fastback_metrics_dropped_total"), 0, "nothing dropped yet");
	has_str(text, "# TYPE fastback_metrics_dropped_total counter\n",
	    "TYPE line of the dropped counter");
	ok(strstr(text, "early_total") == NULL, "nothing counted before init");
	free(text);

	before = 0;
	memset(name, 'x', METRICS_NAME_MAX);
	name[METRICS_NAME_MAX] = '\0';
	metrics_add(name, 1);
	name[METRICS_NAME_MAX - 1] = '\0';
	metrics_add(name, 1);	/* 159 bytes: fits */
	text = render();
	is_int(value_of(text, "fastback_metrics_dropped_total"), before + 1,
	    "a name of METRICS_NAME_MAX bytes is dropped and counted");
	is_int(value_of(text, name), 1, "a name of METRICS_NAME_MAX-1 bytes is kept");
	free(text);
}

static void
test_grouping(void)
{
	char	*text;

	/* A metric with and without labels, and a longer name sorting between
	 * them: each metric's lines must stay together under one TYPE line. */
	metrics_add("grp_total", 1);
	metrics_add("grp_total{a=\"1\"}", 1);
	metrics_add("grp_total_extra", 1);
	text = render();
	is_int(occurrences(text, "# TYPE grp_total counter\n"), 1,
	    "one TYPE line for grp_total");
	is_int(occurrences(text, "# TYPE grp_total_extra counter\n"), 1,
	    "one TYPE line for grp_total_extra");
	free(text);
}

static void
test_http(void)
{
	char	*text, series[200];
	long long prev, v, inf;
	size_t	 i;
	static const char *const les[] = {
		"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
		"0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
	};
	bool	 monotone = true;

	metrics_http(0, "/health", "GET", 200, 0.003);
	metrics_http(0, "/health", "GET", 200, 0.003);
	metrics_http(0, "/health", "GET", 200, 0.005);	/* on a bound: le is <= */
	metrics_http(0, "/health", "HEAD", 200, 0.2);
	metrics_http(0, "/health", "GET", 503, 42.0);	/* past every bound */
	metrics_http(0, "/health", "GET", 200, -1.0);	/* clock went back */
	metrics_http(2, routes[2], "GET", 404, 0.0001);
	metrics_http(METRICS_MAX_ROUTES, "/big", "GET", 200, 0.001);
	text = render();

	is_int(value_of(text, "http_requests_total{method=\"GET\",route=\"/health\","
	    "status=\"200\"}"), 4, "requests by method, route and status");
	is_int(value_of(text, "http_requests_total{method=\"HEAD\",route=\"/health\","
	    "status=\"200\"}"), 1, "HEAD counted apart");
	is_int(value_of(text, "http_requests_total{method=\"GET\",route=\"/health\","
	    "status=\"503\"}"), 1, "503 counted apart");
	is_int(value_of(text, "http_requests_total{method=\"GET\",route=\"/big\","
	    "status=\"200\"}"), 1, "a route id past the table still counts the request");
	has_str(text, "# TYPE http_request_duration_seconds histogram\n",
	    "histogram TYPE line");

	for (i = 0, prev = 0; i < sizeof(les) / sizeof(les[0]); i++) {
		snprintf(series, sizeof(series), "http_request_duration_seconds_bucket"
		    "{route=\"/health\",le=\"%s\"}", les[i]);
		v = value_of(text, series);
		if (v < prev)
			monotone = false;
		prev = v;
	}
	ok(monotone, "buckets are cumulative (never decrease)");
	is_int(value_of(text, "http_request_duration_seconds_bucket{route=\"/health\","
	    "le=\"0.0005\"}"), 1, "le=0.0005: the negative duration");
	is_int(value_of(text, "http_request_duration_seconds_bucket{route=\"/health\","
	    "le=\"0.0025\"}"), 1, "le=0.0025: still 1");
	is_int(value_of(text, "http_request_duration_seconds_bucket{route=\"/health\","
	    "le=\"0.005\"}"), 4, "le=0.005: two of 3 ms and one of exactly 5 ms");
	is_int(value_of(text, "http_request_duration_seconds_bucket{route=\"/health\","
	    "le=\"0.25\"}"), 5, "le=0.25: plus 200 ms");
	is_int(value_of(text, "http_request_duration_seconds_bucket{route=\"/health\","
	    "le=\"10\"}"), 5, "le=10: 42 s not yet");
	inf = value_of(text, "http_request_duration_seconds_bucket{route=\"/health\","
	    "le=\"+Inf\"}");
	is_int(inf, 6, "le=+Inf: every observation");
	is_int(value_of(text, "http_request_duration_seconds_count{route=\"/health\"}"),
	    inf, "_count equals the +Inf bucket");
	has_str(text, "http_request_duration_seconds_sum{route=\"/health\"} 42.2110",
	    "_sum in seconds (negative durations add 0)");

	ok(strstr(text, "route=\"/api/x/{id}\",le=") == NULL,
	    "a route without requests has no histogram");
	has_str(text, "http_request_duration_seconds_bucket{route=\"/q\\\"uote\\\\d\","
	    "le=\"0.0005\"} 1\n", "the route label is escaped in the histogram");
	has_str(text, "http_requests_total{method=\"GET\",route=\"/q\\\"uote\\\\d\","
	    "status=\"404\"} 1\n", "and in the request counter");
	free(text);
}

static void
test_fork(void)
{
	pid_t	 pids[4];
	int	 i, j, status, good = 0;
	char	*text;

	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < 4; i++) {
		if ((pids[i] = fork()) < 0) {
			ok(0, "fork %d", i);
			continue;
		}
		if (pids[i] == 0) {
			/* All four create the series at once, then add. */
			for (j = 0; j < 1000; j++) {
				metrics_add("forked_total", 1);
				metrics_add("forked_total{child=\"any\"}", 2);
			}
			for (j = 0; j < 100; j++)
				metrics_http(1, routes[1], "POST", 201, 0.01);
			_exit(0);
		}
	}
	for (i = 0; i < 4; i++)
		if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0)
			good++;
	is_int(good, 4, "four children exited 0");
	text = render();
	is_int(value_of(text, "forked_total"), 4000, "4 x 1000 adds: 4000");
	is_int(value_of(text, "forked_total{child=\"any\"}"), 8000, "4 x 1000 adds of 2: 8000");
	is_int(occurrences(text, "\nforked_total "), 1, "one series despite the race");
	is_int(value_of(text, "http_request_duration_seconds_count{route=\"/api/x/{id}\"}"),
	    400, "histogram count of 4 x 100");
	is_int(value_of(text, "http_requests_total{method=\"POST\",route=\"/api/x/{id}\","
	    "status=\"201\"}"), 400, "request counter of 4 x 100");
	free(text);
}

int
main(void)
{
	log_setup("test_metrics", FBLOG_ERROR);
	test_before_init();
	test_escape();
	test_counters();
	test_grouping();
	test_http();
	test_fork();
	return done_testing();
}
