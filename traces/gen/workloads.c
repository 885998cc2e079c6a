// SPDX-License-Identifier: MIT
/*
 * workloads.c - the workloads of `mapcount synth`, each a function driving
 * the model of synth.c, with its parameter table (docs/traces.md).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"

#define MIB_PAGES 256ull /* 4 KiB pages per MiB */
#define SLICES	  16	 /* concurrent writers take turns in slices */

/* clang-format off */
#define P_INT(n, d, lo, hi, h)  { n, SYNTH_INT, d, lo, hi, h }
#define P_FRAC(n, d, lo, hi, h) { n, SYNTH_FRAC, d, lo, hi, h }
#define P_ORDER(d, lo, h)       { "order", SYNTH_ORDER, d, lo, 9, h }
/* clang-format on */

static uint64_t frac_of(double f, uint64_t n)
{
	uint64_t k = (uint64_t)llround(f * (double)n);

	return k > n ? n : k;
}

/* Room for nr arrays of k pages (nr >= 1). */
static uint32_t **page_lists(struct synth *s, uint32_t nr, uint64_t k)
{
	uint32_t **w = synth_scratch(s, nr * sizeof(uint32_t *));

	for (uint32_t i = 0; i < nr; i++)
		w[i] = synth_scratch(s, (k ? k : 1) * sizeof(uint32_t));
	return w;
}

static void write_all(struct synth *s, uint32_t mm, uint32_t vma)
{
	uint64_t n = synth_vma_pages(s, mm, vma);

	for (uint64_t i = 0; i < n; i++)
		synth_touch(s, mm, vma, i, true);
}

static void read_all(struct synth *s, uint32_t mm, uint32_t vma)
{
	uint64_t n = synth_vma_pages(s, mm, vma);

	for (uint64_t i = 0; i < n; i++)
		synth_touch(s, mm, vma, i, false);
}

/*
 * Writers mms[0..nr) with k pages each (pages[i][0..k)) take turns in
 * SLICES slices, in a random order per slice: they run concurrently.
 * order: room for nr numbers.
 */
static void interleave(struct synth *s, const uint32_t *mms, uint32_t nr,
		       uint32_t vma, uint32_t *const *pages, uint64_t k,
		       uint32_t *order)
{
	for (uint32_t sl = 0; sl < SLICES; sl++) {
		uint64_t lo = k * sl / SLICES, hi = k * (sl + 1) / SLICES;

		for (uint32_t i = 0; i < nr; i++)
			order[i] = i;
		synth_shuffle(s, order, nr);
		for (uint32_t i = 0; i < nr; i++)
			for (uint64_t j = lo; j < hi; j++)
				synth_touch(s, mms[order[i]], vma,
					    pages[order[i]][j], true);
	}
}

/* ---- fork-storm ---- */

static const struct synth_param fork_storm_params[] = {
	P_INT("size_mib", 16, 1, 1024, "anonymous memory of the parent, MiB"),
	P_ORDER(4, 0, "mTHP order of its folios (0 small pages, 9 PMD THP)"),
	P_INT("children", 8, 1, 256, "children forked at once"),
	P_FRAC("write_frac", 0.25, 0, 1,
	       "fraction of the pages each child writes, and the parent "
	       "after they exit"),
};

static void fork_storm(struct synth *s, const union synth_value *v)
{
	uint64_t pages = v[0].i * MIB_PAGES, k = frac_of(v[3].f, pages);
	uint32_t order = (uint32_t)v[1].i, nr = (uint32_t)v[2].i;
	uint32_t *kids = synth_scratch(s, nr * sizeof(uint32_t));
	uint32_t *order_buf = synth_scratch(s, nr * sizeof(uint32_t));
	uint32_t **w = page_lists(s, nr + 1, k);
	uint32_t p, a;

	p = synth_mm_new(s, 'p', "fork-storm");
	a = synth_vma_anon(s, p, pages, order);
	write_all(s, p, a);
	synth_phase(s);
	for (uint32_t i = 0; i < nr; i++)
		kids[i] = synth_fork(s, p);
	synth_phase(s);
	for (uint32_t i = 0; i < nr; i++)
		synth_sample(s, pages, k, w[i]);
	interleave(s, kids, nr, a, w, k, order_buf);
	synth_phase(s);
	synth_shuffle(s, kids, nr);
	for (uint32_t i = 0; i < nr; i++)
		synth_exit(s, kids[i]);
	synth_phase(s);
	synth_sample(s, pages, k, w[nr]);
	for (uint64_t j = 0; j < k; j++)
		synth_touch(s, p, a, w[nr][j], true);
	synth_phase(s);
	synth_exit(s, p);
}

