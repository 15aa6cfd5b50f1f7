/*
 * Unit tests for lib/kpi.c: KPI windows held in memory (include/mentor/kpi.h).
 *
 * Windows and observations reach the set the way lib/analytics.c hands them
 * over: windows as an_open_windows opens them (mentor_stats_kpi_windows_day
 * around a start time, with the sums the detector already holds), and each
 * observation through the detector, which reports it once evaluated with its
 * UTC day, day of decision and key hash, passed on to mentor_kpi_observe_key
 * as on_evaluated does. Sums are integers in millionths, so they are compared exactly; the
 * expected values are worked out by hand in the comments. The one Welch
 * interval comes from SciPy 1.17.1 (the call is quoted beside it).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/hash.h"
#include "mentor/detect.h"
#include "mentor/events.h"
#include "mentor/kpi.h"
#include "test_util.h"

/* 2026-11-02, the SPEC example day; S, the start day of the pairings below, START their start time (14:05:11). */
#define S SPEC_DAY
#define START SPEC_TS_US
#define DAY MENTOR_US_PER_DAY

/* ---- The daemon's path: detector, then KPI set ---- */

struct feed {
	struct mentor_detector *det;
	struct mentor_kpi_set *set;
	unsigned events;           /* observations fed, for their event ids */
};

static void feed_new(struct feed *f)
{
	struct mentor_stats_params p;
	struct mentor_error err = { 0 };

	memset(f, 0, sizeof(*f));
	mentor_stats_params_init(&p);
	/* As an_keep_days: the longest window (28 days) and 2 more, so a window opened now reads its before days. */
	assert_int_equal(mentor_detector_new(&p, NULL, 0, 30, &f->det, &err), MENTOR_OK);
	assert_int_equal(mentor_kpi_set_new(&f->set, &err), MENTOR_OK);
	assert_non_null(f->det);
	assert_non_null(f->set);
}

static void feed_free(struct feed *f)
{
	mentor_detector_free(f->det);
	mentor_kpi_set_free(f->set);
}

/* The detector's evaluated callback, as lib/analytics.c's on_evaluated. */
static int to_kpi(void *ctx, const struct mentor_detect_obs *o)
{
	struct feed *f = ctx;

	mentor_kpi_observe_key(f->set, o->key_hash, o->agent_id, o->metric, o->day, mentor_stats_day_of(o->decide_us),
			       o->value_e6);
	return MENTOR_OK;
}

/* One observation (an event of its own) at t_us, decided at decide_us, evaluated at once. */
static void observe_decided(struct feed *f, const char *agent, const char *metric, int64_t t_us, int64_t decide_us,
			    int64_t value_e6)
{
	struct mentor_detect_sink sink = { .evaluated = to_kpi, .ctx = f };
	struct mentor_error err = { 0 };
	char event_id[32];

	snprintf(event_id, sizeof(event_id), "e%u", f->events++);
	assert_int_equal(mentor_detector_observe(f->det, agent, metric, MENTOR_EVENT_AQM, event_id, t_us, decide_us,
						 value_e6, &err),
			 MENTOR_OK);
	assert_int_equal(mentor_detector_advance(f->det, (int64_t[MENTOR_EVENT_KIND_COUNT]){ [MENTOR_EVENT_AQM] = MENTOR_DETECT_ALL },
						 &sink, &err),
			 MENTOR_OK);
	assert_int_equal(mentor_detector_waiting(f->det), 0);
}

/* One observation at t_us, decided at once. */
static void observe_at(struct feed *f, const char *agent, const char *metric, int64_t t_us, int64_t value_e6)
{
	observe_decided(f, agent, metric, t_us, t_us, value_e6);
}

/* One observation at noon of `day`. */
static void observe(struct feed *f, const char *agent, const char *metric, int64_t day, int64_t value_e6)
{
	observe_at(f, agent, metric, at(day, 12 * HOUR), value_e6);
}

/*
 * The window of (agent, metric) for an owner starting at start_us, its days
 * as an_open_windows makes them with no allowed lateness: it takes the
 * observations decided before its after window ends.
 */
static struct mentor_kpi_window win(const char *owner, bool comparison, const char *subject, const char *agent,
				    const char *metric, int64_t start_us, int washout_days)
{
	struct mentor_stats_params p;
	struct mentor_kpi_window w = {
		.owner_id = owner, .comparison = comparison, .subject = subject,
		.agent_id = agent, .metric = metric, .is_target = strcmp(metric, "empathy") == 0,
	};

	mentor_stats_params_init(&p);
	p.kpi.washout_days = washout_days;
	mentor_stats_kpi_windows_day(start_us, &p.kpi, &w.before, &w.after);
	w.decided_before_day = w.after.to_day;
	return w;
}

/* Opens a window as an_open_windows does: with what the detector already evaluated in its days. */
static void add(struct feed *f, struct mentor_kpi_window w)
{
	struct mentor_error err = { 0 };

	mentor_detector_day_sums(f->det, w.agent_id, w.metric, w.before.from_day, w.before.to_day, &w.b.n,
				 &w.b.sum_e6, &w.b.sumsq_e12);
	mentor_detector_day_sums(f->det, w.agent_id, w.metric, w.after.from_day, w.after.to_day, &w.a.n,
				 &w.a.sum_e6, &w.a.sumsq_e12);
	assert_int_equal(mentor_kpi_add(f->set, &w, &err), MENTOR_OK);
}

