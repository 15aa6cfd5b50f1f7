/*
 * Logging for the daemon: one line per message on stderr with a journald
 * priority prefix. Safe to call from any thread (the HTTP server logs too).
 */
#ifndef MENTORD_LOG_H
#define MENTORD_LOG_H

#include <stdarg.h>

#include "mentor/config.h"

/* Messages above this level (enum mentor_log_level) are dropped. */
void log_set_level(int level);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* A PostgreSQL notice or warning (libpq's notice processor): logged as a warning. */
void log_pg_notice(void *ctx, const char *message);

#define log_err(...) log_msg(MENTOR_LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(MENTOR_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(MENTOR_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(MENTOR_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(MENTOR_LOG_DEBUG, __VA_ARGS__)

#endif
