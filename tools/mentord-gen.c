/*
 * mentord-gen: a deterministic event generator for a simulated contact center.
 *
 * It produces one agent.v1 roster event per agent, then aqm.v1 and voc.v1
 * events (SPEC section 1) in arrival order, keyed by agent_id. An event
 * arrives at its occurred_at unless --aqm-delay-hours or --voc-delay-hours
 * make it late: real evaluations and surveys come hours or days after the
 * interaction, interleaved with the next days' events.
 * Every score is drawn from a latent skill per agent and behavior, and
 * --manifest writes those latent skills, so a test can compare what mentord
 * finds with what was planted. The same seed and options give byte-identical
 * payloads in the same order.
 *
 * --program, --first-agent and --skill-shift make a run one client program
 * of a center: its events name the program, its agents are numbered from a
 * given one (so that two runs can share agents) and its skills are moved as
 * a whole (so that programs with the same behavior names score apart).
 *
 * With --closed-loop-pg it also reads back what mentord decided: after each
 * day of arrivals it waits until mentord has consumed them, reads mentord's
 * pairings from PostgreSQL (libmentor's readback), and raises each mentee's
 * latent skill in the paired behavior from the pairing's start on, so that
 * mentord's KPI deltas and program effect have a known effect to find. The
 * output then depends on the pairings mentord wrote, and is the same for the
 * same pairings.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "mentor/readback.h"

#define EXIT_USAGE 2
#define MAX_PROPERTIES 64
#define SECONDS_PER_DAY 86400
#define WORKDAY_START_SECOND (8 * 3600)
#define WORKDAY_SECONDS (10 * 3600)
#define ADMIN_TIMEOUT_MS 15000
#define FLUSH_TIMEOUT_MS 60000
#define QUEUE_FULL_POLL_MS 50
#define POLL_EVERY_MESSAGES 1000
#define PAYLOAD_MAX 1024
/* Closed loop: how often mentord's stored offsets are polled while waiting. */
#define CLOSED_LOOP_POLL_MS 50
#define CLOSED_LOOP_TIMEOUT_S 300
#define DEFAULT_EFFECT 0.15
#define DEFAULT_EFFECT_RAMP_DAYS 14.0
/* Longest --aqm-delay-hours or --voc-delay-hours: 30 days. */
#define MAX_DELAY_HOURS 720.0
/* Agent numbers: ids are A%04u, so at most 6 digits fit the id's buffer. */
#define MAX_AGENT_NUMBER 999999u
/* Longest --program: mentord's id rule (docs/events.md, "Ids and names"). */
#define MAX_PROGRAM_BYTES 127
#define MAX_SKILL_SHIFT 0.5

/* Model parameters. Latent skills are on 0..1, like mentord's normalized scores. */
#define TYPICAL_SKILL_MEAN 0.78
#define TYPICAL_SKILL_SD 0.08
/* Typical skills are kept clear of mentord's default low threshold (0.60 plus
 * its 0.05 hysteresis), so planted_low in the manifest is the whole truth about
 * which (agent, behavior) pairs are low. */
#define TYPICAL_SKILL_MIN 0.66
#define TYPICAL_SKILL_MAX 0.95
#define LOW_SKILL_MEAN 0.40
#define LOW_SKILL_SD 0.05
#define LOW_SKILL_MIN 0.30
#define LOW_SKILL_MAX 0.50
/* Strong skills sit well above the default mentor threshold (0.85 on the
 * lower bound of the interval) so that mentors exist. */
#define STRONG_SHARE 0.07
#define STRONG_SKILL_MIN 0.92
#define STRONG_SKILL_MAX 0.98
#define INACTIVE_SHARE 0.03
#define VOLUME_MIN 0.75
#define VOLUME_MAX 1.25
#define WEEKEND_VOLUME 0.3
#define MAX_INTERACTIONS_PER_DAY 100.0
#define AQM_NOISE_SD 0.15
#define VOICE_SHARE 0.60
#define CHAT_SHARE 0.30
#define HOLD_SHARE 0.45
#define FATAL_SHARE 0.003
#define FATAL_SHARE_MAX 0.05
#define FATAL_SCORE_STEPS 4
#define MOOD_SD 0.18
#define NPS_NOISE_SD 0.08
#define ITEM_MOOD_WEIGHT 0.6
#define ITEM_NOISE_SD 0.12
#define NPS_SHARE 0.8
#define ITEMS_SHARE 0.7

enum topic_kind { TOPIC_VOC, TOPIC_AQM, TOPIC_ROSTER, TOPIC_COUNT };

static const char *const TOPIC_LABELS[TOPIC_COUNT] = {"voc", "aqm", "roster"};

/* AQM behaviors first, then the VOC survey items: mentord treats both as
 * behaviors, so both get a latent skill and a manifest row. */
enum skill {
	SKILL_GREETING,
	SKILL_EMPATHY,
	SKILL_HOLD_ETIQUETTE,
	SKILL_ASSURANCE_OF_AVAILABILITY,
	SKILL_ACTIVE_LISTENING,
	SKILL_OWNERSHIP,
	SKILL_COMPLIANCE_DISCLOSURE,
	SKILL_RESOLUTION_STEPS,
	AQM_BEHAVIOR_COUNT,
	SKILL_COURTESY = AQM_BEHAVIOR_COUNT,
	SKILL_KNOWLEDGE,
	SKILL_EASE,
	SKILL_COUNT
};

static const char *const SKILL_NAMES[SKILL_COUNT] = {
	"greeting", "empathy", "hold_etiquette", "assurance_of_availability",
	"active_listening", "ownership", "compliance_disclosure", "resolution_steps",
	"courtesy", "knowledge", "ease",
};

/* Checklist-like behaviors come from AQM rubrics scored in steps of 5; the
 * others from models that give one decimal. Real AQM feeds mix both. */
static const bool SCORED_IN_STEPS_OF_5[AQM_BEHAVIOR_COUNT] = {
	[SKILL_GREETING] = true,
	[SKILL_HOLD_ETIQUETTE] = true,
	[SKILL_COMPLIANCE_DISCLOSURE] = true,
	[SKILL_OWNERSHIP] = true,
};

enum channel { CHANNEL_VOICE, CHANNEL_CHAT, CHANNEL_EMAIL };

static const char *const CHANNEL_NAMES[] = {"voice", "chat", "email"};

static const char *const SITES[] = {"WPG", "MNL", "DUB"};
#define SITE_COUNT (sizeof SITES / sizeof SITES[0])

static const char *const FIRST_NAMES[] = {
	"Summer", "Ava", "Noah", "Liam", "Maya", "Chloe", "Ethan", "Priya",
	"Jose", "Maria", "Luis", "Sofia", "Aoife", "Ciaran", "Niamh", "Sean",
	"Angelo", "Bea", "Carlo", "Joy", "Marc", "Julie", "Emile", "Nadia",
	"Omar", "Lena", "Ravi", "Grace", "Tomas", "Ines", "Kofi", "Hana",
};
#define FIRST_NAME_COUNT (sizeof FIRST_NAMES / sizeof FIRST_NAMES[0])

/* Independent random streams, so that for instance --survey-share does not
 * change the AQM scores of the same seed. */
enum stream {
	STREAM_ROSTER = 1,
	STREAM_SCHEDULE,
	STREAM_INTERACTION,
	STREAM_AQM_ID,
	STREAM_VOC_ID,
	STREAM_AQM_ARRIVAL,
	STREAM_VOC_ARRIVAL,
};

struct options {
	const char *brokers;
	unsigned agents;
	unsigned days;
	unsigned team_size;
	unsigned partitions;
	uint64_t seed;
	time_t start;
	double interactions_per_day;
	double survey_share;
	double low_share;
	double duplicate_share;
	double aqm_delay_hours;
	double voc_delay_hours;
	/* NULL: events and roster rows name no program. */
	const char *program;
	unsigned first_agent;
	double skill_shift;
	const char *topics[TOPIC_COUNT];
	const char *manifest_path;
	bool count_only;
	bool roster_only;
	bool no_roster;
	const char *properties[MAX_PROPERTIES];
	unsigned property_count;
	/* Closed loop: on when closed_loop_pg is set ("" means the PG* variables). */
	const char *closed_loop_pg;
	const char *closed_loop_schema;
	const char *closed_loop_group;
	unsigned closed_loop_timeout;
	double effect;
	double effect_ramp_days;
	/* A closed-loop option given without --closed-loop-pg, to refuse it. */
	const char *closed_loop_option_alone;
};

struct rng {
	uint64_t s[4];
};

struct agent {
	char id[16];
	char name[24];
	unsigned team;
	const char *site;
	const char *language;
	bool active;
	double volume;
	double skill[SKILL_COUNT];
	bool planted_low[SKILL_COUNT];
	double mean_aqm_skill;
};

struct scheduled_interaction {
	uint32_t second_of_day;
	uint32_t sequence;
	uint32_t agent;
	uint8_t channel;
};

struct delivery_stats {
	uint64_t delivered;
	uint64_t failed;
	rd_kafka_resp_err_t first_error;
	/* Closed loop only: where each partition's delivered messages end. */
	struct delivered_offsets *offsets;
};

/* Where events go: Kafka, or nowhere when only counting them. */
struct sink {
	rd_kafka_t *producer;
	rd_kafka_topic_t *topics[TOPIC_COUNT];
	uint64_t sent[TOPIC_COUNT];
	uint64_t duplicates;
};

/* One AQM or VOC message waiting for its arrival time, formatted already. */
struct pending_message {
	int64_t arrival;	/* seconds since the epoch: occurred_at plus the delay */
	uint64_t interaction;	/* the interaction's number: numbers follow occurred_at */
	enum topic_kind topic;
	bool twice;		/* --duplicate-share: sent again right after */
	uint32_t agent;
	size_t len;
	char *data;		/* owned */
};

/* A binary min-heap of pending messages by arrives_before. */
struct arrival_queue {
	struct pending_message *items;
	size_t count;
	size_t capacity;
};

struct generator {
	const struct options *opt;
	const struct agent *agents;
	struct sink *sink;
	struct closed_loop *loop; /* NULL unless --closed-loop-pg */
	struct rng schedule_rng;
	struct scheduled_interaction *schedule;
	size_t schedule_capacity;
	uint64_t interaction_counter;
	struct arrival_queue pending;
};

struct payload {
	char data[PAYLOAD_MAX];
	size_t len;
};

