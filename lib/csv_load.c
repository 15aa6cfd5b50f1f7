/*
 * A CSV file into agents or team_leads: the header checked against the
 * table's columns, the file COPYed into a temporary table, one upsert.
 * See include/mentor/csv_load.h.
 */
#include "mentor/csv_load.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* The most columns a table has: agents' eight. */
#define MAX_COLUMNS 8

/*
 * What loading one table takes. Only these strings ever reach SQL: the
 * header's names are matched against `columns` and replaced by them.
 */
struct csv_spec {
	const char *name;
	const char *const *columns;  /* NULL-terminated; the key first */
	const char *temp_columns;    /* the temporary table's columns: every one of `columns`, typed */
	const char *insert;          /* the INSERT ... SELECT FROM csv of the upsert */
	const char *always;          /* what the upsert sets on an existing row whatever the header names */
	const char *check;           /* NULL, or a query of csv giving a row (key, what is wrong) for a bad value */
};

/* The programs column of csv as a text[]: NULL stays NULL (see specs[MENTOR_CSV_AGENTS]). */
#define CSV_PROGRAMS \
	"CASE WHEN programs IS NOT NULL THEN ARRAY(" \
	"  SELECT btrim(p) FROM unnest(string_to_array(programs, '|')) WITH ORDINALITY AS u(p, i)" \
	"   WHERE btrim(p) <> '' GROUP BY btrim(p) ORDER BY min(i)) END"

static const char *const agent_columns[] = { "agent_id", "name", "team_id", "team_lead_id", "site", "language",
					     "active", "programs", NULL };
static const char *const lead_columns[] = { "team_lead_id", "name", "webhook_url", "body_format", "secret_ref", NULL };

static const struct csv_spec specs[] = {
	[MENTOR_CSV_AGENTS] = {
		.name = "agents",
		.columns = agent_columns,
		.temp_columns = "agent_id text, name text, team_id text, team_lead_id text, site text, language text,"
				" active boolean, programs text",
		/*
		 * A roster row makes the agent known; on insert, absent columns take
		 * their defaults. programs: names separated by '|', blanks around
		 * each trimmed, empty ones dropped, each kept once in the file's order.
		 */
		.insert = "INSERT INTO agents (agent_id, name, team_id, team_lead_id, site, language, active,"
			  "                    roster_known, updated_at, programs)"
			  " SELECT agent_id, name, team_id, team_lead_id, site, language, coalesce(active, true), true,"
			  "        now(), " CSV_PROGRAMS " FROM csv",
		.always = "roster_known = true, updated_at = now()",
		/* The rules of agent.v1's programs (docs/events.md): ids, at most 64 of them. */
		.check = "SELECT agent_id, 'program ''' || p || ''' is not 1 to 127 bytes without control characters'"
			 "  FROM csv, unnest(" CSV_PROGRAMS ") AS p"
			 " WHERE octet_length(p) > 127 OR p ~ '[\\x01-\\x1f\\x7f]'"
			 " UNION ALL"
			 " SELECT agent_id, 'more than 64 programs' FROM csv WHERE cardinality(" CSV_PROGRAMS ") > 64"
			 " LIMIT 1",
	},
	[MENTOR_CSV_TEAM_LEADS] = {
		.name = "team_leads",
		.columns = lead_columns,
		.temp_columns = "team_lead_id text, name text, webhook_url text, body_format text, secret_ref text",
		.insert = "INSERT INTO team_leads (team_lead_id, name, webhook_url, body_format, secret_ref, updated_at)"
			  " SELECT team_lead_id, name, webhook_url, coalesce(body_format, 'json'), secret_ref, now()"
			  "   FROM csv",
		.always = "updated_at = now()",
	},
};

/* A checked header: the table's own column names, in the file's order. */
struct header {
	int n;
	const char *columns[MAX_COLUMNS];
};

