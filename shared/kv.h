/*
 * kv — the Redis connection of one process (hiredis). Optional: when
 * REDIS_URL is unset nothing here is used. A NULL reply means the connection
 * is dead; kv_command() then reconnects once and retries. Every command has a
 * short timeout so a stuck Redis cannot stall a responder.
 */
#ifndef FB_KV_H
#define FB_KV_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "err.h"

struct kv {
	redisContext	*ctx;		/* (or NULL when not connected) */
	char		*host;		/* (or NULL with a unix socket) */
	int		 port;
	char		*path;		/* unix socket (or NULL) */
	char		*password;	/* (or NULL) */
	int		 db;
};

/* FB_OK when url is redis://[[user]:password@]host[:port][/db] or unix:///path. */
enum fb_err	kv_url_valid(const char *url);
/* Parses url and connects. The struct is usable (and must be kv_close'd)
 * even when the connection failed: later commands retry. */
enum fb_err	kv_open(struct kv *k, const char *url);
void		kv_close(struct kv *k);
/* Runs one command; *reply is the caller's to freeReplyObject(). An error
 * reply is returned as FB_ERR_INTERNAL with *reply set to NULL. */
enum fb_err	kv_command(struct kv *k, redisReply **reply, int argc,
		    const char **argv, const size_t *argvlen);
/* PING; *ms is the round-trip time. */
enum fb_err	kv_ping(struct kv *k, double *ms);

#endif
