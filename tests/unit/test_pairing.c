/* Pairing: optimality against brute force, every constraint, determinism, hand-made cases. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mentor/pairing.h"
#include "test_util.h"

/* ---- an independent model of the contract in pairing.h ---- */

struct inst {
	struct mentor_pair_agent agents[64];
	struct mentor_pair_mentee mentees[512];
	struct mentor_pair_candidate cands[1024];
	struct mentor_pair_recent recent[512];
	char ids[64][16];
	struct mentor_pair_input in;
	struct mentor_pair_config cfg;
};

static int str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static const struct mentor_pair_candidate *cand_of(const struct inst *t, int agent, int behavior)
{
	for (size_t j = 0; j < t->in.n_candidates; j++)
		if (t->in.candidates[j].agent == agent && t->in.candidates[j].behavior == behavior)
			return &t->in.candidates[j];
	return NULL;
}

/* Pair cost of mentee i with mentor agent v, or -1 if any rule of SPEC section 3 forbids it. */
static int64_t oracle_pair_cost(const struct inst *t, size_t i, int v)
{
	const struct mentor_pair_input *in = &t->in;
	const struct mentor_pair_config *cfg = &t->cfg;
	const struct mentor_pair_mentee *m = &in->mentees[i];
	const struct mentor_pair_agent *ma = &in->agents[m->agent], *va = &in->agents[v];
	const struct mentor_pair_candidate *c = cand_of(t, v, m->behavior);
	int team = ma->team_id && va->team_id && strcmp(ma->team_id, va->team_id) == 0;
	int64_t cost;

	if (!c || c->is_mentee || v == m->agent || !va->active || !str_eq(ma->language, va->language))
		return -1;
	if (cfg->same_site && !str_eq(ma->site, va->site))
		return -1;
	if (va->active_mentees >= cfg->capacity)
		return -1;
	if (ma->team_lead_id && strcmp(ma->team_lead_id, va->id) == 0)
		return -1;
	if (team && cfg->cross_team == MENTOR_CROSS_TEAM_REQUIRED)
		return -1;
	for (size_t j = 0; j < in->n_mentees; j++)  /* an open trigger of its own */
		if (in->mentees[j].agent == v && in->mentees[j].behavior == m->behavior)
			return -1;
	for (size_t j = 0; j < in->n_recent; j++)
		if (in->recent[j].mentee == m->agent && in->recent[j].mentor == v &&
		    (in->recent[j].behavior == -1 || in->recent[j].behavior == m->behavior))
			return -1;
	cost = (int64_t)((double)cfg->w_strength * (1.0 - c->strength) + 0.5);
	if (team && cfg->cross_team == MENTOR_CROSS_TEAM_PREFERRED)
		cost += cfg->w_same_team;
	return cost;
}

static int64_t oracle_slot(const struct inst *t, int m)
{
	return t->cfg.w_load * (2 * (int64_t)m + 1);
}

/* ---- brute force: every mentee picks a feasible mentor with room, or none ---- */

struct brute {
	const struct inst *t;
	int64_t pc[8][64];   /* pair cost, -1 forbidden */
	int used[64];
	size_t best_matched;
	int64_t best_cost;
};

static void brute_rec(struct brute *b, size_t i, size_t matched, int64_t cost)
{
	const struct inst *t = b->t;

	if (matched + (t->in.n_mentees - i) < b->best_matched)
		return;
	if (i == t->in.n_mentees) {
		if (matched > b->best_matched || (matched == b->best_matched && cost < b->best_cost)) {
			b->best_matched = matched;
			b->best_cost = cost;
		}
		return;
	}
	brute_rec(b, i + 1, matched, cost);
	for (size_t v = 0; v < t->in.n_agents; v++) {
		int load = t->agents[v].active_mentees + b->used[v];

		if (b->pc[i][v] < 0 || load >= t->cfg.capacity)
			continue;
		b->used[v]++;
		brute_rec(b, i + 1, matched + 1, cost + b->pc[i][v] + oracle_slot(t, load));
		b->used[v]--;
	}
}

static void brute_force(const struct inst *t, size_t *ret_matched, int64_t *ret_cost)
{
	struct brute b = { .t = t, .best_cost = INT64_MAX };

	assert_true(t->in.n_mentees <= 8 && t->in.n_agents <= 64);
	for (size_t i = 0; i < t->in.n_mentees; i++)
		for (size_t v = 0; v < t->in.n_agents; v++)
			b.pc[i][v] = oracle_pair_cost(t, i, (int)v);
	brute_rec(&b, 0, 0, 0);
	*ret_matched = b.best_matched;
	*ret_cost = b.best_matched ? b.best_cost : 0;
}

