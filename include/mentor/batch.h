/*
 * A batch: the messages polled since the last commit, staged as PostgreSQL
 * COPY text rows, and the offset range each partition contributed. The store
 * writes a whole batch, and its partitions' next offsets, in one transaction.
 */
#ifndef MENTOR_BATCH_H
#define MENTOR_BATCH_H

#include <stdbool.h>
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
	int64_t stream_us;     /* newest occurred_at stored from the partition before this batch, or MENTOR_NO_EVENT_TIME */
};

/* The staging tables, in the order their rows are written. */
enum mentor_stage {
	MENTOR_STAGE_ROSTER,   /* agent.v1 events */
	MENTOR_STAGE_EVENTS,   /* voc.v1 and aqm.v1 events: score_events rows, in its column order */
	MENTOR_STAGE_REJECTS,  /* anything rejected, with its raw bytes */
	MENTOR_STAGE_COUNT
};

#define MENTOR_TOPIC_MAX 256

/* max_event_us of a partition none of whose messages in the batch was a score event. */
#define MENTOR_NO_EVENT_TIME INT64_MIN

struct mentor_batch_partition {
	char topic[MENTOR_TOPIC_MAX];
	int32_t partition;
	int64_t first_offset, last_offset;  /* of the messages in this batch */
	int64_t max_event_us;               /* newest occurred_at of its accepted score events, repeats included */
};

struct mentor_batch;

/*
 * Returns an empty batch (free with mentor_batch_free), or NULL on
 * allocation failure. rules (borrowed; must outlive the batch) give the CSAT
 * scale its observations are normalized on, read when they are aggregated:
 * a reload that updates *rules applies to the batches aggregated after it.
 */
struct mentor_batch *mentor_batch_new(const struct mentor_event_rules *rules);

void mentor_batch_free(struct mentor_batch *b);

/* The rules the batch was made with (borrowed from mentor_batch_new's caller). */
const struct mentor_event_rules *mentor_batch_rules(const struct mentor_batch *b);

/*
 * An agent's only program in the roster as stored, for agent_id[0..len)
 * (not NUL-terminated in general): a NUL-terminated name, borrowed until the
 * lookup's owner next changes, or NULL if the roster gives the agent no
 * program, several, or does not know it.
 */
typedef const char *(*mentor_program_lookup_fn)(const void *ctx, const char *agent_id, size_t len);

/*
 * Where the batch looks up an agent's only program when it resolves a score
 * event's program (mentor_batch_add_event); fn NULL (the default): nowhere,
 * as if the roster gave no agent a program. ctx is borrowed and must outlive
 * the batch's use of it; kept across resets.
 */
void mentor_batch_set_program_lookup(struct mentor_batch *b, mentor_program_lookup_fn fn, const void *ctx);

/* Empties the batch, keeping its buffers for reuse. */
void mentor_batch_reset(struct mentor_batch *b);

/*
 * Stages a valid event. raw[0..raw_len), its message (NULL: not kept), is
 * kept with a score event the store may refuse when it stores the batch
 * (mentor_store_may_refuse), so that a refusal can store it whole in
 * rejected_events. A score event gets its decision time (docs/analytics.md):
 * the later of its occurred_at and its partition's newest earlier
 * occurred_at (origin->stream_us, then this batch's) minus the rules'
 * lateness; a function of the partition's messages alone. And its program,
 * the first of: the event's own `program`; the rules' default_program
 * ([ingest] program); the agent's only program in the roster, as the last
 * roster event of the agent staged in this batch before it gives it, else
 * as the program lookup does (mentor_batch_set_program_lookup);
 * MENTOR_DEFAULT_PROGRAM. Returns MENTOR_OK, MENTOR_ERR_NOMEM or
 * MENTOR_ERR_INVALID (topic name too long).
 */
int mentor_batch_add_event(struct mentor_batch *b, const struct mentor_event *ev,
			   const struct mentor_origin *origin, const void *raw, size_t raw_len,
			   struct mentor_error *err);

