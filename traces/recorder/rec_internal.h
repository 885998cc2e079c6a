/* SPDX-License-Identifier: MIT */
/*
 * rec_internal.h - what the recorder's parts share: the model of the
 * traced MMs and folios (model.c), and the process control (tracer.c).
 */
#ifndef MAPCOUNT_REC_INTERNAL_H
#define MAPCOUNT_REC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf.h"
#include "recorder.h"
#include "trace.h"
#include "world.h"

#define NO_FOLIO   UINT32_MAX	    /* a page of something not traced */
#define ZERO_FOLIO (UINT32_MAX - 1) /* the shared zero page */
#define PMD_ORDER  9
#define PMD_PAGES  (1u << PMD_ORDER)

/* One present page table entry of an MM, as last seen. */
struct rpage {
	uint64_t vpn; /* virtual page number */
	uint64_t pfn;
	uint32_t folio; /* traced folio, NO_FOLIO or ZERO_FOLIO */
	uint32_t page;	/* index in the folio */
	uint32_t vma;	/* the VMA it was mapped in (trace id) */
	uint8_t level;	/* MCT_PTE or MCT_PMD */
	uint8_t huge;	/* snapshot: PAGEMAP_SCAN said PAGE_IS_HUGE */
};

/* A range a memory syscall unmapped or changed: removals in it carry the
 * time the syscall returned (from the BPF ring buffer). */
struct rrange {
	pid_t tid;
	long nr;
	uint64_t lo, hi; /* virtual pages */
	uint64_t ts;	 /* 0 until the syscall returned */
};

struct rmm {
	uint32_t id; /* trace MM id */
	bool live;
	int users;	     /* tasks using it */
	pid_t rep;	     /* a task of it, for /proc */
	uint32_t kid;	     /* the kernel's mm->mm_id (0: unknown) */
	uint64_t born;	     /* when the recorder created it (ns) */
	bool dirty;	     /* activity since its last full snapshot */
	struct rpage *pages; /* sorted by vpn */
	size_t nr_pages, cap_pages;
	struct rrange *ranges;
	size_t nr_ranges, cap_ranges;
};

struct rfolio {
	uint64_t pfn; /* head */
	uint32_t order;
	uint64_t mapped;   /* pages mapped, summed over MMs (a PMD: 512) */
	uint64_t seen;	   /* when first seen (ns, CLOCK_MONOTONIC) */
	uint64_t alloc_ts; /* when allocated (ring buffer), 0: unknown */
	bool live, stale;  /* stale: its PFNs were allocated again */
	bool announced;	   /* its alloc event was written */
	uint32_t owner;	   /* MM that first mapped it: excl */
};

struct rfault {
	uint64_t ts, vpn, err;
	uint32_t kid;
	pid_t tid;
};

struct rec;

/* ---- model.c ---- */

struct rec *model_new(const struct rec_opts *o, struct mct_writer *w,
		      struct rec_summary *sum);
void model_free(struct rec *r);
void model_set_bpf(struct rec *r, struct rec_bpf *b);
/* The ring buffer's records go here. */
void model_bpf_record(void *ctx, const struct rec_event *e);

/* A new MM (exec): named p<pid>, or p<pid>-<gen> when gen > 0. */
struct rmm *model_mm_new(struct rec *r, pid_t pid, int gen, struct rmm *parent,
			 const char *comm, uint32_t kid);
/* fork P C: returns C, after snapshotting it. */
struct rmm *model_fork(struct rec *r, struct rmm *p, pid_t child);
void model_exit(struct rec *r, struct rmm *m);
/* The kernel MM ID of a forked child or exec'ed task (from the ring
 * buffer), 0 when unknown. */
uint32_t model_kid_of(struct rec *r, pid_t pid, bool exec);
/* When the kernel forked pid (exec: when pid exec'ed), 0 if unknown. */
uint64_t model_event_ts(struct rec *r, pid_t pid, bool exec);
/* Fork events: handled ones, and whether one before a time is not yet. */
void model_fork_handled(struct rec *r, pid_t child);
bool model_fork_pending(struct rec *r, uint64_t before);

/* Snapshot every MM with activity since its last snapshot (and m, if not
 * NULL), and write the events that explain the changes. */
void model_sync_all(struct rec *r, struct rmm *m);
/* Snapshot the virtual pages [lo, hi) of m (about to be unmapped by a
 * syscall of tid, number nr) and note the range. */
void model_sync_range(struct rec *r, struct rmm *m, pid_t tid, long nr,
		      uint64_t lo, uint64_t hi);
/* observe, mmid and stat events for these MMs. */
void model_checkpoint(struct rec *r, struct rmm **mms, int n);
/* Consume the BPF ring buffer. */
void model_drain(struct rec *r);
bool model_write_failed(const struct rec *r);

#endif /* MAPCOUNT_REC_INTERNAL_H */
