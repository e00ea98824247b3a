/*
 * listen — the FastCGI listening socket: opened by the master from
 * FCGI_LISTEN, or inherited on fd 0 from spawn-fcgi or a web server's process
 * manager. The socket is non-blocking: every responder polls it and the one
 * that wins accept() takes the connection.
 */
#ifndef FB_LISTEN_H
#define FB_LISTEN_H

#include <stdio.h>

/* Opens "host:port", "[v6addr]:port" or a unix socket path (anything with a
 * '/'); a stale unix socket is replaced and given mode. Returns the fd, or -1
 * after writing one line to errs. */
int	listen_open(const char *spec, int mode, int backlog, FILE *errs);
/* Checks that fd 0 is a listening socket and makes it non-blocking.
 * Returns 0, or -1 after writing one line to errs. */
int	listen_inherited(FILE *errs);

#endif