/* ---- zygote ---- */

static const struct synth_param zygote_params[] = {
	P_INT("file_mib", 8, 0, 1024,
	      "shared file memory of the template (order-4 page cache "
	      "folios, MAP_SHARED), MiB"),
	P_INT("anon_mib", 8, 1, 1024, "anonymous memory of the template, MiB"),
	P_ORDER(4, 0, "mTHP order of the anonymous folios"),
	P_INT("apps", 4, 1, 256, "apps forked from the template"),
	P_FRAC("write_frac", 0.25, 0, 1,
	       "fraction of the anonymous pages each app writes per round"),
	P_INT("rounds", 3, 1, 1000,
	      "rounds; between two, a random half of the apps die and are "
	      "forked again"),
};

static void zygote(struct synth *s, const union synth_value *v)
{
	uint64_t fpages = v[0].i * MIB_PAGES, apages = v[1].i * MIB_PAGES;
	uint32_t order = (uint32_t)v[2].i, nr = (uint32_t)v[3].i;
	uint64_t k = frac_of(v[4].f, apages);
	uint32_t *apps = synth_scratch(s, nr * sizeof(uint32_t));
	uint32_t *order_buf = synth_scratch(s, nr * sizeof(uint32_t));
	uint32_t **w = page_lists(s, nr, k);
	uint32_t z, file = SYNTH_NONE, fv = SYNTH_NONE, av;

	z = synth_mm_new(s, 'p', "zygote");
	if (fpages) {
		file = synth_file_new(s, MCT_FILE, fpages, 4, false);
		fv = synth_vma_file(s, z, file, 0, fpages, true);
		read_all(s, z, fv);
	}
	av = synth_vma_anon(s, z, apages, order);
	write_all(s, z, av);
	synth_phase(s);
	for (uint32_t i = 0; i < nr; i++)
		apps[i] = synth_fork(s, z);
	for (uint64_t r = 0; r < v[5].i; r++) {
		for (uint32_t i = 0; i < nr; i++)
			synth_sample(s, apages, k, w[i]);
		interleave(s, apps, nr, av, w, k, order_buf);
		/* apps read the shared file: present pages, no events */
		for (uint32_t i = 0; fpages && i < nr; i++)
			for (int j = 0; j < 64; j++)
				synth_touch(s, apps[i], fv,
					    synth_below(s, fpages), false);
		for (int j = 0; j < 8; j++) {
			uint32_t f = synth_folio_at(s, z, av,
						    synth_below(s, apages));

			if (f != SYNTH_NONE)
				synth_query(s, f);
			if (!fpages)
				continue;
			f = synth_folio_at(s, z, fv, synth_below(s, fpages));
			if (f != SYNTH_NONE)
				synth_query(s, f);
		}
		synth_phase(s);
		if (r + 1 == v[5].i)
			break;
		/* a random half (at least one) die and are forked again */
		for (uint32_t i = 0, killed = 0; i < nr; i++) {
			if (!synth_chance(s, 0.5) && (killed || i + 1 < nr))
				continue;
			synth_exit(s, apps[i]);
			apps[i] = synth_fork(s, z);
			killed++;
		}
		synth_phase(s);
	}
	for (uint32_t i = 0; i < nr; i++)
		synth_exit(s, apps[i]);
	synth_exit(s, z);
	if (fpages)
		synth_file_drop(s, file);
}

/* ---- bgsave ---- */

static const struct synth_param bgsave_params[] = {
	P_INT("dataset_mib", 32, 1, 4096,
	      "the dataset, MiB of anonymous memory"),
	P_ORDER(4, 0, "mTHP order of its folios (9: PMD-mapped THPs)"),
	P_INT("writes", 4096, 0, 100000000,
	      "random page writes of the parent during each snapshot (and "
	      "a quarter as many between two)"),
	P_INT("rounds", 3, 1, 1000, "snapshots, one child each"),
};

