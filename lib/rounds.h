/*
 * Pairing rounds (SPEC section 3): what a round reads (open triggers,
 * roster, active pairings, mentor-eligible agents), the assignment
 * (lib/pairing.c), and the rows it writes. Internal to lib/.
 */
#ifndef MENTOR_ROUNDS_H
#define MENTOR_ROUNDS_H

#include "analytics_int.h"

/*
 * One pairing round at event time at_us: pairings that ended are completed,
 * those that lost an agent cancelled; open triggers still low are assigned
 * together; the program effect is recomputed.
 */
int an_run_round(struct run *r, int64_t at_us);

#endif
