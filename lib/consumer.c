#include "mentor/consumer.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "mentor/clock.h"
#include "partitions.h"

/* How long mentor_consumer_close tries to leave the group before closing anyway. */
#define LEAVE_TIMEOUT_US 10000000

struct mentor_consumer {
	rd_kafka_t *rk;
	mentor_offset_loader loader;
	void *loader_ctx;
	mentor_kafka_log_fn log_fn;
	void *log_ctx;
	struct mentor_partitions *parts;  /* owned; the assigned ones */
	rd_kafka_message_t *polled;       /* owned; behind `message`, released by the next poll */
	struct mentor_message message;
	uint64_t revocations;
	bool subscribed;                  /* the subscribe succeeded: closing leaves the group */
	uint64_t assignments;             /* assignment callbacks served: 0 while the first join is under way */
	bool paused_all;                  /* mentor_consumer_pause: every partition paused for a wait */
	bool cooperative;                 /* the group's rebalance protocol, from the configuration */
	rd_kafka_t *query_rk;             /* owned; topic_extents' own handle, made at its first call */
	rd_kafka_conf_t *query_conf;      /* owned until query_rk is made from it */
};

/* Sets each partition's start offset from the store; false if any could not be loaded. */
static bool load_start_offsets(struct mentor_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &parts->elems[i];
		int64_t next, max_event_us;
		const struct mentor_partition *p;

		if (c->loader(c->loader_ctx, tp->topic, tp->partition, &next, &max_event_us) != 0)
			return false;
		p = mentor_partitions_track(c->parts, tp->topic, tp->partition, next, max_event_us);
		if (!p)
			return false;
		tp->offset = mentor_partitions_start_offset(c->parts, p);
	}
	return true;
}

static void on_assign(struct mentor_consumer *c, rd_kafka_topic_partition_list_t *parts, bool cooperative)
{
	if (!load_start_offsets(c, parts)) {
		/* Shutting down or out of memory: take nothing rather than start at a wrong offset. */
		for (int i = 0; i < parts->cnt; i++)
			mentor_partitions_untrack(c->parts, parts->elems[i].topic, parts->elems[i].partition);
		if (!cooperative)
			rd_kafka_assign(c->rk, NULL);
		return;
	}
	if (cooperative)
		rd_kafka_error_destroy(rd_kafka_incremental_assign(c->rk, parts));
	else
		rd_kafka_assign(c->rk, parts);
}

/*
 * Resumes those of parts (NULL: every assigned one) that backpressure holds
 * before they are given up: librdkafka may keep a partition's pause into a
 * later assignment, and a partition is tracked anew as not held.
 */
static void release_held(struct mentor_consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
	int n = parts ? parts->cnt : mentor_partitions_count(c->parts);
	rd_kafka_topic_partition_list_t *held = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);

	for (int i = 0; i < n; i++) {
		const struct mentor_partition *p = parts ? mentor_partitions_find(c->parts, parts->elems[i].topic,
										  parts->elems[i].partition)
							 : mentor_partitions_at(c->parts, i);

		if (p && p->held)
			rd_kafka_topic_partition_list_add(held, p->topic, p->partition);
	}
	/* Best effort: a partition being given up that stays paused is resumed when it is held again. */
	if (held->cnt > 0)
		rd_kafka_resume_partitions(c->rk, held);
	rd_kafka_topic_partition_list_destroy(held);
}

static void on_revoke(struct mentor_consumer *c, rd_kafka_topic_partition_list_t *parts, bool cooperative)
{
	release_held(c, parts);
	for (int i = 0; i < parts->cnt; i++)
		mentor_partitions_untrack(c->parts, parts->elems[i].topic, parts->elems[i].partition);
	c->revocations++;
	if (cooperative)
		rd_kafka_error_destroy(rd_kafka_incremental_unassign(c->rk, parts));
	else
		rd_kafka_assign(c->rk, NULL);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
			 void *opaque)
{
	struct mentor_consumer *c = opaque;

	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		c->assignments++;
		on_assign(c, parts, c->cooperative);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		on_revoke(c, parts, c->cooperative);
		break;
	default:
		/* Unknown rebalance state: drop everything, as librdkafka recommends. */
		release_held(c, NULL);
		mentor_partitions_untrack_all(c->parts);
		c->revocations++;
		rd_kafka_assign(rk, NULL);
		break;
	}
}

/*
 * Whether conf makes the group's rebalance protocol cooperative. It is the
 * assignors' (librdkafka refuses a mix of eager and cooperative ones), known
 * before the group is joined; rd_kafka_rebalance_protocol() is not asked in
 * the rebalance callback, where it waits on the group's own queue and can
 * block for good while rd_kafka_consumer_close() tears the group down
 * (librdkafka issue 4041).
 */
