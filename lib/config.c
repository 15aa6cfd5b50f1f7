#include "mentor/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mentor/secret.h"

/* Bounds on numeric keys: a typo must not become a 10^9-event batch. */
struct int_key {
	const char *section, *key;
	long long min, max;
	size_t offset;  /* of the field in struct mentor_config */
	enum { INT_KEY_INT, INT_KEY_SIZE, INT_KEY_I64, INT_KEY_I64_SECONDS_AS_US, INT_KEY_I64_DAYS_AS_US } type;
};

static const struct int_key int_keys[] = {
	{ "ingest", "batch_max_events", 1, 1000000, offsetof(struct mentor_config, batch_max_events), INT_KEY_SIZE },
	{ "ingest", "batch_max_ms", 1, 60000, offsetof(struct mentor_config, batch_max_ms), INT_KEY_INT },
	{ "ingest", "stall_seconds", 1, 86400, offsetof(struct mentor_config, stall_seconds), INT_KEY_INT },
	{ "ingest", "batch_max_bytes", 1 << 20, 1LL << 30, offsetof(struct mentor_config, batch_max_bytes), INT_KEY_SIZE },
	{ "ingest", "max_message_bytes", 16, 16 << 20,
	  offsetof(struct mentor_config, rules.max_message_bytes), INT_KEY_SIZE },
	{ "ingest", "max_future_seconds", 0, 366LL * 86400,
	  offsetof(struct mentor_config, rules.max_future_us), INT_KEY_I64_SECONDS_AS_US },
	{ "ingest", "max_past_days", 0, 36600, offsetof(struct mentor_config, rules.max_past_us), INT_KEY_I64_DAYS_AS_US },
	{ "ingest", "max_unknown_agents", 0, 10000000, offsetof(struct mentor_config, rules.max_unknown_agents),
	  INT_KEY_I64 },
	{ "ingest", "max_behaviors", 0, 100000, offsetof(struct mentor_config, rules.max_behaviors), INT_KEY_I64 },
	{ "ingest", "csat_min", -100, 100, offsetof(struct mentor_config, rules.csat_min), INT_KEY_INT },
	{ "ingest", "csat_max", -100, 100, offsetof(struct mentor_config, rules.csat_max), INT_KEY_INT },
	{ "alerts", "max_age_seconds", 0, 30 * 86400, offsetof(struct mentor_config, alerts.max_age_seconds),
	  INT_KEY_INT },
	{ "alerts", "max_attempt_hours", 1, 30 * 24, offsetof(struct mentor_config, alerts.max_attempt_hours),
	  INT_KEY_INT },
	{ "alerts", "request_timeout_ms", 100, 120000, offsetof(struct mentor_config, alerts.request_timeout_ms),
	  INT_KEY_INT },
	{ "alerts", "connect_timeout_ms", 100, 60000, offsetof(struct mentor_config, alerts.connect_timeout_ms),
	  INT_KEY_INT },
	{ "alerts", "poll_ms", 10, 60000, offsetof(struct mentor_config, alerts.poll_ms), INT_KEY_INT },
	{ "alerts", "retry_base_ms", 1, 3600000, offsetof(struct mentor_config, alerts.retry_base_ms), INT_KEY_INT },
	{ "alerts", "max_per_lead_per_hour", 0, 100000, offsetof(struct mentor_config, alerts.max_per_lead_per_hour),
	  INT_KEY_INT },
	{ "alerts", "max_client_error_attempts", 1, 100,
	  offsetof(struct mentor_config, alerts.max_client_error_attempts), INT_KEY_INT },
	{ "analytics", "round_interval_seconds", 60, 30 * 86400,
	  offsetof(struct mentor_config, analytics.round_interval_us), INT_KEY_I64_SECONDS_AS_US },
	{ "analytics", "duration_days", 1, 365, offsetof(struct mentor_config, analytics.duration_days), INT_KEY_INT },
	{ "analytics", "cooldown_days", 0, 3650, offsetof(struct mentor_config, analytics.cooldown_days), INT_KEY_INT },
	{ "analytics", "max_rounds_per_call", 1, 100000, offsetof(struct mentor_config, analytics.max_rounds_per_call),
	  INT_KEY_INT },
	{ "analytics", "max_waiting_observations", 1000, 1000000000,
	  offsetof(struct mentor_config, analytics.max_waiting_observations), INT_KEY_SIZE },
	{ "detect", "window_days", 1, 366, offsetof(struct mentor_config, analytics.stats.shrink.window_days),
	  INT_KEY_INT },
	{ "detect", "estimate_min_agents", 2, 1000000,
	  offsetof(struct mentor_config, analytics.stats.shrink.estimate_min_agents), INT_KEY_SIZE },
	{ "detect", "min_n", 1, 1000000, offsetof(struct mentor_config, analytics.stats.status.min_n), INT_KEY_I64 },
	{ "detect", "mentor_min_n", 1, 1000000, offsetof(struct mentor_config, analytics.stats.status.mentor_min_n),
	  INT_KEY_I64 },
	{ "detect", "persist_x", 0, MENTOR_PERSIST_MAX, offsetof(struct mentor_config, analytics.stats.status.persist_x),
	  INT_KEY_INT },
	{ "detect", "persist_y", 0, MENTOR_PERSIST_MAX, offsetof(struct mentor_config, analytics.stats.status.persist_y),
	  INT_KEY_INT },
	{ "pairing", "capacity", 1, MENTOR_PAIR_CAPACITY_MAX, offsetof(struct mentor_config, analytics.pair.capacity),
	  INT_KEY_INT },
	{ "pairing", "w_strength", 0, MENTOR_PAIR_WEIGHT_MAX, offsetof(struct mentor_config, analytics.pair.w_strength),
	  INT_KEY_I64 },
	{ "pairing", "w_load", 0, MENTOR_PAIR_WEIGHT_MAX, offsetof(struct mentor_config, analytics.pair.w_load),
	  INT_KEY_I64 },
	{ "pairing", "w_same_team", 0, MENTOR_PAIR_WEIGHT_MAX,
	  offsetof(struct mentor_config, analytics.pair.w_same_team), INT_KEY_I64 },
	{ "kpi", "before_days", 1, 366, offsetof(struct mentor_config, analytics.stats.kpi.before_days), INT_KEY_INT },
	{ "kpi", "after_days", 1, 366, offsetof(struct mentor_config, analytics.stats.kpi.after_days), INT_KEY_INT },
	{ "kpi", "washout_days", 0, 365, offsetof(struct mentor_config, analytics.stats.kpi.washout_days), INT_KEY_INT },
};