/* ---- Windows taken (the strings are the set's: copy them) ---- */

struct taken {
	struct mentor_kpi_window w;
	char owner[2 * MENTOR_ID_MAX], subject[MENTOR_ID_MAX], agent[MENTOR_ID_MAX], metric[MENTOR_ID_MAX];
};

struct got {
	struct taken *t;
	size_t n, cap;
	int fail;  /* returned by the callback, after recording, when not MENTOR_OK */
};

static void got_clear(struct got *g)
{
	free(g->t);
	memset(g, 0, sizeof(*g));
}

static int collect(void *ctx, const struct mentor_kpi_window *w)
{
	struct got *g = ctx;
	struct taken *x;

	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->t = realloc(g->t, g->cap * sizeof(*g->t));
		assert_non_null(g->t);
		/* The copies moved: point their strings at the new places. */
		for (size_t i = 0; i < g->n; i++) {
			g->t[i].w.owner_id = g->t[i].owner;
			g->t[i].w.subject = g->t[i].subject;
			g->t[i].w.agent_id = g->t[i].agent;
			g->t[i].w.metric = g->t[i].metric;
		}
	}
	x = &g->t[g->n++];
	x->w = *w;
	snprintf(x->owner, sizeof(x->owner), "%s", w->owner_id);
	snprintf(x->subject, sizeof(x->subject), "%s", w->subject);
	snprintf(x->agent, sizeof(x->agent), "%s", w->agent_id);
	snprintf(x->metric, sizeof(x->metric), "%s", w->metric);
	x->w.owner_id = x->owner;
	x->w.subject = x->subject;
	x->w.agent_id = x->agent;
	x->w.metric = x->metric;
	return g->fail;
}

/* take_changed() into g (cleared first). */
static void take(struct mentor_kpi_set *set, struct got *g)
{
	got_clear(g);
	assert_int_equal(mentor_kpi_take_changed(set, NULL, collect, g), MENTOR_OK);
}

/* The taken window of (owner, comparison, subject, metric), or NULL. */
static const struct mentor_kpi_window *find(const struct got *g, const char *owner, bool comparison,
					    const char *subject, const char *metric)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->t[i].owner, owner) == 0 && g->t[i].w.comparison == comparison &&
		    strcmp(g->t[i].subject, subject) == 0 && strcmp(g->t[i].metric, metric) == 0)
			return &g->t[i].w;
	return NULL;
}

static void assert_sums(const struct mentor_kpi_sums *s, int64_t n, int64_t sum_e6, int64_t sumsq_e12)
{
	assert_int_equal(s->n, n);
	assert_int_equal(s->sum_e6, sum_e6);
	assert_int_equal(s->sumsq_e12, sumsq_e12);
}

/* ---- Before, after, outside, washout ---- */

static void test_observe_sides(void **state)
{
	const struct mentor_kpi_window *w;
	struct got g = { 0 };
	struct feed f;

	(void)state;
	feed_new(&f);
	add(&f, win("p1", false, "mentee", "a", "empathy", START, 0));
	add(&f, win("p2", false, "mentee", "a", "empathy", START, 3));  /* washout: after from S + 3 */
	take(f.set, &g);  /* both new: changed */
	assert_int_equal(g.n, 2);
	/* A start at 14:05:11 on S: before S-28..S-1, after S..S+27, or S+3..S+27 after a 3-day washout. */
	w = find(&g, "p1", false, "mentee", "empathy");
	assert_non_null(w);
	assert_int_equal(w->before.from_day, S - 28);
	assert_int_equal(w->before.to_day, S);
	assert_int_equal(w->after.from_day, S);
	assert_int_equal(w->after.to_day, S + 28);
	w = find(&g, "p2", false, "mentee", "empathy");
	assert_non_null(w);
	assert_int_equal(w->before.from_day, S - 28);
	assert_int_equal(w->before.to_day, S);
	assert_int_equal(w->after.from_day, S + 3);
	assert_int_equal(w->after.to_day, S + 28);
	assert_sums(&g.t[0].w.b, 0, 0, 0);
	assert_sums(&g.t[0].w.a, 0, 0, 0);
	assert_false(g.t[0].w.final);
	assert_true(g.t[0].w.is_target);

	observe(&f, "a", "empathy", S - 29, 100000);  /* outside: before before */
	observe(&f, "a", "empathy", S - 28, 600000);  /* first day of before */
	observe(&f, "a", "empathy", S - 1, 700000);   /* last day of before */
	observe(&f, "a", "empathy", S, 800000);       /* first day of after; p2: washout */
	observe(&f, "a", "empathy", S + 2, 500000);   /* p2: last washout day */
	observe(&f, "a", "empathy", S + 3, 400000);   /* p2: first day of after */
	observe(&f, "a", "empathy", S + 27, 900000);  /* last day of after */
	observe(&f, "a", "empathy", S + 28, 200000);  /* outside: after after */
	observe(&f, "a", "csat", S, 0);               /* another metric */
	observe(&f, "b", "empathy", S, 0);            /* another agent */
	take(f.set, &g);
	assert_int_equal(g.n, 2);

	/* before (both): 0.6, 0.7: sum 1.3, squares 0.36 + 0.49 = 0.85. */
	w = find(&g, "p1", false, "mentee", "empathy");
	assert_non_null(w);
	assert_sums(&w->b, 2, 1300000, INT64_C(850000000000));
	/* p1 after: 0.8, 0.5, 0.4, 0.9: sum 2.6, squares 0.64 + 0.25 + 0.16 + 0.81 = 1.86. */
	assert_sums(&w->a, 4, 2600000, INT64_C(1860000000000));
	w = find(&g, "p2", false, "mentee", "empathy");
	assert_non_null(w);
	assert_sums(&w->b, 2, 1300000, INT64_C(850000000000));
	/* p2 after: 0.4, 0.9 only: sum 1.3, squares 0.16 + 0.81 = 0.97. */
	assert_sums(&w->a, 2, 1300000, INT64_C(970000000000));

	/* Observations that fall in no window change nothing. */
	observe(&f, "a", "empathy", S + 1, 500000);  /* p1 only */
	observe(&f, "a", "empathy", S - 40, 500000);
	observe(&f, "zz", "zz", S, 500000);
	take(f.set, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].owner, "p1");
	assert_sums(&g.t[0].w.a, 5, 3100000, INT64_C(2110000000000));

	got_clear(&g);
	feed_free(&f);
}

