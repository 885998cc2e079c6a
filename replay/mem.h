/* SPDX-License-Identifier: MIT */
/*
 * mem.h - allocation for the engine's and the world's arrays.
 *
 * Measured and left out: asking for transparent huge pages on the big
 * arrays (MADV_HUGEPAGE).  A replay of a large trace is a random walk over
 * them, but the 2 MiB page clearing cost more than the TLB misses saved
 * (fork-storm, all policies: 2.08 s with, 1.93 s without).
 */
#ifndef MAPCOUNT_MEM_H
#define MAPCOUNT_MEM_H

#include <stddef.h>

/* realloc() that aborts when out of memory (n == 0 allocates 1 byte). */
void *mc_realloc(void *p, size_t n);

#endif /* MAPCOUNT_MEM_H */
