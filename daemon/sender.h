/*
 * The alert sender: a thread of its own that delivers the `alerts` outbox
 * (lib/sql/002_alerts.sql, worked through include/mentor/outbox.h on a
 * PostgreSQL connection of its own) as signed webhooks, so that a slow or
 * dead receiver never holds up consumption. See docs/alerts.md.
 */
#ifndef MENTORD_SENDER_H
#define MENTORD_SENDER_H

#include <signal.h>
#include <stdint.h>

#include "mentor/config.h"

struct sender;

/* Totals since start; each is read atomically (another thread may read them). */
struct sender_counters {
	uint64_t sent;       /* alerts delivered (2xx) */
	uint64_t retried;    /* failed attempts that were scheduled again */
	uint64_t failed;     /* every failed attempt, including the last one of a dead alert */
	uint64_t dead;       /* alerts given up: past the horizon, or their route disabled (410) */
	uint64_t recorded;   /* alerts too old at first send: kept, never sent */
	uint64_t throttled;  /* times an alert was held back by the per-lead rate limit */
	int64_t pending;     /* outbox depth: alerts waiting to be sent, as last counted; -1 if unknown */
};

/*
 * Starts the sender with a copy of what it needs from cfg ([postgres]
 * conninfo and schema, [alerts]). It stops when *stop becomes non-zero or
 * sender_stop() is called. Returns 0 with *ret_sender (NULL when [alerts]
 * enabled is false), or -1 after logging why.
 */
int sender_start(const struct mentor_config *cfg, const volatile sig_atomic_t *stop, struct sender **ret_sender);

/*
 * Stops the thread (within about a second: a request in flight is abandoned
 * and its row handed back), logs the totals, frees. NULL is fine.
 */
void sender_stop(struct sender *s);

/* Copies the counters (all zero for NULL). */
void sender_counters_get(const struct sender *s, struct sender_counters *ret);

#endif
