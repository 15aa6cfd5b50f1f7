/*
 * Statistics core (SPEC sections 2 and 4): plain numbers in, numbers out.
 *
 * Every value here is on the normalized 0..1 scale unless a function says
 * otherwise; mentor_stats_native() maps back to a metric's own scale. Nothing
 * here touches the database, allocates, logs or keeps state: the caller reads
 * the daily aggregates and writes the results.
 *
 * Undefined results (the mean of nothing, an interval from one observation)
 * are NaN, never a made-up number, so that a NULL reaches the table rather
 * than a misleading 0. Comparisons with NaN are false, which is what the
 * status rules need: an agent with no interval is never a mentor.
 */
#ifndef MENTOR_STATS_H
#define MENTOR_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentor/error.h"

#define MENTOR_US_PER_DAY INT64_C(86400000000)

/*
 * Smallest between-agent variance the k estimate accepts (normalized units,
 * a between-agent SD of 0.001). Below it agents are indistinguishable and k
 * becomes large: everyone is shrunk to the population mean, which is the
 * right answer, while k stays finite.
 */
#define MENTOR_STATS_TAU2_FLOOR 1e-6

/* n observations, their sum and sum of squares: everything a mean and variance need. */
struct mentor_sums {
	int64_t n;
	double sum;
	double sumsq;
};

/* A half-open window of UTC days since the epoch: [from_day, to_day). */
struct mentor_day_window {
	int64_t from_day, to_day;
};

/* A metric's native scale: native = min + norm * (max - min). */
struct mentor_scale {
	double min, max;
};

/* ---- Parameters (every SPEC default is here, every one configurable) ---- */

struct mentor_shrink_params {
	int window_days;           /* status window, default 28 */
	double k;                  /* prior weight in observations, default 10 */
	bool estimate_k;           /* estimate k per behavior from the data, default false */
	size_t estimate_min_agents;/* fewer agents with data: use k as configured, default 5 */
	double confidence;         /* interval of the shrunken mean, default 0.90 */
};

/* Longest persistence history (weeks) the rule may look at. */
#define MENTOR_PERSIST_MAX 52

struct mentor_status_rules {
	double low_threshold;      /* default 0.60 */
	double hysteresis;         /* a low agent leaves low above low_threshold + this, default 0.05 */
	int64_t min_n;             /* default 8 */
	int64_t mentor_min_n;      /* default 20 */
	double high_threshold;     /* on the interval's lower bound, default 0.85 */
	int persist_x, persist_y;  /* low only if below in x of the last y weeks; 0, 0 = off (default) */
};

/*
 * A metric's own thresholds (SPEC section 2: configurable per behavior): for
 * that metric they take the place of mentor_status_rules' low_threshold and
 * high_threshold. NaN: not given, the general one applies. An array of them
 * names each metric once.
 */
struct mentor_metric_thresholds {
	char *metric;              /* owned by whoever holds the array */
	double low_threshold;
	double high_threshold;
};

struct mentor_kpi_params {
	int before_days;           /* default 28 */
	int after_days;            /* default 28 */
	int washout_days;          /* first days of the after window left out, default 0 */
	double confidence;         /* Welch interval of deltas and of the program effect, default 0.95 */
};

struct mentor_stats_params {
	struct mentor_shrink_params shrink;
	struct mentor_status_rules status;
	struct mentor_kpi_params kpi;
};

/* Sets the SPEC defaults listed above. */
void mentor_stats_params_init(struct mentor_stats_params *p);

/* Checks ranges and relations (0 < confidence < 1, washout < after_days, ...). MENTOR_OK or MENTOR_ERR_INVALID. */
int mentor_stats_params_validate(const struct mentor_stats_params *p, struct mentor_error *err);

/* ---- Windows ---- */

/* UTC day of a timestamp in microseconds; floors, so times before 1970 work too. */
int64_t mentor_stats_day_of(int64_t us);

