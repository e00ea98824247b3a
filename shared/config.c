#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config.h"
#include "kv.h"

enum var_kind {
	V_STR,		/* any non-empty string */
	V_INT,		/* decimal integer within [min, max] */
	V_MODE,		/* octal file mode */
	V_URL,		/* http:// or https:// URL */
};

#define F_REQUIRED	0x1
#define F_SECRET	0x2	/* never echoed */

struct var {
	const char	*name;
	enum var_kind	 kind;
	size_t		 offset;
	const char	*def;	/* default (or NULL: unset) */
	long		 min, max;
	unsigned	 flags;
	const char	*help;
};

#define S(f)	offsetof(struct config, f)
#define MiB	(1024L * 1024L)

static const struct var vars[] = {
	{ "DATABASE_URL", V_STR, S(database_url), NULL, 0, 0, F_REQUIRED | F_SECRET,
	  "PostgreSQL connection URI or key=value string" },
	{ "DB_STATEMENT_TIMEOUT_MS", V_INT, S(db_statement_timeout_ms), "5000", 100, 600000, 0,
	  "statement_timeout of the responders' database sessions" },
	{ "FCGI_LISTEN", V_STR, S(fcgi_listen), NULL, 0, 0, 0,
	  "host:port, [v6]:port or a unix socket path; unset = FastCGI socket on fd 0" },
	{ "FCGI_SOCKET_MODE", V_MODE, S(fcgi_socket_mode), "0660", 0, 0777, 0,
	  "permissions of a unix socket (octal)" },
	{ "FCGI_CHILDREN", V_INT, S(fcgi_children), "8", 1, CONFIG_FCGI_CHILDREN_MAX, 0,
	  "responder processes in the pool" },
	{ "FCGI_BACKLOG", V_INT, S(fcgi_backlog), "1024", 1, 65535, 0,
	  "listen(2) backlog of the FastCGI socket" },
	{ "PUBLIC_URL", V_URL, S(public_url), "http://127.0.0.1:8080", 0, 0, 0,
	  "the URL clients use; its path is the mount prefix" },
	{ "APP_NAME", V_STR, S(app_name), "fastback", 0, 0, 0,
	  "the application's name, as users see it in emails" },
	{ "APP_URL", V_URL, S(app_url), NULL, 0, 0, 0,
	  "the front end's URL, for links in emails (default: PUBLIC_URL)" },
	{ "JWT_SECRET", V_STR, S(jwt_secret), NULL, 0, 0, F_SECRET,
	  "HS256 key, at least 32 bytes (or set JWT_PRIVATE_KEY_FILE)" },
	{ "JWT_PRIVATE_KEY_FILE", V_STR, S(jwt_private_key_file), NULL, 0, 0, 0,
	  "Ed25519 private key (PEM) for EdDSA tokens" },
	{ "JWT_ISSUER", V_STR, S(jwt_issuer), NULL, 0, 0, 0,
	  "iss claim; defaults to PUBLIC_URL" },
	{ "JWT_AUDIENCE", V_STR, S(jwt_audience), "fastback", 0, 0, 0,
	  "aud claim" },
	{ "JWT_KID", V_STR, S(jwt_kid), NULL, 0, 0, 0,
	  "kid of the signing key (default: derived from the key)" },
	{ "JWT_PREVIOUS_SECRET", V_STR, S(jwt_previous_secret), NULL, 0, 0, F_SECRET,
	  "the HS256 key before the last rotation: verifies, never signs" },
	{ "JWT_PREVIOUS_KEY_FILE", V_STR, S(jwt_previous_key_file), NULL, 0, 0, 0,
	  "the Ed25519 key before the last rotation: verifies, never signs" },
	{ "ACCESS_TOKEN_TTL", V_INT, S(access_token_ttl), "900", 60, 86400, 0,
	  "lifetime of access tokens (seconds)" },
	{ "REFRESH_TOKEN_TTL", V_INT, S(refresh_token_ttl), "1209600", 300, 31536000, 0,
	  "lifetime of refresh tokens (seconds; rotated on every use)" },
	{ "SESSION_MAX_AGE", V_INT, S(session_max_age), "7776000", 300, 315360000, 0,
	  "a session ends this long after sign-in, however it is refreshed (seconds)" },
	{ "PASSWORD_ARGON2_MEMORY_KIB", V_INT, S(argon2_memory_kib), "19456", 1024, 4194304, 0,
	  "argon2id memory cost (KiB)" },
	{ "PASSWORD_ARGON2_ITERATIONS", V_INT, S(argon2_iterations), "2", 1, 100, 0,
	  "argon2id time cost" },
	{ "PASSWORD_ARGON2_PARALLELISM", V_INT, S(argon2_parallelism), "1", 1, 64, 0,
	  "argon2id lanes" },
	{ "ENCRYPTION_KEYS", V_STR, S(encryption_keys), NULL, 0, 0, F_SECRET,
	  "id:base64key,... (32-byte keys); the first encrypts, all decrypt" },
	{ "CORS_ORIGINS", V_STR, S(cors_origins), NULL, 0, 0, 0,
	  "comma-separated origins allowed by CORS, or *" },
	{ "TRUSTED_PROXIES", V_STR, S(trusted_proxies), NULL, 0, 0, 0,
	  "comma-separated addresses/CIDRs whose X-Forwarded-For is believed" },
	{ "MAX_BODY_BYTES", V_INT, S(max_body_bytes), "1048576", 1024, 64 * MiB, 0,
	  "largest request body accepted (413 above)" },
	{ "LOG_LEVEL", V_STR, S(log_level_name), "info", 0, 0, 0,
	  "debug, info, warn or error" },
	{ "REGISTRATION", V_STR, S(registration), "open", 0, 0, 0,
	  "open or invite" },
	{ "RATE_LIMIT_GENERAL_IP", V_INT, S(rl_general_ip), "300", 0, 1000000, 0,
	  "requests per minute per IP (0 disables)" },
	{ "RATE_LIMIT_GENERAL_USER", V_INT, S(rl_general_user), "600", 0, 1000000, 0,
	  "requests per minute per user (0 disables)" },
	{ "RATE_LIMIT_AUTH_IP", V_INT, S(rl_auth_ip), "20", 0, 1000000, 0,
	  "auth requests per minute per IP (0 disables)" },
	{ "RATE_LIMIT_LOGIN_FAILURES", V_INT, S(rl_login_failures), "5", 0, 1000000, 0,
	  "failed logins per (IP, email) per 15 minutes (0 disables)" },
	{ "RATE_LIMIT_PAYMENT_USER", V_INT, S(rl_payment_user), "10", 0, 1000000, 0,
	  "payment intents per minute per user (0 disables)" },
	{ "RATE_LIMIT_EXPORT_USER", V_INT, S(rl_export_user), "3", 0, 1000000, 0,
	  "data exports per hour per user (0 disables)" },
	{ "RATE_LIMIT_ACCOUNT_FAILURES", V_INT, S(rl_account_failures), "100", 0, 1000000, 0,
	  "failed logins per account per hour, from any address, before each further "
	  "attempt must wait longer (0 disables)" },
	{ "WORKER_PROCESSES", V_INT, S(worker_processes), "2", 1, 256, 0,
	  "job-running processes of fastback-worker" },
	{ "WORKER_BATCH", V_INT, S(worker_batch), "10", 1, 100, 0,
	  "jobs a worker process claims at once" },
	{ "WORKER_LEASE_SECONDS", V_INT, S(worker_lease_seconds), "30", 2, 3600, 0,
	  "lease of a claimed job; a dead worker's jobs are rescued after it" },
	{ "WORKER_GRACE_SECONDS", V_INT, S(worker_grace_seconds), "60", 1, 3600, 0,
	  "on SIGTERM, running jobs may finish within this; the rest are released" },
	{ "WORKER_POLL_SECONDS", V_INT, S(worker_poll_seconds), "5", 1, 3600, 0,
	  "look for due jobs this often even when no notification arrives" },
	{ "WORKER_BACKOFF_MS", V_INT, S(worker_backoff_ms), "1000", 10, 3600000, 0,
	  "delay before the first retry of a failed job; doubles each attempt" },
	{ "REDIS_URL", V_STR, S(redis_url), NULL, 0, 0, F_SECRET,
	  "redis://[:password@]host[:port][/db]; rate limits use PostgreSQL when unset" },
	{ "SMTP_URL", V_STR, S(smtp_url), NULL, 0, 0, F_SECRET,
	  "smtp://[user:pass@]host:port (STARTTLS) or smtps://..." },
	{ "MAIL_FROM", V_STR, S(mail_from), NULL, 0, 0, 0,
	  "From: address of outgoing mail" },
	{ "MAIL_TEMPLATES_DIR", V_STR, S(mail_templates_dir), "conf/templates", 0, 0, 0,
	  "directory of the email templates (NAME.subject, NAME.txt, NAME.html)" },
	{ "S3_ENDPOINT", V_URL, S(s3_endpoint), NULL, 0, 0, 0,
	  "S3-compatible endpoint URL" },
	{ "S3_REGION", V_STR, S(s3_region), "us-east-1", 0, 0, 0, "S3 region" },
	{ "S3_BUCKET", V_STR, S(s3_bucket), NULL, 0, 0, 0, "S3 bucket" },
	{ "S3_ACCESS_KEY_ID", V_STR, S(s3_access_key_id), NULL, 0, 0, 0, "S3 access key id" },
	{ "S3_SECRET_ACCESS_KEY", V_STR, S(s3_secret_access_key), NULL, 0, 0, F_SECRET,
	  "S3 secret key" },
	{ "MAX_UPLOAD_BYTES", V_INT, S(max_upload_bytes), "26214400", 1, 5L * 1024 * MiB, 0,
	  "largest upload that may be signed" },
	{ "STRIPE_SECRET_KEY", V_STR, S(stripe_secret_key), NULL, 0, 0, F_SECRET, "Stripe API key" },
	{ "STRIPE_WEBHOOK_SECRET", V_STR, S(stripe_webhook_secret), NULL, 0, 0, F_SECRET,
	  "Stripe webhook signing secret" },
	{ "STRIPE_API_BASE", V_URL, S(stripe_api_base), "https://api.stripe.com", 0, 0, 0,
	  "Stripe API base URL" },
	{ "AI_API_BASE", V_URL, S(ai_api_base), "https://api.openai.com/v1", 0, 0, 0,
	  "OpenAI-compatible API base URL" },
	{ "AI_API_KEY", V_STR, S(ai_api_key), NULL, 0, 0, F_SECRET, "server's AI API key" },
	{ "AI_MODEL", V_STR, S(ai_model), "gpt-4o-mini", 0, 0, 0, "chat-completions model" },
	{ "API_KEY_PROVIDERS", V_STR, S(api_key_providers), "openai,gemini,anthropic", 0, 0, 0,
	  "providers users may store their own API keys for (of openai, gemini, anthropic)" },
	{ "OPENAI_API_BASE", V_URL, S(openai_api_base), "https://api.openai.com/v1", 0, 0, 0,
	  "OpenAI API base URL (checking users' keys)" },
	{ "GEMINI_API_BASE", V_URL, S(gemini_api_base),
	  "https://generativelanguage.googleapis.com", 0, 0, 0,
	  "Gemini API base URL (checking users' keys)" },
	{ "ANTHROPIC_API_BASE", V_URL, S(anthropic_api_base), "https://api.anthropic.com", 0, 0, 0,
	  "Anthropic API base URL (checking users' keys)" },
	{ "API_KEY_TEST_TIMEOUT_MS", V_INT, S(api_key_test_timeout_ms), "5000", 100, 60000, 0,
	  "how long a key check waits for the provider" },
	{ "METRICS_TOKEN", V_STR, S(metrics_token), NULL, 0, 0, F_SECRET,
	  "bearer token for /metrics (loopback clients need none)" },
};

