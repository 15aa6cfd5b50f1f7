/* Configuration: defaults, the INI file, overrides, and every refusal. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mentor/config.h"
#include "test_util.h"

static char *write_temp(const char *text)
{
	static char path[64];
	int fd;

	strcpy(path, "/tmp/mentord-test-config.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_defaults(void **state)
{
	struct mentor_config *cfg = mentor_config_new();
	struct mentor_error err;

	(void)state;
	assert_non_null(cfg);
	assert_string_equal(cfg->pg_schema, "mentor");
	assert_string_equal(cfg->topics[MENTOR_EVENT_VOC], "voc.responses");
	assert_string_equal(cfg->topics[MENTOR_EVENT_AQM], "aqm.scores");
	assert_string_equal(cfg->topics[MENTOR_EVENT_ROSTER], "agents.roster");
	assert_string_equal(mentor_config_kafka_get(cfg, "group.id"), "mentord");
	assert_int_equal(cfg->rules.csat_min, 1);
	assert_int_equal(cfg->rules.csat_max, 5);
	assert_int_equal(cfg->rules.max_message_bytes, 65536);
	assert_int_equal(cfg->stall_seconds, 300);
	assert_true(cfg->rules.max_future_us == INT64_C(86400000000));
	assert_true(cfg->rules.max_past_us == INT64_C(400) * 86400000000);
	assert_int_equal(cfg->rules.max_unknown_agents, 100000);
	assert_int_equal(cfg->rules.max_behaviors, 1000);
	assert_int_equal(cfg->batch_max_bytes, 64 << 20);
	assert_string_equal(cfg->http_listen, "");
	assert_int_equal(cfg->analytics.max_rounds_per_call, 100);
	assert_int_equal(cfg->analytics.max_waiting_observations, 1000000);
	assert_string_equal(cfg->rules.default_program, "");
	assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_OK);
	mentor_config_free(cfg);
}

static void test_file_and_overrides(void **state)
{
	const char *path = write_temp("[postgres]\nschema = qa_mentor\n"
				      "[ingest]\ntopic_voc = vendor.surveys\nbatch_max_events = 250\n"
				      "max_future_seconds = 60\nstall_seconds = 2\nmax_past_days = 30\nmax_unknown_agents = 50\n"
				      "max_behaviors = 7\nbatch_max_bytes = 2097152\nprogram = acme billing\n"
				      "[kafka]\nbootstrap.servers = k1:9092\nsession.timeout.ms = 6000\n"
				      "[map.voc]\nschema =\ncsat = /survey/csat/score\nprogram = /survey/form\n"
				      "[log]\nlevel = debug\n"
				      "[http]\nlisten = [::1]:9464\n"
				      "[analytics]\nmax_rounds_per_call = 1\nmax_waiting_observations = 5000\n");
	struct mentor_config *cfg = mentor_config_new();
	struct mentor_error err;

	(void)state;
	assert_int_equal(mentor_config_load_file(cfg, path, &err), MENTOR_OK);
	assert_string_equal(cfg->pg_schema, "qa_mentor");
	assert_string_equal(cfg->topics[MENTOR_EVENT_VOC], "vendor.surveys");
	assert_int_equal(cfg->batch_max_events, 250);
	assert_int_equal(cfg->rules.max_future_us, 60000000);
	assert_int_equal(cfg->stall_seconds, 2);
	assert_true(cfg->rules.max_past_us == INT64_C(30) * 86400000000);
	assert_int_equal(cfg->rules.max_unknown_agents, 50);
	assert_int_equal(cfg->rules.max_behaviors, 7);
	assert_int_equal(cfg->batch_max_bytes, 2097152);
	assert_string_equal(mentor_config_kafka_get(cfg, "session.timeout.ms"), "6000");
	assert_string_equal(cfg->rules.map[MENTOR_EVENT_VOC].pointer[MENTOR_F_CSAT], "/survey/csat/score");
	assert_string_equal(cfg->rules.map[MENTOR_EVENT_VOC].pointer[MENTOR_F_SCHEMA], "");
	assert_string_equal(cfg->rules.map[MENTOR_EVENT_VOC].pointer[MENTOR_F_PROGRAM], "/survey/form");
	assert_string_equal(cfg->rules.default_program, "acme billing");
	assert_int_equal(cfg->log_level, MENTOR_LOG_DEBUG);
	assert_string_equal(cfg->http_listen, "[::1]:9464");
	assert_int_equal(cfg->analytics.max_rounds_per_call, 1);
	assert_int_equal(cfg->analytics.max_waiting_observations, 5000);
	assert_int_equal(mentor_config_set(cfg, "kafka", "bootstrap.servers", "k2:9092", &err), MENTOR_OK);
	assert_string_equal(mentor_config_kafka_get(cfg, "bootstrap.servers"), "k2:9092");
	assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_OK);
	mentor_config_free(cfg);
	unlink(path);
}

/* Each line alone must be refused, with a message naming the key. */
/*
 * allowed_lateness_seconds sets every source's allowed lateness; a source's
 * own key wins over it whichever line comes first.
 */
