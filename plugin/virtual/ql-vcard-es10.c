/*
 * The ES10 functions of the virtual eUICC (SGP.22 v2.2 section 5.7), answered from its state.
 * Requests are decoded leniently (unknown fields skipped, the module is extensible) but a
 * request whose BER does not decode, or that lacks a mandatory field, gets 6A80.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-tlv.h"
#include "ql-vcard-private.h"

/* Versions this card claims (SGP.22 2.2.2, SIMalliance profile package 2.3.1) */
static const guint8 ql_vcard_svn[] = {0x02, 0x02, 0x02};
static const guint8 ql_vcard_profile_version[] = {0x02, 0x03, 0x01};
static const guint8 ql_vcard_firmware_version[] = {0x00, 0x01, 0x00};
static const guint8 ql_vcard_javacard_version[] = {0x03, 0x00, 0x05};
static const guint8 ql_vcard_gp_version[] = {0x02, 0x03, 0x01};
static const guint8 ql_vcard_pp_version[] = {0x01, 0x00, 0x00};
#define QL_VCARD_SAS_NUMBER "QL-VIRTUAL-0001"

/* Memory the card pretends to have; a profile takes a fixed share plus its icon */
#define QL_VCARD_NVM_TOTAL (1536 * 1024)
#define QL_VCARD_RAM_FREE (32 * 1024)
#define QL_VCARD_PROFILE_SIZE (48 * 1024)

/* Result codes, SGP.22 5.7.x (the same numbers recur across the functions) */
enum {
	QL_VCARD_RESULT_OK = 0,
	QL_VCARD_RESULT_NOT_FOUND = 1,	 /* iccidOrAidNotFound, iccidNotFound, nothingToDelete */
	QL_VCARD_RESULT_WRONG_STATE = 2, /* profileNotInDisabledState / ...EnabledState */
	QL_VCARD_RESULT_UNDEFINED = 127,
};

/* A request the card cannot decode: answered with 6A80, never fatal */
#define QL_VCARD_BAD_REQUEST(error, ...)                                                           \
	g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, __VA_ARGS__)

/* ---- small encoders / decoders on top of the codec ---- */

/* DER BIT STRING of named bits: trailing zero bits are dropped (X.690 11.2.2) */
void
ql_vcard_put_bits(QlTlvBuilder *b, guint32 tag, guint32 mask)
{
	guint8 buf[5] = {0};
	guint high = 0;
	gsize nbytes;

	if (mask == 0) {
		ql_tlv_builder_add(b, tag, buf, 1);
		return;
	}
	for (guint i = 0; i < 32; i++) {
		if (mask & (1u << i))
			high = i;
	}
	nbytes = high / 8 + 1;
	buf[0] = (guint8)(7 - high % 8);
	for (guint i = 0; i <= high; i++) {
		if (mask & (1u << i))
			buf[1 + i / 8] |= (guint8)(0x80 >> (i % 8));
	}
	ql_tlv_builder_add(b, tag, buf, nbytes + 1);
}

gboolean
ql_vcard_get_bits(const QlTlv *tlv, guint32 *mask, GError **error)
{
	guint32 m = 0;
	if (tlv->len == 0 || tlv->value[0] > 7 || (tlv->len == 1 && tlv->value[0] != 0)) {
		QL_VCARD_BAD_REQUEST(error, "BIT STRING %X is malformed", tlv->tag);
		return FALSE;
	}
	for (gsize i = 1; i < tlv->len && i <= 4; i++) {
		for (guint bit = 0; bit < 8; bit++) {
			if (tlv->value[i] & (0x80 >> bit))
				m |= 1u << ((i - 1) * 8 + bit);
		}
	}
	*mask = m;
	return TRUE;
}

/* An INTEGER of the request; a bad one makes the request undecodable */
static gboolean
ql_vcard_get_int(const QlTlv *tlv, gint64 *out, GError **error)
{
	if (!ql_tlv_get_int(tlv, out, error)) {
		g_prefix_error(error, "request: ");
		return FALSE;
	}
	return TRUE;
}

void
ql_vcard_put_iccid(QlTlvBuilder *b, const gchar *iccid)
{
	g_autoptr(GBytes) bcd = ql_iccid_to_bcd(iccid, NULL);
	if (bcd != NULL)
		ql_tlv_builder_add_bytes(b, 0x5A, bcd);
}

QlVcardProfile *
ql_vcard_find_iccid(QlVcard *card, const gchar *iccid)
{
	for (guint i = 0; i < card->profiles->len; i++) {
		QlVcardProfile *p = g_ptr_array_index(card->profiles, i);
		if (g_strcmp0(p->iccid, iccid) == 0)
			return p;
	}
	return NULL;
}

