/*
 * Detection: per (agent, metric) day sums and the latest decision, updated
 * observation by observation in event-time order through lib/stats.c.
 * See include/mentor/detect.h for the contract; comments here say why.
 */
#define _GNU_SOURCE  /* qsort_r: orders that need the detector's strings, without a global */
#include "mentor/detect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "hash.h"
#include "mentor/events.h"

/* Tables are kept at most half full, so a probe is short. */
#define TAB_MIN_CAP 64

/* One UTC day of one key: millionths and 1e-12 units, as agent_daily_parts. */
struct det_day {
	int32_t day;
	int32_t n;
	int64_t sum, sumsq;
};

/* Sums over days, in det_day's units. */
struct day_sums {
	int64_t n, sum, sumsq;
};

/* A key's latest decision: what its agent_behavior_status row says. */
struct det_state {
	bool decided;               /* holds a decision (fresh or restored) */
	enum mentor_level level;
	enum mentor_level_reason why;
	int64_t since_us, updated_us;
	int64_t week;               /* week of bit 0 of weekly_low */
	uint64_t weekly_low;
	int64_t n;
	double mean, shrunk, ci_low, ci_high, pop_mean, k;
};

struct det_series {
	uint32_t agent, metric;
	struct det_day *days;       /* sorted by day, unique days */
	uint32_t len, cap;
	/* The status window ending on win_day (INT32_MIN: none): a key's next observation of that day adds to it. */
	int32_t win_day;
	struct day_sums win;
	uint64_t key_hash;          /* mentor_hash_key(agent id, metric name) */
	bool changed;               /* decided since the last take_changed() */
	uint32_t past;              /* index + 1 of its newest entry in det->past, 0: none */
	struct det_state st;
};

/* A key's state before one of its decisions made at or after det->past_from_us (mentor_detector_keep_past). */
struct det_past {
	int64_t decided_us;         /* the decision this state preceded */
	uint32_t series;
	uint32_t older;             /* index + 1 of the key's previous entry, 0: none */
	struct det_state before;
};

struct det_agent {
	char *id;
	bool active;
	uint32_t *series_of;        /* owned; by metric index: series index + 1, 0 none; n_series_of long */
	uint32_t n_series_of;
};

struct det_metric {
	char *name;
	uint32_t rank;              /* of name among the metrics' names, in strcmp order */
	unsigned sources;           /* bit (1 << kind) of each source that observed it */
	int64_t until_us;           /* during an advance: its observations decided before this are evaluated */
	uint32_t *series;           /* indices into det->series; in agent id order when sorted */
	size_t n_series, cap;
	bool sorted;
	bool has_prior;
	int64_t prior_day;
	struct mentor_population prior;
	struct mentor_status_rules rules;  /* det->p.status with the metric's own thresholds (resolve_rules) */
};

/* A waiting observation; its event id lives in det->ev_arena at ev_off. */
struct det_obs {
	int64_t d_us;               /* decision time: the evaluation order */
	int64_t t_us;               /* occurred_at: the day and window it counts in */
	int32_t value;              /* 0 .. 1000000 */
	uint32_t series;
	uint32_t ev_off;
	uint32_t agent;             /* of the series */
};

/* Open addressing over indices: a slot holds index + 1, 0 is empty. */
struct itab {
	uint32_t *slot;
	size_t cap;                 /* a power of two, or 0 */
	size_t used;
};

enum tab_kind { TAB_AGENT, TAB_METRIC, TAB_KINDS };

struct mentor_detector {
	struct mentor_stats_params p;
	struct mentor_metric_thresholds *own;  /* owned copies: the metrics' own thresholds, each metric once */
	size_t n_own;
	int keep_days;
	struct det_agent *agents;
	size_t n_agents, cap_agents;
	struct det_metric *metrics;
	size_t n_metrics, cap_metrics;
	struct det_series *series;
	size_t n_series, cap_series;
	struct itab tab[TAB_KINDS];
	uint32_t last_agent;        /* index + 1 of the agent looked up last (0: none): an event's observations share it */
	uint32_t csat_metric, aqm_metric; /* index + 1 of csat and aqm (0: not seen): every decision reads both */
	double z;                   /* of p.shrink.confidence, for every decision's interval */

	struct det_obs *obs;        /* waiting observations; obs[0 .. n_sorted) in evaluation order */
	size_t n_obs, cap_obs, n_sorted;
	char *ev_arena;             /* their event ids, NUL-terminated; dropped ones linger until compaction */
	size_t ev_len, ev_cap, ev_live;

	uint32_t *agent_rank;       /* by agent index: its id's rank in strcmp order, for the first n_ranked agents */
	size_t n_ranked;

	uint32_t *changed;          /* series with changed set */
	size_t n_changed, cap_changed;

	int64_t event_time_us;      /* newest evaluated */
	int64_t newest_seen_us;

	struct det_past *past;      /* in evaluation order, so each key's in decision-time order */
	size_t n_past, cap_past;
	size_t past_taken;          /* past[0 .. past_taken) were handed to take_past() or restored */
	int64_t past_from_us;       /* decisions from then on keep the state they replaced; INT64_MAX: none */
};

/* ---- Hash tables: agents and metrics by name ---- */

static uint64_t hash_str(const char *s)
{
	return mentor_hash_bytes(s, strlen(s));
}

static const char *name_of(const struct mentor_detector *det, enum tab_kind kind, uint32_t i)
{
	return kind == TAB_AGENT ? det->agents[i].id : det->metrics[i].name;
}

/* The slot holding the name, or the empty slot where it would go. Needs cap > 0. */
static uint32_t *tab_probe(const struct mentor_detector *det, enum tab_kind kind, const char *name)
{
	const struct itab *t = &det->tab[kind];
	size_t mask = t->cap - 1, i = (size_t)hash_str(name) & mask;

	while (t->slot[i] && strcmp(name_of(det, kind, t->slot[i] - 1), name) != 0)
		i = (i + 1) & mask;
	return &t->slot[i];
}

/* Index of the name, or -1. */
static int64_t tab_find(const struct mentor_detector *det, enum tab_kind kind, const char *name)
{
	uint32_t *slot;

	if (det->tab[kind].cap == 0)
		return -1;
	slot = tab_probe(det, kind, name);
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
		j = (size_t)hash_str(name_of(det, kind, old.slot[i] - 1)) & (ncap - 1);
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
	struct det_agent *a;
	int64_t i;
	int r;

	if ((r = check_name(id, "agent id", err)) < 0)
		return r;
	if (det->last_agent && strcmp(det->agents[det->last_agent - 1].id, id) == 0) {
		*ret = det->last_agent - 1;
		return MENTOR_OK;
	}
	if ((i = tab_find(det, TAB_AGENT, id)) >= 0) {
		*ret = (uint32_t)i;
		det->last_agent = (uint32_t)i + 1;
		return MENTOR_OK;
	}
	if (!mentor_grow((void **)&det->agents, &det->cap_agents, det->n_agents, sizeof(*det->agents), 256, UINT32_MAX) ||
	    !tab_reserve(det, TAB_AGENT))
		return nomem(err, "an agent");
	a = &det->agents[det->n_agents];
	*a = (struct det_agent){ .id = strdup(id) };
	if (!a->id)
		return nomem(err, "an agent");
	*tab_probe(det, TAB_AGENT, id) = (uint32_t)det->n_agents + 1;
	det->tab[TAB_AGENT].used++;
	*ret = (uint32_t)det->n_agents++;
	return MENTOR_OK;
}

