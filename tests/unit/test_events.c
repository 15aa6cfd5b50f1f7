/*
 * Unit tests for lib/events.c: the event contract of SPEC sections 1 and 7.
 *
 * Expected timestamps were computed independently of the code under test:
 *   python3 -c 'from datetime import *; print((datetime.fromisoformat(S) -
 *     datetime(1970,1,1,tzinfo=timezone.utc)) // timedelta(microseconds=1))'
 * and, for whole seconds, cross-checked with `date -u -d S +%s`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mentor/events.h"
#include "test_util.h"

/* 2026-11-02T15:00:00Z (python3 as above; date -u -d ... +%s = 1793631600), after SPEC_TS_US (test_util.h). */
#define NOW_US INT64_C(1793631600000000)

#define DOC_CAP 8192

struct kv {
	const char *key;
	const char *json;
};

/* The SPEC section 1 examples, field by field, so a test can change one field. */
static const struct kv voc_base[] = {
	{ "schema", "\"voc.v1\"" },
	{ "event_id", "\"e-91f2\"" },
	{ "interaction_id", "\"call-123\"" },
	{ "agent_id", "\"A1024\"" },
	{ "occurred_at", "\"2026-11-02T14:05:11Z\"" },
	{ "channel", "\"voice\"" },
	{ "csat", "4" },
	{ "nps", "9" },
	{ "items", "{\"courtesy\":5,\"resolution\":3}" },
	{ NULL, NULL },
};

static const struct kv aqm_base[] = {
	{ "schema", "\"aqm.v1\"" },
	{ "event_id", "\"q-77a0\"" },
	{ "interaction_id", "\"call-123\"" },
	{ "agent_id", "\"A1024\"" },
	{ "occurred_at", "\"2026-11-02T14:05:11Z\"" },
	{ "overall", "82.5" },
	{ "behaviors", "{\"greeting\":100,\"empathy\":40,\"hold_etiquette\":80,"
		       "\"assurance_of_availability\":60}" },
	{ "fatal", "[\"compliance_disclosure\"]" },
	{ NULL, NULL },
};

static const struct kv roster_base[] = {
	{ "schema", "\"agent.v1\"" },
	{ "agent_id", "\"A1024\"" },
	{ "name", "\"Summer K.\"" },
	{ "team_id", "\"T7\"" },
	{ "team_lead_id", "\"L3\"" },
	{ "site", "\"WPG\"" },
	{ "language", "\"en\"" },
	{ "active", "true" },
	{ NULL, NULL },
};

static const struct kv *base_of(enum mentor_event_kind kind)
{
	switch (kind) {
	case MENTOR_EVENT_VOC:
		return voc_base;
	case MENTOR_EVENT_AQM:
		return aqm_base;
	default:
		return roster_base;
	}
}

static void append(char *out, size_t cap, const char *s)
{
	size_t n = strlen(out);
	size_t len = strlen(s);

	if (n + len >= cap) {
		fail_msg("test document too long");
		return;
	}
	memcpy(out + n, s, len + 1);
}

/*
 * Writes the kind's SPEC example with field key set to the raw JSON text json;
 * json NULL drops the field, and a key the example lacks is added at the end.
 */
static const char *doc_with(char *out, size_t cap, enum mentor_event_kind kind,
			    const char *key, const char *json)
{
	const struct kv *kv = base_of(kind);
	bool seen = false, first = true;

	out[0] = '\0';
	append(out, cap, "{");
	for (; kv->key; kv++) {
		const char *value = kv->json;

		if (key && strcmp(kv->key, key) == 0) {
			seen = true;
			value = json;
		}
		if (!value)
			continue;
		append(out, cap, first ? "\"" : ",\"");
		append(out, cap, kv->key);
		append(out, cap, "\":");
		append(out, cap, value);
		first = false;
	}
	if (key && !seen && json) {
		append(out, cap, first ? "\"" : ",\"");
		append(out, cap, key);
		append(out, cap, "\":");
		append(out, cap, json);
	}
	append(out, cap, "}");
	return out;
}

static void assert_cleared(const struct mentor_event *ev)
{
	static const struct mentor_event zero;

	assert_memory_equal(ev, &zero, sizeof(zero));
}

/* A detail must go into a log line and a PostgreSQL text column as it is. */
static void assert_detail_sane(const struct mentor_reject *why)
{
	const char *end = memchr(why->detail, '\0', sizeof(why->detail));
	size_t n;
	json_t *s;

	assert_non_null(end);
	n = (size_t)(end - why->detail);
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		unsigned char b = (unsigned char)why->detail[i];

		if (b < 0x20 || b == 0x7f)
			fail_msg("control character in detail \"%s\"", why->detail);
	}
	/* json_stringn refuses anything that is not valid UTF-8. */
	s = json_stringn(why->detail, n);
	if (!s)
		fail_msg("detail is not valid UTF-8");
	json_decref(s);
}

static void expect_reject_buf(const struct mentor_event_rules *rules,
			      enum mentor_event_kind kind, const void *buf, size_t len,
			      enum mentor_reject_code code, const char *needle)
{
	struct mentor_event ev;
	struct mentor_reject why;
	bool ok;

	memset(&why, 0, sizeof(why));
	/* Garbage in ev proves that parse neither reads nor frees what was there. */
	memset(&ev, 0x5a, sizeof(ev));
	ok = mentor_event_parse(rules, kind, buf, len, NOW_US, &ev, &why);
	if (ok)
		fail_msg("accepted, expected %s (%s)", mentor_reject_code_name(code), needle);
	if (why.code != code || !strstr(why.detail, needle))
		fail_msg("got %s \"%s\", expected %s with \"%s\"",
			 mentor_reject_code_name(why.code), why.detail,
			 mentor_reject_code_name(code), needle);
	assert_detail_sane(&why);
	assert_cleared(&ev);
}

static void expect_reject_rules(const struct mentor_event_rules *rules,
				enum mentor_event_kind kind, const char *text,
				enum mentor_reject_code code, const char *needle)
{
	expect_reject_buf(rules, kind, text, strlen(text), code, needle);
}

static void expect_reject(enum mentor_event_kind kind, const char *text,
			  enum mentor_reject_code code, const char *needle)
{
	struct mentor_event_rules rules;

	mentor_event_rules_init(&rules);
	expect_reject_rules(&rules, kind, text, code, needle);
}

/* The kind's SPEC example with one field changed must be rejected. */
static void expect_field_reject(enum mentor_event_kind kind, const char *key, const char *json,
				enum mentor_reject_code code, const char *needle)
{
	char doc[DOC_CAP];

	expect_reject(kind, doc_with(doc, sizeof(doc), kind, key, json), code, needle);
}

static void parse_ok_rules(const struct mentor_event_rules *rules, enum mentor_event_kind kind,
			   const char *text, struct mentor_event *ev)
{
	struct mentor_reject why;

	memset(&why, 0, sizeof(why));
	if (!mentor_event_parse(rules, kind, text, strlen(text), NOW_US, ev, &why))
		fail_msg("rejected %s: %s\n  %s", mentor_reject_code_name(why.code), why.detail,
			 text);
	assert_int_equal(ev->kind, kind);
	assert_non_null(ev->json_root);
}

static void parse_ok(enum mentor_event_kind kind, const char *text, struct mentor_event *ev)
{
	struct mentor_event_rules rules;

	mentor_event_rules_init(&rules);
	parse_ok_rules(&rules, kind, text, ev);
}

/* The kind's SPEC example with one field changed must be accepted. */
static void parse_field_ok(enum mentor_event_kind kind, const char *key, const char *json,
			   struct mentor_event *ev)
{
	char doc[DOC_CAP];

	parse_ok(kind, doc_with(doc, sizeof(doc), kind, key, json), ev);
}

static void accept_field(enum mentor_event_kind kind, const char *key, const char *json)
{
	struct mentor_event ev;

	parse_field_ok(kind, key, json, &ev);
	mentor_event_clear(&ev);
}

static int64_t ts(const char *text)
{
	int64_t us = INT64_MIN;

	if (!mentor_time_parse_rfc3339(text, &us))
		fail_msg("\"%s\" not accepted", text);
	return us;
}

static double score_of(const json_t *scores, const char *key)
{
	json_t *v = json_object_get(scores, key);

	assert_non_null(v);
	return json_number_value(v);
}

/* ---- names and defaults ----------------------------------------------- */

static void test_rules_defaults(void **state)
{
	struct mentor_event_rules r;

	(void)state;
	mentor_event_rules_init(&r);
	assert_int_equal(r.csat_min, 1);
	assert_int_equal(r.csat_max, 5);
	assert_int_equal(r.max_message_bytes, 65536);
	assert_true(r.max_future_us == INT64_C(86400000000));
	assert_true(r.max_past_us == INT64_C(400) * 86400000000);
	assert_string_equal(r.map[MENTOR_EVENT_VOC].pointer[MENTOR_F_CSAT], "/csat");
	assert_string_equal(r.map[MENTOR_EVENT_VOC].pointer[MENTOR_F_ITEMS], "/items");
	assert_string_equal(r.map[MENTOR_EVENT_VOC].pointer[MENTOR_F_OVERALL], "");
	assert_string_equal(r.map[MENTOR_EVENT_VOC].pointer[MENTOR_F_ACTIVE], "");
	assert_string_equal(r.map[MENTOR_EVENT_AQM].pointer[MENTOR_F_OVERALL], "/overall");
	assert_string_equal(r.map[MENTOR_EVENT_AQM].pointer[MENTOR_F_FATAL], "/fatal");
	assert_string_equal(r.map[MENTOR_EVENT_AQM].pointer[MENTOR_F_CSAT], "");
	assert_string_equal(r.map[MENTOR_EVENT_AQM].pointer[MENTOR_F_CHANNEL], "");
	assert_string_equal(r.map[MENTOR_EVENT_ROSTER].pointer[MENTOR_F_TEAM_LEAD_ID],
			    "/team_lead_id");
	assert_string_equal(r.map[MENTOR_EVENT_ROSTER].pointer[MENTOR_F_OCCURRED_AT],
			    "/occurred_at");
	assert_string_equal(r.map[MENTOR_EVENT_ROSTER].pointer[MENTOR_F_INTERACTION_ID], "");
	assert_string_equal(r.map[MENTOR_EVENT_VOC].pointer[MENTOR_F_PROGRAM], "/program");
	assert_string_equal(r.map[MENTOR_EVENT_AQM].pointer[MENTOR_F_PROGRAM], "/program");
	assert_string_equal(r.map[MENTOR_EVENT_ROSTER].pointer[MENTOR_F_PROGRAM], "");
	assert_string_equal(r.map[MENTOR_EVENT_ROSTER].pointer[MENTOR_F_PROGRAMS], "/programs");
	assert_string_equal(r.map[MENTOR_EVENT_AQM].pointer[MENTOR_F_PROGRAMS], "");
	assert_string_equal(r.default_program, "");
	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++) {
		assert_string_equal(r.map[k].pointer[MENTOR_F_SCHEMA], "/schema");
		assert_string_equal(r.map[k].pointer[MENTOR_F_AGENT_ID], "/agent_id");
	}
}

