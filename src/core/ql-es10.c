/*
 * ES10 commands. See ql-es10.h. Tags and result codes from the SGP.22 v2 ASN.1 module
 * (RSPDefinitions, AUTOMATIC TAGS); newer cards add fields, which the decoders skip.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-apdu.h"
#include "ql-es10.h"
#include "ql-tlv.h"

/* ---- result codes in words ---- */

typedef struct {
	gint64 code;
	QlError error;
	const gchar *words;
} QlResultWords;

static const QlResultWords enable_results[] = {
	{1, QL_ERROR_NOT_FOUND, "no profile with this ICCID or AID"},
	{2, QL_ERROR_EUICC, "the profile is not disabled (already enabled)"},
	{3, QL_ERROR_EUICC, "the profile's policy rules forbid it"},
	{4, QL_ERROR_EUICC, "wrong profile re-enabling"},
	{5, QL_ERROR_BUSY, "the card's toolkit is busy, try again"},
	{0, 0, NULL},
};
static const QlResultWords disable_results[] = {
	{1, QL_ERROR_NOT_FOUND, "no profile with this ICCID or AID"},
	{2, QL_ERROR_EUICC, "the profile is not enabled"},
	{3, QL_ERROR_EUICC, "the profile's policy rules forbid it"},
	{5, QL_ERROR_BUSY, "the card's toolkit is busy, try again"},
	{0, 0, NULL},
};
static const QlResultWords delete_results[] = {
	{1, QL_ERROR_NOT_FOUND, "no profile with this ICCID or AID"},
	{2, QL_ERROR_EUICC, "the profile is enabled: disable it first"},
	{3, QL_ERROR_EUICC, "the profile's policy rules forbid it"},
	{0, 0, NULL},
};
static const QlResultWords nickname_results[] = {
	{1, QL_ERROR_NOT_FOUND, "no profile with this ICCID"},
	{0, 0, NULL},
};
static const QlResultWords remove_results[] = {
	{1, QL_ERROR_NOT_FOUND, "no notification with this sequence number"},
	{0, 0, NULL},
};
static const QlResultWords reset_results[] = {
	{1, QL_ERROR_NOT_FOUND, "nothing to delete"},
	{5, QL_ERROR_BUSY, "the card's toolkit is busy, try again"},
	{0, 0, NULL},
};
static const QlResultWords list_results[] = {
	{1, QL_ERROR_INVALID_ARGUMENT, "incorrect input values"},
	{0, 0, NULL},
};
static const QlResultWords no_results[] = {
	{0, 0, NULL},
};

static void
ql_es10_set_result_error(GError **error, const gchar *what, gint64 code, const QlResultWords *table)
{
	for (guint i = 0; table[i].words != NULL; i++) {
		if (table[i].code == code) {
			g_set_error(error, QL_ERROR, table[i].error,
				    "%s: %s (eUICC result %" G_GINT64_FORMAT ")", what,
				    table[i].words, code);
			return;
		}
	}
	g_set_error(error, QL_ERROR, QL_ERROR_EUICC, "%s: %s (eUICC result %" G_GINT64_FORMAT ")",
		    what, code == 127 ? "undefined error" : "unknown result", code);
}

/* ---- plumbing ---- */

GBytes *
ql_es10_transceive(QlChannel *ch, GBytes *request, guint32 tag, GError **error)
{
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(GError) local = NULL;
	QlTlv tlv;
	const guint8 *p;
	gsize n;

	resp = ql_apdu_store_data(ch, g_bytes_get_data(request, NULL), g_bytes_get_size(request),
				  error);
	if (resp == NULL)
		return NULL;
	p = g_bytes_get_data(resp, &n);
	if (n == 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the eUICC gave an empty answer to %X", tag);
		return NULL;
	}
	if (!ql_tlv_read_exact(p, n, tag, &tlv, &local) ||
	    !ql_tlv_validate(p, n, QL_TLV_MAX_DEPTH, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "malformed answer from the eUICC to %X: %s", tag, local->message);
		return NULL;
	}
	return g_steal_pointer(&resp);
}