/* The closed loop (section "closed loop" below) sits between the generator,
 * which asks it for each agent's current skills, and Kafka and PostgreSQL. */
static const struct agent *closed_loop_agent(struct closed_loop *loop, uint32_t index, time_t at,
					     struct agent *copy);
static bool closed_loop_day_done(struct closed_loop *loop, struct sink *sink);

/* ---- random numbers: splitmix64 to seed, xoshiro256** to draw ---- */

static uint64_t splitmix64_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t splitmix64_next(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return splitmix64_mix(*state);
}

/* The mix is a bijection, so for one seed and stream distinct indexes give
 * distinct keys: event ids built from keys never collide within a run. */
static uint64_t stream_key(uint64_t seed, enum stream stream, uint64_t index)
{
	return splitmix64_mix(splitmix64_mix(seed ^ ((uint64_t)stream << 56)) + index);
}

static void rng_seed(struct rng *rng, uint64_t key)
{
	uint64_t state = key;

	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64_next(&state);
}

static uint64_t rotate_left(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *rng)
{
	uint64_t *s = rng->s;
	const uint64_t result = rotate_left(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotate_left(s[3], 45);
	return result;
}

/* Uniform on [0, 1). */
static double rng_uniform(struct rng *rng)
{
	return (double)(rng_next(rng) >> 11) * 0x1.0p-53;
}

static double rng_range(struct rng *rng, double low, double high)
{
	return low + (high - low) * rng_uniform(rng);
}

static uint32_t rng_below(struct rng *rng, uint32_t bound)
{
	return (uint32_t)(((rng_next(rng) >> 32) * bound) >> 32);
}

/* Box-Muller; one value per call keeps the stream position easy to reason about. */
static double rng_normal(struct rng *rng, double mean, double sd)
{
	const double u1 = 1.0 - rng_uniform(rng);
	const double u2 = rng_uniform(rng);

	return mean + sd * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static double rng_truncated_normal(struct rng *rng, double mean, double sd, double low, double high)
{
	for (;;) {
		const double x = rng_normal(rng, mean, sd);

		if (x >= low && x <= high)
			return x;
	}
}

/* Knuth's method: exact, and fast enough for the small means used here. */
static unsigned rng_poisson(struct rng *rng, double mean)
{
	const double limit = exp(-mean);
	double product = rng_uniform(rng);
	unsigned count = 0;

	while (product > limit) {
		count++;
		product *= rng_uniform(rng);
	}
	return count;
}

static double clamp(double x, double low, double high)
{
	return x < low ? low : x > high ? high : x;
}

/* ---- command line ---- */

static void print_usage(FILE *out)
{
	fprintf(out,
		"usage: mentord-gen [options]\n"
		"Produce a simulated contact center's roster, AQM and VOC events to Kafka.\n"
		"\n"
		"  --brokers HOST:PORT          bootstrap brokers (default: $MENTORD_KAFKA, else 127.0.0.1:9092)\n"
		"  --agents N                   number of agents, numbered from --first-agent (default 200)\n"
		"  --first-agent N              the first agent's number: ids A%%04u from N (default 1)\n"
		"  --days D                     number of days (default 28)\n"
		"  --start YYYY-MM-DD           first day, UTC (default 2026-10-01)\n"
		"  --seed S                     random seed; same seed, same events (default 1)\n"
		"  --team-size N                agents per team T01.., led by L01.. (default 12)\n"
		"  --interactions-per-day X     mean interactions per agent per weekday; weekends lighter (default 4.0)\n"
		"  --survey-share F             share of interactions that also get a VOC survey (default 0.3)\n"
		"  --low-share F                share of (agent, behavior) pairs planted low (default 0.08)\n"
		"  --skill-shift X              added to every latent skill, clamped to 0..1, -0.5..0.5 (default 0)\n"
		"  --program NAME               every AQM and VOC event carries \"program\": NAME and every\n"
		"                               roster event \"programs\": [NAME] (letters, digits, '.', '_', '-';\n"
		"                               default: no program field)\n"
		"  --duplicate-share F          share of AQM/VOC events sent twice with the same event_id (default 0.0)\n"
		"  --topic-voc NAME             VOC topic (default voc.responses)\n"
		"  --topic-aqm NAME             AQM topic (default aqm.scores)\n"
		"  --topic-roster NAME          roster topic (default agents.roster)\n"
		"  --partitions P               partitions of topics created if missing (default 4)\n"
		"  --manifest FILE              write the latent skills (ground truth) as CSV\n"
		"  --count-only                 print how many messages each topic would get, and exit\n"
		"  --roster-only                produce only the roster\n"
		"  --no-roster                  produce only AQM and VOC events\n"
		"  --aqm-delay-hours H          AQM evaluations arrive 0 to H hours late, H <= 720 (default 0)\n"
		"  --voc-delay-hours H          VOC surveys arrive 0 to H hours late, H <= 720 (default 0)\n"
		"  -X KEY=VALUE                 librdkafka producer property (repeatable; overrides defaults)\n"
		"  -h, --help                   print this help\n"
		"\n"
		"Several programs: runs with the same topics and different --program, --seed and\n"
		"--first-agent make a center of several client programs whose agents may overlap. An\n"
		"agent's team, team lead, site and language follow its number (team (number - 1) /\n"
		"team-size + 1), so an agent in two runs is in the same team in both; its name, active\n"
		"flag, volume and skills are drawn from each run's seed, so they differ between runs,\n"
		"and the roster event mentord reads last wins (it lists that run's program only). Each\n"
		"run produces its own messages in order of arrival: to interleave two runs in time,\n"
		"merge their topics (tests/integration/programs_apart.sh does). --skill-shift moves a\n"
		"run's scores as a whole; the manifest shows the shifted skills, and planted_low keeps\n"
		"what was planted (a shift below 0 can take typical skills below mentord's threshold).\n"
		"The closed loop reads the pairings of every program.\n"
		"\n"
		"Arrival order: messages are produced in order of arrival time over the whole run, the\n"
		"roster first. An event arrives at its occurred_at plus a delay drawn uniformly in\n"
		"[0, H) hours (whole seconds) from a random stream of its own, so the events (ids,\n"
		"scores, occurred_at) are those of a run without delays: only their order changes.\n"
		"Arrivals after the last day are produced too. Ties go by occurred_at (then by\n"
		"interaction), AQM before VOC. A duplicate is sent right after its original (same\n"
		"arrival), as a producer's retry would be.\n"
		"\n"
		"Closed loop (off unless --closed-loop-pg is given): after each day of arrivals (the\n"
		"messages arriving before the next midnight), wait until mentord has consumed them, read\n"
		"mentord's pairings back, and raise each mentee's latent skill in the paired behavior\n"
		"from the pairing's start on; a pairing read changes only interactions of later days.\n"
		"Run mentord alongside, without --exit-at-end. The events then depend on the pairings\n"
		"mentord wrote.\n"
		"  --closed-loop-pg CONNINFO    mentord's PostgreSQL (libpq conninfo; '' uses the PG* variables)\n"
		"  --closed-loop-schema NAME    mentord's schema (default mentor)\n"
		"  --closed-loop-group GROUP    mentord's consumer group, its [kafka] group.id (default mentord)\n"
		"  --closed-loop-timeout S      seconds to wait for mentord to consume one day (default 300)\n"
		"  --effect X                   rise of the normalized skill at full effect, -1..1 (default 0.15)\n"
		"  --effect-ramp-days D         days from the pairing's start to full effect (default 14)\n"
		"\n"
		"Counts (voc=, aqm=) include duplicates. Exit status is 0 only if every\n"
		"message was delivered.\n");
}

static bool parse_unsigned(const char *name, const char *text, unsigned min, unsigned max, unsigned *out)
{
	char *end;

	errno = 0;
	const unsigned long value = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || value < min || value > max) {
		fprintf(stderr, "mentord-gen: --%s must be an integer in %u..%u, not '%s'\n", name, min, max, text);
		return false;
	}
	*out = (unsigned)value;
	return true;
}

static bool parse_double(const char *name, const char *text, double min, double max, double *out)
{
	char *end;

	errno = 0;
	const double value = strtod(text, &end);
	if (errno || end == text || *end || !(value >= min && value <= max)) {
		fprintf(stderr, "mentord-gen: --%s must be a number in %g..%g, not '%s'\n", name, min, max, text);
		return false;
	}
	*out = value;
	return true;
}

static bool parse_seed(const char *text, uint64_t *out)
{
	char *end;

	errno = 0;
	const unsigned long long value = strtoull(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-') {
		fprintf(stderr, "mentord-gen: --seed must be a non-negative integer, not '%s'\n", text);
		return false;
	}
	*out = value;
	return true;
}

/* timegm normalizes out-of-range fields (February 30 becomes March 2), so a
 * real calendar date is one that survives the round trip unchanged. */
static bool utc_midnight(int year, int month, int day, time_t *out)
{
	struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day};
	struct tm check;
	const time_t t = timegm(&tm);

	if (t == (time_t)-1 || !gmtime_r(&t, &check) || check.tm_year != year - 1900 ||
	    check.tm_mon != month - 1 || check.tm_mday != day)
		return false;
	*out = t;
	return true;
}

static bool parse_date(const char *text, time_t *out)
{
	int year, month, day, consumed = 0;

	if (sscanf(text, "%4d-%2d-%2d%n", &year, &month, &day, &consumed) != 3 || text[consumed] != '\0' ||
	    !utc_midnight(year, month, day, out)) {
		fprintf(stderr, "mentord-gen: --start must be a date YYYY-MM-DD, not '%s'\n", text);
		return false;
	}
	return true;
}

enum long_only_option {
	OPT_BROKERS = 256,
	OPT_AGENTS,
	OPT_DAYS,
	OPT_START,
	OPT_SEED,
	OPT_TEAM_SIZE,
	OPT_INTERACTIONS_PER_DAY,
	OPT_SURVEY_SHARE,
	OPT_LOW_SHARE,
	OPT_DUPLICATE_SHARE,
	OPT_TOPIC_VOC,
	OPT_TOPIC_AQM,
	OPT_TOPIC_ROSTER,
	OPT_PARTITIONS,
	OPT_MANIFEST,
	OPT_COUNT_ONLY,
	OPT_ROSTER_ONLY,
	OPT_NO_ROSTER,
	OPT_AQM_DELAY_HOURS,
	OPT_VOC_DELAY_HOURS,
	OPT_PROGRAM,
	OPT_FIRST_AGENT,
	OPT_SKILL_SHIFT,
	OPT_CLOSED_LOOP_PG,
	OPT_CLOSED_LOOP_SCHEMA,
	OPT_CLOSED_LOOP_GROUP,
	OPT_CLOSED_LOOP_TIMEOUT,
	OPT_EFFECT,
	OPT_EFFECT_RAMP_DAYS,
};

