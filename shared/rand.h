/*
 * rand — cryptographically secure random values (OpenSSL RAND_bytes).
 * Every function fails closed: on error the output is not to be used.
 */
#ifndef FB_RAND_H
#define FB_RAND_H

#include <stddef.h>

#include "err.h"

#define UUID_STR_LEN 37		/* 36 characters and the NUL */

enum fb_err rand_bytes(void *out, size_t len);
/* len random bytes as 2*len lowercase hex digits into out (2*len+1 bytes). */
enum fb_err rand_hex(char *out, size_t len);
/* A version 4 UUID (RFC 9562 §5.4) into out[UUID_STR_LEN]. For identifiers,
 * not secrets: it comes from a pool of random bytes held in memory (use
 * rand_bytes or rand_hex for secrets). */
enum fb_err rand_uuid(char out[UUID_STR_LEN]);

#endif