/* Sends a request whose body is @body (may be NULL) under @tag and parses the answer. */
static GBytes *
ql_es10_call(QlChannel *ch, guint32 tag, GBytes *body, QlTlv *out, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) req = NULL;
	g_autoptr(GBytes) resp = NULL;

	ql_tlv_builder_begin(b, tag);
	if (body != NULL)
		ql_tlv_builder_add_raw(b, g_bytes_get_data(body, NULL), g_bytes_get_size(body));
	ql_tlv_builder_end(b);
	req = ql_tlv_builder_finish(g_steal_pointer(&b));
	resp = ql_es10_transceive(ch, req, tag, error);
	if (resp == NULL)
		return NULL;
	ql_tlv_read(g_bytes_get_data(resp, NULL), g_bytes_get_size(resp), out, NULL, NULL);
	return g_steal_pointer(&resp);
}

/* For the commands that answer { resultCode [0] INTEGER } */
static gboolean
ql_es10_call_result(QlChannel *ch, guint32 tag, GBytes *body, const gchar *what,
		    const QlResultWords *table, GError **error)
{
	g_autoptr(GBytes) resp = NULL;
	QlTlv top, res;
	gint64 code = 0;

	resp = ql_es10_call(ch, tag, body, &top, error);
	if (resp == NULL)
		return FALSE;
	if (!ql_tlv_require(&top, 0x80, "resultCode", &res, error) ||
	    !ql_tlv_get_int(&res, &code, error))
		return FALSE;
	if (code != 0) {
		ql_es10_set_result_error(error, what, code, table);
		return FALSE;
	}
	return TRUE;
}

static gchar *
ql_es10_version_string(const QlTlv *tlv)
{
	if (tlv->len != 3)
		return ql_hex_encode(tlv->value, tlv->len);
	return g_strdup_printf("%u.%u.%u", tlv->value[0], tlv->value[1], tlv->value[2]);
}

static GPtrArray *
ql_es10_key_id_list(const QlTlv *list, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	QlTlvIter it;
	QlTlv id;
	g_autoptr(GError) local = NULL;

	ql_tlv_iter_init_value(&it, list);
	while (ql_tlv_iter_next(&it, &id, &local)) {
		if (id.tag == 0x04)
			g_ptr_array_add(out, ql_tlv_get_bytes(&id));
	}
	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	return g_steal_pointer(&out);
}

/* EUICCInfo1 and EUICCInfo2 both carry the CI key ids, for verification [9] and signing [10] */
static gboolean
ql_es10_ci_key_lists(const QlTlv *info, GPtrArray **verification, GPtrArray **signing,
		     GError **error)
{
	QlTlv t;

	if (!ql_tlv_require(info, 0xA9, "euiccCiPKIdListForVerification", &t, error))
		return FALSE;
	*verification = ql_es10_key_id_list(&t, error);
	if (*verification == NULL)
		return FALSE;
	if (!ql_tlv_require(info, 0xAA, "euiccCiPKIdListForSigning", &t, error))
		return FALSE;
	*signing = ql_es10_key_id_list(&t, error);
	return *signing != NULL;
}

/* Builds a profile identifier: an ICCID "5A" or an ISD-P AID "4F" */
static gboolean
ql_es10_add_profile_id(QlTlvBuilder *b, const gchar *id, GError **error)
{
	gsize n = strlen(id);
	if (n == 32 && g_ascii_strncasecmp(id, "A0", 2) == 0) {
		g_autoptr(GBytes) aid = ql_hex_decode(id, error);
		if (aid == NULL)
			return FALSE;
		ql_tlv_builder_add_bytes(b, 0x4F, aid);
	} else {
		g_autoptr(GBytes) bcd = ql_iccid_to_bcd(id, error);
		if (bcd == NULL)
			return FALSE;
		ql_tlv_builder_add_bytes(b, 0x5A, bcd);
	}
	return TRUE;
}

/* ---- free functions and names ---- */

void
ql_euicc_info1_free(QlEuiccInfo1 *info)
{
	if (info == NULL)
		return;
	g_free(info->svn);
	g_clear_pointer(&info->ci_pkid_verification, g_ptr_array_unref);
	g_clear_pointer(&info->ci_pkid_signing, g_ptr_array_unref);
	g_clear_pointer(&info->raw, g_bytes_unref);
	g_free(info);
}

void
ql_euicc_info2_free(QlEuiccInfo2 *info)
{
	if (info == NULL)
		return;
	g_free(info->profile_version);
	g_free(info->svn);
	g_free(info->firmware_version);
	g_clear_pointer(&info->uicc_capability, g_bytes_unref);
	g_clear_pointer(&info->rsp_capability, g_bytes_unref);
	g_clear_pointer(&info->ci_pkid_verification, g_ptr_array_unref);
	g_clear_pointer(&info->ci_pkid_signing, g_ptr_array_unref);
	g_free(info->pp_version);
	g_free(info->sas_accreditation);
	g_clear_pointer(&info->raw, g_bytes_unref);
	g_free(info);
}

