/*
 * buf — a growable byte string, always NUL-terminated. The caller owns the
 * struct; buf_free() releases its memory and is safe on a zeroed or freed buf.
 * After an allocation failure the buf is marked failed and further appends are
 * ignored, so a sequence of appends needs one check at the end (buf_failed).
 */
#ifndef FB_BUF_H
#define FB_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char	*data;		/* NUL-terminated contents (or NULL when empty) */
	size_t	 len;		/* bytes used, without the NUL */
	size_t	 cap;		/* bytes allocated */
	bool	 failed;	/* an append could not allocate */
};

#define BUF_INIT { NULL, 0, 0, false }

void	buf_append(struct buf *b, const void *data, size_t len);
void	buf_puts(struct buf *b, const char *s);
/* v in decimal, without printf. */
void	buf_put_int(struct buf *b, long long v);
void	buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	buf_reset(struct buf *b);	/* empties it, keeps the memory */
void	buf_free(struct buf *b);
/* The contents as a C string: "" when empty, never NULL. */
const char *buf_str(const struct buf *b);
/* Takes the memory out of b (caller frees): NULL when nothing was ever
 * appended or an append failed; "" after buf_reset. */
char	*buf_take(struct buf *b);
bool	 buf_failed(const struct buf *b);

#endif