/* r with a metric's own thresholds over the general ones, where given. */
static void apply_own(struct mentor_status_rules *r, const struct mentor_metric_thresholds *own)
{
	if (!isnan(own->low_threshold))
		r->low_threshold = own->low_threshold;
	if (!isnan(own->high_threshold))
		r->high_threshold = own->high_threshold;
}

/* A metric's status rules: the general ones, with its own thresholds if it has them. */
static void resolve_rules(const struct mentor_detector *det, struct det_metric *m)
{
	m->rules = det->p.status;
	for (size_t i = 0; i < det->n_own; i++) {
		if (strcmp(det->own[i].metric, m->name) == 0) {
			apply_own(&m->rules, &det->own[i]);
			return;
		}
	}
}

static int metric_get(struct mentor_detector *det, const char *name, uint32_t *ret,
		      struct mentor_error *err)
{
	struct det_metric *m;
	int64_t i;
	int r;

	if ((r = check_name(name, "metric", err)) < 0)
		return r;
	if ((i = tab_find(det, TAB_METRIC, name)) >= 0) {
		*ret = (uint32_t)i;
		return MENTOR_OK;
	}
	if (!mentor_grow((void **)&det->metrics, &det->cap_metrics, det->n_metrics, sizeof(*det->metrics), 16, UINT32_MAX) ||
	    !tab_reserve(det, TAB_METRIC))
		return nomem(err, "a metric");
	m = &det->metrics[det->n_metrics];
	*m = (struct det_metric){ .name = strdup(name), .sorted = true };
	if (!m->name)
		return nomem(err, "a metric");
	resolve_rules(det, m);
	*tab_probe(det, TAB_METRIC, name) = (uint32_t)det->n_metrics + 1;
	det->tab[TAB_METRIC].used++;
	if (strcmp(name, MENTOR_DETECT_CSAT) == 0)
		det->csat_metric = (uint32_t)det->n_metrics + 1;
	else if (strcmp(name, MENTOR_DETECT_AQM) == 0)
		det->aqm_metric = (uint32_t)det->n_metrics + 1;
	/* A few dozen metrics at most: the ranks are counted again, in place of strcmp in every sort. */
	m->rank = 0;
	for (size_t j = 0; j < det->n_metrics; j++) {
		if (strcmp(det->metrics[j].name, name) < 0)
			m->rank++;
		else
			det->metrics[j].rank++;
	}
	*ret = (uint32_t)det->n_metrics++;
	return MENTOR_OK;
}

/* Index of the series of (agent, metric), or -1: one array read, as an agent keeps its series by metric. */
static int64_t series_of(const struct mentor_detector *det, uint32_t agent, uint32_t metric)
{
	const struct det_agent *a = &det->agents[agent];

	return metric < a->n_series_of && a->series_of[metric] ? (int64_t)a->series_of[metric] - 1 : -1;
}

/* The series of (agent, metric), created empty and ok on first sight. */
static int series_get(struct mentor_detector *det, const char *agent_id, const char *metric,
		      struct det_series **ret, struct mentor_error *err)
{
	struct det_agent *ag;
	struct det_metric *m;
	uint32_t a = 0, mi = 0;
	int64_t i;
	int r;

	if ((r = agent_get(det, agent_id, &a, err)) < 0)
		return r;
	if ((r = metric_get(det, metric, &mi, err)) < 0)
		return r;
	if ((i = series_of(det, a, mi)) >= 0) {
		*ret = &det->series[i];
		return MENTOR_OK;
	}
	ag = &det->agents[a];
	m = &det->metrics[mi];
	if (mi >= ag->n_series_of) {
		uint32_t *grown = realloc(ag->series_of, det->n_metrics * sizeof(*grown));

		if (!grown)
			return nomem(err, "a key");
		memset(grown + ag->n_series_of, 0, (det->n_metrics - ag->n_series_of) * sizeof(*grown));
		ag->series_of = grown;
		ag->n_series_of = (uint32_t)det->n_metrics;
	}
	if (!mentor_grow((void **)&det->series, &det->cap_series, det->n_series, sizeof(*det->series), 1024, UINT32_MAX) ||
	    !mentor_grow((void **)&m->series, &m->cap, m->n_series, sizeof(*m->series), 256, UINT32_MAX))
		return nomem(err, "a key");
	det->series[det->n_series] = (struct det_series){
		.agent = a, .metric = mi, .win_day = INT32_MIN, .key_hash = mentor_hash_key(agent_id, metric),
		.st = { .level = MENTOR_LEVEL_OK, .since_us = 0, .week = INT64_MIN, .mean = NAN, .shrunk = NAN,
			.ci_low = NAN, .ci_high = NAN, .pop_mean = NAN, .k = NAN },
	};
	m->series[m->n_series++] = (uint32_t)det->n_series;
	m->sorted = false;
	ag->series_of[mi] = (uint32_t)det->n_series + 1;
	*ret = &det->series[det->n_series++];
	return MENTOR_OK;
}

static const struct det_series *series_find(const struct mentor_detector *det,
					    const char *agent_id, const char *metric)
{
	int64_t a, m, i;

	if (!agent_id || !metric)
		return NULL;
	if ((a = tab_find(det, TAB_AGENT, agent_id)) < 0 || (m = tab_find(det, TAB_METRIC, metric)) < 0)
		return NULL;
	i = series_of(det, (uint32_t)a, (uint32_t)m);
	return i >= 0 ? &det->series[i] : NULL;
}

/* ---- Life cycle ---- */

int mentor_detector_new(const struct mentor_stats_params *p, const struct mentor_metric_thresholds *own, size_t n_own,
			int keep_days, struct mentor_detector **ret, struct mentor_error *err)
{
	struct mentor_detector *det;
	int r;

	if ((r = mentor_stats_params_validate(p, err)) < 0)
		return r;
	if (keep_days < p->shrink.window_days || keep_days > 100000)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "detector: keep_days %d is shorter than the window",
					keep_days);
	det = calloc(1, sizeof(*det));
	if (!det)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "detector: out of memory");
	det->keep_days = keep_days;
	det->event_time_us = INT64_MIN;
	det->newest_seen_us = INT64_MIN;
	det->past_from_us = INT64_MAX;
	if ((r = mentor_detector_set_params(det, p, own, n_own, err)) != MENTOR_OK) {
		mentor_detector_free(det);
		return r;
	}
	*ret = det;
	return MENTOR_OK;
}

static void free_own(struct mentor_metric_thresholds *own, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(own[i].metric);
	free(own);
}

void mentor_detector_free(struct mentor_detector *det)
{
	if (!det)
		return;
	for (size_t i = 0; i < det->n_agents; i++) {
		free(det->agents[i].id);
		free(det->agents[i].series_of);
	}
	for (size_t i = 0; i < det->n_metrics; i++) {
		free(det->metrics[i].name);
		free(det->metrics[i].series);
	}
	for (size_t i = 0; i < det->n_series; i++)
		free(det->series[i].days);
	for (size_t i = 0; i < TAB_KINDS; i++)
		free(det->tab[i].slot);
	free(det->agents);
	free(det->metrics);
	free(det->series);
	free(det->obs);
	free(det->ev_arena);
	free(det->changed);
	free(det->agent_rank);
	free(det->past);
	free_own(det->own, det->n_own);
	free(det);
}

/*
 * The metrics' own thresholds against p: names as observe() takes them,
 * each once, and the rules each one makes valid as p's are (a threshold in
 * 0..1, low_threshold + hysteresis <= 1).
 */
