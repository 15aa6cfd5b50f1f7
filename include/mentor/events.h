/*
 * Input events: one Kafka message holds one JSON event (SPEC section 1).
 *
 * mentor_event_parse() validates a message buffer against the rules of its
 * kind and either fills a struct mentor_event or says precisely why the
 * message is rejected. Field locations are JSON pointers (RFC 6901) taken from
 * a per-kind field map, so a vendor's own event shape can be read as it is.
 */
#ifndef MENTOR_EVENTS_H
#define MENTOR_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mentor_event_kind {
	MENTOR_EVENT_VOC,     /* voc.v1: a post-interaction survey */
	MENTOR_EVENT_AQM,     /* aqm.v1: an automated QM evaluation */
	MENTOR_EVENT_ROSTER,  /* agent.v1: an agent's attributes */
	MENTOR_EVENT_KIND_COUNT
};

/*
 * A time per source of score events, by kind: surveys (MENTOR_EVENT_VOC)
 * and evaluations (MENTOR_EVENT_AQM). The roster's slot is not used.
 */
struct mentor_source_times {
	int64_t us[MENTOR_EVENT_KIND_COUNT];
};

/* The program of a score event that names none when nothing else gives it one (docs/events.md). */
#define MENTOR_DEFAULT_PROGRAM "default"

/* Limits on user-controlled sizes; anything larger is rejected. */
#define MENTOR_ID_MAX 128        /* bytes in an id, name or attribute */
#define MENTOR_SCORES_MAX 64     /* entries in items, behaviors or fatal */

/* Every field any kind can have; each kind uses a subset (see events.c). */
enum mentor_field {
	MENTOR_F_SCHEMA,
	MENTOR_F_EVENT_ID,
	MENTOR_F_INTERACTION_ID,
	MENTOR_F_AGENT_ID,
	MENTOR_F_OCCURRED_AT,
	MENTOR_F_CHANNEL,
	MENTOR_F_CSAT,
	MENTOR_F_NPS,
	MENTOR_F_ITEMS,
	MENTOR_F_OVERALL,
	MENTOR_F_BEHAVIORS,
	MENTOR_F_FATAL,
	MENTOR_F_NAME,
	MENTOR_F_TEAM_ID,
	MENTOR_F_TEAM_LEAD_ID,
	MENTOR_F_SITE,
	MENTOR_F_LANGUAGE,
	MENTOR_F_ACTIVE,
	MENTOR_F_PROGRAM,
	MENTOR_F_PROGRAMS,
	MENTOR_F_COUNT
};

/* Where each field lives in a kind's JSON; "" means the field is not mapped
 * (allowed only for optional fields and for schema, whose check is then skipped). */
struct mentor_field_map {
	char pointer[MENTOR_F_COUNT][MENTOR_ID_MAX];
};

/* What a valid event must satisfy. Filled with defaults by mentor_event_rules_init(). */
struct mentor_event_rules {
	int csat_min, csat_max;          /* CSAT and VOC item scale, default 1..5 */
	size_t max_message_bytes;        /* checked before parsing, default 65536 */
	int64_t max_future_us;           /* occurred_at beyond now + this is rejected, default 1 day */
	int64_t max_past_us;             /* occurred_at before now - this is rejected, default 400 days; 0: no limit */
	/* Checked when a batch is stored (store.h), not by mentor_event_parse: */
	int64_t max_unknown_agents;      /* agents rows the roster does not know, default 100000 */
	int64_t max_behaviors;           /* distinct behaviors (metrics but the outcomes), default 1000 */
	/* Used when a batch is staged (batch.h), per source (the kind its topic
	 * carries): an event's decision time is at least its partition's newest
	 * earlier event time minus its source's; default 0. Roster: unused. */
	int64_t lateness_us[MENTOR_EVENT_KIND_COUNT];
	/* Used when a batch is staged: [ingest] program, the program of the score
	 * events that name none (an id; "": unset, default). */
	char default_program[MENTOR_ID_MAX];
	struct mentor_field_map map[MENTOR_EVENT_KIND_COUNT];
};

