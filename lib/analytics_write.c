/*
 * What a run writes: the alerts, low-score triggers and priors its decisions
 * stage, the KPI windows they open, and, through staging tables and MERGE,
 * the changed status rows, KPI rows and the analytics state. Internal to lib/.
 */
#include "analytics_write.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_int.h"
#include "analytics_sql.h"
#include "grow.h"

/* The KPI metrics of every pairing besides its behavior (SPEC section 4). */
static const char *const kpi_base_metrics[] = { "csat", "csat_top2", "aqm" };

#define KPI_METRICS_MAX 4

/* Top-2 box is a view of CSAT, not a behavior of its own: it never fires a trigger. */
#define NO_TRIGGER_METRIC "csat_top2"

/*
 * The alerts of a transaction, staged and inserted by one statement at its
 * end. An alert's id names its cause, so a cause alerts once: the earliest,
 * also when a transaction staged it again (a trigger that waits for a
 * mentor, then for its agent's other behavior, then for a mentor again).
 */
static const char insert_alerts_sql[] =
	"INSERT INTO alerts (alert_id, kind, team_lead_id, agent_id, occurred_at, payload, program)"
	" SELECT s.alert_id, s.kind, a.team_lead_id, s.agent_id, s.occurred_at,"
	"   jsonb_build_object('schema', 'mentord.alert.v1', 'alert_id', s.alert_id, 'kind', s.kind,"
	"     'program', s.program,"
	"     'occurred_at', to_char(s.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	"     'team_lead_id', a.team_lead_id, 'agent_id', s.agent_id, 'agent_name', a.name, 'behavior', s.behavior)"
	"   || s.fields, s.program"
	"   FROM stage_alerts s LEFT JOIN agents a USING (agent_id)"
	"  ORDER BY s.alert_id, s.occurred_at"
	" ON CONFLICT (alert_id) DO NOTHING";

/*
 * Inserts one alert into the outbox; its id is kind:cause_id, so a replay
 * inserts nothing new. fields (a JSON object, consumed) are the kind's own.
 */
int an_insert_alert(struct run *r, const char *kind, const char *cause_id, const char *agent_id,
			int64_t occurred_us, const char *behavior, json_t *fields)
{
	char id[3 * MENTOR_ID_MAX + 64], at[TIME_TEXT];
	char *body = fields ? json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(fields);
	if (!body)
		return an_nomem(r->err);
	snprintf(id, sizeof(id), "%s:%s", kind, cause_id);
	an_time_text(occurred_us, at);
	col_text(&r->staged.alerts, id);
	col_text(&r->staged.alerts, kind);
	col_text(&r->staged.alerts, agent_id);
	col_text(&r->staged.alerts, at);
	col_text(&r->staged.alerts, behavior);
	col_text(&r->staged.alerts, body);
	col_text(&r->staged.alerts, r->an->program);
	row_end(&r->staged.alerts);
	free(body);
	return r->staged.alerts.failed ? an_nomem(r->err) : MENTOR_OK;
}

/* Inserts the staged alerts. */
static int flush_alerts(struct run *r)
{
	int rc = MENTOR_OK;

	if (r->staged.alerts.rows > 0)
		rc = mentor_store_copy(r->s, "COPY stage_alerts FROM STDIN", r->staged.alerts.data, r->staged.alerts.len, r->err);
	if (rc == MENTOR_OK && r->staged.alerts.rows > 0)
		rc = an_q(r, insert_alerts_sql, 0, NULL, "insert alerts", NULL);
	free(r->staged.alerts.data);
	r->staged.alerts = (struct text_buf){ 0 };
	return rc;
}

void an_staged_free(struct run_staged *st)
{
	free(st->alerts.data);
	free(st->triggers.data);
	for (size_t i = 0; i < st->n_priors; i++)
		free(st->priors[i].metric);
	free(st->priors);
	*st = (struct run_staged){ 0 };
}

void an_forget_early(struct an_program *an)
{
	an_staged_free(&an->early_staged);
	free(an->early_seen);
	an->early_seen = NULL;
	an->early_ran = false;
	an->early_ok = false;
}

