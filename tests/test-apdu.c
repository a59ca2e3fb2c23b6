/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <string.h>

#include "ql-apdu.h"
#include "ql-test-script.h"

static void
test_apdu_cla(void)
{
	/* ISO 7816-4: channels 1-3 in b1-b2; 4-19 in the extended form with b7 set */
	g_assert_cmphex(ql_apdu_cla(0, TRUE), ==, 0x80);
	g_assert_cmphex(ql_apdu_cla(1, TRUE), ==, 0x81);
	g_assert_cmphex(ql_apdu_cla(3, TRUE), ==, 0x83);
	g_assert_cmphex(ql_apdu_cla(4, TRUE), ==, 0xC0);
	g_assert_cmphex(ql_apdu_cla(19, TRUE), ==, 0xCF);
	g_assert_cmphex(ql_apdu_cla(1, FALSE), ==, 0x01);
	g_assert_cmphex(ql_apdu_cla(5, FALSE), ==, 0x41);
	for (guint8 ch = 0; ch <= 19; ch++) {
		g_assert_cmpuint(ql_apdu_cla_channel(ql_apdu_cla(ch, TRUE)), ==, ch);
		g_assert_cmpuint(ql_apdu_cla_channel(ql_apdu_cla(ch, FALSE)), ==, ch);
	}
}

typedef struct {
	gsize len;
	guint blocks;
	gsize last_block_len;
} SegCase;

static void
test_apdu_segmentation(void)
{
	const SegCase cases[] = {
		{0, 1, 0}, {1, 1, 1}, {255, 1, 255}, {256, 2, 1}, {510, 2, 255}, {511, 3, 1},
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree guint8 *data = g_malloc(cases[i].len + 1);
		g_autoptr(GPtrArray) apdus = NULL;
		g_autoptr(GByteArray) joined = g_byte_array_new();

		for (gsize j = 0; j < cases[i].len; j++)
			data[j] = (guint8)(j * 7 + 3);
		apdus = ql_apdu_store_data_build(2, data, cases[i].len, 255);
		g_test_message("payload %" G_GSIZE_FORMAT, cases[i].len);
		g_assert_cmpuint(apdus->len, ==, cases[i].blocks);
		for (guint b = 0; b < apdus->len; b++) {
			gsize n;
			const guint8 *a = g_bytes_get_data(g_ptr_array_index(apdus, b), &n);
			gboolean last = b + 1 == apdus->len;
			gsize lc = n > 5 ? a[4] : 0;
			g_assert_cmphex(a[0], ==, 0x82);
			g_assert_cmphex(a[1], ==, 0xE2);
			g_assert_cmphex(a[2], ==, last ? 0x91 : 0x11);
			g_assert_cmpuint(a[3], ==, b);
			if (last) {
				/* header, [Lc data], Le=00 */
				g_assert_cmpuint(n, ==, 4 + (lc > 0 ? 1 + lc : 0) + 1);
				g_assert_cmphex(a[n - 1], ==, 0x00);
				g_assert_cmpuint(lc, ==, cases[i].last_block_len);
			} else {
				g_assert_cmpuint(lc, ==, 255);
				g_assert_cmpuint(n, ==, 5 + 255);
			}
			if (lc > 0)
				g_byte_array_append(joined, a + 5, (guint)lc);
		}
		g_assert_cmpmem(joined->data, joined->len, data, cases[i].len);
	}
}

/* ISO/IEC 7816-4 5.1: 00 and a two-byte Lc, the data, a two-byte Le (00 00: 65536) on the last */
static void
test_apdu_extended(void)
{
	const gsize lens[] = {1, 300, 65535, 65536, 70000};
	for (gsize i = 0; i < G_N_ELEMENTS(lens); i++) {
		g_autofree guint8 *data = g_malloc(lens[i]);
		g_autoptr(GPtrArray) apdus = NULL;
		g_autoptr(GByteArray) joined = g_byte_array_new();

		for (gsize j = 0; j < lens[i]; j++)
			data[j] = (guint8)(j * 13 + 1);
		apdus = ql_apdu_store_data_build_full(1, data, lens[i], QL_APDU_EXTENDED_MAX_DATA,
						      TRUE);
		g_assert_cmpuint(apdus->len, ==, (lens[i] + 65534) / 65535);
		for (guint b = 0; b < apdus->len; b++) {
			gsize n;
			const guint8 *a = g_bytes_get_data(g_ptr_array_index(apdus, b), &n);
			gboolean last = b + 1 == apdus->len;
			gsize lc = ((gsize)a[5] << 8) | a[6];
			g_assert_cmphex(a[0], ==, 0x81);
			g_assert_cmphex(a[2], ==, last ? 0x91 : 0x11);
			g_assert_cmpuint(a[3], ==, b);
			g_assert_cmphex(a[4], ==, 0x00);
			g_assert_cmpuint(n, ==, 7 + lc + (last ? 2 : 0));
			if (last) {
				g_assert_cmphex(a[n - 2], ==, 0x00);
				g_assert_cmphex(a[n - 1], ==, 0x00);
			}
			g_byte_array_append(joined, a + 7, (guint)lc);
		}
		g_assert_cmpmem(joined->data, joined->len, data, lens[i]);
	}
}

