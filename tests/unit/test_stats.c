/*
 * Unit tests for lib/stats.c: the numbers of SPEC sections 2 and 4.
 *
 * Expected values are either worked out by hand in the comments or come from
 * SciPy: tests/reference/stats_reference.py, run with scipy 1.17.1 and numpy
 * 2.4.6, prints every such value; each is quoted here with the exact call
 * that produced it. Every comparison states its tolerance. The SPEC's
 * window and shrinkage examples run where the daemon runs them: status
 * windows and the 5-for-5 and 0-for-2 agents through the detector
 * (test_detect.c), KPI windows through the KPI set (test_kpi.c).
 */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "mentor/stats.h"
#include "test_util.h"

/* Rounding in the last bits of a sum of a few doubles. */
#define TOL_EXACT 1e-12

static struct mentor_sums sums_of(const double *x, size_t n)
{
	struct mentor_sums s = { 0 };

	for (size_t i = 0; i < n; i++) {
		s.n++;
		s.sum += x[i];
		s.sumsq += x[i] * x[i];
	}
	return s;
}

/* CSAT 1..5 onto 0..1. */
static void normalize_csat(const int *raw, double *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (raw[i] - 1) / 4.0;
}

static struct mentor_stats_params defaults(void)
{
	struct mentor_stats_params p;

	mentor_stats_params_init(&p);
	return p;
}

/* ---- Parameters ---- */

static void test_params_defaults(void **state)
{
	struct mentor_stats_params p = defaults();
	struct mentor_error err = { 0 };

	(void)state;
	assert_int_equal(p.shrink.window_days, 28);
	assert_near(p.shrink.k, 10.0, 0.0);
	assert_false(p.shrink.estimate_k);
	assert_near(p.shrink.confidence, 0.90, 0.0);
	assert_near(p.status.low_threshold, 0.60, 0.0);
	assert_near(p.status.hysteresis, 0.05, 0.0);
	assert_int_equal(p.status.min_n, 8);
	assert_int_equal(p.status.mentor_min_n, 20);
	assert_near(p.status.high_threshold, 0.85, 0.0);
	assert_int_equal(p.status.persist_x, 0);
	assert_int_equal(p.status.persist_y, 0);
	assert_int_equal(p.kpi.before_days, 28);
	assert_int_equal(p.kpi.after_days, 28);
	assert_int_equal(p.kpi.washout_days, 0);
	assert_near(p.kpi.confidence, 0.95, 0.0);
	assert_int_equal(mentor_stats_params_validate(&p, &err), MENTOR_OK);
}

static void test_params_invalid(void **state)
{
	struct mentor_stats_params p;
	struct mentor_error err = { 0 };

	(void)state;
	p = defaults();
	p.kpi.washout_days = 28;
	assert_int_equal(mentor_stats_params_validate(&p, &err), MENTOR_ERR_INVALID);
	assert_non_null(strstr(err.msg, "washout"));

	p = defaults();
	p.kpi.confidence = 1.0;
	assert_int_equal(mentor_stats_params_validate(&p, &err), MENTOR_ERR_INVALID);

	p = defaults();
	p.shrink.confidence = NAN;
	assert_int_equal(mentor_stats_params_validate(&p, &err), MENTOR_ERR_INVALID);

	p = defaults();
	p.shrink.k = -1.0;
	assert_int_equal(mentor_stats_params_validate(&p, &err), MENTOR_ERR_INVALID);

	p = defaults();
	p.status.persist_x = 3;
	p.status.persist_y = 2;
	assert_int_equal(mentor_stats_params_validate(&p, &err), MENTOR_ERR_INVALID);
	assert_non_null(strstr(err.msg, "persistence"));

	p = defaults();
	p.status.persist_x = 2;
	p.status.persist_y = 3;
	assert_int_equal(mentor_stats_params_validate(&p, &err), MENTOR_OK);

	p = defaults();
	p.status.low_threshold = 0.98;  /* + 0.05 hysteresis leaves 0..1 */
	assert_int_equal(mentor_stats_params_validate(&p, &err), MENTOR_ERR_INVALID);

	p = defaults();
	p.shrink.window_days = 0;
	assert_int_equal(mentor_stats_params_validate(&p, &err), MENTOR_ERR_INVALID);
}

/* ---- Windows ---- */

static void test_day_of(void **state)
{
	(void)state;
	assert_int_equal(mentor_stats_day_of(SPEC_TS_US), SPEC_DAY);
	assert_int_equal(mentor_stats_day_of(0), 0);
	assert_int_equal(mentor_stats_day_of(MENTOR_US_PER_DAY - 1), 0);
	assert_int_equal(mentor_stats_day_of(MENTOR_US_PER_DAY), 1);
	/* Before 1970 a day still starts at its midnight. */
	assert_int_equal(mentor_stats_day_of(-1), -1);
	assert_int_equal(mentor_stats_day_of(-MENTOR_US_PER_DAY), -1);
	assert_int_equal(mentor_stats_day_of(-MENTOR_US_PER_DAY - 1), -2);
}

