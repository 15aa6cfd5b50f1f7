/*
 * The analytics in event time: each source's observations evaluated up to
 * a time, and when pairing rounds fall due. Internal to lib/.
 */
#include "advance.h"

#include "analytics_int.h"
#include "analytics_write.h"

int an_advance(struct run *r, const struct mentor_source_times *until)
{
	struct mentor_detect_sink sink = an_detect_sink(r);
	int64_t next = an_next_round(r->an);

	mentor_detector_keep_past(r->an->det, next == NO_TIME ? INT64_MAX : next);
	return mentor_detector_advance(r->an->det, until->us, &sink, r->err);
}

/* Rounds count from the interval of the first observation that ever waits. */
void an_start_rounds(struct an_program *an)
{
	if (an->last_round_us == NO_TIME && mentor_detector_waiting(an->det) > 0)
		an->last_round_us = an_floor_to(mentor_detector_oldest_waiting(an->det), an->cfg->round_interval_us);
}

int64_t an_round_due(const struct an_program *an, int64_t closed_us, int64_t newest_us)
{
	int64_t next = an_next_round(an);

	if (next == NO_TIME)
		return NO_TIME;
	return next > closed_us || next > newest_us ? NO_TIME : next;
}
