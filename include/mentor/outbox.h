/*
 * The alerts outbox (lib/sql/002_alerts.sql, docs/alerts.md) as the sender
 * works it: one PostgreSQL connection of its own and every statement of the
 * delivery state machine.
 *
 *  1. claim: in one short transaction, record the due alerts too old to
 *     send, lock the other due rows (FOR UPDATE SKIP LOCKED, so other
 *     instances take other rows), settle those that need no request (no
 *     route: retried later; disabled route: dead; over the lead's rate
 *     limit: deferred), push the others' next_attempt_at past the request
 *     timeout so nobody else sends them meanwhile, and commit;
 *  2. the caller sends those, outside any transaction;
 *  3. record: in a second short transaction, write every outcome.
 *
 * If the caller dies between 2 and 3, the rows are still pending and are
 * claimed again once their claim expires: delivery is at least once.
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

/* Rows claimed per round: small, so that a claim never outlives its timeout by much. */
#define MENTOR_OUTBOX_CLAIM_MAX 16

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
	enum mentor_alert_outcome result;  /* from the HTTP status (mentor_alert_classify) or a failure before it */
	bool abandoned;                    /* stopped before or during the request: not an attempt, due again at once */
	long status;                       /* HTTP status, 0 for none */
	int64_t retry_after_ms;            /* the delay the receiver asked for (Retry-After); -1: none, backoff */
	char error[256];                   /* why it failed: one line, never a secret or a URL path */
};

/* A round's claim: the alerts to send now. */
struct mentor_outbox_claim {
	struct mentor_outbox_alert alerts[MENTOR_OUTBOX_CLAIM_MAX];
	int n;          /* alerts to send, in alerts[] */
	int due;        /* rows that were due, sent or settled: MENTOR_OUTBOX_CLAIM_MAX means more may be due now */
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
	MENTOR_OUTBOX_DEAD,       /* a failed attempt past the horizon: given up */
};

struct mentor_outbox_report {
	enum mentor_outbox_event event;
	const struct mentor_outbox_alert *alert;  /* valid during the call; NULL for MENTOR_OUTBOX_RECORDED */
	int attempt;                              /* RETRY, DEAD: the attempt that failed, 1 for the first */
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
 * retry_base_ms and max_per_lead_per_hour; hooks is copied. MENTOR_OK and
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
 * interrupts the wait.
 */
bool mentor_outbox_wait(struct mentor_outbox *ob, int ms);

/*
 * Step 1: claims up to MENTOR_OUTBOX_CLAIM_MAX due rows and settles those
 * that need no request, each reported. MENTOR_OK and *ret, the alerts to
 * send (also when ret->no_table; *ret is overwritten: clear a previous
 * claim first), freed with mentor_outbox_claim_clear(). Else MENTOR_ERR_DB
 * or MENTOR_ERR_NOMEM: rolled back, nothing claimed.
 */
int mentor_outbox_claim(struct mentor_outbox *ob, struct mentor_outbox_claim *ret, struct mentor_error *err);

/* Frees the strings of a claim's alerts and empties it; a zeroed claim is fine. */
void mentor_outbox_claim_clear(struct mentor_outbox_claim *c);

/*
 * Step 3: writes outcomes[i] for claim->alerts[i], every one of claim->n,
 * in one transaction, each reported but the abandoned ones (handed back:
 * due at once, no attempt counted). MENTOR_OK, or MENTOR_ERR_DB: rolled
 * back, the rows stay claimed and pending, and are sent again (the same
 * webhook-id) once the claim expires.
 */
int mentor_outbox_record(struct mentor_outbox *ob, const struct mentor_outbox_claim *claim,
			 const struct mentor_outbox_outcome *outcomes, struct mentor_error *err);

/* Counts the alerts waiting to be sent (status pending) into *ret. MENTOR_OK or MENTOR_ERR_DB. */
int mentor_outbox_count_pending(struct mentor_outbox *ob, int64_t *ret, struct mentor_error *err);

#endif