/*
 * The low-score triggers fired since the last flush go in together
 * (an_flush_triggers), open. One that supersedes an older open trigger of
 * its agent and behavior does so at the next round (an_resolve_refired,
 * rounds.c), which may run before a trigger fired after it is written.
 */
#define STAGE_TRIGGERS_COLUMNS 8

static const char insert_triggers_sql[] =
	"INSERT INTO triggers (trigger_id, agent_id, behavior, kind, fired_at, event_id, score, n, status, program)"
	" SELECT trigger_id, agent_id, behavior, 'low_score', fired_at, event_id, score, n, 'open', program"
	"   FROM stage_triggers"
	" ON CONFLICT DO NOTHING";

int an_flush_triggers(struct run *r)
{
	int rc;

	if (r->staged.triggers.rows == 0)
		return MENTOR_OK;
	bin_end(&r->staged.triggers);
	rc = an_copy(r, &r->staged.triggers, "COPY stage_triggers FROM STDIN WITH (FORMAT binary)", insert_triggers_sql,
		     false, "insert triggers");
	/* A transaction can flush several times: each flush sees only its own rows. */
	return rc == MENTOR_OK ? an_q(r, "TRUNCATE stage_triggers", 0, NULL, "empty stage_triggers", NULL) : rc;
}

/* The KPI metrics of a behavior: it, then csat, csat_top2 and aqm, each once. */
static size_t kpi_metrics(const char *behavior, const char *ret[KPI_METRICS_MAX])
{
	size_t n = 0;

	ret[n++] = behavior;
	for (size_t i = 0; i < sizeof(kpi_base_metrics) / sizeof(kpi_base_metrics[0]); i++)
		if (strcmp(kpi_base_metrics[i], behavior) != 0)
			ret[n++] = kpi_base_metrics[i];
	return n;
}

int64_t an_kpi_decided_before_day(const struct an_program *an, int64_t after_to_day)
{
	return after_to_day + (an_lateness_max(an) + MENTOR_US_PER_DAY - 1) / MENTOR_US_PER_DAY;
}

/* Opens the KPI windows of one subject around start_us, with what the detector already holds. */
int an_open_windows(struct run *r, const char *owner_id, bool comparison, const char *subject,
			const char *agent_id, const char *behavior, int64_t start_us)
{
	const char *metrics[KPI_METRICS_MAX];
	size_t n = kpi_metrics(behavior, metrics);
	struct mentor_kpi_window w = {
		.owner_id = owner_id, .comparison = comparison, .subject = subject, .agent_id = agent_id,
	};
	int rc = MENTOR_OK;

	mentor_stats_kpi_windows_day(start_us, &r->an->cfg->stats.kpi, &w.before, &w.after);
	w.decided_before_day = an_kpi_decided_before_day(r->an, w.after.to_day);
	for (size_t i = 0; rc == MENTOR_OK && i < n; i++) {
		w.metric = metrics[i];
		w.is_target = i == 0;
		mentor_detector_day_sums(r->an->det, agent_id, metrics[i], w.before.from_day, w.before.to_day, &w.b.n,
					 &w.b.sum_e6, &w.b.sumsq_e12);
		mentor_detector_day_sums(r->an->det, agent_id, metrics[i], w.after.from_day, w.after.to_day, &w.a.n,
					 &w.a.sum_e6, &w.a.sumsq_e12);
		rc = mentor_kpi_add(r->an->kpi, &w, r->err);
	}
	return rc;
}

