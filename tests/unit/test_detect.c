/*
 * Unit tests for lib/detect.c: detection observation by observation in
 * event-time order (include/mentor/detect.h).
 *
 * The arithmetic itself (population, shrinkage, decide) is tested in
 * test_stats.c; here the questions are whether each observation is decided
 * from the right window, against the right prior, with the right previous
 * state, in a fixed order whatever the arrival order and batch boundaries,
 * and whether a restart from the stored state continues as if nothing
 * happened; and the SPEC's shrinkage examples (a 5-for-5 agent is no
 * mentor, a 0-for-2 agent is not flagged) as the daemon decides them.
 * Expected numbers are worked out by hand in the comments; the only library
 * value used is Z90 (test_util.h), the 0.95 normal quantile of a 90%
 * interval.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/hash.h"
#include "mentor/detect.h"
#include "mentor/events.h"
#include "test_util.h"

/* 2026-11-02, a Monday: the SPEC example day. */
#define DAY0 SPEC_DAY

/* Rounding of a few double operations on values of order 1. */
#define TOL 1e-12

/* Every source evaluated to the end. */
#define ALL_SOURCES ((const int64_t[MENTOR_EVENT_KIND_COUNT]){ MENTOR_DETECT_ALL, MENTOR_DETECT_ALL, MENTOR_DETECT_ALL })

/* ---- Collected rows (the strings are borrowed, so copy them) ---- */

struct got {
	struct mentor_detect_row *r;
	char (*agent)[MENTOR_ID_MAX];
	char (*metric)[MENTOR_ID_MAX];
	size_t n, cap;
};

static void got_init(struct got *g)
{
	memset(g, 0, sizeof(*g));
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

	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->r = realloc(g->r, g->cap * sizeof(*g->r));
		g->agent = realloc(g->agent, g->cap * sizeof(*g->agent));
		g->metric = realloc(g->metric, g->cap * sizeof(*g->metric));
		assert_non_null(g->r);
		assert_non_null(g->agent);
		assert_non_null(g->metric);
		/* The copies moved: point the rows at the new places. */
		for (size_t i = 0; i < g->n; i++) {
			g->r[i].agent_id = g->agent[i];
			g->r[i].metric = g->metric[i];
		}
	}
	g->r[g->n] = *row;
	snprintf(g->agent[g->n], MENTOR_ID_MAX, "%s", row->agent_id);
	snprintf(g->metric[g->n], MENTOR_ID_MAX, "%s", row->metric);
	g->r[g->n].agent_id = g->agent[g->n];
	g->r[g->n].metric = g->metric[g->n];
	g->n++;
	return MENTOR_OK;
}

/* A row callback that must not be called. */
static int collect_fail(void *ctx, const struct mentor_detect_row *row)
{
	(void)ctx;
	fail_msg("unexpected row %s/%s", row->agent_id, row->metric);
	return MENTOR_ERR_INVALID;
}

/* take_changed() into g (cleared first). */
static void take(struct mentor_detector *det, struct got *g)
{
	got_clear(g);
	assert_int_equal(mentor_detector_take_changed(det, collect, g), MENTOR_OK);
}

