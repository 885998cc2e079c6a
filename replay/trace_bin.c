// SPDX-License-Identifier: MIT
/*
 * trace_bin.c - the binary encoding (.mct): length-delimited protobuf
 * messages (schema/trace.proto), decoded into an arena so that reading does
 * no malloc per event; the binary writer, and zstd compression for .mct.zst.
 */
#include "trace_impl.h"
#include "trace.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define ZSTD_LEVEL 6
#define ARENA_MIN  4096

static const uint8_t magic[4] = { 0x89, 'M', 'C', 'T' };

/* The schema numbers things as the model does. */
_Static_assert(MCT__EVENT__KIND_MM == MCT_MM + 1 &&
		       MCT__EVENT__KIND_OBSERVE == MCT_OBSERVE + 1 &&
		       MCT__EVENT__KIND_MMID == MCT_MMID + 1,
	       "Event field numbers follow enum mct_kind");
_Static_assert((int)MCT__SPACE__SPACE_VMA == MCT_SPACE_VMA &&
		       (int)MCT__LEVEL__LEVEL_PUD == MCT_PUD &&
		       (int)MCT__FOLIO_TYPE__FOLIO_DRIVER == MCT_DRIVER &&
		       (int)MCT__SOURCE__SOURCE_RECORDED == MCT_SOURCE_RECORDED,
	       "schema enums follow trace.h");

static const char *const space_names[MCT_NR_SPACES] = { "mm", "folio", "vma" };

/* ---- Arena ---- */

/*
 * protobuf-c allocates an unpacked message piece by piece; the pieces all
 * die together when the next message is read.  What does not fit in base
 * spills to malloc, and the next reset grows base to fit it all, so in the
 * steady state decoding allocates nothing.
 */
struct spill {
	struct spill *next;
	max_align_t data[];
};

struct arena {
	uint8_t *base;
	size_t cap, used, spilled;
	struct spill *spills;
};

static void *arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	struct spill *s;

	size = (size + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
	if (a->cap - a->used >= size) {
		a->used += size;
		return a->base + a->used - size;
	}
	s = malloc(sizeof(*s) + size);
	if (!s)
		return NULL;
	s->next = a->spills;
	a->spills = s;
	a->spilled += size;
	return s->data;
}

static void arena_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

static void arena_reset(struct arena *a)
{
	size_t want = a->used + a->spilled;

	while (a->spills) {
		struct spill *next = a->spills->next;

		free(a->spills);
		a->spills = next;
	}
	if (want > a->cap || !a->base) {
		want = want < ARENA_MIN ? ARENA_MIN : want;
		free(a->base);
		a->base = malloc(want);
		a->cap = a->base ? want : 0;
	}
	a->used = a->spilled = 0;
}

/* ---- Reader ---- */

struct mct_bin_reader {
	struct arena arena;
	ProtobufCAllocator alloc;
	bool fast;		    /* try trace_fastpb.c first */
	char comm[MCT_STR_MAX + 1]; /* its mm event's comm */
};

/* A varint: 1, 0 at the end of the input, or -1. */
static int read_varint(struct mct_reader *r, const char *what, uint64_t *v)
{
	size_t avail, i;
	const uint8_t *p = mct_in_peek(r, 10, &avail);

	if (!p)
		return -1;
	if (!avail)
		return 0;
	*v = 0;
	for (i = 0; i < avail && i < 10; i++) {
		*v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80) && (i < 9 || p[i] <= 1)) {
			mct_in_skip(r, i + 1);
			return 1;
		}
	}
	if (i < 10)
		return mct_fail(
			r, NULL,
			"truncated %s: the input ends inside the varint", what);
	return mct_fail(r, NULL, "bad %s: varint larger than 64 bits", what);
}

/* A varint of 1 to 3 bytes at p, which has 3: its length, or 0. */
static size_t short_varint(const uint8_t *p, uint64_t *v)
{
	if (p[0] < 0x80) {
		*v = p[0];
		return 1;
	}
	if (p[1] < 0x80) {
		*v = (p[0] & 0x7f) | (uint64_t)p[1] << 7;
		return 2;
	}
	if (p[2] < 0x80) {
		*v = (p[0] & 0x7f) | (uint64_t)(p[1] & 0x7f) << 7 |
		     (uint64_t)p[2] << 14;
		return 3;
	}
	return 0;
}

