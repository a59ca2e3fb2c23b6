/*
 * The "virtual" channel plugin: device spec virtual:STATEFILE[?params], a software eUICC kept in
 * STATEFILE. Channels are opened with real MANAGE CHANNEL and SELECT APDUs, so the core's code
 * paths are the ones it uses with a card.
 *
 * Parameters:
 *   identity=DIR   eum.pem, euicc.pem, euicc-key.pem and ci/ of trusted CIs (default: the card
 *                  makes its own and keeps it in the state file)
 *   seed=N         make sure N test profiles have been seeded in the card's lifetime
 * Test-only fault injection:
 *   fault=malformed|truncated|sw6f00   break the next ES10 command's answer (once)
 *   fault_skip=N   ... after N further ES10 commands have run normally
 *   chunk=N        pieces of N bytes (1..256) for long answers (61xx)
 *   quirk=6c       GET RESPONSE with a wrong Le gets 6Cxx and must be repeated
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gmodule.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "quantra-l/ql-hex.h"
#include "quantra-l/ql-plugin.h"
#include "ql-vcard.h"

struct _QlPluginDevice {
	QlVcard *card;
	guint32 open_channels; /* bit n: channel n was opened through this device */
};

static gboolean
ql_plugin_virtual_parse_uint(GHashTable *params, const gchar *key, guint64 min, guint64 max,
			     guint64 *out, GError **error)
{
	const gchar *v = g_hash_table_lookup(params, key);
	g_autoptr(GError) error_local = NULL;
	if (v == NULL)
		return TRUE;
	if (!g_ascii_string_to_unsigned(v, 10, min, max, out, &error_local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "virtual: %s=%s is not a number from %" G_GUINT64_FORMAT
			    " to %" G_GUINT64_FORMAT,
			    key, v, min, max);
		return FALSE;
	}
	return TRUE;
}

static void
ql_plugin_virtual_close(QlPluginDevice *dev)
{
	if (dev == NULL)
		return;
	/* a device that goes away leaves no channel open on the card */
	for (guint8 ch = 1; ch <= QL_VCARD_MAX_CHANNELS; ch++) {
		if ((dev->open_channels & (1u << ch)) != 0)
			ql_vcard_close_logical_channel(dev->card, ch, NULL, NULL);
	}
	ql_vcard_free(dev->card);
	g_free(dev);
}

static QlPluginDevice *
ql_plugin_virtual_open(const gchar *path, GHashTable *params, GError **error)
{
	/* block and isd-r belong to the core, which every device spec may carry */
	const gchar *const known[] = {"identity", "seed",  "fault", "fault_skip", "chunk",
				      "quirk",	  "block", "isd-r", NULL};
	g_autoptr(QlVcard) card = NULL;
	QlPluginDevice *dev;
	GHashTableIter it;
	gpointer key;
	guint64 seed = 0, chunk = QL_VCARD_DEFAULT_CHUNK, skip = 0;
	const gchar *fault = NULL, *quirk = NULL;

	if (params != NULL) {
		g_hash_table_iter_init(&it, params);
		while (g_hash_table_iter_next(&it, &key, NULL)) {
			if (!g_strv_contains(known, key)) {
				g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    "virtual: unknown parameter '%s'", (const gchar *)key);
				return NULL;
			}
		}
		if (!ql_plugin_virtual_parse_uint(params, "seed", 0, 1000, &seed, error) ||
		    !ql_plugin_virtual_parse_uint(params, "chunk", 1, 256, &chunk, error) ||
		    !ql_plugin_virtual_parse_uint(params, "fault_skip", 0, 100000, &skip, error))
			return NULL;
		fault = g_hash_table_lookup(params, "fault");
		quirk = g_hash_table_lookup(params, "quirk");
	}
	if (quirk != NULL && g_strcmp0(quirk, "6c") != 0 && g_strcmp0(quirk, "6C") != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "virtual: unknown quirk '%s' (known: 6c)", quirk);
		return NULL;
	}
	card = ql_vcard_open(path, params != NULL ? g_hash_table_lookup(params, "identity") : NULL,
			     error);
	if (card == NULL)
		return NULL;
	if (seed > 0 && !ql_vcard_seed(card, (guint)seed, error))
		return NULL;
	ql_vcard_set_chunk_size(card, (guint)chunk);
	ql_vcard_set_quirk_6c(card, quirk != NULL);
	if (fault != NULL) {
		QlVcardFault f;
		if (g_strcmp0(fault, "malformed") == 0) {
			f = QL_VCARD_FAULT_MALFORMED;
		} else if (g_strcmp0(fault, "truncated") == 0) {
			f = QL_VCARD_FAULT_TRUNCATED;
		} else if (g_strcmp0(fault, "sw6f00") == 0) {
			f = QL_VCARD_FAULT_SW6F00;
		} else {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "virtual: unknown fault '%s' (known: malformed, truncated, "
				    "sw6f00)",
				    fault);
			return NULL;
		}
		ql_vcard_set_fault(card, f, (guint)skip);
	}
	dev = g_new0(QlPluginDevice, 1);
	dev->card = g_steal_pointer(&card);
	return dev;
}

