#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "worker.h"

#define HEARTBEAT_EVERY_MS	(1000LL * w->cfg.worker_lease_seconds / 3)
#define RESCUE_EVERY_MS		(1000LL * w->cfg.worker_lease_seconds / 2)
#define PRUNE_EVERY_MS		(10 * 60 * 1000LL)
#define COUNTERS_EVERY_MS	2000LL
#define PRUNE_SUCCEEDED_HOURS	24
#define PRUNE_DEAD_DAYS		7
#define BATCH_MAX		100	/* WORKER_BATCH's ceiling */
#define QUICK_DEATH_MS		1000

/* A message from a child to the master; one write(2), smaller than PIPE_BUF. */
struct wmsg {
	char	type;			/* 'C' claimed, 'S' started, 'F' finished */
	int	attempt;
	int	timeout_seconds;
	char	id[37];
	char	kind[JOB_KIND_MAX + 1];
};

/* A job a child holds, as the master sees it. */
struct held {
	char		id[37];
	char		kind[JOB_KIND_MAX + 1];
	int		attempt;
	bool		started;
	long long	deadline_ms;
	int		timeout_seconds;
};

struct wchild {
	pid_t		pid;		/* 0: free slot */
	int		fd;		/* read end of its pipe */
	struct held	held[BATCH_MAX];
	int		nheld;
	long long	started_ms;
	bool		timed_out;	/* killed by us for a job past its timeout */
	bool		finished;	/* --once: exited because nothing was due */
};

struct worker {
	struct config	 cfg;
	const char	*config_file;
	const struct job_handler_entry *handlers;
	const char	**kinds;	/* the kinds we have handlers for */
	size_t		 nkinds;
	bool		 once;
	int		 processes;
	struct db	 db;		/* the master's, or a child's */
	struct wchild	*kids;
	int		 quick_deaths;
	long long	 respawn_at_ms;
	bool		 stopping;
	long long	 stop_deadline_ms;
	char		 name[64];	/* locked_by: host:pid */
	pid_t		 master_pid;
};

/* ---- a child ------------------------------------------------------------ */

static volatile sig_atomic_t child_stop;

static void
on_child_stop(int sig)
{
	(void)sig;
	child_stop = 1;
}

struct counter {
	char	kind[JOB_KIND_MAX + 1];
	char	outcome[16];
	long	n;
};

static struct counter counters[32];

static void
count(const char *kind, const char *outcome)
{
	size_t	i;

	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		if (counters[i].kind[0] == '\0') {
			snprintf(counters[i].kind, sizeof(counters[i].kind), "%s", kind);
			snprintf(counters[i].outcome, sizeof(counters[i].outcome), "%s", outcome);
		}
		if (strcmp(counters[i].kind, kind) == 0 &&
		    strcmp(counters[i].outcome, outcome) == 0) {
			counters[i].n++;
			return;
		}
	}
}

static void
flush_counters(struct db *db)
{
	size_t	i;

	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		if (counters[i].n > 0 &&
		    jobs_count(db, counters[i].kind, counters[i].outcome, counters[i].n) == FB_OK)
			counters[i].n = 0;
}

static void
tell(int fd, char type, const struct job *j, int timeout_seconds)
{
	struct wmsg	m;
	ssize_t		n;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.attempt = j->attempt;
	m.timeout_seconds = timeout_seconds;
	memcpy(m.id, j->id, sizeof(m.id));
	memcpy(m.kind, j->kind, sizeof(m.kind));
	n = write(fd, &m, sizeof(m));
	(void)n;	/* the master gone: we are about to be stopped anyway */
}

static const struct job_handler_entry *
find_handler(const struct worker *w, const char *kind)
{
	const struct job_handler_entry *h;

	for (h = w->handlers; h->kind != NULL; h++)
		if (strcmp(h->kind, kind) == 0)
			return h;
	return NULL;
}

