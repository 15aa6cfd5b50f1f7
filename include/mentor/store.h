/*
 * The PostgreSQL store: a connection (and one for compactions), the schema's
 * migrations, the consumer offsets, and batch commits that write a batch's
 * rows and its partitions' next offsets in one transaction, so a crash
 * neither loses nor doubles data. No libpq type: what lib/ modules use at
 * that level is in lib/store_int.h.
 */
#ifndef MENTOR_STORE_H
#define MENTOR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentor/batch.h"
#include "mentor/error.h"
#include "mentor/events.h"

/* Stored next offset of a partition that is assigned but has consumed nothing yet. */
#define MENTOR_OFFSET_NONE (-1)

struct mentor_store;

/*
 * What a batch commit runs besides storing the batch (ctx is theirs).
 *
 * early (may be NULL) runs before the batch's score events are inserted,
 * with no use of the store: while a stream's events are still going in, a
 * thread of the store's own sends the rest and waits for PostgreSQL, so
 * the caller's work on the batch in memory overlaps theirs. suspects[i]
 * nonzero says staged score event i may have been stored before (its id
 * was stored lately: a producer's retry, mostly); NULL: none may. It must
 * take every other event for new; in_transaction learns otherwise from
 * stored.
 *
 * in_transaction runs inside the batch's transaction after its rows and
 * offsets are written, before COMMIT: stored[i] says whether staged score
 * event i was new (NULL: all were).
 *
 * A non-OK return of either rolls the batch back and is returned.
 */
struct mentor_store_batch_hook {
	int (*early)(void *ctx, const unsigned char *suspects, struct mentor_error *err);
	int (*in_transaction)(void *ctx, struct mentor_store *store, const unsigned char *stored,
			      struct mentor_error *err);
	void *ctx;
};

/* One partition's offset move in a batch commit: fenced on expected_next. */
struct mentor_offset_update {
	const char *topic;
	int32_t partition;
	int64_t expected_next;  /* what this instance last stored (or loaded) */
	int64_t next;           /* last offset in the batch + 1 */
	int64_t max_event_us;   /* newest event time the batch read from it, or MENTOR_NO_EVENT_TIME */
};

/*
 * Connects with a libpq conninfo and uses `schema` (created if missing) for
 * every table. Returns MENTOR_OK and *ret_store (free with mentor_store_close),
 * or MENTOR_ERR_DB / MENTOR_ERR_NOMEM.
 */
int mentor_store_open(const char *conninfo, const char *schema, struct mentor_store **ret_store,
		      struct mentor_error *err);

/*
 * Where PostgreSQL's notices and warnings about the store's statements go,
 * on every connection it has or opens: fn(ctx, message), from whichever
 * thread uses the connection; until set, they are dropped (libpq would
 * print them on stderr).
 */
typedef void (*mentor_store_notice_fn)(void *ctx, const char *message);
void mentor_store_set_notices(struct mentor_store *store, mentor_store_notice_fn fn, void *ctx);

/* Closes the connection and frees the store; safe on NULL. */
void mentor_store_close(struct mentor_store *store);

/* Drops the connection and opens a new one with the same settings. MENTOR_OK or MENTOR_ERR_DB. */
int mentor_store_reconnect(struct mentor_store *store, struct mentor_error *err);

/*
 * Applies the migrations not yet recorded in schema_migrations, each in its
 * own transaction under an advisory lock (instances may start together).
 * Sets *ret_applied to how many ran. MENTOR_OK or MENTOR_ERR_DB.
 */
int mentor_store_migrate(struct mentor_store *store, int *ret_applied, struct mentor_error *err);

/*
 * Reads a partition's stored next offset for a consumer group, creating the
 * row with MENTOR_OFFSET_NONE if the partition was never assigned before,
 * and the newest event time stored from it (MENTOR_NO_EVENT_TIME if none).
 * MENTOR_OK or MENTOR_ERR_DB.
 */
int mentor_store_offset_load(struct mentor_store *store, const char *group, const char *topic,
			     int32_t partition, int64_t *ret_next, int64_t *ret_max_event_us, struct mentor_error *err);

