/*
 * test_ipaddr — address and CIDR parsing, containment at the prefix
 * boundaries, IPv4-mapped addresses, loopback, and TRUSTED_PROXIES lists.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ipaddr.h"
#include "tap.h"

static void
test_parse_v4(void)
{
	struct ipaddr	a;

	is_int(ipaddr_parse("192.0.2.1", &a), FB_OK, "192.0.2.1 parses");
	is_int(a.family, AF_INET, "as AF_INET");
	ok(a.bytes[0] == 192 && a.bytes[1] == 0 && a.bytes[2] == 2 && a.bytes[3] == 1,
	    "bytes in network order");
	is_int(ipaddr_parse("0.0.0.0", &a), FB_OK, "0.0.0.0");
	is_int(ipaddr_parse("255.255.255.255", &a), FB_OK, "255.255.255.255");
}

static void
test_parse_v6(void)
{
	struct ipaddr	a;
	static const unsigned char want[16] =
	    { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };

	is_int(ipaddr_parse("2001:db8::1", &a), FB_OK, "2001:db8::1 parses");
	is_int(a.family, AF_INET6, "as AF_INET6");
	ok(memcmp(a.bytes, want, 16) == 0, "2001:db8::1 bytes");
	is_int(ipaddr_parse("::", &a), FB_OK, ":: parses");
	is_int(ipaddr_parse("2001:DB8:0:0:0:0:0:1", &a), FB_OK, "uncompressed upper case");
	ok(memcmp(a.bytes, want, 16) == 0, "same bytes as the compressed form");
	is_int(ipaddr_parse("::ffff:192.0.2.1", &a), FB_OK, "v4-mapped parses");
	is_int(a.family, AF_INET, "v4-mapped becomes AF_INET");
	ok(a.bytes[0] == 192 && a.bytes[1] == 0 && a.bytes[2] == 2 && a.bytes[3] == 1,
	    "v4-mapped carries the v4 bytes");
	ok(a.bytes[4] == 0 && a.bytes[15] == 0, "the unused bytes are zeroed");
	is_int(ipaddr_parse("::ffff:c000:201", &a), FB_OK, "v4-mapped in hex");
	is_int(a.family, AF_INET, "v4-mapped in hex is AF_INET too");
	is_int(ipaddr_parse("::192.0.2.1", &a), FB_OK, "v4-compatible (deprecated) parses");
	is_int(a.family, AF_INET6, "v4-compatible stays AF_INET6");
	is_int(ipaddr_parse("64:ff9b::192.0.2.1", &a), FB_OK, "NAT64 parses");
	is_int(a.family, AF_INET6, "NAT64 stays AF_INET6");
}

static void
test_parse_bad(void)
{
	static const char *const bad[] = {
		"", " ", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-1",
		" 1.2.3.4", "1.2.3.4 ", "1.2.3.4/32", "1.2.3.4:80", "01.2.3.4",
		"0x7f.0.0.1", "127.1", "localhost", "::g", "1:2:3:4:5:6:7:8:9",
		"2001:db8::1::2", "fe80::1%eth0", "[::1]", ":::", "1.2.3.4\n",
	};
	struct ipaddr	a;
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(ipaddr_parse(bad[i], &a), FB_ERR_INVALID, "refused: \"%s\"",
		    strcmp(bad[i], "1.2.3.4\n") == 0 ? "1.2.3.4\\n" : bad[i]);
}

static void
test_cidr_parse(void)
{
	struct cidr	c;
	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8",
		"10.0.0.0/8x", "10.0.0.0/ 8", "10.0.0.0/8/8", "10.0.0.0//8",
		"::/129", "::1/1000", "10.0.0.0/99999999999999999999999", "nope/8",
		"10.0.0.0/0x8",
	};
	size_t		i;

	is_int(cidr_parse("10.0.0.0/8", &c), FB_OK, "10.0.0.0/8");
	is_int(c.prefix, 8, "prefix 8");
	is_int(cidr_parse("10.1.2.3", &c), FB_OK, "a bare v4 address");
	is_int(c.prefix, 32, "a bare v4 address is a /32");
	is_int(cidr_parse("2001:db8::/32", &c), FB_OK, "2001:db8::/32");
	is_int(c.prefix, 32, "v6 prefix 32");
	is_int(cidr_parse("::1", &c), FB_OK, "a bare v6 address");
	is_int(c.prefix, 128, "a bare v6 address is a /128");
	is_int(cidr_parse("0.0.0.0/0", &c), FB_OK, "0.0.0.0/0");
	is_int(cidr_parse("::/0", &c), FB_OK, "::/0");
	is_int(cidr_parse("::/128", &c), FB_OK, "::/128");
	is_int(cidr_parse("10.0.0.0/08", &c), FB_OK, "a leading zero in the prefix");
	is_int(c.prefix, 8, "is decimal 8");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(cidr_parse(bad[i], &c), FB_ERR_INVALID, "refused: \"%s\"", bad[i]);

	/* A v4-mapped range written in v6 notation, like ::ffff:10.0.0.0/104
	 * (= 10.0.0.0/8): the address becomes AF_INET, the prefix must too. */
	ok(cidr_parse("::ffff:10.0.0.0/104", &c) == FB_OK && c.addr.family == AF_INET &&
	    c.prefix == 8, "::ffff:10.0.0.0/104 is 10.0.0.0/8");
	ok(cidr_parse("::ffff:0:0/96", &c) == FB_OK && c.prefix == 0,
	    "::ffff:0:0/96 is every v4 address");
	ok(cidr_parse("::ffff:10.0.0.0/8", &c) != FB_OK || c.addr.family != AF_INET ||
	    c.prefix != 8, "::ffff:10.0.0.0/8 is not silently 10.0.0.0/8");
}

