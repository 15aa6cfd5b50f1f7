/*
 * The analytics' memory rebuilt from PostgreSQL (an_program_load): at
 * start, after a failed commit, and when an instance becomes the group's
 * decider. One REPEATABLE READ snapshot, so that the offsets marked as read
 * are exactly those of the events loaded. See docs/analytics.md (Restart).
 */
#include "program.h"

#include <stdlib.h>
#include <string.h>

#include "analytics_fatal.h"
#include "analytics_int.h"
#include "analytics_roster.h"
#include "analytics_sql.h"
#include "analytics_write.h"
#include "decider.h"
#include "store_int.h"

/*
 * Where each source's watermark got to (a row from before migration 012:
 * closed_at for both). A run that finished a drain left them at infinity,
 * having decided everything up to its newest event: this run starts them
 * just after that event, so that events stored from now on are decided in
 * event-time order again, whatever the batches that bring them.
 */
#define CLOSED_OF(col) \
	"CASE WHEN coalesce(" col ", closed_at) = 'infinity' THEN " US_OF("event_time_at") " + 1" \
	"     WHEN coalesce(" col ", closed_at) = '-infinity' THEN NULL ELSE " US_OF("coalesce(" col ", closed_at)") " END"

static int load_state(struct run *r)
{
	PGresult *res = NULL;
	int rc = an_q(r,
		   "SELECT " CLOSED_OF("closed_voc_at") ", " CLOSED_OF("closed_aqm_at") ","
		   "       " US_OF("last_round_at") ", " US_OF("event_time_at") ", " US_OF("decided_at")
		   "  FROM analytics_state WHERE group_id = $1 AND program = $2",
		   2, (const char *const[]){ r->an->group, r->an->program }, "read analytics_state", &res);

	if (rc == MENTOR_OK && PQntuples(res) == 1) {
		r->an->closed.us[MENTOR_EVENT_VOC] = an_get_i64(res, 0, 0);
		r->an->closed.us[MENTOR_EVENT_AQM] = an_get_i64(res, 0, 1);
		r->an->last_round_us = an_get_i64(res, 0, 2);
		if (!PQgetisnull(res, 0, 3))
			mentor_detector_restore_event_time(r->an->det, an_get_i64(res, 0, 3));
		r->an->decided_newest_us = an_get_i64(res, 0, 4);
	}
	PQclear(res);
	return rc;
}

static int load_priors(struct run *r)
{
	PGresult *res = NULL;
	int rc = an_q(r,
		   "SELECT DISTINCT ON (metric) metric, day - DATE '1970-01-01', n_agents, n_obs, pop_mean,"
		   "       sigma2_within, tau2_between, k, k_estimated"
		   "  FROM behavior_priors WHERE program = $1 ORDER BY metric, day DESC",
		   1, (const char *const[]){ r->an->program }, "read behavior_priors", &res);

	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		struct mentor_population pop = {
			.n_agents = (size_t)an_get_i64(res, i, 2), .n_obs = an_get_i64(res, i, 3), .mean = an_get_f(res, i, 4),
			.sigma2_within = an_get_f(res, i, 5), .tau2_between = an_get_f(res, i, 6), .k = an_get_f(res, i, 7),
			.k_estimated = strcmp(PQgetvalue(res, i, 8), "t") == 0,
		};

		an_progress_row(r->an, i);
		rc = mentor_detector_restore_prior(r->an->det, PQgetvalue(res, i, 0), an_get_i64(res, i, 1), &pop, r->err);
	}
	PQclear(res);
	return rc;
}

/*
 * Whole days of evaluated observations, [from_day, to_day), from
 * agent_daily_parts: part by part (the detector adds them up), a day per
 * query, so that neither PostgreSQL's aggregation nor the result of a
 * center's whole window has to fit in memory at once.
 */
