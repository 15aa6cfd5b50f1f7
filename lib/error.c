#include "mentor/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int mentor_error_set(struct mentor_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	err->sqlstate[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

enum mentor_db_fault mentor_error_db_fault(const struct mentor_error *err)
{
	/* SQLSTATE classes (the first two characters) and single codes, by what retrying can change. */
	static const char *const transient[] = { "08", "40", "53", "55", "57", "58" };
	static const char *const refused[] = { "22", "23", "54", "P0001", "P0004" };
	size_t len = strnlen(err->sqlstate, sizeof(err->sqlstate));

	if (err->code != MENTOR_ERR_DB)
		return MENTOR_DB_PERSISTENT;
	if (len == 0)
		return MENTOR_DB_TRANSIENT;
	if (len != 5)
		return MENTOR_DB_PERSISTENT;
	for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
		if (strncmp(err->sqlstate, transient[i], strlen(transient[i])) == 0)
			return MENTOR_DB_TRANSIENT;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (strncmp(err->sqlstate, refused[i], strlen(refused[i])) == 0)
			return MENTOR_DB_REFUSED;
	return MENTOR_DB_PERSISTENT;
}
