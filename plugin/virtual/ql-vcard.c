/*
 * The virtual eUICC's card layer: ISO/IEC 7816-4 logical channels, SELECT of the ISD-R, GP
 * STORE DATA carrying ES10 commands (SGP.22 5.7.1 / 2.5.6), and 61xx/GET RESPONSE chaining.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-apdu.h"
#include "ql-crypto.h"
#include "ql-tlv.h"
#include "ql-vcard-private.h"

/* SGP.22 2.2.3 */
static const guint8 ql_vcard_isdr_aid[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
					   0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00};
/* The ISD-P AIDs this card hands out: ...89 00 00 10 00, ...89 00 00 11 00, ... */
static const guint8 ql_vcard_isdp_aid_prefix[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10,
						  0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89};

/* No ES10 request comes near this; a bigger one is refused before it eats memory */
#define QL_VCARD_MAX_COMMAND (64 * 1024)
/* GET RESPONSE rounds a terminal waits through for a SELECT's answer (an FCI is a few dozen
 * bytes; this is a guard against a card that never ends it) */
#define QL_VCARD_MAX_GET_RESPONSE 64

/* a 32x32 PNG (a blue and orange disc) for the seeded test profiles */
static const guint8 ql_vcard_test_icon[] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
	0x52, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfc,
	0x18, 0xed, 0xa3, 0x00, 0x00, 0x00, 0x9a, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0xed, 0xd6,
	0xc1, 0x0d, 0x80, 0x20, 0x0c, 0x05, 0xd0, 0x6e, 0xe2, 0x88, 0xce, 0xe5, 0xdd, 0xc9, 0x5c,
	0x40, 0x48, 0xbc, 0x60, 0x85, 0xc2, 0x2f, 0xad, 0x70, 0xc0, 0x70, 0x53, 0xfe, 0x93, 0x06,
	0xa5, 0x74, 0x3b, 0x5f, 0x34, 0x1d, 0xb0, 0xed, 0xa7, 0x31, 0x70, 0x1d, 0x94, 0x8e, 0x08,
	0xb0, 0xa1, 0x07, 0x58, 0x74, 0x09, 0x90, 0x19, 0x82, 0xd2, 0x05, 0x20, 0xde, 0x02, 0x80,
	0x67, 0x02, 0x0a, 0x64, 0x0d, 0xca, 0xa6, 0xab, 0x81, 0xaf, 0x41, 0xa5, 0xca, 0x54, 0x83,
	0x04, 0xb8, 0x08, 0x40, 0x6f, 0x2a, 0xaf, 0x6c, 0x04, 0x80, 0xd6, 0xba, 0xf1, 0xfb, 0x58,
	0xc0, 0x34, 0x40, 0x4f, 0x90, 0xf0, 0xfc, 0x6b, 0x05, 0xe6, 0x00, 0x2f, 0xd1, 0x02, 0xc6,
	0x03, 0xcc, 0xe8, 0x04, 0xf2, 0x3f, 0x3b, 0x77, 0xc0, 0xfd, 0x3c, 0x48, 0x0d, 0x35, 0xd0,
	0x74, 0x26, 0xab, 0x01, 0xa0, 0xab, 0x50, 0x00, 0x70, 0x5f, 0x04, 0x01, 0xfa, 0xce, 0xae,
	0x71, 0xbf, 0x9b, 0xf5, 0xa6, 0xd5, 0xc4, 0xbf, 0xbb, 0xeb, 0x00, 0x0e, 0x95, 0x3a, 0x14,
	0x72, 0x1c, 0x8c, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60,
	0x82,
};

/* ---- lifecycle ---- */

void
ql_vcard_free(QlVcard *card)
{
	if (card == NULL)
		return;
	ql_vcard_session_clear(&card->session);
	for (guint i = 0; i <= QL_VCARD_MAX_CHANNELS; i++) {
		QlVcardChannel *c = &card->channels[i];
		g_clear_pointer(&c->store, g_byte_array_unref);
		g_clear_pointer(&c->pending, g_bytes_unref);
	}
	g_free(card->state_path);
	g_free(card->identity_dir);
	g_free(card->eid);
	g_ptr_array_unref(card->profiles);
	g_ptr_array_unref(card->notifications);
	g_free(card->default_dp);
	g_free(card->root_ds);
	ql_pki_cert_clear(&card->euicc);
	ql_pki_cert_clear(&card->eum);
	g_ptr_array_unref(card->trusted_ci);
	g_free(card->ci_pem);
	g_free(card->eum_pem);
	g_free(card->euicc_pem);
	if (card->euicc_key_pem != NULL) {
		/* the private key does not outlive the card in freed memory */
		ql_crypto_wipe(card->euicc_key_pem, strlen(card->euicc_key_pem));
		g_free(card->euicc_key_pem);
	}
	g_free(card);
}

