/*
 * token — opaque single-use and refresh tokens: 256 random bits, shown to
 * the user once as base64url text, stored only as their SHA-256. A presented
 * token is hashed and looked up by hash; the row's hash is then compared with
 * CRYPTO_memcmp before it is trusted.
 */
#ifndef FB_TOKEN_H
#define FB_TOKEN_H

#include <stdbool.h>

#include "err.h"

#define TOKEN_BYTES	32
#define TOKEN_TEXT_LEN	43	/* base64url of 32 bytes, without padding */
#define TOKEN_HEX_LEN	(2 + 64)	/* "\x" and 64 hex digits: a bytea literal */

/* A new token: text[TOKEN_TEXT_LEN + 1] and hash[32] (its SHA-256). */
enum fb_err	token_new(char text[TOKEN_TEXT_LEN + 1], unsigned char hash[32]);
/* The SHA-256 of a presented token. FB_ERR_INVALID unless text has the form
 * of our tokens (43 base64url characters), so junk never reaches a query. */
enum fb_err	token_hash(const char *text, unsigned char hash[32]);
/* hash as a bytea parameter ("\x" + hex) into out[TOKEN_HEX_LEN + 1]. */
void		token_hex(const unsigned char hash[32], char out[TOKEN_HEX_LEN + 1]);
/* Compares a stored hash (bytea text "\x...") with hash, in constant time. */
bool		token_matches(const char *stored_hex, const unsigned char hash[32]);

#endif