static void test_lateness_per_source(void **state)
{
	static const char *const files[] = {
		"[analytics]\nallowed_lateness_seconds = 3600\nallowed_lateness_voc_seconds = 259200\n",
		"[analytics]\nallowed_lateness_voc_seconds = 259200\nallowed_lateness_seconds = 3600\n",
	};
	const int64_t s = 1000000;

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *path = write_temp(files[i]);
		struct mentor_config *cfg = mentor_config_new();
		struct mentor_error err;

		assert_int_equal(cfg->rules.lateness_us[MENTOR_EVENT_AQM], 0);
		assert_int_equal(cfg->rules.lateness_us[MENTOR_EVENT_VOC], 0);
		assert_int_equal(mentor_config_load_file(cfg, path, &err), MENTOR_OK);
		assert_int_equal(cfg->rules.lateness_us[MENTOR_EVENT_AQM], 3600 * s);
		assert_int_equal(cfg->rules.lateness_us[MENTOR_EVENT_VOC], 259200 * s);
		assert_int_equal(cfg->rules.lateness_us[MENTOR_EVENT_ROSTER], 0);
		assert_int_equal(mentor_config_set(cfg, "analytics", "allowed_lateness_aqm_seconds", "60", &err),
				 MENTOR_OK);
		assert_int_equal(mentor_config_set(cfg, "analytics", "allowed_lateness_seconds", "7", &err), MENTOR_OK);
		assert_int_equal(cfg->rules.lateness_us[MENTOR_EVENT_AQM], 60 * s);
		assert_int_equal(cfg->rules.lateness_us[MENTOR_EVENT_VOC], 259200 * s);
		mentor_config_free(cfg);
		unlink(path);
	}
}