QlVcard *
ql_vcard_open(const gchar *state_path, const gchar *identity_dir, GError **error)
{
	g_autoptr(QlVcard) card = NULL;

	if (state_path == NULL || state_path[0] == '\0') {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "the virtual eUICC needs a state file path");
		return NULL;
	}
	card = g_new0(QlVcard, 1);
	card->state_path = g_strdup(state_path);
	card->identity_dir =
		identity_dir != NULL ? g_canonicalize_filename(identity_dir, NULL) : NULL;
	card->profiles = g_ptr_array_new_with_free_func((GDestroyNotify)ql_vcard_profile_free);
	card->notifications =
		g_ptr_array_new_with_free_func((GDestroyNotify)ql_vcard_notification_free);
	card->trusted_ci = g_ptr_array_new_with_free_func((GDestroyNotify)gnutls_x509_crt_deinit);
	card->chunk = QL_VCARD_DEFAULT_CHUNK;
	card->extended = TRUE;

	if (g_file_test(state_path, G_FILE_TEST_EXISTS)) {
		if (!ql_vcard_state_load(card, error))
			return NULL;
		g_debug("virtual eUICC %s loaded from %s", card->eid, state_path);
		return g_steal_pointer(&card);
	}

	/* a new card; refuse early rather than make keys that cannot be kept */
	{
		g_autofree gchar *dir = g_path_get_dirname(state_path);
		if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
			g_set_error(error, QL_ERROR, QL_ERROR_IO,
				    "cannot create the virtual eUICC state file %s: folder %s does "
				    "not exist",
				    state_path, dir);
			return NULL;
		}
	}
	if (identity_dir != NULL) {
		if (!ql_vcard_identity_load_dir(card, identity_dir, error))
			return NULL;
	} else if (!ql_vcard_identity_create(card, error)) {
		g_prefix_error(error, "cannot make the virtual eUICC's identity: ");
		return NULL;
	}
	card->next_seq = 1;
	card->root_ds = g_strdup(QL_VCARD_DEFAULT_ROOT_DS);
	if (!ql_vcard_state_save(card, error))
		return NULL;
	g_debug("new virtual eUICC %s in %s", card->eid, state_path);
	return g_steal_pointer(&card);
}

GBytes *
ql_vcard_next_isdp_aid(QlVcard *card)
{
	guint8 aid[16];
	guint v = 0x10 + card->next_isdp++;
	memcpy(aid, ql_vcard_isdp_aid_prefix, sizeof(ql_vcard_isdp_aid_prefix));
	aid[12] = 0x00;
	aid[13] = (guint8)(v >> 8);
	aid[14] = (guint8)(v & 0xff);
	aid[15] = 0x00;
	return g_bytes_new(aid, sizeof(aid));
}

gboolean
ql_vcard_seed(QlVcard *card, guint count, GError **error)
{
	static const guint8 test_plmn[] = {0x00, 0xF1, 0x10}; /* MCC 001 MNC 01, test network */

	g_return_val_if_fail(card != NULL, FALSE);
	if (count <= card->seeded)
		return TRUE;
	for (guint i = card->seeded + 1; i <= count; i++) {
		QlVcardProfile *p = g_new0(QlVcardProfile, 1);
		QlVcardNotifConfig *c = g_new0(QlVcardNotifConfig, 1);
		p->iccid = ql_vcard_make_iccid(card->eid, i);
		p->isdp_aid = ql_vcard_next_isdp_aid(card);
		p->name = g_strdup_printf("Test Profile %u", i);
		p->spn = g_strdup("Quantra Test");
		p->profile_class = QL_VCARD_CLASS_OPERATIONAL;
		p->icon_type = 1; /* png */
		p->icon = g_bytes_new_static(ql_vcard_test_icon, sizeof(ql_vcard_test_icon));
		p->owner_mccmnc = g_bytes_new_static(test_plmn, sizeof(test_plmn));
		p->notif_config =
			g_ptr_array_new_with_free_func((GDestroyNotify)ql_vcard_notif_config_free);
		c->events = QL_VCARD_EVENT_MASK(QL_VCARD_EVENT_INSTALL) |
			    QL_VCARD_EVENT_MASK(QL_VCARD_EVENT_ENABLE) |
			    QL_VCARD_EVENT_MASK(QL_VCARD_EVENT_DISABLE) |
			    QL_VCARD_EVENT_MASK(QL_VCARD_EVENT_DELETE);
		c->address = g_strdup(QL_VCARD_TEST_SMDP_ADDRESS);
		g_ptr_array_add(p->notif_config, c);
		g_ptr_array_add(card->profiles, p);
	}
	card->seeded = count;
	return ql_vcard_state_save(card, error);
}

