/* SPDX-License-Identifier: MIT */
/*
 * proc.h - what the recorder reads from /proc: a process's VMAs
 * (/proc/PID/maps), its page table entries (/proc/PID/pagemap and the
 * PAGEMAP_SCAN ioctl), the flags and mapcounts of physical pages
 * (/proc/kpageflags, /proc/kpagecount) and its memory statistics
 * (/proc/PID/smaps, smaps_rollup).
 */
#ifndef MAPCOUNT_REC_PROC_H
#define MAPCOUNT_REC_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PAGE_SHIFT_4K 12

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h) */
#define KPF_ANON	  12
#define KPF_COMPOUND_HEAD 15
#define KPF_COMPOUND_TAIL 16
#define KPF_HUGE	  17
#define KPF_NOPAGE	  20
#define KPF_KSM		  21
#define KPF_THP		  22
#define KPF_ZERO_PAGE	  24

struct pvma {
	uint64_t start, end; /* bytes */
	uint64_t offset;
	char perms[5];	/* "rw-p" */
	char path[200]; /* "" for anonymous memory, "[heap]", a file, ... */
};

/* The VMAs of pid; *nr of them in a malloc'ed array.  -1 when gone. */
int proc_maps(pid_t pid, struct pvma **out, size_t *nr);

/* Open /proc/PID/pagemap; -1 when the process is gone. */
int proc_pagemap_open(pid_t pid);
/* n entries from virtual page vpn; 0 or -1. */
int proc_pagemap_read(int fd, uint64_t vpn, uint64_t n, uint64_t *out);
#define PM_PRESENT   (1ull << 63)
#define PM_PFN_MASK  ((1ull << 55) - 1)
#define PM_EXCLUSIVE (1ull << 56)

/*
 * Page ranges of [start, end) (bytes) mapped by a huge entry (PMD), from
 * PAGEMAP_SCAN's PAGE_IS_HUGE: calls fn(ctx, start, end) for each.
 * Returns 0, or -1 when the ioctl fails.
 */
int proc_huge_ranges(int fd, uint64_t start, uint64_t end,
		     void (*fn)(void *ctx, uint64_t start, uint64_t end),
		     void *ctx);

/*
 * PAGEMAP_SCAN over [start, end) (bytes): fn(ctx, start, end, categories)
 * for each range of pages in all the categories of mask, split where the
 * categories of ret_mask change.  0, or -1 when the ioctl fails.
 */
#define SCAN_PRESENT (1 << 3) /* PAGE_IS_PRESENT */
#define SCAN_HUGE    (1 << 6) /* PAGE_IS_HUGE */
int proc_scan(int fd, uint64_t start, uint64_t end, uint64_t mask,
	      uint64_t ret_mask,
	      void (*fn)(void *ctx, uint64_t start, uint64_t end, uint64_t cat),
	      void *ctx);

/* /proc/kpageflags and /proc/kpagecount: opened once. */
int kpage_open(char *err, size_t errlen);
void kpage_close(void);
int kpage_flags(uint64_t pfn, uint64_t n, uint64_t *out);
int kpage_count(uint64_t pfn, uint64_t n, uint64_t *out);

/* One VMA of /proc/PID/smaps, the fields the recorder uses (KiB). */
struct psmaps {
	uint64_t start, end;
	uint64_t rss, anonymous, private_kb;
};

int proc_smaps(pid_t pid, struct psmaps **out, size_t *nr);
/* smaps_rollup: Anonymous and Pss_Anon, KiB. */
int proc_rollup(pid_t pid, uint64_t *anon_kb, uint64_t *pss_anon_kb);

/* /proc/PID/comm, without its newline ("?" when gone). */
void proc_comm(pid_t pid, char *buf, size_t len);

#endif /* MAPCOUNT_REC_PROC_H */
