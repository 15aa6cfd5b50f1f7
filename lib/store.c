#include "mentor/store.h"

#include <inttypes.h>
#include <stdbool.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compaction.h"
#include "copytext.h"
#include "known_agents.h"
#include "migrations.h"
#include "pg.h"

/* The stream sends the staged events once at least this much waits. */
#define STREAM_MIN_BYTES 65536

struct mentor_store {
	PGconn *conn;
	char *conninfo;  /* owned; may hold a password, so it is never put in a message */
	char *schema;    /* owned */
	/*
	 * The open batch's score events are COPYed while the batch is staged
	 * (mentor_store_stream_events), so that PostgreSQL stores them while
	 * mentord parses the next messages. STREAM_FAILED: given up for this
	 * batch (rolled back); the commit writes it the ordinary way.
	 */
	enum { STREAM_NONE, STREAM_COPYING, STREAM_FAILED } stream;
	size_t stream_sent;    /* bytes of the batch's events text sent */
	size_t stream_tried;   /* bytes of it staged when the stream last tried to begin */
	struct mentor_compaction compaction;
	/*
	 * A batch's deferred statements and COMMIT, sent without waiting
	 * (commit_send): `committing` until their results are read
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
};

/* Staging tables live in the session, so they are made on every (re)connect. */
static const char create_staging_sql[] =
	"CREATE TEMP TABLE stage_roster (seq bigint, agent_id text, name text, team_id text,"
	" team_lead_id text, site text, language text, active boolean, occurred_us bigint,"
	" topic text, partition integer, kafka_offset bigint, received_us bigint) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE stage_rejects (topic text, partition integer, kafka_offset bigint,"
	" received_us bigint, key bytea, payload bytea, reason text, detail text) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE stage_metrics (metric text, source text, scale_min numeric, scale_max numeric)"
	" ON COMMIT DELETE ROWS;";

static const char *const copy_sql[MENTOR_STAGE_COUNT] = {
	[MENTOR_STAGE_ROSTER] = "COPY stage_roster FROM STDIN",
	/* Score events go straight into score_events, without their repeats (write_events). */
	[MENTOR_STAGE_EVENTS] = "COPY score_events (event_id, kind, agent_id, interaction_id, channel,"
				" occurred_at, received_at, csat, nps, overall, scores, fatal, topic, partition,"
				" kafka_offset) FROM STDIN",
	[MENTOR_STAGE_REJECTS] = "COPY stage_rejects FROM STDIN",
};

/* The last roster event of an agent in a batch wins; a score event never overwrites the roster. */
static const char upsert_roster_sql[] =
	"INSERT INTO agents (agent_id, name, team_id, team_lead_id, site, language, active,"
	"                    roster_known, roster_occurred_at, updated_at)"
	" SELECT DISTINCT ON (agent_id) agent_id, name, team_id, team_lead_id, site, language, active,"
	"        true, 'epoch'::timestamptz + occurred_us * interval '1 microsecond', now()"
	"   FROM stage_roster ORDER BY agent_id, seq DESC"
	" ON CONFLICT (agent_id) DO UPDATE SET name = excluded.name, team_id = excluded.team_id,"
	"   team_lead_id = excluded.team_lead_id, site = excluded.site, language = excluded.language,"
	"   active = excluded.active, roster_known = true,"
	"   roster_occurred_at = excluded.roster_occurred_at, updated_at = now()";

static const char insert_team_leads_sql[] =
	"INSERT INTO team_leads (team_lead_id)"
	" SELECT DISTINCT team_lead_id FROM stage_roster WHERE team_lead_id IS NOT NULL"
	" ORDER BY team_lead_id ON CONFLICT DO NOTHING";

/* $1: the distinct agent_ids of the batch's score events. */
static const char insert_unknown_agents_sql[] =
	"INSERT INTO agents (agent_id)"
	" SELECT a FROM unnest($1::text[]) AS a ORDER BY a ON CONFLICT DO NOTHING";

/* Which of the batch's event ids ($1) score_events has already: repeats across batches (insert_events). */
static const char find_repeats_sql[] =
	"SELECT event_id FROM score_events WHERE event_id = ANY($1::text[])";

static const char copy_parts_sql[] =
	"COPY agent_daily_parts (agent_id, metric, day, n, sum_e6, sumsq_e12) FROM STDIN WITH (FORMAT binary)";

/* The first source and scale stored for a metric stay. */
static const char insert_metrics_sql[] =
	"INSERT INTO metrics (metric, source, scale_min, scale_max)"
	" SELECT metric, source, scale_min, scale_max FROM stage_metrics ORDER BY metric"
	" ON CONFLICT (metric) DO NOTHING";

static const char insert_rejects_sql[] =
	"INSERT INTO rejected_events (topic, partition, kafka_offset, received_at, key, payload, reason, detail)"
	" SELECT topic, partition, kafka_offset, 'epoch'::timestamptz + received_us * interval '1 microsecond',"
	"        key, payload, reason, detail"
	"   FROM stage_rejects ON CONFLICT DO NOTHING";

/* $6: the batch's newest event time in microseconds, NULL if it had none (greatest() skips NULLs). */
static const char fence_offset_sql[] =
	"UPDATE consumer_offsets SET next_offset = $4, updated_at = now(),"
	"   max_event_at = greatest(max_event_at, 'epoch'::timestamptz + $6::bigint * interval '1 microsecond')"
	" WHERE group_id = $1 AND topic = $2 AND partition = $3 AND next_offset = $5";

/* Runs a command that returns no rows. */
static int exec_command(struct mentor_store *s, const char *sql, const char *what, struct mentor_error *err)
{
	return mentor_pg_command(s->conn, sql, what, err);
}

static void stream_fail(struct mentor_store *s);
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

static int connect_session(struct mentor_store *s, struct mentor_error *err)
{
	int rc;

	commit_collect(s, true);
	PQfinish(s->conn);
	mentor_known_agents_clear(&s->known);
	if (s->stream != STREAM_NONE)
		s->stream = STREAM_FAILED;
	rc = mentor_pg_connect(s->conninfo, s->schema, pass_notice, s, &s->conn, err);
	if (rc == MENTOR_OK)
		rc = exec_command(s, create_staging_sql, "create staging tables", err);
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
	free(s->deferred.data);
	free(s->conninfo);
	free(s->schema);
	free(s);
}

int mentor_store_reconnect(struct mentor_store *s, struct mentor_error *err)
{
	return connect_session(s, err);
}

static int64_t monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void deferred_clear(struct mentor_store *s)
{
	free(s->deferred.data);
	s->deferred = (struct text_buf){ 0 };
}

static void rollback(struct mentor_store *s)
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
	s->commit_ended_us = monotonic_us();
	if (s->commit_rc != MENTOR_OK) {
		rollback(s);
		mentor_known_agents_clear(&s->known);
	}
	return true;
}

