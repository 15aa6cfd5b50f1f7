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
				      "max_future_seconds = 60\n"
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
static void test_refusals(void **state)
{
	static const char *const bad[][2] = {
		{ "[ingest]\nbatch_max_events = 0\n", "batch_max_events" },
		{ "[ingest]\nbatch_max_events = 12x\n", "batch_max_events" },
		{ "[ingest]\nno_such_key = 1\n", "no_such_key" },
		{ "[nowhere]\nkey = 1\n", "key" },
		{ "[map.voc]\noverall = /x\n", "overall" },
		{ "[map.aqm]\noverall = no-slash\n", "overall" },
		{ "[log]\nlevel = loud\n", "level" },
		{ "[analytics]\nmax_rounds_per_call = 0\n", "max_rounds_per_call" },
		{ "[analytics]\nmax_waiting_observations = 999\n", "max_waiting_observations" },
		{ "just a line\n", "line" },
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

/* The shipped example must load as it is and equal the defaults where it shows them. */
static void test_example_config(void **state)
{
	struct mentor_config *cfg = mentor_config_new();
	struct mentor_error err;

	(void)state;
	assert_int_equal(mentor_config_load_file(cfg, MENTORD_EXAMPLE_CONFIG, &err), MENTOR_OK);
	assert_int_equal(mentor_config_validate(cfg, &err), MENTOR_OK);
	assert_int_equal(cfg->batch_max_events, 100000);
	assert_string_equal(cfg->rules.map[MENTOR_EVENT_AQM].pointer[MENTOR_F_BEHAVIORS], "/behaviors");
	mentor_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_file_and_overrides),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_example_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
