/*
 * One decider per consumer group: the instance that holds the group's
 * analytics lock reads what other instances stored (the catch-up) and feeds
 * the detector the observations of every batch. Internal to lib/.
 */
#include "decider.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mentor/clock.h"

#include "analytics_fatal.h"
#include "analytics_int.h"
#include "analytics_sql.h"
#include "grow.h"
#include "partitions.h"

static bool is_owned(const struct an_program *an, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < an->n_owned; i++)
		if (an->owned[i].partition == partition && strcmp(an->owned[i].topic, topic) == 0)
			return true;
	return false;
}

static int observe(void *ctx, const struct mentor_observation *o)
{
	struct run *r = ctx;

	return mentor_detector_observe(r->an->det, o->agent_id, o->metric, o->source, o->event_id, o->occurred_us,
				       o->decide_us, o->value_e6, r->err);
}

/* The repeats' observations, collected for one mentor_detector_unobserve(). */
struct repeats {
	struct mentor_detect_key *keys;
	size_t n, cap;
};

static int collect_repeat(void *ctx, const struct mentor_observation *o)
{
	struct repeats *rp = ctx;

	if (!mentor_grow((void **)&rp->keys, &rp->cap, rp->n, sizeof(*rp->keys), 64, SIZE_MAX))
		return MENTOR_ERR_NOMEM;
	rp->keys[rp->n++] = (struct mentor_detect_key){
		.agent_id = o->agent_id, .metric = o->metric, .event_id = o->event_id, .t_us = o->occurred_us,
		.value_e6 = o->value_e6,
	};
	return MENTOR_OK;
}

/*
 * Takes or keeps the analytics lock of the group and program (a session
 * advisory lock per schema, group and program): one instance decides it, the
 * others only store. Calling pg_try_advisory_lock() again while holding it
 * stacks the lock, so the holder gives the extra one back at once. An
 * instance at its fair share (lib/instances.h) does not reach for more
 * (an->may_take false). The same statement reads the group's backpressure
 * (analytics_pause; -infinity as the least bigint).
 */
/* A pause time in microseconds: -infinity as the least bigint, infinity as the greatest. */
#define PAUSE_US(col) \
	"CASE " col " WHEN '-infinity' THEN '-9223372036854775808'::bigint" \
	" WHEN 'infinity' THEN '9223372036854775807'::bigint ELSE " US_OF(col) " END"

/* The lock of a group and program in this schema (tests/integration/lib.sh decider_of computes it too). */
#define LOCK_KEY_OF(group, program) \
	"hashtext('mentord.analytics.' || current_schema() || '.' || " group " || '.' || " program ")"
#define LOCK_KEY LOCK_KEY_OF("$1", "$3")

int an_take_lead(struct run *r)
{
	PGresult *res = NULL;
	int rc = an_q(r,
		   "SELECT CASE WHEN NOT $2::boolean AND NOT $4::boolean THEN false"
		   " WHEN pg_try_advisory_lock(" LOCK_KEY ")"
		   " THEN CASE WHEN $2::boolean THEN pg_advisory_unlock(" LOCK_KEY ") ELSE true END"
		   " ELSE false END,"
		   " (SELECT " PAUSE_US("coalesce(p.pause_voc_after, p.pause_after)")
		   "  FROM analytics_pause p WHERE p.group_id = $1 AND p.program = $3),"
		   " (SELECT " PAUSE_US("coalesce(p.pause_aqm_after, p.pause_after)")
		   "  FROM analytics_pause p WHERE p.group_id = $1 AND p.program = $3)",
		   4, (const char *const[]){ r->an->group, r->an->leader ? "true" : "false", r->an->program,
					     r->an->may_take ? "true" : "false" },
		   "take the analytics lock", &res);

	if (rc == MENTOR_OK) {
		bool leader = strcmp(PQgetvalue(res, 0, 0), "t") == 0;

		/* Whoever decided meanwhile moved the tables on: a new leader starts from them. */
		if (leader && !r->an->leader)
			r->an->need_load = true;
		/*
		 * A decider that kept the lock is the row's only writer: what it read is what
		 * it committed last. A new one may have read it before the last decider's
		 * final commit, so it writes its own state once whatever it read.
		 */
		r->an->pause_synced = leader && r->an->leader;
		r->an->pause_after = an_all_at(INT64_MAX);
		if (!PQgetisnull(res, 0, 1)) {
			r->an->pause_after.us[MENTOR_EVENT_VOC] = an_get_i64(res, 0, 1);
			r->an->pause_after.us[MENTOR_EVENT_AQM] = an_get_i64(res, 0, 2);
		}
		r->an->leader = leader;
	}
	PQclear(res);
	return rc;
}

