/*
 * fastbackctl — the operator's tool.
 *
 *   fastbackctl [--config FILE] migrate status|list|pending|run [NAME] [--dir DIR]
 *   fastbackctl [--config FILE] jobs list|retry|cancel|stats
 *   fastbackctl [--config FILE] cron TASK
 *   fastbackctl [--config FILE] mail test ADDRESS
 *   fastbackctl [--config FILE] config check
 *   fastbackctl config example
 *
 * Exit status: 0 done, 1 the command failed, 2 bad usage or configuration.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"
#include "db.h"
#include "log.h"
#include "migrate.h"

static int
usage(void)
{
	fprintf(stderr,
	    "usage: fastbackctl [--config FILE] COMMAND\n"
	    "  migrate status | list | pending | run [NAME]   [--dir DIR]\n"
	    "  jobs list [--state S] [--kind K] [--limit N] | retry ID | cancel ID | stats\n"
	    "  cron TASK                                       (cleanup)\n"
	    "  mail test ADDRESS\n"
	    "  user create-admin EMAIL                        (password on stdin)\n"
	    "  users import FILE.jsonl                        (bcrypt hashes accepted)\n"
	    "  audit verify [--head SEQ:HASH]\n"
	    "  keys rotate                                    (re-seal secrets under the current key)\n"
	    "  config check | example\n");
	return 2;
}

static int
cmd_migrate(const struct config *cfg, int argc, char **argv)
{
	struct migration_set	 set;
	struct db		 db;
	const char		*dir = NULL, *target = NULL, *command;
	int			 i, status;

	if (argc < 1)
		return usage();
	command = argv[0];
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (target == NULL && strcmp(command, "run") == 0)
			target = argv[i];
		else
			return usage();
	}
	if ((dir != NULL ? migrations_from_dir(dir, &set, stderr) :
	    migrations_builtin(&set)) != FB_OK)
		return 1;
	if (db_open(&db, cfg->database_url, 0, "fastbackctl") != FB_OK) {
		fprintf(stderr, "migrate: cannot connect to the database (DATABASE_URL)\n");
		db_close(&db);
		migrations_free(&set);
		return 1;
	}
	status = migrate_command(&db, &set, command, target, stdout, stderr);
	db_close(&db);
	migrations_free(&set);
	return status;
}

int
main(int argc, char *argv[])
{
	struct config	 cfg;
	const char	*file = NULL;
	int		 i = 1, status;

	if (argc >= 3 && strcmp(argv[1], "--config") == 0) {
		file = argv[2];
		i = 3;
	}
	if (i >= argc)
		return usage();
	if (strcmp(argv[i], "config") == 0 && i + 1 < argc &&
	    strcmp(argv[i + 1], "example") == 0) {
		config_write_example(stdout);
		return 0;
	}
	if (config_load_flags(&cfg, file, stderr, CONFIG_NO_JWT) != 0)
		return 2;
	log_setup("fastbackctl", cfg.log_level > FBLOG_WARN ? cfg.log_level : FBLOG_WARN);
	if (strcmp(argv[i], "migrate") == 0)
		status = cmd_migrate(&cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "jobs") == 0)
		status = ctl_jobs(&cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "cron") == 0)
		status = ctl_cron(&cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "mail") == 0)
		status = ctl_mail(&cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "user") == 0 || strcmp(argv[i], "users") == 0)
		status = ctl_users(&cfg, argc - i, argv + i);
	else if (strcmp(argv[i], "keys") == 0)
		status = ctl_keys(&cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "audit") == 0)
		status = ctl_audit(&cfg, argc - i - 1, argv + i + 1);
	else if (strcmp(argv[i], "config") == 0 && i + 1 < argc &&
	    strcmp(argv[i + 1], "check") == 0) {
		printf("configuration is valid\n");
		status = 0;
	} else
		status = usage();
	config_free(&cfg);
	return status;
}
