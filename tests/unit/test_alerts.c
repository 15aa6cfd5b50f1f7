/*
 * Alerts: signatures against independently computed values, bodies (and what
 * they make of hostile text), backoff, classification, Retry-After, route
 * addresses, the webhook-id header and answers quoted in last_error.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mentor/alerts.h"
#include "test_util.h"

/* ---- signing ---- */

/*
 * The Standard Webhooks specification's own example. Expected value from:
 * python3 -c 'import hmac,hashlib,base64; k=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
 *   print(base64.b64encode(hmac.new(k, b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}",
 *   hashlib.sha256).digest()).decode())'
 * -> g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
 */
static void test_sign_whsec(void **state)
{
	const char *body = "{\"test\": 2432232314}";
	struct mentor_error err = { 0 };
	char *sig = NULL;

	(void)state;
	assert_int_equal(mentor_alert_sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body),
					   "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", &sig, &err),
			 MENTOR_OK);
	assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
	free(sig);
}

/*
 * A secret without whsec_ is its raw bytes. Expected values from:
 * python3 -c 'import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b"plain secret",
 *   b"a1.1700000000.{\"kind\":\"fatal_behavior\"}", hashlib.sha256).digest()).decode())'
 * -> e9j9mtapeeZcqrQqT7HShxHK8hmH1bSYFF/omP3vYhY=
 * Two secrets (rotation): two signatures, in file order, one space apart;
 * comments, blank lines and surrounding blanks are ignored.
 */
static void test_sign_raw_and_rotation(void **state)
{
	const char *body = "{\"kind\":\"fatal_behavior\"}";
	struct mentor_error err = { 0 };
	char *sig = NULL;

	(void)state;
	assert_int_equal(mentor_alert_sign("a1", 1700000000, body, strlen(body), "plain secret", &sig, &err),
			 MENTOR_OK);
	assert_string_equal(sig, "v1,e9j9mtapeeZcqrQqT7HShxHK8hmH1bSYFF/omP3vYhY=");
	free(sig);
	assert_int_equal(mentor_alert_sign("a1", 1700000000, body, strlen(body),
					   "# new secret first\n  plain secret \r\n\nwhsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
					   &sig, &err),
			 MENTOR_OK);
	assert_int_equal(strncmp(sig, "v1,e9j9mtapeeZcqrQqT7HShxHK8hmH1bSYFF/omP3vYhY= v1,", 51), 0);
	assert_int_equal(strlen(sig), 47 * 2 + 1);
	free(sig);
}