void
ql_profile_info_free(QlProfileInfo *info)
{
	if (info == NULL)
		return;
	g_free(info->iccid);
	g_free(info->isdp_aid);
	g_free(info->nickname);
	g_free(info->service_provider);
	g_free(info->name);
	g_clear_pointer(&info->icon, g_bytes_unref);
	g_free(info->owner_mccmnc);
	g_free(info);
}

void
ql_notification_free(QlNotification *n)
{
	if (n == NULL)
		return;
	g_free(n->address);
	g_free(n->iccid);
	g_clear_pointer(&n->raw, g_bytes_unref);
	g_free(n);
}

void
ql_rat_rule_free(QlRatRule *r)
{
	if (r == NULL)
		return;
	g_clear_pointer(&r->ppr_ids, g_bytes_unref);
	g_clear_pointer(&r->allowed_operators, g_ptr_array_unref);
	g_free(r);
}

const gchar *
ql_profile_state_to_string(gint state)
{
	switch (state) {
	case QL_PROFILE_STATE_DISABLED:
		return "disabled";
	case QL_PROFILE_STATE_ENABLED:
		return "enabled";
	default:
		return "unknown";
	}
}

const gchar *
ql_profile_class_to_string(gint profile_class)
{
	switch (profile_class) {
	case QL_PROFILE_CLASS_TEST:
		return "test";
	case QL_PROFILE_CLASS_PROVISIONING:
		return "provisioning";
	case QL_PROFILE_CLASS_OPERATIONAL:
		return "operational";
	default:
		return "unknown";
	}
}

const gchar *
ql_notification_event_to_string(guint operation)
{
	if (operation & QL_NOTIFICATION_INSTALL)
		return "install";
	if (operation & QL_NOTIFICATION_ENABLE)
		return "enable";
	if (operation & QL_NOTIFICATION_DISABLE)
		return "disable";
	if (operation & QL_NOTIFICATION_DELETE)
		return "delete";
	return "unknown";
}

static const struct {
	const gchar *key_id;
	const gchar *name;
} ql_ci_names[] = {
	{"81370F5125D0B1D408D4C3B232E6D25E795BEBFB", "GSM Association - RSP2 Root CI1"},
	{"4C27967AD20C14B391E9601E41E604AD57C0222F", "OISTE GSMA CI G1"},
	{"16704B7F351E3607F18C4B70005C3A003DFD414A", "Entrust eSIM Certification Authority"},
	{"CD6E60B72D7A063CBC84625B91E80FE30406E13E", "MC4 OT ROOT CI v1 (IDEMIA)"},
	{"B60F0B897FD630B88CFED6161F8EA808C5382AC3", "SubMan V4.2 CI Google Pixel (G+D)"},
	{"F54172BDF98A95D65CBEB88A38A1C11D800A85C3", "GSMA SGP.26 test CI (NIST P-256)"},
	{"C0BC70BA36929D43B467FF57570530E57AB8FCD8", "GSMA SGP.26 test CI (brainpool)"},
	{"34EECF13156518D48D30BDF06853404D115F955D", "GSMA SGP.26 v3 test CI"},
	{"2209F61CD9EC5C9C854E787341FF83ECF9776A5B", "GSMA SGP.26 v3 test CI"},
};

const gchar *
ql_ci_key_id_name(GBytes *key_id)
{
	g_autofree gchar *hex =
		ql_hex_encode(g_bytes_get_data(key_id, NULL), g_bytes_get_size(key_id));
	for (guint i = 0; i < G_N_ELEMENTS(ql_ci_names); i++) {
		if (g_strcmp0(hex, ql_ci_names[i].key_id) == 0)
			return ql_ci_names[i].name;
	}
	return NULL;
}

/* ---- ES10c / ES10b reads ---- */

