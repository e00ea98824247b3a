/*
 * handlers — the product's job kinds. Each is safe to run twice: a job whose
 * worker vanished after doing the work but before recording it runs again.
 */
#include <stdio.h>
#include <string.h>

#include "mail.h"
#include "template.h"
#include "worker.h"

/* Does nothing: queue health checks and benchmarks. */
static enum job_result
noop(struct job_ctx *ctx)
{
	(void)ctx;
	return JOB_DONE;
}

/*
 * email.send: {"to", "to_name"?, "template", "vars"?} — renders
 * conf/templates/TEMPLATE.* with vars and sends it through SMTP_URL. A
 * rejection (5xx) is final; a temporary failure (4xx, no connection, a
 * timeout) is retried with backoff.
 */
static enum job_result
email_send(struct job_ctx *ctx)
{
	const struct config	*cfg = ctx->cfg;
	struct rendered_mail	 r;
	struct mail_message	 m;
	const char		*to, *to_name, *tmpl;
	json_t			*vars;
	enum mail_result	 res;
	enum job_result		 out;

	to = json_string_value(json_object_get(ctx->payload, "to"));
	to_name = json_string_value(json_object_get(ctx->payload, "to_name"));
	tmpl = json_string_value(json_object_get(ctx->payload, "template"));
	if (to == NULL || tmpl == NULL) {
		snprintf(ctx->error, ctx->errlen, "the payload needs \"to\" and \"template\"");
		return JOB_DEAD;
	}
	if (cfg->smtp_url == NULL || cfg->mail_from == NULL) {
		snprintf(ctx->error, ctx->errlen, "SMTP_URL and MAIL_FROM must be set");
		return JOB_RETRY;
	}
	vars = json_object_get(ctx->payload, "vars");
	vars = json_is_object(vars) ? json_deep_copy(vars) : json_object();
	if (vars == NULL) {
		snprintf(ctx->error, ctx->errlen, "out of memory");
		return JOB_RETRY;
	}
	if (json_object_get(vars, "app_name") == NULL)
		json_object_set_new(vars, "app_name", json_string(cfg->app_name));
	if (template_render(cfg->mail_templates_dir, tmpl, vars, &r) != FB_OK) {
		json_decref(vars);
		snprintf(ctx->error, ctx->errlen, "template %.64s cannot be rendered "
		    "with these variables", tmpl);
		return JOB_DEAD;
	}
	json_decref(vars);
	memset(&m, 0, sizeof(m));
	m.from = cfg->mail_from;
	m.to = to;
	m.to_name = to_name;
	m.subject = r.subject;
	m.text = r.text;
	m.html = r.html;
	res = mail_send(cfg->smtp_url, &m, ctx->error, ctx->errlen);
	out = res == MAIL_SENT ? JOB_DONE : res == MAIL_PERMANENT ? JOB_DEAD : JOB_RETRY;
	rendered_mail_free(&r);
	return out;
}

const struct job_handler_entry worker_handlers[] = {
	{ "email.send",	email_send,	0 },
	{ "noop",	noop,		0 },
	{ NULL,		NULL,		0 },
};
