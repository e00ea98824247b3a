#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "clock.h"
#include "dispatch.h"
#include "generation.h"
#include "log.h"
#include "metrics.h"
#include "listen.h"
#include "prefork.h"

#define GRACE_SECONDS		30	/* SIGTERM: in-flight requests get this long */
#define DRAIN_MS		2000	/* SIGTERM: queued connections are served this long */
#define CONN_TIMEOUT_SECONDS	30	/* a web server that stalls mid-request */
#define RESPAWN_MAX_DELAY_MS	10000	/* throttle ceiling for crash loops */
#define QUICK_DEATH_MS		1000	/* a child that dies sooner "crashed at start" */

struct child {
	pid_t		pid;		/* 0: free slot */
	long long	started_ms;
	bool		retiring;	/* sent SIGUSR1 by a reload */
	bool		stale;		/* runs an older configuration */
};

/* The pool's shared socket pair for handing connections over, and which
 * responders are idle in epoll_pwait (a flag per child slot, in shared
 * memory; the master clears the flag of a child that died). */
struct handoff {
	int			 send_fd;
	int			 recv_fd;
	_Atomic unsigned char	*idle;
	size_t			 nslots;
	size_t			 self;		/* this responder's slot */
};

struct pool {
	struct app	*app;
	struct handoff	 handoff;
	int		 listen_fd;
	const struct listen_socket *sock;
	struct child	*kids;
	size_t		 nkids;		/* slots: 2 * FCGI_CHILDREN, for reloads */
	int		 quick_deaths;	/* consecutive children that died at start */
	long long	 respawn_at_ms;	/* throttled respawns wait until then */
	bool		 stopping;
	pid_t		 master_pid;
};

/* ---- the responder ---------------------------------------------------- */

/*
 * SIGTERM (the pool stops): finish the request in hand, then serve what is
 * already queued on the socket (the master has unlinked a unix socket, so
 * nothing new arrives) and exit. SIGUSR1 (a reload retires us): finish the
 * request in hand and exit; the other responders take the queue.
 */
static volatile sig_atomic_t responder_stop;
static volatile sig_atomic_t responder_drain;

static void
on_stop(int sig)
{
	responder_stop = 1;
	if (sig == SIGTERM || sig == SIGINT)
		responder_drain = 1;
}

/* A stop signal that arrived while we were busy stays pending (blocked):
 * take it now, so a steady stream of connections cannot hold us. */
static void
take_pending_stop(void)
{
	sigset_t	pending;

	sigpending(&pending);
	if (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT))
		responder_stop = responder_drain = 1;
	else if (sigismember(&pending, SIGUSR1))
		responder_stop = 1;
}

static void
serve_one(struct app *app, FCGX_Request *fr)
{
	struct request	req;
	long		bytes;

	request_init(&req, app, fr->envp, fr->in);
	dispatch(&req);
	bytes = response_write(&req, fr->out);
	dispatch_finish(&req, bytes);
	request_free(&req);
}

/*
 * Kept-alive connections. With nginx's `fastcgi_keep_conn on` (and an
 * upstream `keepalive` cache) the web server sends many requests over one
 * connection, which saves a connect, an accept and a close with its wakeups
 * per request. libfcgi on its own would pin a responder to such a connection
 * while it idles, starving new ones; here a responder holds up to MAX_CONNS of
 * them in its epoll set beside the listening socket, serves whichever has a
 * request ready, one request at a time, and still accepts new connections.
 * At the limit, the connection idle the longest is retired (conn_retire).
 */
#define MAX_CONNS	32
#define LISTEN_TAG	UINT64_MAX
#define HANDOFF_TAG	(UINT64_MAX - 1)
/* After a request that took this long, a responder hands requests waiting
 * on its other connections to an idle responder (see handoff_send). */
#define HANDOFF_AFTER_MS	5
/* After handing one over, a responder leaves the pair to the idle ones this
 * long before it takes connections from it again. */