/* Same doubles bit for bit, NaN included. */
static bool same_double(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static void assert_same_row(const struct mentor_detect_row *x, const struct mentor_detect_row *y)
{
	assert_string_equal(x->agent_id, y->agent_id);
	assert_string_equal(x->metric, y->metric);
	assert_int_equal(x->n, y->n);
	assert_true(same_double(x->mean, y->mean));
	assert_true(same_double(x->shrunk, y->shrunk));
	assert_true(same_double(x->ci_low, y->ci_low));
	assert_true(same_double(x->ci_high, y->ci_high));
	assert_true(same_double(x->pop_mean, y->pop_mean));
	assert_true(same_double(x->k, y->k));
	assert_int_equal(x->level, y->level);
	assert_int_equal(x->why, y->why);
	assert_int_equal(x->since_us, y->since_us);
	assert_int_equal(x->updated_us, y->updated_us);
	assert_int_equal(x->week, y->week);
	assert_int_equal(x->weekly_low, y->weekly_low);
}

static void assert_same_rows(const struct got *a, const struct got *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_same_row(&a->r[i], &b->r[i]);
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

/* The latest decision of one key, copied. */
struct one {
	struct mentor_detect_row r;
	char agent[MENTOR_ID_MAX], metric[MENTOR_ID_MAX];
	bool found;
};

static int copy_one(void *ctx, const struct mentor_detect_row *row)
{
	struct one *o = ctx;

	o->r = *row;
	snprintf(o->agent, sizeof(o->agent), "%s", row->agent_id);
	snprintf(o->metric, sizeof(o->metric), "%s", row->metric);
	o->r.agent_id = o->agent;
	o->r.metric = o->metric;
	o->found = true;
	return MENTOR_OK;
}

/* The key's row into *o (filled in place: its row points into o's own strings); fails when it has none. */
static void key_row(const struct mentor_detector *det, const char *agent, const char *metric, struct one *o)
{
	memset(o, 0, sizeof(*o));
	assert_int_equal(mentor_detector_key_at(det, agent, metric, INT64_MAX, copy_one, o), MENTOR_OK);
	if (!o->found)
		fail_msg("no row for %s/%s", agent, metric);
}

/* The numbers of the key's row (its strings are not kept: NULL); fails when it has none. */
static struct mentor_detect_row key_numbers(const struct mentor_detector *det, const char *agent, const char *metric)
{
	struct one o;

	key_row(det, agent, metric, &o);
	o.r.agent_id = o.r.metric = NULL;
	return o.r;
}

/* ---- What a sink saw ---- */

struct trig {
	char agent[MENTOR_ID_MAX], metric[MENTOR_ID_MAX], event[MENTOR_ID_MAX];
	int64_t fired_us, n;
	double shrunk;
};

struct pri {
	char metric[MENTOR_ID_MAX];
	int64_t day;
	struct mentor_population pop;
};

struct evl {
	char agent[MENTOR_ID_MAX], metric[MENTOR_ID_MAX];
	int64_t day, value_e6;
};

struct rec {
	struct trig *t;
	size_t nt, capt;
	struct pri *p;
	size_t np, capp;
	struct evl *e;
	size_t ne, cape;
	int trigger_ret;  /* what on_trigger returns (after recording) */
};

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
}

static void rec_clear(struct rec *r)
{
	free(r->t);
	free(r->p);
	free(r->e);
	rec_init(r);
}

static void *grow_for(void *arr, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : 64;
	arr = realloc(arr, *cap * elem);
	assert_non_null(arr);
	return arr;
}

static int on_trigger(void *ctx, const struct mentor_detect_trigger *t)
{
	struct rec *r = ctx;
	struct trig *x;

	r->t = grow_for(r->t, r->nt, &r->capt, sizeof(*r->t));
	x = &r->t[r->nt++];
	snprintf(x->agent, sizeof(x->agent), "%s", t->agent_id);
	snprintf(x->metric, sizeof(x->metric), "%s", t->metric);
	snprintf(x->event, sizeof(x->event), "%s", t->event_id);
	x->fired_us = t->fired_us;
	x->n = t->n;
	x->shrunk = t->shrunk;
	return r->trigger_ret;
}

static int on_prior(void *ctx, const struct mentor_detect_prior *p)
{
	struct rec *r = ctx;
	struct pri *x;

	r->p = grow_for(r->p, r->np, &r->capp, sizeof(*r->p));
	x = &r->p[r->np++];
	snprintf(x->metric, sizeof(x->metric), "%s", p->metric);
	x->day = p->day;
	x->pop = p->pop;
	return MENTOR_OK;
}

static int on_evaluated(void *ctx, const struct mentor_detect_obs *o)
{
	struct rec *r = ctx;
	struct evl *x;

	r->e = grow_for(r->e, r->ne, &r->cape, sizeof(*r->e));
	x = &r->e[r->ne++];
	/* The KPI set finds its windows by this hash: it must be the key's. */
	assert_true(o->key_hash == mentor_hash_key(o->agent_id, o->metric));
	snprintf(x->agent, sizeof(x->agent), "%s", o->agent_id);
	snprintf(x->metric, sizeof(x->metric), "%s", o->metric);
	x->day = o->day;
	x->value_e6 = o->value_e6;
	return MENTOR_OK;
}

static void assert_same_triggers(const struct rec *a, const struct rec *b)
{
	assert_int_equal(a->nt, b->nt);
	for (size_t i = 0; i < a->nt; i++) {
		assert_string_equal(a->t[i].agent, b->t[i].agent);
		assert_string_equal(a->t[i].metric, b->t[i].metric);
		assert_string_equal(a->t[i].event, b->t[i].event);
		assert_int_equal(a->t[i].fired_us, b->t[i].fired_us);
		assert_int_equal(a->t[i].n, b->t[i].n);
		assert_true(same_double(a->t[i].shrunk, b->t[i].shrunk));
	}
}

static void assert_same_pop(const struct mentor_population *x, const struct mentor_population *y)
{
	assert_int_equal(x->n_agents, y->n_agents);
	assert_int_equal(x->n_obs, y->n_obs);
	assert_true(same_double(x->mean, y->mean));
	assert_true(same_double(x->sigma2_within, y->sigma2_within));
	assert_true(same_double(x->tau2_between, y->tau2_between));
	assert_true(same_double(x->k, y->k));
	assert_int_equal(x->k_estimated, y->k_estimated);
}

static void assert_same_priors(const struct rec *a, const struct rec *b)
{
	assert_int_equal(a->np, b->np);
	for (size_t i = 0; i < a->np; i++) {
		assert_string_equal(a->p[i].metric, b->p[i].metric);
		assert_int_equal(a->p[i].day, b->p[i].day);
		assert_same_pop(&a->p[i].pop, &b->p[i].pop);
	}
}

static int cmp_trig(const void *a, const void *b)
{
	const struct trig *x = a, *y = b;
	int c;

	if (x->fired_us != y->fired_us)
		return x->fired_us < y->fired_us ? -1 : 1;
	if ((c = strcmp(x->agent, y->agent)) != 0)
		return c;
	return (c = strcmp(x->metric, y->metric)) != 0 ? c : strcmp(x->event, y->event);
}

static int cmp_pri(const void *a, const void *b)
{
	const struct pri *x = a, *y = b;

	return x->day != y->day ? (x->day < y->day ? -1 : 1) : strcmp(x->metric, y->metric);
}

/*
 * Within a day, agents are evaluated one after another, so where the
 * advances stop changes the order of different agents' triggers and of the
 * day's first priors, not what they are: compared in a fixed order.
 */
static void assert_same_outcome(struct rec *a, struct rec *b)
{
	qsort(a->t, a->nt, sizeof(*a->t), cmp_trig);
	qsort(b->t, b->nt, sizeof(*b->t), cmp_trig);
	qsort(a->p, a->np, sizeof(*a->p), cmp_pri);
	qsort(b->p, b->np, sizeof(*b->p), cmp_pri);
	assert_same_triggers(a, b);
	assert_same_priors(a, b);
}

/* The prior recorded for (metric, day); fails when there is none. */
static const struct pri *find_prior(const struct rec *r, const char *metric, int64_t day)
{
	for (size_t i = 0; i < r->np; i++)
		if (strcmp(r->p[i].metric, metric) == 0 && r->p[i].day == day)
			return &r->p[i];
	fail_msg("no prior for %s on day %lld", metric, (long long)day);
	return NULL;
}

/* ---- Driving a detector ---- */

static struct mentor_detector *det_new(const struct mentor_stats_params *p, int keep_days)
{
	struct mentor_detector *det = NULL;
	struct mentor_error err = { 0 };

	assert_int_equal(mentor_detector_new(p, NULL, 0, keep_days, &det, &err), MENTOR_OK);
	assert_non_null(det);
	return det;
}

/* The tests' sources: csat and csat_top2 come from surveys, every other metric from evaluations. */
static enum mentor_event_kind source_of(const char *metric)
{
	return strncmp(metric, "csat", 4) == 0 ? MENTOR_EVENT_VOC : MENTOR_EVENT_AQM;
}

static void obs_decided(struct mentor_detector *det, const char *agent, const char *metric, const char *event_id,
			int64_t t_us, int64_t decide_us, int64_t value_e6)
{
	struct mentor_error err = { 0 };

	assert_int_equal(mentor_detector_observe(det, agent, metric, source_of(metric), event_id, t_us, decide_us,
						 value_e6, &err),
			 MENTOR_OK);
}

/* An observation decided at its own time. */
static void obs(struct mentor_detector *det, const char *agent, const char *metric, const char *event_id,
		int64_t t_us, int64_t value_e6)
{
	obs_decided(det, agent, metric, event_id, t_us, t_us, value_e6);
}

/* Evaluates surveys before voc_us and evaluations before aqm_us. */
static void adv_each(struct mentor_detector *det, int64_t voc_us, int64_t aqm_us, struct rec *r)
{
	struct mentor_detect_sink sink = { on_trigger, on_prior, on_evaluated, r };
	struct mentor_error err = { 0 };
	int64_t until[MENTOR_EVENT_KIND_COUNT] = { [MENTOR_EVENT_VOC] = voc_us, [MENTOR_EVENT_AQM] = aqm_us };

	assert_int_equal(mentor_detector_advance(det, until, &sink, &err), MENTOR_OK);
}

static void adv(struct mentor_detector *det, int64_t until_us, struct rec *r)
{
	adv_each(det, until_us, until_us, r);
}

static void set_active(struct mentor_detector *det, const char *agent, bool active)
{
	struct mentor_error err = { 0 };

	assert_int_equal(mentor_detector_set_agent(det, agent, active, &err), MENTOR_OK);
}

/* SPEC defaults with a fixed k. */
static void base_params(struct mentor_stats_params *p, int window_days, double k)
{
	mentor_stats_params_init(p);
	p->shrink.window_days = window_days;
	p->shrink.k = k;
	p->shrink.estimate_k = false;
}

/* ---- Window boundaries ---- */

static void test_window_days(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det;
	struct rec r;
	struct one o;
	int64_t n, sum, sumsq;

	(void)state;
	rec_init(&r);
	base_params(&p, 3, 1.0);  /* the window of day D: D-2, D-1, D */
	det = det_new(&p, 3);

	/* The last microsecond of DAY0 - 1. */
	obs(det, "a", "empathy", "e1", at(DAY0, 0) - 1, 200000);
	adv(det, MENTOR_DETECT_ALL, &r);
	key_row(det, "a", "empathy", &o);
	assert_int_equal(o.r.n, 1);
	assert_near(o.r.mean, 0.2, TOL);
	assert_int_equal(o.r.updated_us, at(DAY0, 0) - 1);
	mentor_detector_day_sums(det, "a", "empathy", DAY0 - 1, DAY0, &n, &sum, &sumsq);
	assert_int_equal(n, 1);
	assert_int_equal(sum, 200000);
	assert_int_equal(sumsq, INT64_C(40000000000));  /* 200000^2 = 4e10 */

	/* Exactly midnight: day DAY0, not DAY0 - 1. Window DAY0-2..DAY0 holds e1 and e2: mean (0.2 + 0.4) / 2. */
	obs(det, "a", "empathy", "e2", at(DAY0, 0), 400000);
	adv(det, MENTOR_DETECT_ALL, &r);
	mentor_detector_day_sums(det, "a", "empathy", DAY0, DAY0 + 1, &n, &sum, &sumsq);
	assert_int_equal(n, 1);
	assert_int_equal(sum, 400000);
	mentor_detector_day_sums(det, "a", "empathy", DAY0 - 1, DAY0, &n, &sum, &sumsq);
	assert_int_equal(n, 1);
	assert_int_equal(sum, 200000);
	key_row(det, "a", "empathy", &o);
	assert_int_equal(o.r.n, 2);
	assert_near(o.r.mean, 0.3, TOL);

	/*
	 * DAY0 + 2: window DAY0..DAY0+2. DAY0 (its first day) counts, DAY0 - 1
	 * (the day before) does not: e2 and e3, mean (0.4 + 0.6) / 2 = 0.5.
	 */
	obs(det, "a", "empathy", "e3", at(DAY0 + 2, 12 * HOUR), 600000);
	adv(det, MENTOR_DETECT_ALL, &r);
	key_row(det, "a", "empathy", &o);
	assert_int_equal(o.r.n, 2);
	assert_near(o.r.mean, 0.5, TOL);

	/*
	 * Midnight starting DAY0 + 3: window DAY0+1..DAY0+3, so e3 and e4, mean
	 * (0.6 + 1.0) / 2 = 0.8. Were e4 counted in DAY0 + 2, the window would
	 * be DAY0..DAY0+2 with e2, e3, e4: n 3.
	 */
	obs(det, "a", "empathy", "e4", at(DAY0 + 3, 0), 1000000);
	adv(det, MENTOR_DETECT_ALL, &r);
	key_row(det, "a", "empathy", &o);
	assert_int_equal(o.r.n, 2);
	assert_near(o.r.mean, 0.8, TOL);
	assert_int_equal(o.r.updated_us, at(DAY0 + 3, 0));
	/* 2026-11-05 is the Thursday of the week of Monday DAY0. */
	assert_int_equal(o.r.week, mentor_detector_week_of(DAY0));
	/* The evaluated sink saw each observation with its UTC day. */
	assert_int_equal(r.ne, 4);
	assert_int_equal(r.e[0].day, DAY0 - 1);
	assert_int_equal(r.e[1].day, DAY0);
	assert_int_equal(r.e[2].day, DAY0 + 2);
	assert_int_equal(r.e[3].day, DAY0 + 3);
	assert_int_equal(r.e[3].value_e6, 1000000);

	rec_clear(&r);
	mentor_detector_free(det);
}

/*
 * A detector with a window of window_days in which a's days were restored
 * as agent_daily_parts holds them (one day may come in several parts, each
 * counted), and a's live 0.25 on DAY0 and 1.0 on DAY0 + 1 waiting:
 *   DAY0 - 28: 5 x 1.0 (n 5, sum 5, squares 5)
 *   DAY0 - 27: two parts, 0.5 and 0.5 (n 2, sum 1, squares 0.5), then 0.75 (n 1, 0.75, 0.5625)
 */
static struct mentor_detector *window_scenario(int window_days)
{
	struct mentor_stats_params p;
	struct mentor_detector *det;
	struct mentor_error err = { 0 };

	base_params(&p, window_days, 10.0);
	det = det_new(&p, window_days);
	assert_int_equal(mentor_detector_restore_day(det, "a", "empathy", DAY0 - 28, 5, 5000000, INT64_C(5000000000000),
						     &err), MENTOR_OK);
	assert_int_equal(mentor_detector_restore_day(det, "a", "empathy", DAY0 - 27, 2, 1000000, INT64_C(500000000000),
						     &err), MENTOR_OK);
	assert_int_equal(mentor_detector_restore_day(det, "a", "empathy", DAY0 - 27, 1, 750000, INT64_C(562500000000),
						     &err), MENTOR_OK);
	obs(det, "a", "empathy", "e1", at(DAY0, 12 * HOUR), 250000);
	obs(det, "a", "empathy", "e2", at(DAY0 + 1, 12 * HOUR), 1000000);
	return det;
}

/*
 * The default 28-day window of DAY0 is DAY0 - 27 .. DAY0: DAY0 - 27 (its
 * first day, both parts) and DAY0 (its last) are in, DAY0 - 28 (one day too
 * old) and DAY0 + 1 (newer than the day decided) are not: n 4, sum 2.0,
 * squares 1.125. The prior of a day reads the 28 days before it.
 */
static void test_status_window(void **state)
{
	struct mentor_detector *det;
	const struct pri *pr;
	struct rec r;
	struct one o;

	(void)state;
	rec_init(&r);
	det = window_scenario(28);
	adv(det, at(DAY0 + 1, 0), &r);
	assert_int_equal(mentor_detector_waiting(det), 1);
	key_row(det, "a", "empathy", &o);
	assert_int_equal(o.r.n, 4);
	assert_near(o.r.mean, 0.5, TOL);
	/* The prior of DAY0: DAY0 - 28 .. DAY0 - 1, 5 + 2 + 1 observations, sum 6.75. */
	pr = find_prior(&r, "empathy", DAY0);
	assert_int_equal(pr->pop.n_obs, 8);
	assert_near(pr->pop.mean, 6.75 / 8.0, TOL);
	/*
	 * The prior of DAY0 + 1 is the window of DAY0 (a is the only key): n 4,
	 * mean 0.5 and within variance (1.125 - 2.0^2 / 4) / 3, which holds only
	 * with squares 1.125.
	 */
	adv(det, MENTOR_DETECT_ALL, &r);
	pr = find_prior(&r, "empathy", DAY0 + 1);
	assert_int_equal(pr->pop.n_agents, 1);
	assert_int_equal(pr->pop.n_obs, 4);
	assert_near(pr->pop.mean, 0.5, TOL);
	assert_near(pr->pop.sigma2_within, 0.125 / 3.0, TOL);
	/* The window of DAY0 + 1 has lost DAY0 - 27: 0.25 and 1.0. */
	key_row(det, "a", "empathy", &o);
	assert_int_equal(o.r.n, 2);
	assert_near(o.r.mean, 0.625, TOL);
	rec_clear(&r);
	mentor_detector_free(det);

	/* A one-day window holds the day decided only; a's window of DAY0 - 1, the prior's, is empty. */
	det = window_scenario(1);
	adv(det, at(DAY0 + 1, 0), &r);
	key_row(det, "a", "empathy", &o);
	assert_int_equal(o.r.n, 1);
	assert_near(o.r.mean, 0.25, TOL);
	pr = find_prior(&r, "empathy", DAY0);
	assert_int_equal(pr->pop.n_agents, 0);
	assert_int_equal(pr->pop.n_obs, 0);
	assert_true(isnan(pr->pop.mean));
	rec_clear(&r);
	mentor_detector_free(det);
}

/* ---- Shrinkage with a known prior ---- */

static void test_shrink_known_prior(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det;
	const struct pri *pr;
	struct rec r;
	struct one o;

	(void)state;
	rec_init(&r);
	base_params(&p, 2, 4.0);  /* window: the day and the day before; k = 4 */
	det = det_new(&p, 2);
	obs(det, "b", "empathy", "b0", at(DAY0 - 3, 9 * HOUR), 0);
	obs(det, "b", "empathy", "b1", at(DAY0 - 2, 9 * HOUR), 800000);
	obs(det, "b", "empathy", "b2", at(DAY0 - 2, 10 * HOUR), 600000);
	obs(det, "b", "empathy", "b3", at(DAY0 - 1, 9 * HOUR), 700000);
	obs(det, "c", "empathy", "c1", at(DAY0 - 1, 10 * HOUR), 900000);
	obs(det, "c", "empathy", "c2", at(DAY0 - 1, 11 * HOUR), 500000);
	/* On DAY0 itself, before a: must not enter DAY0's prior. */
	obs(det, "b", "empathy", "b4", at(DAY0, 10 * MINUTE), 300000);
	obs(det, "a", "empathy", "a1", at(DAY0, 1 * HOUR), 300000);
	obs(det, "a", "empathy", "a2", at(DAY0, 2 * HOUR), 500000);
	adv(det, MENTOR_DETECT_ALL, &r);

	/* One prior per day that has observations, computed once, in day order. */
	assert_int_equal(r.np, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(r.p[i].metric, "empathy");
		assert_int_equal(r.p[i].day, DAY0 - 3 + (int64_t)i);
	}
	/* DAY0 - 3: days DAY0-5 and DAY0-4 are empty. */
	pr = find_prior(&r, "empathy", DAY0 - 3);
	assert_int_equal(pr->pop.n_agents, 0);
	assert_int_equal(pr->pop.n_obs, 0);
	assert_true(isnan(pr->pop.mean));
	/* DAY0 - 2: days DAY0-4, DAY0-3: b's 0 only. */
	pr = find_prior(&r, "empathy", DAY0 - 2);
	assert_int_equal(pr->pop.n_agents, 1);
	assert_int_equal(pr->pop.n_obs, 1);
	assert_near(pr->pop.mean, 0.0, TOL);
	assert_true(isnan(pr->pop.sigma2_within));
	/*
	 * DAY0 - 1: days DAY0-3, DAY0-2: b's 0, 0.8, 0.6: mean 1.4 / 3;
	 * SS = 0 + 0.64 + 0.36 - 1.4^2 / 3 = 1 - 0.65333 = 0.34667 on 2 df: 0.17333.
	 */
	pr = find_prior(&r, "empathy", DAY0 - 1);
	assert_int_equal(pr->pop.n_obs, 3);
	assert_near(pr->pop.mean, 1.4 / 3.0, TOL);
	assert_near(pr->pop.sigma2_within, (1.0 - 1.96 / 3.0) / 2.0, TOL);
	/*
	 * DAY0: days DAY0-2, DAY0-1 (b0 of DAY0-3 and b4 of DAY0 left out):
	 *   b: 0.8, 0.6, 0.7  n 3, sum 2.1, SS = 1.49 - 2.1^2/3 = 0.02
	 *   c: 0.9, 0.5       n 2, sum 1.4, SS = 1.06 - 1.4^2/2 = 0.08
	 *   mean = 3.5 / 5 = 0.7, sigma2_within = 0.10 / (2 + 1) = 0.033333, k = 4 as set
	 */
	pr = find_prior(&r, "empathy", DAY0);
	assert_int_equal(pr->pop.n_agents, 2);
	assert_int_equal(pr->pop.n_obs, 5);
	assert_near(pr->pop.mean, 0.7, TOL);
	assert_near(pr->pop.sigma2_within, 0.1 / 3.0, TOL);
	assert_true(isnan(pr->pop.tau2_between));
	assert_near(pr->pop.k, 4.0, 0.0);
	assert_false(pr->pop.k_estimated);

	/*
	 * a on DAY0: window DAY0-1..DAY0 holds 0.3 and 0.5, n 2, sum 0.8:
	 *   shrunk = (0.8 + 4 * 0.7) / (2 + 4) = 3.6 / 6 = 0.6
	 *   half   = z * sqrt(0.033333 / 6) = 1.6448536 * 0.0745356 = 0.1226002
	 * (had b4 leaked into the prior: mean 3.8 / 6, shrunk 0.6889)
	 */
	key_row(det, "a", "empathy", &o);
	assert_int_equal(o.r.n, 2);
	assert_near(o.r.mean, 0.4, TOL);
	assert_near(o.r.shrunk, 0.6, TOL);
	assert_near(o.r.ci_low, 0.6 - Z90 * sqrt(0.1 / 3.0 / 6.0), 1e-9);
	assert_near(o.r.ci_high, 0.6 + Z90 * sqrt(0.1 / 3.0 / 6.0), 1e-9);
	assert_near(o.r.ci_low, 0.4773998, 1e-6);
	assert_near(o.r.pop_mean, 0.7, TOL);
	assert_near(o.r.k, 4.0, 0.0);
	/* n 2 < min_n 8: ok, too few, whatever the shrunk mean. */
	assert_int_equal(o.r.level, MENTOR_LEVEL_OK);
	assert_int_equal(o.r.why, MENTOR_WHY_TOO_FEW);
	/* b on DAY0: window DAY0-1..DAY0 holds 0.7 and 0.3: (1.0 + 2.8) / 6 = 0.63333. */
	key_row(det, "b", "empathy", &o);
	assert_int_equal(o.r.n, 2);
	assert_near(o.r.shrunk, 3.8 / 6.0, TOL);

	rec_clear(&r);
	mentor_detector_free(det);
}

/* ---- The SPEC's shrinkage examples ---- */

/* pop_mean 0.75, within variance 0.04, k 10: a prior of DAY0 restored as behavior_priors holds it. */
static const struct mentor_population spec_prior = {
	.n_agents = 50, .n_obs = 1000, .mean = 0.75, .sigma2_within = 0.04,
	.tau2_between = NAN, .k = 10.0, .k_estimated = false,
};

/*
 * A detector with parameters p and the prior above, into which four active
 * agents' observations of DAY0 were evaluated (into r): 5 x 1.0 from
 * "five", 20 x 1.0 from "twenty", 2 x 0 from "two", 8 x 0 from "eight".
 */
static struct mentor_detector *spec_agents(const struct mentor_stats_params *p, struct rec *r)
{
	static const struct {
		const char *agent;
		int n;
		int64_t v;
	} agents[] = {
		{ "five", 5, 1000000 }, { "twenty", 20, 1000000 }, { "two", 2, 0 }, { "eight", 8, 0 },
	};
	struct mentor_detector *det = det_new(p, p->shrink.window_days);
	struct mentor_error err = { 0 };
	char ev[32];

	assert_int_equal(mentor_detector_restore_prior(det, "empathy", DAY0, &spec_prior, &err), MENTOR_OK);
	for (size_t a = 0; a < sizeof(agents) / sizeof(agents[0]); a++) {
		set_active(det, agents[a].agent, true);
		for (int i = 0; i < agents[a].n; i++) {
			snprintf(ev, sizeof(ev), "%s-%d", agents[a].agent, i);
			obs(det, agents[a].agent, "empathy", ev, at(DAY0, HOUR + i * MINUTE), agents[a].v);
		}
	}
	adv(det, MENTOR_DETECT_ALL, r);
	assert_int_equal(r->np, 0);  /* the restored prior, not one computed again */
	return det;
}

/*
 * With the SPEC defaults (min_n 8, mentor_min_n 20, 90% interval: z = Z90):
 *   5 x 1.0:  shrunk (5 + 10 * 0.75) / 15 = 0.833333,
 *             ci_low = 0.833333 - 1.644854 * sqrt(0.04 / 15) = 0.748393 < 0.85: no mentor,
 *             not even with mentor_min_n (20, which n = 5 also fails) 1
 *   20 x 1.0: shrunk 27.5 / 30 = 0.916667, ci_low = 0.916667 - 1.644854 * sqrt(0.04 / 30)
 *             = 0.856605 >= 0.85: a mentor
 *   2 x 0:    shrunk 7.5 / 12 = 0.625 >= 0.60: not flagged, not even with min_n (8, which n = 2
 *             also fails) 0
 *   8 x 0:    shrunk 7.5 / 18 = 0.416667 < 0.60 with n 8 >= min_n: low, fired by its 8th
 */
static void test_spec_shrink_examples(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det;
	struct rec r;
	struct one o;

	(void)state;
	rec_init(&r);
	mentor_stats_params_init(&p);
	det = spec_agents(&p, &r);
	key_row(det, "five", "empathy", &o);
	assert_int_equal(o.r.n, 5);
	assert_near(o.r.mean, 1.0, 0.0);
	assert_near(o.r.shrunk, 0.8333333333333334, TOL);
	assert_near(o.r.ci_low, 0.7483934572782411, 1e-12);
	assert_near(o.r.ci_high, 0.9182732093884256, 1e-12);
	assert_int_equal(o.r.level, MENTOR_LEVEL_OK);
	assert_int_equal(o.r.why, MENTOR_WHY_TOO_FEW);
	key_row(det, "twenty", "empathy", &o);
	assert_int_equal(o.r.n, 20);
	assert_near(o.r.shrunk, 0.9166666666666666, TOL);
	assert_near(o.r.ci_low, 0.8566051043149661, 1e-12);
	assert_int_equal(o.r.level, MENTOR_LEVEL_HIGH);
	assert_int_equal(o.r.why, MENTOR_WHY_CONFIDENT_HIGH);
	key_row(det, "two", "empathy", &o);
	assert_int_equal(o.r.n, 2);
	assert_near(o.r.mean, 0.0, 0.0);
	assert_near(o.r.shrunk, 0.625, TOL);
	assert_near(o.r.ci_low, 0.5300343315702035, 1e-12);  /* 0.625 -+ 1.644854 * sqrt(0.04 / 12) */
	assert_near(o.r.ci_high, 0.7199656684297965, 1e-12);
	assert_int_equal(o.r.level, MENTOR_LEVEL_OK);
	assert_int_equal(o.r.why, MENTOR_WHY_TOO_FEW);
	key_row(det, "eight", "empathy", &o);
	assert_int_equal(o.r.n, 8);
	assert_near(o.r.shrunk, 0.4166666666666667, TOL);
	assert_near(o.r.ci_low, 0.3391275230882218, 1e-12);
	assert_int_equal(o.r.level, MENTOR_LEVEL_LOW);
	assert_int_equal(r.nt, 1);
	assert_string_equal(r.t[0].agent, "eight");
	assert_string_equal(r.t[0].event, "eight-7");
	assert_int_equal(r.t[0].n, 8);
	rec_clear(&r);
	mentor_detector_free(det);

	/* mentor_min_n 1 and min_n 0: five's interval is still too low, two is still not below (its week unflagged). */
	p.status.mentor_min_n = 1;
	p.status.min_n = 0;
	det = spec_agents(&p, &r);
	key_row(det, "five", "empathy", &o);
	assert_int_equal(o.r.level, MENTOR_LEVEL_OK);
	assert_int_equal(o.r.why, MENTOR_WHY_AVERAGE);
	key_row(det, "two", "empathy", &o);
	assert_int_equal(o.r.level, MENTOR_LEVEL_OK);
	assert_int_equal(o.r.why, MENTOR_WHY_AVERAGE);
	assert_int_equal(o.r.weekly_low, 0);
	rec_clear(&r);
	mentor_detector_free(det);
}

/* ---- Low: min_n, hysteresis, triggers ---- */

static void test_low_hysteresis_triggers(void **state)
{
	/*
	 * Prior of DAY0 (one-day window: DAY0 - 1): bg's 0.8 and 0.8, mean 0.8,
	 * sigma2 0; k = 2. a's observations on DAY0, one an hour; after the i-th
	 *   shrunk = (sum + 2 * 0.8) / (n + 2)
	 * min_n 3, low below 0.60, leaves low above 0.65.
	 */
	static const struct {
		int64_t v;
		double shrunk;
		enum mentor_level level;
		enum mentor_level_reason why;
		int since;         /* index of the observation that entered the level (1-based) */
		size_t triggers;   /* triggers so far */
	} steps[] = {
		{ 200000, 1.8 / 3, MENTOR_LEVEL_OK, MENTOR_WHY_TOO_FEW, 1, 0 },       /* 0.6 */
		{ 200000, 2.0 / 4, MENTOR_LEVEL_OK, MENTOR_WHY_TOO_FEW, 1, 0 },       /* 0.5 < 0.6 but n 2 < 3 */
		{ 200000, 2.2 / 5, MENTOR_LEVEL_LOW, MENTOR_WHY_BELOW_THRESHOLD, 3, 1 },  /* 0.44, n 3: fires */
		{ 200000, 2.4 / 6, MENTOR_LEVEL_LOW, MENTOR_WHY_BELOW_THRESHOLD, 3, 1 },  /* 0.4: no new trigger */
		{ 1000000, 3.4 / 7, MENTOR_LEVEL_LOW, MENTOR_WHY_BELOW_THRESHOLD, 3, 1 }, /* 0.4857 */
		{ 1000000, 4.4 / 8, MENTOR_LEVEL_LOW, MENTOR_WHY_BELOW_THRESHOLD, 3, 1 }, /* 0.55 */
		{ 950000, 5.35 / 9, MENTOR_LEVEL_LOW, MENTOR_WHY_BELOW_THRESHOLD, 3, 1 }, /* 0.5944 */
		{ 1000000, 6.35 / 10, MENTOR_LEVEL_LOW, MENTOR_WHY_HYSTERESIS, 3, 1 },    /* 0.635: in the margin */
		{ 1000000, 7.35 / 11, MENTOR_LEVEL_OK, MENTOR_WHY_RECOVERED, 9, 1 },      /* 0.6682 > 0.65 */
		{ 0, 7.35 / 12, MENTOR_LEVEL_OK, MENTOR_WHY_AVERAGE, 9, 1 },              /* 0.6125: margin, from ok */
		{ 0, 7.35 / 13, MENTOR_LEVEL_LOW, MENTOR_WHY_BELOW_THRESHOLD, 11, 2 },    /* 0.5654: fires again */
	};
	struct mentor_stats_params p;
	struct mentor_detector *det;
	struct rec r;
	struct got g;
	char ev[16];

	(void)state;
	rec_init(&r);
	got_init(&g);
	base_params(&p, 1, 2.0);
	p.status.min_n = 3;
	det = det_new(&p, 1);
	obs(det, "bg", "empathy", "bg1", at(DAY0 - 1, HOUR), 800000);
	obs(det, "bg", "empathy", "bg2", at(DAY0 - 1, 2 * HOUR), 800000);
	adv(det, at(DAY0, 0), &r);
	take(det, &g);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int64_t t = at(DAY0, (int64_t)(i + 1) * HOUR);
		struct one o;

		snprintf(ev, sizeof(ev), "e%02zu", i + 1);
		obs(det, "a", "empathy", ev, t, steps[i].v);
		adv(det, MENTOR_DETECT_ALL, &r);
		key_row(det, "a", "empathy", &o);
		assert_int_equal(o.r.n, (int64_t)i + 1);
		assert_near(o.r.shrunk, steps[i].shrunk, TOL);
		assert_near(o.r.pop_mean, 0.8, TOL);
		assert_int_equal(o.r.level, steps[i].level);
		assert_int_equal(mentor_detector_level_at(det, "a", "empathy", INT64_MAX), steps[i].level);
		assert_int_equal(o.r.why, steps[i].why);
		assert_int_equal(o.r.since_us, at(DAY0, steps[i].since * HOUR));
		assert_int_equal(r.nt, steps[i].triggers);
		/* Only a changed: one row. */
		take(det, &g);
		assert_int_equal(g.n, 1);
		assert_string_equal(g.agent[0], "a");
	}
	/* The triggers: on entering low, with the observation that did it. */
	assert_string_equal(r.t[0].agent, "a");
	assert_string_equal(r.t[0].metric, "empathy");
	assert_string_equal(r.t[0].event, "e03");
	assert_int_equal(r.t[0].fired_us, at(DAY0, 3 * HOUR));
	assert_int_equal(r.t[0].n, 3);
	assert_near(r.t[0].shrunk, 0.44, TOL);
	assert_string_equal(r.t[1].event, "e11");
	assert_int_equal(r.t[1].n, 11);
	assert_near(r.t[1].shrunk, 7.35 / 13, TOL);
	/* Only a is low. */
	got_clear(&g);
	assert_int_equal(mentor_detector_each_level_at(det, INT64_MAX, MENTOR_LEVEL_LOW, collect, &g), MENTOR_OK);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.agent[0], "a");

	got_clear(&g);
	rec_clear(&r);
	mentor_detector_free(det);
}

