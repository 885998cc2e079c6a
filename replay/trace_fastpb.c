// SPDX-License-Identifier: MIT
/*
 * trace_fastpb.c - the fast path of the binary reader: Event messages of
 * schema/trace.proto decoded by hand, straight from the input into struct
 * mct_event, without protobuf-c's reflective unpacking and its arena.
 *
 * The fast path takes only what it is sure of: an Event of exactly one
 * member; in each message every field at most once, known to the schema,
 * with the wire type of its type, in minimal varints (a uint32 or enum that
 * fits, a bool of 0 or 1); every required field present; every value in
 * range and every id defined - what mapcount's writer, and any ordinary
 * protobuf encoder, produces.  For anything else, every input that is an
 * error included, mct_fastpb_event() returns MCT_FASTPB_SLOW having changed
 * nothing, and the caller decodes the same bytes with protobuf-c: results
 * and error messages stay those of the protobuf-c path by construction
 * (tests/test_fastpb.c and tests/fuzz/fuzz_trace.c compare the two).
 * MCT_NO_FASTPB=1 in the environment turns the fast path off.
 */
#include "trace_impl.h"
#include "trace.pb-c.h"

#include <stdlib.h>
#include <string.h>

/* The Event members are numbered as enum mct_kind, after Name. */
_Static_assert(
	MCT__EVENT__KIND_NAME == 1 && MCT__EVENT__KIND_MM == 2 &&
		MCT__EVENT__KIND_FORK == 3 && MCT__EVENT__KIND_EXIT == 4 &&
		MCT__EVENT__KIND_ALLOC == 5 && MCT__EVENT__KIND_FREE == 6 &&
		MCT__EVENT__KIND_MAP == 7 && MCT__EVENT__KIND_UNMAP == 8 &&
		MCT__EVENT__KIND_REF == 9 && MCT__EVENT__KIND_PIN == 10 &&
		MCT__EVENT__KIND_UNPIN == 11 && MCT__EVENT__KIND_COW == 12 &&
		MCT__EVENT__KIND_QUERY == 13 && MCT__EVENT__KIND_STAT == 14 &&
		MCT__EVENT__KIND_OBSERVE == 15 && MCT__EVENT__KIND_MMID == 16,
	"Event field numbers");

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

bool mct_fastpb_enabled(void)
{
	const char *no = getenv("MCT_NO_FASTPB");

	return !no || !*no || !strcmp(no, "0");
}

/* ---- Wire format ---- */

/*
 * A minimally encoded varint of at most 64 bits from [*pp, end): true with
 * *pp past it, or false (truncated, over-long or with a redundant trailing
 * 0x80 group) with *pp unchanged.
 */
static bool varint_slow(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t x = 0;
	unsigned shift;

	for (shift = 0; shift < 64 && p < end; shift += 7) {
		uint8_t b = *p++;

		x |= (uint64_t)(b & 0x7f) << shift;
		if (b < 0x80) {
			if ((!b && shift) || (shift == 63 && b > 1))
				return false;
			*v = x;
			*pp = p;
			return true;
		}
	}
	return false;
}

static inline bool varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;

	/* 1 to 3 bytes inline: lengths, most ids and page numbers */
	if (likely(end - p >= 3)) {
		if (p[0] < 0x80) {
			*v = p[0];
			*pp = p + 1;
			return true;
		}
		if (p[1] < 0x80) {
			if (!p[1])
				return false;
			*v = (p[0] & 0x7f) | (uint64_t)p[1] << 7;
			*pp = p + 2;
			return true;
		}
		if (p[2] < 0x80) {
			if (!p[2])
				return false;
			*v = (p[0] & 0x7f) | (uint64_t)(p[1] & 0x7f) << 7 |
			     (uint64_t)p[2] << 14;
			*pp = p + 3;
			return true;
		}
	}
	return varint_slow(pp, end, v);
}

