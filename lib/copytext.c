/* PostgreSQL's COPY text format (copytext.h). */
#include "copytext.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mentor/stats.h"

static int buf_reserve(struct text_buf *b, size_t extra)
{
	size_t want = b->len + extra + 1;
	char *grown;

	if (b->failed)
		return -1;
	if (want <= b->cap)
		return 0;
	if (want < 2 * b->cap)
		want = 2 * b->cap;
	if (want < 4096)
		want = 4096;
	grown = realloc(b->data, want);
	if (!grown) {
		b->failed = 1;
		return -1;
	}
	b->data = grown;
	b->cap = want;
	return 0;
}

void buf_append(struct text_buf *b, const char *s, size_t n)
{
	if (buf_reserve(b, n) != 0)
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_printf(struct text_buf *b, const char *fmt, ...)
{
	char small[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(small)) {
		b->failed = 1;
		return;
	}
	buf_append(b, small, (size_t)n);
}

/* Unsigned decimal, at least min_digits digits (zero-padded), then `end` unless it is NUL. */
void buf_uint(struct text_buf *b, uint64_t v, int min_digits, char end)
{
	char tmp[32];
	char *p = tmp + sizeof(tmp), *digits_end;

	if (end)
		*--p = end;
	digits_end = p;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v || digits_end - p < min_digits);
	buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Signed decimal followed by a tab (a COPY column). */
void col_int(struct text_buf *b, int64_t v)
{
	if (v < 0) {
		buf_append(b, "-", 1);
		buf_uint(b, (uint64_t)0 - (uint64_t)v, 1, '\t');
	} else {
		buf_uint(b, (uint64_t)v, 1, '\t');
	}
}

/* COPY text format: backslash, tab, newline and carriage return are escaped; NULL is \N. */
void buf_copy_text(struct text_buf *b, const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		const char *esc;

		switch (s[i]) {
		case '\\': esc = "\\\\"; break;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		default: continue;
		}
		buf_append(b, s + start, i - start);
		buf_append(b, esc, 2);
		start = i + 1;
	}
	buf_append(b, s + start, n - start);
}

void col_sep(struct text_buf *b)
{
	buf_append(b, "\t", 1);
}

void col_text(struct text_buf *b, const char *s)
{
	if (s)
		buf_copy_text(b, s, strlen(s));
	else
		buf_append(b, "\\N", 2);
	col_sep(b);
}

/* bytea in COPY text: \\x followed by hex (the backslash itself escaped). */
void col_bytea(struct text_buf *b, const void *data, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;

	if (!data) {
		buf_append(b, "\\N\t", 3);
		return;
	}
	if (buf_reserve(b, 3 + 2 * n + 1) != 0)
		return;
	memcpy(b->data + b->len, "\\\\x", 3);
	b->len += 3;
	for (size_t i = 0; i < n; i++) {
		b->data[b->len++] = hex[p[i] >> 4];
		b->data[b->len++] = hex[p[i] & 15];
	}
	b->data[b->len++] = '\t';
	b->data[b->len] = '\0';
}

/* Ends a row: the last column's tab becomes the newline. */
void row_end(struct text_buf *b)
{
	if (b->failed || b->len == 0)
		return;
	b->data[b->len - 1] = '\n';
	b->rows++;
}

void buf_array_text(struct text_buf *b, bool first, const char *s, size_t n)
{
	if (buf_reserve(b, 2 * n + 3) != 0)
		return;
	if (!first)
		b->data[b->len++] = ',';
	b->data[b->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			b->data[b->len++] = '\\';
		b->data[b->len++] = s[i];
	}
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
}

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Writes the YYYY-MM-DD of a day count from 1970-01-01; true for years before 1 (" BC" to add). */
static bool buf_ymd(struct text_buf *t, int64_t days)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = (int64_t)yoe + era * 400 + (m <= 2);

	buf_uint(t, (uint64_t)(y > 0 ? y : 1 - y), 4, '-');
	buf_uint(t, m, 2, '-');
	buf_uint(t, d, 2, 0);
	return y <= 0;
}

