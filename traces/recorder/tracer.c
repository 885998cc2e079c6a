// SPDX-License-Identifier: MIT
/*
 * tracer.c - runs the command under ptrace and drives the model.
 *
 * The command and every process it forks are traced
 * (PTRACE_O_TRACEFORK|VFORK|CLONE|EXEC|EXIT|EXITKILL|TRACESECCOMP), and a
 * seccomp filter inherited by all of them stops a tracee only at the
 * syscalls that matter: execve (to snapshot the MM that is about to go),
 * and the ones that unmap (munmap, mremap, brk, MAP_FIXED mmap and the
 * destructive madvise advice: the range is snapshotted before it goes).
 * Fork, exec and exit are ptrace events.  Between stops, the BPF ring
 * buffer says which MMs had write faults, allocations or memory syscalls.
 *
 * The recorder never leaves a tracee behind: PTRACE_O_EXITKILL kills them
 * all if it dies, SIGINT/SIGTERM/SIGHUP kill the tree and finish the trace,
 * and the mTHP knobs are restored on every way out.
 */
#include "rec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

#define MADV_DONTNEED_	      4
#define MADV_FREE_	      8
#define MADV_REMOVE_	      9
#define MADV_PAGEOUT_	      21
#define MADV_DONTNEED_LOCKED_ 24
#define MADV_COLLAPSE_	      25

struct task {
	pid_t tid, tgid;
	struct rmm *mm;
	int mms_made;	      /* MMs named after this task so far */
	pid_t vfork_parent;   /* blocked in vfork() until we exec or exit */
	bool started;	      /* its first stop was seen */
	bool held;	      /* stopped before its parent's fork event */
	bool interrupt;	      /* we sent it SIGSTOP for a checkpoint */
	bool exit_event;      /* PTRACE_EVENT_EXIT seen */
	bool in_vfork;	      /* waits for its vfork child: cannot stop */
	bool sigstop_pending; /* we sent a SIGSTOP it has not reported */
	bool parking, parked; /* stopped by park() */
	bool queued;	      /* stopped, its status waits in the queue */
};

struct qstatus {
	pid_t pid;
	int status;
	double since; /* when it was queued */
};

struct tracer {
	const struct rec_opts *o;
	struct rec *r;
	struct rec_summary *sum;
	struct task *tasks;
	size_t nr_tasks, cap_tasks;
	struct qstatus *queue; /* stops seen while parking, handled after */
	size_t nr_queue, cap_queue;
	pid_t first;
	int killed; /* the signal that stopped the recording */
};

/* ---- tasks ---- */

static struct task *task_find(struct tracer *t, pid_t tid)
{
	for (size_t i = 0; i < t->nr_tasks; i++)
		if (t->tasks[i].tid == tid)
			return &t->tasks[i];
	return NULL;
}

static struct task *task_add(struct tracer *t, pid_t tid, pid_t tgid)
{
	struct task *k;

	if (t->nr_tasks == t->cap_tasks) {
		t->cap_tasks = t->cap_tasks ? t->cap_tasks * 2 : 16;
		t->tasks = realloc(t->tasks, t->cap_tasks * sizeof(*t->tasks));
		if (!t->tasks)
			abort();
	}
	k = &t->tasks[t->nr_tasks++];
	memset(k, 0, sizeof(*k));
	k->tid = tid;
	k->tgid = tgid;
	return k;
}

static void task_del(struct tracer *t, struct task *k)
{
	*k = t->tasks[--t->nr_tasks];
}

static void park(struct tracer *t, pid_t cur);
static void unpark(struct tracer *t);

/* m's /proc representative must be a task that still uses m. */
static void fix_rep(struct tracer *t, struct rmm *m, pid_t gone)
{
	if (m->rep != gone)
		return;
	for (size_t i = 0; i < t->nr_tasks; i++)
		if (t->tasks[i].mm == m && t->tasks[i].tid != gone) {
			m->rep = t->tasks[i].tid;
			return;
		}
}

/*
 * A checkpoint, unless a fork is in flight: a child the kernel created but
 * whose fork event is still queued maps folios the trace does not know of
 * yet.  Skipped checkpoints are counted.
 */
