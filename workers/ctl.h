/*
 * ctl — fastbackctl's commands, one file each. Every command returns a
 * process exit status: 0 done, 1 failed, 2 bad usage.
 */
#ifndef FB_CTL_H
#define FB_CTL_H

#include "config.h"

int	ctl_cron(const struct config *cfg, int argc, char **argv);
int	ctl_jobs(const struct config *cfg, int argc, char **argv);
/* "user create-admin EMAIL" and "users import FILE" (argv[0] is user/users). */
int	ctl_users(const struct config *cfg, int argc, char **argv);
int	ctl_audit(const struct config *cfg, int argc, char **argv);
int	ctl_keys(const struct config *cfg, int argc, char **argv);
/* fastbackctl mail test ADDRESS: sends the "test" template synchronously
 * with SMTP_URL and MAIL_FROM; 2 when either is unset (workers/ctl_mail.c). */
int	ctl_mail(const struct config *cfg, int argc, char **argv);

#endif
