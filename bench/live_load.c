/*
 * Live AQM load for bench/trigger_latency.sh: produces aqm.v1 events stamped
 * "now" at a steady rate, keyed by agent_id, over agents A0001..A<agents>
 * with ordinary scores (70..100). Interleaved, after a warm-up, it sends each
 * target agent a steady run of events with a very low empathy score, so that
 * each target eventually enters low and fires a low_score trigger. Target
 * agents get no ordinary events: those would hold their mean up.
 *
 * For every low event it writes a CSV row (event_id, agent_id, send_us,
 * ack_us): send_us is CLOCK_REALTIME read just before rd_kafka_producev (the
 * same value as the event's occurred_at), ack_us the same clock when the
 * delivery report came back (0: not delivered). Prints the achieved rate;
 * asserts nothing about it.
 *
 * With --voc-rate, it also sends, in the same pacing loop, voc.v1 surveys
 * (issue #19's load) to --voc-topic: each for a random ordinary agent (never a
 * target: its mean must stay as it is), keyed by agent_id, with ordinary
 * answers, dated a uniform random 0 to --voc-delay-hours hours (whole
 * seconds) before its send, as customers answer hours or days after the call.
 *
 * Usage: live_load --topic T --targets A0001,A0002,... --csv FILE [options]
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define ID_LEN 64
#define PAYLOAD_LEN 512
#define MAX_PROPS 32
#define NS_PER_S 1000000000LL

static const char *const BEHAVIORS[] = {
	"greeting", "empathy", "hold_etiquette", "assurance_of_availability",
	"active_listening", "ownership", "compliance_disclosure", "resolution_steps",
};
#define BEHAVIOR_COUNT (sizeof(BEHAVIORS) / sizeof(BEHAVIORS[0]))
#define LOW_BEHAVIOR 1 /* empathy */

/* mentord-gen's voc.v1 field set: a channel, CSAT, NPS and these items (tools/mentord-gen.c). */
static const char *const CHANNELS[] = { "voice", "chat", "email" };
#define CHANNEL_COUNT (sizeof(CHANNELS) / sizeof(CHANNELS[0]))
static const char *const SURVEY_ITEMS[] = { "courtesy", "knowledge", "ease" };
#define SURVEY_ITEM_COUNT (sizeof(SURVEY_ITEMS) / sizeof(SURVEY_ITEMS[0]))
/* Longest --voc-delay-hours: 30 days, as mentord-gen's. */
#define MAX_VOC_DELAY_HOURS 720

struct options {
	const char *brokers, *topic, *csv, *run_id, *voc_topic;
	double rate, duration, warmup, target_rate, voc_rate, voc_delay_hours;
	int agents, low_score;
	uint64_t seed;
	char **targets;
	int n_targets;
	const char *props[MAX_PROPS][2];
	int n_props;
};

/* One low event: what the CSV reports. The delivery report fills ack_us. */
struct low_event {
	char event_id[ID_LEN];
	const char *agent_id;
	int64_t send_us, ack_us;
};

struct counts {
	uint64_t delivered, failed;
	rd_kafka_resp_err_t first_error;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: live_load --topic TOPIC --targets ID,ID,... --csv FILE [options]\n"
		"  --brokers HOST:PORT   bootstrap brokers (default: $MENTORD_KAFKA, else 127.0.0.1:9092)\n"
		"  --rate N              events per second, low events included (default 2000)\n"
		"  --duration S          seconds of load (default 60)\n"
		"  --agents N            agents A0001..A<N> (default 200)\n"
		"  --warmup S            seconds of ordinary load before the first low event (default 5)\n"
		"  --target-rate X       low events per second per target agent (default 2)\n"
		"  --low-score X         empathy score of a low event, 0..100 (default 0)\n"
		"  --run-id ID           prefix of event ids, unique per run (default: pid and time)\n"
		"  --seed S              random seed of the ordinary scores and surveys (default 1)\n"
		"  --voc-topic TOPIC     topic of the surveys (required with --voc-rate)\n"
		"  --voc-rate N          voc.v1 surveys per second besides --rate, for ordinary agents (default 0)\n"
		"  --voc-delay-hours H   a survey is dated 0 to H hours before its send, H <= %d (default 72)\n"
		"  -X KEY=VALUE          librdkafka producer property (repeatable)\n",
		MAX_VOC_DELAY_HOURS);
}

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t wall_us(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool parse_double(const char *name, const char *s, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *end || *out < lo || *out > hi) {
		fprintf(stderr, "live_load: --%s: '%s' is not a number in %g..%g\n", name, s, lo, hi);
		return false;
	}
	return true;
}

