/*
 * The event ids the store's batch commits stored lately, as 64-bit hashes,
 * so that a repeat of one (a producer's retry) is found before the batch's
 * COPY meets it in score_events: an event whose hash is here is a suspect,
 * kept out of the COPY and looked up in score_events instead
 * (batch_commit.c, event_stream.c). Two generations of at most
 * MENTOR_RECENT_EVENTS_SLOTS / 2 hashes each: once the newer is half full it
 * becomes the older, and the older is forgotten. A hash can match another id
 * (a suspect that is not a repeat: the lookup says so) and a repeat can be
 * missed (older than both generations, or stored by another instance: the
 * COPY fails, and the batch is written again without it). Internal to the
 * store. No logging, no globals; not thread-safe.
 */
#ifndef MENTOR_RECENT_EVENTS_H
#define MENTOR_RECENT_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MENTOR_RECENT_EVENTS_SLOTS 524288  /* per generation, a power of two: 4 MiB */

/* All zero: empty. */
struct mentor_recent_events {
	uint64_t *gen[2];  /* MENTOR_RECENT_EVENTS_SLOTS hashes each once something was added; 0: empty slot */
	size_t n[2];
	int newer;         /* index of the generation added to */
};

/* Whether id[0..len) may have been stored lately. */
bool mentor_recent_events_has(const struct mentor_recent_events *r, const char *id, size_t len);

/* Remembers id[0..len). Best effort: out of memory, it is not remembered (its repeat only costs more). */
void mentor_recent_events_add(struct mentor_recent_events *r, const char *id, size_t len);

/* Frees what the set holds; it is then empty, as if all zero. */
void mentor_recent_events_free(struct mentor_recent_events *r);

#endif
