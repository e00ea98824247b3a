#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "buf.h"
#include "httpc.h"

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
	struct buf	*b = arg;
	size_t		 len = size * n;

	if (b->len < HTTPC_BODY_MAX)
		buf_append(b, data, b->len + len > HTTPC_BODY_MAX ? HTTPC_BODY_MAX - b->len : len);
	return len;
}

enum fb_err
httpc_get(const char *url, const char *const *headers, long timeout_ms,
    struct httpc_response *r, char *err, size_t errlen)
{
	static bool		 inited;
	CURL			*c;
	struct curl_slist	*hl = NULL, *t;
	struct buf		 body = BUF_INIT;
	CURLcode		 rc;
	enum fb_err		 e = FB_OK;
	size_t			 i;

	memset(r, 0, sizeof(*r));
	err[0] = '\0';
	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			return FB_ERR_INTERNAL;
		inited = true;
	}
	if ((c = curl_easy_init()) == NULL)
		return FB_ERR_NOMEM;
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		if ((t = curl_slist_append(hl, headers[i])) == NULL) {
			e = FB_ERR_NOMEM;
			goto out;
		}
		hl = t;
	}
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "fastback") != CURLE_OK) {
		e = FB_ERR_INTERNAL;
		goto out;
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(err, errlen, "no answer within %ld ms", timeout_ms);
		e = FB_ERR_TIMEOUT;
	} else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
		snprintf(err, errlen, "cannot connect: %s", curl_easy_strerror(rc));
		e = FB_ERR_UNAVAILABLE;
	} else if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_easy_strerror(rc));
		e = FB_ERR_UNAVAILABLE;
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
		r->len = body.len;
		r->body = buf_take(&body);
	}
out:
	buf_free(&body);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return e;
}

void
httpc_response_free(struct httpc_response *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}
