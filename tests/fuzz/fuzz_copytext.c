/*
 * The COPY encodings of lib/copytext.c, encoded then decoded as PostgreSQL
 * reads them, must give back the input:
 * - text columns (col_text): the input split at NUL bytes into fields, a
 *   field of the single byte 0xff standing for NULL, written as one row and
 *   read back with COPY text's rules (tab-separated, newline-ended, \N,
 *   backslash escapes including octal and hex);
 * - bytea (col_bytea): the whole input;
 * - array literals (buf_array_text): the fields, read back as a text[] literal;
 * - numbers (decimal_of, col_decimal): a double from the first 8 bytes, whose
 *   decimal must read back as the value "%.15g" prints;
 * - timestamps (col_timestamp): microseconds from the first 8 bytes, within
 *   the years an RFC 3339 occurred_at can name, read back to the same value.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "copytext.h"
#include "fuzz_check.h"
#include "mentor/stats.h"

#define MAX_FIELDS 64

struct field {
	const char *s;  /* NULL: SQL NULL */
	size_t n;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * One field of a COPY text row at text[*pos], up to its tab or newline:
 * PostgreSQL's rules (the COPY page, "Text Format"). Returns its decoded
 * bytes in out (*out_n) and whether it is NULL; *pos moves past the field.
 * *end says whether the row ended (newline) after it.
 */
static int copy_field(const char *text, size_t len, size_t *pos, char *out, size_t *out_n, int *end)
{
	size_t i = *pos, o = 0, start = *pos;

	while (i < len && text[i] != '\t' && text[i] != '\n') {
		char c = text[i++];

		FUZZ_CHECK(c != '\r');  /* a raw carriage return ends a row too: it must be escaped */
		if (c != '\\') {
			out[o++] = c;
			continue;
		}
		FUZZ_CHECK(i < len);
		c = text[i++];
		switch (c) {
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'v': out[o++] = '\v'; break;
		case 'x':
			if (i < len && hex_value(text[i]) >= 0) {
				int v = hex_value(text[i++]);

				if (i < len && hex_value(text[i]) >= 0)
					v = v * 16 + hex_value(text[i++]);
				out[o++] = (char)v;
			} else {
				out[o++] = 'x';
			}
			break;
		default:
			if (c >= '0' && c <= '7') {
				int v = c - '0';

				for (int k = 0; k < 2 && i < len && text[i] >= '0' && text[i] <= '7'; k++)
					v = v * 8 + (text[i++] - '0');
				out[o++] = (char)v;
			} else {
				out[o++] = c;
			}
		}
	}
	FUZZ_CHECK(i < len);  /* every field ends with its tab or the row's newline */
	*end = text[i] == '\n';
	*pos = i + 1;
	*out_n = o;
	/* \N is NULL only as the whole field, unescaped. */
	return i - start == 2 && text[start] == '\\' && text[start + 1] == 'N';
}

static void check_text_row(const struct field *fields, size_t n_fields, size_t max_len)
{
	struct text_buf b = { 0 };
	char *decoded = malloc(2 * max_len + 2);
	size_t pos = 0;

	FUZZ_CHECK(decoded);
	for (size_t f = 0; f < n_fields; f++) {
		if (fields[f].s)
			buf_copy_text(&b, fields[f].s, fields[f].n);
		else
			buf_append(&b, "\\N", 2);
		col_sep(&b);
	}
	row_end(&b);
	FUZZ_CHECK(!b.failed && b.rows == 1);
	for (size_t f = 0; f < n_fields; f++) {
		size_t n;
		int end, is_null = copy_field(b.data, b.len, &pos, decoded, &n, &end);

		FUZZ_CHECK(is_null == !fields[f].s);
		if (fields[f].s)
			FUZZ_CHECK(n == fields[f].n && memcmp(decoded, fields[f].s, n) == 0);
		FUZZ_CHECK(end == (f == n_fields - 1));
	}
	FUZZ_CHECK(pos == b.len);
	free(decoded);
	free(b.data);
}

static void check_bytea(const uint8_t *data, size_t size)
{
	struct text_buf b = { 0 };
	char *decoded = malloc(2 * size + 8);
	size_t pos = 0, n;
	int end;

	FUZZ_CHECK(decoded);
	col_bytea(&b, data, size);
	row_end(&b);
	FUZZ_CHECK(!b.failed);
	FUZZ_CHECK(!copy_field(b.data, b.len, &pos, decoded, &n, &end) && end);
	/* bytea's hex input: \x, then two hex digits per byte. */
	FUZZ_CHECK(n == 2 + 2 * size && decoded[0] == '\\' && decoded[1] == 'x');
	for (size_t i = 0; i < size; i++)
		FUZZ_CHECK(hex_value(decoded[2 + 2 * i]) * 16 + hex_value(decoded[3 + 2 * i]) == data[i]);
	free(decoded);
	free(b.data);
}

