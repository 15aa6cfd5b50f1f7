/*
 * Unit tests for lib/partitions.c: the consumer's bookkeeping of its assigned
 * partitions (lib/partitions.h), and the event-time watermark rules that
 * include/mentor/consumer.h documents for mentor_consumer_watermark().
 *
 * Event times are small made-up microsecond values, chosen so that each
 * rule, if broken, gives a different answer than the one asserted.
 */
#include <stdio.h>
#include <string.h>

#include "../../lib/partitions.h"
#include "test_util.h"

/* Where a partition with nothing stored starts: any value no stored offset takes. */
#define UNSTORED_START INT64_C(-2)

#define ROSTER "roster"

/* The topic of each kind of event, and no allowed lateness: watermarks are newest event times. */
static char *topics[MENTOR_EVENT_KIND_COUNT] = {
	[MENTOR_EVENT_VOC] = "voc", [MENTOR_EVENT_AQM] = "aqm", [MENTOR_EVENT_ROSTER] = ROSTER,
};
static const int64_t no_lateness[MENTOR_EVENT_KIND_COUNT];

static struct mentor_partitions *new_or_fail(void)
{
	struct mentor_partitions *ps = mentor_partitions_new(UNSTORED_START);

	assert_non_null(ps);
	return ps;
}

static void track_or_fail(struct mentor_partitions *ps, const char *topic, int32_t partition, int64_t stored_next,
			  int64_t max_event_us)
{
	assert_non_null(mentor_partitions_track(ps, topic, partition, stored_next, max_event_us));
}

static int64_t stored_next(const struct mentor_partitions *ps, const char *topic, int32_t partition)
{
	const struct mentor_partition *p = mentor_partitions_find(ps, topic, partition);

	assert_non_null(p);
	return p->stored_next;
}

static int64_t max_event_us(const struct mentor_partitions *ps, const char *topic, int32_t partition)
{
	const struct mentor_partition *p = mentor_partitions_find(ps, topic, partition);

	assert_non_null(p);
	return p->max_event_us;
}

/* The lesser of the two sources' watermarks (the tests' partitions are of both topics). */
static int64_t least(struct mentor_source_times w)
{
	return w.us[MENTOR_EVENT_VOC] < w.us[MENTOR_EVENT_AQM] ? w.us[MENTOR_EVENT_VOC] : w.us[MENTOR_EVENT_AQM];
}

static int64_t watermark(const struct mentor_partitions *ps)
{
	return least(mentor_partitions_watermark(ps, topics, no_lateness, false, NULL, 0));
}

/* Tracking: lookup by topic and partition, start offsets, and a partition assigned again. */
static void test_track_and_start_offsets(void **state)
{
	struct mentor_partitions *ps = new_or_fail();
	const struct mentor_partition *p;

	(void)state;
	assert_int_equal(mentor_partitions_count(ps), 0);
	track_or_fail(ps, "voc", 0, MENTOR_OFFSET_NONE, MENTOR_NO_EVENT_TIME);
	track_or_fail(ps, "voc", 1, 42, 1000);
	track_or_fail(ps, "aqm", 1, 7, 2000);
	assert_int_equal(mentor_partitions_count(ps), 3);

	p = mentor_partitions_at(ps, 1);
	assert_string_equal(p->topic, "voc");
	assert_int_equal(p->partition, 1);
	assert_int_equal(p->stored_next, 42);
	assert_int_equal(p->max_event_us, 1000);
	assert_false(p->at_end);

	/* The same partition number on another topic is another partition. */
	assert_int_equal(stored_next(ps, "aqm", 1), 7);
	assert_null(mentor_partitions_find(ps, "aqm", 0));
	assert_null(mentor_partitions_find(ps, "voc", 2));

	/* Nothing stored: the configured start; else the stored next offset. */
	assert_int_equal(mentor_partitions_start_offset(ps, mentor_partitions_find(ps, "voc", 0)), UNSTORED_START);
	assert_int_equal(mentor_partitions_start_offset(ps, mentor_partitions_find(ps, "voc", 1)), 42);

	/* Assigned again (a rebalance that gave it back): the new position, not at its end, not a second entry. */
	mentor_partitions_set_at_end(ps, "voc", 1, true);
	p = mentor_partitions_track(ps, "voc", 1, 50, 900);
	assert_non_null(p);
	assert_int_equal(mentor_partitions_count(ps), 3);
	assert_ptr_equal(p, mentor_partitions_find(ps, "voc", 1));
	assert_int_equal(p->stored_next, 50);
	assert_int_equal(p->max_event_us, 900);
	assert_false(p->at_end);
	assert_int_equal(mentor_partitions_start_offset(ps, p), 50);
	mentor_partitions_free(ps);
}

