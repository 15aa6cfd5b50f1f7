/* The configuration as the daemon reads it: the file, then the environment's overrides, validated. */
#ifndef MENTORD_CONFIG_FILE_H
#define MENTORD_CONFIG_FILE_H

#include "mentor/config.h"
#include "mentor/error.h"

/*
 * Reads the configuration file (NULL: defaults only), applies MENTORD_PG and
 * MENTORD_KAFKA over it, reads the files of [kafka.file] (credential:
 * references in $CREDENTIALS_DIRECTORY), and validates it. Returns MENTOR_OK
 * and *ret_cfg (free with mentor_config_free), or the error (MENTOR_ERR_IO:
 * the configuration or a [kafka.file] file unreadable).
 */
int mentord_config_read(const char *path, struct mentor_config **ret_cfg, struct mentor_error *err);

#endif
