/*
 * One pairing round at contact-center scale: 20,000 agents, 8 behaviors,
 * 2,000 open triggers, about 12% of agents mentor-eligible per behavior,
 * languages en/fr/es and 3 sites per team, teams of 12, capacity 2.
 * Prints the median time of a few rounds and what they paired; asserts nothing.
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

struct world {
	struct mentor_pair_agent agents[AGENTS];
	char ids[AGENTS][24], teams[AGENTS / TEAM_SIZE + 1][24], leads[AGENTS / TEAM_SIZE + 1][24];
	struct mentor_pair_candidate *cands;
	size_t n_cands;
	struct mentor_pair_mentee mentees[TRIGGERS];
	struct mentor_pair_recent recent[RECENT];
	struct mentor_pair_input in;
};

static void build(struct world *w)
{
	static const char *sites[] = { "lisbon", "manila", "austin" };
	static unsigned char eligible[AGENTS][BEHAVIORS], low[AGENTS][BEHAVIORS];

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
	}
	w->cands = malloc(sizeof(*w->cands) * AGENTS * BEHAVIORS);
	if (!w->cands) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	for (int b = 0; b < BEHAVIORS; b++)
		for (int i = 0; i < AGENTS; i++) {
			struct mentor_pair_candidate *c;

			if (rnd() % 100 >= ELIGIBLE_PERCENT)
				continue;
			eligible[i][b] = 1;
			c = &w->cands[w->n_cands++];
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
		w->mentees[n++] = (struct mentor_pair_mentee){ i, b };
	}
	for (int n = 0; n < RECENT; n++) {
		const struct mentor_pair_candidate *c = &w->cands[rnd() % w->n_cands];

		w->recent[n] = (struct mentor_pair_recent){ (int)(rnd() % AGENTS), c->agent, c->behavior };
	}
	w->in = (struct mentor_pair_input){ w->agents, AGENTS, w->mentees, TRIGGERS, w->cands, w->n_cands,
					    w->recent, RECENT };
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

static void scenario(const struct world *w, const char *name, const struct mentor_pair_config *cfg, int runs)
{
	double ms[64];
	struct mentor_pair_result *res = NULL;
	struct mentor_error err;
	size_t same_team = 0, second_slot = 0, per[AGENTS] = { 0 };
	long feasible = 0;

	for (int r = 0; r < runs; r++) {
		double t0 = now_ms();

		mentor_pair_result_free(res);
		res = NULL;
		if (mentor_pair_round(&w->in, cfg, &res, &err) != MENTOR_OK) {
			fprintf(stderr, "%s: %s\n", name, err.msg);
			exit(1);
		}
		ms[r] = now_ms() - t0;
	}
	qsort(ms, (size_t)runs, sizeof(ms[0]), cmp_double);
	for (size_t i = 0; i < res->n_mentees; i++) {
		int m = res->a[i].mentor;

		feasible += res->a[i].n_feasible;
		if (m < 0)
			continue;
		same_team += strcmp(w->agents[m].team_id, w->agents[w->mentees[i].agent].team_id) == 0;
		second_slot += w->agents[m].active_mentees + per[m]++ > 0;
	}
	printf("%-34s median %7.1f ms (min %6.1f, max %6.1f, %d runs)  matched %zu/%zu  "
	       "total cost %lld  passes %d  feasible/mentee %.0f  same team %zu  not first slot %zu\n",
	       name, ms[runs / 2], ms[0], ms[runs - 1], runs, res->matched, res->n_mentees,
	       (long long)res->total_cost, res->passes, (double)feasible / (double)res->n_mentees, same_team,
	       second_slot);
	mentor_pair_result_free(res);
}

int main(int argc, char **argv)
{
	static struct world w;
	struct mentor_pair_config cfg;
	int runs = argc > 1 ? atoi(argv[1]) : 5;

	if (runs < 1 || runs > 64)
		runs = 5;
	build(&w);
	printf("pairing round: %d agents, %d behaviors, %zu candidates, %d open triggers, %d recent pairs\n",
	       AGENTS, BEHAVIORS, w.n_cands, TRIGGERS, RECENT);

	mentor_pair_config_init(&cfg);
	scenario(&w, "default (preferred, any site)", &cfg, runs);

	cfg.same_site = true;
	cfg.cross_team = MENTOR_CROSS_TEAM_REQUIRED;
	scenario(&w, "same site, cross-team required", &cfg, runs);

	/* Scarce mentors: capacity 1, only 1 in 10 eligible kept. */
	mentor_pair_config_init(&cfg);
	cfg.capacity = 1;
	{
		struct mentor_pair_candidate *few = malloc(sizeof(*few) * (w.n_cands / 10 + 1));
		size_t keep = 0;

		if (!few)
			return 1;
		for (size_t i = 0; i < w.n_cands; i += 10)
			few[keep++] = w.cands[i];
		w.in.candidates = few;
		w.in.n_candidates = keep;
		scenario(&w, "scarce (1.2% eligible, capacity 1)", &cfg, runs);
		w.in.candidates = w.cands;
		w.in.n_candidates = w.n_cands;
		free(few);
	}

	/* The same default round without pruning: every feasible pair in the graph. */
	mentor_pair_config_init(&cfg);
	cfg.prune = 1000000;
	scenario(&w, "default, no pruning", &cfg, runs < 3 ? runs : 3);
	free(w.cands);
	return 0;
}
