/*
 * test_generation — change counters: per process before generation_init(),
 * shared with forked children after it, one counter per kind.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "generation.h"
#include "tap.h"

int
main(void)
{
	uint64_t	before;
	pid_t		pid;
	int		st = -1;

	is_int((int)generation_get(GEN_CMS), 0, "a counter starts at 0");
	generation_bump(GEN_CMS);
	is_int((int)generation_get(GEN_CMS), 1, "a bump adds one");

	/* Before init, a child's bumps stay in the child. */
	pid = fork();
	if (pid == 0) {
		generation_bump(GEN_CMS);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	is_int((int)generation_get(GEN_CMS), 1, "without shared memory, a child's bump is its own");

	is_int(generation_init(), FB_OK, "generation_init");
	is_int(generation_init(), FB_OK, "again: idempotent");
	before = generation_get(GEN_CMS);
	pid = fork();
	if (pid == 0) {
		generation_bump(GEN_CMS);
		generation_bump(GEN_CMS);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child ran");
	is_int((int)(generation_get(GEN_CMS) - before), 2, "after init, the parent sees a child's bumps");
	return done_testing();
}
