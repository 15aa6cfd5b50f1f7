/*
 * Admission of what a batch's score events bring new, when the batch is
 * stored ([ingest] max_unknown_agents and max_behaviors; SPEC section 7):
 * agents with no agents row, and behaviors (metrics other than the outcomes
 * csat, csat_top2 and aqm) with no metrics row. New ones are admitted, in the
 * order the batch first saw them, while their bound allows; the score events
 * of the others are refused: taken out of the batch's transaction and staged
 * for rejected_events with their message.
 *
 * Counts are read from the tables under an advisory lock held to the
 * batch's COMMIT, taken only when the batch brings something new: instances
 * admitting at the same time take turns and never exceed a bound, and the
 * others never wait. Internal to the store; no logging, no globals.
 */
#ifndef MENTOR_ADMISSION_H
#define MENTOR_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "copytext.h"
#include "known_agents.h"
#include "mentor/batch.h"
#include "mentor/error.h"
#include "mentor/events.h"

struct mentor_refused_event {
	uint32_t event;  /* staged score event number */
	uint8_t code;    /* MENTOR_REJECT_UNKNOWN_AGENT_LIMIT or MENTOR_REJECT_TOO_MANY_BEHAVIORS */
	uint32_t name;   /* the refused agent or metric, by its batch number */
};

/* The last batch's decisions. All zero: none; reused from batch to batch. */
struct mentor_admission {
	unsigned char *agent_refused;   /* per batch agent: 1 if refused */
	unsigned char *metric_refused;  /* per batch metric: 1 if refused */
	size_t cap_agents, cap_metrics;
	struct mentor_refused_event *refused;
	size_t n_refused, cap_refused;
	int64_t max_unknown_agents, max_behaviors;  /* the bounds the batch was decided with */
};

/*
 * Whether b brings an agent not in known_agents or a behavior not in
 * known_metrics: only then may mentor_admission_run refuse anything, and
 * only then does it talk to PostgreSQL.
 */
bool mentor_admission_needed(const struct mentor_batch *b, const struct mentor_known_agents *known_agents,
			     const struct mentor_known_agents *known_metrics);

/*
 * In the batch's open transaction, once its score events and roster rows
 * are in: decides as the header says with the bounds of b's rules. Refused
 * events that this batch inserted (*stored NULL or stored[i] != 0) are
 * deleted from score_events and get stored[i] = 0 (*stored allocated, as
 * mentor_store_commit_batch's hook reads it, if it was NULL); each refused
 * event gets a stage_rejects row in *rejects (COPY text), with an empty
 * payload if b did not keep its message. MENTOR_OK, MENTOR_ERR_DB or
 * MENTOR_ERR_NOMEM; a is then reset.
 */
int mentor_admission_run(struct mentor_admission *a, PGconn *conn, const struct mentor_batch *b,
			 const struct mentor_known_agents *known_agents,
			 const struct mentor_known_agents *known_metrics, unsigned char **stored,
			 struct text_buf *rejects, struct mentor_error *err);

/* Forgets the last batch's decisions. */
void mentor_admission_reset(struct mentor_admission *a);

/* Whether batch agent i (metric i) was refused by the last run. */
bool mentor_admission_agent_refused(const struct mentor_admission *a, size_t i);
bool mentor_admission_metric_refused(const struct mentor_admission *a, size_t i);

/* Refused event i of the last run (i < a->n_refused): its number in b, and its reason and detail. */
void mentor_admission_refusal(const struct mentor_admission *a, const struct mentor_batch *b, size_t i,
			      size_t *ret_event, struct mentor_reject *ret_why);

void mentor_admission_free(struct mentor_admission *a);

#endif
