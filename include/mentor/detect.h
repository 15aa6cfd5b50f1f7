/*
 * Detection (SPEC section 2): the low / ok / high state of every agent and
 * behavior, decided at event-time checkpoints (docs/design-analytics.md).
 *
 * A struct mentor_detector holds, in memory, what the decisions need and
 * nothing more:
 *  - per (agent, metric) the daily aggregates of the status window (the
 *    agent_daily rows), the previous decision (level, since-day) and, for the
 *    X-of-Y persistence rule, the weekly low flags;
 *  - per agent whether the roster says it is active.
 * Memory grows with agents x metrics x window days, never with events: days
 * that have left the window of the latest evaluation are forgotten.
 *
 * The arithmetic is lib/stats.c's (window sums, population and k, shrinkage,
 * the decision); this module only keeps the state and runs it in order.
 * No database, clock, logging or globals; not thread-safe (one caller at a
 * time per detector). The caller feeds the aggregates it stored, calls
 * mentor_detector_evaluate() when its watermark passes a checkpoint, and
 * writes the rows it is handed.
 *
 * Determinism: a checkpoint's rows depend only on the aggregates added
 * (and the roster and restored state), never on the order of the calls.
 * Sums are kept in fixed point (units of 1/635,040,000 = 1 / (2^8 3^4 5^4
 * 7^2)), where addition is exact, so the same deltas in any order give
 * bit-identical rows. That unit holds every value and square of the usual
 * scales exactly (quarters and ninths of CSAT, tenths, hundredths of AQM...),
 * as the numeric columns of agent_daily do, so sums of such observations
 * give the same rows however a crash or a batch boundary splits them
 * between calls. Other values are rounded to the unit (1.6e-9) per call.
 *
 * Strings (agent ids, metric names) are 1 to MENTOR_ID_MAX - 1 bytes
 * (events.h), copied on first sight. Orders are byte orders (strcmp), as in
 * PostgreSQL's "C" collation.
 */
#ifndef MENTOR_DETECT_H
#define MENTOR_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentor/error.h"
#include "mentor/stats.h"

/* The metrics whose low status takes mentor eligibility away in every behavior. */
#define MENTOR_DETECT_CSAT "csat"
#define MENTOR_DETECT_AQM "aqm"

/* Largest sum or sumsq one add_daily() call may carry (fixed point must not overflow). */
#define MENTOR_DETECT_SUM_MAX 1e9

struct mentor_detector;

/* One evaluated (agent, metric): the agent_behavior_status row and its reasons. */
struct mentor_detect_row {
	const char *agent_id;      /* borrowed: valid during the emit call only */
	const char *metric;        /* borrowed likewise */
	int64_t n;                 /* observations in the window */
	double mean;               /* raw; NaN when n = 0 */
	double shrunk, ci_low, ci_high;
	double pop_mean;           /* the metric's population mean over the window */
	double k;                  /* prior weight used (configured or estimated) */
	bool k_estimated;
	enum mentor_level prev;    /* level before this checkpoint */
	enum mentor_level level;
	int64_t since_day;         /* as_of_day of the checkpoint that set this level */
	enum mentor_level_reason why;
	bool below_now;            /* this checkpoint's weekly flag (persistence rule) */
	bool fired;                /* entered low at this checkpoint: a low-score trigger */
	/* Persistence history after this checkpoint: bit i = week (week - i) was low. */
	int64_t week;              /* Monday-based week number of as_of_day */
	uint64_t weekly_low;
};

/*
 * Called once per evaluated row, in (metric, agent_id) byte order. Returns
 * MENTOR_OK to go on; any other value stops the evaluation, which then
 * changes nothing in the detector and returns that value.
 */
typedef int (*mentor_detect_emit_fn)(void *ctx, const struct mentor_detect_row *row);

/* Allocates an empty detector into *ret. MENTOR_OK or MENTOR_ERR_NOMEM. */
int mentor_detector_new(struct mentor_detector **ret, struct mentor_error *err);