/* ---- checks on any result ---- */

/* Every constraint, the cost of every pair, capacities, the reason records. */
static void check_result(const struct inst *t, const struct mentor_pair_result *res)
{
	const struct mentor_pair_input *in = &t->in;
	int given[64] = { 0 };
	size_t matched = 0;
	int64_t total = 0, slots = 0;

	assert_int_equal(res->n_mentees, in->n_mentees);
	for (size_t i = 0; i < in->n_mentees; i++) {
		const struct mentor_pair_assignment *a = &res->a[i];
		int n_feasible = 0;
		int64_t prev_cost = -1;
		int prev_id = -1;

		for (size_t v = 0; v < in->n_agents; v++)
			n_feasible += oracle_pair_cost(t, i, (int)v) >= 0;
		assert_int_equal(a->n_feasible, n_feasible);
		if (a->mentor >= 0) {
			int64_t pc = oracle_pair_cost(t, i, a->mentor);

			assert_true(a->mentor < (int)in->n_agents);
			assert_true(pc >= 0);                    /* never a forbidden pair */
			given[a->mentor]++;
			assert_true(a->cost >= pc + oracle_slot(t, in->agents[a->mentor].active_mentees));
			total += pc;
			matched++;
		} else {
			assert_int_equal(a->cost, 0);
		}
		/* Alternatives: the cheapest feasible mentors but the chosen one, in order. */
		assert_true(a->n_alts <= MENTOR_PAIR_ALTS);
		assert_int_equal(a->n_alts, n_feasible - (a->mentor >= 0) < MENTOR_PAIR_ALTS ?
					    n_feasible - (a->mentor >= 0) : MENTOR_PAIR_ALTS);
		for (int j = 0; j < a->n_alts; j++) {
			int v = a->alts[j].mentor;
			int64_t pc = oracle_pair_cost(t, i, v);

			assert_true(pc >= 0 && v != a->mentor);
			assert_int_equal(a->alts[j].cost, pc + oracle_slot(t, in->agents[v].active_mentees));
			assert_true(a->alts[j].cost > prev_cost ||
				    (a->alts[j].cost == prev_cost && strcmp(in->agents[prev_id].id, in->agents[v].id) < 0));
			prev_cost = a->alts[j].cost;
			prev_id = v;
		}
		/* ... and nothing feasible cheaper than the last one was left out. */
		for (size_t v = 0; a->n_alts == MENTOR_PAIR_ALTS && v < in->n_agents; v++) {
			int64_t pc = oracle_pair_cost(t, i, (int)v), k;
			int listed = (int)v == a->mentor;

			for (int j = 0; j < a->n_alts; j++)
				listed |= a->alts[j].mentor == (int)v;
			if (pc < 0 || listed)
				continue;
			k = pc + oracle_slot(t, in->agents[v].active_mentees);
			assert_true(k > prev_cost || (k == prev_cost && strcmp(in->agents[v].id, in->agents[prev_id].id) > 0));
		}
	}
	for (size_t v = 0; v < in->n_agents; v++) {
		int a0 = in->agents[v].active_mentees;

		assert_true(given[v] == 0 || a0 + given[v] <= t->cfg.capacity);
		slots += t->cfg.w_load * ((int64_t)(a0 + given[v]) * (a0 + given[v]) - (int64_t)a0 * a0);
	}
	assert_int_equal(res->matched, matched);
	assert_int_equal(res->total_cost, total + slots);
	total = 0;
	for (size_t i = 0; i < in->n_mentees; i++)
		total += res->a[i].cost;
	assert_int_equal(res->total_cost, total);
}

static struct mentor_pair_result *run(const struct inst *t)
{
	struct mentor_pair_result *res = NULL;
	struct mentor_error err = { 0 };
	int ret = mentor_pair_round(&t->in, &t->cfg, &res, &err);

	if (ret != MENTOR_OK)
		fail_msg("mentor_pair_round: %d %s", ret, err.msg);
	return res;
}