static void bgsave(struct synth *s, const union synth_value *v)
{
	uint64_t pages = v[0].i * MIB_PAGES, writes = v[2].i;
	uint32_t p, a;

	p = synth_mm_new(s, 'p', "redis");
	a = synth_vma_anon(s, p, pages, (uint32_t)v[1].i);
	write_all(s, p, a);
	synth_phase(s);
	for (uint64_t r = 0; r < v[3].i; r++) {
		uint32_t c = synth_fork(s, p);
		uint64_t steps = writes ? writes : 1, read = 0;

		for (uint64_t i = 0; i < steps; i++) {
			uint64_t upto = pages * (i + 1) / steps;

			if (writes)
				synth_touch(s, p, a, synth_below(s, pages),
					    true);
			/* the child serializes the dataset meanwhile */
			for (; read < upto; read++) {
				synth_touch(s, c, a, read, false);
				uint32_t f = synth_folio_at(s, c, a, read);

				if (read % 64 == 0 && f != SYNTH_NONE)
					synth_query(s, f);
			}
		}
		synth_phase(s);
		synth_exit(s, c);
		/* between snapshots the parent keeps writing */
		for (uint64_t i = 0; i < writes / 4; i++)
			synth_touch(s, p, a, synth_below(s, pages), true);
		synth_phase(s);
	}
	synth_exit(s, p);
}

/* ---- shared-libs ---- */

static const struct synth_param shared_libs_params[] = {
	P_INT("procs", 8, 3, 256,
	      "processes running at once (each library is mapped by 3 or "
	      "more)"),
	P_INT("libs", 6, 1, 256, "shared library files"),
	P_INT("lib_kib", 1024, 64, 65536,
	      "text of each library, KiB (data: 1/8 of it more)"),
	P_FRAC("read_frac", 0.5, 0, 1,
	       "fraction of a library's text a process touches"),
	P_INT("rounds", 3, 1, 1000,
	      "rounds of a random half of the processes exiting and "
	      "being started again"),
};

struct lib_proc {
	uint32_t mm;
	uint32_t *text, *data; /* per library: its vmas, or SYNTH_NONE */
};

static void lib_spawn(struct synth *s, struct lib_proc *pr, const bool *uses,
		      const uint32_t *files, uint32_t libs, uint64_t text,
		      uint64_t data, double read_frac)
{
	pr->mm = synth_mm_new(s, 'p', "app");
	for (uint32_t l = 0; l < libs; l++) {
		uint64_t k = frac_of(read_frac, text);

		pr->text[l] = pr->data[l] = SYNTH_NONE;
		if (!uses[l])
			continue;
		/* ld.so: text MAP_PRIVATE r-x, data MAP_PRIVATE rw- */
		pr->text[l] =
			synth_vma_file(s, pr->mm, files[l], 0, text, false);
		pr->data[l] =
			synth_vma_file(s, pr->mm, files[l], text, data, false);
		for (uint64_t j = 0; j < k; j++)
			synth_touch(s, pr->mm, pr->text[l],
				    synth_below(s, text), false);
		read_all(s, pr->mm, pr->data[l]);
		for (uint64_t j = 0; j < (data + 3) / 4; j++)
			synth_touch(s, pr->mm, pr->data[l],
				    synth_below(s, data), true);
	}
}