static gboolean
ql_vcard_iccid_from_tlv(const QlTlv *tlv, gchar **out, GError **error)
{
	if (tlv->len != 10) {
		QL_VCARD_BAD_REQUEST(error, "ICCID of %" G_GSIZE_FORMAT " bytes", tlv->len);
		return FALSE;
	}
	*out = ql_iccid_from_bcd(tlv->value, tlv->len);
	return TRUE;
}

/* A profile named by an ISD-P AID ('4F') or an ICCID ('5A'); *p NULL when there is none */
static gboolean
ql_vcard_lookup(QlVcard *card, const QlTlv *id, QlVcardProfile **p, GError **error)
{
	*p = NULL;
	if (id->tag == 0x4F) {
		if (id->len < 1 || id->len > 16) {
			QL_VCARD_BAD_REQUEST(error, "AID of %" G_GSIZE_FORMAT " bytes", id->len);
			return FALSE;
		}
		for (guint i = 0; i < card->profiles->len; i++) {
			QlVcardProfile *cand = g_ptr_array_index(card->profiles, i);
			gsize alen = 0;
			const guint8 *aid = g_bytes_get_data(cand->isdp_aid, &alen);
			if (alen == id->len && memcmp(aid, id->value, alen) == 0)
				*p = cand;
		}
		return TRUE;
	}
	if (id->tag == 0x5A) {
		g_autofree gchar *iccid = NULL;
		if (!ql_vcard_iccid_from_tlv(id, &iccid, error))
			return FALSE;
		*p = ql_vcard_find_iccid(card, iccid);
		return TRUE;
	}
	QL_VCARD_BAD_REQUEST(error, "profile identifier with tag %X", id->tag);
	return FALSE;
}

/* The first TLV inside @parent (a CHOICE wrapper) */
static gboolean
ql_vcard_first_child(const QlTlv *parent, QlTlv *out, GError **error)
{
	QlTlvIter it;
	g_autoptr(GError) error_local = NULL;
	ql_tlv_iter_init_value(&it, parent);
	if (ql_tlv_iter_next(&it, out, &error_local))
		return TRUE;
	if (error_local != NULL)
		g_propagate_error(error, g_steal_pointer(&error_local));
	else
		QL_VCARD_BAD_REQUEST(error, "%X is empty", parent->tag);
	return FALSE;
}

void
ql_vcard_queue_notification(QlVcard *card, QlVcardProfile *p, QlVcardEvent event)
{
	/* SGP.22 2.6.4 / 3.2: one notification per configured address that asked for the event */
	for (guint i = 0; i < p->notif_config->len; i++) {
		QlVcardNotifConfig *c = g_ptr_array_index(p->notif_config, i);
		QlVcardNotification *n;
		if ((c->events & QL_VCARD_EVENT_MASK(event)) == 0)
			continue;
		n = g_new0(QlVcardNotification, 1);
		n->seq = card->next_seq++;
		n->event = event;
		n->address = g_strdup(c->address);
		n->iccid = g_strdup(p->iccid);
		g_ptr_array_add(card->notifications, n);
	}
}

/* ---- EUICCInfo1 / EUICCInfo2 (ES10b.GetEUICCInfo, SGP.22 5.7.8) ---- */

static gboolean
ql_vcard_put_ci_lists(QlVcard *card, QlTlvBuilder *b, GError **error)
{
	const guint32 tags[] = {0xA9, 0xAA};
	for (guint t = 0; t < G_N_ELEMENTS(tags); t++) {
		ql_tlv_builder_begin(b, tags[t]);
		for (guint i = 0; i < card->trusted_ci->len; i++) {
			g_autoptr(GBytes) skid = ql_pki_subject_key_id(
				g_ptr_array_index(card->trusted_ci, i), error);
			if (skid == NULL)
				return FALSE;
			ql_tlv_builder_add_bytes(b, 0x04, skid);
		}
		ql_tlv_builder_end(b);
	}
	return TRUE;
}

static gboolean
ql_vcard_es10_info1(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	ql_tlv_builder_begin(b, 0xBF20);
	ql_tlv_builder_add(b, 0x82, ql_vcard_svn, sizeof(ql_vcard_svn));
	if (!ql_vcard_put_ci_lists(card, b, error))
		return FALSE;
	ql_tlv_builder_end(b);
	return TRUE;
}

static void
ql_vcard_put_uint(QlTlvBuilder *b, guint32 tag, guint64 v)
{
	guint8 tmp[8];
	gsize n = 0;
	/* big-endian, minimal (ETSI TS 102 226 8.2.1.7.2); a leading 00 when the top bit is set,
	 * so that readers taking it as an INTEGER and readers taking it as unsigned agree */
	do {
		tmp[8 - ++n] = v & 0xff;
		v >>= 8;
	} while (v != 0 && n < 7);
	if (tmp[8 - n] & 0x80)
		tmp[8 - ++n] = 0x00;
	ql_tlv_builder_add(b, tag, tmp + 8 - n, n);
}

