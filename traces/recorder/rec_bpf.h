/* SPDX-License-Identifier: MIT */
/*
 * rec_bpf.h - what the recorder's BPF programs (recorder.bpf.c) and their
 * loader (bpf.c) share: the ring buffer records and the folio reader's
 * request and answer.  Plain fixed-width types only: this header is
 * compiled both by clang -target bpf (after vmlinux.h) and by the host
 * compiler (after <linux/types.h>).
 */
#ifndef MAPCOUNT_REC_BPF_H
#define MAPCOUNT_REC_BPF_H

/* rec_event.kind */
#define REC_EV_FAULT 1 /* a user write fault: addr, arg = error code */
#define REC_EV_ALLOC                                                         \
	2		 /* a movable page allocation: addr = struct page *, \
			  * arg = order */
#define REC_EV_SYSEXIT 3 /* a memory syscall returned: arg = nr, addr = ret */
#define REC_EV_FORK    4 /* arg = child pid, mm_id = the child's */
#define REC_EV_EXEC    5 /* mm_id = the new MM's */
#define REC_EV_CALIB                                      \
	6 /* the recorder's own allocation (calibration): \
	   * addr = struct page *, arg = order */

/* x86 page fault error code bits */
#define REC_PF_PROT  0x1
#define REC_PF_WRITE 0x2
#define REC_PF_USER  0x4

struct rec_event {
	__u64 ts;   /* bpf_ktime_get_ns() */
	__u64 addr; /* see kind */
	__u64 arg;
	__u32 kind;
	__u32 tid, tgid;
	__u32 mm_id; /* current->mm->mm_id (0 without an MM) */
};

/* The folio reader: up to REC_MAX_PFNS head PFNs in, their state out. */
#define REC_MAX_PFNS 256

struct rec_folio_req {
	__u64 vmemmap; /* address of the struct page of PFN 0 */
	__u32 nr;
	__u32 pad;
	__u64 pfn[REC_MAX_PFNS];
};

struct rec_folio_info {
	__u64 pfn;
	__u64 flags;  /* folio->flags */
	__u64 mm_ids; /* folio->_mm_ids: two IDs, bit 63 maybe-shared */
	__s32 refcount;
	__s32 large_mapcount; /* all biased (-1: none) */
	__s32 entire_mapcount;
	__s32 nr_pages_mapped;
	__s32 pincount;
	__s32 mm_id_mapcount[2];
	__u32 order;
	__u32 ok; /* 1 when the reads succeeded and the PFN is a head */
	__u32 pad;
};

struct rec_folio_out {
	__u32 page_size; /* sizeof(struct page) */
	__u32 nr;
	struct rec_folio_info info[REC_MAX_PFNS];
};

#endif /* MAPCOUNT_REC_BPF_H */