static void checkpoint(struct tracer *t, struct rmm **mms, int n)
{
	for (size_t i = 0; i < t->nr_tasks; i++)
		if (t->tasks[i].held && !t->tasks[i].mm) {
			t->sum->skipped_checkpoints++;
			return;
		}
	for (size_t i = 0; i < t->nr_queue; i++) {
		int st = t->queue[i].status, ev = st >> 16;

		if (WIFSTOPPED(st) &&
		    (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK ||
		     ev == PTRACE_EVENT_CLONE)) {
			t->sum->skipped_checkpoints++;
			return;
		}
	}
	model_checkpoint(t->r, mms, n);
}

/*
 * The task leaves its MM; the MM ends with its last task.  With snapshot,
 * the world is parked and left so (true returned): the caller lets the
 * task finish exit_mm() before anything else runs (see on_stop()).
 */
static bool leave_mm(struct tracer *t, struct task *k, bool snapshot)
{
	struct rmm *m = k->mm;

	if (!m)
		return false;
	k->mm = NULL;
	m->users--;
	if (m->users > 0) {
		fix_rep(t, m, k->tid);
		return false;
	}
	if (snapshot) {
		park(t, k->tid);
		model_sync_all(t->r, m);
		if (t->o->ck_exit)
			checkpoint(t, &m, 1);
	}
	model_exit(t->r, m);
	return snapshot;
}

