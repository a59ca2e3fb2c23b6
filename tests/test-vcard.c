/*
 * The virtual eUICC, driven purely with command APDUs written from ISO/IEC 7816-4, GP and
 * SGP.22, as an LPA would send them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <gmodule.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "quantra-l/ql-plugin.h"
#include "ql-apdu.h"
#include "ql-crypto.h"
#include "ql-es10b.h"
#include "ql-pki.h"
#include "ql-tlv.h"
#include "ql-vcard.h"

#define ISDR_AID "A0000005591010FFFFFFFF8900000100"

/* ---- helpers ---- */

typedef struct {
	gchar *dir;
	gchar *state;
} Tmp;

static void
rm_rf(const gchar *path)
{
	if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
		g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
		const gchar *name;
		while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
			g_autofree gchar *child = g_build_filename(path, name, NULL);
			rm_rf(child);
		}
	}
	g_remove(path);
}

static void
tmp_init(Tmp *t)
{
	g_autoptr(GError) error = NULL;
	t->dir = g_dir_make_tmp("ql-vcard-XXXXXX", &error);
	g_assert_no_error(error);
	t->state = g_build_filename(t->dir, "card.json", NULL);
}

static void
tmp_clear(Tmp *t)
{
	rm_rf(t->dir);
	g_free(t->dir);
	g_free(t->state);
}

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

static QlVcard *
card_new(const gchar *state, const gchar *identity)
{
	g_autoptr(GError) error = NULL;
	QlVcard *card = ql_vcard_open(state, identity, &error);
	g_assert_no_error(error);
	g_assert_nonnull(card);
	return card;
}

/* One APDU given as hex; returns the whole response as upper-case hex */
static gchar *
apdu(QlVcard *card, const gchar *cmd)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) c = hex(cmd);
	g_autoptr(GBytes) r =
		ql_vcard_transmit(card, g_bytes_get_data(c, NULL), g_bytes_get_size(c), &error);
	g_assert_no_error(error);
	g_assert_nonnull(r);
	g_assert_cmpuint(g_bytes_get_size(r), >=, 2);
	return to_hex(r);
}

#define assert_apdu(card, cmd, want)                                                               \
	do {                                                                                       \
		g_autofree gchar *_r = apdu(card, cmd);                                            \
		g_assert_cmpstr(_r, ==, want);                                                     \
	} while (0)

/* MANAGE CHANNEL open + SELECT ISD-R; returns the channel */
static guint8
open_isdr(QlVcard *card)
{
	g_autofree gchar *r = apdu(card, "0070000001");
	g_autofree gchar *sel = NULL;
	g_autofree gchar *rs = NULL;
	guint8 ch;
	g_assert_cmpuint(strlen(r), ==, 6);
	g_assert_true(g_str_has_suffix(r, "9000"));
	ch = (guint8)(g_ascii_xdigit_value(r[0]) * 16 + g_ascii_xdigit_value(r[1]));
	g_assert_cmpuint(ch, >=, 1);
	g_assert_cmpuint(ch, <=, 19);
	sel = g_strdup_printf("%02XA4040010" ISDR_AID "00", ql_apdu_cla(ch, FALSE));
	rs = apdu(card, sel);
	/* FCI: 6F .. 84 10 <ISD-R AID> */
	g_assert_true(g_str_has_prefix(rs, "6F"));
	g_assert_nonnull(strstr(rs, "8410" ISDR_AID));
	g_assert_true(g_str_has_suffix(rs, "9000"));
	return ch;
}

static void
close_channel(QlVcard *card, guint8 ch)
{
	g_autofree gchar *cmd = g_strdup_printf("007080%02X", ch);
	assert_apdu(card, cmd, "9000");
}

/* Sends an ES10 command as STORE DATA blocks (GP 11.11, SGP.22 5.7.1) and collects the answer
 * through 61xx / GET RESPONSE. *sw gets the final status word (NULL: must be 9000). */
static GBytes *
es10_sw(QlVcard *card, guint8 ch, const gchar *cmd_hex, guint16 *sw_out)
{
	g_autoptr(GBytes) cmd = hex(cmd_hex);
	g_autoptr(GByteArray) out = g_byte_array_new();
	gsize len = 0;
	const guint8 *p = g_bytes_get_data(cmd, &len);
	gsize nblocks = (len + 254) / 255;
	g_autoptr(GBytes) r = NULL;
	guint16 sw = 0;

	for (gsize i = 0; i < nblocks; i++) {
		g_autoptr(GByteArray) a = g_byte_array_new();
		g_autoptr(GError) error = NULL;
		gsize n = MIN(255, len - i * 255);
		guint8 hdr[5] = {ql_apdu_cla(ch, TRUE), 0xE2, i + 1 == nblocks ? 0x91 : 0x11,
				 (guint8)i, (guint8)n};
		const guint8 le = 0;
		const guint8 *rp;
		gsize rlen;
		g_byte_array_append(a, hdr, 5);
		g_byte_array_append(a, p + i * 255, (guint)n);
		g_byte_array_append(a, &le, 1);
		g_clear_pointer(&r, g_bytes_unref);
		r = ql_vcard_transmit(card, a->data, a->len, &error);
		g_assert_no_error(error);
		rp = g_bytes_get_data(r, &rlen);
		g_assert_cmpuint(rlen, >=, 2);
		sw = (guint16)(rp[rlen - 2] << 8 | rp[rlen - 1]);
		if (i + 1 < nblocks)
			g_assert_cmphex(sw, ==, 0x9000);
	}
	for (;;) {
		gsize rlen;
		const guint8 *rp = g_bytes_get_data(r, &rlen);
		g_autoptr(GError) error = NULL;
		guint8 get[5] = {ql_apdu_cla(ch, TRUE), 0xC0, 0x00, 0x00, 0x00};
		sw = (guint16)(rp[rlen - 2] << 8 | rp[rlen - 1]);
		g_byte_array_append(out, rp, (guint)rlen - 2);
		if ((sw & 0xFF00) != 0x6100)
			break;
		get[4] = sw & 0xff;
		g_clear_pointer(&r, g_bytes_unref);
		r = ql_vcard_transmit(card, get, sizeof(get), &error);
		g_assert_no_error(error);
	}
	if (sw_out != NULL)
		*sw_out = sw;
	else
		g_assert_cmphex(sw, ==, 0x9000);
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

static GBytes *
es10(QlVcard *card, guint8 ch, const gchar *cmd_hex)
{
	return es10_sw(card, ch, cmd_hex, NULL);
}

static void
parse(GBytes *b, guint32 tag, QlTlv *out)
{
	g_autoptr(GError) error = NULL;
	g_assert_true(ql_tlv_read_exact(g_bytes_get_data(b, NULL), g_bytes_get_size(b), tag, out,
					&error));
	g_assert_no_error(error);
	g_assert_true(ql_tlv_validate(out->value, out->len, QL_TLV_MAX_DEPTH, &error));
	g_assert_no_error(error);
}

static gboolean
child(const QlTlv *parent, guint32 tag, QlTlv *out)
{
	g_autoptr(GError) error = NULL;
	gboolean ok = ql_tlv_find(parent, tag, out, &error);
	g_assert_no_error(error);
	return ok;
}

static gint64
child_int(const QlTlv *parent, guint32 tag)
{
	g_autoptr(GError) error = NULL;
	QlTlv t;
	gint64 v = -1;
	g_assert_true(child(parent, tag, &t));
	g_assert_true(ql_tlv_get_int(&t, &v, &error));
	g_assert_no_error(error);
	return v;
}

static gchar *
child_str(const QlTlv *parent, guint32 tag)
{
	QlTlv t;
	if (!child(parent, tag, &t))
		return NULL;
	return ql_tlv_get_string(&t);
}

static gchar *
child_hex(const QlTlv *parent, guint32 tag)
{
	QlTlv t;
	if (!child(parent, tag, &t))
		return NULL;
	return ql_hex_encode(t.value, t.len);
}

/* the children of @parent, as an array of QlTlv */
static GArray *
children(const QlTlv *parent)
{
	g_autoptr(GError) error = NULL;
	GArray *arr = g_array_new(FALSE, FALSE, sizeof(QlTlv));
	QlTlvIter it;
	QlTlv t;
	ql_tlv_iter_init_value(&it, parent);
	while (ql_tlv_iter_next(&it, &t, &error))
		g_array_append_val(arr, t);
	g_assert_no_error(error);
	return arr;
}

/* ES10 result code of a {TAG {80 result}} answer */
static gint64
es10_result(QlVcard *card, guint8 ch, const gchar *cmd, guint32 tag)
{
	g_autoptr(GBytes) r = es10(card, ch, cmd);
	QlTlv top;
	parse(r, tag, &top);
	return child_int(&top, 0x80);
}

static gboolean
luhn_ok(const gchar *digits)
{
	gsize n = strlen(digits);
	guint sum = 0;
	for (gsize i = 0; i < n; i++) {
		guint d = (guint)(digits[n - 1 - i] - '0');
		if (i % 2 == 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return sum % 10 == 0;
}

static guint
mod97(const gchar *digits)
{
	guint r = 0;
	for (const gchar *p = digits; *p != '\0'; p++)
		r = (r * 10 + (guint)(*p - '0')) % 97;
	return r;
}

/* ProfileInfoList: the E3 entries, with @filter (hex of the request's content, may be "") */
static GBytes *
profile_list(QlVcard *card, guint8 ch, const gchar *content)
{
	g_autofree gchar *cmd = NULL;
	g_autoptr(GBytes) c = hex(content);
	gsize n = g_bytes_get_size(c);
	cmd = n < 0x80 ? g_strdup_printf("BF2D%02X%s", (guint)n, content)
		       : g_strdup_printf("BF2D81%02X%s", (guint)n, content);
	return es10(card, ch, cmd);
}

static gchar *
iccid_of(const QlTlv *e3)
{
	QlTlv t;
	g_assert_true(child(e3, 0x5A, &t));
	g_assert_cmpuint(t.len, ==, 10);
	return ql_iccid_from_bcd(t.value, t.len);
}

/* the ICCID (as BCD hex for requests) of the n-th (0-based) listed profile */
static gchar *
nth_iccid_bcd(QlVcard *card, guint8 ch, guint n)
{
	g_autoptr(GBytes) r = profile_list(card, ch, "");
	g_autoptr(GArray) items = NULL;
	QlTlv top, list;
	parse(r, 0xBF2D, &top);
	g_assert_true(child(&top, 0xA0, &list));
	items = children(&list);
	g_assert_cmpuint(n, <, items->len);
	return child_hex(&g_array_index(items, QlTlv, n), 0x5A);
}

static gint64
nth_state(QlVcard *card, guint8 ch, guint n)
{
	g_autoptr(GBytes) r = profile_list(card, ch, "");
	g_autoptr(GArray) items = NULL;
	QlTlv top, list;
	parse(r, 0xBF2D, &top);
	g_assert_true(child(&top, 0xA0, &list));
	items = children(&list);
	return child_int(&g_array_index(items, QlTlv, n), 0x9F70);
}

/* ---- tests ---- */

static void
test_vcard_eid(void)
{
	Tmp t;
	g_autoptr(QlVcard) card = NULL;
	g_autofree gchar *want = NULL;
	const gchar *eid;

	tmp_init(&t);
	card = card_new(t.state, NULL);
	eid = ql_vcard_get_eid(card);
	g_assert_nonnull(eid);
	/* SGP.29: 32 digits, "89", ISO 7064 Mod 97-10 check: the number mod 97 is 1 */
	g_assert_cmpuint(strlen(eid), ==, 32);
	g_assert_true(g_str_has_prefix(eid, "89"));
	for (const gchar *p = eid; *p; p++)
		g_assert_true(g_ascii_isdigit(*p));
	g_assert_cmpuint(mod97(eid), ==, 1);

	/* exactly what ModemManager and Hermes send (channel 1) */
	assert_apdu(card, "0070000001", "019000");
	{
		g_autofree gchar *r = apdu(card, "01A4040010" ISDR_AID "00");
		g_assert_true(g_str_has_prefix(r, "6F"));
		g_assert_true(g_str_has_suffix(r, "9000"));
	}
	want = g_strdup_printf("BF3E125A10%s9000", eid);
	assert_apdu(card, "81E2910006BF3E035C015A00", want);
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 1);
	assert_apdu(card, "00708001", "9000");
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	/* the channel is gone */
	assert_apdu(card, "81E2910006BF3E035C015A00", "6881");
	tmp_clear(&t);
}

static void
test_vcard_channels(void)
{
	Tmp t;
	g_autoptr(QlVcard) card = NULL;
	guint8 ch;

	tmp_init(&t);
	card = card_new(t.state, NULL);

	/* all 19 logical channels, then no more */
	for (guint i = 1; i <= 19; i++) {
		g_autofree gchar *want = g_strdup_printf("%02X9000", i);
		assert_apdu(card, "0070000001", want);
	}
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 19);
	assert_apdu(card, "0070000001", "6A81");
	/* extended CLA: channel 4 is 40 / C0, channel 19 is 4F / CF */
	{
		g_autofree gchar *r = apdu(card, "40A4040010" ISDR_AID "00");
		g_assert_true(g_str_has_suffix(r, "9000"));
		r = (g_free(r), apdu(card, "4FA4040010" ISDR_AID "00"));
		g_assert_true(g_str_has_suffix(r, "9000"));
		r = (g_free(r), apdu(card, "C0E2910006BF3E035C015A00"));
		g_assert_true(g_str_has_prefix(r, "BF3E125A10"));
		r = (g_free(r), apdu(card, "CFE2910006BF3E035C015A00"));
		g_assert_true(g_str_has_prefix(r, "BF3E125A10"));
	}
	/* STORE DATA on a channel where the ISD-R is not selected */
	assert_apdu(card, "C1E2910006BF3E035C015A00", "6985");
	for (guint i = 1; i <= 19; i++)
		close_channel(card, (guint8)i);
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);

	/* closed channel, twice-closed channel, channel 0 cannot be closed */
	assert_apdu(card, "02A4040010" ISDR_AID "00", "6881");
	assert_apdu(card, "00708002", "6881");
	assert_apdu(card, "00708000", "6A86");
	/* MANAGE CHANNEL with an unknown P1 */
	assert_apdu(card, "0070400001", "6A86");

	ch = open_isdr(card);
	{
		g_autofree gchar *c = NULL;
		/* unknown instruction */
		c = g_strdup_printf("%02XCA00FE00", ql_apdu_cla(ch, TRUE));
		assert_apdu(card, c, "6D00");
		/* STORE DATA needs the GP (proprietary) class, SELECT the interindustry one */
		g_free(c);
		c = g_strdup_printf("%02XE2910006BF3E035C015A00", ql_apdu_cla(ch, FALSE));
		assert_apdu(card, c, "6E00");
		g_free(c);
		c = g_strdup_printf("%02XA4040010" ISDR_AID "00", ql_apdu_cla(ch, TRUE));
		assert_apdu(card, c, "6E00");
		assert_apdu(card, "FFA4040010" ISDR_AID "00", "6E00");
		/* secure messaging and chaining bits are refused */
		g_free(c);
		c = g_strdup_printf("%02XE2910006BF3E035C015A00", ql_apdu_cla(ch, TRUE) | 0x04);
		assert_apdu(card, c, "6882");
		g_free(c);
		c = g_strdup_printf("%02XE2910006BF3E035C015A00", ql_apdu_cla(ch, TRUE) | 0x10);
		assert_apdu(card, c, "6884");
		/* an unknown AID */
		g_free(c);
		c = g_strdup_printf("%02XA4040010A0000005591010FFFFFFFF8900000999",
				    ql_apdu_cla(ch, FALSE));
		assert_apdu(card, c, "6A82");
		/* Lc that does not match the data */
		g_free(c);
		c = g_strdup_printf("%02XE2910007BF3E035C015A", ql_apdu_cla(ch, TRUE));
		assert_apdu(card, c, "6700");
		assert_apdu(card, "81E2", "6700");
		/* STORE DATA: block 1 before block 0, an unknown P1, no data */
		g_free(c);
		c = g_strdup_printf("%02XE2910106BF3E035C015A00", ql_apdu_cla(ch, TRUE));
		assert_apdu(card, c, "6A86");
		g_free(c);
		c = g_strdup_printf("%02XE2010006BF3E035C015A00", ql_apdu_cla(ch, TRUE));
		assert_apdu(card, c, "6A86");
		g_free(c);
		c = g_strdup_printf("%02XE2910000", ql_apdu_cla(ch, TRUE));
		assert_apdu(card, c, "6700");
		/* GET RESPONSE with nothing pending */
		g_free(c);
		c = g_strdup_printf("%02XC0000000", ql_apdu_cla(ch, TRUE));
		assert_apdu(card, c, "6985");
		/* a two-block command whose second block skips a number is refused, and the card
		 * is ready for a fresh command afterwards */
		g_free(c);
		c = g_strdup_printf("%02XE2110003BF3E03", ql_apdu_cla(ch, TRUE));
		assert_apdu(card, c, "9000");
		g_free(c);
		c = g_strdup_printf("%02XE29102035C015A00", ql_apdu_cla(ch, TRUE));
		assert_apdu(card, c, "6A86");
		g_free(c);
		c = g_strdup_printf("%02XE2110003BF3E03", ql_apdu_cla(ch, TRUE));
		assert_apdu(card, c, "9000");
		g_free(c);
		c = g_strdup_printf("%02XE29101035C015A00", ql_apdu_cla(ch, TRUE));
		{
			g_autofree gchar *r = apdu(card, c);
			g_assert_true(g_str_has_prefix(r, "BF3E125A10"));
			g_assert_true(g_str_has_suffix(r, "9000"));
		}
	}
	close_channel(card, ch);
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	tmp_clear(&t);
}

