/* Batches: COPY text escaping, NULLs, bytea, rows and partition ranges; repeats and daily aggregates. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mentor/batch.h"
#include "test_util.h"

static void parse_or_fail(enum mentor_event_kind kind, const char *json, struct mentor_event *ev)
{
	struct mentor_event_rules rules;
	struct mentor_reject why;

	mentor_event_rules_init(&rules);
	rules.max_past_us = 0;  /* events of 1970 */
	if (!mentor_event_parse(&rules, kind, json, strlen(json), 1800000000000000LL, ev, &why))
		fail_msg("rejected: %s", why.detail);
}

/* A batch on the default rules (CSAT 1..5). */
static struct mentor_batch *new_batch(void)
{
	static struct mentor_event_rules rules;

	mentor_event_rules_init(&rules);
	return mentor_batch_new(&rules);
}

static void test_event_row_escaping(void **state)
{
	struct mentor_batch *b = new_batch();
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
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, NULL, 0, &err), MENTOR_OK);
	mentor_event_clear(&ev);
	/* score_events columns. Backslashes are doubled for COPY, also the one JSON put before the quote; 82.3 stays 82.3. */
	assert_string_equal(mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len),
			    "q\\\\1\taqm\tA'; DROP\t\\N\t\\N\t1970-01-01 00:00:01.000000+00\t"
			    "1970-01-01 00:00:00.000007+00\t\\N\t\\N\t82.3\t"
			    "{\"em\\\\\"pathy\":40}\t[\"x\"]\taqm.scores\t3\t41\t1970-01-01 00:00:01.000000+00\tdefault\n");
	assert_int_equal(mentor_batch_rows(b, MENTOR_STAGE_EVENTS), 1);
	assert_int_equal(mentor_batch_rows(b, MENTOR_STAGE_ROSTER), 0);
	mentor_batch_free(b);
}

/*
 * The scores column as jansson's json_dump (15 significant digits) prints it,
 * except that a number it would print with an exponent (1e-05) comes out as
 * a plain decimal: jsonb reads both as the same number. A key that needs
 * escaping goes through json_dump itself (test_event_row_escaping).
 */
static void test_scores_json(void **state)
{
	struct mentor_batch *b = new_batch();
	struct mentor_origin o = { .topic = "t", .partition = 0, .offset = 1, .received_us = 0 };
	struct mentor_event ev;
	struct mentor_error err;
	size_t len;

	(void)state;
	parse_or_fail(MENTOR_EVENT_AQM,
		      "{\"schema\":\"aqm.v1\",\"event_id\":\"e\",\"agent_id\":\"A\",\"occurred_at\":\"1970-01-01T00:00:01Z\",\"overall\":50,"
		      "\"behaviors\":{\"greeting\":82.3,\"hold\":5.0,\"empathy\":7,\"tiny\":0.00001,\"zero\":0.0,"
		      "\"third\":33.333333333333336,\"top\":100.0,\"near\":99.99999999999999}}",
		      &ev);
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, NULL, 0, &err), MENTOR_OK);
	mentor_event_clear(&ev);
	assert_non_null(strstr(mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len),
			       "\t{\"greeting\":82.3,\"hold\":5.0,\"empathy\":7,\"tiny\":0.00001,\"zero\":0.0,"
			       "\"third\":33.3333333333333,\"top\":100.0,\"near\":100.0}\t"));
	mentor_batch_free(b);
}