static int on_trigger(void *ctx, const struct mentor_detect_trigger *t)
{
	struct run *r = ctx;
	const struct mentor_stats_params *p = &r->an->cfg->stats;
	struct text_buf *b = &r->staged.triggers;
	char id[3 * MENTOR_ID_MAX + 16];
	struct mentor_scale sc;
	int rc;

	/* Only the behaviors the program lists fire (SPEC section 2); the others' status rows still say low. */
	if (strcmp(t->metric, NO_TRIGGER_METRIC) == 0 || !mentor_analytics_may_trigger(r->an->cfg, t->metric))
		return MENTOR_OK;
	if ((rc = an_scale_of(r, t->metric, &sc)) != MENTOR_OK)
		return rc;
	snprintf(id, sizeof(id), "low/%s/%s", t->event_id, t->metric);
	r->an->counts_stale = true;
	if (b->len == 0)
		bin_begin(b);
	bin_row(b, STAGE_TRIGGERS_COLUMNS);
	bin_text(b, id);
	bin_text(b, t->agent_id);
	bin_text(b, t->metric);
	bin_timestamp(b, t->fired_us);
	bin_text(b, t->event_id);
	bin_float8(b, mentor_stats_native(t->shrunk, &sc));
	bin_int8(b, t->n);
	bin_text(b, r->an->program);
	if (b->failed)
		return an_nomem(r->err);
	rc = an_open_windows(r, id, true, "mentee", t->agent_id, t->metric, t->fired_us);
	if (rc == MENTOR_OK)
		rc = an_insert_alert(r, "low_score_trigger", id, t->agent_id, t->fired_us, t->metric,
				  json_pack("{s:s, s:o, s:f, s:I, s:i}", "trigger_id", id, "score", an_json_num(t->shrunk),
					    "threshold", p->status.low_threshold, "n", (json_int_t)t->n, "window_days",
					    p->shrink.window_days));
	return rc;
}

static int on_prior(void *ctx, const struct mentor_detect_prior *pr)
{
	struct run *r = ctx;
	struct run_staged *st = &r->staged;

	if (!mentor_grow((void **)&st->priors, &st->cap_priors, st->n_priors, sizeof(*st->priors), 16, SIZE_MAX))
		return an_nomem(r->err);
	if (!(st->priors[st->n_priors].metric = strdup(pr->metric)))
		return an_nomem(r->err);
	st->priors[st->n_priors].day = pr->day;
	st->priors[st->n_priors++].pop = pr->pop;
	return MENTOR_OK;
}

/* Inserts the priors computed since the last call. */
static int flush_priors(struct run *r)
{
	struct run_staged *st = &r->staged;
	int rc = MENTOR_OK;

	for (size_t i = 0; rc == MENTOR_OK && i < st->n_priors; i++) {
		const struct mentor_population *pop = &st->priors[i].pop;
		char day[TIME_TEXT], na[NUM_TEXT], no[NUM_TEXT], m[NUM_TEXT], s2[NUM_TEXT], t2[NUM_TEXT], k[NUM_TEXT];
		const char *params[10] = {
			st->priors[i].metric, day, an_int_text((int64_t)pop->n_agents, na), an_int_text(pop->n_obs, no),
			an_num_text(pop->mean, m), an_num_text(pop->sigma2_within, s2), an_num_text(pop->tau2_between, t2),
			an_num_text(pop->k, k), pop->k_estimated ? "true" : "false", r->an->program,
		};

		an_day_text(st->priors[i].day, day);
		rc = an_q(r,
			  "INSERT INTO behavior_priors (metric, day, n_agents, n_obs, pop_mean, sigma2_within, tau2_between,"
			  " k, k_estimated, program) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
			  10, params, "insert prior", NULL);
	}
	for (size_t i = 0; i < st->n_priors; i++)
		free(st->priors[i].metric);
	st->n_priors = 0;
	return rc;
}

/*
 * A KPI window takes the observations of its days decided before its
 * decided_before_day (an_kpi_decided_before_day), whatever the order in which
 * they are evaluated, so what it holds depends on the observations' times
 * and decision times alone; an_close_kpis says when it is final.
 */
static int on_evaluated(void *ctx, const struct mentor_detect_obs *o)
{
	struct run *r = ctx;
	int64_t decide_day = mentor_stats_day_of(o->decide_us);

	if (o->decide_us > r->an->decided_newest_us)
		r->an->decided_newest_us = o->decide_us;
	mentor_kpi_observe_key(r->an->kpi, o->key_hash, o->agent_id, o->metric, o->day, decide_day, o->value_e6);
	return MENTOR_OK;
}

