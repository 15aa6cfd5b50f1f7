/* The consume loop: Kafka to PostgreSQL through libmentor, with the analytics in each batch's transaction. */
#ifndef MENTORD_INGEST_H
#define MENTORD_INGEST_H

#include <signal.h>
#include <stdbool.h>

#include "mentor/config.h"

/* Set by the signal handlers (main.c), acted on by the loop. */
struct mentord_flags {
	volatile sig_atomic_t stop;    /* SIGTERM, SIGINT */
	volatile sig_atomic_t reload;  /* SIGHUP */
};

/*
 * Consumes until a stop flag, or with exit_at_end until every assigned
 * partition is read to its end and committed. On reload (flags->reload) the
 * file at config_path is read again and, if valid, its validation rules,
 * analytics settings and log level are copied into *cfg, which stays the
 * caller's. Returns the process exit code.
 */
int mentord_ingest_run(struct mentor_config *cfg, const char *config_path, bool exit_at_end,
		       struct mentord_flags *flags);

#endif