/*
 * The same windows to the microsecond. An observation counts by its UTC day
 * (the detector's), so every edge is at a midnight: the start's day is after
 * from its first microsecond, earlier than the start included, and the
 * instants start - 28 d and start + 28 d count by their days, in before and
 * outside. Each observation has its own value, so the sums say which counted.
 */
static void test_observe_instants(void **state)
{
	const struct {
		int64_t t_us;
		char plain, washout;  /* where it counts, without and with a 3-day washout: 'b', 'a' or 0 (nowhere) */
	} cases[] = {
		{ at(S - 28, 0) - 1, 0, 0 },          /* the last microsecond of S - 29 */
		{ at(S - 28, 0), 'b', 'b' },          /* the first of before */
		{ START - 28 * DAY - 1, 'b', 'b' },
		{ START - 28 * DAY, 'b', 'b' },
		{ at(S, 0) - 1, 'b', 'b' },           /* the last of before */
		{ at(S, 0), 'a', 0 },                 /* the first of after; in the washout */
		{ START - 1, 'a', 0 },
		{ START, 'a', 0 },
		{ START + DAY, 'a', 0 },
		{ at(S + 3, 0) - 1, 'a', 0 },         /* the last of the washout */
		{ at(S + 3, 0), 'a', 'a' },           /* the first after the washout */
		{ START + 3 * DAY - 1, 'a', 'a' },
		{ START + 3 * DAY, 'a', 'a' },
		{ at(S + 28, 0) - 1, 'a', 'a' },      /* the last of after */
		{ at(S + 28, 0), 0, 0 },
		{ START + 28 * DAY - 1, 0, 0 },
		{ START + 28 * DAY, 0, 0 },
	};
	static const char *const owners[2] = { "plain", "washout" };
	struct mentor_kpi_sums want[2][2] = { 0 };  /* [owner][0 before, 1 after] */
	struct got g = { 0 };
	struct feed f;

	(void)state;
	feed_new(&f);
	add(&f, win(owners[0], false, "mentee", "a", "empathy", START, 0));
	add(&f, win(owners[1], false, "mentee", "a", "empathy", START, 3));
	take(f.set, &g);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = (int64_t)(i + 1) * 10000;
		size_t changed = 0;

		observe_at(&f, "a", "empathy", cases[i].t_us, v);
		for (int o = 0; o < 2; o++) {
			char side = o == 0 ? cases[i].plain : cases[i].washout;
			struct mentor_kpi_sums *s;

			if (!side)
				continue;
			s = &want[o][side == 'a'];
			s->n++;
			s->sum_e6 += v;
			s->sumsq_e12 += v * v;
			changed++;
		}
		take(f.set, &g);
		if (g.n != changed)
			fail_msg("case %zu: %zu windows changed, expected %zu", i, g.n, changed);
		for (int o = 0; o < 2; o++) {
			const struct mentor_kpi_window *w = find(&g, owners[o], false, "mentee", "empathy");

			if (!w)
				continue;
			assert_sums(&w->b, want[o][0].n, want[o][0].sum_e6, want[o][0].sumsq_e12);
			assert_sums(&w->a, want[o][1].n, want[o][1].sum_e6, want[o][1].sumsq_e12);
		}
	}
	/* Not vacuous: both sides of both windows took observations. */
	assert_int_equal(want[0][0].n, 4);
	assert_int_equal(want[0][1].n, 9);
	assert_int_equal(want[1][0].n, 4);
	assert_int_equal(want[1][1].n, 4);

	got_clear(&g);
	feed_free(&f);
}

