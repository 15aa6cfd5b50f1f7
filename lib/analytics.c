/*
 * The analytics core on the stream: the detector and the KPI windows in
 * memory, their rows in PostgreSQL, pairing rounds between them.
 * See include/mentor/analytics.h and docs/analytics.md.
 */
#include "mentor/analytics.h"

#include <stdlib.h>
#include <string.h>

#include "advance.h"
#include "analytics_fatal.h"
#include "analytics_int.h"
#include "analytics_roster.h"
#include "analytics_sql.h"
#include "analytics_write.h"
#include "decider.h"
#include "mentor/clock.h"
#include "rounds.h"
#include "store_int.h"

int mentor_analytics_new(const struct mentor_analytics_config *cfg, const struct mentor_event_rules *rules,
			 const char *group, char *const topics[MENTOR_EVENT_KIND_COUNT], struct mentor_analytics **ret,
			 struct mentor_error *err)
{
	struct mentor_analytics *an = calloc(1, sizeof(*an));
	int rc;

	if (!an)
		return an_nomem(err);
	an->group = strdup(group);
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		an->topics[kind] = strdup(topics[kind]);
	if (!an->group || !an->topics[0] || !an->topics[1] || !an->topics[2]) {
		mentor_analytics_free(an);
		return an_nomem(err);
	}
	an->need_load = true;
	an->cfg = cfg;
	an->rules = rules;
	an->closed = an->next_closed = an_all_at(NO_TIME);
	an->last_round_us = an->kpi_closed_day = an->decided_newest_us = an->past_written_from_us = NO_TIME;
	an->pause_after = an_all_at(INT64_MAX);
	an->lead_checked_us = NO_TIME;
	rc = mentor_kpi_set_new(&an->kpi, err);
	if (rc == MENTOR_OK)
		rc = mentor_detector_new(&cfg->stats, cfg->thresholds, cfg->n_thresholds, an_keep_days(an), &an->det, err);
	if (rc != MENTOR_OK) {
		mentor_analytics_free(an);
		return rc;
	}
	*ret = an;
	return MENTOR_OK;
}

static void free_owned(struct mentor_analytics *an)
{
	for (size_t i = 0; i < an->n_owned; i++)
		free(an->owned[i].topic);
	free(an->owned);
	an->owned = NULL;
	an->n_owned = 0;
}

static bool owned_same(const struct mentor_analytics *an, const struct mentor_analytics_partition *parts, size_t n)
{
	if (n != an->n_owned)
		return false;
	for (size_t i = 0; i < n; i++)
		if (parts[i].partition != an->owned[i].partition || strcmp(parts[i].topic, an->owned[i].topic) != 0)
			return false;
	return true;
}

int mentor_analytics_set_owned(struct mentor_analytics *an, const struct mentor_analytics_partition *parts,
			       size_t n, struct mentor_error *err)
{
	if (owned_same(an, parts, n))
		return MENTOR_OK;
	/* A rebalance: another instance may store events now, which the next catch-up must read first. */
	an->early_ok = false;
	free_owned(an);
	if (n == 0)
		return MENTOR_OK;
	if (!(an->owned = calloc(n, sizeof(*an->owned))))
		return an_nomem(err);
	for (size_t i = 0; i < n; i++) {
		if (!(an->owned[i].topic = strdup(parts[i].topic))) {
			free_owned(an);
			return an_nomem(err);
		}
		an->owned[i].partition = parts[i].partition;
		an->n_owned++;
	}
	return MENTOR_OK;
}

int mentor_analytics_set_roster_extents(struct mentor_analytics *an, const struct mentor_partition_extent *extents,
				       size_t n, struct mentor_error *err)
{
	struct roster_partition *roster = calloc(n ? n : 1, sizeof(*roster));

	if (!roster)
		return an_nomem(err);
	for (size_t i = 0; i < n; i++) {
		roster[i] = (struct roster_partition){ .extent = extents[i], .stored = -1 };
		/* How long a partition's stored offset has stood still carries over. */
		for (size_t k = 0; k < an->n_roster; k++)
			if (an->roster[k].extent.partition == extents[i].partition) {
				roster[i].stored = an->roster[k].stored;
				roster[i].still_since_us = an->roster[k].still_since_us;
			}
	}
	free(an->roster);
	an->roster = roster;
	an->n_roster = n;
	return MENTOR_OK;
}

bool mentor_analytics_needs_load(const struct mentor_analytics *an)
{
	return an->cfg->enabled && an->leader && an->need_load;
}

