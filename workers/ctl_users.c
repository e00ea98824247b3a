/*
 * fastbackctl user create-admin EMAIL   (the password: one line on stdin)
 * fastbackctl users import FILE.jsonl
 *
 * Import lines: {"email", "name"?, "password_hash"?, "role"?, "email_verified"?}.
 * A bcrypt hash ($2a$/$2b$/$2y$, e.g. from an Express app) is kept as it is
 * and replaced with argon2id at the user's next successful login; an argon2id
 * PHC string is kept too; anything else is refused. Existing emails are
 * skipped. Each line is its own transaction, with an audit entry.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "ctl.h"
#include "db.h"
#include "password.h"
#include "users.h"
#include "validate.h"

#define IMPORT_LINE_MAX 8192

static int
create_admin(const struct config *cfg, struct db *db, const char *email)
{
	struct password_params	 pp;
	struct audit_entry	 ae;
	struct user		 u;
	char			 line[1100], reason[PASSWORD_REASON_MAX], *hash = NULL;
	size_t			 len;
	enum fb_err		 e;

	if (!valid_email(email)) {
		fprintf(stderr, "user create-admin: %s is not an email address\n", email);
		return 2;
	}
	if (fgets(line, sizeof(line), stdin) == NULL) {
		fprintf(stderr, "user create-admin: give the password as one line on stdin\n");
		return 2;
	}
	len = strcspn(line, "\r\n");
	line[len] = '\0';
	if (!password_strong_enough(line, email, "", reason, sizeof(reason))) {
		OPENSSL_cleanse(line, sizeof(line));
		fprintf(stderr, "user create-admin: the password %s\n", reason);
		return 1;
	}
	password_params_from_config(cfg, &pp);
	e = password_hash(&pp, line, &hash);
	OPENSSL_cleanse(line, sizeof(line));
	if (e != FB_OK) {
		fprintf(stderr, "user create-admin: cannot hash the password\n");
		return 1;
	}
	if ((e = db_begin(db)) == FB_OK &&
	    (e = users_create(db, email, "", hash, "admin", true, &u)) == FB_OK) {
		memset(&ae, 0, sizeof(ae));
		ae.action = "admin.create";
		ae.target_type = "user";
		ae.target_id = u.id;
		ae.details = json_pack("{s:s}", "via", "fastbackctl");
		e = audit_append(db, &ae);
		json_decref(ae.details);
		if (e == FB_OK)
			e = db_commit(db);
	}
	free(hash);
	if (e != FB_OK) {
		db_rollback(db);
		fprintf(stderr, "user create-admin: %s\n", e == FB_ERR_CONFLICT ?
		    "an account with that email exists" : fb_strerror(e));
		return 1;
	}
	printf("created administrator %s (%s)\n", email, u.id);
	return 0;
}

/* A stored argon2id string we can verify: password_verify() parses it fully
 * (and refuses costs out of bounds) before any hashing. */
static bool
argon2id_well_formed(const struct password_params *pp, const char *hash)
{
	enum password_verdict	v;

	return strncmp(hash, "$argon2id$", 10) == 0 &&
	    password_verify(pp, hash, "probe", &v, NULL) == FB_OK;
}

/* One import line; returns 0 imported, 1 skipped (exists), -1 refused. */
static int
import_one(struct db *db, const struct password_params *pp, json_t *o, long lineno)
{
	const char		*email, *name, *hash, *role;
	struct audit_entry	 ae;
	struct user		 u;
	enum fb_err		 e;
	bool			 verified;

	email = json_string_value(json_object_get(o, "email"));
	name = json_string_value(json_object_get(o, "name"));
	hash = json_string_value(json_object_get(o, "password_hash"));
	role = json_string_value(json_object_get(o, "role"));
	verified = json_is_true(json_object_get(o, "email_verified"));
	if (email == NULL || !valid_email(email)) {
		fprintf(stderr, "line %ld: \"email\" is missing or not an email address\n", lineno);
		return -1;
	}
	if (hash != NULL && !password_is_bcrypt(hash) && !argon2id_well_formed(pp, hash)) {
		fprintf(stderr, "line %ld: \"password_hash\" is neither bcrypt ($2a$/$2b$/$2y$) "
		    "nor an argon2id PHC string\n", lineno);
		return -1;
	}
	if (role != NULL && strcmp(role, "user") != 0 && strcmp(role, "admin") != 0) {
		fprintf(stderr, "line %ld: \"role\" must be user or admin\n", lineno);
		return -1;
	}
	if (name != NULL && (utf8_length(name, strlen(name)) > USER_NAME_MAX ||
	    has_control_chars(name, strlen(name)))) {
		fprintf(stderr, "line %ld: \"name\" is too long or has control characters\n",
		    lineno);
		return -1;
	}
	if ((e = db_begin(db)) != FB_OK)
		return -1;
	e = users_create(db, email, name != NULL ? name : "", hash, role, verified, &u);
	if (e == FB_ERR_CONFLICT) {
		db_rollback(db);
		return 1;
	}
	if (e == FB_OK) {
		memset(&ae, 0, sizeof(ae));
		ae.action = "user.import";
		ae.target_type = "user";
		ae.target_id = u.id;
		e = audit_append(db, &ae);
	}
	if (e != FB_OK || db_commit(db) != FB_OK) {
		db_rollback(db);
		fprintf(stderr, "line %ld: not imported (%s)\n", lineno, fb_strerror(e));
		return -1;
	}
	return 0;
}

