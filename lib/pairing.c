/*
 * Pairing round: a minimum-cost assignment of mentees to mentor slots.
 *
 * Model. Each mentee is a row; each mentor is a node with one arc to the sink
 * per free slot, the slot taking it from m to m + 1 mentees costing
 * w_load * (2m + 1). Since that grows with m, the cheapest free slot of a
 * mentor is always its next one, so a mentor node with a load counter stands
 * for all its slots (as if its column were repeated once per slot). Every row
 * also has a private "waiting" column of cost BIG, larger than the cost of any
 * whole assignment: every row is then always assigned, and the cheapest
 * complete assignment pairs as many mentees as possible first and has the
 * least real cost among those.
 *
 * Algorithm. Shortest augmenting paths with potentials (Hungarian method, the
 * form used by Jonker-Volgenant): rows are added one at a time, in agent id
 * order, and each takes the shortest path, in reduced costs, from itself to a
 * free slot or to some row's waiting column, found by Dijkstra stopped as soon
 * as the sink is settled. Potentials keep every reduced cost non-negative, which
 * proves the assignment optimal after each step.
 *
 * Pruning. A mentee can have thousands of feasible mentors while the optimum
 * uses only the cheap ones, so a row starts with its K cheapest candidates
 * (cost including the mentor's first free slot). The potentials at the end are
 * then checked against every feasible pair left out: if each has a
 * non-negative reduced cost, there is no negative cycle in the full residual
 * graph either, so the assignment is optimal for the full problem, not just
 * the pruned one. A row failing the check gets all its candidates and the
 * round is solved again; a second failure solves with every candidate. The
 * result is exact in every case; K only decides the speed.
 *
 * Speed. A row's arcs are sorted by key (pair cost + first free slot), and a
 * reduced cost is never below key + the row's potential, so a scan stops at
 * the first arc that cannot beat the sink. Mentees of one behavior and
 * language mostly see the same candidates; once one of them is settled, the
 * shared part of the others' lists is skipped (dominated()). Without that,
 * each added row would rescan every similar row already placed. And the sink
 * is tried as soon as a mentor with a free slot is reached, so rounds full of
 * equal costs stop at the first free slot. (bench/pairing_bench.c: 20,000
 * agents and 2,000 triggers in about 50 ms; 70 ms unpruned; 60 ms with every
 * strength equal, where pruning needs a second pass.)
 *
 * Costs are int64. BIG = (mentees + 1) * (largest arc + slot cost + 1), and
 * the limits in pairing.h keep BIG below INT64_MAX / 16; potentials stay
 * within [-2 BIG, 0] and distances within a few BIG.
 */
#include "mentor/pairing.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"

#define INF_COST (INT64_MAX / 4)
#define UNPROCESSED (-2)
#define WAITING (-1)

struct arc {
	int mentor;     /* agent rank */
	int64_t cost;   /* pair cost, without the slot */
	int64_t key;    /* cost + the mentor's first free slot: a row's arcs are in key order */
};

/* A mentor-eligible agent in a behavior that passed the per-mentor checks. */
struct cand {
	int behavior, lang, site;  /* site is 0 for all unless same_site */
	int mentor;                /* agent rank */
	int64_t scost;             /* strength cost */
	int64_t base;              /* scost + first free slot: order within a bucket */
};

struct row {
	int in;                /* index in the input mentees */
	int agent;             /* rank */
	int behavior;
	size_t blo, bhi;       /* its bucket: cands[blo..bhi) share behavior, language, site */
	int n_feasible;
	int k;                 /* arcs to keep when not full */
	bool full;             /* keep every feasible arc */
	int clean;             /* its first arcs are the first `clean` candidates of its bucket */
	int n_alts;
	struct mentor_pair_choice alts[MENTOR_PAIR_ALTS + 1];  /* mentor as a rank */
};

struct cool {
	int mentor;     /* rank */
	int behavior;   /* -1: any */
};

struct heap_item {
	int64_t d;
	int node;
};

struct pairing {
	const struct mentor_pair_config *cfg;
	int n_agents, n_rows;

	/* Agents by rank (agent id order). */
	int *agent_in;     /* rank -> input index */
	int *rank;         /* input index -> rank */
	int *lang, *site, *team, *lead;
	int *load0;        /* active mentees */

	struct row *rows;
	struct cand *cands;
	size_t n_cands, max_bucket;

	/* Cooldown pairs by mentee rank, and per-row marks on mentor ranks. */
	size_t *cool_start;
	struct cool *cool;
	unsigned *mark;
	unsigned mark_gen;

	/* Pruned arc lists, rows in order. */
	size_t *arc_start;
	struct arc *arcs;
	size_t cap_arcs;
	struct arc *scratch_a, *scratch_b;

	/* Solver state. Nodes: rows [0, n_rows), mentors n_rows + rank. */
	int64_t big;
	int64_t *p;        /* potentials; the sink's is 0 */
	int *cur;          /* row -> mentor rank, WAITING or UNPROCESSED */
	int64_t *cur_cost; /* row -> pair cost of its current arc */
	int *load;         /* mentor rank -> mentees, active plus this round */
	int *head;         /* mentor rank -> first assigned row */
	int *next, *prev;  /* rows of the same mentor */

