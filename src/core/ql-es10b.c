/*
 * ES10b download commands. See ql-es10b.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-apdu.h"
#include "ql-es10.h"
#include "ql-es10b.h"
#include "ql-tlv.h"

void
ql_install_result_free(QlInstallResult *r)
{
	if (r == NULL)
		return;
	g_free(r->iccid);
	g_free(r->isdp_aid);
	g_free(r->notification_address);
	g_clear_pointer(&r->raw, g_bytes_unref);
	g_free(r);
}

const gchar *
ql_install_error_reason_to_string(gint reason)
{
	switch (reason) {
	case 1:
		return "incorrect input values";
	case 2:
		return "invalid signature";
	case 3:
		return "invalid transaction id";
	case 4:
		return "unsupported CRT values";
	case 5:
		return "unsupported remote operation type";
	case 6:
		return "unsupported profile class";
	case 7:
		return "SCP03t structure error";
	case 8:
		return "SCP03t security error (a segment failed its MAC or decryption)";
	case 9:
		return "a profile with this ICCID is already on the eUICC";
	case 10:
		return "not enough memory for the profile";
	case 11:
		return "installation interrupted";
	case 12:
		return "profile element processing error";
	case 13:
		return "data mismatch";
	case 14:
		return "invalid NAA key in a test profile";
	case 15:
		return "the profile policy rules do not allow it";
	default:
		return "unknown error";
	}
}

const gchar *
ql_bpp_command_to_string(gint id)
{
	static const gchar *names[] = {"InitialiseSecureChannel", "ConfigureISDP",
				       "StoreMetadata",		  "StoreMetadata2",
				       "ReplaceSessionKeys",	  "LoadProfileElements"};
	if (id >= 0 && id < (gint)G_N_ELEMENTS(names))
		return names[id];
	return "unknown command";
}

const gchar *
ql_cancel_reason_to_string(QlCancelReason reason)
{
	switch (reason) {
	case QL_CANCEL_END_USER_REJECTION:
		return "end user rejection";
	case QL_CANCEL_POSTPONED:
		return "postponed";
	case QL_CANCEL_TIMEOUT:
		return "timeout";
	case QL_CANCEL_PPR_NOT_ALLOWED:
		return "profile policy rules not allowed";
	case QL_CANCEL_METADATA_MISMATCH:
		return "metadata mismatch";
	case QL_CANCEL_LOAD_BPP_EXECUTION_ERROR:
		return "load BPP execution error";
	default:
		return "undefined reason";
	}
}

/* AuthenticateErrorCode and DownloadErrorCode share their first codes (SGP.22 5.7.13-14) */
static const gchar *
ql_es10b_error_to_string(gint64 code, gboolean authenticate)
{
	switch (code) {
	case 1:
		return "the SM-DP+ certificate is invalid";
	case 2:
		return "the SM-DP+ signature is invalid";
	case 3:
		return "unsupported curve";
	case 4:
		return "no session context";
	case 5:
		return authenticate ? "invalid OID" : "invalid transaction id";
	case 6:
		return authenticate ? "the eUICC challenge does not match" : "undefined error";
	case 7:
		return authenticate ? "the eUICC does not know the CI the SM-DP+ uses"
				    : "undefined error";
	default:
		return "undefined error";
	}
}

static const gchar *
ql_authenticate_error_to_string(gint64 code)
{
	return ql_es10b_error_to_string(code, TRUE);
}

static const gchar *
ql_download_error_to_string(gint64 code)
{
	return ql_es10b_error_to_string(code, FALSE);
}

/* Checks that @b is exactly one TLV with @tag; @what names it in the error. */
static gboolean
ql_es10b_check_tlv(GBytes *b, guint32 tag, const gchar *what, GError **error)
{
	QlTlv tlv;
	g_autoptr(GError) local = NULL;
	if (b == NULL ||
	    !ql_tlv_read_exact(g_bytes_get_data(b, NULL), g_bytes_get_size(b), tag, &tlv, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "%s from the SM-DP+ is malformed%s%s", what, local != NULL ? ": " : "",
			    local != NULL ? local->message : "");
		return FALSE;
	}
	return TRUE;
}

/* The answers of AuthenticateServer and PrepareDownload: [0] ok or [1] error {[0] tid, code}.
 * The error SEQUENCE tags transactionId itself, so automatic tagging is off there and the code
 * is a plain INTEGER (02); some cards tag it [1] (81) anyway. */
