#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listen.h"

static int
listen_unix(const char *path, int mode, int backlog, FILE *errs)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(errs, "FCGI_LISTEN: socket path is longer than %zu bytes\n",
		    sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* Replace a stale socket of an earlier run, but never another file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(errs, "FCGI_LISTEN: %s exists and is not a socket\n", path);
			return -1;
		}
		if (unlink(path) != 0) {
			fprintf(errs, "FCGI_LISTEN: cannot remove stale %s: %s\n", path,
			    strerror(errno));
			return -1;
		}
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0) {
		fprintf(errs, "FCGI_LISTEN: socket: %s\n", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(path, (mode_t)mode) != 0 || listen(fd, backlog) != 0) {
		fprintf(errs, "FCGI_LISTEN: %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
listen_tcp(const char *spec, int backlog, FILE *errs)
{
	struct addrinfo	 hints, *res = NULL;
	char		 host[256];
	const char	*port, *h;
	size_t		 hlen;
	int		 fd = -1, on = 1, rc;

	if (spec[0] == '[') {
		h = spec + 1;
		port = strstr(spec, "]:");
		if (port == NULL)
			goto bad;
		hlen = (size_t)(port - h);
		port += 2;
	} else {
		h = spec;
		port = strrchr(spec, ':');
		if (port == NULL)
			goto bad;
		hlen = (size_t)(port - h);
		port++;
	}
	if (hlen == 0 || hlen >= sizeof(host) || *port == '\0' || strlen(port) > 5 ||
	    strspn(port, "0123456789") != strlen(port) ||
	    strtol(port, NULL, 10) < 1 || strtol(port, NULL, 10) > 65535)
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		fprintf(errs, "FCGI_LISTEN: %s: %s\n", spec, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
		fprintf(errs, "FCGI_LISTEN: %s: %s\n", spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
bad:
	fprintf(errs, "FCGI_LISTEN must be host:port, [v6addr]:port or a socket path "
	    "(got \"%.80s\")\n", spec);
	return -1;
}

int
listen_open(const char *spec, int mode, int backlog, struct listen_socket *out,
    FILE *errs)
{
	struct stat	st;

	memset(out, 0, sizeof(*out));
	if (strchr(spec, '/') == NULL) {
		out->fd = listen_tcp(spec, backlog, errs);
		return out->fd >= 0 ? 0 : -1;
	}
	if ((out->fd = listen_unix(spec, mode, backlog, errs)) < 0)
		return -1;
	if (lstat(spec, &st) != 0 || (out->path = strdup(spec)) == NULL) {
		fprintf(errs, "FCGI_LISTEN: %s: %s\n", spec, strerror(errno));
		close(out->fd);
		return -1;
	}
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	return 0;
}

void
listen_unlink(const struct listen_socket *s)
{
	struct stat	st;

	if (s->path != NULL && lstat(s->path, &st) == 0 && st.st_ino == s->ino &&
	    st.st_dev == s->dev)
		unlink(s->path);
}

void
listen_close(struct listen_socket *s)
{
	listen_unlink(s);
	if (s->fd > 0)
		close(s->fd);
	free(s->path);
	memset(s, 0, sizeof(*s));
}

int
listen_inherited(FILE *errs)
{
	int		 type = 0, accepting = 0, flags;
	socklen_t	 len = sizeof(type);

	if (getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
		fprintf(errs, "FCGI_LISTEN is unset and fd 0 is not a stream socket: "
		    "set FCGI_LISTEN, or start fastback-fcgi from spawn-fcgi or a "
		    "web server's FastCGI process manager\n");
		return -1;
	}
	len = sizeof(accepting);
	if (getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) != 0 || !accepting) {
		fprintf(errs, "fd 0 is a socket but not a listening one\n");
		return -1;
	}
	if ((flags = fcntl(0, F_GETFL)) < 0 || fcntl(0, F_SETFL, flags | O_NONBLOCK) < 0) {
		fprintf(errs, "fd 0: fcntl: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}
