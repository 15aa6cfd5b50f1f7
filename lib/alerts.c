#include "mentor/alerts.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "civil.h"

int mentor_alert_format_parse(const char *name, enum mentor_alert_format *ret_format)
{
	static const char *const names[] = {
		[MENTOR_ALERT_FORMAT_JSON] = "json",
		[MENTOR_ALERT_FORMAT_SLACK] = "slack",
		[MENTOR_ALERT_FORMAT_TEAMS] = "teams",
	};

	for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*ret_format = (enum mentor_alert_format)i;
			return MENTOR_OK;
		}
	}
	return MENTOR_ERR_INVALID;
}

/* ---- base64 and secrets ---- */

static bool is_b64_char(unsigned char c)
{
	return isalnum(c) || c == '+' || c == '/';
}

/*
 * EVP_DecodeBlock() accepts what it should not (blanks) and counts padding as
 * zero bytes, so check the text here and trim the padding from its length.
 */
static int b64_decode(const char *in, size_t len, unsigned char **ret, size_t *ret_len)
{
	size_t pad = 0;
	unsigned char *out;
	int n;

	if (len == 0 || len % 4 != 0 || len > INT32_MAX)
		return -1;
	while (pad < 2 && in[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (!is_b64_char((unsigned char)in[i]))
			return -1;
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return -2;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad) {
		free(out);
		return -1;
	}
	*ret = out;
	*ret_len = (size_t)n - pad;
	return 0;
}

int mentor_alert_secret_decode(const char *secret, size_t len, unsigned char **ret_key, size_t *ret_len,
			       struct mentor_error *err)
{
	static const char prefix[] = "whsec_";
	unsigned char *key;
	size_t key_len;

	if (len == 0)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "empty secret");
	if (len >= sizeof(prefix) - 1 && memcmp(secret, prefix, sizeof(prefix) - 1) == 0) {
		int rc = b64_decode(secret + sizeof(prefix) - 1, len - (sizeof(prefix) - 1), &key, &key_len);

		if (rc == -2)
			return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		if (rc != 0 || key_len == 0) {
			free(rc == 0 ? key : NULL);
			return mentor_error_set(err, MENTOR_ERR_INVALID, "secret: whsec_ is not followed by base64");
		}
	} else {
		key = malloc(len);
		if (!key)
			return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		memcpy(key, secret, len);
		key_len = len;
	}
	*ret_key = key;
	*ret_len = key_len;
	return MENTOR_OK;
}

/* One signature "v1,<base64>" appended to out (which has room for it). */
static int sign_one(const unsigned char *key, size_t key_len, const unsigned char *msg, size_t msg_len,
		    char *out)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (key_len > INT32_MAX || !HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, mac, &mac_len))
		return -1;
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mac_len);
	return 0;
}

#define SIG_LEN (3 + 44)  /* "v1," + base64 of 32 bytes */

