/*
 * Unit tests for lib/detect.c: the detection state machine of SPEC section 2
 * run at checkpoints (docs/design-analytics.md).
 *
 * The arithmetic itself is tested in test_stats.c; here the questions are
 * whether the right keys are decided from the right window, with the right
 * previous state, in a fixed order, and whether a planted population of low
 * agents is found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mentor/detect.h"
#include "mentor/events.h"

/* Seed of the planted scenario; -DPLANT_SEED=... runs another draw of it. */
#ifndef PLANT_SEED
#define PLANT_SEED 20261122
#endif

/* 2026-11-02, the SPEC example day (see test_stats.c). */
#define DAY0 INT64_C(20759)

/* ---- Collected rows (the strings are borrowed, so copy them) ---- */

struct got {
	struct mentor_detect_row *r;
	char (*agent)[MENTOR_ID_MAX];
	char (*metric)[MENTOR_ID_MAX];
	size_t n, cap;
	int fail_at;   /* emit returns MENTOR_ERR_DB at this row (0-based); -1: never */
};

static void got_init(struct got *g)
{
	memset(g, 0, sizeof(*g));
	g->fail_at = -1;
}

static void got_clear(struct got *g)
{
	free(g->r);
	free(g->agent);
	free(g->metric);
	got_init(g);
}

static int collect(void *ctx, const struct mentor_detect_row *row)
{
	struct got *g = ctx;

	if (g->fail_at >= 0 && (size_t)g->fail_at == g->n)
		return MENTOR_ERR_DB;
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->r = realloc(g->r, g->cap * sizeof(*g->r));
		g->agent = realloc(g->agent, g->cap * sizeof(*g->agent));
		g->metric = realloc(g->metric, g->cap * sizeof(*g->metric));
		assert_non_null(g->r);
		assert_non_null(g->agent);
		assert_non_null(g->metric);
	}
	g->r[g->n] = *row;
	snprintf(g->agent[g->n], MENTOR_ID_MAX, "%s", row->agent_id);
	snprintf(g->metric[g->n], MENTOR_ID_MAX, "%s", row->metric);
	g->r[g->n].agent_id = g->agent[g->n];
	g->r[g->n].metric = g->metric[g->n];
	g->n++;
	return MENTOR_OK;
}

/* The row of (agent, metric), or NULL. */
static const struct mentor_detect_row *find_row(const struct got *g, const char *agent,
						 const char *metric)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->agent[i], agent) == 0 && strcmp(g->metric[i], metric) == 0)
			return &g->r[i];
	return NULL;
}

/* Same doubles bit for bit, NaN included. */
static bool same_double(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static void assert_same_rows(const struct got *a, const struct got *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct mentor_detect_row *x = &a->r[i], *y = &b->r[i];

		assert_string_equal(a->agent[i], b->agent[i]);
		assert_string_equal(a->metric[i], b->metric[i]);
		assert_int_equal(x->n, y->n);
		assert_true(same_double(x->mean, y->mean));
		assert_true(same_double(x->shrunk, y->shrunk));
		assert_true(same_double(x->ci_low, y->ci_low));
		assert_true(same_double(x->ci_high, y->ci_high));
		assert_true(same_double(x->pop_mean, y->pop_mean));
		assert_true(same_double(x->k, y->k));
		assert_int_equal(x->level, y->level);
		assert_int_equal(x->prev, y->prev);
		assert_int_equal(x->why, y->why);
		assert_int_equal(x->since_day, y->since_day);
		assert_int_equal(x->fired, y->fired);
		assert_int_equal(x->below_now, y->below_now);
		assert_int_equal(x->weekly_low, y->weekly_low);
	}
}

/* Rows must come in (metric, agent_id) byte order, each key once. */
static void assert_sorted(const struct got *g)
{
	for (size_t i = 1; i < g->n; i++) {
		int c = strcmp(g->metric[i - 1], g->metric[i]);

		if (c == 0)
			c = strcmp(g->agent[i - 1], g->agent[i]);
		assert_true(c < 0);
	}
}

static int evaluate(struct mentor_detector *det, int64_t day, const struct mentor_stats_params *p,
		    struct got *g)
{
	struct mentor_error err = { 0 };

	got_clear(g);
	return mentor_detector_evaluate(det, day, p, collect, g, &err);
}

static struct mentor_detector *new_detector(void)
{
	struct mentor_detector *det = NULL;
	struct mentor_error err = { 0 };

	assert_int_equal(mentor_detector_new(&det, &err), MENTOR_OK);
	return det;
}

/* n observations of the same value on one day. */
static void add_same(struct mentor_detector *det, const char *agent, const char *metric,
		     int64_t day, int64_t n, double value)
{
	struct mentor_error err = { 0 };

	assert_int_equal(mentor_detector_add_daily(det, agent, metric, day, n, (double)n * value,
						   (double)n * value * value, &err), MENTOR_OK);
}

