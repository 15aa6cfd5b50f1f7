#include "readback_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

struct mentor_readback {
	PGconn *conn;
};

void mentor_readback_table_free(struct mentor_readback_table *t)
{
	free(t->names);
	free(t->cells);
	free(t->text);
	*t = (struct mentor_readback_table){ 0 };
}

int mentor_readback_column(const struct mentor_readback_table *t, const char *name)
{
	for (int c = 0; c < t->columns; c++) {
		if (strcmp(t->names[c], name) == 0)
			return c;
	}
	return -1;
}

const char *mentor_readback_cell(const struct mentor_readback_table *t, int row, int column)
{
	return t->cells[(size_t)row * (size_t)t->columns + (size_t)column];
}

/* Appends text with its NUL at *at in buf and returns where it went. */
static const char *append(char *buf, size_t *at, const char *text, size_t len)
{
	char *to = buf + *at;

	memcpy(to, text, len);
	to[len] = '\0';
	*at += len + 1;
	return to;
}

int mentor_readback_table_from_result(const PGresult *res, struct mentor_readback_table *ret_table,
				      struct mentor_error *err)
{
	struct mentor_readback_table t = { .rows = PQntuples(res), .columns = PQnfields(res) };
	const size_t cells = (size_t)t.rows * (size_t)t.columns;
	size_t bytes = 0, at = 0;
	int rc = MENTOR_OK;

	for (int c = 0; c < t.columns; c++)
		bytes += strlen(PQfname(res, c)) + 1;
	for (int r = 0; r < t.rows; r++) {
		for (int c = 0; c < t.columns; c++)
			bytes += PQgetisnull(res, r, c) ? 0 : (size_t)PQgetlength(res, r, c) + 1;
	}
	/* One byte more, so that an empty table's malloc(0) cannot be taken for a failure. */
	t.names = malloc(((size_t)t.columns + 1) * sizeof(*t.names));
	t.cells = malloc((cells + 1) * sizeof(*t.cells));
	t.text = malloc(bytes + 1);
	if (!t.names || !t.cells || !t.text) {
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory for %d rows of %d columns", t.rows,
				      t.columns);
		goto out;
	}
	for (int c = 0; c < t.columns; c++)
		t.names[c] = append(t.text, &at, PQfname(res, c), strlen(PQfname(res, c)));
	for (int r = 0; r < t.rows; r++) {
		for (int c = 0; c < t.columns; c++)
			t.cells[(size_t)r * (size_t)t.columns + (size_t)c] = PQgetisnull(res, r, c) ? NULL :
				append(t.text, &at, PQgetvalue(res, r, c), (size_t)PQgetlength(res, r, c));
	}
	*ret_table = t;
out:
	if (rc != MENTOR_OK)
		mentor_readback_table_free(&t);
	return rc;
}

/* Runs one parameterized query and copies its rows into *ret_table. */
static int query(struct mentor_readback *rb, const char *what, const char *sql, int n, const char *const *values,
		 struct mentor_readback_table *ret_table, struct mentor_error *err)
{
	PGresult *res = NULL;
	int rc = mentor_pg_exec(rb->conn, sql, n, values, what, &res, err);

	if (rc != MENTOR_OK)
		return rc;
	rc = mentor_readback_table_from_result(res, ret_table, err);
	PQclear(res);
	return rc;
}

/* Whether the schema exists, asked by name: a parameter, never SQL. */
static int check_schema(struct mentor_readback *rb, const char *schema, struct mentor_error *err)
{
	const char *const values[] = { schema };
	struct mentor_readback_table t = { 0 };
	int rc = query(rb, "look the schema up", "SELECT count(*) AS found FROM pg_namespace WHERE nspname = $1", 1,
		       values, &t, err);

	if (rc != MENTOR_OK)
		return rc;
	if (t.rows != 1 || strcmp(mentor_readback_cell(&t, 0, 0), "1") != 0)
		rc = mentor_error_set(err, MENTOR_ERR_INVALID, "schema %s does not exist", schema);
	mentor_readback_table_free(&t);
	return rc;
}

int mentor_readback_open(const char *conninfo, const char *schema, const char *application_name,
			 bool schema_must_exist, struct mentor_readback **ret_rb, struct mentor_error *err)
{
	struct mentor_readback *rb = calloc(1, sizeof(*rb));
	int rc;

	if (!rb)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory for a reader");
	rc = mentor_pg_connect_reader(conninfo, schema, application_name, &rb->conn, err);
	if (rc != MENTOR_OK)
		goto out;
	if (schema_must_exist)
		rc = check_schema(rb, schema, err);
out:
	if (rc != MENTOR_OK)
		mentor_readback_close(rb);
	else
		*ret_rb = rb;
	return rc;
}

void mentor_readback_close(struct mentor_readback *rb)
{
	if (!rb)
		return;
	PQfinish(rb->conn);
	free(rb);
}

int mentor_readback_programs(struct mentor_readback *rb, struct mentor_readback_table *ret_table,
			     struct mentor_error *err)
{
	return query(rb, "read the programs",
		     "SELECT program, to_char(now_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS \"UTC\"') AS now_at"
		     "  FROM dash_event_time ORDER BY program COLLATE \"C\"",
		     0, NULL, ret_table, err);
}

