/*
 * The test SM-DP+'s profile binding against an in-test "card side": the BPP is split the way the
 * LPA sends it (ql_es10b_bpp_segments), smdpSign is checked, the session keys are derived from
 * the card's one-time key and every segment is unwrapped with ql_bsp_unwrap.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "ql-es10b.h"
#include "ql-smdp.h"
#include "ql-tlv.h"

static QlSmdpPki test_pki;
static gchar *test_pki_dir;

static const guint8 card_eid[16] = {0x89, 0x04, 0x90, 0x32, 0x12, 0x34, 0x56, 0x78,
				    0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34};
static const guint8 test_tid[16] = {0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6, 0x07, 0x18,
				    0x29, 0x3A, 0x4B, 0x5C, 0x6D, 0x7E, 0x8F, 0x90};

typedef struct {
	guint8 eid[16];
	guint8 tid[16];
	QlEcKeyPair card_ot; /* otSK/otPK.EUICC.ECKA */
	QlEcKeyPair smdp_ot;
	GBytes *metadata;
	GBytes *profile;
	GBytes *bpp;
} Fixture;

static void
fixture_build(Fixture *f, gboolean ppk, gboolean tamper, gboolean bad_sig)
{
	g_autoptr(GError) error = NULL;
	QlSmdpBppParams p = {0};

	memcpy(f->eid, card_eid, sizeof(f->eid));
	memcpy(f->tid, test_tid, sizeof(f->tid));
	g_assert_true(ql_crypto_ec_generate(&f->card_ot, &error));
	g_assert_true(ql_crypto_ec_generate(&f->smdp_ot, &error));
	f->metadata = ql_smdp_make_metadata("8988000000000000017", "SPN", "Name", 2, "127.0.0.1:1",
					    &error);
	g_assert_no_error(error);
	f->profile = ql_smdp_make_profile("8988000000000000017", 2600, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(f->profile), >, 2000);
	g_assert_true(ql_tlv_validate(g_bytes_get_data(f->profile, NULL),
				      g_bytes_get_size(f->profile), QL_TLV_MAX_DEPTH, NULL));
	p.transaction_id = test_tid;
	p.transaction_id_len = sizeof(test_tid);
	p.host_id = (const guint8 *)QL_SMDP_HOST_ID;
	p.host_id_len = strlen(QL_SMDP_HOST_ID);
	p.eid = card_eid;
	p.smdp_ot = &f->smdp_ot;
	p.euicc_otpk = f->card_ot.pub;
	p.euicc_otpk_len = sizeof(f->card_ot.pub);
	p.dppb_key = test_pki.dppb.key;
	p.metadata = f->metadata;
	p.profile = f->profile;
	p.use_ppk = ppk;
	p.tamper_86 = tamper;
	p.bad_signature = bad_sig;
	f->bpp = ql_smdp_bpp_build(&p, &error);
	g_assert_no_error(error);
	g_assert_nonnull(f->bpp);
}

static void
fixture_clear(Fixture *f)
{
	ql_crypto_ec_keypair_clear(&f->card_ot);
	ql_crypto_ec_keypair_clear(&f->smdp_ot);
	g_clear_pointer(&f->metadata, g_bytes_unref);
	g_clear_pointer(&f->profile, g_bytes_unref);
	g_clear_pointer(&f->bpp, g_bytes_unref);
}

/* What the card saw and made of the BPP */
typedef struct {
	guint n_segments;
	gboolean sign_ok;
	gboolean have_bf26;
	GByteArray *configure;
	GByteArray *metadata;
	GByteArray *profile;
	GError *error; /* the first unwrap failure */
	guint failed_tag;
} CardResult;

static void
card_result_clear(CardResult *r)
{
	g_clear_pointer(&r->configure, g_byte_array_unref);
	g_clear_pointer(&r->metadata, g_byte_array_unref);
	g_clear_pointer(&r->profile, g_byte_array_unref);
	g_clear_error(&r->error);
}

/* The smdpSign input built independently of the server code: the raw 82, 80, A6 and 5F49
 * objects of BF23, then 5F49 with the card's own otPK */
