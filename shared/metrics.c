#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "metrics.h"

/* Upper bounds (seconds) of the latency histogram buckets; +Inf is implied. */
static const double bounds[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))

struct histogram {
	_Atomic uint64_t bucket[NBOUNDS + 1];	/* per bucket, not cumulative */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_ns;
};

enum { SERIES_EMPTY, SERIES_WRITING, SERIES_READY };

struct series {
	_Atomic uint32_t state;
	uint32_t	 hash;
	char		 name[METRICS_NAME_MAX];
	_Atomic uint64_t value;
};

struct metrics_shm {
	struct histogram routes[METRICS_MAX_ROUTES];
	struct series	 series[METRICS_SERIES];
	_Atomic uint64_t dropped;
};

static struct metrics_shm *shm;

enum fb_err
metrics_init(void)
{
	void	*p;

	if (shm != NULL)
		return FB_OK;
	p = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_msg(FBLOG_ERROR, "metrics: mmap of %zu bytes failed", sizeof(*shm));
		return FB_ERR_NOMEM;
	}
	shm = p;	/* anonymous mappings start zeroed */
	return FB_OK;
}

static uint32_t
fnv1a(const char *s)
{
	uint32_t	h = 2166136261u;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h != 0 ? h : 1;
}

/* Finds or creates the series `name`; NULL when the table is full. */
static struct series *
series_get(const char *name)
{
	uint32_t	 h = fnv1a(name), expect;
	size_t		 i, n;
	struct series	*s;
	int		 spins;

	for (n = 0, i = h % METRICS_SERIES; n < METRICS_SERIES;
	    n++, i = (i + 1) % METRICS_SERIES) {
		s = &shm->series[i];
		expect = SERIES_EMPTY;
		if (atomic_load(&s->state) == SERIES_EMPTY &&
		    atomic_compare_exchange_strong(&s->state, &expect, SERIES_WRITING)) {
			s->hash = h;
			memcpy(s->name, name, strlen(name) + 1);
			atomic_store(&s->state, SERIES_READY);
			return s;
		}
		/* Another process is filling this slot in: wait for it. */
		for (spins = 0; atomic_load(&s->state) == SERIES_WRITING &&
		    spins < 1000000; spins++)
			;
		if (atomic_load(&s->state) == SERIES_READY && s->hash == h &&
		    strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

void
metrics_add(const char *name, uint64_t n)
{
	struct series	*s;

	if (shm == NULL)
		return;
	if (strlen(name) >= METRICS_NAME_MAX || (s = series_get(name)) == NULL) {
		atomic_fetch_add(&shm->dropped, 1);
		return;
	}
	atomic_fetch_add(&s->value, n);
}

void
metrics_escape(char *out, size_t outlen, const char *value)
{
	size_t	o = 0;

	if (outlen == 0)
		return;
	for (; *value != '\0' && o + 3 < outlen; value++) {
		if (*value == '\\' || *value == '"') {
			out[o++] = '\\';
			out[o++] = *value;
		} else if (*value == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else
			out[o++] = *value;
	}
	out[o] = '\0';
}

void
metrics_http(unsigned route_id, const char *route, const char *method,
    int status, double seconds)
{
	char		 name[METRICS_NAME_MAX], esc[96];
	struct histogram *h;
	size_t		 b;

	if (shm == NULL)
		return;
	metrics_escape(esc, sizeof(esc), route);
	if (snprintf(name, sizeof(name),
	    "http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"}",
	    method, esc, status) < (int)sizeof(name))
		metrics_add(name, 1);
	if (route_id >= METRICS_MAX_ROUTES)
		return;
	h = &shm->routes[route_id];
	for (b = 0; b < NBOUNDS && seconds > bounds[b]; b++)
		;
	atomic_fetch_add(&h->bucket[b], 1);
	atomic_fetch_add(&h->count, 1);
	atomic_fetch_add(&h->sum_ns, seconds > 0 ? (uint64_t)(seconds * 1e9) : 0);
}

static int
cmp_series(const void *a, const void *b)
{
	const struct series *const *x = a, *const *y = b;
	size_t	lx = strcspn((*x)->name, "{"), ly = strcspn((*y)->name, "{");
	int	c;

	/* By metric name first, so each name's series stay under one TYPE line. */
	c = strncmp((*x)->name, (*y)->name, lx < ly ? lx : ly);
	if (c != 0 || lx != ly)
		return c != 0 ? c : (lx < ly ? -1 : 1);
	return strcmp((*x)->name + lx, (*y)->name + ly);
}

void
metrics_render(struct buf *out, const char *const *route_names, size_t nroutes)
{
	struct series	**list;
	size_t		  i, n = 0, b, mlen, prevlen = 0;
	const char	 *prev = NULL;
	uint64_t	  cum;
	char		  esc[96];
	struct histogram *h;

	if (shm == NULL)
		return;
	if ((list = calloc(METRICS_SERIES, sizeof(*list))) == NULL) {
		out->failed = true;
		return;
	}
	for (i = 0; i < METRICS_SERIES; i++)
		if (atomic_load(&shm->series[i].state) == SERIES_READY)
			list[n++] = &shm->series[i];
	qsort(list, n, sizeof(*list), cmp_series);
	for (i = 0; i < n; i++) {
		mlen = strcspn(list[i]->name, "{");
		if (prev == NULL || mlen != prevlen || strncmp(prev, list[i]->name, mlen) != 0)
			buf_printf(out, "# TYPE %.*s counter\n", (int)mlen, list[i]->name);
		prev = list[i]->name;
		prevlen = mlen;
		buf_printf(out, "%s %llu\n", list[i]->name,
		    (unsigned long long)atomic_load(&list[i]->value));
	}
	free(list);

	buf_puts(out, "# TYPE http_request_duration_seconds histogram\n");
	for (i = 0; i < nroutes && i < METRICS_MAX_ROUTES; i++) {
		h = &shm->routes[i];
		if (atomic_load(&h->count) == 0)
			continue;
		metrics_escape(esc, sizeof(esc), route_names[i]);
		for (b = 0, cum = 0; b <= NBOUNDS; b++) {
			cum += atomic_load(&h->bucket[b]);
			if (b < NBOUNDS)
				buf_printf(out, "http_request_duration_seconds_bucket"
				    "{route=\"%s\",le=\"%g\"} %llu\n", esc, bounds[b],
				    (unsigned long long)cum);
			else
				buf_printf(out, "http_request_duration_seconds_bucket"
				    "{route=\"%s\",le=\"+Inf\"} %llu\n", esc,
				    (unsigned long long)cum);
		}
		buf_printf(out, "http_request_duration_seconds_sum{route=\"%s\"} %.9f\n",
		    esc, (double)atomic_load(&h->sum_ns) / 1e9);
		/* _count is the +Inf bucket's total, so the two always agree. */
		buf_printf(out, "http_request_duration_seconds_count{route=\"%s\"} %llu\n",
		    esc, (unsigned long long)cum);
	}
	buf_printf(out, "# TYPE fastback_metrics_dropped_total counter\n"
	    "fastback_metrics_dropped_total %llu\n",
	    (unsigned long long)atomic_load(&shm->dropped));
}
