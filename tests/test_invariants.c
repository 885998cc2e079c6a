// SPDX-License-Identifier: MIT
/*
 * Invariants on thousands of random valid traces: whatever a policy keeps,
 * some facts must hold after every event.
 *
 *  - every policy's folio mapcount equals the oracle's;
 *  - per-page and two-slot+pages have the oracle's page mapcounts and
 *    AnonPages; the others never count fewer anon pages;
 *  - the slot policies (two-slot+pages, two-slot, 012-stopped, count64)
 *    never answer "exclusive" for a shared folio and never reuse unsafely
 *    (hugetlb excepted: hugetlb_wp() ignores the refcount by design);
 *  - a folio nobody maps, with no references left, has exactly the state
 *    it had when allocated, in every policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"

#define NP    6
#define MAXMM 5
#define MAXF  10
static const char *const names[NP] = { "exact",		 "per-page",
				       "two-slot+pages", "two-slot",
				       "012-stopped",	 "count64" };

static uint64_t rng;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

struct gen {
	struct engine *e;
	const struct world *w;
	uint64_t trace;
};

static int64_t field(const struct mc_policy *p, const void *st,
		     const struct mc_folio *f, const char *name)
{
	struct mc_field fl[16];
	uint32_t n = p->fields(st, f, fl, 16);

	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(fl[i].name, name))
			return fl[i].value;
	fail_msg("%s has no field %s", p->name, name);
	return 0;
}

/* The state a policy gives a fresh folio of this shape. */
static void fresh_state(const struct mc_policy *p, const struct mc_folio *f,
			void *buf)
{
	int64_t peak[MC_MAX_COUNTERS] = { 0 }, limit[MC_MAX_COUNTERS];
	uint64_t first[MC_MAX_COUNTERS];
	struct mc_ctx c = { .arch = 64,
			    .peak = peak,
			    .limit = limit,
			    .first_overflow = first };

	for (int i = 0; i < MC_MAX_COUNTERS; i++) {
		limit[i] = INT64_MAX;
		first[i] = UINT64_MAX;
	}
	memset(buf, 0, p->state_size(f->order));
	p->init(buf, f, &c);
}

static void check_folio(struct gen *g, uint32_t folio, bool pages)
{
	const struct world_folio *wf = world_folio(g->w, folio);
	static char fresh[1 << 16];
	struct mc_folio f;
	const void *xs = engine_folio_state(g->e, 0, folio, &f);
	int64_t xm = field(engine_result(g->e, 0)->policy, xs, &f, "mapcount");

	for (uint32_t i = 1; i < NP; i++) {
		const struct mc_policy *p = engine_result(g->e, i)->policy;
		const void *st = engine_folio_state(g->e, i, folio, &f);
		int64_t m = field(p, st, &f, "mapcount");

		if (m != xm)
			fail_msg("trace %llu folio %u: %s mapcount %lld, exact "
				 "%lld",
				 (unsigned long long)g->trace, folio, p->name,
				 (long long)m, (long long)xm);
		if (pages && (i == 1 || i == 2)) {
			for (uint64_t pg = 0; pg < f.nr_pages; pg++) {
				uint64_t a = p->page_mapcount(st, &f, pg);
				uint64_t b = engine_result(g->e, 0)
						     ->policy->page_mapcount(
							     xs, &f, pg);

				if (a != b)
					fail_msg("trace %llu folio %u page "
						 "%llu: %s page mapcount %llu, "
						 "exact %llu",
						 (unsigned long long)g->trace,
						 folio, (unsigned long long)pg,
						 p->name, (unsigned long long)a,
						 (unsigned long long)b);
			}
		}
	}
	if (wf->mappings || wf->refs || wf->pins)
		return;
	for (uint32_t i = 0; i < NP; i++) {
		const struct mc_policy *p = engine_result(g->e, i)->policy;
		const void *st = engine_folio_state(g->e, i, folio, &f);

		assert_true(p->state_size(f.order) <= sizeof(fresh));
		fresh_state(p, &f, fresh);
		if (memcmp(fresh, st, p->state_size(f.order)))
			fail_msg("trace %llu folio %u: %s state not back to "
				 "its initial value",
				 (unsigned long long)g->trace, folio, p->name);
	}
}