static void shared_libs(struct synth *s, const union synth_value *v)
{
	uint32_t procs = (uint32_t)v[0].i, libs = (uint32_t)v[1].i;
	uint64_t text = v[2].i / 4, data = (text + 7) / 8;
	uint32_t *files = synth_scratch(s, libs * sizeof(uint32_t));
	bool *uses = synth_scratch(s, (size_t)procs * libs);
	struct lib_proc *pr = synth_scratch(s, procs * sizeof(*pr));
	uint32_t *pick = synth_scratch(s, procs * sizeof(uint32_t));

	for (uint32_t l = 0; l < libs; l++) {
		/* page cache folios of orders 0-4, mixed (readahead) */
		uint64_t m = 3 + synth_below(s, procs - 2);

		files[l] = synth_file_new(s, MCT_FILE, text + data, 4, true);
		synth_sample(s, procs, m, pick);
		for (uint64_t j = 0; j < m; j++)
			uses[pick[j] * libs + l] = true;
	}
	for (uint32_t i = 0; i < procs; i++) {
		pr[i].text = synth_scratch(s, libs * sizeof(uint32_t));
		pr[i].data = synth_scratch(s, libs * sizeof(uint32_t));
		lib_spawn(s, &pr[i], uses + (size_t)i * libs, files, libs, text,
			  data, v[3].f);
	}
	for (uint32_t l = 0; l < libs; l++)
		synth_query_file(s, files[l]);
	synth_phase(s);
	for (uint64_t r = 0; r < v[4].i; r++) {
		for (uint32_t i = 0, n = 0; i < procs; i++) {
			if (!synth_chance(s, 0.5) && (n || i + 1 < procs))
				continue;
			synth_exit(s, pr[i].mm);
			lib_spawn(s, &pr[i], uses + (size_t)i * libs, files,
				  libs, text, data, v[3].f);
			n++;
		}
		for (uint32_t l = 0; l < libs; l++)
			synth_query_file(s, files[l]);
		synth_phase(s);
	}
	for (uint32_t i = 0; i < procs; i++)
		synth_exit(s, pr[i].mm);
	for (uint32_t l = 0; l < libs; l++)
		synth_file_drop(s, files[l]);
}

/* ---- partial-zap ---- */

static const struct synth_param partial_zap_params[] = {
	P_INT("size_mib", 4, 1, 1024, "anonymous memory of the parent, MiB"),
	P_ORDER(4, 2, "mTHP order of its folios (9: PMD-mapped THPs)"),
	P_INT("ops", 512, 0, 10000000,
	      "zaps of sub-ranges of folios, by the parent, the child or "
	      "both"),
	P_FRAC("munmap_frac", 0.25, 0, 1,
	       "fraction of the zaps that munmap() instead of MADV_DONTNEED"),
	P_FRAC("mremap_frac", 0.125, 0, 1,
	       "fraction of the other zaps that mremap() the range "
	       "elsewhere instead of MADV_DONTNEED"),
};

struct pz_vma {
	uint32_t mm, vma;
};

/* Zap (or move) [off, off + n) of mm's original VMA a. */
static void pz_op(struct synth *s, uint32_t mm, uint32_t a, uint64_t off,
		  uint64_t n, int kind, struct pz_vma *moved, uint32_t *nr)
{
	if (!n)
		return;
	if (kind == 2) {
		for (uint64_t i = off; i < off + n; i++)
			if (!synth_vma_has(s, mm, a, i))
				kind = 0; /* mremap needs one VMA: zap */
	}
	if (kind == 2) {
		moved[*nr].mm = mm;
		moved[(*nr)++].vma = synth_mremap(s, mm, a, off, n);
	} else {
		synth_zap(s, mm, a, off, n, kind == 1);
	}
}

static void pz_query(struct synth *s, uint32_t mm, uint32_t a, uint64_t off)
{
	uint32_t f;

	if (!synth_mm_live(s, mm) || off >= synth_vma_pages(s, mm, a))
		return;
	f = synth_folio_at(s, mm, a, off);
	if (f != SYNTH_NONE)
		synth_query(s, f);
}

/* A write to a random page of [lo, hi) of a that is still in the VMA. */
static void pz_write(struct synth *s, uint32_t mm, uint32_t a, uint64_t lo,
		     uint64_t hi)
{
	uint64_t n = synth_vma_pages(s, mm, a);

	if (hi > n)
		hi = n;
	for (int tries = 0; lo < hi && tries < 8; tries++) {
		uint64_t off = lo + synth_below(s, hi - lo);

		if (synth_vma_has(s, mm, a, off)) {
			synth_touch(s, mm, a, off, true);
			return;
		}
	}
}

