/*
 * Internal to the analytics (lib/analytics*.c, advance.c, decider.c,
 * rounds.c, effect.c): the state they share. Each module's functions are in
 * its own header; include/mentor/analytics.h is the public contract.
 */
#ifndef MENTOR_ANALYTICS_INT_H
#define MENTOR_ANALYTICS_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "copytext.h"
#include "mentor/analytics.h"
#include "mentor/detect.h"
#include "mentor/kpi.h"
#include "store_int.h"

#define NO_TIME INT64_MIN
#define TIME_TEXT 48
#define NUM_TEXT 32

struct metric_scale {
	char *name;
	struct mentor_scale sc;
};

/* A stored event with fatal items, waiting for the watermark. */
struct pending_fatal {
	char *event_id;   /* owned */
	int64_t decide_us;  /* its decision time */
};

struct owned_partition {
	char *topic;
	int32_t partition;
};

/* A prior computed while evaluating, inserted with the run's last writes. */
struct staged_prior {
	char *metric;  /* owned */
	int64_t day;
	struct mentor_population pop;
};

/*
 * What a run stages for its transaction: alerts and priors go in at its end,
 * triggers before a round reads them and at the end. An early evaluation,
 * which has no connection, hands them to the batch's hook.
 */
struct run_staged {
	struct text_buf alerts;     /* COPY rows of stage_alerts (flush_alerts) */
	struct text_buf triggers;   /* binary COPY rows of stage_triggers (an_flush_triggers) */
	struct staged_prior *priors;
	size_t n_priors, cap_priors;
};

/*
 * A roster partition as the decider follows it: its extent as the broker
 * last said, and since when the group's stored offset in it stands still.
 */
struct roster_partition {
	struct mentor_partition_extent extent;
	int64_t stored;           /* the group's stored next offset as last read, -1 before */
	int64_t still_since_us;   /* monotonic: when `stored` last moved */
};

/* One program's analytics (program.h): what include/mentor/analytics.h's analytics hold per program. */
struct an_program {
	const struct mentor_analytics_config *cfg;  /* borrowed */
	const struct mentor_event_rules *rules;     /* borrowed */
	char *group;                                /* owned */
	char *program;                              /* owned; the program decided: every row read and written is its */
	struct mentor_detector *det;                /* owned */
	int keep_days;                              /* the days each key of det keeps (an_keep_days when made) */
	struct mentor_kpi_set *kpi;                 /* owned */
	struct metric_scale *scales;                /* owned */
	size_t n_scales;
	struct mentor_source_times closed;          /* each source evaluated up to here */
	struct mentor_source_times next_closed;     /* the caller's watermarks for the next batch */
	int64_t last_round_us;
	int64_t kpi_closed_day;                     /* KPI windows that take no observation decided on this day
						       of decision or later are final (an_close_kpis) */
	int64_t decided_newest_us;                  /* the newest decision time evaluated; NO_TIME: none */
	int64_t past_written_from_us;               /* status_past holds no state of a decision before this */
	bool counts_stale;                          /* triggers or pairings changed: recount the gauges */
	struct mentor_analytics_gauges gauges;
	char *topics[MENTOR_EVENT_KIND_COUNT];      /* owned; the topic of each kind of event */
	struct roster_partition *roster;            /* owned; the roster topic's partitions, as last told */
	size_t n_roster;
	int64_t agents_seen_us;                     /* newest agents.updated_at seen */
	int stages_pid;                             /* backend that has the staging tables, 0: none */
	bool leader;                                /* holds the program's analytics lock */
	bool may_take;                              /* may take the lock (lib/instances.h: below its share) */
	bool need_load;                             /* memory not (or no longer) that of the tables */
	struct owned_partition *owned;              /* owned; the partitions this instance consumes */
	struct pending_fatal *fatal;                /* owned */
	size_t n_fatal, cap_fatal;
	size_t n_owned;
	bool early_ok;                              /* the last catch-up read nothing, saw no other instance,
						       and the partitions this instance consumes are the same */
	bool early_observed;                        /* batch_early fed the batch's events of the program ... */
	bool early_ran;                             /* ... and evaluated waiting observations ... */
	struct mentor_source_times early_until;     /* ... each source up to this time */
	unsigned char *early_seen;                  /* owned; per event of the batch, fed by batch_early */
	struct run_staged early_staged;             /* what it staged, for the hook's run */
	struct mentor_source_times pause_after;     /* the group's backpressure (analytics_pause): as read with the
						       lock, or as this decider set it; INT64_MAX: none */
	bool pause_synced;                          /* pause_after is what the table holds for this decider */
	int64_t pause_checked_us;                   /* monotonic time a pause of everything was last looked at */
	int64_t lead_checked_us;                    /* monotonic time a non-decider last checked the lock between
						       batches; NO_TIME: never */
	bool rounds_left;                           /* the last run stopped at max_rounds_per_call with rounds due */
	mentor_analytics_progress_fn progress;      /* may be NULL */
	void *progress_ctx;
};