int mentor_readback_program_effect(struct mentor_readback *rb, const char *program,
				   struct mentor_readback_table *ret_table, struct mentor_error *err)
{
	const char *const values[] = { program };

	return query(rb, "read the program effect",
		     "SELECT behavior, paired_n, comparison_n, did_effect, did_ci_low, did_ci_high,"
		     "       naive_delta_not_effect, comparison_delta, verdict, scale_min, scale_max, cuped"
		     "  FROM dash_program_effect WHERE program = $1 AND is_target ORDER BY behavior",
		     1, values, ret_table, err);
}

int mentor_readback_trigger_trend(struct mentor_readback *rb, const char *program,
				  struct mentor_readback_table *ret_table, struct mentor_error *err)
{
	const char *const values[] = { program };

	return query(rb, "read the trigger trend",
		     "WITH c AS (SELECT (day_start AT TIME ZONE 'UTC')::date AS day, sum(awaiting_change) AS a,"
		     "                  sum(waiting_change) AS w, sum(fired) AS f"
		     "             FROM dash_trigger_changes WHERE program = $1 GROUP BY 1),"
		     "     r AS (SELECT min(day) AS lo, greatest(max(day),"
		     "                  (SELECT (now_at AT TIME ZONE 'UTC')::date FROM dash_event_time"
		     "                    WHERE program = $1)) AS hi FROM c)"
		     " SELECT d::date AS day, sum(coalesce(c.a, 0)) OVER w AS awaiting,"
		     "        sum(coalesce(c.w, 0)) OVER w AS waiting, coalesce(c.f, 0) AS fired"
		     "   FROM r CROSS JOIN generate_series(r.lo, r.hi, interval '1 day') AS d"
		     "   LEFT JOIN c ON c.day = d::date"
		     " WINDOW w AS (ORDER BY d) ORDER BY d",
		     1, values, ret_table, err);
}

int mentor_readback_pairing_kpis(struct mentor_readback *rb, const char *program, int per_behavior,
				 struct mentor_readback_table *ret_table, struct mentor_error *err)
{
	char limit[16];
	const char *const values[] = { program, limit };

	snprintf(limit, sizeof(limit), "%d", per_behavior);
	return query(rb, "read the pairings' KPIs",
		     "SELECT * FROM (SELECT behavior, pairing_id, agent_id, name, partner_id, started_at, before_mean,"
		     "                      after_mean, delta, ci_low, ci_high, final, scale_min, scale_max,"
		     "                      pairing_status,"
		     "                      row_number() OVER (PARTITION BY behavior"
		     "                                         ORDER BY started_at DESC, pairing_id) AS rank,"
		     "                      count(*) OVER (PARTITION BY behavior) AS total"
		     "                 FROM dash_pairing_kpis"
		     "                WHERE program = $1 AND subject = 'mentee' AND is_target) AS k"
		     " WHERE rank <= $2::int ORDER BY behavior, started_at DESC, pairing_id",
		     2, values, ret_table, err);
}

int mentor_readback_mentor_kpis(struct mentor_readback *rb, const char *program, const char *metric, int limit,
				struct mentor_readback_table *ret_table, struct mentor_error *err)
{
	char limit_text[16];
	const char *const values[] = { program, metric, limit_text };

	snprintf(limit_text, sizeof(limit_text), "%d", limit);
	return query(rb, "read the mentors' KPIs",
		     "SELECT mentor_id, name, pairings, avg_before_mean, avg_after_mean, avg_delta, scale_min,"
		     "       scale_max, final_pairings"
		     "  FROM dash_mentor_kpis WHERE program = $1 AND metric = $2"
		     " ORDER BY pairings DESC, mentor_id LIMIT $3::int",
		     3, values, ret_table, err);
}

int mentor_readback_active_pairings(struct mentor_readback *rb, const char *program,
				    struct mentor_readback_table *ret_table, struct mentor_error *err)
{
	const char *const values[] = { program };

	return query(rb, "read the active pairings",
		     "SELECT behavior, mentee_id, mentee_name, mentor_id, mentor_name, started_at, days_remaining,"
		     "       target_delta, target_ci_low, target_ci_high, target_scale_min, target_scale_max"
		     "  FROM dash_active_pairings WHERE program = $1 ORDER BY days_remaining, behavior, mentee_id",
		     1, values, ret_table, err);
}

int mentor_readback_consumer_offsets(struct mentor_readback *rb, const char *group,
				     struct mentor_readback_table *ret_table, struct mentor_error *err)
{
	const char *const values[] = { group };

	return query(rb, "read consumer_offsets",
		     "SELECT topic, partition, next_offset FROM consumer_offsets WHERE group_id = $1", 1, values,
		     ret_table, err);
}

int mentor_readback_pairings(struct mentor_readback *rb, struct mentor_readback_table *ret_table,
			     struct mentor_error *err)
{
	return query(rb, "read pairings",
		     "SELECT mentee_id, behavior, extract(epoch FROM started_at)::float8 AS started"
		     "  FROM pairings WHERE status <> 'cancelled'",
		     0, NULL, ret_table, err);
}
