// SPDX-License-Identifier: MIT
/*
 * vma-0-1-2-many: Matthew Wilcox's "half-baked proposal" (linux-mm, about
 * 2021): count a folio's mappings "Discworld troll" style, zero, one, two,
 * many, at the granularity of VMAs: the mapcount is the number of VMAs
 * with at least one page table entry mapping the folio, "many" is sticky
 * (here until the folio is fully unmapped), and the refcount takes at most
 * three increments for all mappings.
 *
 * The tutorial in docs/writing-a-policy.md builds this file step by step.
 * It needs nothing but <mapcount/policy.h>.
 */
#include <mapcount/policy.h>

enum { ZERO, ONE, TWO, MANY };

enum { CTR_REFCOUNT, CTR_VMA_ENTRIES, CTR_ENTRIES };

static const struct mc_counter_decl counters[] = {
	{ "refcount", 32, 32, 0 },
	{ "vma_entries", 32, 32, 0 },
	{ "entries", 64, 64, 0 },
};

struct state {
	int64_t refcount; /* mapping references (at most 3) + others */
	int64_t entries;  /* page table entries, to know "fully unmapped" */
	uint32_t mm[2], vma[2];
	int64_t count[2]; /* entries of the two tracked VMAs */
	uint8_t state;	  /* ZERO, ONE, TWO, MANY */
};

static size_t state_size(uint32_t order)
{
	return sizeof(struct state);
}

/* a state byte, two (VMA pointer, count) pairs and the entries: 32 bytes
 * on 64-bit; small folios keep their page->_mapcount */
static size_t meta_bytes(uint32_t order, uint32_t type, uint32_t arch)
{
	if (!order)
		return 4;
	return arch == 32 ? 20 : 32;
}

static int64_t base_refs(const struct mc_folio *f)
{
	return f->type == MC_FILE || f->type == MC_SHMEM ? (int64_t)f->nr_pages
	       : f->type == MC_DRIVER			 ? 1
							 : 0;
}

static int64_t entries_of(const struct mc_folio *f, const struct mc_rmap *r)
{
	return f->type == MC_HUGETLB || r->level != MC_PTE ? 1 : (int64_t)r->nr;
}

/* mapping references: one per VMA state level, never more than three */
static void set_state(struct state *s, uint8_t to, struct mc_ctx *c)
{
	s->refcount += (int64_t)to - s->state;
	s->state = to;
	c->words_written++;
	c->atomics++;
	mc_counter(c, CTR_REFCOUNT, s->refcount);
}

static void init(void *st, const struct mc_folio *f, struct mc_ctx *c)
{
	struct state *s = st;

	s->refcount = base_refs(f);
	mc_counter(c, CTR_REFCOUNT, s->refcount);
}

static void add_rmap(void *st, const struct mc_folio *f,
		     const struct mc_rmap *r, struct mc_ctx *c)
{
	struct state *s = st;
	int64_t n = entries_of(f, r);
	int i;

	if (!s->entries)
		c->nr_mapped += (int64_t)f->nr_pages;
	s->entries += n;
	mc_counter(c, CTR_ENTRIES, s->entries);
	c->atomics++;
	if (s->state == MANY)
		return;
	for (i = 0; i < s->state; i++) {
		if (s->mm[i] == r->mm_id && s->vma[i] == r->vma) {
			s->count[i] += n;
			mc_counter(c, CTR_VMA_ENTRIES, s->count[i]);
			return;
		}
	}
	if (s->state == TWO) {
		set_state(s, MANY, c);
		return;
	}
	s->mm[s->state] = r->mm_id;
	s->vma[s->state] = r->vma;
	s->count[s->state] = n;
	set_state(s, (uint8_t)(s->state + 1), c);
}

static void remove_rmap(void *st, const struct mc_folio *f,
			const struct mc_rmap *r, struct mc_ctx *c)
{
	struct state *s = st;
	int64_t n = entries_of(f, r);

	s->entries -= n;
	c->atomics++;
	if (!s->entries) {
		c->nr_mapped -= (int64_t)f->nr_pages;
		set_state(s, ZERO, c); /* nobody maps it: "many" ends */
		s->count[0] = s->count[1] = 0;
		s->mm[0] = s->mm[1] = s->vma[0] = s->vma[1] = 0;
		return;
	}
	if (s->state == MANY)
		return;
	for (int i = 0; i < s->state; i++) {
		if (s->mm[i] != r->mm_id || s->vma[i] != r->vma)
			continue;
		s->count[i] -= n;
		if (!s->count[i]) { /* the VMA's last entry: forget it */
			s->mm[i] = s->mm[1];
			s->vma[i] = s->vma[1];
			s->count[i] = s->count[1];
			s->mm[1] = s->vma[1] = 0;
			s->count[1] = 0;
			set_state(s, (uint8_t)(s->state - 1), c);
		}
		return;
	}
}

static void ref(void *st, const struct mc_folio *f, int64_t delta,
		struct mc_ctx *c)
{
	struct state *s = st;

	s->refcount += delta;
	mc_counter(c, CTR_REFCOUNT, s->refcount);
}

static void pin(void *st, const struct mc_folio *f, int delta, struct mc_ctx *c)
{
	ref(st, f, delta, c);
}

/* Two VMAs of one MM are not "shared": VMA granularity sees that. */
static bool maybe_shared(const void *st, const struct mc_folio *f)
{
	const struct state *s = st;

	return s->state == MANY || (s->state == TWO && s->mm[0] != s->mm[1]);
}

/* Reuse when the only VMA mapping the folio is the faulting MM's and no
 * reference exists beyond the one of the mappings. */
static bool cow_reuse(void *st, const struct mc_folio *f,
		      const struct mc_fault *q, struct mc_ctx *c)
{
	const struct state *s = st;

	if (f->type != MC_ANON && f->type != MC_HUGETLB)
		return false;
	return s->state == ONE && s->mm[0] == q->mm_id && s->refcount == 1;
}

static uint64_t page_mapcount(const void *st, const struct mc_folio *f,
			      uint64_t page)
{
	return ((const struct state *)st)->state;
}

static void smaps(const void *st, const struct mc_folio *f, uint64_t first,
		  uint64_t nr, struct mc_smaps *acc)
{
	const struct state *s = st;
	uint64_t pss = acc->page_size << MC_PSS_SHIFT;

	if (s->state >= TWO)
		pss /= s->state;
	acc->pss += nr * pss;
	if (!maybe_shared(st, f))
		acc->uss += nr * acc->page_size;
}

static uint32_t fields(const void *st, const struct mc_folio *f,
		       struct mc_field *out, uint32_t max)
{
	const struct state *s = st;
	const struct mc_field all[] = {
		{ "state", s->state },		 { "refcount", s->refcount },
		{ "mapcount", s->entries },	 { "vma0_mm_id", s->mm[0] },
		{ "vma0_entries", s->count[0] }, { "vma1_mm_id", s->mm[1] },
		{ "vma1_entries", s->count[1] },
	};
	uint32_t n = sizeof(all) / sizeof(all[0]);

	for (uint32_t i = 0; i < n && i < max; i++)
		out[i] = all[i];
	return n < max ? n : max;
}

static const struct mc_policy vma012 = {
	.abi = MC_POLICY_ABI,
	.version = 1,
	.name = "vma-0-1-2-many",
	.summary = "VMAs mapping the folio: zero, one, two, many (Wilcox)",
	.kernel = "linux-mm \"half-baked proposal\", Matthew Wilcox",
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

MC_PLUGIN(&vma012)