int an_give_lead(struct an_program *an, struct mentor_store *s, struct mentor_error *err)
{
	int rc;

	if (!an->leader)
		return MENTOR_OK;
	rc = mentor_store_exec(s, "SELECT pg_advisory_unlock(" LOCK_KEY_OF("$1", "$2") ")", 2,
			       (const char *const[]){ an->group, an->program }, "give the analytics lock back", NULL, err);
	/* Given back or not (a lost session holds nothing): this instance no longer decides it. */
	an->leader = false;
	return rc;
}

/*
 * The group's pause times while max_waiting_observations or more wait, per
 * source: its watermark (the least, over its partitions, of the newest
 * event time minus its allowed lateness: others, those other instances
 * consume, as stored, and this instance's own) plus its allowed lateness:
 * the newest event time of the partition that holds it back, which is read
 * on; one of the source after it is paused. Neither source waits for the
 * other.
 */
static struct mentor_source_times pause_times(const struct an_program *an,
					      const struct mentor_source_times *others)
{
	struct mentor_source_times at = an_lesser(&an->next_closed, others);

	if (mentor_detector_waiting(an->det) < an->cfg->max_waiting_observations)
		return an_all_at(INT64_MAX);
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (at.us[kind] != INT64_MIN && at.us[kind] != INT64_MAX)
			at.us[kind] += an->rules->lateness_us[kind];
	at.us[MENTOR_EVENT_ROSTER] = INT64_MAX;
	return at;
}

static bool same_times(const struct mentor_source_times *a, const struct mentor_source_times *b)
{
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (kind != MENTOR_EVENT_ROSTER && a->us[kind] != b->us[kind])
			return false;
	return true;
}

int an_publish_pause(struct run *r, const struct mentor_source_times *others)
{
	struct an_program *an = r->an;
	struct mentor_source_times after = pause_times(an, others);
	char least[TIME_TEXT], voc[TIME_TEXT], aqm[TIME_TEXT];
	int rc;

	if (an->pause_synced && same_times(&after, &an->pause_after))
		return MENTOR_OK;
	if (an_least(&after) == INT64_MAX) {
		rc = an_q(r, "DELETE FROM analytics_pause WHERE group_id = $1 AND program = $2", 2,
			  (const char *const[]){ an->group, an->program }, "clear the group's backpressure", NULL);
	} else {
		an_time_text(an_least(&after), least);
		an_time_text(after.us[MENTOR_EVENT_VOC], voc);
		an_time_text(after.us[MENTOR_EVENT_AQM], aqm);
		rc = an_q(r,
			  "INSERT INTO analytics_pause (group_id, program, pause_after, pause_voc_after, pause_aqm_after)"
			  " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (group_id, program) DO UPDATE"
			  " SET pause_after = excluded.pause_after, pause_voc_after = excluded.pause_voc_after,"
			  " pause_aqm_after = excluded.pause_aqm_after",
			  5, (const char *const[]){ an->group, an->program, least, voc, aqm }, "set the group's backpressure",
			  NULL);
	}
	if (rc == MENTOR_OK) {
		an->pause_after = after;
		an->pause_synced = true;
	}
	return rc;
}

/* The group's partitions: stored and analyzed next offsets, newest event time. */
static const char group_partitions_sql[] =
	"SELECT c.topic, c.partition, c.next_offset, coalesce(a.next_offset, 0),"
	"       " US_OF("c.max_event_at")
	"  FROM consumer_offsets c LEFT JOIN analytics_offsets a"
	"    ON a.group_id = c.group_id AND a.program = $2 AND a.topic = c.topic AND a.partition = c.partition"
	" WHERE c.group_id = $1";

static const char mark_analyzed_sql[] =
	"INSERT INTO analytics_offsets (group_id, program, topic, partition, next_offset)"
	" SELECT $1, $5, t, p, n FROM unnest($2::text[], $3::integer[], $4::bigint[]) AS u(t, p, n)"
	" ON CONFLICT (group_id, program, topic, partition) DO UPDATE SET next_offset = excluded.next_offset";

/*
 * Observations of a partition's stored events in [from, to): events other
 * instances stored. Sets *ret_read if there were any.
 */
