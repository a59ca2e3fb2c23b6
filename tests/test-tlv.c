/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-tlv.h"

static GBytes *
hex(const gchar *h)
{
	g_autoptr(GError) error = NULL;
	GBytes *b = ql_hex_decode(h, &error);
	g_assert_no_error(error);
	return b;
}

static gchar *
to_hex(GBytes *b)
{
	return ql_hex_encode(g_bytes_get_data(b, NULL), g_bytes_get_size(b));
}

static void
test_tlv_tags(void)
{
	/* single, two- and three-byte tags round-trip */
	const guint32 tags[] = {0x5A, 0x80, 0xA0, 0xBF3E, 0x5F49, 0x9F70, 0xBF8120, 0x7F21};
	for (gsize i = 0; i < G_N_ELEMENTS(tags); i++) {
		g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
		g_autoptr(GBytes) out = NULL;
		g_autoptr(GError) error = NULL;
		QlTlv tlv;
		guint8 v = 0x42;
		ql_tlv_builder_add(b, tags[i], &v, 1);
		out = ql_tlv_builder_finish(g_steal_pointer(&b));
		g_assert_true(ql_tlv_read_exact(g_bytes_get_data(out, NULL), g_bytes_get_size(out),
						tags[i], &tlv, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(tlv.tag, ==, tags[i]);
		g_assert_cmpuint(tlv.len, ==, 1);
		g_assert_cmpuint(tlv.value[0], ==, 0x42);
		g_assert_cmpuint(tlv.raw_len, ==, ql_tlv_tag_size(tags[i]) + 2);
	}
	g_assert_true(ql_tlv_tag_is_constructed(0xBF3E));
	g_assert_true(ql_tlv_tag_is_constructed(0xA0));
	g_assert_true(ql_tlv_tag_is_constructed(0xE3));
	g_assert_false(ql_tlv_tag_is_constructed(0x5A));
	g_assert_false(ql_tlv_tag_is_constructed(0x5F49));
	g_assert_false(ql_tlv_tag_is_constructed(0x9F70));
	g_assert_true(ql_tlv_tag_is_constructed(0x7F21));
}

static void
test_tlv_lengths(void)
{
	/* the length forms at their boundaries */
	const gsize lens[] = {0, 1, 127, 128, 255, 256, 65535, 65536};
	const gsize hdr[] = {1, 1, 1, 2, 2, 3, 3, 4};
	for (gsize i = 0; i < G_N_ELEMENTS(lens); i++) {
		g_autofree guint8 *data = g_malloc0(lens[i] + 1);
		g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
		g_autoptr(GBytes) out = NULL;
		g_autoptr(GError) error = NULL;
		QlTlv tlv;
		for (gsize j = 0; j < lens[i]; j++)
			data[j] = (guint8)j;
		ql_tlv_builder_add(b, 0x86, data, lens[i]);
		out = ql_tlv_builder_finish(g_steal_pointer(&b));
		g_assert_cmpuint(g_bytes_get_size(out), ==, 1 + hdr[i] + lens[i]);
		g_assert_true(ql_tlv_read_exact(g_bytes_get_data(out, NULL), g_bytes_get_size(out),
						0x86, &tlv, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(tlv.len, ==, lens[i]);
		g_assert_cmpmem(tlv.value, tlv.len, data, lens[i]);
	}
}

static void
test_tlv_nesting(void)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) out = NULL;
	g_autofree gchar *h = NULL;
	g_autoptr(GError) error = NULL;
	QlTlv top, child, uid;
	g_autofree gchar *s = NULL;
	gint64 v = 0;

	ql_tlv_builder_begin(b, 0xBF3E);
	ql_tlv_builder_begin(b, 0x5C);
	ql_tlv_builder_add_raw(b, (const guint8 *)"\x5a", 1);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	out = ql_tlv_builder_finish(g_steal_pointer(&b));
	h = to_hex(out);
	/* the EID request body of SGP.22 / ModemManager */
	g_assert_cmpstr(h, ==, "BF3E035C015A");

	b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, 0xE3);
	ql_tlv_builder_add_string(b, 0x90, "Work");
	ql_tlv_builder_add(b, 0xDF01, (const guint8 *)"??", 2); /* unknown: must be skipped */
	ql_tlv_builder_add_int(b, 0x80, -129);
	ql_tlv_builder_add_int(b, 0x81, 128);
	ql_tlv_builder_end(b);
	g_clear_pointer(&out, g_bytes_unref);
	out = ql_tlv_builder_finish(g_steal_pointer(&b));
	g_assert_true(ql_tlv_read_exact(g_bytes_get_data(out, NULL), g_bytes_get_size(out), 0xE3,
					&top, &error));
	g_assert_true(ql_tlv_require(&top, 0x90, "nickname", &child, &error));
	s = ql_tlv_get_string(&child);
	g_assert_cmpstr(s, ==, "Work");
	g_assert_true(ql_tlv_find(&top, 0x80, &child, &error));
	g_assert_true(ql_tlv_get_int(&child, &v, &error));
	g_assert_cmpint(v, ==, -129);
	g_assert_cmpuint(child.len, ==, 2);
	g_assert_true(ql_tlv_find(&top, 0x81, &child, &error));
	g_assert_true(ql_tlv_get_int(&child, &v, &error));
	g_assert_cmpint(v, ==, 128);
	g_assert_cmpuint(child.len, ==, 2);
	g_assert_false(ql_tlv_find(&top, 0x5A, &uid, &error));
	g_assert_no_error(error);
	g_assert_false(ql_tlv_require(&top, 0x5A, "ICCID", &uid, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
	g_assert_nonnull(strstr(error->message, "ICCID"));
}

typedef struct {
	const gchar *name;
	const gchar *hex;
	const gchar *message_part;
} MalformedCase;

static void
test_tlv_malformed(void)
{
	const MalformedCase cases[] = {
		{"empty", "", "empty"},
		{"truncated tag", "BF", "truncated tag"},
		{"truncated multi-byte tag", "BF81", "truncated tag"},
		{"tag too long", "BF8181818101", "longer than 4"},
		{"no length", "5A", "truncated length"},
		{"truncated long length", "5A82 01", "truncated length"},
		{"indefinite", "BF2080 0000", "indefinite"},
		{"length field too long", "5A85 0000000001 00", "too long"},
		{"over-long length", "5A05 0102", "exceeds"},
		{"over-long 2-byte length", "5A820100 00", "exceeds"},
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GBytes) b = hex(cases[i].hex);
		g_autoptr(GError) error = NULL;
		QlTlv tlv;
		g_test_message("case: %s", cases[i].name);
		g_assert_false(ql_tlv_read(g_bytes_get_data(b, NULL), g_bytes_get_size(b), &tlv,
					   NULL, &error));
		g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
		g_assert_nonnull(strstr(error->message, cases[i].message_part));
	}
}

static void
test_tlv_wrong_tag(void)
{
	g_autoptr(GBytes) b = hex("BF2D 03 A0 01 00");
	g_autoptr(GError) error = NULL;
	QlTlv tlv;
	/* declared child length 1 but only "00" (tag without length) inside */
	g_assert_false(ql_tlv_read_exact(g_bytes_get_data(b, NULL), g_bytes_get_size(b), 0xBF3E,
					 &tlv, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
	g_assert_nonnull(strstr(error->message, "expected tag BF3E"));
	g_clear_error(&error);
	/* trailing garbage after the outer TLV */
	g_clear_pointer(&b, g_bytes_unref);
	b = hex("5A01AA FF");
	g_assert_false(ql_tlv_read_exact(g_bytes_get_data(b, NULL), g_bytes_get_size(b), 0x5A, &tlv,
					 &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
}

static void
test_tlv_validate(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) good = hex("BF2D 08 A0 06 E3 04 5A 02 1234");
	g_autoptr(GBytes) bad_child = hex("BF2D 05 A0 03 E3 05 5A");
	GByteArray *deep = g_byte_array_new();
	guint8 leaf[] = {0x80, 0x00};
	g_autoptr(GBytes) deep_bytes = NULL;

	g_assert_true(ql_tlv_validate(g_bytes_get_data(good, NULL), g_bytes_get_size(good),
				      QL_TLV_MAX_DEPTH, &error));
	g_assert_no_error(error);
	g_assert_false(ql_tlv_validate(g_bytes_get_data(bad_child, NULL),
				       g_bytes_get_size(bad_child), QL_TLV_MAX_DEPTH, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
	g_clear_error(&error);

	/* 40 nested A0s: a hostile card must not make us recurse without bound */
	g_byte_array_append(deep, leaf, 2);
	for (guint i = 0; i < 40; i++) {
		g_autoptr(GByteArray) wrap = g_byte_array_new();
		ql_tlv_put_tag(wrap, 0xA0);
		ql_tlv_put_len(wrap, deep->len);
		g_byte_array_append(wrap, deep->data, deep->len);
		g_byte_array_set_size(deep, 0);
		g_byte_array_append(deep, wrap->data, wrap->len);
	}
	deep_bytes = g_byte_array_free_to_bytes(deep);
	g_assert_false(ql_tlv_validate(g_bytes_get_data(deep_bytes, NULL),
				       g_bytes_get_size(deep_bytes), QL_TLV_MAX_DEPTH, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
	g_assert_nonnull(strstr(error->message, "nesting"));
	g_clear_error(&error);
	g_assert_true(ql_tlv_validate(g_bytes_get_data(deep_bytes, NULL),
				      g_bytes_get_size(deep_bytes), 64, &error));
}

static void
test_tlv_iccid(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) bcd = ql_iccid_to_bcd("8944476500001224158", &error);
	g_autofree gchar *h = to_hex(bcd);
	g_autofree gchar *back = NULL;
	g_assert_cmpstr(h, ==, "984474560000214251F8");
	back = ql_iccid_from_bcd(g_bytes_get_data(bcd, NULL), g_bytes_get_size(bcd));
	g_assert_cmpstr(back, ==, "8944476500001224158");
	g_assert_null(ql_iccid_to_bcd("89ab", &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ql/tlv/tags", test_tlv_tags);
	g_test_add_func("/ql/tlv/lengths", test_tlv_lengths);
	g_test_add_func("/ql/tlv/nesting", test_tlv_nesting);
	g_test_add_func("/ql/tlv/malformed", test_tlv_malformed);
	g_test_add_func("/ql/tlv/wrong-tag", test_tlv_wrong_tag);
	g_test_add_func("/ql/tlv/validate", test_tlv_validate);
	g_test_add_func("/ql/tlv/iccid", test_tlv_iccid);
	return g_test_run();
}