void mentor_analytics_free(struct mentor_analytics *an)
{
	if (!an)
		return;
	mentor_detector_free(an->det);
	mentor_kpi_set_free(an->kpi);
	an_free_scales(an);
	free_owned(an);
	an_free_fatal(an);
	an_forget_early(an);
	free(an->fatal);
	free(an->group);
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		free(an->topics[kind]);
	free(an->roster);
	free(an);
}

int mentor_analytics_set_config(struct mentor_analytics *an, const struct mentor_analytics_config *cfg,
				struct mentor_error *err)
{
	int rc = mentor_detector_set_params(an->det, &cfg->stats, cfg->thresholds, cfg->n_thresholds, err);

	if (rc == MENTOR_OK)
		an->cfg = cfg;
	return rc;
}

void mentor_analytics_set_progress(struct mentor_analytics *an, mentor_analytics_progress_fn fn, void *ctx)
{
	an->progress = fn;
	an->progress_ctx = ctx;
}

bool mentor_analytics_rounds_left(const struct mentor_analytics *an)
{
	return an->cfg->enabled && an->leader && an->rounds_left;
}

struct mentor_source_times mentor_analytics_pause_after(const struct mentor_analytics *an)
{
	return an->cfg->enabled ? an->pause_after : an_all_at(MENTOR_ANALYTICS_NO_PAUSE);
}

bool mentor_analytics_decides(const struct mentor_analytics *an)
{
	return an->cfg->enabled && an->leader;
}

void mentor_analytics_set_closed(struct mentor_analytics *an, const struct mentor_source_times *closed)
{
	an->next_closed = *closed;
}

void mentor_analytics_gauges(const struct mentor_analytics *an, struct mentor_analytics_gauges *ret)
{
	*ret = an->gauges;
	ret->waiting_observations = (int64_t)mentor_detector_waiting(an->det);
	ret->closed_us = an_least(&an->closed);
	ret->event_time_us = mentor_detector_event_time(an->det);
}

/* Frees what a run holds on its way out; returns rc. */
static int run_end(struct run *r, int rc)
{
	an_staged_free(&r->staged);
	/* A commit that fails after this makes the caller load() again, which forgets the mark. */
	if (rc == MENTOR_OK && r->stages_made)
		r->an->stages_pid = r->stages_made;
	return rc;
}

/*
 * batch_early's evaluation, with no connection, while PostgreSQL stores the
 * events: what the hook would evaluate before its first round (a round
 * reads the tables), when nothing the hook reads first can change it. The
 * batch carries no roster rows (decisions see the roster published before
 * them), and no other instance stores events of the group (the last
 * catch-up saw none, and this instance's partitions have not moved since).
 * Roster changes made outside the stream are read by the hook as before,
 * and count from its part of the evaluation on. A trigger's score needs its
 * metric's scale, read when the metric's first status row was written.
 */
static int evaluate_early(struct run *r, const struct mentor_batch *b)
{
	struct mentor_analytics *an = r->an;
	struct mentor_source_times until;
	int64_t next;
	int rc;

	if (!an->early_ok || mentor_batch_rows(b, MENTOR_STAGE_ROSTER) > 0)
		return MENTOR_OK;
	until = an_within_lead(an, an->next_closed);
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (until.us[kind] < an->closed.us[kind])
			until.us[kind] = an->closed.us[kind];
	an_start_rounds(an);
	if ((next = an_round_due(an, an_least(&until))) != NO_TIME) {
		struct mentor_source_times at = an_all_at(next);

		until = an_lesser(&until, &at);
	}
	rc = an_advance(r, &until);
	an->early_ran = rc == MENTOR_OK;
	an->early_until = until;
	return rc;
}

/*
 * Which of the batch's events batch_early feeds the detector: all but the
 * store's suspects (ids stored lately: repeats, mostly), which wait for the
 * hook to learn whether they are new. Sets an->early_seen (NULL: all).
 */
static int note_early_seen(struct mentor_analytics *an, const struct mentor_batch *b, const unsigned char *suspects,
			   struct mentor_error *err)
{
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS);

	free(an->early_seen);
	an->early_seen = NULL;
	if (!suspects)
		return MENTOR_OK;
	if (!(an->early_seen = malloc(n ? n : 1)))
		return an_nomem(err);
	for (size_t i = 0; i < n; i++)
		an->early_seen[i] = !suspects[i];
	return MENTOR_OK;
}