void an_close_kpis(struct an_program *an, int64_t frontier_us)
{
	int64_t day;

	if (frontier_us == NO_TIME)
		return;
	day = mentor_stats_day_of(frontier_us);
	if (day > an->kpi_closed_day) {
		mentor_kpi_close(an->kpi, day);
		an->kpi_closed_day = day;
	}
}

struct mentor_detect_sink an_detect_sink(struct run *r)
{
	return (struct mentor_detect_sink){
		.trigger = on_trigger, .prior = on_prior, .evaluated = on_evaluated, .ctx = r,
	};
}

/* Staging tables live in the session: made once per server session (backend). */
static const char *const stage_sql[] = {
	"CREATE TEMP TABLE IF NOT EXISTS stage_status (LIKE agent_behavior_status) ON COMMIT DELETE ROWS",
	("CREATE TEMP TABLE IF NOT EXISTS stage_kpis (owner_id text, comparison boolean, subject text, metric text,"
	 " is_target boolean, before_n bigint, before_mean float8, after_n bigint, after_mean float8, delta float8,"
	 " ci_low float8, ci_high float8, final boolean, before_from date, before_to date, after_from date,"
	 " after_to date, before_sum_e6 bigint, before_sumsq_e12 bigint, after_sum_e6 bigint,"
	 " after_sumsq_e12 bigint, program text) ON COMMIT DELETE ROWS"),
	("CREATE TEMP TABLE IF NOT EXISTS stage_alerts (alert_id text, kind text, agent_id text,"
	 " occurred_at timestamptz, behavior text, fields jsonb, program text) ON COMMIT DELETE ROWS"),
	("CREATE TEMP TABLE IF NOT EXISTS stage_triggers (trigger_id text, agent_id text, behavior text,"
	 " fired_at timestamptz, event_id text, score float8, n bigint, program text) ON COMMIT DELETE ROWS"),
	("CREATE TEMP TABLE IF NOT EXISTS stage_pairings (pairing_id text, trigger_id text, mentee_id text,"
	 " mentor_id text, behavior text, started_at timestamptz, ends_at timestamptz, mentee_score float8,"
	 " mentor_score float8, mentor_ci_low float8, cost bigint, n_feasible integer, alternatives text,"
	 " leaves_comparison boolean, program text) ON COMMIT DELETE ROWS"),
};

int an_create_stages(struct run *r)
{
	int pid = PQbackendPID(mentor_store_conn(r->s));
	int rc = MENTOR_OK;

	/* A reconnection is a new backend: its temporary tables are gone. */
	if (pid == r->an->stages_pid)
		return MENTOR_OK;
	for (size_t i = 0; rc == MENTOR_OK && i < sizeof(stage_sql) / sizeof(stage_sql[0]); i++)
		rc = an_q(r, stage_sql[i], 0, NULL, "create analytics staging tables", NULL);
	/* Made inside a transaction: they exist once it commits; the mark waits for it (run_end, analytics.c). */
	if (rc == MENTOR_OK)
		r->stages_made = pid;
	return rc;
}

#define STATUS_COLUMNS \
	"n, mean, shrunk_mean, ci_low, ci_high, status, reason, since, updated_at, norm_mean, norm_shrunk," \
	" norm_ci_low, norm_ci_high, pop_mean, prior_k, week, weekly_low"

#define STATUS_COUNT 20

