// SPDX-License-Identifier: MIT
/*
 * mem.c - see mem.h.
 */
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>

void *mc_realloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fputs("mapcount: out of memory\n", stderr);
		abort();
	}
	return p;
}
