/*
 * Detection (SPEC section 2): the low / ok / high state of every agent and
 * behavior, decided after every observation, in event-time order.
 *
 * Observations (one normalized value of one metric of one event) are handed
 * in as they are stored, each with its source (surveys or evaluations), its
 * time (occurred_at, which says the day and window it counts in) and its
 * decision time (>= its time: when in event time it is decided;
 * docs/analytics.md derives it from the event's partition alone). They wait
 * until the caller's watermark of their source says that every observation
 * of that source decided before some time has arrived. Then
 * mentor_detector_advance() evaluates the waiting ones decided before that
 * time, by day of decision and within a day agent by agent (in agent id
 * order), each agent's in (decision time, occurred_at, event_id, metric)
 * order: a decision depends on the same agent's earlier ones of the same
 * source and on earlier days of the same metric only, so this is the
 * outcome of a single order, with an agent's keys in the cache for all of
 * its observations of the day, however far one source is evaluated ahead of
 * the other. Each is evaluated against:
 *  - its key's window: the window_days UTC days ending with the key's newest
 *    day (that of the observation, unless a later one was evaluated before:
 *    a late observation counts in its own day, and does not move the window
 *    back), the observation's day counting up to and including it;
 *  - its metric's prior for its day of decision: the population (mean,
 *    within and between-agent variance, k) of every agent's window ending
 *    the day before, computed before the metric's first decision of that
 *    day and then fixed;
 *  - its metric's status rules: the general ones, with the metric's own low
 *    and high thresholds where it has them (mentor_detector_set_params);
 *  - the key's previous level (hysteresis), its weekly history (the X-of-Y
 *    persistence rule) and, for high, the agent's roster active flag and
 *    current level in its source's overall metric (AQM for evaluations, CSAT
 *    for surveys; a name both sources use reads both, and waits for both).
 * So that pairing rounds, which read both sources, can read every key as of
 * their time although one source was evaluated beyond it, the detector
 * keeps the state each decision replaced from a time the caller sets on
 * (mentor_detector_keep_past) and answers as of a time (the *_at functions).
 * Every decision is then a function of the stored events and their decision
 * times, whatever the batch boundaries, the arrival order, crashes and
 * restarts, as long as no observation arrives decided before a time already
 * closed (it is then evaluated at the next advance, in that order).
 *
 * Values are integers in millionths (sum_e6, squares in 1e-12: sumsq_e12),
 * exactly as agent_daily stores them, so restored days and live days add up
 * to the same numbers bit for bit.
 *
 * Memory: per key the days of the longest window the caller reads
 * (keep_days) plus the waiting observations. No database, clock, logging or
 * globals; not thread-safe. Strings are 1 to MENTOR_ID_MAX - 1 bytes
 * (events.h), copied on first sight; orders are byte orders (strcmp).
 */
#ifndef MENTOR_DETECT_H
#define MENTOR_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentor/error.h"
#include "mentor/events.h"
#include "mentor/stats.h"

/* The metrics whose low status takes mentor eligibility away in every behavior. */
#define MENTOR_DETECT_CSAT "csat"
#define MENTOR_DETECT_AQM "aqm"

/* closed_us meaning "everything that has arrived" (the end of a drain). */
#define MENTOR_DETECT_ALL INT64_MAX

struct mentor_detector;

/* One decision: the agent_behavior_status row and its reasons (normalized 0..1). */
struct mentor_detect_row {
	const char *agent_id;      /* borrowed: valid during the call only */
	const char *metric;        /* borrowed likewise */
	int64_t n;                 /* observations in the window */
	double mean;               /* raw; NaN when n = 0 */
	double shrunk, ci_low, ci_high;
	double pop_mean;           /* the prior's population mean */
	double k;                  /* prior weight used */
	enum mentor_level level;
	enum mentor_level_reason why;
	int64_t since_us;          /* decision time the level was entered */
	int64_t updated_us;        /* decision time of the observation decided */
	int64_t week;              /* Monday-based week of the window's last day */
	uint64_t weekly_low;       /* bit i: week (week - i) was below at its latest decision */
};

/* A transition into low: a low-score trigger. */
struct mentor_detect_trigger {
	const char *agent_id, *metric, *event_id;  /* borrowed */
	int64_t fired_us;          /* the deciding observation's decision time */
	int64_t n;
	double shrunk;             /* normalized */
};

/* A metric's prior for one day (emitted when first computed, for the record). */
struct mentor_detect_prior {
	const char *metric;        /* borrowed */
	int64_t day;
	struct mentor_population pop;
};