static void test_sign_refusals(void **state)
{
	struct mentor_error err = { 0 };
	char *sig = NULL;
	unsigned char *key = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(mentor_alert_sign("a", 1, "{}", 2, "", &sig, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_alert_sign("a", 1, "{}", 2, "# only a comment\n\n", &sig, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_alert_sign("a", 1, "{}", 2, "whsec_not base64!", &sig, &err), MENTOR_ERR_INVALID);
	assert_null(strstr(err.msg, "not base64!"));  /* the message never quotes a secret */
	assert_int_equal(mentor_alert_sign("a", 1, "{}", 2, "whsec_", &sig, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_alert_sign("a", 1, "{}", 2, "whsec_YWJj=", &sig, &err), MENTOR_ERR_INVALID);
	assert_null(sig);
	assert_int_equal(mentor_alert_secret_decode("whsec_YWJjZA==", 14, &key, &len, &err), MENTOR_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(key, "abcd", 4);
	free(key);
	assert_int_equal(mentor_alert_secret_decode("whsec_YWJj", 10, &key, &len, &err), MENTOR_OK);
	assert_int_equal(len, 3);
	free(key);
}

/* ---- bodies ---- */

static const char payload[] =
	"{\"schema\":\"mentord.alert.v1\",\"alert_id\":\"low:A0007:empathy:2026-10-02\",\"kind\":\"low_score_trigger\","
	"\"occurred_at\":\"2026-10-02T10:00:00Z\",\"team_lead_id\":\"L3\",\"agent_id\":\"A0007\",\"behavior\":\"empathy\","
	"\"score\":0.41,\"threshold\":0.55,\"n\":23,\"window_days\":28,\"note\":\"<b> & co\",\"extra\":{\"x\":1}}";

static json_t *render(enum mentor_alert_format f, const char *p)
{
	struct mentor_error err = { 0 };
	char *body = NULL;
	json_t *root;

	assert_int_equal(mentor_alert_render(f, "low_score_trigger", p, &body, &err), MENTOR_OK);
	root = json_loads(body, 0, NULL);
	assert_non_null(root);
	free(body);
	return root;
}

static void test_render_json(void **state)
{
	struct mentor_error err = { 0 };
	char *body = NULL;

	(void)state;
	assert_int_equal(mentor_alert_render(MENTOR_ALERT_FORMAT_JSON, "low_score_trigger", payload, &body, &err),
			 MENTOR_OK);
	assert_string_equal(body, payload);
	free(body);
	assert_int_equal(mentor_alert_render(MENTOR_ALERT_FORMAT_JSON, "x", "[1]", &body, &err), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_alert_render(MENTOR_ALERT_FORMAT_SLACK, "x", "{", &body, &err), MENTOR_ERR_INVALID);
}

/* The i-th block (Teams: card body item) of a rendered body, and its first TextRun's text. */
static const char *teams_text_at(json_t *root, size_t i)
{
	json_t *body = json_object_get(json_object_get(json_array_get(json_object_get(root, "attachments"), 0),
						       "content"), "body");

	return json_string_value(json_object_get(json_array_get(json_object_get(json_array_get(body, i), "inlines"), 0),
						 "text"));
}

static void test_render_slack(void **state)
{
	json_t *root = render(MENTOR_ALERT_FORMAT_SLACK, payload), *blocks, *fields;
	const char *text;

	(void)state;
	text = json_string_value(json_object_get(root, "text"));
	assert_non_null(text);
	assert_string_equal(text, "Low score: A0007 in empathy: A0007 scores 0.41 in empathy "
				  "(threshold 0.55, 23 observations over 28 days).");
	blocks = json_object_get(root, "blocks");
	assert_int_equal(json_array_size(blocks), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(blocks, 0), "type")), "header");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(blocks, 1), "text"),
							      "type")), "plain_text");
	fields = json_object_get(json_array_get(blocks, 2), "fields");
	assert_int_equal(json_array_size(fields), 10);  /* Slack's limit; the object field is not a scalar */
	assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 0), "text")),
			    "schema: mentord.alert.v1");
	/* Plain text, and Slack's control characters as entities. */
	for (size_t i = 0; i < json_array_size(fields); i++) {
		const char *f = json_string_value(json_object_get(json_array_get(fields, i), "text"));

		assert_string_equal(json_string_value(json_object_get(json_array_get(fields, i), "type")), "plain_text");
		if (strncmp(f, "note", 4) == 0)
			assert_string_equal(f, "note: &lt;b&gt; &amp; co");
	}
	json_decref(root);
}