gboolean
ql_vcard_put_euicc_info2(QlVcard *card, QlTlvBuilder *b, GError **error)
{
	guint64 used = 0;
	/* UICCCapability: usim(1) isim(2) akaMilenage(4) akaTuak128(6) gbaAuthenUsim(10)
	 * eapClient(13) javacard(14) multipleUsimSupport(16) */
	const guint32 uicc_caps = (1u << 1) | (1u << 2) | (1u << 4) | (1u << 6) | (1u << 10) |
				  (1u << 13) | (1u << 14) | (1u << 16);
	/* RspCapability: additionalProfile(0) testProfileSupport(3) */
	const guint32 rsp_caps = (1u << 0) | (1u << 3);

	for (guint i = 0; i < card->profiles->len; i++) {
		QlVcardProfile *p = g_ptr_array_index(card->profiles, i);
		used += QL_VCARD_PROFILE_SIZE + (p->icon != NULL ? g_bytes_get_size(p->icon) : 0);
	}
	ql_tlv_builder_begin(b, 0xBF22);
	ql_tlv_builder_add(b, 0x81, ql_vcard_profile_version, 3);
	ql_tlv_builder_add(b, 0x82, ql_vcard_svn, 3);
	ql_tlv_builder_add(b, 0x83, ql_vcard_firmware_version, 3);
	ql_tlv_builder_begin(b, 0x84); /* ETSI TS 102 226 extended card resources */
	ql_vcard_put_uint(b, 0x81, card->profiles->len);
	ql_vcard_put_uint(b, 0x82, used < QL_VCARD_NVM_TOTAL ? QL_VCARD_NVM_TOTAL - used : 0);
	ql_vcard_put_uint(b, 0x83, QL_VCARD_RAM_FREE);
	ql_tlv_builder_end(b);
	ql_vcard_put_bits(b, 0x85, uicc_caps);
	ql_tlv_builder_add(b, 0x86, ql_vcard_javacard_version, 3);
	ql_tlv_builder_add(b, 0x87, ql_vcard_gp_version, 3);
	ql_vcard_put_bits(b, 0x88, rsp_caps);
	if (!ql_vcard_put_ci_lists(card, b, error))
		return FALSE;
	ql_tlv_builder_add_int(b, 0x8B, 2); /* euiccCategory mediumEuicc */
	/* ppVersion and sasAcreditationNumber carry no context tag: universal 04 and 0C */
	ql_tlv_builder_add(b, 0x04, ql_vcard_pp_version, 3);
	ql_tlv_builder_add_string(b, 0x0C, QL_VCARD_SAS_NUMBER);
	ql_tlv_builder_end(b);
	return TRUE;
}

static gboolean
ql_vcard_es10_info2(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	return ql_vcard_put_euicc_info2(card, b, error);
}

/* ---- GetEID (5.7.20), GetEuiccChallenge (5.7.7) ---- */

static gboolean
ql_vcard_es10_eid(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	g_autoptr(GBytes) eid = ql_hex_decode(card->eid, error);
	QlTlv list;
	gboolean want = TRUE;

	if (eid == NULL)
		return FALSE;
	if (ql_tlv_find(req, 0x5C, &list, error)) {
		want = memchr(list.value, 0x5A, list.len) != NULL;
	} else if (error != NULL && *error != NULL) {
		return FALSE;
	}
	ql_tlv_builder_begin(b, 0xBF3E);
	if (want)
		ql_tlv_builder_add_bytes(b, 0x5A, eid);
	ql_tlv_builder_end(b);
	return TRUE;
}

static gboolean
ql_vcard_es10_challenge(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	/* a new challenge starts a new session: whatever was under way is dropped */
	ql_vcard_session_clear(&card->session);
	if (!ql_crypto_random(card->challenge, sizeof(card->challenge), error))
		return FALSE;
	card->have_challenge = TRUE;
	ql_tlv_builder_begin(b, 0xBF2E);
	ql_tlv_builder_add(b, 0x80, card->challenge, sizeof(card->challenge));
	ql_tlv_builder_end(b);
	return TRUE;
}

/* ---- GetProfilesInfo (5.7.15) ---- */

/* tagList '5C' is a bare run of BER tags (no lengths), a shape the TLV reader cannot walk: the
 * tag rule (ISO 8825-1 8.1.2) is applied here, bounded to 3-byte tags */
static GArray *
ql_vcard_parse_tag_list(const QlTlv *list, GError **error)
{
	g_autoptr(GArray) tags = g_array_new(FALSE, FALSE, sizeof(guint32));
	gsize i = 0;
	while (i < list->len) {
		guint32 tag = list->value[i++];
		if ((tag & 0x1f) == 0x1f) {
			guint n = 0;
			do {
				if (i >= list->len || ++n > 2) {
					QL_VCARD_BAD_REQUEST(error, "tagList: broken tag");
					return NULL;
				}
				tag = (tag << 8) | list->value[i];
			} while (list->value[i++] & 0x80);
		}
		g_array_append_val(tags, tag);
	}
	return g_steal_pointer(&tags);
}

