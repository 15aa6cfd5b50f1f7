/* Growing arrays: the one rule every array libmentor appends to follows. Internal to lib/. */
#ifndef MENTOR_GROW_H
#define MENTOR_GROW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Makes room in *items (size bytes each, capacity *cap) for the item at
 * index n: the capacity doubles from `first` until it exceeds n. False,
 * with *items and *cap unchanged, when out of memory or when the new
 * capacity would pass max_items items or SIZE_MAX bytes.
 */
static inline bool mentor_grow(void **items, size_t *cap, size_t n, size_t size, size_t first, size_t max_items)
{
	size_t grown_cap = *cap ? *cap : first;
	void *grown;

	if (n < *cap)
		return true;
	while (grown_cap <= n) {
		if (grown_cap > SIZE_MAX / 2)
			return false;
		grown_cap *= 2;
	}
	if (grown_cap > max_items || grown_cap > SIZE_MAX / size || !(grown = realloc(*items, grown_cap * size)))
		return false;
	*items = grown;
	*cap = grown_cap;
	return true;
}

#endif
