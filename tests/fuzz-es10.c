/*
 * libFuzzer target for the ES10 decoders: every ql_es10_* / ql_es10b_* command run against an
 * in-process card whose answers come from the input, through the real APDU layer (61xx, 6Cxx,
 * STORE DATA blocks), and the BPP splitter and ProfileInstallationResult decoder on raw bytes.
 * Built with -Dfuzzing=true (clang); seeds in tests/data/fuzz-es10/, e.g.
 *   build-fuzz/tests/fuzz-es10 -max_total_time=240 CORPUS-DIR tests/data/fuzz-es10
 *
 * Input: byte 0 picks the command, byte 1 the card's manner:
 *  - b0 clear: the rest is the answer data to the first command, given in pieces of
 *    1 + (byte 1 >> 1) bytes through 61xx / GET RESPONSE, then 9000; later commands get 9000.
 *  - b0 set: the rest is a script of answers (data || SW), each one length byte then bytes.
 *  - b7 set: the LPA sends STORE DATA blocks of 16 bytes instead of 255.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "quantra-l/ql-plugin.h"
#include "ql-device.h"
#include "ql-es10.h"
#include "ql-es10b.h"
#include "ql-tlv.h"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);

typedef struct {
	const guint8 *p;
	gsize left;
	gboolean scripted;
	gsize piece;
	gboolean direct_started;
	guint apdus;
} FuzzCard;

static FuzzCard *fuzz_card_current;

static QlPluginDevice *
fuzz_card_open(const gchar *path, GHashTable *params, GError **error)
{
	return (QlPluginDevice *)fuzz_card_current;
}

static void
fuzz_card_close(QlPluginDevice *dev)
{
}

static gboolean
fuzz_card_open_channel(QlPluginDevice *dev, const guint8 *aid, gsize aid_len, guint8 *channel,
		       GError **error)
{
	*channel = 1;
	return TRUE;
}

static gboolean
fuzz_card_close_channel(QlPluginDevice *dev, guint8 channel, GError **error)
{
	return TRUE;
}

static GBytes *
fuzz_card_transmit(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize len,
		   GError **error)
{
	FuzzCard *c = (FuzzCard *)dev;
	g_autoptr(GByteArray) out = g_byte_array_new();

	g_assert(len >= 4);
	g_assert(len <= 5 + 255 + 1);
	/* a real card would not talk for ever; neither does this one */
	if (++c->apdus > 20000) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_IO, "fuzz card: too many APDUs");
		return NULL;
	}
	if (c->scripted) {
		gsize n;
		if (c->left == 0) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_IO, "fuzz card: script ends");
			return NULL;
		}
		n = MIN(c->p[0], c->left - 1);
		g_byte_array_append(out, c->p + 1, (guint)n);
		c->p += 1 + n;
		c->left -= 1 + n;
	} else {
		gsize n = MIN(c->piece, c->left);
		guint8 sw[2] = {0x90, 0x00};
		/* a fresh command (not GET RESPONSE) after the answer: nothing more to say */
		if (c->direct_started && apdu[1] != 0xC0) {
			c->p += c->left;
			c->left = 0;
			n = 0;
		}
		c->direct_started = TRUE;
		g_byte_array_append(out, c->p, (guint)n);
		c->p += n;
		c->left -= n;
		if (c->left > 0) {
			sw[0] = 0x61;
			sw[1] = (guint8)MIN(c->left, 256);
		}
		g_byte_array_append(out, sw, 2);
	}
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

static const QlPluginInfo fuzz_card_plugin = {
	.abi_version = QL_PLUGIN_ABI_VERSION,
	.scheme = "fuzz",
	.description = "a card that answers with the fuzzer's bytes",
	.open = fuzz_card_open,
	.close = fuzz_card_close,
	.open_channel = fuzz_card_open_channel,
	.transmit = fuzz_card_transmit,
	.close_channel = fuzz_card_close_channel,
};

static GBytes *
fuzz_hex(const gchar *hex)
{
	return ql_hex_decode(hex, NULL);
}

static void
fuzz_check_profiles(GPtrArray *list)
{
	for (guint i = 0; list != NULL && i < list->len; i++) {
		QlProfileInfo *p = g_ptr_array_index(list, i);
		g_assert(p->iccid != NULL);
		(void)ql_profile_state_to_string(p->state);
		(void)ql_profile_class_to_string(p->profile_class);
	}
}