static gboolean
ql_vcard_tag_wanted(GArray *tags, guint32 tag)
{
	if (tags == NULL)
		return TRUE;
	for (guint i = 0; i < tags->len; i++) {
		if (g_array_index(tags, guint32, i) == tag)
			return TRUE;
	}
	return FALSE;
}

static void
ql_vcard_put_profile_info(QlVcardProfile *p, GArray *tags, QlTlvBuilder *b)
{
	ql_tlv_builder_begin(b, 0xE3);
	if (ql_vcard_tag_wanted(tags, 0x5A))
		ql_vcard_put_iccid(b, p->iccid);
	if (ql_vcard_tag_wanted(tags, 0x4F))
		ql_tlv_builder_add_bytes(b, 0x4F, p->isdp_aid);
	if (ql_vcard_tag_wanted(tags, 0x9F70))
		ql_tlv_builder_add_int(b, 0x9F70, p->enabled ? 1 : 0);
	if (ql_vcard_tag_wanted(tags, 0x90) && p->nickname != NULL && p->nickname[0] != '\0')
		ql_tlv_builder_add_string(b, 0x90, p->nickname);
	if (ql_vcard_tag_wanted(tags, 0x91))
		ql_tlv_builder_add_string(b, 0x91, p->spn);
	if (ql_vcard_tag_wanted(tags, 0x92))
		ql_tlv_builder_add_string(b, 0x92, p->name);
	if (p->icon_type >= 0 && ql_vcard_tag_wanted(tags, 0x93))
		ql_tlv_builder_add_int(b, 0x93, p->icon_type);
	if (p->icon != NULL && ql_vcard_tag_wanted(tags, 0x94))
		ql_tlv_builder_add_bytes(b, 0x94, p->icon);
	/* profileClass is DEFAULT operational; like deployed cards it is always sent, the
	 * LPA must accept both forms */
	if (ql_vcard_tag_wanted(tags, 0x95))
		ql_tlv_builder_add_int(b, 0x95, p->profile_class);
	if (ql_vcard_tag_wanted(tags, 0xB6) && p->notif_config->len > 0) {
		ql_tlv_builder_begin(b, 0xB6);
		for (guint i = 0; i < p->notif_config->len; i++) {
			QlVcardNotifConfig *c = g_ptr_array_index(p->notif_config, i);
			ql_tlv_builder_begin(b, 0x30);
			ql_vcard_put_bits(b, 0x80, c->events);
			ql_tlv_builder_add_string(b, 0x81, c->address);
			ql_tlv_builder_end(b);
		}
		ql_tlv_builder_end(b);
	}
	if (ql_vcard_tag_wanted(tags, 0xB7) && p->owner_mccmnc != NULL) {
		ql_tlv_builder_begin(b, 0xB7);
		ql_tlv_builder_add_bytes(b, 0x80, p->owner_mccmnc);
		ql_tlv_builder_end(b);
	}
	ql_tlv_builder_end(b);
}

static gboolean
ql_vcard_es10_profiles(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	g_autoptr(GArray) tags = NULL;
	g_autoptr(GError) error_local = NULL;
	QlTlv crit, list, sel = {0};
	gboolean have_crit = FALSE;
	gint64 klass = -1;

	if (ql_tlv_find(req, 0x5C, &list, &error_local)) {
		tags = ql_vcard_parse_tag_list(&list, error);
		if (tags == NULL)
			return FALSE;
	}
	if (error_local == NULL && ql_tlv_find(req, 0xA0, &crit, &error_local)) {
		if (!ql_vcard_first_child(&crit, &sel, error))
			return FALSE;
		have_crit = TRUE;
	}
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	if (have_crit) {
		gboolean bad = FALSE;
		if (sel.tag == 0x95)
			bad = !ql_tlv_get_int(&sel, &klass, NULL) || klass < 0 || klass > 2;
		else if (sel.tag == 0x4F)
			bad = sel.len < 1 || sel.len > 16;
		else if (sel.tag == 0x5A)
			bad = sel.len != 10;
		else
			bad = TRUE;
		if (bad) {
			/* profileInfoListError incorrectInputValues(1) */
			ql_tlv_builder_begin(b, 0xBF2D);
			ql_tlv_builder_add_int(b, 0x81, 1);
			ql_tlv_builder_end(b);
			return TRUE;
		}
	}

	ql_tlv_builder_begin(b, 0xBF2D);
	ql_tlv_builder_begin(b, 0xA0);
	for (guint i = 0; i < card->profiles->len; i++) {
		QlVcardProfile *p = g_ptr_array_index(card->profiles, i);
		if (have_crit && sel.tag == 0x95 && p->profile_class != klass)
			continue;
		if (have_crit && sel.tag != 0x95) {
			QlVcardProfile *hit = NULL;
			if (!ql_vcard_lookup(card, &sel, &hit, error))
				return FALSE;
			if (hit != p)
				continue;
		}
		ql_vcard_put_profile_info(p, tags, b);
	}
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	return TRUE;
}

