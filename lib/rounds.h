/*
 * Pairing rounds (SPEC section 3): what a round reads (open triggers,
 * roster, active pairings, mentor-eligible agents), the assignment
 * (lib/pairing.c), and the rows it writes. Internal to lib/.
 */
#ifndef MENTOR_ROUNDS_H
#define MENTOR_ROUNDS_H

#include "analytics_int.h"

/*
 * Writes the staged low-score triggers, then resolves as `refired` each open
 * or waiting one that a newer trigger of its agent and behavior fired before
 * before_us (INT64_MAX: any) supersedes, at the earliest such trigger's
 * fired_at. MENTOR_OK, MENTOR_ERR_DB or MENTOR_ERR_NOMEM.
 */
int an_resolve_refired(struct run *r, int64_t before_us);

/*
 * One pairing round at event time at_us: triggers fired before it supersede
 * older ones (an_resolve_refired); pairings that ended are completed, those
 * that lost an agent cancelled; open triggers still low are assigned
 * together; the program effect is recomputed. Keys are read as of at_us (a
 * source may be evaluated beyond it), or with everything decided for the
 * last round of a drain (last).
 */
int an_run_round(struct run *r, int64_t at_us, bool last);

#endif
