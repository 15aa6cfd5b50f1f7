/*
 * The Kafka consumer: a librdkafka high-level consumer in a group whose
 * offsets live in PostgreSQL, not in Kafka. On every assignment it asks the
 * caller for each partition's stored next offset and starts there; it keeps,
 * per assigned partition, the offset last stored and whether the partition
 * has been read to its end (lib/partitions.h). librdkafka stays inside
 * lib/consumer.c: this header hands out none of its types.
 */
#ifndef MENTOR_CONSUMER_H
#define MENTOR_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentor/config.h"
#include "mentor/store.h"
#include "mentor/error.h"

/*
 * Loads a partition's stored next offset (MENTOR_OFFSET_NONE if none). Called
 * from the rebalance callback; it may retry as long as it likes. A non-zero
 * return leaves the partition unassigned (use it only when shutting down).
 */
typedef int (*mentor_offset_loader)(void *ctx, const char *topic, int32_t partition, int64_t *ret_next,
				    int64_t *ret_max_event_us);

/*
 * Receives librdkafka's own log lines: level is a syslog priority (3 error ..
 * 7 debug). Called from librdkafka's threads, so it must be thread-safe.
 */
typedef void (*mentor_kafka_log_fn)(void *ctx, int level, const char *facility, const char *message);

struct mentor_consumer;

/*
 * Creates a consumer subscribed to the configured topics, with every [kafka]
 * key passed to librdkafka (auto commit and offset store forced off), and
 * librdkafka's log lines handed to log_fn (NULL: librdkafka prints them).
 * Returns MENTOR_OK and *ret_consumer, or MENTOR_ERR_KAFKA / MENTOR_ERR_INVALID.
 */
int mentor_consumer_new(const struct mentor_config *cfg, mentor_offset_loader loader, void *loader_ctx,
			mentor_kafka_log_fn log_fn, void *log_ctx,
			struct mentor_consumer **ret_consumer, struct mentor_error *err);

/*
 * Releases the last polled message, gives the partitions back and leaves the
 * group (polling, at most 10 s), and frees the consumer. True if the group
 * was left; false if it was not in time (the group then notices at
 * session.timeout.ms). Safe on NULL.
 */
bool mentor_consumer_close(struct mentor_consumer *c);

/*
 * One message as mentor_consumer_poll hands it out: data, or a consumer error
 * to report (error is not NULL). Everything it points to is owned by the
 * consumer and valid until the next mentor_consumer_poll or
 * mentor_consumer_close.
 */
struct mentor_message {
	const char *error;      /* NULL for data; else the error's text (topic may be NULL, key and payload are) */
	const char *topic;
	int32_t partition;
	int64_t offset;
	const void *key;        /* NULL when the message has none */
	size_t key_len;
	const void *payload;    /* may be NULL when len is 0 */
	size_t len;
};

/*
 * Waits up to timeout_ms for a message. Returns the message (owned by the
 * consumer: see struct mentor_message), or NULL if none came. The message
 * returned by the previous call is released first. End-of-partition events
 * are consumed here and only update mentor_consumer_at_end(); the messages
 * queued behind them are returned without waiting again.
 */
const struct mentor_message *mentor_consumer_poll(struct mentor_consumer *c, int timeout_ms);

/* Counts revocations: a change tells the caller to drop the uncommitted batch and rewind. */
uint64_t mentor_consumer_revocations(const struct mentor_consumer *c);

/* True when at least one partition is assigned and every assigned one has been read to its end. */
bool mentor_consumer_at_end(const struct mentor_consumer *c);

/* What the consumer knows of one assigned partition. */
struct mentor_partition_position {
	const char *topic;     /* owned by the consumer; valid during the callback */
	int32_t partition;
	int64_t low, high;     /* the partition's first offset and end as last fetched; -1 if not yet known */
	int64_t stored_next;   /* MENTOR_OFFSET_NONE if nothing is stored yet */
};

/*
 * Calls fn once per assigned partition. Uses librdkafka's cached watermarks,
 * so it asks no broker and never blocks.
 */
void mentor_consumer_each_partition(const struct mentor_consumer *c,
				    void (*fn)(void *ctx, const struct mentor_partition_position *pos), void *ctx);

/* Number of partitions currently assigned. */
int mentor_consumer_assigned(const struct mentor_consumer *c);

/*
 * The stored next offset this instance knows for an assigned partition.
 * Returns false if the partition is not assigned.
 */
bool mentor_consumer_stored_offset(const struct mentor_consumer *c, const char *topic, int32_t partition,
				   int64_t *ret_next);

