/*
 * Detection state machine: per (agent, metric) window aggregates and the
 * previous decision, run through lib/stats.c at each checkpoint.
 * See include/mentor/detect.h for the contract; comments here say why.
 */
#include "mentor/detect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "mentor/events.h"

/*
 * Fixed point: sums are kept in units of 1 / (2^8 3^4 5^4 7^2), so integer
 * addition makes them independent of the order and the split of the deltas
 * (see "Determinism" in the header). That unit divides every value and
 * square of the usual scales (k/4, k/6, k/9, k/10, k/100...), which are then
 * held exactly, as in agent_daily's numeric columns.
 */
#define FIX_ONE 635040000.0

/* since_day of a key that has never been decided. */
#define NO_DAY INT64_MIN

/* Tables are kept at most half full, so a probe is short. */
#define TAB_MIN_CAP 64

/*
 * One UTC day of one key, in fixed point: 24 bytes, as this array is nearly
 * all of the detector's memory (agents x metrics x window days).
 */
struct det_day {
	int32_t day;                /* UTC days since the epoch: +-5.8 million years */
	int32_t n;                  /* one agent's observations of one metric in a day */
	int64_t q_sum, q_sumsq;
};

struct det_series {
	uint32_t agent, metric;
	struct det_day *days;       /* sorted by day, unique days */
	uint32_t len, cap;
	enum mentor_level level;    /* the previous decision */
	int64_t since_day;
	int64_t week;               /* week of bit 0 of weekly_low; NO_DAY: none */
	uint64_t weekly_low;
};

struct det_agent {
	char *id;
	bool active;
};

struct det_metric {
	char *name;
	uint32_t *series;           /* indices into det->series, in agent_id order when sorted */
	size_t n_series, cap;
	bool sorted;
};

/* Open addressing over indices: a slot holds index + 1, 0 is empty. */
struct itab {
	uint32_t *slot;
	size_t cap;                 /* a power of two, or 0 */
	size_t used;
};

enum tab_kind { TAB_AGENT, TAB_METRIC, TAB_SERIES };

struct tab_key {
	const char *s;              /* TAB_AGENT, TAB_METRIC */
	uint32_t agent, metric;     /* TAB_SERIES */
};

struct mentor_detector {
	struct det_agent *agents;
	size_t n_agents, cap_agents;
	struct det_metric *metrics;
	size_t n_metrics, cap_metrics;
	struct det_series *series;
	size_t n_series, cap_series;
	struct itab tab[3];         /* by enum tab_kind */

	uint32_t *agent_rank;       /* rank of each agent in id order */
	size_t n_ranked;            /* agents when the ranks were computed */

	bool evaluated;             /* a checkpoint has succeeded */
	int64_t last_as_of;
	int64_t floor_day;          /* first day of its window: earlier days are dropped */
};

/* ---- Growing arrays ---- */

/* Makes room for one more element of *arr; false when out of memory. */
static bool grow(void **arr, size_t *cap, size_t len, size_t elem, size_t first)
{
	size_t ncap;
	void *p;

	if (len < *cap)
		return true;
	ncap = *cap ? *cap * 2 : first;
	if (ncap > SIZE_MAX / elem || ncap > UINT32_MAX)
		return false;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return false;
	*arr = p;
	*cap = ncap;
	return true;
}

/* ---- Hash tables ---- */

static uint64_t hash_str(const char *s)
{
	return mentor_hash_bytes(s, strlen(s));
}