/* Fractions and weights; ranges between keys are checked by mentor_stats_params_validate(). */
struct double_key {
	const char *section, *key;
	double min, max;
	size_t offset;  /* of the double field in struct mentor_config */
};

static const struct double_key double_keys[] = {
	{ "detect", "prior_k", 0, 1e6, offsetof(struct mentor_config, analytics.stats.shrink.k) },
	{ "detect", "confidence", 0.5, 0.9999, offsetof(struct mentor_config, analytics.stats.shrink.confidence) },
	{ "detect", "low_threshold", 0, 1, offsetof(struct mentor_config, analytics.stats.status.low_threshold) },
	{ "detect", "hysteresis", 0, 1, offsetof(struct mentor_config, analytics.stats.status.hysteresis) },
	{ "detect", "high_threshold", 0, 1, offsetof(struct mentor_config, analytics.stats.status.high_threshold) },
	{ "kpi", "confidence", 0.5, 0.9999, offsetof(struct mentor_config, analytics.stats.kpi.confidence) },
	{ "pairing", "holdout_share", 0, 0.9, offsetof(struct mentor_config, analytics.holdout_share) },
};

/* true/false keys, of int or bool fields. */
struct bool_key {
	const char *section, *key;
	size_t offset;
	bool is_int;
};

static const struct bool_key bool_keys[] = {
	{ "alerts", "enabled", offsetof(struct mentor_config, alerts.enabled), true },
	{ "alerts", "allow_private", offsetof(struct mentor_config, alerts.allow_private), true },
	{ "analytics", "enabled", offsetof(struct mentor_config, analytics.enabled), true },
	{ "analytics", "cuped", offsetof(struct mentor_config, analytics.cuped), true },
	{ "detect", "estimate_k", offsetof(struct mentor_config, analytics.stats.shrink.estimate_k), false },
	{ "pairing", "same_site", offsetof(struct mentor_config, analytics.pair.same_site), false },
};

