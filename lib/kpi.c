/*
 * KPI windows in memory: a flat array of windows found by (agent, metric),
 * and by owner, through two chained hash tables. See include/mentor/kpi.h.
 */
#define _GNU_SOURCE  /* qsort_r */
#include "mentor/kpi.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "mentor/events.h"

#define NO_ENTRY UINT32_MAX

struct kpi_entry {
	struct mentor_kpi_window w;  /* its strings point into text */
	char *text;                  /* owned: owner, subject, agent, metric, NUL-separated */
	uint64_t hash;               /* of agent and metric */
	uint64_t owner_hash;         /* of owner_id */
	uint32_t next;               /* chain in the bucket */
	uint32_t owner_next;         /* chain in the owner bucket */
	bool changed, dead;
};

struct mentor_kpi_set {
	struct kpi_entry *e;
	size_t n, cap, dead;
	uint32_t *bucket;            /* first entry per (agent, metric) bucket, NO_ENTRY when empty */
	uint32_t *owner_bucket;      /* first entry per owner bucket */
	size_t n_buckets;            /* a power of two, >= cap, for both */
};

/* Puts entry i at the head of its two chains. */
static void link_entry(struct mentor_kpi_set *set, uint32_t i)
{
	struct kpi_entry *e = &set->e[i];
	size_t mask = set->n_buckets - 1;

	e->next = set->bucket[e->hash & mask];
	set->bucket[e->hash & mask] = i;
	e->owner_next = set->owner_bucket[e->owner_hash & mask];
	set->owner_bucket[e->owner_hash & mask] = i;
}

int mentor_kpi_set_new(struct mentor_kpi_set **ret, struct mentor_error *err)
{
	struct mentor_kpi_set *set = calloc(1, sizeof(*set));

	if (!set)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "kpi: out of memory");
	*ret = set;
	return MENTOR_OK;
}

void mentor_kpi_set_free(struct mentor_kpi_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		free(set->e[i].text);
	free(set->e);
	free(set->bucket);
	free(set->owner_bucket);
	free(set);
}

/* Drops dead entries and rebuilds the buckets for cap entries. */
static bool rebuild(struct mentor_kpi_set *set, size_t cap)
{
	size_t nb = 64, live = 0;
	uint32_t *bucket = NULL, *owner_bucket = NULL;

	while (nb < cap)
		nb *= 2;
	if (!(bucket = malloc(nb * sizeof(*bucket))) || !(owner_bucket = malloc(nb * sizeof(*owner_bucket)))) {
		free(bucket);
		return false;
	}
	free(set->bucket);
	free(set->owner_bucket);
	set->bucket = bucket;
	set->owner_bucket = owner_bucket;
	set->n_buckets = nb;
	for (size_t i = 0; i < nb; i++)
		bucket[i] = owner_bucket[i] = NO_ENTRY;
	for (size_t i = 0; i < set->n; i++) {
		if (set->e[i].dead) {
			free(set->e[i].text);
			continue;
		}
		set->e[live] = set->e[i];
		link_entry(set, (uint32_t)live++);
	}
	set->n = live;
	set->dead = 0;
	return true;
}

static bool reserve(struct mentor_kpi_set *set)
{
	size_t ncap;
	struct kpi_entry *e;

	if (set->n < set->cap)
		return true;
	if (set->dead * 2 > set->n)
		return rebuild(set, set->cap);
	ncap = set->cap ? set->cap * 2 : 256;
	if (ncap >= NO_ENTRY || !(e = realloc(set->e, ncap * sizeof(*e))))
		return false;
	set->e = e;
	set->cap = ncap;
	return rebuild(set, ncap);
}

int mentor_kpi_add(struct mentor_kpi_set *set, const struct mentor_kpi_window *w, struct mentor_error *err)
{
	const char *parts[4] = { w->owner_id, w->subject, w->agent_id, w->metric };
	size_t len[4], total = 0;
	struct kpi_entry *e;
	char *p;

	for (int i = 0; i < 4; i++) {
		len[i] = strnlen(parts[i], MENTOR_ID_MAX * 2);
		if (len[i] == 0 || len[i] >= MENTOR_ID_MAX * 2)
			return mentor_error_set(err, MENTOR_ERR_INVALID, "kpi: empty or oversized id");
		total += len[i] + 1;
	}
	if (!reserve(set) || !(p = malloc(total)))
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "kpi: out of memory");
	e = &set->e[set->n];
	*e = (struct kpi_entry){ .w = *w, .text = p, .changed = true };
	for (int i = 0; i < 4; i++) {
		memcpy(p, parts[i], len[i] + 1);
		parts[i] = p;
		p += len[i] + 1;
	}
	e->w.owner_id = parts[0];
	e->w.subject = parts[1];
	e->w.agent_id = parts[2];
	e->w.metric = parts[3];
	e->hash = mentor_hash_key(w->agent_id, w->metric);
	e->owner_hash = mentor_hash_bytes(e->w.owner_id, len[0]);
	link_entry(set, (uint32_t)set->n++);
	return MENTOR_OK;
}

