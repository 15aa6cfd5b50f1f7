/*
 * Input events (SPEC sections 1 and 7): validation of one Kafka message.
 *
 * Every rejection carries a stable code and a one-line detail that names the
 * field. Details end up in logs and in a PostgreSQL text column, so any user
 * bytes quoted in them are escaped and cut short on a UTF-8 boundary: a
 * detail is always one line of valid UTF-8 of at most 255 bytes.
 */
#include "mentor/events.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "civil.h"

/* Bytes of a user value quoted in a detail: enough to recognize, short enough to fit. */
#define QUOTE_IN_MAX 40
/* Each quoted byte may become "\xNN"; plus "..." and the terminator. */
#define QUOTE_CAP (QUOTE_IN_MAX * 4 + 4)

#define US_PER_S INT64_C(1000000)

/* Short names keep the field table below readable. */
#define NONE MENTOR_FIELD_UNUSED
#define OPT MENTOR_FIELD_OPTIONAL
#define REQ MENTOR_FIELD_REQUIRED

struct parse_ctx {
	const struct mentor_event_rules *rules;
	enum mentor_event_kind kind;
	int64_t now_us;
	struct mentor_event *ev;
	struct mentor_reject *why;
};

typedef bool (*field_check_fn)(struct parse_ctx *c, enum mentor_field f, json_t *v);

static bool check_schema(struct parse_ctx *c, enum mentor_field f, json_t *v);
static bool check_text(struct parse_ctx *c, enum mentor_field f, json_t *v);
static bool check_occurred_at(struct parse_ctx *c, enum mentor_field f, json_t *v);
static bool check_csat(struct parse_ctx *c, enum mentor_field f, json_t *v);
static bool check_nps(struct parse_ctx *c, enum mentor_field f, json_t *v);
static bool check_scores(struct parse_ctx *c, enum mentor_field f, json_t *v);
static bool check_overall(struct parse_ctx *c, enum mentor_field f, json_t *v);
static bool check_fatal(struct parse_ctx *c, enum mentor_field f, json_t *v);
static bool check_active(struct parse_ctx *c, enum mentor_field f, json_t *v);
static bool check_programs(struct parse_ctx *c, enum mentor_field f, json_t *v);

/*
 * Which fields each kind has, which it requires, and how each is checked.
 * Fields are checked in this order, so schema comes first: a message from the
 * wrong topic is reported as such, not as a missing csat.
 */
static const struct field_desc {
	const char *name;
	field_check_fn check;
	unsigned char use[MENTOR_EVENT_KIND_COUNT];
} field_table[MENTOR_F_COUNT] = {
	/*                                                                   VOC   AQM   ROSTER */
	[MENTOR_F_SCHEMA]         = { "schema",         check_schema,      { REQ,  REQ,  REQ  } },
	[MENTOR_F_EVENT_ID]       = { "event_id",       check_text,        { REQ,  REQ,  OPT  } },
	[MENTOR_F_INTERACTION_ID] = { "interaction_id", check_text,        { OPT,  OPT,  NONE } },
	[MENTOR_F_AGENT_ID]       = { "agent_id",       check_text,        { REQ,  REQ,  REQ  } },
	[MENTOR_F_OCCURRED_AT]    = { "occurred_at",    check_occurred_at, { REQ,  REQ,  OPT  } },
	[MENTOR_F_CHANNEL]        = { "channel",        check_text,        { OPT,  NONE, NONE } },
	[MENTOR_F_CSAT]           = { "csat",           check_csat,        { REQ,  NONE, NONE } },
	[MENTOR_F_NPS]            = { "nps",            check_nps,         { OPT,  NONE, NONE } },
	[MENTOR_F_ITEMS]          = { "items",          check_scores,      { OPT,  NONE, NONE } },
	[MENTOR_F_OVERALL]        = { "overall",        check_overall,     { NONE, REQ,  NONE } },
	[MENTOR_F_BEHAVIORS]      = { "behaviors",      check_scores,      { NONE, OPT,  NONE } },
	[MENTOR_F_FATAL]          = { "fatal",          check_fatal,       { NONE, OPT,  NONE } },
	[MENTOR_F_NAME]           = { "name",           check_text,        { NONE, NONE, OPT  } },
	[MENTOR_F_TEAM_ID]        = { "team_id",        check_text,        { NONE, NONE, OPT  } },
	[MENTOR_F_TEAM_LEAD_ID]   = { "team_lead_id",   check_text,        { NONE, NONE, OPT  } },
	[MENTOR_F_SITE]           = { "site",           check_text,        { NONE, NONE, OPT  } },
	[MENTOR_F_LANGUAGE]       = { "language",       check_text,        { NONE, NONE, OPT  } },
	[MENTOR_F_ACTIVE]         = { "active",         check_active,      { NONE, NONE, OPT  } },
	[MENTOR_F_PROGRAM]        = { "program",        check_text,        { OPT,  OPT,  NONE } },
	[MENTOR_F_PROGRAMS]       = { "programs",       check_programs,    { NONE, NONE, OPT  } },
};