struct str_key {
	const char *section, *key;
	size_t offset;  /* of the char * field in struct mentor_config */
};

/* Index in str_keys of topic_voc; the topic keys follow in enum mentor_event_kind order. */
#define TOPIC_KEYS 2

static const struct str_key str_keys[] = {
	{ "postgres", "conninfo", offsetof(struct mentor_config, pg_conninfo) },
	{ "postgres", "schema", offsetof(struct mentor_config, pg_schema) },
	{ "ingest", "topic_voc", offsetof(struct mentor_config, topics[MENTOR_EVENT_VOC]) },
	{ "ingest", "topic_aqm", offsetof(struct mentor_config, topics[MENTOR_EVENT_AQM]) },
	{ "ingest", "topic_roster", offsetof(struct mentor_config, topics[MENTOR_EVENT_ROSTER]) },
	{ "ingest", "offset_reset", offsetof(struct mentor_config, offset_reset) },
	{ "http", "listen", offsetof(struct mentor_config, http_listen) },
	{ "alerts", "ca_path", offsetof(struct mentor_config, alerts.ca_path) },
};

static const char *const map_sections[MENTOR_EVENT_KIND_COUNT] = {
	[MENTOR_EVENT_VOC] = "map.voc",
	[MENTOR_EVENT_AQM] = "map.aqm",
	[MENTOR_EVENT_ROSTER] = "map.roster",
};

static const char *const log_level_names[] = {
	[MENTOR_LOG_ERR] = "err",
	[MENTOR_LOG_WARNING] = "warning",
	[MENTOR_LOG_NOTICE] = "notice",
	[MENTOR_LOG_INFO] = "info",
	[MENTOR_LOG_DEBUG] = "debug",
};

const char *mentor_log_level_name(int level)
{
	if (level < MENTOR_LOG_ERR || level > MENTOR_LOG_DEBUG)
		return "unknown";
	return log_level_names[level];
}

static int replace_string(char **slot, const char *value, struct mentor_error *err)
{
	char *copy = strdup(value);

	if (!copy)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	free(*slot);
	*slot = copy;
	return MENTOR_OK;
}

struct mentor_config *mentor_config_new(void)
{
	static const char *const default_topics[MENTOR_EVENT_KIND_COUNT] = {
		"voc.responses", "aqm.scores", "agents.roster",
	};
	struct mentor_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	cfg->batch_max_events = 100000;
	cfg->batch_max_ms = 2000;
	cfg->stall_seconds = 300;
	cfg->batch_max_bytes = 64 << 20;
	cfg->log_level = MENTOR_LOG_INFO;
	mentor_event_rules_init(&cfg->rules);
	cfg->pg_conninfo = strdup("");
	cfg->pg_schema = strdup("mentor");
	cfg->offset_reset = strdup("earliest");
	cfg->http_listen = strdup("");
	cfg->alerts = (struct mentor_alerts_config){
		.enabled = 1, .max_age_seconds = 86400, .max_attempt_hours = 72, .request_timeout_ms = 15000,
		.connect_timeout_ms = 5000, .poll_ms = 1000, .retry_base_ms = 1000, .max_per_lead_per_hour = 20,
		.max_client_error_attempts = 3, .allow_private = 0, .ca_path = strdup(""),
	};
	cfg->analytics = (struct mentor_analytics_config){
		.enabled = 1, .round_interval_us = MENTOR_US_PER_DAY, .duration_days = 21,
		.cooldown_days = 90, .cuped = 1, .max_rounds_per_call = 100, .max_waiting_observations = 1000000,
	};
	mentor_stats_params_init(&cfg->analytics.stats);
	mentor_pair_config_init(&cfg->analytics.pair);
	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++)
		cfg->topics[k] = strdup(default_topics[k]);
	if (!cfg->pg_conninfo || !cfg->pg_schema || !cfg->offset_reset || !cfg->http_listen || !cfg->topics[0] ||
	    !cfg->topics[1] || !cfg->topics[2] || !cfg->alerts.ca_path ||
	    mentor_config_set(cfg, "kafka", "group.id", "mentord", NULL) != MENTOR_OK ||
	    mentor_config_set(cfg, "kafka", "bootstrap.servers", "127.0.0.1:9092", NULL) != MENTOR_OK) {
		mentor_config_free(cfg);
		return NULL;
	}
	return cfg;
}

