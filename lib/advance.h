/*
 * The analytics in event time: each source's observations evaluated up to
 * its watermark, with the fatal events decided and the pairing rounds that
 * fall due on the way, once every source has passed them. Internal to lib/.
 */
#ifndef MENTOR_ADVANCE_H
#define MENTOR_ADVANCE_H

#include "analytics_int.h"

/*
 * Evaluates the waiting observations of each source before its time in
 * until (no rounds). Decisions from the next round's time on keep the
 * state they replace, for that round to read.
 */
int an_advance(struct run *r, const struct mentor_source_times *until);

/* Rounds count from the interval of the first observation that ever waits. */
void an_start_rounds(struct mentor_analytics *an);

/* The next round's time if it has come by closed_us (see an_run_until), else NO_TIME. */
int64_t an_round_due(const struct mentor_analytics *an, int64_t closed_us);

/*
 * Evaluates each source up to its time in closed, running each round that
 * falls due on the way once every source has passed it.
 */
int an_run_until(struct run *r, struct mentor_source_times closed);

#endif