static void assert_same_result(const struct mentor_pair_result *x, const struct mentor_pair_result *y)
{
	assert_int_equal(x->n_mentees, y->n_mentees);
	assert_int_equal(x->matched, y->matched);
	assert_int_equal(x->total_cost, y->total_cost);
	for (size_t i = 0; i < x->n_mentees; i++) {
		assert_int_equal(x->a[i].mentor, y->a[i].mentor);
		assert_int_equal(x->a[i].cost, y->a[i].cost);
		assert_int_equal(x->a[i].n_feasible, y->a[i].n_feasible);
		assert_int_equal(x->a[i].n_alts, y->a[i].n_alts);
		for (int j = 0; j < x->a[i].n_alts; j++) {
			assert_int_equal(x->a[i].alts[j].mentor, y->a[i].alts[j].mentor);
			assert_int_equal(x->a[i].alts[j].cost, y->a[i].alts[j].cost);
		}
	}
}

/* ---- random instances ---- */

static uint64_t rng_state;

static int rnd_below(int n)
{
	return (int)(splitmix64(&rng_state) % (uint64_t)n);
}

static void inst_wire(struct inst *t)
{
	t->in.agents = t->agents;
	t->in.mentees = t->mentees;
	t->in.candidates = t->cands;
	t->in.recent = t->recent;
}

/*
 * Small attribute sets and coarse strengths, so that every constraint bites
 * and cost ties are common. mentors: agents that are candidates somewhere.
 */
static void random_inst(struct inst *t, int n_mentees, int n_mentors, int n_others, int n_behaviors)
{
	static const char *langs[] = { "en", "fr", NULL };
	static const char *sites[] = { "lyon", "porto" };
	static const char *teams[] = { "T1", "T2", "T3", NULL };
	int n_agents = n_mentors + n_others;

	if (n_mentees > n_agents * n_behaviors)
		n_mentees = n_agents * n_behaviors;
	memset(t, 0, sizeof(*t));
	mentor_pair_config_init(&t->cfg);
	t->cfg.capacity = 1 + rnd_below(3);
	t->cfg.same_site = rnd_below(4) == 0;
	t->cfg.cross_team = (enum mentor_cross_team)rnd_below(3);
	switch (rnd_below(6)) {
	case 0:
	case 1:  /* small weights: many exact ties */
		t->cfg.w_strength = rnd_below(4) * 10;
		t->cfg.w_load = rnd_below(3) * 5;
		t->cfg.w_same_team = rnd_below(3) * 5;
		break;
	case 2:  /* the largest allowed: no overflow */
		t->cfg.w_strength = MENTOR_PAIR_WEIGHT_MAX;
		t->cfg.w_load = MENTOR_PAIR_WEIGHT_MAX;
		t->cfg.w_same_team = MENTOR_PAIR_WEIGHT_MAX;
		break;
	default:
		break;
	}
	for (int a = 0; a < n_agents; a++) {
		struct mentor_pair_agent *g = &t->agents[a];

		/* Ids not in index order, so id order and input order differ. */
		snprintf(t->ids[a], sizeof(t->ids[a]), "ag%02d", (a * 37 + 11) % 97);
		g->id = t->ids[a];
		g->language = langs[rnd_below(10) ? 0 : rnd_below(3)];
		g->site = sites[rnd_below(2)];
		g->team_id = teams[rnd_below(4)];
		g->active = rnd_below(16) != 0;
		g->active_mentees = rnd_below(5) ? 0 : rnd_below(t->cfg.capacity + 1);
	}
	for (int a = 0; a < n_agents; a++) {
		int r = rnd_below(4);

		t->agents[a].team_lead_id = r == 0 ? NULL : r < 3 ? "nobody" : t->ids[rnd_below(n_agents)];
	}
	for (int a = 0; a < n_mentors; a++)
		for (int b = 0; b < n_behaviors; b++) {
			struct mentor_pair_candidate *c;

			if (rnd_below(4) == 0)
				continue;
			c = &t->cands[t->in.n_candidates++];
			c->agent = a;
			c->behavior = b;
			c->strength = 0.80 + 0.05 * rnd_below(5);
			c->is_mentee = rnd_below(20) == 0;
		}
	while ((int)t->in.n_mentees < n_mentees) {
		/* Mostly agents that mentor nothing, so that mentors stay available. */
		int a = n_others && rnd_below(4) ? n_mentors + rnd_below(n_others) : rnd_below(n_agents);
		int b = rnd_below(n_behaviors), dup = 0;

		for (size_t j = 0; j < t->in.n_mentees; j++)
			dup |= t->mentees[j].agent == a && t->mentees[j].behavior == b;
		if (!dup)
			t->mentees[t->in.n_mentees++] = (struct mentor_pair_mentee){ a, b };
	}
	for (int k = rnd_below(n_mentees + 1); k > 0 && t->in.n_recent < 512; k--) {
		struct mentor_pair_recent *c = &t->recent[t->in.n_recent++];

		/* One call per statement: argument order would differ by compiler. */
		c->mentee = rnd_below(n_agents);
		c->mentor = rnd_below(n_agents);
		c->behavior = rnd_below(n_behaviors + 1) - 1;
	}
	t->in.n_agents = (size_t)n_agents;
	inst_wire(t);
}