/* ---- Seeded PRNG (splitmix64): the scenario is the same on every run ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)  /* [0, 1) */
{
	return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static double rng_normal(uint64_t *s)
{
	double u = 1.0 - rng_unit(s), v = rng_unit(s);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static int rng_poisson(uint64_t *s, double lambda)
{
	double l = exp(-lambda), p = 1.0;
	int k = 0;

	do {
		k++;
		p *= rng_unit(s);
	} while (p > l);
	return k - 1;
}

static int rng_binomial(uint64_t *s, int trials, double p)
{
	int k = 0;

	for (int i = 0; i < trials; i++)
		k += rng_unit(s) < p;
	return k;
}

/* ---- Planted scenario ---- */

#define PL_AGENTS 300
#define PL_METRICS 4
#define PL_DAYS 28

static const char *const pl_metrics[PL_METRICS] = { "aqm", "csat", "empathy", "hold" };

struct planted {
	double skill[PL_AGENTS][PL_METRICS];
	bool low[PL_AGENTS][PL_METRICS];
	bool sparse[PL_AGENTS];   /* 1 to 3 observations in all per metric */
};

/*
 * Latent skill ~ N(0.78, 0.08), kept within 2 SD: no agent that is not
 * planted is truly below the low threshold (0.62 > 0.60), so flagging one is
 * a real false positive. 8% of keys are planted at N(0.40, 0.04). Each observation is
 * Binomial(10, skill) / 10 (a 10-item form), about 1.5 a day, except for
 * 5% of agents that have only 1 to 3 observations per metric in the window.
 */
static void plant(struct mentor_detector *det, struct planted *pl, uint64_t seed)
{
	struct mentor_error err = { 0 };
	uint64_t s = seed;
	char id[32];

	for (int a = 0; a < PL_AGENTS; a++) {
		snprintf(id, sizeof(id), "agent-%04d", a);
		pl->sparse[a] = rng_unit(&s) < 0.05;
		/* 90% active; the rest may be low but never mentors. */
		if (rng_unit(&s) < 0.9)
			assert_int_equal(mentor_detector_set_agent(det, id, true, &err), MENTOR_OK);
		for (int m = 0; m < PL_METRICS; m++) {
			double z;

			pl->low[a][m] = rng_unit(&s) < 0.08;
			if (pl->low[a][m]) {
				pl->skill[a][m] = 0.40 + 0.04 * rng_normal(&s);
			} else {
				do
					z = rng_normal(&s);
				while (fabs(z) > 2.0);
				pl->skill[a][m] = 0.78 + 0.08 * z;
			}
			if (pl->sparse[a]) {
				int total = 1 + (int)(rng_next(&s) % 3);

				for (int i = 0; i < total; i++) {
					double x = rng_binomial(&s, 10, pl->skill[a][m]) / 10.0;
					int64_t day = DAY0 + (int64_t)(rng_next(&s) % PL_DAYS);

					assert_int_equal(mentor_detector_add_daily(det, id, pl_metrics[m], day,
										   1, x, x * x, &err), MENTOR_OK);
				}
				continue;
			}
			for (int d = 0; d < PL_DAYS; d++) {
				int k = rng_poisson(&s, 1.5);
				double sum = 0.0, sumsq = 0.0;

				for (int i = 0; i < k; i++) {
					double x = rng_binomial(&s, 10, pl->skill[a][m]) / 10.0;

					sum += x;
					sumsq += x * x;
				}
				if (k > 0)
					assert_int_equal(mentor_detector_add_daily(det, id, pl_metrics[m],
										   DAY0 + d, k, sum, sumsq, &err),
							 MENTOR_OK);
			}
		}
	}
}

static void test_planted_scenario(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det = new_detector();
	struct planted *pl = calloc(1, sizeof(*pl));
	struct got g;
	size_t planted = 0, caught = 0, flagged = 0, true_flags = 0, highs = 0, sparse_rows = 0;
	double recall, precision;
	char id[32];

	(void)state;
	assert_non_null(pl);
	got_init(&g);
	mentor_stats_params_init(&p);
	plant(det, pl, PLANT_SEED);
	assert_int_equal(evaluate(det, DAY0 + PL_DAYS - 1, &p, &g), MENTOR_OK);
	assert_sorted(&g);
	/* Every key has data in the window: each is decided once. */
	assert_int_equal(g.n, PL_AGENTS * PL_METRICS);

	for (int a = 0; a < PL_AGENTS; a++) {
		snprintf(id, sizeof(id), "agent-%04d", a);
		for (int m = 0; m < PL_METRICS; m++) {
			const struct mentor_detect_row *r = find_row(&g, id, pl_metrics[m]);
			bool low;

			assert_non_null(r);
			low = r->level == MENTOR_LEVEL_LOW;
			/* A first decision into low is a trigger, and only that. */
			assert_int_equal(r->fired, low);
			assert_int_equal(r->since_day, DAY0 + PL_DAYS - 1);
			if (r->n < p.status.min_n) {
				assert_false(low);
				sparse_rows += pl->sparse[a];
			}
			if (pl->low[a][m] && r->n >= p.status.min_n) {
				planted++;
				caught += low;
			}
			if (low) {
				flagged++;
				true_flags += pl->low[a][m];
			}
			if (r->level == MENTOR_LEVEL_HIGH) {
				const struct mentor_detect_row *csat = find_row(&g, id, "csat");
				const struct mentor_detect_row *aqm = find_row(&g, id, "aqm");

				highs++;
				assert_true(r->n >= p.status.mentor_min_n);
				assert_true(r->ci_low >= p.status.high_threshold);
				assert_int_not_equal(csat->level, MENTOR_LEVEL_LOW);
				assert_int_not_equal(aqm->level, MENTOR_LEVEL_LOW);
			}
		}
	}
	recall = (double)caught / (double)planted;
	precision = (double)true_flags / (double)flagged;
	printf("planted: %zu planted lows with n >= min_n, %zu caught (recall %.4f); "
	       "%zu flagged, %zu planted (precision %.4f); %zu high; %zu sparse keys\n",
	       planted, caught, recall, flagged, true_flags, precision, highs, sparse_rows);
	assert_true(planted >= 50);
	assert_true(sparse_rows >= 20);  /* the few-observation agents are really there */
	assert_true(highs >= 5);         /* the high checks above are not vacuous */
	assert_true(recall >= 0.95);
	assert_true(precision >= 0.95);

	got_clear(&g);
	free(pl);
	mentor_detector_free(det);
}

/* ---- Hysteresis ---- */

/*
 * k = 0 and a one-day window make the shrunk mean the day's own mean, so
 * each checkpoint's input is exactly what the test says.
 */
static void exact_params(struct mentor_stats_params *p)
{
	mentor_stats_params_init(p);
	p->shrink.k = 0.0;
	p->shrink.window_days = 1;
}

static void test_hysteresis(void **state)
{
	/* Day by day: the agent's mean, then the level, whether it fires, since which day. */
	static const struct {
		double mean;
		enum mentor_level level;
		bool fired;
		int since;
		enum mentor_level_reason why;
	} steps[] = {
		{ 0.80, MENTOR_LEVEL_OK, false, 0, MENTOR_WHY_AVERAGE },
		{ 0.50, MENTOR_LEVEL_LOW, true, 1, MENTOR_WHY_BELOW_THRESHOLD },
		{ 0.62, MENTOR_LEVEL_LOW, false, 1, MENTOR_WHY_HYSTERESIS },  /* in the margin */
		{ 0.55, MENTOR_LEVEL_LOW, false, 1, MENTOR_WHY_BELOW_THRESHOLD },
		{ 0.65, MENTOR_LEVEL_LOW, false, 1, MENTOR_WHY_HYSTERESIS },  /* at the edge */
		{ 0.70, MENTOR_LEVEL_OK, false, 5, MENTOR_WHY_RECOVERED },
		{ 0.62, MENTOR_LEVEL_OK, false, 5, MENTOR_WHY_AVERAGE },      /* margin, from ok */
		{ 0.45, MENTOR_LEVEL_LOW, true, 7, MENTOR_WHY_BELOW_THRESHOLD },
	};
	struct mentor_stats_params p;
	struct mentor_detector *det = new_detector();
	struct got g;

	(void)state;
	got_init(&g);
	exact_params(&p);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct mentor_detect_row *r;

		add_same(det, "a", "empathy", DAY0 + (int64_t)i, 10, steps[i].mean);
		add_same(det, "b", "empathy", DAY0 + (int64_t)i, 10, 0.9);
		assert_int_equal(evaluate(det, DAY0 + (int64_t)i, &p, &g), MENTOR_OK);
		r = find_row(&g, "a", "empathy");
		assert_non_null(r);
		/* k = 0: the shrunk mean is the day's mean, up to the fixed point's rounding. */
		assert_true(fabs(r->shrunk - steps[i].mean) < 1e-12);
		assert_int_equal(r->level, steps[i].level);
		assert_int_equal(r->fired, steps[i].fired);
		assert_int_equal(r->since_day, DAY0 + steps[i].since);
		assert_int_equal(r->why, steps[i].why);
	}
	got_clear(&g);
	mentor_detector_free(det);
}

/* ---- Order independence ---- */

#define OI_AGENTS 40
#define OI_METRICS 3
#define OI_DAYS 12

struct delta {
	int agent, metric, day;
	int64_t n;
	double sum, sumsq;
};

/*
 * The same observations fed as whole days in key order, or as 1 to 4
 * deltas per day in a shuffled order. Observations are AQM-like hundredths.
 */
static size_t make_deltas(struct delta *out, bool split, uint64_t seed)
{
	uint64_t s = 7, shuffle = seed;
	size_t n = 0;

	for (int a = 0; a < OI_AGENTS; a++) {
		for (int m = 0; m < OI_METRICS; m++) {
			double skill = (a % 9 == 0) ? 0.45 : 0.6 + 0.3 * rng_unit(&s);

			for (int d = 0; d < OI_DAYS; d++) {
				int k = rng_poisson(&s, 3.0), parts;
				int64_t obs[32];

				if (k == 0)
					continue;
				if (k > 32)
					k = 32;
				for (int i = 0; i < k; i++)
					obs[i] = rng_binomial(&s, 100, skill);
				parts = split ? 1 + (int)(rng_next(&shuffle) % 4) : 1;
				if (parts > k)
					parts = k;
				for (int part = 0; part < parts; part++) {
					struct delta *x = &out[n++];

					*x = (struct delta){ .agent = a, .metric = m, .day = d };
					for (int i = part; i < k; i += parts) {
						double v = obs[i] / 100.0;

						x->n++;
						x->sum += v;
						x->sumsq += v * v;
					}
				}
			}
		}
	}
	if (split) {
		for (size_t i = n - 1; i > 0; i--) {  /* Fisher-Yates */
			size_t j = rng_next(&shuffle) % (i + 1);
			struct delta t = out[i];

			out[i] = out[j];
			out[j] = t;
		}
	}
	return n;
}

static void feed(struct mentor_detector *det, const struct delta *x, size_t n, int upto_day)
{
	static const char *const metrics[OI_METRICS] = { "csat", "aqm", "courtesy" };
	struct mentor_error err = { 0 };
	char id[32];

	for (size_t i = 0; i < n; i++) {
		if (x[i].day > upto_day)
			continue;
		snprintf(id, sizeof(id), "agent-%02d", x[i].agent);
		assert_int_equal(mentor_detector_add_daily(det, id, metrics[x[i].metric], DAY0 + x[i].day,
							   x[i].n, x[i].sum, x[i].sumsq, &err),
				 MENTOR_OK);
	}
}

static void test_order_independence(void **state)
{
	size_t cap = OI_AGENTS * OI_METRICS * OI_DAYS * 4;
	struct delta *whole = malloc(cap * sizeof(*whole)), *split = malloc(cap * sizeof(*split));
	struct mentor_detector *a = new_detector(), *b = new_detector(), *c = new_detector();
	struct mentor_stats_params p;
	struct mentor_error err = { 0 };
	struct got ga, gb, gc;
	size_t n_whole, n_split;
	char id[32];

	(void)state;
	assert_non_null(whole);
	assert_non_null(split);
	got_init(&ga);
	got_init(&gb);
	got_init(&gc);
	mentor_stats_params_init(&p);
	p.shrink.window_days = 5;
	p.shrink.estimate_k = true;
	n_whole = make_deltas(whole, false, 1);
	n_split = make_deltas(split, true, 99);
	assert_true(n_split > n_whole);
	/* Roster in opposite orders, too. */
	for (int i = 0; i < OI_AGENTS; i++) {
		snprintf(id, sizeof(id), "agent-%02d", i);
		assert_int_equal(mentor_detector_set_agent(a, id, i % 4 != 0, &err), MENTOR_OK);
		snprintf(id, sizeof(id), "agent-%02d", OI_AGENTS - 1 - i);
		assert_int_equal(mentor_detector_set_agent(b, id, (OI_AGENTS - 1 - i) % 4 != 0, &err),
				 MENTOR_OK);
		assert_int_equal(mentor_detector_set_agent(c, id, (OI_AGENTS - 1 - i) % 4 != 0, &err),
				 MENTOR_OK);
	}
	/*
	 * a: each day's whole deltas just before its checkpoint. b: split and
	 * shuffled, likewise. c: everything up front (later days too), split
	 * and shuffled: days ahead of a checkpoint must not count.
	 */
	feed(c, split, n_split, OI_DAYS);
	for (int d = 0; d < OI_DAYS; d++) {
		size_t lows = 0;

		for (size_t i = 0; i < n_whole; i++)
			if (whole[i].day == d)
				feed(a, &whole[i], 1, d);
		for (size_t i = 0; i < n_split; i++)
			if (split[i].day == d)
				feed(b, &split[i], 1, d);
		assert_int_equal(evaluate(a, DAY0 + d, &p, &ga), MENTOR_OK);
		assert_int_equal(evaluate(b, DAY0 + d, &p, &gb), MENTOR_OK);
		assert_int_equal(evaluate(c, DAY0 + d, &p, &gc), MENTOR_OK);
		assert_sorted(&ga);
		assert_same_rows(&ga, &gb);
		assert_same_rows(&ga, &gc);
		for (size_t i = 0; i < ga.n; i++)
			lows += ga.r[i].level == MENTOR_LEVEL_LOW;
		if (d >= 3)
			assert_true(lows > 0);  /* the planted 0.45 agents are in it */
		assert_true(ga.r[0].k_estimated);
	}
	got_clear(&ga);
	got_clear(&gb);
	got_clear(&gc);
	mentor_detector_free(a);
	mentor_detector_free(b);
	mentor_detector_free(c);
	free(whole);
	free(split);
}

/* ---- Window ---- */

static void test_window(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det = new_detector();
	struct mentor_error err = { 0 };
	const struct mentor_detect_row *r;
	struct got g;

	(void)state;
	got_init(&g);
	mentor_stats_params_init(&p);  /* 28 days */
	for (int d = 0; d < 10; d++) {
		add_same(det, "low", "empathy", DAY0 + d, 10, 0.3);
		add_same(det, "old", "empathy", DAY0 + d, 10, 0.8);
	}
	for (int d = 0; d < 40; d++)
		add_same(det, "bg", "empathy", DAY0 + d, 10, 0.8);

	assert_int_equal(evaluate(det, DAY0 + 9, &p, &g), MENTOR_OK);
	r = find_row(&g, "low", "empathy");
	assert_int_equal(r->n, 100);
	assert_int_equal(r->level, MENTOR_LEVEL_LOW);
	assert_true(r->fired);

	/* Day 27 is the last window holding day 0 (days 0..27). */
	assert_int_equal(evaluate(det, DAY0 + 27, &p, &g), MENTOR_OK);
	assert_int_equal(find_row(&g, "low", "empathy")->n, 100);
	assert_int_equal(evaluate(det, DAY0 + 28, &p, &g), MENTOR_OK);
	assert_int_equal(find_row(&g, "low", "empathy")->n, 90);
	assert_int_equal(find_row(&g, "bg", "empathy")->n, 280);

	/* Day 40: the window is days 13..40. */
	assert_int_equal(evaluate(det, DAY0 + 40, &p, &g), MENTOR_OK);
	/* Still low before: decided without data, pulled to the population, it leaves. */
	r = find_row(&g, "low", "empathy");
	assert_non_null(r);
	assert_int_equal(r->n, 0);
	assert_true(isnan(r->mean));
	assert_int_equal(r->level, MENTOR_LEVEL_OK);
	assert_int_equal(r->why, MENTOR_WHY_RECOVERED);
	/* Ok before and no data: nothing to decide, no row. */
	assert_null(find_row(&g, "old", "empathy"));
	assert_int_equal(find_row(&g, "bg", "empathy")->n, 270);
	assert_int_equal(mentor_detector_days_held(det, "low", "empathy"), 0);
	assert_int_equal(mentor_detector_days_held(det, "bg", "empathy"), 27);

	/* An earlier day is refused and changes nothing; the same day again is fine. */
	assert_int_equal(mentor_detector_evaluate(det, DAY0 + 39, &p, collect, &g, &err),
			 MENTOR_ERR_INVALID);
	assert_int_equal(err.code, MENTOR_ERR_INVALID);
	/* A day before the window can never count again: ignored. */
	add_same(det, "low", "empathy", DAY0 + 5, 10, 0.1);
	assert_int_equal(mentor_detector_days_held(det, "low", "empathy"), 0);
	assert_int_equal(evaluate(det, DAY0 + 40, &p, &g), MENTOR_OK);
	assert_null(find_row(&g, "low", "empathy"));  /* ok now, no data */
	assert_int_equal(find_row(&g, "bg", "empathy")->n, 270);

	got_clear(&g);
	mentor_detector_free(det);
}

/* ---- restore ---- */

static void test_restore(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *fresh = new_detector(), *restored = new_detector();
	struct mentor_error err = { 0 };
	const struct mentor_detect_row *r;
	struct got g;

	(void)state;
	got_init(&g);
	exact_params(&p);
	add_same(fresh, "a", "empathy", DAY0, 10, 0.5);
	add_same(restored, "a", "empathy", DAY0, 10, 0.5);
	assert_int_equal(mentor_detector_restore(restored, "a", "empathy", MENTOR_LEVEL_LOW, DAY0 - 3,
						 &err), MENTOR_OK);

	assert_int_equal(evaluate(fresh, DAY0, &p, &g), MENTOR_OK);
	r = find_row(&g, "a", "empathy");
	assert_true(r->fired);
	assert_int_equal(r->since_day, DAY0);

	assert_int_equal(evaluate(restored, DAY0, &p, &g), MENTOR_OK);
	r = find_row(&g, "a", "empathy");
	assert_int_equal(r->level, MENTOR_LEVEL_LOW);
	assert_int_equal(r->prev, MENTOR_LEVEL_LOW);
	assert_false(r->fired);
	assert_int_equal(r->since_day, DAY0 - 3);

	/* A restored high without data is re-examined and loses it. */
	assert_int_equal(mentor_detector_restore(restored, "m", "empathy", MENTOR_LEVEL_HIGH, DAY0 - 9,
						 &err), MENTOR_OK);
	assert_int_equal(evaluate(restored, DAY0, &p, &g), MENTOR_OK);
	r = find_row(&g, "m", "empathy");
	assert_non_null(r);
	assert_int_equal(r->n, 0);
	assert_int_equal(r->level, MENTOR_LEVEL_OK);
	assert_int_equal(r->since_day, DAY0);

	assert_int_equal(mentor_detector_restore(restored, "a", "empathy", (enum mentor_level)7, DAY0,
						 &err), MENTOR_ERR_INVALID);
	got_clear(&g);
	mentor_detector_free(fresh);
	mentor_detector_free(restored);
}

/* ---- Memory bound ---- */

static void test_memory_bound(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *stepped = new_detector(), *bulk = new_detector();
	struct got g;

	(void)state;
	got_init(&g);
	mentor_stats_params_init(&p);
	for (int d = 0; d < 60; d++) {
		add_same(stepped, "a", "empathy", DAY0 + d, 3, 0.7);
		assert_int_equal(evaluate(stepped, DAY0 + d, &p, &g), MENTOR_OK);
		assert_true(mentor_detector_days_held(stepped, "a", "empathy") <= 28);
	}
	assert_int_equal(mentor_detector_days_held(stepped, "a", "empathy"), 28);
	assert_int_equal(find_row(&g, "a", "empathy")->n, 28 * 3);

	/* Without checkpoints the days wait for one; the first forgets all but the window. */
	for (int d = 59; d >= 0; d--)
		add_same(bulk, "a", "empathy", DAY0 + d, 3, 0.7);
	assert_int_equal(mentor_detector_days_held(bulk, "a", "empathy"), 60);
	assert_int_equal(evaluate(bulk, DAY0 + 59, &p, &g), MENTOR_OK);
	assert_int_equal(mentor_detector_days_held(bulk, "a", "empathy"), 28);
	assert_int_equal(find_row(&g, "a", "empathy")->n, 28 * 3);
	assert_int_equal(mentor_detector_days_held(bulk, "nobody", "empathy"), 0);

	got_clear(&g);
	mentor_detector_free(stepped);
	mentor_detector_free(bulk);
}

/* ---- Mentor eligibility ---- */

static void test_high_eligibility(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det = new_detector();
	struct mentor_error err = { 0 };
	static const char *const who[] = { "star", "low-csat", "low-aqm", "inactive", "unknown" };
	struct got g;

	(void)state;
	got_init(&g);
	exact_params(&p);
	/* Empathy with some spread, so the interval is defined: half 0.95, half 0.93. */

	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(mentor_detector_add_daily(det, who[i], "empathy", DAY0, 40,
							   20 * 0.95 + 20 * 0.93,
							   20 * 0.95 * 0.95 + 20 * 0.93 * 0.93, &err), MENTOR_OK);
		add_same(det, who[i], "csat", DAY0, 10, strcmp(who[i], "low-csat") == 0 ? 0.3 : 0.8);
		add_same(det, who[i], "aqm", DAY0, 10, strcmp(who[i], "low-aqm") == 0 ? 0.3 : 0.8);
		if (strcmp(who[i], "unknown") != 0)
			assert_int_equal(mentor_detector_set_agent(det, who[i], strcmp(who[i], "inactive") != 0,
								   &err), MENTOR_OK);
	}
	assert_int_equal(evaluate(det, DAY0, &p, &g), MENTOR_OK);
	assert_sorted(&g);
	assert_int_equal(find_row(&g, "star", "empathy")->level, MENTOR_LEVEL_HIGH);
	assert_int_equal(find_row(&g, "star", "empathy")->why, MENTOR_WHY_CONFIDENT_HIGH);
	assert_int_equal(find_row(&g, "low-csat", "empathy")->why, MENTOR_WHY_LOW_OVERALL);
	assert_int_equal(find_row(&g, "low-aqm", "empathy")->why, MENTOR_WHY_LOW_OVERALL);
	assert_int_equal(find_row(&g, "inactive", "empathy")->why, MENTOR_WHY_INACTIVE);
	assert_int_equal(find_row(&g, "unknown", "empathy")->why, MENTOR_WHY_INACTIVE);
	/* An agent the roster has never seen can still be low. */
	add_same(det, "unknown", "empathy", DAY0 + 1, 10, 0.2);
	assert_int_equal(evaluate(det, DAY0 + 1, &p, &g), MENTOR_OK);
	assert_int_equal(find_row(&g, "unknown", "empathy")->level, MENTOR_LEVEL_LOW);
	assert_true(find_row(&g, "unknown", "empathy")->fired);
	got_clear(&g);
	mentor_detector_free(det);
}

