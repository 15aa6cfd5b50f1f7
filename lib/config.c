#include "mentor/config.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mentor/secret.h"

/*
 * Bounds on numeric keys: a typo must not become a 10^9-event batch. The
 * key tables come in pairs: the deployment's keys (offsets in struct
 * mentor_config), and those a [program.NAME] section may set too (program_*,
 * offsets in struct mentor_analytics_config).
 */
struct int_key {
	const char *section, *key;
	long long min, max;
	size_t offset;  /* of the field in its table's struct */
	enum { INT_KEY_INT, INT_KEY_SIZE, INT_KEY_I64, INT_KEY_I64_SECONDS_AS_US, INT_KEY_I64_DAYS_AS_US } type;
};

/* Offset of a field of struct mentor_analytics_config, for the program_* tables. */
#define AN(field) offsetof(struct mentor_analytics_config, field)

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
	{ "analytics", "max_rounds_per_call", 1, 100000, offsetof(struct mentor_config, analytics.max_rounds_per_call),
	  INT_KEY_INT },
	{ "analytics", "max_waiting_observations", 1000, 1000000000,
	  offsetof(struct mentor_config, analytics.max_waiting_observations), INT_KEY_SIZE },
};

static const struct int_key program_int_keys[] = {
	{ "analytics", "duration_days", 1, 365, AN(duration_days), INT_KEY_INT },
	{ "analytics", "cooldown_days", 0, 3650, AN(cooldown_days), INT_KEY_INT },
	{ "detect", "window_days", 1, 366, AN(stats.shrink.window_days), INT_KEY_INT },
	{ "detect", "estimate_min_agents", 2, 1000000, AN(stats.shrink.estimate_min_agents), INT_KEY_SIZE },
	{ "detect", "min_n", 1, 1000000, AN(stats.status.min_n), INT_KEY_I64 },
	{ "detect", "mentor_min_n", 1, 1000000, AN(stats.status.mentor_min_n), INT_KEY_I64 },
	{ "detect", "persist_x", 0, MENTOR_PERSIST_MAX, AN(stats.status.persist_x), INT_KEY_INT },
	{ "detect", "persist_y", 0, MENTOR_PERSIST_MAX, AN(stats.status.persist_y), INT_KEY_INT },
	{ "pairing", "capacity", 1, MENTOR_PAIR_CAPACITY_MAX, AN(pair.capacity), INT_KEY_INT },
	{ "pairing", "max_pairings_per_mentee", 1, MENTOR_PAIR_CAPACITY_MAX, AN(max_pairings_per_mentee), INT_KEY_INT },
	{ "pairing", "w_strength", 0, MENTOR_PAIR_WEIGHT_MAX, AN(pair.w_strength), INT_KEY_I64 },
	{ "pairing", "w_load", 0, MENTOR_PAIR_WEIGHT_MAX, AN(pair.w_load), INT_KEY_I64 },
	{ "pairing", "w_same_team", 0, MENTOR_PAIR_WEIGHT_MAX, AN(pair.w_same_team), INT_KEY_I64 },
	{ "kpi", "before_days", 1, 366, AN(stats.kpi.before_days), INT_KEY_INT },
	{ "kpi", "after_days", 1, 366, AN(stats.kpi.after_days), INT_KEY_INT },
	{ "kpi", "washout_days", 0, 365, AN(stats.kpi.washout_days), INT_KEY_INT },
};

/* Fractions and weights; ranges between keys are checked by mentor_stats_params_validate(). */
struct double_key {
	const char *section, *key;
	double min, max;
	size_t offset;  /* of the double field in its table's struct */
};

static const struct double_key program_double_keys[] = {
	{ "detect", "prior_k", 0, 1e6, AN(stats.shrink.k) },
	{ "detect", "confidence", 0.5, 0.9999, AN(stats.shrink.confidence) },
	{ "detect", "low_threshold", 0, 1, AN(stats.status.low_threshold) },
	{ "detect", "hysteresis", 0, 1, AN(stats.status.hysteresis) },
	{ "detect", "high_threshold", 0, 1, AN(stats.status.high_threshold) },
	{ "kpi", "confidence", 0.5, 0.9999, AN(stats.kpi.confidence) },
	{ "pairing", "holdout_share", 0, 0.9, AN(holdout_share) },
};

