// SPDX-License-Identifier: MIT
/*
 * bpf.c - loads recorder.bpf.c (through its generated skeleton), streams
 * its ring buffer and runs its folio reader.
 *
 * The folio reader needs the address of the struct page of PFN 0 (the
 * vmemmap base, randomized at boot).  No tracepoint gives a struct page
 * pointer and its PFN together without tracefs, so the recorder finds it
 * once: it allocates a few pages of its own while mm_page_alloc reports
 * the struct page pointers of its allocations, reads the pages' PFNs from
 * its own pagemap, and takes the base that explains them all.
 */
#include "bpf.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "recorder.skel.h"

#define CALIB_PAGES 8
#define CALIB_PTRS  4096

struct rec_bpf {
	struct recorder *skel;
	struct ring_buffer *rb;
	rec_bpf_fn fn;
	void *ctx;
	uint64_t vmemmap;
	uint32_t page_size; /* sizeof(struct page) */
	/* calibration */
	bool calibrating;
	uint64_t *ptrs;
	size_t nr_ptrs;
};

static int on_sample(void *ctx, void *data, size_t size)
{
	struct rec_bpf *b = ctx;
	const struct rec_event *e = data;

	if (size < sizeof(*e))
		return 0;
	if (e->kind == REC_EV_CALIB) {
		if (b->calibrating && e->arg == 0 && b->nr_ptrs < CALIB_PTRS)
			b->ptrs[b->nr_ptrs++] = e->addr;
		return 0;
	}
	if (b->fn)
		b->fn(b->ctx, e);
	return 0;
}

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && getenv("MAPCOUNT_RECORD_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

int rec_bpf_available(char *err, size_t errlen)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		snprintf(
			err, errlen,
			"this kernel has no BTF (/sys/kernel/btf/vmlinux: %s): "
			"the recorder needs CONFIG_DEBUG_INFO_BTF=y",
			strerror(errno));
		return -1;
	}
	return 0;
}

static int self_pfn(const void *addr, uint64_t *pfn)
{
	uint64_t ent;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, &ent, sizeof(ent),
		  (off_t)((uintptr_t)addr / 4096 * sizeof(ent)));
	close(fd);
	if (n != sizeof(ent) || !(ent >> 63))
		return -1;
	*pfn = ent & ((1ull << 55) - 1);
	return *pfn ? 0 : -1;
}

/* Find the vmemmap base: see the top of the file. */
static int calibrate(struct rec_bpf *b, char *err, size_t errlen)
{
	uint64_t pfns[CALIB_PAGES], size = b->page_size;
	char *mem;
	int ret = -1;

	b->ptrs = calloc(CALIB_PTRS, sizeof(*b->ptrs));
	mem = mmap(NULL, CALIB_PAGES * 4096, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!b->ptrs || mem == MAP_FAILED) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	madvise(mem, CALIB_PAGES * 4096, MADV_NOHUGEPAGE);
	b->calibrating = true;
	b->skel->bss->calib_tgid = (__u32)getpid();
	for (int i = 0; i < CALIB_PAGES; i++)
		((volatile char *)mem)[i * 4096] = 1;
	b->skel->bss->calib_tgid = 0;
	ring_buffer__consume(b->rb);
	b->calibrating = false;
	for (int i = 0; i < CALIB_PAGES; i++)
		if (self_pfn(mem + i * 4096, &pfns[i])) {
			snprintf(err, errlen,
				 "cannot read the recorder's own PFNs from "
				 "/proc/self/pagemap");
			goto out;
		}
	for (size_t p = 0; p < b->nr_ptrs && ret; p++) {
		uint64_t base = b->ptrs[p] - pfns[0] * size;
		int found = 0;

		for (int i = 0; i < CALIB_PAGES; i++)
			for (size_t q = 0; q < b->nr_ptrs; q++)
				if (b->ptrs[q] == base + pfns[i] * size) {
					found++;
					break;
				}
		if (found == CALIB_PAGES) {
			b->vmemmap = base;
			ret = 0;
		}
	}
	if (ret)
		snprintf(err, errlen,
			 "cannot find the vmemmap base (%zu page allocations "
			 "seen)",
			 b->nr_ptrs);
out:
	if (mem != MAP_FAILED)
		munmap(mem, CALIB_PAGES * 4096);
	free(b->ptrs);
	b->ptrs = NULL;
	return ret;
}

struct rec_bpf *rec_bpf_open(rec_bpf_fn fn, void *ctx, char *err, size_t errlen)
{
	struct rec_bpf *b;
	struct rec_folio_info probe;
	uint64_t zero_pfn = 0;
	int r;