guint
ql_vcard_get_open_channels(QlVcard *card)
{
	guint n = 0;
	g_return_val_if_fail(card != NULL, 0);
	for (guint i = 1; i <= QL_VCARD_MAX_CHANNELS; i++) {
		if (card->channels[i].open)
			n++;
	}
	return n;
}

const gchar *
ql_vcard_get_eid(QlVcard *card)
{
	g_return_val_if_fail(card != NULL, NULL);
	return card->eid;
}

guint
ql_vcard_get_profile_count(QlVcard *card)
{
	g_return_val_if_fail(card != NULL, 0);
	return card->profiles->len;
}

const gchar *
ql_vcard_get_enabled_iccid(QlVcard *card)
{
	g_return_val_if_fail(card != NULL, NULL);
	for (guint i = 0; i < card->profiles->len; i++) {
		QlVcardProfile *p = g_ptr_array_index(card->profiles, i);
		if (p->enabled)
			return p->iccid;
	}
	return NULL;
}

guint
ql_vcard_get_notification_count(QlVcard *card)
{
	g_return_val_if_fail(card != NULL, 0);
	return card->notifications->len;
}

void
ql_vcard_set_chunk_size(QlVcard *card, guint chunk)
{
	g_return_if_fail(card != NULL);
	card->chunk = CLAMP(chunk, 1, 256);
	card->chunk_set = TRUE;
}

void
ql_vcard_set_extended_length(QlVcard *card, gboolean enabled)
{
	g_return_if_fail(card != NULL);
	card->extended = enabled;
}

gboolean
ql_vcard_get_extended_length(QlVcard *card)
{
	g_return_val_if_fail(card != NULL, FALSE);
	return card->extended;
}

GBytes *
ql_vcard_get_atr(QlVcard *card)
{
	/* TS, T0 (TD1 present, 5 historical bytes), TD1 (T=0, TD2 present), TD2 (T=1, which
	 * carries extended APDUs as they are): T=0 and T=1 as eUICCs offer them; then the
	 * historical bytes: category 80, card capabilities (tag 7, 3 bytes), whose third byte's
	 * b7 is "extended Lc and Le fields"; TCK last */
	guint8 atr[] = {0x3B, 0x85, 0x80, 0x01, 0x80, 0x73, 0x00, 0x00, 0x00, 0x00};
	guint8 tck = 0;
	g_return_val_if_fail(card != NULL, NULL);
	if (card->extended)
		atr[8] = 0x40;
	for (gsize i = 1; i + 1 < sizeof(atr); i++)
		tck ^= atr[i];
	atr[sizeof(atr) - 1] = tck;
	return g_bytes_new(atr, sizeof(atr));
}

void
ql_vcard_set_apdu_delay(QlVcard *card, guint ms)
{
	g_return_if_fail(card != NULL);
	card->apdu_delay_ms = ms;
}

void
ql_vcard_set_fault(QlVcard *card, QlVcardFault fault, guint skip)
{
	g_return_if_fail(card != NULL);
	card->fault = fault;
	card->fault_skip = skip;
}

void
ql_vcard_set_quirk_6c(QlVcard *card, gboolean enabled)
{
	g_return_if_fail(card != NULL);
	card->quirk_6c = enabled;
}

/* ---- APDU layer ---- */

typedef struct {
	guint8 cla, ins, p1, p2;
	guint8 channel;
	gboolean proprietary; /* CLA b8 set: GlobalPlatform commands (STORE DATA) */
	const guint8 *data;
	gsize lc;
	gint le;	   /* -1: absent; 1..256, or 1..65536 when extended */
	gboolean extended; /* Lc / Le of 2 bytes */
} QlVcardApdu;

static GBytes *
ql_vcard_sw(guint16 sw)
{
	guint8 b[2] = {sw >> 8, sw & 0xff};
	return g_bytes_new(b, 2);
}

