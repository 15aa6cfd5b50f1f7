/*
 * The analytics of a consumer group: one program's analytics (program.h)
 * per program, run together. See include/mentor/analytics.h and
 * docs/analytics.md ("Programs").
 */
#include "mentor/analytics.h"

#include <stdlib.h>
#include <string.h>

#include "analytics_int.h"
#include "analytics_sql.h"
#include "grow.h"
#include "instances.h"
#include "mentor/clock.h"
#include "program.h"
#include "store_int.h"

struct mentor_analytics {
	const struct mentor_config *cfg;            /* borrowed */
	char *group;                                /* owned */
	struct an_program **programs;               /* owned; sorted by name (strcmp) */
	size_t n_programs, cap_programs;
	struct mentor_analytics_partition *owned;   /* owned copy (topics borrowed from `topics_held`) */
	size_t n_owned;
	char **topics_held;                         /* owned; the topics of `owned` */
	struct mentor_partition_extent *roster;     /* owned copy */
	size_t n_roster;
	struct mentor_source_times next_closed;
	mentor_analytics_progress_fn progress;      /* may be NULL */
	void *progress_ctx;
	int64_t programs_checked_us;                /* monotonic time the programs known to the tables were last read */
	uint32_t *owner;                            /* owned; per event of the current batch, its program's index */
	size_t cap_owner;
	int n_instances;                            /* the group's instances, as last counted (lib/instances.h) */
	int session;                                /* this instance's backend pid, which ranks the programs */
	int64_t instances_checked_us;               /* monotonic time they were last counted; NO_TIME: never */
	bool closing;                               /* at a drain's end (mentor_analytics_finish) */
	int64_t peers_waited_us;                    /* monotonic time rounds last waited for another instance's
						       program; NO_TIME: they did not */
};

/* Between two counts of the group's instances, and two runs that wait for another instance's rounds. */
#define INSTANCES_CHECK_US 1000000
#define PEERS_WAIT_US 100000

static const char *program_name(const struct an_program *p)
{
	return p->program;
}

/* Index of the program named name, or where it would go (*ret_found false). */
static size_t find_program(const struct mentor_analytics *an, const char *name, bool *ret_found)
{
	size_t lo = 0, hi = an->n_programs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(program_name(an->programs[mid]), name);

		if (c == 0) {
			*ret_found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = false;
	return lo;
}

/* Adds the program name if it is new, with what every program is told; it loads before deciding. */
static int add_program(struct mentor_analytics *an, const char *name, struct mentor_error *err)
{
	bool found;
	size_t at = find_program(an, name, &found);
	struct an_program *p = NULL;
	int rc;

	if (found)
		return MENTOR_OK;
	if (an->n_programs == MENTOR_ANALYTICS_PROGRAMS_MAX)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "analytics: more than %d programs",
					MENTOR_ANALYTICS_PROGRAMS_MAX);
	if (!mentor_grow((void **)&an->programs, &an->cap_programs, an->n_programs, sizeof(*an->programs), 4,
			 MENTOR_ANALYTICS_PROGRAMS_MAX))
		return an_nomem(err);
	rc = an_program_new(mentor_config_program(an->cfg, name), &an->cfg->rules, an->group, name, an->cfg->topics, &p, err);
	if (rc == MENTOR_OK)
		rc = an_program_set_owned(p, an->owned, an->n_owned, err);
	if (rc == MENTOR_OK && an->roster)
		rc = an_program_set_roster_extents(p, an->roster, an->n_roster, err);
	if (rc != MENTOR_OK) {
		an_program_free(p);
		return rc;
	}
	an_program_set_progress(p, an->progress, an->progress_ctx);
	an_program_set_closed(p, &an->next_closed);
	memmove(&an->programs[at + 1], &an->programs[at], (an->n_programs - at) * sizeof(*an->programs));
	an->programs[at] = p;
	an->n_programs++;
	return MENTOR_OK;
}

int mentor_analytics_new(const struct mentor_config *cfg, const char *group, struct mentor_analytics **ret,
			 struct mentor_error *err)
{
	struct mentor_analytics *an = calloc(1, sizeof(*an));
	int rc;