/* ql_vcard_open/close_logical_channel: a terminal's MANAGE CHANNEL + SELECT, and its close */
static void
test_vcard_logical_channels(void)
{
	Tmp t;
	g_autoptr(QlVcard) card = NULL;
	g_autoptr(GBytes) isdr = NULL;
	g_autoptr(GBytes) unknown = hex("A0000005591010FFFFFFFF8900000999");
	g_autoptr(GError) error = NULL;
	guint8 ch = 0xFF;
	guint16 sw = 0;

	tmp_init(&t);
	card = card_new(t.state, NULL);
	isdr = hex(ISDR_AID);

	/* channels 1, 2, ... each with the ISD-R's FCI, collected from 61xx pieces */
	ql_vcard_set_chunk_size(card, 7);
	for (guint i = 1; i <= 3; i++) {
		g_autoptr(GBytes) fci = NULL;
		g_autofree gchar *fci_hex = NULL;
		g_autofree gchar *es10 = NULL;
		g_autofree gchar *r = NULL;
		g_assert_true(ql_vcard_open_logical_channel(card, g_bytes_get_data(isdr, NULL),
							    g_bytes_get_size(isdr), 0x00, &ch, &fci,
							    &sw, &error));
		g_assert_no_error(error);
		g_assert_cmphex(sw, ==, 0x9000);
		g_assert_cmpuint(ch, ==, i);
		g_assert_nonnull(fci);
		fci_hex = to_hex(fci);
		/* FCI: 6F .. 84 10 <ISD-R AID> .. || 9000 */
		g_assert_true(g_str_has_prefix(fci_hex, "6F"));
		g_assert_nonnull(strstr(fci_hex, "8410" ISDR_AID));
		g_assert_true(g_str_has_suffix(fci_hex, "9000"));
		g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, i);
		/* the ISD-R is selected there: an ES10 command (GetEuiccData) works */
		es10 = g_strdup_printf("%02XE2910006BF3E035C015A00", ql_apdu_cla(ch, TRUE));
		r = apdu(card, es10);
		g_assert_true(g_str_has_prefix(r, "BF3E"));
	}
	ql_vcard_set_chunk_size(card, QL_VCARD_DEFAULT_CHUNK);

	/* P2 0C: no FCI asked, none given */
	{
		g_autoptr(GBytes) fci = NULL;
		g_assert_true(ql_vcard_open_logical_channel(card, g_bytes_get_data(isdr, NULL),
							    g_bytes_get_size(isdr), 0x0C, &ch, &fci,
							    &sw, &error));
		g_assert_no_error(error);
		g_assert_cmphex(sw, ==, 0x9000);
		g_assert_cmpuint(ch, ==, 4);
		g_assert_cmpuint(g_bytes_get_size(fci), ==, 2);
	}

	/* an unknown AID: 6A82, and the channel the SELECT was refused on is closed again */
	{
		g_autoptr(GBytes) fci = NULL;
		g_assert_true(ql_vcard_open_logical_channel(card, g_bytes_get_data(unknown, NULL),
							    g_bytes_get_size(unknown), 0x00, &ch,
							    &fci, &sw, &error));
		g_assert_no_error(error);
		g_assert_cmphex(sw, ==, 0x6A82);
		g_assert_cmpuint(ch, ==, 5);
		g_assert_null(fci);
		g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 4);
	}

	/* close works once; the second close is refused: 6881, the channel is not open */
	for (guint8 i = 1; i <= 4; i++) {
		g_assert_true(ql_vcard_close_logical_channel(card, i, &sw, &error));
		g_assert_no_error(error);
		g_assert_cmphex(sw, ==, 0x9000);
	}
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	g_assert_true(ql_vcard_close_logical_channel(card, 2, &sw, &error));
	g_assert_no_error(error);
	g_assert_cmphex(sw, ==, 0x6881);
	/* channel 0 cannot be closed */
	g_assert_true(ql_vcard_close_logical_channel(card, 0, &sw, &error));
	g_assert_cmphex(sw, ==, 0x6A86);

	/* every channel in use: MANAGE CHANNEL refuses with 6A81 and no channel is named */
	for (guint i = 1; i <= QL_VCARD_MAX_CHANNELS; i++) {
		g_assert_true(ql_vcard_open_logical_channel(card, g_bytes_get_data(isdr, NULL),
							    g_bytes_get_size(isdr), 0x00, &ch, NULL,
							    &sw, &error));
		g_assert_cmphex(sw, ==, 0x9000);
		g_assert_cmpuint(ch, ==, i);
	}
	g_assert_true(ql_vcard_open_logical_channel(card, g_bytes_get_data(isdr, NULL),
						    g_bytes_get_size(isdr), 0x00, &ch, NULL, &sw,
						    &error));
	g_assert_no_error(error);
	g_assert_cmphex(sw, ==, 0x6A81);
	g_assert_cmpuint(ch, ==, 0);
	for (guint8 i = 1; i <= QL_VCARD_MAX_CHANNELS; i++)
		g_assert_true(ql_vcard_close_logical_channel(card, i, NULL, &error));
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	tmp_clear(&t);
}

static void
test_vcard_info(void)
{
	Tmp t;
	g_autoptr(QlVcard) card = NULL;
	g_autoptr(GBytes) r1 = NULL;
	g_autoptr(GBytes) r2 = NULL;
	g_autofree gchar *svn = NULL;
	g_autofree gchar *v1 = NULL;
	g_autofree gchar *v2 = NULL;
	g_autofree gchar *sas = NULL;
	QlTlv top, a9, aa, ext, sk;
	guint8 ch;

	tmp_init(&t);
	card = card_new(t.state, NULL);
	ch = open_isdr(card);

	r1 = es10(card, ch, "BF2000");
	parse(r1, 0xBF20, &top);
	svn = child_hex(&top, 0x82);
	g_assert_cmpstr(svn, ==, "020202");
	g_assert_true(child(&top, 0xA9, &a9));
	g_assert_true(child(&top, 0xAA, &aa));
	/* one CI (its own), a 20-byte subject key id, the same in both lists */
	g_assert_true(child(&a9, 0x04, &sk));
	g_assert_cmpuint(sk.len, ==, 20);
	v1 = ql_hex_encode(a9.value, a9.len);

	r2 = es10(card, ch, "BF2200");
	parse(r2, 0xBF22, &top);
	g_assert_true(child(&top, 0x81, &sk));
	g_assert_cmpuint(sk.len, ==, 3);
	g_free(svn);
	svn = child_hex(&top, 0x82);
	g_assert_cmpstr(svn, ==, "020202");
	g_assert_true(child(&top, 0x83, &sk));
	g_assert_true(child(&top, 0x84, &ext));
	g_assert_cmpint(child_int(&ext, 0x81), ==, 0);		/* no profile installed */
	g_assert_cmpint(child_int(&ext, 0x82), >, 1024 * 1024); /* free NVM */
	g_assert_cmpint(child_int(&ext, 0x83), >, 0);		/* free RAM */
	g_assert_true(child(&top, 0x85, &sk));
	g_assert_true(child(&top, 0x88, &sk));
	/* rspCapability: additionalProfile(0) and testProfileSupport(3) */
	g_assert_cmpuint(sk.len, ==, 2);
	g_assert_cmphex(sk.value[1] & 0x90, ==, 0x90);
	g_assert_true(child(&top, 0xA9, &a9));
	g_assert_true(child(&top, 0xAA, &aa));
	v2 = ql_hex_encode(a9.value, a9.len);
	g_assert_cmpstr(v1, ==, v2);
	/* ppVersion and sasAcreditationNumber are untagged: universal 04 and 0C */
	g_assert_true(child(&top, 0x04, &sk));
	g_assert_cmpuint(sk.len, ==, 3);
	sas = child_str(&top, 0x0C);
	g_assert_nonnull(sas);

	/* challenge: 16 fresh bytes each time */
	{
		g_autoptr(GBytes) c1 = es10(card, ch, "BF2E00");
		g_autoptr(GBytes) c2 = es10(card, ch, "BF2E00");
		g_autofree gchar *h1 = NULL;
		g_autofree gchar *h2 = NULL;
		parse(c1, 0xBF2E, &top);
		h1 = child_hex(&top, 0x80);
		parse(c2, 0xBF2E, &top);
		h2 = child_hex(&top, 0x80);
		g_assert_cmpuint(strlen(h1), ==, 32);
		g_assert_cmpstr(h1, !=, h2);
	}
	/* GetRAT: one rule (pprIds, allowedOperators, pprFlags) */
	{
		g_autoptr(GBytes) rat = es10(card, ch, "BF4300");
		QlTlv list, rule, ops;
		parse(rat, 0xBF43, &top);
		g_assert_true(child(&top, 0xA0, &list));
		g_assert_true(child(&list, 0x30, &rule));
		g_assert_true(child(&rule, 0x80, &sk));
		g_assert_true(child(&rule, 0xA1, &ops));
		g_assert_true(child(&rule, 0x82, &sk));
	}
	close_channel(card, ch);
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	tmp_clear(&t);
}

static void
test_vcard_profiles(void)
{
	Tmp t;
	g_autoptr(QlVcard) card = NULL;
	g_autoptr(GBytes) r = NULL;
	g_autoptr(GArray) items = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *first_iccid = NULL;
	g_autofree gchar *first_aid = NULL;
	QlTlv top, list;
	guint8 ch;

	tmp_init(&t);
	card = card_new(t.state, NULL);
	g_assert_true(ql_vcard_seed(card, 3, &error));
	g_assert_no_error(error);
	ch = open_isdr(card);

	r = es10(card, ch, "BF2D00");
	parse(r, 0xBF2D, &top);
	g_assert_true(child(&top, 0xA0, &list));
	items = children(&list);
	g_assert_cmpuint(items->len, ==, 3);
	for (guint i = 0; i < items->len; i++) {
		QlTlv *e3 = &g_array_index(items, QlTlv, i);
		g_autofree gchar *iccid = iccid_of(e3);
		g_autofree gchar *name = child_str(e3, 0x92);
		g_autofree gchar *spn = child_str(e3, 0x91);
		g_autofree gchar *want_name = g_strdup_printf("Test Profile %u", i + 1);
		g_autofree gchar *aid = child_hex(e3, 0x4F);
		g_autofree gchar *addr = NULL;
		QlTlv icon, b6, cfg, ev, owner;
		g_assert_cmpuint(e3->tag, ==, 0xE3);
		g_assert_cmpuint(strlen(iccid), ==, 20);
		g_assert_true(luhn_ok(iccid));
		g_assert_true(g_str_has_prefix(aid, "A0000005591010FFFFFFFF89"));
		g_assert_cmpuint(strlen(aid), ==, 32);
		g_assert_cmpint(child_int(e3, 0x9F70), ==, 0); /* disabled */
		g_assert_cmpstr(name, ==, want_name);
		g_assert_cmpstr(spn, ==, "Quantra Test");
		g_assert_false(child(e3, 0x90, &icon));	     /* no nickname yet */
		g_assert_cmpint(child_int(e3, 0x93), ==, 1); /* png */
		g_assert_true(child(e3, 0x94, &icon));
		g_assert_cmpuint(icon.len, >, 8);
		g_assert_cmpuint(icon.len, <=, 1024);
		g_assert_true(memcmp(icon.value, "\x89PNG\r\n\x1a\n", 8) == 0);
		g_assert_cmpint(child_int(e3, 0x95), ==, 2); /* operational */
		g_assert_true(child(e3, 0xB6, &b6));
		g_assert_true(child(&b6, 0x30, &cfg));
		g_assert_true(child(&cfg, 0x80, &ev));
		/* install, enable, disable, delete: bits 0-3 -> 04 F0 */
		g_assert_cmpuint(ev.len, ==, 2);
		g_assert_cmphex(ev.value[0], ==, 0x04);
		g_assert_cmphex(ev.value[1], ==, 0xF0);
		addr = child_str(&cfg, 0x81);
		g_assert_cmpstr(addr, ==, "testsmdpplus1.example.com");
		g_assert_true(child(e3, 0xB7, &owner));
		g_assert_true(child(&owner, 0x80, &ev));
		g_assert_cmpuint(ev.len, ==, 3);
		if (i == 0) {
			first_iccid = child_hex(e3, 0x5A);
			first_aid = g_steal_pointer(&aid);
		}
	}
	/* distinct ICCIDs */
	{
		g_autofree gchar *a = iccid_of(&g_array_index(items, QlTlv, 0));
		g_autofree gchar *b = iccid_of(&g_array_index(items, QlTlv, 1));
		g_assert_cmpstr(a, !=, b);
	}

	/* tagList: only the tags asked for */
	{
		g_autoptr(GBytes) r2 = profile_list(card, ch, "5C035A9F70");
		g_autoptr(GArray) it2 = NULL;
		g_autoptr(GArray) fields = NULL;
		parse(r2, 0xBF2D, &top);
		g_assert_true(child(&top, 0xA0, &list));
		it2 = children(&list);
		g_assert_cmpuint(it2->len, ==, 3);
		fields = children(&g_array_index(it2, QlTlv, 0));
		g_assert_cmpuint(fields->len, ==, 2);
		g_assert_cmphex(g_array_index(fields, QlTlv, 0).tag, ==, 0x5A);
		g_assert_cmphex(g_array_index(fields, QlTlv, 1).tag, ==, 0x9F70);
	}
	/* searchCriteria: by ICCID, by ISD-P AID, by class */
	{
		g_autofree gchar *q = g_strdup_printf("A00C5A0A%s", first_iccid);
		g_autoptr(GBytes) r2 = profile_list(card, ch, q);
		g_autoptr(GArray) it2 = NULL;
		g_autofree gchar *got = NULL;
		parse(r2, 0xBF2D, &top);
		g_assert_true(child(&top, 0xA0, &list));
		it2 = children(&list);
		g_assert_cmpuint(it2->len, ==, 1);
		got = child_hex(&g_array_index(it2, QlTlv, 0), 0x5A);
		g_assert_cmpstr(got, ==, first_iccid);
	}
	{
		g_autofree gchar *q = g_strdup_printf("A0124F10%s", first_aid);
		g_autoptr(GBytes) r2 = profile_list(card, ch, q);
		g_autoptr(GArray) it2 = NULL;
		g_autofree gchar *got = NULL;
		parse(r2, 0xBF2D, &top);
		g_assert_true(child(&top, 0xA0, &list));
		it2 = children(&list);
		g_assert_cmpuint(it2->len, ==, 1);
		got = child_hex(&g_array_index(it2, QlTlv, 0), 0x5A);
		g_assert_cmpstr(got, ==, first_iccid);
	}
	{
		g_autoptr(GBytes) r2 = profile_list(card, ch, "A003950100");
		g_autoptr(GBytes) r3 = profile_list(card, ch, "A003950102");
		g_autoptr(GArray) it2 = NULL;
		parse(r2, 0xBF2D, &top);
		g_assert_true(child(&top, 0xA0, &list));
		g_assert_cmpuint(list.len, ==, 0); /* no test-class profile */
		parse(r3, 0xBF2D, &top);
		g_assert_true(child(&top, 0xA0, &list));
		it2 = children(&list);
		g_assert_cmpuint(it2->len, ==, 3);
	}
	/* an unknown ICCID finds nothing; a broken criterion is incorrectInputValues(1) */
	{
		g_autoptr(GBytes) r2 = profile_list(card, ch, "A00C5A0A98001122334455667788");
		g_autoptr(GBytes) r3 = profile_list(card, ch, "A0035A0198");
		parse(r2, 0xBF2D, &top);
		g_assert_true(child(&top, 0xA0, &list));
		g_assert_cmpuint(list.len, ==, 0);
		parse(r3, 0xBF2D, &top);
		g_assert_cmpint(child_int(&top, 0x81), ==, 1);
	}
	/* unknown fields (a later version's extension) are skipped */
	{
		g_autoptr(GBytes) r2 = profile_list(card, ch, "9F7F01005C015A");
		g_autoptr(GArray) it2 = NULL;
		parse(r2, 0xBF2D, &top);
		g_assert_true(child(&top, 0xA0, &list));
		it2 = children(&list);
		g_assert_cmpuint(it2->len, ==, 3);
	}
	close_channel(card, ch);
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	tmp_clear(&t);
}

