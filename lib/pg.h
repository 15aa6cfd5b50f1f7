/*
 * PostgreSQL as libmentor talks to it: connections opened with mentord's
 * session settings, statements and COPY on them, and libpq's failures
 * turned into a mentor_error. Internal to lib/ (the modules that hold a
 * connection: the store's, the outbox); no header in include/ hands out a
 * libpq type.
 */
#ifndef MENTOR_PG_H
#define MENTOR_PG_H

#include <stddef.h>

#include <libpq-fe.h>

#include "mentor/error.h"

/*
 * COPY data goes to libpq in pieces of at most this size: libpq moves what
 * the socket did not take to the front of its buffer after every send, so one
 * call with a whole batch's megabytes cost a copy of the rest per send.
 */
#define MENTOR_PG_COPY_PIECE_BYTES 262144

/* Receives PostgreSQL's notices and warnings, one message each (a line, with its newline). */
typedef void (*mentor_pg_notice_fn)(void *ctx, const char *message);

/*
 * Opens a connection with conninfo (connect_timeout 10 s and
 * application_name "mentord" unless conninfo says otherwise) and sets its
 * session up: `schema` (a plain identifier) created if missing and made the
 * search path, time zone UTC, client messages from warning up, work_mem
 * 64 MB (a batch's aggregation must not spill to disk) and jit off
 * (mentord's statements are short; compiling one cost more than it ran).
 * notice (NULL: dropped) gets the connection's notices.
 * MENTOR_OK and *ret_conn (the caller PQfinish()es it); else MENTOR_ERR_DB
 * or MENTOR_ERR_NOMEM, with *ret_conn untouched.
 */
int mentor_pg_connect(const char *conninfo, const char *schema, mentor_pg_notice_fn notice, void *notice_ctx,
		      PGconn **ret_conn, struct mentor_error *err);

/*
 * mentor_pg_connect for a tool that reads mentord's tables back (lib/readback.c): the same session settings, but
 * `schema` is only made the search path, never created (a reader may lack the right to create it, and must not
 * leave an empty schema behind), and application_name is the caller's (NULL: libpq's default). No notices.
 * MENTOR_OK and *ret_conn (the caller PQfinish()es it); else MENTOR_ERR_DB or MENTOR_ERR_NOMEM.
 */
int mentor_pg_connect_reader(const char *conninfo, const char *schema, const char *application_name,
			     PGconn **ret_conn, struct mentor_error *err);

/*
 * Fills err with MENTOR_ERR_DB: what failed, the first line of libpq's
 * message, and res's SQLSTATE (res may be NULL: a failure with no result,
 * such as a lost connection) in the message and in err->sqlstate.
 * Returns MENTOR_ERR_DB.
 */
int mentor_pg_error(PGconn *conn, const PGresult *res, const char *what, struct mentor_error *err);

/*
 * Runs one statement with text parameters (n of them; values may be NULL
 * when n is 0). On MENTOR_OK, *ret_res holds the result when ret_res is not
 * NULL (the caller PQclear()s it). Else MENTOR_ERR_DB from mentor_pg_error.
 */
int mentor_pg_exec(PGconn *conn, const char *sql, int n, const char *const *values, const char *what,
		   PGresult **ret_res, struct mentor_error *err);

/*
 * Runs a command without parameters that returns no rows; sql may hold
 * several statements (PQexec). MENTOR_OK, or MENTOR_ERR_DB from mentor_pg_error.
 */
int mentor_pg_command(PGconn *conn, const char *sql, const char *what, struct mentor_error *err);

/*
 * A COPY ... FROM STDIN in three steps, so that its data may come from
 * several places: begin runs `sql` (which also names the COPY in errors),
 * put sends len bytes in pieces of MENTOR_PG_COPY_PIECE_BYTES, end sends the
 * end of the data and reads the COPY's result. Each returns MENTOR_OK or
 * MENTOR_ERR_DB from mentor_pg_error. After a failed put, end must still
 * run, to take the connection out of COPY (with a scratch error: put's says
 * more). Blocking mode only.
 */
int mentor_pg_copy_begin(PGconn *conn, const char *sql, struct mentor_error *err);
int mentor_pg_copy_put(PGconn *conn, const char *sql, const char *data, size_t len, struct mentor_error *err);
int mentor_pg_copy_end(PGconn *conn, const char *sql, struct mentor_error *err);

/* A whole COPY ... FROM STDIN of len bytes of data: begin, put, end. MENTOR_OK or MENTOR_ERR_DB. */
int mentor_pg_copy(PGconn *conn, const char *sql, const char *data, size_t len, struct mentor_error *err);

#endif
