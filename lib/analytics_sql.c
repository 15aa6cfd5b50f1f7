/*
 * What the analytics' SQL needs: statements in the run's transaction, values
 * as text parameters and back from result columns, PostgreSQL array literals,
 * and the native scale of each metric (the metrics table). Internal to lib/.
 */
#include "analytics_sql.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics_int.h"

int an_nomem(struct mentor_error *err)
{
	return mentor_error_set(err, MENTOR_ERR_NOMEM, "analytics: out of memory");
}

/* A timestamp PostgreSQL reads: "2026-11-02 14:05:11.000000+00", or +-infinity. */
void an_time_text(int64_t us, char out[TIME_TEXT])
{
	int64_t secs = us / 1000000, frac = us % 1000000;
	struct tm tm;
	time_t t;

	if (us == INT64_MAX || us == NO_TIME) {
		snprintf(out, TIME_TEXT, "%s", us == INT64_MAX ? "infinity" : "-infinity");
		return;
	}
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	t = (time_t)secs;
	gmtime_r(&t, &tm);
	snprintf(out, TIME_TEXT, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
}

void an_day_text(int64_t day, char out[TIME_TEXT])
{
	time_t t = (time_t)(day * 86400);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, TIME_TEXT, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* A number as a parameter; NULL (SQL NULL) when not finite. */
const char *an_num_text(double v, char out[NUM_TEXT])
{
	if (!isfinite(v))
		return NULL;
	snprintf(out, NUM_TEXT, "%.17g", v);
	return out;
}

const char *an_int_text(int64_t v, char out[NUM_TEXT])
{
	snprintf(out, NUM_TEXT, "%" PRId64, v);
	return out;
}

int64_t an_get_i64(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NO_TIME : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

enum mentor_event_kind an_source_of(const PGresult *res, int row, int col)
{
	return strcmp(PQgetvalue(res, row, col), "t") == 0 ? MENTOR_EVENT_AQM : MENTOR_EVENT_VOC;
}

double an_get_f(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NAN : strtod(PQgetvalue(res, row, col), NULL);
}

const char *an_get_s(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

int an_q(struct run *r, const char *sql, int n, const char *const *values, const char *what, PGresult **ret)
{
	return mentor_store_exec(r->s, sql, n, values, what, ret, r->err);
}

void an_free_scales(struct an_program *an)
{
	for (size_t i = 0; i < an->n_scales; i++)
		free(an->scales[i].name);
	free(an->scales);
	an->scales = NULL;
	an->n_scales = 0;
}

static int add_scale(struct an_program *an, const char *name, double lo, double hi, struct mentor_error *err)
{
	struct metric_scale *grown = realloc(an->scales, (an->n_scales + 1) * sizeof(*grown));

	if (!grown)
		return an_nomem(err);
	an->scales = grown;
	if (!(grown[an->n_scales].name = strdup(name)))
		return an_nomem(err);
	grown[an->n_scales++].sc = (struct mentor_scale){ .min = lo, .max = hi };
	return MENTOR_OK;
}

int an_load_scales(struct run *r)
{
	PGresult *res = NULL;
	int rc = an_q(r, "SELECT metric, scale_min::float8, scale_max::float8 FROM metrics", 0, NULL, "read metrics", &res);

	an_free_scales(r->an);
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++)
		rc = add_scale(r->an, PQgetvalue(res, i, 0), an_get_f(res, i, 1), an_get_f(res, i, 2), r->err);
	PQclear(res);
	return rc;
}

/* A metric's native scale; 0..1 if the metrics table does not know it (it always should). */
int an_scale_of(struct run *r, const char *metric, struct mentor_scale *ret)
{
	int rc = MENTOR_OK;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < r->an->n_scales; i++)
			if (strcmp(r->an->scales[i].name, metric) == 0) {
				*ret = r->an->scales[i].sc;
				return MENTOR_OK;
			}
		if (!r->s)  /* an early evaluation (analytics.c) has no connection */
			return mentor_error_set(r->err, MENTOR_ERR_RETRY, "analytics: no scale for %s without a connection",
						metric);
		/* New metrics come with the batch that first carries them: read the table again. */
		if (pass == 0 && (rc = an_load_scales(r)) != MENTOR_OK)
			return rc;
	}
	*ret = (struct mentor_scale){ .min = 0, .max = 1 };
	return MENTOR_OK;
}

json_t *an_json_num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

int an_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}