static void
test_vcard_chaining(void)
{
	Tmp t;
	g_autoptr(QlVcard) card = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) whole = NULL;
	g_autoptr(GByteArray) got = g_byte_array_new();
	g_autofree gchar *cmd = NULL;
	guint8 ch;
	gsize total;
	guint pieces = 0;
	QlTlv top;

	tmp_init(&t);
	card = card_new(t.state, NULL);
	g_assert_true(ql_vcard_seed(card, 3, &error));
	ch = open_isdr(card);

	/* reference: the whole list */
	whole = es10(card, ch, "BF2D00");
	total = g_bytes_get_size(whole);
	g_assert_cmpuint(total, >, 512); /* three icons make it span three pieces */
	parse(whole, 0xBF2D, &top);

	/* case 4 (Le=00): the first 256 bytes at once with 61xx */
	cmd = g_strdup_printf("%02XE2910003BF2D0000", ql_apdu_cla(ch, TRUE));
	{
		g_autofree gchar *r = apdu(card, cmd);
		g_autoptr(GBytes) rb = hex(r);
		gsize n = g_bytes_get_size(rb);
		const guint8 *p = g_bytes_get_data(rb, NULL);
		guint8 sw2;
		g_assert_cmpuint(n, ==, 258);
		g_assert_cmphex(p[256], ==, 0x61);
		g_byte_array_append(got, p, 256);
		sw2 = p[257];
		pieces++;
		/* GET RESPONSE is accepted with the interindustry CLA too */
		while (TRUE) {
			g_autofree gchar *get = g_strdup_printf(
				"%02XC00000%02X", ql_apdu_cla(ch, pieces % 2 == 0), sw2);
			g_autofree gchar *rr = apdu(card, get);
			g_autoptr(GBytes) rrb = hex(rr);
			const guint8 *q = g_bytes_get_data(rrb, &n);
			guint want = sw2 == 0 ? 256 : sw2;
			g_assert_cmpuint(n - 2, ==, want);
			g_byte_array_append(got, q, (guint)n - 2);
			pieces++;
			if (q[n - 2] == 0x90) {
				g_assert_cmphex(q[n - 1], ==, 0x00);
				break;
			}
			g_assert_cmphex(q[n - 2], ==, 0x61);
			sw2 = q[n - 1];
		}
	}
	g_assert_cmpuint(pieces, ==, (total + 255) / 256);
	g_assert_cmpuint(got->len, ==, total);
	{
		g_autofree gchar *h1 = ql_hex_encode(got->data, got->len);
		g_autofree gchar *h2 = to_hex(whole);
		g_assert_cmpstr(h1, ==, h2);
	}

	/* case 3 (no Le): T=0 style, 61xx and no data at all */
	g_free(cmd);
	cmd = g_strdup_printf("%02XE2910003BF2D00", ql_apdu_cla(ch, TRUE));
	assert_apdu(card, cmd, "6100");
	/* another command drops the pending answer */
	{
		g_autofree gchar *c =
			g_strdup_printf("%02XE2910006BF3E035C015A00", ql_apdu_cla(ch, TRUE));
		g_autofree gchar *r = apdu(card, c);
		g_autofree gchar *get = g_strdup_printf("%02XC0000000", ql_apdu_cla(ch, TRUE));
		g_assert_true(g_str_has_suffix(r, "9000"));
		assert_apdu(card, get, "6985");
	}

	/* smaller pieces, and the 6Cxx quirk: Le must be exactly the piece size */
	ql_vcard_set_chunk_size(card, 100);
	ql_vcard_set_quirk_6c(card, TRUE);
	{
		g_autofree gchar *r = apdu(card, cmd);
		g_autofree gchar *get00 = g_strdup_printf("%02XC0000000", ql_apdu_cla(ch, TRUE));
		g_autofree gchar *get64 = g_strdup_printf("%02XC0000064", ql_apdu_cla(ch, TRUE));
		g_autofree gchar *r2 = NULL;
		g_assert_cmpstr(r, ==, "6164");
		assert_apdu(card, get00, "6C64");
		r2 = apdu(card, get64);
		g_assert_cmpuint(strlen(r2), ==, 204);
		g_assert_true(g_str_has_suffix(r2, "6164"));
	}
	/* a full read with an LPA that follows 61xx still gets the same bytes */
	{
		g_autoptr(GBytes) again = es10(card, ch, "BF2D00");
		g_assert_true(g_bytes_equal(again, whole));
	}
	close_channel(card, ch);
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	tmp_clear(&t);
}

static void
test_vcard_enable_disable(void)
{
	Tmp t;
	g_autoptr(QlVcard) card = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *p1 = NULL;
	g_autofree gchar *p2 = NULL;
	g_autofree gchar *p3 = NULL;
	g_autofree gchar *cmd = NULL;
	guint8 ch;

	tmp_init(&t);
	card = card_new(t.state, NULL);
	g_assert_true(ql_vcard_seed(card, 3, &error));
	ch = open_isdr(card);
	p1 = nth_iccid_bcd(card, ch, 0);
	p2 = nth_iccid_bcd(card, ch, 1);
	p3 = nth_iccid_bcd(card, ch, 2);

#define ENABLE(bcd) g_strdup_printf("BF3111A00C5A0A%s810100", bcd)
#define DISABLE(bcd) g_strdup_printf("BF3211A00C5A0A%s810100", bcd)
#define DELETE(bcd) g_strdup_printf("BF330C5A0A%s", bcd)
	/* enable p1: ok(0); again: profileNotInDisabledState(2) */
	cmd = ENABLE(p1);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF31), ==, 0);
	g_assert_cmpint(nth_state(card, ch, 0), ==, 1);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF31), ==, 2);
	/* enabling p2 disables p1: one enabled profile at a time */
	g_free(cmd);
	cmd = ENABLE(p2);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF31), ==, 0);
	g_assert_cmpint(nth_state(card, ch, 0), ==, 0);
	g_assert_cmpint(nth_state(card, ch, 1), ==, 1);
	/* disable a disabled one: profileNotInEnabledState(2) */
	g_free(cmd);
	cmd = DISABLE(p1);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF32), ==, 2);
	/* deleting the enabled profile: profileNotInDisabledState(2) */
	g_free(cmd);
	cmd = DELETE(p2);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF33), ==, 2);
	/* disable p2 by its ISD-P AID */
	{
		g_autoptr(GBytes) r = profile_list(card, ch, "5C014F");
		g_autoptr(GArray) items = NULL;
		g_autofree gchar *aid = NULL;
		g_autofree gchar *c = NULL;
		QlTlv top, list;
		parse(r, 0xBF2D, &top);
		g_assert_true(child(&top, 0xA0, &list));
		items = children(&list);
		aid = child_hex(&g_array_index(items, QlTlv, 1), 0x4F);
		c = g_strdup_printf("BF3217A0124F10%s810100", aid);
		g_assert_cmpint(es10_result(card, ch, c, 0xBF32), ==, 0);
	}
	g_assert_cmpint(nth_state(card, ch, 1), ==, 0);
	/* unknown ICCID / AID: iccidOrAidNotFound(1) */
	g_free(cmd);
	cmd = ENABLE("98001122334455667788");
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF31), ==, 1);
	g_free(cmd);
	cmd = DISABLE("98001122334455667788");
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF32), ==, 1);
	g_assert_cmpint(es10_result(card, ch,
				    "BF3217A0124F10A0000005591010FFFFFFFF8900009900810100", 0xBF32),
			==, 1);
	g_free(cmd);
	cmd = DELETE("98001122334455667788");
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF33), ==, 1);
	/* delete p3 (disabled): ok, gone, and a second delete finds nothing */
	g_free(cmd);
	cmd = DELETE(p3);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF33), ==, 0);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF33), ==, 1);
	g_assert_cmpuint(ql_vcard_get_profile_count(card), ==, 2);

	/* nickname: set, shown as 90, unknown ICCID is iccidNotFound(1) */
	g_free(cmd);
	cmd = g_strdup_printf("BF29125A0A%s9004576F726B", p1);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF29), ==, 0);
	{
		g_autoptr(GBytes) r = profile_list(card, ch, "5C0190");
		g_autoptr(GArray) items = NULL;
		g_autofree gchar *nick = NULL;
		QlTlv top, list;
		parse(r, 0xBF2D, &top);
		g_assert_true(child(&top, 0xA0, &list));
		items = children(&list);
		nick = child_str(&g_array_index(items, QlTlv, 0), 0x90);
		g_assert_cmpstr(nick, ==, "Work");
	}
	g_assert_cmpint(es10_result(card, ch, "BF29125A0A980011223344556677889004576F726B", 0xBF29),
			==, 1);

	/* malformed requests: 6A80, never a crash */
	{
		guint16 sw = 0;
		g_autoptr(GBytes) r1 = es10_sw(card, ch, "BF3103810100", &sw); /* no A0 */
		g_assert_cmphex(sw, ==, 0x6A80);
		g_autoptr(GBytes) r2 = es10_sw(card, ch, "BF3105A0035A0198", &sw); /* bad length */
		g_assert_cmphex(sw, ==, 0x6A80);
		g_autoptr(GBytes) r3 = es10_sw(card, ch, "BF2D055A", &sw); /* truncated */
		g_assert_cmphex(sw, ==, 0x6A80);
		g_autoptr(GBytes) r4 = es10_sw(card, ch, "BF2D00BF2D00", &sw); /* trailing bytes */
		g_assert_cmphex(sw, ==, 0x6A80);
		g_autoptr(GBytes) r5 = es10_sw(card, ch, "BF330A5A0898001122334455", &sw);
		g_assert_cmphex(sw, ==, 0x6A80);
		g_autoptr(GBytes) r6 = es10_sw(card, ch, "BF7F00", &sw); /* unknown function */
		g_assert_cmphex(sw, ==, 0x6A88);
		g_assert_cmpuint(g_bytes_get_size(r1) + g_bytes_get_size(r6), ==, 0);
	}
	close_channel(card, ch);
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	tmp_clear(&t);
}

/* checks the eUICC signature of an OtherSignedNotification (SGP.22 5.7.10) */
static void
check_signed_notification(const QlTlv *osn, const gchar *eid)
{
	g_autoptr(GArray) parts = children(osn);
	g_autoptr(GError) error = NULL;
	gnutls_x509_crt_t crt;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t r, s, der = {NULL, 0}, data;
	QlTlv *meta, *sig, *cert, *eum;
	g_autofree gchar *serial = NULL;

	g_assert_cmpuint(parts->len, ==, 4);
	meta = &g_array_index(parts, QlTlv, 0);
	sig = &g_array_index(parts, QlTlv, 1);
	cert = &g_array_index(parts, QlTlv, 2);
	eum = &g_array_index(parts, QlTlv, 3);
	g_assert_cmphex(meta->tag, ==, 0xBF2F);
	g_assert_cmphex(sig->tag, ==, 0x5F37);
	g_assert_cmpuint(sig->len, ==, 64);
	g_assert_cmphex(cert->tag, ==, 0x30);
	g_assert_cmphex(eum->tag, ==, 0x30);

	crt = ql_pki_crt_from_bytes(cert->raw, cert->raw_len, &error);
	g_assert_no_error(error);
	serial = ql_pki_subject_serial_number(crt);
	g_assert_cmpstr(serial, ==, eid);
	g_assert_cmpint(ql_pki_cert_role(crt), ==, QL_CERT_ROLE_EUICC);
	g_assert_cmpint(gnutls_pubkey_init(&pub), >=, 0);
	g_assert_cmpint(gnutls_pubkey_import_x509(pub, crt, 0), >=, 0);
	r.data = (unsigned char *)sig->value;
	r.size = 32;
	s.data = (unsigned char *)sig->value + 32;
	s.size = 32;
	g_assert_cmpint(gnutls_encode_rs_value(&der, &r, &s), >=, 0);
	data.data = (unsigned char *)meta->raw;
	data.size = (unsigned int)meta->raw_len;
	g_assert_cmpint(gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der),
			>=, 0);
	/* and a changed byte breaks it */
	{
		g_autofree guint8 *copy = g_memdup2(meta->raw, meta->raw_len);
		copy[meta->raw_len - 1] ^= 1;
		data.data = copy;
		g_assert_cmpint(
			gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &data, &der),
			<, 0);
	}
	gnutls_free(der.data);
	gnutls_pubkey_deinit(pub);
	gnutls_x509_crt_deinit(crt);
}