int mentor_alert_sign(const char *msg_id, int64_t timestamp, const char *body, size_t body_len,
		      const char *secrets, char **ret_header, struct mentor_error *err)
{
	char ts[24];
	size_t id_len = strlen(msg_id), ts_len, msg_len, n_sigs = 0, cap = 0;
	unsigned char *msg = NULL;
	char *header = NULL;
	const char *line = secrets;
	int rc = MENTOR_OK;

	ts_len = (size_t)snprintf(ts, sizeof(ts), "%" PRId64, timestamp);
	msg_len = id_len + 1 + ts_len + 1 + body_len;
	msg = malloc(msg_len ? msg_len : 1);
	if (!msg)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	memcpy(msg, msg_id, id_len);
	msg[id_len] = '.';
	memcpy(msg + id_len + 1, ts, ts_len);
	msg[id_len + 1 + ts_len] = '.';
	if (body_len)
		memcpy(msg + id_len + 2 + ts_len, body, body_len);

	while (line && *line) {
		const char *end = strchr(line, '\n'), *next = end ? end + 1 : line + strlen(line);
		const char *a = line, *b = end ? end : next;
		unsigned char *key = NULL;
		size_t key_len = 0;

		while (a < b && (*a == ' ' || *a == '\t' || *a == '\r'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
			b--;
		line = next;
		if (a == b || *a == '#')
			continue;
		rc = mentor_alert_secret_decode(a, (size_t)(b - a), &key, &key_len, err);
		if (rc != MENTOR_OK)
			goto out;
		if (cap < (n_sigs + 1) * (SIG_LEN + 1) + 1) {
			char *grown;

			cap = (n_sigs + 4) * (SIG_LEN + 1) + 1;
			grown = realloc(header, cap);
			if (!grown) {
				free(key);
				rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
				goto out;
			}
			header = grown;
		}
		if (n_sigs)
			header[n_sigs * (SIG_LEN + 1) - 1] = ' ';
		if (sign_one(key, key_len, msg, msg_len, header + n_sigs * (SIG_LEN + 1)) != 0) {
			free(key);
			rc = mentor_error_set(err, MENTOR_ERR_INVALID, "HMAC-SHA256 failed");
			goto out;
		}
		free(key);
		n_sigs++;
	}
	if (n_sigs == 0) {
		rc = mentor_error_set(err, MENTOR_ERR_INVALID, "no secret in the secret file");
		goto out;
	}
	header[n_sigs * (SIG_LEN + 1) - 1] = '\0';
	*ret_header = header;
	header = NULL;
out:
	free(header);
	free(msg);
	return rc;
}

/* ---- bodies ---- */

/*
 * Bounds on what a Slack or Teams body embeds, in characters: Slack refuses a
 * header over 150 (invalid_blocks, a 400 that would kill the alert) and any
 * text over 3,000; a Teams card must stay far under its 28 KB.
 */
#define VALUE_MAX_CHARS 200     /* one field in a title or summary */
#define TITLE_MAX_CHARS 150
#define SUMMARY_MAX_CHARS 1000
#define FACT_KEY_MAX_CHARS 60
#define FACT_VALUE_MAX_CHARS 500
/* Slack allows 10 fields per section block; Teams gets the first 30 facts. */
#define SLACK_FIELDS_MAX 10
#define TEAMS_FACTS_MAX 30

/* A scalar field as text (numbers as JSON writes them), or NULL for absent, null and non-scalars. */
static char *field_text(json_t *payload, const char *key)
{
	json_t *v = json_object_get(payload, key);

	if (!v)
		return NULL;
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_number(v) || json_is_boolean(v))
		return json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
	return NULL;
}

struct text {
	char *s;
	size_t len, cap;
	bool failed;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->failed)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *grown = realloc(t->s, cap);

		if (!grown) {
			t->failed = true;
			return;
		}
		t->s = grown;
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

/* The text built, or NULL (freed) when out of memory. */
static char *text_take(struct text *t)
{
	if (t->failed) {
		free(t->s);
		return NULL;
	}
	return t->s;
}

/*
 * One character of s as plain text goes out as *ret (*ret_len bytes, counting
 * *ret_chars characters); returns the bytes of s it stands for. Control
 * characters (C0, DEL, C1, the line and paragraph separators) and the
 * direction overrides that can make a line read backwards become a space,
 * so that an embedded value stays on its line and reads as it is; with slack,
 * &, < and > become Slack's entities, the only markup Slack decodes. Input
 * is UTF-8 as jansson checked it; a broken sequence becomes '?'.
 */
static size_t plain_char(const char *s, bool slack, const char **ret, size_t *ret_len, size_t *ret_chars)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = u[0] < 0x80 ? 1 : u[0] >= 0xC2 && u[0] < 0xE0 ? 2 : u[0] >= 0xE0 && u[0] < 0xF0 ? 3 :
		   u[0] >= 0xF0 && u[0] < 0xF5 ? 4 : 0;

	*ret = s;
	*ret_len = n;
	*ret_chars = 1;
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xC0) != 0x80)
			n = 0;
	}
	if (n == 0) {
		*ret = "?";
		*ret_len = 1;
		return 1;
	}
	if (u[0] < 0x20 || u[0] == 0x7F || (u[0] == 0xC2 && u[1] < 0xA0) ||
	    (u[0] == 0xE2 && u[1] == 0x80 && u[2] >= 0xA8 && u[2] <= 0xAE) ||
	    (u[0] == 0xE2 && u[1] == 0x81 && u[2] >= 0xA6 && u[2] <= 0xA9)) {
		*ret = " ";
		*ret_len = 1;
	} else if (slack && (u[0] == '&' || u[0] == '<' || u[0] == '>')) {
		*ret = u[0] == '&' ? "&amp;" : u[0] == '<' ? "&lt;" : "&gt;";
		*ret_len = strlen(*ret);
		*ret_chars = *ret_len;
	}
	return n;
}

/*
 * Appends s to t as plain text (plain_char) of at most max_chars characters,
 * entities counted whole: a longer text is cut on a character boundary and
 * ends with an ellipsis.
 */
