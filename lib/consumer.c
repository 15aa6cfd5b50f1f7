#include "mentor/consumer.h"

#include <stdlib.h>
#include <string.h>

#include "mentor/batch.h"
#include "mentor/store.h"

struct assigned_partition {
	char topic[MENTOR_TOPIC_MAX];
	int32_t partition;
	int64_t stored_next;  /* MENTOR_OFFSET_NONE until something is stored */
	int64_t max_event_us; /* newest event time stored from it; MENTOR_NO_EVENT_TIME: none */
	bool at_end;
};

struct mentor_consumer {
	rd_kafka_t *rk;
	mentor_offset_loader loader;
	void *loader_ctx;
	mentor_kafka_log_fn log_fn;
	void *log_ctx;
	int64_t offset_reset;  /* RD_KAFKA_OFFSET_BEGINNING or _END, for partitions with nothing stored */
	struct assigned_partition *parts;
	int n_parts, cap_parts;
	uint64_t revocations;
};

static struct assigned_partition *find_partition(const struct mentor_consumer *c, const char *topic,
						 int32_t partition)
{
	for (int i = 0; i < c->n_parts; i++)
		if (c->parts[i].partition == partition && strcmp(c->parts[i].topic, topic) == 0)
			return &c->parts[i];
	return NULL;
}

static int64_t start_offset(const struct mentor_consumer *c, int64_t stored_next)
{
	return stored_next == MENTOR_OFFSET_NONE ? c->offset_reset : stored_next;
}

static bool track_partition(struct mentor_consumer *c, const char *topic, int32_t partition, int64_t stored_next,
			    int64_t max_event_us)
{
	struct assigned_partition *p = find_partition(c, topic, partition);

	if (!p) {
		if (c->n_parts == c->cap_parts) {
			int cap = c->cap_parts ? 2 * c->cap_parts : 16;
			struct assigned_partition *grown = realloc(c->parts, (size_t)cap * sizeof(*grown));

			if (!grown)
				return false;
			c->parts = grown;
			c->cap_parts = cap;
		}
		p = &c->parts[c->n_parts++];
		snprintf(p->topic, sizeof(p->topic), "%s", topic);
		p->partition = partition;
	}
	p->stored_next = stored_next;
	p->max_event_us = max_event_us;
	p->at_end = false;
	return true;
}

static void untrack_partition(struct mentor_consumer *c, const char *topic, int32_t partition)
{
	struct assigned_partition *p = find_partition(c, topic, partition);

	if (p)
		*p = c->parts[--c->n_parts];
}

/* Sets each partition's start offset from the store; false if any could not be loaded. */
static bool load_start_offsets(struct mentor_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &parts->elems[i];
		int64_t next, max_event_us;

		if (c->loader(c->loader_ctx, tp->topic, tp->partition, &next, &max_event_us) != 0)
			return false;
		if (!track_partition(c, tp->topic, tp->partition, next, max_event_us))
			return false;
		tp->offset = start_offset(c, next);
	}
	return true;
}

static void on_assign(struct mentor_consumer *c, rd_kafka_topic_partition_list_t *parts, bool cooperative)
{
	if (!load_start_offsets(c, parts)) {
		/* Shutting down or out of memory: take nothing rather than start at a wrong offset. */
		for (int i = 0; i < parts->cnt; i++)
			untrack_partition(c, parts->elems[i].topic, parts->elems[i].partition);
		if (!cooperative)
			rd_kafka_assign(c->rk, NULL);
		return;
	}
	if (cooperative)
		rd_kafka_error_destroy(rd_kafka_incremental_assign(c->rk, parts));
	else
		rd_kafka_assign(c->rk, parts);
}

static void on_revoke(struct mentor_consumer *c, rd_kafka_topic_partition_list_t *parts, bool cooperative)
{
	for (int i = 0; i < parts->cnt; i++)
		untrack_partition(c, parts->elems[i].topic, parts->elems[i].partition);
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
	bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		on_assign(c, parts, cooperative);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		on_revoke(c, parts, cooperative);
		break;
	default:
		/* Unknown rebalance state: drop everything, as librdkafka recommends. */
		c->n_parts = 0;
		c->revocations++;
		rd_kafka_assign(rk, NULL);
		break;
	}
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

static int build_conf(const struct mentor_config *cfg, struct mentor_consumer *c, rd_kafka_conf_t **ret_conf,
		      struct mentor_error *err)
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
		rc = set_property(conf, cfg->kafka[i].key, cfg->kafka[i].value, err);
	for (size_t i = 0; rc == MENTOR_OK && i < sizeof(forced) / sizeof(forced[0]); i++)
		rc = set_property(conf, forced[i][0], forced[i][1], err);
	if (rc != MENTOR_OK) {
		rd_kafka_conf_destroy(conf);
		return rc;
	}
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
	c->offset_reset = strcmp(cfg->offset_reset, "latest") == 0 ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
	rc = build_conf(cfg, c, &conf, err);
	if (rc != MENTOR_OK)
		goto fail;
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
	*ret_consumer = c;
	return MENTOR_OK;
