/*
 * What the unit tests (tests/unit/test_*.c) share: cmocka's headers in the
 * order it needs them, comparisons of doubles, a seeded generator, the SPEC
 * example time and times within a UTC day. Every function is static inline,
 * so a test that uses only some of them builds without unused warnings.
 */
#ifndef MENTOR_TEST_UTIL_H
#define MENTOR_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "mentor/stats.h"

/*
 * 2026-11-02T14:05:11Z, the time of the SPEC examples, and its UTC day, a
 * Monday: python3 -c 'from datetime import *; print((datetime(2026,11,2,14,5,11,
 * tzinfo=timezone.utc) - datetime(1970,1,1,tzinfo=timezone.utc)) // timedelta(microseconds=1))'
 * and date -u -d 2026-11-02T14:05:11Z +%s = 1793628311; 1793628311 // 86400 = 20759.
 */
#define SPEC_TS_US INT64_C(1793628311000000)
#define SPEC_DAY INT64_C(20759)

#define MINUTE INT64_C(60000000)
#define HOUR INT64_C(3600000000)

/* scipy.stats.norm.ppf(0.95), scipy 1.17.1: the z of a 90% two-sided interval (the status default). */
#define Z90 1.6448536269514722

/* cmocka 1.1 compares only floats; doubles need their own check. */
#define assert_near(actual, expected, tol) \
	near_at((actual), (expected), (tol), #actual, __FILE__, __LINE__)
/* Relative to the expected value, absolute below 1. */
#define assert_rel(actual, expected, rel) \
	near_at((actual), (expected), (rel) * fmax(1.0, fabs(expected)), #actual, __FILE__, __LINE__)

static inline void near_at(double actual, double expected, double tol, const char *what, const char *file, int line)
{
	if (!(fabs(actual - expected) <= tol))
		fail_msg("%s:%d: %s = %.17g, expected %.17g within %g", file, line, what, actual, expected, tol);
}

/* splitmix64 (Steele, Lea and Flood 2014): seeded, so generated cases are the same on every run. */
static inline uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* The time `us` microseconds into UTC day `day`. */
static inline int64_t at(int64_t day, int64_t us)
{
	return day * MENTOR_US_PER_DAY + us;
}

#endif