/*
 * Observations by day, two on S - 1, summed by window: the start day S
 * belongs to after, S - 28 to before, S + 28 and S - 29 to neither; S + 2 is
 * after but in a 3-day washout. A start at midnight has the windows of its
 * day, one a microsecond earlier those of the day before.
 */
static void test_sums_by_day(void **state)
{
	static const struct {
		int64_t day, v;
	} obs[] = {
		{ S + 28, 900000 },  /* neither */
		{ S - 29, 100000 },  /* neither */
		{ S, 500000 },       /* after */
		{ S - 28, 200000 },  /* before */
		{ S - 1, 200000 },   /* before */
		{ S - 1, 400000 },   /* before, the same day again */
		{ S + 27, 700000 },  /* after */
		{ S + 2, 300000 },   /* after, but in a 3-day washout */
	};
	const struct mentor_kpi_window *w;
	struct got g = { 0 };
	struct feed f;

	(void)state;
	feed_new(&f);
	add(&f, win("plain", false, "mentee", "a", "empathy", START, 0));
	add(&f, win("washout", false, "mentee", "a", "empathy", START, 3));
	add(&f, win("midnight", false, "mentee", "a", "empathy", at(S, 0), 0));
	add(&f, win("earlier", false, "mentee", "a", "empathy", at(S, 0) - 1, 0));
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		observe(&f, "a", "empathy", obs[i].day, obs[i].v);
	take(f.set, &g);
	assert_int_equal(g.n, 4);

	/*
	 * before 0.2, 0.2, 0.4: sum 0.8, squares 0.04 + 0.04 + 0.16 = 0.24;
	 * after 0.5, 0.7, 0.3: sum 1.5, squares 0.25 + 0.49 + 0.09 = 0.83.
	 */
	w = find(&g, "plain", false, "mentee", "empathy");
	assert_sums(&w->b, 3, 800000, INT64_C(240000000000));
	assert_sums(&w->a, 3, 1500000, INT64_C(830000000000));
	w = find(&g, "washout", false, "mentee", "empathy");
	assert_sums(&w->b, 3, 800000, INT64_C(240000000000));
	assert_sums(&w->a, 1, 700000, INT64_C(490000000000));
	w = find(&g, "midnight", false, "mentee", "empathy");
	assert_int_equal(w->before.to_day, S);
	assert_sums(&w->b, 3, 800000, INT64_C(240000000000));
	assert_sums(&w->a, 3, 1500000, INT64_C(830000000000));
	/* S-29..S-2 and S-1..S+26: before 0.1, 0.2; after 0.2, 0.4, 0.5, 0.3 (0.04 + 0.16 + 0.25 + 0.09 = 0.54). */
	w = find(&g, "earlier", false, "mentee", "empathy");
	assert_int_equal(w->before.to_day, S - 1);
	assert_sums(&w->b, 2, 300000, INT64_C(50000000000));
	assert_sums(&w->a, 4, 1400000, INT64_C(540000000000));

	got_clear(&g);
	feed_free(&f);
}

/*
 * A window opened after some of its days were evaluated (a trigger opens its
 * comparison windows once the observation that fired it is decided) starts
 * from the detector's sums of those days; later observations add to them.
 */
static void test_open_after_observed(void **state)
{
	struct got g = { 0 };
	struct feed f;

	(void)state;
	feed_new(&f);
	observe(&f, "b", "csat", S - 29, 100000);              /* outside */
	observe(&f, "b", "csat", S - 28, 200000);              /* first day of before */
	observe(&f, "b", "csat", S - 1, 300000);               /* last day of before */
	observe_at(&f, "b", "csat", at(S, 9 * HOUR), 400000);  /* the start's day, earlier: after */
	observe_at(&f, "b", "csat", START, 500000);            /* the observation that fired */
	observe(&f, "b", "empathy", S - 1, 900000);            /* another metric */
	observe(&f, "c", "csat", S - 1, 900000);               /* another agent */
	add(&f, win("t1", true, "mentee", "b", "csat", START, 0));
	take(f.set, &g);
	assert_int_equal(g.n, 1);
	/* before 0.2 + 0.3, squares 0.04 + 0.09; after 0.4 + 0.5, squares 0.16 + 0.25. */
	assert_sums(&g.t[0].w.b, 2, 500000, INT64_C(130000000000));
	assert_sums(&g.t[0].w.a, 2, 900000, INT64_C(410000000000));
	observe(&f, "b", "csat", S + 27, 600000);
	take(f.set, &g);
	assert_int_equal(g.n, 1);
	assert_sums(&g.t[0].w.a, 3, 1500000, INT64_C(770000000000));  /* + 0.36 */

	got_clear(&g);
	feed_free(&f);
}

/* ---- take_changed order, close, forgetting final windows ---- */