/* Past the first allocation: every partition keeps its own values. */
static void test_many_partitions(void **state)
{
	struct mentor_partitions *ps = new_or_fail();

	(void)state;
	for (int32_t i = 0; i < 40; i++)
		track_or_fail(ps, "aqm", i, 100 + i, 5000 - i);
	assert_int_equal(mentor_partitions_count(ps), 40);
	for (int32_t i = 0; i < 40; i++) {
		assert_int_equal(stored_next(ps, "aqm", i), 100 + i);
		assert_int_equal(max_event_us(ps, "aqm", i), 5000 - i);
	}
	/* The least event time is the last partition's. */
	assert_int_equal(watermark(ps), 5000 - 39);
	mentor_partitions_free(ps);
}

/* The least newest event time; pending updates counted when newer, on their own partition only. */
static void test_watermark_least_and_pending(void **state)
{
	struct mentor_partitions *ps = new_or_fail();
	struct mentor_offset_update pending[] = {
		{ .topic = "voc", .partition = 0, .expected_next = 10, .next = 20, .max_event_us = 2500 },
	};

	(void)state;
	/* Nothing assigned: nothing may be decided. */
	assert_int_equal(watermark(ps), INT64_MIN);

	track_or_fail(ps, "voc", 0, 10, 1000);
	track_or_fail(ps, "voc", 1, 10, 3000);
	track_or_fail(ps, "aqm", 0, 10, 2000);
	assert_int_equal(watermark(ps), 1000);

	/* voc[0]'s batch moves it to 2500: aqm[0] is now the least. */
	assert_int_equal(least(mentor_partitions_watermark(ps, topics, no_lateness, false, pending, 1)), 2000);

	/* An update older than what is stored does not move the partition back. */
	pending[0].max_event_us = 500;
	assert_int_equal(least(mentor_partitions_watermark(ps, topics, no_lateness, false, pending, 1)), 1000);

	/* An update of aqm[0] leaves voc[0], the same partition number on another topic, where it is. */
	pending[0] = (struct mentor_offset_update){ .topic = "aqm", .partition = 0, .max_event_us = 9000 };
	assert_int_equal(least(mentor_partitions_watermark(ps, topics, no_lateness, false, pending, 1)), 1000);

	/* An update of voc[1] leaves voc[0], another partition of the same topic, where it is. */
	pending[0] = (struct mentor_offset_update){ .topic = "voc", .partition = 1, .max_event_us = 9000 };
	assert_int_equal(least(mentor_partitions_watermark(ps, topics, no_lateness, false, pending, 1)), 1000);

	/* An update of a partition not assigned here counts for nothing. */
	pending[0] = (struct mentor_offset_update){ .topic = "voc", .partition = 7, .max_event_us = 10 };
	assert_int_equal(least(mentor_partitions_watermark(ps, topics, no_lateness, false, pending, 1)), 1000);

	/* Pending updates are not stored: without them the watermark is where it was. */
	assert_int_equal(max_event_us(ps, "voc", 0), 1000);
	mentor_partitions_free(ps);
}

/*
 * Each partition's newest event time less its source's allowed lateness:
 * a survey partition far ahead of an evaluation partition can hold the
 * watermark, and a topic of no source is allowed none.
 */