static void text_add_plain(struct text *t, const char *s, size_t max_chars, bool slack)
{
	static const char ellipsis[] = "\xE2\x80\xA6";
	size_t total = 0, used = 0, out_len, out_chars;
	const char *out;

	for (const char *p = s; *p; p += plain_char(p, slack, &out, &out_len, &out_chars))
		total += out_chars;
	for (const char *p = s; *p;) {
		size_t n = plain_char(p, slack, &out, &out_len, &out_chars);

		if (total > max_chars && used + out_chars + 1 > max_chars) {
			text_add(t, ellipsis, sizeof(ellipsis) - 1);
			return;
		}
		text_add(t, out, out_len);
		used += out_chars;
		p += n;
	}
}

/* s as plain text (text_add_plain) in a new string, or NULL when out of memory. */
static char *plain(const char *s, size_t max_chars, bool slack)
{
	struct text t = { 0 };

	text_add(&t, "", 0);
	text_add_plain(&t, s, max_chars, slack);
	return text_take(&t);
}

/*
 * Expands a template: {key} is the payload's field as plain text, "?" when it
 * is absent, so a message with a missing field still reads as a message.
 */
static char *expand(json_t *payload, const char *tmpl)
{
	struct text t = { 0 };

	text_add(&t, "", 0);
	for (const char *p = tmpl; *p;) {
		const char *close;

		if (*p == '{' && (close = strchr(p, '}'))) {
			char key[64];
			size_t n = (size_t)(close - p - 1);
			char *v = NULL;

			if (n < sizeof(key)) {
				memcpy(key, p + 1, n);
				key[n] = '\0';
				v = field_text(payload, key);
			}
			text_add_plain(&t, v ? v : "?", VALUE_MAX_CHARS, false);
			free(v);
			p = close + 1;
			continue;
		}
		text_add(&t, p, 1);
		p++;
	}
	return text_take(&t);
}

/*
 * A kind's title (expand), after the payload's program in brackets when it
 * names one ("[acme-billing] Low score: ..."): a team lead who works for
 * several client programs sees whose alert it is first. A payload written
 * before programs existed has none, and gets no brackets rather than "[?]".
 */
static char *expand_title(json_t *payload, const char *tmpl)
{
	const char *program = json_string_value(json_object_get(payload, "program"));
	char *title = expand(payload, tmpl);
	struct text t = { 0 };

	if (!title || !program)
		return title;
	text_add(&t, "[", 1);
	text_add_plain(&t, program, VALUE_MAX_CHARS, false);
	text_add(&t, "] ", 2);
	text_add(&t, title, strlen(title));
	free(title);
	return text_take(&t);
}

struct kind_text {
	const char *kind, *title, *summary;
};

static const struct kind_text kind_texts[] = {
	{ "low_score_trigger", "Low score: {agent_id} in {behavior}",
	  "{agent_id} scores {score} in {behavior} (threshold {threshold}, {n} observations over {window_days} days)." },
	{ "fatal_behavior", "Fatal behavior: {agent_id} in {behavior}",
	  "{agent_id} failed {behavior} critically in interaction {interaction_id}." },
	{ "pairing_created", "New pairing: {agent_id} with {mentor_id}",
	  "{mentor_id} will mentor {agent_id} in {behavior}." },
	{ "no_mentor_available", "No mentor available: {agent_id} in {behavior}",
	  "{agent_id} is low in {behavior} and waits for a mentor: {reason}." },
	{ "pairing_completed", "Pairing completed: {agent_id} with {mentor_id}",
	  "{agent_id} in {behavior}: before {before}, after {after}, delta {delta}." },
};

static const struct kind_text *kind_text(const char *kind)
{
	for (size_t i = 0; i < sizeof(kind_texts) / sizeof(kind_texts[0]); i++)
		if (kind && strcmp(kind, kind_texts[i].kind) == 0)
			return &kind_texts[i];
	return NULL;
}

/* "key: value" of a scalar field as plain text, or NULL (absent, not a scalar, or out of memory). */
static char *fact_text(json_t *payload, const char *key, bool slack)
{
	struct text t = { 0 };
	char *value = field_text(payload, key);

	if (!value)
		return NULL;
	text_add(&t, "", 0);
	text_add_plain(&t, key, FACT_KEY_MAX_CHARS, slack);
	text_add(&t, ": ", 2);
	text_add_plain(&t, value, FACT_VALUE_MAX_CHARS, slack);
	free(value);
	return text_take(&t);
}

