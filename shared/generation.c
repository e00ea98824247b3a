#include <stdatomic.h>
#include <sys/mman.h>

#include "generation.h"
#include "log.h"

static _Atomic uint64_t	 local[GEN_KINDS];
static _Atomic uint64_t	*counters = local;

enum fb_err
generation_init(void)
{
	void	*p;

	if (counters != local)
		return FB_OK;
	p = mmap(NULL, sizeof(local), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED) {
		log_msg(FBLOG_ERROR, "generation: mmap of %zu bytes failed", sizeof(local));
		return FB_ERR_INTERNAL;
	}
	counters = p;	/* anonymous mappings start zeroed */
	return FB_OK;
}

void
generation_bump(enum generation_kind kind)
{
	atomic_fetch_add(&counters[kind], 1);
}

uint64_t
generation_get(enum generation_kind kind)
{
	return atomic_load(&counters[kind]);
}