static void add_to(struct mentor_kpi_sums *s, int64_t v)
{
	s->n++;
	s->sum_e6 += v;
	s->sumsq_e12 += v * v;
}

void mentor_kpi_observe_key(struct mentor_kpi_set *set, uint64_t h, const char *agent_id, const char *metric,
			    int64_t day, int64_t decide_day, int64_t value_e6)
{
	if (set->n == 0)
		return;
	for (uint32_t i = set->bucket[h & (set->n_buckets - 1)]; i != NO_ENTRY; i = set->e[i].next) {
		struct kpi_entry *e = &set->e[i];

		/* Not final: when a window is closed must not change what it holds. */
		if (e->dead || decide_day >= e->w.decided_before_day || e->hash != h ||
		    strcmp(e->w.agent_id, agent_id) != 0 || strcmp(e->w.metric, metric) != 0)
			continue;
		if (day >= e->w.before.from_day && day < e->w.before.to_day)
			add_to(&e->w.b, value_e6);
		else if (day >= e->w.after.from_day && day < e->w.after.to_day)
			add_to(&e->w.a, value_e6);
		else
			continue;
		e->changed = true;
	}
}

void mentor_kpi_remove_owner(struct mentor_kpi_set *set, const char *owner_id, bool comparison)
{
	uint64_t h;

	if (set->n == 0)
		return;
	h = mentor_hash_bytes(owner_id, strlen(owner_id));
	for (uint32_t i = set->owner_bucket[h & (set->n_buckets - 1)]; i != NO_ENTRY; i = set->e[i].owner_next) {
		struct kpi_entry *e = &set->e[i];

		if (!e->dead && e->owner_hash == h && e->w.comparison == comparison &&
		    strcmp(e->w.owner_id, owner_id) == 0) {
			e->dead = true;
			set->dead++;
		}
	}
}

void mentor_kpi_close(struct mentor_kpi_set *set, int64_t decide_day)
{
	for (size_t i = 0; i < set->n; i++) {
		struct kpi_entry *e = &set->e[i];

		if (!e->dead && !e->w.final && e->w.decided_before_day <= decide_day) {
			e->w.final = true;
			e->changed = true;
		}
	}
}

static int cmp_entry(const void *a, const void *b, void *arg)
{
	const struct kpi_entry *x = &((const struct kpi_entry *)arg)[*(const uint32_t *)a];
	const struct kpi_entry *y = &((const struct kpi_entry *)arg)[*(const uint32_t *)b];
	int c;

	if (x->w.comparison != y->w.comparison)
		return x->w.comparison ? 1 : -1;
	if ((c = strcmp(x->w.owner_id, y->w.owner_id)) != 0)
		return c;
	if ((c = strcmp(x->w.subject, y->w.subject)) != 0)
		return c;
	return strcmp(x->w.metric, y->w.metric);
}

int mentor_kpi_take_changed(struct mentor_kpi_set *set, bool (*want)(void *ctx, const struct mentor_kpi_window *w),
			    int (*fn)(void *ctx, const struct mentor_kpi_window *w), void *ctx)
{
	uint32_t *order = malloc(set->n * sizeof(*order) + 1);
	size_t n = 0;
	int r = MENTOR_OK;

	if (!order)
		return MENTOR_ERR_NOMEM;
	for (size_t i = 0; i < set->n; i++)
		if (!set->e[i].dead && set->e[i].changed && (!want || want(ctx, &set->e[i].w)))
			order[n++] = (uint32_t)i;
	qsort_r(order, n, sizeof(*order), cmp_entry, set->e);
	for (size_t i = 0; fn && i < n && r == MENTOR_OK; i++)
		r = fn(ctx, &set->e[order[i]].w);
	if (r == MENTOR_OK)
		for (size_t i = 0; i < n; i++) {
			struct kpi_entry *e = &set->e[order[i]];

			e->changed = false;
			if (fn)
				e->w.written = true;
			if (e->w.final) {
				e->dead = true;
				set->dead++;
			}
		}
	free(order);
	return r;
}

static struct mentor_sums to_sums(const struct mentor_kpi_sums *s)
{
	return (struct mentor_sums){ .n = s->n, .sum = (double)s->sum_e6 / 1e6, .sumsq = (double)s->sumsq_e12 / 1e12 };
}

void mentor_kpi_delta(const struct mentor_kpi_window *w, const struct mentor_scale *sc, double confidence,
		      struct mentor_kpi_delta *ret)
{
	struct mentor_sums b = to_sums(&w->b), a = to_sums(&w->a);

	mentor_stats_kpi_delta(&b, &a, confidence, ret);
	mentor_stats_kpi_delta_to_native(ret, sc);
}
