#include "mentor/batch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct text_buf {
	char *data;
	size_t len, cap;
	size_t rows;
	int failed;  /* an allocation failed: the buffer's content is incomplete */
};

struct mentor_batch {
	struct text_buf stage[MENTOR_STAGE_COUNT];
	struct mentor_batch_partition *parts;
	size_t n_parts, cap_parts;
	size_t messages;
	uint64_t seq;  /* order of events within the batch: the last roster update wins */
};

static int buf_reserve(struct text_buf *b, size_t extra)
{
	size_t want = b->len + extra + 1;
	char *grown;

	if (b->failed)
		return -1;
	if (want <= b->cap)
		return 0;
	if (want < 2 * b->cap)
		want = 2 * b->cap;
	if (want < 4096)
		want = 4096;
	grown = realloc(b->data, want);
	if (!grown) {
		b->failed = 1;
		return -1;
	}
	b->data = grown;
	b->cap = want;
	return 0;
}

static void buf_append(struct text_buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void buf_printf(struct text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void buf_printf(struct text_buf *b, const char *fmt, ...)
{
	char small[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(small)) {
		b->failed = 1;
		return;
	}
	buf_append(b, small, (size_t)n);
}

/* COPY text format: backslash, tab, newline and carriage return are escaped; NULL is \N. */
static void buf_copy_text(struct text_buf *b, const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		const char *esc;

		switch (s[i]) {
		case '\\': esc = "\\\\"; break;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		default: continue;
		}
		buf_append(b, s + start, i - start);
		buf_append(b, esc, 2);
		start = i + 1;
	}
	buf_append(b, s + start, n - start);
}

static void col_sep(struct text_buf *b)
{
	buf_append(b, "\t", 1);
}

static void col_text(struct text_buf *b, const char *s)
{
	if (s)
		buf_copy_text(b, s, strlen(s));
	else
		buf_append(b, "\\N", 2);
	col_sep(b);
}

/* bytea in COPY text: \\x followed by hex (the backslash itself escaped). */
static void col_bytea(struct text_buf *b, const void *data, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;

	if (!data) {
		buf_append(b, "\\N\t", 3);
		return;
	}
	if (buf_reserve(b, 3 + 2 * n + 1) != 0)
		return;
	memcpy(b->data + b->len, "\\\\x", 3);
	b->len += 3;
	for (size_t i = 0; i < n; i++) {
		b->data[b->len++] = hex[p[i] >> 4];
		b->data[b->len++] = hex[p[i] & 15];
	}
	b->data[b->len++] = '\t';
	b->data[b->len] = '\0';
}

static int json_to_copy(const char *chunk, size_t size, void *data)
{
	buf_copy_text(data, chunk, size);
	return 0;
}

static void col_json(struct text_buf *b, json_t *value)
{
	if (!value) {
		buf_append(b, "\\N\t", 3);
		return;
	}
	/* 15 significant digits print 82.3 as 82.3, so the stored value is the one sent. */
	if (json_dump_callback(value, json_to_copy, b, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) != 0)
		b->failed = 1;
	col_sep(b);
}

/* Ends a row: the last column's tab becomes the newline. */
static void row_end(struct text_buf *b)
{
	if (b->failed || b->len == 0)
		return;
	b->data[b->len - 1] = '\n';
	b->rows++;
}

static void col_origin(struct text_buf *b, const struct mentor_origin *o)
{
	col_text(b, o->topic);
	buf_printf(b, "%" PRId32 "\t%" PRId64 "\t%" PRId64 "\t", o->partition, o->offset, o->received_us);
}

static int note_partition(struct mentor_batch *b, const struct mentor_origin *o, struct mentor_error *err)
{
	struct mentor_batch_partition *p;

	if (strlen(o->topic) >= MENTOR_TOPIC_MAX)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "topic name longer than %d bytes", MENTOR_TOPIC_MAX - 1);
	for (size_t i = 0; i < b->n_parts; i++) {
		p = &b->parts[i];
		if (p->partition == o->partition && strcmp(p->topic, o->topic) == 0) {
			if (o->offset > p->last_offset)
				p->last_offset = o->offset;
			return MENTOR_OK;
		}
	}
	if (b->n_parts == b->cap_parts) {
		size_t cap = b->cap_parts ? 2 * b->cap_parts : 16;
		struct mentor_batch_partition *grown = realloc(b->parts, cap * sizeof(*grown));

		if (!grown)
			return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		b->parts = grown;
		b->cap_parts = cap;
	}
	p = &b->parts[b->n_parts++];
	strcpy(p->topic, o->topic);
	p->partition = o->partition;
	p->first_offset = o->offset;
	p->last_offset = o->offset;
	return MENTOR_OK;
}

static int stage_result(struct mentor_batch *b, enum mentor_stage stage, struct mentor_error *err)
{
	if (b->stage[stage].failed)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory staging a batch");
	b->messages++;
	return MENTOR_OK;
}

