/* lib/instances.h: the fair share of programs, which to give back, and the order of rounds across instances. */
#include <stdlib.h>
#include <string.h>

#include "../../lib/instances.h"
#include "test_util.h"

static void share_is_programs_over_instances_rounded_up(void **state)
{
	(void)state;
	assert_int_equal(an_fair_share(4, 1), 4);
	assert_int_equal(an_fair_share(4, 2), 2);
	assert_int_equal(an_fair_share(4, 3), 2);
	assert_int_equal(an_fair_share(4, 4), 1);
	assert_int_equal(an_fair_share(4, 9), 1);
	assert_int_equal(an_fair_share(1, 2), 1);
	assert_int_equal(an_fair_share(0, 2), 0);
	/* Before the instances are counted (0): one, this one. */
	assert_int_equal(an_fair_share(3, 0), 3);
	/* Every program has room: the shares add up to the programs or more. */
	for (size_t programs = 0; programs < 40; programs++)
		for (int instances = 1; instances < 12; instances++)
			assert_true(an_fair_share(programs, instances) * (size_t)instances >= programs);
}

/* Brute force: the held programs kept are the `share` of greatest weight (all when fewer). */
static void check_release(const uint64_t *weight, const bool *held, size_t n, size_t share)
{
	bool release[8];
	size_t n_held = 0, kept = 0, released = an_programs_to_release(weight, held, n, share, release);

	for (size_t i = 0; i < n; i++) {
		n_held += held[i];
		if (release[i])
			assert_true(held[i]);
		kept += held[i] && !release[i];
	}
	assert_int_equal(kept, n_held < share ? n_held : share);
	assert_int_equal(released, n_held - kept);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < n; k++)
			if (release[i] && held[k] && !release[k])
				assert_true(weight[i] < weight[k]);
}

static void gives_back_the_lowest_ranked_beyond_the_share(void **state)
{
	uint64_t weight[8];
	bool held[8];

	(void)state;
	srand(7);
	for (int round = 0; round < 2000; round++) {
		size_t n = 1 + (size_t)(rand() % 8), share = (size_t)(rand() % 9);

		for (size_t i = 0; i < n; i++) {
			weight[i] = ((uint64_t)rand() << 8) | i;  /* distinct: the low byte is i */
			held[i] = rand() % 3 != 0;
		}
		check_release(weight, held, n, share);
	}
}

static void instances_rank_programs_differently(void **state)
{
	const char *programs[] = { "acme", "default", "globex", "initech" };
	bool first_seen[4] = { false };
	int distinct = 0;

	(void)state;
	/* Each session's first choice: over many sessions, every program is some session's first. */
	for (int session = 1000; session < 1200; session++) {
		size_t best = 0;

		for (size_t i = 1; i < 4; i++)
			if (an_program_weight(programs[i], session) > an_program_weight(programs[best], session))
				best = i;
		if (!first_seen[best]) {
			first_seen[best] = true;
			distinct++;
		}
	}
	assert_int_equal(distinct, 4);
	/* The same program and session weigh the same every time. */
	assert_true(an_program_weight("acme", 4242) == an_program_weight("acme", 4242));
}

static void rounds_run_in_time_then_program_order(void **state)
{
	struct an_peers none = { .newest_us = INT64_MIN, .next_round_us = INT64_MAX };
	struct an_peers peers = { .newest_us = 0, .next_round_us = 86400000000 };

	(void)state;
	strcpy(peers.next_program, "globex");
	assert_true(an_round_before_peers(&none, INT64_MAX - 1, "zeta"));
	assert_true(an_round_before_peers(&peers, 86400000000 - 1, "zeta"));   /* an earlier time */
	assert_true(an_round_before_peers(&peers, 86400000000, "acme"));       /* same time, a program before */
	assert_false(an_round_before_peers(&peers, 86400000000, "globex"));    /* its own: never both deciders */
	assert_false(an_round_before_peers(&peers, 86400000000, "initech"));   /* same time, a program after */
	assert_false(an_round_before_peers(&peers, 86400000000 + 1, "acme"));  /* a later time */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(share_is_programs_over_instances_rounded_up),
		cmocka_unit_test(gives_back_the_lowest_ranked_beyond_the_share),
		cmocka_unit_test(instances_rank_programs_differently),
		cmocka_unit_test(rounds_run_in_time_then_program_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
