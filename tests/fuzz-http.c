/*
 * libFuzzer target for the HTTP response parser: the one-shot parse, and the same bytes fed
 * in pieces whose sizes come from the input, which must agree with it.
 * Not wired into meson yet; build by hand with clang -fsanitize=fuzzer,address.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "quantra-l/ql-error.h"
#include "ql-http.h"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	g_autoptr(GError) error_once = NULL;
	g_autoptr(GError) error_split = NULL;
	g_autoptr(QlHttpResponse) once = NULL;
	g_autoptr(QlHttpParser) p = NULL;
	gsize max_body;
	gsize pos = 1;
	gboolean ok = TRUE;

	if (size < 1)
		return 0;
	/* the first byte picks a small body limit so the limit paths are reached */
	max_body = (gsize)data[0] * 16;
	once = ql_http_parse_response(data + 1, size - 1, max_body, &error_once);
	g_assert((once == NULL) == (error_once != NULL));

	p = ql_http_parser_new(max_body);
	while (pos < size && ok && !ql_http_parser_is_done(p)) {
		gsize piece = MIN((gsize)(data[pos] % 7) + 1, size - pos);
		gsize used = 0;
		ok = ql_http_parser_feed(p, data + pos, piece, &used, &error_split);
		g_assert(!ok || used <= piece);
		pos += ok ? used : 0;
	}
	if (ok && !ql_http_parser_is_done(p))
		ok = ql_http_parser_finish(p, &error_split);
	if (ok) {
		g_autoptr(QlHttpResponse) r = ql_http_parser_steal_response(p);
		g_assert(r != NULL);
		g_assert(g_bytes_get_size(r->body) <= max_body);
	}
	return 0;
}