/* ---- Persistence (X of Y weeks) ---- */

static void test_persistence(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det, *plain;
	struct rec r, rp;
	struct one o;
	/* Monday DAY0 (week W), Wednesday DAY0 + 2, Mondays DAY0 + 7 (W+1) and DAY0 + 14 (W+2). */
	static const int64_t days[] = { 0, 2, 7, 14 };
	/* a's three values each of those days: 0.2 (shrunk 0.44) or 0.8 (shrunk 0.8). */
	static const int64_t v[] = { 200000, 800000, 200000, 200000 };

	(void)state;
	rec_init(&r);
	rec_init(&rp);
	assert_int_equal(mentor_detector_week_of(4), 1);    /* 1970-01-05, a Monday */
	assert_int_equal(mentor_detector_week_of(3), 0);    /* 1970-01-04, a Sunday */
	assert_int_equal(mentor_detector_week_of(-3), 0);   /* 1969-12-29, a Monday */
	assert_int_equal(mentor_detector_week_of(-4), -1);  /* 1969-12-28, a Sunday */
	assert_int_equal(mentor_detector_week_of(DAY0 + 6), mentor_detector_week_of(DAY0));
	assert_int_equal(mentor_detector_week_of(DAY0 + 7), mentor_detector_week_of(DAY0) + 1);
	assert_int_equal(mentor_detector_week_of(DAY0 - 1), mentor_detector_week_of(DAY0) - 1);

	/* One-day window, k 2, bg's 0.8 the day before: shrunk = (3 v + 1.6) / 5. min_n 3. */
	base_params(&p, 1, 2.0);
	p.status.min_n = 3;
	plain = det_new(&p, 1);
	p.status.persist_x = 2;
	p.status.persist_y = 3;
	det = det_new(&p, 1);
	for (size_t d = 0; d < 4; d++) {
		int64_t day = DAY0 + days[d];
		char ev[32];

		for (int k = 0; k < 2; k++) {
			snprintf(ev, sizeof(ev), "bg-%zu-%d", d, k);
			obs(det, "bg", "empathy", ev, at(day - 1, (k + 1) * HOUR), 800000);
			obs(plain, "bg", "empathy", ev, at(day - 1, (k + 1) * HOUR), 800000);
		}
		for (int k = 0; k < 3; k++) {
			snprintf(ev, sizeof(ev), "a-%zu-%d", d, k);
			obs(det, "a", "empathy", ev, at(day, (k + 1) * HOUR), v[d]);
			obs(plain, "a", "empathy", ev, at(day, (k + 1) * HOUR), v[d]);
		}
		adv(det, MENTOR_DETECT_ALL, &r);
		adv(plain, MENTOR_DETECT_ALL, &rp);
		key_row(det, "a", "empathy", &o);
		assert_int_equal(o.r.week, mentor_detector_week_of(day));
		switch (d) {
		case 0:
			/* Below (0.44 < 0.6, n 3) in 1 of the last 3 weeks: not yet. */
			assert_near(o.r.shrunk, 0.44, TOL);
			assert_int_equal(o.r.level, MENTOR_LEVEL_OK);
			assert_int_equal(o.r.why, MENTOR_WHY_NOT_PERSISTENT);
			assert_int_equal(o.r.weekly_low, 1);
			assert_int_equal(r.nt, 0);
			/* Without the rule it is low at once. */
			assert_int_equal(mentor_detector_level_at(plain, "a", "empathy", INT64_MAX), MENTOR_LEVEL_LOW);
			assert_int_equal(rp.nt, 1);
			break;
		case 1:
			/* Same week, now 0.8: the week's flag is its latest decision, cleared. */
			assert_int_equal(o.r.level, MENTOR_LEVEL_OK);
			assert_int_equal(o.r.why, MENTOR_WHY_AVERAGE);
			assert_int_equal(o.r.weekly_low, 0);
			break;
		case 2:
			/* W+1 below, W not (overwritten): 1 of 3 (bits 0b01). */
			assert_int_equal(o.r.level, MENTOR_LEVEL_OK);
			assert_int_equal(o.r.why, MENTOR_WHY_NOT_PERSISTENT);
			assert_int_equal(o.r.weekly_low, 1);
			assert_int_equal(r.nt, 0);
			break;
		case 3:
			/*
			 * W+2 and W+1 below: 2 of 3 (0b11), low, one trigger, on the
			 * third observation (the first two have n 1, 2 < min_n 3:
			 * not below, bits 0b10).
			 */
			assert_int_equal(o.r.level, MENTOR_LEVEL_LOW);
			assert_int_equal(o.r.why, MENTOR_WHY_BELOW_THRESHOLD);
			assert_int_equal(o.r.weekly_low, 3);
			assert_int_equal(r.nt, 1);
			assert_string_equal(r.t[0].event, "a-3-2");
			assert_int_equal(o.r.since_us, at(DAY0 + 14, 3 * HOUR));
			break;
		default:
			break;
		}
	}
	rec_clear(&r);
	rec_clear(&rp);
	mentor_detector_free(det);
	mentor_detector_free(plain);
}

