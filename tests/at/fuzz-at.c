/*
 * libFuzzer target for the AT answer parser: the input is what a modem sends back; its first
 * byte picks the chunking and whether a bare session id counts as an answer.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "ql-at-parser.h"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	QlAtParser p;
	gsize chunk, off = 1;
	gboolean final = FALSE;

	if (size < 1)
		return 0;
	chunk = (data[0] & 0x3f) + 1;
	ql_at_parser_init(&p, (data[0] & 0x40) ? "+CCHO:" : "+CGLA:", (data[0] & 0x80) != 0);
	while (off < size && !final) {
		gsize n = MIN(chunk, size - off);
		final = ql_at_parser_feed(&p, data + off, n, NULL);
		off += n;
	}
	if (ql_at_parser_check(&p, "AT+FUZZ", NULL)) {
		g_autoptr(GBytes) r = ql_at_parse_cgla(p.info[0], NULL);
		guint32 session;
		ql_at_parse_ccho(p.info[0], &session, NULL);
	}
	for (guint i = 0; i < p.n_info; i++) {
		g_autoptr(GBytes) r = ql_at_parse_cgla(p.info[i], NULL);
	}
	ql_at_parser_clear(&p);
	return 0;
}
