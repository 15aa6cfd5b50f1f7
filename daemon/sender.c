/*
 * The alert sender thread. One loop over the outbox (include/mentor/outbox.h,
 * which holds the SQL): claim due alerts, at most one per lead, post them
 * all at once on libcurl's multi interface outside any transaction, renew
 * the leases of those in flight, and record each outcome as it comes. A
 * receiver that hangs holds up its own lead's alerts and one of SLOTS
 * requests, never another lead's alert. The thread logs and counts what the
 * outbox settles, waits for a request to end, an insert (NOTIFY) or the poll
 * interval, and reconnects with backoff when PostgreSQL goes away, the
 * requests in flight going on meanwhile (their outcomes are recorded once
 * it is back).
 *
 * Every connection a route opens is checked at connect time, on the address
 * actually used (whatever DNS said earlier): loopback, link-local and private
 * addresses are refused unless [alerts] allow_private.
 *
 * If mentord dies between a post and its record, the row is still pending
 * and is sent again once its lease expires, with the same webhook-id:
 * delivery is at least once, and receivers deduplicate on the id.
 */
#include "sender.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
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
#include "mentor/secret.h"

/* Waits are cut into steps this long, to see the stop flag. */
#define STEP_MS 100
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
/* Longest Retry-After honoured; beyond it the horizon decides anyway. */
#define RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)
/* Requests in flight at once, each for a different lead. */
#define SLOTS MENTOR_OUTBOX_CLAIM_MAX
/* Bytes of an answer's body kept, of which last_error quotes a prefix. */
#define ANSWER_MAX 512
#define ANSWER_QUOTED 160

struct sender;

/* One request and the claimed alert it carries. */
struct slot {
	struct sender *s;
	CURL *curl;
	enum { SLOT_FREE, SLOT_IN_FLIGHT, SLOT_DONE } state;  /* DONE: outcome waits to be recorded */
	struct mentor_outbox_alert alert;
	struct mentor_outbox_outcome outcome;
	struct curl_slist *headers;
	char *body;
	char retry_after[64];
	char answer[ANSWER_MAX];
	size_t answer_len;
	char curl_error[CURL_ERROR_SIZE];
	int opened, refused;                   /* connections opened, and refused for their address */
	char refused_address[INET6_ADDRSTRLEN];
};

struct sender {
	/* Copied from the configuration at start. */
	char *conninfo, *schema, *ca_path;
	struct mentor_alerts_config cfg;

	const volatile sig_atomic_t *stop_signal;
	atomic_bool stop;
	pthread_t thread;

	struct mentor_outbox *outbox;  /* NULL while PostgreSQL is unreachable */
	CURLM *multi;
	struct slot slots[SLOTS];
	int64_t renewed_us;            /* when the leases of the requests in flight were last renewed */
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
		if (r->result == MENTOR_ALERT_REFUSED_ROUTE)
			log_warning("alert %s (lead %s): %s; giving up (dead)", id, lead, r->error);
		else if (r->result == MENTOR_ALERT_CLIENT_ERROR)
			log_warning("alert %s (lead %s): attempt %d failed: %s; the receiver refuses it, "
				    "giving up (dead)", id, lead, r->attempt, r->error);
		else
			log_warning("alert %s (lead %s): attempt %d failed: %s; giving up after %d hours (dead)", id,
				    lead, r->attempt, r->error, s->cfg.max_attempt_hours);
		break;
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

/* Counts the outbox for /metrics. */
static void count_pending(struct sender *s)
{
	int64_t pending;

	if (mentor_outbox_count_pending(s->outbox, &pending, NULL) == MENTOR_OK)
		atomic_store(&s->pending, pending);
}

/* ---- HTTP ---- */

static size_t keep_answer(char *ptr, size_t size, size_t nmemb, void *user)
{
	struct slot *sl = user;
	size_t len = size * nmemb, room = sizeof(sl->answer) - sl->answer_len;

	memcpy(sl->answer + sl->answer_len, ptr, len < room ? len : room);
	sl->answer_len += len < room ? len : room;
	return len;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *user)
{
	struct slot *sl = user;
	size_t len = size * nmemb;

	/* A new status line (after a 100 Continue) starts a new set of headers. */
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
		sl->retry_after[0] = '\0';
	else if (len > 12 && strncasecmp(line, "retry-after:", 12) == 0) {
		size_t n = len - 12 < sizeof(sl->retry_after) - 1 ? len - 12 : sizeof(sl->retry_after) - 1;

		memcpy(sl->retry_after, line + 12, n);
		sl->retry_after[n] = '\0';
	}
	return len;
}

/*
 * Opens every connection a route makes, to the address curl is about to
 * connect to: refused (curl tries the host's next address, if any) when it
 * is loopback, link-local or private and [alerts] allow_private is false.
 */
static curl_socket_t open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *address)
{
	struct slot *sl = user;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)&address->addr;
	const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)&address->addr;
	const void *ip = address->family == AF_INET6 ? (const void *)&in6->sin6_addr : (const void *)&in->sin_addr;

	if (purpose == CURLSOCKTYPE_IPCXN && !sl->s->cfg.allow_private && mentor_alert_address_private(&address->addr)) {
		sl->refused++;
		if (!inet_ntop(address->family, ip, sl->refused_address, sizeof(sl->refused_address)))
			snprintf(sl->refused_address, sizeof(sl->refused_address), "(family %d)", address->family);
		return CURL_SOCKET_BAD;
	}
	sl->opened++;
	return socket(address->family, address->socktype, address->protocol);
}