/* true/false keys, of int or bool fields. */
struct bool_key {
	const char *section, *key;
	size_t offset;  /* of the field in its table's struct */
	bool is_int;
};

static const struct bool_key bool_keys[] = {
	{ "alerts", "enabled", offsetof(struct mentor_config, alerts.enabled), true },
	{ "alerts", "allow_private", offsetof(struct mentor_config, alerts.allow_private), true },
	{ "analytics", "enabled", offsetof(struct mentor_config, analytics.enabled), true },
};

static const struct bool_key program_bool_keys[] = {
	{ "analytics", "cuped", AN(cuped), true },
	{ "detect", "estimate_k", AN(stats.shrink.estimate_k), false },
	{ "pairing", "same_site", AN(pair.same_site), false },
};

/* The sections whose keys a [program.NAME] section may give (those the tables above mark). */
static const char *const analytics_sections[] = { "analytics", "detect", "pairing", "kpi" };

#define PROGRAM_PREFIX "program."

/* A metric's own thresholds in [detect] or a program section: PREFIX followed by the metric's name. */
#define LOW_PREFIX "low_threshold."
#define HIGH_PREFIX "high_threshold."

/* "[section] key", as errors name a key. */
#define LABEL_MAX 320

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

static void trigger_list_free(struct mentor_trigger_list *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->metrics[i]);
	free(t->metrics);
	t->metrics = NULL;
	t->n = 0;
}

/* Frees the arrays a owns, leaving it with none. */
static void analytics_free(struct mentor_analytics_config *a)
{
	for (size_t i = 0; i < a->n_thresholds; i++)
		free(a->thresholds[i].metric);
	free(a->thresholds);
	a->thresholds = NULL;
	a->n_thresholds = 0;
	trigger_list_free(&a->triggers);
}

static void program_free(struct mentor_program_config *prog)
{
	free(prog->name);
	analytics_free(&prog->analytics);
	for (size_t i = 0; i < prog->n_lines; i++) {
		free(prog->lines[i].key);
		free(prog->lines[i].value);
	}
	free(prog->lines);
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
		.max_pairings_per_mentee = 1,
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
	analytics_free(&cfg->analytics);
	for (size_t i = 0; i < cfg->n_programs; i++)
		program_free(&cfg->programs[i]);
	free(cfg->programs);
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

#define N_OF(table) (sizeof(table) / sizeof((table)[0]))

static int nomem(struct mentor_error *err)
{
	return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
}

/* Reads value as an integer within k's bounds into *ret; errors name label. */
static int parse_int(const struct int_key *k, const char *label, const char *value, long long *ret,
		     struct mentor_error *err)
{
	char *end;

	errno = 0;
	*ret = strtoll(value, &end, 10);
	if (errno || end == value || *end != '\0')
		return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: '%s' is not an integer", label, value);
	if (*ret < k->min || *ret > k->max)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: %lld is outside %lld..%lld", label, *ret, k->min,
					k->max);
	return MENTOR_OK;
}

/* Sets k's field in base, the struct its table's offsets are in. */
static int set_int(char *base, const struct int_key *k, const char *label, const char *value,
		   struct mentor_error *err)
{
	long long v;
	char *field = base + k->offset;
	int rc = parse_int(k, label, value, &v, err);

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
	char label[LABEL_MAX];
	long long v;
	int rc;

	snprintf(label, sizeof(label), "[analytics] %s", lk->key);
	if ((rc = parse_int(&k, label, value, &v, err)) != MENTOR_OK)
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

/* Sets k's field in base, the struct its table's offsets are in. */
static int set_bool(char *base, const struct bool_key *k, const char *label, const char *value,
		    struct mentor_error *err)
{
	char *field = base + k->offset;
	bool v;

