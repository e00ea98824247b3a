#include "routes.h"

/* Literal routes before parameterised ones: the first match wins. */
const struct route routes[] = {
	{ M_GET, "/health", health_get, AUTH_NONE, NULL, 0,
	  "Liveness: answers without touching any dependency" },
	{ M_GET, "/ready", ready_get, AUTH_NONE, NULL, 0,
	  "Readiness: PostgreSQL and Redis with latency" },
	{ M_GET, "/metrics", metrics_get, AUTH_METRICS, NULL, 0,
	  "Prometheus metrics of the whole pool" },
	{ M_GET, "/api/openapi.json", openapi_get, AUTH_NONE, NULL, 0,
	  "This OpenAPI 3.1 document" },
	{ M_GET, "/api/docs", docs_get, AUTH_NONE, NULL, 0,
	  "HTML page rendering the OpenAPI document" },
	{ M_GET, "/api/docs.js", docs_js_get, AUTH_NONE, NULL, 0,
	  "Script of the documentation page" },
	{ M_GET, "/.well-known/jwks.json", jwks_get, AUTH_NONE, NULL, 0,
	  "Public keys of asymmetric token signing" },
};
const size_t routes_count = sizeof(routes) / sizeof(routes[0]);

const char *
route_label(size_t id)
{
	return id < routes_count ? routes[id].pattern : "unmatched";
}