/* Empties a slot for the next alert; its easy handle stays. */
static void slot_clear(struct slot *sl)
{
	curl_slist_free_all(sl->headers);
	free(sl->body);
	mentor_outbox_alert_free(&sl->alert);
	sl->headers = NULL;
	sl->body = NULL;
	sl->state = SLOT_FREE;
	sl->retry_after[0] = '\0';
	sl->answer_len = 0;
	sl->curl_error[0] = '\0';
	sl->opened = sl->refused = 0;
	sl->refused_address[0] = '\0';
}

/* Ends a slot's attempt before any request, with error as its outcome (retried). */
static void slot_fail(struct slot *sl, const char *error)
{
	snprintf(sl->outcome.error, sizeof(sl->outcome.error), "%.255s", error);
	sl->state = SLOT_DONE;
}

/* Renders, signs and starts the request of the alert in sl (SLOT_IN_FLIGHT), or fails it at once (SLOT_DONE). */
static void slot_start(struct sender *s, struct slot *sl)
{
	const struct mentor_outbox_alert *a = &sl->alert;
	enum mentor_alert_format format;
	struct mentor_error err = { 0 };
	char *secrets = NULL, *signature = NULL, *id = NULL;
	size_t secrets_len = 0;
	char header[8192], error[256];
	int64_t now = (int64_t)time(NULL);
	struct stat st;
	CURL *c = sl->curl;

	sl->outcome = (struct mentor_outbox_outcome){ .result = MENTOR_ALERT_RETRY, .retry_after_ms = -1 };
	if (mentor_alert_format_parse(a->format, &format) != MENTOR_OK) {
		snprintf(error, sizeof(error), "route %.40s: unknown body_format", a->route_id);
		slot_fail(sl, error);
		return;
	}
	if (mentor_alert_render(format, a->kind, a->payload, &sl->body, &err) != MENTOR_OK) {
		slot_fail(sl, err.msg);
		return;
	}
	/* The id as a header can neither end it nor start another; it is also what is signed. */
	id = mentor_alert_header_id(a->alert_id);
	if (!id) {
		slot_fail(sl, "out of memory");
		return;
	}
	/* No secret_ref: unsigned, as Slack and Teams hooks are (their URL is the secret). */
	if (a->secret_ref) {
		if (mentor_secret_read(a->secret_ref, getenv("CREDENTIALS_DIRECTORY"), &secrets, &secrets_len, &err) !=
		    MENTOR_OK) {
			snprintf(error, sizeof(error), "secret_ref: %.200s", err.msg);
			slot_fail(sl, error);
			goto out;
		}
		if (mentor_alert_sign(id, now, sl->body, strlen(sl->body), secrets, &signature, &err) != MENTOR_OK) {
			snprintf(error, sizeof(error), "secret_ref '%.80s': %.160s", a->secret_ref, err.msg);
			slot_fail(sl, error);
			goto out;
		}
	}
	sl->headers = curl_slist_append(sl->headers, "Content-Type: application/json");
	sl->headers = curl_slist_append(sl->headers, "Expect:");  /* no 100-continue round trip */
	snprintf(header, sizeof(header), "webhook-id: %s", id);
	sl->headers = curl_slist_append(sl->headers, header);
	snprintf(header, sizeof(header), "webhook-timestamp: %" PRId64, now);
	sl->headers = curl_slist_append(sl->headers, header);
	if (signature) {
		snprintf(header, sizeof(header), "webhook-signature: %s", signature);
		sl->headers = curl_slist_append(sl->headers, header);
	}
	if (!sl->headers) {
		slot_fail(sl, "out of memory");
		goto out;
	}

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_PRIVATE, sl);
	curl_easy_setopt(c, CURLOPT_URL, a->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, sl->body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(sl->body));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl->headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "mentord/" MENTORD_VERSION);
	/* Not followed: a 3xx is a failure, so a redirect cannot lead anywhere the check below would not see either. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, sl);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (s->ca_path[0]) {
		if (stat(s->ca_path, &st) == 0 && S_ISDIR(st.st_mode))
			curl_easy_setopt(c, CURLOPT_CAPATH, s->ca_path);
		else
			curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_path);
	}
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)s->cfg.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->cfg.request_timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, sl->curl_error);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_answer);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, sl);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, sl);
	if (curl_multi_add_handle(s->multi, c) != CURLM_OK) {
		slot_fail(sl, "libcurl: cannot start the request");
		goto out;
	}
	sl->state = SLOT_IN_FLIGHT;
out:
	if (secrets) {
		explicit_bzero(secrets, secrets_len);
		free(secrets);
	}
	free(signature);
	free(id);
}

/* Turns the end of sl's request (rc) into its outcome: SLOT_DONE. */
static void slot_finish(struct slot *sl, CURLcode rc)
{
	struct mentor_outbox_outcome *o = &sl->outcome;
	const char *route = sl->alert.route_id;
	char answer[ANSWER_QUOTED + 1];

	sl->state = SLOT_DONE;
	if (rc != CURLE_OK && sl->refused > 0 && sl->opened == 0) {
		o->result = MENTOR_ALERT_REFUSED_ROUTE;
		snprintf(o->error, sizeof(o->error), "route %.40s refused: it connects to %s, a loopback, link-local or "
			 "private address ([alerts] allow_private is false)", route, sl->refused_address);
		return;
	}
	if (rc != CURLE_OK) {
		/* The error buffer names the host or the TLS problem; the URL's path (a token, for Slack) is never in it. */
		snprintf(o->error, sizeof(o->error), "%.50s%s%.200s", curl_easy_strerror(rc),
			 sl->curl_error[0] ? ": " : "", sl->curl_error);
		return;
	}
	curl_easy_getinfo(sl->curl, CURLINFO_RESPONSE_CODE, &o->status);
	o->result = mentor_alert_classify(o->status);
	if (o->result == MENTOR_ALERT_SENT)
		return;
	/* The answer, as the receiver's own words on why: a bounded, one-line prefix. */
	mentor_alert_answer_excerpt(sl->answer, sl->answer_len, answer, sizeof(answer));
	snprintf(o->error, sizeof(o->error), "HTTP %ld from route %.40s%s%s", o->status, route, answer[0] ? ": " : "",
		 answer);
	if (o->result == MENTOR_ALERT_RETRY && mentor_alert_honours_retry_after(o->status) && sl->retry_after[0]) {
		int64_t delay;

		if (mentor_alert_retry_after_parse(sl->retry_after, (time_t)time(NULL), &delay))
			o->retry_after_ms = delay < RETRY_AFTER_MAX_MS ? delay : RETRY_AFTER_MAX_MS;
	}
}

