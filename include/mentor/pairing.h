/*
 * Pairing (SPEC section 3): one round assigns every open trigger at once.
 *
 * The caller hands in the roster, the open triggers (mentees), the
 * mentor-eligible agents of each behavior with their strength, and the pairs
 * still in cooldown. mentor_pair_round() returns, for every mentee, the mentor
 * of a minimum-cost assignment, or -1 when it has to wait. Pure computation:
 * no database, no clock, no globals; the same input gives the same output.
 *
 * Forbidden pairs (never produced): the mentee itself; an inactive mentor; a
 * different language; a different site when same_site; a mentor with no
 * capacity left; a mentor that is itself low or a mentee in the behavior (its
 * flag below, or an open trigger of its own in this round); a pair in
 * cooldown; the same team when cross_team is required; the mentee's own team
 * lead (mentor id == mentee's team_lead_id).
 *
 * Objective, in this order:
 *  1. as many mentees paired as possible;
 *  2. the least total cost, in integer cost units (so optimality and ties are
 *     exact; 1,000,000 units = one whole point of normalized strength):
 *
 *     pair cost  = w_strength * (1 - strength), rounded half up
 *                + w_same_team        if cross_team is preferred and both
 *                                     agents have the same known team
 *     slot cost  = w_load * (2m + 1)  for the slot taking a mentor from m to
 *                                     m + 1 mentees (m counts its active
 *                                     mentees plus those given in this round)
 *
 *     The slot costs of a mentor with m mentees add up to w_load * m^2: each
 *     extra mentee costs more than the previous one, so load spreads over
 *     mentors of similar strength, and a much stronger mentor still takes a
 *     second mentee.
 *
 * Capacity counts mentees across all behaviors (SPEC: "a mentor holds at most
 * capacity active mentees"), so the round is one problem over all behaviors,
 * not one per behavior.
 *
 * Ties: the result depends on the content of the input, never on the order
 * of its arrays. Mentees are added one at a time in (agent id, behavior)
 * order, each along its cheapest augmenting path; between paths of equal cost
 * the one through lower agent ids wins. When several assignments have the
 * same count and total cost, this rule fixes which one is returned.
 */
#ifndef MENTOR_PAIRING_H
#define MENTOR_PAIRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentor/error.h"

/* Limits on the sizes of one round; larger inputs are rejected as invalid. */
#define MENTOR_PAIR_AGENTS_MAX 1000000
#define MENTOR_PAIR_MENTEES_MAX 1000000
#define MENTOR_PAIR_CANDIDATES_MAX 10000000
#define MENTOR_PAIR_RECENT_MAX 10000000
#define MENTOR_PAIR_CAPACITY_MAX 100
#define MENTOR_PAIR_WEIGHT_MAX 100000000   /* any one cost weight */

/* Alternatives recorded per mentee: the candidates it was chosen over. */
#define MENTOR_PAIR_ALTS 3

enum mentor_cross_team {
	MENTOR_CROSS_TEAM_PREFERRED,  /* same team allowed, at a cost of w_same_team */
	MENTOR_CROSS_TEAM_REQUIRED,   /* same team forbidden */
	MENTOR_CROSS_TEAM_IGNORE,     /* teams play no part */
};

struct mentor_pair_config {
	int capacity;                      /* active mentees a mentor may hold, default 2 */
	bool same_site;                    /* mentor on the mentee's site only, default false */
	enum mentor_cross_team cross_team; /* default preferred */
	int64_t w_strength;                /* default 1,000,000: strength 0.90 costs 100,000 */
	int64_t w_load;                    /* default 20,000: slots cost 20k, 60k, 100k... */
	int64_t w_same_team;               /* default 50,000: worth 0.05 of strength */
	/*
	 * Speed only: how many of its cheapest candidates each mentee starts
	 * with (0: automatic, 16 plus the number of mentees with the same
	 * candidates: behavior, language, site if same_site). The answer is then checked against every
	 * feasible pair and the search widened where the check fails (see
	 * pairing.c), so the number paired and the total cost never depend on
	 * it; among equally cheap assignments, which one is returned may.
	 */
	int prune;
};

