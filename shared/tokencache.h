/*
 * tokencache — verified access tokens, remembered per process.
 *
 * A client sends the same bearer token with every request for the token's
 * lifetime, and verifying one (base64url, the signature, two JSON parses)
 * costs more than the rest of a small request. An entry holds the token's
 * bytes, its expiry and the two claims a request needs (sub and sid); a
 * lookup compares the whole token in constant time and checks the expiry
 * again. The verifying keys cannot change under a process (a configuration
 * reload starts new responders), so a token verified once stays verified
 * until it expires.
 *
 * Direct-mapped: TOKENCACHE_SLOTS entries, a newer token replaces an older
 * one in its slot. Tokens are wiped (OPENSSL_cleanse) when replaced or freed.
 */
#ifndef FB_TOKENCACHE_H
#define FB_TOKENCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define TOKENCACHE_SLOTS	64
#define TOKENCACHE_MAX_TOKEN	2048	/* longer tokens are not remembered */
#define TOKENCACHE_ID_SIZE	37	/* a UUID and the NUL */

struct tokencache_hit {
	char	sub[TOKENCACHE_ID_SIZE];
	char	sid[TOKENCACHE_ID_SIZE];
};

/*
 * True when token was remembered and its exp is still later than
 * now - leeway (jwt_verify's own rule); fills *hit. An expired entry is
 * dropped.
 */
bool	tokencache_get(const char *token, time_t now, long leeway,
	    struct tokencache_hit *hit);
/* Remembers a token that has just been verified, with its exp, sub and sid. */
void	tokencache_put(const char *token, double exp, const char *sub, const char *sid);
/* Forgets every token. */
void	tokencache_clear(void);

#endif
