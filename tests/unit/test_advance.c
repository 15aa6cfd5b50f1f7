/*
 * When pairing rounds fall due (lib/advance.c): on the grid of
 * round_interval_us counted from the interval of the first observation that
 * ever waits, a boundary B is due once the watermark has passed it and an
 * observation at or after B exists (of any program the run decides), so
 * that a replay runs the rounds of the original run. Uses the real state of
 * one program's analytics with the default configuration.
 */
#include <stdlib.h>

#include "../../lib/advance.h"
#include "../../lib/program.h"
#include "mentor/config.h"
#include "test_util.h"

#define DAY MENTOR_US_PER_DAY
/* The SPEC example day, a Monday. */
#define DAY0 (SPEC_DAY * DAY)

struct fixture {
	struct mentor_config *cfg;
	struct an_program *an;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct mentor_error err;

	if (!f || !(f->cfg = mentor_config_new()))
		return -1;
	assert_int_equal(f->cfg->analytics.round_interval_us, DAY);  /* the default grid */
	if (an_program_new(&f->cfg->analytics, &f->cfg->rules, "group", MENTOR_DEFAULT_PROGRAM, f->cfg->topics, &f->an,
			   &err) != MENTOR_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	an_program_free(f->an);
	mentor_config_free(f->cfg);
	free(f);
	return 0;
}

static void observe(struct fixture *f, const char *event_id, int64_t t_us)
{
	struct mentor_error err;

	assert_int_equal(mentor_detector_observe(f->an->det, "A1", "empathy", MENTOR_EVENT_AQM, event_id, t_us, t_us, 500000, &err),
			 MENTOR_OK);
}

/* When the next round is due with the program's own newest time, as with one program. */
static int64_t due(const struct fixture *f, int64_t closed_us)
{
	return an_round_due(f->an, closed_us, mentor_detector_newest_seen(f->an->det));
}

static void nothing_waits_no_round(void **state)
{
	struct fixture *f = *state;

	an_start_rounds(f->an);
	assert_true(due(f, INT64_MAX) == NO_TIME);
}

static void a_boundary_is_due_once_time_reaches_it(void **state)
{
	struct fixture *f = *state;

	observe(f, "e1", DAY0 + 14 * HOUR);
	an_start_rounds(f->an);
	/* The grid starts at the first observation's day; its next boundary is the next midnight. */
	assert_true(f->an->last_round_us == DAY0);
	/* Nothing at or after that midnight yet: time has not reached it. */
	assert_true(due(f, INT64_MAX) == NO_TIME);
	observe(f, "e2", DAY0 + DAY + HOUR);
	assert_true(due(f, INT64_MAX) == DAY0 + DAY);
	/* The watermark must pass the boundary too. */
	assert_true(due(f, DAY0 + DAY - 1) == NO_TIME);
	assert_true(due(f, DAY0 + DAY) == DAY0 + DAY);
	/* After that round the next boundary is a day on, not yet reached. */
	f->an->last_round_us = DAY0 + DAY;
	assert_true(due(f, INT64_MAX) == NO_TIME);
}

static void another_programs_time_makes_a_boundary_due(void **state)
{
	struct fixture *f = *state;

	observe(f, "e1", DAY0 + 14 * HOUR);
	an_start_rounds(f->an);
	assert_true(an_round_due(f->an, INT64_MAX, DAY0 + DAY - 1) == NO_TIME);
	/* Another program's observation at the boundary: this program's round is due as well. */
	assert_true(an_round_due(f->an, INT64_MAX, DAY0 + DAY) == DAY0 + DAY);
}

static void the_grid_is_kept_once_started(void **state)
{
	struct fixture *f = *state;

	observe(f, "e1", DAY0 + 14 * HOUR);
	an_start_rounds(f->an);
	/* A later, earlier-dated observation does not move the grid's start. */
	observe(f, "e0", DAY0 - 3 * DAY);
	an_start_rounds(f->an);
	assert_true(f->an->last_round_us == DAY0);
}

static void before_1970_the_grid_floors_down(void **state)
{
	struct fixture *f = *state;

	observe(f, "old", -1);
	an_start_rounds(f->an);
	assert_true(f->an->last_round_us == -DAY);
	observe(f, "new", 0);
	assert_true(due(f, INT64_MAX) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(nothing_waits_no_round, setup, teardown),
		cmocka_unit_test_setup_teardown(a_boundary_is_due_once_time_reaches_it, setup, teardown),
		cmocka_unit_test_setup_teardown(another_programs_time_makes_a_boundary_due, setup, teardown),
		cmocka_unit_test_setup_teardown(the_grid_is_kept_once_started, setup, teardown),
		cmocka_unit_test_setup_teardown(before_1970_the_grid_floors_down, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
