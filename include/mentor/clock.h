/* The one clock for intervals (commit times, batch ages, liveness): CLOCK_MONOTONIC, which wall-clock changes do not move. */
#ifndef MENTOR_CLOCK_H
#define MENTOR_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Microseconds on the monotonic clock; only differences mean anything. */
static inline int64_t mentor_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