static bool parse_int(const char *name, const char *s, int lo, int hi, int *out)
{
	double d;

	if (!parse_double(name, s, lo, hi, &d) || d != (int)d) {
		fprintf(stderr, "live_load: --%s needs an integer\n", name);
		return false;
	}
	*out = (int)d;
	return true;
}

/* Splits "A0001,A0002" in place; the option's string lives as long as argv. */
static bool parse_targets(char *list, struct options *o)
{
	int cap = 1;

	for (const char *c = list; *c; c++)
		cap += *c == ',';
	o->targets = calloc((size_t)cap, sizeof(*o->targets));
	if (!o->targets)
		return false;
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strlen(t) >= ID_LEN) {
			fprintf(stderr, "live_load: target id '%s' is too long\n", t);
			return false;
		}
		o->targets[o->n_targets++] = t;
	}
	return true;
}

static bool add_prop(char *kv, struct options *o)
{
	char *eq = strchr(kv, '=');

	if (!eq || eq == kv || o->n_props == MAX_PROPS) {
		fprintf(stderr, "live_load: -X needs KEY=VALUE (at most %d)\n", MAX_PROPS);
		return false;
	}
	*eq = '\0';
	o->props[o->n_props][0] = kv;
	o->props[o->n_props++][1] = eq + 1;
	return true;
}

static bool check_options(const struct options *o)
{
	if (!o->topic || !o->csv || o->n_targets == 0) {
		fprintf(stderr, "live_load: --topic, --targets and --csv are required\n");
		return false;
	}
	if (o->n_targets >= o->agents) {
		fprintf(stderr, "live_load: every agent is a target: nobody is left for the ordinary load\n");
		return false;
	}
	/* Low events replace ordinary slots; more than half would not be "live load". */
	if (o->n_targets * o->target_rate > o->rate / 2) {
		fprintf(stderr, "live_load: %d targets x %g/s is more than half of --rate %g\n", o->n_targets,
			o->target_rate, o->rate);
		return false;
	}
	if (o->voc_rate > 0 && !o->voc_topic) {
		fprintf(stderr, "live_load: --voc-rate needs --voc-topic\n");
		return false;
	}
	return true;
}

