/*
 * The consume loop: poll messages into a batch, commit the batch with its
 * offsets, and get through PostgreSQL outages, refusals, fenced partitions
 * and rebalances without losing or doubling an event.
 */
#include "ingest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config_file.h"
#include "log.h"
#include "mentor/analytics.h"
#include "mentor/batch.h"
#include "mentor/clock.h"
#include "mentor/consumer.h"
#include "mentor/events.h"
#include "mentor/store.h"
#include "metrics.h"
#include "notify.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* A backoff wait is cut into steps this long, to check the stop flag and show progress. */
#define BACKOFF_STEP_MS 100
/*
 * Messages PostgreSQL refused alone, none of them confirmed yet (below):
 * past this many, the refusal is taken for the database's, not theirs.
 */
#define SUSPECTS_MAX 8
/*
 * The roster topic's extents are asked of the broker a second after the last
 * answer (ten after a failure, so that a broker away does not hold the loop
 * up), each request waiting at most ROSTER_EXTENTS_TIMEOUT_MS.
 */
#define ROSTER_EXTENTS_EVERY_US 1000000
#define ROSTER_EXTENTS_RETRY_US 10000000
#define ROSTER_EXTENTS_TIMEOUT_MS 1000

struct ingest_totals {
	uint64_t accepted, rejected, batches, fenced, refused, db_errors;
};

/* A message by its place in Kafka. */
struct message_ref {
	char topic[MENTOR_TOPIC_MAX];
	int32_t partition;
	int64_t offset;
};

/*
 * A message PostgreSQL refused when it was a batch's only message. Read
 * again, it is staged as a rejected row (database_refused); the batch that
 * carries it is committed only once it also holds an event of the same
 * kind (or once it is batch_max_ms old: the last message of a quiet topic),
 * so a refusal that is the database's (every event refused) rejects nothing.
 */
struct suspect {
	struct message_ref at;
	int kind;                    /* its topic's event kind */
	char detail[256];            /* the server's message */
};

/* What a batch holds, to split it if PostgreSQL refuses it. */
struct batch_shape {
	size_t data;                 /* messages other than suspects */
	size_t suspects;             /* suspects staged as rejected rows */
	unsigned event_kinds;        /* bit per kind of the valid events among the data */
	unsigned suspect_kinds;      /* bit per kind of the suspects */
	struct message_ref last_data;
	int last_kind;               /* of last_data, -1 if it is not a valid event */
};

struct ingest {
	struct mentor_config *cfg;          /* borrowed from the caller; replaced on reload */
	const char *config_path;
	struct mentord_flags *flags;
	struct mentor_store *store;         /* owned */
	struct mentor_consumer *consumer;   /* owned */
	struct mentor_batch *batch;         /* owned */
	struct mentor_analytics *analytics; /* owned */
	bool analytics_stale;               /* a failed commit left its memory ahead of the tables */
	bool drain_waiting;                 /* at the end, waiting for other instances' partitions (logged once) */
	bool exit_at_end;                   /* a drain: what is read to its end gets nothing more */
	int held_partitions;                /* partitions paused for the group's waiting observations (backpressure) */
	int assigned_seen;                  /* partitions assigned at the last pass: a change sets backpressure again */
	bool rounds_left;                   /* the analytics left pairing rounds for the next pass (logged once) */
	struct mentor_offset_update *updates;  /* owned; one per partition of the batch */
	size_t cap_updates;
	int64_t batch_started_us;
	uint64_t revocations_seen;
	struct metrics_batch pending;       /* what the open batch holds, counted once it commits */
	bool commit_sent;                   /* the last batch's COMMIT is in flight: settle_commit() */
	struct metrics_batch sent;          /* what that batch held */
	size_t sent_messages;
	struct metrics_lag *lag_rows;       /* owned; METRICS_LAG_MAX rows, rebuilt on every publish */
	int64_t lag_published_us;
	int64_t lag_total;                  /* messages in Kafka not stored yet, as last published */
	struct ingest_totals totals;
	struct batch_shape open_shape, sent_shape;  /* of the open batch, of the one whose COMMIT is in flight */
	size_t split_limit;                 /* 0: batches end at batch_max_events; else at this many data messages */
	size_t split_left;                  /* data messages to store before split_limit goes back to 0 */
	struct suspect suspects[SUSPECTS_MAX];
	size_t n_suspects;
	int retry_delay_ms;                 /* backoff of consecutive failures, back to the minimum at a commit */
	bool paused;                        /* waiting with the partitions paused: backoff waits poll the consumer */
	bool polling;                       /* inside such a poll: a rebalance callback must not poll again */
	uint64_t wait_polls;                /* polls made while waiting: each released the message the loop held */
	bool rewind_pending;                /* a rewind failed: nothing is read until one succeeds */
	bool analytics_failing;             /* the last analytics transaction failed */
	int64_t roster_extents_due_us;      /* when to ask for the roster topic's extents next (monotonic) */
	bool roster_extents_failing;        /* the last ask failed (logged once) */
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * The main loop shows progress: it pings the systemd watchdog and /healthz.
 * Waiting out an outage counts as progress (each backoff step calls this):
 * the daemon is doing its job, which is to wait and retry, and a watchdog
 * restart would only start the same wait again. A call that never returns
 * stops the pings, and that is what the watchdog is for.
 */
static void alive(void)
{
	notify_watchdog();
	metrics_loop_alive();
}

/*
 * One step of a wait with the partitions paused: polls the consumer, which
 * keeps this instance in its group past max.poll.interval.ms and serves its
 * rebalances. librdkafka hands out no message of a paused partition (pause
 * purges what it fetched); one newly assigned meanwhile is not paused, so
 * what comes is let go: every wait ends with a rewind to the stored offsets.
 */
static void poll_paused(struct ingest *in, int timeout_ms)
{
	const struct mentor_message *msg;

	in->polling = true;
	in->wait_polls++;
	msg = mentor_consumer_poll(in->consumer, timeout_ms);
	in->polling = false;
	if (msg && msg->error)
		log_warning("kafka: %s", msg->error);
}

/*
 * Waits before a retry, in short steps so that SIGTERM is never delayed and
 * the watchdog keeps being fed; with the partitions paused, each step polls
 * the consumer (but inside a rebalance callback, which must not poll).
 */
static void backoff_wait(struct ingest *in, int *delay_ms)
{
	for (int waited = 0; waited < *delay_ms && !in->flags->stop; waited += BACKOFF_STEP_MS) {
		int step = *delay_ms - waited < BACKOFF_STEP_MS ? *delay_ms - waited : BACKOFF_STEP_MS;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)step * 1000000 };

