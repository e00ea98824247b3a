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
} logstate = { "fastback", FBLOG_INFO };

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
log_setup(const char *prog, enum fblog_level min)
{
	snprintf(logstate.prog, sizeof(logstate.prog), "%s", prog);
	logstate.min = min;
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
	struct timeval	 tv;
	struct tm	 tm;
	char		 ts[64];
	json_t		*line;
	char		*text;
	size_t		 len;
	ssize_t		 n;

	if (!log_enabled(lvl)) {
		json_decref(fields);
		return;
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));

	line = json_object();
	if (line == NULL) {
		json_decref(fields);
		return;
	}
	json_object_set_new(line, "ts", json_string(ts));
	json_object_set_new(line, "level", json_string(level_names[lvl]));
	json_object_set_new(line, "prog", json_string(logstate.prog));
	json_object_set_new(line, "pid", json_integer(getpid()));
	if (fields != NULL) {
		json_object_update(line, fields);
		json_decref(fields);
	}
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(line);
	if (text == NULL)
		return;
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