/* 0: run; 1: --help printed; -1: bad command line. */
static int parse_args(int argc, char **argv, struct options *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = true;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 1;
		}
		if (!v) {
			fprintf(stderr, "live_load: %s needs a value\n", a);
			return -1;
		}
		i++;
		if (!strcmp(a, "--brokers"))
			o->brokers = v;
		else if (!strcmp(a, "--topic"))
			o->topic = v;
		else if (!strcmp(a, "--csv"))
			o->csv = v;
		else if (!strcmp(a, "--run-id"))
			o->run_id = v;
		else if (!strcmp(a, "--voc-topic"))
			o->voc_topic = v;
		else if (!strcmp(a, "--voc-rate"))
			ok = parse_double("voc-rate", v, 0, 1e6, &o->voc_rate);
		else if (!strcmp(a, "--voc-delay-hours"))
			ok = parse_double("voc-delay-hours", v, 0, MAX_VOC_DELAY_HOURS, &o->voc_delay_hours);
		else if (!strcmp(a, "--targets"))
			ok = parse_targets(v, o);
		else if (!strcmp(a, "--rate"))
			ok = parse_double("rate", v, 1, 1e6, &o->rate);
		else if (!strcmp(a, "--duration"))
			ok = parse_double("duration", v, 1, 86400, &o->duration);
		else if (!strcmp(a, "--warmup"))
			ok = parse_double("warmup", v, 0, 86400, &o->warmup);
		else if (!strcmp(a, "--target-rate"))
			ok = parse_double("target-rate", v, 0.001, 1e5, &o->target_rate);
		else if (!strcmp(a, "--agents"))
			ok = parse_int("agents", v, 2, 9999, &o->agents);
		else if (!strcmp(a, "--low-score"))
			ok = parse_int("low-score", v, 0, 100, &o->low_score);
		else if (!strcmp(a, "--seed")) {
			int s;

			ok = parse_int("seed", v, 0, 1000000000, &s);
			o->seed = (uint64_t)s;
		} else if (!strcmp(a, "-X"))
			ok = add_prop(v, o);
		else {
			usage(stderr);
			return -1;
		}
		if (!ok)
			return -1;
	}
	return check_options(o) ? 0 : -1;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct counts *c = opaque;
	struct low_event *low = m->_private;

	(void)rk;
	if (m->err) {
		if (!c->failed++)
			c->first_error = m->err;
		return;
	}
	c->delivered++;
	if (low)
		low->ack_us = wall_us();
}

static bool conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
	char err[256];

	if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "live_load: %s=%s: %s\n", k, v, err);
		return false;
	}
	return true;
}

static rd_kafka_t *make_producer(const struct options *o, struct counts *c)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[256];
	rd_kafka_t *rk;

	/* librdkafka's defaults (linger.ms 5, acks all) stand unless -X says otherwise:
	 * they are what a producer of score events would run with. */
	bool ok = conf_set(conf, "bootstrap.servers", o->brokers);
	for (int i = 0; ok && i < o->n_props; i++)
		ok = conf_set(conf, o->props[i][0], o->props[i][1]);
	if (!ok) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, c);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		fprintf(stderr, "live_load: %s\n", err);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

/* RFC 3339 UTC with microseconds and 'Z', as mentord keeps microseconds. */
static void format_time(int64_t us, char *out, size_t len)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(us % 1000000));
}

/* Ordinary behaviors score 70..100; a low event's empathy scores low_score. */
static int format_event(char *buf, size_t len, const char *event_id, const char *agent, int64_t at_us, int low_score,
			bool low, uint64_t *rng)
{
	/* Room for any int the compiler assumes the tm fields may hold (-Wformat-truncation). */
	char at[96];
	int scores[BEHAVIOR_COUNT], sum = 0, n;

	format_time(at_us, at, sizeof(at));
	for (size_t b = 0; b < BEHAVIOR_COUNT; b++) {
		scores[b] = low && b == LOW_BEHAVIOR ? low_score : 70 + (int)(rng_next(rng) % 31);
		sum += scores[b];
	}
	n = snprintf(buf, len,
		     "{\"schema\":\"aqm.v1\",\"event_id\":\"%s\",\"interaction_id\":\"%s\",\"agent_id\":\"%s\","
		     "\"occurred_at\":\"%s\",\"overall\":%.1f,\"behaviors\":{",
		     event_id, event_id, agent, at, (double)sum / BEHAVIOR_COUNT);
	for (size_t b = 0; b < BEHAVIOR_COUNT && n > 0 && (size_t)n < len; b++)
		n += snprintf(buf + n, len - (size_t)n, "%s\"%s\":%d", b ? "," : "", BEHAVIORS[b], scores[b]);
	if (n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "}}");
	return n > 0 && (size_t)n < len ? n : -1;
}