static const char *const kind_schema[MENTOR_EVENT_KIND_COUNT] = {
	[MENTOR_EVENT_VOC] = "voc.v1",
	[MENTOR_EVENT_AQM] = "aqm.v1",
	[MENTOR_EVENT_ROSTER] = "agent.v1",
};

static const char *const reject_names[MENTOR_REJECT_CODE_COUNT] = {
	[MENTOR_REJECT_EMPTY] = "empty",
	[MENTOR_REJECT_OVERSIZE] = "oversize",
	[MENTOR_REJECT_INVALID_UTF8] = "invalid_utf8",
	[MENTOR_REJECT_MALFORMED_JSON] = "malformed_json",
	[MENTOR_REJECT_NOT_OBJECT] = "not_object",
	[MENTOR_REJECT_UNKNOWN_SCHEMA] = "unknown_schema",
	[MENTOR_REJECT_MISSING_FIELD] = "missing_field",
	[MENTOR_REJECT_WRONG_TYPE] = "wrong_type",
	[MENTOR_REJECT_OUT_OF_RANGE] = "out_of_range",
	[MENTOR_REJECT_BAD_ID] = "bad_id",
	[MENTOR_REJECT_BAD_TIMESTAMP] = "bad_timestamp",
	[MENTOR_REJECT_FUTURE_TIMESTAMP] = "future_timestamp",
	[MENTOR_REJECT_TOO_MANY] = "too_many",
	[MENTOR_REJECT_TOO_OLD] = "too_old",
	[MENTOR_REJECT_DATABASE_REFUSED] = "database_refused",
	[MENTOR_REJECT_UNKNOWN_AGENT_LIMIT] = "unknown_agent_limit",
	[MENTOR_REJECT_TOO_MANY_BEHAVIORS] = "too_many_behaviors",
};

const char *mentor_reject_code_name(enum mentor_reject_code code)
{
	if ((unsigned)code >= MENTOR_REJECT_CODE_COUNT)
		return NULL;
	return reject_names[code];
}

const char *mentor_event_kind_schema(enum mentor_event_kind kind)
{
	if ((unsigned)kind >= MENTOR_EVENT_KIND_COUNT)
		return NULL;
	return kind_schema[kind];
}

const char *mentor_field_name(enum mentor_field field)
{
	if ((unsigned)field >= MENTOR_F_COUNT)
		return NULL;
	return field_table[field].name;
}

enum mentor_field_use mentor_event_field_use(enum mentor_event_kind kind, enum mentor_field field)
{
	if ((unsigned)field >= MENTOR_F_COUNT || (unsigned)kind >= MENTOR_EVENT_KIND_COUNT)
		return MENTOR_FIELD_UNUSED;
	return field_table[field].use[kind];
}

