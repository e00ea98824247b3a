#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ipaddr.h"

static const unsigned char v4mapped[12] =
    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

enum fb_err
ipaddr_parse(const char *s, struct ipaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->bytes) == 1) {
		out->family = AF_INET;
		return FB_OK;
	}
	if (inet_pton(AF_INET6, s, out->bytes) == 1) {
		out->family = AF_INET6;
		if (memcmp(out->bytes, v4mapped, 12) == 0) {
			memmove(out->bytes, out->bytes + 12, 4);
			memset(out->bytes + 4, 0, 12);
			out->family = AF_INET;
		}
		return FB_OK;
	}
	return FB_ERR_INVALID;
}

enum fb_err
cidr_parse(const char *s, struct cidr *out)
{
	char		 addr[INET6_ADDRSTRLEN + 1];
	const char	*slash;
	char		*end;
	unsigned long	 prefix;
	unsigned	 max;
	size_t		 len;
	bool		 mapped;

	slash = strchr(s, '/');
	len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= sizeof(addr))
		return FB_ERR_INVALID;
	memcpy(addr, s, len);
	addr[len] = '\0';
	if (ipaddr_parse(addr, &out->addr) != FB_OK)
		return FB_ERR_INVALID;
	max = out->addr.family == AF_INET ? 32 : 128;
	mapped = out->addr.family == AF_INET && strchr(addr, ':') != NULL;
	if (slash == NULL) {
		out->prefix = max;
		return FB_OK;
	}
	if (slash[1] < '0' || slash[1] > '9')
		return FB_ERR_INVALID;
	prefix = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || strlen(slash + 1) > 3)
		return FB_ERR_INVALID;
	/* ::ffff:a.b.c.d/N is the IPv4 range a.b.c.d/(N-96). */
	if (mapped) {
		if (prefix < 96 || prefix > 128)
			return FB_ERR_INVALID;
		prefix -= 96;
	}
	if (prefix > max)
		return FB_ERR_INVALID;
	out->prefix = (unsigned)prefix;
	return FB_OK;
}

bool
cidr_contains(const struct cidr *c, const struct ipaddr *a)
{
	unsigned	full, rest;
	unsigned char	mask;

	if (c->addr.family != a->family)
		return false;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(c->addr.bytes, a->bytes, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (c->addr.bytes[full] & mask) == (a->bytes[full] & mask);
}

bool
ipaddr_is_loopback(const struct ipaddr *a)
{
	static const unsigned char v6lo[16] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };

	if (a->family == AF_INET)
		return a->bytes[0] == 127;
	return memcmp(a->bytes, v6lo, 16) == 0;
}

enum fb_err
cidr_list_parse(const char *s, struct cidr **out, size_t *n, const char **bad)
{
	struct cidr	*list = NULL, *grown;
	size_t		 count = 0, len;
	const char	*p, *comma;
	char		 item[64];

	*out = NULL;
	*n = 0;
	if (s == NULL)
		return FB_OK;
	for (p = s; *p != '\0'; p = *comma != '\0' ? comma + 1 : comma) {
		while (*p == ' ')
			p++;
		comma = strchr(p, ',');
		if (comma == NULL)
			comma = p + strlen(p);
		len = (size_t)(comma - p);
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (len == 0 && *comma == '\0' && count == 0 && p == s)
			break;
		if (len == 0 || len >= sizeof(item))
			goto invalid;
		memcpy(item, p, len);
		item[len] = '\0';
		grown = realloc(list, (count + 1) * sizeof(*list));
		if (grown == NULL) {
			free(list);
			return FB_ERR_NOMEM;
		}
		list = grown;
		if (cidr_parse(item, &list[count]) != FB_OK)
			goto invalid;
		count++;
	}
	*out = list;
	*n = count;
	return FB_OK;
invalid:
	free(list);
	if (bad != NULL)
		*bad = p;
	return FB_ERR_INVALID;
}
