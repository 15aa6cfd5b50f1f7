#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Atomic: a reload sets it on the main thread while the HTTP thread may be logging. */
static atomic_int max_level = MENTOR_LOG_INFO;

void log_set_level(int level)
{
	atomic_store_explicit(&max_level, level, memory_order_relaxed);
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
	char line[2048];

	if (level > atomic_load_explicit(&max_level, memory_order_relaxed))
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	/* Some callers (libmicrohttpd) end their messages with a newline of their own. */
	for (size_t n = strlen(line); n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'); n--)
		line[n - 1] = '\0';
	/* One record per line: journald splits on newlines, so none may hide inside a message. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	/* One fprintf per line: stdio locks the stream, so lines from two threads never interleave. */
	fprintf(stderr, "<%d>%s\n", level, line);
}

void log_pg_notice(void *ctx, const char *message)
{
	(void)ctx;
	log_msg(MENTOR_LOG_WARNING, "postgresql: %s", message);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
