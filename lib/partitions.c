#include "partitions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mentor_partitions {
	struct mentor_partition *items;  /* owned; n in use, room for cap */
	int n, cap;
	int64_t unstored_start;
};

struct mentor_partitions *mentor_partitions_new(int64_t unstored_start)
{
	struct mentor_partitions *ps = calloc(1, sizeof(*ps));

	if (ps)
		ps->unstored_start = unstored_start;
	return ps;
}

void mentor_partitions_free(struct mentor_partitions *ps)
{
	if (!ps)
		return;
	free(ps->items);
	free(ps);
}

static struct mentor_partition *find(const struct mentor_partitions *ps, const char *topic, int32_t partition)
{
	for (int i = 0; i < ps->n; i++)
		if (ps->items[i].partition == partition && strcmp(ps->items[i].topic, topic) == 0)
			return &ps->items[i];
	return NULL;
}

const struct mentor_partition *mentor_partitions_track(struct mentor_partitions *ps, const char *topic,
						       int32_t partition, int64_t stored_next, int64_t max_event_us)
{
	struct mentor_partition *p = find(ps, topic, partition);

	if (!p) {
		if (ps->n == ps->cap) {
			int cap = ps->cap ? 2 * ps->cap : 16;
			struct mentor_partition *grown = realloc(ps->items, (size_t)cap * sizeof(*grown));

			if (!grown)
				return NULL;
			ps->items = grown;
			ps->cap = cap;
		}
		p = &ps->items[ps->n++];
		snprintf(p->topic, sizeof(p->topic), "%s", topic);
		p->partition = partition;
	}
	p->stored_next = stored_next;
	p->max_event_us = max_event_us;
	p->at_end = false;
	p->held = false;
	return p;
}

void mentor_partitions_untrack(struct mentor_partitions *ps, const char *topic, int32_t partition)
{
	struct mentor_partition *p = find(ps, topic, partition);

	if (p)
		*p = ps->items[--ps->n];
}

void mentor_partitions_untrack_all(struct mentor_partitions *ps)
{
	ps->n = 0;
}

int mentor_partitions_count(const struct mentor_partitions *ps)
{
	return ps->n;
}

const struct mentor_partition *mentor_partitions_at(const struct mentor_partitions *ps, int i)
{
	return &ps->items[i];
}

const struct mentor_partition *mentor_partitions_find(const struct mentor_partitions *ps, const char *topic,
						      int32_t partition)
{
	return find(ps, topic, partition);
}

int64_t mentor_partitions_start_offset(const struct mentor_partitions *ps, const struct mentor_partition *p)
{
	return p->stored_next == MENTOR_OFFSET_NONE ? ps->unstored_start : p->stored_next;
}

void mentor_partitions_set_at_end(struct mentor_partitions *ps, const char *topic, int32_t partition, bool at_end)
{
	struct mentor_partition *p = find(ps, topic, partition);

	if (p)
		p->at_end = at_end;
}

void mentor_partitions_clear_at_end(struct mentor_partitions *ps)
{
	for (int i = 0; i < ps->n; i++)
		ps->items[i].at_end = false;
}

bool mentor_partitions_at_end(const struct mentor_partitions *ps)
{
	if (ps->n == 0)
		return false;
	for (int i = 0; i < ps->n; i++)
		if (!ps->items[i].at_end)
			return false;
	return true;
}

bool mentor_partitions_at_end_unheld(const struct mentor_partitions *ps)
{
	if (ps->n == 0)
		return false;
	for (int i = 0; i < ps->n; i++)
		if (!ps->items[i].held && !ps->items[i].at_end)
			return false;
	return true;
}

