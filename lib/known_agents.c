/* The known-agents set (known_agents.h): linear probing over MENTOR_KNOWN_AGENTS_SLOTS slots. */
#include "known_agents.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define SLOT_MASK (MENTOR_KNOWN_AGENTS_SLOTS - 1)

/* Slot of id[0..len) if known, else the empty slot where it would go. The set is never full, so one is found. */
static char **slot_of(const struct mentor_known_agents *k, const char *id, size_t len)
{
	for (size_t i = mentor_hash_bytes(id, len) & SLOT_MASK;; i = (i + 1) & SLOT_MASK)
		if (!k->slots[i] || (strncmp(k->slots[i], id, len) == 0 && k->slots[i][len] == '\0'))
			return &k->slots[i];
}

bool mentor_known_agents_has(const struct mentor_known_agents *k, const char *id, size_t len)
{
	return k->slots && *slot_of(k, id, len) != NULL;
}

void mentor_known_agents_add(struct mentor_known_agents *k, const char *id, size_t len)
{
	char **slot;

	if (!k->slots && !(k->slots = calloc(MENTOR_KNOWN_AGENTS_SLOTS, sizeof(*k->slots))))
		return;
	slot = slot_of(k, id, len);
	if (*slot)
		return;
	if (k->n >= MENTOR_KNOWN_AGENTS_SLOTS / 2) {
		mentor_known_agents_clear(k);
		slot = slot_of(k, id, len);
	}
	if ((*slot = malloc(len + 1)) != NULL) {
		memcpy(*slot, id, len);
		(*slot)[len] = '\0';
		k->n++;
	}
}

void mentor_known_agents_clear(struct mentor_known_agents *k)
{
	for (size_t i = 0; k->slots && i < MENTOR_KNOWN_AGENTS_SLOTS; i++) {
		free(k->slots[i]);
		k->slots[i] = NULL;
	}
	k->n = 0;
}

void mentor_known_agents_free(struct mentor_known_agents *k)
{
	mentor_known_agents_clear(k);
	free(k->slots);
	k->slots = NULL;
}