static void
card_check_bf23(const QlTlv *bf23, const Fixture *f, CardResult *r, QlBsp **bsp,
		gboolean use_own_key)
{
	const QlEcKeyPair *card = &f->card_ot;
	g_autoptr(GByteArray) tbs = g_byte_array_new();
	g_autoptr(GError) error = NULL;
	g_auto(QlBspKeys) keys = {{0}};
	QlTlv t, crt, host, smdp_otpk, sig;
	QlTlvIter it;
	guint8 raw_sig[64];
	guint8 secret[32];
	const guint32 order[] = {0x82, 0x80, 0xA6, 0x5F49, 0x5F37};
	guint i = 0;

	ql_tlv_iter_init_value(&it, bf23);
	while (ql_tlv_iter_next(&it, &t, &error)) {
		g_assert_cmpuint(i, <, G_N_ELEMENTS(order));
		g_assert_cmphex(t.tag, ==, order[i++]);
		if (t.tag != 0x5F37)
			g_byte_array_append(tbs, t.raw, (guint)t.raw_len);
	}
	g_assert_no_error(error);
	g_assert_cmpuint(i, ==, 5);
	g_byte_array_append(tbs, (const guint8 *)"\x5F\x49\x41", 3);
	g_byte_array_append(tbs, card->pub, sizeof(card->pub));

	g_assert_true(ql_tlv_find(bf23, 0x80, &t, NULL));
	g_assert_cmpmem(t.value, t.len, f->tid, sizeof(f->tid));
	g_assert_true(ql_tlv_find(bf23, 0x82, &t, NULL));
	g_assert_cmpuint(t.len, ==, 1);
	g_assert_cmpuint(t.value[0], ==, 1);
	g_assert_true(ql_tlv_find(bf23, 0xA6, &crt, NULL));
	g_assert_true(ql_tlv_find(&crt, 0x80, &t, NULL));
	g_assert_cmpuint(t.value[0], ==, 0x88);
	g_assert_true(ql_tlv_find(&crt, 0x81, &t, NULL));
	g_assert_cmpuint(t.value[0], ==, 0x10);
	g_assert_true(ql_tlv_find(&crt, 0x84, &host, NULL));
	g_assert_cmpuint(host.len, >=, 8);
	g_assert_cmpuint(host.len, <=, 16);
	g_assert_true(ql_tlv_find(bf23, 0x5F49, &smdp_otpk, NULL));
	g_assert_true(ql_tlv_find(bf23, 0x5F37, &sig, NULL));
	g_assert_true(ql_crypto_sig_from_tlv(sig.raw, sig.raw_len, raw_sig, NULL));
	r->sign_ok = ql_crypto_ecdsa_verify_crt(test_pki.dppb.crt, tbs->data, tbs->len, raw_sig,
						sizeof(raw_sig), NULL);

	if (use_own_key) {
		g_assert_true(
			ql_crypto_ecdh(card->priv, smdp_otpk.value, smdp_otpk.len, secret, &error));
	} else {
		/* another card: its own one-time key, which the BPP was not bound to */
		g_auto(QlEcKeyPair) other = {{0}};
		g_assert_true(ql_crypto_ec_generate(&other, &error));
		g_assert_true(
			ql_crypto_ecdh(other.priv, smdp_otpk.value, smdp_otpk.len, secret, &error));
	}
	g_assert_true(ql_bsp_derive_keys(secret, sizeof(secret), host.value, host.len, f->eid,
					 sizeof(f->eid), &keys, &error));
	*bsp = ql_bsp_new(&keys);
}

static gboolean
card_unwrap(QlBsp *bsp, const QlTlv *seg, guint8 want_tag, GByteArray *into, CardResult *r)
{
	g_autoptr(GBytes) plain = NULL;
	guint8 tag = 0;
	if (r->error != NULL)
		return FALSE;
	g_assert_cmpuint(seg->raw_len, <=, QL_BSP_MAX_SEGMENT);
	plain = ql_bsp_unwrap(bsp, seg->raw, seg->raw_len, &tag, &r->error);
	if (plain == NULL) {
		r->failed_tag = seg->tag;
		return FALSE;
	}
	g_assert_cmpuint(tag, ==, want_tag);
	g_byte_array_append(into, g_bytes_get_data(plain, NULL), (guint)g_bytes_get_size(plain));
	return TRUE;
}

/* Plays the eUICC: the commands as the LPA sends them (SGP.22 2.5.5), one by one */
static void
card_load(const Fixture *f, gboolean use_own_key, CardResult *r)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) cmds = ql_es10b_bpp_segments(f->bpp, &error);
	g_autoptr(QlBsp) bsp = NULL;

	g_assert_no_error(error);
	g_assert_nonnull(cmds);
	r->n_segments = cmds->len;
	r->configure = g_byte_array_new();
	r->metadata = g_byte_array_new();
	r->profile = g_byte_array_new();
	for (guint i = 0; i < cmds->len; i++) {
		gsize len = 0;
		const guint8 *d = g_bytes_get_data(g_ptr_array_index(cmds, i), &len);
		QlTlv t, child;
		QlTlvIter it;

		if (d[0] == 0xBF && d[1] == 0x36) {
			/* the BF36 header with BF23 */
			gsize pos = d[2] < 0x80 ? 3 : 3 + (d[2] & 0x7F);
			g_assert_cmpuint(i, ==, 0);
			g_assert_true(ql_tlv_read_exact(d + pos, len - pos, 0xBF23, &t, &error));
			card_check_bf23(&t, f, r, &bsp, use_own_key);
			continue;
		}
		if (d[0] == 0xA1 || d[0] == 0xA3)
			continue; /* a sequence header alone */
		g_assert_nonnull(bsp);
		g_assert_true(ql_tlv_read_exact(d, len, 0, &t, &error));
		switch (t.tag) {
		case 0xA0:
		case 0xA2:
			ql_tlv_iter_init_value(&it, &t);
			while (ql_tlv_iter_next(&it, &child, &error)) {
				g_autoptr(GByteArray) plain = g_byte_array_new();
				g_assert_cmphex(child.tag, ==, 0x87);
				if (!card_unwrap(bsp, &child, 0x87, plain, r))
					break;
				if (t.tag == 0xA0) {
					g_byte_array_append(r->configure, plain->data, plain->len);
				} else {
					/* SGP.22 5.5.4: from here the profile keys */
					r->have_bf26 = TRUE;
					g_assert_true(ql_bsp_replace_keys_from_tlv(
						bsp, plain->data, plain->len, &error));
					g_assert_no_error(error);
				}
			}
			g_assert_no_error(error);
			break;
		case 0x88:
			card_unwrap(bsp, &t, 0x88, r->metadata, r);
			break;
		case 0x86:
			card_unwrap(bsp, &t, 0x86, r->profile, r);
			break;
		default:
			g_assert_not_reached();
		}
	}
}

