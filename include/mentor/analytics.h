/*
 * The analytics core on the stream (SPEC sections 2 to 5, docs/analytics.md):
 * status per agent and behavior, low-score and fatal triggers, pairing
 * rounds, KPI deltas and the program effect, written to PostgreSQL in the
 * same transaction as the events that caused them.
 *
 * Everything is decided per program (SPEC section 2): a struct
 * mentor_analytics holds, for each program of the group, a detector
 * (detect.h) and the KPI windows being accumulated, rebuilt from the tables
 * by mentor_analytics_load(). A program is added when its first event is
 * stored; the program "default" always exists. Its batch hook runs inside the ingest transaction: a rolled-back transaction
 * leaves the memory ahead of the tables, so after any failed commit the
 * caller loads again before retrying. No logging or globals; the monotonic
 * clock only spaces the lock checks of an instance that does not decide.
 */
#ifndef MENTOR_ANALYTICS_H
#define MENTOR_ANALYTICS_H

#include <stdbool.h>
#include <stdint.h>

#include "mentor/batch.h"
#include "mentor/config.h"
#include "mentor/consumer.h"
#include "mentor/error.h"
#include "mentor/events.h"
#include "mentor/pairing.h"
#include "mentor/stats.h"
#include "mentor/store.h"

struct mentor_analytics;

/* Programs one deployment decides at most; a batch with more fails (MENTOR_ERR_INVALID). */
#define MENTOR_ANALYTICS_PROGRAMS_MAX 1000

/*
 * Allocates the analytics of one consumer group (group is copied); cfg (its
 * [analytics], [detect], [pairing], [kpi] and program sections, its rules
 * and topics) is borrowed and must outlive it (the daemon's configuration).
 * MENTOR_OK, _INVALID or _NOMEM.
 */
int mentor_analytics_new(const struct mentor_config *cfg, const char *group, struct mentor_analytics **ret,
			 struct mentor_error *err);

void mentor_analytics_free(struct mentor_analytics *an);

/*
 * Called during long work (every few thousand rows of a load, between
 * pairing rounds), so the caller can show it is alive (a watchdog). It must
 * not call back into the analytics or the store.
 */
typedef void (*mentor_analytics_progress_fn)(void *ctx);
void mentor_analytics_set_progress(struct mentor_analytics *an, mentor_analytics_progress_fn fn, void *ctx);

/*
 * Uses a new configuration (a reload) from the next batch on: each
 * program its own settings (mentor_config_program). A program whose window
 * got longer loads again (needs_load), so that it does not decide on
 * history cut short. cfg must be valid (mentor_config_validate); should a
 * program's detector not take it (out of memory), that program loads again
 * too and the error is returned: either way every program decides by cfg
 * from then on, and nothing points into the configuration used before.
 */
int mentor_analytics_set_config(struct mentor_analytics *an, const struct mentor_config *cfg,
				struct mentor_error *err);

/*
 * One instance of a group decides each program: the one holding the
 * program's analytics lock (a PostgreSQL advisory lock, taken by load() and
 * by every batch). The others store only; the decider reads the events
 * they stored (analytics_offsets says how far it has read each partition),
 * and its watermark waits for their partitions.
 *
 * load() reads which programs the group's tables know, takes each
 * program's lock if it is free and, for each program whose lock this
 * instance holds, forgets the memory and rebuilds it from the tables
 * (analytics_state, agents, agent_daily, score_events of the open day,
 * agent_behavior_status, behavior_priors, the KPI rows not final) in one
 * snapshot. MENTOR_OK (also when another instance decides), MENTOR_ERR_DB
 * or _NOMEM.
 */
int mentor_analytics_load(struct mentor_analytics *an, struct mentor_store *store, struct mentor_error *err);

/*
 * The watermarks for the next batch, per source: every score event of a
 * source decided before its time has arrived (mentor_consumer_watermark's).
 * Each is evaluated behind its own, so the lateness of surveys does not
 * hold back decisions on evaluations; pairing rounds, which read both, run
 * behind the lesser. They never go back.
 */
void mentor_analytics_set_closed(struct mentor_analytics *an, const struct mentor_source_times *closed);

/* True when this instance became the decider of a program and must load() before its next batch. */
bool mentor_analytics_needs_load(const struct mentor_analytics *an);

/* A partition this instance consumes. */
struct mentor_analytics_partition {
	const char *topic;
	int32_t partition;
};

/*
 * The partitions this instance consumes (copied): the others' newest event
 * times, as stored, bound the watermark. MENTOR_OK or MENTOR_ERR_NOMEM.
 */
int mentor_analytics_set_owned(struct mentor_analytics *an, const struct mentor_analytics_partition *parts,
			       size_t n, struct mentor_error *err);

/*
 * The roster topic's partitions and their extents, as the broker last said
 * (copied). Roster updates carry no event time, so the decider holds the
 * watermark while a roster partition another instance consumes is stored
 * short of its end: decisions see the roster as it was published before
 * them, whichever instance reads it (its own roster partitions hold the
 * watermark through mentor_consumer_watermark). A stored offset that stands
 * still short of the end for MENTOR_ROSTER_STILL_SECONDS stops holding it (a
 * transaction marker at the end of the partition is never stored; an
 * instance that cannot store must not stop every decision). Until first
 * told, nothing is held this way. MENTOR_OK or MENTOR_ERR_NOMEM.
 */