/* An observation just evaluated (for KPI windows). */
struct mentor_detect_obs {
	const char *agent_id, *metric;  /* borrowed */
	uint64_t key_hash;              /* of (agent_id, metric), for mentor_kpi_observe_key */
	int64_t decide_us;              /* its decision time */
	int64_t day;
	int64_t value_e6;
};

/*
 * What advance() reports; any callback may be NULL. A non-OK return stops
 * the advance with that value. For each observation: evaluated first, then
 * trigger if it fired, so sums read in the trigger callback include it.
 */
struct mentor_detect_sink {
	int (*trigger)(void *ctx, const struct mentor_detect_trigger *t);
	int (*prior)(void *ctx, const struct mentor_detect_prior *p);
	int (*evaluated)(void *ctx, const struct mentor_detect_obs *o);
	void *ctx;
};

/*
 * Allocates an empty detector into *ret, deciding by p and by the n_own
 * metrics' own thresholds in own (NULL when n_own is 0), both copied and
 * checked as mentor_detector_set_params() does. keep_days (>= the status
 * window) is how many days back each key keeps, for windows the caller
 * reads with mentor_detector_day_sums().
 * MENTOR_OK, MENTOR_ERR_INVALID or MENTOR_ERR_NOMEM.
 */
int mentor_detector_new(const struct mentor_stats_params *p, const struct mentor_metric_thresholds *own, size_t n_own,
			int keep_days, struct mentor_detector **ret, struct mentor_error *err);

/* Frees a detector; NULL is fine. */
void mentor_detector_free(struct mentor_detector *det);

/*
 * Replaces the parameters and the metrics' own thresholds (a reload), both
 * copied. A metric's status rules are p->status with its own thresholds
 * over low_threshold and high_threshold where given (not NaN); they are
 * resolved when the metric is first seen and, for every metric known, here
 * again: the next decisions use them. Checks p (mentor_stats_params_validate),
 * each own entry (a metric name as observe() takes, each once; thresholds
 * NaN or in 0..1) and each metric's resolved rules. MENTOR_OK, or
 * MENTOR_ERR_INVALID or MENTOR_ERR_NOMEM with the detector unchanged.
 */
int mentor_detector_set_params(struct mentor_detector *det, const struct mentor_stats_params *p,
			       const struct mentor_metric_thresholds *own, size_t n_own, struct mentor_error *err);

/* Records the roster's active flag. An agent never set counts as inactive. MENTOR_OK, _INVALID or _NOMEM. */
int mentor_detector_set_agent(struct mentor_detector *det, const char *agent_id, bool active,
			      struct mentor_error *err);

/*
 * Adds one observation of source (MENTOR_EVENT_VOC or _AQM) at t_us,
 * decided at decide_us (>= t_us), to be evaluated by a later advance().
 * MENTOR_OK, _INVALID or _NOMEM.
 */
int mentor_detector_observe(struct mentor_detector *det, const char *agent_id, const char *metric,
			    enum mentor_event_kind source, const char *event_id, int64_t t_us, int64_t decide_us,
			    int64_t value_e6, struct mentor_error *err);

/* One observation as given to observe(), to take back. */
struct mentor_detect_key {
	const char *agent_id, *metric, *event_id;  /* borrowed */
	int64_t t_us;
	int64_t value_e6;
};

/*
 * Takes back waiting observations given to observe() before the caller
 * learned that their events were stored before (repeats): for each key, one
 * waiting observation with exactly its values, as if it had never been
 * observed. One pass over the waiting observations. MENTOR_OK;
 * MENTOR_ERR_INVALID when one of them no longer waits (it was evaluated):
 * the detector is then unchanged, and only a rebuild undoes that one;
 * MENTOR_ERR_NOMEM (unchanged too).
 */
int mentor_detector_unobserve(struct mentor_detector *det, const struct mentor_detect_key *keys, size_t n,
			      struct mentor_error *err);

/*
 * Evaluates every waiting observation decided before until_us[its source]
 * (a metric both sources observed: before the least of the two), in the
 * order above, and reports triggers, new priors and evaluated observations
 * to sink (so two agents' triggers of one day come in an order that depends
 * on where the advances stopped; each key's come in time order). Keys
 * whose state changed are remembered for mentor_detector_take_changed().
 * On an error the detector is in an unspecified state: rebuild it.
 * Returns MENTOR_OK, MENTOR_ERR_NOMEM or a sink callback's value.
 */
int mentor_detector_advance(struct mentor_detector *det, const int64_t until_us[MENTOR_EVENT_KIND_COUNT],
			    const struct mentor_detect_sink *sink, struct mentor_error *err);