static void
test_vcard_notifications(void)
{
	Tmp t;
	g_autoptr(QlVcard) card = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *p1 = NULL;
	g_autofree gchar *p2 = NULL;
	g_autofree gchar *p1_digits = NULL;
	g_autofree gchar *cmd = NULL;
	g_autoptr(GBytes) r = NULL;
	g_autoptr(GArray) items = NULL;
	QlTlv top, list;
	guint8 ch;
	/* expected queue: enable p1, disable p1 (implicit), enable p2, disable p2, delete p1 */
	const struct {
		guint8 bits; /* 81 value: unused-bits byte, then the bits */
		guint8 unused;
		gboolean first;
	} want[] = {
		{0x40, 6, TRUE},  {0x20, 5, TRUE}, {0x40, 6, FALSE},
		{0x20, 5, FALSE}, {0x10, 4, TRUE},
	};

	tmp_init(&t);
	card = card_new(t.state, NULL);
	g_assert_true(ql_vcard_seed(card, 2, &error));
	ch = open_isdr(card);
	p1 = nth_iccid_bcd(card, ch, 0);
	p2 = nth_iccid_bcd(card, ch, 1);
	{
		g_autoptr(GBytes) b = hex(p1);
		p1_digits = ql_iccid_from_bcd(g_bytes_get_data(b, NULL), 10);
	}

	/* nothing yet */
	r = es10(card, ch, "BF2800");
	parse(r, 0xBF28, &top);
	g_assert_true(child(&top, 0xA0, &list));
	g_assert_cmpuint(list.len, ==, 0);

	cmd = ENABLE(p1);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF31), ==, 0);
	g_free(cmd);
	cmd = ENABLE(p2);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF31), ==, 0);
	g_free(cmd);
	cmd = DISABLE(p2);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF32), ==, 0);
	g_free(cmd);
	cmd = DELETE(p1);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF33), ==, 0);
	/* a refused operation queues nothing */
	g_free(cmd);
	cmd = DISABLE(p2);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF32), ==, 2);
	g_assert_cmpuint(ql_vcard_get_notification_count(card), ==, G_N_ELEMENTS(want));

	g_clear_pointer(&r, g_bytes_unref);
	r = es10(card, ch, "BF2800");
	parse(r, 0xBF28, &top);
	g_assert_true(child(&top, 0xA0, &list));
	items = children(&list);
	g_assert_cmpuint(items->len, ==, G_N_ELEMENTS(want));
	for (guint i = 0; i < items->len; i++) {
		QlTlv *m = &g_array_index(items, QlTlv, i);
		g_autofree gchar *addr = child_str(m, 0x0C);
		g_autofree gchar *iccid = iccid_of(m);
		QlTlv op;
		g_assert_cmphex(m->tag, ==, 0xBF2F);
		/* increasing sequence numbers */
		g_assert_cmpint(child_int(m, 0x80), ==, (gint64)i + 1);
		g_assert_true(child(m, 0x81, &op));
		g_assert_cmpuint(op.len, ==, 2);
		g_assert_cmphex(op.value[0], ==, want[i].unused);
		g_assert_cmphex(op.value[1], ==, want[i].bits);
		g_assert_cmpstr(addr, ==, "testsmdpplus1.example.com");
		if (want[i].first)
			g_assert_cmpstr(iccid, ==, p1_digits);
		else
			g_assert_cmpstr(iccid, !=, p1_digits);
	}
	/* filtered by operation: enable only (bit 1) */
	{
		g_autoptr(GBytes) rf = es10(card, ch, "BF2804810206 40");
		g_autoptr(GArray) f = NULL;
		parse(rf, 0xBF28, &top);
		g_assert_true(child(&top, 0xA0, &list));
		f = children(&list);
		g_assert_cmpuint(f->len, ==, 2);
		g_assert_cmpint(child_int(&g_array_index(f, QlTlv, 0), 0x80), ==, 1);
		g_assert_cmpint(child_int(&g_array_index(f, QlTlv, 1), 0x80), ==, 3);
	}
	/* retrieve all: signed by the eUICC key */
	{
		g_autoptr(GBytes) rr = es10(card, ch, "BF2B00");
		g_autoptr(GArray) all = NULL;
		parse(rr, 0xBF2B, &top);
		g_assert_true(child(&top, 0xA0, &list));
		all = children(&list);
		g_assert_cmpuint(all->len, ==, G_N_ELEMENTS(want));
		for (guint i = 0; i < all->len; i++)
			check_signed_notification(&g_array_index(all, QlTlv, i),
						  ql_vcard_get_eid(card));
	}
	/* retrieve one by seqNumber, then remove it */
	{
		g_autoptr(GBytes) rr = es10(card, ch, "BF2B05A003800103");
		g_autoptr(GArray) one = NULL;
		QlTlv meta;
		parse(rr, 0xBF2B, &top);
		g_assert_true(child(&top, 0xA0, &list));
		one = children(&list);
		g_assert_cmpuint(one->len, ==, 1);
		g_assert_true(child(&g_array_index(one, QlTlv, 0), 0xBF2F, &meta));
		g_assert_cmpint(child_int(&meta, 0x80), ==, 3);
	}
	g_assert_cmpint(es10_result(card, ch, "BF3003800103", 0xBF30), ==, 0);
	g_assert_cmpint(es10_result(card, ch, "BF3003800103", 0xBF30), ==, 1); /* nothingToDelete */
	g_assert_cmpuint(ql_vcard_get_notification_count(card), ==, G_N_ELEMENTS(want) - 1);
	/* gone: noResultAvailable(1) */
	{
		g_autoptr(GBytes) rr = es10(card, ch, "BF2B05A003800103");
		parse(rr, 0xBF2B, &top);
		g_assert_cmpint(child_int(&top, 0x81), ==, 1);
	}
	/* a new operation continues the sequence after the highest ever used */
	g_free(cmd);
	cmd = ENABLE(p2);
	g_assert_cmpint(es10_result(card, ch, cmd, 0xBF31), ==, 0);
	{
		g_autoptr(GBytes) rr = es10(card, ch, "BF2B05A003800106");
		g_autoptr(GArray) one = NULL;
		parse(rr, 0xBF2B, &top);
		g_assert_true(child(&top, 0xA0, &list));
		one = children(&list);
		g_assert_cmpuint(one->len, ==, 1);
	}
	close_channel(card, ch);
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	tmp_clear(&t);
}

static void
test_vcard_addresses_reset(void)
{
	Tmp t;
	g_autoptr(QlVcard) card = NULL;
	g_autoptr(GError) error = NULL;
	guint8 ch;
	QlTlv top;

	tmp_init(&t);
	card = card_new(t.state, NULL);
	g_assert_true(ql_vcard_seed(card, 2, &error));
	ch = open_isdr(card);
	{
		g_autoptr(GBytes) r = es10(card, ch, "BF3C00");
		g_autofree gchar *ds = NULL;
		QlTlv dp;
		parse(r, 0xBF3C, &top);
		g_assert_false(child(&top, 0x80, &dp));
		ds = child_str(&top, 0x81);
		g_assert_cmpstr(ds, ==, "lpa.ds.gsma.com");
	}
	/* SetDefaultDpAddress "smdp.example.com" */
	g_assert_cmpint(es10_result(card, ch, "BF3F128010736D64702E6578616D706C652E636F6D", 0xBF3F),
			==, 0);
	{
		g_autoptr(GBytes) r = es10(card, ch, "BF3C00");
		g_autofree gchar *dp = NULL;
		parse(r, 0xBF3C, &top);
		dp = child_str(&top, 0x80);
		g_assert_cmpstr(dp, ==, "smdp.example.com");
	}
	/* eUICCMemoryReset resetDefaultSmdpAddress(2): ok, then nothing left to do */
	g_assert_cmpint(es10_result(card, ch, "BF3404820205 20", 0xBF34), ==, 0);
	g_assert_cmpint(es10_result(card, ch, "BF3404820205 20", 0xBF34), ==, 1);
	{
		g_autoptr(GBytes) r = es10(card, ch, "BF3C00");
		QlTlv dp;
		parse(r, 0xBF3C, &top);
		g_assert_false(child(&top, 0x80, &dp));
	}
	/* test profiles only: none here; operational: both go, even an enabled one */
	g_assert_cmpint(es10_result(card, ch, "BF3404820206 40", 0xBF34), ==, 1);
	g_assert_cmpuint(ql_vcard_get_profile_count(card), ==, 2);
	{
		g_autofree gchar *p1 = nth_iccid_bcd(card, ch, 0);
		g_autofree gchar *cmd = ENABLE(p1);
		g_assert_cmpint(es10_result(card, ch, cmd, 0xBF31), ==, 0);
	}
	g_assert_cmpint(es10_result(card, ch, "BF3404820207 80", 0xBF34), ==, 0);
	g_assert_cmpuint(ql_vcard_get_profile_count(card), ==, 0);
	close_channel(card, ch);
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	tmp_clear(&t);
}

static void
test_vcard_persistence(void)
{
	Tmp t;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *eid = NULL;
	g_autofree gchar *p1 = NULL;
	g_autofree gchar *p2 = NULL;
	g_autofree gchar *cmd = NULL;
	guint8 ch;

	tmp_init(&t);
	{
		g_autoptr(QlVcard) card = card_new(t.state, NULL);
		g_assert_true(ql_vcard_seed(card, 3, &error));
		eid = g_strdup(ql_vcard_get_eid(card));
		ch = open_isdr(card);
		p1 = nth_iccid_bcd(card, ch, 0);
		p2 = nth_iccid_bcd(card, ch, 1);
		cmd = ENABLE(p2);
		g_assert_cmpint(es10_result(card, ch, cmd, 0xBF31), ==, 0);
		g_free(cmd);
		cmd = DELETE(p1);
		g_assert_cmpint(es10_result(card, ch, cmd, 0xBF33), ==, 0);
		g_free(cmd);
		cmd = g_strdup_printf("BF29125A0A%s9004486F6D65", p2);
		g_assert_cmpint(es10_result(card, ch, cmd, 0xBF29), ==, 0);
		close_channel(card, ch);
	}
	/* the private key does not sit in a world-readable file */
	{
		GStatBuf st;
		g_assert_cmpint(g_stat(t.state, &st), ==, 0);
		g_assert_cmpint(st.st_mode & 0077, ==, 0);
	}
	{
		g_autoptr(QlVcard) card = card_new(t.state, NULL);
		g_autoptr(GBytes) r = NULL;
		g_autoptr(GArray) items = NULL;
		g_autofree gchar *nick = NULL;
		g_autofree gchar *first = NULL;
		g_autofree gchar *want_eid = NULL;
		QlTlv top, list;
		g_assert_cmpstr(ql_vcard_get_eid(card), ==, eid);
		g_assert_cmpuint(ql_vcard_get_profile_count(card), ==, 2);
		g_assert_cmpuint(ql_vcard_get_notification_count(card), ==, 2); /* enable, delete */
		/* the same seed count adds nothing, the deleted profile stays deleted */
		g_assert_true(ql_vcard_seed(card, 3, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(ql_vcard_get_profile_count(card), ==, 2);
		ch = open_isdr(card);
		want_eid = g_strdup_printf("BF3E125A10%s9000", eid);
		{
			g_autofree gchar *c = g_strdup_printf("%02XE2910006BF3E035C015A00",
							      ql_apdu_cla(ch, TRUE));
			assert_apdu(card, c, want_eid);
		}
		r = es10(card, ch, "BF2D00");
		parse(r, 0xBF2D, &top);
		g_assert_true(child(&top, 0xA0, &list));
		items = children(&list);
		g_assert_cmpuint(items->len, ==, 2);
		first = child_hex(&g_array_index(items, QlTlv, 0), 0x5A);
		g_assert_cmpstr(first, ==, p2);
		g_assert_cmpint(child_int(&g_array_index(items, QlTlv, 0), 0x9F70), ==, 1);
		nick = child_str(&g_array_index(items, QlTlv, 0), 0x90);
		g_assert_cmpstr(nick, ==, "Home");
		/* sequence numbers continue */
		g_free(cmd);
		cmd = DISABLE(p2);
		g_assert_cmpint(es10_result(card, ch, cmd, 0xBF32), ==, 0);
		g_assert_cmpint(es10_result(card, ch, "BF3003800103", 0xBF30), ==, 0);
		/* one more seeded profile: exactly number 4 */
		g_assert_true(ql_vcard_seed(card, 4, &error));
		g_assert_cmpuint(ql_vcard_get_profile_count(card), ==, 3);
		{
			g_autoptr(GBytes) r2 = profile_list(card, ch, "5C0192");
			g_autoptr(GArray) it2 = NULL;
			g_autofree gchar *name = NULL;
			parse(r2, 0xBF2D, &top);
			g_assert_true(child(&top, 0xA0, &list));
			it2 = children(&list);
			name = child_str(&g_array_index(it2, QlTlv, 2), 0x92);
			g_assert_cmpstr(name, ==, "Test Profile 4");
		}
		close_channel(card, ch);
		g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	}
	tmp_clear(&t);
}

static void
test_vcard_state_errors(void)
{
	Tmp t;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *missing = NULL;
	QlVcard *card;
	const gchar *bad[] = {
		"{ not json", "[]", "{\"version\": 1}", "{\"version\": 99, \"eid\": \"x\"}", "",
	};

	tmp_init(&t);
	missing = g_build_filename(t.dir, "no-such-folder", "card.json", NULL);
	card = ql_vcard_open(missing, NULL, &error);
	g_assert_null(card);
	g_assert_error(error, QL_ERROR, QL_ERROR_IO);
	g_assert_nonnull(strstr(error->message, missing));
	g_assert_false(g_file_test(missing, G_FILE_TEST_EXISTS));

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree gchar *after = NULL;
		g_clear_error(&error);
		g_assert_true(g_file_set_contents(t.state, bad[i], -1, NULL));
		card = ql_vcard_open(t.state, NULL, &error);
		g_assert_null(card);
		g_assert_error(error, QL_ERROR, QL_ERROR_IO);
		g_assert_nonnull(strstr(error->message, t.state));
		/* never silently reset */
		g_assert_true(g_file_get_contents(t.state, &after, NULL, NULL));
		g_assert_cmpstr(after, ==, bad[i]);
	}
	/* a good file with one profile broken */
	{
		g_autofree gchar *text = NULL;
		g_autofree gchar *broken = NULL;
		g_autoptr(GRegex) re = NULL;
		g_remove(t.state);
		card = card_new(t.state, NULL);
		g_assert_true(ql_vcard_seed(card, 1, NULL));
		ql_vcard_free(card);
		g_assert_true(g_file_get_contents(t.state, &text, NULL, NULL));
		re = g_regex_new("\"state\" : \"disabled\"", 0, 0, NULL);
		broken = g_regex_replace_literal(re, text, -1, 0, "\"state\" : 7", 0, NULL);
		g_assert_cmpstr(broken, !=, text);
		g_assert_true(g_file_set_contents(t.state, broken, -1, NULL));
		g_clear_error(&error);
		card = ql_vcard_open(t.state, NULL, &error);
		g_assert_null(card);
		g_assert_error(error, QL_ERROR, QL_ERROR_IO);
		g_assert_nonnull(strstr(error->message, t.state));
	}
	/* a stored ProfileInstallationResult that is not one: the card would put it in its
	 * RetrieveNotificationsList answer as it is, and break the whole answer */
	{
		const gchar *pirs[] = {"AAAA", "vzcB", "MAA=", "vzcAAA==", ""};
		g_autofree gchar *text = NULL;
		g_autoptr(GRegex) re = g_regex_new("\"notifications\" : \\[[^\\]]*\\]", 0, 0, NULL);
		g_remove(t.state);
		card = card_new(t.state, NULL);
		ql_vcard_free(card);
		g_assert_true(g_file_get_contents(t.state, &text, NULL, NULL));
		for (guint i = 0; i < G_N_ELEMENTS(pirs) + 1; i++) {
			/* the last one, BF37 00, is well-formed */
			const gchar *pir = i < G_N_ELEMENTS(pirs) ? pirs[i] : "vzcA";
			g_autofree gchar *n = g_strdup_printf(
				"\"notifications\" : [{\"seq\": 1, \"operation\": \"install\", "
				"\"address\": \"a.example\", \"pir\": \"%s\"}]",
				pir);
			g_autofree gchar *edited =
				g_regex_replace_literal(re, text, -1, 0, n, 0, NULL);
			g_assert_cmpstr(edited, !=, text);
			g_assert_true(g_file_set_contents(t.state, edited, -1, NULL));
			g_clear_error(&error);
			card = ql_vcard_open(t.state, NULL, &error);
			if (i == G_N_ELEMENTS(pirs)) {
				g_assert_no_error(error);
				g_assert_cmpuint(ql_vcard_get_notification_count(card), ==, 1);
				ql_vcard_free(card);
				continue;
			}
			g_assert_null(card);
			g_assert_error(error, QL_ERROR, QL_ERROR_IO);
			g_assert_nonnull(strstr(error->message, "'pir'"));
		}
	}
	/* a state file that cannot be written any more: a GError, not a status word */
	{
		g_autofree gchar *sub = g_build_filename(t.dir, "sub", NULL);
		g_autofree gchar *path = g_build_filename(sub, "card.json", NULL);
		g_autoptr(GBytes) r = NULL;
		g_autofree gchar *cmd = NULL;
		g_autofree gchar *p1 = NULL;
		guint8 ch;
		g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
		card = card_new(path, NULL);
		g_assert_true(ql_vcard_seed(card, 1, NULL));
		ch = open_isdr(card);
		p1 = nth_iccid_bcd(card, ch, 0);
		rm_rf(sub);
		cmd = g_strdup_printf("%02XE2910014BF3111A00C5A0A%s81010000", ql_apdu_cla(ch, TRUE),
				      p1);
		{
			g_autoptr(GBytes) c = hex(cmd);
			g_clear_error(&error);
			r = ql_vcard_transmit(card, g_bytes_get_data(c, NULL), g_bytes_get_size(c),
					      &error);
		}
		g_assert_null(r);
		g_assert_error(error, QL_ERROR, QL_ERROR_IO);
		g_assert_nonnull(strstr(error->message, path));
		close_channel(card, ch);
		ql_vcard_free(card);
	}
	tmp_clear(&t);
}

static void
make_identity(const gchar *dir, const gchar *eid, GBytes **ci_skid)
{
	g_auto(QlPkiCert) ci = {NULL, NULL};
	g_auto(QlPkiCert) eum = {NULL, NULL};
	g_auto(QlPkiCert) euicc = {NULL, NULL};
	g_autoptr(GError) error = NULL;
	g_autofree gchar *cidir = g_build_filename(dir, "ci", NULL);
	g_autofree gchar *p_ci = g_build_filename(cidir, "test-ci.pem", NULL);
	g_autofree gchar *p_eum = g_build_filename(dir, "eum.pem", NULL);
	g_autofree gchar *p_euicc = g_build_filename(dir, "euicc.pem", NULL);
	g_autofree gchar *p_key = g_build_filename(dir, "euicc-key.pem", NULL);
	QlPkiCertSpec spec = {0};

	g_assert_cmpint(g_mkdir_with_parents(cidir, 0700), ==, 0);
	spec.role = QL_CERT_ROLE_CI;
	spec.common_name = "Test CI";
	spec.is_ca = TRUE;
	g_assert_true(ql_pki_make(&spec, NULL, &ci, &error));
	g_assert_no_error(error);
	spec.role = QL_CERT_ROLE_EUM;
	spec.common_name = "Test EUM";
	g_assert_true(ql_pki_make(&spec, &ci, &eum, &error));
	spec.role = QL_CERT_ROLE_EUICC;
	spec.common_name = "Test eUICC";
	spec.serial_number = eid;
	spec.is_ca = FALSE;
	g_assert_true(ql_pki_make(&spec, &eum, &euicc, &error));
	g_assert_no_error(error);
	g_assert_true(ql_pki_save(&ci, p_ci, NULL, &error));
	g_assert_true(ql_pki_save(&eum, p_eum, NULL, &error));
	g_assert_true(ql_pki_save(&euicc, p_euicc, p_key, &error));
	g_assert_no_error(error);
	*ci_skid = ql_pki_subject_key_id(ci.crt, &error);
	g_assert_no_error(error);
}

static void
test_vcard_identity_dir(void)
{
	Tmp t;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) skid = NULL;
	g_autofree gchar *iddir = NULL;
	g_autofree gchar *skid_hex = NULL;
	/* the SGP.26 test EID, whose check digits are valid */
	const gchar *eid = "89049032123451234512345678901235";
	guint8 ch;

	g_assert_cmpuint(mod97(eid), ==, 1);
	tmp_init(&t);
	iddir = g_build_filename(t.dir, "identity", NULL);
	make_identity(iddir, eid, &skid);
	skid_hex = to_hex(skid);
	{
		g_autoptr(QlVcard) card = card_new(t.state, iddir);
		g_autofree gchar *want = g_strdup_printf("BF3E125A10%s9000", eid);
		g_autofree gchar *c = NULL;
		g_autoptr(GBytes) r = NULL;
		g_autofree gchar *ids = NULL;
		QlTlv top, a9;
		g_assert_cmpstr(ql_vcard_get_eid(card), ==, eid);
		ch = open_isdr(card);
		c = g_strdup_printf("%02XE2910006BF3E035C015A00", ql_apdu_cla(ch, TRUE));
		assert_apdu(card, c, want);
		/* EUICCInfo1 names the CI of the identity folder */
		r = es10(card, ch, "BF2000");
		parse(r, 0xBF20, &top);
		g_assert_true(child(&top, 0xA9, &a9));
		ids = child_hex(&a9, 0x04);
		g_assert_cmpstr(ids, ==, skid_hex);
		g_free(ids);
		g_assert_true(child(&top, 0xAA, &a9));
		ids = child_hex(&a9, 0x04);
		g_assert_cmpstr(ids, ==, skid_hex);
		/* notifications are signed with the folder's key */
		g_assert_true(ql_vcard_seed(card, 1, &error));
		{
			g_autofree gchar *p1 = nth_iccid_bcd(card, ch, 0);
			g_autofree gchar *en = ENABLE(p1);
			g_autoptr(GBytes) rr = NULL;
			g_autoptr(GArray) all = NULL;
			QlTlv list;
			g_assert_cmpint(es10_result(card, ch, en, 0xBF31), ==, 0);
			rr = es10(card, ch, "BF2B00");
			parse(rr, 0xBF2B, &top);
			g_assert_true(child(&top, 0xA0, &list));
			all = children(&list);
			g_assert_cmpuint(all->len, ==, 1);
			check_signed_notification(&g_array_index(all, QlTlv, 0), eid);
		}
		close_channel(card, ch);
	}
	/* the state remembers the folder: reopening without it is the same card */
	{
		g_autoptr(QlVcard) card = card_new(t.state, NULL);
		g_assert_cmpstr(ql_vcard_get_eid(card), ==, eid);
		g_assert_cmpuint(ql_vcard_get_profile_count(card), ==, 1);
	}
	/* a card with its own identity refuses another one */
	{
		g_autofree gchar *other = g_build_filename(t.dir, "other.json", NULL);
		QlVcard *card = card_new(other, NULL);
		g_assert_cmpstr(ql_vcard_get_eid(card), !=, eid);
		ql_vcard_free(card);
		card = ql_vcard_open(other, iddir, &error);
		g_assert_null(card);
		g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
		g_clear_error(&error);
	}
	/* a folder without the files */
	{
		g_autofree gchar *other = g_build_filename(t.dir, "third.json", NULL);
		QlVcard *card = ql_vcard_open(other, t.dir, &error);
		g_assert_null(card);
		g_assert_nonnull(error);
		g_assert_false(g_file_test(other, G_FILE_TEST_EXISTS));
	}
	tmp_clear(&t);
}