/* The deferred statements and the COMMIT, in one query sent without waiting for it. */
static int commit_send(struct mentor_store *s, struct mentor_error *err)
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
	stream_fail(s);
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

static int apply_migration(struct mentor_store *s, const struct mentor_migration *m, int *ret_applied,
			   struct mentor_error *err)
{
	char version[16];
	const char *params[] = { version, m->name, s->schema };
	PGresult *res = NULL;
	int rc;

	snprintf(version, sizeof(version), "%d", m->version);
	rc = exec_command(s, "BEGIN", "begin migration", err);
	if (rc != MENTOR_OK)
		return rc;
	rc = mentor_pg_exec(s->conn, "SELECT pg_advisory_xact_lock(hashtext('mentord.migrate.' || $1))", 1,
			 &params[2], "lock migrations", NULL, err);
	if (rc != MENTOR_OK)
		goto out;
	rc = mentor_pg_exec(s->conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params,
			 "read schema_migrations", &res, err);
	if (rc != MENTOR_OK || PQntuples(res) > 0)
		goto out;
	rc = exec_command(s, m->sql, m->name, err);
	if (rc != MENTOR_OK)
		goto out;
	rc = mentor_pg_exec(s->conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, params,
			 "record migration", NULL, err);
	if (rc == MENTOR_OK)
		(*ret_applied)++;
out:
	PQclear(res);
	if (rc == MENTOR_OK)
		return exec_command(s, "COMMIT", "commit migration", err);
	rollback(s);
	return rc;
}

int mentor_store_migrate(struct mentor_store *s, int *ret_applied, struct mentor_error *err)
{
	int applied = 0;
	int rc;

	take_connection(s);
	rc = exec_command(s, "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
				 " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
			      "create schema_migrations", err);

	for (size_t i = 0; rc == MENTOR_OK && i < mentor_migration_count; i++)
		rc = apply_migration(s, &mentor_migrations[i], &applied, err);
	if (rc == MENTOR_OK && ret_applied)
		*ret_applied = applied;
	return rc;
}