	if (!an)
		return an_nomem(err);
	an->cfg = cfg;
	an->next_closed = an_all_at(NO_TIME);
	an->programs_checked_us = NO_TIME;
	an->instances_checked_us = NO_TIME;
	an->peers_waited_us = NO_TIME;
	if (!(an->group = strdup(group))) {
		free(an);
		return an_nomem(err);
	}
	rc = add_program(an, MENTOR_DEFAULT_PROGRAM, err);
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
		free(an->topics_held[i]);
	free(an->topics_held);
	free(an->owned);
	an->topics_held = NULL;
	an->owned = NULL;
	an->n_owned = 0;
}

void mentor_analytics_free(struct mentor_analytics *an)
{
	if (!an)
		return;
	for (size_t i = 0; i < an->n_programs; i++)
		an_program_free(an->programs[i]);
	free(an->programs);
	free_owned(an);
	free(an->roster);
	free(an->owner);
	free(an->group);
	free(an);
}

void mentor_analytics_set_progress(struct mentor_analytics *an, mentor_analytics_progress_fn fn, void *ctx)
{
	an->progress = fn;
	an->progress_ctx = ctx;
	for (size_t i = 0; i < an->n_programs; i++)
		an_program_set_progress(an->programs[i], fn, ctx);
}

int mentor_analytics_set_config(struct mentor_analytics *an, const struct mentor_config *cfg, struct mentor_error *err)
{
	int rc = MENTOR_OK;

	an->cfg = cfg;
	/* Every program takes cfg, also after one failed: none may keep pointers into the old settings. */
	for (size_t i = 0; i < an->n_programs; i++) {
		struct mentor_error why;

		if (an_program_set_config(an->programs[i], mentor_config_program(cfg, program_name(an->programs[i])),
					  &why) != MENTOR_OK && rc == MENTOR_OK)
			rc = mentor_error_set(err, why.code, "%s", why.msg);
	}
	return rc;
}

int mentor_analytics_set_owned(struct mentor_analytics *an, const struct mentor_analytics_partition *parts,
			       size_t n, struct mentor_error *err)
{
	int rc = MENTOR_OK;

	free_owned(an);
	if (n > 0 && (!(an->owned = calloc(n, sizeof(*an->owned))) || !(an->topics_held = calloc(n, sizeof(char *)))))
		rc = an_nomem(err);
	for (size_t i = 0; rc == MENTOR_OK && i < n; i++) {
		if (!(an->topics_held[i] = strdup(parts[i].topic))) {
			rc = an_nomem(err);
			break;
		}
		an->owned[i] = (struct mentor_analytics_partition){ .topic = an->topics_held[i],
								     .partition = parts[i].partition };
		an->n_owned++;
	}
	if (rc != MENTOR_OK) {
		free_owned(an);
		return rc;
	}
	for (size_t i = 0; rc == MENTOR_OK && i < an->n_programs; i++)
		rc = an_program_set_owned(an->programs[i], parts, n, err);
	return rc;
}

int mentor_analytics_set_roster_extents(struct mentor_analytics *an, const struct mentor_partition_extent *extents,
				       size_t n, struct mentor_error *err)
{
	struct mentor_partition_extent *copy = malloc((n ? n : 1) * sizeof(*copy));
	int rc = MENTOR_OK;

	if (!copy)
		return an_nomem(err);
	if (n > 0)
		memcpy(copy, extents, n * sizeof(*copy));
	free(an->roster);
	an->roster = copy;
	an->n_roster = n;
	for (size_t i = 0; rc == MENTOR_OK && i < an->n_programs; i++)
		rc = an_program_set_roster_extents(an->programs[i], extents, n, err);
	return rc;
}

void mentor_analytics_set_closed(struct mentor_analytics *an, const struct mentor_source_times *closed)
{
	an->next_closed = *closed;
	for (size_t i = 0; i < an->n_programs; i++)
		an_program_set_closed(an->programs[i], closed);
}

bool mentor_analytics_needs_load(const struct mentor_analytics *an)
{
	for (size_t i = 0; i < an->n_programs; i++)
		if (an_program_needs_load(an->programs[i]))
			return true;
	return false;
}

bool mentor_analytics_decides(const struct mentor_analytics *an)
{
	for (size_t i = 0; i < an->n_programs; i++)
		if (an_program_decides(an->programs[i]))
			return true;
	return false;
}