static GBytes *
ql_vcard_data_sw(const guint8 *data, gsize len, guint16 sw)
{
	GByteArray *out = g_byte_array_sized_new((guint)len + 2);
	guint8 b[2] = {sw >> 8, sw & 0xff};
	if (len > 0)
		g_byte_array_append(out, data, (guint)len);
	g_byte_array_append(out, b, 2);
	return g_byte_array_free_to_bytes(out);
}

static void
ql_vcard_channel_reset_store(QlVcardChannel *c)
{
	g_clear_pointer(&c->store, g_byte_array_unref);
	c->next_block = 0;
}

static void
ql_vcard_channel_reset(QlVcardChannel *c)
{
	ql_vcard_channel_reset_store(c);
	g_clear_pointer(&c->pending, g_bytes_unref);
	c->pending_off = 0;
	c->isdr_selected = FALSE;
}

/* Decodes CLA per ISO/IEC 7816-4 5.4.1 (first and further interindustry classes, and the
 * proprietary 8X / CX forms GlobalPlatform uses); 0 on success, else the status word. */
/* ISO/IEC 7816-4 5.1: the extended forms, after a 00 byte where a short Lc would be: Le of two
 * bytes (case 2E), or Lc of two bytes and the data (3E), then Le of two bytes (4E). */
static guint16
ql_vcard_parse_extended(QlVcard *card, const guint8 *apdu, gsize len, QlVcardApdu *a)
{
	if (!card->extended)
		return 0x6700;
	a->extended = TRUE;
	if (len == 7) {
		guint le = ((guint)apdu[5] << 8) | apdu[6];
		a->le = le != 0 ? (gint)le : 65536;
		return 0;
	}
	if (len < 8)
		return 0x6700;
	a->lc = ((gsize)apdu[5] << 8) | apdu[6];
	if (a->lc == 0)
		return 0x6700;
	a->data = apdu + 7;
	if (len == 7 + a->lc)
		return 0;
	if (len == 9 + a->lc) {
		guint le = ((guint)apdu[7 + a->lc] << 8) | apdu[8 + a->lc];
		a->le = le != 0 ? (gint)le : 65536;
		return 0;
	}
	return 0x6700;
}

static guint16
ql_vcard_parse_apdu(QlVcard *card, const guint8 *apdu, gsize len, QlVcardApdu *a)
{
	guint8 cla;

	memset(a, 0, sizeof(*a));
	if (len < 4)
		return 0x6700;
	cla = a->cla = apdu[0];
	a->ins = apdu[1];
	a->p1 = apdu[2];
	a->p2 = apdu[3];
	a->le = -1;
	if (cla == 0xFF)
		return 0x6E00;
	a->proprietary = (cla & 0x80) != 0;
	if (cla & 0x40) {
		/* further interindustry: b6 secure messaging, b5 chaining, b4-b1 channel - 4 */
		a->channel = 4 + (cla & 0x0F);
		if (cla & 0x20)
			return 0x6882;
		if (cla & 0x10)
			return 0x6884;
	} else {
		/* first interindustry: b6 must be 0, b5 chaining, b4-b3 SM, b2-b1 channel */
		if (cla & 0x20)
			return 0x6E00;
		a->channel = cla & 0x03;
		if (cla & 0x0C)
			return 0x6882;
		if (cla & 0x10)
			return 0x6884;
	}
	if (len == 4)
		return 0;
	if (len == 5) {
		a->le = apdu[4] != 0 ? apdu[4] : 256;
		return 0;
	}
	if (apdu[4] == 0)
		return ql_vcard_parse_extended(card, apdu, len, a);
	a->lc = apdu[4];
	if (len == 5 + a->lc) {
		a->data = apdu + 5;
		return 0;
	}
	if (len == 6 + a->lc) {
		a->data = apdu + 5;
		a->le = apdu[5 + a->lc] != 0 ? apdu[5 + a->lc] : 256;
		return 0;
	}
	return 0x6700;
}

/* The size of the next piece of @c's pending answer */
static gsize
ql_vcard_piece_size(QlVcard *card, QlVcardChannel *c)
{
	gsize left = g_bytes_get_size(c->pending) - c->pending_off;
	return MIN(left, card->chunk);
}

/* Returns up to @max bytes of the pending answer; 61xx tells how much is left (xx = 00 for
 * 256 or more), 9000 ends it. */
