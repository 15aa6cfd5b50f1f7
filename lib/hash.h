/* Hashing for libmentor's small in-memory tables (internal, not installed). */
#ifndef MENTOR_HASH_H
#define MENTOR_HASH_H

#include <stddef.h>
#include <stdint.h>

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

#endif