/* Runs the requests in flight; those that ended become SLOT_DONE. Returns how many ended. */
static int transfers_run(struct sender *s)
{
	int running, left, ended = 0;
	CURLMsg *m;

	curl_multi_perform(s->multi, &running);
	while ((m = curl_multi_info_read(s->multi, &left))) {
		struct slot *sl = NULL;
		CURL *c = m->easy_handle;
		CURLcode rc = m->data.result;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&sl);
		curl_multi_remove_handle(s->multi, c);
		slot_finish(sl, rc);
		ended++;
	}
	return ended;
}

/* ---- the thread ---- */

/*
 * Waits up to ms, in steps, for a request to end, an insert into alerts to
 * be notified or a stop, running the requests meanwhile. Returns true early
 * on an ended request or a notification.
 */
static bool wait_for_work(struct sender *s, int ms)
{
	int64_t until = mentor_monotonic_us() + (int64_t)ms * 1000, left;

	while (!stopping(s) && (left = until - mentor_monotonic_us()) > 0) {
		struct curl_waitfd pg = { .fd = s->outbox ? mentor_outbox_socket(s->outbox) : -1,
					  .events = CURL_WAIT_POLLIN };
		int step = left / 1000 < STEP_MS ? (int)(left / 1000) + 1 : STEP_MS;

		curl_multi_poll(s->multi, pg.fd >= 0 ? &pg : NULL, pg.fd >= 0 ? 1 : 0, step, NULL);
		if (transfers_run(s) > 0)
			return true;
		if (s->outbox && mentor_outbox_wait(s->outbox, 0))
			return true;
	}
	return false;
}