static int check_own(const struct mentor_stats_params *p, const struct mentor_metric_thresholds *own, size_t n_own,
		     struct mentor_error *err)
{
	struct mentor_stats_params metric_p = *p;
	struct mentor_error why;
	int r;

	if (n_own > 0 && !own)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "detector: NULL thresholds");
	for (size_t i = 0; i < n_own; i++) {
		if ((r = check_name(own[i].metric, "detector: a threshold's metric", err)) < 0)
			return r;
		for (size_t j = 0; j < i; j++)
			if (strcmp(own[j].metric, own[i].metric) == 0)
				return mentor_error_set(err, MENTOR_ERR_INVALID,
							"detector: thresholds of %s given twice", own[i].metric);
		metric_p.status = p->status;
		apply_own(&metric_p.status, &own[i]);
		if (mentor_stats_params_validate(&metric_p, &why) != MENTOR_OK)
			return mentor_error_set(err, MENTOR_ERR_INVALID, "detector: thresholds of %s: %s",
						own[i].metric, why.msg);
	}
	return MENTOR_OK;
}

int mentor_detector_set_params(struct mentor_detector *det, const struct mentor_stats_params *p,
			       const struct mentor_metric_thresholds *own, size_t n_own, struct mentor_error *err)
{
	struct mentor_metric_thresholds *copy;
	int r;

	if ((r = mentor_stats_params_validate(p, err)) < 0 || (r = check_own(p, own, n_own, err)) < 0)
		return r;
	copy = calloc(n_own ? n_own : 1, sizeof(*copy));
	if (!copy)
		return nomem(err, "thresholds");
	for (size_t i = 0; i < n_own; i++) {
		copy[i] = own[i];
		if (!(copy[i].metric = strdup(own[i].metric))) {
			free_own(copy, i);
			return nomem(err, "thresholds");
		}
	}
	free_own(det->own, det->n_own);
	det->own = copy;
	det->n_own = n_own;
	det->p = *p;
	det->z = mentor_stats_two_sided_z(p->shrink.confidence);
	for (size_t i = 0; i < det->n_metrics; i++)
		resolve_rules(det, &det->metrics[i]);
	return MENTOR_OK;
}

/* ---- Inputs ---- */

/* Index of the series of (agent, metric), created on first sight. */
static int series_index(struct mentor_detector *det, const char *agent_id, const char *metric, uint32_t *ret,
			struct mentor_error *err)
{
	struct det_series *s;
	int r = series_get(det, agent_id, metric, &s, err);

	if (r == MENTOR_OK)
		*ret = (uint32_t)(s - det->series);
	return r;
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
	if (!mentor_grow((void **)&s->days, &cap, s->len, sizeof(*s->days), 4, UINT32_MAX))
		return NULL;
	s->cap = (uint32_t)cap;
	memmove(&s->days[i + 1], &s->days[i], (s->len - i) * sizeof(*s->days));
	s->days[i] = (struct det_day){ .day = (int32_t)day };
	s->len++;
	return &s->days[i];
}

/* Forgets days older than keep_days before `day`. */
static void trim_days(struct det_series *s, int64_t day, int keep_days)
{
	uint32_t drop = 0;

	while (drop < s->len && s->days[drop].day <= day - keep_days)
		drop++;
	if (drop > 0) {
		memmove(s->days, &s->days[drop], (s->len - drop) * sizeof(*s->days));
		s->len -= drop;
	}
}

static bool day_in_range(int64_t day)
{
	return day > INT32_MIN && day < INT32_MAX;
}

int mentor_detector_set_agent(struct mentor_detector *det, const char *agent_id, bool active,
			      struct mentor_error *err)
{
	uint32_t a;
	int r = agent_get(det, agent_id, &a, err);

	if (r == MENTOR_OK)
		det->agents[a].active = active;
	return r;
}

int mentor_detector_observe(struct mentor_detector *det, const char *agent_id, const char *metric,
			    enum mentor_event_kind source, const char *event_id, int64_t t_us, int64_t decide_us,
			    int64_t value_e6, struct mentor_error *err)
{
	size_t len;
	uint32_t si = 0;
	int r;

	if ((r = check_name(event_id, "event id", err)) < 0)
		return r;
	if (value_e6 < 0 || value_e6 > 1000000 || decide_us < t_us || !day_in_range(mentor_stats_day_of(decide_us)) ||
	    !day_in_range(mentor_stats_day_of(t_us)) || (source != MENTOR_EVENT_VOC && source != MENTOR_EVENT_AQM))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "detector: observation out of range");
	if ((r = series_index(det, agent_id, metric, &si, err)) < 0)
		return r;
	det->metrics[det->series[si].metric].sources |= 1u << source;
	/* The observations of one event come one after another: they share one copy of its id. */
	if (det->n_obs > 0 && det->obs[det->n_obs - 1].t_us == t_us &&
	    strcmp(det->ev_arena + det->obs[det->n_obs - 1].ev_off, event_id) == 0) {
		if (!mentor_grow((void **)&det->obs, &det->cap_obs, det->n_obs, sizeof(*det->obs), 1024, UINT32_MAX))
			return nomem(err, "an observation");
		det->obs[det->n_obs] = det->obs[det->n_obs - 1];
		det->obs[det->n_obs].d_us = decide_us;
		det->obs[det->n_obs].value = (int32_t)value_e6;
		det->obs[det->n_obs].agent = det->series[si].agent;
		det->obs[det->n_obs++].series = si;
		return MENTOR_OK;
	}
	len = strlen(event_id) + 1;
	if (det->ev_len + len > UINT32_MAX ||
	    !mentor_grow((void **)&det->obs, &det->cap_obs, det->n_obs, sizeof(*det->obs), 1024, UINT32_MAX))
		return nomem(err, "an observation");
	if (det->ev_len + len > det->ev_cap) {
		size_t ncap = det->ev_cap ? det->ev_cap : 65536;
		char *p;

		while (ncap < det->ev_len + len)
			ncap *= 2;
		if (!(p = realloc(det->ev_arena, ncap)))
			return nomem(err, "an observation");
		det->ev_arena = p;
		det->ev_cap = ncap;
	}
	memcpy(det->ev_arena + det->ev_len, event_id, len);
	det->obs[det->n_obs++] = (struct det_obs){
		.d_us = decide_us, .t_us = t_us, .value = (int32_t)value_e6, .series = si, .ev_off = (uint32_t)det->ev_len,
		.agent = det->series[si].agent,
	};
	det->ev_len += len;
	det->ev_live += len;
	if (decide_us > det->newest_seen_us)
		det->newest_seen_us = decide_us;
	return MENTOR_OK;
}

/* A key to take back, with its series resolved, in (series, t) order for the search. */
struct unobs {
	uint32_t series;
	int64_t t_us;
	int32_t value;
	const char *event_id;
	bool found;
};

static int cmp_unobs(const void *a, const void *b)
{
	const struct unobs *x = a, *y = b;

	if (x->series != y->series)
		return x->series < y->series ? -1 : 1;
	return x->t_us < y->t_us ? -1 : x->t_us > y->t_us;
}

