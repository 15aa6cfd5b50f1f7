/*
 * The analytics in event time: the detector moved up to a watermark, with
 * the fatal events decided and the pairing rounds that fall due on the way.
 * Internal to lib/.
 */
#ifndef MENTOR_ADVANCE_H
#define MENTOR_ADVANCE_H

#include "analytics_int.h"

/* Evaluates the waiting observations before until_us (no rounds). */
int an_advance(struct run *r, int64_t until_us);

/* Rounds count from the interval of the first observation that ever waits. */
void an_start_rounds(struct mentor_analytics *an);

/* The next round's time if it has come by closed_us (see an_run_until), else NO_TIME. */
int64_t an_round_due(const struct mentor_analytics *an, int64_t closed_us);

/* Evaluates everything before closed_us, running each round that falls due on the way. */
int an_run_until(struct run *r, int64_t closed_us);

#endif
