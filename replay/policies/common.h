/* SPDX-License-Identifier: MIT */
/*
 * common.h - kernel building blocks several policies share: the folio
 * reference model, the CONFIG_MM_ID owner slots, the average page mapcount
 * of CONFIG_NO_PAGE_MAPCOUNT and the smaps accounting step.
 */
#ifndef MAPCOUNT_POLICIES_COMMON_H
#define MAPCOUNT_POLICIES_COMMON_H

#include "policy.h"

#define GUP_PIN_COUNTING_BIAS 1024
#define INT32_LIMIT	      2147483647ll

static inline bool folio_large(const struct mc_folio *f)
{
	return f->order > 0;
}

static inline bool folio_hugetlb(const struct mc_folio *f)
{
	return f->type == MC_HUGETLB;
}

/* Large folios other than hugetlb: the ones with MM owner slots. */
static inline bool folio_tracked(const struct mc_folio *f)
{
	return f->order > 0 && f->type != MC_HUGETLB;
}

static inline bool folio_anon(const struct mc_folio *f)
{
	return f->type == MC_ANON || f->type == MC_HUGETLB;
}

/*
 * References a folio holds while allocated, before any mapping: the page
 * cache holds one per page of file and shmem folios (__filemap_add_folio());
 * a driver holds the reference of its allocation.
 */
static inline int64_t folio_base_refs(const struct mc_folio *f)
{
	switch (f->type) {
	case MC_FILE:
	case MC_SHMEM:
		return (int64_t)f->nr_pages;
	case MC_DRIVER:
		return 1;
	default:
		return 0;
	}
}

/*
 * Page table entries one rmap call adds or removes: a PTE maps one page,
 * a PMD or PUD one entry; hugetlb counts one mapping whatever its size.
 */
static inline int64_t rmap_entries(const struct mc_folio *f,
				   const struct mc_rmap *r)
{
	if (folio_hugetlb(f) || r->level != MC_PTE)
		return 1;
	return (int64_t)r->nr;
}

/* try_grab_folio(FOLL_PIN): references a pin takes. */
static inline int64_t pin_refs(const struct mc_folio *f)
{
	return folio_large(f) ? 1 : GUP_PIN_COUNTING_BIAS;
}

static inline void cost(struct mc_ctx *c, uint64_t atomics, uint64_t words)
{
	c->atomics += atomics;
	c->words_written += words;
}

/* ---- CONFIG_MM_ID: include/linux/rmap.h ---- */

#define MM_ID_DUMMY 0

struct mm_id_slots {
	uint32_t id[2];	  /* folio->_mm_id[], MM_ID_DUMMY when free */
	uint8_t shared;	  /* FOLIO_MM_IDS_SHARED_BIT */
	int64_t count[2]; /* folio->_mm_id_mapcount[], biased: -1 free */
};

static inline void slots_init(struct mm_id_slots *s)
{
	s->id[0] = s->id[1] = MM_ID_DUMMY;
	s->count[0] = s->count[1] = -1;
	s->shared = 0;
}

/* mm_id_mapcount_t: int on 64-bit, short on 32-bit (biased). */
static inline int64_t slot_max(uint32_t arch)
{
	return arch == 32 ? 32767 : INT32_LIMIT;
}

/*
 * folio_add_return_large_mapcount(): *large is the biased large mapcount;
 * returns the new (unbiased) mapcount.  ctr is the index of the slot
 * counter in the policy's declaration.
 */
static inline int64_t slots_add(struct mm_id_slots *s, int64_t *large,
				int64_t diff, uint32_t mm_id, struct mc_ctx *c,
				unsigned int ctr)
{
	int64_t val = *large + diff;
	int i;

	*large = val;
	cost(c, 1, 2); /* bit_spin_lock; large mapcount, slot count */
	for (i = 0; i < 2; i++) {
		if (s->id[i] != mm_id)
			continue;
		s->count[i] += diff;
		mc_counter(c, ctr, s->count[i] + 1);
		/*
		 * The per-MM count overflowed (a short on 32-bit): free the
		 * slot and mark the folio shared.  On 64-bit the kernel has no
		 * such check, as _large_mapcount would overflow first; count64
		 * relies on it.
		 */
		if (s->count[i] > slot_max(c->arch)) {
			s->count[i] = -1;
			s->id[i] = MM_ID_DUMMY;
			s->shared = 1;
			cost(c, 0, 1);
		}
		return val + 1;
	}
	for (i = 0; i < 2; i++) {
		if (s->id[i] != MM_ID_DUMMY)
			continue;
		s->id[i] = mm_id;
		s->count[i] = diff - 1;
		mc_counter(c, ctr, diff);
		/* slot 0: we might have other mappings already;
		 * slot 1: slot 0 certainly has mappings as well */
		if (i == 1 || val != diff - 1)
			s->shared = 1;
		cost(c, 0, 1);
		return val + 1;
	}
	return val + 1; /* an untracked MM: only the large mapcount moves */
}