		if (in->paused && !in->polling)
			poll_paused(in, step);
		else
			nanosleep(&ts, NULL);
		alive();
	}
	*delay_ms = *delay_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *delay_ms * 2;
}

/*
 * Reconnects to PostgreSQL until it answers or we are told to stop. Returns
 * false if stopping. The backoff goes on from the last failure's: a batch
 * that fails on every fresh connection is retried every 5 s, not every 100 ms.
 */
static bool reconnect_store(struct ingest *in)
{
	struct mentor_error err;

	notify_status("PostgreSQL unavailable, reconnecting");
	while (!in->flags->stop) {
		backoff_wait(in, &in->retry_delay_ms);
		if (in->flags->stop)
			break;
		if (mentor_store_reconnect(in->store, &err) == MENTOR_OK) {
			log_notice("reconnected to PostgreSQL");
			metrics_db_reconnected(true);
			notify_status("consuming");
			return true;
		}
		log_warning("PostgreSQL still unreachable, retrying in %d ms: %s", in->retry_delay_ms, err.msg);
	}
	return false;
}

static const char *group_id(const struct ingest *in)
{
	return mentor_config_kafka_get(in->cfg, "group.id");
}

/* A partition's stored position, read from PostgreSQL; retries through outages. 0, or -1 if told to stop. */
static int read_offset(struct ingest *in, const char *topic, int32_t partition, int64_t *ret_next,
		       int64_t *ret_max_event_us)
{
	struct mentor_error err;

	for (;;) {
		if (mentor_store_offset_load(in->store, group_id(in), topic, partition, ret_next, ret_max_event_us,
					     &err) == MENTOR_OK)
			return 0;
		log_warning("loading the stored offset of %s[%" PRId32 "] failed: %s", topic, partition, err.msg);
		metrics_db_error();
		if (!reconnect_store(in))
			return -1;
	}
}

/* mentor_offset_loader: called from the rebalance callback, retries through outages. */
static int load_offset(void *ctx, const char *topic, int32_t partition, int64_t *ret_next, int64_t *ret_max_event_us)
{
	struct ingest *in = ctx;

	if (read_offset(in, topic, partition, ret_next, ret_max_event_us) != 0)
		return -1;
	log_info("assigned %s[%" PRId32 "], stored next offset %" PRId64, topic, partition, *ret_next);
	return 0;
}

/* mentor_kafka_log_fn: librdkafka's lines in our format (its levels are syslog's, like ours). */
static void log_kafka(void *ctx, int level, const char *facility, const char *message)
{
	(void)ctx;
	log_msg(level < MENTOR_LOG_ERR ? MENTOR_LOG_ERR : level, "kafka %s: %s", facility, message);
}

static int topic_kind(const struct mentor_config *cfg, const char *topic)
{
	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++)
		if (strcmp(cfg->topics[k], topic) == 0)
			return k;
	return -1;
}

static void message_ref_set(struct message_ref *ref, const struct mentor_message *msg)
{
	snprintf(ref->topic, sizeof(ref->topic), "%s", msg->topic);
	ref->partition = msg->partition;
	ref->offset = msg->offset;
}

static const struct suspect *find_suspect(const struct ingest *in, const struct mentor_message *msg)
{
	for (size_t i = 0; i < in->n_suspects; i++) {
		const struct message_ref *at = &in->suspects[i].at;

		if (at->offset == msg->offset && at->partition == msg->partition && strcmp(at->topic, msg->topic) == 0)
			return &in->suspects[i];
	}
	return NULL;
}

/* Stages a suspect read again as its rejected row. */
static int stage_suspect(struct ingest *in, const struct mentor_message *msg, const struct mentor_origin *origin,
			 const struct suspect *sus)
{
	struct mentor_reject why = { .code = MENTOR_REJECT_DATABASE_REFUSED };
	struct mentor_error err;

	snprintf(why.detail, sizeof(why.detail), "%s", sus->detail);
	in->open_shape.suspects++;
	if (sus->kind >= 0)
		in->open_shape.suspect_kinds |= 1u << sus->kind;
	in->pending.rejected[why.code]++;
	if (mentor_batch_add_reject(in->batch, msg->payload, msg->len, &why, origin, &err) == MENTOR_OK)
		return 0;
	log_err("staging a rejected message: %s", err.msg);
	return -1;
}