static void test_refusals(void **state)
{
	static const char *const bad[][2] = {
		{ "[ingest]\nbatch_max_events = 0\n", "batch_max_events" },
		{ "[ingest]\nbatch_max_events = 12x\n", "batch_max_events" },
		{ "[ingest]\nbatch_max_bytes = 1000\n", "batch_max_bytes" },
		{ "[ingest]\nmax_past_days = -1\n", "max_past_days" },
		{ "[ingest]\nmax_unknown_agents = 10000001\n", "max_unknown_agents" },
		{ "[ingest]\nmax_behaviors = -5\n", "max_behaviors" },
		{ "[ingest]\nno_such_key = 1\n", "no_such_key" },
		{ "[ingest]\nstall_seconds = 0\n", "stall_seconds" },
		{ "[ingest]\nstall_seconds = 86401\n", "stall_seconds" },
		{ "[ingest]\nprogram = a\x01b\n", "program: 'a\x01b' contains a control character" },
		{ "[ingest]\nprogram = ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
		  "ppppppppppppppppppppppppppppppppppppppp\n", "is longer than 127 bytes" },
		{ "[map.roster]\nprogram = /program\n", "program" },
		{ "[map.voc]\nprograms = /programs\n", "programs" },
		{ "[nowhere]\nkey = 1\n", "key" },
		{ "[map.voc]\noverall = /x\n", "overall" },
		{ "[map.aqm]\noverall = no-slash\n", "overall" },
		{ "[log]\nlevel = loud\n", "level" },
		{ "[analytics]\nmax_rounds_per_call = 0\n", "max_rounds_per_call" },
		{ "[analytics]\nmax_waiting_observations = 999\n", "max_waiting_observations" },
		{ "[analytics]\nallowed_lateness_voc_seconds = 2592001\n", "allowed_lateness_voc_seconds" },
		{ "[analytics]\nallowed_lateness_aqm_seconds = -1\n", "allowed_lateness_aqm_seconds" },
		{ "[analytics]\nallowed_lateness_seconds = 1h\n", "allowed_lateness_seconds" },
		{ "just a line\n", "line" },
		{ "[kafka.file]\nsasl.password = /etc/mentord/kafka-password\n", "sasl.password" },
		{ "[kafka.file]\nsasl.password = credential:../pg-password\n", "sasl.password" },
		{ "[kafka.file]\nsasl.password = file:kafka-password\n", "sasl.password" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *path = write_temp(bad[i][0]);
		struct mentor_config *cfg = mentor_config_new();
		struct mentor_error err = { 0 };

		assert_int_equal(mentor_config_load_file(cfg, path, &err), MENTOR_ERR_INVALID);
		assert_non_null(strstr(err.msg, bad[i][1]));
		mentor_config_free(cfg);
		unlink(path);
	}
}

static void test_validation(void **state)
{
	static const char *const bad[][3] = {
		{ "ingest", "csat_min", "5" },
		{ "postgres", "schema", "Robert'); DROP" },
		{ "ingest", "offset_reset", "middle" },
		{ "ingest", "topic_aqm", "voc.responses" },
		{ "map.aqm", "overall", "" },
		{ "kafka", "enable.auto.commit", "true" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mentor_config *cfg = mentor_config_new();
		struct mentor_error err = { 0 };

		assert_int_equal(mentor_config_set(cfg, bad[i][0], bad[i][1], bad[i][2], &err), MENTOR_OK);
		assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_ERR_INVALID);
		assert_non_null(strstr(err.msg, bad[i][1]));
		mentor_config_free(cfg);
	}
}

static void test_missing_file(void **state)
{
	struct mentor_config *cfg = mentor_config_new();
	struct mentor_error err;

	(void)state;
	assert_int_equal(mentor_config_load_file(cfg, "/nonexistent/mentord.conf", &err), MENTOR_ERR_IO);
	mentor_config_free(cfg);
}

/* Writes name in dir with data. */
static void write_in(const char *dir, const char *name, const char *data)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(data, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* [kafka.file]: each value read from its file at mentor_config_read_kafka_files(), one trailing newline off. */
static void test_kafka_files(void **state)
{
	char dir[] = "/tmp/mentord-test-credentials.XXXXXX";
	char text[1024], cleanup[128];
	struct mentor_config *cfg = mentor_config_new();
	struct mentor_error err;
	const char *path;

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_in(dir, "kafka-password", "s3cret\n");
	write_in(dir, "client.pem", "-----BEGIN-----\nAAAA\n-----END-----\n\n");
	write_in(dir, "crlf", "from-windows\r\n");
	write_in(dir, "group", "literal-wins");
	snprintf(text, sizeof(text),
		 "[kafka]\nsasl.username = mentord\nsasl.password = in-the-file\n"
		 "[kafka.file]\nsasl.password = credential:kafka-password\n"
		 "ssl.certificate.pem = file:%s/client.pem\nssl.key.password = credential:crlf\n"
		 "group.id = credential:group\n"
		 "[kafka]\ngroup.id = mentord-qa\n", dir);
	path = write_temp(text);
	assert_int_equal(mentor_config_load_file(cfg, path, &err), MENTOR_OK);
	/* Not read yet: the [kafka] value stands until the files are read. */
	assert_string_equal(mentor_config_kafka_get(cfg, "sasl.password"), "in-the-file");
	assert_null(mentor_config_kafka_get(cfg, "ssl.certificate.pem"));
	assert_int_equal(mentor_config_read_kafka_files(cfg, dir, &err), MENTOR_OK);
	assert_string_equal(mentor_config_kafka_get(cfg, "sasl.username"), "mentord");
	assert_string_equal(mentor_config_kafka_get(cfg, "sasl.password"), "s3cret");
	assert_string_equal(mentor_config_kafka_get(cfg, "ssl.certificate.pem"),
			    "-----BEGIN-----\nAAAA\n-----END-----\n");
	assert_string_equal(mentor_config_kafka_get(cfg, "ssl.key.password"), "from-windows");
	/* The later [kafka] line of group.id replaced its [kafka.file] line. */
	assert_string_equal(mentor_config_kafka_get(cfg, "group.id"), "mentord-qa");
	assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_OK);
	mentor_config_free(cfg);
	unlink(path);

	/* A missing file: an I/O error naming the property and the path, never a value. */
	cfg = mentor_config_new();
	assert_int_equal(mentor_config_set(cfg, "kafka.file", "sasl.password", "credential:nowhere", &err), MENTOR_OK);
	assert_int_equal(mentor_config_read_kafka_files(cfg, dir, &err), MENTOR_ERR_IO);
	assert_non_null(strstr(err.msg, "[kafka.file] sasl.password"));
	assert_non_null(strstr(err.msg, "/nowhere"));
	/* Without a credentials directory (no LoadCredential=). */
	assert_int_equal(mentor_config_read_kafka_files(cfg, NULL, &err), MENTOR_ERR_INVALID);
	assert_non_null(strstr(err.msg, "sasl.password"));
	mentor_config_free(cfg);

	/* A file cannot turn on what validation forbids. */
	write_in(dir, "auto-commit", "true\n");
	cfg = mentor_config_new();
	assert_int_equal(mentor_config_set(cfg, "kafka.file", "enable.auto.commit", "credential:auto-commit", &err),
			 MENTOR_OK);
	assert_int_equal(mentor_config_read_kafka_files(cfg, dir, &err), MENTOR_OK);
	assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_ERR_INVALID);
	assert_non_null(strstr(err.msg, "enable.auto.commit"));
	mentor_config_free(cfg);
	snprintf(cleanup, sizeof(cleanup), "rm -rf '%s'", dir);
	assert_int_equal(system(cleanup), 0);
}

