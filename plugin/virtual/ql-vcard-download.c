/*
 * The card's side of a profile download: ES10b AuthenticateServer (SGP.22 5.7.13),
 * PrepareDownload (5.7.14), CancelSession (5.7.14 / 3.1.3 cancel), and
 * LoadBoundProfilePackage (2.5.5, 5.5), with the session kept in memory only.
 *
 * Shapes follow the RSP ASN.1 module (AUTOMATIC TAGS): a SEQUENCE gets automatic context tags
 * only when none of its components carries a tag, so AuthenticateResponseError and
 * PrepareDownloadResponseError carry their error code as a universal INTEGER (02), while
 * EuiccCancelSessionSigned is { 80 transactionId, 81 smdpOid, 82 reason }.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-vcard-private.h"

/* The OID a PIR / cancel answer names when CERT.DPauth carries no registeredID */
#define QL_VCARD_FALLBACK_SMDP_OID "2.999.1"
/* SIMalliance EUICCResponse for a clean install: peStatus { { status ok(0) } } */
static const guint8 ql_vcard_sima_ok[] = {0x30, 0x07, 0xA0, 0x05, 0x30, 0x03, 0x80, 0x01, 0x00};

/* AuthenticateErrorCode / DownloadErrorCode */
enum {
	QL_VCARD_AUTH_INVALID_CERTIFICATE = 1,
	QL_VCARD_AUTH_INVALID_SIGNATURE = 2,
	QL_VCARD_AUTH_UNSUPPORTED_CURVE = 3,
	QL_VCARD_AUTH_NO_SESSION = 4,
	QL_VCARD_AUTH_INVALID_OID = 5,		/* AuthenticateServer */
	QL_VCARD_DL_INVALID_TRANSACTION_ID = 5, /* PrepareDownload */
	QL_VCARD_AUTH_CHALLENGE_MISMATCH = 6,
	QL_VCARD_AUTH_CI_PK_UNKNOWN = 7,
	QL_VCARD_AUTH_UNDEFINED = 127,
};

/* BppCommandId */
enum {
	QL_VCARD_BPP_CMD_INIT = 0,
	QL_VCARD_BPP_CMD_CONFIGURE = 1,
	QL_VCARD_BPP_CMD_METADATA = 2,
	QL_VCARD_BPP_CMD_REPLACE_KEYS = 4,
	QL_VCARD_BPP_CMD_LOAD = 5,
};

/* ErrorReason of ProfileInstallationResult */
enum {
	QL_VCARD_PIR_INCORRECT_INPUT = 1,
	QL_VCARD_PIR_INVALID_SIGNATURE = 2,
	QL_VCARD_PIR_INVALID_TRANSACTION_ID = 3,
	QL_VCARD_PIR_UNSUPPORTED_CRT = 4,
	QL_VCARD_PIR_UNSUPPORTED_REMOTE_OP = 5,
	QL_VCARD_PIR_UNSUPPORTED_CLASS = 6,
	QL_VCARD_PIR_STRUCTURE = 7,
	QL_VCARD_PIR_SECURITY = 8,
	QL_VCARD_PIR_ICCID_EXISTS = 9,
	QL_VCARD_PIR_PE_PROCESSING = 12,
};

#define QL_VCARD_BAD_REQUEST(error, ...)                                                           \
	g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, __VA_ARGS__)

void
ql_vcard_session_clear(QlVcardSession *s)
{
	g_clear_pointer(&s->transaction_id, g_bytes_unref);
	g_clear_pointer(&s->server_address, g_free);
	g_clear_pointer(&s->matching_id, g_free);
	g_clear_pointer(&s->smdp_oid, g_free);
	g_clear_pointer(&s->ci, gnutls_x509_crt_deinit);
	g_clear_pointer(&s->dppb, gnutls_x509_crt_deinit);
	g_clear_pointer(&s->euicc_sig1_tlv, g_bytes_unref);
	ql_crypto_ec_keypair_clear(&s->otk);
	s->have_otk = FALSE;
	g_clear_pointer(&s->bsp, ql_bsp_free);
	g_clear_pointer(&s->metadata, g_byte_array_unref);
	if (s->profile != NULL) {
		ql_crypto_wipe(s->profile->data, s->profile->len);
		g_clear_pointer(&s->profile, g_byte_array_unref);
	}
	g_clear_pointer(&s->pending, ql_vcard_profile_free);
	s->stage = QL_VCARD_BPP_A0;
	s->bpp_left = s->seq_left = 0;
	s->seen_a2 = FALSE;
	s->state = QL_VCARD_SESSION_NONE;
}

/* ---- helpers ---- */

static gboolean
ql_vcard_bytes_equal(GBytes *a, const QlTlv *t)
{
	return a != NULL && g_bytes_get_size(a) == t->len &&
	       memcmp(g_bytes_get_data(a, NULL), t->value, t->len) == 0;
}

/* DER content octets of an OBJECT IDENTIFIER from its dotted form (X.690 8.19) */
static GBytes *
ql_vcard_oid_encode(const gchar *dotted)
{
	g_auto(GStrv) arcs = g_strsplit(dotted, ".", -1);
	g_autoptr(GByteArray) out = g_byte_array_new();
	guint n = g_strv_length(arcs);
	guint64 v[64];

	if (n < 2 || n > G_N_ELEMENTS(v))
		return NULL;
	for (guint i = 0; i < n; i++) {
		if (!g_ascii_string_to_unsigned(arcs[i], 10, 0, G_MAXUINT32, &v[i], NULL))
			return NULL;
	}
	if (v[0] > 2 || (v[0] < 2 && v[1] > 39))
		return NULL;
	v[1] += v[0] * 40;
	for (guint i = 1; i < n; i++) {
		guint8 tmp[10];
		guint k = 0;
		guint64 x = v[i];
		do {
			tmp[k++] = (guint8)(x & 0x7f);
			x >>= 7;
		} while (x != 0);
		while (k > 0) {
			guint8 byte;
			k--;
			byte = tmp[k] | (k > 0 ? 0x80 : 0x00);
			g_byte_array_append(out, &byte, 1);
		}
	}
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

/* The SM-DP+ OID: the registeredID of CERT.DPauth's subjectAltName (SGP.22 4.5.2.1) */
static gchar *
ql_vcard_smdp_oid_of(gnutls_x509_crt_t crt)
{
	for (guint i = 0;; i++) {
		gchar buf[128];
		size_t size = sizeof(buf) - 1;
		unsigned int critical = 0;
		int rc = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size, &critical);
		g_autoptr(GBytes) check = NULL;
		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (rc < 0 || rc != GNUTLS_SAN_REGISTERED_ID)
			continue;
		buf[MIN(size, sizeof(buf) - 1)] = '\0';
		check = ql_vcard_oid_encode(buf);
		if (check != NULL)
			return g_strdup(buf);
	}
	return g_strdup(QL_VCARD_FALLBACK_SMDP_OID);
}