/* Marks drop[i] for the waiting observation a key names, if one is left; false if none. */
static bool find_unobs(const struct mentor_detector *det, struct unobs *keys, size_t n, const struct det_obs *o,
		       unsigned char *drop)
{
	size_t lo = 0, hi = n;
	struct unobs probe = { .series = o->series, .t_us = o->t_us };

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_unobs(&keys[mid], &probe) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && cmp_unobs(&keys[lo], &probe) == 0; lo++)
		if (!keys[lo].found && keys[lo].value == o->value &&
		    strcmp(keys[lo].event_id, det->ev_arena + o->ev_off) == 0) {
			keys[lo].found = true;
			*drop = 1;
			return true;
		}
	return false;
}

int mentor_detector_unobserve(struct mentor_detector *det, const struct mentor_detect_key *keys, size_t n,
			      struct mentor_error *err)
{
	struct unobs *k = calloc(n ? n : 1, sizeof(*k));
	unsigned char *drop = calloc(det->n_obs ? det->n_obs : 1, 1);
	size_t found = 0, kept = 0, sorted = det->n_sorted;
	bool recount = false;
	int rc = MENTOR_OK;

	if (!k || !drop) {
		rc = nomem(err, "taking observations back");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct det_series *s = series_find(det, keys[i].agent_id, keys[i].metric);

		if (!s) {
			rc = mentor_error_set(err, MENTOR_ERR_INVALID, "detector: no such observation waits");
			goto out;
		}
		k[i] = (struct unobs){ .series = (uint32_t)(s - det->series), .t_us = keys[i].t_us,
				       .value = (int32_t)keys[i].value_e6, .event_id = keys[i].event_id };
	}
	qsort(k, n, sizeof(*k), cmp_unobs);
	for (size_t i = 0; i < det->n_obs && found < n; i++)
		if (find_unobs(det, k, n, &det->obs[i], &drop[i]))
			found++;
	if (found < n) {
		rc = mentor_error_set(err, MENTOR_ERR_INVALID, "detector: no such observation waits");
		goto out;
	}
	/* The observations of one event share their id and stay adjacent: it is released with the last of them. */
	for (size_t i = 0, j; i < det->n_obs; i = j) {
		bool all = true;

		for (j = i; j < det->n_obs && det->obs[j].ev_off == det->obs[i].ev_off; j++)
			all = all && drop[j];
		if (all && drop[i])
			det->ev_live -= strlen(det->ev_arena + det->obs[i].ev_off) + 1;
		for (size_t x = i; x < j; x++) {
			if (!drop[x]) {
				det->obs[kept++] = det->obs[x];
				continue;
			}
			recount = recount || det->obs[x].d_us == det->newest_seen_us;
			if (x < det->n_sorted)
				sorted--;
		}
	}
	det->n_obs = kept;
	det->n_sorted = sorted;
	/* Every observation is either evaluated (event_time_us covers it) or still waiting. */
	if (recount) {
		det->newest_seen_us = INT64_MIN;
		for (size_t i = 0; i < det->n_obs; i++)
			if (det->obs[i].d_us > det->newest_seen_us)
				det->newest_seen_us = det->obs[i].d_us;
	}
out:
	free(k);
	free(drop);
	return rc;
}

/* ---- Ordering ---- */

/*
 * The evaluation order: day by day, within a day agent by agent (in id
 * order, whatever order they came in), each agent's observations in time
 * order. Decisions within a day depend only on the same agent's earlier ones
 * (its csat and aqm levels) and on priors of earlier days, so this is the
 * outcome of evaluating in time order, while an agent's keys stay in the
 * cache for all of its observations of the day. agent_rank must be current
 * (rank_agents).
 */
static int cmp_obs(const void *a, const void *b, void *arg)
{
	const struct mentor_detector *det = arg;
	const struct det_obs *x = a, *y = b;
	int64_t dx = mentor_stats_day_of(x->d_us), dy = mentor_stats_day_of(y->d_us);
	int c;

	if (dx != dy)
		return dx < dy ? -1 : 1;
	if (x->agent != y->agent)
		return det->agent_rank[x->agent] < det->agent_rank[y->agent] ? -1 : 1;
	if (x->d_us != y->d_us)
		return x->d_us < y->d_us ? -1 : 1;
	if (x->t_us != y->t_us)
		return x->t_us < y->t_us ? -1 : 1;
	/* One event's observations share its id's bytes (observe). */
	if (x->ev_off != y->ev_off && (c = strcmp(det->ev_arena + x->ev_off, det->ev_arena + y->ev_off)) != 0)
		return c;
	return (int)det->metrics[det->series[x->series].metric].rank -
	       (int)det->metrics[det->series[y->series].metric].rank;
}

static int cmp_series_by_agent(const void *a, const void *b, void *arg)
{
	const struct mentor_detector *det = arg;

	return strcmp(det->agents[det->series[*(const uint32_t *)a].agent].id,
		      det->agents[det->series[*(const uint32_t *)b].agent].id);
}

static int cmp_series_by_key(const void *a, const void *b, void *arg)
{
	const struct mentor_detector *det = arg;
	const struct det_series *x = &det->series[*(const uint32_t *)a], *y = &det->series[*(const uint32_t *)b];

	if (x->metric != y->metric)
		return (int)det->metrics[x->metric].rank - (int)det->metrics[y->metric].rank;
	return strcmp(det->agents[x->agent].id, det->agents[y->agent].id);
}

/* A few dozen metrics at most: a scan finds the one of a rank. */
static struct det_metric *metric_of_rank(struct mentor_detector *det, uint32_t rank)
{
	size_t i = 0;

	while (det->metrics[i].rank != rank)
		i++;
	return &det->metrics[i];
}

static void sort_metric(struct mentor_detector *det, struct det_metric *m)
{
	if (!m->sorted)
		qsort_r(m->series, m->n_series, sizeof(*m->series), cmp_series_by_agent, det);
	m->sorted = true;
}

/* ---- Evaluation ---- */

static struct day_sums day_window_sums(const struct det_series *s, int64_t from_day, int64_t to_day)
{
	struct day_sums w = { 0 };

	for (uint32_t i = 0; i < s->len; i++)
		if (s->days[i].day >= from_day && s->days[i].day < to_day) {
			w.n += s->days[i].n;
			w.sum += s->days[i].sum;
			w.sumsq += s->days[i].sumsq;
		}
	return w;
}

static struct mentor_sums sums_of(struct day_sums w)
{
	return (struct mentor_sums){ .n = w.n, .sum = (double)w.sum / 1e6, .sumsq = (double)w.sumsq / 1e12 };
}

/*
 * The metric's prior for `day`: every agent's window ending the day before,
 * in agent id order so that the floating-point sums are the same every run.
 */
static int compute_prior(struct mentor_detector *det, uint32_t mi, int64_t day, const struct mentor_detect_sink *sink,
			 struct mentor_error *err)
{
	struct det_metric *m = &det->metrics[mi];
	struct mentor_sums *agents = malloc(m->n_series * sizeof(*agents) + 1);
	size_t n = 0;
	int r;

	if (!agents)
		return nomem(err, "a prior");
	sort_metric(det, m);
	for (size_t i = 0; i < m->n_series; i++) {
		const struct det_series *s = &det->series[m->series[i]];
		/* A key observed yesterday holds the window ending yesterday already. */
		struct mentor_sums w = sums_of(s->win_day == day - 1 ? s->win
							     : day_window_sums(s, day - det->p.shrink.window_days, day));

		if (w.n > 0)
			agents[n++] = w;
	}
	r = mentor_stats_population(agents, n, &det->p.shrink, &m->prior, err);
	free(agents);
	if (r != MENTOR_OK)
		return r;
	m->has_prior = true;
	m->prior_day = day;
	if (sink->prior) {
		struct mentor_detect_prior pr = { .metric = m->name, .day = day, .pop = m->prior };

		return sink->prior(sink->ctx, &pr);
	}
	return MENTOR_OK;
}