int mentor_store_offset_load(struct mentor_store *s, const char *group, const char *topic,
			     int32_t partition, int64_t *ret_next, int64_t *ret_max_event_us, struct mentor_error *err)
{
	char part[16];
	const char *params[] = { group, topic, part };
	PGresult *res = NULL;
	int rc;

	take_connection(s);  /* a rebalance while a batch is open: the offset row must not wait for its commit */
	snprintf(part, sizeof(part), "%" PRId32, partition);
	rc = mentor_pg_exec(s->conn, "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)"
			    " VALUES ($1, $2, $3, -1) ON CONFLICT DO NOTHING",
			 3, params, "create offset row", NULL, err);
	if (rc != MENTOR_OK)
		return rc;
	rc = mentor_pg_exec(s->conn, "SELECT next_offset, (extract(epoch FROM max_event_at) * 1000000)::bigint FROM consumer_offsets"
			    " WHERE group_id = $1 AND topic = $2 AND partition = $3",
			 3, params, "load offset", &res, err);
	if (rc != MENTOR_OK)
		return rc;
	if (PQntuples(res) != 1)
		rc = mentor_error_set(err, MENTOR_ERR_DB, "offset row for %s[%" PRId32 "] vanished", topic, partition);
	else {
		*ret_next = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*ret_max_event_us = PQgetisnull(res, 0, 1) ? MENTOR_NO_EVENT_TIME : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	return rc;
}

static int copy_text(struct mentor_store *s, const char *sql, const char *text, size_t len,
		     struct mentor_error *err)
{
	return mentor_pg_copy(s->conn, sql, text, len, err);
}

/*
 * A PostgreSQL text[] literal of the n strings get(b, i), but for the
 * agents in skip (NULL: none), and in *ret_count (may be NULL) how many it
 * holds. NULL when out of memory; free with free().
 */
static char *array_literal(const struct mentor_batch *b, size_t n,
			   const char *(*get)(const struct mentor_batch *, size_t, size_t *),
			   const struct mentor_known_agents *skip, size_t *ret_count)
{
	struct text_buf t = { 0 };
	size_t count = 0;

	buf_append(&t, "{", 1);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *str = get(b, i, &len);

		if (skip && mentor_known_agents_has(skip, str, len))
			continue;
		buf_array_text(&t, count++ == 0, str, len);
	}
	buf_append(&t, "}", 1);
	if (t.failed) {
		free(t.data);
		return NULL;
	}
	if (ret_count)
		*ret_count = count;
	return t.data;
}

static int copy_stage(struct mentor_store *s, const struct mentor_batch *b, enum mentor_stage stage,
		      struct mentor_error *err)
{
	size_t len;
	const char *text = mentor_batch_copy_text(b, stage, &len);

	return copy_text(s, copy_sql[stage], text, len, err);
}

/*
 * Inserts the staged score events, then appends the daily aggregates of
 * those actually inserted (a repeat of an event stored by an earlier batch
 * adds nothing) and the metrics they show. Sets *daily for the caller.
 */
/* *ret_stored: per staged event, 0 if score_events already has it, else 1; NULL if it has none. */
static int find_repeats(struct mentor_store *s, const struct mentor_batch *b, unsigned char **ret_stored,
			struct mentor_error *err)
{
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS);
	char *array = array_literal(b, n, mentor_batch_event_id, NULL, NULL);
	unsigned char *stored = NULL;
	PGresult *res = NULL;
	int rc;

	*ret_stored = NULL;
	if (!array)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	rc = mentor_pg_exec(s->conn, find_repeats_sql, 1, (const char *const *)&array, "find repeated events", &res, err);
	free(array);
	if (rc != MENTOR_OK)
		return rc;
	if (PQntuples(res) > 0) {
		stored = malloc(n);
		if (!stored) {
			PQclear(res);
			return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		}
		memset(stored, 1, n);
		for (int i = 0; i < PQntuples(res); i++) {
			long ev = mentor_batch_event_find(b, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));

			if (ev >= 0)
				stored[ev] = 0;
		}
	}
	PQclear(res);
	*ret_stored = stored;
	return MENTOR_OK;
}

