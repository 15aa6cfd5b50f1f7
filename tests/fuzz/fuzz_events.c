/*
 * Event parsing, every kind, with the default field map and with a vendor
 * map of [map.*] keys (nested pointers, an array index, an escaped '/').
 * The first byte of the input picks the kind (its value mod 3) and the map
 * (bit 2); the rest is the Kafka message. A parse must either accept an event
 * that obeys the rules of docs/events.md or reject it with a code and a
 * one-line detail.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_check.h"
#include "mentor/config.h"
#include "mentor/events.h"

/* 2026-11-02T14:05:11Z, the SPEC examples' time, as the receive time. */
#define NOW_US INT64_C(1793628311000000)

static struct mentor_event_rules default_rules, mapped_rules;

static const char *const vendor_map[][3] = {
	{ "map.voc", "schema", "" },
	{ "map.voc", "event_id", "/meta/id" },
	{ "map.voc", "agent_id", "/agent/id" },
	{ "map.voc", "occurred_at", "/meta/time" },
	{ "map.voc", "csat", "/survey/answers/0" },
	{ "map.voc", "nps", "/survey/answers/1" },
	{ "map.voc", "items", "/survey/items" },
	{ "map.voc", "channel", "/meta/media~1type" },
	{ "map.aqm", "schema", "/kind" },
	{ "map.aqm", "event_id", "/id" },
	{ "map.aqm", "agent_id", "/agent" },
	{ "map.aqm", "occurred_at", "/time" },
	{ "map.aqm", "overall", "/scores/overall" },
	{ "map.aqm", "behaviors", "/scores/behaviors" },
	{ "map.aqm", "fatal", "/scores/fatal" },
	{ "map.aqm", "interaction_id", "" },
	{ "map.aqm", "program", "/client/program" },
	{ "map.roster", "schema", "" },
	{ "map.roster", "agent_id", "/employee/id" },
	{ "map.roster", "name", "/employee/name" },
	{ "map.roster", "team_id", "/org/team" },
	{ "map.roster", "team_lead_id", "/org/lead" },
	{ "map.roster", "site", "/org/site" },
	{ "map.roster", "active", "/status/active" },
	{ "map.roster", "programs", "/org/programs" },
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct mentor_config *cfg = mentor_config_new();
	struct mentor_error err;

	(void)argc;
	(void)argv;
	FUZZ_CHECK(cfg);
	default_rules = cfg->rules;
	/* The map goes through the configuration's own parser, as mentord.conf's [map.*] lines do. */
	for (size_t i = 0; i < sizeof(vendor_map) / sizeof(vendor_map[0]); i++)
		FUZZ_CHECK(mentor_config_set(cfg, vendor_map[i][0], vendor_map[i][1], vendor_map[i][2], &err) ==
			   MENTOR_OK);
	FUZZ_CHECK(mentor_config_validate(cfg, &err) == MENTOR_OK);
	mapped_rules = cfg->rules;
	mentor_config_free(cfg);
	return 0;
}

/* An accepted id: non-empty, shorter than MENTOR_ID_MAX, no control character. */
static void check_id(const char *id, int required)
{
	if (!id) {
		FUZZ_CHECK(!required);
		return;
	}
	FUZZ_CHECK(id[0] != '\0' && strlen(id) < MENTOR_ID_MAX);
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		FUZZ_CHECK(*p >= 0x20 && *p != 0x7f);
}

static void check_event(const struct mentor_event_rules *rules, enum mentor_event_kind kind,
			const struct mentor_event *ev)
{
	FUZZ_CHECK(ev->kind == kind);
	FUZZ_CHECK(ev->json_root);
	check_id(ev->agent_id, 1);
	check_id(ev->interaction_id, 0);
	FUZZ_CHECK(ev->occurred_at_us <= NOW_US + rules->max_future_us);
	if (ev->scores)
		FUZZ_CHECK(json_is_object(ev->scores) && json_object_size(ev->scores) <= MENTOR_SCORES_MAX);
	if (ev->fatal)
		FUZZ_CHECK(json_is_array(ev->fatal) && json_array_size(ev->fatal) <= MENTOR_SCORES_MAX);
	if (ev->programs) {
		FUZZ_CHECK(kind == MENTOR_EVENT_ROSTER && json_is_array(ev->programs) &&
			   json_array_size(ev->programs) <= MENTOR_SCORES_MAX);
		/* Each a valid id, each once. */
		for (size_t i = 0; i < json_array_size(ev->programs); i++) {
			check_id(json_string_value(json_array_get(ev->programs, i)), 1);
			for (size_t j = 0; j < i; j++)
				FUZZ_CHECK(!json_equal(json_array_get(ev->programs, i), json_array_get(ev->programs, j)));
		}
	}
	check_id(ev->program, 0);
	switch (kind) {
	case MENTOR_EVENT_VOC:
		check_id(ev->event_id, 1);
		check_id(ev->channel, 0);
		FUZZ_CHECK(ev->csat >= rules->csat_min && ev->csat <= rules->csat_max);
		FUZZ_CHECK(ev->nps == -1 || (ev->nps >= 0 && ev->nps <= 10));
		break;
	case MENTOR_EVENT_AQM:
		check_id(ev->event_id, 1);
		FUZZ_CHECK(ev->overall >= 0 && ev->overall <= 100);
		break;
	case MENTOR_EVENT_ROSTER:
		check_id(ev->event_id, 0);
		check_id(ev->team_id, 0);
		check_id(ev->team_lead_id, 0);
		check_id(ev->site, 0);
		break;
	default:
		FUZZ_CHECK(0);
	}
}

/*
 * A reject's detail goes to rejected_events.detail, a text column: one line
 * of valid UTF-8 (or PostgreSQL refuses the whole batch), no control character.
 */
static void check_detail(const char *detail)
{
	json_t *as_string = json_string(detail);  /* NULL for invalid UTF-8 */

	FUZZ_CHECK(as_string);
	json_decref(as_string);
	for (const unsigned char *p = (const unsigned char *)detail; *p; p++)
		FUZZ_CHECK(*p >= 0x20 && *p != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct mentor_event_rules *rules;
	enum mentor_event_kind kind;
	struct mentor_event ev;
	struct mentor_reject why;

	if (size < 1)
		return 0;
	kind = (enum mentor_event_kind)(data[0] % MENTOR_EVENT_KIND_COUNT);
	rules = data[0] & 4 ? &mapped_rules : &default_rules;
	memset(&why, 0xa5, sizeof(why));
	if (mentor_event_parse(rules, kind, data + 1, size - 1, NOW_US, &ev, &why)) {
		check_event(rules, kind, &ev);
		mentor_event_clear(&ev);
	} else {
		FUZZ_CHECK((unsigned)why.code < MENTOR_REJECT_CODE_COUNT);
		FUZZ_CHECK(memchr(why.detail, '\0', sizeof(why.detail)) && why.detail[0] != '\0');
		check_detail(why.detail);
		FUZZ_CHECK(ev.json_root == NULL);
	}
	return 0;
}
