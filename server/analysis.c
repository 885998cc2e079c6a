// SPDX-License-Identifier: MIT
/*
 * analysis.c - replays of stored traces: the report, a folio's history,
 * and the folios ranked by disagreement.
 *
 * All three stream the trace from its stored chunks through an engine.
 * Progress is published every PROGRESS_EVENTS events, when the stop flag
 * is also looked at.  The history and the ranking ask each policy, after
 * each event that touches a folio, what it would answer (maybe shared;
 * for a COW fault, reuse or copy: asked before the fault is applied, as
 * the kernel asks), and compare with exact, which is always policy 0.
 */
#include "analysis.h"

#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "mapcountd.h"
#include "policies.h"
#include "report.h"
#include "world.h"

#define PROGRESS_EVENTS 4096
#define HISTORY_MAX	100000 /* events listed in one history */
#define MAX_FIELDS	64

struct run {
	struct analysis *a;
	struct mct_reader *r;
	FILE *f;
	struct engine *e;
	uint64_t idx;
};

static int run_open(struct run *x, struct analysis *a,
		    const struct mc_policy *const *pols, uint32_t n)
{
	struct engine_opts eo = { .arch = a->arch,
				  .policies = pols,
				  .nr_policies = n,
				  .sample_shift = 4 };
	char err[512];

	memset(x, 0, sizeof(*x));
	x->a = a;
	x->r = chunks_reader(a->trace->id, a->trace->name, &x->f, err,
			     sizeof(err));
	if (!x->r) {
		a->status = 500;
		snprintf(a->err, sizeof(a->err), "stored trace: %s", err);
		return -1;
	}
	x->e = engine_new(mct_header(x->r), &eo, err, sizeof(err));
	if (!x->e) {
		a->status = 400;
		snprintf(a->err, sizeof(a->err), "%s", err);
		return -1;
	}
	return 0;
}

static void run_close(struct run *x)
{
	engine_free(x->e);
	mct_close(x->r);
	if (x->f)
		fclose(x->f);
}

/* Next event: 1, 0 at the end, -1 on error or when stopped. */
static int run_next(struct run *x, struct mct_event *ev)
{
	int ret;

	if (!(x->idx % PROGRESS_EVENTS)) {
		if (x->a->done)
			atomic_store(x->a->done, x->idx);
		if (x->a->stop && atomic_load(x->a->stop)) {
			x->a->status = 0;
			snprintf(x->a->err, sizeof(x->a->err), "interrupted");
			return -1;
		}
	}
	ret = mct_next(x->r, ev);
	if (ret < 0) {
		x->a->status = 500;
		snprintf(x->a->err, sizeof(x->a->err), "stored trace: %s",
			 mct_error(x->r));
	}
	return ret;
}

static int run_apply(struct run *x, const struct mct_event *ev)
{
	char err[512];

	if (engine_event(x->e, ev, err, sizeof(err))) {
		x->a->status = 500;
		snprintf(x->a->err, sizeof(x->a->err),
			 "stored trace: event %llu: %s: %s",
			 (unsigned long long)x->idx, mct_kind_name(ev->kind),
			 err);
		return -1;
	}
	x->idx++;
	return 0;
}

static void run_done(struct run *x)
{
	if (x->a->done)
		atomic_store(x->a->done, x->idx);
}

json_t *analysis_replay(struct analysis *a)
{
	struct run x;
	struct mct_event ev;
	json_t *tj, *pols = NULL;
	char file[64];
	int ret;

	if (run_open(&x, a, a->pols, a->npol))
		goto out;
	while ((ret = run_next(&x, &ev)) > 0)
		if (run_apply(&x, &ev))
			goto out;
	if (ret < 0)
		goto out;
	engine_finish(x.e);
	run_done(&x);
	snprintf(file, sizeof(file), "trace:%lld", (long long)a->trace->id);
	tj = report_trace_json(x.e, a->npol, a->trace->name, file, a->arch);
	pols = json_incref(json_object_get(tj, "policies"));
	json_decref(tj);
out:
	run_close(&x);
	return pols;
}