/* ---- Moments ---- */

static void test_moments(void **state)
{
	/* n 5, sum 2.5, mean 0.5, sumsq 1.53, SS = 1.53 - 2.5 * 0.5 = 0.28, var = 0.28 / 4 = 0.07 */
	static const double x[] = { 0.2, 0.4, 0.4, 0.6, 0.9 };
	struct mentor_sums s = sums_of(x, 5);
	struct mentor_sums one = { 1, 0.3, 0.09 }, none = { 0 };

	(void)state;
	assert_near(mentor_stats_mean(&s), 0.5, TOL_EXACT);
	assert_near(mentor_stats_variance(&s), 0.07, TOL_EXACT);
	assert_near(mentor_stats_mean(&one), 0.3, 0.0);
	assert_true(isnan(mentor_stats_variance(&one)));
	assert_true(isnan(mentor_stats_mean(&none)));
	assert_true(isnan(mentor_stats_variance(&none)));
}

/* Equal values: the rounding residue of sumsq - sum^2/n must come out as exactly 0, never negative. */
static void test_moments_rounding(void **state)
{
	static const double values[] = { 0.1, 0.7, 0.3, 1.0 / 3.0, 0.95 };

	(void)state;
	for (size_t v = 0; v < 5; v++) {
		for (int n = 2; n <= 1000; n += 7) {
			struct mentor_sums s = { 0 };
			double var;

			for (int i = 0; i < n; i++) {
				s.n++;
				s.sum += values[v];
				s.sumsq += values[v] * values[v];
			}
			var = mentor_stats_variance(&s);
			if (var != 0.0)
				fail_msg("value %g n %d: variance %.17g, expected exactly 0", values[v], n, var);
		}
	}
}

/* ---- Shrinkage ---- */

/* pop_mean 0.75, within variance 0.04, k 10; z(90%) = norm.ppf(0.95) = 1.6448536269514722 (Z90). */
static const struct mentor_population pop_fixed = {
	.n_agents = 50, .n_obs = 1000, .mean = 0.75, .sigma2_within = 0.04,
	.tau2_between = NAN, .k = 10.0, .k_estimated = false,
};

static void test_shrink_edges(void **state)
{
	struct mentor_stats_params p = defaults();
	struct mentor_population pop = pop_fixed;
	struct mentor_sums none = { 0 }, nine = { 30, 29.0, 28.1 };
	struct mentor_shrunk sh;

	(void)state;
	/* No data: the population mean, interval from the prior alone: 0.75 -+ 1.644854 * sqrt(0.04 / 10). */
	mentor_stats_shrink(&none, &pop, mentor_stats_two_sided_z(p.shrink.confidence), &sh);
	assert_true(isnan(sh.mean));
	assert_near(sh.shrunk, 0.75, 0.0);
	assert_near(sh.ci_low, 0.75 - Z90 * 0.06324555320336759, 1e-12);

	/* k = 0 and no data: the population mean, no interval. */
	pop.k = 0.0;
	mentor_stats_shrink(&none, &pop, mentor_stats_two_sided_z(p.shrink.confidence), &sh);
	assert_near(sh.shrunk, 0.75, 0.0);
	assert_true(isnan(sh.ci_low) && isnan(sh.ci_high));

	/* k = 0: no shrinkage at all. */
	mentor_stats_shrink(&nine, &pop, mentor_stats_two_sided_z(p.shrink.confidence), &sh);
	assert_near(sh.shrunk, 29.0 / 30.0, TOL_EXACT);

	/* The interval is clamped to 0..1: pop mean 0.98, 30 observations of 0.99 average. */
	pop = pop_fixed;
	pop.mean = 0.98;
	mentor_stats_shrink(&(struct mentor_sums){ 30, 29.7, 29.403 }, &pop, mentor_stats_two_sided_z(p.shrink.confidence), &sh);
	assert_near(sh.shrunk, (29.7 + 9.8) / 40.0, TOL_EXACT);
	assert_near(sh.ci_high, 1.0, 0.0);

	/* Unknown within variance: no interval, so never high. */
	pop = pop_fixed;
	pop.sigma2_within = NAN;
	mentor_stats_shrink(&nine, &pop, mentor_stats_two_sided_z(p.shrink.confidence), &sh);
	assert_true(isnan(sh.ci_low));
}

/*
 * Method-of-moments k on six agents (values in tests/reference/stats_reference.py):
 * pop mean 0.712, sigma2_within 0.0073684210526, tau2 0.0398918128655, k 0.184710107748
 * (numpy, same formulas as the header). Check also by hand: SS = 0.02 + 0.04 + 0.02
 * + 0.02 + 0.04 + 0 = 0.14 over df = 3+5+4+1+6+0 = 19: 0.14 / 19 = 0.0073684.
 */