static void test_watermark_lateness_per_source(void **state)
{
	struct mentor_partitions *ps = new_or_fail();
	int64_t lateness[MENTOR_EVENT_KIND_COUNT] = { [MENTOR_EVENT_VOC] = 3000, [MENTOR_EVENT_AQM] = 100 };
	const struct mentor_offset_update pending = { .topic = "aqm", .partition = 0, .max_event_us = 9000 };

	(void)state;
	track_or_fail(ps, "voc", 0, 10, 5000);
	track_or_fail(ps, "aqm", 0, 10, 4000);
	assert_int_equal(least(mentor_partitions_watermark(ps, topics, lateness, false, NULL, 0)), 2000);
	lateness[MENTOR_EVENT_VOC] = 500;
	assert_int_equal(least(mentor_partitions_watermark(ps, topics, lateness, false, NULL, 0)), 3900);
	/* The batch about to be written counts with its source's lateness too. */
	assert_int_equal(least(mentor_partitions_watermark(ps, topics, lateness, false, &pending, 1)), 4500);
	track_or_fail(ps, "other", 0, 10, 4400);
	assert_int_equal(least(mentor_partitions_watermark(ps, topics, lateness, false, &pending, 1)), 4400);
	/* No event yet holds everything back, whatever the lateness. */
	track_or_fail(ps, "voc", 1, MENTOR_OFFSET_NONE, MENTOR_NO_EVENT_TIME);
	assert_int_equal(least(mentor_partitions_watermark(ps, topics, lateness, false, &pending, 1)), INT64_MIN);
	mentor_partitions_free(ps);
}

/*
 * Each source on its own; a partition read to its end holds its source at
 * its newest time like any other (its next event is decided no earlier),
 * and one with no event yet holds it at INT64_MIN until read to its end.
 */
static void test_watermark_end_and_no_event(void **state)
{
	struct mentor_partitions *ps = new_or_fail();
	const struct mentor_offset_update pending = { .topic = "aqm", .partition = 0, .max_event_us = 4000 };
	struct mentor_source_times w;

	(void)state;
	track_or_fail(ps, "voc", 0, 10, 1000);
	track_or_fail(ps, "voc", 1, 10, 3000);
	w = mentor_partitions_watermark(ps, topics, no_lateness, false, NULL, 0);
	assert_int_equal(w.us[MENTOR_EVENT_VOC], 1000);
	assert_int_equal(w.us[MENTOR_EVENT_AQM], INT64_MAX);  /* no evaluation partition: nothing holds it */
	mentor_partitions_set_at_end(ps, "voc", 0, true);
	mentor_partitions_set_at_end(ps, "voc", 1, true);
	assert_int_equal(watermark(ps), 1000);
	/* A drain reads nothing past the ends it reaches: there they hold nothing. */
	w = mentor_partitions_watermark(ps, topics, no_lateness, true, NULL, 0);
	assert_int_equal(w.us[MENTOR_EVENT_VOC], INT64_MAX);

	/* An evaluation partition with no event yet holds its source only, until a batch brings it one. */
	track_or_fail(ps, "aqm", 0, MENTOR_OFFSET_NONE, MENTOR_NO_EVENT_TIME);
	w = mentor_partitions_watermark(ps, topics, no_lateness, false, NULL, 0);
	assert_int_equal(w.us[MENTOR_EVENT_AQM], INT64_MIN);
	assert_int_equal(w.us[MENTOR_EVENT_VOC], 1000);
	w = mentor_partitions_watermark(ps, topics, no_lateness, false, &pending, 1);
	assert_int_equal(w.us[MENTOR_EVENT_AQM], 4000);
	/* ... or it is read to its end with none: a topic no event comes to does not stop decisions. */
	mentor_partitions_set_at_end(ps, "aqm", 0, true);
	w = mentor_partitions_watermark(ps, topics, no_lateness, false, NULL, 0);
	assert_int_equal(w.us[MENTOR_EVENT_AQM], INT64_MAX);
	mentor_partitions_free(ps);
}

/* A roster partition holds the watermark at INT64_MIN until it is read to its end, whatever its times. */
static void test_watermark_roster(void **state)
{
	struct mentor_partitions *ps = new_or_fail();
	const struct mentor_offset_update pending = { .topic = ROSTER, .partition = 0, .max_event_us = 9000 };

	(void)state;
	track_or_fail(ps, "voc", 0, 10, 1000);
	track_or_fail(ps, ROSTER, 0, 10, 5000);
	assert_int_equal(watermark(ps), INT64_MIN);
	assert_int_equal(least(mentor_partitions_watermark(ps, topics, no_lateness, false, &pending, 1)), INT64_MIN);

	/* The roster topic is the one named: with another name, the roster partition is an ordinary one. */
	topics[MENTOR_EVENT_ROSTER] = "agents";
	assert_int_equal(watermark(ps), 1000);
	topics[MENTOR_EVENT_ROSTER] = ROSTER;

	/* Read to its end, the roster partition does not hold anything. */
	mentor_partitions_set_at_end(ps, ROSTER, 0, true);
	assert_int_equal(watermark(ps), 1000);

	/* A roster update published after that end: held again. */
	mentor_partitions_set_at_end(ps, ROSTER, 0, false);
	assert_int_equal(watermark(ps), INT64_MIN);
	mentor_partitions_free(ps);
}