static void test_render_teams(void **state)
{
	json_t *root = render(MENTOR_ALERT_FORMAT_TEAMS, payload), *att, *card, *body;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(root, "type")), "message");
	att = json_array_get(json_object_get(root, "attachments"), 0);
	assert_string_equal(json_string_value(json_object_get(att, "contentType")),
			    "application/vnd.microsoft.card.adaptive");
	card = json_object_get(att, "content");
	assert_string_equal(json_string_value(json_object_get(card, "type")), "AdaptiveCard");
	body = json_object_get(card, "body");
	assert_string_equal(teams_text_at(root, 0), "Low score: A0007 in empathy");
	assert_string_equal(teams_text_at(root, 1), "A0007 scores 0.41 in empathy (threshold 0.55, 23 observations "
						    "over 28 days).");
	/* Title, summary, then every scalar field: RichTextBlocks of TextRuns, the value as it is (no entities). */
	assert_int_equal(json_array_size(body), 2 + 12);
	assert_string_equal(json_string_value(json_object_get(json_array_get(body, 2), "type")), "RichTextBlock");
	assert_string_equal(teams_text_at(root, 2), "schema: mentord.alert.v1");
	assert_string_equal(teams_text_at(root, 13), "note: <b> & co");
	json_decref(root);
	/* A missing field reads as "?"; an unknown kind still renders. */
	root = render(MENTOR_ALERT_FORMAT_TEAMS, "{\"kind\":\"pairing_created\",\"agent_id\":\"A1\"}");
	assert_string_equal(teams_text_at(root, 0), "New pairing: A1 with ?");
	json_decref(root);
	root = render(MENTOR_ALERT_FORMAT_SLACK, "{\"kind\":\"something_new\",\"agent_id\":\"A1\"}");
	assert_string_equal(json_string_value(json_object_get(root, "text")), "mentord alert: something_new: A1");
	json_decref(root);
}

/*
 * The program comes first in the title, in brackets, as plain text (Slack's
 * entities in Slack); it is a fact like every scalar field. Without a
 * program (the payloads above) there are no brackets.
 */
static void test_render_program(void **state)
{
	static const char with_program[] =
		"{\"kind\":\"pairing_created\",\"program\":\"acme-billing\",\"agent_id\":\"A1\",\"mentor_id\":\"A2\","
		"\"behavior\":\"empathy\"}";
	static const char hostile_program[] =
		"{\"kind\":\"fatal_behavior\",\"program\":\"<!channel>\\n*acme*\",\"agent_id\":\"A1\","
		"\"behavior\":\"compliance\"}";
	json_t *root, *blocks;

	(void)state;
	root = render(MENTOR_ALERT_FORMAT_SLACK, with_program);
	assert_string_equal(json_string_value(json_object_get(root, "text")),
			    "[acme-billing] New pairing: A1 with A2: A2 will mentor A1 in empathy.");
	blocks = json_object_get(root, "blocks");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(blocks, 0), "text"),
							      "text")),
			    "[acme-billing] New pairing: A1 with A2");
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(json_array_get(blocks, 2),
											       "fields"),
									     1),
							      "text")),
			    "program: acme-billing");
	json_decref(root);
	root = render(MENTOR_ALERT_FORMAT_TEAMS, with_program);
	assert_string_equal(teams_text_at(root, 0), "[acme-billing] New pairing: A1 with A2");
	assert_string_equal(teams_text_at(root, 1), "A2 will mentor A1 in empathy.");
	json_decref(root);
	root = render(MENTOR_ALERT_FORMAT_SLACK, hostile_program);
	assert_string_equal(json_string_value(json_object_get(root, "text")),
			    "[&lt;!channel&gt; *acme*] Fatal behavior: A1 in compliance: A1 failed compliance critically "
			    "in interaction ?.");
	json_decref(root);
	root = render(MENTOR_ALERT_FORMAT_TEAMS, hostile_program);
	assert_string_equal(teams_text_at(root, 0), "[<!channel> *acme*] Fatal behavior: A1 in compliance");
	json_decref(root);
}

#define assert_prefix(s, prefix) assert_memory_equal((s), (prefix), strlen(prefix))

/* Characters, not bytes, of UTF-8 text. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/*
 * Checks every "text" string under v: one line, no control character, at
 * most max_chars characters, and for Slack no markup character but as
 * Slack's entities; every Slack text object plain_text. Returns how many.
 */