#define NVARS (sizeof(vars) / sizeof(vars[0]))

struct fileval {
	char	*value[NVARS];
};

static const struct var *
var_find(const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < NVARS; i++)
		if (strlen(vars[i].name) == len &&
		    strncmp(vars[i].name, name, len) == 0)
			return &vars[i];
	return NULL;
}

static char *
trim(char *s)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Reads NAME=value lines into fv. Returns the number of problems. */
static int
read_file(const char *path, struct fileval *fv, FILE *errs)
{
	FILE		*f;
	char		 line[8192];
	char		*p, *eq, *val;
	const struct var *v;
	int		 lineno = 0, problems = 0;
	size_t		 len;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(errs, "config: %s: cannot open: %s\n", path, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			fprintf(errs, "config: %s:%d: line too long\n", path, lineno);
			problems++;
			break;
		}
		p = trim(line);
		if (*p == '\0' || *p == '#')
			continue;
		if ((eq = strchr(p, '=')) == NULL) {
			fprintf(errs, "config: %s:%d: expected NAME=value\n", path, lineno);
			problems++;
			continue;
		}
		*eq = '\0';
		p = trim(p);
		val = trim(eq + 1);
		len = strlen(val);
		if (len >= 2 && (val[0] == '"' || val[0] == '\'') && val[len - 1] == val[0]) {
			val[len - 1] = '\0';
			val++;
		}
		if ((v = var_find(p, strlen(p))) == NULL) {
			fprintf(errs, "config: %s:%d: unknown variable %s\n", path, lineno, p);
			problems++;
			continue;
		}
		free(fv->value[v - vars]);
		if ((fv->value[v - vars] = strdup(val)) == NULL) {
			fprintf(errs, "config: out of memory\n");
			problems++;
			break;
		}
	}
	if (ferror(f)) {
		fprintf(errs, "config: %s: read error\n", path);
		problems++;
	}
	fclose(f);
	return problems;
}

