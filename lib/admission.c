/* Admission of new agents and behaviors when a batch is stored (admission.h). */
#include "admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "pg.h"

/* Metrics every score event has: outcomes, not behaviors, so never bounded (batch.c names them). */
static const char *const outcome_metrics[] = { "csat", "csat_top2", "aqm" };

/*
 * Batches that bring new agents or behaviors take turns (until their
 * COMMIT), per schema; batches that bring none, and roster updates, never wait.
 */
static const char lock_admission_sql[] =
	"SELECT pg_advisory_xact_lock(hashtext('mentord.admission.' || current_schema()))";

/* What the bounds count: agents rows the roster does not know, and behaviors. */
static const char count_stored_sql[] =
	"SELECT (SELECT count(*) FROM agents WHERE NOT roster_known),"
	"       (SELECT count(*) FROM metrics WHERE metric NOT IN ('csat', 'csat_top2', 'aqm'))";

/* $1: candidate ids; the positions (1-based) of those with no agents row, in order. */
static const char new_agents_sql[] =
	"SELECT c.i FROM unnest($1::text[]) WITH ORDINALITY AS c(a, i)"
	" WHERE NOT EXISTS (SELECT 1 FROM agents WHERE agent_id = c.a) ORDER BY c.i";

static const char new_metrics_sql[] =
	"SELECT c.i FROM unnest($1::text[]) WITH ORDINALITY AS c(m, i)"
	" WHERE NOT EXISTS (SELECT 1 FROM metrics WHERE metric = c.m) ORDER BY c.i";

/* $1: event ids this batch inserted and refuses. */
static const char delete_refused_sql[] =
	"DELETE FROM score_events WHERE event_id = ANY($1::text[])";

static bool is_outcome(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(outcome_metrics) / sizeof(outcome_metrics[0]); i++)
		if (strlen(outcome_metrics[i]) == len && memcmp(outcome_metrics[i], name, len) == 0)
			return true;
	return false;
}

bool mentor_admission_needed(const struct mentor_batch *b, const struct mentor_known_agents *known_agents,
			     const struct mentor_known_agents *known_metrics)
{
	size_t len;
	const char *s;

	for (size_t i = 0; i < mentor_batch_agent_count(b); i++) {
		s = mentor_batch_agent(b, i, &len);
		if (!mentor_known_agents_has(known_agents, s, len))
			return true;
	}
	for (size_t i = 0; i < mentor_batch_metric_count(b); i++) {
		s = mentor_batch_metric(b, i, &len);
		if (!is_outcome(s, len) && !mentor_known_agents_has(known_metrics, s, len))
			return true;
	}
	return false;
}

void mentor_admission_reset(struct mentor_admission *a)
{
	a->n_refused = 0;
	if (a->agent_refused)
		memset(a->agent_refused, 0, a->cap_agents);
	if (a->metric_refused)
		memset(a->metric_refused, 0, a->cap_metrics);
}

void mentor_admission_free(struct mentor_admission *a)
{
	free(a->agent_refused);
	free(a->metric_refused);
	free(a->refused);
	memset(a, 0, sizeof(*a));
}

bool mentor_admission_agent_refused(const struct mentor_admission *a, size_t i)
{
	return i < a->cap_agents && a->agent_refused[i];
}

bool mentor_admission_metric_refused(const struct mentor_admission *a, size_t i)
{
	return i < a->cap_metrics && a->metric_refused[i];
}

/* A zeroed flag per item, n of them. */
static bool flags_for(unsigned char **flags, size_t *cap, size_t n)
{
	if (n > *cap) {
		unsigned char *grown = realloc(*flags, n);

		if (!grown)
			return false;
		*flags = grown;
		*cap = n;
	}
	if (*flags)
		memset(*flags, 0, *cap);
	return true;
}

/* The candidates: a text[] literal of the names `take` says, and which item each is. */
struct candidates {
	struct text_buf array;
	size_t *item;
	size_t n;
};