/* Field types, as protobuf-c unpacks them. */
enum ftype {
	T_NONE, /* no such field */
	T_U32,	/* uint32: a varint below 2^32 */
	T_ENUM, /* enum (int32): a varint below 2^31 */
	T_U64,	/* uint64, sint64: any varint */
	T_BOOL, /* bool: 0 or 1 */
	T_LEN,	/* string, message: length-delimited */
};

#define MAX_FIELD 6

/* A message: its fields 1..nr and which of them are required. */
struct spec {
	uint8_t nr;
	uint8_t required; /* bit f: field f */
	uint8_t type[MAX_FIELD + 1];
};

#define F(n) (1u << (n))

static const struct spec name_spec = { 3,
				       F(1) | F(2) | F(3),
				       { 0, T_ENUM, T_U32, T_LEN } };
static const struct spec mm_spec = { 3, F(1), { 0, T_U32, T_U32, T_LEN } };
static const struct spec fork_spec = { 2, F(1) | F(2), { 0, T_U32, T_U32 } };
static const struct spec one_spec = { 1, F(1), { 0, T_U32 } }; /* mm or folio */
static const struct spec alloc_spec = { 4,
					F(1) | F(2),
					{ 0, T_U32, T_U32, T_ENUM, T_U64 } };
static const struct spec rmap_spec = {
	6, F(1) | F(2), { 0, T_U32, T_U32, T_LEN, T_ENUM, T_U32, T_BOOL }
};
static const struct spec range_spec = { 2, F(1) | F(2), { 0, T_U64, T_U64 } };
static const struct spec ref_spec = { 2, F(1) | F(2), { 0, T_U32, T_U64 } };
static const struct spec cow_spec = { 4,
				      F(1) | F(2) | F(3),
				      { 0, T_U32, T_U32, T_U64, T_ENUM } };
static const struct spec query_spec = { 2, F(1), { 0, T_U32, T_ENUM } };
static const struct spec stat_spec = { 4,
				       F(1),
				       { 0, T_U32, T_U64, T_U64, T_U64 } };
static const struct spec observe_spec = { 3,
					  F(1) | F(2) | F(3),
					  { 0, T_U32, T_U64, T_U64 } };
static const struct spec mmid_spec = {
	5, F(1) | F(2) | F(3), { 0, T_U32, T_U64, T_BOOL, T_LEN, T_LEN }
};
static const struct spec slot_spec = { 2, F(2), { 0, T_U32, T_U64 } };

/* A parsed message: v[f] (T_LEN: the length, p[f] the bytes) when seen. */
struct msg {
	unsigned seen; /* bit f: field f */
	uint64_t v[MAX_FIELD + 1];
	const uint8_t *p[MAX_FIELD + 1];
};

static inline bool has(const struct msg *m, unsigned f)
{
	return m->seen & F(f);
}

/* Field f's value, 0 when absent. */
static inline uint64_t val(const struct msg *m, unsigned f)
{
	return has(m, f) ? m->v[f] : 0;
}

/*
 * The message [p, end) as s says, or false when not sure of it.  Inlined
 * into each caller, which passes a constant s.
 */
static inline __attribute__((always_inline)) bool
parse(const struct spec *s, const uint8_t *p, const uint8_t *end, struct msg *m)
{
	unsigned seen = 0;

	while (p < end) {
		unsigned key = *p++, f = key >> 3, t;
		uint64_t v;

		/* fields 1..15: one-byte keys */
		if (unlikely(key >= 0x80 || f > s->nr || (seen & F(f))))
			return false;
		t = s->type[f];
		if (t == T_LEN) {
			if (unlikely((key & 7) != 2 || !varint(&p, end, &v) ||
				     v > (uint64_t)(end - p)))
				return false;
			m->p[f] = p;
			p += v;
		} else {
			if (unlikely((key & 7) != 0 || t == T_NONE ||
				     !varint(&p, end, &v)))
				return false;
			if (unlikely((t == T_U32 && v > UINT32_MAX) ||
				     (t == T_ENUM && v > INT32_MAX) ||
				     (t == T_BOOL && v > 1)))
				return false;
		}
		m->v[f] = v;
		seen |= F(f);
	}
	m->seen = seen;
	return (seen & s->required) == s->required;
}