void mentor_event_rules_init(struct mentor_event_rules *rules)
{
	memset(rules, 0, sizeof(*rules));
	rules->csat_min = 1;
	rules->csat_max = 5;
	rules->max_message_bytes = 65536;
	rules->max_future_us = 86400 * US_PER_S;
	rules->max_past_us = 400 * 86400 * US_PER_S;
	rules->max_unknown_agents = 100000;
	rules->max_behaviors = 1000;
	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++) {
		for (int f = 0; f < MENTOR_F_COUNT; f++) {
			char *ptr = rules->map[k].pointer[f];

			if (field_table[f].use[k] == NONE)
				continue;
			ptr[0] = '/';
			strncpy(ptr + 1, field_table[f].name, MENTOR_ID_MAX - 2);
		}
	}
}

void mentor_event_clear(struct mentor_event *ev)
{
	if (!ev)
		return;
	json_decref(ev->json_root);
	memset(ev, 0, sizeof(*ev));
}

/* ---- details ---------------------------------------------------------- */

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms,
 * surrogates or code points past U+10FFFF), or 0 if there is none: PostgreSQL
 * refuses all of those in a text column.
 */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (avail < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * Copies at most max_in bytes of s[0..len) into out as printable text for a
 * detail: control characters and bytes that are not UTF-8 become \xNN,
 * backslash (and, for text shown between double quotes, the double quote) is
 * escaped, and a cut is marked with "...". cap must be >= 4.
 */
static const char *sanitize_text(char *out, size_t cap, const char *s, size_t len,
				 size_t max_in, bool quoted)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0, o = 0;

	while (i < len) {
		const unsigned char *u = (const unsigned char *)s + i;
		size_t n = utf8_seq_len(u, len - i);
		char piece[4];
		size_t m;

		if (n == 0 || u[0] < 0x20 || u[0] == 0x7f) {
			n = 1;
			piece[0] = '\\';
			piece[1] = 'x';
			piece[2] = hex[u[0] >> 4];
			piece[3] = hex[u[0] & 0xf];
			m = 4;
		} else if ((u[0] == '"' && quoted) || u[0] == '\\') {
			piece[0] = '\\';
			piece[1] = (char)u[0];
			m = 2;
		} else {
			memcpy(piece, u, n);
			m = n;
		}
		/* Keep room for "..." and the terminator after every piece. */
		if (i + n > max_in || o + m + 4 > cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, piece, m);
		o += m;
		i += n;
	}
	out[o] = '\0';
	return out;
}

/* A user value shown between double quotes in a detail. */
static const char *sanitize(char *out, size_t cap, const char *s, size_t len, size_t max_in)
{
	return sanitize_text(out, cap, s, len, max_in, true);
}

/* strnlen is POSIX, not C17. */
static size_t bounded_len(const char *s, size_t max)
{
	const char *end = memchr(s, '\0', max);

	return end ? (size_t)(end - s) : max;
}

/* snprintf cuts at a byte count; drop a UTF-8 sequence that it cut in half. */
static void trim_partial_utf8(char *s)
{
	size_t n = strlen(s), lead = n, want;
	unsigned char b;

	while (lead > 0 && n - lead < 4 && ((unsigned char)s[lead - 1] & 0xc0) == 0x80)
		lead--;
	if (lead == 0)
		return;
	b = (unsigned char)s[lead - 1];
	if (b < 0x80)
		return;
	want = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
	if (n - (lead - 1) < want)
		s[lead - 1] = '\0';
}

static bool reject(struct parse_ctx *c, enum mentor_reject_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fills the reject reason; always returns false so checks can "return reject(...)". */
static bool reject(struct parse_ctx *c, enum mentor_reject_code code, const char *fmt, ...)
{
	va_list ap;
	int n;

	c->why->code = code;
	va_start(ap, fmt);
	n = vsnprintf(c->why->detail, sizeof(c->why->detail), fmt, ap);
	va_end(ap);
	if (n < 0)
		c->why->detail[0] = '\0';
	else if ((size_t)n >= sizeof(c->why->detail))
		trim_partial_utf8(c->why->detail);
	return false;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "real";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

static bool wrong_type(struct parse_ctx *c, const char *label, const char *want, const json_t *v)
{
	return reject(c, MENTOR_REJECT_WRONG_TYPE, "%s: expected %s, got %s", label, want,
		      type_name(v));
}

/* ---- field values ----------------------------------------------------- */

const char *mentor_id_problem(const char *s, size_t len)
{
	if (len == 0)
		return "is empty";
	if (memchr(s, '\0', len))
		return "contains a NUL character";
	if (len > MENTOR_ID_MAX - 1)
		return "is longer than 127 bytes";
	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)s[i];

		if (b < 0x20 || b == 0x7f)
			return "contains a control character";
	}
	return NULL;
}