/* A rejected payload longer than the rules' max_message_bytes keeps only its first this many bytes. */
#define MENTOR_REJECT_PREFIX_BYTES 4096

/*
 * Stages a rejected message with its raw payload and the reason. A payload
 * longer than max_message_bytes (oversize) is kept as its first
 * MENTOR_REJECT_PREFIX_BYTES bytes, with its length and SHA-256. Same returns.
 */
int mentor_batch_add_reject(struct mentor_batch *b, const void *payload, size_t len,
			    const struct mentor_reject *why, const struct mentor_origin *origin,
			    struct mentor_error *err);

/*
 * Bytes the batch holds for its rows: the COPY text of every stage and the
 * messages kept for refusals. What [ingest] batch_max_bytes bounds.
 */
size_t mentor_batch_bytes(const struct mentor_batch *b);

/* Messages staged so far, accepted and rejected. */
size_t mentor_batch_messages(const struct mentor_batch *b);

/* Rows staged for one table. */
size_t mentor_batch_rows(const struct mentor_batch *b, enum mentor_stage stage);

/* The COPY text (tab-separated, escaped) staged for one table; owned by the batch. */
const char *mentor_batch_copy_text(const struct mentor_batch *b, enum mentor_stage stage, size_t *ret_len);

/*
 * Score events are staged once per event_id: a repeat within the batch is
 * counted as a message but not staged (the first copy wins). Staged score
 * events are numbered 0..rows-1 in staging order.
 *
 * Returns the number of the staged score event with this event_id, or -1.
 */
long mentor_batch_event_find(const struct mentor_batch *b, const char *event_id, size_t len);

/* The event_id of staged score event i (i < rows), not NUL-terminated in general; owned by the batch. */
const char *mentor_batch_event_id(const struct mentor_batch *b, size_t i, size_t *ret_len);

/* Where staged score event i's row starts in the EVENTS COPY text; i == rows: the text's length. */
size_t mentor_batch_event_row(const struct mentor_batch *b, size_t i);

/* The distinct agent_ids of the staged score events. Owned by the batch. */
size_t mentor_batch_agent_count(const struct mentor_batch *b);
const char *mentor_batch_agent(const struct mentor_batch *b, size_t i, size_t *ret_len);

/* The distinct programs of the staged score events, first seen first; NUL-terminated, owned by the batch. */
size_t mentor_batch_program_count(const struct mentor_batch *b);
const char *mentor_batch_program(const struct mentor_batch *b, size_t i, size_t *ret_len);

/* The program of staged score event i (mentor_batch_add_event): its name (interned, owned by the batch) ... */
const char *mentor_batch_event_program(const struct mentor_batch *b, size_t i);

/* ... and its number (0..mentor_batch_program_count - 1). */
size_t mentor_batch_event_program_id(const struct mentor_batch *b, size_t i);

/*
 * The distinct agents of the staged roster events, first seen first, each
 * with the only program of its last one: NUL-terminated, owned by the
 * batch; NULL if that event gives no program or several. What the roster
 * holds once the batch is stored.
 */
size_t mentor_batch_roster_count(const struct mentor_batch *b);
const char *mentor_batch_roster_agent(const struct mentor_batch *b, size_t i, size_t *ret_len);
const char *mentor_batch_roster_program(const struct mentor_batch *b, size_t i);

/*
 * The daily aggregates of a batch, as COPY data. `parts`, in the binary
 * format (empty when there are none; PostgreSQL parses it far faster than
 * text, and a batch writes about 2.7 rows per event): rows (agent_id,
 * program, metric, day, n, sum_e6, sumsq_e12) per agent, program, metric
 * and UTC day: the values normalized to 0..1 and rounded to 1e-6, summed in
 * millionths, and their squares summed in 10^-12 units (integers, exact).
 * `metrics`, in the text format: rows (metric, source, scale_min,
 * scale_max), one per metric seen, AQM winning a name both sources use. days: how many `parts` rows each day has, days counted from
 * 1970-01-01, in increasing order.
 */
struct mentor_daily_day {
	int32_t day;
	uint32_t rows;
};

