/*
 * tap.h — a minimal producer of TAP (the Test Anything Protocol, as prove(1)
 * reads it) for the unit tests. Header-only, no dependency but libc; each test
 * program is one translation unit, so the state below is per program.
 *
 *	plan(n);			or nothing, and done_testing() prints it
 *	ok(expr, fmt, ...);		on failure: the expression and file:line
 *	is_int(got, want, fmt, ...);	long long comparison
 *	is_str(got, want, fmt, ...);	NULL-safe string comparison
 *	has_str(hay, needle, fmt, ...);	hay contains needle
 *	lacks_str(hay, needle, fmt, ...); hay does not contain needle
 *	diag(fmt, ...);			a "# " line on stderr
 *	note(fmt, ...);			a "# " line on stdout
 *	todo_start(reason); ... todo_end();	known bugs: failures are "# TODO"
 *	skip(n, reason);		n skipped tests
 *	bail_out(fmt, ...);		stops the program ("Bail out!")
 *	return done_testing();		the exit status: 0 when everything passed,
 *					else the number of failures (at most 254),
 *					255 when the plan was not followed.
 *
 * Every assertion returns true when it passed, so a test can stop early
 * (`if (!ok(p != NULL, "...")) return;`). A '#' in a name is escaped.
 */
#ifndef FB_TAP_H
#define FB_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
	int		 planned;	/* -1: no plan yet */
	int		 run;
	int		 failed;	/* failures outside TODO blocks */
	int		 todo_failed;
	const char	*todo;		/* reason of the open TODO block (or NULL) */
} tap_state = { -1, 0, 0, 0, NULL };

/* Strings longer than this are cut in diagnostics. */
#define TAP_DIAG_MAX 600

