// SPDX-License-Identifier: MIT
/*
 * engine.c - replay a trace through policies side by side.
 *
 * The world turns each statement into primitive rmap operations; the
 * engine hands every primitive to every policy, with the policy's
 * per-folio state found by index in dense per-order arrays (no hashing,
 * no allocation per event), then asks the decision questions and scores
 * the answers against the exact oracle, which always runs as policy 0.
 */
#include "engine.h"
#include "mem.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Per-order arrays of per-folio state.  A slot holds every policy's state
 * of one folio side by side (policy i at off[i], each 16-byte aligned):
 * a primitive visits all policies' state of one folio, so it is one or two
 * cache lines for small folios rather than one miss per policy.
 */
struct slab {
	char *base;
	size_t stride;
	size_t off[MC_MAX_POLICIES + 1];
	size_t size[MC_MAX_POLICIES + 1];
	uint32_t cap, used;
	uint32_t *free;
	uint32_t nr_free, cap_free;
};

struct epol {
	const struct mc_policy *p;
	struct mc_ctx ctx;
	struct mc_result res;
};

struct engine {
	struct world *w;
	uint32_t arch, page_size, pmd_order;
	uint32_t nr; /* internal policies; [0] is exact */
	struct epol pol[MC_MAX_POLICIES + 1];
	uint32_t out[MC_MAX_POLICIES]; /* requested -> internal index */
	uint32_t nr_out;
	struct slab slabs[MCT_MAX_ORDER + 1];
	uint32_t *fslot, *fflag; /* per folio: slot, partial flags */
	uint32_t cap_f;
	uint64_t events;
	uint64_t sample_mask;
	bool timing, sample;
	bool oracle; /* pol[0] is exact, the truth of the metrics */
	double clock_cost;
	/* timeline: a point every tl_every (a power of two) events; point k
	 * of policy i at tl[k * nr + i] */
	uint64_t tl_every;
	uint32_t tl_n;
	uint64_t tl_ev[MC_TIMELINE_MAX];
	struct mc_tpoint *tl;
};