static int check_texts(json_t *v, size_t max_chars, bool slack)
{
	const char *key;
	json_t *child;
	size_t i;
	int n = 0;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			n += check_texts(child, max_chars, slack);
		return n;
	}
	if (!json_is_object(v))
		return 0;
	if (slack && json_is_string(json_object_get(v, "type")) && json_object_get(v, "text") &&
	    json_is_string(json_object_get(v, "text")))
		assert_string_equal(json_string_value(json_object_get(v, "type")), "plain_text");
	json_object_foreach(v, key, child) {
		const char *t = json_string_value(child);

		if (strcmp(key, "text") != 0 || !t) {
			n += check_texts(child, max_chars, slack);
			continue;
		}
		n++;
		assert_true(utf8_chars(t) <= max_chars);
		for (const unsigned char *p = (const unsigned char *)t; *p; p++) {
			assert_true(*p >= 0x20 && *p != 0x7F);
			/* U+2028, U+202E */
			assert_false(p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xAE));
			if (slack) {
				assert_true(*p != '<' && *p != '>');
				if (*p == '&')
					assert_true(strncmp((const char *)p, "&amp;", 5) == 0 ||
						    strncmp((const char *)p, "&lt;", 4) == 0 ||
						    strncmp((const char *)p, "&gt;", 4) == 0);
			}
		}
	}
	return n;
}

/*
 * Hostile text in every field a body embeds: Markdown and Slack markup,
 * quotes, backslashes, newlines, control characters, a text-direction
 * override, a line separator, and text far over any limit, in values and in
 * a key. Every body stays valid JSON; Slack and Teams bodies hold it as
 * bounded, one-line plain text; the JSON body is the payload unchanged.
 */
static void test_render_hostile(void **state)
{
	static const char hostile[] = "*A* _i_ ~s~ `c` [l](http://x) <!channel> <@U1|me> &amp; \\\"q\\\" \\\\ "
				      "\\n# H\\r\\t\\u0001\\u001f\\u007f\\u0085 \\u2028 \\u202egnp.exe";
	char *long_text = malloc(20001), *p, *body = NULL;
	struct mentor_error err = { 0 };
	json_t *root;
	size_t len;

	(void)state;
	assert_non_null(long_text);
	memset(long_text, 'x', 20000);
	memcpy(long_text + 140, "&<>", 3);  /* entities straddling the header's cut */
	long_text[20000] = '\0';
	len = strlen(hostile) * 3 + 2 * 20000 + 512;
	p = malloc(len);
	assert_non_null(p);
	snprintf(p, len,
		 "{\"kind\":\"no_mentor_available\",\"agent_id\":\"%s\",\"behavior\":\"%s\",\"reason\":\"%s\","
		 "\"%s\":1,\"agent_name\":\"%s\"}",
		 hostile, long_text, hostile, hostile, long_text);
	for (int f = MENTOR_ALERT_FORMAT_SLACK; f <= MENTOR_ALERT_FORMAT_TEAMS; f++) {
		bool slack = f == MENTOR_ALERT_FORMAT_SLACK;

		root = render((enum mentor_alert_format)f, p);
		/* Slack's limit is 3,000 characters a text object (150 a header): the longest here is 2 summaries. */
		assert_true(check_texts(root, slack ? 2003 : 1000, slack) >= 5);
		body = json_dumps(root, 0);
		assert_null(strstr(body, slack ? "mrkdwn" : "\"TextBlock\""));
		assert_null(strstr(body, "FactSet"));
		assert_true(strlen(body) < 20000);  /* the 20,000-character fields were cut */
		free(body);
		if (slack) {
			const char *header = json_string_value(json_object_get(
				json_object_get(json_array_get(json_object_get(root, "blocks"), 0), "text"), "text"));

			assert_int_equal(utf8_chars(header), 150);
			assert_string_equal(header + strlen(header) - 3, "\xE2\x80\xA6");  /* cut: an ellipsis */
			assert_prefix(header, "No mentor available: *A* _i_ ~s~ `c` [l](http://x) &lt;!channel&gt; "
					      "&lt;@U1|me&gt; &amp;amp; \"q\" \\  # H");
		} else {
			const char *title = teams_text_at(root, 0);

			/* The control characters are 10 spaces. */
			assert_prefix(title, "No mentor available: *A* _i_ ~s~ `c` [l](http://x) <!channel> <@U1|me> "
					     "&amp; \"q\" \\  # H          gnp.exe in xxx");
		}
		json_decref(root);
	}
	assert_int_equal(mentor_alert_render(MENTOR_ALERT_FORMAT_JSON, "x", p, &body, &err), MENTOR_OK);
	assert_string_equal(body, p);
	root = json_loads(body, 0, NULL);
	assert_non_null(root);
	json_decref(root);
	free(body);
	free(p);
	free(long_text);
}