/* ---- Events ---- */

static inline bool defined(const struct mct_reader *r, enum mct_space sp,
			   uint64_t id)
{
	return id < r->names[sp].nr;
}

static int64_t unzigzag(uint64_t v)
{
	return v & 1 ? -(int64_t)(v >> 1) - 1 : (int64_t)(v >> 1);
}

/* Name: defines the next id of its namespace. */
static bool name(struct mct_reader *r, const struct msg *m)
{
	const char *s = (const char *)m->p[3];
	size_t len = m->v[3];
	struct mct_strtab *t;
	uint32_t old;

	if (m->v[1] >= MCT_NR_SPACES)
		return false;
	t = &r->names[m->v[1]];
	return m->v[2] == t->nr && mct_ident_ok(s, len) &&
	       mct_strtab_add_new(t, s, len, &old) != MCT_NO_ID;
}

/*
 * The event of each kind from m: true with ev filled in, or false, having
 * changed nothing, when the protobuf-c path should decide.
 */
static bool mm(const struct mct_reader *r, const struct msg *m,
	       struct mct_event *ev, char *comm)
{
	size_t len = val(m, 3);

	if (!defined(r, MCT_SPACE_MM, m->v[1]) ||
	    (has(m, 2) && !defined(r, MCT_SPACE_MM, m->v[2])))
		return false;
	/* protobuf-c's string ends at a NUL: leave those to it */
	if (has(m, 3) && (len > MCT_STR_MAX || memchr(m->p[3], '\n', len) ||
			  memchr(m->p[3], '\0', len)))
		return false;
	ev->mm = m->v[1];
	if (has(m, 2))
		ev->mm2 = m->v[2];
	if (has(m, 3)) {
		memcpy(comm, m->p[3], len);
		comm[len] = '\0';
		ev->comm = comm;
	}
	return true;
}

static bool alloc(const struct mct_reader *r, const struct msg *m,
		  struct mct_event *ev)
{
	if (!defined(r, MCT_SPACE_FOLIO, m->v[1]) || m->v[2] > MCT_MAX_ORDER ||
	    val(m, 3) >= MCT_NR_FTYPES)
		return false;
	ev->folio = m->v[1];
	ev->order = m->v[2];
	ev->type = val(m, 3); /* MCT_ANON when absent */
	ev->pfn = val(m, 4);
	ev->flags |= (has(m, 3) ? MCT_F_TYPE : 0) | (has(m, 4) ? MCT_F_PFN : 0);
	return true;
}

static bool rmap(const struct mct_reader *r, const struct msg *m, bool unmap,
		 struct mct_event *ev)
{
	struct msg range;

	if (!defined(r, MCT_SPACE_MM, m->v[1]) ||
	    !defined(r, MCT_SPACE_FOLIO, m->v[2]) ||
	    (has(m, 5) && !defined(r, MCT_SPACE_VMA, m->v[5])) ||
	    val(m, 4) >= MCT_NR_LEVELS || (val(m, 6) && unmap))
		return false;
	if (has(m, 3) &&
	    (!parse(&range_spec, m->p[3], m->p[3] + m->v[3], &range) ||
	     !range.v[2] || range.v[1] + (range.v[2] - 1) < range.v[1]))
		return false;
	if (has(m, 3)) {
		ev->first = range.v[1];
		ev->nr = range.v[2];
	} else {
		ev->flags |= MCT_F_NO_RANGE;
	}
	ev->mm = m->v[1];
	ev->folio = m->v[2];
	if (has(m, 5))
		ev->vma = m->v[5];
	ev->level = val(m, 4); /* MCT_PTE when absent */
	ev->flags |=
		(has(m, 4) ? MCT_F_LEVEL : 0) | (val(m, 6) ? MCT_F_EXCL : 0);
	return true;
}

