/*
 * libFuzzer target for the BER-TLV codec: arbitrary bytes read, read exactly, validated and
 * walked, and whatever reads back re-encoded and read again, which must give the same TLV.
 * Built with -Dfuzzing=true (clang); seeds in tests/data/fuzz-tlv/, e.g.
 *   build-fuzz/tests/fuzz-tlv -max_total_time=240 CORPUS-DIR tests/data/fuzz-tlv
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-tlv.h"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);

/* Walks @len bytes as a run of TLVs, into constructed ones down to @depth levels, using every
 * accessor on each element. */
static void
fuzz_walk(const guint8 *buf, gsize len, guint depth)
{
	g_autoptr(GError) error = NULL;
	QlTlvIter it;
	QlTlv t;

	ql_tlv_iter_init(&it, buf, len);
	while (ql_tlv_iter_next(&it, &t, &error)) {
		g_autofree gchar *s = ql_tlv_get_string(&t);
		g_autoptr(GBytes) b = ql_tlv_get_bytes(&t);
		g_autofree gchar *hex = ql_hex_encode(t.value, t.len);
		g_autofree gchar *iccid = ql_iccid_from_bcd(t.value, t.len);
		g_autoptr(GError) int_error = NULL;
		gint64 v = 0;
		QlTlv child;

		g_assert(s != NULL);
		g_assert_cmpuint(g_bytes_get_size(b), ==, t.len);
		g_assert_cmpuint(strlen(hex), ==, t.len * 2);
		g_assert(t.raw + t.raw_len == t.value + t.len);
		g_assert(t.raw_len <= len);
		g_assert(strlen(iccid) <= t.len * 2);
		if (ql_tlv_get_int(&t, &v, &int_error)) {
			/* an INTEGER re-encodes minimally to a value that reads back the same */
			g_autoptr(QlTlvBuilder) ib = ql_tlv_builder_new();
			g_autoptr(GBytes) enc = NULL;
			QlTlv back;
			gint64 v2 = 0;
			ql_tlv_builder_add_int(ib, 0x02, v);
			enc = ql_tlv_builder_finish(g_steal_pointer(&ib));
			g_assert(ql_tlv_read_exact(g_bytes_get_data(enc, NULL),
						   g_bytes_get_size(enc), 0x02, &back, NULL));
			g_assert(ql_tlv_get_int(&back, &v2, NULL));
			g_assert_cmpint(v, ==, v2);
			g_assert_cmpuint(back.len, <=, t.len);
		} else {
			g_assert(int_error != NULL);
		}
		/* the tag and length re-encode to a header that reads back the same */
		{
			g_autoptr(GByteArray) hdr = g_byte_array_new();
			QlTlv back;
			gsize used = 0;
			ql_tlv_put_tag(hdr, t.tag);
			ql_tlv_put_len(hdr, t.len);
			g_assert_cmpuint(hdr->len, ==,
					 ql_tlv_tag_size(t.tag) + ql_tlv_len_size(t.len));
			g_byte_array_append(hdr, t.value, (guint)t.len);
			g_assert(ql_tlv_read(hdr->data, hdr->len, &back, &used, NULL));
			g_assert_cmpuint(back.tag, ==, t.tag);
			g_assert_cmpuint(back.len, ==, t.len);
			g_assert_cmpuint(used, ==, hdr->len);
		}
		(void)ql_tlv_find(&t, 0x80, &child, NULL);
		if (depth > 0 && ql_tlv_tag_is_constructed(t.tag))
			fuzz_walk(t.value, t.len, depth - 1);
	}
	g_assert(error == NULL || it.left > 0);
}

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) exact_error = NULL;
	g_autoptr(GError) valid_error = NULL;
	QlTlv t, e;
	gsize used = 0;
	gboolean valid;

	if (ql_tlv_read(data, size, &t, &used, &error)) {
		g_assert_cmpuint(used, <=, size);
		g_assert_cmpuint(used, ==, t.raw_len);
		g_assert(t.raw == data);
		g_assert(t.value + t.len == data + used);
	} else {
		g_assert(error != NULL);
	}
	if (ql_tlv_read_exact(data, size, 0, &e, &exact_error))
		g_assert_cmpuint(e.raw_len, ==, size);
	else
		g_assert(exact_error != NULL);

	valid = ql_tlv_validate(data, size, QL_TLV_MAX_DEPTH, &valid_error);
	g_assert(valid == (valid_error == NULL));
	(void)ql_tlv_validate(data, size, 2, NULL);
	fuzz_walk(data, size, valid ? QL_TLV_MAX_DEPTH : 4);

	/* the text helpers on the same bytes, as a NUL-terminated string */
	{
		g_autofree gchar *text = g_strndup((const gchar *)data, size);
		g_autoptr(GBytes) hex = ql_hex_decode(text, NULL);
		g_autoptr(GBytes) bcd = ql_iccid_to_bcd(text, NULL);
		g_assert(hex == NULL || g_bytes_get_size(hex) <= size / 2);
		if (bcd != NULL) {
			g_autofree gchar *back = ql_iccid_from_bcd(g_bytes_get_data(bcd, NULL),
								   g_bytes_get_size(bcd));
			g_assert_cmpstr(back, ==, text);
		}
	}
	return 0;
}
