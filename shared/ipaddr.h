/*
 * ipaddr — IPv4/IPv6 addresses and CIDR ranges, for TRUSTED_PROXIES, the
 * client address and the loopback check. IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) are treated as the IPv4 address they carry.
 */
#ifndef FB_IPADDR_H
#define FB_IPADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct ipaddr {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	bytes[16];	/* network order; 4 used for AF_INET */
};

struct cidr {
	struct ipaddr	addr;
	unsigned	prefix;		/* 0..32 or 0..128 */
};

/* Parses a literal address (no port, no zone). FB_ERR_INVALID otherwise. */
enum fb_err	ipaddr_parse(const char *s, struct ipaddr *out);
/* Parses "addr" or "addr/prefix". */
enum fb_err	cidr_parse(const char *s, struct cidr *out);
bool		cidr_contains(const struct cidr *c, const struct ipaddr *a);
bool		ipaddr_is_loopback(const struct ipaddr *a);
/* Parses a comma-separated list of CIDRs into a malloc'd array (caller frees).
 * An empty or NULL list gives *out = NULL, *n = 0. On FB_ERR_INVALID, *bad
 * points into s at the start of the offending item. */
enum fb_err	cidr_list_parse(const char *s, struct cidr **out, size_t *n,
		    const char **bad);

#endif