static bool conf_cooperative(const rd_kafka_conf_t *conf)
{
	char value[256];
	size_t size = sizeof(value);

	if (rd_kafka_conf_get(conf, "group.protocol", value, &size) == RD_KAFKA_CONF_OK &&
	    strcmp(value, "consumer") == 0)
		return true;
	size = sizeof(value);
	return rd_kafka_conf_get(conf, "partition.assignment.strategy", value, &size) == RD_KAFKA_CONF_OK &&
	       strstr(value, "cooperative") != NULL;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *facility, const char *message)
{
	const struct mentor_consumer *c = rd_kafka_opaque(rk);

	c->log_fn(c->log_ctx, level, facility, message);
}

static int set_property(rd_kafka_conf_t *conf, const char *key, const char *value, struct mentor_error *err)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "[kafka] %s: %s", key, errstr);
	return MENTOR_OK;
}

/*
 * The group member's configuration, or with member false that of the handle
 * mentor_consumer_topic_extents asks with: the same brokers and security,
 * no group (its own connections, so its requests do not queue behind the
 * member's long-polling fetches).
 */
static int build_conf(const struct mentor_config *cfg, struct mentor_consumer *c, bool member,
		      rd_kafka_conf_t **ret_conf, struct mentor_error *err)
{
	/* Offsets live in PostgreSQL beside the data; end-of-partition events drive --exit-at-end. */
	static const char *const forced[][2] = {
		{ "enable.auto.commit", "false" },
		{ "enable.auto.offset.store", "false" },
		{ "enable.partition.eof", "true" },
	};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	int rc = MENTOR_OK;

	for (size_t i = 0; rc == MENTOR_OK && i < cfg->n_kafka; i++)
		if (member || strncmp(cfg->kafka[i].key, "group.", 6) != 0)
			rc = set_property(conf, cfg->kafka[i].key, cfg->kafka[i].value, err);
	for (size_t i = 0; rc == MENTOR_OK && i < sizeof(forced) / sizeof(forced[0]); i++)
		rc = set_property(conf, forced[i][0], forced[i][1], err);
	if (rc != MENTOR_OK) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
	if (member)
		rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	if (c->log_fn)
		rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_opaque(conf, c);
	*ret_conf = conf;
	return MENTOR_OK;
}

static int subscribe(struct mentor_consumer *c, const struct mentor_config *cfg, struct mentor_error *err)
{
	rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(MENTOR_EVENT_KIND_COUNT);
	rd_kafka_resp_err_t kerr;

	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++)
		rd_kafka_topic_partition_list_add(topics, cfg->topics[k], RD_KAFKA_PARTITION_UA);
	kerr = rd_kafka_subscribe(c->rk, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (kerr)
		return mentor_error_set(err, MENTOR_ERR_KAFKA, "subscribe: %s", rd_kafka_err2str(kerr));
	return MENTOR_OK;
}

int mentor_consumer_new(const struct mentor_config *cfg, mentor_offset_loader loader, void *loader_ctx,
			mentor_kafka_log_fn log_fn, void *log_ctx,
			struct mentor_consumer **ret_consumer, struct mentor_error *err)
{
	struct mentor_consumer *c = calloc(1, sizeof(*c));
	rd_kafka_conf_t *conf;
	char errstr[512];
	int rc;

	if (!c)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	c->loader = loader;
	c->loader_ctx = loader_ctx;
	c->log_fn = log_fn;
	c->log_ctx = log_ctx;
	c->parts = mentor_partitions_new(strcmp(cfg->offset_reset, "latest") == 0 ? RD_KAFKA_OFFSET_END :
					 RD_KAFKA_OFFSET_BEGINNING);
	if (!c->parts) {
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		goto fail;
	}
	rc = build_conf(cfg, c, true, &conf, err);
	if (rc == MENTOR_OK)
		rc = build_conf(cfg, c, false, &c->query_conf, err);
	if (rc != MENTOR_OK)
		goto fail;
	c->cooperative = conf_cooperative(conf);
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!c->rk) {
		rd_kafka_conf_destroy(conf);
		rc = mentor_error_set(err, MENTOR_ERR_KAFKA, "create consumer: %s", errstr);
		goto fail;
	}
	rd_kafka_poll_set_consumer(c->rk);
	rc = subscribe(c, cfg, err);
	if (rc != MENTOR_OK)
		goto fail;
	c->subscribed = true;
	*ret_consumer = c;
	return MENTOR_OK;