/* splitmix64 finalizer: spreads two small indices over the whole word. */
static uint64_t hash_pair(uint32_t a, uint32_t b)
{
	uint64_t x = ((uint64_t)a << 32 | b) + UINT64_C(0x9e3779b97f4a7c15);

	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static uint64_t hash_of_key(enum tab_kind kind, const struct tab_key *k)
{
	return kind == TAB_SERIES ? hash_pair(k->agent, k->metric) : hash_str(k->s);
}

static uint64_t hash_of_index(const struct mentor_detector *det, enum tab_kind kind, uint32_t i)
{
	switch (kind) {
	case TAB_AGENT:
		return hash_str(det->agents[i].id);
	case TAB_METRIC:
		return hash_str(det->metrics[i].name);
	case TAB_SERIES:
		break;
	}
	return hash_pair(det->series[i].agent, det->series[i].metric);
}

static bool key_matches(const struct mentor_detector *det, enum tab_kind kind, uint32_t i,
			const struct tab_key *k)
{
	switch (kind) {
	case TAB_AGENT:
		return strcmp(det->agents[i].id, k->s) == 0;
	case TAB_METRIC:
		return strcmp(det->metrics[i].name, k->s) == 0;
	case TAB_SERIES:
		break;
	}
	return det->series[i].agent == k->agent && det->series[i].metric == k->metric;
}

/* The slot holding the key, or the empty slot where it would go. Needs cap > 0. */
static uint32_t *tab_probe(const struct mentor_detector *det, enum tab_kind kind,
			   const struct tab_key *k)
{
	const struct itab *t = &det->tab[kind];
	size_t mask = t->cap - 1, i = (size_t)hash_of_key(kind, k) & mask;

	while (t->slot[i] && !key_matches(det, kind, t->slot[i] - 1, k))
		i = (i + 1) & mask;
	return &t->slot[i];
}

/* Index of the key, or -1. */
static int64_t tab_find(const struct mentor_detector *det, enum tab_kind kind, const struct tab_key *k)
{
	uint32_t *slot;

	if (det->tab[kind].cap == 0)
		return -1;
	slot = tab_probe(det, kind, k);
	return *slot ? (int64_t)*slot - 1 : -1;
}

/* Makes room for one more entry, rehashing into a table twice the size. */
static bool tab_reserve(struct mentor_detector *det, enum tab_kind kind)
{
	struct itab *t = &det->tab[kind], old = *t;
	size_t ncap;

	if ((t->used + 1) * 2 <= t->cap)
		return true;
	ncap = t->cap ? t->cap * 2 : TAB_MIN_CAP;
	t->slot = calloc(ncap, sizeof(*t->slot));
	if (!t->slot) {
		*t = old;
		return false;
	}
	t->cap = ncap;
	for (size_t i = 0; i < old.cap; i++) {
		size_t j;

		if (!old.slot[i])
			continue;
		j = (size_t)hash_of_index(det, kind, old.slot[i] - 1) & (ncap - 1);
		while (t->slot[j])
			j = (j + 1) & (ncap - 1);
		t->slot[j] = old.slot[i];
	}
	free(old.slot);
	return true;
}

/* ---- Keys ---- */

static int check_name(const char *s, const char *what, struct mentor_error *err)
{
	size_t len;

	if (!s)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: NULL", what);
	len = strnlen(s, MENTOR_ID_MAX);
	if (len == 0 || len >= MENTOR_ID_MAX)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: must be 1 to %d bytes",
					what, MENTOR_ID_MAX - 1);
	return MENTOR_OK;
}

static int nomem(struct mentor_error *err, const char *what)
{
	return mentor_error_set(err, MENTOR_ERR_NOMEM, "detector: out of memory adding %s", what);
}

/* Index of an agent, created (inactive) on first sight. */
static int agent_get(struct mentor_detector *det, const char *id, uint32_t *ret,
		     struct mentor_error *err)
{
	struct tab_key k = { .s = id };
	struct det_agent *a;
	int64_t i;
	int r;

	if ((r = check_name(id, "agent id", err)) < 0)
		return r;
	if ((i = tab_find(det, TAB_AGENT, &k)) >= 0) {
		*ret = (uint32_t)i;
		return MENTOR_OK;
	}
	if (!grow((void **)&det->agents, &det->cap_agents, det->n_agents, sizeof(*det->agents), 256) ||
	    !tab_reserve(det, TAB_AGENT))
		return nomem(err, "an agent");
	a = &det->agents[det->n_agents];
	a->id = strdup(id);
	if (!a->id)
		return nomem(err, "an agent");
	a->active = false;
	*tab_probe(det, TAB_AGENT, &k) = (uint32_t)det->n_agents + 1;
	det->tab[TAB_AGENT].used++;
	*ret = (uint32_t)det->n_agents++;
	return MENTOR_OK;
}

static int metric_get(struct mentor_detector *det, const char *name, uint32_t *ret,
		      struct mentor_error *err)
{
	struct tab_key k = { .s = name };
	struct det_metric *m;
	int64_t i;
	int r;