static void test_population_estimate(void **state)
{
	static const double a1[] = { 0.9, 0.8, 1.0, 0.9 };
	static const double a2[] = { 0.5, 0.6, 0.4, 0.5, 0.6, 0.4 };
	static const double a3[] = { 0.7, 0.7, 0.8, 0.6, 0.7 };
	static const double a4[] = { 0.3, 0.5 };
	static const double a5[] = { 1.0, 0.9, 0.8, 0.9, 1.0, 0.8, 0.9 };
	static const double a6[] = { 0.6 };
	struct mentor_sums agents[7];
	struct mentor_stats_params p = defaults();
	struct mentor_population pop;
	struct mentor_error err = { 0 };

	(void)state;
	agents[0] = sums_of(a1, 4);
	agents[1] = sums_of(a2, 6);
	agents[2] = (struct mentor_sums){ 0 };   /* an agent with nothing in the window */
	agents[3] = sums_of(a3, 5);
	agents[4] = sums_of(a4, 2);
	agents[5] = sums_of(a5, 7);
	agents[6] = sums_of(a6, 1);

	/* Fixed k: the configured 10, population mean and within variance still computed. */
	assert_int_equal(mentor_stats_population(agents, 7, &p.shrink, &pop, &err), MENTOR_OK);
	assert_int_equal(pop.n_agents, 6);
	assert_int_equal(pop.n_obs, 25);
	assert_near(pop.mean, 0.7120000000000001, 1e-12);
	assert_near(pop.sigma2_within, 0.007368421052631577, 1e-12);
	assert_near(pop.k, 10.0, 0.0);
	assert_false(pop.k_estimated);
	assert_true(isnan(pop.tau2_between));

	p.shrink.estimate_k = true;
	assert_int_equal(mentor_stats_population(agents, 7, &p.shrink, &pop, &err), MENTOR_OK);
	assert_true(pop.k_estimated);
	assert_near(pop.tau2_between, 0.03989181286549708, 1e-12);
	assert_near(pop.k, 0.18471010774756277, 1e-10);

	/* Too few agents for an estimate: the configured k. */
	p.shrink.estimate_min_agents = 7;
	assert_int_equal(mentor_stats_population(agents, 7, &p.shrink, &pop, &err), MENTOR_OK);
	assert_false(pop.k_estimated);
	assert_near(pop.k, 10.0, 0.0);

	agents[0].n = -1;
	assert_int_equal(mentor_stats_population(agents, 7, &p.shrink, &pop, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_stats_population(NULL, 3, &p.shrink, &pop, &err), MENTOR_ERR_INVALID);
}

/*
 * Three agents with the same true mean: each scored 0.4 and 0.6. Agent means
 * are all 0.5, so var(means) = 0 and tau2 = 0 - 0.02 * (1/2) < 0 is floored at
 * 1e-6; k = 0.02 / 1e-6 = 20000 and everyone is shrunk onto 0.5.
 */
static void test_population_floor(void **state)
{
	struct mentor_sums agents[3] = {
		{ 2, 1.0, 0.52 }, { 2, 1.0, 0.52 }, { 2, 1.0, 0.52 },
	};
	struct mentor_stats_params p = defaults();
	struct mentor_population pop;
	struct mentor_shrunk sh;

	(void)state;
	p.shrink.estimate_k = true;
	p.shrink.estimate_min_agents = 3;
	assert_int_equal(mentor_stats_population(agents, 3, &p.shrink, &pop, NULL), MENTOR_OK);
	assert_true(pop.k_estimated);
	assert_near(pop.sigma2_within, 0.02, 1e-12);
	assert_near(pop.tau2_between, MENTOR_STATS_TAU2_FLOOR, 0.0);
	assert_near(pop.k, 20000.0, 1e-6);
	mentor_stats_shrink(&(struct mentor_sums){ 10, 2.0, 0.4 }, &pop, mentor_stats_two_sided_z(p.shrink.confidence), &sh);
	assert_near(sh.shrunk, (2.0 + 20000.0 * 0.5) / 20010.0, 1e-9);

	/* No agent with two observations: within variance unknown, k as configured. */
	struct mentor_sums singles[3] = { { 1, 0.5, 0.25 }, { 1, 0.7, 0.49 }, { 1, 0.9, 0.81 } };
	assert_int_equal(mentor_stats_population(singles, 3, &p.shrink, &pop, NULL), MENTOR_OK);
	assert_true(isnan(pop.sigma2_within));
	assert_false(pop.k_estimated);
	assert_near(pop.mean, 0.7, 1e-12);

	/* Nobody at all. */
	assert_int_equal(mentor_stats_population(NULL, 0, &p.shrink, &pop, NULL), MENTOR_OK);
	assert_int_equal(pop.n_agents, 0);
	assert_true(isnan(pop.mean));
}

/* ---- Status ---- */

/* n 30 and a ci_low far from high: only the low rules matter. */
static enum mentor_level step(const struct mentor_status_rules *r, enum mentor_level prev, double shrunk,
			      struct mentor_status_decision *d)
{
	struct mentor_status_input in = {
		.prev = prev, .n = 30, .shrunk = shrunk, .ci_low = shrunk - 0.1, .active = true,
	};

	mentor_stats_decide(r, &in, d);
	return d->level;
}

/* Enter below 0.60, stay low at 0.62 (and at 0.6499), leave above 0.65. */
static void test_hysteresis(void **state)
{
	struct mentor_stats_params p = defaults();
	struct mentor_status_decision d;

	(void)state;
	assert_int_equal(step(&p.status, MENTOR_LEVEL_OK, 0.59, &d), MENTOR_LEVEL_LOW);
	assert_true(d.entered_low);
	assert_true(d.below_now);
	assert_int_equal(d.why, MENTOR_WHY_BELOW_THRESHOLD);

	assert_int_equal(step(&p.status, MENTOR_LEVEL_OK, 0.60, &d), MENTOR_LEVEL_OK);  /* strictly below */
	assert_false(d.entered_low);
	assert_int_equal(step(&p.status, MENTOR_LEVEL_OK, 0.62, &d), MENTOR_LEVEL_OK);
	assert_int_equal(d.why, MENTOR_WHY_AVERAGE);

	assert_int_equal(step(&p.status, MENTOR_LEVEL_LOW, 0.59, &d), MENTOR_LEVEL_LOW);
	assert_false(d.entered_low);  /* already low: no second trigger */
	assert_int_equal(step(&p.status, MENTOR_LEVEL_LOW, 0.62, &d), MENTOR_LEVEL_LOW);
	assert_false(d.entered_low);
	assert_false(d.below_now);
	assert_int_equal(d.why, MENTOR_WHY_HYSTERESIS);
	assert_int_equal(step(&p.status, MENTOR_LEVEL_LOW, 0.6499, &d), MENTOR_LEVEL_LOW);
	assert_int_equal(step(&p.status, MENTOR_LEVEL_LOW, 0.65, &d), MENTOR_LEVEL_LOW);   /* "above" is strict */
	assert_int_equal(step(&p.status, MENTOR_LEVEL_LOW, 0.6501, &d), MENTOR_LEVEL_OK);
	assert_int_equal(d.why, MENTOR_WHY_RECOVERED);
	assert_int_equal(step(&p.status, MENTOR_LEVEL_LOW, NAN, &d), MENTOR_LEVEL_LOW);  /* no evidence */
}

/*
 * A week-by-week series: with the 0.05 margin, 0.59 0.61 0.59 0.61 0.59 fires
 * one trigger; with no margin, three.
 */
static void test_hysteresis_series(void **state)
{
	static const double series[] = { 0.70, 0.59, 0.61, 0.59, 0.61, 0.59, 0.64, 0.66, 0.62, 0.58 };
	struct mentor_stats_params p = defaults();
	struct mentor_status_decision d;
	enum mentor_level level = MENTOR_LEVEL_OK;
	int fired = 0;

	(void)state;
	for (size_t i = 0; i < 6; i++) {
		level = step(&p.status, level, series[i], &d);
		fired += d.entered_low;
	}
	assert_int_equal(fired, 1);
	/* 0.64 stays low, 0.66 leaves, 0.62 is ok without a trigger, 0.58 fires again. */
	for (size_t i = 6; i < 10; i++) {
		level = step(&p.status, level, series[i], &d);
		fired += d.entered_low;
	}
	assert_int_equal(fired, 2);

	p.status.hysteresis = 0.0;
	level = MENTOR_LEVEL_OK;
	fired = 0;
	for (size_t i = 0; i < 6; i++) {
		level = step(&p.status, level, series[i], &d);
		fired += d.entered_low;
	}
	assert_int_equal(fired, 3);
}

static void test_min_n(void **state)
{
	struct mentor_stats_params p = defaults();
	struct mentor_status_input in = { .prev = MENTOR_LEVEL_OK, .n = 7, .shrunk = 0.3, .ci_low = 0.2,
					   .active = true };
	struct mentor_status_decision d;

	(void)state;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_OK);
	assert_int_equal(d.why, MENTOR_WHY_TOO_FEW);
	in.n = 8;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_LOW);
	assert_true(d.entered_low);
	/* Once low, a thin window does not end it: only a shrunk mean above 0.65 does. */
	in.prev = MENTOR_LEVEL_LOW;
	in.n = 2;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_LOW);
	assert_false(d.entered_low);
}

