/*
 * The batch commit (mentor_store_commit_batch, in include/mentor/store.h): a
 * batch's rows in one transaction, the one its event stream began if any:
 * the score events without repeats of stored ones (those whose id was stored
 * lately are looked up first: recent_events.h), the roster, the admission of
 * new agents and behaviors (admission.h), the unknown agents, daily parts and
 * metrics of the events kept, the rejected messages, the
 * partitions' offsets under their fence and the hook's work; then the
 * COMMIT, sent without waiting.
 */
#include "mentor/store.h"

#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "agent_programs.h"
#include "compaction.h"
#include "copytext.h"
#include "event_stream.h"
#include "known_agents.h"
#include "offsets.h"
#include "pg.h"
#include "recent_events.h"
#include "store_int.h"

/* The staging tables (made by the store on every connect); score events go through event_stream.h. */
static const char *const copy_stage_sql[MENTOR_STAGE_COUNT] = {
	[MENTOR_STAGE_ROSTER] = "COPY stage_roster FROM STDIN",
	[MENTOR_STAGE_REJECTS] = "COPY stage_rejects FROM STDIN",
};

/* The last roster event of an agent in a batch wins; a score event never overwrites the roster. */
static const char upsert_roster_sql[] =
	"INSERT INTO agents (agent_id, name, team_id, team_lead_id, site, language, active,"
	"                    roster_known, roster_occurred_at, updated_at, programs)"
	" SELECT DISTINCT ON (agent_id) agent_id, name, team_id, team_lead_id, site, language, active,"
	"        true, 'epoch'::timestamptz + occurred_us * interval '1 microsecond', now(), programs"
	"   FROM stage_roster ORDER BY agent_id, seq DESC"
	" ON CONFLICT (agent_id) DO UPDATE SET name = excluded.name, team_id = excluded.team_id,"
	"   team_lead_id = excluded.team_lead_id, site = excluded.site, language = excluded.language,"
	"   active = excluded.active, roster_known = true,"
	"   roster_occurred_at = excluded.roster_occurred_at, updated_at = now(), programs = excluded.programs";

static const char insert_team_leads_sql[] =
	"INSERT INTO team_leads (team_lead_id)"
	" SELECT DISTINCT team_lead_id FROM stage_roster WHERE team_lead_id IS NOT NULL"
	" ORDER BY team_lead_id ON CONFLICT DO NOTHING";

/* $1: the distinct agent_ids of the score events the batch inserts. */
static const char insert_unknown_agents_sql[] =
	"INSERT INTO agents (agent_id)"
	" SELECT a FROM unnest($1::text[]) AS a ORDER BY a ON CONFLICT DO NOTHING";

/* Which of the batch's event ids ($1) score_events has already: repeats across batches (insert_events). */
static const char find_repeats_sql[] =
	"SELECT event_id FROM score_events WHERE event_id = ANY($1::text[])";

static const char copy_parts_sql[] =
	"COPY agent_daily_parts (agent_id, program, metric, day, n, sum_e6, sumsq_e12) FROM STDIN WITH (FORMAT binary)";

/* The first source and scale stored for a metric stay. */
static const char insert_metrics_sql[] =
	"INSERT INTO metrics (metric, source, scale_min, scale_max)"
	" SELECT metric, source, scale_min, scale_max FROM stage_metrics ORDER BY metric"
	" ON CONFLICT (metric) DO NOTHING";

static const char insert_rejects_sql[] =
	"INSERT INTO rejected_events (topic, partition, kafka_offset, received_at, key, payload, payload_bytes,"
	"                             payload_sha256, reason, detail)"
	" SELECT topic, partition, kafka_offset, 'epoch'::timestamptz + received_us * interval '1 microsecond',"
	"        key, payload, payload_bytes, payload_sha256, reason, detail"
	"   FROM stage_rejects ON CONFLICT DO NOTHING";

/*
 * A PostgreSQL text[] literal of the n strings get(b, i) for which only[i]
 * is nonzero (only NULL: all), but for those in skip (NULL: none), and in
 * *ret_count (may be NULL) how many it holds. NULL when out of memory; free
 * with free().
 */