static void test_voc_and_roster_rows(void **state)
{
	struct mentor_batch *b = new_batch();
	struct mentor_origin o = { .topic = "t", .partition = 0, .offset = 1, .received_us = 2 };
	struct mentor_event ev;
	struct mentor_error err;
	size_t len;

	(void)state;
	parse_or_fail(MENTOR_EVENT_VOC,
		      "{\"schema\":\"voc.v1\",\"event_id\":\"v1\",\"agent_id\":\"A1\",\"channel\":\"voice\","
		      "\"occurred_at\":\"1970-01-01T00:00:00.5Z\",\"csat\":4,\"items\":{\"courtesy\":5}}",
		      &ev);
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, NULL, 0, &err), MENTOR_OK);
	mentor_event_clear(&ev);
	assert_string_equal(mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len),
			    "v1\tvoc\tA1\t\\N\tvoice\t1970-01-01 00:00:00.500000+00\t1970-01-01 00:00:00.000002+00\t"
			    "4\t\\N\t\\N\t{\"courtesy\":5}\t\\N\tt\t0\t1\t1970-01-01 00:00:00.500000+00\tdefault\n");
	parse_or_fail(MENTOR_EVENT_ROSTER,
		      "{\"schema\":\"agent.v1\",\"agent_id\":\"A1\",\"name\":\"Summer K.\",\"team_id\":\"T7\","
		      "\"active\":false}",
		      &ev);
	o.offset = 2;
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, NULL, 0, &err), MENTOR_OK);
	mentor_event_clear(&ev);
	/* Programs, an array literal escaped for COPY: a quote and a backslash escaped twice over. */
	parse_or_fail(MENTOR_EVENT_ROSTER,
		      "{\"schema\":\"agent.v1\",\"agent_id\":\"A2\",\"programs\":[\"acme \\\"x\\\"\",\"b\\\\c\",\"acme \\\"x\\\"\"]}",
		      &ev);
	o.offset = 3;
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, NULL, 0, &err), MENTOR_OK);
	mentor_event_clear(&ev);
	parse_or_fail(MENTOR_EVENT_ROSTER, "{\"schema\":\"agent.v1\",\"agent_id\":\"A3\",\"programs\":[]}", &ev);
	o.offset = 4;
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, NULL, 0, &err), MENTOR_OK);
	mentor_event_clear(&ev);
	assert_string_equal(mentor_batch_copy_text(b, MENTOR_STAGE_ROSTER, &len),
			    "1\tA1\tSummer K.\tT7\t\\N\t\\N\t\\N\tf\t\\N\tt\t0\t2\t2\t\\N\n"
			    "2\tA2\t\\N\t\\N\t\\N\t\\N\t\\N\tt\t\\N\tt\t0\t3\t2\t{\"acme \\\\\"x\\\\\"\",\"b\\\\\\\\c\"}\n"
			    "3\tA3\t\\N\t\\N\t\\N\t\\N\t\\N\tt\t\\N\tt\t0\t4\t2\t{}\n");
	assert_int_equal(mentor_batch_messages(b), 4);
	/* The VOC event's time, not changed by the roster event after it on the same partition. */
	assert_int_equal(mentor_batch_partition_at(b, 0)->max_event_us, 500000);
	mentor_batch_free(b);
}

static void test_reject_row(void **state)
{
	struct mentor_batch *b = new_batch();
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
			    "t\t0\t5\t9\t\\N\t\\\\x0a09ff\t\\N\t\\N\tmalformed_json\tbad\\there\n"
			    "t\t0\t6\t9\t\\\\x6b\t\\\\x\t\\N\t\\N\tempty\tempty message\n");
	mentor_batch_free(b);
}

/* An oversize payload keeps its first MENTOR_REJECT_PREFIX_BYTES bytes, its length and SHA-256; one at the limit is whole. */
static void test_reject_oversize_prefix(void **state)
{
	static char payload[70000];
	struct mentor_batch *b = new_batch();
	struct mentor_origin o = { .topic = "t", .partition = 0, .offset = 5, .received_us = 9 };
	struct mentor_reject why = { .code = MENTOR_REJECT_OVERSIZE, .detail = "too big" };
	struct mentor_error err;
	const char *text, *sha;
	size_t len, bytes;

	(void)state;
	memset(payload, 'a', sizeof(payload));
	assert_int_equal(mentor_batch_add_reject(b, payload, sizeof(payload), &why, &o, &err), MENTOR_OK);
	text = mentor_batch_copy_text(b, MENTOR_STAGE_REJECTS, &len);
	/* "t 0 5 9 \N " then \\x and the hex of 4096 bytes, the length, \\x and the 64 hex digits of the hash. */
	assert_int_equal(len, strlen("t\t0\t5\t9\t\\N\t") + 3 + 2 * MENTOR_REJECT_PREFIX_BYTES + 1 + strlen("70000\t") +
				      3 + 64 + 1 + strlen("oversize\ttoo big\n"));
	bytes = mentor_batch_bytes(b);
	assert_int_equal(bytes, len);
	/* python3: hashlib.sha256(b"a" * 70000).hexdigest() */
	sha = strstr(text, "\t70000\t\\\\x");
	assert_non_null(sha);
	assert_memory_equal(sha + 10, "66915c0872933db504e7578828dd85b7e74a4e0a061f9756793b89c4151bd4b5\t", 65);
	mentor_batch_reset(b);
	assert_int_equal(mentor_batch_add_reject(b, payload, 65536, &why, &o, &err), MENTOR_OK);
	text = mentor_batch_copy_text(b, MENTOR_STAGE_REJECTS, &len);
	assert_int_equal(len, strlen("t\t0\t5\t9\t\\N\t") + 3 + 2 * 65536 + 1 + strlen("\\N\t\\N\t") +
				      strlen("oversize\ttoo big\n"));
	mentor_batch_free(b);
}

