/* The COPY of a batch's score events, streamed while staged (event_stream.h). */
#include "event_stream.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* The stream sends the staged events once at least this much waits. */
#define STREAM_MIN_BYTES 65536

/* Score events go straight into score_events, without their repeats (batch_commit.c). */
static const char copy_events_sql[] =
	"COPY score_events (event_id, kind, agent_id, interaction_id, channel,"
	" occurred_at, received_at, csat, nps, overall, scores, fatal, topic, partition,"
	" kafka_offset, decide_at, program) FROM STDIN";

static const char stream_begin_sql[] = "BEGIN; SAVEPOINT copy_events";

bool mentor_event_stream_copying(const struct mentor_event_stream *st)
{
	return st->state == MENTOR_STREAM_COPYING;
}

void mentor_event_stream_reset(struct mentor_event_stream *st)
{
	st->state = MENTOR_STREAM_NONE;
}

void mentor_event_stream_lost(struct mentor_event_stream *st)
{
	if (st->state != MENTOR_STREAM_NONE)
		st->state = MENTOR_STREAM_FAILED;
}

/*
 * Back to blocking mode. libpq refuses the switch (-1, with no message) while
 * its output buffer holds data the socket did not take, so that data is sent
 * first, reading what the server sends meanwhile as libpq asks. 0 or -1.
 */
static int set_blocking(PGconn *conn)
{
	int flush;

	while ((flush = PQflush(conn)) == 1) {
		struct pollfd p = { .fd = PQsocket(conn), .events = POLLIN | POLLOUT };

		if (poll(&p, 1, -1) < 0 || ((p.revents & POLLIN) && !PQconsumeInput(conn)))
			return -1;
	}
	return flush == 0 ? PQsetnonblocking(conn, 0) : -1;
}

void mentor_event_stream_abort(struct mentor_event_stream *st, PGconn *conn)
{
	PGresult *res;

	if (st->state != MENTOR_STREAM_COPYING)
		return;
	set_blocking(conn);
	PQputCopyEnd(conn, "batch written again");
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	PQclear(PQexec(conn, "ROLLBACK"));
	st->state = MENTOR_STREAM_FAILED;
}

bool mentor_event_stream_wants_begin(struct mentor_event_stream *st, const struct mentor_batch *b)
{
	size_t len;

	if (st->state != MENTOR_STREAM_NONE || mentor_batch_rows(b, MENTOR_STAGE_EVENTS) == 0)
		return false;
	mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len);
	if (len < st->tried)  /* a new batch */
		st->tried = 0;
	if (len - st->tried < STREAM_MIN_BYTES)
		return false;
	st->tried = len;
	return true;
}

bool mentor_event_stream_begin(struct mentor_event_stream *st, PGconn *conn)
{
	PGresult *res = PQexec(conn, stream_begin_sql);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	PQclear(res);
	if (ok) {
		res = PQexec(conn, copy_events_sql);
		ok = PQresultStatus(res) == PGRES_COPY_IN;
		PQclear(res);
	}
	if (!ok) {
		PQclear(PQexec(conn, "ROLLBACK"));
		st->state = MENTOR_STREAM_FAILED;
		return false;
	}
	st->state = MENTOR_STREAM_COPYING;
	st->sent = st->scan = 0;
	st->skipping = false;
	if (PQsetnonblocking(conn, 1) == 0)
		return true;
	mentor_event_stream_abort(st, conn);
	return false;
}

bool mentor_event_stream_suspect(const struct mentor_event_stream *st, const struct mentor_batch *b, size_t i)
{
	size_t len;
	const char *id;

	if (!st->recent)
		return false;
	id = mentor_batch_event_id(b, i, &len);
	return mentor_recent_events_has(st->recent, id, len);
}

/*
 * How far the text may be sent from st->sent on: to the row of the next
 * suspect (st->skipping, its row in skip_from..skip_to), or to its end
 * (len). Rows are staged whole, so the last row ends at len.
 */
static size_t send_limit(struct mentor_event_stream *st, const struct mentor_batch *b, size_t len)
{
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS);

	while (!st->skipping && st->scan < n) {
		size_t i = st->scan++;

		if (mentor_event_stream_suspect(st, b, i)) {
			st->skip_from = mentor_batch_event_row(b, i);
			st->skip_to = i + 1 < n ? mentor_batch_event_row(b, i + 1) : len;
			st->skipping = true;
		}
	}
	return st->skipping ? st->skip_from : len;
}

/* At the suspect's row: it is kept out. True if so. */
static bool keep_out(struct mentor_event_stream *st, size_t limit)
{
	if (!st->skipping || st->sent != limit)
		return false;
	st->sent = st->skip_to;
	st->skipping = false;
	return true;
}

