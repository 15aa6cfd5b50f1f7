/*
 * One program's analytics: its detector and KPI windows in memory, its rows
 * in PostgreSQL, its pairing rounds between them. See program.h.
 */
#include "program.h"

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

int an_program_new(const struct mentor_analytics_config *cfg, const struct mentor_event_rules *rules,
			 const char *group, const char *program, char *const topics[MENTOR_EVENT_KIND_COUNT],
			 struct an_program **ret, struct mentor_error *err)
{
	struct an_program *an = calloc(1, sizeof(*an));
	int rc;

	if (!an)
		return an_nomem(err);
	an->group = strdup(group);
	an->program = strdup(program);
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		an->topics[kind] = strdup(topics[kind]);
	if (!an->group || !an->program || !an->topics[0] || !an->topics[1] || !an->topics[2]) {
		an_program_free(an);
		return an_nomem(err);
	}
	an->need_load = true;
	an->cfg = cfg;
	an->rules = rules;
	an->closed = an->next_closed = an_all_at(NO_TIME);
	an->last_round_us = an->kpi_closed_day = an->decided_newest_us = an->past_written_from_us = NO_TIME;
	an->pause_after = an_all_at(INT64_MAX);
	an->lead_checked_us = NO_TIME;
	an->may_take = true;  /* until the group's instances are counted (lib/analytics.c) */
	rc = mentor_kpi_set_new(&an->kpi, err);
	if (rc == MENTOR_OK)
		rc = mentor_detector_new(&cfg->stats, cfg->thresholds, cfg->n_thresholds, an->keep_days = an_keep_days(an),
					 &an->det, err);
	if (rc != MENTOR_OK) {
		an_program_free(an);
		return rc;
	}
	*ret = an;
	return MENTOR_OK;
}

static void free_owned(struct an_program *an)
{
	for (size_t i = 0; i < an->n_owned; i++)
		free(an->owned[i].topic);
	free(an->owned);
	an->owned = NULL;
	an->n_owned = 0;
}

static bool owned_same(const struct an_program *an, const struct mentor_analytics_partition *parts, size_t n)
{
	if (n != an->n_owned)
		return false;
	for (size_t i = 0; i < n; i++)
		if (parts[i].partition != an->owned[i].partition || strcmp(parts[i].topic, an->owned[i].topic) != 0)
			return false;
	return true;
}

int an_program_set_owned(struct an_program *an, const struct mentor_analytics_partition *parts,
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

int an_program_set_roster_extents(struct an_program *an, const struct mentor_partition_extent *extents,
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

bool an_program_needs_load(const struct an_program *an)
{
	return an->cfg->enabled && an->leader && an->need_load;
}

void an_program_free(struct an_program *an)
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
	free(an->program);
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		free(an->topics[kind]);
	free(an->roster);
	free(an);
}

int an_program_set_config(struct an_program *an, const struct mentor_analytics_config *cfg, struct mentor_error *err)
{
	int rc = mentor_detector_set_params(an->det, &cfg->stats, cfg->thresholds, cfg->n_thresholds, err);

	/*
	 * The detector forgot what a longer window reads, or kept the old
	 * settings: the tables have it all. (cfg may be where the old settings
	 * were: the days kept are the detector's, not the old settings'.)
	 */
	an->cfg = cfg;
	if (rc != MENTOR_OK || an_keep_days(an) > an->keep_days)
		an->need_load = true;
	return rc;
}

void an_program_set_progress(struct an_program *an, mentor_analytics_progress_fn fn, void *ctx)
{
	an->progress = fn;
	an->progress_ctx = ctx;
}

bool an_program_rounds_left(const struct an_program *an)
{
	return an->cfg->enabled && an->leader && an->rounds_left;
}

struct mentor_source_times an_program_pause_after(const struct an_program *an)
{
	return an->cfg->enabled ? an->pause_after : an_all_at(MENTOR_ANALYTICS_NO_PAUSE);
}

bool an_program_decides(const struct an_program *an)
{
	return an->cfg->enabled && an->leader;
}

void an_program_set_closed(struct an_program *an, const struct mentor_source_times *closed)
{
	an->next_closed = *closed;
}

void an_program_gauges(const struct an_program *an, struct mentor_analytics_gauges *ret)
{
	*ret = an->gauges;
	ret->waiting_observations = (int64_t)mentor_detector_waiting(an->det);
	ret->closed_us = an_least(&an->closed);
	ret->event_time_us = mentor_detector_event_time(an->det);
}

/* ---- Runs (program.h) ---- */

int an_run_end(struct run *r, int rc)
{
	an_staged_free(&r->staged);
	/* A commit that fails after this makes the caller load() again, which forgets the mark. */
	if (rc == MENTOR_OK && r->stages_made)
		r->an->stages_pid = r->stages_made;
	return rc;
}

/*
 * Which of the batch's events batch_early feeds the detector: the
 * program's (mine), but the store's suspects (ids stored lately: repeats,
 * mostly), which wait for the hook to learn whether they are new.
 */
static int note_early_seen(struct an_program *an, const struct mentor_batch *b, const unsigned char *mine,
			   const unsigned char *suspects, struct mentor_error *err)
{
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS);

	free(an->early_seen);
	if (!(an->early_seen = malloc(n ? n : 1)))
		return an_nomem(err);
	for (size_t i = 0; i < n; i++)
		an->early_seen[i] = mine[i] && !(suspects && suspects[i]);
	return MENTOR_OK;
}