/* ---- Programs, per-behavior thresholds, the behaviors that may trigger ---- */

/* cfg from text, loaded and validated. */
static struct mentor_config *load_text(const char *text)
{
	const char *path = write_temp(text);
	struct mentor_config *cfg = mentor_config_new();
	struct mentor_error err = { 0 };

	assert_non_null(cfg);
	if (mentor_config_load_file(cfg, path, &err) != MENTOR_OK)
		fail_msg("%s", err.msg);
	unlink(path);
	if (mentor_config_validate(cfg, &err) != MENTOR_OK)
		fail_msg("%s", err.msg);
	return cfg;
}

/* A program's resolved settings, which must have a section. */
static const struct mentor_analytics_config *program_of(const struct mentor_config *cfg, const char *name)
{
	const struct mentor_analytics_config *a = mentor_config_program(cfg, name);

	assert_true(a != &cfg->analytics);
	return a;
}

/* The low threshold a metric is decided by: its own if it has one, else the general one. */
static double low_of(const struct mentor_analytics_config *a, const char *metric)
{
	for (size_t i = 0; i < a->n_thresholds; i++)
		if (strcmp(a->thresholds[i].metric, metric) == 0 && !isnan(a->thresholds[i].low_threshold))
			return a->thresholds[i].low_threshold;
	return a->stats.status.low_threshold;
}

static double high_of(const struct mentor_analytics_config *a, const char *metric)
{
	for (size_t i = 0; i < a->n_thresholds; i++)
		if (strcmp(a->thresholds[i].metric, metric) == 0 && !isnan(a->thresholds[i].high_threshold))
			return a->thresholds[i].high_threshold;
	return a->stats.status.high_threshold;
}

/*
 * A program's own key wins over the global one whichever comes first in the
 * file; keys it does not give follow the global ones, also those set after
 * its section; a program without a section, and NULL, get the global ones.
 */
static void test_program_overrides(void **state)
{
	static const char *const files[] = {
		"[detect]\nlow_threshold = 0.55\nmin_n = 12\n[pairing]\ncapacity = 3\n"
		"[program.acme-billing]\nlow_threshold = 0.70\ncapacity = 1\nkpi.confidence = 0.9\n"
		"detect.confidence = 0.8\ncooldown_days = 30\ncuped = false\ncross_team = required\n"
		"max_pairings_per_mentee = 2\nanalytics.duration_days = 14\n",
		"[program.acme-billing]\nlow_threshold = 0.70\ncapacity = 1\nkpi.confidence = 0.9\n"
		"detect.confidence = 0.8\ncooldown_days = 30\ncuped = false\ncross_team = required\n"
		"max_pairings_per_mentee = 2\nanalytics.duration_days = 14\n"
		"[detect]\nlow_threshold = 0.55\nmin_n = 12\n[pairing]\ncapacity = 3\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct mentor_config *cfg = load_text(files[i]);
		const struct mentor_analytics_config *acme = program_of(cfg, "acme-billing");
		struct mentor_error err = { 0 };

		assert_int_equal(cfg->n_programs, 1);
		assert_string_equal(cfg->programs[0].name, "acme-billing");
		assert_ptr_equal(acme, &cfg->programs[0].analytics);
		assert_near(cfg->analytics.stats.status.low_threshold, 0.55, 0);
		assert_near(acme->stats.status.low_threshold, 0.70, 0);
		assert_int_equal(cfg->analytics.pair.capacity, 3);
		assert_int_equal(acme->pair.capacity, 1);
		assert_int_equal(acme->stats.status.min_n, 12);
		assert_near(acme->stats.kpi.confidence, 0.9, 0);
		assert_near(cfg->analytics.stats.kpi.confidence, 0.95, 0);
		assert_near(acme->stats.shrink.confidence, 0.8, 0);
		assert_int_equal(acme->cooldown_days, 30);
		assert_int_equal(cfg->analytics.cooldown_days, 90);
		assert_int_equal(acme->cuped, 0);
		assert_int_equal(acme->pair.cross_team, MENTOR_CROSS_TEAM_REQUIRED);
		assert_int_equal(cfg->analytics.pair.cross_team, MENTOR_CROSS_TEAM_PREFERRED);
		assert_int_equal(acme->max_pairings_per_mentee, 2);
		assert_int_equal(cfg->analytics.max_pairings_per_mentee, 1);
		assert_int_equal(acme->duration_days, 14);
		assert_ptr_equal(mentor_config_program(cfg, "default"), &cfg->analytics);
		assert_ptr_equal(mentor_config_program(cfg, "acme"), &cfg->analytics);
		assert_ptr_equal(mentor_config_program(cfg, NULL), &cfg->analytics);

		/* Overrides too: a global key after the file leaves the program's own and moves the rest. */
		assert_int_equal(mentor_config_set(cfg, "detect", "low_threshold", "0.5", &err), MENTOR_OK);
		assert_int_equal(mentor_config_set(cfg, "detect", "min_n", "4", &err), MENTOR_OK);
		assert_int_equal(mentor_config_set(cfg, "analytics", "max_rounds_per_call", "7", &err), MENTOR_OK);
		acme = program_of(cfg, "acme-billing");
		assert_near(acme->stats.status.low_threshold, 0.70, 0);
		assert_int_equal(acme->stats.status.min_n, 4);
		assert_int_equal(acme->max_rounds_per_call, 7);
		/* A later line of the program's own wins over its earlier one. */
		assert_int_equal(mentor_config_set(cfg, "program.acme-billing", "capacity", "2", &err), MENTOR_OK);
		assert_int_equal(program_of(cfg, "acme-billing")->pair.capacity, 2);
		assert_int_equal(mentor_config_set(cfg, "program.default", "min_n", "9", &err), MENTOR_OK);
		assert_int_equal(cfg->n_programs, 2);
		assert_int_equal(program_of(cfg, "default")->stats.status.min_n, 9);
		assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_OK);
		mentor_config_free(cfg);
	}
}

