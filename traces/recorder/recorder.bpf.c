// SPDX-License-Identifier: GPL-2.0
/*
 * recorder.bpf.c - the BPF half of `mapcount record`.
 *
 * A ring buffer of what happens between ptrace stops, for the traced
 * process tree only (the `traced` map of thread group ids, which fork
 * extends by itself):
 *   - write faults (exceptions:page_fault_user, and page_fault_kernel on
 *     user addresses), with the error code;
 *   - movable page allocations (kmem:mm_page_alloc): the struct page
 *     pointer and order, which become a PFN once the vmemmap base is known;
 *   - memory syscalls returning (raw_syscalls:sys_exit);
 *   - fork and exec (sched), with the kernel's MM ID of the new MM.
 * Every record carries current->mm->mm_id.
 *
 * And a program the loader runs on demand (BPF_PROG_TEST_RUN): read_folios
 * reads the mapcount state of up to REC_MAX_PFNS folios by head PFN:
 * refcount, large/entire mapcounts, _nr_pages_mapped, the two MM_ID slots
 * and the maybe-shared bit.
 *
 * Only tp_btf and raw_tp programs: no tracefs, no kprobes (neither is
 * available on the machines this runs on).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "rec_bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* the recorder's own tgid while it calibrates the vmemmap base */
volatile __u32 calib_tgid;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} traced SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} dropped SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rec_folio_req);
} folio_req SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rec_folio_out);
} folio_out SEC(".maps");

static __always_inline bool is_traced(__u32 tgid)
{
	return bpf_map_lookup_elem(&traced, &tgid) != NULL;
}

static __always_inline __u32 mm_id_of(struct task_struct *t)
{
	struct mm_struct *mm = BPF_CORE_READ(t, mm);

	if (!mm)
		return 0;
	return BPF_CORE_READ(mm, mm_id);
}

