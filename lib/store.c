#include "mentor/store.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrations.h"

struct mentor_store {
	PGconn *conn;
	char *conninfo;  /* owned; may hold a password, so it is never put in a message */
	char *schema;    /* owned */
};

/* Staging tables live in the session, so they are made on every (re)connect. */
static const char create_staging_sql[] =
	"CREATE TEMP TABLE stage_roster (seq bigint, agent_id text, name text, team_id text,"
	" team_lead_id text, site text, language text, active boolean, occurred_us bigint,"
	" topic text, partition integer, kafka_offset bigint, received_us bigint) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE stage_events (seq bigint, event_id text, kind text, agent_id text,"
	" interaction_id text, channel text, occurred_us bigint, csat smallint, nps smallint,"
	" overall numeric, scores jsonb, fatal jsonb,"
	" topic text, partition integer, kafka_offset bigint, received_us bigint) ON COMMIT DELETE ROWS;"
	"CREATE TEMP TABLE stage_rejects (topic text, partition integer, kafka_offset bigint,"
	" received_us bigint, key bytea, payload bytea, reason text, detail text) ON COMMIT DELETE ROWS;";

static const char *const copy_sql[MENTOR_STAGE_COUNT] = {
	[MENTOR_STAGE_ROSTER] = "COPY stage_roster FROM STDIN",
	[MENTOR_STAGE_EVENTS] = "COPY stage_events FROM STDIN",
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

static const char insert_unknown_agents_sql[] =
	"INSERT INTO agents (agent_id)"
	" SELECT DISTINCT agent_id FROM stage_events ORDER BY agent_id ON CONFLICT DO NOTHING";

/*
 * Only events actually inserted feed the aggregates: a repeated event_id, in
 * this batch or an earlier one, changes nothing. $1, $2: the CSAT scale.
 */
static const char insert_events_sql[] =
	"WITH ev AS ("
	"  SELECT DISTINCT ON (event_id) * FROM stage_events ORDER BY event_id, seq"
	"), ins AS ("
	"  INSERT INTO score_events (event_id, kind, agent_id, interaction_id, channel, occurred_at,"
	"                            received_at, csat, nps, overall, scores, fatal,"
	"                            topic, partition, kafka_offset)"
	"  SELECT event_id, kind, agent_id, interaction_id, channel,"
	"         'epoch'::timestamptz + occurred_us * interval '1 microsecond',"
	"         'epoch'::timestamptz + received_us * interval '1 microsecond',"
	"         csat, nps, overall, scores, fatal, topic, partition, kafka_offset"
	"    FROM ev ORDER BY event_id"
	"  ON CONFLICT (event_id) DO NOTHING"
	"  RETURNING kind, agent_id, occurred_at, csat, overall, scores"
	"), obs AS ("
	"  SELECT ins.agent_id, (ins.occurred_at AT TIME ZONE 'UTC')::date AS day, o.metric, o.source, o.value"
	"    FROM ins, event_observations(ins.kind, ins.csat, ins.overall, ins.scores, $1, $2) AS o"
	"), daily AS ("
	"  INSERT INTO agent_daily (agent_id, metric, day, n, sum, sumsq)"
	"  SELECT agent_id, metric, day, count(*), sum(value), sum(value * value)"
	"    FROM obs GROUP BY agent_id, metric, day ORDER BY agent_id, metric, day"
	"  ON CONFLICT (agent_id, metric, day) DO UPDATE SET n = agent_daily.n + excluded.n,"
	"    sum = agent_daily.sum + excluded.sum, sumsq = agent_daily.sumsq + excluded.sumsq"
	")"
	" INSERT INTO metrics (metric, source, scale_min, scale_max)"
	" SELECT DISTINCT ON (metric) metric, source,"
	"        CASE WHEN metric = 'csat_top2' THEN 0 WHEN source = 'aqm' THEN 0 ELSE $1 END,"
	"        CASE WHEN metric = 'csat_top2' THEN 1 WHEN source = 'aqm' THEN 100 ELSE $2 END"
	"   FROM (SELECT metric, source FROM obs GROUP BY metric, source) AS seen ORDER BY metric, source"
	" ON CONFLICT (metric) DO NOTHING";

static const char insert_rejects_sql[] =
	"INSERT INTO rejected_events (topic, partition, kafka_offset, received_at, key, payload, reason, detail)"
	" SELECT topic, partition, kafka_offset, 'epoch'::timestamptz + received_us * interval '1 microsecond',"
	"        key, payload, reason, detail"
	"   FROM stage_rejects ON CONFLICT DO NOTHING";

static const char fence_offset_sql[] =
	"UPDATE consumer_offsets SET next_offset = $4, updated_at = now()"
	" WHERE group_id = $1 AND topic = $2 AND partition = $3 AND next_offset = $5";

/* A failed command on a live connection is still worth a retry (deadlock, restart in progress). */
static int db_error(struct mentor_store *s, PGresult *res, const char *what, struct mentor_error *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[400];

	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(s->conn));
	msg[strcspn(msg, "\n")] = '\0';
	return mentor_error_set(err, MENTOR_ERR_DB, "%s: %s%s%s%s", what, msg,
				state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "");
}