static void
ql_vcard_put_oid(QlTlvBuilder *b, guint32 tag, const gchar *dotted)
{
	g_autoptr(GBytes) oid = ql_vcard_oid_encode(dotted);
	if (oid == NULL)
		oid = ql_vcard_oid_encode(QL_VCARD_FALLBACK_SMDP_OID);
	ql_tlv_builder_add_bytes(b, tag, oid);
}

/* Signs @data and adds 5F37 40 <r||s> */
static gboolean
ql_vcard_add_signature(QlVcard *card, QlTlvBuilder *b, const guint8 *data, gsize len,
		       GError **error)
{
	guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN];
	if (!ql_vcard_sign(card, data, len, sig, error))
		return FALSE;
	ql_tlv_builder_add(b, QL_CRYPTO_SIG_TAG, sig, sizeof(sig));
	return TRUE;
}

/* The outcome of checking an SM-DP+ certificate against the session's CI */
typedef enum {
	QL_VCARD_CERT_OK,
	QL_VCARD_CERT_INVALID,
	QL_VCARD_CERT_CURVE,
	QL_VCARD_CERT_ROLE,
} QlVcardCertCheck;

/* SGP.22 4.5.2.2: signed by @ci, valid now, NIST P-256, and carrying @role */
static QlVcardCertCheck
ql_vcard_check_cert(const QlTlv *der, gnutls_x509_crt_t ci, QlCertRole role, gnutls_x509_crt_t *out)
{
	g_auto(gnutls_x509_crt_t) crt = NULL;
	gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
	gnutls_datum_t x = {NULL, 0}, y = {NULL, 0};
	unsigned int status = 0;
	int rc;

	crt = ql_pki_crt_from_bytes(der->raw, der->raw_len, NULL);
	if (crt == NULL)
		return QL_VCARD_CERT_INVALID;
	if (gnutls_x509_crt_get_pk_algorithm(crt, NULL) != GNUTLS_PK_ECDSA)
		return QL_VCARD_CERT_CURVE;
	rc = gnutls_x509_crt_get_pk_ecc_raw(crt, &curve, &x, &y);
	gnutls_free(x.data);
	gnutls_free(y.data);
	if (rc < 0 || curve != GNUTLS_ECC_CURVE_SECP256R1)
		return QL_VCARD_CERT_CURVE;
	rc = gnutls_x509_crt_verify(crt, &ci, 1, 0, &status);
	if (rc < 0 || status != 0)
		return QL_VCARD_CERT_INVALID;
	if (ql_pki_cert_role(crt) != role)
		return QL_VCARD_CERT_ROLE;
	if (out != NULL)
		*out = g_steal_pointer(&crt);
	return QL_VCARD_CERT_OK;
}

/* {tag {80 transactionId, 02 code}}: AuthenticateResponseError / PrepareDownloadResponseError */
static void
ql_vcard_put_dl_error(QlTlvBuilder *b, guint32 tag, const QlTlv *tid, gint code)
{
	ql_tlv_builder_begin(b, tag);
	ql_tlv_builder_begin(b, 0xA1);
	if (tid != NULL)
		ql_tlv_builder_add(b, 0x80, tid->value, tid->len);
	ql_tlv_builder_add_int(b, 0x02, code);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
}

/* ---- AuthenticateServer (SGP.22 5.7.13) ---- */

static gint
ql_vcard_authenticate_check(QlVcard *card, const QlTlv *signed1, const QlTlv *sig,
			    const QlTlv *ci_id, const QlTlv *cert, const QlTlv *tid,
			    const QlTlv *challenge, gnutls_x509_crt_t *ci_out,
			    gnutls_x509_crt_t *dpauth_out)
{
	gnutls_x509_crt_t ci = NULL;
	QlVcardCertCheck cc;

	if (!card->have_challenge)
		return QL_VCARD_AUTH_NO_SESSION;
	for (guint i = 0; i < card->trusted_ci->len && ci == NULL; i++) {
		gnutls_x509_crt_t cand = g_ptr_array_index(card->trusted_ci, i);
		g_autoptr(GBytes) skid = ql_pki_subject_key_id(cand, NULL);
		if (skid != NULL && ql_vcard_bytes_equal(skid, ci_id))
			ci = cand;
	}
	if (ci == NULL)
		return QL_VCARD_AUTH_CI_PK_UNKNOWN;
	cc = ql_vcard_check_cert(cert, ci, QL_CERT_ROLE_DP_AUTH, dpauth_out);
	if (cc == QL_VCARD_CERT_INVALID)
		return QL_VCARD_AUTH_INVALID_CERTIFICATE;
	if (cc == QL_VCARD_CERT_CURVE)
		return QL_VCARD_AUTH_UNSUPPORTED_CURVE;
	if (cc == QL_VCARD_CERT_ROLE)
		return QL_VCARD_AUTH_INVALID_OID;
	/* serverSignature1 covers the whole serverSigned1 TLV as sent */
	if (!ql_crypto_ecdsa_verify_crt(*dpauth_out, signed1->raw, signed1->raw_len, sig->value,
					sig->len, NULL))
		return QL_VCARD_AUTH_INVALID_SIGNATURE;
	if (challenge->len != sizeof(card->challenge) ||
	    !ql_crypto_equal(challenge->value, card->challenge, sizeof(card->challenge)))
		return QL_VCARD_AUTH_CHALLENGE_MISMATCH;
	*ci_out = ci;
	return 0;
}

/* matchingId of ctxParamsForCommonAuthentication; also accepts the alternative wrapped once
 * more in A0, a shape some LPAs send */
static gchar *
ql_vcard_matching_id(const QlTlv *ctx)
{
	QlTlv inner, mid;
	const QlTlv *p = ctx;
	if (ql_tlv_find(ctx, 0xA0, &inner, NULL))
		p = &inner;
	if (ql_tlv_find(p, 0x80, &mid, NULL))
		return ql_tlv_get_string(&mid);
	return NULL;
}

