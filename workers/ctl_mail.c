/*
 * fastbackctl mail test ADDRESS — renders the "test" template of
 * MAIL_TEMPLATES_DIR and sends it to ADDRESS ("a@b.example" or
 * "Name <a@b.example>") with SMTP_URL and MAIL_FROM, waiting for the
 * server's answer: an operator's check of the mail set-up.
 *
 * Prints "sent" (exit 0), or "mail: not sent (temporary|permanent): REASON"
 * on stderr (exit 1). Bad usage, a malformed ADDRESS or an unset SMTP_URL
 * or MAIL_FROM: exit 2.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "mail.h"
#include "template.h"

/* A reason of mail_send() fits a log line. */
#define REASON_MAX 512

static int
mail_usage(void)
{
	fprintf(stderr, "usage: fastbackctl mail test ADDRESS\n");
	return 2;
}

static int
mail_test(const struct config *cfg, const char *address)
{
	struct mail_address	 to, from;
	struct mail_message	 m;
	struct rendered_mail	 r = { NULL, NULL, NULL };
	json_t			*vars;
	char			 reason[REASON_MAX];
	enum mail_result	 res;
	int			 status = 1;

	if (mail_address_parse(address, &to) != FB_OK) {
		fprintf(stderr, "mail: \"%.300s\" is not an address "
		    "(local@domain or \"Name <local@domain>\")\n", address);
		return 2;
	}
	if (cfg->smtp_url == NULL) {
		fprintf(stderr, "mail: SMTP_URL is not set (smtp://[user:pass@]host:port, "
		    "smtp://...?tls=required or smtps://...)\n");
		return 2;
	}
	if (cfg->mail_from == NULL) {
		fprintf(stderr, "mail: MAIL_FROM is not set (noreply@example.com or "
		    "\"Name <noreply@example.com>\")\n");
		return 2;
	}
	if (mail_address_parse(cfg->mail_from, &from) != FB_OK) {
		fprintf(stderr, "mail: MAIL_FROM is not an address\n");
		return 2;
	}
	vars = json_pack("{s:s}", "app_name",
	    cfg->app_name != NULL ? cfg->app_name : "fastback");
	if (vars == NULL) {
		fprintf(stderr, "mail: out of memory\n");
		return 1;
	}
	/* From here on, vars and r to free: the out label takes over. */
	if (template_render(cfg->mail_templates_dir, "test", vars, &r) != FB_OK) {
		fprintf(stderr, "mail: cannot render the template \"test\" of %s "
		    "(MAIL_TEMPLATES_DIR); see the log line above\n",
		    cfg->mail_templates_dir);
		goto out;
	}
	m.from = cfg->mail_from;
	m.to = to.addr;
	m.to_name = to.name[0] != '\0' ? to.name : NULL;
	m.subject = r.subject;
	m.text = r.text;
	m.html = r.html;
	res = mail_send(cfg->smtp_url, &m, reason, sizeof(reason));
	if (res == MAIL_SENT) {
		printf("sent\n");
		status = 0;
	} else
		fprintf(stderr, "mail: not sent (%s): %s\n", mail_result_name(res),
		    reason);
out:
	rendered_mail_free(&r);
	json_decref(vars);
	return status;
}

int
ctl_mail(const struct config *cfg, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[0], "test") == 0)
		return mail_test(cfg, argv[1]);
	return mail_usage();
}