	if ((r = check_name(name, "metric", err)) < 0)
		return r;
	if ((i = tab_find(det, TAB_METRIC, &k)) >= 0) {
		*ret = (uint32_t)i;
		return MENTOR_OK;
	}
	if (!grow((void **)&det->metrics, &det->cap_metrics, det->n_metrics, sizeof(*det->metrics), 16) ||
	    !tab_reserve(det, TAB_METRIC))
		return nomem(err, "a metric");
	m = &det->metrics[det->n_metrics];
	*m = (struct det_metric){ .name = strdup(name), .sorted = true };
	if (!m->name)
		return nomem(err, "a metric");
	*tab_probe(det, TAB_METRIC, &k) = (uint32_t)det->n_metrics + 1;
	det->tab[TAB_METRIC].used++;
	*ret = (uint32_t)det->n_metrics++;
	return MENTOR_OK;
}

/* The series of (agent, metric), created empty and ok on first sight. */
static int series_get(struct mentor_detector *det, const char *agent_id, const char *metric,
		      struct det_series **ret, struct mentor_error *err)
{
	struct tab_key k;
	struct det_metric *m;
	uint32_t a = 0, mi = 0;
	int64_t i;
	int r;

	if ((r = agent_get(det, agent_id, &a, err)) < 0)
		return r;
	if ((r = metric_get(det, metric, &mi, err)) < 0)
		return r;
	k = (struct tab_key){ .agent = a, .metric = mi };
	i = tab_find(det, TAB_SERIES, &k);
	if (i >= 0) {
		*ret = &det->series[i];
		return MENTOR_OK;
	}
	m = &det->metrics[mi];
	if (!grow((void **)&det->series, &det->cap_series, det->n_series, sizeof(*det->series), 1024) ||
	    !grow((void **)&m->series, &m->cap, m->n_series, sizeof(*m->series), 256) ||
	    !tab_reserve(det, TAB_SERIES))
		return nomem(err, "a key");
	det->series[det->n_series] = (struct det_series){
		.agent = a, .metric = mi, .level = MENTOR_LEVEL_OK,
		.since_day = NO_DAY, .week = NO_DAY,
	};
	m->series[m->n_series++] = (uint32_t)det->n_series;
	m->sorted = false;
	*tab_probe(det, TAB_SERIES, &k) = (uint32_t)det->n_series + 1;
	det->tab[TAB_SERIES].used++;
	*ret = &det->series[det->n_series++];
	return MENTOR_OK;
}

static const struct det_series *series_find(const struct mentor_detector *det,
					    const char *agent_id, const char *metric)
{
	struct tab_key k = { .s = agent_id };
	int64_t a, m, i;

	if (!agent_id || !metric)
		return NULL;
	if ((a = tab_find(det, TAB_AGENT, &k)) < 0)
		return NULL;
	k.s = metric;
	if ((m = tab_find(det, TAB_METRIC, &k)) < 0)
		return NULL;
	k = (struct tab_key){ .agent = (uint32_t)a, .metric = (uint32_t)m };
	i = tab_find(det, TAB_SERIES, &k);
	return i >= 0 ? &det->series[i] : NULL;
}

/* ---- Life cycle ---- */

int mentor_detector_new(struct mentor_detector **ret, struct mentor_error *err)
{
	struct mentor_detector *det = calloc(1, sizeof(*det));

	if (!det)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "detector: out of memory");
	*ret = det;
	return MENTOR_OK;
}

void mentor_detector_free(struct mentor_detector *det)
{
	if (!det)
		return;
	for (size_t i = 0; i < det->n_agents; i++)
		free(det->agents[i].id);
	for (size_t i = 0; i < det->n_metrics; i++) {
		free(det->metrics[i].name);
		free(det->metrics[i].series);
	}
	for (size_t i = 0; i < det->n_series; i++)
		free(det->series[i].days);
	for (size_t i = 0; i < 3; i++)
		free(det->tab[i].slot);
	free(det->agents);
	free(det->metrics);
	free(det->series);
	free(det->agent_rank);
	free(det);
}

/* ---- Inputs ---- */

/* x in fixed point; x is finite and in [0, MENTOR_DETECT_SUM_MAX], so it fits. */
static int64_t to_fix(double x)
{
	return llround(x * FIX_ONE);
}

static bool in_range(double x)
{
	return x >= 0.0 && x <= MENTOR_DETECT_SUM_MAX;  /* false for NaN */
}

/* The day's entry of s, inserted (empty) in day order if missing; NULL when out of memory. */
static struct det_day *day_slot(struct det_series *s, int64_t day)
{
	uint32_t i = s->len;
	size_t cap = s->cap;