/* metric: index + 1, 0 for a metric not seen yet. */
static bool agent_low_in(const struct mentor_detector *det, uint32_t agent, uint32_t metric)
{
	int64_t si = metric ? series_of(det, agent, metric - 1) : -1;

	return si >= 0 && det->series[si].st.level == MENTOR_LEVEL_LOW;
}

/* The persistence history moved to `week` (older bits shift up), this week's bit cleared. */
static uint64_t weeks_at(const struct det_state *st, int64_t week)
{
	int64_t shift;

	if (st->week == INT64_MIN || week - st->week >= 64 || week < st->week)
		return 0;
	shift = week - st->week;
	return (st->weekly_low << shift) & ~UINT64_C(1);
}

/*
 * Decides the key after an observation was added to its day and window
 * (the window ending on `day`), at decision time decided_us, and records
 * the decision in the series. High reads the agent's overall level of the
 * metric's own source only (AQM for evaluations, CSAT for surveys): a
 * source's decisions never wait for, or depend on, how far the other was
 * evaluated. A round checks both overall levels as of its time.
 */
static void decide(struct mentor_detector *det, struct det_series *s, int64_t decided_us, int64_t day,
		   bool *ret_fired)
{
	const struct det_metric *m = &det->metrics[s->metric];
	const struct mentor_status_rules *r = &m->rules;
	const struct mentor_population *pop = &m->prior;
	struct det_state *st = &s->st;
	struct mentor_sums w = sums_of(s->win);
	int64_t week = mentor_detector_week_of(day);
	bool weekly[MENTOR_PERSIST_MAX];
	struct mentor_status_input in;
	struct mentor_status_decision d;
	struct mentor_shrunk sh;
	uint64_t history;

	mentor_stats_shrink(&w, pop, det->z, &sh);
	in = (struct mentor_status_input){
		.prev = st->level, .n = sh.n, .shrunk = sh.shrunk, .ci_low = sh.ci_low,
		.active = det->agents[s->agent].active,
		.low_in_csat = (m->sources & 1u << MENTOR_EVENT_VOC) && agent_low_in(det, s->agent, det->csat_metric),
		.low_in_aqm = (m->sources & 1u << MENTOR_EVENT_AQM) && agent_low_in(det, s->agent, det->aqm_metric),
	};
	/* below_now does not depend on the history, which must include it. */
	mentor_stats_decide(r, &in, &d);
	history = weeks_at(st, week) | (d.below_now ? 1 : 0);
	if (r->persist_x > 0) {
		for (int i = 0; i < r->persist_y; i++)
			weekly[i] = history >> i & 1;
		in.weekly_low = weekly;
		in.n_weeks = (size_t)r->persist_y;
		mentor_stats_decide(r, &in, &d);
	}
	*ret_fired = d.entered_low;
	*st = (struct det_state){
		.decided = true, .level = d.level, .why = d.why,
		.since_us = d.level != st->level || !st->decided ? decided_us : st->since_us, .updated_us = decided_us,
		.week = week, .weekly_low = history, .n = sh.n, .mean = sh.mean, .shrunk = sh.shrunk, .ci_low = sh.ci_low,
		.ci_high = sh.ci_high, .pop_mean = pop->mean, .k = pop->k,
	};
}

/* Remembers s's state before its decision at decided_us, if the past is kept from then. False when out of memory. */
static bool keep_past(struct mentor_detector *det, uint32_t si, int64_t decided_us)
{
	struct det_series *s = &det->series[si];

	if (decided_us < det->past_from_us)
		return true;
	if (!mentor_grow((void **)&det->past, &det->cap_past, det->n_past, sizeof(*det->past), 1024, UINT32_MAX))
		return false;
	det->past[det->n_past] = (struct det_past){
		.decided_us = decided_us, .series = si, .older = s->past, .before = s->st,
	};
	s->past = (uint32_t)++det->n_past;
	return true;
}

static int mark_changed(struct mentor_detector *det, uint32_t si, struct mentor_error *err)
{
	if (det->series[si].changed)
		return MENTOR_OK;
	if (!mentor_grow((void **)&det->changed, &det->cap_changed, det->n_changed, sizeof(*det->changed), 256, UINT32_MAX))
		return nomem(err, "a change");
	det->changed[det->n_changed++] = si;
	det->series[si].changed = true;
	return MENTOR_OK;
}

/*
 * Adds o to its day and, if inside it, to the key's window, which ends on
 * the key's newest day (a late observation does not move it back): that day
 * into *ret_day. False when out of memory.
 */
static bool add_to_window(struct mentor_detector *det, struct det_series *s, const struct det_obs *o,
			  int64_t *ret_day)
{
	int64_t day = mentor_stats_day_of(o->t_us);
	int64_t newest = s->len > 0 && s->days[s->len - 1].day > day ? s->days[s->len - 1].day : day;
	struct det_day *d = day_slot(s, day);

	if (!d)
		return false;
	d->n++;
	d->sum += o->value;
	d->sumsq += (int64_t)o->value * o->value;
	if (s->win_day != newest) {
		s->win = day_window_sums(s, newest - det->p.shrink.window_days + 1, newest + 1);
		s->win_day = (int32_t)newest;
	} else if (day > newest - det->p.shrink.window_days) {
		s->win.n++;
		s->win.sum += o->value;
		s->win.sumsq += (int64_t)o->value * o->value;
	}
	*ret_day = newest;
	return true;
}

static int evaluate_one(struct mentor_detector *det, const struct det_obs *o, const struct mentor_detect_sink *sink,
			struct mentor_error *err)
{
	struct det_series *s = &det->series[o->series];
	struct det_metric *m = &det->metrics[s->metric];
	int64_t decide_day = mentor_stats_day_of(o->d_us), day;
	bool fired = false;
	int r;

	/*
	 * The prior of the day of decision: computed before the day's first
	 * decision of the metric, so from the observations decided on earlier
	 * days only, whatever the advances' boundaries; then fixed.
	 */
	if (!m->has_prior || m->prior_day < decide_day)
		if ((r = compute_prior(det, s->metric, decide_day, sink, err)) != MENTOR_OK)
			return r;
	if (!add_to_window(det, s, o, &day))
		return nomem(err, "a day");
	if (!keep_past(det, o->series, o->d_us))
		return nomem(err, "a past state");
	decide(det, s, o->d_us, day, &fired);
	trim_days(s, day, det->keep_days);
	if (o->t_us > det->event_time_us)
		det->event_time_us = o->t_us;
	if ((r = mark_changed(det, o->series, err)) != MENTOR_OK)
		return r;
	/* Reported before the trigger: windows the trigger opens already hold this observation. */
	if (sink->evaluated) {
		struct mentor_detect_obs e = {
			.agent_id = det->agents[s->agent].id, .metric = m->name, .key_hash = s->key_hash,
			.decide_us = o->d_us, .day = mentor_stats_day_of(o->t_us), .value_e6 = o->value,
		};

		if ((r = sink->evaluated(sink->ctx, &e)) != MENTOR_OK)
			return r;
	}
	if (fired && sink->trigger) {
		struct mentor_detect_trigger t = {
			.agent_id = det->agents[s->agent].id, .metric = m->name,
			.event_id = det->ev_arena + o->ev_off, .fired_us = o->d_us, .n = s->st.n, .shrunk = s->st.shrunk,
		};

		return sink->trigger(sink->ctx, &t);
	}
	return MENTOR_OK;
}

