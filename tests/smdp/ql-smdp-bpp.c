/*
 * Profile binding of the test SM-DP+: the Bound Profile Package (SGP.22 2.5.4, 5.5) built for one
 * eUICC's one-time key, with the BSP (SCP03t) protection of ql-crypto.
 *
 *   BF36 {
 *     BF23 InitialiseSecureChannelRequest { 82 remoteOpId, 80 transactionId,
 *                                           A6 { 80 keyType, 81 keyLen, 84 hostId },
 *                                           5F49 smdpOtpk, 5F37 smdpSign }
 *     A0 { 87 <ConfigureISDPRequest BF24> }            session keys, encrypted + MAC
 *     A1 { 88 <StoreMetadataRequest BF25> ... }        session keys, MAC only
 *     A2 { 87 <ReplaceSessionKeysRequest BF26> }       only with PPKs
 *     A3 { 86 <profile> ... }                          session keys, or the PPKs after BF26
 *   }
 *
 * Every segment is at most 1020 bytes (SGP.22 v3 2.5.3), unlike osmo-smdpp's 1036.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-ids.h"
#include "ql-smdp.h"
#include "ql-tlv.h"

/* ---- profile data ---- */

gchar *
ql_smdp_make_iccid(void)
{
	/* 89 telecom, 88 a test country code nobody issues from, 14 random digits, Luhn */
	GString *s = g_string_new("8988");
	while (s->len < 18)
		g_string_append_c(s, (gchar)('0' + g_random_int_range(0, 10)));
	g_string_append_c(s, ql_luhn_digit(s->str));
	return g_string_free(s, FALSE);
}

GBytes *
ql_smdp_make_metadata(const gchar *iccid, const gchar *spn, const gchar *name, gint profile_class,
		      const gchar *notification_address, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) bcd = ql_iccid_to_bcd(iccid, error);
	/* NotificationEvent BIT STRING with enable(1), disable(2), delete(3): 4 unused bits */
	const guint8 events[] = {0x04, 0x70};

	if (bcd == NULL)
		return NULL;
	ql_tlv_builder_begin(b, 0xBF25);
	ql_tlv_builder_add_bytes(b, 0x5A, bcd);
	ql_tlv_builder_add_string(b, 0x91, spn);
	ql_tlv_builder_add_string(b, 0x92, name);
	ql_tlv_builder_add_int(b, 0x95, profile_class);
	if (notification_address != NULL) {
		/* notificationConfigurationInfo [22]: where the eUICC sends the other
		 * notifications (the installation result always goes to this SM-DP+) */
		ql_tlv_builder_begin(b, 0xB6);
		ql_tlv_builder_begin(b, 0x30);
		ql_tlv_builder_add(b, 0x80, events, sizeof(events));
		ql_tlv_builder_add_string(b, 0x81, notification_address);
		ql_tlv_builder_end(b);
		ql_tlv_builder_end(b);
	}
	ql_tlv_builder_end(b);
	return ql_tlv_builder_finish(g_steal_pointer(&b));
}

GBytes *
ql_smdp_make_profile(const gchar *iccid, gsize size, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) bcd = ql_iccid_to_bcd(iccid, error);
	g_autoptr(GBytes) out = NULL;
	gsize approx = 0;
	guint id = 1;

	if (bcd == NULL)
		return NULL;
	/* SIMalliance eUICC Profile Package: ProfileElement CHOICE, AUTOMATIC TAGS.
	 * header [0] ProfileHeader { major 80, minor 81, profileType 82, iccid 83,
	 * eUICC-Mandatory-services A5, eUICC-Mandatory-GFSTEList A6 } */
	ql_tlv_builder_begin(b, 0xA0);
	ql_tlv_builder_add_int(b, 0x80, 2);
	ql_tlv_builder_add_int(b, 0x81, 3);
	ql_tlv_builder_add_string(b, 0x82, "Quantra-L test profile");
	ql_tlv_builder_add_bytes(b, 0x83, bcd);
	ql_tlv_builder_begin(b, 0xA5);
	ql_tlv_builder_add(b, 0x81, NULL, 0); /* usim NULL */
	ql_tlv_builder_end(b);
	ql_tlv_builder_begin(b, 0xA6);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	approx += 48;

	/* genericFileManagement [1] { gfm-header { identification 81 }, fileManagementCMD A1 {
	 * SEQUENCE OF { filePath 80, fillFileContent 81 ... } } }: filler that looks like a file
	 * system, enough to span several 86 segments */
	while (approx + 64 < size) {
		const guint8 path[] = {0x3F, 0x00, 0x7F, 0xF0 + (guint8)(id & 0x0F)};
		guint8 content[200];
		gsize n = MIN(sizeof(content), size - approx - 40);
		for (gsize i = 0; i < n; i++)
			content[i] = (guint8)((id * 31 + i * 7) & 0xFF);
		ql_tlv_builder_begin(b, 0xA1);
		ql_tlv_builder_begin(b, 0xA0);
		ql_tlv_builder_add_int(b, 0x81, ++id);
		ql_tlv_builder_end(b);
		ql_tlv_builder_begin(b, 0xA1);
		ql_tlv_builder_begin(b, 0x30);
		ql_tlv_builder_add(b, 0x80, path, sizeof(path));
		ql_tlv_builder_add(b, 0x81, content, n);
		ql_tlv_builder_end(b);
		ql_tlv_builder_end(b);
		ql_tlv_builder_end(b);
		approx += n + 24;
	}

	/* end [10] { end-header { identification } } */
	ql_tlv_builder_begin(b, 0xAA);
	ql_tlv_builder_begin(b, 0xA0);
	ql_tlv_builder_add_int(b, 0x81, ++id);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	out = ql_tlv_builder_finish(g_steal_pointer(&b));
	return g_steal_pointer(&out);
}