/*
 * A metric's thresholds: the program's low_threshold.NAME, then the global
 * one, then the program's low_threshold, then the global one.
 */
static void test_own_thresholds(void **state)
{
	struct mentor_config *cfg = load_text(
		"[program.acme]\nlow_threshold = 0.70\nlow_threshold.greeting = 0.65\nhigh_threshold.empathy = 0.8\n"
		"[detect]\nlow_threshold.empathy = 0.5\nhigh_threshold.greeting = 0.9\nlow_threshold.csat = 0.4\n"
		"low_threshold.aqm = 0.45\nlow_threshold.hold etiquette = 0.55\n");
	const struct mentor_analytics_config *acme = program_of(cfg, "acme");
	const struct mentor_analytics_config *global = &cfg->analytics;

	(void)state;
	assert_int_equal(global->n_thresholds, 5);
	assert_near(low_of(global, "courtesy"), 0.60, 0);
	assert_near(low_of(global, "empathy"), 0.50, 0);
	assert_near(low_of(global, "greeting"), 0.60, 0);
	assert_near(low_of(global, "csat"), 0.40, 0);
	assert_near(low_of(global, "aqm"), 0.45, 0);
	assert_near(low_of(global, "hold etiquette"), 0.55, 0);
	assert_near(high_of(global, "greeting"), 0.90, 0);
	assert_near(high_of(global, "empathy"), 0.85, 0);
	/* The program's general 0.70 is below the global empathy key in precedence, above the global general. */
	assert_near(low_of(acme, "courtesy"), 0.70, 0);
	assert_near(low_of(acme, "empathy"), 0.50, 0);
	assert_near(low_of(acme, "greeting"), 0.65, 0);
	assert_near(high_of(acme, "empathy"), 0.80, 0);
	assert_near(high_of(acme, "greeting"), 0.90, 0);
	assert_near(high_of(acme, "courtesy"), 0.85, 0);
	assert_int_equal(acme->n_thresholds, 5);
	mentor_config_free(cfg);
}

/* Each file loads, and validation refuses it naming the text given. */
static void test_own_thresholds_validation(void **state)
{
	static const char *const bad[][2] = {
		/* low + hysteresis > 1: never left. */
		{ "[detect]\nlow_threshold.empathy = 0.98\n", "[detect] low_threshold.empathy" },
		{ "[detect]\nlow_threshold.empathy = 0.9\n[program.acme]\nhysteresis = 0.2\n",
		  "[program.acme] low_threshold.empathy" },
		{ "[program.acme]\nlow_threshold.empathy = 0.99\n", "[program.acme] low_threshold.empathy" },
		{ "[program.acme]\nwashout_days = 28\n", "[program.acme] washout" },
		{ "[kpi]\nafter_days = 10\n[program.acme]\nwashout_days = 10\n", "[program.acme] washout" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *path = write_temp(bad[i][0]);
		struct mentor_config *cfg = mentor_config_new();
		struct mentor_error err = { 0 };

		assert_int_equal(mentor_config_load_file(cfg, path, &err), MENTOR_OK);
		assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_ERR_INVALID);
		if (!strstr(err.msg, bad[i][1]))
			fail_msg("'%s' does not name %s", err.msg, bad[i][1]);
		mentor_config_free(cfg);
		unlink(path);
	}
}