fail:
	mentor_consumer_close(c);
	return rc;
}

void mentor_consumer_close(struct mentor_consumer *c)
{
	if (!c)
		return;
	if (c->rk) {
		rd_kafka_consumer_close(c->rk);
		rd_kafka_destroy(c->rk);
	}
	free(c->parts);
	free(c);
}

rd_kafka_message_t *mentor_consumer_poll(struct mentor_consumer *c, int timeout_ms)
{
	for (;;) {
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->rk, timeout_ms);
		struct assigned_partition *p;

		if (!msg || !msg->rkt)
			return msg;
		p = find_partition(c, rd_kafka_topic_name(msg->rkt), msg->partition);
		if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (p && !msg->err)
				p->at_end = false;
			return msg;
		}
		if (p)
			p->at_end = true;
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
	if (c->n_parts == 0)
		return false;
	for (int i = 0; i < c->n_parts; i++)
		if (!c->parts[i].at_end)
			return false;
	return true;
}

void mentor_consumer_each_partition(const struct mentor_consumer *c,
				    void (*fn)(void *ctx, const struct mentor_partition_position *pos), void *ctx)
{
	for (int i = 0; i < c->n_parts; i++) {
		struct mentor_partition_position pos = {
			.topic = c->parts[i].topic,
			.partition = c->parts[i].partition,
			.stored_next = c->parts[i].stored_next,
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
	return c->n_parts;
}

bool mentor_consumer_stored_offset(const struct mentor_consumer *c, const char *topic, int32_t partition,
				   int64_t *ret_next)
{
	const struct assigned_partition *p = find_partition(c, topic, partition);

	if (!p)
		return false;
	*ret_next = p->stored_next;
	return true;
}

void mentor_consumer_set_stored_offset(struct mentor_consumer *c, const char *topic, int32_t partition,
				       int64_t next, int64_t max_event_us)
{
	struct assigned_partition *p = find_partition(c, topic, partition);

	if (!p)
		return;
	p->stored_next = next;
	if (max_event_us > p->max_event_us)
		p->max_event_us = max_event_us;
}

void mentor_consumer_reset_stored_offset(struct mentor_consumer *c, const char *topic, int32_t partition,
					 int64_t next, int64_t max_event_us)
{
	struct assigned_partition *p = find_partition(c, topic, partition);

	if (!p)
		return;
	p->stored_next = next;
	p->max_event_us = max_event_us;
}

int64_t mentor_consumer_watermark(const struct mentor_consumer *c, const char *roster_topic,
				  const struct mentor_offset_update *pending, size_t n_pending)
{
	int64_t wm = INT64_MAX;

	if (c->n_parts == 0)
		return INT64_MIN;
	for (int i = 0; i < c->n_parts; i++) {
		const struct assigned_partition *p = &c->parts[i];
		int64_t t = p->max_event_us;

		if (p->at_end)
			continue;
		if (strcmp(p->topic, roster_topic) == 0)
			return INT64_MIN;
		for (size_t k = 0; k < n_pending; k++)
			if (pending[k].partition == p->partition && strcmp(pending[k].topic, p->topic) == 0 &&
			    pending[k].max_event_us > t)
				t = pending[k].max_event_us;
		if (t < wm)
			wm = t;
	}
	return wm;
}

static rd_kafka_topic_partition_list_t *assignment_list(const struct mentor_consumer *c)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(c->n_parts > 0 ? c->n_parts : 1);

	for (int i = 0; i < c->n_parts; i++)
		rd_kafka_topic_partition_list_add(list, c->parts[i].topic, c->parts[i].partition)->offset =
			start_offset(c, c->parts[i].stored_next);
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

	if (c->n_parts == 0)
		return MENTOR_OK;
	for (int i = 0; i < c->n_parts; i++)
		c->parts[i].at_end = false;
	list = assignment_list(c);
	kerr = rd_kafka_seek_partitions(c->rk, list, 10000);
	if (kerr) {
		code = rd_kafka_error_code(kerr);
		rd_kafka_error_destroy(kerr);
	}
	return list_result(list, code, "rewind to stored offsets", err);
}

int mentor_consumer_pause(struct mentor_consumer *c, bool pause, struct mentor_error *err)
{
	rd_kafka_topic_partition_list_t *list;

	if (c->n_parts == 0)
		return MENTOR_OK;
	list = assignment_list(c);
	return list_result(list, pause ? rd_kafka_pause_partitions(c->rk, list) : rd_kafka_resume_partitions(c->rk, list),
			   pause ? "pause" : "resume", err);
}