static void partial_zap(struct synth *s, const union synth_value *v)
{
	uint64_t pages = v[0].i * MIB_PAGES, ops = v[2].i;
	uint32_t order = (uint32_t)v[1].i, p, c, a, nr_moved = 0;
	uint64_t n = 1ull << order, blocks = pages / n;
	struct pz_vma *moved = synth_scratch(s, (2 * ops + 1) * sizeof(*moved));

	if (!blocks)
		synth_fail(s, "partial-zap: size_mib is smaller than a folio");
	p = synth_mm_new(s, 'p', "partial-zap");
	a = synth_vma_anon(s, p, pages, order);
	write_all(s, p, a);
	c = synth_fork(s, p);
	synth_phase(s);
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t b = synth_below(s, blocks) * n;
		uint64_t lo = b + synth_below(s, n),
			 len = 1 + synth_below(s, n);
		uint64_t hi = lo + len > pages ? pages : lo + len;
		uint64_t mid = lo + (hi - lo) / 2;
		uint64_t who = synth_below(s, 4);
		int kind = synth_chance(s, v[3].f)   ? 1
			   : synth_chance(s, v[4].f) ? 2
						     : 0;

		switch (who) {
		case 0: /* the parent alone */
			pz_op(s, p, a, lo, hi - lo, kind, moved, &nr_moved);
			break;
		case 1: /* the child alone */
			pz_op(s, c, a, lo, hi - lo, kind, moved, &nr_moved);
			break;
		case 2: /* both, the same range */
			pz_op(s, p, a, lo, hi - lo, kind, moved, &nr_moved);
			pz_op(s, c, a, lo, hi - lo, kind, moved, &nr_moved);
			break;
		default: /* both, the two halves */
			pz_op(s, p, a, lo, mid - lo, kind, moved, &nr_moved);
			pz_op(s, c, a, mid, hi - mid, kind, moved, &nr_moved);
			break;
		}
		pz_query(s, p, a, b);
		pz_query(s, c, a, b + n - 1);
		/* refault or COW around the zapped range */
		if (synth_chance(s, 0.5))
			pz_write(s, synth_chance(s, 0.5) ? p : c, a, b,
				 b + 2 * n);
		if (ops >= 4 && (i + 1) % (ops / 4) == 0)
			synth_phase(s);
	}
	synth_phase(s);
	/* the child exits; the parent writes over what is left */
	synth_exit(s, c);
	synth_phase(s);
	for (uint64_t i = 0; i < pages / 4; i++)
		pz_write(s, p, a, 0, pages);
	for (uint32_t i = 0; i < nr_moved; i++) {
		if (moved[i].mm == p)
			pz_write(s, p, moved[i].vma, 0,
				 synth_vma_pages(s, p, moved[i].vma));
	}
	synth_phase(s);
	synth_exit(s, p);
}

/* ---- vma-overflow ---- */

static const struct synth_param vma_overflow_params[] = {
	P_INT("vmas", 4096, 1, 8388608,
	      "VMAs each mapping the whole PMD-sized shmem folio with 512 "
	      "PTEs (2^22: Wilcox's 2^31 references)"),
	P_INT("max_map_count", 65530, 1, 2147483647,
	      "VMAs per MM (vm.max_map_count): MMs = ceil(vmas / this)"),
};

static void vma_overflow(struct synth *s, const union synth_value *v)
{
	uint64_t vmas = v[0].i, per = v[1].i;
	uint32_t f = synth_raw_alloc(s, MCT_SHMEM, 9, "shm"), mm = 0;

	for (uint64_t j = 0; j < vmas; j++) {
		if (j % per == 0)
			mm = synth_mm_new(s, 'm', "vma-overflow");
		synth_raw_map(s, mm, f, 0, 512, (uint32_t)(j % per));
	}
	synth_query(s, f);
	for (uint32_t i = 0; i <= mm; i++)
		synth_exit(s, i);
	synth_raw_free(s, f);
}

/* ---- pin-fork ---- */

static const struct synth_param pin_fork_params[] = {
	P_ORDER(4, 2, "mTHP order of the large-folio region"),
	P_INT("pins", 4, 1, 16,
	      "pages pinned per region and round, R/W and R/O each"),
	P_INT("rounds", 4, 1, 10000,
	      "rounds of pin, fork, unshare, vmsplice, exit, unpin"),
};

#define PF_SMALL_PAGES 64
#define PF_FOLIOS      16