static int stage_message(struct ingest *in, const struct mentor_message *msg)
{
	const char *topic = msg->topic;
	struct mentor_origin origin = {
		.topic = topic, .partition = msg->partition, .offset = msg->offset,
		.key = msg->key, .key_len = msg->key_len, .received_us = now_us(),
		.stream_us = mentor_consumer_stream_time(in->consumer, topic, msg->partition),
	};
	int kind = topic_kind(in->cfg, topic);
	struct mentor_event ev;
	struct mentor_reject why;
	struct mentor_error err;
	int rc;

	const struct suspect *sus;

	metrics_message_consumed();
	if (mentor_batch_messages(in->batch) == 0)
		in->batch_started_us = mentor_monotonic_us();
	if (in->n_suspects > 0 && (sus = find_suspect(in, msg)) != NULL)
		return stage_suspect(in, msg, &origin, sus);
	in->open_shape.data++;
	message_ref_set(&in->open_shape.last_data, msg);
	in->open_shape.last_kind = -1;
	if (kind < 0) {
		why.code = MENTOR_REJECT_UNKNOWN_SCHEMA;
		snprintf(why.detail, sizeof(why.detail), "topic %s carries no configured event kind", topic);
	} else if (mentor_event_parse(&in->cfg->rules, kind, msg->payload, msg->len, origin.received_us, &ev, &why)) {
		bool keep = mentor_store_may_refuse(in->store, &ev);

		rc = mentor_batch_add_event(in->batch, &ev, &origin, keep ? msg->payload : NULL, msg->len, &err);
		mentor_event_clear(&ev);
		in->pending.accepted++;
		in->open_shape.event_kinds |= 1u << kind;
		in->open_shape.last_kind = kind;
		return rc == MENTOR_OK ? 0 : (log_err("staging an event: %s", err.msg), -1);
	}
	log_warning("rejected %s[%" PRId32 "]@%" PRId64 ": %s: %s", topic, msg->partition, msg->offset,
		    mentor_reject_code_name(why.code), why.detail);
	if ((unsigned)why.code < MENTOR_REJECT_CODE_COUNT)
		in->pending.rejected[why.code]++;
	rc = mentor_batch_add_reject(in->batch, msg->payload, msg->len, &why, &origin, &err);
	return rc == MENTOR_OK ? 0 : (log_err("staging a rejected message: %s", err.msg), -1);
}

/* Fills in->updates from the batch's partitions. False if one is no longer assigned. */
static bool build_offset_updates(struct ingest *in, size_t *ret_n)
{
	size_t n = mentor_batch_partition_count(in->batch);

	if (n > in->cap_updates) {
		struct mentor_offset_update *grown = realloc(in->updates, n * sizeof(*grown));

		if (!grown)
			return false;
		in->updates = grown;
		in->cap_updates = n;
	}
	for (size_t i = 0; i < n; i++) {
		const struct mentor_batch_partition *p = mentor_batch_partition_at(in->batch, i);
		struct mentor_offset_update *u = &in->updates[i];

		u->topic = p->topic;
		u->partition = p->partition;
		u->next = p->last_offset + 1;
		u->max_event_us = p->max_event_us;
		if (!mentor_consumer_stored_offset(in->consumer, p->topic, p->partition, &u->expected_next))
			return false;
	}
	*ret_n = n;
	return true;
}

/* Drops the uncommitted batch and reads its messages again from the stored offsets. */
static void drop_batch(struct ingest *in)
{
	struct mentor_error err;

	mentor_store_stream_drop(in->store);
	mentor_batch_reset(in->batch);
	memset(&in->pending, 0, sizeof(in->pending));
	memset(&in->open_shape, 0, sizeof(in->open_shape));
	if (in->consumer && mentor_consumer_rewind(in->consumer, &err) != MENTOR_OK) {
		log_warning("%s; reading stops until a rewind succeeds", err.msg);
		in->rewind_pending = true;
	}
}

/*
 * Tries a rewind that failed again (the broker away: the seek timed out).
 * Until one succeeds the consumer's position is unknown, and a message read
 * past the stored offset would leave the messages before it out of every
 * batch: so the loop reads nothing and only polls, which keeps it in its
 * group; what such a poll hands out is let go (the rewind reads it again).
 * True once rewound.
 */
static bool retry_rewind(struct ingest *in)
{
	struct mentor_error err;

	if (mentor_consumer_rewind(in->consumer, &err) == MENTOR_OK) {
		log_notice("rewound to the stored offsets");
		in->rewind_pending = false;
		return true;
	}
	log_warning("%s, will retry", err.msg);
	poll_paused(in, BACKOFF_STEP_MS);
	return false;
}

/* Forgets the suspects stored by now (behind their partition's stored offset) or no longer assigned. */
static void prune_suspects(struct ingest *in)
{
	size_t kept = 0;

	for (size_t i = 0; i < in->n_suspects; i++) {
		const struct message_ref *at = &in->suspects[i].at;
		int64_t next;

		if (mentor_consumer_stored_offset(in->consumer, at->topic, at->partition, &next) && next <= at->offset)
			in->suspects[kept++] = in->suspects[i];
	}
	in->n_suspects = kept;
}

/* The score events the store refused when it wrote the batch: logged like any reject, and counted as rejected. */
static void note_refusals(struct ingest *in)
{
	for (size_t i = 0; i < mentor_store_refusals(in->store); i++) {
		struct mentor_reject why;
		const char *topic;
		int32_t partition;
		int64_t offset, received_us;
		size_t event;

		mentor_store_refusal(in->store, in->batch, i, &event, &why);
		mentor_batch_event_origin(in->batch, event, &topic, &partition, &offset, &received_us);
		log_warning("rejected %s[%" PRId32 "]@%" PRId64 ": %s: %s", topic, partition, offset,
			    mentor_reject_code_name(why.code), why.detail);
		in->pending.accepted--;
		in->pending.rejected[why.code]++;
	}
}

/*
 * The batch's COMMIT is sent: the next batch's offsets follow on from its
 * own (the fence checks them), and it is counted once it has committed.
 */
static void batch_sent(struct ingest *in, size_t n_updates)
{
	for (size_t i = 0; i < n_updates; i++)
		mentor_consumer_set_stored_offset(in->consumer, in->updates[i].topic, in->updates[i].partition,
						  in->updates[i].next, in->updates[i].max_event_us);
	in->commit_sent = true;
	in->sent = in->pending;
	in->sent_messages = mentor_batch_messages(in->batch);
	in->sent_shape = in->open_shape;
	memset(&in->pending, 0, sizeof(in->pending));
	memset(&in->open_shape, 0, sizeof(in->open_shape));
	mentor_batch_reset(in->batch);
}

struct partition_list {
	struct { char *topic; int32_t partition; } *items;  /* owned, topics too */
	size_t n, cap;
};