static GBytes *
ql_vcard_next_piece(QlVcard *card, QlVcardChannel *c, gsize max)
{
	g_autoptr(GBytes) pending = g_bytes_ref(c->pending);
	const guint8 *data = g_bytes_get_data(pending, NULL);
	gsize off = c->pending_off;
	gsize n = MIN(ql_vcard_piece_size(card, c), max);
	gsize next;

	c->pending_off += n;
	if (c->pending_off >= g_bytes_get_size(pending)) {
		g_clear_pointer(&c->pending, g_bytes_unref);
		c->pending_off = 0;
		return ql_vcard_data_sw(data + off, n, 0x9000);
	}
	next = ql_vcard_piece_size(card, c);
	return ql_vcard_data_sw(data + off, n, 0x6100 | (next >= 256 ? 0 : next));
}

/* Starts answering @data on @c. A case 3 command (no Le) gets the T=0 answer: 61xx and no
 * data, everything through GET RESPONSE; a case 4 command gets the first piece at once, and an
 * extended one as much as its Le asks (in @chunk pieces when those were set). */
static GBytes *
ql_vcard_reply(QlVcard *card, QlVcardChannel *c, GBytes *data, gint le, gboolean extended,
	       guint16 sw)
{
	g_clear_pointer(&c->pending, g_bytes_unref);
	c->pending_off = 0;
	if (sw != 0x9000 || g_bytes_get_size(data) == 0)
		return ql_vcard_data_sw(g_bytes_get_data(data, NULL), g_bytes_get_size(data), sw);
	c->pending = g_bytes_ref(data);
	if (le < 0) {
		gsize next = ql_vcard_piece_size(card, c);
		return ql_vcard_sw(0x6100 | (next >= 256 ? 0 : next));
	}
	if (extended && !card->chunk_set) {
		const guint8 *p = g_bytes_get_data(data, NULL);
		gsize n = MIN(g_bytes_get_size(data), (gsize)le);
		if (n == g_bytes_get_size(data)) {
			g_clear_pointer(&c->pending, g_bytes_unref);
			return ql_vcard_data_sw(p, n, 0x9000);
		}
		c->pending_off = n;
		{
			gsize next = ql_vcard_piece_size(card, c);
			return ql_vcard_data_sw(p, n, 0x6100 | (next >= 256 ? 0 : next));
		}
	}
	return ql_vcard_next_piece(card, c, (gsize)le);
}

static GBytes *
ql_vcard_manage_channel(QlVcard *card, const QlVcardApdu *a)
{
	guint8 target;
	if (a->proprietary)
		return ql_vcard_sw(0x6E00);
	if (a->lc != 0)
		return ql_vcard_sw(0x6700);
	if (a->p1 == 0x00) {
		/* open: P2 = 0 lets the card choose and answer the number */
		target = a->p2;
		if (target == 0) {
			for (guint i = 1; i <= QL_VCARD_MAX_CHANNELS && target == 0; i++) {
				if (!card->channels[i].open)
					target = (guint8)i;
			}
			if (target == 0)
				return ql_vcard_sw(0x6A81); /* no channel left */
		} else if (target > QL_VCARD_MAX_CHANNELS) {
			return ql_vcard_sw(0x6A86);
		} else if (card->channels[target].open) {
			return ql_vcard_sw(0x6985);
		}
		ql_vcard_channel_reset(&card->channels[target]);
		card->channels[target].open = TRUE;
		g_debug("logical channel %u opened", target);
		if (a->p2 == 0)
			return ql_vcard_data_sw(&target, 1, 0x9000);
		return ql_vcard_sw(0x9000);
	}
	if (a->p1 == 0x80) {
		/* close: P2 names the channel, or 0 for the one the CLA is on */
		target = a->p2 != 0 ? a->p2 : a->channel;
		if (target == 0 || target > QL_VCARD_MAX_CHANNELS)
			return ql_vcard_sw(0x6A86);
		if (!card->channels[target].open)
			return ql_vcard_sw(0x6881);
		ql_vcard_channel_reset(&card->channels[target]);
		card->channels[target].open = FALSE;
		g_debug("logical channel %u closed", target);
		return ql_vcard_sw(0x9000);
	}
	return ql_vcard_sw(0x6A86);
}

