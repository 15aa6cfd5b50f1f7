/*
 * The instances of a consumer group and the programs they decide
 * (docs/analytics.md "Programs"): every program has its own decider lock,
 * and the instances spread the programs among them, each a fair share.
 * Internal to lib/.
 *
 * An instance joins the group's instances by holding a shared advisory lock
 * in its session (taken again after a reconnect, given back when the
 * session ends: an instance that dies leaves at once). Its fair share is
 * the programs divided by the instances, rounded up; one that holds more
 * gives back those it ranks lowest, one that holds fewer takes free ones.
 * Each instance ranks the programs by a weight of the program and its own
 * session (rendezvous hashing), so that instances reach for different
 * programs first.
 */
#ifndef MENTOR_INSTANCES_H
#define MENTOR_INSTANCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentor/error.h"
#include "mentor/events.h"
#include "store_int.h"

/*
 * Joins the group's instances if this session has not yet, in the caller's
 * transaction or none; returns in *ret_count how many sessions hold the
 * group's instance lock (this one too) and in *ret_session this session's
 * backend pid. MENTOR_OK or MENTOR_ERR_DB.
 */
int an_instances_join(struct mentor_store *s, const char *group, int *ret_count, int *ret_session,
		      struct mentor_error *err);

/* How many of n_programs one of n_instances decides at most: n_programs / n_instances, rounded up. */
size_t an_fair_share(size_t n_programs, int n_instances);

/* The rank of a program for the instance of session `session`: higher first. */
uint64_t an_program_weight(const char *program, int session);

/*
 * Which of the held programs to give back so that at most `share` stay:
 * those of least weight. weight[i], held[i] per program; sets release[i]
 * (false for every other) and returns how many are released.
 */
size_t an_programs_to_release(const uint64_t *weight, const bool *held, size_t n, size_t share, bool *release);

/*
 * What the deciders of other programs published (analytics_state), read in
 * the caller's transaction: for each row of the group whose program does
 * not run in the caller (runs_here(ctx, program) false), the newest decision
 * time seen, and the earliest round still to run, by time then program
 * name (the order rounds run in, lib/analytics.c).
 */
struct an_peers {
	int64_t newest_us;       /* INT64_MIN: none */
	int64_t next_round_us;   /* INT64_MAX: no round pending */
	char next_program[MENTOR_ID_MAX];  /* the program of that round */
};
int an_read_peers(struct mentor_store *s, const char *group, bool (*runs_here)(void *ctx, const char *program),
		  void *ctx, struct an_peers *ret, struct mentor_error *err);

/* Whether the round of `program` at at_us comes before the peers' earliest pending round (by time, then name). */
bool an_round_before_peers(const struct an_peers *peers, int64_t at_us, const char *program);

#endif
