/*
 * test_template — email templates in a temporary directory: substitution,
 * HTML escaping in the .html part only, the optional .html, every way a
 * render must fail (missing variable, unterminated {{, bad variable names
 * and types, bad template names, a line end in the subject), and the
 * shipped templates of conf/templates rendered with their variables.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "template.h"
#include "tap.h"

static char	dir[] = "/tmp/test_template.XXXXXX";

static void
put(const char *name, const char *ext, const char *content)
{
	char	 path[512];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	if ((f = fopen(path, "w")) == NULL)
		bail_out("fopen %s: %s", path, strerror(errno));
	fputs(content, f);
	if (fclose(f) != 0)
		bail_out("fclose %s", path);
}

static void
put3(const char *name, const char *subject, const char *txt, const char *html)
{
	put(name, "subject", subject);
	put(name, "txt", txt);
	if (html != NULL)
		put(name, "html", html);
}

static void
cleanup_dir(void)
{
	char	 cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
}

/* Renders name with vars (a JSON text); the status. */
static enum fb_err
render(const char *name, const char *vars_json, struct rendered_mail *r)
{
	json_t		*vars = NULL;
	json_error_t	 jerr;
	enum fb_err	 e;

	if (vars_json != NULL &&
	    (vars = json_loads(vars_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr)) == NULL)
		bail_out("bad JSON in the test: %s", jerr.text);
	e = template_render(dir, name, vars, r);
	json_decref(vars);
	return e;
}

static void
test_substitution(void)
{
	struct rendered_mail	r;

	put3("welcome", "Hello {{name}}, from {{app_name}}\n",
	    "Hi {{ name }},\n{{count}} items at {{price}} ({{neg}}).\n}} {alone} {{app_name}}\n",
	    "<p>Hi {{name}}</p><p>{{count}}</p>\n");
	if (!is_int(render("welcome", "{\"name\": \"A & B <c> \\\"d\\\" 'e'\", "
	    "\"app_name\": \"Acme\", \"count\": 3, \"price\": 9.99, \"neg\": -42}", &r),
	    FB_OK, "renders"))
		return;
	is_str(r.subject, "Hello A & B <c> \"d\" 'e', from Acme",
	    "subject: values as they are, the file's line end dropped");
	is_str(r.text, "Hi A & B <c> \"d\" 'e',\n3 items at 9.99 (-42).\n}} {alone} Acme\n",
	    "text: values as they are, {{ name }} with spaces, numbers");
	is_str(r.html, "<p>Hi A &amp; B &lt;c&gt; &quot;d&quot; &#39;e&#39;</p><p>3</p>\n",
	    "html: values escaped (& < > \" ')");
	rendered_mail_free(&r);
	ok(r.subject == NULL && r.text == NULL && r.html == NULL, "free clears");
	rendered_mail_free(&r);
	rendered_mail_free(NULL);
	ok(1, "free twice and free(NULL) are harmless");

	/* A value is inserted once, never expanded again. */
	put3("once", "s {{a}}", "t {{a}}", "h {{a}}");
	if (is_int(render("once", "{\"a\": \"{{b}}\", \"b\": \"no\"}", &r), FB_OK,
	    "value holding {{b}}")) {
		is_str(r.text, "t {{b}}", "not expanded again in text");
		is_str(r.subject, "s {{b}}", "nor in the subject");
		is_str(r.html, "h {{b}}", "nor in html");
	}
	rendered_mail_free(&r);

	/* No .html: html NULL. No variables at all: vars may be NULL. */
	put3("plain", "Static subject\r\n", "Static text, UTF-8: Grüße 🎉\n", NULL);
	if (is_int(render("plain", NULL, &r), FB_OK, "no .html, no vars")) {
		ok(r.html == NULL, "html is NULL without NAME.html");
		is_str(r.subject, "Static subject", "CRLF at the end of the subject dropped");
		is_str(r.text, "Static text, UTF-8: Grüße 🎉\n", "text as it is");
	}
	rendered_mail_free(&r);

	/* Empty files are empty parts. */
	put3("empty", "", "", "");
	if (is_int(render("empty", "{}", &r), FB_OK, "empty files")) {
		is_str(r.subject, "", "empty subject");
		is_str(r.text, "", "empty text");
		is_str(r.html, "", "empty html");
	}
	rendered_mail_free(&r);

	/* Line ends inside text values are fine. */
	put3("lines", "s", "{{body}}", "<p style=\"white-space:pre-line\">{{body}}</p>");
	if (is_int(render("lines", "{\"body\": \"one\\ntwo\\r\\nthree\"}", &r), FB_OK,
	    "text value with line ends")) {
		is_str(r.text, "one\ntwo\r\nthree", "kept in text");
		is_str(r.html, "<p style=\"white-space:pre-line\">one\ntwo\r\nthree</p>",
		    "kept in html");
	}
	rendered_mail_free(&r);
}

