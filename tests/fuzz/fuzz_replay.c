// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the semantic checker and the engine.  A trace that
 * parses is replayed through every built-in policy (on 64-bit, and on
 * 32-bit for odd-sized inputs); the world must refuse what is invalid with
 * a message and every policy must survive what is valid.
 */
#include <stdint.h>
#include <stdio.h>

#include "engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct mct_reader *r =
		mct_open_mem(data, size, "fuzz", err, sizeof(err));
	struct engine_opts o = { .arch = size & 1 ? 32 : 64,
				 .no_timing = true };
	struct mct_event ev;
	struct engine *e;
	uint64_t n = 0;

	if (!r)
		return 0;
	o.policies = mc_builtin_policies(&o.nr_policies);
	e = engine_new(mct_header(r), &o, err, sizeof(err));
	/* bounded work per input: huge folios and long traces are for bench */
	while (e && n++ < 4096 && mct_next(r, &ev) > 0) {
		if (ev.kind == MCT_ALLOC && ev.order > 12)
			break;
		if (engine_event(e, &ev, err, sizeof(err)))
			break;
	}
	if (e)
		engine_finish(e);
	engine_free(e);
	mct_close(r);
	return 0;
}