gboolean
ql_vcard_dl_authenticate(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	g_autoptr(QlTlvBuilder) sb = NULL;
	g_autoptr(GBytes) signed1 = NULL;
	g_autoptr(GBytes) euicc_der = NULL;
	g_autoptr(GBytes) eum_der = NULL;
	g_auto(gnutls_x509_crt_t) dpauth = NULL;
	gnutls_x509_crt_t ci = NULL;
	QlVcardSession *s = &card->session;
	QlTlv ss1, sig, ci_id, ctx, tid, chal, addr, schal;
	QlTlv cert = {0};
	guint8 sig1[QL_CRYPTO_ECDSA_SIG_LEN];
	gint code;

	if (!ql_tlv_require(req, 0x30, "serverSigned1", &ss1, error) ||
	    !ql_tlv_require(req, 0x5F37, "serverSignature1", &sig, error) ||
	    !ql_tlv_require(req, 0x04, "euiccCiPKIdToBeUsed", &ci_id, error) ||
	    !ql_tlv_require(req, 0xA0, "ctxParams1", &ctx, error))
		return FALSE;
	/* serverCertificate is the second SEQUENCE */
	{
		QlTlvIter it;
		QlTlv t;
		guint seqs = 0;
		ql_tlv_iter_init_value(&it, req);
		while (seqs < 2 && ql_tlv_iter_next(&it, &t, NULL)) {
			if (t.tag == 0x30 && ++seqs == 2)
				cert = t;
		}
		if (seqs < 2) {
			QL_VCARD_BAD_REQUEST(error, "AuthenticateServer without serverCertificate");
			return FALSE;
		}
	}
	if (!ql_tlv_require(&ss1, 0x80, "transactionId", &tid, error) ||
	    !ql_tlv_require(&ss1, 0x81, "euiccChallenge", &chal, error) ||
	    !ql_tlv_require(&ss1, 0x83, "serverAddress", &addr, error) ||
	    !ql_tlv_require(&ss1, 0x84, "serverChallenge", &schal, error))
		return FALSE;
	if (tid.len < 1 || tid.len > 16 || schal.len != 16) {
		QL_VCARD_BAD_REQUEST(error, "serverSigned1: bad transactionId or serverChallenge");
		return FALSE;
	}

	/* a new authentication replaces any session, and the challenge serves once */
	ql_vcard_session_clear(s);
	code = ql_vcard_authenticate_check(card, &ss1, &sig, &ci_id, &cert, &tid, &chal, &ci,
					   &dpauth);
	card->have_challenge = FALSE;
	ql_crypto_wipe(card->challenge, sizeof(card->challenge));
	if (code != 0) {
		g_debug("AuthenticateServer refused: error %d", code);
		ql_vcard_put_dl_error(b, 0xBF38, &tid, code);
		return TRUE;
	}

	/* euiccSigned1 { 80 transactionId, 83 serverAddress, 84 serverChallenge, BF22 euiccInfo2,
	 * ctxParams1 as received } */
	sb = ql_tlv_builder_new();
	ql_tlv_builder_begin(sb, 0x30);
	ql_tlv_builder_add_raw(sb, tid.raw, tid.raw_len);
	ql_tlv_builder_add_raw(sb, addr.raw, addr.raw_len);
	ql_tlv_builder_add_raw(sb, schal.raw, schal.raw_len);
	if (!ql_vcard_put_euicc_info2(card, sb, error))
		return FALSE;
	ql_tlv_builder_add_raw(sb, ctx.raw, ctx.raw_len);
	ql_tlv_builder_end(sb);
	signed1 = ql_tlv_builder_finish(g_steal_pointer(&sb));
	if (!ql_vcard_sign(card, g_bytes_get_data(signed1, NULL), g_bytes_get_size(signed1), sig1,
			   error))
		return FALSE;
	euicc_der = ql_pki_export_der(card->euicc.crt, error);
	if (euicc_der == NULL)
		return FALSE;
	eum_der = ql_pki_export_der(card->eum.crt, error);
	if (eum_der == NULL)
		return FALSE;

	s->transaction_id = g_bytes_new(tid.value, tid.len);
	s->server_address = ql_tlv_get_string(&addr);
	s->matching_id = ql_vcard_matching_id(&ctx);
	s->smdp_oid = ql_vcard_smdp_oid_of(dpauth);
	s->ci = ql_pki_crt_copy(ci, error);
	if (s->ci == NULL) {
		ql_vcard_session_clear(s);
		return FALSE;
	}
	s->euicc_sig1_tlv = ql_crypto_sig_to_tlv(sig1);
	s->state = QL_VCARD_SESSION_AUTHENTICATED;

	ql_tlv_builder_begin(b, 0xBF38);
	ql_tlv_builder_begin(b, 0xA0);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(signed1, NULL), g_bytes_get_size(signed1));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(s->euicc_sig1_tlv, NULL),
			       g_bytes_get_size(s->euicc_sig1_tlv));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(euicc_der, NULL), g_bytes_get_size(euicc_der));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(eum_der, NULL), g_bytes_get_size(eum_der));
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	return TRUE;
}

/* ---- PrepareDownload (SGP.22 5.7.14... 5.7.13 in v2.2 numbering of ES10b) ---- */

static gint
ql_vcard_prepare_check(QlVcard *card, const QlTlv *signed2, const QlTlv *sig, const QlTlv *cert,
		       const QlTlv *tid, gboolean cc_required, gboolean have_hash_cc,
		       gnutls_x509_crt_t *dppb_out)
{
	QlVcardSession *s = &card->session;
	g_autoptr(GByteArray) data = NULL;
	QlVcardCertCheck cc;

	if (s->state != QL_VCARD_SESSION_AUTHENTICATED && s->state != QL_VCARD_SESSION_PREPARED)
		return QL_VCARD_AUTH_NO_SESSION;
	cc = ql_vcard_check_cert(cert, s->ci, QL_CERT_ROLE_DP_PB, dppb_out);
	if (cc == QL_VCARD_CERT_CURVE)
		return QL_VCARD_AUTH_UNSUPPORTED_CURVE;
	if (cc != QL_VCARD_CERT_OK)
		return QL_VCARD_AUTH_INVALID_CERTIFICATE;
	/* smdpSignature2 covers smdpSigned2 || euiccSignature1 (the 5F37 TLV this card gave) */
	data = g_byte_array_new();
	g_byte_array_append(data, signed2->raw, (guint)signed2->raw_len);
	g_byte_array_append(data, g_bytes_get_data(s->euicc_sig1_tlv, NULL),
			    (guint)g_bytes_get_size(s->euicc_sig1_tlv));
	if (!ql_crypto_ecdsa_verify_crt(*dppb_out, data->data, data->len, sig->value, sig->len,
					NULL))
		return QL_VCARD_AUTH_INVALID_SIGNATURE;
	if (!ql_vcard_bytes_equal(s->transaction_id, tid))
		return QL_VCARD_DL_INVALID_TRANSACTION_ID;
	/* the card cannot check a confirmation code, only that its hash was given */
	if (cc_required && !have_hash_cc)
		return QL_VCARD_AUTH_UNDEFINED;
	return 0;
}