static char *array_literal(const struct mentor_batch *b, size_t n,
			   const char *(*get)(const struct mentor_batch *, size_t, size_t *),
			   const unsigned char *only, const struct mentor_known_agents *skip, size_t *ret_count)
{
	struct text_buf t = { 0 };
	size_t count = 0;

	buf_append(&t, "{", 1);
	for (size_t i = 0; i < n; i++) {
		size_t len;
		const char *str = get(b, i, &len);

		if ((only && !only[i]) || (skip && mentor_known_agents_has(skip, str, len)))
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

/* The ids of the suspects of the stream (NULL: of every event), as a text[] literal; NULL when out of memory. */
static char *event_ids(const struct mentor_batch *b, const struct mentor_event_stream *suspects, size_t *ret_count)
{
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS);
	unsigned char *only = NULL;
	char *array;

	if (suspects) {
		if (!(only = malloc(n ? n : 1)))
			return NULL;
		for (size_t i = 0; i < n; i++)
			only[i] = mentor_event_stream_suspect(suspects, b, i);
	}
	array = array_literal(b, n, mentor_batch_event_id, only, NULL, ret_count);
	free(only);
	return array;
}

/*
 * *ret_stored: per staged event, 0 if score_events already has it, else 1;
 * NULL if it has none. Only the stream's suspects are looked up (NULL:
 * every event).
 */
static int find_repeats(PGconn *conn, const struct mentor_batch *b, const struct mentor_event_stream *suspects,
			unsigned char **ret_stored, struct mentor_error *err)
{
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS), count = 0;
	char *array = event_ids(b, suspects, &count);
	unsigned char *stored = NULL;
	PGresult *res = NULL;
	int rc;

	*ret_stored = NULL;
	if (!array)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	if (count == 0) {
		free(array);
		return MENTOR_OK;
	}
	rc = mentor_pg_exec(conn, find_repeats_sql, 1, (const char *const *)&array, "find repeated events", &res, err);
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

/*
 * The stream's suspects, which its COPY left out: those score_events does
 * not have yet go in by a COPY of their own. *ret_stored as find_repeats
 * sets it.
 */
static int insert_suspects(PGconn *conn, const struct mentor_event_stream *stream, const struct mentor_batch *b,
			   unsigned char **ret_stored, struct mentor_error *err)
{
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS);
	unsigned char *fresh;
	bool any = false;
	int rc = find_repeats(conn, b, stream, ret_stored, err);

	if (rc != MENTOR_OK)
		return rc;
	if (!(fresh = malloc(n ? n : 1)))
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		fresh[i] = mentor_event_stream_suspect(stream, b, i) && (!*ret_stored || (*ret_stored)[i]);
		any = any || fresh[i];
	}
	if (any)
		rc = mentor_event_stream_copy(conn, b, fresh, err);
	free(fresh);
	return rc;
}

/*
 * Ends the events' COPY (event_stream.h), which leaves out the suspects,
 * then inserts those of them that are new. Score events are copied straight
 * into score_events (their ids are unique within a batch: it keeps the
 * first copy). If some were stored before all the same (a repeat the
 * recent ids missed: older, or stored by another instance), a COPY fails
 * on the primary key; both are then rolled back to their savepoint and
 * redone without the events find_repeats finds. *ret_stored as find_repeats
 * sets it.
 */
static int insert_events(PGconn *conn, struct mentor_event_stream *stream, const struct mentor_batch *b,
			 unsigned char **ret_stored, struct mentor_error *err)
{
	struct mentor_error copy_err;
	int rc;

	*ret_stored = NULL;
	rc = mentor_event_stream_end(stream, conn, b, &copy_err);
	if (rc == MENTOR_OK)
		rc = insert_suspects(conn, stream, b, ret_stored, &copy_err);
	if (rc == MENTOR_ERR_DB && strcmp(copy_err.sqlstate, "23505") == 0) {  /* unique_violation */
		free(*ret_stored);
		*ret_stored = NULL;
		rc = mentor_pg_command(conn, "ROLLBACK TO SAVEPOINT copy_events", "rollback to savepoint", err);
		if (rc == MENTOR_OK)
			rc = find_repeats(conn, b, NULL, ret_stored, err);
		if (rc == MENTOR_OK)
			rc = mentor_event_stream_copy(conn, b, *ret_stored, err);
	} else if (rc != MENTOR_OK && err) {
		*err = copy_err;
	}
	return rc;
}


