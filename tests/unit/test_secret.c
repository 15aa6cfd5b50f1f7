/* Secret references: the syntax, and what a read gives back or refuses (never quoting the content). */
#define _GNU_SOURCE  /* explicit_bzero */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mentor/secret.h"
#include "test_util.h"

/* A fresh directory, and files written in it. */
static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/mentord-test-secret.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void write_file(const char *name, const char *data, size_t len)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_ref_syntax(void **state)
{
	static const char *const good[] = { "file:/etc/mentord/kafka-password", "credential:kafka-password",
					    "credential:a.b" };
	static const char *const bad[] = { "", "/etc/mentord/kafka-password", "file:", "file:relative/path",
					   "credential:", "credential:.", "credential:..", "credential:../x",
					   "credential:a/b", "File:/x", "env:PASSWORD" };
	struct mentor_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(mentor_secret_ref_check(good[i], &err), MENTOR_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mentor_secret_ref_check(bad[i], &err), MENTOR_ERR_INVALID);
		assert_non_null(strstr(err.msg, bad[i]));
	}
}

static void test_read_file_and_credential(void **state)
{
	char ref[PATH_MAX + 8];
	struct mentor_error err;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	write_file("pem", "line 1\nline 2\n", 14);
	snprintf(ref, sizeof(ref), "file:%s/pem", dir);
	assert_int_equal(mentor_secret_read(ref, NULL, &text, &len, &err), MENTOR_OK);
	assert_int_equal(len, 14);
	assert_string_equal(text, "line 1\nline 2\n");
	free(text);

	write_file("kafka-password", "", 0);
	assert_int_equal(mentor_secret_read("credential:kafka-password", dir, &text, &len, &err), MENTOR_OK);
	assert_int_equal(len, 0);
	assert_string_equal(text, "");
	free(text);
}

static void test_refusals(void **state)
{
	static char big[MENTOR_SECRET_MAX_BYTES + 1];
	char ref[PATH_MAX + 8], path[PATH_MAX];
	struct mentor_error err;
	char *text = NULL;
	size_t len = 0;

	(void)state;
	/* No file: an I/O error naming the reference and the path. */
	assert_int_equal(mentor_secret_read("credential:missing", dir, &text, &len, &err), MENTOR_ERR_IO);
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_non_null(strstr(err.msg, "credential:missing"));
	assert_non_null(strstr(err.msg, path));
	/* A credential without a credentials directory. */
	assert_int_equal(mentor_secret_read("credential:missing", NULL, &text, &len, &err), MENTOR_ERR_INVALID);
	assert_non_null(strstr(err.msg, "CREDENTIALS_DIRECTORY"));
	assert_int_equal(mentor_secret_read("credential:missing", "", &text, &len, &err), MENTOR_ERR_INVALID);
	/* Not a reference. */
	assert_int_equal(mentor_secret_read("/etc/passwd", dir, &text, &len, &err), MENTOR_ERR_INVALID);
	/* A directory, a NUL byte, one byte too many; the content is never quoted. */
	snprintf(ref, sizeof(ref), "file:%s", dir);
	assert_int_equal(mentor_secret_read(ref, NULL, &text, &len, &err), MENTOR_ERR_INVALID);
	assert_non_null(strstr(err.msg, "not a regular file"));
	write_file("binary", "s3cret\0more", 11);
	assert_int_equal(mentor_secret_read("credential:binary", dir, &text, &len, &err), MENTOR_ERR_INVALID);
	assert_null(strstr(err.msg, "s3cret"));
	memset(big, 'x', sizeof(big));
	write_file("exact", big, sizeof(big) - 1);
	assert_int_equal(mentor_secret_read("credential:exact", dir, &text, &len, &err), MENTOR_OK);
	assert_int_equal(len, MENTOR_SECRET_MAX_BYTES);
	free(text);
	write_file("big", big, sizeof(big));
	assert_int_equal(mentor_secret_read("credential:big", dir, &text, &len, &err), MENTOR_ERR_INVALID);
	assert_non_null(strstr(err.msg, "larger than"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_syntax),
		cmocka_unit_test(test_read_file_and_credential),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
