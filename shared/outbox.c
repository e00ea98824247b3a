#include <stdlib.h>

#include "jobs.h"
#include "outbox.h"

enum fb_err
outbox_email(struct db *db, const char *to, const char *to_name, const char *template_name,
    json_t *vars)
{
	struct job_spec	 spec = { 0 };
	json_t		*payload;
	char		*text;
	bool		 created;
	enum fb_err	 e;

	payload = json_pack("{s:s,s:s?,s:s,s:O?}", "to", to, "to_name", to_name,
	    "template", template_name, "vars", vars);
	if (payload == NULL)
		return FB_ERR_NOMEM;
	text = json_dumps(payload, JSON_COMPACT);
	json_decref(payload);
	if (text == NULL)
		return FB_ERR_NOMEM;
	spec.kind = "email.send";
	spec.payload = text;
	spec.priority = 10;	/* people wait for these */
	e = jobs_enqueue(db, &spec, NULL, &created);
	free(text);
	return e;
}
