// SPDX-License-Identifier: MIT
/*
 * two-slot: CONFIG_MM_ID with CONFIG_NO_PAGE_MAPCOUNT (6.15+, experimental):
 * the two MM owner slots, the large and entire mapcounts, and no per-page
 * mapcounts in large folios.
 *
 *   add/remove rmap  mm/rmap.c __folio_add_rmap(), __folio_remove_rmap()
 *                    (the IS_ENABLED(CONFIG_NO_PAGE_MAPCOUNT) branches)
 *   slots            folio_add_return_large_mapcount(),
 *                    folio_sub_return_large_mapcount(); on 32-bit a
 *                    per-MM count that overflows its short frees the slot
 *                    and marks the folio shared
 *   maybe shared     folio_maybe_mapped_shared()
 *   COW              __wp_can_reuse_large_anon_folio()
 *   PSS/USS          smaps_account(): folio_average_page_mapcount(), and
 *                    private = !folio_maybe_mapped_shared()
 *   kpagecount       folio_average_page_mapcount()
 */
#include "no_page_mapcount.h"

enum { CTR_SLOT = NPM_NR_CTRS };

static const struct mc_counter_decl counters[] = {
	NPM_COUNTERS,
	{ "mm_slot_mapcount", 32, 16, 1 },
};

struct state {
	struct npm_state n;
	struct mm_id_slots slots;
};

static size_t state_size(uint32_t order)
{
	return sizeof(struct state);
}

/* page->_mapcount of a small folio; _large_mapcount, _entire_mapcount and
 * the two slots (two unsigned longs) of a large one. */
static size_t meta_bytes(uint32_t order, uint32_t type, uint32_t arch)
{
	if (!order)
		return 4;
	return 8 + (arch == 32 ? 8 : 16);
}

static int64_t large_add(void *st, int64_t *large, int64_t diff, uint32_t mm_id,
			 struct mc_ctx *c)
{
	return slots_add(&((struct state *)st)->slots, large, diff, mm_id, c,
			 CTR_SLOT);
}

static int64_t large_sub(void *st, int64_t *large, int64_t diff, uint32_t mm_id,
			 struct mc_ctx *c)
{
	return slots_sub(&((struct state *)st)->slots, large, diff, mm_id, c);
}

static void init(void *st, const struct mc_folio *f, struct mc_ctx *c)
{
	struct state *s = st;

	npm_init(&s->n, f, c);
	slots_init(&s->slots);
}

static void add_rmap(void *st, const struct mc_folio *f,
		     const struct mc_rmap *r, struct mc_ctx *c)
{
	npm_add(&((struct state *)st)->n, st, large_add, f, r, c);
}

static void remove_rmap(void *st, const struct mc_folio *f,
			const struct mc_rmap *r, struct mc_ctx *c)
{
	npm_remove(&((struct state *)st)->n, st, large_sub, f, r, c);
}

static void ref(void *st, const struct mc_folio *f, int64_t delta,
		struct mc_ctx *c)
{
	npm_ref(&((struct state *)st)->n, delta, c);
}

static void pin(void *st, const struct mc_folio *f, int delta, struct mc_ctx *c)
{
	npm_pin(&((struct state *)st)->n, f, delta, c);
}

/* folio_maybe_mapped_shared() */
static bool maybe_shared(const void *st, const struct mc_folio *f)
{
	const struct state *s = st;
	int64_t mapcount = s->n.mapcount + 1;

	if (!folio_large(f) || folio_hugetlb(f))
		return mapcount > 1;
	/* A single mapping implies "mapped exclusively". */
	if (mapcount <= 1)
		return false;
	return s->slots.shared;
}

static bool cow_reuse(void *st, const struct mc_folio *f,
		      const struct mc_fault *q, struct mc_ctx *c)
{
	const struct state *s = st;
	int ret = cow_common(f, q, s->n.mapcount + 1, s->n.refcount);

	if (ret >= 0)
		return ret;
	return cow_large(s->n.mapcount + 1, s->slots.shared, s->n.refcount, c);
}

static uint64_t page_mapcount(const void *st, const struct mc_folio *f,
			      uint64_t page)
{
	return (uint64_t)npm_page_mapcount(&((const struct state *)st)->n, f);
}

static void smaps(const void *st, const struct mc_folio *f, uint64_t first,
		  uint64_t nr, struct mc_smaps *acc)
{
	npm_smaps(&((const struct state *)st)->n, f, maybe_shared(st, f), nr,
		  acc);
}

static uint32_t fields(const void *st, const struct mc_folio *f,
		       struct mc_field *out, uint32_t max)
{
	const struct state *s = st;
	struct mc_field all[] = {
		{ "refcount", s->n.refcount },
		{ "mapcount", s->n.mapcount + 1 },
		{ "entire_mapcount", s->n.entire + 1 },
		{ "pincount", s->n.pincount },
		{ "slot0_mm_id", s->slots.id[0] },
		{ "slot0_mapcount", s->slots.count[0] + 1 },
		{ "slot1_mm_id", s->slots.id[1] },
		{ "slot1_mapcount", s->slots.count[1] + 1 },
		{ "maybe_shared_bit", s->slots.shared },
	};

	FIELDS_RETURN(out, max, all);
}

const struct mc_policy policy_two_slot = {
	.abi = MC_POLICY_ABI,
	.version = 1,
	.name = "two-slot",
	.summary = "CONFIG_MM_ID owner slots, CONFIG_NO_PAGE_MAPCOUNT",
	.kernel = "mm/rmap.c __folio_add_rmap() (NO_PAGE_MAPCOUNT); "
		  "folio_maybe_mapped_shared(); folio_average_page_mapcount()",
	.state_size = state_size,
	.meta_bytes = meta_bytes,
	.counters = counters,
	.nr_counters = sizeof(counters) / sizeof(counters[0]),
	.init = init,
	.add_rmap = add_rmap,
	.remove_rmap = remove_rmap,
	.ref = ref,
	.pin = pin,
	.cow_reuse = cow_reuse,
	.maybe_shared = maybe_shared,
	.page_mapcount = page_mapcount,
	.smaps = smaps,
	.fields = fields,
};
