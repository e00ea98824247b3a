/*
 * httpc — small outbound HTTP requests through libcurl, with a timeout, a
 * bounded answer and no redirects followed. For calls a user waits on (an
 * API key check); everything slow goes through the job queue instead.
 */
#ifndef FB_HTTPC_H
#define FB_HTTPC_H

#include <stddef.h>

#include "err.h"

#define HTTPC_BODY_MAX (64 * 1024)	/* more of an answer is cut off */

struct httpc_response {
	long	 status;	/* HTTP status (0: none) */
	char	*body;		/* NUL-terminated (or NULL) */
	size_t	 len;
};

/* GET url with headers (NULL-terminated "Name: value" strings, may be NULL).
 * FB_OK when an answer arrived (whatever its status); FB_ERR_TIMEOUT after
 * timeout_ms; FB_ERR_UNAVAILABLE when no connection could be made. err gets
 * a short reason. The response is the caller's to httpc_response_free(). */
enum fb_err	httpc_get(const char *url, const char *const *headers, long timeout_ms,
		    struct httpc_response *r, char *err, size_t errlen);
void		httpc_response_free(struct httpc_response *r);

#endif