fail:
	mentor_consumer_close(c);
	return rc;
}

/* Whether this member is out of the group: no member id (never joined, or left). */
static bool left_group(rd_kafka_t *rk)
{
	char *member_id = rd_kafka_memberid(rk);
	bool left = !member_id || member_id[0] == '\0';

	if (member_id)
		rd_kafka_mem_free(rk, member_id);
	return left;
}

/* Polls once (up to 100 ms), dropping what comes; false, without polling, once past deadline. */
static bool poll_until(struct mentor_consumer *c, int64_t deadline)
{
	rd_kafka_message_t *msg;

	if (mentor_monotonic_us() >= deadline)
		return false;
	msg = rd_kafka_consumer_poll(c->rk, 100);
	if (msg)
		rd_kafka_message_destroy(msg);
	return true;
}

/*
 * Leaves the group from polls, at most LEAVE_TIMEOUT_US: lets a first join
 * under way complete, unsubscribes, and polls until the revocation has been
 * served and the group left. True if left in time. In librdkafka 2.0 the
 * other ways out can stop for good: rd_kafka_consumer_close() serves an
 * assignment still pending, and that callback's assign can wait forever on
 * the group being torn down (seen in chaos_churn; librdkafka issues 4041,
 * 4884); a handle destroyed between a cooperative join and its first
 * assignment aborts (the sticky assignor frees a state it does not have yet).
 * From polls the group is alive to answer.
 */
static bool leave(struct mentor_consumer *c)
{
	int64_t deadline = mentor_monotonic_us() + LEAVE_TIMEOUT_US;

	if (!c->subscribed)
		return true;
	while (c->assignments == 0)
		if (!poll_until(c, deadline))
			return false;
	if (rd_kafka_unsubscribe(c->rk) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	while (mentor_partitions_count(c->parts) > 0 || !left_group(c->rk))
		if (!poll_until(c, deadline))
			return false;
	return true;
}

bool mentor_consumer_close(struct mentor_consumer *c)
{
	bool left = true;

	if (!c)
		return true;
	/* librdkafka wants every message destroyed before the handle. */
	if (c->polled)
		rd_kafka_message_destroy(c->polled);
	if (c->rk) {
		left = leave(c);
		/* Left already (or given up): no rebalance callback may run while the handle is torn down. */
		rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	}
	if (c->query_rk)
		rd_kafka_destroy(c->query_rk);
	if (c->query_conf)
		rd_kafka_conf_destroy(c->query_conf);
	mentor_partitions_free(c->parts);
	free(c);
	return left;
}

/* Keeps msg until the next poll and returns its view. */
static const struct mentor_message *hand_out(struct mentor_consumer *c, rd_kafka_message_t *msg)
{
	c->polled = msg;
	c->message = (struct mentor_message){
		.topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : NULL,
		.partition = msg->partition,
		.offset = msg->offset,
	};
	if (msg->err) {
		c->message.error = rd_kafka_message_errstr(msg);
	} else {
		c->message.key = msg->key;
		c->message.key_len = msg->key_len;
		c->message.payload = msg->payload;
		c->message.len = msg->len;
	}
	return &c->message;
}

const struct mentor_message *mentor_consumer_poll(struct mentor_consumer *c, int timeout_ms)
{
	if (c->polled) {
		rd_kafka_message_destroy(c->polled);
		c->polled = NULL;
	}
	for (;;) {
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->rk, timeout_ms);
		const char *topic;

		if (!msg)
			return NULL;
		if (!msg->rkt)
			return hand_out(c, msg);
		topic = rd_kafka_topic_name(msg->rkt);
		if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (!msg->err)
				mentor_partitions_set_at_end(c->parts, topic, msg->partition, false);
			return hand_out(c, msg);
		}
		mentor_partitions_set_at_end(c->parts, topic, msg->partition, true);
		rd_kafka_message_destroy(msg);
		/*
		 * Under live load each fetch ends at the partition's end, so EOF events
		 * are interleaved with the queued messages: look past them at once, so
		 * that NULL means the queue is empty and a batch is not cut short.
		 */
		timeout_ms = 0;
	}
}

uint64_t mentor_consumer_revocations(const struct mentor_consumer *c)
{
	return c->revocations;
}

bool mentor_consumer_at_end(const struct mentor_consumer *c)
{
	return mentor_partitions_at_end(c->parts);
}

