/*
 * The outbox without a server: what opening it against an unreachable
 * PostgreSQL returns, and that nothing is settled or kept. Its statements
 * run against the real one in tests/integration/alerts_delivery.sh.
 */
#include <string.h>

#include "mentor/outbox.h"
#include "test_util.h"

static void never_reported(void *ctx, const struct mentor_outbox_report *r)
{
	(void)ctx;
	(void)r;
	fail_msg("an outbox that never connected reported an alert");
}

static uint64_t rand_zero(void *ctx)
{
	(void)ctx;
	return 0;
}

static void test_open_unreachable(void **state)
{
	const struct mentor_alerts_config cfg = {
		.max_age_seconds = 86400, .max_attempt_hours = 72, .request_timeout_ms = 15000, .retry_base_ms = 1000,
		.max_per_lead_per_hour = 20,
	};
	const struct mentor_outbox_hooks hooks = { .report = never_reported, .rand = rand_zero };
	struct mentor_outbox *ob = NULL;
	struct mentor_error err = { 0 };

	(void)state;
	/* A socket directory that does not exist: libpq fails at once, with no server to wait for. */
	assert_int_equal(mentor_outbox_open("host=/nonexistent/mentord-test port=1 connect_timeout=1", "mentor", &cfg,
					    &hooks, &ob, &err), MENTOR_ERR_DB);
	assert_null(ob);
	assert_int_equal(err.code, MENTOR_ERR_DB);
	assert_true(strncmp(err.msg, "connect to PostgreSQL: ", 23) == 0);
	assert_null(strchr(err.msg, '\n'));
	mentor_outbox_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
