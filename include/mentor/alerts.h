/*
 * Alert webhooks (SPEC section 6): the pure parts of delivery.
 *
 * Signing (Standard Webhooks), rendering a body for a route's format, the
 * retry policy, the per-lead rate limit, the classification of an HTTP
 * answer and of the address a route connects to, and the text an answer
 * leaves in last_error. No network, no database, no clock and no globals:
 * the caller passes the time and the random source, so every answer can be
 * tested exactly. The outbox (lib/outbox.c) applies them to the alerts
 * table; the sender thread (daemon/sender.c) does the HTTP.
 */
#ifndef MENTOR_ALERTS_H
#define MENTOR_ALERTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "mentor/error.h"

/* Bodies one route accepts (team_leads.body_format). */
enum mentor_alert_format {
	MENTOR_ALERT_FORMAT_JSON,   /* the generic payload as it is */
	MENTOR_ALERT_FORMAT_SLACK,  /* Slack incoming webhook: {"text", "blocks"} */
	MENTOR_ALERT_FORMAT_TEAMS,  /* Teams Workflows: an Adaptive Card in a message */
};

/* What to do with an alert after one HTTP attempt. */
enum mentor_alert_outcome {
	MENTOR_ALERT_SENT,           /* 2xx: delivered */
	MENTOR_ALERT_RETRY,          /* anything else, or no answer at all: try again later */
	MENTOR_ALERT_CLIENT_ERROR,   /* 4xx but 408, 410 and 429: the receiver refuses it; a few attempts, then dead */
	MENTOR_ALERT_DISABLE_ROUTE,  /* 410 Gone: the receiver says the hook is gone for good */
	MENTOR_ALERT_REFUSED_ROUTE,  /* no request made: the route leads to a private address (dead at once) */
};

/*
 * Parses "json", "slack" or "teams" into *ret_format. Returns MENTOR_OK or
 * MENTOR_ERR_INVALID.
 */
int mentor_alert_format_parse(const char *name, enum mentor_alert_format *ret_format);

/*
 * Decodes one secret: "whsec_<base64>" (the Standard Webhooks form) gives the
 * base64-decoded bytes; anything else is used as its raw bytes. Returns
 * MENTOR_OK with *ret_key (caller frees) and *ret_len, MENTOR_ERR_INVALID for
 * an empty secret or bad base64 after whsec_, or MENTOR_ERR_NOMEM. The
 * message never quotes the secret.
 */
int mentor_alert_secret_decode(const char *secret, size_t len, unsigned char **ret_key, size_t *ret_len,
			       struct mentor_error *err);

/*
 * Signs one delivery: for each secret, "v1," + base64(HMAC-SHA256(key,
 * id "." timestamp "." body)), joined by single spaces (several secrets
 * during a rotation; a verifier accepts any one).
 *
 * secrets is the text of a secret file: one secret per line, leading and
 * trailing blanks and CR ignored, empty lines and lines starting with '#'
 * skipped, each decoded as by mentor_alert_secret_decode(). Returns MENTOR_OK
 * with *ret_header (caller frees), MENTOR_ERR_INVALID when there is no
 * secret or one cannot be decoded, or MENTOR_ERR_NOMEM.
 */
int mentor_alert_sign(const char *msg_id, int64_t timestamp, const char *body, size_t body_len,
		      const char *secrets, char **ret_header, struct mentor_error *err);

/*
 * Renders the body a route receives from the generic payload (a JSON object,
 * docs/alerts.md): JSON gives the payload unchanged; Slack and Teams a
 * message built from its fields (a title per kind, after the payload's
 * "program" in brackets when it has one, a summary line, and scalar fields
 * as facts). kind names the alert when the payload has no
 * "kind". Whatever Slack and Teams bodies embed from the payload is plain
 * text: one line (control characters as spaces), cut to a bounded length,
 * in Slack plain_text objects with &, < and > as entities, in Teams
 * TextRuns (which render no Markdown); JSON strings escaped by the encoder.
 * Returns MENTOR_OK with *ret_body (caller frees, NUL-terminated),
 * MENTOR_ERR_INVALID for a payload that is not a JSON object, or
 * MENTOR_ERR_NOMEM.
 */
int mentor_alert_render(enum mentor_alert_format format, const char *kind, const char *payload,
			char **ret_body, struct mentor_error *err);

/* Retry policy: exponential backoff with full jitter, and when to give up. */
struct mentor_alert_retry_policy {
	int64_t base_ms;        /* first ceiling, default 1,000 */
	int64_t cap_ms;         /* ceiling of any one delay, default 3,600,000 (an hour) */
	int64_t horizon_ms;     /* give up this long after the alert was created, default 72 h */
	int max_client_errors;  /* a client error on this attempt or a later one: dead; default 3 */
};