/*
 * Observing only queues (the detector's evaluation order does not depend on
 * the order observations came in), so it can go before the stored events
 * of other instances that an_catch_up reads, and before the roster refresh.
 */
int mentor_analytics_batch_early(void *ctx, const unsigned char *suspects, struct mentor_error *err)
{
	struct mentor_analytics_batch *ab = ctx;
	struct run r = { .an = ab->an, .err = err };
	int rc;

	ab->observed = false;
	an_staged_free(&r.an->early_staged);
	r.an->early_ran = false;
	if (!r.an->cfg->enabled || !r.an->leader || r.an->need_load)
		return MENTOR_OK;
	/* From here a failure leaves the memory ahead of the tables: the failed commit makes the caller load. */
	ab->observed = true;
	rc = note_early_seen(r.an, ab->batch, suspects, err);
	if (rc == MENTOR_OK)
		rc = an_observe_batch(&r, ab->batch, r.an->early_seen);
	if (rc == MENTOR_OK)
		rc = evaluate_early(&r, ab->batch);
	if (rc == MENTOR_OK) {
		r.an->early_staged = r.staged;
		r.staged = (struct run_staged){ 0 };
	}
	return run_end(&r, rc);
}

int mentor_analytics_batch_hook(void *ctx, struct mentor_store *store, const unsigned char *stored,
				struct mentor_error *err)
{
	struct mentor_analytics_batch *ab = ctx;
	struct run r = { .an = ab->an, .s = store, .err = err, .staged = ab->an->early_staged };
	bool early_ran = r.an->early_ran, read = false;
	struct mentor_source_times others = an_all_at(INT64_MAX), nothing = an_all_at(INT64_MIN);
	int rc;

	/* This run writes what batch_early staged, or frees it. */
	r.an->early_staged = (struct run_staged){ 0 };
	r.an->early_ran = false;
	if (!r.an->cfg->enabled)
		return run_end(&r, MENTOR_OK);
	rc = an_take_lead(&r);
	/*
	 * batch_early fed the detector all but the suspects, taking them for new: the
	 * repeats among them are taken back, and the suspects that were new are fed
	 * now. Should either have come too late (a repeat evaluated already, a new
	 * suspect older than what batch_early evaluated), store only, and load.
	 */
	if (rc == MENTOR_OK && ab->observed && !r.an->need_load) {
		rc = an_settle_early(&r, ab->batch, r.an->early_seen, stored, early_ran ? &r.an->early_until : &nothing);
		if (rc == MENTOR_ERR_INVALID) {
			r.an->need_load = true;
			rc = MENTOR_OK;
		}
	}
	/* Not the decider, or not caught up yet: store only; the tables say what is left to read. */
	if (rc != MENTOR_OK || !r.an->leader || r.an->need_load)
		return run_end(&r, rc);
	rc = an_create_stages(&r);
	if (rc == MENTOR_OK)
		rc = an_refresh_agents(&r);
	if (rc == MENTOR_OK)
		rc = an_catch_up(&r, ab->batch, &others, &read);
	/* What evaluate_early relied on; should it not hold, the batch is rolled back and written again after a load. */
	if (rc == MENTOR_OK && early_ran && (read || an_least(&others) != INT64_MAX))
		rc = mentor_error_set(err, MENTOR_ERR_RETRY,
				      "analytics: another instance stored events while a batch was evaluated early");
	if (rc == MENTOR_OK && !ab->observed)
		rc = an_observe_batch(&r, ab->batch, stored);
	if (rc == MENTOR_OK)
		rc = an_run_until(&r, an_lesser(&r.an->next_closed, &others));
	if (rc == MENTOR_OK)
		rc = an_publish_pause(&r, &others);
	if (rc == MENTOR_OK)
		rc = an_write_changes(&r);
	return run_end(&r, rc);
}

/*
 * Evaluates each source up to its time in closed, in a transaction of its own. With ret_last_round,
 * ends with a round at the newest time once this instance decides and every
 * partition of the group is its own and read to the end, and says whether the
 * group's drain is finished for this instance: an instance that does not
 * decide has nothing left to do.
 */