/* The behaviors that may trigger: by default all but the outcomes; a list, spaces and all; an empty one. */
static void test_behaviors(void **state)
{
	static const char *const bad[][2] = {
		{ "a, a", "'a' is listed twice" },
		{ "a,,b", "empty name" },
		{ "a,", "empty name" },
		{ ",a", "empty name" },
		{ "a, ,b", "empty name" },
		{ "a,b\x01", "control characters" },
	};
	struct mentor_config *cfg = mentor_config_new();
	struct mentor_error err = { 0 };
	const struct mentor_analytics_config *p;

	(void)state;
	assert_false(cfg->analytics.triggers.listed);
	assert_true(mentor_analytics_may_trigger(&cfg->analytics, "empathy"));
	assert_true(mentor_analytics_may_trigger(&cfg->analytics, "courtesy"));
	assert_false(mentor_analytics_may_trigger(&cfg->analytics, "csat"));
	assert_false(mentor_analytics_may_trigger(&cfg->analytics, "csat_top2"));
	assert_false(mentor_analytics_may_trigger(&cfg->analytics, "aqm"));
	assert_int_equal(mentor_config_set(cfg, "detect", "behaviors", "empathy,  greeting ,hold etiquette,\tcsat", &err),
			 MENTOR_OK);
	assert_true(cfg->analytics.triggers.listed);
	assert_int_equal(cfg->analytics.triggers.n, 4);
	assert_string_equal(cfg->analytics.triggers.metrics[0], "empathy");
	assert_string_equal(cfg->analytics.triggers.metrics[1], "greeting");
	assert_string_equal(cfg->analytics.triggers.metrics[2], "hold etiquette");
	assert_string_equal(cfg->analytics.triggers.metrics[3], "csat");
	assert_true(mentor_analytics_may_trigger(&cfg->analytics, "hold etiquette"));
	assert_true(mentor_analytics_may_trigger(&cfg->analytics, "csat"));
	assert_false(mentor_analytics_may_trigger(&cfg->analytics, "aqm"));
	assert_false(mentor_analytics_may_trigger(&cfg->analytics, "courtesy"));
	assert_false(mentor_analytics_may_trigger(&cfg->analytics, "hold"));
	/* A program's list replaces the global one; one without follows it. */
	assert_int_equal(mentor_config_set(cfg, "program.acme", "behaviors", "aqm", &err), MENTOR_OK);
	assert_int_equal(mentor_config_set(cfg, "program.zeta", "min_n", "3", &err), MENTOR_OK);
	p = program_of(cfg, "acme");
	assert_int_equal(p->triggers.n, 1);
	assert_true(mentor_analytics_may_trigger(p, "aqm"));
	assert_false(mentor_analytics_may_trigger(p, "empathy"));
	assert_true(mentor_analytics_may_trigger(program_of(cfg, "zeta"), "empathy"));
	assert_int_equal(program_of(cfg, "zeta")->triggers.n, 4);
	/* Refusals leave the list as it was. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mentor_config_set(cfg, "detect", "behaviors", bad[i][0], &err), MENTOR_ERR_INVALID);
		assert_non_null(strstr(err.msg, "[detect] behaviors"));
		assert_non_null(strstr(err.msg, bad[i][1]));
		assert_int_equal(mentor_config_set(cfg, "program.acme", "behaviors", bad[i][0], &err), MENTOR_ERR_INVALID);
		assert_non_null(strstr(err.msg, "[program.acme] behaviors"));
		assert_int_equal(cfg->analytics.triggers.n, 4);
		assert_int_equal(program_of(cfg, "acme")->triggers.n, 1);
	}
	/* Empty: nothing triggers, not in the program that follows. */
	assert_int_equal(mentor_config_set(cfg, "detect", "behaviors", "", &err), MENTOR_OK);
	assert_true(cfg->analytics.triggers.listed);
	assert_int_equal(cfg->analytics.triggers.n, 0);
	assert_false(mentor_analytics_may_trigger(&cfg->analytics, "empathy"));
	assert_false(mentor_analytics_may_trigger(program_of(cfg, "zeta"), "empathy"));
	assert_true(mentor_analytics_may_trigger(program_of(cfg, "acme"), "aqm"));
	assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_OK);
	mentor_config_free(cfg);
}

