/*
 * The analytics core on the stream: the detector and the KPI windows in
 * memory, their rows in PostgreSQL, pairing rounds between them.
 * See include/mentor/analytics.h and docs/analytics.md.
 */
#define _GNU_SOURCE  /* open_memstream, qsort_r */
#include "mentor/analytics.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics_int.h"
#include "store_int.h"

/* The KPI metrics of every pairing besides its behavior (SPEC section 4). */
static const char *const kpi_base_metrics[] = { "csat", "csat_top2", "aqm" };
#define KPI_METRICS_MAX 4

/* Top-2 box is a view of CSAT, not a behavior of its own: it never fires a trigger. */
#define NO_TRIGGER_METRIC "csat_top2"

/* ---- Small helpers ---- */

bool an_grow(void **items, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t grown_cap;
	void *grown;

	if (n < *cap)
		return true;
	grown_cap = *cap ? 2 * *cap : first;
	if (grown_cap > SIZE_MAX / size || !(grown = realloc(*items, grown_cap * size)))
		return false;
	*items = grown;
	*cap = grown_cap;
	return true;
}

int an_nomem(struct mentor_error *err)
{
	return mentor_error_set(err, MENTOR_ERR_NOMEM, "analytics: out of memory");
}

/* A timestamp PostgreSQL reads: "2026-11-02 14:05:11.000000+00", or +-infinity. */
void an_time_text(int64_t us, char out[TIME_TEXT])
{
	int64_t secs = us / 1000000, frac = us % 1000000;
	struct tm tm;
	time_t t;

	if (us == INT64_MAX || us == NO_TIME) {
		snprintf(out, TIME_TEXT, "%s", us == INT64_MAX ? "infinity" : "-infinity");
		return;
	}
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	t = (time_t)secs;
	gmtime_r(&t, &tm);
	snprintf(out, TIME_TEXT, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

static void day_text(int64_t day, char out[TIME_TEXT])
{
	time_t t = (time_t)(day * 86400);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, TIME_TEXT, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* A number as a parameter; NULL (SQL NULL) when not finite. */
const char *an_num_text(double v, char out[NUM_TEXT])
{
	if (!isfinite(v))
		return NULL;
	snprintf(out, NUM_TEXT, "%.17g", v);
	return out;
}

const char *an_int_text(int64_t v, char out[NUM_TEXT])
{
	snprintf(out, NUM_TEXT, "%" PRId64, v);
	return out;
}

int64_t an_get_i64(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NO_TIME : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

double an_get_f(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NAN : strtod(PQgetvalue(res, row, col), NULL);
}

const char *an_get_s(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int an_q(struct run *r, const char *sql, int n, const char *const *values, const char *what, PGresult **ret)
{
	return mentor_store_exec(r->s, sql, n, values, what, ret, r->err);
}

void an_array_item(FILE *f, bool first, const char *text)
{
	fputs(first ? "{\"" : ",\"", f);
	for (; *text; text++) {
		if (*text == '"' || *text == '\\')
			fputc('\\', f);
		fputc(*text, f);
	}
	fputc('"', f);
}

/* ---- Life cycle ---- */

/*
 * Days each key keeps: the status window, the KPI before window read when a
 * window opens, and the after window rebuilt from memory at a restart.
 */
int an_keep_days(const struct mentor_analytics_config *cfg)
{
	int w = cfg->stats.shrink.window_days, b = cfg->stats.kpi.before_days, a = cfg->stats.kpi.after_days;
	int most = w > b ? w : b;

	return (most > a ? most : a) + 2;
}

int mentor_analytics_new(const struct mentor_analytics_config *cfg, const struct mentor_event_rules *rules,
			 const char *group, const char *roster_topic, struct mentor_analytics **ret,
			 struct mentor_error *err)
{
	struct mentor_analytics *an = calloc(1, sizeof(*an));
	int rc;

	if (!an || !(an->group = strdup(group)) || !(an->roster_topic = strdup(roster_topic))) {
		if (an)
			free(an->group);
		free(an);
		return an_nomem(err);
	}
	an->need_load = true;
	an->cfg = cfg;
	an->rules = rules;
	an->closed_us = an->next_closed_us = an->last_round_us = NO_TIME;
	rc = mentor_kpi_set_new(&an->kpi, err);
	if (rc == MENTOR_OK)
		rc = mentor_detector_new(&cfg->stats, an_keep_days(cfg), &an->det, err);
	if (rc != MENTOR_OK) {
		mentor_analytics_free(an);
		return rc;
	}
	*ret = an;
	return MENTOR_OK;
}

static void free_scales(struct mentor_analytics *an)
{
	for (size_t i = 0; i < an->n_scales; i++)
		free(an->scales[i].name);
	free(an->scales);
	an->scales = NULL;
	an->n_scales = 0;
}

static void free_owned(struct mentor_analytics *an)
{
	for (size_t i = 0; i < an->n_owned; i++)
		free(an->owned[i].topic);
	free(an->owned);
	an->owned = NULL;
	an->n_owned = 0;
}

static bool owned_same(const struct mentor_analytics *an, const struct mentor_analytics_partition *parts, size_t n)
{
	if (n != an->n_owned)
		return false;
	for (size_t i = 0; i < n; i++)
		if (parts[i].partition != an->owned[i].partition || strcmp(parts[i].topic, an->owned[i].topic) != 0)
			return false;
	return true;
}

int mentor_analytics_set_owned(struct mentor_analytics *an, const struct mentor_analytics_partition *parts,
			       size_t n, struct mentor_error *err)
{
	if (owned_same(an, parts, n))
		return MENTOR_OK;
	/* A rebalance: another instance may store events now, which the next catch-up must read first. */
	an->early_ok = false;
	free_owned(an);
	if (n == 0)
		return MENTOR_OK;
	if (!(an->owned = calloc(n, sizeof(*an->owned))))
		return an_nomem(err);
	for (size_t i = 0; i < n; i++) {
		if (!(an->owned[i].topic = strdup(parts[i].topic))) {
			free_owned(an);
			return an_nomem(err);
		}
		an->owned[i].partition = parts[i].partition;
		an->n_owned++;
	}
	return MENTOR_OK;
}

static bool is_owned(const struct mentor_analytics *an, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < an->n_owned; i++)
		if (an->owned[i].partition == partition && strcmp(an->owned[i].topic, topic) == 0)
			return true;
	return false;
}

bool mentor_analytics_needs_load(const struct mentor_analytics *an)
{
	return an->cfg->enabled && an->leader && an->need_load;
}

void mentor_analytics_free(struct mentor_analytics *an)
{
	if (!an)
		return;
	mentor_detector_free(an->det);
	mentor_kpi_set_free(an->kpi);
	free_scales(an);
	free_owned(an);
	an_free_fatal(an);
	an_forget_early(an);
	free(an->fatal);
	free(an->group);
	free(an->roster_topic);
	free(an);
}

void mentor_analytics_set_config(struct mentor_analytics *an, const struct mentor_analytics_config *cfg)
{
	an->cfg = cfg;
	mentor_detector_set_params(an->det, &cfg->stats);
}

void mentor_analytics_set_closed(struct mentor_analytics *an, int64_t closed_us)
{
	an->next_closed_us = closed_us;
}

void mentor_analytics_gauges(const struct mentor_analytics *an, struct mentor_analytics_gauges *ret)
{
	*ret = an->gauges;
	ret->waiting_observations = (int64_t)mentor_detector_waiting(an->det);
	ret->closed_us = an->closed_us;
	ret->event_time_us = mentor_detector_event_time(an->det);
}

/* ---- Scales ---- */

static int add_scale(struct mentor_analytics *an, const char *name, double lo, double hi, struct mentor_error *err)
{
	struct metric_scale *grown = realloc(an->scales, (an->n_scales + 1) * sizeof(*grown));

	if (!grown)
		return an_nomem(err);
	an->scales = grown;
	if (!(grown[an->n_scales].name = strdup(name)))
		return an_nomem(err);
	grown[an->n_scales++].sc = (struct mentor_scale){ .min = lo, .max = hi };
	return MENTOR_OK;
}

int an_load_scales(struct run *r)
{
	PGresult *res = NULL;
	int rc = an_q(r, "SELECT metric, scale_min::float8, scale_max::float8 FROM metrics", 0, NULL, "read metrics", &res);

	free_scales(r->an);
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++)
		rc = add_scale(r->an, PQgetvalue(res, i, 0), an_get_f(res, i, 1), an_get_f(res, i, 2), r->err);
	PQclear(res);
	return rc;
}

/* A metric's native scale; 0..1 if the metrics table does not know it (it always should). */
int an_scale_of(struct run *r, const char *metric, struct mentor_scale *ret)
{
	int rc = MENTOR_OK;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < r->an->n_scales; i++)
			if (strcmp(r->an->scales[i].name, metric) == 0) {
				*ret = r->an->scales[i].sc;
				return MENTOR_OK;
			}
		if (!r->s)  /* see evaluate_early */
			return mentor_error_set(r->err, MENTOR_ERR_INVALID, "analytics: no scale for %s without a connection",
						metric);
		/* New metrics come with the batch that first carries them: read the table again. */
		if (pass == 0 && (rc = an_load_scales(r)) != MENTOR_OK)
			return rc;
	}
	*ret = (struct mentor_scale){ .min = 0, .max = 1 };
	return MENTOR_OK;
}

/* ---- Alerts ---- */

/* The alerts of a transaction, staged and inserted by one statement at its end. */
static const char insert_alerts_sql[] =
	"INSERT INTO alerts (alert_id, kind, team_lead_id, agent_id, occurred_at, payload)"
	" SELECT s.alert_id, s.kind, a.team_lead_id, s.agent_id, s.occurred_at,"
	"   jsonb_build_object('schema', 'mentord.alert.v1', 'alert_id', s.alert_id, 'kind', s.kind,"
	"     'occurred_at', to_char(s.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
	"     'team_lead_id', a.team_lead_id, 'agent_id', s.agent_id, 'agent_name', a.name, 'behavior', s.behavior)"
	"   || s.fields"
	"   FROM stage_alerts s LEFT JOIN agents a USING (agent_id)"
	"  ORDER BY s.alert_id"
	" ON CONFLICT (alert_id) DO NOTHING";

json_t *an_json_num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

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

static void staged_free(struct run_staged *st)
{
	free(st->alerts.data);
	free(st->triggers.data);
	for (size_t i = 0; i < st->n_priors; i++)
		free(st->priors[i].metric);
	free(st->priors);
	*st = (struct run_staged){ 0 };
}

void an_forget_early(struct mentor_analytics *an)
{
	staged_free(&an->early_staged);
	an->early_ran = false;
	an->early_ok = false;
}

/* Frees what a run holds on its way out; returns rc. */
static int run_end(struct run *r, int rc)
{
	staged_free(&r->staged);
	/* A commit that fails after this makes the caller load() again, which forgets the mark. */
	if (rc == MENTOR_OK && r->stages_made)
		r->an->stages_pid = r->stages_made;
	return rc;
}

/* ---- Detector sink: triggers, priors, observations ---- */

/*
 * The low-score triggers fired since the last flush, staged in firing order
 * (seq), go in together (an_flush_triggers): a new trigger supersedes the
 * open or waiting one of its agent and behavior, stored or staged before it.
 * The stored one is looked up per staged trigger (index triggers_open_key):
 * OFFSET 0 keeps the planner from flattening the LATERAL into a join whose
 * order rests on the table's statistics, which a drain from empty does not
 * have yet (it then scanned every open trigger once per staged one).
 */
#define STAGE_TRIGGERS_COLUMNS 8
static const char insert_triggers_sql[] =
	"WITH s AS ("
	"  SELECT *, lead(fired_at) OVER (PARTITION BY agent_id, behavior ORDER BY seq) AS superseded_at"
	"    FROM stage_triggers),"
	" old AS ("
	"  UPDATE triggers t SET status = 'resolved', resolution = 'refired', resolved_at = o.fired_at"
	"    FROM (SELECT f.fired_at, x.trigger_id"
	"            FROM (SELECT DISTINCT ON (agent_id, behavior) agent_id, behavior, fired_at FROM stage_triggers"
	"                   ORDER BY agent_id, behavior, seq) f,"
	"                 LATERAL (SELECT trigger_id FROM triggers"
	"                           WHERE agent_id = f.agent_id AND behavior = f.behavior AND kind = 'low_score'"
	"                             AND status IN ('open', 'waiting') OFFSET 0) x) o"
	"   WHERE t.trigger_id = o.trigger_id)"
	" INSERT INTO triggers (trigger_id, agent_id, behavior, kind, fired_at, event_id, score, n, status,"
	"                       resolution, resolved_at)"
	" SELECT trigger_id, agent_id, behavior, 'low_score', fired_at, event_id, score, n,"
	"        CASE WHEN superseded_at IS NULL THEN 'open' ELSE 'resolved' END,"
	"        CASE WHEN superseded_at IS NULL THEN NULL ELSE 'refired' END, superseded_at"
	"   FROM s ORDER BY seq ON CONFLICT DO NOTHING";

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

	if (strcmp(t->metric, NO_TRIGGER_METRIC) == 0)
		return MENTOR_OK;
	if ((rc = an_scale_of(r, t->metric, &sc)) != MENTOR_OK)
		return rc;
	snprintf(id, sizeof(id), "low/%s/%s", t->event_id, t->metric);
	r->an->counts_stale = true;
	if (b->len == 0)
		bin_begin(b);
	bin_row(b, STAGE_TRIGGERS_COLUMNS);
	bin_int8(b, (int64_t)b->rows);
	bin_text(b, id);
	bin_text(b, t->agent_id);
	bin_text(b, t->metric);
	bin_timestamp(b, t->fired_us);
	bin_text(b, t->event_id);
	bin_float8(b, mentor_stats_native(t->shrunk, &sc));
	bin_int8(b, t->n);
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

	if (!an_grow((void **)&st->priors, &st->cap_priors, st->n_priors, sizeof(*st->priors), 16))
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
		const char *params[9] = {
			st->priors[i].metric, day, an_int_text((int64_t)pop->n_agents, na), an_int_text(pop->n_obs, no),
			an_num_text(pop->mean, m), an_num_text(pop->sigma2_within, s2), an_num_text(pop->tau2_between, t2),
			an_num_text(pop->k, k), pop->k_estimated ? "true" : "false",
		};

		day_text(st->priors[i].day, day);
		rc = an_q(r,
			  "INSERT INTO behavior_priors (metric, day, n_agents, n_obs, pop_mean, sigma2_within, tau2_between,"
			  " k, k_estimated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
			  9, params, "insert prior", NULL);
	}
	for (size_t i = 0; i < st->n_priors; i++)
		free(st->priors[i].metric);
	st->n_priors = 0;
	return rc;
}