static void
test_vcard_faults(void)
{
	Tmp t;
	g_autoptr(QlVcard) card = NULL;
	g_autoptr(GError) error = NULL;
	guint8 ch;
	g_autofree gchar *c = NULL;
	g_autofree gchar *want = NULL;

	tmp_init(&t);
	card = card_new(t.state, NULL);
	ch = open_isdr(card);
	c = g_strdup_printf("%02XE2910006BF3E035C015A00", ql_apdu_cla(ch, TRUE));
	want = g_strdup_printf("BF3E125A10%s9000", ql_vcard_get_eid(card));

	/* malformed: the answer no longer decodes; then the card is normal again */
	ql_vcard_set_fault(card, QL_VCARD_FAULT_MALFORMED, 0);
	{
		g_autoptr(GBytes) r = es10(card, ch, "BF3E035C015A");
		QlTlv tlv;
		g_assert_false(ql_tlv_read_exact(g_bytes_get_data(r, NULL), g_bytes_get_size(r), 0,
						 &tlv, &error));
		g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
		g_clear_error(&error);
	}
	assert_apdu(card, c, want);
	/* truncated */
	ql_vcard_set_fault(card, QL_VCARD_FAULT_TRUNCATED, 0);
	{
		g_autoptr(GBytes) r = es10(card, ch, "BF3E035C015A");
		QlTlv tlv;
		g_assert_cmpuint(g_bytes_get_size(r), <, 21);
		g_assert_false(ql_tlv_read_exact(g_bytes_get_data(r, NULL), g_bytes_get_size(r), 0,
						 &tlv, &error));
		g_clear_error(&error);
	}
	assert_apdu(card, c, want);
	/* 6F00 on the second ES10 command from now */
	ql_vcard_set_fault(card, QL_VCARD_FAULT_SW6F00, 1);
	assert_apdu(card, c, want);
	assert_apdu(card, c, "6F00");
	assert_apdu(card, c, want);
	close_channel(card, ch);
	g_assert_cmpuint(ql_vcard_get_open_channels(card), ==, 0);
	tmp_clear(&t);
}

/* The plugin as the core loads it: one exported symbol, channels over real APDUs */
static void
test_vcard_plugin(void)
{
	Tmp t;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *path = NULL;
	g_autoptr(GHashTable) params = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GBytes) isdr = hex(ISDR_AID);
	const gchar *root = g_getenv("QL_BUILD_ROOT");
	QlPluginEntryFunc entry = NULL;
	const QlPluginInfo *info;
	QlPluginDevice *dev;
	GModule *mod;
	guint8 ch = 0, ch2 = 0;

	if (root == NULL) {
		g_test_skip("QL_BUILD_ROOT is not set");
		return;
	}
	path = g_build_filename(root, "plugin", "virtual", "libql-plugin-virtual.so", NULL);
	mod = g_module_open(path, G_MODULE_BIND_LOCAL);
	g_assert_nonnull(mod);
	g_assert_true(g_module_symbol(mod, QL_PLUGIN_ENTRY_SYMBOL, (gpointer *)&entry));
	/* nothing of the card engine leaks out of the module */
	{
		gpointer sym = NULL;
		g_assert_false(g_module_symbol(mod, "ql_vcard_open", &sym));
	}
	info = entry();
	g_assert_cmpuint(info->abi_version, ==, QL_PLUGIN_ABI_VERSION);
	g_assert_cmpstr(info->scheme, ==, "virtual");

	tmp_init(&t);
	g_hash_table_insert(params, "bogus", "1");
	/* the error domain is the core library's, shared with the module */
	dev = info->open(t.state, params, &error);
	g_assert_null(dev);
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_hash_table_remove_all(params);
	g_hash_table_insert(params, "seed", "2");
	g_hash_table_insert(params, "chunk", "x");
	dev = info->open(t.state, params, &error);
	g_assert_null(dev);
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_hash_table_insert(params, "chunk", "64");
	g_hash_table_insert(params, "quirk", "6c");
	dev = info->open(t.state, params, &error);
	g_assert_no_error(error);
	g_assert_nonnull(dev);

	g_assert_true(info->open_channel(dev, g_bytes_get_data(isdr, NULL), 16, &ch, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(ch, ==, 1);
	/* an unknown AID: NOT_FOUND, and the channel it took is given back */
	{
		const guint8 other[] = {0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02};
		g_assert_false(info->open_channel(dev, other, sizeof(other), &ch2, &error));
		g_assert_error(error, QL_ERROR, QL_ERROR_NOT_FOUND);
		g_clear_error(&error);
	}
	{
		const guint8 cmd[] = {0x81, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2D, 0x00, 0x00};
		g_autoptr(GBytes) r = info->transmit(dev, ch, cmd, sizeof(cmd), &error);
		gsize n = 0;
		const guint8 *p;
		g_assert_no_error(error);
		p = g_bytes_get_data(r, &n);
		/* chunk=64: a piece of 64 and 61 40 */
		g_assert_cmpuint(n, ==, 66);
		g_assert_cmphex(p[64], ==, 0x61);
		g_assert_cmphex(p[65], ==, 0x40);
	}
	/* a second channel, left open on purpose: closing the device closes it */
	g_assert_true(info->open_channel(dev, g_bytes_get_data(isdr, NULL), 16, &ch2, &error));
	g_assert_cmpuint(ch2, ==, 2);
	g_assert_true(info->close_channel(dev, ch, &error));
	g_assert_no_error(error);
	g_assert_false(info->close_channel(dev, ch, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_CARD);
	g_clear_error(&error);
	info->close(dev);

	/* the card remembers the seeding done through the plugin */
	{
		g_autoptr(QlVcard) card = card_new(t.state, NULL);
		g_assert_cmpuint(ql_vcard_get_profile_count(card), ==, 2);
	}
	g_module_close(mod);
	tmp_clear(&t);
}

/* ---- downloads: an SM-DP+ built here from ql-pki and ql-crypto (SGP.22 3.1.3, 2.5.5) ---- */

#define DL_ADDRESS "smdp.test.example"
#define DL_HOST_ID "QL-VCARD-TEST"
/* 2.999.1, the OID the card names when CERT.DPauth has no registeredID */
#define DL_FALLBACK_OID "883701"

typedef struct {
	Tmp t;
	gchar *iddir;
	QlVcard *card;
	guint8 ch;
	QlPkiCert ci, dpauth, dppb;
	QlPkiCert other_ci, other_dpauth;
	GBytes *ci_skid;
	GBytes *other_skid;
	gchar *eid;
} Dl;

typedef struct {
	guint8 tid[16];
	GBytes *ctx;	    /* ctxParams1 as sent */
	GBytes *euicc_sig1; /* the 5F37 the card gave */
	GBytes *euicc_otpk; /* 65 bytes */
	gnutls_x509_crt_t euicc_crt;
	GBytes *auth_req; /* the AuthenticateServer request sent */
} DlSession;

static void
dl_session_clear(DlSession *s)
{
	g_clear_pointer(&s->ctx, g_bytes_unref);
	g_clear_pointer(&s->euicc_sig1, g_bytes_unref);
	g_clear_pointer(&s->euicc_otpk, g_bytes_unref);
	g_clear_pointer(&s->euicc_crt, gnutls_x509_crt_deinit);
	g_clear_pointer(&s->auth_req, g_bytes_unref);
}

static void
dl_make(QlCertRole role, const gchar *cn, const QlPkiCert *issuer, QlPkiCert *out)
{
	g_autoptr(GError) error = NULL;
	QlPkiCertSpec spec = {0};
	spec.role = role;
	spec.common_name = cn;
	spec.organization = "Quantra-L tests";
	spec.is_ca = role == QL_CERT_ROLE_CI || role == QL_CERT_ROLE_EUM;
	g_assert_true(ql_pki_make(&spec, issuer, out, &error));
	g_assert_no_error(error);
}

static void
dl_init(Dl *d)
{
	g_autoptr(GError) error = NULL;
	g_auto(QlPkiCert) eum = {NULL, NULL};
	g_auto(QlPkiCert) euicc = {NULL, NULL};
	g_autofree gchar *cidir = NULL;
	g_autofree gchar *p_ci = NULL;
	g_autofree gchar *p_eum = NULL;
	g_autofree gchar *p_euicc = NULL;
	g_autofree gchar *p_key = NULL;
	QlPkiCertSpec spec = {0};

	memset(d, 0, sizeof(*d));
	tmp_init(&d->t);
	d->eid = g_strdup("89049032123451234512345678901235");
	d->iddir = g_build_filename(d->t.dir, "identity", NULL);
	cidir = g_build_filename(d->iddir, "ci", NULL);
	g_assert_cmpint(g_mkdir_with_parents(cidir, 0700), ==, 0);
	dl_make(QL_CERT_ROLE_CI, "Download Test CI", NULL, &d->ci);
	dl_make(QL_CERT_ROLE_EUM, "Download Test EUM", &d->ci, &eum);
	spec.role = QL_CERT_ROLE_EUICC;
	spec.common_name = "Download Test eUICC";
	spec.serial_number = d->eid;
	g_assert_true(ql_pki_make(&spec, &eum, &euicc, &error));
	g_assert_no_error(error);
	dl_make(QL_CERT_ROLE_DP_AUTH, "Test SM-DP+ auth", &d->ci, &d->dpauth);
	dl_make(QL_CERT_ROLE_DP_PB, "Test SM-DP+ pb", &d->ci, &d->dppb);
	dl_make(QL_CERT_ROLE_CI, "Unknown CI", NULL, &d->other_ci);
	dl_make(QL_CERT_ROLE_DP_AUTH, "Foreign SM-DP+ auth", &d->other_ci, &d->other_dpauth);
	p_ci = g_build_filename(cidir, "ci.pem", NULL);
	p_eum = g_build_filename(d->iddir, "eum.pem", NULL);
	p_euicc = g_build_filename(d->iddir, "euicc.pem", NULL);
	p_key = g_build_filename(d->iddir, "euicc-key.pem", NULL);
	g_assert_true(ql_pki_save(&d->ci, p_ci, NULL, &error));
	g_assert_true(ql_pki_save(&eum, p_eum, NULL, &error));
	g_assert_true(ql_pki_save(&euicc, p_euicc, p_key, &error));
	g_assert_no_error(error);
	d->ci_skid = ql_pki_subject_key_id(d->ci.crt, &error);
	d->other_skid = ql_pki_subject_key_id(d->other_ci.crt, &error);
	g_assert_no_error(error);
	d->card = card_new(d->t.state, d->iddir);
	d->ch = open_isdr(d->card);
}

static void
dl_clear(Dl *d)
{
	if (d->card != NULL) {
		close_channel(d->card, d->ch);
		g_assert_cmpuint(ql_vcard_get_open_channels(d->card), ==, 0);
		ql_vcard_free(d->card);
	}
	ql_pki_cert_clear(&d->ci);
	ql_pki_cert_clear(&d->dpauth);
	ql_pki_cert_clear(&d->dppb);
	ql_pki_cert_clear(&d->other_ci);
	ql_pki_cert_clear(&d->other_dpauth);
	g_clear_pointer(&d->ci_skid, g_bytes_unref);
	g_clear_pointer(&d->other_skid, g_bytes_unref);
	g_free(d->eid);
	g_free(d->iddir);
	tmp_clear(&d->t);
}

/* the card forgets its session with the process: a new one opens the same state */
static void
dl_restart(Dl *d)
{
	ql_vcard_free(d->card);
	d->card = card_new(d->t.state, d->iddir);
	d->ch = open_isdr(d->card);
}

static GBytes *
es10_bytes(Dl *d, GBytes *cmd, guint16 *sw)
{
	g_autofree gchar *h = to_hex(cmd);
	return es10_sw(d->card, d->ch, h, sw);
}

static GBytes *
der_of(gnutls_x509_crt_t crt)
{
	g_autoptr(GError) error = NULL;
	GBytes *b = ql_pki_export_der(crt, &error);
	g_assert_no_error(error);
	return b;
}

static GBytes *
sign_with(const QlPkiCert *c, const guint8 *data, gsize len)
{
	g_autoptr(GError) error = NULL;
	guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN];
	g_assert_true(ql_crypto_ecdsa_sign_x509(c->key, data, len, sig, &error));
	g_assert_no_error(error);
	return ql_crypto_sig_to_tlv(sig);
}

static void
assert_card_signed(gnutls_x509_crt_t crt, const guint8 *data, gsize len, const QlTlv *sig)
{
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *copy = g_memdup2(data, len);
	g_assert_cmphex(sig->tag, ==, 0x5F37);
	g_assert_true(ql_crypto_ecdsa_verify_crt(crt, data, len, sig->value, sig->len, &error));
	g_assert_no_error(error);
	/* a changed byte breaks it */
	copy[len / 2] ^= 0x01;
	g_assert_false(ql_crypto_ecdsa_verify_crt(crt, copy, len, sig->value, sig->len, NULL));
}

static GBytes *
dl_challenge(Dl *d)
{
	g_autoptr(GBytes) r = es10(d->card, d->ch, "BF2E00");
	QlTlv top, c;
	parse(r, 0xBF2E, &top);
	g_assert_true(child(&top, 0x80, &c));
	g_assert_cmpuint(c.len, ==, 16);
	return g_bytes_new(c.value, c.len);
}

typedef enum {
	DL_AUTH_OK,
	DL_AUTH_BAD_SIGNATURE,
	DL_AUTH_WRONG_CHALLENGE,
	DL_AUTH_UNKNOWN_CI,   /* a DPauth and key id of a CI the card does not know */
	DL_AUTH_FOREIGN_CERT, /* the card's CI id, a DPauth of another CI */
	DL_AUTH_WRONG_ROLE,   /* a DPpb certificate where DPauth belongs */
} DlAuthCase;

/* GetEuiccInfo1 -> GetEuiccChallenge -> AuthenticateServer; returns the whole BF38 answer */
static GBytes *
dl_authenticate(Dl *d, DlSession *s, DlAuthCase c)
{
	g_autoptr(GBytes) challenge = NULL;
	g_autoptr(GBytes) signed1 = NULL;
	g_autoptr(GBytes) sig = NULL;
	g_autoptr(GBytes) cert = NULL;
	g_autoptr(GBytes) req = NULL;
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) info1 = es10(d->card, d->ch, "BF2000");
	const QlPkiCert *signer = &d->dpauth;
	GBytes *skid = d->ci_skid;
	guint8 server_challenge[16];
	const guint8 tac[] = {0x35, 0x29, 0x06, 0x11};
	QlTlv top, a9;

	/* EUICCInfo1 lists the CI this SM-DP+ chains to */
	{
		g_autofree gchar *ids = NULL;
		g_autofree gchar *want = to_hex(d->ci_skid);
		parse(info1, 0xBF20, &top);
		g_assert_true(child(&top, 0xA9, &a9));
		ids = child_hex(&a9, 0x04);
		g_assert_cmpstr(ids, ==, want);
	}
	challenge = dl_challenge(d);
	g_assert_true(ql_crypto_random(s->tid, sizeof(s->tid), &error));
	g_assert_true(ql_crypto_random(server_challenge, sizeof(server_challenge), &error));
	if (c == DL_AUTH_UNKNOWN_CI) {
		signer = &d->other_dpauth;
		skid = d->other_skid;
	} else if (c == DL_AUTH_FOREIGN_CERT) {
		signer = &d->other_dpauth;
	} else if (c == DL_AUTH_WRONG_ROLE) {
		signer = &d->dppb;
	}

	ql_tlv_builder_begin(b, 0x30);
	ql_tlv_builder_add(b, 0x80, s->tid, sizeof(s->tid));
	if (c == DL_AUTH_WRONG_CHALLENGE) {
		guint8 other[16];
		memcpy(other, g_bytes_get_data(challenge, NULL), 16);
		other[0] ^= 0xFF;
		ql_tlv_builder_add(b, 0x81, other, 16);
	} else {
		ql_tlv_builder_add_bytes(b, 0x81, challenge);
	}
	ql_tlv_builder_add_string(b, 0x83, DL_ADDRESS);
	ql_tlv_builder_add(b, 0x84, server_challenge, sizeof(server_challenge));
	ql_tlv_builder_end(b);
	signed1 = ql_tlv_builder_finish(g_steal_pointer(&b));
	sig = sign_with(signer, g_bytes_get_data(signed1, NULL), g_bytes_get_size(signed1));
	if (c == DL_AUTH_BAD_SIGNATURE) {
		/* signed over something else: the serverSigned1 of another challenge */
		g_autoptr(GBytes) other = g_bytes_new_take(
			g_memdup2(g_bytes_get_data(signed1, NULL), g_bytes_get_size(signed1)),
			g_bytes_get_size(signed1));
		guint8 *p = (guint8 *)g_bytes_get_data(other, NULL);
		p[g_bytes_get_size(other) - 1] ^= 0x01;
		g_clear_pointer(&sig, g_bytes_unref);
		sig = sign_with(signer, p, g_bytes_get_size(other));
	}
	cert = der_of(signer->crt);

	/* ctxParams1: ctxParamsForCommonAuthentication [0] { matchingId, deviceInfo } */
	b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, 0xA0);
	ql_tlv_builder_add_string(b, 0x80, "MATCHING-ID-1");
	ql_tlv_builder_begin(b, 0xA1);
	ql_tlv_builder_add(b, 0x80, tac, sizeof(tac));
	ql_tlv_builder_begin(b, 0xA1);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	s->ctx = ql_tlv_builder_finish(g_steal_pointer(&b));

	b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, 0xBF38);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(signed1, NULL), g_bytes_get_size(signed1));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(sig, NULL), g_bytes_get_size(sig));
	ql_tlv_builder_add_bytes(b, 0x04, skid);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(cert, NULL), g_bytes_get_size(cert));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(s->ctx, NULL), g_bytes_get_size(s->ctx));
	ql_tlv_builder_end(b);
	req = ql_tlv_builder_finish(g_steal_pointer(&b));
	g_clear_pointer(&s->auth_req, g_bytes_unref);
	s->auth_req = g_bytes_ref(req);
	return es10_bytes(d, req, NULL);
}

