/* The daemon's one clock for intervals: CLOCK_MONOTONIC, which wall-clock changes do not move. */
#ifndef MENTORD_CLOCK_H
#define MENTORD_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
