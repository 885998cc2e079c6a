/* SPDX-License-Identifier: MIT */
/* cli.h - the `mapcount` command's subcommands and shared helpers. */
#ifndef MAPCOUNT_CLI_H
#define MAPCOUNT_CLI_H

#include "trace.h"

/* Exit statuses shared by every subcommand. */
#define EXIT_OK	       0
#define EXIT_FAILED    1 /* a check or a gate failed */
#define EXIT_BAD_INPUT 2 /* bad usage or bad input */

int cmd_convert(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_record(int argc, char **argv);

/* "WHERE: KIND: msg" for the reader's current event, in buf:
 * FILE:LINE:COL for text, FILE: byte OFFSET for binary. */
char *cli_event_where(char *buf, size_t len, const struct mct_reader *r,
		      const char *path, const struct mct_event *ev,
		      const char *msg);
/* A trace's display name: its header's name=, else the file's base name
 * without the .mct* extension. */
const char *cli_trace_name(const struct mct_reader *r, const char *path,
			   char *buf, size_t len);

#endif /* MAPCOUNT_CLI_H */
