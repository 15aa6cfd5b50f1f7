/* Compactions of agent_daily_parts on a connection of their own (compaction.h). */
#include "compaction.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const char compact_sql[] =
	"SELECT compact_agent_daily(DATE '1970-01-01' + $1::integer, DATE '1970-01-01' + $2::integer)";

void mentor_compaction_init(struct mentor_compaction *c, const char *conninfo, const char *schema,
			    mentor_pg_notice_fn notice, void *notice_ctx)
{
	c->conninfo = conninfo;
	c->schema = schema;
	c->notice = notice;
	c->notice_ctx = notice_ctx;
}

void mentor_compaction_stop(struct mentor_compaction *c)
{
	PGcancel *cancel = c->running ? PQgetCancel(c->conn) : NULL;
	char msg[256];

	if (cancel) {
		PQcancel(cancel, msg, sizeof(msg));
		PQfreeCancel(cancel);
	}
	PQfinish(c->conn);
	c->conn = NULL;
	c->running = false;
}

/* Collects the compaction in flight if it has finished: the day's rows after it become its base. */
static void poll_compaction(struct mentor_compaction *c)
{
	PGresult *res;
	bool ok = false;

	if (!c->running)
		return;
	if (!PQconsumeInput(c->conn)) {
		mentor_compaction_stop(c);
		return;
	}
	if (PQisBusy(c->conn))
		return;
	while ((res = PQgetResult(c->conn))) {
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		    mentor_compaction_policy_done(&c->policy, c->day, strtoull(PQgetvalue(res, 0, 0), NULL, 10)))
			ok = true;
		PQclear(res);
	}
	c->running = false;
	/* A failure shows at the next compaction's connect; the rows only wait longer. */
	if (!ok && PQstatus(c->conn) != CONNECTION_OK)
		mentor_compaction_stop(c);
}

/* Sends the compaction of one day, without waiting. */
static void start_compaction(struct mentor_compaction *c, int32_t day)
{
	struct mentor_error ignored;
	char day_text[16];
	const char *params[] = { day_text, day_text };

	if (!c->conn &&
	    mentor_pg_connect(c->conninfo, c->schema, c->notice, c->notice_ctx, &c->conn, &ignored) != MENTOR_OK)
		return;
	snprintf(day_text, sizeof(day_text), "%" PRId32, day);
	if (!PQsendQueryParams(c->conn, compact_sql, 2, NULL, params, NULL, NULL, 0)) {
		mentor_compaction_stop(c);
		return;
	}
	c->running = true;
	c->day = day;
	mentor_compaction_policy_started(&c->policy, day);
}

void mentor_compaction_note(struct mentor_compaction *c, const struct mentor_daily *daily)
{
	int32_t due;

	poll_compaction(c);
	if (mentor_compaction_policy_count(&c->policy, daily->days, daily->n_days, &due) && !c->running)
		start_compaction(c, due);
}