/* set_stored only moves the event time forward; reset_stored replaces both values. */
static void test_set_and_reset_stored(void **state)
{
	struct mentor_partitions *ps = new_or_fail();

	(void)state;
	track_or_fail(ps, "voc", 0, 10, 5000);

	mentor_partitions_set_stored(ps, "voc", 0, 20, 4000);
	assert_int_equal(stored_next(ps, "voc", 0), 20);
	assert_int_equal(max_event_us(ps, "voc", 0), 5000);
	assert_int_equal(mentor_partitions_start_offset(ps, mentor_partitions_find(ps, "voc", 0)), 20);

	mentor_partitions_set_stored(ps, "voc", 0, 30, MENTOR_NO_EVENT_TIME);
	assert_int_equal(stored_next(ps, "voc", 0), 30);
	assert_int_equal(max_event_us(ps, "voc", 0), 5000);

	mentor_partitions_set_stored(ps, "voc", 0, 40, 6000);
	assert_int_equal(stored_next(ps, "voc", 0), 40);
	assert_int_equal(max_event_us(ps, "voc", 0), 6000);
	assert_int_equal(watermark(ps), 6000);

	/* What PostgreSQL holds after a batch that did not commit: older, and taken as it is. */
	mentor_partitions_reset_stored(ps, "voc", 0, 25, 4500);
	assert_int_equal(stored_next(ps, "voc", 0), 25);
	assert_int_equal(max_event_us(ps, "voc", 0), 4500);
	assert_int_equal(watermark(ps), 4500);

	/* Nothing stored at all: no event time, and the configured start again. */
	mentor_partitions_reset_stored(ps, "voc", 0, MENTOR_OFFSET_NONE, MENTOR_NO_EVENT_TIME);
	assert_int_equal(max_event_us(ps, "voc", 0), MENTOR_NO_EVENT_TIME);
	assert_int_equal(mentor_partitions_start_offset(ps, mentor_partitions_find(ps, "voc", 0)), UNSTORED_START);
	assert_int_equal(watermark(ps), INT64_MIN);

	/* A partition revoked meanwhile: neither call tracks it. */
	mentor_partitions_set_stored(ps, "voc", 1, 99, 1);
	mentor_partitions_reset_stored(ps, "aqm", 0, 99, 1);
	assert_int_equal(mentor_partitions_count(ps), 1);
	assert_null(mentor_partitions_find(ps, "voc", 1));
	assert_null(mentor_partitions_find(ps, "aqm", 0));
	assert_int_equal(stored_next(ps, "voc", 0), MENTOR_OFFSET_NONE);
	mentor_partitions_free(ps);
}

/* At the end: at least one partition, and every one read to its end. */
static void test_at_end(void **state)
{
	struct mentor_partitions *ps = new_or_fail();

	(void)state;
	assert_false(mentor_partitions_at_end(ps));
	track_or_fail(ps, "voc", 0, 10, 1000);
	track_or_fail(ps, "aqm", 0, 10, 1000);
	assert_false(mentor_partitions_at_end(ps));

	mentor_partitions_set_at_end(ps, "voc", 0, true);
	assert_false(mentor_partitions_at_end(ps));
	/* An end event of a partition not assigned here changes nothing. */
	mentor_partitions_set_at_end(ps, "aqm", 1, true);
	assert_false(mentor_partitions_at_end(ps));
	assert_null(mentor_partitions_find(ps, "aqm", 1));

	mentor_partitions_set_at_end(ps, "aqm", 0, true);
	assert_true(mentor_partitions_at_end(ps));

	/* A message after the end. */
	mentor_partitions_set_at_end(ps, "aqm", 0, false);
	assert_false(mentor_partitions_at_end(ps));
	mentor_partitions_set_at_end(ps, "aqm", 0, true);
	assert_true(mentor_partitions_at_end(ps));

	/* A rewind to the stored offsets reads them again. */
	mentor_partitions_clear_at_end(ps);
	assert_false(mentor_partitions_find(ps, "voc", 0)->at_end);
	assert_false(mentor_partitions_find(ps, "aqm", 0)->at_end);
	assert_false(mentor_partitions_at_end(ps));
	mentor_partitions_free(ps);
}