static void test_names(void **state)
{
	static const char *const codes[] = {
		"empty", "oversize", "invalid_utf8", "malformed_json", "not_object",
		"unknown_schema", "missing_field", "wrong_type", "out_of_range", "bad_id",
		"bad_timestamp", "future_timestamp", "too_many", "too_old", "database_refused",
		"unknown_agent_limit", "too_many_behaviors",
	};
	static const char *const fields[] = {
		"schema", "event_id", "interaction_id", "agent_id", "occurred_at", "channel",
		"csat", "nps", "items", "overall", "behaviors", "fatal", "name", "team_id",
		"team_lead_id", "site", "language", "active", "program", "programs",
	};

	(void)state;
	assert_int_equal(sizeof(codes) / sizeof(codes[0]), MENTOR_REJECT_CODE_COUNT);
	for (int i = 0; i < MENTOR_REJECT_CODE_COUNT; i++)
		assert_string_equal(mentor_reject_code_name(i), codes[i]);
	assert_null(mentor_reject_code_name(MENTOR_REJECT_CODE_COUNT));
	assert_int_equal(sizeof(fields) / sizeof(fields[0]), MENTOR_F_COUNT);
	for (int i = 0; i < MENTOR_F_COUNT; i++)
		assert_string_equal(mentor_field_name(i), fields[i]);
	assert_null(mentor_field_name(MENTOR_F_COUNT));
	assert_string_equal(mentor_event_kind_schema(MENTOR_EVENT_VOC), "voc.v1");
	assert_string_equal(mentor_event_kind_schema(MENTOR_EVENT_AQM), "aqm.v1");
	assert_string_equal(mentor_event_kind_schema(MENTOR_EVENT_ROSTER), "agent.v1");
	assert_null(mentor_event_kind_schema(MENTOR_EVENT_KIND_COUNT));
}

/* ---- VOC -------------------------------------------------------------- */

static void test_voc_spec_example(void **state)
{
	struct mentor_event ev;

	(void)state;
	parse_field_ok(MENTOR_EVENT_VOC, NULL, NULL, &ev);
	assert_int_equal(ev.kind, MENTOR_EVENT_VOC);
	assert_string_equal(ev.event_id, "e-91f2");
	assert_string_equal(ev.interaction_id, "call-123");
	assert_string_equal(ev.agent_id, "A1024");
	assert_string_equal(ev.channel, "voice");
	assert_true(ev.occurred_at_us == SPEC_TS_US);
	assert_int_equal(ev.csat, 4);
	assert_int_equal(ev.nps, 9);
	assert_non_null(ev.scores);
	assert_int_equal(json_object_size(ev.scores), 2);
	assert_true(score_of(ev.scores, "courtesy") == 5.0);
	assert_true(score_of(ev.scores, "resolution") == 3.0);
	assert_null(ev.fatal);
	mentor_event_clear(&ev);
	assert_cleared(&ev);
}

static void test_voc_minimal(void **state)
{
	struct mentor_event ev;

	(void)state;
	parse_ok(MENTOR_EVENT_VOC,
		 "{\"schema\":\"voc.v1\",\"event_id\":\"e1\",\"agent_id\":\"A1\","
		 "\"occurred_at\":\"2026-11-02T14:05:11Z\",\"csat\":1}", &ev);
	assert_int_equal(ev.csat, 1);
	assert_int_equal(ev.nps, -1);
	assert_null(ev.interaction_id);
	assert_null(ev.channel);
	assert_null(ev.scores);
	mentor_event_clear(&ev);
}

static void test_voc_null_optional(void **state)
{
	static const char *const optional[] = { "interaction_id", "channel", "nps", "items" };
	struct mentor_event ev;

	(void)state;
	for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
		parse_field_ok(MENTOR_EVENT_VOC, optional[i], "null", &ev);
		assert_int_equal(ev.nps, strcmp(optional[i], "nps") == 0 ? -1 : 9);
		if (strcmp(optional[i], "interaction_id") == 0)
			assert_null(ev.interaction_id);
		if (strcmp(optional[i], "channel") == 0)
			assert_null(ev.channel);
		if (strcmp(optional[i], "items") == 0)
			assert_null(ev.scores);
		mentor_event_clear(&ev);
	}
}

static void test_voc_missing_required(void **state)
{
	static const char *const required[] = { "event_id", "agent_id", "occurred_at", "csat" };

	(void)state;
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "%s: missing", required[i]);
		expect_field_reject(MENTOR_EVENT_VOC, required[i], NULL,
				    MENTOR_REJECT_MISSING_FIELD, needle);
		expect_field_reject(MENTOR_EVENT_VOC, required[i], "null",
				    MENTOR_REJECT_MISSING_FIELD, needle);
	}
}

static void test_voc_csat_range(void **state)
{
	(void)state;
	accept_field(MENTOR_EVENT_VOC, "csat", "1");
	accept_field(MENTOR_EVENT_VOC, "csat", "5");
	expect_field_reject(MENTOR_EVENT_VOC, "csat", "7", MENTOR_REJECT_OUT_OF_RANGE,
			    "csat: 7 is outside 1..5");
	expect_field_reject(MENTOR_EVENT_VOC, "csat", "0", MENTOR_REJECT_OUT_OF_RANGE, "csat");
	expect_field_reject(MENTOR_EVENT_VOC, "csat", "-1", MENTOR_REJECT_OUT_OF_RANGE, "csat");
	/* Past INT_MAX: must be caught before it is narrowed to an int. */
	expect_field_reject(MENTOR_EVENT_VOC, "csat", "4294967300", MENTOR_REJECT_OUT_OF_RANGE,
			    "csat: 4294967300 is outside");
}

static void test_voc_csat_custom_scale(void **state)
{
	struct mentor_event_rules r;
	struct mentor_event ev;
	char doc[DOC_CAP];

	(void)state;
	mentor_event_rules_init(&r);
	r.csat_min = 0;
	r.csat_max = 10;
	parse_ok_rules(&r, MENTOR_EVENT_VOC,
		       doc_with(doc, sizeof(doc), MENTOR_EVENT_VOC, "csat", "0"), &ev);
	assert_int_equal(ev.csat, 0);
	mentor_event_clear(&ev);
	/* Items follow the CSAT scale too. */
	parse_ok_rules(&r, MENTOR_EVENT_VOC,
		       doc_with(doc, sizeof(doc), MENTOR_EVENT_VOC, "items", "{\"courtesy\":9}"),
		       &ev);
	assert_true(score_of(ev.scores, "courtesy") == 9.0);
	mentor_event_clear(&ev);
	expect_reject_rules(&r, MENTOR_EVENT_VOC,
			    doc_with(doc, sizeof(doc), MENTOR_EVENT_VOC, "csat", "11"),
			    MENTOR_REJECT_OUT_OF_RANGE, "csat: 11 is outside 0..10");
}

static void test_voc_nps(void **state)
{
	struct mentor_event ev;

	(void)state;
	parse_field_ok(MENTOR_EVENT_VOC, "nps", "0", &ev);
	assert_int_equal(ev.nps, 0);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_VOC, "nps", "10", &ev);
	assert_int_equal(ev.nps, 10);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_VOC, "nps", NULL, &ev);
	assert_int_equal(ev.nps, -1);
	mentor_event_clear(&ev);
	expect_field_reject(MENTOR_EVENT_VOC, "nps", "11", MENTOR_REJECT_OUT_OF_RANGE,
			    "nps: 11 is outside 0..10");
	expect_field_reject(MENTOR_EVENT_VOC, "nps", "-1", MENTOR_REJECT_OUT_OF_RANGE, "nps");
}

static void test_voc_items_range(void **state)
{
	(void)state;
	expect_field_reject(MENTOR_EVENT_VOC, "items", "{\"courtesy\":9}",
			    MENTOR_REJECT_OUT_OF_RANGE, "items.courtesy: 9 is outside 1..5");
	expect_field_reject(MENTOR_EVENT_VOC, "items", "{\"courtesy\":5,\"resolution\":0}",
			    MENTOR_REJECT_OUT_OF_RANGE, "items.resolution: 0 is outside 1..5");
	accept_field(MENTOR_EVENT_VOC, "items", "{}");
}

static void test_voc_items_keys(void **state)
{
	char key[200], json[256];

	(void)state;
	expect_field_reject(MENTOR_EVENT_VOC, "items", "{\"\":3}", MENTOR_REJECT_BAD_ID,
			    "items: key \"\" is empty");
	expect_field_reject(MENTOR_EVENT_VOC, "items", "{\"cour\\u0001tesy\":3}",
			    MENTOR_REJECT_BAD_ID,
			    "items: key \"cour\\x01tesy\" contains a control");
	expect_field_reject(MENTOR_EVENT_VOC, "items", "{\"a\\tb\":3}", MENTOR_REJECT_BAD_ID,
			    "items");
	/* 127 bytes is the longest key, as for ids. */
	memset(key, 'k', 127);
	key[127] = '\0';
	snprintf(json, sizeof(json), "{\"%s\":3}", key);
	accept_field(MENTOR_EVENT_VOC, "items", json);
	memset(key, 'k', 128);
	key[128] = '\0';
	snprintf(json, sizeof(json), "{\"%s\":3}", key);
	expect_field_reject(MENTOR_EVENT_VOC, "items", json, MENTOR_REJECT_BAD_ID,
			    "items: key \"kkkk");
}

/* {"b0":3,"b1":3,...} with n entries */
static const char *many_scores(char *out, size_t cap, int n, bool as_array)
{
	out[0] = '\0';
	append(out, cap, as_array ? "[" : "{");
	for (int i = 0; i < n; i++) {
		char one[32];

		if (as_array)
			snprintf(one, sizeof(one), "%s\"b%d\"", i ? "," : "", i);
		else
			snprintf(one, sizeof(one), "%s\"b%d\":3", i ? "," : "", i);
		append(out, cap, one);
	}
	append(out, cap, as_array ? "]" : "}");
	return out;
}