/*
 * KPI windows around a start, in whole UTC days, with d = the start's day:
 *   before = [d - before_days, d)
 *   after  = [d + washout_days, d + after_days)
 * The start's day belongs wholly to the after window: events earlier on that
 * day count as after, not before. The washout shortens the after window; it
 * does not move its end, so the after window closes on the same day with or
 * without it.
 */
void mentor_stats_kpi_windows_day(int64_t start_us, const struct mentor_kpi_params *kp,
				  struct mentor_day_window *ret_before, struct mentor_day_window *ret_after);

/* ---- Moments ---- */

/* Mean; NaN when n < 1. */
double mentor_stats_mean(const struct mentor_sums *s);

/*
 * Sample variance (divisor n - 1); NaN when n < 2. Rounding in sumsq - sum^2/n
 * can leave a tiny negative or positive residue where the true value is 0:
 * anything below 1e-12 * sumsq is returned as 0.
 */
double mentor_stats_variance(const struct mentor_sums *s);

/* ---- Shrinkage (empirical Bayes) ---- */

/* What one behavior's population says, from every agent's sums in the window. */
struct mentor_population {
	size_t n_agents;           /* agents with n >= 1 */
	int64_t n_obs;
	double mean;               /* observation-weighted: sum of sums / sum of n */
	double sigma2_within;      /* pooled within-agent variance; NaN if no agent has n >= 2 */
	double tau2_between;       /* variance of true agent means; NaN unless estimated */
	double k;                  /* prior weight used */
	bool k_estimated;          /* false: the configured k (asked for, or too little data) */
};

/*
 * Fills ret_pop from the agents' sums (n = 0 entries are skipped):
 *   sigma2_within = sum_i SS_i / sum_i (n_i - 1),  SS_i = sumsq_i - sum_i^2 / n_i
 *   tau2_between  = max(var(m_i) - sigma2_within * mean(1 / n_i), MENTOR_STATS_TAU2_FLOOR)
 *   k             = sigma2_within / tau2_between
 * var(m_i) is the sample variance of the unweighted agent means; its
 * expectation is tau2 + sigma2 * mean(1/n_i), hence the method-of-moments
 * subtraction. k is estimated only when asked, with at least
 * estimate_min_agents (and 2) agents and sigma2_within defined.
 * Returns MENTOR_OK or MENTOR_ERR_INVALID (NULL with n_agents > 0, a negative n).
 */
int mentor_stats_population(const struct mentor_sums *agents, size_t n_agents,
			    const struct mentor_shrink_params *sp,
			    struct mentor_population *ret_pop, struct mentor_error *err);

struct mentor_shrunk {
	int64_t n;
	double mean;               /* raw; NaN when n = 0 */
	double shrunk;             /* (n * mean + k * pop_mean) / (n + k) */
	double ci_low, ci_high;    /* NaN when sigma2_within is undefined */
};

/*
 * Shrinks one agent toward the population:
 *   shrunk = (sum + k * pop_mean) / (n + k)
 *   ci     = shrunk -+ z * sqrt(sigma2_within / (n + k)), clamped to [0, 1]
 * with z the two-sided normal quantile of the confidence, as
 * mentor_stats_two_sided_z gives it (computed once by a caller that decides
 * millions of times). Under a normal prior of variance sigma2/k around
 * pop_mean, this is the posterior mean and the posterior SD exactly; the
 * interval says how sure we are of the agent's true mean, which is what the
 * high rule needs. Scores live in 0..1, so the bounds are clamped to it.
 */
void mentor_stats_shrink(const struct mentor_sums *agent, const struct mentor_population *pop, double z,
			 struct mentor_shrunk *ret);

/* z of a two-sided normal interval at confidence (0 < confidence < 1). */
double mentor_stats_two_sided_z(double confidence);

/* ---- Status (low | ok | high) ---- */

enum mentor_level {
	MENTOR_LEVEL_OK,
	MENTOR_LEVEL_LOW,
	MENTOR_LEVEL_HIGH,
};

