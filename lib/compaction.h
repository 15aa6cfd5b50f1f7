/*
 * The compaction of agent_daily_parts, scheduled by the store's batch
 * commits: the days compaction_policy.h finds due are merged by
 * compact_agent_daily() one at a time, on a connection of their own, sent
 * without waiting. One can take a second on a large day, and the batches go
 * on meanwhile (they only append rows; a compaction merges rows committed
 * before it started). Value-preserving: a failure or a crash only leaves more
 * rows to read, so no error is reported (the rows wait for the next
 * compaction of their day). Internal to the store; no logging, no globals.
 */
#ifndef MENTOR_COMPACTION_H
#define MENTOR_COMPACTION_H

#include <stdbool.h>
#include <stdint.h>

#include "compaction_policy.h"
#include "mentor/batch.h"
#include "pg.h"

/* Set up by mentor_compaction_init; all zero before it (stopping it is then safe). */
struct mentor_compaction {
	struct mentor_compaction_policy policy;
	PGconn *conn;                 /* owned; NULL until a compaction is due, and after one failed */
	bool running;                 /* a compaction of `day` is in flight on conn */
	int32_t day;
	const char *conninfo;         /* borrowed, like schema and the notice function: the store's settings */
	const char *schema;
	mentor_pg_notice_fn notice;
	void *notice_ctx;
};

/* Where compactions connect to (mentor_pg_connect's arguments), borrowed until mentor_compaction_stop. */
void mentor_compaction_init(struct mentor_compaction *c, const char *conninfo, const char *schema,
			    mentor_pg_notice_fn notice, void *notice_ctx);

/*
 * After a batch commit was sent: collects the compaction in flight if it has
 * finished, counts the batch's parts rows per day (daily) and starts the
 * compaction of a day now due, if none is running. That batch's rows may
 * wait for the next one: a compaction merges only committed rows.
 */
void mentor_compaction_note(struct mentor_compaction *c, const struct mentor_daily *daily);

/* Closes the connection, cancelling a compaction in flight (one rolled back loses nothing). Safe to repeat. */
void mentor_compaction_stop(struct mentor_compaction *c);

#endif