static int on_evaluated(void *ctx, const struct mentor_detect_obs *o)
{
	struct run *r = ctx;

	mentor_kpi_observe_key(r->an->kpi, o->key_hash, o->agent_id, o->metric, o->day, o->value_e6);
	return MENTOR_OK;
}

static int advance(struct run *r, int64_t until_us)
{
	struct mentor_detect_sink sink = {
		.trigger = on_trigger, .prior = on_prior, .evaluated = on_evaluated, .ctx = r,
	};

	return mentor_detector_advance(r->an->det, until_us, &sink, r->err);
}

/* ---- Writing changed rows ---- */

/* Staging tables live in the session: made once per server session (backend). */
static const char *const stage_sql[] = {
	"CREATE TEMP TABLE IF NOT EXISTS stage_status (LIKE agent_behavior_status) ON COMMIT DELETE ROWS",
	("CREATE TEMP TABLE IF NOT EXISTS stage_kpis (owner_id text, comparison boolean, subject text, metric text,"
	 " is_target boolean, before_n bigint, before_mean float8, after_n bigint, after_mean float8, delta float8,"
	 " ci_low float8, ci_high float8, final boolean, before_from date, before_to date, after_from date,"
	 " after_to date, before_sum_e6 bigint, before_sumsq_e12 bigint, after_sum_e6 bigint,"
	 " after_sumsq_e12 bigint) ON COMMIT DELETE ROWS"),
	("CREATE TEMP TABLE IF NOT EXISTS stage_alerts (alert_id text, kind text, agent_id text,"
	 " occurred_at timestamptz, behavior text, fields jsonb) ON COMMIT DELETE ROWS"),
	("CREATE TEMP TABLE IF NOT EXISTS stage_triggers (seq bigint, trigger_id text, agent_id text, behavior text,"
	 " fired_at timestamptz, event_id text, score float8, n bigint) ON COMMIT DELETE ROWS"),
	("CREATE TEMP TABLE IF NOT EXISTS stage_pairings (pairing_id text, trigger_id text, mentee_id text,"
	 " mentor_id text, behavior text, started_at timestamptz, ends_at timestamptz, mentee_score float8,"
	 " mentor_score float8, mentor_ci_low float8, cost bigint, n_feasible integer, alternatives text,"
	 " leaves_comparison boolean) ON COMMIT DELETE ROWS"),
};