/* COPYs the staged score events into score_events, leaving out those with stored[i] == 0. */
static int copy_events(struct mentor_store *s, const struct mentor_batch *b, const unsigned char *stored,
		       struct mentor_error *err)
{
	const char *sql = copy_sql[MENTOR_STAGE_EVENTS];
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS), start = 0;
	const char *text = mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &(size_t){ 0 });
	int rc = mentor_pg_copy_begin(s->conn, sql, err), end_rc;

	if (rc != MENTOR_OK)
		return rc;
	for (size_t i = 0; rc == MENTOR_OK && i <= n; i++) {
		if (i < n && (!stored || stored[i]))
			continue;
		rc = mentor_pg_copy_put(s->conn, sql, text + start, mentor_batch_event_row(b, i) - start, err);
		if (i < n)
			start = mentor_batch_event_row(b, i + 1);
	}
	end_rc = mentor_pg_copy_end(s->conn, sql, rc == MENTOR_OK ? err : &(struct mentor_error){ 0 });
	return rc != MENTOR_OK ? rc : end_rc;
}

static const char stream_begin_sql[] = "BEGIN; SAVEPOINT copy_events";

/*
 * Back to blocking mode. libpq refuses the switch (-1, with no message) while
 * its output buffer holds data the socket did not take, so that data is sent
 * first, reading what the server sends meanwhile as libpq asks. 0 or -1.
 */
static int stream_set_blocking(struct mentor_store *s)
{
	int flush;

	while ((flush = PQflush(s->conn)) == 1) {
		struct pollfd p = { .fd = PQsocket(s->conn), .events = POLLIN | POLLOUT };

		if (poll(&p, 1, -1) < 0 || ((p.revents & POLLIN) && !PQconsumeInput(s->conn)))
			return -1;
	}
	return flush == 0 ? PQsetnonblocking(s->conn, 0) : -1;
}

/* Gives the stream up: its transaction is rolled back, and the commit writes the batch the ordinary way. */
static void stream_fail(struct mentor_store *s)
{
	PGresult *res;

	if (s->stream != STREAM_COPYING)
		return;
	stream_set_blocking(s);
	PQputCopyEnd(s->conn, "batch written again");
	while ((res = PQgetResult(s->conn)) != NULL)
		PQclear(res);
	rollback(s);
	s->stream = STREAM_FAILED;
}

/* Sends what is staged and not sent yet, while the socket takes it, once STREAM_MIN_BYTES wait. */
static void stream_push(struct mentor_store *s, const struct mentor_batch *b)
{
	size_t len;
	const char *text = mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len);

	if (len < s->stream_sent) {  /* not the batch this stream began with */
		stream_fail(s);
		return;
	}
	while (len - s->stream_sent >= STREAM_MIN_BYTES) {
		size_t rest = len - s->stream_sent;
		size_t piece = rest > MENTOR_PG_COPY_PIECE_BYTES ? MENTOR_PG_COPY_PIECE_BYTES : rest;
		int put = PQputCopyData(s->conn, text + s->stream_sent, (int)piece), flush;

		if (put < 0) {
			stream_fail(s);
			return;
		}
		if (put == 0)  /* libpq's buffer is full (nonblocking): the next call goes on */
			return;
		s->stream_sent += piece;
		flush = PQflush(s->conn);
		if (flush < 0) {
			stream_fail(s);
			return;
		}
		if (flush > 0)  /* the socket is full: PostgreSQL has work; the next call goes on */
			return;
	}
}

/* The batch's transaction, its savepoint and the COPY, in nonblocking mode; false (and STREAM_FAILED) if not. */
static bool stream_begin(struct mentor_store *s)
{
	PGresult *res = PQexec(s->conn, stream_begin_sql);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	PQclear(res);
	if (ok) {
		res = PQexec(s->conn, copy_sql[MENTOR_STAGE_EVENTS]);
		ok = PQresultStatus(res) == PGRES_COPY_IN;
		PQclear(res);
	}
	if (!ok) {
		rollback(s);
		s->stream = STREAM_FAILED;
		return false;
	}
	s->stream = STREAM_COPYING;
	s->stream_sent = 0;
	if (PQsetnonblocking(s->conn, 1) == 0)
		return true;
	stream_fail(s);
	return false;
}

