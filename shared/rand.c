#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "log.h"
#include "rand.h"

enum fb_err
rand_bytes(void *out, size_t len)
{
	if (len > (size_t)INT32_MAX || RAND_bytes(out, (int)len) != 1) {
		log_msg(FBLOG_ERROR, "RAND_bytes failed");
		return FB_ERR_INTERNAL;
	}
	return FB_OK;
}

enum fb_err
rand_hex(char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	  b[64];
	size_t		  i, n;
	enum fb_err	  e;

	while (len > 0) {
		n = len > sizeof(b) ? sizeof(b) : len;
		if ((e = rand_bytes(b, n)) != FB_OK)
			return e;
		for (i = 0; i < n; i++) {
			*out++ = hex[b[i] >> 4];
			*out++ = hex[b[i] & 15];
		}
		len -= n;
	}
	*out = '\0';
	return FB_OK;
}

/*
 * UUIDs come from a pool of random bytes refilled 1 KiB at a time: a request
 * id per request, and RAND_bytes costs about as much for 16 bytes as for
 * 1024. A forked child empties the pool it inherited, so no two processes
 * hand out the same bytes.
 */
static struct {
	unsigned char	bytes[1024];
	size_t		left;
	bool		atfork;
} pool;

static void
pool_forget(void)
{
	OPENSSL_cleanse(pool.bytes, sizeof(pool.bytes));
	pool.left = 0;
}

static enum fb_err
pool_take(unsigned char *out, size_t len)
{
	enum fb_err	e;

	if (!pool.atfork) {
		if (pthread_atfork(NULL, NULL, pool_forget) != 0)
			return rand_bytes(out, len);
		pool.atfork = true;
	}
	if (pool.left < len) {
		if ((e = rand_bytes(pool.bytes, sizeof(pool.bytes))) != FB_OK)
			return e;
		pool.left = sizeof(pool.bytes);
	}
	pool.left -= len;
	memcpy(out, pool.bytes + pool.left, len);
	OPENSSL_cleanse(pool.bytes + pool.left, len);
	return FB_OK;
}

enum fb_err
rand_uuid(char out[UUID_STR_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	b[16];
	enum fb_err	e;
	size_t		i;
	char		*p = out;

	if ((e = pool_take(b, sizeof(b))) != FB_OK)
		return e;
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* variant 10 */
	for (i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 15];
	}
	*p = '\0';
	return FB_OK;
}