static int create_stages(struct run *r)
{
	int pid = PQbackendPID(mentor_store_conn(r->s));
	int rc = MENTOR_OK;

	/* A reconnection is a new backend: its temporary tables are gone. */
	if (pid == r->an->stages_pid)
		return MENTOR_OK;
	for (size_t i = 0; rc == MENTOR_OK && i < sizeof(stage_sql) / sizeof(stage_sql[0]); i++)
		rc = an_q(r, stage_sql[i], 0, NULL, "create analytics staging tables", NULL);
	/* Made inside a transaction: they exist once it commits, so the mark waits for the commit (end_run). */
	if (rc == MENTOR_OK)
		r->stages_made = pid;
	return rc;
}

#define STATUS_COLUMNS \
	"n, mean, shrunk_mean, ci_low, ci_high, status, reason, since, updated_at, norm_mean, norm_shrunk," \
	" norm_ci_low, norm_ci_high, pop_mean, prior_k, week, weekly_low"
#define STATUS_COUNT 19

/* MERGE, not INSERT ... ON CONFLICT: a join and an update per row, about half the cost for a batch's keys. */
static const char merge_status_sql[] =
	"MERGE INTO agent_behavior_status a USING stage_status s"
	" ON a.agent_id = s.agent_id AND a.behavior = s.behavior"
	" WHEN MATCHED THEN UPDATE SET (" STATUS_COLUMNS ") ="
	"   (s.n, s.mean, s.shrunk_mean, s.ci_low, s.ci_high, s.status, s.reason, s.since, s.updated_at,"
	"    s.norm_mean, s.norm_shrunk, s.norm_ci_low, s.norm_ci_high, s.pop_mean, s.prior_k, s.week, s.weekly_low)"
	" WHEN NOT MATCHED THEN INSERT (agent_id, behavior, " STATUS_COLUMNS ")"
	"   VALUES (s.agent_id, s.behavior, s.n, s.mean, s.shrunk_mean, s.ci_low, s.ci_high, s.status, s.reason,"
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
	" WHEN NOT MATCHED THEN INSERT (" owner_columns ", " KPI_COLUMNS ")" \
	"   VALUES (" owner_values ", s.metric, s.is_target, s.before_n, s.before_mean, s.after_n, s.after_mean," \
	"    s.delta, s.ci_low, s.ci_high, s.final, s.before_from, s.before_to, s.after_from, s.after_to," \
	"    s.before_sum_e6, s.before_sumsq_e12, s.after_sum_e6, s.after_sumsq_e12)"