/* The error code of a refused AuthenticateServer / PrepareDownload: A1 { 80 tid, 02 code } */
static gint64
dl_error_code(GBytes *answer, guint32 tag, const DlSession *s)
{
	QlTlv top, err, t;
	parse(answer, tag, &top);
	g_assert_false(child(&top, 0xA0, &err));
	g_assert_true(child(&top, 0xA1, &err));
	g_assert_true(child(&err, 0x80, &t));
	g_assert_cmpmem(t.value, t.len, s->tid, sizeof(s->tid));
	return child_int(&err, 0x02);
}

/* Checks an accepted AuthenticateServer and keeps what PrepareDownload needs */
static void
dl_check_authenticated(Dl *d, DlSession *s, GBytes *answer)
{
	g_autoptr(GArray) parts = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *addr = NULL;
	g_autofree gchar *serial = NULL;
	QlTlv top, ok, t, info2;
	QlTlv *signed1, *sig, *cert, *eum;

	parse(answer, 0xBF38, &top);
	g_assert_true(child(&top, 0xA0, &ok));
	parts = children(&ok);
	g_assert_cmpuint(parts->len, ==, 4);
	signed1 = &g_array_index(parts, QlTlv, 0);
	sig = &g_array_index(parts, QlTlv, 1);
	cert = &g_array_index(parts, QlTlv, 2);
	eum = &g_array_index(parts, QlTlv, 3);
	g_assert_cmphex(signed1->tag, ==, 0x30);
	g_assert_cmphex(cert->tag, ==, 0x30);
	g_assert_cmphex(eum->tag, ==, 0x30);
	/* euiccSigned1 { 80 tid, 83 address, 84 serverChallenge, BF22, ctxParams1 as sent } */
	g_assert_true(child(signed1, 0x80, &t));
	g_assert_cmpmem(t.value, t.len, s->tid, sizeof(s->tid));
	addr = child_str(signed1, 0x83);
	g_assert_cmpstr(addr, ==, DL_ADDRESS);
	g_assert_true(child(signed1, 0x84, &t));
	g_assert_cmpuint(t.len, ==, 16);
	g_assert_true(child(signed1, 0xBF22, &info2));
	g_assert_true(child(signed1, 0xA0, &t));
	g_assert_cmpmem(t.raw, t.raw_len, g_bytes_get_data(s->ctx, NULL), g_bytes_get_size(s->ctx));
	/* the card's certificate is the identity's, and its signature verifies */
	s->euicc_crt = ql_pki_crt_from_bytes(cert->raw, cert->raw_len, &error);
	g_assert_no_error(error);
	serial = ql_pki_subject_serial_number(s->euicc_crt);
	g_assert_cmpstr(serial, ==, d->eid);
	assert_card_signed(s->euicc_crt, signed1->raw, signed1->raw_len, sig);
	s->euicc_sig1 = g_bytes_new(sig->raw, sig->raw_len);
}

/* PrepareDownload; returns the whole BF21 answer */
static GBytes *
dl_prepare(Dl *d, DlSession *s, gboolean cc_required, GBytes *hash_cc, gboolean bad_signature)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) signed2 = NULL;
	g_autoptr(GBytes) sig = NULL;
	g_autoptr(GBytes) cert = der_of(d->dppb.crt);
	g_autoptr(GBytes) req = NULL;
	g_autoptr(GByteArray) data = g_byte_array_new();
	const guint8 flag = cc_required ? 0xFF : 0x00;

	ql_tlv_builder_begin(b, 0x30);
	ql_tlv_builder_add(b, 0x80, s->tid, sizeof(s->tid));
	ql_tlv_builder_add(b, 0x01, &flag, 1);
	ql_tlv_builder_end(b);
	signed2 = ql_tlv_builder_finish(g_steal_pointer(&b));
	/* smdpSignature2 over smdpSigned2 || euiccSignature1 */
	g_byte_array_append(data, g_bytes_get_data(signed2, NULL), g_bytes_get_size(signed2));
	if (!bad_signature)
		g_byte_array_append(data, g_bytes_get_data(s->euicc_sig1, NULL),
				    g_bytes_get_size(s->euicc_sig1));
	sig = sign_with(&d->dppb, data->data, data->len);

	b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, 0xBF21);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(signed2, NULL), g_bytes_get_size(signed2));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(sig, NULL), g_bytes_get_size(sig));
	if (hash_cc != NULL)
		ql_tlv_builder_add_bytes(b, 0x04, hash_cc);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(cert, NULL), g_bytes_get_size(cert));
	ql_tlv_builder_end(b);
	req = ql_tlv_builder_finish(g_steal_pointer(&b));

	{
		g_autoptr(GBytes) answer = es10_bytes(d, req, NULL);
		QlTlv top, ok, signed_out, sig_out, t;
		parse(answer, 0xBF21, &top);
		if (!child(&top, 0xA0, &ok))
			return g_steal_pointer(&answer);
		g_assert_true(child(&ok, 0x30, &signed_out));
		g_assert_true(child(&ok, 0x5F37, &sig_out));
		g_assert_true(child(&signed_out, 0x80, &t));
		g_assert_cmpmem(t.value, t.len, s->tid, sizeof(s->tid));
		g_assert_true(child(&signed_out, 0x5F49, &t));
		g_assert_cmpuint(t.len, ==, 65);
		g_assert_cmphex(t.value[0], ==, 0x04);
		g_clear_pointer(&s->euicc_otpk, g_bytes_unref);
		s->euicc_otpk = g_bytes_new(t.value, t.len);
		if (hash_cc != NULL) {
			g_assert_true(child(&signed_out, 0x04, &t));
			g_assert_cmpmem(t.value, t.len, g_bytes_get_data(hash_cc, NULL), 32);
		} else {
			g_assert_false(child(&signed_out, 0x04, &t));
		}
		/* euiccSignature2 over euiccSigned2 || smdpSignature2 */
		{
			g_autoptr(GByteArray) signed_data = g_byte_array_new();
			g_byte_array_append(signed_data, signed_out.raw, signed_out.raw_len);
			g_byte_array_append(signed_data, g_bytes_get_data(sig, NULL),
					    g_bytes_get_size(sig));
			assert_card_signed(s->euicc_crt, signed_data->data, signed_data->len,
					   &sig_out);
		}
		return g_steal_pointer(&answer);
	}
}

/* StoreMetadataRequest: long enough (an icon of 1000 bytes) to take two 88 segments */
static GBytes *
dl_metadata(const gchar *iccid)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) bcd = ql_iccid_to_bcd(iccid, NULL);
	g_autofree guint8 *icon = g_malloc(1000);
	const guint8 owner[] = {0x00, 0xF1, 0x10};
	const guint8 events[] = {0x04, 0x90}; /* install(0) and delete(3) */

	for (guint i = 0; i < 1000; i++)
		icon[i] = (guint8)(i * 7);
	ql_tlv_builder_begin(b, 0xBF25);
	ql_tlv_builder_add_bytes(b, 0x5A, bcd);
	ql_tlv_builder_add_string(b, 0x91, "Quantra Mobile");
	ql_tlv_builder_add_string(b, 0x92, "Downloaded Profile");
	ql_tlv_builder_add_int(b, 0x93, 1);
	ql_tlv_builder_add(b, 0x94, icon, 1000);
	ql_tlv_builder_add_int(b, 0x95, 1); /* provisioning */
	ql_tlv_builder_begin(b, 0xB6);
	ql_tlv_builder_begin(b, 0x30);
	ql_tlv_builder_add(b, 0x80, events, sizeof(events));
	ql_tlv_builder_add_string(b, 0x81, "notify.example");
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	ql_tlv_builder_begin(b, 0xB7);
	ql_tlv_builder_add(b, 0x80, owner, sizeof(owner));
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	return ql_tlv_builder_finish(g_steal_pointer(&b));
}

/* Profile elements of ~4 KB: several 86 segments */
static GBytes *
dl_profile(void)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autofree guint8 *body = g_malloc(4000);
	for (guint i = 0; i < 4000; i++)
		body[i] = (guint8)(i * 13 + 5);
	ql_tlv_builder_begin(b, 0xA0); /* ProfileHeader-like */
	ql_tlv_builder_add_int(b, 0x80, 2);
	ql_tlv_builder_add_int(b, 0x81, 3);
	ql_tlv_builder_end(b);
	ql_tlv_builder_add(b, 0x04, body, 4000);
	return ql_tlv_builder_finish(g_steal_pointer(&b));
}

typedef struct {
	gboolean replace_keys; /* protect the profile with PPKs sent in BF26 */
	gboolean tamper_86;    /* flip a ciphertext byte of the second 86 */
	gboolean tamper_88;    /* flip a byte of the first 88 */
	gboolean bad_sign;     /* smdpSign over something else */
} DlBppOpts;

