/*
 * The store's session (include/mentor/store.h, store_int.h): its connection,
 * who uses it when, the batch commit's pipelined COMMIT, and the parts it
 * owns for the batch commit (the event stream, the known agents, the
 * compaction), which it gives up or empties with the connection.
 */
#include "mentor/store.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_programs.h"
#include "compaction.h"
#include "copytext.h"
#include "event_stream.h"
#include "admission.h"
#include "known_agents.h"
#include "mentor/clock.h"
#include "pg.h"
#include "recent_events.h"
#include "store_int.h"

struct mentor_store {
	PGconn *conn;
	char *conninfo;  /* owned; may hold a password, so it is never put in a message */
	char *schema;    /* owned */
	/*
	 * The open batch's score events are COPYed while the batch is staged
	 * (mentor_store_stream_events), so that PostgreSQL stores them while
	 * mentord parses the next messages.
	 */
	struct mentor_event_stream stream;
	struct mentor_compaction compaction;
	/*
	 * A batch's deferred statements and COMMIT, sent without waiting
	 * (mentor_store_commit_send): `committing` until their results are read
	 * (commit_collect), which every other use of the connection waits for.
	 * commit_rc and commit_err keep a failure until mentor_store_settle().
	 */
	struct text_buf deferred;
	bool committing;
	int commit_rc;
	struct mentor_error commit_err;
	int64_t commit_began_us, commit_ended_us;  /* monotonic: the last commit_batch's start, its last result */
	mentor_store_notice_fn notice_fn;  /* NULL: notices dropped */
	void *notice_ctx;
	struct mentor_known_agents known;
	struct mentor_known_agents known_metrics;  /* metric names known to have a metrics row */
	struct mentor_admission admission;         /* the last batch commit's refusals */
	struct mentor_recent_events recent;  /* the stream keeps their repeats out of its COPY */
	struct mentor_agent_programs programs;  /* the roster's agents with one program, as stored */
	bool migrated;  /* the schema is current: programs can be loaded (on every connect from then on) */
};

/* Staging tables live in the session, so they are made on every (re)connect. */
static const char create_staging_sql[] =
	"CREATE TEMP TABLE stage_roster (seq bigint, agent_id text, name text, team_id text,"
	" team_lead_id text, site text, language text, active boolean, occurred_us bigint,"
	" topic text, partition integer, kafka_offset bigint, received_us bigint, programs text[])"
	" ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE stage_rejects (topic text, partition integer, kafka_offset bigint,"
	" received_us bigint, key bytea, payload bytea, payload_bytes bigint, payload_sha256 bytea, reason text,"
	" detail text) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE stage_metrics (metric text, source text, scale_min numeric, scale_max numeric)"
	" ON COMMIT DELETE ROWS;";

/* The agents the roster gives exactly one program (NULL elements, by hand, are no program). */
static const char load_programs_sql[] =
	"SELECT agent_id, min(p) FROM agents, unnest(programs) AS p"
	" GROUP BY agent_id HAVING count(DISTINCT p) = 1";

static bool commit_collect(struct mentor_store *s, bool wait);

/* libpq's notice processor on every connection of s: the message goes to s's notice function. */
static void pass_notice(void *arg, const char *message)
{
	struct mentor_store *s = arg;

	if (s->notice_fn)
		s->notice_fn(s->notice_ctx, message);
}

void mentor_store_set_notices(struct mentor_store *s, mentor_store_notice_fn fn, void *ctx)
{
	s->notice_fn = fn;
	s->notice_ctx = ctx;
}

/* The roster's programs as stored, read again (agent_programs.h). */
static int load_programs(struct mentor_store *s, struct mentor_error *err)
{
	PGresult *res = NULL;
	int rc = mentor_pg_exec(s->conn, load_programs_sql, 0, NULL, "load the agents' programs", &res, err);

	mentor_agent_programs_clear(&s->programs);
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++)
		if (mentor_agent_programs_set(&s->programs, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0),
					      PQgetvalue(res, i, 1)) != 0)
			rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory loading the agents' programs");
	mentor_agent_programs_keep(&s->programs);
	PQclear(res);
	return rc;
}

static int connect_session(struct mentor_store *s, struct mentor_error *err)
{
	int rc;

	commit_collect(s, true);
	PQfinish(s->conn);
	s->conn = NULL;
	mentor_known_agents_clear(&s->known);
	mentor_known_agents_clear(&s->known_metrics);
	mentor_event_stream_lost(&s->stream);
	rc = mentor_pg_connect(s->conninfo, s->schema, pass_notice, s, &s->conn, err);
	if (rc == MENTOR_OK)
		rc = mentor_pg_command(s->conn, create_staging_sql, "create staging tables", err);
	if (rc == MENTOR_OK && s->migrated)
		rc = load_programs(s, err);
	return rc;
}

