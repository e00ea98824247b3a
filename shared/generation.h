/*
 * generation — change counters shared by every process of a pool.
 *
 * A responder that changes something other responders keep a copy of (the
 * rendered public CMS answers) bumps its counter; the others see the new
 * value at once and drop their copies. generation_init() maps an anonymous
 * shared region and is called by a master before it forks; in a process
 * without it (or whose mmap failed) the counters are the process's own, and
 * the copies rely on their own expiry for changes made elsewhere.
 */
#ifndef FB_GENERATION_H
#define FB_GENERATION_H

#include <stdint.h>

#include "err.h"

enum generation_kind {
	GEN_CMS,		/* services, projects, blog posts, testimonials */
	GEN_KINDS
};

/* Maps the shared region. Idempotent. */
enum fb_err	generation_init(void);
void		generation_bump(enum generation_kind kind);
uint64_t	generation_get(enum generation_kind kind);

#endif