static void shuffle(int *perm, int n)
{
	for (int i = 0; i < n; i++)
		perm[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j = rnd_below(i + 1), x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
}

/* A copy of t with every input array permuted (indices remapped). */
static void shuffled_copy(const struct inst *t, struct inst *u, int *ret_mentee_perm, int *ret_agent_perm)
{
	int inv[64], perm[1024];

	memset(u, 0, sizeof(*u));
	u->cfg = t->cfg;
	u->in.n_agents = t->in.n_agents;
	u->in.n_mentees = t->in.n_mentees;
	u->in.n_candidates = t->in.n_candidates;
	u->in.n_recent = t->in.n_recent;
	shuffle(ret_agent_perm, (int)t->in.n_agents);  /* u's agent k is t's agent perm[k] */
	for (size_t k = 0; k < t->in.n_agents; k++) {
		inv[ret_agent_perm[k]] = (int)k;
		u->agents[k] = t->agents[ret_agent_perm[k]];
	}
	shuffle(ret_mentee_perm, (int)t->in.n_mentees);
	for (size_t k = 0; k < t->in.n_mentees; k++) {
		u->mentees[k] = t->mentees[ret_mentee_perm[k]];
		u->mentees[k].agent = inv[u->mentees[k].agent];
	}
	shuffle(perm, (int)t->in.n_candidates);
	for (size_t k = 0; k < t->in.n_candidates; k++) {
		u->cands[k] = t->cands[perm[k]];
		u->cands[k].agent = inv[u->cands[k].agent];
	}
	shuffle(perm, (int)t->in.n_recent);
	for (size_t k = 0; k < t->in.n_recent; k++) {
		u->recent[k] = t->recent[perm[k]];
		u->recent[k].mentee = inv[u->recent[k].mentee];
		u->recent[k].mentor = inv[u->recent[k].mentor];
	}
	inst_wire(u);
}

/* The shuffled run gives the same answer, agent for agent. */
static void check_order_independent(const struct inst *t, const struct mentor_pair_result *res)
{
	static struct inst u;
	int mperm[512], aperm[64];
	struct mentor_pair_result *r2;

	shuffled_copy(t, &u, mperm, aperm);
	r2 = run(&u);
	check_result(&u, r2);
	assert_int_equal(r2->matched, res->matched);
	assert_int_equal(r2->total_cost, res->total_cost);
	for (size_t k = 0; k < t->in.n_mentees; k++) {
		const struct mentor_pair_assignment *x = &res->a[mperm[k]], *y = &r2->a[k];

		assert_int_equal(y->mentor < 0 ? -1 : aperm[y->mentor], x->mentor);
		assert_int_equal(y->cost, x->cost);
		assert_int_equal(y->n_feasible, x->n_feasible);
		assert_int_equal(y->n_alts, x->n_alts);
		for (int j = 0; j < x->n_alts; j++) {
			assert_int_equal(aperm[y->alts[j].mentor], x->alts[j].mentor);
			assert_int_equal(y->alts[j].cost, x->alts[j].cost);
		}
	}
	mentor_pair_result_free(r2);
}

#ifndef N_RANDOM
#define N_RANDOM 400
#endif

static void test_random_vs_brute_force(void **state)
{
	static struct inst t;
	int waited = 0, pruned_passes = 0, ties = 0, hist[5] = { 0 }, contested = 0;

	(void)state;
	rng_state = 20260503;
	for (int n = 0; n < N_RANDOM; n++) {
		struct mentor_pair_result *res, *again, *pruned;
		size_t bm;
		int64_t bc;
		int mentees = 1 + rnd_below(7), mentors = 1 + rnd_below(6), others = 1 + rnd_below(7);

		random_inst(&t, mentees, mentors, others, 1 + rnd_below(2));
		brute_force(&t, &bm, &bc);

		res = run(&t);
		check_result(&t, res);
		if (res->matched != bm || res->total_cost != bc)
			fail_msg("instance %d: matched %zu cost %lld, brute force %zu cost %lld", n, res->matched,
				 (long long)res->total_cost, bm, (long long)bc);
		waited += res->matched < t.in.n_mentees;
		for (size_t i = 0; i < res->n_mentees; i++) {
			hist[res->a[i].n_feasible < 4 ? res->a[i].n_feasible : 4]++;
			contested += res->a[i].mentor < 0 && res->a[i].n_feasible > 0;
		}
		ties += t.cfg.w_strength < 100;

		again = run(&t);
		assert_same_result(res, again);
		mentor_pair_result_free(again);
		check_order_independent(&t, res);

		/* One candidate per mentee to start with: the check must widen. */
		t.cfg.prune = 1;
		pruned = run(&t);
		check_result(&t, pruned);
		assert_int_equal(pruned->matched, bm);
		assert_int_equal(pruned->total_cost, bc);
		pruned_passes += pruned->passes > 1;
		mentor_pair_result_free(pruned);
		mentor_pair_result_free(res);
	}
	print_message("feasible 0:%d 1:%d 2:%d 3:%d 4+:%d\n", hist[0], hist[1], hist[2], hist[3], hist[4]);
	print_message("%d waited, %d widened, %d with ties, %d mentees out-competed\n", waited, pruned_passes, ties,
		      contested);
	/* The generator does reach the cases it is meant to reach. */
	assert_true(waited > N_RANDOM / 10);
	assert_true(pruned_passes > N_RANDOM / 10);
	assert_true(ties > N_RANDOM / 10);
	assert_true(contested > N_RANDOM / 10);
}

#ifndef N_LARGE
#define N_LARGE 30
#endif

/* Larger rounds: pruned and unpruned agree on count and cost, all rules hold. */
static void test_random_large_pruning(void **state)
{
	static struct inst t;

	(void)state;
	rng_state = 7;
	for (int n = 0; n < N_LARGE; n++) {
		struct mentor_pair_result *full, *pruned, *automatic;
		int mentees = 60 + rnd_below(100), mentors = 20 + rnd_below(20), others = rnd_below(20);

		random_inst(&t, mentees, mentors, others, 2 + rnd_below(3));
		t.cfg.prune = 1000000;
		full = run(&t);
		assert_int_equal(full->passes, 1);
		t.cfg.prune = 1 + rnd_below(3);
		pruned = run(&t);
		t.cfg.prune = 0;
		automatic = run(&t);
		check_result(&t, full);
		check_result(&t, pruned);
		check_result(&t, automatic);
		assert_int_equal(pruned->matched, full->matched);
		assert_int_equal(pruned->total_cost, full->total_cost);
		assert_int_equal(automatic->matched, full->matched);
		assert_int_equal(automatic->total_cost, full->total_cost);
		check_order_independent(&t, automatic);
		mentor_pair_result_free(full);
		mentor_pair_result_free(pruned);
		mentor_pair_result_free(automatic);
	}
}

/* ---- hand-made cases ---- */

/* Agents: "m0".."m{n-1}", English, site lyon, each in its own team, active. */
static void plain_inst(struct inst *t, int n_agents)
{
	memset(t, 0, sizeof(*t));
	mentor_pair_config_init(&t->cfg);
	for (int a = 0; a < n_agents; a++) {
		snprintf(t->ids[a], sizeof(t->ids[a]), "m%d", a);
		snprintf(t->ids[32 + a], sizeof(t->ids[32 + a]), "T%d", a);
		t->agents[a] = (struct mentor_pair_agent){ .id = t->ids[a], .team_id = t->ids[32 + a],
							   .language = "en", .site = "lyon", .active = true };
	}
	t->in.n_agents = (size_t)n_agents;
	inst_wire(t);
}

static void add_mentee(struct inst *t, int agent, int behavior)
{
	t->mentees[t->in.n_mentees++] = (struct mentor_pair_mentee){ agent, behavior };
}

static void add_cand(struct inst *t, int agent, int behavior, double strength)
{
	t->cands[t->in.n_candidates++] = (struct mentor_pair_candidate){ agent, behavior, strength, false };
}

/* Runs, checks against the independent model, returns the result. */
static struct mentor_pair_result *run_checked(const struct inst *t)
{
	struct mentor_pair_result *res = run(t);

	check_result(t, res);
	return res;
}

static void test_capacity_spreads_load(void **state)
{
	static struct inst t;
	struct mentor_pair_result *res;
	int per[8] = { 0 };

	(void)state;
	/* Four mentees, two equally strong mentors, capacity 2: two each. */
	plain_inst(&t, 6);
	for (int a = 0; a < 4; a++)
		add_mentee(&t, a, 0);
	add_cand(&t, 4, 0, 0.9);
	add_cand(&t, 5, 0, 0.9);
	res = run_checked(&t);
	assert_int_equal(res->matched, 4);
	for (int i = 0; i < 4; i++)
		per[res->a[i].mentor]++;
	assert_int_equal(per[4], 2);
	assert_int_equal(per[5], 2);
	/* Slots cost 20k then 60k; strength 0.9 costs 100k each. */
	assert_int_equal(res->total_cost, 4 * 100000 + 2 * (20000 + 60000));
	mentor_pair_result_free(res);

	/* Two mentees; m2 at 0.95, m3 at 0.90: m2's second slot (50k + 60k) beats m3's first (100k + 20k). */
	plain_inst(&t, 4);
	add_mentee(&t, 0, 0);
	add_mentee(&t, 1, 0);
	add_cand(&t, 2, 0, 0.95);
	add_cand(&t, 3, 0, 0.90);
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 2);
	assert_int_equal(res->a[1].mentor, 2);
	assert_int_equal(res->a[0].cost, 50000 + 20000);  /* slots go in id order: m0 first */
	assert_int_equal(res->a[1].cost, 50000 + 60000);
	mentor_pair_result_free(res);

	/* With m3 at 0.92 (80k + 20k < 110k) the load spreads. */
	t.cands[1].strength = 0.92;
	res = run_checked(&t);
	assert_int_not_equal(res->a[0].mentor, res->a[1].mentor);
	mentor_pair_result_free(res);

	/* Capacity 1 and an existing mentee: m2 is full, so both go elsewhere or wait. */
	t.cfg.capacity = 1;
	t.agents[2].active_mentees = 1;
	res = run_checked(&t);
	assert_int_equal(res->matched, 1);
	assert_int_equal(res->a[0].n_feasible, 1);  /* a full mentor is not a candidate */
	mentor_pair_result_free(res);
}