json_t *analysis_report_doc(const struct store_trace *t, uint32_t arch,
			    json_t *pols)
{
	char file[64];
	json_t *trace;

	snprintf(file, sizeof(file), "trace:%lld", (long long)t->id);
	trace = json_pack("{s:s,s:s,s:I,s:o}", "name", t->name, "file", file,
			  "events", (json_int_t)t->events, "policies", pols);
	return report_json(arch, json_pack("[o]", trace));
}

uint32_t analysis_with_exact(const struct mc_policy *const *in, uint32_t n,
			     const struct mc_policy **out)
{
	const struct mc_policy *exact = mc_policy_find("exact");
	uint32_t k = 0;

	out[k++] = exact;
	for (uint32_t i = 0; i < n && k < MC_MAX_POLICIES; i++) {
		bool dup = false;

		for (uint32_t j = 0; j < k; j++)
			dup |= out[j] == in[i];
		if (!dup)
			out[k++] = in[i];
	}
	return k;
}

/* ---- which folios an event touches ---- */

static bool names_folio(const struct mct_event *ev)
{
	switch (ev->kind) {
	case MCT_ALLOC:
	case MCT_FREE:
	case MCT_MAP:
	case MCT_UNMAP:
	case MCT_REF:
	case MCT_PIN:
	case MCT_UNPIN:
	case MCT_COW:
	case MCT_QUERY:
	case MCT_OBSERVE:
	case MCT_MMID:
		return ev->folio != MCT_NO_ID;
	default:
		return false;
	}
}

/* fork and exit change every folio the (parent or exiting) MM maps */
struct touched {
	uint32_t *list;
	uint32_t nr, cap;
	uint64_t *stamp; /* per folio: 1 + the event that listed it */
	uint32_t nr_stamp;
	uint64_t now;
	bool oom;
};

static void touch(struct touched *t, uint32_t folio)
{
	if (folio >= t->nr_stamp) {
		uint32_t n = t->nr_stamp ? t->nr_stamp : 1024;
		uint64_t *s;

		while (n <= folio)
			n *= 2;
		s = realloc(t->stamp, n * sizeof(*s));
		if (!s) {
			t->oom = true;
			return;
		}
		memset(s + t->nr_stamp, 0, (n - t->nr_stamp) * sizeof(*s));
		t->stamp = s;
		t->nr_stamp = n;
	}
	if (t->stamp[folio] == t->now)
		return;
	t->stamp[folio] = t->now;
	if (t->nr == t->cap) {
		uint32_t *l;

		t->cap = t->cap ? 2 * t->cap : 64;
		l = realloc(t->list, t->cap * sizeof(*l));
		if (!l) {
			t->oom = true;
			return;
		}
		t->list = l;
	}
	t->list[t->nr++] = folio;
}

static void touch_mapping(void *ctx, uint32_t folio, uint64_t first,
			  uint64_t nr, int level)
{
	touch(ctx, folio);
}

/* The folios ev touches, before it is applied. */
static void collect(struct touched *t, const struct world *w,
		    const struct mct_event *ev, uint64_t idx)
{
	t->nr = 0;
	t->now = idx + 1;
	if (names_folio(ev))
		touch(t, ev->folio);
	if ((ev->kind == MCT_FORK || ev->kind == MCT_EXIT) &&
	    ev->mm != MCT_NO_ID && ev->mm < world_nr_mms(w))
		world_for_each_mapping(w, ev->mm, touch_mapping, t);
}

/* Each policy's COW answer for ev, before it is applied. */
static void cow_answers(struct engine *e, uint32_t n,
			const struct mct_event *ev, int *ans)
{
	for (uint32_t i = 0; i < n; i++)
		ans[i] = engine_ask_cow(e, i, ev->mm, ev->folio, ev->first);
}

/* ---- a folio's history ---- */

struct text {
	FILE *f;
	char *buf;
	size_t len;
	struct mct_writer *w;
	struct mct_names names;
};

static json_t *event_text(struct text *t, const struct mct_event *ev)
{
	size_t n;

	fseeko(t->f, 0, SEEK_SET);
	if (mct_write_event(t->w, ev, &t->names) || fflush(t->f))
		return json_null();
	n = (size_t)ftello(t->f);
	while (n && (t->buf[n - 1] == '\n'))
		n--;
	return json_stringn(t->buf, n);
}