	/* Days mostly arrive in order: look from the newest end. */
	while (i > 0 && s->days[i - 1].day > day)
		i--;
	if (i > 0 && s->days[i - 1].day == day)
		return &s->days[i - 1];
	if (!grow((void **)&s->days, &cap, s->len, sizeof(*s->days), 4))
		return NULL;
	s->cap = (uint32_t)cap;
	memmove(&s->days[i + 1], &s->days[i], (s->len - i) * sizeof(*s->days));
	s->days[i] = (struct det_day){ .day = (int32_t)day };
	s->len++;
	return &s->days[i];
}

int mentor_detector_add_daily(struct mentor_detector *det, const char *agent_id, const char *metric,
			      int64_t day, int64_t n, double sum, double sumsq,
			      struct mentor_error *err)
{
	struct det_series *s;
	struct det_day *d, next;
	int r;

	if (n < 1 || n > INT32_MAX || !in_range(sum) || !in_range(sumsq))
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"add_daily: n = %lld, sum = %g, sumsq = %g: need n in 1..%d and "
					"sums in 0..%g", (long long)n, sum, sumsq, INT32_MAX,
					MENTOR_DETECT_SUM_MAX);
	if (day < INT32_MIN || day > INT32_MAX)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "add_daily: day %lld is out of range",
					(long long)day);
	if ((r = series_get(det, agent_id, metric, &s, err)) < 0)
		return r;
	if (det->evaluated && day < det->floor_day)
		return MENTOR_OK;  /* before every window still to come */
	if (!(d = day_slot(s, day)))
		return nomem(err, "a day");
	next = *d;
	if (__builtin_add_overflow(next.n, (int32_t)n, &next.n) ||
	    __builtin_add_overflow(next.q_sum, to_fix(sum), &next.q_sum) ||
	    __builtin_add_overflow(next.q_sumsq, to_fix(sumsq), &next.q_sumsq))
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"add_daily: sums of %s / %s on day %lld overflow",
					agent_id, metric, (long long)day);
	*d = next;
	return MENTOR_OK;
}

int mentor_detector_set_agent(struct mentor_detector *det, const char *agent_id, bool active,
			      struct mentor_error *err)
{
	uint32_t a;
	int r;

	if ((r = agent_get(det, agent_id, &a, err)) < 0)
		return r;
	det->agents[a].active = active;
	return MENTOR_OK;
}

int mentor_detector_restore(struct mentor_detector *det, const char *agent_id, const char *metric,
			    enum mentor_level level, int64_t since_day, struct mentor_error *err)
{
	struct det_series *s;
	int r;

	if (level != MENTOR_LEVEL_OK && level != MENTOR_LEVEL_LOW && level != MENTOR_LEVEL_HIGH)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "restore: level %d is out of range",
					(int)level);
	if ((r = series_get(det, agent_id, metric, &s, err)) < 0)
		return r;
	s->level = level;
	s->since_day = since_day;
	return MENTOR_OK;
}

int mentor_detector_restore_weeks(struct mentor_detector *det, const char *agent_id,
				  const char *metric, int64_t week, uint64_t weekly_low,
				  struct mentor_error *err)
{
	struct det_series *s;
	int r;

	if ((r = series_get(det, agent_id, metric, &s, err)) < 0)
		return r;
	s->week = week;
	s->weekly_low = weekly_low;
	return MENTOR_OK;
}

size_t mentor_detector_days_held(const struct mentor_detector *det, const char *agent_id,
				 const char *metric)
{
	const struct det_series *s = series_find(det, agent_id, metric);

	return s ? s->len : 0;
}

int64_t mentor_detector_week_of(int64_t day)
{
	int64_t d = day + 3;  /* 1970-01-01 was a Thursday */

	return d >= 0 ? d / 7 : -((-d + 6) / 7);
}

/* ---- Ordering ---- */

struct id_ref {
	const char *id;
	uint32_t idx;
};