/* Each line alone is refused when loaded, with a message naming the section and the key. */
static void test_program_refusals(void **state)
{
	static const char *const bad[][2] = {
		{ "[program.acme]\nenabled = false\n", "[program.acme] enabled: the deployment's" },
		{ "[program.acme]\nround_interval_seconds = 3600\n", "[program.acme] round_interval_seconds: the deployment's" },
		{ "[program.acme]\nmax_rounds_per_call = 5\n", "[program.acme] max_rounds_per_call: the deployment's" },
		{ "[program.acme]\nmax_waiting_observations = 5000\n", "[program.acme] max_waiting_observations: the" },
		{ "[program.acme]\nallowed_lateness_seconds = 60\n", "[program.acme] allowed_lateness_seconds: the" },
		{ "[program.acme]\nallowed_lateness_voc_seconds = 60\n", "[program.acme] allowed_lateness_voc_seconds" },
		{ "[program.acme]\nallowed_lateness_aqm_seconds = 60\n", "[program.acme] allowed_lateness_aqm_seconds" },
		{ "[program.acme]\nanalytics.enabled = false\n", "[program.acme] analytics.enabled: the deployment's" },
		{ "[program.acme]\nno_such_key = 1\n", "[program.acme] no_such_key: unknown key" },
		{ "[program.acme]\ntopic_voc = x\n", "[program.acme] topic_voc: unknown key" },
		{ "[program.acme]\nkpi.min_n = 3\n", "[program.acme] kpi.min_n: unknown key" },
		{ "[program.acme]\ningest.batch_max_ms = 3\n", "[program.acme] ingest.batch_max_ms: unknown key" },
		{ "[program.acme]\nconfidence = 0.9\n", "write detect.confidence or kpi.confidence" },
		{ "[program.acme]\nmin_n = 0\n", "[program.acme] min_n: 0 is outside 1..1000000" },
		{ "[program.acme]\ncross_team = sometimes\n", "[program.acme] cross_team" },
		{ "[program.acme]\nsame_site = maybe\n", "[program.acme] same_site" },
		{ "[program.acme]\nholdout_share = 0.95\n", "[program.acme] holdout_share" },
		{ "[program.acme]\nlow_threshold.empathy = 1.5\n", "[program.acme] low_threshold.empathy" },
		{ "[program.acme]\nhigh_threshold. = 0.9\n", "[program.acme] high_threshold.: a behavior name" },
		{ "[program.acme]\nmax_pairings_per_mentee = 0\n", "[program.acme] max_pairings_per_mentee" },
		{ "[pairing]\nmax_pairings_per_mentee = 101\n", "[pairing] max_pairings_per_mentee" },
		{ "[detect]\nlow_threshold.empathy = high\n", "[detect] low_threshold.empathy" },
		{ "[detect]\nlow_threshold. = 0.5\n", "[detect] low_threshold.: a behavior name" },
		{ "[program.]\nmin_n = 3\n", "[program.]: a program name is 1 to 40 bytes" },
		{ "[program.abcdefghijklmnopqrstuvwxyz0123456789abcde]\nmin_n = 3\n", "a program name is 1 to 40 bytes" },
		{ "[program. acme]\nmin_n = 3\n", "no blank at either end" },
		{ "[program.ac\x01me]\nmin_n = 3\n", "a program name has no control characters" },
		{ "[program]\nmin_n = 3\n", "[program] min_n: unknown key" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *path = write_temp(bad[i][0]);
		struct mentor_config *cfg = mentor_config_new();
		struct mentor_error err = { 0 };

		assert_int_equal(mentor_config_load_file(cfg, path, &err), MENTOR_ERR_INVALID);
		if (!strstr(err.msg, bad[i][1]))
			fail_msg("'%s' does not say %s", err.msg, bad[i][1]);
		mentor_config_free(cfg);
		unlink(path);
	}
}

/* A refused line leaves the config as it was: no program made for it, the program's settings unchanged. */
static void test_program_refused_unchanged(void **state)
{
	struct mentor_config *cfg = mentor_config_new();
	struct mentor_error err = { 0 };
	char name[MENTOR_PROGRAM_NAME_MAX + 2];

	(void)state;
	assert_int_equal(mentor_config_set(cfg, "program.acme", "round_interval_seconds", "60", &err),
			 MENTOR_ERR_INVALID);
	assert_int_equal(cfg->n_programs, 0);
	assert_int_equal(mentor_config_set(cfg, "program.acme", "min_n", "3", &err), MENTOR_OK);
	assert_int_equal(mentor_config_set(cfg, "program.acme", "min_n", "-3", &err), MENTOR_ERR_INVALID);
	assert_int_equal(cfg->n_programs, 1);
	assert_int_equal(cfg->programs[0].n_lines, 1);
	assert_int_equal(program_of(cfg, "acme")->stats.status.min_n, 3);
	/* The longest name the INI reader keeps whole: 40 bytes after "program.". */
	memset(name, 'p', sizeof(name));
	name[MENTOR_PROGRAM_NAME_MAX] = '\0';
	assert_int_equal(mentor_config_set(cfg, "program.pppppppppppppppppppppppppppppppppppppppp", "min_n", "5", &err),
			 MENTOR_OK);
	assert_int_equal(program_of(cfg, name)->stats.status.min_n, 5);
	assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_OK);
	mentor_config_free(cfg);
}

