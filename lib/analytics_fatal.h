/*
 * Fatal items (SPEC section 2): stored events with `fatal` items wait for the
 * watermark, then each fires a fatal trigger and its alert. Internal to lib/.
 */
#ifndef MENTOR_ANALYTICS_FATAL_H
#define MENTOR_ANALYTICS_FATAL_H

#include "analytics_int.h"
#include "mentor/batch.h"

/* Remembers a stored event with fatal items until the watermark passes its decision time. */
int an_add_fatal(struct run *r, const char *event_id, size_t len, int64_t decide_us);

/* Remembers the batch's stored events with fatal items (stored: as the batch hook gets it). */
int an_add_batch_fatal(struct run *r, const struct mentor_batch *b, const unsigned char *stored);

/*
 * Forgets the batch's repeated events with fatal items (stored: as the batch
 * hook gets it, not NULL), which an_add_batch_fatal took for new before the
 * batch was stored: one waiting entry per repeat.
 */
void an_drop_batch_fatal(struct an_program *an, const struct mentor_batch *b, const unsigned char *stored);

/* Fires the triggers and alerts of the waiting fatal events before closed_us. */
int an_decide_fatal(struct run *r, int64_t closed_us);

/* Forgets every waiting fatal event. */
void an_free_fatal(struct an_program *an);

#endif
