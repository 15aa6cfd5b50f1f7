/*
 * One pairing round at contact-center scale: 20,000 agents, 8 behaviors,
 * 2,000 open triggers, about 12% of agents mentor-eligible per behavior,
 * languages en/fr/es and 3 sites per team, teams of 12, capacity 2.
 * Prints the median time of a few rounds and what they paired; asserts nothing.
 *
 * Then one time's rounds of PROGRAMS client programs (issue #20): each program
 * has its own 8 behaviors, mentor-eligible agents, open triggers and pairs in
 * cooldown, drawn as above, over the same 20,000 people (every agent works in
 * every program: the most a mentor's capacity can be shared). The rounds run
 * program after program, as lib/analytics.c runs them, and a program's round
 * counts as a mentor's load its active mentees plus the pairings the programs
 * before it gave (lib/rounds.c: a person has one capacity). Prints each
 * program's median, that of the rounds' sum, how many mentors paired in more
 * than one program and how many ended over capacity (none should).
 *
 * Usage: pairing_bench [runs]   (default 5)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mentor/pairing.h"

#define AGENTS 20000
#define BEHAVIORS 8
#define TRIGGERS 2000
#define TEAM_SIZE 12
#define ELIGIBLE_PERCENT 12
#define RECENT 6000
#define PROGRAMS 3
_Static_assert(PROGRAMS <= 8, "programs_scenario keeps a bit per program in a byte");

static uint64_t rng_state = 42;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double unit(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* One program's round: its triggers, mentor-eligible agents and pairs in cooldown over the roster. */
struct program {
	struct mentor_pair_candidate *cands;
	size_t n_cands;
	struct mentor_pair_mentee mentees[TRIGGERS];
	struct mentor_pair_recent recent[RECENT];
	struct mentor_pair_input in;
};

struct world {
	struct mentor_pair_agent agents[AGENTS];
	/* Each agent's active mentees before any round of this time, all programs. */
	int base_mentees[AGENTS];
	char ids[AGENTS][24], teams[AGENTS / TEAM_SIZE + 1][24], leads[AGENTS / TEAM_SIZE + 1][24];
	struct program programs[PROGRAMS];
};

static void build_roster(struct world *w)
{
	static const char *sites[] = { "lisbon", "manila", "austin" };

	for (int t = 0; t <= AGENTS / TEAM_SIZE; t++) {
		snprintf(w->teams[t], sizeof(w->teams[t]), "team%04d", t);
		snprintf(w->leads[t], sizeof(w->leads[t]), "mgr%03d", t / 10);
	}
	for (int i = 0; i < AGENTS; i++) {
		int t = i / TEAM_SIZE, lang = t % 20;
		struct mentor_pair_agent *a = &w->agents[i];

		snprintf(w->ids[i], sizeof(w->ids[i]), "agent%05d", i);
		a->id = w->ids[i];
		a->team_id = w->teams[t];
		/* The first agent of a team leads it; leads answer to managers. */
		a->team_lead_id = i % TEAM_SIZE ? w->ids[t * TEAM_SIZE] : w->leads[t];
		a->language = lang < 12 ? "en" : lang < 17 ? "fr" : "es";
		a->site = sites[t % 3];
		a->active = rnd() % 50 != 0;
		a->active_mentees = rnd() % 100 < 75 ? 0 : rnd() % 100 < 68 ? 1 : 2;
		w->base_mentees[i] = a->active_mentees;
	}
}

