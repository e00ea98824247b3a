#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "template.h"

enum part {
	PART_SUBJECT,
	PART_TEXT,
	PART_HTML,
	PART_COUNT,
};

/* File extensions, also the part's name in logs. */
static const char *const part_ext[PART_COUNT] = { "subject", "txt", "html" };

bool
template_name_valid(const char *name)
{
	size_t	i;

	if (name == NULL)
		return false;
	for (i = 0; name[i] != '\0'; i++) {
		if (i == TEMPLATE_NAME_MAX)
			return false;
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_' ||
		    name[i] == '-'))
			return false;
	}
	return i > 0;
}

/*
 * Reads dir/name.ext into *out (caller frees). A missing file is FB_OK with
 * *out NULL when optional, else FB_ERR_NOTFOUND.
 */
static enum fb_err
read_part(const char *dir, const char *name, enum part part, bool optional,
    char **out)
{
	struct buf	 b = BUF_INIT;
	struct stat	 st;
	char		 path[PATH_MAX], chunk[8192];
	ssize_t		 n;
	int		 fd, len;
	enum fb_err	 e = FB_OK;

	*out = NULL;
	len = snprintf(path, sizeof(path), "%s/%s.%s", dir, name, part_ext[part]);
	if (len < 0 || (size_t)len >= sizeof(path)) {
		log_msg(FBLOG_ERROR, "template %s: path too long", name);
		return FB_ERR_INVALID;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT && optional)
			return FB_OK;
		log_msg(FBLOG_ERROR, "template: %s: %s", path, strerror(errno));
		return errno == ENOENT ? FB_ERR_NOTFOUND : FB_ERR_IO;
	}
	/* From here on, fd to close: the out label takes over. */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		log_msg(FBLOG_ERROR, "template: %s: not a regular file", path);
		e = FB_ERR_IO;
		goto out;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_msg(FBLOG_ERROR, "template: %s: %s", path, strerror(errno));
			e = FB_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > TEMPLATE_FILE_MAX) {
			log_msg(FBLOG_ERROR, "template: %s: over %d bytes", path,
			    TEMPLATE_FILE_MAX);
			e = FB_ERR_TOOBIG;
			goto out;
		}
		buf_append(&b, chunk, (size_t)n);
	}
	if (buf_failed(&b)) {
		log_msg(FBLOG_ERROR, "template: %s: out of memory", path);
		e = FB_ERR_NOMEM;
		goto out;
	}
	if (memchr(buf_str(&b), '\0', b.len) != NULL) {
		log_msg(FBLOG_ERROR, "template: %s: holds a NUL byte", path);
		e = FB_ERR_INVALID;
		goto out;
	}
	/* An empty file is an empty part, not NULL. */
	if ((*out = b.len > 0 ? buf_take(&b) : strdup("")) == NULL) {
		log_msg(FBLOG_ERROR, "template: %s: out of memory", path);
		e = FB_ERR_NOMEM;
	}
out:
	close(fd);
	buf_free(&b);
	return e;
}

static void
html_escape(struct buf *b, const char *s, size_t len)
{
	size_t	i, start = 0;
	const char *rep;

	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&':	rep = "&amp;";	break;
		case '<':	rep = "&lt;";	break;
		case '>':	rep = "&gt;";	break;
		case '"':	rep = "&quot;";	break;
		case '\'':	rep = "&#39;";	break;
		default:	continue;
		}
		buf_append(b, s + start, i - start);
		buf_puts(b, rep);
		start = i + 1;
	}
	buf_append(b, s + start, len - start);
}

