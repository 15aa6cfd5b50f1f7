/* lib/grow.h: the growth rule of every array libmentor appends to. */
#include <stdlib.h>

#include "../../lib/grow.h"
#include "test_util.h"

static void doubles_from_first(void **state)
{
	int *items = NULL;
	size_t cap = 0;

	(void)state;
	assert_true(mentor_grow((void **)&items, &cap, 0, sizeof(*items), 4, SIZE_MAX));
	assert_int_equal(cap, 4);
	assert_true(mentor_grow((void **)&items, &cap, 3, sizeof(*items), 4, SIZE_MAX));
	assert_int_equal(cap, 4);  /* room for item 3 already */
	assert_true(mentor_grow((void **)&items, &cap, 4, sizeof(*items), 4, SIZE_MAX));
	assert_int_equal(cap, 8);
	items[7] = 7;  /* the room is real (ASan would say otherwise) */
	/* An index far past the end doubles as often as it takes. */
	assert_true(mentor_grow((void **)&items, &cap, 100, sizeof(*items), 4, SIZE_MAX));
	assert_int_equal(cap, 128);
	items[100] = 100;
	assert_int_equal(items[7], 7);  /* what was there stays */
	free(items);
}

static void refuses_past_its_limits(void **state)
{
	int *items = NULL;
	size_t cap = 0;

	(void)state;
	/* The caller's item limit (detect.c indexes with uint32_t). */
	assert_true(mentor_grow((void **)&items, &cap, 3, sizeof(*items), 4, 4));
	assert_false(mentor_grow((void **)&items, &cap, 4, sizeof(*items), 4, 4));
	assert_int_equal(cap, 4);  /* unchanged on refusal */
	assert_non_null(items);
	free(items);
	/* More bytes than size_t holds. */
	items = NULL;
	cap = (SIZE_MAX / 16) + 1;
	assert_false(mentor_grow((void **)&items, &cap, cap, 16, 4, SIZE_MAX));
	assert_null(items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(doubles_from_first),
		cmocka_unit_test(refuses_past_its_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