/* Runs a command that returns no rows. */
static int exec_command(struct mentor_store *s, const char *sql, const char *what, struct mentor_error *err)
{
	PGresult *res = PQexec(s->conn, sql);
	int rc = MENTOR_OK;

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		rc = db_error(s, res, what, err);
	PQclear(res);
	return rc;
}

static int exec_params(struct mentor_store *s, const char *sql, int n, const char *const *values,
		       const char *what, PGresult **ret_res, struct mentor_error *err)
{
	PGresult *res = PQexecParams(s->conn, sql, n, NULL, values, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int rc = db_error(s, res, what, err);

		PQclear(res);
		return rc;
	}
	if (ret_res)
		*ret_res = res;
	else
		PQclear(res);
	return MENTOR_OK;
}

static int connect_session(struct mentor_store *s, struct mentor_error *err)
{
	/* connect_timeout comes first so that the caller's conninfo can override it. */
	const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *const values[] = { "10", "mentord", s->conninfo, NULL };
	char *ident;
	char sql[512];
	int rc;

	PQfinish(s->conn);
	s->conn = PQconnectdbParams(keys, values, 1);
	if (!s->conn)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory connecting to PostgreSQL");
	if (PQstatus(s->conn) != CONNECTION_OK)
		return db_error(s, NULL, "connect to PostgreSQL", err);
	ident = PQescapeIdentifier(s->conn, s->schema, strlen(s->schema));
	if (!ident)
		return db_error(s, NULL, "quote schema name", err);
	/* The schema name was validated as a plain identifier, so it fits. */
	/* work_mem: a batch's aggregation must not spill to disk. */
	snprintf(sql, sizeof(sql), "SET client_min_messages = warning; CREATE SCHEMA IF NOT EXISTS %s;"
		 " SET search_path = %s; SET TIME ZONE 'UTC'; SET work_mem = '64MB'", ident, ident);
	PQfreemem(ident);
	rc = exec_command(s, sql, "set schema", err);
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
	PQfinish(s->conn);
	free(s->conninfo);
	free(s->schema);
	free(s);
}

int mentor_store_reconnect(struct mentor_store *s, struct mentor_error *err)
{
	return connect_session(s, err);
}

