/*
 * Configuration: an INI file (see config/mentord.conf) read with inih, plus
 * overrides set by the caller (the daemon applies MENTORD_PG and MENTORD_KAFKA).
 *
 * Sections: [postgres], [ingest], [log], [http], [alerts], [analytics], [detect],
 * [pairing], [kpi], [program.NAME] (one program's own keys of the four before
 * it, over theirs), [kafka] (every key is handed to
 * librdkafka as it is, like kcat's -X), [kafka.file] (librdkafka property =
 * secret reference of the file holding its value, include/mentor/secret.h)
 * and [map.voc], [map.aqm], [map.roster] (field name = JSON pointer).
 */
#ifndef MENTOR_CONFIG_H
#define MENTOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "mentor/error.h"
#include "mentor/events.h"
#include "mentor/pairing.h"
#include "mentor/stats.h"

struct mentor_kafka_prop {
	char *key;    /* owned */
	char *value;  /* owned */
};

enum mentor_log_level {
	MENTOR_LOG_ERR = 3,
	MENTOR_LOG_WARNING = 4,
	MENTOR_LOG_NOTICE = 5,
	MENTOR_LOG_INFO = 6,
	MENTOR_LOG_DEBUG = 7,
};

/* [alerts]: the webhook sender (daemon/sender.c, lib/outbox.c, docs/alerts.md). */
struct mentor_alerts_config {
	int enabled;                /* 1: run the sender thread */
	int max_age_seconds;        /* older at first send (occurred_at): recorded, not sent; 0 = no limit */
	int max_attempt_hours;      /* give up (dead) this long after created_at */
	int request_timeout_ms;     /* whole request */
	int connect_timeout_ms;
	int poll_ms;                /* how often due rows are looked for */
	int retry_base_ms;          /* first backoff ceiling; doubles per attempt up to an hour */
	int max_per_lead_per_hour;  /* sends per team lead per rolling hour; 0 = no limit */
	int max_client_error_attempts;  /* a 4xx (but 408, 410, 429) on this attempt or a later one: dead */
	int allow_private;          /* 1: routes may reach loopback, link-local and private addresses */
	char *ca_path;              /* owned; CA file or directory for TLS; "" = the system store */
};

/* Longest NAME of a [program.NAME] section: the INI reader keeps 49 bytes of a section name. */
#define MENTOR_PROGRAM_NAME_MAX 40

/* [detect] behaviors: the metrics whose entry into low may fire a low-score trigger (SPEC section 2). */
struct mentor_trigger_list {
	bool listed;                   /* the key was given; without it every metric but csat, csat_top2 and aqm */
	size_t n;
	char **metrics;                /* owned array of n names, each once, in the order given; listed, n 0: none */
};

/*
 * [analytics], [detect], [pairing], [kpi]: the analytics core (lib/analytics.c,
 * docs/analytics.md), as the global keys set it (mentor_config.analytics) or
 * as one program's section resolves it (mentor_program_config). It owns
 * arrays: a copy by value shares them, mentor_config_swap_analytics() moves them.
 */
struct mentor_analytics_config {
	int enabled;                   /* default 1; deployment-wide */
	int64_t round_interval_us;     /* pairing rounds on this grid of event time, default 1 day; deployment-wide */
	int duration_days;             /* a pairing is active this long, default 21 */
	int cooldown_days;             /* the same pair is not repeated within, default 90 */
	int cuped;                     /* program effect CUPED-adjusted, default 1 */
	double holdout_share;          /* share of new triggers held out of pairing for the after window, default 0 */
	int max_rounds_per_call;       /* pairing rounds one batch or tick runs at most, the rest later; default 100;
					  deployment-wide */
	size_t max_waiting_observations; /* consumption pauses at this many waiting observations, default 1000000;
					    deployment-wide */
	int max_pairings_per_mentee;   /* [pairing] active pairings a mentee holds at once, default 1 */
	struct mentor_trigger_list triggers;
	size_t n_thresholds;
	struct mentor_metric_thresholds *thresholds; /* owned array of n_thresholds, each metric once: its
							[detect] low_threshold.NAME and high_threshold.NAME */
	struct mentor_stats_params stats;
	struct mentor_pair_config pair;
};

/* One key = value line as the file gives it. */
struct mentor_config_line {
	char *key;    /* owned */
	char *value;  /* owned */
};

/*
 * [program.NAME]: one program's settings. A key the section gives wins over
 * the global one whatever the order of the lines; the others follow the
 * global keys. A metric's thresholds: the program's low_threshold.NAME, then
 * the global one, then the program's low_threshold, then the global one
 * (high_threshold likewise).
 */
struct mentor_program_config {
	char *name;                                /* owned; NAME, 1 to MENTOR_PROGRAM_NAME_MAX bytes */
	struct mentor_analytics_config analytics;  /* resolved: the section's keys over the global ones */
	size_t n_lines;
	struct mentor_config_line *lines;          /* owned array of n_lines: the section's lines in order,
						      applied again over the global keys when one of those changes */
};

