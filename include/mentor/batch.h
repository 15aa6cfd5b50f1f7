/*
 * A batch: the messages polled since the last commit, staged as PostgreSQL
 * COPY text rows, and the offset range each partition contributed. The store
 * writes a whole batch, and its partitions' next offsets, in one transaction.
 */
#ifndef MENTOR_BATCH_H
#define MENTOR_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "mentor/error.h"
#include "mentor/events.h"

/* Where a message came from. Pointers are borrowed for the duration of one call. */
struct mentor_origin {
	const char *topic;
	int32_t partition;
	int64_t offset;
	const void *key;       /* may be NULL */
	size_t key_len;
	int64_t received_us;   /* wall clock when polled, microseconds since the epoch */
};

/* The staging tables, in the order their rows are written. */
enum mentor_stage {
	MENTOR_STAGE_ROSTER,   /* agent.v1 events */
	MENTOR_STAGE_EVENTS,   /* voc.v1 and aqm.v1 events */
	MENTOR_STAGE_REJECTS,  /* anything rejected, with its raw bytes */
	MENTOR_STAGE_COUNT
};

#define MENTOR_TOPIC_MAX 256

struct mentor_batch_partition {
	char topic[MENTOR_TOPIC_MAX];
	int32_t partition;
	int64_t first_offset, last_offset;  /* of the messages in this batch */
};

struct mentor_batch;

/* Returns an empty batch (free with mentor_batch_free), or NULL on allocation failure. */
struct mentor_batch *mentor_batch_new(void);

void mentor_batch_free(struct mentor_batch *b);

/* Empties the batch, keeping its buffers for reuse. */
void mentor_batch_reset(struct mentor_batch *b);

/* Stages a valid event. Returns MENTOR_OK, MENTOR_ERR_NOMEM or MENTOR_ERR_INVALID (topic name too long). */
int mentor_batch_add_event(struct mentor_batch *b, const struct mentor_event *ev,
			   const struct mentor_origin *origin, struct mentor_error *err);

/* Stages a rejected message with its raw payload and the reason. Same returns. */
int mentor_batch_add_reject(struct mentor_batch *b, const void *payload, size_t len,
			    const struct mentor_reject *why, const struct mentor_origin *origin,
			    struct mentor_error *err);

/* Messages staged so far, accepted and rejected. */
size_t mentor_batch_messages(const struct mentor_batch *b);

/* Rows staged for one table. */
size_t mentor_batch_rows(const struct mentor_batch *b, enum mentor_stage stage);

/* The COPY text (tab-separated, escaped) staged for one table; owned by the batch. */
const char *mentor_batch_copy_text(const struct mentor_batch *b, enum mentor_stage stage, size_t *ret_len);

/* Partitions the batch read from, each once. Owned by the batch. */
size_t mentor_batch_partition_count(const struct mentor_batch *b);
const struct mentor_batch_partition *mentor_batch_partition_at(const struct mentor_batch *b, size_t i);

#endif