QlEuiccInfo1 *
ql_es10_get_euicc_info1(QlChannel *ch, GError **error)
{
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(QlEuiccInfo1) info = g_new0(QlEuiccInfo1, 1);
	QlTlv top, t;

	resp = ql_es10_call(ch, 0xBF20, NULL, &top, error);
	if (resp == NULL)
		return NULL;
	if (!ql_tlv_require(&top, 0x82, "svn", &t, error))
		return NULL;
	info->svn = ql_es10_version_string(&t);
	if (!ql_es10_ci_key_lists(&top, &info->ci_pkid_verification, &info->ci_pkid_signing, error))
		return NULL;
	info->raw = g_bytes_ref(resp);
	return g_steal_pointer(&info);
}

static gint64
ql_es10_optional_int(const QlTlv *parent, guint32 tag)
{
	QlTlv t;
	gint64 v = -1;
	if (!ql_tlv_find(parent, tag, &t, NULL) || !ql_tlv_get_int(&t, &v, NULL))
		return -1;
	return v;
}

QlEuiccInfo2 *
ql_es10_get_euicc_info2(QlChannel *ch, GError **error)
{
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(QlEuiccInfo2) info = g_new0(QlEuiccInfo2, 1);
	QlTlv top, t;

	resp = ql_es10_call(ch, 0xBF22, NULL, &top, error);
	if (resp == NULL)
		return NULL;
	info->installed_apps = info->free_nvm = info->free_ram = info->category = -1;
	if (!ql_tlv_require(&top, 0x81, "profileVersion", &t, error))
		return NULL;
	info->profile_version = ql_es10_version_string(&t);
	if (!ql_tlv_require(&top, 0x82, "svn", &t, error))
		return NULL;
	info->svn = ql_es10_version_string(&t);
	if (!ql_tlv_require(&top, 0x83, "euiccFirmwareVer", &t, error))
		return NULL;
	info->firmware_version = ql_es10_version_string(&t);
	if (ql_tlv_find(&top, 0x84, &t, NULL)) {
		/* extCardResource is an OCTET STRING holding TLVs of its own */
		QlTlv wrap = {.tag = 0x84, .value = t.value, .len = t.len};
		if (!ql_tlv_validate(t.value, t.len, 2, error))
			return NULL;
		info->installed_apps = ql_es10_optional_int(&wrap, 0x81);
		info->free_nvm = ql_es10_optional_int(&wrap, 0x82);
		info->free_ram = ql_es10_optional_int(&wrap, 0x83);
	}
	if (ql_tlv_find(&top, 0x85, &t, NULL))
		info->uicc_capability = ql_tlv_get_bytes(&t);
	if (ql_tlv_find(&top, 0x88, &t, NULL))
		info->rsp_capability = ql_tlv_get_bytes(&t);
	if (!ql_es10_ci_key_lists(&top, &info->ci_pkid_verification, &info->ci_pkid_signing, error))
		return NULL;
	info->category = ql_es10_optional_int(&top, 0x8B);
	if (ql_tlv_find(&top, 0x04, &t, NULL))
		info->pp_version = ql_es10_version_string(&t);
	if (ql_tlv_find(&top, 0x0C, &t, NULL))
		info->sas_accreditation = ql_tlv_get_string(&t);
	info->raw = g_bytes_ref(resp);
	return g_steal_pointer(&info);
}

gchar *
ql_es10_get_eid(QlChannel *ch, GError **error)
{
	static const guint8 tag_list[] = {0x5A};
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) body = NULL;
	g_autoptr(GBytes) resp = NULL;
	QlTlv top, eid;

	ql_tlv_builder_add(b, 0x5C, tag_list, sizeof(tag_list));
	body = ql_tlv_builder_finish(g_steal_pointer(&b));
	resp = ql_es10_call(ch, 0xBF3E, body, &top, error);
	if (resp == NULL)
		return NULL;
	if (!ql_tlv_require(&top, 0x5A, "EID", &eid, error))
		return NULL;
	if (eid.len != 16) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the EID is %" G_GSIZE_FORMAT " bytes long, not 16", eid.len);
		return NULL;
	}
	return ql_hex_encode(eid.value, eid.len);
}

GBytes *
ql_es10_get_euicc_challenge(QlChannel *ch, GError **error)
{
	g_autoptr(GBytes) resp = NULL;
	QlTlv top, c;

	resp = ql_es10_call(ch, 0xBF2E, NULL, &top, error);
	if (resp == NULL)
		return NULL;
	if (!ql_tlv_require(&top, 0x80, "euiccChallenge", &c, error))
		return NULL;
	if (c.len != 16) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the eUICC challenge is %" G_GSIZE_FORMAT " bytes long, not 16", c.len);
		return NULL;
	}
	return ql_tlv_get_bytes(&c);
}