/* ---- Enable / Disable / Delete (5.7.16-5.7.18) ---- */

static void
ql_vcard_put_result(QlTlvBuilder *b, guint32 tag, gint64 result)
{
	ql_tlv_builder_begin(b, tag);
	ql_tlv_builder_add_int(b, 0x80, result);
	ql_tlv_builder_end(b);
}

/* Finds the profile of an Enable/DisableProfileRequest: A0 { 4F | 5A }, refreshFlag 81 */
static gboolean
ql_vcard_profile_identifier(QlVcard *card, const QlTlv *req, QlVcardProfile **p, GError **error)
{
	QlTlv choice, id, flag;
	g_autoptr(GError) error_local = NULL;

	if (!ql_tlv_require(req, 0xA0, "profileIdentifier", &choice, error))
		return FALSE;
	if (!ql_vcard_first_child(&choice, &id, error))
		return FALSE;
	/* refreshFlag is mandatory in v2 but only matters to a real modem: checked for form */
	if (ql_tlv_find(req, 0x81, &flag, &error_local) && flag.len != 1) {
		QL_VCARD_BAD_REQUEST(error, "refreshFlag of %" G_GSIZE_FORMAT " bytes", flag.len);
		return FALSE;
	}
	if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	return ql_vcard_lookup(card, &id, p, error);
}

static gboolean
ql_vcard_es10_enable(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	QlVcardProfile *p = NULL;
	if (!ql_vcard_profile_identifier(card, req, &p, error))
		return FALSE;
	if (p == NULL) {
		ql_vcard_put_result(b, 0xBF31, QL_VCARD_RESULT_NOT_FOUND);
		return TRUE;
	}
	if (p->enabled) {
		ql_vcard_put_result(b, 0xBF31, QL_VCARD_RESULT_WRONG_STATE);
		return TRUE;
	}
	/* SGP.22 v2 3.2.1: enabling a profile implicitly disables the one that was enabled */
	for (guint i = 0; i < card->profiles->len; i++) {
		QlVcardProfile *other = g_ptr_array_index(card->profiles, i);
		if (other->enabled) {
			other->enabled = FALSE;
			ql_vcard_queue_notification(card, other, QL_VCARD_EVENT_DISABLE);
		}
	}
	p->enabled = TRUE;
	ql_vcard_queue_notification(card, p, QL_VCARD_EVENT_ENABLE);
	if (!ql_vcard_state_save(card, error))
		return FALSE;
	ql_vcard_put_result(b, 0xBF31, QL_VCARD_RESULT_OK);
	return TRUE;
}

static gboolean
ql_vcard_es10_disable(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	QlVcardProfile *p = NULL;
	if (!ql_vcard_profile_identifier(card, req, &p, error))
		return FALSE;
	if (p == NULL) {
		ql_vcard_put_result(b, 0xBF32, QL_VCARD_RESULT_NOT_FOUND);
		return TRUE;
	}
	if (!p->enabled) {
		ql_vcard_put_result(b, 0xBF32, QL_VCARD_RESULT_WRONG_STATE);
		return TRUE;
	}
	p->enabled = FALSE;
	ql_vcard_queue_notification(card, p, QL_VCARD_EVENT_DISABLE);
	if (!ql_vcard_state_save(card, error))
		return FALSE;
	ql_vcard_put_result(b, 0xBF32, QL_VCARD_RESULT_OK);
	return TRUE;
}

static gboolean
ql_vcard_es10_delete(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	QlVcardProfile *p = NULL;
	QlTlv id;

	/* DeleteProfileRequest is itself the CHOICE: BF33 { 4F | 5A } */
	if (!ql_vcard_first_child(req, &id, error))
		return FALSE;
	if (!ql_vcard_lookup(card, &id, &p, error))
		return FALSE;
	if (p == NULL) {
		ql_vcard_put_result(b, 0xBF33, QL_VCARD_RESULT_NOT_FOUND);
		return TRUE;
	}
	if (p->enabled) {
		ql_vcard_put_result(b, 0xBF33, QL_VCARD_RESULT_WRONG_STATE);
		return TRUE;
	}
	ql_vcard_queue_notification(card, p, QL_VCARD_EVENT_DELETE);
	g_ptr_array_remove(card->profiles, p);
	if (!ql_vcard_state_save(card, error))
		return FALSE;
	ql_vcard_put_result(b, 0xBF33, QL_VCARD_RESULT_OK);
	return TRUE;
}

/* ---- SetNickname (5.7.21) ---- */