static GBytes *
ql_vcard_select(QlVcard *card, QlVcardChannel *c, const QlVcardApdu *a)
{
	g_autoptr(QlTlvBuilder) b = NULL;
	g_autoptr(GBytes) fci = NULL;
	const guint8 max_cmd_len = 0xFF;

	if (a->proprietary)
		return ql_vcard_sw(0x6E00);
	if (a->p1 != 0x04 || (a->p2 != 0x00 && a->p2 != 0x0C))
		return ql_vcard_sw(0x6A86);
	if (a->lc == 0)
		return ql_vcard_sw(0x6700);
	if (a->lc != sizeof(ql_vcard_isdr_aid) ||
	    memcmp(a->data, ql_vcard_isdr_aid, sizeof(ql_vcard_isdr_aid)) != 0)
		return ql_vcard_sw(0x6A82);
	ql_vcard_channel_reset_store(c);
	c->isdr_selected = TRUE;
	if (a->p2 == 0x0C)
		return ql_vcard_sw(0x9000);
	/* FCI (GP Card Specification 11.9.3.1): AID, and the largest command data field */
	b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, 0x6F);
	ql_tlv_builder_add(b, 0x84, ql_vcard_isdr_aid, sizeof(ql_vcard_isdr_aid));
	ql_tlv_builder_begin(b, 0xA5);
	ql_tlv_builder_add(b, 0x9F65, &max_cmd_len, 1);
	ql_tlv_builder_end(b);
	ql_tlv_builder_end(b);
	fci = ql_tlv_builder_finish(g_steal_pointer(&b));
	return ql_vcard_reply(card, c, fci, a->le, a->extended, 0x9000);
}

/* Breaks a good ES10 answer as the armed fault says (test-only) */
static GBytes *
ql_vcard_apply_fault(QlVcardFault fault, GBytes *good)
{
	gsize len = 0;
	const guint8 *p = g_bytes_get_data(good, &len);
	QlTlv tlv;

	if (fault == QL_VCARD_FAULT_TRUNCATED)
		return g_bytes_new(p, len * 2 / 3);
	if (fault == QL_VCARD_FAULT_MALFORMED && ql_tlv_read(p, len, &tlv, NULL, NULL)) {
		/* the same content with an indefinite length, which DER (and SGP.22) forbid */
		g_autoptr(GByteArray) out = g_byte_array_new();
		const guint8 eoc[2] = {0x00, 0x00};
		const guint8 indefinite = 0x80;
		ql_tlv_put_tag(out, tlv.tag);
		g_byte_array_append(out, &indefinite, 1);
		g_byte_array_append(out, tlv.value, (guint)tlv.len);
		g_byte_array_append(out, eoc, 2);
		return g_byte_array_free_to_bytes(g_steal_pointer(&out));
	}
	return g_bytes_ref(good);
}

static GBytes *
ql_vcard_store_data(QlVcard *card, QlVcardChannel *c, const QlVcardApdu *a, GError **error)
{
	g_autoptr(GBytes) answer = NULL;
	g_autoptr(GByteArray) cmd = NULL;
	guint16 sw = 0x9000;
	QlVcardFault fault = QL_VCARD_FAULT_NONE;

	if (!a->proprietary)
		return ql_vcard_sw(0x6E00);
	if (!c->isdr_selected)
		return ql_vcard_sw(0x6985);
	if (a->lc == 0) {
		ql_vcard_channel_reset_store(c);
		return ql_vcard_sw(0x6700);
	}
	/* GP 11.11.2.1: b8 last block, b5-b4 '10' = BER-TLV data; nothing else is ES10 */
	if ((a->p1 != 0x11 && a->p1 != 0x91) || a->p2 != c->next_block) {
		ql_vcard_channel_reset_store(c);
		return ql_vcard_sw(0x6A86);
	}
	if (a->p2 == 0) {
		c->fault = QL_VCARD_FAULT_NONE;
		/* a new ES10 command: count it towards the armed fault */
		if (card->fault != QL_VCARD_FAULT_NONE && card->fault_skip > 0) {
			card->fault_skip--;
		} else if (card->fault != QL_VCARD_FAULT_NONE) {
			c->fault = card->fault;
			card->fault = QL_VCARD_FAULT_NONE;
			if (c->fault == QL_VCARD_FAULT_SW6F00) {
				c->fault = QL_VCARD_FAULT_NONE;
				return ql_vcard_sw(0x6F00);
			}
		}
	}
	if (c->store == NULL)
		c->store = g_byte_array_new();
	if (c->store->len + a->lc > QL_VCARD_MAX_COMMAND) {
		ql_vcard_channel_reset_store(c);
		return ql_vcard_sw(0x6A84);
	}
	g_byte_array_append(c->store, a->data, (guint)a->lc);
	c->next_block++;
	if (a->p1 == 0x11)
		return ql_vcard_sw(0x9000);

	cmd = g_steal_pointer(&c->store);
	c->next_block = 0;
	fault = c->fault;
	c->fault = QL_VCARD_FAULT_NONE;
	answer = ql_vcard_es10_dispatch(card, cmd->data, cmd->len, &sw, error);
	if (answer == NULL)
		return NULL;
	if (fault != QL_VCARD_FAULT_NONE && sw == 0x9000) {
		GBytes *broken = ql_vcard_apply_fault(fault, answer);
		g_bytes_unref(answer);
		answer = broken;
	}
	return ql_vcard_reply(card, c, answer, a->le, a->extended, sw);
}