/*
 * One roster entry. Strings are borrowed for the duration of the call.
 * language and site: NULL is a value of its own (matches only NULL), so a
 * roster without languages pairs within one language. team_id NULL: unknown,
 * never the same team as anyone.
 */
struct mentor_pair_agent {
	const char *id;            /* unique, non-empty */
	const char *team_id;
	const char *team_lead_id;  /* the agent's own team lead (an agent id), or NULL */
	const char *language;
	const char *site;
	bool active;
	int active_mentees;        /* mentees it mentors now, all behaviors; >= 0 */
};

/* An open trigger: agent (index into agents) is low in behavior (>= 0, the
 * caller's number for a behavior name). At most one per (agent, behavior).
 * The mentee's own active flag is not looked at: pass open triggers only. */
struct mentor_pair_mentee {
	int agent;
	int behavior;
};

/* A mentor-eligible agent in a behavior (>= 0). At most one per (agent, behavior). */
struct mentor_pair_candidate {
	int agent;
	int behavior;
	double strength;  /* normalized 0..1, e.g. the lower bound of its interval */
	bool is_mentee;   /* low, or an active mentee, in this behavior: never its mentor */
};

/* A pair in cooldown: mentor was paired with mentee within the cooldown.
 * behavior -1 puts the pair in cooldown for every behavior. */
struct mentor_pair_recent {
	int mentee;   /* agent index */
	int mentor;   /* agent index */
	int behavior;
};

struct mentor_pair_input {
	const struct mentor_pair_agent *agents;
	size_t n_agents;
	const struct mentor_pair_mentee *mentees;
	size_t n_mentees;
	const struct mentor_pair_candidate *candidates;
	size_t n_candidates;
	const struct mentor_pair_recent *recent;
	size_t n_recent;
};

struct mentor_pair_choice {
	int mentor;    /* agent index */
	int64_t cost;  /* pair cost + the slot cost of the mentor's first free slot */
};

/* The answer for one mentee: the reason record of SPEC section 3. */
struct mentor_pair_assignment {
	int mentor;        /* agent index, or -1: waits (no mentor possible this round) */
	int64_t cost;      /* pair cost + cost of the slot it took; 0 when waiting */
	int n_feasible;    /* mentors that passed every constraint */
	int n_alts;
	/* The cheapest feasible mentors other than the chosen one, cheapest first
	 * (ties: lower agent id), each costed as if it were the only pairing. */
	struct mentor_pair_choice alts[MENTOR_PAIR_ALTS];
};

/* One allocation: free with mentor_pair_result_free(). */
struct mentor_pair_result {
	size_t n_mentees;     /* entries in a[], in the order of the input mentees */
	size_t matched;       /* mentees with a mentor */
	int64_t total_cost;   /* sum of a[].cost */
	int passes;           /* solver passes; more than 1 when pruning had to widen */
	struct mentor_pair_assignment a[];
};

/* Sets the defaults above. */
void mentor_pair_config_init(struct mentor_pair_config *cfg);

/*
 * Runs one pairing round. On MENTOR_OK, *ret_result holds the caller's result.
 * Returns MENTOR_ERR_INVALID (an index, size, weight or strength out of range,
 * an empty or duplicate agent id, a duplicate mentee or candidate) or
 * MENTOR_ERR_NOMEM, with err filled and *ret_result untouched.
 */
int mentor_pair_round(const struct mentor_pair_input *in, const struct mentor_pair_config *cfg,
		      struct mentor_pair_result **ret_result, struct mentor_error *err);

/* Frees a result; NULL is fine. */
void mentor_pair_result_free(struct mentor_pair_result *res);

#endif