/* A uniform 64-bit random number from the caller's source. */
typedef uint64_t (*mentor_alert_rand_fn)(void *ctx);

void mentor_alert_retry_policy_init(struct mentor_alert_retry_policy *p);

/*
 * The delay before retry number attempt + 1, after attempt failures
 * (attempt >= 1): uniform in [0, min(cap, base * 2^(attempt - 1))] ms, drawn
 * from rnd. Never negative, never above cap_ms.
 */
int64_t mentor_alert_backoff_ms(const struct mentor_alert_retry_policy *p, int attempt, mentor_alert_rand_fn rnd,
				void *rnd_ctx);

/*
 * Whether to retry an alert created age_ms ago after a delay of delay_ms:
 * returns 1 (schedule it) while age_ms + delay_ms is within the horizon,
 * 0 (give up: dead) once it is not.
 */
int mentor_alert_within_horizon(const struct mentor_alert_retry_policy *p, int64_t age_ms, int64_t delay_ms);

/*
 * After failed attempt number `attempt` (1 for the first) of an alert
 * created age_ms ago, which came to `result` (RETRY, CLIENT_ERROR or
 * REFUSED_ROUTE): the delay before the next attempt is retry_after_ms when
 * the receiver asked for one (>= 0: a Retry-After honoured), else a backoff
 * for that attempt drawn from rnd. Sets *ret_delay_ms and returns 1 to
 * schedule the next attempt, 0 to give up (dead): past the horizon, a client
 * error on attempt max_client_errors or later, or a refused route (at once).
 */
int mentor_alert_next_attempt(const struct mentor_alert_retry_policy *p, enum mentor_alert_outcome result,
			      int attempt, int64_t age_ms, int64_t retry_after_ms, mentor_alert_rand_fn rnd,
			      void *rnd_ctx, int64_t *ret_delay_ms);

/*
 * Classifies an HTTP attempt by its status code (0: no answer, a transport
 * error): 2xx sent, 410 disable the route, other 4xx but 408 (timeout) and
 * 429 (too many) a client error, anything else retry. Redirects are not
 * followed, so a 3xx is a failure like any other.
 */
enum mentor_alert_outcome mentor_alert_classify(long status);

/*
 * Parses a Retry-After value, seconds ("120") or an HTTP-date (IMF-fixdate,
 * "Sun, 06 Nov 1994 08:49:37 GMT"), against now (Unix seconds). Returns 1
 * with *ret_delay_ms (0 for a date in the past), or 0 if the value is
 * neither. Only meaningful on 429 and 503 (mentor_alert_honours_retry_after).
 */
int mentor_alert_retry_after_parse(const char *value, time_t now, int64_t *ret_delay_ms);

/* Whether a Retry-After header on this status sets the next attempt: 429 and 503. */
int mentor_alert_honours_retry_after(long status);

/*
 * The per-lead rate limit: at most max_per_hour alerts sent to one team lead
 * in any rolling hour (0: no limit). For an alert whose lead has
 * sent_last_hour sends in the last hour and taken more alerts already going
 * out in this round, returns 0 to send it now, or how long to hold it back
 * (ms): until the oldest send of the hour leaves the window,
 * oldest_leaves_ms from now (negative when the lead sent nothing in the
 * hour: a whole hour), and at least a second.
 */
int64_t mentor_alert_throttle_ms(int max_per_hour, int64_t sent_last_hour, int taken, int64_t oldest_leaves_ms);

/*
 * Whether a route may not connect to addr unless [alerts] allow_private:
 * returns 1 for unspecified (0.0.0.0/8, ::), loopback (127/8, ::1), private
 * (10/8, 172.16/12, 192.168/16, fc00::/7), shared (100.64/10), link-local
 * (169.254/16, fe80::/10), multicast, broadcast and reserved addresses, and
 * for IPv6 forms that carry such an IPv4 address (v4-mapped ::ffff:0:0/96,
 * v4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16); 0 for any other
 * IPv4 or IPv6 address; 1 for any other family.
 */
int mentor_alert_address_private(const struct sockaddr *addr);

/*
 * The webhook-id header value of an alert id: the id itself, with '%' and
 * every byte outside printable ASCII percent-encoded (%0A), so that no id can
 * end a header or start another; the same on every attempt. Returns the
 * value (caller frees) or NULL when out of memory.
 */
char *mentor_alert_header_id(const char *alert_id);

/*
 * What a receiver's answer body says, for last_error: one line of at most
 * out_size - 1 bytes (out_size >= 4), control characters and invalid UTF-8
 * as spaces and '?', cut on a character boundary and ended with "..." when
 * longer. body need not be NUL-terminated.
 */
void mentor_alert_answer_excerpt(const char *body, size_t len, char *out, size_t out_size);

#endif