/*
 * Once the arena is more than half garbage (ids of evaluated observations),
 * copies the waiting observations' ids into a new one (after sorting, their
 * order in the old one is no longer theirs, so an in-place compaction could
 * overwrite an id before copying it). False when out of memory.
 */
static bool compact_ids(struct mentor_detector *det)
{
	size_t len = 0;
	char *arena;

	if (det->ev_len < 2 * det->ev_live + 65536)
		return true;
	if (!(arena = malloc(det->ev_cap ? det->ev_cap : 1)))
		return false;
	for (size_t i = 0, prev = SIZE_MAX; i < det->n_obs; i++) {
		const char *id = det->ev_arena + det->obs[i].ev_off;
		size_t n;

		if (det->obs[i].ev_off == prev) {
			det->obs[i].ev_off = det->obs[i - 1].ev_off;
			continue;
		}
		prev = det->obs[i].ev_off;
		n = strlen(id) + 1;
		memcpy(arena + len, id, n);
		det->obs[i].ev_off = (uint32_t)len;
		len += n;
	}
	free(det->ev_arena);
	det->ev_arena = arena;
	det->ev_len = len;
	return true;
}

#define RADIX_BITS 11
#define SHORT_RUN 16

/* Orders a run of observations of one agent and time by cmp_obs: insertion for the usual few (one event's). */
static void sort_same_time(struct mentor_detector *det, struct det_obs *obs, size_t n)
{
	if (n > SHORT_RUN) {
		qsort_r(obs, n, sizeof(*obs), cmp_obs, det);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		struct det_obs o = obs[i];
		size_t j = i;

		for (; j > 0 && cmp_obs(&obs[j - 1], &o, det) > 0; j--)
			obs[j] = obs[j - 1];
		obs[j] = o;
	}
}

/*
 * Orders obs[0..n) (one day's, in time order) by agent rank: a stable
 * counting sort through tmp, or for a day with few observations (late ones
 * spread over many days) a comparison sort, which costs less than clearing
 * a count per agent.
 */
static void group_by_agent(struct mentor_detector *det, struct det_obs *obs, size_t n, struct det_obs *tmp,
			   size_t *at)
{
	if (n < det->n_agents / 4) {
		qsort_r(obs, n, sizeof(*obs), cmp_obs, det);
		return;
	}
	memset(at, 0, (det->n_agents + 1) * sizeof(*at));
	for (size_t i = 0; i < n; i++)
		at[det->agent_rank[obs[i].agent] + 1]++;
	for (size_t a = 1; a <= det->n_agents; a++)
		at[a] += at[a - 1];
	for (size_t i = 0; i < n; i++)
		tmp[at[det->agent_rank[obs[i].agent]]++] = obs[i];
	memcpy(obs, tmp, n * sizeof(*obs));
}

static int cmp_agent_id(const void *a, const void *b, void *arg)
{
	const struct mentor_detector *det = arg;

	return strcmp(det->agents[*(const uint32_t *)a].id, det->agents[*(const uint32_t *)b].id);
}

/*
 * Ranks the agents' ids once new agents came. A new id shifts the ranks of
 * those after it but keeps their order, so observations already in order
 * stay so. False when out of memory.
 */
static bool rank_agents(struct mentor_detector *det)
{
	uint32_t *order, *rank;

	if (det->n_ranked == det->n_agents)
		return true;
	if (!(order = malloc(det->n_agents * sizeof(*order))))
		return false;
	if (!(rank = realloc(det->agent_rank, det->n_agents * sizeof(*rank)))) {
		free(order);
		return false;
	}
	det->agent_rank = rank;
	for (size_t i = 0; i < det->n_agents; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, det->n_agents, sizeof(*order), cmp_agent_id, det);
	for (size_t r = 0; r < det->n_agents; r++)
		rank[order[r]] = (uint32_t)r;
	free(order);
	det->n_ranked = det->n_agents;
	return true;
}

/*
 * Sorts obs[0..n) as cmp_obs orders them. A batch brings about a million
 * observations: a stable radix sort on the time (a few passes over the
 * array), a stable counting sort of each day by agent, then each run of one
 * agent and time by cmp_obs, is several times faster than comparing them
 * all, as each comparison of two observations of one event looks up their
 * metrics. False when out of memory.
 */
static bool sort_obs(struct mentor_detector *det, struct det_obs *obs, size_t n)
{
	struct det_obs *tmp, *from = obs, *to;
	size_t *by_agent;
	int64_t lo = INT64_MAX, hi = INT64_MIN;

	if (n < 2)
		return true;
	if (!(tmp = malloc(n * sizeof(*tmp))))
		return false;
	if (!(by_agent = malloc((det->n_agents + 1) * sizeof(*by_agent)))) {
		free(tmp);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		lo = obs[i].d_us < lo ? obs[i].d_us : lo;
		hi = obs[i].d_us > hi ? obs[i].d_us : hi;
	}
	if (hi > lo) {
		to = tmp;
		for (unsigned shift = 0; shift < 64 && ((uint64_t)hi - (uint64_t)lo) >> shift; shift += RADIX_BITS) {
			size_t at[(1 << RADIX_BITS) + 1] = { 0 };
			struct det_obs *swap;

			for (size_t i = 0; i < n; i++)
				at[((((uint64_t)from[i].d_us - (uint64_t)lo) >> shift) & ((1 << RADIX_BITS) - 1)) + 1]++;
			for (size_t d = 1; d <= (1 << RADIX_BITS); d++)
				at[d] += at[d - 1];
			for (size_t i = 0; i < n; i++)
				to[at[(((uint64_t)from[i].d_us - (uint64_t)lo) >> shift) & ((1 << RADIX_BITS) - 1)]++] = from[i];
			swap = from;
			from = to;
			to = swap;
		}
		if (from != obs)
			memcpy(obs, from, n * sizeof(*obs));
	}
	for (size_t i = 0, j; i < n; i = j) {
		j = i + 1;
		while (j < n && mentor_stats_day_of(obs[j].d_us) == mentor_stats_day_of(obs[i].d_us))
			j++;
		group_by_agent(det, &obs[i], j - i, tmp, by_agent);
	}
	free(by_agent);
	free(tmp);
	for (size_t i = 0, j; i < n; i = j) {
		j = i + 1;
		while (j < n && obs[j].d_us == obs[i].d_us && obs[j].agent == obs[i].agent)
			j++;
		sort_same_time(det, &obs[i], j - i);
	}
	return true;
}

/*
 * Puts the waiting observations in evaluation order: only those added since
 * the last call are sorted, then merged with the ones already in order.
 * False when out of memory.
 */
static bool order_waiting(struct mentor_detector *det)
{
	size_t a = 0, b = det->n_sorted, k = 0;
	struct det_obs *merged;

	if (det->n_sorted == det->n_obs)
		return true;
	if (!rank_agents(det) || !sort_obs(det, &det->obs[det->n_sorted], det->n_obs - det->n_sorted))
		return false;
	if (det->n_sorted > 0) {
		if (!(merged = malloc(det->n_obs * sizeof(*merged))))
			return false;
		while (a < det->n_sorted || b < det->n_obs)
			merged[k++] = b == det->n_obs || (a < det->n_sorted && cmp_obs(&det->obs[a], &det->obs[b], det) <= 0)
					      ? det->obs[a++]
					      : det->obs[b++];
		memcpy(det->obs, merged, det->n_obs * sizeof(*merged));
		free(merged);
	}
	det->n_sorted = det->n_obs;
	return true;
}

