/*
 * The consumer's bookkeeping of its assigned partitions, without Kafka: per
 * partition the next offset stored in PostgreSQL, the newest event time
 * stored from it and whether it has been read to its end; from them the
 * offset each partition starts at and the event-time watermark.
 * lib/consumer.c feeds it from librdkafka's rebalances and messages.
 * Internal to lib/; no Kafka, database, clock, logging or globals.
 */
#ifndef MENTOR_PARTITIONS_H
#define MENTOR_PARTITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentor/batch.h"
#include "mentor/events.h"
#include "mentor/store.h"

/* One tracked partition. */
struct mentor_partition {
	char topic[MENTOR_TOPIC_MAX];  /* truncated to MENTOR_TOPIC_MAX - 1 bytes */
	int32_t partition;
	int64_t stored_next;           /* MENTOR_OFFSET_NONE until something is stored */
	int64_t max_event_us;          /* newest event time stored from it; MENTOR_NO_EVENT_TIME: none */
	bool at_end;                   /* read to its end since it was tracked or last rewound */
	bool held;                     /* paused by backpressure (mentor_partitions_hold_after) */
};

struct mentor_partitions;

/*
 * Returns an empty set (free with mentor_partitions_free), or NULL on
 * allocation failure. unstored_start is the offset a partition with nothing
 * stored starts at (the consumer's "from the beginning" or "from the end").
 */
struct mentor_partitions *mentor_partitions_new(int64_t unstored_start);

/* Frees the set; safe on NULL. */
void mentor_partitions_free(struct mentor_partitions *ps);

/*
 * Tracks a partition just assigned, with its stored position, not read to
 * its end; one already tracked gets these values instead. Returns it (owned
 * by the set, valid until the set next changes) or NULL when out of memory.
 */
const struct mentor_partition *mentor_partitions_track(struct mentor_partitions *ps, const char *topic,
						       int32_t partition, int64_t stored_next, int64_t max_event_us);

/* Forgets a revoked partition; the last one takes its place. No-op if it is not tracked. */
void mentor_partitions_untrack(struct mentor_partitions *ps, const char *topic, int32_t partition);

/* Forgets every partition (an unknown rebalance state drops them all). */
void mentor_partitions_untrack_all(struct mentor_partitions *ps);

/* Number of tracked partitions. */
int mentor_partitions_count(const struct mentor_partitions *ps);

/* The i-th tracked partition, 0 <= i < count; owned by the set, valid until it next changes. */
const struct mentor_partition *mentor_partitions_at(const struct mentor_partitions *ps, int i);

/* The tracked partition, or NULL; owned by the set, valid until it next changes. */
const struct mentor_partition *mentor_partitions_find(const struct mentor_partitions *ps, const char *topic,
						      int32_t partition);

/* The offset to fetch p from: its stored next offset, or unstored_start when nothing is stored. */
int64_t mentor_partitions_start_offset(const struct mentor_partitions *ps, const struct mentor_partition *p);

/*
 * Records whether a partition is read to its end: true at an end-of-partition
 * event, false when a message comes after it. No-op if it is not tracked.
 */
void mentor_partitions_set_at_end(struct mentor_partitions *ps, const char *topic, int32_t partition, bool at_end);

/* Marks every partition as not read to its end (after a rewind to the stored offsets). */
void mentor_partitions_clear_at_end(struct mentor_partitions *ps);

/* True when at least one partition is tracked and every tracked one is read to its end. */
bool mentor_partitions_at_end(const struct mentor_partitions *ps);

/*
 * True when at least one partition is tracked and every tracked one that
 * backpressure does not hold is read to its end (all held counts).
 */
bool mentor_partitions_at_end_unheld(const struct mentor_partitions *ps);

/*
 * Backpressure: holds every tracked partition of a source (topics[kind]
 * carries kind's events) whose newest stored event is after the source's
 * pause_after time (one with no event, or of the roster, is never held;
 * INT64_MAX holds none) and releases the others, then calls fn for each partition whose
 * held flag changed: the caller sets its pause in Kafka (p->held says which
 * way). A partition is tracked not held (the caller resumes a held one
 * before it gives it up). Returns the number held.
 */
int mentor_partitions_hold_after(struct mentor_partitions *ps, char *const topics[MENTOR_EVENT_KIND_COUNT],
				 const struct mentor_source_times *pause_after,
				 void (*fn)(void *ctx, const struct mentor_partition *p), void *ctx);

/*
 * Records that a partition's next offset is now stored, with the newest
 * event time stored from it: the event time only moves forward
 * (MENTOR_NO_EVENT_TIME leaves it). No-op if the partition is not tracked.
 */
void mentor_partitions_set_stored(struct mentor_partitions *ps, const char *topic, int32_t partition, int64_t next,
				  int64_t max_event_us);

/*
 * Replaces a partition's stored position with one read back from
 * PostgreSQL, both values as given. No-op if the partition is not tracked.
 */
void mentor_partitions_reset_stored(struct mentor_partitions *ps, const char *topic, int32_t partition,
				    int64_t next, int64_t max_event_us);

/* The kind of events a topic carries (topics[kind] carries kind's), or MENTOR_EVENT_KIND_COUNT for none. */
enum mentor_event_kind mentor_topic_kind(const char *topic, char *const topics[MENTOR_EVENT_KIND_COUNT]);

/*
 * The watermark of each source in decision time, the rules of
 * mentor_consumer_watermark(): the least, over the tracked partitions of
 * the source's topic, of each one's newest event time (counting the newer
 * times in `pending`, updates of a batch about to be written) minus the
 * source's allowed lateness; one with no event yet counts as INT64_MIN,
 * unless it is read to its end; with `drain`, one read to its end counts
 * for nothing (a drain reads nothing past it); a topic of no source holds both; a
 * partition of the roster topic not read to its end makes both INT64_MIN;
 * INT64_MAX for a source with no partition tracked, and INT64_MIN for
 * both when nothing is tracked.
 */
struct mentor_source_times mentor_partitions_watermark(const struct mentor_partitions *ps,
						       char *const topics[MENTOR_EVENT_KIND_COUNT],
						       const int64_t lateness_us[MENTOR_EVENT_KIND_COUNT], bool drain,
						       const struct mentor_offset_update *pending, size_t n_pending);

#endif
