/*
 * test_buf — struct buf: appends, growth, the failed state, take/reset/free.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

static void
test_empty(void)
{
	struct buf	b = BUF_INIT;

	is_str(buf_str(&b), "", "buf_str of a new buf is \"\"");
	ok(b.data == NULL, "a new buf holds no memory");
	is_int(b.len, 0, "a new buf is empty");
	ok(!buf_failed(&b), "a new buf has not failed");
	ok(buf_take(&b) == NULL, "buf_take of a never-used buf is NULL");
	buf_free(&b);
	buf_free(&b);
	ok(b.data == NULL && b.len == 0 && b.cap == 0, "buf_free twice is safe");
}

static void
test_append(void)
{
	struct buf	b = BUF_INIT;

	buf_append(&b, "abc", 3);
	is_str(buf_str(&b), "abc", "append");
	is_int(b.len, 3, "len after append");
	ok(b.cap > b.len, "room for the NUL");
	buf_puts(&b, "def");
	is_str(buf_str(&b), "abcdef", "puts after append");
	buf_append(&b, "", 0);
	is_str(buf_str(&b), "abcdef", "appending nothing changes nothing");
	buf_append(&b, NULL, 0);
	is_int(b.len, 6, "appending NULL with length 0 is allowed");
	buf_append(&b, "x\0y", 3);
	is_int(b.len, 9, "binary append counts the NUL byte");
	ok(memcmp(b.data, "abcdefx\0y", 10) == 0, "binary contents and final NUL");
	ok(!buf_failed(&b), "not failed");
	buf_free(&b);
}

static void
test_printf(void)
{
	struct buf	b = BUF_INIT;

	buf_printf(&b, "%d-%s", 42, "x");
	is_str(buf_str(&b), "42-x", "printf on an empty buf");
	buf_printf(&b, "%s", "");
	is_str(buf_str(&b), "42-x", "printf of an empty string");
	buf_printf(&b, "/%05.1f", 3.14159);
	is_str(buf_str(&b), "42-x/003.1", "printf appends");
	is_int(b.len, strlen("42-x/003.1"), "len follows printf");
	buf_free(&b);
}

static void
test_put_int(void)
{
	struct buf	 b = BUF_INIT;

	buf_put_int(&b, 0);
	buf_puts(&b, ",");
	buf_put_int(&b, -7);
	buf_puts(&b, ",");
	buf_put_int(&b, 1234567890123LL);
	buf_puts(&b, ",");
	buf_put_int(&b, -9223372036854775807LL - 1);
	buf_puts(&b, ",");
	buf_put_int(&b, 9223372036854775807LL);
	is_str(buf_str(&b), "0,-7,1234567890123,-9223372036854775808,9223372036854775807",
	    "buf_put_int: zero, negatives, LLONG_MIN and LLONG_MAX");
	buf_free(&b);
}

static void
test_growth(void)
{
	struct buf	 b = BUF_INIT;
	char		 big[10000];
	size_t		 i;
	bool		 same = true;

	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < 1000; i++)
		buf_printf(&b, "%04zu,", i);
	is_int(b.len, 5000, "1000 printfs of 5 bytes");
	for (i = 0; i < 1000 && same; i++) {
		char want[6];
		snprintf(want, sizeof(want), "%04zu", i);
		same = memcmp(b.data + 5 * i, want, 4) == 0 && b.data[5 * i + 4] == ',';
	}
	ok(same, "contents survive reallocation");
	buf_printf(&b, "%s", big);
	is_int(b.len, 5000 + sizeof(big) - 1, "a printf larger than the capacity");
	is_int(strlen(buf_str(&b)), b.len, "still NUL-terminated at len");
	ok(b.cap > b.len, "capacity covers len and NUL");
	buf_free(&b);
}

static void
test_reset(void)
{
	struct buf	 b = BUF_INIT;
	char		*data;
	size_t		 cap;

	buf_puts(&b, "hello");
	data = b.data;
	cap = b.cap;
	buf_reset(&b);
	is_str(buf_str(&b), "", "reset empties");
	is_int(b.len, 0, "reset sets len 0");
	ok(b.data == data && b.cap == cap, "reset keeps the memory");
	buf_puts(&b, "again");
	is_str(buf_str(&b), "again", "usable after reset");
	buf_free(&b);
	buf_reset(&b);
	is_str(buf_str(&b), "", "reset of a freed buf is safe");
}

static void
test_take(void)
{
	struct buf	 b = BUF_INIT;
	char		*p;

	buf_puts(&b, "owned");
	p = buf_take(&b);
	is_str(p, "owned", "take returns the contents");
	ok(b.data == NULL && b.len == 0 && b.cap == 0, "take leaves an empty buf");
	is_str(buf_str(&b), "", "buf_str after take");
	free(p);
	buf_puts(&b, "second");
	p = buf_take(&b);
	is_str(p, "second", "the buf is reusable after take");
	free(p);
}

static void
test_failed(void)
{
	struct buf	 b = BUF_INIT;

	buf_puts(&b, "abc");
	/* An impossible size marks the buf failed without allocating. */
	buf_append(&b, "x", SIZE_MAX);
	ok(buf_failed(&b), "an append past SIZE_MAX fails");
	is_str(buf_str(&b), "abc", "contents untouched by the failed append");
	buf_puts(&b, "def");
	is_str(buf_str(&b), "abc", "appends after a failure are ignored");
	buf_printf(&b, "%d", 1);
	is_str(buf_str(&b), "abc", "printf after a failure is ignored");
	ok(buf_take(&b) == NULL, "take of a failed buf is NULL");
	ok(b.data == NULL && !buf_failed(&b), "take of a failed buf frees it");

	buf_puts(&b, "abc");
	buf_append(&b, "x", SIZE_MAX - 2);
	ok(buf_failed(&b), "len + more + NUL overflowing fails");
	buf_reset(&b);
	ok(!buf_failed(&b), "reset clears the failed state");
	buf_puts(&b, "ok");
	is_str(buf_str(&b), "ok", "usable after reset of a failed buf");
	buf_free(&b);
}

int
main(void)
{
	test_empty();
	test_append();
	test_printf();
	test_put_int();
	test_growth();
	test_reset();
	test_take();
	test_failed();
	return done_testing();
}
