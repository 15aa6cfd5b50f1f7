/*
 * systemd service notifications (sd_notify(3)). Every call is a no-op when
 * NOTIFY_SOCKET is unset, so a mentord started by hand or by a test behaves
 * the same. Call from the main thread only.
 */
#ifndef MENTORD_NOTIFY_H
#define MENTORD_NOTIFY_H

/* Reads the watchdog interval (WATCHDOG_USEC) once, at start. */
void notify_init(void);

/* READY=1: PostgreSQL is migrated and the consumer is subscribed; also ends a reload. */
void notify_ready(void);

/* RELOADING=1 with MONOTONIC_USEC, before a SIGHUP reload; notify_ready() ends it. */
void notify_reloading(void);

/* STOPPING=1: shutdown has begun. */
void notify_stopping(void);

/* STATUS=...: one line for `systemctl status`. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * WATCHDOG=1, at most once per half watchdog interval however often it is
 * called. Call it wherever the main loop shows progress, and nowhere else.
 */
void notify_watchdog(void);

#endif
