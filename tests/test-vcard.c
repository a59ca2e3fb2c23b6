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

static guint8
cla_for(guint8 ch, gboolean proprietary)
{
	if (ch < 4)
		return (proprietary ? 0x80 : 0x00) | ch;
	return (proprietary ? 0xC0 : 0x40) | (ch - 4);
}

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
	sel = g_strdup_printf("%02XA4040010" ISDR_AID "00", cla_for(ch, FALSE));
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
		guint8 hdr[5] = {cla_for(ch, TRUE), 0xE2, i + 1 == nblocks ? 0x91 : 0x11, (guint8)i,
				 (guint8)n};
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
		guint8 get[5] = {cla_for(ch, TRUE), 0xC0, 0x00, 0x00, 0x00};
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
		c = g_strdup_printf("%02XCA00FE00", cla_for(ch, TRUE));
		assert_apdu(card, c, "6D00");
		/* STORE DATA needs the GP (proprietary) class, SELECT the interindustry one */
		g_free(c);
		c = g_strdup_printf("%02XE2910006BF3E035C015A00", cla_for(ch, FALSE));
		assert_apdu(card, c, "6E00");
		g_free(c);
		c = g_strdup_printf("%02XA4040010" ISDR_AID "00", cla_for(ch, TRUE));
		assert_apdu(card, c, "6E00");
		assert_apdu(card, "FFA4040010" ISDR_AID "00", "6E00");
		/* secure messaging and chaining bits are refused */
		g_free(c);
		c = g_strdup_printf("%02XE2910006BF3E035C015A00", cla_for(ch, TRUE) | 0x04);
		assert_apdu(card, c, "6882");
		g_free(c);
		c = g_strdup_printf("%02XE2910006BF3E035C015A00", cla_for(ch, TRUE) | 0x10);
		assert_apdu(card, c, "6884");
		/* an unknown AID */
		g_free(c);
		c = g_strdup_printf("%02XA4040010A0000005591010FFFFFFFF8900000999",
				    cla_for(ch, FALSE));
		assert_apdu(card, c, "6A82");
		/* Lc that does not match the data */
		g_free(c);
		c = g_strdup_printf("%02XE2910007BF3E035C015A", cla_for(ch, TRUE));
		assert_apdu(card, c, "6700");
		assert_apdu(card, "81E2", "6700");
		/* STORE DATA: block 1 before block 0, an unknown P1, no data */
		g_free(c);
		c = g_strdup_printf("%02XE2910106BF3E035C015A00", cla_for(ch, TRUE));
		assert_apdu(card, c, "6A86");
		g_free(c);
		c = g_strdup_printf("%02XE2010006BF3E035C015A00", cla_for(ch, TRUE));
		assert_apdu(card, c, "6A86");
		g_free(c);
		c = g_strdup_printf("%02XE2910000", cla_for(ch, TRUE));
		assert_apdu(card, c, "6700");
		/* GET RESPONSE with nothing pending */
		g_free(c);
		c = g_strdup_printf("%02XC0000000", cla_for(ch, TRUE));
		assert_apdu(card, c, "6985");
		/* a two-block command whose second block skips a number is refused, and the card
		 * is ready for a fresh command afterwards */
		g_free(c);
		c = g_strdup_printf("%02XE2110003BF3E03", cla_for(ch, TRUE));
		assert_apdu(card, c, "9000");
		g_free(c);
		c = g_strdup_printf("%02XE29102035C015A00", cla_for(ch, TRUE));
		assert_apdu(card, c, "6A86");
		g_free(c);
		c = g_strdup_printf("%02XE2110003BF3E03", cla_for(ch, TRUE));
		assert_apdu(card, c, "9000");
		g_free(c);
		c = g_strdup_printf("%02XE29101035C015A00", cla_for(ch, TRUE));
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
	cmd = g_strdup_printf("%02XE2910003BF2D0000", cla_for(ch, TRUE));
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
			g_autofree gchar *get = g_strdup_printf("%02XC00000%02X",
								cla_for(ch, pieces % 2 == 0), sw2);
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
	cmd = g_strdup_printf("%02XE2910003BF2D00", cla_for(ch, TRUE));
	assert_apdu(card, cmd, "6100");
	/* another command drops the pending answer */
	{
		g_autofree gchar *c =
			g_strdup_printf("%02XE2910006BF3E035C015A00", cla_for(ch, TRUE));
		g_autofree gchar *r = apdu(card, c);
		g_autofree gchar *get = g_strdup_printf("%02XC0000000", cla_for(ch, TRUE));
		g_assert_true(g_str_has_suffix(r, "9000"));
		assert_apdu(card, get, "6985");
	}

	/* smaller pieces, and the 6Cxx quirk: Le must be exactly the piece size */
	ql_vcard_set_chunk_size(card, 100);
	ql_vcard_set_quirk_6c(card, TRUE);
	{
		g_autofree gchar *r = apdu(card, cmd);
		g_autofree gchar *get00 = g_strdup_printf("%02XC0000000", cla_for(ch, TRUE));
		g_autofree gchar *get64 = g_strdup_printf("%02XC0000064", cla_for(ch, TRUE));
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
			g_autofree gchar *c =
				g_strdup_printf("%02XE2910006BF3E035C015A00", cla_for(ch, TRUE));
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
		cmd = g_strdup_printf("%02XE2910014BF3111A00C5A0A%s81010000", cla_for(ch, TRUE),
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
		c = g_strdup_printf("%02XE2910006BF3E035C015A00", cla_for(ch, TRUE));
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
	c = g_strdup_printf("%02XE2910006BF3E035C015A00", cla_for(ch, TRUE));
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
	/* the module's own copy of the core registers the error domain again: no warning */
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

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ql/vcard/eid", test_vcard_eid);
	g_test_add_func("/ql/vcard/channels", test_vcard_channels);
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
	return g_test_run();
}
