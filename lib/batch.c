#include "mentor/batch.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "copytext.h"
#include "grow.h"
#include "hash.h"
#include "mentor/stats.h"

/*
 * Interned strings: dense ids 0..n-1 for distinct strings kept in an arena,
 * found through an open-addressing table (slot = id + 1, 0 = empty).
 */
struct intern {
	uint32_t *slots;
	size_t cap;       /* slots; a power of two, at least twice n */
	uint32_t *off, *len, *hash;  /* per id: where the string is in the arena, its hash */
	size_t n, cap_ids;
};

/* A staged score event: its event_id (interned), agent, program, time and UTC day, and where it came from. */
struct event_rec {
	uint32_t agent;
	uint32_t program;  /* in programs */
	int32_t day;      /* days since 1970-01-01 */
	bool fatal;       /* AQM with a non-empty fatal list */
	enum mentor_event_kind kind;  /* VOC or AQM */
	int64_t occurred_us;
	int64_t decide_us;  /* its decision time */
	size_t row;       /* where its row starts in the staged COPY text */
	size_t obs;       /* its first observation; the next event's first ends them */
	uint32_t part;    /* its partition in parts */
	int64_t offset, received_us;
	size_t kept, kept_len;  /* its reject row's beginning in `kept`; kept_len 0: not kept */
};

enum obs_scale {
	OBS_CSAT,     /* native on the CSAT scale: csat and VOC items */
	OBS_PERCENT,  /* native on 0..100: AQM overall and behaviors */
	OBS_TOP2,     /* csat_top2: mant is the CSAT score */
};

/* One observation, on its native scale: mant * 10^exp10 exactly, as stored in score_events. */
struct obs_rec {
	uint32_t event, metric;
	int64_t mant;
	int16_t exp10;
	uint8_t scale;  /* enum obs_scale */
};

struct mentor_batch {
	const struct mentor_event_rules *rules;  /* borrowed: the CSAT scale of the observations */
	struct text_buf stage[MENTOR_STAGE_COUNT];
	struct text_buf arena;  /* interned strings, NUL-terminated */
	struct text_buf kept;   /* reject rows, as far as the payload, of the events kept for a refusal */
	struct intern event_ids, agents, metric_names;
	struct intern programs;  /* the score events' programs, as resolved */
	/*
	 * The agents of the roster events staged, each with the only program of
	 * its last one (in roster_programs, which holds those names), or -1 if
	 * that one gives none or several.
	 */
	struct intern roster_agents, roster_programs;
	int32_t *roster_only;
	size_t cap_roster;
	struct text_buf scratch;  /* a roster event's programs as an array literal */
	mentor_program_lookup_fn lookup;  /* the agent's only program in the roster as stored; NULL: none known */
	const void *lookup_ctx;
	struct event_rec *events;
	size_t cap_events;
	struct obs_rec *obs;
	size_t n_obs, cap_obs;
	int failed;  /* an allocation failed outside the stage buffers */
	struct mentor_batch_partition *parts;
	size_t n_parts, cap_parts;
	size_t messages;
	uint64_t seq;  /* order of events within the batch: the last roster update wins */
};

static void col_origin(struct text_buf *b, const struct mentor_origin *o)
{
	col_text(b, o->topic);
	col_int(b, o->partition);
	col_int(b, o->offset);
	col_int(b, o->received_us);
}

/* Finds, or creates on first sight, the batch's record of o's partition and extends its range. */
static int note_partition(struct mentor_batch *b, const struct mentor_origin *o,
			  struct mentor_batch_partition **ret_part, struct mentor_error *err)
{
	struct mentor_batch_partition *p;

	if (strlen(o->topic) >= MENTOR_TOPIC_MAX)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "topic name longer than %d bytes", MENTOR_TOPIC_MAX - 1);
	for (size_t i = 0; i < b->n_parts; i++) {
		p = &b->parts[i];
		if (p->partition == o->partition && strcmp(p->topic, o->topic) == 0) {
			if (o->offset > p->last_offset)
				p->last_offset = o->offset;
			*ret_part = p;
			return MENTOR_OK;
		}
	}
	if (!mentor_grow((void **)&b->parts, &b->cap_parts, b->n_parts, sizeof(*b->parts), 16, SIZE_MAX))
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	p = &b->parts[b->n_parts++];
	strcpy(p->topic, o->topic);
	p->partition = o->partition;
	p->first_offset = o->offset;
	p->last_offset = o->offset;
	p->max_event_us = MENTOR_NO_EVENT_TIME;
	*ret_part = p;
	return MENTOR_OK;
}