#define HANDOFF_GRACE_MS	10
/* Of a body left unread, this much is read past; more closes the connection. */
#define FINISH_INPUT_MAX	65536
#define ACCEPT_ERROR_PAUSE_US	100000	/* after an unexpected accept error */
#define EVENTS_PER_WAIT		8
/* Idle this long, a responder gives freed heap memory back (malloc_trim). */
#define IDLE_TRIM_MS		1000

struct conn {
	FCGX_Request	fr;
	uint32_t	gen;		/* tells a stale epoll event from a reused slot */
	bool		used;
	bool		polled;		/* in the epoll set */
	bool		last;		/* close after the request in hand */
	long long	last_ms;	/* when its last request ended */
};

struct responder {
	struct app	*app;
	int		 listen_fd;
	const struct handoff *handoff;	/* NULL: no handing over */
	int		 epfd;
	struct conn	 conns[MAX_CONNS];
	size_t		 nconns;
	long long	 last_took_ms;	/* how long its last request took */
	bool		 trim_pending;	/* served since the last malloc_trim() */
	bool		 handoff_polled; /* the handoff pair is in the epoll set */
	long long	 handoff_sent_ms; /* when it last handed a connection over */
};

static uint64_t
conn_tag(const struct responder *r, const struct conn *c)
{
	return (uint64_t)c->gen << 32 | (uint64_t)(c - r->conns);
}

/*
 * Closes a connection. A plain close, unless input is left unread (a body
 * larger than we drain): then libfcgi's lingering close (shutdown, then up
 * to two seconds reading until the peer closes), since closing a TCP socket
 * with unread input sends a reset that can cost the web server our answer.
 * The plain close does not hold the responder while the web server reads.
 */
static void
conn_close(struct responder *r, struct conn *c, bool linger)
{
	if (c->fr.ipcFd >= 0 && !linger) {
		close(c->fr.ipcFd);	/* also leaves the epoll set */
		c->fr.ipcFd = -1;
	}
	c->fr.detached = 0;
	FCGX_Free(&c->fr, c->fr.ipcFd >= 0);
	c->fr.ipcFd = -1;
	c->used = c->polled = false;
	c->gen++;
	r->nconns--;
}

/*
 * Reads what is left of the request body (a route that did not need it, or
 * refused it), up to FINISH_INPUT_MAX: the next request on a kept connection
 * starts after it. False if more is left.
 */
static bool
finish_input(FCGX_Stream *in)
{
	char	buf[4096];
	size_t	total = 0;
	int	n;

	while (total < FINISH_INPUT_MAX && (n = FCGX_GetStr(buf, sizeof(buf), in)) > 0)
		total += (size_t)n;
	if (FCGX_HasSeenEOF(in) != EOF && total >= FINISH_INPUT_MAX)
		return FCGX_GetChar(in) == EOF;	/* exactly at the limit: the end? */
	return FCGX_HasSeenEOF(in) == EOF;
}

static void conn_serve(struct responder *, struct conn *);

/* Puts a connection in the epoll set: its next request is served when it
 * has arrived. */
static void
conn_watch(struct responder *r, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = conn_tag(r, c) };

	if (c->polled)
		return;
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, c->fr.ipcFd, &ev) != 0) {
		log_msg(FBLOG_ERROR, "responder: epoll_ctl: %s", strerror(errno));
		conn_close(r, c, false);
		return;
	}
	c->polled = true;
}

/*
 * Closes a kept connection the web server may be about to reuse: after
 * shutdown(SHUT_RD) its writes on a unix socket fail at once, unprocessed
 * (nginx sends an idempotent request again on another connection, and
 * answers a POST with 502), while a request it wrote before is still read
 * and answered.
 */
