/* Calendar arithmetic in UTC, free of the process's time zone and locale (unlike mktime and timegm). Internal to lib/. */
#ifndef MENTOR_CIVIL_H
#define MENTOR_CIVIL_H

#include <stdint.h>

/*
 * Days from 1970-01-01 to y-m-d (m 1..12, d 1..31) in the proleptic
 * Gregorian calendar, negative before it: Howard Hinnant's
 * days_from_civil, exact for any year.
 */
static inline int64_t mentor_days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

#endif