	/* Dijkstra. */
	int64_t *dom_val;  /* by bucket start: least d + p of a clean row settled in this run */
	int *dom_len;
	unsigned *dom_gen;
	int64_t *dist;
	int *pred;
	int64_t *pred_cost;
	unsigned *seen, *done;
	unsigned gen;
	int *popped;
	struct heap_item *heap;
	size_t heap_n, heap_cap;
};

/* ---- small helpers ---- */

static int64_t slot_cost(const struct pairing *pg, int m)
{
	return pg->cfg->w_load * (2 * (int64_t)m + 1);
}

static bool same_team(const struct pairing *pg, int a, int b)
{
	return pg->team[a] >= 0 && pg->team[a] == pg->team[b];
}

static int cmp_int(int a, int b)
{
	return (a > b) - (a < b);
}

static int cmp_i64(int64_t a, int64_t b)
{
	return (a > b) - (a < b);
}

/* Interning: each distinct language, site or team string becomes a small int. */
struct strtab {
	const char **key;
	int *id;
	size_t mask;
	int n;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int strtab_id(struct strtab *t, const char *s)
{
	size_t i;

	if (!s)
		return -1;
	for (i = str_hash(s) & t->mask; t->key[i]; i = (i + 1) & t->mask)
		if (strcmp(t->key[i], s) == 0)
			return t->id[i];
	t->key[i] = s;
	t->id[i] = t->n;
	return t->n++;
}

/* ---- sorting ---- */

struct id_ref {
	const char *id;
	int idx;
};

static int cmp_id_ref(const void *a, const void *b)
{
	return strcmp(((const struct id_ref *)a)->id, ((const struct id_ref *)b)->id);
}

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c = cmp_int(x->agent, y->agent);

	return c ? c : cmp_int(x->behavior, y->behavior);
}

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c;

	if ((c = cmp_int(x->behavior, y->behavior)) || (c = cmp_int(x->lang, y->lang)) ||
	    (c = cmp_int(x->site, y->site)) || (c = cmp_i64(x->base, y->base)))
		return c;
	return cmp_int(x->mentor, y->mentor);
}

struct pair_key {
	int a, b;
};

static int cmp_pair_key(const void *a, const void *b)
{
	const struct pair_key *x = a, *y = b;
	int c = cmp_int(x->a, y->a);

	return c ? c : cmp_int(x->b, y->b);
}

/* Whether rows (sorted) hold an open trigger for agent rank a in behavior b. */
static bool has_row(const struct pairing *pg, int a, int b)
{
	struct row key = { .agent = a, .behavior = b };

	return bsearch(&key, pg->rows, (size_t)pg->n_rows, sizeof(*pg->rows), cmp_row) != NULL;
}

/* First index in cands whose (behavior, lang, site) is >= the key's. */
static size_t cand_lower(const struct pairing *pg, int b, int lang, int site)
{
	size_t lo = 0, hi = pg->n_cands;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct cand *c = &pg->cands[mid];
		int d = cmp_int(c->behavior, b);

		if (!d)
			d = cmp_int(c->lang, lang);
		if (!d)
			d = cmp_int(c->site, site);
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- setup ---- */

static void pairing_free(struct pairing *pg)
{
	free(pg->agent_in);
	free(pg->rank);
	free(pg->lang);
	free(pg->site);
	free(pg->team);
	free(pg->lead);
	free(pg->load0);
	free(pg->rows);
	free(pg->cands);
	free(pg->cool_start);
	free(pg->cool);
	free(pg->mark);
	free(pg->arc_start);
	free(pg->arcs);
	free(pg->scratch_a);
	free(pg->scratch_b);
	free(pg->p);
	free(pg->cur);
	free(pg->cur_cost);
	free(pg->load);
	free(pg->head);
	free(pg->next);
	free(pg->prev);
	free(pg->dom_val);
	free(pg->dom_len);
	free(pg->dom_gen);
	free(pg->dist);
	free(pg->pred);
	free(pg->pred_cost);
	free(pg->seen);
	free(pg->done);
	free(pg->popped);
	free(pg->heap);
}

static int check_config(const struct mentor_pair_config *cfg, struct mentor_error *err)
{
	if (cfg->capacity < 0 || cfg->capacity > MENTOR_PAIR_CAPACITY_MAX)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: capacity %d is outside 0..%d",
					cfg->capacity, MENTOR_PAIR_CAPACITY_MAX);
	if (cfg->cross_team != MENTOR_CROSS_TEAM_PREFERRED && cfg->cross_team != MENTOR_CROSS_TEAM_REQUIRED &&
	    cfg->cross_team != MENTOR_CROSS_TEAM_IGNORE)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: unknown cross_team policy %d",
					(int)cfg->cross_team);
	if (cfg->w_strength < 0 || cfg->w_strength > MENTOR_PAIR_WEIGHT_MAX || cfg->w_load < 0 ||
	    cfg->w_load > MENTOR_PAIR_WEIGHT_MAX || cfg->w_same_team < 0 ||
	    cfg->w_same_team > MENTOR_PAIR_WEIGHT_MAX)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: a cost weight is outside 0..%d",
					MENTOR_PAIR_WEIGHT_MAX);
	if (cfg->prune < 0)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: prune %d is negative", cfg->prune);
	return MENTOR_OK;
}

