/*
 * The alert sender thread. One loop:
 *
 *  1. claim: in one short transaction, lock the due pending rows
 *     (FOR UPDATE SKIP LOCKED, so other instances take other rows), settle
 *     those that need no HTTP (too old: recorded; no route: retried later;
 *     disabled route: dead; over the lead's rate limit: deferred), push the
 *     others' next_attempt_at past the request timeout so nobody else sends
 *     them meanwhile, and commit;
 *  2. send each with libcurl, outside any transaction;
 *  3. record: in a second short transaction, write every outcome.
 *
 * If mentord dies between 2 and 3, the rows are still pending and are sent
 * again once their claim expires, with the same webhook-id: delivery is at
 * least once, and receivers deduplicate on the id.
 */
#include "sender.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
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

#include "clock.h"
#include "log.h"
#include "mentor/alerts.h"

/* Rows claimed per round: small, so that a claim never outlives its timeout by much. */
#define CLAIM_MAX 16
/* The claim's margin over the request timeout, for the record transaction. */
#define CLAIM_MARGIN_MS 10000
/* Waits are cut into steps this long, to see the stop flag. */
#define STEP_MS 100
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
/* Longest Retry-After honoured; beyond it the horizon decides anyway. */
#define RETRY_AFTER_MAX_MS (24LL * 3600 * 1000)
#define NOTIFY_CHANNEL "mentord_alerts"

struct sender {
	/* Copied from the configuration at start. */
	char *conninfo, *schema, *ca_path;
	struct mentor_alerts_config cfg;
	struct mentor_alert_retry_policy policy;

	const volatile sig_atomic_t *stop_signal;
	atomic_bool stop;
	pthread_t thread;

	PGconn *conn;
	CURL *curl;
	uint64_t rng;
	bool waiting_for_schema;

	_Atomic uint64_t sent, retried, failed, dead, recorded, throttled;
	_Atomic int64_t pending;  /* outbox depth as last counted; -1 before the first count */
};

/* One claimed row and, after sending, its outcome. */
struct claim {
	char *alert_id, *kind, *lead, *payload;
	char *route_id, *url, *format, *secret_ref;
	int attempts;
	int64_t outbox_age_ms;  /* now - created_at, for the horizon */

	/* Outcome of the attempt. */
	enum mentor_alert_outcome outcome;
	bool abandoned;          /* stopped mid-request: not an attempt */
	long status;             /* HTTP status, 0 for none */
	int64_t retry_after_ms;  /* -1 when none honoured */
	char error[256];
};

static bool stopping(const struct sender *s)
{
	return atomic_load(&s->stop) || *s->stop_signal;
}

/* xorshift64*: the backoff's random source, one per sender, no shared state. */
static uint64_t sender_rand(void *ctx)
{
	uint64_t *x = ctx;

	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1DULL;
}

/* ---- PostgreSQL ---- */

static void db_drop(struct sender *s)
{
	PQfinish(s->conn);
	s->conn = NULL;
}

static bool db_failed(PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	return st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK;
}

/* First line of the connection's error message, for one log line. */
static const char *db_error(const struct sender *s, char *buf, size_t len)
{
	const char *msg = s->conn ? PQerrorMessage(s->conn) : "no connection";

	snprintf(buf, len, "%s", msg);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static PGresult *db_exec(struct sender *s, const char *sql, int n, const char *const *params)
{
	return PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
}

/* Runs a command whose result is not needed. Returns 0 or -1. */
static int db_command(struct sender *s, const char *sql, int n, const char *const *params)
{
	PGresult *res = db_exec(s, sql, n, params);
	int rc = db_failed(res) ? -1 : 0;

	PQclear(res);
	return rc;
}

static int db_connect(struct sender *s, char *errbuf, size_t errlen)
{
	char sql[128];

	s->conn = PQconnectdb(s->conninfo);
	if (PQstatus(s->conn) != CONNECTION_OK) {
		db_error(s, errbuf, errlen);
		db_drop(s);
		return -1;
	}
	PQsetNoticeProcessor(s->conn, log_pg_notice, NULL);
	/* The schema name was validated as a plain identifier by the configuration. */
	snprintf(sql, sizeof(sql), "SET search_path = %s", s->schema);
	if (db_command(s, sql, 0, NULL) != 0 || db_command(s, "SET TIME ZONE 'UTC'", 0, NULL) != 0 ||
	    db_command(s, "LISTEN " NOTIFY_CHANNEL, 0, NULL) != 0) {
		db_error(s, errbuf, errlen);
		db_drop(s);
		return -1;
	}
	return 0;
}

/*
 * Waits up to ms, in steps, until stopped or an insert into alerts is
 * notified (the trigger of 002_alerts.sql). Returns early on either.
 */
static void wait_for_work(struct sender *s, int ms)
{
	for (int waited = 0; waited < ms && !stopping(s); waited += STEP_MS) {
		int step = ms - waited < STEP_MS ? ms - waited : STEP_MS;
		struct pollfd pfd = { .fd = s->conn ? PQsocket(s->conn) : -1, .events = POLLIN };
		PGnotify *n;
		bool notified = false;

		/* Notifications that came in with a query result are already buffered. */
		while (s->conn && (n = PQnotifies(s->conn))) {
			notified = true;
			PQfreemem(n);
		}
		if (notified)
			return;
		if (pfd.fd < 0) {
			struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)step * 1000000 };

			nanosleep(&ts, NULL);
			continue;
		}
		if (poll(&pfd, 1, step) <= 0)
			continue;
		if (!PQconsumeInput(s->conn))
			return;  /* the connection broke: the next statement finds out */
		while ((n = PQnotifies(s->conn))) {
			notified = true;
			PQfreemem(n);
		}
		if (notified)
			return;
	}
}