int mentor_store_open(const char *conninfo, const char *schema, struct mentor_store **ret_store,
		      struct mentor_error *err)
{
	struct mentor_store *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	s->conninfo = strdup(conninfo);
	s->schema = strdup(schema);
	if (!s->conninfo || !s->schema) {
		mentor_store_close(s);
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	}
	s->stream.recent = &s->recent;
	mentor_compaction_init(&s->compaction, s->conninfo, s->schema, pass_notice, s);
	rc = connect_session(s, err);
	if (rc != MENTOR_OK) {
		mentor_store_close(s);
		return rc;
	}
	*ret_store = s;
	return MENTOR_OK;
}

void mentor_store_close(struct mentor_store *s)
{
	if (!s)
		return;
	mentor_compaction_stop(&s->compaction);
	if (s->conn)
		commit_collect(s, true);
	PQfinish(s->conn);
	mentor_known_agents_free(&s->known);
	mentor_known_agents_free(&s->known_metrics);
	mentor_admission_free(&s->admission);
	mentor_recent_events_free(&s->recent);
	mentor_agent_programs_free(&s->programs);
	free(s->deferred.data);
	free(s->conninfo);
	free(s->schema);
	free(s);
}

int mentor_store_reconnect(struct mentor_store *s, struct mentor_error *err)
{
	return connect_session(s, err);
}

static void deferred_clear(struct mentor_store *s)
{
	free(s->deferred.data);
	s->deferred = (struct text_buf){ 0 };
}

void mentor_store_rollback(struct mentor_store *s)
{
	PQclear(PQexec(s->conn, "ROLLBACK"));
	deferred_clear(s);
}

/*
 * Reads the results of the commit in flight that have come; with wait, up
 * to the last. True once it is over: a failure (an earlier statement's,
 * which skips the COMMIT, or the COMMIT's) is rolled back and kept in
 * commit_rc, and the agents it inserted are no longer known.
 */