/*
 * Sets each metric's limit for an advance: the least of until_us over the
 * sources that observed it (a name both sources use waits for both).
 * Returns the greatest limit.
 */
static int64_t set_limits(struct mentor_detector *det, const int64_t until_us[MENTOR_EVENT_KIND_COUNT])
{
	int64_t most = INT64_MIN;

	for (size_t mi = 0; mi < det->n_metrics; mi++) {
		struct det_metric *m = &det->metrics[mi];

		m->until_us = INT64_MAX;
		for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
			if ((m->sources & 1u << kind) && until_us[kind] < m->until_us)
				m->until_us = until_us[kind];
		if (m->sources && m->until_us > most)
			most = m->until_us;
	}
	return most;
}

int mentor_detector_advance(struct mentor_detector *det, const int64_t until_us[MENTOR_EVENT_KIND_COUNT],
			    const struct mentor_detect_sink *sink, struct mentor_error *err)
{
	size_t i = 0, kept = 0;
	uint32_t kept_off = UINT32_MAX;
	int64_t last_day, most;
	int r = MENTOR_OK;

	if (det->n_obs == 0 || (most = set_limits(det, until_us)) == INT64_MIN)
		return MENTOR_OK;
	if (!order_waiting(det))
		return nomem(err, "an advance");
	/* Every observation to evaluate is of a day up to last_day; the others wait. */
	last_day = mentor_stats_day_of(most - 1);
	for (; i < det->n_obs && mentor_stats_day_of(det->obs[i].d_us) <= last_day; i++) {
		struct det_obs o = det->obs[i];

		if (o.d_us >= det->metrics[det->series[o.series].metric].until_us) {
			det->obs[kept++] = o;
			kept_off = o.ev_off;
			continue;
		}
		if ((r = evaluate_one(det, &o, sink, err)) != MENTOR_OK)
			break;
		/*
		 * The observations of one event are adjacent in order and share its id: it is released with the
		 * last of them, unless one waits on (a name both sources use).
		 */
		if ((i + 1 == det->n_obs || det->obs[i + 1].ev_off != o.ev_off) && kept_off != o.ev_off)
			det->ev_live -= strlen(det->ev_arena + o.ev_off) + 1;
	}
	memmove(&det->obs[kept], &det->obs[i], (det->n_obs - i) * sizeof(*det->obs));
	det->n_obs = det->n_sorted = kept + (det->n_obs - i);
	if (!compact_ids(det) && r == MENTOR_OK)
		r = nomem(err, "an advance");
	return r;
}

/* ---- Outputs ---- */

/* The row of series si in state st (its latest, or one it had). */
static void fill_row(const struct mentor_detector *det, uint32_t si, const struct det_state *st,
		     struct mentor_detect_row *row)
{
	const struct det_series *s = &det->series[si];

	*row = (struct mentor_detect_row){
		.agent_id = det->agents[s->agent].id, .metric = det->metrics[s->metric].name,
		.n = st->n, .mean = st->mean, .shrunk = st->shrunk, .ci_low = st->ci_low, .ci_high = st->ci_high,
		.pop_mean = st->pop_mean, .k = st->k, .level = st->level, .why = st->why,
		.since_us = st->since_us, .updated_us = st->updated_us, .week = st->week, .weekly_low = st->weekly_low,
	};
}

/*
 * Series si's state as of at_us: before the first of its decisions at or
 * after at_us (each key's past is in decision-time order, newest first from
 * s->past), or its latest when it made none since.
 */
static const struct det_state *state_at(const struct mentor_detector *det, uint32_t si, int64_t at_us)
{
	const struct det_state *st = &det->series[si].st;

	for (uint32_t k = det->series[si].past; k && det->past[k - 1].decided_us >= at_us; k = det->past[k - 1].older)
		st = &det->past[k - 1].before;
	return st;
}

/*
 * Puts det->changed in (metric, agent) order. A drain's batch changes most
 * keys: walking each metric's keys, kept in agent order for the priors,
 * costs less than sorting them. A live batch changes a few: sorted.
 */
static void order_changed(struct mentor_detector *det)
{
	size_t k = 0;

	if (det->n_changed < 2)
		return;
	if (det->n_changed * 8 < det->n_series) {
		qsort_r(det->changed, det->n_changed, sizeof(*det->changed), cmp_series_by_key, det);
		return;
	}
	for (uint32_t rank = 0; rank < det->n_metrics; rank++) {
		struct det_metric *m = metric_of_rank(det, rank);

		sort_metric(det, m);
		for (size_t i = 0; i < m->n_series; i++)
			if (det->series[m->series[i]].changed)
				det->changed[k++] = m->series[i];
	}
}

int mentor_detector_take_changed(struct mentor_detector *det,
				 int (*fn)(void *ctx, const struct mentor_detect_row *row), void *ctx)
{
	int r = MENTOR_OK;

	if (fn)
		order_changed(det);
	for (size_t i = 0; fn && i < det->n_changed && r == MENTOR_OK; i++) {
		struct mentor_detect_row row;

		fill_row(det, det->changed[i], &det->series[det->changed[i]].st, &row);
		r = fn(ctx, &row);
	}
	for (size_t i = 0; i < det->n_changed; i++)
		det->series[det->changed[i]].changed = false;
	det->n_changed = 0;
	return r;
}

int mentor_detector_each_level_at(const struct mentor_detector *det, int64_t at_us, enum mentor_level level,
				  int (*fn)(void *ctx, const struct mentor_detect_row *row), void *ctx)
{
	uint32_t *order = malloc(det->n_series * sizeof(*order) + 1);
	size_t n = 0;
	int r = MENTOR_OK;

	if (!order)
		return MENTOR_ERR_NOMEM;
	for (size_t si = 0; si < det->n_series; si++) {
		const struct det_state *st = state_at(det, (uint32_t)si, at_us);

		if (st->decided && st->level == level)
			order[n++] = (uint32_t)si;
	}
	qsort_r(order, n, sizeof(*order), cmp_series_by_key, (void *)det);
	for (size_t i = 0; i < n && r == MENTOR_OK; i++) {
		struct mentor_detect_row row;

		fill_row(det, order[i], state_at(det, order[i], at_us), &row);
		r = fn(ctx, &row);
	}
	free(order);
	return r;
}

int mentor_detector_key_at(const struct mentor_detector *det, const char *agent_id, const char *metric, int64_t at_us,
			   int (*fn)(void *ctx, const struct mentor_detect_row *row), void *ctx)
{
	const struct det_series *s = series_find(det, agent_id, metric);
	const struct det_state *st;
	struct mentor_detect_row row;

	if (!s || !(st = state_at(det, (uint32_t)(s - det->series), at_us))->decided)
		return MENTOR_OK;
	fill_row(det, (uint32_t)(s - det->series), st, &row);
	return fn(ctx, &row);
}

enum mentor_level mentor_detector_level_at(const struct mentor_detector *det, const char *agent_id, const char *metric,
					   int64_t at_us)
{
	const struct det_series *s = series_find(det, agent_id, metric);

	return s ? state_at(det, (uint32_t)(s - det->series), at_us)->level : MENTOR_LEVEL_OK;
}

