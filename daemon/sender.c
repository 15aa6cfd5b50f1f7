/*
 * The alert sender thread. One loop over the outbox (include/mentor/outbox.h,
 * which holds the SQL): claim the due alerts, post each with libcurl outside
 * any transaction, record the outcomes. The thread logs and counts what the
 * outbox settles, waits for inserts (NOTIFY) or the poll interval, and
 * reconnects with backoff when PostgreSQL goes away.
 *
 * If mentord dies between a post and its record, the row is still pending
 * and is sent again once its claim expires, with the same webhook-id:
 * delivery is at least once, and receivers deduplicate on the id.
 */
#include "sender.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "mentor/alerts.h"
#include "mentor/clock.h"
#include "mentor/outbox.h"

/* Waits are cut into steps this long, to see the stop flag. */
#define STEP_MS 100
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
/* Longest Retry-After honoured; beyond it the horizon decides anyway. */
#define RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)

struct sender {
	/* Copied from the configuration at start. */
	char *conninfo, *schema, *ca_path;
	struct mentor_alerts_config cfg;

	const volatile sig_atomic_t *stop_signal;
	atomic_bool stop;
	pthread_t thread;

	struct mentor_outbox *outbox;  /* NULL while PostgreSQL is unreachable */
	CURL *curl;
	uint64_t rng;
	bool waiting_for_schema;

	_Atomic uint64_t sent, retried, failed, dead, recorded, throttled;
	_Atomic int64_t pending;  /* outbox depth as last counted; -1 before the first count */
};

static bool stopping(const struct sender *s)
{
	return atomic_load(&s->stop) || *s->stop_signal;
}

/* xorshift64*: the backoff's random source, one per sender, no shared state. */
static uint64_t sender_rand(void *ctx)
{
	uint64_t *x = &((struct sender *)ctx)->rng;

	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1DULL;
}

/* What the outbox settled: counted, and logged as the operator needs it. */
static void on_report(void *ctx, const struct mentor_outbox_report *r)
{
	struct sender *s = ctx;
	const char *id = r->alert ? r->alert->alert_id : "";
	const char *lead = r->alert && r->alert->lead ? r->alert->lead : "none";

	switch (r->event) {
	case MENTOR_OUTBOX_RECORDED:
		atomic_fetch_add(&s->recorded, (uint64_t)r->n);
		break;
	case MENTOR_OUTBOX_THROTTLED:
		atomic_fetch_add(&s->throttled, 1);
		break;
	case MENTOR_OUTBOX_DISABLED:
		atomic_fetch_add(&s->dead, 1);
		break;
	case MENTOR_OUTBOX_SENT:
		atomic_fetch_add(&s->sent, 1);
		log_debug("alert %s (lead %s) sent to route %s: HTTP %ld", id, lead, r->alert->route_id, r->status);
		break;
	case MENTOR_OUTBOX_GONE:
		atomic_fetch_add(&s->failed, 1);
		atomic_fetch_add(&s->dead, 1);
		log_warning("alert %s (lead %s): %s: route disabled until its webhook_url is set again (dead)", id,
			    lead, r->error);
		break;
	case MENTOR_OUTBOX_RETRY:
		atomic_fetch_add(&s->failed, 1);
		atomic_fetch_add(&s->retried, 1);
		log_warning("alert %s (lead %s): attempt %d failed: %s; next attempt in %.1f s", id, lead, r->attempt,
			    r->error, (double)r->delay_ms / 1000);
		break;
	case MENTOR_OUTBOX_DEAD:
		atomic_fetch_add(&s->failed, 1);
		atomic_fetch_add(&s->dead, 1);
		log_warning("alert %s (lead %s): attempt %d failed: %s; giving up after %d hours (dead)", id, lead,
			    r->attempt, r->error, s->cfg.max_attempt_hours);
		break;
	}
}

/* Waits up to ms, in steps, until stopped or an insert into alerts is notified. Returns early on either. */
static void wait_for_work(struct sender *s, int ms)
{
	for (int waited = 0; waited < ms && !stopping(s); waited += STEP_MS) {
		int step = ms - waited < STEP_MS ? ms - waited : STEP_MS;

		if (!s->outbox) {
			struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)step * 1000000 };

			nanosleep(&ts, NULL);
		} else if (mentor_outbox_wait(s->outbox, step)) {
			return;
		}
	}
}

/* Closes a connection a failure found broken; the loop opens another. */
static void drop_if_lost(struct sender *s)
{
	if (!mentor_outbox_connected(s->outbox)) {
		mentor_outbox_close(s->outbox);
		s->outbox = NULL;
	}
}

