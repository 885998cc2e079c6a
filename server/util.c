// SPDX-License-Identifier: MIT
/*
 * util.c - what every part of mapcountd uses: the configuration, the log,
 * clocks, error bodies, hashes and UTF-8 repair.  Apart from main.c so
 * that the server's code links into other programs (the fuzz target of
 * the upload path, tests/fuzz/fuzz_upload.c).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mapcountd.h"

struct srv_config cfg;

void srv_log(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "mapcountd: %s\n", buf);
}

char *srv_now_iso(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

double srv_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

json_t *json_error_body(const char *error, const char *detail)
{
	return json_pack("{s:s,s:s?}", "error", error, "detail", detail);
}

int sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
		return -1;
	for (unsigned int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned int c = s[0], need, min;
	unsigned long cp;

	if (c < 0x80)
		return c ? 1 : 0;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
		min = 0x80;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		min = 0x800;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		min = 0x10000;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	for (unsigned int i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

char *utf8_repair(char *dst, size_t len, const char *src)
{
	static const char rep[] = "\xef\xbf\xbd"; /* U+FFFD */
	const unsigned char *s = (const unsigned char *)src;
	size_t n = strlen(src), o = 0;

	if (!len)
		return dst;
	while (n) {
		size_t k = utf8_seq(s, n);
		const char *from = k ? (const char *)s : rep;
		size_t m = k ? k : 3;

		if (o + m + 1 > len)
			break;
		memcpy(dst + o, from, m);
		o += m;
		s += k ? k : 1;
		n -= k ? k : 1;
	}
	dst[o] = 0;
	return dst;
}

unsigned int errno_status(int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return 507;
	if (e == EROFS)
		return 503;
	return 500;
}

const char *status_error(unsigned int status)
{
	return status == 507   ? "insufficient storage"
	       : status == 503 ? "unavailable"
			       : "internal error";
}
