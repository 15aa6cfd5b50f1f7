/* What the daemon's parts share: signal flags, configuration reading, the ingest loop. */
#ifndef MENTORD_H
#define MENTORD_H

#include <signal.h>
#include <stdbool.h>

#include "mentor/config.h"
#include "mentor/error.h"

/* Set by signal handlers, acted on by the main loop. */
struct mentord_flags {
	volatile sig_atomic_t stop;    /* SIGTERM, SIGINT */
	volatile sig_atomic_t reload;  /* SIGHUP */
};

/*
 * Reads the configuration file (NULL: defaults only), applies MENTORD_PG and
 * MENTORD_KAFKA over it, and validates it. Returns MENTOR_OK and *ret_cfg
 * (caller frees), or the error.
 */
int mentord_config_read(const char *path, struct mentor_config **ret_cfg, struct mentor_error *err);

/*
 * Consumes until a stop flag, or with exit_at_end until every assigned
 * partition is read to its end and committed. *cfg may be replaced on reload.
 * Returns the process exit code.
 */
int mentord_ingest_run(struct mentor_config **cfg, const char *config_path, bool exit_at_end,
		       struct mentord_flags *flags);

#endif
