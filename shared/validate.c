#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "problem.h"
#include "validate.h"

long
utf8_length(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str, *end = s + len;
	unsigned long	 cp;
	long		 n = 0;
	int		 more, i;

	while (s < end) {
		if (*s < 0x80) {
			s++;
			n++;
			continue;
		}
		if ((*s & 0xe0) == 0xc0) {
			cp = *s & 0x1f;
			more = 1;
		} else if ((*s & 0xf0) == 0xe0) {
			cp = *s & 0x0f;
			more = 2;
		} else if ((*s & 0xf8) == 0xf0) {
			cp = *s & 0x07;
			more = 3;
		} else
			return -1;
		if (end - s <= more)
			return -1;
		for (i = 1; i <= more; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return -1;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		/* RFC 3629 §3: no overlong forms, no surrogates, nothing past U+10FFFF. */
		if ((more == 1 && cp < 0x80) || (more == 2 && cp < 0x800) ||
		    (more == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		s += more + 1;
		n++;
	}
	return n;
}

bool
has_control_chars(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
			return true;
	}
	return false;
}

bool
valid_uuid(const char *s)
{
	size_t	i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i]))
			return false;
	}
	return s[36] == '\0';
}

bool
valid_email(const char *s)
{
	const char	*at, *p;
	size_t		 len = strlen(s);

	if (len < 3 || len > 254)
		return false;
	if ((at = strchr(s, '@')) == NULL || at == s || strchr(at + 1, '@') != NULL)
		return false;
	if ((size_t)(at - s) > 64)
		return false;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '<' ||
		    *p == '>' || *p == '(' || *p == ')' || *p == ',' ||
		    *p == ';' || *p == ':' || *p == '\\' || *p == '"' ||
		    *p == '[' || *p == ']')
			return false;
	p = at + 1;
	if (*p == '.' || strchr(p, '.') == NULL || p[strlen(p) - 1] == '.' ||
	    strstr(p, "..") != NULL)
		return false;
	return true;
}

static void
field_error(json_t **problem, const char *field, const char *code,
    const char *message)
{
	if (*problem == NULL)
		*problem = problem_new(422, "validation_failed", NULL);
	problem_add_field(*problem, field, code, message);
}

static const char *
type_name(enum field_type t)
{
	switch (t) {
	case FIELD_STRING:	return "a string";
	case FIELD_INT:		return "an integer";
	case FIELD_BOOL:	return "a boolean";
	case FIELD_OBJECT:	return "an object";
	case FIELD_ARRAY:	return "an array";
	case FIELD_EMAIL:	return "an email address";
	case FIELD_UUID:	return "a UUID";
	case FIELD_ANY:		return "a JSON value";
	}
	return "a value";
}

/* Checks one present value. Returns the number of problems (0 or 1). */
static int
check_field(const struct field *f, const json_t *v, json_t **problem)
{
	char		 msg[160];
	const char	*s;
	size_t		 len;
	long		 chars;
	long long	 n;

	switch (f->type) {
	case FIELD_ANY:
		return 0;
	case FIELD_BOOL:
		if (json_is_boolean(v))
			return 0;
		break;
	case FIELD_OBJECT:
		if (json_is_object(v))
			return 0;
		break;
	case FIELD_ARRAY:
		if (!json_is_array(v))
			break;
		if ((f->min || f->max) && ((long long)json_array_size(v) < f->min ||
		    (long long)json_array_size(v) > f->max)) {
			snprintf(msg, sizeof(msg), "must have %lld to %lld items",
			    f->min, f->max);
			field_error(problem, f->name, "invalid_length", msg);
			return 1;
		}
		return 0;
	case FIELD_INT:
		if (!json_is_integer(v))
			break;
		n = json_integer_value(v);
		if ((f->min || f->max) && (n < f->min || n > f->max)) {
			snprintf(msg, sizeof(msg), "must be between %lld and %lld",
			    f->min, f->max);
			field_error(problem, f->name, "out_of_range", msg);
			return 1;
		}
		return 0;
	case FIELD_STRING:
	case FIELD_EMAIL:
	case FIELD_UUID:
		if (!json_is_string(v))
			break;
		s = json_string_value(v);
		len = json_string_length(v);
		/* jansson refuses \u0000 and invalid UTF-8 when parsing; a value
		 * built in code is checked the same way. */
		if (strlen(s) != len || (chars = utf8_length(s, len)) < 0) {
			field_error(problem, f->name, "invalid_encoding",
			    "must be valid UTF-8 without NUL");
			return 1;
		}
		if (has_control_chars(s, len)) {
			field_error(problem, f->name, "invalid_format",
			    "must not contain control characters");
			return 1;
		}
		if (f->type == FIELD_EMAIL && !valid_email(s)) {
			field_error(problem, f->name, "invalid_format", "not an email address");
			return 1;
		}
		if (f->type == FIELD_UUID && !valid_uuid(s)) {
			field_error(problem, f->name, "invalid_format", "not a UUID");
			return 1;
		}
		if ((f->min || f->max) && (chars < f->min || chars > f->max)) {
			if (f->min == f->max)
				snprintf(msg, sizeof(msg), "must be %lld characters", f->min);
			else
				snprintf(msg, sizeof(msg), "must be %lld to %lld characters",
				    f->min, f->max);
			field_error(problem, f->name, "invalid_length", msg);
			return 1;
		}
		return 0;
	}
	snprintf(msg, sizeof(msg), "must be %s", type_name(f->type));
	field_error(problem, f->name, "invalid_type", msg);
	return 1;
}

int
validate_object(json_t *body, const struct field *fields, json_t **problem)
{
	const struct field *f;
	const char	*key;
	json_t		*v;
	int		 errors = 0;
	char		 detail[64];

	for (f = fields; f->name != NULL; f++) {
		v = json_object_get(body, f->name);
		if (v == NULL) {
			if (f->required) {
				field_error(problem, f->name, "required", "is required");
				errors++;
			}
			continue;
		}
		errors += check_field(f, v, problem);
	}
	json_object_foreach(body, key, v) {
		for (f = fields; f->name != NULL; f++)
			if (strcmp(f->name, key) == 0)
				break;
		if (f->name == NULL) {
			field_error(problem, key, "unknown_field", "is not accepted here");
			errors++;
		}
	}
	if (errors > 0 && *problem != NULL) {
		snprintf(detail, sizeof(detail), "%d field%s invalid", errors,
		    errors == 1 ? " is" : "s are");
		json_object_set_new(*problem, "detail", json_string(detail));
	}
	return errors;
}