/* A timestamptz in UTC microseconds as PostgreSQL reads it, a COPY column. */
void col_timestamp(struct text_buf *t, int64_t us)
{
	int64_t days = floor_div(us, MENTOR_US_PER_DAY);
	uint64_t rem = (uint64_t)(us - days * MENTOR_US_PER_DAY);
	bool bc = buf_ymd(t, days);

	buf_append(t, " ", 1);
	buf_uint(t, rem / 3600000000u, 2, ':');
	buf_uint(t, rem / 60000000u % 60, 2, ':');
	buf_uint(t, rem / 1000000u % 60, 2, '.');
	buf_uint(t, rem % 1000000u, 6, 0);
	buf_append(t, bc ? "+00 BC\t" : "+00\t", bc ? 7 : 4);
}

/*
 * The exact decimal of a double as "%.15g" prints it: mant * 10^exp10, mant
 * without trailing zeros. Fast path: if d * 10^k rounds to an integer m for a
 * small k, d is within half an ulp of m / 10^k, far closer than half a unit
 * in the 15th significant digit, so "%.15g" prints m / 10^k.
 */
void decimal_of(double d, int64_t *mant, int *exp10)
{
	static const double pow10[] = { 1, 10, 100, 1e3, 1e4, 1e5, 1e6 };
	char text[40];
	const char *p = text;
	int64_t m = 0;
	int e = 0, neg = 0;

	for (int k = 0; k < (int)(sizeof(pow10) / sizeof(pow10[0])); k++) {
		double x = d * pow10[k];

		if (x > -1e9 && x < 1e9 && x == (double)(int64_t)x) {
			m = (int64_t)x;
			e = -k;
			while (m != 0 && m % 10 == 0) {
				m /= 10;
				e++;
			}
			*mant = m;
			*exp10 = m == 0 ? 0 : e;
			return;
		}
	}
	snprintf(text, sizeof(text), "%.15g", d);
	if (*p == '-') {
		neg = 1;
		p++;
	}
	for (; *p >= '0' && *p <= '9'; p++)
		m = m * 10 + (*p - '0');
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++) {
			m = m * 10 + (*p - '0');
			e--;
		}
	if (*p == 'e' || *p == 'E')
		e += (int)strtol(p + 1, NULL, 10);
	while (m != 0 && m % 10 == 0) {
		m /= 10;
		e++;
	}
	*mant = neg ? -m : m;
	*exp10 = m == 0 ? 0 : e;
}

/* mant * 10^exp10 as a plain decimal, as numeric reads "%.15g" of it. */
static void put_decimal(struct text_buf *t, int64_t mant, int exp10)
{
	char digits[24];
	int n = 0;
	uint64_t v = mant < 0 ? (uint64_t)0 - (uint64_t)mant : (uint64_t)mant;

	if (mant < 0)
		buf_append(t, "-", 1);
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	/* digits are reversed */
	if (exp10 >= 0) {
		for (int i = n - 1; i >= 0; i--)
			buf_append(t, &digits[i], 1);
		for (int i = 0; i < exp10 && mant != 0; i++)
			buf_append(t, "0", 1);
	} else {
		int frac = -exp10;

		if (n <= frac) {
			buf_append(t, "0.", 2);
			for (int i = n; i < frac; i++)
				buf_append(t, "0", 1);
			for (int i = n - 1; i >= 0; i--)
				buf_append(t, &digits[i], 1);
		} else {
			for (int i = n - 1; i >= 0; i--) {
				buf_append(t, &digits[i], 1);
				if (i == frac)
					buf_append(t, ".", 1);
			}
		}
	}
}

void col_decimal(struct text_buf *t, int64_t mant, int exp10)
{
	put_decimal(t, mant, exp10);
	col_sep(t);
}

static int digit_count(int64_t v)
{
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	int n = 1;

	while (u >= 10) {
		u /= 10;
		n++;
	}
	return n;
}

/* A key that needs no escaping in JSON nor in COPY text. */
static bool plain_key(const char *key)
{
	if (!*key)
		return false;
	for (; *key; key++)
		if (!((*key >= 'a' && *key <= 'z') || (*key >= 'A' && *key <= 'Z') || (*key >= '0' && *key <= '9') ||
		      *key == '_' || *key == '-' || *key == '.'))
			return false;
	return true;
}

/*
 * A flat object of numbers with plain keys (the usual scores), written as
 * json_dump would with 15 significant digits (a whole real keeps its ".0",
 * so jsonb stores the number as sent) but without its generic formatting,
 * which took a tenth of mentord's CPU. False, with nothing written, for
 * anything else.
 */