static int advance_alone(struct mentor_analytics *an, struct mentor_store *store, struct mentor_source_times closed,
			 bool *ret_last_round, struct mentor_error *err)
{
	struct run r = { .an = an, .s = store, .err = err };
	struct mentor_source_times others = an_all_at(INT64_MAX);
	int64_t newest;
	bool last_round;
	int rc = mentor_store_begin(store, err);

	if (rc != MENTOR_OK)
		return rc;
	rc = an_take_lead(&r);
	if (ret_last_round)
		*ret_last_round = rc == MENTOR_OK && !an->leader;
	if (rc != MENTOR_OK || !an->leader || an->need_load)
		return mentor_store_end(store, rc, err);
	rc = an_create_stages(&r);
	if (rc == MENTOR_OK)
		rc = an_catch_up(&r, NULL, &others, &(bool){ false });
	closed = an_lesser(&closed, &others);
	if (rc == MENTOR_OK)
		rc = an_run_until(&r, closed);
	newest = mentor_detector_newest_seen(an->det);
	last_round = ret_last_round && an_least(&closed) == MENTOR_DETECT_ALL && !an->rounds_left;
	/*
	 * Every trigger is decided now: each supersedes as it would in one
	 * decision-time order, also one decided after a round at the newest time
	 * that an_run_until ran already (no round follows it then).
	 */
	if (rc == MENTOR_OK && last_round)
		rc = an_resolve_refired(&r, INT64_MAX);
	if (rc == MENTOR_OK && last_round && newest != NO_TIME &&
	    (an->last_round_us == NO_TIME || newest > an->last_round_us))
		rc = an_run_round(&r, newest, true);
	if (rc == MENTOR_OK)
		rc = an_publish_pause(&r, &others);
	if (rc == MENTOR_OK)
		rc = an_write_changes(&r);
	rc = mentor_store_end(store, run_end(&r, rc), err);
	if (ret_last_round)
		*ret_last_round = rc == MENTOR_OK && last_round;
	return rc;
}

/* Between checks of the lock by an instance that does not decide (mentor_analytics_tick). */
#define LEAD_CHECK_US 1000000

/*
 * An instance that does not decide checks the lock between batches, in a
 * transaction of its own, at most once every LEAD_CHECK_US: it learns the
 * group's backpressure while backpressure keeps it from having batches, and
 * takes the lead when the decider is gone (it loads before deciding).
 */
static int check_lead(struct mentor_analytics *an, struct mentor_store *store, struct mentor_error *err)
{
	struct run r = { .an = an, .s = store, .err = err };
	int64_t now = mentor_monotonic_us();
	int rc;

	if (an->lead_checked_us != NO_TIME && now - an->lead_checked_us < LEAD_CHECK_US)
		return MENTOR_OK;
	an->lead_checked_us = now;
	rc = mentor_store_begin(store, err);
	if (rc != MENTOR_OK)
		return rc;
	return mentor_store_end(store, an_take_lead(&r), err);
}

/* Whether a source's watermark, within its lead, moved on past what was evaluated. */
static bool moved_on(const struct mentor_analytics *an)
{
	struct mentor_source_times next = an_within_lead(an, an->next_closed);

	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (kind != MENTOR_EVENT_ROSTER && next.us[kind] > an->closed.us[kind])
			return true;
	return false;
}

int mentor_analytics_tick(struct mentor_analytics *an, struct mentor_store *store, struct mentor_error *err)
{
	size_t waiting = mentor_detector_waiting(an->det);
	int64_t now = mentor_monotonic_us();
	/*
	 * The published backpressure may be another decider's, or hold no longer,
	 * and no batch may come to fix it. A pause of every partition with an
	 * event (set while the watermark was unknown: a roster partition not read
	 * to its end, a partition with no event yet) is looked at again once a
	 * second: should what holds the watermark back be known now and be paused
	 * by it, nothing else would ever move it.
	 */
	bool pause_stale = !an->pause_synced ||
			   (an_least(&an->pause_after) != INT64_MAX && waiting < an->cfg->max_waiting_observations) ||
			   (an_least(&an->pause_after) == INT64_MIN && now - an->pause_checked_us >= LEAD_CHECK_US);

	if (an->cfg->enabled && !an->leader)
		return check_lead(an, store, err);
	if (!an->cfg->enabled || (!pause_stale && ((waiting == 0 && !an->rounds_left) ||
						    (!moved_on(an) && !an->rounds_left))))
		return MENTOR_OK;
	if (an_least(&an->pause_after) == INT64_MIN)
		an->pause_checked_us = now;
	return advance_alone(an, store, an->next_closed, NULL, err);
}

int mentor_analytics_finish(struct mentor_analytics *an, struct mentor_store *store, bool *ret_done,
			    struct mentor_error *err)
{
	*ret_done = true;
	if (!an->cfg->enabled)
		return MENTOR_OK;
	return advance_alone(an, store, an_all_at(MENTOR_DETECT_ALL), ret_done, err);
}
