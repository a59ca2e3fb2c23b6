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
	return ql_es10b_authenticate_server_full(ch, server_signed1, server_signature1,
						 ci_pkid_to_be_used, server_certificate,
						 matching_id, device, NULL, error);
}

GBytes *
ql_es10b_authenticate_server_full(QlChannel *ch, GBytes *server_signed1, GBytes *server_signature1,
				  GBytes *ci_pkid_to_be_used, GBytes *server_certificate,
				  const gchar *matching_id, const QlDeviceInfo *device,
				  GBytes **refusal, GError **error)
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
				   ql_authenticate_error_to_string, error)) {
		/* an answer the eUICC gave (not a malformed one): the SM-DP+ is owed it */
		if (refusal != NULL && error != NULL && *error != NULL &&
		    g_error_matches(*error, QL_ERROR, QL_ERROR_EUICC))
			*refusal = g_steal_pointer(&resp);
		return NULL;
	}
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

/* The parts of a BoundProfilePackage, a SEQUENCE without an extension marker: each at most
 * once and in this order, secondSequenceOf87 (A2) the only optional one */
static const guint32 ql_es10b_bpp_parts[] = {0xBF23, 0xA0, 0xA1, 0xA2, 0xA3};

/* No part or segment comes near this (86 segments are 1020 bytes at most, metadata a few KiB);
 * it bounds what the splitter holds while a package streams in */
#define QL_BPP_MAX_ELEMENT (64 * 1024)

typedef enum {
	QL_BPP_TOP,	  /* waiting for the BF36 header */
	QL_BPP_PARTS,	  /* between the parts */
	QL_BPP_CONTAINER, /* inside A1 / A3: each 88 / 86 on its own */
	QL_BPP_DONE,
} QlBppState;

struct _QlBppSplitter {
	QlBppSegmentFunc emit;
	gpointer user_data;
	QlBppState state;
	GByteArray *buf;  /* bytes not consumed yet */
	GByteArray *top;  /* the BF36 header, sent with BF23 */
	gsize top_left;	  /* of BF36's value */
	gsize inner_left; /* of the A1 / A3 being split */
	guint32 container;
	guint next; /* the index in ql_es10b_bpp_parts of the next part that may come */
	guint segments;
	gsize total;
	gsize consumed;
	gboolean failed;
};

QlBppSplitter *
ql_bpp_splitter_new(QlBppSegmentFunc emit, gpointer user_data)
{
	QlBppSplitter *s = g_new0(QlBppSplitter, 1);
	s->emit = emit;
	s->user_data = user_data;
	s->buf = g_byte_array_new();
	s->top = g_byte_array_new();
	return s;
}

void
ql_bpp_splitter_free(QlBppSplitter *s)
{
	if (s == NULL)
		return;
	g_byte_array_unref(s->buf);
	g_byte_array_unref(s->top);
	g_free(s);
}

guint
ql_bpp_splitter_get_segments(QlBppSplitter *s)
{
	return s->segments;
}

gsize
ql_bpp_splitter_get_total(QlBppSplitter *s)
{
	return s->total;
}

gsize
ql_bpp_splitter_get_consumed(QlBppSplitter *s)
{
	return s->consumed;
}

static gboolean
ql_bpp_malformed(QlBppSplitter *s, GError **error, const gchar *why)
{
	s->failed = TRUE;
	g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
		    "the Bound Profile Package is malformed or truncated: %s", why);
	return FALSE;
}

static gboolean
ql_bpp_send(QlBppSplitter *s, const guint8 *p, gsize n, GError **error)
{
	g_autoptr(GBytes) seg = g_bytes_new(p, n);
	s->segments++;
	if (!s->emit(seg, s->user_data, error)) {
		s->failed = TRUE;
		return FALSE;
	}
	return TRUE;
}

static void
ql_bpp_consume(QlBppSplitter *s, gsize n)
{
	g_byte_array_remove_range(s->buf, 0, (guint)n);
	s->consumed += n;
}

/* One step on what is buffered: TRUE when it went on (*@progress set), or when it needs more
 * bytes (*@progress not set); FALSE on an error. */
