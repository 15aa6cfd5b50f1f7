/*
 * consumer_offsets: each partition's stored next offset for a consumer
 * group, loaded on assignment (mentor_store_offset_load, in
 * include/mentor/store.h) and moved by every batch commit under a fence.
 * Internal to the store.
 */
#ifndef MENTOR_OFFSETS_H
#define MENTOR_OFFSETS_H

#include <stddef.h>

#include "mentor/error.h"
#include "mentor/store.h"
#include "pg.h"

/*
 * Moves each partition's next offset to u[i].next, and its newest event time
 * forward, in the transaction open on conn, if the stored next offset is still
 * u[i].expected_next. MENTOR_OK; MENTOR_ERR_FENCED naming the first partition
 * whose offset moved on (another instance owns it now); MENTOR_ERR_DB. The
 * caller rolls back on an error.
 */
int mentor_offsets_fence(PGconn *conn, const char *group, const struct mentor_offset_update *u, size_t n,
			 struct mentor_error *err);

#endif