static void test_voc_items_too_many(void **state)
{
	char json[2048];
	struct mentor_event ev;

	(void)state;
	parse_field_ok(MENTOR_EVENT_VOC, "items",
		       many_scores(json, sizeof(json), MENTOR_SCORES_MAX, false), &ev);
	assert_int_equal(json_object_size(ev.scores), MENTOR_SCORES_MAX);
	mentor_event_clear(&ev);
	expect_field_reject(MENTOR_EVENT_VOC, "items",
			    many_scores(json, sizeof(json), MENTOR_SCORES_MAX + 1, false),
			    MENTOR_REJECT_TOO_MANY, "items: 65 entries");
}

static void test_voc_wrong_types(void **state)
{
	static const struct {
		const char *key, *json, *needle;
	} cases[] = {
		{ "event_id", "1", "event_id: expected a string, got integer" },
		{ "interaction_id", "2", "interaction_id: expected a string" },
		{ "agent_id", "true", "agent_id: expected a string, got boolean" },
		{ "occurred_at", "1793628311", "occurred_at: expected an RFC 3339 string" },
		{ "channel", "[]", "channel: expected a string, got array" },
		{ "csat", "\"4\"", "csat: expected an integer, got string" },
		{ "csat", "4.0", "csat: expected an integer, got real" },
		{ "csat", "{}", "csat: expected an integer, got object" },
		{ "nps", "\"9\"", "nps: expected an integer" },
		{ "nps", "9.0", "nps: expected an integer, got real" },
		{ "items", "[]", "items: expected an object, got array" },
		{ "items", "\"x\"", "items: expected an object, got string" },
		{ "items", "{\"courtesy\":\"5\"}",
		  "items.courtesy: expected an integer, got string" },
		{ "items", "{\"courtesy\":4.5}", "items.courtesy: expected an integer, got real" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_field_reject(MENTOR_EVENT_VOC, cases[i].key, cases[i].json,
				    MENTOR_REJECT_WRONG_TYPE, cases[i].needle);
}

static void test_voc_unknown_fields_ignored(void **state)
{
	struct mentor_event ev;

	(void)state;
	parse_field_ok(MENTOR_EVENT_VOC, "vendor_extra", "{\"x\":[1,2,{\"y\":null}]}", &ev);
	mentor_event_clear(&ev);
	/* Another kind's fields are unknown fields here, whatever their value. */
	parse_field_ok(MENTOR_EVENT_VOC, "overall", "\"not a number\"", &ev);
	assert_true(ev.overall == 0.0);
	mentor_event_clear(&ev);
}

/* ---- schema ----------------------------------------------------------- */

static void test_schema(void **state)
{
	char long_schema[400], json[420];

	(void)state;
	expect_field_reject(MENTOR_EVENT_VOC, "schema", NULL, MENTOR_REJECT_UNKNOWN_SCHEMA,
			    "schema: missing");
	expect_field_reject(MENTOR_EVENT_VOC, "schema", "null", MENTOR_REJECT_UNKNOWN_SCHEMA,
			    "schema: missing");
	expect_field_reject(MENTOR_EVENT_VOC, "schema", "\"aqm.v1\"", MENTOR_REJECT_UNKNOWN_SCHEMA,
			    "schema: \"aqm.v1\" is not \"voc.v1\"");
	expect_field_reject(MENTOR_EVENT_VOC, "schema", "\"voc.v2\"", MENTOR_REJECT_UNKNOWN_SCHEMA,
			    "voc.v2");
	expect_field_reject(MENTOR_EVENT_VOC, "schema", "\"VOC.V1\"", MENTOR_REJECT_UNKNOWN_SCHEMA,
			    "schema");
	expect_field_reject(MENTOR_EVENT_VOC, "schema", "1", MENTOR_REJECT_UNKNOWN_SCHEMA,
			    "schema: expected \"voc.v1\", got integer");
	/* A NUL must not let "voc.v1\0junk" pass as "voc.v1". */
	expect_field_reject(MENTOR_EVENT_VOC, "schema", "\"voc.v1\\u0000x\"",
			    MENTOR_REJECT_UNKNOWN_SCHEMA, "schema: \"voc.v1\\x00x\"");
	expect_field_reject(MENTOR_EVENT_AQM, "schema", "\"voc.v1\"", MENTOR_REJECT_UNKNOWN_SCHEMA,
			    "schema: \"voc.v1\" is not \"aqm.v1\"");
	expect_field_reject(MENTOR_EVENT_ROSTER, "schema", "\"aqm.v1\"",
			    MENTOR_REJECT_UNKNOWN_SCHEMA, "is not \"agent.v1\"");
	/* A long value is cut short in the detail, which stays within bounds. */
	memset(long_schema, 'z', sizeof(long_schema) - 1);
	long_schema[sizeof(long_schema) - 1] = '\0';
	snprintf(json, sizeof(json), "\"%s\"", long_schema);
	expect_field_reject(MENTOR_EVENT_VOC, "schema", json, MENTOR_REJECT_UNKNOWN_SCHEMA,
			    "schema: \"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz...\" is not");
}

/* ---- ids -------------------------------------------------------------- */

static void test_ids_empty(void **state)
{
	(void)state;
	expect_field_reject(MENTOR_EVENT_VOC, "event_id", "\"\"", MENTOR_REJECT_BAD_ID,
			    "event_id: \"\" is empty");
	expect_field_reject(MENTOR_EVENT_VOC, "agent_id", "\"\"", MENTOR_REJECT_BAD_ID, "agent_id");
	expect_field_reject(MENTOR_EVENT_VOC, "interaction_id", "\"\"", MENTOR_REJECT_BAD_ID,
			    "interaction_id");
	expect_field_reject(MENTOR_EVENT_VOC, "channel", "\"\"", MENTOR_REJECT_BAD_ID, "channel");
	expect_field_reject(MENTOR_EVENT_AQM, "event_id", "\"\"", MENTOR_REJECT_BAD_ID, "event_id");
}

static void test_ids_length(void **state)
{
	char id[200], json[256];
	struct mentor_event ev;

	(void)state;
	memset(id, 'a', 127);
	id[127] = '\0';
	snprintf(json, sizeof(json), "\"%s\"", id);
	parse_field_ok(MENTOR_EVENT_VOC, "agent_id", json, &ev);
	assert_int_equal(strlen(ev.agent_id), MENTOR_ID_MAX - 1);
	mentor_event_clear(&ev);
	memset(id, 'a', 128);
	id[128] = '\0';
	snprintf(json, sizeof(json), "\"%s\"", id);
	expect_field_reject(MENTOR_EVENT_VOC, "agent_id", json, MENTOR_REJECT_BAD_ID,
			    "is longer than 127 bytes");
	expect_field_reject(MENTOR_EVENT_VOC, "agent_id", json, MENTOR_REJECT_BAD_ID, "agent_id");
	/* Multi-byte characters count in bytes: 64 x "é" is 128 bytes. */
	json[0] = '\0';
	append(json, sizeof(json), "\"");
	for (int i = 0; i < 64; i++)
		append(json, sizeof(json), "\xc3\xa9");
	append(json, sizeof(json), "\"");
	expect_field_reject(MENTOR_EVENT_VOC, "event_id", json, MENTOR_REJECT_BAD_ID, "event_id");
}

static void test_ids_embedded_nul(void **state)
{
	(void)state;
	expect_field_reject(MENTOR_EVENT_VOC, "agent_id", "\"A\\u00001\"", MENTOR_REJECT_BAD_ID,
			    "agent_id: \"A\\x001\" contains a NUL character");
	expect_field_reject(MENTOR_EVENT_VOC, "event_id", "\"\\u0000\"", MENTOR_REJECT_BAD_ID,
			    "event_id");
}

static void test_ids_control_chars(void **state)
{
	(void)state;
	expect_field_reject(MENTOR_EVENT_VOC, "agent_id", "\"A\\u0001\"", MENTOR_REJECT_BAD_ID,
			    "agent_id: \"A\\x01\" contains a control character");
	expect_field_reject(MENTOR_EVENT_VOC, "agent_id", "\"A\\n1\"", MENTOR_REJECT_BAD_ID,
			    "agent_id");
	expect_field_reject(MENTOR_EVENT_VOC, "event_id", "\"e\\u001f\"", MENTOR_REJECT_BAD_ID,
			    "event_id");
	/* DEL is legal raw in JSON, but not in an id. */
	expect_field_reject(MENTOR_EVENT_VOC, "event_id", "\"e\x7f\"", MENTOR_REJECT_BAD_ID,
			    "event_id: \"e\\x7f\"");
	expect_field_reject(MENTOR_EVENT_VOC, "channel", "\"vo\\u007fice\"", MENTOR_REJECT_BAD_ID,
			    "channel");
}

static void test_ids_sql_and_unicode_accepted(void **state)
{
	struct mentor_event ev;

	(void)state;
	/* The store binds parameters, so SQL in an id is just text. */
	parse_field_ok(MENTOR_EVENT_VOC, "agent_id", "\"A1'; DROP TABLE x;--\"", &ev);
	assert_string_equal(ev.agent_id, "A1'; DROP TABLE x;--");
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_VOC, "event_id", "\"Zo\\u00eb-\xe6\x97\xa5\\\"q\\\\\"", &ev);
	assert_string_equal(ev.event_id, "Zo\xc3\xab-\xe6\x97\xa5\"q\\");
	mentor_event_clear(&ev);
}

/* ---- timestamps ------------------------------------------------------- */

static void test_time_utc(void **state)
{
	(void)state;
	assert_true(ts("2026-11-02T14:05:11Z") == SPEC_TS_US);
	assert_true(ts("1970-01-01T00:00:00Z") == 0);
	/* python3: -1000000 */
	assert_true(ts("1969-12-31T23:59:59Z") == INT64_C(-1000000));
	/* python3: 1704067200000000 */
	assert_true(ts("2024-01-01T00:00:00Z") == INT64_C(1704067200000000));
	/* python3: 253402300799999999 */
	assert_true(ts("9999-12-31T23:59:59.999999Z") == INT64_C(253402300799999999));
	/* python3 gives 0001-01-01 as -62135596800000000; year 0 is a leap year of 366 days. */
	assert_true(ts("0000-01-01T00:00:00Z") == INT64_C(-62167219200000000));
}

static void test_time_offsets(void **state)
{
	(void)state;
	/* python3: 1793624711250000 */
	assert_true(ts("2026-11-02T14:05:11.250+01:00") == INT64_C(1793624711250000));
	/* python3: 1793648111000000 */
	assert_true(ts("2026-11-02T14:05:11-05:30") == INT64_C(1793648111000000));
	assert_true(ts("2026-11-02T14:05:11+00:00") == SPEC_TS_US);
	assert_true(ts("2026-11-02T14:05:11-00:00") == SPEC_TS_US);
	assert_true(ts("2026-11-02t14:05:11z") == SPEC_TS_US);
	assert_true(ts("2026-11-02 14:05:11Z") == SPEC_TS_US);
	/* An offset can move the date across a day and a year boundary. */
	assert_true(ts("2024-01-01T01:00:00+01:00") == INT64_C(1704067200000000));
	assert_true(ts("2023-12-31T23:00:00-01:00") == INT64_C(1704067200000000));
	assert_true(ts("2026-11-02T14:05:11+23:59") == SPEC_TS_US - INT64_C(86340000000));
}

static void test_time_fractions(void **state)
{
	(void)state;
	assert_true(ts("2026-11-02T14:05:11.1Z") == SPEC_TS_US + 100000);
	assert_true(ts("2026-11-02T14:05:11.000001Z") == SPEC_TS_US + 1);
	assert_true(ts("2026-11-02T14:05:11.123456Z") == SPEC_TS_US + 123456);
	/* Nanoseconds are truncated, not rounded. */
	assert_true(ts("2026-11-02T14:05:11.123456789Z") == SPEC_TS_US + 123456);
	assert_true(ts("2026-11-02T14:05:11.999999999Z") == SPEC_TS_US + 999999);
	assert_false(mentor_time_parse_rfc3339("2026-11-02T14:05:11.1234567890Z", NULL));
	assert_false(mentor_time_parse_rfc3339("2026-11-02T14:05:11.Z", NULL));
	assert_false(mentor_time_parse_rfc3339("2026-11-02T14:05:11,5Z", NULL));
}

static void test_time_leap_years(void **state)
{
	(void)state;
	/* python3: 1835395200000000 */
	assert_true(ts("2028-02-29T00:00:00Z") == INT64_C(1835395200000000));
	/* python3: 951825600000000 */
	assert_true(ts("2000-02-29T12:00:00Z") == INT64_C(951825600000000));
	assert_false(mentor_time_parse_rfc3339("2027-02-29T00:00:00Z", NULL));
	assert_false(mentor_time_parse_rfc3339("2100-02-29T00:00:00Z", NULL));
	assert_false(mentor_time_parse_rfc3339("2026-04-31T00:00:00Z", NULL));
	assert_false(mentor_time_parse_rfc3339("2026-11-31T00:00:00Z", NULL));
	assert_false(mentor_time_parse_rfc3339("2026-13-01T00:00:00Z", NULL));
	assert_false(mentor_time_parse_rfc3339("2026-00-01T00:00:00Z", NULL));
	assert_false(mentor_time_parse_rfc3339("2026-01-00T00:00:00Z", NULL));
	assert_false(mentor_time_parse_rfc3339("2026-01-32T00:00:00Z", NULL));
	assert_true(mentor_time_parse_rfc3339("2026-12-31T00:00:00Z", NULL));
}

static void test_time_leap_second(void **state)
{
	(void)state;
	/* python3: 2016-12-31T23:59:59.999999Z is 1483228799999999 */
	assert_true(ts("2016-12-31T23:59:60Z") == INT64_C(1483228799999999));
	assert_true(ts("2016-12-31T23:59:60.5Z") == INT64_C(1483228799999999));
	assert_false(mentor_time_parse_rfc3339("2016-12-31T23:59:61Z", NULL));
}

static void test_time_invalid_forms(void **state)
{
	static const char *const bad[] = {
		"", "2026-11-02", "2026-11-02T14:05:11", "2026-11-02T14:05Z",
		"2026-11-02T24:00:00Z", "2026-11-02T14:60:00Z", "2026-11-02T14:05:11+24:00",
		"2026-11-02T14:05:11+01:60", "2026-11-02T14:05:11+0100", "2026-11-02T14:05:11+01",
		"2026-11-02T14:05:11Z ", " 2026-11-02T14:05:11Z", "2026-1-02T14:05:11Z",
		"26-11-02T14:05:11Z", "2026/11/02T14:05:11Z", "2026-11-02X14:05:11Z",
		"2026-11-02T14:05:11UTC", "2026-11-02T14:05:11ZZ", "+2026-11-02T14:05:11Z",
		"2026-11-02T14:5:11Z", "2026-11-02T14:05:1aZ", "１２３４-11-02T14:05:11Z",
		"2026-11-02T14:05:11.Z", "2026-11-02T14:05:11-", "yesterday",
	};

	(void)state;
	assert_false(mentor_time_parse_rfc3339(NULL, NULL));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (mentor_time_parse_rfc3339(bad[i], NULL))
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_occurred_at_bad_timestamp(void **state)
{
	(void)state;
	expect_field_reject(MENTOR_EVENT_VOC, "occurred_at", "\"yesterday\"",
			    MENTOR_REJECT_BAD_TIMESTAMP,
			    "occurred_at: \"yesterday\" is not an RFC 3339 timestamp with a zone");
	expect_field_reject(MENTOR_EVENT_VOC, "occurred_at", "\"2026-11-02T14:05:11\"",
			    MENTOR_REJECT_BAD_TIMESTAMP, "occurred_at");
	expect_field_reject(MENTOR_EVENT_AQM, "occurred_at", "\"2027-02-29T00:00:00Z\"",
			    MENTOR_REJECT_BAD_TIMESTAMP, "occurred_at");
	expect_field_reject(MENTOR_EVENT_VOC, "occurred_at", "\"2026-11-02T14:05:11Z\\u0000junk\"",
			    MENTOR_REJECT_BAD_TIMESTAMP, "occurred_at");
	expect_field_reject(MENTOR_EVENT_VOC, "occurred_at", "\"\"", MENTOR_REJECT_BAD_TIMESTAMP,
			    "occurred_at");
}

static void test_occurred_at_with_offset_and_leap_day(void **state)
{
	struct mentor_event_rules r;
	struct mentor_event ev;
	char doc[DOC_CAP];

	(void)state;
	parse_field_ok(MENTOR_EVENT_VOC, "occurred_at", "\"2026-11-02T14:05:11.250+01:00\"", &ev);
	assert_true(ev.occurred_at_us == INT64_C(1793624711250000));
	mentor_event_clear(&ev);
	/* python3 and date -u: 2024-02-29T00:00:00Z is 1709164800 s (2028 would be future, 2024 too old by default) */
	mentor_event_rules_init(&r);
	r.max_past_us = 0;
	parse_ok_rules(&r, MENTOR_EVENT_AQM,
		       doc_with(doc, sizeof(doc), MENTOR_EVENT_AQM, "occurred_at", "\"2024-02-29T00:00:00Z\""), &ev);
	assert_true(ev.occurred_at_us == INT64_C(1709164800000000));
	mentor_event_clear(&ev);
}

static void test_too_old(void **state)
{
	struct mentor_event_rules r;
	struct mentor_event ev;
	char doc[DOC_CAP];

	(void)state;
	/* NOW_US - 400 days is 2025-09-28T15:00:00Z: the limit itself is allowed. Last year's replay is fine. */
	parse_field_ok(MENTOR_EVENT_VOC, "occurred_at", "\"2025-09-28T15:00:00Z\"", &ev);
	assert_true(ev.occurred_at_us == NOW_US - INT64_C(400) * 86400000000);
	mentor_event_clear(&ev);
	expect_field_reject(MENTOR_EVENT_VOC, "occurred_at", "\"2025-09-28T14:59:59.999999Z\"",
			    MENTOR_REJECT_TOO_OLD,
			    "occurred_at: \"2025-09-28T14:59:59.999999Z\" is more than 400 days before the time of receipt");
	expect_field_reject(MENTOR_EVENT_AQM, "occurred_at", "\"1970-01-01T00:00:00Z\"", MENTOR_REJECT_TOO_OLD,
			    "occurred_at");
	expect_field_reject(MENTOR_EVENT_ROSTER, "occurred_at", "\"0001-01-01T00:00:00Z\"", MENTOR_REJECT_TOO_OLD,
			    "occurred_at");
	/* 0: no lower bound, for a deliberate replay of old topics; a huge bound does not overflow. */
	mentor_event_rules_init(&r);
	r.max_past_us = 0;
	parse_ok_rules(&r, MENTOR_EVENT_VOC,
		       doc_with(doc, sizeof(doc), MENTOR_EVENT_VOC, "occurred_at", "\"2000-02-29T12:00:00Z\""), &ev);
	assert_true(ev.occurred_at_us == INT64_C(951825600000000));
	mentor_event_clear(&ev);
	r.max_past_us = INT64_MAX;
	parse_ok_rules(&r, MENTOR_EVENT_VOC,
		       doc_with(doc, sizeof(doc), MENTOR_EVENT_VOC, "occurred_at", "\"0001-01-01T00:00:00Z\""), &ev);
	mentor_event_clear(&ev);
}

static void test_future_timestamp(void **state)
{
	struct mentor_event_rules r;
	struct mentor_event ev;
	char doc[DOC_CAP];

	(void)state;
	/* NOW_US + 1 day is 2026-11-03T15:00:00Z: the limit itself is allowed (a clock hours off is fine). */
	parse_field_ok(MENTOR_EVENT_VOC, "occurred_at", "\"2026-11-03T15:00:00Z\"", &ev);
	assert_true(ev.occurred_at_us == NOW_US + INT64_C(86400000000));
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_VOC, "occurred_at", "\"2026-11-03T15:59:59.999999+01:00\"",
		       &ev);
	mentor_event_clear(&ev);
	expect_field_reject(MENTOR_EVENT_VOC, "occurred_at", "\"2026-11-03T15:00:00.000001Z\"",
			    MENTOR_REJECT_FUTURE_TIMESTAMP,
			    "occurred_at: \"2026-11-03T15:00:00.000001Z\" is more than 86400 s");
	expect_field_reject(MENTOR_EVENT_AQM, "occurred_at", "\"2099-01-01T00:00:00Z\"",
			    MENTOR_REJECT_FUTURE_TIMESTAMP, "occurred_at");
	expect_field_reject(MENTOR_EVENT_ROSTER, "occurred_at", "\"9999-12-31T23:59:59Z\"",
			    MENTOR_REJECT_FUTURE_TIMESTAMP, "occurred_at");
	/* A configured bound is used, and a huge one does not overflow. */
	mentor_event_rules_init(&r);
	r.max_future_us = 0;
	expect_reject_rules(&r, MENTOR_EVENT_VOC,
			    doc_with(doc, sizeof(doc), MENTOR_EVENT_VOC, "occurred_at",
				     "\"2026-11-02T15:00:00.000001Z\""),
			    MENTOR_REJECT_FUTURE_TIMESTAMP, "occurred_at");
	r.max_future_us = INT64_MAX;
	parse_ok_rules(&r, MENTOR_EVENT_VOC,
		       doc_with(doc, sizeof(doc), MENTOR_EVENT_VOC, "occurred_at",
				"\"9999-12-31T23:59:59Z\""), &ev);
	mentor_event_clear(&ev);
}

/* ---- message-level rejects -------------------------------------------- */

static void test_empty(void **state)
{
	struct mentor_event_rules r;

	(void)state;
	mentor_event_rules_init(&r);
	expect_reject_buf(&r, MENTOR_EVENT_VOC, "", 0, MENTOR_REJECT_EMPTY, "message: empty");
	expect_reject_buf(&r, MENTOR_EVENT_AQM, NULL, 0, MENTOR_REJECT_EMPTY, "message");
	expect_reject_buf(&r, MENTOR_EVENT_ROSTER, NULL, 10, MENTOR_REJECT_EMPTY, "message");
}

static void test_oversize_before_parse(void **state)
{
	struct mentor_event_rules r;
	struct mentor_event ev;
	size_t max;
	char *buf;

	(void)state;
	mentor_event_rules_init(&r);
	max = r.max_message_bytes;
	buf = malloc(max + 1);
	assert_non_null(buf);
	/* Garbage that would be malformed JSON: size is judged first. */
	memset(buf, '{', max + 1);
	expect_reject_buf(&r, MENTOR_EVENT_VOC, buf, max + 1, MENTOR_REJECT_OVERSIZE,
			  "message: 65537 bytes, more than the limit of 65536");
	/* The limit itself is fine: a valid event padded with spaces to exactly max bytes. */
	memset(buf, ' ', max);
	doc_with(buf, max, MENTOR_EVENT_VOC, NULL, NULL);
	buf[strlen(buf)] = ' ';
	assert_true(mentor_event_parse(&r, MENTOR_EVENT_VOC, buf, max, NOW_US, &ev, NULL));
	assert_int_equal(ev.csat, 4);
	mentor_event_clear(&ev);
	/* And the limit is configurable. */
	r.max_message_bytes = 16;
	expect_reject_buf(&r, MENTOR_EVENT_VOC, buf, 17, MENTOR_REJECT_OVERSIZE,
			  "message: 17 bytes");
	free(buf);
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	expect_field_reject(MENTOR_EVENT_VOC, "agent_id", "\"A\xff\"", MENTOR_REJECT_INVALID_UTF8,
			    "message: invalid UTF-8");
	/* Overlong NUL and a UTF-16 surrogate encoded as UTF-8. */
	expect_field_reject(MENTOR_EVENT_VOC, "agent_id", "\"A\xc0\x80\"",
			    MENTOR_REJECT_INVALID_UTF8, "message");
	expect_field_reject(MENTOR_EVENT_AQM, "agent_id", "\"A\xed\xa0\x80\"",
			    MENTOR_REJECT_INVALID_UTF8, "message");
	/* Truncated sequence, in a key. */
	expect_field_reject(MENTOR_EVENT_ROSTER, "x\xe6\x97", "1", MENTOR_REJECT_INVALID_UTF8,
			    "message");
}

static void test_malformed_json(void **state)
{
	static const char *const bad[] = {
		"{", "{\"schema\":\"voc.v1\",}", "{'schema':'voc.v1'}", "{\"a\":1} x",
		"{\"a\":\"unterminated}", "{\"a\":tru}", "{\"a\":\"x\ny\"}", "{\"a\":01}",
		"{\"a\":\"\\ud800\"}", "{\"a\":1}\n{\"b\":2}", "\xef\xbb\xbf{\"a\":1}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_reject(MENTOR_EVENT_VOC, bad[i], MENTOR_REJECT_MALFORMED_JSON,
			      "message: malformed JSON at line");
}

static void test_nan_and_infinity(void **state)
{
	(void)state;
	expect_field_reject(MENTOR_EVENT_AQM, "overall", "NaN", MENTOR_REJECT_MALFORMED_JSON,
			    "message: malformed JSON at line 1 column");
	expect_field_reject(MENTOR_EVENT_AQM, "overall", "Infinity", MENTOR_REJECT_MALFORMED_JSON,
			    "message");
	expect_field_reject(MENTOR_EVENT_AQM, "overall", "-Infinity",
			    MENTOR_REJECT_MALFORMED_JSON, "message");
	/* Numbers that overflow a double or an int64 never reach the field check. */
	expect_field_reject(MENTOR_EVENT_AQM, "overall", "1e999", MENTOR_REJECT_MALFORMED_JSON,
			    "message");
	expect_field_reject(MENTOR_EVENT_VOC, "csat", "99999999999999999999",
			    MENTOR_REJECT_MALFORMED_JSON, "message");
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	expect_reject(MENTOR_EVENT_VOC,
		      "{\"schema\":\"voc.v1\",\"event_id\":\"e1\",\"agent_id\":\"A1\","
		      "\"agent_id\":\"A2\",\"occurred_at\":\"2026-11-02T14:05:11Z\",\"csat\":4}",
		      MENTOR_REJECT_MALFORMED_JSON, "duplicate object key near '\"agent_id\"'");
	expect_field_reject(MENTOR_EVENT_VOC, "items", "{\"courtesy\":5,\"courtesy\":1}",
			    MENTOR_REJECT_MALFORMED_JSON, "courtesy");
}

static void test_not_object(void **state)
{
	static const struct {
		const char *text, *needle;
	} cases[] = {
		{ "[]", "message: expected a JSON object, got array" },
		{ "[{\"schema\":\"voc.v1\"}]", "got array" },
		{ "\"voc.v1\"", "got string" },
		{ "42", "got integer" },
		{ "4.5", "got real" },
		{ "null", "got null" },
		{ "true", "got boolean" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_reject(MENTOR_EVENT_VOC, cases[i].text, MENTOR_REJECT_NOT_OBJECT,
			      cases[i].needle);
}

/* ---- AQM -------------------------------------------------------------- */

static void test_aqm_spec_example(void **state)
{
	struct mentor_event ev;

	(void)state;
	parse_field_ok(MENTOR_EVENT_AQM, NULL, NULL, &ev);
	assert_int_equal(ev.kind, MENTOR_EVENT_AQM);
	assert_string_equal(ev.event_id, "q-77a0");
	assert_string_equal(ev.interaction_id, "call-123");
	assert_string_equal(ev.agent_id, "A1024");
	assert_true(ev.occurred_at_us == SPEC_TS_US);
	assert_true(ev.overall == 82.5);
	assert_int_equal(json_object_size(ev.scores), 4);
	assert_true(score_of(ev.scores, "greeting") == 100.0);
	assert_true(score_of(ev.scores, "empathy") == 40.0);
	assert_true(score_of(ev.scores, "hold_etiquette") == 80.0);
	assert_true(score_of(ev.scores, "assurance_of_availability") == 60.0);
	assert_int_equal(json_array_size(ev.fatal), 1);
	assert_string_equal(json_string_value(json_array_get(ev.fatal, 0)),
			    "compliance_disclosure");
	assert_null(ev.channel);
	assert_int_equal(ev.nps, -1);
	mentor_event_clear(&ev);
	assert_cleared(&ev);
}

static void test_aqm_minimal(void **state)
{
	struct mentor_event ev;

	(void)state;
	parse_ok(MENTOR_EVENT_AQM,
		 "{\"schema\":\"aqm.v1\",\"event_id\":\"q1\",\"agent_id\":\"A1\","
		 "\"occurred_at\":\"2026-11-02T14:05:11Z\",\"overall\":82}", &ev);
	assert_true(ev.overall == 82.0);
	assert_null(ev.scores);
	assert_null(ev.fatal);
	assert_null(ev.interaction_id);
	mentor_event_clear(&ev);
}

static void test_aqm_missing_required(void **state)
{
	static const char *const required[] = { "event_id", "agent_id", "occurred_at", "overall" };

	(void)state;
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "%s: missing", required[i]);
		expect_field_reject(MENTOR_EVENT_AQM, required[i], NULL,
				    MENTOR_REJECT_MISSING_FIELD, needle);
		expect_field_reject(MENTOR_EVENT_AQM, required[i], "null",
				    MENTOR_REJECT_MISSING_FIELD, needle);
	}
}

static void test_aqm_null_optional(void **state)
{
	struct mentor_event ev;

	(void)state;
	parse_field_ok(MENTOR_EVENT_AQM, "behaviors", "null", &ev);
	assert_null(ev.scores);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_AQM, "fatal", "null", &ev);
	assert_null(ev.fatal);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_AQM, "interaction_id", "null", &ev);
	assert_null(ev.interaction_id);
	mentor_event_clear(&ev);
}