/* Pairs as many as possible before looking at cost. */
static void test_max_matched_first(void **state)
{
	static struct inst t;
	struct mentor_pair_result *res;

	(void)state;
	plain_inst(&t, 4);
	t.cfg.capacity = 1;
	add_mentee(&t, 0, 0);    /* m0 may take m2 or m3 */
	add_mentee(&t, 1, 0);    /* m1 only m2 (m3 is its team lead) */
	t.agents[1].team_lead_id = "m3";
	add_cand(&t, 2, 0, 1.0);
	add_cand(&t, 3, 0, 0.85);
	res = run_checked(&t);
	assert_int_equal(res->matched, 2);
	assert_int_equal(res->a[0].mentor, 3);
	assert_int_equal(res->a[1].mentor, 2);
	/* m0 was chosen over m2, the cheaper one alone. */
	assert_int_equal(res->a[0].n_alts, 1);
	assert_int_equal(res->a[0].alts[0].mentor, 2);
	assert_int_equal(res->a[0].alts[0].cost, 20000);
	mentor_pair_result_free(res);
}

static void test_cross_team(void **state)
{
	static struct inst t;
	struct mentor_pair_result *res;

	(void)state;
	/* m1 shares m0's team at 0.95; m2 is in another team at 0.92. */
	plain_inst(&t, 3);
	t.agents[1].team_id = t.agents[0].team_id;
	add_mentee(&t, 0, 0);
	add_cand(&t, 1, 0, 0.95);
	add_cand(&t, 2, 0, 0.92);

	t.cfg.cross_team = MENTOR_CROSS_TEAM_PREFERRED;  /* 50k + 50k penalty vs 80k */
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 2);
	assert_int_equal(res->a[0].n_feasible, 2);
	assert_int_equal(res->a[0].alts[0].cost, 50000 + 50000 + 20000);
	mentor_pair_result_free(res);

	t.cfg.cross_team = MENTOR_CROSS_TEAM_IGNORE;
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 1);
	mentor_pair_result_free(res);

	t.cfg.cross_team = MENTOR_CROSS_TEAM_REQUIRED;
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 2);
	assert_int_equal(res->a[0].n_feasible, 1);
	mentor_pair_result_free(res);

	/* Only the same-team mentor left: preferred still pairs, required waits. */
	t.in.n_candidates = 1;
	t.cfg.cross_team = MENTOR_CROSS_TEAM_PREFERRED;
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 1);
	mentor_pair_result_free(res);
	t.cfg.cross_team = MENTOR_CROSS_TEAM_REQUIRED;
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, -1);
	assert_int_equal(res->a[0].n_feasible, 0);
	mentor_pair_result_free(res);

	/* An unknown team is never the same team. */
	t.agents[0].team_id = NULL;
	t.agents[1].team_id = NULL;
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 1);
	mentor_pair_result_free(res);
}