static int check_sizes(const struct mentor_pair_input *in, struct mentor_error *err)
{
	if (in->n_agents > MENTOR_PAIR_AGENTS_MAX || in->n_mentees > MENTOR_PAIR_MENTEES_MAX ||
	    in->n_candidates > MENTOR_PAIR_CANDIDATES_MAX || in->n_recent > MENTOR_PAIR_RECENT_MAX)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: round too large (%zu agents, "
					"%zu mentees, %zu candidates, %zu recent pairs)", in->n_agents,
					in->n_mentees, in->n_candidates, in->n_recent);
	if ((in->n_agents && !in->agents) || (in->n_mentees && !in->mentees) ||
	    (in->n_candidates && !in->candidates) || (in->n_recent && !in->recent))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: NULL array with a non-zero size");
	return MENTOR_OK;
}

#define ALLOC(ptr, count) \
	((ptr) = calloc((count) ? (size_t)(count) : 1, sizeof(*(ptr))))

/* Ranks agents by id and interns their attributes. */
static int setup_agents(struct pairing *pg, const struct mentor_pair_input *in, struct mentor_error *err)
{
	const int n = pg->n_agents;
	struct id_ref *ids = NULL;
	struct strtab tab = { 0 };
	size_t slots = 16;
	int ret = MENTOR_ERR_NOMEM;

	while (slots < 6 * (size_t)n + 16)
		slots *= 2;
	if (!ALLOC(ids, n) || !ALLOC(tab.key, slots) || !ALLOC(tab.id, slots) || !ALLOC(pg->agent_in, n) ||
	    !ALLOC(pg->rank, n) || !ALLOC(pg->lang, n) || !ALLOC(pg->site, n) || !ALLOC(pg->team, n) ||
	    !ALLOC(pg->lead, n) || !ALLOC(pg->load0, n))
		goto out;
	tab.mask = slots - 1;

	for (int i = 0; i < n; i++) {
		const struct mentor_pair_agent *a = &in->agents[i];

		if (!a->id || !a->id[0]) {
			ret = mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: agent %d has no id", i);
			goto out;
		}
		if (a->active_mentees < 0) {
			ret = mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: agent %s has %d active mentees",
					       a->id, a->active_mentees);
			goto out;
		}
		ids[i] = (struct id_ref){ a->id, i };
	}
	qsort(ids, (size_t)n, sizeof(*ids), cmp_id_ref);
	for (int r = 0; r < n; r++) {
		const struct mentor_pair_agent *a = &in->agents[ids[r].idx];

		if (r > 0 && strcmp(ids[r - 1].id, ids[r].id) == 0) {
			ret = mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: duplicate agent id %s", ids[r].id);
			goto out;
		}
		pg->agent_in[r] = ids[r].idx;
		pg->rank[ids[r].idx] = r;
		pg->lang[r] = strtab_id(&tab, a->language);
		pg->site[r] = strtab_id(&tab, a->site);
		pg->team[r] = strtab_id(&tab, a->team_id);
		pg->load0[r] = a->active_mentees;
	}
	for (int r = 0; r < n; r++) {
		const char *lead = in->agents[pg->agent_in[r]].team_lead_id;
		struct id_ref key = { lead, 0 }, *hit;

		hit = lead ? bsearch(&key, ids, (size_t)n, sizeof(*ids), cmp_id_ref) : NULL;
		pg->lead[r] = hit ? (int)(hit - ids) : -1;
	}
	ret = MENTOR_OK;
out:
	free(ids);
	free(tab.key);
	free(tab.id);
	return ret == MENTOR_ERR_NOMEM ? mentor_error_set(err, ret, "pairing: out of memory") : ret;
}

static int setup_rows(struct pairing *pg, const struct mentor_pair_input *in, struct mentor_error *err)
{
	if (!ALLOC(pg->rows, pg->n_rows))
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "pairing: out of memory");
	for (int i = 0; i < pg->n_rows; i++) {
		const struct mentor_pair_mentee *m = &in->mentees[i];

		if (m->agent < 0 || m->agent >= pg->n_agents || m->behavior < 0)
			return mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: mentee %d has agent %d, "
						"behavior %d", i, m->agent, m->behavior);
		pg->rows[i] = (struct row){ .in = i, .agent = pg->rank[m->agent], .behavior = m->behavior };
	}
	qsort(pg->rows, (size_t)pg->n_rows, sizeof(*pg->rows), cmp_row);
	for (int i = 1; i < pg->n_rows; i++)
		if (cmp_row(&pg->rows[i - 1], &pg->rows[i]) == 0)
			return mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: two open triggers for agent "
						"%s in behavior %d", in->agents[pg->agent_in[pg->rows[i].agent]].id,
						pg->rows[i].behavior);
	return MENTOR_OK;
}

