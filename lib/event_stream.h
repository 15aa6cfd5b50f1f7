/*
 * A batch's score events COPYed into score_events, internal to the store.
 *
 * While the batch is staged, the stream sends its events as they come
 * (begin, then push), so that PostgreSQL stores them while mentord parses
 * the next messages: the batch's transaction and the COPY are open between
 * calls, in nonblocking mode. The batch commit ends the COPY (end_start and
 * end), on a thread of its own while the caller works on the batch in
 * memory, or COPYs the whole batch there if no stream is open. Every events
 * COPY follows the savepoint copy_events, which the caller rolls back to
 * when the COPY fails on a repeat of an event stored before.
 *
 * Best effort while staged: on any failure, the stream is rolled back
 * (FAILED: given up for this batch) and the commit writes the batch the
 * ordinary way. A stream allocates nothing; the caller owns the connection and
 * says when it takes it for anything else (abort) or replaced it (lost).
 * No logging, no globals.
 */
#ifndef MENTOR_EVENT_STREAM_H
#define MENTOR_EVENT_STREAM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "mentor/batch.h"
#include "mentor/error.h"
#include "pg.h"
#include "recent_events.h"

enum mentor_event_stream_state {
	MENTOR_STREAM_NONE,     /* no stream for the open batch (yet) */
	MENTOR_STREAM_COPYING,  /* the batch's transaction and COPY are open */
	MENTOR_STREAM_FAILED,   /* given up for this batch (rolled back) */
};

/* All zero: no stream. */
struct mentor_event_stream {
	enum mentor_event_stream_state state;
	/*
	 * Events whose id was stored lately (suspects: repeats, mostly) are kept
	 * out of the COPY; the commit looks them up (batch_commit.c). Set by the
	 * store; NULL: none is a suspect.
	 */
	const struct mentor_recent_events *recent;
	size_t sent;    /* bytes of the batch's events text sent or kept out */
	size_t scan;    /* events looked at for suspects */
	bool skipping;  /* a suspect's row [skip_from, skip_to) is the next to keep out */
	size_t skip_from, skip_to;
	size_t tried;   /* bytes of it staged when the stream last tried to begin */
	/* The end on a thread (mentor_event_stream_end_start) and its outcome. */
	pthread_t thread;
	bool ending;    /* the thread was started and is not joined yet */
	PGconn *end_conn;
	const struct mentor_batch *end_batch;
	int end_rc;
	struct mentor_error end_err;
};

/*
 * Whether a stream should begin now for b: none is open or given up, b has
 * score events, and 64 KiB more of them are staged than at the last try
 * (which this counts as a try: looking for the last commit's end costs the
 * caller a read).
 */
bool mentor_event_stream_wants_begin(struct mentor_event_stream *st, const struct mentor_batch *b);

/*
 * Begins the batch's transaction, the savepoint and the COPY, and puts conn
 * in nonblocking mode; conn must have no transaction open. False (FAILED,
 * rolled back) if that fails.
 */
bool mentor_event_stream_begin(struct mentor_event_stream *st, PGconn *conn);

/*
 * Sends what b has staged since, while the socket takes it, once 64 KiB
 * wait (in pieces of 64 KiB or more). Does nothing unless the stream is
 * copying; a failure gives it up.
 */
void mentor_event_stream_push(struct mentor_event_stream *st, PGconn *conn, const struct mentor_batch *b);

/*
 * Gives a copying stream up before conn is used for anything else: the COPY
 * ends with an error and its transaction is rolled back (FAILED).
 */
void mentor_event_stream_abort(struct mentor_event_stream *st, PGconn *conn);

/* The connection was closed: a stream begun on it is given up (FAILED). */
void mentor_event_stream_lost(struct mentor_event_stream *st);

/* A new batch comes: none is streamed yet. The stream must not be copying (end it or abort it first). */
void mentor_event_stream_reset(struct mentor_event_stream *st);

bool mentor_event_stream_copying(const struct mentor_event_stream *st);

/*
 * Starts ending a copying stream on a thread: it sends the rest of b's
 * events and reads the COPY's result, while the caller works without conn
 * until mentor_event_stream_end or mentor_event_stream_end_drop. Else, or
 * if no thread starts, does nothing (mentor_event_stream_end ends it).
 */
void mentor_event_stream_end_start(struct mentor_event_stream *st, PGconn *conn, const struct mentor_batch *b);

/*
 * b's score events but the suspects in score_events, in the open
 * transaction: the stream's end (its thread's, or here), or, if none is
 * copying, the savepoint copy_events and a COPY of them. The stream is then
 * over (NONE).
 * MENTOR_OK, or the COPY's MENTOR_ERR_DB (err->sqlstate 23505 when an event
 * was stored before: a repeat, see mentor_event_stream_copy).
 */
int mentor_event_stream_end(struct mentor_event_stream *st, PGconn *conn, const struct mentor_batch *b,
			    struct mentor_error *err);

/*
 * The batch's commit fails before its events went in: waits for an end
 * begun on a thread (its outcome dropped) and gives up a stream still
 * copying, so that conn can roll back.
 */
void mentor_event_stream_end_drop(struct mentor_event_stream *st, PGconn *conn);

/* Whether staged score event i is a suspect, which the COPY leaves out: its id was stored lately. */
bool mentor_event_stream_suspect(const struct mentor_event_stream *st, const struct mentor_batch *b, size_t i);

/*
 * COPYs b's score events into score_events, leaving out those with
 * stored[i] == 0 (stored NULL: none). MENTOR_OK or MENTOR_ERR_DB.
 */
int mentor_event_stream_copy(PGconn *conn, const struct mentor_batch *b, const unsigned char *stored,
			     struct mentor_error *err);

#endif