bool mentor_analytics_rounds_left(const struct mentor_analytics *an)
{
	for (size_t i = 0; i < an->n_programs; i++)
		if (an_program_rounds_left(an->programs[i]))
			return true;
	return false;
}

struct mentor_source_times mentor_analytics_pause_after(const struct mentor_analytics *an)
{
	struct mentor_source_times least = an_all_at(MENTOR_ANALYTICS_NO_PAUSE);

	for (size_t i = 0; i < an->n_programs; i++) {
		struct mentor_source_times p = an_program_pause_after(an->programs[i]);

		least = an_lesser(&least, &p);
	}
	return least;
}

void mentor_analytics_gauges(const struct mentor_analytics *an, struct mentor_analytics_gauges *ret)
{
	*ret = (struct mentor_analytics_gauges){ .closed_us = INT64_MIN, .event_time_us = INT64_MIN };
	for (size_t i = 0; i < an->n_programs; i++) {
		struct mentor_analytics_gauges g;

		an_program_gauges(an->programs[i], &g);
		ret->open_triggers += g.open_triggers;
		ret->active_pairings += g.active_pairings;
		ret->waiting_observations += g.waiting_observations;
		if (!an_program_decides(an->programs[i]))
			continue;
		if (ret->closed_us == INT64_MIN || g.closed_us < ret->closed_us)
			ret->closed_us = g.closed_us;
		if (g.event_time_us > ret->event_time_us)
			ret->event_time_us = g.event_time_us;
	}
}

/* ---- The programs spread over the group's instances (lib/instances.h) ---- */

/* How many programs this instance decides. */
static size_t decided_count(const struct mentor_analytics *an)
{
	size_t n = 0;

	for (size_t i = 0; i < an->n_programs; i++)
		n += an_program_decides(an->programs[i]);
	return n;
}

/* The most programs this instance decides: its fair share; at a drain's end, all if it closes, else none. */
static size_t share_of(const struct mentor_analytics *an)
{
	bool found;
	size_t d = find_program(an, MENTOR_DEFAULT_PROGRAM, &found);

	if (an->closing)
		return an_program_decides(an->programs[d]) ? an->n_programs : 0;
	return an_fair_share(an->n_programs, an->n_instances);
}

/* Lets this instance take free programs while it decides fewer than its share. */
static void allow_takes(struct mentor_analytics *an)
{
	bool below = decided_count(an) < share_of(an);

	for (size_t i = 0; i < an->n_programs; i++)
		an_program_may_take(an->programs[i], below && !an_program_decides(an->programs[i]));
}

/*
 * Counts the group's instances (at most once a second), gives back the
 * programs this instance decides beyond its share, those it ranks lowest,
 * and lets it take free ones below it. Runs outside a transaction, or in a
 * batch's before its analytics wrote anything: the next decider of a
 * program given back reads every row its last decider committed.
 */
static int spread(struct mentor_analytics *an, struct mentor_store *store, struct mentor_error *err)
{
	int64_t now = mentor_monotonic_us();
	uint64_t *weight = NULL;
	bool *held = NULL, *release = NULL;
	int rc = MENTOR_OK;

	if (an->instances_checked_us == NO_TIME || now - an->instances_checked_us >= INSTANCES_CHECK_US) {
		rc = an_instances_join(store, an->group, &an->n_instances, &an->session, err);
		if (rc != MENTOR_OK)
			return rc;
		an->instances_checked_us = now;
	}
	if (decided_count(an) > share_of(an)) {
		weight = malloc(an->n_programs * sizeof(*weight));
		held = malloc(an->n_programs * sizeof(*held));
		release = malloc(an->n_programs * sizeof(*release));
		if (!weight || !held || !release) {
			rc = an_nomem(err);
			goto out;
		}
		for (size_t i = 0; i < an->n_programs; i++) {
			weight[i] = an_program_weight(program_name(an->programs[i]), an->session);
			held[i] = an_program_decides(an->programs[i]);
		}
		an_programs_to_release(weight, held, an->n_programs, share_of(an), release);
		for (size_t i = 0; rc == MENTOR_OK && i < an->n_programs; i++)
			if (release[i])
				rc = an_program_give_lead(an->programs[i], store, err);
	}
	allow_takes(an);
out:
	free(weight);
	free(held);
	free(release);
	return rc;
}

