/*
 * cursor — opaque keyset-pagination cursors. A cursor carries the sort key
 * of the last row of a page (e.g. its created_at and id) as base64url of a
 * small JSON array; the next page is "rows after this key", so a walk never
 * repeats or skips a row while rows are added. Clients must not build them:
 * a tampered cursor only moves the position, and a malformed one is refused.
 */
#ifndef FB_CURSOR_H
#define FB_CURSOR_H

#include <stddef.h>

#include "err.h"

#define CURSOR_PART_MAX 64	/* bytes of one key part */

/* The cursor for key (a, b): malloc'd text (caller frees), NULL on ENOMEM. */
char		*cursor_encode(const char *a, const char *b);
/* Decodes s into a and b (CURSOR_PART_MAX + 1 bytes each). Parts contain
 * only [0-9A-Za-z:.+ -]. FB_ERR_INVALID for anything else. */
enum fb_err	 cursor_decode(const char *s, char a[CURSOR_PART_MAX + 1],
		    char b[CURSOR_PART_MAX + 1]);

#endif
