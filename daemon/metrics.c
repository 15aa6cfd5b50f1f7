#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mentor/clock.h"
#include "sender.h"

/*
 * Commit latency buckets, in microseconds and as their `le` label. A local
 * PostgreSQL commits a small batch in about a millisecond; a full batch of
 * thousands of rows, or a slow disk, takes up to seconds.
 */
static const struct {
	int64_t le_us;
	const char *le;
} buckets[] = {
	{ 1000, "0.001" }, { 2500, "0.0025" }, { 5000, "0.005" }, { 10000, "0.01" },
	{ 25000, "0.025" }, { 50000, "0.05" }, { 100000, "0.1" }, { 250000, "0.25" },
	{ 500000, "0.5" }, { 1000000, "1" }, { 2500000, "2.5" }, { 5000000, "5" },
	{ 10000000, "10" },
};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

/* Relaxed order throughout: each value stands alone, none guards another's meaning. */
static struct {
	atomic_uint_fast64_t consumed, accepted, batches, fenced, refused, db_errors, db_reconnects;
	atomic_uint_fast64_t rejected[MENTOR_REJECT_CODE_COUNT];
	/* Per bucket, not cumulative (the last one is +Inf): rendering sums them. */
	atomic_uint_fast64_t commit_bucket[N_BUCKETS + 1];
	atomic_uint_fast64_t commit_sum_us;
	atomic_int assigned;
	atomic_bool db_ok;
	atomic_int_fast64_t loop_alive_us;
	/* Monotonic time of the loop's last progress; stalled past stall_us (0: never). */
	atomic_int_fast64_t progress_us, stall_us;
	const char *_Atomic stall_reason;
	/* The analytics, as of the last commit; open_triggers < 0: analytics off. */
	atomic_int_fast64_t open_triggers, active_pairings, waiting_observations, watermark_delay_us;
	atomic_int_fast64_t waiting_paused;  /* 1 while consumption is paused for the waiting observations */
} m = { .open_triggers = -1 };

/* Set before the HTTP thread starts serving and cleared after it stops. */
static const struct sender *_Atomic alert_sender;

void metrics_set_alert_sender(const struct sender *s)
{
	atomic_store(&alert_sender, s);
}