/* A message kept with its event: its reject row up to the reason, and where it came from. */
static void test_kept_message(void **state)
{
	struct mentor_batch *b = new_batch();
	struct mentor_origin o = { .topic = "voc", .partition = 2, .offset = 40, .received_us = 9, .key = "A", .key_len = 1 };
	const char *json = "{\"schema\":\"voc.v1\",\"event_id\":\"e1\",\"agent_id\":\"A\","
			   "\"occurred_at\":\"1970-01-01T00:00:01Z\",\"csat\":4,\"items\":{\"x\":5}}";
	struct mentor_event ev;
	struct mentor_error err;
	const char *topic, *kept;
	int32_t partition;
	int64_t offset, received;
	size_t len, before;

	(void)state;
	parse_or_fail(MENTOR_EVENT_VOC, json, &ev);
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, NULL, 0, &err), MENTOR_OK);
	before = mentor_batch_bytes(b);
	o.offset = 41;
	mentor_event_clear(&ev);
	parse_or_fail(MENTOR_EVENT_VOC, "{\"schema\":\"voc.v1\",\"event_id\":\"e2\",\"agent_id\":\"B\","
			  "\"occurred_at\":\"1970-01-01T00:00:02Z\",\"csat\":1}", &ev);
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, "{}", 2, &err), MENTOR_OK);
	mentor_event_clear(&ev);
	assert_null(mentor_batch_event_kept(b, 0, &len));
	kept = mentor_batch_event_kept(b, 1, &len);
	assert_non_null(kept);
	assert_int_equal(len, strlen("voc\t2\t41\t9\t\\\\x41\t\\\\x7b7d\t\\N\t\\N\t"));
	assert_memory_equal(kept, "voc\t2\t41\t9\t\\\\x41\t\\\\x7b7d\t\\N\t\\N\t", len);
	/* The kept row counts in the batch's bytes. */
	assert_true(mentor_batch_bytes(b) > before + len);
	mentor_batch_event_origin(b, 1, &topic, &partition, &offset, &received);
	assert_string_equal(topic, "voc");
	assert_int_equal(partition, 2);
	assert_int_equal(offset, 41);
	assert_int_equal(received, 9);
	assert_int_equal(mentor_batch_event_agent(b, 1), 1);
	/* Metrics first seen first: csat, csat_top2, x. */
	assert_int_equal(mentor_batch_metric_count(b), 3);
	assert_memory_equal(mentor_batch_metric(b, 2, &len), "x", 1);
	mentor_batch_free(b);
}