static void resume(pid_t tid, int sig)
{
	ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Stop the world: a snapshot and a checkpoint must see the kernel as no
 * tracee changes it.  Every running tracee but cur gets a SIGSTOP, and we
 * wait for it to stop (a stop for another reason is queued and handled
 * after unpark()).  A task blocked in vfork() cannot stop and cannot
 * change its memory either; one that does not stop within a second is
 * left running (its SIGSTOP is dropped when it comes).
 */
static void park(struct tracer *t, pid_t cur)
{
	bool waiting = false;
	double deadline = mono() + 1.0;

	for (size_t i = 0; i < t->nr_tasks; i++) {
		struct task *k = &t->tasks[i];

		if (k->tid == cur || !k->started || k->held || k->queued ||
		    k->parked || k->in_vfork || k->exit_event)
			continue; /* an exiting task runs no user code */
		if (!k->sigstop_pending &&
		    syscall(SYS_tgkill, k->tgid, k->tid, SIGSTOP))
			continue;
		k->sigstop_pending = true;
		k->parking = true;
		waiting = true;
	}
	while (waiting && mono() < deadline) {
		struct timespec nap = { 0, 20000 };

		waiting = false;
		for (size_t i = 0; i < t->nr_tasks; i++) {
			struct task *k = &t->tasks[i];
			int st;
			pid_t r;

			if (!k->parking)
				continue;
			r = waitpid(k->tid, &st, __WALL | WNOHANG);
			if (r == 0) {
				waiting = true;
				continue;
			}
			k->parking = false;
			if (r < 0)
				continue;
			if (WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP &&
			    !(st >> 16)) {
				k->sigstop_pending = false;
				k->interrupt = false; /* the same SIGSTOP */
				k->parked = true;
				continue;
			}
			if (t->nr_queue == t->cap_queue) {
				t->cap_queue =
					t->cap_queue ? t->cap_queue * 2 : 16;
				t->queue = realloc(t->queue,
						   t->cap_queue *
							   sizeof(*t->queue));
				if (!t->queue)
					abort();
			}
			t->queue[t->nr_queue++] =
				(struct qstatus){ k->tid, st, mono() };
			k->queued = true;
		}
		if (waiting)
			nanosleep(&nap, NULL);
	}
	for (size_t i = 0; i < t->nr_tasks; i++)
		t->tasks[i].parking = false;
}

static void unpark(struct tracer *t)
{
	for (size_t i = 0; i < t->nr_tasks; i++)
		if (t->tasks[i].parked) {
			t->tasks[i].parked = false;
			resume(t->tasks[i].tid, 0);
		}
}

/* A task is done with vfork(): its parent runs again. */
static void vfork_done(struct tracer *t, struct task *k)
{
	struct task *p;

	if (!k->vfork_parent)
		return;
	p = task_find(t, k->vfork_parent);
	if (p)
		p->in_vfork = false;
	k->vfork_parent = 0;
}

/* ---- stops ---- */

static void on_gone(struct tracer *t, pid_t tid, int status);

static void kill_all(struct tracer *t);

/*
 * Wait for a status of one task, for at most two seconds, and not past a
 * SIGINT, SIGTERM or SIGHUP of the recorder (they are blocked: signalfd).
 */
static bool wait_task(struct tracer *t, pid_t pid, int *status)
{
	double deadline = mono() + 2.0;
	struct timespec nap = { 0, 20000 };
	sigset_t pend;

	for (;;) {
		pid_t r = waitpid(pid, status, __WALL | WNOHANG);

		if (r == pid)
			return true;
		if (r < 0 || mono() > deadline)
			return false;
		sigpending(&pend);
		if (!t->killed && (sigismember(&pend, SIGINT) ||
				   sigismember(&pend, SIGTERM) ||
				   sigismember(&pend, SIGHUP))) {
			t->killed = sigismember(&pend, SIGINT)	  ? SIGINT
				    : sigismember(&pend, SIGTERM) ? SIGTERM
								  : SIGHUP;
			kill_all(t);
		}
		nanosleep(&nap, NULL);
	}
}

/* A status of pid waiting in the queue, taken out of it. */
static bool take_queued(struct tracer *t, pid_t pid, int *status)
{
	for (size_t i = 0; i < t->nr_queue; i++)
		if (t->queue[i].pid == pid) {
			*status = t->queue[i].status;
			memmove(t->queue + i, t->queue + i + 1,
				(--t->nr_queue - i) * sizeof(*t->queue));
			return true;
		}
	return false;
}

static void on_fork(struct tracer *t, struct task *k, int event)
{
	unsigned long msg = 0;
	pid_t child;
	struct task *c;
	bool shares;

	ptrace(PTRACE_GETEVENTMSG, k->tid, NULL, &msg);
	child = (pid_t)msg;
	model_fork_handled(t->r, child);
	c = task_find(t, child);
	if (!c) {
		pid_t tid = k->tid, tgid = k->tgid;

		c = task_add(t, child,
			     event == PTRACE_EVENT_CLONE ? tgid : child);
		k = task_find(t, tid); /* the array may have moved */
	} else
		c->tgid = event == PTRACE_EVENT_CLONE ? k->tgid : child;
	shares = event != PTRACE_EVENT_FORK ||
		 syscall(SYS_kcmp, k->tid, child, KCMP_VM, 0, 0) == 0;
	if (!k->mm) {
		/* the command before its first exec: not traced */
	} else if (shares) {
		c->mm = k->mm;
		k->mm->users++;
	} else {
		struct rmm *mms[2];
		int st;

		/*
		 * Let the child reach its first stop: on its way it may have
		 * written its own memory (CLONE_CHILD_SETTID), and it must not
		 * run while its snapshot and the checkpoint are taken.
		 */
		if (!c->held &&
		    (take_queued(t, child, &st) || wait_task(t, child, &st))) {
			c->started = true;
			if (WIFSTOPPED(st)) {
				c->held = true;
			} else {
				on_gone(t, child, st);
				c = NULL;
			}
		}
		if (!c)
			return;
		t->sum->processes++;
		k->mm->rep = k->tid;
		park(t, k->tid);
		model_sync_all(t->r, k->mm);
		c->mm = model_fork(t->r, k->mm, child);
		c->mms_made = 1;
		mms[0] = k->mm;
		mms[1] = c->mm;
		if (t->o->ck_fork)
			checkpoint(t, mms, 2);
		unpark(t);
	}
	if (event == PTRACE_EVENT_VFORK) {
		k->in_vfork = true;
		c->vfork_parent = k->tid;
	}
	if (c->held) {
		c->held = false;
		resume(child, 0);
	}
}

static void on_exec(struct tracer *t, struct task *k)
{
	unsigned long msg = 0;
	pid_t former;
	struct rmm *old;
	char comm[64];
	struct task *f;

	ptrace(PTRACE_GETEVENTMSG, k->tid, NULL, &msg);
	former = (pid_t)msg;
	f = former != k->tid ? task_find(t, former) : NULL;
	if (f) {
		/* a thread exec'ed: it is the leader now */
		k->mm = f->mm;
		f->mm = NULL;
		task_del(t, f);
		k = task_find(t, k->tgid);
		if (!k)
			return;
	}
	vfork_done(t, k);
	old = k->mm;
	model_drain(t->r);
	/* de_thread(): the other threads of the group are gone */
	for (size_t i = 0; i < t->nr_tasks; i++) {
		struct task *o = &t->tasks[i];

		if (o != k && o->tgid == k->tgid && o->mm == old && old) {
			o->mm = NULL;
			old->users--;
		}
	}
	if (old) {
		k->mm = NULL;
		if (--old->users == 0)
			model_exit(t->r, old);
		else
			fix_rep(t, old, k->tid); /* a vfork parent's MM */
	}
	proc_comm(k->tid, comm, sizeof(comm));
	k->mm = model_mm_new(t->r, k->tid, k->mms_made, old, comm,
			     model_kid_of(t->r, k->tgid, true));
	k->mms_made++;
}

/* Is the file an execve() of tid names there and executable? */
static bool exec_may_succeed(pid_t tid, uint64_t addr)
{
	char path[4096], full[4200];
	struct iovec local = { path, sizeof(path) - 1 };
	struct iovec remote = { (void *)(uintptr_t)addr, sizeof(path) - 1 };
	ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);

	if (n <= 0)
		return true; /* cannot tell: assume it can */
	path[n] = 0;
	if (!memchr(path, 0, (size_t)n))
		return true;
	if (path[0] == '/')
		snprintf(full, sizeof(full), "/proc/%d/root%s", (int)tid, path);
	else
		snprintf(full, sizeof(full), "/proc/%d/cwd/%s", (int)tid, path);
	return access(full, X_OK) == 0;
}

