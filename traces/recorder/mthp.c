// SPDX-License-Identifier: MIT
/*
 * mthp.c - the per-size THP knobs of /sys/kernel/mm/transparent_hugepage
 * (hugepages-SIZE/enabled), switched for a recording and restored after
 * it: rec_mthp_restore() runs on every way out of `mapcount record` that
 * the recorder survives (normal end, command failure, SIGINT, SIGTERM,
 * errors), and from atexit().
 */
#include "recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THP_DIR "/sys/kernel/mm/transparent_hugepage"

static struct {
	char path[128];
	char old[16];
} saved[REC_MAX_MTHP];
static int nr_saved;
static int registered;
static int lock_fd = -1;

/*
 * The knobs are global: recordings take a lock, exclusive for one that
 * switches knobs, shared for the others, so that none sees knobs switched
 * under it and two never save and restore each other's values.
 */
#define LOCK_PATH  "/run/lock/mapcount-record.lock"
#define LOCK_PATH2 "/tmp/mapcount-record.lock"

static void take_lock(bool exclusive)
{
	int op = exclusive ? LOCK_EX : LOCK_SH;

	if (lock_fd < 0)
		lock_fd = open(LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock_fd < 0)
		lock_fd = open(LOCK_PATH2, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock_fd < 0)
		return;
	if (flock(lock_fd, op | LOCK_NB) == 0)
		return;
	fprintf(stderr, "mapcount record: waiting for another recording "
			"(mTHP knobs in use)\n");
	while (flock(lock_fd, op) && errno == EINTR)
		;
}

static void drop_lock(void)
{
	if (lock_fd >= 0)
		close(lock_fd);
	lock_fd = -1;
}

static int read_knob(const char *path, char *cur, size_t len)
{
	char buf[256], *l, *r;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	l = strchr(buf, '[');
	r = l ? strchr(l, ']') : NULL;
	if (!l || !r)
		return -1;
	*r = 0;
	snprintf(cur, len, "%s", l + 1);
	return 0;
}

static int write_knob(const char *path, const char *val)
{
	FILE *f = fopen(path, "we");
	int ok;

	if (!f)
		return -1;
	ok = fputs(val, f) >= 0;
	ok = !fclose(f) && ok;
	return ok ? 0 : -1;
}

/* From a fatal signal: open/write/close only, then die of the signal. */
static void restore_and_die(int sig)
{
	for (int i = nr_saved - 1; i >= 0; i--) {
		int fd = open(saved[i].path, O_WRONLY);

		if (fd >= 0) {
			if (write(fd, saved[i].old, strlen(saved[i].old)) < 0) {
				/* nothing more can be done */
			}
			close(fd);
		}
	}
	nr_saved = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

void rec_mthp_restore(void)
{
	if (!nr_saved) {
		drop_lock();
		return;
	}
	while (nr_saved > 0) {
		nr_saved--;
		if (write_knob(saved[nr_saved].path, saved[nr_saved].old))
			fprintf(stderr,
				"mapcount record: cannot restore %s to '%s': "
				"%s\n",
				saved[nr_saved].path, saved[nr_saved].old,
				strerror(errno));
	}
	drop_lock();
}

int rec_mthp_set(const struct rec_mthp *m, int nr, char *err, size_t errlen)
{
	if (!registered) {
		static const int fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE,
					     SIGILL };

		atexit(rec_mthp_restore);
		for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
			signal(fatal[i], restore_and_die);
		registered = 1;
	}
	take_lock(nr > 0);
	for (int i = 0; i < nr; i++) {
		char path[128], cur[16];

		snprintf(path, sizeof(path), THP_DIR "/hugepages-%s/enabled",
			 m[i].size);
		if (read_knob(path, cur, sizeof(cur))) {
			snprintf(err, errlen,
				 "--mthp %s: cannot read %s: %s (sizes: "
				 "ls " THP_DIR ")",
				 m[i].size, path,
				 errno ? strerror(errno) : "bad content");
			rec_mthp_restore();
			return -1;
		}
		if (nr_saved < REC_MAX_MTHP) {
			snprintf(saved[nr_saved].path, sizeof(saved[0].path),
				 "%s", path);
			snprintf(saved[nr_saved].old, sizeof(saved[0].old),
				 "%s", cur);
			nr_saved++;
		}
		if (write_knob(path, m[i].mode)) {
			snprintf(err, errlen,
				 "--mthp %s=%s: cannot write %s: %s", m[i].size,
				 m[i].mode, path, strerror(errno));
			rec_mthp_restore();
			return -1;
		}
	}
	return 0;
}