static gboolean
ql_bpp_step(QlBppSplitter *s, gboolean *progress, GError **error)
{
	g_autoptr(GError) local = NULL;
	guint32 tag = 0;
	gsize hlen = 0, vlen = 0;
	const gsize limit = s->state == QL_BPP_CONTAINER ? s->inner_left : s->top_left;

	*progress = FALSE;
	if (s->state == QL_BPP_DONE) {
		if (s->buf->len > 0)
			return ql_bpp_malformed(s, error, "bytes after its end");
		return TRUE;
	}
	if (s->state == QL_BPP_PARTS && s->top_left == 0) {
		s->state = QL_BPP_DONE;
		*progress = TRUE;
		return TRUE;
	}
	if (s->state == QL_BPP_CONTAINER && s->inner_left == 0) {
		s->state = QL_BPP_PARTS;
		*progress = TRUE;
		return TRUE;
	}
	if (!ql_tlv_read_header(s->buf->data, s->buf->len, &tag, &hlen, &vlen, &local)) {
		if (local != NULL)
			return ql_bpp_malformed(s, error, local->message);
		if (s->state != QL_BPP_TOP && s->buf->len >= limit)
			return ql_bpp_malformed(s, error, "a part is cut short");
		return TRUE;
	}
	if (s->state == QL_BPP_TOP) {
		if (tag != 0xBF36) {
			g_autofree gchar *why = g_strdup_printf("expected tag BF36, got %X", tag);
			return ql_bpp_malformed(s, error, why);
		}
		g_byte_array_append(s->top, s->buf->data, (guint)hlen);
		s->top_left = vlen;
		s->total = hlen + vlen;
		ql_bpp_consume(s, hlen);
		s->state = QL_BPP_PARTS;
		*progress = TRUE;
		return TRUE;
	}
	if (hlen + vlen > limit) {
		g_autofree gchar *why = g_strdup_printf(
			"TLV %X: length %" G_GSIZE_FORMAT " runs past its parent", tag, vlen);
		return ql_bpp_malformed(s, error, why);
	}
	/* a whole element waits until all of it is here (A1 / A3 go on with their header) */
	if (s->state == QL_BPP_CONTAINER || (tag != 0xA1 && tag != 0xA3)) {
		if (hlen + vlen > QL_BPP_MAX_ELEMENT) {
			g_autofree gchar *why = g_strdup_printf("TLV %X of %" G_GSIZE_FORMAT
								" bytes is larger than any part",
								tag, vlen);
			return ql_bpp_malformed(s, error, why);
		}
		if (s->buf->len < hlen + vlen)
			return TRUE;
	}
	if (s->state == QL_BPP_CONTAINER) {
		guint32 want = s->container == 0xA1 ? 0x88 : 0x86;
		if (tag != want) {
			s->failed = TRUE;
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the Bound Profile Package has a %X inside %X", tag,
				    s->container);
			return FALSE;
		}
	} else {
		guint part = 0;
		while (part < G_N_ELEMENTS(ql_es10b_bpp_parts) && ql_es10b_bpp_parts[part] != tag)
			part++;
		if (part < G_N_ELEMENTS(ql_es10b_bpp_parts)) {
			/* a part again, or one that skips a mandatory part (only A2, index 3, may
			 * be skipped): a second BF23 would otherwise send the package's start once
			 * more */
			if (part < s->next ||
			    (part > s->next && !(part == s->next + 1 && s->next == 3))) {
				s->failed = TRUE;
				g_set_error_literal(
					error, QL_ERROR, QL_ERROR_MALFORMED,
					"the parts of the Bound Profile Package are out "
					"of order");
				return FALSE;
			}
			s->next = part + 1;
		}
		if (tag == 0xA1 || tag == 0xA3) {
			/* the header alone, then each 88 / 86 as its own command */
			if (!ql_bpp_send(s, s->buf->data, hlen, error))
				return FALSE;
			ql_bpp_consume(s, hlen);
			s->top_left -= hlen;
			s->inner_left = vlen;
			s->container = tag;
			s->state = QL_BPP_CONTAINER;
			*progress = TRUE;
			return TRUE;
		}
	}
	/* a whole element: BF23 (with the BF36 header), A0, A2, an 88 or an 86; another part of
	 * the package is checked but not sent */
	if (!ql_tlv_validate(s->buf->data, hlen + vlen, QL_TLV_MAX_DEPTH, &local))
		return ql_bpp_malformed(s, error, local->message);
	if (tag == 0xBF23 && s->state == QL_BPP_PARTS) {
		g_autoptr(GByteArray) seg =
			g_byte_array_sized_new((guint)(s->top->len + hlen + vlen));
		g_byte_array_append(seg, s->top->data, s->top->len);
		g_byte_array_append(seg, s->buf->data, (guint)(hlen + vlen));
		if (!ql_bpp_send(s, seg->data, seg->len, error))
			return FALSE;
	} else if (s->state == QL_BPP_CONTAINER || tag == 0xA0 || tag == 0xA2) {
		if (!ql_bpp_send(s, s->buf->data, hlen + vlen, error))
			return FALSE;
	}
	ql_bpp_consume(s, hlen + vlen);
	s->top_left -= hlen + vlen;
	if (s->state == QL_BPP_CONTAINER)
		s->inner_left -= hlen + vlen;
	*progress = TRUE;
	return TRUE;
}