gboolean
ql_vcard_dl_prepare(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	QlVcardSession *s = &card->session;
	g_autoptr(QlTlvBuilder) sb = NULL;
	g_autoptr(GBytes) signed2 = NULL;
	g_autoptr(GByteArray) data = NULL;
	g_auto(gnutls_x509_crt_t) dppb = NULL;
	QlTlv ss2, sig, tid, flag, otpk;
	QlTlv cert = {0}, hash_cc = {0};
	gboolean have_hash_cc = FALSE, have_otpk = FALSE;
	gboolean cc_required;
	guint8 sig2[QL_CRYPTO_ECDSA_SIG_LEN];
	gint code;

	if (!ql_tlv_require(req, 0x30, "smdpSigned2", &ss2, error) ||
	    !ql_tlv_require(req, 0x5F37, "smdpSignature2", &sig, error))
		return FALSE;
	{
		QlTlvIter it;
		QlTlv t;
		guint seqs = 0;
		ql_tlv_iter_init_value(&it, req);
		while (ql_tlv_iter_next(&it, &t, NULL)) {
			if (t.tag == 0x30 && ++seqs == 2)
				cert = t;
			if (t.tag == 0x04) {
				hash_cc = t;
				have_hash_cc = TRUE;
			}
		}
		if (seqs < 2) {
			QL_VCARD_BAD_REQUEST(error, "PrepareDownload without smdpCertificate");
			return FALSE;
		}
	}
	if (have_hash_cc && hash_cc.len != 32) {
		QL_VCARD_BAD_REQUEST(error, "hashCc of %" G_GSIZE_FORMAT " bytes", hash_cc.len);
		return FALSE;
	}
	if (!ql_tlv_require(&ss2, 0x80, "transactionId", &tid, error) ||
	    !ql_tlv_require(&ss2, 0x01, "ccRequiredFlag", &flag, error))
		return FALSE;
	if (flag.len != 1) {
		QL_VCARD_BAD_REQUEST(error, "ccRequiredFlag is not a BOOLEAN");
		return FALSE;
	}
	cc_required = flag.value[0] != 0;
	have_otpk = ql_tlv_find(&ss2, 0x5F49, &otpk, NULL);

	code = ql_vcard_prepare_check(card, &ss2, &sig, &cert, &tid, cc_required, have_hash_cc,
				      &dppb);
	if (code != 0) {
		g_debug("PrepareDownload refused: error %d", code);
		ql_vcard_put_dl_error(b, 0xBF21, &tid, code);
		return TRUE;
	}

	/* SGP.22 3.1.3.2: a retry names the one-time key already used; it is kept when this
	 * card still holds it, else a new one is made */
	if (!(have_otpk && s->have_otk && otpk.len == sizeof(s->otk.pub) &&
	      memcmp(otpk.value, s->otk.pub, otpk.len) == 0)) {
		ql_crypto_ec_keypair_clear(&s->otk);
		if (!ql_crypto_ec_generate(&s->otk, error))
			return FALSE;
		s->have_otk = TRUE;
	}
	g_clear_pointer(&s->dppb, gnutls_x509_crt_deinit);
	s->dppb = g_steal_pointer(&dppb);
	s->state = QL_VCARD_SESSION_PREPARED;

	sb = ql_tlv_builder_new();
	ql_tlv_builder_begin(sb, 0x30);
	ql_tlv_builder_add_raw(sb, tid.raw, tid.raw_len);
	ql_tlv_builder_add(sb, 0x5F49, s->otk.pub, sizeof(s->otk.pub));
	if (have_hash_cc)
		ql_tlv_builder_add_raw(sb, hash_cc.raw, hash_cc.raw_len);
	ql_tlv_builder_end(sb);
	signed2 = ql_tlv_builder_finish(g_steal_pointer(&sb));
	/* euiccSignature2 covers euiccSigned2 || smdpSignature2 (the 5F37 TLV) */
	data = g_byte_array_new();
	g_byte_array_append(data, g_bytes_get_data(signed2, NULL),
			    (guint)g_bytes_get_size(signed2));
	g_byte_array_append(data, sig.raw, (guint)sig.raw_len);
	if (!ql_vcard_sign(card, data->data, data->len, sig2, error))
		return FALSE;

	ql_tlv_builder_begin(b, 0xBF21);
	ql_tlv_builder_begin(b, 0xA0);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(signed2, NULL), g_bytes_get_size(signed2));
	ql_tlv_builder_add(b, QL_CRYPTO_SIG_TAG, sig2, sizeof(sig2));
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	return TRUE;
}

/* ---- CancelSession ---- */

gboolean
ql_vcard_dl_cancel(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	QlVcardSession *s = &card->session;
	g_autoptr(QlTlvBuilder) sb = NULL;
	g_autoptr(GBytes) signed_part = NULL;
	QlTlv tid, reason;
	gint64 r = 0;

	if (!ql_tlv_require(req, 0x80, "transactionId", &tid, error) ||
	    !ql_tlv_require(req, 0x81, "reason", &reason, error))
		return FALSE;
	if (!ql_tlv_get_int(&reason, &r, error)) {
		g_prefix_error(error, "request: ");
		return FALSE;
	}
	if (s->state == QL_VCARD_SESSION_NONE || !ql_vcard_bytes_equal(s->transaction_id, &tid)) {
		ql_tlv_builder_begin(b, 0xBF41);
		ql_tlv_builder_add_int(b, 0x81, 5); /* invalidTransactionId */
		ql_tlv_builder_end(b);
		return TRUE;
	}
	/* EuiccCancelSessionSigned: every component untagged, so AUTOMATIC TAGS number them */
	sb = ql_tlv_builder_new();
	ql_tlv_builder_begin(sb, 0x30);
	ql_tlv_builder_add(sb, 0x80, tid.value, tid.len);
	ql_vcard_put_oid(sb, 0x81, s->smdp_oid);
	ql_tlv_builder_add_int(sb, 0x82, r);
	ql_tlv_builder_end(sb);
	signed_part = ql_tlv_builder_finish(g_steal_pointer(&sb));

	ql_tlv_builder_begin(b, 0xBF41);
	ql_tlv_builder_begin(b, 0xA0);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(signed_part, NULL),
			       g_bytes_get_size(signed_part));
	if (!ql_vcard_add_signature(card, b, g_bytes_get_data(signed_part, NULL),
				    g_bytes_get_size(signed_part), error))
		return FALSE;
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	/* nothing of a half-loaded profile survives: it was never stored */
	ql_vcard_session_clear(s);
	return TRUE;
}