/* ---- claim ---- */

static const char claim_sql[] =
	"SELECT a.alert_id, a.kind, a.team_lead_id, a.attempts, a.payload::text,"
	"       (extract(epoch FROM now() - a.created_at) * 1000)::bigint,"
	"       r.team_lead_id, r.webhook_url, r.body_format, r.secret_ref,"
	"       r.webhook_disabled_at IS NOT NULL, r.webhook_disabled_reason,"
	"       w.n, (extract(epoch FROM w.oldest + interval '1 hour' - now()) * 1000)::bigint"
	"  FROM alerts a"
	"  LEFT JOIN LATERAL (SELECT t.team_lead_id, t.webhook_url, t.body_format, t.secret_ref,"
	"                            t.webhook_disabled_at, t.webhook_disabled_reason"
	"                       FROM team_leads t"
	"                      WHERE t.webhook_url IS NOT NULL AND t.team_lead_id IN (a.team_lead_id, '*')"
	"                      ORDER BY t.team_lead_id = '*' LIMIT 1) r ON true"
	"  CROSS JOIN LATERAL (SELECT count(*) AS n, min(x.sent_at) AS oldest FROM alerts x"
	"                       WHERE x.status = 'sent' AND coalesce(x.team_lead_id, '') = coalesce(a.team_lead_id, '')"
	"                         AND x.sent_at > now() - interval '1 hour') w"
	" WHERE a.status = 'pending' AND a.next_attempt_at <= now()"
	" ORDER BY a.next_attempt_at"
	" LIMIT $1"
	" FOR UPDATE OF a SKIP LOCKED";

static const char reschedule_sql[] =
	"UPDATE alerts SET next_attempt_at = now() + make_interval(secs => $2::bigint / 1000.0) WHERE alert_id = $1";

/* A failed attempt: attempts + 1, then retry after delay_ms, or dead past the horizon. */
static const char fail_sql[] =
	"UPDATE alerts SET attempts = attempts + 1, last_error = $2, last_status_code = $3::integer,"
	"       status = CASE WHEN $4::boolean THEN 'pending' ELSE 'dead' END,"
	"       next_attempt_at = CASE WHEN $4::boolean THEN now() + make_interval(secs => $5::bigint / 1000.0)"
	"                              ELSE next_attempt_at END"
	" WHERE alert_id = $1 AND status = 'pending'";

static void claim_free(struct claim *c)
{
	free(c->alert_id);
	free(c->kind);
	free(c->lead);
	free(c->payload);
	free(c->route_id);
	free(c->url);
	free(c->format);
	free(c->secret_ref);
	memset(c, 0, sizeof(*c));
}