static gboolean
ql_es10b_check_answer(GBytes *resp, const gchar *what, const gchar *(*words)(gint64),
		      GError **error)
{
	QlTlv top, err, code;
	gint64 c = 127;

	ql_tlv_read(g_bytes_get_data(resp, NULL), g_bytes_get_size(resp), &top, NULL, NULL);
	if (ql_tlv_find(&top, 0xA0, &err, NULL))
		return TRUE;
	if (!ql_tlv_find(&top, 0xA1, &err, NULL)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "%s: the eUICC's answer is neither a result nor an error", what);
		return FALSE;
	}
	if (ql_tlv_find(&err, 0x02, &code, NULL) || ql_tlv_find(&err, 0x81, &code, NULL))
		ql_tlv_get_int(&code, &c, NULL);
	g_set_error(error, QL_ERROR, QL_ERROR_EUICC, "%s: %s (eUICC error %" G_GINT64_FORMAT ")",
		    what, words(c), c);
	return FALSE;
}

GBytes *
ql_es10b_authenticate_server(QlChannel *ch, GBytes *server_signed1, GBytes *server_signature1,
			     GBytes *ci_pkid_to_be_used, GBytes *server_certificate,
			     const gchar *matching_id, const QlDeviceInfo *device, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) req = NULL;
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(GBytes) tac = NULL;

	if (!ql_es10b_check_tlv(server_signed1, 0x30, "serverSigned1", error) ||
	    !ql_es10b_check_tlv(server_signature1, 0x5F37, "serverSignature1", error) ||
	    !ql_es10b_check_tlv(ci_pkid_to_be_used, 0x04, "euiccCiPKIdToBeUsed", error) ||
	    !ql_es10b_check_tlv(server_certificate, 0x30, "serverCertificate", error))
		return NULL;
	tac = ql_hex_decode(device != NULL && device->tac != NULL ? device->tac : "35290611",
			    error);
	if (tac == NULL || g_bytes_get_size(tac) != 4) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "the device TAC must be 8 digits");
		return NULL;
	}
	ql_tlv_builder_begin(b, 0xBF38);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(server_signed1, NULL),
			       g_bytes_get_size(server_signed1));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(server_signature1, NULL),
			       g_bytes_get_size(server_signature1));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(ci_pkid_to_be_used, NULL),
			       g_bytes_get_size(ci_pkid_to_be_used));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(server_certificate, NULL),
			       g_bytes_get_size(server_certificate));
	/* ctxParams1 is an untagged CHOICE: only its alternative ctxParamsForCommonAuthentication
	 * [0] is encoded, A0 { matchingId 80, deviceInfo A1 } */
	ql_tlv_builder_begin(b, 0xA0);
	if (matching_id != NULL)
		ql_tlv_builder_add_string(b, 0x80, matching_id);
	ql_tlv_builder_begin(b, 0xA1); /* deviceInfo */
	ql_tlv_builder_add_bytes(b, 0x80, tac);
	ql_tlv_builder_begin(b, 0xA1); /* deviceCapabilities: LTE and 5G releases */
	ql_tlv_builder_add(b, 0x85, (const guint8 *)"\x0f\x00\x00", 3);
	ql_tlv_builder_end(b);
	if (device != NULL && device->imei != NULL) {
		g_autoptr(GBytes) imei = ql_hex_decode(device->imei, NULL);
		if (imei != NULL && g_bytes_get_size(imei) == 8)
			ql_tlv_builder_add_bytes(b, 0x82, imei);
	}
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	req = ql_tlv_builder_finish(g_steal_pointer(&b));
	resp = ql_es10_transceive(ch, req, 0xBF38, error);
	if (resp == NULL)
		return NULL;
	if (!ql_es10b_check_answer(resp, "the eUICC did not accept the SM-DP+",
				   ql_authenticate_error_to_string, error))
		return NULL;
	return g_steal_pointer(&resp);
}

GBytes *
ql_es10b_prepare_download(QlChannel *ch, GBytes *smdp_signed2, GBytes *smdp_signature2,
			  GBytes *hash_cc, GBytes *smdp_certificate, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) req = NULL;
	g_autoptr(GBytes) resp = NULL;

	if (!ql_es10b_check_tlv(smdp_signed2, 0x30, "smdpSigned2", error) ||
	    !ql_es10b_check_tlv(smdp_signature2, 0x5F37, "smdpSignature2", error) ||
	    !ql_es10b_check_tlv(smdp_certificate, 0x30, "smdpCertificate", error))
		return NULL;
	if (hash_cc != NULL && g_bytes_get_size(hash_cc) != 32) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "hashCc must be 32 bytes");
		return NULL;
	}
	ql_tlv_builder_begin(b, 0xBF21);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(smdp_signed2, NULL),
			       g_bytes_get_size(smdp_signed2));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(smdp_signature2, NULL),
			       g_bytes_get_size(smdp_signature2));
	if (hash_cc != NULL)
		ql_tlv_builder_add_bytes(b, 0x04, hash_cc);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(smdp_certificate, NULL),
			       g_bytes_get_size(smdp_certificate));
	ql_tlv_builder_end(b);
	req = ql_tlv_builder_finish(g_steal_pointer(&b));
	resp = ql_es10_transceive(ch, req, 0xBF21, error);
	if (resp == NULL)
		return NULL;
	if (!ql_es10b_check_answer(resp, "the eUICC refused to prepare the download",
				   ql_download_error_to_string, error))
		return NULL;
	return g_steal_pointer(&resp);
}