static void test_partition_ranges_and_reset(void **state)
{
	static const struct { int32_t partition; int64_t offset; } seen[] = { { 0, 10 }, { 1, 5 }, { 0, 12 } };
	struct mentor_batch *b = new_batch();
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
	assert_true(p->max_event_us == MENTOR_NO_EVENT_TIME);  /* rejects carry no event time */
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

static void test_normalize_micro(void **state)
{
	(void)state;
	assert_int_equal(mentor_normalize_micro(4, 0, 1, 5), 750000);
	assert_int_equal(mentor_normalize_micro(1, 0, 1, 5), 0);
	assert_int_equal(mentor_normalize_micro(823, -1, 0, 100), 823000);        /* 82.3 */
	assert_int_equal(mentor_normalize_micro(1, 0, 0, 3), 333333);             /* 0.333333.. */
	assert_int_equal(mentor_normalize_micro(2, 0, 0, 3), 666667);             /* 0.666666.. */
	assert_int_equal(mentor_normalize_micro(5, -5, 0, 100), 1);               /* 0.5e-6: half away from zero */
	assert_int_equal(mentor_normalize_micro(49, -6, 0, 100), 0);              /* 0.49e-6 */
	assert_int_equal(mentor_normalize_micro(123456789012345, -13, 0, 100), 123457);
	assert_int_equal(mentor_normalize_micro(1, 2, 0, 100), 1000000);          /* 1e2 */
	assert_int_equal(mentor_normalize_micro(1, -300, 0, 100), 0);
}

static void add_or_fail(struct mentor_batch *b, enum mentor_event_kind kind, const char *json, int64_t offset)
{
	struct mentor_origin o = { .topic = "t", .partition = 0, .offset = offset, .received_us = 1 };
	struct mentor_event ev;
	struct mentor_error err;

	parse_or_fail(kind, json, &ev);
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, NULL, 0, &err), MENTOR_OK);
	mentor_event_clear(&ev);
}

/* Big-endian integer of `size` bytes at p. */
static int64_t be_int(const unsigned char *p, int size)
{
	uint64_t v = 0;

	for (int i = 0; i < size; i++)
		v = v << 8 | p[i];
	if (size < 8 && (v >> (8 * size - 1)))  /* sign-extend */
		v |= ~UINT64_C(0) << (8 * size);
	return (int64_t)v;
}

/*
 * The binary parts rows read back as "agent program metric day n sum sumsq" lines,
 * the day counted from 1970-01-01; the header, the field counts and lengths,
 * and the trailer are checked on the way.
 */
static void parts_text(const struct mentor_daily *d, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)d->parts, *end = p + d->parts_len;
	size_t used = 0;

	out[0] = '\0';
	if (d->parts_len == 0)
		return;
	assert_true(d->parts_len >= 21);
	assert_memory_equal(p, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
	p += 19;
	while (be_int(p, 2) != -1) {
		int32_t len[3];

		assert_int_equal(be_int(p, 2), 7);
		p += 2;
		for (int c = 0; c < 3; c++) {
			len[c] = (int32_t)be_int(p, 4);
			used += (size_t)snprintf(out + used, cap - used, "%.*s ", len[c], (const char *)p + 4);
			p += 4 + len[c];
		}
		assert_int_equal(be_int(p, 4), 4);
		used += (size_t)snprintf(out + used, cap - used, "%" PRId64 " ", be_int(p + 4, 4) + 10957);
		p += 8;
		for (int c = 0; c < 3; c++, p += 12) {
			assert_int_equal(be_int(p, 4), 8);
			used += (size_t)snprintf(out + used, cap - used, "%" PRId64 "%s", be_int(p + 4, 8), c < 2 ? " " : "\n");
		}
		assert_true(p < end && used < cap);
	}
	assert_true(p + 2 == end);
}