void mentor_store_stream_events(struct mentor_store *s, const struct mentor_batch *b)
{
	if (s->stream == STREAM_FAILED || mentor_batch_rows(b, MENTOR_STAGE_EVENTS) == 0)
		return;
	if (s->stream == STREAM_NONE) {
		size_t len;

		mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len);
		if (len < s->stream_tried)  /* a new batch */
			s->stream_tried = 0;
		/* Tried again once another piece is staged: looking for the last commit's end costs a read. */
		if (len - s->stream_tried < STREAM_MIN_BYTES)
			return;
		s->stream_tried = len;
		/* The last batch's commit must be over; a failed one is settled (this batch dropped) by the caller. */
		if (!commit_collect(s, false) || s->commit_rc != MENTOR_OK || !stream_begin(s))
			return;
	}
	stream_push(s, b);
}

void mentor_store_stream_drop(struct mentor_store *s)
{
	stream_fail(s);
	s->stream = STREAM_NONE;
}

/* The commit's end of the stream: the rest of the events, and the COPY's result. */
static int stream_end(struct mentor_store *s, const struct mentor_batch *b, struct mentor_error *err)
{
	const char *sql = copy_sql[MENTOR_STAGE_EVENTS];
	size_t len;
	const char *text = mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len);
	int rc = MENTOR_OK;

	s->stream = STREAM_NONE;
	if (len < s->stream_sent)
		rc = mentor_error_set(err, MENTOR_ERR_DB, "the batch streamed is not the batch committed");
	else if (stream_set_blocking(s) != 0)
		rc = mentor_pg_error(s->conn, NULL, sql, err);
	if (rc == MENTOR_OK)
		rc = mentor_pg_copy_put(s->conn, sql, text + s->stream_sent, len - s->stream_sent, err);
	if (rc == MENTOR_OK)
		return mentor_pg_copy_end(s->conn, sql, err);
	mentor_pg_copy_end(s->conn, sql, &(struct mentor_error){ 0 });
	return rc;
}

/* A stream's end on a thread of its own (stream_finish_start), while the caller works on the batch in memory. */
struct stream_finisher {
	struct mentor_store *s;
	const struct mentor_batch *b;
	pthread_t thread;
	bool started;
	int rc;
	struct mentor_error err;
};

static void *stream_finish(void *arg)
{
	struct stream_finisher *f = arg;

	f->rc = stream_end(f->s, f->b, &f->err);
	return NULL;
}

/* Starts ending the stream on a thread if one is copying (else, or if no thread starts, insert_events ends it). */
static void stream_finish_start(struct stream_finisher *f)
{
	if (f->s->stream == STREAM_COPYING)
		f->started = pthread_create(&f->thread, NULL, stream_finish, f) == 0;
}

/* Waits for f's thread: the stream's end, MENTOR_OK or its error in *err. */
static int stream_finish_join(struct stream_finisher *f, struct mentor_error *err)
{
	pthread_join(f->thread, NULL);
	f->started = false;
	if (f->rc != MENTOR_OK)
		*err = f->err;
	return f->rc;
}

/*
 * Ends the events' COPY: the stream's, ended by f if it started, or one that
 * begins here. Score events are copied straight into score_events (their ids
 * are unique within a batch: it keeps the first copy). If some were stored
 * before (a repeat across batches: rare), the COPY fails on the primary key;
 * it is then rolled back to its savepoint and redone without the events
 * find_repeats finds. *ret_stored as find_repeats sets it.
 */
static int insert_events(struct mentor_store *s, const struct mentor_batch *b, struct stream_finisher *f,
			 unsigned char **ret_stored, struct mentor_error *err)
{
	struct mentor_error copy_err;
	int rc;

	*ret_stored = NULL;
	if (f->started)
		rc = stream_finish_join(f, &copy_err);
	else if (s->stream == STREAM_COPYING)
		rc = stream_end(s, b, &copy_err);
	else {
		rc = exec_command(s, "SAVEPOINT copy_events", "savepoint", &copy_err);
		if (rc == MENTOR_OK)
			rc = copy_events(s, b, NULL, &copy_err);
	}
	if (rc == MENTOR_ERR_DB && strcmp(copy_err.sqlstate, "23505") == 0) {  /* unique_violation */
		rc = exec_command(s, "ROLLBACK TO SAVEPOINT copy_events", "rollback to savepoint", err);
		if (rc == MENTOR_OK)
			rc = find_repeats(s, b, ret_stored, err);
		if (rc == MENTOR_OK)
			rc = copy_events(s, b, *ret_stored, err);
	} else if (rc != MENTOR_OK && err) {
		*err = copy_err;
	}
	return rc;
}

