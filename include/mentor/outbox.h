/*
 * The alerts outbox (lib/sql/002_alerts.sql, docs/alerts.md) as the sender
 * works it: one PostgreSQL connection of its own and every statement of the
 * delivery state machine.
 *
 *  1. claim: in one short transaction, record the due alerts too old to
 *     send, lock the other due rows (FOR UPDATE SKIP LOCKED, so other
 *     instances take other rows) but those of the leads the caller has in
 *     flight, settle those that need no request (no route: retried later;
 *     disabled route: dead; over the lead's rate limit: deferred), take at
 *     most one per lead to send, push its next_attempt_at past the request
 *     timeout (its lease) so nobody else sends it meanwhile, and commit;
 *  2. the caller sends those, outside any transaction, renewing the leases
 *     of the requests in flight (mentor_outbox_renew) so that none expires
 *     however long a receiver takes;
 *  3. record: in a short transaction per alert, write its outcome.
 *
 * If the caller dies between 2 and 3, the rows are still pending and are
 * claimed again once their lease expires: delivery is at least once.
 *
 * The policy (backoff, horizon, rate limit) is mentor/alerts.h's. Every
 * alert the outbox settles is told to the caller's report function, as it
 * is written (in the open transaction: a later failure rolls it back), so
 * that the caller can log and count it. No logging, clock or globals.
 */
#ifndef MENTOR_OUTBOX_H
#define MENTOR_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "mentor/alerts.h"
#include "mentor/config.h"
#include "mentor/error.h"

/* Due rows a claim looks at, and the most alerts it takes to send. */
#define MENTOR_OUTBOX_CLAIM_MAX 16
/*
 * A claimed alert's lease: its next_attempt_at is pushed this much past the
 * request timeout, by the claim and by every mentor_outbox_renew().
 */
#define MENTOR_OUTBOX_LEASE_MARGIN_MS 10000

struct mentor_outbox;

/* One claimed alert and its route; every string is owned by the claim that holds it. */
struct mentor_outbox_alert {
	char *alert_id, *kind, *payload;  /* payload: the generic JSON body, as text */
	char *lead;                       /* team_lead_id; NULL: none known */
	char *route_id;                   /* the team_leads row routing it: its lead's, or '*' */
	char *url, *format, *secret_ref;  /* the route's webhook_url, body_format, secret_ref (NULL: unsigned) */
	int attempts;                     /* attempts made before this one */
	int64_t outbox_age_ms;            /* since created_at, for the horizon */
};

/* What one attempt at a claimed alert came to, filled by the caller for mentor_outbox_record(). */
struct mentor_outbox_outcome {
	enum mentor_alert_outcome result;  /* from the HTTP status (mentor_alert_classify), RETRY for a failure
					      before an answer, REFUSED_ROUTE for a route to a private address */
	bool abandoned;                    /* stopped before or during the request: not an attempt, due again at once */
	long status;                       /* HTTP status, 0 for none */
	int64_t retry_after_ms;            /* the delay the receiver asked for (Retry-After); -1: none, backoff */
	char error[256];                   /* why it failed: one line, never a secret or a URL path */
};

/*
 * A round's claim: the alerts to send now. The caller may move alerts out
 * (copy them, then set n to 0) and free each with mentor_outbox_alert_free().
 */
struct mentor_outbox_claim {
	struct mentor_outbox_alert alerts[MENTOR_OUTBOX_CLAIM_MAX];
	int n;          /* alerts to send, in alerts[] */
	int due;        /* due rows looked at: MENTOR_OUTBOX_CLAIM_MAX means more may be due now */
	int settled;    /* of them, rows settled without a request (recorded ones not counted) */
	bool no_table;  /* the alerts table is not there yet (before migration 002): nothing claimed */
};

/* What the outbox wrote about an alert it settled. */
enum mentor_outbox_event {
	MENTOR_OUTBOX_RECORDED,   /* n alerts too old at their first send: recorded, never sent (no alert) */
	MENTOR_OUTBOX_THROTTLED,  /* over its lead's rate limit: still pending, deferred for delay_ms */
	MENTOR_OUTBOX_DISABLED,   /* its route is disabled: dead, no request made */
	MENTOR_OUTBOX_SENT,       /* delivered: a 2xx */
	MENTOR_OUTBOX_GONE,       /* its route answered 410: route disabled, alert and its lead's pending ones dead */
	MENTOR_OUTBOX_RETRY,      /* a failed attempt (or no route): tried again in delay_ms */
	MENTOR_OUTBOX_DEAD,       /* a failed attempt given up: past the horizon, client errors, refused route */
};

