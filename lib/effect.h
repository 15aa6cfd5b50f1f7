/*
 * The program effect (SPEC section 4): final mentee windows against final
 * comparison windows, per behavior and metric, recomputed into
 * program_effect. Internal to lib/.
 */
#ifndef MENTOR_EFFECT_H
#define MENTOR_EFFECT_H

#include "analytics_int.h"

/* Recomputes program_effect from the final KPI rows as of as_of_us. */
int an_refresh_program_effect(struct run *r, int64_t as_of_us);

#endif