static void
ql_es10b_add_segment(GPtrArray *out, const guint8 *p, gsize n)
{
	g_ptr_array_add(out, g_bytes_new(p, n));
}

/* The parts of a BoundProfilePackage, a SEQUENCE without an extension marker: each at most
 * once and in this order, secondSequenceOf87 (A2) the only optional one */
static const guint32 ql_es10b_bpp_parts[] = {0xBF23, 0xA0, 0xA1, 0xA2, 0xA3};

GPtrArray *
ql_es10b_bpp_segments(GBytes *bpp, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_autoptr(GError) local = NULL;
	const guint8 *data;
	gsize len;
	QlTlv top, t;
	QlTlvIter it;
	guint next = 0; /* the index in ql_es10b_bpp_parts of the next part that may come */

	data = g_bytes_get_data(bpp, &len);
	if (len == 0 || !ql_tlv_read_exact(data, len, 0xBF36, &top, &local) ||
	    !ql_tlv_validate(data, len, QL_TLV_MAX_DEPTH, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the Bound Profile Package is malformed or truncated: %s",
			    local != NULL ? local->message : "empty");
		return NULL;
	}
	ql_tlv_iter_init_value(&it, &top);
	while (ql_tlv_iter_next(&it, &t, &local)) {
		guint part = 0;
		while (part < G_N_ELEMENTS(ql_es10b_bpp_parts) && ql_es10b_bpp_parts[part] != t.tag)
			part++;
		if (part == G_N_ELEMENTS(ql_es10b_bpp_parts))
			continue; /* not a part of the package: not sent */
		/* a part again, or one that skips a mandatory part (only A2, index 3, may be
		 * skipped): a second BF23 would otherwise send the package's start once more */
		if (part < next || (part > next && !(part == next + 1 && next == 3)))
			goto order;
		next = part + 1;
		switch (t.tag) {
		case 0xBF23: {
			/* the BF36 header goes with InitialiseSecureChannel */
			GByteArray *seg =
				g_byte_array_sized_new((guint)(top.value - data + t.raw_len));
			g_byte_array_append(seg, data, (guint)(top.value - data));
			g_byte_array_append(seg, t.raw, (guint)t.raw_len);
			g_ptr_array_add(out, g_byte_array_free_to_bytes(seg));
			break;
		}
		case 0xA0:
		case 0xA2:
			ql_es10b_add_segment(out, t.raw, t.raw_len);
			break;
		default: {
			/* A1 / A3: the header alone, then each 88 / 86 as its own command */
			QlTlvIter sub;
			QlTlv seg;
			ql_es10b_add_segment(out, t.raw, (gsize)(t.value - t.raw));
			ql_tlv_iter_init_value(&sub, &t);
			while (ql_tlv_iter_next(&sub, &seg, &local)) {
				if (seg.tag != (t.tag == 0xA1 ? 0x88u : 0x86u)) {
					g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
						    "the Bound Profile Package has a %X inside %X",
						    seg.tag, t.tag);
					return NULL;
				}
				ql_es10b_add_segment(out, seg.raw, seg.raw_len);
			}
			break;
		}
		}
	}
	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	if (next < G_N_ELEMENTS(ql_es10b_bpp_parts)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the Bound Profile Package is incomplete (it needs BF23, A0, "
				    "A1 and A3)");
		return NULL;
	}
	return g_steal_pointer(&out);
order:
	g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the parts of the Bound Profile Package are out of order");
	return NULL;
}

