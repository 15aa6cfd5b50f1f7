/*
 * The store's session as lib/ modules use it: the connection at libpq level
 * for the modules whose SQL runs in the store's transactions (the analytics,
 * the rounds), and the parts of the store its own modules drive (the batch
 * commit, migrations, offsets). Internal to lib/ (not installed);
 * include/mentor/store.h is what the daemon uses, with no libpq type.
 *
 * The calls below that talk to PostgreSQL first wait for the batch commit in
 * flight and give an open event stream up (mentor_store_stream_events),
 * except where said.
 */
#ifndef MENTOR_STORE_INT_H
#define MENTOR_STORE_INT_H

#include <stddef.h>

#include <libpq-fe.h>

#include "mentor/error.h"
#include "mentor/store.h"

struct mentor_compaction;
struct mentor_event_stream;
struct mentor_admission;
struct mentor_agent_programs;
struct mentor_known_agents;

/*
 * The connection, owned by the store, for modules whose SQL runs in the
 * store's transactions. Using it directly neither waits for a commit nor
 * gives a stream up: the caller knows neither is under way.
 */
PGconn *mentor_store_conn(struct mentor_store *store);

/*
 * Runs one parameterized statement (text parameters). On MENTOR_OK, if
 * ret_res is not NULL, *ret_res holds the result (caller PQclear()s).
 * Returns MENTOR_OK or MENTOR_ERR_DB with the statement named by `what`.
 */
int mentor_store_exec(struct mentor_store *store, const char *sql, int n, const char *const *values,
		      const char *what, PGresult **ret_res, struct mentor_error *err);

/*
 * Runs a command without parameters that returns no rows; sql may hold
 * several statements. MENTOR_OK, or MENTOR_ERR_DB naming `what`.
 */
int mentor_store_command(struct mentor_store *store, const char *sql, const char *what, struct mentor_error *err);

/* Sends COPY text through `sql` (a COPY ... FROM STDIN). MENTOR_OK or MENTOR_ERR_DB. */
int mentor_store_copy(struct mentor_store *store, const char *sql, const char *text, size_t len,
		      struct mentor_error *err);

/* Opens a transaction. MENTOR_OK or MENTOR_ERR_DB. */
int mentor_store_begin(struct mentor_store *store, struct mentor_error *err);

/* Commits (deferred statements first) when rc is MENTOR_OK, else rolls back; returns rc or the commit's error. */
int mentor_store_end(struct mentor_store *store, int rc, struct mentor_error *err);

/*
 * Queues a statement without parameters to run at the end of the open
 * transaction, just before its COMMIT (sent with it by
 * mentor_store_commit_batch, run by mentor_store_end), for writes that
 * nothing later in the transaction reads. A rollback drops them. Talks to
 * no one. MENTOR_OK or MENTOR_ERR_NOMEM.
 */
int mentor_store_defer(struct mentor_store *store, const char *sql, struct mentor_error *err);

/* Rolls the open transaction back and drops the deferred statements; a failed rollback shows at the next use. */
void mentor_store_rollback(struct mentor_store *store);

/* ---- For the store's own modules ---- */

/* The schema every table is in (mentor_store_open's), owned by the store. */
const char *mentor_store_schema(const struct mentor_store *store);

/*
 * The parts of the store a batch commit drives, owned by the store, which
 * gives them up or empties them when the connection is taken, replaced or
 * closed, and when a commit fails (the known agents).
 */
struct mentor_event_stream *mentor_store_stream(struct mentor_store *store);
struct mentor_known_agents *mentor_store_known_agents(struct mentor_store *store);
struct mentor_known_agents *mentor_store_known_metrics(struct mentor_store *store);  /* metric names, likewise */
struct mentor_admission *mentor_store_admission(struct mentor_store *store);
struct mentor_recent_events *mentor_store_recent_events(struct mentor_store *store);
struct mentor_compaction *mentor_store_compaction(struct mentor_store *store);
/*
 * The roster's agents with one program (agent_programs.h): read from agents
 * once the schema is current and on every connect after, set by the batch
 * commits before their COMMIT is sent, kept or undone when it ends.
 */
struct mentor_agent_programs *mentor_store_agent_programs(struct mentor_store *store);

/*
 * The schema is migrated (mentor_store_migrate): reads the agents' programs
 * now, and on every connect from then on. MENTOR_OK, MENTOR_ERR_DB or
 * MENTOR_ERR_NOMEM.
 */
int mentor_store_schema_current(struct mentor_store *store, struct mentor_error *err);

/*
 * A batch commit begins: waits for the last one's result (giving no stream
 * up) and times this one from now (mentor_store_commit_us). MENTOR_OK, or
 * MENTOR_ERR_DB if the last one failed and was not settled.
 */
int mentor_store_commit_begin(struct mentor_store *store, struct mentor_error *err);

/*
 * Sends the deferred statements and the COMMIT of the open transaction in
 * one query, without waiting for it: mentor_store_settle() says how it
 * ended. MENTOR_OK if sent; else MENTOR_ERR_DB or MENTOR_ERR_NOMEM, and the
 * caller rolls back.
 */
int mentor_store_commit_send(struct mentor_store *store, struct mentor_error *err);

#endif
