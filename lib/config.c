#include "mentor/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds on numeric keys: a typo must not become a 10^9-event batch. */
struct int_key {
	const char *section, *key;
	long long min, max;
	size_t offset;  /* of the field in struct mentor_config */
	enum { INT_KEY_INT, INT_KEY_SIZE, INT_KEY_I64_SECONDS_AS_US } type;
};

static const struct int_key int_keys[] = {
	{ "ingest", "batch_max_events", 1, 1000000, offsetof(struct mentor_config, batch_max_events), INT_KEY_SIZE },
	{ "ingest", "batch_max_ms", 1, 60000, offsetof(struct mentor_config, batch_max_ms), INT_KEY_INT },
	{ "ingest", "max_message_bytes", 16, 16 << 20,
	  offsetof(struct mentor_config, rules.max_message_bytes), INT_KEY_SIZE },
	{ "ingest", "max_future_seconds", 0, 366LL * 86400,
	  offsetof(struct mentor_config, rules.max_future_us), INT_KEY_I64_SECONDS_AS_US },
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
	cfg->batch_max_events = 5000;
	cfg->batch_max_ms = 100;
	cfg->log_level = MENTOR_LOG_INFO;
	mentor_event_rules_init(&cfg->rules);
	cfg->pg_conninfo = strdup("");
	cfg->pg_schema = strdup("mentor");
	cfg->offset_reset = strdup("earliest");
	cfg->http_listen = strdup("");
	cfg->alerts = (struct mentor_alerts_config){
		.enabled = 1, .max_age_seconds = 86400, .max_attempt_hours = 72, .request_timeout_ms = 15000,
		.connect_timeout_ms = 5000, .poll_ms = 1000, .retry_base_ms = 1000, .max_per_lead_per_hour = 20,
		.ca_path = strdup(""),
	};
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
	for (size_t i = 0; i < cfg->n_kafka; i++) {
		free(cfg->kafka[i].key);
		free(cfg->kafka[i].value);
	}
	free(cfg->kafka);
	free(cfg);
}

const char *mentor_config_kafka_get(const struct mentor_config *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->n_kafka; i++)
		if (strcmp(cfg->kafka[i].key, key) == 0)
			return cfg->kafka[i].value;
	return NULL;
}

static int set_kafka(struct mentor_config *cfg, const char *key, const char *value,
		     struct mentor_error *err)
{
	struct mentor_kafka_prop *grown;

	for (size_t i = 0; i < cfg->n_kafka; i++)
		if (strcmp(cfg->kafka[i].key, key) == 0)
			return replace_string(&cfg->kafka[i].value, value, err);
	grown = realloc(cfg->kafka, (cfg->n_kafka + 1) * sizeof(*grown));
	if (!grown)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	cfg->kafka = grown;
	grown[cfg->n_kafka].key = strdup(key);
	grown[cfg->n_kafka].value = strdup(value);
	if (!grown[cfg->n_kafka].key || !grown[cfg->n_kafka].value) {
		free(grown[cfg->n_kafka].key);
		free(grown[cfg->n_kafka].value);
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	}
	cfg->n_kafka++;
	return MENTOR_OK;
}

static int set_int(struct mentor_config *cfg, const struct int_key *k, const char *value,
		   struct mentor_error *err)
{
	char *end;
	long long v;
	char *field = (char *)cfg + k->offset;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (errno || end == value || *end != '\0')
		return mentor_error_set(err, MENTOR_ERR_INVALID, "[%s] %s: '%s' is not an integer",
					k->section, k->key, value);
	if (v < k->min || v > k->max)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "[%s] %s: %lld is outside %lld..%lld",
					k->section, k->key, v, k->min, k->max);
	switch (k->type) {
	case INT_KEY_INT:
		*(int *)field = (int)v;
		break;
	case INT_KEY_SIZE:
		*(size_t *)field = (size_t)v;
		break;
	case INT_KEY_I64_SECONDS_AS_US:
		*(int64_t *)field = (int64_t)v * 1000000;
		break;
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

static int set_bool(int *slot, const char *section, const char *key, const char *value, struct mentor_error *err)
{
	if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 || strcmp(value, "1") == 0)
		*slot = 1;
	else if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0 || strcmp(value, "0") == 0)
		*slot = 0;
	else
		return mentor_error_set(err, MENTOR_ERR_INVALID, "[%s] %s: '%s' is not true or false", section, key,
					value);
	return MENTOR_OK;
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
	if (strcmp(section, "log") == 0 && strcmp(key, "level") == 0)
		return set_log_level(cfg, value, err);
	if (strcmp(section, "alerts") == 0 && strcmp(key, "enabled") == 0)
		return set_bool(&cfg->alerts.enabled, section, key, value, err);
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
	for (const char *const *p = (const char *const[]){ "enable.auto.commit", "enable.auto.offset.store", NULL };
	     *p; p++) {
		const char *v = mentor_config_kafka_get(cfg, *p);

		if (v && strcmp(v, "false") != 0)
			return mentor_error_set(err, MENTOR_ERR_INVALID,
						"[kafka] %s: offsets live in PostgreSQL, this must stay false", *p);
	}
	return MENTOR_OK;
}