void mentor_config_free(struct mentor_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->pg_conninfo);
	free(cfg->pg_schema);
	free(cfg->offset_reset);
	free(cfg->http_listen);
	free(cfg->alerts.ca_path);
	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++)
		free(cfg->topics[k]);
	/* A value may have been read from a secret file. */
	for (size_t i = 0; i < cfg->n_kafka; i++) {
		explicit_bzero(cfg->kafka[i].value, strlen(cfg->kafka[i].value));
		free(cfg->kafka[i].key);
		free(cfg->kafka[i].value);
	}
	free(cfg->kafka);
	for (size_t i = 0; i < cfg->n_kafka_files; i++) {
		free(cfg->kafka_files[i].key);
		free(cfg->kafka_files[i].value);
	}
	free(cfg->kafka_files);
	free(cfg);
}

const char *mentor_config_kafka_get(const struct mentor_config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n_kafka; i++)
		if (strcmp(cfg->kafka[i].key, key) == 0)
			return cfg->kafka[i].value;
	return NULL;
}

/* Sets key to value in a list of properties: replaced if the key is there, else appended. */
static int set_prop(struct mentor_kafka_prop **props, size_t *n, const char *key, const char *value,
		    struct mentor_error *err)
{
	struct mentor_kafka_prop *grown;

	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*props)[i].key, key) == 0) {
			explicit_bzero((*props)[i].value, strlen((*props)[i].value));
			return replace_string(&(*props)[i].value, value, err);
		}
	}
	grown = realloc(*props, (*n + 1) * sizeof(*grown));
	if (!grown)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	*props = grown;
	grown[*n].key = strdup(key);
	grown[*n].value = strdup(value);
	if (!grown[*n].key || !grown[*n].value) {
		free(grown[*n].key);
		free(grown[*n].value);
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	}
	(*n)++;
	return MENTOR_OK;
}

/* Removes key from a list of properties, if it is there. */
static void unset_prop(struct mentor_kafka_prop *props, size_t *n, const char *key)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(props[i].key, key) == 0) {
			free(props[i].key);
			free(props[i].value);
			props[i] = props[--*n];
			return;
		}
	}
}

/* [kafka] key = value: the value itself, replacing a [kafka.file] line of the same key before it. */
static int set_kafka(struct mentor_config *cfg, const char *key, const char *value, struct mentor_error *err)
{
	unset_prop(cfg->kafka_files, &cfg->n_kafka_files, key);
	return set_prop(&cfg->kafka, &cfg->n_kafka, key, value, err);
}

/* [kafka.file] key = reference: read by mentor_config_read_kafka_files(); the last line of a key wins. */
static int set_kafka_file(struct mentor_config *cfg, const char *key, const char *ref, struct mentor_error *err)
{
	struct mentor_error ref_err;

	if (mentor_secret_ref_check(ref, &ref_err) != MENTOR_OK)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "[kafka.file] %s: %s", key, ref_err.msg);
	return set_prop(&cfg->kafka_files, &cfg->n_kafka_files, key, ref, err);
}

int mentor_config_read_kafka_files(struct mentor_config *cfg, const char *credentials_dir, struct mentor_error *err)
{
	struct mentor_error read_err;
	char *text;
	size_t len;
	int rc;

	for (size_t i = 0; i < cfg->n_kafka_files; i++) {
		const struct mentor_kafka_prop *f = &cfg->kafka_files[i];

		rc = mentor_secret_read(f->value, credentials_dir, &text, &len, &read_err);
		if (rc != MENTOR_OK)
			return mentor_error_set(err, rc, "[kafka.file] %s: %s", f->key, read_err.msg);
		/* Files end with a newline that is not part of the value (LF, or CRLF from an editor). */
		if (len > 0 && text[len - 1] == '\n') {
			text[--len] = '\0';
			if (len > 0 && text[len - 1] == '\r')
				text[--len] = '\0';
		}
		rc = set_prop(&cfg->kafka, &cfg->n_kafka, f->key, text, err);
		explicit_bzero(text, len);
		free(text);
		if (rc != MENTOR_OK)
			return rc;
	}
	return MENTOR_OK;
}