static int read_range(struct run *r, const char *topic, const char *partition, int64_t from, int64_t to,
		      bool *ret_read)
{
	char f[NUM_TEXT], t[NUM_TEXT], lo[NUM_TEXT], hi[NUM_TEXT];
	PGresult *res = NULL;
	int rc = an_q(r,
		   "SELECT s.agent_id, o.metric, s.event_id, " US_OF("s.occurred_at") ", (o.value * 1000000)::bigint,"
		   "       s.fatal IS NOT NULL AND o.metric = 'aqm', " US_OF("s.decide_at") ", s.kind = 'aqm'"
		   "  FROM score_events s, event_observations(s.kind, s.csat, s.overall, s.scores, $5, $6) o"
		   " WHERE s.topic = $1 AND s.partition = $2 AND s.kafka_offset >= $3 AND s.kafka_offset < $4"
		   "   AND s.program = $7",
		   7,
		   (const char *const[]){ topic, partition, an_int_text(from, f), an_int_text(to, t),
					  an_int_text(r->an->rules->csat_min, lo), an_int_text(r->an->rules->csat_max, hi),
					  r->an->program },
		   "read events stored by other instances", &res);

	if (PQntuples(res) > 0)
		*ret_read = true;
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		int64_t decide_us = an_get_i64(res, i, 6);

		rc = mentor_detector_observe(r->an->det, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), an_source_of(res, i, 7),
					     PQgetvalue(res, i, 2), an_get_i64(res, i, 3), decide_us, an_get_i64(res, i, 4),
					     r->err);
		/* Once per event: on its one aqm observation. */
		if (rc == MENTOR_OK && strcmp(PQgetvalue(res, i, 5), "t") == 0)
			rc = an_add_fatal(r, PQgetvalue(res, i, 2), strlen(PQgetvalue(res, i, 2)), decide_us);
	}
	PQclear(res);
	return rc;
}

/*
 * Whether a roster partition another instance consumes holds the watermark
 * (res: group_partitions_sql's rows): stored short of what is left of it,
 * unless the stored offset has stood still that long (see
 * mentor_analytics_set_roster_extents). Notes when each stored offset moved.
 */
static bool roster_holds(struct an_program *an, PGresult *res)
{
	int64_t now = mentor_monotonic_us();
	bool holds = false;

	for (size_t k = 0; k < an->n_roster; k++) {
		struct roster_partition *rp = &an->roster[k];
		int64_t stored = 0;

		for (int i = 0; i < PQntuples(res); i++)
			if (an_get_i64(res, i, 1) == rp->extent.partition &&
			    strcmp(PQgetvalue(res, i, 0), an->topics[MENTOR_EVENT_ROSTER]) == 0 && an_get_i64(res, i, 2) > 0)
				stored = an_get_i64(res, i, 2);
		if (stored != rp->stored) {
			rp->stored = stored;
			rp->still_since_us = now;
		}
		if (is_owned(an, an->topics[MENTOR_EVENT_ROSTER], rp->extent.partition) ||
		    (stored > rp->extent.begin ? stored : rp->extent.begin) >= rp->extent.end)
			continue;
		if (now - rp->still_since_us < (int64_t)MENTOR_ROSTER_STILL_SECONDS * 1000000)
			holds = true;
	}
	return holds;
}

static int64_t batch_first_offset(const struct mentor_batch *b, const char *topic, int32_t partition)
{
	for (size_t i = 0; b && i < mentor_batch_partition_count(b); i++) {
		const struct mentor_batch_partition *p = mentor_batch_partition_at(b, i);

		if (p->partition == partition && strcmp(p->topic, topic) == 0)
			return p->first_offset;
	}
	return -1;
}

/*
 * Catches up with the events other instances stored (or this one, before a
 * rebalance gave it their partitions), records how far every partition is
 * read, and returns in *ret_others, per source, the least newest event time
 * of the source's partitions this instance does not consume minus the
 * source's allowed lateness (INT64_MAX: none), which bounds its watermark:
 * an event still to come on one of them is decided no earlier. The batch's
 * own events come from the batch itself.
 */