static int load_days(struct run *r, int64_t from_day, int64_t to_day)
{
	char day_text[NUM_TEXT];
	int rc = MENTOR_OK;

	for (int64_t day = from_day; rc == MENTOR_OK && day < to_day; day++) {
		PGresult *res = NULL;

		rc = an_q(r,
		       "SELECT agent_id, metric, n, sum_e6, sumsq_e12 FROM agent_daily_parts"
		       " WHERE day = DATE '1970-01-01' + $1::integer AND program = $2",
		       2, (const char *const[]){ an_int_text(day, day_text), r->an->program }, "read agent_daily_parts",
		       &res);
		for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
			an_progress_row(r->an, i);
			rc = mentor_detector_restore_day(r->an->det, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), day,
							 an_get_i64(res, i, 2), an_get_i64(res, i, 3),
							 an_get_i64(res, i, 4), r->err);
		}
		PQclear(res);
	}
	return rc;
}

/*
 * The group's partitions' offsets the analytics have not read: events stored
 * without their analytics (a batch of resends, the batch that found this
 * instance the new decider, another instance's). Such an event waits to be
 * decided whatever its time, as if the next batch had read it. $1: the
 * group, $2: the roster's topic, $3: the program; the queries take the
 * program's events only (s.program = $3).
 */
#define UNREAD_SQL \
	"WITH unread AS (" \
	"  SELECT c.topic, c.partition, coalesce(a.next_offset, 0) AS from_offset" \
	"    FROM consumer_offsets c LEFT JOIN analytics_offsets a" \
	"      ON a.group_id = c.group_id AND a.program = $3 AND a.topic = c.topic AND a.partition = c.partition" \
	"   WHERE c.group_id = $1 AND c.topic <> $2 AND c.next_offset > coalesce(a.next_offset, 0))"
#define UNREAD_MATCH "u.topic = s.topic AND u.partition = s.partition AND s.kafka_offset >= u.from_offset"
#define UNREAD_EVENTS " FROM unread u JOIN score_events s ON " UNREAD_MATCH

/*
 * The earliest event time of an event still to decide into *ret_us
 * (INT64_MAX: none): unread, or read and decided from its source's
 * watermark on, however late its occurred_at.
 */
static int load_undecided_from(struct run *r, int64_t *ret_us)
{
	char voc[TIME_TEXT], aqm[TIME_TEXT];
	PGresult *res = NULL;
	int rc;

	an_time_text(r->an->closed.us[MENTOR_EVENT_VOC], voc);
	an_time_text(r->an->closed.us[MENTOR_EVENT_AQM], aqm);
	rc = an_q(r,
		  UNREAD_SQL " SELECT " US_OF("min(t)") " FROM (SELECT min(s.occurred_at) AS t" UNREAD_EVENTS
		  "  WHERE s.program = $3"
		  " UNION ALL SELECT min(occurred_at) FROM score_events WHERE program = $3 AND decide_at >= $4 AND kind = 'voc'"
		  " UNION ALL SELECT min(occurred_at) FROM score_events WHERE program = $3 AND decide_at >= $5 AND kind = 'aqm') m",
		  5, (const char *const[]){ r->an->group, r->an->topics[MENTOR_EVENT_ROSTER], r->an->program, voc, aqm },
		  "read the undecided events' times", &res);

	*ret_us = INT64_MAX;
	if (rc == MENTOR_OK && !PQgetisnull(res, 0, 0))
		*ret_us = an_get_i64(res, 0, 0);
	PQclear(res);
	return rc;
}

/*
 * Observations of stored events with occurred_at >= from_us: those read and
 * decided before the watermark are added as evaluated (one-observation
 * days), the others wait.
 */