	if (rec_bpf_available(err, errlen))
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->fn = fn;
	b->ctx = ctx;
	libbpf_set_print(silent);
	b->skel = recorder__open();
	if (!b->skel) {
		snprintf(err, errlen, "cannot open the BPF object: %s",
			 strerror(errno));
		goto fail;
	}
	r = recorder__load(b->skel);
	if (r) {
		snprintf(err, errlen,
			 "cannot load the BPF programs: %s (set "
			 "MAPCOUNT_RECORD_DEBUG=1 for the verifier's log)",
			 strerror(-r));
		goto fail;
	}
	r = recorder__attach(b->skel);
	if (r) {
		snprintf(err, errlen, "cannot attach the BPF programs: %s",
			 strerror(-r));
		goto fail;
	}
	b->rb = ring_buffer__new(bpf_map__fd(b->skel->maps.events), on_sample,
				 b, NULL);
	if (!b->rb) {
		snprintf(err, errlen, "cannot open the BPF ring buffer: %s",
			 strerror(errno));
		goto fail;
	}
	/* sizeof(struct page), from the reader itself (PFN 0 is not read:
	 * the base is still 0) */
	b->page_size = 0;
	if (rec_bpf_read_folios(b, &zero_pfn, 1, &probe) || !b->page_size) {
		snprintf(err, errlen, "cannot run the BPF folio reader: %s",
			 strerror(errno));
		goto fail;
	}
	if (calibrate(b, err, errlen))
		goto fail;
	return b;
fail:
	rec_bpf_close(b);
	return NULL;
}

void rec_bpf_close(struct rec_bpf *b)
{
	if (!b)
		return;
	ring_buffer__free(b->rb);
	recorder__destroy(b->skel);
	free(b->ptrs);
	free(b);
}

int rec_bpf_trace(struct rec_bpf *b, pid_t tgid)
{
	__u32 k = (__u32)tgid, one = 1;

	return bpf_map__update_elem(b->skel->maps.traced, &k, sizeof(k), &one,
				    sizeof(one), BPF_ANY);
}

void rec_bpf_untrace(struct rec_bpf *b, pid_t tgid)
{
	__u32 k = (__u32)tgid;

	bpf_map__delete_elem(b->skel->maps.traced, &k, sizeof(k), 0);
}

int rec_bpf_fd(const struct rec_bpf *b)
{
	return ring_buffer__epoll_fd(b->rb);
}

int rec_bpf_consume(struct rec_bpf *b)
{
	return ring_buffer__consume(b->rb);
}

uint64_t rec_bpf_dropped(const struct rec_bpf *b)
{
	__u32 zero = 0;
	__u64 v = 0;

	bpf_map__lookup_elem(b->skel->maps.dropped, &zero, sizeof(zero), &v,
			     sizeof(v), 0);
	return v;
}

uint64_t rec_bpf_page_pfn(const struct rec_bpf *b, uint64_t page)
{
	if (!b->vmemmap || page < b->vmemmap)
		return UINT64_MAX;
	return (page - b->vmemmap) / b->page_size;
}

static int read_batch(struct rec_bpf *b, const uint64_t *pfns, size_t nr,
		      struct rec_folio_info *out)
{
	static struct rec_folio_req req;
	static struct rec_folio_out res;
	LIBBPF_OPTS(bpf_test_run_opts, opts);
	__u32 zero = 0;
	int r;

	memset(&req, 0, sizeof(req));
	req.vmemmap = b->vmemmap;
	req.nr = (__u32)nr;
	memcpy(req.pfn, pfns, nr * sizeof(*pfns));
	if (bpf_map__update_elem(b->skel->maps.folio_req, &zero, sizeof(zero),
				 &req, sizeof(req), BPF_ANY))
		return -1;
	r = bpf_prog_test_run_opts(bpf_program__fd(b->skel->progs.read_folios),
				   &opts);
	if (r || opts.retval)
		return -1;
	if (bpf_map__lookup_elem(b->skel->maps.folio_out, &zero, sizeof(zero),
				 &res, sizeof(res), 0))
		return -1;
	if (res.page_size)
		b->page_size = res.page_size;
	memcpy(out, res.info, nr * sizeof(*out));
	return 0;
}

int rec_bpf_read_folios(struct rec_bpf *b, const uint64_t *pfns, size_t nr,
			struct rec_folio_info *out)
{
	for (size_t i = 0; i < nr; i += REC_MAX_PFNS) {
		size_t n = nr - i < REC_MAX_PFNS ? nr - i : REC_MAX_PFNS;

		if (read_batch(b, pfns + i, n, out + i))
			return -1;
	}
	return 0;
}
