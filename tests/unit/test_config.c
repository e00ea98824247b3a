/*
 * test_config — config_load() from the environment and from a file: required
 * and malformed variables (one line each, nonzero return), env over file,
 * quoting, derived values (mount prefix, CORS list, proxies), ENCRYPTION_KEYS,
 * and that no secret value is ever written to the error stream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

#define DB_URL		"postgresql://x@127.0.0.1:1/x"
#define JWT		"0123456789abcdef0123456789abcdef"	/* 32 bytes */
#define KEY32		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="	/* 32 zero bytes */
#define KEY31		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="	/* 31 zero bytes */
#define KEY32B		"+//7//v/+//7//v/+//7//v/+//7//v/+//7//v/+/8="	/* uses + and / */

static const char *const all_vars[] = {
	"DATABASE_URL", "DB_STATEMENT_TIMEOUT_MS", "FCGI_LISTEN", "FCGI_SOCKET_MODE",
	"FCGI_CHILDREN", "FCGI_BACKLOG", "PUBLIC_URL", "JWT_SECRET",
	"JWT_PRIVATE_KEY_FILE", "JWT_ISSUER", "JWT_AUDIENCE", "ENCRYPTION_KEYS",
	"CORS_ORIGINS", "TRUSTED_PROXIES", "MAX_BODY_BYTES", "LOG_LEVEL",
	"REGISTRATION", "RATE_LIMIT_GENERAL_IP", "RATE_LIMIT_GENERAL_USER",
	"RATE_LIMIT_AUTH_IP", "RATE_LIMIT_LOGIN_FAILURES", "RATE_LIMIT_PAYMENT_USER",
	"RATE_LIMIT_EXPORT_USER", "WORKER_PROCESSES", "REDIS_URL", "SMTP_URL",
	"MAIL_FROM", "S3_ENDPOINT", "S3_REGION", "S3_BUCKET", "S3_ACCESS_KEY_ID",
	"S3_SECRET_ACCESS_KEY", "MAX_UPLOAD_BYTES", "STRIPE_SECRET_KEY",
	"STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE", "AI_API_BASE", "AI_API_KEY",
	"AI_MODEL", "METRICS_TOKEN", "FASTBACK_CONFIG",
};

/* A clean environment with only the two required settings. */
static void
env_reset(void)
{
	size_t	i;

	for (i = 0; i < sizeof(all_vars) / sizeof(all_vars[0]); i++)
		unsetenv(all_vars[i]);
	setenv("DATABASE_URL", DB_URL, 1);
	setenv("JWT_SECRET", JWT, 1);
}

/* config_load with the error lines captured; *errs is the caller's to free. */
static int
load(struct config *c, const char *file, char **errs)
{
	FILE	*f;
	size_t	 len;
	int	 n;

	*errs = NULL;
	if ((f = open_memstream(errs, &len)) == NULL)
		bail_out("open_memstream failed");
	n = config_load(c, file, f);
	fclose(f);
	return n;
}