/* Per batch agent and metric: whether a score event the batch inserts (stored[i] != 0, NULL: all) has it. */
struct inserted_names {
	unsigned char *agents, *metrics;
};

static void note_metric(void *ctx, size_t metric)
{
	unsigned char *metrics = ctx;

	metrics[metric] = 1;
}

static int find_inserted_names(const struct mentor_batch *b, const unsigned char *stored, struct inserted_names *in,
			       struct mentor_error *err)
{
	free(in->agents);
	free(in->metrics);
	in->agents = calloc(mentor_batch_agent_count(b) + 1, 1);
	in->metrics = calloc(mentor_batch_metric_count(b) + 1, 1);
	if (!in->agents || !in->metrics)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < mentor_batch_rows(b, MENTOR_STAGE_EVENTS); i++) {
		if (stored && !stored[i])
			continue;
		in->agents[mentor_batch_event_agent(b, i)] = 1;
		mentor_batch_event_metrics(b, i, note_metric, in->metrics);
	}
	return MENTOR_OK;
}

/*
 * What needs no connection, while the stream's end runs on its thread: the
 * daily parts, taking every event for new, and the hook's early work, told
 * which events the stream kept out of its COPY as suspects.
 */
static int work_early(const struct mentor_event_stream *stream, const struct mentor_batch *b,
		      const struct mentor_store_batch_hook *hook, struct mentor_daily *daily, struct mentor_error *err)
{
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS);
	unsigned char *suspects = NULL;
	int rc = mentor_batch_daily(b, NULL, daily, err);

	if (rc != MENTOR_OK || !hook || !hook->early)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (!mentor_event_stream_suspect(stream, b, i))
			continue;
		if (!suspects && !(suspects = calloc(n, 1)))
			return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		suspects[i] = 1;
	}
	rc = hook->early(hook->ctx, suspects, err);
	free(suspects);
	return rc;
}

static int write_roster(PGconn *conn, const struct mentor_batch *b, struct mentor_error *err)
{
	size_t len;
	const char *text = mentor_batch_copy_text(b, MENTOR_STAGE_ROSTER, &len);
	int rc;

	if (mentor_batch_rows(b, MENTOR_STAGE_ROSTER) == 0)
		return MENTOR_OK;
	rc = mentor_pg_copy(conn, copy_stage_sql[MENTOR_STAGE_ROSTER], text, len, err);
	if (rc == MENTOR_OK)
		rc = mentor_pg_command(conn, upsert_roster_sql, "upsert roster", err);
	if (rc == MENTOR_OK)
		rc = mentor_pg_command(conn, insert_team_leads_sql, "insert team leads", err);
	return rc;
}

/*
 * Inserts the staged score events and the roster, admits what they bring
 * new (admission.h: when the store does not know every agent and behavior
 * of the batch; refused events get their rows in *refusals), then inserts
 * the agents not known to have a row, the daily parts of the events
 * actually inserted (a repeat of an event stored by an earlier batch, or a
 * refused event, adds nothing) and the metrics they show. Sets *daily,
 * *ret_stored (as find_repeats, refused events 0 too) and *names.
 *
 * The hook's early work takes every event for new: it runs only when none
 * is left out, else the hook's in_transaction part reads stored.
 */
static int write_events(struct mentor_store *s, const struct mentor_batch *b,
			const struct mentor_store_batch_hook *hook, struct mentor_daily *daily,
			unsigned char **ret_stored, struct inserted_names *names, struct text_buf *refusals,
			struct mentor_error *err)
{
	PGconn *conn = mentor_store_conn(s);
	struct mentor_event_stream *stream = mentor_store_stream(s);
	struct mentor_known_agents *known = mentor_store_known_agents(s);
	bool admit = mentor_admission_needed(b, known, mentor_store_known_metrics(s));
	unsigned char *stored = NULL;
	size_t unknown = 0;
	char *array;
	int rc;