/* Why a message was rejected: a stable code for counting and a one-line detail. */
enum mentor_reject_code {
	MENTOR_REJECT_EMPTY,            /* zero-length or null payload */
	MENTOR_REJECT_OVERSIZE,         /* larger than max_message_bytes */
	MENTOR_REJECT_INVALID_UTF8,
	MENTOR_REJECT_MALFORMED_JSON,
	MENTOR_REJECT_NOT_OBJECT,       /* top level is not a JSON object */
	MENTOR_REJECT_UNKNOWN_SCHEMA,   /* schema missing, unknown, or not this topic's kind */
	MENTOR_REJECT_MISSING_FIELD,
	MENTOR_REJECT_WRONG_TYPE,
	MENTOR_REJECT_OUT_OF_RANGE,
	MENTOR_REJECT_BAD_ID,           /* empty, too long, or with control characters */
	MENTOR_REJECT_BAD_TIMESTAMP,    /* not RFC 3339 with a zone */
	MENTOR_REJECT_FUTURE_TIMESTAMP,
	MENTOR_REJECT_TOO_MANY,         /* more than MENTOR_SCORES_MAX entries */
	MENTOR_REJECT_TOO_OLD,          /* occurred_at older than max_past_us before the time of receipt */
	/* Refused when the batch is stored, not by mentor_event_parse: */
	MENTOR_REJECT_DATABASE_REFUSED, /* valid, but PostgreSQL refused it (a constraint, a trigger); detail: its message */
	MENTOR_REJECT_UNKNOWN_AGENT_LIMIT,  /* a new agent the roster does not know, past [ingest] max_unknown_agents */
	MENTOR_REJECT_TOO_MANY_BEHAVIORS,   /* a new behavior past [ingest] max_behaviors */
	MENTOR_REJECT_CODE_COUNT
};

struct mentor_reject {
	enum mentor_reject_code code;
	char detail[256];  /* names the field and what was wrong, e.g. "csat: 7 is outside 1..5" */
};

/* A valid event. Strings point into json_root and live until mentor_event_clear(). */
struct mentor_event {
	enum mentor_event_kind kind;
	json_t *json_root;             /* owned: the parsed document */
	const char *event_id;          /* VOC, AQM: required. Roster: optional, NULL if absent */
	const char *interaction_id;    /* NULL if absent */
	const char *agent_id;          /* required for every kind */
	const char *channel;           /* VOC: NULL if absent */
	int64_t occurred_at_us;        /* UTC microseconds since the epoch; roster: 0 if absent */
	int csat;                      /* VOC */
	int nps;                       /* VOC: -1 if absent */
	double overall;                /* AQM, 0..100 */
	json_t *scores;                /* VOC items or AQM behaviors: object name -> number, or NULL */
	json_t *fatal;                 /* AQM: array of behavior names, or NULL */
	const char *program;           /* VOC, AQM: the program the event names, NULL if absent */
	const char *name, *team_id, *team_lead_id, *site, *language;  /* roster: NULL if absent */
	bool active;                   /* roster: defaults to true */
	json_t *programs;              /* roster: array of distinct program names (maybe empty), or NULL */
};

/* Sets the SPEC defaults: scale 1..5, 64 KiB, 1 day ahead, 400 days back, and the field names of SPEC section 1. */
void mentor_event_rules_init(struct mentor_event_rules *rules);

/* Stable lower-case name of a reject code ("out_of_range"), used in tables and metrics. */
const char *mentor_reject_code_name(enum mentor_reject_code code);

/* Schema name of a kind ("voc.v1"). */
const char *mentor_event_kind_schema(enum mentor_event_kind kind);

/* Name of a field as used in configuration keys ("occurred_at"); NULL if out of range. */
const char *mentor_field_name(enum mentor_field field);

enum mentor_field_use { MENTOR_FIELD_UNUSED, MENTOR_FIELD_OPTIONAL, MENTOR_FIELD_REQUIRED };

/* Whether a kind has a field, and whether a valid event must carry it. */
enum mentor_field_use mentor_event_field_use(enum mentor_event_kind kind, enum mentor_field field);

/*
 * Parses and validates buf[0..len) as an event of the given kind, received at
 * now_us. Returns true and fills ev (caller calls mentor_event_clear) when
 * valid; returns false and fills why otherwise (ev is then left cleared).
 */
bool mentor_event_parse(const struct mentor_event_rules *rules, enum mentor_event_kind kind,
			const void *buf, size_t len, int64_t now_us,
			struct mentor_event *ev, struct mentor_reject *why);

/*
 * What is wrong with an id, name or key s[0..len) (SPEC section 1: 1 to
 * MENTOR_ID_MAX - 1 bytes, no NUL or other control character), as a phrase
 * ("is empty"), or NULL if nothing is. A static string.
 */
const char *mentor_id_problem(const char *s, size_t len);

/* Releases what mentor_event_parse() holds; safe on a cleared event. */
void mentor_event_clear(struct mentor_event *ev);

/*
 * Parses an RFC 3339 timestamp with a zone ("2026-11-02T14:05:11.250+01:00")
 * into UTC microseconds since the epoch. Returns false if it is not one.
 */
bool mentor_time_parse_rfc3339(const char *text, int64_t *ret_us);

#endif
