/*
 * fastback-fcgi — the FastCGI responder pool.
 *
 *   fastback-fcgi [--config FILE] [--check-config]
 *
 * With FCGI_LISTEN set it opens that socket; unset, it serves the listening
 * socket on fd 0 (spawn-fcgi, mod_fcgid). Exit status 2: bad configuration.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "listen.h"
#include "log.h"
#include "prefork.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: fastback-fcgi [--config FILE] [--check-config]\n");
}

int
main(int argc, char *argv[])
{
	struct app		 app;
	struct listen_socket	 sock;
	bool			 check_only = false;
	int			 i, status;

	memset(&app, 0, sizeof(app));
	memset(&sock, 0, sizeof(sock));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			app.config_file = argv[++i];
		else if (strcmp(argv[i], "--check-config") == 0)
			check_only = true;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (config_load(&app.cfg, app.config_file, stderr) != 0)
		return 2;
	log_setup("fastback-fcgi", app.cfg.log_level);
	if (app_load_keys(&app, stderr) != 0) {
		config_free(&app.cfg);
		return 2;
	}
	if (check_only) {
		app_free_keys(&app);
		printf("configuration is valid\n");
		config_free(&app.cfg);
		return 0;
	}
	if (app.cfg.fcgi_listen != NULL) {
		if (listen_open(app.cfg.fcgi_listen, app.cfg.fcgi_socket_mode,
		    app.cfg.fcgi_backlog, &sock, stderr) != 0) {
			app_free_keys(&app);
			config_free(&app.cfg);
			return 2;
		}
	} else if (listen_inherited(stderr) != 0) {
		app_free_keys(&app);
		config_free(&app.cfg);
		return 2;
	}	/* else fd 0, which sock (zeroed) already names */
	status = prefork_run(&app, &sock);
	listen_close(&sock);
	app_free_keys(&app);
	config_free(&app.cfg);
	return status;
}