/* ---- Persistence (X of Y weeks) ---- */

static void test_persistence(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det = new_detector();
	struct mentor_error err = { 0 };
	const struct mentor_detect_row *r;
	int64_t monday = DAY0;  /* 2026-11-02 is a Monday */
	struct got g;

	(void)state;
	got_init(&g);
	exact_params(&p);
	p.status.persist_x = 2;
	p.status.persist_y = 3;
	assert_int_equal(mentor_detector_week_of(4), 1);    /* 1970-01-05, a Monday */
	assert_int_equal(mentor_detector_week_of(3), 0);
	assert_int_equal(mentor_detector_week_of(-3), 0);   /* 1969-12-29, a Monday */
	assert_int_equal(mentor_detector_week_of(-4), -1);  /* 1969-12-28, a Sunday */
	assert_int_equal(mentor_detector_week_of(-10), -1);
	assert_int_equal(mentor_detector_week_of(-11), -2);
	assert_int_equal(mentor_detector_week_of(monday + 6), mentor_detector_week_of(monday));

	/* Week 1: below, but in 1 of 3 weeks only. */
	add_same(det, "a", "empathy", monday, 10, 0.5);
	assert_int_equal(evaluate(det, monday, &p, &g), MENTOR_OK);
	r = find_row(&g, "a", "empathy");
	assert_int_equal(r->level, MENTOR_LEVEL_OK);
	assert_int_equal(r->why, MENTOR_WHY_NOT_PERSISTENT);
	assert_int_equal(r->weekly_low, 1);
	/* A later checkpoint of the same week overwrites that week's flag. */
	add_same(det, "a", "empathy", monday + 2, 10, 0.8);
	assert_int_equal(evaluate(det, monday + 2, &p, &g), MENTOR_OK);
	assert_int_equal(find_row(&g, "a", "empathy")->weekly_low, 0);
	add_same(det, "a", "empathy", monday + 3, 10, 0.5);
	assert_int_equal(evaluate(det, monday + 3, &p, &g), MENTOR_OK);
	assert_int_equal(find_row(&g, "a", "empathy")->weekly_low, 1);
	/* Week 2: below again, 2 of 3: low, and it fires. */
	add_same(det, "a", "empathy", monday + 7, 10, 0.5);
	assert_int_equal(evaluate(det, monday + 7, &p, &g), MENTOR_OK);
	r = find_row(&g, "a", "empathy");
	assert_int_equal(r->weekly_low, 3);
	assert_int_equal(r->level, MENTOR_LEVEL_LOW);
	assert_true(r->fired);
	mentor_detector_free(det);

	/* A restart with the stored history decides week 2 the same way. */
	det = new_detector();
	assert_int_equal(mentor_detector_restore_weeks(det, "a", "empathy", mentor_detector_week_of(monday),
						       1, &err), MENTOR_OK);
	add_same(det, "a", "empathy", monday + 7, 10, 0.5);
	assert_int_equal(evaluate(det, monday + 7, &p, &g), MENTOR_OK);
	r = find_row(&g, "a", "empathy");
	assert_int_equal(r->weekly_low, 3);
	assert_int_equal(r->level, MENTOR_LEVEL_LOW);
	assert_true(r->fired);
	/* Without it, the same week is only 1 of 3. */
	mentor_detector_free(det);
	det = new_detector();
	add_same(det, "a", "empathy", monday + 7, 10, 0.5);
	assert_int_equal(evaluate(det, monday + 7, &p, &g), MENTOR_OK);
	assert_int_equal(find_row(&g, "a", "empathy")->why, MENTOR_WHY_NOT_PERSISTENT);
	got_clear(&g);
	mentor_detector_free(det);
}