static void test_repeats_and_daily(void **state)
{
	struct mentor_batch *b = new_batch();
	struct mentor_daily d;
	struct mentor_error err;
	const unsigned char stored[] = { 1, 0, 1 };
	char text[1024];

	(void)state;
	add_or_fail(b, MENTOR_EVENT_VOC, "{\"schema\":\"voc.v1\",\"event_id\":\"v1\",\"agent_id\":\"A1\","
		    "\"occurred_at\":\"1970-01-01T00:00:00Z\",\"csat\":4,\"items\":{\"courtesy\":5}}", 1);
	/* A repeat in the batch: counted as a message, not staged, not aggregated. */
	add_or_fail(b, MENTOR_EVENT_VOC, "{\"schema\":\"voc.v1\",\"event_id\":\"v1\",\"agent_id\":\"A1\","
		    "\"occurred_at\":\"1970-01-01T00:00:00Z\",\"csat\":1}", 2);
	add_or_fail(b, MENTOR_EVENT_VOC, "{\"schema\":\"voc.v1\",\"event_id\":\"v2\",\"agent_id\":\"A1\","
		    "\"occurred_at\":\"1970-01-01T23:59:59.999999Z\",\"csat\":2}", 3);
	add_or_fail(b, MENTOR_EVENT_AQM, "{\"schema\":\"aqm.v1\",\"event_id\":\"q1\",\"agent_id\":\"A1\","
		    "\"occurred_at\":\"1969-12-31T23:59:59Z\",\"overall\":82.3,\"behaviors\":{\"courtesy\":40.5}}", 4);
	assert_int_equal(mentor_batch_messages(b), 4);
	assert_int_equal(mentor_batch_rows(b, MENTOR_STAGE_EVENTS), 3);
	assert_int_equal(mentor_batch_event_find(b, "v2", 2), 1);
	assert_int_equal(mentor_batch_event_find(b, "v3", 2), -1);

	assert_int_equal(mentor_batch_daily(b, NULL, &d, &err), MENTOR_OK);
	parts_text(&d, text, sizeof(text));
	assert_string_equal(text,
			    "A1 default csat 0 2 1000000 625000000000\n"
			    "A1 default csat_top2 0 2 1000000 1000000000000\n"
			    "A1 default courtesy 0 1 1000000 1000000000000\n"
			    "A1 default aqm -1 1 823000 677329000000\n"
			    "A1 default courtesy -1 1 405000 164025000000\n");
	assert_int_equal(d.parts_rows, 5);
	/* courtesy is both a VOC item and an AQM behavior here: AQM's scale wins. */
	assert_string_equal(d.metrics, "csat\tvoc\t1\t5\ncsat_top2\tvoc\t0\t1\ncourtesy\taqm\t0\t100\naqm\taqm\t0\t100\n");
	assert_int_equal(d.n_days, 2);
	assert_int_equal(d.days[0].day, -1);
	assert_int_equal(d.days[0].rows, 2);
	assert_int_equal(d.days[1].day, 0);
	assert_int_equal(d.days[1].rows, 3);
	mentor_daily_free(&d);

	/* v2 was stored by an earlier batch: it adds nothing. */
	assert_int_equal(mentor_batch_daily(b, stored, &d, &err), MENTOR_OK);
	parts_text(&d, text, sizeof(text));
	assert_string_equal(text,
			    "A1 default csat 0 1 750000 562500000000\n"
			    "A1 default csat_top2 0 1 1000000 1000000000000\n"
			    "A1 default courtesy 0 1 1000000 1000000000000\n"
			    "A1 default aqm -1 1 823000 677329000000\n"
			    "A1 default courtesy -1 1 405000 164025000000\n");
	mentor_daily_free(&d);

	mentor_batch_reset(b);
	assert_int_equal(mentor_batch_event_find(b, "v1", 2), -1);
	assert_int_equal(mentor_batch_daily(b, NULL, &d, &err), MENTOR_OK);
	assert_int_equal(d.parts_rows, 0);
	assert_int_equal(d.parts_len, 0);
	assert_int_equal(d.n_days, 0);
	mentor_daily_free(&d);
	mentor_batch_free(b);
}

/* Keeps the csat observation's normalized value. */
static int keep_csat(void *ctx, const struct mentor_observation *o)
{
	if (strcmp(o->metric, "csat") == 0)
		*(int64_t *)ctx = o->value_e6;
	return MENTOR_OK;
}