/* What an ATR says of extended lengths: the card capabilities in its historical bytes */
static void
test_apdu_atr(void)
{
	const struct {
		const gchar *atr;
		gboolean extended;
	} cases[] = {
		{"3B850180730000404A", TRUE},	      /* T=1, category 80, 73 with b7 of byte 3 */
		{"3B850180730000000A", FALSE},	      /* the same without it */
		{"3B80800101", FALSE},		      /* no historical bytes */
		{"3B8880018031C07300C0400005", TRUE}, /* another object first: 31 (service data) */
		{"3B8A8001007300C040000090009F", TRUE}, /* category 00: status bytes at the end */
		{"3BFF", FALSE},			/* cut short */
		{"3B8580018073", FALSE},		/* historical bytes cut short */
		{"", FALSE},
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GBytes) atr = ql_hex_decode(cases[i].atr, NULL);
		g_test_message("ATR %s", cases[i].atr);
		g_assert_cmpint(ql_apdu_atr_extended_length(
					atr != NULL ? g_bytes_get_data(atr, NULL) : NULL,
					atr != NULL ? g_bytes_get_size(atr) : 0),
				==, cases[i].extended);
	}
}

static void
test_apdu_block_size(void)
{
	QlTestScript *s = ql_test_script_new(1);
	g_autoptr(QlDevice) dev = NULL;
	g_autoptr(QlChannel) ch = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) resp = NULL;
	const guint8 data[] = {0xBF, 0x3E, 0x03, 0x5C, 0x01, 0x5A};

	/* ?block=4: the EID request in two blocks */
	ql_test_script_add(s, "81E2110004BF3E035C", "9000");
	ql_test_script_add(s, "81E2910102015A00", "BF3E035A01AA9000");
	ch = ql_test_script_channel(s, "block=4", &dev);
	g_assert_cmpuint(ql_channel_get_block_size(ch), ==, 4);
	resp = ql_apdu_store_data(ch, data, sizeof(data), &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(resp), ==, 6);
	g_assert_cmpuint(ql_channel_get_stats(ch)->apdus, ==, 2);
	ql_test_script_assert_done(s);
	g_clear_pointer(&ch, ql_channel_free);
	g_assert_cmpuint(s->open_channels, ==, 0);
	ql_test_script_free(s);
}

static void
test_apdu_bad_block_param(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) p = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	QlDevice *dev;
	g_hash_table_insert(p, g_strdup("block"), g_strdup("0"));
	dev = ql_device_new_for_plugin(&ql_test_script_plugin, "x", p, &error);
	g_assert_null(dev);
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
}

static void
test_apdu_get_response(void)
{
	QlTestScript *s = ql_test_script_new(1);
	g_autoptr(QlDevice) dev = NULL;
	g_autoptr(QlChannel) ch = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) resp = NULL;
	g_autofree gchar *hex = NULL;

	/* data with 61xx, then GET RESPONSE with Le=xx on the same channel, twice */
	ql_test_script_add(s, "81E2910003BF2D0000", "BF2D06A0046102");
	ql_test_script_add(s, "81C0000002", "E3026103");
	ql_test_script_add(s, "81C0000003", "5A01019000");
	ch = ql_test_script_channel(s, NULL, &dev);
	resp = ql_apdu_store_data(ch, (const guint8 *)"\xBF\x2D\x00", 3, &error);
	g_assert_no_error(error);
	hex = ql_hex_encode(g_bytes_get_data(resp, NULL), g_bytes_get_size(resp));
	g_assert_cmpstr(hex, ==, "BF2D06A004E3025A0101");
	g_assert_cmpuint(ql_channel_get_stats(ch)->apdus, ==, 3);
	ql_test_script_assert_done(s);
	g_clear_pointer(&ch, ql_channel_free);
	ql_test_script_free(s);
}