static int stage_result(struct mentor_batch *b, enum mentor_stage stage, struct mentor_error *err)
{
	if (b->stage[stage].failed)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory staging a batch");
	b->messages++;
	return MENTOR_OK;
}

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = mentor_hash_bytes(s, n);

	return (uint32_t)(h ^ (h >> 32));
}

/* Returns the id of s[0..n), or -1. */
static long intern_find(const struct intern *in, const struct text_buf *arena, const char *s, size_t n, uint32_t h)
{
	if (!in->cap)
		return -1;
	for (size_t i = h & (in->cap - 1);; i = (i + 1) & (in->cap - 1)) {
		uint32_t slot = in->slots[i];

		if (!slot)
			return -1;
		slot--;
		if (in->hash[slot] == h && in->len[slot] == n && memcmp(arena->data + in->off[slot], s, n) == 0)
			return (long)slot;
	}
}

static void intern_place(struct intern *in, uint32_t id)
{
	size_t i = in->hash[id] & (in->cap - 1);

	while (in->slots[i])
		i = (i + 1) & (in->cap - 1);
	in->slots[i] = id + 1;
}

/* Adds s[0..n) (not present) and returns its id, or -1 on allocation failure. */
static long intern_add(struct intern *in, struct text_buf *arena, const char *s, size_t n, uint32_t h)
{
	size_t id = in->n;

	if (arena->len + n + 1 > UINT32_MAX || id >= UINT32_MAX - 1)
		return -1;
	if (2 * (id + 1) > in->cap) {
		size_t cap = in->cap ? 2 * in->cap : 1024;
		uint32_t *slots = calloc(cap, sizeof(*slots));

		if (!slots)
			return -1;
		free(in->slots);
		in->slots = slots;
		in->cap = cap;
		for (size_t j = 0; j < id; j++)
			intern_place(in, (uint32_t)j);
	}
	if (id >= in->cap_ids) {
		size_t cap = in->cap_ids ? 2 * in->cap_ids : 256;
		uint32_t *off = realloc(in->off, cap * sizeof(*off));

		if (off)
			in->off = off;
		uint32_t *len = off ? realloc(in->len, cap * sizeof(*len)) : NULL;

		if (len)
			in->len = len;
		uint32_t *hash = len ? realloc(in->hash, cap * sizeof(*hash)) : NULL;

		if (!hash)
			return -1;
		in->hash = hash;
		in->cap_ids = cap;
	}
	in->off[id] = (uint32_t)arena->len;
	buf_append(arena, s, n);
	buf_append(arena, "", 1);
	if (arena->failed)
		return -1;
	in->len[id] = (uint32_t)n;
	in->hash[id] = h;
	in->n++;
	intern_place(in, (uint32_t)id);
	return (long)id;
}

static long intern(struct intern *in, struct text_buf *arena, const char *s, size_t n)
{
	uint32_t h = hash_bytes(s, n);
	long id = intern_find(in, arena, s, n, h);

	return id >= 0 ? id : intern_add(in, arena, s, n, h);
}

static void intern_reset(struct intern *in)
{
	if (in->cap)
		memset(in->slots, 0, in->cap * sizeof(*in->slots));
	in->n = 0;
}

static void intern_free(struct intern *in)
{
	free(in->slots);
	free(in->off);
	free(in->len);
	free(in->hash);
}

static int add_obs(struct mentor_batch *b, uint32_t event, const char *metric, size_t len,
		   int64_t mant, int exp10, enum obs_scale scale)
{
	long id = intern(&b->metric_names, &b->arena, metric, len);
	struct obs_rec *o;

	if (id < 0 || !mentor_grow((void **)&b->obs, &b->cap_obs, b->n_obs, sizeof(*b->obs), 256, SIZE_MAX))
		return -1;
	o = &b->obs[b->n_obs++];
	o->event = event;
	o->metric = (uint32_t)id;
	o->mant = mant;
	o->exp10 = (int16_t)exp10;
	o->scale = (uint8_t)scale;
	return 0;
}

static int add_json_obs(struct mentor_batch *b, uint32_t event, const char *key, size_t len, json_t *v,
			enum obs_scale scale)
{
	int64_t mant;
	int exp10 = 0;

	if (json_is_integer(v))
		mant = json_integer_value(v);
	else
		decimal_of(json_number_value(v), &mant, &exp10);
	return add_obs(b, event, key, len, mant, exp10, scale);
}

/*
 * The number in b->programs of score event ev's program (mentor_batch_add_event
 * gives the order of the rules), or -1 on allocation failure.
 */