gboolean
ql_bpp_splitter_feed(QlBppSplitter *s, const guint8 *data, gsize len, GError **error)
{
	gboolean progress = TRUE;

	g_return_val_if_fail(!s->failed, FALSE);
	g_byte_array_append(s->buf, data, (guint)len);
	while (progress) {
		if (!ql_bpp_step(s, &progress, error))
			return FALSE;
	}
	return TRUE;
}

gboolean
ql_bpp_splitter_finish(QlBppSplitter *s, GError **error)
{
	g_return_val_if_fail(!s->failed, FALSE);
	if (s->state == QL_BPP_TOP && s->buf->len == 0 && s->consumed == 0)
		return ql_bpp_malformed(s, error, "empty");
	if (s->state != QL_BPP_DONE) {
		g_autofree gchar *why = g_strdup_printf("it ends after %" G_GSIZE_FORMAT
							" of %" G_GSIZE_FORMAT " bytes",
							s->consumed + s->buf->len, s->total);
		return ql_bpp_malformed(s, error, s->total > 0 ? why : "no BF36 header");
	}
	if (s->next < G_N_ELEMENTS(ql_es10b_bpp_parts)) {
		s->failed = TRUE;
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the Bound Profile Package is incomplete (it needs BF23, A0, "
				    "A1 and A3)");
		return FALSE;
	}
	return TRUE;
}

static gboolean
ql_es10b_collect_segment(GBytes *segment, gpointer user_data, GError **error)
{
	g_ptr_array_add(user_data, g_bytes_ref(segment));
	return TRUE;
}

GPtrArray *
ql_es10b_bpp_segments(GBytes *bpp, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_autoptr(QlBppSplitter) s = ql_bpp_splitter_new(ql_es10b_collect_segment, out);

	if (!ql_bpp_splitter_feed(s, g_bytes_get_data(bpp, NULL), g_bytes_get_size(bpp), error) ||
	    !ql_bpp_splitter_finish(s, error))
		return NULL;
	return g_steal_pointer(&out);
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
					    "cancelled after segment %u of %u of the profile",
					    i + 1, segments->len);
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

/* ---- loading a package while it arrives ---- */

struct _QlBppLoader {
	QlChannel *ch;
	QlBppSplitter *splitter;
	GBytes *held; /* the last segment seen: sent when the next one comes, or at the end */
	QlInstallResult *result;
	QlBppProgress progress;
	gpointer user_data;
	guint sent;
	gboolean card_failed;
};