/* MERGE, not INSERT ... ON CONFLICT: a join and an update per row, about half the cost for a batch's keys. */
static const char merge_status_sql[] =
	"MERGE INTO agent_behavior_status a USING stage_status s"
	" ON a.program = s.program AND a.agent_id = s.agent_id AND a.behavior = s.behavior"
	" WHEN MATCHED THEN UPDATE SET (" STATUS_COLUMNS ") ="
	"   (s.n, s.mean, s.shrunk_mean, s.ci_low, s.ci_high, s.status, s.reason, s.since, s.updated_at,"
	"    s.norm_mean, s.norm_shrunk, s.norm_ci_low, s.norm_ci_high, s.pop_mean, s.prior_k, s.week, s.weekly_low)"
	" WHEN NOT MATCHED THEN INSERT (program, agent_id, behavior, " STATUS_COLUMNS ")"
	"   VALUES (s.program, s.agent_id, s.behavior, s.n, s.mean, s.shrunk_mean, s.ci_low, s.ci_high, s.status, s.reason,"
	"    s.since, s.updated_at, s.norm_mean, s.norm_shrunk, s.norm_ci_low, s.norm_ci_high, s.pop_mean,"
	"    s.prior_k, s.week, s.weekly_low)";

/* Columns of pairing_kpis and comparison_kpis after the owner's, and the merge of stage_kpis into them. */
#define KPI_COLUMNS \
	"metric, is_target, before_n, before_mean, after_n, after_mean, delta, ci_low, ci_high, final," \
	" before_from, before_to, after_from, after_to, before_sum_e6, before_sumsq_e12, after_sum_e6, after_sumsq_e12"

#define KPI_UPDATED \
	"before_n, before_mean, after_n, after_mean, delta, ci_low, ci_high, final," \
	" before_sum_e6, before_sumsq_e12, after_sum_e6, after_sumsq_e12"

#define KPI_MERGE(table, key_match, owner_match, owner_columns, owner_values) \
	"MERGE INTO " table " k USING (SELECT * FROM stage_kpis WHERE " key_match ") s" \
	" ON k.metric = s.metric AND " owner_match \
	" WHEN MATCHED THEN UPDATE SET (" KPI_UPDATED ") = (s.before_n, s.before_mean, s.after_n, s.after_mean," \
	"   s.delta, s.ci_low, s.ci_high, s.final, s.before_sum_e6, s.before_sumsq_e12, s.after_sum_e6," \
	"   s.after_sumsq_e12)" \
	" WHEN NOT MATCHED THEN INSERT (" owner_columns ", " KPI_COLUMNS ", program)" \
	"   VALUES (" owner_values ", s.metric, s.is_target, s.before_n, s.before_mean, s.after_n, s.after_mean," \
	"    s.delta, s.ci_low, s.ci_high, s.final, s.before_from, s.before_to, s.after_from, s.after_to," \
	"    s.before_sum_e6, s.before_sumsq_e12, s.after_sum_e6, s.after_sumsq_e12, s.program)"

#define KPI_STAGE_COLUMNS 22

static const char merge_pairing_kpis_sql[] =
	KPI_MERGE("pairing_kpis", "NOT comparison", "k.pairing_id = s.owner_id AND k.subject = s.subject",
		  "pairing_id, subject", "s.owner_id, s.subject");

static const char merge_comparison_kpis_sql[] =
	KPI_MERGE("comparison_kpis", "comparison", "k.trigger_id = s.owner_id", "trigger_id", "s.owner_id");

/* COPY rows being written for one statement of a run. */
struct copy_buf {
	struct run *r;
	struct text_buf t;
};

/* Runs sql now, or at the transaction's commit. */
static int run_then(struct run *r, const char *sql, bool at_commit, const char *what)
{
	if (!sql)
		return MENTOR_OK;
	return at_commit ? mentor_store_defer(r->s, sql, r->err) : an_q(r, sql, 0, NULL, what, NULL);
}

int an_copy(struct run *r, struct text_buf *t, const char *copy, const char *then, bool at_commit,
	    const char *what)
{
	int rc = MENTOR_OK;

	if (t->failed)
		rc = an_nomem(r->err);
	if (rc == MENTOR_OK && t->rows > 0) {
		rc = mentor_store_copy(r->s, copy, t->data, t->len, r->err);
		if (rc == MENTOR_OK)
			rc = run_then(r, then, at_commit, what);
	}
	free(t->data);
	*t = (struct text_buf){ 0 };
	return rc;
}