static gboolean
ql_vcard_es10_nickname(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	QlTlv iccid_tlv, nick_tlv;
	g_autofree gchar *iccid = NULL;
	QlVcardProfile *p;

	if (!ql_tlv_require(req, 0x5A, "iccid", &iccid_tlv, error) ||
	    !ql_tlv_require(req, 0x90, "profileNickname", &nick_tlv, error))
		return FALSE;
	if (!ql_vcard_iccid_from_tlv(&iccid_tlv, &iccid, error))
		return FALSE;
	if (nick_tlv.len > 64 ||
	    !g_utf8_validate((const gchar *)nick_tlv.value, (gssize)nick_tlv.len, NULL)) {
		QL_VCARD_BAD_REQUEST(error, "profileNickname is not UTF-8 of at most 64 bytes");
		return FALSE;
	}
	p = ql_vcard_find_iccid(card, iccid);
	if (p == NULL) {
		ql_vcard_put_result(b, 0xBF29, QL_VCARD_RESULT_NOT_FOUND);
		return TRUE;
	}
	g_free(p->nickname);
	p->nickname = nick_tlv.len > 0 ? ql_tlv_get_string(&nick_tlv) : NULL;
	if (!ql_vcard_state_save(card, error))
		return FALSE;
	ql_vcard_put_result(b, 0xBF29, QL_VCARD_RESULT_OK);
	return TRUE;
}

/* ---- Notifications (5.7.9 ListNotification, 5.7.10 Retrieve..., 5.7.11 Remove...) ---- */

void
ql_vcard_put_metadata(QlTlvBuilder *b, QlVcardNotification *n)
{
	ql_tlv_builder_begin(b, 0xBF2F);
	ql_tlv_builder_add_int(b, 0x80, n->seq);
	ql_vcard_put_bits(b, 0x81, QL_VCARD_EVENT_MASK(n->event));
	ql_tlv_builder_add_string(b, 0x0C, n->address);
	if (n->iccid != NULL)
		ql_vcard_put_iccid(b, n->iccid);
	ql_tlv_builder_end(b);
}

static gboolean
ql_vcard_es10_list_notifications(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	guint32 filter = G_MAXUINT32;
	QlTlv op;

	if (ql_tlv_find(req, 0x81, &op, &error_local)) {
		if (!ql_vcard_get_bits(&op, &filter, error))
			return FALSE;
	} else if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	ql_tlv_builder_begin(b, 0xBF28);
	ql_tlv_builder_begin(b, 0xA0);
	for (guint i = 0; i < card->notifications->len; i++) {
		QlVcardNotification *n = g_ptr_array_index(card->notifications, i);
		if (filter & QL_VCARD_EVENT_MASK(n->event))
			ql_vcard_put_metadata(b, n);
	}
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	return TRUE;
}

static gboolean
ql_vcard_put_signed_notification(QlVcard *card, QlVcardNotification *n, QlTlvBuilder *b,
				 GError **error)
{
	g_autoptr(QlTlvBuilder) mb = ql_tlv_builder_new();
	g_autoptr(GBytes) meta = NULL;
	g_autoptr(GBytes) euicc_der = NULL;
	g_autoptr(GBytes) eum_der = NULL;
	guint8 sig[64];

	if (n->pir != NULL) {
		/* an installation result is stored already signed, as the card made it */
		ql_tlv_builder_add_raw(b, g_bytes_get_data(n->pir, NULL), g_bytes_get_size(n->pir));
		return TRUE;
	}
	ql_vcard_put_metadata(mb, n);
	meta = ql_tlv_builder_finish(g_steal_pointer(&mb));
	/* SGP.22 5.7.10: euiccNotificationSignature over the DER of tbsOtherNotification */
	if (!ql_vcard_sign(card, g_bytes_get_data(meta, NULL), g_bytes_get_size(meta), sig, error))
		return FALSE;
	euicc_der = ql_pki_export_der(card->euicc.crt, error);
	if (euicc_der == NULL)
		return FALSE;
	eum_der = ql_pki_export_der(card->eum.crt, error);
	if (eum_der == NULL)
		return FALSE;
	ql_tlv_builder_begin(b, 0x30);
	ql_tlv_builder_add_raw(b, g_bytes_get_data(meta, NULL), g_bytes_get_size(meta));
	ql_tlv_builder_add(b, 0x5F37, sig, sizeof(sig));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(euicc_der, NULL), g_bytes_get_size(euicc_der));
	ql_tlv_builder_add_raw(b, g_bytes_get_data(eum_der, NULL), g_bytes_get_size(eum_der));
	ql_tlv_builder_end(b);
	return TRUE;
}