static void test_format_parse(void **state)
{
	enum mentor_alert_format f;

	(void)state;
	assert_int_equal(mentor_alert_format_parse("teams", &f), MENTOR_OK);
	assert_int_equal(f, MENTOR_ALERT_FORMAT_TEAMS);
	assert_int_equal(mentor_alert_format_parse("slack", &f), MENTOR_OK);
	assert_int_equal(f, MENTOR_ALERT_FORMAT_SLACK);
	assert_int_equal(mentor_alert_format_parse("JSON", &f), MENTOR_ERR_INVALID);
	assert_int_equal(mentor_alert_format_parse(NULL, &f), MENTOR_ERR_INVALID);
}

/* ---- retries ---- */

static uint64_t rand_max(void *ctx)
{
	(void)ctx;
	return UINT64_MAX;
}

static uint64_t rand_fixed(void *ctx)
{
	return *(uint64_t *)ctx;
}

/* A seeded, deterministic stand-in for the sender's source; ctx is the generator's state. */
static uint64_t rand_seeded(void *ctx)
{
	return splitmix64(ctx);
}

static void test_backoff(void **state)
{
	struct mentor_alert_retry_policy p;
	uint64_t seed = 88172645463325252ULL, zero = 0;
	int64_t ceiling = 1000;

	(void)state;
	mentor_alert_retry_policy_init(&p);
	assert_int_equal(p.horizon_ms, 72LL * 3600 * 1000);
	/* The ceiling doubles from base to cap: UINT64_MAX % (c + 1) is c only for c + 1 a power of two,
	 * so check bounds with a random source instead, and the exact ceiling with fixed values. */
	for (int attempt = 1; attempt <= 100; attempt++) {
		uint64_t c = (uint64_t)(attempt <= 12 ? ceiling : p.cap_ms);
		uint64_t v = c;

		assert_int_equal(mentor_alert_backoff_ms(&p, attempt, rand_fixed, &v), c);
		assert_int_equal(mentor_alert_backoff_ms(&p, attempt, rand_fixed, &zero), 0);
		for (int i = 0; i < 50; i++) {
			int64_t d = mentor_alert_backoff_ms(&p, attempt, rand_seeded, &seed);

			assert_true(d >= 0 && d <= (int64_t)c);
		}
		if (ceiling * 2 <= p.cap_ms)
			ceiling *= 2;
		else
			ceiling = p.cap_ms;
	}
	assert_true(mentor_alert_backoff_ms(&p, 1000000, rand_max, NULL) <= p.cap_ms);
	/* Full jitter spreads over the whole range: the mean of many draws is near half the ceiling. */
	{
		double sum = 0;

		for (int i = 0; i < 10000; i++)
			sum += (double)mentor_alert_backoff_ms(&p, 4, rand_seeded, &seed);
		assert_true(sum / 10000 > 3600 && sum / 10000 < 4400);
	}
	assert_true(mentor_alert_within_horizon(&p, 71LL * 3600 * 1000, 3600 * 1000));
	assert_false(mentor_alert_within_horizon(&p, 71LL * 3600 * 1000, 3600 * 1000 + 1));
}