static __always_inline void emit(__u32 kind, __u64 addr, __u64 arg, __u32 mm_id)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct rec_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *d = bpf_map_lookup_elem(&dropped, &zero);

		if (d)
			__sync_fetch_and_add(d, 1);
		return;
	}
	e->ts = bpf_ktime_get_ns();
	e->addr = addr;
	e->arg = arg;
	e->kind = kind;
	e->tid = (__u32)id;
	e->tgid = id >> 32;
	e->mm_id = mm_id;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline __u32 current_mm_id(void)
{
	return mm_id_of(bpf_get_current_task_btf());
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(on_fault, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	if (!(error_code & REC_PF_WRITE))
		return 0;
	if (!is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	emit(REC_EV_FAULT, address, error_code, current_mm_id());
	return 0;
}

/*
 * The kernel's own writes to user memory (copy_to_user(), put_user() of
 * CLONE_CHILD_SETTID in a new child, read() into a buffer, ...) take the
 * same copy-on-write path: a write fault with the user bit clear.
 */
SEC("tp_btf/page_fault_kernel")
int BPF_PROG(on_kfault, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	if (!(error_code & REC_PF_WRITE) || address >= (1ull << 47))
		return 0;
	if (!is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	emit(REC_EV_FAULT, address, error_code, current_mm_id());
	return 0;
}

SEC("tp_btf/mm_page_alloc")
int BPF_PROG(on_alloc, struct page *page, unsigned int order, gfp_t gfp,
	     int migratetype)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (calib_tgid && tgid == calib_tgid) {
		emit(REC_EV_CALIB, (__u64)page, order, 0);
		return 0;
	}
	if (migratetype != 1 /* MIGRATE_MOVABLE */ || !is_traced(tgid))
		return 0;
	emit(REC_EV_ALLOC, (__u64)page, order, current_mm_id());
	return 0;
}

/* x86-64 numbers of the syscalls that change mappings */
static __always_inline bool memory_syscall(long nr)
{
	switch (nr) {
	case 9:	  /* mmap */
	case 10:  /* mprotect */
	case 11:  /* munmap */
	case 12:  /* brk */
	case 25:  /* mremap */
	case 28:  /* madvise */
	case 67:  /* shmdt */
	case 440: /* process_madvise */
		return true;
	default:
		return false;
	}
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = BPF_CORE_READ(regs, orig_ax);

	if (!memory_syscall(nr) || !is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	emit(REC_EV_SYSEXIT, (__u64)ret, nr, current_mm_id());
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u32 one = 1;

	if (!is_traced(ptgid))
		return 0;
	if (ctgid != ptgid)
		bpf_map_update_elem(&traced, &ctgid, &one, BPF_ANY);
	emit(REC_EV_FORK, 0, BPF_CORE_READ(child, pid), mm_id_of(child));
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	if (!is_traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	emit(REC_EV_EXEC, 0, old_pid, mm_id_of(p));
	return 0;
}

/* ---- the folio reader, run with BPF_PROG_TEST_RUN ---- */

struct read_ctx {
	struct rec_folio_req *req;
	struct rec_folio_out *out;
};

static long read_one(__u32 i, void *data)
{
	struct read_ctx *c = data;
	struct rec_folio_info *o;
	struct folio *f;
	__u64 pfn, flags, head;

	if (i >= REC_MAX_PFNS || i >= c->req->nr)
		return 1;
	barrier_var(i); /* keep the mask: the verifier needs it */
	i &= REC_MAX_PFNS - 1;
	o = &c->out->info[i];
	pfn = c->req->pfn[i];
	f = (struct folio *)(c->req->vmemmap +
			     pfn * bpf_core_type_size(struct page));
	__builtin_memset(o, 0, sizeof(*o));
	o->pfn = pfn;
	if (bpf_core_read(&flags, sizeof(flags), &f->flags))
		return 0;
	o->flags = flags;
	if (bpf_core_read(&o->refcount, sizeof(o->refcount),
			  &f->_refcount.counter))
		return 0;
	head = 1ull << bpf_core_enum_value(enum pageflags, PG_head);
	if (!(flags & head)) {
		o->order = 0;
		o->large_mapcount = -1;
		o->entire_mapcount = -1;
		o->mm_id_mapcount[0] = o->mm_id_mapcount[1] = -1;
		o->ok = 1;
		return 0;
	}
	{
		unsigned long f1 = 0;

		bpf_core_read(&f1, sizeof(f1), &f->_flags_1);
		o->order = f1 & 0xff;
	}
	bpf_core_read(&o->large_mapcount, sizeof(int),
		      &f->_large_mapcount.counter);
	bpf_core_read(&o->entire_mapcount, sizeof(int),
		      &f->_entire_mapcount.counter);
	bpf_core_read(&o->nr_pages_mapped, sizeof(int),
		      &f->_nr_pages_mapped.counter);
	bpf_core_read(&o->pincount, sizeof(int), &f->_pincount.counter);
	bpf_core_read(&o->mm_id_mapcount[0], sizeof(int),
		      &f->_mm_id_mapcount[0]);
	bpf_core_read(&o->mm_id_mapcount[1], sizeof(int),
		      &f->_mm_id_mapcount[1]);
	bpf_core_read(&o->mm_ids, sizeof(__u64), &f->_mm_ids);
	o->ok = 1;
	return 0;
}

SEC("raw_tp")
int read_folios(void *ctx)
{
	__u32 zero = 0;
	struct read_ctx c;

	c.req = bpf_map_lookup_elem(&folio_req, &zero);
	c.out = bpf_map_lookup_elem(&folio_out, &zero);
	if (!c.req || !c.out)
		return 1;
	c.out->page_size = bpf_core_type_size(struct page);
	c.out->nr = c.req->nr < REC_MAX_PFNS ? c.req->nr : REC_MAX_PFNS;
	bpf_loop(REC_MAX_PFNS, read_one, &c, 0);
	return 0;
}
