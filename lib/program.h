/*
 * One program's analytics (SPEC section 2: everything is per program):
 * its detector and KPI windows, its rows, its decider lock, how far it has
 * read every partition. lib/analytics.c holds one per program of a group
 * and runs them together (include/mentor/analytics.h); this is the part of
 * each. Internal to lib/.
 *
 * A run (struct run, analytics_int.h) is one program's part of a batch,
 * tick or drain's end, in the caller's transaction:
 *   prepare (an_batch_prepare or an_alone_prepare): takes the lock, reads
 *     what other instances stored, sets run->deciding and run->until;
 *   rounds, every program's in step (the caller's loop): an_run_due says
 *     when the next is due, an_run_round_at runs it, an_run_stop_rounds ends
 *     a call at max_rounds_per_call;
 *   an_run_evaluate: the rest up to run->until; at a drain's end,
 *     an_run_last_round;
 *   an_run_write: the rows; an_run_end frees the run.
 * Mentor capacity counts the pairings of every program, so rounds of one
 * time run program after program (in name order) before any later one: the
 * tables do not depend on how far each program had got.
 */
#ifndef MENTOR_PROGRAM_H
#define MENTOR_PROGRAM_H

#include <stdbool.h>

#include "analytics_int.h"

/*
 * Allocates the analytics of one program of a group (group, program and
 * topics are copied; cfg and rules borrowed). MENTOR_OK or _NOMEM.
 */
int an_program_new(const struct mentor_analytics_config *cfg, const struct mentor_event_rules *rules,
		   const char *group, const char *program, char *const topics[MENTOR_EVENT_KIND_COUNT],
		   struct an_program **ret, struct mentor_error *err);

/* Frees it; NULL is fine. */
void an_program_free(struct an_program *an);

/*
 * A new configuration (a reload), which the program decides by from now on.
 * A window made longer makes it load again, so that no history is cut
 * short; so does a detector that could not take the settings (its error is
 * returned).
 */
int an_program_set_config(struct an_program *an, const struct mentor_analytics_config *cfg, struct mentor_error *err);

/* As mentor_analytics_set_progress, set_owned, set_roster_extents and set_closed, for one program. */
void an_program_set_progress(struct an_program *an, mentor_analytics_progress_fn fn, void *ctx);
int an_program_set_owned(struct an_program *an, const struct mentor_analytics_partition *parts, size_t n,
			 struct mentor_error *err);
int an_program_set_roster_extents(struct an_program *an, const struct mentor_partition_extent *extents, size_t n,
				  struct mentor_error *err);
void an_program_set_closed(struct an_program *an, const struct mentor_source_times *closed);

/* As mentor_analytics_load, for one program (lib/analytics_load.c). */
int an_program_load(struct an_program *an, struct mentor_store *store, struct mentor_error *err);

/* Whether this instance decides the program and must load it first. */
bool an_program_needs_load(const struct an_program *an);

/* Whether this instance decides the program (holds its lock, as of its last transaction). */
bool an_program_decides(const struct an_program *an);

/* The last run stopped at max_rounds_per_call with rounds due. */
bool an_program_rounds_left(const struct an_program *an);

/* The backpressure of the program, as mentor_analytics_pause_after. */
struct mentor_source_times an_program_pause_after(const struct an_program *an);

/* Its gauges; waiting_observations, closed_us and event_time_us are this program's. */
void an_program_gauges(const struct an_program *an, struct mentor_analytics_gauges *ret);

/*
 * batch_early's part, without a connection: feeds the detector the events
 * of the batch that are the program's (mine[i]) but the store's suspects
 * (NULL: none); then an_early_evaluate evaluates what it can before the
 * program's first round due (newest_us: as an_round_due), when nothing the
 * hook reads first can change it, and stages its rows for the hook.
 */
int an_early_observe(struct run *r, const struct mentor_batch *b, const unsigned char *mine,
		     const unsigned char *suspects);
int an_early_evaluate(struct run *r, const struct mentor_batch *b, int64_t newest_us);

/*
 * Prepares the program's part of a batch, in its transaction; stored[i]:
 * event i is the program's and new (the batch hook's mask, and'ed with the
 * program's). MENTOR_OK also when this instance does not decide it
 * (run->deciding false), MENTOR_ERR_RETRY when the early evaluation must be
 * redone after a load, else an error.
 */
int an_batch_prepare(struct run *r, const struct mentor_batch *b, const unsigned char *stored);

/* Prepares a run with no batch (a tick, a drain's end), each source up to closed, in the caller's transaction. */
int an_alone_prepare(struct run *r, struct mentor_source_times closed);

/* The time of the program's next round due in this run (an_round_due), or NO_TIME. */
int64_t an_run_due(const struct run *r, int64_t newest_us);

/* Evaluates up to at_us and runs the round at at_us. */
int an_run_round_at(struct run *r, int64_t at_us);

/*
 * Ends the rounds of a call with more due: the rest of the run goes no
 * further than the last round's time. capped: at max_rounds_per_call
 * (an_program_rounds_left says so, and ticks come back at once); else they
 * wait for another instance's program, and the caller comes back.
 */
void an_run_stop_rounds(struct run *r, bool capped);

/* Evaluates each source up to run->until and decides the fatal items before it. */
int an_run_evaluate(struct run *r);

/* Whether the run has evaluated everything (a drain's end) with no round left. */
bool an_run_at_end(const struct run *r);

/* At a drain's end (an_run_at_end): every superseded trigger resolved, and a last round at newest_us. */
int an_run_last_round(struct run *r, int64_t newest_us);

/* Publishes the program's backpressure and writes every changed row. */
int an_run_write(struct run *r);

/* Frees what a run holds; returns rc. */
int an_run_end(struct run *r, int rc);

/*
 * An instance that does not decide the program checks its lock, in a
 * transaction of its own, at most once a second unless at_once: it learns
 * the program's backpressure while backpressure keeps it from having
 * batches, and takes the lead when nobody holds it and an->may_take (it
 * loads before deciding).
 */
int an_program_check_lead(struct an_program *an, struct mentor_store *store, bool at_once, struct mentor_error *err);

/* Gives the program's lock back (an_give_lead), outside a transaction; it decides it no more. */
int an_program_give_lead(struct an_program *an, struct mentor_store *store, struct mentor_error *err);

/* Says whether the instance may take the program's lock when it is free (lib/instances.h: its fair share). */
void an_program_may_take(struct an_program *an, bool may);

/*
 * Whether a tick must run the program: it decides it and the watermark
 * moved with observations waiting, rounds are left, or its published
 * backpressure is stale (mentor_analytics_tick).
 */
bool an_program_tick_due(struct an_program *an);

#endif