static void
test_apdu_wrong_le(void)
{
	QlTestScript *s = ql_test_script_new(3);
	g_autoptr(QlDevice) dev = NULL;
	g_autoptr(QlChannel) ch = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) resp = NULL;

	/* 6Cxx: repeat the same command with Le=xx */
	ql_test_script_add(s, "83E2910003BF200000", "6C05");
	ql_test_script_add(s, "83E2910003BF200005",
			   "BF20028200"
			   "9000");
	/* and within GET RESPONSE */
	ql_test_script_add(s, "83E2910003BF220000", "6102");
	ql_test_script_add(s, "83C0000002", "6C01");
	ql_test_script_add(s, "83C0000001", "BF9000");
	ch = ql_test_script_channel(s, NULL, &dev);
	resp = ql_apdu_store_data(ch, (const guint8 *)"\xBF\x20\x00", 3, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(resp), ==, 5);
	g_clear_pointer(&resp, g_bytes_unref);
	resp = ql_apdu_store_data(ch, (const guint8 *)"\xBF\x22\x00", 3, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(resp), ==, 1);
	ql_test_script_assert_done(s);
	g_clear_pointer(&ch, ql_channel_free);
	ql_test_script_free(s);
}

typedef struct {
	const gchar *reply;
	gint code;
	const gchar *message_part;
} SwCase;

static void
test_apdu_status_errors(void)
{
	const SwCase cases[] = {
		{"6A88", QL_ERROR_CARD, "6A88 (referenced data not found)"},
		{"6A82", QL_ERROR_CARD, "application not found"},
		{"6F00", QL_ERROR_CARD, "6F00"},
		{"9F", QL_ERROR_MALFORMED, "no status word"},
		{"", QL_ERROR_MALFORMED, "no status word"},
	};
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		QlTestScript *s = ql_test_script_new(1);
		g_autoptr(QlDevice) dev = NULL;
		g_autoptr(QlChannel) ch = NULL;
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) resp = NULL;

		ql_test_script_add(s, "81E2910003BF200000", cases[i].reply);
		ch = ql_test_script_channel(s, NULL, &dev);
		resp = ql_apdu_store_data(ch, (const guint8 *)"\xBF\x20\x00", 3, &error);
		g_assert_null(resp);
		g_assert_error(error, QL_ERROR, cases[i].code);
		g_assert_nonnull(strstr(error->message, cases[i].message_part));
		g_clear_pointer(&ch, ql_channel_free);
		g_assert_cmpuint(s->open_channels, ==, 0);
		ql_test_script_free(s);
	}
}

static void
test_apdu_intermediate_block_error(void)
{
	QlTestScript *s = ql_test_script_new(1);
	g_autoptr(QlDevice) dev = NULL;
	g_autoptr(QlChannel) ch = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) resp = NULL;
	guint8 data[300] = {0};

	/* the card refuses the first block: the second is never sent */
	ql_test_script_add(s, "*", "6A80");
	ch = ql_test_script_channel(s, NULL, &dev);
	resp = ql_apdu_store_data(ch, data, sizeof(data), &error);
	g_assert_null(resp);
	g_assert_error(error, QL_ERROR, QL_ERROR_CARD);
	ql_test_script_assert_done(s);
	g_clear_pointer(&ch, ql_channel_free);
	ql_test_script_free(s);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ql/apdu/cla", test_apdu_cla);
	g_test_add_func("/ql/apdu/segmentation", test_apdu_segmentation);
	g_test_add_func("/ql/apdu/extended", test_apdu_extended);
	g_test_add_func("/ql/apdu/atr", test_apdu_atr);
	g_test_add_func("/ql/apdu/block-size", test_apdu_block_size);
	g_test_add_func("/ql/apdu/bad-block-param", test_apdu_bad_block_param);
	g_test_add_func("/ql/apdu/get-response", test_apdu_get_response);
	g_test_add_func("/ql/apdu/wrong-le", test_apdu_wrong_le);
	g_test_add_func("/ql/apdu/status-errors", test_apdu_status_errors);
	g_test_add_func("/ql/apdu/intermediate-block-error", test_apdu_intermediate_block_error);
	return g_test_run();
}