static void
test_bpp_unwrap(void)
{
	Fixture f = {0};
	CardResult r = {0};
	guint n86;

	fixture_build(&f, FALSE, FALSE, FALSE);
	card_load(&f, TRUE, &r);
	g_assert_no_error(r.error);
	g_assert_true(r.sign_ok);
	g_assert_false(r.have_bf26);
	g_assert_cmpmem(r.configure->data, r.configure->len, "\xBF\x24\x00", 3);
	g_assert_cmpmem(r.metadata->data, r.metadata->len, g_bytes_get_data(f.metadata, NULL),
			g_bytes_get_size(f.metadata));
	g_assert_cmpmem(r.profile->data, r.profile->len, g_bytes_get_data(f.profile, NULL),
			g_bytes_get_size(f.profile));
	/* BF36+BF23, A0, A1 header, one 88, A3 header, the 86s */
	n86 = (guint)((g_bytes_get_size(f.profile) + 1006) / 1007);
	g_assert_cmpuint(n86, >=, 3);
	g_assert_cmpuint(r.n_segments, ==, 5 + n86);
	card_result_clear(&r);
	fixture_clear(&f);
}

static void
test_bpp_ppk(void)
{
	Fixture f = {0};
	CardResult r = {0};

	fixture_build(&f, TRUE, FALSE, FALSE);
	card_load(&f, TRUE, &r);
	g_assert_no_error(r.error);
	g_assert_true(r.sign_ok);
	g_assert_true(r.have_bf26);
	g_assert_cmpmem(r.profile->data, r.profile->len, g_bytes_get_data(f.profile, NULL),
			g_bytes_get_size(f.profile));
	card_result_clear(&r);
	fixture_clear(&f);
}

static void
test_bpp_tamper(void)
{
	Fixture f = {0};
	CardResult r = {0};

	fixture_build(&f, FALSE, TRUE, FALSE);
	card_load(&f, TRUE, &r);
	/* everything before the profile is fine; the first 86 fails its MAC */
	g_assert_true(r.sign_ok);
	g_assert_cmpuint(r.metadata->len, ==, g_bytes_get_size(f.metadata));
	g_assert_nonnull(r.error);
	g_assert_cmpuint(r.failed_tag, ==, 0x86);
	g_assert_cmpuint(r.profile->len, ==, 0);
	card_result_clear(&r);
	fixture_clear(&f);

	/* the same with PPKs */
	fixture_build(&f, TRUE, TRUE, FALSE);
	card_load(&f, TRUE, &r);
	g_assert_true(r.have_bf26);
	g_assert_nonnull(r.error);
	g_assert_cmpuint(r.failed_tag, ==, 0x86);
	card_result_clear(&r);
	fixture_clear(&f);
}

static void
test_bpp_bound(void)
{
	Fixture f = {0};
	CardResult r = {0};

	/* another card's one-time key opens nothing: the first 87 already fails */
	fixture_build(&f, FALSE, FALSE, FALSE);
	card_load(&f, FALSE, &r);
	g_assert_nonnull(r.error);
	g_assert_cmpuint(r.failed_tag, ==, 0x87);
	card_result_clear(&r);
	fixture_clear(&f);
}

static void
test_bpp_bad_signature(void)
{
	Fixture f = {0};
	CardResult r = {0};

	fixture_build(&f, FALSE, FALSE, TRUE);
	card_load(&f, TRUE, &r);
	g_assert_false(r.sign_ok);
	card_result_clear(&r);
	fixture_clear(&f);
}

static void
test_bpp_signed_data(void)
{
	Fixture f = {0};
	g_autoptr(GBytes) tbs = NULL;
	g_autoptr(GError) error = NULL;
	const guint8 *d;
	gsize len = 0, pos;
	QlTlv bf23, sig;
	guint8 raw[64];

	/* the exported helper (for the virtual eUICC and the LPA tests) agrees with the card */
	fixture_build(&f, FALSE, FALSE, FALSE);
	d = g_bytes_get_data(f.bpp, &len);
	pos = d[2] < 0x80 ? 3 : 3 + (d[2] & 0x7F);
	g_assert_true(ql_tlv_read(d + pos, len - pos, &bf23, NULL, &error));
	tbs = ql_smdp_bf23_signed_data(bf23.value, bf23.len, f.card_ot.pub, sizeof(f.card_ot.pub),
				       &error);
	g_assert_no_error(error);
	g_assert_true(ql_tlv_find(&bf23, 0x5F37, &sig, NULL));
	g_assert_true(ql_crypto_sig_from_tlv(sig.raw, sig.raw_len, raw, NULL));
	g_assert_true(ql_crypto_ecdsa_verify_crt(test_pki.dppb.crt, g_bytes_get_data(tbs, NULL),
						 g_bytes_get_size(tbs), raw, sizeof(raw), &error));
	g_assert_no_error(error);
	fixture_clear(&f);
}

static void
test_eid(void)
{
	for (guint i = 0; i < 200; i++) {
		g_autofree gchar *eid = ql_smdp_make_eid();
		g_assert_cmpuint(strlen(eid), ==, 32);
		g_assert_true(g_str_has_prefix(eid, "89"));
		g_assert_true(ql_smdp_eid_is_valid(eid));
		eid[20] = eid[20] == '9' ? '0' : eid[20] + 1;
		g_assert_false(ql_smdp_eid_is_valid(eid));
	}
	/* the EID of SGP.22's examples */
	g_assert_true(ql_smdp_eid_is_valid("89049032123451234512345678901235"));
}

