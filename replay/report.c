// SPDX-License-Identifier: MIT
/*
 * report.c - replay results as JSON (jansson) and as a table.
 */
#include "report.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#define U(x) json_integer((json_int_t)(x))

static json_t *cow_json(const struct mc_result *r)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "decisions",
			 U(r->cow.decisions), "reuse", U(r->cow.reuse), "copy",
			 U(r->cow.copy), "missed_reuse", U(r->cow.missed_reuse),
			 "unsafe_reuse", U(r->cow.unsafe_reuse), "kernel_agree",
			 U(r->cow.kernel_agree), "kernel_disagree",
			 U(r->cow.kernel_disagree), "anon_exclusive",
			 U(r->cow.anon_exclusive));
}

static json_t *shared_json(const struct mc_result *r)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o}", "queries",
			 U(r->shared.queries), "false_shared",
			 U(r->shared.false_shared), "false_exclusive",
			 U(r->shared.false_exclusive), "kernel_agree",
			 U(r->shared.kernel_agree), "kernel_disagree",
			 U(r->shared.kernel_disagree));
}

static json_t *stats_json(const struct mc_result *r)
{
	return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "queries",
			 U(r->stats.queries), "pss_err_max_bytes",
			 U(r->stats.pss_err_max_bytes), "uss_err_max_bytes",
			 U(r->stats.uss_err_max_bytes),
			 "anon_mapped_err_max_bytes",
			 U(r->stats.anon_mapped_err_max_bytes),
			 "file_mapped_err_max_bytes",
			 U(r->stats.file_mapped_err_max_bytes), "kernel_agree",
			 U(r->stats.kernel_agree), "kernel_disagree",
			 U(r->stats.kernel_disagree));
}

static json_t *memory_json(const struct engine *e, const struct mc_result *r,
			   uint32_t arch)
{
	const struct world_summary *s = world_summary(engine_world(e));
	json_t *per = json_object();

	for (uint32_t k = 0; k <= MCT_MAX_ORDER; k++) {
		uint64_t n = 0;
		char key[8];

		for (uint32_t t = 0; t < MCT_NR_FTYPES; t++)
			n += s->folios_by_order[k][t];
		if (!n)
			continue;
		snprintf(key, sizeof(key), "%u", k);
		json_object_set_new(per, key,
				    U(r->policy->meta_bytes(k, MC_ANON, arch)));
	}
	return json_pack("{s:o,s:o}", "metadata_bytes_peak", U(r->memory.peak),
			 "bytes_per_folio", per);
}

static json_t *overflow_json(const struct mc_result *r, uint32_t arch)
{
	json_t *ctrs = json_array();

	for (uint32_t c = 0; c < r->policy->nr_counters; c++) {
		const struct mc_counter_decl *d = &r->policy->counters[c];
		uint32_t bits = arch == 32 ? d->bits32 : d->bits64;
		uint64_t first = r->overflow.first_overflow[c];

		if (!bits)
			continue;
		json_array_append_new(
			ctrs, json_pack("{s:s,s:o,s:o,s:o,s:o}", "name",
					d->name, "bits", U(bits), "peak",
					U(r->overflow.peak[c]), "limit",
					U(r->overflow.limit[c]),
					"first_overflow_event",
					first == UINT64_MAX ? json_null()
							    : U(first)));
	}
	return json_pack("{s:o,s:o}", "events", U(r->overflow.events),
			 "counters", ctrs);
}

static double ns_per_event(const struct mc_result *r)
{
	double ns;

	if (!r->cost.sampled_events)
		return 0;
	ns = r->cost.sampled_ns / (double)r->cost.sampled_events;
	return ns > 0 ? ns : 0;
}

/* The timeline (engine_timeline()): "events" and one array per count. */
static json_t *series_json(const struct engine *e, uint32_t i)
{
	static const struct {
		const char *name;
		size_t off;
	} f[] = {
		{ "missed_reuse", offsetof(struct mc_tpoint, missed_reuse) },
		{ "unsafe_reuse", offsetof(struct mc_tpoint, unsafe_reuse) },
		{ "false_shared", offsetof(struct mc_tpoint, false_shared) },
		{ "false_exclusive",
		  offsetof(struct mc_tpoint, false_exclusive) },
		{ "pss_err_max_bytes",
		  offsetof(struct mc_tpoint, pss_err_max_bytes) },
	};
	const uint64_t *ev;
	const struct mc_tpoint *pt;
	uint32_t stride, n = engine_timeline(e, i, &ev, &pt, &stride);
	json_t *s = json_object(), *a = json_array();

	for (uint32_t k = 0; k < n; k++)
		json_array_append_new(a, U(ev[k]));
	json_object_set_new(s, "events", a);
	for (size_t j = 0; j < sizeof(f) / sizeof(f[0]); j++) {
		a = json_array();
		for (uint32_t k = 0; k < n; k++) {
			const char *p = (const char *)&pt[(size_t)k * stride];
			uint64_t v;

			memcpy(&v, p + f[j].off, sizeof(v));
			json_array_append_new(a, U(v));
		}
		json_object_set_new(s, f[j].name, a);
	}
	return s;
}

static json_t *policy_json(const struct engine *e, uint32_t i,
			   const struct mc_result *r, uint32_t arch)
{
	json_t *j = json_pack(
		"{s:s,s:o,s:o,s:o,s:{s:o,s:o,s:o,s:o},s:{s:o,s:o},s:{s:o,s:o},"
		"s:o,s:o,s:{s:f,s:o,s:o}}",
		"policy", r->policy->name, "cow", cow_json(r), "shared",
		shared_json(r), "stats", stats_json(r), "partial", "actual",
		U(r->partial.actual), "detected", U(r->partial.detected),
		"missed", U(r->partial.missed), "false",
		U(r->partial.false_flags), "observe", "observed",
		U(r->observe.observed), "agree", U(r->observe.agree), "slots",
		"observed", U(r->slots.observed), "agree", U(r->slots.agree),
		"memory", memory_json(e, r, arch), "overflow",
		overflow_json(r, arch), "cost", "ns_per_event", ns_per_event(r),
		"words_written", U(r->cost.words_written), "atomics",
		U(r->cost.atomics));

	json_object_set_new(j, "series", series_json(e, i));
	return j;
}

json_t *report_trace_json(const struct engine *e, uint32_t nr_policies,
			  const char *name, const char *file, uint32_t arch)
{
	json_t *pols = json_array();

	for (uint32_t i = 0; i < nr_policies; i++)
		json_array_append_new(
			pols, policy_json(e, i, engine_result(e, i), arch));
	return json_pack("{s:s,s:s,s:o,s:o}", "name", name, "file", file,
			 "events", U(engine_events(e)), "policies", pols);
}

json_t *report_json(uint32_t arch, json_t *traces)
{
	return json_pack("{s:i,s:o,s:o}", "mapcount_replay", 1, "arch", U(arch),
			 "traces", traces);
}