static void test_order_close_forget(void **state)
{
	struct feed f;
	struct got g = { 0 };
	static const struct {
		const char *owner, *subject, *metric;
		bool comparison;
	} expect[] = {
		/* (comparison, owner, subject, metric): pairings first; "p10" < "p2" in bytes; "mentee" < "mentor". */
		{ "p10", "mentee", "empathy", false },
		{ "p2", "mentee", "csat", false },
		{ "p2", "mentee", "empathy", false },
		{ "p2", "mentor", "empathy", false },
		{ "t1", "mentee", "empathy", true },
		{ "t9", "mentee", "empathy", true },
	};

	(void)state;
	feed_new(&f);
	/* Added in a scrambled order. Pairings start on S (after ends S + 28), triggers on S + 5 (S + 33). */
	add(&f, win("t9", true, "mentee", "a", "empathy", START + 5 * DAY, 0));
	add(&f, win("p2", false, "mentor", "m", "empathy", START, 0));
	add(&f, win("p2", false, "mentee", "a", "csat", START, 0));
	add(&f, win("t1", true, "mentee", "d", "empathy", START + 5 * DAY, 0));
	add(&f, win("p2", false, "mentee", "a", "empathy", START, 0));
	add(&f, win("p10", false, "mentee", "c", "empathy", START, 0));
	take(f.set, &g);
	assert_int_equal(g.n, 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(g.t[i].owner, expect[i].owner);
		assert_string_equal(g.t[i].subject, expect[i].subject);
		assert_string_equal(g.t[i].metric, expect[i].metric);
		assert_int_equal(g.t[i].w.comparison, expect[i].comparison);
	}
	assert_false(g.t[1].w.is_target);  /* p2's csat */
	take(f.set, &g);
	assert_int_equal(g.n, 0);  /* nothing changed since */

	/* a's empathy on S + 6: after of p2/mentee (S..S+27) and of t9 (S+5..S+32). */
	observe(&f, "a", "empathy", S + 6, 750000);
	/* A failing callback keeps the marks. */
	got_clear(&g);
	g.fail = MENTOR_ERR_DB;
	assert_int_equal(mentor_kpi_take_changed(f.set, NULL, collect, &g), MENTOR_ERR_DB);
	assert_int_equal(g.n, 1);  /* stopped at the first */
	take(f.set, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.t[0].owner, "p2");
	assert_string_equal(g.t[0].metric, "empathy");
	assert_string_equal(g.t[1].owner, "t9");
	assert_sums(&g.t[0].w.a, 1, 750000, INT64_C(562500000000));  /* 0.75^2 = 0.5625 */
	assert_sums(&g.t[1].w.a, 1, 750000, INT64_C(562500000000));

	/* Decided on S + 27: every window still takes observations decided then. */
	mentor_kpi_close(f.set, S + 27);
	take(f.set, &g);
	assert_int_equal(g.n, 0);
	/* S + 28: the four pairing windows are final, reported once and forgotten. */
	mentor_kpi_close(f.set, S + 28);
	/* A late observation of S + 27 decided on S + 28: the pairing windows do not take it, t9 does. */
	observe_decided(&f, "a", "empathy", at(S + 27, 12 * HOUR), at(S + 28, HOUR), 250000);
	take(f.set, &g);
	assert_int_equal(g.n, 5);
	for (size_t i = 0; i < 4; i++) {
		assert_false(g.t[i].w.comparison);
		assert_true(g.t[i].w.final);
	}
	assert_sums(&find(&g, "p2", false, "mentee", "empathy")->a, 1, 750000, INT64_C(562500000000));
	assert_string_equal(g.t[4].owner, "t9");
	assert_false(g.t[4].w.final);
	assert_sums(&g.t[4].w.a, 2, 1000000, INT64_C(625000000000));  /* 0.5625 + 0.0625 */
	/* Forgotten: not reported again, even when closed again or observed. */
	observe(&f, "a", "empathy", S + 26, 500000);
	mentor_kpi_close(f.set, S + 28);
	take(f.set, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].owner, "t9");
	assert_sums(&g.t[0].w.a, 3, 1500000, INT64_C(875000000000));  /* + 0.25 */

	mentor_kpi_close(f.set, S + 40);
	take(f.set, &g);
	assert_int_equal(g.n, 2);
	assert_true(g.t[0].w.final && g.t[1].w.final);
	take(f.set, &g);
	assert_int_equal(g.n, 0);
	assert_int_equal(mentor_kpi_take_changed(f.set, NULL, NULL, NULL), MENTOR_OK);

	got_clear(&g);
	feed_free(&f);
}

/* ---- The day of decision decides, not close ---- */

/*
 * A window whose after window ends on S + 28, with two days of allowed
 * lateness: it takes the observations of its days decided before X = S + 30
 * and refuses those decided on X or later, although nothing closes it (on a
 * set where only close decided, it would take them all). Observations reach
 * the set in any order once each source is evaluated behind its own
 * watermark, so they are handed straight to observe_key, forwards and
 * backwards, with close(X) called never, before the first, in the middle or
 * after the last: the window holds the same sums every time, and is final
 * when closed.
 */