/* Parses every @item_tag child of @list with @parse into @out; other children are skipped. */
typedef gpointer (*QlEs10ItemParser)(const QlTlv *item, GError **error);

static gboolean
ql_es10_parse_list(const QlTlv *list, guint32 item_tag, QlEs10ItemParser parse, GPtrArray *out,
		   GError **error)
{
	g_autoptr(GError) local = NULL;
	QlTlvIter it;
	QlTlv item;

	ql_tlv_iter_init_value(&it, list);
	while (ql_tlv_iter_next(&it, &item, &local)) {
		gpointer p;
		if (item.tag != item_tag)
			continue;
		p = parse(&item, error);
		if (p == NULL)
			return FALSE;
		g_ptr_array_add(out, p);
	}
	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	return TRUE;
}

/* The error code ([1] INTEGER) of a list answer without its list; 127 when absent. */
static gint64
ql_es10_list_error_code(const QlTlv *top)
{
	QlTlv err;
	gint64 code = 127;
	if (ql_tlv_find(top, 0x81, &err, NULL))
		ql_tlv_get_int(&err, &code, NULL);
	return code;
}

/* ---- profiles ---- */

/* The bit of a ProfileInfo field this decoder keeps, 0 for the fields it skips */
static guint
ql_es10_profile_field_bit(guint32 tag)
{
	static const guint32 fields[] = {0x5A, 0x4F, 0x9F70, 0x90, 0x91,
					 0x92, 0x93, 0x94,   0x95, 0xB7};
	for (guint i = 0; i < G_N_ELEMENTS(fields); i++) {
		if (fields[i] == tag)
			return 1u << i;
	}
	return 0;
}

static QlProfileInfo *
ql_es10_parse_profile(const QlTlv *e3, GError **error)
{
	g_autoptr(QlProfileInfo) p = g_new0(QlProfileInfo, 1);
	QlTlvIter it;
	QlTlv t;
	g_autoptr(GError) local = NULL;
	guint seen = 0;

	p->state = -1;
	p->icon_type = -1;
	p->profile_class = QL_PROFILE_CLASS_UNKNOWN;
	ql_tlv_iter_init_value(&it, e3);
	while (ql_tlv_iter_next(&it, &t, &local)) {
		guint bit = ql_es10_profile_field_bit(t.tag);
		gint64 v = 0;
		/* DER has each field once; a card that repeats one is held to the first, as
		 * ql_tlv_find holds every other decoder (and the first copy is not leaked) */
		if ((seen & bit) != 0)
			continue;
		seen |= bit;
		switch (t.tag) {
		case 0x5A:
			if (t.len != 10) {
				g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
					    "an ICCID of %" G_GSIZE_FORMAT " bytes", t.len);
				return NULL;
			}
			p->iccid = ql_iccid_from_bcd(t.value, t.len);
			break;
		case 0x4F:
			p->isdp_aid = ql_hex_encode(t.value, t.len);
			break;
		case 0x9F70:
			if (!ql_tlv_get_int(&t, &v, error))
				return NULL;
			p->state = (gint)v;
			break;
		case 0x90:
			p->nickname = ql_tlv_get_string(&t);
			break;
		case 0x91:
			p->service_provider = ql_tlv_get_string(&t);
			break;
		case 0x92:
			p->name = ql_tlv_get_string(&t);
			break;
		case 0x93:
			if (!ql_tlv_get_int(&t, &v, error))
				return NULL;
			p->icon_type = (gint)v;
			break;
		case 0x94:
			p->icon = ql_tlv_get_bytes(&t);
			break;
		case 0x95:
			if (!ql_tlv_get_int(&t, &v, error))
				return NULL;
			p->profile_class = (gint)v;
			break;
		case 0xB7: {
			/* profileOwner: OperatorId { mccMnc [0] OCTET STRING (3) ... } */
			QlTlv mccmnc;
			if (ql_tlv_find(&t, 0x80, &mccmnc, NULL) && mccmnc.len == 3)
				p->owner_mccmnc = ql_hex_encode(mccmnc.value, mccmnc.len);
			break;
		}
		default:
			break; /* notification config, DP data, PPRs, and fields of later versions
				*/
		}
	}
	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	if (p->iccid == NULL) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "a ProfileInfo without an ICCID");
		return NULL;
	}
	return g_steal_pointer(&p);
}