static bool check_id(struct parse_ctx *c, const char *label, json_t *v, const char **out)
{
	char q[QUOTE_CAP];
	const char *problem;
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return wrong_type(c, label, "a string", v);
	s = json_string_value(v);
	len = json_string_length(v);
	problem = mentor_id_problem(s, len);
	if (problem)
		return reject(c, MENTOR_REJECT_BAD_ID, "%s: \"%s\" %s", label,
			      sanitize(q, sizeof(q), s, len, QUOTE_IN_MAX), problem);
	*out = s;
	return true;
}

/* Object keys of items and behaviors obey the id rules; they name behaviors. */
static bool check_key(struct parse_ctx *c, const char *label, const char *key, size_t len)
{
	const char *problem = mentor_id_problem(key, len);
	char q[QUOTE_CAP];

	if (problem)
		return reject(c, MENTOR_REJECT_BAD_ID, "%s: key \"%s\" %s", label,
			      sanitize(q, sizeof(q), key, len, QUOTE_IN_MAX), problem);
	return true;
}

static bool check_int(struct parse_ctx *c, const char *label, json_t *v, int lo, int hi,
		      int *out)
{
	json_int_t n;

	if (!json_is_integer(v))
		return wrong_type(c, label, "an integer", v);
	n = json_integer_value(v);
	if (n < lo || n > hi)
		return reject(c, MENTOR_REJECT_OUT_OF_RANGE,
			      "%s: %" JSON_INTEGER_FORMAT " is outside %d..%d", label, n, lo, hi);
	*out = (int)n;
	return true;
}

/* AQM scores are percentages and may carry decimals; 82 and 82.5 are both fine. */
static bool check_percent(struct parse_ctx *c, const char *label, json_t *v, double *out)
{
	double d;

	if (!json_is_number(v))
		return wrong_type(c, label, "a number", v);
	d = json_number_value(v);
	if (!isfinite(d) || d < 0.0 || d > 100.0)
		return reject(c, MENTOR_REJECT_OUT_OF_RANGE, "%s: %.10g is outside 0..100",
			      label, d);
	*out = d;
	return true;
}

static const char **text_slot(struct mentor_event *ev, enum mentor_field f)
{
	switch (f) {
	case MENTOR_F_EVENT_ID:
		return &ev->event_id;
	case MENTOR_F_INTERACTION_ID:
		return &ev->interaction_id;
	case MENTOR_F_AGENT_ID:
		return &ev->agent_id;
	case MENTOR_F_CHANNEL:
		return &ev->channel;
	case MENTOR_F_NAME:
		return &ev->name;
	case MENTOR_F_TEAM_ID:
		return &ev->team_id;
	case MENTOR_F_TEAM_LEAD_ID:
		return &ev->team_lead_id;
	case MENTOR_F_SITE:
		return &ev->site;
	case MENTOR_F_LANGUAGE:
		return &ev->language;
	case MENTOR_F_PROGRAM:
		return &ev->program;
	default:
		return NULL;
	}
}

static bool check_text(struct parse_ctx *c, enum mentor_field f, json_t *v)
{
	const char **slot = text_slot(c->ev, f);
	const char *dummy;

	return check_id(c, field_table[f].name, v, slot ? slot : &dummy);
}

