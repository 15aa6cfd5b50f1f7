/* consumer_offsets (offsets.h), and mentor_store_offset_load of include/mentor/store.h. */
#include "offsets.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* $6: the batch's newest event time in microseconds, NULL if it had none (greatest() skips NULLs). */
static const char fence_offset_sql[] =
	"UPDATE consumer_offsets SET next_offset = $4, updated_at = now(),"
	"   max_event_at = greatest(max_event_at, 'epoch'::timestamptz + $6::bigint * interval '1 microsecond')"
	" WHERE group_id = $1 AND topic = $2 AND partition = $3 AND next_offset = $5";

int mentor_store_offset_load(struct mentor_store *s, const char *group, const char *topic,
			     int32_t partition, int64_t *ret_next, int64_t *ret_max_event_us, struct mentor_error *err)
{
	char part[16];
	const char *params[] = { group, topic, part };
	PGresult *res = NULL;
	int rc;

	snprintf(part, sizeof(part), "%" PRId32, partition);
	/* Takes the connection: a rebalance while a batch is open, the offset row must not wait for its commit. */
	rc = mentor_store_exec(s, "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset)"
			       " VALUES ($1, $2, $3, -1) ON CONFLICT DO NOTHING",
			       3, params, "create offset row", NULL, err);
	if (rc != MENTOR_OK)
		return rc;
	rc = mentor_store_exec(s, "SELECT next_offset, (extract(epoch FROM max_event_at) * 1000000)::bigint"
			       " FROM consumer_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3",
			       3, params, "load offset", &res, err);
	if (rc != MENTOR_OK)
		return rc;
	if (PQntuples(res) != 1)
		rc = mentor_error_set(err, MENTOR_ERR_DB, "offset row for %s[%" PRId32 "] vanished", topic, partition);
	else {
		*ret_next = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*ret_max_event_us = PQgetisnull(res, 0, 1) ? MENTOR_NO_EVENT_TIME
							   : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	return rc;
}

int mentor_offsets_fence(PGconn *conn, const char *group, const struct mentor_offset_update *u, size_t n,
			 struct mentor_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char part[16], next[24], expected[24], event_us[24];
		const char *params[] = { group, u[i].topic, part, next, expected,
					 u[i].max_event_us == MENTOR_NO_EVENT_TIME ? NULL : event_us };
		PGresult *res = NULL;
		int rc;

		snprintf(part, sizeof(part), "%" PRId32, u[i].partition);
		snprintf(next, sizeof(next), "%" PRId64, u[i].next);
		snprintf(expected, sizeof(expected), "%" PRId64, u[i].expected_next);
		snprintf(event_us, sizeof(event_us), "%" PRId64, u[i].max_event_us);
		rc = mentor_pg_exec(conn, fence_offset_sql, 6, params, "store offset", &res, err);
		if (rc != MENTOR_OK)
			return rc;
		rc = strcmp(PQcmdTuples(res), "1") == 0 ? MENTOR_OK : MENTOR_ERR_FENCED;
		PQclear(res);
		if (rc != MENTOR_OK)
			return mentor_error_set(err, rc, "%s[%" PRId32 "]: stored offset is no longer %" PRId64
						" (another instance owns the partition)",
						u[i].topic, u[i].partition, u[i].expected_next);
	}
	return MENTOR_OK;
}