/* ---- Errors ---- */

static void test_emit_error_changes_nothing(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det = new_detector();
	struct mentor_error err = { 0 };
	struct got g;

	(void)state;
	got_init(&g);
	exact_params(&p);
	p.shrink.window_days = 7;
	add_same(det, "a", "empathy", DAY0, 10, 0.5);
	add_same(det, "b", "empathy", DAY0, 10, 0.5);
	g.fail_at = 1;  /* "a" is emitted, then the caller fails on "b" */
	assert_int_equal(mentor_detector_evaluate(det, DAY0 + 5, &p, collect, &g, &err), MENTOR_ERR_DB);
	/* Not committed: an earlier day is still allowed and both still fire. */
	assert_int_equal(evaluate(det, DAY0, &p, &g), MENTOR_OK);
	assert_int_equal(g.n, 2);
	assert_true(g.r[0].fired);
	assert_true(g.r[1].fired);
	got_clear(&g);
	mentor_detector_free(det);
}

static void test_invalid_input(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det = new_detector();
	struct mentor_error err = { 0 };
	char longid[MENTOR_ID_MAX + 1];
	struct got g;

	(void)state;
	got_init(&g);
	mentor_stats_params_init(&p);
	memset(longid, 'x', MENTOR_ID_MAX);
	longid[MENTOR_ID_MAX] = '\0';
	assert_int_equal(mentor_detector_add_daily(det, "a", "m", DAY0, 0, 0, 0, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_add_daily(det, "a", "m", DAY0, 1, NAN, 0, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_add_daily(det, "a", "m", DAY0, 1, -0.5, 0, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_add_daily(det, "a", "m", DAY0, 1, 0.5, INFINITY, &err),
			 MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_add_daily(det, "", "m", DAY0, 1, 0.5, 0.25, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_add_daily(det, NULL, "m", DAY0, 1, 0.5, 0.25, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_add_daily(det, "a", longid, DAY0, 1, 0.5, 0.25, &err),
			 MENTOR_ERR_INVALID);
	longid[MENTOR_ID_MAX - 1] = '\0';  /* MENTOR_ID_MAX - 1 bytes: the longest allowed */
	assert_int_equal(mentor_detector_add_daily(det, longid, "m", DAY0, 1, 0.5, 0.25, &err), MENTOR_OK);
	assert_int_equal(mentor_detector_set_agent(det, "", true, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_add_daily(det, "a", "m", DAY0, INT64_MAX, 0.5, 0.25, &err),
			 MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_add_daily(det, "a", "m", INT64_C(1) << 40, 1, 0.5, 0.25, &err),
			 MENTOR_ERR_INVALID);
	/* A day's total must stay in range too. */
	assert_int_equal(mentor_detector_add_daily(det, "a", "m", DAY0, INT32_MAX, 0.5, 0.25, &err), MENTOR_OK);
	assert_int_equal(mentor_detector_add_daily(det, "a", "m", DAY0, 1, 0.5, 0.25, &err), MENTOR_ERR_INVALID);
	/* Fixed-point sums: 14 deltas of MENTOR_DETECT_SUM_MAX fit in a day, the 15th overflows. */
	assert_int_equal(mentor_detector_add_daily(det, "b", "m", DAY0, 1, MENTOR_DETECT_SUM_MAX * 1.01, 0, &err),
			 MENTOR_ERR_INVALID);
	for (int i = 0; i < 14; i++)
		assert_int_equal(mentor_detector_add_daily(det, "b", "m", DAY0, 1, MENTOR_DETECT_SUM_MAX,
							   MENTOR_DETECT_SUM_MAX, &err), MENTOR_OK);
	assert_int_equal(mentor_detector_add_daily(det, "b", "m", DAY0, 1, MENTOR_DETECT_SUM_MAX,
						   MENTOR_DETECT_SUM_MAX, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_evaluate(det, DAY0, &p, NULL, NULL, &err), MENTOR_ERR_INVALID);
	p.shrink.window_days = 0;
	assert_int_equal(mentor_detector_evaluate(det, DAY0, &p, collect, &g, &err), MENTOR_ERR_INVALID);
	got_clear(&g);
	mentor_detector_free(det);
	mentor_detector_free(NULL);
}

/* Many agents: the tables grow and rehash, every key stays findable. */
static void test_many_keys(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det = new_detector();
	static const char *const metrics[] = { "m1", "m2", "m3" };
	struct got g;
	char id[32];

	(void)state;
	got_init(&g);
	mentor_stats_params_init(&p);
	for (int i = 4999; i >= 0; i--) {
		snprintf(id, sizeof(id), "%d", i * 7919 % 5000);  /* a scrambled order */
		for (int m = 0; m < 3; m++)
			add_same(det, id, metrics[m], DAY0 + i % 3, 1 + i % 5, 0.75);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "%d", i);
		assert_int_equal(mentor_detector_days_held(det, id, "m2"), 1);
	}
	assert_int_equal(evaluate(det, DAY0 + 2, &p, &g), MENTOR_OK);
	assert_int_equal(g.n, 15000);
	assert_sorted(&g);  /* byte order: "10" before "2" */
	assert_string_equal(g.agent[0], "0");
	assert_string_equal(g.agent[1], "1");
	assert_string_equal(g.agent[2], "10");
	got_clear(&g);
	mentor_detector_free(det);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_planted_scenario),
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_order_independence),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_memory_bound),
		cmocka_unit_test(test_high_eligibility),
		cmocka_unit_test(test_persistence),
		cmocka_unit_test(test_emit_error_changes_nothing),
		cmocka_unit_test(test_invalid_input),
		cmocka_unit_test(test_many_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
