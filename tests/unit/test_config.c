/* Configuration: defaults, the INI file, overrides, and every refusal. */
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
	assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_OK);
	mentor_config_free(cfg);
}

static void test_file_and_overrides(void **state)
{
	const char *path = write_temp("[postgres]\nschema = qa_mentor\n"
				      "[ingest]\ntopic_voc = vendor.surveys\nbatch_max_events = 250\n"
				      "max_future_seconds = 60\nstall_seconds = 2\nmax_past_days = 30\nmax_unknown_agents = 50\n"
				      "max_behaviors = 7\nbatch_max_bytes = 2097152\n"
				      "[kafka]\nbootstrap.servers = k1:9092\nsession.timeout.ms = 6000\n"
				      "[map.voc]\nschema =\ncsat = /survey/csat/score\n"
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
		cmocka_unit_test(test_example_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