void mentor_consumer_each_partition(const struct mentor_consumer *c,
				    void (*fn)(void *ctx, const struct mentor_partition_position *pos), void *ctx)
{
	for (int i = 0; i < mentor_partitions_count(c->parts); i++) {
		const struct mentor_partition *p = mentor_partitions_at(c->parts, i);
		struct mentor_partition_position pos = {
			.topic = p->topic,
			.partition = p->partition,
			.stored_next = p->stored_next,
		};
		if (rd_kafka_get_watermark_offsets(c->rk, pos.topic, pos.partition, &pos.low, &pos.high) != 0 ||
		    pos.high < 0) {
			pos.low = -1;
			pos.high = -1;
		}
		fn(ctx, &pos);
	}
}

int mentor_consumer_assigned(const struct mentor_consumer *c)
{
	return mentor_partitions_count(c->parts);
}

bool mentor_consumer_stored_offset(const struct mentor_consumer *c, const char *topic, int32_t partition,
				   int64_t *ret_next)
{
	const struct mentor_partition *p = mentor_partitions_find(c->parts, topic, partition);

	if (!p)
		return false;
	*ret_next = p->stored_next;
	return true;
}

int64_t mentor_consumer_stream_time(const struct mentor_consumer *c, const char *topic, int32_t partition)
{
	const struct mentor_partition *p = mentor_partitions_find(c->parts, topic, partition);

	return p ? p->max_event_us : MENTOR_NO_EVENT_TIME;
}

void mentor_consumer_set_stored_offset(struct mentor_consumer *c, const char *topic, int32_t partition,
				       int64_t next, int64_t max_event_us)
{
	mentor_partitions_set_stored(c->parts, topic, partition, next, max_event_us);
}

void mentor_consumer_reset_stored_offset(struct mentor_consumer *c, const char *topic, int32_t partition,
					 int64_t next, int64_t max_event_us)
{
	mentor_partitions_reset_stored(c->parts, topic, partition, next, max_event_us);
}

struct mentor_source_times mentor_consumer_watermark(const struct mentor_consumer *c,
						     char *const topics[MENTOR_EVENT_KIND_COUNT],
						     const int64_t lateness_us[MENTOR_EVENT_KIND_COUNT], bool drain,
						     const struct mentor_offset_update *pending, size_t n_pending)
{
	return mentor_partitions_watermark(c->parts, topics, lateness_us, drain, pending, n_pending);
}

int mentor_consumer_topic_extents(struct mentor_consumer *c, const char *topic, int timeout_ms,
			       struct mentor_partition_extent **ret_extents, size_t *ret_n, struct mentor_error *err)
{
	rd_kafka_topic_t *rkt;
	const struct rd_kafka_metadata *md = NULL;
	struct mentor_partition_extent *ends = NULL;
	rd_kafka_resp_err_t e;
	char errstr[512];
	int rc = MENTOR_OK, n = 0;

	*ret_extents = NULL;
	*ret_n = 0;
	if (!c->query_rk) {
		c->query_rk = rd_kafka_new(RD_KAFKA_CONSUMER, c->query_conf, errstr, sizeof(errstr));
		if (!c->query_rk)
			return mentor_error_set(err, MENTOR_ERR_KAFKA, "create a client to ask for %s's partitions: %s",
						topic, errstr);
		c->query_conf = NULL;  /* the handle owns it now */
	}
	rkt = rd_kafka_topic_new(c->query_rk, topic, NULL);
	if (!rkt)
		return mentor_error_set(err, MENTOR_ERR_KAFKA, "topic %s: %s", topic,
					rd_kafka_err2str(rd_kafka_last_error()));
	e = rd_kafka_metadata(c->query_rk, 0, rkt, &md, timeout_ms);
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
	    md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
		goto out;
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR && (md->topic_cnt != 1 || md->topics[0].err))
		e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		rc = mentor_error_set(err, MENTOR_ERR_KAFKA, "partitions of %s: %s", topic, rd_kafka_err2str(e));
		goto out;
	}
	n = md->topics[0].partition_cnt;
	if (n > 0 && !(ends = calloc((size_t)n, sizeof(*ends)))) {
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int32_t partition = md->topics[0].partitions[i].id;
		int64_t low, high;

		e = rd_kafka_query_watermark_offsets(c->query_rk, topic, partition, &low, &high, timeout_ms);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
			rc = mentor_error_set(err, MENTOR_ERR_KAFKA, "end of %s [%d]: %s", topic, (int)partition,
					      rd_kafka_err2str(e));
			goto out;
		}
		ends[i] = (struct mentor_partition_extent){ .partition = partition, .begin = low, .end = high };
	}
	*ret_extents = ends;
	*ret_n = (size_t)n;
	ends = NULL;
out:
	free(ends);
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return rc;
}

