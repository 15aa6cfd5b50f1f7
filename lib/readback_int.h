/*
 * The readback's step from a libpq result to its table, for lib/ (the
 * readback itself, and its unit test, which builds results without a
 * server). Internal to lib/: include/mentor/readback.h hands out no libpq type.
 */
#ifndef MENTOR_READBACK_INT_H
#define MENTOR_READBACK_INT_H

#include <libpq-fe.h>

#include "mentor/error.h"
#include "mentor/readback.h"

/*
 * Copies res's column names and cells (NULL for an SQL NULL) into one
 * table. MENTOR_OK and *ret_table (free with mentor_readback_table_free), or
 * MENTOR_ERR_NOMEM.
 */
int mentor_readback_table_from_result(const PGresult *res, struct mentor_readback_table *ret_table,
				      struct mentor_error *err);

#endif