	if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 || strcmp(value, "1") == 0)
		v = true;
	else if (strcasecmp(value, "false") == 0 || strcasecmp(value, "no") == 0 || strcmp(value, "0") == 0)
		v = false;
	else
		return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: '%s' is not true or false", label, value);
	if (k->is_int)
		*(int *)field = v;
	else
		*(bool *)field = v;
	return MENTOR_OK;
}

/* Reads value as a number in min..max into *ret (left alone on an error, which names label). */
static int parse_double(const char *label, const char *value, double min, double max, double *ret,
			struct mentor_error *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(value, &end);
	if (errno || end == value || *end != '\0' || !(v >= min && v <= max))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: '%s' is not a number in %g..%g", label, value,
					min, max);
	*ret = v;
	return MENTOR_OK;
}

/* Sets k's field in base, the struct its table's offsets are in. */
static int set_double(char *base, const struct double_key *k, const char *label, const char *value,
		      struct mentor_error *err)
{
	return parse_double(label, value, k->min, k->max, (double *)(base + k->offset), err);
}

static int set_cross_team(struct mentor_analytics_config *a, const char *label, const char *value,
			  struct mentor_error *err)
{
	static const char *const names[] = {
		[MENTOR_CROSS_TEAM_PREFERRED] = "preferred",
		[MENTOR_CROSS_TEAM_REQUIRED] = "required",
		[MENTOR_CROSS_TEAM_IGNORE] = "ignore",
	};

	for (size_t i = 0; i < N_OF(names); i++)
		if (strcmp(value, names[i]) == 0) {
			a->pair.cross_team = (enum mentor_cross_team)i;
			return MENTOR_OK;
		}
	return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: '%s' is not one of preferred, required, ignore", label,
				value);
}

/* A name as events give metrics and programs: 1 to max bytes, no control characters. */
static bool name_ok(const char *name, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return true;
}

/* Appends a copy of name[0 .. len) to t. MENTOR_OK or MENTOR_ERR_NOMEM. */
static int trigger_list_add(struct mentor_trigger_list *t, const char *name, size_t len, struct mentor_error *err)
{
	char **grown = realloc(t->metrics, (t->n + 1) * sizeof(*grown));

	if (!grown)
		return nomem(err);
	t->metrics = grown;
	if (!(grown[t->n] = strndup(name, len)))
		return nomem(err);
	t->n++;
	return MENTOR_OK;
}

static bool trigger_list_has(const struct mentor_trigger_list *t, const char *name, size_t len)
{
	for (size_t i = 0; i < t->n; i++)
		if (strlen(t->metrics[i]) == len && memcmp(t->metrics[i], name, len) == 0)
			return true;
	return false;
}

#define BLANKS " \t"

/* Adds item[0 .. len), blanks around it dropped, to a behaviors list; errors name label. */
static int add_listed(struct mentor_trigger_list *t, const char *item, size_t len, const char *label,
		      struct mentor_error *err)
{
	const char *from = item + strspn(item, BLANKS), *to = item + len;

	/* strspn stops at the comma or NUL ending the item, so from <= to. */
	while (to > from && strchr(BLANKS, to[-1]))
		to--;
	if (to == from)
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"%s: an empty name (two commas in a row, or one at either end)", label);
	if (!name_ok(from, (size_t)(to - from), MENTOR_ID_MAX - 1))
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"%s: a behavior name is 1 to %d bytes without control characters", label,
					MENTOR_ID_MAX - 1);
	if (trigger_list_has(t, from, (size_t)(to - from)))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: '%.*s' is listed twice", label, (int)(to - from),
					from);
	return trigger_list_add(t, from, (size_t)(to - from), err);
}

/*
 * behaviors = a, b, c: names separated by commas, blanks around each
 * dropped; an empty value lists none. Replaces t whole, or on an error
 * leaves it as it was.
 */
