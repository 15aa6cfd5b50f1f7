/* The recently stored event ids: ids as bytes, two generations, the older forgotten once the newer is half full. */
#include <stdio.h>
#include <string.h>

#include "../../lib/recent_events.h"
#include "test_util.h"

static void test_empty_and_exact(void **state)
{
	struct mentor_recent_events r = { 0 };
	const char *row = "ev-7\tev-77\t";

	(void)state;
	assert_false(mentor_recent_events_has(&r, "ev-7", 4));
	mentor_recent_events_add(&r, row, 4);
	assert_true(mentor_recent_events_has(&r, "ev-7", 4));
	assert_true(mentor_recent_events_has(&r, "ev-77", 4));  /* its first 4 bytes */
	assert_false(mentor_recent_events_has(&r, "ev-77", 5));
	assert_false(mentor_recent_events_has(&r, "ev-", 3));
	mentor_recent_events_add(&r, "ev-7", 4);  /* again: counted once */
	assert_int_equal(r.n[r.newer], 1);
	mentor_recent_events_free(&r);
	assert_null(r.gen[0]);
	assert_false(mentor_recent_events_has(&r, "ev-7", 4));
}

/* Ids stay while at most two generations newer came; the oldest generation is forgotten as a whole. */
static void test_generations(void **state)
{
	struct mentor_recent_events r = { 0 };
	const size_t per_gen = MENTOR_RECENT_EVENTS_SLOTS / 2;
	char id[32];

	(void)state;
	for (size_t i = 0; i < per_gen; i++) {
		int len = snprintf(id, sizeof(id), "first-%zu", i);

		mentor_recent_events_add(&r, id, (size_t)len);
	}
	assert_true(mentor_recent_events_has(&r, "first-0", 7));
	for (size_t i = 0; i < per_gen; i++) {
		int len = snprintf(id, sizeof(id), "second-%zu", i);

		mentor_recent_events_add(&r, id, (size_t)len);
	}
	/* Both generations are full: the first ones are still there. */
	assert_true(mentor_recent_events_has(&r, "first-0", 7));
	assert_true(mentor_recent_events_has(&r, "second-0", 8));
	mentor_recent_events_add(&r, "third-0", 7);
	assert_false(mentor_recent_events_has(&r, "first-0", 7));
	assert_false(mentor_recent_events_has(&r, "first-12345", 11));
	assert_true(mentor_recent_events_has(&r, "second-0", 8));
	assert_true(mentor_recent_events_has(&r, "third-0", 7));
	mentor_recent_events_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_exact),
		cmocka_unit_test(test_generations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