#define KPI_STAGE_COLUMNS 21

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
	const struct an_kpi_pick *pick;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool kpi_picked(void *ctx, const struct mentor_kpi_window *w)
{
	const struct an_kpi_pick *pick = ((struct kpi_write *)ctx)->pick;

	if (w->final || !w->written || (pick && pick->all))
		return true;
	return pick && !w->comparison && pick->n_pairings > 0 &&
	       bsearch(&w->owner_id, pick->pairings, pick->n_pairings, sizeof(*pick->pairings), cmp_str);
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
	return MENTOR_OK;
}

/*
 * Provisional rows are written once per transaction that ran a round
 * (write_changes), not at every round: a window moves with nearly every
 * batch, and its sums are rebuilt from agent_daily at a restart (load_kpis).
 * A window's first row goes with the transaction that opened it (a
 * trigger's comparison windows): a restart rebuilds sums, not windows.
 */
int an_write_kpis(struct run *r, const struct an_kpi_pick *pick, bool at_commit)
{
	int64_t now = mentor_detector_event_time(r->an->det);
	struct kpi_write kw = { .c = { .r = r }, .pick = pick };
	size_t rows;
	int rc;

	if (now != NO_TIME)
		mentor_kpi_close(r->an->kpi, mentor_stats_day_of(now - r->an->cfg->lateness_us));
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

static int write_state(struct run *r)
{
	char closed[TIME_TEXT], round[TIME_TEXT], now[TIME_TEXT];
	int64_t et = mentor_detector_event_time(r->an->det);
	const char *params[4] = { r->an->group, closed, r->an->last_round_us == NO_TIME ? NULL : round,
				  et == NO_TIME ? NULL : now };

	an_time_text(r->an->closed_us, closed);
	an_time_text(r->an->last_round_us, round);
	an_time_text(et, now);
	return an_q(r,
		 "INSERT INTO analytics_state (group_id, closed_at, last_round_at, event_time_at)"
		 " VALUES ($1, $2, $3, $4) ON CONFLICT (group_id) DO UPDATE SET closed_at = excluded.closed_at,"
		 " last_round_at = excluded.last_round_at, event_time_at = excluded.event_time_at",
		 4, params, "write analytics_state", NULL);
}

int an_count_open(struct run *r)
{
	PGresult *res = NULL;
	int rc = an_q(r,
		   "SELECT (SELECT count(*) FROM triggers WHERE status IN ('open', 'waiting')),"
		   " (SELECT count(*) FROM pairings WHERE status = 'active')",
		   0, NULL, "count triggers and pairings", &res);

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
static int write_changes(struct run *r)
{
	int rc = flush_priors(r);

	if (rc == MENTOR_OK)
		rc = an_flush_triggers(r);

	if (rc == MENTOR_OK)
		rc = flush_alerts(r);
	if (rc == MENTOR_OK)
		rc = write_status(r);
	if (rc == MENTOR_OK)
		rc = an_write_kpis(r, r->round_ran ? &(struct an_kpi_pick){ .all = true } : NULL, true);
	if (rc == MENTOR_OK)
		rc = write_state(r);
	if (rc == MENTOR_OK && r->an->counts_stale)
		rc = an_count_open(r);
	return rc;
}

/* ---- The roster ---- */

/* An agent can be a mentor only once the roster knows it (SPEC section 7). */
#define AGENTS_SQL_SINCE \
	"SELECT agent_id, active AND roster_known, " US_OF("updated_at") " FROM agents WHERE updated_at > $1"

/*
 * Roster changes stored by any instance since the newest one seen. A
 * transaction that started before another but committed after it could be
 * passed over; every pairing round reads the whole roster again
 * (run_round), so such a change waits at most until then.
 */
static int refresh_agents(struct run *r)
{
	char since[TIME_TEXT];
	PGresult *res = NULL;
	int rc;

	an_time_text(r->an->agents_seen_us, since);
	rc = an_q(r, AGENTS_SQL_SINCE, 1, (const char *const[]){ since }, "read roster changes", &res);
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		rc = mentor_detector_set_agent(r->an->det, PQgetvalue(res, i, 0), strcmp(PQgetvalue(res, i, 1), "t") == 0,
					       r->err);
		if (an_get_i64(res, i, 2) > r->an->agents_seen_us)
			r->an->agents_seen_us = an_get_i64(res, i, 2);
	}
	PQclear(res);
	return rc;
}

/* Records the active flag of every agent. */
int an_set_agents(struct run *r)
{
	r->an->agents_seen_us = NO_TIME;  /* '-infinity': every row */
	return refresh_agents(r);
}

/* ---- Driving: evaluate up to the watermark, with the rounds on the way ---- */

static int64_t floor_to(int64_t t, int64_t step)
{
	int64_t q0 = t / step;

	return (t % step < 0 ? q0 - 1 : q0) * step;
}

/*
 * Fatal items (SPEC section 2): a resolved fatal trigger and an alert each,
 * once, when the watermark passes the event, as every decision: the roster
 * is then what it was, so the alert's route is the same in any replay.
 * events_where picks the events.
 */
#define FATAL_SQL(events_where) \
	"WITH f AS (" \
	"  SELECT 'fatal/' || s.event_id || '/' || b AS trigger_id, s.agent_id, b AS behavior, s.occurred_at," \
	"         s.event_id, s.interaction_id, (s.scores ->> b)::float8 AS score" \
	"    FROM score_events s, jsonb_array_elements_text(s.fatal) AS b" \
	"   WHERE s.fatal IS NOT NULL AND " events_where \
	"), t AS (" \
	"  INSERT INTO triggers (trigger_id, agent_id, behavior, kind, fired_at, event_id, score, status, resolved_at," \
	"                        resolution)" \
	"  SELECT trigger_id, agent_id, behavior, 'fatal', occurred_at, event_id, score, 'resolved', occurred_at," \
	"         'alerted' FROM f" \
	"  ON CONFLICT DO NOTHING RETURNING trigger_id" \
	")" \
	" INSERT INTO alerts (alert_id, kind, team_lead_id, agent_id, occurred_at, payload)" \
	" SELECT 'fatal_behavior:' || f.trigger_id, 'fatal_behavior', a.team_lead_id, f.agent_id, f.occurred_at," \
	"   jsonb_build_object('schema', 'mentord.alert.v1', 'alert_id', 'fatal_behavior:' || f.trigger_id," \
	"     'kind', 'fatal_behavior'," \
	"     'occurred_at', to_char(f.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')," \
	"     'team_lead_id', a.team_lead_id, 'agent_id', f.agent_id, 'agent_name', a.name, 'behavior', f.behavior," \
	"     'trigger_id', f.trigger_id, 'event_id', f.event_id, 'interaction_id', f.interaction_id)" \
	"   FROM f JOIN t USING (trigger_id) LEFT JOIN agents a ON a.agent_id = f.agent_id" \
	" ORDER BY f.trigger_id ON CONFLICT (alert_id) DO NOTHING"

/* $1: the events, by id (mentord keeps the ids of the stored events with fatal items until decided). */
static const char fatal_sql[] = FATAL_SQL("s.event_id = ANY($1::text[])");

/* Remembers a stored event with fatal items, to be decided when the watermark passes it. */
int an_add_fatal(struct run *r, const char *event_id, size_t len, int64_t t_us)
{
	struct mentor_analytics *an = r->an;

	if (!an_grow((void **)&an->fatal, &an->cap_fatal, an->n_fatal, sizeof(*an->fatal), 64))
		return an_nomem(r->err);
	if (!(an->fatal[an->n_fatal].event_id = strndup(event_id, len)))
		return an_nomem(r->err);
	an->fatal[an->n_fatal++].t_us = t_us;
	return MENTOR_OK;
}

/* The batch's new events with fatal items. */
static int add_batch_fatal(struct run *r, const struct mentor_batch *b, const unsigned char *stored)
{
	int rc = MENTOR_OK;

	for (size_t i = 0; rc == MENTOR_OK && i < mentor_batch_rows(b, MENTOR_STAGE_EVENTS); i++)
		if (mentor_batch_event_fatal(b, i) && (!stored || stored[i])) {
			size_t len;
			const char *id = mentor_batch_event_id(b, i, &len);

			rc = an_add_fatal(r, id, len, mentor_batch_event_time(b, i));
		}
	return rc;
}

/* Inserts the fatal triggers of the pending events before closed_us, and forgets them. */
static int decide_fatal(struct run *r, int64_t closed_us)
{
	struct mentor_analytics *an = r->an;
	size_t kept = 0, len = 0;
	char *ids = NULL;
	FILE *f;
	bool any = false;
	int rc = MENTOR_OK;

	if (an->n_fatal == 0)
		return MENTOR_OK;
	if (!(f = open_memstream(&ids, &len)))
		return an_nomem(r->err);
	for (size_t i = 0; i < an->n_fatal; i++)
		if (an->fatal[i].t_us < closed_us) {
			an_array_item(f, !any, an->fatal[i].event_id);
			any = true;
		}
	fputs(any ? "}" : "{}", f);
	if (fclose(f) != 0) {
		free(ids);
		return an_nomem(r->err);
	}
	if (any) {
		an->counts_stale = true;
		rc = an_q(r, fatal_sql, 1, (const char *const[]){ ids }, "insert fatal triggers", NULL);
	}
	free(ids);
	for (size_t i = 0; rc == MENTOR_OK && i < an->n_fatal; i++) {
		if (an->fatal[i].t_us < closed_us)
			free(an->fatal[i].event_id);
		else
			an->fatal[kept++] = an->fatal[i];
	}
	if (rc == MENTOR_OK)
		an->n_fatal = kept;
	return rc;
}

void an_free_fatal(struct mentor_analytics *an)
{
	for (size_t i = 0; i < an->n_fatal; i++)
		free(an->fatal[i].event_id);
	an->n_fatal = 0;
}

/* Rounds count from the interval of the first observation that ever waits. */
static void start_rounds(struct mentor_analytics *an)
{
	if (an->last_round_us == NO_TIME && mentor_detector_waiting(an->det) > 0)
		an->last_round_us = floor_to(mentor_detector_oldest_waiting(an->det), an->cfg->round_interval_us);
}

/* The next round's time if it has come by closed_us (see run_until), else NO_TIME. */
static int64_t round_due(const struct mentor_analytics *an, int64_t closed_us)
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
 * replay are those of the original run.
 */
static int run_until(struct run *r, int64_t closed_us)
{
	struct mentor_analytics *an = r->an;
	int64_t next;
	int rc = MENTOR_OK;

	if (closed_us < an->closed_us)
		closed_us = an->closed_us;
	start_rounds(an);
	while (rc == MENTOR_OK && (next = round_due(an, closed_us)) != NO_TIME) {
		rc = advance(r, next);
		if (rc == MENTOR_OK)
			rc = an_run_round(r, next);
	}
	if (rc == MENTOR_OK)
		rc = advance(r, closed_us);
	if (rc == MENTOR_OK)
		rc = decide_fatal(r, closed_us);
	if (rc == MENTOR_OK)
		an->closed_us = closed_us;
	return rc;
}

/* ---- The batch hook and the end of a drain ---- */

static int observe(void *ctx, const struct mentor_observation *o)
{
	struct run *r = ctx;

	return mentor_detector_observe(r->an->det, o->agent_id, o->metric, o->event_id, o->occurred_us, o->value_e6,
				       r->err);
}



/* ---- One decider per group ---- */

/*
 * Takes or keeps the group's analytics lock (a session advisory lock per
 * schema and group): one instance decides, the others only store. Calling
 * pg_try_advisory_lock() again while holding it stacks the lock, so the
 * holder gives the extra one back at once.
 */
int an_take_lead(struct run *r)
{
	PGresult *res = NULL;
	int rc = an_q(r,
		   "SELECT CASE WHEN pg_try_advisory_lock(hashtext('mentord.analytics.' || current_schema() || '.' || $1))"
		   " THEN CASE WHEN $2::boolean"
		   "   THEN pg_advisory_unlock(hashtext('mentord.analytics.' || current_schema() || '.' || $1))"
		   "   ELSE true END"
		   " ELSE false END",
		   2, (const char *const[]){ r->an->group, r->an->leader ? "true" : "false" }, "take the analytics lock",
		   &res);

	if (rc == MENTOR_OK) {
		bool leader = strcmp(PQgetvalue(res, 0, 0), "t") == 0;

		/* Whoever decided meanwhile moved the tables on: a new leader starts from them. */
		if (leader && !r->an->leader)
			r->an->need_load = true;
		r->an->leader = leader;
	}
	PQclear(res);
	return rc;
}

/* The group's score partitions: stored and analyzed next offsets, newest event time. */
static const char group_partitions_sql[] =
	"SELECT c.topic, c.partition, c.next_offset, coalesce(a.next_offset, 0),"
	"       " US_OF("c.max_event_at")
	"  FROM consumer_offsets c LEFT JOIN analytics_offsets a USING (group_id, topic, partition)"
	" WHERE c.group_id = $1 AND c.topic <> $2";

static const char mark_analyzed_sql[] =
	"INSERT INTO analytics_offsets (group_id, topic, partition, next_offset)"
	" SELECT $1, t, p, n FROM unnest($2::text[], $3::integer[], $4::bigint[]) AS u(t, p, n)"
	" ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = excluded.next_offset";

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
		   "       s.fatal IS NOT NULL AND o.metric = 'aqm'"
		   "  FROM score_events s, event_observations(s.kind, s.csat, s.overall, s.scores, $5, $6) o"
		   " WHERE s.topic = $1 AND s.partition = $2 AND s.kafka_offset >= $3 AND s.kafka_offset < $4",
		   6,
		   (const char *const[]){ topic, partition, an_int_text(from, f), an_int_text(to, t),
					  an_int_text(r->an->rules->csat_min, lo), an_int_text(r->an->rules->csat_max, hi) },
		   "read events stored by other instances", &res);

	if (PQntuples(res) > 0)
		*ret_read = true;
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		rc = mentor_detector_observe(r->an->det, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
					     PQgetvalue(res, i, 2), an_get_i64(res, i, 3), an_get_i64(res, i, 4), r->err);
		/* Once per event: on its one aqm observation. */
		if (rc == MENTOR_OK && strcmp(PQgetvalue(res, i, 5), "t") == 0)
			rc = an_add_fatal(r, PQgetvalue(res, i, 2), strlen(PQgetvalue(res, i, 2)), an_get_i64(res, i, 3));
	}
	PQclear(res);
	return rc;
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
 * read, and returns in *ret_others the least newest event time of the
 * partitions this instance does not consume (INT64_MAX: none), which bounds
 * the watermark. The batch's own events come from the batch itself.
 */