/* Folios whose pages can be PageAnonExclusive. */
static bool folio_is_anon_type(uint32_t type)
{
	return type == MC_ANON || type == MC_HUGETLB;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double calibrate_clock(void)
{
	double best = 1e9;

	for (int i = 0; i < 256; i++) {
		double t0 = now_ns(), t1 = now_ns();

		if (t1 - t0 < best)
			best = t1 - t0;
	}
	return best;
}

static int64_t counter_limit(const struct mc_counter_decl *d, uint32_t arch)
{
	uint32_t bits = arch == 32 ? d->bits32 : d->bits64;

	if (!bits)
		return INT64_MAX;
	if (bits >= 64)
		return INT64_MAX;
	return (int64_t)((1ull << (bits - 1)) - 1) + d->bias;
}

static int add_policy(struct engine *e, const struct mc_policy *p, char *err,
		      size_t len)
{
	struct epol *ep;

	if (p->abi != MC_POLICY_ABI) {
		snprintf(err, len, "policy %s: ABI %u, this engine speaks %u",
			 p->name, p->abi, MC_POLICY_ABI);
		return -1;
	}
	if (p->nr_counters > MC_MAX_COUNTERS) {
		snprintf(err, len, "policy %s: %u counters, at most %u",
			 p->name, p->nr_counters, MC_MAX_COUNTERS);
		return -1;
	}
	for (uint32_t i = 0; i < e->nr; i++)
		if (e->pol[i].p == p)
			return (int)i;
	if (e->nr > MC_MAX_POLICIES) {
		snprintf(err, len, "at most %u policies", MC_MAX_POLICIES);
		return -1;
	}
	ep = &e->pol[e->nr];
	ep->p = p;
	ep->res.policy = p;
	ep->ctx.arch = e->arch;
	ep->ctx.peak = ep->res.overflow.peak;
	ep->ctx.limit = ep->res.overflow.limit;
	ep->ctx.first_overflow = ep->res.overflow.first_overflow;
	for (uint32_t c = 0; c < p->nr_counters; c++) {
		ep->res.overflow.limit[c] =
			counter_limit(&p->counters[c], e->arch);
		ep->res.overflow.first_overflow[c] = UINT64_MAX;
	}
	return (int)e->nr++;
}

struct engine *engine_new(const struct mct_header *h,
			  const struct engine_opts *o, char *err, size_t errlen)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->arch = o->arch == 32 ? 32 : 64;
	e->page_size = h->page_size;
	e->pmd_order = h->pmd_order;
	e->w = world_new(h);
	e->timing = !o->no_timing;
	e->sample_mask = (1ull << o->sample_shift) - 1;
	if (e->timing)
		e->clock_cost = calibrate_clock();
	e->oracle = !o->no_oracle;
	if (e->oracle &&
	    add_policy(e, mc_policy_find("exact"), err, errlen) < 0)
		goto fail;
	if (o->nr_policies > MC_MAX_POLICIES) {
		snprintf(err, errlen, "at most %u policies", MC_MAX_POLICIES);
		goto fail;
	}
	for (uint32_t i = 0; i < o->nr_policies; i++) {
		int idx = add_policy(e, o->policies[i], err, errlen);

		if (idx < 0)
			goto fail;
		e->out[e->nr_out++] = (uint32_t)idx;
	}
	e->tl_every = 1;
	e->tl = mc_realloc(NULL, MC_TIMELINE_MAX * e->nr * sizeof(*e->tl));
	/* each slot aligned for any field a policy may keep */
	for (uint32_t k = 0; k <= MCT_MAX_ORDER; k++) {
		struct slab *s = &e->slabs[k];

		for (uint32_t i = 0; i < e->nr; i++) {
			s->off[i] = s->stride;
			s->size[i] =
				(e->pol[i].p->state_size(k) + 15) & ~(size_t)15;
			s->stride += s->size[i];
		}
	}
	return e;
fail:
	engine_free(e);
	return NULL;
}

static struct mc_folio mkfolio(const struct engine *e,
			       const struct world_folio *wf)
{
	return (struct mc_folio){ .nr_pages = wf->nr_pages,
				  .order = wf->order,
				  .type = wf->type,
				  .pmd_order = e->pmd_order,
				  .arch = e->arch };
}

static void *state_of(const struct engine *e, uint32_t i, uint32_t order,
		      uint32_t slot)
{
	const struct slab *s = &e->slabs[order];

	return s->base + (size_t)slot * s->stride + s->off[i];
}

/* Let policies free what live folios still hold. */
static void release_live(struct engine *e)
{
	uint32_t n = e->w ? world_nr_folios(e->w) : 0;

	for (uint32_t folio = 0; folio < n; folio++) {
		const struct world_folio *wf = world_folio(e->w, folio);
		struct mc_folio f;

		if (!wf->live)
			continue;
		f = mkfolio(e, wf);
		for (uint32_t i = 0; i < e->nr; i++)
			if (e->pol[i].p->release)
				e->pol[i].p->release(state_of(e, i, f.order,
							      e->fslot[folio]),
						     &f, &e->pol[i].ctx);
	}
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	release_live(e);
	for (uint32_t k = 0; k <= MCT_MAX_ORDER; k++) {
		free(e->slabs[k].base);
		free(e->slabs[k].free);
	}
	free(e->fslot);
	free(e->fflag);
	free(e->tl);
	world_free(e->w);
	free(e);
}

uint64_t engine_events(const struct engine *e)
{
	return e->events;
}

const struct mc_result *engine_result(const struct engine *e, uint32_t i)
{
	return i < e->nr_out ? &e->pol[e->out[i]].res : NULL;
}

const struct world *engine_world(const struct engine *e)
{
	return e->w;
}

const void *engine_folio_state(const struct engine *e, uint32_t i,
			       uint32_t folio, struct mc_folio *f)
{
	const struct world_folio *wf = world_folio(e->w, folio);

	if (!wf || !wf->live || i >= e->nr_out)
		return NULL;
	*f = mkfolio(e, wf);
	return state_of(e, e->out[i], wf->order, e->fslot[folio]);
}

