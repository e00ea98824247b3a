/*
 * routes — the route table of the responder (one static const array) and the
 * handlers it names. Each resource file (health.c, ...) owns its handlers.
 */
#ifndef FB_ROUTES_H
#define FB_ROUTES_H

#include <stddef.h>

#include "router.h"
#include "users.h"

extern const struct route routes[];
extern const size_t routes_count;
/* The metrics label of a route id: its pattern, or "unmatched" past the table. */
const char *route_label(size_t id);

/* health.c */
void	health_get(struct request *req);
void	ready_get(struct request *req);
void	metrics_get(struct request *req);
/* auth.c */
extern const struct field auth_register_in[], auth_token_in[], auth_email_in[],
    auth_login_in[], auth_refresh_in[], auth_logout_in[], auth_change_password_in[],
    auth_reset_password_in[];
void	auth_register(struct request *req);
void	auth_verify_email(struct request *req);
void	auth_resend_verification(struct request *req);
void	auth_login(struct request *req);
void	auth_refresh(struct request *req);
void	auth_logout(struct request *req);
void	auth_sessions_list(struct request *req);
void	auth_session_delete(struct request *req);
void	auth_sessions_delete_others(struct request *req);
void	auth_change_password(struct request *req);
void	auth_forgot_password(struct request *req);
void	auth_reset_password(struct request *req);
/* mfa.c */
extern const struct field mfa_code_in[], mfa_verify_in[], mfa_disable_in[];
void	mfa_enroll(struct request *req);
void	mfa_confirm(struct request *req);
void	mfa_disable_route(struct request *req);
void	mfa_backup_codes_route(struct request *req);
void	mfa_verify(struct request *req);
void	mfa_backup_verify(struct request *req);
void	mfa_challenge_answer(struct request *req, const struct user *u);
/* me.c */
extern const struct field me_patch_in[], me_delete_in[];
void	me_get(struct request *req);
void	me_patch(struct request *req);
void	me_delete(struct request *req);
void	me_export(struct request *req);
/* apikeys.c */
extern const struct field apikey_put_in[];
void	apikey_list(struct request *req);
void	apikey_put(struct request *req);
void	apikey_delete(struct request *req);
void	apikey_test(struct request *req);
/* invitations.c */
extern const struct field invitation_create_in[], invitation_accept_in[];
void	invitation_create(struct request *req);
void	invitation_list(struct request *req);
void	invitation_delete(struct request *req);
void	invitation_accept(struct request *req);
/* admin.c */
extern const struct field admin_user_patch_in[];
void	admin_users_list(struct request *req);
void	admin_user_patch(struct request *req);
void	admin_audit_log(struct request *req);
void	admin_jobs_list(struct request *req);
void	admin_job_retry(struct request *req);
/* settings.c */
extern const struct field setting_put_in[], preferences_in[];
void	settings_all(struct request *req);
void	settings_category(struct request *req);
void	settings_put_route(struct request *req);
void	settings_delete_route(struct request *req);
void	preferences_get_route(struct request *req);
void	preferences_put_route(struct request *req);
/* teams.c */
extern const struct field team_name_in[], team_invite_in[], team_accept_in[],
    team_member_in[];
void	team_list(struct request *req);
void	team_create(struct request *req);
void	team_get(struct request *req);
void	team_rename(struct request *req);
void	team_delete(struct request *req);
void	team_invite(struct request *req);
void	team_accept(struct request *req);
void	team_member_patch(struct request *req);
void	team_member_delete(struct request *req);

/* cms.c */
void	cms_list_route(struct request *req);
void	cms_get_route(struct request *req);
void	cms_create_route(struct request *req);
void	cms_update_route(struct request *req);
void	cms_delete_route(struct request *req);
void	cms_search_route(struct request *req);

/* notifications.c */
extern const struct field notification_create_in[];
void	notification_list(struct request *req);
void	notification_create(struct request *req);
void	notification_read(struct request *req);
void	notification_read_all(struct request *req);

/* openapi.c */
void	openapi_get(struct request *req);
void	docs_get(struct request *req);
void	docs_js_get(struct request *req);
void	jwks_get(struct request *req);

#endif
