/*
 * listen — the FastCGI listening socket: opened by the master from
 * FCGI_LISTEN, or inherited on fd 0 from spawn-fcgi or a web server's process
 * manager. The socket is non-blocking: every responder polls it and the one
 * that wins accept() takes the connection.
 */
#ifndef FB_LISTEN_H
#define FB_LISTEN_H

#include <stdio.h>

#include <stdbool.h>
#include <sys/types.h>

struct listen_socket {
	int	 fd;
	char	*path;		/* a unix socket's path (or NULL) */
	dev_t	 dev;		/* of the socket file we made, to tell it from */
	ino_t	 ino;		/* a newer one at the same path */
};

/* Opens "host:port", "[v6addr]:port" or a unix socket path (anything with a
 * '/'); a stale unix socket is replaced and given mode. Returns 0, or -1
 * after writing one line to errs. */
int	listen_open(const char *spec, int mode, int backlog, struct listen_socket *out,
	    FILE *errs);
/* Removes our unix socket file (once; not if another process replaced it). */
void	listen_unlink(const struct listen_socket *s);
/* Closes the socket, removes its file, frees the path. */
void	listen_close(struct listen_socket *s);
/* Checks that fd 0 is a listening socket and makes it non-blocking.
 * Returns 0, or -1 after writing one line to errs. */
int	listen_inherited(FILE *errs);

#endif
