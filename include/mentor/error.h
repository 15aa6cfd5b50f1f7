/*
 * Errors returned by libmentor: a code the caller can act on and a message it can log.
 *
 * The convention, for every function of libmentor that can fail:
 * - it returns int: MENTOR_OK (0), or one of the negative codes below;
 * - on failure it fills the caller's struct mentor_error (which may be NULL)
 *   with the same code and one line of message, and leaves its ret_
 *   out-parameters untouched (they are set only on MENTOR_OK);
 * - it has already released what it took (one cleanup path, `goto out`);
 * - it never logs or exits: the daemon decides what a code means for it.
 * A bool return means a predicate or a "done" whose only failure is named
 * where it is declared (out of memory); file-local helpers may return -1 for
 * such a single failure, turned into MENTOR_ERR_NOMEM by their caller at once.
 *
 * What the daemon does with a batch commit's code: FENCED, drop the batch
 * and read again from the offsets stored; RETRY, reload the analytics and
 * commit the same batch again on the same connection; DB that
 * mentor_error_db_fault() calls REFUSED, read the batch again in halves
 * until the message PostgreSQL refuses is alone, and reject it; any other,
 * wait, reconnect to PostgreSQL and read the batch again. With a
 * configuration's: INVALID or IO at start, exit 4 or 3; on reload, keep the
 * running configuration.
 */
#ifndef MENTOR_ERROR_H
#define MENTOR_ERROR_H

enum mentor_status {
	MENTOR_OK = 0,
	MENTOR_ERR_INVALID = -1,   /* bad argument, input or configuration: fix it, do not retry */
	MENTOR_ERR_NOMEM = -2,     /* allocation failed */
	MENTOR_ERR_DB = -3,        /* PostgreSQL unreachable or failed: transient, reconnect and retry */
	MENTOR_ERR_FENCED = -4,    /* another instance committed our partition's offsets: drop the batch */
	MENTOR_ERR_KAFKA = -5,     /* librdkafka call failed */
	MENTOR_ERR_IO = -6,        /* file could not be read */
	MENTOR_ERR_RETRY = -7,     /* a transient conflict (a race with another instance): roll back and
				      try the same work again; the connection is fine */
};

struct mentor_error {
	int code;          /* one of enum mentor_status */
	char msg[512];     /* one line, no trailing newline, never contains secrets */
	char sqlstate[6];  /* a PostgreSQL error's SQLSTATE, "" for any other error */
};

/* Fills err (when not NULL) with code, a printf-style message and no SQLSTATE; returns code. */
int mentor_error_set(struct mentor_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* What a failure says about the data it was given, and so what retrying it can change. */
enum mentor_db_fault {
	/*
	 * The server or the way to it failed, not the data: no SQLSTATE (the
	 * connection was lost), or class 08 connection, 40 serialization or
	 * deadlock, 53 resources (disk full, out of memory, too many
	 * connections), 55 object in use or lock not available, 57 shutdown or
	 * cancel, 58 system error. The same data succeeds once it is over.
	 */
	MENTOR_DB_TRANSIENT,
	/*
	 * The server refuses this data: class 22 data exception, 23 integrity
	 * constraint, 54 program limit (a value or row too large), P0001 an
	 * exception raised by a trigger, P0004 a failed assertion. Retrying it
	 * fails again; other data may pass.
	 */
	MENTOR_DB_REFUSED,
	/*
	 * Anything else: class 42 (a privilege or an object missing), 28, 3D,
	 * 3F, XX, ... and every error that is not PostgreSQL's (MENTOR_ERR_DB
	 * without SQLSTATE excepted). A deployment or program fault that every
	 * message would meet: waiting for an operator is better than rejecting
	 * data for it.
	 */
	MENTOR_DB_PERSISTENT,
};

/* Classifies a failure by err->code and err->sqlstate (see enum mentor_db_fault). Pure; err must not be NULL. */
enum mentor_db_fault mentor_error_db_fault(const struct mentor_error *err);

#endif
