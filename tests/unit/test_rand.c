/*
 * test_rand — random bytes, hex and version 4 UUIDs: lengths, alphabet,
 * version and variant bits, that two draws differ, and that a forked child
 * does not repeat its parent's UUIDs (they come from a pool).
 */
#include <ctype.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rand.h"
#include "tap.h"
#include "validate.h"

static bool
all_lower_hex(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return s[n] == '\0';
}

int
main(void)
{
	unsigned char	 a[32], b[32], zero[32];
	char		 hex[2 * 100 + 1], hex2[2 * 100 + 1], u[UUID_STR_LEN], v[UUID_STR_LEN];
	int		 i, versions = 0, variants = 0, valid = 0;

	memset(zero, 0, sizeof(zero));
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	is_int(rand_bytes(a, sizeof(a)), FB_OK, "rand_bytes");
	is_int(rand_bytes(b, sizeof(b)), FB_OK, "rand_bytes again");
	ok(memcmp(a, zero, sizeof(a)) != 0, "not all zero");
	ok(memcmp(a, b, sizeof(a)) != 0, "two draws differ");
	is_int(rand_bytes(a, 0), FB_OK, "zero bytes is fine");

	memset(hex, 'Z', sizeof(hex));
	is_int(rand_hex(hex, 16), FB_OK, "rand_hex 16");
	is_int(strlen(hex), 32, "32 hex digits");
	ok(all_lower_hex(hex, 32), "lowercase hex");
	is_int(rand_hex(hex, 100), FB_OK, "rand_hex 100 (more than one 64-byte chunk)");
	ok(all_lower_hex(hex, 200), "200 lowercase hex digits, terminated");
	is_int(rand_hex(hex2, 100), FB_OK, "rand_hex again");
	isnt_str(hex, hex2, "two hex draws differ");
	is_int(rand_hex(hex, 0), FB_OK, "rand_hex 0");
	is_str(hex, "", "an empty string");

	is_int(rand_uuid(u), FB_OK, "rand_uuid");
	is_int(strlen(u), 36, "36 characters");
	ok(valid_uuid(u), "8-4-4-4-12 hex");
	is_int(rand_uuid(v), FB_OK, "rand_uuid again");
	isnt_str(u, v, "two UUIDs differ");
	for (i = 0; i < 200; i++) {
		if (rand_uuid(u) != FB_OK)
			continue;
		valid += valid_uuid(u) && strspn(u, "0123456789abcdef-") == 36;
		versions += u[14] == '4';
		variants += strchr("89ab", u[19]) != NULL;
	}
	is_int(valid, 200, "200 UUIDs well formed, lowercase");
	is_int(versions, 200, "version nibble 4 (RFC 9562 §5.4)");
	is_int(variants, 200, "variant bits 10 (RFC 9562 §4.1)");

	/* The pool is full now; a child must not hand out the same bytes. */
	{
		char	child[UUID_STR_LEN] = "";
		int	fds[2], st = -1;
		pid_t	pid;

		ok(pipe(fds) == 0, "pipe");
		pid = fork();
		if (pid == 0) {
			close(fds[0]);
			if (rand_uuid(u) == FB_OK)
				(void)!write(fds[1], u, UUID_STR_LEN);
			_exit(0);
		}
		close(fds[1]);
		ok(read(fds[0], child, sizeof(child)) == UUID_STR_LEN, "the child made a UUID");
		close(fds[0]);
		waitpid(pid, &st, 0);
		is_int(rand_uuid(v), FB_OK, "the parent makes one");
		isnt_str(child, v, "the child's UUID is not the parent's next one");
		ok(valid_uuid(child), "the child's is well formed");
	}
	return done_testing();
}