static json_t *policy_state(struct engine *e, uint32_t i,
			    const struct mc_policy *p, uint32_t folio,
			    const struct mct_event *ev, const int *ans)
{
	struct mc_folio f;
	const void *st = engine_folio_state(e, i, folio, &f);
	json_t *o = json_pack("{s:s}", "policy", p->name), *fields;
	struct mc_field out[MAX_FIELDS];
	uint32_t nf;

	if (ev->kind == MCT_COW && ev->folio == folio)
		json_object_set_new(o, "cow_reuse",
				    ans[i] < 0 ? json_null()
					       : json_boolean(ans[i] > 0));
	if (!st) {
		json_object_set_new(o, "maybe_shared", json_null());
		json_object_set_new(o, "fields", json_null());
		return o;
	}
	json_object_set_new(o, "maybe_shared",
			    json_boolean(p->maybe_shared(st, &f)));
	fields = json_object();
	nf = p->fields ? p->fields(st, &f, out, MAX_FIELDS) : 0;
	for (uint32_t k = 0; k < nf && k < MAX_FIELDS; k++)
		json_object_set_new(fields, out[k].name,
				    json_integer(out[k].value));
	json_object_set_new(o, "fields", fields);
	return o;
}

static const char *ftype(uint32_t t)
{
	return t < MCT_NR_FTYPES ? mct_ftype_name(t) : "?";
}

json_t *analysis_history(struct analysis *a)
{
	const struct mc_policy *pols[MC_MAX_POLICIES];
	uint32_t n = analysis_with_exact(a->pols, a->npol, pols);
	struct text t = { 0 };
	struct touched tc = { 0 };
	uint32_t target = MCT_NO_ID;
	json_t *events = json_array(), *doc = NULL;
	struct mct_event ev;
	bool truncated = false;
	int ans[MC_MAX_POLICIES];
	struct run x;
	int ret;

	if (run_open(&x, a, pols, n))
		goto out;
	t.f = open_memstream(&t.buf, &t.len);
	t.w = t.f ? mct_writer_stream(t.f, MCT_ENC_TEXT) : NULL;
	if (!t.w || mct_write_header(t.w, mct_header(x.r))) {
		a->status = 500;
		snprintf(a->err, sizeof(a->err), "out of memory");
		goto out;
	}
	t.names = mct_reader_names(x.r);
	while ((ret = run_next(&x, &ev)) > 0) {
		bool hit = false;
		json_t *states;

		if (target == MCT_NO_ID && names_folio(&ev) &&
		    !strcmp(mct_name(x.r, MCT_SPACE_FOLIO, ev.folio), a->folio))
			target = ev.folio;
		if (target != MCT_NO_ID) {
			collect(&tc, engine_world(x.e), &ev, x.idx);
			for (uint32_t k = 0; k < tc.nr && !hit; k++)
				hit = tc.list[k] == target;
		}
		if (hit && ev.kind == MCT_COW && ev.folio == target)
			cow_answers(x.e, n, &ev, ans);
		if (run_apply(&x, &ev))
			goto out;
		if (!hit)
			continue;
		if (json_array_size(events) >= HISTORY_MAX) {
			truncated = true;
			continue;
		}
		states = json_array();
		for (uint32_t i = 0; i < n; i++)
			json_array_append_new(states,
					      policy_state(x.e, i, pols[i],
							   target, &ev, ans));
		json_array_append_new(
			events,
			json_pack("{s:I,s:s,s:o,s:b,s:o}", "index",
				  (json_int_t)(x.idx - 1), "kind",
				  mct_kind_name(ev.kind), "event",
				  event_text(&t, &ev), "live",
				  world_folio(engine_world(x.e), target)->live,
				  "policies", states));
	}
	if (ret < 0)
		goto out;
	run_done(&x);
	if (target == MCT_NO_ID) {
		a->status = 404;
		snprintf(a->err, sizeof(a->err),
			 "no folio named '%s' in trace %lld", a->folio,
			 (long long)a->trace->id);
		goto out;
	}
	{
		const struct world_folio *wf =
			world_folio(engine_world(x.e), target);

		doc = json_pack("{s:I,s:s,s:s,s:i,s:s,s:i,s:o,s:I,s:b,s:o}",
				"trace", (json_int_t)a->trace->id, "trace_name",
				a->trace->name, "folio", a->folio, "order",
				(int)wf->order, "type", ftype(wf->type), "arch",
				(int)a->arch, "policies", json_pack("[]"),
				"count", (json_int_t)json_array_size(events),
				"truncated", truncated, "events",
				json_incref(events));
		for (uint32_t i = 0; i < n; i++)
			json_array_append_new(json_object_get(doc, "policies"),
					      json_string(pols[i]->name));
	}
out:
	json_decref(events);
	if (t.w)
		mct_writer_abort(t.w);
	if (t.f)
		fclose(t.f);
	free(t.buf);
	free(tc.list);
	free(tc.stamp);
	run_close(&x);
	return doc;
}

