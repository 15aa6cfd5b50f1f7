/*
 * The daemon's counters and health state. The main loop writes them; the
 * HTTP thread reads them for /metrics, /healthz and /readyz. Every value is
 * a C11 atomic, so neither thread ever waits for the other.
 */
#ifndef MENTORD_METRICS_H
#define MENTORD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentor/analytics.h"
#include "mentor/events.h"

/* What one batch holds, added to the counters only once the batch is committed. */
struct metrics_batch {
	uint64_t accepted;
	uint64_t rejected[MENTOR_REJECT_CODE_COUNT];
};

/* --- Written by the main loop. */

/* A message read from Kafka (re-reads after a dropped batch count again). */
void metrics_message_consumed(void);

/* A batch was committed to PostgreSQL; commit_us is how long the commit took. */
void metrics_batch_committed(const struct metrics_batch *b, int64_t commit_us);

/* A batch was rolled back because another instance had moved a partition's offset. */
void metrics_batch_fenced(void);

/* PostgreSQL refused a batch for its data (mentor_error_db_fault: REFUSED): it is read again split. */
void metrics_batch_refused(void);

/* A PostgreSQL call failed: the store is not usable until metrics_db_reconnected(). */
void metrics_db_error(void);

/* The store answers again: a reconnect after an error, or the first connection (counted=false). */
void metrics_db_reconnected(bool counted);

void metrics_set_assigned(int partitions);

/* One partition's consumer lag: messages in Kafka not yet stored in PostgreSQL. */
struct metrics_lag {
	char topic[256];
	int32_t partition;
	int64_t lag;
};

/* Most partitions whose lag is shown; more are left out of /metrics. */
#define METRICS_LAG_MAX 1024

/* Replaces the lag table with n entries (at most METRICS_LAG_MAX are kept). */
void metrics_set_lag(const struct metrics_lag *entries, size_t n);

/* The main loop made progress: it iterated, or it waited out an outage one step further. */
void metrics_loop_alive(void);

/*
 * Stall detection: the loop is stalled when its last progress is older than
 * stall_us (set once at start; 0, the default, turns the check off).
 * Progress is a commit, or a moment with nothing to do; why (a string
 * literal, or NULL) says what the loop waits on, for /readyz.
 */
void metrics_set_stall_limit(int64_t stall_us);
void metrics_progress(void);
void metrics_set_stall_reason(const char *why);

/* The analytics gauges after a commit: open triggers, active pairings, observations waiting, decision delay. */
void metrics_set_analytics(int64_t open_triggers, int64_t active_pairings, int64_t waiting, int64_t delay_us);

/*
 * The programs the analytics know and whether this instance decides each,
 * after a commit (copied): mentord_analytics_decides{program="..."}.
 */
void metrics_set_programs(const struct mentor_analytics *an);

/* Whether partitions are paused because too many observations wait in the group's decider (backpressure). */
void metrics_set_waiting_paused(bool paused);

struct sender;

/* Where /metrics reads the alert sender's counters from (NULL: none running). */
void metrics_set_alert_sender(const struct sender *s);

/* --- Read by the HTTP thread. */

/* True if the main loop showed progress in the last max_age_us. */
bool metrics_loop_alive_within(int64_t max_age_us);

/*
 * Whether the daemon is ready. If not, buf (of size bytes) says why: "no
 * partition assigned", "stalled: nothing committed for 312 s (PostgreSQL
 * refuses every batch)", ...
 */
bool metrics_ready(char *buf, size_t size);

/*
 * Renders every metric in the Prometheus text format 0.0.4. Returns 0 and
 * *ret_text (caller frees) with *ret_len, or -ENOMEM.
 */
int metrics_render(char **ret_text, size_t *ret_len);

#endif
