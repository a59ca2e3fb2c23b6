/*
 * Quantra-L channel plugin ABI.
 *
 * A plugin is a shared module (libql-plugin-NAME.so) exporting exactly one symbol,
 * QL_PLUGIN_ENTRY_SYMBOL, which returns a static QlPluginInfo. The core refuses a module whose
 * abi_version differs from QL_PLUGIN_ABI_VERSION.
 *
 * A plugin opens a device named by the part of a device spec after "SCHEME:" (for
 * "virtual:/tmp/state?seed=2" it receives path "/tmp/state" and the parameters seed=2), then gives
 * the core logical channels: open one to an AID, transmit whole command APDUs on it (the CLA
 * already carries the channel number), close it. After the eUICC has switched profiles the core
 * says so (profile_switched), so that a plugin whose modem would not notice can make it read
 * the card again; plugins never look inside the APDUs they carry.
 *
 * The core loads a plugin once per process and never unloads it: the libraries behind plugins
 * (libqmi, libmbim) register GTypes, which cannot be unregistered.
 *
 * What a plugin may use from the core is in this folder: the error domain (ql-error.h), hex
 * (ql-hex.h) and class byte / status word helpers (ql-apdu-util.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define QL_PLUGIN_ABI_VERSION 2
#define QL_PLUGIN_ENTRY_SYMBOL "ql_plugin_entry"

typedef struct _QlPluginDevice QlPluginDevice; /* opaque, owned by the plugin */

typedef struct {
	guint32 abi_version; /* QL_PLUGIN_ABI_VERSION */
	const gchar *scheme; /* device spec scheme, e.g. "virtual" */
	const gchar *description;

	/* @path: the spec after "SCHEME:" without "?..."; @params: key/value strings, may be empty
	 */
	QlPluginDevice *(*open)(const gchar *path, GHashTable *params, GError **error);
	void (*close)(QlPluginDevice *dev);

	/* Opens a logical channel to @aid (MANAGE CHANNEL + SELECT, or the modem's own request);
	 * returns the channel number (1..19) in @channel. */
	gboolean (*open_channel)(QlPluginDevice *dev, const guint8 *aid, gsize aid_len,
				 guint8 *channel, GError **error);

	/* Sends one command APDU; returns the response data followed by SW1 SW2. */
	GBytes *(*transmit)(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize apdu_len,
			    GError **error);

	gboolean (*close_channel)(QlPluginDevice *dev, guint8 channel, GError **error);

	/* Nullable. Called after the eUICC enabled or disabled a profile, or deleted profiles in a
	 * memory reset, so that the modem reads the card again (QMI: power off/on, MBIM: UICC
	 * reset) when it would not by itself. A plugin that resets the card closes the logical
	 * channels it had open: close_channel on one of them then succeeds without a command, and
	 * transmit on one fails. An error means the switch happened but the modem was not made to
	 * see it. */
	gboolean (*profile_switched)(QlPluginDevice *dev, GError **error);
} QlPluginInfo;

typedef const QlPluginInfo *(*QlPluginEntryFunc)(void);

G_END_DECLS