/*
 * Checks the lock of every program this instance does not decide (each at
 * most once a second, unless at_once), taking free ones while below its
 * share.
 */
static int check_leads(struct mentor_analytics *an, struct mentor_store *store, bool at_once, struct mentor_error *err)
{
	int rc = MENTOR_OK;

	for (size_t i = 0; rc == MENTOR_OK && i < an->n_programs; i++) {
		struct an_program *p = an->programs[i];

		if (an_program_decides(p))
			continue;
		rc = an_program_check_lead(p, store, at_once, err);
		if (rc == MENTOR_OK && an_program_decides(p))
			allow_takes(an);
	}
	return rc;
}

size_t mentor_analytics_program_count(const struct mentor_analytics *an)
{
	return an->n_programs;
}

const char *mentor_analytics_program_name(const struct mentor_analytics *an, size_t i)
{
	return program_name(an->programs[i]);
}

bool mentor_analytics_program_decided(const struct mentor_analytics *an, size_t i)
{
	return an_program_decides(an->programs[i]);
}

/* The programs the group's tables know (analytics_state), added; at most once a second but at a load. */
static int read_programs(struct mentor_analytics *an, struct mentor_store *store, bool now, struct mentor_error *err)
{
	int64_t t = mentor_monotonic_us();
	PGresult *res = NULL;
	int rc;

	if (!now && an->programs_checked_us != NO_TIME && t - an->programs_checked_us < 1000000)
		return MENTOR_OK;
	an->programs_checked_us = t;
	rc = mentor_store_begin(store, err);
	if (rc == MENTOR_OK)
		rc = mentor_store_exec(store, "SELECT program FROM analytics_state WHERE group_id = $1", 1,
				       (const char *const[]){ an->group }, "read the group's programs", &res, err);
	for (int i = 0; rc == MENTOR_OK && i < PQntuples(res); i++)
		rc = add_program(an, PQgetvalue(res, i, 0), err);
	PQclear(res);
	return mentor_store_end(store, rc, err);
}

int mentor_analytics_load(struct mentor_analytics *an, struct mentor_store *store, struct mentor_error *err)
{
	int rc;

	if (!an->cfg->analytics.enabled)
		return MENTOR_OK;
	rc = read_programs(an, store, true, err);
	if (rc == MENTOR_OK)
		rc = spread(an, store, err);
	for (size_t i = 0; rc == MENTOR_OK && i < an->n_programs; i++) {
		bool decided = an_program_decides(an->programs[i]);

		rc = an_program_load(an->programs[i], store, err);
		if (rc == MENTOR_OK && an_program_decides(an->programs[i]) != decided)
			allow_takes(an);
	}
	return rc;
}

/* ---- Runs of every program together ---- */

/* One run per program, for one batch, tick or finish. */
struct runs {
	struct run *r;
	size_t n;
};

static int runs_begin(struct mentor_analytics *an, struct mentor_store *store, struct runs *ret, struct mentor_error *err)
{
	ret->n = an->n_programs;
	if (!(ret->r = calloc(ret->n, sizeof(*ret->r))))
		return an_nomem(err);
	for (size_t i = 0; i < ret->n; i++)
		ret->r[i] = (struct run){ .an = an->programs[i], .s = store, .err = err };
	return MENTOR_OK;
}

/* Ends every run (the first failure's code wins) and frees them. */
static int runs_end(struct runs *runs, int rc)
{
	for (size_t i = 0; i < runs->n; i++) {
		int end = an_run_end(&runs->r[i], rc);

		if (rc == MENTOR_OK)
			rc = end;
	}
	free(runs->r);
	runs->r = NULL;
	return rc;
}

/* The newest time any program deciding in the runs has seen (an_round_due). */
static int64_t newest_seen(const struct runs *runs, bool deciding_only)
{
	int64_t newest = NO_TIME;

	for (size_t i = 0; i < runs->n; i++) {
		int64_t t;

		if (deciding_only && !runs->r[i].deciding)
			continue;
		t = mentor_detector_newest_seen(runs->r[i].an->det);
		if (t > newest)
			newest = t;
	}
	return newest;
}

/* The runs of a call, and the analytics they are of: an_read_peers' filter. */
struct runs_of {
	const struct mentor_analytics *an;
	const struct runs *runs;
};