/* An ordinary survey in mentord-gen's voc.v1 shape, every field present: CSAT 4..5, NPS 7..10 and each
 * item 4..5 on the default CSAT scale 1..5, as ordinary AQM scores are 70..100. */
static int format_survey(char *buf, size_t len, const char *event_id, const char *agent, int64_t at_us,
			 uint64_t *rng)
{
	char at[96];
	/* Drawn one by one: the order of evaluation of a call's arguments is unspecified. */
	const char *channel = CHANNELS[rng_next(rng) % CHANNEL_COUNT];
	const int csat = 4 + (int)(rng_next(rng) % 2), nps = 7 + (int)(rng_next(rng) % 4);
	int n;

	format_time(at_us, at, sizeof(at));
	n = snprintf(buf, len,
		     "{\"schema\":\"voc.v1\",\"event_id\":\"%s\",\"interaction_id\":\"%s\",\"agent_id\":\"%s\","
		     "\"occurred_at\":\"%s\",\"channel\":\"%s\",\"csat\":%d,\"nps\":%d,\"items\":{",
		     event_id, event_id, agent, at, channel, csat, nps);
	for (size_t i = 0; i < SURVEY_ITEM_COUNT && n > 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - (size_t)n, "%s\"%s\":%d", i ? "," : "", SURVEY_ITEMS[i],
			      4 + (int)(rng_next(rng) % 2));
	if (n > 0 && (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, "}}");
	return n > 0 && (size_t)n < len ? n : -1;
}

/* Produces one message; waits on a full queue rather than dropping the event. */
static bool produce(rd_kafka_t *rk, const char *topic, const char *agent, const char *payload, size_t len,
		    void *opaque)
{
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(
			rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(agent, strlen(agent)),
			RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);

		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			return true;
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			fprintf(stderr, "live_load: produce to %s: %s\n", topic, rd_kafka_err2str(err));
			return false;
		}
		rd_kafka_poll(rk, 10);
	}
}

static void sleep_until(int64_t due_ns)
{
	struct timespec ts = { .tv_sec = due_ns / NS_PER_S, .tv_nsec = due_ns % NS_PER_S };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop_requested)
		;
}

struct run {
	const struct options *o;
	rd_kafka_t *rk;
	char (*ordinary)[ID_LEN]; /* the agents that are not targets */
	int n_ordinary;
	struct low_event *lows;
	size_t n_lows, cap_lows;
	uint64_t sent, surveys, rng;
	int64_t max_lag_ns;
	double seconds;
};

static bool is_target(const struct options *o, const char *id)
{
	for (int i = 0; i < o->n_targets; i++)
		if (!strcmp(o->targets[i], id))
			return true;
	return false;
}

static bool prepare(struct run *r)
{
	const struct options *o = r->o;

	r->ordinary = calloc((size_t)o->agents, sizeof(*r->ordinary));
	/* Low events come at most at n_targets * target_rate for the duration. */
	r->cap_lows = (size_t)(o->n_targets * o->target_rate * o->duration) + (size_t)o->n_targets + 16;
	r->lows = calloc(r->cap_lows, sizeof(*r->lows));
	if (!r->ordinary || !r->lows) {
		fprintf(stderr, "live_load: out of memory\n");
		return false;
	}
	for (int a = 1; a <= o->agents; a++) {
		char id[ID_LEN];

		snprintf(id, sizeof(id), "A%04d", a);
		if (!is_target(o, id))
			memcpy(r->ordinary[r->n_ordinary++], id, sizeof(id));
	}
	r->rng = o->seed;
	return true;
}

