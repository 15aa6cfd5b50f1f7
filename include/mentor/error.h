/* Errors returned by libmentor: a code the caller can act on and a message it can log. */
#ifndef MENTOR_ERROR_H
#define MENTOR_ERROR_H

enum mentor_status {
	MENTOR_OK = 0,
	MENTOR_ERR_INVALID = -1,   /* bad argument or configuration: fix the input, do not retry */
	MENTOR_ERR_NOMEM = -2,     /* allocation failed */
	MENTOR_ERR_DB = -3,        /* PostgreSQL unreachable or failed: transient, reconnect and retry */
	MENTOR_ERR_FENCED = -4,    /* another instance committed our partition's offsets: drop the batch */
	MENTOR_ERR_KAFKA = -5,     /* librdkafka call failed */
	MENTOR_ERR_IO = -6,        /* file could not be read */
};

struct mentor_error {
	int code;          /* one of enum mentor_status */
	char msg[512];     /* one line, no trailing newline, never contains secrets */
	char sqlstate[6];  /* a PostgreSQL error's SQLSTATE, "" for any other error */
};

/* Fills err (when not NULL) with code, a printf-style message and no SQLSTATE; returns code. */
int mentor_error_set(struct mentor_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
