/*
 * log — one JSON object per line on stderr: {"ts","level","prog","pid",...}.
 * Each line is written with a single write(2) so lines of several processes
 * sharing stderr do not interleave. Callers must never pass secrets, tokens,
 * passwords or request bodies.
 */
#ifndef FB_LOG_H
#define FB_LOG_H

#include <stdbool.h>

#include <jansson.h>

#include "buf.h"

enum fblog_level {
	FBLOG_DEBUG,
	FBLOG_INFO,
	FBLOG_WARN,
	FBLOG_ERROR,
};

/* Sets the program name shown in "prog" and the lowest level written. */
void	log_setup(const char *prog, enum fblog_level min);
/* Parses "debug", "info", "warn" or "error"; -1 when s is none of them. */
int	log_parse_level(const char *s, enum fblog_level *out);
bool	log_enabled(enum fblog_level lvl);
/* Writes fields (a JSON object, reference stolen, may be NULL) as one line. */
void	log_event(enum fblog_level lvl, json_t *fields);
/*
 * A line built by hand, for the hot path (the access log): no allocation once
 * b has grown. log_begin() writes the common fields; values of log_add_str()
 * are escaped as JSON strings (NULL writes null) and must be valid UTF-8;
 * log_end() writes the line and empties b.
 */
void	log_begin(struct buf *b, enum fblog_level lvl);
void	log_add_str(struct buf *b, const char *key, const char *value);
void	log_add_int(struct buf *b, const char *key, long long value);
void	log_add_num(struct buf *b, const char *key, double value);
void	log_end(struct buf *b);
/*
 * Batching, for a process that answers requests back to back: log_end()
 * then keeps lines (up to 4 KiB) until log_flush(), which the process calls
 * whenever it is about to wait idle. Lines of log_event/log_msg are written
 * at once, after the held ones.
 */
void	log_batch(bool on);
void	log_flush(void);
bool	log_pending(void);
/* To be called in a child after fork(): the pid of log lines is cached. */
void	log_after_fork(void);
/* Writes {"msg": formatted text}. */
void	log_msg(enum fblog_level lvl, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