/* Reads value as an integer within k's bounds into *ret. */
static int parse_int(const struct int_key *k, const char *value, long long *ret, struct mentor_error *err)
{
	char *end;

	errno = 0;
	*ret = strtoll(value, &end, 10);
	if (errno || end == value || *end != '\0')
		return mentor_error_set(err, MENTOR_ERR_INVALID, "[%s] %s: '%s' is not an integer",
					k->section, k->key, value);
	if (*ret < k->min || *ret > k->max)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "[%s] %s: %lld is outside %lld..%lld",
					k->section, k->key, *ret, k->min, k->max);
	return MENTOR_OK;
}

static int set_int(struct mentor_config *cfg, const struct int_key *k, const char *value,
		   struct mentor_error *err)
{
	long long v;
	char *field = (char *)cfg + k->offset;
	int rc = parse_int(k, value, &v, err);

	if (rc != MENTOR_OK)
		return rc;
	switch (k->type) {
	case INT_KEY_INT:
		*(int *)field = (int)v;
		break;
	case INT_KEY_SIZE:
		*(size_t *)field = (size_t)v;
		break;
	case INT_KEY_I64:
		*(int64_t *)field = (int64_t)v;
		break;
	case INT_KEY_I64_SECONDS_AS_US:
		*(int64_t *)field = (int64_t)v * 1000000;
		break;
	case INT_KEY_I64_DAYS_AS_US:
		*(int64_t *)field = (int64_t)v * 86400 * 1000000;
		break;
	}
	return MENTOR_OK;
}

/* The allowed lateness keys: every source's, then each source's own (-1: every source). */
static const struct lateness_key {
	const char *key;
	int kind;
} lateness_keys[] = {
	{ "allowed_lateness_seconds", -1 },
	{ "allowed_lateness_aqm_seconds", MENTOR_EVENT_AQM },
	{ "allowed_lateness_voc_seconds", MENTOR_EVENT_VOC },
};

/*
 * allowed_lateness_seconds sets every source's allowed lateness; a source's
 * own key sets its own, and wins whatever the order of the lines.
 */
static int set_lateness(struct mentor_config *cfg, const struct lateness_key *lk, const char *value,
			struct mentor_error *err)
{
	const struct int_key k = { "analytics", lk->key, 0, 30 * 86400, 0, INT_KEY_I64_SECONDS_AS_US };
	long long v;
	int rc = parse_int(&k, value, &v, err);

	if (rc != MENTOR_OK)
		return rc;
	for (int kind = 0; kind < MENTOR_EVENT_KIND_COUNT; kind++) {
		if (kind == MENTOR_EVENT_ROSTER || (lk->kind >= 0 && kind != lk->kind) ||
		    (lk->kind < 0 && cfg->lateness_own[kind]))
			continue;
		cfg->rules.lateness_us[kind] = (int64_t)v * 1000000;
		cfg->lateness_own[kind] = lk->kind >= 0;
	}
	return MENTOR_OK;
}

static int set_log_level(struct mentor_config *cfg, const char *value, struct mentor_error *err)
{
	for (int level = MENTOR_LOG_ERR; level <= MENTOR_LOG_DEBUG; level++) {
		if (strcasecmp(value, log_level_names[level]) == 0) {
			cfg->log_level = level;
			return MENTOR_OK;
		}
	}
	return mentor_error_set(err, MENTOR_ERR_INVALID,
				"[log] level: '%s' is not one of err, warning, notice, info, debug", value);
}

static int set_bool(struct mentor_config *cfg, const struct bool_key *k, const char *value, struct mentor_error *err)
{
	char *field = (char *)cfg + k->offset;
	bool v;

	if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 || strcmp(value, "1") == 0)
		v = true;
	else if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0 || strcmp(value, "0") == 0)
		v = false;
	else
		return mentor_error_set(err, MENTOR_ERR_INVALID, "[%s] %s: '%s' is not true or false", k->section,
					k->key, value);
	if (k->is_int)
		*(int *)field = v;
	else
		*(bool *)field = v;
	return MENTOR_OK;
}