/* ---- folios ranked by disagreement ---- */

struct frank {
	uint32_t id;
	uint64_t events, disagreements, first, last;
};

static int by_disagreement(const void *pa, const void *pb)
{
	const struct frank *a = pa, *b = pb;

	if (a->disagreements != b->disagreements)
		return a->disagreements > b->disagreements ? -1 : 1;
	if (a->events != b->events)
		return a->events > b->events ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

json_t *analysis_folios(struct analysis *a, uint32_t limit)
{
	const struct mc_policy *pols[MC_MAX_POLICIES];
	uint32_t n = analysis_with_exact(a->pols, a->npol, pols);
	struct touched tc = { 0 };
	struct frank *fr = NULL;
	uint32_t *per = NULL, cap = 0;
	json_t *list, *doc = NULL;
	struct mct_event ev;
	int ans[MC_MAX_POLICIES];
	struct run x;
	int ret;

	if (run_open(&x, a, pols, n))
		goto out;
	while ((ret = run_next(&x, &ev)) > 0) {
		collect(&tc, engine_world(x.e), &ev, x.idx);
		if (ev.kind == MCT_COW)
			cow_answers(x.e, n, &ev, ans);
		if (run_apply(&x, &ev))
			goto out;
		if (tc.oom)
			goto oom;
		for (uint32_t k = 0; k < tc.nr; k++) {
			uint32_t id = tc.list[k];
			struct mc_folio f;
			const void *st0;
			bool any = false, ms0;

			if (id >= cap) {
				uint32_t nc = cap ? cap : 1024;
				void *p1, *p2;

				while (nc <= id)
					nc *= 2;
				p1 = realloc(fr, nc * sizeof(*fr));
				if (p1)
					fr = p1;
				p2 = realloc(per,
					     (size_t)nc * n * sizeof(*per));
				if (p2)
					per = p2;
				if (!p1 || !p2)
					goto oom;
				for (uint32_t i = cap; i < nc; i++)
					fr[i] = (struct frank){ .id = i };
				memset(per + (size_t)cap * n, 0,
				       (size_t)(nc - cap) * n * sizeof(*per));
				cap = nc;
			}
			if (!fr[id].events)
				fr[id].first = x.idx - 1;
			fr[id].events++;
			fr[id].last = x.idx - 1;
			st0 = engine_folio_state(x.e, 0, id, &f);
			if (!st0)
				continue;
			ms0 = pols[0]->maybe_shared(st0, &f);
			for (uint32_t i = 1; i < n; i++) {
				const void *st =
					engine_folio_state(x.e, i, id, &f);
				bool differ = st && pols[i]->maybe_shared(
							    st, &f) != ms0;

				if (ev.kind == MCT_COW && ev.folio == id)
					differ |= ans[i] != ans[0];
				if (differ) {
					per[(size_t)id * n + i]++;
					any = true;
				}
			}
			fr[id].disagreements += any;
		}
	}
	if (ret < 0)
		goto out;
	run_done(&x);
	{
		uint32_t nf = mct_nr_names(x.r, MCT_SPACE_FOLIO);
		uint32_t used = nf < cap ? nf : cap;
		struct frank *sorted = malloc((used ? used : 1) * sizeof(*fr));

		if (!sorted)
			goto oom;
		memcpy(sorted, fr, used * sizeof(*fr));
		qsort(sorted, used, sizeof(*sorted), by_disagreement);
		list = json_array();
		for (uint32_t k = 0; k < used && k < limit; k++) {
			const struct frank *r = &sorted[k];
			const struct world_folio *wf =
				world_folio(engine_world(x.e), r->id);
			json_t *bp = json_object();

			if (!r->events)
				continue;
			for (uint32_t i = 1; i < n; i++)
				json_object_set_new(
					bp, pols[i]->name,
					json_integer(
						per[(size_t)r->id * n + i]));
			json_array_append_new(
				list,
				json_pack("{s:s,s:i,s:s,s:I,s:I,s:I,s:I,s:o}",
					  "folio",
					  mct_name(x.r, MCT_SPACE_FOLIO, r->id),
					  "order", wf ? (int)wf->order : 0,
					  "type", wf ? ftype(wf->type) : "?",
					  "events", (json_int_t)r->events,
					  "disagreements",
					  (json_int_t)r->disagreements,
					  "first_event", (json_int_t)r->first,
					  "last_event", (json_int_t)r->last,
					  "by_policy", bp));
		}
		free(sorted);
		doc = json_pack("{s:I,s:s,s:i,s:o,s:s,s:I,s:o}", "trace",
				(json_int_t)a->trace->id, "trace_name",
				a->trace->name, "arch", (int)a->arch,
				"policies", json_array(), "sort",
				"disagreement", "total", (json_int_t)nf,
				"folios", list);
		for (uint32_t i = 0; i < n; i++)
			json_array_append_new(json_object_get(doc, "policies"),
					      json_string(pols[i]->name));
	}
	goto out;
oom:
	a->status = 500;
	snprintf(a->err, sizeof(a->err), "out of memory");
out:
	free(fr);
	free(per);
	free(tc.list);
	free(tc.stamp);
	run_close(&x);
	return doc;
}

/* ---- the report's shape ---- */

static json_t *shape(json_t *v)
{
	json_t *o, *x;
	const char *k;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		o = json_object();
		json_object_foreach(v, k, x)
			json_object_set_new(o, k, shape(x));
		return o;
	case JSON_ARRAY:
		return json_array_size(v)
			       ? json_pack("[o]", shape(json_array_get(v, 0)))
			       : json_array();
	case JSON_STRING:
		return json_string("s");
	case JSON_INTEGER:
	case JSON_REAL:
		return json_string("n");
	case JSON_NULL:
		return json_string("n"); /* nullable numbers */
	default:
		return json_string("b");
	}
}