/* ---- LoadBoundProfilePackage (SGP.22 2.5.5) ---- */

gboolean
ql_vcard_dl_is_bpp(const guint8 *cmd, gsize len)
{
	if (len >= 2 && cmd[0] == 0xBF && cmd[1] == 0x36)
		return TRUE;
	return len >= 1 && (cmd[0] == 0xA0 || cmd[0] == 0xA1 || cmd[0] == 0xA2 || cmd[0] == 0xA3 ||
			    cmd[0] == 0x86 || cmd[0] == 0x88);
}

/* The tag and length of a header sent alone (BF36, A1, A3: their values follow in later
 * commands). ql-tlv reads whole TLVs only, so the header is read here with the same rules:
 * tags of up to 3 bytes, definite lengths of up to 4 bytes. @hlen gets the header size. */
static gboolean
ql_vcard_read_header(const guint8 *buf, gsize len, guint32 *tag, gsize *vlen, gsize *hlen)
{
	gsize pos = 0;
	guint32 t;

	if (len == 0)
		return FALSE;
	t = buf[pos++];
	if ((t & 0x1f) == 0x1f) {
		do {
			if (pos >= len || pos >= 3)
				return FALSE;
			t = (t << 8) | buf[pos];
		} while (buf[pos++] & 0x80);
	}
	if (pos >= len || buf[pos] == 0x80)
		return FALSE;
	if (buf[pos] < 0x80) {
		*vlen = buf[pos++];
	} else {
		guint n = buf[pos++] & 0x7f;
		if (n > 4 || len - pos < n)
			return FALSE;
		*vlen = 0;
		for (guint i = 0; i < n; i++)
			*vlen = (*vlen << 8) | buf[pos++];
	}
	*tag = t;
	*hlen = pos;
	return TRUE;
}

/* A failed step: the command it belongs to and why */
typedef struct {
	gint command;
	gint reason;
} QlVcardBppError;

static gboolean
ql_vcard_bpp_fail(QlVcardBppError *e, gint command, gint reason)
{
	e->command = command;
	e->reason = reason;
	return FALSE;
}

/* The bppCommandId of the piece the card waits for */
static gint
ql_vcard_bpp_stage_command(QlVcardSession *s)
{
	switch (s->stage) {
	case QL_VCARD_BPP_A0:
		return QL_VCARD_BPP_CMD_CONFIGURE;
	case QL_VCARD_BPP_A1:
	case QL_VCARD_BPP_IN_A1:
		return QL_VCARD_BPP_CMD_METADATA;
	default:
		return QL_VCARD_BPP_CMD_LOAD;
	}
}

/* BF36 header + BF23 InitialiseSecureChannelRequest (SGP.22 5.5.1) */
static gboolean
ql_vcard_bpp_init(QlVcard *card, const guint8 *cmd, gsize len, QlTlv *tid_out, QlVcardBppError *e)
{
	QlVcardSession *s = &card->session;
	g_autoptr(GByteArray) signed_data = g_byte_array_new();
	g_autoptr(GBytes) eid = NULL;
	g_auto(QlBspKeys) keys = {{0}};
	QlTlv bf23, t, op, tid, crt, otpk, sig, key_type, key_len, host_id;
	QlTlvIter it;
	guint32 tag;
	gsize vlen, hlen;
	gint64 op_value = 0;
	guint8 secret[QL_CRYPTO_ECDH_LEN];
	gboolean have[4] = {FALSE};
	const guint32 signed_tags[4] = {0x82, 0x80, 0xA6, 0x5F49};
	gboolean ok;

	if (!ql_vcard_read_header(cmd, len, &tag, &vlen, &hlen) || tag != 0xBF36 ||
	    !ql_tlv_read_exact(cmd + hlen, len - hlen, 0xBF23, &bf23, NULL) ||
	    !ql_tlv_validate(bf23.value, bf23.len, QL_TLV_MAX_DEPTH, NULL) || bf23.raw_len > vlen)
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_INIT, QL_VCARD_PIR_STRUCTURE);
	/* the signed part: remoteOpId, transactionId, controlRefTemplate and smdpOtpk as they
	 * appear, each once */
	ql_tlv_iter_init_value(&it, &bf23);
	while (ql_tlv_iter_next(&it, &t, NULL)) {
		for (guint i = 0; i < G_N_ELEMENTS(signed_tags); i++) {
			if (t.tag != signed_tags[i])
				continue;
			if (have[i])
				return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_INIT,
							 QL_VCARD_PIR_STRUCTURE);
			have[i] = TRUE;
			g_byte_array_append(signed_data, t.raw, (guint)t.raw_len);
		}
	}
	if (!have[0] || !have[1] || !have[2] || !have[3] || !ql_tlv_find(&bf23, 0x5F37, &sig, NULL))
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_INIT, QL_VCARD_PIR_STRUCTURE);
	ql_tlv_find(&bf23, 0x82, &op, NULL);
	ql_tlv_find(&bf23, 0x80, &tid, NULL);
	ql_tlv_find(&bf23, 0xA6, &crt, NULL);
	ql_tlv_find(&bf23, 0x5F49, &otpk, NULL);
	*tid_out = tid;
	if (!ql_tlv_find(&crt, 0x80, &key_type, NULL) || !ql_tlv_find(&crt, 0x81, &key_len, NULL) ||
	    !ql_tlv_find(&crt, 0x84, &host_id, NULL) || !ql_tlv_get_int(&op, &op_value, NULL))
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_INIT, QL_VCARD_PIR_STRUCTURE);

	if (s->state != QL_VCARD_SESSION_PREPARED || !s->have_otk ||
	    !ql_vcard_bytes_equal(s->transaction_id, &tid))
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_INIT,
					 QL_VCARD_PIR_INVALID_TRANSACTION_ID);
	if (op_value != 1) /* installBoundProfilePackage */
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_INIT,
					 QL_VCARD_PIR_UNSUPPORTED_REMOTE_OP);
	/* AES (88) with 16-byte keys, the only CRT SGP.22 v2 defines */
	if (key_type.len != 1 || key_type.value[0] != 0x88 || key_len.len != 1 ||
	    key_len.value[0] != QL_BSP_KEY_LEN || host_id.len < 1 || host_id.len > 16)
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_INIT, QL_VCARD_PIR_UNSUPPORTED_CRT);
	/* smdpSign covers the signed part || euiccOtpk as a 5F49 TLV */
	ql_tlv_put_tag(signed_data, 0x5F49);
	ql_tlv_put_len(signed_data, sizeof(s->otk.pub));
	g_byte_array_append(signed_data, s->otk.pub, sizeof(s->otk.pub));
	if (!ql_crypto_ecdsa_verify_crt(s->dppb, signed_data->data, signed_data->len, sig.value,
					sig.len, NULL))
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_INIT, QL_VCARD_PIR_INVALID_SIGNATURE);
	if (!ql_crypto_ecdh(s->otk.priv, otpk.value, otpk.len, secret, NULL))
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_INIT, QL_VCARD_PIR_INCORRECT_INPUT);
	eid = ql_hex_decode(card->eid, NULL);
	ok = eid != NULL &&
	     ql_bsp_derive_keys(secret, sizeof(secret), host_id.value, host_id.len,
				g_bytes_get_data(eid, NULL), g_bytes_get_size(eid), &keys, NULL);
	ql_crypto_wipe(secret, sizeof(secret));
	/* the one-time private key has done its work */
	ql_crypto_ec_keypair_clear(&s->otk);
	s->have_otk = FALSE;
	if (!ok)
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_INIT, 127);
	s->bsp = ql_bsp_new(&keys);
	s->bpp_left = vlen - bf23.raw_len;
	s->stage = QL_VCARD_BPP_A0;
	s->state = QL_VCARD_SESSION_LOADING;
	return TRUE;
}