/* Sends one segment; the card's answer to it, when it gives one, ends the load */
static gboolean
ql_bpp_loader_send(QlBppLoader *l, GBytes *seg, GError **error)
{
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(GError) local = NULL;
	gboolean go_on = TRUE;
	QlTlv tlv;

	resp = ql_apdu_store_data(l->ch, g_bytes_get_data(seg, NULL), g_bytes_get_size(seg), error);
	l->sent++;
	g_debug("package segment %u loaded into the eUICC, %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
		" package bytes received",
		l->sent, ql_bpp_splitter_get_consumed(l->splitter),
		ql_bpp_splitter_get_total(l->splitter));
	if (resp == NULL) {
		l->card_failed = TRUE;
		return FALSE;
	}
	if (l->progress != NULL)
		go_on = l->progress((guint)MIN(ql_bpp_splitter_get_consumed(l->splitter), G_MAXUINT),
				    (guint)MIN(ql_bpp_splitter_get_total(l->splitter), G_MAXUINT),
				    l->user_data);
	if (g_bytes_get_size(resp) == 0) {
		/* a cancel stops between segments, while the card still waits for more */
		if (!go_on) {
			g_set_error(error, QL_ERROR, QL_ERROR_CANCELLED,
				    "cancelled after segment %u of the profile", l->sent);
			return FALSE;
		}
		return TRUE;
	}
	/* the card ends the load early (an error) or after the last segment */
	if (!ql_tlv_read_exact(g_bytes_get_data(resp, NULL), g_bytes_get_size(resp), 0xBF37, &tlv,
			       &local) ||
	    !ql_tlv_validate(g_bytes_get_data(resp, NULL), g_bytes_get_size(resp), QL_TLV_MAX_DEPTH,
			     &local)) {
		l->card_failed = TRUE;
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "malformed answer to segment %u of the profile: %s", l->sent,
			    local->message);
		return FALSE;
	}
	l->result = ql_es10b_parse_install_result(resp, error);
	if (l->result == NULL) {
		l->card_failed = TRUE;
		return FALSE;
	}
	return TRUE;
}

static gboolean
ql_bpp_loader_emit(GBytes *segment, gpointer user_data, GError **error)
{
	QlBppLoader *l = user_data;
	g_autoptr(GBytes) prev = NULL;

	if (l->result != NULL)
		return TRUE; /* the card has ended the load: nothing more goes to it */
	prev = g_steal_pointer(&l->held);
	l->held = g_bytes_ref(segment);
	return prev == NULL || ql_bpp_loader_send(l, prev, error);
}

QlBppLoader *
ql_bpp_loader_new(QlChannel *ch, QlBppProgress progress, gpointer user_data)
{
	QlBppLoader *l = g_new0(QlBppLoader, 1);
	l->ch = ch;
	l->splitter = ql_bpp_splitter_new(ql_bpp_loader_emit, l);
	l->progress = progress;
	l->user_data = user_data;
	return l;
}

void
ql_bpp_loader_free(QlBppLoader *l)
{
	if (l == NULL)
		return;
	ql_bpp_splitter_free(l->splitter);
	g_clear_pointer(&l->held, g_bytes_unref);
	ql_install_result_free(l->result);
	g_free(l);
}

gboolean
ql_bpp_loader_feed(QlBppLoader *l, const guint8 *data, gsize len, GError **error)
{
	return ql_bpp_splitter_feed(l->splitter, data, len, error);
}

QlInstallResult *
ql_bpp_loader_finish(QlBppLoader *l, GError **error)
{
	if (l->result == NULL) {
		g_autoptr(GBytes) last = NULL;
		if (!ql_bpp_splitter_finish(l->splitter, error))
			return NULL;
		last = g_steal_pointer(&l->held);
		if (last != NULL && !ql_bpp_loader_send(l, last, error))
			return NULL;
	}
	if (l->result == NULL) {
		l->card_failed = TRUE;
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the eUICC gave no ProfileInstallationResult after the last "
				    "segment");
		return NULL;
	}
	return g_steal_pointer(&l->result);
}

gboolean
ql_bpp_loader_card_failed(QlBppLoader *l)
{
	return l->card_failed;
}

guint
ql_bpp_loader_get_sent(QlBppLoader *l)
{
	return l->sent;
}

guint
ql_bpp_loader_get_segments(QlBppLoader *l)
{
	return ql_bpp_splitter_get_segments(l->splitter);
}

gsize
ql_bpp_loader_get_total(QlBppLoader *l)
{
	return ql_bpp_splitter_get_total(l->splitter);
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
