#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tokencache.h"

struct entry {
	char	*token;		/* NULL: empty slot */
	size_t	 len;
	double	 exp;
	char	 sub[TOKENCACHE_ID_SIZE];
	char	 sid[TOKENCACHE_ID_SIZE];
};

static struct entry slots[TOKENCACHE_SLOTS];

/* FNV-1a: picks the slot only; equality is decided by the full comparison. */
static size_t
slot_of(const char *token, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)token[i];
		h *= 0x100000001b3ULL;
	}
	return (size_t)(h % TOKENCACHE_SLOTS);
}

static void
drop(struct entry *e)
{
	if (e->token != NULL) {
		OPENSSL_cleanse(e->token, e->len);
		free(e->token);
	}
	memset(e, 0, sizeof(*e));
}

bool
tokencache_get(const char *token, time_t now, long leeway, struct tokencache_hit *hit)
{
	size_t		 len = strlen(token);
	struct entry	*e;

	if (len == 0 || len > TOKENCACHE_MAX_TOKEN)
		return false;
	e = &slots[slot_of(token, len)];
	/* The length is no secret; the bytes are compared in constant time. */
	if (e->token == NULL || e->len != len || CRYPTO_memcmp(e->token, token, len) != 0)
		return false;
	if (!(e->exp > (double)now - (double)(leeway > 0 ? leeway : 0))) {
		drop(e);
		return false;
	}
	memcpy(hit->sub, e->sub, sizeof(hit->sub));
	memcpy(hit->sid, e->sid, sizeof(hit->sid));
	return true;
}

void
tokencache_put(const char *token, double exp, const char *sub, const char *sid)
{
	size_t		 len = strlen(token);
	struct entry	*e;
	char		*copy;

	if (len == 0 || len > TOKENCACHE_MAX_TOKEN ||
	    strlen(sub) >= TOKENCACHE_ID_SIZE || strlen(sid) >= TOKENCACHE_ID_SIZE)
		return;
	if ((copy = malloc(len + 1)) == NULL)
		return;		/* a cache: nothing is lost */
	memcpy(copy, token, len + 1);
	e = &slots[slot_of(token, len)];
	drop(e);
	e->token = copy;
	e->len = len;
	e->exp = exp;
	memcpy(e->sub, sub, strlen(sub) + 1);
	memcpy(e->sid, sid, strlen(sid) + 1);
}

void
tokencache_clear(void)
{
	size_t	i;

	for (i = 0; i < TOKENCACHE_SLOTS; i++)
		drop(&slots[i]);
}
