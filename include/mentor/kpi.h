/*
 * KPI windows (SPEC section 4): before and after sums of one agent's metric
 * around a start, accumulated in memory as observations are evaluated.
 *
 * A window belongs to an owner: a pairing (subject mentee or mentor) or, for
 * the comparison group, a trigger that was never paired. Windows are whole
 * UTC days (mentor_stats_kpi_windows_day): the start's day opens the after
 * window. Sums are integers in millionths (squares in 1e-12), as
 * agent_daily stores them, so a window equals a recomputation from the
 * stored events exactly. A window takes the observations of its days decided
 * before its decided_before_day, whatever the order in which they come: what
 * it holds is a function of each observation's day and day of decision, not
 * of when it is closed. It is final once the caller knows that no
 * observation decided before that day can still come; after that it is
 * written once and forgotten.
 *
 * No database, clock, logging or globals; not thread-safe.
 */
#ifndef MENTOR_KPI_H
#define MENTOR_KPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentor/error.h"
#include "mentor/stats.h"

/* n, sum (1e-6 units) and sum of squares (1e-12 units) of normalized values. */
struct mentor_kpi_sums {
	int64_t n, sum_e6, sumsq_e12;
};

struct mentor_kpi_window {
	const char *owner_id;      /* pairing_id, or trigger_id when comparison */
	bool comparison;
	const char *subject;       /* "mentee" or "mentor" */
	const char *agent_id, *metric;
	bool is_target;            /* metric is the owner's behavior */
	struct mentor_day_window before, after;
	int64_t decided_before_day;  /* the first day of decision it no longer takes (after.to_day plus the lateness) */
	struct mentor_kpi_sums b, a;
	bool final;
	bool written;              /* a row holds it in PostgreSQL: loaded, or handed to fn by take_changed */
};

struct mentor_kpi_set;

/* An empty set into *ret. MENTOR_OK or MENTOR_ERR_NOMEM. */
int mentor_kpi_set_new(struct mentor_kpi_set **ret, struct mentor_error *err);

void mentor_kpi_set_free(struct mentor_kpi_set *set);

/* Adds a window (strings copied), marked changed. MENTOR_OK, _INVALID (a string too long) or _NOMEM. */
int mentor_kpi_add(struct mentor_kpi_set *set, const struct mentor_kpi_window *w, struct mentor_error *err);

/*
 * Adds an evaluated observation of day, decided on decide_day, to every
 * window of (agent, metric) whose before or after holds day and whose
 * decided_before_day is later than decide_day, final or not. key_hash is the
 * key's hash as mentor_detect_obs carries it (the set finds the windows by it).
 */
void mentor_kpi_observe_key(struct mentor_kpi_set *set, uint64_t key_hash, const char *agent_id, const char *metric,
			    int64_t day, int64_t decide_day, int64_t value_e6);

/* Drops the windows of an owner (a comparison trigger that got paired). */
void mentor_kpi_remove_owner(struct mentor_kpi_set *set, const char *owner_id, bool comparison);

/*
 * Marks final (and changed) every window that takes no observation decided
 * on decide_day or later (decided_before_day <= decide_day). Call it once no
 * observation decided before decide_day can still come; it changes no sums.
 */
void mentor_kpi_close(struct mentor_kpi_set *set, int64_t decide_day);

/*
 * Calls fn (NULL: none) for each window changed since the last call that
 * want accepts (want NULL: every one; both get ctx), in (comparison, owner,
 * subject, metric) order; clears their marks, marks them written when fn
 * is given, and forgets the final ones. The windows want passes over keep
 * their marks. Returns MENTOR_OK, MENTOR_ERR_NOMEM or
 * fn's first other value (the marks are then kept).
 */
int mentor_kpi_take_changed(struct mentor_kpi_set *set, bool (*want)(void *ctx, const struct mentor_kpi_window *w),
			    int (*fn)(void *ctx, const struct mentor_kpi_window *w), void *ctx);

/* Means, delta and Welch interval of a window on a metric's native scale. */
void mentor_kpi_delta(const struct mentor_kpi_window *w, const struct mentor_scale *sc, double confidence,
		      struct mentor_kpi_delta *ret);

#endif
