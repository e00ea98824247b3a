/*
 * test_log — JSON log lines on stderr: levels, the common fields, log_event
 * and log_msg through jansson, the hand-built lines of the access log
 * (escaping, null, numbers), and the cached pid after fork().
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "tap.h"

static int	saved_fd = -1;
static FILE	*capture_file;

/* Sends fd 2 to a temporary file until capture_end(). */
static void
capture_begin(void)
{
	fflush(stderr);
	if ((capture_file = tmpfile()) == NULL)
		bail_out("tmpfile");
	saved_fd = dup(2);
	dup2(fileno(capture_file), 2);
}

/* Restores fd 2; returns what was written (caller frees). */
static char *
capture_end(void)
{
	struct buf	out = BUF_INIT;
	char		chunk[4096];
	size_t		n;

	fflush(stderr);
	dup2(saved_fd, 2);
	close(saved_fd);
	rewind(capture_file);
	while ((n = fread(chunk, 1, sizeof(chunk), capture_file)) > 0)
		buf_append(&out, chunk, n);
	fclose(capture_file);
	if (out.len == 0)
		buf_append(&out, "", 0);	/* "" rather than NULL */
	return buf_take(&out);
}

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int
count_lines(const char *s)
{
	int	n = 0;

	for (; s != NULL && *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

/* The common fields every line has. */
static void
check_common(json_t *j, const char *level, const char *what)
{
	const char	*ts = jstr(j, "ts");

	ok(ts != NULL && strlen(ts) == 24 && ts[4] == '-' && ts[10] == 'T' &&
	    ts[19] == '.' && ts[23] == 'Z', "%s: ts is RFC 3339 UTC with ms", what);
	is_str(jstr(j, "level"), level, "%s: level", what);
	is_str(jstr(j, "prog"), "test_log", "%s: prog", what);
	is_int(json_integer_value(json_object_get(j, "pid")), getpid(), "%s: pid", what);
}

static void
test_levels(void)
{
	enum fblog_level	l = FBLOG_ERROR;

	is_int(log_parse_level("debug", &l), 0, "debug parses");
	is_int(l, FBLOG_DEBUG, "as FBLOG_DEBUG");
	is_int(log_parse_level("info", &l), 0, "info parses");
	is_int(l, FBLOG_INFO, "as FBLOG_INFO");
	is_int(log_parse_level("warn", &l), 0, "warn parses");
	is_int(log_parse_level("error", &l), 0, "error parses");
	is_int(l, FBLOG_ERROR, "as FBLOG_ERROR");
	is_int(log_parse_level("DEBUG", &l), -1, "upper case is refused");
	is_int(log_parse_level("warning", &l), -1, "warning is refused");
	is_int(log_parse_level("", &l), -1, "empty is refused");
	is_int(l, FBLOG_ERROR, "a refused name leaves *out alone");

	log_setup("test_log", FBLOG_WARN);
	ok(!log_enabled(FBLOG_DEBUG), "min warn: no debug");
	ok(!log_enabled(FBLOG_INFO), "min warn: no info");
	ok(log_enabled(FBLOG_WARN), "min warn: warn");
	ok(log_enabled(FBLOG_ERROR), "min warn: error");
	log_setup("test_log", FBLOG_DEBUG);
	ok(log_enabled(FBLOG_DEBUG), "min debug: debug");
}

static void
test_event(void)
{
	char	*out, *line2;
	json_t	*j;

	log_setup("test_log", FBLOG_INFO);
	capture_begin();
	log_event(FBLOG_INFO, json_pack("{s:s,s:i}", "msg", "hello \"world\"\n", "n", 7));
	log_event(FBLOG_DEBUG, json_pack("{s:s}", "msg", "below the minimum"));
	log_event(FBLOG_ERROR, NULL);
	out = capture_end();
	is_int(count_lines(out), 2, "two lines: the debug one is dropped");
	lacks_str(out, "below the minimum", "nothing of the dropped event");
	j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
	if (ok(j != NULL, "the first line is JSON")) {
		check_common(j, "info", "log_event");
		is_str(jstr(j, "msg"), "hello \"world\"\n", "msg round-trips");
		is_int(json_integer_value(json_object_get(j, "n")), 7, "other fields");
	}
	json_decref(j);
	line2 = out != NULL ? strchr(out, '\n') : NULL;
	j = line2 != NULL ? json_loads(line2 + 1, 0, NULL) : NULL;
	if (ok(j != NULL, "an event without fields is a line too")) {
		check_common(j, "error", "log_event(NULL)");
		is_int(json_object_size(j), 4, "only the common fields");
	}
	json_decref(j);
	ok(out != NULL && out[strlen(out) - 1] == '\n', "lines end with a newline");
	free(out);
}

static void
test_msg(void)
{
	char	*out, big[3000];
	json_t	*j;

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	capture_begin();
	log_msg(FBLOG_WARN, "value %d of %s", 42, "x");
	log_msg(FBLOG_DEBUG, "dropped %s", "quietly");
	log_msg(FBLOG_ERROR, "%s", big);
	out = capture_end();
	is_int(count_lines(out), 2, "log_msg: two lines");
	j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
	is_str(jstr(j, "msg"), "value 42 of x", "log_msg formats");
	json_decref(j);
	j = strchr(out, '\n') != NULL ? json_loads(strchr(out, '\n') + 1, 0, NULL) : NULL;
	is_int(strlen(jstr(j, "msg") ? jstr(j, "msg") : ""), 1023,
	    "a long message is cut to 1023 bytes");
	json_decref(j);
	free(out);
}

static void
test_built(void)
{
	struct buf	 b = BUF_INIT;
	char		*out;
	json_t		*j;

	capture_begin();
	log_begin(&b, FBLOG_INFO);
	log_add_str(&b, "type", "access");
	log_add_str(&b, "path", "/a\"b\\c\nd\x01" "e\x1f" "f\x7fg\xc3\xa9");
	log_add_str(&b, "none", NULL);
	log_add_str(&b, "empty", "");
	log_add_int(&b, "status", 200);
	log_add_int(&b, "neg", -9223372036854775807LL - 1);
	log_add_num(&b, "ms", 1.5);
	log_add_num(&b, "small", 0.0004);
	log_add_num(&b, "round", 2.0006);
	log_add_num(&b, "negative", -12.3456);
	log_add_num(&b, "big", 3e16);
	{
		static const char want[] = "\"ms\":1.500,\"small\":0.000,\"round\":2.001,"
		    "\"negative\":-12.346,\"big\":30000000000000000.000";
		const char *p = strstr(buf_str(&b), "\"ms\":");

		if (!ok(p != NULL && strncmp(p, want, sizeof(want) - 1) == 0,
		    "numbers with three decimals, rounded"))
			diag("got %s", p != NULL ? p : "(none)");
	}
	log_end(&b);
	is_int(b.len, 0, "log_end empties the buf");
	log_begin(&b, FBLOG_ERROR);
	log_end(&b);
	out = capture_end();
	is_int(count_lines(out), 2, "two hand-built lines");
	j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
	if (ok(j != NULL, "a hand-built line is JSON")) {
		check_common(j, "info", "log_begin");
		is_str(jstr(j, "type"), "access", "a plain string");
		is_str(jstr(j, "path"), "/a\"b\\c\nd\x01" "e\x1f" "f\x7fg\xc3\xa9",
		    "quotes, backslashes, controls and UTF-8 round-trip");
		ok(json_is_null(json_object_get(j, "none")), "NULL is null");
		is_str(jstr(j, "empty"), "", "an empty string");
		is_int(json_integer_value(json_object_get(j, "status")), 200, "an int");
		is_int(json_integer_value(json_object_get(j, "neg")),
		    -9223372036854775807LL - 1, "LLONG_MIN");
		ok(fabs(json_number_value(json_object_get(j, "ms")) - 1.5) < 1e-9, "a number");
		ok(json_is_number(json_object_get(j, "small")), "a small number");
	}
	json_decref(j);
	j = strchr(out, '\n') != NULL ? json_loads(strchr(out, '\n') + 1, 0, NULL) : NULL;
	if (ok(j != NULL, "a line of only the common fields is JSON"))
		check_common(j, "error", "log_begin/log_end");
	json_decref(j);
	free(out);

	/* A non-finite number would print "nan" or "inf": not JSON. */
	capture_begin();
	log_begin(&b, FBLOG_INFO);
	log_add_num(&b, "nan", NAN);
	log_add_num(&b, "inf", INFINITY);
	log_end(&b);
	out = capture_end();
	j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
	ok(j != NULL, "a line with NaN and infinity is still JSON");
	json_decref(j);
	free(out);
	buf_free(&b);
}

static void
test_prog(void)
{
	char	*out;
	json_t	*j;

	log_setup("we\"ird\\prog-name-that-is-longer-than-31-bytes", FBLOG_INFO);
	capture_begin();
	log_msg(FBLOG_INFO, "x");
	{
		struct buf b = BUF_INIT;

		log_begin(&b, FBLOG_INFO);
		log_end(&b);
		buf_free(&b);
	}
	out = capture_end();
	j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
	is_str(jstr(j, "prog"), "we\"ird\\prog-name-that-is-longer", "prog cut to 31 bytes");
	json_decref(j);
	j = strchr(out, '\n') != NULL ? json_loads(strchr(out, '\n') + 1, 0, NULL) : NULL;
	is_str(jstr(j, "prog"), "we\"ird\\prog-name-that-is-longer",
	    "and escaped in hand-built lines");
	json_decref(j);
	free(out);
	log_setup("test_log", FBLOG_INFO);
}

static void
test_fork(void)
{
	char	*out;
	json_t	*j;
	pid_t	 pid;
	int	 status;

	capture_begin();
	fflush(stdout);
	if ((pid = fork()) == 0) {
		log_after_fork();
		log_msg(FBLOG_INFO, "from the child");
		_exit(0);
	}
	waitpid(pid, &status, 0);
	out = capture_end();
	j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
	is_int(json_integer_value(json_object_get(j, "pid")), pid,
	    "after log_after_fork() the child logs its own pid");
	json_decref(j);
	free(out);
}

int
main(void)
{
	test_levels();
	test_event();
	test_msg();
	test_built();
	test_prog();
	test_fork();
	return done_testing();
}