/* Runs one claimed job and records its outcome. */
static void
run_job(struct worker *w, const struct job *j, int fd)
{
	const struct job_handler_entry *h = find_handler(w, j->kind);
	char		 err[1024] = "";
	struct job_ctx	 ctx;
	json_error_t	 jerr;
	enum job_result	 r;
	long long	 t0 = monotonic_ms();
	const char	*outcome;
	bool		 applied = false, dead = false;
	enum fb_err	 e;

	tell(fd, 'S', j, h != NULL && h->timeout_seconds > 0 ? h->timeout_seconds :
	    jobs_kind_info(j->kind)->timeout_seconds);
	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = &w->cfg;
	ctx.db = &w->db;
	ctx.job = j;
	ctx.error = err;
	ctx.errlen = sizeof(err);
	ctx.payload = json_loads(j->payload, 0, &jerr);
	if (ctx.payload == NULL || !json_is_object(ctx.payload)) {
		snprintf(err, sizeof(err), "the payload is not a JSON object");
		r = JOB_DEAD;
	} else if (h == NULL) {
		snprintf(err, sizeof(err), "no handler for kind %s", j->kind);
		r = JOB_DEAD;
	} else
		r = h->handler(&ctx);
	json_decref(ctx.payload);

	if (r == JOB_DONE) {
		e = jobs_complete(&w->db, j->id, j->attempt, &applied);
		outcome = "succeeded";
	} else {
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "failed");
		e = jobs_fail(&w->db, j->id, j->attempt, err, r == JOB_DEAD,
		    w->cfg.worker_backoff_ms, &applied, &dead);
		outcome = dead ? "dead" : "retry";
	}
	if (e != FB_OK)
		outcome = "unrecorded";	/* the lease runs out; it will be rescued */
	else if (!applied)
		outcome = "superseded";	/* our attempt was rescued meanwhile */
	tell(fd, 'F', j, 0);
	count(j->kind, outcome);
	log_event(r == JOB_DONE ? FBLOG_INFO : FBLOG_WARN, json_pack(
	    "{s:s,s:s,s:s,s:i,s:f,s:s,s:s?}", "type", "job", "id", j->id, "kind", j->kind,
	    "attempt", j->attempt, "duration_ms", (double)(monotonic_ms() - t0), "outcome", outcome,
	    "error", r == JOB_DONE ? NULL : err));
}

/* Waits for a NOTIFY on our connection, a stop signal, or the poll interval. */
static void
wait_for_work(struct worker *w, const sigset_t *waitmask)
{
	struct pollfd	 pfd;
	struct timespec	 ts = { w->cfg.worker_poll_seconds, 0 };
	PGnotify	*n;

	if (db_ensure(&w->db) != FB_OK) {
		ppoll(NULL, 0, &ts, waitmask);
		return;
	}
	pfd.fd = PQsocket(w->db.conn);
	pfd.events = POLLIN;
	if (ppoll(&pfd, 1, &ts, waitmask) > 0 && PQconsumeInput(w->db.conn) == 1)
		while ((n = PQnotifies(w->db.conn)) != NULL)
			PQfreemem(n);
}

static int
child_main(struct worker *w, int fd)
{
	struct sigaction sa;
	sigset_t	 block, waitmask, pending;
	struct job	*jobs = NULL;
	size_t		 n = 0, i;
	long long	 last_flush = monotonic_ms();
	bool		 listening = false;
	enum fb_err	 e;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_child_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	/* The stop signals are let in only while we wait for work, so a job
	 * in progress is never cut short by EINTR. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_SETMASK, &block, NULL);
	sigemptyset(&waitmask);

	snprintf(w->name + strlen(w->name), sizeof(w->name) - strlen(w->name),
	    "/%d", (int)getpid());
	if (db_open(&w->db, w->cfg.database_url, 0, "fastback-worker") == FB_ERR_NOMEM)
		return 1;
	while (!child_stop) {
		if (!listening)
			listening = db_exec(&w->db, NULL, "LISTEN fastback_jobs", 0, NULL) == FB_OK;
		e = jobs_claim(&w->db, w->name, w->kinds, w->nkinds, w->cfg.worker_batch,
		    w->cfg.worker_lease_seconds, &jobs, &n);
		if (e != FB_OK) {
			listening = false;	/* a new connection listens anew */
			if (w->once)
				break;
			wait_for_work(w, &waitmask);
			continue;
		}
		if (n == 0) {
			if (w->once)
				break;
			if (monotonic_ms() - last_flush >= COUNTERS_EVERY_MS) {
				flush_counters(&w->db);
				last_flush = monotonic_ms();
			}
			wait_for_work(w, &waitmask);
			continue;
		}
		for (i = 0; i < n; i++)
			tell(fd, 'C', &jobs[i], 0);
		for (i = 0; i < n; i++) {
			/* A stop signal waits blocked; look for it between jobs. */
			sigpending(&pending);
			if (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT))
				child_stop = 1;
			if (child_stop)
				break;
			run_job(w, &jobs[i], fd);
		}
		for (; i < n; i++) {	/* stopping: the rest go back, untouched */
			jobs_release(&w->db, jobs[i].id, jobs[i].attempt, false);
			tell(fd, 'F', &jobs[i], 0);
		}
		jobs_free(jobs, n);
		jobs = NULL;
		if (monotonic_ms() - last_flush >= COUNTERS_EVERY_MS) {
			flush_counters(&w->db);
			last_flush = monotonic_ms();
		}
	}
	flush_counters(&w->db);
	db_close(&w->db);
	return 0;
}