int mentor_csv_table_from_name(const char *name, enum mentor_csv_table *ret_table, struct mentor_error *err)
{
	for (size_t t = 0; t < sizeof(specs) / sizeof(specs[0]); t++) {
		if (strcmp(name, specs[t].name) == 0) {
			*ret_table = (enum mentor_csv_table)t;
			return MENTOR_OK;
		}
	}
	return mentor_error_set(err, MENTOR_ERR_INVALID, "no table %s to load from CSV", name);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* The index in spec->columns of the name of len bytes, or -1. */
static int find_column(const struct csv_spec *spec, const char *name, size_t len)
{
	for (int c = 0; spec->columns[c]; c++) {
		if (strlen(spec->columns[c]) == len && memcmp(spec->columns[c], name, len) == 0)
			return c;
	}
	return -1;
}

/*
 * The header line of len bytes (its end of line included or not): names
 * split on commas, blanks and carriage returns trimmed off each. A line
 * with nothing on it names no column.
 */
static int parse_header(const struct csv_spec *spec, const char *line, size_t len, struct header *ret_header,
			struct mentor_error *err)
{
	struct header h = { 0 };
	bool seen[MAX_COLUMNS] = { false };
	size_t start = 0;
	bool empty;

	while (len > 0 && (line[len - 1] == '\n' || blank(line[len - 1])))
		len--;
	while (start < len && blank(line[start]))
		start++;
	empty = start == len;
	/* Every field of a line with something on it, an empty one too (before a comma, or after the last). */
	for (size_t at = start; !empty && at <= len; at++) {
		size_t from = start, to = at;
		int c;

		if (at < len && line[at] != ',')
			continue;
		start = at + 1;
		while (from < to && blank(line[from]))
			from++;
		while (to > from && blank(line[to - 1]))
			to--;
		c = find_column(spec, line + from, to - from);
		if (c < 0)
			return mentor_error_set(err, MENTOR_ERR_INVALID, "unknown column '%.*s' for %s", (int)(to - from),
						line + from, spec->name);
		if (seen[c])
			return mentor_error_set(err, MENTOR_ERR_INVALID, "column '%s' named twice for %s",
						spec->columns[c], spec->name);
		seen[c] = true;
		h.columns[h.n++] = spec->columns[c];
	}
	if (!seen[0])
		return mentor_error_set(err, MENTOR_ERR_INVALID, "the header must name %s", spec->columns[0]);
	*ret_header = h;
	return MENTOR_OK;
}

/*
 * The COPY of the header's columns into the temporary table, and the upsert
 * from it, which changes on an existing row only the columns the header
 * names. MENTOR_OK with both (the caller frees them), or MENTOR_ERR_NOMEM.
 */
static int build_sql(const struct csv_spec *spec, const struct header *h, char **ret_copy, char **ret_upsert,
		     struct mentor_error *err)
{
	char *copy = NULL, *upsert = NULL;
	size_t copy_len = 0, upsert_len = 0;
	FILE *copy_out = open_memstream(&copy, &copy_len);
	FILE *upsert_out = open_memstream(&upsert, &upsert_len);
	bool written = copy_out && upsert_out;
	int rc = MENTOR_OK;

	if (written) {
		fprintf(copy_out, "COPY csv (");
		fprintf(upsert_out, "%s ON CONFLICT (%s) DO UPDATE SET %s", spec->insert, spec->columns[0],
			spec->always);
		for (int c = 0; c < h->n; c++) {
			fprintf(copy_out, "%s%s", c > 0 ? ", " : "", h->columns[c]);
			if (h->columns[c] != spec->columns[0])
				fprintf(upsert_out, ", %s = excluded.%s", h->columns[c], h->columns[c]);
		}
		fprintf(copy_out, ") FROM STDIN WITH (FORMAT csv, HEADER true)");
		written = !ferror(copy_out) && !ferror(upsert_out);
	}
	/* fclose sets the pointers even after a failed write; both are freed then. */
	if (copy_out && fclose(copy_out) != 0)
		written = false;
	if (upsert_out && fclose(upsert_out) != 0)
		written = false;
	if (!written) {
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory for the statements loading %s", spec->name);
		free(copy);
		free(upsert);
		return rc;
	}
	*ret_copy = copy;
	*ret_upsert = upsert;
	return rc;
}

/*
 * COPYs the header line and the rest of the file unchanged. A read failure
 * (MENTOR_ERR_IO) still ends the COPY, whose rows then stay uncommitted.
 */
static int copy_file(PGconn *conn, const char *sql, const char *line, size_t len, FILE *file,
		     struct mentor_error *err)
{
	char *buf = malloc(MENTOR_PG_COPY_PIECE_BYTES);
	int rc, end_rc;

	if (!buf)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory for the CSV file's data");
	rc = mentor_pg_copy_begin(conn, sql, err);
	if (rc != MENTOR_OK)
		goto out;
	rc = mentor_pg_copy_put(conn, sql, line, len, err);
	while (rc == MENTOR_OK) {
		size_t got = fread(buf, 1, MENTOR_PG_COPY_PIECE_BYTES, file);

		if (got > 0)
			rc = mentor_pg_copy_put(conn, sql, buf, got, err);
		if (got < MENTOR_PG_COPY_PIECE_BYTES) {
			if (ferror(file) && rc == MENTOR_OK)
				rc = mentor_error_set(err, MENTOR_ERR_IO, "read the CSV file: %s", strerror(errno));
			break;
		}
	}
	end_rc = mentor_pg_copy_end(conn, sql, rc == MENTOR_OK ? err : &(struct mentor_error){ 0 });
	if (rc == MENTOR_OK)
		rc = end_rc;
out:
	free(buf);
	return rc;
}

/* MENTOR_ERR_INVALID naming the first bad value the spec's check finds in csv, else MENTOR_OK. */
static int check_values(PGconn *conn, const struct csv_spec *spec, struct mentor_error *err)
{
	PGresult *res = NULL;
	int rc;

	if (!spec->check)
		return MENTOR_OK;
	rc = mentor_pg_exec(conn, spec->check, 0, NULL, "check the CSV values", &res, err);
	if (rc == MENTOR_OK && PQntuples(res) > 0)
		rc = mentor_error_set(err, MENTOR_ERR_INVALID, "%s %s: %s", spec->columns[0], PQgetvalue(res, 0, 0),
				      PQgetvalue(res, 0, 1));
	PQclear(res);
	return rc;
}

/* The rows of the temporary table. */
static int count_rows(PGconn *conn, long long *ret_rows, struct mentor_error *err)
{
	PGresult *res = NULL;
	int rc = mentor_pg_exec(conn, "SELECT count(*) FROM csv", 0, NULL, "count the CSV rows", &res, err);

	if (rc != MENTOR_OK)
		return rc;
	*ret_rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return MENTOR_OK;
}

int mentor_csv_load(const char *conninfo, const char *schema, const char *application_name,
		    enum mentor_csv_table table, FILE *file, long long *ret_rows, struct mentor_error *err)
{
	const struct csv_spec *spec;
	struct header h = { 0 };
	char *line = NULL, *copy_sql = NULL, *upsert_sql = NULL, *create_sql = NULL;
	size_t line_size = 0, create_size;
	ssize_t len;
	PGconn *conn = NULL;
	long long rows = 0;
	int rc;

	if ((unsigned)table >= sizeof(specs) / sizeof(specs[0]))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "no table %d to load from CSV", (int)table);
	spec = &specs[table];
	errno = 0;
	len = getline(&line, &line_size, file);
	if (len < 0 && (ferror(file) || errno == ENOMEM)) {
		rc = mentor_error_set(err, errno == ENOMEM ? MENTOR_ERR_NOMEM : MENTOR_ERR_IO,
				      "read the CSV file's header: %s", strerror(errno));
		goto out;
	}
	/* An empty file has an empty header, which lacks the key. */
	rc = parse_header(spec, len > 0 ? line : "", len > 0 ? (size_t)len : 0, &h, err);
	if (rc != MENTOR_OK)
		goto out;
	rc = build_sql(spec, &h, &copy_sql, &upsert_sql, err);
	if (rc != MENTOR_OK)
		goto out;
	create_size = strlen(spec->temp_columns) + sizeof("CREATE TEMP TABLE csv () ON COMMIT DROP");
	create_sql = malloc(create_size);
	if (!create_sql) {
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory for the statements loading %s", spec->name);
		goto out;
	}
	snprintf(create_sql, create_size, "CREATE TEMP TABLE csv (%s) ON COMMIT DROP", spec->temp_columns);
	/* The schema is not created: loading into one mentord has not made yet fails on the table. */
	rc = mentor_pg_connect_reader(conninfo, schema, application_name, &conn, err);
	if (rc != MENTOR_OK)
		goto out;
	/* One transaction: a failure anywhere leaves it open, and closing the connection rolls it back. */
	rc = mentor_pg_command(conn, "BEGIN", "begin the load", err);
	if (rc == MENTOR_OK)
		rc = mentor_pg_command(conn, create_sql, "create the CSV table", err);
	if (rc == MENTOR_OK)
		rc = copy_file(conn, copy_sql, line, len > 0 ? (size_t)len : 0, file, err);
	if (rc == MENTOR_OK)
		rc = check_values(conn, spec, err);
	if (rc == MENTOR_OK)
		rc = mentor_pg_command(conn, upsert_sql, "upsert the CSV rows", err);
	if (rc == MENTOR_OK)
		rc = count_rows(conn, &rows, err);
	if (rc == MENTOR_OK)
		rc = mentor_pg_command(conn, "COMMIT", "commit the load", err);
	if (rc == MENTOR_OK)
		*ret_rows = rows;
out:
	PQfinish(conn);
	free(create_sql);
	free(upsert_sql);
	free(copy_sql);
	free(line);
	return rc;
}