/* A decision's columns from status on, as agent_behavior_status and status_past order them. */
static void bin_decision(struct text_buf *t, const struct mentor_detect_row *row)
{
	bin_text(t, mentor_level_name(row->level));
	bin_text(t, mentor_level_reason_name(row->why));
	bin_timestamp(t, row->since_us);
	bin_timestamp(t, row->updated_us);
	bin_float8(t, row->mean);
	bin_float8(t, row->shrunk);
	bin_float8(t, row->ci_low);
	bin_float8(t, row->ci_high);
	bin_float8(t, row->pop_mean);
	bin_float8(t, row->k);
	bin_int4(t, (int32_t)row->week);
	bin_int8(t, (int64_t)row->weekly_low);
}

static int copy_status_row(void *ctx, const struct mentor_detect_row *row)
{
	struct copy_buf *c = ctx;
	struct text_buf *t = &c->t;
	struct mentor_scale sc;
	int rc = an_scale_of(c->r, row->metric, &sc);

	if (rc != MENTOR_OK)
		return rc;
	bin_row(t, STATUS_COUNT);
	bin_text(t, row->agent_id);
	bin_text(t, row->metric);
	bin_int8(t, row->n);
	bin_float8(t, mentor_stats_native(row->mean, &sc));
	bin_float8(t, mentor_stats_native(row->shrunk, &sc));
	bin_float8(t, mentor_stats_native(row->ci_low, &sc));
	bin_float8(t, mentor_stats_native(row->ci_high, &sc));
	bin_decision(t, row);
	bin_text(t, c->r->an->program);
	return MENTOR_OK;
}

static int write_status(struct run *r)
{
	struct copy_buf c = { .r = r };
	int rc;

	bin_begin(&c.t);
	rc = mentor_detector_take_changed(r->an->det, copy_status_row, &c);
	if (rc == MENTOR_ERR_NOMEM)
		mentor_error_set(r->err, rc, "analytics: out of memory writing status");
	if (rc != MENTOR_OK) {
		free(c.t.data);
		return rc;
	}
	bin_end(&c.t);
	return an_copy(r, &c.t, "COPY stage_status FROM STDIN WITH (FORMAT binary)", merge_status_sql, true,
		       "merge agent_behavior_status");
}

struct kpi_write {
	struct copy_buf c;
	bool all_changed;
};

static bool kpi_picked(void *ctx, const struct mentor_kpi_window *w)
{
	return w->final || !w->written || ((struct kpi_write *)ctx)->all_changed;
}

static int copy_kpi_row(void *ctx, const struct mentor_kpi_window *w)
{
	struct copy_buf *c = &((struct kpi_write *)ctx)->c;
	struct text_buf *t = &c->t;
	struct mentor_kpi_delta d;
	struct mentor_scale sc;
	int rc = an_scale_of(c->r, w->metric, &sc);

	if (rc != MENTOR_OK)
		return rc;
	mentor_kpi_delta(w, &sc, c->r->an->cfg->stats.kpi.confidence, &d);
	bin_row(t, KPI_STAGE_COLUMNS);
	bin_text(t, w->owner_id);
	bin_bool(t, w->comparison);
	bin_text(t, w->subject);
	bin_text(t, w->metric);
	bin_bool(t, w->is_target);
	bin_int8(t, d.before_n);
	bin_float8(t, d.before_mean);
	bin_int8(t, d.after_n);
	bin_float8(t, d.after_mean);
	bin_float8(t, d.delta);
	bin_float8(t, d.ci_low);
	bin_float8(t, d.ci_high);
	bin_bool(t, w->final);
	bin_date(t, (int32_t)w->before.from_day);
	bin_date(t, (int32_t)w->before.to_day);
	bin_date(t, (int32_t)w->after.from_day);
	bin_date(t, (int32_t)w->after.to_day);
	bin_int8(t, w->b.sum_e6);
	bin_int8(t, w->b.sumsq_e12);
	bin_int8(t, w->a.sum_e6);
	bin_int8(t, w->a.sumsq_e12);
	bin_text(t, c->r->an->program);
	return MENTOR_OK;
}