/* The batch reads its rules when it aggregates: a reload's new CSAT scale applies to what is staged. */
static void test_rules_read_when_aggregated(void **state)
{
	struct mentor_event_rules rules;
	struct mentor_batch *b;
	int64_t value = -1;

	(void)state;
	mentor_event_rules_init(&rules);
	b = mentor_batch_new(&rules);
	assert_non_null(b);
	add_or_fail(b, MENTOR_EVENT_VOC, "{\"schema\":\"voc.v1\",\"event_id\":\"v1\",\"agent_id\":\"A1\","
		    "\"occurred_at\":\"1970-01-01T00:00:00Z\",\"csat\":4}", 1);
	assert_int_equal(mentor_batch_each_observation(b, NULL, keep_csat, &value), MENTOR_OK);
	assert_int_equal(value, 750000);  /* 4 on 1..5 */
	rules.csat_max = 7;                /* as a reload copies new rules in */
	assert_int_equal(mentor_batch_each_observation(b, NULL, keep_csat, &value), MENTOR_OK);
	assert_int_equal(value, 500000);  /* 4 on 1..7 */
	mentor_batch_free(b);
}

/* An AQM event of partition p at offset, at `seconds` after the epoch; stream_us: the partition's stored stream time. */
/* An event of `kind` (AQM or VOC) at `seconds` into 1970, from partition of topic "t" (AQM) or "v" (VOC). */
static void add_kind_at(struct mentor_batch *b, enum mentor_event_kind kind, int32_t partition, int64_t offset,
			int64_t stream_us, int seconds)
{
	struct mentor_origin o = {
		.topic = kind == MENTOR_EVENT_AQM ? "t" : "v", .partition = partition, .offset = offset, .received_us = 1,
		.stream_us = stream_us,
	};
	char json[256];
	struct mentor_event ev;
	struct mentor_error err;

	snprintf(json, sizeof(json),
		 "{\"schema\":\"%s\",\"event_id\":\"e%" PRId32 "-%" PRId64 "\",\"agent_id\":\"A\","
		 "\"occurred_at\":\"1970-01-01T00:%02d:%02dZ\",%s}",
		 kind == MENTOR_EVENT_AQM ? "aqm.v1" : "voc.v1", partition, offset, seconds / 60, seconds % 60,
		 kind == MENTOR_EVENT_AQM ? "\"overall\":50" : "\"csat\":4");
	parse_or_fail(kind, json, &ev);
	assert_int_equal(mentor_batch_add_event(b, &ev, &o, NULL, 0, &err), MENTOR_OK);
	mentor_event_clear(&ev);
}

static void add_at(struct mentor_batch *b, int32_t partition, int64_t offset, int64_t stream_us, int seconds)
{
	add_kind_at(b, MENTOR_EVENT_AQM, partition, offset, stream_us, seconds);
}

static int collect_decide(void *ctx, const struct mentor_observation *o)
{
	int64_t *at = ctx;

	*at = o->decide_us;
	return MENTOR_OK;
}

/*
 * Decision time: the later of an event's time and its partition's newest
 * earlier time (the stored one, then the batch's) minus its source's lateness,
 * whatever the other partitions hold.
 */
static void test_decision_time(void **state)
{
	static struct mentor_event_rules rules;
	const int64_t s = 1000000;
	struct mentor_batch *b;
	int64_t seen = 0;
	size_t len;

	(void)state;
	mentor_event_rules_init(&rules);
	rules.max_past_us = 0;
	rules.lateness_us[MENTOR_EVENT_AQM] = 10 * s;
	rules.lateness_us[MENTOR_EVENT_VOC] = 100 * s;
	b = mentor_batch_new(&rules);
	assert_non_null(b);
	add_at(b, 0, 1, MENTOR_NO_EVENT_TIME, 100);  /* the partition's first: its own time */
	add_at(b, 0, 2, MENTOR_NO_EVENT_TIME, 50);   /* 50 s late: at 100 - 10 */
	add_at(b, 0, 3, MENTOR_NO_EVENT_TIME, 95);   /* within the lateness: its own time */
	add_at(b, 1, 7, 200 * s, 150);               /* the stored stream time counts: 200 - 10 */
	add_at(b, 1, 8, 200 * s, 300);
	add_at(b, 1, 9, 200 * s, 260);               /* after 300 in this batch: 290 */
	add_kind_at(b, MENTOR_EVENT_VOC, 0, 4, 300 * s, 150);  /* a survey: its source's lateness, 300 - 100 */
	add_kind_at(b, MENTOR_EVENT_VOC, 0, 5, 300 * s, 210);  /* within it: its own time */
	assert_int_equal(mentor_batch_event_decide_time(b, 0), 100 * s);
	assert_int_equal(mentor_batch_event_decide_time(b, 1), 90 * s);
	assert_int_equal(mentor_batch_event_decide_time(b, 2), 95 * s);
	assert_int_equal(mentor_batch_event_decide_time(b, 3), 190 * s);
	assert_int_equal(mentor_batch_event_decide_time(b, 4), 300 * s);
	assert_int_equal(mentor_batch_event_decide_time(b, 5), 290 * s);
	assert_int_equal(mentor_batch_event_decide_time(b, 6), 200 * s);
	assert_int_equal(mentor_batch_event_decide_time(b, 7), 210 * s);
	/* The observations carry it, and score_events' decide_at column holds it. */
	assert_int_equal(mentor_batch_each_observation(b, NULL, collect_decide, &seen), MENTOR_OK);
	assert_int_equal(seen, 210 * s);
	assert_non_null(strstr(mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len),
			       "\tt\t0\t2\t1970-01-01 00:01:30.000000+00\tdefault\n"));
	mentor_batch_free(b);
}