static void candidates_free(struct candidates *c)
{
	free(c->array.data);
	free(c->item);
}

static bool candidate_add(struct candidates *c, size_t item, const char *name, size_t len, size_t cap)
{
	if (!c->item && !(c->item = malloc(cap * sizeof(*c->item))))
		return false;
	buf_array_text(&c->array, c->n == 0, name, len);
	c->item[c->n++] = item;
	return !c->array.failed;
}

static bool candidates_close(struct candidates *c)
{
	struct text_buf t = { 0 };

	buf_append(&t, "{", 1);
	buf_append(&t, c->array.data ? c->array.data : "", c->array.len);
	buf_append(&t, "}", 1);
	free(c->array.data);
	c->array = t;
	return !t.failed;
}

/* Takes the admission lock once per batch, and reads what is stored then. */
struct turn {
	bool locked;
	int64_t unknown_agents, behaviors;
};

static int take_turn(PGconn *conn, struct turn *t, struct mentor_error *err)
{
	PGresult *res = NULL;
	int rc;

	if (t->locked)
		return MENTOR_OK;
	rc = mentor_pg_exec(conn, lock_admission_sql, 0, NULL, "lock admission", NULL, err);
	if (rc == MENTOR_OK)
		rc = mentor_pg_exec(conn, count_stored_sql, 0, NULL, "count unknown agents and behaviors", &res, err);
	if (rc != MENTOR_OK)
		return rc;
	t->locked = true;
	t->unknown_agents = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	t->behaviors = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return MENTOR_OK;
}

/*
 * Runs sql on the candidates: a first time without the lock (most
 * candidates are only unknown to this instance's memory), and again under
 * it if some are new, since another instance may have stored them
 * meanwhile. Of the new ones, the first (bound - stored) are admitted and
 * the others flagged in refused.
 */
static int refuse_past(PGconn *conn, const char *sql, const char *what, struct candidates *c, struct turn *t,
		       const int64_t *stored, int64_t bound, unsigned char *refused, struct mentor_error *err)
{
	const char *param = c->array.data;
	PGresult *res = NULL;
	int rc = mentor_pg_exec(conn, sql, 1, &param, what, &res, err);

	if (rc == MENTOR_OK && PQntuples(res) > 0) {
		PQclear(res);
		res = NULL;
		rc = take_turn(conn, t, err);
		if (rc == MENTOR_OK)
			rc = mentor_pg_exec(conn, sql, 1, &param, what, &res, err);
	}
	if (rc != MENTOR_OK)
		return rc;
	for (int r = 0; r < PQntuples(res); r++) {
		long pos = strtol(PQgetvalue(res, r, 0), NULL, 10);

		if (r >= bound - *stored && pos >= 1 && (size_t)pos <= c->n)
			refused[c->item[pos - 1]] = 1;
	}
	PQclear(res);
	return MENTOR_OK;
}

static int refuse_event(struct mentor_admission *a, size_t event, enum mentor_reject_code code, size_t name)
{
	if (!mentor_grow((void **)&a->refused, &a->cap_refused, a->n_refused, sizeof(*a->refused), 64, SIZE_MAX))
		return -1;
	a->refused[a->n_refused++] = (struct mentor_refused_event){
		.event = (uint32_t)event, .code = (uint8_t)code, .name = (uint32_t)name,
	};
	return 0;
}

struct metric_scan {
	const struct mentor_admission *a;
	unsigned char *live;   /* out: metrics of the events still admitted */
	long first_refused;    /* out: the first refused metric of the event, or -1 */
};

static void note_live(void *ctx, size_t metric)
{
	struct metric_scan *m = ctx;

	m->live[metric] = 1;
}

static void note_refused(void *ctx, size_t metric)
{
	struct metric_scan *m = ctx;

	if (m->first_refused < 0 && m->a->metric_refused[metric])
		m->first_refused = (long)metric;
}

static bool event_in(const unsigned char *stored, size_t i)
{
	return !stored || stored[i];
}