static bool check_schema(struct parse_ctx *c, enum mentor_field f, json_t *v)
{
	const char *want = kind_schema[c->kind];
	char q[QUOTE_CAP];
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return reject(c, MENTOR_REJECT_UNKNOWN_SCHEMA, "%s: expected \"%s\", got %s",
			      field_table[f].name, want, type_name(v));
	s = json_string_value(v);
	len = json_string_length(v);
	if (len != strlen(want) || memcmp(s, want, len) != 0)
		return reject(c, MENTOR_REJECT_UNKNOWN_SCHEMA, "%s: \"%s\" is not \"%s\"",
			      field_table[f].name, sanitize(q, sizeof(q), s, len, QUOTE_IN_MAX),
			      want);
	return true;
}

/* now + delta without signed overflow, whatever the configuration says. */
static int64_t time_add(int64_t now_us, int64_t delta_us)
{
	if (delta_us > 0 && now_us > INT64_MAX - delta_us)
		return INT64_MAX;
	if (delta_us < 0 && now_us < INT64_MIN - delta_us)
		return INT64_MIN;
	return now_us + delta_us;
}

static bool check_occurred_at(struct parse_ctx *c, enum mentor_field f, json_t *v)
{
	const char *label = field_table[f].name;
	char q[QUOTE_CAP];
	const char *s;
	size_t len;
	int64_t us;

	if (!json_is_string(v))
		return wrong_type(c, label, "an RFC 3339 string", v);
	s = json_string_value(v);
	len = json_string_length(v);
	/* A NUL would end the text early and hide what follows it from the parser. */
	if (strlen(s) != len || !mentor_time_parse_rfc3339(s, &us))
		return reject(c, MENTOR_REJECT_BAD_TIMESTAMP,
			      "%s: \"%s\" is not an RFC 3339 timestamp with a zone", label,
			      sanitize(q, sizeof(q), s, len, QUOTE_IN_MAX));
	if (us > time_add(c->now_us, c->rules->max_future_us))
		return reject(c, MENTOR_REJECT_FUTURE_TIMESTAMP,
			      "%s: \"%s\" is more than %.6g s after the time of receipt", label,
			      sanitize(q, sizeof(q), s, len, QUOTE_IN_MAX),
			      (double)c->rules->max_future_us / 1e6);
	/* A year-1970 event would make the analytics walk every day since: old events are refused. */
	if (c->rules->max_past_us > 0 && us < time_add(c->now_us, -c->rules->max_past_us))
		return reject(c, MENTOR_REJECT_TOO_OLD,
			      "%s: \"%s\" is more than %.6g days before the time of receipt", label,
			      sanitize(q, sizeof(q), s, len, QUOTE_IN_MAX),
			      (double)c->rules->max_past_us / (86400.0 * 1e6));
	c->ev->occurred_at_us = us;
	return true;
}

static bool check_csat(struct parse_ctx *c, enum mentor_field f, json_t *v)
{
	return check_int(c, field_table[f].name, v, c->rules->csat_min, c->rules->csat_max,
			 &c->ev->csat);
}

static bool check_nps(struct parse_ctx *c, enum mentor_field f, json_t *v)
{
	return check_int(c, field_table[f].name, v, 0, 10, &c->ev->nps);
}

static bool check_overall(struct parse_ctx *c, enum mentor_field f, json_t *v)
{
	return check_percent(c, field_table[f].name, v, &c->ev->overall);
}

static bool check_active(struct parse_ctx *c, enum mentor_field f, json_t *v)
{
	if (!json_is_boolean(v))
		return wrong_type(c, field_table[f].name, "a boolean", v);
	c->ev->active = json_is_true(v);
	return true;
}

/* "items.courtesy": the field and the key, the key cut short if need be. */
static const char *nested_label(char *out, size_t cap, const char *field, const char *key,
				size_t len)
{
	size_t n = strlen(field);

	memcpy(out, field, n);
	out[n] = '.';
	sanitize(out + n + 1, cap - n - 1, key, len, QUOTE_IN_MAX);
	return out;
}