static long resolve_program(struct mentor_batch *b, const struct mentor_event *ev)
{
	const char *name = ev->program;
	size_t agent_len = strlen(ev->agent_id);
	char roster_name[MENTOR_ID_MAX];  /* interning may move the arena it is in */
	long roster;

	if (!name && b->rules->default_program[0] != '\0')
		name = b->rules->default_program;
	if (!name) {
		roster = intern_find(&b->roster_agents, &b->arena, ev->agent_id, agent_len,
				     hash_bytes(ev->agent_id, agent_len));
		if (roster >= 0 && b->roster_only[roster] >= 0) {
			uint32_t only = (uint32_t)b->roster_only[roster];

			memcpy(roster_name, b->arena.data + b->roster_programs.off[only], b->roster_programs.len[only] + 1);
			name = roster_name;
		} else if (roster < 0 && b->lookup) {
			name = b->lookup(b->lookup_ctx, ev->agent_id, agent_len);
		}
	}
	if (!name)
		name = MENTOR_DEFAULT_PROGRAM;
	return intern(&b->programs, &b->arena, name, strlen(name));
}

/* Records a new score event's program and observations; its id was just interned as number `event`. */
static int note_score_event(struct mentor_batch *b, uint32_t event, const struct mentor_event *ev, int64_t decide_us)
{
	long agent = intern(&b->agents, &b->arena, ev->agent_id, strlen(ev->agent_id));
	long program = agent < 0 ? -1 : resolve_program(b, ev);
	const char *key;
	size_t key_len;
	json_t *v;
	int64_t mant;
	int exp10;
	enum obs_scale scale = ev->kind == MENTOR_EVENT_VOC ? OBS_CSAT : OBS_PERCENT;

	if (program < 0 || !mentor_grow((void **)&b->events, &b->cap_events, event, sizeof(*b->events), 256, SIZE_MAX))
		return -1;
	b->events[event].agent = (uint32_t)agent;
	b->events[event].program = (uint32_t)program;
	b->events[event].day = (int32_t)mentor_stats_day_of(ev->occurred_at_us);
	b->events[event].kind = ev->kind;
	b->events[event].occurred_us = ev->occurred_at_us;
	b->events[event].decide_us = decide_us;
	b->events[event].fatal = ev->fatal && json_array_size(ev->fatal) > 0;
	b->events[event].obs = b->n_obs;
	b->events[event].kept_len = 0;
	if (ev->kind == MENTOR_EVENT_VOC) {
		if (add_obs(b, event, "csat", 4, ev->csat, 0, OBS_CSAT) != 0 ||
		    add_obs(b, event, "csat_top2", 9, ev->csat, 0, OBS_TOP2) != 0)
			return -1;
	} else {
		decimal_of(ev->overall, &mant, &exp10);
		if (add_obs(b, event, "aqm", 3, mant, exp10, OBS_PERCENT) != 0)
			return -1;
	}
	if (ev->scores)
		json_object_keylen_foreach(ev->scores, key, key_len, v)
			if (add_json_obs(b, event, key, key_len, v, scale) != 0)
				return -1;
	return 0;
}

/* A score_events row, in its column order (event_stream.c's COPY); program: as resolved. */
static void stage_score_event(struct text_buf *t, const struct mentor_event *ev, const struct mentor_origin *o,
			      int64_t decide_us, const char *program)
{
	col_text(t, ev->event_id);
	col_text(t, ev->kind == MENTOR_EVENT_VOC ? "voc" : "aqm");
	col_text(t, ev->agent_id);
	col_text(t, ev->interaction_id);
	col_text(t, ev->channel);
	col_timestamp(t, ev->occurred_at_us);
	col_timestamp(t, o->received_us);
	if (ev->kind == MENTOR_EVENT_VOC) {
		col_int(t, ev->csat);
		if (ev->nps >= 0)
			col_int(t, ev->nps);
		else
			buf_append(t, "\\N\t", 3);
		buf_append(t, "\\N\t", 3);
	} else {
		int64_t mant;
		int exp10;

		buf_append(t, "\\N\t\\N\t", 6);
		decimal_of(ev->overall, &mant, &exp10);
		col_decimal(t, mant, exp10);
	}
	col_json(t, ev->scores);
	col_json(t, ev->fatal);
	col_text(t, o->topic);
	col_int(t, o->partition);
	col_int(t, o->offset);
	col_timestamp(t, decide_us);
	col_text(t, program);
	row_end(t);
}

/*
 * The decision time of a score event at time t_us whose partition's newest
 * earlier event time is stream_us (MENTOR_NO_EVENT_TIME: none): it is never
 * before the partition's stream time minus the allowed lateness, so a
 * watermark of those stream times never passes an event still to come.
 */