/* High: active, n >= 20, ci_low >= 0.85, not low in CSAT or AQM overall. */
static void test_high(void **state)
{
	struct mentor_stats_params p = defaults();
	const struct mentor_status_input base = {
		.prev = MENTOR_LEVEL_OK, .n = 20, .shrunk = 0.93, .ci_low = 0.85, .active = true,
	};
	struct mentor_status_input in;
	struct mentor_status_decision d;

	(void)state;
	in = base;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_HIGH);   /* "at or above" */
	assert_false(d.entered_low);

	in = base;
	in.ci_low = 0.8499;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_OK);
	assert_int_equal(d.why, MENTOR_WHY_AVERAGE);

	in = base;
	in.n = 19;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_OK);
	assert_int_equal(d.why, MENTOR_WHY_TOO_FEW_FOR_MENTOR);

	in = base;
	in.active = false;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_OK);
	assert_int_equal(d.why, MENTOR_WHY_INACTIVE);

	in = base;
	in.low_in_csat = true;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_OK);
	assert_int_equal(d.why, MENTOR_WHY_LOW_OVERALL);

	in = base;
	in.low_in_aqm = true;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.why, MENTOR_WHY_LOW_OVERALL);

	in = base;
	in.ci_low = NAN;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_OK);

	/* A high agent that stops being sure drops to ok (no hysteresis on high). */
	in = base;
	in.prev = MENTOR_LEVEL_HIGH;
	in.ci_low = 0.84;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_OK);

	/* Low wins: a low agent whose numbers would make it high (odd thresholds) stays low. */
	p.status.high_threshold = 0.50;
	in = base;
	in.prev = MENTOR_LEVEL_LOW;
	in.shrunk = 0.62;
	in.ci_low = 0.55;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_LOW);
}