static void pin_fork(struct synth *s, const union synth_value *v)
{
	uint32_t order = (uint32_t)v[0].i, npins = (uint32_t)v[1].i;
	uint64_t lpages = PF_FOLIOS << order, tpages = 2 * 512;
	uint32_t *pinned = synth_scratch(s, (6 * npins + 2) * sizeof(uint32_t));
	uint32_t p, sv, lv, tv;

	p = synth_mm_new(s, 'p', "pin-fork");
	sv = synth_vma_anon(s, p, PF_SMALL_PAGES, 0);
	lv = synth_vma_anon(s, p, lpages, order);
	tv = synth_vma_anon(s, p, tpages, 9);
	write_all(s, p, sv);
	write_all(s, p, lv);
	write_all(s, p, tv);
	synth_phase(s);
	for (uint64_t r = 0; r < v[2].i; r++) {
		uint32_t nr = 0, c, fq, fr;
		uint64_t q = synth_below(s, PF_SMALL_PAGES), x;

		/* vmsplice() before fork (cow.c): a FOLL_GET reference */
		fq = synth_get(s, p, sv, q);
		/* io_uring fixed buffers: R/W pins of exclusive pages */
		for (uint32_t i = 0; i < npins; i++) {
			do
				x = synth_below(s, PF_SMALL_PAGES);
			while (x == q);
			pinned[nr++] = synth_pin(s, p, sv, x, true);
			pinned[nr++] = synth_pin(s, p, lv,
						 synth_below(s, lpages), true);
		}
		pinned[nr++] =
			synth_pin(s, p, tv, synth_below(s, tpages), true);
		/* the child gets copies of the pinned exclusive pages; the
		 * pinned PMD is split in the parent first */
		c = synth_fork(s, p);
		synth_phase(s);
		/* the parent unmaps the vmspliced page, the child writes it:
		 * the pipe keeps the old page, the child must copy */
		synth_zap(s, p, sv, q, 1, false);
		synth_touch(s, c, sv, q, true);
		synth_put(s, fq);
		/* R/O longterm pins of shared pages: unshare first */
		for (uint32_t i = 0; i < npins; i++) {
			pinned[nr++] = synth_pin(s, p, lv,
						 synth_below(s, lpages), false);
			pinned[nr++] = synth_pin(s, c, sv,
						 synth_below(s, PF_SMALL_PAGES),
						 false);
		}
		/* vmsplice() after fork: the child unmaps, the parent
		 * writes: the reference forces a copy */
		x = synth_below(s, lpages);
		fr = synth_get(s, p, lv, x);
		synth_zap(s, c, lv, x, 1, false);
		synth_touch(s, p, lv, x, true);
		synth_query(s, fr);
		synth_put(s, fr);
		synth_phase(s);
		synth_exit(s, c);
		synth_phase(s);
		/* R/O pins of previously shared pages, the child gone */
		for (uint32_t i = 0; i < npins; i++) {
			pinned[nr++] = synth_pin(s, p, lv,
						 synth_below(s, lpages), false);
			pinned[nr++] = synth_pin(s, p, tv,
						 synth_below(s, tpages), false);
		}
		for (uint32_t i = 0; i < nr; i++)
			synth_query(s, pinned[i]);
		for (uint32_t i = 0; i < nr; i++)
			synth_unpin(s, pinned[i]);
		/* the parent uses its vmspliced page again */
		synth_touch(s, p, sv, q, true);
		synth_phase(s);
	}
	synth_exit(s, p);
}

/* ---- the table ---- */

/* clang-format off */
#define WL(n, sum, params, fn, wc) \
	{ n, sum, params, sizeof(params) / sizeof(params[0]), fn, wc }
/* clang-format on */

