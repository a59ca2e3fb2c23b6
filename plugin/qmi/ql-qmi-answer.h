/*
 * Reading the modem's answers to the raw UIM requests (libqmi < 1.36 does not generate Open
 * Logical Channel, Send APDU and Logical Channel): what comes from the modem is judged here, in
 * functions without a device, so the fuzzer (tests/fuzz-qmi.c) reaches them as the plugin does.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <libqmi-glib.h>

#define QL_QMI_TLV_RESULT 0x02

/* The result TLV every answer carries. TRUE for success; else FALSE with @error in
 * QMI_PROTOCOL_ERROR (the modem's error code) and, when the answer carries the card's result
 * (TLV 0x11), its status word in @sw; an answer without a readable result TLV is malformed
 * (another domain). */
gboolean ql_qmi_answer_result(QmiMessage *resp, guint16 *sw, GError **error);

/* The channel number of a successful Open Logical Channel answer (TLV 0x10). */
gboolean ql_qmi_answer_channel(QmiMessage *resp, guint8 *channel, GError **error);

/* The response APDU (data and SW) of a successful Send APDU answer (TLV 0x10, a guint16-counted
 * byte array that must fill its TLV exactly and hold at least the status word). */
GBytes *ql_qmi_answer_apdu(QmiMessage *resp, GError **error);