/* VOC items are on the CSAT scale, AQM behaviors are percentages. */
static bool check_scores(struct parse_ctx *c, enum mentor_field f, json_t *v)
{
	const char *name = field_table[f].name;
	char label[QUOTE_CAP + 16];
	const char *key;
	size_t key_len;
	json_t *score;

	if (!json_is_object(v))
		return wrong_type(c, name, "an object", v);
	if (json_object_size(v) > MENTOR_SCORES_MAX)
		return reject(c, MENTOR_REJECT_TOO_MANY, "%s: %zu entries, more than %d", name,
			      json_object_size(v), MENTOR_SCORES_MAX);
	json_object_keylen_foreach(v, key, key_len, score) {
		int ignored_int;
		double ignored_real;

		if (!check_key(c, name, key, key_len))
			return false;
		nested_label(label, sizeof(label), name, key, key_len);
		if (f == MENTOR_F_ITEMS) {
			if (!check_int(c, label, score, c->rules->csat_min, c->rules->csat_max,
				       &ignored_int))
				return false;
		} else if (!check_percent(c, label, score, &ignored_real)) {
			return false;
		}
	}
	c->ev->scores = v;
	return true;
}

static bool check_fatal(struct parse_ctx *c, enum mentor_field f, json_t *v)
{
	const char *name = field_table[f].name;
	char label[32];
	size_t i;
	json_t *item;

	if (!json_is_array(v))
		return wrong_type(c, name, "an array", v);
	if (json_array_size(v) > MENTOR_SCORES_MAX)
		return reject(c, MENTOR_REJECT_TOO_MANY, "%s: %zu entries, more than %d", name,
			      json_array_size(v), MENTOR_SCORES_MAX);
	json_array_foreach(v, i, item) {
		const char *ignored;

		snprintf(label, sizeof(label), "%s[%zu]", name, i);
		if (!check_id(c, label, item, &ignored))
			return false;
	}
	c->ev->fatal = v;
	return true;
}

/*
 * An agent's programs: names obeying the id rules. A name given twice is
 * dropped from the array (it lives in json_root, which the event owns), so
 * that the roster stores each program once.
 */
static bool check_programs(struct parse_ctx *c, enum mentor_field f, json_t *v)
{
	const char *name = field_table[f].name;
	char label[32];
	const char *id;

	if (!json_is_array(v))
		return wrong_type(c, name, "an array", v);
	if (json_array_size(v) > MENTOR_SCORES_MAX)
		return reject(c, MENTOR_REJECT_TOO_MANY, "%s: %zu entries, more than %d", name,
			      json_array_size(v), MENTOR_SCORES_MAX);
	for (size_t i = 0; i < json_array_size(v); i++) {
		snprintf(label, sizeof(label), "%s[%zu]", name, i);
		if (!check_id(c, label, json_array_get(v, i), &id))
			return false;
	}
	for (size_t i = json_array_size(v); i-- > 1;)
		for (size_t j = 0; j < i; j++)
			if (json_equal(json_array_get(v, i), json_array_get(v, j))) {
				json_array_remove(v, i);
				break;
			}
	c->ev->programs = v;
	return true;
}

/* ---- JSON pointers (RFC 6901) ----------------------------------------- */

enum pointer_result { POINTER_ABSENT, POINTER_FOUND, POINTER_INVALID };

/* RFC 6901 array index: "0" or digits without a leading zero; "-" names nothing. */
static bool array_index(const char *token, size_t len, size_t *out)
{
	size_t n = 0;

	if (len == 0 || (len > 1 && token[0] == '0'))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (token[i] < '0' || token[i] > '9')
			return false;
		if (n > (SIZE_MAX - 9) / 10)
			return false;
		n = n * 10 + (size_t)(token[i] - '0');
	}
	*out = n;
	return true;
}

static json_t *pointer_step(json_t *cur, const char *token, size_t len)
{
	size_t index;

	if (json_is_object(cur))
		return json_object_getn(cur, token, len);
	if (json_is_array(cur) && array_index(token, len, &index))
		return json_array_get(cur, index);
	return NULL;
}

/*
 * Resolves ptr (at most MENTOR_ID_MAX - 1 bytes, as a field map holds) in root.
 * The whole pointer is read even after a step finds nothing, so a malformed
 * pointer is reported as such whatever the document looks like.
 */