static void test_own_team_lead_never(void **state)
{
	static struct inst t;
	struct mentor_pair_result *res;

	(void)state;
	plain_inst(&t, 3);
	t.agents[0].team_lead_id = "m1";
	add_mentee(&t, 0, 0);
	add_cand(&t, 1, 0, 1.0);     /* the strongest, but m0's lead */
	add_cand(&t, 2, 0, 0.85);
	t.cfg.cross_team = MENTOR_CROSS_TEAM_IGNORE;
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 2);
	assert_int_equal(res->a[0].n_feasible, 1);
	assert_int_equal(res->a[0].n_alts, 0);
	mentor_pair_result_free(res);

	t.in.n_candidates = 1;
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, -1);
	mentor_pair_result_free(res);
}

static void test_language_and_site(void **state)
{
	static struct inst t;
	struct mentor_pair_result *res;

	(void)state;
	plain_inst(&t, 4);
	t.agents[1].language = "fr";   /* strongest, wrong language */
	t.agents[2].site = "porto";    /* next, other site */
	add_mentee(&t, 0, 0);
	add_cand(&t, 1, 0, 1.0);
	add_cand(&t, 2, 0, 0.95);
	add_cand(&t, 3, 0, 0.85);
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 2);
	assert_int_equal(res->a[0].n_feasible, 2);
	mentor_pair_result_free(res);

	t.cfg.same_site = true;
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 3);
	assert_int_equal(res->a[0].n_feasible, 1);
	mentor_pair_result_free(res);

	/* NULL language matches only NULL. */
	t.agents[0].language = NULL;
	t.agents[3].language = NULL;
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 3);
	mentor_pair_result_free(res);
	t.agents[3].language = "en";
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, -1);
	mentor_pair_result_free(res);
}