void mentor_event_stream_push(struct mentor_event_stream *st, PGconn *conn, const struct mentor_batch *b)
{
	size_t len;
	const char *text;

	if (st->state != MENTOR_STREAM_COPYING || mentor_batch_rows(b, MENTOR_STAGE_EVENTS) == 0)
		return;
	text = mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len);
	if (len < st->sent) {  /* not the batch this stream began with */
		mentor_event_stream_abort(st, conn);
		return;
	}
	for (;;) {
		size_t limit = send_limit(st, b, len), rest, piece;
		int put, flush;

		if (keep_out(st, limit))
			continue;
		rest = limit - st->sent;
		/* Up to a suspect, whatever is there; else once 64 KiB wait. */
		if (rest == 0 || (!st->skipping && rest < STREAM_MIN_BYTES))
			return;
		piece = rest > MENTOR_PG_COPY_PIECE_BYTES ? MENTOR_PG_COPY_PIECE_BYTES : rest;
		put = PQputCopyData(conn, text + st->sent, (int)piece);

		if (put < 0) {
			mentor_event_stream_abort(st, conn);
			return;
		}
		if (put == 0)  /* libpq's buffer is full (nonblocking): the next call goes on */
			return;
		st->sent += piece;
		flush = PQflush(conn);
		if (flush < 0) {
			mentor_event_stream_abort(st, conn);
			return;
		}
		if (flush > 0)  /* the socket is full: PostgreSQL has work; the next call goes on */
			return;
	}
}

/* The commit's end of the stream: the rest of the events, and the COPY's result. */
static int stream_end(struct mentor_event_stream *st, PGconn *conn, const struct mentor_batch *b,
		      struct mentor_error *err)
{
	size_t len;
	const char *text = mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len);
	int rc = MENTOR_OK;

	st->state = MENTOR_STREAM_NONE;
	if (len < st->sent)
		rc = mentor_error_set(err, MENTOR_ERR_DB, "the batch streamed is not the batch committed");
	else if (set_blocking(conn) != 0)
		rc = mentor_pg_error(conn, NULL, copy_events_sql, err);
	while (rc == MENTOR_OK) {
		size_t limit = send_limit(st, b, len);

		if (keep_out(st, limit))
			continue;
		if (limit == st->sent)
			break;
		rc = mentor_pg_copy_put(conn, copy_events_sql, text + st->sent, limit - st->sent, err);
		st->sent = limit;
	}
	if (rc == MENTOR_OK)
		return mentor_pg_copy_end(conn, copy_events_sql, err);
	mentor_pg_copy_end(conn, copy_events_sql, &(struct mentor_error){ 0 });
	return rc;
}

static void *end_thread(void *arg)
{
	struct mentor_event_stream *st = arg;

	st->end_rc = stream_end(st, st->end_conn, st->end_batch, &st->end_err);
	return NULL;
}

void mentor_event_stream_end_start(struct mentor_event_stream *st, PGconn *conn, const struct mentor_batch *b)
{
	if (st->state != MENTOR_STREAM_COPYING)
		return;
	st->end_conn = conn;
	st->end_batch = b;
	st->ending = pthread_create(&st->thread, NULL, end_thread, st) == 0;
}

/* Waits for the end's thread: MENTOR_OK or its error in *err. */
static int end_join(struct mentor_event_stream *st, struct mentor_error *err)
{
	pthread_join(st->thread, NULL);
	st->ending = false;
	if (st->end_rc != MENTOR_OK)
		*err = st->end_err;
	return st->end_rc;
}

int mentor_event_stream_end(struct mentor_event_stream *st, PGconn *conn, const struct mentor_batch *b,
			    struct mentor_error *err)
{
	unsigned char *mask = NULL;
	size_t n;
	int rc;

	if (st->ending)
		return end_join(st, err);
	if (st->state == MENTOR_STREAM_COPYING)
		return stream_end(st, conn, b, err);
	n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS);
	for (size_t i = 0; i < n && !mask; i++)
		if (mentor_event_stream_suspect(st, b, i) && !(mask = malloc(n)))
			return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	for (size_t i = 0; mask && i < n; i++)
		mask[i] = !mentor_event_stream_suspect(st, b, i);
	rc = mentor_pg_command(conn, "SAVEPOINT copy_events", "savepoint", err);
	if (rc == MENTOR_OK)
		rc = mentor_event_stream_copy(conn, b, mask, err);
	free(mask);
	return rc;
}

void mentor_event_stream_end_drop(struct mentor_event_stream *st, PGconn *conn)
{
	if (st->ending)
		end_join(st, &(struct mentor_error){ 0 });
	mentor_event_stream_abort(st, conn);
}

int mentor_event_stream_copy(PGconn *conn, const struct mentor_batch *b, const unsigned char *stored,
			     struct mentor_error *err)
{
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS), start = 0;
	const char *text = mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &(size_t){ 0 });
	int rc = mentor_pg_copy_begin(conn, copy_events_sql, err), end_rc;

	if (rc != MENTOR_OK)
		return rc;
	for (size_t i = 0; rc == MENTOR_OK && i <= n; i++) {
		if (i < n && (!stored || stored[i]))
			continue;
		rc = mentor_pg_copy_put(conn, copy_events_sql, text + start, mentor_batch_event_row(b, i) - start, err);
		if (i < n)
			start = mentor_batch_event_row(b, i + 1);
	}
	end_rc = mentor_pg_copy_end(conn, copy_events_sql, rc == MENTOR_OK ? err : &(struct mentor_error){ 0 });
	return rc != MENTOR_OK ? rc : end_rc;
}