static void
conn_retire(struct responder *r, struct conn *c)
{
	struct pollfd	pfd = { .fd = c->fr.ipcFd, .events = POLLIN };

	if (c->fr.ipcFd >= 0 && shutdown(c->fr.ipcFd, SHUT_RD) == 0) {
		/* Readable from now on: a request, or the end of the stream. */
		c->last = true;
		if (poll(&pfd, 1, 0) > 0)
			conn_serve(r, c);
	}
	if (c->used)
		conn_close(r, c, false);
}

static struct conn *
conn_new(struct responder *r, int fd)
{
	struct conn	*c, *oldest = NULL;

	if (r->nconns == MAX_CONNS) {
		for (c = r->conns; c < r->conns + MAX_CONNS; c++)
			if (oldest == NULL || c->last_ms < oldest->last_ms)
				oldest = c;
		conn_retire(r, oldest);
	}
	for (c = r->conns; c->used; c++)
		;
	c->used = true;
	c->polled = c->last = false;
	c->last_ms = monotonic_ms();	/* not the slot's previous connection's */
	c->fr.ipcFd = fd;
	r->nconns++;
	return c;
}

/*
 * Reads the next request of a connection and answers it. Keeps the
 * connection if the web server asked for that (FCGI_KEEP_CONN), else closes
 * it. libfcgi blocks on the socket, within CONN_TIMEOUT_SECONDS.
 */
static void
conn_serve(struct responder *r, struct conn *c)
{
	bool		keep, done;
	long long	start = monotonic_ms();

	/* keepConnection stops the FCGX_Finish_r inside FCGX_Accept_r (and ours
	 * below) from closing the connection: we close it ourselves. */
	c->fr.keepConnection = 1;
	if (FCGX_Accept_r(&c->fr) < 0) {
		/* Closed by the web server, or broken: libfcgi has closed it. */
		conn_close(r, c, false);
		return;
	}
	keep = c->fr.keepConnection && !c->last;
	c->fr.keepConnection = 1;
	serve_one(r->app, &c->fr);
	done = finish_input(c->fr.in);
	FCGX_Finish_r(&c->fr);
	c->last_ms = monotonic_ms();
	r->last_took_ms = c->last_ms - start;
	if (!keep || !done || c->fr.ipcFd < 0) {
		conn_close(r, c, !done);
		return;
	}
	conn_watch(r, c);
}

/*
 * Handing a connection over. nginx reuses the kept connection freed last,
 * whatever responder holds it, so requests can queue behind a slow one (a
 * login's argon2id) on one responder while others idle, and keep doing so.
 * A responder whose last request took HANDOFF_AFTER_MS or more, and finds a
 * request waiting on another of its connections while some responder is
 * idle, sends that connection (SCM_RIGHTS, before reading anything from it)
 * over a datagram socket pair the whole pool shares; an idle responder takes
 * it like a new connection and keeps it. Nothing is lost if no one is idle
 * after all: the sender, too, takes connections from the pair.
 */
static bool
handoff_send(struct responder *r, struct conn *c)
{
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	align;
	} u;
	char		 byte = 'c';
	struct iovec	 iov = { &byte, 1 };
	struct msghdr	 msg = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr	*cm;

	memset(&u, 0, sizeof(u));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &c->fr.ipcFd, sizeof(int));
	if (sendmsg(r->handoff->send_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
		return false;	/* the pair is full: serve it here */
	/* Not taking it back ourselves before the idle responder can: we
	 * watch the pair again only when idle HANDOFF_GRACE_MS later. */
	if (r->handoff_polled && epoll_ctl(r->epfd, EPOLL_CTL_DEL, r->handoff->recv_fd, NULL) == 0)
		r->handoff_polled = false;
	r->handoff_sent_ms = monotonic_ms();
	/* The receiver holds the file open: leave the epoll set explicitly. */
	epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fr.ipcFd, NULL);
	conn_close(r, c, false);
	return true;
}