/* One program's part of a batch, tick or finish (program.h). */
struct run {
	struct an_program *an;
	struct mentor_store *s;
	struct mentor_error *err;
	int stages_made;            /* backend pid whose staging tables this run created, 0: none */
	struct run_staged staged;   /* owned; freed by an_run_end */
	bool round_ran;             /* a round ran: the changed provisional KPI rows are written at the end */
	bool deciding;              /* prepared: this instance decides the program and is caught up */
	struct mentor_source_times until;   /* each source is evaluated up to here */
	struct mentor_source_times others;  /* an_catch_up's bounds from the partitions other instances consume */
};

/* Rows a load reads between two progress calls (mentor_analytics_set_progress). */
#define AN_PROGRESS_ROWS 4096

/* Tells the caller that long work goes on, every AN_PROGRESS_ROWS rows i. */
static inline void an_progress_row(const struct an_program *an, int i)
{
	if (an->progress && i % AN_PROGRESS_ROWS == AN_PROGRESS_ROWS - 1)
		an->progress(an->progress_ctx);
}

/* The longest allowed lateness of any source. */
static inline int64_t an_lateness_max(const struct an_program *an)
{
	int64_t most = 0;

	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (an->rules->lateness_us[kind] > most)
			most = an->rules->lateness_us[kind];
	return most;
}

/* t rounded down to a multiple of step. */
static inline int64_t an_floor_to(int64_t t, int64_t step)
{
	int64_t q0 = t / step;

	return (t % step < 0 ? q0 - 1 : q0) * step;
}

/* The time of the first pairing round not run yet; NO_TIME before rounds count. */
static inline int64_t an_next_round(const struct an_program *an)
{
	if (an->last_round_us == NO_TIME)
		return NO_TIME;
	return an_floor_to(an->last_round_us, an->cfg->round_interval_us) + an->cfg->round_interval_us;
}

/* Every source at t. */
static inline struct mentor_source_times an_all_at(int64_t t)
{
	struct mentor_source_times w;

	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		w.us[kind] = t;
	return w;
}

/* The least of the two sources' times: every source is decided that far, so pairing rounds run behind it. */
static inline int64_t an_least(const struct mentor_source_times *w)
{
	return w->us[MENTOR_EVENT_VOC] < w->us[MENTOR_EVENT_AQM] ? w->us[MENTOR_EVENT_VOC] : w->us[MENTOR_EVENT_AQM];
}

/* Each source's lesser time of a and b. */
static inline struct mentor_source_times an_lesser(const struct mentor_source_times *a,
						   const struct mentor_source_times *b)
{
	struct mentor_source_times w;

	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		w.us[kind] = a->us[kind] < b->us[kind] ? a->us[kind] : b->us[kind];
	return w;
}

/*
 * Lowers w's time of the source `kind` (both for a kind of no source) to a
 * partition's newest event time (INT64_MIN: none) minus the source's
 * allowed lateness.
 */
static inline void an_lower_source(struct mentor_source_times *w, enum mentor_event_kind kind, int64_t newest_us,
				   const int64_t lateness_us[MENTOR_EVENT_KIND_COUNT])
{
	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++) {
		int64_t t = newest_us;

		if (k == MENTOR_EVENT_ROSTER || (kind != MENTOR_EVENT_KIND_COUNT && k != (int)kind))
			continue;
		if (t != INT64_MIN && kind != MENTOR_EVENT_KIND_COUNT)
			t -= lateness_us[k];
		if (t < w->us[k])
			w->us[k] = t;
	}
}

/* Event time in microseconds, from a timestamptz column named in SQL. */
#define US_OF(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

/*
 * How far one source is evaluated at most beyond the other (the pairing
 * rounds' frontier): the longest allowed lateness and a day. A source of
 * surveys allowed 72 hours does not hold evaluations back; a topic read to
 * its end in a drain long before the other waits for it, so that a round
 * still finds the days it reads (an_keep_days) and the states it needs.
 */
static inline int64_t an_source_lead_us(const struct an_program *an)
{
	return an_lateness_max(an) + MENTOR_US_PER_DAY;
}

/*
 * Days each key keeps in the detector: the status window, the KPI before
 * window read when a window opens, and the after window rebuilt from memory
 * at a restart, with the lead one source may have on the rounds.
 */
static inline int an_keep_days(const struct an_program *an)
{
	const struct mentor_analytics_config *cfg = an->cfg;
	int w = cfg->stats.shrink.window_days, b = cfg->stats.kpi.before_days, a = cfg->stats.kpi.after_days;
	int most = w > b ? w : b;

	return (most > a ? most : a) + 2 + (int)((an_source_lead_us(an) + MENTOR_US_PER_DAY - 1) / MENTOR_US_PER_DAY);
}

/*
 * closed with each source held to the lead it may have on the lesser
 * (an_source_lead_us); a source without a watermark yet holds the other.
 */
static inline struct mentor_source_times an_within_lead(const struct an_program *an,
							struct mentor_source_times closed)
{
	int64_t least = an_least(&closed), lead = an_source_lead_us(an);
	int64_t cap = least == INT64_MAX || least > INT64_MAX - lead ? INT64_MAX : least == INT64_MIN ? INT64_MIN
															  : least + lead;

	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (closed.us[kind] > cap)
			closed.us[kind] = cap;
	return closed;
}

#endif