/* A roster as stored, for the program lookup: agent "L1" has program "stored", "R1" has "old". */
static const char *stored_program(const void *ctx, const char *agent_id, size_t len)
{
	int *calls = (int *)ctx;

	(*calls)++;
	if (len == 2 && memcmp(agent_id, "L1", 2) == 0)
		return "stored";
	if (len == 2 && memcmp(agent_id, "R1", 2) == 0)
		return "old";
	return NULL;
}

static void add_aqm(struct mentor_batch *b, const char *event_id, const char *agent_id, const char *program,
		    int64_t offset)
{
	char json[512];

	snprintf(json, sizeof(json),
		 "{\"schema\":\"aqm.v1\",\"event_id\":\"%s\",\"agent_id\":\"%s\",\"occurred_at\":\"1970-01-01T00:00:01Z\","
		 "\"overall\":50%s%s%s}",
		 event_id, agent_id, program ? ",\"program\":\"" : "", program ? program : "", program ? "\"" : "");
	add_or_fail(b, MENTOR_EVENT_AQM, json, offset);
}

static int collect_programs(void *ctx, const struct mentor_observation *o)
{
	char *out = ctx;

	strcat(out, o->program);
	strcat(out, " ");
	return MENTOR_OK;
}

/*
 * A score event's program: its own; else [ingest] program; else its agent's
 * only program in the roster (this batch's roster events first, then the
 * lookup); else "default".
 */
