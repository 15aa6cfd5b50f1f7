/*
 * The agent_ids known to have an agents row: those the store's batch commits
 * wrote since it connected, so that score events of those agents need no
 * insert. A hash set of copied strings (open addressing), internal to the
 * store. Agents rows are never deleted by mentord; the store empties the set
 * on a reconnect and when a commit fails, and the set empties itself when
 * full. No logging, no globals; not thread-safe.
 */
#ifndef MENTOR_KNOWN_AGENTS_H
#define MENTOR_KNOWN_AGENTS_H

#include <stdbool.h>
#include <stddef.h>

#define MENTOR_KNOWN_AGENTS_SLOTS 65536  /* a power of two; at most half are used */

/* All zero: empty. */
struct mentor_known_agents {
	char **slots;  /* MENTOR_KNOWN_AGENTS_SLOTS once something was added, NULL: empty slot */
	size_t n;      /* agents in the set */
};

/* Whether id[0..len) (not NUL-terminated in general) is in the set. */
bool mentor_known_agents_has(const struct mentor_known_agents *k, const char *id, size_t len);

/*
 * Adds id[0..len), copied. Best effort: an agent not remembered (out of
 * memory) is only inserted again, and changes nothing (ON CONFLICT DO
 * NOTHING). A new agent that would fill the set past half its slots empties
 * it first.
 */
void mentor_known_agents_add(struct mentor_known_agents *k, const char *id, size_t len);

/* Forgets every agent (keeps the slots for reuse). */
void mentor_known_agents_clear(struct mentor_known_agents *k);

/* Frees what the set holds; it is then empty, as if all zero. */
void mentor_known_agents_free(struct mentor_known_agents *k);

#endif