static bool
should_hand_off(const struct responder *r)
{
	size_t	i;

	if (r->handoff == NULL || r->last_took_ms < HANDOFF_AFTER_MS)
		return false;
	/* Claim the idle responder, so a batch of waiting requests is not all
	 * sent to the same one. */
	for (i = 0; i < r->handoff->nslots; i++) {
		unsigned char	one = 1;

		if (i != r->handoff->self &&
		    atomic_compare_exchange_strong(&r->handoff->idle[i], &one, 0))
			return true;
	}
	return false;
}

/* Takes a connection another responder handed over, and serves it (closing
 * it afterwards if last). False if there was none. */
static bool
handoff_receive(struct responder *r, bool last)
{
	union {
		char		buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	align;
	} u;
	char		 byte;
	struct iovec	 iov = { &byte, 1 };
	struct msghdr	 msg = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr	*cm;
	struct conn	*c;
	int		 fd;

	if (recvmsg(r->handoff->recv_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1)
		return false;	/* another responder took it */
	cm = CMSG_FIRSTHDR(&msg);
	if ((msg.msg_flags & MSG_CTRUNC) || cm == NULL || cm->cmsg_level != SOL_SOCKET ||
	    cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int))) {
		/* Only the pool writes to the pair: this cannot happen. Close
		 * whatever descriptors did arrive. */
		log_msg(FBLOG_ERROR, "responder: a malformed hand-over message");
		for (; cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				for (size_t k = 0; k < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++) {
					memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
					close(fd);
				}
		return true;
	}
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	c = conn_new(r, fd);
	c->last = last;
	conn_serve(r, c);
	return true;
}

/* Accepts one connection, with its timeouts; -1 when there was none. */
static int
conn_accept(struct responder *r)
{
	struct timeval	tv = { CONN_TIMEOUT_SECONDS, 0 };
	int		fd;

	fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		/* Another responder won the race, or the client left. */
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED) {
			log_msg(FBLOG_ERROR, "responder: accept: %s", strerror(errno));
			usleep(ACCEPT_ERROR_PAUSE_US);
		}
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void
accept_one(struct responder *r)
{
	struct conn	*c;
	char		 byte;
	int		 fd;

	if ((fd = conn_accept(r)) < 0)
		return;
	c = conn_new(r, fd);
	/* A web server sends the request right after connecting: serve it now
	 * if it is there, else wait for it with the others (never block on a
	 * connection that has sent nothing). */
	if (recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
		conn_serve(r, c);
	else
		conn_watch(r, c);
}

/*
 * Waits for a new connection or a request on a kept one, or a stop signal,
 * and serves what is ready. The signals are unblocked only inside the wait,
 * so no read or write of a request is ever cut by EINTR. EPOLLEXCLUSIVE wakes
 * one idle responder per new connection instead of all of them.
 */
static void
serve_ready(struct responder *r, const sigset_t *waitmask)
{
	struct epoll_event	evs[EVENTS_PER_WAIT];
	int			i, n;

	/* What arrived while we were busy; else idle until something does.
	 * Held access-log lines go out before we idle, not after. */
	n = epoll_pwait(r->epfd, evs, EVENTS_PER_WAIT, 0, waitmask);
	if (n == 0) {
		log_flush();
		if (r->handoff != NULL)
			atomic_store(&r->handoff->idle[r->handoff->self], 1);
		if (r->handoff != NULL && !r->handoff_polled) {
			/* Just handed one over: give the idle responder a moment
			 * to take it, then take handed-over connections again. */
			long long grace = r->handoff_sent_ms + HANDOFF_GRACE_MS - monotonic_ms();

			if (grace > 0)
				n = epoll_pwait(r->epfd, evs, EVENTS_PER_WAIT, (int)grace, waitmask);
			if (n == 0 && epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->handoff->recv_fd,
			    &(struct epoll_event){ .events = EPOLLIN | EPOLLEXCLUSIVE,
			    .data.u64 = HANDOFF_TAG }) == 0)
				r->handoff_polled = true;
		}
		if (n == 0)
			n = epoll_pwait(r->epfd, evs, EVENTS_PER_WAIT,
			    r->trim_pending ? IDLE_TRIM_MS : -1, waitmask);
		if (n == 0) {
			malloc_trim(0);
			r->trim_pending = false;
			n = epoll_pwait(r->epfd, evs, EVENTS_PER_WAIT, -1, waitmask);
		}
		if (r->handoff != NULL)
			atomic_store(&r->handoff->idle[r->handoff->self], 0);
		r->last_took_ms = 0;	/* nothing waited behind it */
	}
	r->trim_pending = true;
	if (n < 0) {
		if (errno != EINTR) {
			log_msg(FBLOG_ERROR, "responder: epoll_pwait: %s", strerror(errno));
			responder_stop = 1;
		}
		return;
	}
	for (i = 0; i < n && !responder_stop; i++) {
		uint64_t	 tag = evs[i].data.u64;
		struct conn	*c;

		if (tag == LISTEN_TAG) {
			accept_one(r);
		} else if (tag == HANDOFF_TAG) {
			handoff_receive(r, false);
		} else {
			c = &r->conns[tag & 0xffffffffu];
			if (!c->used || c->gen != (uint32_t)(tag >> 32))
				continue;
			if (!should_hand_off(r) || !handoff_send(r, c))
				conn_serve(r, c);
		}
		take_pending_stop();
	}
}

