/* SPDX-License-Identifier: MIT */
/* remote.h - replays through a mapcountd (mapcount replay --server). */
#ifndef MAPCOUNT_REMOTE_H
#define MAPCOUNT_REMOTE_H

#include <jansson.h>

#include "policy.h"

/*
 * Upload path (as name) to the mapcountd at server (http://HOST:PORT)
 * unless it has it, get its comparison for the policies on arch (waiting for
 * the replay when it is not cached), and return the trace's report object
 * ("file" = path), or NULL with a message in err.
 */
json_t *remote_replay(const char *server, const char *path, const char *name,
		      const struct mc_policy *const *pols, uint32_t nr,
		      uint32_t arch, char *err, size_t len);

#endif /* MAPCOUNT_REMOTE_H */