/* ---- High (mentor eligibility) ---- */

static void test_high(void **state)
{
	static const char *const metrics[] = { "aqm", "csat", "empathy" };
	struct mentor_stats_params p;
	struct mentor_detector *det;
	struct rec r;
	struct got g;
	struct one o;
	char ev[48];

	(void)state;
	rec_init(&r);
	got_init(&g);
	/*
	 * One-day window, k 1, min_n 2, mentor_min_n 4. Prior of DAY0 in every
	 * metric: bg's 0.90 and 0.94: mean 0.92, sigma2 = (0.02^2 + 0.02^2) / 1
	 * = 0.0008. With n values v on DAY0:
	 *   shrunk = (n v + 0.92) / (n + 1),  ci_low = shrunk - z sqrt(0.0008 / (n + 1))
	 *   4 x 0.95: 4.72 / 5 = 0.944, ci_low = 0.944 - 1.6448536 * 0.0126491 = 0.923194  -> high
	 *   3 x 0.95: 3.77 / 4 = 0.9425, ci_low = 0.9425 - 1.6448536 * 0.0141421 = 0.919238 -> n 3 < 4
	 *   4 x 0.85: 4.32 / 5 = 0.864, ci_low = 0.843194 < 0.85 (the shrunk mean is above it)
	 *   3 x 0.10 (csat or aqm): 1.22 / 4 = 0.305 < 0.6, n 3 >= 2 -> low
	 */
	base_params(&p, 1, 1.0);
	p.status.min_n = 2;
	p.status.mentor_min_n = 4;
	det = det_new(&p, 1);
	for (size_t m = 0; m < 3; m++) {
		obs(det, "bg", metrics[m], "bg1", at(DAY0 - 1, HOUR), 900000);
		obs(det, "bg", metrics[m], "bg2", at(DAY0 - 1, 2 * HOUR), 940000);
	}
	set_active(det, "star", true);
	set_active(det, "few", true);
	set_active(det, "meh", true);
	set_active(det, "lowcsat", true);
	set_active(det, "lowaqm", true);
	set_active(det, "inactive", false);
	/* "unknown" is never on the roster. */
	for (int i = 0; i < 3; i++) {
		snprintf(ev, sizeof(ev), "c%d", i);
		obs(det, "lowcsat", "csat", ev, at(DAY0, HOUR + i), 100000);
		obs(det, "lowaqm", "aqm", ev, at(DAY0, HOUR + i), 100000);
	}
	for (int i = 0; i < 4; i++) {
		int64_t t = at(DAY0, 2 * HOUR + i);

		snprintf(ev, sizeof(ev), "x%d", i);
		obs(det, "star", "empathy", ev, t, 950000);
		obs(det, "lowcsat", "empathy", ev, t, 950000);
		obs(det, "lowaqm", "empathy", ev, t, 950000);
		obs(det, "inactive", "empathy", ev, t, 950000);
		obs(det, "unknown", "empathy", ev, t, 950000);
		obs(det, "meh", "empathy", ev, t, 850000);
		if (i < 3)
			obs(det, "few", "empathy", ev, t, 950000);
	}
	adv(det, MENTOR_DETECT_ALL, &r);

	key_row(det, "star", "empathy", &o);
	assert_int_equal(o.r.level, MENTOR_LEVEL_HIGH);
	assert_int_equal(o.r.why, MENTOR_WHY_CONFIDENT_HIGH);
	assert_near(o.r.shrunk, 0.944, TOL);
	assert_near(o.r.ci_low, 0.944 - Z90 * sqrt(0.0008 / 5.0), 1e-9);
	assert_near(o.r.ci_low, 0.923194, 1e-6);
	assert_int_equal(o.r.since_us, at(DAY0, 2 * HOUR + 3));  /* high from its 4th observation */
	key_row(det, "few", "empathy", &o);
	assert_int_equal(o.r.level, MENTOR_LEVEL_OK);
	assert_int_equal(o.r.why, MENTOR_WHY_TOO_FEW_FOR_MENTOR);
	assert_near(o.r.ci_low, 0.9425 - Z90 * sqrt(0.0008 / 4.0), 1e-9);
	key_row(det, "meh", "empathy", &o);
	assert_int_equal(o.r.level, MENTOR_LEVEL_OK);
	assert_int_equal(o.r.why, MENTOR_WHY_AVERAGE);
	assert_near(o.r.shrunk, 0.864, TOL);
	assert_near(o.r.ci_low, 0.843194, 1e-6);
	assert_int_equal(mentor_detector_level_at(det, "lowcsat", "csat", INT64_MAX), MENTOR_LEVEL_LOW);
	assert_int_equal(mentor_detector_level_at(det, "lowaqm", "aqm", INT64_MAX), MENTOR_LEVEL_LOW);
	assert_near(key_numbers(det, "lowcsat", "csat").shrunk, 0.305, TOL);
	/* empathy is an evaluation metric: low in AQM overall takes high away, low in CSAT (surveys) is the round's to check. */
	assert_int_equal(key_numbers(det, "lowcsat", "empathy").level, MENTOR_LEVEL_HIGH);
	assert_int_equal(key_numbers(det, "lowaqm", "empathy").why, MENTOR_WHY_LOW_OVERALL);
	assert_int_equal(key_numbers(det, "inactive", "empathy").why, MENTOR_WHY_INACTIVE);
	assert_int_equal(key_numbers(det, "unknown", "empathy").why, MENTOR_WHY_INACTIVE);
	/* Triggers: the two lows, at their 2nd observation (n 2 = min_n: 1.12 / 3 = 0.3733 < 0.6). */
	assert_int_equal(r.nt, 2);
	assert_string_equal(r.t[0].event, "c1");
	assert_string_equal(r.t[1].event, "c1");
	assert_near(r.t[0].shrunk, 1.12 / 3.0, TOL);

	/* star and lowcsat are high. */
	assert_int_equal(mentor_detector_each_level_at(det, INT64_MAX, MENTOR_LEVEL_HIGH, collect, &g), MENTOR_OK);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.agent[0], "lowcsat");
	assert_string_equal(g.agent[1], "star");

	/*
	 * star becomes low in AQM (3 x 0.1, as above), then one more empathy
	 * observation: (4.75 + 0.92) / 6 = 0.945, interval still high enough,
	 * but low overall. And the roster: "few" leaves, its 4th observation
	 * (4 x 0.95: high numbers) is inactive.
	 */
	for (int i = 0; i < 3; i++) {
		snprintf(ev, sizeof(ev), "s%d", i);
		obs(det, "star", "aqm", ev, at(DAY0, 3 * HOUR + i), 100000);
	}
	obs(det, "star", "empathy", "x4", at(DAY0, 4 * HOUR), 950000);
	set_active(det, "few", false);
	obs(det, "few", "empathy", "x3", at(DAY0, 4 * HOUR), 950000);
	adv(det, MENTOR_DETECT_ALL, &r);
	key_row(det, "star", "empathy", &o);
	assert_near(o.r.shrunk, 0.945, TOL);
	assert_int_equal(o.r.level, MENTOR_LEVEL_OK);
	assert_int_equal(o.r.why, MENTOR_WHY_LOW_OVERALL);
	assert_int_equal(o.r.since_us, at(DAY0, 4 * HOUR));
	assert_int_equal(key_numbers(det, "few", "empathy").why, MENTOR_WHY_INACTIVE);
	assert_int_equal(r.nt, 3);  /* star's AQM */
	got_clear(&g);
	assert_int_equal(mentor_detector_each_level_at(det, INT64_MAX, MENTOR_LEVEL_HIGH, collect, &g), MENTOR_OK);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.agent[0], "lowcsat");

	got_clear(&g);
	rec_clear(&r);
	mentor_detector_free(det);
}

/* ---- A metric's own thresholds ---- */

/* Three values v of agent in metric on DAY0, from the given hour on. */
static void three_obs(struct mentor_detector *det, const char *agent, const char *metric, int hour, int64_t v)
{
	char ev[48];

	for (int i = 0; i < 3; i++) {
		snprintf(ev, sizeof(ev), "%s-%s-%d-%d", agent, metric, hour, i);
		obs(det, agent, metric, ev, at(DAY0, hour * HOUR + i * MINUTE), v);
	}
}

static enum mentor_level level_of(const struct mentor_detector *det, const char *agent, const char *metric)
{
	return mentor_detector_level_at(det, agent, metric, INT64_MAX);
}

/*
 * One-day window, k 2, min_n 3, mentor_min_n 3; general low 0.60 and high
 * 0.85. Prior of DAY0 in every metric: bg's 0.8 and 0.8 the day before,
 * mean 0.8, sigma2_within 0: the interval has no width, ci_low = shrunk.
 * With 3 values v on DAY0: shrunk = (3 v + 1.6) / 5.
 *   courtesy: the general thresholds; empathy: low 0.50, high 0.75 of its
 *   own; greeting: low 0.70, high 0.95 of its own.
 *   a, 3 x 0.35: 0.53  courtesy low (< 0.60), empathy ok (>= 0.50), greeting low (< 0.70)
 *   b, 3 x 0.60: 0.68  courtesy ok, empathy ok (< 0.75), greeting low (< 0.70)
 *   c, 3 x 1.00: 0.92  courtesy high (>= 0.85), empathy high, greeting ok (< 0.95)
 *   d, 3 x 0.80: 0.80  courtesy ok (< 0.85), empathy high (>= 0.75), greeting ok
 */
static const char *const own_metrics[] = { "courtesy", "empathy", "greeting" };

static struct mentor_detector *own_thresholds_detector(struct mentor_stats_params *p, struct rec *r)
{
	struct mentor_metric_thresholds own[] = {
		{ .metric = "greeting", .low_threshold = 0.70, .high_threshold = 0.95 },
		{ .metric = "empathy", .low_threshold = 0.50, .high_threshold = 0.75 },
	};
	static const struct {
		const char *agent;
		int64_t v;
	} agents[] = { { "a", 350000 }, { "b", 600000 }, { "c", 1000000 }, { "d", 800000 } };
	struct mentor_detector *det = NULL;
	struct mentor_error err = { 0 };

	base_params(p, 1, 2.0);
	p->status.min_n = 3;
	p->status.mentor_min_n = 3;
	assert_int_equal(mentor_detector_new(p, own, 2, 1, &det, &err), MENTOR_OK);
	for (size_t m = 0; m < 3; m++) {
		obs(det, "bg", own_metrics[m], "bg1", at(DAY0 - 1, HOUR), 800000);
		obs(det, "bg", own_metrics[m], "bg2", at(DAY0 - 1, 2 * HOUR), 800000);
	}
	for (size_t a = 0; a < 4; a++) {
		set_active(det, agents[a].agent, true);
		for (size_t m = 0; m < 3; m++)
			three_obs(det, agents[a].agent, own_metrics[m], 1, agents[a].v);
	}
	adv(det, MENTOR_DETECT_ALL, r);
	return det;
}

static void test_own_thresholds(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det;
	struct rec r;

	(void)state;
	rec_init(&r);
	det = own_thresholds_detector(&p, &r);
	assert_near(key_numbers(det, "a", "empathy").shrunk, 0.53, TOL);
	assert_near(key_numbers(det, "b", "greeting").shrunk, 0.68, TOL);
	assert_near(key_numbers(det, "c", "greeting").ci_low, 0.92, TOL);
	assert_near(key_numbers(det, "d", "empathy").ci_low, 0.80, TOL);
	/* Low: empathy's own 0.50 leaves a, whom the general 0.60 flags; greeting's 0.70 flags b, whom it leaves. */
	assert_int_equal(level_of(det, "a", "courtesy"), MENTOR_LEVEL_LOW);
	assert_int_equal(level_of(det, "a", "empathy"), MENTOR_LEVEL_OK);
	assert_int_equal(key_numbers(det, "a", "empathy").why, MENTOR_WHY_AVERAGE);
	assert_int_equal(level_of(det, "a", "greeting"), MENTOR_LEVEL_LOW);
	assert_int_equal(level_of(det, "b", "courtesy"), MENTOR_LEVEL_OK);
	assert_int_equal(level_of(det, "b", "empathy"), MENTOR_LEVEL_OK);
	assert_int_equal(level_of(det, "b", "greeting"), MENTOR_LEVEL_LOW);
	assert_int_equal(key_numbers(det, "b", "greeting").why, MENTOR_WHY_BELOW_THRESHOLD);
	/* High: greeting's own 0.95 takes c's high away; empathy's own 0.75 gives d one. */
	assert_int_equal(level_of(det, "c", "courtesy"), MENTOR_LEVEL_HIGH);
	assert_int_equal(level_of(det, "c", "empathy"), MENTOR_LEVEL_HIGH);
	assert_int_equal(level_of(det, "c", "greeting"), MENTOR_LEVEL_OK);
	assert_int_equal(key_numbers(det, "c", "greeting").why, MENTOR_WHY_AVERAGE);
	assert_int_equal(level_of(det, "d", "courtesy"), MENTOR_LEVEL_OK);
	assert_int_equal(level_of(det, "d", "empathy"), MENTOR_LEVEL_HIGH);
	assert_int_equal(key_numbers(det, "d", "empathy").why, MENTOR_WHY_CONFIDENT_HIGH);
	assert_int_equal(level_of(det, "d", "greeting"), MENTOR_LEVEL_OK);
	/* Triggers: a in courtesy and greeting, b in greeting, each on its third observation. */
	assert_int_equal(r.nt, 3);
	for (size_t i = 0; i < r.nt; i++)
		assert_int_equal(r.t[i].n, 3);
	rec_clear(&r);
	mentor_detector_free(det);
}