/* Serves the connections already queued on the socket, for at most DRAIN_MS. */
static void
drain_queue(struct responder *r)
{
	long long	 deadline = monotonic_ms() + DRAIN_MS;
	struct conn	*c;
	int		 fd;

	for (;;) {
		long long left = deadline - monotonic_ms();

		if (left <= 0)
			break;
		if ((fd = conn_accept(r)) < 0) {
			if (errno == ECONNABORTED || errno == EINTR)
				continue;
			break;		/* EAGAIN: the queue is empty */
		}
		/* Serve a request that is there or arrives in time; never wait
		 * past the deadline on a connection that sends nothing. */
		if (poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, (int)left) <= 0) {
			close(fd);
			continue;
		}
		c = conn_new(r, fd);
		c->last = true;		/* no kept-alive connection while leaving */
		conn_serve(r, c);
	}
	/* Connections handed over and not yet taken. */
	while (r->handoff != NULL && monotonic_ms() < deadline && handoff_receive(r, true))
		;
}

int
responder_run(struct app *app, int listen_fd, const struct handoff *handoff)
{
	struct sigaction sa;
	sigset_t	 block, waitmask;
	struct responder *r = NULL;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.u64 = LISTEN_TAG };
	size_t		 i;

	/* argon2id takes 19 MiB per hash. Mapped afresh for each (glibc's mmap
	 * of large blocks), it costs a page fault per 4 KiB every time, a third
	 * of the hash here. So large blocks come from the heap and stay there
	 * while requests come; after IDLE_TRIM_MS without one, malloc_trim()
	 * hands the memory back, and an idle responder is small again. */
	mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;	/* no SA_RESTART: epoll_pwait must return */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_SETMASK, &block, NULL);
	sigemptyset(&waitmask);

	if (db_open(&app->db, app->cfg.database_url, app->cfg.db_statement_timeout_ms,
	    "fastback-fcgi") == FB_ERR_NOMEM)
		goto fail;
	if (app->cfg.redis_url != NULL) {
		app->has_kv = true;
		if (kv_open(&app->kv, app->cfg.redis_url) == FB_ERR_NOMEM)
			goto fail;
	}
	memset(&app->rl, 0, sizeof(app->rl));
	app->rl.kv = app->has_kv ? &app->kv : NULL;
	app->rl.db = &app->db;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	r->app = app;
	r->listen_fd = listen_fd;
	r->handoff = handoff;
	if ((r->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, listen_fd, &ev) != 0) {
		log_msg(FBLOG_ERROR, "responder: epoll: %s", strerror(errno));
		goto fail;
	}
	if (FCGX_Init() != 0) {
		log_msg(FBLOG_ERROR, "responder: FCGX_Init failed");
		goto fail;
	}
	/* No listening socket of libfcgi's own: we accept. Should libfcgi try
	 * to accept (after a kept connection closed), it fails at once. */
	for (i = 0; i < MAX_CONNS; i++)
		FCGX_InitRequest(&r->conns[i].fr, -1, 0);
	log_batch(true);
	log_msg(FBLOG_DEBUG, "responder ready");

	while (!responder_stop)
		serve_ready(r, &waitmask);
	for (i = 0; i < MAX_CONNS; i++)
		if (r->conns[i].used)
			conn_retire(r, &r->conns[i]);
	/* SIGUSR1 too: with EPOLLEXCLUSIVE the wake-up for a connection still
	 * queued may have been ours alone, and nobody else would take it. */
	drain_queue(r);
	log_flush();
	close(r->epfd);
	free(r);
	db_close(&app->db);
	if (app->has_kv)
		kv_close(&app->kv);
	log_msg(FBLOG_DEBUG, "responder exits");
	return 0;