/*
 * A length and a message (what it is, for messages: "event" and "event
 * length"): 1 with it in msg, 0 at the end, or -1.
 */
static int read_msg(struct mct_reader *r, const char *what,
		    const char *what_length, const uint8_t **msg, size_t *len)
{
	size_t avail, i;
	uint64_t n;
	int ret;

	r->pos.offset = mct_in_offset(r);
	/* fast path: a short length, and the message already read */
	if (r->bin->fast) {
		*msg = mct_in_peek(r, 10, &avail);
		if (!*msg)
			return -1;
		n = 0;
		i = avail >= 3 ? short_varint(*msg, &n) : 0;
		if (i && n <= MCT_MSG_MAX && n <= avail - i) {
			*msg += i;
			*len = n;
			mct_in_skip(r, i + n);
			return 1;
		}
	}
	ret = read_varint(r, what_length, &n);
	if (ret <= 0)
		return ret;
	if (n > MCT_MSG_MAX)
		return mct_fail(r, NULL,
				"oversized %s: length %" PRIu64 ", at most %d",
				what, n, MCT_MSG_MAX);
	*msg = mct_in_peek(r, n, &avail);
	if (!*msg)
		return -1;
	if (avail < n)
		return mct_fail(r, NULL,
				"truncated %s: length %" PRIu64
				" but only %zu bytes left",
				what, n, avail);
	mct_in_skip(r, n);
	*len = n;
	return 1;
}

static int check_str(struct mct_reader *r, const char *kind, const char *what,
		     const char *s)
{
	const char *why = s ? mct_str_problem(s) : NULL;

	return why ? mct_fail(r, kind, "bad %s: %s", what, why) : 0;
}

