/*
 * The alerts outbox: claim, settle and record on a connection of its own.
 * See include/mentor/outbox.h.
 */
#include "mentor/outbox.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg.h"

/* Where 002_alerts.sql's trigger notifies an insert into alerts. */
#define NOTIFY_CHANNEL "mentord_alerts"
/* SQLSTATE undefined_table: the alerts table before migration 002. */
#define SQLSTATE_UNDEFINED_TABLE "42P01"

struct mentor_outbox {
	PGconn *conn;
	struct mentor_outbox_hooks hooks;
	struct mentor_alert_retry_policy policy;
	int max_age_seconds;        /* 0: no limit */
	int max_per_lead_per_hour;  /* 0: no limit */
	int lease_ms;               /* how long a claim or a renewal holds a row: the request timeout and a margin */
};

int mentor_outbox_open(const char *conninfo, const char *schema, const struct mentor_alerts_config *cfg,
		       const struct mentor_outbox_hooks *hooks, struct mentor_outbox **ret, struct mentor_error *err)
{
	struct mentor_outbox *ob = calloc(1, sizeof(*ob));
	int rc;

	if (!ob)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "outbox: out of memory");
	ob->hooks = *hooks;
	mentor_alert_retry_policy_init(&ob->policy);
	ob->policy.base_ms = cfg->retry_base_ms;
	ob->policy.horizon_ms = (int64_t)cfg->max_attempt_hours * 3600 * 1000;
	ob->max_age_seconds = cfg->max_age_seconds;
	ob->max_per_lead_per_hour = cfg->max_per_lead_per_hour;
	ob->policy.max_client_errors = cfg->max_client_error_attempts;
	ob->lease_ms = cfg->request_timeout_ms + MENTOR_OUTBOX_LEASE_MARGIN_MS;
	rc = mentor_pg_connect(conninfo, schema, hooks->notice, hooks->ctx, &ob->conn, err);
	if (rc != MENTOR_OK)
		goto out;
	rc = mentor_pg_command(ob->conn, "LISTEN " NOTIFY_CHANNEL, "listen for new alerts", err);
out:
	if (rc != MENTOR_OK)
		mentor_outbox_close(ob);
	else
		*ret = ob;
	return rc;
}

void mentor_outbox_close(struct mentor_outbox *ob)
{
	if (!ob)
		return;
	PQfinish(ob->conn);
	free(ob);
}

bool mentor_outbox_connected(const struct mentor_outbox *ob)
{
	return PQstatus(ob->conn) == CONNECTION_OK;
}

/* Consumes the notifications received so far; true if there was one. */
static bool take_notifications(struct mentor_outbox *ob)
{
	PGnotify *n;
	bool notified = false;

	while ((n = PQnotifies(ob->conn))) {
		notified = true;
		PQfreemem(n);
	}
	return notified;
}

bool mentor_outbox_wait(struct mentor_outbox *ob, int ms)
{
	struct pollfd pfd = { .fd = PQsocket(ob->conn), .events = POLLIN };

	/* Notifications that came in with a query result are already buffered. */
	if (take_notifications(ob))
		return true;
	if (pfd.fd < 0) {
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
		return false;
	}
	if (poll(&pfd, 1, ms) <= 0)
		return false;
	if (!PQconsumeInput(ob->conn))
		return true;
	return take_notifications(ob);
}

int mentor_outbox_socket(const struct mentor_outbox *ob)
{
	return PQsocket(ob->conn);
}

/*
 * A PostgreSQL text[] literal of n strings, each quoted, '"' and '\\'
 * escaped, for a parameter `$k::text[]`. Caller frees; NULL when out of memory.
 */
