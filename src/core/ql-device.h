/*
 * Devices and logical channels: loads the channel plugin a device spec names and keeps the
 * counters (APDUs, bytes) that the benchmarks and `--json` reports print.
 *
 * A device spec is "SCHEME:PATH[?key=value[&key=value...]]". The core itself takes two
 * parameters every plugin accepts: "isd-r=AID" (hex) and "block=N" (STORE DATA block size).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

#include "quantra-l/ql-plugin.h"

G_BEGIN_DECLS

#define QL_ISDR_AID "A0000005591010FFFFFFFF8900000100"

typedef struct _QlDevice QlDevice;
typedef struct _QlChannel QlChannel;

typedef struct {
	guint64 apdus;		    /* command APDUs sent, GET RESPONSE included */
	guint64 bytes_out;	    /* command APDU bytes sent */
	guint64 bytes_in;	    /* response bytes received, status words included */
	guint64 store_data_payload; /* ES10 payload bytes carried by STORE DATA */
} QlChannelStats;

/* Splits a spec; @params gets key -> value (strings). */
gboolean ql_device_spec_parse(const gchar *spec, gchar **scheme, gchar **path, GHashTable **params,
			      GError **error);

/* TRUE when the running program is one of our build tree's */
gboolean ql_running_uninstalled(void);

/* The directories searched for plugins: $QL_PLUGIN_DIR (':'-separated), the build tree when this
 * program runs uninstalled, then the installed plugin directory. */
GStrv ql_device_plugin_dirs(void);

QlDevice *ql_device_open(const gchar *spec, GError **error);
/* A device served by a plugin already in this process (tests, fakes, built-ins). */
QlDevice *ql_device_new_for_plugin(const QlPluginInfo *plugin, const gchar *path,
				   GHashTable *params, GError **error);
void ql_device_free(QlDevice *dev);
const gchar *ql_device_get_param(QlDevice *dev, const gchar *key);
/* Tells the plugin that the eUICC switched profiles (see QlPluginInfo.profile_switched). */
gboolean ql_device_profile_switched(QlDevice *dev, GError **error);

/* Opens a logical channel to the ISD-R (or the "isd-r" parameter's AID). */
QlChannel *ql_channel_open_isdr(QlDevice *dev, GError **error);
QlChannel *ql_channel_open(QlDevice *dev, const guint8 *aid, gsize aid_len, GError **error);
/* Closes the channel (errors are logged: there is nothing the caller could do) and frees it. */
void ql_channel_free(QlChannel *ch);
QlDevice *ql_channel_get_device(QlChannel *ch);
guint8 ql_channel_get_number(QlChannel *ch);
gsize ql_channel_get_block_size(QlChannel *ch);
QlChannelStats *ql_channel_get_stats(QlChannel *ch);
/* Sends one raw APDU and returns data || SW1 SW2; counts it. */
GBytes *ql_channel_transmit_raw(QlChannel *ch, const guint8 *apdu, gsize len, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlDevice, ql_device_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlChannel, ql_channel_free)

G_END_DECLS