static int set_double(struct mentor_config *cfg, const struct double_key *k, const char *value,
		      struct mentor_error *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(value, &end);
	if (errno || end == value || *end != '\0' || !(v >= k->min && v <= k->max))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "[%s] %s: '%s' is not a number in %g..%g",
					k->section, k->key, value, k->min, k->max);
	*(double *)((char *)cfg + k->offset) = v;
	return MENTOR_OK;
}

static int set_cross_team(struct mentor_config *cfg, const char *value, struct mentor_error *err)
{
	static const char *const names[] = {
		[MENTOR_CROSS_TEAM_PREFERRED] = "preferred",
		[MENTOR_CROSS_TEAM_REQUIRED] = "required",
		[MENTOR_CROSS_TEAM_IGNORE] = "ignore",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(value, names[i]) == 0) {
			cfg->analytics.pair.cross_team = (enum mentor_cross_team)i;
			return MENTOR_OK;
		}
	return mentor_error_set(err, MENTOR_ERR_INVALID,
				"[pairing] cross_team: '%s' is not one of preferred, required, ignore", value);
}

static int set_mapping(struct mentor_config *cfg, enum mentor_event_kind kind, const char *key,
		       const char *value, struct mentor_error *err)
{
	for (int f = 0; f < MENTOR_F_COUNT; f++) {
		if (strcmp(mentor_field_name(f), key) != 0)
			continue;
		/* A field the kind does not have cannot be mapped: it would be silently ignored. */
		if (mentor_event_field_use(kind, f) == MENTOR_FIELD_UNUSED)
			break;
		if (value[0] != '\0' && value[0] != '/')
			return mentor_error_set(err, MENTOR_ERR_INVALID,
						"[%s] %s: '%s' is not a JSON pointer (must start with /)",
						map_sections[kind], key, value);
		if (strlen(value) >= sizeof(cfg->rules.map[kind].pointer[f]))
			return mentor_error_set(err, MENTOR_ERR_INVALID, "[%s] %s: pointer too long",
						map_sections[kind], key);
		strcpy(cfg->rules.map[kind].pointer[f], value);
		return MENTOR_OK;
	}
	return mentor_error_set(err, MENTOR_ERR_INVALID, "[%s] %s: %s events have no such field",
				map_sections[kind], key, mentor_event_kind_schema(kind));
}

int mentor_config_set(struct mentor_config *cfg, const char *section, const char *key,
		      const char *value, struct mentor_error *err)
{
	if (strcmp(section, "kafka") == 0)
		return set_kafka(cfg, key, value, err);
	if (strcmp(section, "kafka.file") == 0)
		return set_kafka_file(cfg, key, value, err);
	if (strcmp(section, "log") == 0 && strcmp(key, "level") == 0)
		return set_log_level(cfg, value, err);
	if (strcmp(section, "pairing") == 0 && strcmp(key, "cross_team") == 0)
		return set_cross_team(cfg, value, err);
	for (size_t i = 0; i < sizeof(lateness_keys) / sizeof(lateness_keys[0]); i++)
		if (strcmp(section, "analytics") == 0 && strcmp(lateness_keys[i].key, key) == 0)
			return set_lateness(cfg, &lateness_keys[i], value, err);
	for (size_t i = 0; i < sizeof(bool_keys) / sizeof(bool_keys[0]); i++)
		if (strcmp(bool_keys[i].section, section) == 0 && strcmp(bool_keys[i].key, key) == 0)
			return set_bool(cfg, &bool_keys[i], value, err);
	for (size_t i = 0; i < sizeof(double_keys) / sizeof(double_keys[0]); i++)
		if (strcmp(double_keys[i].section, section) == 0 && strcmp(double_keys[i].key, key) == 0)
			return set_double(cfg, &double_keys[i], value, err);
	for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++)
		if (strcmp(int_keys[i].section, section) == 0 && strcmp(int_keys[i].key, key) == 0)
			return set_int(cfg, &int_keys[i], value, err);
	for (size_t i = 0; i < sizeof(str_keys) / sizeof(str_keys[0]); i++)
		if (strcmp(str_keys[i].section, section) == 0 && strcmp(str_keys[i].key, key) == 0)
			return replace_string((char **)((char *)cfg + str_keys[i].offset), value, err);
	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++)
		if (strcmp(map_sections[k], section) == 0)
			return set_mapping(cfg, k, key, value, err);
	return mentor_error_set(err, MENTOR_ERR_INVALID, "[%s] %s: unknown key", section, key);
}