int an_catch_up(struct run *r, const struct mentor_batch *b, struct mentor_source_times *ret_others, bool *ret_read)
{
	struct an_program *an = r->an;
	struct text_buf arrays[3] = { { 0 } };  /* topics, partitions, next offsets: PostgreSQL array literals */
	size_t items = 0;
	PGresult *res = NULL;
	int rc = an_q(r, group_partitions_sql, 2, (const char *const[]){ an->group, an->program },
		   "read the group's partitions", &res);

	*ret_others = an_all_at(INT64_MAX);
	*ret_read = false;
	if (rc != MENTOR_OK)
		return rc;
	if (roster_holds(an, res))
		*ret_others = an_all_at(INT64_MIN);
	for (int k = 0; k < 3; k++)
		buf_append(&arrays[k], "{", 1);
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		const char *topic = PQgetvalue(res, i, 0);
		int32_t partition = (int32_t)an_get_i64(res, i, 1);
		int64_t next = an_get_i64(res, i, 2), analyzed = an_get_i64(res, i, 3), end = next;
		int64_t first = batch_first_offset(b, topic, partition), newest = an_get_i64(res, i, 4);

		if (strcmp(topic, an->topics[MENTOR_EVENT_ROSTER]) == 0)
			continue;  /* no score events; roster_holds() looked at it */
		if (first >= 0)
			end = first;
		if (analyzed < end)
			rc = read_range(r, topic, PQgetvalue(res, i, 1), analyzed, end, ret_read);
		if (!is_owned(an, topic, partition))
			an_lower_source(ret_others, mentor_topic_kind(topic, an->topics), newest, an->rules->lateness_us);
		if (next < 0)
			continue;
		buf_array_text(&arrays[0], items == 0, topic, strlen(topic));
		buf_array_text(&arrays[1], items == 0, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
		buf_array_text(&arrays[2], items++ == 0, PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2));
	}
	PQclear(res);
	for (int k = 0; k < 3; k++) {
		buf_append(&arrays[k], "}", 1);
		if (arrays[k].failed && rc == MENTOR_OK)
			rc = an_nomem(r->err);
	}
	if (rc == MENTOR_OK)
		rc = an_q(r, mark_analyzed_sql, 5,
			  (const char *const[]){ an->group, arrays[0].data, arrays[1].data, arrays[2].data, an->program },
			  "record how far the analytics read", NULL);
	for (int k = 0; k < 3; k++)
		free(arrays[k].data);
	an->early_ok = rc == MENTOR_OK && !*ret_read && an_least(ret_others) == INT64_MAX;
	return rc;
}

/* The batch's observations and fatal items; stored as the hook's (NULL: every event new). */
int an_observe_batch(struct run *r, const struct mentor_batch *b, const unsigned char *stored)
{
	int rc = mentor_batch_each_observation(b, stored, observe, r);

	return rc == MENTOR_OK ? an_add_batch_fatal(r, b, stored) : rc;
}

int an_settle_early(struct run *r, const struct mentor_batch *b, const unsigned char *seen,
		    const unsigned char *stored, const struct mentor_source_times *evaluated)
{
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS);
	/* repeat[i]: a fed event stored before; keep[i]: its opposite (an_drop_batch_fatal's mask); late[i]: new, not fed. */
	unsigned char *masks = malloc(3 * (n ? n : 1)), *repeat = masks, *keep = masks + n, *late = masks + 2 * n;
	struct repeats rp = { 0 };
	bool any_repeat = false, any_late = false;
	int rc = MENTOR_OK;

	if (!masks)
		return an_nomem(r->err);
	for (size_t i = 0; i < n; i++) {
		bool fed = !seen || seen[i], fresh = !stored || stored[i];

		repeat[i] = fed && !fresh;
		keep[i] = !repeat[i];
		late[i] = !fed && fresh;
		any_repeat |= repeat[i];
		any_late |= late[i];
		if (late[i] && mentor_batch_event_decide_time(b, i) <= evaluated->us[mentor_batch_event_kind(b, i)]) {
			rc = mentor_error_set(r->err, MENTOR_ERR_INVALID, "a new event older than what was evaluated");
			goto out;
		}
	}
	if (any_repeat && mentor_batch_each_observation(b, repeat, collect_repeat, &rp) != MENTOR_OK)
		rc = an_nomem(r->err);
	if (rc == MENTOR_OK && any_repeat)
		rc = mentor_detector_unobserve(r->an->det, rp.keys, rp.n, r->err);
	if (rc == MENTOR_OK && any_repeat)
		an_drop_batch_fatal(r->an, b, keep);
	if (rc == MENTOR_OK && any_late)
		rc = an_observe_batch(r, b, late);
out:
	free(rp.keys);
	free(masks);
	return rc;
}
