/*
 * fuzz_jwt — jwt_verify() of arbitrary text as a token against an HS256
 * key ring (current and previous key).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jwt.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jwt_keyring	ring;
static const struct jwt_expect	expect = {
	"https://fastback.test", "fastback", 30, 1700000000
};

static void
ring_free(void)
{
	jwt_keyring_free(&ring);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char cur[] = "0123456789abcdef0123456789abcdef-current";
	static const char prev[] = "0123456789abcdef0123456789abcdef-previous";

	(void)argc;
	(void)argv;
	log_setup("fuzz_jwt", FBLOG_ERROR);
	memset(&ring, 0, sizeof(ring));
	if (jwt_key_hs256(cur, sizeof(cur) - 1, &ring.current) != FB_OK ||
	    jwt_key_hs256(prev, sizeof(prev) - 1, &ring.previous) != FB_OK)
		abort();
	ring.has_previous = true;
	atexit(ring_free);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*token;
	json_t	*claims = NULL;

	if ((token = malloc(size + 1)) == NULL)
		return 0;
	memcpy(token, data, size);
	token[size] = '\0';
	if (jwt_verify(&ring, token, &expect, &claims) == FB_OK) {
		if (!json_is_object(claims))
			abort();
	} else if (claims != NULL)
		abort();
	json_decref(claims);
	(void)jwt_verify_signature(&ring.current, token);
	free(token);
	return 0;
}