static int set_behaviors(struct mentor_trigger_list *t, const char *label, const char *value,
			 struct mentor_error *err)
{
	struct mentor_trigger_list parsed = { .listed = true };
	const char *item = value;
	size_t len;
	int rc = MENTOR_OK;

	if (value[strspn(value, BLANKS)] != '\0') {
		do {
			len = strcspn(item, ",");
			rc = add_listed(&parsed, item, len, label, err);
			item += len + 1;
		} while (rc == MENTOR_OK && item[-1] == ',');
	}
	if (rc != MENTOR_OK) {
		trigger_list_free(&parsed);
		return rc;
	}
	trigger_list_free(t);
	*t = parsed;
	return MENTOR_OK;
}

/* The entry of metric among a's own thresholds, added (both NaN) if it has none; NULL when out of memory. */
static struct mentor_metric_thresholds *own_thresholds(struct mentor_analytics_config *a, const char *metric)
{
	struct mentor_metric_thresholds *grown;

	for (size_t i = 0; i < a->n_thresholds; i++)
		if (strcmp(a->thresholds[i].metric, metric) == 0)
			return &a->thresholds[i];
	grown = realloc(a->thresholds, (a->n_thresholds + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	a->thresholds = grown;
	grown[a->n_thresholds] = (struct mentor_metric_thresholds){
		.metric = strdup(metric), .low_threshold = NAN, .high_threshold = NAN,
	};
	if (!grown[a->n_thresholds].metric)
		return NULL;
	return &grown[a->n_thresholds++];
}

/* low_threshold.NAME (low) or high_threshold.NAME: the metric NAME's own threshold, in 0..1. */
static int set_own_threshold(struct mentor_analytics_config *a, const char *metric, bool low, const char *label,
			     const char *value, struct mentor_error *err)
{
	struct mentor_metric_thresholds *own;
	double v;
	int rc;

	if (!name_ok(metric, strlen(metric), MENTOR_ID_MAX - 1))
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"%s: a behavior name is 1 to %d bytes without control characters", label,
					MENTOR_ID_MAX - 1);
	if ((rc = parse_double(label, value, 0, 1, &v, err)) != MENTOR_OK)
		return rc;
	if (!(own = own_thresholds(a, metric)))
		return nomem(err);
	if (low)
		own->low_threshold = v;
	else
		own->high_threshold = v;
	return MENTOR_OK;
}

/* *dst = *src with arrays of its own. MENTOR_OK, or MENTOR_ERR_NOMEM with dst owning nothing. */
static int analytics_copy(struct mentor_analytics_config *dst, const struct mentor_analytics_config *src,
			  struct mentor_error *err)
{
	*dst = *src;
	dst->thresholds = NULL;
	dst->n_thresholds = 0;
	dst->triggers.metrics = NULL;
	dst->triggers.n = 0;
	if (src->n_thresholds > 0 && !(dst->thresholds = calloc(src->n_thresholds, sizeof(*dst->thresholds))))
		goto fail;
	for (size_t i = 0; i < src->n_thresholds; i++) {
		dst->thresholds[i] = src->thresholds[i];
		if (!(dst->thresholds[i].metric = strdup(src->thresholds[i].metric)))
			goto fail;
		dst->n_thresholds++;
	}
	for (size_t i = 0; i < src->triggers.n; i++)
		if (trigger_list_add(&dst->triggers, src->triggers.metrics[i], strlen(src->triggers.metrics[i]), err) !=
		    MENTOR_OK)
			goto fail;
	return MENTOR_OK;
fail:
	analytics_free(dst);
	return nomem(err);
}

static const struct int_key *find_int_key(const struct int_key *t, size_t n, const char *section, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].section, section) == 0 && strcmp(t[i].key, key) == 0)
			return &t[i];
	return NULL;
}

static const struct double_key *find_double_key(const struct double_key *t, size_t n, const char *section,
						const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].section, section) == 0 && strcmp(t[i].key, key) == 0)
			return &t[i];
	return NULL;
}

