#include "mentor/alerts.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
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

/*
 * Expands a template: {key} is the payload's field, "?" when it is absent, so
 * a message with a missing field still reads as a message.
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
			text_add(&t, v ? v : "?", strlen(v ? v : "?"));
			free(v);
			p = close + 1;
			continue;
		}
		text_add(&t, p, 1);
		p++;
	}
	if (t.failed) {
		free(t.s);
		return NULL;
	}
	return t.s;
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

/* Slack mrkdwn treats &, < and > as markup: escape them (Slack's own rule). */
static char *slack_escape(const char *s)
{
	struct text t = { 0 };

	text_add(&t, "", 0);
	for (; *s; s++) {
		if (*s == '&')
			text_add(&t, "&amp;", 5);
		else if (*s == '<')
			text_add(&t, "&lt;", 4);
		else if (*s == '>')
			text_add(&t, "&gt;", 4);
		else
			text_add(&t, s, 1);
	}
	if (t.failed) {
		free(t.s);
		return NULL;
	}
	return t.s;
}

/* Slack allows 10 fields per section block. */
#define SLACK_FIELDS_MAX 10

static json_t *render_slack(json_t *payload, const char *title, const char *summary)
{
	json_t *fields = json_array(), *blocks = json_array(), *body = NULL;
	char *title_esc = slack_escape(title), *summary_esc = slack_escape(summary);
	const char *key;
	json_t *v;

	if (!fields || !blocks || !title_esc || !summary_esc)
		goto out;
	json_object_foreach(payload, key, v) {
		char *value, *value_esc, *line;

		if (json_array_size(fields) >= SLACK_FIELDS_MAX)
			break;
		value = field_text(payload, key);
		if (!value)
			continue;
		value_esc = slack_escape(value);
		free(value);
		if (!value_esc)
			goto out;
		line = malloc(strlen(key) + strlen(value_esc) + 4);
		if (!line) {
			free(value_esc);
			goto out;
		}
		sprintf(line, "*%s*\n%s", key, value_esc);
		free(value_esc);
		json_array_append_new(fields, json_pack("{s:s, s:s}", "type", "mrkdwn", "text", line));
		free(line);
	}
	json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "header", "text", "type",
						"plain_text", "text", title));
	json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "section", "text", "type",
						"mrkdwn", "text", summary_esc));
	if (json_array_size(fields) > 0)
		json_array_append_new(blocks, json_pack("{s:s, s:O}", "type", "section", "fields", fields));
	/* text is what notifications and clients without blocks show. */
	body = json_pack("{s:s++, s:O}", "text", title_esc, ": ", summary_esc, "blocks", blocks);
out:
	json_decref(fields);
	json_decref(blocks);
	free(title_esc);
	free(summary_esc);
	return body;
}

static json_t *render_teams(json_t *payload, const char *title, const char *summary)
{
	json_t *facts = json_array(), *body = NULL;
	const char *key;
	json_t *v;

	if (!facts)
		return NULL;
	json_object_foreach(payload, key, v) {
		char *value = field_text(payload, key);

		if (!value)
			continue;
		json_array_append_new(facts, json_pack("{s:s, s:s}", "title", key, "value", value));
		free(value);
	}
	body = json_pack("{s:s, s:[{s:s, s:n, s:{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:b}, "
			 "{s:s, s:s, s:b}, {s:s, s:O}]}}]}",
			 "type", "message", "attachments",
			 "contentType", "application/vnd.microsoft.card.adaptive", "contentUrl",
			 "content", "$schema", "http://adaptivecards.io/schemas/adaptive-card.json",
			 "type", "AdaptiveCard", "version", "1.4", "body",
			 "type", "TextBlock", "text", title, "weight", "Bolder", "size", "Medium", "wrap", 1,
			 "type", "TextBlock", "text", summary, "wrap", 1,
			 "type", "FactSet", "facts", facts);
	json_decref(facts);
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
	title = expand(root, kt ? kt->title : "mentord alert: {kind}");
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

int mentor_alert_next_attempt(const struct mentor_alert_retry_policy *p, int attempt, int64_t age_ms,
			      int64_t retry_after_ms, mentor_alert_rand_fn rnd, void *rnd_ctx, int64_t *ret_delay_ms)
{
	int64_t delay = retry_after_ms >= 0 ? retry_after_ms : mentor_alert_backoff_ms(p, attempt, rnd, rnd_ctx);

	*ret_delay_ms = delay;
	return mentor_alert_within_horizon(p, age_ms, delay);
}

enum mentor_alert_outcome mentor_alert_classify(long status)
{
	if (status >= 200 && status <= 299)
		return MENTOR_ALERT_SENT;
	if (status == 410)
		return MENTOR_ALERT_DISABLE_ROUTE;
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