static GBytes *
dl_bpp(Dl *d, DlSession *s, const gchar *iccid, const DlBppOpts *o)
{
	g_autoptr(GError) error = NULL;
	g_auto(QlEcKeyPair) ot = {{0}};
	g_auto(QlBspKeys) keys = {{0}};
	g_autoptr(QlBsp) bsp = NULL;
	g_autoptr(QlTlvBuilder) fb = ql_tlv_builder_new();
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) fields = NULL;
	g_autoptr(GBytes) sig = NULL;
	g_autoptr(GByteArray) to_sign = g_byte_array_new();
	g_autoptr(GBytes) eid = hex(d->eid);
	g_autoptr(GBytes) metadata = dl_metadata(iccid);
	g_autoptr(GBytes) profile = dl_profile();
	g_autoptr(GBytes) conf = hex("BF2400");
	g_autoptr(GBytes) a0 = NULL;
	g_autoptr(GPtrArray) s88 = NULL;
	g_autoptr(GPtrArray) s86 = NULL;
	g_autoptr(GBytes) a2 = NULL;
	guint8 secret[QL_CRYPTO_ECDH_LEN];
	const guint8 key_type = 0x88, key_len = 0x10;

	g_assert_true(ql_crypto_ec_generate(&ot, &error));
	/* InitialiseSecureChannelRequest; smdpSign over 82, 80, A6, 5F49 || euiccOtpk TLV */
	ql_tlv_builder_add_int(fb, 0x82, 1);
	ql_tlv_builder_add(fb, 0x80, s->tid, sizeof(s->tid));
	ql_tlv_builder_begin(fb, 0xA6);
	ql_tlv_builder_add(fb, 0x80, &key_type, 1);
	ql_tlv_builder_add(fb, 0x81, &key_len, 1);
	ql_tlv_builder_add(fb, 0x84, (const guint8 *)DL_HOST_ID, strlen(DL_HOST_ID));
	ql_tlv_builder_end(fb);
	ql_tlv_builder_add(fb, 0x5F49, ot.pub, sizeof(ot.pub));
	fields = ql_tlv_builder_finish(g_steal_pointer(&fb));
	g_byte_array_append(to_sign, g_bytes_get_data(fields, NULL), g_bytes_get_size(fields));
	ql_tlv_put_tag(to_sign, 0x5F49);
	ql_tlv_put_len(to_sign, g_bytes_get_size(s->euicc_otpk));
	g_byte_array_append(to_sign, g_bytes_get_data(s->euicc_otpk, NULL),
			    g_bytes_get_size(s->euicc_otpk));
	if (o->bad_sign)
		to_sign->data[0] ^= 0x01;
	sig = sign_with(&d->dppb, to_sign->data, to_sign->len);

	/* the session keys, as the SM-DP+ derives them */
	g_assert_true(ql_crypto_ecdh(ot.priv, g_bytes_get_data(s->euicc_otpk, NULL),
				     g_bytes_get_size(s->euicc_otpk), secret, &error));
	g_assert_true(ql_bsp_derive_keys(secret, sizeof(secret), (const guint8 *)DL_HOST_ID,
					 strlen(DL_HOST_ID), g_bytes_get_data(eid, NULL), 16, &keys,
					 &error));
	g_assert_no_error(error);
	bsp = ql_bsp_new(&keys);
	a0 = ql_bsp_wrap(bsp, QL_BSP_TAG_ENC_MAC, g_bytes_get_data(conf, NULL),
			 g_bytes_get_size(conf), &error);
	s88 = ql_bsp_wrap_split(bsp, QL_BSP_TAG_MAC, g_bytes_get_data(metadata, NULL),
				g_bytes_get_size(metadata), &error);
	g_assert_no_error(error);
	g_assert_cmpuint(s88->len, ==, 2);
	if (o->replace_keys) {
		guint8 ppk[48];
		g_autoptr(QlTlvBuilder) rb = ql_tlv_builder_new();
		g_autoptr(GBytes) rsk = NULL;
		g_assert_true(ql_crypto_random(ppk, sizeof(ppk), &error));
		ql_tlv_builder_begin(rb, 0xBF26);
		ql_tlv_builder_add(rb, 0x80, ppk, 16);
		ql_tlv_builder_add(rb, 0x81, ppk + 16, 16);
		ql_tlv_builder_add(rb, 0x82, ppk + 32, 16);
		ql_tlv_builder_end(rb);
		rsk = ql_tlv_builder_finish(g_steal_pointer(&rb));
		a2 = ql_bsp_wrap(bsp, QL_BSP_TAG_ENC_MAC, g_bytes_get_data(rsk, NULL),
				 g_bytes_get_size(rsk), &error);
		g_assert_no_error(error);
		ql_bsp_replace_keys(bsp, ppk + 16, ppk + 32, ppk);
	}
	s86 = ql_bsp_wrap_split(bsp, QL_BSP_TAG_PROFILE, g_bytes_get_data(profile, NULL),
				g_bytes_get_size(profile), &error);
	g_assert_no_error(error);
	g_assert_cmpuint(s86->len, >=, 3);

	ql_tlv_builder_begin(b, 0xBF36);
	ql_tlv_builder_begin(b, 0xBF23);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(fields, NULL), g_bytes_get_size(fields));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(sig, NULL), g_bytes_get_size(sig));
	ql_tlv_builder_end(b);
	ql_tlv_builder_begin(b, 0xA0);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(a0, NULL), g_bytes_get_size(a0));
	ql_tlv_builder_end(b);
	ql_tlv_builder_begin(b, 0xA1);
	for (guint i = 0; i < s88->len; i++) {
		GBytes *seg = g_ptr_array_index(s88, i);
		g_autofree guint8 *copy =
			g_memdup2(g_bytes_get_data(seg, NULL), g_bytes_get_size(seg));
		if (o->tamper_88 && i == 0)
			copy[10] ^= 0x01;
		ql_tlv_builder_add_raw(b, copy, g_bytes_get_size(seg));
	}
	ql_tlv_builder_end(b);
	if (a2 != NULL) {
		ql_tlv_builder_begin(b, 0xA2);
		ql_tlv_builder_add_raw(b, g_bytes_get_data(a2, NULL), g_bytes_get_size(a2));
		ql_tlv_builder_end(b);
	}
	ql_tlv_builder_begin(b, 0xA3);
	for (guint i = 0; i < s86->len; i++) {
		GBytes *seg = g_ptr_array_index(s86, i);
		g_autofree guint8 *copy =
			g_memdup2(g_bytes_get_data(seg, NULL), g_bytes_get_size(seg));
		if (o->tamper_86 && i == 1)
			copy[g_bytes_get_size(seg) / 2] ^= 0x01;
		ql_tlv_builder_add_raw(b, copy, g_bytes_get_size(seg));
	}
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	return ql_tlv_builder_finish(g_steal_pointer(&b));
}

/* Sends the BPP as the LPA splits it (ql_es10b_bpp_segments), @count pieces at most (0: all);
 * every answer before the last piece sent must be empty. Returns the last answer. */
static GBytes *
dl_load(Dl *d, GBytes *bpp, guint count, guint *sent)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) segs = ql_es10b_bpp_segments(bpp, &error);
	GBytes *last = NULL;
	guint n;

	g_assert_no_error(error);
	n = count == 0 ? segs->len : MIN(count, segs->len);
	for (guint i = 0; i < n; i++) {
		guint16 sw = 0;
		g_clear_pointer(&last, g_bytes_unref);
		last = es10_bytes(d, g_ptr_array_index(segs, i), &sw);
		g_assert_cmphex(sw, ==, 0x9000);
		if (g_bytes_get_size(last) != 0) {
			/* the card ends the load: an error, or the last piece */
			n = i + 1;
			break;
		}
	}
	if (sent != NULL)
		*sent = n;
	return last;
}

/* Authenticate + prepare + load, all accepted up to the BPP; returns the BF37 */
static GBytes *
dl_download(Dl *d, DlSession *s, const gchar *iccid, const DlBppOpts *o)
{
	g_autoptr(GBytes) auth = dl_authenticate(d, s, DL_AUTH_OK);
	g_autoptr(GBytes) prep = NULL;
	g_autoptr(GBytes) bpp = NULL;
	dl_check_authenticated(d, s, auth);
	prep = dl_prepare(d, s, FALSE, NULL, FALSE);
	g_assert_nonnull(s->euicc_otpk);
	bpp = dl_bpp(d, s, iccid, o);
	return dl_load(d, bpp, 0, NULL);
}

/* The BF37: signed by the eUICC over BF27; returns the decoded result (as the LPA reads it) */
static QlInstallResult *
dl_check_result(Dl *d, DlSession *s, GBytes *bf37, const gchar *iccid)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *oid = NULL;
	g_autofree gchar *addr = NULL;
	QlInstallResult *r;
	QlTlv top, data, sig, meta, t;

	parse(bf37, 0xBF37, &top);
	g_assert_true(child(&top, 0xBF27, &data));
	g_assert_true(child(&top, 0x5F37, &sig));
	assert_card_signed(s->euicc_crt, data.raw, data.raw_len, &sig);
	g_assert_true(child(&data, 0x80, &t));
	g_assert_cmpmem(t.value, t.len, s->tid, sizeof(s->tid));
	g_assert_true(child(&data, 0xBF2F, &meta));
	g_assert_true(child(&meta, 0x81, &t));
	g_assert_cmpuint(t.len, ==, 2);
	g_assert_cmphex(t.value[0], ==, 0x07); /* install: bit 0 */
	g_assert_cmphex(t.value[1], ==, 0x80);
	addr = child_str(&meta, 0x0C);
	g_assert_cmpstr(addr, ==, DL_ADDRESS);
	oid = child_hex(&data, 0x06);
	g_assert_cmpstr(oid, ==, DL_FALLBACK_OID);
	r = ql_es10b_parse_install_result(bf37, &error);
	g_assert_no_error(error);
	g_assert_nonnull(r);
	if (iccid != NULL)
		g_assert_cmpstr(r->iccid, ==, iccid);
	g_assert_cmpstr(r->notification_address, ==, DL_ADDRESS);
	return r;
}

/* The listed profile with @iccid, or FALSE */
static gboolean
dl_find_profile(Dl *d, const gchar *iccid, QlTlv *out, GBytes **keep)
{
	g_autoptr(GBytes) r = profile_list(d->card, d->ch, "");
	g_autoptr(GArray) items = NULL;
	QlTlv top, list;
	parse(r, 0xBF2D, &top);
	g_assert_true(child(&top, 0xA0, &list));
	items = children(&list);
	for (guint i = 0; i < items->len; i++) {
		QlTlv *e3 = &g_array_index(items, QlTlv, i);
		g_autofree gchar *id = iccid_of(e3);
		if (g_strcmp0(id, iccid) == 0) {
			*out = *e3;
			*keep = g_steal_pointer(&r);
			return TRUE;
		}
	}
	return FALSE;
}

static gchar *
dl_iccid(void)
{
	GString *s = g_string_new("8988199");
	while (s->len < 20)
		g_string_append_c(s, (gchar)('0' + g_random_int_range(0, 10)));
	return g_string_free(s, FALSE);
}

/* The notifications listed (ListNotification), as seq numbers of install events */
static guint
dl_count_install_notifications(Dl *d, const gchar *iccid, gint64 *seq)
{
	g_autoptr(GBytes) r = es10(d->card, d->ch, "BF2800");
	g_autoptr(GArray) items = NULL;
	QlTlv top, list;
	guint n = 0;
	parse(r, 0xBF28, &top);
	g_assert_true(child(&top, 0xA0, &list));
	items = children(&list);
	for (guint i = 0; i < items->len; i++) {
		QlTlv *m = &g_array_index(items, QlTlv, i);
		QlTlv op;
		g_autofree gchar *id = NULL;
		g_assert_true(child(m, 0x81, &op));
		if (op.len != 2 || op.value[1] != 0x80)
			continue;
		if (child(m, 0x5A, &op))
			id = iccid_of(m);
		if (g_strcmp0(id, iccid) != 0)
			continue;
		if (seq != NULL)
			*seq = child_int(m, 0x80);
		n++;
	}
	return n;
}

static void
dl_check_installed(Dl *d, const gchar *iccid, const gchar *aid_hex)
{
	g_autoptr(GBytes) keep = NULL;
	g_autofree gchar *name = NULL;
	g_autofree gchar *spn = NULL;
	g_autofree gchar *aid = NULL;
	g_autofree gchar *owner = NULL;
	QlTlv e3, t, b6;

	g_assert_true(dl_find_profile(d, iccid, &e3, &keep));
	name = child_str(&e3, 0x92);
	spn = child_str(&e3, 0x91);
	g_assert_cmpstr(name, ==, "Downloaded Profile");
	g_assert_cmpstr(spn, ==, "Quantra Mobile");
	g_assert_cmpint(child_int(&e3, 0x9F70), ==, 0); /* disabled */
	g_assert_cmpint(child_int(&e3, 0x95), ==, 1);
	g_assert_cmpint(child_int(&e3, 0x93), ==, 1);
	g_assert_true(child(&e3, 0x94, &t));
	g_assert_cmpuint(t.len, ==, 1000);
	g_assert_cmphex(t.value[999], ==, (guint8)(999 * 7));
	aid = child_hex(&e3, 0x4F);
	g_assert_cmpstr(aid, ==, aid_hex);
	g_assert_true(child(&e3, 0xB6, &b6));
	{
		g_autoptr(GArray) cfg = children(&b6);
		g_autofree gchar *addr = NULL;
		g_assert_cmpuint(cfg->len, ==, 1);
		addr = child_str(&g_array_index(cfg, QlTlv, 0), 0x81);
		g_assert_cmpstr(addr, ==, "notify.example");
	}
	g_assert_true(child(&e3, 0xB7, &t));
	owner = child_hex(&t, 0x80);
	g_assert_cmpstr(owner, ==, "00F110");
}

static void
test_vcard_download_install(void)
{
	Dl d;
	DlSession s = {{0}};
	g_autofree gchar *iccid = dl_iccid();
	g_autoptr(GBytes) bf37 = NULL;
	g_autoptr(QlInstallResult) r = NULL;
	DlBppOpts o = {0};
	guint before;
	gint64 seq = -1;

	dl_init(&d);
	before = ql_vcard_get_profile_count(d.card);
	bf37 = dl_download(&d, &s, iccid, &o);
	g_assert_nonnull(bf37);
	r = dl_check_result(&d, &s, bf37, iccid);
	g_assert_true(r->success);
	g_assert_nonnull(r->isdp_aid);
	g_assert_cmpuint(strlen(r->isdp_aid), ==, 32);
	g_assert_cmpuint(ql_vcard_get_profile_count(d.card), ==, before + 1);
	dl_check_installed(&d, iccid, r->isdp_aid);
	/* the install notification is pending, and RetrieveNotificationsList gives the very BF37 */
	g_assert_cmpuint(dl_count_install_notifications(&d, iccid, &seq), ==, 1);
	g_assert_cmpint(seq, ==, r->seq);
	{
		g_autofree gchar *cmd = g_strdup_printf("BF2B05A0038001%02X", (guint)seq);
		g_autoptr(GBytes) rr = es10(d.card, d.ch, cmd);
		g_autoptr(GArray) one = NULL;
		QlTlv top, list;
		parse(rr, 0xBF2B, &top);
		g_assert_true(child(&top, 0xA0, &list));
		one = children(&list);
		g_assert_cmpuint(one->len, ==, 1);
		g_assert_cmpmem(g_array_index(one, QlTlv, 0).raw,
				g_array_index(one, QlTlv, 0).raw_len, g_bytes_get_data(bf37, NULL),
				g_bytes_get_size(bf37));
	}
	/* the session is over: the load cannot go on, CancelSession knows no transaction */
	{
		g_autofree gchar *tid = ql_hex_encode(s.tid, 16);
		g_autofree gchar *cmd = g_strdup_printf("BF41158010%s810100", tid);
		g_autoptr(GBytes) rc = es10(d.card, d.ch, cmd);
		g_autofree gchar *h = to_hex(rc);
		g_assert_cmpstr(h, ==,
				"BF41038101"
				"05");
	}
	/* persisted: a new process sees the profile and the notification */
	dl_restart(&d);
	dl_check_installed(&d, iccid, r->isdp_aid);
	g_assert_cmpuint(dl_count_install_notifications(&d, iccid, NULL), ==, 1);
	/* RemoveNotificationFromList removes it */
	{
		g_autofree gchar *cmd = g_strdup_printf("BF30038001%02X", (guint)seq);
		g_assert_cmpint(es10_result(d.card, d.ch, cmd, 0xBF30), ==, 0);
		g_assert_cmpuint(dl_count_install_notifications(&d, iccid, NULL), ==, 0);
	}
	/* the same ICCID again: installFailedDueToIccidAlreadyExistsOnEuicc at storeMetadata */
	{
		DlSession s2 = {{0}};
		g_autoptr(GBytes) again = dl_download(&d, &s2, iccid, &o);
		g_autoptr(QlInstallResult) r2 = dl_check_result(&d, &s2, again, iccid);
		g_assert_false(r2->success);
		g_assert_cmpint(r2->bpp_command_id, ==, 2);
		g_assert_cmpint(r2->error_reason, ==, 9);
		g_assert_cmpuint(ql_vcard_get_profile_count(d.card), ==, before + 1);
		dl_session_clear(&s2);
	}
	dl_session_clear(&s);
	dl_clear(&d);
}