static void check_all(struct gen *g, uint32_t touched)
{
	const struct mc_result *x = engine_result(g->e, 0);

	for (uint32_t folio = 0; folio < world_nr_folios(g->w); folio++)
		if (world_folio(g->w, folio)->live)
			check_folio(g, folio, folio == touched);
	for (uint32_t i = 1; i < NP; i++) {
		const struct mc_result *r = engine_result(g->e, i);

		if (i <= 2 && r->anon_mapped != x->anon_mapped)
			fail_msg("trace %llu: %s AnonPages %lld, exact %lld",
				 (unsigned long long)g->trace, names[i],
				 (long long)r->anon_mapped,
				 (long long)x->anon_mapped);
		if (r->anon_mapped < x->anon_mapped)
			fail_msg("trace %llu: %s counts fewer anon pages",
				 (unsigned long long)g->trace, names[i]);
		if (i >= 2 &&
		    (r->shared.false_exclusive || r->cow.unsafe_reuse))
			fail_msg("trace %llu: %s false_exclusive %llu unsafe "
				 "%llu",
				 (unsigned long long)g->trace, names[i],
				 (unsigned long long)r->shared.false_exclusive,
				 (unsigned long long)r->cow.unsafe_reuse);
	}
}

static void apply(struct gen *g, struct mct_event *ev)
{
	char err[256];

	if (engine_event(g->e, ev, err, sizeof(err)))
		fail_msg("trace %llu: generated an invalid %s: %s",
			 (unsigned long long)g->trace, mct_kind_name(ev->kind),
			 err);
	check_all(g, ev->folio);
}

static bool mm_live(struct gen *g, uint32_t mm)
{
	const struct world_mm *m = world_mm(g->w, mm);

	return m && m->live;
}

static bool folio_live(struct gen *g, uint32_t folio)
{
	const struct world_folio *f = world_folio(g->w, folio);

	return f && f->live;
}

/* A run of pages at [start, ...) that are all (un)mapped at that spot. */
static uint64_t run_from(struct gen *g, uint32_t mm, uint32_t folio,
			 uint32_t vma, uint64_t start, bool mapped)
{
	const struct world_folio *f = world_folio(g->w, folio);
	uint64_t n = 0, max = 1 + rnd((uint32_t)f->nr_pages);

	while (start + n < f->nr_pages && n < max &&
	       world_mapped(g->w, mm, folio, vma, MC_PTE, start + n) == mapped)
		n++;
	return n;
}

static void gen_map(struct gen *g, struct mct_event *ev, bool unmap)
{
	const struct world_folio *f;
	uint32_t mm = rnd(MAXMM), folio = rnd(MAXF);

	if (!mm_live(g, mm) || !folio_live(g, folio))
		return;
	f = world_folio(g->w, folio);
	*ev = (struct mct_event){ .kind = unmap ? MCT_UNMAP : MCT_MAP,
				  .mm = mm,
				  .folio = folio,
				  .vma = MCT_NO_ID };
	if (f->type == MC_FILE && rnd(2))
		ev->vma = 1;
	if (f->type == MC_HUGETLB || (f->order == 9 && rnd(3) == 0)) {
		ev->level = MC_PMD;
		ev->first = 0;
		ev->nr = f->nr_pages;
		if (world_mapped(g->w, mm, folio, ev->vma, MC_PMD, 0) != unmap)
			return;
	} else {
		uint64_t start = rnd((uint32_t)f->nr_pages);

		ev->first = start;
		ev->nr = run_from(g, mm, folio, ev->vma, start, unmap);
		if (!ev->nr)
			return;
	}
	if (!unmap && (f->type == MC_ANON || f->type == MC_HUGETLB) && rnd(2))
		ev->flags |= MCT_F_EXCL;
	apply(g, ev);
}