/* Revoked partitions are forgotten; the others keep their values, whichever slot they end up in. */
static void test_untrack_on_revoke(void **state)
{
	struct mentor_partitions *ps = new_or_fail();
	const struct mentor_partition *p;

	(void)state;
	track_or_fail(ps, "voc", 0, 10, 3000);
	track_or_fail(ps, "voc", 1, 11, 1000);
	track_or_fail(ps, ROSTER, 0, 12, MENTOR_NO_EVENT_TIME);
	track_or_fail(ps, "aqm", 0, 13, 2000);
	mentor_partitions_set_at_end(ps, "aqm", 0, true);

	mentor_partitions_untrack(ps, "voc", 1);
	assert_int_equal(mentor_partitions_count(ps), 3);
	assert_null(mentor_partitions_find(ps, "voc", 1));
	p = mentor_partitions_find(ps, "aqm", 0);
	assert_non_null(p);
	assert_int_equal(p->stored_next, 13);
	assert_int_equal(p->max_event_us, 2000);
	assert_true(p->at_end);
	assert_int_equal(stored_next(ps, "voc", 0), 10);
	assert_int_equal(stored_next(ps, ROSTER, 0), 12);

	/* Unknown partitions: nothing changes. */
	mentor_partitions_untrack(ps, "voc", 1);
	mentor_partitions_untrack(ps, "aqm", 3);
	assert_int_equal(mentor_partitions_count(ps), 3);

	/* The roster partition goes to another instance: it no longer holds the watermark here. */
	assert_int_equal(watermark(ps), INT64_MIN);
	mentor_partitions_untrack(ps, ROSTER, 0);
	assert_int_equal(watermark(ps), 2000);

	/* Revoked and assigned again: tracked afresh, not at its end. */
	mentor_partitions_untrack(ps, "aqm", 0);
	assert_false(mentor_partitions_at_end(ps));
	mentor_partitions_set_at_end(ps, "voc", 0, true);
	assert_true(mentor_partitions_at_end(ps));
	track_or_fail(ps, "aqm", 0, 20, 2500);
	assert_false(mentor_partitions_at_end(ps));
	assert_int_equal(watermark(ps), 2500);

	/* An unknown rebalance state drops everything. */
	mentor_partitions_untrack_all(ps);
	assert_int_equal(mentor_partitions_count(ps), 0);
	assert_null(mentor_partitions_find(ps, "voc", 0));
	assert_false(mentor_partitions_at_end(ps));
	assert_int_equal(watermark(ps), INT64_MIN);
	mentor_partitions_free(ps);
}

/* What mentor_partitions_hold_after asked the caller to change in Kafka, as "topic[p]+" (pause) or "-" (resume). */
struct hold_calls {
	char text[256];
};

static void note_hold(void *ctx, const struct mentor_partition *p)
{
	struct hold_calls *hc = ctx;
	size_t used = strlen(hc->text);

	snprintf(hc->text + used, sizeof(hc->text) - used, "%s[%d]%c", p->topic, (int)p->partition,
		 p->held ? '+' : '-');
}

/* Holds after voc_us the survey partitions, after aqm_us the evaluation ones. */
static int hold_each_after(struct mentor_partitions *ps, int64_t voc_us, int64_t aqm_us, struct hold_calls *hc)
{
	struct mentor_source_times after = { .us = { [MENTOR_EVENT_VOC] = voc_us, [MENTOR_EVENT_AQM] = aqm_us } };

	hc->text[0] = '\0';
	return mentor_partitions_hold_after(ps, topics, &after, note_hold, hc);
}

static int hold_after(struct mentor_partitions *ps, int64_t pause_after_us, struct hold_calls *hc)
{
	return hold_each_after(ps, pause_after_us, pause_after_us, hc);
}