/*
 * What needs no connection, while the stream's end runs on f's thread: the
 * daily parts and the hook's early work, both taking every event for new.
 */
static int work_early(const struct mentor_batch *b, const struct mentor_event_rules *rules,
		      const struct mentor_store_batch_hook *hook, struct mentor_daily *daily, struct mentor_error *err)
{
	int rc = mentor_batch_daily(b, rules, NULL, daily, err);

	if (rc == MENTOR_OK && hook && hook->early)
		rc = hook->early(hook->ctx, err);
	return rc;
}

static int write_events(struct mentor_store *s, const struct mentor_batch *b, const struct mentor_event_rules *rules,
			const struct mentor_store_batch_hook *hook, struct mentor_daily *daily,
			unsigned char **ret_stored, struct mentor_error *err)
{
	struct stream_finisher f = { .s = s, .b = b };
	unsigned char *stored = NULL;
	size_t unknown = 0;
	char *array;
	int rc;

	stream_finish_start(&f);
	rc = work_early(b, rules, hook, daily, err);
	if (rc != MENTOR_OK) {
		if (f.started)
			stream_finish_join(&f, &(struct mentor_error){ 0 });
		stream_fail(s);  /* a stream no thread ended: the rollback needs the connection out of COPY */
		return rc;
	}
	rc = insert_events(s, b, &f, &stored, err);
	if (rc != MENTOR_OK) {
		free(stored);
		return rc;
	}
	*ret_stored = stored;
	/* Some events were stored before: the parts count only the new ones. */
	if (stored) {
		mentor_daily_free(daily);
		*daily = (struct mentor_daily){ 0 };
		if ((rc = mentor_batch_daily(b, rules, stored, daily, err)) != MENTOR_OK)
			return rc;
	}
	array = array_literal(b, mentor_batch_agent_count(b), mentor_batch_agent, &s->known, &unknown);
	if (!array)
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	else if (unknown > 0)
		rc = mentor_pg_exec(s->conn, insert_unknown_agents_sql, 1, (const char *const *)&array, "insert unknown agents",
				 NULL, err);
	free(array);
	if (rc == MENTOR_OK && daily->parts_len > 0)
		rc = copy_text(s, copy_parts_sql, daily->parts, daily->parts_len, err);
	if (rc == MENTOR_OK && daily->metrics_len > 0) {
		rc = copy_text(s, "COPY stage_metrics FROM STDIN", daily->metrics, daily->metrics_len, err);
		if (rc == MENTOR_OK)
			rc = exec_command(s, insert_metrics_sql, "insert metrics", err);
	}
	return rc;
}

static int fence_offsets(struct mentor_store *s, const char *group, const struct mentor_offset_update *u,
			 size_t n, struct mentor_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char part[16], next[24], expected[24], event_us[24];
		const char *params[] = { group, u[i].topic, part, next, expected,
					 u[i].max_event_us == MENTOR_NO_EVENT_TIME ? NULL : event_us };
		PGresult *res = NULL;
		int rc;

		snprintf(part, sizeof(part), "%" PRId32, u[i].partition);
		snprintf(next, sizeof(next), "%" PRId64, u[i].next);
		snprintf(expected, sizeof(expected), "%" PRId64, u[i].expected_next);
		snprintf(event_us, sizeof(event_us), "%" PRId64, u[i].max_event_us);
		rc = mentor_pg_exec(s->conn, fence_offset_sql, 6, params, "store offset", &res, err);
		if (rc != MENTOR_OK)
			return rc;
		rc = strcmp(PQcmdTuples(res), "1") == 0 ? MENTOR_OK : MENTOR_ERR_FENCED;
		PQclear(res);
		if (rc != MENTOR_OK)
			return mentor_error_set(err, rc, "%s[%" PRId32 "]: stored offset is no longer %" PRId64
						" (another instance owns the partition)",
						u[i].topic, u[i].partition, u[i].expected_next);
	}
	return MENTOR_OK;
}

/*
 * Once the COMMIT is sent: remembers its agents (forgotten if it fails,
 * commit_collect), and compacts if due (a compaction merges only committed
 * rows, so this batch's parts may wait for the next one).
 */
static void committed(struct mentor_store *s, const struct mentor_batch *b, const struct mentor_daily *daily)
{
	for (size_t i = 0; i < mentor_batch_agent_count(b); i++) {
		size_t len;
		const char *agent = mentor_batch_agent(b, i, &len);

		mentor_known_agents_add(&s->known, agent, len);
	}
	mentor_compaction_note(&s->compaction, daily);
}

