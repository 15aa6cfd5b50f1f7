#include "pg.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQLSTATE_UNIQUE_VIOLATION "23505"

int mentor_pg_error(PGconn *conn, const PGresult *res, const char *what, struct mentor_error *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[400];

	snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
	msg[strcspn(msg, "\n")] = '\0';
	mentor_error_set(err, MENTOR_ERR_DB, "%s: %s%s%s%s", what, msg, state ? " (SQLSTATE " : "",
			 state ? state : "", state ? ")" : "");
	if (err && state)
		snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state);
	return MENTOR_ERR_DB;
}

int mentor_pg_exec(PGconn *conn, const char *sql, int n, const char *const *values, const char *what,
		   PGresult **ret_res, struct mentor_error *err)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		int rc = mentor_pg_error(conn, res, what, err);

		PQclear(res);
		return rc;
	}
	if (ret_res)
		*ret_res = res;
	else
		PQclear(res);
	return MENTOR_OK;
}

static void drop_notice(void *ctx, const char *message)
{
	(void)ctx;
	(void)message;
}

/* Runs sql without parameters (PQexec: several statements allowed); MENTOR_ERR_DB unless its result is `want`. */
static int exec_expecting(PGconn *conn, const char *sql, ExecStatusType want, const char *what,
			  struct mentor_error *err)
{
	PGresult *res = PQexec(conn, sql);
	int rc = MENTOR_OK;

	if (PQresultStatus(res) != want)
		rc = mentor_pg_error(conn, res, what, err);
	PQclear(res);
	return rc;
}

int mentor_pg_command(PGconn *conn, const char *sql, const char *what, struct mentor_error *err)
{
	return exec_expecting(conn, sql, PGRES_COMMAND_OK, what, err);
}

int mentor_pg_copy_begin(PGconn *conn, const char *sql, struct mentor_error *err)
{
	return exec_expecting(conn, sql, PGRES_COPY_IN, sql, err);
}

int mentor_pg_copy_put(PGconn *conn, const char *sql, const char *data, size_t len, struct mentor_error *err)
{
	for (size_t done = 0; done < len;) {
		size_t piece = len - done > MENTOR_PG_COPY_PIECE_BYTES ? MENTOR_PG_COPY_PIECE_BYTES : len - done;

		if (PQputCopyData(conn, data + done, (int)piece) != 1)
			return mentor_pg_error(conn, NULL, sql, err);
		done += piece;
	}
	return MENTOR_OK;
}

int mentor_pg_copy_end(PGconn *conn, const char *sql, struct mentor_error *err)
{
	PGresult *res;
	int rc = MENTOR_OK;

	if (PQputCopyEnd(conn, NULL) != 1)
		return mentor_pg_error(conn, NULL, sql, err);
	while ((res = PQgetResult(conn)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == MENTOR_OK)
			rc = mentor_pg_error(conn, res, sql, err);
		PQclear(res);
	}
	return rc;
}

int mentor_pg_copy(PGconn *conn, const char *sql, const char *data, size_t len, struct mentor_error *err)
{
	int rc = mentor_pg_copy_begin(conn, sql, err), end_rc;

	if (rc != MENTOR_OK)
		return rc;
	rc = mentor_pg_copy_put(conn, sql, data, len, err);
	end_rc = mentor_pg_copy_end(conn, sql, rc == MENTOR_OK ? err : &(struct mentor_error){ 0 });
	return rc != MENTOR_OK ? rc : end_rc;
}

/* The schema, search path and session settings of every mentord connection; create: the schema is made if missing. */
static int set_session(PGconn *conn, const char *schema, bool create, struct mentor_error *err)
{
	static const char format[] = "SET client_min_messages = warning; %s%s%s SET search_path = %s;"
				     " SET TIME ZONE 'UTC'; SET work_mem = '64MB'; SET jit = off";
	char *ident = PQescapeIdentifier(conn, schema, strlen(schema));
	struct mentor_error e = { 0 };
	char *sql = NULL;
	size_t size;
	int rc;

	if (!ident)
		return mentor_pg_error(conn, NULL, "quote schema name", err);
	/* Sized for the name: a tool's schema comes from its command line, not validated as the daemon's is. */
	size = sizeof(format) + 2 * strlen(ident) + sizeof("CREATE SCHEMA IF NOT EXISTS ;");
	sql = malloc(size);
	if (!sql) {
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory for the session settings");
		goto out;
	}
	snprintf(sql, size, format, create ? "CREATE SCHEMA IF NOT EXISTS " : "", create ? ident : "",
		 create ? ";" : "", ident);
	rc = mentor_pg_command(conn, sql, "set schema", &e);
	/*
	 * IF NOT EXISTS does not hold against a concurrent CREATE: of two
	 * connections creating a new schema at once (the store's and the
	 * outbox's, or two instances starting together), one fails on
	 * pg_namespace's unique index. The schema exists then, and the session
	 * is idle again (the statements ran in one implicit transaction).
	 */
	if (rc != MENTOR_OK && strcmp(e.sqlstate, SQLSTATE_UNIQUE_VIOLATION) == 0)
		rc = mentor_pg_command(conn, sql, "set schema", &e);
	if (rc != MENTOR_OK && err)
		*err = e;
out:
	free(sql);
	PQfreemem(ident);
	return rc;
}

/* application_name NULL: libpq's default (PGAPPNAME or none). */
static int open_session(const char *conninfo, const char *schema, const char *application_name, bool create,
			mentor_pg_notice_fn notice, void *notice_ctx, PGconn **ret_conn, struct mentor_error *err)
{
	/* connect_timeout and application_name come first so that the caller's conninfo can override them;
	 * libpq skips a NULL value. */
	const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *const values[] = { "10", application_name, conninfo, NULL };
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	int rc;

	if (!conn)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory connecting to PostgreSQL");
	if (PQstatus(conn) != CONNECTION_OK) {
		rc = mentor_pg_error(conn, NULL, "connect to PostgreSQL", err);
		goto out;
	}
	PQsetNoticeProcessor(conn, notice ? notice : drop_notice, notice_ctx);
	rc = set_session(conn, schema, create, err);
out:
	if (rc != MENTOR_OK)
		PQfinish(conn);
	else
		*ret_conn = conn;
	return rc;
}

int mentor_pg_connect(const char *conninfo, const char *schema, mentor_pg_notice_fn notice, void *notice_ctx,
		      PGconn **ret_conn, struct mentor_error *err)
{
	return open_session(conninfo, schema, "mentord", true, notice, notice_ctx, ret_conn, err);
}

int mentor_pg_connect_reader(const char *conninfo, const char *schema, const char *application_name,
			     PGconn **ret_conn, struct mentor_error *err)
{
	return open_session(conninfo, schema, application_name, false, NULL, NULL, ret_conn, err);
}