static int64_t decide_time(int64_t t_us, int64_t stream_us, int64_t lateness_us)
{
	int64_t floor_us = stream_us == MENTOR_NO_EVENT_TIME ? INT64_MIN : stream_us - lateness_us;

	return t_us > floor_us ? t_us : floor_us;
}

/* A text[] column of the strings of a JSON array (NULL: a NULL column), built in scratch. */
static void col_text_array(struct text_buf *t, struct text_buf *scratch, json_t *array)
{
	size_t i;
	json_t *item;

	if (!array) {
		buf_append(t, "\\N\t", 3);
		return;
	}
	scratch->len = 0;
	buf_append(scratch, "{", 1);
	json_array_foreach(array, i, item)
		buf_array_text(scratch, i == 0, json_string_value(item), json_string_length(item));
	buf_append(scratch, "}", 1);
	if (scratch->failed) {
		t->failed = 1;
		return;
	}
	buf_copy_text(t, scratch->data, scratch->len);
	col_sep(t);
}

static void stage_roster_event(struct text_buf *t, struct text_buf *scratch, uint64_t seq,
			       const struct mentor_event *ev, const struct mentor_origin *o)
{
	buf_printf(t, "%" PRIu64 "\t", seq);
	col_text(t, ev->agent_id);
	col_text(t, ev->name);
	col_text(t, ev->team_id);
	col_text(t, ev->team_lead_id);
	col_text(t, ev->site);
	col_text(t, ev->language);
	col_text(t, ev->active ? "t" : "f");
	if (ev->occurred_at_us)
		buf_printf(t, "%" PRId64 "\t", ev->occurred_at_us);
	else
		buf_append(t, "\\N\t", 3);
	col_origin(t, o);
	col_text_array(t, scratch, ev->programs);
	row_end(t);
}

/* Notes a roster event's agent and its only program, for the score events staged after it. -1 when out of memory. */
static int note_roster_event(struct mentor_batch *b, const struct mentor_event *ev)
{
	long agent = intern(&b->roster_agents, &b->arena, ev->agent_id, strlen(ev->agent_id));
	long only = -1;

	if (agent < 0 || !mentor_grow((void **)&b->roster_only, &b->cap_roster, (size_t)agent, sizeof(*b->roster_only),
				      64, SIZE_MAX))
		return -1;
	if (ev->programs && json_array_size(ev->programs) == 1) {
		json_t *name = json_array_get(ev->programs, 0);

		only = intern(&b->roster_programs, &b->arena, json_string_value(name), json_string_length(name));
		if (only < 0)
			return -1;
	}
	b->roster_only[agent] = (int32_t)only;
	return 0;
}

/* Columns of a stage_rejects row before the reason: origin, key, the payload or its prefix, its length and hash. */
static void stage_reject_payload(struct text_buf *t, const struct mentor_origin *o, const void *payload, size_t len,
				 size_t max_whole)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char digest[SHA256_DIGEST_LENGTH];
	char sha[3 + 2 * SHA256_DIGEST_LENGTH + 1] = "\\\\x";  /* bytea hex in COPY text: a backslash escaped, x, the digits */

	col_origin(t, o);
	col_bytea(t, o->key, o->key_len);
	if (len <= max_whole) {
		col_bytea(t, payload ? payload : "", payload ? len : 0);
		buf_append(t, "\\N\t\\N\t", 6);
		return;
	}
	SHA256(payload, len, digest);
	for (size_t i = 0; i < sizeof(digest); i++) {
		sha[3 + 2 * i] = hex[digest[i] >> 4];
		sha[4 + 2 * i] = hex[digest[i] & 0xf];
	}
	col_bytea(t, payload, MENTOR_REJECT_PREFIX_BYTES < len ? MENTOR_REJECT_PREFIX_BYTES : len);
	col_int(t, (int64_t)len);
	buf_append(t, sha, sizeof(sha) - 1);
	col_sep(t);
}

int mentor_batch_add_event(struct mentor_batch *b, const struct mentor_event *ev,
			   const struct mentor_origin *origin, const void *raw, size_t raw_len,
			   struct mentor_error *err)
{
	enum mentor_stage stage = ev->kind == MENTOR_EVENT_ROSTER ? MENTOR_STAGE_ROSTER : MENTOR_STAGE_EVENTS;
	struct mentor_batch_partition *p;
	int64_t decide_us = 0;
	int rc = note_partition(b, origin, &p, err);