/* A text[] literal of quoted elements, read as array_in does: a backslash quotes the next byte. */
static void check_array(const struct field *fields, size_t n_fields, size_t max_len)
{
	struct text_buf b = { 0 };
	char *decoded = malloc(max_len + 1);
	size_t i = 1, f = 0, first = 1;

	FUZZ_CHECK(decoded);
	buf_append(&b, "{", 1);
	for (size_t k = 0; k < n_fields; k++) {
		if (!fields[k].s)
			continue;
		buf_array_text(&b, first, fields[k].s, fields[k].n);
		first = 0;
	}
	buf_append(&b, "}", 1);
	FUZZ_CHECK(!b.failed && b.data[0] == '{');
	for (; f < n_fields; f++) {
		size_t o = 0;

		if (!fields[f].s)
			continue;
		if (b.data[i] == ',')
			i++;
		FUZZ_CHECK(b.data[i++] == '"');
		while (b.data[i] != '"') {
			FUZZ_CHECK(i < b.len);
			if (b.data[i] == '\\')
				i++;
			decoded[o++] = b.data[i++];
		}
		i++;
		FUZZ_CHECK(o == fields[f].n && memcmp(decoded, fields[f].s, o) == 0);
	}
	FUZZ_CHECK(b.data[i] == '}' && i + 1 == b.len);
	free(decoded);
	free(b.data);
}

static void check_decimal(double d)
{
	struct text_buf b = { 0 };
	char printed[40];
	int64_t mant;
	int exp10;

	if (!isfinite(d))
		return;
	decimal_of(d, &mant, &exp10);
	FUZZ_CHECK(mant == 0 ? exp10 == 0 : mant % 10 != 0);
	col_decimal(&b, mant, exp10);
	FUZZ_CHECK(!b.failed && b.len > 1 && b.data[b.len - 1] == '\t');
	b.data[b.len - 1] = '\0';
	snprintf(printed, sizeof(printed), "%.15g", d);
	FUZZ_CHECK(strtod(b.data, NULL) == strtod(printed, NULL));
	free(b.data);
}

/* Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void check_timestamp(int64_t us)
{
	/* 0000-01-01T00:00:00+23:59 to 9999-12-31T23:59:59.999999-23:59: what RFC 3339 can name. */
	const int64_t lo = days_from_civil(0, 1, 1) * MENTOR_US_PER_DAY - MENTOR_US_PER_DAY;
	const int64_t hi = days_from_civil(10000, 1, 1) * MENTOR_US_PER_DAY + MENTOR_US_PER_DAY;
	struct text_buf b = { 0 };
	long long y, mo, d, h, mi, s, frac;
	char zone[16];
	int used = 0;

	us = lo + (int64_t)((uint64_t)us % (uint64_t)(hi - lo));
	col_timestamp(&b, us);
	FUZZ_CHECK(!b.failed);
	FUZZ_CHECK(sscanf(b.data, "%lld-%2lld-%2lld %2lld:%2lld:%2lld.%6lld%15[^\t]%n", &y, &mo, &d, &h, &mi, &s,
			  &frac, zone, &used) == 8);
	FUZZ_CHECK((size_t)used == b.len - 1 && b.data[b.len - 1] == '\t');
	FUZZ_CHECK(strcmp(zone, "+00") == 0 || strcmp(zone, "+00 BC") == 0);
	/* Year 1 BC is year 0, 2 BC is -1. */
	if (strcmp(zone, "+00 BC") == 0)
		y = 1 - y;
	FUZZ_CHECK(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && s < 60);
	FUZZ_CHECK(days_from_civil(y, (unsigned)mo, (unsigned)d) * MENTOR_US_PER_DAY +
			   ((h * 60 + mi) * 60 + s) * INT64_C(1000000) + frac ==
		   us);
	free(b.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct field fields[MAX_FIELDS];
	size_t n_fields = 0, start = 0;
	uint64_t word = 0;
	double d;

	for (size_t i = 0; i <= size && n_fields < MAX_FIELDS; i++) {
		if (i < size && data[i] != '\0')
			continue;
		fields[n_fields].s = (const char *)data + start;
		fields[n_fields].n = i - start;
		if (fields[n_fields].n == 1 && data[start] == 0xff)
			fields[n_fields].s = NULL;
		n_fields++;
		start = i + 1;
	}
	check_text_row(fields, n_fields, size);
	check_array(fields, n_fields, size);
	check_bytea(data, size);
	if (size >= sizeof(word)) {
		memcpy(&word, data, sizeof(word));
		memcpy(&d, &word, sizeof(d));
		check_decimal(d);
		check_timestamp((int64_t)word);
	}
	return 0;
}
