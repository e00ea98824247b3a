/*
 * prefork — the responder pool. The master forks FCGI_CHILDREN responders
 * that share the listening socket, replaces any that die (throttled when they
 * die in a loop), drains on SIGTERM/SIGINT (a unix socket is unlinked so no
 * new connection arrives; in-flight requests finish and the connections
 * already queued are served) and on SIGHUP re-reads the configuration and
 * replaces the responders one at a time (SIGUSR1 retires one), starting each
 * new one before retiring an old one, so the pool never shrinks and no
 * request in hand or queued is dropped (a web server's kept-alive connection
 * retired as it sends on it fails at once; see README, Operations). Signals
 * are taken
 * synchronously with sigtimedwait(): no work happens in a signal handler.
 */
#ifndef FB_PREFORK_H
#define FB_PREFORK_H

#include "app.h"

/* Runs the master until it is told to stop. app->cfg is loaded; listen_fd is
 * the FastCGI socket. Returns the process exit status. */
struct listen_socket;
int	prefork_run(struct app *app, const struct listen_socket *sock);
/* The body of one responder: serves requests on listen_fd until SIGTERM,
 * handing waiting connections to idle peers over handoff (NULL: never).
 * Returns the exit status. */
struct handoff;
int	responder_run(struct app *app, int listen_fd, const struct handoff *handoff);

#endif