static bool held(const struct mentor_partitions *ps, const char *topic, int32_t partition)
{
	const struct mentor_partition *p = mentor_partitions_find(ps, topic, partition);

	assert_non_null(p);
	return p->held;
}

/*
 * Backpressure: the partitions after the pause time are held, the one at it
 * (it holds the watermark) and those before it or with no event are read
 * on; only changes reach Kafka, but every partition tracked since the last
 * call does (it may still be paused from before it was revoked).
 */
static void test_hold_after(void **state)
{
	struct mentor_partitions *ps = new_or_fail();
	struct hold_calls hc;

	(void)state;
	track_or_fail(ps, "voc", 0, 10, 3000);
	track_or_fail(ps, "aqm", 0, 10, 2000);
	track_or_fail(ps, ROSTER, 0, 10, MENTOR_NO_EVENT_TIME);

	/* No pause: a newly tracked partition is not held, so nothing is handed to Kafka. */
	assert_int_equal(hold_after(ps, INT64_MAX, &hc), 0);
	assert_string_equal(hc.text, "");

	/* aqm holds the watermark at 2000: voc is after it. */
	assert_int_equal(hold_after(ps, 2000, &hc), 1);
	assert_string_equal(hc.text, "voc[0]+");
	assert_true(held(ps, "voc", 0));
	assert_false(held(ps, "aqm", 0));
	assert_false(held(ps, ROSTER, 0));

	/* Even from the start of time, a partition with no event is never held: it can move the watermark. */
	assert_int_equal(hold_after(ps, INT64_MIN, &hc), 2);
	assert_string_equal(hc.text, "aqm[0]+");
	assert_false(held(ps, ROSTER, 0));

	/* The watermark moves to 2500: aqm is before it again. */
	assert_int_equal(hold_after(ps, 2500, &hc), 1);
	assert_string_equal(hc.text, "aqm[0]-");

	/* Each source by its own time: surveys held past 2500, evaluations past 1000. */
	assert_int_equal(hold_each_after(ps, 2500, 1000, &hc), 2);
	assert_string_equal(hc.text, "aqm[0]+");
	assert_int_equal(hold_each_after(ps, 3000, 1000, &hc), 1);
	assert_string_equal(hc.text, "voc[0]-");
	assert_int_equal(hold_after(ps, 2500, &hc), 1);
	assert_string_equal(hc.text, "voc[0]+aqm[0]-");

	/* Only the held ones count as not needing their end. */
	assert_false(mentor_partitions_at_end_unheld(ps));
	mentor_partitions_set_at_end(ps, "aqm", 0, true);
	assert_false(mentor_partitions_at_end_unheld(ps));
	mentor_partitions_set_at_end(ps, ROSTER, 0, true);
	assert_true(mentor_partitions_at_end_unheld(ps));
	assert_false(mentor_partitions_at_end(ps));

	/* Revoked while held and assigned again: tracked not held (the consumer resumed it when it gave it up). */
	mentor_partitions_untrack(ps, "voc", 0);
	track_or_fail(ps, "voc", 0, 20, 1000);
	assert_false(held(ps, "voc", 0));
	assert_int_equal(hold_after(ps, 2500, &hc), 0);
	assert_string_equal(hc.text, "");

	/* Below the bound: everything is released. */
	assert_int_equal(hold_after(ps, 500, &hc), 2);
	assert_string_equal(hc.text, "aqm[0]+voc[0]+");
	assert_int_equal(hold_after(ps, INT64_MAX, &hc), 0);
	assert_string_equal(hc.text, "aqm[0]-voc[0]-");
	mentor_partitions_free(ps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_track_and_start_offsets),
		cmocka_unit_test(test_many_partitions),
		cmocka_unit_test(test_watermark_least_and_pending),
		cmocka_unit_test(test_watermark_lateness_per_source),
		cmocka_unit_test(test_watermark_end_and_no_event),
		cmocka_unit_test(test_watermark_roster),
		cmocka_unit_test(test_set_and_reset_stored),
		cmocka_unit_test(test_at_end),
		cmocka_unit_test(test_untrack_on_revoke),
		cmocka_unit_test(test_hold_after),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