struct mentor_outbox_report {
	enum mentor_outbox_event event;
	const struct mentor_outbox_alert *alert;  /* valid during the call; NULL for MENTOR_OUTBOX_RECORDED */
	int attempt;                              /* RETRY, DEAD: the attempt that failed, 1 for the first */
	enum mentor_alert_outcome result;         /* RETRY, DEAD: what it came to (RETRY, CLIENT_ERROR, REFUSED_ROUTE) */
	const char *error;                        /* RETRY, DEAD, GONE: why, as written to last_error */
	long status;                              /* SENT: the HTTP status */
	int64_t delay_ms;                         /* RETRY, THROTTLED: until the next attempt */
	int64_t n;                                /* RECORDED: how many */
};

/* The caller's side of an outbox; every function gets ctx. */
struct mentor_outbox_hooks {
	void (*report)(void *ctx, const struct mentor_outbox_report *r);  /* every settled alert; required */
	mentor_alert_rand_fn rand;                     /* the backoff's random source */
	void (*notice)(void *ctx, const char *message);  /* PostgreSQL's notices and warnings; NULL: dropped */
	void *ctx;
};

/*
 * Connects with a libpq conninfo, uses `schema` (a plain identifier,
 * created if missing) and listens for inserts into alerts. From cfg it
 * copies max_age_seconds, max_attempt_hours, request_timeout_ms,
 * retry_base_ms, max_per_lead_per_hour and max_client_error_attempts;
 * hooks is copied. MENTOR_OK and
 * *ret (free with mentor_outbox_close), else MENTOR_ERR_DB or
 * MENTOR_ERR_NOMEM.
 */
int mentor_outbox_open(const char *conninfo, const char *schema, const struct mentor_alerts_config *cfg,
		       const struct mentor_outbox_hooks *hooks, struct mentor_outbox **ret, struct mentor_error *err);

/* Closes the connection and frees; safe on NULL. */
void mentor_outbox_close(struct mentor_outbox *ob);

/* False once the connection is lost (a failed statement or wait found out): close and open another. */
bool mentor_outbox_connected(const struct mentor_outbox *ob);

/*
 * Waits up to ms for a notification that alerts were inserted. Returns true
 * as soon as one comes (every notification received is consumed) or the
 * connection breaks (the next statement finds out), false after ms. With
 * the connection lost, it only sleeps ms. ms is best kept short: nothing
 * interrupts the wait. With ms 0 it only takes what has arrived.
 */
bool mentor_outbox_wait(struct mentor_outbox *ob, int ms);

/*
 * The connection's socket, for a caller that waits on it with other
 * descriptors (then calls mentor_outbox_wait(ob, 0)); -1 when there is none.
 */
int mentor_outbox_socket(const struct mentor_outbox *ob);

/*
 * Step 1: looks at up to MENTOR_OUTBOX_CLAIM_MAX due rows, but none of the
 * leads in busy_leads (n_busy team_lead_id values, "" for alerts with no
 * lead: those the caller has in flight), settles those that need no request,
 * each reported, and takes at most max_send (1 to MENTOR_OUTBOX_CLAIM_MAX)
 * to send, at most one per lead, each the lead's earliest due: a lead's
 * other due rows are left due, untouched, so that its alerts go out one at
 * a time and in order. MENTOR_OK and *ret (also when ret->no_table; *ret is
 * overwritten: clear a previous claim first), freed with
 * mentor_outbox_claim_clear(). Else MENTOR_ERR_DB or MENTOR_ERR_NOMEM:
 * rolled back, nothing claimed.
 */
int mentor_outbox_claim(struct mentor_outbox *ob, const char *const *busy_leads, int n_busy, int max_send,
			struct mentor_outbox_claim *ret, struct mentor_error *err);

/* Frees the strings of one alert and zeroes it. */
void mentor_outbox_alert_free(struct mentor_outbox_alert *a);

/* Frees the strings of a claim's alerts and empties it; a zeroed claim is fine. */
void mentor_outbox_claim_clear(struct mentor_outbox_claim *c);

/*
 * Step 2, while requests are in flight: renews the leases of the n claimed
 * alerts alert_ids (those still pending) to the request timeout and its
 * margin from now. Call it well within a lease. MENTOR_OK or MENTOR_ERR_DB.
 */
int mentor_outbox_renew(struct mentor_outbox *ob, const char *const *alert_ids, int n, struct mentor_error *err);

/*
 * Step 3: writes the outcome o of claimed alert a, in a transaction of its
 * own, reported unless abandoned (handed back: due at once, no attempt
 * counted). MENTOR_OK, or MENTOR_ERR_DB or MENTOR_ERR_NOMEM: rolled back,
 * the row stays claimed and pending, and is sent again (the same
 * webhook-id) once its lease expires unless recorded meanwhile.
 */
int mentor_outbox_record(struct mentor_outbox *ob, const struct mentor_outbox_alert *a,
			 const struct mentor_outbox_outcome *o, struct mentor_error *err);

/* Counts the alerts waiting to be sent (status pending) into *ret. MENTOR_OK or MENTOR_ERR_DB. */
int mentor_outbox_count_pending(struct mentor_outbox *ob, int64_t *ret, struct mentor_error *err);

#endif