static void test_aqm_overall_range(void **state)
{
	struct mentor_event ev;

	(void)state;
	parse_field_ok(MENTOR_EVENT_AQM, "overall", "0", &ev);
	assert_true(ev.overall == 0.0);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_AQM, "overall", "100.0", &ev);
	assert_true(ev.overall == 100.0);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_AQM, "overall", "1e1", &ev);
	assert_true(ev.overall == 10.0);
	mentor_event_clear(&ev);
	expect_field_reject(MENTOR_EVENT_AQM, "overall", "100.5", MENTOR_REJECT_OUT_OF_RANGE,
			    "overall: 100.5 is outside 0..100");
	expect_field_reject(MENTOR_EVENT_AQM, "overall", "100.00001", MENTOR_REJECT_OUT_OF_RANGE,
			    "overall: 100.00001 is outside");
	expect_field_reject(MENTOR_EVENT_AQM, "overall", "-1", MENTOR_REJECT_OUT_OF_RANGE,
			    "overall: -1 is outside 0..100");
	expect_field_reject(MENTOR_EVENT_AQM, "overall", "1e300", MENTOR_REJECT_OUT_OF_RANGE,
			    "overall");
}

static void test_aqm_behaviors(void **state)
{
	char json[2048];

	(void)state;
	expect_field_reject(MENTOR_EVENT_AQM, "behaviors", "{\"empathy\":140}",
			    MENTOR_REJECT_OUT_OF_RANGE, "behaviors.empathy: 140 is outside 0..100");
	expect_field_reject(MENTOR_EVENT_AQM, "behaviors", "{\"empathy\":-0.5}",
			    MENTOR_REJECT_OUT_OF_RANGE, "behaviors.empathy");
	accept_field(MENTOR_EVENT_AQM, "behaviors", "{\"empathy\":40.25,\"greeting\":0}");
	accept_field(MENTOR_EVENT_AQM, "behaviors", "{}");
	expect_field_reject(MENTOR_EVENT_AQM, "behaviors", "{\"\":40}", MENTOR_REJECT_BAD_ID,
			    "behaviors: key \"\" is empty");
	expect_field_reject(MENTOR_EVENT_AQM, "behaviors", "{\"emp\\u001bathy\":40}",
			    MENTOR_REJECT_BAD_ID, "behaviors: key \"emp\\x1bathy\"");
	accept_field(MENTOR_EVENT_AQM, "behaviors",
		     many_scores(json, sizeof(json), MENTOR_SCORES_MAX, false));
	expect_field_reject(MENTOR_EVENT_AQM, "behaviors",
			    many_scores(json, sizeof(json), MENTOR_SCORES_MAX + 1, false),
			    MENTOR_REJECT_TOO_MANY, "behaviors: 65 entries");
}

