/*
 * b64 — base64url without padding (RFC 4648 §5), as JOSE uses it (RFC 7515 §2).
 */
#ifndef FB_B64_H
#define FB_B64_H

#include <stddef.h>

#include "err.h"

/* Bytes needed for the encoding of n bytes, with the NUL. */
#define B64URL_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

/* Encodes in[0..n) into out (B64URL_ENCODED_SIZE(n) bytes); returns its length. */
size_t		b64url_encode(const void *in, size_t n, char *out);
/* Decodes s[0..len) into out (at most outcap bytes); *outlen gets the size.
 * FB_ERR_INVALID on a character outside the alphabet, padding, or an
 * impossible length; FB_ERR_TOOBIG when out is too small. */
enum fb_err	b64url_decode(const char *s, size_t len, unsigned char *out,
		    size_t outcap, size_t *outlen);

#endif