/* The segments of a whole A0 / A2: each 87 checked and decrypted, joined into one command */
static GBytes *
ql_vcard_bpp_unwrap_all(QlVcardSession *s, const QlTlv *seq, gint command, QlVcardBppError *e)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	QlTlvIter it;
	QlTlv seg;
	guint n = 0;
	g_autoptr(GError) local = NULL;

	ql_tlv_iter_init_value(&it, seq);
	while (ql_tlv_iter_next(&it, &seg, &local)) {
		g_autoptr(GBytes) plain = NULL;
		if (seg.tag != QL_BSP_TAG_ENC_MAC || seg.len < QL_BSP_MAC_LEN) {
			ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_STRUCTURE);
			return NULL;
		}
		plain = ql_bsp_unwrap(s->bsp, seg.raw, seg.raw_len, NULL, NULL);
		if (plain == NULL) {
			ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_SECURITY);
			return NULL;
		}
		g_byte_array_append(out, g_bytes_get_data(plain, NULL),
				    (guint)g_bytes_get_size(plain));
		n++;
	}
	if (local != NULL || n == 0) {
		ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_STRUCTURE);
		return NULL;
	}
	return ql_crypto_secret_bytes_new(out->data, out->len);
}

/* A whole piece (A0, A2, 86, 88): one TLV filling the command, within what is left */
static gboolean
ql_vcard_bpp_whole(QlVcardSession *s, const guint8 *cmd, gsize len, guint32 tag, QlTlv *out,
		   gsize left, QlVcardBppError *e, gint command)
{
	if (!ql_tlv_read_exact(cmd, len, tag, out, NULL) || out->raw_len > left)
		return ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_STRUCTURE);
	return TRUE;
}

/* StoreMetadataRequest (BF25, SGP.22 5.5.3) -> the profile to be */
static gboolean
ql_vcard_bpp_metadata(QlVcard *card, QlVcardBppError *e)
{
	QlVcardSession *s = &card->session;
	QlVcardProfile *p;
	QlTlv top, t;
	gint64 v;

	if (!ql_tlv_read_exact(s->metadata->data, s->metadata->len, 0xBF25, &top, NULL) ||
	    !ql_tlv_validate(top.value, top.len, QL_TLV_MAX_DEPTH, NULL))
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_METADATA,
					 QL_VCARD_PIR_INCORRECT_INPUT);
	p = g_new0(QlVcardProfile, 1);
	s->pending = p;
	p->icon_type = -1;
	p->profile_class = QL_VCARD_CLASS_OPERATIONAL;
	p->notif_config =
		g_ptr_array_new_with_free_func((GDestroyNotify)ql_vcard_notif_config_free);
	if (!ql_tlv_find(&top, 0x5A, &t, NULL) || t.len != 10)
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_METADATA,
					 QL_VCARD_PIR_INCORRECT_INPUT);
	p->iccid = ql_iccid_from_bcd(t.value, t.len);
	if (p->iccid == NULL || strlen(p->iccid) < 18)
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_METADATA,
					 QL_VCARD_PIR_INCORRECT_INPUT);
	if (!ql_tlv_find(&top, 0x91, &t, NULL) || t.len > 32)
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_METADATA,
					 QL_VCARD_PIR_INCORRECT_INPUT);
	p->spn = ql_tlv_get_string(&t);
	if (!ql_tlv_find(&top, 0x92, &t, NULL) || t.len > 64)
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_METADATA,
					 QL_VCARD_PIR_INCORRECT_INPUT);
	p->name = ql_tlv_get_string(&t);
	if (ql_tlv_find(&top, 0x93, &t, NULL)) {
		QlTlv icon;
		if (!ql_tlv_get_int(&t, &v, NULL) || v < 0 || v > 1 ||
		    !ql_tlv_find(&top, 0x94, &icon, NULL) || icon.len > 1024)
			return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_METADATA,
						 QL_VCARD_PIR_INCORRECT_INPUT);
		p->icon_type = (gint)v;
		p->icon = g_bytes_new(icon.value, icon.len);
	}
	if (ql_tlv_find(&top, 0x95, &t, NULL)) {
		if (!ql_tlv_get_int(&t, &v, NULL) || v < 0 || v > 2)
			return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_METADATA,
						 QL_VCARD_PIR_UNSUPPORTED_CLASS);
		p->profile_class = (gint)v;
	}
	if (ql_tlv_find(&top, 0xB6, &t, NULL)) {
		QlTlvIter it;
		QlTlv item;
		ql_tlv_iter_init_value(&it, &t);
		while (ql_tlv_iter_next(&it, &item, NULL)) {
			QlVcardNotifConfig *c;
			QlTlv ev, addr;
			guint32 mask = 0;
			if (item.tag != 0x30 || !ql_tlv_find(&item, 0x80, &ev, NULL) ||
			    !ql_tlv_find(&item, 0x81, &addr, NULL) ||
			    !ql_vcard_get_bits(&ev, &mask, NULL))
				return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_METADATA,
							 QL_VCARD_PIR_INCORRECT_INPUT);
			c = g_new0(QlVcardNotifConfig, 1);
			/* only the four events SGP.22 v2 knows */
			c->events = mask & 0x0F;
			c->address = ql_tlv_get_string(&addr);
			g_ptr_array_add(p->notif_config, c);
		}
	}
	if (ql_tlv_find(&top, 0xB7, &t, NULL)) {
		QlTlv mccmnc;
		if (!ql_tlv_find(&t, 0x80, &mccmnc, NULL) || mccmnc.len != 3)
			return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_METADATA,
						 QL_VCARD_PIR_INCORRECT_INPUT);
		p->owner_mccmnc = g_bytes_new(mccmnc.value, mccmnc.len);
	}
	if (ql_vcard_find_iccid(card, p->iccid) != NULL)
		return ql_vcard_bpp_fail(e, QL_VCARD_BPP_CMD_METADATA, QL_VCARD_PIR_ICCID_EXISTS);
	return TRUE;
}

