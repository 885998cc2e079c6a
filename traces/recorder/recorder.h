/* SPDX-License-Identifier: MIT */
/*
 * recorder.h - `mapcount record`: run a command and its whole process tree
 * under ptrace (stopping only at fork, exec, exit and the memory syscalls
 * that unmap, through a seccomp filter), follow their anonymous folios with
 * pagemap and kpageflags snapshots, their write faults and allocations with
 * a BPF ring buffer, and write a trace with the kernel's own answers
 * (observe, stat, mmid) at checkpoints.  See docs/fidelity.md.
 */
#ifndef MAPCOUNT_RECORDER_H
#define MAPCOUNT_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace.h"

#define REC_MAX_MTHP 16

struct rec_mthp {
	char size[32]; /* "64kB":
			  /sys/kernel/mm/transparent_hugepage/hugepages-SIZE */
	char mode[16]; /* always, madvise, never, inherit */
};

struct rec_opts {
	const char *output; /* "-": standard output */
	enum mct_encoding enc;
	const char *name; /* header name=; NULL: derived from the command */
	struct rec_mthp mthp[REC_MAX_MTHP];
	int nr_mthp;
	bool ck_fork, ck_exit;	  /* checkpoints */
	unsigned int interval_ms; /* 0: none */
	unsigned int observe_max; /* pages observed per checkpoint */
	unsigned int mmid_max;	  /* folios whose MM_ID state is read */
	bool verbose;
	char *const *argv; /* the command */
};

struct rec_summary {
	uint64_t events[MCT_NR_KINDS];
	uint64_t cow_copy, cow_reuse;
	uint64_t dropped_bpf;  /* ring buffer records lost */
	uint64_t rejected;     /* events the world refused (recorder bugs) */
	uint64_t stops, syncs; /* ptrace stops, snapshots */
	uint64_t skipped_checkpoints; /* a fork was in flight */
	uint64_t mms, processes;      /* MMs and processes seen */
	double seconds;		      /* wall time of the recording */
	int status;		      /* the command's wait status */
	int signal; /* the signal that stopped the recording */
};

/* 0 when root and BTF are there, else -1 and why in err. */
int rec_check_env(char *err, size_t errlen);

/*
 * Record.  Returns 0 when the trace was written (whatever the command's
 * status), -1 with a message in err when recording could not start or the
 * trace could not be written.
 */
int rec_record(const struct rec_opts *o, struct rec_summary *sum, char *err,
	       size_t errlen);

/* mTHP knobs: set, remembering the old values, and restore them. */
int rec_mthp_set(const struct rec_mthp *m, int nr, char *err, size_t errlen);
void rec_mthp_restore(void);

#endif /* MAPCOUNT_RECORDER_H */