fail:
	if (r != NULL && r->epfd >= 0)
		close(r->epfd);
	free(r);
	db_close(&app->db);
	if (app->has_kv)
		kv_close(&app->kv);
	return 1;
}

/* ---- the master ------------------------------------------------------- */

/* The socket pair and idle flags responders hand connections over with
 * (handoff_send). Without them (no memory), responders keep what they have. */
static void
handoff_init(struct handoff *h, size_t nslots)
{
	int	sv[2];
	void	*p;

	memset(h, 0, sizeof(*h));
	h->send_fd = h->recv_fd = -1;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) != 0) {
		log_msg(FBLOG_WARN, "prefork: socketpair: %s; no handing over", strerror(errno));
		return;
	}
	p = mmap(NULL, nslots * sizeof(*h->idle), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		log_msg(FBLOG_WARN, "prefork: mmap: %s; no handing over", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return;
	}
	h->send_fd = sv[0];
	h->recv_fd = sv[1];
	h->idle = p;	/* anonymous mappings start zeroed */
	h->nslots = nslots;
}

static void
spawn(struct pool *p, struct child *k)
{
	pid_t	pid;
	int	status;

	pid = fork();
	if (pid < 0) {
		log_msg(FBLOG_ERROR, "prefork: fork: %s", strerror(errno));
		p->respawn_at_ms = monotonic_ms() + 1000;
		return;
	}
	if (pid == 0) {
		/* Responders whose master was killed drain and go, rather than
		 * serve a socket nobody manages. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != p->master_pid)
			_exit(1);
		log_after_fork();
		p->handoff.self = (size_t)(k - p->kids);
		status = responder_run(p->app, p->listen_fd,
		    p->handoff.idle != NULL && p->handoff.self < p->handoff.nslots ?
		    &p->handoff : NULL);
		_exit(status);
	}
	k->pid = pid;
	k->started_ms = monotonic_ms();
	k->retiring = false;
	k->stale = false;
}

static size_t
count_live(const struct pool *p, bool include_retiring)
{
	size_t	i, n = 0;

	for (i = 0; i < p->nkids; i++)
		if (p->kids[i].pid > 0 && (include_retiring || !p->kids[i].retiring))
			n++;
	return n;
}

static struct child *
free_slot(struct pool *p)
{
	size_t	i;

	for (i = 0; i < p->nkids; i++)
		if (p->kids[i].pid == 0)
			return &p->kids[i];
	return NULL;
}

/* Brings the number of serving children up to FCGI_CHILDREN (unless throttled). */
static void
fill(struct pool *p)
{
	struct child	*k;

	while (!p->stopping && monotonic_ms() >= p->respawn_at_ms &&
	    count_live(p, false) < (size_t)p->app->cfg.fcgi_children &&
	    (k = free_slot(p)) != NULL)
		spawn(p, k);
}

/* One step of a rolling reload: when no child is retiring, start a fresh one
 * (fill does that) and retire one stale child. */
static void
roll(struct pool *p)
{
	size_t	i;

	for (i = 0; i < p->nkids; i++)
		if (p->kids[i].pid > 0 && p->kids[i].retiring)
			return;		/* wait for it to go */
	if (count_live(p, false) < (size_t)p->app->cfg.fcgi_children)
		return;			/* its replacement is not up yet */
	for (i = 0; i < p->nkids; i++)
		if (p->kids[i].pid > 0 && p->kids[i].stale) {
			p->kids[i].retiring = true;
			kill(p->kids[i].pid, SIGUSR1);
			/* Start its successor now, so the pool never shrinks. */
			if (!p->stopping) {
				struct child *k = free_slot(p);
				if (k != NULL)
					spawn(p, k);
			}
			return;
		}
	/* Shrinking after a reload lowered FCGI_CHILDREN. */
	if (count_live(p, false) > (size_t)p->app->cfg.fcgi_children)
		for (i = 0; i < p->nkids; i++)
			if (p->kids[i].pid > 0 && !p->kids[i].retiring) {
				p->kids[i].retiring = true;
				kill(p->kids[i].pid, SIGUSR1);
				return;
			}
}

static void
reap(struct pool *p)
{
	pid_t		 pid;
	int		 status;
	size_t		 i;
	long long	 lived;
	long long	 delay;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < p->nkids; i++)
			if (p->kids[i].pid == pid)
				break;
		if (i == p->nkids)
			continue;
		lived = monotonic_ms() - p->kids[i].started_ms;
		if (!p->stopping && !p->kids[i].retiring) {
			log_event(FBLOG_ERROR, json_pack("{s:s,s:i,s:i,s:i,s:I}",
			    "msg", "responder died", "child", (int)pid,
			    "exit", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			    "signal", WIFSIGNALED(status) ? WTERMSIG(status) : 0,
			    "lived_ms", (json_int_t)lived));
			if (lived < QUICK_DEATH_MS) {
				p->quick_deaths++;
				delay = 100LL << (p->quick_deaths < 7 ? p->quick_deaths : 7);
				if (delay > RESPAWN_MAX_DELAY_MS)
					delay = RESPAWN_MAX_DELAY_MS;
				p->respawn_at_ms = monotonic_ms() + delay;
				log_msg(FBLOG_WARN, "prefork: responders die at start; "
				    "next in %lld ms", delay);
			} else
				p->quick_deaths = 0;
		}
		memset(&p->kids[i], 0, sizeof(p->kids[i]));
		if (p->handoff.idle != NULL && i < p->handoff.nslots)
			atomic_store(&p->handoff.idle[i], 0);	/* it died idle, maybe */
	}
}