static void
test_iccid(void)
{
	for (guint i = 0; i < 50; i++) {
		g_autofree gchar *iccid = ql_smdp_make_iccid();
		g_autoptr(GBytes) bcd = ql_iccid_to_bcd(iccid, NULL);
		g_autofree gchar *back = NULL;
		guint sum = 0;
		g_assert_cmpuint(strlen(iccid), ==, 19);
		g_assert_nonnull(bcd);
		g_assert_cmpuint(g_bytes_get_size(bcd), ==, 10);
		back = ql_iccid_from_bcd(g_bytes_get_data(bcd, NULL), 10);
		g_assert_cmpstr(back, ==, iccid);
		/* Luhn over all 19 digits */
		for (guint k = 0; k < 19; k++) {
			guint d = (guint)(iccid[18 - k] - '0');
			if (k % 2 == 1)
				d = d * 2 > 9 ? d * 2 - 9 : d * 2;
			sum += d;
		}
		g_assert_cmpuint(sum % 10, ==, 0);
	}
}

static void
test_pki_layout(void)
{
	const gchar *files[] = {
		"ci.pem",	 "ci-key.pem",	    "dpauth.pem",	   "dpauth-key.pem",
		"dppb.pem",	 "dppb-key.pem",    "dptls.pem",	   "dptls-key.pem",
		"euicc/eum.pem", "euicc/euicc.pem", "euicc/euicc-key.pem", "euicc/ci/ci.pem",
		"crl/ci.crl",	 "client.pem",	    "client-key.pem",	   "client-ca.pem",
		"cc.key",	 "unknown-ci.pem",  "tls-revoked.pem"};
	g_auto(QlPkiCert) euicc = {NULL, NULL};
	g_auto(QlPkiCert) eum = {NULL, NULL};
	g_autofree gchar *euicc_path = g_build_filename(test_pki_dir, "euicc", "euicc.pem", NULL);
	g_autofree gchar *eum_path = g_build_filename(test_pki_dir, "euicc", "eum.pem", NULL);
	g_autofree gchar *eid = NULL;
	g_autofree gchar *code1 = NULL;
	g_autofree gchar *code2 = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) ski1 = NULL;
	g_autoptr(GBytes) ski2 = NULL;
	QlSmdpPki again = {0};

	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree gchar *p = g_build_filename(test_pki_dir, files[i], NULL);
		g_assert_true(g_file_test(p, G_FILE_TEST_IS_REGULAR));
	}
	g_assert_true(ql_pki_load(euicc_path, NULL, &euicc, &error));
	g_assert_true(ql_pki_load(eum_path, NULL, &eum, &error));
	g_assert_true(ql_smdp_verify_euicc_chain(&test_pki, euicc.crt, eum.crt, &error));
	g_assert_no_error(error);
	/* the wrong way round: the EUM is not an eUICC */
	g_assert_false(ql_smdp_verify_euicc_chain(&test_pki, eum.crt, euicc.crt, NULL));
	eid = ql_pki_subject_serial_number(euicc.crt);
	g_assert_true(ql_smdp_eid_is_valid(eid));
	g_assert_cmpint(ql_pki_cert_role(test_pki.dpauth.crt), ==, QL_CERT_ROLE_DP_AUTH);
	g_assert_cmpint(ql_pki_cert_role(test_pki.dppb.crt), ==, QL_CERT_ROLE_DP_PB);
	g_assert_cmpint(ql_pki_cert_role(test_pki.dptls.crt), ==, QL_CERT_ROLE_DP_TLS);
	g_assert_cmpint(ql_pki_cert_role(test_pki.tls_wrong_role.crt), ==, QL_CERT_ROLE_DP_AUTH);
	g_assert_true(gnutls_x509_crt_check_hostname(test_pki.dptls.crt, "localhost"));
	g_assert_true(gnutls_x509_crt_check_hostname(test_pki.dptls.crt, "127.0.0.1"));
	g_assert_false(gnutls_x509_crt_check_hostname(test_pki.tls_wrong_host.crt, "localhost"));

	/* a second start reuses it */
	g_assert_true(ql_smdp_pki_open(test_pki_dir, &again, &error));
	g_assert_no_error(error);
	ski1 = ql_pki_subject_key_id(test_pki.ci.crt, NULL);
	ski2 = ql_pki_subject_key_id(again.ci.crt, NULL);
	g_assert_true(g_bytes_equal(ski1, ski2));
	code1 = ql_smdp_confirmation_code(&test_pki, "CC-ONE");
	code2 = ql_smdp_confirmation_code(&again, "CC-ONE");
	g_assert_cmpstr(code1, ==, code2);
	g_assert_cmpuint(strlen(code1), ==, 6);
	g_assert_cmpuint(strspn(code1, "0123456789ABCDEF"), ==, 6);
	ql_smdp_pki_clear(&again);
}

/* ---- the ES9+ functions, in process, with the test playing LPA and eUICC ---- */

#include <json-glib/json-glib.h>

typedef struct {
	QlSmdpServer *server;
	QlPkiCert euicc;
	QlPkiCert eum;
	gchar *eid_str;
	guint8 eid[16];
	gchar *tid;
	guint8 tid_raw[16];
	GBytes *euicc_sig1; /* 5F37 TLV */
	GBytes *smdp_sig2;  /* 5F37 TLV */
	gboolean cc_required;
	gchar *iccid;
} Flow;

