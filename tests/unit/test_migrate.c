/*
 * test_migrate — loading migrations: the built-in set, and a directory
 * (sorting, other files ignored, malformed names and unreadable files refused).
 * Nothing here talks to a database.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "migrate.h"
#include "tap.h"

static char	tmpdir[256];

static bool
is_hex64(const char *s)
{
	size_t	i;

	for (i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return s[64] == '\0';
}

static void
sha256_hex(const char *data, size_t len, char out[65])
{
	unsigned char	md[32];
	unsigned int	mdlen = 0;
	unsigned	i;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
put(const char *name, const char *text, size_t len)
{
	char	 path[512];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(text, 1, len, f) != len)
		bail_out("cannot write %s", path);
	fclose(f);
}

static void
del(const char *name)
{
	char	path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if (unlink(path) != 0 && rmdir(path) != 0)
		diag("cannot remove %s", path);
}

/* migrations_from_dir with errs captured (caller frees *errs). */
static enum fb_err
from_dir(struct migration_set *set, char **errs)
{
	FILE		*f;
	size_t		 len;
	enum fb_err	 e;

	*errs = NULL;
	f = open_memstream(errs, &len);
	e = migrations_from_dir(tmpdir, set, f);
	fclose(f);
	return e;
}

static void
test_builtin(void)
{
	struct migration_set	set;
	char			sum[65];
	size_t			i;
	bool			sorted = true;

	if (!is_int(migrations_builtin(&set), FB_OK, "migrations_builtin"))
		return;
	ok(set.count >= 1, "at least one built-in migration");
	if (set.count >= 1) {
		is_str(set.items[0].name, "001_init.sql", "the first is 001_init.sql");
		ok(is_hex64(set.items[0].checksum), "its checksum is 64 lowercase hex digits");
		ok(set.items[0].sql != NULL && strlen(set.items[0].sql) > 100,
		    "its SQL is there");
		has_str(set.items[0].sql, "CREATE TABLE", "and creates tables");
		sha256_hex(set.items[0].sql, strlen(set.items[0].sql), sum);
		is_str(set.items[0].checksum, sum, "the checksum is the SHA-256 of the SQL");
	}
	for (i = 1; i < set.count; i++)
		if (strcmp(set.items[i - 1].name, set.items[i].name) >= 0)
			sorted = false;
	ok(sorted, "built-ins sorted by name, no duplicates");
	migrations_free(&set);
	ok(set.items == NULL && set.count == 0, "migrations_free clears the set");
	migrations_free(&set);
	ok(1, "migrations_free twice is safe");
}

static void
test_dir(void)
{
	struct migration_set	 set;
	char			*errs, sum[65];
	enum fb_err		 e;
	pid_t			 pid;
	int			 status;

	/* In a child: qsort(NULL, 0, ...) is undefined behaviour, which UBSan
	 * (ASAN=1 build) turns into an abort. */
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == 0) {
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(3);
		e = from_dir(&set, &errs);
		_exit(e == FB_OK && set.count == 0 ? 0 : 2);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "an empty directory: FB_OK and no migration");
	put("notes.txt", "x", 1);
	if ((pid = fork()) == 0) {
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(3);
		e = from_dir(&set, &errs);
		_exit(e == FB_OK && set.count == 0 ? 0 : 2);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0, "a directory without .sql files: FB_OK, nothing");
	del("notes.txt");

	put("002_add_teams.sql", "CREATE TABLE teams (id int);\n", 29);
	put("001_init.sql", "SELECT 1;", 9);
	put("010_later_2.sql", "SELECT 10;", 10);
	put("README.md", "not a migration", 15);
	put("notes.txt", "x", 1);
	put("001_init.sql~", "backup", 6);
	put(".hidden.sql", "SELECT 'hidden';", 16);
	put("sql", "x", 1);
	e = from_dir(&set, &errs);
	if (!is_int(e, FB_OK, "a directory of migrations and other files"))
		diag("errors: %s", errs);
	is_str(errs, "", "nothing reported");
	free(errs);
	if (is_int(set.count, 3, "three migrations, other files ignored")) {
		is_str(set.items[0].name, "001_init.sql", "sorted: 001 first");
		is_str(set.items[1].name, "002_add_teams.sql", "sorted: 002 second");
		is_str(set.items[2].name, "010_later_2.sql", "sorted: 010 third");
		is_str(set.items[0].sql, "SELECT 1;", "the SQL is read whole");
		sha256_hex("SELECT 1;", 9, sum);
		is_str(set.items[0].checksum, sum, "checksum of 001");
		is_str(set.items[0].checksum,
		    "17db4fd369edb9244b9f91d9aeed145c3d04ad8ba6e95d06247f07a63527d11a",
		    "checksum of 001 is sha256sum's");
		ok(is_hex64(set.items[2].checksum), "checksum of 010 is hex");
		isnt_str(set.items[0].checksum, set.items[1].checksum,
		    "different files, different checksums");
	}
	migrations_free(&set);
	del(".hidden.sql");
	del("001_init.sql~");
	del("notes.txt");
	del("README.md");
	del("sql");
}

