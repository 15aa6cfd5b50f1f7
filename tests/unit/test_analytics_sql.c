/*
 * The analytics' SQL helpers that need no server: timestamps and dates as
 * PostgreSQL reads them, numbers as parameters, and the string comparator
 * the rounds sort and search with.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/analytics_sql.h"
#include "test_util.h"

static void time_text_as_postgresql_reads_it(void **state)
{
	char out[TIME_TEXT];

	(void)state;
	an_time_text(SPEC_TS_US, out);
	assert_string_equal(out, "2026-11-02 14:05:11.000000+00");
	an_time_text(SPEC_TS_US + 7, out);
	assert_string_equal(out, "2026-11-02 14:05:11.000007+00");
	an_time_text(0, out);
	assert_string_equal(out, "1970-01-01 00:00:00.000000+00");
	/* Before 1970 the fraction still counts forward from the second before. */
	an_time_text(-1, out);
	assert_string_equal(out, "1969-12-31 23:59:59.999999+00");
	an_time_text(INT64_MAX, out);
	assert_string_equal(out, "infinity");
	an_time_text(NO_TIME, out);
	assert_string_equal(out, "-infinity");
}

static void day_text_is_the_utc_date(void **state)
{
	char out[TIME_TEXT];

	(void)state;
	an_day_text(SPEC_DAY, out);
	assert_string_equal(out, "2026-11-02");
	an_day_text(0, out);
	assert_string_equal(out, "1970-01-01");
	an_day_text(-1, out);
	assert_string_equal(out, "1969-12-31");
	an_day_text(11016, out);  /* a leap day */
	assert_string_equal(out, "2000-02-29");
}

static void numbers_as_parameters(void **state)
{
	char out[NUM_TEXT];
	const double values[] = { 0.1, -2.5e-300, 1.0 / 3.0, 82.5 };

	(void)state;
	/* %.17g: every finite double comes back exactly. */
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		assert_true(strtod(an_num_text(values[i], out), NULL) == values[i]);
	/* Not finite: SQL NULL. */
	assert_null(an_num_text(NAN, out));
	assert_null(an_num_text(INFINITY, out));
	assert_string_equal(an_int_text(INT64_MIN, out), "-9223372036854775808");
	assert_string_equal(an_int_text(42, out), "42");
}

static void cmp_str_sorts_and_finds(void **state)
{
	const char *names[] = { "greeting", "empathy", "hold_etiquette", "csat" };
	const char *key = "hold_etiquette";
	const char **hit;

	(void)state;
	qsort(names, 4, sizeof(*names), an_cmp_str);
	assert_string_equal(names[0], "csat");
	assert_string_equal(names[3], "hold_etiquette");
	hit = bsearch(&key, names, 4, sizeof(*names), an_cmp_str);
	assert_non_null(hit);
	assert_string_equal(*hit, "hold_etiquette");
}

static void json_numbers_are_null_when_not_finite(void **state)
{
	json_t *v = an_json_num(82.5), *n = an_json_num(NAN);

	(void)state;
	assert_true(json_is_real(v));
	assert_true(json_real_value(v) == 82.5);
	assert_true(json_is_null(n));
	json_decref(v);
	json_decref(n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(time_text_as_postgresql_reads_it),
		cmocka_unit_test(day_text_is_the_utc_date),
		cmocka_unit_test(numbers_as_parameters),
		cmocka_unit_test(cmp_str_sorts_and_finds),
		cmocka_unit_test(json_numbers_are_null_when_not_finite),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