/*
 * set_params() resolves the known metrics' rules again: courtesy gets a
 * high of 0.75 of its own (its low, NaN, stays the general 0.60) and
 * empathy loses its own. The next observation of each key decides by them
 * (DAY0's prior is fixed: shrunk = (4 v + 1.6) / 6, still ci_low = shrunk):
 *   d courtesy 0.80: 4.8 / 6 = 0.80 >= 0.75: high (was ok under 0.85)
 *   d empathy 0.80:  0.80 < 0.85: ok (was high under 0.75)
 *   a courtesy 0.35: 3.0 / 6 = 0.50 < 0.60: still low, below threshold
 *   a empathy 0.35:  0.50 < 0.60: low now (its 0.53 was above its own 0.50), a trigger
 * Parameters refused leave the rules as they were.
 */
static void test_own_thresholds_set_params(void **state)
{
	struct mentor_metric_thresholds courtesy_high = { .metric = "courtesy", .low_threshold = NAN,
							  .high_threshold = 0.75 };
	struct mentor_metric_thresholds bad[][2] = {
		{ { .metric = "empathy", .low_threshold = 0.5, .high_threshold = NAN },
		  { .metric = "empathy", .low_threshold = NAN, .high_threshold = 0.9 } },
		{ { .metric = "empathy", .low_threshold = 1.5, .high_threshold = NAN } },
		{ { .metric = "empathy", .low_threshold = NAN, .high_threshold = -0.1 } },
		/* With hysteresis 0.05, a low of 0.98 could never be left. */
		{ { .metric = "empathy", .low_threshold = 0.98, .high_threshold = NAN } },
		{ { .metric = "", .low_threshold = 0.5, .high_threshold = NAN } },
	};
	static const size_t n_bad[] = { 2, 1, 1, 1, 1 };
	struct mentor_stats_params p;
	struct mentor_detector *det;
	struct mentor_error err = { 0 };
	size_t triggers;
	struct rec r;

	(void)state;
	rec_init(&r);
	det = own_thresholds_detector(&p, &r);
	triggers = r.nt;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mentor_detector *refused = NULL;

		assert_int_equal(mentor_detector_set_params(det, &p, bad[i], n_bad[i], &err), MENTOR_ERR_INVALID);
		assert_int_equal(mentor_detector_new(&p, bad[i], n_bad[i], 1, &refused, &err), MENTOR_ERR_INVALID);
		assert_null(refused);
	}
	assert_int_equal(mentor_detector_set_params(det, &p, NULL, 1, &err), MENTOR_ERR_INVALID);
	/* Still empathy's own 0.75: d's next 0.80 keeps it high. */
	three_obs(det, "d", "empathy", 2, 800000);
	adv(det, MENTOR_DETECT_ALL, &r);
	assert_int_equal(level_of(det, "d", "empathy"), MENTOR_LEVEL_HIGH);

	assert_int_equal(mentor_detector_set_params(det, &p, &courtesy_high, 1, &err), MENTOR_OK);
	obs(det, "d", "courtesy", "d-c4", at(DAY0, 3 * HOUR), 800000);
	obs(det, "a", "courtesy", "a-c4", at(DAY0, 3 * HOUR), 350000);
	obs(det, "a", "empathy", "a-e4", at(DAY0, 3 * HOUR), 350000);
	adv(det, MENTOR_DETECT_ALL, &r);
	assert_near(key_numbers(det, "d", "courtesy").ci_low, 0.80, TOL);
	assert_int_equal(level_of(det, "d", "courtesy"), MENTOR_LEVEL_HIGH);
	assert_near(key_numbers(det, "a", "courtesy").shrunk, 0.50, TOL);
	assert_int_equal(level_of(det, "a", "courtesy"), MENTOR_LEVEL_LOW);
	assert_int_equal(key_numbers(det, "a", "courtesy").why, MENTOR_WHY_BELOW_THRESHOLD);
	assert_int_equal(level_of(det, "a", "empathy"), MENTOR_LEVEL_LOW);
	assert_int_equal(r.nt, triggers + 1);
	assert_string_equal(r.t[r.nt - 1].event, "a-e4");
	/* d's empathy: 7 x 0.80, (5.6 + 1.6) / 9 = 0.80 < 0.85 now. */
	obs(det, "d", "empathy", "d-e7", at(DAY0, 3 * HOUR), 800000);
	adv(det, MENTOR_DETECT_ALL, &r);
	assert_near(key_numbers(det, "d", "empathy").ci_low, 0.80, TOL);
	assert_int_equal(level_of(det, "d", "empathy"), MENTOR_LEVEL_OK);
	assert_int_equal(key_numbers(det, "d", "empathy").why, MENTOR_WHY_AVERAGE);
	rec_clear(&r);
	mentor_detector_free(det);
}

/* ---- advance(until): what waits, what is evaluated ---- */

static void test_until_and_waiting(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det;
	int64_t t = at(DAY0, 10 * HOUR);
	int64_t n, sum, sumsq;
	struct rec r;

	(void)state;
	rec_init(&r);
	base_params(&p, 2, 1.0);
	p.status.min_n = 1;
	det = det_new(&p, 2);
	assert_int_equal(mentor_detector_event_time(det), INT64_MIN);
	assert_int_equal(mentor_detector_newest_seen(det), INT64_MIN);
	assert_int_equal(mentor_detector_oldest_waiting(det), INT64_MIN);
	assert_int_equal(mentor_detector_waiting(det), 0);
	adv(det, MENTOR_DETECT_ALL, &r);  /* nothing to do */

	obs(det, "a", "m", "e2", t + 5, 300000);
	obs(det, "a", "m", "e1", t, 100000);
	assert_int_equal(mentor_detector_waiting(det), 2);
	assert_int_equal(mentor_detector_oldest_waiting(det), t);
	assert_int_equal(mentor_detector_newest_seen(det), t + 5);
	assert_int_equal(mentor_detector_event_time(det), INT64_MIN);

	/* until is exclusive: t itself waits. */
	adv(det, t, &r);
	assert_int_equal(r.ne, 0);
	assert_int_equal(mentor_detector_waiting(det), 2);
	assert_int_equal(mentor_detector_event_time(det), INT64_MIN);
	mentor_detector_day_sums(det, "a", "m", DAY0, DAY0 + 1, &n, &sum, &sumsq);
	assert_int_equal(n, 0);

	adv(det, t + 1, &r);
	assert_int_equal(r.ne, 1);
	assert_int_equal(r.e[0].value_e6, 100000);
	assert_int_equal(mentor_detector_waiting(det), 1);
	assert_int_equal(mentor_detector_oldest_waiting(det), t + 5);
	assert_int_equal(mentor_detector_event_time(det), t);
	assert_int_equal(mentor_detector_newest_seen(det), t + 5);
	assert_int_equal(key_numbers(det, "a", "m").n, 1);

	adv(det, MENTOR_DETECT_ALL, &r);
	assert_int_equal(r.ne, 2);
	assert_int_equal(mentor_detector_waiting(det), 0);
	assert_int_equal(mentor_detector_oldest_waiting(det), INT64_MIN);
	assert_int_equal(mentor_detector_event_time(det), t + 5);
	assert_int_equal(key_numbers(det, "a", "m").n, 2);

	/* A late observation (before event time) still waits for an advance, and leaves event time alone. */
	obs(det, "a", "m", "e0", t - HOUR, 500000);
	assert_int_equal(mentor_detector_waiting(det), 1);
	assert_int_equal(mentor_detector_newest_seen(det), t + 5);
	adv(det, MENTOR_DETECT_ALL, &r);
	assert_int_equal(mentor_detector_event_time(det), t + 5);
	/* 0.1 + 0.3 + 0.5 */
	mentor_detector_day_sums(det, "a", "m", DAY0, DAY0 + 1, &n, &sum, &sumsq);
	assert_int_equal(n, 3);
	assert_int_equal(sum, 900000);
	/* 1e10 + 9e10 + 25e10 */
	assert_int_equal(sumsq, INT64_C(350000000000));

	/*
	 * Waiting observations keep their event ids across advances that stop
	 * before them. Prior of DAY0 + 1 (days DAY0-1, DAY0): a's 0.1, 0.3, 0.5:
	 * mean 0.3; k 1, min_n 1: one 0 gives (0 + 0.3) / 2 = 0.15 < 0.6, low.
	 * "p" is observed first (its id stored first) but is later in time.
	 */
	obs(det, "p", "m", "late-2", at(DAY0 + 1, 2 * HOUR), 0);
	obs(det, "q", "m", "late-1", at(DAY0 + 1, 1 * HOUR), 0);
	adv(det, at(DAY0 + 1, 0), &r);  /* both wait */
	assert_int_equal(mentor_detector_waiting(det), 2);
	adv(det, at(DAY0 + 1, 90 * MINUTE), &r);  /* q only */
	assert_int_equal(mentor_detector_waiting(det), 1);
	adv(det, MENTOR_DETECT_ALL, &r);
	assert_int_equal(r.nt, 2);
	assert_string_equal(r.t[0].agent, "q");
	assert_string_equal(r.t[0].event, "late-1");
	assert_string_equal(r.t[1].agent, "p");
	assert_string_equal(r.t[1].event, "late-2");
	assert_near(r.t[1].shrunk, 0.15, TOL);

	rec_clear(&r);
	mentor_detector_free(det);
}

/* ---- Taking back a repeat ---- */

static int unobs(struct mentor_detector *det, const char *agent, const char *metric, const char *event_id,
		 int64_t t_us, int64_t value_e6)
{
	struct mentor_detect_key key = { agent, metric, event_id, t_us, value_e6 };
	struct mentor_error err = { 0 };

	return mentor_detector_unobserve(det, &key, 1, &err);
}

/*
 * A batch resends events observed before (some already evaluated, some
 * still waiting) and the caller takes their observations back: the outcome
 * is that of a detector that never saw the resends, and an evaluated one
 * cannot be taken back.
 */
static void test_unobserve(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *once, *twice;
	struct mentor_error err = { 0 };
	struct got g_once, g_twice;
	struct rec r_once, r_twice;
	int64_t t = at(DAY0, 10 * HOUR);

	(void)state;
	base_params(&p, 2, 1.0);
	p.status.min_n = 1;
	once = det_new(&p, 3);
	twice = det_new(&p, 3);
	rec_init(&r_once);
	rec_init(&r_twice);
	got_init(&g_once);
	got_init(&g_twice);
	for (int d = 0; d < 2; d++) {
		struct mentor_detector *det = d == 0 ? once : twice;

		obs(det, "a", "m", "e1", t, 100000);
		obs(det, "a", "n", "e1", t, 200000);
		obs(det, "b", "m", "e2", t + 5, 900000);
		adv(det, t + 1, d == 0 ? &r_once : &r_twice);  /* e1 evaluated, e2 waits */
		obs(det, "b", "m", "e3", at(DAY0 + 1, HOUR), 0);
	}
	/* The resend: e3 (waiting, sharing its id's copy with the original), e2 (waiting). */
	obs(twice, "b", "m", "e3", at(DAY0 + 1, HOUR), 0);
	obs(twice, "b", "m", "e2", t + 5, 900000);
	assert_int_equal(mentor_detector_waiting(twice), 4);
	adv(twice, t, &r_twice);  /* sorts the waiting ones, evaluates none */
	/* e1 was evaluated: it cannot be taken back. */
	assert_int_equal(unobs(twice, "a", "m", "e1", t, 100000), MENTOR_ERR_INVALID);
	/* A value, time or key that no waiting observation has is not taken back either. */
	assert_int_equal(unobs(twice, "b", "m", "e2", t + 5, 800000), MENTOR_ERR_INVALID);
	assert_int_equal(unobs(twice, "b", "m", "e2", t + 6, 900000), MENTOR_ERR_INVALID);
	assert_int_equal(unobs(twice, "c", "m", "e2", t + 5, 900000), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_waiting(twice), 4);
	/* Both at once; a set where one does not wait changes nothing. */
	{
		struct mentor_detect_key keys[] = {
			{ "b", "m", "e3", at(DAY0 + 1, HOUR), 0 },
			{ "b", "m", "e2", t + 5, 900000 },
			{ "a", "m", "e1", t, 100000 },
		};

		assert_int_equal(mentor_detector_unobserve(twice, keys, 3, &err), MENTOR_ERR_INVALID);
		assert_int_equal(mentor_detector_waiting(twice), 4);
		assert_int_equal(mentor_detector_unobserve(twice, keys, 2, &err), MENTOR_OK);
	}
	assert_int_equal(mentor_detector_waiting(twice), 2);
	assert_int_equal(mentor_detector_newest_seen(twice), at(DAY0 + 1, HOUR));
	assert_int_equal(mentor_detector_oldest_waiting(twice), t + 5);

	/* A resend newer than anything seen, taken back: newest_seen goes back to what the others say. */
	obs(twice, "b", "m", "e9", at(DAY0 + 2, HOUR), 500000);
	assert_int_equal(mentor_detector_newest_seen(twice), at(DAY0 + 2, HOUR));
	assert_int_equal(unobs(twice, "b", "m", "e9", at(DAY0 + 2, HOUR), 500000), MENTOR_OK);
	assert_int_equal(mentor_detector_newest_seen(twice), at(DAY0 + 1, HOUR));

	adv(once, MENTOR_DETECT_ALL, &r_once);
	adv(twice, MENTOR_DETECT_ALL, &r_twice);
	take(once, &g_once);
	take(twice, &g_twice);
	assert_int_equal(key_numbers(twice, "b", "m").n, 2);
	assert_same_rows(&g_once, &g_twice);
	assert_int_equal(r_once.ne, r_twice.ne);
	assert_same_outcome(&r_once, &r_twice);
	assert_int_equal(mentor_detector_event_time(once), mentor_detector_event_time(twice));
	assert_int_equal(mentor_detector_waiting(twice), 0);

	got_clear(&g_once);
	got_clear(&g_twice);
	rec_clear(&r_once);
	rec_clear(&r_twice);
	mentor_detector_free(once);
	mentor_detector_free(twice);
}

