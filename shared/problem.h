/*
 * problem — RFC 9457 problem details: the body of every error answer, and the
 * one mapping from an fb_err to an HTTP status and error code. Objects are
 * jansson values the caller owns (json_decref).
 */
#ifndef FB_PROBLEM_H
#define FB_PROBLEM_H

#include <jansson.h>

#include "err.h"

/* {"type":"about:blank","title","status","code","detail"}; the title comes
 * from the code's table entry. detail may be NULL (omitted). NULL on ENOMEM. */
json_t		*problem_new(int status, const char *code, const char *detail);
/* Appends {"field","code","message"} to the problem's "errors" array. */
void		 problem_add_field(json_t *problem, const char *field,
		    const char *code, const char *message);
/* The HTTP status for an error of a shared/ function (RFC 9110 §15). */
int		 problem_status_for(enum fb_err e);
/* The api.md error code for an fb_err ("conflict", "unavailable", ...). */
const char	*problem_code_for(enum fb_err e);
/* The reason phrase of an HTTP status ("Not Found"). */
const char	*http_reason(int status);

#endif
