/*
 * template — the email templates: DIR/NAME.subject, DIR/NAME.txt and the
 * optional DIR/NAME.html, each UTF-8 text where {{var}} (or {{ var }}) is
 * replaced by the value of var in a JSON object. Values are inserted once,
 * never expanded again. In the HTML part they are HTML-escaped; in the
 * subject and the text they go in as they are, but a subject value holding
 * CR or LF is refused (it would end the header).
 *
 * Ownership: template_render() fills a struct rendered_mail whose strings
 * the caller frees with rendered_mail_free(), also after a failure.
 */
#ifndef FB_TEMPLATE_H
#define FB_TEMPLATE_H

#include <stdbool.h>

#include <jansson.h>

#include "err.h"

/* NAME is 1 to TEMPLATE_NAME_MAX of [a-z0-9_-]: it names files in DIR and
 * can never leave it. */
#define TEMPLATE_NAME_MAX	64
/* A variable name is 1 to TEMPLATE_VAR_MAX of [A-Za-z0-9_]. */
#define TEMPLATE_VAR_MAX	64
/* Largest template file read, in bytes. */
#define TEMPLATE_FILE_MAX	(256 * 1024)
/* Largest rendered part, in bytes (mail.h's MAIL_PART_MAX is above it). */
#define TEMPLATE_OUT_MAX	(1024 * 1024)

struct rendered_mail {
	char	*subject;	/* one line, no line end */
	char	*text;		/* the plain-text part */
	char	*html;		/* the HTML part (or NULL: no NAME.html) */
};

/* True when name is a valid template name (see TEMPLATE_NAME_MAX). */
bool	template_name_valid(const char *name);

/*
 * Renders template name of directory dir with vars (a JSON object whose
 * values are strings or numbers; NULL is an empty object) into out, which
 * is overwritten. The subject file's trailing line end is dropped.
 * Returns
 *	FB_OK
 *	FB_ERR_INVALID	a bad name, a {{ without }}, a bad variable name, a
 *			variable missing from vars or of another JSON type,
 *			a line end in the subject (template or value)
 *	FB_ERR_NOTFOUND	NAME.subject or NAME.txt does not exist
 *	FB_ERR_TOOBIG	a file over TEMPLATE_FILE_MAX, a part over
 *			TEMPLATE_OUT_MAX
 *	FB_ERR_IO, FB_ERR_NOMEM
 * The cause is logged (the template, the part, the variable's name; never
 * a value). On failure out holds nothing (rendered_mail_free is harmless).
 */
enum fb_err	template_render(const char *dir, const char *name, json_t *vars,
		    struct rendered_mail *out);

/* Frees r's strings and sets them to NULL; r may be NULL or zeroed. */
void		rendered_mail_free(struct rendered_mail *r);

#endif
