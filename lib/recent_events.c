/* The recently stored event ids (recent_events.h): two generations of hashes, linear probing. */
#include "recent_events.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define SLOT_MASK (MENTOR_RECENT_EVENTS_SLOTS - 1)

/* The id's hash, never 0 (the empty slot). */
static uint64_t hash_of(const char *id, size_t len)
{
	uint64_t h = mentor_hash_bytes(id, len);

	return h ? h : 1;
}

/* Slot of h in a generation, or the empty slot where it would go; at most half are used, so one is found. */
static uint64_t *slot_of(uint64_t *gen, uint64_t h)
{
	for (size_t i = (size_t)(h ^ (h >> 29)) & SLOT_MASK;; i = (i + 1) & SLOT_MASK)
		if (gen[i] == 0 || gen[i] == h)
			return &gen[i];
}

bool mentor_recent_events_has(const struct mentor_recent_events *r, const char *id, size_t len)
{
	uint64_t h = hash_of(id, len);

	for (int g = 0; g < 2; g++)
		if (r->gen[g] && *slot_of(r->gen[g], h) == h)
			return true;
	return false;
}

void mentor_recent_events_add(struct mentor_recent_events *r, const char *id, size_t len)
{
	uint64_t h = hash_of(id, len), *slot;

	if (r->n[r->newer] >= MENTOR_RECENT_EVENTS_SLOTS / 2) {
		r->newer = 1 - r->newer;
		if (r->gen[r->newer])
			memset(r->gen[r->newer], 0, MENTOR_RECENT_EVENTS_SLOTS * sizeof(uint64_t));
		r->n[r->newer] = 0;
	}
	if (!r->gen[r->newer] && !(r->gen[r->newer] = calloc(MENTOR_RECENT_EVENTS_SLOTS, sizeof(uint64_t))))
		return;
	slot = slot_of(r->gen[r->newer], h);
	if (*slot == 0) {
		*slot = h;
		r->n[r->newer]++;
	}
}

void mentor_recent_events_free(struct mentor_recent_events *r)
{
	free(r->gen[0]);
	free(r->gen[1]);
	*r = (struct mentor_recent_events){ 0 };
}