static enum pointer_result pointer_resolve(json_t *root, const char *ptr, json_t **out)
{
	char token[MENTOR_ID_MAX];
	json_t *cur = root;

	if (ptr[0] != '/')
		return POINTER_INVALID;
	while (*ptr == '/') {
		size_t n = 0;

		ptr++;
		while (*ptr != '\0' && *ptr != '/') {
			char ch = *ptr++;

			if (ch == '~') {
				if (*ptr == '0')
					ch = '~';
				else if (*ptr == '1')
					ch = '/';
				else
					return POINTER_INVALID;
				ptr++;
			}
			token[n++] = ch;
		}
		if (cur)
			cur = pointer_step(cur, token, n);
	}
	*out = cur;
	return cur ? POINTER_FOUND : POINTER_ABSENT;
}

/* ---- parse ------------------------------------------------------------ */

static bool load(struct parse_ctx *c, const void *buf, size_t len)
{
	json_error_t err;
	char q[sizeof(err.text) * 4 + 4];
	json_t *root;

	/*
	 * Duplicate keys are rejected: producers disagree on which one wins, so
	 * accepting them would mean guessing. NUL is allowed inside strings so
	 * that an id holding one is reported as a bad id, not as broken JSON.
	 * Any top-level value is loaded so that "not an object" can be said.
	 */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
			  &err);
	if (!root) {
		sanitize_text(q, sizeof(q), err.text, bounded_len(err.text, sizeof(err.text)),
			      sizeof(err.text), false);
		if (json_error_code(&err) == json_error_invalid_utf8)
			return reject(c, MENTOR_REJECT_INVALID_UTF8,
				      "message: invalid UTF-8 at byte %d: %s", err.position, q);
		return reject(c, MENTOR_REJECT_MALFORMED_JSON,
			      "message: malformed JSON at line %d column %d (byte %d): %s",
			      err.line, err.column, err.position, q);
	}
	c->ev->json_root = root;
	if (!json_is_object(root))
		return reject(c, MENTOR_REJECT_NOT_OBJECT,
			      "message: expected a JSON object, got %s", type_name(root));
	return true;
}

static bool check_field(struct parse_ctx *c, enum mentor_field f)
{
	const struct field_desc *d = &field_table[f];
	const char *ptr = c->rules->map[c->kind].pointer[f];
	enum mentor_field_use use = d->use[c->kind];
	bool required = use == REQ;
	json_t *v = NULL;

	if (use == NONE)
		return true;
	if (bounded_len(ptr, MENTOR_ID_MAX) == MENTOR_ID_MAX)
		return reject(c, MENTOR_REJECT_MISSING_FIELD,
			      "%s: mapped to an unterminated JSON pointer", d->name);
	if (ptr[0] == '\0') {
		/* An unmapped schema means the topic alone says what the event is. */
		if (required && f != MENTOR_F_SCHEMA)
			return reject(c, MENTOR_REJECT_MISSING_FIELD, "%s: required but not mapped",
				      d->name);
		return true;
	}
	switch (pointer_resolve(c->ev->json_root, ptr, &v)) {
	case POINTER_INVALID:
		return reject(c, MENTOR_REJECT_MISSING_FIELD,
			      "%s: mapped to an invalid JSON pointer", d->name);
	case POINTER_ABSENT:
	case POINTER_FOUND:
		break;
	}
	if (!v || json_is_null(v)) {
		if (!required)
			return true;
		if (f == MENTOR_F_SCHEMA)
			return reject(c, MENTOR_REJECT_UNKNOWN_SCHEMA, "%s: missing", d->name);
		return reject(c, MENTOR_REJECT_MISSING_FIELD, "%s: missing", d->name);
	}
	return d->check(c, f, v);
}

bool mentor_event_parse(const struct mentor_event_rules *rules, enum mentor_event_kind kind,
			const void *buf, size_t len, int64_t now_us,
			struct mentor_event *ev, struct mentor_reject *why)
{
	struct mentor_reject ignored;
	struct parse_ctx c = {
		.rules = rules,
		.kind = kind,
		.now_us = now_us,
		.ev = ev,
		.why = why ? why : &ignored,
	};