/* cow and query: expect, when present, is 1 or 2: base or base + 1. */
static bool expect_ok(const struct msg *m, unsigned f)
{
	return !has(m, f) || m->v[f] == 1 || m->v[f] == 2;
}

static uint8_t expect(const struct msg *m, unsigned f, enum mct_expect base)
{
	return has(m, f) ? base + m->v[f] - 1 : MCT_EXPECT_NONE;
}

static bool mmid(const struct mct_reader *r, const struct msg *m,
		 struct mct_event *ev)
{
	struct msg slot[2];
	int i;

	if (!defined(r, MCT_SPACE_FOLIO, m->v[1]))
		return false;
	for (i = 0; i < 2; i++)
		if (has(m, 4 + i) &&
		    (!parse(&slot_spec, m->p[4 + i], m->p[4 + i] + m->v[4 + i],
			    &slot[i]) ||
		     (has(&slot[i], 1) &&
		      !defined(r, MCT_SPACE_MM, slot[i].v[1]))))
			return false;
	ev->folio = m->v[1];
	ev->value = m->v[2];
	ev->shared = m->v[3];
	for (i = 0; i < 2; i++) {
		if (!has(m, 4 + i))
			continue;
		ev->slot_count[i] = slot[i].v[2];
		ev->slot[i] = has(&slot[i], 1) ? MCT_MMID_MM : MCT_MMID_OTHER;
		if (has(&slot[i], 1))
			*(i ? &ev->mm2 : &ev->mm) = slot[i].v[1];
	}
	return true;
}

static bool event(const struct mct_reader *r, unsigned field,
		  const struct msg *m, struct mct_event *ev, char *comm)
{
	switch (field) {
	case MCT__EVENT__KIND_MM:
		return mm(r, m, ev, comm);
	case MCT__EVENT__KIND_FORK:
		if (!defined(r, MCT_SPACE_MM, m->v[1]) ||
		    !defined(r, MCT_SPACE_MM, m->v[2]))
			return false;
		ev->mm = m->v[1];
		ev->mm2 = m->v[2];
		return true;
	case MCT__EVENT__KIND_EXIT:
		if (!defined(r, MCT_SPACE_MM, m->v[1]))
			return false;
		ev->mm = m->v[1];
		return true;
	case MCT__EVENT__KIND_ALLOC:
		return alloc(r, m, ev);
	case MCT__EVENT__KIND_FREE:
	case MCT__EVENT__KIND_PIN:
	case MCT__EVENT__KIND_UNPIN:
		if (!defined(r, MCT_SPACE_FOLIO, m->v[1]))
			return false;
		ev->folio = m->v[1];
		return true;
	case MCT__EVENT__KIND_MAP:
	case MCT__EVENT__KIND_UNMAP:
		return rmap(r, m, field == MCT__EVENT__KIND_UNMAP, ev);
	case MCT__EVENT__KIND_REF:
		if (!defined(r, MCT_SPACE_FOLIO, m->v[1]) || !m->v[2])
			return false;
		ev->folio = m->v[1];
		ev->delta = unzigzag(m->v[2]);
		return true;
	case MCT__EVENT__KIND_COW:
		if (!defined(r, MCT_SPACE_MM, m->v[1]) ||
		    !defined(r, MCT_SPACE_FOLIO, m->v[2]) || !expect_ok(m, 4))
			return false;
		ev->mm = m->v[1];
		ev->folio = m->v[2];
		ev->first = m->v[3];
		ev->expect = expect(m, 4, MCT_EXPECT_REUSE);
		return true;
	case MCT__EVENT__KIND_QUERY:
		if (!defined(r, MCT_SPACE_FOLIO, m->v[1]) || !expect_ok(m, 2))
			return false;
		ev->folio = m->v[1];
		ev->expect = expect(m, 2, MCT_EXPECT_SHARED);
		return true;
	case MCT__EVENT__KIND_STAT:
		if (!defined(r, MCT_SPACE_MM, m->v[1]))
			return false;
		ev->mm = m->v[1];
		ev->rss_kb = val(m, 2);
		ev->pss_kb = val(m, 3);
		ev->uss_kb = val(m, 4);
		ev->flags |= (has(m, 2) ? MCT_F_RSS : 0) |
			     (has(m, 3) ? MCT_F_PSS : 0) |
			     (has(m, 4) ? MCT_F_USS : 0);
		return true;
	case MCT__EVENT__KIND_OBSERVE:
		if (!defined(r, MCT_SPACE_FOLIO, m->v[1]))
			return false;
		ev->folio = m->v[1];
		ev->first = m->v[2];
		ev->value = m->v[3];
		return true;
	case MCT__EVENT__KIND_MMID:
		return mmid(r, m, ev);
	}
	return false;
}

