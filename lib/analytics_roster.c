/*
 * The roster as the analytics see it: agents' active flags read from the
 * agents table into the detector. Internal to lib/.
 */
#include "analytics_roster.h"

#include <string.h>

#include "analytics_int.h"
#include "analytics_sql.h"

/*
 * An agent can be a mentor only once the roster knows it (SPEC section 7),
 * and roster_known never goes back: an agent the roster does not know is
 * inactive, as the detector takes any agent never set, so only the roster's
 * agents are read (unknown agents may be many).
 */
#define AGENTS_SQL_SINCE \
	"SELECT agent_id, active, " US_OF("updated_at") " FROM agents WHERE roster_known AND updated_at > $1"

/*
 * Roster changes stored by any instance since the newest one seen. A
 * transaction that started before another but committed after it could be
 * passed over; every pairing round reads the whole roster again
 * (an_set_agents), so such a change waits at most until then.
 */
int an_refresh_agents(struct run *r)
{
	char since[TIME_TEXT];
	PGresult *res = NULL;
	int rc;

	an_time_text(r->an->agents_seen_us, since);
	rc = an_q(r, AGENTS_SQL_SINCE, 1, (const char *const[]){ since }, "read roster changes", &res);
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++) {
		rc = mentor_detector_set_agent(r->an->det, PQgetvalue(res, i, 0), strcmp(PQgetvalue(res, i, 1), "t") == 0,
					       r->err);
		if (an_get_i64(res, i, 2) > r->an->agents_seen_us)
			r->an->agents_seen_us = an_get_i64(res, i, 2);
	}
	PQclear(res);
	return rc;
}

/* Records the active flag of every agent. */
int an_set_agents(struct run *r)
{
	r->an->agents_seen_us = NO_TIME;  /* '-infinity': every row */
	return an_refresh_agents(r);
}