/*
 * Provisional rows are written once per transaction that ran a round
 * (an_write_changes), not at every round: a window moves with nearly every
 * batch, and its sums are rebuilt from agent_daily at a restart (load_kpis).
 * A window's first row goes with the transaction that opened it (a
 * trigger's comparison windows): a restart rebuilds sums, not windows.
 */
int an_write_kpis(struct run *r, bool all_changed, bool at_commit)
{
	struct kpi_write kw = { .c = { .r = r }, .all_changed = all_changed };
	size_t rows;
	int rc;

	/* Windows opened since (a round's) that are over already. */
	if (r->an->kpi_closed_day != NO_TIME)
		mentor_kpi_close(r->an->kpi, r->an->kpi_closed_day);
	bin_begin(&kw.c.t);
	rc = mentor_kpi_take_changed(r->an->kpi, kpi_picked, copy_kpi_row, &kw);
	if (rc == MENTOR_ERR_NOMEM)
		mentor_error_set(r->err, rc, "analytics: out of memory writing KPIs");
	if (rc != MENTOR_OK) {
		free(kw.c.t.data);
		return rc;
	}
	bin_end(&kw.c.t);
	rows = kw.c.t.rows;
	rc = an_copy(r, &kw.c.t, "COPY stage_kpis FROM STDIN WITH (FORMAT binary)", merge_pairing_kpis_sql,
		     at_commit, "merge pairing_kpis");
	if (rows == 0 || rc != MENTOR_OK)
		return rc;
	rc = run_then(r, merge_comparison_kpis_sql, at_commit, "merge comparison_kpis");
	/* A round writes KPIs more than once per transaction: each write must see only its own rows. */
	return rc == MENTOR_OK && !at_commit ? an_q(r, "TRUNCATE stage_kpis", 0, NULL, "empty stage_kpis", NULL) : rc;
}

/*
 * The program's state row; next_round_at and newest_at are what the deciders
 * of other programs read (an_read_peers): how far its rounds got, and how far
 * its events did.
 */
static int write_state(struct run *r)
{
	const struct mentor_source_times *c = &r->an->closed;
	char closed[TIME_TEXT], voc[TIME_TEXT], aqm[TIME_TEXT], round[TIME_TEXT], now[TIME_TEXT], decided[TIME_TEXT];
	char next[TIME_TEXT], newest[TIME_TEXT];
	int64_t et = mentor_detector_event_time(r->an->det), next_us = an_next_round(r->an);
	int64_t newest_us = mentor_detector_newest_seen(r->an->det);
	const char *params[10] = { r->an->group, r->an->program, closed, voc, aqm, r->an->last_round_us == NO_TIME ? NULL : round,
				   et == NO_TIME ? NULL : now, r->an->decided_newest_us == NO_TIME ? NULL : decided,
				   next_us == NO_TIME ? NULL : next, newest_us == NO_TIME ? NULL : newest };

	/* Nothing evaluated yet (a decider that has read nothing): the row would say what no row says. */
	if (an_least(c) == NO_TIME && r->an->last_round_us == NO_TIME && et == NO_TIME)
		return MENTOR_OK;
	an_time_text(an_least(c), closed);
	an_time_text(c->us[MENTOR_EVENT_VOC], voc);
	an_time_text(c->us[MENTOR_EVENT_AQM], aqm);
	an_time_text(r->an->last_round_us, round);
	an_time_text(et, now);
	an_time_text(r->an->decided_newest_us, decided);
	an_time_text(next_us, next);
	an_time_text(newest_us, newest);
	return an_q(r,
		 "INSERT INTO analytics_state (group_id, program, closed_at, closed_voc_at, closed_aqm_at, last_round_at,"
		 "                             event_time_at, decided_at, next_round_at, newest_at)"
		 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (group_id, program) DO UPDATE"
		 " SET closed_at = excluded.closed_at,"
		 " closed_voc_at = excluded.closed_voc_at, closed_aqm_at = excluded.closed_aqm_at,"
		 " last_round_at = excluded.last_round_at, event_time_at = excluded.event_time_at,"
		 " decided_at = excluded.decided_at, next_round_at = excluded.next_round_at, newest_at = excluded.newest_at",
		 10, params, "write analytics_state", NULL);
}