GPtrArray *
ql_es10_get_profiles(QlChannel *ch, const QlProfileFilter *filter, GError **error)
{
	/* every field we show, icon and class included */
	static const guint8 tag_list[] = {0x5A, 0x4F, 0x9F, 0x70, 0x90, 0x91,
					  0x92, 0x93, 0x94, 0x95, 0xB6, 0xB7};
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) body = NULL;
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(GPtrArray) out =
		g_ptr_array_new_with_free_func((GDestroyNotify)ql_profile_info_free);
	QlTlv top, list;

	if (filter != NULL &&
	    (filter->iccid != NULL || filter->isdp_aid != NULL || filter->profile_class >= 0)) {
		ql_tlv_builder_begin(b, 0xA0);
		if (filter->isdp_aid != NULL) {
			g_autoptr(GBytes) aid = ql_hex_decode(filter->isdp_aid, error);
			if (aid == NULL)
				return NULL;
			ql_tlv_builder_add_bytes(b, 0x4F, aid);
		} else if (filter->iccid != NULL) {
			g_autoptr(GBytes) bcd = ql_iccid_to_bcd(filter->iccid, error);
			if (bcd == NULL)
				return NULL;
			ql_tlv_builder_add_bytes(b, 0x5A, bcd);
		} else {
			ql_tlv_builder_add_int(b, 0x95, filter->profile_class);
		}
		ql_tlv_builder_end(b);
	}
	ql_tlv_builder_add(b, 0x5C, tag_list, sizeof(tag_list));
	body = ql_tlv_builder_finish(g_steal_pointer(&b));
	resp = ql_es10_call(ch, 0xBF2D, body, &top, error);
	if (resp == NULL)
		return NULL;
	if (!ql_tlv_find(&top, 0xA0, &list, NULL)) {
		ql_es10_set_result_error(error, "cannot list the profiles",
					 ql_es10_list_error_code(&top), list_results);
		return NULL;
	}
	if (!ql_es10_parse_list(&list, 0xE3, (QlEs10ItemParser)ql_es10_parse_profile, out, error))
		return NULL;
	return g_steal_pointer(&out);
}

/* The eUICC switched profiles: the plugin may make the modem read the card again. That failing
 * does not undo the switch, so it is only logged. */
static void
ql_es10_profile_switched(QlChannel *ch)
{
	g_autoptr(GError) local = NULL;
	if (!ql_device_profile_switched(ql_channel_get_device(ch), &local))
		g_warning("after the profile switch: %s", local->message);
}

static gboolean
ql_es10_enable_disable(QlChannel *ch, guint32 tag, const gchar *id, gboolean refresh,
		       const gchar *what, const QlResultWords *table, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) body = NULL;
	guint8 flag = refresh ? 0xFF : 0x00;

	ql_tlv_builder_begin(b, 0xA0);
	if (!ql_es10_add_profile_id(b, id, error))
		return FALSE;
	ql_tlv_builder_end(b);
	ql_tlv_builder_add(b, 0x81, &flag, 1);
	body = ql_tlv_builder_finish(g_steal_pointer(&b));
	if (!ql_es10_call_result(ch, tag, body, what, table, error))
		return FALSE;
	ql_es10_profile_switched(ch);
	return TRUE;
}

gboolean
ql_es10_enable_profile(QlChannel *ch, const gchar *id, gboolean refresh, GError **error)
{
	return ql_es10_enable_disable(ch, 0xBF31, id, refresh, "cannot enable the profile",
				      enable_results, error);
}

gboolean
ql_es10_disable_profile(QlChannel *ch, const gchar *id, gboolean refresh, GError **error)
{
	return ql_es10_enable_disable(ch, 0xBF32, id, refresh, "cannot disable the profile",
				      disable_results, error);
}

gboolean
ql_es10_delete_profile(QlChannel *ch, const gchar *id, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) body = NULL;

	if (!ql_es10_add_profile_id(b, id, error))
		return FALSE;
	body = ql_tlv_builder_finish(g_steal_pointer(&b));
	return ql_es10_call_result(ch, 0xBF33, body, "cannot delete the profile", delete_results,
				   error);
}