static char *dup_str(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int header_from_pb(struct mct_reader *r, const Mct__TraceHeader *th)
{
	struct mct_header *h = &r->hdr;

	if (th->base.n_unknown_fields)
		return mct_fail(r, "header", "unknown field %" PRIu32,
				th->base.unknown_fields[0].tag);
	if (th->version != MCT_VERSION)
		return mct_fail(r, "header",
				"unsupported version %" PRIu32 ": expected %d",
				th->version, MCT_VERSION);
	if (th->has_source && (th->source < MCT__SOURCE__SOURCE_SYNTHETIC ||
			       th->source > MCT__SOURCE__SOURCE_RECORDED))
		return mct_fail(r, "header",
				"bad source %d: expected 1 (synthetic) or 2 "
				"(recorded)",
				th->source);
	if (check_str(r, "header", "name", th->name) ||
	    check_str(r, "header", "kernel", th->kernel) ||
	    check_str(r, "header", "arch", th->arch))
		return -1;
	h->version = MCT_VERSION;
	h->has = (th->has_page_size ? MCT_H_PAGE_SIZE : 0) |
		 (th->has_pmd_order ? MCT_H_PMD_ORDER : 0) |
		 (th->has_pud_order ? MCT_H_PUD_ORDER : 0);
	h->page_size =
		th->has_page_size ? th->page_size : MCT_DEFAULT_PAGE_SIZE;
	h->pmd_order =
		th->has_pmd_order ? th->pmd_order : MCT_DEFAULT_PMD_ORDER;
	h->pud_order =
		th->has_pud_order ? th->pud_order : MCT_DEFAULT_PUD_ORDER;
	h->source =
		th->has_source ? (enum mct_source)th->source : MCT_SOURCE_NONE;
	h->name = dup_str(th->name);
	h->kernel = dup_str(th->kernel);
	h->arch = dup_str(th->arch);
	if ((th->name && !h->name) || (th->kernel && !h->kernel) ||
	    (th->arch && !h->arch))
		return mct_fail(r, NULL, "out of memory");
	return 0;
}

int mct_bin_open(struct mct_reader *r)
{
	struct mct_bin_reader *b = calloc(1, sizeof(*b));
	Mct__TraceHeader *th;
	const uint8_t *p;
	size_t avail, i;
	uint64_t version;
	char got[16] = "";
	int ret;

	r->bin = b;
	if (!b)
		return mct_fail(r, NULL, "out of memory");
	b->alloc = (ProtobufCAllocator){ arena_alloc, arena_free, &b->arena };
	b->fast = mct_fastpb_enabled();
	p = mct_in_peek(r, sizeof(magic), &avail);
	if (!p)
		return -1;
	if (avail < sizeof(magic) || memcmp(p, magic, sizeof(magic))) {
		for (i = 0; i < avail && i < sizeof(magic); i++)
			snprintf(got + 3 * i, sizeof(got) - 3 * i, " %02x",
				 p[i]);
		return mct_fail(r, NULL, "bad magic%s: expected 89 4d 43 54",
				got);
	}
	mct_in_skip(r, sizeof(magic));
	r->pos.offset = sizeof(magic);
	ret = read_varint(r, "format version", &version);
	if (ret < 0)
		return -1;
	if (!ret)
		return mct_fail(r, NULL, "missing format version");
	if (version != MCT_VERSION)
		return mct_fail(r, NULL,
				"unsupported format version %" PRIu64
				": expected %d",
				version, MCT_VERSION);
	ret = read_msg(r, "header", "header length", &p, &avail);
	if (ret <= 0)
		return ret < 0 ? -1 : mct_fail(r, NULL, "missing header");
	arena_reset(&b->arena);
	th = mct__trace_header__unpack(&b->alloc, avail, p);
	if (!th)
		return mct_fail(r, NULL,
				"malformed header: %zu bytes that do not "
				"decode as a TraceHeader",
				avail);
	return header_from_pb(r, th);
}

static int define_name(struct mct_reader *r, const Mct__Name *n)
{
	struct mct_strtab *t;
	char shown[96];
	size_t len;
	uint32_t id;

	if (n->base.n_unknown_fields)
		return mct_fail(r, "name", "unknown field %" PRIu32,
				n->base.unknown_fields[0].tag);
	if ((unsigned)n->space >= MCT_NR_SPACES)
		return mct_fail(r, "name",
				"bad space %d: expected 0 (mm), 1 (folio) or "
				"2 (vma)",
				n->space);
	t = &r->names[n->space];
	if (n->id != t->nr)
		return mct_fail(r, "name",
				"%s id %" PRIu32 " out of sequence: expected "
				"%" PRIu32,
				space_names[n->space], n->id, t->nr);
	len = strlen(n->name);
	if (!mct_valid_ident(n->name, len))
		return mct_fail(r, "name",
				"bad identifier %s: expected 1 to %d of "
				"A-Z a-z 0-9 _ . : -",
				mct_show(shown, sizeof(shown), n->name, len),
				MCT_ID_MAX);
	id = mct_strtab_find(t, n->name, len);
	if (id != MCT_NO_ID)
		return mct_fail(
			r, "name", "%s %s already defined as id %" PRIu32,
			space_names[n->space],
			mct_show(shown, sizeof(shown), n->name, len), id);
	if (mct_strtab_add(t, n->name, len) == MCT_NO_ID)
		return mct_fail(r, NULL, "out of memory");
	return 0;
}

/* Sets slot s of ev to id, which must be defined; nonzero on error. */
static int set_id(struct mct_reader *r, struct mct_event *ev, enum mct_slot s,
		  uint32_t id)
{
	uint32_t *slot[MCT_NR_SLOTS] = { &ev->mm, &ev->mm2, &ev->folio,
					 &ev->vma };
	enum mct_space sp = mct_slot_space[s];

	if (id >= r->names[sp].nr)
		return mct_fail(r, mct_kind_name(ev->kind),
				"undefined %s id %" PRIu32 " (%" PRIu32
				" defined)",
				space_names[sp], id, r->names[sp].nr);
	*slot[s] = id;
	return 0;
}

static int from_alloc(struct mct_reader *r, const Mct__Alloc *m,
		      struct mct_event *ev)
{
	if (set_id(r, ev, MCT_SLOT_FOLIO, m->folio))
		return -1;
	if (m->order > MCT_MAX_ORDER)
		return mct_fail(r, "alloc",
				"order %" PRIu32 " out of range: at most %d",
				m->order, MCT_MAX_ORDER);
	if (m->has_type && (unsigned)m->type >= MCT_NR_FTYPES)
		return mct_fail(r, "alloc", "bad type %d: expected 0 to %d",
				m->type, MCT_NR_FTYPES - 1);
	ev->order = m->order;
	ev->type = m->has_type ? m->type : MCT_ANON;
	ev->pfn = m->pfn;
	ev->flags |=
		(m->has_type ? MCT_F_TYPE : 0) | (m->has_pfn ? MCT_F_PFN : 0);
	return 0;
}

static int from_range(struct mct_reader *r, const Mct__Range *m,
		      struct mct_event *ev)
{
	const char *kind = mct_kind_name(ev->kind);

	if (!m) {
		ev->flags |= MCT_F_NO_RANGE;
		return 0;
	}
	if (m->base.n_unknown_fields)
		return mct_fail(r, kind, "range: unknown field %" PRIu32,
				m->base.unknown_fields[0].tag);
	if (!m->nr)
		return mct_fail(r, kind,
				"bad range: nr is 0, expected at least 1");
	if (m->first + (m->nr - 1) < m->first)
		return mct_fail(r, kind,
				"bad range %" PRIu64 "+%" PRIu64
				": too large for 64-bit page numbers",
				m->first, m->nr);
	ev->first = m->first;
	ev->nr = m->nr;
	return 0;
}

static int from_rmap(struct mct_reader *r, const Mct__Rmap *m,
		     struct mct_event *ev)
{
	const char *kind = mct_kind_name(ev->kind);

	if (set_id(r, ev, MCT_SLOT_MM, m->mm) ||
	    set_id(r, ev, MCT_SLOT_FOLIO, m->folio) ||
	    (m->has_vma && set_id(r, ev, MCT_SLOT_VMA, m->vma)) ||
	    from_range(r, m->range, ev))
		return -1;
	if (m->has_level && (unsigned)m->level >= MCT_NR_LEVELS)
		return mct_fail(r, kind,
				"bad level %d: expected 0 (pte), 1 (pmd) or "
				"2 (pud)",
				m->level);
	if (m->excl && ev->kind == MCT_UNMAP)
		return mct_fail(r, kind, "excl is only allowed on map");
	ev->level = m->has_level ? m->level : MCT_PTE;
	ev->flags |=
		(m->has_level ? MCT_F_LEVEL : 0) | (m->excl ? MCT_F_EXCL : 0);
	return 0;
}

/* expect: 0 absent, else 1 or 2, the values of the kind from base on. */
static int from_expect(struct mct_reader *r, struct mct_event *ev, bool has,
		       int expect, enum mct_expect base, const char *values)
{
	if (has && expect != 1 && expect != 2)
		return mct_fail(r, mct_kind_name(ev->kind),
				"bad expect %d: expected %s", expect, values);
	ev->expect = has ? base + expect - 1 : MCT_EXPECT_NONE;
	return 0;
}

static int from_mmid(struct mct_reader *r, const Mct__Mmid *m,
		     struct mct_event *ev)
{
	const Mct__MmidSlot *slot[2] = { m->slot0, m->slot1 };

	if (set_id(r, ev, MCT_SLOT_FOLIO, m->folio))
		return -1;
	ev->value = m->mapcount;
	ev->shared = m->shared ? 1 : 0;
	for (int i = 0; i < 2; i++) {
		if (!slot[i])
			continue;
		if (slot[i]->base.n_unknown_fields)
			return mct_fail(r, "mmid",
					"slot%d: unknown field %" PRIu32, i,
					slot[i]->base.unknown_fields[0].tag);
		ev->slot_count[i] = slot[i]->count;
		ev->slot[i] = slot[i]->has_mm ? MCT_MMID_MM : MCT_MMID_OTHER;
		if (slot[i]->has_mm &&
		    set_id(r, ev, i ? MCT_SLOT_MM2 : MCT_SLOT_MM, slot[i]->mm))
			return -1;
	}
	return 0;
}

/* ev from e: 0, or nonzero on error. */
static int from_pb(struct mct_reader *r, const Mct__Event *e,
		   struct mct_event *ev)
{
	/* every member of the oneof is a pointer to a message */
	const ProtobufCMessage *m = (const ProtobufCMessage *)e->mm;

	ev->kind = e->kind_case - 1;
	if (m->n_unknown_fields)
		return mct_fail(r, mct_kind_name(ev->kind),
				"unknown field %" PRIu32,
				m->unknown_fields[0].tag);
	switch (e->kind_case) {
	case MCT__EVENT__KIND_MM:
		ev->comm = e->mm->comm;
		return set_id(r, ev, MCT_SLOT_MM, e->mm->mm) ||
		       (e->mm->has_parent &&
			set_id(r, ev, MCT_SLOT_MM2, e->mm->parent)) ||
		       check_str(r, "mm", "comm", ev->comm);
	case MCT__EVENT__KIND_FORK:
		return set_id(r, ev, MCT_SLOT_MM, e->fork->parent) ||
		       set_id(r, ev, MCT_SLOT_MM2, e->fork->child);
	case MCT__EVENT__KIND_EXIT:
		return set_id(r, ev, MCT_SLOT_MM, e->exit->mm);
	case MCT__EVENT__KIND_ALLOC:
		return from_alloc(r, e->alloc, ev);
	case MCT__EVENT__KIND_FREE:
		return set_id(r, ev, MCT_SLOT_FOLIO, e->free->folio);
	case MCT__EVENT__KIND_MAP:
	case MCT__EVENT__KIND_UNMAP:
		return from_rmap(r, e->map, ev); /* both are Rmap */
	case MCT__EVENT__KIND_REF:
		ev->delta = e->ref->delta;
		if (!ev->delta)
			return mct_fail(r, "ref",
					"delta is 0: expected a nonzero count");
		return set_id(r, ev, MCT_SLOT_FOLIO, e->ref->folio);
	case MCT__EVENT__KIND_PIN:
	case MCT__EVENT__KIND_UNPIN:
		return set_id(r, ev, MCT_SLOT_FOLIO, e->pin->folio); /* both */
	case MCT__EVENT__KIND_COW:
		ev->first = e->cow->page;
		return set_id(r, ev, MCT_SLOT_MM, e->cow->mm) ||
		       set_id(r, ev, MCT_SLOT_FOLIO, e->cow->folio) ||
		       from_expect(r, ev, e->cow->has_expect, e->cow->expect,
				   MCT_EXPECT_REUSE, "1 (reuse) or 2 (copy)");
	case MCT__EVENT__KIND_QUERY:
		return set_id(r, ev, MCT_SLOT_FOLIO, e->query->folio) ||
		       from_expect(r, ev, e->query->has_expect,
				   e->query->expect, MCT_EXPECT_SHARED,
				   "1 (shared) or 2 (exclusive)");
	case MCT__EVENT__KIND_STAT:
		ev->rss_kb = e->stat->rss_kb;
		ev->pss_kb = e->stat->pss_kb;
		ev->uss_kb = e->stat->uss_kb;
		ev->flags |= (e->stat->has_rss_kb ? MCT_F_RSS : 0) |
			     (e->stat->has_pss_kb ? MCT_F_PSS : 0) |
			     (e->stat->has_uss_kb ? MCT_F_USS : 0);
		return set_id(r, ev, MCT_SLOT_MM, e->stat->mm);
	case MCT__EVENT__KIND_OBSERVE:
		ev->first = e->observe->page;
		ev->value = e->observe->mapcount;
		return set_id(r, ev, MCT_SLOT_FOLIO, e->observe->folio);
	case MCT__EVENT__KIND_MMID:
		return from_mmid(r, e->mmid, ev);
	default:
		return -1;
	}
}

int mct_bin_next(struct mct_reader *r, struct mct_event *ev)
{
	struct mct_bin_reader *b = r->bin;
	const uint8_t *msg;
	Mct__Event *e;
	size_t len;
	int ret;

	for (;;) {
		ret = read_msg(r, "event", "event length", &msg, &len);
		if (ret <= 0)
			return ret;
		if (b->fast) {
			ret = mct_fastpb_event(r, msg, len, ev, b->comm);
			r->nr_fastpb += ret != MCT_FASTPB_SLOW;
			if (ret == MCT_FASTPB_EVENT)
				return 1;
			if (ret == MCT_FASTPB_NAME)
				continue;
		}
		arena_reset(&b->arena);
		e = mct__event__unpack(&b->alloc, len, msg);
		if (!e)
			return mct_fail(r, NULL,
					"malformed event: %zu bytes that do "
					"not decode as an Event",
					len);
		if (e->base.n_unknown_fields)
			return mct_fail(r, NULL,
					"unknown event kind: field %" PRIu32,
					e->base.unknown_fields[0].tag);
		if (e->kind_case == MCT__EVENT__KIND__NOT_SET)
			return mct_fail(r, NULL,
					"unknown event kind: the event is "
					"empty");
		if (e->kind_case != MCT__EVENT__KIND_NAME)
			return from_pb(r, e, ev) ? -1 : 1;
		if (define_name(r, e->name))
			return -1;
	}
}

void mct_bin_close(struct mct_reader *r)
{
	struct mct_bin_reader *b = r->bin;

	if (!b)
		return;
	arena_reset(&b->arena);
	free(b->arena.base);
	free(b);
	r->bin = NULL;
}

/* ---- Writer ---- */

struct mct_bin_writer {
	struct mct_strtab names[MCT_NR_SPACES]; /* as written */
	uint8_t *buf;
	size_t cap;
};

struct mct_bin_writer *mct_bin_writer_new(void)
{
	return calloc(1, sizeof(struct mct_bin_writer));
}

void mct_bin_writer_free(struct mct_bin_writer *b)
{
	int i;

	if (!b)
		return;
	for (i = 0; i < MCT_NR_SPACES; i++)
		mct_strtab_free(&b->names[i]);
	free(b->buf);
	free(b);
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	for (; v >= 0x80; v >>= 7)
		p[n++] = (uint8_t)v | 0x80;
	p[n++] = v;
	return n;
}

static int put_msg(struct mct_writer *w, const ProtobufCMessage *m)
{
	struct mct_bin_writer *b = w->bin;
	size_t n = protobuf_c_message_get_packed_size(m), len;

	if (b->cap < n + 10) {
		uint8_t *buf = realloc(b->buf, n + 10);

		if (!buf)
			return -1;
		b->buf = buf;
		b->cap = n + 10;
	}
	len = put_varint(b->buf, n);
	protobuf_c_message_pack(m, b->buf + len);
	return mct_sink_write(w, b->buf, len + n);
}

int mct_bin_write_header(struct mct_writer *w, const struct mct_header *h)
{
	Mct__TraceHeader th = MCT__TRACE_HEADER__INIT;
	uint8_t start[sizeof(magic) + 1];

	memcpy(start, magic, sizeof(magic));
	start[sizeof(magic)] = MCT_VERSION;
	th.version = MCT_VERSION;
	th.has_page_size = !!(h->has & MCT_H_PAGE_SIZE);
	th.page_size = h->page_size;
	th.has_pmd_order = !!(h->has & MCT_H_PMD_ORDER);
	th.pmd_order = h->pmd_order;
	th.has_pud_order = !!(h->has & MCT_H_PUD_ORDER);
	th.pud_order = h->pud_order;
	th.name = h->name;
	th.has_source = h->source != MCT_SOURCE_NONE;
	th.source = (Mct__Source)h->source;
	th.kernel = h->kernel;
	th.arch = h->arch;
	if (mct_sink_write(w, start, sizeof(start)))
		return -1;
	return put_msg(w, &th.base);
}

/* The written id of name, defining it first when it is new. */
static int written_id(struct mct_writer *w, enum mct_space sp, const char *name,
		      uint32_t *id)
{
	struct mct_strtab *t = &w->bin->names[sp];
	Mct__Name n = MCT__NAME__INIT;
	Mct__Event e = MCT__EVENT__INIT;
	size_t len = strlen(name);
	uint32_t old;

	*id = mct_strtab_add_new(t, name, len, &old);
	if (old != MCT_NO_ID) {
		*id = old;
		return 0;
	}
	if (*id == MCT_NO_ID) {
		errno = ENOMEM;
		return -1;
	}
	n.space = (Mct__Space)sp;
	n.id = *id;
	n.name = (char *)name;
	e.kind_case = MCT__EVENT__KIND_NAME;
	e.name = &n;
	return put_msg(w, &e.base);
}

/* Storage for the payload of one event. */
union payload {
	Mct__Mm mm;
	Mct__Fork fork;
	Mct__Exit exit;
	Mct__Alloc alloc;
	Mct__Free free;
	Mct__Rmap rmap;
	Mct__Ref ref;
	Mct__Pin pin;
	Mct__Cow cow;
	Mct__Query query;
	Mct__Stat stat;
	Mct__Observe observe;
	struct {
		Mct__Mmid m;
		Mct__MmidSlot slot[2];
	} mmid;
};

static void rmap_to_pb(const struct mct_event *ev, const uint32_t *id,
		       bool has_vma, Mct__Rmap *m, Mct__Range *range)
{
	*m = (Mct__Rmap)MCT__RMAP__INIT;
	m->mm = id[MCT_SLOT_MM];
	m->folio = id[MCT_SLOT_FOLIO];
	if (!(ev->flags & MCT_F_NO_RANGE)) {
		*range = (Mct__Range)MCT__RANGE__INIT;
		range->first = ev->first;
		range->nr = ev->nr;
		m->range = range;
	}
	m->has_level = ev->level != MCT_PTE;
	m->level = (Mct__Level)ev->level;
	m->has_vma = has_vma;
	m->vma = id[MCT_SLOT_VMA];
	m->has_excl = m->excl = ev->kind == MCT_MAP && ev->flags & MCT_F_EXCL;
}

/* e's payload, in u; ids are the written ids of names. */
static void to_pb(const struct mct_event *ev, const uint32_t *id,
		  const char *const nm[MCT_NR_SLOTS], union payload *u,
		  Mct__Range *range, Mct__Event *e)
{
	e->kind_case = (Mct__Event__KindCase)(ev->kind + 1);
	switch (ev->kind) {
	case MCT_MM:
		u->mm = (Mct__Mm)MCT__MM__INIT;
		u->mm.mm = id[MCT_SLOT_MM];
		u->mm.has_parent = nm[MCT_SLOT_MM2] != NULL;
		u->mm.parent = id[MCT_SLOT_MM2];
		u->mm.comm = (char *)ev->comm;
		e->mm = &u->mm;
		break;
	case MCT_FORK:
		u->fork = (Mct__Fork)MCT__FORK__INIT;
		u->fork.parent = id[MCT_SLOT_MM];
		u->fork.child = id[MCT_SLOT_MM2];
		e->fork = &u->fork;
		break;
	case MCT_EXIT:
		u->exit = (Mct__Exit)MCT__EXIT__INIT;
		u->exit.mm = id[MCT_SLOT_MM];
		e->exit = &u->exit;
		break;
	case MCT_ALLOC:
		u->alloc = (Mct__Alloc)MCT__ALLOC__INIT;
		u->alloc.folio = id[MCT_SLOT_FOLIO];
		u->alloc.order = ev->order;
		u->alloc.has_type = !!(ev->flags & MCT_F_TYPE);
		u->alloc.type = (Mct__FolioType)ev->type;
		u->alloc.has_pfn = !!(ev->flags & MCT_F_PFN);
		u->alloc.pfn = ev->pfn;
		e->alloc = &u->alloc;
		break;
	case MCT_FREE:
		u->free = (Mct__Free)MCT__FREE__INIT;
		u->free.folio = id[MCT_SLOT_FOLIO];
		e->free = &u->free;
		break;
	case MCT_MAP:
	case MCT_UNMAP:
		rmap_to_pb(ev, id, nm[MCT_SLOT_VMA] != NULL, &u->rmap, range);
		e->map = &u->rmap; /* map and unmap share the union */
		break;
	case MCT_REF:
		u->ref = (Mct__Ref)MCT__REF__INIT;
		u->ref.folio = id[MCT_SLOT_FOLIO];
		u->ref.delta = ev->delta;
		e->ref = &u->ref;
		break;
	case MCT_PIN:
	case MCT_UNPIN:
		u->pin = (Mct__Pin)MCT__PIN__INIT;
		u->pin.folio = id[MCT_SLOT_FOLIO];
		e->pin = &u->pin; /* pin and unpin share the union */
		break;
	case MCT_COW:
		u->cow = (Mct__Cow)MCT__COW__INIT;
		u->cow.mm = id[MCT_SLOT_MM];
		u->cow.folio = id[MCT_SLOT_FOLIO];
		u->cow.page = ev->first;
		u->cow.has_expect = ev->expect != MCT_EXPECT_NONE;
		u->cow.expect =
			(Mct__CowOutcome)(ev->expect - MCT_EXPECT_REUSE + 1);
		e->cow = &u->cow;
		break;
	case MCT_QUERY:
		u->query = (Mct__Query)MCT__QUERY__INIT;
		u->query.folio = id[MCT_SLOT_FOLIO];
		u->query.has_expect = ev->expect != MCT_EXPECT_NONE;
		u->query.expect =
			(Mct__Sharing)(ev->expect - MCT_EXPECT_SHARED + 1);
		e->query = &u->query;
		break;
	case MCT_STAT:
		u->stat = (Mct__Stat)MCT__STAT__INIT;
		u->stat.mm = id[MCT_SLOT_MM];
		u->stat.has_rss_kb = !!(ev->flags & MCT_F_RSS);
		u->stat.rss_kb = ev->rss_kb;
		u->stat.has_pss_kb = !!(ev->flags & MCT_F_PSS);
		u->stat.pss_kb = ev->pss_kb;
		u->stat.has_uss_kb = !!(ev->flags & MCT_F_USS);
		u->stat.uss_kb = ev->uss_kb;
		e->stat = &u->stat;
		break;
	case MCT_OBSERVE:
		u->observe = (Mct__Observe)MCT__OBSERVE__INIT;
		u->observe.folio = id[MCT_SLOT_FOLIO];
		u->observe.page = ev->first;
		u->observe.mapcount = ev->value;
		e->observe = &u->observe;
		break;
	case MCT_MMID:
		u->mmid.m = (Mct__Mmid)MCT__MMID__INIT;
		u->mmid.m.folio = id[MCT_SLOT_FOLIO];
		u->mmid.m.mapcount = ev->value;
		u->mmid.m.shared = ev->shared != 0;
		for (int i = 0; i < 2; i++) {
			Mct__MmidSlot *sl = &u->mmid.slot[i];

			if (ev->slot[i] == MCT_MMID_FREE)
				continue;
			*sl = (Mct__MmidSlot)MCT__MMID_SLOT__INIT;
			sl->count = ev->slot_count[i];
			sl->has_mm = ev->slot[i] == MCT_MMID_MM;
			sl->mm = id[i ? MCT_SLOT_MM2 : MCT_SLOT_MM];
			if (i)
				u->mmid.m.slot1 = sl;
			else
				u->mmid.m.slot0 = sl;
		}
		e->mmid = &u->mmid.m;
		break;
	}
}

int mct_bin_write_event(struct mct_writer *w, const struct mct_event *ev,
			const char *const nm[MCT_NR_SLOTS])
{
	uint32_t id[MCT_NR_SLOTS] = { 0 };
	Mct__Event e = MCT__EVENT__INIT;
	Mct__Range range;
	union payload u;
	int s;

	for (s = 0; s < MCT_NR_SLOTS; s++)
		if (nm[s] && written_id(w, mct_slot_space[s], nm[s], &id[s]))
			return -1;
	to_pb(ev, id, nm, &u, &range, &e);
	return put_msg(w, &e.base);
}

/* ---- zstd ---- */

struct mct_zstd_writer {
	ZSTD_CStream *cs;
	uint8_t *out;
	size_t cap;
};

struct mct_zstd_writer *mct_zstd_writer_new(void)
{
	struct mct_zstd_writer *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	z->cs = ZSTD_createCStream();
	z->cap = ZSTD_CStreamOutSize();
	z->out = malloc(z->cap);
	if (!z->cs || !z->out ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->cs, ZSTD_c_compressionLevel,
						ZSTD_LEVEL))) {
		mct_zstd_writer_free(z);
		return NULL;
	}
	return z;
}

static int zstd_run(struct mct_zstd_writer *z, FILE *f, ZSTD_inBuffer *in,
		    ZSTD_EndDirective end)
{
	size_t left;

	do {
		ZSTD_outBuffer out = { z->out, z->cap, 0 };

		left = ZSTD_compressStream2(z->cs, &out, in, end);
		if (ZSTD_isError(left)) {
			errno = EIO;
			return -1;
		}
		if (fwrite(z->out, 1, out.pos, f) != out.pos)
			return -1;
	} while (end == ZSTD_e_end ? left != 0 : in->pos < in->size);
	return 0;
}

int mct_zstd_write(struct mct_zstd_writer *z, FILE *f, const void *p, size_t n)
{
	ZSTD_inBuffer in = { p, n, 0 };

	return zstd_run(z, f, &in, ZSTD_e_continue);
}

int mct_zstd_end(struct mct_zstd_writer *z, FILE *f)
{
	ZSTD_inBuffer in = { NULL, 0, 0 };

	return zstd_run(z, f, &in, ZSTD_e_end);
}

void mct_zstd_writer_free(struct mct_zstd_writer *z)
{
	if (!z)
		return;
	ZSTD_freeCStream(z->cs);
	free(z->out);
	free(z);
}