/* cidr_contains(cidr_text, addr_text). */
static bool
contains(const char *cidr, const char *addr)
{
	struct cidr	c;
	struct ipaddr	a;

	if (cidr_parse(cidr, &c) != FB_OK || ipaddr_parse(addr, &a) != FB_OK) {
		diag("cannot parse %s or %s", cidr, addr);
		return false;
	}
	return cidr_contains(&c, &a);
}

static void
test_contains(void)
{
	static const struct {
		const char	*cidr, *addr;
		bool		 in;
	} cases[] = {
		{ "10.0.0.0/8",		"10.0.0.0",		true },
		{ "10.0.0.0/8",		"10.255.255.255",	true },
		{ "10.0.0.0/8",		"11.0.0.0",		false },
		{ "10.0.0.0/8",		"9.255.255.255",	false },
		{ "10.1.2.3/8",		"10.200.0.1",		true },	/* host bits ignored */
		{ "192.168.1.0/25",	"192.168.1.127",	true },
		{ "192.168.1.0/25",	"192.168.1.128",	false },
		{ "192.168.1.128/25",	"192.168.1.128",	true },
		{ "192.168.1.128/25",	"192.168.1.127",	false },
		{ "172.16.0.0/12",	"172.31.255.255",	true },
		{ "172.16.0.0/12",	"172.32.0.0",		false },
		{ "0.0.0.0/0",		"1.2.3.4",		true },
		{ "0.0.0.0/0",		"255.255.255.255",	true },
		{ "0.0.0.0/0",		"::1",			false },	/* family */
		{ "1.2.3.4/32",		"1.2.3.4",		true },
		{ "1.2.3.4/32",		"1.2.3.5",		false },
		{ "1.2.3.4",		"1.2.3.4",		true },
		{ "1.2.3.4/31",		"1.2.3.5",		true },
		{ "1.2.3.4/31",		"1.2.3.6",		false },
		{ "::/0",		"2001:db8::1",		true },
		{ "::/0",		"1.2.3.4",		false },	/* family */
		{ "2001:db8::/32",	"2001:db8:ffff::1",	true },
		{ "2001:db8::/32",	"2001:db9::1",		false },
		{ "2001:db8::1/128",	"2001:db8::1",		true },
		{ "2001:db8::1/128",	"2001:db8::2",		false },
		{ "2001:db8::/127",	"2001:db8::1",		true },
		{ "2001:db8::/127",	"2001:db8::2",		false },
		{ "fc00::/7",		"fdff::1",		true },
		{ "fc00::/7",		"fe00::1",		false },
		/* v4-mapped addresses are the v4 address they carry. */
		{ "10.0.0.0/8",		"::ffff:10.1.2.3",	true },
		{ "10.0.0.0/8",		"::ffff:11.1.2.3",	false },
		{ "::ffff:10.0.0.1",	"10.0.0.1",		true },
		{ "::/0",		"::ffff:10.0.0.1",	false },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(contains(cases[i].cidr, cases[i].addr), cases[i].in,
		    "%s %s %s", cases[i].cidr, cases[i].in ? "contains" : "does not contain",
		    cases[i].addr);
}

static void
test_loopback(void)
{
	static const struct {
		const char	*addr;
		bool		 lo;
	} cases[] = {
		{ "127.0.0.1", true }, { "127.255.255.254", true }, { "::1", true },
		{ "::ffff:127.0.0.1", true }, { "128.0.0.1", false },
		{ "126.255.255.255", false }, { "::", false }, { "::2", false },
		{ "0.0.0.0", false }, { "10.0.0.1", false }, { "fe80::1", false },
	};
	struct ipaddr	a;
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (ipaddr_parse(cases[i].addr, &a) != FB_OK) {
			ok(0, "parse %s", cases[i].addr);
			continue;
		}
		is_int(ipaddr_is_loopback(&a), cases[i].lo, "%s is %sloopback",
		    cases[i].addr, cases[i].lo ? "" : "not ");
	}
}