/* The lag table is a set of rows, not one value, so it takes a lock rather than atomics. */
static struct {
	pthread_mutex_t lock;
	struct metrics_lag rows[METRICS_LAG_MAX];
	size_t n;
} lag = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The programs, a set of rows too; each name copied (up to MENTOR_ID_MAX bytes). */
struct program_row {
	char name[MENTOR_ID_MAX];
	bool decided;
};
static struct {
	pthread_mutex_t lock;
	struct program_row *rows;  /* owned */
	size_t n, cap;
} programs = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void add(atomic_uint_fast64_t *counter, uint64_t n)
{
	atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

void metrics_message_consumed(void)
{
	add(&m.consumed, 1);
}

void metrics_batch_committed(const struct metrics_batch *b, int64_t commit_us)
{
	size_t i = 0;

	add(&m.accepted, b->accepted);
	for (int r = 0; r < MENTOR_REJECT_CODE_COUNT; r++)
		if (b->rejected[r])
			add(&m.rejected[r], b->rejected[r]);
	add(&m.batches, 1);
	if (commit_us < 0)
		commit_us = 0;
	while (i < N_BUCKETS && commit_us > buckets[i].le_us)
		i++;
	add(&m.commit_bucket[i], 1);
	add(&m.commit_sum_us, (uint64_t)commit_us);
	atomic_store_explicit(&m.db_ok, true, memory_order_relaxed);
}

void metrics_batch_fenced(void)
{
	add(&m.fenced, 1);
}

void metrics_batch_refused(void)
{
	add(&m.refused, 1);
}

void metrics_db_error(void)
{
	add(&m.db_errors, 1);
	atomic_store_explicit(&m.db_ok, false, memory_order_relaxed);
}

void metrics_db_reconnected(bool counted)
{
	if (counted)
		add(&m.db_reconnects, 1);
	atomic_store_explicit(&m.db_ok, true, memory_order_relaxed);
}

void metrics_set_assigned(int partitions)
{
	atomic_store_explicit(&m.assigned, partitions, memory_order_relaxed);
}

void metrics_loop_alive(void)
{
	atomic_store_explicit(&m.loop_alive_us, mentor_monotonic_us(), memory_order_relaxed);
}

bool metrics_loop_alive_within(int64_t max_age_us)
{
	int64_t last = atomic_load_explicit(&m.loop_alive_us, memory_order_relaxed);

	return last != 0 && mentor_monotonic_us() - last <= max_age_us;
}

void metrics_set_stall_limit(int64_t stall_us)
{
	atomic_store_explicit(&m.stall_us, stall_us, memory_order_relaxed);
}

void metrics_progress(void)
{
	atomic_store_explicit(&m.progress_us, mentor_monotonic_us(), memory_order_relaxed);
	atomic_store_explicit(&m.stall_reason, NULL, memory_order_relaxed);
}

void metrics_set_stall_reason(const char *why)
{
	atomic_store_explicit(&m.stall_reason, why, memory_order_relaxed);
}

/* Microseconds since the loop's last progress; 0 before the first. */
static int64_t since_progress_us(void)
{
	int64_t last = atomic_load_explicit(&m.progress_us, memory_order_relaxed);

	return last == 0 ? 0 : mentor_monotonic_us() - last;
}

/* Read here rather than set by the loop, so that a loop hung in a call shows as stalled too. */
static bool stalled(void)
{
	int64_t limit = atomic_load_explicit(&m.stall_us, memory_order_relaxed);

	return limit > 0 && since_progress_us() > limit;
}

bool metrics_ready(char *buf, size_t size)
{
	const char *why = atomic_load_explicit(&m.stall_reason, memory_order_relaxed);

	/* The stall first: it names what the loop waits on, which may not be an outage. */
	if (stalled())
		snprintf(buf, size, "stalled: nothing committed for %" PRId64 " s (%s)",
			 since_progress_us() / 1000000, why ? why : "no progress");
	else if (!atomic_load_explicit(&m.db_ok, memory_order_relaxed))
		snprintf(buf, size, "PostgreSQL unavailable");
	else if (atomic_load_explicit(&m.assigned, memory_order_relaxed) <= 0)
		snprintf(buf, size, "no partition assigned");
	else
		return true;
	return false;
}

static void counter(FILE *out, const char *name, const char *help, uint64_t value)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name, value);
}

void metrics_set_lag(const struct metrics_lag *entries, size_t n)
{
	if (n > METRICS_LAG_MAX)
		n = METRICS_LAG_MAX;
	pthread_mutex_lock(&lag.lock);
	if (n > 0)
		memcpy(lag.rows, entries, n * sizeof(*entries));
	lag.n = n;
	pthread_mutex_unlock(&lag.lock);
}

static void gauge(FILE *out, const char *name, const char *help, int64_t value)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRId64 "\n", name, help, name, name, value);
}

static void render_rejected(FILE *out)
{
	fputs("# HELP mentord_events_rejected_total Messages rejected and stored in rejected_events, by reason"
	      " (counted when their batch commits).\n"
	      "# TYPE mentord_events_rejected_total counter\n", out);
	/* Reason names are fixed snake_case identifiers: nothing in them needs label escaping. */
	for (int r = 0; r < MENTOR_REJECT_CODE_COUNT; r++)
		fprintf(out, "mentord_events_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
			mentor_reject_code_name((enum mentor_reject_code)r), get(&m.rejected[r]));
}