/*
 * Observing only queues (the detector's evaluation order does not depend on
 * the order observations came in), so it can go before the stored events
 * of other instances that an_catch_up reads, and before the roster refresh.
 */
int an_early_observe(struct run *r, const struct mentor_batch *b, const unsigned char *mine,
		     const unsigned char *suspects)
{
	struct an_program *an = r->an;
	int rc;

	an->early_observed = false;
	an_staged_free(&an->early_staged);
	an->early_ran = false;
	if (!an->cfg->enabled || !an->leader || an->need_load)
		return MENTOR_OK;
	/* From here a failure leaves the memory ahead of the tables: the failed commit makes the caller load. */
	an->early_observed = true;
	rc = note_early_seen(an, b, mine, suspects, r->err);
	return rc == MENTOR_OK ? an_observe_batch(r, b, an->early_seen) : rc;
}

int an_early_evaluate(struct run *r, const struct mentor_batch *b, int64_t newest_us)
{
	struct an_program *an = r->an;
	struct mentor_source_times until;
	int64_t next;
	int rc;

	if (!an->early_observed || !an->early_ok || mentor_batch_rows(b, MENTOR_STAGE_ROSTER) > 0)
		return MENTOR_OK;
	until = an_within_lead(an, an->next_closed);
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (until.us[kind] < an->closed.us[kind])
			until.us[kind] = an->closed.us[kind];
	an_start_rounds(an);
	if ((next = an_round_due(an, an_least(&until), newest_us)) != NO_TIME) {
		struct mentor_source_times at = an_all_at(next);

		until = an_lesser(&until, &at);
	}
	rc = an_advance(r, &until);
	an->early_ran = rc == MENTOR_OK;
	an->early_until = until;
	if (rc == MENTOR_OK) {
		an->early_staged = r->staged;
		r->staged = (struct run_staged){ 0 };
	}
	return rc;
}

/* Where the run evaluates each source up to: closed, bounded by the others' partitions and the lead. */
static void set_until(struct run *r, struct mentor_source_times closed)
{
	struct an_program *an = r->an;

	closed = an_within_lead(an, an_lesser(&closed, &r->others));
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (closed.us[kind] < an->closed.us[kind])
			closed.us[kind] = an->closed.us[kind];
	r->until = closed;
	r->deciding = true;
	an_start_rounds(an);
	an->rounds_left = false;
}

int an_batch_prepare(struct run *r, const struct mentor_batch *b, const unsigned char *stored)
{
	struct an_program *an = r->an;
	bool observed = an->early_observed, early_ran = an->early_ran, read = false;
	struct mentor_source_times nothing = an_all_at(INT64_MIN);
	int rc;

	/* This run writes what batch_early staged, or frees it. */
	r->staged = an->early_staged;
	an->early_staged = (struct run_staged){ 0 };
	an->early_observed = an->early_ran = false;
	r->others = an_all_at(INT64_MAX);
	if (!an->cfg->enabled)
		return MENTOR_OK;
	rc = an_take_lead(r);
	/*
	 * batch_early fed the detector all but the suspects, taking them for new: the
	 * repeats among them are taken back, and the suspects that were new are fed
	 * now. Should either have come too late (a repeat evaluated already, a new
	 * suspect older than what batch_early evaluated), store only, and load.
	 */
	if (rc == MENTOR_OK && observed && !an->need_load) {
		rc = an_settle_early(r, b, an->early_seen, stored, early_ran ? &an->early_until : &nothing);
		if (rc == MENTOR_ERR_INVALID) {
			an->need_load = true;
			rc = MENTOR_OK;
		}
	}
	/* Not the decider, or not caught up yet: store only; the tables say what is left to read. */
	if (rc != MENTOR_OK || !an->leader || an->need_load)
		return rc;
	rc = an_create_stages(r);
	if (rc == MENTOR_OK)
		rc = an_refresh_agents(r);
	if (rc == MENTOR_OK)
		rc = an_catch_up(r, b, &r->others, &read);
	/* What the early evaluation relied on; should it not hold, the batch is rolled back and written again after a load. */
	if (rc == MENTOR_OK && early_ran && (read || an_least(&r->others) != INT64_MAX))
		rc = mentor_error_set(r->err, MENTOR_ERR_RETRY,
				      "analytics: another instance stored events while a batch was evaluated early");
	if (rc == MENTOR_OK && !observed)
		rc = an_observe_batch(r, b, stored);
	if (rc == MENTOR_OK)
		set_until(r, an->next_closed);
	return rc;
}

