/*
 * Schema migrations (mentor_store_migrate, in include/mentor/store.h): the
 * SQL of lib/sql/ compiled in (migrations.h), each applied once, recorded in
 * schema_migrations.
 */
#include "mentor/store.h"

#include <stdio.h>

#include "migrations.h"
#include "store_int.h"

static int apply_migration(struct mentor_store *s, const struct mentor_migration *m, int *ret_applied,
			   struct mentor_error *err)
{
	char version[16];
	const char *params[] = { version, m->name, mentor_store_schema(s) };
	PGresult *res = NULL;
	int rc;

	snprintf(version, sizeof(version), "%d", m->version);
	rc = mentor_store_command(s, "BEGIN", "begin migration", err);
	if (rc != MENTOR_OK)
		return rc;
	rc = mentor_store_exec(s, "SELECT pg_advisory_xact_lock(hashtext('mentord.migrate.' || $1))", 1, &params[2],
			       "lock migrations", NULL, err);
	if (rc != MENTOR_OK)
		goto out;
	rc = mentor_store_exec(s, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params,
			       "read schema_migrations", &res, err);
	if (rc != MENTOR_OK || PQntuples(res) > 0)
		goto out;
	rc = mentor_store_command(s, m->sql, m->name, err);
	if (rc != MENTOR_OK)
		goto out;
	rc = mentor_store_exec(s, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, params,
			       "record migration", NULL, err);
	if (rc == MENTOR_OK)
		(*ret_applied)++;
out:
	PQclear(res);
	if (rc == MENTOR_OK)
		return mentor_store_command(s, "COMMIT", "commit migration", err);
	mentor_store_rollback(s);
	return rc;
}

int mentor_store_migrate(struct mentor_store *s, int *ret_applied, struct mentor_error *err)
{
	int applied = 0;
	int rc;

	rc = mentor_store_command(s, "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
				  " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
				  "create schema_migrations", err);
	for (size_t i = 0; rc == MENTOR_OK && i < mentor_migration_count; i++)
		rc = apply_migration(s, &mentor_migrations[i], &applied, err);
	if (rc == MENTOR_OK)
		rc = mentor_store_schema_current(s, err);
	if (rc == MENTOR_OK && ret_applied)
		*ret_applied = applied;
	return rc;
}
