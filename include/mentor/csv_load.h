/*
 * Loading a table from a CSV file with a header line (SPEC section 1: the
 * roster and the team leads' alert routes "loadable from CSV or SQL"), for
 * tools/mentord-load-csv.
 *
 * The header line names the columns, in any order; only the table's own
 * column names may appear, and its key must. The file's bytes go unchanged
 * into a COPY to a temporary table, then one upsert writes the table in the
 * same transaction: values never become SQL text, and a bad file loads
 * nothing. A row that exists already changes only in the columns the header
 * names (an empty field clears the value, a column left out keeps it); a new
 * row takes the defaults (agents: active true; team leads: body_format json).
 * An agent's programs are one field, names separated by '|' (blanks around
 * each trimmed, duplicates and empty names dropped), each name obeying the
 * id rules of events, at most MENTOR_SCORES_MAX of them.
 */
#ifndef MENTOR_CSV_LOAD_H
#define MENTOR_CSV_LOAD_H

#include <stdio.h>

#include "mentor/error.h"

/* The tables a CSV file loads into, with the columns a header may name (the key first). */
enum mentor_csv_table {
	MENTOR_CSV_AGENTS,      /* agents: agent_id, name, team_id, team_lead_id, site, language, active, programs */
	MENTOR_CSV_TEAM_LEADS,  /* team_leads: team_lead_id, name, webhook_url, body_format, secret_ref */
};

/* The table called `name` ("agents", "team_leads"): MENTOR_OK and *ret_table, else MENTOR_ERR_INVALID. */
int mentor_csv_table_from_name(const char *name, enum mentor_csv_table *ret_table, struct mentor_error *err);

/*
 * Loads the CSV read from `file` (from where it stands to its end; the
 * caller opens and closes it) into `table` of `schema`, over a connection of
 * its own (conninfo as libpq reads it, "" leaving everything to the PG*
 * variables; application_name NULL keeps libpq's default) that never creates
 * the schema. The header is checked before connecting. MENTOR_OK and
 * *ret_rows, the number of rows the file held; MENTOR_ERR_INVALID for a
 * header naming an unknown column, a column twice, or not the key, or for
 * an agent's programs breaking their rules (the message names it), with
 * nothing loaded; MENTOR_ERR_IO when the file cannot
 * be read; MENTOR_ERR_DB (nothing loaded) or MENTOR_ERR_NOMEM.
 */
int mentor_csv_load(const char *conninfo, const char *schema, const char *application_name,
		    enum mentor_csv_table table, FILE *file, long long *ret_rows, struct mentor_error *err);

#endif