static void on_seccomp(struct tracer *t, struct task *k)
{
	struct user_regs_struct regs;
	struct rmm *m = k->mm;
	uint64_t a, len;
	long nr;

	if (!m || ptrace(PTRACE_GETREGS, k->tid, NULL, &regs))
		return;
	m->rep = k->tid;
	nr = (long)regs.orig_rax;
	a = regs.rdi;
	len = regs.rsi;
	switch (nr) {
	case SYS_execve:
	case SYS_execveat:
		/* execvp() tries each $PATH directory: only the exec that
		 * can succeed ends the MM */
		if (nr == SYS_execve && !exec_may_succeed(k->tid, a))
			return;
		if (m->users == 1) {
			park(t, k->tid);
			model_sync_all(t->r, m);
			if (t->o->ck_exit)
				checkpoint(t, &m, 1);
			unpark(t);
		}
		return;
	case SYS_brk: {
		struct pvma *v = NULL;
		size_t n = 0;
		uint64_t end = 0;

		if (!a || proc_maps(k->tid, &v, &n))
			return;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(v[i].path, "[heap]"))
				end = v[i].end;
		free(v);
		if (end > a)
			model_sync_range(t->r, m, k->tid, nr,
					 a >> PAGE_SHIFT_4K,
					 (end + 4095) >> PAGE_SHIFT_4K);
		return;
	}
	case SYS_munmap:
	case SYS_mremap:
	case SYS_madvise:
	case SYS_mmap:
		if (len > (1ull << 47))
			return;
		model_sync_range(t->r, m, k->tid, nr, a >> PAGE_SHIFT_4K,
				 (a + len + 4095) >> PAGE_SHIFT_4K);
		return;
	default:
		return;
	}
}

