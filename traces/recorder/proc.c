// SPDX-License-Identifier: MIT
/*
 * proc.c - readers of /proc for the recorder; see proc.h.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* PAGEMAP_SCAN (6.7); the uapi headers of the build machine may be older. */
#ifndef PAGEMAP_SCAN
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN	_IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_HUGE	(1 << 6)
#endif

static int kflags_fd = -1, kcount_fd = -1;

int proc_maps(pid_t pid, struct pvma **out, size_t *nr)
{
	char path[64], *line = NULL;
	size_t cap = 0, len = 0, n = 0;
	struct pvma *v = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (getline(&line, &len, f) > 0) {
		struct pvma *p;
		unsigned long long s, e, off;
		char perms[8];
		int pos = 0;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s%n", &s, &e, perms,
			   &off, &pos) < 4)
			continue;
		if (n == cap) {
			struct pvma *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv)
				break;
			v = nv;
		}
		p = &v[n++];
		memset(p, 0, sizeof(*p));
		p->start = s;
		p->end = e;
		p->offset = off;
		memcpy(p->perms, perms, sizeof(p->perms) - 1);
		p->perms[sizeof(p->perms) - 1] = 0;
		while (line[pos] == ' ')
			pos++;
		snprintf(p->path, sizeof(p->path), "%s", line + pos);
		p->path[strcspn(p->path, "\n")] = 0;
	}
	free(line);
	fclose(f);
	*out = v;
	*nr = n;
	return 0;
}

int proc_pagemap_open(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

static int pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len) {
		ssize_t r = pread(fd, p, len, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
		off += r;
	}
	return 0;
}

int proc_pagemap_read(int fd, uint64_t vpn, uint64_t n, uint64_t *out)
{
	return pread_all(fd, out, n * 8, (off_t)(vpn * 8));
}

int proc_scan(int fd, uint64_t start, uint64_t end, uint64_t mask,
	      uint64_t ret_mask,
	      void (*fn)(void *ctx, uint64_t start, uint64_t end, uint64_t cat),
	      void *ctx)
{
	struct page_region vec[64];
	struct pm_scan_arg arg;

	while (start < end) {
		long r;

		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.start = start;
		arg.end = end;
		arg.vec = (uintptr_t)vec;
		arg.vec_len = 64;
		arg.category_mask = mask;
		arg.return_mask = ret_mask;
		r = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (r < 0)
			return -1;
		for (long i = 0; i < r; i++)
			fn(ctx, vec[i].start, vec[i].end, vec[i].categories);
		if (arg.walk_end <= start)
			break;
		start = arg.walk_end;
	}
	return 0;
}

struct huge_ctx {
	void (*fn)(void *ctx, uint64_t start, uint64_t end);
	void *ctx;
};

static void huge_cb(void *ctx, uint64_t start, uint64_t end, uint64_t cat)
{
	struct huge_ctx *h = ctx;

	(void)cat;
	h->fn(h->ctx, start, end);
}

int proc_huge_ranges(int fd, uint64_t start, uint64_t end,
		     void (*fn)(void *ctx, uint64_t start, uint64_t end),
		     void *ctx)
{
	struct huge_ctx h = { fn, ctx };

	return proc_scan(fd, start, end, PAGE_IS_HUGE, PAGE_IS_HUGE, huge_cb,
			 &h);
}

int kpage_open(char *err, size_t errlen)
{
	if (kflags_fd >= 0)
		return 0;
	kflags_fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	kcount_fd = open("/proc/kpagecount", O_RDONLY | O_CLOEXEC);
	if (kflags_fd < 0 || kcount_fd < 0) {
		snprintf(err, errlen,
			 "cannot open /proc/kpageflags and /proc/kpagecount: "
			 "%s",
			 strerror(errno));
		kpage_close();
		return -1;
	}
	return 0;
}

void kpage_close(void)
{
	if (kflags_fd >= 0)
		close(kflags_fd);
	if (kcount_fd >= 0)
		close(kcount_fd);
	kflags_fd = kcount_fd = -1;
}

int kpage_flags(uint64_t pfn, uint64_t n, uint64_t *out)
{
	return pread_all(kflags_fd, out, n * 8, (off_t)(pfn * 8));
}

int kpage_count(uint64_t pfn, uint64_t n, uint64_t *out)
{
	return pread_all(kcount_fd, out, n * 8, (off_t)(pfn * 8));
}

static bool field(const char *line, const char *key, uint64_t *v)
{
	size_t n = strlen(key);
	unsigned long long x;

	if (strncmp(line, key, n) || line[n] != ':')
		return false;
	if (sscanf(line + n + 1, "%llu", &x) != 1)
		return false;
	*v = x;
	return true;
}

int proc_smaps(pid_t pid, struct psmaps **out, size_t *nr)
{
	char path[64], *line = NULL;
	size_t cap = 0, len = 0, n = 0;
	struct psmaps *v = NULL, *cur = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (getline(&line, &len, f) > 0) {
		unsigned long long s, e;
		uint64_t x;
		char c;

		if (sscanf(line, "%llx-%llx %c", &s, &e, &c) == 3 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			if (n == cap) {
				struct psmaps *nv;

				cap = cap ? cap * 2 : 64;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv)
					break;
				v = nv;
			}
			cur = &v[n++];
			memset(cur, 0, sizeof(*cur));
			cur->start = s;
			cur->end = e;
			continue;
		}
		if (!cur)
			continue;
		if (field(line, "Rss", &x))
			cur->rss = x;
		else if (field(line, "Anonymous", &x))
			cur->anonymous = x;
		else if (field(line, "Private_Clean", &x) ||
			 field(line, "Private_Dirty", &x))
			cur->private_kb += x;
	}
	free(line);
	fclose(f);
	*out = v;
	*nr = n;
	return 0;
}

int proc_rollup(pid_t pid, uint64_t *anon_kb, uint64_t *pss_anon_kb)
{
	char path[64], *line = NULL;
	size_t len = 0;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (getline(&line, &len, f) > 0) {
		if (field(line, "Anonymous", anon_kb))
			found |= 1;
		else if (field(line, "Pss_Anon", pss_anon_kb))
			found |= 2;
	}
	free(line);
	fclose(f);
	return found == 3 ? 0 : -1;
}

void proc_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f || !fgets(buf, (int)len, f))
		snprintf(buf, len, "?");
	else
		buf[strcspn(buf, "\n")] = 0;
	if (f)
		fclose(f);
}
