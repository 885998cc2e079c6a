// SPDX-License-Identifier: MIT
/*
 * schema.c - schema/store.sql, embedded in the executable (NUL-terminated)
 * so that mapcountd applies its migrations wherever it runs.
 */
#include "store.h"

#ifndef STORE_SQL_PATH
#error "STORE_SQL_PATH must name schema/store.sql"
#endif

__asm__(".section .rodata\n"
	".global store_sql\n"
	".type store_sql, @object\n"
	"store_sql:\n"
	".incbin \"" STORE_SQL_PATH "\"\n"
	".byte 0\n"
	".size store_sql, . - store_sql\n"
	".previous\n");