static void collect_partition(void *ctx, const struct mentor_partition_position *pos)
{
	struct partition_list *pl = ctx;

	if (pl->n < pl->cap && (pl->items[pl->n].topic = strdup(pos->topic)) != NULL)
		pl->items[pl->n++].partition = pos->partition;
}

/* Every assigned partition's stored offset, read again from PostgreSQL. */
static void reload_offsets(struct ingest *in)
{
	struct partition_list pl = { .cap = (size_t)mentor_consumer_assigned(in->consumer) };

	pl.items = calloc(pl.cap + 1, sizeof(*pl.items));
	if (!pl.items) {
		log_err("out of memory listing the assigned partitions");
		return;
	}
	mentor_consumer_each_partition(in->consumer, collect_partition, &pl);
	for (size_t i = 0; i < pl.n; i++) {
		int64_t next, max_event_us;

		if (read_offset(in, pl.items[i].topic, pl.items[i].partition, &next, &max_event_us) == 0)
			mentor_consumer_reset_stored_offset(in->consumer, pl.items[i].topic, pl.items[i].partition,
							    next, max_event_us);
		free(pl.items[i].topic);
	}
	free(pl.items);
}

/*
 * Waits with the partitions paused, polling the consumer so that this
 * instance stays in its group however long it lasts: until PostgreSQL
 * answers again (reconnect), or for the next backoff step. Then reads every
 * partition's stored offset again and drops the open batch, so that
 * consumption goes on from what PostgreSQL holds (messages polled during
 * the wait, a COMMIT that failed meanwhile). Before the consumer exists it
 * only reconnects. False if told to stop meanwhile.
 */
static bool wait_for_store(struct ingest *in, bool reconnect)
{
	struct mentor_error err;
	bool ok;

	if (!in->consumer)
		return reconnect_store(in);
	if (mentor_consumer_pause(in->consumer, true, &err) != MENTOR_OK)
		log_warning("%s", err.msg);
	in->paused = true;
	if (reconnect) {
		ok = reconnect_store(in);
	} else {
		backoff_wait(in, &in->retry_delay_ms);
		ok = !in->flags->stop;
	}
	if (ok)
		reload_offsets(in);
	in->paused = false;
	if (mentor_consumer_pause(in->consumer, false, &err) != MENTOR_OK)
		log_warning("%s", err.msg);
	drop_batch(in);
	return ok;
}

/*
 * PostgreSQL refused a batch for its data (a constraint, a trigger, a value
 * too long): it is read again in batches of half as many data messages,
 * until a batch of one is refused; that message becomes a suspect (struct
 * suspect). True; false when the refusal cannot be the messages': a batch
 * of suspects alone was refused, or SUSPECTS_MAX were found with none
 * confirmed. Then nothing is rejected (the suspects are forgotten) and the
 * caller waits and tries again at full size.
 */
static bool split_refused(struct ingest *in, const struct batch_shape *shape, const struct mentor_error *err)
{
	struct suspect *sus;

	if (shape->data > 1) {
		in->split_limit = shape->data / 2;
		in->split_left = shape->data;
		log_warning("PostgreSQL refused a batch of %zu messages, reading them again %zu at a time: %s",
			    shape->data, in->split_limit, err->msg);
		return true;
	}
	if (shape->data == 1 && in->n_suspects < SUSPECTS_MAX) {
		/* The server's message from its severity on: the statement named before it can fill the detail. */
		const char *server = strstr(err->msg, "ERROR:");

		sus = &in->suspects[in->n_suspects++];
		sus->at = shape->last_data;
		sus->kind = shape->last_kind;
		snprintf(sus->detail, sizeof(sus->detail), "%.*s", (int)sizeof(sus->detail) - 1,
			 server ? server : err->msg);
		log_warning("PostgreSQL refused %s[%" PRId32 "]@%" PRId64 " alone; it is rejected once an event of its"
			    " kind is stored with it: %s", sus->at.topic, sus->at.partition, sus->at.offset, err->msg);
		return true;
	}
	log_err("PostgreSQL refuses batches whatever they hold (%zu messages refused alone, none stored since):"
		" rejecting none, trying again later: %s", in->n_suspects, err->msg);
	in->n_suspects = 0;
	in->split_limit = 0;
	in->split_left = 0;
	return false;
}

/*
 * A batch did not commit and was rolled back. Refused for its data: read
 * again split. Otherwise (an outage, or a fault every message would meet):
 * waited out, reconnecting. Either way the analytics' memory, ahead of the
 * tables, is loaded again, and consumption goes on from the stored offsets.
 */
static void batch_failed(struct ingest *in, const struct batch_shape *shape, const struct mentor_error *err)
{
	enum mentor_db_fault fault = mentor_error_db_fault(err);

	in->analytics_stale = true;
	if (fault == MENTOR_DB_REFUSED) {
		metrics_batch_refused();
		in->totals.refused++;
		if (split_refused(in, shape, err)) {
			metrics_set_stall_reason("PostgreSQL refuses messages, splitting batches");
			reload_offsets(in);
			drop_batch(in);
			return;
		}
		metrics_set_stall_reason("PostgreSQL refuses every batch");
		wait_for_store(in, false);
		return;
	}
	in->totals.db_errors++;
	metrics_db_error();
	metrics_set_stall_reason(fault == MENTOR_DB_TRANSIENT ? "PostgreSQL unavailable" :
				 "PostgreSQL fails every batch, see the log");
	log_err("batch not stored (%s), will read it again: %s",
		fault == MENTOR_DB_TRANSIENT ? "PostgreSQL unavailable" : "not the data's fault, waiting", err->msg);
	wait_for_store(in, true);
}

/* A batch committed: the backoff starts over, and a split ends once its messages are stored. */
static void batch_committed(struct ingest *in)
{
	const struct batch_shape *shape = &in->sent_shape;

	metrics_progress();
	in->retry_delay_ms = BACKOFF_MIN_MS;
	prune_suspects(in);
	in->split_left = shape->suspects > 0 || in->split_left <= shape->data ? 0 : in->split_left - shape->data;
	if (in->split_left == 0 && in->n_suspects == 0)
		in->split_limit = 0;
}