	if (rc != MENTOR_OK)
		return rc;
	if (stage == MENTOR_STAGE_EVENTS) {
		int64_t stream_us = origin->stream_us > p->max_event_us ? origin->stream_us : p->max_event_us;

		decide_us = decide_time(ev->occurred_at_us, stream_us, b->rules->lateness_us[ev->kind]);
		if (ev->occurred_at_us > p->max_event_us)
			p->max_event_us = ev->occurred_at_us;
	}
	if (stage == MENTOR_STAGE_ROSTER) {
		if (note_roster_event(b, ev) != 0)
			b->failed = 1;
		stage_roster_event(&b->stage[stage], &b->scratch, b->seq++, ev, origin);
	} else {
		size_t id_len = strlen(ev->event_id);
		uint32_t h = hash_bytes(ev->event_id, id_len);
		long event;

		/* A repeat within the batch is not staged: the first copy wins. */
		if (intern_find(&b->event_ids, &b->arena, ev->event_id, id_len, h) >= 0) {
			b->seq++;
			return stage_result(b, stage, err);
		}
		event = intern_add(&b->event_ids, &b->arena, ev->event_id, id_len, h);
		if (event < 0 || note_score_event(b, (uint32_t)event, ev, decide_us) != 0) {
			b->failed = 1;
			stage_score_event(&b->stage[stage], ev, origin, decide_us, MENTOR_DEFAULT_PROGRAM);
		} else {
			struct event_rec *e = &b->events[event];

			e->row = b->stage[stage].len;
			e->part = (uint32_t)(p - b->parts);
			e->offset = origin->offset;
			e->received_us = origin->received_us;
			if (raw) {
				e->kept = b->kept.len;
				stage_reject_payload(&b->kept, origin, raw, raw_len, SIZE_MAX);
				e->kept_len = b->kept.len - e->kept;
				if (b->kept.failed)
					b->failed = 1;
			}
			stage_score_event(&b->stage[stage], ev, origin, decide_us,
					  b->arena.data + b->programs.off[e->program]);
		}
		b->seq++;
	}
	if (b->failed)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory staging a batch");
	return stage_result(b, stage, err);
}

int mentor_batch_add_reject(struct mentor_batch *b, const void *payload, size_t len,
			    const struct mentor_reject *why, const struct mentor_origin *origin,
			    struct mentor_error *err)
{
	struct text_buf *t = &b->stage[MENTOR_STAGE_REJECTS];
	struct mentor_batch_partition *p;
	int rc = note_partition(b, origin, &p, err);

	if (rc != MENTOR_OK)
		return rc;
	stage_reject_payload(t, origin, payload, len, b->rules->max_message_bytes);
	col_text(t, mentor_reject_code_name(why->code));
	col_text(t, why->detail);
	row_end(t);
	return stage_result(b, MENTOR_STAGE_REJECTS, err);
}

struct mentor_batch *mentor_batch_new(const struct mentor_event_rules *rules)
{
	struct mentor_batch *b = calloc(1, sizeof(*b));

	if (b)
		b->rules = rules;
	return b;
}

const struct mentor_event_rules *mentor_batch_rules(const struct mentor_batch *b)
{
	return b->rules;
}

void mentor_batch_set_program_lookup(struct mentor_batch *b, mentor_program_lookup_fn fn, const void *ctx)
{
	b->lookup = fn;
	b->lookup_ctx = ctx;
}

void mentor_batch_free(struct mentor_batch *b)
{
	if (!b)
		return;
	for (int s = 0; s < MENTOR_STAGE_COUNT; s++)
		free(b->stage[s].data);
	free(b->arena.data);
	free(b->kept.data);
	intern_free(&b->event_ids);
	intern_free(&b->agents);
	intern_free(&b->metric_names);
	intern_free(&b->programs);
	intern_free(&b->roster_agents);
	intern_free(&b->roster_programs);
	free(b->roster_only);
	free(b->scratch.data);
	free(b->events);
	free(b->obs);
	free(b->parts);
	free(b);
}

void mentor_batch_reset(struct mentor_batch *b)
{
	for (int s = 0; s < MENTOR_STAGE_COUNT; s++) {
		b->stage[s].len = 0;
		b->stage[s].rows = 0;
		b->stage[s].failed = 0;
	}
	b->arena.len = 0;
	b->arena.failed = 0;
	b->kept.len = 0;
	b->kept.failed = 0;
	intern_reset(&b->event_ids);
	intern_reset(&b->agents);
	intern_reset(&b->metric_names);
	intern_reset(&b->programs);
	intern_reset(&b->roster_agents);
	intern_reset(&b->roster_programs);
	b->n_obs = 0;
	b->failed = 0;
	b->n_parts = 0;
	b->messages = 0;
	b->seq = 0;
}

size_t mentor_batch_messages(const struct mentor_batch *b)
{
	return b->messages;
}

