/* Hashing for libmentor's small in-memory tables (internal, not installed). */
#ifndef MENTOR_HASH_H
#define MENTOR_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* FNV-1a over n bytes: short keys, and no attacker to defend against (ids come from our own sources). */
static inline uint64_t mentor_hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = UINT64_C(14695981039346656037);

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

/* The hash of an (agent, metric) key: the detector keeps it per key, so the KPI set need not compute it per observation. */
static inline uint64_t mentor_hash_key(const char *agent_id, const char *metric)
{
	return mentor_hash_bytes(agent_id, strlen(agent_id)) * 31 ^ mentor_hash_bytes(metric, strlen(metric));
}

#endif