/* Keeps the candidates that pass the per-mentor checks, sorted into buckets. */
static int setup_cands(struct pairing *pg, const struct mentor_pair_input *in, struct mentor_error *err)
{
	const struct mentor_pair_config *cfg = pg->cfg;
	struct pair_key *keys = NULL;
	int ret = MENTOR_ERR_NOMEM;

	if (!ALLOC(keys, in->n_candidates) || !ALLOC(pg->cands, in->n_candidates))
		goto out;
	for (size_t i = 0; i < in->n_candidates; i++) {
		const struct mentor_pair_candidate *c = &in->candidates[i];

		if (c->agent < 0 || c->agent >= pg->n_agents || c->behavior < 0 || !isfinite(c->strength) ||
		    c->strength < 0.0 || c->strength > 1.0) {
			ret = mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: candidate %zu has agent %d, "
					       "behavior %d, strength %g", i, c->agent, c->behavior, c->strength);
			goto out;
		}
		keys[i] = (struct pair_key){ c->behavior, pg->rank[c->agent] };
	}
	qsort(keys, in->n_candidates, sizeof(*keys), cmp_pair_key);
	for (size_t i = 1; i < in->n_candidates; i++)
		if (cmp_pair_key(&keys[i - 1], &keys[i]) == 0) {
			ret = mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: agent %s is a candidate twice "
					       "in behavior %d", in->agents[pg->agent_in[keys[i].b]].id, keys[i].a);
			goto out;
		}

	for (size_t i = 0; i < in->n_candidates; i++) {
		const struct mentor_pair_candidate *c = &in->candidates[i];
		int r = pg->rank[c->agent];
		struct cand *k;

		if (!in->agents[c->agent].active || pg->load0[r] >= cfg->capacity || c->is_mentee ||
		    has_row(pg, r, c->behavior))
			continue;
		k = &pg->cands[pg->n_cands++];
		k->behavior = c->behavior;
		k->lang = pg->lang[r];
		k->site = cfg->same_site ? pg->site[r] : 0;
		k->mentor = r;
		/* Rounded half up by hand: a non-negative value, and no libm needed. */
		k->scost = (int64_t)((double)cfg->w_strength * (1.0 - c->strength) + 0.5);
		k->base = k->scost + slot_cost(pg, pg->load0[r]);
	}
	qsort(pg->cands, pg->n_cands, sizeof(*pg->cands), cmp_cand);
	ret = MENTOR_OK;
out:
	free(keys);
	return ret == MENTOR_ERR_NOMEM ? mentor_error_set(err, ret, "pairing: out of memory") : ret;
}

static int setup_cooldown(struct pairing *pg, const struct mentor_pair_input *in, struct mentor_error *err)
{
	if (!ALLOC(pg->cool_start, (size_t)pg->n_agents + 1) || !ALLOC(pg->cool, in->n_recent) ||
	    !ALLOC(pg->mark, pg->n_agents))
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "pairing: out of memory");
	for (size_t i = 0; i < in->n_recent; i++) {
		const struct mentor_pair_recent *c = &in->recent[i];

		if (c->mentee < 0 || c->mentee >= pg->n_agents || c->mentor < 0 || c->mentor >= pg->n_agents ||
		    c->behavior < -1)
			return mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: recent pair %zu has mentee %d, "
						"mentor %d, behavior %d", i, c->mentee, c->mentor, c->behavior);
		pg->cool_start[pg->rank[c->mentee] + 1]++;
	}
	for (int r = 0; r < pg->n_agents; r++)
		pg->cool_start[r + 1] += pg->cool_start[r];
	/* Counting sort by mentee: cool_start[r] runs as the fill cursor of r,
	 * ending at the start of r + 1; shifting by one restores the starts. */
	for (size_t i = 0; i < in->n_recent; i++) {
		const struct mentor_pair_recent *c = &in->recent[i];

		pg->cool[pg->cool_start[pg->rank[c->mentee]]++] = (struct cool){ pg->rank[c->mentor], c->behavior };
	}
	for (int r = pg->n_agents; r > 0; r--)
		pg->cool_start[r] = pg->cool_start[r - 1];
	pg->cool_start[0] = 0;
	return MENTOR_OK;
}