static void on_stop(struct tracer *t, pid_t tid, int status)
{
	struct task *k = task_find(t, tid);
	int sig = WSTOPSIG(status), event = status >> 16;
	siginfo_t si;

	t->sum->stops++;
	if (!k) {
		/* a new child, before its parent's fork event: hold it */
		k = task_add(t, tid, tid);
		k->started = true;
		k->held = true;
		return;
	}
	if (sig == SIGTRAP && event) {
		switch (event) {
		case PTRACE_EVENT_SECCOMP:
			on_seccomp(t, k);
			break;
		case PTRACE_EVENT_FORK:
		case PTRACE_EVENT_VFORK:
		case PTRACE_EVENT_CLONE:
			on_fork(t, k, event);
			break;
		case PTRACE_EVENT_EXEC:
			on_exec(t, k);
			k = task_find(t, tid);
			break;
		case PTRACE_EVENT_EXIT:
			k->exit_event = true;
			if (k->mm)
				k->mm->rep = k->tid;
			if (leave_mm(t, k, true)) {
				/*
				 * The trace says exit now: let the kernel tear
				 * the MM down (exit_mm()) before any other
				 * tracee may fault on a folio it shares.
				 */
				int st;

				resume(tid, 0);
				while (wait_task(t, tid, &st)) {
					if (WIFEXITED(st) || WIFSIGNALED(st)) {
						on_gone(t, tid, st);
						break;
					}
					resume(tid, 0);
				}
				unpark(t);
				return;
			}
			break;
		default:
			break;
		}
		resume(tid, 0);
		return;
	}
	if (!k->started && sig == SIGSTOP) {
		k->started = true;
		resume(tid, 0);
		return;
	}
	if (sig == SIGSTOP && k->interrupt) {
		k->interrupt = false;
		if (k->mm) {
			struct rmm *m = k->mm;

			m->rep = k->tid;
			park(t, k->tid);
			model_sync_all(t->r, m);
			checkpoint(t, &m, 1);
			unpark(t);
		}
		resume(tid, 0);
		return;
	}
	if (sig == SIGSTOP && k->sigstop_pending) {
		k->sigstop_pending = false; /* a late one from park() */
		resume(tid, 0);
		return;
	}
	if (sig == (SIGTRAP | 0x80)) {
		resume(tid, 0);
		return;
	}
	if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) < 0) {
		resume(tid, 0); /* a group-stop: let it run on */
		return;
	}
	resume(tid, sig); /* deliver the signal */
}

static void on_gone(struct tracer *t, pid_t tid, int status)
{
	struct task *k = task_find(t, tid);

	if (tid == t->first)
		t->sum->status = status;
	if (!k)
		return;
	vfork_done(t, k);
	leave_mm(t, k, false);
	task_del(t, k);
}

/* ---- the seccomp filter ---- */

struct bpfprog {
	struct sock_filter insn[48];
	int n;
	int fix[48]; /* instruction -> label + 1 for jt */
};

static void insn(struct bpfprog *p, struct sock_filter f, int jt_label)
{
	p->fix[p->n] = jt_label;
	p->insn[p->n++] = f;
}