/* Events first: a COPY the stream began must end before any other statement. */
static int write_batch(struct mentor_store *s, const struct mentor_batch *b, const struct mentor_event_rules *rules,
		       const struct mentor_store_batch_hook *hook, struct mentor_daily *daily,
		       unsigned char **ret_stored, struct mentor_error *err)
{
	int rc = MENTOR_OK;

	if (mentor_batch_rows(b, MENTOR_STAGE_EVENTS) > 0)
		rc = write_events(s, b, rules, hook, daily, ret_stored, err);
	else if (hook && hook->early)
		rc = hook->early(hook->ctx, err);
	for (int st = 0; rc == MENTOR_OK && st < MENTOR_STAGE_COUNT; st++)
		if (st != MENTOR_STAGE_EVENTS && mentor_batch_rows(b, st) > 0)
			rc = copy_stage(s, b, st, err);
	if (rc == MENTOR_OK && mentor_batch_rows(b, MENTOR_STAGE_ROSTER) > 0) {
		rc = exec_command(s, upsert_roster_sql, "upsert roster", err);
		if (rc == MENTOR_OK)
			rc = exec_command(s, insert_team_leads_sql, "insert team leads", err);
	}
	if (rc == MENTOR_OK && mentor_batch_rows(b, MENTOR_STAGE_REJECTS) > 0)
		rc = exec_command(s, insert_rejects_sql, "insert rejected events", err);
	return rc;
}

int mentor_store_commit_batch(struct mentor_store *s, const struct mentor_batch *b,
			      const struct mentor_event_rules *rules, const char *group,
			      const struct mentor_offset_update *updates, size_t n_updates,
			      const struct mentor_store_batch_hook *hook, struct mentor_error *err)
{
	struct mentor_daily daily = { 0 };
	unsigned char *stored = NULL;
	int rc = MENTOR_OK;

	commit_collect(s, true);
	s->commit_began_us = monotonic_us();
	if (s->commit_rc != MENTOR_OK) {
		s->stream = STREAM_NONE;
		return mentor_error_set(err, MENTOR_ERR_DB, "the last batch's commit failed, not settled");
	}
	/* A failed stream was rolled back: this commit writes the batch from the start. */
	if (s->stream == STREAM_FAILED)
		s->stream = STREAM_NONE;
	if (s->stream == STREAM_NONE)
		rc = exec_command(s, "BEGIN", "begin batch", err);
	if (rc != MENTOR_OK)
		return rc;
	rc = write_batch(s, b, rules, hook, &daily, &stored, err);
	if (rc == MENTOR_OK)
		rc = fence_offsets(s, group, updates, n_updates, err);
	if (rc == MENTOR_OK && hook && hook->in_transaction)
		rc = hook->in_transaction(hook->ctx, s, stored, err);
	free(stored);
	if (rc == MENTOR_OK)
		rc = commit_send(s, err);
	if (rc != MENTOR_OK)
		rollback(s);
	else
		committed(s, b, &daily);
	mentor_daily_free(&daily);
	return rc;
}

PGconn *mentor_store_conn(struct mentor_store *s)
{
	return s->conn;
}

int mentor_store_exec(struct mentor_store *s, const char *sql, int n, const char *const *values, const char *what,
		      PGresult **ret_res, struct mentor_error *err)
{
	take_connection(s);
	return mentor_pg_exec(s->conn, sql, n, values, what, ret_res, err);
}

int mentor_store_copy(struct mentor_store *s, const char *sql, const char *text, size_t len,
		      struct mentor_error *err)
{
	take_connection(s);
	return copy_text(s, sql, text, len, err);
}

int mentor_store_begin(struct mentor_store *s, struct mentor_error *err)
{
	take_connection(s);
	return exec_command(s, "BEGIN", "begin", err);
}

int mentor_store_end(struct mentor_store *s, int rc, struct mentor_error *err)
{
	if (rc == MENTOR_OK && s->deferred.len > 0)
		rc = exec_command(s, s->deferred.data, "deferred statements", err);
	deferred_clear(s);
	if (rc == MENTOR_OK)
		rc = exec_command(s, "COMMIT", "commit", err);
	if (rc != MENTOR_OK)
		rollback(s);
	return rc;
}
