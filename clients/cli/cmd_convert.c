// SPDX-License-Identifier: MIT
/*
 * cmd_convert.c - `mapcount convert`: re-encode a trace (text, binary, zst).
 * The output appears only when the whole input converted.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] = "usage: mapcount convert [--to text|binary|zst] "
			    "IN OUT\n";

static int bad_usage(const char *fmt, const char *arg)
{
	fputs("mapcount convert: ", stderr);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage);
	return EXIT_BAD_INPUT;
}

static int parse_to(const char *s, enum mct_encoding *enc)
{
	static const char *const names[] = { "text", "binary", "zst" };
	int i;

	for (i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*enc = (enum mct_encoding)i;
			return 0;
		}
	return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* .mct.txt, .txt: text; .mct.zst, .zst: zst; .mct: binary. */
static int enc_of_path(const char *path, enum mct_encoding *enc)
{
	if (ends_with(path, ".txt"))
		*enc = MCT_ENC_TEXT;
	else if (ends_with(path, ".zst"))
		*enc = MCT_ENC_ZSTD;
	else if (ends_with(path, ".mct"))
		*enc = MCT_ENC_BINARY;
	else
		return -1;
	return 0;
}

static int convert(struct mct_reader *r, const char *out, enum mct_encoding enc)
{
	struct mct_names names = mct_reader_names(r);
	struct mct_event ev;
	struct mct_writer *w;
	char err[512];
	int ret;

	w = mct_writer_open(out, enc, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "mapcount convert: %s\n", err);
		return EXIT_FAILED;
	}
	ret = mct_write_header(w, mct_header(r));
	while (!ret && (ret = mct_next(r, &ev)) > 0)
		ret = mct_write_event(w, &ev, &names);
	if (ret < 0) {
		int saved = errno;

		mct_writer_abort(w);
		errno = saved;
	} else {
		ret = mct_writer_close(w);
	}
	if (ret < 0 && mct_error(r)) {
		fprintf(stderr, "mapcount convert: %s\n", mct_error(r));
		return EXIT_BAD_INPUT;
	}
	if (ret < 0) {
		fprintf(stderr, "mapcount convert: %s: write error: %s\n", out,
			strerror(errno));
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

int cmd_convert(int argc, char **argv)
{
	const char *to = NULL, *paths[2];
	enum mct_encoding enc;
	struct mct_reader *r;
	int i, n = 0, ret;
	char err[512];

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--to")) {
			if (i + 1 == argc)
				return bad_usage("%s", "--to needs a value");
			to = argv[++i];
		} else if (!strncmp(a, "--to=", 5)) {
			to = a + 5;
		} else if (a[0] == '-' && a[1]) {
			return bad_usage("unknown option '%s'", a);
		} else if (n == 2) {
			return bad_usage("unexpected argument '%s'", a);
		} else {
			paths[n++] = a;
		}
	}
	if (n < 2)
		return bad_usage("%s", "missing IN or OUT");
	if (to && parse_to(to, &enc))
		return bad_usage("bad --to '%s': expected text, binary or zst",
				 to);
	if (!to && enc_of_path(paths[1], &enc))
		return bad_usage("cannot tell the encoding of '%s' from its "
				 "name (.mct.txt, .mct or .mct.zst): use --to",
				 paths[1]);
	r = mct_open(paths[0], err, sizeof(err));
	if (!r) {
		fprintf(stderr, "mapcount convert: %s\n", err);
		return EXIT_BAD_INPUT;
	}
	ret = convert(r, paths[1], enc);
	mct_close(r);
	return ret;
}
