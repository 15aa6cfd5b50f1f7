/*
 * Configuration parsing: the input is a whole mentord.conf, read by
 * mentor_config_load_file() through a memfd (the loader reads files, as the
 * daemon does), then validated when it loads. Either outcome is fine; a load
 * must answer MENTOR_OK or a one-line error naming where it failed, and never
 * MENTOR_ERR_IO for a file that is there. [kafka.file] references are checked,
 * never read: reading them is mentor_config_read_kafka_files(), not the parser.
 */
#define _GNU_SOURCE  /* memfd_create */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "mentor/config.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mentor_config *cfg;
	struct mentor_error err = { 0 };
	int rc;

	if (fd < 0) {
		fd = memfd_create("mentord.conf", MFD_CLOEXEC);
		FUZZ_CHECK(fd >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	cfg = mentor_config_new();
	FUZZ_CHECK(cfg);
	rc = mentor_config_load_file(cfg, path, &err);
	if (rc == MENTOR_OK) {
		rc = mentor_config_validate(cfg, &err);
		FUZZ_CHECK(rc == MENTOR_OK || rc == MENTOR_ERR_INVALID);
		/* What validation accepts, the daemon uses: the topics and the schema name. */
		if (rc == MENTOR_OK)
			for (int k = 0; k < MENTOR_EVENT_KIND_COUNT; k++)
				FUZZ_CHECK(cfg->topics[k][0] != '\0');
	} else {
		FUZZ_CHECK(rc == MENTOR_ERR_INVALID || rc == MENTOR_ERR_NOMEM);
	}
	if (rc != MENTOR_OK) {
		FUZZ_CHECK(err.code == rc && err.msg[0] != '\0');
		FUZZ_CHECK(!strchr(err.msg, '\n'));
	}
	mentor_config_free(cfg);
	return 0;
}