struct mentor_config {
	char *pg_conninfo;                          /* owned; libpq conninfo, "" = libpq defaults */
	char *pg_schema;                            /* owned; default "mentor" */
	char *topics[MENTOR_EVENT_KIND_COUNT];      /* owned; one topic per event kind */
	char *offset_reset;                         /* owned; "earliest" or "latest", for partitions with no stored offset */
	char *http_listen;                          /* owned; [http] listen: "" = the default address if free,
						       "off", or ADDR:PORT (the daemon parses it) */
	size_t batch_max_events;                    /* a batch is written when this full ... */
	int batch_max_ms;                           /* ... or this old ... */
	size_t batch_max_bytes;                     /* ... or holds this many bytes (mentor_batch_bytes) */
	int stall_seconds;                          /* work waiting and nothing committed this long: stalled (/readyz) */
	int log_level;                              /* enum mentor_log_level */
	struct mentor_event_rules rules;
	bool lateness_own[MENTOR_EVENT_KIND_COUNT]; /* rules.lateness_us[kind] set by the source's own key, which
						       [analytics] allowed_lateness_seconds then leaves */
	struct mentor_alerts_config alerts;
	struct mentor_analytics_config analytics;   /* the global keys: a program without a section decides by them */
	size_t n_programs;
	struct mentor_program_config *programs;     /* owned array of n_programs, in the order of their first lines */
	size_t n_kafka;
	struct mentor_kafka_prop *kafka;            /* owned array of n_kafka: the librdkafka properties */
	size_t n_kafka_files;
	struct mentor_kafka_prop *kafka_files;      /* owned array of n_kafka_files: [kafka.file], property =
						       secret reference, until mentor_config_read_kafka_files() */
};

/* Returns a config holding every default (caller frees with mentor_config_free), or NULL. */
struct mentor_config *mentor_config_new(void);

/*
 * Reads an INI file into cfg, over what cfg already holds. Returns MENTOR_OK,
 * MENTOR_ERR_IO if the file cannot be opened, or MENTOR_ERR_INVALID naming the
 * line and key that is wrong.
 */
int mentor_config_load_file(struct mentor_config *cfg, const char *path, struct mentor_error *err);

/*
 * Sets one key as if it stood in the file under [section]. Returns MENTOR_OK,
 * MENTOR_ERR_INVALID (cfg then unchanged) or MENTOR_ERR_NOMEM.
 * Of a [kafka] and a [kafka.file] line of the same property, the later one wins.
 * [program.NAME] takes the keys of [detect], [pairing], [kpi] and of
 * [analytics] but its deployment-wide ones (enabled, round_interval_seconds,
 * max_rounds_per_call, max_waiting_observations, allowed_lateness_*), as KEY
 * or as SECTION.KEY (confidence, of both [detect] and [kpi], only so).
 */
int mentor_config_set(struct mentor_config *cfg, const char *section, const char *key,
		      const char *value, struct mentor_error *err);

/*
 * Checks what single keys cannot: ranges between keys (the global ones and
 * each program's resolved ones, each metric's own thresholds with them),
 * required mappings. Returns MENTOR_OK or MENTOR_ERR_INVALID, naming the
 * program if it is one's.
 */
int mentor_config_validate(const struct mentor_config *cfg, struct mentor_error *err);

/*
 * The settings a program decides and pairs by: its [program.NAME] section's,
 * resolved, or cfg->analytics for a program without one (and for NULL).
 * Borrowed from cfg.
 */
const struct mentor_analytics_config *mentor_config_program(const struct mentor_config *cfg, const char *program);

/*
 * Whether a metric's entry into low may fire a low-score trigger under a's
 * behaviors key (SPEC section 2): a listed metric may; without the key, any
 * metric but the outcomes csat, csat_top2 and aqm. Pure.
 */
bool mentor_analytics_may_trigger(const struct mentor_analytics_config *a, const char *metric);

/*
 * Exchanges the analytics settings of a and b, owned arrays and all: the
 * global [analytics], [detect], [pairing] and [kpi] keys and the programs.
 * A reload swaps the new ones into the running config; freeing the other
 * then frees the old ones.
 */
void mentor_config_swap_analytics(struct mentor_config *a, struct mentor_config *b);

/*
 * Reads the file of each [kafka.file] property (a secret reference; credential:
 * references in credentials_dir, NULL or "" if there is none) and sets the
 * property to its content, one trailing newline (LF or CRLF) removed. Call it
 * after the file and any override are set and before mentor_config_validate().
 * Returns MENTOR_OK, or the error of the first file that cannot be read
 * (MENTOR_ERR_IO unreadable, MENTOR_ERR_INVALID too large, binary or a bad
 * reference), naming the property and the path, never the content.
 */
int mentor_config_read_kafka_files(struct mentor_config *cfg, const char *credentials_dir, struct mentor_error *err);

/* Value of a [kafka] key, or NULL if unset. The pointer is owned by cfg. */
const char *mentor_config_kafka_get(const struct mentor_config *cfg, const char *key);

/* Name of a log level ("info"), or "unknown". */
const char *mentor_log_level_name(int level);

void mentor_config_free(struct mentor_config *cfg);

#endif