static void gen_event(struct gen *g)
{
	struct mct_event ev = { 0 };
	uint32_t mm = rnd(MAXMM), mm2 = rnd(MAXMM), folio = rnd(MAXF);
	const struct world_folio *f = world_folio(g->w, folio);
	static const uint32_t orders[] = { 0, 0, 2, 4, 4, 9 };

	switch (rnd(20)) {
	case 0:
		if (mm_live(g, mm))
			return;
		ev = (struct mct_event){ .kind = MCT_MM,
					 .mm = mm,
					 .mm2 = MCT_NO_ID };
		break;
	case 1:
		if (!mm_live(g, mm) || mm_live(g, mm2))
			return;
		ev = (struct mct_event){ .kind = MCT_FORK,
					 .mm = mm,
					 .mm2 = mm2 };
		break;
	case 2:
		if (!mm_live(g, mm))
			return;
		ev = (struct mct_event){ .kind = MCT_EXIT, .mm = mm };
		break;
	case 3:
		if (folio_live(g, folio))
			return;
		ev = (struct mct_event){ .kind = MCT_ALLOC,
					 .folio = folio,
					 .order = orders[rnd(6)] };
		ev.type = rnd(4) == 0 ? MC_FILE : MC_ANON;
		if (ev.order == 9 && rnd(4) == 0)
			ev.type = MC_HUGETLB;
		break;
	case 4:
		if (!folio_live(g, folio) || f->mappings || f->refs || f->pins)
			return;
		ev = (struct mct_event){ .kind = MCT_FREE, .folio = folio };
		break;
	case 5:
	case 6:
	case 7:
	case 8:
		gen_map(g, &ev, false);
		return;
	case 9:
	case 10:
	case 11:
		gen_map(g, &ev, true);
		return;
	case 12:
		if (!folio_live(g, folio))
			return;
		ev = (struct mct_event){ .kind = MCT_REF,
					 .folio = folio,
					 .delta = 1 + rnd(3) };
		if (f->refs && rnd(2))
			ev.delta = -(int64_t)(1 + rnd((uint32_t)f->refs));
		break;
	case 13:
		if (!folio_live(g, folio))
			return;
		ev = (struct mct_event){ .kind = f->pins && rnd(2) ? MCT_UNPIN
								   : MCT_PIN,
					 .folio = folio };
		break;
	case 14:
	case 15:
	case 16: {
		uint64_t page = 0;
		int tries = 0;

		/* look for a page that some live MM maps */
		for (; tries < 32; tries++) {
			mm = rnd(MAXMM);
			folio = rnd(MAXF);
			f = world_folio(g->w, folio);
			if (!mm_live(g, mm) || !folio_live(g, folio))
				continue;
			page = rnd((uint32_t)f->nr_pages);
			if (world_page_level(g->w, mm, folio, page))
				break;
		}
		if (tries == 32)
			return;
		if (f->type == MC_HUGETLB && (f->refs || f->pins))
			return; /* hugetlb_wp(): see the header */
		ev = (struct mct_event){
			.kind = MCT_COW, .mm = mm, .folio = folio, .first = page
		};
		break;
	}
	case 17:
		if (!folio_live(g, folio))
			return;
		ev = (struct mct_event){ .kind = MCT_QUERY, .folio = folio };
		break;
	case 18:
		if (!mm_live(g, mm))
			return;
		ev = (struct mct_event){ .kind = MCT_STAT, .mm = mm };
		break;
	default:
		if (!folio_live(g, folio))
			return;
		ev = (struct mct_event){ .kind = MCT_OBSERVE,
					 .folio = folio,
					 .first = rnd((uint32_t)f->nr_pages) };
		break;
	}
	apply(g, &ev);
}

static void test_random_traces(void **state)
{
	const struct mc_policy *pols[NP];
	struct mct_header h = {
		.version = 1, .page_size = 4096, .pmd_order = 9, .pud_order = 18
	};
	struct engine_opts o = { .arch = 64,
				 .policies = pols,
				 .nr_policies = NP,
				 .no_timing = true };
	uint64_t cows = 0, queries = 0;
	char err[256];

	for (int i = 0; i < NP; i++)
		pols[i] = mc_policy_find(names[i]);
	for (uint64_t t = 0; t < 2000; t++) {
		struct gen g = { .trace = t };

		rng = 0x9E3779B97F4A7C15ull ^ (t * 0xBF58476D1CE4E5B9ull + 1);
		g.e = engine_new(&h, &o, err, sizeof(err));
		assert_non_null(g.e);
		g.w = engine_world(g.e);
		for (int n = 0; n < 400; n++)
			gen_event(&g);
		engine_finish(g.e);
		cows += engine_result(g.e, 0)->cow.decisions;
		queries += engine_result(g.e, 0)->shared.queries;
		engine_free(g.e);
	}
	print_message("%llu cows, %llu queries\n", (unsigned long long)cows,
		      (unsigned long long)queries);
	/* the generator must exercise the decisions it checks */
	assert_true(cows > 10000);
	assert_true(queries > 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_traces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
