#include <stdio.h>

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

enum fb_err
rand_uuid(char out[UUID_STR_LEN])
{
	unsigned char	b[16];
	enum fb_err	e;

	if ((e = rand_bytes(b, sizeof(b))) != FB_OK)
		return e;
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* variant 10 */
	snprintf(out, UUID_STR_LEN,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	    b[10], b[11], b[12], b[13], b[14], b[15]);
	return FB_OK;
}
