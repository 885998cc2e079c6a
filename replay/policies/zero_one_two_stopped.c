// SPDX-License-Identifier: MIT
/*
 * 012-stopped: per large folio a state 0, 1, 2 or STOPPED, with the MM and
 * mapcount of at most two MMs, next to the large and entire mapcounts; no
 * per-page mapcounts.  A third MM mapping the folio stops the tracking:
 * from then on only the large mapcount moves, without taking the folio's
 * lock, and the folio counts as shared until nobody maps it any more.
 *
 * Hildenbrand's "stop tracking once there are too many mappings" (v3 cover
 * letter of "mm: MM owner tracking for large folios", 5.1: "assume that the
 * folio is mapped shared until it was freed"), after Wilcox's "zero, one,
 * two, many", whose "many" an rmap walk may reset.  Here the last unmap
 * resets it: a folio nobody maps needs no walk, and a page cache folio may
 * be mapped again long before it is freed.  Everything else is
 * CONFIG_NO_PAGE_MAPCOUNT:
 *
 *   add/remove rmap  mm/rmap.c __folio_add_rmap() (NO_PAGE_MAPCOUNT)
 *   maybe shared     state 2 or STOPPED (small folios, hugetlb:
 *                    folio_mapcount() > 1)
 *   COW              __wp_can_reuse_large_anon_folio() with that answer
 *   PSS/USS          folio_average_page_mapcount(), !maybe shared
 *
 * While tracking, the two counts are exact (no MM is ever untracked), so
 * "state 1" proves exclusivity.  The per-MM counts are stored like the
 * kernel's slots (biased; a short on 32-bit); one that would overflow
 * stops the tracking.
 */
#include "no_page_mapcount.h"

enum { CTR_PAIR = NPM_NR_CTRS };

#define STOPPED 3

static const struct mc_counter_decl counters[] = {
	NPM_COUNTERS,
	{ "mm_pair_mapcount", 32, 16, 1 }, /* encoded as the kernel's slots */
};

struct state {
	struct npm_state n;
	uint32_t id[2];	  /* the MMs, 0 = free */
	int64_t count[2]; /* their mappings */
	uint8_t state;	  /* 0, 1, 2: MMs mapping it; or STOPPED */
};

static size_t state_size(uint32_t order)
{
	return sizeof(struct state);
}

/* as two-slot: the state lives in the top bits of the MM id words */
static size_t meta_bytes(uint32_t order, uint32_t type, uint32_t arch)
{
	if (!order)
		return 4;
	return 8 + (arch == 32 ? 8 : 16);
}

static int64_t large_add(void *st, int64_t *large, int64_t diff, uint32_t mm_id,
			 struct mc_ctx *c)
{
	struct state *s = st;
	int i;

	*large += diff;
	if (s->state == STOPPED) {
		cost(c, 1, 1); /* atomic_add_return(), no lock */
		return *large + 1;
	}
	cost(c, 1, 2); /* lock; large mapcount and a count */
	for (i = 0; i < 2; i++) {
		if (s->id[i] == mm_id) {
			s->count[i] += diff;
			mc_counter(c, CTR_PAIR, s->count[i]);
			/* stored biased like a slot: a short on 32-bit */
			if (s->count[i] - 1 > slot_max(c->arch))
				s->state = STOPPED;
			return *large + 1;
		}
	}
	for (i = 0; i < 2; i++) {
		if (!s->id[i]) {
			s->id[i] = mm_id;
			s->count[i] = diff;
			s->state++;
			mc_counter(c, CTR_PAIR, diff);
			cost(c, 0, 1);
			return *large + 1;
		}
	}
	s->state = STOPPED; /* a third MM: stop tracking */
	cost(c, 0, 1);
	return *large + 1;
}

static int64_t large_sub(void *st, int64_t *large, int64_t diff, uint32_t mm_id,
			 struct mc_ctx *c)
{
	struct state *s = st;

	*large -= diff;
	if (s->state == STOPPED) {
		cost(c, 1, 1);
		return *large + 1;
	}
	cost(c, 1, 2);
	for (int i = 0; i < 2; i++) {
		if (s->id[i] != mm_id)
			continue;
		s->count[i] -= diff;
		if (!s->count[i]) {
			s->id[i] = 0;
			s->state--;
		}
		break;
	}
	return *large + 1;
}

/*
 * A fully unmapped folio is mapped by nobody: the one moment the state can
 * be reset without an rmap walk, so STOPPED ends there (or at free).
 */
static void reset_if_unmapped(struct state *s)
{
	if (s->n.mapcount < 0 && s->state == STOPPED) {
		s->id[0] = s->id[1] = 0;
		s->count[0] = s->count[1] = 0;
		s->state = 0;
	}
}

static void init(void *st, const struct mc_folio *f, struct mc_ctx *c)
{
	struct state *s = st;

	npm_init(&s->n, f, c);
	s->id[0] = s->id[1] = 0;
	s->count[0] = s->count[1] = 0;
	s->state = 0;
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
	reset_if_unmapped(st);
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

static bool maybe_shared(const void *st, const struct mc_folio *f)
{
	const struct state *s = st;

	if (!folio_large(f) || folio_hugetlb(f))
		return s->n.mapcount + 1 > 1;
	return s->state >= 2;
}

static bool cow_reuse(void *st, const struct mc_folio *f,
		      const struct mc_fault *q, struct mc_ctx *c)
{
	const struct state *s = st;
	int ret = cow_common(f, q, s->n.mapcount + 1, s->n.refcount);

	if (ret >= 0)
		return ret;
	return cow_large(s->n.mapcount + 1, maybe_shared(st, f), s->n.refcount,
			 c);
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
		{ "state", s->state }, /* 3 = STOPPED */
		{ "mm0_id", s->id[0] },
		{ "mm0_mapcount", s->count[0] },
		{ "mm1_id", s->id[1] },
		{ "mm1_mapcount", s->count[1] },
	};

	FIELDS_RETURN(out, max, all);
}

const struct mc_policy policy_zero_one_two_stopped = {
	.abi = MC_POLICY_ABI,
	.version = 1,
	.name = "012-stopped",
	.summary = "0, 1, 2 MMs tracked, then STOPPED until freed; "
		   "no per-page mapcounts",
	.kernel = "Hildenbrand, MM owner tracking v3 cover letter 5.1; "
		  "Wilcox, \"zero, one, two, many\"",
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