static int catch_up(struct run *r, const struct mentor_batch *b, int64_t *ret_others, bool *ret_read)
{
	struct mentor_analytics *an = r->an;
	char *arrays[3] = { NULL, NULL, NULL };
	size_t lens[3];
	FILE *f[3] = { NULL, NULL, NULL };
	PGresult *res = NULL;
	int rc = an_q(r, group_partitions_sql, 2, (const char *const[]){ an->group, an->roster_topic },
		   "read the group's partitions", &res);

	*ret_others = INT64_MAX;
	*ret_read = false;
	if (rc != MENTOR_OK)
		return rc;
	for (int k = 0; k < 3; k++)
		if (!(f[k] = open_memstream(&arrays[k], &lens[k])))
			rc = an_nomem(r->err);
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		const char *topic = PQgetvalue(res, i, 0);
		int32_t partition = (int32_t)an_get_i64(res, i, 1);
		int64_t next = an_get_i64(res, i, 2), analyzed = an_get_i64(res, i, 3), end = next;
		int64_t first = batch_first_offset(b, topic, partition), newest = an_get_i64(res, i, 4);

		if (first >= 0)
			end = first;
		if (analyzed < end)
			rc = read_range(r, topic, PQgetvalue(res, i, 1), analyzed, end, ret_read);
		if (!is_owned(an, topic, partition) && newest < *ret_others)
			*ret_others = newest;
		if (next < 0)
			continue;
		an_array_item(f[0], ftell(f[0]) == 0, topic);
		an_array_item(f[1], ftell(f[1]) == 0, PQgetvalue(res, i, 1));
		an_array_item(f[2], ftell(f[2]) == 0, PQgetvalue(res, i, 2));
	}
	PQclear(res);
	for (int k = 0; k < 3; k++) {
		if (f[k] && ftell(f[k]) == 0)
			fputc('{', f[k]);
		if (f[k] && (fputc('}', f[k]) == EOF || fclose(f[k]) != 0) && rc == MENTOR_OK)
			rc = an_nomem(r->err);
	}
	if (rc == MENTOR_OK)
		rc = an_q(r, mark_analyzed_sql, 4, (const char *const[]){ an->group, arrays[0], arrays[1], arrays[2] },
		       "record how far the analytics read", NULL);
	for (int k = 0; k < 3; k++)
		free(arrays[k]);
	an->early_ok = rc == MENTOR_OK && !*ret_read && *ret_others == INT64_MAX;
	return rc;
}

