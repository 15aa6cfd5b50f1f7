/* The roster's programs as the store knows them (agent_programs.h): linear probing, names interned. */
#include "agent_programs.h"

#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "hash.h"

#define FIRST_SLOTS 1024

/* Slot of id[0..len) if present, else the empty slot where it would go; the table is never full. */
static size_t slot_of(const struct mentor_agent_programs *m, const char *id, size_t len)
{
	size_t mask = m->cap - 1;

	for (size_t i = mentor_hash_bytes(id, len) & mask;; i = (i + 1) & mask)
		if (!m->agents[i] || (strncmp(m->agents[i], id, len) == 0 && m->agents[i][len] == '\0'))
			return i;
}

const char *mentor_agent_programs_only(const struct mentor_agent_programs *m, const char *agent_id, size_t len)
{
	size_t slot;

	if (m->n == 0)
		return NULL;
	slot = slot_of(m, agent_id, len);
	return m->agents[slot] && m->program[slot] >= 0 ? m->names[m->program[slot]] : NULL;
}

/* Doubles the table (or makes its first one). 0, or -1 when out of memory (the table unchanged). */
static int grow_table(struct mentor_agent_programs *m)
{
	size_t cap = m->cap ? 2 * m->cap : FIRST_SLOTS;
	char **agents = calloc(cap, sizeof(*agents));
	int32_t *program = malloc(cap * sizeof(*program));
	struct mentor_agent_programs grown = { .agents = agents, .program = program, .cap = cap };

	if (!agents || !program) {
		free(agents);
		free(program);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t to;

		if (!m->agents[i])
			continue;
		to = slot_of(&grown, m->agents[i], strlen(m->agents[i]));
		agents[to] = m->agents[i];
		program[to] = m->program[i];
	}
	free(m->agents);
	free(m->program);
	m->agents = agents;
	m->program = program;
	m->cap = cap;
	return 0;
}

/* The number of program in names, added if new; -1 when out of memory. */
static int32_t name_of(struct mentor_agent_programs *m, const char *program)
{
	char *copy;

	for (size_t i = 0; i < m->n_names; i++)
		if (strcmp(m->names[i], program) == 0)
			return (int32_t)i;
	if (m->n_names >= INT32_MAX ||
	    !mentor_grow((void **)&m->names, &m->cap_names, m->n_names, sizeof(*m->names), 16, SIZE_MAX) ||
	    !(copy = strdup(program)))
		return -1;
	m->names[m->n_names] = copy;
	return (int32_t)m->n_names++;
}

int mentor_agent_programs_set(struct mentor_agent_programs *m, const char *agent_id, size_t len, const char *program)
{
	int32_t name = program ? name_of(m, program) : -1;
	size_t slot;

	if (program && name < 0)
		return -1;
	if (!mentor_grow((void **)&m->journal, &m->cap_journal, m->n_journal, sizeof(*m->journal), 64, SIZE_MAX))
		return -1;
	if (2 * (m->n + 1) > m->cap && grow_table(m) != 0)
		return -1;
	slot = slot_of(m, agent_id, len);
	if (!m->agents[slot]) {
		if (!(m->agents[slot] = malloc(len + 1)))
			return -1;
		memcpy(m->agents[slot], agent_id, len);
		m->agents[slot][len] = '\0';
		m->program[slot] = -1;
		m->n++;
	}
	m->journal[m->n_journal].agent = m->agents[slot];
	m->journal[m->n_journal].before = m->program[slot];
	m->n_journal++;
	m->program[slot] = name;
	return 0;
}

void mentor_agent_programs_keep(struct mentor_agent_programs *m)
{
	m->n_journal = 0;
}

void mentor_agent_programs_undo(struct mentor_agent_programs *m)
{
	while (m->n_journal > 0) {
		const char *agent = m->journal[--m->n_journal].agent;

		m->program[slot_of(m, agent, strlen(agent))] = m->journal[m->n_journal].before;
	}
}

void mentor_agent_programs_clear(struct mentor_agent_programs *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->agents[i]);
		m->agents[i] = NULL;
	}
	for (size_t i = 0; i < m->n_names; i++)
		free(m->names[i]);
	m->n = 0;
	m->n_names = 0;
	m->n_journal = 0;
}

void mentor_agent_programs_free(struct mentor_agent_programs *m)
{
	mentor_agent_programs_clear(m);
	free(m->agents);
	free(m->program);
	free(m->names);
	free(m->journal);
	*m = (struct mentor_agent_programs){ 0 };
}