static bool
reload(struct pool *p)
{
	struct config	 fresh;
	size_t		 i, want;
	struct child	*grown;

	if (config_load(&fresh, p->app->config_file, stderr) != 0) {
		log_msg(FBLOG_ERROR, "prefork: SIGHUP: the new configuration is invalid; "
		    "keeping the running one");
		return false;
	}
	if ((fresh.fcgi_listen == NULL) != (p->app->cfg.fcgi_listen == NULL) ||
	    (fresh.fcgi_listen != NULL &&
	    strcmp(fresh.fcgi_listen, p->app->cfg.fcgi_listen) != 0))
		log_msg(FBLOG_WARN, "prefork: FCGI_LISTEN changes need a restart");
	want = 2 * (size_t)fresh.fcgi_children + 1;
	if (want > p->nkids) {
		grown = realloc(p->kids, want * sizeof(*grown));
		if (grown == NULL) {
			config_free(&fresh);
			return false;
		}
		memset(grown + p->nkids, 0, (want - p->nkids) * sizeof(*grown));
		p->kids = grown;
		p->nkids = want;
	}
	{
		struct app	probe;

		/* The new keys must load before anything is replaced. */
		memset(&probe, 0, sizeof(probe));
		probe.cfg = fresh;
		if (app_load_keys(&probe, stderr) != 0) {
			log_msg(FBLOG_ERROR, "prefork: SIGHUP: the new token keys do not "
			    "load; keeping the running configuration");
			config_free(&fresh);
			return false;
		}
		app_free_keys(p->app);
		p->app->jwt = probe.jwt;
		p->app->pw = probe.pw;
		p->app->keys = probe.keys;
	}
	config_free(&p->app->cfg);
	p->app->cfg = fresh;
	log_setup("fastback-fcgi", fresh.log_level);
	for (i = 0; i < p->nkids; i++)
		if (p->kids[i].pid > 0)
			p->kids[i].stale = true;
	p->quick_deaths = 0;
	p->respawn_at_ms = 0;
	log_msg(FBLOG_INFO, "prefork: configuration reloaded; replacing responders");
	return true;
}