static void render_lag(FILE *out)
{
	fputs("# HELP mentord_consumer_lag Messages in the partition not yet stored in PostgreSQL"
	      " (high watermark minus stored next offset).\n"
	      "# TYPE mentord_consumer_lag gauge\n", out);
	pthread_mutex_lock(&lag.lock);
	/* Kafka topic names are [a-zA-Z0-9._-]: nothing in them needs label escaping. */
	for (size_t i = 0; i < lag.n; i++)
		fprintf(out, "mentord_consumer_lag{topic=\"%s\",partition=\"%" PRId32 "\"} %" PRId64 "\n",
			lag.rows[i].topic, lag.rows[i].partition, lag.rows[i].lag);
	pthread_mutex_unlock(&lag.lock);
}

static void render_alerts(FILE *out)
{
	struct sender_counters c;

	sender_counters_get(atomic_load(&alert_sender), &c);
	counter(out, "mentord_alerts_sent_total", "Alert webhooks delivered (2xx).", c.sent);
	counter(out, "mentord_alerts_retried_total", "Failed alert deliveries scheduled again.", c.retried);
	counter(out, "mentord_alerts_failed_total", "Failed alert delivery attempts, the last one of dead alerts included.",
		c.failed);
	counter(out, "mentord_alerts_dead_total", "Alerts given up: past the retry horizon or their route disabled.",
		c.dead);
	counter(out, "mentord_alerts_recorded_total", "Alerts too old at first send: recorded, not sent.", c.recorded);
	counter(out, "mentord_alerts_throttled_total", "Times an alert was held back by the per-lead rate limit.",
		c.throttled);
	if (c.pending >= 0)
		gauge(out, "mentord_alerts_pending", "Outbox depth: alerts waiting to be sent, as last counted.",
		      c.pending);
}