static bool
is_var_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/* Expands the {{var}} of src (part of template name) into *out. */
static enum fb_err
expand(const char *name, enum part part, const char *src, json_t *vars,
    char **out)
{
	struct buf	 b = BUF_INIT;
	const char	*p = src, *open, *close, *v, *vend, *val;
	char		 var[TEMPLATE_VAR_MAX + 1], num[64];
	size_t		 vlen, i;
	json_t		*j;
	enum fb_err	 e = FB_ERR_INVALID;

	*out = NULL;
	while ((open = strstr(p, "{{")) != NULL) {
		buf_append(&b, p, (size_t)(open - p));
		if ((close = strstr(open + 2, "}}")) == NULL) {
			log_msg(FBLOG_ERROR, "template %s.%s: \"{{\" without \"}}\"",
			    name, part_ext[part]);
			goto fail;
		}
		for (v = open + 2; v < close && *v == ' '; v++)
			;
		for (vend = close; vend > v && vend[-1] == ' '; vend--)
			;
		vlen = (size_t)(vend - v);
		for (i = 0; i < vlen && is_var_char(v[i]); i++)
			;
		if (vlen == 0 || vlen > TEMPLATE_VAR_MAX || i != vlen) {
			log_msg(FBLOG_ERROR, "template %s.%s: \"{{%.*s}}\" is not a "
			    "variable ([A-Za-z0-9_]{1,%d})", name, part_ext[part],
			    close - open - 2 > 80 ? 80 : (int)(close - open - 2),
			    open + 2, TEMPLATE_VAR_MAX);
			goto fail;
		}
		memcpy(var, v, vlen);
		var[vlen] = '\0';
		if ((j = vars != NULL ? json_object_get(vars, var) : NULL) == NULL) {
			log_msg(FBLOG_ERROR, "template %s.%s: variable %s is missing",
			    name, part_ext[part], var);
			goto fail;
		}
		if (json_is_string(j)) {
			val = json_string_value(j);
			vlen = json_string_length(j);
			if (strlen(val) != vlen) {
				log_msg(FBLOG_ERROR, "template %s: variable %s holds "
				    "a NUL byte", name, var);
				goto fail;
			}
		} else if (json_is_integer(j) || json_is_real(j)) {
			/* XXX: reals print with 15 significant digits (9.99, not
			 * 9.9900000000000002); amounts are better passed as
			 * formatted strings. */
			if (json_is_integer(j))
				(void)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
				    json_integer_value(j));	/* fits */
			else
				(void)snprintf(num, sizeof(num), "%.15g",
				    json_real_value(j));	/* fits */
			val = num;
			vlen = strlen(num);
		} else {
			log_msg(FBLOG_ERROR, "template %s: variable %s is not a "
			    "string or a number", name, var);
			goto fail;
		}
		if (part == PART_SUBJECT && strpbrk(val, "\r\n") != NULL) {
			log_msg(FBLOG_ERROR, "template %s.subject: variable %s holds "
			    "a line end", name, var);
			goto fail;
		}
		if (part == PART_HTML)
			html_escape(&b, val, vlen);
		else
			buf_append(&b, val, vlen);
		if (b.len > TEMPLATE_OUT_MAX) {
			log_msg(FBLOG_ERROR, "template %s.%s: over %d bytes rendered",
			    name, part_ext[part], TEMPLATE_OUT_MAX);
			e = FB_ERR_TOOBIG;
			goto fail;
		}
		p = close + 2;
	}
	buf_puts(&b, p);
	if (b.len > TEMPLATE_OUT_MAX) {
		log_msg(FBLOG_ERROR, "template %s.%s: over %d bytes rendered",
		    name, part_ext[part], TEMPLATE_OUT_MAX);
		e = FB_ERR_TOOBIG;
		goto fail;
	}
	if (buf_failed(&b) || (*out = b.len > 0 ? buf_take(&b) : strdup("")) == NULL) {
		log_msg(FBLOG_ERROR, "template %s: out of memory", name);
		e = FB_ERR_NOMEM;
		goto fail;
	}
	buf_free(&b);	/* what an empty part allocated */
	return FB_OK;
fail:
	buf_free(&b);
	return e;
}

enum fb_err
template_render(const char *dir, const char *name, json_t *vars,
    struct rendered_mail *out)
{
	char		*src[PART_COUNT] = { NULL, NULL, NULL };
	char		**dst[PART_COUNT];
	size_t		 len;
	int		 i;
	enum fb_err	 e;

	memset(out, 0, sizeof(*out));
	if (dir == NULL) {
		log_msg(FBLOG_ERROR, "template: no template directory");
		return FB_ERR_INVALID;
	}
	if (!template_name_valid(name)) {
		log_msg(FBLOG_ERROR, "template: invalid name \"%.80s\" (want [a-z0-9_-]{1,%d})",
		    name != NULL ? name : "(null)", TEMPLATE_NAME_MAX);
		return FB_ERR_INVALID;
	}
	if (vars != NULL && !json_is_object(vars)) {
		log_msg(FBLOG_ERROR, "template %s: variables are not a JSON object", name);
		return FB_ERR_INVALID;
	}
	dst[PART_SUBJECT] = &out->subject;
	dst[PART_TEXT] = &out->text;
	dst[PART_HTML] = &out->html;
	/* From here on, strings to free: the out label takes over. */
	for (i = 0; i < PART_COUNT; i++)
		if ((e = read_part(dir, name, (enum part)i, i == PART_HTML,
		    &src[i])) != FB_OK)
			goto out;
	/* The subject is one line: the file's own line end is not part of it. */
	len = strlen(src[PART_SUBJECT]);
	while (len > 0 && (src[PART_SUBJECT][len - 1] == '\n' ||
	    src[PART_SUBJECT][len - 1] == '\r'))
		src[PART_SUBJECT][--len] = '\0';
	if (strpbrk(src[PART_SUBJECT], "\r\n") != NULL) {
		log_msg(FBLOG_ERROR, "template %s.subject: more than one line", name);
		e = FB_ERR_INVALID;
		goto out;
	}
	for (i = 0; i < PART_COUNT; i++)
		if (src[i] != NULL &&
		    (e = expand(name, (enum part)i, src[i], vars, dst[i])) != FB_OK)
			goto out;
out:
	for (i = 0; i < PART_COUNT; i++)
		free(src[i]);
	if (e != FB_OK)
		rendered_mail_free(out);
	return e;
}

void
rendered_mail_free(struct rendered_mail *r)
{
	if (r == NULL)
		return;
	free(r->subject);
	free(r->text);
	free(r->html);
	r->subject = r->text = r->html = NULL;
}