static GBytes *
ql_vcard_get_response(QlVcard *card, QlVcardChannel *c, const QlVcardApdu *a)
{
	gsize want;
	if (a->p1 != 0 || a->p2 != 0)
		return ql_vcard_sw(0x6A86);
	if (a->lc != 0)
		return ql_vcard_sw(0x6700);
	if (c->pending == NULL)
		return ql_vcard_sw(0x6985);
	want = ql_vcard_piece_size(card, c);
	/* the quirk of cards that insist on the exact Le: 6Cxx, repeat with Le = xx */
	if (card->quirk_6c && (a->le < 0 || (gsize)a->le != want))
		return ql_vcard_sw(0x6C00 | (want >= 256 ? 0 : want));
	return ql_vcard_next_piece(card, c, a->le < 0 ? 256 : (gsize)a->le);
}

static GBytes *
ql_vcard_transmit_now(QlVcard *card, const guint8 *apdu, gsize len, GError **error)
{
	QlVcardApdu a;
	QlVcardChannel *c;
	guint16 sw;

	g_return_val_if_fail(card != NULL, NULL);
	g_return_val_if_fail(apdu != NULL || len == 0, NULL);

	sw = ql_vcard_parse_apdu(card, apdu, len, &a);
	if (sw != 0)
		return ql_vcard_sw(sw);
	if (a.channel > QL_VCARD_MAX_CHANNELS)
		return ql_vcard_sw(0x6881);
	c = &card->channels[a.channel];
	/* the basic channel is always open (ISO/IEC 7816-4 5.1.1.2) */
	if (a.channel != 0 && !c->open)
		return ql_vcard_sw(0x6881);
	/* any other command ends a pending answer (ISO/IEC 7816-4 7.6.1) */
	if (a.ins != 0xC0) {
		g_clear_pointer(&c->pending, g_bytes_unref);
		c->pending_off = 0;
	}
	switch (a.ins) {
	case 0x70:
		return ql_vcard_manage_channel(card, &a);
	case 0xA4:
		return ql_vcard_select(card, c, &a);
	case 0xE2:
		return ql_vcard_store_data(card, c, &a, error);
	case 0xC0:
		return ql_vcard_get_response(card, c, &a);
	default:
		return ql_vcard_sw(0x6D00);
	}
}

GBytes *
ql_vcard_transmit(QlVcard *card, const guint8 *apdu, gsize len, GError **error)
{
	gint64 due;
	GBytes *r;

	g_return_val_if_fail(card != NULL, NULL);
	due = g_get_monotonic_time() + (gint64)card->apdu_delay_ms * 1000;
	r = ql_vcard_transmit_now(card, apdu, len, error);
	/* the latency model: the answer leaves when the delay is over, the card's work in it */
	if (card->apdu_delay_ms > 0) {
		gint64 left = due - g_get_monotonic_time();
		if (left > 0)
			g_usleep((gulong)left);
	}
	return r;
}

/* ---- a terminal's side: logical channels opened and closed through ql_vcard_transmit ---- */

static guint16
ql_vcard_response_sw(GBytes *r)
{
	gsize len = 0;
	const guint8 *p = g_bytes_get_data(r, &len);
	return len >= 2 ? (guint16)((p[len - 2] << 8) | p[len - 1]) : 0x6F00;
}

gboolean
ql_vcard_close_logical_channel(QlVcard *card, guint8 channel, guint16 *sw, GError **error)
{
	/* ISO/IEC 7816-4 11.1.2: MANAGE CHANNEL close, P2 names the channel */
	const guint8 apdu[] = {0x00, 0x70, 0x80, channel};
	g_autoptr(GBytes) r = NULL;

	g_return_val_if_fail(card != NULL, FALSE);
	r = ql_vcard_transmit(card, apdu, sizeof(apdu), error);
	if (r == NULL)
		return FALSE;
	if (sw != NULL)
		*sw = ql_vcard_response_sw(r);
	return TRUE;
}

/* The SELECT by DF name on @ch and its GET RESPONSE rounds: @sw gets the last answer's status
 * word, @data the data of every piece. FALSE only on a real failure. */
