/*
 * config — every setting of fastback, read from the environment and from an
 * optional file of NAME=value lines (--config FILE or FASTBACK_CONFIG); the
 * environment wins. config_load() reports one line per missing or malformed
 * variable and never prints the value of a secret. The struct owns its
 * strings; config_free() releases them (and wipes the secrets).
 */
#ifndef FB_CONFIG_H
#define FB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ipaddr.h"
#include "log.h"

struct config {
	/* core */
	char		*database_url;
	int		 db_statement_timeout_ms;
	char		*fcgi_listen;		/* host:port or socket path (or NULL: fd 0) */
	int		 fcgi_socket_mode;	/* permissions of a unix socket */
	int		 fcgi_children;
	int		 fcgi_backlog;
	char		*public_url;
	char		*app_name;		/* shown in emails and the TOTP issuer */
	char		*app_url;		/* the front end, for links in emails */
	char		*mount_prefix;		/* path of PUBLIC_URL without trailing '/', may be "" */
	bool		 public_https;
	char		*jwt_secret;		/* (or NULL) */
	char		*jwt_private_key_file;	/* (or NULL) */
	char		*jwt_issuer;		/* defaults to public_url */
	char		*jwt_audience;
	char		*jwt_kid;		/* (or NULL: derived from the key) */
	char		*jwt_previous_secret;	/* still verifies, never signs (or NULL) */
	char		*jwt_previous_key_file;	/* the same for EdDSA (or NULL) */
	int		 access_token_ttl;	/* seconds */
	int		 refresh_token_ttl;	/* seconds */
	int		 session_max_age;	/* seconds */
	int		 argon2_memory_kib;
	int		 argon2_iterations;
	int		 argon2_parallelism;
	char		*encryption_keys;	/* (or NULL) */
	char		*cors_origins;		/* (or NULL) */
	char		**cors_list;		/* parsed origins */
	size_t		 cors_count;
	bool		 cors_any;		/* CORS_ORIGINS=* */
	char		*trusted_proxies;	/* (or NULL) */
	struct cidr	*proxies;
	size_t		 proxy_count;
	long		 max_body_bytes;
	enum fblog_level log_level;
	char		*log_level_name;
	char		*registration;		/* "open" or "invite" */
	/* rate-limit tiers, per minute unless named otherwise; 0 disables */
	int		 rl_general_ip;
	int		 rl_general_user;
	int		 rl_auth_ip;
	int		 rl_login_failures;	/* per (IP, email) per 15 min */
	int		 rl_payment_user;
	int		 rl_export_user;	/* per hour */
	int		 rl_account_failures;	/* failed logins per account per hour before slowing */
	/* jobs */
	int		 worker_processes;
	int		 worker_batch;		/* jobs claimed at once per process */
	int		 worker_lease_seconds;	/* a lost worker's jobs return after this */
	int		 worker_grace_seconds;	/* SIGTERM: running jobs get this long */
	int		 worker_poll_seconds;	/* claim even without a NOTIFY this often */
	int		 worker_backoff_ms;	/* first retry delay; doubles per attempt */
	/* optional integrations (NULL when unset) */
	char		*redis_url;
	char		*smtp_url;
	char		*mail_from;
	char		*mail_templates_dir;	/* default "conf/templates" */
	char		*s3_endpoint;
	char		*s3_region;
	char		*s3_bucket;
	char		*s3_access_key_id;
	char		*s3_secret_access_key;
	long		 max_upload_bytes;
	char		*stripe_secret_key;
	char		*stripe_webhook_secret;
	char		*stripe_api_base;
	char		*ai_api_base;
	char		*ai_api_key;
	char		*ai_model;
	char		*api_key_providers;	/* the providers users may store keys for */
	char		*openai_api_base;
	char		*gemini_api_base;
	char		*anthropic_api_base;
	int		 api_key_test_timeout_ms;
	char		*metrics_token;
};

/*
 * Loads the configuration: file (may be NULL; FASTBACK_CONFIG is used then)
 * and the environment. Writes one line per problem to errs. Returns the
 * number of problems; on nonzero the struct is freed and must not be used.
 */
int	config_load(struct config *c, const char *file, FILE *errs);
/* config_load with flags: CONFIG_NO_JWT for programs that sign no tokens
 * (fastbackctl, fastback-worker), which then need no JWT_SECRET. */
#define CONFIG_NO_JWT	0x1

/* The most responders FCGI_CHILDREN may ask for. */
#define CONFIG_FCGI_CHILDREN_MAX 512
int	config_load_flags(struct config *c, const char *file, FILE *errs,
	    unsigned flags);
void	config_free(struct config *c);
/* Writes every variable with its default as a commented example file. */
void	config_write_example(FILE *out);
/* True when origin (the Origin header) is allowed by CORS_ORIGINS. */
bool	config_cors_allows(const struct config *c, const char *origin);

#endif
