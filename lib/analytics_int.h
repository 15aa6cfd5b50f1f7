/*
 * Internal to the analytics (lib/analytics.c, lib/rounds.c): the state they
 * share and the helpers both use. Not installed; include/mentor/analytics.h
 * is the contract.
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
	int64_t t_us;
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
	bool counts_stale;                          /* triggers or pairings changed: recount the gauges */
	struct mentor_analytics_gauges gauges;
	char *roster_topic;                         /* owned */
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
	bool early_ran;                             /* batch_early evaluated this batch's observations */
	struct run_staged early_staged;             /* what it staged, for the hook's run */
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

/* Event time in microseconds, from a timestamptz column named in SQL. */
#define US_OF(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

/* ---- Helpers (lib/analytics.c) ---- */

/* MENTOR_ERR_NOMEM with a message. */
int an_nomem(struct mentor_error *err);

/* Makes room for item n of *items (size bytes each, first items at first); false when out of memory. */
bool an_grow(void **items, size_t *cap, size_t n, size_t size, size_t first);

/* A timestamp PostgreSQL reads ("2026-11-02 14:05:11.000000+00"), or +-infinity for INT64_MAX/MIN. */
void an_time_text(int64_t us, char out[TIME_TEXT]);

/* A number as a query parameter; NULL (SQL NULL) when not finite. */
const char *an_num_text(double v, char out[NUM_TEXT]);
const char *an_int_text(int64_t v, char out[NUM_TEXT]);

/* Result columns: NULL as NO_TIME, NaN, NULL. */
int64_t an_get_i64(const PGresult *res, int row, int col);
double an_get_f(const PGresult *res, int row, int col);
const char *an_get_s(const PGresult *res, int row, int col);

/*
 * Sends t's COPY rows (if any) with `copy`, then runs `then` (which reads
 * them from their staging table), and frees t's buffer in every case. With
 * at_commit, `then` runs at the transaction's commit (mentor_store_defer):
 * for writes nothing later in the transaction reads, so that PostgreSQL
 * makes them while mentord reads the next batch.
 */
int an_copy(struct run *r, struct text_buf *t, const char *copy, const char *then, bool at_commit,
	    const char *what);

/* Appends one element to a PostgreSQL array literal being built in f ("{" before the first). */
void an_array_item(FILE *f, bool first, const char *text);

/* One parameterized statement in the run's transaction (mentor_store_exec). */
int an_q(struct run *r, const char *sql, int n, const char *const *values, const char *what, PGresult **ret);

/* A metric's native scale (metrics table); 0..1 if unknown. MENTOR_OK or MENTOR_ERR_DB. */
int an_scale_of(struct run *r, const char *metric, struct mentor_scale *ret);

/* A JSON number, or null when not finite. */
json_t *an_json_num(double v);

/* Stages one alert (kind:cause_id) for the run's end; fields (consumed) are the kind's own. */
int an_insert_alert(struct run *r, const char *kind, const char *cause_id, const char *agent_id, int64_t occurred_us,
		    const char *behavior, json_t *fields);

/* Writes the low-score triggers staged since the last call: before a round reads them, and at the end. */
int an_flush_triggers(struct run *r);

/* Opens one subject's KPI windows around start_us, with the sums the detector holds. */
int an_open_windows(struct run *r, const char *owner_id, bool comparison, const char *subject, const char *agent_id,
		    const char *behavior, int64_t start_us);

/* Which changed KPI windows a write takes, besides the final ones. */
struct an_kpi_pick {
	bool all;                        /* every changed window */
	const char *const *pairings;     /* else those of these pairings, in strcmp order (borrowed) */
	size_t n_pairings;
};

/*
 * Closes the windows whose after window has passed and writes the changed
 * ones pick takes (NULL: the final ones and those never written); at_commit
 * as an_copy's, for the last write of a transaction. MENTOR_OK,
 * MENTOR_ERR_DB or MENTOR_ERR_NOMEM.
 */
int an_write_kpis(struct run *r, const struct an_kpi_pick *pick, bool at_commit);

/* Reads every agent's roster active flag into the detector. */
int an_set_agents(struct run *r);

/* Days each key keeps in the detector for cfg. */
int an_keep_days(const struct mentor_analytics_config *cfg);

/* Takes or keeps the group's analytics lock; sets an->leader (and need_load on becoming it). */
int an_take_lead(struct run *r);

/* Reads the metrics table's scales. MENTOR_OK or MENTOR_ERR_DB/_NOMEM. */
int an_load_scales(struct run *r);

/* Reads the open-trigger and active-pairing gauges. */
int an_count_open(struct run *r);

/* Drops what an early evaluation staged; the next batch is evaluated in its hook (after a load). */
void an_forget_early(struct mentor_analytics *an);

/* Remembers a stored event with fatal items until the watermark passes it; an_free_fatal forgets them all. */
int an_add_fatal(struct run *r, const char *event_id, size_t len, int64_t t_us);
void an_free_fatal(struct mentor_analytics *an);

/* ---- Pairing rounds (lib/rounds.c) ---- */

/*
 * One pairing round at event time at_us (SPEC section 3): pairings that
 * ended are completed, those that lost an agent cancelled; open triggers
 * still low are assigned together; the program effect is recomputed.
 */
int an_run_round(struct run *r, int64_t at_us);

#endif