/* The batch's observations and fatal items; stored as the hook's (NULL: every event new). */
static int observe_batch(struct run *r, const struct mentor_batch *b, const unsigned char *stored)
{
	int rc = mentor_batch_each_observation(b, r->an->rules, stored, observe, r);

	return rc == MENTOR_OK ? add_batch_fatal(r, b, stored) : rc;
}

/*
 * batch_early's evaluation, with no connection, while PostgreSQL stores the
 * events: what the hook would evaluate before its first round (a round
 * reads the tables), when nothing the hook reads first can change it. The
 * batch carries no roster rows (decisions see the roster published before
 * them), and no other instance stores events of the group (the last
 * catch-up saw none, and this instance's partitions have not moved since).
 * Roster changes made outside the stream are read by the hook as before,
 * and count from its part of the evaluation on. A trigger's score needs its
 * metric's scale, read when the metric's first status row was written.
 */
static int evaluate_early(struct run *r, const struct mentor_batch *b)
{
	struct mentor_analytics *an = r->an;
	int64_t until = an->next_closed_us > an->closed_us ? an->next_closed_us : an->closed_us, next;
	int rc;

	if (!an->early_ok || mentor_batch_rows(b, MENTOR_STAGE_ROSTER) > 0)
		return MENTOR_OK;
	start_rounds(an);
	if ((next = round_due(an, until)) != NO_TIME)
		until = next;
	rc = advance(r, until);
	an->early_ran = rc == MENTOR_OK;
	return rc;
}