static void test_cooldown(void **state)
{
	static struct inst t;
	struct mentor_pair_result *res;

	(void)state;
	plain_inst(&t, 3);
	add_mentee(&t, 0, 1);
	add_cand(&t, 1, 1, 1.0);
	add_cand(&t, 2, 1, 0.85);
	t.recent[t.in.n_recent++] = (struct mentor_pair_recent){ 0, 1, 0 };   /* other behavior */
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 1);
	mentor_pair_result_free(res);

	t.recent[0].behavior = 1;
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 2);
	mentor_pair_result_free(res);

	t.recent[0].behavior = -1;   /* any behavior */
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 2);
	mentor_pair_result_free(res);

	/* Direction matters: m1 as mentee of m0 is another pair. */
	t.recent[0] = (struct mentor_pair_recent){ 1, 0, -1 };
	res = run_checked(&t);
	assert_int_equal(res->a[0].mentor, 1);
	mentor_pair_result_free(res);
}

static void test_mentor_rules(void **state)
{
	static struct inst t;
	struct mentor_pair_result *res;

	(void)state;
	plain_inst(&t, 6);
	add_mentee(&t, 0, 0);
	add_mentee(&t, 1, 0);        /* m1 has an open trigger in behavior 0 ... */
	add_cand(&t, 1, 0, 1.0);     /* ... so it mentors nobody in it */
	add_cand(&t, 2, 0, 1.0);
	t.cands[1].is_mentee = true; /* an active mentee in behavior 0 */
	add_cand(&t, 3, 0, 1.0);
	t.agents[3].active = false;
	add_cand(&t, 4, 0, 1.0);
	t.agents[4].active_mentees = 2;   /* full */
	add_cand(&t, 5, 1, 1.0);     /* high in another behavior only */
	add_cand(&t, 0, 0, 1.0);     /* the mentee itself */
	res = run_checked(&t);
	assert_int_equal(res->matched, 0);
	assert_int_equal(res->a[0].n_feasible, 0);
	assert_int_equal(res->a[0].n_alts, 0);
	assert_int_equal(res->a[1].mentor, -1);
	mentor_pair_result_free(res);
}

