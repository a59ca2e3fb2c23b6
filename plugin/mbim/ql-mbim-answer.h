/*
 * Reading the modem's answers to the MS UICC low-level access commands (open channel, APDU,
 * close channel): what comes from the modem is judged here, in functions without a device, so
 * the fuzzer (tests/fuzz-mbim.c) reaches them as the plugin does. @what names the command in
 * the error messages.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <libmbim-glib.h>

/* MBIM carries the status words as bytes SW1 SW2 in a little-endian 32-bit field */
guint16 ql_mbim_answer_sw(guint32 status);

/* The channel and the card's status word of an open channel answer. */
gboolean ql_mbim_answer_open_channel(const MbimMessage *response, const gchar *what,
				     guint32 *channel, guint16 *sw, GError **error);

/* The response APDU (data and SW) of an APDU answer: a valid status word, at most 256 bytes. */
GBytes *ql_mbim_answer_apdu(const MbimMessage *response, const gchar *what, GError **error);

/* TRUE when the close channel answer says 9000. */
gboolean ql_mbim_answer_close_channel(const MbimMessage *response, const gchar *what,
				      GError **error);