/*
 * Observing only queues (the detector's evaluation order does not depend on
 * the order observations came in), so it can go before the stored events
 * of other instances that catch_up reads, and before the roster refresh.
 */
int mentor_analytics_batch_early(void *ctx, struct mentor_error *err)
{
	struct mentor_analytics_batch *ab = ctx;
	struct run r = { .an = ab->an, .err = err };
	int rc;

	ab->observed = false;
	staged_free(&r.an->early_staged);
	r.an->early_ran = false;
	if (!r.an->cfg->enabled || !r.an->leader || r.an->need_load)
		return MENTOR_OK;
	/* From here a failure leaves the memory ahead of the tables: the failed commit makes the caller load. */
	ab->observed = true;
	rc = observe_batch(&r, ab->batch, NULL);
	if (rc == MENTOR_OK)
		rc = evaluate_early(&r, ab->batch);
	if (rc == MENTOR_OK) {
		r.an->early_staged = r.staged;
		r.staged = (struct run_staged){ 0 };
	}
	return run_end(&r, rc);
}

int mentor_analytics_batch_hook(void *ctx, struct mentor_store *store, const unsigned char *stored,
				struct mentor_error *err)
{
	struct mentor_analytics_batch *ab = ctx;
	struct run r = { .an = ab->an, .s = store, .err = err, .staged = ab->an->early_staged };
	bool early_ran = r.an->early_ran, read = false;
	int64_t others = INT64_MAX, closed;
	int rc;