/* Finds each row's bucket and its starting K. */
static int setup_buckets(struct pairing *pg, struct mentor_error *err)
{
	int *in_bucket;

	if (!ALLOC(in_bucket, pg->n_cands))
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "pairing: out of memory");
	for (int i = 0; i < pg->n_rows; i++) {
		struct row *w = &pg->rows[i];
		int a = w->agent, site = pg->cfg->same_site ? pg->site[a] : 0;

		w->blo = cand_lower(pg, w->behavior, pg->lang[a], site);
		w->bhi = w->blo;
		while (w->bhi < pg->n_cands && pg->cands[w->bhi].behavior == w->behavior &&
		       pg->cands[w->bhi].lang == pg->lang[a] && pg->cands[w->bhi].site == site)
			w->bhi++;
		if (w->bhi - w->blo > pg->max_bucket)
			pg->max_bucket = w->bhi - w->blo;
		if (w->blo < w->bhi)
			in_bucket[w->blo]++;
	}
	for (int i = 0; i < pg->n_rows; i++) {
		struct row *w = &pg->rows[i];

		if (pg->cfg->prune > 0)
			w->k = pg->cfg->prune;
		else
			w->k = 16 + (w->blo < w->bhi ? in_bucket[w->blo] : 0);
	}
	free(in_bucket);
	return MENTOR_OK;
}

static int setup_solver(struct pairing *pg, struct mentor_error *err)
{
	const size_t nodes = (size_t)pg->n_rows + (size_t)pg->n_agents;
	const struct mentor_pair_config *cfg = pg->cfg;
	int64_t cmax = cfg->w_strength + cfg->w_same_team + slot_cost(pg, cfg->capacity);

	if (!ALLOC(pg->p, nodes) || !ALLOC(pg->cur, pg->n_rows) || !ALLOC(pg->cur_cost, pg->n_rows) ||
	    !ALLOC(pg->load, pg->n_agents) || !ALLOC(pg->head, pg->n_agents) || !ALLOC(pg->next, pg->n_rows) ||
	    !ALLOC(pg->prev, pg->n_rows) || !ALLOC(pg->dist, nodes) || !ALLOC(pg->pred, nodes) ||
	    !ALLOC(pg->pred_cost, nodes) || !ALLOC(pg->seen, nodes) || !ALLOC(pg->done, nodes) ||
	    !ALLOC(pg->popped, nodes) || !ALLOC(pg->dom_val, pg->n_cands) || !ALLOC(pg->dom_len, pg->n_cands) ||
	    !ALLOC(pg->dom_gen, pg->n_cands) || !ALLOC(pg->arc_start, (size_t)pg->n_rows + 1) ||
	    !ALLOC(pg->scratch_a, pg->max_bucket) || !ALLOC(pg->scratch_b, pg->max_bucket))
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "pairing: out of memory");
	/* Fits: cmax <= 2.02e10 and rows <= 1e6 by the limits in pairing.h. */
	pg->big = ((int64_t)pg->n_rows + 1) * (cmax + 1);
	return MENTOR_OK;
}

/* ---- per-pair checks ---- */

/* Marks the mentors in cooldown with row w's mentee in its behavior. */
static void mark_cooldown(struct pairing *pg, const struct row *w)
{
	pg->mark_gen++;
	for (size_t i = pg->cool_start[w->agent]; i < pg->cool_start[w->agent + 1]; i++)
		if (pg->cool[i].behavior == -1 || pg->cool[i].behavior == w->behavior)
			pg->mark[pg->cool[i].mentor] = pg->mark_gen;
}

/* The checks that depend on the mentee (the rest were made on the candidate);
 * mark_cooldown(w) must come first. Returns the pair cost, or -1 if forbidden. */
static int64_t pair_cost(const struct pairing *pg, const struct row *w, const struct cand *c)
{
	int u = w->agent, v = c->mentor;

	if (v == u || v == pg->lead[u] || pg->mark[v] == pg->mark_gen)
		return -1;
	if (same_team(pg, u, v)) {
		if (pg->cfg->cross_team == MENTOR_CROSS_TEAM_REQUIRED)
			return -1;
		if (pg->cfg->cross_team == MENTOR_CROSS_TEAM_PREFERRED)
			return c->scost + pg->cfg->w_same_team;
	}
	return c->scost;
}

/* Order of arcs within a row: cost with the first free slot, then agent id. */
static bool arc_before(const struct arc *x, const struct arc *y)
{
	return x->key < y->key || (x->key == y->key && x->mentor < y->mentor);
}

/*
 * Builds every row's arc list for one pass: all feasible arcs of full rows,
 * the k cheapest of the others. On the first pass also counts the feasible
 * mentors and records the cheapest ones as alternatives.
 */