static const struct bool_key *find_bool_key(const struct bool_key *t, size_t n, const char *section, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].section, section) == 0 && strcmp(t[i].key, key) == 0)
			return &t[i];
	return NULL;
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether [section] key is one a program section may give too. */
static bool is_program_key(const char *section, const char *key)
{
	if (strcmp(section, "pairing") == 0 && strcmp(key, "cross_team") == 0)
		return true;
	if (strcmp(section, "detect") == 0 &&
	    (strcmp(key, "behaviors") == 0 || has_prefix(key, LOW_PREFIX) || has_prefix(key, HIGH_PREFIX)))
		return true;
	return find_int_key(program_int_keys, N_OF(program_int_keys), section, key) ||
	       find_double_key(program_double_keys, N_OF(program_double_keys), section, key) ||
	       find_bool_key(program_bool_keys, N_OF(program_bool_keys), section, key);
}

/* Whether [section] key is one of the deployment's as a whole, which no program section may give. */
static bool is_deployment_key(const char *section, const char *key)
{
	for (size_t i = 0; i < N_OF(lateness_keys); i++)
		if (strcmp(section, "analytics") == 0 && strcmp(lateness_keys[i].key, key) == 0)
			return true;
	return find_int_key(int_keys, N_OF(int_keys), section, key) ||
	       find_bool_key(bool_keys, N_OF(bool_keys), section, key);
}

/* Sets [section] key, one a program may give (is_program_key), in a; errors name label. */
static int set_program_key(struct mentor_analytics_config *a, const char *section, const char *key,
			   const char *value, const char *label, struct mentor_error *err)
{
	const struct int_key *ik;
	const struct double_key *dk;
	const struct bool_key *bk;

	if (strcmp(section, "pairing") == 0 && strcmp(key, "cross_team") == 0)
		return set_cross_team(a, label, value, err);
	if (strcmp(section, "detect") == 0 && strcmp(key, "behaviors") == 0)
		return set_behaviors(&a->triggers, label, value, err);
	if (strcmp(section, "detect") == 0 && has_prefix(key, LOW_PREFIX))
		return set_own_threshold(a, key + strlen(LOW_PREFIX), true, label, value, err);
	if (strcmp(section, "detect") == 0 && has_prefix(key, HIGH_PREFIX))
		return set_own_threshold(a, key + strlen(HIGH_PREFIX), false, label, value, err);
	if ((ik = find_int_key(program_int_keys, N_OF(program_int_keys), section, key)))
		return set_int((char *)a, ik, label, value, err);
	if ((dk = find_double_key(program_double_keys, N_OF(program_double_keys), section, key)))
		return set_double((char *)a, dk, label, value, err);
	if ((bk = find_bool_key(program_bool_keys, N_OF(program_bool_keys), section, key)))
		return set_bool((char *)a, bk, label, value, err);
	return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: unknown key", label);
}

/*
 * The section and key that a [program.NAME] line's key stands for:
 * SECTION.KEY, or a plain KEY of the one analytics section that has it
 * ([detect] and [kpi] both have confidence, so it must be named). Sets
 * *ret_section and *ret_key (the key past SECTION.). MENTOR_OK, or
 * MENTOR_ERR_INVALID naming label: a key unknown, ambiguous, or of the
 * deployment as a whole.
 */
static int program_key(const char *key, const char **ret_section, const char **ret_key, const char *label,
		       struct mentor_error *err)
{
	const char *found[2];
	size_t n_found = 0;