static JsonObject *
flow_call(Flow *fl, const gchar *function, const gchar *json, guint *status_out)
{
	g_autofree gchar *path = g_strdup_printf("/gsma/rsp2/es9plus/%s", function);
	g_autoptr(QlSmdpReply) reply = ql_smdp_server_handle(
		fl->server, "POST", path, "gsma/rsp/v2.2.0", (const guint8 *)json, strlen(json));
	g_autoptr(JsonParser) parser = json_parser_new();
	if (status_out != NULL)
		*status_out = reply->http_status;
	if (reply->body == NULL)
		return NULL;
	g_assert_true(
		json_parser_load_from_data(parser, reply->body, (gssize)reply->body_len, NULL));
	return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static const gchar *
flow_status(JsonObject *o, const gchar **subject, const gchar **reason)
{
	JsonObject *st = json_object_get_object_member(json_object_get_object_member(o, "header"),
						       "functionExecutionStatus");
	if (json_object_has_member(st, "statusCodeData")) {
		JsonObject *scd = json_object_get_object_member(st, "statusCodeData");
		*subject = json_object_get_string_member(scd, "subjectCode");
		*reason = json_object_get_string_member(scd, "reasonCode");
	}
	return json_object_get_string_member(st, "status");
}

static GBytes *
flow_b64(JsonObject *o, const gchar *name)
{
	gsize len = 0;
	guchar *d = g_base64_decode(json_object_get_string_member(o, name), &len);
	return g_bytes_new_take(d, len);
}

static gchar *
b64(const guint8 *d, gsize len)
{
	return g_base64_encode(d, len);
}

static void
flow_sign(Flow *fl, const guint8 *d, gsize len, guint8 sig[64])
{
	g_autoptr(GError) error = NULL;
	g_assert_true(ql_crypto_ecdsa_sign_x509(fl->euicc.key, d, len, sig, &error));
}

static void
flow_init(Flow *fl)
{
	g_autofree gchar *e = g_build_filename(test_pki_dir, "euicc", "euicc.pem", NULL);
	g_autofree gchar *k = g_build_filename(test_pki_dir, "euicc", "euicc-key.pem", NULL);
	g_autofree gchar *m = g_build_filename(test_pki_dir, "euicc", "eum.pem", NULL);
	g_autoptr(GBytes) eid = NULL;
	const gchar *const faults[] = {NULL};
	const gchar *const events[] = {"EVT-1", NULL};

	memset(fl, 0, sizeof(*fl));
	fl->server = ql_smdp_server_new(&test_pki, "127.0.0.1:1", faults, events);
	g_assert_true(ql_pki_load(e, k, &fl->euicc, NULL));
	g_assert_true(ql_pki_load(m, NULL, &fl->eum, NULL));
	fl->eid_str = ql_pki_subject_serial_number(fl->euicc.crt);
	eid = ql_hex_decode(fl->eid_str, NULL);
	memcpy(fl->eid, g_bytes_get_data(eid, NULL), 16);
}

static void
flow_clear(Flow *fl)
{
	ql_smdp_server_free(fl->server);
	ql_pki_cert_clear(&fl->euicc);
	ql_pki_cert_clear(&fl->eum);
	g_free(fl->eid_str);
	g_free(fl->tid);
	g_free(fl->iccid);
	g_clear_pointer(&fl->euicc_sig1, g_bytes_unref);
	g_clear_pointer(&fl->smdp_sig2, g_bytes_unref);
}

/* initiateAuthentication + authenticateClient; returns the authenticateClient answer */
static JsonObject *
flow_authenticate(Flow *fl, const gchar *matching_id)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) info1 = NULL, signed1 = NULL, ss1 = NULL, sig1 = NULL, srvcert = NULL;
	g_autoptr(GBytes) euicc_der = NULL, eum_der = NULL, asr = NULL, ski = NULL;
	g_autoptr(JsonObject) r1 = NULL;
	g_autofree gchar *json = NULL, *s_info1 = NULL, *s_ch = NULL, *s_asr = NULL;
	g_auto(gnutls_x509_crt_t) dpauth = NULL;
	guint8 challenge[16], sig[64];
	QlTlv t, f;
	const gchar *subj = NULL, *reas = NULL;

	ski = ql_pki_subject_key_id(test_pki.ci.crt, NULL);
	ql_tlv_builder_begin(b, 0xBF20);
	ql_tlv_builder_add(b, 0x82, (const guint8 *)"\x02\x02\x02", 3);
	ql_tlv_builder_begin(b, 0xA9);
	ql_tlv_builder_add_bytes(b, 0x04, ski);
	ql_tlv_builder_end(b);
	ql_tlv_builder_begin(b, 0xAA);
	ql_tlv_builder_add_bytes(b, 0x04, ski);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	info1 = ql_tlv_builder_finish(g_steal_pointer(&b));
	ql_crypto_random(challenge, sizeof(challenge), NULL);
	s_info1 = b64(g_bytes_get_data(info1, NULL), g_bytes_get_size(info1));
	s_ch = b64(challenge, sizeof(challenge));
	json = g_strdup_printf("{\"euiccChallenge\":\"%s\",\"euiccInfo1\":\"%s\","
			       "\"smdpAddress\":\"127.0.0.1:1\"}",
			       s_ch, s_info1);
	r1 = flow_call(fl, "initiateAuthentication", json, NULL);
	g_assert_cmpstr(flow_status(r1, &subj, &reas), ==, "Executed-Success");

	/* the eUICC's checks (SGP.22 5.7.13): serverSignature1 over serverSigned1 by DPauth */
	ss1 = flow_b64(r1, "serverSigned1");
	sig1 = flow_b64(r1, "serverSignature1");
	srvcert = flow_b64(r1, "serverCertificate");
	dpauth = ql_pki_crt_from_bytes(g_bytes_get_data(srvcert, NULL), g_bytes_get_size(srvcert),
				       NULL);
	g_assert_nonnull(dpauth);
	g_assert_cmpint(ql_pki_cert_role(dpauth), ==, QL_CERT_ROLE_DP_AUTH);
	g_assert_true(ql_crypto_sig_from_tlv(g_bytes_get_data(sig1, NULL), g_bytes_get_size(sig1),
					     sig, NULL));
	g_assert_true(ql_crypto_ecdsa_verify_crt(dpauth, g_bytes_get_data(ss1, NULL),
						 g_bytes_get_size(ss1), sig, 64, NULL));
	g_assert_true(ql_tlv_read_exact(g_bytes_get_data(ss1, NULL), g_bytes_get_size(ss1), 0x30,
					&t, NULL));
	g_assert_true(ql_tlv_find(&t, 0x81, &f, NULL));
	g_assert_cmpmem(f.value, f.len, challenge, 16);
	g_assert_true(ql_tlv_find(&t, 0x80, &f, NULL));
	g_assert_cmpuint(f.len, ==, 16);
	memcpy(fl->tid_raw, f.value, 16);
	g_free(fl->tid);
	fl->tid = g_strdup(json_object_get_string_member(r1, "transactionId"));
	{
		g_autofree gchar *hex = ql_hex_encode(fl->tid_raw, 16);
		g_assert_cmpstr(hex, ==, fl->tid);
	}

	/* euiccSigned1 and AuthenticateServerResponse */
	b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, 0x30);
	ql_tlv_builder_add(b, 0x80, fl->tid_raw, 16);
	ql_tlv_builder_add_string(b, 0x83, "127.0.0.1:1");
	g_assert_true(ql_tlv_find(&t, 0x84, &f, NULL));
	ql_tlv_builder_add(b, 0x84, f.value, f.len);
	ql_tlv_builder_begin(b, 0xBF22);
	ql_tlv_builder_add(b, 0x81, (const guint8 *)"\x02\x03\x01", 3);
	ql_tlv_builder_end(b);
	ql_tlv_builder_begin(b, 0xA0);
	if (matching_id != NULL)
		ql_tlv_builder_add_string(b, 0x80, matching_id);
	ql_tlv_builder_begin(b, 0xA1);
	ql_tlv_builder_add(b, 0x80, (const guint8 *)"\x35\x29\x06\x11", 4);
	ql_tlv_builder_begin(b, 0xA1);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	signed1 = ql_tlv_builder_finish(g_steal_pointer(&b));
	flow_sign(fl, g_bytes_get_data(signed1, NULL), g_bytes_get_size(signed1), sig);
	g_clear_pointer(&fl->euicc_sig1, g_bytes_unref);
	fl->euicc_sig1 = ql_crypto_sig_to_tlv(sig);
	euicc_der = ql_pki_export_der(fl->euicc.crt, NULL);
	eum_der = ql_pki_export_der(fl->eum.crt, NULL);
	b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, 0xBF38);
	ql_tlv_builder_begin(b, 0xA0);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(signed1, NULL), g_bytes_get_size(signed1));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(fl->euicc_sig1, NULL),
			       g_bytes_get_size(fl->euicc_sig1));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(euicc_der, NULL), g_bytes_get_size(euicc_der));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(eum_der, NULL), g_bytes_get_size(eum_der));
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	asr = ql_tlv_builder_finish(g_steal_pointer(&b));
	s_asr = b64(g_bytes_get_data(asr, NULL), g_bytes_get_size(asr));
	g_free(json);
	json = g_strdup_printf("{\"transactionId\":\"%s\",\"authenticateServerResponse\":\"%s\"}",
			       fl->tid, s_asr);
	return flow_call(fl, "authenticateClient", json, NULL);
}

