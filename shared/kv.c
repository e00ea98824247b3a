#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "kv.h"
#include "log.h"

#define KV_TIMEOUT_MS 1000

static void
kv_clear(struct kv *k)
{
	free(k->host);
	free(k->path);
	if (k->password != NULL)
		OPENSSL_cleanse(k->password, strlen(k->password));
	free(k->password);
	k->host = k->path = k->password = NULL;
}

/* Percent-decodes s[0..len) into a new string; NULL when malformed. */
static char *
pct_decode(const char *s, size_t len)
{
	char	*out, hex[3] = { 0, 0, 0 };
	size_t	 i, o = 0;

	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
		    !isxdigit((unsigned char)s[i + 2])) {
			free(out);
			return NULL;
		}
		hex[0] = s[i + 1];
		hex[1] = s[i + 2];
		out[o++] = (char)strtol(hex, NULL, 16);
		i += 2;
	}
	out[o] = '\0';
	if (memchr(out, '\0', o) != NULL) {
		free(out);
		return NULL;
	}
	return out;
}

/* Fills k's address fields from url. */
static enum fb_err
kv_parse(struct kv *k, const char *url)
{
	const char	*p, *at, *end, *colon, *slash;
	char		*stop;
	long		 n;

	memset(k, 0, sizeof(*k));
	k->port = 6379;
	if (strncmp(url, "unix://", 7) == 0) {
		if (url[7] != '/' || url[8] == '\0')
			return FB_ERR_INVALID;
		return (k->path = strdup(url + 7)) != NULL ? FB_OK : FB_ERR_NOMEM;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return FB_ERR_INVALID;
	p = url + 8;
	end = p + strcspn(p, "/");
	/* The userinfo ends at the last '@' (RFC 3986 §3.2.1); a password
	 * with reserved characters must be percent-encoded. */
	for (at = NULL, colon = p; colon < end; colon++)
		if (*colon == '@')
			at = colon;
	if (at != NULL) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (colon != NULL && colon + 1 < at &&
		    (k->password = pct_decode(colon + 1, (size_t)(at - colon - 1))) == NULL)
			goto invalid;
		p = at + 1;
	}
	if (*p == '[') {	/* [v6addr] */
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (close == NULL || close == p + 1)
			goto invalid;
		if ((k->host = strndup(p + 1, (size_t)(close - p - 1))) == NULL)
			return FB_ERR_NOMEM;
		colon = close + 1 < end ? close + 1 : NULL;
		if (colon != NULL && *colon != ':')
			goto invalid;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		if ((colon != NULL ? colon : end) == p)
			goto invalid;
		if ((k->host = strndup(p, (size_t)((colon != NULL ? colon : end) - p))) == NULL)
			return FB_ERR_NOMEM;
	}
	if (colon != NULL) {
		if (!isdigit((unsigned char)colon[1]))
			goto invalid;
		n = strtol(colon + 1, &stop, 10);
		if (stop != end || n < 1 || n > 65535)
			goto invalid;
		k->port = (int)n;
	}
	slash = end;
	if (*slash == '/' && slash[1] != '\0') {
		if (!isdigit((unsigned char)slash[1]))
			goto invalid;
		n = strtol(slash + 1, &stop, 10);
		if (*stop != '\0' || n < 0 || n > 1000)
			goto invalid;
		k->db = (int)n;
	}
	return FB_OK;
invalid:
	kv_clear(k);
	return FB_ERR_INVALID;
}

enum fb_err
kv_url_valid(const char *url)
{
	struct kv	k;
	enum fb_err	e;

	e = kv_parse(&k, url);
	kv_clear(&k);
	return e;
}

static enum fb_err
kv_connect(struct kv *k)
{
	struct timeval	 tv = { KV_TIMEOUT_MS / 1000, (KV_TIMEOUT_MS % 1000) * 1000 };
	redisReply	*r;

	if (k->ctx != NULL) {
		redisFree(k->ctx);
		k->ctx = NULL;
	}
	k->ctx = k->path != NULL ? redisConnectUnixWithTimeout(k->path, tv) :
	    redisConnectWithTimeout(k->host, k->port, tv);
	if (k->ctx == NULL || k->ctx->err) {
		log_msg(FBLOG_WARN, "redis: cannot connect: %s",
		    k->ctx != NULL ? k->ctx->errstr : "out of memory");
		goto fail;
	}
	if (redisSetTimeout(k->ctx, tv) != REDIS_OK)
		goto fail;
	if (k->password != NULL) {
		r = redisCommand(k->ctx, "AUTH %s", k->password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			log_msg(FBLOG_WARN, "redis: AUTH failed");
			if (r != NULL)
				freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	if (k->db != 0) {
		r = redisCommand(k->ctx, "SELECT %d", k->db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			log_msg(FBLOG_WARN, "redis: SELECT %d failed", k->db);
			if (r != NULL)
				freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	return FB_OK;
fail:
	if (k->ctx != NULL)
		redisFree(k->ctx);
	k->ctx = NULL;
	return FB_ERR_UNAVAILABLE;
}

enum fb_err
kv_open(struct kv *k, const char *url)
{
	enum fb_err	e;

	if ((e = kv_parse(k, url)) != FB_OK)
		return e;
	return kv_connect(k);
}

void
kv_close(struct kv *k)
{
	if (k->ctx != NULL)
		redisFree(k->ctx);
	k->ctx = NULL;
	kv_clear(k);
}

enum fb_err
kv_command(struct kv *k, redisReply **reply, int argc, const char **argv,
    const size_t *argvlen)
{
	redisReply	*r = NULL;
	int		 attempt;

	*reply = NULL;
	for (attempt = 0; attempt < 2; attempt++) {
		if (k->ctx == NULL && kv_connect(k) != FB_OK)
			return FB_ERR_UNAVAILABLE;
		r = redisCommandArgv(k->ctx, argc, argv, argvlen);
		if (r != NULL)
			break;
		/* NULL: the context is dead (hiredis). Reconnect once. */
		log_msg(FBLOG_WARN, "redis: %s", k->ctx->errstr);
		redisFree(k->ctx);
		k->ctx = NULL;
	}
	if (r == NULL)
		return FB_ERR_UNAVAILABLE;
	if (r->type == REDIS_REPLY_ERROR) {
		log_msg(FBLOG_ERROR, "redis: %s: %s", argv[0], r->str);
		freeReplyObject(r);
		return FB_ERR_INTERNAL;
	}
	*reply = r;
	return FB_OK;
}

enum fb_err
kv_ping(struct kv *k, double *ms)
{
	struct timespec	 t0, t1;
	redisReply	*r;
	const char	*argv[] = { "PING" };
	enum fb_err	 e;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = kv_command(k, &r, 1, argv, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (e != FB_OK)
		return e;
	e = (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0) ?
	    FB_OK : FB_ERR_INTERNAL;
	freeReplyObject(r);
	return e;
}