static void stage_score_event(struct text_buf *t, uint64_t seq, const struct mentor_event *ev,
			      const struct mentor_origin *o)
{
	buf_printf(t, "%" PRIu64 "\t", seq);
	col_text(t, ev->event_id);
	col_text(t, ev->kind == MENTOR_EVENT_VOC ? "voc" : "aqm");
	col_text(t, ev->agent_id);
	col_text(t, ev->interaction_id);
	col_text(t, ev->channel);
	buf_printf(t, "%" PRId64 "\t", ev->occurred_at_us);
	if (ev->kind == MENTOR_EVENT_VOC) {
		buf_printf(t, "%d\t", ev->csat);
		if (ev->nps >= 0)
			buf_printf(t, "%d\t", ev->nps);
		else
			buf_append(t, "\\N\t", 3);
		buf_append(t, "\\N\t", 3);
	} else {
		buf_append(t, "\\N\t\\N\t", 6);
		buf_printf(t, "%.15g\t", ev->overall);
	}
	col_json(t, ev->scores);
	col_json(t, ev->fatal);
	col_origin(t, o);
	row_end(t);
}

static void stage_roster_event(struct text_buf *t, uint64_t seq, const struct mentor_event *ev,
			       const struct mentor_origin *o)
{
	buf_printf(t, "%" PRIu64 "\t", seq);
	col_text(t, ev->agent_id);
	col_text(t, ev->name);
	col_text(t, ev->team_id);
	col_text(t, ev->team_lead_id);
	col_text(t, ev->site);
	col_text(t, ev->language);
	col_text(t, ev->active ? "t" : "f");
	if (ev->occurred_at_us)
		buf_printf(t, "%" PRId64 "\t", ev->occurred_at_us);
	else
		buf_append(t, "\\N\t", 3);
	col_origin(t, o);
	row_end(t);
}

int mentor_batch_add_event(struct mentor_batch *b, const struct mentor_event *ev,
			   const struct mentor_origin *origin, struct mentor_error *err)
{
	enum mentor_stage stage = ev->kind == MENTOR_EVENT_ROSTER ? MENTOR_STAGE_ROSTER : MENTOR_STAGE_EVENTS;
	int rc = note_partition(b, origin, err);

	if (rc != MENTOR_OK)
		return rc;
	if (stage == MENTOR_STAGE_ROSTER)
		stage_roster_event(&b->stage[stage], b->seq++, ev, origin);
	else
		stage_score_event(&b->stage[stage], b->seq++, ev, origin);
	return stage_result(b, stage, err);
}

int mentor_batch_add_reject(struct mentor_batch *b, const void *payload, size_t len,
			    const struct mentor_reject *why, const struct mentor_origin *origin,
			    struct mentor_error *err)
{
	struct text_buf *t = &b->stage[MENTOR_STAGE_REJECTS];
	int rc = note_partition(b, origin, err);

	if (rc != MENTOR_OK)
		return rc;
	col_origin(t, origin);
	col_bytea(t, origin->key, origin->key_len);
	col_bytea(t, payload ? payload : "", payload ? len : 0);
	col_text(t, mentor_reject_code_name(why->code));
	col_text(t, why->detail);
	row_end(t);
	return stage_result(b, MENTOR_STAGE_REJECTS, err);
}

struct mentor_batch *mentor_batch_new(void)
{
	return calloc(1, sizeof(struct mentor_batch));
}

void mentor_batch_free(struct mentor_batch *b)
{
	if (!b)
		return;
	for (int s = 0; s < MENTOR_STAGE_COUNT; s++)
		free(b->stage[s].data);
	free(b->parts);
	free(b);
}

void mentor_batch_reset(struct mentor_batch *b)
{
	for (int s = 0; s < MENTOR_STAGE_COUNT; s++) {
		b->stage[s].len = 0;
		b->stage[s].rows = 0;
		b->stage[s].failed = 0;
	}
	b->n_parts = 0;
	b->messages = 0;
	b->seq = 0;
}

size_t mentor_batch_messages(const struct mentor_batch *b)
{
	return b->messages;
}

size_t mentor_batch_rows(const struct mentor_batch *b, enum mentor_stage stage)
{
	return b->stage[stage].rows;
}

const char *mentor_batch_copy_text(const struct mentor_batch *b, enum mentor_stage stage, size_t *ret_len)
{
	*ret_len = b->stage[stage].len;
	return b->stage[stage].data ? b->stage[stage].data : "";
}

size_t mentor_batch_partition_count(const struct mentor_batch *b)
{
	return b->n_parts;
}

const struct mentor_batch_partition *mentor_batch_partition_at(const struct mentor_batch *b, size_t i)
{
	return i < b->n_parts ? &b->parts[i] : NULL;
}
