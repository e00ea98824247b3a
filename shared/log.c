#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static struct {
	char			 prog[32];
	enum fblog_level	 min;
	pid_t			 pid;		/* cached: getpid() is a system call */
	time_t			 ts_sec;	/* second of ts_text */
	char			 ts_text[32];	/* "2026-01-31T12:00:00" */
} logstate = { "fastback", FBLOG_INFO, 0, -1, "" };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
log_setup(const char *prog, enum fblog_level min)
{
	snprintf(logstate.prog, sizeof(logstate.prog), "%s", prog);
	logstate.min = min;
	logstate.pid = getpid();
}

void
log_after_fork(void)
{
	logstate.pid = getpid();
}

static pid_t
log_pid(void)
{
	if (logstate.pid == 0)
		logstate.pid = getpid();
	return logstate.pid;
}

/* "2026-01-31T12:00:00.123Z" into out; the date part is formatted once a second. */
static void
timestamp(char *out, size_t len)
{
	struct timeval	tv;
	struct tm	tm;

	gettimeofday(&tv, NULL);
	if (tv.tv_sec != logstate.ts_sec) {
		gmtime_r(&tv.tv_sec, &tm);
		strftime(logstate.ts_text, sizeof(logstate.ts_text), "%Y-%m-%dT%H:%M:%S", &tm);
		logstate.ts_sec = tv.tv_sec;
	}
	snprintf(out, len, "%s.%03dZ", logstate.ts_text, (int)(tv.tv_usec / 1000));
}

static void
json_escape(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char	*run = s;
	char		 esc[6] = { '\\', 'u', '0', '0', 0, 0 };

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_append(b, run, (size_t)(s - run));
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			buf_append(b, esc, 2);
			esc[1] = 'u';
		} else {
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			buf_append(b, esc, 6);
		}
		run = s + 1;
	}
	buf_append(b, run, (size_t)(s - run));
}

void
log_begin(struct buf *b, enum fblog_level lvl)
{
	char	ts[40];

	timestamp(ts, sizeof(ts));
	buf_reset(b);
	buf_puts(b, "{\"ts\":\"");
	buf_puts(b, ts);
	buf_puts(b, "\",\"level\":\"");
	buf_puts(b, level_names[lvl]);
	buf_puts(b, "\",\"prog\":\"");
	json_escape(b, logstate.prog);
	buf_puts(b, "\",\"pid\":");
	buf_put_int(b, (long long)log_pid());
}

/* ,"key": (keys are our own identifiers: nothing to escape) */
static void
add_key(struct buf *b, const char *key)
{
	buf_puts(b, ",\"");
	buf_puts(b, key);
	buf_puts(b, "\":");
}

void
log_add_str(struct buf *b, const char *key, const char *value)
{
	add_key(b, key);
	if (value == NULL) {
		buf_puts(b, "null");
		return;
	}
	buf_puts(b, "\"");
	json_escape(b, value);
	buf_puts(b, "\"");
}

void
log_add_int(struct buf *b, const char *key, long long value)
{
	add_key(b, key);
	buf_put_int(b, value);
}

void
log_add_num(struct buf *b, const char *key, double value)
{
	long long	milli;

	add_key(b, key);
	if (value != value || value > 1e300 || value < -1e300) {	/* NaN, inf: no JSON */
		buf_puts(b, "null");
		return;
	}
	if (value > 1e15 || value < -1e15) {
		buf_printf(b, "%.3f", value);
		return;
	}
	/* Three decimals without printf, rounded half away from zero (%.3f
	 * may differ in the last digit on ties). */
	milli = llround(value * 1000);
	if (milli < 0) {
		buf_puts(b, "-");
		milli = -milli;
	}
	buf_put_int(b, milli / 1000);
	buf_append(b, (const char[]){ '.', (char)('0' + milli / 100 % 10),
	    (char)('0' + milli / 10 % 10), (char)('0' + milli % 10) }, 4);
}

/* Lines held back by log_end() in batching mode; never more than PIPE_BUF
 * bytes, so one write(2) of them cannot interleave with another process's. */
static struct {
	bool	on;
	char	data[4096];
	size_t	len;
} batch;

void
log_batch(bool on)
{
	log_flush();
	batch.on = on;
}

bool
log_pending(void)
{
	return batch.len > 0;
}

void
log_flush(void)
{
	ssize_t	n;

	if (batch.len == 0)
		return;
	n = write(STDERR_FILENO, batch.data, batch.len);
	(void)n;	/* nowhere left to report a failed log write */
	batch.len = 0;
}

void
log_end(struct buf *b)
{
	ssize_t	n;

	buf_puts(b, "}\n");
	if (buf_failed(b)) {
		buf_reset(b);
		return;
	}
	if (batch.on && b->len <= sizeof(batch.data)) {
		if (batch.len + b->len > sizeof(batch.data))
			log_flush();
		memcpy(batch.data + batch.len, b->data, b->len);
		batch.len += b->len;
	} else {
		n = write(STDERR_FILENO, b->data, b->len);
		(void)n;
	}
	buf_reset(b);
}

int
log_parse_level(const char *s, enum fblog_level *out)
{
	size_t	i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum fblog_level)i;
			return 0;
		}
	return -1;
}

bool
log_enabled(enum fblog_level lvl)
{
	return lvl >= logstate.min;
}

void
log_event(enum fblog_level lvl, json_t *fields)
{
	char		 ts[64];
	json_t		*line;
	char		*text;
	size_t		 len;
	ssize_t		 n;

	if (!log_enabled(lvl)) {
		json_decref(fields);
		return;
	}
	timestamp(ts, sizeof(ts));

	line = json_object();
	if (line == NULL) {
		json_decref(fields);
		return;
	}
	json_object_set_new(line, "ts", json_string(ts));
	json_object_set_new(line, "level", json_string(level_names[lvl]));
	json_object_set_new(line, "prog", json_string(logstate.prog));
	json_object_set_new(line, "pid", json_integer(log_pid()));
	if (fields != NULL) {
		json_object_update(line, fields);
		json_decref(fields);
	}
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(line);
	if (text == NULL)
		return;
	log_flush();	/* keep the order of lines */
	len = strlen(text);
	text[len] = '\n';	/* replaces the NUL; written by length */
	n = write(STDERR_FILENO, text, len + 1);
	(void)n;		/* nowhere left to report a failed log write */
	free(text);
}

void
log_msg(enum fblog_level lvl, const char *fmt, ...)
{
	char	 msg[1024];
	va_list	 ap;

	if (!log_enabled(lvl))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);	/* truncation is acceptable in a log line */
	va_end(ap);
	log_event(lvl, json_pack("{s:s}", "msg", msg));
}