	mentor_event_stream_end_start(stream, conn, b);
	if (!admit) {
		rc = work_early(stream, b, hook, daily, err);
		if (rc != MENTOR_OK) {
			mentor_event_stream_end_drop(stream, conn);  /* the rollback needs the connection out of COPY */
			return rc;
		}
	}
	rc = insert_events(conn, stream, b, &stored, err);
	if (rc == MENTOR_OK)
		rc = write_roster(conn, b, err);
	if (rc == MENTOR_OK && admit)
		rc = mentor_admission_run(mentor_store_admission(s), conn, b, known, mentor_store_known_metrics(s),
					  &stored, refusals, err);
	*ret_stored = stored;
	if (rc != MENTOR_OK)
		return rc;
	/* Some events were stored before, or refused: the parts count only those inserted. */
	if (admit || stored) {
		mentor_daily_free(daily);
		*daily = (struct mentor_daily){ 0 };
		rc = mentor_batch_daily(b, stored, daily, err);
	}
	if (rc == MENTOR_OK && admit && !stored && hook && hook->early)
		rc = hook->early(hook->ctx, NULL, err);
	if (rc == MENTOR_OK)
		rc = find_inserted_names(b, stored, names, err);
	if (rc != MENTOR_OK)
		return rc;
	array = array_literal(b, mentor_batch_agent_count(b), mentor_batch_agent, names->agents, known, &unknown);
	if (!array)
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	else if (unknown > 0)
		rc = mentor_pg_exec(conn, insert_unknown_agents_sql, 1, (const char *const *)&array,
				    "insert unknown agents", NULL, err);
	free(array);
	if (rc == MENTOR_OK && daily->parts_len > 0)
		rc = mentor_pg_copy(conn, copy_parts_sql, daily->parts, daily->parts_len, err);
	if (rc == MENTOR_OK && daily->metrics_len > 0) {
		rc = mentor_pg_copy(conn, "COPY stage_metrics FROM STDIN", daily->metrics, daily->metrics_len, err);
		if (rc == MENTOR_OK)
			rc = mentor_pg_command(conn, insert_metrics_sql, "insert metrics", err);
	}
	return rc;
}

/* Events first: a COPY the stream began must end before any other statement. */
static int write_batch(struct mentor_store *s, const struct mentor_batch *b,
		       const struct mentor_store_batch_hook *hook, struct mentor_daily *daily,
		       unsigned char **ret_stored, struct inserted_names *names, struct mentor_error *err)
{
	PGconn *conn = mentor_store_conn(s);
	struct text_buf refusals = { 0 };
	size_t len;
	const char *rejects = mentor_batch_copy_text(b, MENTOR_STAGE_REJECTS, &len);
	int rc;

	if (mentor_batch_rows(b, MENTOR_STAGE_EVENTS) > 0) {
		rc = write_events(s, b, hook, daily, ret_stored, names, &refusals, err);
	} else {
		rc = hook && hook->early ? hook->early(hook->ctx, NULL, err) : MENTOR_OK;
		if (rc == MENTOR_OK)
			rc = write_roster(conn, b, err);
	}
	if (rc == MENTOR_OK && mentor_batch_rows(b, MENTOR_STAGE_REJECTS) > 0)
		rc = mentor_pg_copy(conn, copy_stage_sql[MENTOR_STAGE_REJECTS], rejects, len, err);
	if (rc == MENTOR_OK && refusals.rows > 0)
		rc = mentor_pg_copy(conn, copy_stage_sql[MENTOR_STAGE_REJECTS], refusals.data, refusals.len, err);
	if (rc == MENTOR_OK && refusals.failed)
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	if (rc == MENTOR_OK && (mentor_batch_rows(b, MENTOR_STAGE_REJECTS) > 0 || refusals.rows > 0))
		rc = mentor_pg_command(conn, insert_rejects_sql, "insert rejected events", err);
	free(refusals.data);
	return rc;
}

