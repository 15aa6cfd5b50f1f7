/*
 * The roster as the analytics see it: agents' active flags read from the
 * agents table into the detector. Internal to lib/.
 */
#ifndef MENTOR_ANALYTICS_ROSTER_H
#define MENTOR_ANALYTICS_ROSTER_H

#include "analytics_int.h"

/* Reads the agents changed since the last read into the detector. */
int an_refresh_agents(struct run *r);

/* Reads every roster-known agent's active flag into the detector (the others are inactive). */
int an_set_agents(struct run *r);

#endif