static void test_waits_without_mentor(void **state)
{
	static struct inst t;
	struct mentor_pair_result *res;

	(void)state;
	plain_inst(&t, 3);
	add_mentee(&t, 0, 7);        /* nobody is high in behavior 7 */
	add_mentee(&t, 1, 0);
	add_cand(&t, 2, 0, 0.9);
	res = run_checked(&t);
	assert_int_equal(res->matched, 1);
	assert_int_equal(res->a[0].mentor, -1);
	assert_int_equal(res->a[0].cost, 0);
	assert_int_equal(res->a[0].n_feasible, 0);
	assert_int_equal(res->a[1].mentor, 2);
	assert_int_equal(res->a[1].cost, 100000 + 20000);
	mentor_pair_result_free(res);

	/* An empty round is fine. */
	t.in.n_mentees = 0;
	res = run_checked(&t);
	assert_int_equal(res->n_mentees, 0);
	mentor_pair_result_free(res);
}

static void test_capacity_across_behaviors(void **state)
{
	static struct inst t;
	struct mentor_pair_result *res;

	(void)state;
	/* m2 is high in two behaviors but holds one mentee in all. */
	plain_inst(&t, 3);
	t.cfg.capacity = 1;
	add_mentee(&t, 0, 0);
	add_mentee(&t, 1, 1);
	add_cand(&t, 2, 0, 0.9);
	add_cand(&t, 2, 1, 0.95);
	res = run_checked(&t);
	assert_int_equal(res->matched, 1);
	assert_int_equal(res->a[1].mentor, 2);   /* the cheaper pair */
	mentor_pair_result_free(res);
}

static void test_invalid_input(void **state)
{
	static struct inst t;
	struct mentor_pair_result *res = NULL;
	struct mentor_error err;

	(void)state;
	plain_inst(&t, 3);
	add_mentee(&t, 0, 0);
	add_cand(&t, 1, 0, 0.9);

	t.cands[0].strength = 1.5;
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	t.cands[0].strength = NAN;
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	t.cands[0].strength = 0.9;
	t.mentees[0].agent = 3;
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	t.mentees[0].agent = 0;
	add_mentee(&t, 0, 0);
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	assert_non_null(strstr(err.msg, "m0"));
	t.in.n_mentees = 1;
	add_cand(&t, 1, 0, 0.8);
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	t.in.n_candidates = 1;
	t.agents[2].id = "m1";
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	assert_non_null(strstr(err.msg, "duplicate agent id m1"));
	t.agents[2].id = "m2";
	t.recent[t.in.n_recent++] = (struct mentor_pair_recent){ 0, 1, -2 };
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	t.in.n_recent = 0;
	t.cfg.w_load = -1;
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	mentor_pair_config_init(&t.cfg);
	t.cfg.capacity = MENTOR_PAIR_CAPACITY_MAX + 1;
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	assert_null(res);
	t.cfg.capacity = 2;
	t.cfg.cross_team = (enum mentor_cross_team)7;
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	t.cfg.cross_team = MENTOR_CROSS_TEAM_PREFERRED;
	t.cfg.prune = -1;
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	t.cfg.prune = 0;
	t.agents[2].id = "";
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	t.agents[2].id = "m2";
	t.agents[2].active_mentees = -1;
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	t.agents[2].active_mentees = 0;
	t.in.recent = NULL;
	t.in.n_recent = 1;
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	t.in.recent = t.recent;
	t.in.n_recent = 0;
	t.in.n_mentees = MENTOR_PAIR_MENTEES_MAX + 1;
	assert_int_equal(mentor_pair_round(&t.in, &t.cfg, &res, &err), MENTOR_ERR_INVALID);
	t.in.n_mentees = 1;
	assert_null(res);
	res = run_checked(&t);
	assert_int_equal(res->matched, 1);
	mentor_pair_result_free(res);
	mentor_pair_result_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_vs_brute_force),
		cmocka_unit_test(test_random_large_pruning),
		cmocka_unit_test(test_capacity_spreads_load),
		cmocka_unit_test(test_max_matched_first),
		cmocka_unit_test(test_cross_team),
		cmocka_unit_test(test_own_team_lead_never),
		cmocka_unit_test(test_language_and_site),
		cmocka_unit_test(test_cooldown),
		cmocka_unit_test(test_mentor_rules),
		cmocka_unit_test(test_waits_without_mentor),
		cmocka_unit_test(test_capacity_across_behaviors),
		cmocka_unit_test(test_invalid_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