/* ---- BF23 ---- */

GBytes *
ql_smdp_bf23_signed_data(const guint8 *bf23_value, gsize bf23_value_len, const guint8 *euicc_otpk,
			 gsize euicc_otpk_len, GError **error)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(GError) error_local = NULL;
	QlTlvIter it;
	QlTlv t;

	/* SGP.22 5.5.1: smdpSign covers the data objects of the request up to smdpOtpk as
	 * encoded (remoteOpId, transactionId, controlRefTemplate, smdpOtpk), followed by
	 * otPK.EUICC.ECKA as a 5F49 data object */
	ql_tlv_iter_init(&it, bf23_value, bf23_value_len);
	while (ql_tlv_iter_next(&it, &t, &error_local)) {
		if (t.tag == QL_CRYPTO_SIG_TAG)
			break;
		g_byte_array_append(out, t.raw, (guint)t.raw_len);
	}
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return NULL;
	}
	ql_tlv_put_tag(out, 0x5F49);
	ql_tlv_put_len(out, euicc_otpk_len);
	g_byte_array_append(out, euicc_otpk, (guint)euicc_otpk_len);
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

static GBytes *
ql_smdp_make_bf23(const QlSmdpBppParams *p, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(QlTlvBuilder) outer = ql_tlv_builder_new();
	g_autoptr(GBytes) fields = NULL;
	g_autoptr(GBytes) to_sign = NULL;
	const guint8 key_type = 0x88; /* AES (GlobalPlatform Card Spec table 11-16) */
	const guint8 key_len = 16;
	guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN];

	ql_tlv_builder_add_int(b, 0x82, 1); /* remoteOpId installBoundProfilePackage(1) */
	ql_tlv_builder_add(b, 0x80, p->transaction_id, p->transaction_id_len);
	ql_tlv_builder_begin(b, 0xA6);
	ql_tlv_builder_add(b, 0x80, &key_type, 1);
	ql_tlv_builder_add(b, 0x81, &key_len, 1);
	ql_tlv_builder_add(b, 0x84, p->host_id, p->host_id_len);
	ql_tlv_builder_end(b);
	ql_tlv_builder_add(b, 0x5F49, p->smdp_ot->pub, sizeof(p->smdp_ot->pub));
	fields = ql_tlv_builder_finish(g_steal_pointer(&b));

	to_sign = ql_smdp_bf23_signed_data(g_bytes_get_data(fields, NULL), g_bytes_get_size(fields),
					   p->euicc_otpk, p->euicc_otpk_len, error);
	if (to_sign == NULL)
		return NULL;
	if (!ql_crypto_ecdsa_sign_x509(p->dppb_key, g_bytes_get_data(to_sign, NULL),
				       g_bytes_get_size(to_sign), sig, error))
		return NULL;
	if (p->bad_signature)
		sig[7] ^= 0x01;

	ql_tlv_builder_begin(outer, 0xBF23);
	ql_tlv_builder_add_raw(outer, g_bytes_get_data(fields, NULL), g_bytes_get_size(fields));
	ql_tlv_builder_add(outer, QL_CRYPTO_SIG_TAG, sig, sizeof(sig));
	ql_tlv_builder_end(outer);
	return ql_tlv_builder_finish(g_steal_pointer(&outer));
}

/* Appends [tag] { segments } */
static void
ql_smdp_add_sequence(QlTlvBuilder *b, guint32 tag, GPtrArray *segments)
{
	ql_tlv_builder_begin(b, tag);
	for (guint i = 0; i < segments->len; i++) {
		GBytes *s = g_ptr_array_index(segments, i);
		ql_tlv_builder_add_raw(b, g_bytes_get_data(s, NULL), g_bytes_get_size(s));
	}
	ql_tlv_builder_end(b);
}

/* Flips one ciphertext byte of an 86 segment, after the header, before the MAC */
static GBytes *
ql_smdp_tamper(GBytes *segment)
{
	gsize len = 0;
	const guint8 *data = g_bytes_get_data(segment, &len);
	g_autofree guint8 *copy = g_memdup2(data, len);
	QlTlv t;
	if (!ql_tlv_read_exact(copy, len, 0, &t, NULL) || t.len <= QL_BSP_MAC_LEN)
		return g_bytes_ref(segment);
	copy[(t.value - copy) + (t.len - QL_BSP_MAC_LEN) / 2] ^= 0x5A;
	return g_bytes_new_take(g_steal_pointer(&copy), len);
}

