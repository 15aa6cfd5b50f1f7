/*
 * The analytics in event time: the detector moved up to a watermark, with
 * the fatal events decided and the pairing rounds that fall due on the way.
 * Internal to lib/.
 */
#include "advance.h"

#include "analytics_fatal.h"
#include "analytics_int.h"
#include "analytics_write.h"
#include "rounds.h"

int an_advance(struct run *r, int64_t until_us)
{
	struct mentor_detect_sink sink = an_detect_sink(r);

	return mentor_detector_advance(r->an->det, until_us, &sink, r->err);
}

static int64_t floor_to(int64_t t, int64_t step)
{
	int64_t q0 = t / step;

	return (t % step < 0 ? q0 - 1 : q0) * step;
}

/* Rounds count from the interval of the first observation that ever waits. */
void an_start_rounds(struct mentor_analytics *an)
{
	if (an->last_round_us == NO_TIME && mentor_detector_waiting(an->det) > 0)
		an->last_round_us = floor_to(mentor_detector_oldest_waiting(an->det), an->cfg->round_interval_us);
}

/* The next round's time if it has come by closed_us (see an_run_until), else NO_TIME. */
int64_t an_round_due(const struct mentor_analytics *an, int64_t closed_us)
{
	int64_t step = an->cfg->round_interval_us, next;

	if (an->last_round_us == NO_TIME)
		return NO_TIME;
	next = floor_to(an->last_round_us, step) + step;
	return next > closed_us || next > mentor_detector_newest_seen(an->det) ? NO_TIME : next;
}

/*
 * Evaluates everything before closed_us. Each round boundary B on the way
 * runs once every observation before B is evaluated, and only once time
 * has reached B (an observation at or after B exists), so the rounds of a
 * replay are those of the original run. After max_rounds_per_call rounds
 * with more due, it stops at the last round's time (rounds_left): rounds
 * read only low-score triggers and the detector's state, which an
 * evaluation split at B leaves as it is, so the next call continues with
 * the same outcome.
 */
int an_run_until(struct run *r, int64_t closed_us)
{
	struct mentor_analytics *an = r->an;
	int64_t next;
	int rounds = 0, rc = MENTOR_OK;

	if (closed_us < an->closed_us)
		closed_us = an->closed_us;
	an_start_rounds(an);
	an->rounds_left = false;
	while (rc == MENTOR_OK && (next = an_round_due(an, closed_us)) != NO_TIME) {
		if (rounds++ == an->cfg->max_rounds_per_call) {
			an->rounds_left = true;
			closed_us = an->last_round_us > an->closed_us ? an->last_round_us : an->closed_us;
			break;
		}
		if (rounds > 1 && an->progress)
			an->progress(an->progress_ctx);
		rc = an_advance(r, next);
		if (rc == MENTOR_OK)
			rc = an_run_round(r, next);
	}
	if (rc == MENTOR_OK)
		rc = an_advance(r, closed_us);
	if (rc == MENTOR_OK)
		rc = an_decide_fatal(r, closed_us);
	if (rc == MENTOR_OK)
		an->closed_us = closed_us;
	return rc;
}