static void
test_dir_bad_name(void)
{
	static const char *const bad[] = {
		"1_init.sql", "0001_init.sql", "001-init.sql", "001_Init.sql",
		"001_.sql", "abc_init.sql", "001_in it.sql", "001_init.x.sql",
		"001init.sql",
	};
	struct migration_set	 set;
	char			*errs;
	size_t			 i;
	enum fb_err		 e;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(bad[i], "SELECT 1;", 9);
		e = from_dir(&set, &errs);
		is_int(e, FB_ERR_INVALID, "badly named %s is an error", bad[i]);
		has_str(errs, bad[i], "%s: the error names it", bad[i]);
		ok(set.items == NULL && set.count == 0, "%s: nothing returned", bad[i]);
		free(errs);
		migrations_free(&set);
		del(bad[i]);
	}
	/* Lower case letters, digits and _ after NNN_ are fine. */
	put("003_a_1_b.sql", "SELECT 3;", 9);
	e = from_dir(&set, &errs);
	is_int(e, FB_OK, "003_a_1_b.sql is well named");
	is_int(set.count, 4, "and loaded with the three others");
	free(errs);
	migrations_free(&set);
	del("003_a_1_b.sql");
}

static void
test_dir_bad_file(void)
{
	struct migration_set	 set;
	char			*errs, path[512];
	enum fb_err		 e;

	put("004_nul.sql", "SELECT\0 1;", 10);
	e = from_dir(&set, &errs);
	is_int(e, FB_ERR_IO, "a file holding a NUL byte is refused");
	has_str(errs, "004_nul.sql", "and named");
	free(errs);
	migrations_free(&set);
	del("004_nul.sql");

	snprintf(path, sizeof(path), "%s/005_dir.sql", tmpdir);
	mkdir(path, 0700);
	e = from_dir(&set, &errs);
	is_int(e, FB_ERR_IO, "a directory named like a migration is an error");
	free(errs);
	migrations_free(&set);
	del("005_dir.sql");

	if (getuid() != 0) {
		put("006_secret.sql", "SELECT 6;", 9);
		snprintf(path, sizeof(path), "%s/006_secret.sql", tmpdir);
		chmod(path, 0);
		e = from_dir(&set, &errs);
		is_int(e, FB_ERR_IO, "an unreadable file is an error");
		free(errs);
		migrations_free(&set);
		del("006_secret.sql");
	} else
		skip(1, "root can read a file of mode 0");

	{
		FILE	*f;
		size_t	 len;

		errs = NULL;
		f = open_memstream(&errs, &len);
		e = migrations_from_dir("/nonexistent/fastback/schema", &set, f);
		fclose(f);
		is_int(e, FB_ERR_IO, "a missing directory");
		has_str(errs, "/nonexistent/fastback/schema", "names the directory");
		ok(set.items == NULL && set.count == 0, "the set is empty");
		free(errs);
	}
}

int
main(void)
{
	const char	*t = getenv("TMPDIR");

	log_setup("test_migrate", FBLOG_ERROR);
	snprintf(tmpdir, sizeof(tmpdir), "%s/fastback-test-migrate-XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		bail_out("mkdtemp %s", tmpdir);
	test_builtin();
	test_dir();
	test_dir_bad_name();
	test_dir_bad_file();
	del("001_init.sql");
	del("002_add_teams.sql");
	del("010_later_2.sql");
	if (rmdir(tmpdir) != 0)
		diag("cannot remove %s", tmpdir);
	return done_testing();
}
