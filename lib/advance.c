/*
 * The analytics in event time: each source's observations evaluated up to
 * its watermark, with the fatal events decided and the pairing rounds that
 * fall due on the way. Internal to lib/.
 */
#include "advance.h"

#include "analytics_fatal.h"
#include "analytics_int.h"
#include "analytics_write.h"
#include "rounds.h"

int an_advance(struct run *r, const struct mentor_source_times *until)
{
	struct mentor_detect_sink sink = an_detect_sink(r);
	int64_t next = an_next_round(r->an);

	mentor_detector_keep_past(r->an->det, next == NO_TIME ? INT64_MAX : next);
	return mentor_detector_advance(r->an->det, until->us, &sink, r->err);
}

/* Rounds count from the interval of the first observation that ever waits. */
void an_start_rounds(struct mentor_analytics *an)
{
	if (an->last_round_us == NO_TIME && mentor_detector_waiting(an->det) > 0)
		an->last_round_us = an_floor_to(mentor_detector_oldest_waiting(an->det), an->cfg->round_interval_us);
}

int64_t an_round_due(const struct mentor_analytics *an, int64_t closed_us)
{
	int64_t next = an_next_round(an);

	if (next == NO_TIME)
		return NO_TIME;
	return next > closed_us || next > mentor_detector_newest_seen(an->det) ? NO_TIME : next;
}

/*
 * Evaluates each source before its time in closed. Each round boundary B
 * on the way runs once every source is evaluated before B, and only once
 * time has reached B (an observation at or after B exists), so the rounds
 * of a replay are those of the original run; a source evaluated beyond B
 * already is read as of B (the detector kept the states its later decisions
 * replaced). After max_rounds_per_call rounds with more due, a source not
 * evaluated beyond the last round's time stops there (rounds_left): rounds
 * read only low-score triggers and the detector's state as of their time,
 * so the next call continues with the same outcome.
 */
int an_run_until(struct run *r, struct mentor_source_times closed)
{
	struct mentor_analytics *an = r->an;
	int64_t next;
	int rounds = 0, rc = MENTOR_OK;

	closed = an_within_lead(an, closed);
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (closed.us[kind] < an->closed.us[kind])
			closed.us[kind] = an->closed.us[kind];
	an_start_rounds(an);
	an->rounds_left = false;
	while (rc == MENTOR_OK && (next = an_round_due(an, an_least(&closed))) != NO_TIME) {
		struct mentor_source_times at = an_all_at(next);

		if (rounds++ == an->cfg->max_rounds_per_call) {
			an->rounds_left = true;
			for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
				closed.us[kind] = an->last_round_us > an->closed.us[kind] ? an->last_round_us
											 : an->closed.us[kind];
			break;
		}
		if (rounds > 1 && an->progress)
			an->progress(an->progress_ctx);
		rc = an_advance(r, &at);
		if (rc == MENTOR_OK) {
			an_close_kpis(an, next);
			rc = an_run_round(r, next, false);
		}
	}
	if (rc == MENTOR_OK)
		rc = an_advance(r, &closed);
	if (rc == MENTOR_OK)
		rc = an_decide_fatal(r, closed.us[MENTOR_EVENT_AQM]);
	if (rc == MENTOR_OK) {
		an->closed = closed;
		an_close_kpis(an, an_least(&closed) < an->decided_newest_us ? an_least(&closed) : an->decided_newest_us);
	}
	return rc;
}
