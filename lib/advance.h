/*
 * The analytics in event time: each source's observations evaluated up to
 * a time, and when pairing rounds fall due. Internal to lib/.
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
void an_start_rounds(struct an_program *an);

/*
 * The next round's time if it has come, else NO_TIME. A round boundary B
 * comes once every source is evaluated before B (closed_us, the lesser
 * watermark, has passed it) and time has reached B: an observation of any
 * program decided at or after B exists (newest_us, the newest time seen of
 * every program a run decides), so the rounds of a replay are those of the
 * original run, and every program's rounds keep in step.
 */
int64_t an_round_due(const struct an_program *an, int64_t closed_us, int64_t newest_us);

#endif