static int
import(struct db *db, const struct password_params *pp, const char *path)
{
	FILE		*f;
	char		 line[IMPORT_LINE_MAX];
	json_error_t	 err;
	json_t		*o;
	long		 lineno = 0, done = 0, skipped = 0, refused = 0;
	int		 r;

	if ((f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r")) == NULL) {
		fprintf(stderr, "users import: %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fprintf(stderr, "line %ld: longer than %d bytes\n", lineno, IMPORT_LINE_MAX);
			refused++;
			while (fgets(line, sizeof(line), f) != NULL && strchr(line, '\n') == NULL)
				;
			continue;
		}
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if ((o = json_loads(line, JSON_REJECT_DUPLICATES, &err)) == NULL ||
		    !json_is_object(o)) {
			fprintf(stderr, "line %ld: not a JSON object\n", lineno);
			json_decref(o);
			refused++;
			continue;
		}
		r = import_one(db, pp, o, lineno);
		json_decref(o);
		if (r == 0)
			done++;
		else if (r > 0)
			skipped++;
		else
			refused++;
	}
	if (f != stdin)
		fclose(f);
	printf("imported %ld, skipped %ld (email exists), refused %ld\n", done, skipped, refused);
	return refused > 0 ? 1 : 0;
}

int
ctl_users(const struct config *cfg, int argc, char **argv)
{
	struct password_params pp;
	struct db	db;
	int		status;

	if (!((argc == 3 && strcmp(argv[0], "user") == 0 && strcmp(argv[1], "create-admin") == 0) ||
	    (argc == 3 && strcmp(argv[0], "users") == 0 && strcmp(argv[1], "import") == 0))) {
		fprintf(stderr, "usage: fastbackctl user create-admin EMAIL < password\n"
		    "       fastbackctl users import FILE.jsonl\n");
		return 2;
	}
	if (db_open(&db, cfg->database_url, 0, "fastbackctl") != FB_OK) {
		fprintf(stderr, "%s: cannot connect to the database\n", argv[0]);
		db_close(&db);
		return 1;
	}
	password_params_from_config(cfg, &pp);
	status = strcmp(argv[1], "create-admin") == 0 ? create_admin(cfg, &db, argv[2]) :
	    import(&db, &pp, argv[2]);
	db_close(&db);
	return status;
}

int
ctl_audit(const struct config *cfg, int argc, char **argv)
{
	struct audit_report	r;
	struct db		db;
	const char		*head = NULL;
	enum fb_err		e;

	if (argc == 3 && strcmp(argv[0], "verify") == 0 && strcmp(argv[1], "--head") == 0)
		head = argv[2];
	else if (argc != 1 || strcmp(argv[0], "verify") != 0) {
		fprintf(stderr, "usage: fastbackctl audit verify [--head SEQ:HASH]\n");
		return 2;
	}
	if (db_open(&db, cfg->database_url, 0, "fastbackctl") != FB_OK) {
		fprintf(stderr, "audit: cannot connect to the database\n");
		db_close(&db);
		return 1;
	}
	e = audit_verify(&db, head, &r);
	db_close(&db);
	if (e == FB_ERR_INVALID) {
		fprintf(stderr, "audit verify: --head must be SEQ:HASH (64 hex digits)\n");
		return 2;
	}
	if (e != FB_OK) {
		fprintf(stderr, "audit verify: cannot read the audit log (%s)\n", fb_strerror(e));
		return 1;
	}
	if (r.broken_seq != 0) {
		printf("audit log BROKEN at entry %ld: %s (%ld entries checked)\n", r.broken_seq,
		    r.why, r.checked);
		return 1;
	}
	printf("audit log intact: %ld entries; head %ld:%s\n", r.checked, r.head_seq,
	    r.head_hash);
	return 0;
}