/* The eUICC's PrepareDownload over the authenticateClient answer, then getBoundProfilePackage */
static JsonObject *
flow_get_bpp(Flow *fl, JsonObject *r2, const QlEcKeyPair *card_ot, const gchar *code)
{
	g_autoptr(GBytes) smdp_signed2 = flow_b64(r2, "smdpSigned2");
	g_autoptr(GBytes) smdp_sig2 = flow_b64(r2, "smdpSignature2");
	g_autoptr(GBytes) dppb_der = flow_b64(r2, "smdpCertificate");
	g_autoptr(GBytes) meta = flow_b64(r2, "profileMetadata");
	g_autoptr(GByteArray) tbs = g_byte_array_new();
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) signed2 = NULL, pdr = NULL, sig2 = NULL;
	g_auto(gnutls_x509_crt_t) dppb = NULL;
	g_autofree gchar *s_pdr = NULL, *json = NULL;
	guint8 sig[64];
	QlTlv t, f;

	/* SGP.22 5.7.14: smdpSignature2 over smdpSigned2 || euiccSignature1 */
	dppb = ql_pki_crt_from_bytes(g_bytes_get_data(dppb_der, NULL), g_bytes_get_size(dppb_der),
				     NULL);
	g_assert_cmpint(ql_pki_cert_role(dppb), ==, QL_CERT_ROLE_DP_PB);
	g_byte_array_append(tbs, g_bytes_get_data(smdp_signed2, NULL),
			    (guint)g_bytes_get_size(smdp_signed2));
	g_byte_array_append(tbs, g_bytes_get_data(fl->euicc_sig1, NULL),
			    (guint)g_bytes_get_size(fl->euicc_sig1));
	g_assert_true(ql_crypto_sig_from_tlv(g_bytes_get_data(smdp_sig2, NULL),
					     g_bytes_get_size(smdp_sig2), sig, NULL));
	g_assert_true(ql_crypto_ecdsa_verify_crt(dppb, tbs->data, tbs->len, sig, 64, NULL));
	g_assert_true(ql_tlv_read_exact(g_bytes_get_data(smdp_signed2, NULL),
					g_bytes_get_size(smdp_signed2), 0x30, &t, NULL));
	g_assert_true(ql_tlv_find(&t, 0x80, &f, NULL));
	g_assert_cmpmem(f.value, f.len, fl->tid_raw, 16);
	g_assert_true(ql_tlv_find(&t, 0x01, &f, NULL));
	fl->cc_required = f.len == 1 && f.value[0] != 0;
	g_assert_true(ql_tlv_read_exact(g_bytes_get_data(meta, NULL), g_bytes_get_size(meta),
					0xBF25, &t, NULL));
	g_assert_true(ql_tlv_find(&t, 0x5A, &f, NULL));
	g_free(fl->iccid);
	fl->iccid = ql_iccid_from_bcd(f.value, f.len);

	ql_tlv_builder_begin(b, 0x30);
	ql_tlv_builder_add(b, 0x80, fl->tid_raw, 16);
	ql_tlv_builder_add(b, 0x5F49, card_ot->pub, sizeof(card_ot->pub));
	if (code != NULL) {
		guint8 h[32];
		g_assert_true(ql_crypto_hash_cc(code, fl->tid_raw, 16, h, NULL));
		ql_tlv_builder_add(b, 0x04, h, sizeof(h));
	}
	ql_tlv_builder_end(b);
	signed2 = ql_tlv_builder_finish(g_steal_pointer(&b));
	g_byte_array_set_size(tbs, 0);
	g_byte_array_append(tbs, g_bytes_get_data(signed2, NULL), (guint)g_bytes_get_size(signed2));
	g_byte_array_append(tbs, g_bytes_get_data(smdp_sig2, NULL),
			    (guint)g_bytes_get_size(smdp_sig2));
	flow_sign(fl, tbs->data, tbs->len, sig);
	sig2 = ql_crypto_sig_to_tlv(sig);
	b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, 0xBF21);
	ql_tlv_builder_begin(b, 0xA0);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(signed2, NULL), g_bytes_get_size(signed2));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(sig2, NULL), g_bytes_get_size(sig2));
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	pdr = ql_tlv_builder_finish(g_steal_pointer(&b));
	s_pdr = b64(g_bytes_get_data(pdr, NULL), g_bytes_get_size(pdr));
	json = g_strdup_printf("{\"transactionId\":\"%s\",\"prepareDownloadResponse\":\"%s\"}",
			       fl->tid, s_pdr);
	return flow_call(fl, "getBoundProfilePackage", json, NULL);
}