	/* This run writes what batch_early staged, or frees it. */
	r.an->early_staged = (struct run_staged){ 0 };
	r.an->early_ran = false;
	if (!r.an->cfg->enabled)
		return run_end(&r, MENTOR_OK);
	rc = an_take_lead(&r);
	/* Some events were stored before: batch_early counted them again. Store only, and load. */
	if (rc == MENTOR_OK && ab->observed && stored)
		r.an->need_load = true;
	/* Not the decider, or not caught up yet: store only; the tables say what is left to read. */
	if (rc != MENTOR_OK || !r.an->leader || r.an->need_load)
		return run_end(&r, rc);
	rc = create_stages(&r);
	if (rc == MENTOR_OK)
		rc = refresh_agents(&r);
	if (rc == MENTOR_OK)
		rc = catch_up(&r, ab->batch, &others, &read);
	/* What evaluate_early relied on; should it not hold, the batch is rolled back and written again after a load. */
	if (rc == MENTOR_OK && early_ran && (read || others != INT64_MAX))
		rc = mentor_error_set(err, MENTOR_ERR_INVALID,
				      "analytics: another instance stored events while a batch was evaluated early");
	if (rc == MENTOR_OK && !ab->observed)
		rc = observe_batch(&r, ab->batch, stored);
	closed = r.an->next_closed_us < others ? r.an->next_closed_us : others;
	if (rc == MENTOR_OK)
		rc = run_until(&r, closed);
	if (rc == MENTOR_OK)
		rc = write_changes(&r);
	return run_end(&r, rc);
}

/*
 * Evaluates up to closed_us in a transaction of its own. With ret_last_round,
 * ends with a round at the newest time once this instance decides and every
 * partition of the group is its own and read to the end, and says whether the
 * group's drain is finished for this instance: an instance that does not
 * decide has nothing left to do.
 */
static int advance_alone(struct mentor_analytics *an, struct mentor_store *store, int64_t closed_us,
			 bool *ret_last_round, struct mentor_error *err)
{
	struct run r = { .an = an, .s = store, .err = err };
	int64_t newest, others = INT64_MAX;
	bool last_round;
	int rc = mentor_store_begin(store, err);

	if (rc != MENTOR_OK)
		return rc;
	rc = an_take_lead(&r);
	if (ret_last_round)
		*ret_last_round = rc == MENTOR_OK && !an->leader;
	if (rc != MENTOR_OK || !an->leader || an->need_load)
		return mentor_store_end(store, rc, err);
	rc = create_stages(&r);
	if (rc == MENTOR_OK)
		rc = catch_up(&r, NULL, &others, &(bool){ false });
	if (others < closed_us)
		closed_us = others;
	if (rc == MENTOR_OK)
		rc = run_until(&r, closed_us);
	newest = mentor_detector_newest_seen(an->det);
	last_round = ret_last_round && closed_us == MENTOR_DETECT_ALL;
	if (rc == MENTOR_OK && last_round && newest != NO_TIME &&
	    (an->last_round_us == NO_TIME || newest > an->last_round_us))
		rc = an_run_round(&r, newest);
	if (rc == MENTOR_OK)
		rc = write_changes(&r);
	rc = mentor_store_end(store, run_end(&r, rc), err);
	if (ret_last_round)
		*ret_last_round = rc == MENTOR_OK && last_round;
	return rc;
}

int mentor_analytics_tick(struct mentor_analytics *an, struct mentor_store *store, struct mentor_error *err)
{
	if (!an->cfg->enabled || !an->leader || mentor_detector_waiting(an->det) == 0 ||
	    an->next_closed_us <= an->closed_us)
		return MENTOR_OK;
	return advance_alone(an, store, an->next_closed_us, NULL, err);
}

int mentor_analytics_finish(struct mentor_analytics *an, struct mentor_store *store, bool *ret_done,
			    struct mentor_error *err)
{
	*ret_done = true;
	if (!an->cfg->enabled)
		return MENTOR_OK;
	return advance_alone(an, store, MENTOR_DETECT_ALL, ret_done, err);
}