static gboolean
ql_vcard_es10_retrieve_notifications(QlVcard *card, const QlTlv *req, QlTlvBuilder *b,
				     GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GPtrArray) hits = g_ptr_array_new();
	gboolean have_crit = FALSE;
	gint64 seq = -1;
	guint32 filter = G_MAXUINT32;
	QlTlv crit, sel;

	/* searchCriteria is an untagged CHOICE, so AUTOMATIC TAGS wrap it in A0 */
	if (ql_tlv_find(req, 0xA0, &crit, &error_local)) {
		if (!ql_vcard_first_child(&crit, &sel, error))
			return FALSE;
		have_crit = TRUE;
		if (sel.tag == 0x80) {
			if (!ql_vcard_get_int(&sel, &seq, error))
				return FALSE;
		} else if (sel.tag == 0x81) {
			if (!ql_vcard_get_bits(&sel, &filter, error))
				return FALSE;
		} else {
			QL_VCARD_BAD_REQUEST(error, "searchCriteria with tag %X", sel.tag);
			return FALSE;
		}
	} else if (error_local != NULL) {
		g_propagate_error(error, g_steal_pointer(&error_local));
		return FALSE;
	}
	for (guint i = 0; i < card->notifications->len; i++) {
		QlVcardNotification *n = g_ptr_array_index(card->notifications, i);
		if (seq >= 0 && n->seq != seq)
			continue;
		if ((filter & QL_VCARD_EVENT_MASK(n->event)) == 0)
			continue;
		g_ptr_array_add(hits, n);
	}
	ql_tlv_builder_begin(b, 0xBF2B);
	if (have_crit && hits->len == 0) {
		ql_tlv_builder_add_int(b, 0x81, 1); /* noResultAvailable */
	} else {
		ql_tlv_builder_begin(b, 0xA0);
		for (guint i = 0; i < hits->len; i++) {
			if (!ql_vcard_put_signed_notification(card, g_ptr_array_index(hits, i), b,
							      error))
				return FALSE;
		}
		ql_tlv_builder_end(b);
	}
	ql_tlv_builder_end(b);
	return TRUE;
}

static gboolean
ql_vcard_es10_remove_notification(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	QlTlv seq_tlv;
	gint64 seq;

	if (!ql_tlv_require(req, 0x80, "seqNumber", &seq_tlv, error) ||
	    !ql_vcard_get_int(&seq_tlv, &seq, error))
		return FALSE;
	for (guint i = 0; i < card->notifications->len; i++) {
		QlVcardNotification *n = g_ptr_array_index(card->notifications, i);
		if (n->seq == seq) {
			g_ptr_array_remove_index(card->notifications, i);
			if (!ql_vcard_state_save(card, error))
				return FALSE;
			ql_vcard_put_result(b, 0xBF30, QL_VCARD_RESULT_OK);
			return TRUE;
		}
	}
	ql_vcard_put_result(b, 0xBF30, QL_VCARD_RESULT_NOT_FOUND);
	return TRUE;
}

/* ---- addresses (5.7.3 GetEuiccConfiguredAddresses, 5.7.4 SetDefaultDpAddress) ---- */

static gboolean
ql_vcard_es10_addresses(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	ql_tlv_builder_begin(b, 0xBF3C);
	if (card->default_dp != NULL && card->default_dp[0] != '\0')
		ql_tlv_builder_add_string(b, 0x80, card->default_dp);
	ql_tlv_builder_add_string(b, 0x81, card->root_ds);
	ql_tlv_builder_end(b);
	return TRUE;
}

static gboolean
ql_vcard_es10_set_default_dp(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	QlTlv addr;
	if (!ql_tlv_require(req, 0x80, "defaultDpAddress", &addr, error))
		return FALSE;
	if (addr.len > 255 || !g_utf8_validate((const gchar *)addr.value, (gssize)addr.len, NULL)) {
		QL_VCARD_BAD_REQUEST(error, "defaultDpAddress is not a UTF-8 FQDN");
		return FALSE;
	}
	g_free(card->default_dp);
	/* an empty address clears it (SGP.22 5.7.4) */
	card->default_dp = addr.len > 0 ? ql_tlv_get_string(&addr) : NULL;
	if (!ql_vcard_state_save(card, error))
		return FALSE;
	ql_vcard_put_result(b, 0xBF3F, QL_VCARD_RESULT_OK);
	return TRUE;
}

/* ---- eUICCMemoryReset (5.7.19) ---- */

static gboolean
ql_vcard_es10_memory_reset(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	QlTlv opt;
	guint32 mask = 0;
	gboolean done = FALSE;

	if (!ql_tlv_require(req, 0x82, "resetOptions", &opt, error) ||
	    !ql_vcard_get_bits(&opt, &mask, error))
		return FALSE;
	/* deleteOperationalProfiles(0), deleteFieldLoadedTestProfiles(1): whatever their state,
	 * and without notifications (a reset is local to the device) */
	for (guint i = card->profiles->len; i > 0; i--) {
		QlVcardProfile *p = g_ptr_array_index(card->profiles, i - 1);
		if (((mask & 1) && p->profile_class == QL_VCARD_CLASS_OPERATIONAL) ||
		    ((mask & 2) && p->profile_class == QL_VCARD_CLASS_TEST)) {
			g_ptr_array_remove_index(card->profiles, i - 1);
			done = TRUE;
		}
	}
	if ((mask & 4) && card->default_dp != NULL) {
		g_clear_pointer(&card->default_dp, g_free);
		done = TRUE;
	}
	if (done && !ql_vcard_state_save(card, error))
		return FALSE;
	ql_vcard_put_result(b, 0xBF34, done ? QL_VCARD_RESULT_OK : QL_VCARD_RESULT_NOT_FOUND);
	return TRUE;
}