void mentor_detector_day_sums(const struct mentor_detector *det, const char *agent_id, const char *metric,
			      int64_t from_day, int64_t to_day, int64_t *ret_n, int64_t *ret_sum_e6,
			      int64_t *ret_sumsq_e12)
{
	const struct det_series *s = series_find(det, agent_id, metric);

	*ret_n = *ret_sum_e6 = *ret_sumsq_e12 = 0;
	if (!s)
		return;
	for (uint32_t i = 0; i < s->len; i++)
		if (s->days[i].day >= from_day && s->days[i].day < to_day) {
			*ret_n += s->days[i].n;
			*ret_sum_e6 += s->days[i].sum;
			*ret_sumsq_e12 += s->days[i].sumsq;
		}
}

int64_t mentor_detector_event_time(const struct mentor_detector *det)
{
	return det->event_time_us;
}

int64_t mentor_detector_newest_seen(const struct mentor_detector *det)
{
	return det->newest_seen_us > det->event_time_us ? det->newest_seen_us : det->event_time_us;
}

size_t mentor_detector_waiting(const struct mentor_detector *det)
{
	return det->n_obs;
}

int64_t mentor_detector_oldest_waiting(const struct mentor_detector *det)
{
	int64_t t = INT64_MIN;

	for (size_t i = 0; i < det->n_obs; i++)
		if (t == INT64_MIN || det->obs[i].d_us < t)
			t = det->obs[i].d_us;
	return t;
}

/*
 * Forgets the past states of decisions before from_us, renumbering the
 * others. Without memory for that, they stay: more than needed, never less.
 */
static void drop_past_before(struct mentor_detector *det, int64_t from_us)
{
	size_t kept = 0, taken = 0;
	uint32_t *moved = calloc(det->n_past + 1, sizeof(*moved));

	if (!moved)
		return;
	for (size_t i = 0; i < det->n_past; i++) {
		struct det_past e = det->past[i];

		if (e.decided_us < from_us)
			continue;
		e.older = e.older ? moved[e.older] : 0;
		moved[i + 1] = (uint32_t)(kept + 1);
		taken += i < det->past_taken;
		det->past[kept++] = e;
	}
	for (size_t si = 0; si < det->n_series; si++)
		det->series[si].past = det->series[si].past ? moved[det->series[si].past] : 0;
	free(moved);
	det->n_past = kept;
	det->past_taken = taken;
}

void mentor_detector_keep_past(struct mentor_detector *det, int64_t from_us)
{
	if (from_us > det->past_from_us && det->n_past > 0)
		drop_past_before(det, from_us);
	det->past_from_us = from_us;
}

int mentor_detector_take_past(struct mentor_detector *det,
			      int (*fn)(void *ctx, const char *agent_id, const char *metric, int64_t decided_us,
					const struct mentor_detect_row *before),
			      void *ctx)
{
	while (det->past_taken < det->n_past) {
		const struct det_past *e = &det->past[det->past_taken];
		const struct det_series *s = &det->series[e->series];
		struct mentor_detect_row row;
		int r;

		fill_row(det, e->series, &e->before, &row);
		r = fn(ctx, det->agents[s->agent].id, det->metrics[s->metric].name, e->decided_us,
		       e->before.decided ? &row : NULL);
		if (r != MENTOR_OK)
			return r;
		det->past_taken++;
	}
	return MENTOR_OK;
}

/* ---- Restoring ---- */

int mentor_detector_restore_day(struct mentor_detector *det, const char *agent_id, const char *metric,
				int64_t day, int64_t n, int64_t sum_e6, int64_t sumsq_e12, struct mentor_error *err)
{
	struct det_day *d;
	uint32_t si = 0;
	int r;

	if (n < 1 || n > INT32_MAX || sum_e6 < 0 || sumsq_e12 < 0 || !day_in_range(day))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "detector: day sums out of range");
	if ((r = series_index(det, agent_id, metric, &si, err)) < 0)
		return r;
	if (!(d = day_slot(&det->series[si], day)))
		return nomem(err, "a day");
	if ((int64_t)d->n + n > INT32_MAX)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "detector: too many observations in a day");
	d->n += (int32_t)n;
	d->sum += sum_e6;
	d->sumsq += sumsq_e12;
	det->series[si].win_day = INT32_MIN;
	return MENTOR_OK;
}

/* A decided state with a row's numbers. */
static struct det_state state_of_row(const struct mentor_detect_row *row)
{
	return (struct det_state){
		.decided = true, .level = row->level, .why = row->why, .since_us = row->since_us,
		.updated_us = row->updated_us, .week = row->week, .weekly_low = row->weekly_low, .n = row->n,
		.mean = row->mean, .shrunk = row->shrunk, .ci_low = row->ci_low, .ci_high = row->ci_high,
		.pop_mean = row->pop_mean, .k = row->k,
	};
}

int mentor_detector_restore_status(struct mentor_detector *det, const struct mentor_detect_row *row,
				   struct mentor_error *err)
{
	struct det_series *s;
	uint32_t si = 0;
	int r;

	if (row->level < MENTOR_LEVEL_OK || row->level > MENTOR_LEVEL_HIGH || row->why < 0 || row->why >= MENTOR_WHY_COUNT)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "detector: level out of range");
	if ((r = series_index(det, row->agent_id, row->metric, &si, err)) < 0)
		return r;
	s = &det->series[si];
	s->st = state_of_row(row);
	return MENTOR_OK;
}

int mentor_detector_restore_past(struct mentor_detector *det, const char *agent_id, const char *metric,
				 int64_t decided_us, const struct mentor_detect_row *before, struct mentor_error *err)
{
	uint32_t si = 0;
	int r;

	if (before && (before->level < MENTOR_LEVEL_OK || before->level > MENTOR_LEVEL_HIGH || before->why < 0 ||
		       before->why >= MENTOR_WHY_COUNT))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "detector: level out of range");
	if ((r = series_index(det, agent_id, metric, &si, err)) < 0)
		return r;
	if (det->series[si].past && det->past[det->series[si].past - 1].decided_us > decided_us)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "detector: past states out of order");
	if (!mentor_grow((void **)&det->past, &det->cap_past, det->n_past, sizeof(*det->past), 1024, UINT32_MAX))
		return nomem(err, "a past state");
	det->past[det->n_past] = (struct det_past){
		.decided_us = decided_us, .series = si, .older = det->series[si].past,
		.before = before ? state_of_row(before) : (struct det_state){ .level = MENTOR_LEVEL_OK },
	};
	det->series[si].past = (uint32_t)++det->n_past;
	det->past_taken = det->n_past;
	return MENTOR_OK;
}

int mentor_detector_restore_prior(struct mentor_detector *det, const char *metric, int64_t day,
				  const struct mentor_population *pop, struct mentor_error *err)
{
	uint32_t mi;
	int r = metric_get(det, metric, &mi, err);

	if (r != MENTOR_OK)
		return r;
	if (!det->metrics[mi].has_prior || det->metrics[mi].prior_day <= day) {
		det->metrics[mi].has_prior = true;
		det->metrics[mi].prior_day = day;
		det->metrics[mi].prior = *pop;
	}
	return MENTOR_OK;
}

void mentor_detector_restore_event_time(struct mentor_detector *det, int64_t t_us)
{
	if (t_us > det->event_time_us)
		det->event_time_us = t_us;
}

int64_t mentor_detector_week_of(int64_t day)
{
	int64_t d = day + 3;  /* 1970-01-01 was a Thursday */

	return d >= 0 ? d / 7 : -((-d + 6) / 7);
}
