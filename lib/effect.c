/*
 * The program effect (SPEC section 4): final mentee windows against final
 * comparison windows, per behavior and metric, recomputed into
 * program_effect. Internal to lib/.
 */
#include "effect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_int.h"
#include "analytics_sql.h"

/* Final mentee windows against final comparison windows, per (behavior, metric), in a fixed order. */
static const char effect_rows_sql[] =
	"SELECT * FROM ("
	"SELECT p.behavior, k.metric, k.is_target, false AS comparison, k.before_n, k.before_sum_e6, k.after_n,"
	"       k.after_sum_e6, k.pairing_id AS owner"
	"  FROM pairing_kpis k JOIN pairings p USING (pairing_id)"
	" WHERE k.program = $1 AND k.subject = 'mentee' AND k.final AND k.before_n > 0 AND k.after_n > 0 AND p.status <> 'cancelled'"
	" UNION ALL "
	"SELECT t.behavior, c.metric, c.is_target, true, c.before_n, c.before_sum_e6, c.after_n, c.after_sum_e6,"
	"       c.trigger_id"
	"  FROM comparison_kpis c JOIN triggers t USING (trigger_id)"
	" WHERE c.program = $1 AND c.final AND c.before_n > 0 AND c.after_n > 0"
	") u ORDER BY behavior COLLATE \"C\", metric COLLATE \"C\", comparison, owner COLLATE \"C\"";

static const char insert_effect_sql[] =
	"INSERT INTO program_effect (behavior, metric, is_target, paired_n, comparison_n, naive_delta,"
	" comparison_delta, did_effect, ci_low, ci_high, cuped, theta, as_of, program)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

static double mean_delta(const struct mentor_before_after *x, size_t n)
{
	double s = 0;

	for (size_t i = 0; i < n; i++)
		s += x[i].after - x[i].before;
	return n ? s / (double)n : NAN;
}

/* Rows [from, to) of res are one (behavior, metric): computes and inserts its effect. */
static int insert_effect(struct run *r, const PGresult *res, int from, int to, struct mentor_before_after *paired,
			 struct mentor_before_after *comparison, int64_t as_of_us)
{
	const char *behavior = PQgetvalue(res, from, 0), *metric = PQgetvalue(res, from, 1);
	size_t np = 0, nc = 0;
	struct mentor_program_effect e;
	struct mentor_scale sc;
	char v[9][NUM_TEXT], at[TIME_TEXT];
	double naive, comp;
	int rc;

	for (int i = from; i < to; i++) {
		struct mentor_before_after ba = {
			.before = an_get_f(res, i, 5) / 1e6 / an_get_f(res, i, 4),
			.after = an_get_f(res, i, 7) / 1e6 / an_get_f(res, i, 6),
		};

		if (strcmp(PQgetvalue(res, i, 3), "t") == 0)
			comparison[nc++] = ba;
		else
			paired[np++] = ba;
	}
	if ((rc = an_scale_of(r, metric, &sc)) != MENTOR_OK)
		return rc;
	rc = mentor_stats_program_effect(paired, np, comparison, nc, r->an->cfg->cuped,
					 r->an->cfg->stats.kpi.confidence, &e, r->err);
	if (rc != MENTOR_OK)
		return rc;
	naive = mentor_stats_native_diff(mean_delta(paired, np), &sc);
	comp = mentor_stats_native_diff(mean_delta(comparison, nc), &sc);
	mentor_stats_effect_to_native(&e, &sc);
	an_time_text(as_of_us, at);
	return an_q(r, insert_effect_sql, 14,
		 (const char *const[]){ behavior, metric, PQgetvalue(res, from, 2), an_int_text((int64_t)np, v[0]),
					an_int_text((int64_t)nc, v[1]), an_num_text(naive, v[2]), an_num_text(comp, v[3]),
					an_num_text(e.did, v[4]), an_num_text(e.ci_low, v[5]), an_num_text(e.ci_high, v[6]),
					e.cuped ? "true" : "false", an_num_text(e.theta, v[7]), at, r->an->program },
		 "insert program_effect", NULL);
}

int an_refresh_program_effect(struct run *r, int64_t as_of_us)
{
	struct mentor_before_after *paired = NULL, *comparison = NULL;
	PGresult *res = NULL;
	const char *const program[1] = { r->an->program };
	int rc = an_q(r, "DELETE FROM program_effect WHERE program = $1", 1, program, "clear program_effect", NULL);
	int n, from = 0;

	if (rc == MENTOR_OK)
		rc = an_q(r, effect_rows_sql, 1, program, "read KPI rows for the program effect", &res);
	if (rc != MENTOR_OK)
		goto out;
	n = PQntuples(res);
	paired = malloc((size_t)n * sizeof(*paired) + 1);
	comparison = malloc((size_t)n * sizeof(*comparison) + 1);
	if (!paired || !comparison) {
		rc = an_nomem(r->err);
		goto out;
	}
	for (int i = 1; rc == MENTOR_OK && i <= n; i++)
		if (i == n || strcmp(PQgetvalue(res, i, 0), PQgetvalue(res, from, 0)) != 0 ||
		    strcmp(PQgetvalue(res, i, 1), PQgetvalue(res, from, 1)) != 0) {
			rc = insert_effect(r, res, from, i, paired, comparison, as_of_us);
			from = i;
		}
out:
	free(paired);
	free(comparison);
	PQclear(res);
	return rc;
}