static gboolean
ql_plugin_virtual_close_channel(QlPluginDevice *dev, guint8 channel, GError **error)
{
	guint16 sw = 0;
	if (!ql_vcard_close_logical_channel(dev->card, channel, &sw, error))
		return FALSE;
	dev->open_channels &= ~(1u << (channel & 0x1f));
	if (sw != 0x9000) {
		g_set_error(error, QL_ERROR, QL_ERROR_CARD,
			    "virtual: closing logical channel %u failed with status %04X", channel,
			    sw);
		return FALSE;
	}
	return TRUE;
}

static gboolean
ql_plugin_virtual_open_channel(QlPluginDevice *dev, const guint8 *aid, gsize aid_len,
			       guint8 *channel, GError **error)
{
	guint8 ch = 0;
	guint16 sw = 0;

	if (aid_len < 5 || aid_len > 16) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "virtual: an AID of %" G_GSIZE_FORMAT " bytes", aid_len);
		return FALSE;
	}
	/* nothing here needs the FCI */
	if (!ql_vcard_open_logical_channel(dev->card, aid, aid_len, 0x00, &ch, NULL, &sw, error))
		return FALSE;
	if (sw != 0x9000 && ch == 0) {
		g_set_error(error, QL_ERROR, sw == 0x6A81 ? QL_ERROR_BUSY : QL_ERROR_CARD,
			    "virtual: MANAGE CHANNEL failed with status %04X", sw);
		return FALSE;
	}
	if (sw != 0x9000) {
		g_autofree gchar *hex = ql_hex_encode(aid, aid_len);
		g_set_error(error, QL_ERROR, sw == 0x6A82 ? QL_ERROR_NOT_FOUND : QL_ERROR_CARD,
			    "virtual: SELECT %s failed with status %04X", hex, sw);
		return FALSE;
	}
	dev->open_channels |= 1u << ch;
	*channel = ch;
	return TRUE;
}

static GBytes *
ql_plugin_virtual_transmit(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize apdu_len,
			   GError **error)
{
	return ql_vcard_transmit(dev->card, apdu, apdu_len, error);
}

static const QlPluginInfo ql_plugin_virtual_info = {
	.abi_version = QL_PLUGIN_ABI_VERSION,
	.scheme = "virtual",
	.description = "Software eUICC kept in a state file (tests, demos)",
	.open = ql_plugin_virtual_open,
	.close = ql_plugin_virtual_close,
	.open_channel = ql_plugin_virtual_open_channel,
	.transmit = ql_plugin_virtual_transmit,
	.close_channel = ql_plugin_virtual_close_channel,
};

G_MODULE_EXPORT const QlPluginInfo *ql_plugin_entry(void);

G_MODULE_EXPORT const QlPluginInfo *
ql_plugin_entry(void)
{
	return &ql_plugin_virtual_info;
}