static rd_kafka_topic_partition_list_t *assignment_list(const struct mentor_consumer *c)
{
	int n = mentor_partitions_count(c->parts);
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);

	for (int i = 0; i < n; i++) {
		const struct mentor_partition *p = mentor_partitions_at(c->parts, i);

		rd_kafka_topic_partition_list_add(list, p->topic, p->partition)->offset =
			mentor_partitions_start_offset(c->parts, p);
	}
	return list;
}

/* Reports the first per-partition error of a list operation, if any. */
static int list_result(rd_kafka_topic_partition_list_t *list, rd_kafka_resp_err_t kerr, const char *what,
		       struct mentor_error *err)
{
	for (int i = 0; !kerr && i < list->cnt; i++)
		kerr = list->elems[i].err;
	rd_kafka_topic_partition_list_destroy(list);
	if (kerr)
		return mentor_error_set(err, MENTOR_ERR_KAFKA, "%s: %s", what, rd_kafka_err2str(kerr));
	return MENTOR_OK;
}

int mentor_consumer_rewind(struct mentor_consumer *c, struct mentor_error *err)
{
	rd_kafka_topic_partition_list_t *list;
	rd_kafka_error_t *kerr;
	rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;

	if (mentor_partitions_count(c->parts) == 0)
		return MENTOR_OK;
	mentor_partitions_clear_at_end(c->parts);
	list = assignment_list(c);
	kerr = rd_kafka_seek_partitions(c->rk, list, 10000);
	if (kerr) {
		code = rd_kafka_error_code(kerr);
		rd_kafka_error_destroy(kerr);
	}
	return list_result(list, code, "rewind to stored offsets", err);
}

/* The assigned partitions backpressure does not hold: those a wait's end resumes. */
static rd_kafka_topic_partition_list_t *unheld_list(const struct mentor_consumer *c)
{
	int n = mentor_partitions_count(c->parts);
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);

	for (int i = 0; i < n; i++) {
		const struct mentor_partition *p = mentor_partitions_at(c->parts, i);

		if (!p->held)
			rd_kafka_topic_partition_list_add(list, p->topic, p->partition);
	}
	return list;
}

int mentor_consumer_pause(struct mentor_consumer *c, bool pause, struct mentor_error *err)
{
	rd_kafka_topic_partition_list_t *list;

	c->paused_all = pause;
	if (mentor_partitions_count(c->parts) == 0)
		return MENTOR_OK;
	list = pause ? assignment_list(c) : unheld_list(c);
	if (list->cnt == 0) {
		rd_kafka_topic_partition_list_destroy(list);
		return MENTOR_OK;
	}
	return list_result(list, pause ? rd_kafka_pause_partitions(c->rk, list) : rd_kafka_resume_partitions(c->rk, list),
			   pause ? "pause" : "resume", err);
}

/* The partitions whose backpressure pause changes, one list each way. */
struct hold_change {
	rd_kafka_topic_partition_list_t *hold, *release;
};

static void note_hold_change(void *ctx, const struct mentor_partition *p)
{
	struct hold_change *hc = ctx;

	rd_kafka_topic_partition_list_add(p->held ? hc->hold : hc->release, p->topic, p->partition);
}

int mentor_consumer_hold_after(struct mentor_consumer *c, char *const topics[MENTOR_EVENT_KIND_COUNT],
			       const struct mentor_source_times *pause_after, int *ret_held, struct mentor_error *err)
{
	int n = mentor_partitions_count(c->parts);
	struct hold_change hc = {
		.hold = rd_kafka_topic_partition_list_new(n > 0 ? n : 1),
		.release = rd_kafka_topic_partition_list_new(n > 0 ? n : 1),
	};
	struct mentor_error second;  /* a resume failing after a pause failed: the first is reported */
	int rc = MENTOR_OK, released = MENTOR_OK;

	*ret_held = mentor_partitions_hold_after(c->parts, topics, pause_after, note_hold_change, &hc);
	if (hc.hold->cnt > 0)
		rc = list_result(hc.hold, rd_kafka_pause_partitions(c->rk, hc.hold), "pause", err);
	else
		rd_kafka_topic_partition_list_destroy(hc.hold);
	/* During a wait every partition stays paused: the wait's end resumes those not held. */
	if (hc.release->cnt > 0 && !c->paused_all)
		released = list_result(hc.release, rd_kafka_resume_partitions(c->rk, hc.release), "resume",
				       rc == MENTOR_OK ? err : &second);
	else
		rd_kafka_topic_partition_list_destroy(hc.release);
	return rc != MENTOR_OK ? rc : released;
}

bool mentor_consumer_at_end_unheld(const struct mentor_consumer *c)
{
	return mentor_partitions_at_end_unheld(c->parts);
}
