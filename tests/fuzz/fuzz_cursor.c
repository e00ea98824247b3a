/*
 * fuzz_cursor — cursor_decode() on arbitrary text (libFuzzer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 a[CURSOR_PART_MAX + 1], b[CURSOR_PART_MAX + 1];
	char	*s, *again;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (cursor_decode(s, a, b) == FB_OK) {
		/* A decoded key must encode and decode to itself. */
		char a2[CURSOR_PART_MAX + 1], b2[CURSOR_PART_MAX + 1];

		if ((again = cursor_encode(a, b)) != NULL) {
			if (cursor_decode(again, a2, b2) != FB_OK ||
			    strcmp(a, a2) != 0 || strcmp(b, b2) != 0)
				abort();
			free(again);
		}
	}
	free(s);
	return 0;
}