/* ---- Ties: (time, event id, metric) ---- */

static void test_tie_order(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det;
	int64_t t1 = at(DAY0, 5 * HOUR), t2 = t1 + 1;
	struct rec r;

	(void)state;
	rec_init(&r);
	base_params(&p, 1, 1.0);
	p.status.min_n = 1;
	det = det_new(&p, 1);
	obs(det, "bg", "zz", "bg", at(DAY0 - 1, HOUR), 800000);
	adv(det, at(DAY0, 0), &r);
	rec_clear(&r);

	/* Arrival order is not evaluation order. */
	obs(det, "a", "mm", "e1", t2, 500000);
	obs(det, "a", "zz", "e2", t1, 200000);
	obs(det, "a", "aa", "e2", t1, 300000);
	obs(det, "a", "zz", "e1", t1, 100000);
	adv(det, MENTOR_DETECT_ALL, &r);
	assert_int_equal(r.ne, 4);
	/* (t1, e1, zz), (t1, e2, aa), (t1, e2, zz), (t2, e1, mm) */
	assert_string_equal(r.e[0].metric, "zz");
	assert_int_equal(r.e[0].value_e6, 100000);
	assert_string_equal(r.e[1].metric, "aa");
	assert_string_equal(r.e[2].metric, "zz");
	assert_int_equal(r.e[2].value_e6, 200000);
	assert_string_equal(r.e[3].metric, "mm");
	/*
	 * zz's prior of DAY0: bg's 0.8; k 1. a's first zz observation (e1, 0.1):
	 * (0.1 + 0.8) / 2 = 0.45 < 0.6: low, fired by e1, not by e2 that arrived first.
	 */
	assert_int_equal(r.nt, 1);
	assert_string_equal(r.t[0].metric, "zz");
	assert_string_equal(r.t[0].event, "e1");
	assert_int_equal(r.t[0].n, 1);
	assert_near(r.t[0].shrunk, 0.45, TOL);
	/* The metrics without a population have a NaN prior: never low on their first day. */
	assert_int_equal(mentor_detector_level_at(det, "a", "aa", INT64_MAX), MENTOR_LEVEL_OK);
	assert_true(isnan(key_numbers(det, "a", "aa").shrunk));

	rec_clear(&r);
	mentor_detector_free(det);
}

/* ---- Seeded PRNG (splitmix64): the scenarios are the same on every run ---- */

static double rng_unit(uint64_t *s)  /* [0, 1) */
{
	return (double)(splitmix64(s) >> 11) * 0x1.0p-53;
}

/* ---- A generated stream ---- */

#define G_AGENTS 14
#define G_METRICS 3

static const char *const g_metrics[G_METRICS] = { "aqm", "csat", "empathy" };

struct gobs {
	char agent[16];
	const char *metric;
	char ev[24];
	int64_t t, d, v;  /* d: decision time */
};

/*
 * days of events from DAY0. Each agent has 1 to 4 events a day on a
 * 30-minute grid (so different agents, and sometimes one agent's two
 * events, share a time), each scoring 1 to 3 metrics under one event id.
 * Skill: agents 0, 5, 10 ~ 0.4 (low), the others 0.6 to 0.98; values are
 * hundredths, skill +- 0.05. Event ids are random, unrelated to time order.
 * late_percent of the events are decided 0 to 72 hours after their time
 * (on the grid too), the others at their time.
 */
static size_t gen(struct gobs *out, size_t cap, int days, int late_percent, uint64_t seed)
{
	uint64_t s = seed;
	double skill[G_AGENTS][G_METRICS];
	size_t n = 0;
	unsigned serial = 0;

	for (int a = 0; a < G_AGENTS; a++)
		for (int m = 0; m < G_METRICS; m++)
			skill[a][m] = a % 5 == 0 ? 0.38 + 0.04 * rng_unit(&s) : 0.6 + 0.38 * rng_unit(&s);
	for (int d = 0; d < days; d++)
		for (int a = 0; a < G_AGENTS; a++) {
			int events = 1 + (int)(splitmix64(&s) % 4);

			for (int e = 0; e < events; e++) {
				int64_t t = at(DAY0 + d, (int64_t)(splitmix64(&s) % 48) * 30 * MINUTE), decided = t;
				unsigned mask = 1 + (unsigned)(splitmix64(&s) % 7);
				char ev[24];

				snprintf(ev, sizeof(ev), "ev-%04u-%u", (unsigned)(splitmix64(&s) % 10000), serial++);
				if (late_percent > 0 && (int)(splitmix64(&s) % 100) < late_percent)
					decided += (int64_t)(splitmix64(&s) % 145) * 30 * MINUTE;
				for (int m = 0; m < G_METRICS; m++) {
					double x;
					int64_t v;

					if (!(mask >> m & 1))
						continue;
					x = skill[a][m] + 0.1 * (rng_unit(&s) - 0.5);
					v = (int64_t)floor(x * 100.0 + 0.5) * 10000;
					if (v < 0)
						v = 0;
					if (v > 1000000)
						v = 1000000;
					assert_true(n < cap);
					snprintf(out[n].agent, sizeof(out[n].agent), "agent-%02d", a);
					out[n].metric = g_metrics[m];
					snprintf(out[n].ev, sizeof(out[n].ev), "%s", ev);
					out[n].t = t;
					out[n].d = decided;
					out[n].v = v;
					n++;
				}
			}
		}
	return n;
}

static void gen_roster(struct mentor_detector *det, bool reverse)
{
	char id[16];

	for (int i = 0; i < G_AGENTS; i++) {
		int a = reverse ? G_AGENTS - 1 - i : i;

		snprintf(id, sizeof(id), "agent-%02d", a);
		set_active(det, id, a % 3 != 0);
	}
}

static void feed_one(struct mentor_detector *det, const struct gobs *o)
{
	obs_decided(det, o->agent, o->metric, o->ev, o->t, o->d, o->v);
}

static int cmp_gobs_decided(const void *a, const void *b)
{
	const struct gobs *x = a, *y = b;

	return x->d < y->d ? -1 : x->d > y->d;
}

static void gen_params(struct mentor_stats_params *p)
{
	mentor_stats_params_init(p);
	p->shrink.window_days = 4;
	p->shrink.estimate_k = true;
	p->shrink.estimate_min_agents = 5;
	p->status.min_n = 3;
	p->status.mentor_min_n = 4;
}

/* Every key's latest decision in a and b is the same; returns how many are high. */
static size_t assert_same_keys(const struct mentor_detector *a, const struct mentor_detector *b)
{
	size_t highs = 0;
	char id[16];

	for (int i = 0; i < G_AGENTS; i++) {
		snprintf(id, sizeof(id), "agent-%02d", i);
		for (int m = 0; m < G_METRICS; m++) {
			struct one x, y;

			key_row(a, id, g_metrics[m], &x);
			key_row(b, id, g_metrics[m], &y);

			assert_same_row(&x.r, &y.r);
			highs += x.r.level == MENTOR_LEVEL_HIGH;
		}
	}
	return highs;
}

/* ---- Order independence ---- */

#define OI_DAYS 10
#define OI_CAP (OI_DAYS * G_AGENTS * 4 * G_METRICS)
#define OI_STEPS 40

/*
 * One single advance, and advances at many boundaries with the observations
 * arriving in two other orders (some before their turn), give the same
 * decisions, triggers and priors; late_percent of the events are decided
 * up to 72 hours after their time.
 */
static void order_independence(int late_percent)
{
	struct gobs *o = malloc(OI_CAP * sizeof(*o)), *sorted = malloc(OI_CAP * sizeof(*o));
	bool *fed_b = calloc(OI_CAP, sizeof(bool)), *fed_c = calloc(OI_CAP, sizeof(bool));
	size_t *perm = malloc(OI_CAP * sizeof(size_t));
	int64_t bound[OI_STEPS + 1];
	struct mentor_stats_params p;
	struct mentor_detector *a, *b, *c;
	struct rec ra, rb, rc;
	struct got ga, gb, gc;
	uint64_t s = 42;
	size_t n, ties = 0, highs, lows = 0;
	int64_t newest = INT64_MIN;

	assert_non_null(o);
	assert_non_null(sorted);
	assert_non_null(fed_b);
	assert_non_null(fed_c);
	assert_non_null(perm);
	rec_init(&ra);
	rec_init(&rb);
	rec_init(&rc);
	got_init(&ga);
	got_init(&gb);
	got_init(&gc);
	gen_params(&p);
	n = gen(o, OI_CAP, OI_DAYS, late_percent, 7);
	memcpy(sorted, o, n * sizeof(*o));
	qsort(sorted, n, sizeof(*sorted), cmp_gobs_decided);
	for (size_t i = 1; i < n; i++)
		ties += sorted[i].d == sorted[i - 1].d && strcmp(sorted[i].ev, sorted[i - 1].ev) != 0;
	assert_true(ties > 50);  /* ties in time between different events are common */

	/*
	 * Boundaries: every ~1/OI_STEPS of the stream, half of them exactly at an
	 * observation's time (which then waits), the other half 1 us later.
	 */
	for (int i = 0; i < OI_STEPS; i++) {
		size_t j = (size_t)i * n / OI_STEPS + splitmix64(&s) % (n / OI_STEPS);

		bound[i] = sorted[j].d + (i % 2);
		if (i > 0 && bound[i] < bound[i - 1])
			bound[i] = bound[i - 1];
		/* Something is evaluated by the first boundary (test_take_changed_before_any covers nothing). */
		if (bound[i] <= sorted[0].d)
			bound[i] = sorted[0].d + 1;
	}
	bound[OI_STEPS] = MENTOR_DETECT_ALL;

	/* a: the generated order (agent by agent within a day), one advance at the end. */
	a = det_new(&p, 4);
	gen_roster(a, false);
	for (size_t i = 0; i < n; i++)
		feed_one(a, &o[i]);
	adv(a, MENTOR_DETECT_ALL, &ra);

	/*
	 * b and c advance at the same boundaries; before each, every observation
	 * before it has arrived, and some later ones too (early: they must wait).
	 * b: a random permutation, 1 in 8 later ones early. c: newest first,
	 * 1 in 3 later ones early.
	 */
	b = det_new(&p, 4);
	c = det_new(&p, 4);
	gen_roster(b, true);
	gen_roster(c, false);
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = splitmix64(&s) % (i + 1), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int step = 0; step <= OI_STEPS; step++) {
		int64_t until = bound[step];

		for (size_t i = 0; i < n; i++) {
			size_t k = perm[i];

			if (!fed_b[k] && (o[k].d < until || splitmix64(&s) % 8 == 0)) {
				feed_one(b, &o[k]);
				fed_b[k] = true;
			}
		}
		for (size_t i = n; i-- > 0;) {
			if (!fed_c[i] && (sorted[i].d < until || splitmix64(&s) % 3 == 0)) {
				feed_one(c, &sorted[i]);
				fed_c[i] = true;
			}
		}
		adv(b, until, &rb);
		adv(c, until, &rc);
		if (mentor_detector_waiting(b) > 0)
			assert_true(mentor_detector_oldest_waiting(b) >= until);
		if (mentor_detector_event_time(b) != INT64_MIN)
			assert_true(mentor_detector_event_time(b) < until);
		assert_int_equal(mentor_detector_event_time(b), mentor_detector_event_time(c));
		/* The same keys changed in the same way at every boundary. */
		take(b, &gb);
		take(c, &gc);
		assert_sorted(&gb);
		assert_same_rows(&gb, &gc);
		assert_same_triggers(&rb, &rc);
		assert_same_priors(&rb, &rc);
	}
	assert_int_equal(mentor_detector_waiting(b), 0);
	assert_int_equal(mentor_detector_waiting(c), 0);

	/* Same end state, triggers and priors as a. */
	highs = assert_same_keys(a, b);
	assert_same_keys(a, c);
	assert_same_outcome(&ra, &rb);
	take(a, &ga);
	assert_int_equal(ga.n, G_AGENTS * G_METRICS);
	for (size_t i = 0; i < ga.n; i++)
		lows += ga.r[i].level == MENTOR_LEVEL_LOW;
	/* Not vacuous: the low agents fired, some are mentors. */
	printf("order independence (%d%% late): %zu observations, %zu ties, %zu triggers, %zu low, %zu high\n",
	       late_percent, n, ties, ra.nt, lows, highs);
	assert_true(ra.nt >= 3);
	assert_true(lows >= 3);
	assert_true(highs >= 1);
	assert_int_equal(ra.ne, n);
	for (size_t i = 0; i < n; i++)
		newest = o[i].t > newest ? o[i].t : newest;
	assert_int_equal(mentor_detector_event_time(a), newest);

	got_clear(&ga);
	got_clear(&gb);
	got_clear(&gc);
	rec_clear(&ra);
	rec_clear(&rb);
	rec_clear(&rc);
	mentor_detector_free(a);
	mentor_detector_free(b);
	mentor_detector_free(c);
	free(o);
	free(sorted);
	free(fed_b);
	free(fed_c);
	free(perm);
}

static void test_order_independence(void **state)
{
	(void)state;
	order_independence(0);
}

static void test_order_independence_late(void **state)
{
	(void)state;
	order_independence(25);
}

/* ---- Sources apart ---- */

struct level_view {
	const struct mentor_detector *det;
	int64_t at_us;
	size_t n;
};