/* ---- the master --------------------------------------------------------- */

static void
spawn(struct worker *w, struct wchild *k)
{
	int	p[2];
	pid_t	pid;

	if (pipe2(p, O_CLOEXEC) != 0) {
		log_msg(FBLOG_ERROR, "worker: pipe: %s", strerror(errno));
		w->respawn_at_ms = monotonic_ms() + 1000;
		return;
	}
	pid = fork();
	if (pid < 0) {
		log_msg(FBLOG_ERROR, "worker: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		w->respawn_at_ms = monotonic_ms() + 1000;
		return;
	}
	if (pid == 0) {
		/* A child whose master died (SIGKILL) stops: nobody would renew
		 * its leases, and its jobs would run twice after a rescue. */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != w->master_pid)
			_exit(1);
		close(p[0]);
		for (int i = 0; i < w->processes; i++)
			if (w->kids[i].pid > 0)
				close(w->kids[i].fd);
		db_close(&w->db);	/* the master's connection is not ours */
		log_after_fork();
		_exit(child_main(w, p[1]));
	}
	close(p[1]);
	/* The master reads every child's pipe after each poll: never block. */
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) != 0)
		log_msg(FBLOG_ERROR, "worker: fcntl: %s", strerror(errno));
	memset(k, 0, sizeof(*k));
	k->pid = pid;
	k->fd = p[0];
	k->started_ms = monotonic_ms();
}

static struct held *
find_held(struct wchild *k, const char *id, int attempt)
{
	int	i;

	for (i = 0; i < k->nheld; i++)
		if (k->held[i].attempt == attempt && strcmp(k->held[i].id, id) == 0)
			return &k->held[i];
	return NULL;
}

static void
read_messages(struct wchild *k)
{
	struct wmsg	 m[16];
	struct held	*h;
	ssize_t		 n;
	size_t		 i;

	/* Whole messages only: every write was one message, and we read
	 * multiples of its size. */
	while ((n = read(k->fd, m, sizeof(m))) > 0) {
		for (i = 0; i < (size_t)n / sizeof(m[0]); i++) {
			m[i].id[sizeof(m[i].id) - 1] = '\0';
			m[i].kind[sizeof(m[i].kind) - 1] = '\0';
			h = find_held(k, m[i].id, m[i].attempt);
			if (m[i].type == 'C' && h == NULL && k->nheld < BATCH_MAX) {
				h = &k->held[k->nheld++];
				memset(h, 0, sizeof(*h));
				memcpy(h->id, m[i].id, sizeof(h->id));
				memcpy(h->kind, m[i].kind, sizeof(h->kind));
				h->attempt = m[i].attempt;
			} else if (m[i].type == 'S' && h != NULL) {
				h->started = true;
				h->timeout_seconds = m[i].timeout_seconds;
				h->deadline_ms = monotonic_ms() + 1000LL * m[i].timeout_seconds;
			} else if (m[i].type == 'F' && h != NULL) {
				*h = k->held[--k->nheld];
			}
		}
		if ((size_t)n < sizeof(m))
			break;
	}
}

/* The jobs of a child that is gone: failed, or given back. */
static void
settle(struct worker *w, struct wchild *k, int status)
{
	char		 why[128];
	struct held	*h;
	bool		 applied, dead;
	int		 i;

	read_messages(k);	/* what it said before it went */
	for (i = 0; i < k->nheld; i++) {
		h = &k->held[i];
		if (!h->started) {
			jobs_release(&w->db, h->id, h->attempt, false);
			continue;
		}
		if (k->timed_out && monotonic_ms() >= h->deadline_ms)
			snprintf(why, sizeof(why), "timed out after %d s", h->timeout_seconds);
		else if (w->stopping) {
			/* Shutdown cut it short: due again, the attempt counted. */
			jobs_release(&w->db, h->id, h->attempt, true);
			continue;
		} else if (WIFSIGNALED(status))
			snprintf(why, sizeof(why), "the worker process died (signal %d)",
			    WTERMSIG(status));
		else
			snprintf(why, sizeof(why), "the worker process exited (status %d)",
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		jobs_fail(&w->db, h->id, h->attempt, why, false, w->cfg.worker_backoff_ms,
		    &applied, &dead);
		log_event(FBLOG_WARN, json_pack("{s:s,s:s,s:s,s:i,s:s,s:s}", "type", "job",
		    "id", h->id, "kind", h->kind, "attempt", h->attempt,
		    "outcome", dead ? "dead" : "retry", "error", why));
	}
	k->nheld = 0;
}

static void
reap(struct worker *w)
{
	pid_t	 pid;
	int	 status, i;
	bool	 expected;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < w->processes; i++)
			if (w->kids[i].pid == pid)
				break;
		if (i == w->processes)
			continue;
		settle(w, &w->kids[i], status);
		expected = w->stopping || (w->once && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0) || w->kids[i].timed_out;
		if (!expected) {
			log_event(FBLOG_ERROR, json_pack("{s:s,s:i,s:i,s:i}", "msg",
			    "worker process died", "child", (int)pid, "exit",
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1, "signal",
			    WIFSIGNALED(status) ? WTERMSIG(status) : 0));
			if (monotonic_ms() - w->kids[i].started_ms < QUICK_DEATH_MS) {
				w->quick_deaths++;
				w->respawn_at_ms = monotonic_ms() +
				    (100LL << (w->quick_deaths < 7 ? w->quick_deaths : 7));
			} else
				w->quick_deaths = 0;
		}
		close(w->kids[i].fd);
		w->kids[i].pid = 0;
		w->kids[i].finished = w->once;
	}
}

