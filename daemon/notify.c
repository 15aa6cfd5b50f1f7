#include "notify.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "mentor/clock.h"

static uint64_t watchdog_period_us;  /* half of WATCHDOG_USEC; 0 when systemd runs no watchdog */
static int64_t last_ping_us;

void notify_init(void)
{
	uint64_t usec = 0;

	/* unset_environment=0: later notifications need NOTIFY_SOCKET and WATCHDOG_USEC too. */
	if (sd_watchdog_enabled(0, &usec) > 0)
		watchdog_period_us = usec / 2;
}

void notify_ready(void)
{
	sd_notify(0, "READY=1\nSTATUS=consuming");
}

void notify_reloading(void)
{
	/* systemd 253+ needs MONOTONIC_USEC to match a reload to its RELOADING=1; 252 ignores it. */
	sd_notifyf(0, "RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=%" PRId64, mentor_monotonic_us());
}

void notify_stopping(void)
{
	sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void notify_status(const char *fmt, ...)
{
	char status[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(status, sizeof(status), fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", status);
}

void notify_watchdog(void)
{
	int64_t now;

	if (watchdog_period_us == 0)
		return;
	now = mentor_monotonic_us();
	if (last_ping_us != 0 && (uint64_t)(now - last_ping_us) < watchdog_period_us)
		return;
	last_ping_us = now;
	sd_notify(0, "WATCHDOG=1");
}