/*
 * Waits for the COMMIT in flight. True if it committed (or none was in
 * flight). If it did not, that batch and the open one are read again from
 * the offsets stored in PostgreSQL (batch_failed): false.
 */
static bool settle_commit(struct ingest *in)
{
	struct mentor_error err;
	size_t r;

	if (!in->commit_sent)
		return true;
	in->commit_sent = false;
	if (mentor_store_settle(in->store, &err) == MENTOR_OK) {
		metrics_batch_committed(&in->sent, mentor_store_commit_us(in->store));
		in->totals.accepted += in->sent.accepted;
		for (r = 0; r < MENTOR_REJECT_CODE_COUNT; r++)
			in->totals.rejected += in->sent.rejected[r];
		in->totals.batches++;
		log_debug("committed a batch of %zu messages", in->sent_messages);
		batch_committed(in);
		return true;
	}
	batch_failed(in, &in->sent_shape, &err);
	return false;
}

static void set_closed(struct ingest *in, size_t n_updates);
static void refresh_roster_extents(struct ingest *in);

/* Rebuilds the analytics' memory from the tables; false if told to stop while PostgreSQL is away. */
static bool load_analytics(struct ingest *in)
{
	struct mentor_error err;

	while (mentor_analytics_load(in->analytics, in->store, &err) != MENTOR_OK) {
		log_err("loading the analytics state failed, will retry: %s", err.msg);
		metrics_db_error();
		metrics_set_stall_reason("loading the analytics state fails, see the log");
		if (!wait_for_store(in, true))
			return false;
	}
	log_info("analytics state read from the tables");
	in->analytics_stale = false;
	return true;
}

struct owned_collector {
	struct mentor_analytics_partition *parts;
	size_t n, cap;
};

static void collect_owned(void *ctx, const struct mentor_partition_position *pos)
{
	struct owned_collector *oc = ctx;

	if (oc->n < oc->cap)
		oc->parts[oc->n++] = (struct mentor_analytics_partition){ .topic = pos->topic, .partition = pos->partition };
}

/*
 * The watermark the analytics may decide up to, the batch about to be
 * written included, and the partitions this instance consumes (the other
 * instances' partitions bound the watermark through their stored times).
 */
static void set_watermark(struct ingest *in, size_t n_updates)
{
	struct owned_collector oc = { .cap = (size_t)mentor_consumer_assigned(in->consumer) };
	struct mentor_error err;

	oc.parts = calloc(oc.cap + 1, sizeof(*oc.parts));
	if (oc.parts) {
		mentor_consumer_each_partition(in->consumer, collect_owned, &oc);
		if (mentor_analytics_set_owned(in->analytics, oc.parts, oc.n, &err) != MENTOR_OK)
			log_err("%s", err.msg);
	} else {
		log_err("out of memory listing the assigned partitions");
	}
	free(oc.parts);
	refresh_roster_extents(in);
	set_closed(in, n_updates);
}

/*
 * Tells the analytics what the roster topic holds, as the broker says: the
 * decider holds its decisions while another instance has a roster partition
 * not stored to its end. When the broker does not answer, the extents last
 * told stay.
 */
static void refresh_roster_extents(struct ingest *in)
{
	struct mentor_partition_extent *extents = NULL;
	size_t n = 0;
	struct mentor_error err;
	bool asked;

	if (!in->cfg->analytics.enabled || mentor_monotonic_us() < in->roster_extents_due_us)
		return;
	asked = mentor_consumer_topic_extents(in->consumer, in->cfg->topics[MENTOR_EVENT_ROSTER],
					      ROSTER_EXTENTS_TIMEOUT_MS, &extents, &n, &err) == MENTOR_OK;
	in->roster_extents_due_us = mentor_monotonic_us() + (asked ? ROSTER_EXTENTS_EVERY_US : ROSTER_EXTENTS_RETRY_US);
	if (!asked) {
		if (!in->roster_extents_failing)
			log_warning("the roster topic's extent not known, decisions go by the last one: %s", err.msg);
		in->roster_extents_failing = true;
		return;
	}
	in->roster_extents_failing = false;
	if (mentor_analytics_set_roster_extents(in->analytics, extents, n, &err) != MENTOR_OK)
		log_err("%s", err.msg);
	free(extents);
}

static void set_closed(struct ingest *in, size_t n_updates)
{
	struct mentor_source_times wm = mentor_consumer_watermark(in->consumer, in->cfg->topics, in->cfg->rules.lateness_us,
								  in->exit_at_end, in->updates, n_updates);

	mentor_analytics_set_closed(in->analytics, &wm);
}

