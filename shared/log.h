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
/* Writes {"msg": formatted text}. */
void	log_msg(enum fblog_level lvl, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