gboolean
ql_es10_set_nickname(QlChannel *ch, const gchar *iccid, const gchar *nickname, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) body = NULL;
	g_autoptr(GBytes) bcd = ql_iccid_to_bcd(iccid, error);

	if (bcd == NULL)
		return FALSE;
	/* SGP.22: profileNickname is UTF8String (SIZE(0..64)) */
	if (strlen(nickname) > 64 || !g_utf8_validate(nickname, -1, NULL)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "a nickname is at most 64 bytes of UTF-8");
		return FALSE;
	}
	ql_tlv_builder_add_bytes(b, 0x5A, bcd);
	ql_tlv_builder_add_string(b, 0x90, nickname);
	body = ql_tlv_builder_finish(g_steal_pointer(&b));
	return ql_es10_call_result(ch, 0xBF29, body, "cannot set the nickname", nickname_results,
				   error);
}

/* ---- notifications ---- */

static QlNotification *
ql_es10_parse_metadata(const QlTlv *bf2f, GError **error)
{
	g_autoptr(QlNotification) n = g_new0(QlNotification, 1);
	QlTlv t;

	if (!ql_tlv_require(bf2f, 0x80, "seqNumber", &t, error) ||
	    !ql_tlv_get_int(&t, &n->seq, error))
		return NULL;
	if (!ql_tlv_require(bf2f, 0x81, "profileManagementOperation", &t, error))
		return NULL;
	/* BIT STRING: unused-bits byte, then the bits */
	n->operation = t.len >= 2 ? t.value[1] : 0;
	if (!ql_tlv_require(bf2f, 0x0C, "notificationAddress", &t, error))
		return NULL;
	n->address = ql_tlv_get_string(&t);
	if (ql_tlv_find(bf2f, 0x5A, &t, NULL))
		n->iccid = ql_iccid_from_bcd(t.value, t.len);
	return g_steal_pointer(&n);
}

GPtrArray *
ql_es10_list_notifications(QlChannel *ch, GError **error)
{
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(GPtrArray) out =
		g_ptr_array_new_with_free_func((GDestroyNotify)ql_notification_free);
	QlTlv top, list;

	resp = ql_es10_call(ch, 0xBF28, NULL, &top, error);
	if (resp == NULL)
		return NULL;
	if (!ql_tlv_find(&top, 0xA0, &list, NULL)) {
		ql_es10_set_result_error(error, "cannot list the notifications",
					 ql_es10_list_error_code(&top), list_results);
		return NULL;
	}
	if (!ql_es10_parse_list(&list, 0xBF2F, (QlEs10ItemParser)ql_es10_parse_metadata, out,
				error))
		return NULL;
	return g_steal_pointer(&out);
}

GPtrArray *
ql_es10_retrieve_notifications(QlChannel *ch, gint64 seq, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) body = NULL;
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(GPtrArray) out =
		g_ptr_array_new_with_free_func((GDestroyNotify)ql_notification_free);
	g_autoptr(GError) local = NULL;
	QlTlv top, list, item;
	QlTlvIter it;

	if (seq >= 0) {
		ql_tlv_builder_begin(b, 0xA0);
		ql_tlv_builder_add_int(b, 0x80, seq);
		ql_tlv_builder_end(b);
	}
	body = ql_tlv_builder_finish(g_steal_pointer(&b));
	resp = ql_es10_call(ch, 0xBF2B, body, &top, error);
	if (resp == NULL)
		return NULL;
	if (!ql_tlv_find(&top, 0xA0, &list, NULL)) {
		gint64 code = ql_es10_list_error_code(&top);
		if (code == 1) /* noResultAvailable: an empty list */
			return g_steal_pointer(&out);
		ql_es10_set_result_error(error, "cannot retrieve the notifications", code,
					 no_results);
		return NULL;
	}
	ql_tlv_iter_init_value(&it, &list);
	while (ql_tlv_iter_next(&it, &item, &local)) {
		QlTlv meta;
		QlNotification *n;
		if (item.tag == 0xBF37) {
			/* ProfileInstallationResult: the metadata sits inside the signed data */
			QlTlv data;
			if (!ql_tlv_require(&item, 0xBF27, "profileInstallationResultData", &data,
					    error) ||
			    !ql_tlv_require(&data, 0xBF2F, "notificationMetadata", &meta, error))
				return NULL;
		} else if (item.tag == 0x30) {
			if (!ql_tlv_require(&item, 0xBF2F, "tbsOtherNotification", &meta, error))
				return NULL;
		} else {
			continue;
		}
		n = ql_es10_parse_metadata(&meta, error);
		if (n == NULL)
			return NULL;
		n->raw = g_bytes_new(item.raw, item.raw_len);
		g_ptr_array_add(out, n);
	}
	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	return g_steal_pointer(&out);
}

