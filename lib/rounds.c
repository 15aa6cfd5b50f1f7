/*
 * Pairing rounds (SPEC section 3): what a round reads (open triggers,
 * roster, active pairings, mentor-eligible agents), the assignment
 * (lib/pairing.c), and the rows it writes. Internal to lib/.
 */
#include "rounds.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_int.h"
#include "analytics_roster.h"
#include "analytics_sql.h"
#include "analytics_write.h"
#include "effect.h"
#include "mentor/pairing.h"
#include "store_int.h"

/*
 * A completed pairing's alert carries its mentee's target behavior before
 * and after, as decided before the round ($1; $5: 'infinity' for the last
 * round of a drain, which reads everything decided): recomputed from
 * score_events, as the windows in memory may already hold observations of a
 * source decided beyond the round. $2, $3: the CSAT scale; $4: the KPI
 * windows' lateness in whole days; $6: the program.
 *
 * The pairings a round completes are counted from one pass over the events
 * of the days their windows span (the BRIN index on occurred_at), kept
 * when they are of a mentee in $7 (completing_mentees_sql, read first: an
 * array given as a value is looked up by hash, where a join with the
 * pairings was planned as a loop over them per event): score_events has no
 * index on agent_id, and a lookup per pairing was a scan of the table each
 * (0.6 s apiece at a million events). Observations are computed for the
 * mentees' events only.
 */
static const char complete_pairings_sql[] =
	"WITH done AS ("
	"  UPDATE pairings SET status = 'completed', ended_at = ends_at"
	"   WHERE program = $6 AND status = 'active' AND ends_at <= $1 RETURNING *"
	"), resolved AS ("  /* runs although nothing reads it: WITH's data-modifying statements always do */
	"  UPDATE triggers t SET status = 'resolved', resolution = 'completed', resolved_at = d.ends_at"
	"    FROM done d WHERE t.trigger_id = d.trigger_id"
	"), windows AS ("
	"  SELECT d.pairing_id, d.mentee_id, d.behavior, w.before_from, w.before_to, w.after_from, w.after_to"
	"    FROM done d JOIN pairing_kpis w ON w.pairing_id = d.pairing_id AND w.subject = 'mentee' AND w.is_target"
	"), mentee_events AS MATERIALIZED ("  /* one pass over the days the windows span */
	"  SELECT s.agent_id, s.kind, s.csat, s.overall, s.scores, (s.occurred_at AT TIME ZONE 'UTC')::date AS day,"
	"         (s.decide_at AT TIME ZONE 'UTC')::date AS decide_day"
	"    FROM score_events s"
	"   WHERE s.program = $6 AND s.decide_at < $5 AND s.agent_id = ANY ($7::text[])"
	"     AND s.occurred_at >= (SELECT min(before_from) FROM windows)::timestamp AT TIME ZONE 'UTC'"
	"     AND s.occurred_at < (SELECT max(after_to) FROM windows)::timestamp AT TIME ZONE 'UTC'"
	"), events AS ("
	"  SELECT w.pairing_id, w.behavior, e.kind, e.csat, e.overall, e.scores, e.day,"
	"         w.before_from, w.before_to, w.after_from, w.after_to"
	"    FROM windows w JOIN mentee_events e ON e.agent_id = w.mentee_id"
	"   WHERE e.day >= w.before_from AND e.day < w.after_to AND e.decide_day < w.after_to + $4::integer"
	"), counted AS ("
	"  SELECT e.pairing_id,"
	"         count(*) FILTER (WHERE e.day < e.before_to) AS before_n, avg(ob.value) FILTER (WHERE e.day < e.before_to) AS before_v,"
	"         count(*) FILTER (WHERE e.day >= e.after_from) AS after_n, avg(ob.value) FILTER (WHERE e.day >= e.after_from) AS after_v"
	"    FROM events e CROSS JOIN LATERAL event_observations(e.kind, e.csat, e.overall, e.scores, $2, $3) ob"
	"   WHERE ob.metric = e.behavior"
	"     AND ((e.day >= e.before_from AND e.day < e.before_to) OR (e.day >= e.after_from AND e.day < e.after_to))"
	"   GROUP BY e.pairing_id"
	"), k AS ("
	"  SELECT w.pairing_id, coalesce(c.before_n, 0) AS before_n, coalesce(c.after_n, 0) AS after_n,"
	"         sc.scale_min + c.before_v * (sc.scale_max - sc.scale_min) AS before_mean,"
	"         sc.scale_min + c.after_v * (sc.scale_max - sc.scale_min) AS after_mean,"
	"         w.after_to + $4::integer <= ($1::timestamptz AT TIME ZONE 'UTC')::date AS final"
	"    FROM windows w LEFT JOIN counted c ON c.pairing_id = w.pairing_id"
	"    LEFT JOIN metrics sc ON sc.metric = w.behavior"
	")"
	" INSERT INTO alerts (alert_id, kind, team_lead_id, agent_id, occurred_at, payload, program)"
	" SELECT 'pairing_completed:' || d.pairing_id, 'pairing_completed', a.team_lead_id, d.mentee_id, d.ends_at,"
	"   jsonb_build_object('schema', 'mentord.alert.v1', 'alert_id', 'pairing_completed:' || d.pairing_id,"
	"     'kind', 'pairing_completed', 'program', d.program,"
	"     'occurred_at', to_char(d.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	"     'team_lead_id', a.team_lead_id, 'agent_id', d.mentee_id, 'agent_name', a.name,"
	"     'behavior', d.behavior, 'pairing_id', d.pairing_id, 'mentor_id', d.mentor_id, 'mentor_name', m.name,"
	"     'before', k.before_mean, 'after', k.after_mean, 'delta', k.after_mean - k.before_mean,"
	"     'n_before', k.before_n, 'n_after', k.after_n, 'final', k.final, 'comparison_delta', e.comparison_delta),"
	"   d.program"
	"   FROM done d LEFT JOIN agents a ON a.agent_id = d.mentee_id LEFT JOIN agents m ON m.agent_id = d.mentor_id"
	"   LEFT JOIN k ON k.pairing_id = d.pairing_id"
	"   LEFT JOIN program_effect e ON e.program = d.program AND e.behavior = d.behavior AND e.is_target"
	" ON CONFLICT (alert_id) DO NOTHING";

