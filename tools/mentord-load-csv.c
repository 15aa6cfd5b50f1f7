/*
 * mentord-load-csv: loads agents or team leads from a CSV file with a header
 * line into mentord's tables, as SPEC section 1 allows: the roster and the
 * team leads' alert routes "loadable from CSV or SQL".
 *
 *   mentord-load-csv agents FILE       # agent_id,name,team_id,team_lead_id,site,language,active,programs
 *   mentord-load-csv team_leads FILE   # team_lead_id,name,webhook_url,body_format,secret_ref
 *
 * Connects with MENTORD_PG (a libpq conninfo; else libpq's PG* variables) to
 * schema MENTORD_SCHEMA (default mentor). Columns are matched by the
 * header's names, so they may come in any order and optional ones may be
 * left out: a row that exists already keeps what the file does not mention.
 * The checks and the SQL are lib/csv_load.c's.
 *
 * Exit codes: 0 loaded; 1 the file cannot be read or PostgreSQL failed
 * (nothing loaded); 2 usage, a bad schema name, a bad header or a bad
 * programs value (nothing loaded).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mentor/csv_load.h"

#define EXIT_USAGE 2

/* The schema name as mentord's configuration takes it: a plain lower-case identifier. */
static int schema_name_valid(const char *name)
{
	if (!((*name >= 'a' && *name <= 'z') || *name == '_'))
		return 0;
	for (const char *p = name + 1; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	}
	return 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: mentord-load-csv agents|team_leads FILE\n");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const char *env_pg = getenv("MENTORD_PG");
	const char *env_schema = getenv("MENTORD_SCHEMA");
	const char *schema = env_schema && *env_schema ? env_schema : "mentor";
	enum mentor_csv_table table;
	struct mentor_error err;
	long long rows = 0;
	FILE *file;
	int code = 1;

	if (argc != 3)
		return usage();
	file = fopen(argv[2], "r");
	if (!file) {
		fprintf(stderr, "mentord-load-csv: cannot read %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (!schema_name_valid(schema)) {
		fprintf(stderr, "mentord-load-csv: bad schema name %s\n", schema);
		code = EXIT_USAGE;
		goto out;
	}
	if (mentor_csv_table_from_name(argv[1], &table, NULL) != MENTOR_OK) {
		code = usage();
		goto out;
	}
	if (mentor_csv_load(env_pg ? env_pg : "", schema, "mentord-load-csv", table, file, &rows, &err) != MENTOR_OK) {
		fprintf(stderr, "mentord-load-csv: %s: %s\n", argv[2], err.msg);
		code = err.code == MENTOR_ERR_INVALID ? EXIT_USAGE : 1;
		goto out;
	}
	printf("%lld %s rows loaded from %s\n", rows, argv[1], argv[2]);
	code = 0;
out:
	fclose(file);
	return code;
}