static bool put_flat_numbers(struct text_buf *t, json_t *obj)
{
	size_t start = t->len;
	const char *key;
	json_t *v;

	if (!json_is_object(obj))
		return false;
	buf_append(t, "{", 1);
	json_object_foreach(obj, key, v) {
		int64_t mant;
		int exp10;

		if (!plain_key(key) || !json_is_number(v)) {
			t->len = start;
			return false;
		}
		if (t->len > start + 1)
			buf_append(t, ",", 1);
		buf_append(t, "\"", 1);
		buf_append(t, key, strlen(key));
		buf_append(t, "\":", 2);
		if (json_is_integer(v)) {
			put_decimal(t, json_integer_value(v), 0);
			continue;
		}
		decimal_of(json_real_value(v), &mant, &exp10);
		put_decimal(t, mant, exp10);
		/* "%.15g" prints a whole number below 1e15 without a point; jansson then adds ".0". */
		if (exp10 >= 0 && digit_count(mant) + exp10 <= 15)
			buf_append(t, ".0", 2);
	}
	buf_append(t, "}", 1);
	return true;
}

static int json_to_copy(const char *chunk, size_t size, void *data)
{
	buf_copy_text(data, chunk, size);
	return 0;
}

void col_json(struct text_buf *b, json_t *value)
{
	if (!value) {
		buf_append(b, "\\N\t", 3);
		return;
	}
	/* 15 significant digits print 82.3 as 82.3, so the stored value is the one sent. */
	if (!put_flat_numbers(b, value) &&
	    json_dump_callback(value, json_to_copy, b, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15)) != 0)
		b->failed = 1;
	col_sep(b);
}

/* ---- Binary COPY ---- */

/* Big-endian bytes of the low `size` bytes of v. */
static void put_be(struct text_buf *b, uint64_t v, int size)
{
	char bytes[8];

	for (int i = 0; i < size; i++)
		bytes[i] = (char)(v >> (8 * (size - 1 - i)));
	buf_append(b, bytes, (size_t)size);
}

/* The field's length word, then its bytes. */
static void bin_field(struct text_buf *b, const void *data, uint32_t n)
{
	put_be(b, n, 4);
	buf_append(b, data, n);
}

static void bin_fixed(struct text_buf *b, uint64_t v, int size)
{
	put_be(b, (uint64_t)size, 4);
	put_be(b, v, size);
}

void bin_begin(struct text_buf *b)
{
	/* The signature, no flags, no header extension. */
	buf_append(b, "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);
}

void bin_row(struct text_buf *b, int columns)
{
	put_be(b, (uint64_t)columns, 2);
	if (!b->failed)
		b->rows++;
}

void bin_end(struct text_buf *b)
{
	put_be(b, UINT64_C(0xffff), 2);
}

void bin_null(struct text_buf *b)
{
	put_be(b, UINT64_C(0xffffffff), 4);
}

void bin_text(struct text_buf *b, const char *s)
{
	if (s)
		bin_field(b, s, (uint32_t)strlen(s));
	else
		bin_null(b);
}

void bin_text_n(struct text_buf *b, const char *s, size_t n)
{
	bin_field(b, s, (uint32_t)n);
}

void bin_bool(struct text_buf *b, bool v)
{
	bin_fixed(b, v, 1);
}

void bin_int4(struct text_buf *b, int32_t v)
{
	bin_fixed(b, (uint32_t)v, 4);
}

void bin_int8(struct text_buf *b, int64_t v)
{
	bin_fixed(b, (uint64_t)v, 8);
}

void bin_float8(struct text_buf *b, double v)
{
	uint64_t bits;

	if (!isfinite(v)) {
		bin_null(b);
		return;
	}
	memcpy(&bits, &v, sizeof(bits));
	bin_fixed(b, bits, 8);
}

/* PostgreSQL's epoch for timestamps and dates is 2000-01-01 UTC. */
#define PG_EPOCH_DAYS 10957

void bin_timestamp(struct text_buf *b, int64_t us)
{
	bin_int8(b, us - MENTOR_US_PER_DAY * PG_EPOCH_DAYS);
}

void bin_date(struct text_buf *b, int32_t days)
{
	bin_int4(b, days - PG_EPOCH_DAYS);
}