/* The mentees of the pairings a round at $2 completes, as a PostgreSQL array; NULL: none. */
static const char completing_mentees_sql[] =
	"SELECT array_agg(DISTINCT mentee_id) FROM pairings WHERE program = $1 AND status = 'active' AND ends_at <= $2";

/* A pairing whose mentee or mentor has left the roster is cancelled (SPEC section 3). */
static const char cancel_pairings_sql[] =
	"WITH gone AS ("
	"  UPDATE pairings p SET status = 'cancelled', ended_at = $1"
	"    FROM agents a, agents m"
	"   WHERE p.program = $2 AND p.status = 'active' AND a.agent_id = p.mentee_id AND m.agent_id = p.mentor_id"
	"     AND NOT (a.active AND m.active) RETURNING p.trigger_id"
	")"
	" UPDATE triggers t SET status = 'resolved', resolution = 'cancelled', resolved_at = $1"
	"   FROM gone g WHERE t.trigger_id = g.trigger_id";

/*
 * A low-score trigger supersedes the older open or waiting one of its agent
 * and behavior (docs/analytics.md, "Triggers"). $1 bounds the newer ones
 * taken: those fired before the round, which a single decision-time order
 * would have decided before it. Each open one (a partial index on open
 * triggers) looks up the earliest newer trigger of its key (index
 * triggers_agent): the LIMIT keeps that LATERAL a lookup per open trigger,
 * whatever the planner thinks of the table's size (a drain from empty has no
 * statistics). The updated rows are named open too: with statistics, the
 * planner hash-joined them to a scan of the whole table.
 */
static const char resolve_refired_sql[] =
	"UPDATE triggers t SET status = 'resolved', resolution = 'refired', resolved_at = s.superseded_at"
	"  FROM (SELECT o.trigger_id, n.fired_at AS superseded_at"
	"          FROM triggers o,"
	"               LATERAL (SELECT x.fired_at FROM triggers x"
	"                         WHERE x.agent_id = o.agent_id AND x.program = o.program AND x.behavior = o.behavior"
	"                           AND x.kind = 'low_score'"
	"                           AND x.fired_at < $1"
	"                           AND (x.fired_at, x.trigger_id COLLATE \"C\") > (o.fired_at, o.trigger_id COLLATE \"C\")"
	"                         ORDER BY x.fired_at, x.trigger_id COLLATE \"C\" LIMIT 1) n"
	"         WHERE o.program = $2 AND o.kind = 'low_score' AND o.status IN ('open', 'waiting')"
	"           AND o.fired_at < $1) s"
	" WHERE t.trigger_id = s.trigger_id AND t.status IN ('open', 'waiting')";

static const char open_triggers_sql[] =
	"SELECT trigger_id, agent_id, behavior, status, holdout, holdout_until > $1, fired_at, waiting_reason"
	"  FROM triggers"
	" WHERE program = $2 AND kind = 'low_score' AND status IN ('open', 'waiting') AND fired_at < $1"
	" ORDER BY agent_id COLLATE \"C\", behavior COLLATE \"C\", fired_at, trigger_id COLLATE \"C\"";

/*
 * The agents a round can use ($1): the open triggers' and those high in one
 * of their behaviors, not the whole table (unknown agents may be many).
 * Mentor loads counted once, joined (a count per agent was an index probe
 * each, every round), in every program: a person has one capacity. The
 * rounds of a time run program after program (lib/analytics.c): a later
 * program's pairing that ends by this round ($2) but whose round has not
 * run yet does not count. A mentor must be active and known to the roster; a
 * mentee only not to have left it (SPEC: an agent the roster does not know
 * yet can be a mentee).
 */
#define ROSTER_LEFT_COLUMN 7
static const char roster_sql[] =
	"SELECT a.agent_id, team_id, team_lead_id, language, site, active AND roster_known, coalesce(l.n, 0),"
	"       NOT active"
	"  FROM agents a"
	"  LEFT JOIN (SELECT mentor_id, count(*) AS n FROM pairings WHERE status = 'active' AND ends_at > $2"
	"              GROUP BY mentor_id) l"
	"    ON l.mentor_id = a.agent_id"
	" WHERE a.agent_id = ANY($1::text[])"
	" ORDER BY a.agent_id COLLATE \"C\"";