/* Whether the program named program runs here, deciding and caught up (runs follow an->programs). */
static bool runs_here(void *ctx, const char *program)
{
	const struct runs_of *of = ctx;
	bool found;
	size_t i = find_program(of->an, program, &found);

	return found && i < of->runs->n && of->runs->r[i].deciding;
}

/*
 * What the deciders of the programs that do not run here published; nothing
 * when all do. A program this instance took but has not loaded yet counts
 * as another's: its last decider's rounds stand until it loads.
 */
static int read_peers(struct mentor_analytics *an, struct runs *runs, struct an_peers *ret)
{
	struct runs_of of = { an, runs };

	*ret = (struct an_peers){ .newest_us = NO_TIME, .next_round_us = INT64_MAX };
	for (size_t i = 0; i < runs->n; i++)
		if (!runs->r[i].deciding)
			return an_read_peers(runs->r[i].s, an->group, runs_here, &of, ret, runs->r[i].err);
	return MENTOR_OK;
}

/*
 * Every program's rounds that are due, in time order, and at one time in
 * program order, so that each round reads the pairings of every round
 * before it in that order, however far each program had got (mentor
 * capacity counts every program's pairings). A round is due once any
 * program's events reached its time, those of programs other instances
 * decide too (peers), and runs only after every round of theirs that comes
 * before it in that order: else the rounds stop here, to go on once those
 * have run. Stops after max_rounds_per_call times with more due.
 */
static int run_rounds(struct mentor_analytics *an, struct runs *runs, const struct an_peers *peers)
{
	int times = 0, rc = MENTOR_OK;

	an->peers_waited_us = NO_TIME;
	for (;;) {
		int64_t newest = newest_seen(runs, true), at = NO_TIME;

		if (peers->newest_us > newest)
			newest = peers->newest_us;
		for (size_t i = 0; i < runs->n; i++) {
			int64_t due = an_run_due(&runs->r[i], newest);

			if (due != NO_TIME && (at == NO_TIME || due < at))
				at = due;
		}
		if (at == NO_TIME)
			return MENTOR_OK;
		if (times++ == an->cfg->analytics.max_rounds_per_call) {
			for (size_t i = 0; i < runs->n; i++)
				an_run_stop_rounds(&runs->r[i], true);
			return MENTOR_OK;
		}
		if (times > 1 && an->progress)
			an->progress(an->progress_ctx);
		for (size_t i = 0; rc == MENTOR_OK && i < runs->n; i++) {
			if (an_run_due(&runs->r[i], newest) != at)
				continue;
			if (!an_round_before_peers(peers, at, program_name(runs->r[i].an))) {
				for (size_t k = 0; k < runs->n; k++)
					an_run_stop_rounds(&runs->r[k], false);
				an->peers_waited_us = mentor_monotonic_us();
				return MENTOR_OK;
			}
			rc = an_run_round_at(&runs->r[i], at);
		}
		if (rc != MENTOR_OK)
			return rc;
	}
}

/*
 * After the prepares: rounds, the rest evaluated, at a drain's end (last:
 * this instance decides every program) the last rounds, and every row
 * written.
 */
static int run_all(struct mentor_analytics *an, struct runs *runs, bool last)
{
	struct an_peers peers;
	int rc = read_peers(an, runs, &peers);
	int64_t newest;

	if (rc == MENTOR_OK)
		rc = run_rounds(an, runs, &peers);
	for (size_t i = 0; rc == MENTOR_OK && i < runs->n; i++)
		rc = an_run_evaluate(&runs->r[i]);
	newest = newest_seen(runs, true);
	for (size_t i = 0; rc == MENTOR_OK && last && i < runs->n; i++)
		rc = an_run_last_round(&runs->r[i], newest);
	for (size_t i = 0; rc == MENTOR_OK && i < runs->n; i++)
		rc = an_run_write(&runs->r[i]);
	return rc;
}

/*
 * The batch's programs get one: each event's program's index in
 * an->owner. A program first seen is added; it loads before it decides, so
 * its events of this batch are read from the tables then.
 */