	*ret_section = NULL;
	*ret_key = key;
	for (size_t i = 0; i < N_OF(analytics_sections) && n_found == 0; i++) {
		size_t len = strlen(analytics_sections[i]);

		if (strncmp(key, analytics_sections[i], len) == 0 && key[len] == '.') {
			found[n_found++] = analytics_sections[i];
			*ret_key = key + len + 1;
		}
	}
	if (n_found == 0)
		for (size_t i = 0; i < N_OF(analytics_sections) && n_found < 2; i++)
			if (is_program_key(analytics_sections[i], key) || is_deployment_key(analytics_sections[i], key))
				found[n_found++] = analytics_sections[i];
	if (n_found > 1)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: [%s] and [%s] both have it: write %s.%s or %s.%s",
					label, found[0], found[1], found[0], key, found[1], key);
	if (n_found == 0 || (!is_program_key(found[0], *ret_key) && !is_deployment_key(found[0], *ret_key)))
		return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: unknown key", label);
	if (!is_program_key(found[0], *ret_key))
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"%s: the deployment's as a whole, not a program's: set it in [%s]", label,
					found[0]);
	*ret_section = found[0];
	return MENTOR_OK;
}

/* Sets one [program.NAME] line's key in a, the program's settings. */
static int apply_program_line(struct mentor_analytics_config *a, const char *name, const char *key,
			      const char *value, struct mentor_error *err)
{
	char label[LABEL_MAX];
	const char *section, *section_key;
	int rc;

	snprintf(label, sizeof(label), "[" PROGRAM_PREFIX "%s] %s", name, key);
	if ((rc = program_key(key, &section, &section_key, label, err)) != MENTOR_OK)
		return rc;
	return set_program_key(a, section, section_key, value, label, err);
}

/* The program's settings again: the global ones, then its own lines in order. MENTOR_OK or MENTOR_ERR_NOMEM. */
static int program_resolve(const struct mentor_config *cfg, struct mentor_program_config *prog,
			   struct mentor_error *err)
{
	struct mentor_analytics_config a;
	int rc = analytics_copy(&a, &cfg->analytics, err);

	for (size_t i = 0; rc == MENTOR_OK && i < prog->n_lines; i++)
		rc = apply_program_line(&a, prog->name, prog->lines[i].key, prog->lines[i].value, err);
	if (rc != MENTOR_OK) {
		analytics_free(&a);
		return rc;
	}
	analytics_free(&prog->analytics);
	prog->analytics = a;
	return MENTOR_OK;
}

/* Index of a program's section in cfg->programs, or cfg->n_programs if it has none. */
static size_t program_index(const struct mentor_config *cfg, const char *name)
{
	size_t i = 0;

	while (i < cfg->n_programs && strcmp(cfg->programs[i].name, name) != 0)
		i++;
	return i;
}

/* Appends a program with no lines: the global settings. MENTOR_OK or MENTOR_ERR_NOMEM. */
static int program_add(struct mentor_config *cfg, const char *name, struct mentor_error *err)
{
	struct mentor_program_config *grown = realloc(cfg->programs, (cfg->n_programs + 1) * sizeof(*grown));
	struct mentor_program_config *prog;

	if (!grown)
		return nomem(err);
	cfg->programs = grown;
	prog = &grown[cfg->n_programs];
	*prog = (struct mentor_program_config){ .name = strdup(name) };
	if (!prog->name || analytics_copy(&prog->analytics, &cfg->analytics, err) != MENTOR_OK) {
		free(prog->name);
		return nomem(err);
	}
	cfg->n_programs++;
	return MENTOR_OK;
}

static int line_add(struct mentor_program_config *prog, const char *key, const char *value, struct mentor_error *err)
{
	struct mentor_config_line *grown = realloc(prog->lines, (prog->n_lines + 1) * sizeof(*grown));

	if (!grown)
		return nomem(err);
	prog->lines = grown;
	grown[prog->n_lines] = (struct mentor_config_line){ .key = strdup(key), .value = strdup(value) };
	if (!grown[prog->n_lines].key || !grown[prog->n_lines].value) {
		free(grown[prog->n_lines].key);
		free(grown[prog->n_lines].value);
		return nomem(err);
	}
	prog->n_lines++;
	return MENTOR_OK;
}

/*
 * NAME of [program.NAME]: 1 to MENTOR_PROGRAM_NAME_MAX bytes, no control
 * characters (not quoted back), no blank at either end.
 */