static uint32_t slot_get(struct engine *e, uint32_t order)
{
	struct slab *s = &e->slabs[order];

	if (s->nr_free)
		return s->free[--s->nr_free];
	if (s->used == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->base = mc_realloc(s->base, (size_t)s->cap * s->stride);
	}
	return s->used++;
}

static void slot_put(struct engine *e, uint32_t order, uint32_t slot)
{
	struct slab *s = &e->slabs[order];

	if (s->nr_free == s->cap_free) {
		s->cap_free = s->cap_free ? s->cap_free * 2 : 16;
		s->free = mc_realloc(s->free, s->cap_free * sizeof(uint32_t));
	}
	s->free[s->nr_free++] = slot;
}

static void memory_add(struct epol *ep, int64_t bytes)
{
	ep->res.memory.current += bytes;
	if (ep->res.memory.current > ep->res.memory.peak)
		ep->res.memory.peak = ep->res.memory.current;
}

/* Take what a policy reported through its ctx. */
static void absorb(struct engine *e, uint32_t i, const struct mc_folio *f,
		   uint32_t folio)
{
	struct epol *ep = &e->pol[i];
	struct mc_ctx *c = &ep->ctx;

	if (c->nr_mapped) {
		if (f->type == MC_ANON)
			ep->res.anon_mapped += c->nr_mapped;
		else if (f->type != MC_HUGETLB)
			ep->res.file_mapped += c->nr_mapped;
		c->nr_mapped = 0;
	}
	c->nr_pmdmapped = 0;
	if (c->dyn_bytes) {
		memory_add(ep, c->dyn_bytes);
		c->dyn_bytes = 0;
	}
	if (c->partially_mapped) {
		/* deferred_split_folio(): anon folios, once per folio */
		if (f->type == MC_ANON && f->order)
			e->fflag[folio] |= 1u << i;
		c->partially_mapped = false;
	}
}

/* Score partial-mapping detection of a folio against exact's. */
static void settle_partial(struct engine *e, uint32_t folio)
{
	uint32_t flags = e->fflag[folio];
	bool actual = flags & 1;

	for (uint32_t i = 0; i < e->nr; i++) {
		struct mc_result *r = &e->pol[i].res;
		bool flagged = flags >> i & 1;

		if (!e->oracle)
			actual = flagged;
		r->partial.actual += actual;
		r->partial.detected += flagged && actual;
		r->partial.missed += !flagged && actual;
		r->partial.false_flags += flagged && !actual;
	}
	e->fflag[folio] = 0;
}

#define TIMED(e, i, call)                                         \
	do {                                                      \
		if ((e)->sample) {                                \
			double t0_ = now_ns();                    \
			call;                                     \
			(e)->pol[i].res.cost.sampled_ns +=        \
				now_ns() - t0_ - (e)->clock_cost; \
		} else {                                          \
			call;                                     \
		}                                                 \
	} while (0)

static void on_alloc(struct engine *e, uint32_t folio, const struct mc_folio *f)
{
	uint32_t slot;

	if (folio >= e->cap_f) {
		uint32_t cap = e->cap_f ? e->cap_f : 1024;

		while (cap <= folio)
			cap *= 2;
		e->fslot = mc_realloc(e->fslot, cap * sizeof(uint32_t));
		e->fflag = mc_realloc(e->fflag, cap * sizeof(uint32_t));
		e->cap_f = cap;
	}
	slot = slot_get(e, f->order);
	e->fslot[folio] = slot;
	e->fflag[folio] = 0;
	for (uint32_t i = 0; i < e->nr; i++) {
		void *st = state_of(e, i, f->order, slot);
		struct epol *ep = &e->pol[i];

		memset(st, 0, e->slabs[f->order].size[i]);
		TIMED(e, i, ep->p->init(st, f, &ep->ctx));
		memory_add(ep, (int64_t)ep->p->meta_bytes(f->order, f->type,
							  e->arch));
	}
}