static void test_next_attempt(void **state)
{
	struct mentor_alert_retry_policy p;
	uint64_t v = 700;
	int64_t delay = -1;

	(void)state;
	mentor_alert_retry_policy_init(&p);
	/* No Retry-After: the backoff of that attempt (ceiling 4,000 ms at attempt 3; 700 % 4001 = 700). */
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_RETRY, 3, 0, -1, rand_fixed, &v, &delay), 1);
	assert_int_equal(delay, 700);
	v = 5000;
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_RETRY, 3, 0, -1, rand_fixed, &v, &delay), 1);
	assert_int_equal(delay, 5000 % 4001);
	/* A Retry-After replaces the backoff, beyond its cap too, and 0 means at once. */
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_RETRY, 3, 0, 2 * 3600 * 1000,
						   rand_max, NULL, &delay), 1);
	assert_int_equal(delay, 2 * 3600 * 1000);
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_RETRY, 1, 0, 0, rand_max, NULL, &delay), 1);
	assert_int_equal(delay, 0);
	/* The horizon counts the delay: exactly at it is still a retry, one ms past it is dead. */
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_RETRY, 1, p.horizon_ms - 60000, 60000,
						   rand_max, NULL, &delay), 1);
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_RETRY, 1, p.horizon_ms - 60000, 60001,
						   rand_max, NULL, &delay), 0);
	assert_int_equal(delay, 60001);
	v = 0;
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_RETRY, 1, p.horizon_ms + 1, -1,
						   rand_fixed, &v, &delay), 0);
	assert_int_equal(delay, 0);
	/* A client error: retried until attempt max_client_errors (3 by default), whatever the horizon says. */
	assert_int_equal(p.max_client_errors, 3);
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_CLIENT_ERROR, 1, 0, -1, rand_fixed, &v, &delay), 1);
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_CLIENT_ERROR, 2, 0, -1, rand_fixed, &v, &delay), 1);
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_CLIENT_ERROR, 3, 0, -1, rand_fixed, &v, &delay), 0);
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_CLIENT_ERROR, 9, 0, -1, rand_fixed, &v, &delay), 0);
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_CLIENT_ERROR, 1, p.horizon_ms + 1, -1, rand_fixed,
						   &v, &delay), 0);
	/* Other failures are not counted against it: a 5xx on attempt 9 is retried. */
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_RETRY, 9, 0, -1, rand_fixed, &v, &delay), 1);
	p.max_client_errors = 1;
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_CLIENT_ERROR, 1, 0, -1, rand_fixed, &v, &delay), 0);
	/* A refused route is given up at once. */
	assert_int_equal(mentor_alert_next_attempt(&p, MENTOR_ALERT_REFUSED_ROUTE, 1, 0, -1, rand_fixed, &v, &delay), 0);
}

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(mentor_alert_classify(200), MENTOR_ALERT_SENT);
	assert_int_equal(mentor_alert_classify(204), MENTOR_ALERT_SENT);
	assert_int_equal(mentor_alert_classify(299), MENTOR_ALERT_SENT);
	assert_int_equal(mentor_alert_classify(410), MENTOR_ALERT_DISABLE_ROUTE);
	assert_int_equal(mentor_alert_classify(0), MENTOR_ALERT_RETRY);
	assert_int_equal(mentor_alert_classify(301), MENTOR_ALERT_RETRY);
	assert_int_equal(mentor_alert_classify(399), MENTOR_ALERT_RETRY);
	assert_int_equal(mentor_alert_classify(400), MENTOR_ALERT_CLIENT_ERROR);
	assert_int_equal(mentor_alert_classify(401), MENTOR_ALERT_CLIENT_ERROR);
	assert_int_equal(mentor_alert_classify(403), MENTOR_ALERT_CLIENT_ERROR);
	assert_int_equal(mentor_alert_classify(404), MENTOR_ALERT_CLIENT_ERROR);
	assert_int_equal(mentor_alert_classify(413), MENTOR_ALERT_CLIENT_ERROR);
	assert_int_equal(mentor_alert_classify(499), MENTOR_ALERT_CLIENT_ERROR);
	assert_int_equal(mentor_alert_classify(408), MENTOR_ALERT_RETRY);
	assert_int_equal(mentor_alert_classify(429), MENTOR_ALERT_RETRY);
	assert_int_equal(mentor_alert_classify(500), MENTOR_ALERT_RETRY);
	assert_int_equal(mentor_alert_classify(503), MENTOR_ALERT_RETRY);
	assert_true(mentor_alert_honours_retry_after(429));
	assert_true(mentor_alert_honours_retry_after(503));
	assert_false(mentor_alert_honours_retry_after(500));
}

