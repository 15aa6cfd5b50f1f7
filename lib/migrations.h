/* Schema migrations compiled into the library (from lib/sql/NNN_name.sql). */
#ifndef MENTOR_MIGRATIONS_H
#define MENTOR_MIGRATIONS_H

#include <stddef.h>

struct mentor_migration {
	int version;       /* NNN of the file name; applied in increasing order, once */
	const char *name;  /* the file name without .sql */
	const char *sql;
};

extern const struct mentor_migration mentor_migrations[];
extern const size_t mentor_migration_count;

#endif