static void test_decided_before_limit(void **state)
{
	const int64_t x = S + 30;
	static const struct {
		int64_t day, decide_day, v;
	} obs[] = {
		{ S + 27, S + 29, 100000 },  /* after, decided on X - 1: taken */
		{ S + 27, S + 30, 200000 },  /* after, decided on X: refused */
		{ S - 1, S + 29, 300000 },   /* before, decided on X - 1: taken */
		{ S - 1, S + 35, 400000 },   /* before, decided after X: refused */
		{ S + 28, S + 29, 500000 },  /* no day of the window */
		{ S, S, 600000 },            /* after, decided on its day: taken */
	};
	const size_t n_obs = sizeof(obs) / sizeof(obs[0]);
	const uint64_t h = mentor_hash_key("a", "empathy");

	(void)state;
	for (int backwards = 0; backwards < 2; backwards++)
		for (int close_at = -1; close_at <= (int)n_obs; close_at++) {  /* -1: never; else before obs[close_at] */
			struct mentor_kpi_set *set;
			struct mentor_kpi_window w = win("p1", false, "mentee", "a", "empathy", START, 0);
			struct mentor_error err = { 0 };
			struct got g = { 0 };

			w.decided_before_day = w.after.to_day + 2;
			assert_int_equal(w.decided_before_day, x);
			assert_int_equal(mentor_kpi_set_new(&set, &err), MENTOR_OK);
			assert_int_equal(mentor_kpi_add(set, &w, &err), MENTOR_OK);
			for (size_t k = 0; k <= n_obs; k++) {
				size_t i = backwards ? n_obs - 1 - k : k;

				if ((int)k == close_at)
					mentor_kpi_close(set, x);
				if (k < n_obs)
					mentor_kpi_observe_key(set, h, "a", "empathy", obs[i].day, obs[i].decide_day,
							       obs[i].v);
			}
			/* Decided on X - 1: the window still takes observations decided then, so it is not final. */
			mentor_kpi_close(set, x - 1);
			take(set, &g);
			assert_int_equal(g.n, 1);
			/* before 0.3 (0.09); after 0.1 + 0.6 = 0.7, squares 0.01 + 0.36 = 0.37. */
			assert_sums(&g.t[0].w.b, 1, 300000, INT64_C(90000000000));
			assert_sums(&g.t[0].w.a, 2, 700000, INT64_C(370000000000));
			assert_int_equal(g.t[0].w.final, close_at >= 0);
			got_clear(&g);
			mentor_kpi_set_free(set);
		}
}

/* ---- take_changed with a selection ---- */

/* Takes the final windows and those of owner "p2" (ctx is a struct got, as collect's). */
static bool final_or_p2(void *ctx, const struct mentor_kpi_window *w)
{
	(void)ctx;
	return w->final || strcmp(w->owner_id, "p2") == 0;
}

static void test_take_selected(void **state)
{
	struct feed f;
	struct got g = { 0 };

	(void)state;
	feed_new(&f);
	add(&f, win("p1", false, "mentee", "a", "empathy", START, 0));
	add(&f, win("p2", false, "mentee", "b", "empathy", START, 0));
	add(&f, win("t1", true, "mentee", "c", "empathy", START + 5 * DAY, 0));
	got_clear(&g);
	assert_int_equal(mentor_kpi_take_changed(f.set, final_or_p2, collect, &g), MENTOR_OK);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].owner, "p2");
	assert_false(g.t[0].w.written);
	/* The windows passed over keep their marks; p2's was cleared. */
	take(f.set, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.t[0].owner, "p1");
	assert_string_equal(g.t[1].owner, "t1");
	assert_false(g.t[0].w.written || g.t[1].w.written);

	/* Once final (after windows end S + 28 and S + 33), p1 is taken too, and forgotten; t1 is not final yet. */
	observe(&f, "c", "empathy", S + 6, 250000);
	mentor_kpi_close(f.set, S + 28);
	got_clear(&g);
	assert_int_equal(mentor_kpi_take_changed(f.set, final_or_p2, collect, &g), MENTOR_OK);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.t[0].owner, "p1");
	assert_string_equal(g.t[1].owner, "p2");
	/* Handed to fn before: a row holds them. */
	assert_true(g.t[0].w.written && g.t[1].w.written);
	take(f.set, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].owner, "t1");
	assert_sums(&g.t[0].w.a, 1, 250000, INT64_C(62500000000));

	/* Marks cleared without fn write nothing: the window is still unwritten. */
	add(&f, win("t2", true, "mentee", "d", "empathy", START + 5 * DAY, 0));
	assert_int_equal(mentor_kpi_take_changed(f.set, NULL, NULL, NULL), MENTOR_OK);
	observe(&f, "d", "empathy", S + 6, 250000);
	take(f.set, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].owner, "t2");
	assert_false(g.t[0].w.written);

	got_clear(&g);
	feed_free(&f);
}

/* ---- remove_owner ---- */