static const struct option LONG_OPTIONS[] = {
	{"brokers", required_argument, NULL, OPT_BROKERS},
	{"agents", required_argument, NULL, OPT_AGENTS},
	{"days", required_argument, NULL, OPT_DAYS},
	{"start", required_argument, NULL, OPT_START},
	{"seed", required_argument, NULL, OPT_SEED},
	{"team-size", required_argument, NULL, OPT_TEAM_SIZE},
	{"interactions-per-day", required_argument, NULL, OPT_INTERACTIONS_PER_DAY},
	{"survey-share", required_argument, NULL, OPT_SURVEY_SHARE},
	{"low-share", required_argument, NULL, OPT_LOW_SHARE},
	{"duplicate-share", required_argument, NULL, OPT_DUPLICATE_SHARE},
	{"topic-voc", required_argument, NULL, OPT_TOPIC_VOC},
	{"topic-aqm", required_argument, NULL, OPT_TOPIC_AQM},
	{"topic-roster", required_argument, NULL, OPT_TOPIC_ROSTER},
	{"partitions", required_argument, NULL, OPT_PARTITIONS},
	{"manifest", required_argument, NULL, OPT_MANIFEST},
	{"count-only", no_argument, NULL, OPT_COUNT_ONLY},
	{"roster-only", no_argument, NULL, OPT_ROSTER_ONLY},
	{"no-roster", no_argument, NULL, OPT_NO_ROSTER},
	{"aqm-delay-hours", required_argument, NULL, OPT_AQM_DELAY_HOURS},
	{"voc-delay-hours", required_argument, NULL, OPT_VOC_DELAY_HOURS},
	{"program", required_argument, NULL, OPT_PROGRAM},
	{"first-agent", required_argument, NULL, OPT_FIRST_AGENT},
	{"skill-shift", required_argument, NULL, OPT_SKILL_SHIFT},
	{"closed-loop-pg", required_argument, NULL, OPT_CLOSED_LOOP_PG},
	{"closed-loop-schema", required_argument, NULL, OPT_CLOSED_LOOP_SCHEMA},
	{"closed-loop-group", required_argument, NULL, OPT_CLOSED_LOOP_GROUP},
	{"closed-loop-timeout", required_argument, NULL, OPT_CLOSED_LOOP_TIMEOUT},
	{"effect", required_argument, NULL, OPT_EFFECT},
	{"effect-ramp-days", required_argument, NULL, OPT_EFFECT_RAMP_DAYS},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void set_default_options(struct options *opt)
{
	const char *env_brokers = getenv("MENTORD_KAFKA");

	*opt = (struct options){
		.brokers = env_brokers && *env_brokers ? env_brokers : "127.0.0.1:9092",
		.agents = 200,
		.days = 28,
		.team_size = 12,
		.partitions = 4,
		.seed = 1,
		.first_agent = 1,
		.interactions_per_day = 4.0,
		.survey_share = 0.3,
		.low_share = 0.08,
		.duplicate_share = 0.0,
		.topics = {
			[TOPIC_VOC] = "voc.responses",
			[TOPIC_AQM] = "aqm.scores",
			[TOPIC_ROSTER] = "agents.roster",
		},
		/* mentord's own defaults: lib/config.c, [kafka] group.id and [postgres] schema. */
		.closed_loop_schema = "mentor",
		.closed_loop_group = "mentord",
		.closed_loop_timeout = CLOSED_LOOP_TIMEOUT_S,
		.effect = DEFAULT_EFFECT,
		.effect_ramp_days = DEFAULT_EFFECT_RAMP_DAYS,
	};
	/* A constant valid date: this cannot fail. */
	utc_midnight(2026, 10, 1, &opt->start);
}

static bool add_property(struct options *opt, const char *text)
{
	if (!strchr(text, '=') || text[0] == '=') {
		fprintf(stderr, "mentord-gen: -X needs KEY=VALUE, not '%s'\n", text);
		return false;
	}
	if (opt->property_count == MAX_PROPERTIES) {
		fprintf(stderr, "mentord-gen: at most %d -X properties\n", MAX_PROPERTIES);
		return false;
	}
	opt->properties[opt->property_count++] = text;
	return true;
}

/* A program name goes into the payloads as it is: it must need no JSON
 * escape and obey mentord's id rule, or every event would be rejected. */
static bool parse_program(const char *text, const char **out)
{
	const size_t len = strlen(text);

	if (len == 0 || len > MAX_PROGRAM_BYTES || strspn(text, "abcdefghijklmnopqrstuvwxyz"
							       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len) {
		fprintf(stderr, "mentord-gen: --program must be 1 to %d letters, digits, '.', '_' or '-', not '%s'\n",
			MAX_PROGRAM_BYTES, text);
		return false;
	}
	*out = text;
	return true;
}

/* The options that only mean something in the closed loop. */
static bool apply_closed_loop_option(struct options *opt, int code, const char *arg)
{
	switch (code) {
	case OPT_CLOSED_LOOP_PG: opt->closed_loop_pg = arg; return true;
	case OPT_CLOSED_LOOP_SCHEMA:
		opt->closed_loop_option_alone = "--closed-loop-schema";
		if (!*arg) {
			fprintf(stderr, "mentord-gen: --closed-loop-schema must not be empty\n");
			return false;
		}
		opt->closed_loop_schema = arg;
		return true;
	case OPT_CLOSED_LOOP_GROUP:
		opt->closed_loop_option_alone = "--closed-loop-group";
		opt->closed_loop_group = arg;
		return true;
	case OPT_CLOSED_LOOP_TIMEOUT:
		opt->closed_loop_option_alone = "--closed-loop-timeout";
		return parse_unsigned("closed-loop-timeout", arg, 1, 86400, &opt->closed_loop_timeout);
	case OPT_EFFECT:
		opt->closed_loop_option_alone = "--effect";
		return parse_double("effect", arg, -1.0, 1.0, &opt->effect);
	case OPT_EFFECT_RAMP_DAYS:
		opt->closed_loop_option_alone = "--effect-ramp-days";
		return parse_double("effect-ramp-days", arg, 0.0, 3660.0, &opt->effect_ramp_days);
	default: return false;
	}
}

static bool apply_option(struct options *opt, int code, const char *arg)
{
	if (code >= OPT_CLOSED_LOOP_PG && code <= OPT_EFFECT_RAMP_DAYS)
		return apply_closed_loop_option(opt, code, arg);
	switch (code) {
	case OPT_BROKERS: opt->brokers = arg; return true;
	case OPT_AGENTS: return parse_unsigned("agents", arg, 1, 999999, &opt->agents);
	case OPT_DAYS: return parse_unsigned("days", arg, 1, 3660, &opt->days);
	case OPT_START: return parse_date(arg, &opt->start);
	case OPT_SEED: return parse_seed(arg, &opt->seed);
	case OPT_TEAM_SIZE: return parse_unsigned("team-size", arg, 1, 999999, &opt->team_size);
	case OPT_INTERACTIONS_PER_DAY:
		return parse_double("interactions-per-day", arg, 0.0, MAX_INTERACTIONS_PER_DAY,
				    &opt->interactions_per_day);
	case OPT_SURVEY_SHARE: return parse_double("survey-share", arg, 0.0, 1.0, &opt->survey_share);
	case OPT_LOW_SHARE: return parse_double("low-share", arg, 0.0, 1.0, &opt->low_share);
	case OPT_DUPLICATE_SHARE: return parse_double("duplicate-share", arg, 0.0, 1.0, &opt->duplicate_share);
	case OPT_TOPIC_VOC: opt->topics[TOPIC_VOC] = arg; return true;
	case OPT_TOPIC_AQM: opt->topics[TOPIC_AQM] = arg; return true;
	case OPT_TOPIC_ROSTER: opt->topics[TOPIC_ROSTER] = arg; return true;
	case OPT_PARTITIONS: return parse_unsigned("partitions", arg, 1, 10000, &opt->partitions);
	case OPT_MANIFEST: opt->manifest_path = arg; return true;
	case OPT_COUNT_ONLY: opt->count_only = true; return true;
	case OPT_ROSTER_ONLY: opt->roster_only = true; return true;
	case OPT_NO_ROSTER: opt->no_roster = true; return true;
	case OPT_AQM_DELAY_HOURS:
		return parse_double("aqm-delay-hours", arg, 0.0, MAX_DELAY_HOURS, &opt->aqm_delay_hours);
	case OPT_VOC_DELAY_HOURS:
		return parse_double("voc-delay-hours", arg, 0.0, MAX_DELAY_HOURS, &opt->voc_delay_hours);
	case OPT_PROGRAM: return parse_program(arg, &opt->program);
	case OPT_FIRST_AGENT: return parse_unsigned("first-agent", arg, 1, MAX_AGENT_NUMBER, &opt->first_agent);
	case OPT_SKILL_SHIFT:
		return parse_double("skill-shift", arg, -MAX_SKILL_SHIFT, MAX_SKILL_SHIFT, &opt->skill_shift);
	case 'X': return add_property(opt, arg);
	default: return false;
	}
}

/* A closed-loop setting that would silently do nothing is a mistake worth
 * stopping on: the run would look like an effect was planted when none was. */
static int check_closed_loop_options(const struct options *opt)
{
	if (!opt->closed_loop_pg) {
		if (!opt->closed_loop_option_alone)
			return -1;
		fprintf(stderr, "mentord-gen: %s needs --closed-loop-pg\n", opt->closed_loop_option_alone);
		return EXIT_USAGE;
	}
	if (opt->count_only || opt->roster_only) {
		fprintf(stderr, "mentord-gen: --closed-loop-pg needs interactions to produce, not %s\n",
			opt->count_only ? "--count-only" : "--roster-only");
		return EXIT_USAGE;
	}
	return -1;
}

/* Returns -1 to go on, else the exit status. */
static int parse_options(int argc, char **argv, struct options *opt)
{
	int code;

	set_default_options(opt);
	while ((code = getopt_long(argc, argv, "X:h", LONG_OPTIONS, NULL)) != -1) {
		if (code == 'h') {
			print_usage(stdout);
			return EXIT_SUCCESS;
		}
		if (code == '?' || !apply_option(opt, code, optarg)) {
			fprintf(stderr, "mentord-gen: try 'mentord-gen --help'\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mentord-gen: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (opt->roster_only && opt->no_roster) {
		fprintf(stderr, "mentord-gen: --roster-only and --no-roster exclude each other\n");
		return EXIT_USAGE;
	}
	if (opt->agents > MAX_AGENT_NUMBER - opt->first_agent + 1) {
		fprintf(stderr, "mentord-gen: agents %u to %u: numbers end at %u\n", opt->first_agent,
			opt->first_agent + (opt->agents - 1), MAX_AGENT_NUMBER);
		return EXIT_USAGE;
	}
	return check_closed_loop_options(opt);
}

/* ---- the simulated contact center ---- */

/* Sites rotate by team (WPG, MNL, DUB). In every six teams the fourth works in
 * French and so sits at WPG, the fifth in Spanish at MNL: language goes with
 * site, as in a real multi-site operation. */
static const char *team_language(unsigned team)
{
	switch ((team - 1) % 6) {
	case 3: return "fr";
	case 4: return "es";
	default: return "en";
	}
}

static double draw_skill(struct rng *rng, bool planted_low, bool strong)
{
	if (planted_low)
		return rng_truncated_normal(rng, LOW_SKILL_MEAN, LOW_SKILL_SD, LOW_SKILL_MIN, LOW_SKILL_MAX);
	if (strong)
		return rng_range(rng, STRONG_SKILL_MIN, STRONG_SKILL_MAX);
	return rng_truncated_normal(rng, TYPICAL_SKILL_MEAN, TYPICAL_SKILL_SD, TYPICAL_SKILL_MIN,
				    TYPICAL_SKILL_MAX);
}

/* --skill-shift moves a skill after it is drawn, so that the draws, and with
 * them every other number of the seed, are those of a run without it. */
static void draw_skills(struct rng *rng, double low_share, double shift, struct agent *agent)
{
	double aqm_total = 0.0;

	for (int s = 0; s < SKILL_COUNT; s++) {
		const bool planted_low = rng_uniform(rng) < low_share;
		const bool strong = rng_uniform(rng) < STRONG_SHARE;

		agent->planted_low[s] = planted_low;
		agent->skill[s] = clamp(draw_skill(rng, planted_low, strong) + shift, 0.0, 1.0);
		if (s < AQM_BEHAVIOR_COUNT)
			aqm_total += agent->skill[s];
	}
	agent->mean_aqm_skill = aqm_total / AQM_BEHAVIOR_COUNT;
}

/* The team follows the agent's number, not its place in this run, so that
 * an agent generated by two runs (two programs) has one team and language. */
static void build_agent(const struct options *opt, struct rng *rng, unsigned index, struct agent *agent)
{
	const char *first = FIRST_NAMES[rng_below(rng, FIRST_NAME_COUNT)];
	const char last_initial = (char)('A' + rng_below(rng, 26));
	const unsigned number = opt->first_agent + index;

	snprintf(agent->id, sizeof agent->id, "A%04u", number);
	snprintf(agent->name, sizeof agent->name, "%s %c.", first, last_initial);
	agent->team = (number - 1) / opt->team_size + 1;
	agent->site = SITES[(agent->team - 1) % SITE_COUNT];
	agent->language = team_language(agent->team);
	agent->active = rng_uniform(rng) >= INACTIVE_SHARE;
	agent->volume = rng_range(rng, VOLUME_MIN, VOLUME_MAX);
	draw_skills(rng, opt->low_share, opt->skill_shift, agent);
}

static struct agent *build_agents(const struct options *opt)
{
	struct agent *agents = calloc(opt->agents, sizeof *agents);
	struct rng rng;

	if (!agents) {
		fprintf(stderr, "mentord-gen: out of memory for %u agents\n", opt->agents);
		return NULL;
	}
	rng_seed(&rng, stream_key(opt->seed, STREAM_ROSTER, 0));
	for (unsigned i = 0; i < opt->agents; i++)
		build_agent(opt, &rng, i, &agents[i]);
	return agents;
}

static bool write_manifest(const struct options *opt, const struct agent *agents)
{
	FILE *out = fopen(opt->manifest_path, "w");

	if (!out) {
		fprintf(stderr, "mentord-gen: %s: %s\n", opt->manifest_path, strerror(errno));
		return false;
	}
	/* The closed-loop columns repeat on every row, so that the file stays
	 * plain CSV: latent is the skill before any pairing, and with
	 * closed_loop=1 a mentee's skill in the paired behavior rises by effect,
	 * linearly over effect_ramp_days from the pairing's started_at. */
	const bool closed_loop = opt->closed_loop_pg != NULL;
	const double effect = closed_loop ? opt->effect : 0.0;
	const double ramp_days = closed_loop ? opt->effect_ramp_days : 0.0;

	fputs("agent_id,team_id,team_lead_id,site,language,behavior,latent,planted_low,"
	      "closed_loop,effect,effect_ramp_days\n", out);
	for (unsigned i = 0; i < opt->agents; i++) {
		const struct agent *a = &agents[i];

		for (int s = 0; s < SKILL_COUNT; s++)
			fprintf(out, "%s,T%02u,L%02u,%s,%s,%s,%.4f,%d,%d,%.4f,%g\n", a->id, a->team, a->team,
				a->site, a->language, SKILL_NAMES[s], a->skill[s], a->planted_low[s], closed_loop,
				effect, ramp_days);
	}
	/* Write errors are sticky in the stream and surface at fclose. */
	if (ferror(out) | fclose(out)) {
		fprintf(stderr, "mentord-gen: %s: write failed: %s\n", opt->manifest_path, strerror(errno));
		return false;
	}
	return true;
}

/* ---- payloads ---- */

static void format_roster(const struct options *opt, const struct agent *a, struct payload *p)
{
	const int n = snprintf(p->data, sizeof p->data,
			       "{\"schema\":\"agent.v1\",\"agent_id\":\"%s\",\"name\":\"%s\",\"team_id\":\"T%02u\","
			       "\"team_lead_id\":\"L%02u\",\"site\":\"%s\",\"language\":\"%s\",\"active\":%s%s%s%s}",
			       a->id, a->name, a->team, a->team, a->site, a->language, a->active ? "true" : "false",
			       opt->program ? ",\"programs\":[\"" : "", opt->program ? opt->program : "",
			       opt->program ? "\"]" : "");

	/* Every field is generated and bounded, so this is a programming error. */
	if (n < 0 || (size_t)n >= sizeof p->data) {
		fprintf(stderr, "mentord-gen: roster payload does not fit in %d bytes\n", PAYLOAD_MAX);
		abort();
	}
	p->len = (size_t)n;
}

/* AQM and VOC payloads are built by hand: with printf for every score,
 * formatting took most of the generator's time. */
static void append_bytes(struct payload *p, const char *bytes, size_t len)
{
	/* Every field is generated and bounded, so this is a programming error. */
	if (len >= sizeof p->data - p->len) {
		fprintf(stderr, "mentord-gen: payload does not fit in %d bytes\n", PAYLOAD_MAX);
		abort();
	}
	memcpy(p->data + p->len, bytes, len);
	p->len += len;
}

static void append_text(struct payload *p, const char *text)
{
	append_bytes(p, text, strlen(text));
}

static void append_unsigned(struct payload *p, uint64_t value)
{
	char digits[24];
	size_t start = sizeof digits;

	do {
		digits[--start] = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	append_bytes(p, digits + start, sizeof digits - start);
}

static void append_hex64(struct payload *p, uint64_t value)
{
	static const char HEX[] = "0123456789abcdef";
	char digits[16];

	for (int i = 15; i >= 0; i--, value >>= 4)
		digits[i] = HEX[value & 0xf];
	append_bytes(p, digits, sizeof digits);
}

static void append_two_digits(struct payload *p, unsigned value)
{
	const char digits[2] = {(char)('0' + value / 10), (char)('0' + value % 10)};

	append_bytes(p, digits, sizeof digits);
}

/* Scores are kept in tenths so that formatting is exact integer work. */
static void append_tenths(struct payload *p, unsigned tenths)
{
	const char decimal[2] = {'.', (char)('0' + tenths % 10)};

	append_unsigned(p, tenths / 10);
	append_bytes(p, decimal, sizeof decimal);
}

/* ---- one interaction ---- */

/* Everything drawn for one interaction. The draws that decide what is sent
 * come first and in a fixed number, so the shares do not shift the scores. */
struct interaction {
	uint64_t number;
	const struct agent *agent;
	enum channel channel;
	const char *date;
	uint32_t second_of_day;
	bool surveyed;
	bool aqm_duplicated;
	bool voc_duplicated;
	bool fatal;
	bool has_behavior[AQM_BEHAVIOR_COUNT];
	unsigned behavior_tenths[AQM_BEHAVIOR_COUNT];
	unsigned overall_tenths;
	unsigned csat;
	unsigned nps;
	bool has_nps;
	bool has_items;
	unsigned items[SKILL_COUNT - AQM_BEHAVIOR_COUNT];
};

static unsigned draw_behavior_tenths(struct rng *rng, double skill, bool in_steps_of_5)
{
	const double score = clamp(100.0 * rng_normal(rng, skill, AQM_NOISE_SD), 0.0, 100.0);

	if (in_steps_of_5)
		return 50 * (unsigned)lround(score / 5.0);
	return (unsigned)lround(score * 10.0);
}

/* A critical compliance miss: rare, and likelier for agents weak in compliance. */
static double fatal_probability(const struct agent *a)
{
	const double weakness = (1.0 - a->skill[SKILL_COMPLIANCE_DISCLOSURE]) / (1.0 - TYPICAL_SKILL_MEAN);

	return clamp(FATAL_SHARE * weakness, 0.0, FATAL_SHARE_MAX);
}

static void draw_aqm(struct rng *rng, struct interaction *it)
{
	const double u_hold = rng_uniform(rng);
	unsigned total = 0, count = 0;

	for (int b = 0; b < AQM_BEHAVIOR_COUNT; b++) {
		it->behavior_tenths[b] = draw_behavior_tenths(rng, it->agent->skill[b], SCORED_IN_STEPS_OF_5[b]);
		it->has_behavior[b] = true;
	}
	/* Hold etiquette is only scored when a voice call actually had a hold. */
	it->has_behavior[SKILL_HOLD_ETIQUETTE] = it->channel == CHANNEL_VOICE && u_hold < HOLD_SHARE;
	if (it->fatal)
		it->behavior_tenths[SKILL_COMPLIANCE_DISCLOSURE] = 50 * rng_below(rng, FATAL_SCORE_STEPS);
	for (int b = 0; b < AQM_BEHAVIOR_COUNT; b++) {
		if (it->has_behavior[b]) {
			total += it->behavior_tenths[b];
			count++;
		}
	}
	it->overall_tenths = (unsigned)lround((double)total / count);
}

static unsigned draw_survey_score(struct rng *rng, double center, double sd)
{
	return 1 + (unsigned)lround(4.0 * clamp(rng_normal(rng, center, sd), 0.0, 1.0));
}

/* One customer mood per survey moves csat, nps and the items together, as
 * real surveys do; the items also follow the agent's own item skills. */
static void draw_voc(struct rng *rng, struct interaction *it)
{
	const struct agent *a = it->agent;
	const double mood = rng_normal(rng, 0.0, MOOD_SD);
	const double experience = clamp(a->mean_aqm_skill + mood, 0.0, 1.0);

	it->csat = 1 + (unsigned)lround(4.0 * experience);
	it->has_nps = rng_uniform(rng) < NPS_SHARE;
	it->nps = (unsigned)lround(10.0 * clamp(rng_normal(rng, experience, NPS_NOISE_SD), 0.0, 1.0));
	it->has_items = rng_uniform(rng) < ITEMS_SHARE;
	for (int i = 0; i < SKILL_COUNT - AQM_BEHAVIOR_COUNT; i++)
		it->items[i] = draw_survey_score(rng, a->skill[AQM_BEHAVIOR_COUNT + i] + ITEM_MOOD_WEIGHT * mood,
						 ITEM_NOISE_SD);
}

static void draw_interaction(const struct options *opt, struct interaction *it)
{
	struct rng rng;

	rng_seed(&rng, stream_key(opt->seed, STREAM_INTERACTION, it->number));
	it->surveyed = rng_uniform(&rng) < opt->survey_share;
	it->aqm_duplicated = rng_uniform(&rng) < opt->duplicate_share;
	it->voc_duplicated = rng_uniform(&rng) < opt->duplicate_share;
	it->fatal = rng_uniform(&rng) < fatal_probability(it->agent);
	draw_aqm(&rng, it);
	if (it->surveyed)
		draw_voc(&rng, it);
}

static void append_occurred_at(struct payload *p, const char *date, uint32_t second_of_day)
{
	append_text(p, date);
	append_text(p, "T");
	append_two_digits(p, second_of_day / 3600);
	append_text(p, ":");
	append_two_digits(p, second_of_day / 60 % 60);
	append_text(p, ":");
	append_two_digits(p, second_of_day % 60);
	append_text(p, "Z");
}

static void format_event_header(const struct options *opt, const struct interaction *it, const char *schema,
				const char *id_prefix, enum stream id_stream, struct payload *p)
{
	p->len = 0;
	append_text(p, "{\"schema\":\"");
	append_text(p, schema);
	append_text(p, "\",\"event_id\":\"");
	append_text(p, id_prefix);
	append_hex64(p, stream_key(opt->seed, id_stream, it->number));
	append_text(p, "\",\"interaction_id\":\"call-");
	append_unsigned(p, opt->seed);
	append_text(p, "-");
	append_unsigned(p, it->number);
	append_text(p, "\",\"agent_id\":\"");
	append_text(p, it->agent->id);
	append_text(p, "\",\"occurred_at\":\"");
	append_occurred_at(p, it->date, it->second_of_day);
	append_text(p, "\"");
	if (opt->program) {
		append_text(p, ",\"program\":\"");
		append_text(p, opt->program);
		append_text(p, "\"");
	}
}

static void format_aqm(const struct options *opt, const struct interaction *it, struct payload *p)
{
	const char *separator = "";

	format_event_header(opt, it, "aqm.v1", "q-", STREAM_AQM_ID, p);
	append_text(p, ",\"overall\":");
	append_tenths(p, it->overall_tenths);
	append_text(p, ",\"behaviors\":{");
	for (int b = 0; b < AQM_BEHAVIOR_COUNT; b++) {
		if (!it->has_behavior[b])
			continue;
		append_text(p, separator);
		append_text(p, "\"");
		append_text(p, SKILL_NAMES[b]);
		append_text(p, "\":");
		if (SCORED_IN_STEPS_OF_5[b])
			append_unsigned(p, it->behavior_tenths[b] / 10);
		else
			append_tenths(p, it->behavior_tenths[b]);
		separator = ",";
	}
	append_text(p, it->fatal ? "},\"fatal\":[\"compliance_disclosure\"]}" : "}}");
}

static void append_item(struct payload *p, enum skill item, unsigned score, const char *separator)
{
	append_text(p, separator);
	append_text(p, "\"");
	append_text(p, SKILL_NAMES[item]);
	append_text(p, "\":");
	append_unsigned(p, score);
}

static void format_voc(const struct options *opt, const struct interaction *it, struct payload *p)
{
	format_event_header(opt, it, "voc.v1", "v-", STREAM_VOC_ID, p);
	append_text(p, ",\"channel\":\"");
	append_text(p, CHANNEL_NAMES[it->channel]);
	append_text(p, "\",\"csat\":");
	append_unsigned(p, it->csat);
	if (it->has_nps) {
		append_text(p, ",\"nps\":");
		append_unsigned(p, it->nps);
	}
	if (it->has_items) {
		append_text(p, ",\"items\":{");
		for (int i = SKILL_COURTESY; i < SKILL_COUNT; i++)
			append_item(p, (enum skill)i, it->items[i - AQM_BEHAVIOR_COUNT], i == SKILL_COURTESY ? "" : ",");
		append_text(p, "}");
	}
	append_text(p, "}");
}

/* ---- sending ---- */

static uint64_t total_sent(const struct sink *sink)
{
	return sink->sent[TOPIC_VOC] + sink->sent[TOPIC_AQM] + sink->sent[TOPIC_ROSTER];
}

static bool sink_send(struct sink *sink, enum topic_kind topic, const char *key, char *data, size_t len)
{
	rd_kafka_resp_err_t err;

	if (sink->producer) {
		while ((err = rd_kafka_producev(sink->producer, RD_KAFKA_V_RKT(sink->topics[topic]),
						RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(data, len),
						RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
		       RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(sink->producer, QUEUE_FULL_POLL_MS);
		if (err) {
			fprintf(stderr, "mentord-gen: produce to %s failed: %s\n",
				rd_kafka_topic_name(sink->topics[topic]), rd_kafka_err2str(err));
			return false;
		}
	}
	sink->sent[topic]++;
	/* Serve delivery reports as we go, so they do not pile up until flush. */
	if (sink->producer && total_sent(sink) % POLL_EVERY_MESSAGES == 0)
		rd_kafka_poll(sink->producer, 0);
	return true;
}

/* A duplicate goes right after its original, as a producer's retry would. */
static bool sink_send_maybe_twice(struct sink *sink, enum topic_kind topic, const char *key, char *data,
				  size_t len, bool twice)
{
	if (!sink_send(sink, topic, key, data, len))
		return false;
	if (!twice)
		return true;
	sink->duplicates++;
	return sink_send(sink, topic, key, data, len);
}

static bool send_roster(struct generator *g)
{
	struct payload p;

	for (unsigned i = 0; i < g->opt->agents; i++) {
		format_roster(g->opt, &g->agents[i], &p);
		if (!sink_send(g->sink, TOPIC_ROSTER, g->agents[i].id, p.data, p.len))
			return false;
	}
	return true;
}

/* ---- arrival order ---- */

/* The order messages are produced in: by arrival, then by interaction number
 * (numbered in the schedule's order, so by occurred_at), AQM before VOC. With
 * no delays this is the order of occurrence, interaction by interaction. */
static bool arrives_before(const struct pending_message *a, const struct pending_message *b)
{
	if (a->arrival != b->arrival)
		return a->arrival < b->arrival;
	if (a->interaction != b->interaction)
		return a->interaction < b->interaction;
	return a->topic == TOPIC_AQM && b->topic != TOPIC_AQM;
}

static void swap_pending(struct pending_message *a, struct pending_message *b)
{
	const struct pending_message t = *a;

	*a = *b;
	*b = t;
}

/* Takes ownership of m->data, also on failure (it is freed then). */
static bool queue_push(struct arrival_queue *q, const struct pending_message *m)
{
	size_t i = q->count;

	if (q->count == q->capacity) {
		const size_t capacity = q->capacity ? 2 * q->capacity : 1024;
		struct pending_message *grown = realloc(q->items, capacity * sizeof *grown);

		if (!grown) {
			fprintf(stderr, "mentord-gen: out of memory for %zu pending messages\n", capacity);
			free(m->data);
			return false;
		}
		q->items = grown;
		q->capacity = capacity;
	}
	q->items[q->count++] = *m;
	while (i > 0 && arrives_before(&q->items[i], &q->items[(i - 1) / 2])) {
		swap_pending(&q->items[i], &q->items[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	return true;
}

/* Removes the first message to arrive into *m; the caller owns m->data then. */
static void queue_pop(struct arrival_queue *q, struct pending_message *m)
{
	size_t i = 0;

	*m = q->items[0];
	q->items[0] = q->items[--q->count];
	for (;;) {
		const size_t left = 2 * i + 1, right = left + 1;
		size_t first = i;

		if (left < q->count && arrives_before(&q->items[left], &q->items[first]))
			first = left;
		if (right < q->count && arrives_before(&q->items[right], &q->items[first]))
			first = right;
		if (first == i)
			return;
		swap_pending(&q->items[i], &q->items[first]);
		i = first;
	}
}

static void queue_free(struct arrival_queue *q)
{
	for (size_t i = 0; i < q->count; i++)
		free(q->items[i].data);
	free(q->items);
}

/* Whole seconds uniform in [0, hours), from the interaction's own stream for
 * that topic: the delays never move another draw. */
static int64_t draw_delay(const struct options *opt, enum stream stream, uint64_t interaction, double hours)
{
	struct rng rng;

	if (hours == 0.0)
		return 0;
	rng_seed(&rng, stream_key(opt->seed, stream, interaction));
	return (int64_t)floor(rng_uniform(&rng) * hours * 3600.0);
}

static bool queue_message(struct generator *g, const struct interaction *it, uint32_t agent, int64_t occurred,
			  enum topic_kind topic, const struct payload *p, bool twice)
{
	const bool aqm = topic == TOPIC_AQM;
	struct pending_message m = {
		.arrival = occurred + draw_delay(g->opt, aqm ? STREAM_AQM_ARRIVAL : STREAM_VOC_ARRIVAL, it->number,
						 aqm ? g->opt->aqm_delay_hours : g->opt->voc_delay_hours),
		.interaction = it->number,
		.topic = topic,
		.twice = twice,
		.agent = agent,
		.len = p->len,
		.data = malloc(p->len),
	};

	if (!m.data) {
		fprintf(stderr, "mentord-gen: out of memory for a pending message\n");
		return false;
	}
	memcpy(m.data, p->data, p->len);
	return queue_push(&g->pending, &m);
}

/* Produces, in arrival order, every pending message arriving before `before`. */
static bool send_arrived(struct generator *g, int64_t before)
{
	while (g->pending.count && g->pending.items[0].arrival < before) {
		struct pending_message m;

		queue_pop(&g->pending, &m);
		const bool ok = sink_send_maybe_twice(g->sink, m.topic, g->agents[m.agent].id, m.data, m.len, m.twice);
		free(m.data);
		if (!ok)
			return false;
	}
	return true;
}

/* Draws one interaction and queues its AQM evaluation and, if surveyed, its
 * VOC survey for their arrival times. */
static bool queue_interaction(struct generator *g, const struct scheduled_interaction *s, const struct agent *agent,
			      const char *date, int64_t occurred)
{
	struct interaction it = {
		.number = ++g->interaction_counter,
		.agent = agent,
		.channel = (enum channel)s->channel,
		.date = date,
		.second_of_day = s->second_of_day,
	};
	struct payload p;

	draw_interaction(g->opt, &it);
	format_aqm(g->opt, &it, &p);
	if (!queue_message(g, &it, s->agent, occurred, TOPIC_AQM, &p, it.aqm_duplicated))
		return false;
	if (!it.surveyed)
		return true;
	format_voc(g->opt, &it, &p);
	return queue_message(g, &it, s->agent, occurred, TOPIC_VOC, &p, it.voc_duplicated);
}

/* ---- the schedule of one day ---- */

static enum channel draw_channel(struct rng *rng)
{
	const double u = rng_uniform(rng);

	return u < VOICE_SHARE ? CHANNEL_VOICE : u < VOICE_SHARE + CHAT_SHARE ? CHANNEL_CHAT : CHANNEL_EMAIL;
}

static bool reserve_schedule(struct generator *g, size_t needed)
{
	size_t capacity = g->schedule_capacity ? g->schedule_capacity : 1024;
	struct scheduled_interaction *grown;

	if (needed <= g->schedule_capacity)
		return true;
	while (capacity < needed)
		capacity *= 2;
	grown = realloc(g->schedule, capacity * sizeof *grown);
	if (!grown) {
		fprintf(stderr, "mentord-gen: out of memory for %zu interactions\n", needed);
		return false;
	}
	g->schedule = grown;
	g->schedule_capacity = capacity;
	return true;
}

/* Inactive agents worked the first half of the period and then left: their
 * history is in the events, but they must never be chosen as mentors. */
static bool works_on(const struct options *opt, const struct agent *a, unsigned day)
{
	return a->active || day < opt->days / 2;
}

static int compare_by_time(const void *left, const void *right)
{
	const struct scheduled_interaction *a = left, *b = right;

	if (a->second_of_day != b->second_of_day)
		return a->second_of_day < b->second_of_day ? -1 : 1;
	return a->sequence < b->sequence ? -1 : a->sequence > b->sequence;
}

/* Fills g->schedule with the day's interactions in event-time order; the
 * sequence number breaks ties so that the order never depends on qsort. */
static bool schedule_day(struct generator *g, unsigned day, bool weekend, size_t *count)
{
	const double day_mean = g->opt->interactions_per_day * (weekend ? WEEKEND_VOLUME : 1.0);
	size_t n = 0;

	for (uint32_t i = 0; i < g->opt->agents; i++) {
		const struct agent *a = &g->agents[i];

		if (!works_on(g->opt, a, day))
			continue;
		const unsigned interactions = rng_poisson(&g->schedule_rng, day_mean * a->volume);
		if (!reserve_schedule(g, n + interactions))
			return false;
		for (unsigned k = 0; k < interactions; k++, n++) {
			g->schedule[n] = (struct scheduled_interaction){
				.second_of_day = WORKDAY_START_SECOND + rng_below(&g->schedule_rng, WORKDAY_SECONDS),
				.sequence = (uint32_t)n,
				.agent = i,
				.channel = (uint8_t)draw_channel(&g->schedule_rng),
			};
		}
	}
	qsort(g->schedule, n, sizeof *g->schedule, compare_by_time);
	*count = n;
	return true;
}

/* Queues the day's interactions; what they produce is sent by send_arrived. */
static bool queue_day(struct generator *g, unsigned day)
{
	const time_t midnight = g->opt->start + (time_t)day * SECONDS_PER_DAY;
	struct tm tm;
	char date[16];
	size_t count;

	if (!gmtime_r(&midnight, &tm) || !strftime(date, sizeof date, "%Y-%m-%d", &tm)) {
		fprintf(stderr, "mentord-gen: day %u is out of range\n", day);
		return false;
	}
	if (!schedule_day(g, day, tm.tm_wday == 0 || tm.tm_wday == 6, &count))
		return false;
	for (size_t i = 0; i < count; i++) {
		const struct scheduled_interaction *s = &g->schedule[i];
		struct agent effective;
		/* The closed loop only changes skills, never the draws: with
		 * no pairing in force the events are those of an open run. */
		const struct agent *a = g->loop ? closed_loop_agent(g->loop, s->agent, midnight + s->second_of_day,
								    &effective)
						: &g->agents[s->agent];

		if (!queue_interaction(g, s, a, date, (int64_t)midnight + s->second_of_day))
			return false;
	}
	return true;
}

static bool generate(const struct options *opt, const struct agent *agents, struct sink *sink,
		     struct closed_loop *loop)
{
	struct generator g = {.opt = opt, .agents = agents, .sink = sink, .loop = loop};
	bool ok = true;

	rng_seed(&g.schedule_rng, stream_key(opt->seed, STREAM_SCHEDULE, 0));
	if (!opt->no_roster)
		ok = send_roster(&g);
	for (unsigned day = 0; ok && !opt->roster_only && day < opt->days; day++) {
		/* Every later day's event occurs after the next midnight, so what
		 * arrives before it is complete and in order; after the last day,
		 * the late arrivals that remain follow. */
		const int64_t next_midnight = (int64_t)opt->start + (int64_t)(day + 1) * SECONDS_PER_DAY;

		ok = queue_day(&g, day) && send_arrived(&g, day + 1 < opt->days ? next_midnight : INT64_MAX);
		/* After the last day too: when the generator exits, mentord has
		 * consumed everything, so a demo can stop it at once. */
		if (ok && loop)
			ok = closed_loop_day_done(loop, sink);
	}
	free(g.schedule);
	queue_free(&g.pending);
	return ok;
}

/* ---- closed loop: what has been delivered ---- */

/* The highest offset delivered to each partition, per distinct topic name:
 * mentord has consumed a day once its stored next offset is past these. */
struct delivered_offsets {
	const char *names[TOPIC_COUNT];
	size_t name_count;
	int64_t *last[TOPIC_COUNT]; /* by partition; -1: nothing delivered there */
	size_t partitions[TOPIC_COUNT];
	bool out_of_memory;
	bool offset_missing;
};

static bool grow_partitions(struct delivered_offsets *d, size_t topic, size_t partition)
{
	const size_t count = partition + 1;
	int64_t *grown = realloc(d->last[topic], count * sizeof *grown);

	if (!grown) {
		d->out_of_memory = true;
		return false;
	}
	for (size_t p = d->partitions[topic]; p < count; p++)
		grown[p] = -1;
	d->last[topic] = grown;
	d->partitions[topic] = count;
	return true;
}

/* Called from delivery reports; failures are flagged and checked after the flush. */
static void note_delivered(struct delivered_offsets *d, const char *topic, int32_t partition, int64_t offset)
{
	size_t t = 0;

	while (t < d->name_count && strcmp(d->names[t], topic) != 0)
		t++;
	if (t == d->name_count || partition < 0)
		return;
	/* With acks=0 the broker returns no offset: nothing to wait for. */
	if (offset < 0) {
		d->offset_missing = true;
		return;
	}
	if ((size_t)partition >= d->partitions[t] && !grow_partitions(d, t, (size_t)partition))
		return;
	if (offset > d->last[t][partition])
		d->last[t][partition] = offset;
}

static void free_delivered(struct delivered_offsets *d)
{
	for (size_t t = 0; t < d->name_count; t++)
		free(d->last[t]);
}

/* ---- Kafka ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque)
{
	struct delivery_stats *stats = opaque;

	(void)rk;
	if (!message->err) {
		stats->delivered++;
		if (stats->offsets)
			note_delivered(stats->offsets, rd_kafka_topic_name(message->rkt), message->partition,
				       message->offset);
		return;
	}
	if (stats->failed++ == 0)
		stats->first_error = message->err;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	fprintf(stderr, "mentord-gen: kafka: %s: %s\n", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static bool set_property(rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "mentord-gen: %s=%s: %s\n", key, value, errstr);
		return false;
	}
	return true;
}

static bool set_user_property(rd_kafka_conf_t *conf, const char *key_value)
{
	const char *equals = strchr(key_value, '=');
	char key[256];

	if ((size_t)(equals - key_value) >= sizeof key) {
		fprintf(stderr, "mentord-gen: -X key too long: %s\n", key_value);
		return false;
	}
	memcpy(key, key_value, (size_t)(equals - key_value));
	key[equals - key_value] = '\0';
	return set_property(conf, key, equals + 1);
}

/* Tuned for throughput; idempotence keeps each partition in produce order
 * even across retries, which the determinism promise depends on. */
static const char *const PRODUCER_DEFAULTS[][2] = {
	{"client.id", "mentord-gen"},
	{"linger.ms", "20"},
	{"batch.num.messages", "10000"},
	{"compression.type", "lz4"},
	{"queue.buffering.max.messages", "1000000"},
	{"queue.buffering.max.kbytes", "1048576"},
	{"enable.idempotence", "true"},
};

static rd_kafka_conf_t *producer_conf(const struct options *opt, struct delivery_stats *stats)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	bool ok = set_property(conf, "bootstrap.servers", opt->brokers);

	for (size_t i = 0; ok && i < sizeof PRODUCER_DEFAULTS / sizeof PRODUCER_DEFAULTS[0]; i++)
		ok = set_property(conf, PRODUCER_DEFAULTS[i][0], PRODUCER_DEFAULTS[i][1]);
	for (unsigned i = 0; ok && i < opt->property_count; i++)
		ok = set_user_property(conf, opt->properties[i]);
	if (!ok) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_error_cb(conf, on_error);
	rd_kafka_conf_set_opaque(conf, stats);
	return conf;
}

static rd_kafka_t *create_producer(const struct options *opt, struct delivery_stats *stats)
{
	rd_kafka_conf_t *conf = producer_conf(opt, stats);
	rd_kafka_t *producer;
	char errstr[512];

	if (!conf)
		return NULL;
	producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (!producer) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "mentord-gen: cannot create producer: %s\n", errstr);
	}
	return producer;
}

/* The same name may serve two kinds of event; ask to create it once. */
static size_t distinct_topics(const struct options *opt, const char *names[TOPIC_COUNT])
{
	size_t count = 0;

	for (int t = 0; t < TOPIC_COUNT; t++) {
		bool seen = false;

		for (size_t i = 0; i < count; i++)
			seen = seen || strcmp(names[i], opt->topics[t]) == 0;
		if (!seen)
			names[count++] = opt->topics[t];
	}
	return count;
}

static bool check_create_result(rd_kafka_event_t *event)
{
	const rd_kafka_CreateTopics_result_t *result = rd_kafka_event_CreateTopics_result(event);
	const rd_kafka_topic_result_t **topics;
	size_t count;
	bool ok = true;

	if (rd_kafka_event_error(event) || !result) {
		fprintf(stderr, "mentord-gen: creating topics failed: %s\n", rd_kafka_event_error_string(event));
		return false;
	}
	topics = rd_kafka_CreateTopics_result_topics(result, &count);
	for (size_t i = 0; i < count; i++) {
		const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(topics[i]);

		if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
			fprintf(stderr, "mentord-gen: creating topic %s failed: %s\n",
				rd_kafka_topic_result_name(topics[i]), rd_kafka_topic_result_error_string(topics[i]));
			ok = false;
		}
	}
	return ok;
}

static bool create_topics(rd_kafka_t *producer, const struct options *opt)
{
	const char *names[TOPIC_COUNT];
	const size_t count = distinct_topics(opt, names);
	rd_kafka_NewTopic_t *new_topics[TOPIC_COUNT] = {0};
	rd_kafka_AdminOptions_t *admin = rd_kafka_AdminOptions_new(producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_queue_t *queue = rd_kafka_queue_new(producer);
	rd_kafka_event_t *event = NULL;
	size_t prepared = 0;
	char errstr[512];
	bool ok = rd_kafka_AdminOptions_set_request_timeout(admin, ADMIN_TIMEOUT_MS, errstr, sizeof errstr) ==
			  RD_KAFKA_RESP_ERR_NO_ERROR &&
		  rd_kafka_AdminOptions_set_operation_timeout(admin, ADMIN_TIMEOUT_MS, errstr, sizeof errstr) ==
			  RD_KAFKA_RESP_ERR_NO_ERROR;

	for (; ok && prepared < count; prepared++) {
		new_topics[prepared] = rd_kafka_NewTopic_new(names[prepared], (int)opt->partitions, 1, errstr,
							     sizeof errstr);
		if (!new_topics[prepared])
			break;
	}
	ok = ok && prepared == count;
	if (!ok) {
		fprintf(stderr, "mentord-gen: cannot prepare topic creation: %s\n", errstr);
	} else {
		rd_kafka_CreateTopics(producer, new_topics, count, admin, queue);
		/* The request carries its own timeout; waiting a little longer
		 * lets its timeout error arrive instead of a bare NULL. */
		event = rd_kafka_queue_poll(queue, ADMIN_TIMEOUT_MS + 5000);
		if (!event)
			fprintf(stderr, "mentord-gen: creating topics timed out (brokers %s)\n", opt->brokers);
		ok = event && check_create_result(event);
	}
	if (event)
		rd_kafka_event_destroy(event);
	rd_kafka_NewTopic_destroy_array(new_topics, prepared);
	rd_kafka_queue_destroy(queue);
	rd_kafka_AdminOptions_destroy(admin);
	return ok;
}

static bool open_topics(struct sink *sink, const struct options *opt)
{
	for (int t = 0; t < TOPIC_COUNT; t++) {
		sink->topics[t] = rd_kafka_topic_new(sink->producer, opt->topics[t], NULL);
		if (!sink->topics[t]) {
			fprintf(stderr, "mentord-gen: topic %s: %s\n", opt->topics[t],
				rd_kafka_err2str(rd_kafka_last_error()));
			return false;
		}
	}
	return true;
}

static void close_sink(struct sink *sink)
{
	for (int t = 0; t < TOPIC_COUNT; t++) {
		if (sink->topics[t])
			rd_kafka_topic_destroy(sink->topics[t]);
	}
	if (sink->producer)
		rd_kafka_destroy(sink->producer);
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Waits for every delivery report; true only if all messages were delivered. */
static bool flush_and_check(struct sink *sink, const struct delivery_stats *stats)
{
	const rd_kafka_resp_err_t err = rd_kafka_flush(sink->producer, FLUSH_TIMEOUT_MS);
	const uint64_t sent = total_sent(sink);

	if (err)
		fprintf(stderr, "mentord-gen: flush: %s, %d messages still queued\n", rd_kafka_err2str(err),
			rd_kafka_outq_len(sink->producer));
	if (stats->failed)
		fprintf(stderr, "mentord-gen: %" PRIu64 " messages not delivered, first error: %s\n", stats->failed,
			rd_kafka_err2str(stats->first_error));
	return !err && !stats->failed && stats->delivered == sent;
}

/* ---- closed loop: mentord's pairings ---- */

struct closed_loop {
	const struct options *opt;
	const struct agent *agents;
	const struct delivery_stats *stats;
	struct mentor_readback *rb;
	struct delivered_offsets delivered;
	/* [agent * SKILL_COUNT + skill]: the earliest start of a pairing in
	 * force, in seconds since the epoch; INFINITY when never paired. */
	double *started_at;
	/* Same index: the effect raised this skill in at least one interaction. */
	bool *boosted;
	double ramp_seconds;
	int rows_read;	  /* non-cancelled pairings at the latest read */
	int rows_ignored; /* of those, naming an unknown agent or behavior (csat, aqm...) */
	double waited_seconds;
};

/* Share of the full effect reached `elapsed` seconds after a pairing's start. */
static double effect_progress(const struct closed_loop *loop, double elapsed)
{
	if (loop->ramp_seconds > 0.0)
		return clamp(elapsed / loop->ramp_seconds, 0.0, 1.0);
	return elapsed >= 0.0 ? 1.0 : 0.0;
}

/* The agent as of `at`: skills raised by the pairings in force, and the
 * mean AQM skill that drives CSAT with them, so a better agent also gets
 * better surveys. The draws themselves are untouched. */
static const struct agent *closed_loop_agent(struct closed_loop *loop, uint32_t index, time_t at,
					     struct agent *copy)
{
	const struct agent *a = &loop->agents[index];
	const size_t base = (size_t)index * SKILL_COUNT;
	double aqm_total = 0.0;
	bool changed = false;

	*copy = *a;
	for (int s = 0; s < SKILL_COUNT; s++) {
		const double progress = effect_progress(loop, (double)at - loop->started_at[base + (size_t)s]);

		if (progress > 0.0 && loop->opt->effect != 0.0) {
			copy->skill[s] = clamp(a->skill[s] + loop->opt->effect * progress, 0.0, 1.0);
			loop->boosted[base + (size_t)s] = true;
			changed = true;
		}
		if (s < AQM_BEHAVIOR_COUNT)
			aqm_total += copy->skill[s];
	}
	if (!changed)
		return a;
	copy->mean_aqm_skill = aqm_total / AQM_BEHAVIOR_COUNT;
	return copy;
}

/* Agent ids are A%04u from --first-agent; anything else is not one of ours. */
static bool find_agent(const struct options *opt, const char *id, uint32_t *index)
{
	char *end;
	char canonical[16];

	if (id[0] != 'A' || id[1] < '0' || id[1] > '9')
		return false;
	errno = 0;
	const unsigned long number = strtoul(id + 1, &end, 10);
	if (errno || *end || number < opt->first_agent || number - opt->first_agent >= opt->agents)
		return false;
	snprintf(canonical, sizeof canonical, "A%04lu", number);
	if (strcmp(canonical, id) != 0)
		return false;
	*index = (uint32_t)(number - opt->first_agent);
	return true;
}

static int find_skill(const char *name)
{
	for (int s = 0; s < SKILL_COUNT; s++) {
		if (strcmp(SKILL_NAMES[s], name) == 0)
			return s;
	}
	return -1;
}

/* Rebuilt from the whole table at every read, so that a pairing cancelled
 * since stops counting and the result depends only on the rows read. Of
 * several pairings of one mentee in one behavior the earliest counts: being
 * mentored again does not add to the effect. */
static bool read_pairings(struct closed_loop *loop)
{
	struct mentor_readback_table t = {0};
	struct mentor_error err;
	const size_t slots = (size_t)loop->opt->agents * SKILL_COUNT;
	bool ok = false;

	if (mentor_readback_pairings(loop->rb, &t, &err) != MENTOR_OK) {
		fprintf(stderr, "mentord-gen: closed loop: %s\n", err.msg);
		goto out;
	}
	for (size_t i = 0; i < slots; i++)
		loop->started_at[i] = INFINITY;
	loop->rows_read = t.rows;
	loop->rows_ignored = 0;
	for (int r = 0; r < loop->rows_read; r++) {
		/* Columns: mentee_id, behavior, started; ids and behaviors are never NULL. */
		const char *started_text = mentor_readback_cell(&t, r, 2);
		const int skill = find_skill(mentor_readback_cell(&t, r, 1));
		uint32_t agent;
		char *end;

		if (skill < 0 || !find_agent(loop->opt, mentor_readback_cell(&t, r, 0), &agent) || !started_text) {
			loop->rows_ignored++;
			continue;
		}
		const double started = strtod(started_text, &end);
		if (*end || !isfinite(started)) {
			fprintf(stderr, "mentord-gen: closed loop: pairing start '%s' is not a time\n", started_text);
			goto out;
		}
		double *slot = &loop->started_at[(size_t)agent * SKILL_COUNT + (size_t)skill];
		if (started < *slot)
			*slot = started;
	}
	ok = true;
out:
	mentor_readback_table_free(&t);
	return ok;
}

/* The row of one partition in consumer_offsets' rows (topic, partition, next_offset), or -1. */
static int stored_row(const struct mentor_readback_table *stored, const char *topic, size_t partition)
{
	for (int r = 0; stored && r < stored->rows; r++) {
		if (strcmp(mentor_readback_cell(stored, r, 0), topic) == 0 &&
		    strtoul(mentor_readback_cell(stored, r, 1), NULL, 10) == partition)
			return r;
	}
	return -1;
}

/* How many partitions we delivered to, and how many of those mentord has
 * consumed up to our last message. One pass over the rows: the primary key
 * (group_id, topic, partition) makes each partition appear at most once. */
static void count_consumed(const struct delivered_offsets *d, const struct mentor_readback_table *stored,
			   size_t *marked, size_t *consumed)
{
	*marked = 0;
	*consumed = 0;
	for (size_t t = 0; t < d->name_count; t++) {
		for (size_t p = 0; p < d->partitions[t]; p++)
			*marked += d->last[t][p] >= 0;
	}
	for (int r = 0; stored && r < stored->rows; r++) {
		const unsigned long p = strtoul(mentor_readback_cell(stored, r, 1), NULL, 10);
		const long long next = strtoll(mentor_readback_cell(stored, r, 2), NULL, 10);

		for (size_t t = 0; t < d->name_count; t++) {
			if (strcmp(d->names[t], mentor_readback_cell(stored, r, 0)) == 0 && p < d->partitions[t] &&
			    d->last[t][p] >= 0 && next > d->last[t][p])
				(*consumed)++;
		}
	}
}

/* stored is NULL when the tables are missing; the query's error then says why. */
static void report_behind(const struct closed_loop *loop, const struct mentor_readback_table *stored,
			  const char *error)
{
	const struct delivered_offsets *d = &loop->delivered;

	fprintf(stderr, "mentord-gen: closed loop: after %u s, mentord (group %s, schema %s) has not consumed "
		"what was produced; is it running with that group and schema?\n", loop->opt->closed_loop_timeout,
		loop->opt->closed_loop_group, loop->opt->closed_loop_schema);
	if (!stored) {
		fprintf(stderr, "mentord-gen:   %s\n", error);
		return;
	}
	for (size_t t = 0; t < d->name_count; t++) {
		for (size_t p = 0; p < d->partitions[t]; p++) {
			const int r = stored_row(stored, d->names[t], p);
			const char *next = r < 0 ? "none" : mentor_readback_cell(stored, r, 2);

			if (d->last[t][p] >= 0 && (r < 0 || strtoll(next, NULL, 10) <= d->last[t][p]))
				fprintf(stderr, "mentord-gen:   %s[%zu]: last delivered offset %" PRId64
					", stored next offset %s\n", d->names[t], p, d->last[t][p], next);
		}
	}
}

/* Until mentord has created its tables, nothing has been consumed yet. */
static bool tables_missing(const struct mentor_error *err)
{
	return strcmp(err->sqlstate, "42P01") == 0 || strcmp(err->sqlstate, "3F000") == 0;
}

static void sleep_ms(long ms)
{
	const struct timespec delay = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L};

	nanosleep(&delay, NULL);
}

/* mentord stores each partition's next offset in the transaction that
 * stores what it decided from those events, so once every partition is
 * past our last message, the pairings that day could cause are readable. */
static bool wait_until_consumed(struct closed_loop *loop)
{
	struct timespec start;
	bool ok = false;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct mentor_readback_table stored = {0};
		struct mentor_error err;
		const bool have_rows = mentor_readback_consumer_offsets(loop->rb, loop->opt->closed_loop_group, &stored,
									&err) == MENTOR_OK;
		size_t marked, consumed;

		if (!have_rows && !tables_missing(&err)) {
			fprintf(stderr, "mentord-gen: closed loop: %s\n", err.msg);
			goto out;
		}
		count_consumed(&loop->delivered, have_rows ? &stored : NULL, &marked, &consumed);
		if (consumed == marked) {
			mentor_readback_table_free(&stored);
			ok = true;
			goto out;
		}
		if (seconds_since(&start) >= loop->opt->closed_loop_timeout) {
			report_behind(loop, have_rows ? &stored : NULL, err.msg);
			mentor_readback_table_free(&stored);
			goto out;
		}
		mentor_readback_table_free(&stored);
		sleep_ms(CLOSED_LOOP_POLL_MS);
	}
out:
	loop->waited_seconds += seconds_since(&start);
	return ok;
}

static bool closed_loop_day_done(struct closed_loop *loop, struct sink *sink)
{
	if (!flush_and_check(sink, loop->stats))
		return false;
	if (loop->delivered.out_of_memory) {
		fprintf(stderr, "mentord-gen: closed loop: out of memory for delivered offsets\n");
		return false;
	}
	if (loop->delivered.offset_missing) {
		fprintf(stderr, "mentord-gen: closed loop: delivery reports carry no offsets (acks=0?), so what "
			"mentord has consumed cannot be told\n");
		return false;
	}
	return wait_until_consumed(loop) && read_pairings(loop);
}

static void close_closed_loop(struct closed_loop *loop)
{
	mentor_readback_close(loop->rb);
	free(loop->started_at);
	free(loop->boosted);
	free_delivered(&loop->delivered);
}

/* Connects before anything is produced, so a wrong conninfo costs nothing. */
static bool open_closed_loop(struct closed_loop *loop, const struct options *opt, const struct agent *agents,
			     const struct delivery_stats *stats)
{
	const size_t slots = (size_t)opt->agents * SKILL_COUNT;
	struct mentor_error err;

	*loop = (struct closed_loop){
		.opt = opt,
		.agents = agents,
		.stats = stats,
		.ramp_seconds = opt->effect_ramp_days * SECONDS_PER_DAY,
	};
	loop->delivered.name_count = distinct_topics(opt, loop->delivered.names);
	loop->started_at = malloc(slots * sizeof *loop->started_at);
	loop->boosted = calloc(slots, sizeof *loop->boosted);
	if (!loop->started_at || !loop->boosted) {
		fprintf(stderr, "mentord-gen: out of memory for %u agents' pairings\n", opt->agents);
		return false;
	}
	for (size_t i = 0; i < slots; i++)
		loop->started_at[i] = INFINITY;
	/* The schema need not exist yet: mentord may start after the generator. An empty conninfo leaves every
	 * setting to the PG* variables; an application_name in it wins over ours. */
	if (mentor_readback_open(opt->closed_loop_pg, opt->closed_loop_schema, "mentord-gen", false, &loop->rb,
				 &err) != MENTOR_OK) {
		fprintf(stderr, "mentord-gen: closed loop: %s\n", err.msg);
		return false;
	}
	return true;
}

static void print_closed_loop(FILE *out, const struct closed_loop *loop)
{
	const size_t slots = (size_t)loop->opt->agents * SKILL_COUNT;
	size_t applied = 0;

	for (size_t i = 0; i < slots; i++)
		applied += loop->boosted[i];
	fprintf(out, "closed-loop: pairings applied=%zu read=%d ignored=%d waited=%.1fs\n", applied,
		loop->rows_read, loop->rows_ignored, loop->waited_seconds);
}

/* ---- main ---- */

static void print_counts(FILE *out, const struct sink *sink)
{
	for (int t = 0; t < TOPIC_COUNT; t++)
		fprintf(out, "%s=%" PRIu64 " ", TOPIC_LABELS[t], sink->sent[t]);
	fprintf(out, "duplicates=%" PRIu64, sink->duplicates);
}

static int count_only(const struct options *opt, const struct agent *agents)
{
	struct sink sink = {0};

	if (!generate(opt, agents, &sink, NULL))
		return EXIT_FAILURE;
	print_counts(stdout, &sink);
	printf(" total=%" PRIu64 "\n", total_sent(&sink));
	return EXIT_SUCCESS;
}

static int produce(const struct options *opt, const struct agent *agents)
{
	struct delivery_stats stats = {0};
	struct closed_loop storage = {0};
	struct closed_loop *loop = opt->closed_loop_pg ? &storage : NULL;
	struct sink sink = {0};
	struct timespec start;
	bool ok = false;

	if (loop) {
		if (!open_closed_loop(loop, opt, agents, &stats))
			goto out;
		stats.offsets = &loop->delivered;
	}
	sink.producer = create_producer(opt, &stats);
	if (!sink.producer)
		goto out;
	ok = create_topics(sink.producer, opt) && open_topics(&sink, opt);
	if (ok) {
		clock_gettime(CLOCK_MONOTONIC, &start);
		ok = generate(opt, agents, &sink, loop);
		ok = flush_and_check(&sink, &stats) && ok;
		const double elapsed = seconds_since(&start);
		fputs("produced ", stderr);
		print_counts(stderr, &sink);
		fprintf(stderr, " in %.1f s (%.0f events/s)\n", elapsed,
			elapsed > 0 ? (double)total_sent(&sink) / elapsed : 0.0);
		if (loop)
			print_closed_loop(stderr, loop);
	}
out:
	close_sink(&sink);
	if (loop)
		close_closed_loop(loop);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	struct options opt;
	const int parsed = parse_options(argc, argv, &opt);
	struct agent *agents;
	int status;

	if (parsed >= 0)
		return parsed;
	agents = build_agents(&opt);
	if (!agents)
		return EXIT_FAILURE;
	if (opt.manifest_path && !write_manifest(&opt, agents))
		status = EXIT_FAILURE;
	else if (opt.count_only)
		status = count_only(&opt, agents);
	else
		status = produce(&opt, agents);
	free(agents);
	return status;
}