size_t mentor_batch_bytes(const struct mentor_batch *b)
{
	size_t n = b->kept.len;

	for (int s = 0; s < MENTOR_STAGE_COUNT; s++)
		n += b->stage[s].len;
	return n;
}

size_t mentor_batch_rows(const struct mentor_batch *b, enum mentor_stage stage)
{
	return b->stage[stage].rows;
}

const char *mentor_batch_copy_text(const struct mentor_batch *b, enum mentor_stage stage, size_t *ret_len)
{
	*ret_len = b->stage[stage].len;
	return b->stage[stage].data ? b->stage[stage].data : "";
}

size_t mentor_batch_partition_count(const struct mentor_batch *b)
{
	return b->n_parts;
}

const struct mentor_batch_partition *mentor_batch_partition_at(const struct mentor_batch *b, size_t i)
{
	return i < b->n_parts ? &b->parts[i] : NULL;
}

long mentor_batch_event_find(const struct mentor_batch *b, const char *event_id, size_t len)
{
	return intern_find(&b->event_ids, &b->arena, event_id, len, hash_bytes(event_id, len));
}

const char *mentor_batch_event_id(const struct mentor_batch *b, size_t i, size_t *ret_len)
{
	*ret_len = b->event_ids.len[i];
	return b->arena.data + b->event_ids.off[i];
}

size_t mentor_batch_event_row(const struct mentor_batch *b, size_t i)
{
	return i < b->event_ids.n ? b->events[i].row : b->stage[MENTOR_STAGE_EVENTS].len;
}

size_t mentor_batch_agent_count(const struct mentor_batch *b)
{
	return b->agents.n;
}

const char *mentor_batch_agent(const struct mentor_batch *b, size_t i, size_t *ret_len)
{
	*ret_len = b->agents.len[i];
	return b->arena.data + b->agents.off[i];
}

size_t mentor_batch_program_count(const struct mentor_batch *b)
{
	return b->programs.n;
}

const char *mentor_batch_program(const struct mentor_batch *b, size_t i, size_t *ret_len)
{
	*ret_len = b->programs.len[i];
	return b->arena.data + b->programs.off[i];
}

const char *mentor_batch_event_program(const struct mentor_batch *b, size_t i)
{
	return b->arena.data + b->programs.off[b->events[i].program];
}

size_t mentor_batch_event_program_id(const struct mentor_batch *b, size_t i)
{
	return b->events[i].program;
}

size_t mentor_batch_roster_count(const struct mentor_batch *b)
{
	return b->roster_agents.n;
}

const char *mentor_batch_roster_agent(const struct mentor_batch *b, size_t i, size_t *ret_len)
{
	*ret_len = b->roster_agents.len[i];
	return b->arena.data + b->roster_agents.off[i];
}

const char *mentor_batch_roster_program(const struct mentor_batch *b, size_t i)
{
	int32_t only = b->roster_only[i];

	return only >= 0 ? b->arena.data + b->roster_programs.off[only] : NULL;
}

__extension__ typedef __int128 i128;

/* round(num / den) half away from zero, den > 0. */
static i128 div_round(i128 num, i128 den)
{
	return num >= 0 ? (2 * num + den) / (2 * den) : -((-2 * num + den) / (2 * den));
}

int64_t mentor_normalize_micro(int64_t mant, int exp10, int lo, int hi)
{
	i128 num, den = (i128)hi - lo, p = 1;

	if (den <= 0)
		return 0;
	if (exp10 < -30) {
		/* |v| < 1e-15 (mant has at most 15 digits): rounds as 0 does, on any scale of range < 1e8. */
		mant = 0;
		exp10 = 0;
	}
	if (exp10 > 18)
		exp10 = 18;  /* beyond any valid score; kept from overflowing */
	for (int i = 0; i < (exp10 < 0 ? -exp10 : exp10); i++)
		p *= 10;
	if (exp10 >= 0) {
		num = ((i128)mant * p - lo) * 1000000;
	} else {
		num = ((i128)mant - (i128)lo * p) * 1000000;
		den *= p;
	}
	return (int64_t)div_round(num, den);
}

/* Observations in one parts row at most: 10^6 squares of at most 10^12 fit an int64. */
#define AGG_MAX_N 1000000

/* One aggregate row: an agent, program, metric and day, and sums in micro-units. */
struct agg_rec {
	uint32_t agent, program, metric;
	int32_t day;
	int64_t n, sum, sumsq;
};