static void test_remove_owner(void **state)
{
	struct feed f;
	struct got g = { 0 };

	(void)state;
	feed_new(&f);
	add(&f, win("x1", true, "mentee", "a", "empathy", START, 0));   /* a comparison trigger x1 */
	add(&f, win("x1", true, "mentee", "a", "csat", START, 0));
	add(&f, win("x1", false, "mentee", "a", "empathy", START, 0));  /* a pairing with the same id string */
	add(&f, win("x2", true, "mentee", "a", "empathy", START, 0));
	take(f.set, &g);
	mentor_kpi_remove_owner(f.set, "x1", true);
	mentor_kpi_remove_owner(f.set, "x1", true);    /* again: nothing */
	mentor_kpi_remove_owner(f.set, "nobody", false);
	/* Left: x1's pairing window and x2's. */
	observe(&f, "a", "empathy", S - 1, 400000);
	observe(&f, "a", "csat", S - 1, 400000);
	take(f.set, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.t[0].owner, "x1");
	assert_false(g.t[0].w.comparison);
	assert_string_equal(g.t[1].owner, "x2");
	assert_sums(&g.t[0].w.b, 1, 400000, INT64_C(160000000000));
	/* A removed window is not reported even when it was changed before removal. */
	observe(&f, "a", "empathy", S - 2, 100000);
	mentor_kpi_remove_owner(f.set, "x2", true);
	take(f.set, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].owner, "x1");
	assert_sums(&g.t[0].w.b, 2, 500000, INT64_C(170000000000));  /* 0.16 + 0.01 */

	got_clear(&g);
	feed_free(&f);
}

/* ---- Many windows: growth, removal, reuse ---- */

static void test_many_windows(void **state)
{
	struct feed f;
	struct got g = { 0 };
	char owner[32], agent[32];

	(void)state;
	feed_new(&f);
	/* 512 pairings, one window each, agent ag-i, in a scrambled order (397 is prime to 512). */
	for (int k = 0; k < 512; k++) {
		int i = k * 397 % 512;

		snprintf(owner, sizeof(owner), "p%04d", i);
		snprintf(agent, sizeof(agent), "ag-%d", i);
		add(&f, win(owner, false, "mentee", agent, "empathy", START, 0));
	}
	take(f.set, &g);
	assert_int_equal(g.n, 512);
	/* Keep the multiples of 8 (64), remove the other 448; then 400 comparison windows for agents 0..399. */
	for (int i = 0; i < 512; i++)
		if (i % 8 != 0) {
			snprintf(owner, sizeof(owner), "p%04d", i);
			mentor_kpi_remove_owner(f.set, owner, false);
		}
	for (int i = 0; i < 400; i++) {
		snprintf(owner, sizeof(owner), "t%04d", i);
		snprintf(agent, sizeof(agent), "ag-%d", i);
		add(&f, win(owner, true, "mentee", agent, "empathy", START + DAY, 0));
	}
	take(f.set, &g);
	assert_int_equal(g.n, 400);
	/* Agent i scores i / 1000 on S + 2: in the after window of each of its windows. */
	for (int i = 0; i < 512; i++) {
		snprintf(agent, sizeof(agent), "ag-%d", i);
		observe(&f, agent, "empathy", S + 2, (int64_t)i * 1000);
	}
	take(f.set, &g);
	/* The 64 kept pairings and the 400 comparison windows. */
	assert_int_equal(g.n, 464);
	for (size_t k = 0; k < g.n; k++) {
		const struct mentor_kpi_window *w = &g.t[k].w;
		int i = atoi(w->agent_id + 3);

		assert_int_equal(atoi(w->owner_id + 1), i);
		assert_int_equal(w->owner_id[0], w->comparison ? 't' : 'p');
		if (!w->comparison)
			assert_int_equal(i % 8, 0);
		assert_sums(&w->a, 1, (int64_t)i * 1000, (int64_t)i * 1000 * i * 1000);
		if (k > 0)
			assert_true(g.t[k - 1].w.comparison < w->comparison ||
				    (g.t[k - 1].w.comparison == w->comparison &&
				     strcmp(g.t[k - 1].owner, g.t[k].owner) < 0));
	}
	assert_false(g.t[63].w.comparison);
	assert_true(g.t[64].w.comparison);

	got_clear(&g);
	feed_free(&f);
}

/* ---- Delta on the native scale ---- */

