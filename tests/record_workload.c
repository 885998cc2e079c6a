// SPDX-License-Identifier: MIT
/*
 * record_workload.c - the small program tests/test_record.sh records with
 * `mapcount record --mthp 64kB=always`: one 64 KiB anonymous folio, fork
 * and copy-on-write, in the variants the kernel observations describe.
 * Prints the folio's head PFN ("pfn 0x...") so the test can find it.
 *
 *   cow         fork; the child writes pages 0-3 (copies) and exits; the
 *               parent writes page 8 (reused: it maps the folio alone)
 *   three       fork twice; each child writes a page (copies) and exits in
 *               turn; the parent writes page 3 (reused)
 *   single-pte  MADV_DONTNEED pages 1-15; fork; the child exits; the parent
 *               writes page 0 (copied: a large folio mapped once is copied
 *               so that it can be freed)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE  4096
#define FOLIO (16 * PAGE)

static volatile char *folio_mem(void)
{
	char *m = mmap(NULL, 2 * FOLIO, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	volatile char *f;

	if (m == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	f = (volatile char *)(((uintptr_t)m + FOLIO - 1) &
			      ~(uintptr_t)(FOLIO - 1));
	for (int i = 0; i < 16; i++)
		f[i * PAGE] = 1;
	return f;
}

static void print_pfn(volatile char *f)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0 || pread(fd, &e, sizeof(e),
			    (off_t)((uintptr_t)f / PAGE * sizeof(e))) != 8)
		e = 0;
	if (fd >= 0)
		close(fd);
	printf("pfn 0x%llx\n", (unsigned long long)(e & ((1ull << 55) - 1)));
	fflush(stdout);
}

/* A child that waits for a byte on fd, writes page, exits. */
static pid_t child(volatile char *f, int fd, int page)
{
	pid_t pid = fork();
	char c;

	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		if (fd >= 0 && read(fd, &c, 1) != 1)
			_exit(1);
		if (page >= 0)
			f[page * PAGE] = 2;
		_exit(0);
	}
	return pid;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "cow";
	volatile char *f = folio_mem();
	int p1[2], p2[2];

	print_pfn(f);
	if (!strcmp(mode, "cow")) {
		pid_t c = child(f, -1, -1);

		waitpid(c, NULL, 0);
		/* the child above only forked and exited: now the real one */
		c = fork();
		if (c == 0) {
			for (int i = 0; i < 4; i++)
				f[i * PAGE] = 3;
			_exit(0);
		}
		waitpid(c, NULL, 0);
		f[8 * PAGE] = 4;
	} else if (!strcmp(mode, "three")) {
		pid_t a, b;

		if (pipe(p1) || pipe(p2))
			return 1;
		a = child(f, p1[0], 1);
		b = child(f, p2[0], 2);
		if (write(p1[1], "x", 1) != 1)
			return 1;
		waitpid(a, NULL, 0);
		if (write(p2[1], "x", 1) != 1)
			return 1;
		waitpid(b, NULL, 0);
		f[3 * PAGE] = 4;
	} else if (!strcmp(mode, "single-pte")) {
		pid_t c;

		madvise((char *)f + PAGE, FOLIO - PAGE, MADV_DONTNEED);
		c = child(f, -1, -1);
		waitpid(c, NULL, 0);
		f[0] = 4;
	} else {
		fprintf(stderr,
			"usage: record_workload cow|three|single-pte\n");
		return 2;
	}
	return 0;
}
