/*
 * validate — declared inputs. A handler declares the JSON fields it accepts
 * (name, type, bounds, required); validate_object() checks a request body
 * against that list before the handler runs, collects every field error into
 * one RFC 9457 problem (422 validation_failed), and refuses undeclared keys.
 */
#ifndef FB_VALIDATE_H
#define FB_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum field_type {
	FIELD_STRING,	/* text: no control characters but \t \n \r */
	FIELD_INT,	/* integer (no fraction, no exponent overflow) */
	FIELD_BOOL,
	FIELD_OBJECT,
	FIELD_ARRAY,
	FIELD_ANY,	/* any JSON value, including null */
	FIELD_EMAIL,	/* a plausible address, at most 254 bytes */
	FIELD_UUID,	/* 8-4-4-4-12 hex */
};

struct field {
	const char	*name;
	enum field_type	 type;
	bool		 required;
	long long	 min, max;	/* string: characters; int: value; array:
					 * items; both 0: unbounded */
};

/* The end of a field list. */
#define FIELD_END { NULL, FIELD_ANY, false, 0, 0 }

/* Checks body (must be an object) against fields. Every problem found is
 * added to *problem, which is created (422 validation_failed) on the first
 * one; returns the number of problems (0: body is valid, *problem untouched). */
int	validate_object(json_t *body, const struct field *fields,
	    json_t **problem);
/* Single checks, for path and query values too. */
bool	valid_uuid(const char *s);
bool	valid_email(const char *s);
/* Number of code points of valid UTF-8 s, or -1 when s is not valid UTF-8
 * (overlong forms, surrogates and values above U+10FFFF are invalid). */
long	utf8_length(const char *s, size_t len);
/* True when s has a C0 control character other than \t \n \r, or DEL. */
bool	has_control_chars(const char *s, size_t len);

#endif