static int cmp_id_ref(const void *a, const void *b)
{
	return strcmp(((const struct id_ref *)a)->id, ((const struct id_ref *)b)->id);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Ranks agents by id; only when agents came since the last ranking. */
static bool rank_agents(struct mentor_detector *det)
{
	struct id_ref *refs;
	uint32_t *rank;

	if (det->n_ranked == det->n_agents)
		return true;
	refs = malloc(det->n_agents * sizeof(*refs));
	rank = malloc(det->n_agents * sizeof(*rank));
	if (!refs || !rank) {
		free(refs);
		free(rank);
		return false;
	}
	for (size_t i = 0; i < det->n_agents; i++)
		refs[i] = (struct id_ref){ .id = det->agents[i].id, .idx = (uint32_t)i };
	qsort(refs, det->n_agents, sizeof(*refs), cmp_id_ref);
	for (size_t i = 0; i < det->n_agents; i++)
		rank[refs[i].idx] = (uint32_t)i;
	free(refs);
	free(det->agent_rank);
	det->agent_rank = rank;
	det->n_ranked = det->n_agents;
	/* New agents may fall between old ones: every metric's order is stale. */
	for (size_t i = 0; i < det->n_metrics; i++)
		det->metrics[i].sorted = false;
	return true;
}

/* Puts a metric's series in agent id order, through (rank, series) pairs. */
static bool sort_metric(struct mentor_detector *det, struct det_metric *m)
{
	uint64_t *keys;

	if (m->sorted)
		return true;
	keys = malloc(m->n_series * sizeof(*keys) + 1);
	if (!keys)
		return false;
	for (size_t i = 0; i < m->n_series; i++)
		keys[i] = (uint64_t)det->agent_rank[det->series[m->series[i]].agent] << 32 | m->series[i];
	qsort(keys, m->n_series, sizeof(*keys), cmp_u64);
	for (size_t i = 0; i < m->n_series; i++)
		m->series[i] = (uint32_t)keys[i];
	free(keys);
	m->sorted = true;
	return true;
}

/* ---- Evaluation ---- */

/* The part of a decision that becomes the previous one. */
struct det_next {
	enum mentor_level level;
	int64_t since_day, week;
	uint64_t weekly_low;
};

/* What one checkpoint computes before anything is committed. */
struct eval {
	const struct mentor_stats_params *p;
	int64_t as_of, week;
	struct mentor_day_window win;
	struct mentor_sums *wsum;           /* per series: its window sums */
	struct mentor_population *pop;      /* per metric */
	struct mentor_daily *rows;          /* scratch for one series' days */
	bool *low_csat, *low_aqm;           /* per agent: this checkpoint's decisions */
	struct det_next *next;              /* per series: the decision, committed at the end */
	bool *decided;                      /* per series: next[] is set */
	struct id_ref *morder;              /* metrics in name order */
};

static bool is_due(const struct det_series *s, const struct mentor_sums *w)
{
	/* Low and high are claims that must be re-examined even without data. */
	return w->n > 0 || s->level != MENTOR_LEVEL_OK;
}

/* The persistence history shifted to `week`, with that week's own flag cleared. */
static uint64_t weeks_now(const struct det_series *s, int64_t week)
{
	int64_t shift;

	if (s->week == NO_DAY)
		return 0;
	shift = week - s->week;
	if (shift >= 64 || shift <= -64)
		return 0;
	return (shift >= 0 ? s->weekly_low << shift : s->weekly_low >> -shift) & ~UINT64_C(1);
}

/*
 * Decides one series into *row (strings left to the caller). The low rule
 * never looks at the CSAT/AQM flags, so the first pass may pass false.
 */
static void decide_series(const struct mentor_detector *det, const struct eval *ev, size_t si,
			  bool low_csat, bool low_aqm, struct mentor_detect_row *row)
{
	const struct det_series *s = &det->series[si];
	const struct mentor_population *pop = &ev->pop[s->metric];
	const struct mentor_status_rules *r = &ev->p->status;
	bool weekly[MENTOR_PERSIST_MAX];
	struct mentor_status_input in;
	struct mentor_status_decision d;
	struct mentor_shrunk sh;
	uint64_t mask;

	mentor_stats_shrink(&ev->wsum[si], pop, &ev->p->shrink, &sh);
	in = (struct mentor_status_input){
		.prev = s->level, .n = sh.n, .shrunk = sh.shrunk, .ci_low = sh.ci_low,
		.active = det->agents[s->agent].active,
		.low_in_csat = low_csat, .low_in_aqm = low_aqm,
	};
	/* below_now does not depend on the history, which must include it. */
	mentor_stats_decide(r, &in, &d);
	mask = weeks_now(s, ev->week) | (d.below_now ? 1 : 0);
	if (r->persist_x > 0) {
		for (int i = 0; i < r->persist_y; i++)
			weekly[i] = mask >> i & 1;
		in.weekly_low = weekly;
		in.n_weeks = (size_t)r->persist_y;
		mentor_stats_decide(r, &in, &d);
	}

	*row = (struct mentor_detect_row){
		.n = sh.n, .mean = sh.mean, .shrunk = sh.shrunk,
		.ci_low = sh.ci_low, .ci_high = sh.ci_high,
		.pop_mean = pop->mean, .k = pop->k, .k_estimated = pop->k_estimated,
		.prev = s->level, .level = d.level, .why = d.why,
		.since_day = (d.level == s->level && s->since_day != NO_DAY) ? s->since_day : ev->as_of,
		.below_now = d.below_now, .fired = d.entered_low,
		.week = ev->week, .weekly_low = mask,
	};
}

/* Window sums of every series, and each metric's population. */
static int window_and_population(const struct mentor_detector *det, struct eval *ev,
				 struct mentor_error *err)
{
	struct mentor_sums *agents;
	int r = MENTOR_OK;

	for (size_t si = 0; si < det->n_series; si++) {
		const struct det_series *s = &det->series[si];

		for (uint32_t i = 0; i < s->len; i++)
			ev->rows[i] = (struct mentor_daily){
				.day = s->days[i].day,
				.s = {
					.n = s->days[i].n,
					.sum = (double)s->days[i].q_sum / FIX_ONE,
					.sumsq = (double)s->days[i].q_sumsq / FIX_ONE,
				},
			};
		ev->wsum[si] = mentor_stats_window_sum(ev->rows, s->len, ev->win.from_day, ev->win.to_day);
	}
	/* Room for the largest metric: every series at most. */
	agents = malloc(det->n_series * sizeof(*agents) + 1);
	if (!agents)
		return nomem(err, "a population");
	for (size_t mi = 0; mi < det->n_metrics; mi++) {
		const struct det_metric *m = &det->metrics[mi];
		size_t n = 0;

		/* In agent order, so the population's sums are the same every run. */
		for (size_t i = 0; i < m->n_series; i++)
			if (ev->wsum[m->series[i]].n > 0)
				agents[n++] = ev->wsum[m->series[i]];
		if ((r = mentor_stats_population(agents, n, &ev->p->shrink, &ev->pop[mi], err)) < 0)
			break;
	}
	free(agents);
	return r;
}

/* First pass: which agents are low in CSAT or AQM at this checkpoint. */
static void overall_lows(const struct mentor_detector *det, struct eval *ev, const char *name,
			 bool *ret_low)
{
	struct tab_key k = { .s = name };
	int64_t mi = tab_find(det, TAB_METRIC, &k);
	const struct det_metric *m;

	if (mi < 0)
		return;
	m = &det->metrics[mi];
	for (size_t i = 0; i < m->n_series; i++) {
		size_t si = m->series[i];
		struct mentor_detect_row row;

		if (!is_due(&det->series[si], &ev->wsum[si]))
			continue;
		decide_series(det, ev, si, false, false, &row);
		ret_low[det->series[si].agent] = row.level == MENTOR_LEVEL_LOW;
	}
}

/* Makes the checkpoint's decisions the previous ones and forgets days before its window. */
static void commit(struct mentor_detector *det, const struct eval *ev)
{
	for (size_t si = 0; si < det->n_series; si++) {
		struct det_series *s = &det->series[si];
		uint32_t keep = 0;

		if (ev->decided[si]) {
			s->level = ev->next[si].level;
			s->since_day = ev->next[si].since_day;
			s->week = ev->next[si].week;
			s->weekly_low = ev->next[si].weekly_low;
		}
		while (keep < s->len && s->days[keep].day < ev->win.from_day)
			keep++;
		if (keep > 0) {
			memmove(s->days, &s->days[keep], (s->len - keep) * sizeof(*s->days));
			s->len -= keep;
		}
	}
	det->evaluated = true;
	det->last_as_of = ev->as_of;
	det->floor_day = ev->win.from_day;
}

/* Scratch of one checkpoint; false when out of memory (eval_free() cleans up either way). */
static bool eval_alloc(const struct mentor_detector *det, struct eval *ev)
{
	size_t max_len = 0;

	for (size_t si = 0; si < det->n_series; si++)
		if (det->series[si].len > max_len)
			max_len = det->series[si].len;
	/* + 1: a detector without keys still gets valid pointers. */
	ev->wsum = malloc(det->n_series * sizeof(*ev->wsum) + 1);
	ev->next = malloc(det->n_series * sizeof(*ev->next) + 1);
	ev->decided = calloc(det->n_series + 1, sizeof(*ev->decided));
	ev->pop = malloc(det->n_metrics * sizeof(*ev->pop) + 1);
	ev->rows = malloc(max_len * sizeof(*ev->rows) + 1);
	ev->low_csat = calloc(det->n_agents + 1, sizeof(*ev->low_csat));
	ev->low_aqm = calloc(det->n_agents + 1, sizeof(*ev->low_aqm));
	ev->morder = malloc(det->n_metrics * sizeof(*ev->morder) + 1);
	return ev->wsum && ev->next && ev->decided && ev->pop && ev->rows && ev->low_csat &&
	       ev->low_aqm && ev->morder;
}

static void eval_free(struct eval *ev)
{
	free(ev->wsum);
	free(ev->next);
	free(ev->decided);
	free(ev->pop);
	free(ev->rows);
	free(ev->low_csat);
	free(ev->low_aqm);
	free(ev->morder);
}

/* Agents, each metric's keys and the metrics themselves in byte order of their names. */
static bool order_keys(struct mentor_detector *det, struct eval *ev)
{
	if (!rank_agents(det))
		return false;
	for (size_t mi = 0; mi < det->n_metrics; mi++) {
		if (!sort_metric(det, &det->metrics[mi]))
			return false;
		ev->morder[mi] = (struct id_ref){ .id = det->metrics[mi].name, .idx = (uint32_t)mi };
	}
	qsort(ev->morder, det->n_metrics, sizeof(*ev->morder), cmp_id_ref);
	return true;
}

/* Second pass: every due key, decided and handed to emit in (metric, agent_id) order. */
static int decide_and_emit(const struct mentor_detector *det, struct eval *ev,
			   mentor_detect_emit_fn emit, void *ctx)
{
	for (size_t oi = 0; oi < det->n_metrics; oi++) {
		const struct det_metric *m = &det->metrics[ev->morder[oi].idx];

		for (size_t i = 0; i < m->n_series; i++) {
			size_t si = m->series[i];
			uint32_t a = det->series[si].agent;
			struct mentor_detect_row row;
			int r;

			if (!is_due(&det->series[si], &ev->wsum[si]))
				continue;
			decide_series(det, ev, si, ev->low_csat[a], ev->low_aqm[a], &row);
			row.agent_id = det->agents[a].id;
			row.metric = m->name;
			ev->next[si] = (struct det_next){
				.level = row.level, .since_day = row.since_day,
				.week = row.week, .weekly_low = row.weekly_low,
			};
			ev->decided[si] = true;
			if ((r = emit(ctx, &row)) != MENTOR_OK)
				return r;
		}
	}
	return MENTOR_OK;
}

int mentor_detector_evaluate(struct mentor_detector *det, int64_t as_of_day,
			     const struct mentor_stats_params *p, mentor_detect_emit_fn emit,
			     void *ctx, struct mentor_error *err)
{
	struct eval ev = { .p = p, .as_of = as_of_day };
	int r;

	if ((r = mentor_stats_params_validate(p, err)) < 0)
		return r;
	if (!emit)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "evaluate: no emit function");
	if (det->evaluated && as_of_day < det->last_as_of)
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"evaluate: day %lld is before the last checkpoint's day %lld",
					(long long)as_of_day, (long long)det->last_as_of);
	ev.win = mentor_stats_status_window(as_of_day, p->shrink.window_days);
	ev.week = mentor_detector_week_of(as_of_day);

	if (!eval_alloc(det, &ev) || !order_keys(det, &ev)) {
		r = nomem(err, "a checkpoint");
		goto out;
	}
	if ((r = window_and_population(det, &ev, err)) < 0)
		goto out;
	overall_lows(det, &ev, MENTOR_DETECT_CSAT, ev.low_csat);
	overall_lows(det, &ev, MENTOR_DETECT_AQM, ev.low_aqm);
	/* Commit only once the caller has taken every row: an error changes nothing. */
	if ((r = decide_and_emit(det, &ev, emit, ctx)) != MENTOR_OK)
		goto out;
	commit(det, &ev);
out:
	eval_free(&ev);
	return r;
}