static int install_seccomp(void)
{
	enum { L_TRACE = 1, L_MMAP, L_MADV, NR_L };
	static const long trace_nrs[] = { SYS_execve, SYS_execveat, SYS_munmap,
					  SYS_mremap, SYS_brk };
	static const uint32_t advice[] = {
		MADV_DONTNEED_,	       MADV_FREE_,
		MADV_REMOVE_,	       MADV_PAGEOUT_,
		MADV_DONTNEED_LOCKED_, MADV_COLLAPSE_
	};
	struct bpfprog p = { .n = 0 };
	int label[NR_L] = { 0 };
	struct sock_fprog prog;
	size_t i;

	insn(&p,
	     (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					  offsetof(struct seccomp_data, arch)),
	     0);
	insn(&p,
	     (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
					  AUDIT_ARCH_X86_64, 1, 0),
	     0);
	insn(&p,
	     (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	     0);
	insn(&p,
	     (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					  offsetof(struct seccomp_data, nr)),
	     0);
	for (i = 0; i < sizeof(trace_nrs) / sizeof(trace_nrs[0]); i++)
		insn(&p,
		     (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						  (uint32_t)trace_nrs[i], 0, 0),
		     L_TRACE);
	insn(&p,
	     (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap,
					  0, 0),
	     L_MMAP);
	insn(&p,
	     (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
					  SYS_madvise, 0, 0),
	     L_MADV);
	insn(&p,
	     (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	     0);
	/* mmap: only MAP_FIXED replaces what was there */
	label[L_MMAP] = p.n;
	insn(&p,
	     (struct sock_filter)BPF_STMT(
		     BPF_LD | BPF_W | BPF_ABS,
		     offsetof(struct seccomp_data, args[3])),
	     0);
	insn(&p,
	     (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x10, 0,
					  0),
	     L_TRACE);
	insn(&p,
	     (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	     0);
	/* madvise: the advice that unmaps */
	label[L_MADV] = p.n;
	insn(&p,
	     (struct sock_filter)BPF_STMT(
		     BPF_LD | BPF_W | BPF_ABS,
		     offsetof(struct seccomp_data, args[2])),
	     0);
	for (i = 0; i < sizeof(advice) / sizeof(advice[0]); i++)
		insn(&p,
		     (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
						  advice[i], 0, 0),
		     L_TRACE);
	insn(&p,
	     (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	     0);
	label[L_TRACE] = p.n;
	insn(&p,
	     (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
	     0);
	for (int k = 0; k < p.n; k++)
		if (p.fix[k])
			p.insn[k].jt = (uint8_t)(label[p.fix[k]] - (k + 1));
	prog.len = (unsigned short)p.n;
	prog.filter = p.insn;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
		return 0;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* ---- the run ---- */

int rec_check_env(char *err, size_t errlen)
{
	if (geteuid() != 0) {
		snprintf(err, errlen,
			 "needs root: it reads /proc/kpageflags, "
			 "/proc/kpagecount and other processes' pagemap, and "
			 "loads BPF programs");
		return -1;
	}
	return rec_bpf_available(err, errlen);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void child_main(char *const *argv, const sigset_t *old, int errfd)
{
	int e;

	sigprocmask(SIG_SETMASK, old, NULL);
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) || raise(SIGSTOP) ||
	    install_seccomp()) {
		e = errno;
		if (write(errfd, &e, sizeof(e)) < 0)
			_exit(126);
		_exit(126);
	}
	execvp(argv[0], argv);
	e = errno;
	if (write(errfd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

static void kill_all(struct tracer *t)
{
	for (size_t i = 0; i < t->nr_tasks; i++)
		kill(t->tasks[i].tid, SIGKILL);
}

static void interrupt_all(struct tracer *t)
{
	for (size_t i = 0; i < t->nr_tasks; i++) {
		struct task *k = &t->tasks[i];
		bool pending = false;

		if (!k->mm || !k->started || k->exit_event)
			continue;
		for (size_t j = 0; j < t->nr_tasks; j++)
			if (t->tasks[j].mm == k->mm &&
			    (t->tasks[j].interrupt || j < i))
				pending = true;
		if (pending)
			continue;
		k->interrupt = true;
		kill(k->tid, SIGSTOP);
	}
}

static void enqueue(struct tracer *t, pid_t pid, int status)
{
	struct task *k = task_find(t, pid);

	if (t->nr_queue == t->cap_queue) {
		t->cap_queue = t->cap_queue ? t->cap_queue * 2 : 16;
		t->queue = realloc(t->queue, t->cap_queue * sizeof(*t->queue));
		if (!t->queue)
			abort();
	}
	t->queue[t->nr_queue++] = (struct qstatus){ pid, status, mono() };
	if (k)
		k->queued = true;
}

/* The kernel's time of a fork or exec stop (ring buffer), else 0. */
static uint64_t stop_ts(struct tracer *t, const struct qstatus *q)
{
	int ev = q->status >> 16;
	unsigned long msg = 0;
	struct task *k;

	if (!WIFSTOPPED(q->status) || WSTOPSIG(q->status) != SIGTRAP)
		return 0;
	if (ev == PTRACE_EVENT_FORK || ev == PTRACE_EVENT_VFORK ||
	    ev == PTRACE_EVENT_CLONE) {
		ptrace(PTRACE_GETEVENTMSG, q->pid, NULL, &msg);
		return model_event_ts(t->r, (pid_t)msg, false);
	}
	k = task_find(t, q->pid);
	if (ev == PTRACE_EVENT_EXEC && k)
		return model_event_ts(t->r, k->tgid, true);
	return 0;
}

/*
 * Take every status waiting, and put the fork and exec stops among them in
 * the kernel's order: ptrace reports stops of different tasks in any order,
 * and a fork that duplicated a folio before an exec released it must come
 * first (the child's mappings are untracked by MM_ID then).
 */
static void gather(struct tracer *t)
{
	bool more = false;

	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, __WALL | WNOHANG);

		if (pid <= 0)
			break;
		enqueue(t, pid, status);
		more = true;
	}
	if (!more)
		return;
	model_drain(t->r);
	for (size_t i = 0; i < t->nr_queue; i++) {
		uint64_t ti = stop_ts(t, &t->queue[i]);

		if (!ti)
			continue;
		for (size_t j = i + 1; j < t->nr_queue; j++) {
			uint64_t tj = stop_ts(t, &t->queue[j]);

			if (tj && tj < ti) {
				struct qstatus x = t->queue[i];

				t->queue[i] = t->queue[j];
				t->queue[j] = x;
				ti = tj;
			}
		}
	}
}

/* An exec waits for the stops of the forks the kernel did before it. */
static bool must_wait(struct tracer *t, const struct qstatus *q)
{
	uint64_t ts;

	if (!WIFSTOPPED(q->status) || WSTOPSIG(q->status) != SIGTRAP ||
	    (q->status >> 16) != PTRACE_EVENT_EXEC || mono() - q->since > 0.2)
		return false;
	ts = stop_ts(t, q);
	return ts && model_fork_pending(t->r, ts);
}

static int loop(struct tracer *t, int sfd, int tfd, int bfd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };

	if (ep < 0)
		return -1;
	ev.data.fd = sfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.fd = bfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, bfd, &ev);
	if (tfd >= 0) {
		ev.data.fd = tfd;
		epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
	}
	while (t->nr_tasks) {
		struct epoll_event got[4];
		int n = epoll_wait(ep, got, 4, 50);

		for (int i = 0; i < n; i++) {
			if (got[i].data.fd == sfd) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == sizeof(si))
					if (si.ssi_signo != SIGCHLD &&
					    !t->killed) {
						t->killed = (int)si.ssi_signo;
						kill_all(t);
					}
			} else if (got[i].data.fd == tfd) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) > 0 &&
				    !t->killed)
					interrupt_all(t);
			} else {
				model_drain(t->r);
			}
		}
		gather(t);
		for (size_t i = 0; i < t->nr_queue;) {
			struct qstatus q = t->queue[i];
			struct task *k = task_find(t, q.pid);

			if (must_wait(t, &q)) {
				i++;
				continue;
			}
			memmove(t->queue + i, t->queue + i + 1,
				(--t->nr_queue - i) * sizeof(*t->queue));
			if (k)
				k->queued = false;
			if (WIFSTOPPED(q.status))
				on_stop(t, q.pid, q.status);
			else
				on_gone(t, q.pid, q.status);
			gather(t);
			i = 0;
		}
	}
	close(ep);
	return 0;
}