/* Records the outcomes of ended requests; kept for later when the connection is lost. */
static void record_ended(struct sender *s)
{
	for (int i = 0; i < SLOTS && s->outbox; i++) {
		struct slot *sl = &s->slots[i];
		struct mentor_error err = { 0 };

		if (sl->state != SLOT_DONE)
			continue;
		if (mentor_outbox_record(s->outbox, &sl->alert, &sl->outcome, &err) != MENTOR_OK) {
			if (!mentor_outbox_connected(s->outbox)) {
				drop_if_lost(s);
				return;
			}
			/* The row stays claimed and pending: sent again, same webhook-id, once its lease expires. */
			log_warning("alerts: recording the outcome of alert %s failed, it will be sent again: %s",
				    sl->alert.alert_id, err.msg);
		}
		slot_clear(sl);
	}
}

/* Renews the leases of the alerts in flight or waiting to be recorded, three times per lease. */
static void renew_leases(struct sender *s)
{
	const char *ids[SLOTS];
	int n = 0;
	int64_t now = mentor_monotonic_us();
	struct mentor_error err = { 0 };

	if (now - s->renewed_us < ((int64_t)s->cfg.request_timeout_ms + MENTOR_OUTBOX_LEASE_MARGIN_MS) * 1000 / 3)
		return;
	for (int i = 0; i < SLOTS; i++)
		if (s->slots[i].state != SLOT_FREE)
			ids[n++] = s->slots[i].alert.alert_id;
	s->renewed_us = now;
	if (n == 0)
		return;
	if (mentor_outbox_renew(s->outbox, ids, n, &err) != MENTOR_OK) {
		if (mentor_outbox_connected(s->outbox))
			log_warning("alerts: renewing the leases of %d alert%s in flight failed: %s", n,
				    n == 1 ? "" : "s", err.msg);
		drop_if_lost(s);
	}
}

/*
 * Claims due alerts for the free slots, none of a lead already in flight,
 * and starts their requests. Returns true when more may be due now.
 */
static bool claim_and_start(struct sender *s)
{
	struct mentor_outbox_claim c = { 0 };
	struct mentor_error err = { 0 };
	const char *busy[SLOTS];
	int n_busy = 0, next = 0;
	bool more;

	for (int i = 0; i < SLOTS; i++)
		if (s->slots[i].state != SLOT_FREE)
			busy[n_busy++] = s->slots[i].alert.lead ? s->slots[i].alert.lead : "";
	if (mentor_outbox_claim(s->outbox, busy, n_busy, SLOTS - n_busy, &c, &err) != MENTOR_OK) {
		/* A lost connection (usually found by the claim's BEGIN) is for the reconnection to report. */
		if (mentor_outbox_connected(s->outbox))
			log_warning("alerts: claiming due alerts failed: %s", err.msg);
		drop_if_lost(s);
		return false;
	}
	if (c.no_table && !s->waiting_for_schema)
		log_debug("alerts: waiting for the alerts table (migration 002)");
	s->waiting_for_schema = c.no_table;
	for (int i = 0; i < c.n; i++) {
		while (s->slots[next].state != SLOT_FREE)
			next++;
		s->slots[next].alert = c.alerts[i];
		slot_start(s, &s->slots[next]);
	}
	more = c.due == MENTOR_OUTBOX_CLAIM_MAX && (c.n > 0 || c.settled > 0);
	c.n = 0;  /* the alerts moved to their slots */
	mentor_outbox_claim_clear(&c);
	count_pending(s);
	return more;
}