/*
 * Slack: plain_text objects only, so that nothing from the payload is read as
 * mrkdwn (*bold*, <!channel>, links); text is what notifications show.
 */
static json_t *render_slack(json_t *payload, const char *title, const char *summary)
{
	json_t *fields = json_array(), *blocks = json_array(), *body = NULL;
	char *title_text = plain(title, TITLE_MAX_CHARS, true);
	char *summary_text = plain(summary, SUMMARY_MAX_CHARS, true);
	const char *key;
	json_t *v;

	if (!fields || !blocks || !title_text || !summary_text)
		goto out;
	json_object_foreach(payload, key, v) {
		char *fact;

		if (json_array_size(fields) >= SLACK_FIELDS_MAX)
			break;
		fact = fact_text(payload, key, true);
		if (!fact)
			continue;
		json_array_append_new(fields, json_pack("{s:s, s:s}", "type", "plain_text", "text", fact));
		free(fact);
	}
	json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "header", "text", "type",
						"plain_text", "text", title_text));
	json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "section", "text", "type",
						"plain_text", "text", summary_text));
	if (json_array_size(fields) > 0)
		json_array_append_new(blocks, json_pack("{s:s, s:O}", "type", "section", "fields", fields));
	body = json_pack("{s:s++, s:O}", "text", title_text, ": ", summary_text, "blocks", blocks);
out:
	json_decref(fields);
	json_decref(blocks);
	free(title_text);
	free(summary_text);
	return body;
}

/* A RichTextBlock of one TextRun: plain text, where a TextBlock or a FactSet would render Markdown. */
static json_t *teams_text(const char *text, bool title)
{
	return title ? json_pack("{s:s, s:[{s:s, s:s, s:s, s:s}]}", "type", "RichTextBlock", "inlines", "type",
				 "TextRun", "text", text, "weight", "Bolder", "size", "Medium")
		     : json_pack("{s:s, s:[{s:s, s:s}]}", "type", "RichTextBlock", "inlines", "type", "TextRun", "text",
				 text);
}

static json_t *render_teams(json_t *payload, const char *title, const char *summary)
{
	json_t *items = json_array(), *body = NULL;
	char *title_text = plain(title, TITLE_MAX_CHARS, false);
	char *summary_text = plain(summary, SUMMARY_MAX_CHARS, false);
	const char *key;
	json_t *v;
	size_t facts = 0;

	if (!items || !title_text || !summary_text)
		goto out;
	json_array_append_new(items, teams_text(title_text, true));
	json_array_append_new(items, teams_text(summary_text, false));
	json_object_foreach(payload, key, v) {
		char *fact;

		if (facts >= TEAMS_FACTS_MAX)
			break;
		fact = fact_text(payload, key, false);
		if (!fact)
			continue;
		json_array_append_new(items, teams_text(fact, false));
		free(fact);
		facts++;
	}
	body = json_pack("{s:s, s:[{s:s, s:n, s:{s:s, s:s, s:s, s:O}}]}",
			 "type", "message", "attachments",
			 "contentType", "application/vnd.microsoft.card.adaptive", "contentUrl",
			 "content", "$schema", "http://adaptivecards.io/schemas/adaptive-card.json",
			 "type", "AdaptiveCard", "version", "1.4", "body", items);
out:
	json_decref(items);
	free(title_text);
	free(summary_text);
	return body;
}

int mentor_alert_render(enum mentor_alert_format format, const char *kind, const char *payload,
			char **ret_body, struct mentor_error *err)
{
	json_error_t jerr;
	json_t *root, *body = NULL;
	const struct kind_text *kt;
	char *title = NULL, *summary = NULL, *out = NULL;
	const char *payload_kind;

	root = json_loads(payload, 0, &jerr);
	if (!root || !json_is_object(root)) {
		json_decref(root);
		return mentor_error_set(err, MENTOR_ERR_INVALID, "alert payload is not a JSON object");
	}
	if (format == MENTOR_ALERT_FORMAT_JSON) {
		/* As stored: the bytes signed are the bytes the analytics wrote. */
		json_decref(root);
		out = strdup(payload);
		if (!out)
			return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		*ret_body = out;
		return MENTOR_OK;
	}
	payload_kind = json_string_value(json_object_get(root, "kind"));
	kt = kind_text(payload_kind ? payload_kind : kind);
	title = expand_title(root, kt ? kt->title : "mentord alert: {kind}");
	summary = expand(root, kt ? kt->summary : "{agent_id}");
	if (title && summary)
		body = format == MENTOR_ALERT_FORMAT_SLACK ? render_slack(root, title, summary)
							   : render_teams(root, title, summary);
	if (body)
		out = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(body);
	json_decref(root);
	free(title);
	free(summary);
	if (!out)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory rendering an alert");
	*ret_body = out;
	return MENTOR_OK;
}