static const char *basename_of(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

int rec_record(const struct rec_opts *o, struct rec_summary *sum, char *err,
	       size_t errlen)
{
	struct mct_header h = { .version = MCT_VERSION,
				.has = MCT_H_PAGE_SIZE | MCT_H_PMD_ORDER,
				.page_size = 4096,
				.pmd_order = PMD_ORDER,
				.pud_order = 18,
				.source = MCT_SOURCE_RECORDED };
	struct tracer t = { .o = o, .sum = sum };
	struct rec_bpf *bpf = NULL;
	struct mct_writer *w = NULL;
	struct utsname u;
	sigset_t mask, old;
	char name[MCT_STR_MAX + 1];
	int pipefd[2] = { -1, -1 }, sfd = -1, tfd = -1, status, e = 0;
	double t0;
	pid_t pid;
	int ret = -1;

	memset(sum, 0, sizeof(*sum));
	if (rec_check_env(err, errlen) || kpage_open(err, errlen))
		return -1;
	w = mct_writer_open(o->output, o->enc, err, errlen);
	if (!w)
		return -1;
	uname(&u);
	if (o->name) {
		snprintf(name, sizeof(name), "%s", o->name);
	} else {
		size_t n = 0;

		for (char *const *a = o->argv; *a && n < 200; a++)
			n += (size_t)snprintf(name + n, sizeof(name) - n,
					      "%s%s", n ? " " : "",
					      a == o->argv ? basename_of(*a)
							   : *a);
		for (int i = 0; i < o->nr_mthp && n < 400; i++)
			n += (size_t)snprintf(name + n, sizeof(name) - n,
					      " %s=%s", o->mthp[i].size,
					      o->mthp[i].mode);
	}
	for (char *c = name; *c; c++)
		if (*c == '\n')
			*c = ' ';
	h.name = name;
	h.kernel = u.release;
	h.arch = u.machine;
	if (mct_write_header(w, &h)) {
		snprintf(err, errlen, "%s: cannot write: %s", o->output,
			 strerror(errno));
		goto out;
	}
	t.r = model_new(o, w, sum);
	bpf = rec_bpf_open(model_bpf_record, t.r, err, errlen);
	if (!bpf)
		goto out;
	model_set_bpf(t.r, bpf);
	if (rec_mthp_set(o->mthp, o->nr_mthp, err, errlen))
		goto out;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (o->interval_ms) {
		struct itimerspec its = { 0 };

		its.it_value.tv_sec = o->interval_ms / 1000;
		its.it_value.tv_nsec = (long)(o->interval_ms % 1000) * 1000000;
		its.it_interval = its.it_value;
		tfd = timerfd_create(CLOCK_MONOTONIC,
				     TFD_NONBLOCK | TFD_CLOEXEC);
		if (tfd >= 0)
			timerfd_settime(tfd, 0, &its, NULL);
	}
	if (sfd < 0 || pipe2(pipefd, O_CLOEXEC)) {
		snprintf(err, errlen, "cannot set up: %s", strerror(errno));
		goto restore;
	}
	t0 = now_s();
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto restore;
	}
	if (pid == 0)
		child_main(o->argv, &old, pipefd[1]);
	close(pipefd[1]);
	pipefd[1] = -1;
	t.first = pid;
	if (waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status)) {
		if (read(pipefd[0], &e, sizeof(e)) != sizeof(e))
			e = 0;
		snprintf(err, errlen, "cannot start %s under ptrace: %s",
			 o->argv[0], e ? strerror(e) : "it did not stop");
		goto restore;
	}
	ptrace(PTRACE_SETOPTIONS, pid, NULL,
	       (void *)(long)(PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
			      PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |
			      PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL |
			      PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACESECCOMP));
	rec_bpf_trace(bpf, pid);
	task_add(&t, pid, pid)->started = true;
	sum->processes++;
	resume(pid, 0);
	loop(&t, sfd, tfd, rec_bpf_fd(bpf));
	sum->seconds = now_s() - t0;
	if (read(pipefd[0], &e, sizeof(e)) == sizeof(e) && e) {
		snprintf(err, errlen, "cannot run %s: %s", o->argv[0],
			 strerror(e));
		goto restore;
	}
	sum->dropped_bpf = rec_bpf_dropped(bpf);
	sum->signal = t.killed;
	ret = 0;
restore:
	rec_mthp_restore();
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (ret == 0 && model_write_failed(t.r)) {
		snprintf(err, errlen, "%s: cannot write: %s", o->output,
			 strerror(errno));
		ret = -1;
	}
	if (ret == 0 && mct_writer_close(w)) {
		snprintf(err, errlen, "%s: cannot write: %s", o->output,
			 strerror(errno));
		ret = -1;
	} else if (ret) {
		mct_writer_abort(w);
	}
	rec_bpf_close(bpf);
	model_free(t.r);
	kpage_close();
	free(t.tasks);
	free(t.queue);
	return ret;
}