/*
 * The newest event time stored from an assigned partition, as of its stored
 * next offset: what the next message's decision time starts from
 * (mentor_origin.stream_us). MENTOR_NO_EVENT_TIME: none, or not assigned.
 */
int64_t mentor_consumer_stream_time(const struct mentor_consumer *c, const char *topic, int32_t partition);

/*
 * Records that a partition's next offset is now stored (after a committed
 * batch), with the newest event time stored from it (MENTOR_NO_EVENT_TIME:
 * none new).
 */
void mentor_consumer_set_stored_offset(struct mentor_consumer *c, const char *topic, int32_t partition,
				       int64_t next, int64_t max_event_us);

/*
 * Records a partition's position as read back from PostgreSQL, after a
 * batch set_stored_offset counted on did not commit: both values replace
 * what this instance had (set_stored_offset only moves the event time on).
 */
void mentor_consumer_reset_stored_offset(struct mentor_consumer *c, const char *topic, int32_t partition,
					 int64_t next, int64_t max_event_us);

/*
 * The watermark of each source (surveys, evaluations) over the assigned
 * partitions, in decision time: the least, over the partitions of the
 * source's topic (topics[kind] carries kind's events), of each one's newest
 * event time (counting those in `pending`, a batch about to be written)
 * minus the source's allowed lateness (lateness_us[kind], as in struct
 * mentor_event_rules). No event still to come on a partition is decided
 * before it. A partition with no event yet counts as INT64_MIN until it is
 * read to its end; one read to its end after events holds the watermark at
 * its newest time, as any other, unless `drain` (a drain reads nothing past
 * the ends it reaches: such a partition holds nothing). Roster updates carry no event time: a
 * partition of topics[MENTOR_EVENT_ROSTER] holds both watermarks at
 * INT64_MIN until it is read to its end, so that decisions see the roster as
 * it was published before them. INT64_MAX for a source with no partition
 * assigned; INT64_MIN for both when nothing is assigned.
 */
struct mentor_source_times mentor_consumer_watermark(const struct mentor_consumer *c,
						     char *const topics[MENTOR_EVENT_KIND_COUNT],
						     const int64_t lateness_us[MENTOR_EVENT_KIND_COUNT], bool drain,
						     const struct mentor_offset_update *pending, size_t n_pending);

/* A partition of a topic and its extent: what is left of it is [begin, end). */
struct mentor_partition_extent {
	int32_t partition;
	int64_t begin;   /* the first offset still kept (retention and deletions move it on) */
	int64_t end;     /* the offset the next message produced to it will get */
};

/*
 * Asks the broker for every partition of topic and its extent (assigned to this
 * instance or not), waiting up to timeout_ms for each request (the topic's
 * metadata, then one per partition). A topic that does not exist has none.
 * Returns MENTOR_OK with *ret_extents (malloc'd, the caller frees; NULL when
 * none) and *ret_n, or MENTOR_ERR_KAFKA / MENTOR_ERR_NOMEM.
 */
int mentor_consumer_topic_extents(struct mentor_consumer *c, const char *topic, int timeout_ms,
			       struct mentor_partition_extent **ret_extents, size_t *ret_n, struct mentor_error *err);

/*
 * Moves every assigned partition back to its stored offset, after a batch was
 * dropped. MENTOR_OK or MENTOR_ERR_KAFKA.
 */
int mentor_consumer_rewind(struct mentor_consumer *c, struct mentor_error *err);

/*
 * Stops (pause) fetching on every assigned partition for a wait, or
 * restarts (resume) those backpressure does not hold
 * (mentor_consumer_hold_after); group membership stays.
 * MENTOR_OK or MENTOR_ERR_KAFKA.
 */
int mentor_consumer_pause(struct mentor_consumer *c, bool pause, struct mentor_error *err);

/*
 * Backpressure: pauses the assigned partitions of each source (topics[kind]
 * carries kind's events) whose newest stored event is after the source's
 * pause_after time and resumes the others it paused (INT64_MAX: none
 * paused); a partition with no event stored, or of the roster, is never
 * paused. A wait's pause (mentor_consumer_pause) and this one do not undo
 * each other. Sets *ret_held to the number paused by it. MENTOR_OK or
 * MENTOR_ERR_KAFKA.
 */
int mentor_consumer_hold_after(struct mentor_consumer *c, char *const topics[MENTOR_EVENT_KIND_COUNT],
			       const struct mentor_source_times *pause_after, int *ret_held, struct mentor_error *err);

/*
 * True when at least one partition is assigned and every assigned one that
 * backpressure does not pause has been read to its end.
 */
bool mentor_consumer_at_end_unheld(const struct mentor_consumer *c);

#endif