static void test_program_resolution(void **state)
{
	static struct mentor_event_rules rules;
	struct mentor_batch *b;
	struct mentor_daily d;
	struct mentor_error err;
	char text[1024] = "";
	int calls = 0;
	size_t len;

	(void)state;
	mentor_event_rules_init(&rules);
	b = mentor_batch_new(&rules);
	assert_non_null(b);
	mentor_batch_set_program_lookup(b, stored_program, &calls);
	add_aqm(b, "e0", "L1", "own", 1);         /* its own, whatever the roster says */
	assert_int_equal(calls, 0);
	add_aqm(b, "e1", "L1", NULL, 2);          /* the roster as stored */
	assert_int_equal(calls, 1);
	add_aqm(b, "e2", "U1", NULL, 3);          /* unknown to the roster */
	add_or_fail(b, MENTOR_EVENT_ROSTER, "{\"schema\":\"agent.v1\",\"agent_id\":\"R1\",\"programs\":[\"new\"]}", 4);
	add_or_fail(b, MENTOR_EVENT_ROSTER, "{\"schema\":\"agent.v1\",\"agent_id\":\"L1\",\"programs\":[\"a\",\"b\"]}", 5);
	calls = 0;
	add_aqm(b, "e3", "R1", NULL, 6);          /* this batch's roster before the stored one */
	add_aqm(b, "e4", "L1", NULL, 7);          /* two programs in this batch's roster: default */
	assert_int_equal(calls, 0);
	add_or_fail(b, MENTOR_EVENT_ROSTER, "{\"schema\":\"agent.v1\",\"agent_id\":\"R1\",\"programs\":[\"x\",\"x\"]}", 8);
	add_aqm(b, "e5", "R1", NULL, 9);          /* its last roster event wins; a duplicate is one program */
	add_or_fail(b, MENTOR_EVENT_ROSTER, "{\"schema\":\"agent.v1\",\"agent_id\":\"R1\"}", 10);
	add_aqm(b, "e6", "R1", NULL, 11);         /* no programs said */
	strcpy(rules.default_program, "configured");
	add_aqm(b, "e7", "R1", NULL, 12);         /* [ingest] program before the roster */
	add_aqm(b, "e8", "L1", "own", 13);        /* but not before the event's own */
	assert_int_equal(mentor_batch_rows(b, MENTOR_STAGE_EVENTS), 9);
	{
		static const char *const want[] = { "own", "stored", "default", "new", "default", "x", "default",
						    "configured", "own" };

		for (size_t i = 0; i < 9; i++)
			assert_string_equal(mentor_batch_event_program(b, i), want[i]);
	}
	/* Distinct, first seen first; an event's number among them. */
	assert_int_equal(mentor_batch_program_count(b), 6);
	assert_string_equal(mentor_batch_program(b, 3, &len), "new");
	assert_int_equal(len, 3);
	assert_int_equal(mentor_batch_event_program_id(b, 8), 0);
	assert_int_equal(mentor_batch_event_program_id(b, 7), 5);
	/* score_events' program column. */
	assert_non_null(strstr(mentor_batch_copy_text(b, MENTOR_STAGE_EVENTS, &len), "\t1970-01-01 00:00:01.000000+00\tnew\n"));
	/* The observations carry it. */
	assert_int_equal(mentor_batch_each_observation(b, NULL, collect_programs, text), MENTOR_OK);
	assert_string_equal(text, "own stored default new default x default configured own ");
	/* The roster as the batch leaves it: each agent's last event. */
	assert_int_equal(mentor_batch_roster_count(b), 2);
	assert_memory_equal(mentor_batch_roster_agent(b, 0, &len), "R1", 2);
	assert_null(mentor_batch_roster_program(b, 0));
	assert_memory_equal(mentor_batch_roster_agent(b, 1, &len), "L1", 2);
	assert_null(mentor_batch_roster_program(b, 1));
	/* Daily parts per program: L1's day splits in three, R1's in four. */
	assert_int_equal(mentor_batch_daily(b, NULL, &d, &err), MENTOR_OK);
	parts_text(&d, text, sizeof(text));
	assert_string_equal(text,
			    "L1 own aqm 0 2 1000000 500000000000\n"
			    "L1 stored aqm 0 1 500000 250000000000\n"
			    "U1 default aqm 0 1 500000 250000000000\n"
			    "R1 new aqm 0 1 500000 250000000000\n"
			    "L1 default aqm 0 1 500000 250000000000\n"
			    "R1 x aqm 0 1 500000 250000000000\n"
			    "R1 default aqm 0 1 500000 250000000000\n"
			    "R1 configured aqm 0 1 500000 250000000000\n");
	mentor_daily_free(&d);
	mentor_batch_reset(b);
	assert_int_equal(mentor_batch_program_count(b), 0);
	assert_int_equal(mentor_batch_roster_count(b), 0);
	/* After a reset the batch's roster is forgotten, the lookup kept. */
	rules.default_program[0] = '\0';
	add_aqm(b, "e9", "R1", NULL, 14);
	assert_string_equal(mentor_batch_event_program(b, 0), "old");
	mentor_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_row_escaping),
		cmocka_unit_test(test_scores_json),
		cmocka_unit_test(test_voc_and_roster_rows),
		cmocka_unit_test(test_reject_row),
		cmocka_unit_test(test_reject_oversize_prefix),
		cmocka_unit_test(test_kept_message),
		cmocka_unit_test(test_partition_ranges_and_reset),
		cmocka_unit_test(test_normalize_micro),
		cmocka_unit_test(test_repeats_and_daily),
		cmocka_unit_test(test_rules_read_when_aggregated),
		cmocka_unit_test(test_decision_time),
		cmocka_unit_test(test_program_resolution),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
