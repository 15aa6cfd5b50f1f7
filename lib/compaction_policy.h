/*
 * When a day of agent_daily_parts is due for compaction. Per day, in
 * direct-mapped slots (a day evicted from its slot only loses its count):
 * the parts rows committed since the day was last compacted (`pending`) and
 * the rows it had after that (`base`). A day is due when
 * pending >= max(MENTOR_COMPACT_MIN_ROWS, base): the parts table stays within
 * about twice its compacted size plus MENTOR_COMPACT_MIN_ROWS a day, and
 * compaction scans each row a bounded number of times.
 *
 * Pure bookkeeping, internal to the store: no database, clock, logging or
 * globals; compaction.h runs what it decides.
 */
#ifndef MENTOR_COMPACTION_POLICY_H
#define MENTOR_COMPACTION_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mentor/batch.h"

#define MENTOR_COMPACT_SLOTS 512
#define MENTOR_COMPACT_MIN_ROWS 250000

struct mentor_compact_day {
	int32_t day;  /* days since 1970-01-01 */
	bool used;
	uint64_t pending, base;
};

/* All zero: no day counted. */
struct mentor_compaction_policy {
	struct mentor_compact_day days[MENTOR_COMPACT_SLOTS];
};

/*
 * Counts a committed batch's parts rows per day (days[0..n), as
 * mentor_batch_daily() gives them); a day found in another's slot replaces
 * it, from zero. Returns whether a day of the batch reached its threshold,
 * and the first that did in *ret_due.
 */
bool mentor_compaction_policy_count(struct mentor_compaction_policy *p, const struct mentor_daily_day *days, size_t n,
				    int32_t *ret_due);

/* A compaction of day began: it merges every row counted so far (pending starts again from 0). */
void mentor_compaction_policy_started(struct mentor_compaction_policy *p, int32_t day);

/*
 * A compaction of day ended with `rows` rows left for it: its new base.
 * False (nothing kept) if the day has left its slot meanwhile.
 */
bool mentor_compaction_policy_done(struct mentor_compaction_policy *p, int32_t day, uint64_t rows);

#endif