/* Why the level is what it is; stored beside the numbers. */
enum mentor_level_reason {
	MENTOR_WHY_TOO_FEW,          /* ok: n < min_n and not low before */
	MENTOR_WHY_BELOW_THRESHOLD,  /* low: shrunk < low_threshold (and persistence met) */
	MENTOR_WHY_HYSTERESIS,       /* low: was low and shrunk <= low_threshold + hysteresis */
	MENTOR_WHY_NOT_PERSISTENT,   /* ok: below threshold now but low in fewer than x of y weeks */
	MENTOR_WHY_RECOVERED,        /* ok: was low, shrunk > low_threshold + hysteresis */
	MENTOR_WHY_CONFIDENT_HIGH,   /* high: every mentor rule met */
	MENTOR_WHY_INACTIVE,         /* ok: would be high but the agent is not active */
	MENTOR_WHY_TOO_FEW_FOR_MENTOR,/* ok: ci_low high enough but n < mentor_min_n */
	MENTOR_WHY_LOW_OVERALL,      /* ok: would be high but low in CSAT or AQM overall */
	MENTOR_WHY_AVERAGE,          /* ok: none of the above */
	MENTOR_WHY_COUNT
};

struct mentor_status_input {
	enum mentor_level prev;    /* the stored level; MENTOR_LEVEL_OK for a new agent */
	int64_t n;
	double shrunk, ci_low;
	bool active;
	bool low_in_csat, low_in_aqm;  /* the agent's status in CSAT and AQM overall */
	/* Persistence rule (ignored when off): low/not-low of the last weeks, newest first. */
	const bool *weekly_low;
	size_t n_weeks;
};

struct mentor_status_decision {
	enum mentor_level level;
	enum mentor_level_reason why;
	bool below_now;            /* n >= min_n and shrunk < low_threshold: the weekly flag to store */
	bool entered_low;          /* prev was not low, level is: fire a low_score trigger */
};

/*
 * Decides the new level; pure, no side effects.
 *   below_now = n >= min_n && shrunk < low_threshold
 *   persistent = rule off, or at least x of weekly_low[0 .. min(y, n_weeks)) are true
 *   prev low:  stays low while shrunk <= low_threshold + hysteresis (whatever n is)
 *   otherwise: low when below_now && persistent
 *   not low:   high when active && n >= mentor_min_n && ci_low >= high_threshold
 *              && !low_in_csat && !low_in_aqm
 * Low wins over high. The caller keeps weekly_low, newest first, and includes
 * the current week's flag (below_now of its latest evaluation) in it.
 */
void mentor_stats_decide(const struct mentor_status_rules *r, const struct mentor_status_input *in,
			 struct mentor_status_decision *ret);

/* "low", "ok", "high" as in agent_behavior_status.status; "unknown" if out of range. */
const char *mentor_level_name(enum mentor_level level);

/* Stable snake_case name of a reason ("below_threshold"); "unknown" if out of range. */
const char *mentor_level_reason_name(enum mentor_level_reason why);

/* ---- Quantiles ---- */

/* Standard normal inverse CDF: Acklam's approximation (1.15e-9) refined by one Halley step to ~1e-15. NaN outside (0, 1). */
double mentor_stats_norm_quantile(double p);

/*
 * Student t inverse CDF, df > 0 and not necessarily an integer, |error| <
 * 1e-9 relative: safeguarded Newton on the CDF (the regularized incomplete
 * beta), closed forms for df 1 and 2, the Cornish-Fisher series for
 * df >= 1e5. NaN outside (0, 1) or for df <= 0 or NaN; df = inf gives the normal.
 */
double mentor_stats_t_quantile(double p, double df);

/* ---- Welch intervals and KPI deltas ---- */

struct mentor_welch {
	double diff;               /* mean1 - mean2 */
	double se;                 /* sqrt(var1/n1 + var2/n2) */
	double df;                 /* Welch-Satterthwaite */
	double ci_low, ci_high;    /* NaN when !has_ci */
	bool has_ci;
};