int an_alone_prepare(struct run *r, struct mentor_source_times closed)
{
	struct an_program *an = r->an;
	int rc;

	r->others = an_all_at(INT64_MAX);
	if (!an->cfg->enabled)
		return MENTOR_OK;
	rc = an_take_lead(r);
	if (rc != MENTOR_OK || !an->leader || an->need_load)
		return rc;
	rc = an_create_stages(r);
	if (rc == MENTOR_OK)
		rc = an_catch_up(r, NULL, &r->others, &(bool){ false });
	if (rc == MENTOR_OK)
		set_until(r, closed);
	return rc;
}

int64_t an_run_due(const struct run *r, int64_t newest_us)
{
	return r->deciding ? an_round_due(r->an, an_least(&r->until), newest_us) : NO_TIME;
}

int an_run_round_at(struct run *r, int64_t at_us)
{
	struct mentor_source_times at = an_all_at(at_us);
	int rc = an_advance(r, &at);

	if (rc == MENTOR_OK) {
		an_close_kpis(r->an, at_us);
		rc = an_run_round(r, at_us, false);
	}
	return rc;
}

void an_run_stop_rounds(struct run *r, bool capped)
{
	struct an_program *an = r->an;

	if (!r->deciding)
		return;
	an->rounds_left |= capped;
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		r->until.us[kind] = an->last_round_us > an->closed.us[kind] ? an->last_round_us : an->closed.us[kind];
}

int an_run_evaluate(struct run *r)
{
	struct an_program *an = r->an;
	int rc;

	if (!r->deciding)
		return MENTOR_OK;
	rc = an_advance(r, &r->until);
	if (rc == MENTOR_OK)
		rc = an_decide_fatal(r, r->until.us[MENTOR_EVENT_AQM]);
	if (rc == MENTOR_OK) {
		an->closed = r->until;
		an_close_kpis(an, an_least(&r->until) < an->decided_newest_us ? an_least(&r->until) : an->decided_newest_us);
	}
	return rc;
}

bool an_run_at_end(const struct run *r)
{
	return r->deciding && an_least(&r->until) == MENTOR_DETECT_ALL && !r->an->rounds_left;
}

int an_run_last_round(struct run *r, int64_t newest_us)
{
	struct an_program *an = r->an;
	int rc;

	if (!an_run_at_end(r) || mentor_detector_newest_seen(an->det) == NO_TIME)
		return MENTOR_OK;
	/*
	 * Every trigger is decided now: each supersedes as it would in one
	 * decision-time order, also one decided after a round at the newest time
	 * that ran already (no round follows it then).
	 */
	rc = an_resolve_refired(r, INT64_MAX);
	if (rc == MENTOR_OK && (an->last_round_us == NO_TIME || newest_us > an->last_round_us))
		rc = an_run_round(r, newest_us, true);
	return rc;
}

int an_run_write(struct run *r)
{
	int rc;

	if (!r->deciding)
		return MENTOR_OK;
	rc = an_publish_pause(r, &r->others);
	return rc == MENTOR_OK ? an_write_changes(r) : rc;
}

/* Between checks of the lock by an instance that does not decide (an_program_check_lead). */
#define LEAD_CHECK_US 1000000

int an_program_check_lead(struct an_program *an, struct mentor_store *store, bool at_once, struct mentor_error *err)
{
	struct run r = { .an = an, .s = store, .err = err };
	int64_t now = mentor_monotonic_us();
	int rc;

	if (!at_once && an->lead_checked_us != NO_TIME && now - an->lead_checked_us < LEAD_CHECK_US)
		return MENTOR_OK;
	an->lead_checked_us = now;
	rc = mentor_store_begin(store, err);
	if (rc != MENTOR_OK)
		return rc;
	return mentor_store_end(store, an_take_lead(&r), err);
}

int an_program_give_lead(struct an_program *an, struct mentor_store *store, struct mentor_error *err)
{
	return an_give_lead(an, store, err);
}

void an_program_may_take(struct an_program *an, bool may)
{
	an->may_take = may;
}

/* Whether a source's watermark, within its lead, moved on past what was evaluated. */
static bool moved_on(const struct an_program *an)
{
	struct mentor_source_times next = an_within_lead(an, an->next_closed);

	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (kind != MENTOR_EVENT_ROSTER && next.us[kind] > an->closed.us[kind])
			return true;
	return false;
}

bool an_program_tick_due(struct an_program *an)
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

	if (!an->cfg->enabled || !an->leader ||
	    (!pause_stale && ((waiting == 0 && !an->rounds_left) || (!moved_on(an) && !an->rounds_left))))
		return false;
	if (an_least(&an->pause_after) == INT64_MIN)
		an->pause_checked_us = now;
	return true;
}
