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

struct mentor_analytics {
	const struct mentor_analytics_config *cfg;  /* borrowed */
	const struct mentor_event_rules *rules;     /* borrowed */
	char *group;                                /* owned */
	struct mentor_detector *det;                /* owned */
	struct mentor_kpi_set *kpi;                 /* owned */
	struct metric_scale *scales;                /* owned */
	size_t n_scales;
	int64_t closed_us;                          /* evaluated up to here */
	int64_t next_closed_us;                     /* the caller's watermark for the next batch */
	int64_t last_round_us;
	int64_t kpi_closed_day;                     /* newest day of decision evaluated: KPI windows that take no
						       observation decided on it are final (an_detect_sink) */
	bool counts_stale;                          /* triggers or pairings changed: recount the gauges */
	struct mentor_analytics_gauges gauges;
	char *topics[MENTOR_EVENT_KIND_COUNT];      /* owned; the topic of each kind of event */
	struct roster_partition *roster;            /* owned; the roster topic's partitions, as last told */
	size_t n_roster;
	int64_t agents_seen_us;                     /* newest agents.updated_at seen */
	int stages_pid;                             /* backend that has the staging tables, 0: none */
	bool leader;                                /* holds the group's analytics lock */
	bool need_load;                             /* memory not (or no longer) that of the tables */
	struct owned_partition *owned;              /* owned; the partitions this instance consumes */
	struct pending_fatal *fatal;                /* owned */
	size_t n_fatal, cap_fatal;
	size_t n_owned;
	bool early_ok;                              /* the last catch-up read nothing, saw no other instance,
						       and the partitions this instance consumes are the same */
	bool early_ran;                             /* batch_early evaluated waiting observations ... */
	int64_t early_until_us;                     /* ... up to this time */
	unsigned char *early_seen;                  /* owned; per event of the batch, fed by batch_early (NULL: all) */
	struct run_staged early_staged;             /* what it staged, for the hook's run */
	int64_t pause_after_us;                     /* the group's backpressure (analytics_pause): as read with the
						       lock, or as this decider set it; INT64_MAX: none */
	bool pause_synced;                          /* pause_after_us is what the table holds for this decider */
	int64_t pause_checked_us;                   /* monotonic time a pause of everything was last looked at */
	int64_t lead_checked_us;                    /* monotonic time a non-decider last checked the lock between
						       batches; NO_TIME: never */
	bool rounds_left;                           /* the last run stopped at max_rounds_per_call with rounds due */
	mentor_analytics_progress_fn progress;      /* may be NULL */
	void *progress_ctx;
};

/* One hook or finish call. */
struct run {
	struct mentor_analytics *an;
	struct mentor_store *s;
	struct mentor_error *err;
	int stages_made;            /* backend pid whose staging tables this run created, 0: none */
	struct run_staged staged;   /* owned; freed by run_end */
	bool round_ran;             /* a round ran: the changed provisional KPI rows are written at the end */
};

/* Rows a load reads between two progress calls (mentor_analytics_set_progress). */
#define AN_PROGRESS_ROWS 4096

/* Tells the caller that long work goes on, every AN_PROGRESS_ROWS rows i. */
static inline void an_progress_row(const struct mentor_analytics *an, int i)
{
	if (an->progress && i % AN_PROGRESS_ROWS == AN_PROGRESS_ROWS - 1)
		an->progress(an->progress_ctx);
}

/* The longest allowed lateness of any source. */
static inline int64_t an_lateness_max(const struct mentor_analytics *an)
{
	int64_t most = 0;

	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (an->rules->lateness_us[kind] > most)
			most = an->rules->lateness_us[kind];
	return most;
}

/* Event time in microseconds, from a timestamptz column named in SQL. */
#define US_OF(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

/*
 * Days each key keeps in the detector: the status window, the KPI before
 * window read when a window opens, and the after window rebuilt from memory
 * at a restart.
 */
static inline int an_keep_days(const struct mentor_analytics_config *cfg)
{
	int w = cfg->stats.shrink.window_days, b = cfg->stats.kpi.before_days, a = cfg->stats.kpi.after_days;
	int most = w > b ? w : b;

	return (most > a ? most : a) + 2;
}

#endif
