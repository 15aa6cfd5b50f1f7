#include "config_file.h"

#include <stdlib.h>

int mentord_config_read(const char *path, struct mentor_config **ret_cfg, struct mentor_error *err)
{
	static const char *const overrides[][3] = {
		{ "MENTORD_PG", "postgres", "conninfo" },
		{ "MENTORD_KAFKA", "kafka", "bootstrap.servers" },
	};
	struct mentor_config *cfg = mentor_config_new();
	int rc = MENTOR_OK;

	if (!cfg)
		return mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
	if (path)
		rc = mentor_config_load_file(cfg, path, err);
	for (size_t i = 0; rc == MENTOR_OK && i < sizeof(overrides) / sizeof(overrides[0]); i++) {
		const char *value = getenv(overrides[i][0]);

		if (value && *value)
			rc = mentor_config_set(cfg, overrides[i][1], overrides[i][2], value, err);
	}
	/* systemd sets CREDENTIALS_DIRECTORY for the unit's LoadCredential= files. */
	if (rc == MENTOR_OK)
		rc = mentor_config_read_kafka_files(cfg, getenv("CREDENTIALS_DIRECTORY"), err);
	if (rc == MENTOR_OK)
		rc = mentor_config_validate(cfg, err);
	if (rc != MENTOR_OK) {
		mentor_config_free(cfg);
		return rc;
	}
	*ret_cfg = cfg;
	return MENTOR_OK;
}