static void test_aqm_fatal(void **state)
{
	char json[2048];
	struct mentor_event ev;

	(void)state;
	parse_field_ok(MENTOR_EVENT_AQM, "fatal", "[]", &ev);
	assert_int_equal(json_array_size(ev.fatal), 0);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_AQM, "fatal",
		       many_scores(json, sizeof(json), MENTOR_SCORES_MAX, true), &ev);
	assert_int_equal(json_array_size(ev.fatal), MENTOR_SCORES_MAX);
	mentor_event_clear(&ev);
	expect_field_reject(MENTOR_EVENT_AQM, "fatal",
			    many_scores(json, sizeof(json), MENTOR_SCORES_MAX + 1, true),
			    MENTOR_REJECT_TOO_MANY, "fatal: 65 entries");
	expect_field_reject(MENTOR_EVENT_AQM, "fatal", "[\"a\",\"\"]", MENTOR_REJECT_BAD_ID,
			    "fatal[1]: \"\" is empty");
	expect_field_reject(MENTOR_EVENT_AQM, "fatal", "[\"a\\u0000b\"]", MENTOR_REJECT_BAD_ID,
			    "fatal[0]");
	expect_field_reject(MENTOR_EVENT_AQM, "fatal", "[\"a\\nb\"]", MENTOR_REJECT_BAD_ID,
			    "fatal[0]");
}