static const struct synth_workload workloads[] = {
	WL("fork-storm",
	   "a parent forks many children that write random pages and exit "
	   "in random order; then the parent writes",
	   fork_storm_params, fork_storm, false),
	WL("zygote",
	   "a template with shared file and anonymous memory forks "
	   "long-lived apps that write; apps die and are forked again",
	   zygote_params, zygote, false),
	WL("bgsave",
	   "Redis-like snapshots: a child reads the dataset while the "
	   "parent keeps writing random pages",
	   bgsave_params, bgsave, false),
	WL("shared-libs",
	   "processes map shared library files (page cache folios of "
	   "orders 0-4), 3 or more per library; they exit and restart",
	   shared_libs_params, shared_libs, false),
	WL("partial-zap",
	   "MADV_DONTNEED, munmap and mremap of sub-ranges of large folios "
	   "in a parent and a long-lived child",
	   partial_zap_params, partial_zap, false),
	WL("vma-overflow",
	   "one PMD-sized shmem folio mapped by 512 PTEs in each of many "
	   "VMAs over as many MMs as max_map_count needs",
	   vma_overflow_params, vma_overflow, true),
	WL("pin-fork",
	   "GUP pins and fork: R/W pins before fork, R/O longterm pins "
	   "with unshare, vmsplice references, unpins",
	   pin_fork_params, pin_fork, false),
};

const struct synth_workload *synth_workloads(uint32_t *nr)
{
	*nr = sizeof(workloads) / sizeof(workloads[0]);
	return workloads;
}

const struct synth_workload *synth_workload_find(const char *name)
{
	for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (!strcmp(workloads[i].name, name))
			return &workloads[i];
	return NULL;
}

/* ---- configuration ---- */

int synth_config_init(struct synth_config *c, const char *workload, char *err,
		      size_t errlen)
{
	const struct synth_workload *wl = synth_workload_find(workload);

	memset(c, 0, sizeof(*c));
	if (!wl) {
		snprintf(err, errlen,
			 "unknown workload '%s' (mapcount synth --list shows "
			 "them)",
			 workload);
		return -1;
	}
	c->wl = wl;
	c->seed = 1;
	for (uint32_t i = 0; i < wl->nr_params; i++) {
		if (wl->params[i].type == SYNTH_FRAC)
			c->v[i].f = wl->params[i].def;
		else
			c->v[i].i = (uint64_t)wl->params[i].def;
	}
	return 0;
}

static int bad(char *err, size_t errlen, const char *fmt, const char *a,
	       const char *b)
{
	snprintf(err, errlen, fmt, a, b);
	return -1;
}

int synth_config_param(struct synth_config *c, const char *kv, char *err,
		       size_t errlen)
{
	const struct synth_workload *wl = c->wl;
	const char *eq = strchr(kv, '=');
	const struct synth_param *p = NULL;
	char name[64], *end;
	uint32_t i;

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(name))
		return bad(err, errlen, "--param needs NAME=VALUE, not '%s'%s",
			   kv, "");
	memcpy(name, kv, (size_t)(eq - kv));
	name[eq - kv] = 0;
	for (i = 0; i < wl->nr_params; i++)
		if (!strcmp(wl->params[i].name, name)) {
			p = &wl->params[i];
			break;
		}
	if (!p)
		return bad(err, errlen, "%s has no parameter '%s'", wl->name,
			   name);
	if (c->given[i])
		return bad(err, errlen, "parameter '%s' is given twice%s", name,
			   "");
	if (p->type == SYNTH_FRAC) {
		double f;

		errno = 0;
		f = strtod(eq + 1, &end);
		if (!eq[1] || *end || errno || isnan(f))
			return bad(err, errlen,
				   "parameter '%s': '%s' is not a number", name,
				   eq + 1);
		if (f < p->min || f > p->max) {
			snprintf(err, errlen,
				 "parameter '%s': %s is out of range %g..%g",
				 name, eq + 1, p->min, p->max);
			return -1;
		}
		c->v[i].f = f;
	} else {
		unsigned long long u;

		errno = 0;
		u = strtoull(eq + 1, &end, 10);
		if (eq[1] < '0' || eq[1] > '9' || *end || errno)
			return bad(err, errlen,
				   "parameter '%s': '%s' is not a whole number",
				   name, eq + 1);
		if ((double)u < p->min || (double)u > p->max) {
			snprintf(err, errlen,
				 "parameter '%s': %s is out of range "
				 "%.0f..%.0f",
				 name, eq + 1, p->min, p->max);
			return -1;
		}
		if (p->type == SYNTH_ORDER && u == 1) {
			snprintf(err, errlen,
				 "parameter '%s': there are no order-1 "
				 "anonymous mTHPs (use 0 or 2..9)",
				 name);
			return -1;
		}
		c->v[i].i = u;
	}
	c->given[i] = true;
	return 0;
}