/* One piece after InitialiseSecureChannel; *done is set after the last 86 */
static gboolean
ql_vcard_bpp_step(QlVcard *card, const guint8 *cmd, gsize len, gboolean *done, QlVcardBppError *e)
{
	QlVcardSession *s = &card->session;
	gint command = ql_vcard_bpp_stage_command(s);
	QlTlv t;

	*done = FALSE;
	switch (s->stage) {
	case QL_VCARD_BPP_A0: {
		g_autoptr(GBytes) plain = NULL;
		if (!ql_vcard_bpp_whole(s, cmd, len, 0xA0, &t, s->bpp_left, e, command))
			return FALSE;
		plain = ql_vcard_bpp_unwrap_all(s, &t, command, e);
		if (plain == NULL)
			return FALSE;
		/* ConfigureISDPRequest: nothing in it this card needs beyond its form */
		if (!ql_tlv_read_exact(g_bytes_get_data(plain, NULL), g_bytes_get_size(plain),
				       0xBF24, &t, NULL))
			return ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_INCORRECT_INPUT);
		s->bpp_left -= len;
		s->stage = QL_VCARD_BPP_A1;
		return TRUE;
	}
	case QL_VCARD_BPP_A1:
	case QL_VCARD_BPP_A2_OR_A3: {
		guint32 tag;
		gsize vlen, hlen;
		if (s->stage == QL_VCARD_BPP_A2_OR_A3 && len > 0 && cmd[0] == 0xA2 && !s->seen_a2) {
			g_autoptr(GBytes) plain = NULL;
			command = QL_VCARD_BPP_CMD_REPLACE_KEYS;
			if (!ql_vcard_bpp_whole(s, cmd, len, 0xA2, &t, s->bpp_left, e, command))
				return FALSE;
			plain = ql_vcard_bpp_unwrap_all(s, &t, command, e);
			if (plain == NULL)
				return FALSE;
			/* from here on the profile keys, counter 1, their initial MAC chain */
			if (!ql_bsp_replace_keys_from_tlv(s->bsp, g_bytes_get_data(plain, NULL),
							  g_bytes_get_size(plain), NULL))
				return ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_INCORRECT_INPUT);
			s->bpp_left -= len;
			s->seen_a2 = TRUE;
			return TRUE;
		}
		/* a header alone: A1 before the 88s, A3 before the 86s */
		if (!ql_vcard_read_header(cmd, len, &tag, &vlen, &hlen) || hlen != len ||
		    tag != (s->stage == QL_VCARD_BPP_A1 ? 0xA1u : 0xA3u) || vlen == 0 ||
		    hlen > s->bpp_left || vlen > s->bpp_left - hlen)
			return ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_STRUCTURE);
		s->bpp_left -= hlen + vlen;
		s->seq_left = vlen;
		s->stage = s->stage == QL_VCARD_BPP_A1 ? QL_VCARD_BPP_IN_A1 : QL_VCARD_BPP_IN_A3;
		return TRUE;
	}
	case QL_VCARD_BPP_IN_A1: {
		g_autoptr(GBytes) plain = NULL;
		if (!ql_vcard_bpp_whole(s, cmd, len, QL_BSP_TAG_MAC, &t, s->seq_left, e, command) ||
		    t.len < QL_BSP_MAC_LEN)
			return ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_STRUCTURE);
		plain = ql_bsp_unwrap(s->bsp, cmd, len, NULL, NULL);
		if (plain == NULL)
			return ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_SECURITY);
		if (s->metadata == NULL)
			s->metadata = g_byte_array_new();
		g_byte_array_append(s->metadata, g_bytes_get_data(plain, NULL),
				    (guint)g_bytes_get_size(plain));
		s->seq_left -= len;
		if (s->seq_left > 0)
			return TRUE;
		if (!ql_vcard_bpp_metadata(card, e))
			return FALSE;
		s->stage = QL_VCARD_BPP_A2_OR_A3;
		return TRUE;
	}
	case QL_VCARD_BPP_IN_A3: {
		g_autoptr(GBytes) plain = NULL;
		if (!ql_vcard_bpp_whole(s, cmd, len, QL_BSP_TAG_PROFILE, &t, s->seq_left, e,
					command) ||
		    t.len < QL_BSP_MAC_LEN + 16 || (t.len - QL_BSP_MAC_LEN) % 16 != 0)
			return ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_STRUCTURE);
		plain = ql_bsp_unwrap(s->bsp, cmd, len, NULL, NULL);
		if (plain == NULL)
			return ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_SECURITY);
		if (s->profile == NULL)
			s->profile = g_byte_array_new();
		g_byte_array_append(s->profile, g_bytes_get_data(plain, NULL),
				    (guint)g_bytes_get_size(plain));
		s->seq_left -= len;
		if (s->seq_left > 0)
			return TRUE;
		/* the profile package must at least be a run of whole profile elements */
		{
			QlTlvIter it;
			QlTlv pe;
			g_autoptr(GError) local = NULL;
			guint n = 0;
			ql_tlv_iter_init(&it, s->profile->data, s->profile->len);
			while (ql_tlv_iter_next(&it, &pe, &local))
				n++;
			if (local != NULL || n == 0)
				return ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_PE_PROCESSING);
		}
		*done = TRUE;
		return TRUE;
	}
	default:
		return ql_vcard_bpp_fail(e, command, QL_VCARD_PIR_STRUCTURE);
	}
}