static void
expect_fail(const char *name, const char *vars, enum fb_err want, const char *what)
{
	struct rendered_mail	r;

	r.subject = r.text = r.html = (char *)"garbage";
	is_int(render(name, vars, &r), want, "%s", what);
	ok(r.subject == NULL && r.text == NULL && r.html == NULL,
	    "%s: out holds nothing", what);
	rendered_mail_free(&r);
}

static void
test_failures(void)
{
	char	 longname[TEMPLATE_NAME_MAX + 2];

	put3("vars", "Hi {{name}}", "Text {{name}} {{link}}", "<a href=\"{{link}}\">{{name}}</a>");
	expect_fail("vars", "{\"name\": \"x\"}", FB_ERR_INVALID, "missing variable (link)");
	expect_fail("vars", "{}", FB_ERR_INVALID, "every variable missing");
	expect_fail("vars", NULL, FB_ERR_INVALID, "vars NULL but variables used");
	expect_fail("vars", "[\"name\", \"link\"]", FB_ERR_INVALID, "vars not an object");
	expect_fail("vars", "{\"name\": true, \"link\": \"l\"}", FB_ERR_INVALID,
	    "boolean value");
	expect_fail("vars", "{\"name\": null, \"link\": \"l\"}", FB_ERR_INVALID, "null value");
	expect_fail("vars", "{\"name\": {}, \"link\": \"l\"}", FB_ERR_INVALID, "object value");
	expect_fail("vars", "{\"name\": \"a\\u0000b\", \"link\": \"l\"}", FB_ERR_INVALID,
	    "value with a NUL");

	put3("unterminated", "s", "Hello {{name", NULL);
	expect_fail("unterminated", "{\"name\": \"x\"}", FB_ERR_INVALID, "{{ without }}");
	put3("unterminated2", "s {{", "t", NULL);
	expect_fail("unterminated2", "{}", FB_ERR_INVALID, "{{ at the end of the subject");
	put3("unterminated3", "s", "t", "<p>{{name}</p>");
	expect_fail("unterminated3", "{\"name\": \"x\"}", FB_ERR_INVALID,
	    "{{name} in html");
	put3("badvar", "s", "{{na me}}", NULL);
	expect_fail("badvar", "{\"na me\": \"x\"}", FB_ERR_INVALID, "space inside a name");
	put3("emptyvar", "s", "{{}}", NULL);
	expect_fail("emptyvar", "{\"\": \"x\"}", FB_ERR_INVALID, "{{}}");
	put3("dotvar", "s", "{{a.b}}", NULL);
	expect_fail("dotvar", "{\"a.b\": \"x\"}", FB_ERR_INVALID, "{{a.b}}");

	put3("subj", "Hi {{name}}", "t", NULL);
	expect_fail("subj", "{\"name\": \"x\\r\\nBcc: y@z.example\"}", FB_ERR_INVALID,
	    "subject value with CRLF");
	expect_fail("subj", "{\"name\": \"x\\nBcc: y@z.example\"}", FB_ERR_INVALID,
	    "subject value with LF");
	expect_fail("subj", "{\"name\": \"x\\ry\"}", FB_ERR_INVALID,
	    "subject value with CR");
	put3("twolines", "line one\nline two\n", "t", NULL);
	expect_fail("twolines", "{}", FB_ERR_INVALID, "subject file of two lines");

	expect_fail("../x", "{}", FB_ERR_INVALID, "name ../x");
	expect_fail("..", "{}", FB_ERR_INVALID, "name ..");
	expect_fail("a/b", "{}", FB_ERR_INVALID, "name a/b");
	expect_fail("/etc/passwd", "{}", FB_ERR_INVALID, "absolute name");
	expect_fail("vars.txt", "{}", FB_ERR_INVALID, "name with a dot");
	expect_fail("Vars", "{}", FB_ERR_INVALID, "upper case");
	expect_fail("", "{}", FB_ERR_INVALID, "empty name");
	memset(longname, 'a', TEMPLATE_NAME_MAX + 1);
	longname[TEMPLATE_NAME_MAX + 1] = '\0';
	expect_fail(longname, "{}", FB_ERR_INVALID, "name of 65");
	longname[TEMPLATE_NAME_MAX] = '\0';
	ok(template_name_valid(longname), "a name of 64 is valid");
	expect_fail(longname, "{}", FB_ERR_NOTFOUND, "name of 64, no such template");
	ok(!template_name_valid(NULL), "NULL name is invalid");
	ok(template_name_valid("team_invitation-2"), "[a-z0-9_-] is valid");

	expect_fail("nosuch", "{}", FB_ERR_NOTFOUND, "no such template");
	put("notxt", "subject", "s");
	expect_fail("notxt", "{}", FB_ERR_NOTFOUND, "NAME.txt missing");
	put("nosubject", "txt", "t");
	expect_fail("nosubject", "{}", FB_ERR_NOTFOUND, "NAME.subject missing");

	{
		char	 path[512];
		FILE	*f;
		size_t	 i;

		put3("big", "s", "t", NULL);
		snprintf(path, sizeof(path), "%s/big.txt", dir);
		if ((f = fopen(path, "w")) == NULL)
			bail_out("fopen %s", path);
		for (i = 0; i <= TEMPLATE_FILE_MAX / 16; i++)
			fputs("0123456789abcdef", f);
		fclose(f);
		expect_fail("big", "{}", FB_ERR_TOOBIG, "file over TEMPLATE_FILE_MAX");
		snprintf(path, sizeof(path), "%s/dirhtml.html", dir);
		put3("dirhtml", "s", "t", NULL);
		if (mkdir(path, 0700) != 0)
			bail_out("mkdir %s", path);
		expect_fail("dirhtml", "{}", FB_ERR_IO, "NAME.html is a directory");
	}
	{
		struct rendered_mail r;

		is_int(template_render(NULL, "vars", NULL, &r), FB_ERR_INVALID, "NULL dir");
	}
}

