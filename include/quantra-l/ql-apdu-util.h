/*
 * ISO/IEC 7816-4 helpers for plugins and the core: the class byte of a logical channel and the
 * words for a status word.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Class byte for logical @channel (0..19); @proprietary sets b8 (0x80 / 0xC0 forms). */
guint8 ql_apdu_cla(guint8 channel, gboolean proprietary);
/* The logical channel number a class byte carries. */
guint8 ql_apdu_cla_channel(guint8 cla);
/* A few words for status word @sw ("application not found"), for error messages. */
const gchar *ql_apdu_sw_describe(guint16 sw);

G_END_DECLS