/* ---- retries ---- */

void mentor_alert_retry_policy_init(struct mentor_alert_retry_policy *p)
{
	p->base_ms = 1000;
	p->cap_ms = 3600 * 1000;
	p->horizon_ms = 72LL * 3600 * 1000;
	p->max_client_errors = 3;
}

int64_t mentor_alert_backoff_ms(const struct mentor_alert_retry_policy *p, int attempt, mentor_alert_rand_fn rnd,
				void *rnd_ctx)
{
	int64_t ceiling = p->base_ms > 0 ? p->base_ms : 1;

	/* Double without overflow: stop as soon as the cap is reached. */
	for (int i = 1; i < attempt && ceiling < p->cap_ms; i++)
		ceiling *= 2;
	if (ceiling > p->cap_ms)
		ceiling = p->cap_ms;
	if (ceiling <= 0)
		return 0;
	return (int64_t)(rnd(rnd_ctx) % ((uint64_t)ceiling + 1));
}

int mentor_alert_within_horizon(const struct mentor_alert_retry_policy *p, int64_t age_ms, int64_t delay_ms)
{
	return age_ms + delay_ms <= p->horizon_ms;
}

int mentor_alert_next_attempt(const struct mentor_alert_retry_policy *p, enum mentor_alert_outcome result,
			      int attempt, int64_t age_ms, int64_t retry_after_ms, mentor_alert_rand_fn rnd,
			      void *rnd_ctx, int64_t *ret_delay_ms)
{
	int64_t delay = retry_after_ms >= 0 ? retry_after_ms : mentor_alert_backoff_ms(p, attempt, rnd, rnd_ctx);

	*ret_delay_ms = delay;
	if (result == MENTOR_ALERT_REFUSED_ROUTE)
		return 0;
	if (result == MENTOR_ALERT_CLIENT_ERROR && attempt >= p->max_client_errors)
		return 0;
	return mentor_alert_within_horizon(p, age_ms, delay);
}

enum mentor_alert_outcome mentor_alert_classify(long status)
{
	if (status >= 200 && status <= 299)
		return MENTOR_ALERT_SENT;
	if (status == 410)
		return MENTOR_ALERT_DISABLE_ROUTE;
	/* 408 and 429 say "later", not "never": retried like a 5xx. */
	if (status >= 400 && status <= 499 && status != 408 && status != 429)
		return MENTOR_ALERT_CLIENT_ERROR;
	return MENTOR_ALERT_RETRY;
}

int mentor_alert_honours_retry_after(long status)
{
	return status == 429 || status == 503;
}

int mentor_alert_retry_after_parse(const char *value, time_t now, int64_t *ret_delay_ms)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char wday[4], mon[4], zone[4];
	int day, year, hh, mm, ss, n = 0;
	const char *m;
	int64_t when;

	if (!value)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	if (isdigit((unsigned char)*value)) {
		int64_t secs = 0;
		const char *p = value;

		for (; isdigit((unsigned char)*p); p++) {
			if (secs > INT64_MAX / 10000)
				return 0;
			secs = secs * 10 + (*p - '0');
		}
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p)
			return 0;
		*ret_delay_ms = secs * 1000;
		return 1;
	}
	/* IMF-fixdate, the form HTTP/1.1 senders must use: "Sun, 06 Nov 1994 08:49:37 GMT". */
	if (sscanf(value, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", wday, &day, mon, &year, &hh, &mm,
		   &ss, zone, &n) != 8 || strcmp(zone, "GMT") != 0)
		return 0;
	for (const char *p = value + n; *p; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return 0;
	m = strlen(mon) == 3 ? strstr(months, mon) : NULL;
	if (!m || (m - months) % 3 != 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60)
		return 0;
	when = mentor_days_from_civil(year, (int)((m - months) / 3) + 1, day) * 86400 + hh * 3600 + mm * 60 + ss;
	*ret_delay_ms = when > (int64_t)now ? (when - (int64_t)now) * 1000 : 0;
	return 1;
}

/* ---- throttling ---- */