/* A reload swaps the analytics settings in: each config then frees the other's. */
static void test_swap_analytics(void **state)
{
	struct mentor_config *running = load_text("[detect]\nlow_threshold.empathy = 0.5\nbehaviors = empathy\n");
	struct mentor_config *fresh = load_text("[program.acme]\nmin_n = 3\n[detect]\nhigh_threshold.greeting = 0.9\n");

	(void)state;
	mentor_config_swap_analytics(running, fresh);
	assert_int_equal(running->n_programs, 1);
	assert_string_equal(running->programs[0].name, "acme");
	assert_int_equal(running->analytics.n_thresholds, 1);
	assert_string_equal(running->analytics.thresholds[0].metric, "greeting");
	assert_false(running->analytics.triggers.listed);
	assert_int_equal(fresh->n_programs, 0);
	assert_int_equal(fresh->analytics.triggers.n, 1);
	assert_string_equal(fresh->analytics.thresholds[0].metric, "empathy");
	mentor_config_free(fresh);
	assert_near(high_of(program_of(running, "acme"), "greeting"), 0.9, 0);
	mentor_config_free(running);
}

/* The shipped example must load as it is and equal the defaults where it shows them. */
static void test_example_config(void **state)
{
	struct mentor_config *cfg = mentor_config_new();
	struct mentor_error err;

	(void)state;
	assert_int_equal(mentor_config_load_file(cfg, MENTORD_EXAMPLE_CONFIG, &err), MENTOR_OK);
	assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_OK);
	assert_int_equal(cfg->batch_max_events, 100000);
	assert_int_equal(cfg->stall_seconds, 300);
	assert_int_equal(cfg->batch_max_bytes, 64 << 20);
	assert_true(cfg->rules.max_future_us == INT64_C(86400000000));
	assert_true(cfg->rules.max_past_us == INT64_C(400) * 86400000000);
	assert_int_equal(cfg->rules.max_unknown_agents, 100000);
	assert_int_equal(cfg->rules.max_behaviors, 1000);
	assert_string_equal(cfg->rules.map[MENTOR_EVENT_AQM].pointer[MENTOR_F_BEHAVIORS], "/behaviors");
	assert_int_equal(cfg->analytics.max_pairings_per_mentee, 1);
	assert_false(cfg->analytics.triggers.listed);
	assert_int_equal(cfg->n_programs, 0);
	assert_string_equal(cfg->rules.default_program, "");
	mentor_config_free(cfg);
}

/* The example's commented [program.acme-billing] section, uncommented, loads and says what it shows. */
static void test_example_program(void **state)
{
	FILE *f = fopen(MENTORD_EXAMPLE_CONFIG, "r");
	char line[512], text[4096] = "";
	const struct mentor_analytics_config *acme;
	struct mentor_config *cfg;
	bool in_section = false;

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strcmp(line, "# [program.acme-billing]\n") == 0)
			in_section = true;
		else if (in_section && strncmp(line, "# ", 2) != 0)
			break;
		if (in_section)
			strncat(text, line + 2, sizeof(text) - strlen(text) - 1);
	}
	fclose(f);
	assert_true(in_section);
	cfg = load_text(text);
	assert_int_equal(cfg->n_programs, 1);
	acme = program_of(cfg, "acme-billing");
	assert_near(low_of(acme, "empathy"), 0.65, 0);
	assert_near(low_of(acme, "resolution_steps"), 0.70, 0);
	assert_near(high_of(acme, "resolution_steps"), 0.90, 0);
	assert_true(mentor_analytics_may_trigger(acme, "csat"));
	assert_false(mentor_analytics_may_trigger(acme, "greeting"));
	assert_int_equal(acme->max_pairings_per_mentee, 2);
	assert_int_equal(acme->stats.kpi.after_days, 42);
	mentor_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file_and_overrides),
		cmocka_unit_test(test_lateness_per_source),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_kafka_files),
		cmocka_unit_test(test_program_overrides),
		cmocka_unit_test(test_own_thresholds),
		cmocka_unit_test(test_own_thresholds_validation),
		cmocka_unit_test(test_behaviors),
		cmocka_unit_test(test_program_refusals),
		cmocka_unit_test(test_program_refused_unchanged),
		cmocka_unit_test(test_swap_analytics),
		cmocka_unit_test(test_example_config),
		cmocka_unit_test(test_example_program),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
