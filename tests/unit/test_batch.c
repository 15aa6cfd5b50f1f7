/* Batches: COPY text escaping, NULLs, bytea, rows and partition ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mentor/batch.h"

static void parse_or_fail(enum mentor_event_kind kind, const char *json, struct mentor_event *ev)
{
	struct mentor_event_rules rules;
	struct mentor_reject why;

	mentor_event_rules_init(&rules);
	if (!mentor_event_parse(&rules, kind, json, strlen(json), 1800000000000000LL, ev, &why))
		fail_msg("rejected: %s", why.detail);
}

static void test_event_row_escaping(void **state)
{
	struct mentor_batch *b = mentor_batch_new();
	struct mentor_origin o = { .topic = "aqm.scores", .partition = 3, .offset = 41, .received_us = 7 };
	struct mentor_event ev;
	struct mentor_error err;
	size_t len;

	(void)state;
	parse_or_fail(MENTOR_EVENT_AQM,
		      "{\"schema\":\"aqm.v1\",\"event_id\":\"q\\\\1\",\"agent_id\":\"A'; DROP\","
		      "\"occurred_at\":\"1970-01-01T00:00:01Z\",\"overall\":82.3,"
		      "\"behaviors\":{\"em\\\"pathy\":40},\"fatal\":[\"x\"]}",
		      &ev);
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, &err), MENTOR_OK);
	mentor_event_clear(&ev);
	/* Backslashes are doubled for COPY, also the one JSON put before the quote; 82.3 stays 82.3. */
	assert_string_equal(mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len),
			    "0\tq\\\\1\taqm\tA'; DROP\t\\N\t\\N\t1000000\t\\N\t\\N\t82.3\t"
			    "{\"em\\\\\"pathy\":40}\t[\"x\"]\taqm.scores\t3\t41\t7\n");
	assert_int_equal(mentor_batch_rows(b, MENTOR_STAGE_EVENTS), 1);
	assert_int_equal(mentor_batch_rows(b, MENTOR_STAGE_ROSTER), 0);
	mentor_batch_free(b);
}

static void test_voc_and_roster_rows(void **state)
{
	struct mentor_batch *b = mentor_batch_new();
	struct mentor_origin o = { .topic = "t", .partition = 0, .offset = 1, .received_us = 2 };
	struct mentor_event ev;
	struct mentor_error err;
	size_t len;

	(void)state;
	parse_or_fail(MENTOR_EVENT_VOC,
		      "{\"schema\":\"voc.v1\",\"event_id\":\"v1\",\"agent_id\":\"A1\",\"channel\":\"voice\","
		      "\"occurred_at\":\"1970-01-01T00:00:00.5Z\",\"csat\":4,\"items\":{\"courtesy\":5}}",
		      &ev);
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, &err), MENTOR_OK);
	mentor_event_clear(&ev);
	assert_string_equal(mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len),
			    "0\tv1\tvoc\tA1\t\\N\tvoice\t500000\t4\t\\N\t\\N\t{\"courtesy\":5}\t\\N\tt\t0\t1\t2\n");
	parse_or_fail(MENTOR_EVENT_ROSTER,
		      "{\"schema\":\"agent.v1\",\"agent_id\":\"A1\",\"name\":\"Summer K.\",\"team_id\":\"T7\","
		      "\"active\":false}",
		      &ev);
	o.offset = 2;
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, &err), MENTOR_OK);
	mentor_event_clear(&ev);
	assert_string_equal(mentor_batch_copy_text(b, MENTOR_STAGE_ROSTER, &len),
			    "1\tA1\tSummer K.\tT7\t\\N\t\\N\t\\N\tf\t\\N\tt\t0\t2\t2\n");
	assert_int_equal(mentor_batch_messages(b), 2);
	mentor_batch_free(b);
}

static void test_reject_row(void **state)
{
	struct mentor_batch *b = mentor_batch_new();
	struct mentor_origin o = { .topic = "t", .partition = 0, .offset = 5, .received_us = 9 };
	struct mentor_reject why = { .code = MENTOR_REJECT_MALFORMED_JSON };
	struct mentor_error err;
	size_t len;

	(void)state;
	strcpy(why.detail, "bad\there");
	assert_int_equal(mentor_batch_add_reject(b, "\n\t\xff", 3, &why, &o, &err), MENTOR_OK);
	o.offset = 6;
	o.key = "k";
	o.key_len = 1;
	why.code = MENTOR_REJECT_EMPTY;
	strcpy(why.detail, "empty message");
	assert_int_equal(mentor_batch_add_reject(b, NULL, 0, &why, &o, &err), MENTOR_OK);
	assert_string_equal(mentor_batch_copy_text(b, MENTOR_STAGE_REJECTS, &len),
			    "t\t0\t5\t9\t\\N\t\\\\x0a09ff\tmalformed_json\tbad\\there\n"
			    "t\t0\t6\t9\t\\\\x6b\t\\\\x\tempty\tempty message\n");
	mentor_batch_free(b);
}

static void test_partition_ranges_and_reset(void **state)
{
	static const struct { int32_t partition; int64_t offset; } seen[] = { { 0, 10 }, { 1, 5 }, { 0, 12 } };
	struct mentor_batch *b = mentor_batch_new();
	struct mentor_reject why = { .code = MENTOR_REJECT_EMPTY, .detail = "empty message" };
	struct mentor_error err;
	const struct mentor_batch_partition *p;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct mentor_origin o = { .topic = "t", .partition = seen[i].partition, .offset = seen[i].offset };

		assert_int_equal(mentor_batch_add_reject(b, NULL, 0, &why, &o, &err), MENTOR_OK);
	}
	assert_int_equal(mentor_batch_partition_count(b), 2);
	p = mentor_batch_partition_at(b, 0);
	assert_int_equal(p->partition, 0);
	assert_int_equal(p->first_offset, 10);
	assert_int_equal(p->last_offset, 12);
	p = mentor_batch_partition_at(b, 1);
	assert_int_equal(p->first_offset, 5);
	assert_int_equal(p->last_offset, 5);
	assert_null(mentor_batch_partition_at(b, 2));
	mentor_batch_reset(b);
	assert_int_equal(mentor_batch_messages(b), 0);
	assert_int_equal(mentor_batch_partition_count(b), 0);
	assert_int_equal(mentor_batch_rows(b, MENTOR_STAGE_REJECTS), 0);
	mentor_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_row_escaping),
		cmocka_unit_test(test_voc_and_roster_rows),
		cmocka_unit_test(test_reject_row),
		cmocka_unit_test(test_partition_ranges_and_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