struct mentor_daily {
	char *parts, *metrics;
	size_t parts_len, parts_rows, metrics_len, metrics_rows;
	struct mentor_daily_day *days;
	size_t n_days;
};

/*
 * Aggregates the observations of the staged score events for which
 * stored[i] is nonzero (NULL: all of them), normalized on the batch's CSAT
 * scale. Returns MENTOR_OK (free *out with mentor_daily_free) or MENTOR_ERR_NOMEM.
 */
int mentor_batch_daily(const struct mentor_batch *b, const unsigned char *stored, struct mentor_daily *out,
		       struct mentor_error *err);

void mentor_daily_free(struct mentor_daily *d);

/* One observation of a staged score event: a metric's value normalized to 0..1, in millionths. */
struct mentor_observation {
	const char *agent_id, *metric, *event_id;  /* NUL-terminated, owned by the batch */
	const char *program;                       /* its event's (mentor_batch_event_program) */
	enum mentor_event_kind source;             /* its event's kind: VOC or AQM */
	int64_t occurred_us;
	int64_t decide_us;                         /* the event's decision time (mentor_batch_add_event) */
	int64_t value_e6;
};

/* Returns MENTOR_OK to go on; anything else stops the iteration and is returned. */
typedef int (*mentor_observation_fn)(void *ctx, const struct mentor_observation *o);

/*
 * Calls fn for every observation of the staged score events for which
 * stored[i] is nonzero (NULL: all), in staging order, with the values that
 * mentor_batch_daily() adds up.
 */
int mentor_batch_each_observation(const struct mentor_batch *b, const unsigned char *stored, mentor_observation_fn fn,
				  void *ctx);

/* Whether staged score event i is an AQM event with a non-empty fatal list. */
bool mentor_batch_event_fatal(const struct mentor_batch *b, size_t i);

/* Decision time of staged score event i (mentor_batch_add_event), microseconds since the epoch. */
int64_t mentor_batch_event_decide_time(const struct mentor_batch *b, size_t i);

/* The kind (VOC or AQM) of staged score event i. */
enum mentor_event_kind mentor_batch_event_kind(const struct mentor_batch *b, size_t i);

/* The agent of staged score event i: its number (0..mentor_batch_agent_count - 1, first seen first). */
size_t mentor_batch_event_agent(const struct mentor_batch *b, size_t i);

/* Where staged score event i came from: its topic (owned by the batch), partition, offset and time of receipt. */
void mentor_batch_event_origin(const struct mentor_batch *b, size_t i, const char **ret_topic,
			       int32_t *ret_partition, int64_t *ret_offset, int64_t *ret_received_us);

/*
 * The rejected_events staging row of staged score event i as far as its
 * payload (origin, key, payload: the columns of MENTOR_STAGE_REJECTS before
 * the reason), if its message was kept (mentor_batch_add_event); NULL if
 * not. Owned by the batch.
 */
const char *mentor_batch_event_kept(const struct mentor_batch *b, size_t i, size_t *ret_len);

/* The distinct metric names of the staged score events' observations, first seen first. Owned by the batch. */
size_t mentor_batch_metric_count(const struct mentor_batch *b);
const char *mentor_batch_metric(const struct mentor_batch *b, size_t i, size_t *ret_len);

/* The metric number (as mentor_batch_metric) of each observation of staged score event i, by fn(ctx, metric). */
void mentor_batch_event_metrics(const struct mentor_batch *b, size_t i, void (*fn)(void *ctx, size_t metric),
				void *ctx);

/* Normalized value in micro-units: round((v - lo) * 1e6 / (hi - lo)), v = mant * 10^exp10, half away from zero. */
int64_t mentor_normalize_micro(int64_t mant, int exp10, int lo, int hi);

/* Partitions the batch read from, each once. Owned by the batch. */
size_t mentor_batch_partition_count(const struct mentor_batch *b);
const struct mentor_batch_partition *mentor_batch_partition_at(const struct mentor_batch *b, size_t i);

#endif