static bool commit_collect(struct mentor_store *s, bool wait)
{
	PGresult *res;

	if (!s->committing)
		return true;
	if (!wait && !PQconsumeInput(s->conn))
		wait = true;  /* the connection broke: PQgetResult says so at once */
	while (wait || !PQisBusy(s->conn)) {
		res = PQgetResult(s->conn);
		if (!res)
			break;
		if (s->commit_rc == MENTOR_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
			s->commit_rc = mentor_pg_error(s->conn, res, "commit batch", &s->commit_err);
		PQclear(res);
	}
	if (!wait && PQisBusy(s->conn))
		return false;
	s->committing = false;
	s->commit_ended_us = mentor_monotonic_us();
	if (s->commit_rc != MENTOR_OK) {
		mentor_store_rollback(s);
		mentor_known_agents_clear(&s->known);
		mentor_known_agents_clear(&s->known_metrics);
		mentor_admission_reset(&s->admission);
		mentor_agent_programs_undo(&s->programs);
	} else {
		mentor_agent_programs_keep(&s->programs);
	}
	return true;
}

int mentor_store_commit_begin(struct mentor_store *s, struct mentor_error *err)
{
	commit_collect(s, true);
	s->commit_began_us = mentor_monotonic_us();
	if (s->commit_rc != MENTOR_OK)
		return mentor_error_set(err, MENTOR_ERR_DB, "the last batch's commit failed, not settled");
	return MENTOR_OK;
}

int mentor_store_commit_send(struct mentor_store *s, struct mentor_error *err)
{
	int rc = MENTOR_OK;

	buf_append(&s->deferred, "COMMIT", 6);
	if (s->deferred.failed)
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	else if (!PQsendQuery(s->conn, s->deferred.data))
		rc = mentor_pg_error(s->conn, NULL, "commit batch", err);
	deferred_clear(s);
	s->committing = rc == MENTOR_OK;
	s->commit_rc = MENTOR_OK;
	return rc;
}

/* Before any other use of the connection: the commit in flight is over, an open stream given up. */
static void take_connection(struct mentor_store *s)
{
	commit_collect(s, true);
	mentor_event_stream_abort(&s->stream, s->conn);
}

int mentor_store_schema_current(struct mentor_store *s, struct mentor_error *err)
{
	take_connection(s);
	s->migrated = true;
	return load_programs(s, err);
}

int mentor_store_settle(struct mentor_store *s, struct mentor_error *err)
{
	int rc;

	commit_collect(s, true);
	rc = s->commit_rc;
	if (rc != MENTOR_OK && err)
		*err = s->commit_err;
	s->commit_rc = MENTOR_OK;
	return rc;
}

int64_t mentor_store_commit_us(const struct mentor_store *s)
{
	return s->commit_ended_us - s->commit_began_us;
}

int mentor_store_defer(struct mentor_store *s, const char *sql, struct mentor_error *err)
{
	buf_append(&s->deferred, sql, strlen(sql));
	buf_append(&s->deferred, ";", 1);
	return s->deferred.failed ? mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory") : MENTOR_OK;
}

void mentor_store_stream_events(struct mentor_store *s, const struct mentor_batch *b)
{
	/* The last batch's commit must be over; a failed one is settled (this batch dropped) by the caller. */
	if (mentor_event_stream_wants_begin(&s->stream, b) &&
	    (!commit_collect(s, false) || s->commit_rc != MENTOR_OK || !mentor_event_stream_begin(&s->stream, s->conn)))
		return;
	mentor_event_stream_push(&s->stream, s->conn, b);
}

void mentor_store_stream_drop(struct mentor_store *s)
{
	mentor_event_stream_abort(&s->stream, s->conn);
	mentor_event_stream_reset(&s->stream);
}

PGconn *mentor_store_conn(struct mentor_store *s)
{
	return s->conn;
}

const char *mentor_store_schema(const struct mentor_store *s)
{
	return s->schema;
}

struct mentor_event_stream *mentor_store_stream(struct mentor_store *s)
{
	return &s->stream;
}

struct mentor_known_agents *mentor_store_known_metrics(struct mentor_store *s)
{
	return &s->known_metrics;
}

struct mentor_admission *mentor_store_admission(struct mentor_store *s)
{
	return &s->admission;
}

bool mentor_store_may_refuse(const struct mentor_store *s, const struct mentor_event *ev)
{
	const char *key;
	size_t len;
	json_t *v;

	if (ev->kind == MENTOR_EVENT_ROSTER)
		return false;
	if (!mentor_known_agents_has(&s->known, ev->agent_id, strlen(ev->agent_id)))
		return true;
	if (ev->scores)
		json_object_keylen_foreach(ev->scores, key, len, v)
			if (!mentor_known_agents_has(&s->known_metrics, key, len))
				return true;
	return false;
}

size_t mentor_store_refusals(const struct mentor_store *s)
{
	return s->admission.n_refused;
}

void mentor_store_refusal(const struct mentor_store *s, const struct mentor_batch *b, size_t i, size_t *ret_event,
			  struct mentor_reject *ret_why)
{
	mentor_admission_refusal(&s->admission, b, i, ret_event, ret_why);
}

struct mentor_known_agents *mentor_store_known_agents(struct mentor_store *s)
{
	return &s->known;
}

struct mentor_recent_events *mentor_store_recent_events(struct mentor_store *s)
{
	return &s->recent;
}

struct mentor_agent_programs *mentor_store_agent_programs(struct mentor_store *s)
{
	return &s->programs;
}

const char *mentor_store_only_program(const void *store, const char *agent_id, size_t len)
{
	const struct mentor_store *s = store;

	return mentor_agent_programs_only(&s->programs, agent_id, len);
}

struct mentor_compaction *mentor_store_compaction(struct mentor_store *s)
{
	return &s->compaction;
}

int mentor_store_exec(struct mentor_store *s, const char *sql, int n, const char *const *values, const char *what,
		      PGresult **ret_res, struct mentor_error *err)
{
	take_connection(s);
	return mentor_pg_exec(s->conn, sql, n, values, what, ret_res, err);
}

int mentor_store_command(struct mentor_store *s, const char *sql, const char *what, struct mentor_error *err)
{
	take_connection(s);
	return mentor_pg_command(s->conn, sql, what, err);
}

int mentor_store_copy(struct mentor_store *s, const char *sql, const char *text, size_t len,
		      struct mentor_error *err)
{
	take_connection(s);
	return mentor_pg_copy(s->conn, sql, text, len, err);
}

int mentor_store_begin(struct mentor_store *s, struct mentor_error *err)
{
	return mentor_store_command(s, "BEGIN", "begin", err);
}

int mentor_store_end(struct mentor_store *s, int rc, struct mentor_error *err)
{
	if (rc == MENTOR_OK && s->deferred.len > 0)
		rc = mentor_pg_command(s->conn, s->deferred.data, "deferred statements", err);
	deferred_clear(s);
	if (rc == MENTOR_OK)
		rc = mentor_pg_command(s->conn, "COMMIT", "commit", err);
	if (rc != MENTOR_OK)
		mentor_store_rollback(s);
	return rc;
}
