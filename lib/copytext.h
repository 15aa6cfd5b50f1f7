/*
 * Rows in PostgreSQL's COPY formats, and array literals for parameters,
 * written into growing buffers. Text: columns end with a tab (row_end turns
 * the last one into the newline), backslash, tab, newline and carriage
 * return are escaped, NULL is \N. An allocation failure sets `failed` and
 * the buffer stops growing, so a writer checks once at the end. Internal to
 * the library; no logging, no globals.
 */
#ifndef MENTOR_COPYTEXT_H
#define MENTOR_COPYTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct text_buf {
	char *data;   /* owned; NUL-terminated; free() it */
	size_t len, cap;
	size_t rows;  /* rows ended */
	int failed;   /* an allocation failed: the buffer's content is incomplete */
};

/* Raw bytes, and printf, unescaped (the caller knows they need none). */
void buf_append(struct text_buf *b, const char *s, size_t n);
void buf_printf(struct text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* v in decimal, zero-padded to min_digits, then end unless it is 0. */
void buf_uint(struct text_buf *b, uint64_t v, int min_digits, char end);

/* n bytes of text, escaped for COPY. */
void buf_copy_text(struct text_buf *b, const char *s, size_t n);

/* Columns: each is followed by its tab. col_text(NULL) and col_json(NULL) are NULL. */
void col_sep(struct text_buf *b);
void col_int(struct text_buf *b, int64_t v);
void col_text(struct text_buf *b, const char *s);
void col_bytea(struct text_buf *b, const void *data, size_t n);
void col_timestamp(struct text_buf *t, int64_t us);  /* UTC microseconds since 1970, as timestamptz */
void col_decimal(struct text_buf *t, int64_t mant, int exp10);  /* mant * 10^exp10, exactly */
void col_json(struct text_buf *b, json_t *value);   /* with 15 significant digits, as sent */

/* Ends a row: the last column's tab becomes the newline. */
void row_end(struct text_buf *b);

/*
 * One element of a PostgreSQL array literal ({"a","b\"c"}) being written in
 * b after its "{": a comma unless it is the first, then n bytes of text in
 * double quotes, '"' and '\' escaped with a backslash. The caller ends the
 * literal with "}".
 */
void buf_array_text(struct text_buf *b, bool first, const char *s, size_t n);

/* The exact decimal of a double as "%.15g" prints it: mant * 10^exp10, mant without trailing zeros. */
void decimal_of(double d, int64_t *mant, int *exp10);

/*
 * The binary format (COPY ... WITH (FORMAT binary)): no parsing on the
 * server, for the rows a batch writes by the ten thousand. bin_begin, then
 * per row bin_row (counts it) and its columns in the table's order, then
 * bin_end. Text must be valid UTF-8; non-finite floats are NULL.
 */
void bin_begin(struct text_buf *b);
void bin_row(struct text_buf *b, int columns);
void bin_end(struct text_buf *b);
void bin_null(struct text_buf *b);
void bin_text(struct text_buf *b, const char *s);  /* NULL is NULL */
void bin_text_n(struct text_buf *b, const char *s, size_t n);
void bin_bool(struct text_buf *b, bool v);
void bin_int4(struct text_buf *b, int32_t v);
void bin_int8(struct text_buf *b, int64_t v);
void bin_float8(struct text_buf *b, double v);
void bin_timestamp(struct text_buf *b, int64_t us);  /* UTC microseconds since 1970, as timestamptz */
void bin_date(struct text_buf *b, int32_t days);     /* days since 1970-01-01 */

#endif