static void
drain(struct pool *p)
{
	size_t		 i;
	long long	 deadline = monotonic_ms() + GRACE_SECONDS * 1000LL;
	sigset_t	 set;
	struct timespec	 tick = { 0, 100 * 1000000 };

	p->stopping = true;
	/* No new connections from here on; the queued ones are served. */
	listen_unlink(p->sock);
	for (i = 0; i < p->nkids; i++)
		if (p->kids[i].pid > 0)
			kill(p->kids[i].pid, SIGTERM);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	while (count_live(p, true) > 0) {
		reap(p);
		if (count_live(p, true) == 0)
			break;
		if (monotonic_ms() > deadline) {
			log_msg(FBLOG_WARN, "prefork: grace period over; killing responders");
			for (i = 0; i < p->nkids; i++)
				if (p->kids[i].pid > 0)
					kill(p->kids[i].pid, SIGKILL);
			deadline = monotonic_ms() + 5000;
		}
		sigtimedwait(&set, NULL, &tick);
	}
}

int
prefork_run(struct app *app, const struct listen_socket *sock)
{
	struct pool	 p;
	sigset_t	 set;
	siginfo_t	 info;
	struct timespec	 tick = { 0, 200 * 1000000 };
	struct sigaction sa;
	int		 sig;

	memset(&p, 0, sizeof(p));
	p.app = app;
	p.listen_fd = sock->fd;
	p.sock = sock;
	p.master_pid = getpid();
	p.nkids = 2 * (size_t)app->cfg.fcgi_children + 1;
	if ((p.kids = calloc(p.nkids, sizeof(*p.kids))) == NULL)
		return 1;
	if (metrics_init() != FB_OK)
		log_msg(FBLOG_WARN, "prefork: metrics disabled (no shared memory)");
	if (generation_init() != FB_OK)
		log_msg(FBLOG_WARN, "prefork: change counters are per responder (no shared memory)");
	handoff_init(&p.handoff, 2 * CONFIG_FCGI_CHILDREN_MAX + 1);	/* every slot there can be */

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);

	log_event(FBLOG_INFO, json_pack("{s:s,s:i,s:s}", "msg", "pool starting",
	    "children", app->cfg.fcgi_children, "listen",
	    app->cfg.fcgi_listen != NULL ? app->cfg.fcgi_listen : "fd 0"));
	fill(&p);
	for (;;) {
		sig = sigtimedwait(&set, &info, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			log_msg(FBLOG_INFO, "pool stopping (%s)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		}
		if (sig == SIGHUP)
			reload(&p);
		reap(&p);
		fill(&p);
		roll(&p);
	}
	drain(&p);
	free(p.kids);
	log_msg(FBLOG_INFO, "pool stopped");
	return 0;
}
