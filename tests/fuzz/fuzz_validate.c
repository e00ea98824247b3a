/*
 * fuzz_validate — a request body as dispatch parses it (json_loadb with
 * JSON_REJECT_DUPLICATES), then validate_object() against a field list of
 * every type; and utf8_length() / has_control_chars() on the raw bytes.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct field fields[] = {
	{ "name", FIELD_STRING, true, 1, 20 },
	{ "age", FIELD_INT, false, 0, 150 },
	{ "ok", FIELD_BOOL, false, 0, 0 },
	{ "meta", FIELD_OBJECT, false, 0, 0 },
	{ "tags", FIELD_ARRAY, false, 0, 5 },
	{ "any", FIELD_ANY, false, 0, 0 },
	{ "email", FIELD_EMAIL, false, 0, 0 },
	{ "id", FIELD_UUID, false, 0, 0 },
	FIELD_END
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t		*body, *problem = NULL;
	json_error_t	 err;
	int		 n;

	(void)utf8_length((const char *)data, size);
	(void)has_control_chars((const char *)data, size);

	body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
	if (body == NULL)
		return 0;
	if (json_is_object(body)) {
		n = validate_object(body, fields, &problem);
		if ((n == 0) != (problem == NULL))
			abort();
		json_decref(problem);
	}
	json_decref(body);
	return 0;
}
