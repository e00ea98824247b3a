#include "b64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
b64url_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	size_t		 i, o = 0;
	unsigned long	 v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 | p[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (n - i == 1) {
		v = (unsigned long)p[i] << 16;
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8;
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

static int
value_of(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

enum fb_err
b64url_decode(const char *s, size_t len, unsigned char *out, size_t outcap,
    size_t *outlen)
{
	unsigned long	v = 0;
	size_t		i, o = 0;
	int		bits = 0, d;

	if (len % 4 == 1)
		return FB_ERR_INVALID;
	for (i = 0; i < len; i++) {
		if ((d = value_of((unsigned char)s[i])) < 0)
			return FB_ERR_INVALID;
		v = (v << 6) | (unsigned long)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == outcap)
				return FB_ERR_TOOBIG;
			out[o++] = (unsigned char)(v >> bits);
			v &= (1UL << bits) - 1;
		}
	}
	/* The unused low bits of the last character must be zero (canonical). */
	if (v != 0)
		return FB_ERR_INVALID;
	*outlen = o;
	return FB_OK;
}