/* Persistence 2 of 3: low only if below in at least 2 of the last 3 weekly windows, newest first. */
static void test_persistence(void **state)
{
	struct mentor_stats_params p = defaults();
	const bool one_of_three[] = { true, false, false };
	const bool two_of_three[] = { true, false, true };
	const bool fourth_ignored[] = { true, false, false, true };
	const bool only_one_known[] = { true };
	const bool none[] = { false, false, false };
	struct mentor_status_input in = { .prev = MENTOR_LEVEL_OK, .n = 30, .shrunk = 0.55,
					   .ci_low = 0.45, .active = true };
	struct mentor_status_decision d;

	(void)state;
	p.status.persist_x = 2;
	p.status.persist_y = 3;

	in.weekly_low = one_of_three;
	in.n_weeks = 3;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_OK);
	assert_int_equal(d.why, MENTOR_WHY_NOT_PERSISTENT);
	assert_true(d.below_now);
	assert_false(d.entered_low);

	in.weekly_low = two_of_three;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_LOW);
	assert_true(d.entered_low);

	in.weekly_low = fourth_ignored;
	in.n_weeks = 4;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_OK);

	in.weekly_low = only_one_known;
	in.n_weeks = 1;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_OK);

	/* Not below now: the history alone does not make anyone low. */
	in.weekly_low = two_of_three;
	in.n_weeks = 3;
	in.shrunk = 0.61;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_OK);

	/* Leaving low is hysteresis only: weekly flags do not matter. */
	in.prev = MENTOR_LEVEL_LOW;
	in.weekly_low = none;
	in.shrunk = 0.62;
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_LOW);

	/* Rule off: flags are ignored (and may be absent). */
	p = defaults();
	in = (struct mentor_status_input){ .prev = MENTOR_LEVEL_OK, .n = 30, .shrunk = 0.55,
					   .ci_low = 0.45, .active = true };
	mentor_stats_decide(&p.status, &in, &d);
	assert_int_equal(d.level, MENTOR_LEVEL_LOW);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(mentor_level_name(MENTOR_LEVEL_LOW), "low");
	assert_string_equal(mentor_level_name(MENTOR_LEVEL_OK), "ok");
	assert_string_equal(mentor_level_name(MENTOR_LEVEL_HIGH), "high");
	assert_string_equal(mentor_level_name((enum mentor_level)9), "unknown");
	assert_string_equal(mentor_level_reason_name(MENTOR_WHY_HYSTERESIS), "hysteresis");
	assert_string_equal(mentor_level_reason_name(MENTOR_WHY_COUNT), "unknown");
	for (int i = 0; i < MENTOR_WHY_COUNT; i++)
		assert_non_null(mentor_level_reason_name((enum mentor_level_reason)i));
}

/* ---- Quantiles ---- */