/* Sends event number seq now: a low one for target low_agent, or an ordinary one. */
static bool send_one(struct run *r, uint64_t seq, const char *low_agent)
{
	char id[ID_LEN], payload[PAYLOAD_LEN];
	const char *agent = low_agent ? low_agent : r->ordinary[rng_next(&r->rng) % (uint64_t)r->n_ordinary];
	struct low_event *low = NULL;
	int64_t now_us;
	int len;

	snprintf(id, sizeof(id), "ll-%s-%" PRIu64, r->o->run_id, seq);
	if (low_agent) {
		if (r->n_lows == r->cap_lows)
			return true; /* cannot happen with the schedule; never overrun */
		low = &r->lows[r->n_lows++];
		memcpy(low->event_id, id, sizeof(id));
		low->agent_id = low_agent;
	}
	/* The send time: the last thing before producev, and the event's occurred_at. */
	now_us = wall_us();
	len = format_event(payload, sizeof(payload), id, agent, now_us, r->o->low_score, low != NULL, &r->rng);
	if (len < 0) {
		fprintf(stderr, "live_load: event %s does not fit in %d bytes\n", id, PAYLOAD_LEN);
		return false;
	}
	if (low)
		low->send_us = now_us;
	if (!produce(r->rk, r->o->topic, agent, payload, (size_t)len, low))
		return false;
	r->sent++;
	return true;
}

/* Sends survey number r->surveys now: a voc.v1 event for a random ordinary agent, dated a uniform random
 * whole number of seconds in [0, voc_delay_hours) before now. */
static bool send_survey(struct run *r)
{
	char id[ID_LEN], payload[PAYLOAD_LEN];
	const char *agent = r->ordinary[rng_next(&r->rng) % (uint64_t)r->n_ordinary];
	const uint64_t delay_range_s = (uint64_t)(r->o->voc_delay_hours * 3600);
	const int64_t delay_s = delay_range_s ? (int64_t)(rng_next(&r->rng) % delay_range_s) : 0;
	int len;

	/* "lv-": apart from the AQM events' "ll-" ids, which the script's per-10 s figures select. */
	snprintf(id, sizeof(id), "lv-%s-%" PRIu64, r->o->run_id, r->surveys);
	len = format_survey(payload, sizeof(payload), id, agent, wall_us() - delay_s * 1000000, &r->rng);
	if (len < 0) {
		fprintf(stderr, "live_load: survey %s does not fit in %d bytes\n", id, PAYLOAD_LEN);
		return false;
	}
	if (!produce(r->rk, r->o->voc_topic, agent, payload, (size_t)len, NULL))
		return false;
	r->surveys++;
	return true;
}

/* AQM slot i is due at start + i / rate, a slot being a low event once the low schedule is due; survey j
 * at start + j / voc_rate. Each turn sends whichever is due first (the AQM event on a tie). */
static bool run_load(struct run *r)
{
	const struct options *o = r->o;
	const int64_t slot_ns = (int64_t)(NS_PER_S / o->rate);
	const int64_t low_ns = (int64_t)(NS_PER_S / (o->n_targets * o->target_rate));
	const int64_t survey_ns = o->voc_rate > 0 ? (int64_t)(NS_PER_S / o->voc_rate) : 0;
	const int64_t start = clock_ns(CLOCK_MONOTONIC), end = start + (int64_t)(o->duration * NS_PER_S);
	int64_t next_low = start + (int64_t)(o->warmup * NS_PER_S);
	int next_target = 0;
	uint64_t seq = 0;

	while (!stop_requested) {
		const int64_t due_event = start + (int64_t)seq * slot_ns;
		const int64_t due_survey = survey_ns ? start + (int64_t)r->surveys * survey_ns : end;
		const bool survey = due_survey < due_event;
		const int64_t due = survey ? due_survey : due_event, now = clock_ns(CLOCK_MONOTONIC);
		const char *low_agent = NULL;

		if (due >= end)
			break;
		if (due > now)
			sleep_until(due);
		else if (now - due > r->max_lag_ns)
			r->max_lag_ns = now - due;
		if (survey) {
			if (!send_survey(r))
				return false;
			rd_kafka_poll(r->rk, 0);
			continue;
		}
		if (due >= next_low) {
			low_agent = o->targets[next_target];
			next_target = (next_target + 1) % o->n_targets;
			next_low += low_ns;
		}
		if (!send_one(r, seq++, low_agent))
			return false;
		rd_kafka_poll(r->rk, 0);
	}
	r->seconds = (double)(clock_ns(CLOCK_MONOTONIC) - start) / NS_PER_S;
	return true;
}