QlInstallResult *
ql_es10b_parse_install_result(GBytes *bf37, GError **error)
{
	g_autoptr(QlInstallResult) r = g_new0(QlInstallResult, 1);
	g_autoptr(GError) local = NULL;
	QlTlv top, data, meta, fin, res, t;
	gint64 v = 0;

	if (!ql_tlv_read_exact(g_bytes_get_data(bf37, NULL), g_bytes_get_size(bf37), 0xBF37, &top,
			       &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "malformed ProfileInstallationResult: %s", local->message);
		return NULL;
	}
	r->raw = g_bytes_ref(bf37);
	r->seq = -1;
	r->bpp_command_id = r->error_reason = -1;
	if (!ql_tlv_require(&top, 0xBF27, "profileInstallationResultData", &data, error) ||
	    !ql_tlv_require(&data, 0xA2, "finalResult", &fin, error))
		return NULL;
	if (ql_tlv_find(&data, 0xBF2F, &meta, NULL)) {
		if (ql_tlv_find(&meta, 0x80, &t, NULL) && ql_tlv_get_int(&t, &v, NULL))
			r->seq = v;
		if (ql_tlv_find(&meta, 0x5A, &t, NULL))
			r->iccid = ql_iccid_from_bcd(t.value, t.len);
		if (ql_tlv_find(&meta, 0x0C, &t, NULL))
			r->notification_address = ql_tlv_get_string(&t);
	}
	if (ql_tlv_find(&fin, 0xA0, &res, NULL)) {
		r->success = TRUE;
		if (ql_tlv_find(&res, 0x4F, &t, NULL))
			r->isdp_aid = ql_hex_encode(t.value, t.len);
	} else if (ql_tlv_find(&fin, 0xA1, &res, NULL)) {
		if (ql_tlv_find(&res, 0x80, &t, NULL) && ql_tlv_get_int(&t, &v, NULL))
			r->bpp_command_id = (gint)v;
		if (ql_tlv_find(&res, 0x81, &t, NULL) && ql_tlv_get_int(&t, &v, NULL))
			r->error_reason = (gint)v;
	} else {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "ProfileInstallationResult without a final result");
		return NULL;
	}
	return g_steal_pointer(&r);
}

QlInstallResult *
ql_es10b_load_bpp(QlChannel *ch, GBytes *bpp, QlBppProgress progress, gpointer user_data,
		  GError **error)
{
	g_autoptr(GPtrArray) segments = ql_es10b_bpp_segments(bpp, error);

	if (segments == NULL)
		return NULL;
	for (guint i = 0; i < segments->len; i++) {
		GBytes *seg = g_ptr_array_index(segments, i);
		g_autoptr(GBytes) resp = ql_apdu_store_data(ch, g_bytes_get_data(seg, NULL),
							    g_bytes_get_size(seg), error);
		if (resp == NULL)
			return NULL;
		if (g_bytes_get_size(resp) == 0) {
			if (i + 1 == segments->len) {
				if (progress != NULL)
					progress(i + 1, segments->len, user_data);
				break;
			}
			/* a cancel stops between segments, while the card still waits for more */
			if (progress != NULL && !progress(i + 1, segments->len, user_data)) {
				g_set_error(error, QL_ERROR, QL_ERROR_CANCELLED,
					    "cancelled after segment %u of %u of the profile", i + 1,
					    segments->len);
				return NULL;
			}
			continue;
		}
		if (progress != NULL)
			progress(i + 1, segments->len, user_data);
		/* the card ends the load early (an error) or after the last segment */
		{
			g_autoptr(GError) local = NULL;
			QlTlv tlv;
			if (!ql_tlv_read_exact(g_bytes_get_data(resp, NULL), g_bytes_get_size(resp),
					       0xBF37, &tlv, &local) ||
			    !ql_tlv_validate(g_bytes_get_data(resp, NULL), g_bytes_get_size(resp),
					     QL_TLV_MAX_DEPTH, &local)) {
				g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
					    "malformed answer to segment %u of the profile: %s",
					    i + 1, local->message);
				return NULL;
			}
		}
		return ql_es10b_parse_install_result(resp, error);
	}
	g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the eUICC gave no ProfileInstallationResult after the last segment");
	return NULL;
}

GBytes *
ql_es10b_cancel_session(QlChannel *ch, GBytes *transaction_id, QlCancelReason reason,
			GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) req = NULL;
	g_autoptr(GBytes) resp = NULL;
	QlTlv top, t;

	ql_tlv_builder_begin(b, 0xBF41);
	ql_tlv_builder_add_bytes(b, 0x80, transaction_id);
	ql_tlv_builder_add_int(b, 0x81, reason);
	ql_tlv_builder_end(b);
	req = ql_tlv_builder_finish(g_steal_pointer(&b));
	resp = ql_es10_transceive(ch, req, 0xBF41, error);
	if (resp == NULL)
		return NULL;
	ql_tlv_read(g_bytes_get_data(resp, NULL), g_bytes_get_size(resp), &top, NULL, NULL);
	if (!ql_tlv_find(&top, 0xA0, &t, NULL)) {
		gint64 code = 127;
		if (ql_tlv_find(&top, 0x81, &t, NULL))
			ql_tlv_get_int(&t, &code, NULL);
		g_set_error(
			error, QL_ERROR, QL_ERROR_EUICC,
			"the eUICC refused to cancel the session: %s (eUICC error %" G_GINT64_FORMAT
			")",
			code == 5 ? "invalid transaction id" : "undefined error", code);
		return NULL;
	}
	return g_steal_pointer(&resp);
}