/* scipy 1.17.1: scipy.stats.norm.ppf(p). Tolerance 1e-12 relative (Acklam alone is 1.15e-9). */
static void test_norm_quantile(void **state)
{
	static const struct {
		double p, x;
	} ref[] = {
		{ 0.5, 0.0 },
		{ 0.9, 1.2815515655446004 },
		{ 0.95, 1.6448536269514722 },
		{ 0.975, 1.959963984540054 },
		{ 0.995, 2.5758293035489004 },
		{ 0.02425, -1.972961051311885 },  /* the edge of Acklam's regions */
		{ 0.02, -2.053748910631823 },
		{ 1e-10, -6.361340902404056 },
		{ 1 - 1e-12, 7.0344869100478356 },
		{ 0.3, -0.5244005127080409 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++)
		assert_rel(mentor_stats_norm_quantile(ref[i].p), ref[i].x, 1e-12);
	assert_true(isnan(mentor_stats_norm_quantile(0.0)));
	assert_true(isnan(mentor_stats_norm_quantile(1.0)));
	assert_true(isnan(mentor_stats_norm_quantile(NAN)));
}

/* scipy 1.17.1: scipy.stats.t.ppf(p, df). Tolerance 1e-9 relative. */
static void test_t_quantile(void **state)
{
	static const struct {
		double p, df, t;
	} ref[] = {
		{ 0.975, 1, 12.706204736174694 },
		{ 0.975, 2, 4.302652729749462 },
		{ 0.975, 3, 3.1824463052837078 },
		{ 0.975, 3.5, 2.9400886379827282 },
		{ 0.975, 5, 2.5705818356363146 },
		{ 0.975, 10, 2.228138851986274 },
		{ 0.975, 29.7, 2.043137856247257 },
		{ 0.975, 100, 1.9839715185235518 },
		{ 0.975, 12345.6, 1.9601561582595104 },
		{ 0.975, 99999.0, 1.9599877077718442 },   /* either side of the switch to the expansion */
		{ 0.975, 1e5, 1.9599877075346095 },
		{ 0.975, 1e7, 1.959964221767205 },
		{ 0.95, 7.25, 1.8847957180841028 },
		{ 0.05, 7.25, -1.8847957180841035 },
		{ 0.9999, 2.5, 34.867969321116306 },
		{ 0.6, 4, 0.2707222947075976 },
		{ 0.999999, 1, 318309.88617359026 },
		{ 0.975, 0.5, 164.55767348048818 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++)
		assert_rel(mentor_stats_t_quantile(ref[i].p, ref[i].df), ref[i].t, 1e-9);
	assert_near(mentor_stats_t_quantile(0.5, 3.0), 0.0, 0.0);
	assert_rel(mentor_stats_t_quantile(0.975, INFINITY), 1.959963984540054, 1e-12);
	assert_true(isnan(mentor_stats_t_quantile(0.975, 0.0)));
	assert_true(isnan(mentor_stats_t_quantile(0.975, NAN)));
	assert_true(isnan(mentor_stats_t_quantile(1.0, 5.0)));
}

/*
 * scipy 1.17.1: scipy.stats.t.cdf(t, df), read backwards: the quantile of
 * each probability is its t. Tolerance 1e-9 relative, as above.
 */
static void test_t_quantile_of_cdf(void **state)
{
	static const struct {
		double t, df, p;
	} ref[] = {
		{ 2.0, 3.5, 0.9369307387120432 },
		{ -1.3, 12.0, 0.10900858554175706 },
		{ 0.0, 4.0, 0.5 },
		{ 40.0, 2.2, 0.9998288422617176 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ref) / sizeof(ref[0]); i++)
		assert_rel(mentor_stats_t_quantile(ref[i].p, ref[i].df), ref[i].t, 1e-9);
}

/* ---- Welch and KPI deltas ---- */

static const int csat_before[] = { 3, 4, 2, 5, 3, 3, 4, 2, 3, 4, 3, 2 };
static const int csat_after[] = { 4, 5, 4, 3, 5, 4, 4, 5, 3, 4 };

/*
 * scipy 1.17.1:
 *   r = scipy.stats.ttest_ind(after, before, equal_var=False)
 *   r.df; r.confidence_interval(confidence_level=0.95)
 * on the normalized scores (x - 1) / 4 and on the native 1..5 scores.
 * Tolerance 1e-9 (the quantile's own accuracy times a small se).
 */
static void test_kpi_delta_scipy(void **state)
{
	double b[12], a[10];
	struct mentor_sums sb, sa;
	struct mentor_kpi_delta d;
	const struct mentor_scale csat = { 1.0, 5.0 };

	(void)state;
	normalize_csat(csat_before, b, 12);
	normalize_csat(csat_after, a, 10);
	sb = sums_of(b, 12);
	sa = sums_of(a, 10);
	mentor_stats_kpi_delta(&sb, &sa, 0.95, &d);
	assert_int_equal(d.before_n, 12);
	assert_int_equal(d.after_n, 10);
	assert_near(d.before_mean, 26.0 / 48.0, TOL_EXACT);   /* native 38 / 12; (38/12 - 1) / 4 */
	assert_near(d.after_mean, 0.775, TOL_EXACT);         /* native 41 / 10; (4.1 - 1) / 4 */
	assert_near(d.delta, 0.2333333333333334, TOL_EXACT);
	assert_true(d.has_ci);
	assert_near(d.df, 19.95518545974973, 1e-9);
	assert_near(d.ci_low, 0.046967982409867104, 1e-9);
	assert_near(d.ci_high, 0.4196986842567997, 1e-9);

	/* Native: the delta and the interval scale by 5 - 1 = 4, the means map to 1..5. */
	mentor_stats_kpi_delta_to_native(&d, &csat);
	assert_near(d.before_mean, 38.0 / 12.0, TOL_EXACT);
	assert_near(d.after_mean, 4.1, TOL_EXACT);
	assert_near(d.delta, 0.9333333333333331, 1e-9);
	assert_near(d.ci_low, 0.18787192963946797, 1e-9);
	assert_near(d.ci_high, 1.6787947370271983, 1e-9);
	assert_near(mentor_stats_native(0.25, &(struct mentor_scale){ 0.0, 100.0 }), 25.0, 0.0);
	assert_near(mentor_stats_native_diff(-0.1, &(struct mentor_scale){ 0.0, 100.0 }), -10.0, TOL_EXACT);
}

/*
 * One side constant (before all 4s): the interval comes from the after side
 * alone with df = n_after - 1 = 5. scipy 1.17.1 as above:
 * ttest_ind(after, before, equal_var=False) on (x - 1) / 4.
 */
static void test_kpi_delta_one_side_constant(void **state)
{
	static const int rb[] = { 4, 4, 4, 4, 4 };
	static const int ra[] = { 5, 3, 4, 5, 5, 4 };
	double b[5], a[6];
	struct mentor_sums sb, sa;
	struct mentor_kpi_delta d;

	(void)state;
	normalize_csat(rb, b, 5);
	normalize_csat(ra, a, 6);
	sb = sums_of(b, 5);
	sa = sums_of(a, 6);
	mentor_stats_kpi_delta(&sb, &sa, 0.95, &d);
	assert_true(d.has_ci);
	assert_near(d.df, 5.0, 1e-9);
	assert_near(d.ci_low, -0.1308818196363595, 1e-9);
	assert_near(d.ci_high, 0.2975484863030262, 1e-9);
}

/* No interval when a side has n < 2 or both sides have no spread; no delta without both sides. */
static void test_kpi_delta_no_interval(void **state)
{
	struct mentor_sums one = { 1, 0.5, 0.25 }, three = { 3, 1.5, 0.83 };
	struct mentor_sums flat_b = { 4, 3.0, 2.25 }, flat_a = { 3, 3.0, 3.0 }, none = { 0 };
	struct mentor_kpi_delta d;
	struct mentor_welch w;

	(void)state;
	mentor_stats_kpi_delta(&one, &three, 0.95, &d);
	assert_near(d.delta, 0.0, TOL_EXACT);
	assert_false(d.has_ci);
	assert_true(isnan(d.ci_low) && isnan(d.ci_high));

	mentor_stats_kpi_delta(&flat_b, &flat_a, 0.95, &d);   /* 0.75 x 4 then 1.0 x 3 */
	assert_near(d.delta, 0.25, TOL_EXACT);
	assert_false(d.has_ci);

	mentor_stats_kpi_delta(&none, &three, 0.95, &d);
	assert_true(isnan(d.before_mean) && isnan(d.delta));
	assert_near(d.after_mean, 0.5, TOL_EXACT);
	assert_false(d.has_ci);

	/*
	 * Welch by hand: means 0.7 and 0.5, variances 0.02 and 0.04, n 10 and 20:
	 * se^2 = 0.002 + 0.002 = 0.004, df = 0.004^2 / (0.002^2/9 + 0.002^2/19) = 24.4286.
	 */
	mentor_stats_welch(0.7, 0.02, 10, 0.5, 0.04, 20, 0.95, &w);
	assert_true(w.has_ci);
	assert_near(w.diff, 0.2, TOL_EXACT);
	assert_near(w.se, sqrt(0.004), TOL_EXACT);
	assert_near(w.df, 0.000016 / (0.000004 / 9 + 0.000004 / 19), 1e-9);
	assert_near(w.ci_high - w.diff, mentor_stats_t_quantile(0.975, w.df) * sqrt(0.004), 1e-12);
}

/* ---- Program effect ---- */

static const struct mentor_before_after paired[] = {
	{ 0.50, 0.66 }, { 0.55, 0.70 }, { 0.42, 0.61 }, { 0.58, 0.69 },
	{ 0.47, 0.60 }, { 0.52, 0.74 }, { 0.40, 0.57 }, { 0.56, 0.64 },
};
static const struct mentor_before_after comparison[] = {
	{ 0.48, 0.55 }, { 0.53, 0.62 }, { 0.44, 0.51 }, { 0.57, 0.60 },
	{ 0.50, 0.58 }, { 0.41, 0.54 },
};

/*
 * scipy 1.17.1, deltas d = after - before per agent:
 *   scipy.stats.ttest_ind(d_paired, d_comparison, equal_var=False).confidence_interval(0.95)
 * By hand: naive = mean(d_paired) = 1.21 / 8 = 0.15125; mean(d_comparison) = 0.47 / 6;
 * did = 0.15125 - 0.078333 = 0.072917.
 */
static void test_program_effect_did(void **state)
{
	struct mentor_program_effect e;
	struct mentor_error err = { 0 };

	(void)state;
	assert_int_equal(mentor_stats_program_effect(paired, 8, comparison, 6, false, 0.95, &e, &err),
			 MENTOR_OK);
	assert_int_equal(e.paired_n, 8);
	assert_int_equal(e.comparison_n, 6);
	assert_false(e.cuped);
	assert_near(e.theta, 1.0, 0.0);
	assert_near(e.naive_delta, 0.15125, TOL_EXACT);
	assert_near(e.did, 0.15125 - 0.47 / 6.0, TOL_EXACT);
	assert_true(e.has_ci);
	assert_near(e.df, 11.999901797026197, 1e-9);
	assert_near(e.ci_low, 0.028046718089859465, 1e-9);
	assert_near(e.ci_high, 0.11778661524347377, 1e-9);

	/* On the AQM 0..100 scale every number is a difference: times 100. */
	mentor_stats_effect_to_native(&e, &(struct mentor_scale){ 0.0, 100.0 });
	assert_near(e.naive_delta, 15.125, 1e-9);
	assert_near(e.ci_low, 2.8046718089859465, 1e-7);
}

/*
 * CUPED, numpy/scipy as in the reference script: theta is the within-group
 * pooled slope of after on before, d' = after - theta * (before - B) - B, and
 * ttest_ind(d'_paired, d'_comparison, equal_var=False). The script also checks
 * that did equals the group coefficient of the OLS fit after ~ 1 + paired + before
 * (numpy.linalg.lstsq), i.e. the ANCOVA estimate. Tolerance 1e-9.
 */
static void test_program_effect_cuped(void **state)
{
	struct mentor_program_effect e;
	struct mentor_error err = { 0 };

	(void)state;
	assert_int_equal(mentor_stats_program_effect(paired, 8, comparison, 6, true, 0.95, &e, &err),
			 MENTOR_OK);
	assert_true(e.cuped);
	assert_near(e.theta, 0.6274233345082832, 1e-12);
	assert_near(e.naive_delta, 0.15125, TOL_EXACT);   /* never adjusted */
	assert_near(e.did, 0.0772633944307367, 1e-12);
	assert_near(e.df, 11.442876985395078, 1e-9);
	assert_near(e.ci_low, 0.04175894169255365, 1e-9);
	assert_near(e.ci_high, 0.11276784716891974, 1e-9);
	/* The point of CUPED: a narrower interval than the plain DiD's 0.0897. */
	assert_true(e.ci_high - e.ci_low < 0.11778661524347377 - 0.028046718089859465);
}

static void test_program_effect_edges(void **state)
{
	static const struct mentor_before_after flat_p[] = { { 0.5, 0.6 }, { 0.5, 0.8 }, { 0.5, 0.7 } };
	static const struct mentor_before_after flat_c[] = { { 0.4, 0.5 }, { 0.4, 0.4 } };
	struct mentor_before_after bad[] = { { 0.5, NAN } };
	struct mentor_program_effect e;
	struct mentor_error err = { 0 };

	(void)state;
	/* Before constant within each group: no slope to estimate, plain DiD. */
	assert_int_equal(mentor_stats_program_effect(flat_p, 3, flat_c, 2, true, 0.95, &e, &err), MENTOR_OK);
	assert_false(e.cuped);
	assert_near(e.theta, 1.0, 0.0);
	assert_near(e.did, 0.2 - 0.05, TOL_EXACT);   /* deltas 0.1 0.3 0.2 vs 0.1 0.0 */
	assert_true(e.has_ci);

	/* No comparison group: no effect, no interval; the naive delta alone is still computed. */
	assert_int_equal(mentor_stats_program_effect(paired, 8, NULL, 0, false, 0.95, &e, &err), MENTOR_OK);
	assert_true(isnan(e.did));
	assert_false(e.has_ci);
	assert_near(e.naive_delta, 0.15125, TOL_EXACT);

	/* One comparison agent: an effect but no interval. */
	assert_int_equal(mentor_stats_program_effect(paired, 8, comparison, 1, false, 0.95, &e, &err),
			 MENTOR_OK);
	assert_near(e.did, 0.15125 - 0.07, TOL_EXACT);
	assert_false(e.has_ci);

	assert_int_equal(mentor_stats_program_effect(bad, 1, comparison, 6, false, 0.95, &e, &err),
			 MENTOR_ERR_INVALID);
	assert_non_null(strstr(err.msg, "non-finite"));
	assert_int_equal(mentor_stats_program_effect(NULL, 2, comparison, 6, false, 0.95, &e, &err),
			 MENTOR_ERR_INVALID);
	assert_int_equal(mentor_stats_program_effect(paired, 8, comparison, 6, false, 1.5, &e, &err),
			 MENTOR_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params_defaults),
		cmocka_unit_test(test_params_invalid),
		cmocka_unit_test(test_day_of),
		cmocka_unit_test(test_moments),
		cmocka_unit_test(test_moments_rounding),
		cmocka_unit_test(test_shrink_edges),
		cmocka_unit_test(test_population_estimate),
		cmocka_unit_test(test_population_floor),
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_hysteresis_series),
		cmocka_unit_test(test_min_n),
		cmocka_unit_test(test_high),
		cmocka_unit_test(test_persistence),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_norm_quantile),
		cmocka_unit_test(test_t_quantile),
		cmocka_unit_test(test_t_quantile_of_cdf),
		cmocka_unit_test(test_kpi_delta_scipy),
		cmocka_unit_test(test_kpi_delta_one_side_constant),
		cmocka_unit_test(test_kpi_delta_no_interval),
		cmocka_unit_test(test_program_effect_did),
		cmocka_unit_test(test_program_effect_cuped),
		cmocka_unit_test(test_program_effect_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