static void on_free(struct engine *e, uint32_t folio, const struct mc_folio *f)
{
	uint32_t slot = e->fslot[folio];

	for (uint32_t i = 0; i < e->nr; i++) {
		struct epol *ep = &e->pol[i];

		if (ep->p->release)
			TIMED(e, i,
			      ep->p->release(state_of(e, i, f->order, slot), f,
					     &ep->ctx));
		absorb(e, i, f, folio);
		memory_add(ep, -(int64_t)ep->p->meta_bytes(f->order, f->type,
							   e->arch));
	}
	settle_partial(e, folio);
	slot_put(e, f->order, slot);
}

static void on_prim(void *ctx, const struct world_prim *p)
{
	struct engine *e = ctx;
	const struct world_folio *wf = world_folio(e->w, p->folio);
	struct mc_folio f = mkfolio(e, wf);
	uint32_t slot;

	if (p->op == W_ALLOC) {
		on_alloc(e, p->folio, &f);
		return;
	}
	if (p->op == W_FREE) {
		on_free(e, p->folio, &f);
		return;
	}
	slot = e->fslot[p->folio];
	for (uint32_t i = 0; i < e->nr; i++) {
		struct epol *ep = &e->pol[i];
		void *st = state_of(e, i, f.order, slot);

		switch (p->op) {
		case W_ADD:
			TIMED(e, i, ep->p->add_rmap(st, &f, &p->r, &ep->ctx));
			break;
		case W_REMOVE:
			TIMED(e, i,
			      ep->p->remove_rmap(st, &f, &p->r, &ep->ctx));
			break;
		case W_REF:
			TIMED(e, i, ep->p->ref(st, &f, p->delta, &ep->ctx));
			break;
		case W_PIN:
			TIMED(e, i,
			      ep->p->pin(st, &f, (int)p->delta, &ep->ctx));
			break;
		default:
			break;
		}
		absorb(e, i, &f, p->folio);
	}
}

/* ---- decisions ---- */

static void do_cow(struct engine *e, const struct mct_event *ev)
{
	const struct world_folio *wf = world_folio(e->w, ev->folio);
	struct mc_folio f = mkfolio(e, wf);
	int level = world_page_level(e->w, ev->mm, ev->folio, ev->first) - 1;
	struct mc_fault q = { .page = ev->first,
			      .mm_id = world_mm(e->w, ev->mm)->mm_id,
			      .level = (uint8_t)level };
	bool excl = folio_is_anon_type(wf->type) &&
		    world_page_exclusive(e->w, ev->folio, ev->first, level);
	bool unsafe = world_other_mappings(e->w, ev->folio, ev->mm) ||
		      wf->refs || wf->pins;
	bool truth = false, outcome;

	for (uint32_t i = 0; i < e->nr; i++) {
		struct epol *ep = &e->pol[i];
		struct mc_result *r = &ep->res;
		void *st = state_of(e, i, f.order, e->fslot[ev->folio]);
		bool reuse = true;

		if (!excl)
			TIMED(e, i,
			      reuse = ep->p->cow_reuse(st, &f, &q, &ep->ctx));
		if (i == 0 || !e->oracle)
			truth = reuse;
		r->cow.decisions++;
		r->cow.anon_exclusive += excl;
		r->cow.reuse += reuse;
		r->cow.copy += !reuse;
		r->cow.missed_reuse += !reuse && truth;
		r->cow.unsafe_reuse += reuse && !excl && unsafe;
		if (ev->expect == MCT_EXPECT_REUSE ||
		    ev->expect == MCT_EXPECT_COPY) {
			bool k = ev->expect == MCT_EXPECT_REUSE;

			r->cow.kernel_agree += k == reuse;
			r->cow.kernel_disagree += k != reuse;
		}
	}
	/* wp_page_reuse() and friends: the page becomes PageAnonExclusive */
	outcome = ev->expect == MCT_EXPECT_REUSE  ? true
		  : ev->expect == MCT_EXPECT_COPY ? false
						  : truth;
	if (outcome && folio_is_anon_type(wf->type))
		world_set_exclusive(e->w, ev->folio, ev->first, level);
}

