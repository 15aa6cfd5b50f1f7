/*
 * What the analytics' SQL needs: statements in the run's transaction, values
 * as text parameters and back from result columns, PostgreSQL array literals,
 * and the native scale of each metric (the metrics table). Internal to lib/.
 */
#ifndef MENTOR_ANALYTICS_SQL_H
#define MENTOR_ANALYTICS_SQL_H

#include "analytics_int.h"

/* MENTOR_ERR_NOMEM with a message. */
int an_nomem(struct mentor_error *err);

/* A timestamp PostgreSQL reads ("2026-11-02 14:05:11.000000+00"), or +-infinity for INT64_MAX/MIN. */
void an_time_text(int64_t us, char out[TIME_TEXT]);

/* A UTC day (days since 1970-01-01) as a date PostgreSQL reads ("2026-11-02"). */
void an_day_text(int64_t day, char out[TIME_TEXT]);

/* A number as a query parameter; NULL (SQL NULL) when not finite. */
const char *an_num_text(double v, char out[NUM_TEXT]);
const char *an_int_text(int64_t v, char out[NUM_TEXT]);

/* Result columns: NULL as NO_TIME, NaN, NULL. */
int64_t an_get_i64(const PGresult *res, int row, int col);
double an_get_f(const PGresult *res, int row, int col);
const char *an_get_s(const PGresult *res, int row, int col);

/* The source of a score event from a boolean column `kind = 'aqm'`: MENTOR_EVENT_AQM or _VOC. */
enum mentor_event_kind an_source_of(const PGresult *res, int row, int col);

/* One parameterized statement in the run's transaction (mentor_store_exec). */
int an_q(struct run *r, const char *sql, int n, const char *const *values, const char *what, PGresult **ret);

/* qsort/bsearch comparator of C strings held in an array of const char *. */
int an_cmp_str(const void *a, const void *b);

/* A JSON number, or null when not finite. */
json_t *an_json_num(double v);

/* Reads the metrics table's scales. MENTOR_OK or MENTOR_ERR_DB/_NOMEM. */
int an_load_scales(struct run *r);

/* A metric's native scale (metrics table); 0..1 if unknown. MENTOR_OK or MENTOR_ERR_DB. */
int an_scale_of(struct run *r, const char *metric, struct mentor_scale *ret);

/* Forgets the scales read. */
void an_free_scales(struct an_program *an);

#endif