static uint32_t agg_hash(uint32_t agent, uint32_t program, uint32_t metric, int32_t day)
{
	uint64_t h = ((uint64_t)agent * 0x9E3779B97F4A7C15ULL) ^ ((uint64_t)metric * 0xC2B2AE3D27D4EB4FULL) ^
		     ((uint64_t)(uint32_t)day * 0x165667B19E3779F9ULL) ^ ((uint64_t)program * 0xD6E8FEB86659FD93ULL);

	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ULL;
	return (uint32_t)(h ^ (h >> 32));
}

static int cmp_day(const void *x, const void *y)
{
	int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;

	return (a > b) - (a < b);
}

/* out->days: rows per day of the aggregates. */
static int collect_days(const struct agg_rec *agg, size_t n, struct mentor_daily *out)
{
	int32_t *days = malloc(n * sizeof(*days));
	size_t k = 0;

	out->days = malloc(n * sizeof(*out->days));
	if (!days || !out->days) {
		free(days);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		days[i] = agg[i].day;
	qsort(days, n, sizeof(*days), cmp_day);
	for (size_t i = 0; i < n; i++) {
		if (k == 0 || out->days[k - 1].day != days[i])
			out->days[k++] = (struct mentor_daily_day){ .day = days[i], .rows = 0 };
		out->days[k - 1].rows++;
	}
	out->n_days = k;
	free(days);
	return 0;
}

/* An observation normalized to 0..1, in millionths. */
static int64_t obs_micro(const struct obs_rec *o, const struct mentor_event_rules *rules)
{
	if (o->scale == OBS_TOP2)
		return o->mant >= rules->csat_max - 1 ? 1000000 : 0;
	if (o->scale == OBS_CSAT)
		return mentor_normalize_micro(o->mant, o->exp10, rules->csat_min, rules->csat_max);
	return mentor_normalize_micro(o->mant, o->exp10, 0, 100);
}

int mentor_batch_each_observation(const struct mentor_batch *b, const unsigned char *stored, mentor_observation_fn fn,
				  void *ctx)
{
	for (size_t i = 0; i < b->n_obs; i++) {
		const struct obs_rec *o = &b->obs[i];
		const struct event_rec *e = &b->events[o->event];
		struct mentor_observation ob;
		int rc;

		if (stored && !stored[o->event])
			continue;
		ob = (struct mentor_observation){
			.agent_id = b->arena.data + b->agents.off[e->agent],
			.metric = b->arena.data + b->metric_names.off[o->metric],
			.event_id = b->arena.data + b->event_ids.off[o->event],
			.program = b->arena.data + b->programs.off[e->program],
			.source = e->kind,
			.occurred_us = e->occurred_us,
			.decide_us = e->decide_us,
			.value_e6 = obs_micro(o, b->rules),
		};
		if ((rc = fn(ctx, &ob)) != MENTOR_OK)
			return rc;
	}
	return MENTOR_OK;
}

bool mentor_batch_event_fatal(const struct mentor_batch *b, size_t i)
{
	return b->events[i].fatal;
}

enum mentor_event_kind mentor_batch_event_kind(const struct mentor_batch *b, size_t i)
{
	return b->events[i].kind;
}

int64_t mentor_batch_event_decide_time(const struct mentor_batch *b, size_t i)
{
	return b->events[i].decide_us;
}

size_t mentor_batch_event_agent(const struct mentor_batch *b, size_t i)
{
	return b->events[i].agent;
}

void mentor_batch_event_origin(const struct mentor_batch *b, size_t i, const char **ret_topic,
			       int32_t *ret_partition, int64_t *ret_offset, int64_t *ret_received_us)
{
	const struct mentor_batch_partition *p = &b->parts[b->events[i].part];

	*ret_topic = p->topic;
	*ret_partition = p->partition;
	*ret_offset = b->events[i].offset;
	*ret_received_us = b->events[i].received_us;
}

const char *mentor_batch_event_kept(const struct mentor_batch *b, size_t i, size_t *ret_len)
{
	*ret_len = b->events[i].kept_len;
	return b->events[i].kept_len ? b->kept.data + b->events[i].kept : NULL;
}

size_t mentor_batch_metric_count(const struct mentor_batch *b)
{
	return b->metric_names.n;
}

const char *mentor_batch_metric(const struct mentor_batch *b, size_t i, size_t *ret_len)
{
	*ret_len = b->metric_names.len[i];
	return b->arena.data + b->metric_names.off[i];
}

void mentor_batch_event_metrics(const struct mentor_batch *b, size_t i, void (*fn)(void *ctx, size_t metric),
				void *ctx)
{
	size_t end = i + 1 < b->event_ids.n ? b->events[i + 1].obs : b->n_obs;

	for (size_t o = b->events[i].obs; o < end; o++)
		fn(ctx, b->obs[o].metric);
}

int mentor_batch_daily(const struct mentor_batch *b, const unsigned char *stored, struct mentor_daily *out,
		       struct mentor_error *err)
{
	const struct mentor_event_rules *rules = b->rules;
	struct agg_rec *agg = NULL;
	uint32_t *slots = NULL;
	unsigned char *seen = NULL;  /* per metric: 1 voc, 2 aqm */
	size_t n_agg = 0, cap = 1024;
	struct text_buf parts = { 0 }, metrics = { 0 };
	int rc = MENTOR_OK;

	memset(out, 0, sizeof(*out));
	while (cap < 2 * b->n_obs + 2)
		cap *= 2;
	slots = calloc(cap, sizeof(*slots));
	agg = malloc((b->n_obs + 1) * sizeof(*agg));
	seen = calloc(b->metric_names.n + 1, 1);
	if (!slots || !agg || !seen)
		goto nomem;
	for (size_t i = 0; i < b->n_obs; i++) {
		const struct obs_rec *o = &b->obs[i];
		const struct event_rec *e = &b->events[o->event];
		int64_t u;
		size_t k;

		if (stored && !stored[o->event])
			continue;
		u = obs_micro(o, rules);
		seen[o->metric] |= o->scale == OBS_PERCENT ? 2 : 1;
		for (k = agg_hash(e->agent, e->program, o->metric, e->day) & (cap - 1);; k = (k + 1) & (cap - 1)) {
			struct agg_rec *a;

			if (!slots[k]) {
				a = &agg[n_agg++];
				slots[k] = (uint32_t)n_agg;
				a->agent = e->agent;
				a->program = e->program;
				a->metric = o->metric;
				a->day = e->day;
				a->n = 0;
				a->sum = 0;
				a->sumsq = 0;
			} else {
				a = &agg[slots[k] - 1];
				/* A full row (its sumsq could overflow next) is left, and a new one begun. */
				if (a->agent != e->agent || a->program != e->program || a->metric != o->metric ||
				    a->day != e->day || a->n >= AGG_MAX_N)
					continue;
			}
			a->n++;
			a->sum += u;
			a->sumsq += u * u;
			break;
		}
	}
	if (n_agg > 0)
		bin_begin(&parts);
	for (size_t i = 0; i < n_agg; i++) {
		const struct agg_rec *a = &agg[i];

		bin_row(&parts, 7);
		bin_text_n(&parts, b->arena.data + b->agents.off[a->agent], b->agents.len[a->agent]);
		bin_text_n(&parts, b->arena.data + b->programs.off[a->program], b->programs.len[a->program]);
		bin_text_n(&parts, b->arena.data + b->metric_names.off[a->metric], b->metric_names.len[a->metric]);
		bin_date(&parts, (int32_t)a->day);
		bin_int8(&parts, a->n);
		bin_int8(&parts, a->sum);
		bin_int8(&parts, a->sumsq);
	}
	if (n_agg > 0)
		bin_end(&parts);
	if (n_agg > 0 && collect_days(agg, n_agg, out) != 0)
		goto nomem;
	for (size_t m = 0; m < b->metric_names.n; m++) {
		const char *name = b->arena.data + b->metric_names.off[m];
		int aqm = seen[m] & 2;

		if (!seen[m])
			continue;
		buf_copy_text(&metrics, name, b->metric_names.len[m]);
		col_sep(&metrics);
		if (strcmp(name, "csat_top2") == 0)
			buf_printf(&metrics, "%s\t0\t1\t", aqm ? "aqm" : "voc");
		else if (aqm)
			buf_printf(&metrics, "aqm\t0\t100\t");
		else
			buf_printf(&metrics, "voc\t%d\t%d\t", rules->csat_min, rules->csat_max);
		row_end(&metrics);
	}
	if (parts.failed || metrics.failed)
		goto nomem;
	out->parts = parts.data;
	out->parts_len = parts.len;
	out->parts_rows = parts.rows;
	out->metrics = metrics.data;
	out->metrics_len = metrics.len;
	out->metrics_rows = metrics.rows;
	parts.data = metrics.data = NULL;
	goto out;
nomem:
	free(out->days);
	out->days = NULL;
	out->n_days = 0;
	rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory aggregating a batch");
out:
	free(parts.data);
	free(metrics.data);
	free(slots);
	free(agg);
	free(seen);
	return rc;
}

void mentor_daily_free(struct mentor_daily *d)
{
	free(d->parts);
	free(d->metrics);
	free(d->days);
	d->parts = d->metrics = NULL;
	d->days = NULL;
	d->n_days = 0;
}