int engine_ask_cow(struct engine *e, uint32_t i, uint32_t mm, uint32_t folio,
		   uint64_t page)
{
	const struct world_folio *wf = world_folio(e->w, folio);
	const struct world_mm *m = world_mm(e->w, mm);
	struct epol *ep;
	struct mc_folio f;
	struct mc_fault q = { .page = page };
	int level;

	if (!wf || !wf->live || !m || !m->live || page >= wf->nr_pages ||
	    i >= e->nr_out)
		return -1;
	level = world_page_level(e->w, mm, folio, page) - 1;
	if (level < 0)
		return -1;
	if (folio_is_anon_type(wf->type) &&
	    world_page_exclusive(e->w, folio, page, level))
		return 1;
	f = mkfolio(e, wf);
	q.mm_id = m->mm_id;
	q.level = (uint8_t)level;
	ep = &e->pol[e->out[i]];
	return ep->p->cow_reuse(
		state_of(e, e->out[i], f.order, e->fslot[folio]), &f, &q,
		&ep->ctx);
}

static void do_query(struct engine *e, const struct mct_event *ev)
{
	const struct world_folio *wf = world_folio(e->w, ev->folio);
	struct mc_folio f = mkfolio(e, wf);
	bool truth = false;

	for (uint32_t i = 0; i < e->nr; i++) {
		struct epol *ep = &e->pol[i];
		struct mc_result *r = &ep->res;
		const void *st = state_of(e, i, f.order, e->fslot[ev->folio]);
		bool shared;

		TIMED(e, i, shared = ep->p->maybe_shared(st, &f));
		if (i == 0 || !e->oracle)
			truth = shared;
		r->shared.queries++;
		r->shared.false_shared += shared && !truth;
		r->shared.false_exclusive += !shared && truth;
		if (ev->expect == MCT_EXPECT_SHARED ||
		    ev->expect == MCT_EXPECT_EXCLUSIVE) {
			bool k = ev->expect == MCT_EXPECT_SHARED;

			r->shared.kernel_agree += k == shared;
			r->shared.kernel_disagree += k != shared;
		}
	}
}

struct stat_arg {
	struct engine *e;
	uint32_t i;
	struct mc_smaps acc;
	uint64_t rss;
};

static void stat_one(void *ctx, uint32_t folio, uint64_t first, uint64_t nr,
		     int level)
{
	struct stat_arg *a = ctx;
	const struct world_folio *wf = world_folio(a->e->w, folio);
	struct mc_folio f = mkfolio(a->e, wf);

	if (wf->type == MC_HUGETLB) /* smaps: Shared/Private_Hugetlb only */
		return;
	a->rss += nr * a->e->page_size;
	a->e->pol[a->i].p->smaps(
		state_of(a->e, a->i, f.order, a->e->fslot[folio]), &f, first,
		nr, &a->acc);
}

static uint64_t absdiff(int64_t a, int64_t b)
{
	return a > b ? (uint64_t)(a - b) : (uint64_t)(b - a);
}

static void max_into(uint64_t *m, uint64_t v)
{
	if (v > *m)
		*m = v;
}