gboolean
ql_es10_remove_notification(QlChannel *ch, gint64 seq, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) body = NULL;

	ql_tlv_builder_add_int(b, 0x80, seq);
	body = ql_tlv_builder_finish(g_steal_pointer(&b));
	return ql_es10_call_result(ch, 0xBF30, body, "cannot remove the notification",
				   remove_results, error);
}

/* ---- addresses, reset, RAT ---- */

gboolean
ql_es10_get_configured_addresses(QlChannel *ch, gchar **default_dp, gchar **root_ds, GError **error)
{
	g_autoptr(GBytes) resp = NULL;
	QlTlv top, t;

	resp = ql_es10_call(ch, 0xBF3C, NULL, &top, error);
	if (resp == NULL)
		return FALSE;
	if (default_dp != NULL)
		*default_dp = ql_tlv_find(&top, 0x80, &t, NULL) ? ql_tlv_get_string(&t) : NULL;
	if (root_ds != NULL)
		*root_ds = ql_tlv_find(&top, 0x81, &t, NULL) ? ql_tlv_get_string(&t) : NULL;
	return TRUE;
}

gboolean
ql_es10_set_default_dp_address(QlChannel *ch, const gchar *address, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) body = NULL;

	if (strlen(address) > 255) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "an SM-DP+ address is at most 255 characters");
		return FALSE;
	}
	ql_tlv_builder_add_string(b, 0x80, address);
	body = ql_tlv_builder_finish(g_steal_pointer(&b));
	return ql_es10_call_result(ch, 0xBF3F, body, "cannot set the default SM-DP+ address",
				   no_results, error);
}

gboolean
ql_es10_memory_reset(QlChannel *ch, guint options, GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) body = NULL;
	/* BIT STRING of 3 named bits: 5 unused bits in the one byte */
	guint8 bits[2] = {0x05, (guint8)(options & 0xE0)};

	ql_tlv_builder_add(b, 0x82, bits, sizeof(bits));
	body = ql_tlv_builder_finish(g_steal_pointer(&b));
	if (!ql_es10_call_result(ch, 0xBF34, body, "cannot reset the eUICC memory", reset_results,
				 error))
		return FALSE;
	/* the enabled profile may have been among those deleted */
	if (options & (QL_RESET_DELETE_OPERATIONAL | QL_RESET_DELETE_TEST))
		ql_es10_profile_switched(ch);
	return TRUE;
}

GPtrArray *
ql_es10_get_rat(QlChannel *ch, GError **error)
{
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)ql_rat_rule_free);
	g_autoptr(GError) local = NULL;
	QlTlv top, rat, rule;
	QlTlvIter it;

	resp = ql_es10_call(ch, 0xBF43, NULL, &top, error);
	if (resp == NULL)
		return NULL;
	if (!ql_tlv_find(&top, 0xA0, &rat, NULL))
		return g_steal_pointer(&out); /* no rules */
	ql_tlv_iter_init_value(&it, &rat);
	while (ql_tlv_iter_next(&it, &rule, &local)) {
		QlRatRule *r;
		QlTlv t, ops, op;
		QlTlvIter oit;
		if (rule.tag != 0x30)
			continue;
		r = g_new0(QlRatRule, 1);
		r->allowed_operators = g_ptr_array_new_with_free_func(g_free);
		g_ptr_array_add(out, r);
		if (ql_tlv_find(&rule, 0x80, &t, NULL))
			r->ppr_ids = ql_tlv_get_bytes(&t);
		if (ql_tlv_find(&rule, 0x82, &t, NULL) && t.len >= 2)
			r->flags = t.value[1];
		if (!ql_tlv_find(&rule, 0xA1, &ops, NULL))
			continue;
		ql_tlv_iter_init_value(&oit, &ops);
		while (ql_tlv_iter_next(&oit, &op, &local)) {
			QlTlv plmn;
			if (op.tag == 0x30 && ql_tlv_find(&op, 0x80, &plmn, NULL))
				g_ptr_array_add(r->allowed_operators,
						ql_hex_encode(plmn.value, plmn.len));
		}
	}
	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	return g_steal_pointer(&out);
}
