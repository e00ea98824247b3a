#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "b64.h"
#include "cursor.h"

static bool
part_ok(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= CURSOR_PART_MAX || !((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		    strchr(":.+ -", s[i]) != NULL))
			return false;
	return i > 0;
}

char *
cursor_encode(const char *a, const char *b)
{
	json_t	*arr;
	char	*text, *out = NULL;
	size_t	 len;

	if ((arr = json_pack("[ss]", a, b)) == NULL)
		return NULL;
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (text == NULL)
		return NULL;
	len = strlen(text);
	if ((out = malloc(B64URL_ENCODED_SIZE(len))) != NULL)
		b64url_encode(text, len, out);
	free(text);
	return out;
}

enum fb_err
cursor_decode(const char *s, char a[CURSOR_PART_MAX + 1], char b[CURSOR_PART_MAX + 1])
{
	unsigned char	 raw[3 * CURSOR_PART_MAX];
	size_t		 len;
	json_t		*arr;
	const char	*x, *y;
	enum fb_err	 e = FB_ERR_INVALID;

	if (s == NULL || strlen(s) > B64URL_ENCODED_SIZE(sizeof(raw)) ||
	    b64url_decode(s, strlen(s), raw, sizeof(raw), &len) != FB_OK)
		return FB_ERR_INVALID;
	if ((arr = json_loadb((const char *)raw, len, 0, NULL)) == NULL)
		return FB_ERR_INVALID;
	if (json_is_array(arr) && json_array_size(arr) == 2 &&
	    (x = json_string_value(json_array_get(arr, 0))) != NULL &&
	    (y = json_string_value(json_array_get(arr, 1))) != NULL &&
	    part_ok(x) && part_ok(y)) {
		memcpy(a, x, strlen(x) + 1);
		memcpy(b, y, strlen(y) + 1);
		e = FB_OK;
	}
	json_decref(arr);
	return e;
}
