/*
 * What a fake modem tells its modem stack about the SIM: the ICCID of the virtual eUICC's enabled
 * profile, as EF ICCID (2FE2) holds it. ModemManager reads it with AT+CRSM=176,12258,0,0,10 on AT
 * modems and UIM Read Transparent on QMI modems, after every re-probe: it is how ModemManager
 * sees a profile switch.
 *
 * The fake asks its own card, through the core's ES10 code on a logical channel to the ISD-R
 * (an in-process plugin over the card), so the answer is the card's state now, never a copy.
 * Header only: both fakes include it and their build lines stay one source each.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

#include "ql-device.h"
#include "ql-es10.h"
#include "ql-tlv.h"
#include "ql-vcard.h"
#include "quantra-l/ql-error.h"
#include "quantra-l/ql-plugin.h"

#define QL_FAKE_SIM_EF_ICCID 0x2FE2

/* One card at a time: the fakes serve one. */
static QlVcard *ql_fake_sim_card;

static QlPluginDevice *
ql_fake_sim_open(const gchar *path, GHashTable *params, GError **error)
{
	return (QlPluginDevice *)ql_fake_sim_card;
}

static void
ql_fake_sim_close(QlPluginDevice *dev)
{
}

static gboolean
ql_fake_sim_open_channel(QlPluginDevice *dev, const guint8 *aid, gsize aid_len, guint8 *channel,
			 GError **error)
{
	guint16 sw = 0;
	if (!ql_vcard_open_logical_channel((QlVcard *)dev, aid, aid_len, 0x00, channel, NULL, &sw,
					   error))
		return FALSE;
	if (sw != 0x9000) {
		g_set_error(error, QL_ERROR, QL_ERROR_CARD, "the card refused the ISD-R: %04X", sw);
		return FALSE;
	}
	return TRUE;
}

static GBytes *
ql_fake_sim_transmit(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize len,
		     GError **error)
{
	return ql_vcard_transmit((QlVcard *)dev, apdu, len, error);
}

static gboolean
ql_fake_sim_close_channel(QlPluginDevice *dev, guint8 channel, GError **error)
{
	return ql_vcard_close_logical_channel((QlVcard *)dev, channel, NULL, error);
}

static const QlPluginInfo ql_fake_sim_plugin = {
	.abi_version = QL_PLUGIN_ABI_VERSION,
	.scheme = "fake-sim",
	.description = "the fake modem's own card, read in-process",
	.open = ql_fake_sim_open,
	.close = ql_fake_sim_close,
	.open_channel = ql_fake_sim_open_channel,
	.transmit = ql_fake_sim_transmit,
	.close_channel = ql_fake_sim_close_channel,
};

/* The enabled profile's ICCID, or NULL (and @error) when none is enabled or the card failed. */
static G_GNUC_UNUSED gchar *
ql_fake_sim_enabled_iccid(QlVcard *card, GError **error)
{
	g_autoptr(GHashTable) params = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(QlDevice) dev = NULL;
	g_autoptr(QlChannel) ch = NULL;
	g_autoptr(GPtrArray) profiles = NULL;

	ql_fake_sim_card = card;
	dev = ql_device_new_for_plugin(&ql_fake_sim_plugin, "card", params, error);
	if (dev == NULL || (ch = ql_channel_open_isdr(dev, error)) == NULL ||
	    (profiles = ql_es10_get_profiles(ch, NULL, error)) == NULL)
		return NULL;
	for (guint i = 0; i < profiles->len; i++) {
		QlProfileInfo *p = g_ptr_array_index(profiles, i);
		if (p->state == QL_PROFILE_STATE_ENABLED)
			return g_strdup(p->iccid);
	}
	g_set_error_literal(error, QL_ERROR, QL_ERROR_NOT_FOUND, "no profile is enabled");
	return NULL;
}

/* EF ICCID's 10 bytes (BCD, nibbles swapped, as in SGP.22's ICCID) of the enabled profile */
static G_GNUC_UNUSED GBytes *
ql_fake_sim_ef_iccid(QlVcard *card, GError **error)
{
	g_autofree gchar *iccid = ql_fake_sim_enabled_iccid(card, error);
	return iccid != NULL ? ql_iccid_to_bcd(iccid, error) : NULL;
}