/* Claims the due alerts into *c. Returns how many rows were due (sent or settled), or -1. */
static int claim(struct sender *s, struct mentor_outbox_claim *c)
{
	struct mentor_error err = { 0 };

	if (mentor_outbox_claim(s->outbox, c, &err) != MENTOR_OK) {
		/* A lost connection (usually found by the claim's BEGIN) is for the reconnection to report. */
		if (mentor_outbox_connected(s->outbox))
			log_warning("alerts: claiming due alerts failed: %s", err.msg);
		return -1;
	}
	if (c->no_table && !s->waiting_for_schema)
		log_debug("alerts: waiting for the alerts table (migration 002)");
	s->waiting_for_schema = c->no_table;
	return c->due;
}

/* Records the outcomes of c's alerts. Returns 0 or -1. */
static int record(struct sender *s, const struct mentor_outbox_claim *c, const struct mentor_outbox_outcome *outcomes)
{
	struct mentor_error err = { 0 };

	if (mentor_outbox_record(s->outbox, c, outcomes, &err) == MENTOR_OK)
		return 0;
	/* The rows stay claimed and pending: they are sent again, same webhook-id, once the claim expires. */
	log_warning("alerts: recording %d outcome%s failed, they will be sent again: %s", c->n, c->n == 1 ? "" : "s",
		    err.msg);
	return -1;
}

/* Counts the outbox for /metrics. */
static void count_pending(struct sender *s)
{
	int64_t pending;

	if (mentor_outbox_count_pending(s->outbox, &pending, NULL) == MENTOR_OK)
		atomic_store(&s->pending, pending);
}

/* ---- secrets ---- */

/*
 * Reads the secret file a secret_ref names: "file:/abs/path" or
 * "credential:NAME" ($CREDENTIALS_DIRECTORY/NAME, systemd's LoadCredential=).
 * Returns the text (caller wipes and frees) or NULL with error filled; the
 * message names the reference, never the content.
 */