static void test_aqm_wrong_types(void **state)
{
	static const struct {
		const char *key, *json, *needle;
	} cases[] = {
		{ "event_id", "7", "event_id: expected a string" },
		{ "interaction_id", "{}", "interaction_id: expected a string, got object" },
		{ "agent_id", "1024", "agent_id: expected a string, got integer" },
		{ "occurred_at", "[]", "occurred_at: expected" },
		{ "overall", "\"82\"", "overall: expected a number, got string" },
		{ "overall", "true", "overall: expected a number, got boolean" },
		{ "behaviors", "[]", "behaviors: expected an object, got array" },
		{ "behaviors", "{\"empathy\":\"40\"}",
		  "behaviors.empathy: expected a number, got string" },
		{ "behaviors", "{\"empathy\":[40]}", "behaviors.empathy: expected a number" },
		{ "fatal", "\"compliance_disclosure\"", "fatal: expected an array, got string" },
		{ "fatal", "{}", "fatal: expected an array, got object" },
		{ "fatal", "[1]", "fatal[0]: expected a string, got integer" },
		{ "fatal", "[\"a\",null]", "fatal[1]: expected a string, got null" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_field_reject(MENTOR_EVENT_AQM, cases[i].key, cases[i].json,
				    MENTOR_REJECT_WRONG_TYPE, cases[i].needle);
}

/* ---- roster ----------------------------------------------------------- */

static void test_roster_spec_example(void **state)
{
	struct mentor_event ev;

	(void)state;
	parse_field_ok(MENTOR_EVENT_ROSTER, NULL, NULL, &ev);
	assert_int_equal(ev.kind, MENTOR_EVENT_ROSTER);
	assert_string_equal(ev.agent_id, "A1024");
	assert_string_equal(ev.name, "Summer K.");
	assert_string_equal(ev.team_id, "T7");
	assert_string_equal(ev.team_lead_id, "L3");
	assert_string_equal(ev.site, "WPG");
	assert_string_equal(ev.language, "en");
	assert_true(ev.active);
	assert_null(ev.event_id);
	assert_true(ev.occurred_at_us == 0);
	mentor_event_clear(&ev);
	assert_cleared(&ev);
}

static void test_roster_minimal_and_active(void **state)
{
	struct mentor_event ev;

	(void)state;
	parse_ok(MENTOR_EVENT_ROSTER, "{\"schema\":\"agent.v1\",\"agent_id\":\"A1\"}", &ev);
	assert_string_equal(ev.agent_id, "A1");
	assert_true(ev.active);
	assert_null(ev.name);
	assert_null(ev.team_id);
	assert_null(ev.team_lead_id);
	assert_null(ev.site);
	assert_null(ev.language);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_ROSTER, "active", "false", &ev);
	assert_false(ev.active);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_ROSTER, "active", "null", &ev);
	assert_true(ev.active);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_ROSTER, "event_id", "\"r-1\"", &ev);
	assert_string_equal(ev.event_id, "r-1");
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_ROSTER, "occurred_at", "\"2026-11-02T14:05:11Z\"", &ev);
	assert_true(ev.occurred_at_us == SPEC_TS_US);
	mentor_event_clear(&ev);
}

static void test_roster_missing_agent(void **state)
{
	(void)state;
	expect_field_reject(MENTOR_EVENT_ROSTER, "agent_id", NULL, MENTOR_REJECT_MISSING_FIELD,
			    "agent_id: missing");
	expect_field_reject(MENTOR_EVENT_ROSTER, "agent_id", "null", MENTOR_REJECT_MISSING_FIELD,
			    "agent_id: missing");
}