static void render_commit_histogram(FILE *out)
{
	uint64_t cumulative = 0;
	uint64_t sum_us = get(&m.commit_sum_us);

	fputs("# HELP mentord_batch_duration_seconds Time to commit one batch to PostgreSQL, until its COMMIT is answered (committed batches only).\n"
	      "# TYPE mentord_batch_duration_seconds histogram\n", out);
	for (size_t i = 0; i < N_BUCKETS; i++) {
		cumulative += get(&m.commit_bucket[i]);
		fprintf(out, "mentord_batch_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n", buckets[i].le, cumulative);
	}
	/* _count is the +Inf bucket as read here, so the two always agree within one scrape. */
	cumulative += get(&m.commit_bucket[N_BUCKETS]);
	fprintf(out, "mentord_batch_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cumulative);
	fprintf(out, "mentord_batch_duration_seconds_sum %" PRIu64 ".%06" PRIu64 "\n", sum_us / 1000000,
		sum_us % 1000000);
	fprintf(out, "mentord_batch_duration_seconds_count %" PRIu64 "\n", cumulative);
}

void metrics_set_analytics(int64_t open_triggers, int64_t active_pairings, int64_t waiting, int64_t delay_us)
{
	atomic_store_explicit(&m.open_triggers, open_triggers, memory_order_relaxed);
	atomic_store_explicit(&m.active_pairings, active_pairings, memory_order_relaxed);
	atomic_store_explicit(&m.waiting_observations, waiting, memory_order_relaxed);
	atomic_store_explicit(&m.watermark_delay_us, delay_us, memory_order_relaxed);
}

void metrics_set_programs(const struct mentor_analytics *an)
{
	size_t n = mentor_analytics_program_count(an);

	pthread_mutex_lock(&programs.lock);
	if (n > programs.cap) {
		struct program_row *grown = realloc(programs.rows, n * sizeof(*grown));

		if (!grown)
			n = programs.cap;  /* out of memory: the first rows still show */
		else {
			programs.rows = grown;
			programs.cap = n;
		}
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(programs.rows[i].name, sizeof(programs.rows[i].name), "%s", mentor_analytics_program_name(an, i));
		programs.rows[i].decided = mentor_analytics_program_decided(an, i);
	}
	programs.n = n;
	pthread_mutex_unlock(&programs.lock);
}

/* A label value as the exposition format wants it: backslash, double quote and newline escaped. */
static void label_value(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void render_programs(FILE *out)
{
	pthread_mutex_lock(&programs.lock);
	if (programs.n > 0)
		fputs("# HELP mentord_analytics_decides 1 for each program this instance decides (holds its lock), 0 for"
		      " those another instance of the group decides.\n# TYPE mentord_analytics_decides gauge\n", out);
	for (size_t i = 0; i < programs.n; i++) {
		fputs("mentord_analytics_decides{program=\"", out);
		label_value(out, programs.rows[i].name);
		fprintf(out, "\"} %d\n", programs.rows[i].decided);
	}
	pthread_mutex_unlock(&programs.lock);
}

void metrics_set_waiting_paused(bool paused)
{
	atomic_store_explicit(&m.waiting_paused, paused, memory_order_relaxed);
}

static void render_analytics(FILE *out)
{
	int64_t delay_us = atomic_load_explicit(&m.watermark_delay_us, memory_order_relaxed);

	if (atomic_load_explicit(&m.open_triggers, memory_order_relaxed) < 0)
		return;
	gauge(out, "mentord_open_triggers", "Low-score triggers open or waiting for a mentor.",
	      atomic_load_explicit(&m.open_triggers, memory_order_relaxed));
	gauge(out, "mentord_active_pairings", "Pairings active now.",
	      atomic_load_explicit(&m.active_pairings, memory_order_relaxed));
	gauge(out, "mentord_waiting_observations", "Observations stored but waiting for the event-time watermark.",
	      atomic_load_explicit(&m.waiting_observations, memory_order_relaxed));
	gauge(out, "mentord_consumption_paused",
	      "1 while partitions are paused because the group's decider has max_waiting_observations observations"
	      " waiting, else 0.",
	      atomic_load_explicit(&m.waiting_paused, memory_order_relaxed));
	fprintf(out, "# HELP mentord_decision_delay_seconds Newest event time decided minus the watermark.\n"
		"# TYPE mentord_decision_delay_seconds gauge\nmentord_decision_delay_seconds %" PRId64 ".%06" PRId64 "\n",
		delay_us / 1000000, delay_us % 1000000);
	render_programs(out);
}

int metrics_render(char **ret_text, size_t *ret_len)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out)
		return -ENOMEM;
	gauge(out, "mentord_up", "1 while mentord runs and serves this page.", 1);
	counter(out, "mentord_events_consumed_total",
		"Messages read from Kafka, including messages read again after a dropped batch.", get(&m.consumed));
	counter(out, "mentord_events_accepted_total",
		"Messages that passed validation, counted when their batch commits (repeated event_ids included).",
		get(&m.accepted));
	render_rejected(out);
	counter(out, "mentord_batches_total", "Batches committed to PostgreSQL.", get(&m.batches));
	render_commit_histogram(out);
	counter(out, "mentord_db_errors_total", "Failed PostgreSQL operations (each is retried).", get(&m.db_errors));
	counter(out, "mentord_db_reconnects_total", "Successful reconnections to PostgreSQL after an error.",
		get(&m.db_reconnects));
	counter(out, "mentord_fenced_batches_total",
		"Batches rolled back because another instance had moved a partition's offset.", get(&m.fenced));
	counter(out, "mentord_refused_batches_total",
		"Batch commits PostgreSQL refused for their data; each is read again in halves.", get(&m.refused));
	gauge(out, "mentord_stalled", "1 while work waits and nothing was committed for [ingest] stall_seconds.",
	      stalled());
	gauge(out, "mentord_seconds_since_progress",
	      "Seconds since the loop last committed, or last had nothing to do.", since_progress_us() / 1000000);
	gauge(out, "mentord_assigned_partitions", "Kafka partitions currently assigned to this instance.",
	      atomic_load_explicit(&m.assigned, memory_order_relaxed));
	render_lag(out);
	render_alerts(out);
	render_analytics(out);
	if (fclose(out) != 0 || !text) {
		free(text);
		return -ENOMEM;
	}
	*ret_text = text;
	*ret_len = len;
	return 0;
}