GBytes *
ql_smdp_bpp_build(const QlSmdpBppParams *p, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(QlBsp) bsp = NULL;
	g_autoptr(GBytes) bf23 = NULL;
	g_autoptr(GPtrArray) seg87 = NULL;
	g_autoptr(GPtrArray) seg88 = NULL;
	g_autoptr(GPtrArray) seg87b = NULL;
	g_autoptr(GPtrArray) seg86 = NULL;
	g_auto(QlBspKeys) keys = {{0}};
	const guint8 configure_isdp[] = {0xBF, 0x24, 0x00}; /* no dpProprietaryData */
	guint8 secret[QL_CRYPTO_ECDH_LEN];
	gboolean ok;

	/* SGP.22 3.1.3.2 / annex G: ECKA with otSK.DP.ECKA and otPK.EUICC.ECKA, then the KDF
	 * with the CRT's hostId and the EID */
	if (!ql_crypto_ecdh(p->smdp_ot->priv, p->euicc_otpk, p->euicc_otpk_len, secret, error)) {
		g_prefix_error(error, "otPK.EUICC.ECKA: ");
		return NULL;
	}
	ok = ql_bsp_derive_keys(secret, sizeof(secret), p->host_id, p->host_id_len, p->eid, 16,
				&keys, error);
	ql_crypto_wipe(secret, sizeof(secret));
	if (!ok)
		return NULL;
	bsp = ql_bsp_new(&keys);

	bf23 = ql_smdp_make_bf23(p, error);
	if (bf23 == NULL)
		return NULL;
	seg87 = ql_bsp_wrap_split(bsp, QL_BSP_TAG_ENC_MAC, configure_isdp, sizeof(configure_isdp),
				  error);
	if (seg87 == NULL)
		return NULL;
	seg88 = ql_bsp_wrap_split(bsp, QL_BSP_TAG_MAC, g_bytes_get_data(p->metadata, NULL),
				  g_bytes_get_size(p->metadata), error);
	if (seg88 == NULL)
		return NULL;
	if (p->use_ppk) {
		/* SGP.22 2.5.3 / 5.5.4: the profile was protected in advance with its own keys
		 * (a PPP); the session keys only carry those keys to the eUICC */
		g_autoptr(QlTlvBuilder) rb = ql_tlv_builder_new();
		g_autoptr(GBytes) rsk = NULL;
		guint8 ppk[3 * QL_BSP_KEY_LEN];
		if (!ql_crypto_random(ppk, sizeof(ppk), error))
			return NULL;
		ql_tlv_builder_begin(rb, 0xBF26);
		ql_tlv_builder_add(rb, 0x80, ppk, QL_BSP_KEY_LEN); /* initialMacChainingValue */
		ql_tlv_builder_add(rb, 0x81, ppk + 16, QL_BSP_KEY_LEN); /* ppkEnc */
		ql_tlv_builder_add(rb, 0x82, ppk + 32, QL_BSP_KEY_LEN); /* ppkCmac */
		ql_tlv_builder_end(rb);
		rsk = ql_tlv_builder_finish(g_steal_pointer(&rb));
		seg87b = ql_bsp_wrap_split(bsp, QL_BSP_TAG_ENC_MAC, g_bytes_get_data(rsk, NULL),
					   g_bytes_get_size(rsk), error);
		if (seg87b == NULL) {
			ql_crypto_wipe(ppk, sizeof(ppk));
			return NULL;
		}
		ql_bsp_replace_keys(bsp, ppk + 16, ppk + 32, ppk);
		ql_crypto_wipe(ppk, sizeof(ppk));
	}
	seg86 = ql_bsp_wrap_split(bsp, QL_BSP_TAG_PROFILE, g_bytes_get_data(p->profile, NULL),
				  g_bytes_get_size(p->profile), error);
	if (seg86 == NULL)
		return NULL;
	if (p->tamper_86) {
		GBytes *bad = ql_smdp_tamper(g_ptr_array_index(seg86, 0));
		g_bytes_unref(g_ptr_array_index(seg86, 0));
		g_ptr_array_index(seg86, 0) = bad;
	}

	ql_tlv_builder_begin(b, 0xBF36);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(bf23, NULL), g_bytes_get_size(bf23));
	ql_smdp_add_sequence(b, 0xA0, seg87);
	ql_smdp_add_sequence(b, 0xA1, seg88);
	if (seg87b != NULL)
		ql_smdp_add_sequence(b, 0xA2, seg87b);
	ql_smdp_add_sequence(b, 0xA3, seg86);
	ql_tlv_builder_end(b);
	return ql_tlv_builder_finish(g_steal_pointer(&b));
}