static int build_arcs(struct pairing *pg, bool first, struct mentor_error *err)
{
	size_t n = 0;

	for (int i = 0; i < pg->n_rows; i++) {
		struct row *w = &pg->rows[i];
		size_t na = 0, nb = 0, ia = 0, ib = 0, want, prefix = 0;

		pg->arc_start[i] = n;
		mark_cooldown(pg, w);
		/* Bucket order is arc order, except that the same-team penalty
		 * moves some arcs later by a constant: merge the two runs. */
		for (size_t j = w->blo; j < w->bhi; j++) {
			const struct cand *c = &pg->cands[j];
			int64_t cost = pair_cost(pg, w, c);

			if (prefix == j - w->blo && cost == c->scost)
				prefix++;
			if (cost < 0)
				continue;
			if (cost == c->scost)
				pg->scratch_a[na++] = (struct arc){ c->mentor, cost, c->base };
			else
				pg->scratch_b[nb++] = (struct arc){ c->mentor, cost, c->base + cost - c->scost };
		}
		if (first) {
			w->n_feasible = (int)(na + nb);
			w->full = w->n_feasible <= w->k;
		}
		want = w->full ? na + nb : (size_t)w->k;
		if (first && want < MENTOR_PAIR_ALTS + 1)
			want = na + nb < MENTOR_PAIR_ALTS + 1 ? na + nb : MENTOR_PAIR_ALTS + 1;
		if (want > 0 &&
		    !mentor_grow((void **)&pg->arcs, &pg->cap_arcs, n + want - 1, sizeof(*pg->arcs), 1024, SIZE_MAX))
			return mentor_error_set(err, MENTOR_ERR_NOMEM, "pairing: out of memory");
		for (size_t got = 0; got < want; got++) {
			bool take_a = ib == nb || (ia < na && arc_before(&pg->scratch_a[ia], &pg->scratch_b[ib]));

			pg->arcs[n + got] = take_a ? pg->scratch_a[ia++] : pg->scratch_b[ib++];
		}
		if (first) {
			w->n_alts = 0;
			for (size_t j = 0; j < want && j < MENTOR_PAIR_ALTS + 1; j++) {
				const struct arc *x = &pg->arcs[n + j];

				w->alts[w->n_alts++] = (struct mentor_pair_choice){ x->mentor, x->key };
			}
			/* The extra arcs taken only for alternatives are not kept. */
			if (!w->full && want > (size_t)w->k)
				want = (size_t)w->k;
		}
		/* The penalized arcs come after the prefix (their key is larger),
		 * so the list starts with the bucket's first min(prefix, want). */
		w->clean = (int)(prefix < want ? prefix : want);
		n += want;
	}
	pg->arc_start[pg->n_rows] = n;
	return MENTOR_OK;
}

/* ---- solver ---- */

static bool heap_less(const struct heap_item *a, const struct heap_item *b)
{
	return a->d < b->d || (a->d == b->d && a->node < b->node);
}