static const char active_mentees_sql[] =
	"SELECT mentee_id, behavior FROM pairings WHERE program = $1 AND status = 'active'"
	" ORDER BY mentee_id COLLATE \"C\", behavior COLLATE \"C\"";

static const char recent_pairs_sql[] =
	"SELECT DISTINCT mentee_id, mentor_id FROM pairings"
	" WHERE program = $3 AND started_at > $1::timestamptz - $2::integer * interval '1 day'";

static const char resolve_trigger_sql[] =
	"UPDATE triggers SET status = 'resolved', resolution = $2, resolved_at = $3 WHERE trigger_id = $1";

/*
 * A round's pairings, staged (write_pairing), go in at its end
 * (write_assignments): each inserted active, its trigger marked paired, and
 * the comparison rows of a trigger that was not held out deleted.
 */
#define STAGE_PAIRINGS_COLUMNS 15

static const char insert_pairings_sql[] =
	"WITH p AS ("
	"  INSERT INTO pairings (pairing_id, trigger_id, mentee_id, mentor_id, behavior, status, started_at, ends_at,"
	"                        mentee_score, mentor_score, mentor_ci_low, cost, n_feasible, alternatives, program)"
	"  SELECT pairing_id, trigger_id, mentee_id, mentor_id, behavior, 'active', started_at, ends_at,"
	"         mentee_score, mentor_score, mentor_ci_low, cost, n_feasible, alternatives::jsonb, program"
	"    FROM stage_pairings RETURNING pairing_id, trigger_id),"
	" t AS (UPDATE triggers t SET status = 'paired', pairing_id = p.pairing_id FROM p WHERE t.trigger_id = p.trigger_id)"
	" DELETE FROM comparison_kpis c USING stage_pairings s WHERE c.trigger_id = s.trigger_id AND s.leaves_comparison";

/* Triggers ($1) that wait from the round at $2 on, or wait on for another reason ($3). */
static const char mark_waiting_sql[] =
	"UPDATE triggers SET status = 'waiting', waiting_since = coalesce(waiting_since, $2), waiting_reason = $3"
	" WHERE trigger_id = ANY($1::text[])";

/* Triggers to mark waiting for one reason: a PostgreSQL array literal. */
struct waiting_list {
	const char *reason;         /* triggers.waiting_reason */
	struct text_buf ids;
	size_t n;
};

/* Everything one round reads, indexed for the pairing module. */
struct round {
	struct run *r;
	int64_t at_us;
	int64_t asof_us;            /* the detector's state read as of this: at_us, or INT64_MAX at a drain's end */
	PGresult *roster, *open, *mentees_now;
	struct mentor_pair_agent *agents;
	size_t n_agents;
	struct mentor_pair_mentee *mentees;
	int *mentee_row;            /* row of open for each mentee */
	size_t n_mentees;
	const char **behaviors;     /* distinct behaviors of the mentees, sorted */
	size_t n_behaviors;
	struct mentor_pair_candidate *cands;
	double *cand_score;         /* native shrunk mean of each candidate */
	size_t n_cands, cap_cands;
	struct mentor_pair_recent *recent;
	size_t n_recent;
	struct text_buf paired;     /* binary COPY rows of stage_pairings */
	struct waiting_list no_mentor;  /* triggers newly waiting for a mentor */
	struct waiting_list one_focus;  /* triggers newly waiting while their agent is mentored in another behavior */
};