/* The member of the Event, by field number, with parse() made for each. */
static bool parse_event(unsigned field, const uint8_t *p, const uint8_t *end,
			struct msg *m)
{
	switch (field) {
	case MCT__EVENT__KIND_NAME:
		return parse(&name_spec, p, end, m);
	case MCT__EVENT__KIND_MM:
		return parse(&mm_spec, p, end, m);
	case MCT__EVENT__KIND_FORK:
		return parse(&fork_spec, p, end, m);
	case MCT__EVENT__KIND_EXIT:
	case MCT__EVENT__KIND_FREE:
	case MCT__EVENT__KIND_PIN:
	case MCT__EVENT__KIND_UNPIN:
		return parse(&one_spec, p, end, m);
	case MCT__EVENT__KIND_ALLOC:
		return parse(&alloc_spec, p, end, m);
	case MCT__EVENT__KIND_MAP:
	case MCT__EVENT__KIND_UNMAP:
		return parse(&rmap_spec, p, end, m);
	case MCT__EVENT__KIND_REF:
		return parse(&ref_spec, p, end, m);
	case MCT__EVENT__KIND_COW:
		return parse(&cow_spec, p, end, m);
	case MCT__EVENT__KIND_QUERY:
		return parse(&query_spec, p, end, m);
	case MCT__EVENT__KIND_STAT:
		return parse(&stat_spec, p, end, m);
	case MCT__EVENT__KIND_OBSERVE:
		return parse(&observe_spec, p, end, m);
	case MCT__EVENT__KIND_MMID:
		return parse(&mmid_spec, p, end, m);
	}
	return false;
}

int mct_fastpb_event(struct mct_reader *r, const uint8_t *p, size_t len,
		     struct mct_event *ev, char *comm)
{
	const uint8_t *end = p + len;
	uint64_t key, n;
	unsigned field;
	struct msg m;

	/* exactly one member of the oneof, filling the event */
	if (!varint(&p, end, &key) || (key & 7) != 2 || !varint(&p, end, &n) ||
	    n != (uint64_t)(end - p))
		return MCT_FASTPB_SLOW;
	if ((key >> 3) < MCT__EVENT__KIND_NAME ||
	    (key >> 3) > MCT__EVENT__KIND_MMID)
		return MCT_FASTPB_SLOW;
	field = key >> 3;
	if (!parse_event(field, p, end, &m))
		return MCT_FASTPB_SLOW;
	if (field == MCT__EVENT__KIND_NAME)
		return name(r, &m) ? MCT_FASTPB_NAME : MCT_FASTPB_SLOW;
	if (!event(r, field, &m, ev, comm))
		return MCT_FASTPB_SLOW;
	ev->kind = field - 1;
	return MCT_FASTPB_EVENT;
}