/* An event time for the log, to the second in UTC ("2026-09-01 00:00:00Z"), or "no event yet". */
static void format_event_time(int64_t us, char *out, size_t size)
{
	time_t t = (time_t)(us / 1000000 - (us % 1000000 < 0));
	struct tm tm;

	if (us == INT64_MIN || !gmtime_r(&t, &tm) || strftime(out, size, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "no event yet");
}

/*
 * Backpressure for the whole group: while the decider holds
 * max_waiting_observations or more observations waiting for the watermarks,
 * this instance pauses its partitions of each source whose newest stored
 * event is after the partition that holds that source's watermark back, and
 * reads on the others (only they can move it). The log names the earlier of
 * the two holding times. Each pass sets it again: a rebalance or an
 * outage's end brings partitions that are not paused.
 */
static void apply_backpressure(struct ingest *in, int64_t waiting)
{
	struct mentor_source_times after = mentor_analytics_pause_after(in->analytics);
	int64_t least = after.us[MENTOR_EVENT_VOC] < after.us[MENTOR_EVENT_AQM] ? after.us[MENTOR_EVENT_VOC]
										 : after.us[MENTOR_EVENT_AQM];
	int was = in->held_partitions, held;
	struct mentor_error err;
	char when[32];

	if (!in->consumer)
		return;
	if (mentor_consumer_hold_after(in->consumer, in->cfg->topics, &after, &held, &err) != MENTOR_OK)
		log_warning("%s", err.msg);
	in->held_partitions = held;
	metrics_set_waiting_paused(held > 0);
	if (held == was)
		return;
	if (held == 0) {
		log_notice("resuming consumption: the group's observations waiting for the watermark are below the bound");
		return;
	}
	format_event_time(least, when, sizeof(when));
	/* Only the decider counts them; another instance learns from it that the bound is passed. */
	if (mentor_analytics_decides(in->analytics))
		log_notice("pausing consumption of %d of %d partitions: %" PRId64
			   " observations wait for the watermark, held by a partition at %s", held,
			   mentor_consumer_assigned(in->consumer), waiting, when);
	else
		log_notice("pausing consumption of %d of %d partitions: the decider's observations waiting for the"
			   " watermark, held by a partition at %s, passed the bound", held,
			   mentor_consumer_assigned(in->consumer), when);
}

/* A long catch-up (max_rounds_per_call rounds at a time) is logged when it starts. */
static void note_rounds_left(struct ingest *in)
{
	bool left = mentor_analytics_rounds_left(in->analytics);

	if (left && !in->rounds_left)
		log_info("long catch-up: pairing rounds left for the next pass (%d per batch or tick)",
			 in->cfg->analytics.max_rounds_per_call);
	in->rounds_left = left;
}

/* Long analytics work (a load, many rounds) shows the loop alive. */
static void analytics_progress(void *ctx)
{
	(void)ctx;
	alive();
}

static void publish_analytics(struct ingest *in)
{
	struct mentor_analytics_gauges g;
	int64_t delay = 0;

	mentor_analytics_gauges(in->analytics, &g);
	if (g.event_time_us != INT64_MIN && g.closed_us != INT64_MAX && g.closed_us != INT64_MIN &&
	    g.event_time_us > g.closed_us)
		delay = g.event_time_us - g.closed_us;
	metrics_set_analytics(g.open_triggers, g.active_pairings, g.waiting_observations, delay);
	metrics_set_programs(in->analytics);
	apply_backpressure(in, g.waiting_observations);
	note_rounds_left(in);
}

/*
 * Commits the batch; retries it as it is after a conflict (RETRY); after
 * any other failure, it is read again (batch_failed).
 */
static void flush_batch(struct ingest *in)
{
	struct mentor_analytics_batch ab = { .an = in->analytics, .batch = in->batch };
	const struct mentor_store_batch_hook hook = {
		.early = mentor_analytics_batch_early, .in_transaction = mentor_analytics_batch_hook, .ctx = &ab,
	};
	struct mentor_error err;
	size_t n_updates;
	int rc;

	while (mentor_batch_messages(in->batch) > 0) {
		if (!settle_commit(in))
			return;
		if (mentor_consumer_revocations(in->consumer) != in->revocations_seen ||
		    !build_offset_updates(in, &n_updates)) {
			in->revocations_seen = mentor_consumer_revocations(in->consumer);
			drop_batch(in);
			prune_suspects(in);
			return;
		}
		/* A wait while loading dropped the batch. */
		if ((in->analytics_stale && !load_analytics(in)) || mentor_batch_messages(in->batch) == 0)
			return;
		set_watermark(in, n_updates);
		rc = mentor_store_commit_batch(in->store, in->batch, group_id(in), in->updates, n_updates, &hook,
					       &err);
		in->analytics_stale = rc != MENTOR_OK;
		switch (rc) {
		case MENTOR_OK:
			note_refusals(in);
			batch_sent(in, n_updates);
			/* This instance just became the group's decider: start from the tables. */
			if (mentor_analytics_needs_load(in->analytics))
				load_analytics(in);
			publish_analytics(in);
			return;
		case MENTOR_ERR_RETRY:
			/* Rolled back on a live connection: the analytics reload, then the same batch again. */
			log_warning("batch rolled back, will retry it: %s", err.msg);
			continue;
		case MENTOR_ERR_FENCED:
			metrics_batch_fenced();
			in->totals.fenced++;
			log_warning("batch dropped: %s", err.msg);
			reload_offsets(in);
			drop_batch(in);
			return;
		default:
			batch_failed(in, &in->open_shape, &err);
			return;
		}
	}
}

static void reload_config(struct ingest *in)
{
	struct mentor_config *fresh;
	struct mentor_error err;

	if (mentord_config_read(in->config_path, &fresh, &err) != MENTOR_OK) {
		log_err("reload refused, keeping the running configuration: %s", err.msg);
		return;
	}
	/*
	 * Rules, the analytics settings (programs included) and the log level
	 * take effect at once; connections keep their settings until restart.
	 * The analytics settings own arrays: swapped in, so that freeing fresh
	 * frees the old ones.
	 */
	mentor_config_swap_analytics(in->cfg, fresh);
	/* The settings are valid (checked above): only memory can fail, and the analytics then load again. */
	if (mentor_analytics_set_config(in->analytics, in->cfg, &err) != MENTOR_OK)
		log_err("reload: %s; the analytics load again from the tables", err.msg);
	in->cfg->rules = fresh->rules;
	in->cfg->log_level = fresh->log_level;
	log_set_level(fresh->log_level);
	mentor_config_free(fresh);
	log_notice("configuration reloaded (log level %s)", mentor_log_level_name(in->cfg->log_level));
}

struct lag_collector {
	struct metrics_lag *rows;
	size_t n;
};

static void collect_lag(void *ctx, const struct mentor_partition_position *pos)
{
	struct lag_collector *lc = ctx;
	struct metrics_lag *row;

	if (pos->high < 0 || lc->n == METRICS_LAG_MAX)
		return;
	row = &lc->rows[lc->n++];
	snprintf(row->topic, sizeof(row->topic), "%s", pos->topic);
	row->partition = pos->partition;
	row->lag = pos->high - (pos->stored_next == MENTOR_OFFSET_NONE ? pos->low : pos->stored_next);
}

/* Lag moves with every batch but a scrape reads it every few seconds: once a second is plenty. */
static void publish_lag(struct ingest *in)
{
	struct lag_collector lc = { .rows = in->lag_rows };
	int64_t now = mentor_monotonic_us();

	if (now - in->lag_published_us < 1000000)
		return;
	in->lag_published_us = now;
	mentor_consumer_each_partition(in->consumer, collect_lag, &lc);
	metrics_set_lag(lc.rows, lc.n);
	in->lag_total = 0;
	for (size_t i = 0; i < lc.n; i++)
		in->lag_total += lc.rows[i].lag > 0 ? lc.rows[i].lag : 0;
}

/* Every suspect the open batch carries has an event of its kind with it (struct suspect). */
static bool suspects_confirmed(const struct ingest *in)
{
	return (in->open_shape.suspect_kinds & ~in->open_shape.event_kinds) == 0;
}

/* Full (at the split limit while a refusal is being split), or old. */
static bool batch_due(const struct ingest *in)
{
	size_t n = mentor_batch_messages(in->batch);
	size_t limit = in->split_limit > 0 ? in->split_limit : in->cfg->batch_max_events;

	return n >= in->cfg->batch_max_events || mentor_batch_bytes(in->batch) >= in->cfg->batch_max_bytes ||
	       (suspects_confirmed(in) && in->open_shape.data >= limit) ||
	       (n > 0 && mentor_monotonic_us() - in->batch_started_us >= (int64_t)in->cfg->batch_max_ms * 1000);
}

/*
 * Whether the loop has work it has not done: a batch open or in flight,
 * messages in Kafka not stored, or analytics that fail. Without any, it
 * cannot be stalled (metrics_progress).
 */
static bool has_work(const struct ingest *in)
{
	return mentor_batch_messages(in->batch) > 0 || in->commit_sent || in->lag_total > 0 || in->analytics_failing ||
	       in->analytics_stale;
}

/*
 * A rebalance ran in the last poll. An open batch may hold messages of revoked
 * partitions: flush_batch drops it and rewinds every partition still assigned
 * to its stored offset. The message that poll returned was read before that
 * rewind, which reads it again: false, the caller drops it (staged now, it
 * would open its partition's part of the next batch past the rewound
 * offset). With no batch open nothing is rewound, and the rebalance is seen:
 * without that, the first batch of the new assignment would be dropped.
 * Partitions newly assigned are not paused: backpressure pauses them at
 * once, rather than after their first batch.
 */
static bool after_rebalance(struct ingest *in)
{
	bool rewound = mentor_batch_messages(in->batch) > 0;

	flush_batch(in);
	in->revocations_seen = mentor_consumer_revocations(in->consumer);
	publish_analytics(in);
	return !rewound;
}

/*
 * A drain (--exit-at-end) is over for this instance when every assigned
 * partition is read to its end; for one that does not decide, also when
 * those backpressure does not pause are: the partition holding the group's
 * watermark back is then at its end, and nothing more comes to move it, so
 * it leaves, and the paused partitions go to the instances still there
 * (the decider waits for every partition of the group anyway).
 */
static bool drain_over(const struct ingest *in)
{
	return mentor_consumer_at_end(in->consumer) ||
	       (in->held_partitions > 0 && !mentor_analytics_decides(in->analytics) &&
		mentor_consumer_at_end_unheld(in->consumer));
}

static void tick_analytics(struct ingest *in);
static bool finish_drain(struct ingest *in);

static void consume_until_stopped(struct ingest *in, bool exit_at_end)
{
	while (!in->flags->stop) {
		bool batching = mentor_batch_messages(in->batch) > 0;
		uint64_t wait_polls = in->wait_polls;
		const struct mentor_message *msg;

		alive();
		if (in->flags->reload) {
			in->flags->reload = 0;
			notify_reloading();
			reload_config(in);
			/* Also after a refused reload: the old configuration still runs. */
			notify_ready();
		}
		if (in->rewind_pending && !retry_rewind(in))
			continue;
		/* While a batch is open or rounds are left, poll without waiting: an empty queue means work now. */
		msg = mentor_consumer_poll(in->consumer, batching || mentor_analytics_rounds_left(in->analytics) ? 0 : 100);
		metrics_set_assigned(mentor_consumer_assigned(in->consumer));
		/* Partitions just assigned are paused before their first batch if backpressure holds them. */
		if (mentor_consumer_assigned(in->consumer) != in->assigned_seen) {
			in->assigned_seen = mentor_consumer_assigned(in->consumer);
			publish_analytics(in);
		}
		publish_lag(in);
		if (!has_work(in))
			metrics_progress();
		if (mentor_consumer_revocations(in->consumer) != in->revocations_seen && !after_rebalance(in))
			continue;
		/* A wait polled the consumer, which released msg; the wait ended with a rewind, so msg comes again. */
		if (in->wait_polls != wait_polls)
			continue;
		if (msg && msg->error) {
			log_warning("kafka: %s", msg->error);
			continue;
		}
		if (msg) {
			if (stage_message(in, msg) != 0) {
				drop_batch(in);
				continue;
			}
			mentor_store_stream_events(in->store, in->batch);
			if (batch_due(in))
				flush_batch(in);
			continue;
		}
		/* No message waiting: the batch is written, unless it holds a suspect not confirmed yet. */
		if (suspects_confirmed(in) || batch_due(in))
			flush_batch(in);
		tick_analytics(in);
		if (exit_at_end && drain_over(in) && mentor_batch_messages(in->batch) == 0 && finish_drain(in))
			break;
	}
}

/* With no batch to carry them, decisions the watermark now allows get a transaction of their own. */
static void tick_analytics(struct ingest *in)
{
	struct mentor_error err;

	if (!settle_commit(in) || mentor_batch_messages(in->batch) > 0 ||
	    ((in->analytics_stale || mentor_analytics_needs_load(in->analytics)) && !load_analytics(in)))
		return;
	set_watermark(in, 0);
	in->analytics_failing = mentor_analytics_tick(in->analytics, in->store, &err) != MENTOR_OK;
	if (in->analytics_failing) {
		log_err("analytics not advanced, will retry: %s", err.msg);
		metrics_db_error();
		metrics_set_stall_reason("the analytics fail, see the log");
		in->analytics_stale = true;
		return;
	}
	publish_analytics(in);
}

/*
 * The end of a drain: every observation decided, and a last pairing round.
 * True once this instance may exit. False while it decides for the group but
 * other instances still hold partitions (the loop keeps polling, so they come
 * here when those instances leave) and while PostgreSQL fails (the next pass
 * retries).
 */
static bool finish_drain(struct ingest *in)
{
	struct mentor_error err;
	bool done = false;

	if (!settle_commit(in) ||
	    ((in->analytics_stale || mentor_analytics_needs_load(in->analytics)) && !load_analytics(in)))
		return false;
	set_watermark(in, 0);
	in->analytics_failing = mentor_analytics_finish(in->analytics, in->store, &done, &err) != MENTOR_OK;
	if (in->analytics_failing) {
		log_err("the last analytics round failed, will retry: %s", err.msg);
		metrics_db_error();
		metrics_set_stall_reason("the analytics fail, see the log");
		in->analytics_stale = true;
		return false;
	}
	publish_analytics(in);
	if (!done && mentor_analytics_rounds_left(in->analytics))
		return false;  /* a long catch-up: the loop polls, and the next pass runs the next rounds */
	if (!done && !in->drain_waiting)
		log_info("at the end of every assigned partition; deciding for the group, so waiting for the other"
			 " instances' partitions");
	in->drain_waiting = !done;
	return done;
}

static int open_store(struct ingest *in)
{
	struct mentor_error err;
	int applied = 0;
	int delay_ms = BACKOFF_MIN_MS;

	notify_status("connecting to PostgreSQL");
	while (mentor_store_open(in->cfg->pg_conninfo, in->cfg->pg_schema, &in->store, &err) != MENTOR_OK) {
		log_warning("PostgreSQL unreachable, retrying in %d ms: %s", delay_ms, err.msg);
		notify_status("PostgreSQL unreachable, retrying");
		backoff_wait(in, &delay_ms);
		if (in->flags->stop)
			return -1;
	}
	mentor_store_set_notices(in->store, log_pg_notice, NULL);
	if (mentor_store_migrate(in->store, &applied, &err) != MENTOR_OK) {
		log_err("schema migration failed: %s", err.msg);
		return -1;
	}
	log_info("PostgreSQL schema %s ready (%d migration%s applied)", in->cfg->pg_schema, applied,
		 applied == 1 ? "" : "s");
	/* Score events take an agent's only program from the roster as the store knows it. */
	mentor_batch_set_program_lookup(in->batch, mentor_store_only_program, in->store);
	metrics_db_reconnected(false);
	return 0;
}

int mentord_ingest_run(struct mentor_config *cfg, const char *config_path, bool exit_at_end,
		       struct mentord_flags *flags)
{
	struct ingest in = { .cfg = cfg, .config_path = config_path, .flags = flags, .retry_delay_ms = BACKOFF_MIN_MS,
			     .exit_at_end = exit_at_end };
	struct mentor_error err;
	int64_t started = mentor_monotonic_us();
	double seconds;
	int code = 1;

	alive();
	metrics_progress();
	metrics_set_stall_limit((int64_t)cfg->stall_seconds * 1000000);
	in.batch = mentor_batch_new(&in.cfg->rules);
	in.lag_rows = calloc(METRICS_LAG_MAX, sizeof(*in.lag_rows));
	if (!in.batch || !in.lag_rows) {
		log_err("out of memory");
		goto out;
	}
	if (open_store(&in) != 0) {
		/* Told to stop while waiting for PostgreSQL is a clean stop, not a fault. */
		code = flags->stop ? 0 : 1;
		goto out;
	}
	if (mentor_analytics_new(in.cfg, group_id(&in), &in.analytics, &err) != MENTOR_OK) {
		log_err("%s", err.msg);
		goto out;
	}
	mentor_analytics_set_progress(in.analytics, analytics_progress, NULL);
	notify_status("loading the analytics state");
	if (!load_analytics(&in)) {
		code = 0;
		goto out;
	}
	publish_analytics(&in);
	if (mentor_consumer_new(in.cfg, load_offset, &in, log_kafka, NULL, &in.consumer, &err) != MENTOR_OK) {
		log_err("%s", err.msg);
		goto out;
	}
	/* Subscribed: partitions come with the first rebalance, which /readyz reports. */
	notify_ready();
	consume_until_stopped(&in, exit_at_end);
	settle_commit(&in);
	code = 0;
out:
	/* Leaving the group and closing the connection can take a moment; say so first. */
	notify_stopping();
	if (in.consumer) {
		log_info("stopping: leaving the consumer group");
		if (mentor_consumer_close(in.consumer))
			log_info("left the consumer group");
		else
			log_warning("could not leave the consumer group in time; it reassigns this instance's"
				    " partitions after session.timeout.ms");
	}
	metrics_set_assigned(0);
	metrics_set_lag(NULL, 0);
	mentor_store_close(in.store);
	mentor_batch_free(in.batch);
	mentor_analytics_free(in.analytics);
	free(in.lag_rows);
	free(in.updates);
	seconds = (double)(mentor_monotonic_us() - started) / 1e6;
	log_notice("stopped: accepted %" PRIu64 ", rejected %" PRIu64 ", batches %" PRIu64 ", fenced %" PRIu64
		   ", refused %" PRIu64 ", database errors %" PRIu64 " in %.2f s (%.0f messages/s)",
		   in.totals.accepted, in.totals.rejected, in.totals.batches, in.totals.fenced, in.totals.refused,
		   in.totals.db_errors,
		   seconds, (double)(in.totals.accepted + in.totals.rejected) / (seconds > 0 ? seconds : 1));
	return code;
}
