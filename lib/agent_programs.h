/*
 * The roster's programs as the store knows them: for each agent the roster
 * gives exactly one program (agents.programs), that program, which is all
 * that resolving a score event's program needs (mentor_batch_add_event).
 * The store fills it from `agents` when it connects, then sets the agents
 * of the roster rows each batch commit writes. Those changes are journaled
 * until the commit is known to have ended: kept if it committed, undone if
 * it did not, so that the map never holds a roster row PostgreSQL lost.
 * Internal to the store. No logging, no globals; not thread-safe.
 */
#ifndef MENTOR_AGENT_PROGRAMS_H
#define MENTOR_AGENT_PROGRAMS_H

#include <stddef.h>
#include <stdint.h>

/* All zero: empty. Agents are never removed, only set to no program (-1). */
struct mentor_agent_programs {
	char **agents;      /* open addressing, cap slots (a power of two, at most half used); NULL: empty slot */
	int32_t *program;   /* per slot: its agent's only program in names, or -1 */
	size_t cap, n;
	char **names;       /* the distinct program names, copied */
	size_t n_names, cap_names;
	struct { const char *agent; int32_t before; } *journal;  /* the changes not yet kept, oldest first;
								    agent: its key in agents */
	size_t n_journal, cap_journal;
};

/*
 * The only program of agent_id[0..len) (not NUL-terminated in general):
 * NUL-terminated, owned by the map and valid until it is freed; NULL if the
 * map gives the agent none.
 */
const char *mentor_agent_programs_only(const struct mentor_agent_programs *m, const char *agent_id, size_t len);

/*
 * Sets agent_id[0..len)'s only program to program (NUL-terminated, copied;
 * NULL: none), journaled. 0, or -1 when out of memory (the map is then as
 * the change left it, which the journal can undo).
 */
int mentor_agent_programs_set(struct mentor_agent_programs *m, const char *agent_id, size_t len, const char *program);

/* The journaled changes stay: the journal empties. */
void mentor_agent_programs_keep(struct mentor_agent_programs *m);

/* The journaled changes are undone, newest first; allocates nothing. */
void mentor_agent_programs_undo(struct mentor_agent_programs *m);

/* Forgets every agent and program (keeps the slots for reuse). */
void mentor_agent_programs_clear(struct mentor_agent_programs *m);

/* Frees what the map holds; it is then empty, as if all zero. */
void mentor_agent_programs_free(struct mentor_agent_programs *m);

#endif