static int
count_lines(const char *s)
{
	int	n = 0;

	for (; s != NULL && *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

/* Writes text to a new temporary file; returns its malloc'd path. */
static char *
temp_file(const char *text)
{
	const char	*dir = getenv("TMPDIR");
	char		*path;
	int		 fd;
	size_t		 len = strlen(text);

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if (asprintf(&path, "%s/fastback-test-config-XXXXXX", dir) < 0)
		bail_out("asprintf");
	if ((fd = mkstemp(path)) < 0)
		bail_out("mkstemp %s", path);
	if (write(fd, text, len) != (ssize_t)len)
		bail_out("write %s", path);
	close(fd);
	return path;
}

static void
rm_file(char *path)
{
	unlink(path);
	free(path);
}

/* Loads with one variable set; expects exactly one problem line that names
 * want and does not echo secret (may be NULL). */
static void
expect_one_problem(const char *name, const char *value, const char *want,
    const char *secret)
{
	struct config	 c;
	char		*errs;
	int		 n;

	env_reset();
	setenv(name, value, 1);
	n = load(&c, NULL, &errs);
	is_int(n, 1, "%s=\"%.40s\": one problem", name, value);
	is_int(count_lines(errs), 1, "%s=\"%.40s\": one line", name, value);
	has_str(errs, want, "%s=\"%.40s\": the line names %s", name, value, want);
	if (secret != NULL)
		lacks_str(errs, secret, "%s: the value is not echoed", name);
	ok(c.database_url == NULL && c.public_url == NULL, "%s: struct freed on failure",
	    name);
	free(errs);
	if (n == 0)
		config_free(&c);
}

static void
expect_ok(const char *name, const char *value, struct config *c)
{
	char	*errs;
	int	 n;

	env_reset();
	setenv(name, value, 1);
	n = load(c, NULL, &errs);
	if (!is_int(n, 0, "%s=\"%.40s\" is accepted", name, value))
		diag("errors: %s", errs);
	free(errs);
}

static void
test_defaults(void)
{
	struct config	 c;
	char		*errs;

	env_reset();
	if (!is_int(load(&c, NULL, &errs), 0, "the two required settings are enough")) {
		diag("errors: %s", errs);
		free(errs);
		return;
	}
	is_str(errs, "", "nothing written to errs");
	free(errs);
	is_str(c.database_url, DB_URL, "DATABASE_URL");
	is_str(c.jwt_secret, JWT, "JWT_SECRET");
	is_int(c.db_statement_timeout_ms, 5000, "DB_STATEMENT_TIMEOUT_MS default");
	ok(c.fcgi_listen == NULL, "FCGI_LISTEN unset");
	is_int(c.fcgi_socket_mode, 0660, "FCGI_SOCKET_MODE default 0660");
	is_int(c.fcgi_children, 8, "FCGI_CHILDREN default");
	is_int(c.fcgi_backlog, 1024, "FCGI_BACKLOG default");
	is_str(c.public_url, "http://127.0.0.1:8080", "PUBLIC_URL default");
	is_str(c.mount_prefix, "", "no mount prefix");
	ok(!c.public_https, "not https");
	is_str(c.jwt_issuer, c.public_url, "JWT_ISSUER defaults to PUBLIC_URL");
	is_str(c.jwt_audience, "fastback", "JWT_AUDIENCE default");
	ok(c.encryption_keys == NULL, "ENCRYPTION_KEYS unset");
	ok(c.cors_origins == NULL && c.cors_count == 0 && !c.cors_any, "no CORS");
	ok(c.proxies == NULL && c.proxy_count == 0, "no trusted proxies");
	is_int(c.max_body_bytes, 1048576, "MAX_BODY_BYTES default");
	is_int(c.log_level, FBLOG_INFO, "LOG_LEVEL default info");
	is_str(c.registration, "open", "REGISTRATION default");
	is_int(c.rl_general_ip, 300, "RATE_LIMIT_GENERAL_IP default");
	is_int(c.rl_login_failures, 5, "RATE_LIMIT_LOGIN_FAILURES default");
	is_int(c.rl_export_user, 3, "RATE_LIMIT_EXPORT_USER default");
	is_int(c.worker_processes, 2, "WORKER_PROCESSES default");
	ok(c.redis_url == NULL && c.smtp_url == NULL && c.metrics_token == NULL,
	    "optional integrations unset");
	is_str(c.s3_region, "us-east-1", "S3_REGION default");
	is_int(c.max_upload_bytes, 26214400L, "MAX_UPLOAD_BYTES default");
	is_str(c.stripe_api_base, "https://api.stripe.com", "STRIPE_API_BASE default");
	is_str(c.ai_model, "gpt-4o-mini", "AI_MODEL default");
	config_free(&c);
	ok(c.database_url == NULL && c.mount_prefix == NULL && c.jwt_issuer == NULL,
	    "config_free clears the struct");
	config_free(&c);
	ok(1, "config_free twice is safe");
}

static void
test_required(void)
{
	struct config	 c;
	char		*errs;
	int		 n;

	env_reset();
	unsetenv("DATABASE_URL");
	n = load(&c, NULL, &errs);
	is_int(n, 1, "DATABASE_URL missing: one problem");
	is_int(count_lines(errs), 1, "DATABASE_URL missing: one line");
	has_str(errs, "DATABASE_URL", "the line names DATABASE_URL");
	has_str(errs, "required", "the line says it is required");
	ok(c.public_url == NULL && c.jwt_secret == NULL, "the struct is freed");
	free(errs);

	env_reset();
	setenv("DATABASE_URL", "", 1);
	n = load(&c, NULL, &errs);
	is_int(n, 1, "DATABASE_URL empty counts as missing");
	has_str(errs, "DATABASE_URL", "and is named");
	free(errs);

	env_reset();
	unsetenv("JWT_SECRET");
	n = load(&c, NULL, &errs);
	is_int(n, 1, "JWT_SECRET missing: one problem");
	has_str(errs, "JWT_SECRET", "the line names JWT_SECRET");
	free(errs);

	/* config.h: "reports one line per missing or malformed variable". */
	env_reset();
	unsetenv("DATABASE_URL");
	unsetenv("JWT_SECRET");
	setenv("TRUSTED_PROXIES", "nonsense", 1);
	n = load(&c, NULL, &errs);
	is_int(n, 3, "DATABASE_URL, JWT_SECRET and TRUSTED_PROXIES all reported");
	has_str(errs, "JWT_SECRET", "JWT_SECRET named alongside DATABASE_URL");
	free(errs);
	if (n == 0)
		config_free(&c);
}

static void
test_database_url(void)
{
	struct config	c;

	expect_one_problem("DATABASE_URL",
	    "postgresql://u:SENTINEL-PW@h/db?no_such_option=1", "DATABASE_URL",
	    "SENTINEL-PW");
	expect_one_problem("DATABASE_URL", "host=h password=SENTINEL-PW bogus",
	    "DATABASE_URL", "SENTINEL-PW");
	expect_ok("DATABASE_URL", "host=/run/postgresql dbname=fastback", &c);
	config_free(&c);
}

static void
test_jwt(void)
{
	struct config	 c;
	char		*path;

	expect_one_problem("JWT_SECRET", "SENTINEL-short-secret-31-bytes", "32 bytes",
	    "SENTINEL");
	expect_one_problem("JWT_SECRET", "SENTINEL-0123456789abcdef012345", "JWT_SECRET",
	    "SENTINEL");
	expect_ok("JWT_SECRET", "SENTINEL-0123456789abcdef0123456", &c);
	is_int(strlen(c.jwt_secret), 32, "exactly 32 bytes is enough");
	config_free(&c);

	path = temp_file("not really a key\n");
	env_reset();
	setenv("JWT_PRIVATE_KEY_FILE", path, 1);
	{
		char	*errs;
		int	 n = load(&c, NULL, &errs);

		is_int(n, 1, "JWT_SECRET and JWT_PRIVATE_KEY_FILE together: one problem");
		has_str(errs, "not both", "says not both");
		lacks_str(errs, JWT, "the secret is not echoed");
		free(errs);
		unsetenv("JWT_SECRET");
		n = load(&c, NULL, &errs);
		is_int(n, 0, "JWT_PRIVATE_KEY_FILE alone is enough");
		free(errs);
		if (n == 0)
			config_free(&c);
	}
	rm_file(path);
	env_reset();
	unsetenv("JWT_SECRET");
	setenv("JWT_PRIVATE_KEY_FILE", "/nonexistent/fastback/key.pem", 1);
	{
		char	*errs;
		int	 n = load(&c, NULL, &errs);

		is_int(n, 1, "an unreadable JWT_PRIVATE_KEY_FILE");
		has_str(errs, "JWT_PRIVATE_KEY_FILE", "names JWT_PRIVATE_KEY_FILE");
		free(errs);
	}
}

/* CONFIG_NO_JWT: fastbackctl and fastback-worker sign no tokens. */
static void
test_no_jwt_flag(void)
{
	struct config	 c;
	char		*errs;
	size_t		 len;
	FILE		*f;
	int		 n;

	env_reset();
	unsetenv("JWT_SECRET");
	f = open_memstream(&errs, &len);
	n = config_load_flags(&c, NULL, f, CONFIG_NO_JWT);
	fclose(f);
	is_int(n, 0, "CONFIG_NO_JWT: no JWT_SECRET needed");
	is_str(errs, "", "CONFIG_NO_JWT: nothing reported");
	free(errs);
	if (n == 0) {
		ok(c.jwt_secret == NULL, "CONFIG_NO_JWT: no secret");
		config_free(&c);
	}

	setenv("JWT_SECRET", "SENTINEL-too-short", 1);
	f = open_memstream(&errs, &len);
	n = config_load_flags(&c, NULL, f, CONFIG_NO_JWT);
	fclose(f);
	is_int(n, 1, "CONFIG_NO_JWT: a JWT_SECRET that is set is still checked");
	lacks_str(errs, "SENTINEL", "and not echoed");
	free(errs);
	if (n == 0)
		config_free(&c);

	env_reset();
	unsetenv("JWT_SECRET");
	f = open_memstream(&errs, &len);
	n = config_load_flags(&c, NULL, f, 0);
	fclose(f);
	is_int(n, 1, "flags 0: JWT_SECRET required as with config_load");
	free(errs);
	if (n == 0)
		config_free(&c);
}

static void
test_integers(void)
{
	static const char *const bad_children[] = {
		"0", "513", "-1", "abc", "8x", "+8", " 8", "8 ", "0x10", "1.5", "1e2",
		"99999999999999999999", "-99999999999999999999",
	};
	struct config	c;
	size_t		i;

	for (i = 0; i < sizeof(bad_children) / sizeof(bad_children[0]); i++)
		expect_one_problem("FCGI_CHILDREN", bad_children[i], "FCGI_CHILDREN", NULL);
	expect_ok("FCGI_CHILDREN", "1", &c);
	is_int(c.fcgi_children, 1, "FCGI_CHILDREN=1");
	config_free(&c);
	expect_ok("FCGI_CHILDREN", "512", &c);
	is_int(c.fcgi_children, 512, "FCGI_CHILDREN=512");
	config_free(&c);
	expect_ok("FCGI_CHILDREN", "", &c);
	is_int(c.fcgi_children, 8, "FCGI_CHILDREN empty: the default");
	config_free(&c);
	expect_ok("FCGI_CHILDREN", "016", &c);
	is_int(c.fcgi_children, 16, "a leading zero is decimal, not octal");
	config_free(&c);

	expect_ok("FCGI_SOCKET_MODE", "0600", &c);
	is_int(c.fcgi_socket_mode, 0600, "FCGI_SOCKET_MODE=0600 is octal");
	config_free(&c);
	expect_ok("FCGI_SOCKET_MODE", "777", &c);
	is_int(c.fcgi_socket_mode, 0777, "FCGI_SOCKET_MODE=777 is octal");
	config_free(&c);
	expect_one_problem("FCGI_SOCKET_MODE", "0999", "FCGI_SOCKET_MODE", NULL);
	expect_one_problem("FCGI_SOCKET_MODE", "1000", "FCGI_SOCKET_MODE", NULL);
	expect_one_problem("FCGI_SOCKET_MODE", "rw-rw----", "FCGI_SOCKET_MODE", NULL);

	expect_one_problem("MAX_BODY_BYTES", "1023", "MAX_BODY_BYTES", NULL);
	expect_ok("MAX_BODY_BYTES", "1024", &c);
	is_int(c.max_body_bytes, 1024, "MAX_BODY_BYTES=1024 (the minimum)");
	config_free(&c);
	expect_ok("MAX_BODY_BYTES", "67108864", &c);
	is_int(c.max_body_bytes, 67108864, "MAX_BODY_BYTES=64 MiB (the maximum)");
	config_free(&c);
	expect_one_problem("MAX_BODY_BYTES", "67108865", "MAX_BODY_BYTES", NULL);
	expect_ok("MAX_UPLOAD_BYTES", "5368709120", &c);
	is_int(c.max_upload_bytes, 5368709120LL, "MAX_UPLOAD_BYTES=5 GiB fits a long");
	config_free(&c);
	expect_one_problem("MAX_UPLOAD_BYTES", "5368709121", "MAX_UPLOAD_BYTES", NULL);
	expect_ok("RATE_LIMIT_AUTH_IP", "0", &c);
	is_int(c.rl_auth_ip, 0, "a rate limit of 0 (disabled)");
	config_free(&c);
	expect_one_problem("DB_STATEMENT_TIMEOUT_MS", "99", "DB_STATEMENT_TIMEOUT_MS", NULL);
	expect_one_problem("WORKER_PROCESSES", "257", "WORKER_PROCESSES", NULL);
	expect_one_problem("FCGI_BACKLOG", "65536", "FCGI_BACKLOG", NULL);
}

static void
test_enums_and_urls(void)
{
	struct config	c;

	expect_one_problem("LOG_LEVEL", "verbose", "LOG_LEVEL", NULL);
	expect_one_problem("LOG_LEVEL", "INFO", "LOG_LEVEL", NULL);
	expect_ok("LOG_LEVEL", "debug", &c);
	is_int(c.log_level, FBLOG_DEBUG, "LOG_LEVEL=debug");
	config_free(&c);
	expect_one_problem("REGISTRATION", "closed", "REGISTRATION", NULL);
	expect_ok("REGISTRATION", "invite", &c);
	config_free(&c);

	expect_one_problem("PUBLIC_URL", "ftp://x.test", "PUBLIC_URL", NULL);
	expect_one_problem("PUBLIC_URL", "x.test", "PUBLIC_URL", NULL);
	expect_one_problem("PUBLIC_URL", "http://", "PUBLIC_URL", NULL);
	expect_one_problem("PUBLIC_URL", "https:///app", "PUBLIC_URL", NULL);
	expect_one_problem("PUBLIC_URL", "http://a b.test", "PUBLIC_URL", NULL);
	expect_one_problem("PUBLIC_URL", "http://a.test/\x7f", "PUBLIC_URL", NULL);
	expect_one_problem("STRIPE_API_BASE", "api.stripe.com", "STRIPE_API_BASE", NULL);
	expect_one_problem("S3_ENDPOINT", "s3://bucket", "S3_ENDPOINT", NULL);
	expect_one_problem("SMTP_URL", "ftp://u:SENTINEL-PW@mail.test", "SMTP_URL",
	    "SENTINEL-PW");
	expect_ok("SMTP_URL", "smtps://u:pw@mail.test:465", &c);
	config_free(&c);
	expect_one_problem("REDIS_URL", "redis://:SENTINEL-PW@host:notaport", "REDIS_URL",
	    "SENTINEL-PW");
	expect_one_problem("REDIS_URL", "http://SENTINEL-PW@host", "REDIS_URL",
	    "SENTINEL-PW");
	expect_ok("REDIS_URL", "redis://:pw@127.0.0.1:6379/0", &c);
	is_str(c.redis_url, "redis://:pw@127.0.0.1:6379/0", "REDIS_URL kept");
	config_free(&c);
}

static void
test_mount_prefix(void)
{
	static const struct {
		const char	*url;
		const char	*prefix;
		bool		 https;
	} cases[] = {
		{ "https://x.test/app/",	"/app",		true },
		{ "https://x.test/app",		"/app",		true },
		{ "http://x.test",		"",		false },
		{ "http://x.test/",		"",		false },
		{ "http://x.test:8080/",	"",		false },
		{ "http://x.test//",		"",		false },
		{ "https://x.test/a/b///",	"/a/b",		true },
		{ "http://x.test/app?x=1",	"/app",		false },
		{ "http://x.test/app/#frag",	"/app",		false },
		{ "http://x.test/app?next=/y",	"/app",		false },
	};
	struct config	c;
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_ok("PUBLIC_URL", cases[i].url, &c);
		if (c.public_url == NULL)
			continue;
		is_str(c.mount_prefix, cases[i].prefix, "%s: mount prefix", cases[i].url);
		is_int(c.public_https, cases[i].https, "%s: https", cases[i].url);
		is_str(c.jwt_issuer, cases[i].url, "%s: the issuer", cases[i].url);
		config_free(&c);
	}
	/* A '/' in the query (or fragment) of a URL without a path. */
	expect_ok("PUBLIC_URL", "http://x.test?next=/y", &c);
	is_str(c.mount_prefix, "", "http://x.test?next=/y has no mount prefix");
	config_free(&c);
	expect_ok("PUBLIC_URL", "http://x.test#/frag", &c);
	is_str(c.mount_prefix, "", "http://x.test#/frag has no mount prefix");
	config_free(&c);
	env_reset();
	setenv("JWT_ISSUER", "https://issuer.test", 1);
	{
		char *errs;
		if (is_int(load(&c, NULL, &errs), 0, "JWT_ISSUER set")) {
			is_str(c.jwt_issuer, "https://issuer.test", "JWT_ISSUER is kept");
			config_free(&c);
		}
		free(errs);
	}
}

static void
test_cors(void)
{
	struct config	c;

	expect_ok("CORS_ORIGINS", "https://app.test, http://localhost:3000 ,,", &c);
	is_int(c.cors_count, 2, "two origins, empty items skipped");
	ok(!c.cors_any, "not any");
	if (c.cors_count == 2) {
		is_str(c.cors_list[0], "https://app.test", "first origin trimmed");
		is_str(c.cors_list[1], "http://localhost:3000", "second origin trimmed");
	}
	ok(config_cors_allows(&c, "https://app.test"), "allows https://app.test");
	ok(config_cors_allows(&c, "http://localhost:3000"), "allows http://localhost:3000");
	ok(config_cors_allows(&c, "HTTPS://APP.TEST"), "scheme and host case-insensitive");
	ok(!config_cors_allows(&c, "http://app.test"), "not another scheme");
	ok(!config_cors_allows(&c, "https://app.test:443"), "not with an explicit port");
	ok(!config_cors_allows(&c, "https://app.test/"), "not with a slash");
	ok(!config_cors_allows(&c, "https://evil.app.test"), "not a subdomain");
	ok(!config_cors_allows(&c, "https://app.test.evil"), "not a suffix");
	ok(!config_cors_allows(&c, "http://localhost"), "not another port");
	ok(!config_cors_allows(&c, "null"), "not null");
	ok(!config_cors_allows(&c, ""), "not empty");
	ok(!config_cors_allows(&c, NULL), "not NULL");
	config_free(&c);

	expect_ok("CORS_ORIGINS", "*", &c);
	ok(c.cors_any, "* is any");
	ok(config_cors_allows(&c, "https://whatever.test"), "* allows anything");
	ok(!config_cors_allows(&c, ""), "* does not allow an empty origin");
	ok(!config_cors_allows(&c, NULL), "* does not allow no origin");
	config_free(&c);

	expect_ok("CORS_ORIGINS", " , ", &c);
	is_int(c.cors_count, 0, "only separators: no origin");
	ok(!config_cors_allows(&c, "https://app.test"), "and nothing allowed");
	config_free(&c);

	expect_one_problem("CORS_ORIGINS", "https://app.test/path", "CORS_ORIGINS", NULL);
	expect_one_problem("CORS_ORIGINS", "https://app.test/", "CORS_ORIGINS", NULL);
	expect_one_problem("CORS_ORIGINS", "https://ok.test, app.test", "app.test", NULL);
	expect_one_problem("CORS_ORIGINS", "*, https://app.test", "CORS_ORIGINS", NULL);
	expect_one_problem("CORS_ORIGINS", "null", "CORS_ORIGINS", NULL);
}

static void
test_proxies(void)
{
	struct config	c;

	expect_ok("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1 ,::1", &c);
	is_int(c.proxy_count, 3, "three proxies");
	ok(c.proxies != NULL && c.proxies[0].prefix == 8, "first is a /8");
	config_free(&c);
	expect_one_problem("TRUSTED_PROXIES", "10.0.0.0/8, nonsense", "nonsense", NULL);
	expect_one_problem("TRUSTED_PROXIES", "10.0.0.0/33", "TRUSTED_PROXIES", NULL);
	expect_one_problem("TRUSTED_PROXIES", "10.0.0.0/8,,::1", "TRUSTED_PROXIES", NULL);
}

static void
test_encryption_keys(void)
{
	struct config	c;

	expect_ok("ENCRYPTION_KEYS", "k1:" KEY32, &c);
	is_str(c.encryption_keys, "k1:" KEY32, "one key kept as given");
	config_free(&c);
	expect_ok("ENCRYPTION_KEYS", "2024-b:" KEY32B ",k_1:" KEY32, &c);
	config_free(&c);
	expect_ok("ENCRYPTION_KEYS", "abcdefghijklmnop:" KEY32, &c);	/* 16-char id */
	config_free(&c);

	expect_one_problem("ENCRYPTION_KEYS", KEY32, "ENCRYPTION_KEYS", KEY32);
	expect_one_problem("ENCRYPTION_KEYS", ":" KEY32, "ENCRYPTION_KEYS", KEY32);
	expect_one_problem("ENCRYPTION_KEYS", "abcdefghijklmnopq:" KEY32, "ENCRYPTION_KEYS",
	    KEY32);
	expect_one_problem("ENCRYPTION_KEYS", "k.1:" KEY32, "ENCRYPTION_KEYS", KEY32);
	expect_one_problem("ENCRYPTION_KEYS", "k1:" KEY32 ",", "ENCRYPTION_KEYS", KEY32);
	expect_one_problem("ENCRYPTION_KEYS", "k1:" KEY32 ",k2:", "ENCRYPTION_KEYS", KEY32);
	expect_one_problem("ENCRYPTION_KEYS", "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "ENCRYPTION_KEYS", "AAAAAAAAAAAAAAAA");
	expect_one_problem("ENCRYPTION_KEYS",
	    "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ENCRYPTION_KEYS",
	    "AAAAAAAAAAAAAAAA");	/* 36 bytes */
	expect_one_problem("ENCRYPTION_KEYS", "k1:-__7__v_-__7__v_-__7__v_-__7__v_-__7__v_-_8=",
	    "ENCRYPTION_KEYS", "__7__");	/* base64url is not standard base64 */
	expect_one_problem("ENCRYPTION_KEYS", "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!=",
	    "ENCRYPTION_KEYS", "AAAAAAAAAAAAAAAA");
	/* 44 characters ending in "==" carry 31 bytes, not 32. */
	{
		char	*errs;
		int	 n;

		env_reset();
		setenv("ENCRYPTION_KEYS", "k1:" KEY31, 1);
		n = load(&c, NULL, &errs);
		is_int(n, 1, "a 31-byte key is refused");
		free(errs);
		if (n == 0)
			config_free(&c);
	}
}

static void
test_file(void)
{
	struct config	 c;
	char		*path, *errs;
	int		 n;

	env_reset();
	unsetenv("DATABASE_URL");
	unsetenv("JWT_SECRET");
	path = temp_file(
	    "# a comment\n"
	    "\n"
	    "   # an indented comment\n"
	    "DATABASE_URL=" DB_URL "?sslmode=disable\n"
	    "  JWT_SECRET =  \"" JWT "\"  \n"
	    "JWT_AUDIENCE=' spaced out '\n"
	    "MAIL_FROM=\"mismatched'\n"
	    "AI_MODEL=\"\"\n"
	    "FCGI_CHILDREN=3\r\n"
	    "WORKER_PROCESSES=4\n"
	    "WORKER_PROCESSES=5\n"
	    "S3_BUCKET=a=b\n"
	    "REGISTRATION=invite");
	n = load(&c, path, &errs);
	if (is_int(n, 0, "a file with comments, quotes, CRLF and spaces")) {
		is_str(c.database_url, DB_URL "?sslmode=disable", "DATABASE_URL from file");
		is_str(c.jwt_secret, JWT, "double quotes and spaces removed");
		is_str(c.jwt_audience, " spaced out ", "single quotes keep inner spaces");
		is_str(c.mail_from, "\"mismatched'", "mismatched quotes are kept");
		is_str(c.ai_model, "gpt-4o-mini", "\"\" is empty: the default");
		is_int(c.fcgi_children, 3, "a CRLF line");
		is_int(c.worker_processes, 5, "the last line of a name wins");
		is_str(c.s3_bucket, "a=b", "a value may hold =");
		is_str(c.registration, "invite", "a last line without newline");
		config_free(&c);
	} else
		diag("errors: %s", errs);
	free(errs);

	/* The environment wins over the file. */
	setenv("FCGI_CHILDREN", "6", 1);
	n = load(&c, path, &errs);
	if (is_int(n, 0, "file and environment")) {
		is_int(c.fcgi_children, 6, "the environment wins");
		is_int(c.worker_processes, 5, "the file fills the rest");
		config_free(&c);
	}
	free(errs);
	unsetenv("FCGI_CHILDREN");

	/* FASTBACK_CONFIG names the file when none is given. */
	setenv("FASTBACK_CONFIG", path, 1);
	n = load(&c, NULL, &errs);
	if (is_int(n, 0, "FASTBACK_CONFIG is read")) {
		is_int(c.fcgi_children, 3, "values from FASTBACK_CONFIG");
		config_free(&c);
	}
	free(errs);
	setenv("FASTBACK_CONFIG", "", 1);
	n = load(&c, NULL, &errs);
	is_int(n, 2, "FASTBACK_CONFIG empty: no file (DATABASE_URL and JWT_SECRET missing)");
	free(errs);
	unsetenv("FASTBACK_CONFIG");

	/* An empty environment value hides the file's value. */
	setenv("DATABASE_URL", "", 1);
	n = load(&c, path, &errs);
	is_int(n, 0, "DATABASE_URL= in the environment falls back to the file");
	free(errs);
	if (n == 0)
		config_free(&c);
	unsetenv("DATABASE_URL");
	rm_file(path);
}

static void
test_file_bad(void)
{
	struct config	 c;
	char		*path, *errs, *line;
	int		 n;

	env_reset();
	path = temp_file("FCGI_CHILDREN=3\nDATABSE_URL=postgresql://SENTINEL@h/db\n");
	n = load(&c, path, &errs);
	is_int(n, 1, "an unknown variable in the file");
	is_int(count_lines(errs), 1, "one line");
	has_str(errs, "unknown variable DATABSE_URL", "names the unknown variable");
	has_str(errs, ":2:", "gives the line number");
	has_str(errs, path, "gives the file");
	lacks_str(errs, "SENTINEL", "does not echo the value");
	free(errs);
	rm_file(path);

	path = temp_file("JWT_SECRE=SENTINEL-secret\nX=1\nnot an assignment SENTINEL\n"
	    "JWT_SECRET SENTINEL\n");
	n = load(&c, path, &errs);
	is_int(n, 4, "four bad lines: four problems");
	is_int(count_lines(errs), 4, "four lines");
	has_str(errs, "expected NAME=value", "a line without =");
	lacks_str(errs, "SENTINEL", "no value of a bad line is echoed");
	free(errs);
	rm_file(path);

	n = load(&c, "/nonexistent/fastback.conf", &errs);
	is_int(n, 1, "a missing file is a problem");
	has_str(errs, "cannot open", "says it cannot open it");
	has_str(errs, "/nonexistent/fastback.conf", "names the file");
	free(errs);

	line = malloc(9001);
	memset(line, 'x', 9000);
	line[9000] = '\0';
	memcpy(line, "AI_MODEL=", 9);
	path = temp_file(line);
	free(line);
	n = load(&c, path, &errs);
	is_int(n, 1, "a line over 8 KiB");
	has_str(errs, "too long", "says the line is too long");
	free(errs);
	rm_file(path);

	/* A secret that fails a check in the file is not echoed either. */
	unsetenv("JWT_SECRET");
	path = temp_file("JWT_SECRET=SENTINEL-too-short\n");
	n = load(&c, path, &errs);
	is_int(n, 1, "a short JWT_SECRET from the file");
	lacks_str(errs, "SENTINEL", "is not echoed");
	free(errs);
	rm_file(path);
}

static void
test_no_secret_echo(void)
{
	static const char *const secrets[] = {
		"DATABASE_URL", "JWT_SECRET", "ENCRYPTION_KEYS", "REDIS_URL", "SMTP_URL",
		"S3_SECRET_ACCESS_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
		"AI_API_KEY", "METRICS_TOKEN",
	};
	struct config	 c;
	char		*errs;
	size_t		 i;
	int		 n;

	/* Every secret set to something malformed, plus an error elsewhere. */
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		env_reset();
		setenv(secrets[i], "SENTINEL:\x01 bad value", 1);
		setenv("FCGI_CHILDREN", "many", 1);
		n = load(&c, NULL, &errs);
		ok(n >= 1, "%s malformed with FCGI_CHILDREN bad: a problem", secrets[i]);
		lacks_str(errs, "SENTINEL", "%s is not echoed", secrets[i]);
		free(errs);
		if (n == 0)
			config_free(&c);
		unsetenv("FCGI_CHILDREN");
		n = load(&c, NULL, &errs);
		lacks_str(errs, "SENTINEL", "%s is not echoed by the derived checks",
		    secrets[i]);
		free(errs);
		if (n == 0)
			config_free(&c);
	}
}

static void
test_example(void)
{
	struct config	 c;
	char		*text = NULL, *path, *errs;
	size_t		 len;
	FILE		*f;
	int		 n;

	f = open_memstream(&text, &len);
	config_write_example(f);
	fclose(f);
	has_str(text, "\nDATABASE_URL=\n", "the example lists DATABASE_URL");
	has_str(text, "(required)", "and marks it required");
	has_str(text, "\nFCGI_CHILDREN=8\n", "defaults are written");
	has_str(text, "\n#JWT_SECRET=\n", "unset optional variables are commented");
	/* The example itself loads (its defaults are valid). */
	path = temp_file(text);
	env_reset();
	n = load(&c, path, &errs);
	if (!is_int(n, 0, "the example file loads with the two required settings"))
		diag("errors: %s", errs);
	free(errs);
	if (n == 0)
		config_free(&c);
	rm_file(path);
	free(text);
}

int
main(void)
{
	log_setup("test_config", FBLOG_ERROR);
	test_defaults();
	test_required();
	test_database_url();
	test_jwt();
	test_no_jwt_flag();
	test_integers();
	test_enums_and_urls();
	test_mount_prefix();
	test_cors();
	test_proxies();
	test_encryption_keys();
	test_file();
	test_file_bad();
	test_no_secret_echo();
	test_example();
	return done_testing();
}
