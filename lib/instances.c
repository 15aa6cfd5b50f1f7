/* The instances of a consumer group and the programs they decide (instances.h). */
#include "instances.h"

#include <string.h>

#include "analytics_int.h"
#include "analytics_sql.h"
#include "hash.h"

/*
 * The group's instance lock ($1: the group), in the two-key form, so that
 * pg_locks shows it as (classid, objid, objsubid) = (key, 0, 2), apart from
 * the one-key program locks (lib/decider.c).
 */
#define INSTANCES_KEY "hashtext('mentord.instances.' || current_schema() || '.' || $1)"
#define HOLDERS_OF_INSTANCES_KEY \
	"FROM pg_locks WHERE locktype = 'advisory' AND granted AND mode = 'ShareLock'" \
	" AND classid = " INSTANCES_KEY "::oid AND objid = 0 AND objsubid = 2"

int an_instances_join(struct mentor_store *s, const char *group, int *ret_count, int *ret_session,
		      struct mentor_error *err)
{
	const char *params[] = { group };
	PGresult *res = NULL;
	int rc = mentor_store_exec(s,
				   "SELECT pg_backend_pid(), EXISTS (SELECT 1 " HOLDERS_OF_INSTANCES_KEY
				   " AND pid = pg_backend_pid()) OR pg_try_advisory_lock_shared(" INSTANCES_KEY ", 0)",
				   1, params, "join the group's instances", &res, err);

	if (rc == MENTOR_OK) {
		*ret_session = (int)an_get_i64(res, 0, 0);
		if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
			rc = mentor_error_set(err, MENTOR_ERR_DB, "could not join the group's instances");
	}
	PQclear(res);
	res = NULL;
	/* Another statement: pg_locks in the one above may not show a lock it takes. */
	if (rc == MENTOR_OK)
		rc = mentor_store_exec(s, "SELECT count(DISTINCT pid) " HOLDERS_OF_INSTANCES_KEY, 1, params,
				       "count the group's instances", &res, err);
	if (rc == MENTOR_OK)
		*ret_count = (int)an_get_i64(res, 0, 0);
	PQclear(res);
	return rc;
}

size_t an_fair_share(size_t n_programs, int n_instances)
{
	size_t n = n_instances > 0 ? (size_t)n_instances : 1;

	return (n_programs + n - 1) / n;
}

uint64_t an_program_weight(const char *program, int session)
{
	uint64_t h = mentor_hash_bytes(program, strlen(program)) ^ ((uint64_t)(uint32_t)session * UINT64_C(0x9e3779b97f4a7c15));

	/* A final mix (splitmix64's), so that nearby sessions rank programs unlike each other. */
	h = (h ^ (h >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	h = (h ^ (h >> 27)) * UINT64_C(0x94d049bb133111eb);
	return h ^ (h >> 31);
}

size_t an_programs_to_release(const uint64_t *weight, const bool *held, size_t n, size_t share, bool *release)
{
	size_t n_held = 0, released = 0;

	for (size_t i = 0; i < n; i++) {
		release[i] = false;
		n_held += held[i];
	}
	while (n_held - released > share) {
		size_t least = n;

		for (size_t i = 0; i < n; i++)
			if (held[i] && !release[i] && (least == n || weight[i] < weight[least]))
				least = i;
		release[least] = true;
		released++;
	}
	return released;
}

int an_read_peers(struct mentor_store *s, const char *group, bool (*runs_here)(void *ctx, const char *program),
		  void *ctx, struct an_peers *ret, struct mentor_error *err)
{
	PGresult *res = NULL;
	int rc = mentor_store_exec(s,
				   "SELECT program, " US_OF("next_round_at") ", " US_OF("newest_at")
				   "  FROM analytics_state WHERE group_id = $1",
				   1, (const char *const[]){ group }, "read what the other programs' deciders published",
				   &res, err);

	*ret = (struct an_peers){ .newest_us = INT64_MIN, .next_round_us = INT64_MAX };
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		const char *program = PQgetvalue(res, i, 0);
		int64_t next;

		if (runs_here(ctx, program))
			continue;
		if (!PQgetisnull(res, i, 2) && an_get_i64(res, i, 2) > ret->newest_us)
			ret->newest_us = an_get_i64(res, i, 2);
		if (PQgetisnull(res, i, 1))
			continue;
		next = an_get_i64(res, i, 1);
		if (next < ret->next_round_us ||
		    (next == ret->next_round_us && strcmp(program, ret->next_program) < 0)) {
			ret->next_round_us = next;
			snprintf(ret->next_program, sizeof(ret->next_program), "%s", program);
		}
	}
	PQclear(res);
	return rc;
}

bool an_round_before_peers(const struct an_peers *peers, int64_t at_us, const char *program)
{
	return at_us < peers->next_round_us ||
	       (at_us == peers->next_round_us && strcmp(program, peers->next_program) < 0);
}
