/*
 * Unit tests for lib/error.c: mentor_error_set and the classification of
 * failures by SQLSTATE (include/mentor/error.h), which decides whether the
 * daemon waits a failed batch out or splits it to find the message
 * PostgreSQL refuses. The SQLSTATEs are PostgreSQL 15's (Appendix A).
 */
#include <stdbool.h>
#include <string.h>

#include "mentor/error.h"
#include "test_util.h"

static struct mentor_error db_error(const char *sqlstate)
{
	struct mentor_error err;

	mentor_error_set(&err, MENTOR_ERR_DB, "commit batch: ERROR: something");
	strcpy(err.sqlstate, sqlstate);
	return err;
}

static void expect_fault(const char *sqlstate, enum mentor_db_fault want)
{
	struct mentor_error err = db_error(sqlstate);

	if (mentor_error_db_fault(&err) != want)
		fail_msg("SQLSTATE '%s': expected fault %d, got %d", sqlstate, want, mentor_error_db_fault(&err));
}

static void set_fills_code_message_and_clears_sqlstate(void **state)
{
	struct mentor_error err = db_error("23514");

	(void)state;
	assert_int_equal(mentor_error_set(&err, MENTOR_ERR_INVALID, "bad %s %d", "key", 7), MENTOR_ERR_INVALID);
	assert_int_equal(err.code, MENTOR_ERR_INVALID);
	assert_string_equal(err.msg, "bad key 7");
	assert_string_equal(err.sqlstate, "");
	assert_int_equal(mentor_error_set(NULL, MENTOR_ERR_NOMEM, "ignored"), MENTOR_ERR_NOMEM);
}

/* What the server or the way to it did: the same batch passes once it is over. */
static void lost_connections_and_resources_are_transient(void **state)
{
	static const char *const codes[] = {
		"",       /* no result at all: the connection broke */
		"08006",  /* connection_failure */
		"08000",  /* connection_exception */
		"40001",  /* serialization_failure */
		"40P01",  /* deadlock_detected */
		"53100",  /* disk_full */
		"53200",  /* out_of_memory */
		"53300",  /* too_many_connections */
		"55P03",  /* lock_not_available */
		"57P01",  /* admin_shutdown */
		"57014",  /* query_canceled (statement_timeout) */
		"58030",  /* io_error */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		expect_fault(codes[i], MENTOR_DB_TRANSIENT);
}

/* What the data did: the batch is split until the message is alone. */
static void data_refusals_are_refused(void **state)
{
	static const char *const codes[] = {
		"22001",  /* string_data_right_truncation: a value too long for varchar(n) */
		"22003",  /* numeric_value_out_of_range */
		"22P02",  /* invalid_text_representation */
		"23502",  /* not_null_violation */
		"23503",  /* foreign_key_violation */
		"23505",  /* unique_violation */
		"23514",  /* check_violation */
		"54000",  /* program_limit_exceeded: a row or index entry too large */
		"P0001",  /* raise_exception: a trigger's RAISE */
		"P0004",  /* assert_failure */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		expect_fault(codes[i], MENTOR_DB_REFUSED);
}

/* What the deployment or the program did: every message would meet it, so nothing is rejected for it. */
static void deployment_and_unknown_faults_are_persistent(void **state)
{
	static const char *const codes[] = {
		"42501",  /* insufficient_privilege: INSERT revoked */
		"42P01",  /* undefined_table */
		"42703",  /* undefined_column */
		"28P01",  /* invalid_password */
		"3F000",  /* invalid_schema_name */
		"XX000",  /* internal_error */
		"P0002",  /* no_data_found: P0 but not a raised exception */
		"0A000",  /* feature_not_supported */
		"2",      /* not a SQLSTATE */
	};
	struct mentor_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		expect_fault(codes[i], MENTOR_DB_PERSISTENT);
	/* Not PostgreSQL's: a round too large, out of memory; an SQLSTATE left behind changes nothing. */
	err = db_error("23514");
	err.code = MENTOR_ERR_INVALID;
	assert_int_equal(mentor_error_db_fault(&err), MENTOR_DB_PERSISTENT);
	mentor_error_set(&err, MENTOR_ERR_NOMEM, "out of memory");
	assert_int_equal(mentor_error_db_fault(&err), MENTOR_DB_PERSISTENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(set_fills_code_message_and_clears_sqlstate),
		cmocka_unit_test(lost_connections_and_resources_are_transient),
		cmocka_unit_test(data_refusals_are_refused),
		cmocka_unit_test(deployment_and_unknown_faults_are_persistent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
