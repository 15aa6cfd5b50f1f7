/*
 * What the libFuzzer harnesses of tests/fuzz share: a check that aborts with
 * the failed condition, so that libFuzzer records the input as a crash.
 */
#ifndef MENTOR_FUZZ_CHECK_H
#define MENTOR_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                        \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                \
		}                                                                               \
	} while (0)

#endif