#define MENTOR_ROSTER_STILL_SECONDS 60
int mentor_analytics_set_roster_extents(struct mentor_analytics *an, const struct mentor_partition_extent *extents,
				       size_t n, struct mentor_error *err);

/*
 * The analytics' part of a batch commit (a struct mentor_store_batch_hook
 * with ctx a struct mentor_analytics_batch, which the caller zeroes before
 * the batch's first commit attempt):
 *
 * batch_early feeds the batch's observations to the detector before the
 * events are inserted, while PostgreSQL still stores them, taking every
 * event for new but the store's suspects (ids stored lately); when only
 * this instance stores the group's events and the batch has no roster
 * rows, it also evaluates them up to the batch's first pairing round, and
 * stages what that decides for the hook to write.
 *
 * batch_hook, in the batch's transaction, feeds them if batch_early did
 * not; if it did, it takes back the observations of the events that were
 * stored before and feeds the suspects that were not (a repeat costs no
 * load, unless one older than a window of recent ids was evaluated
 * already: then the memory is loaded again after the commit). It then
 * evaluates up to the watermark, runs the pairing rounds whose time has
 * come, and writes every changed row.
 */
struct mentor_analytics_batch {
	struct mentor_analytics *an;
	const struct mentor_batch *batch;
	bool early;  /* batch_early ran for the batch */
};
int mentor_analytics_batch_early(void *ctx, const unsigned char *suspects, struct mentor_error *err);
int mentor_analytics_batch_hook(void *ctx, struct mentor_store *store, const unsigned char *stored,
				struct mentor_error *err);

/*
 * Between batches: when the watermark has moved (set_closed) and
 * observations wait, or the group's backpressure as published is not this
 * decider's, evaluates them in a transaction of its own, so that a quiet
 * stream still decides its last events. For a program it does not decide,
 * the instance checks the lock instead, at most once a second, in a
 * transaction of its own: it learns the program's backpressure
 * (mentor_analytics_pause_after) while paused, and becomes its decider when
 * the lock is free and the instance is below its fair share (then
 * needs_load()). The programs are spread over the group's instances
 * (docs/analytics.md "Programs"): each decides at most the programs divided
 * by the instances, rounded up, and gives back what it holds beyond that
 * here or at a batch. MENTOR_OK when there is nothing to do; else as
 * finish().
 */
int mentor_analytics_tick(struct mentor_analytics *an, struct mentor_store *store, struct mentor_error *err);

/*
 * True when the last batch or tick ran max_rounds_per_call pairing rounds
 * and stopped with more due (a long catch-up): the caller ticks again once
 * it has polled, and tick() runs the next ones. The tables come out the
 * same whatever the bound: the evaluation stops at the last round's time.
 */
bool mentor_analytics_rounds_left(const struct mentor_analytics *an);

/*
 * Backpressure for the whole group (docs/analytics.md): while the decider
 * holds max_waiting_observations or more observations waiting for the
 * watermarks, the event time, per source, past which every instance pauses
 * its partitions of that source (those whose newest stored event is after
 * it: reading them cannot move the source's watermark), as the decider last
 * published it (analytics_pause) and this instance last read it (every
 * batch, every tick); MENTOR_ANALYTICS_NO_PAUSE below the bound or with the
 * analytics off.
 */
#define MENTOR_ANALYTICS_NO_PAUSE INT64_MAX
struct mentor_source_times mentor_analytics_pause_after(const struct mentor_analytics *an);

/* True when this instance decides a program of its group (holds its lock, as of its last transaction). */
bool mentor_analytics_decides(const struct mentor_analytics *an);

/*
 * The programs this instance knows, in name order (for /metrics): how many,
 * the name of program i (borrowed, valid until the next batch, tick or
 * load), and whether this instance decides it.
 */
size_t mentor_analytics_program_count(const struct mentor_analytics *an);
const char *mentor_analytics_program_name(const struct mentor_analytics *an, size_t i);
bool mentor_analytics_program_decided(const struct mentor_analytics *an, size_t i);

/*
 * The end of a drain: evaluates everything and runs a last pairing round of
 * every program at the newest event time, in its own transaction. One
 * instance closes the drain: the decider of the program 'default' (this
 * one, if nobody is), which takes every program as the others give theirs
 * back. Sets *ret_done once this instance may exit: it does not close (it
 * gives its programs back), or it closes and has run the last rounds,
 * deciding every program, with every partition of the group assigned to it
 * and read to the end. One that still waits for another instance's
 * programs or partitions gets false, and the caller keeps consuming, so
 * they come to it when that instance leaves. A second call with no new
 * events changes nothing. MENTOR_OK, MENTOR_ERR_DB or MENTOR_ERR_NOMEM.
 */
int mentor_analytics_finish(struct mentor_analytics *an, struct mentor_store *store, bool *ret_done,
			    struct mentor_error *err);

/* Gauges for /metrics, as of the last commit. */
struct mentor_analytics_gauges {
	int64_t open_triggers;     /* open or waiting */
	int64_t active_pairings;
	int64_t waiting_observations;
	int64_t closed_us;         /* the lesser watermark of the two sources; INT64_MIN before any */
	int64_t event_time_us;     /* newest event time decided */
};
void mentor_analytics_gauges(const struct mentor_analytics *an, struct mentor_analytics_gauges *ret);

#endif