/*
 * Streams the batch's staged score events into score_events while the batch
 * is still open: once 64 KiB are staged and the last batch's commit is
 * over, a call begins the batch's transaction and a COPY; it and later ones
 * send what was staged since (in pieces of 64 KiB or more), so PostgreSQL
 * works while mentord parses. Best effort, with no error to
 * report: on any failure the stream is rolled back and commit_batch writes
 * the batch from the start. Any other call on the store that talks to
 * PostgreSQL gives the stream up the same way (a rebalance's offset load, a
 * reconnect).
 */
void mentor_store_stream_events(struct mentor_store *store, const struct mentor_batch *batch);

/* The batch being streamed was dropped, not committed: rolls its transaction back. */
void mentor_store_stream_drop(struct mentor_store *store);

/*
 * Whether the store may refuse score event ev when it stores its batch: ev
 * names an agent or a behavior the store does not know to be stored. Its
 * message must then be staged with it (mentor_batch_add_event). Talks to no one.
 */
bool mentor_store_may_refuse(const struct mentor_store *store, const struct mentor_event *ev);

/*
 * The agent's only program in the roster as the store knows it, as
 * mentor_program_lookup_fn (batch.h) with store as its ctx: the agents
 * table when the store connected (once migrated), then the roster rows its
 * batch commits wrote (those of a commit that failed undone). Rows other
 * writers store meanwhile (another instance, mentord-load-csv, SQL) are
 * seen from the next connect. Talks to no one.
 */
const char *mentor_store_only_program(const void *store, const char *agent_id, size_t len);

/*
 * Writes a batch in one transaction (the one the stream began, if any):
 * score events (a repeated event_id changes nothing), daily aggregates of the
 * events actually inserted, roster upserts, rejected messages, and the offset
 * updates, then the hook's statements (hook may be NULL). New agents the
 * roster does not know and new behaviors are admitted up to the batch's
 * rules (max_unknown_agents, max_behaviors); the score events of the others
 * are refused: stored in rejected_events (unknown_agent_limit,
 * too_many_behaviors), not in score_events, and left out for the hook
 * (stored[i] = 0). mentor_store_refusals lists them. The statements the
 * hook deferred and the COMMIT are sent without waiting, so that
 * PostgreSQL runs them while the caller reads the next batch: MENTOR_OK
 * means sent, and mentor_store_settle() says whether it committed.
 * MENTOR_ERR_FENCED if some partition's stored offset was not expected_next
 * (rolled back: another instance owns it now); MENTOR_ERR_DB if PostgreSQL
 * failed before the COMMIT was sent (rolled back; reconnect and retry the
 * same batch).
 */
int mentor_store_commit_batch(struct mentor_store *store, const struct mentor_batch *batch, const char *group,
			      const struct mentor_offset_update *updates, size_t n_updates,
			      const struct mentor_store_batch_hook *hook, struct mentor_error *err);

/*
 * The score events the last mentor_store_commit_batch refused (none once it
 * failed), and refusal i of them: the event's number in that batch (which
 * the caller still holds), and its reason and detail.
 */
size_t mentor_store_refusals(const struct mentor_store *store);
void mentor_store_refusal(const struct mentor_store *store, const struct mentor_batch *batch, size_t i,
			  size_t *ret_event, struct mentor_reject *ret_why);

/*
 * Waits for the batch commit commit_batch sent last and says how it ended:
 * MENTOR_OK if it committed (or none was pending); MENTOR_ERR_DB if it did
 * not (rolled back: the caller reads that batch again from the offsets
 * stored in PostgreSQL). Every other call that talks to
 * PostgreSQL waits for a pending commit first; a failure met that way is
 * kept for this call to report.
 */
int mentor_store_settle(struct mentor_store *store, struct mentor_error *err);

/* How long the last settled batch commit took: from commit_batch's start to its last result, in microseconds. */
int64_t mentor_store_commit_us(const struct mentor_store *store);

#endif
