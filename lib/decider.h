/*
 * One decider per consumer group: the instance that holds the group's
 * analytics lock reads what other instances stored (the catch-up) and feeds
 * the detector the observations of every batch. Internal to lib/.
 */
#ifndef MENTOR_DECIDER_H
#define MENTOR_DECIDER_H

#include "analytics_int.h"
#include "mentor/batch.h"
#include "store_int.h"

/*
 * Takes (when an->may_take) or keeps the program's analytics lock; sets
 * an->leader (and need_load on becoming it) and an->pause_after_us from the
 * program's analytics_pause row.
 */
int an_take_lead(struct run *r);

/*
 * Gives the program's analytics lock back (lib/instances.h: the instance
 * holds more than its share), outside any transaction that wrote the
 * program's rows, so that the next decider reads them all. MENTOR_OK or
 * MENTOR_ERR_DB; either way this instance decides it no more.
 */
int an_give_lead(struct an_program *an, struct mentor_store *s, struct mentor_error *err);

/*
 * The decider, after evaluating: writes the group's backpressure to
 * analytics_pause when it changed (a row while max_waiting_observations or
 * more observations wait, with the time past which partitions pause; none
 * below), and keeps it in an->pause_after_us. others: an_catch_up's bounds
 * from the partitions other instances consume. MENTOR_OK or MENTOR_ERR_DB.
 */
int an_publish_pause(struct run *r, const struct mentor_source_times *others);

/*
 * Catches up with the events other instances stored (or this one, before a
 * rebalance gave it their partitions), records how far every partition is
 * read, and returns in *ret_others, per source, the least newest event time
 * of the source's partitions this instance does not consume minus the
 * source's allowed lateness (INT64_MAX: none), which bounds its watermark;
 * *ret_read says whether it read any event. The batch's own events come
 * from the batch itself (an_observe_batch).
 */
int an_catch_up(struct run *r, const struct mentor_batch *b, struct mentor_source_times *ret_others, bool *ret_read);

/* Feeds the detector batch b's observations of its stored events (stored: as the batch hook gets it). */
int an_observe_batch(struct run *r, const struct mentor_batch *b, const unsigned char *stored);

/*
 * Settles what batch_early fed the detector (seen[i]: event i was fed;
 * NULL: all) with what the store found (stored: as the batch hook gets it,
 * NULL: all new): takes back the observations of the fed events that were
 * stored before, and feeds those of the events not fed that are new.
 * evaluated: the times batch_early evaluated each source up to (INT64_MIN: nothing).
 * MENTOR_OK; MENTOR_ERR_INVALID if an observation to take back was not
 * waiting any more, or one to feed is not after evaluated_us (only a load
 * puts either right); MENTOR_ERR_NOMEM.
 */
int an_settle_early(struct run *r, const struct mentor_batch *b, const unsigned char *seen,
		    const unsigned char *stored, const struct mentor_source_times *evaluated);

#endif
