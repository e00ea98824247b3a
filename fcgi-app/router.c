#include <stdio.h>
#include <string.h>

#include "router.h"

static const struct {
	unsigned	 bit;
	const char	*name;
} methods[] = {
	{ M_GET, "GET" }, { M_HEAD, "HEAD" }, { M_POST, "POST" }, { M_PUT, "PUT" },
	{ M_PATCH, "PATCH" }, { M_DELETE, "DELETE" }, { M_OPTIONS, "OPTIONS" },
};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

unsigned
method_from_name(const char *name)
{
	size_t	i;

	for (i = 0; i < NMETHODS; i++)
		if (strcmp(methods[i].name, name) == 0)
			return methods[i].bit;
	return 0;
}

const char *
method_name(unsigned m)
{
	size_t	i;

	for (i = 0; i < NMETHODS; i++)
		if (methods[i].bit == m)
			return methods[i].name;
	return "OTHER";
}

void
methods_format(unsigned mask, char *out, size_t len)
{
	size_t	i, used = 0;
	int	n;

	if (mask & M_GET)
		mask |= M_HEAD;
	mask |= M_OPTIONS;
	out[0] = '\0';
	for (i = 0; i < NMETHODS; i++) {
		if (!(mask & methods[i].bit))
			continue;
		n = snprintf(out + used, len - used, "%s%s", used ? ", " : "",
		    methods[i].name);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

/* Matches one pattern against the segments; fills params on success. */
static bool
pattern_match(const char *pattern, char *const *segs, size_t nsegs,
    struct route_param *params, int *nparams)
{
	const char	*p = pattern, *end;
	size_t		 i = 0, len;
	int		 np = 0;

	while (*p == '/') {
		p++;
		end = strchr(p, '/');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len == 0 && end == NULL)	/* the pattern "/" */
			break;
		if (i >= nsegs)
			return false;
		if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
			if (segs[i][0] == '\0' || np >= ROUTER_MAX_PARAMS)
				return false;
			snprintf(params[np].name, sizeof(params[np].name), "%.*s",
			    (int)(len - 2), p + 1);
			params[np].value = segs[i];
			np++;
		} else if (strlen(segs[i]) != len || memcmp(segs[i], p, len) != 0)
			return false;
		i++;
		p += len;
	}
	if (i != nsegs)
		return false;
	*nparams = np;
	return true;
}

enum route_result
router_match(const struct route *table, size_t n, unsigned method,
    char *const *segs, size_t nsegs, size_t *index, struct route_param *params,
    int *nparams, unsigned *allow)
{
	struct route_param scratch[ROUTER_MAX_PARAMS];
	size_t		 i;
	unsigned	 want, paths = 0;
	int		 np;
	bool		 found = false;

	want = method == M_HEAD ? M_GET : method;
	*allow = 0;
	for (i = 0; i < n; i++) {
		if (!pattern_match(table[i].pattern, segs, nsegs, scratch, &np))
			continue;
		paths++;
		*allow |= table[i].methods;
		if (!found && (table[i].methods & want)) {
			found = true;
			*index = i;
			memcpy(params, scratch, sizeof(scratch[0]) * (size_t)np);
			*nparams = np;
		}
	}
	if (found)
		return ROUTE_FOUND;
	return paths > 0 ? ROUTE_NO_METHOD : ROUTE_NO_PATH;
}
