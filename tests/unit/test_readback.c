/*
 * The readback's tables, built from libpq results made without a server
 * (PQmakeEmptyPGresult): names, cells, NULLs, column lookup and the free.
 */
#include <stdlib.h>
#include <string.h>

#include "../../lib/readback_int.h"
#include "test_util.h"

/* A result with the given columns and rows of cells; a NULL cell is an SQL NULL. */
static PGresult *make_result(int columns, const char *const *names, int rows, const char *const *cells)
{
	PGresAttDesc attrs[8];
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

	assert_non_null(res);
	assert_true(columns <= 8);
	for (int c = 0; c < columns; c++)
		attrs[c] = (PGresAttDesc){ .name = (char *)names[c], .typid = 25, .typlen = -1, .atttypmod = -1 };
	assert_int_equal(PQsetResultAttrs(res, columns, attrs), 1);
	for (int r = 0; r < rows; r++) {
		for (int c = 0; c < columns; c++) {
			const char *cell = cells[r * columns + c];

			/* libpq takes a length of -1 as NULL. */
			assert_int_equal(PQsetvalue(res, r, c, (char *)cell, cell ? (int)strlen(cell) : -1), 1);
		}
	}
	return res;
}

static void copies_names_cells_and_nulls(void **state)
{
	static const char *const names[] = { "topic", "partition", "next_offset" };
	static const char *const cells[] = { "p.voc", "0", "42", "p.aqm", "", NULL };
	PGresult *res = make_result(3, names, 2, cells);
	struct mentor_readback_table t = { 0 };

	(void)state;
	assert_int_equal(mentor_readback_table_from_result(res, &t, NULL), MENTOR_OK);
	/* The table is a copy: it outlives the result. */
	PQclear(res);
	assert_int_equal(t.rows, 2);
	assert_int_equal(t.columns, 3);
	assert_string_equal(t.names[0], "topic");
	assert_string_equal(t.names[2], "next_offset");
	assert_string_equal(mentor_readback_cell(&t, 0, 0), "p.voc");
	assert_string_equal(mentor_readback_cell(&t, 0, 2), "42");
	assert_string_equal(mentor_readback_cell(&t, 1, 0), "p.aqm");
	/* An empty text is not a NULL. */
	assert_non_null(mentor_readback_cell(&t, 1, 1));
	assert_string_equal(mentor_readback_cell(&t, 1, 1), "");
	assert_null(mentor_readback_cell(&t, 1, 2));
	mentor_readback_table_free(&t);
	assert_int_equal(t.rows, 0);
	assert_null(t.cells);
}

static void finds_columns_by_name(void **state)
{
	static const char *const names[] = { "behavior", "did_effect", "cuped" };
	PGresult *res = make_result(3, names, 0, NULL);
	struct mentor_readback_table t = { 0 };

	(void)state;
	assert_int_equal(mentor_readback_table_from_result(res, &t, NULL), MENTOR_OK);
	PQclear(res);
	assert_int_equal(t.rows, 0);
	assert_int_equal(mentor_readback_column(&t, "behavior"), 0);
	assert_int_equal(mentor_readback_column(&t, "cuped"), 2);
	/* A renamed view column is not found under its old name, nor by a prefix. */
	assert_int_equal(mentor_readback_column(&t, "did"), -1);
	assert_int_equal(mentor_readback_column(&t, "verdict"), -1);
	mentor_readback_table_free(&t);
}

static void empty_result_and_zeroed_table(void **state)
{
	PGresult *res = make_result(0, NULL, 0, NULL);
	struct mentor_readback_table t = { 0 };

	(void)state;
	/* Freeing a zeroed table is safe, and so is a second free. */
	mentor_readback_table_free(&t);
	assert_int_equal(mentor_readback_table_from_result(res, &t, NULL), MENTOR_OK);
	PQclear(res);
	assert_int_equal(t.rows, 0);
	assert_int_equal(t.columns, 0);
	assert_int_equal(mentor_readback_column(&t, "now_at"), -1);
	mentor_readback_table_free(&t);
	mentor_readback_table_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(copies_names_cells_and_nulls),
		cmocka_unit_test(finds_columns_by_name),
		cmocka_unit_test(empty_result_and_zeroed_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