static int check_program_name(const char *section, const char *name, struct mentor_error *err)
{
	size_t len = strlen(name);

	if (len > 0 && !name_ok(name, len, SIZE_MAX))
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"[" PROGRAM_PREFIX "NAME]: a program name has no control characters");
	if (len == 0 || len > MENTOR_PROGRAM_NAME_MAX || name[0] == ' ' || name[len - 1] == ' ')
		return mentor_error_set(err, MENTOR_ERR_INVALID,
					"[%s]: a program name is 1 to %d bytes, with no blank at either end", section,
					MENTOR_PROGRAM_NAME_MAX);
	return MENTOR_OK;
}

/*
 * A [program.NAME] line: kept, with the section's other lines, and applied
 * to the program's settings. On an error cfg is as it was.
 */
static int set_program_line(struct mentor_config *cfg, const char *section, const char *key, const char *value,
			    struct mentor_error *err)
{
	const char *name = section + strlen(PROGRAM_PREFIX);
	struct mentor_program_config *prog;
	bool added = false;
	size_t i;
	int rc;

	if ((rc = check_program_name(section, name, err)) != MENTOR_OK)
		return rc;
	i = program_index(cfg, name);
	if (i == cfg->n_programs) {
		if ((rc = program_add(cfg, name, err)) != MENTOR_OK)
			return rc;
		added = true;
	}
	prog = &cfg->programs[i];
	if ((rc = line_add(prog, key, value, err)) == MENTOR_OK &&
	    (rc = apply_program_line(&prog->analytics, name, key, value, err)) != MENTOR_OK) {
		prog->n_lines--;
		free(prog->lines[prog->n_lines].key);
		free(prog->lines[prog->n_lines].value);
	}
	if (rc != MENTOR_OK && added)
		program_free(&cfg->programs[--cfg->n_programs]);
	return rc;
}

/* [ingest] program: a program name, which obeys the id rules of events; empty: unset. */
static int set_ingest_program(struct mentor_config *cfg, const char *value, struct mentor_error *err)
{
	const char *problem = value[0] != '\0' ? mentor_id_problem(value, strlen(value)) : NULL;

	if (problem)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "[ingest] program: '%s' %s", value, problem);
	strcpy(cfg->rules.default_program, value);
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

/* A key of any section but [program.NAME]. */
static int set_global(struct mentor_config *cfg, const char *section, const char *key, const char *value,
		      struct mentor_error *err)
{
	const struct int_key *ik;
	const struct bool_key *bk;
	char label[LABEL_MAX];

	snprintf(label, sizeof(label), "[%s] %s", section, key);
	if (strcmp(section, "kafka") == 0)
		return set_kafka(cfg, key, value, err);
	if (strcmp(section, "kafka.file") == 0)
		return set_kafka_file(cfg, key, value, err);
	if (strcmp(section, "log") == 0 && strcmp(key, "level") == 0)
		return set_log_level(cfg, value, err);
	if (is_program_key(section, key))
		return set_program_key(&cfg->analytics, section, key, value, label, err);
	if (strcmp(section, "ingest") == 0 && strcmp(key, "program") == 0)
		return set_ingest_program(cfg, value, err);
	for (size_t i = 0; i < N_OF(lateness_keys); i++)
		if (strcmp(section, "analytics") == 0 && strcmp(lateness_keys[i].key, key) == 0)
			return set_lateness(cfg, &lateness_keys[i], value, err);
	if ((bk = find_bool_key(bool_keys, N_OF(bool_keys), section, key)))
		return set_bool((char *)cfg, bk, label, value, err);
	if ((ik = find_int_key(int_keys, N_OF(int_keys), section, key)))
		return set_int((char *)cfg, ik, label, value, err);
	for (size_t i = 0; i < N_OF(str_keys); i++)
		if (strcmp(str_keys[i].section, section) == 0 && strcmp(str_keys[i].key, key) == 0)
			return replace_string((char **)((char *)cfg + str_keys[i].offset), value, err);
	for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++)
		if (strcmp(map_sections[k], section) == 0)
			return set_mapping(cfg, k, key, value, err);
	return mentor_error_set(err, MENTOR_ERR_INVALID, "%s: unknown key", label);
}