/* folio_sub_return_large_mapcount() */
static inline int64_t slots_sub(struct mm_id_slots *s, int64_t *large,
				int64_t diff, uint32_t mm_id, struct mc_ctx *c)
{
	int64_t val = *large - diff;
	int i;

	*large = val;
	cost(c, 1, 2);
	for (i = 0; i < 2; i++) {
		if (s->id[i] != mm_id)
			continue;
		s->count[i] -= diff;
		if (s->count[i] >= 0)
			return val + 1;
		/* underflow from mappings added while untracked, or gone */
		s->count[i] = -1;
		s->id[i] = MM_ID_DUMMY;
		break;
	}
	/* If one MM slot owns all mappings, the folio is mapped exclusively. */
	if (s->count[0] == val || s->count[1] == val) {
		if (s->shared)
			cost(c, 0, 1);
		s->shared = 0;
	}
	return val + 1;
}

/* ---- CONFIG_NO_PAGE_MAPCOUNT: include/linux/mm.h ---- */

/*
 * folio_average_page_mapcount(): mapcount and entire are unbiased; for
 * small folios the page's mapcount.
 */
static inline int64_t average_page_mapcount(const struct mc_folio *f,
					    int64_t mapcount, int64_t entire)
{
	int64_t avg;

	if (!folio_large(f))
		return mapcount;
	if (mapcount <= 0)
		return 0;
	if (mapcount <= entire)
		return entire;
	mapcount -= entire;
	avg = (mapcount + (int64_t)(f->nr_pages / 2)) >> f->order;
	return avg + entire > 1 ? avg + entire : 1;
}

/* ---- fs/proc/task_mmu.c: smaps_account() for one page ---- */

static inline void smaps_page(struct mc_smaps *acc, int64_t mapcount,
			      bool exclusive)
{
	uint64_t pss = acc->page_size << MC_PSS_SHIFT;

	if (mapcount >= 2)
		pss /= (uint64_t)mapcount;
	acc->pss += pss;
	if (exclusive)
		acc->uss += acc->page_size;
}

/* smaps_account()'s "folio_ref_count(folio) == 1" shortcut: private. */
static inline void smaps_private(struct mc_smaps *acc, uint64_t nr)
{
	acc->pss += nr * (acc->page_size << MC_PSS_SHIFT);
	acc->uss += nr * acc->page_size;
}

/*
 * do_wp_page(), the part all kernels since 5.19 share: a private file page
 * is copied; hugetlb_wp() reuses when one mapping remains; a small folio
 * (wp_can_reuse_anon_folio()) and a PMD (do_huge_pmd_wp_page()) when the
 * faulting mapping holds the only reference.  Returns -1 for a PTE-mapped
 * large folio, where kernels differ.
 */
static inline int cow_common(const struct mc_folio *f, const struct mc_fault *q,
			     int64_t mapcount, int64_t refcount)
{
	if (!folio_anon(f))
		return 0;
	if (folio_hugetlb(f))
		return mapcount == 1;
	if (!folio_large(f) || q->level != MC_PTE)
		return refcount == 1;
	return -1;
}

/*
 * __wp_can_reuse_large_anon_folio() (6.15+), given what the policy knows:
 * the large mapcount, its "maybe mapped shared" answer, the refcount.
 */
static inline bool cow_large(int64_t mapcount, bool shared, int64_t refcount,
			     struct mc_ctx *c)
{
	/* Let's just free up a large folio if only a single page is mapped. */
	if (mapcount <= 1)
		return false;
	if (shared)
		return false;
	/* all references are mappings, all mappings are this MM's */
	cost(c, 1, 0); /* folio_lock_large_mapcount() for the recheck */
	return mapcount == refcount;
}

/* Hand out up to max of a policy's fields (mc_policy.fields). */
static inline uint32_t fields_copy(struct mc_field *out, uint32_t max,
				   const struct mc_field *all, uint32_t n)
{
	n = n < max ? n : max;
	for (uint32_t i = 0; i < n; i++)
		out[i] = all[i];
	return n;
}

#define FIELDS_RETURN(out, max, all) \
	return fields_copy(out, max, all, sizeof(all) / sizeof((all)[0]))

#endif /* MAPCOUNT_POLICIES_COMMON_H */