static int heap_push(struct pairing *pg, int64_t d, int node)
{
	size_t i;

	if (!mentor_grow((void **)&pg->heap, &pg->heap_cap, pg->heap_n, sizeof(*pg->heap), 1024, SIZE_MAX))
		return -1;
	i = pg->heap_n++;
	pg->heap[i] = (struct heap_item){ d, node };
	while (i > 0 && heap_less(&pg->heap[i], &pg->heap[(i - 1) / 2])) {
		struct heap_item t = pg->heap[i];

		pg->heap[i] = pg->heap[(i - 1) / 2];
		pg->heap[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
	return 0;
}

static struct heap_item heap_pop(struct pairing *pg)
{
	struct heap_item top = pg->heap[0];
	size_t i = 0, n = --pg->heap_n;

	pg->heap[0] = pg->heap[n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct heap_item t;

		if (l < n && heap_less(&pg->heap[l], &pg->heap[m]))
			m = l;
		if (r < n && heap_less(&pg->heap[r], &pg->heap[m]))
			m = r;
		if (m == i)
			break;
		t = pg->heap[i];
		pg->heap[i] = pg->heap[m];
		pg->heap[m] = t;
		i = m;
	}
	return top;
}

/* Offers node distance d via from; returns 1 if taken, 0 if not shorter, -1 on no memory. */
static int reach(struct pairing *pg, int node, int64_t d, int from, int64_t cost)
{
	if (pg->done[node] == pg->gen || (pg->seen[node] == pg->gen && pg->dist[node] <= d))
		return 0;
	pg->seen[node] = pg->gen;
	pg->dist[node] = d;
	pg->pred[node] = from;
	pg->pred_cost[node] = cost;
	return heap_push(pg, d, node) < 0 ? -1 : 1;
}

static void detach(struct pairing *pg, int w)
{
	int v = pg->cur[w];

	if (pg->prev[w] >= 0)
		pg->next[pg->prev[w]] = pg->next[w];
	else
		pg->head[v] = pg->next[w];
	if (pg->next[w] >= 0)
		pg->prev[pg->next[w]] = pg->prev[w];
}

static void attach(struct pairing *pg, int w, int v, int64_t cost)
{
	pg->cur[w] = v;
	pg->cur_cost[w] = cost;
	pg->prev[w] = -1;
	pg->next[w] = pg->head[v];
	if (pg->head[v] >= 0)
		pg->prev[pg->head[v]] = w;
	pg->head[v] = w;
}

/*
 * A row's arcs start with the first `clean` candidates of its bucket, as they
 * are; similar mentees share most of that prefix. If a row settled earlier in
 * this run had d + p no greater and a prefix at least as long, each arc of
 * the shared prefix offers its mentor no shorter distance than that row's
 * already did, so those arcs need not be scanned. This keeps a bucket of many
 * similar mentees from costing the square of its size for every added row.
 * (The one arc the earlier row skipped, to its own mentor, leads to a node
 * already settled.) Returns how many leading arcs of x to skip.
 */
static size_t dominated(struct pairing *pg, int x, int64_t dp)
{
	const struct row *w = &pg->rows[x];
	size_t b = w->blo, skip = 0;

	if (w->clean == 0)
		return 0;
	if (pg->dom_gen[b] == pg->gen && pg->dom_val[b] <= dp)
		skip = (size_t)(pg->dom_len[b] < w->clean ? pg->dom_len[b] : w->clean);
	if (pg->dom_gen[b] != pg->gen || dp < pg->dom_val[b] || (dp == pg->dom_val[b] && w->clean > pg->dom_len[b])) {
		pg->dom_gen[b] = pg->gen;
		pg->dom_val[b] = dp;
		pg->dom_len[b] = w->clean;
	}
	return skip;
}

/*
 * Adds row u0: Dijkstra in reduced costs from u0 until the sink is settled,
 * then shifts the potentials of the settled nodes and moves the rows along the
 * path. Nodes are settled in (distance, node) order, a row's arcs are scanned
 * in (key, agent id) order, and only a strictly shorter distance replaces a
 * predecessor or the sink's best path: ties go to what comes first, i.e. to
 * lower agent ids, whatever the input order.
 */
static int augment(struct pairing *pg, int u0)
{
	const int nr = pg->n_rows;
	const int cap = pg->cfg->capacity;
	int64_t *p = pg->p;
	int64_t best = INF_COST, pu = -pg->big;
	int term = -1, n_popped = 0, v, w, y, taken;
	int64_t nd;

	pg->gen++;
	pg->heap_n = 0;
	/* A new row's potential makes its cheapest arc tight. */
	for (size_t i = pg->arc_start[u0]; i < pg->arc_start[u0 + 1]; i++)
		if (p[nr + pg->arcs[i].mentor] - pg->arcs[i].cost > pu)
			pu = p[nr + pg->arcs[i].mentor] - pg->arcs[i].cost;
	p[u0] = pu;
	if (reach(pg, u0, 0, -1, 0) < 0)
		return -1;

	while (pg->heap_n > 0) {
		struct heap_item it = heap_pop(pg);
		int x = it.node;

		if (pg->done[x] == pg->gen || it.d != pg->dist[x])
			continue;
		if (it.d >= best)
			break;
		pg->done[x] = pg->gen;
		pg->popped[n_popped++] = x;
		if (x < nr) {
			/* Row: its waiting column, then its arcs but the one it holds. */
			if (it.d + pg->big + p[x] < best) {
				best = it.d + pg->big + p[x];
				term = x;
			}
			/*
			 * Potentials only decrease, and a mentor's starts at minus its
			 * first slot, so an arc's reduced cost is at least key + p[x]:
			 * once that reaches the sink's distance, so do all later arcs.
			 */
			for (size_t i = pg->arc_start[x] + dominated(pg, x, it.d + p[x]); i < pg->arc_start[x + 1]; i++) {
				const struct arc *a = &pg->arcs[i];

				if (it.d + a->key + p[x] >= best)
					break;
				if (a->mentor == pg->cur[x])
					continue;
				y = nr + a->mentor;
				nd = it.d + a->cost + p[x] - p[y];
				if ((taken = reach(pg, y, nd, x, a->cost)) < 0)
					return -1;
				/*
				 * The sink through the mentor's next slot is tried
				 * when the mentor is reached, not when it is settled:
				 * with many equal costs, the search then stops at the
				 * first free slot instead of settling every node at
				 * the same distance first.
				 */
				if (taken && pg->load[a->mentor] < cap &&
				    nd + slot_cost(pg, pg->load[a->mentor]) + p[y] < best) {
					best = nd + slot_cost(pg, pg->load[a->mentor]) + p[y];
					term = y;
				}
			}
		} else {
			/* Mentor (its slot was tried when reached): back along the arcs of its rows. */
			v = x - nr;
			for (w = pg->head[v]; w >= 0; w = pg->next[w])
				if (reach(pg, w, it.d - pg->cur_cost[w] + p[x] - p[w], x, 0) < 0)
					return -1;
		}
	}

	for (int i = 0; i < n_popped; i++)
		p[pg->popped[i]] += pg->dist[pg->popped[i]] - best;

	if (term >= nr) {
		v = term - nr;
		pg->load[v]++;
	} else {
		/* The path ends in a waiting column: that row gives up its mentor. */
		w = term;
		v = pg->cur[w];
		if (v >= 0)
			detach(pg, w);
		pg->cur[w] = WAITING;
		pg->cur_cost[w] = 0;
		if (w == u0)
			return 0;
	}
	/* Walk back: each row on the path moves to the mentor it reached. */
	for (;;) {
		int old;

		w = pg->pred[nr + v];
		old = pg->cur[w];
		if (old >= 0)
			detach(pg, w);
		attach(pg, w, v, pg->pred_cost[nr + v]);
		if (w == u0)
			return 0;
		v = old;
	}
}

static int solve(struct pairing *pg, struct mentor_error *err)
{
	for (int r = 0; r < pg->n_agents; r++) {
		pg->load[r] = pg->load0[r];
		pg->head[r] = -1;
		pg->p[pg->n_rows + r] = -slot_cost(pg, pg->load0[r]);
	}
	for (int i = 0; i < pg->n_rows; i++) {
		pg->cur[i] = UNPROCESSED;
		pg->p[i] = 0;
	}
	for (int i = 0; i < pg->n_rows; i++)
		if (augment(pg, i) < 0)
			return mentor_error_set(err, MENTOR_ERR_NOMEM, "pairing: out of memory");
	return MENTOR_OK;
}

/*
 * Checks the arcs pruned away: with the final potentials each must have a
 * non-negative reduced cost. Marks the rows that fail as full; returns how
 * many failed.
 */
static int verify(struct pairing *pg)
{
	const int nr = pg->n_rows;
	int bad = 0;

	for (int i = 0; i < nr; i++) {
		struct row *w = &pg->rows[i];

		if (w->full)
			continue;
		mark_cooldown(pg, w);
		for (size_t j = w->blo; j < w->bhi; j++) {
			const struct cand *c = &pg->cands[j];
			int64_t cost = pair_cost(pg, w, c);

			if (cost >= 0 && cost + pg->p[i] - pg->p[nr + c->mentor] < 0) {
				w->full = true;
				bad++;
				break;
			}
		}
	}
	return bad;
}

/* ---- public ---- */

void mentor_pair_config_init(struct mentor_pair_config *cfg)
{
	*cfg = (struct mentor_pair_config){
		.capacity = 2,
		.same_site = false,
		.cross_team = MENTOR_CROSS_TEAM_PREFERRED,
		.w_strength = 1000000,
		.w_load = 20000,
		.w_same_team = 50000,
		.prune = 0,
	};
}

static int fill_result(struct pairing *pg, int passes, struct mentor_pair_result **ret_result,
		       struct mentor_error *err)
{
	struct mentor_pair_result *res;

	res = calloc(1, sizeof(*res) + (size_t)pg->n_rows * sizeof(res->a[0]));
	if (!res)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "pairing: out of memory");
	res->n_mentees = (size_t)pg->n_rows;
	res->passes = passes;
	/* Slots of one mentor go to its new mentees in row order. */
	for (int r = 0; r < pg->n_agents; r++)
		pg->load[r] = pg->load0[r];
	for (int i = 0; i < pg->n_rows; i++) {
		const struct row *w = &pg->rows[i];
		struct mentor_pair_assignment *a = &res->a[w->in];
		int v = pg->cur[i];

		a->mentor = -1;
		if (v >= 0) {
			a->mentor = pg->agent_in[v];
			a->cost = pg->cur_cost[i] + slot_cost(pg, pg->load[v]++);
			res->matched++;
			res->total_cost += a->cost;
		}
		a->n_feasible = w->n_feasible;
		for (int j = 0; j < w->n_alts && a->n_alts < MENTOR_PAIR_ALTS; j++)
			if (w->alts[j].mentor != v)
				a->alts[a->n_alts++] = (struct mentor_pair_choice){
					pg->agent_in[w->alts[j].mentor], w->alts[j].cost };
	}
	*ret_result = res;
	return MENTOR_OK;
}

int mentor_pair_round(const struct mentor_pair_input *in, const struct mentor_pair_config *cfg,
		      struct mentor_pair_result **ret_result, struct mentor_error *err)
{
	struct pairing pg = { .cfg = cfg };
	int ret, passes = 1;

	if (!in || !cfg || !ret_result)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "pairing: NULL argument");
	if ((ret = check_config(cfg, err)) || (ret = check_sizes(in, err)))
		return ret;
	pg.n_agents = (int)in->n_agents;
	pg.n_rows = (int)in->n_mentees;
	if ((ret = setup_agents(&pg, in, err)) || (ret = setup_rows(&pg, in, err)) ||
	    (ret = setup_cands(&pg, in, err)) || (ret = setup_cooldown(&pg, in, err)) ||
	    (ret = setup_buckets(&pg, err)) || (ret = setup_solver(&pg, err)))
		goto out;
	for (;;) {
		int bad;

		if ((ret = build_arcs(&pg, passes == 1, err)) || (ret = solve(&pg, err)))
			goto out;
		bad = verify(&pg);
		if (!bad)
			break;
		/* Widening only the failing rows can move the optimum onto other
		 * pruned arcs; after that, stop guessing and take every arc. */
		if (++passes > 2)
			for (int i = 0; i < pg.n_rows; i++)
				pg.rows[i].full = true;
	}
	ret = fill_result(&pg, passes, ret_result, err);
out:
	pairing_free(&pg);
	return ret;
}

void mentor_pair_result_free(struct mentor_pair_result *res)
{
	free(res);
}