static int load_observations(struct run *r, int64_t from_us)
{
	char from[TIME_TEXT], lo[NUM_TEXT], hi[NUM_TEXT];
	PGresult *res = NULL;
	int rc;

	an_time_text(from_us, from);
	rc = an_q(r,
	       UNREAD_SQL " SELECT s.agent_id, o.metric, s.event_id, " US_OF("s.occurred_at") ","
	       "       (o.value * 1000000)::bigint, u.topic IS NOT NULL, " US_OF("s.decide_at") ", s.kind = 'aqm'"
	       "  FROM score_events s LEFT JOIN unread u ON " UNREAD_MATCH
	       " CROSS JOIN LATERAL event_observations(s.kind, s.csat, s.overall, s.scores, $5, $6) o"
	       " WHERE s.program = $3 AND s.occurred_at >= $4",
	       6,
	       (const char *const[]){ r->an->group, r->an->topics[MENTOR_EVENT_ROSTER], r->an->program, from,
				      an_int_text(r->an->rules->csat_min, lo), an_int_text(r->an->rules->csat_max, hi) },
	       "read score_events", &res);
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		const char *agent = PQgetvalue(res, i, 0), *metric = PQgetvalue(res, i, 1);
		int64_t t = an_get_i64(res, i, 3), v = an_get_i64(res, i, 4), decide_us = an_get_i64(res, i, 6);
		enum mentor_event_kind source = an_source_of(res, i, 7);
		bool waiting = decide_us >= r->an->closed.us[source] || strcmp(PQgetvalue(res, i, 5), "t") == 0;

		an_progress_row(r->an, i);
		rc = waiting ? mentor_detector_observe(r->an->det, agent, metric, source, PQgetvalue(res, i, 2), t,
						       decide_us, v, r->err)
			     : mentor_detector_restore_day(r->an->det, agent, metric, mentor_stats_day_of(t), 1, v,
							   v * v, r->err);
	}
	PQclear(res);
	return rc;
}

/*
 * The stored events with fatal items still to be decided: decided from the
 * watermark on, or unread (two scans, so that each can use its index).
 */
static int load_fatal(struct run *r)
{
	char from[TIME_TEXT];
	PGresult *res = NULL;
	int rc;

	an_time_text(r->an->closed.us[MENTOR_EVENT_AQM], from);
	rc = an_q(r,
	       UNREAD_SQL " SELECT event_id, " US_OF("decide_at") " FROM score_events"
	       " WHERE program = $3 AND fatal IS NOT NULL AND decide_at >= $4"
	       " UNION SELECT s.event_id, " US_OF("s.decide_at") UNREAD_EVENTS
	       "  WHERE s.program = $3 AND s.fatal IS NOT NULL",
	       4, (const char *const[]){ r->an->group, r->an->topics[MENTOR_EVENT_ROSTER], r->an->program, from },
	       "read pending fatal events", &res);
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		an_progress_row(r->an, i);
		rc = an_add_fatal(r, PQgetvalue(res, i, 0), strlen(PQgetvalue(res, i, 0)), an_get_i64(res, i, 1));
	}
	PQclear(res);
	return rc;
}

/*
 * The day sums and waiting observations as of the watermark: whole days
 * before the day of the first observation to decide, one by one from there.
 * That day goes to *ret_split_day (NO_TIME: every observation waits).
 */
static int load_data(struct run *r, int64_t *ret_split_day)
{
	int64_t split = an_least(&r->an->closed), undecided_from, day;
	int rc;

	*ret_split_day = NO_TIME;
	if (split == NO_TIME)
		return load_observations(r, NO_TIME);
	rc = load_undecided_from(r, &undecided_from);
	if (rc != MENTOR_OK)
		return rc;
	if (undecided_from < split)
		split = undecided_from;
	day = *ret_split_day = mentor_stats_day_of(split);
	rc = load_days(r, day - an_keep_days(r->an) + 1, day);
	return rc == MENTOR_OK ? load_observations(r, day * MENTOR_US_PER_DAY) : rc;
}

static enum mentor_level level_of(const char *name)
{
	for (int l = MENTOR_LEVEL_OK; l <= MENTOR_LEVEL_HIGH; l++)
		if (strcmp(mentor_level_name(l), name) == 0)
			return (enum mentor_level)l;
	return MENTOR_LEVEL_OK;
}

