/* COPY columns: text (timestamps, row ends) and binary. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/copytext.h"
#include "test_util.h"

/*
 * Days and microseconds around 1970 and before year 1 (PostgreSQL's " BC";
 * year 0 is 1 BC and a leap year), days at their midnight. Expected values
 * from PostgreSQL 15: SELECT DATE '1970-01-01' + 20779, DATE '1970-01-01' - 719163,
 * DATE '1970-01-01' - 719529, to_timestamp(1795307111.000001) AT TIME ZONE 'UTC'.
 */
static void test_dates_and_times(void **state)
{
	struct text_buf b = { 0 };

	(void)state;
	col_timestamp(&b, at(0, 0));
	col_timestamp(&b, at(-1, 0));
	col_timestamp(&b, at(20779, 0));
	col_timestamp(&b, -1);
	col_timestamp(&b, INT64_C(1795307111000001));
	col_timestamp(&b, at(-719163, 0));
	col_timestamp(&b, at(-719529, 0));
	row_end(&b);
	assert_string_equal(b.data, "1970-01-01 00:00:00.000000+00\t1969-12-31 00:00:00.000000+00\t"
				    "2026-11-22 00:00:00.000000+00\t1969-12-31 23:59:59.999999+00\t"
				    "2026-11-22 00:25:11.000001+00\t0001-12-31 00:00:00.000000+00 BC\t"
				    "0002-12-31 00:00:00.000000+00 BC\n");
	free(b.data);
}

/*
 * One binary row, byte for byte as PostgreSQL's binary COPY format
 * (docs: "COPY ... File Formats") lays it out: the 19-byte header, a field
 * count, length-prefixed big-endian fields (-1 for NULL), dates and
 * timestamps from 2000-01-01, the -1 trailer.
 */
static void test_binary_row(void **state)
{
	static const unsigned char want[] = {
		'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 8,                                       /* 8 fields */
		0, 0, 0, 2, 'a', 'b',                       /* text "ab" */
		0xff, 0xff, 0xff, 0xff,                     /* NULL text */
		0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,  /* int8 -2 */
		0, 0, 0, 8, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,   /* float8 1.5 */
		0xff, 0xff, 0xff, 0xff,                     /* float8 NaN: NULL */
		0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1,         /* 2000-01-01 00:00:00.000001 UTC */
		0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff,         /* date 1999-12-31 */
		0, 0, 0, 1, 1,                              /* true */
		0xff, 0xff,                                 /* trailer */
	};
	struct text_buf b = { 0 };

	(void)state;
	bin_begin(&b);
	bin_row(&b, 8);
	bin_text(&b, "ab");
	bin_text(&b, NULL);
	bin_int8(&b, -2);
	bin_float8(&b, 1.5);
	bin_float8(&b, NAN);
	bin_timestamp(&b, INT64_C(946684800000001));
	bin_date(&b, 10956);
	bin_bool(&b, true);
	bin_end(&b);
	assert_false(b.failed);
	assert_int_equal(b.rows, 1);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	free(b.data);
}

/*
 * Array literals as PostgreSQL reads them: elements double-quoted, '"' and
 * '\' escaped with a backslash, anything else (commas, braces, the word
 * NULL) as it is; n bytes of a longer string; the empty array. PostgreSQL 15
 * reads the first literal back as the six strings:
 * SELECT '{"a","","q\"1","b\\s","{x,y}","NULL"}'::text[] = ARRAY['a', '', 'q"1', 'b\s', '{x,y}', 'NULL'].
 */
static void test_array_literal(void **state)
{
	static const char *const items[] = { "a", "", "q\"1", "b\\s", "{x,y}", "NULL" };
	struct text_buf b = { 0 };

	(void)state;
	buf_append(&b, "{", 1);
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
		buf_array_text(&b, i == 0, items[i], strlen(items[i]));
	buf_append(&b, "}", 1);
	assert_false(b.failed);
	assert_string_equal(b.data, "{\"a\",\"\",\"q\\\"1\",\"b\\\\s\",\"{x,y}\",\"NULL\"}");
	free(b.data);

	b = (struct text_buf){ 0 };
	buf_append(&b, "{", 1);
	buf_array_text(&b, true, "tab\there", 3);
	buf_array_text(&b, false, "\"\\", 2);
	buf_append(&b, "}", 1);
	assert_string_equal(b.data, "{\"tab\",\"\\\"\\\\\"}");
	assert_int_equal(b.len, 14);
	free(b.data);

	b = (struct text_buf){ 0 };
	buf_append(&b, "{", 1);
	buf_append(&b, "}", 1);
	assert_string_equal(b.data, "{}");
	free(b.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dates_and_times),
		cmocka_unit_test(test_binary_row),
		cmocka_unit_test(test_array_literal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