int mentor_partitions_hold_after(struct mentor_partitions *ps, char *const topics[MENTOR_EVENT_KIND_COUNT],
				 const struct mentor_source_times *pause_after,
				 void (*fn)(void *ctx, const struct mentor_partition *p), void *ctx)
{
	int held = 0;

	for (int i = 0; i < ps->n; i++) {
		struct mentor_partition *p = &ps->items[i];
		enum mentor_event_kind kind = mentor_topic_kind(p->topic, topics);
		/* At or before its source's pause time, a partition is what can move the watermark: it is read on. */
		bool hold = (kind == MENTOR_EVENT_VOC || kind == MENTOR_EVENT_AQM) &&
			    p->max_event_us != MENTOR_NO_EVENT_TIME && p->max_event_us > pause_after->us[kind];

		held += hold;
		if (hold == p->held)
			continue;
		p->held = hold;
		fn(ctx, p);
	}
	return held;
}

void mentor_partitions_set_stored(struct mentor_partitions *ps, const char *topic, int32_t partition, int64_t next,
				  int64_t max_event_us)
{
	struct mentor_partition *p = find(ps, topic, partition);

	if (!p)
		return;
	p->stored_next = next;
	if (max_event_us > p->max_event_us)
		p->max_event_us = max_event_us;
}

void mentor_partitions_reset_stored(struct mentor_partitions *ps, const char *topic, int32_t partition,
				    int64_t next, int64_t max_event_us)
{
	struct mentor_partition *p = find(ps, topic, partition);

	if (!p)
		return;
	p->stored_next = next;
	p->max_event_us = max_event_us;
}

enum mentor_event_kind mentor_topic_kind(const char *topic, char *const topics[MENTOR_EVENT_KIND_COUNT])
{
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++)
		if (strcmp(topic, topics[kind]) == 0)
			return (enum mentor_event_kind)kind;
	return MENTOR_EVENT_KIND_COUNT;
}

/* Lowers w's time of the source `kind` (both for MENTOR_EVENT_KIND_COUNT) to t. */
static void lower_to(struct mentor_source_times *w, enum mentor_event_kind kind, int64_t t)
{
	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++)
		if ((k == (int)kind || kind == MENTOR_EVENT_KIND_COUNT) && k != MENTOR_EVENT_ROSTER && t < w->us[k])
			w->us[k] = t;
}

/*
 * A partition read to its end holds its source's watermark at its newest
 * event time like any other: the next event it brings is decided no earlier
 * than that minus the lateness, so a live run decides as a replay does. Only
 * one that never had an event does not hold it once read to its end (a
 * topic that gets no events, a partition no key hashes to yet): its first
 * event has no time to be floored by. A drain reads nothing past the ends it
 * reaches, so there a partition read to its end holds nothing.
 */
struct mentor_source_times mentor_partitions_watermark(const struct mentor_partitions *ps,
						       char *const topics[MENTOR_EVENT_KIND_COUNT],
						       const int64_t lateness_us[MENTOR_EVENT_KIND_COUNT], bool drain,
						       const struct mentor_offset_update *pending, size_t n_pending)
{
	struct mentor_source_times wm;

	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++)
		wm.us[k] = ps->n == 0 ? INT64_MIN : INT64_MAX;
	for (int i = 0; i < ps->n; i++) {
		const struct mentor_partition *p = &ps->items[i];
		enum mentor_event_kind kind = mentor_topic_kind(p->topic, topics);
		int64_t t = p->max_event_us;

		if (kind == MENTOR_EVENT_ROSTER) {
			if (!p->at_end)
				lower_to(&wm, MENTOR_EVENT_KIND_COUNT, INT64_MIN);
			continue;
		}
		for (size_t k = 0; k < n_pending; k++)
			if (pending[k].partition == p->partition && strcmp(pending[k].topic, p->topic) == 0 &&
			    pending[k].max_event_us > t)
				t = pending[k].max_event_us;
		if (p->at_end && (drain || t == MENTOR_NO_EVENT_TIME))
			continue;
		if (t != MENTOR_NO_EVENT_TIME && kind != MENTOR_EVENT_KIND_COUNT)
			t -= lateness_us[kind];
		lower_to(&wm, kind, t);
	}
	return wm;
}
