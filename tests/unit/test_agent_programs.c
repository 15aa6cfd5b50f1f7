/* The roster's programs as the store knows them: lookups by exact id, growth, and the journal kept or undone. */
#include <stdio.h>
#include <string.h>

#include "../../lib/agent_programs.h"
#include "test_util.h"

static void test_empty(void **state)
{
	struct mentor_agent_programs m = { 0 };

	(void)state;
	assert_null(mentor_agent_programs_only(&m, "A1", 2));
	mentor_agent_programs_undo(&m);
	mentor_agent_programs_keep(&m);
	mentor_agent_programs_clear(&m);
	mentor_agent_programs_free(&m);
	assert_null(m.agents);
}

/* An id is its bytes [0..len); a program set to none reads as none. */
static void test_set_and_only(void **state)
{
	struct mentor_agent_programs m = { 0 };
	const char *row = "A7\tA77\t";

	(void)state;
	assert_int_equal(mentor_agent_programs_set(&m, row, 2, "acme"), 0);
	assert_string_equal(mentor_agent_programs_only(&m, "A7", 2), "acme");
	assert_string_equal(mentor_agent_programs_only(&m, "A77", 2), "acme");
	assert_null(mentor_agent_programs_only(&m, "A77", 3));
	assert_null(mentor_agent_programs_only(&m, "A", 1));
	assert_int_equal(mentor_agent_programs_set(&m, row + 3, 3, "acme"), 0);
	assert_int_equal(mentor_agent_programs_set(&m, "A7", 2, NULL), 0);
	assert_null(mentor_agent_programs_only(&m, "A7", 2));
	assert_string_equal(mentor_agent_programs_only(&m, "A77", 3), "acme");
	assert_int_equal(mentor_agent_programs_set(&m, "A7", 2, "tech"), 0);
	assert_string_equal(mentor_agent_programs_only(&m, "A7", 2), "tech");
	assert_int_equal(m.n, 2);
	assert_int_equal(m.n_names, 2);  /* acme once */
	mentor_agent_programs_free(&m);
}

/* The changes since the last keep are undone, newest first: the agents' programs before them come back. */
static void test_undo_and_keep(void **state)
{
	struct mentor_agent_programs m = { 0 };

	(void)state;
	assert_int_equal(mentor_agent_programs_set(&m, "A1", 2, "p1"), 0);
	assert_int_equal(mentor_agent_programs_set(&m, "A2", 2, NULL), 0);
	mentor_agent_programs_keep(&m);
	assert_int_equal(mentor_agent_programs_set(&m, "A1", 2, "p2"), 0);
	assert_int_equal(mentor_agent_programs_set(&m, "A1", 2, "p3"), 0);
	assert_int_equal(mentor_agent_programs_set(&m, "A2", 2, "p2"), 0);
	assert_int_equal(mentor_agent_programs_set(&m, "A3", 2, "p3"), 0);
	mentor_agent_programs_undo(&m);
	assert_string_equal(mentor_agent_programs_only(&m, "A1", 2), "p1");
	assert_null(mentor_agent_programs_only(&m, "A2", 2));
	assert_null(mentor_agent_programs_only(&m, "A3", 2));
	/* Undone once: a second undo changes nothing. */
	mentor_agent_programs_undo(&m);
	assert_string_equal(mentor_agent_programs_only(&m, "A1", 2), "p1");
	assert_int_equal(mentor_agent_programs_set(&m, "A2", 2, "p2"), 0);
	mentor_agent_programs_keep(&m);
	mentor_agent_programs_undo(&m);
	assert_string_equal(mentor_agent_programs_only(&m, "A2", 2), "p2");
	mentor_agent_programs_free(&m);
}

/* Enough agents to grow the table several times, with a journal open across the growth. */
static void test_growth(void **state)
{
	struct mentor_agent_programs m = { 0 };
	char id[32];

	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "agent-%d", i);
		assert_int_equal(mentor_agent_programs_set(&m, id, strlen(id), i % 3 ? "p" : NULL), 0);
		if (i == 999)
			mentor_agent_programs_keep(&m);
	}
	assert_int_equal(m.n, 5000);
	assert_true(m.cap >= 2 * m.n);
	mentor_agent_programs_undo(&m);
	for (int i = 0; i < 5000; i++) {
		const char *only;

		snprintf(id, sizeof(id), "agent-%d", i);
		only = mentor_agent_programs_only(&m, id, strlen(id));
		if (i < 1000 && i % 3)
			assert_string_equal(only, "p");
		else
			assert_null(only);
	}
	mentor_agent_programs_clear(&m);
	assert_null(mentor_agent_programs_only(&m, "agent-1", 7));
	assert_int_equal(mentor_agent_programs_set(&m, "agent-1", 7, "q"), 0);
	assert_string_equal(mentor_agent_programs_only(&m, "agent-1", 7), "q");
	mentor_agent_programs_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_set_and_only),
		cmocka_unit_test(test_undo_and_keep),
		cmocka_unit_test(test_growth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