static char *secret_read(const char *ref, char *error, size_t error_len)
{
	char path[4096];
	const char *dir;
	FILE *f;
	char *buf;
	size_t n;

	if (strncmp(ref, "file:", 5) == 0 && ref[5] == '/') {
		snprintf(path, sizeof(path), "%s", ref + 5);
	} else if (strncmp(ref, "credential:", 11) == 0) {
		const char *name = ref + 11;

		if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
			snprintf(error, error_len, "secret_ref '%s': not a credential name", ref);
			return NULL;
		}
		dir = getenv("CREDENTIALS_DIRECTORY");
		if (!dir || !*dir) {
			snprintf(error, error_len, "secret_ref '%s': CREDENTIALS_DIRECTORY is not set", ref);
			return NULL;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	} else {
		snprintf(error, error_len, "secret_ref '%s': expected file:/PATH or credential:NAME", ref);
		return NULL;
	}
	f = fopen(path, "re");
	if (!f) {
		snprintf(error, error_len, "secret_ref '%s': cannot open: %s", ref, strerror(errno));
		return NULL;
	}
	buf = malloc(MENTOR_ALERT_SECRETS_MAX_BYTES + 1);
	if (!buf) {
		fclose(f);
		snprintf(error, error_len, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, MENTOR_ALERT_SECRETS_MAX_BYTES + 1, f);
	fclose(f);
	if (n > MENTOR_ALERT_SECRETS_MAX_BYTES || memchr(buf, '\0', n)) {
		explicit_bzero(buf, n);
		free(buf);
		snprintf(error, error_len, "secret_ref '%s': larger than %d bytes or binary", ref,
			 MENTOR_ALERT_SECRETS_MAX_BYTES);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* ---- HTTP ---- */

struct response {
	char retry_after[64];
};

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *user)
{
	(void)ptr;
	(void)user;
	return size * nmemb;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *user)
{
	struct response *r = user;
	size_t len = size * nmemb;

	/* A new status line (after a 100 Continue) starts a new set of headers. */
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
		r->retry_after[0] = '\0';
	else if (len > 12 && strncasecmp(line, "retry-after:", 12) == 0) {
		size_t n = len - 12 < sizeof(r->retry_after) - 1 ? len - 12 : sizeof(r->retry_after) - 1;

		memcpy(r->retry_after, line + 12, n);
		r->retry_after[n] = '\0';
	}
	return len;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return stopping(user) ? 1 : 0;
}

/* Renders, signs and posts one claimed alert; fills *o. */
static void deliver(struct sender *s, const struct mentor_outbox_alert *a, struct mentor_outbox_outcome *o)
{
	enum mentor_alert_format format;
	struct mentor_error err = { 0 };
	struct curl_slist *headers = NULL;
	struct response resp = { { 0 } };
	char *body = NULL, *secrets = NULL, *signature = NULL;
	char header[8192], curl_error[CURL_ERROR_SIZE] = "";
	int64_t now = (int64_t)time(NULL);
	struct stat st;
	CURLcode rc;

	*o = (struct mentor_outbox_outcome){ .result = MENTOR_ALERT_RETRY, .retry_after_ms = -1 };
	if (mentor_alert_format_parse(a->format, &format) != MENTOR_OK) {
		snprintf(o->error, sizeof(o->error), "route %s: unknown body_format", a->route_id);
		return;
	}
	if (mentor_alert_render(format, a->kind, a->payload, &body, &err) != MENTOR_OK) {
		snprintf(o->error, sizeof(o->error), "%.200s", err.msg);
		return;
	}
	/* No secret_ref: unsigned, as Slack and Teams hooks are (their URL is the secret). */
	if (a->secret_ref) {
		secrets = secret_read(a->secret_ref, o->error, sizeof(o->error));
		if (!secrets)
			goto out;
		if (mentor_alert_sign(a->alert_id, now, body, strlen(body), secrets, &signature, &err) != MENTOR_OK) {
			snprintf(o->error, sizeof(o->error), "secret_ref '%.80s': %.160s", a->secret_ref, err.msg);
			goto out;
		}
	}
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");  /* no 100-continue round trip */
	snprintf(header, sizeof(header), "webhook-id: %s", a->alert_id);
	headers = curl_slist_append(headers, header);
	snprintf(header, sizeof(header), "webhook-timestamp: %" PRId64, now);
	headers = curl_slist_append(headers, header);
	if (signature) {
		snprintf(header, sizeof(header), "webhook-signature: %s", signature);
		headers = curl_slist_append(headers, header);
	}
	if (!headers) {
		snprintf(o->error, sizeof(o->error), "out of memory");
		goto out;
	}

	curl_easy_reset(s->curl);
	curl_easy_setopt(s->curl, CURLOPT_URL, a->url);
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "mentord/" MENTORD_VERSION);
	curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(s->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (s->ca_path[0]) {
		if (stat(s->ca_path, &st) == 0 && S_ISDIR(st.st_mode))
			curl_easy_setopt(s->curl, CURLOPT_CAPATH, s->ca_path);
		else
			curl_easy_setopt(s->curl, CURLOPT_CAINFO, s->ca_path);
	}
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)s->cfg.connect_timeout_ms);
	curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)s->cfg.request_timeout_ms);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, curl_error);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, &resp);
	curl_easy_setopt(s->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(s->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(s->curl, CURLOPT_XFERINFODATA, s);

	rc = curl_easy_perform(s->curl);
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		o->abandoned = true;
		snprintf(o->error, sizeof(o->error), "abandoned: mentord stopping");
		goto out;
	}
	if (rc != CURLE_OK) {
		/* The error buffer names the host or the TLS problem; the URL's path (a token, for Slack) is never in it. */
		snprintf(o->error, sizeof(o->error), "%s%s%s", curl_easy_strerror(rc), curl_error[0] ? ": " : "",
			 curl_error);
		goto out;
	}
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &o->status);
	o->result = mentor_alert_classify(o->status);
	if (o->result != MENTOR_ALERT_SENT)
		snprintf(o->error, sizeof(o->error), "HTTP %ld from route %s", o->status, a->route_id);
	if (o->result == MENTOR_ALERT_RETRY && mentor_alert_honours_retry_after(o->status) && resp.retry_after[0]) {
		int64_t delay;

		if (mentor_alert_retry_after_parse(resp.retry_after, (time_t)time(NULL), &delay))
			o->retry_after_ms = delay < RETRY_AFTER_MAX_MS ? delay : RETRY_AFTER_MAX_MS;
	}
out:
	curl_slist_free_all(headers);
	if (secrets) {
		explicit_bzero(secrets, strlen(secrets));
		free(secrets);
	}
	free(signature);
	free(body);
}