/* ProfileInstallationResult (BF37), signed over the whole BF27 */
static GBytes *
ql_vcard_bpp_result(QlVcard *card, GBytes *tid, QlVcardNotification *n, GBytes *aid,
		    const QlVcardBppError *e, GError **error)
{
	g_autoptr(QlTlvBuilder) db = ql_tlv_builder_new();
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) data = NULL;
	const gchar *oid = card->session.smdp_oid != NULL ? card->session.smdp_oid
							  : QL_VCARD_FALLBACK_SMDP_OID;

	ql_tlv_builder_begin(db, 0xBF27);
	if (tid != NULL)
		ql_tlv_builder_add_bytes(db, 0x80, tid);
	else
		ql_tlv_builder_add(db, 0x80, NULL, 0);
	ql_vcard_put_metadata(db, n);
	ql_vcard_put_oid(db, 0x06, oid);
	ql_tlv_builder_begin(db, 0xA2);
	if (e == NULL) {
		ql_tlv_builder_begin(db, 0xA0);
		ql_tlv_builder_add_bytes(db, 0x4F, aid);
		ql_tlv_builder_add(db, 0x04, ql_vcard_sima_ok, sizeof(ql_vcard_sima_ok));
		ql_tlv_builder_end(db);
	} else {
		ql_tlv_builder_begin(db, 0xA1);
		ql_tlv_builder_add_int(db, 0x80, e->command);
		ql_tlv_builder_add_int(db, 0x81, e->reason);
		ql_tlv_builder_end(db);
	}
	ql_tlv_builder_end(db);
	ql_tlv_builder_end(db);
	data = ql_tlv_builder_finish(g_steal_pointer(&db));

	ql_tlv_builder_begin(b, 0xBF37);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(data, NULL), g_bytes_get_size(data));
	if (!ql_vcard_add_signature(card, b, g_bytes_get_data(data, NULL), g_bytes_get_size(data),
				    error))
		return NULL;
	ql_tlv_builder_end(b);
	return ql_tlv_builder_finish(g_steal_pointer(&b));
}

/* Ends the load: installs the profile on success, keeps the signed result as the install
 * notification either way (SGP.22 3.1.3 / 5.7.10), then forgets the session. */
static GBytes *
ql_vcard_bpp_finish(QlVcard *card, const QlTlv *init_tid, const QlVcardBppError *e, GError **error)
{
	QlVcardSession *s = &card->session;
	g_autoptr(GBytes) tid = NULL;
	g_autoptr(GBytes) aid = NULL;
	g_autoptr(GBytes) pir = NULL;
	QlVcardNotification *n = g_new0(QlVcardNotification, 1);
	QlVcardProfile *p = NULL;
	gboolean keep;

	if (e != NULL)
		g_debug("profile load failed at BPP command %d: reason %d", e->command, e->reason);
	if (s->transaction_id != NULL)
		tid = g_bytes_ref(s->transaction_id);
	else if (init_tid != NULL)
		tid = g_bytes_new(init_tid->value, init_tid->len);
	n->seq = card->next_seq++;
	n->event = QL_VCARD_EVENT_INSTALL;
	n->address = g_strdup(s->server_address != NULL ? s->server_address : "");
	if (s->pending != NULL && s->pending->iccid != NULL)
		n->iccid = g_strdup(s->pending->iccid);
	if (e == NULL) {
		p = g_steal_pointer(&s->pending);
		p->isdp_aid = ql_vcard_next_isdp_aid(card);
		p->enabled = FALSE;
		aid = g_bytes_ref(p->isdp_aid);
	}
	pir = ql_vcard_bpp_result(card, tid, n, aid, e, error);
	if (pir == NULL) {
		ql_vcard_notification_free(n);
		if (p != NULL)
			ql_vcard_profile_free(p);
		ql_vcard_session_clear(s);
		return NULL;
	}
	n->pir = g_bytes_ref(pir);
	/* without a session there is no SM-DP+ to tell: the answer is all there is */
	keep = s->server_address != NULL;
	if (keep)
		g_ptr_array_add(card->notifications, n);
	else
		ql_vcard_notification_free(n);
	if (p != NULL)
		g_ptr_array_add(card->profiles, p);
	ql_vcard_session_clear(s);
	if ((keep || p != NULL) && !ql_vcard_state_save(card, error)) {
		if (p != NULL)
			g_ptr_array_remove(card->profiles, p);
		if (keep)
			g_ptr_array_remove(card->notifications, n);
		return NULL;
	}
	if (p != NULL)
		g_debug("profile %s installed", p->iccid);
	return g_steal_pointer(&pir);
}

GBytes *
ql_vcard_dl_bpp(QlVcard *card, const guint8 *cmd, gsize len, guint16 *sw, GError **error)
{
	QlVcardSession *s = &card->session;
	QlVcardBppError e = {0, 0};
	QlTlv tid = {0};
	gboolean done = FALSE;
	GBytes *answer;

	*sw = 0x9000;
	if (len >= 2 && cmd[0] == 0xBF && cmd[1] == 0x36) {
		if (ql_vcard_bpp_init(card, cmd, len, &tid, &e))
			return g_bytes_new(NULL, 0);
		answer = ql_vcard_bpp_finish(card, tid.value != NULL ? &tid : NULL, &e, error);
		return answer;
	}
	if (s->state != QL_VCARD_SESSION_LOADING) {
		/* a piece with no load under way (e.g. after the card ended one) */
		*sw = 0x6985;
		return g_bytes_new(NULL, 0);
	}
	if (!ql_vcard_bpp_step(card, cmd, len, &done, &e))
		return ql_vcard_bpp_finish(card, NULL, &e, error);
	if (!done)
		return g_bytes_new(NULL, 0);
	return ql_vcard_bpp_finish(card, NULL, NULL, error);
}