static void test_retry_after(void **state)
{
	int64_t d = -1;
	/* 1994-11-06 08:49:37 UTC = 784111777 (python3 -c 'import calendar; print(calendar.timegm((1994,11,6,8,49,37)))') */
	time_t then = 784111777;

	(void)state;
	assert_true(mentor_alert_retry_after_parse("120", then, &d));
	assert_int_equal(d, 120000);
	assert_true(mentor_alert_retry_after_parse(" 0\r\n", then, &d));
	assert_int_equal(d, 0);
	assert_true(mentor_alert_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", then - 30, &d));
	assert_int_equal(d, 30000);
	assert_true(mentor_alert_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", then + 5, &d));
	assert_int_equal(d, 0);
	/* 2026-02-28 23:59:59 -> 2026-03-01 00:00:00 over the month end: 1772323199 + 1. */
	assert_true(mentor_alert_retry_after_parse("Sun, 01 Mar 2026 00:00:00 GMT", 1772323199, &d));
	assert_int_equal(d, 1000);
	assert_false(mentor_alert_retry_after_parse("", then, &d));
	assert_false(mentor_alert_retry_after_parse("-5", then, &d));
	assert_false(mentor_alert_retry_after_parse("12s", then, &d));
	assert_false(mentor_alert_retry_after_parse("Sun, 06 Foo 1994 08:49:37 GMT", then, &d));
	assert_false(mentor_alert_retry_after_parse("Sun, 06 Nov 1994 08:49:37 PST", then, &d));
	assert_false(mentor_alert_retry_after_parse("Sunday, 06-Nov-94 08:49:37 GMT", then, &d));
	assert_false(mentor_alert_retry_after_parse(NULL, then, &d));
}

/* ---- throttling ---- */

static void test_throttle(void **state)
{
	(void)state;
	/* No limit: never held back. */
	assert_int_equal(mentor_alert_throttle_ms(0, 1000, 1000, 5000), 0);
	/* Under the limit, counting the alerts already going out in this round. */
	assert_int_equal(mentor_alert_throttle_ms(3, 1, 1, 5000), 0);
	assert_int_equal(mentor_alert_throttle_ms(3, 2, 0, 5000), 0);
	/* At the limit: held until the oldest send of the hour leaves the window. */
	assert_int_equal(mentor_alert_throttle_ms(3, 2, 1, 5000), 5000);
	assert_int_equal(mentor_alert_throttle_ms(3, 3, 0, 1800000), 1800000);
	assert_int_equal(mentor_alert_throttle_ms(3, 0, 3, 5000), 5000);
	/* At least a second, and a whole hour when the lead sent nothing in the hour (only this round's). */
	assert_int_equal(mentor_alert_throttle_ms(3, 3, 0, 0), 1000);
	assert_int_equal(mentor_alert_throttle_ms(3, 3, 0, 999), 1000);
	assert_int_equal(mentor_alert_throttle_ms(3, 3, 0, 1001), 1001);
	assert_int_equal(mentor_alert_throttle_ms(2, 0, 2, -1), 3600 * 1000);
}

/* ---- routes and answers ---- */

/* Whether the address text (IPv4 or IPv6) is one a route may not reach. */
static int private_address(const char *text)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };

	if (inet_pton(AF_INET, text, &in.sin_addr) == 1)
		return mentor_alert_address_private((const struct sockaddr *)&in);
	assert_int_equal(inet_pton(AF_INET6, text, &in6.sin6_addr), 1);
	return mentor_alert_address_private((const struct sockaddr *)&in6);
}