static int
live_children(const struct worker *w)
{
	int	i, n = 0;

	for (i = 0; i < w->processes; i++)
		if (w->kids[i].pid > 0)
			n++;
	return n;
}

static void
heartbeat(struct worker *w)
{
	const char	*ids[BATCH_MAX * 8];
	int		 attempts[BATCH_MAX * 8];
	size_t		 n = 0;
	int		 i, j;

	for (i = 0; i < w->processes; i++)
		for (j = 0; j < w->kids[i].nheld; j++) {
			if (n == sizeof(ids) / sizeof(ids[0])) {
				jobs_heartbeat(&w->db, ids, attempts, n,
				    w->cfg.worker_lease_seconds);
				n = 0;
			}
			ids[n] = w->kids[i].held[j].id;
			attempts[n++] = w->kids[i].held[j].attempt;
		}
	jobs_heartbeat(&w->db, ids, attempts, n, w->cfg.worker_lease_seconds);
}

/* Kills a child whose job ran past its kind's timeout; reap() retries it. */
static void
enforce_timeouts(struct worker *w)
{
	int	i, j;

	for (i = 0; i < w->processes; i++)
		for (j = 0; j < w->kids[i].nheld; j++)
			if (w->kids[i].pid > 0 && w->kids[i].held[j].started &&
			    monotonic_ms() >= w->kids[i].held[j].deadline_ms && !w->kids[i].timed_out) {
				log_event(FBLOG_WARN, json_pack("{s:s,s:s,s:s,s:i}", "msg",
				    "job timed out; stopping its process", "id",
				    w->kids[i].held[j].id, "kind", w->kids[i].held[j].kind,
				    "timeout_s", w->kids[i].held[j].timeout_seconds));
				w->kids[i].timed_out = true;
				kill(w->kids[i].pid, SIGKILL);
			}
}

static void
housekeeping(struct worker *w, long long *next_rescue, long long *next_prune)
{
	long	 n;

	if (monotonic_ms() >= *next_rescue) {
		if (jobs_rescue(&w->db, &n) == FB_OK && n > 0)
			log_event(FBLOG_WARN, json_pack("{s:s,s:i}", "msg",
			    "rescued jobs of a lost worker", "jobs", (int)n));
		*next_rescue = monotonic_ms() + RESCUE_EVERY_MS;
	}
	if (monotonic_ms() >= *next_prune) {
		if (jobs_prune(&w->db, PRUNE_SUCCEEDED_HOURS, PRUNE_DEAD_DAYS, &n) == FB_OK &&
		    n > 0)
			log_event(FBLOG_INFO, json_pack("{s:s,s:i}", "msg",
			    "pruned finished jobs", "jobs", (int)n));
		*next_prune = monotonic_ms() + PRUNE_EVERY_MS;
	}
}

