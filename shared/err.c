#include "err.h"

const char *
fb_strerror(enum fb_err e)
{
	switch (e) {
	case FB_OK:		return "ok";
	case FB_ERR_NOMEM:	return "out of memory";
	case FB_ERR_INVALID:	return "invalid input";
	case FB_ERR_NOTFOUND:	return "not found";
	case FB_ERR_CONFLICT:	return "conflict";
	case FB_ERR_RETRY:	return "retry";
	case FB_ERR_UNAVAILABLE: return "unavailable";
	case FB_ERR_TIMEOUT:	return "timeout";
	case FB_ERR_TOOBIG:	return "too big";
	case FB_ERR_IO:		return "i/o error";
	case FB_ERR_INTERNAL:	return "internal error";
	}
	return "unknown error";
}