static inline void
plan(int n)
{
	tap_state.planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static inline void tap_vline(FILE *f, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static inline void
tap_vline(FILE *f, const char *fmt, va_list ap)
{
	fputs("# ", f);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
}

static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void
diag(const char *fmt, ...)
{
	va_list	ap;

	fflush(stdout);
	va_start(ap, fmt);
	tap_vline(stderr, fmt, ap);
	va_end(ap);
}

static inline void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void
note(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	tap_vline(stdout, fmt, ap);
	va_end(ap);
}

/* Writes s C-escaped and quoted (or NULL), cut at TAP_DIAG_MAX bytes. */
static inline void
tap_quote(FILE *f, const char *s)
{
	size_t	i;

	if (s == NULL) {
		fputs("NULL", f);
		return;
	}
	fputc('"', f);
	for (i = 0; s[i] != '\0' && i < TAP_DIAG_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n')
			fputs("\\n", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
	if (s[i] != '\0')
		fprintf(f, "... (%zu bytes)", strlen(s));
}

/* Prints the "ok N - name" line; returns pass. */
static inline bool tap_result(bool pass, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static inline bool
tap_result(bool pass, const char *fmt, va_list ap)
{
	char		 name[1024];
	const char	*c;

	tap_state.run++;
	vsnprintf(name, sizeof(name), fmt, ap);
	printf("%sok %d - ", pass ? "" : "not ", tap_state.run);
	/* '#' starts a directive: escape it as Test::More does; one line only. */
	for (c = name; *c != '\0'; c++) {
		if (*c == '#')
			fputs("\\#", stdout);
		else
			putchar(*c == '\n' || *c == '\r' ? ' ' : *c);
	}
	if (tap_state.todo != NULL)
		printf(" # TODO %s", tap_state.todo);
	putchar('\n');
	fflush(stdout);
	if (!pass) {
		if (tap_state.todo != NULL)
			tap_state.todo_failed++;
		else
			tap_state.failed++;
	}
	return pass;
}

/* Failure details go to stderr; those of a TODO test to stdout, as comments,
 * like Test::More, so a known bug does not clutter prove's output. */
static inline FILE *
tap_diag_stream(void)
{
	return tap_state.todo != NULL ? stdout : stderr;
}

static inline bool tap_ok(bool pass, const char *expr, const char *file,
    int line, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static inline bool
tap_ok(bool pass, const char *expr, const char *file, int line,
    const char *fmt, ...)
{
	va_list	ap;
	FILE	*f;

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass) {
		f = tap_diag_stream();
		fprintf(f, "#   Failed%s test at %s line %d:\n#     %s\n",
		    tap_state.todo != NULL ? " (TODO)" : "", file, line, expr);
		fflush(f);
	}
	return pass;
}

static inline bool tap_is_int(long long got, long long want, const char *expr,
    const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static inline bool
tap_is_int(long long got, long long want, const char *expr, const char *file,
    int line, const char *fmt, ...)
{
	va_list	ap;
	FILE	*f;
	bool	pass = got == want;

	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass) {
		f = tap_diag_stream();
		fprintf(f, "#   Failed%s test at %s line %d:\n#     %s\n"
		    "#          got: %lld\n#     expected: %lld\n",
		    tap_state.todo != NULL ? " (TODO)" : "", file, line, expr,
		    got, want);
		fflush(f);
	}
	return pass;
}

static inline bool tap_is_str(const char *got, const char *want, bool equal,
    const char *expr, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static inline bool
tap_is_str(const char *got, const char *want, bool equal, const char *expr,
    const char *file, int line, const char *fmt, ...)
{
	va_list	ap;
	FILE	*f;
	bool	same, pass;

	same = got == want || (got != NULL && want != NULL && strcmp(got, want) == 0);
	pass = same == equal;
	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass) {
		f = tap_diag_stream();
		fprintf(f, "#   Failed%s test at %s line %d:\n#     %s\n"
		    "#          got: ", tap_state.todo != NULL ? " (TODO)" : "",
		    file, line, expr);
		tap_quote(f, got);
		fputs(equal ? "\n#     expected: " : "\n#     expected anything but: ",
		    f);
		tap_quote(f, want);
		fputc('\n', f);
		fflush(f);
	}
	return pass;
}

static inline bool tap_has_str(const char *hay, const char *needle, bool want,
    const char *expr, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static inline bool
tap_has_str(const char *hay, const char *needle, bool want, const char *expr,
    const char *file, int line, const char *fmt, ...)
{
	va_list	ap;
	FILE	*f;
	bool	found, pass;

	found = hay != NULL && needle != NULL && strstr(hay, needle) != NULL;
	pass = found == want && hay != NULL;
	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	if (!pass) {
		f = tap_diag_stream();
		fprintf(f, "#   Failed%s test at %s line %d:\n#     %s\n"
		    "#     %s: ", tap_state.todo != NULL ? " (TODO)" : "",
		    file, line, expr, want ? "looked for" : "did not want");
		tap_quote(f, needle);
		fputs("\n#     in: ", f);
		tap_quote(f, hay);
		fputc('\n', f);
		fflush(f);
	}
	return pass;
}

#define ok(expr, ...) \
	tap_ok(!!(expr), #expr, __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
	tap_is_int((long long)(got), (long long)(want), #got " == " #want, \
	    __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) \
	tap_is_str((got), (want), true, #got " eq " #want, __FILE__, __LINE__, \
	    __VA_ARGS__)
#define isnt_str(got, want, ...) \
	tap_is_str((got), (want), false, #got " ne " #want, __FILE__, __LINE__, \
	    __VA_ARGS__)
#define has_str(hay, needle, ...) \
	tap_has_str((hay), (needle), true, "strstr(" #hay ", " #needle ")", \
	    __FILE__, __LINE__, __VA_ARGS__)
#define lacks_str(hay, needle, ...) \
	tap_has_str((hay), (needle), false, "!strstr(" #hay ", " #needle ")", \
	    __FILE__, __LINE__, __VA_ARGS__)

static inline void
todo_start(const char *reason)
{
	tap_state.todo = reason;
}

static inline void
todo_end(void)
{
	tap_state.todo = NULL;
}

static inline void
skip(int n, const char *reason)
{
	while (n-- > 0) {
		tap_state.run++;
		printf("ok %d # skip %s\n", tap_state.run, reason);
	}
	fflush(stdout);
}

static inline void bail_out(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static inline void
bail_out(const char *fmt, ...)
{
	va_list	ap;

	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	exit(255);
}

static inline int
done_testing(void)
{
	if (tap_state.planned < 0) {
		tap_state.planned = tap_state.run;
		printf("1..%d\n", tap_state.run);
	} else if (tap_state.planned != tap_state.run)
		diag("planned %d tests but ran %d", tap_state.planned, tap_state.run);
	if (tap_state.todo_failed > 0)
		note("%d known bug%s (TODO)", tap_state.todo_failed,
		    tap_state.todo_failed == 1 ? "" : "s");
	if (tap_state.failed > 0)
		diag("failed %d of %d tests", tap_state.failed, tap_state.run);
	fflush(stdout);
	if (tap_state.planned != tap_state.run)
		return 255;
	return tap_state.failed > 254 ? 254 : tap_state.failed;
}

#endif