static bool write_csv(const struct run *r, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "live_load: %s: %s\n", path, strerror(errno));
		return false;
	}
	fprintf(f, "event_id,agent_id,send_us,ack_us\n");
	for (size_t i = 0; i < r->n_lows; i++)
		fprintf(f, "%s,%s,%" PRId64 ",%" PRId64 "\n", r->lows[i].event_id, r->lows[i].agent_id,
			r->lows[i].send_us, r->lows[i].ack_us);
	if (fclose(f) != 0) {
		fprintf(stderr, "live_load: %s: %s\n", path, strerror(errno));
		return false;
	}
	return true;
}

static void report(const struct run *r, const struct counts *c)
{
	const struct options *o = r->o;

	char surveys[160] = "";

	if (o->voc_rate > 0)
		snprintf(surveys, sizeof(surveys), "; and %" PRIu64 " surveys (%.1f/s, dated 0 to %g h back) to %s",
			 r->surveys, r->seconds > 0 ? (double)r->surveys / r->seconds : 0.0, o->voc_delay_hours,
			 o->voc_topic);
	printf("live_load: target %.0f events/s for %.0f s; sent %" PRIu64 " events (%zu low, %d target agents) "
	       "in %.2f s: %.1f events/s%s; delivered %" PRIu64 ", failed %" PRIu64 "%s%s; "
	       "pacing lag at most %.1f ms\n",
	       o->rate, o->duration, r->sent, r->n_lows, o->n_targets, r->seconds,
	       r->seconds > 0 ? (double)r->sent / r->seconds : 0.0, surveys, c->delivered, c->failed,
	       c->failed ? " (first: " : "", c->failed ? rd_kafka_err2str(c->first_error) : "",
	       (double)r->max_lag_ns / 1e6);
	printf("live_load: send time = CLOCK_REALTIME read just before rd_kafka_producev (linger and broker ack "
	       "included in any latency measured from it)\n");
	printf("sent=%" PRIu64 " low=%zu surveys=%" PRIu64 " seconds=%.3f delivered=%" PRIu64 " failed=%" PRIu64 "\n",
	       r->sent, r->n_lows, r->surveys, r->seconds, c->delivered, c->failed);
}

int main(int argc, char **argv)
{
	static char default_run_id[32];
	const char *env_brokers = getenv("MENTORD_KAFKA");
	struct options o = {
		.brokers = env_brokers && *env_brokers ? env_brokers : "127.0.0.1:9092",
		.rate = 2000, .duration = 60, .warmup = 5, .target_rate = 2, .agents = 200, .seed = 1,
		.voc_delay_hours = 72,
	};
	struct counts c = { 0 };
	struct run r = { .o = &o };
	int rc = parse_args(argc, argv, &o);
	bool ok;

	if (rc)
		return rc > 0 ? 0 : 2;
	if (!o.run_id) {
		snprintf(default_run_id, sizeof(default_run_id), "%ld-%ld", (long)getpid(), (long)time(NULL));
		o.run_id = default_run_id;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (!prepare(&r) || !(r.rk = make_producer(&o, &c)))
		return 1;
	ok = run_load(&r);
	/* Wait for every delivery report: ack_us and the failure count need them. */
	if (rd_kafka_flush(r.rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		fprintf(stderr, "live_load: %d messages still unacknowledged after 30 s\n", rd_kafka_outq_len(r.rk));
	rd_kafka_destroy(r.rk);
	ok = write_csv(&r, o.csv) && ok;
	report(&r, &c);
	free(r.lows);
	free(r.ordinary);
	free(o.targets);
	return ok && c.failed == 0 ? 0 : 1;
}