/* ---- the thread ---- */

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	const struct mentor_outbox_hooks hooks = {
		.report = on_report, .rand = sender_rand, .notice = log_pg_notice, .ctx = s,
	};
	struct mentor_outbox_claim claimed = { 0 };
	struct mentor_outbox_outcome outcomes[MENTOR_OUTBOX_CLAIM_MAX];
	int delay_ms = RECONNECT_MIN_MS;
	bool outage_logged = false;

	while (!stopping(s)) {
		struct mentor_error err = { 0 };
		int due;

		if (!s->outbox) {
			int rc = mentor_outbox_open(s->conninfo, s->schema, &s->cfg, &hooks, &s->outbox, &err);

			if (rc != MENTOR_OK) {
				if (!outage_logged)
					log_warning("alerts: PostgreSQL unreachable, retrying: %s", err.msg);
				outage_logged = true;
				wait_for_work(s, delay_ms);
				delay_ms = delay_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : delay_ms * 2;
				continue;
			}
			if (outage_logged)
				log_notice("alerts: connected to PostgreSQL again");
			outage_logged = false;
			delay_ms = RECONNECT_MIN_MS;
		}
		due = claim(s, &claimed);
		if (due < 0) {
			drop_if_lost(s);
			wait_for_work(s, s->cfg.poll_ms);
			continue;
		}
		for (int i = 0; i < claimed.n; i++) {
			if (stopping(s))  /* handed back at once, not counted as an attempt */
				outcomes[i] = (struct mentor_outbox_outcome){ .abandoned = true, .retry_after_ms = -1 };
			else
				deliver(s, &claimed.alerts[i], &outcomes[i]);
		}
		if (claimed.n > 0 && record(s, &claimed, outcomes) != 0)
			drop_if_lost(s);
		mentor_outbox_claim_clear(&claimed);
		if (s->outbox)
			count_pending(s);
		/* A full claim means more may be due now; otherwise wait for an insert or the poll interval. */
		if (due < MENTOR_OUTBOX_CLAIM_MAX)
			wait_for_work(s, s->cfg.poll_ms);
	}
	mentor_outbox_close(s->outbox);
	s->outbox = NULL;
	return NULL;
}

static uint64_t seed(void)
{
	uint64_t x = 0;

	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
		x = (uint64_t)mentor_monotonic_us() ^ ((uint64_t)time(NULL) << 20);
	return x ? x : 0x9E3779B97F4A7C15ULL;
}

static void sender_free(struct sender *s)
{
	if (!s)
		return;
	if (s->curl)
		curl_easy_cleanup(s->curl);
	free(s->conninfo);
	free(s->schema);
	free(s->ca_path);
	free(s);
}

int sender_start(const struct mentor_config *cfg, const volatile sig_atomic_t *stop, struct sender **ret_sender)
{
	struct sender *s = NULL;
	bool curl_ready = false;
	int rc = -1, thread_rc;

	*ret_sender = NULL;
	if (!cfg->alerts.enabled) {
		log_info("alerts: sender disabled ([alerts] enabled = false)");
		return 0;
	}
	/* Not thread-safe, so here in the main thread, before the sender exists. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err("alerts: libcurl initialization failed");
		goto out;
	}
	curl_ready = true;
	s = calloc(1, sizeof(*s));
	if (!s) {
		log_err("alerts: out of memory");
		goto out;
	}
	atomic_store(&s->pending, -1);
	s->conninfo = strdup(cfg->pg_conninfo);
	s->schema = strdup(cfg->pg_schema);
	s->ca_path = strdup(cfg->alerts.ca_path);
	s->cfg = cfg->alerts;
	s->cfg.ca_path = NULL;  /* the copy above owns it */
	s->stop_signal = stop;
	s->rng = seed();
	s->curl = curl_easy_init();
	if (!s->conninfo || !s->schema || !s->ca_path || !s->curl) {
		log_err("alerts: out of memory");
		goto out;
	}
	thread_rc = pthread_create(&s->thread, NULL, sender_main, s);
	if (thread_rc != 0) {
		log_err("alerts: cannot start the sender thread: %s", strerror(thread_rc));
		goto out;
	}
	log_info("alerts: sender started (poll %d ms, %d per lead per hour%s)", s->cfg.poll_ms,
		 s->cfg.max_per_lead_per_hour, s->cfg.max_per_lead_per_hour ? "" : " = no limit");
	*ret_sender = s;
	rc = 0;
out:
	if (rc != 0) {
		sender_free(s);
		if (curl_ready)
			curl_global_cleanup();
	}
	return rc;
}

void sender_counters_get(const struct sender *s, struct sender_counters *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->pending = -1;
	if (!s)
		return;
	/* The counters are atomics; reading them through a const pointer is a plain atomic load. */
	ret->sent = atomic_load((_Atomic uint64_t *)&s->sent);
	ret->retried = atomic_load((_Atomic uint64_t *)&s->retried);
	ret->failed = atomic_load((_Atomic uint64_t *)&s->failed);
	ret->dead = atomic_load((_Atomic uint64_t *)&s->dead);
	ret->recorded = atomic_load((_Atomic uint64_t *)&s->recorded);
	ret->throttled = atomic_load((_Atomic uint64_t *)&s->throttled);
	ret->pending = atomic_load((_Atomic int64_t *)&s->pending);
}

void sender_stop(struct sender *s)
{
	struct sender_counters c;

	if (!s)
		return;
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	sender_counters_get(s, &c);
	log_notice("alerts: sender stopped: sent %" PRIu64 ", failed attempts %" PRIu64 " (retried %" PRIu64
		   "), dead %" PRIu64 ", recorded %" PRIu64 ", throttled %" PRIu64,
		   c.sent, c.failed, c.retried, c.dead, c.recorded, c.throttled);
	sender_free(s);
	curl_global_cleanup();
}