static void rollback(struct mentor_store *s)
{
	PQclear(PQexec(s->conn, "ROLLBACK"));
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
	rc = exec_params(s, "SELECT pg_advisory_xact_lock(hashtext('mentord.migrate.' || $1))", 1,
			 &params[2], "lock migrations", NULL, err);
	if (rc != MENTOR_OK)
		goto out;
	rc = exec_params(s, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params,
			 "read schema_migrations", &res, err);
	if (rc != MENTOR_OK || PQntuples(res) > 0)
		goto out;
	rc = exec_command(s, m->sql, m->name, err);
	if (rc != MENTOR_OK)
		goto out;
	rc = exec_params(s, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, params,
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
	int rc = exec_command(s, "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
				 " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
			      "create schema_migrations", err);

	for (size_t i = 0; rc == MENTOR_OK && i < mentor_migration_count; i++)
		rc = apply_migration(s, &mentor_migrations[i], &applied, err);
	if (rc == MENTOR_OK && ret_applied)
		*ret_applied = applied;
	return rc;
}

int mentor_store_offset_load(struct mentor_store *s, const char *group, const char *topic,
			     int32_t partition, int64_t *ret_next, struct mentor_error *err)
{
	char part[16];
	const char *params[] = { group, topic, part };
	PGresult *res = NULL;
	int rc;

	snprintf(part, sizeof(part), "%" PRId32, partition);
	rc = exec_params(s, "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)"
			    " VALUES ($1, $2, $3, -1) ON CONFLICT DO NOTHING",
			 3, params, "create offset row", NULL, err);
	if (rc != MENTOR_OK)
		return rc;
	rc = exec_params(s, "SELECT next_offset FROM consumer_offsets"
			    " WHERE group_id = $1 AND topic = $2 AND partition = $3",
			 3, params, "load offset", &res, err);
	if (rc != MENTOR_OK)
		return rc;
	if (PQntuples(res) != 1)
		rc = mentor_error_set(err, MENTOR_ERR_DB, "offset row for %s[%" PRId32 "] vanished", topic, partition);
	else
		*ret_next = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

static int copy_stage(struct mentor_store *s, const struct mentor_batch *b, enum mentor_stage stage,
		      struct mentor_error *err)
{
	size_t len;
	const char *text = mentor_batch_copy_text(b, stage, &len);
	PGresult *res = PQexec(s->conn, copy_sql[stage]);
	int rc = MENTOR_OK;

	if (PQresultStatus(res) != PGRES_COPY_IN) {
		rc = db_error(s, res, copy_sql[stage], err);
		PQclear(res);
		return rc;
	}
	PQclear(res);
	if (PQputCopyData(s->conn, text, (int)len) != 1 || PQputCopyEnd(s->conn, NULL) != 1)
		return db_error(s, NULL, copy_sql[stage], err);
	while ((res = PQgetResult(s->conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == MENTOR_OK)
			rc = db_error(s, res, copy_sql[stage], err);
		PQclear(res);
	}
	return rc;
}

static int fence_offsets(struct mentor_store *s, const char *group, const struct mentor_offset_update *u,
			 size_t n, struct mentor_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char part[16], next[24], expected[24];
		const char *params[] = { group, u[i].topic, part, next, expected };
		PGresult *res = NULL;
		int rc;

		snprintf(part, sizeof(part), "%" PRId32, u[i].partition);
		snprintf(next, sizeof(next), "%" PRId64, u[i].next);
		snprintf(expected, sizeof(expected), "%" PRId64, u[i].expected_next);
		rc = exec_params(s, fence_offset_sql, 5, params, "store offset", &res, err);
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

static int write_batch(struct mentor_store *s, const struct mentor_batch *b, const struct mentor_event_rules *rules,
		       struct mentor_error *err)
{
	char lo[16], hi[16];
	const char *scale[] = { lo, hi };
	int rc = MENTOR_OK;

	snprintf(lo, sizeof(lo), "%d", rules->csat_min);
	snprintf(hi, sizeof(hi), "%d", rules->csat_max);
	for (int st = 0; rc == MENTOR_OK && st < MENTOR_STAGE_COUNT; st++)
		if (mentor_batch_rows(b, st) > 0)
			rc = copy_stage(s, b, st, err);
	if (rc == MENTOR_OK && mentor_batch_rows(b, MENTOR_STAGE_ROSTER) > 0) {
		rc = exec_command(s, upsert_roster_sql, "upsert roster", err);
		if (rc == MENTOR_OK)
			rc = exec_command(s, insert_team_leads_sql, "insert team leads", err);
	}
	if (rc == MENTOR_OK && mentor_batch_rows(b, MENTOR_STAGE_EVENTS) > 0) {
		rc = exec_command(s, insert_unknown_agents_sql, "insert unknown agents", err);
		if (rc == MENTOR_OK)
			rc = exec_params(s, insert_events_sql, 2, scale, "insert score events", NULL, err);
	}
	if (rc == MENTOR_OK && mentor_batch_rows(b, MENTOR_STAGE_REJECTS) > 0)
		rc = exec_command(s, insert_rejects_sql, "insert rejected events", err);
	return rc;
}

int mentor_store_commit_batch(struct mentor_store *s, const struct mentor_batch *b,
			      const struct mentor_event_rules *rules, const char *group,
			      const struct mentor_offset_update *updates, size_t n_updates,
			      struct mentor_error *err)
{
	int rc = exec_command(s, "BEGIN", "begin batch", err);

	if (rc != MENTOR_OK)
		return rc;
	rc = write_batch(s, b, rules, err);
	if (rc == MENTOR_OK)
		rc = fence_offsets(s, group, updates, n_updates, err);
	if (rc == MENTOR_OK)
		rc = exec_command(s, "COMMIT", "commit batch", err);
	if (rc != MENTOR_OK)
		rollback(s);
	return rc;
}