static enum mentor_level_reason reason_of(const char *name)
{
	for (int w = 0; w < MENTOR_WHY_COUNT; w++)
		if (strcmp(mentor_level_reason_name(w), name) == 0)
			return (enum mentor_level_reason)w;
	return MENTOR_WHY_AVERAGE;
}

static int load_status(struct run *r)
{
	PGresult *res = NULL;
	int rc = an_q(r,
		   "SELECT agent_id, behavior, n, norm_mean, norm_shrunk, norm_ci_low, norm_ci_high, pop_mean, prior_k,"
		   "       status, reason, " US_OF("since") ", " US_OF("updated_at") ", week, weekly_low"
		   "  FROM agent_behavior_status WHERE program = $1",
		   1, (const char *const[]){ r->an->program }, "read agent_behavior_status", &res);

	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		struct mentor_detect_row row = {
			.agent_id = PQgetvalue(res, i, 0), .metric = PQgetvalue(res, i, 1), .n = an_get_i64(res, i, 2),
			.mean = an_get_f(res, i, 3), .shrunk = an_get_f(res, i, 4), .ci_low = an_get_f(res, i, 5),
			.ci_high = an_get_f(res, i, 6), .pop_mean = an_get_f(res, i, 7), .k = an_get_f(res, i, 8),
			.level = level_of(PQgetvalue(res, i, 9)), .why = reason_of(PQgetvalue(res, i, 10)),
			.since_us = an_get_i64(res, i, 11), .updated_us = an_get_i64(res, i, 12), .week = an_get_i64(res, i, 13),
			.weekly_low = (uint64_t)an_get_i64(res, i, 14),
		};

		an_progress_row(r->an, i);
		rc = mentor_detector_restore_status(r->an->det, &row, r->err);
	}
	PQclear(res);
	return rc;
}

/* The states kept for the next pairing round (status_past), in the order kept. */
static int load_past(struct run *r)
{
	PGresult *res = NULL;
	int rc = an_q(r,
		   "SELECT agent_id, behavior, " US_OF("decided_at") ", status, reason, n, norm_mean, norm_shrunk,"
		   "       norm_ci_low, norm_ci_high, pop_mean, prior_k, " US_OF("since") ", " US_OF("updated_at") ","
		   "       week, weekly_low"
		   "  FROM status_past WHERE program = $1 ORDER BY seq",
		   1, (const char *const[]){ r->an->program }, "read status_past", &res);

	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		struct mentor_detect_row before = {
			.agent_id = PQgetvalue(res, i, 0), .metric = PQgetvalue(res, i, 1),
			.level = level_of(PQgetvalue(res, i, 3)), .why = reason_of(PQgetvalue(res, i, 4)),
			.n = an_get_i64(res, i, 5), .mean = an_get_f(res, i, 6), .shrunk = an_get_f(res, i, 7),
			.ci_low = an_get_f(res, i, 8), .ci_high = an_get_f(res, i, 9), .pop_mean = an_get_f(res, i, 10),
			.k = an_get_f(res, i, 11), .since_us = an_get_i64(res, i, 12), .updated_us = an_get_i64(res, i, 13),
			.week = an_get_i64(res, i, 14), .weekly_low = (uint64_t)an_get_i64(res, i, 15),
		};

		an_progress_row(r->an, i);
		rc = mentor_detector_restore_past(r->an->det, before.agent_id, before.metric, an_get_i64(res, i, 2),
						  PQgetisnull(res, i, 3) ? NULL : &before, r->err);
	}
	PQclear(res);
	return rc;
}