/* The card installs what it got: every segment opens with its one-time key */
static void
flow_install(Flow *fl, JsonObject *r3, QlEcKeyPair *card_ot, gboolean expect_ppk)
{
	Fixture f = {0};
	CardResult r = {0};
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) pird = NULL, pir = NULL, bcd = NULL;
	g_autofree gchar *s_pir = NULL, *json = NULL;
	guint8 sig[64];
	guint status = 0;
	JsonObject *r4;

	memcpy(f.eid, fl->eid, 16);
	memcpy(f.tid, fl->tid_raw, 16);
	f.card_ot = *card_ot;
	f.bpp = flow_b64(r3, "boundProfilePackage");
	card_load(&f, TRUE, &r);
	g_assert_no_error(r.error);
	g_assert_true(r.sign_ok);
	g_assert_cmpint(r.have_bf26, ==, expect_ppk);
	g_assert_cmpuint(r.profile->len, >, 2000);
	g_assert_true(ql_tlv_validate(r.profile->data, r.profile->len, QL_TLV_MAX_DEPTH, NULL));
	card_result_clear(&r);
	g_bytes_unref(f.bpp);

	/* ProfileInstallationResult (SGP.22 5.7.14 / 4.4.x): euiccSignPIR over BF27 */
	bcd = ql_iccid_to_bcd(fl->iccid, NULL);
	ql_tlv_builder_begin(b, 0xBF27);
	ql_tlv_builder_add(b, 0x80, fl->tid_raw, 16);
	ql_tlv_builder_begin(b, 0xBF2F);
	ql_tlv_builder_add_int(b, 0x80, 7);
	ql_tlv_builder_add(b, 0x81, (const guint8 *)"\x07\x80", 2);
	ql_tlv_builder_add_string(b, 0x0C, "127.0.0.1:1");
	ql_tlv_builder_add_bytes(b, 0x5A, bcd);
	ql_tlv_builder_end(b);
	ql_tlv_builder_begin(b, 0xA2);
	ql_tlv_builder_begin(b, 0xA0);
	ql_tlv_builder_add(b, 0x4F, (const guint8 *)"\xA0\x00\x00\x05\x59\x10\x10\x01", 8);
	ql_tlv_builder_add(b, 0x04, NULL, 0);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	pird = ql_tlv_builder_finish(g_steal_pointer(&b));
	flow_sign(fl, g_bytes_get_data(pird, NULL), g_bytes_get_size(pird), sig);
	b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, 0xBF37);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(pird, NULL), g_bytes_get_size(pird));
	ql_tlv_builder_add(b, 0x5F37, sig, 64);
	ql_tlv_builder_end(b);
	pir = ql_tlv_builder_finish(g_steal_pointer(&b));
	s_pir = b64(g_bytes_get_data(pir, NULL), g_bytes_get_size(pir));
	json = g_strdup_printf("{\"pendingNotification\":\"%s\"}", s_pir);
	r4 = flow_call(fl, "handleNotification", json, &status);
	g_assert_null(r4);
	g_assert_cmpuint(status, ==, 204);
}

