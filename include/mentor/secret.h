/*
 * Secret references: where a secret is read from, in one syntax for the whole
 * project (the [kafka.file] section of the configuration, team_leads.secret_ref).
 *
 *   file:/ABSOLUTE/PATH   that file;
 *   credential:NAME       NAME in the directory systemd fills from the unit's
 *                         LoadCredential= lines ($CREDENTIALS_DIRECTORY).
 *
 * No environment and no globals: the caller passes the credentials directory.
 * Messages name the reference and its path, never the content.
 */
#ifndef MENTOR_SECRET_H
#define MENTOR_SECRET_H

#include <stddef.h>

#include "mentor/error.h"

/* Longest secret file read: a password, a key or a certificate chain fits. */
#define MENTOR_SECRET_MAX_BYTES 65536

/*
 * Checks the syntax of a reference without touching a file. Returns MENTOR_OK
 * or MENTOR_ERR_INVALID (not file:/PATH, or a credential name that is empty,
 * ".", ".." or holds a '/').
 */
int mentor_secret_ref_check(const char *ref, struct mentor_error *err);

/*
 * Reads the whole file a reference names: a regular file of at most
 * MENTOR_SECRET_MAX_BYTES bytes, none of them NUL. credentials_dir is where
 * credential: references point, NULL or "" when there is none. Returns
 * MENTOR_OK with *ret_text (NUL-terminated; the caller wipes it with
 * explicit_bzero and frees it) and *ret_len; MENTOR_ERR_INVALID for a bad
 * reference, no credentials directory, or a file too large, binary or not
 * regular; MENTOR_ERR_IO when the file cannot be opened or read; or
 * MENTOR_ERR_NOMEM.
 */
int mentor_secret_read(const char *ref, const char *credentials_dir, char **ret_text, size_t *ret_len,
		       struct mentor_error *err);

#endif
