/*
 * test_db — SQLSTATE classification (db_classify); no server is contacted.
 */
#include "db.h"
#include "tap.h"

int
main(void)
{
	static const struct {
		const char	*state;
		enum fb_err	 want;
		const char	*what;
	} cases[] = {
		{ "23505", FB_ERR_CONFLICT,	"unique_violation" },
		{ "23P01", FB_ERR_CONFLICT,	"exclusion_violation" },
		{ "40001", FB_ERR_RETRY,	"serialization_failure" },
		{ "40P01", FB_ERR_RETRY,	"deadlock_detected" },
		{ "57014", FB_ERR_TIMEOUT,	"query_canceled (statement_timeout)" },
		{ "08000", FB_ERR_UNAVAILABLE,	"connection_exception" },
		{ "08003", FB_ERR_UNAVAILABLE,	"connection_does_not_exist" },
		{ "08006", FB_ERR_UNAVAILABLE,	"connection_failure" },
		{ "08001", FB_ERR_UNAVAILABLE,	"sqlclient_unable_to_establish_sqlconnection" },
		{ "57P01", FB_ERR_UNAVAILABLE,	"admin_shutdown" },
		{ "57P02", FB_ERR_UNAVAILABLE,	"crash_shutdown" },
		{ "57P03", FB_ERR_UNAVAILABLE,	"cannot_connect_now" },
		{ "53300", FB_ERR_UNAVAILABLE,	"too_many_connections" },
		{ "22001", FB_ERR_INVALID,	"string_data_right_truncation" },
		{ "22P02", FB_ERR_INVALID,	"invalid_text_representation" },
		{ "22003", FB_ERR_INVALID,	"numeric_value_out_of_range" },
		{ "23502", FB_ERR_INVALID,	"not_null_violation" },
		{ "23503", FB_ERR_INVALID,	"foreign_key_violation" },
		{ "23514", FB_ERR_INVALID,	"check_violation" },
		{ "42P01", FB_ERR_INTERNAL,	"undefined_table (a bug)" },
		{ "42601", FB_ERR_INTERNAL,	"syntax_error (a bug)" },
		{ "42703", FB_ERR_INTERNAL,	"undefined_column (a bug)" },
		{ "25P02", FB_ERR_INTERNAL,	"in_failed_sql_transaction" },
		{ "53100", FB_ERR_INTERNAL,	"disk_full" },
		{ "XX000", FB_ERR_INTERNAL,	"internal_error" },
		{ "57000", FB_ERR_INTERNAL,	"operator_intervention (class only)" },
		{ "2350", FB_ERR_INVALID,	"a truncated 23 code is still class 23" },
		{ "235050", FB_ERR_INVALID,	"a longer string is not 23505" },
		{ "4000", FB_ERR_INTERNAL,	"a truncated 40001 is not a retry" },
		{ "",	  FB_ERR_UNAVAILABLE,	"no SQLSTATE: the connection was lost" },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(db_classify(cases[i].state), cases[i].want, "%s: %s",
		    cases[i].state, cases[i].what);
	is_int(db_classify(NULL), FB_ERR_UNAVAILABLE, "NULL: the connection was lost");
	return done_testing();
}