/* Opens the outbox connection. Returns true when connected. */
static bool connect_outbox(struct sender *s, const struct mentor_outbox_hooks *hooks, int *delay_ms,
			   bool *outage_logged)
{
	struct mentor_error err = { 0 };

	if (mentor_outbox_open(s->conninfo, s->schema, &s->cfg, hooks, &s->outbox, &err) != MENTOR_OK) {
		if (!*outage_logged)
			log_warning("alerts: PostgreSQL unreachable, retrying: %s", err.msg);
		*outage_logged = true;
		return false;
	}
	if (*outage_logged)
		log_notice("alerts: connected to PostgreSQL again");
	*outage_logged = false;
	*delay_ms = RECONNECT_MIN_MS;
	return true;
}

/* Stopping: requests in flight are abandoned, their rows handed back at once, not counted as attempts. */
static void abandon_all(struct sender *s)
{
	for (int i = 0; i < SLOTS; i++) {
		struct slot *sl = &s->slots[i];

		if (sl->state != SLOT_IN_FLIGHT)
			continue;
		curl_multi_remove_handle(s->multi, sl->curl);
		sl->outcome = (struct mentor_outbox_outcome){ .abandoned = true, .retry_after_ms = -1 };
		sl->state = SLOT_DONE;
	}
	record_ended(s);
	for (int i = 0; i < SLOTS; i++)
		if (s->slots[i].state != SLOT_FREE)
			slot_clear(&s->slots[i]);
}

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	const struct mentor_outbox_hooks hooks = {
		.report = on_report, .rand = sender_rand, .notice = log_pg_notice, .ctx = s,
	};
	int delay_ms = RECONNECT_MIN_MS;
	bool outage_logged = false, claim_now = true;
	int64_t next_poll_us = 0;

	while (!stopping(s)) {
		bool slot_free = false;

		if (!s->outbox && !connect_outbox(s, &hooks, &delay_ms, &outage_logged)) {
			wait_for_work(s, delay_ms);  /* requests in flight go on */
			delay_ms = delay_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : delay_ms * 2;
			continue;
		}
		record_ended(s);
		if (s->outbox)
			renew_leases(s);
		for (int i = 0; i < SLOTS; i++)
			slot_free = slot_free || s->slots[i].state == SLOT_FREE;
		if (s->outbox && slot_free && (claim_now || mentor_monotonic_us() >= next_poll_us)) {
			claim_now = claim_and_start(s);
			next_poll_us = mentor_monotonic_us() + (int64_t)s->cfg.poll_ms * 1000;
			if (claim_now)
				continue;
		}
		/* Until a request ends, an insert is notified, or the poll interval is up. */
		claim_now = wait_for_work(s, slot_free && s->outbox ?
					     (int)((next_poll_us - mentor_monotonic_us()) / 1000) + 1 : s->cfg.poll_ms);
	}
	abandon_all(s);
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
	for (int i = 0; i < SLOTS; i++)
		if (s->slots[i].curl)
			curl_easy_cleanup(s->slots[i].curl);
	if (s->multi)
		curl_multi_cleanup(s->multi);
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
	s->multi = curl_multi_init();
	for (int i = 0; i < SLOTS; i++) {
		s->slots[i].s = s;
		s->slots[i].curl = curl_easy_init();
		if (!s->slots[i].curl) {
			log_err("alerts: out of memory");
			goto out;
		}
	}
	if (!s->conninfo || !s->schema || !s->ca_path || !s->multi) {
		log_err("alerts: out of memory");
		goto out;
	}
	thread_rc = pthread_create(&s->thread, NULL, sender_main, s);
	if (thread_rc != 0) {
		log_err("alerts: cannot start the sender thread: %s", strerror(thread_rc));
		goto out;
	}
	log_info("alerts: sender started (poll %d ms, %d per lead per hour%s, up to %d requests at once%s)",
		 s->cfg.poll_ms, s->cfg.max_per_lead_per_hour, s->cfg.max_per_lead_per_hour ? "" : " = no limit", SLOTS,
		 s->cfg.allow_private ? ", private addresses allowed" : "");
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
