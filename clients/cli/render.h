/* SPDX-License-Identifier: MIT */
/* render.h - replay documents as text, Markdown and JUnit XML. */
#ifndef MAPCOUNT_RENDER_H
#define MAPCOUNT_RENDER_H

#include <jansson.h>
#include <stdio.h>

#include "gates.h"

void render_text(FILE *out, json_t *doc, const struct gate_failure *f,
		 size_t nr);
void render_markdown(FILE *out, json_t *doc, const struct gate_failure *f,
		     size_t nr);
/* One testsuite per trace, one testcase per (policy, gate) of gates (or
 * per policy when no gate is asked for). */
void render_junit(FILE *out, json_t *doc, unsigned int gates,
		  const struct gate_failure *f, size_t nr);

#endif /* MAPCOUNT_RENDER_H */