static void
test_list(void)
{
	const char	*s, *bad;
	struct cidr	*list = (struct cidr *)1;
	size_t		 n = 99;

	is_int(cidr_list_parse(NULL, &list, &n, &bad), FB_OK, "NULL list");
	ok(list == NULL && n == 0, "NULL list: nothing");
	list = (struct cidr *)1;
	is_int(cidr_list_parse("", &list, &n, &bad), FB_OK, "empty list");
	ok(list == NULL && n == 0, "empty list: nothing");

	s = "10.0.0.0/8";
	is_int(cidr_list_parse(s, &list, &n, &bad), FB_OK, "one item");
	ok(n == 1 && list != NULL && list[0].prefix == 8, "one item parsed");
	free(list);

	s = "10.0.0.0/8, 192.168.0.0/16 ,::1,  2001:db8::/32  ";
	is_int(cidr_list_parse(s, &list, &n, &bad), FB_OK, "list with spaces");
	if (is_int(n, 4, "four items")) {
		ok(list[0].addr.family == AF_INET && list[0].prefix == 8, "item 1");
		ok(list[1].addr.family == AF_INET && list[1].prefix == 16, "item 2");
		ok(list[2].addr.family == AF_INET6 && list[2].prefix == 128, "item 3");
		ok(list[3].addr.family == AF_INET6 && list[3].prefix == 32, "item 4");
	}
	free(list);

	s = "10.0.0.0/8, bogus, 1.2.3.4";
	list = (struct cidr *)1;
	bad = NULL;
	is_int(cidr_list_parse(s, &list, &n, &bad), FB_ERR_INVALID, "a bad item");
	ok(list == NULL && n == 0, "a bad item: nothing returned");
	ok(bad != NULL && strncmp(bad, "bogus", 5) == 0, "bad points at the bad item");

	s = "bogus";
	is_int(cidr_list_parse(s, &list, &n, &bad), FB_ERR_INVALID, "a bad first item");
	ok(bad == s, "bad points at the start");

	s = "10.0.0.0/8,,1.2.3.4";
	is_int(cidr_list_parse(s, &list, &n, &bad), FB_ERR_INVALID, "an empty item");
	ok(bad == s + 11, "bad points at the empty item");

	s = "10.0.0.0/33";
	is_int(cidr_list_parse(s, &list, &n, &bad), FB_ERR_INVALID, "a bad prefix");
	is_int(cidr_list_parse("1.2.3.4 5.6.7.8", &list, &n, &bad), FB_ERR_INVALID,
	    "space is not a separator");
	is_int(cidr_list_parse("1111:2222:3333:4444:5555:6666:7777:8888/128"
	    "00000000000000000000000", &list, &n, &bad), FB_ERR_INVALID,
	    "an item of 64 characters or more");
	is_int(cidr_list_parse("10.0.0.0/8, bogus", &list, &n, NULL), FB_ERR_INVALID,
	    "bad may be NULL");
}

int
main(void)
{
	test_parse_v4();
	test_parse_v6();
	test_parse_bad();
	test_cidr_parse();
	test_contains();
	test_loopback();
	test_list();
	return done_testing();
}