static char *text_array(const char *const *items, int n)
{
	size_t len = 3;
	char *out, *p;

	for (int i = 0; i < n; i++)
		len += 2 * strlen(items[i]) + 3;
	out = malloc(len);
	if (!out)
		return NULL;
	p = out;
	*p++ = '{';
	for (int i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (const char *c = items[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return out;
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
	"   AND coalesce(a.team_lead_id, '') <> ALL ($2::text[])"
	" ORDER BY a.next_attempt_at"
	" LIMIT $1"
	" FOR UPDATE OF a SKIP LOCKED";

/* The claim's columns past the alert's own: the route's disabled mark and the lead's sends in the hour. */
enum {
	COL_ROUTE_DISABLED = 10,
	COL_ROUTE_DISABLED_REASON = 11,
	COL_SENT_LAST_HOUR = 12,
	COL_OLDEST_LEAVES_MS = 13,
};

static const char reschedule_sql[] =
	"UPDATE alerts SET next_attempt_at = now() + make_interval(secs => $2::bigint / 1000.0) WHERE alert_id = $1";

static const char disabled_sql[] = "UPDATE alerts SET status = 'dead', last_error = $2 WHERE alert_id = $1";

/* A failed attempt: attempts + 1, then retry after delay_ms, or dead past the horizon. */
static const char fail_sql[] =
	"UPDATE alerts SET attempts = attempts + 1, last_error = $2, last_status_code = $3::integer,"
	"       status = CASE WHEN $4::boolean THEN 'pending' ELSE 'dead' END,"
	"       next_attempt_at = CASE WHEN $4::boolean THEN now() + make_interval(secs => $5::bigint / 1000.0)"
	"                              ELSE next_attempt_at END"
	" WHERE alert_id = $1 AND status = 'pending'";

void mentor_outbox_alert_free(struct mentor_outbox_alert *a)
{
	free(a->alert_id);
	free(a->kind);
	free(a->payload);
	free(a->lead);
	free(a->route_id);
	free(a->url);
	free(a->format);
	free(a->secret_ref);
	memset(a, 0, sizeof(*a));
}

void mentor_outbox_claim_clear(struct mentor_outbox_claim *c)
{
	for (int i = 0; i < c->n; i++)
		mentor_outbox_alert_free(&c->alerts[i]);
	memset(c, 0, sizeof(*c));
}

/* Copies a column (NULL stays NULL). False when out of memory. */
static bool copy_value(const PGresult *res, int row, int col, char **ret)
{
	if (PQgetisnull(res, row, col)) {
		*ret = NULL;
		return true;
	}
	*ret = strdup(PQgetvalue(res, row, col));
	return *ret != NULL;
}

/* The alert and route of one claimed row. False when out of memory (a is freed). */
static bool alert_from_row(const PGresult *res, int row, struct mentor_outbox_alert *a)
{
	bool ok;

	*a = (struct mentor_outbox_alert){
		.attempts = atoi(PQgetvalue(res, row, 3)),
		.outbox_age_ms = strtoll(PQgetvalue(res, row, 5), NULL, 10),
	};
	ok = copy_value(res, row, 0, &a->alert_id) && copy_value(res, row, 1, &a->kind) &&
	     copy_value(res, row, 2, &a->lead) && copy_value(res, row, 4, &a->payload) &&
	     copy_value(res, row, 6, &a->route_id) && copy_value(res, row, 7, &a->url) &&
	     copy_value(res, row, 8, &a->format) && copy_value(res, row, 9, &a->secret_ref);
	if (!ok)
		mentor_outbox_alert_free(a);
	return ok;
}

static void report(struct mentor_outbox *ob, const struct mentor_outbox_report *r)
{
	ob->hooks.report(ob->hooks.ctx, r);
}

/*
 * Writes a failed attempt that came to result: scheduled again, or dead (past
 * the horizon, client errors, a refused route). MENTOR_OK or MENTOR_ERR_DB.
 */
static int schedule_failure(struct mentor_outbox *ob, const struct mentor_outbox_alert *a,
			    enum mentor_alert_outcome result, const char *error, long status, int64_t retry_after_ms,
			    struct mentor_error *err)
{
	int64_t delay;
	bool retry = mentor_alert_next_attempt(&ob->policy, result, a->attempts + 1, a->outbox_age_ms, retry_after_ms,
					       ob->hooks.rand, ob->hooks.ctx, &delay);
	char status_text[16], delay_text[24];
	const char *params[5] = { a->alert_id, error, status == 0 ? NULL : status_text, retry ? "true" : "false",
				  delay_text };
	int rc;

	snprintf(status_text, sizeof(status_text), "%ld", status);
	snprintf(delay_text, sizeof(delay_text), "%" PRId64, delay);
	rc = mentor_pg_exec(ob->conn, fail_sql, 5, params, "schedule the next attempt", NULL, err);
	if (rc != MENTOR_OK)
		return rc;
	report(ob, &(struct mentor_outbox_report){ .event = retry ? MENTOR_OUTBOX_RETRY : MENTOR_OUTBOX_DEAD,
						   .alert = a, .attempt = a->attempts + 1, .result = result,
						   .error = error, .delay_ms = delay });
	return MENTOR_OK;
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

static const char record_old_sql[] =
	"UPDATE alerts SET status = 'recorded', last_error = 'older than [alerts] max_age_seconds at first send'"
	" WHERE alert_id IN (SELECT alert_id FROM alerts WHERE status = 'pending' AND attempts = 0"
	"                      AND next_attempt_at <= now()"
	"                      AND occurred_at < now() - $1::integer * interval '1 second'"
	"                    FOR UPDATE SKIP LOCKED)";

/*
 * A replay of old events must not page anyone: due alerts never tried and
 * older than max_age_seconds are kept as 'recorded', not sent, all in one
 * statement (a drain records thousands). The claim that follows, in the same
 * transaction and so at the same now(), sees none of them. Only called
 * with a max_age_seconds.
 */
static int record_old(struct mentor_outbox *ob, struct mentor_error *err)
{
	char max_age[24];
	const char *params[1] = { max_age };
	PGresult *res;
	int64_t n;
	int rc;

	snprintf(max_age, sizeof(max_age), "%d", ob->max_age_seconds);
	rc = mentor_pg_exec(ob->conn, record_old_sql, 1, params, "record old alerts", &res, err);
	if (rc != MENTOR_OK)
		return rc;
	n = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	if (n > 0)
		report(ob, &(struct mentor_outbox_report){ .event = MENTOR_OUTBOX_RECORDED, .n = n });
	return MENTOR_OK;
}

/*
 * Settles claimed row i, or takes it into ret->alerts to be sent, or leaves
 * it due when its lead already has one taken this round or max_send are
 * taken. taken is its lead's count of alerts taken this round (0 or 1).
 * MENTOR_OK, MENTOR_ERR_DB or MENTOR_ERR_NOMEM.
 */
static int settle_row(struct mentor_outbox *ob, const PGresult *res, int i, int *taken, int max_send,
		      struct mentor_outbox_claim *ret, struct mentor_error *err)
{
	struct mentor_outbox_alert a;
	char error[300], ms_text[24];
	int64_t throttle_ms;
	int rc;

	if (!alert_from_row(res, i, &a))
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "outbox: out of memory claiming alerts");
	throttle_ms = mentor_alert_throttle_ms(ob->max_per_lead_per_hour, atol(PQgetvalue(res, i, COL_SENT_LAST_HOUR)),
					       *taken, PQgetisnull(res, i, COL_OLDEST_LEAVES_MS) ? -1 :
					       strtoll(PQgetvalue(res, i, COL_OLDEST_LEAVES_MS), NULL, 10));
	if (!a.url) {
		snprintf(error, sizeof(error), "no webhook route: team lead %s has no webhook_url and the "
			 "default route '*' has none", a.lead ? a.lead : "(none)");
		rc = schedule_failure(ob, &a, MENTOR_ALERT_RETRY, error, 0, -1, err);
	} else if (strcmp(PQgetvalue(res, i, COL_ROUTE_DISABLED), "t") == 0) {
		snprintf(error, sizeof(error), "route %s is disabled: %s", a.route_id,
			 PQgetisnull(res, i, COL_ROUTE_DISABLED_REASON) ? "by an operator" :
			 PQgetvalue(res, i, COL_ROUTE_DISABLED_REASON));
		rc = mentor_pg_exec(ob->conn, disabled_sql, 2, (const char *const[]){ a.alert_id, error },
				    "give up alert of a disabled route", NULL, err);
		if (rc == MENTOR_OK)
			report(ob, &(struct mentor_outbox_report){ .event = MENTOR_OUTBOX_DISABLED, .alert = &a });
	} else if (throttle_ms > 0) {
		/* Over the lead's hourly budget: wait, still pending, until the oldest send leaves the window. */
		snprintf(ms_text, sizeof(ms_text), "%" PRId64, throttle_ms);
		rc = mentor_pg_exec(ob->conn, reschedule_sql, 2, (const char *const[]){ a.alert_id, ms_text },
				    "defer throttled alert", NULL, err);
		if (rc == MENTOR_OK)
			report(ob, &(struct mentor_outbox_report){ .event = MENTOR_OUTBOX_THROTTLED, .alert = &a,
								   .delay_ms = throttle_ms });
	} else if (*taken > 0 || ret->n >= max_send) {
		/* Its lead's earlier alert goes first, or no room: due as it is, for a later claim. */
		mentor_outbox_alert_free(&a);
		return MENTOR_OK;
	} else {
		snprintf(ms_text, sizeof(ms_text), "%d", ob->lease_ms);
		rc = mentor_pg_exec(ob->conn, reschedule_sql, 2, (const char *const[]){ a.alert_id, ms_text },
				    "claim alert", NULL, err);
		(*taken)++;
		ret->alerts[ret->n++] = a;
		return rc;
	}
	if (rc == MENTOR_OK)
		ret->settled++;
	mentor_outbox_alert_free(&a);
	return rc;
}

int mentor_outbox_claim(struct mentor_outbox *ob, const char *const *busy_leads, int n_busy, int max_send,
			struct mentor_outbox_claim *ret, struct mentor_error *err)
{
	char limit[16];
	char *busy = text_array(busy_leads, n_busy);
	const char *params[2] = { limit, busy };
	struct lead_count counts[MENTOR_OUTBOX_CLAIM_MAX];
	struct mentor_outbox_claim c = { 0 };
	struct mentor_error e = { 0 };  /* here first: a missing table is no error */
	int n_counts = 0;
	PGresult *res = NULL;
	int rc;

	if (!busy) {
		rc = mentor_error_set(&e, MENTOR_ERR_NOMEM, "outbox: out of memory claiming alerts");
		goto out;
	}
	snprintf(limit, sizeof(limit), "%d", MENTOR_OUTBOX_CLAIM_MAX);
	rc = mentor_pg_command(ob->conn, "BEGIN", "begin the claim", &e);
	if (rc != MENTOR_OK)
		goto out;
	if (ob->max_age_seconds > 0)
		rc = record_old(ob, &e);
	if (rc == MENTOR_OK)
		rc = mentor_pg_exec(ob->conn, claim_sql, 2, params, "claim due alerts", &res, &e);
	if (rc != MENTOR_OK && strcmp(e.sqlstate, SQLSTATE_UNDEFINED_TABLE) == 0) {
		/* Before ingest has applied the migration. */
		c.no_table = true;
		rc = MENTOR_OK;
		goto rollback;
	}
	if (rc != MENTOR_OK)
		goto rollback;
	c.due = PQntuples(res);
	for (int i = 0; i < c.due && rc == MENTOR_OK; i++) {
		/* Keyed by the result's own string, which outlives the loop. */
		int *taken = lead_taken(counts, &n_counts, PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2));

		rc = settle_row(ob, res, i, taken, max_send, &c, &e);
	}
	PQclear(res);
	if (rc == MENTOR_OK)
		rc = mentor_pg_command(ob->conn, "COMMIT", "commit the claim", &e);
	if (rc == MENTOR_OK)
		goto out;
rollback:
	mentor_pg_command(ob->conn, "ROLLBACK", "roll back the claim", NULL);
out:
	free(busy);
	if (rc == MENTOR_OK) {
		*ret = c;
	} else {
		mentor_outbox_claim_clear(&c);
		if (err)
			*err = e;
	}
	return rc;
}

/* ---- record ---- */

/* Due at once, and back ahead of its lead's later alerts: the claim takes rows in next_attempt_at order. */
static const char hand_back_sql[] =
	"UPDATE alerts SET next_attempt_at = least(created_at, now()) WHERE alert_id = $1 AND status = 'pending'";

static const char sent_sql[] =
	"UPDATE alerts SET status = 'sent', attempts = attempts + 1, sent_at = now(),"
	"       last_status_code = $2::integer, last_error = NULL"
	" WHERE alert_id = $1 AND status = 'pending'";

/* 410 Gone: the route disabled, its alert dead, and every pending alert of the same lead. */
static const char disable_route_sql[] =
	"UPDATE team_leads SET webhook_disabled_at = now(), webhook_disabled_reason = $2, updated_at = now()"
	" WHERE team_lead_id = $1";
static const char gone_sql[] =
	"UPDATE alerts SET status = 'dead', attempts = attempts + 1, last_status_code = 410, last_error = $2"
	" WHERE alert_id = $1";
static const char lead_dead_sql[] =
	"UPDATE alerts SET status = 'dead', last_error = $2 WHERE status = 'pending' AND team_lead_id = $1";

/* The statements of record(), in its transaction. */
static int record_outcome(struct mentor_outbox *ob, const struct mentor_outbox_alert *a,
			  const struct mentor_outbox_outcome *o, struct mentor_error *err)
{
	char status_text[16];
	const char *params[2] = { a->alert_id, status_text };
	int rc;

	snprintf(status_text, sizeof(status_text), "%ld", o->status);
	if (o->abandoned)
		return mentor_pg_exec(ob->conn, hand_back_sql, 1, params, "hand back alert", NULL, err);
	switch (o->result) {
	case MENTOR_ALERT_SENT:
		rc = mentor_pg_exec(ob->conn, sent_sql, 2, params, "record sent alert", NULL, err);
		if (rc == MENTOR_OK)
			report(ob, &(struct mentor_outbox_report){ .event = MENTOR_OUTBOX_SENT, .alert = a,
								   .status = o->status });
		return rc;
	case MENTOR_ALERT_DISABLE_ROUTE:
		/* The hook was removed: stop using it, and stop trying this lead's alerts. */
		/* Every parameter must appear in its statement, or PostgreSQL cannot type it. */
		rc = mentor_pg_exec(ob->conn, disable_route_sql, 2, (const char *const[]){ a->route_id, o->error },
				    "disable route", NULL, err);
		if (rc == MENTOR_OK)
			rc = mentor_pg_exec(ob->conn, gone_sql, 2, (const char *const[]){ a->alert_id, o->error },
					    "record alert of a gone route", NULL, err);
		if (rc == MENTOR_OK && a->lead)
			rc = mentor_pg_exec(ob->conn, lead_dead_sql, 2, (const char *const[]){ a->lead, o->error },
					    "give up the lead's alerts", NULL, err);
		if (rc == MENTOR_OK)
			report(ob, &(struct mentor_outbox_report){ .event = MENTOR_OUTBOX_GONE, .alert = a,
								   .error = o->error, .status = o->status });
		return rc;
	case MENTOR_ALERT_RETRY:
	case MENTOR_ALERT_CLIENT_ERROR:
	case MENTOR_ALERT_REFUSED_ROUTE:
		break;
	}
	return schedule_failure(ob, a, o->result, o->error, o->status, o->retry_after_ms, err);
}

int mentor_outbox_record(struct mentor_outbox *ob, const struct mentor_outbox_alert *a,
			 const struct mentor_outbox_outcome *o, struct mentor_error *err)
{
	int rc = mentor_pg_command(ob->conn, "BEGIN", "begin recording an outcome", err);

	if (rc == MENTOR_OK)
		rc = record_outcome(ob, a, o, err);
	if (rc == MENTOR_OK)
		rc = mentor_pg_command(ob->conn, "COMMIT", "commit the outcome", err);
	if (rc != MENTOR_OK)
		mentor_pg_command(ob->conn, "ROLLBACK", "roll back the outcome", NULL);
	return rc;
}

static const char renew_sql[] =
	"UPDATE alerts SET next_attempt_at = now() + make_interval(secs => $2::bigint / 1000.0)"
	" WHERE alert_id = ANY ($1::text[]) AND status = 'pending'";

int mentor_outbox_renew(struct mentor_outbox *ob, const char *const *alert_ids, int n, struct mentor_error *err)
{
	char ms_text[24], *ids = text_array(alert_ids, n);
	int rc;

	if (!ids)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "outbox: out of memory renewing leases");
	snprintf(ms_text, sizeof(ms_text), "%d", ob->lease_ms);
	rc = mentor_pg_exec(ob->conn, renew_sql, 2, (const char *const[]){ ids, ms_text }, "renew leases", NULL, err);
	free(ids);
	return rc;
}

/* The partial index alerts_due makes this cheap. */
int mentor_outbox_count_pending(struct mentor_outbox *ob, int64_t *ret, struct mentor_error *err)
{
	PGresult *res;
	int rc = mentor_pg_exec(ob->conn, "SELECT count(*) FROM alerts WHERE status = 'pending'", 0, NULL,
				"count pending alerts", &res, err);

	if (rc != MENTOR_OK)
		return rc;
	*ret = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return MENTOR_OK;
}