static bool
is_http_url(const char *s)
{
	const char *host;

	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return false;
	if (*host == '\0' || *host == '/')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static bool
parse_long(const char *s, int base, long *out)
{
	char	*end;
	long	 v;

	if (*s == '\0' || isspace((unsigned char)*s) || *s == '+')
		return false;
	errno = 0;
	v = strtol(s, &end, base);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

/* Stores one variable's value (or default). Returns 0 or 1 problem. */
static int
set_var(struct config *c, const struct var *v, const char *val, FILE *errs)
{
	char	*field = (char *)c + v->offset;
	long	 n;

	if (val == NULL || *val == '\0') {
		if (v->flags & F_REQUIRED) {
			fprintf(errs, "config: %s is required (%s)\n", v->name, v->help);
			return 1;
		}
		val = v->def;
		if (val == NULL)
			return 0;
	}
	switch (v->kind) {
	case V_STR:
	case V_URL:
		if (v->kind == V_URL && !is_http_url(val)) {
			fprintf(errs, "config: %s must be an http:// or https:// URL\n", v->name);
			return 1;
		}
		if ((*(char **)field = strdup(val)) == NULL) {
			fprintf(errs, "config: out of memory\n");
			return 1;
		}
		return 0;
	case V_INT:
	case V_MODE:
		if (!parse_long(val, v->kind == V_MODE ? 8 : 10, &n) ||
		    n < v->min || n > v->max) {
			if (v->flags & F_SECRET)
				fprintf(errs, "config: %s must be %s between %ld and %ld\n",
				    v->name, v->kind == V_MODE ? "an octal mode" : "an integer",
				    v->min, v->max);
			else
				fprintf(errs, "config: %s must be %s between %ld and %ld (got \"%.40s\")\n",
				    v->name, v->kind == V_MODE ? "an octal mode" : "an integer",
				    v->min, v->max, val);
			return 1;
		}
		if (v->offset == S(max_body_bytes) || v->offset == S(max_upload_bytes))
			*(long *)field = n;
		else
			*(int *)field = (int)n;
		return 0;
	}
	return 1;
}

/* "id:base64", comma-separated; every key 32 bytes. */
static bool
encryption_keys_valid(const char *s)
{
	const char	*p = s, *colon, *end;
	unsigned char	 key[64];
	size_t		 idlen, b64len;
	int		 n;

	for (;;) {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		colon = memchr(p, ':', (size_t)(end - p));
		if (colon == NULL)
			return false;
		idlen = (size_t)(colon - p);
		if (idlen == 0 || idlen > 16)
			return false;
		for (const char *q = p; q < colon; q++)
			if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-')
				return false;
		b64len = (size_t)(end - colon - 1);
		if (b64len != 44)	/* 32 bytes in standard base64 with one '=' */
			return false;
		n = EVP_DecodeBlock(key, (const unsigned char *)colon + 1, (int)b64len);
		OPENSSL_cleanse(key, sizeof(key));
		/* 44 characters ending in exactly one '=' decode to 32 bytes
		 * (EVP_DecodeBlock counts the padding as a 33rd zero byte). */
		if (n != 33 || colon[44] != '=' || colon[43] == '=')
			return false;
		if (*end == '\0')
			return true;
		p = end + 1;
	}
}

static int
parse_cors(struct config *c, FILE *errs)
{
	char	*copy, *item, *save = NULL;
	char	**list;
	size_t	 n = 0;

	if (c->cors_origins == NULL)
		return 0;
	if (strcmp(c->cors_origins, "*") == 0) {
		c->cors_any = true;
		return 0;
	}
	if ((copy = strdup(c->cors_origins)) == NULL)
		return 1;
	list = calloc(strlen(copy) / 2 + 2, sizeof(*list));
	if (list == NULL) {
		free(copy);
		return 1;
	}
	c->cors_list = list;
	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		item = trim(item);
		if (*item == '\0')
			continue;
		if (!is_http_url(item) || strchr(strchr(item, ':') + 3, '/') != NULL) {
			fprintf(errs, "config: CORS_ORIGINS: \"%.80s\" is not an origin "
			    "(scheme://host[:port], no path)\n", item);
			free(copy);
			return 1;
		}
		if ((list[n] = strdup(item)) == NULL) {
			free(copy);
			return 1;
		}
		c->cors_count = ++n;
	}
	free(copy);
	return 0;
}

static int
derive(struct config *c, FILE *errs, unsigned flags)
{
	int		 problems = 0;
	const char	*path, *bad = NULL;
	size_t		 len;
	PQconninfoOption *opts;
	char		*pqerr = NULL;

	if (c->database_url != NULL) {
		opts = PQconninfoParse(c->database_url, &pqerr);
		if (opts == NULL) {
			fprintf(errs, "config: DATABASE_URL is not a valid PostgreSQL "
			    "connection string\n");
			problems++;
		}
		PQconninfoFree(opts);
		PQfreemem(pqerr);
	}

	if (c->public_url == NULL)	/* malformed: reported already */
		path = "";
	else {
		c->public_https = strncmp(c->public_url, "https://", 8) == 0;
		path = c->public_url + (c->public_https ? 8 : 7);
		path += strcspn(path, "/?#");	/* past the authority */
		if (*path != '/')
			path = "";
	}
	len = strcspn(path, "?#");
	while (len > 0 && path[len - 1] == '/')
		len--;
	if ((c->mount_prefix = strndup(path, len)) == NULL)
		problems++;

	if (c->app_url == NULL && c->public_url != NULL &&
	    (c->app_url = strdup(c->public_url)) == NULL)
		problems++;
	if (c->jwt_issuer == NULL && c->public_url != NULL &&
	    (c->jwt_issuer = strdup(c->public_url)) == NULL)
		problems++;

	if (c->jwt_secret != NULL && c->jwt_private_key_file != NULL) {
		fprintf(errs, "config: set JWT_SECRET or JWT_PRIVATE_KEY_FILE, not both\n");
		problems++;
	} else if (c->jwt_secret == NULL && c->jwt_private_key_file == NULL) {
		if (flags & CONFIG_NO_JWT)
			goto jwt_done;
		fprintf(errs, "config: JWT_SECRET is required (at least 32 bytes), "
		    "or JWT_PRIVATE_KEY_FILE for EdDSA\n");
		problems++;
	} else if (c->jwt_secret != NULL && strlen(c->jwt_secret) < 32) {
		fprintf(errs, "config: JWT_SECRET must be at least 32 bytes\n");
		problems++;
	} else if (c->jwt_private_key_file != NULL &&
	    access(c->jwt_private_key_file, R_OK) != 0) {
		fprintf(errs, "config: JWT_PRIVATE_KEY_FILE: cannot read %s\n",
		    c->jwt_private_key_file);
		problems++;
	}
jwt_done:

	if (c->encryption_keys != NULL && !encryption_keys_valid(c->encryption_keys)) {
		fprintf(errs, "config: ENCRYPTION_KEYS must be id:base64key[,id:base64key...] "
		    "with 32-byte keys in standard base64\n");
		problems++;
	}
	if (c->log_level_name != NULL &&
	    log_parse_level(c->log_level_name, &c->log_level) != 0) {
		fprintf(errs, "config: LOG_LEVEL must be debug, info, warn or error\n");
		problems++;
	}
	if (c->registration != NULL && strcmp(c->registration, "open") != 0 &&
	    strcmp(c->registration, "invite") != 0) {
		fprintf(errs, "config: REGISTRATION must be open or invite\n");
		problems++;
	}
	if (cidr_list_parse(c->trusted_proxies, &c->proxies, &c->proxy_count, &bad) != FB_OK) {
		fprintf(errs, "config: TRUSTED_PROXIES: \"%.60s\" is not an address or "
		    "CIDR range\n", bad != NULL ? bad : "");
		problems++;
	}
	problems += parse_cors(c, errs);
	if (c->redis_url != NULL && kv_url_valid(c->redis_url) != FB_OK) {
		fprintf(errs, "config: REDIS_URL must be redis://[:password@]host[:port][/db] "
		    "or unix:///path/to/socket\n");
		problems++;
	}
	if (c->smtp_url != NULL && strncmp(c->smtp_url, "smtp://", 7) != 0 &&
	    strncmp(c->smtp_url, "smtps://", 8) != 0) {
		fprintf(errs, "config: SMTP_URL must start with smtp:// or smtps://\n");
		problems++;
	}
	return problems;
}

int
config_load(struct config *c, const char *file, FILE *errs)
{
	return config_load_flags(c, file, errs, 0);
}

int
config_load_flags(struct config *c, const char *file, FILE *errs, unsigned flags)
{
	struct fileval	 fv;
	const char	*val;
	size_t		 i;
	int		 problems = 0;

	memset(c, 0, sizeof(*c));
	memset(&fv, 0, sizeof(fv));
	if (file == NULL && (file = getenv("FASTBACK_CONFIG")) != NULL && *file == '\0')
		file = NULL;
	if (file != NULL)
		problems += read_file(file, &fv, errs);
	for (i = 0; i < NVARS; i++) {
		/* An empty variable counts as unset, like everywhere else. */
		val = getenv(vars[i].name);
		if (val == NULL || *val == '\0')
			val = fv.value[i];
		problems += set_var(c, &vars[i], val, errs);
	}
	for (i = 0; i < NVARS; i++) {
		if (fv.value[i] != NULL)
			OPENSSL_cleanse(fv.value[i], strlen(fv.value[i]));
		free(fv.value[i]);
	}
	/* Cross-checks run even after a bad value, so every problem is named. */
	problems += derive(c, errs, flags);
	if (problems != 0)
		config_free(c);
	return problems;
}

void
config_free(struct config *c)
{
	size_t	 i;
	char	**field;

	for (i = 0; i < NVARS; i++) {
		if (vars[i].kind != V_STR && vars[i].kind != V_URL)
			continue;
		field = (char **)((char *)c + vars[i].offset);
		if (*field != NULL && (vars[i].flags & F_SECRET))
			OPENSSL_cleanse(*field, strlen(*field));
		free(*field);
		*field = NULL;
	}
	free(c->mount_prefix);
	free(c->jwt_issuer);	/* strdup'd by derive when unset; else freed above */
	c->jwt_issuer = NULL;
	for (i = 0; i < c->cors_count; i++)
		free(c->cors_list[i]);
	free(c->cors_list);
	free(c->proxies);
	memset(c, 0, sizeof(*c));
}

void
config_write_example(FILE *out)
{
	size_t	i;

	fprintf(out, "# fastback configuration: NAME=value lines; the environment wins.\n"
	    "# Every variable with its default. Secrets: keep this file mode 600.\n");
	for (i = 0; i < NVARS; i++)
		fprintf(out, "\n# %s%s\n%s%s=%s\n", vars[i].help,
		    (vars[i].flags & F_REQUIRED) ? " (required)" : "",
		    vars[i].def != NULL || (vars[i].flags & F_REQUIRED) ? "" : "#",
		    vars[i].name, vars[i].def != NULL ? vars[i].def : "");
}

bool
config_cors_allows(const struct config *c, const char *origin)
{
	size_t	i;

	if (origin == NULL || *origin == '\0')
		return false;
	if (c->cors_any)
		return true;
	for (i = 0; i < c->cors_count; i++)
		if (strcasecmp(c->cors_list[i], origin) == 0)
			return true;
	return false;
}