static void
fuzz_check_notifications(GPtrArray *list, gboolean with_raw)
{
	for (guint i = 0; list != NULL && i < list->len; i++) {
		QlNotification *n = g_ptr_array_index(list, i);
		g_assert(n->address != NULL);
		g_assert(!with_raw || n->raw != NULL);
		(void)ql_notification_event_to_string(n->operation);
	}
}

static void
fuzz_check_install_result(QlInstallResult *r)
{
	if (r == NULL)
		return;
	g_assert(r->raw != NULL);
	(void)ql_install_error_reason_to_string(r->error_reason);
	(void)ql_bpp_command_to_string(r->bpp_command_id);
}

static void
fuzz_check_key_ids(GPtrArray *ids)
{
	for (guint i = 0; ids != NULL && i < ids->len; i++)
		(void)ql_ci_key_id_name(g_ptr_array_index(ids, i));
}

static gboolean
fuzz_op_is_boolean(guint op)
{
	return (op >= 6 && op <= 9) || (op >= 13 && op <= 16);
}

static void
fuzz_run(QlChannel *ch, guint op, const guint8 *rest, gsize rest_len)
{
	g_autoptr(GError) error = NULL;
	gboolean ok = TRUE;
	gpointer res = NULL;

	switch (op) {
	case 0: {
		g_autoptr(QlEuiccInfo1) info = ql_es10_get_euicc_info1(ch, &error);
		if (info != NULL) {
			g_assert(info->svn != NULL && info->raw != NULL);
			fuzz_check_key_ids(info->ci_pkid_verification);
			fuzz_check_key_ids(info->ci_pkid_signing);
		}
		res = info;
		break;
	}
	case 1: {
		g_autoptr(QlEuiccInfo2) info = ql_es10_get_euicc_info2(ch, &error);
		if (info != NULL) {
			g_assert(info->svn != NULL && info->raw != NULL);
			fuzz_check_key_ids(info->ci_pkid_verification);
			fuzz_check_key_ids(info->ci_pkid_signing);
		}
		res = info;
		break;
	}
	case 2: {
		g_autofree gchar *eid = ql_es10_get_eid(ch, &error);
		g_assert(eid == NULL || strlen(eid) == 32);
		res = eid;
		break;
	}
	case 3: {
		g_autoptr(GBytes) c = ql_es10_get_euicc_challenge(ch, &error);
		g_assert(c == NULL || g_bytes_get_size(c) == 16);
		res = c;
		break;
	}
	case 4:
	case 5: {
		QlProfileFilter filter = {.iccid = "8944476500001224158", .profile_class = -1};
		g_autoptr(GPtrArray) list =
			ql_es10_get_profiles(ch, op == 5 ? &filter : NULL, &error);
		fuzz_check_profiles(list);
		res = list;
		break;
	}
	case 6:
		ok = ql_es10_enable_profile(ch, "8944476500001224158", TRUE, &error);
		break;
	case 7:
		ok = ql_es10_disable_profile(ch, "A0000005591010FFFFFFFF8900001000", FALSE, &error);
		break;
	case 8:
		ok = ql_es10_delete_profile(ch, "8944476500001224158", &error);
		break;
	case 9:
		ok = ql_es10_set_nickname(ch, "8944476500001224158", "fuzz", &error);
		break;
	case 10: {
		g_autoptr(GPtrArray) list = ql_es10_list_notifications(ch, &error);
		fuzz_check_notifications(list, FALSE);
		res = list;
		break;
	}
	case 11:
	case 12: {
		g_autoptr(GPtrArray) list =
			ql_es10_retrieve_notifications(ch, op == 11 ? -1 : 5, &error);
		fuzz_check_notifications(list, TRUE);
		res = list;
		break;
	}
	case 13:
		ok = ql_es10_remove_notification(ch, 7, &error);
		break;
	case 14: {
		g_autofree gchar *dp = NULL;
		g_autofree gchar *ds = NULL;
		ok = ql_es10_get_configured_addresses(ch, &dp, &ds, &error);
		break;
	}
	case 15:
		ok = ql_es10_set_default_dp_address(ch, "smdp.example.com", &error);
		break;
	case 16:
		ok = ql_es10_memory_reset(ch, QL_RESET_DELETE_TEST | QL_RESET_DEFAULT_SMDP, &error);
		break;
	case 17: {
		g_autoptr(GPtrArray) rules = ql_es10_get_rat(ch, &error);
		for (guint i = 0; rules != NULL && i < rules->len; i++) {
			QlRatRule *r = g_ptr_array_index(rules, i);
			g_assert(r->allowed_operators != NULL);
		}
		res = rules;
		break;
	}
	case 18: {
		g_autoptr(GBytes) s1 = fuzz_hex("3003800100");
		g_autoptr(GBytes) sig = fuzz_hex("5F370100");
		g_autoptr(GBytes) ci = fuzz_hex("040100");
		g_autoptr(GBytes) cert = fuzz_hex("3000");
		QlDeviceInfo dev = {.tac = "35290611", .imei = "3529061100000001"};
		g_autoptr(GBytes) r = ql_es10b_authenticate_server(ch, s1, sig, ci, cert,
								   "MATCHING", &dev, &error);
		res = r;
		break;
	}
	case 19: {
		g_autoptr(GBytes) s2 = fuzz_hex("3003800100");
		g_autoptr(GBytes) sig = fuzz_hex("5F370100");
		g_autoptr(GBytes) hash = g_bytes_new_static("0123456789abcdef0123456789abcdef", 32);
		g_autoptr(GBytes) cert = fuzz_hex("3000");
		g_autoptr(GBytes) r = ql_es10b_prepare_download(ch, s2, sig, hash, cert, &error);
		res = r;
		break;
	}
	case 20: {
		g_autoptr(GBytes) tid = fuzz_hex("0102030405060708");
		g_autoptr(GBytes) r = ql_es10b_cancel_session(ch, tid, QL_CANCEL_POSTPONED, &error);
		(void)ql_cancel_reason_to_string(QL_CANCEL_POSTPONED);
		res = r;
		break;
	}
	case 21: {
		/* a well-formed BPP; the card's answers to its six commands are the input */
		g_autoptr(GBytes) bpp = fuzz_hex("BF3610 BF2300 A000 A1028800 A3028600");
		g_autoptr(QlInstallResult) r = ql_es10b_load_bpp(ch, bpp, NULL, NULL, &error);
		fuzz_check_install_result(r);
		res = r;
		break;
	}
	case 22: {
		/* the input is the BPP (from the SM-DP+): split it and send it to a quiet card */
		g_autoptr(GBytes) bpp = g_bytes_new(rest, rest_len);
		g_autoptr(GPtrArray) segs = ql_es10b_bpp_segments(bpp, &error);
		if (segs != NULL) {
			gsize total = 0;
			g_assert(segs->len >= 4);
			for (guint i = 0; i < segs->len; i++)
				total += g_bytes_get_size(g_ptr_array_index(segs, i));
			g_assert_cmpuint(total, <=, rest_len);
		}
		res = segs;
		break;
	}
	case 23: {
		g_autoptr(GBytes) bf37 = g_bytes_new(rest, rest_len);
		g_autoptr(QlInstallResult) r = ql_es10b_parse_install_result(bf37, &error);
		fuzz_check_install_result(r);
		res = r;
		break;
	}
	default: {
		g_autoptr(GBytes) req = fuzz_hex("BF2D00");
		g_autoptr(GBytes) r = ql_es10_transceive(ch, req, 0xBF2D, &error);
		if (r != NULL)
			g_assert(ql_tlv_validate(g_bytes_get_data(r, NULL), g_bytes_get_size(r),
						 QL_TLV_MAX_DEPTH, NULL));
		res = r;
		break;
	}
	}
	/* every failure says why; a success leaves no error behind */
	if (!fuzz_op_is_boolean(op))
		ok = res != NULL;
	g_assert(ok == (error == NULL));
}

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	FuzzCard card = {0};
	g_autoptr(QlDevice) dev = NULL;
	g_autoptr(GHashTable) params = NULL;
	QlChannel *ch;
	guint op;

	if (size < 2)
		return 0;
	op = data[0] % 25;
	card.scripted = (data[1] & 1) != 0;
	card.piece = 1 + (data[1] >> 1);
	card.p = data + 2;
	card.left = size - 2;
	fuzz_card_current = &card;

	params = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	/* small blocks sometimes, so that the STORE DATA chaining is walked too */
	if (data[1] & 0x80)
		g_hash_table_insert(params, g_strdup("block"), g_strdup("16"));
	dev = ql_device_new_for_plugin(&fuzz_card_plugin, "fuzz", params, NULL);
	g_assert(dev != NULL);
	ch = ql_channel_open_isdr(dev, NULL);
	g_assert(ch != NULL);
	fuzz_run(ch, op, data + 2, size - 2);
	ql_channel_free(ch);
	fuzz_card_current = NULL;
	return 0;
}
