/*
 * The compaction policy: a day is due once its parts rows since its last
 * compaction reach max(MENTOR_COMPACT_MIN_ROWS, the rows it had after it);
 * days share direct-mapped slots, and a day evicted from its slot starts again
 * from zero.
 */
#include <stdlib.h>

#include "../../lib/compaction_policy.h"
#include "test_util.h"

/* Counts one day's rows; whether it was then due. */
static bool count_one(struct mentor_compaction_policy *p, int32_t day, uint32_t rows)
{
	const struct mentor_daily_day d = { .day = day, .rows = rows };
	int32_t due = INT32_MIN;
	bool is_due = mentor_compaction_policy_count(p, &d, 1, &due);

	if (is_due)
		assert_int_equal(due, day);
	return is_due;
}

static struct mentor_compaction_policy *new_policy(void)
{
	struct mentor_compaction_policy *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	return p;
}

/* The minimum: due exactly at MENTOR_COMPACT_MIN_ROWS, counted over batches. */
static void test_due_at_min_rows(void **state)
{
	struct mentor_compaction_policy *p = new_policy();

	(void)state;
	assert_false(count_one(p, 20000, 100000));
	assert_false(count_one(p, 20000, 149999));
	assert_true(count_one(p, 20000, 1));
	/* Still due while no compaction starts (one is running). */
	assert_true(count_one(p, 20000, 1));
	free(p);
}

/* A compaction's start counts from zero again; its result becomes the base, above the minimum only. */
static void test_base_after_compaction(void **state)
{
	struct mentor_compaction_policy *p = new_policy();

	(void)state;
	assert_true(count_one(p, 20000, MENTOR_COMPACT_MIN_ROWS));
	mentor_compaction_policy_started(p, 20000);
	assert_false(count_one(p, 20000, MENTOR_COMPACT_MIN_ROWS - 1));
	assert_true(mentor_compaction_policy_done(p, 20000, 400000));
	assert_false(count_one(p, 20000, 399999 - (MENTOR_COMPACT_MIN_ROWS - 1)));
	assert_true(count_one(p, 20000, 1));
	mentor_compaction_policy_started(p, 20000);
	assert_true(mentor_compaction_policy_done(p, 20000, 1000));
	assert_false(count_one(p, 20000, MENTOR_COMPACT_MIN_ROWS - 1));
	assert_true(count_one(p, 20000, 1));
	free(p);
}

/* Rows counted while the compaction runs stay counted: it started before they were committed. */
static void test_rows_during_compaction(void **state)
{
	struct mentor_compaction_policy *p = new_policy();

	(void)state;
	assert_true(count_one(p, 20000, MENTOR_COMPACT_MIN_ROWS));
	mentor_compaction_policy_started(p, 20000);
	assert_false(count_one(p, 20000, 1000));
	assert_true(mentor_compaction_policy_done(p, 20000, 5000));
	assert_false(count_one(p, 20000, MENTOR_COMPACT_MIN_ROWS - 1001));
	assert_true(count_one(p, 20000, 1));
	free(p);
}

/* Days MENTOR_COMPACT_SLOTS apart share a slot: the newcomer evicts the other, whose count and base are lost. */
static void test_eviction(void **state)
{
	struct mentor_compaction_policy *p = new_policy();
	const int32_t day = 20000, other = 20000 + MENTOR_COMPACT_SLOTS;

	(void)state;
	assert_false(count_one(p, day, 200000));
	assert_false(count_one(p, other, 200000));
	assert_false(count_one(p, day, 100000));  /* back from zero: 100000, not 300000 */
	assert_false(count_one(p, day + 1, 200000));  /* another slot: day's count stays */
	assert_true(count_one(p, day, 150000));
	mentor_compaction_policy_started(p, day);
	assert_false(count_one(p, other, 1));
	/* The compaction's result is for a day no longer in the slot: nothing kept. */
	assert_false(mentor_compaction_policy_done(p, day, 900000));
	assert_false(count_one(p, other, MENTOR_COMPACT_MIN_ROWS - 2));
	assert_true(count_one(p, other, 1));
	/* Negative days (before 1970) have slots too. */
	assert_false(count_one(p, -1, 1));
	assert_true(count_one(p, -1, MENTOR_COMPACT_MIN_ROWS));
	free(p);
}

/* A batch with several days: the first one due is named, and every day is counted. */
static void test_several_days(void **state)
{
	struct mentor_compaction_policy *p = new_policy();
	const struct mentor_daily_day first[] = { { 20001, 100 }, { 20002, 250000 }, { 20003, 300000 } };
	const struct mentor_daily_day second[] = { { 20001, 249900 }, { 20004, 1 } };
	int32_t due = 0;

	(void)state;
	assert_false(mentor_compaction_policy_count(p, first, 0, &due));
	assert_true(mentor_compaction_policy_count(p, first, 3, &due));
	assert_int_equal(due, 20002);
	mentor_compaction_policy_started(p, 20002);
	assert_true(mentor_compaction_policy_count(p, second, 2, &due));
	assert_int_equal(due, 20001);
	/* A day is reported only with rows of its own: 20003 waits for its next batch. */
	assert_false(mentor_compaction_policy_count(p, second + 1, 1, &due));
	assert_true(mentor_compaction_policy_count(p, &(struct mentor_daily_day){ 20003, 1 }, 1, &due));
	assert_int_equal(due, 20003);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_due_at_min_rows),
		cmocka_unit_test(test_base_after_compaction),
		cmocka_unit_test(test_rows_during_compaction),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_several_days),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