#define PAST_COUNT 17

static int copy_past_row(void *ctx, const char *agent_id, const char *metric, int64_t decided_us,
			 const struct mentor_detect_row *before)
{
	struct copy_buf *c = ctx;
	struct text_buf *t = &c->t;

	bin_row(t, PAST_COUNT);
	bin_text(t, c->r->an->program);
	bin_timestamp(t, decided_us);
	bin_text(t, agent_id);
	bin_text(t, metric);
	if (!before) {
		for (int i = 4; i < PAST_COUNT; i++)
			bin_null(t);
		return MENTOR_OK;
	}
	bin_int8(t, before->n);
	bin_decision(t, before);
	return MENTOR_OK;
}

/*
 * The states kept for the next round since the last write go in; those of
 * decisions before it (rounds that ran) go. Rows in the order kept, so that
 * a load restores each key's in order.
 */
static int write_past(struct run *r)
{
	struct copy_buf c = { .r = r };
	int64_t next = an_next_round(r->an);
	char from[TIME_TEXT];
	int rc = MENTOR_OK;

	if (next != NO_TIME && next > r->an->past_written_from_us) {
		an_time_text(next, from);
		rc = an_q(r, "DELETE FROM status_past WHERE program = $1 AND decided_at < $2", 2,
			  (const char *const[]){ r->an->program, from },
			  "forget past states", NULL);
		if (rc == MENTOR_OK)
			r->an->past_written_from_us = next;
	}
	if (rc != MENTOR_OK)
		return rc;
	bin_begin(&c.t);
	rc = mentor_detector_take_past(r->an->det, copy_past_row, &c);
	if (rc != MENTOR_OK) {
		free(c.t.data);
		return rc;
	}
	bin_end(&c.t);
	return an_copy(r, &c.t,
		       "COPY status_past (program, decided_at, agent_id, behavior, n, status, reason, since, updated_at, norm_mean,"
		       " norm_shrunk, norm_ci_low, norm_ci_high, pop_mean, prior_k, week, weekly_low)"
		       " FROM STDIN WITH (FORMAT binary)",
		       NULL, false, "write past states");
}

int an_count_open(struct run *r)
{
	PGresult *res = NULL;
	int rc = an_q(r,
		   "SELECT (SELECT count(*) FROM triggers WHERE program = $1 AND status IN ('open', 'waiting')),"
		   " (SELECT count(*) FROM pairings WHERE program = $1 AND status = 'active')",
		   1, (const char *const[]){ r->an->program }, "count triggers and pairings", &res);

	if (rc == MENTOR_OK) {
		r->an->gauges.open_triggers = an_get_i64(res, 0, 0);
		r->an->gauges.active_pairings = an_get_i64(res, 0, 1);
		r->an->counts_stale = false;
	}
	PQclear(res);
	return rc;
}

/*
 * The run's last writes. The status and KPI merges wait for the commit
 * (at_commit): nothing after them reads those tables, and a batch's commit
 * is sent without waiting, so PostgreSQL merges while mentord reads on.
 */
int an_write_changes(struct run *r)
{
	int rc = flush_priors(r);

	if (rc == MENTOR_OK)
		rc = an_flush_triggers(r);

	if (rc == MENTOR_OK)
		rc = flush_alerts(r);
	if (rc == MENTOR_OK)
		rc = write_status(r);
	if (rc == MENTOR_OK)
		rc = an_write_kpis(r, r->round_ran, true);
	if (rc == MENTOR_OK)
		rc = write_past(r);
	if (rc == MENTOR_OK)
		rc = write_state(r);
	if (rc == MENTOR_OK && r->an->counts_stale)
		rc = an_count_open(r);
	return rc;
}