/* Adds the detector's sums of a key's evaluated observations on days [from_day, to_day) to *sums. */
static void add_detector_days(const struct run *r, const struct mentor_kpi_window *w, int64_t from_day,
			      int64_t to_day, struct mentor_kpi_sums *sums)
{
	int64_t n = 0, sum_e6 = 0, sumsq_e12 = 0;

	if (from_day >= to_day)
		return;
	mentor_detector_day_sums(r->an->det, w->agent_id, w->metric, from_day, to_day, &n, &sum_e6, &sumsq_e12);
	sums->n += n;
	sums->sum_e6 += sum_e6;
	sums->sumsq_e12 += sumsq_e12;
}

/*
 * The KPI windows not final yet, their sums rebuilt from decided
 * observations only: days before split_day (load_data's) from
 * agent_daily_parts, later days from the detector's days just loaded (an
 * unread event there is counted when it is decided), less the observations
 * a window refused: decided on its decided_before_day or later, which the
 * faster source may have been decided up to while the window was not final
 * (such an observation is decided after the lesser watermark, so only those
 * events are read for it). Marked changed, so that the next round writes
 * them as an uninterrupted run would.
 */
static int load_kpis(struct run *r, int64_t split_day)
{
	char split_text[NUM_TEXT], first_text[NUM_TEXT], from[TIME_TEXT], voc[TIME_TEXT], aqm[TIME_TEXT];
	char late[NUM_TEXT], lo[NUM_TEXT], hi[NUM_TEXT];
	PGresult *res = NULL;
	int64_t first_day;
	/* The earliest day read, as a value the planner sees: parts of older days are never scanned. */
	int rc = an_q(r,
		      "SELECT least((SELECT min(before_from) FROM pairing_kpis WHERE program = $1 AND NOT final),"
		      "             (SELECT min(before_from) FROM comparison_kpis WHERE program = $1 AND NOT final))"
		      "       - DATE '1970-01-01'",
		      1, (const char *const[]){ r->an->program }, "read the KPI windows' first day", &res);

	if (rc != MENTOR_OK || PQgetisnull(res, 0, 0)) {
		PQclear(res);
		return rc;
	}
	first_day = an_get_i64(res, 0, 0);
	PQclear(res);
	an_time_text(an_least(&r->an->closed), from);
	an_time_text(r->an->closed.us[MENTOR_EVENT_VOC], voc);
	an_time_text(r->an->closed.us[MENTOR_EVENT_AQM], aqm);
	rc = an_q(r,
		   UNREAD_SQL ", k AS ("
		   "  SELECT pairing_id AS owner, false AS comparison, subject,"
		   "         CASE subject WHEN 'mentor' THEN p.mentor_id ELSE p.mentee_id END AS agent_id, metric,"
		   "         is_target, before_from, before_to, after_from, after_to"
		   "    FROM pairing_kpis k JOIN pairings p USING (pairing_id) WHERE k.program = $3 AND NOT k.final"
		   "  UNION ALL"
		   "  SELECT trigger_id, true, 'mentee', t.agent_id, metric, is_target, before_from, before_to,"
		   "         after_from, after_to"
		   "    FROM comparison_kpis c JOIN triggers t USING (trigger_id) WHERE c.program = $3 AND NOT c.final"
		   "), ahead AS ("  /* decided after the lesser watermark, and before its own source's */
		   "  SELECT s.agent_id, o.metric, (s.occurred_at AT TIME ZONE 'UTC')::date AS day,"
		   "         (s.decide_at AT TIME ZONE 'UTC')::date AS decide_day, (o.value * 1000000)::bigint AS v"
		   "    FROM score_events s LEFT JOIN unread u ON " UNREAD_MATCH
		   "   CROSS JOIN LATERAL event_observations(s.kind, s.csat, s.overall, s.scores, $10, $11) o"
		   "   WHERE s.program = $3 AND s.decide_at >= $6 AND u.topic IS NULL"
		   "     AND ((s.kind = 'voc' AND s.decide_at < $7) OR (s.kind = 'aqm' AND s.decide_at < $8))"
		   "), refused AS ("
		   "  SELECT k.owner, k.comparison, k.subject, k.metric,"
		   "         count(*) FILTER (WHERE a.day < k.before_to) AS bn,"
		   "         coalesce(sum(a.v) FILTER (WHERE a.day < k.before_to), 0) AS bs,"
		   "         coalesce(sum(a.v * a.v) FILTER (WHERE a.day < k.before_to), 0) AS bq,"
		   "         count(*) FILTER (WHERE a.day >= k.after_from) AS an,"
		   "         coalesce(sum(a.v) FILTER (WHERE a.day >= k.after_from), 0) AS asum,"
		   "         coalesce(sum(a.v * a.v) FILTER (WHERE a.day >= k.after_from), 0) AS aq"
		   "    FROM k JOIN ahead a ON a.agent_id = k.agent_id AND a.metric = k.metric"
		   "     AND a.decide_day >= k.after_to + $9::integer"
		   "     AND ((a.day >= k.before_from AND a.day < k.before_to) OR (a.day >= k.after_from AND a.day < k.after_to))"
		   "   GROUP BY 1, 2, 3, 4"
		   ")"
		   " SELECT g.*, coalesce(f.bn, 0), coalesce(f.bs, 0), coalesce(f.bq, 0), coalesce(f.an, 0),"
		   "        coalesce(f.asum, 0), coalesce(f.aq, 0)"
		   "   FROM (SELECT k.owner, k.comparison, k.subject, k.agent_id, k.metric, k.is_target,"
		   "                k.before_from - DATE '1970-01-01', k.before_to - DATE '1970-01-01',"
		   "                k.after_from - DATE '1970-01-01', k.after_to - DATE '1970-01-01',"
		   "                coalesce(sum(d.n), 0), coalesce(sum(d.sum_e6), 0), coalesce(sum(d.sumsq_e12), 0)"
		   "           FROM k LEFT JOIN agent_daily_parts d ON d.program = $3 AND d.agent_id = k.agent_id"
		   "            AND d.metric = k.metric"
		   "            AND d.day >= k.before_from AND d.day < k.before_to"
		   "            AND d.day < coalesce(DATE '1970-01-01' + $4::integer, '-infinity')"
		   "            AND d.day >= DATE '1970-01-01' + $5::integer"
		   "          GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10) g"
		   "   LEFT JOIN refused f ON f.owner = g.owner AND f.comparison = g.comparison AND f.subject = g.subject"
		   "    AND f.metric = g.metric",
		   11,
		   (const char *const[]){ r->an->group, r->an->topics[MENTOR_EVENT_ROSTER], r->an->program,
					  split_day == NO_TIME ? NULL : an_int_text(split_day, split_text),
					  an_int_text(first_day, first_text), from, voc, aqm,
					  an_int_text(an_kpi_decided_before_day(r->an, 0), late),
					  an_int_text(r->an->rules->csat_min, lo), an_int_text(r->an->rules->csat_max, hi) },
		   "read KPI rows", &res);

	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		struct mentor_kpi_window w = {
			.owner_id = PQgetvalue(res, i, 0), .comparison = strcmp(PQgetvalue(res, i, 1), "t") == 0,
			.subject = PQgetvalue(res, i, 2), .agent_id = PQgetvalue(res, i, 3),
			.metric = PQgetvalue(res, i, 4), .is_target = strcmp(PQgetvalue(res, i, 5), "t") == 0,
			.before = { an_get_i64(res, i, 6), an_get_i64(res, i, 7) },
			.after = { an_get_i64(res, i, 8), an_get_i64(res, i, 9) },
			.b = { an_get_i64(res, i, 10), an_get_i64(res, i, 11), an_get_i64(res, i, 12) },
			.written = true,
		};

		int64_t from_detector = split_day == NO_TIME ? w.before.from_day : split_day;

		an_progress_row(r->an, i);
		w.decided_before_day = an_kpi_decided_before_day(r->an, w.after.to_day);
		add_detector_days(r, &w, from_detector > w.before.from_day ? from_detector : w.before.from_day,
				  w.before.to_day, &w.b);
		add_detector_days(r, &w, w.after.from_day, w.after.to_day, &w.a);
		w.b.n -= an_get_i64(res, i, 13);
		w.b.sum_e6 -= an_get_i64(res, i, 14);
		w.b.sumsq_e12 -= an_get_i64(res, i, 15);
		w.a.n -= an_get_i64(res, i, 16);
		w.a.sum_e6 -= an_get_i64(res, i, 17);
		w.a.sumsq_e12 -= an_get_i64(res, i, 18);
		rc = mentor_kpi_add(r->an->kpi, &w, r->err);
	}
	PQclear(res);
	return rc;
}