static gboolean
ql_vcard_select_on_channel(QlVcard *card, guint8 ch, const guint8 *aid, gsize aid_len, guint8 p2,
			   GByteArray *data, guint16 *sw, GError **error)
{
	const guint8 cla = ql_apdu_cla(ch, FALSE);
	const guint8 hdr[] = {cla, 0xA4, 0x04, p2, (guint8)aid_len};
	const guint8 le = 0x00;
	g_autoptr(GByteArray) cmd = g_byte_array_new();
	g_autoptr(GBytes) r = NULL;

	/* ISO/IEC 7816-4 11.2.2; P2 0C asks for no answer, so there is no Le to give */
	g_byte_array_append(cmd, hdr, sizeof(hdr));
	if (aid_len > 0)
		g_byte_array_append(cmd, aid, (guint)aid_len);
	if (p2 != 0x0C)
		g_byte_array_append(cmd, &le, 1);
	r = ql_vcard_transmit(card, cmd->data, cmd->len, error);
	for (guint round = 0; r != NULL; round++) {
		gsize len = 0;
		const guint8 *p = g_bytes_get_data(r, &len);
		*sw = ql_vcard_response_sw(r);
		if (len > 2)
			g_byte_array_append(data, p, (guint)(len - 2));
		/* 61xx: xx more bytes wait for GET RESPONSE; 6Cxx: repeat it with Le = xx */
		if ((*sw & 0xFF00) != 0x6100 && (*sw & 0xFF00) != 0x6C00)
			return TRUE;
		if (round == QL_VCARD_MAX_GET_RESPONSE) {
			g_set_error(error, QL_ERROR, QL_ERROR_CARD,
				    "the card's answer to SELECT still goes on after %u GET "
				    "RESPONSE commands",
				    round);
			return FALSE;
		}
		{
			const guint8 get[] = {cla, 0xC0, 0x00, 0x00, *sw & 0xFF};
			g_clear_pointer(&r, g_bytes_unref);
			r = ql_vcard_transmit(card, get, sizeof(get), error);
		}
	}
	return FALSE;
}

gboolean
ql_vcard_open_logical_channel(QlVcard *card, const guint8 *aid, gsize aid_len, guint8 select_p2,
			      guint8 *channel, GBytes **select_response, guint16 *sw,
			      GError **error)
{
	/* ISO/IEC 7816-4 11.1.2: MANAGE CHANNEL open, P2 0 lets the card choose the number */
	const guint8 manage[] = {0x00, 0x70, 0x00, 0x00, 0x01};
	g_autoptr(GBytes) r = NULL;
	g_autoptr(GByteArray) data = g_byte_array_new();
	const guint8 ok[] = {0x90, 0x00};
	const guint8 *p;
	gsize len = 0;
	guint8 ch;
	guint16 status = 0;

	g_return_val_if_fail(card != NULL, FALSE);
	g_return_val_if_fail(aid != NULL || aid_len == 0, FALSE);
	g_return_val_if_fail(aid_len <= 255, FALSE); /* Lc of a short APDU */
	g_return_val_if_fail(channel != NULL, FALSE);
	g_return_val_if_fail(sw != NULL, FALSE);

	*channel = 0;
	if (select_response != NULL)
		*select_response = NULL;
	r = ql_vcard_transmit(card, manage, sizeof(manage), error);
	if (r == NULL)
		return FALSE;
	*sw = ql_vcard_response_sw(r);
	if (*sw != 0x9000)
		return TRUE;
	p = g_bytes_get_data(r, &len);
	if (len != 3 || p[0] == 0 || p[0] > QL_VCARD_MAX_CHANNELS) {
		g_set_error(error, QL_ERROR, QL_ERROR_CARD,
			    "the card's answer to MANAGE CHANNEL names no channel (%" G_GSIZE_FORMAT
			    " bytes)",
			    len);
		return FALSE;
	}
	ch = p[0];

	if (!ql_vcard_select_on_channel(card, ch, aid, aid_len, select_p2, data, &status, error)) {
		/* the channel does not outlive the failure */
		ql_vcard_close_logical_channel(card, ch, NULL, NULL);
		return FALSE;
	}
	*channel = ch;
	*sw = status;
	/* a refused SELECT leaves no channel behind, as a terminal's open does */
	if (status != 0x9000)
		return ql_vcard_close_logical_channel(card, ch, NULL, error);
	if (select_response != NULL) {
		g_byte_array_append(data, ok, sizeof(ok));
		*select_response = g_byte_array_free_to_bytes(g_steal_pointer(&data));
	}
	return TRUE;
}