static int agent_index(const struct round *rd, const char *id)
{
	size_t lo = 0, hi = rd->n_agents;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(rd->agents[mid].id, id);

		if (c == 0)
			return (int)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int behavior_index(const struct round *rd, const char *name)
{
	const char **hit = bsearch(&name, rd->behaviors, rd->n_behaviors, sizeof(*rd->behaviors), an_cmp_str);

	return hit ? (int)(hit - rd->behaviors) : -1;
}

/* Whether agent is an active mentee in behavior: a binary search of the rows, sorted by mentee, behavior. */
static bool in_pairing(const struct round *rd, const char *agent, const char *behavior)
{
	int lo = 0, hi = PQntuples(rd->mentees_now);

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(PQgetvalue(rd->mentees_now, mid, 0), agent);

		if (c == 0)
			c = strcmp(PQgetvalue(rd->mentees_now, mid, 1), behavior);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* The round's open triggers and the active pairings' mentees. */
static int read_open(struct round *rd)
{
	char at[TIME_TEXT];
	int rc;

	an_time_text(rd->at_us, at);
	rc = an_q(rd->r, open_triggers_sql, 2, (const char *const[]){ at, rd->r->an->program }, "read open triggers",
		  &rd->open);
	if (rc == MENTOR_OK)
		rc = an_q(rd->r, active_mentees_sql, 1, (const char *const[]){ rd->r->an->program },
			  "read active mentees", &rd->mentees_now);
	return rc;
}

/* The agents a round may use, as a text[] literal: the mentees, and who is high in one of their behaviors. */
struct round_agents {
	struct text_buf ids;
	size_t n;
	const char **behaviors;     /* of the open triggers, sorted, with repeats */
	size_t n_behaviors;
};

static int add_high_agent(void *ctx, const struct mentor_detect_row *row)
{
	struct round_agents *ra = ctx;

	if (bsearch(&row->metric, ra->behaviors, ra->n_behaviors, sizeof(*ra->behaviors), an_cmp_str))
		buf_array_text(&ra->ids, ra->n++ == 0, row->agent_id, strlen(row->agent_id));
	return MENTOR_OK;
}

static int read_roster(struct round *rd)
{
	char at[TIME_TEXT];
	struct round_agents ra = { 0 };
	int n_open = PQntuples(rd->open);
	PGresult *res;
	int rc;

	if (!(ra.behaviors = calloc((size_t)n_open + 1, sizeof(*ra.behaviors))))
		return an_nomem(rd->r->err);
	buf_append(&ra.ids, "{", 1);
	for (int i = 0; i < n_open; i++) {
		buf_array_text(&ra.ids, ra.n++ == 0, PQgetvalue(rd->open, i, 1), (size_t)PQgetlength(rd->open, i, 1));
		ra.behaviors[ra.n_behaviors++] = PQgetvalue(rd->open, i, 2);
	}
	qsort(ra.behaviors, ra.n_behaviors, sizeof(*ra.behaviors), an_cmp_str);
	if (n_open > 0)
		mentor_detector_each_level_at(rd->r->an->det, rd->asof_us, MENTOR_LEVEL_HIGH, add_high_agent, &ra);
	buf_append(&ra.ids, "}", 1);
	free(ra.behaviors);
	if (ra.ids.failed) {
		free(ra.ids.data);
		return an_nomem(rd->r->err);
	}
	an_time_text(rd->at_us, at);
	rc = an_q(rd->r, roster_sql, 2, (const char *const[]){ ra.ids.data, at }, "read the roster", &rd->roster);
	free(ra.ids.data);
	if (rc != MENTOR_OK)
		return rc;
	res = rd->roster;
	rd->n_agents = (size_t)PQntuples(res);
	if (!(rd->agents = calloc(rd->n_agents + 1, sizeof(*rd->agents))))
		return an_nomem(rd->r->err);
	for (size_t i = 0; i < rd->n_agents; i++)
		rd->agents[i] = (struct mentor_pair_agent){
			.id = an_get_s(res, (int)i, 0), .team_id = an_get_s(res, (int)i, 1),
			.team_lead_id = an_get_s(res, (int)i, 2), .language = an_get_s(res, (int)i, 3),
			.site = an_get_s(res, (int)i, 4), .active = strcmp(PQgetvalue(res, (int)i, 5), "t") == 0,
			.active_mentees = (int)an_get_i64(res, (int)i, 6),
		};
	return MENTOR_OK;
}

/*
 * The randomized holdout (SPEC section 3): a share of new triggers, drawn by
 * a hash of the trigger id (so a replay holds out the same ones), is held
 * back for the KPI after window and stays in the comparison group, then
 * paired like any other.
 */
static bool held_out(const struct an_program *an, const char *trigger_id)
{
	uint64_t h = 1469598103934665603ULL;

	if (an->cfg->holdout_share <= 0)
		return false;
	for (const char *p = trigger_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return (double)(h % 1000000) < an->cfg->holdout_share * 1e6;
}

static int hold_out(struct round *rd, const char *trigger_id, const char *fired_at)
{
	char days[NUM_TEXT];

	rd->r->an->counts_stale = true;
	return an_q(rd->r,
		 "UPDATE triggers SET status = 'waiting', waiting_reason = 'holdout', holdout = true,"
		 " holdout_until = date_trunc('day', $2::timestamptz) + $3::integer * interval '1 day'"
		 " WHERE trigger_id = $1",
		 3, (const char *const[]){ trigger_id, fired_at, an_int_text(rd->r->an->cfg->stats.kpi.after_days, days) },
		 "hold a trigger out", NULL);
}

/* The open triggers that still need a mentor; the others are resolved. */
static int read_mentees(struct round *rd)
{
	struct run *r = rd->r;
	char at[TIME_TEXT];
	size_t n = (size_t)PQntuples(rd->open);
	int rc = MENTOR_OK;

	an_time_text(rd->at_us, at);
	rd->mentees = calloc(n + 1, sizeof(*rd->mentees));
	rd->mentee_row = calloc(n + 1, sizeof(*rd->mentee_row));
	rd->behaviors = calloc(n + 1, sizeof(*rd->behaviors));
	if (!rd->mentees || !rd->mentee_row || !rd->behaviors)
		return an_nomem(r->err);
	for (int i = 0; rc == MENTOR_OK && i < (int)n; i++) {
		const char *id = PQgetvalue(rd->open, i, 0), *agent = PQgetvalue(rd->open, i, 1);
		const char *behavior = PQgetvalue(rd->open, i, 2);
		const char *resolution = NULL;
		int a = agent_index(rd, agent);

		if (mentor_detector_level_at(r->an->det, agent, behavior, rd->asof_us) != MENTOR_LEVEL_LOW)
			resolution = "recovered";
		else if (strcmp(PQgetvalue(rd->open, i, 5), "t") == 0)
			continue;  /* held out: waits until holdout_until */
		else if (strcmp(PQgetvalue(rd->open, i, 3), "open") == 0 && held_out(r->an, id)) {
			rc = hold_out(rd, id, PQgetvalue(rd->open, i, 6));
			continue;
		}
		else if (a >= 0 && strcmp(PQgetvalue(rd->roster, a, ROSTER_LEFT_COLUMN), "t") == 0)
			resolution = "inactive";
		else if (in_pairing(rd, agent, behavior))
			resolution = "in_pairing";
		else if (a < 0)
			resolution = "unknown_agent";
		if (resolution) {
			rc = an_q(r, resolve_trigger_sql, 3, (const char *const[]){ id, resolution, at }, "resolve trigger",
			       NULL);
			r->an->counts_stale = true;
			continue;
		}
		rd->mentee_row[rd->n_mentees] = i;
		rd->mentees[rd->n_mentees++] = (struct mentor_pair_mentee){ .agent = a };
		rd->behaviors[rd->n_behaviors++] = behavior;
	}
	if (rc != MENTOR_OK)
		return rc;
	qsort(rd->behaviors, rd->n_behaviors, sizeof(*rd->behaviors), an_cmp_str);
	n = 0;
	for (size_t i = 0; i < rd->n_behaviors; i++)
		if (n == 0 || strcmp(rd->behaviors[n - 1], rd->behaviors[i]) != 0)
			rd->behaviors[n++] = rd->behaviors[i];
	rd->n_behaviors = n;
	for (size_t i = 0; i < rd->n_mentees; i++)
		rd->mentees[i].behavior = behavior_index(rd, PQgetvalue(rd->open, rd->mentee_row[i], 2));
	return MENTOR_OK;
}

static int add_candidate(void *ctx, const struct mentor_detect_row *row)
{
	struct round *rd = ctx;
	const struct mentor_detector *det = rd->r->an->det;
	int b = behavior_index(rd, row->metric), a;
	struct mentor_scale sc;

	if (b < 0 || (a = agent_index(rd, row->agent_id)) < 0 || !isfinite(row->ci_low))
		return MENTOR_OK;
	/*
	 * High is decided at the behavior's own observations, against the overall level of its own source only;
	 * a mentor must not be low in CSAT or AQM overall as of the round.
	 */
	if (mentor_detector_level_at(det, row->agent_id, MENTOR_DETECT_CSAT, rd->asof_us) == MENTOR_LEVEL_LOW ||
	    mentor_detector_level_at(det, row->agent_id, MENTOR_DETECT_AQM, rd->asof_us) == MENTOR_LEVEL_LOW)
		return MENTOR_OK;
	if (rd->n_cands == rd->cap_cands) {
		size_t cap = rd->cap_cands ? 2 * rd->cap_cands : 256;
		struct mentor_pair_candidate *c = realloc(rd->cands, cap * sizeof(*c));
		double *s = c ? realloc(rd->cand_score, cap * sizeof(*s)) : NULL;

		if (c)
			rd->cands = c;
		if (!c || !s)
			return MENTOR_ERR_NOMEM;
		rd->cand_score = s;
		rd->cap_cands = cap;
	}
	if (an_scale_of(rd->r, row->metric, &sc) != MENTOR_OK)
		return MENTOR_ERR_DB;
	rd->cand_score[rd->n_cands] = mentor_stats_native(row->shrunk, &sc);
	rd->cands[rd->n_cands++] = (struct mentor_pair_candidate){
		.agent = a, .behavior = b, .strength = row->ci_low,
		.is_mentee = in_pairing(rd, row->agent_id, row->metric),
	};
	return MENTOR_OK;
}

/*
 * Adds the trigger of row to list unless it waits for that reason already;
 * returns whether it was added.
 */
static bool add_waiting(struct round *rd, struct waiting_list *list, int row)
{
	const char *trigger = PQgetvalue(rd->open, row, 0);

	if (strcmp(PQgetvalue(rd->open, row, 3), "waiting") == 0 && strcmp(PQgetvalue(rd->open, row, 7), list->reason) == 0)
		return false;
	if (list->n == 0)
		buf_append(&list->ids, "{", 1);
	buf_array_text(&list->ids, list->n++ == 0, trigger, strlen(trigger));
	return true;
}

/* The active pairings an agent holds as a mentee in the program (mentees_now is in mentee order). */
static int active_as_mentee(const struct round *rd, const char *agent)
{
	int lo = 0, hi = PQntuples(rd->mentees_now), n = 0;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (strcmp(PQgetvalue(rd->mentees_now, mid, 0), agent) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo + n < PQntuples(rd->mentees_now) && strcmp(PQgetvalue(rd->mentees_now, lo + n, 0), agent) == 0)
		n++;
	return n;
}

static int take_shrunk(void *ctx, const struct mentor_detect_row *row)
{
	*(double *)ctx = row->shrunk;
	return MENTOR_OK;
}

/* What orders an agent's triggers for its free places: those with a mentor-eligible agent, the lowest first. */
struct focus_key {
	size_t mentee;      /* index in rd->mentees */
	bool has_mentor;    /* an agent is mentor-eligible in the behavior */
	double shrunk;      /* normalized, as of the round */
	const char *behavior;
};

static bool focus_before(const struct focus_key *a, const struct focus_key *b)
{
	if (a->has_mentor != b->has_mentor)
		return a->has_mentor;
	if (a->shrunk != b->shrunk)
		return a->shrunk < b->shrunk;
	return strcmp(a->behavior, b->behavior) < 0;
}

/*
 * One mentee, one focus (SPEC section 3): an agent holds at most
 * max_pairings_per_mentee active pairings in the program. Of its triggers
 * that have a mentor-eligible agent, those that fill its free places, the
 * lowest shrunk mean first (then by behavior), go to the assignment; the
 * others wait (one_focus) for a later round. A trigger no agent could
 * mentor goes to the assignment anyway, and waits there for a mentor.
 */
static int keep_focus(struct round *rd)
{
	int *candidates = calloc(rd->n_behaviors + 1, sizeof(*candidates));
	struct focus_key *keys = calloc(rd->n_mentees + 1, sizeof(*keys));
	bool *keep = calloc(rd->n_mentees + 1, sizeof(*keep));
	size_t kept = 0;

	if (!candidates || !keys || !keep) {
		free(candidates);
		free(keys);
		free(keep);
		return an_nomem(rd->r->err);
	}
	for (size_t i = 0; i < rd->n_cands; i++)
		candidates[rd->cands[i].behavior]++;
	/* An agent's mentees are next to each other: the open triggers are in agent order. */
	for (size_t first = 0, end; first < rd->n_mentees; first = end) {
		const char *agent = PQgetvalue(rd->open, rd->mentee_row[first], 1);
		int places = rd->r->an->cfg->max_pairings_per_mentee - active_as_mentee(rd, agent);
		size_t n = 0;

		for (end = first; end < rd->n_mentees && rd->mentees[end].agent == rd->mentees[first].agent; end++) {
			struct focus_key k = {
				.mentee = end, .has_mentor = candidates[rd->mentees[end].behavior] > 0, .shrunk = NAN,
				.behavior = PQgetvalue(rd->open, rd->mentee_row[end], 2),
			};
			size_t at = n++;

			mentor_detector_key_at(rd->r->an->det, agent, k.behavior, rd->asof_us, take_shrunk, &k.shrunk);
			for (; at > 0 && focus_before(&k, &keys[at - 1]); at--)
				keys[at] = keys[at - 1];
			keys[at] = k;
		}
		for (size_t i = 0; i < n; i++) {
			keep[keys[i].mentee] = !keys[i].has_mentor || places-- > 0;
			if (!keep[keys[i].mentee])
				add_waiting(rd, &rd->one_focus, rd->mentee_row[keys[i].mentee]);
		}
	}
	/* Compacted in place (the assignment does not depend on the order of its input). */
	for (size_t m = 0; m < rd->n_mentees; m++)
		if (keep[m]) {
			rd->mentees[kept] = rd->mentees[m];
			rd->mentee_row[kept++] = rd->mentee_row[m];
		}
	rd->n_mentees = kept;
	free(candidates);
	free(keys);
	free(keep);
	return rd->one_focus.ids.failed ? an_nomem(rd->r->err) : MENTOR_OK;
}

static int read_recent(struct round *rd)
{
	struct run *r = rd->r;
	char at[TIME_TEXT], days[NUM_TEXT];
	PGresult *res = NULL;
	int rc;

	an_time_text(rd->at_us, at);
	rc = an_q(r, recent_pairs_sql, 3,
		  (const char *const[]){ at, an_int_text(r->an->cfg->cooldown_days, days), r->an->program },
	       "read recent pairs", &res);
	if (rc != MENTOR_OK)
		return rc;
	if (!(rd->recent = calloc((size_t)PQntuples(res) + 1, sizeof(*rd->recent)))) {
		PQclear(res);
		return an_nomem(r->err);
	}
	for (int i = 0; i < PQntuples(res); i++) {
		int mentee = agent_index(rd, PQgetvalue(res, i, 0)), mentor = agent_index(rd, PQgetvalue(res, i, 1));

		if (mentee >= 0 && mentor >= 0)
			rd->recent[rd->n_recent++] = (struct mentor_pair_recent){
				.mentee = mentee, .mentor = mentor, .behavior = -1,
			};
	}
	PQclear(res);
	return MENTOR_OK;
}

/* The native shrunk mean of a candidate (agent, behavior), NaN if not one. */
static double candidate_score(const struct round *rd, int agent, int behavior)
{
	for (size_t i = 0; i < rd->n_cands; i++)
		if (rd->cands[i].agent == agent && rd->cands[i].behavior == behavior)
			return rd->cand_score[i];
	return NAN;
}

/* The mentee's shrunk mean in the behavior as of the round, native. */
static int mentee_score_cb(void *ctx, const struct mentor_detect_row *row)
{
	double *ret = ctx;

	*ret = row->shrunk;
	return MENTOR_OK;
}

static double mentee_native_score(const struct round *rd, const char *agent, const char *behavior,
				  const struct mentor_scale *sc)
{
	double shrunk = NAN;

	mentor_detector_key_at(rd->r->an->det, agent, behavior, rd->asof_us, mentee_score_cb, &shrunk);
	return mentor_stats_native(shrunk, sc);
}

static int write_pairing(struct round *rd, size_t m, const struct mentor_pair_assignment *as)
{
	struct run *r = rd->r;
	int row = rd->mentee_row[m];
	const char *trigger = PQgetvalue(rd->open, row, 0), *mentee = PQgetvalue(rd->open, row, 1);
	const char *behavior = PQgetvalue(rd->open, row, 2), *mentor = rd->agents[as->mentor].id;
	int b = rd->mentees[m].behavior;
	char id[4 * MENTOR_ID_MAX], start[TIME_TEXT], end[TIME_TEXT];
	int64_t ends_us = rd->at_us + (int64_t)r->an->cfg->duration_days * MENTOR_US_PER_DAY;
	json_t *alts = json_array();
	struct mentor_scale sc;
	char *alts_text;
	double mentor_ci = NAN;
	bool leaves;
	int rc;

	if (!alts)
		return an_nomem(r->err);
	for (int i = 0; i < as->n_alts; i++)
		json_array_append_new(alts, json_pack("{s:s, s:I, s:o}", "mentor_id", rd->agents[as->alts[i].mentor].id,
						      "cost", (json_int_t)as->alts[i].cost, "score",
						      an_json_num(candidate_score(rd, as->alts[i].mentor, b))));
	alts_text = json_dumps(alts, JSON_COMPACT);
	json_decref(alts);
	if (!alts_text || (rc = an_scale_of(r, behavior, &sc)) != MENTOR_OK) {
		free(alts_text);
		return alts_text ? rc : an_nomem(r->err);
	}
	for (size_t i = 0; i < rd->n_cands; i++)
		if (rd->cands[i].agent == as->mentor && rd->cands[i].behavior == b)
			mentor_ci = mentor_stats_native(rd->cands[i].strength, &sc);
	snprintf(id, sizeof(id), "p/%s", trigger);
	an_time_text(rd->at_us, start);
	an_time_text(ends_us, end);
	if (rd->paired.len == 0)
		bin_begin(&rd->paired);
	bin_row(&rd->paired, STAGE_PAIRINGS_COLUMNS);
	bin_text(&rd->paired, id);
	bin_text(&rd->paired, trigger);
	bin_text(&rd->paired, mentee);
	bin_text(&rd->paired, mentor);
	bin_text(&rd->paired, behavior);
	bin_timestamp(&rd->paired, rd->at_us);
	bin_timestamp(&rd->paired, ends_us);
	bin_float8(&rd->paired, mentee_native_score(rd, mentee, behavior, &sc));
	bin_float8(&rd->paired, candidate_score(rd, as->mentor, b));
	bin_float8(&rd->paired, mentor_ci);
	bin_int8(&rd->paired, as->cost);
	bin_int4(&rd->paired, as->n_feasible);
	bin_text(&rd->paired, alts_text);
	free(alts_text);
	/* A held-out trigger was the comparison group until now: its rows stay. */
	leaves = strcmp(PQgetvalue(rd->open, row, 4), "t") != 0;
	bin_bool(&rd->paired, leaves);
	bin_text(&rd->paired, r->an->program);
	if (leaves)
		mentor_kpi_remove_owner(r->an->kpi, trigger, true);
	rc = rd->paired.failed ? an_nomem(r->err) : MENTOR_OK;
	if (rc == MENTOR_OK)
		rc = an_open_windows(r, id, false, "mentee", mentee, behavior, rd->at_us);
	if (rc == MENTOR_OK)
		rc = an_open_windows(r, id, false, "mentor", mentor, behavior, rd->at_us);
	if (rc == MENTOR_OK)
		rc = an_insert_alert(r, "pairing_created", id, mentee, rd->at_us, behavior,
				  json_pack("{s:s, s:s, s:s, s:s, s:s}", "pairing_id", id, "trigger_id", trigger,
					    "mentor_id", mentor, "starts_at", start, "ends_at", end));
	return rc;
}

static int write_waiting(struct round *rd, size_t m)
{
	struct run *r = rd->r;
	int row = rd->mentee_row[m];
	const char *trigger = PQgetvalue(rd->open, row, 0), *agent = PQgetvalue(rd->open, row, 1);
	const char *behavior = PQgetvalue(rd->open, row, 2);
	bool any = false;

	/* A trigger waiting for a mentor through many rounds is marked, and alerts, once. */
	if (!add_waiting(rd, &rd->no_mentor, row))
		return MENTOR_OK;
	for (size_t i = 0; i < rd->n_cands && !any; i++)
		any = rd->cands[i].behavior == rd->mentees[m].behavior;
	return an_insert_alert(r, "no_mentor_available", trigger, agent, rd->at_us, behavior,
			       json_pack("{s:s, s:s}", "trigger_id", trigger, "reason",
					 any ? "every mentor-eligible agent is excluded (language, site, capacity, "
					       "cooldown, team or own team lead)"
					     : "no agent is mentor-eligible in this behavior"));
}

static int mark_waiting(struct round *rd, struct waiting_list *list, const char *at)
{
	if (list->n == 0)
		return MENTOR_OK;
	buf_append(&list->ids, "}", 1);
	if (list->ids.failed)
		return an_nomem(rd->r->err);
	return an_q(rd->r, mark_waiting_sql, 3, (const char *const[]){ list->ids.data, at, list->reason },
		    "mark triggers waiting", NULL);
}

/* The round's staged pairings and waiting marks, in three statements. */
static int write_assignments(struct round *rd)
{
	struct run *r = rd->r;
	char at[TIME_TEXT];
	int rc = MENTOR_OK;

	if (rd->paired.rows > 0) {
		bin_end(&rd->paired);
		rc = an_copy(r, &rd->paired, "COPY stage_pairings FROM STDIN WITH (FORMAT binary)", insert_pairings_sql,
			     false, "insert pairings");
		/* A transaction can run several rounds: the next one stages its own. */
		if (rc == MENTOR_OK)
			rc = an_q(r, "TRUNCATE stage_pairings", 0, NULL, "empty stage_pairings", NULL);
	}
	an_time_text(rd->at_us, at);
	if (rc == MENTOR_OK)
		rc = mark_waiting(rd, &rd->no_mentor, at);
	if (rc == MENTOR_OK)
		rc = mark_waiting(rd, &rd->one_focus, at);
	return rc;
}

static void round_free(struct round *rd)
{
	free(rd->no_mentor.ids.data);
	free(rd->one_focus.ids.data);
	free(rd->paired.data);
	PQclear(rd->roster);
	PQclear(rd->open);
	PQclear(rd->mentees_now);
	free(rd->agents);
	free(rd->mentees);
	free(rd->mentee_row);
	free(rd->behaviors);
	free(rd->cands);
	free(rd->cand_score);
	free(rd->recent);
}

int an_resolve_refired(struct run *r, int64_t before_us)
{
	char before[TIME_TEXT];
	int rc = an_flush_triggers(r);

	an_time_text(before_us, before);
	if (rc == MENTOR_OK)
		rc = an_q(r, resolve_refired_sql, 2, (const char *const[]){ before, r->an->program },
			  "resolve refired triggers", NULL);
	if (rc == MENTOR_OK)
		r->an->counts_stale = true;
	return rc;
}

/* Completes the pairings that end by the round at `at` (complete_pairings_sql), if any. */
static int complete_pairings(struct run *r, const char *at, bool last)
{
	char lo[NUM_TEXT], hi[NUM_TEXT], late_days[NUM_TEXT];
	PGresult *res = NULL;
	int rc = an_q(r, completing_mentees_sql, 2, (const char *const[]){ r->an->program, at },
		      "read the pairings to complete", &res);

	if (rc == MENTOR_OK && !PQgetisnull(res, 0, 0))
		rc = an_q(r, complete_pairings_sql, 7,
			  (const char *const[]){ at, an_int_text(r->an->rules->csat_min, lo),
						 an_int_text(r->an->rules->csat_max, hi),
						 an_int_text(an_kpi_decided_before_day(r->an, 0), late_days),
						 last ? "infinity" : at, r->an->program, PQgetvalue(res, 0, 0) },
			  "complete pairings", NULL);
	PQclear(res);
	return rc;
}

/*
 * One pairing round at event time at_us (SPEC section 3): triggers fired
 * before it supersede older ones; pairings that ended are completed, those
 * that lost an agent cancelled; open triggers still low are assigned
 * together; the program effect is recomputed. Keys are read as of at_us,
 * or, for the last round of a drain (last), with everything decided.
 */
int an_run_round(struct run *r, int64_t at_us, bool last)
{
	struct round rd = {
		.r = r, .at_us = at_us, .asof_us = last ? INT64_MAX : at_us,
		.no_mentor.reason = "no_mentor", .one_focus.reason = "one_focus",
	};
	struct mentor_pair_result *res = NULL;
	struct mentor_pair_input in;
	char at[TIME_TEXT];
	int rc;

	an_time_text(at_us, at);
	rc = an_resolve_refired(r, at_us);
	if (rc == MENTOR_OK)
		rc = an_set_agents(r);  /* the roster's agents, whatever an_refresh_agents() may have passed over */
	if (rc == MENTOR_OK)
		rc = complete_pairings(r, at, last);
	if (rc == MENTOR_OK)
		rc = an_q(r, cancel_pairings_sql, 2, (const char *const[]){ at, r->an->program }, "cancel pairings",
			  NULL);
	if (rc == MENTOR_OK)
		rc = read_open(&rd);
	if (rc == MENTOR_OK)
		rc = read_roster(&rd);
	if (rc == MENTOR_OK)
		rc = read_mentees(&rd);
	if (rc == MENTOR_OK && rd.n_mentees > 0) {
		rc = mentor_detector_each_level_at(r->an->det, rd.asof_us, MENTOR_LEVEL_HIGH, add_candidate, &rd);
		if (rc == MENTOR_ERR_NOMEM)
			rc = an_nomem(r->err);
		if (rc == MENTOR_OK)
			rc = read_recent(&rd);
		if (rc == MENTOR_OK)
			rc = keep_focus(&rd);
		in = (struct mentor_pair_input){
			.agents = rd.agents, .n_agents = rd.n_agents, .mentees = rd.mentees, .n_mentees = rd.n_mentees,
			.candidates = rd.cands, .n_candidates = rd.n_cands, .recent = rd.recent, .n_recent = rd.n_recent,
		};
		if (rc == MENTOR_OK)
			rc = mentor_pair_round(&in, &r->an->cfg->pair, &res, r->err);
		for (size_t m = 0; rc == MENTOR_OK && m < rd.n_mentees; m++)
			rc = res->a[m].mentor >= 0 ? write_pairing(&rd, m, &res->a[m]) : write_waiting(&rd, m);
		if (rc == MENTOR_OK)
			rc = write_assignments(&rd);
	}
	r->an->counts_stale = true;
	r->round_ran = true;
	if (rc == MENTOR_OK)
		rc = an_write_kpis(r, false, false);  /* the program effect reads the final rows */
	if (rc == MENTOR_OK)
		rc = an_refresh_program_effect(r, at_us);
	if (rc == MENTOR_OK)
		r->an->last_round_us = at_us;
	mentor_pair_result_free(res);
	round_free(&rd);
	return rc;
}