int an_program_load(struct an_program *an, struct mentor_store *store, struct mentor_error *err)
{
	struct run r = { .an = an, .s = store, .err = err };
	struct mentor_detector *det = NULL;
	struct mentor_kpi_set *kpi = NULL;
	int64_t split_day = NO_TIME;
	int rc;

	if (!an->cfg->enabled)
		return MENTOR_OK;
	rc = mentor_detector_new(&an->cfg->stats, an->cfg->thresholds, an->cfg->n_thresholds, an_keep_days(an), &det,
				 err);
	if (rc == MENTOR_OK)
		rc = mentor_kpi_set_new(&kpi, err);
	if (rc != MENTOR_OK) {
		mentor_detector_free(det);
		return rc;
	}
	mentor_detector_free(an->det);
	mentor_kpi_set_free(an->kpi);
	an->det = det;
	an->keep_days = an_keep_days(an);
	an->kpi = kpi;
	an->closed = an->next_closed = an_all_at(NO_TIME);
	an->last_round_us = an->kpi_closed_day = an->decided_newest_us = an->past_written_from_us = NO_TIME;
	an->need_load = true;
	an_free_fatal(an);
	an_forget_early(an);
	an->agents_seen_us = NO_TIME;
	an->stages_pid = 0;
	/* One snapshot: the offsets marked as read are exactly those of the events loaded. */
	rc = an_q(&r, "BEGIN ISOLATION LEVEL REPEATABLE READ", 0, NULL, "begin loading", NULL);
	if (rc != MENTOR_OK)
		return rc;
	rc = an_take_lead(&r);
	if (rc != MENTOR_OK || !an->leader)
		return mentor_store_end(store, rc, err);
	rc = an_load_scales(&r);
	if (rc == MENTOR_OK)
		rc = load_state(&r);
	if (rc == MENTOR_OK)
		rc = an_set_agents(&r);
	if (rc == MENTOR_OK)
		rc = load_priors(&r);
	if (rc == MENTOR_OK)
		rc = load_data(&r, &split_day);
	if (rc == MENTOR_OK)
		rc = load_fatal(&r);
	if (rc == MENTOR_OK)
		rc = load_status(&r);
	if (rc == MENTOR_OK)
		rc = load_past(&r);
	if (rc == MENTOR_OK)
		rc = load_kpis(&r, split_day);
	if (rc == MENTOR_OK)
		rc = an_count_open(&r);
	if (rc == MENTOR_OK)
		rc = an_q(&r,
		       "INSERT INTO analytics_offsets (group_id, program, topic, partition, next_offset)"
		       " SELECT group_id, $2, topic, partition, next_offset FROM consumer_offsets"
		       "  WHERE group_id = $1 AND next_offset >= 0"
		       " ON CONFLICT (group_id, program, topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
		       2, (const char *const[]){ an->group, an->program }, "record how far the analytics read", NULL);
	if (rc == MENTOR_OK)
		mentor_detector_take_changed(an->det, NULL, NULL);
	rc = mentor_store_end(store, rc, err);
	if (rc == MENTOR_OK)
		an->need_load = false;
	return rc;
}