static void test_roster_wrong_types(void **state)
{
	static const struct {
		const char *key, *json, *needle;
	} cases[] = {
		{ "name", "1", "name: expected a string, got integer" },
		{ "team_id", "7", "team_id: expected a string" },
		{ "team_lead_id", "{}", "team_lead_id: expected a string" },
		{ "site", "[]", "site: expected a string" },
		{ "language", "false", "language: expected a string, got boolean" },
		{ "active", "\"true\"", "active: expected a boolean, got string" },
		{ "active", "1", "active: expected a boolean, got integer" },
		{ "event_id", "5", "event_id: expected a string" },
		{ "occurred_at", "5", "occurred_at: expected" },
		{ "agent_id", "1024.0", "agent_id: expected a string, got real" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_field_reject(MENTOR_EVENT_ROSTER, cases[i].key, cases[i].json,
				    MENTOR_REJECT_WRONG_TYPE, cases[i].needle);
}

static void test_roster_bad_ids(void **state)
{
	(void)state;
	expect_field_reject(MENTOR_EVENT_ROSTER, "team_id", "\"\"", MENTOR_REJECT_BAD_ID,
			    "team_id");
	expect_field_reject(MENTOR_EVENT_ROSTER, "language", "\"e\\u0000n\"", MENTOR_REJECT_BAD_ID,
			    "language");
	expect_field_reject(MENTOR_EVENT_ROSTER, "site", "\"W\\rPG\"", MENTOR_REJECT_BAD_ID,
			    "site");
	expect_field_reject(MENTOR_EVENT_ROSTER, "name", "\"\"", MENTOR_REJECT_BAD_ID, "name");
	expect_field_reject(MENTOR_EVENT_ROSTER, "team_lead_id", "\"L\\u00033\"",
			    MENTOR_REJECT_BAD_ID, "team_lead_id");
	expect_field_reject(MENTOR_EVENT_ROSTER, "occurred_at", "\"now\"",
			    MENTOR_REJECT_BAD_TIMESTAMP, "occurred_at");
}

/* ---- field maps ------------------------------------------------------- */

static void unmap_all(struct mentor_field_map *m)
{
	for (int f = 0; f < MENTOR_F_COUNT; f++)
		m->pointer[f][0] = '\0';
}

static void set_pointer(struct mentor_field_map *m, enum mentor_field f, const char *ptr)
{
	assert_true(strlen(ptr) < sizeof(m->pointer[f]));
	strcpy(m->pointer[f], ptr);
}

static const char vendor_doc[] =
	"{\"meta\":{\"type\":\"x\",\"id\":\"e1\"},\"agent\":{\"id\":\"A1\"},"
	"\"ts\":\"2026-11-02T14:05:11Z\",\"survey\":{\"csat\":{\"score\":4}}}";

static void vendor_rules(struct mentor_event_rules *r)
{
	struct mentor_field_map *m = &r->map[MENTOR_EVENT_VOC];

	mentor_event_rules_init(r);
	unmap_all(m);
	set_pointer(m, MENTOR_F_EVENT_ID, "/meta/id");
	set_pointer(m, MENTOR_F_AGENT_ID, "/agent/id");
	set_pointer(m, MENTOR_F_OCCURRED_AT, "/ts");
	set_pointer(m, MENTOR_F_CSAT, "/survey/csat/score");
}

static void test_map_vendor_shape(void **state)
{
	struct mentor_event_rules r;
	struct mentor_event ev;

	(void)state;
	vendor_rules(&r);
	parse_ok_rules(&r, MENTOR_EVENT_VOC, vendor_doc, &ev);
	assert_string_equal(ev.event_id, "e1");
	assert_string_equal(ev.agent_id, "A1");
	assert_true(ev.occurred_at_us == SPEC_TS_US);
	assert_int_equal(ev.csat, 4);
	assert_int_equal(ev.nps, -1);
	assert_null(ev.interaction_id);
	mentor_event_clear(&ev);
	/* The default map finds none of it. */
	expect_reject(MENTOR_EVENT_VOC, vendor_doc, MENTOR_REJECT_UNKNOWN_SCHEMA,
		      "schema: missing");
	/* Errors name the field, not the vendor's path. */
	expect_reject_rules(&r, MENTOR_EVENT_VOC,
			    "{\"meta\":{\"id\":\"e1\"},\"agent\":{\"id\":\"A1\"},"
			    "\"ts\":\"2026-11-02T14:05:11Z\",\"survey\":{\"csat\":{}}}",
			    MENTOR_REJECT_MISSING_FIELD, "csat: missing");
	expect_reject_rules(&r, MENTOR_EVENT_VOC,
			    "{\"meta\":{\"id\":\"e1\"},\"agent\":{\"id\":\"A1\"},"
			    "\"ts\":\"2026-11-02T14:05:11Z\",\"survey\":{\"csat\":{\"score\":9}}}",
			    MENTOR_REJECT_OUT_OF_RANGE, "csat: 9 is outside 1..5");
	/* A step through a scalar finds nothing. */
	expect_reject_rules(&r, MENTOR_EVENT_VOC,
			    "{\"meta\":{\"id\":\"e1\"},\"agent\":\"A1\","
			    "\"ts\":\"2026-11-02T14:05:11Z\",\"survey\":{\"csat\":{\"score\":3}}}",
			    MENTOR_REJECT_MISSING_FIELD, "agent_id: missing");
}

static void test_map_schema_pointer(void **state)
{
	struct mentor_event_rules r;
	struct mentor_event ev;

	(void)state;
	vendor_rules(&r);
	set_pointer(&r.map[MENTOR_EVENT_VOC], MENTOR_F_SCHEMA, "/meta/type");
	expect_reject_rules(&r, MENTOR_EVENT_VOC, vendor_doc, MENTOR_REJECT_UNKNOWN_SCHEMA,
			    "schema: \"x\" is not \"voc.v1\"");
	parse_ok_rules(&r, MENTOR_EVENT_VOC,
		       "{\"meta\":{\"type\":\"voc.v1\",\"id\":\"e1\"},\"agent\":{\"id\":\"A1\"},"
		       "\"ts\":\"2026-11-02T14:05:11Z\",\"survey\":{\"csat\":{\"score\":4}}}", &ev);
	mentor_event_clear(&ev);
}

static void test_map_pointer_escapes_and_index(void **state)
{
	struct mentor_event_rules r;
	struct mentor_field_map *m;
	struct mentor_event ev;
	static const char doc[] =
		"{\"a/b\":{\"m~n\":[\"x\",\"A7\"]},\"ids\":[\"e0\",\"e1\"],"
		"\"\":{\"t\":\"2026-11-02T14:05:11Z\"},\"~1\":3,\"s\":[[1],[2,{\"c\":5}]]}";

	(void)state;
	mentor_event_rules_init(&r);
	m = &r.map[MENTOR_EVENT_VOC];
	unmap_all(m);
	set_pointer(m, MENTOR_F_AGENT_ID, "/a~1b/m~0n/1");
	set_pointer(m, MENTOR_F_EVENT_ID, "/ids/0");
	set_pointer(m, MENTOR_F_OCCURRED_AT, "//t");
	/* "~01" is "~1", not "/": escapes are undone left to right once. */
	set_pointer(m, MENTOR_F_NPS, "/~01");
	set_pointer(m, MENTOR_F_CSAT, "/s/1/1/c");
	parse_ok_rules(&r, MENTOR_EVENT_VOC, doc, &ev);
	assert_string_equal(ev.agent_id, "A7");
	assert_string_equal(ev.event_id, "e0");
	assert_true(ev.occurred_at_us == SPEC_TS_US);
	assert_int_equal(ev.nps, 3);
	assert_int_equal(ev.csat, 5);
	mentor_event_clear(&ev);

	/* Indexes that name nothing: out of range, leading zero, "-", not a number. */
	set_pointer(m, MENTOR_F_EVENT_ID, "/ids/2");
	expect_reject_rules(&r, MENTOR_EVENT_VOC, doc, MENTOR_REJECT_MISSING_FIELD,
			    "event_id: missing");
	set_pointer(m, MENTOR_F_EVENT_ID, "/ids/01");
	expect_reject_rules(&r, MENTOR_EVENT_VOC, doc, MENTOR_REJECT_MISSING_FIELD, "event_id");
	set_pointer(m, MENTOR_F_EVENT_ID, "/ids/-");
	expect_reject_rules(&r, MENTOR_EVENT_VOC, doc, MENTOR_REJECT_MISSING_FIELD, "event_id");
	set_pointer(m, MENTOR_F_EVENT_ID, "/ids/x");
	expect_reject_rules(&r, MENTOR_EVENT_VOC, doc, MENTOR_REJECT_MISSING_FIELD, "event_id");
	set_pointer(m, MENTOR_F_EVENT_ID, "/ids/99999999999999999999999");
	expect_reject_rules(&r, MENTOR_EVENT_VOC, doc, MENTOR_REJECT_MISSING_FIELD, "event_id");
	/* Unescaped "a/b" is two steps, and there is no "a". */
	set_pointer(m, MENTOR_F_EVENT_ID, "/ids/1");
	set_pointer(m, MENTOR_F_AGENT_ID, "/a/b/m~0n/1");
	expect_reject_rules(&r, MENTOR_EVENT_VOC, doc, MENTOR_REJECT_MISSING_FIELD,
			    "agent_id: missing");
}

static void test_map_invalid_pointer(void **state)
{
	struct mentor_event_rules r;
	struct mentor_field_map *m;
	char doc[DOC_CAP];

	(void)state;
	mentor_event_rules_init(&r);
	m = &r.map[MENTOR_EVENT_VOC];
	doc_with(doc, sizeof(doc), MENTOR_EVENT_VOC, NULL, NULL);
	set_pointer(m, MENTOR_F_CSAT, "csat");
	expect_reject_rules(&r, MENTOR_EVENT_VOC, doc, MENTOR_REJECT_MISSING_FIELD,
			    "csat: mapped to an invalid JSON pointer");
	set_pointer(m, MENTOR_F_CSAT, "/csat~2");
	expect_reject_rules(&r, MENTOR_EVENT_VOC, doc, MENTOR_REJECT_MISSING_FIELD, "csat");
	set_pointer(m, MENTOR_F_CSAT, "/csat~");
	expect_reject_rules(&r, MENTOR_EVENT_VOC, doc, MENTOR_REJECT_MISSING_FIELD, "csat");
	/* Optional fields too: a broken map must not drop data quietly. */
	set_pointer(m, MENTOR_F_CSAT, "/csat");
	set_pointer(m, MENTOR_F_ITEMS, "items");
	expect_reject_rules(&r, MENTOR_EVENT_VOC, doc, MENTOR_REJECT_MISSING_FIELD, "items");
	/* A pointer filling the whole slot without a terminator is refused, not overrun. */
	memset(m->pointer[MENTOR_F_ITEMS], '/', sizeof(m->pointer[MENTOR_F_ITEMS]));
	expect_reject_rules(&r, MENTOR_EVENT_VOC, doc, MENTOR_REJECT_MISSING_FIELD, "items");
}

static void test_map_required_unmapped(void **state)
{
	struct mentor_event_rules r;
	char doc[DOC_CAP];

	(void)state;
	mentor_event_rules_init(&r);
	r.map[MENTOR_EVENT_AQM].pointer[MENTOR_F_OVERALL][0] = '\0';
	expect_reject_rules(&r, MENTOR_EVENT_AQM,
			    doc_with(doc, sizeof(doc), MENTOR_EVENT_AQM, NULL, NULL),
			    MENTOR_REJECT_MISSING_FIELD, "overall: required but not mapped");
}

static void test_map_optional_unmapped(void **state)
{
	struct mentor_event_rules r;
	struct mentor_event ev;
	char doc[DOC_CAP];

	(void)state;
	mentor_event_rules_init(&r);
	r.map[MENTOR_EVENT_VOC].pointer[MENTOR_F_NPS][0] = '\0';
	r.map[MENTOR_EVENT_VOC].pointer[MENTOR_F_SCHEMA][0] = '\0';
	/* Unmapped fields are not read, whatever the document holds there. */
	parse_ok_rules(&r, MENTOR_EVENT_VOC,
		       doc_with(doc, sizeof(doc), MENTOR_EVENT_VOC, "schema", "\"aqm.v1\""), &ev);
	assert_int_equal(ev.nps, -1);
	mentor_event_clear(&ev);
}

/* ---- lifecycle and details -------------------------------------------- */

/* ---- programs --------------------------------------------------------- */

static void test_program_present_and_absent(void **state)
{
	struct mentor_event ev;

	(void)state;
	parse_field_ok(MENTOR_EVENT_AQM, NULL, NULL, &ev);
	assert_null(ev.program);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_AQM, "program", "\"acme-billing\"", &ev);
	assert_string_equal(ev.program, "acme-billing");
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_VOC, "program", "\"Tech support \\u00e9\"", &ev);
	assert_string_equal(ev.program, "Tech support \xc3\xa9");
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_VOC, "program", "null", &ev);
	assert_null(ev.program);
	mentor_event_clear(&ev);
	/* A roster event has no program field (it has programs): one there is ignored. */
	parse_field_ok(MENTOR_EVENT_ROSTER, "program", "17", &ev);
	assert_null(ev.program);
	assert_null(ev.programs);
	mentor_event_clear(&ev);
}

static void test_program_bad(void **state)
{
	char long_id[MENTOR_ID_MAX + 8];

	(void)state;
	expect_field_reject(MENTOR_EVENT_AQM, "program", "\"\"", MENTOR_REJECT_BAD_ID, "program: \"\" is empty");
	expect_field_reject(MENTOR_EVENT_VOC, "program", "\"a\\tb\"", MENTOR_REJECT_BAD_ID,
			    "program: \"a\\x09b\" contains a control character");
	expect_field_reject(MENTOR_EVENT_AQM, "program", "\"a\\u0000b\"", MENTOR_REJECT_BAD_ID,
			    "contains a NUL character");
	expect_field_reject(MENTOR_EVENT_AQM, "program", "7", MENTOR_REJECT_WRONG_TYPE,
			    "program: expected a string, got integer");
	expect_field_reject(MENTOR_EVENT_VOC, "program", "[\"a\"]", MENTOR_REJECT_WRONG_TYPE,
			    "program: expected a string, got array");
	long_id[0] = '"';
	memset(long_id + 1, 'p', MENTOR_ID_MAX);
	strcpy(long_id + 1 + MENTOR_ID_MAX, "\"");
	expect_field_reject(MENTOR_EVENT_AQM, "program", long_id, MENTOR_REJECT_BAD_ID, "is longer than 127 bytes");
	long_id[MENTOR_ID_MAX] = '"';  /* 127 bytes */
	long_id[MENTOR_ID_MAX + 1] = '\0';
	accept_field(MENTOR_EVENT_AQM, "program", long_id);
}