/* Agents: the new ones past the bound are refused, and so are their events. */
static int decide_agents(struct mentor_admission *a, PGconn *conn, const struct mentor_batch *b,
			 const struct mentor_known_agents *known, struct turn *t, struct mentor_error *err)
{
	size_t n = mentor_batch_agent_count(b), len;
	struct candidates c = { 0 };
	int rc = MENTOR_OK;

	for (size_t i = 0; i < n; i++) {
		const char *id = mentor_batch_agent(b, i, &len);

		if (!mentor_known_agents_has(known, id, len) && !candidate_add(&c, i, id, len, n)) {
			rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (c.n == 0)
		goto out;
	if (!candidates_close(&c)) {
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = refuse_past(conn, new_agents_sql, "find new agents", &c, t, &t->unknown_agents, a->max_unknown_agents,
			 a->agent_refused, err);
	for (size_t i = 0; rc == MENTOR_OK && i < mentor_batch_rows(b, MENTOR_STAGE_EVENTS); i++) {
		size_t agent = mentor_batch_event_agent(b, i);

		if (a->agent_refused[agent] && refuse_event(a, i, MENTOR_REJECT_UNKNOWN_AGENT_LIMIT, agent) != 0)
			rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	}
out:
	candidates_free(&c);
	return rc;
}

/* Behaviors of the events still admitted: the new ones past the bound are refused, and so are their events. */
static int decide_metrics(struct mentor_admission *a, PGconn *conn, const struct mentor_batch *b,
			  const struct mentor_known_agents *known, const unsigned char *stored, struct turn *t,
			  struct mentor_error *err)
{
	size_t n = mentor_batch_metric_count(b), events = mentor_batch_rows(b, MENTOR_STAGE_EVENTS), len;
	size_t agent_refusals = a->n_refused;
	struct metric_scan scan = { .a = a, .live = calloc(n + 1, 1) };
	struct candidates c = { 0 };
	int rc = MENTOR_OK;

	if (!scan.live)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < events; i++)
		if (event_in(stored, i) && !a->agent_refused[mentor_batch_event_agent(b, i)])
			mentor_batch_event_metrics(b, i, note_live, &scan);
	for (size_t m = 0; m < n; m++) {
		const char *name = mentor_batch_metric(b, m, &len);

		if (scan.live[m] && !is_outcome(name, len) && !mentor_known_agents_has(known, name, len) &&
		    !candidate_add(&c, m, name, len, n)) {
			rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (c.n == 0)
		goto out;
	if (!candidates_close(&c)) {
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = refuse_past(conn, new_metrics_sql, "find new behaviors", &c, t, &t->behaviors, a->max_behaviors,
			 a->metric_refused, err);
	for (size_t i = 0, r = 0; rc == MENTOR_OK && i < events; i++) {
		/* Events refused for their agent are listed first, in event order. */
		if (r < agent_refusals && a->refused[r].event == i) {
			r++;
			continue;
		}
		scan.first_refused = -1;
		mentor_batch_event_metrics(b, i, note_refused, &scan);
		if (scan.first_refused >= 0 &&
		    refuse_event(a, i, MENTOR_REJECT_TOO_MANY_BEHAVIORS, (size_t)scan.first_refused) != 0)
			rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	}
out:
	free(scan.live);
	candidates_free(&c);
	return rc;
}

/* The refused events out of score_events (those this batch inserted), their stored flags cleared, their rejects staged. */
static int take_out(struct mentor_admission *a, PGconn *conn, const struct mentor_batch *b, unsigned char **stored,
		    struct text_buf *rejects, struct mentor_error *err)
{
	size_t events = mentor_batch_rows(b, MENTOR_STAGE_EVENTS), deleted = 0;
	struct text_buf ids = { 0 };
	int rc = MENTOR_OK;

	if (!*stored) {
		if (!(*stored = malloc(events)))
			return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		memset(*stored, 1, events);
	}
	buf_append(&ids, "{", 1);
	for (size_t r = 0; r < a->n_refused; r++) {
		size_t i = a->refused[r].event, len;
		const char *id, *kept;
		struct mentor_reject why;

		if ((*stored)[i]) {
			id = mentor_batch_event_id(b, i, &len);
			buf_array_text(&ids, deleted++ == 0, id, len);
			(*stored)[i] = 0;
		}
		kept = mentor_batch_event_kept(b, i, &len);
		if (kept) {
			buf_append(rejects, kept, len);
		} else {
			static const char no_payload[] = "\\N\t\\\\x\t\\N\t\\N\t";  /* key, payload, its length and hash */
			const char *topic;
			int32_t partition;
			int64_t offset, received_us;

			/* A message not kept: its agent was known when it was staged (an operator deleted the row since). */
			mentor_batch_event_origin(b, i, &topic, &partition, &offset, &received_us);
			col_text(rejects, topic);
			col_int(rejects, partition);
			col_int(rejects, offset);
			col_int(rejects, received_us);
			buf_append(rejects, no_payload, sizeof(no_payload) - 1);
		}
		mentor_admission_refusal(a, b, r, &i, &why);
		col_text(rejects, mentor_reject_code_name(why.code));
		col_text(rejects, why.detail);
		row_end(rejects);
	}
	buf_append(&ids, "}", 1);
	if (ids.failed || rejects->failed)
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	else if (deleted > 0)
		rc = mentor_pg_exec(conn, delete_refused_sql, 1, (const char *const *)&ids.data, "delete refused events",
				    NULL, err);
	free(ids.data);
	return rc;
}

int mentor_admission_run(struct mentor_admission *a, PGconn *conn, const struct mentor_batch *b,
			 const struct mentor_known_agents *known_agents,
			 const struct mentor_known_agents *known_metrics, unsigned char **stored,
			 struct text_buf *rejects, struct mentor_error *err)
{
	const struct mentor_event_rules *rules = mentor_batch_rules(b);
	struct turn t = { 0 };
	int rc = MENTOR_OK;

	a->n_refused = 0;
	a->max_unknown_agents = rules->max_unknown_agents;
	a->max_behaviors = rules->max_behaviors;
	if (!flags_for(&a->agent_refused, &a->cap_agents, mentor_batch_agent_count(b) + 1) ||
	    !flags_for(&a->metric_refused, &a->cap_metrics, mentor_batch_metric_count(b) + 1))
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	rc = decide_agents(a, conn, b, known_agents, &t, err);
	if (rc == MENTOR_OK)
		rc = decide_metrics(a, conn, b, known_metrics, *stored, &t, err);
	if (rc == MENTOR_OK && a->n_refused > 0)
		rc = take_out(a, conn, b, stored, rejects, err);
	if (rc != MENTOR_OK)
		mentor_admission_reset(a);
	return rc;
}

void mentor_admission_refusal(const struct mentor_admission *a, const struct mentor_batch *b, size_t i,
			      size_t *ret_event, struct mentor_reject *ret_why)
{
	const struct mentor_refused_event *r = &a->refused[i];
	size_t len;
	const char *name;

	*ret_event = r->event;
	ret_why->code = (enum mentor_reject_code)r->code;
	/* Names are ids (at most MENTOR_ID_MAX - 1 bytes, no control characters): the detail holds them whole. */
	if (r->code == MENTOR_REJECT_UNKNOWN_AGENT_LIMIT) {
		name = mentor_batch_agent(b, r->name, &len);
		snprintf(ret_why->detail, sizeof(ret_why->detail),
			 "agent_id: \"%.*s\" is not in the roster, and max_unknown_agents (%lld) are stored",
			 (int)len, name, (long long)a->max_unknown_agents);
	} else {
		name = mentor_batch_metric(b, r->name, &len);
		snprintf(ret_why->detail, sizeof(ret_why->detail),
			 "behavior \"%.*s\" is new, and max_behaviors (%lld) are stored", (int)len, name,
			 (long long)a->max_behaviors);
	}
}