static void
test_vcard_download_hash_cc(void)
{
	Dl d;
	DlSession s = {{0}};
	g_autofree gchar *iccid = dl_iccid();
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) auth = NULL;
	g_autoptr(GBytes) prep = NULL;
	g_autoptr(GBytes) bpp = NULL;
	g_autoptr(GBytes) bf37 = NULL;
	g_autoptr(GBytes) hash_cc = NULL;
	g_autoptr(QlInstallResult) r = NULL;
	guint8 h[32];
	DlBppOpts o = {0};

	dl_init(&d);
	auth = dl_authenticate(&d, &s, DL_AUTH_OK);
	dl_check_authenticated(&d, &s, auth);
	/* a code is required but none was given: the card refuses (undefinedError) */
	prep = dl_prepare(&d, &s, TRUE, NULL, FALSE);
	g_assert_cmpint(dl_error_code(prep, 0xBF21, &s), ==, 127);
	g_clear_pointer(&prep, g_bytes_unref);
	/* the session survives a refusal: with the hash it goes on */
	g_assert_true(ql_crypto_hash_cc("12345678", s.tid, 16, h, &error));
	hash_cc = g_bytes_new(h, sizeof(h));
	prep = dl_prepare(&d, &s, TRUE, hash_cc, FALSE);
	g_assert_nonnull(s.euicc_otpk);
	bpp = dl_bpp(&d, &s, iccid, &o);
	bf37 = dl_load(&d, bpp, 0, NULL);
	r = dl_check_result(&d, &s, bf37, iccid);
	g_assert_true(r->success);
	dl_check_installed(&d, iccid, r->isdp_aid);
	dl_session_clear(&s);
	dl_clear(&d);
}

static void
test_vcard_download_replace_keys(void)
{
	Dl d;
	DlSession s = {{0}};
	g_autofree gchar *iccid = dl_iccid();
	g_autoptr(GBytes) bf37 = NULL;
	g_autoptr(QlInstallResult) r = NULL;
	DlBppOpts o = {.replace_keys = TRUE};

	dl_init(&d);
	bf37 = dl_download(&d, &s, iccid, &o);
	r = dl_check_result(&d, &s, bf37, iccid);
	g_assert_true(r->success);
	dl_check_installed(&d, iccid, r->isdp_aid);
	dl_session_clear(&s);
	dl_clear(&d);
}

static void
test_vcard_download_authenticate_errors(void)
{
	const struct {
		DlAuthCase c;
		gint64 code;
	} cases[] = {
		{DL_AUTH_BAD_SIGNATURE, 2},   /* invalidSignature */
		{DL_AUTH_WRONG_CHALLENGE, 6}, /* euiccChallengeMismatch */
		{DL_AUTH_UNKNOWN_CI, 7},      /* ciPKUnknown */
		{DL_AUTH_FOREIGN_CERT, 1},    /* invalidCertificate */
		{DL_AUTH_WRONG_ROLE, 5},      /* invalidOid */
	};
	Dl d;

	dl_init(&d);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		DlSession s = {{0}};
		g_autoptr(GBytes) r = dl_authenticate(&d, &s, cases[i].c);
		g_autofree gchar *tid = ql_hex_encode(s.tid, 16);
		g_autofree gchar *cmd = g_strdup_printf("BF41158010%s810100", tid);
		g_autoptr(GBytes) rc = NULL;
		g_autofree gchar *h = NULL;
		g_test_message("authenticate case %u", i);
		g_assert_cmpint(dl_error_code(r, 0xBF38, &s), ==, cases[i].code);
		/* no session was opened */
		rc = es10(d.card, d.ch, cmd);
		h = to_hex(rc);
		g_assert_cmpstr(h, ==,
				"BF41038101"
				"05");
		dl_session_clear(&s);
	}
	{
		DlSession s = {{0}};
		g_autoptr(GBytes) r = dl_authenticate(&d, &s, DL_AUTH_OK);
		dl_check_authenticated(&d, &s, r);
		/* PrepareDownload signed over something else than this euiccSignature1 */
		{
			g_autoptr(GBytes) p = dl_prepare(&d, &s, FALSE, NULL, TRUE);
			g_assert_cmpint(dl_error_code(p, 0xBF21, &s), ==, 2);
		}
		/* the challenge serves once: a replay finds no session context */
		{
			g_autoptr(GBytes) again = es10_bytes(&d, s.auth_req, NULL);
			g_assert_cmpint(dl_error_code(again, 0xBF38, &s), ==, 4);
		}
		/* and so does a new process that gave no challenge yet */
		dl_restart(&d);
		{
			g_autoptr(GBytes) again = es10_bytes(&d, s.auth_req, NULL);
			g_assert_cmpint(dl_error_code(again, 0xBF38, &s), ==, 4);
		}
		/* PrepareDownload without AuthenticateServer: noSessionContext */
		{
			g_autoptr(GBytes) p = dl_prepare(&d, &s, FALSE, NULL, FALSE);
			g_assert_cmpint(dl_error_code(p, 0xBF21, &s), ==, 4);
		}
		dl_session_clear(&s);
	}
	g_assert_cmpuint(ql_vcard_get_notification_count(d.card), ==, 0);
	dl_clear(&d);
}

static void
test_vcard_download_tampered(void)
{
	const struct {
		DlBppOpts o;
		gint command;
		gint reason;
	} cases[] = {
		{{.tamper_86 = TRUE}, 5, 8}, /* loadProfileElements, security */
		{{.tamper_86 = TRUE, .replace_keys = TRUE}, 5, 8},
		{{.tamper_88 = TRUE}, 2, 8}, /* storeMetadata, security */
		{{.bad_sign = TRUE}, 0, 2},  /* initialiseSecureChannel */
	};
	Dl d;

	dl_init(&d);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		DlSession s = {{0}};
		g_autofree gchar *iccid = dl_iccid();
		g_autoptr(GBytes) bf37 = NULL;
		g_autoptr(QlInstallResult) r = NULL;
		g_autoptr(GBytes) keep = NULL;
		guint profiles = ql_vcard_get_profile_count(d.card);
		guint notifications = ql_vcard_get_notification_count(d.card);
		QlTlv e3;
		g_test_message("tamper case %u", i);
		bf37 = dl_download(&d, &s, iccid, &cases[i].o);
		g_assert_nonnull(bf37);
		r = dl_check_result(&d, &s, bf37, NULL);
		/* the ICCID is named once StoreMetadata was taken in */
		g_assert_cmpstr(r->iccid, ==, cases[i].command == 5 ? iccid : NULL);
		g_assert_false(r->success);
		g_assert_cmpint(r->bpp_command_id, ==, cases[i].command);
		g_assert_cmpint(r->error_reason, ==, cases[i].reason);
		/* nothing installed, the failed result kept for the SM-DP+ */
		g_assert_cmpuint(ql_vcard_get_profile_count(d.card), ==, profiles);
		g_assert_false(dl_find_profile(&d, iccid, &e3, &keep));
		g_assert_cmpuint(ql_vcard_get_notification_count(d.card), ==, notifications + 1);
		dl_session_clear(&s);
	}
	/* and a new process still has nothing of them */
	dl_restart(&d);
	g_assert_cmpuint(ql_vcard_get_profile_count(d.card), ==, 0);
	g_assert_cmpuint(ql_vcard_get_notification_count(d.card), ==, G_N_ELEMENTS(cases));
	dl_clear(&d);
}

static void
test_vcard_download_cancel(void)
{
	Dl d;
	DlSession s = {{0}};
	g_autoptr(GBytes) auth = NULL;
	g_autofree gchar *tid = NULL;
	g_autofree gchar *wrong = NULL;

	dl_init(&d);
	auth = dl_authenticate(&d, &s, DL_AUTH_OK);
	dl_check_authenticated(&d, &s, auth);
	tid = ql_hex_encode(s.tid, 16);
	/* a wrong transaction id: invalidTransactionId, and the session goes on */
	{
		guint8 other[16];
		g_autoptr(GBytes) r = NULL;
		g_autofree gchar *cmd = NULL;
		g_autofree gchar *h = NULL;
		memcpy(other, s.tid, 16);
		other[15] ^= 0x01;
		wrong = ql_hex_encode(other, 16);
		cmd = g_strdup_printf("BF41158010%s810101", wrong);
		r = es10(d.card, d.ch, cmd);
		h = to_hex(r);
		g_assert_cmpstr(h, ==,
				"BF41038101"
				"05");
	}
	{
		g_autoptr(GBytes) prep = dl_prepare(&d, &s, FALSE, NULL, FALSE);
		g_assert_nonnull(s.euicc_otpk);
	}
	/* the right one: a signed answer { 80 tid, 81 smdpOid, 82 reason } */
	{
		g_autofree gchar *cmd = g_strdup_printf("BF41158010%s810101", tid);
		g_autoptr(GBytes) r = es10(d.card, d.ch, cmd);
		g_autofree gchar *oid = NULL;
		QlTlv top, ok, signed_part, sig, t;
		parse(r, 0xBF41, &top);
		g_assert_true(child(&top, 0xA0, &ok));
		g_assert_true(child(&ok, 0x30, &signed_part));
		g_assert_true(child(&ok, 0x5F37, &sig));
		g_assert_true(child(&signed_part, 0x80, &t));
		g_assert_cmpmem(t.value, t.len, s.tid, 16);
		oid = child_hex(&signed_part, 0x81);
		g_assert_cmpstr(oid, ==, DL_FALLBACK_OID);
		g_assert_cmpint(child_int(&signed_part, 0x82), ==, 1);
		assert_card_signed(s.euicc_crt, signed_part.raw, signed_part.raw_len, &sig);
	}
	/* the session is gone: a second cancel and a BPP are refused */
	{
		g_autofree gchar *cmd = g_strdup_printf("BF41158010%s810101", tid);
		g_autoptr(GBytes) r = es10(d.card, d.ch, cmd);
		g_autofree gchar *h = to_hex(r);
		DlBppOpts o = {0};
		g_autofree gchar *iccid = dl_iccid();
		g_autoptr(GBytes) bpp = dl_bpp(&d, &s, iccid, &o);
		g_autoptr(GBytes) bf37 = NULL;
		g_autoptr(QlInstallResult) res = NULL;
		g_assert_cmpstr(h, ==,
				"BF41038101"
				"05");
		bf37 = dl_load(&d, bpp, 0, NULL);
		res = ql_es10b_parse_install_result(bf37, NULL);
		g_assert_nonnull(res);
		g_assert_false(res->success);
		g_assert_cmpint(res->bpp_command_id, ==, 0);
		g_assert_cmpint(res->error_reason, ==, 3); /* invalidTransactionId */
	}
	g_assert_cmpuint(ql_vcard_get_profile_count(d.card), ==, 0);
	g_assert_cmpuint(ql_vcard_get_notification_count(d.card), ==, 0);
	dl_session_clear(&s);
	dl_clear(&d);
}

static void
test_vcard_download_interrupted(void)
{
	Dl d;
	DlSession s = {{0}};
	g_autofree gchar *iccid = dl_iccid();
	g_autoptr(GBytes) auth = NULL;
	g_autoptr(GBytes) prep = NULL;
	g_autoptr(GBytes) bpp = NULL;
	g_autoptr(GBytes) last = NULL;
	g_autoptr(GPtrArray) segs = NULL;
	g_autoptr(GBytes) keep = NULL;
	DlBppOpts o = {0};
	guint sent = 0;
	QlTlv e3;

	dl_init(&d);
	auth = dl_authenticate(&d, &s, DL_AUTH_OK);
	dl_check_authenticated(&d, &s, auth);
	prep = dl_prepare(&d, &s, FALSE, NULL, FALSE);
	bpp = dl_bpp(&d, &s, iccid, &o);
	segs = ql_es10b_bpp_segments(bpp, NULL);
	g_assert_nonnull(segs);
	/* everything but the last 86: the card answers nothing and stores nothing */
	last = dl_load(&d, bpp, segs->len - 1, &sent);
	g_assert_cmpuint(sent, ==, segs->len - 1);
	g_assert_cmpuint(g_bytes_get_size(last), ==, 0);
	g_assert_cmpuint(ql_vcard_get_profile_count(d.card), ==, 0);
	g_assert_false(dl_find_profile(&d, iccid, &e3, &keep));
	g_assert_cmpuint(ql_vcard_get_notification_count(d.card), ==, 0);
	/* the LPA is gone; a new process has no session: the last piece finds no load */
	dl_restart(&d);
	g_assert_cmpuint(ql_vcard_get_profile_count(d.card), ==, 0);
	{
		guint16 sw = 0;
		g_autoptr(GBytes) r = es10_bytes(&d, g_ptr_array_index(segs, segs->len - 1), &sw);
		g_assert_cmphex(sw, ==, 0x6985);
	}
	g_assert_cmpuint(ql_vcard_get_profile_count(d.card), ==, 0);
	g_assert_cmpuint(ql_vcard_get_notification_count(d.card), ==, 0);
	dl_session_clear(&s);

	/* within one process, a new session (GetEuiccChallenge) drops a half-done load too */
	{
		DlSession s2 = {{0}};
		g_autofree gchar *iccid2 = dl_iccid();
		g_autoptr(GBytes) a2 = dl_authenticate(&d, &s2, DL_AUTH_OK);
		g_autoptr(GBytes) p2 = NULL;
		g_autoptr(GBytes) bpp2 = NULL;
		g_autoptr(GBytes) l2 = NULL;
		g_autoptr(GPtrArray) segs2 = NULL;
		g_autoptr(GBytes) c = NULL;
		guint16 sw = 0;
		dl_check_authenticated(&d, &s2, a2);
		p2 = dl_prepare(&d, &s2, FALSE, NULL, FALSE);
		bpp2 = dl_bpp(&d, &s2, iccid2, &o);
		segs2 = ql_es10b_bpp_segments(bpp2, NULL);
		l2 = dl_load(&d, bpp2, segs2->len - 2, NULL);
		g_assert_cmpuint(g_bytes_get_size(l2), ==, 0);
		c = dl_challenge(&d);
		g_clear_pointer(&l2, g_bytes_unref);
		l2 = es10_bytes(&d, g_ptr_array_index(segs2, segs2->len - 2), &sw);
		g_assert_cmphex(sw, ==, 0x6985);
		g_assert_cmpuint(ql_vcard_get_profile_count(d.card), ==, 0);
		dl_session_clear(&s2);
	}
	dl_clear(&d);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ql/vcard/eid", test_vcard_eid);
	g_test_add_func("/ql/vcard/channels", test_vcard_channels);
	g_test_add_func("/ql/vcard/logical-channels", test_vcard_logical_channels);
	g_test_add_func("/ql/vcard/info", test_vcard_info);
	g_test_add_func("/ql/vcard/profiles", test_vcard_profiles);
	g_test_add_func("/ql/vcard/chaining", test_vcard_chaining);
	g_test_add_func("/ql/vcard/enable-disable", test_vcard_enable_disable);
	g_test_add_func("/ql/vcard/notifications", test_vcard_notifications);
	g_test_add_func("/ql/vcard/addresses-reset", test_vcard_addresses_reset);
	g_test_add_func("/ql/vcard/persistence", test_vcard_persistence);
	g_test_add_func("/ql/vcard/state-errors", test_vcard_state_errors);
	g_test_add_func("/ql/vcard/identity-dir", test_vcard_identity_dir);
	g_test_add_func("/ql/vcard/faults", test_vcard_faults);
	g_test_add_func("/ql/vcard/plugin", test_vcard_plugin);
	g_test_add_func("/ql/vcard/download-install", test_vcard_download_install);
	g_test_add_func("/ql/vcard/download-hash-cc", test_vcard_download_hash_cc);
	g_test_add_func("/ql/vcard/download-replace-keys", test_vcard_download_replace_keys);
	g_test_add_func("/ql/vcard/download-authenticate-errors",
			test_vcard_download_authenticate_errors);
	g_test_add_func("/ql/vcard/download-tampered", test_vcard_download_tampered);
	g_test_add_func("/ql/vcard/download-cancel", test_vcard_download_cancel);
	g_test_add_func("/ql/vcard/download-interrupted", test_vcard_download_interrupted);
	return g_test_run();
}