static int
master(struct worker *w)
{
	struct pollfd	*pfds;
	struct signalfd_siginfo si;
	sigset_t	 set;
	int		 sfd, i, np;
	long long	 next_beat = monotonic_ms() + HEARTBEAT_EVERY_MS;
	long long	 next_rescue = 0, next_prune = monotonic_ms() + 60000;
	ssize_t		 n;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_msg(FBLOG_ERROR, "worker: signalfd: %s", strerror(errno));
		return 1;
	}
	if ((pfds = calloc((size_t)w->processes + 1, sizeof(*pfds))) == NULL) {
		close(sfd);
		return 1;
	}
	db_open(&w->db, w->cfg.database_url, 0, "fastback-worker");
	/* Jobs of workers that vanished come back before we start. */
	housekeeping(w, &next_rescue, &next_prune);
	log_event(FBLOG_INFO, json_pack("{s:s,s:i,s:b}", "msg", "worker starting",
	    "processes", w->processes, "once", w->once));

	for (;;) {
		if (!w->stopping && monotonic_ms() >= w->respawn_at_ms)
			for (i = 0; i < w->processes; i++)
				if (w->kids[i].pid == 0 && !w->kids[i].finished)
					spawn(w, &w->kids[i]);
		if (live_children(w) == 0 && (w->stopping || w->once))
			break;

		pfds[0].fd = sfd;
		pfds[0].events = POLLIN;
		for (i = 0, np = 1; i < w->processes; i++)
			if (w->kids[i].pid > 0) {
				pfds[np].fd = w->kids[i].fd;
				pfds[np++].events = POLLIN;
			}
		poll(pfds, (nfds_t)np, 200);
		for (i = 0; i < w->processes; i++)
			if (w->kids[i].pid > 0)
				read_messages(&w->kids[i]);
		while ((n = read(sfd, &si, sizeof(si))) == (ssize_t)sizeof(si)) {
			if ((si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) && !w->stopping) {
				log_msg(FBLOG_INFO, "worker stopping: running jobs may finish "
				    "within %d s", w->cfg.worker_grace_seconds);
				w->stopping = true;
				w->stop_deadline_ms = monotonic_ms() + 1000LL * w->cfg.worker_grace_seconds;
				for (i = 0; i < w->processes; i++)
					if (w->kids[i].pid > 0)
						kill(w->kids[i].pid, SIGTERM);
			}
		}
		reap(w);
		enforce_timeouts(w);
		if (w->stopping && monotonic_ms() >= w->stop_deadline_ms) {
			for (i = 0; i < w->processes; i++)
				if (w->kids[i].pid > 0)
					kill(w->kids[i].pid, SIGKILL);
			w->stop_deadline_ms = monotonic_ms() + 5000;
		}
		if (monotonic_ms() >= next_beat) {
			heartbeat(w);
			next_beat = monotonic_ms() + HEARTBEAT_EVERY_MS;
		}
		if (!w->stopping)
			housekeeping(w, &next_rescue, &next_prune);
	}
	free(pfds);
	close(sfd);
	db_close(&w->db);
	log_msg(FBLOG_INFO, "worker stopped");
	return 0;
}

int
worker_main(int argc, char **argv, const struct job_handler_entry *handlers)
{
	struct worker	 w;
	const struct job_handler_entry *h;
	char		 host[32];
	char		*end;
	long		 n;
	int		 i, status;

	memset(&w, 0, sizeof(w));
	w.handlers = handlers;
	w.processes = -1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			w.config_file = argv[++i];
		else if (strcmp(argv[i], "--once") == 0)
			w.once = true;
		else if (strcmp(argv[i], "--processes") == 0 && i + 1 < argc) {
			n = strtol(argv[++i], &end, 10);
			if (*end != '\0' || n < 1 || n > 256) {
				fprintf(stderr, "fastback-worker: --processes must be 1 to 256\n");
				return 2;
			}
			w.processes = (int)n;
		} else {
			fprintf(stderr, "usage: fastback-worker [--config FILE] [--once] "
			    "[--processes N]\n");
			return 2;
		}
	}
	if (config_load_flags(&w.cfg, w.config_file, stderr, CONFIG_NO_JWT) != 0)
		return 2;
	log_setup("fastback-worker", w.cfg.log_level);
	if (w.processes < 0)
		w.processes = w.cfg.worker_processes;
	for (h = handlers; h->kind != NULL; h++)
		w.nkinds++;
	w.kinds = calloc(w.nkinds + 1, sizeof(*w.kinds));
	w.kids = calloc((size_t)w.processes, sizeof(*w.kids));
	if (w.kinds == NULL || w.kids == NULL) {
		free(w.kinds);
		free(w.kids);
		config_free(&w.cfg);
		return 1;
	}
	for (i = 0, h = handlers; h->kind != NULL; h++)
		w.kinds[i++] = h->kind;
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "worker");
	host[sizeof(host) - 1] = '\0';
	snprintf(w.name, sizeof(w.name), "%s", host);
	w.master_pid = getpid();
	status = master(&w);
	free(w.kinds);
	free(w.kids);
	config_free(&w.cfg);
	return status;
}