static void test_program_mapped(void **state)
{
	struct mentor_event_rules r;
	struct mentor_event ev;
	const char doc[] = "{\"schema\":\"aqm.v1\",\"event_id\":\"q1\",\"agent_id\":\"A1\","
			   "\"occurred_at\":\"2026-11-02T14:05:11Z\",\"overall\":50,"
			   "\"program\":\"ignored\",\"client\":{\"form\":\"acme-billing\"}}";

	(void)state;
	mentor_event_rules_init(&r);
	set_pointer(&r.map[MENTOR_EVENT_AQM], MENTOR_F_PROGRAM, "/client/form");
	parse_ok_rules(&r, MENTOR_EVENT_AQM, doc, &ev);
	assert_string_equal(ev.program, "acme-billing");
	mentor_event_clear(&ev);
	/* Unmapped: never read. */
	r.map[MENTOR_EVENT_AQM].pointer[MENTOR_F_PROGRAM][0] = '\0';
	parse_ok_rules(&r, MENTOR_EVENT_AQM, doc, &ev);
	assert_null(ev.program);
	mentor_event_clear(&ev);
	set_pointer(&r.map[MENTOR_EVENT_AQM], MENTOR_F_PROGRAM, "/client");
	expect_reject_rules(&r, MENTOR_EVENT_AQM, doc, MENTOR_REJECT_WRONG_TYPE,
			    "program: expected a string, got object");
}

/* The programs of a roster event, comma-separated. */
static void programs_text(const struct mentor_event *ev, char *out, size_t cap)
{
	size_t i;
	json_t *item;

	out[0] = '\0';
	json_array_foreach(ev->programs, i, item) {
		append(out, cap, i ? "," : "");
		append(out, cap, json_string_value(item));
	}
}

static void test_roster_programs(void **state)
{
	struct mentor_event ev;
	char text[256];

	(void)state;
	parse_field_ok(MENTOR_EVENT_ROSTER, NULL, NULL, &ev);
	assert_null(ev.programs);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_ROSTER, "programs", "[\"acme-billing\"]", &ev);
	programs_text(&ev, text, sizeof(text));
	assert_string_equal(text, "acme-billing");
	mentor_event_clear(&ev);
	/* Duplicates dropped, the first place of each kept. */
	parse_field_ok(MENTOR_EVENT_ROSTER, "programs", "[\"b\",\"a\",\"b\",\"c\",\"a\",\"a\"]", &ev);
	programs_text(&ev, text, sizeof(text));
	assert_string_equal(text, "b,a,c");
	mentor_event_clear(&ev);
	/* Empty: the roster says the agent has none. */
	parse_field_ok(MENTOR_EVENT_ROSTER, "programs", "[]", &ev);
	assert_non_null(ev.programs);
	assert_int_equal(json_array_size(ev.programs), 0);
	mentor_event_clear(&ev);
	parse_field_ok(MENTOR_EVENT_ROSTER, "programs", "null", &ev);
	assert_null(ev.programs);
	mentor_event_clear(&ev);
	/* Score events have no programs field. */
	parse_field_ok(MENTOR_EVENT_VOC, "programs", "5", &ev);
	assert_null(ev.programs);
	mentor_event_clear(&ev);
}

static void test_roster_programs_bad(void **state)
{
	char doc[DOC_CAP] = "[";

	(void)state;
	expect_field_reject(MENTOR_EVENT_ROSTER, "programs", "\"acme\"", MENTOR_REJECT_WRONG_TYPE,
			    "programs: expected an array, got string");
	expect_field_reject(MENTOR_EVENT_ROSTER, "programs", "{}", MENTOR_REJECT_WRONG_TYPE,
			    "programs: expected an array, got object");
	expect_field_reject(MENTOR_EVENT_ROSTER, "programs", "[\"a\",3]", MENTOR_REJECT_WRONG_TYPE,
			    "programs[1]: expected a string, got integer");
	expect_field_reject(MENTOR_EVENT_ROSTER, "programs", "[\"a\",\"\"]", MENTOR_REJECT_BAD_ID,
			    "programs[1]: \"\" is empty");
	expect_field_reject(MENTOR_EVENT_ROSTER, "programs", "[\"a\\nb\"]", MENTOR_REJECT_BAD_ID,
			    "programs[0]: \"a\\x0ab\" contains a control character");
	for (int i = 0; i <= MENTOR_SCORES_MAX; i++)
		append(doc, sizeof(doc), i ? ",\"p\"" : "\"p\"");
	append(doc, sizeof(doc), "]");
	/* The count comes first, duplicates or not. */
	expect_field_reject(MENTOR_EVENT_ROSTER, "programs", doc, MENTOR_REJECT_TOO_MANY,
			    "programs: 65 entries, more than 64");
}

static void test_id_problem(void **state)
{
	(void)state;
	assert_null(mentor_id_problem("acme", 4));
	assert_string_equal(mentor_id_problem("", 0), "is empty");
	assert_string_equal(mentor_id_problem("a\x1f" "b", 3), "contains a control character");
	assert_string_equal(mentor_id_problem("a\x7f", 2), "contains a control character");
	assert_string_equal(mentor_id_problem("a\0b", 3), "contains a NUL character");
}

static void test_clear_is_safe(void **state)
{
	struct mentor_event ev;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	mentor_event_clear(&ev);
	mentor_event_clear(&ev);
	mentor_event_clear(NULL);
	assert_cleared(&ev);
	/* A rejected event needs no clear, but one does no harm. */
	assert_false(mentor_event_parse(&(struct mentor_event_rules){ .max_message_bytes = 10 },
					MENTOR_EVENT_VOC, "[]", 2, NOW_US, &ev, NULL));
	mentor_event_clear(&ev);
	assert_cleared(&ev);
}

static void test_unknown_kind(void **state)
{
	struct mentor_event_rules r;

	(void)state;
	mentor_event_rules_init(&r);
	expect_reject_rules(&r, MENTOR_EVENT_KIND_COUNT, "{}", MENTOR_REJECT_UNKNOWN_SCHEMA,
			    "schema");
}

static void test_detail_bounds(void **state)
{
	char json[2048];

	(void)state;
	/* 300 x "é": the detail is cut on a character boundary and stays valid UTF-8. */
	json[0] = '\0';
	append(json, sizeof(json), "\"");
	for (int i = 0; i < 300; i++)
		append(json, sizeof(json), "\xc3\xa9");
	append(json, sizeof(json), "\"");
	expect_field_reject(MENTOR_EVENT_VOC, "schema", json, MENTOR_REJECT_UNKNOWN_SCHEMA,
			    "schema: \"\xc3\xa9\xc3\xa9");
	expect_field_reject(MENTOR_EVENT_VOC, "agent_id", json, MENTOR_REJECT_BAD_ID, "agent_id");
	expect_field_reject(MENTOR_EVENT_VOC, "occurred_at", json, MENTOR_REJECT_BAD_TIMESTAMP,
			    "occurred_at");
	/* Quotes, backslashes and controls from the message are escaped in the detail. */
	expect_field_reject(MENTOR_EVENT_VOC, "schema", "\"a\\\"b\\\\c\\nd\"",
			    MENTOR_REJECT_UNKNOWN_SCHEMA, "schema: \"a\\\"b\\\\c\\x0ad\"");
	/* A long key of multi-byte characters in a nested label. */
	json[0] = '\0';
	append(json, sizeof(json), "{\"");
	for (int i = 0; i < 60; i++)
		append(json, sizeof(json), "\xe6\x97\xa5");
	append(json, sizeof(json), "\":9}");
	expect_field_reject(MENTOR_EVENT_VOC, "items", json, MENTOR_REJECT_BAD_ID, "items: key");
	/* Raw bytes jansson quotes in its own message are escaped too. */
	expect_reject(MENTOR_EVENT_VOC, "{\"a\":\"x\x01y\"}", MENTOR_REJECT_MALFORMED_JSON,
		      "message");
	expect_reject(MENTOR_EVENT_VOC, "{\"a\":\"\xc3\xa9\xe6\x97\xa5\x7f\",\"b\":nope}",
		      MENTOR_REJECT_MALFORMED_JSON, "message");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules_defaults),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_voc_spec_example),
		cmocka_unit_test(test_voc_minimal),
		cmocka_unit_test(test_voc_null_optional),
		cmocka_unit_test(test_voc_missing_required),
		cmocka_unit_test(test_voc_csat_range),
		cmocka_unit_test(test_voc_csat_custom_scale),
		cmocka_unit_test(test_voc_nps),
		cmocka_unit_test(test_voc_items_range),
		cmocka_unit_test(test_voc_items_keys),
		cmocka_unit_test(test_voc_items_too_many),
		cmocka_unit_test(test_voc_wrong_types),
		cmocka_unit_test(test_voc_unknown_fields_ignored),
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_ids_empty),
		cmocka_unit_test(test_ids_length),
		cmocka_unit_test(test_ids_embedded_nul),
		cmocka_unit_test(test_ids_control_chars),
		cmocka_unit_test(test_ids_sql_and_unicode_accepted),
		cmocka_unit_test(test_time_utc),
		cmocka_unit_test(test_time_offsets),
		cmocka_unit_test(test_time_fractions),
		cmocka_unit_test(test_time_leap_years),
		cmocka_unit_test(test_time_leap_second),
		cmocka_unit_test(test_time_invalid_forms),
		cmocka_unit_test(test_occurred_at_bad_timestamp),
		cmocka_unit_test(test_occurred_at_with_offset_and_leap_day),
		cmocka_unit_test(test_future_timestamp),
		cmocka_unit_test(test_too_old),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_oversize_before_parse),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_malformed_json),
		cmocka_unit_test(test_nan_and_infinity),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_aqm_spec_example),
		cmocka_unit_test(test_aqm_minimal),
		cmocka_unit_test(test_aqm_missing_required),
		cmocka_unit_test(test_aqm_null_optional),
		cmocka_unit_test(test_aqm_overall_range),
		cmocka_unit_test(test_aqm_behaviors),
		cmocka_unit_test(test_aqm_fatal),
		cmocka_unit_test(test_aqm_wrong_types),
		cmocka_unit_test(test_roster_spec_example),
		cmocka_unit_test(test_roster_minimal_and_active),
		cmocka_unit_test(test_roster_missing_agent),
		cmocka_unit_test(test_roster_wrong_types),
		cmocka_unit_test(test_roster_bad_ids),
		cmocka_unit_test(test_program_present_and_absent),
		cmocka_unit_test(test_program_bad),
		cmocka_unit_test(test_program_mapped),
		cmocka_unit_test(test_roster_programs),
		cmocka_unit_test(test_roster_programs_bad),
		cmocka_unit_test(test_id_problem),
		cmocka_unit_test(test_map_vendor_shape),
		cmocka_unit_test(test_map_schema_pointer),
		cmocka_unit_test(test_map_pointer_escapes_and_index),
		cmocka_unit_test(test_map_invalid_pointer),
		cmocka_unit_test(test_map_required_unmapped),
		cmocka_unit_test(test_map_optional_unmapped),
		cmocka_unit_test(test_clear_is_safe),
		cmocka_unit_test(test_unknown_kind),
		cmocka_unit_test(test_detail_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