static bool is_analytics_section(const char *section)
{
	for (size_t i = 0; i < N_OF(analytics_sections); i++)
		if (strcmp(section, analytics_sections[i]) == 0)
			return true;
	return false;
}

int mentor_config_set(struct mentor_config *cfg, const char *section, const char *key,
		      const char *value, struct mentor_error *err)
{
	int rc;

	if (has_prefix(section, PROGRAM_PREFIX))
		return set_program_line(cfg, section, key, value, err);
	rc = set_global(cfg, section, key, value, err);
	/* The programs follow the global keys they do not give themselves, whatever the order of the lines. */
	for (size_t i = 0; rc == MENTOR_OK && is_analytics_section(section) && i < cfg->n_programs; i++)
		rc = program_resolve(cfg, &cfg->programs[i], err);
	return rc;
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

/*
 * The keys of a together, and each metric's own thresholds with them.
 * Errors name the program (NULL: the global keys, whose numbers' errors
 * name the key alone).
 */
static int validate_analytics(const struct mentor_analytics_config *a, const char *program, struct mentor_error *err)
{
	char where[LABEL_MAX];
	struct mentor_stats_params metric_p;
	struct mentor_error why;

	if (program)
		snprintf(where, sizeof(where), "[" PROGRAM_PREFIX "%s] ", program);
	if (mentor_stats_params_validate(&a->stats, &why) != MENTOR_OK)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "%s%s", program ? where : "", why.msg);
	for (size_t i = 0; i < a->n_thresholds; i++) {
		const struct mentor_metric_thresholds *own = &a->thresholds[i];

		metric_p = a->stats;
		if (!isnan(own->low_threshold))
			metric_p.status.low_threshold = own->low_threshold;
		if (!isnan(own->high_threshold))
			metric_p.status.high_threshold = own->high_threshold;
		if (mentor_stats_params_validate(&metric_p, &why) != MENTOR_OK)
			return mentor_error_set(err, MENTOR_ERR_INVALID, "%s" LOW_PREFIX "%s: %s",
						program ? where : "[detect] ", own->metric, why.msg);
	}
	return MENTOR_OK;
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
	if (validate_analytics(&cfg->analytics, NULL, err) != MENTOR_OK)
		return MENTOR_ERR_INVALID;
	for (size_t i = 0; i < cfg->n_programs; i++)
		if (validate_analytics(&cfg->programs[i].analytics, cfg->programs[i].name, err) != MENTOR_OK)
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

const struct mentor_analytics_config *mentor_config_program(const struct mentor_config *cfg, const char *program)
{
	size_t i = program ? program_index(cfg, program) : cfg->n_programs;

	return i < cfg->n_programs ? &cfg->programs[i].analytics : &cfg->analytics;
}

bool mentor_analytics_may_trigger(const struct mentor_analytics_config *a, const char *metric)
{
	static const char *const outcomes[] = { "csat", "csat_top2", "aqm" };

	if (a->triggers.listed)
		return trigger_list_has(&a->triggers, metric, strlen(metric));
	for (size_t i = 0; i < N_OF(outcomes); i++)
		if (strcmp(metric, outcomes[i]) == 0)
			return false;
	return true;
}

void mentor_config_swap_analytics(struct mentor_config *a, struct mentor_config *b)
{
	struct mentor_analytics_config analytics = a->analytics;
	struct mentor_program_config *programs = a->programs;
	size_t n_programs = a->n_programs;

	a->analytics = b->analytics;
	a->programs = b->programs;
	a->n_programs = b->n_programs;
	b->analytics = analytics;
	b->programs = programs;
	b->n_programs = n_programs;
}