struct ini_state {
	struct mentor_config *cfg;
	struct mentor_error *err;
	int failed;
};

static int ini_handle(void *user, const char *section, const char *key, const char *value)
{
	struct ini_state *st = user;

	if (st->failed)
		return 0;
	if (mentor_config_set(st->cfg, section, key, value, st->err) != MENTOR_OK) {
		st->failed = 1;
		return 0;
	}
	return 1;
}

int mentor_config_load_file(struct mentor_config *cfg, const char *path, struct mentor_error *err)
{
	struct ini_state st = { .cfg = cfg, .err = err };
	struct mentor_error key_err = { 0 };
	int line;

	st.err = &key_err;
	line = ini_parse(path, ini_handle, &st);
	if (line == -1)
		return mentor_error_set(err, MENTOR_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	if (line == -2)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "%s: out of memory", path);
	if (st.failed)
		return mentor_error_set(err, key_err.code, "%s:%d: %s", path, line, key_err.msg);
	if (line > 0)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "%s:%d: not a key = value line", path, line);
	return MENTOR_OK;
}

/* The schema name is spliced into SQL as an identifier, so keep it plain. */
static int schema_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 63 || !(name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z')))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!(name[i] == '_' || (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
			return 0;
	return 1;
}

int mentor_config_validate(const struct mentor_config *cfg, struct mentor_error *err)
{
	if (cfg->rules.csat_min >= cfg->rules.csat_max)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "[ingest] csat_min %d must be below csat_max %d",
					cfg->rules.csat_min, cfg->rules.csat_max);
	if (!schema_name_valid(cfg->pg_schema))
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"[postgres] schema: '%s' must be a lower-case identifier ([a-z_][a-z0-9_]*)",
					cfg->pg_schema);
	if (strcmp(cfg->offset_reset, "earliest") != 0 && strcmp(cfg->offset_reset, "latest") != 0)
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"[ingest] offset_reset: '%s' is not earliest or latest", cfg->offset_reset);
	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++) {
		if (cfg->topics[k][0] == '\0')
			return mentor_error_set(err, MENTOR_ERR_INVALID, "[ingest] %s is empty", str_keys[TOPIC_KEYS + k].key);
		for (int j = 0; j < k; j++)
			if (strcmp(cfg->topics[j], cfg->topics[k]) == 0)
				return mentor_error_set(err, MENTOR_ERR_INVALID,
							"[ingest] %s: '%s' is already the topic of %s events",
							str_keys[TOPIC_KEYS + k].key, cfg->topics[k], mentor_event_kind_schema(j));
		/* Unmapping schema is allowed: it turns the schema check off for a vendor format. */
		for (int f = MENTOR_F_SCHEMA + 1; f < MENTOR_F_COUNT; f++)
			if (mentor_event_field_use(k, f) == MENTOR_FIELD_REQUIRED &&
			    cfg->rules.map[k].pointer[f][0] == '\0')
				return mentor_error_set(err, MENTOR_ERR_INVALID,
							"[%s] %s: required field cannot be unmapped",
							map_sections[k], mentor_field_name(f));
	}
	if ((int64_t)cfg->alerts.connect_timeout_ms > cfg->alerts.request_timeout_ms)
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"[alerts] connect_timeout_ms %d must not exceed request_timeout_ms %d",
					cfg->alerts.connect_timeout_ms, cfg->alerts.request_timeout_ms);
	if (mentor_stats_params_validate(&cfg->analytics.stats, err) != MENTOR_OK)
		return MENTOR_ERR_INVALID;
	for (const char *const *p = (const char *const[]){ "enable.auto.commit", "enable.auto.offset.store", NULL };
	     *p; p++) {
		const char *v = mentor_config_kafka_get(cfg, *p);

		if (v && strcmp(v, "false") != 0)
			return mentor_error_set(err, MENTOR_ERR_INVALID,
						"[kafka] %s: offsets live in PostgreSQL, this must stay false", *p);
	}
	return MENTOR_OK;
}