static void test_delta_native(void **state)
{
	struct feed f;
	struct mentor_scale csat = { 1.0, 5.0 };
	struct mentor_kpi_delta d;
	struct got g = { 0 };
	static const int64_t before[] = { 600000, 700000, 800000 };
	static const int64_t after[] = { 800000, 900000, 850000, 950000 };

	(void)state;
	feed_new(&f);
	add(&f, win("p1", false, "mentee", "a", "csat", START, 0));
	for (size_t i = 0; i < 3; i++)
		observe(&f, "a", "csat", S - 1 - (int64_t)i, before[i]);
	for (size_t i = 0; i < 4; i++)
		observe(&f, "a", "csat", S + (int64_t)i, after[i]);
	take(f.set, &g);
	assert_int_equal(g.n, 1);
	mentor_kpi_delta(&g.t[0].w, &csat, 0.95, &d);
	/*
	 * By hand, normalized:
	 *   before 0.6, 0.7, 0.8:        mean 0.7,   var 0.02 / 2 = 0.01
	 *   after  0.8, 0.9, 0.85, 0.95: mean 0.875, var 0.0125 / 3 = 0.0041667
	 *   delta  0.175; se^2 = 0.0041667 / 4 + 0.01 / 3 = 0.004375, se = 0.0661438
	 *   df = 0.004375^2 / (0.00104167^2 / 3 + 0.00333333^2 / 2) = 3.2347188
	 * Native (1 + 4 x): before 3.8, after 4.5, delta 4 * 0.175 = 0.7.
	 * Interval: scipy 1.17.1,
	 *   scipy.stats.ttest_ind([.8,.9,.85,.95], [.6,.7,.8], equal_var=False).confidence_interval(0.95)
	 *   = (-0.027116397746151183, 0.37711639774615147), df 3.2347188264058655
	 * (t = scipy.stats.t.ppf(0.975, 3.2347188264058655) = 3.055712710425898), times 4:
	 *   (-0.10846559098460473, 1.5084655909846059).
	 */
	assert_int_equal(d.before_n, 3);
	assert_int_equal(d.after_n, 4);
	assert_near(d.before_mean, 3.8, 1e-12);
	assert_near(d.after_mean, 4.5, 1e-12);
	assert_near(d.delta, 0.7, 1e-12);
	assert_true(d.has_ci);
	assert_near(d.df, 3.2347188264058655, 1e-9);
	assert_near(d.ci_low, -0.10846559098460473, 1e-8);
	assert_near(d.ci_high, 1.5084655909846059, 1e-8);

	/* One observation after: no interval (n < 2), the means and delta still there. */
	add(&f, win("p2", false, "mentee", "b", "csat", START, 0));
	observe(&f, "b", "csat", S - 1, 500000);
	observe(&f, "b", "csat", S - 2, 700000);
	observe(&f, "b", "csat", S + 1, 1000000);
	take(f.set, &g);
	assert_int_equal(g.n, 1);
	mentor_kpi_delta(&g.t[0].w, &csat, 0.95, &d);
	assert_near(d.before_mean, 1.0 + 4.0 * 0.6, 1e-12);  /* 3.4 */
	assert_near(d.after_mean, 5.0, 1e-12);
	assert_near(d.delta, 4.0 * 0.4, 1e-12);             /* 1.6 */
	assert_false(d.has_ci);
	assert_true(isnan(d.ci_low) && isnan(d.ci_high));

	/* Nothing before: before mean and delta NaN. */
	add(&f, win("p3", false, "mentee", "c", "csat", START, 0));
	observe(&f, "c", "csat", S, 250000);
	take(f.set, &g);
	mentor_kpi_delta(&g.t[0].w, &csat, 0.95, &d);
	assert_int_equal(d.before_n, 0);
	assert_true(isnan(d.before_mean));
	assert_near(d.after_mean, 2.0, 1e-12);  /* 1 + 4 * 0.25 */
	assert_true(isnan(d.delta));
	assert_false(d.has_ci);

	got_clear(&g);
	feed_free(&f);
}

/* ---- Strings ---- */

static void test_add_strings(void **state)
{
	struct feed f;
	struct mentor_error err = { 0 };
	struct mentor_kpi_window w;
	char owner[16], agent[16], big[2 * MENTOR_ID_MAX + 1];
	struct got g = { 0 };

	(void)state;
	feed_new(&f);
	snprintf(owner, sizeof(owner), "p1");
	snprintf(agent, sizeof(agent), "a");
	w = win(owner, false, "mentee", agent, "empathy", START, 0);
	assert_int_equal(mentor_kpi_add(f.set, &w, &err), MENTOR_OK);
	/* Copied: the caller's buffers may change. */
	snprintf(owner, sizeof(owner), "XX");
	snprintf(agent, sizeof(agent), "b");
	observe(&f, "a", "empathy", S, 300000);
	observe(&f, "b", "empathy", S, 900000);
	take(f.set, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].owner, "p1");
	assert_string_equal(g.t[0].agent, "a");
	assert_sums(&g.t[0].w.a, 1, 300000, INT64_C(90000000000));

	w = win("", false, "mentee", "a", "empathy", START, 0);
	assert_int_equal(mentor_kpi_add(f.set, &w, &err), MENTOR_ERR_INVALID);
	w = win("p", false, "mentee", "", "empathy", START, 0);
	assert_int_equal(mentor_kpi_add(f.set, &w, &err), MENTOR_ERR_INVALID);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	w = win(big, false, "mentee", "a", "empathy", START, 0);
	assert_int_equal(mentor_kpi_add(f.set, &w, &err), MENTOR_ERR_INVALID);
	/* None of them was added: a's next observation changes p1's window only. */
	observe(&f, "a", "empathy", S + 1, 300000);
	take(f.set, &g);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.t[0].owner, "p1");

	got_clear(&g);
	feed_free(&f);
	mentor_kpi_set_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observe_sides),
		cmocka_unit_test(test_observe_instants),
		cmocka_unit_test(test_sums_by_day),
		cmocka_unit_test(test_open_after_observed),
		cmocka_unit_test(test_order_close_forget),
		cmocka_unit_test(test_decided_before_limit),
		cmocka_unit_test(test_take_selected),
		cmocka_unit_test(test_remove_owner),
		cmocka_unit_test(test_many_windows),
		cmocka_unit_test(test_delta_native),
		cmocka_unit_test(test_add_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