/* Frees a detector; NULL is fine. */
void mentor_detector_free(struct mentor_detector *det);

/*
 * Adds a daily aggregate delta of one agent and metric on UTC day `day`
 * (within int32): n observations (1..INT32_MAX, also for the day's total)
 * with this sum and sum of squares (finite, >= 0, at most
 * MENTOR_DETECT_SUM_MAX). The same key and day may be added any number
 * of times; the deltas add up. A day before the window of the latest
 * evaluation can no longer count and is ignored (MENTOR_OK). Days after it
 * are kept until they leave a window, so memory per key is the window plus
 * the days the caller runs ahead of its checkpoints.
 * Returns MENTOR_OK, MENTOR_ERR_INVALID or MENTOR_ERR_NOMEM.
 */
int mentor_detector_add_daily(struct mentor_detector *det, const char *agent_id, const char *metric,
			      int64_t day, int64_t n, double sum, double sumsq,
			      struct mentor_error *err);

/*
 * Records the roster's active flag. An agent never set counts as inactive:
 * it can be low, never high (a mentor). MENTOR_OK, _INVALID or _NOMEM.
 */
int mentor_detector_set_agent(struct mentor_detector *det, const char *agent_id, bool active,
			      struct mentor_error *err);

/*
 * Rebuilds one previous decision at start (agent_behavior_status): the next
 * evaluation decides from `level` (hysteresis, triggers) and keeps
 * `since_day` while the level holds. A key restored as low or high is
 * evaluated at the next checkpoint even without data, so it can leave.
 * The persistence history restarts empty unless restore_weeks() is called.
 * MENTOR_OK, _INVALID (a level out of range) or _NOMEM.
 */
int mentor_detector_restore(struct mentor_detector *det, const char *agent_id, const char *metric,
			    enum mentor_level level, int64_t since_day, struct mentor_error *err);

/* Rebuilds the persistence history of a key: bit i = week (week - i) was low. */
int mentor_detector_restore_weeks(struct mentor_detector *det, const char *agent_id,
				  const char *metric, int64_t week, uint64_t weekly_low,
				  struct mentor_error *err);

/*
 * One checkpoint at the end of UTC day as_of_day: the window is the
 * p->shrink.window_days days ending with as_of_day. For each metric, the
 * population (mentor_stats_population) comes from every agent with data in
 * the window; then every key with data in the window, or previously low or
 * high (so it can leave), is shrunk and decided (mentor_stats_decide) from
 * its previous level. An agent's CSAT and AQM decisions of this checkpoint
 * are made first, so high in any metric needs them not low. emit is called
 * for each such key in (metric, agent_id) order; after the last one the new
 * levels become the previous ones and days before the window are forgotten.
 *
 * Persistence (X of Y weeks, when on): a week's flag is below_now of the
 * latest checkpoint in that (Monday-based) week; a week without a
 * checkpoint of the key counts as not below.
 *
 * as_of_day must not be earlier than that of the latest successful
 * evaluation (the same day again is fine: a later checkpoint of that day).
 * Returns MENTOR_OK; MENTOR_ERR_INVALID (bad parameters, an earlier day,
 * emit NULL); MENTOR_ERR_NOMEM; or emit's own value. On any error nothing
 * in the detector has changed.
 */
int mentor_detector_evaluate(struct mentor_detector *det, int64_t as_of_day,
			     const struct mentor_stats_params *p, mentor_detect_emit_fn emit,
			     void *ctx, struct mentor_error *err);

/* Days held for one key (0 if unknown): what the memory bound is about. */
size_t mentor_detector_days_held(const struct mentor_detector *det, const char *agent_id,
				 const char *metric);

/* Monday-based week number of a UTC day (day 4, 1970-01-05, starts week 1). */
int64_t mentor_detector_week_of(int64_t day);

#endif
