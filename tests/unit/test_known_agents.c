/* The known-agents set: exact matches of ids that are not NUL-terminated, clearing, and emptying itself when full. */
#include <stdio.h>
#include <string.h>

#include "../../lib/known_agents.h"
#include "test_util.h"

static void test_empty(void **state)
{
	struct mentor_known_agents k = { 0 };

	(void)state;
	assert_false(mentor_known_agents_has(&k, "a1", 2));
	assert_false(mentor_known_agents_has(&k, "", 0));
	mentor_known_agents_clear(&k);
	mentor_known_agents_free(&k);
	assert_null(k.slots);
}

/* An id is its bytes [0..len): a prefix or an extension of a known id is another id. */
static void test_exact_match(void **state)
{
	struct mentor_known_agents k = { 0 };
	const char *row = "agent-7\tagent-77\t";

	(void)state;
	mentor_known_agents_add(&k, row, 7);
	assert_true(mentor_known_agents_has(&k, "agent-7", 7));
	assert_true(mentor_known_agents_has(&k, "agent-77", 7));
	assert_false(mentor_known_agents_has(&k, "agent-77", 8));
	assert_false(mentor_known_agents_has(&k, "agent-", 6));
	assert_false(mentor_known_agents_has(&k, "Agent-7", 7));
	mentor_known_agents_add(&k, row + 8, 8);
	mentor_known_agents_add(&k, "agent-7", 7);  /* again: counted once */
	assert_true(mentor_known_agents_has(&k, "agent-77", 8));
	assert_int_equal(k.n, 2);
	mentor_known_agents_add(&k, "", 0);
	assert_true(mentor_known_agents_has(&k, "", 0));
	assert_int_equal(k.n, 3);
	mentor_known_agents_free(&k);
}

static void test_clear(void **state)
{
	struct mentor_known_agents k = { 0 };

	(void)state;
	mentor_known_agents_add(&k, "a", 1);
	mentor_known_agents_add(&k, "b", 1);
	mentor_known_agents_clear(&k);
	assert_int_equal(k.n, 0);
	assert_false(mentor_known_agents_has(&k, "a", 1));
	assert_false(mentor_known_agents_has(&k, "b", 1));
	mentor_known_agents_add(&k, "b", 1);
	assert_true(mentor_known_agents_has(&k, "b", 1));
	mentor_known_agents_free(&k);
}

/*
 * Half the slots hold every agent added; the next new one empties the set
 * first (an agent then forgotten is only inserted again), a known one does not.
 */
static void test_full(void **state)
{
	struct mentor_known_agents k = { 0 };
	char id[16];
	int len;

	(void)state;
	for (int i = 0; i < MENTOR_KNOWN_AGENTS_SLOTS / 2; i++) {
		len = snprintf(id, sizeof(id), "agent-%d", i);
		mentor_known_agents_add(&k, id, (size_t)len);
	}
	assert_int_equal(k.n, MENTOR_KNOWN_AGENTS_SLOTS / 2);
	for (int i = 0; i < MENTOR_KNOWN_AGENTS_SLOTS / 2; i++) {
		len = snprintf(id, sizeof(id), "agent-%d", i);
		assert_true(mentor_known_agents_has(&k, id, (size_t)len));
	}
	mentor_known_agents_add(&k, "agent-0", 7);
	assert_int_equal(k.n, MENTOR_KNOWN_AGENTS_SLOTS / 2);
	mentor_known_agents_add(&k, "newcomer", 8);
	assert_int_equal(k.n, 1);
	assert_true(mentor_known_agents_has(&k, "newcomer", 8));
	assert_false(mentor_known_agents_has(&k, "agent-0", 7));
	assert_false(mentor_known_agents_has(&k, "agent-32767", 11));
	mentor_known_agents_free(&k);
}

/*
 * Half full, probe sequences are long and pass over other ids: a prefix of
 * a known id and a known id with more bytes stay unknown, at every length.
 */
static void test_prefixes_when_dense(void **state)
{
	struct mentor_known_agents k = { 0 };
	char id[16];
	int len;

	(void)state;
	for (int i = 0; i < MENTOR_KNOWN_AGENTS_SLOTS / 2; i++) {
		len = snprintf(id, sizeof(id), "k%05d", i);
		mentor_known_agents_add(&k, id, (size_t)len);
	}
	assert_int_equal(k.n, MENTOR_KNOWN_AGENTS_SLOTS / 2);
	for (int i = 0; i < 10000; i++) {
		len = snprintf(id, sizeof(id), "k%04dx", i);
		assert_false(mentor_known_agents_has(&k, id, (size_t)len - 1));
		assert_false(mentor_known_agents_has(&k, id, (size_t)len - 3));
		len = snprintf(id, sizeof(id), "k%05dx", i);
		assert_false(mentor_known_agents_has(&k, id, (size_t)len));
		assert_true(mentor_known_agents_has(&k, id, (size_t)len - 1));
	}
	mentor_known_agents_free(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_exact_match),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_prefixes_when_dense),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
