/*
 * What the tools read back from mentord's tables: the program report
 * (tools/mentord-report.c) reads the dashboard views of
 * lib/sql/015_dashboards_programs.sql, one program at a time; the
 * generator's closed loop (tools/mentord-gen.c) reads the stored offsets and
 * the pairings.
 *
 * A reader owns one connection with mentord's session settings (time zone
 * UTC, the schema as the search path), and never creates the schema. Every
 * query is one function; its rows come back as a table of text cells, as
 * PostgreSQL prints them, so that the tools need no libpq.
 */
#ifndef MENTOR_READBACK_H
#define MENTOR_READBACK_H

#include <stdbool.h>

#include "mentor/error.h"

struct mentor_readback;

/*
 * One query's rows: columns named, cells as text. Filled by the query
 * functions below; free with mentor_readback_table_free. Every pointer
 * points into memory the table owns.
 */
struct mentor_readback_table {
	int rows;
	int columns;
	const char **names;  /* [columns]: the result's column names */
	const char **cells;  /* [row * columns + column]: the text, NULL for an SQL NULL */
	char *text;          /* the storage of names and cells */
};

/*
 * Connects to mentord's PostgreSQL (conninfo as libpq reads it; "" leaves
 * everything to the PG* variables) with `schema` as the search path.
 * application_name NULL keeps libpq's default. schema_must_exist: fail when
 * the schema does not exist (the report has nothing to show); otherwise the
 * queries fail with SQLSTATE 42P01 until mentord has created its tables
 * (the generator waits for it). Returns MENTOR_OK and *ret_rb (close with
 * mentor_readback_close); MENTOR_ERR_INVALID when the schema must exist and
 * does not; MENTOR_ERR_DB or MENTOR_ERR_NOMEM.
 */
int mentor_readback_open(const char *conninfo, const char *schema, const char *application_name,
			 bool schema_must_exist, struct mentor_readback **ret_rb, struct mentor_error *err);

/* Closes the connection and frees the reader; safe on NULL. */
void mentor_readback_close(struct mentor_readback *rb);

/* Frees what the table holds and empties it; safe on an empty (zeroed) table. */
void mentor_readback_table_free(struct mentor_readback_table *t);

/* The index of the column named `name`, or -1. */
int mentor_readback_column(const struct mentor_readback_table *t, const char *name);

/* The cell's text, NULL for an SQL NULL. row and column must be in range. */
const char *mentor_readback_cell(const struct mentor_readback_table *t, int row, int column);

/*
 * The query functions. Each returns MENTOR_OK with *ret_table filled (the
 * caller frees it with mentor_readback_table_free), or MENTOR_ERR_DB (the
 * SQLSTATE in err->sqlstate) or MENTOR_ERR_NOMEM, *ret_table untouched.
 * `program` names one program (a row of mentor_readback_programs): the
 * dashboard queries read that program's rows only.
 */

/* The programs the analytics have decided, in name order (byte order, as the analytics order them), with their
 * event time (dash_event_time): program, now_at as "YYYY-MM-DD HH24:MI:SS UTC". No row before the analytics ran. */
int mentor_readback_programs(struct mentor_readback *rb, struct mentor_readback_table *ret_table,
			     struct mentor_error *err);

/* dash_program_effect's targeted rows of the program, by behavior: behavior, paired_n, comparison_n, did_effect,
 * did_ci_low, did_ci_high, naive_delta_not_effect, comparison_delta, verdict, scale_min, scale_max, cuped. */
int mentor_readback_program_effect(struct mentor_readback *rb, const char *program,
				   struct mentor_readback_table *ret_table, struct mentor_error *err);

/* dash_trigger_changes of the program as running sums, one row per UTC day from its first trigger to its event-time
 * now, days without a change included: day, awaiting, waiting, fired (that day). */
int mentor_readback_trigger_trend(struct mentor_readback *rb, const char *program,
				  struct mentor_readback_table *ret_table, struct mentor_error *err);

/* dash_pairing_kpis of the program, the mentees in their targeted behavior: the latest `per_behavior` pairings of
 * each behavior (latest first, by behavior): behavior, pairing_id, agent_id, name, partner_id, started_at,
 * before_mean, after_mean, delta, ci_low, ci_high, final, scale_min, scale_max, pairing_status, rank, total (the
 * behavior's pairings). */
int mentor_readback_pairing_kpis(struct mentor_readback *rb, const char *program, int per_behavior,
				 struct mentor_readback_table *ret_table, struct mentor_error *err);

/* dash_mentor_kpis of the program for one metric, the `limit` mentors with the most pairings: mentor_id, name,
 * pairings, avg_before_mean, avg_after_mean, avg_delta, scale_min, scale_max, final_pairings. */
int mentor_readback_mentor_kpis(struct mentor_readback *rb, const char *program, const char *metric, int limit,
				struct mentor_readback_table *ret_table, struct mentor_error *err);

/* dash_active_pairings of the program, fewest days remaining first: behavior, mentee_id, mentee_name, mentor_id,
 * mentor_name, started_at, days_remaining, target_delta, target_ci_low, target_ci_high, target_scale_min,
 * target_scale_max. */
int mentor_readback_active_pairings(struct mentor_readback *rb, const char *program,
				    struct mentor_readback_table *ret_table, struct mentor_error *err);

/* The consumer group's stored offsets (consumer_offsets): topic, partition, next_offset. */
int mentor_readback_consumer_offsets(struct mentor_readback *rb, const char *group,
				     struct mentor_readback_table *ret_table, struct mentor_error *err);

/* The pairings not cancelled: mentee_id, behavior, started (seconds since the epoch, float8 text). */
int mentor_readback_pairings(struct mentor_readback *rb, struct mentor_readback_table *ret_table,
			     struct mentor_error *err);

#endif