/* Draws a program's round over the roster w->agents; the first program's is the single round's. */
static void build_program(const struct world *w, struct program *p)
{
	static unsigned char eligible[AGENTS][BEHAVIORS], low[AGENTS][BEHAVIORS];

	memset(eligible, 0, sizeof(eligible));
	memset(low, 0, sizeof(low));
	p->cands = malloc(sizeof(*p->cands) * AGENTS * BEHAVIORS);
	if (!p->cands) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (int b = 0; b < BEHAVIORS; b++)
		for (int i = 0; i < AGENTS; i++) {
			struct mentor_pair_candidate *c;

			if (rnd() % 100 >= ELIGIBLE_PERCENT)
				continue;
			eligible[i][b] = 1;
			c = &p->cands[p->n_cands++];
			c->agent = i;
			c->behavior = b;
			/* Interval lower bounds from 0.85 up, thinning toward 1. */
			c->strength = 0.85 + 0.15 * unit() * unit();
			c->is_mentee = rnd() % 50 == 0;
		}
	for (int n = 0; n < TRIGGERS;) {
		int i = (int)(rnd() % AGENTS), b = (int)(rnd() % BEHAVIORS);

		if (eligible[i][b] || low[i][b])
			continue;
		low[i][b] = 1;
		p->mentees[n++] = (struct mentor_pair_mentee){ i, b };
	}
	for (int n = 0; n < RECENT; n++) {
		const struct mentor_pair_candidate *c = &p->cands[rnd() % p->n_cands];

		p->recent[n] = (struct mentor_pair_recent){ (int)(rnd() % AGENTS), c->agent, c->behavior };
	}
	p->in = (struct mentor_pair_input){ w->agents, AGENTS, p->mentees, TRIGGERS, p->cands, p->n_cands,
					    p->recent, RECENT };
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Prints a round's figures: name, the sorted times ms of runs rounds, and what the last one (res,
 * over program p) paired, with the mentors' loads as w->agents holds them before that round.
 */
static void print_round(const struct world *w, const struct program *p, const char *name, const double *ms,
			int runs, const struct mentor_pair_result *res)
{
	size_t same_team = 0, second_slot = 0, per[AGENTS] = { 0 };
	long feasible = 0;

	for (size_t i = 0; i < res->n_mentees; i++) {
		int m = res->a[i].mentor;

		feasible += res->a[i].n_feasible;
		if (m < 0)
			continue;
		same_team += strcmp(w->agents[m].team_id, w->agents[p->mentees[i].agent].team_id) == 0;
		second_slot += w->agents[m].active_mentees + per[m]++ > 0;
	}
	printf("%-34s median %7.1f ms (min %6.1f, max %6.1f, %d runs)  matched %zu/%zu  "
	       "total cost %lld  passes %d  feasible/mentee %.0f  same team %zu  not first slot %zu\n",
	       name, ms[runs / 2], ms[0], ms[runs - 1], runs, res->matched, res->n_mentees,
	       (long long)res->total_cost, res->passes, (double)feasible / (double)res->n_mentees, same_team,
	       second_slot);
}

/* Times runs rounds of program p alone and prints them. */
static void scenario(const struct world *w, const struct program *p, const char *name,
		     const struct mentor_pair_config *cfg, int runs)
{
	double ms[64];
	struct mentor_pair_result *res = NULL;
	struct mentor_error err;

	for (int r = 0; r < runs; r++) {
		double t0 = now_ms();

		mentor_pair_result_free(res);
		res = NULL;
		if (mentor_pair_round(&p->in, cfg, &res, &err) != MENTOR_OK) {
			fprintf(stderr, "%s: %s\n", name, err.msg);
			exit(1);
		}
		ms[r] = now_ms() - t0;
	}
	qsort(ms, (size_t)runs, sizeof(ms[0]), cmp_double);
	print_round(w, p, name, ms, runs, res);
	mentor_pair_result_free(res);
}

/* Back to the loads before any program's round of this time. */
static void reset_loads(struct world *w)
{
	for (int i = 0; i < AGENTS; i++)
		w->agents[i].active_mentees = w->base_mentees[i];
}

/* A round's pairings count in the mentors' loads of the programs after it. */
static void add_loads(struct world *w, const struct mentor_pair_result *res)
{
	for (size_t i = 0; i < res->n_mentees; i++)
		if (res->a[i].mentor >= 0)
			w->agents[res->a[i].mentor].active_mentees++;
}

/*
 * Times runs times the rounds of every program, in program order, each over
 * the loads the rounds before it left, and prints each program's figures, the
 * median of the rounds' sum, and how the programs shared the mentors.
 */