/* One key of `each_level_at(det, at, ...)`: its row as of `at` equals key_at's. */
static int check_key_at(void *ctx, const struct mentor_detect_row *row)
{
	struct level_view *v = ctx;
	struct one o;

	memset(&o, 0, sizeof(o));
	assert_int_equal(mentor_detector_key_at(v->det, row->agent_id, row->metric, v->at_us, copy_one, &o), MENTOR_OK);
	assert_same_row(&o.r, row);
	v->n++;
	return MENTOR_OK;
}

/* Every key of b as of at_us is what c's latest decision says (c advanced to exactly at_us). */
static void assert_as_of(const struct mentor_detector *b, int64_t at_us, const struct mentor_detector *c)
{
	char id[16];

	for (int lv = MENTOR_LEVEL_OK; lv <= MENTOR_LEVEL_HIGH; lv++) {
		struct level_view vb = { b, at_us, 0 }, vc = { c, INT64_MAX, 0 };

		assert_int_equal(mentor_detector_each_level_at(b, at_us, (enum mentor_level)lv, check_key_at, &vb),
				 MENTOR_OK);
		assert_int_equal(mentor_detector_each_level_at(c, INT64_MAX, (enum mentor_level)lv, check_key_at, &vc),
				 MENTOR_OK);
		assert_int_equal(vb.n, vc.n);
	}
	for (int i = 0; i < G_AGENTS; i++) {
		snprintf(id, sizeof(id), "agent-%02d", i);
		for (int m = 0; m < G_METRICS; m++) {
			struct one x, y;

			memset(&x, 0, sizeof(x));
			memset(&y, 0, sizeof(y));
			mentor_detector_key_at(b, id, g_metrics[m], at_us, copy_one, &x);
			mentor_detector_key_at(c, id, g_metrics[m], INT64_MAX, copy_one, &y);
			if (x.r.agent_id || y.r.agent_id)
				assert_same_row(&x.r, &y.r);
			assert_int_equal(mentor_detector_level_at(b, id, g_metrics[m], at_us),
					 mentor_detector_level_at(c, id, g_metrics[m], INT64_MAX));
		}
	}
}

/* The past states take_past handed out, kept as status_past keeps them. */
struct saved_past {
	char agent[16];
	const char *metric;  /* one of g_metrics */
	int64_t decided_us;
	bool had;            /* the key had a decision before */
	struct mentor_detect_row before;
};

struct past_log {
	struct saved_past *e;
	size_t n, cap;
	size_t taken;        /* handed out in all */
};

static int save_past(void *ctx, const char *agent_id, const char *metric, int64_t decided_us,
		     const struct mentor_detect_row *before)
{
	struct past_log *log = ctx;
	struct saved_past *e;

	if (log->n == log->cap) {
		log->cap = log->cap ? 2 * log->cap : 256;
		log->e = realloc(log->e, log->cap * sizeof(*log->e));
		assert_non_null(log->e);
	}
	e = &log->e[log->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->agent, sizeof(e->agent), "%s", agent_id);
	for (int m = 0; m < G_METRICS; m++)
		if (strcmp(g_metrics[m], metric) == 0)
			e->metric = g_metrics[m];
	assert_non_null(e->metric);
	e->decided_us = decided_us;
	e->had = before != NULL;
	if (before)
		e->before = *before;
	log->taken++;
	return MENTOR_OK;
}

/* Forgets the states of decisions before from_us, as a round's DELETE does. */
static void forget_past(struct past_log *log, int64_t from_us)
{
	size_t kept = 0;

	for (size_t i = 0; i < log->n; i++)
		if (log->e[i].decided_us >= from_us)
			log->e[kept++] = log->e[i];
	log->n = kept;
}

static int restore_latest(void *ctx, const struct mentor_detect_row *row)
{
	struct mentor_error err = { 0 };

	assert_int_equal(mentor_detector_restore_status(ctx, row, &err), MENTOR_OK);
	return MENTOR_OK;
}

/* A detector with b's latest decisions and the logged past, as a load builds it. */
static struct mentor_detector *reload(const struct mentor_stats_params *p, const struct mentor_detector *b,
				      const struct past_log *log)
{
	struct mentor_detector *copy = det_new(p, 4);
	struct mentor_error err = { 0 };

	for (int lv = MENTOR_LEVEL_OK; lv <= MENTOR_LEVEL_HIGH; lv++)
		assert_int_equal(mentor_detector_each_level_at(b, INT64_MAX, (enum mentor_level)lv, restore_latest, copy),
				 MENTOR_OK);
	for (size_t i = 0; i < log->n; i++) {
		const struct saved_past *e = &log->e[i];
		struct mentor_detect_row before = e->before;

		before.agent_id = e->agent;
		before.metric = e->metric;
		assert_int_equal(mentor_detector_restore_past(copy, e->agent, e->metric, e->decided_us,
							      e->had ? &before : NULL, &err),
				 MENTOR_OK);
	}
	return copy;
}

/*
 * Surveys and evaluations each decided behind their own watermark, one up
 * to three days ahead of the other, alternately: the same decisions,
 * triggers and priors as one advance; and at every boundary R, with both
 * sources at R or beyond, every key as of R is what a detector advanced to
 * exactly R decided (what a pairing round at R reads), before and after the
 * past kept for it goes through take_past and restore_past.
 */
static void test_sources_apart(void **state)
{
	struct gobs *o = malloc(OI_CAP * sizeof(*o));
	struct mentor_stats_params p;
	struct mentor_detector *a, *b, *c;
	struct rec ra, rb, rc;
	struct past_log log = { 0 };
	uint64_t s = 99;
	size_t n;
	int64_t first = INT64_MAX;

	(void)state;
	assert_non_null(o);
	rec_init(&ra);
	rec_init(&rb);
	rec_init(&rc);
	gen_params(&p);
	n = gen(o, OI_CAP, OI_DAYS, 25, 11);
	a = det_new(&p, 4);
	b = det_new(&p, 4);
	c = det_new(&p, 4);
	gen_roster(a, false);
	gen_roster(b, false);
	gen_roster(c, false);
	for (size_t i = 0; i < n; i++) {
		feed_one(a, &o[i]);
		feed_one(b, &o[i]);
		feed_one(c, &o[i]);
		first = o[i].d < first ? o[i].d : first;
	}
	adv(a, MENTOR_DETECT_ALL, &ra);
	for (int step = 1; step <= OI_DAYS + 2; step++) {
		int64_t r = first + (int64_t)step * MENTOR_US_PER_DAY - (int64_t)(splitmix64(&s) % (12 * 60)) * MINUTE;
		int64_t lead = (int64_t)(splitmix64(&s) % (3 * 24 * 60)) * MINUTE;
		struct mentor_detector *copy;

		mentor_detector_keep_past(b, r);
		forget_past(&log, r);
		if (step % 2)
			adv_each(b, r, r + lead, &rb);
		else
			adv_each(b, r + lead, r, &rb);
		adv(c, r, &rc);
		assert_as_of(b, r, c);
		/* The past kept for R, written out and read back with b's latest decisions: the same answers. */
		assert_int_equal(mentor_detector_take_past(b, save_past, &log), MENTOR_OK);
		copy = reload(&p, b, &log);
		mentor_detector_keep_past(copy, r);
		assert_as_of(copy, r, c);
		mentor_detector_free(copy);
	}
	adv(b, MENTOR_DETECT_ALL, &rb);
	assert_int_equal(mentor_detector_waiting(b), 0);
	assert_same_keys(a, b);
	assert_same_outcome(&ra, &rb);
	/* Not vacuous: one source was decided beyond R with keys changed, whose states R needed. */
	printf("sources apart: %zu observations, %zu triggers, %zu past states kept\n", n, ra.nt, log.taken);
	assert_true(log.taken > 10);
	assert_true(ra.nt >= 3);
	free(log.e);
	rec_clear(&ra);
	rec_clear(&rb);
	rec_clear(&rc);
	mentor_detector_free(a);
	mentor_detector_free(b);
	mentor_detector_free(c);
	free(o);
}

/* ---- Restore ---- */

#define RS_DAYS 15
#define RS_CAP (RS_DAYS * G_AGENTS * 4 * G_METRICS + 64)

/*
 * "drop" (not on the roster) scores 0.3 in empathy three times a day from
 * DAY0 + 7: below in week 2 only, 1 of 3 weeks, so ok; its next below, on
 * the Monday of week 3 after the restart, makes 2 of 3 (0b11) and fires only
 * if the weekly history survived the restart.
 */
static size_t add_drop(struct gobs *o, size_t n, size_t cap)
{
	for (int d = 7; d < RS_DAYS; d++)
		for (int i = 0; i < 3; i++) {
			assert_true(n < cap);
			snprintf(o[n].agent, sizeof(o[n].agent), "drop");
			o[n].metric = "empathy";
			snprintf(o[n].ev, sizeof(o[n].ev), "drop-%02d-%d", d, i);
			o[n].t = o[n].d = at(DAY0 + d, (8 + i) * HOUR);
			o[n].v = 300000;
			n++;
		}
	return n;
}

static void test_restore(void **state)
{
	struct gobs *o = malloc(RS_CAP * sizeof(*o));
	/* Monday of week 3, 06:00: mid-day, after some of the day's observations. */
	int64_t bday = DAY0 + 14, boundary = at(bday, 6 * HOUR);
	struct mentor_stats_params p;
	struct mentor_detector *full, *old, *restored;
	struct rec rf, ro, rr;
	struct got gf, go, gr;
	struct mentor_error err = { 0 };
	size_t n, before = 0, lows_restored = 0, priors_of_bday = 0;
	struct one x, y;
	char id[16];

	(void)state;
	assert_non_null(o);
	rec_init(&rf);
	rec_init(&ro);
	rec_init(&rr);
	got_init(&gf);
	got_init(&go);
	got_init(&gr);
	gen_params(&p);
	p.status.persist_x = 2;  /* the weekly history crosses the restart */
	p.status.persist_y = 3;
	n = gen(o, RS_CAP, RS_DAYS, 0, 11);
	n = add_drop(o, n, RS_CAP);

	/* The uninterrupted run. */
	full = det_new(&p, 4);
	gen_roster(full, false);
	for (size_t i = 0; i < n; i++)
		feed_one(full, &o[i]);
	adv(full, boundary, &rf);
	take(full, &gf);
	rec_clear(&rf);
	assert_int_equal(key_numbers(full, "drop", "empathy").why, MENTOR_WHY_NOT_PERSISTENT);

	/* The run that stops at the boundary: its state is what PostgreSQL would hold. */
	old = det_new(&p, 4);
	gen_roster(old, false);
	for (size_t i = 0; i < n; i++)
		if (o[i].t < boundary) {
			feed_one(old, &o[i]);
			before++;
		}
	adv(old, boundary, &ro);
	assert_true(before > 0 && before < n);

	/*
	 * The restart: roster, the days the next priors and windows read
	 * (bday - 4 .. bday: the prior of bday reads bday-4..bday-1, the window
	 * of bday reads bday-3..bday), statuses, priors, event time.
	 */
	restored = det_new(&p, 4);
	gen_roster(restored, true);
	for (int a = G_AGENTS; a >= 0; a--) {
		if (a == G_AGENTS)
			snprintf(id, sizeof(id), "drop");
		else
			snprintf(id, sizeof(id), "agent-%02d", a);
		for (int m = 0; m < G_METRICS; m++)
			for (int64_t d = bday; d >= bday - 4; d--) {
				int64_t dn, dsum, dsumsq;

				mentor_detector_day_sums(old, id, g_metrics[m], d, d + 1, &dn, &dsum, &dsumsq);
				if (dn > 0)
					assert_int_equal(mentor_detector_restore_day(restored, id, g_metrics[m], d, dn,
										     dsum, dsumsq, &err), MENTOR_OK);
			}
	}
	take(old, &go);
	assert_int_equal(go.n, G_AGENTS * G_METRICS + 1);
	for (size_t i = 0; i < go.n; i++) {
		assert_int_equal(mentor_detector_restore_status(restored, &go.r[i], &err), MENTOR_OK);
		lows_restored += go.r[i].level == MENTOR_LEVEL_LOW;
	}
	for (size_t i = 0; i < ro.np; i++) {
		assert_int_equal(mentor_detector_restore_prior(restored, ro.p[i].metric, ro.p[i].day, &ro.p[i].pop,
							       &err), MENTOR_OK);
		priors_of_bday += ro.p[i].day == bday;
	}
	mentor_detector_restore_event_time(restored, mentor_detector_event_time(old));
	assert_int_equal(mentor_detector_event_time(restored), mentor_detector_event_time(old));

	for (size_t i = 0; i < n; i++)
		if (o[i].t >= boundary)
			feed_one(restored, &o[i]);
	adv(restored, MENTOR_DETECT_ALL, &rr);
	adv(full, MENTOR_DETECT_ALL, &rf);
	take(full, &gf);
	take(restored, &gr);
	assert_true(gf.n > 0);
	assert_same_rows(&gf, &gr);
	assert_same_keys(full, restored);
	key_row(full, "drop", "empathy", &x);
	key_row(restored, "drop", "empathy", &y);
	assert_same_row(&x.r, &y.r);
	assert_same_triggers(&rf, &rr);
	assert_same_priors(&rf, &rr);
	/* A prior computed before the restart is restored, not computed again. */
	for (size_t i = 0; i < rr.np; i++)
		if (rr.p[i].day == bday)
			for (size_t j = 0; j < ro.np; j++)
				assert_false(ro.p[j].day == bday && strcmp(ro.p[j].metric, rr.p[i].metric) == 0);
	assert_int_equal(mentor_detector_event_time(full), mentor_detector_event_time(restored));

	/* drop: low on its first observation after the restart (0b11 in week 3). */
	assert_int_equal(y.r.level, MENTOR_LEVEL_LOW);
	assert_int_equal(y.r.weekly_low, 3);
	assert_int_equal(y.r.since_us, at(bday, 8 * HOUR));
	printf("restore: %zu observations before the restart, %zu lows and %zu priors of the day restored, "
	       "%zu triggers after\n", before, lows_restored, priors_of_bday, rf.nt);
	assert_true(lows_restored >= 1);  /* the low agents 0, 5, 10 went low in week 2 */
	assert_true(priors_of_bday >= 1);
	assert_true(rf.nt >= 1);

	got_clear(&gf);
	got_clear(&go);
	got_clear(&gr);
	rec_clear(&rf);
	rec_clear(&ro);
	rec_clear(&rr);
	mentor_detector_free(full);
	mentor_detector_free(old);
	mentor_detector_free(restored);
	free(o);
}

