/*
 * Fatal items (SPEC section 2): stored events with `fatal` items wait for the
 * watermark, then each fires a fatal trigger and its alert. Internal to lib/.
 */
#include "analytics_fatal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics_int.h"
#include "analytics_sql.h"
#include "grow.h"

/*
 * Fatal items (SPEC section 2): a resolved fatal trigger and an alert each,
 * once, when the watermark passes the event, as every decision: the roster
 * is then what it was, so the alert's route is the same in any replay.
 * events_where picks the events.
 */
#define FATAL_SQL(events_where) \
	"WITH f AS (" \
	"  SELECT 'fatal/' || s.event_id || '/' || b AS trigger_id, s.agent_id, b AS behavior, s.occurred_at," \
	"         s.event_id, s.interaction_id, (s.scores ->> b)::float8 AS score" \
	"    FROM score_events s, jsonb_array_elements_text(s.fatal) AS b" \
	"   WHERE s.fatal IS NOT NULL AND " events_where \
	"), t AS (" \
	"  INSERT INTO triggers (trigger_id, agent_id, behavior, kind, fired_at, event_id, score, status, resolved_at," \
	"                        resolution, program)" \
	"  SELECT trigger_id, agent_id, behavior, 'fatal', occurred_at, event_id, score, 'resolved', occurred_at," \
	"         'alerted', $2 FROM f" \
	"  ON CONFLICT DO NOTHING RETURNING trigger_id" \
	")" \
	" INSERT INTO alerts (alert_id, kind, team_lead_id, agent_id, occurred_at, payload, program)" \
	" SELECT 'fatal_behavior:' || f.trigger_id, 'fatal_behavior', a.team_lead_id, f.agent_id, f.occurred_at," \
	"   jsonb_build_object('schema', 'mentord.alert.v1', 'alert_id', 'fatal_behavior:' || f.trigger_id," \
	"     'kind', 'fatal_behavior', 'program', $2::text," \
	"     'occurred_at', to_char(f.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')," \
	"     'team_lead_id', a.team_lead_id, 'agent_id', f.agent_id, 'agent_name', a.name, 'behavior', f.behavior," \
	"     'trigger_id', f.trigger_id, 'event_id', f.event_id, 'interaction_id', f.interaction_id), $2" \
	"   FROM f JOIN t USING (trigger_id) LEFT JOIN agents a ON a.agent_id = f.agent_id" \
	" ORDER BY f.trigger_id ON CONFLICT (alert_id) DO NOTHING"

/*
 * $1: the events, by id (mentord keeps the ids of the stored events with
 * fatal items until decided); $2: their program.
 */
static const char fatal_sql[] = FATAL_SQL("s.event_id = ANY($1::text[])");

/* Remembers a stored event with fatal items, to be decided when the watermark passes its decision time. */
int an_add_fatal(struct run *r, const char *event_id, size_t len, int64_t decide_us)
{
	struct an_program *an = r->an;

	if (!mentor_grow((void **)&an->fatal, &an->cap_fatal, an->n_fatal, sizeof(*an->fatal), 64, SIZE_MAX))
		return an_nomem(r->err);
	if (!(an->fatal[an->n_fatal].event_id = strndup(event_id, len)))
		return an_nomem(r->err);
	an->fatal[an->n_fatal++].decide_us = decide_us;
	return MENTOR_OK;
}

/* The batch's new events with fatal items. */
int an_add_batch_fatal(struct run *r, const struct mentor_batch *b, const unsigned char *stored)
{
	int rc = MENTOR_OK;

	for (size_t i = 0; rc == MENTOR_OK && i < mentor_batch_rows(b, MENTOR_STAGE_EVENTS); i++)
		if (mentor_batch_event_fatal(b, i) && (!stored || stored[i])) {
			size_t len;
			const char *id = mentor_batch_event_id(b, i, &len);

			rc = an_add_fatal(r, id, len, mentor_batch_event_decide_time(b, i));
		}
	return rc;
}

void an_drop_batch_fatal(struct an_program *an, const struct mentor_batch *b, const unsigned char *stored)
{
	for (size_t i = 0; i < mentor_batch_rows(b, MENTOR_STAGE_EVENTS); i++) {
		size_t len, k = an->n_fatal;
		const char *id;
		int64_t decide_us;

		if (stored[i] || !mentor_batch_event_fatal(b, i))
			continue;
		id = mentor_batch_event_id(b, i, &len);
		decide_us = mentor_batch_event_decide_time(b, i);
		/* The newest entry: the batch's own were added last. */
		while (k-- > 0)
			if (an->fatal[k].decide_us == decide_us && strlen(an->fatal[k].event_id) == len &&
			    memcmp(an->fatal[k].event_id, id, len) == 0)
				break;
		if (k == SIZE_MAX)
			continue;
		free(an->fatal[k].event_id);
		memmove(&an->fatal[k], &an->fatal[k + 1], (an->n_fatal - k - 1) * sizeof(*an->fatal));
		an->n_fatal--;
	}
}

/* Inserts the fatal triggers of the pending events before closed_us, and forgets them. */
int an_decide_fatal(struct run *r, int64_t closed_us)
{
	struct an_program *an = r->an;
	struct text_buf ids = { 0 };
	size_t kept = 0;
	bool any = false;
	int rc = MENTOR_OK;

	if (an->n_fatal == 0)
		return MENTOR_OK;
	buf_append(&ids, "{", 1);
	for (size_t i = 0; i < an->n_fatal; i++)
		if (an->fatal[i].decide_us < closed_us) {
			buf_array_text(&ids, !any, an->fatal[i].event_id, strlen(an->fatal[i].event_id));
			any = true;
		}
	buf_append(&ids, "}", 1);
	if (ids.failed) {
		free(ids.data);
		return an_nomem(r->err);
	}
	if (any) {
		an->counts_stale = true;
		rc = an_q(r, fatal_sql, 2, (const char *const[]){ ids.data, an->program }, "insert fatal triggers",
			  NULL);
	}
	free(ids.data);
	for (size_t i = 0; rc == MENTOR_OK && i < an->n_fatal; i++) {
		if (an->fatal[i].decide_us < closed_us)
			free(an->fatal[i].event_id);
		else
			an->fatal[kept++] = an->fatal[i];
	}
	if (rc == MENTOR_OK)
		an->n_fatal = kept;
	return rc;
}

void an_free_fatal(struct an_program *an)
{
	for (size_t i = 0; i < an->n_fatal; i++)
		free(an->fatal[i].event_id);
	an->n_fatal = 0;
}