/*
 * Welch interval for mean1 - mean2 at the given two-sided confidence:
 *   se^2 = v1/n1 + v2/n2
 *   df   = se^4 / ((v1/n1)^2/(n1-1) + (v2/n2)^2/(n2-1))
 *   ci   = diff -+ t_quantile((1 + confidence)/2, df) * se
 * No interval (has_ci false, ci NaN) when either n < 2 or both variances are
 * 0: with no spread at all there is nothing to estimate the noise from, and
 * a zero-width interval would claim a certainty the data do not have.
 */
void mentor_stats_welch(double mean1, double var1, int64_t n1, double mean2, double var2, int64_t n2,
			double confidence, struct mentor_welch *ret);

struct mentor_kpi_delta {
	int64_t before_n, after_n;
	double before_mean, after_mean;  /* NaN when that side has n = 0 */
	double delta;                    /* after - before; NaN unless both sides have data */
	double ci_low, ci_high, df;      /* Welch on after vs before; NaN when !has_ci */
	bool has_ci;
};

/* Means, delta and its Welch interval from the two windows' sums. */
void mentor_stats_kpi_delta(const struct mentor_sums *before, const struct mentor_sums *after,
			    double confidence, struct mentor_kpi_delta *ret);

/* A normalized value on the native scale: min + norm * (max - min). */
double mentor_stats_native(double norm, const struct mentor_scale *sc);

/* A normalized difference (delta, interval bound of a difference) on the native scale: d * (max - min). */
double mentor_stats_native_diff(double d, const struct mentor_scale *sc);

/* Rewrites a delta in place on the native scale: means via native(), delta and interval via native_diff(). */
void mentor_stats_kpi_delta_to_native(struct mentor_kpi_delta *d, const struct mentor_scale *sc);

/* ---- Program effect ---- */

struct mentor_before_after {
	double before, after;      /* one agent's window means */
};

struct mentor_program_effect {
	size_t paired_n, comparison_n;
	double naive_delta;        /* mean(after - before) of the paired: NOT the effect */
	double did;                /* the effect: difference in differences */
	double ci_low, ci_high, df;
	bool has_ci;
	bool cuped;                /* whether the CUPED adjustment was applied */
	double theta;              /* slope of after on before: 1 (the plain delta) unless cuped */
};

/*
 * Difference in differences between paired agents and comparison agents:
 *   d_i = after_i - before_i
 *   did = mean(d_i, paired) - mean(d_i, comparison), Welch interval on the two groups of d_i
 * With cuped (Deng et al. 2013), the after score is regressed on the before
 * score with the within-group pooled slope
 *   theta = sum_g sum_i (b_i - bbar_g)(a_i - abar_g) / sum_g sum_i (b_i - bbar_g)^2
 *   a'_i  = a_i - theta * (b_i - B),   B = mean of every b_i in both groups
 *   d'_i  = a'_i - B
 * and the same DiD and Welch interval run on the d'_i. d'_i is the delta
 * adjusted by its own regression on before (slope theta - 1), so the effect
 * is the ANCOVA estimate and the noise shrinks by about rho^2; subtracting
 * the agent's own before on top of a'_i would adjust twice and add noise.
 * The plain DiD is the same formula with theta = 1. The interval treats
 * theta as known, as CUPED does. When the before scores do not vary within
 * the groups, theta cannot be estimated: plain DiD, cuped false. Agents with a NaN before or after must be left out by the
 * caller. did is NaN when a group is empty; no interval below 2 per group.
 * Returns MENTOR_OK or MENTOR_ERR_INVALID (NULL with a count > 0, non-finite values).
 */
int mentor_stats_program_effect(const struct mentor_before_after *paired, size_t n_paired,
				const struct mentor_before_after *comparison, size_t n_comparison,
				bool cuped, double confidence,
				struct mentor_program_effect *ret, struct mentor_error *err);

/* Rewrites an effect in place on the native scale (every field is a difference). */
void mentor_stats_effect_to_native(struct mentor_program_effect *e, const struct mentor_scale *sc);

#endif