int analysis_report_fingerprint(char out[17])
{
	static const char tiny[] = "mct 1\n"
				   "mm a\n"
				   "alloc f order=2 type=anon\n"
				   "map a f 0+4 excl\n"
				   "fork a b\n"
				   "cow b f 0\n"
				   "query f\n"
				   "stat a\n"
				   "observe f 0 mapcount=2\n";
	uint32_t n;
	const struct mc_policy *const *all = srv_policies(&n);
	struct engine_opts eo = { .arch = 64,
				  .policies = all,
				  .nr_policies = n < MC_MAX_POLICIES
							 ? n
							 : MC_MAX_POLICIES,
				  .no_timing = true };
	char err[512], hex[65];
	struct mct_reader *r =
		mct_open_mem(tiny, sizeof(tiny) - 1, "tiny", err, sizeof(err));
	struct engine *e =
		r ? engine_new(mct_header(r), &eo, err, sizeof(err)) : NULL;
	struct mct_event ev;
	json_t *doc, *sh;
	char *text;
	int ret = -1;

	if (!e)
		goto out;
	while (mct_next(r, &ev) > 0)
		if (engine_event(e, &ev, err, sizeof(err)))
			goto out;
	engine_finish(e);
	doc = report_json(64,
			  json_pack("[o]", report_trace_json(e, eo.nr_policies,
							     "t", "t", 64)));
	sh = shape(doc);
	/* the shape catches new or removed fields, the version the rest */
	json_object_set_new(sh, "report_version",
			    json_integer(MC_REPORT_VERSION));
	text = json_dumps(sh, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(sh);
	json_decref(doc);
	if (text && !sha256_hex(text, strlen(text), hex)) {
		memcpy(out, hex, 16);
		out[16] = 0;
		ret = 0;
	}
	free(text);
out:
	if (ret)
		srv_log("report fingerprint: %s", err);
	engine_free(e);
	mct_close(r);
	return ret;
}