static void do_stat(struct engine *e, const struct mct_event *ev)
{
	struct stat_arg x = { .e = e };
	bool kernel = ev->flags & (MCT_F_RSS | MCT_F_PSS | MCT_F_USS);

	for (uint32_t i = 0; i < e->nr; i++) {
		struct stat_arg a = { .e = e, .i = i };
		struct mc_result *r = &e->pol[i].res;
		const struct mc_result *xr = e->oracle ? &e->pol[0].res : r;
		bool agree = true;

		a.acc.page_size = e->page_size;
		if (e->sample) {
			double t0 = now_ns();

			world_for_each_mapping(e->w, ev->mm, stat_one, &a);
			r->cost.sampled_ns += now_ns() - t0 - e->clock_cost;
		} else {
			world_for_each_mapping(e->w, ev->mm, stat_one, &a);
		}
		if (i == 0 || !e->oracle)
			x = a;
		r->stats.queries++;
		max_into(&r->stats.pss_err_max_bytes,
			 absdiff((int64_t)a.acc.pss, (int64_t)x.acc.pss) >>
				 MC_PSS_SHIFT);
		max_into(&r->stats.uss_err_max_bytes,
			 absdiff((int64_t)a.acc.uss, (int64_t)x.acc.uss));
		max_into(&r->stats.anon_mapped_err_max_bytes,
			 absdiff(r->anon_mapped, xr->anon_mapped) *
				 e->page_size);
		max_into(&r->stats.file_mapped_err_max_bytes,
			 absdiff(r->file_mapped, xr->file_mapped) *
				 e->page_size);
		if (!kernel)
			continue;
		if ((ev->flags & MCT_F_RSS) && ev->rss_kb != a.rss >> 10)
			agree = false;
		if ((ev->flags & MCT_F_PSS) &&
		    ev->pss_kb != a.acc.pss >> (MC_PSS_SHIFT + 10))
			agree = false;
		if ((ev->flags & MCT_F_USS) && ev->uss_kb != a.acc.uss >> 10)
			agree = false;
		r->stats.kernel_agree += agree;
		r->stats.kernel_disagree += !agree;
	}
}

static void do_observe(struct engine *e, const struct mct_event *ev)
{
	const struct world_folio *wf = world_folio(e->w, ev->folio);
	struct mc_folio f = mkfolio(e, wf);

	for (uint32_t i = 0; i < e->nr; i++) {
		struct epol *ep = &e->pol[i];
		const void *st = state_of(e, i, f.order, e->fslot[ev->folio]);
		uint64_t m;

		TIMED(e, i, m = ep->p->page_mapcount(st, &f, ev->first));
		ep->res.observe.observed++;
		ep->res.observe.agree += m == ev->value;
	}
}

/* A policy's value of the field called name; false when it has none. */
static bool field_of(const struct mc_field *fl, uint32_t n, const char *name,
		     int64_t *v)
{
	for (uint32_t k = 0; k < n; k++)
		if (!strcmp(fl[k].name, name)) {
			*v = fl[k].value;
			return true;
		}
	return false;
}

/*
 * mmid: the kernel's CONFIG_MM_ID slots of a folio against those of the
 * policies that keep slots (their fields() name them), slot for slot, and
 * the maybe-shared bit.  A slot the kernel gave an MM outside the trace
 * never agrees.
 */
static void do_slots(struct engine *e, const struct mct_event *ev)
{
	const struct world_folio *wf = world_folio(e->w, ev->folio);
	struct mc_folio f = mkfolio(e, wf);
	static const char *const names[2][2] = {
		{ "slot0_mm_id", "slot0_mapcount" },
		{ "slot1_mm_id", "slot1_mapcount" },
	};
	const uint32_t mm[2] = { ev->mm, ev->mm2 };

	for (uint32_t i = 0; i < e->nr; i++) {
		struct epol *ep = &e->pol[i];
		const void *st = state_of(e, i, f.order, e->fslot[ev->folio]);
		struct mc_field fl[32];
		uint32_t n;
		int64_t bit, id, count;
		bool agree;

		if (!ep->p->fields)
			continue;
		n = ep->p->fields(st, &f, fl, 32);
		if (!field_of(fl, n, "maybe_shared_bit", &bit))
			continue;
		agree = bit == ev->shared;
		for (int s = 0; s < 2; s++) {
			if (!field_of(fl, n, names[s][0], &id) ||
			    !field_of(fl, n, names[s][1], &count))
				goto next;
			if (ev->slot[s] == MCT_MMID_FREE)
				agree = agree && id == 0;
			else if (ev->slot[s] == MCT_MMID_MM)
				agree = agree && id != 0 &&
					(uint64_t)id ==
						world_mm(e->w, mm[s])->mm_id &&
					(uint64_t)count == ev->slot_count[s];
			else
				agree = false;
		}
		ep->res.slots.observed++;
		ep->res.slots.agree += agree;
	next:;
	}
}