int64_t mentor_alert_throttle_ms(int max_per_hour, int64_t sent_last_hour, int taken, int64_t oldest_leaves_ms)
{
	int64_t wait_ms = oldest_leaves_ms < 0 ? 3600 * 1000 : oldest_leaves_ms;

	if (max_per_hour <= 0 || sent_last_hour + taken < max_per_hour)
		return 0;
	return wait_ms > 1000 ? wait_ms : 1000;
}

/* ---- routes and answers ---- */

/* An IPv4 address (host order) a route may not reach unless allowed: see mentor_alert_address_private(). */
static int ipv4_private(uint32_t a)
{
	static const struct {
		uint32_t net, mask;
	} nets[] = {
		{ 0x00000000, 0xFF000000 },  /* 0/8: "this network", 0.0.0.0 reaches the host itself */
		{ 0x0A000000, 0xFF000000 },  /* 10/8 */
		{ 0x64400000, 0xFFC00000 },  /* 100.64/10, carrier-grade NAT */
		{ 0x7F000000, 0xFF000000 },  /* 127/8 */
		{ 0xA9FE0000, 0xFFFF0000 },  /* 169.254/16, link-local (cloud metadata services) */
		{ 0xAC100000, 0xFFF00000 },  /* 172.16/12 */
		{ 0xC0000000, 0xFFFFFF00 },  /* 192.0.0/24, protocol assignments */
		{ 0xC0A80000, 0xFFFF0000 },  /* 192.168/16 */
		{ 0xC6120000, 0xFFFE0000 },  /* 198.18/15, benchmarking */
		{ 0xE0000000, 0xE0000000 },  /* 224/3: multicast, reserved and broadcast */
	};

	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		if ((a & nets[i].mask) == nets[i].net)
			return 1;
	return 0;
}

static uint32_t ipv4_at(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

int mentor_alert_address_private(const struct sockaddr *addr)
{
	static const unsigned char zeros[12] = { 0 };
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
	static const unsigned char nat64[12] = { 0, 0x64, 0xFF, 0x9B };
	const unsigned char *b;

	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;

		return ipv4_private(ntohl(in->sin_addr.s_addr));
	}
	if (addr->sa_family != AF_INET6)
		return 1;
	b = ((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr.s6_addr;
	/* Forms that carry an IPv4 address: judged by it (::, ::1 are v4-compatible forms of 0.0.0.0, 0.0.0.1). */
	if (memcmp(b, zeros, 12) == 0 || memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
		return ipv4_private(ipv4_at(b + 12)) || memcmp(b, zeros, 12) == 0;
	if (b[0] == 0x20 && b[1] == 0x02)  /* 6to4: 2002:AABB:CCDD::/48 */
		return ipv4_private(ipv4_at(b + 2));
	return (b[0] & 0xFE) == 0xFC ||                  /* fc00::/7, unique local */
	       (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) ||  /* fe80::/10, link-local */
	       (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) ||  /* fec0::/10, the former site-local */
	       b[0] == 0xFF;                               /* ff00::/8, multicast */
}

char *mentor_alert_header_id(const char *alert_id)
{
	static const char hex[] = "0123456789ABCDEF";
	struct text t = { 0 };

	text_add(&t, "", 0);
	for (const unsigned char *p = (const unsigned char *)alert_id; *p; p++) {
		if (*p >= 0x20 && *p < 0x7F && *p != '%') {
			text_add(&t, (const char *)p, 1);
		} else {
			char enc[3] = { '%', hex[*p >> 4], hex[*p & 0xF] };

			text_add(&t, enc, 3);
		}
	}
	return text_take(&t);
}

void mentor_alert_answer_excerpt(const char *body, size_t len, char *out, size_t out_size)
{
	size_t used = 0, ellipsis_at = 0, i = 0;

	while (i < len) {
		const char *c = " ";
		size_t c_len = 1, chars, n = 0;
		char one[5];

		/* plain_char() reads a NUL-terminated string: give it this character alone; a NUL is a space. */
		while (n < 4 && i + n < len && body[i + n] && (n == 0 || ((unsigned char)body[i + n] & 0xC0) == 0x80))
			n++;
		memcpy(one, body + i, n);
		one[n] = '\0';
		n = n ? plain_char(one, false, &c, &c_len, &chars) : 1;
		if (used + c_len > out_size - 1) {
			memcpy(out + ellipsis_at, "...", 3);
			used = ellipsis_at + 3;
			break;
		}
		memcpy(out + used, c, c_len);
		used += c_len;
		i += n;
		if (used + 3 <= out_size - 1)
			ellipsis_at = used;
	}
	out[used] = '\0';
}
