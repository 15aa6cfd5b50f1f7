#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static int max_level = MENTOR_LOG_INFO;

void log_set_level(int level)
{
	max_level = level;
}

void log_msg(int level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One record per line: journald splits on newlines, so none may hide inside a message. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(stderr, "<%d>%s\n", level, line);
}
