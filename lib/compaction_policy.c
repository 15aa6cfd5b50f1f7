/* The compaction policy (compaction_policy.h). */
#include "compaction_policy.h"

static struct mentor_compact_day *slot_of(struct mentor_compaction_policy *p, int32_t day)
{
	return &p->days[(uint32_t)day % MENTOR_COMPACT_SLOTS];
}

bool mentor_compaction_policy_count(struct mentor_compaction_policy *p, const struct mentor_daily_day *days, size_t n,
				    int32_t *ret_due)
{
	bool due = false;

	for (size_t i = 0; i < n; i++) {
		struct mentor_compact_day *d = slot_of(p, days[i].day);
		uint64_t threshold;

		if (!d->used || d->day != days[i].day)
			*d = (struct mentor_compact_day){ .day = days[i].day, .used = true };
		d->pending += days[i].rows;
		threshold = d->base > MENTOR_COMPACT_MIN_ROWS ? d->base : MENTOR_COMPACT_MIN_ROWS;
		if (!due && d->pending >= threshold) {
			due = true;
			*ret_due = d->day;
		}
	}
	return due;
}

void mentor_compaction_policy_started(struct mentor_compaction_policy *p, int32_t day)
{
	slot_of(p, day)->pending = 0;
}

bool mentor_compaction_policy_done(struct mentor_compaction_policy *p, int32_t day, uint64_t rows)
{
	struct mentor_compact_day *d = slot_of(p, day);

	if (!d->used || d->day != day)
		return false;
	d->base = rows;
	return true;
}
