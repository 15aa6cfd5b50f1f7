/*
 * What a run writes: the alerts, low-score triggers and priors its decisions
 * stage, the KPI windows they open, and, through staging tables and MERGE,
 * the changed status rows, KPI rows and the analytics state. Internal to lib/.
 */
#ifndef MENTOR_ANALYTICS_WRITE_H
#define MENTOR_ANALYTICS_WRITE_H

#include "analytics_int.h"

/* Stages one alert (kind:cause_id) for the run's end; fields (consumed) are the kind's own. */
int an_insert_alert(struct run *r, const char *kind, const char *cause_id, const char *agent_id, int64_t occurred_us,
		    const char *behavior, json_t *fields);

/* Writes the low-score triggers staged since the last call: before a round reads them, and at the end. */
int an_flush_triggers(struct run *r);

/*
 * The first day of decision a KPI window whose after window ends on
 * after_to_day no longer takes: after_to_day plus the allowed lateness in
 * whole days, rounded up. The one place that says it (opening, restart).
 */
int64_t an_kpi_decided_before_day(const struct an_program *an, int64_t after_to_day);

/* Opens one subject's KPI windows around start_us, with the sums the detector holds. */
int an_open_windows(struct run *r, const char *owner_id, bool comparison, const char *subject, const char *agent_id,
		    const char *behavior, int64_t start_us);

/* What the detector's decisions do in run r: stage triggers and priors, feed the KPI windows. */
struct mentor_detect_sink an_detect_sink(struct run *r);

/*
 * Marks final the KPI windows no observation still to come can enter: every
 * source is evaluated before frontier_us, so those that take no observation
 * decided on frontier_us's day or later. NO_TIME: none.
 */
void an_close_kpis(struct an_program *an, int64_t frontier_us);

/* Creates the session's staging tables if this backend lacks them (marked made at the run's end). */
int an_create_stages(struct run *r);

/*
 * Sends t's COPY rows (if any) with `copy`, then runs `then` (which reads
 * them from their staging table; NULL: none), and frees t's buffer in every case. With
 * at_commit, `then` runs at the transaction's commit (mentor_store_defer):
 * for writes nothing later in the transaction reads, so that PostgreSQL
 * makes them while mentord reads the next batch.
 */
int an_copy(struct run *r, struct text_buf *t, const char *copy, const char *then, bool at_commit,
	    const char *what);

/*
 * Closes the windows no observation still to come can change and writes the
 * changed ones: every one with all_changed, else the final ones and those
 * never written; at_commit as an_copy's, for the last write of a
 * transaction. MENTOR_OK, MENTOR_ERR_DB or MENTOR_ERR_NOMEM.
 */
int an_write_kpis(struct run *r, bool all_changed, bool at_commit);

/* Reads the open-trigger and active-pairing gauges. */
int an_count_open(struct run *r);

/* Writes everything the run changed: alerts, priors, triggers, status and KPI rows, the state. */
int an_write_changes(struct run *r);

/* Frees what st staged. */
void an_staged_free(struct run_staged *st);

/* Drops what an early evaluation staged; the next batch is evaluated in its hook (after a load). */
void an_forget_early(struct an_program *an);

#endif