/*
 * Once the COMMIT is sent: remembers its events' ids (should it fail, they
 * are only suspects next time) and the agents and behaviors now known to
 * have a row (the store forgets them if it fails), and compacts if due (a
 * compaction merges only committed rows, so this batch's parts may wait for
 * the next one).
 */
static void committed(struct mentor_store *s, const struct mentor_batch *b, const struct inserted_names *names,
		      const struct mentor_daily *daily)
{
	struct mentor_known_agents *known = mentor_store_known_agents(s);
	struct mentor_known_agents *metrics = mentor_store_known_metrics(s);
	struct mentor_recent_events *recent = mentor_store_recent_events(s);
	size_t len;
	const char *name;

	for (size_t i = 0; i < mentor_batch_rows(b, MENTOR_STAGE_EVENTS); i++) {
		name = mentor_batch_event_id(b, i, &len);
		mentor_recent_events_add(recent, name, len);
	}
	for (size_t i = 0; names->agents && i < mentor_batch_agent_count(b); i++) {
		name = mentor_batch_agent(b, i, &len);
		if (names->agents[i])
			mentor_known_agents_add(known, name, len);
	}
	for (size_t i = 0; names->metrics && i < mentor_batch_metric_count(b); i++) {
		name = mentor_batch_metric(b, i, &len);
		if (names->metrics[i])
			mentor_known_agents_add(metrics, name, len);
	}
	mentor_compaction_note(mentor_store_compaction(s), daily);
}

/*
 * The batch's roster rows as the store's agent programs (agent_programs.h),
 * journaled: set before the COMMIT is sent, so that the batches staged
 * while it runs see them, and undone if it fails.
 */
static int note_roster_programs(struct mentor_store *s, const struct mentor_batch *b, struct mentor_error *err)
{
	struct mentor_agent_programs *programs = mentor_store_agent_programs(s);

	for (size_t i = 0; i < mentor_batch_roster_count(b); i++) {
		size_t len;
		const char *agent = mentor_batch_roster_agent(b, i, &len);

		if (mentor_agent_programs_set(programs, agent, len, mentor_batch_roster_program(b, i)) != 0)
			return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory noting the roster's programs");
	}
	return MENTOR_OK;
}

int mentor_store_commit_batch(struct mentor_store *s, const struct mentor_batch *b, const char *group,
			      const struct mentor_offset_update *updates, size_t n_updates,
			      const struct mentor_store_batch_hook *hook, struct mentor_error *err)
{
	struct mentor_event_stream *stream = mentor_store_stream(s);
	struct mentor_daily daily = { 0 };
	struct inserted_names names = { 0 };
	unsigned char *stored = NULL;
	int rc = mentor_store_commit_begin(s, err);

	mentor_admission_reset(mentor_store_admission(s));
	if (rc != MENTOR_OK) {
		mentor_event_stream_reset(stream);
		return rc;
	}
	/* A failed stream was rolled back: this commit writes the batch from the start. */
	if (!mentor_event_stream_copying(stream)) {
		mentor_event_stream_reset(stream);
		rc = mentor_pg_command(mentor_store_conn(s), "BEGIN", "begin batch", err);
	}
	if (rc != MENTOR_OK)
		return rc;
	rc = write_batch(s, b, hook, &daily, &stored, &names, err);
	if (rc == MENTOR_OK)
		rc = mentor_offsets_fence(mentor_store_conn(s), group, updates, n_updates, err);
	if (rc == MENTOR_OK && hook && hook->in_transaction)
		rc = hook->in_transaction(hook->ctx, s, stored, err);
	free(stored);
	if (rc == MENTOR_OK)
		rc = note_roster_programs(s, b, err);
	if (rc == MENTOR_OK)
		rc = mentor_store_commit_send(s, err);
	if (rc != MENTOR_OK) {
		mentor_store_rollback(s);
		mentor_admission_reset(mentor_store_admission(s));
		mentor_agent_programs_undo(mentor_store_agent_programs(s));
	} else {
		committed(s, b, &names, &daily);
	}
	free(names.agents);
	free(names.metrics);
	mentor_daily_free(&daily);
	return rc;
}
