/* SPDX-License-Identifier: MIT */
/*
 * bpf.h - the recorder's BPF side, as the recorder sees it: load and
 * attach recorder.bpf.c, stream its ring buffer, and read folios' mapcount
 * state by PFN on demand.
 */
#ifndef MAPCOUNT_REC_BPFLOADER_H
#define MAPCOUNT_REC_BPFLOADER_H

#include <linux/types.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rec_bpf.h"

struct rec_bpf;

typedef void (*rec_bpf_fn)(void *ctx, const struct rec_event *e);

/*
 * Load and attach the programs, then find the vmemmap base (the recorder
 * touches a few pages of its own).  NULL with a message in err.
 */
struct rec_bpf *rec_bpf_open(rec_bpf_fn fn, void *ctx, char *err,
			     size_t errlen);
void rec_bpf_close(struct rec_bpf *b);

/* Trace (or stop tracing) a thread group; forks extend the set. */
int rec_bpf_trace(struct rec_bpf *b, pid_t tgid);
void rec_bpf_untrace(struct rec_bpf *b, pid_t tgid);

/* An fd that polls readable when records wait; consume them with fn. */
int rec_bpf_fd(const struct rec_bpf *b);
int rec_bpf_consume(struct rec_bpf *b);
uint64_t rec_bpf_dropped(const struct rec_bpf *b);

/* PFN of a struct page pointer from a REC_EV_ALLOC record. */
uint64_t rec_bpf_page_pfn(const struct rec_bpf *b, uint64_t page);

/* Read up to nr folios (any nr: batched); returns 0 or -1. */
int rec_bpf_read_folios(struct rec_bpf *b, const uint64_t *pfns, size_t nr,
			struct rec_folio_info *out);

/* Is BTF there?  (/sys/kernel/btf/vmlinux) */
int rec_bpf_available(char *err, size_t errlen);

#endif /* MAPCOUNT_REC_BPFLOADER_H */
