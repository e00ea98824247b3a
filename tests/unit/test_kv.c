/*
 * test_kv — REDIS_URL syntax (kv_url_valid); no server is contacted.
 */
#include "kv.h"
#include "tap.h"

int
main(void)
{
	static const char *const good[] = {
		"redis://localhost",
		"redis://localhost:6379",
		"redis://127.0.0.1:6380/2",
		"redis://:secret@redis.internal:6379/0",
		"redis://user:secret@redis.internal",
		"redis://user@redis.internal",
		"redis://host/",
		"redis://host:1",
		"redis://host:65535",
		"redis://host/1000",
		"unix:///run/redis/redis.sock",
		"unix:///x",
	};
	static const char *const bad[] = {
		"",
		"localhost:6379",
		"http://localhost",
		"rediss://localhost",
		"REDIS://localhost",
		"redis://",
		"redis:///0",
		"redis://:6379",
		"redis://:pw@:6379",
		"redis://host:",
		"redis://host:0",
		"redis://host:65536",
		"redis://host:-1",
		"redis://host:+1",
		"redis://host:abc",
		"redis://host:6379x",
		"redis://host:99999999999999999999",
		"redis://host/x",
		"redis://host/-1",
		"redis://host/1001",
		"redis://host/1x",
		"redis://host/0/extra",
		"unix://",
		"unix://relative/path.sock",
		"unix:///",
	};
	size_t	i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		is_int(kv_url_valid(good[i]), FB_OK, "valid: %s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(kv_url_valid(bad[i]), FB_ERR_INVALID, "invalid: \"%s\"", bad[i]);
	/* hiredis takes a host name or an address; a bracketed IPv6 literal
	 * is how a URL carries one (RFC 3986 §3.2.2). */
	is_int(kv_url_valid("redis://[::1]:6379"), FB_OK, "valid: redis://[::1]:6379");
	return done_testing();
}