/* The shipped templates, with the variables they document. */
static void
test_shipped(void)
{
	static const struct {
		const char	*name;
		const char	*vars;
	} shipped[] = {
		{ "test", "{}" },
		{ "verify_email", "{\"name\": \"N\", \"link\": \"https://x.test/v?t=1&u=2\"}" },
		{ "account_exists", "{\"name\": \"N\", \"link\": \"https://x.test/login\"}" },
		{ "password_reset", "{\"name\": \"N\", \"link\": \"https://x.test/r\"}" },
		{ "password_changed", "{\"name\": \"N\"}" },
		{ "invitation", "{\"inviter\": \"I\", \"link\": \"https://x.test/i\", \"role\": \"admin\"}" },
		{ "team_invitation", "{\"inviter\": \"I\", \"team\": \"T\", \"link\": \"https://x.test/i\", \"role\": \"member\"}" },
		{ "mfa_enabled", "{\"name\": \"N\"}" },
		{ "mfa_disabled", "{\"name\": \"N\"}" },
		{ "notification", "{\"name\": \"N\", \"title\": \"Title\", \"body\": \"Body\\nmore\"}" },
		{ "receipt", "{\"name\": \"N\", \"amount\": \"$12.50\", \"description\": \"Pro plan\"}" },
	};
	struct rendered_mail	 r;
	json_t			*vars;
	size_t			 i;

	if (access("conf/templates/test.subject", R_OK) != 0) {
		skip((int)(sizeof(shipped) / sizeof(shipped[0])) * 5,
		    "conf/templates not found (run from the repository root)");
		return;
	}
	for (i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++) {
		vars = json_loads(shipped[i].vars, 0, NULL);
		if (vars == NULL)
			bail_out("bad JSON in the test");
		json_object_set_new(vars, "app_name", json_string("Acme"));
		/* It renders with the variables it documents (and app_name):
		 * it uses no other. */
		if (!is_int(template_render("conf/templates", shipped[i].name, vars, &r),
		    FB_OK, "shipped %s renders", shipped[i].name)) {
			skip(4, "did not render");
		} else {
			ok(r.html != NULL, "%s has an html part", shipped[i].name);
			lacks_str(r.text, "{{", "%s: nothing left unexpanded in text",
			    shipped[i].name);
			lacks_str(r.html, "{{", "%s: nothing left unexpanded in html",
			    shipped[i].name);
			ok(strchr(r.subject, '\n') == NULL && r.subject[0] != '\0',
			    "%s: a one-line subject", shipped[i].name);
		}
		rendered_mail_free(&r);
		json_decref(vars);
	}
}

int
main(void)
{
	log_setup("test_template", FBLOG_ERROR);
	if (mkdtemp(dir) == NULL)
		bail_out("mkdtemp: %s", strerror(errno));
	test_substitution();
	test_failures();
	test_shipped();
	cleanup_dir();
	return done_testing();
}