/* Calls fn (NULL: none) for each key changed since the last call, in (metric, agent) order, and forgets the marks. */
int mentor_detector_take_changed(struct mentor_detector *det,
				 int (*fn)(void *ctx, const struct mentor_detect_row *row), void *ctx);

/*
 * The past: from from_us on, each decision keeps the state it replaced, and
 * those of decisions before from_us are forgotten, so that the *_at
 * functions answer as of any time >= from_us (a pairing round's, while the
 * faster source was evaluated beyond it). INT64_MAX (the start): none kept.
 * Once states are kept, from_us only moves forward.
 */
void mentor_detector_keep_past(struct mentor_detector *det, int64_t from_us);

/*
 * Calls fn for each state kept since the last call (or restore), in the
 * order kept: the key, the time of the decision that replaced it, and the
 * state (NULL: the key had no decision before). Returns fn's first non-OK
 * value (that state and the later ones stay for the next call) or MENTOR_OK.
 */
int mentor_detector_take_past(struct mentor_detector *det,
			      int (*fn)(void *ctx, const char *agent_id, const char *metric, int64_t decided_us,
					const struct mentor_detect_row *before),
			      void *ctx);

/*
 * The keys as of at_us (>= the time given to keep_past, or INT64_MAX: the
 * latest): each key's decision before at_us. Calls fn for each key at
 * `level` then, in (metric, agent) order.
 */
int mentor_detector_each_level_at(const struct mentor_detector *det, int64_t at_us, enum mentor_level level,
				  int (*fn)(void *ctx, const struct mentor_detect_row *row), void *ctx);

/* Calls fn with one key's decision as of at_us (as above), if it had one. Returns fn's value, or MENTOR_OK. */
int mentor_detector_key_at(const struct mentor_detector *det, const char *agent_id, const char *metric, int64_t at_us,
			   int (*fn)(void *ctx, const struct mentor_detect_row *row), void *ctx);

/* A key's level as of at_us (as above); MENTOR_LEVEL_OK if unknown then. */
enum mentor_level mentor_detector_level_at(const struct mentor_detector *det, const char *agent_id, const char *metric,
					   int64_t at_us);

/* Sums of the evaluated observations of a key on days [from_day, to_day). Zeros if unknown. */
void mentor_detector_day_sums(const struct mentor_detector *det, const char *agent_id, const char *metric,
			      int64_t from_day, int64_t to_day, int64_t *ret_n, int64_t *ret_sum_e6,
			      int64_t *ret_sumsq_e12);

/* Newest event time evaluated (INT64_MIN: none): the analytics' "now" in event time. */
int64_t mentor_detector_event_time(const struct mentor_detector *det);

/* Newest decision time observed, or event time evaluated (INT64_MIN: none). */
int64_t mentor_detector_newest_seen(const struct mentor_detector *det);

/* Observations waiting for the watermark. */
size_t mentor_detector_waiting(const struct mentor_detector *det);

/* Oldest decision time waiting (INT64_MIN: none waits). */
int64_t mentor_detector_oldest_waiting(const struct mentor_detector *det);

/* ---- Restoring the state at start (from PostgreSQL) ---- */

/* Adds evaluated observations of one day (agent_daily). */
int mentor_detector_restore_day(struct mentor_detector *det, const char *agent_id, const char *metric,
				int64_t day, int64_t n, int64_t sum_e6, int64_t sumsq_e12, struct mentor_error *err);

/* The latest decision of a key, numbers and all (agent_behavior_status, normalized). */
int mentor_detector_restore_status(struct mentor_detector *det, const struct mentor_detect_row *row,
				   struct mentor_error *err);

/*
 * A kept past state (mentor_detector_take_past's), restored in the order
 * they were kept: each key's in decision-time order, or MENTOR_ERR_INVALID.
 */
int mentor_detector_restore_past(struct mentor_detector *det, const char *agent_id, const char *metric,
				 int64_t decided_us, const struct mentor_detect_row *before, struct mentor_error *err);

/* A prior already computed for a metric and day (behavior_priors): it is used as it is. */
int mentor_detector_restore_prior(struct mentor_detector *det, const char *metric, int64_t day,
				  const struct mentor_population *pop, struct mentor_error *err);

/* The newest event time evaluated before the restart. */
void mentor_detector_restore_event_time(struct mentor_detector *det, int64_t t_us);

/* Monday-based week number of a UTC day (day 4, 1970-01-05, starts week 1). */
int64_t mentor_detector_week_of(int64_t day);

#endif