static void programs_scenario(struct world *w, const struct mentor_pair_config *cfg, int runs)
{
	double ms[PROGRAMS][64], total[64];
	struct mentor_pair_result *res[PROGRAMS] = { 0 };
	struct mentor_error err;
	static unsigned char paired_in[AGENTS];
	size_t matched = 0, mentees = 0, several = 0, over = 0;

	for (int r = 0; r < runs; r++) {
		reset_loads(w);
		total[r] = 0;
		for (int p = 0; p < PROGRAMS; p++) {
			double t0 = now_ms();

			mentor_pair_result_free(res[p]);
			res[p] = NULL;
			if (mentor_pair_round(&w->programs[p].in, cfg, &res[p], &err) != MENTOR_OK) {
				fprintf(stderr, "program p%d: %s\n", p + 1, err.msg);
				exit(1);
			}
			ms[p][r] = now_ms() - t0;
			total[r] += ms[p][r];
			add_loads(w, res[p]);
		}
	}
	/* Every run pairs the same (mentor_pair_round is deterministic): the last one's figures. */
	reset_loads(w);
	memset(paired_in, 0, sizeof(paired_in));
	for (int p = 0; p < PROGRAMS; p++) {
		char name[64];

		qsort(ms[p], (size_t)runs, sizeof(ms[p][0]), cmp_double);
		snprintf(name, sizeof(name), "  program p%d of %d", p + 1, PROGRAMS);
		print_round(w, &w->programs[p], name, ms[p], runs, res[p]);
		add_loads(w, res[p]);
		matched += res[p]->matched;
		mentees += res[p]->n_mentees;
		for (size_t i = 0; i < res[p]->n_mentees; i++)
			if (res[p]->a[i].mentor >= 0)
				paired_in[res[p]->a[i].mentor] |= (unsigned char)(1u << p);
	}
	for (int i = 0; i < AGENTS; i++) {
		/* Not a power of two: a mentor of more than one program. */
		several += (paired_in[i] & (paired_in[i] - 1)) != 0;
		over += w->agents[i].active_mentees > cfg->capacity;
	}
	qsort(total, (size_t)runs, sizeof(total[0]), cmp_double);
	printf("%-34s median %7.1f ms (min %6.1f, max %6.1f, %d runs)  matched %zu/%zu  "
	       "mentors paired in several programs %zu  over capacity %zu\n",
	       "  all programs' rounds (sum)", total[runs / 2], total[0], total[runs - 1], runs, matched, mentees,
	       several, over);
	reset_loads(w);
	for (int p = 0; p < PROGRAMS; p++)
		mentor_pair_result_free(res[p]);
}

int main(int argc, char **argv)
{
	static struct world w;
	struct program *one = &w.programs[0];
	struct mentor_pair_config cfg;
	int runs = argc > 1 ? atoi(argv[1]) : 5;
	size_t cands = 0;

	if (runs < 1 || runs > 64)
		runs = 5;
	build_roster(&w);
	for (int p = 0; p < PROGRAMS; p++)
		build_program(&w, &w.programs[p]);
	printf("pairing round: %d agents, %d behaviors, %zu candidates, %d open triggers, %d recent pairs\n",
	       AGENTS, BEHAVIORS, one->n_cands, TRIGGERS, RECENT);

	mentor_pair_config_init(&cfg);
	scenario(&w, one, "default (preferred, any site)", &cfg, runs);

	cfg.same_site = true;
	cfg.cross_team = MENTOR_CROSS_TEAM_REQUIRED;
	scenario(&w, one, "same site, cross-team required", &cfg, runs);

	/* Scarce mentors: capacity 1, only 1 in 10 eligible kept. */
	mentor_pair_config_init(&cfg);
	cfg.capacity = 1;
	{
		struct mentor_pair_candidate *few = malloc(sizeof(*few) * (one->n_cands / 10 + 1));
		size_t keep = 0;

		if (!few)
			return 1;
		for (size_t i = 0; i < one->n_cands; i += 10)
			few[keep++] = one->cands[i];
		one->in.candidates = few;
		one->in.n_candidates = keep;
		scenario(&w, one, "scarce (1.2% eligible, capacity 1)", &cfg, runs);
		one->in.candidates = one->cands;
		one->in.n_candidates = one->n_cands;
		free(few);
	}

	/* The same default round without pruning: every feasible pair in the graph. */
	mentor_pair_config_init(&cfg);
	cfg.prune = 1000000;
	scenario(&w, one, "default, no pruning", &cfg, runs < 3 ? runs : 3);

	for (int p = 0; p < PROGRAMS; p++)
		cands += w.programs[p].n_cands;
	printf("%d programs' rounds, one after another (program p1's is the round above): the same %d agents, "
	       "each program %d behaviors, %d open triggers, %d recent pairs; %zu candidates in all\n",
	       PROGRAMS, AGENTS, BEHAVIORS, TRIGGERS, RECENT, cands);
	mentor_pair_config_init(&cfg);
	programs_scenario(&w, &cfg, runs);
	for (int p = 0; p < PROGRAMS; p++)
		free(w.programs[p].cands);
	return 0;
}