/* ---- GetRAT (5.7.22) ---- */

static gboolean
ql_vcard_es10_rat(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error)
{
	/* one rule: PPR1 and PPR2 allowed for any operator (MCC/MNC wildcard 'EEEEEE') with
	 * the user's consent */
	const guint8 any_operator[] = {0xEE, 0xEE, 0xEE};
	ql_tlv_builder_begin(b, 0xBF43);
	ql_tlv_builder_begin(b, 0xA0);
	ql_tlv_builder_begin(b, 0x30);
	ql_vcard_put_bits(b, 0x80, (1u << 1) | (1u << 2));
	ql_tlv_builder_begin(b, 0xA1);
	ql_tlv_builder_begin(b, 0x30);
	ql_tlv_builder_add(b, 0x80, any_operator, sizeof(any_operator));
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	ql_vcard_put_bits(b, 0x82, 1u << 0);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	return TRUE;
}

typedef gboolean (*QlVcardEs10Func)(QlVcard *card, const QlTlv *req, QlTlvBuilder *b,
				    GError **error);

static const struct {
	guint32 tag;
	QlVcardEs10Func func;
} ql_vcard_es10_table[] = {
	{0xBF20, ql_vcard_es10_info1},
	{0xBF22, ql_vcard_es10_info2},
	{0xBF3E, ql_vcard_es10_eid},
	{0xBF2E, ql_vcard_es10_challenge},
	{0xBF2D, ql_vcard_es10_profiles},
	{0xBF31, ql_vcard_es10_enable},
	{0xBF32, ql_vcard_es10_disable},
	{0xBF33, ql_vcard_es10_delete},
	{0xBF29, ql_vcard_es10_nickname},
	{0xBF28, ql_vcard_es10_list_notifications},
	{0xBF2B, ql_vcard_es10_retrieve_notifications},
	{0xBF30, ql_vcard_es10_remove_notification},
	{0xBF3C, ql_vcard_es10_addresses},
	{0xBF3F, ql_vcard_es10_set_default_dp},
	{0xBF34, ql_vcard_es10_memory_reset},
	{0xBF43, ql_vcard_es10_rat},
	{0xBF38, ql_vcard_dl_authenticate},
	{0xBF21, ql_vcard_dl_prepare},
	{0xBF41, ql_vcard_dl_cancel},
};

GBytes *
ql_vcard_es10_dispatch(QlVcard *card, const guint8 *cmd, gsize len, guint16 *sw, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	g_autoptr(QlTlvBuilder) b = NULL;
	QlTlv req;

	/* the pieces of a Bound Profile Package are not whole TLVs (SGP.22 2.5.5) */
	if (ql_vcard_dl_is_bpp(cmd, len))
		return ql_vcard_dl_bpp(card, cmd, len, sw, error);
	/* the whole command must be one well-formed TLV (SGP.22 5.7.1: else 6A80) */
	if (!ql_tlv_read_exact(cmd, len, 0, &req, &error_local) ||
	    !ql_tlv_validate(req.value, req.len, QL_TLV_MAX_DEPTH, &error_local)) {
		g_debug("ES10 request does not decode: %s", error_local->message);
		*sw = 0x6A80;
		return g_bytes_new(NULL, 0);
	}
	for (guint i = 0; i < G_N_ELEMENTS(ql_vcard_es10_table); i++) {
		if (ql_vcard_es10_table[i].tag != req.tag)
			continue;
		/* the function only, never its data: tests read which commands the card saw */
		g_debug("ES10 %X", req.tag);
		b = ql_tlv_builder_new();
		if (!ql_vcard_es10_table[i].func(card, &req, b, &error_local)) {
			if (error_local->domain == QL_ERROR &&
			    error_local->code == QL_ERROR_MALFORMED) {
				g_debug("ES10 %X request refused: %s", req.tag,
					error_local->message);
				*sw = 0x6A80;
				return g_bytes_new(NULL, 0);
			}
			g_propagate_error(error, g_steal_pointer(&error_local));
			return NULL;
		}
		*sw = 0x9000;
		return ql_tlv_builder_finish(g_steal_pointer(&b));
	}
	g_debug("ES10 function %X is not supported", req.tag);
	/* referenced data (the function) not found */
	*sw = 0x6A88;
	return g_bytes_new(NULL, 0);
}