static void test_address_private(void **state)
{
	static const char *const refused[] = {
		"127.0.0.1", "127.255.255.254", "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255",
		"192.168.0.1", "192.168.255.255", "169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0",
		"0.1.2.3", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "192.0.0.8", "198.18.0.1",
		"::", "::1", "fc00::1", "fd12:3456::1", "fe80::1", "febf::1", "fec0::1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:0.0.0.0", "::127.0.0.1",
		"64:ff9b::10.0.0.1", "64:ff9b::7f00:1", "2002:c0a8:0101::1", "2002:7f00:1::",
	};
	static const char *const allowed[] = {
		"8.8.8.8", "1.1.1.1", "9.255.255.255", "11.0.0.1", "172.15.255.255", "172.32.0.1", "192.167.1.1",
		"192.169.0.1", "169.253.1.1", "169.255.0.1", "100.63.255.255", "100.128.0.1", "126.255.255.255",
		"128.0.0.1", "223.255.255.255", "198.20.0.1", "2001:4860:4860::8888", "2606:4700::1111",
		"::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:0808:0808::1", "fbff::1", "fe00::1",
	};
	struct sockaddr unix_like = { .sa_family = AF_UNIX };

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (!private_address(refused[i]))
			fail_msg("%s should be refused", refused[i]);
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		if (private_address(allowed[i]))
			fail_msg("%s should be allowed", allowed[i]);
	}
	assert_int_equal(mentor_alert_address_private(&unix_like), 1);
}

static void test_header_id(void **state)
{
	static const struct {
		const char *id, *header;
	} cases[] = {
		{ "low_score_trigger:low/e1/empathy", "low_score_trigger:low/e1/empathy" },
		{ "a\r\nX-Injected: 1", "a%0D%0AX-Injected: 1" },
		{ "100%", "100%25" },
		{ "%0A", "%250A" },  /* not confused with an encoded newline */
		{ "caf\xC3\xA9\t\x7F", "caf%C3%A9%09%7F" },
		{ "", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *h = mentor_alert_header_id(cases[i].id);

		assert_non_null(h);
		assert_string_equal(h, cases[i].header);
		free(h);
	}
}

static void test_answer_excerpt(void **state)
{
	char out[160], small[8], big[2000];

	(void)state;
	mentor_alert_answer_excerpt("{\"error\": \"invalid_blocks\"}\r\n", 29, out, sizeof(out));
	assert_string_equal(out, "{\"error\": \"invalid_blocks\"}  ");
	mentor_alert_answer_excerpt("", 0, out, sizeof(out));
	assert_string_equal(out, "");
	/* Control characters, a NUL inside, and bytes that are not UTF-8: one line of valid UTF-8. */
	mentor_alert_answer_excerpt("a\0b\x01\x1b[31m\xff\xfe\xC3(ok\xE2\x80\xA8.", 19, out, sizeof(out));
	assert_string_equal(out, "a b  [31m??" "?(ok .");
	/* Longer than the room: cut on a character boundary, ended with "...", never past out_size - 1 bytes. */
	memset(big, 'a', sizeof(big));
	mentor_alert_answer_excerpt(big, sizeof(big), out, sizeof(out));
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_string_equal(out + sizeof(out) - 4, "...");
	mentor_alert_answer_excerpt("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 10, small, sizeof(small));
	assert_string_equal(small, "\xC3\xA9\xC3\xA9...");
	mentor_alert_answer_excerpt("1234567", 7, small, sizeof(small));
	assert_string_equal(small, "1234567");  /* exactly the room: no cut */
	mentor_alert_answer_excerpt("12345678", 8, small, sizeof(small));
	assert_string_equal(small, "1234...");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_whsec),
		cmocka_unit_test(test_sign_raw_and_rotation),
		cmocka_unit_test(test_sign_refusals),
		cmocka_unit_test(test_render_json),
		cmocka_unit_test(test_render_slack),
		cmocka_unit_test(test_render_teams),
		cmocka_unit_test(test_render_program),
		cmocka_unit_test(test_render_hostile),
		cmocka_unit_test(test_format_parse),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_next_attempt),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_throttle),
		cmocka_unit_test(test_address_private),
		cmocka_unit_test(test_header_id),
		cmocka_unit_test(test_answer_excerpt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