static char *value_or_null(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

/*
 * Schedules a failed attempt (or gives up past the horizon). Returns 0, or
 * -1 when the update failed. *ret_dead says which.
 */
static int schedule_failure(struct sender *s, const struct claim *c, const char *error, long status,
			    int64_t retry_after_ms, bool *ret_dead)
{
	int64_t delay = retry_after_ms >= 0 ? retry_after_ms
					    : mentor_alert_backoff_ms(&s->policy, c->attempts + 1, sender_rand, &s->rng);
	bool retry = mentor_alert_within_horizon(&s->policy, c->outbox_age_ms, delay);
	char status_text[16], delay_text[24];
	const char *params[5] = { c->alert_id, error, status_text, retry ? "true" : "false", delay_text };

	snprintf(status_text, sizeof(status_text), "%ld", status);
	snprintf(delay_text, sizeof(delay_text), "%" PRId64, delay);
	if (status == 0)
		params[2] = NULL;
	*ret_dead = !retry;
	if (db_command(s, fail_sql, 5, params) != 0)
		return -1;
	atomic_fetch_add(&s->failed, 1);
	atomic_fetch_add(retry ? &s->retried : &s->dead, 1);
	if (retry)
		log_warning("alert %s (lead %s): attempt %d failed: %s; next attempt in %.1f s", c->alert_id,
			    c->lead ? c->lead : "none", c->attempts + 1, error, (double)delay / 1000);
	else
		log_warning("alert %s (lead %s): attempt %d failed: %s; giving up after %d hours (dead)", c->alert_id,
			    c->lead ? c->lead : "none", c->attempts + 1, error, s->cfg.max_attempt_hours);
	return 0;
}

/* Per lead, how many alerts this round already takes: the rate limit counts them too. */
struct lead_count {
	const char *lead;
	int n;
};

static int *lead_taken(struct lead_count *counts, int *n_counts, const char *lead)
{
	const char *key = lead ? lead : "";

	for (int i = 0; i < *n_counts; i++)
		if (strcmp(counts[i].lead, key) == 0)
			return &counts[i].n;
	counts[*n_counts] = (struct lead_count){ .lead = key, .n = 0 };
	return &counts[(*n_counts)++].n;
}

/*
 * A replay of old events must not page anyone: due alerts never tried and
 * older than max_age_seconds are kept as 'recorded', not sent, all in one
 * statement (a drain records thousands). The claim that follows, in the same
 * transaction and so at the same now(), sees none of them. Only called
 * with a max_age_seconds.
 */
static PGresult *record_old(struct sender *s)
{
	char max_age[24];
	const char *params[1] = { max_age };

	snprintf(max_age, sizeof(max_age), "%d", s->cfg.max_age_seconds);
	return db_exec(s,
		       "UPDATE alerts SET status = 'recorded',"
		       "   last_error = 'older than [alerts] max_age_seconds at first send'"
		       " WHERE alert_id IN (SELECT alert_id FROM alerts WHERE status = 'pending' AND attempts = 0"
		       "   AND next_attempt_at <= now() AND occurred_at < now() - $1::integer * interval '1 second'"
		       "   FOR UPDATE SKIP LOCKED)",
		       1, params);
}

/*
 * Claims due rows into out[] (the ones to send) and settles the others.
 * Returns how many rows were due (sent or settled), or -1 on a database
 * error (rolled back).
 */
static int claim(struct sender *s, struct claim *out, int *ret_n_out)
{
	char limit[16], claim_ms[24], errbuf[256];
	const char *params[2];
	struct lead_count counts[CLAIM_MAX];
	int n_counts = 0, n_out = 0, rows;
	PGresult *res;

	*ret_n_out = 0;
	snprintf(limit, sizeof(limit), "%d", CLAIM_MAX);
	snprintf(claim_ms, sizeof(claim_ms), "%d", s->cfg.request_timeout_ms + CLAIM_MARGIN_MS);
	if (db_command(s, "BEGIN", 0, NULL) != 0)
		return -1;
	res = s->cfg.max_age_seconds > 0 ? record_old(s) : NULL;
	if (res && !db_failed(res)) {
		atomic_fetch_add(&s->recorded, strtoll(PQcmdTuples(res), NULL, 10));
		PQclear(res);
		res = NULL;
	}
	if (!res) {
		params[0] = limit;
		res = db_exec(s, claim_sql, 1, params);
	}
	if (db_failed(res)) {
		const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		/* Before ingest has applied the migration, the table is not there yet: wait quietly. */
		if (state && strcmp(state, "42P01") == 0) {
			if (!s->waiting_for_schema)
				log_debug("alerts: waiting for the alerts table (migration 002)");
			s->waiting_for_schema = true;
			PQclear(res);
			db_command(s, "ROLLBACK", 0, NULL);
			return 0;
		}
		log_warning("alerts: claiming due alerts failed: %s", db_error(s, errbuf, sizeof(errbuf)));
		PQclear(res);
		db_command(s, "ROLLBACK", 0, NULL);
		return -1;
	}
	s->waiting_for_schema = false;
	rows = PQntuples(res);
	for (int i = 0; i < rows; i++) {
		struct claim c = {
			.alert_id = value_or_null(res, i, 0), .kind = value_or_null(res, i, 1),
			.lead = value_or_null(res, i, 2), .attempts = atoi(PQgetvalue(res, i, 3)),
			.payload = value_or_null(res, i, 4), .outbox_age_ms = strtoll(PQgetvalue(res, i, 5), NULL, 10),
			.route_id = value_or_null(res, i, 6), .url = value_or_null(res, i, 7),
			.format = value_or_null(res, i, 8), .secret_ref = value_or_null(res, i, 9),
			.retry_after_ms = -1,
		};
		bool route_disabled = strcmp(PQgetvalue(res, i, 10), "t") == 0;
		long sent_last_hour = atol(PQgetvalue(res, i, 12));
		/* Keyed by the result's own string: c.lead is freed when the row is settled below. */
		int *taken = lead_taken(counts, &n_counts, PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2));
		char error[300];
		bool dead;
		int rc = 0;

		if (!c.alert_id || !c.kind || !c.payload) {
			log_err("alerts: out of memory");
			claim_free(&c);
			rc = -1;
		} else if (!c.url) {
			snprintf(error, sizeof(error), "no webhook route: team lead %s has no webhook_url and the "
				 "default route '*' has none", c.lead ? c.lead : "(none)");
			rc = schedule_failure(s, &c, error, 0, -1, &dead);
			claim_free(&c);
		} else if (route_disabled) {
			const char *p[2] = { c.alert_id, NULL };

			snprintf(error, sizeof(error), "route %s is disabled: %s", c.route_id,
				 PQgetisnull(res, i, 11) ? "by an operator" : PQgetvalue(res, i, 11));
			p[1] = error;
			rc = db_command(s, "UPDATE alerts SET status = 'dead', last_error = $2 WHERE alert_id = $1", 2, p);
			if (rc == 0)
				atomic_fetch_add(&s->dead, 1);
			claim_free(&c);
		} else if (s->cfg.max_per_lead_per_hour > 0 &&
			   sent_last_hour + *taken >= s->cfg.max_per_lead_per_hour) {
			/* Over the lead's hourly budget: wait, still pending, until the oldest send leaves the window. */
			char wait_ms[24];
			int64_t free_ms = PQgetisnull(res, i, 13) ? 3600 * 1000 : strtoll(PQgetvalue(res, i, 13), NULL, 10);
			const char *p[2] = { c.alert_id, wait_ms };

			snprintf(wait_ms, sizeof(wait_ms), "%" PRId64, free_ms > 1000 ? free_ms : 1000);
			rc = db_command(s, reschedule_sql, 2, p);
			if (rc == 0)
				atomic_fetch_add(&s->throttled, 1);
			claim_free(&c);
		} else {
			const char *p[2] = { c.alert_id, claim_ms };

			rc = db_command(s, reschedule_sql, 2, p);
			(*taken)++;
			out[n_out++] = c;
		}
		if (rc != 0) {
			log_warning("alerts: claiming due alerts failed: %s", db_error(s, errbuf, sizeof(errbuf)));
			PQclear(res);
			db_command(s, "ROLLBACK", 0, NULL);
			for (int j = 0; j < n_out; j++)
				claim_free(&out[j]);
			return -1;
		}
	}
	PQclear(res);
	if (db_command(s, "COMMIT", 0, NULL) != 0) {
		log_warning("alerts: committing the claim failed: %s", db_error(s, errbuf, sizeof(errbuf)));
		for (int j = 0; j < n_out; j++)
			claim_free(&out[j]);
		return -1;
	}
	*ret_n_out = n_out;
	return rows;
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

/* Renders, signs and posts one alert; fills the outcome fields of c. */
static void deliver(struct sender *s, struct claim *c)
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

	c->outcome = MENTOR_ALERT_RETRY;
	c->status = 0;
	if (mentor_alert_format_parse(c->format, &format) != MENTOR_OK) {
		snprintf(c->error, sizeof(c->error), "route %s: unknown body_format", c->route_id);
		return;
	}
	if (mentor_alert_render(format, c->kind, c->payload, &body, &err) != MENTOR_OK) {
		snprintf(c->error, sizeof(c->error), "%.200s", err.msg);
		return;
	}
	/* No secret_ref: unsigned, as Slack and Teams hooks are (their URL is the secret). */
	if (c->secret_ref) {
		secrets = secret_read(c->secret_ref, c->error, sizeof(c->error));
		if (!secrets)
			goto out;
		if (mentor_alert_sign(c->alert_id, now, body, strlen(body), secrets, &signature, &err) != MENTOR_OK) {
			snprintf(c->error, sizeof(c->error), "secret_ref '%.80s': %.160s", c->secret_ref, err.msg);
			goto out;
		}
	}
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");  /* no 100-continue round trip */
	snprintf(header, sizeof(header), "webhook-id: %s", c->alert_id);
	headers = curl_slist_append(headers, header);
	snprintf(header, sizeof(header), "webhook-timestamp: %" PRId64, now);
	headers = curl_slist_append(headers, header);
	if (signature) {
		snprintf(header, sizeof(header), "webhook-signature: %s", signature);
		headers = curl_slist_append(headers, header);
	}
	if (!headers) {
		snprintf(c->error, sizeof(c->error), "out of memory");
		goto out;
	}

	curl_easy_reset(s->curl);
	curl_easy_setopt(s->curl, CURLOPT_URL, c->url);
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
		c->abandoned = true;
		snprintf(c->error, sizeof(c->error), "abandoned: mentord stopping");
		goto out;
	}
	if (rc != CURLE_OK) {
		/* The error buffer names the host or the TLS problem; the URL's path (a token, for Slack) is never in it. */
		snprintf(c->error, sizeof(c->error), "%s%s%s", curl_easy_strerror(rc), curl_error[0] ? ": " : "",
			 curl_error);
		goto out;
	}
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &c->status);
	c->outcome = mentor_alert_classify(c->status);
	if (c->outcome != MENTOR_ALERT_SENT)
		snprintf(c->error, sizeof(c->error), "HTTP %ld from route %s", c->status, c->route_id);
	if (c->outcome == MENTOR_ALERT_RETRY && mentor_alert_honours_retry_after(c->status) && resp.retry_after[0]) {
		int64_t delay;

		if (mentor_alert_retry_after_parse(resp.retry_after, (time_t)time(NULL), &delay))
			c->retry_after_ms = delay < RETRY_AFTER_MAX_MS ? delay : RETRY_AFTER_MAX_MS;
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

/* ---- record ---- */

static int record_one(struct sender *s, struct claim *c)
{
	char status_text[16];
	const char *p[2] = { c->alert_id, status_text };
	bool dead;

	snprintf(status_text, sizeof(status_text), "%ld", c->status);
	if (c->abandoned)
		return db_command(s, "UPDATE alerts SET next_attempt_at = now() WHERE alert_id = $1 AND status = 'pending'",
				  1, p);
	switch (c->outcome) {
	case MENTOR_ALERT_SENT:
		if (db_command(s, "UPDATE alerts SET status = 'sent', attempts = attempts + 1, sent_at = now(),"
				  " last_status_code = $2::integer, last_error = NULL"
				  " WHERE alert_id = $1 AND status = 'pending'", 2, p) != 0)
			return -1;
		atomic_fetch_add(&s->sent, 1);
		log_debug("alert %s (lead %s) sent to route %s: HTTP %ld", c->alert_id, c->lead ? c->lead : "none",
			  c->route_id, c->status);
		return 0;
	case MENTOR_ALERT_DISABLE_ROUTE:
		/* 410 Gone: the hook was removed. Stop using it, and stop trying this lead's alerts. */
		/* Every parameter must appear in its statement, or PostgreSQL cannot type it. */
		if (db_command(s, "UPDATE team_leads SET webhook_disabled_at = now(), webhook_disabled_reason = $2,"
				  " updated_at = now() WHERE team_lead_id = $1", 2,
				  (const char *const[]){ c->route_id, c->error }) != 0)
			return -1;
		if (db_command(s, "UPDATE alerts SET status = 'dead', attempts = attempts + 1,"
				  " last_status_code = 410, last_error = $2 WHERE alert_id = $1", 2,
				  (const char *const[]){ c->alert_id, c->error }) != 0)
			return -1;
		if (c->lead && db_command(s, "UPDATE alerts SET status = 'dead', last_error = $2"
					     " WHERE status = 'pending' AND team_lead_id = $1", 2,
					     (const char *const[]){ c->lead, c->error }) != 0)
			return -1;
		atomic_fetch_add(&s->failed, 1);
		atomic_fetch_add(&s->dead, 1);
		log_warning("alert %s (lead %s): %s: route disabled until its webhook_url is set again (dead)",
			    c->alert_id, c->lead ? c->lead : "none", c->error);
		return 0;
	case MENTOR_ALERT_RETRY:
		break;
	}
	return schedule_failure(s, c, c->error, c->status, c->retry_after_ms, &dead);
}

static int record(struct sender *s, struct claim *claims, int n)
{
	char errbuf[256];

	if (db_command(s, "BEGIN", 0, NULL) != 0)
		goto failed;
	for (int i = 0; i < n; i++)
		if (record_one(s, &claims[i]) != 0)
			goto failed;
	if (db_command(s, "COMMIT", 0, NULL) != 0)
		goto failed;
	return 0;
failed:
	/* The rows stay claimed and pending: they are sent again, same webhook-id, once the claim expires. */
	log_warning("alerts: recording %d outcome%s failed, they will be sent again: %s", n, n == 1 ? "" : "s",
		    db_error(s, errbuf, sizeof(errbuf)));
	db_command(s, "ROLLBACK", 0, NULL);
	return -1;
}

/* Counts the outbox for /metrics; the partial index alerts_due makes it cheap. */
static void count_pending(struct sender *s)
{
	PGresult *res = db_exec(s, "SELECT count(*) FROM alerts WHERE status = 'pending'", 0, NULL);

	if (!db_failed(res) && PQntuples(res) == 1)
		atomic_store(&s->pending, strtoll(PQgetvalue(res, 0, 0), NULL, 10));
	PQclear(res);
}

/* ---- the thread ---- */

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	struct claim claims[CLAIM_MAX];
	int delay_ms = RECONNECT_MIN_MS;
	bool outage_logged = false;
	char errbuf[256];

	while (!stopping(s)) {
		int due, n = 0;

		if (!s->conn) {
			if (db_connect(s, errbuf, sizeof(errbuf)) != 0) {
				if (!outage_logged)
					log_warning("alerts: PostgreSQL unreachable, retrying: %s", errbuf);
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
		due = claim(s, claims, &n);
		if (due < 0) {
			if (PQstatus(s->conn) != CONNECTION_OK)
				db_drop(s);
			wait_for_work(s, s->cfg.poll_ms);
			continue;
		}
		for (int i = 0; i < n; i++) {
			if (stopping(s))
				claims[i].abandoned = true;  /* handed back at once, not counted as an attempt */
			else
				deliver(s, &claims[i]);
		}
		if (n > 0 && record(s, claims, n) != 0 && PQstatus(s->conn) != CONNECTION_OK)
			db_drop(s);
		for (int i = 0; i < n; i++)
			claim_free(&claims[i]);
		if (s->conn)
			count_pending(s);
		/* A full claim means more may be due now; otherwise wait for an insert or the poll interval. */
		if (due < CLAIM_MAX)
			wait_for_work(s, s->cfg.poll_ms);
	}
	db_drop(s);
	return NULL;
}

static uint64_t seed(void)
{
	uint64_t x = 0;

	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
		x = (uint64_t)monotonic_us() ^ ((uint64_t)time(NULL) << 20);
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
	struct sender *s;
	int rc;

	*ret_sender = NULL;
	if (!cfg->alerts.enabled) {
		log_info("alerts: sender disabled ([alerts] enabled = false)");
		return 0;
	}
	/* Not thread-safe, so here in the main thread, before the sender exists. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err("alerts: libcurl initialization failed");
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		log_err("out of memory");
		return -1;
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
	mentor_alert_retry_policy_init(&s->policy);
	s->policy.base_ms = cfg->alerts.retry_base_ms;
	s->policy.horizon_ms = (int64_t)cfg->alerts.max_attempt_hours * 3600 * 1000;
	if (!s->conninfo || !s->schema || !s->ca_path || !s->curl) {
		log_err("alerts: out of memory");
		sender_free(s);
		return -1;
	}
	rc = pthread_create(&s->thread, NULL, sender_main, s);
	if (rc != 0) {
		log_err("alerts: cannot start the sender thread: %s", strerror(rc));
		sender_free(s);
		return -1;
	}
	log_info("alerts: sender started (poll %d ms, %d per lead per hour%s)", s->cfg.poll_ms,
		 s->cfg.max_per_lead_per_hour, s->cfg.max_per_lead_per_hour ? "" : " = no limit");
	*ret_sender = s;
	return 0;
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