	memset(ev, 0, sizeof(*ev));
	if ((unsigned)kind >= MENTOR_EVENT_KIND_COUNT)
		return reject(&c, MENTOR_REJECT_UNKNOWN_SCHEMA, "schema: no event kind %d",
			      (int)kind);
	if (!buf || len == 0)
		return reject(&c, MENTOR_REJECT_EMPTY, "message: empty");
	if (len > rules->max_message_bytes)
		return reject(&c, MENTOR_REJECT_OVERSIZE,
			      "message: %zu bytes, more than the limit of %zu", len,
			      rules->max_message_bytes);
	ev->kind = kind;
	ev->nps = -1;
	ev->active = true;
	if (!load(&c, buf, len))
		goto fail;
	for (int f = 0; f < MENTOR_F_COUNT; f++)
		if (!check_field(&c, (enum mentor_field)f))
			goto fail;
	return true;
fail:
	mentor_event_clear(ev);
	return false;
}

/* ---- time ------------------------------------------------------------- */

static bool take_digits(const char **p, int count, int *out)
{
	int v = 0;

	for (int i = 0; i < count; i++) {
		char ch = (*p)[i];

		/* Checked one at a time, so a short string stops at its terminator. */
		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (ch - '0');
	}
	*p += count;
	*out = v;
	return true;
}

static bool take_char(const char **p, const char *set)
{
	if (**p == '\0' || !strchr(set, **p))
		return false;
	(*p)++;
	return true;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* ".250" -> 250000 microseconds; digits past the sixth are dropped, at most nine in all. */
static bool take_fraction(const char **p, int *us)
{
	int digits = 0, v = 0;

	if (**p != '.')
		return true;
	(*p)++;
	while (**p >= '0' && **p <= '9') {
		if (++digits > 9)
			return false;
		if (digits <= 6)
			v = v * 10 + (**p - '0');
		(*p)++;
	}
	if (digits == 0)
		return false;
	for (int i = digits; i < 6; i++)
		v *= 10;
	*us = v;
	return true;
}

/* Seconds east of UTC from "Z", "+HH:MM" or "-HH:MM". */
static bool take_offset(const char **p, int *offset_s)
{
	int sign, oh, om;

	if (take_char(p, "Zz")) {
		*offset_s = 0;
		return true;
	}
	if (**p != '+' && **p != '-')
		return false;
	sign = **p == '-' ? -1 : 1;
	(*p)++;
	if (!take_digits(p, 2, &oh) || !take_char(p, ":") || !take_digits(p, 2, &om))
		return false;
	if (oh > 23 || om > 59)
		return false;
	*offset_s = sign * (oh * 3600 + om * 60);
	return true;
}

/*
 * A leap second (second 60) is accepted anywhere, as RFC 3339 leaves its
 * validity to the leap second table, which we do not carry; it is read as
 * the last microsecond of second 59 so that it still sorts before the next
 * minute and every window sees it in the minute it belongs to.
 */
bool mentor_time_parse_rfc3339(const char *text, int64_t *ret_us)
{
	const char *p = text;
	int y, mo, d, h, mi, s, us = 0, offset_s;
	int64_t secs;

	if (!p)
		return false;
	if (!take_digits(&p, 4, &y) || !take_char(&p, "-") || !take_digits(&p, 2, &mo) ||
	    !take_char(&p, "-") || !take_digits(&p, 2, &d) || !take_char(&p, "Tt ") ||
	    !take_digits(&p, 2, &h) || !take_char(&p, ":") || !take_digits(&p, 2, &mi) ||
	    !take_char(&p, ":") || !take_digits(&p, 2, &s) || !take_fraction(&p, &us) ||
	    !take_offset(&p, &offset_s) || *p != '\0')
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60)
		return false;
	if (s == 60) {
		s = 59;
		us = 999999;
	}
	secs = mentor_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_s;
	if (ret_us)
		*ret_us = secs * US_PER_S + us;
	return true;
}