static int note_owners(struct mentor_analytics *an, const struct mentor_batch *b, struct mentor_error *err)
{
	size_t n = mentor_batch_rows(b, MENTOR_STAGE_EVENTS), known = an->n_programs;
	int rc = MENTOR_OK;

	for (size_t i = 0; rc == MENTOR_OK && i < n; i++)
		rc = add_program(an, mentor_batch_event_program(b, i), err);
	if (rc != MENTOR_OK)
		return rc;
	if (an->n_programs > known) {
		/*
		 * The rounds of every program keep in step (run_rounds): those deciding
		 * must not go on without the new one, which loads first. A program is
		 * new once, so this costs one load of each at its first event.
		 */
		for (size_t p = 0; p < an->n_programs; p++)
			an->programs[p]->need_load = true;
	}
	if (!mentor_grow((void **)&an->owner, &an->cap_owner, n ? n - 1 : 0, sizeof(*an->owner), n ? n : 1, SIZE_MAX))
		return an_nomem(err);
	for (size_t i = 0; i < n; i++) {
		bool found;

		an->owner[i] = (uint32_t)find_program(an, mentor_batch_event_program(b, i), &found);
	}
	return MENTOR_OK;
}

/* mask[i]: event i is program p's (and stored[i], when stored is given). */
static void program_mask(const struct mentor_analytics *an, size_t p, const struct mentor_batch *b,
			 const unsigned char *stored, unsigned char *mask)
{
	for (size_t i = 0; i < mentor_batch_rows(b, MENTOR_STAGE_EVENTS); i++)
		mask[i] = an->owner[i] == p && (!stored || stored[i]);
}

int mentor_analytics_batch_early(void *ctx, const unsigned char *suspects, struct mentor_error *err)
{
	struct mentor_analytics_batch *ab = ctx;
	struct mentor_analytics *an = ab->an;
	size_t n = mentor_batch_rows(ab->batch, MENTOR_STAGE_EVENTS);
	unsigned char *mine = NULL;
	struct runs runs = { 0 };
	int rc;

	ab->early = true;
	if (!an->cfg->analytics.enabled)
		return MENTOR_OK;
	rc = note_owners(an, ab->batch, err);
	if (rc == MENTOR_OK && !(mine = malloc(n ? n : 1)))
		rc = an_nomem(err);
	if (rc == MENTOR_OK)
		rc = runs_begin(an, NULL, &runs, err);
	for (size_t i = 0; rc == MENTOR_OK && i < runs.n; i++) {
		program_mask(an, i, ab->batch, NULL, mine);
		rc = an_early_observe(&runs.r[i], ab->batch, mine, suspects);
	}
	/*
	 * Rounds due depend on the newest time of every program: with programs
	 * other instances decide, only the hook (run_rounds) knows it.
	 */
	for (size_t i = 0; rc == MENTOR_OK && decided_count(an) == an->n_programs && !mentor_analytics_needs_load(an) &&
			    i < runs.n; i++)
		rc = an_early_evaluate(&runs.r[i], ab->batch, newest_seen(&runs, false));
	free(mine);
	return runs.r ? runs_end(&runs, rc) : rc;
}

int mentor_analytics_batch_hook(void *ctx, struct mentor_store *store, const unsigned char *stored,
				struct mentor_error *err)
{
	struct mentor_analytics_batch *ab = ctx;
	struct mentor_analytics *an = ab->an;
	size_t n = mentor_batch_rows(ab->batch, MENTOR_STAGE_EVENTS);
	unsigned char *mine = NULL;
	struct runs runs = { 0 };
	int rc;

	if (!an->cfg->analytics.enabled)
		return MENTOR_OK;
	/* Without batch_early, the programs of the batch are noted now; with it, they stand as it left them. */
	rc = ab->early ? MENTOR_OK : note_owners(an, ab->batch, err);
	if (rc == MENTOR_OK)
		rc = spread(an, store, err);
	if (rc == MENTOR_OK && !(mine = malloc(n ? n : 1)))
		rc = an_nomem(err);
	if (rc == MENTOR_OK)
		rc = runs_begin(an, store, &runs, err);
	for (size_t i = 0; rc == MENTOR_OK && i < runs.n; i++) {
		bool decided = an_program_decides(runs.r[i].an);

		program_mask(an, i, ab->batch, stored, mine);
		rc = an_batch_prepare(&runs.r[i], ab->batch, mine);
		if (an_program_decides(runs.r[i].an) != decided)
			allow_takes(an);
	}
	free(mine);
	if (rc == MENTOR_OK)
		rc = run_all(an, &runs, false);
	return runs.r ? runs_end(&runs, rc) : rc;
}