/* Record a timeline point; when full, keep every other one and sample
 * half as often (the last point, force, is recorded anyway). */
static void tl_point(struct engine *e, bool force)
{
	struct mc_tpoint *pt;

	if (e->tl_n == MC_TIMELINE_MAX) {
		for (uint32_t k = 0; k < MC_TIMELINE_MAX / 2; k++) {
			e->tl_ev[k] = e->tl_ev[2 * k + 1];
			memcpy(&e->tl[k * e->nr], &e->tl[(2 * k + 1) * e->nr],
			       e->nr * sizeof(*e->tl));
		}
		e->tl_n = MC_TIMELINE_MAX / 2;
		e->tl_every *= 2;
		if (!force && (e->events & (e->tl_every - 1)))
			return;
	}
	e->tl_ev[e->tl_n] = e->events;
	pt = &e->tl[e->tl_n * e->nr];
	for (uint32_t i = 0; i < e->nr; i++) {
		const struct mc_result *r = &e->pol[i].res;

		pt[i] = (struct mc_tpoint){
			.missed_reuse = r->cow.missed_reuse,
			.unsafe_reuse = r->cow.unsafe_reuse,
			.false_shared = r->shared.false_shared,
			.false_exclusive = r->shared.false_exclusive,
			.pss_err_max_bytes = r->stats.pss_err_max_bytes,
		};
	}
	e->tl_n++;
}

uint32_t engine_timeline(const struct engine *e, uint32_t i,
			 const uint64_t **events, const struct mc_tpoint **pt,
			 uint32_t *stride)
{
	if (i >= e->nr_out)
		return 0;
	*events = e->tl_ev;
	*pt = &e->tl[e->out[i]];
	*stride = e->nr;
	return e->tl_n;
}

int engine_event(struct engine *e, const struct mct_event *ev, char *err,
		 size_t errlen)
{
	e->sample = e->timing && !(e->events & e->sample_mask);
	for (uint32_t i = 0; i < e->nr; i++)
		e->pol[i].ctx.event = e->events;
	/* a cow's outcome is do_cow()'s to apply, after the policies decided */
	if (ev->kind == MCT_COW && ev->expect) {
		struct mct_event bare = *ev;

		bare.expect = MCT_EXPECT_NONE;
		if (world_apply(e->w, &bare, on_prim, e, err, errlen))
			return -1;
	} else if (world_apply(e->w, ev, on_prim, e, err, errlen)) {
		return -1;
	}
	switch (ev->kind) {
	case MCT_COW:
		do_cow(e, ev);
		break;
	case MCT_QUERY:
		do_query(e, ev);
		break;
	case MCT_STAT:
		do_stat(e, ev);
		break;
	case MCT_OBSERVE:
		do_observe(e, ev);
		break;
	case MCT_MMID:
		do_slots(e, ev);
		break;
	default:
		break;
	}
	if (e->sample)
		for (uint32_t i = 0; i < e->nr; i++)
			e->pol[i].res.cost.sampled_events++;
	e->events++;
	if (!(e->events & (e->tl_every - 1)))
		tl_point(e, false);
	return 0;
}

void engine_finish(struct engine *e)
{
	uint32_t n = world_nr_folios(e->w);

	for (uint32_t folio = 0; folio < n; folio++)
		if (world_folio(e->w, folio)->live)
			settle_partial(e, folio);
	for (uint32_t i = 0; i < e->nr; i++) {
		struct mc_result *r = &e->pol[i].res;

		r->cost.words_written = e->pol[i].ctx.words_written;
		r->cost.atomics = e->pol[i].ctx.atomics;
		r->overflow.events = e->pol[i].ctx.overflow_events;
	}
	if (!e->tl_n || e->tl_ev[e->tl_n - 1] != e->events)
		tl_point(e, true);
}
