#include "routes.h"

/* Literal routes before parameterised ones: the first match wins. */
#define J	ROUTE_JSON_BODY
#define AL	ROUTE_AUTH_LIMIT
#define NL	ROUTE_NO_LIMIT
#define IK	ROUTE_IDEMPOTENT

/* Literal routes before parameterised ones: the first match wins. */
const struct route routes[] = {
	{ M_GET, "/health", health_get, AUTH_NONE, NULL, NL,
	  "Liveness: answers without touching any dependency" },
	{ M_GET, "/ready", ready_get, AUTH_NONE, NULL, NL,
	  "Readiness: PostgreSQL and Redis with latency" },
	{ M_GET, "/metrics", metrics_get, AUTH_METRICS, NULL, NL,
	  "Prometheus metrics of the whole pool" },
	{ M_GET, "/api/openapi.json", openapi_get, AUTH_NONE, NULL, NL,
	  "This OpenAPI 3.1 document" },
	{ M_GET, "/api/docs", docs_get, AUTH_NONE, NULL, NL,
	  "HTML page rendering the OpenAPI document" },
	{ M_GET, "/api/docs.js", docs_js_get, AUTH_NONE, NULL, NL,
	  "Script of the documentation page" },
	{ M_GET, "/.well-known/jwks.json", jwks_get, AUTH_NONE, NULL, NL,
	  "Public keys of asymmetric token signing" },

	{ M_POST, "/api/auth/register", auth_register, AUTH_NONE, auth_register_in, J | AL,
	  "Create an account; a verification email follows (202 whatever the address)" },
	{ M_POST, "/api/auth/verify-email", auth_verify_email, AUTH_NONE, auth_token_in, J | AL,
	  "Confirm an address with the emailed token" },
	{ M_POST, "/api/auth/resend-verification", auth_resend_verification, AUTH_NONE,
	  auth_email_in, J | AL, "Send the verification email again (202 always)" },
	{ M_POST, "/api/auth/login", auth_login, AUTH_NONE, auth_login_in, J | AL,
	  "Sign in with email and password: Tokens" },
	{ M_POST, "/api/auth/refresh", auth_refresh, AUTH_NONE, auth_refresh_in, J | AL,
	  "Rotate a refresh token: Tokens" },
	{ M_POST, "/api/auth/logout", auth_logout, AUTH_USER, auth_logout_in, J,
	  "End the current session" },
	{ M_GET, "/api/auth/sessions", auth_sessions_list, AUTH_USER, NULL, 0,
	  "The caller's live sessions" },
	{ M_DELETE, "/api/auth/sessions", auth_sessions_delete_others, AUTH_USER, NULL, 0,
	  "End every session but the current one" },
	{ M_DELETE, "/api/auth/sessions/{id}", auth_session_delete, AUTH_USER, NULL, 0,
	  "End one session" },
	{ M_POST, "/api/auth/change-password", auth_change_password, AUTH_USER,
	  auth_change_password_in, J, "Change the password; other sessions end" },
	{ M_POST, "/api/auth/forgot-password", auth_forgot_password, AUTH_NONE, auth_email_in,
	  J | AL, "Email a password-reset link (202 always)" },
	{ M_POST, "/api/auth/reset-password", auth_reset_password, AUTH_NONE,
	  auth_reset_password_in, J | AL, "Set a new password with the emailed token" },

	{ M_POST, "/api/auth/2fa/verify", mfa_verify, AUTH_NONE, mfa_verify_in, J | AL,
	  "Second sign-in step with a TOTP code: Tokens (amr pwd, otp)" },
	{ M_POST, "/api/auth/2fa/backup/verify", mfa_backup_verify, AUTH_NONE, mfa_verify_in,
	  J | AL, "Second sign-in step with a backup code (used up): Tokens" },
	{ M_POST, "/api/auth/2fa/enroll", mfa_enroll, AUTH_USER, NULL, 0,
	  "Start TOTP enrollment: secret, otpauth URI, QR code (SVG, PNG)" },
	{ M_POST, "/api/auth/2fa/confirm", mfa_confirm, AUTH_USER, mfa_code_in, J,
	  "Turn 2FA on with the first code: the backup codes, shown once" },
	{ M_POST, "/api/auth/2fa/disable", mfa_disable_route, AUTH_USER, mfa_disable_in, J,
	  "Turn 2FA off with the password and a current code" },
	{ M_POST, "/api/auth/2fa/backup-codes", mfa_backup_codes_route, AUTH_USER, mfa_code_in,
	  J, "Replace the backup codes" },

	{ M_POST, "/api/invitations/accept", invitation_accept, AUTH_NONE, invitation_accept_in,
	  J | AL, "Accept an invitation: creates the account, Tokens" },
	{ M_POST, "/api/invitations", invitation_create, AUTH_ADMIN, invitation_create_in, J | IK,
	  "Invite someone by email" },
	{ M_GET, "/api/invitations", invitation_list, AUTH_ADMIN, NULL, 0,
	  "Pending invitations" },
	{ M_DELETE, "/api/invitations/{id}", invitation_delete, AUTH_ADMIN, NULL, 0,
	  "Revoke an invitation" },

	{ M_GET, "/api/me/api-keys", apikey_list, AUTH_USER, NULL, 0,
	  "The caller's provider API keys (last four characters only)" },
	{ M_POST, "/api/me/api-keys/{provider}/test", apikey_test, AUTH_USER, NULL, 0,
	  "Check the stored key with a real request to the provider" },
	{ M_PUT, "/api/me/api-keys/{provider}", apikey_put, AUTH_USER, apikey_put_in, J,
	  "Store a provider API key (sealed)" },
	{ M_DELETE, "/api/me/api-keys/{provider}", apikey_delete, AUTH_USER, NULL, 0,
	  "Forget a provider API key" },
	{ M_GET, "/api/me/preferences", preferences_get_route, AUTH_USER, NULL, 0,
	  "The caller's preferences, with defaults" },
	{ M_PUT, "/api/me/preferences", preferences_put_route, AUTH_USER, preferences_in, J,
	  "Change preferences (partial; unknown keys are refused)" },
	{ M_GET, "/api/me/export", me_export, AUTH_USER, NULL, 0,
	  "Everything stored about the caller, as a download" },
	{ M_GET, "/api/me", me_get, AUTH_USER, NULL, 0, "The caller" },
	{ M_PATCH, "/api/me", me_patch, AUTH_USER, me_patch_in, J, "Rename the caller" },
	{ M_DELETE, "/api/me", me_delete, AUTH_USER, me_delete_in, J,
	  "Delete the caller's account and everything it owns" },

	{ M_GET, "/api/settings", settings_all, AUTH_USER, NULL, 0,
	  "All the caller's settings by category" },
	{ M_GET, "/api/settings/{category}", settings_category, AUTH_USER, NULL, 0,
	  "The caller's settings of one category" },
	{ M_PUT, "/api/settings/{category}/{key}", settings_put_route, AUTH_USER,
	  setting_put_in, J, "Set a value (any JSON, at most 16 KiB)" },
	{ M_DELETE, "/api/settings/{category}/{key}", settings_delete_route, AUTH_USER, NULL, 0,
	  "Remove a setting" },

	/* teams.c — /api/teams (keep this block together) */

	/* cms.c — /api/services, /api/projects, /api/blog-posts, /api/testimonials,
	 * /api/search (keep this block together) */

	/* notifications.c — /api/notifications (keep this block together) */
	{ M_POST, "/api/notifications/read-all", notification_read_all, AUTH_USER, NULL, 0,
	  "Mark every notification read" },
	{ M_GET, "/api/notifications", notification_list, AUTH_USER, NULL, 0,
	  "The caller's notifications, newest first, with unread_count; ?unread=true" },
	{ M_POST, "/api/notifications", notification_create, AUTH_ADMIN, notification_create_in,
	  J | IK, "Notify a user (an email copy when their preferences allow)" },
	{ M_PUT, "/api/notifications/{id}/read", notification_read, AUTH_USER, NULL, 0,
	  "Mark one notification read" },

	{ M_GET, "/api/admin/users", admin_users_list, AUTH_ADMIN, NULL, 0,
	  "Users, newest first; ?q= searches email and name" },
	{ M_PATCH, "/api/admin/users/{id}", admin_user_patch, AUTH_ADMIN, admin_user_patch_in, J,
	  "Change a user's role, or disable them (ending every session)" },
	{ M_GET, "/api/admin/audit-log", admin_audit_log, AUTH_ADMIN, NULL, 0,
	  "Audit entries, newest first; ?actor_id=&action=&since=" },
	{ M_GET, "/api/admin/jobs", admin_jobs_list, AUTH_ADMIN, NULL, 0,
	  "Jobs, newest first; ?state=queued|running|succeeded|dead|cancelled" },
	{ M_POST, "/api/admin/jobs/{id}/retry", admin_job_retry, AUTH_ADMIN, NULL, 0,
	  "Queue a dead or cancelled job again" },
};
const size_t routes_count = sizeof(routes) / sizeof(routes[0]);

const char *
route_label(size_t id)
{
	return id < routes_count ? routes[id].pattern : "unmatched";
}