/* Prepares every program's run with no batch, each source up to closed, in the caller's transaction. */
static int prepare_alone(struct mentor_analytics *an, struct runs *runs, struct mentor_source_times closed)
{
	int rc = MENTOR_OK;

	for (size_t i = 0; rc == MENTOR_OK && i < runs->n; i++) {
		bool decided = an_program_decides(runs->r[i].an);

		rc = an_alone_prepare(&runs->r[i], closed);
		if (an_program_decides(runs->r[i].an) != decided)
			allow_takes(an);
	}
	return rc;
}

int mentor_analytics_tick(struct mentor_analytics *an, struct mentor_store *store, struct mentor_error *err)
{
	struct runs runs = { 0 };
	bool due = false;
	int rc = MENTOR_OK;

	if (!an->cfg->analytics.enabled)
		return MENTOR_OK;
	rc = read_programs(an, store, false, err);
	if (rc == MENTOR_OK)
		rc = spread(an, store, err);
	if (rc == MENTOR_OK)
		rc = check_leads(an, store, false, err);
	for (size_t i = 0; rc == MENTOR_OK && i < an->n_programs; i++)
		if (an_program_decides(an->programs[i]) && an_program_tick_due(an->programs[i]))
			due = true;
	/* Rounds that wait for another instance's program look again a little later, not at every pass. */
	if (an->peers_waited_us != NO_TIME && mentor_monotonic_us() - an->peers_waited_us >= PEERS_WAIT_US)
		due = true;
	if (rc != MENTOR_OK || !due || mentor_analytics_needs_load(an))
		return rc;
	rc = mentor_store_begin(store, err);
	if (rc != MENTOR_OK)
		return rc;
	rc = runs_begin(an, store, &runs, err);
	if (rc == MENTOR_OK)
		rc = prepare_alone(an, &runs, an->next_closed);
	if (rc == MENTOR_OK)
		rc = run_all(an, &runs, false);
	rc = runs.r ? runs_end(&runs, rc) : rc;
	return mentor_store_end(store, rc, err);
}

/*
 * The last rounds of every program run in one instance, in the order of
 * run_rounds: the one that decides the program 'default' (there is always
 * one) closes the drain and takes every program; any other gives its
 * programs back and is done, its events stored.
 */
int mentor_analytics_finish(struct mentor_analytics *an, struct mentor_store *store, bool *ret_done,
			    struct mentor_error *err)
{
	struct runs runs = { 0 };
	struct an_program *def;
	bool found, all;
	int rc;

	*ret_done = true;
	if (!an->cfg->analytics.enabled)
		return MENTOR_OK;
	an->closing = true;
	/* Should the closer be gone, the first instance here takes its place. */
	def = an->programs[find_program(an, MENTOR_DEFAULT_PROGRAM, &found)];
	an_program_may_take(def, true);
	rc = an_program_check_lead(def, store, true, err);
	if (rc == MENTOR_OK)
		rc = spread(an, store, err);
	if (rc == MENTOR_OK && decided_count(an) == 0)
		return MENTOR_OK;
	if (rc == MENTOR_OK)
		rc = mentor_store_begin(store, err);
	if (rc != MENTOR_OK) {
		*ret_done = false;
		return rc;
	}
	rc = runs_begin(an, store, &runs, err);
	if (rc == MENTOR_OK)
		rc = prepare_alone(an, &runs, an_all_at(MENTOR_DETECT_ALL));
	all = decided_count(an) == an->n_programs;
	if (rc == MENTOR_OK)
		rc = run_all(an, &runs, all);
	/* Done once it decides every program and each has had its last round. */
	*ret_done = all;
	for (size_t i = 0; rc == MENTOR_OK && i < runs.n; i++)
		if (!an_run_at_end(&runs.r[i]))
			*ret_done = false;
	rc = runs.r ? runs_end(&runs, rc) : rc;
	rc = mentor_store_end(store, rc, err);
	if (rc != MENTOR_OK)
		*ret_done = false;
	return rc;
}