static void
test_es9p_download(gconstpointer data)
{
	const gchar *matching_id = data;
	g_autoptr(JsonObject) r2 = NULL;
	g_autoptr(JsonObject) r3 = NULL;
	g_autofree gchar *code = NULL;
	g_auto(QlEcKeyPair) card_ot = {{0}};
	const gchar *subj = NULL, *reas = NULL;
	Flow fl;

	flow_init(&fl);
	r2 = flow_authenticate(&fl, matching_id);
	g_assert_cmpstr(flow_status(r2, &subj, &reas), ==, "Executed-Success");
	g_assert_true(ql_crypto_ec_generate(&card_ot, NULL));
	if (g_str_has_prefix(matching_id, "CC-"))
		code = ql_smdp_confirmation_code(&test_pki, matching_id);
	r3 = flow_get_bpp(&fl, r2, &card_ot, code);
	g_assert_cmpint(fl.cc_required, ==, code != NULL);
	g_assert_cmpstr(flow_status(r3, &subj, &reas), ==, "Executed-Success");
	g_assert_cmpstr(json_object_get_string_member(r3, "transactionId"), ==, fl.tid);
	flow_install(&fl, r3, &card_ot, strstr(matching_id, "PPK") != NULL);
	/* the session is over: its transactionId is unknown now */
	{
		g_autofree gchar *json = g_strdup_printf(
			"{\"transactionId\":\"%s\",\"prepareDownloadResponse\":\"vyEA\"}", fl.tid);
		g_autoptr(JsonObject) r = flow_call(&fl, "getBoundProfilePackage", json, NULL);
		g_assert_cmpstr(flow_status(r, &subj, &reas), ==, "Failed");
		g_assert_cmpstr(subj, ==, "8.10.1");
	}
	flow_clear(&fl);
}

static void
test_es9p_wrong_code(void)
{
	g_autoptr(JsonObject) r2 = NULL;
	g_autofree gchar *good = NULL;
	g_auto(QlEcKeyPair) card_ot = {{0}};
	const gchar *subj = NULL, *reas = NULL;
	Flow fl;

	flow_init(&fl);
	good = ql_smdp_confirmation_code(&test_pki, "CC-WRONG");
	g_assert_true(ql_crypto_ec_generate(&card_ot, NULL));
	r2 = flow_authenticate(&fl, "CC-WRONG");
	g_assert_cmpstr(flow_status(r2, &subj, &reas), ==, "Executed-Success");
	for (guint i = 0; i < 4; i++) {
		g_autoptr(JsonObject) r3 = flow_get_bpp(&fl, r2, &card_ot, i < 3 ? "000000" : good);
		g_assert_cmpstr(flow_status(r3, &subj, &reas), ==, "Failed");
		g_assert_cmpstr(subj, ==, "8.2.7");
		/* two wrong tries are allowed, the third locks the order, even for the good code */
		g_assert_cmpstr(reas, ==, i < 2 ? "3.8" : "6.4");
	}
	g_clear_pointer(&r2, json_object_unref);
	r2 = flow_authenticate(&fl, "CC-WRONG");
	g_assert_cmpstr(flow_status(r2, &subj, &reas), ==, "Failed");
	g_assert_cmpstr(reas, ==, "6.4");
	flow_clear(&fl);
}

static void
test_es9p_forged(void)
{
	g_autoptr(JsonObject) r2 = NULL;
	const gchar *subj = NULL, *reas = NULL;
	Flow fl;

	/* a card key that is not the certificate's: authenticateClient refuses it */
	flow_init(&fl);
	gnutls_x509_privkey_deinit(fl.euicc.key);
	gnutls_x509_privkey_init(&fl.euicc.key);
	g_assert_cmpint(
		gnutls_x509_privkey_generate(fl.euicc.key, GNUTLS_PK_ECDSA,
					     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
		>=, 0);
	r2 = flow_authenticate(&fl, "PLAIN");
	g_assert_cmpstr(flow_status(r2, &subj, &reas), ==, "Failed");
	g_assert_cmpstr(subj, ==, "8.1");
	g_assert_cmpstr(reas, ==, "6.1");
	flow_clear(&fl);
}

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
		g_rmdir(path);
	} else {
		g_unlink(path);
	}
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	int rc;

	g_test_init(&argc, &argv, NULL);
	/* the server's request log would break the TAP stream */
	ql_smdp_set_log_stream(stderr);
	test_pki_dir = g_dir_make_tmp("ql-smdp-test-XXXXXX", &error);
	g_assert_no_error(error);
	if (!ql_smdp_pki_open(test_pki_dir, &test_pki, &error))
		g_error("test PKI: %s", error->message);

	g_test_add_func("/ql/smdp/bpp/unwrap", test_bpp_unwrap);
	g_test_add_func("/ql/smdp/bpp/ppk", test_bpp_ppk);
	g_test_add_func("/ql/smdp/bpp/tamper-86", test_bpp_tamper);
	g_test_add_func("/ql/smdp/bpp/bound-to-card", test_bpp_bound);
	g_test_add_func("/ql/smdp/bpp/bad-signature", test_bpp_bad_signature);
	g_test_add_func("/ql/smdp/bpp/signed-data", test_bpp_signed_data);
	g_test_add_func("/ql/smdp/eid", test_eid);
	g_test_add_func("/ql/smdp/iccid", test_iccid);
	g_test_add_func("/ql/smdp/pki", test_pki_layout);
	g_test_add_data_func("/ql/smdp/es9p/download", "PLAIN-1", test_es9p_download);
	g_test_add_data_func("/ql/smdp/es9p/download-ppk", "PPK-1", test_es9p_download);
	g_test_add_data_func("/ql/smdp/es9p/download-cc", "CC-1", test_es9p_download);
	g_test_add_func("/ql/smdp/es9p/wrong-code", test_es9p_wrong_code);
	g_test_add_func("/ql/smdp/es9p/forged-euicc", test_es9p_forged);
	rc = g_test_run();

	ql_smdp_pki_clear(&test_pki);
	rm_rf(test_pki_dir);
	g_free(test_pki_dir);
	return rc;
}
