/* Secret references (include/mentor/secret.h). */
#include "mentor/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_PREFIX "file:"
#define CREDENTIAL_PREFIX "credential:"

int mentor_secret_ref_check(const char *ref, struct mentor_error *err)
{
	const char *name;

	if (strncmp(ref, FILE_PREFIX, strlen(FILE_PREFIX)) == 0) {
		if (ref[strlen(FILE_PREFIX)] != '/')
			return mentor_error_set(err, MENTOR_ERR_INVALID, "'%s': the path of file: must be absolute",
						ref);
		return MENTOR_OK;
	}
	if (strncmp(ref, CREDENTIAL_PREFIX, strlen(CREDENTIAL_PREFIX)) == 0) {
		name = ref + strlen(CREDENTIAL_PREFIX);
		if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			return mentor_error_set(err, MENTOR_ERR_INVALID, "'%s': not a credential name", ref);
		return MENTOR_OK;
	}
	return mentor_error_set(err, MENTOR_ERR_INVALID, "'%s': expected file:/PATH or credential:NAME", ref);
}

/* The path a checked reference names, in path[PATH_MAX]. */
static int secret_path(const char *ref, const char *credentials_dir, char *path, struct mentor_error *err)
{
	int n;

	if (strncmp(ref, FILE_PREFIX, strlen(FILE_PREFIX)) == 0) {
		n = snprintf(path, PATH_MAX, "%s", ref + strlen(FILE_PREFIX));
	} else {
		if (!credentials_dir || !*credentials_dir)
			return mentor_error_set(err, MENTOR_ERR_INVALID,
						"'%s': no credentials directory (CREDENTIALS_DIRECTORY is not set: "
						"LoadCredential= in the unit provides it)", ref);
		n = snprintf(path, PATH_MAX, "%s/%s", credentials_dir, ref + strlen(CREDENTIAL_PREFIX));
	}
	if (n < 0 || n >= PATH_MAX)
		return mentor_error_set(err, MENTOR_ERR_INVALID, "'%s': path too long", ref);
	return MENTOR_OK;
}

int mentor_secret_read(const char *ref, const char *credentials_dir, char **ret_text, size_t *ret_len,
		       struct mentor_error *err)
{
	char path[PATH_MAX];
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	int fd = -1, rc;

	rc = mentor_secret_ref_check(ref, err);
	if (rc == MENTOR_OK)
		rc = secret_path(ref, credentials_dir, path, err);
	if (rc != MENTOR_OK)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = mentor_error_set(err, MENTOR_ERR_IO, "'%s' (%s): cannot open: %s", ref, path, strerror(errno));
		goto out;
	}
	/* A FIFO or a device would block the start, or never end. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = mentor_error_set(err, MENTOR_ERR_INVALID, "'%s' (%s): not a regular file", ref, path);
		goto out;
	}
	text = malloc(MENTOR_SECRET_MAX_BYTES + 1);
	if (!text) {
		rc = mentor_error_set(err, MENTOR_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* One byte more than allowed tells a file that is too large. */
	while (len <= MENTOR_SECRET_MAX_BYTES) {
		ssize_t n = read(fd, text + len, MENTOR_SECRET_MAX_BYTES + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mentor_error_set(err, MENTOR_ERR_IO, "'%s' (%s): cannot read: %s", ref, path,
					      strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > MENTOR_SECRET_MAX_BYTES || memchr(text, '\0', len)) {
		rc = mentor_error_set(err, MENTOR_ERR_INVALID, "'%s' (%s): larger than %d bytes or binary", ref, path,
				      MENTOR_SECRET_MAX_BYTES);
		goto out;
	}
	text[len] = '\0';
	*ret_text = text;
	*ret_len = len;
	text = NULL;
	rc = MENTOR_OK;
out:
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}