/* A restored prior is used as it is; a restored low keeps its since and does not fire again. */
static void test_restore_pieces(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det;
	struct mentor_population pop = {
		.n_agents = 3, .n_obs = 30, .mean = 0.5, .sigma2_within = 0.01,
		.tau2_between = NAN, .k = 2.0, .k_estimated = false,
	};
	struct mentor_detect_row low = {
		.agent_id = "a", .metric = "m", .n = 5, .mean = 0.3, .shrunk = 0.35, .ci_low = 0.3,
		.ci_high = 0.4, .pop_mean = 0.5, .k = 2.0, .level = MENTOR_LEVEL_LOW,
		.why = MENTOR_WHY_BELOW_THRESHOLD, .since_us = at(DAY0 - 3, HOUR),
		.updated_us = at(DAY0 - 1, HOUR), .week = 0, .weekly_low = 1,
	};
	struct mentor_error err = { 0 };
	struct rec r;
	struct one o;

	(void)state;
	rec_init(&r);
	base_params(&p, 2, 10.0);
	p.status.min_n = 1;
	det = det_new(&p, 2);
	low.week = mentor_detector_week_of(DAY0 - 1);
	/* Days that would make a prior of mean 0.9 for DAY0 if it were recomputed. */
	assert_int_equal(mentor_detector_restore_day(det, "b", "m", DAY0 - 1, 2, 1800000,
						     INT64_C(1620000000000), &err), MENTOR_OK);
	assert_int_equal(mentor_detector_restore_day(det, "a", "m", DAY0 - 1, 1, 900000,
						     INT64_C(810000000000), &err), MENTOR_OK);
	assert_int_equal(mentor_detector_restore_prior(det, "m", DAY0, &pop, &err), MENTOR_OK);
	/* An older prior restored afterwards does not replace the newer one. */
	pop.mean = 0.1;
	assert_int_equal(mentor_detector_restore_prior(det, "m", DAY0 - 1, &pop, &err), MENTOR_OK);
	pop.mean = 0.5;
	assert_int_equal(mentor_detector_restore_status(det, &low, &err), MENTOR_OK);
	assert_int_equal(mentor_detector_level_at(det, "a", "m", INT64_MAX), MENTOR_LEVEL_LOW);

	/*
	 * a on DAY0 with 0.3: window DAY0-1..DAY0 holds the restored 0.9 and 0.3,
	 * n 2, sum 1.2; with the restored prior (0.5, k 2):
	 * (1.2 + 2 * 0.5) / (2 + 2) = 0.55 < 0.6: still low, no trigger, since kept.
	 * (A recomputed prior: mean (1.8 + 0.9) / 3 = 0.9, k 10: 10.2 / 12 = 0.85.)
	 */
	obs(det, "a", "m", "e1", at(DAY0, HOUR), 300000);
	adv(det, MENTOR_DETECT_ALL, &r);
	assert_int_equal(r.np, 0);
	key_row(det, "a", "m", &o);
	assert_int_equal(o.r.n, 2);
	assert_near(o.r.shrunk, 0.55, TOL);
	assert_near(o.r.pop_mean, 0.5, 0.0);
	assert_near(o.r.k, 2.0, 0.0);
	assert_int_equal(o.r.level, MENTOR_LEVEL_LOW);
	assert_int_equal(o.r.since_us, at(DAY0 - 3, HOUR));
	assert_int_equal(r.nt, 0);
	/* The week of DAY0 follows the restored week of DAY0 - 1: 0b11. */
	assert_int_equal(o.r.weekly_low, 3);

	/*
	 * DAY0 + 1: its prior is computed from days DAY0-1 and DAY0, restored
	 * and live alike: a 0.9, 0.3; b 0.9, 0.9: mean 3.0 / 4 = 0.75.
	 */
	obs(det, "b", "m", "e2", at(DAY0 + 1, HOUR), 900000);
	adv(det, MENTOR_DETECT_ALL, &r);
	assert_int_equal(r.np, 1);
	assert_int_equal(r.p[0].day, DAY0 + 1);
	assert_int_equal(r.p[0].pop.n_obs, 4);
	assert_near(r.p[0].pop.mean, 0.75, TOL);

	/* Out of range. */
	assert_int_equal(mentor_detector_restore_day(det, "a", "m", DAY0, 0, 0, 0, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_restore_day(det, "a", "m", DAY0, 1, -1, 0, &err), MENTOR_ERR_INVALID);
	low.level = (enum mentor_level)7;
	assert_int_equal(mentor_detector_restore_status(det, &low, &err), MENTOR_ERR_INVALID);

	rec_clear(&r);
	mentor_detector_free(det);
}

/* ---- day_sums ---- */

static void test_day_sums(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det;
	struct mentor_error err = { 0 };
	int64_t n, sum, sumsq;
	struct rec r;

	(void)state;
	rec_init(&r);
	base_params(&p, 2, 1.0);
	det = det_new(&p, 3);  /* keeps the 3 newest days of a key */
	obs(det, "a", "m", "e1", at(DAY0, HOUR), 250000);
	obs(det, "a", "m", "e2", at(DAY0, 2 * HOUR), 500000);
	obs(det, "a", "m", "e3", at(DAY0, 3 * HOUR), 750000);  /* waits */
	adv(det, at(DAY0, 3 * HOUR), &r);
	/* Evaluated only: 0.25 + 0.5; squares 0.0625e12 + 0.25e12. */
	mentor_detector_day_sums(det, "a", "m", DAY0, DAY0 + 1, &n, &sum, &sumsq);
	assert_int_equal(n, 2);
	assert_int_equal(sum, 750000);
	assert_int_equal(sumsq, INT64_C(312500000000));
	/* Empty ranges and unknown keys: zeros. */
	mentor_detector_day_sums(det, "a", "m", DAY0 + 1, DAY0 + 5, &n, &sum, &sumsq);
	assert_int_equal(n, 0);
	assert_int_equal(sum, 0);
	mentor_detector_day_sums(det, "nobody", "m", DAY0, DAY0 + 1, &n, &sum, &sumsq);
	assert_int_equal(n, 0);
	assert_int_equal(sumsq, 0);
	mentor_detector_day_sums(det, "a", "other", DAY0, DAY0 + 1, &n, &sum, &sumsq);
	assert_int_equal(n, 0);
	adv(det, MENTOR_DETECT_ALL, &r);
	mentor_detector_day_sums(det, "a", "m", DAY0, DAY0 + 1, &n, &sum, &sumsq);
	assert_int_equal(n, 3);
	assert_int_equal(sum, 1500000);
	/* 0.0625 + 0.25 + 0.5625 = 0.875 (1e12) */
	assert_int_equal(sumsq, INT64_C(875000000000));

	/* Restored days add to live ones. */
	assert_int_equal(mentor_detector_restore_day(det, "a", "m", DAY0 + 1, 4, 2000000, INT64_C(1000000000000),
						     &err), MENTOR_OK);
	mentor_detector_day_sums(det, "a", "m", DAY0, DAY0 + 2, &n, &sum, &sumsq);
	assert_int_equal(n, 7);
	assert_int_equal(sum, 3500000);
	assert_int_equal(sumsq, INT64_C(1875000000000));

	/* keep_days 3: an observation on DAY0 + 3 keeps DAY0+1..DAY0+3 and forgets DAY0. */
	obs(det, "a", "m", "e4", at(DAY0 + 3, HOUR), 1000000);
	adv(det, MENTOR_DETECT_ALL, &r);
	mentor_detector_day_sums(det, "a", "m", DAY0, DAY0 + 1, &n, &sum, &sumsq);
	assert_int_equal(n, 0);
	mentor_detector_day_sums(det, "a", "m", DAY0, DAY0 + 4, &n, &sum, &sumsq);
	assert_int_equal(n, 5);
	assert_int_equal(sum, 3000000);

	rec_clear(&r);
	mentor_detector_free(det);
}

/* ---- Errors ---- */

static void test_invalid_and_sink_error(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det = NULL;
	struct mentor_error err = { 0 };
	struct mentor_detect_sink sink;
	char longid[MENTOR_ID_MAX + 1];
	struct rec r;

	(void)state;
	rec_init(&r);
	base_params(&p, 3, 1.0);
	assert_int_equal(mentor_detector_new(&p, NULL, 0, 2, &det, &err), MENTOR_ERR_INVALID);  /* keep_days < window */
	p.shrink.window_days = 0;
	assert_int_equal(mentor_detector_new(&p, NULL, 0, 2, &det, &err), MENTOR_ERR_INVALID);
	base_params(&p, 1, 1.0);
	p.status.min_n = 1;
	det = det_new(&p, 1);
	memset(longid, 'x', MENTOR_ID_MAX);
	longid[MENTOR_ID_MAX] = '\0';
	assert_int_equal(mentor_detector_observe(det, "a", "m", MENTOR_EVENT_AQM, "e", 0, 0, -1, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_observe(det, "a", "m", MENTOR_EVENT_AQM, "e", 0, 0, 1000001, &err), MENTOR_ERR_INVALID);
	/* Decided before it happened. */
	assert_int_equal(mentor_detector_observe(det, "a", "m", MENTOR_EVENT_AQM, "e", 5, 4, 1, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_observe(det, "a", "m", MENTOR_EVENT_ROSTER, "e", 0, 0, 1, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_observe(det, "", "m", MENTOR_EVENT_AQM, "e", 0, 0, 1, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_observe(det, "a", NULL, MENTOR_EVENT_AQM, "e", 0, 0, 1, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_observe(det, "a", "m", MENTOR_EVENT_AQM, "", 0, 0, 1, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_observe(det, "a", longid, MENTOR_EVENT_AQM, "e", 0, 0, 1, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_set_agent(det, "", true, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_detector_waiting(det), 0);
	longid[MENTOR_ID_MAX - 1] = '\0';  /* the longest allowed */
	assert_int_equal(mentor_detector_observe(det, longid, "m", MENTOR_EVENT_AQM, "e", 0, 0, 1000000, &err), MENTOR_OK);
	assert_int_equal(mentor_detector_waiting(det), 1);

	/* A sink error stops the advance with its value. bg 0.8 the day before, k 1: a's 0 -> 0.4, low. */
	obs(det, "bg", "m", "bg", at(DAY0 - 1, HOUR), 800000);
	obs(det, "a", "m", "e1", at(DAY0, HOUR), 0);
	r.trigger_ret = MENTOR_ERR_DB;
	sink = (struct mentor_detect_sink){ on_trigger, NULL, NULL, &r };
	assert_int_equal(mentor_detector_advance(det, ALL_SOURCES, &sink, &err), MENTOR_ERR_DB);
	assert_int_equal(r.nt, 1);
	assert_string_equal(r.t[0].event, "e1");
	mentor_detector_free(det);

	/* NULL callbacks are fine: the same stream, decided all the same. */
	det = det_new(&p, 1);
	sink = (struct mentor_detect_sink){ NULL, NULL, NULL, NULL };
	obs(det, "bg", "m", "bg", at(DAY0 - 1, HOUR), 800000);
	obs(det, "a", "m", "e1", at(DAY0, HOUR), 0);
	assert_int_equal(mentor_detector_advance(det, ALL_SOURCES, &sink, &err), MENTOR_OK);
	assert_int_equal(mentor_detector_level_at(det, "a", "m", INT64_MAX), MENTOR_LEVEL_LOW);
	assert_int_equal(mentor_detector_take_changed(det, NULL, NULL), MENTOR_OK);
	/* The marks are forgotten even without fn. */
	assert_int_equal(mentor_detector_take_changed(det, collect_fail, NULL), MENTOR_OK);

	rec_clear(&r);
	mentor_detector_free(det);
	mentor_detector_free(NULL);
}

/*
 * take_changed() (and the other readers) on a detector that has decided
 * nothing yet: nothing to report, MENTOR_OK. Last in the list: under
 * UBSan a failure here aborts the whole run.
 */
static void test_take_changed_before_any(void **state)
{
	struct mentor_stats_params p;
	struct mentor_detector *det;
	struct got g;

	(void)state;
	got_init(&g);
	base_params(&p, 2, 1.0);
	det = det_new(&p, 2);
	assert_int_equal(mentor_detector_each_level_at(det, INT64_MAX, MENTOR_LEVEL_OK, collect, &g), MENTOR_OK);
	assert_int_equal(g.n, 0);
	assert_int_equal(mentor_detector_take_changed(det, collect, &g), MENTOR_OK);
	assert_int_equal(g.n, 0);
	/* Observed but not evaluated: still nothing changed. */
	obs(det, "a", "m", "e1", at(DAY0, HOUR), 500000);
	assert_int_equal(mentor_detector_take_changed(det, collect, &g), MENTOR_OK);
	assert_int_equal(g.n, 0);
	assert_int_equal(mentor_detector_level_at(det, "a", "m", INT64_MAX), MENTOR_LEVEL_OK);
	got_clear(&g);
	mentor_detector_free(det);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_days),
		cmocka_unit_test(test_status_window),
		cmocka_unit_test(test_shrink_known_prior),
		cmocka_unit_test(test_spec_shrink_examples),
		cmocka_unit_test(test_low_hysteresis_triggers),
		cmocka_unit_test(test_persistence),
		cmocka_unit_test(test_high),
		cmocka_unit_test(test_own_thresholds),
		cmocka_unit_test(test_own_thresholds_set_params),
		cmocka_unit_test(test_until_and_waiting),
		cmocka_unit_test(test_unobserve),
		cmocka_unit_test(test_tie_order),
		cmocka_unit_test(test_order_independence),
		cmocka_unit_test(test_order_independence_late),
		cmocka_unit_test(test_sources_apart),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_restore_pieces),
		cmocka_unit_test(test_day_sums),
		cmocka_unit_test(test_invalid_and_sink_error),
		cmocka_unit_test(test_take_changed_before_any),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
