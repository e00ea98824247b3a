/*
 * fuzz_b64 — b64url_decode() on arbitrary bytes (libFuzzer), with a round
 * trip through b64url_encode() of what it accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	*out, small[4];
	char		*enc;
	size_t		 cap = size, outlen = 0, n;

	/* An exact-size heap buffer, so ASan sees any overrun. */
	if ((out = malloc(cap == 0 ? 1 : cap)) == NULL)
		return 0;
	if (b64url_decode((const char *)data, size, out, cap, &outlen) == FB_OK) {
		if (outlen > cap)
			abort();
		if ((enc = malloc(B64URL_ENCODED_SIZE(outlen))) != NULL) {
			n = b64url_encode(out, outlen, enc);
			/* Canonical input only: it encodes back to itself. */
			if (n != size || memcmp(enc, data, size) != 0)
				abort();
			free(enc);
		}
	}
	/* And into a buffer that is too small. */
	(void)b64url_decode((const char *)data, size, small, sizeof(small), &outlen);
	free(out);
	return 0;
}
