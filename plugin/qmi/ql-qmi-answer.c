/*
 * Reading the modem's answers to the raw UIM requests. See ql-qmi-answer.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "quantra-l/ql-error.h"
#include "ql-qmi-answer.h"

gboolean
ql_qmi_answer_result(QmiMessage *resp, guint16 *sw, GError **error)
{
	gsize off = 0, init;
	guint16 status = 0, code = 0, len = 0;
	const guint8 *card;

	init = qmi_message_tlv_read_init(resp, QL_QMI_TLV_RESULT, NULL, error);
	if (init == 0 ||
	    !qmi_message_tlv_read_guint16(resp, init, &off, QMI_ENDIAN_LITTLE, &status, error) ||
	    !qmi_message_tlv_read_guint16(resp, init, &off, QMI_ENDIAN_LITTLE, &code, error))
		return FALSE;
	if (status == 0 && code == 0)
		return TRUE;
	card = qmi_message_get_raw_tlv(resp, 0x11, &len);
	if (sw != NULL && card != NULL && len == 2)
		*sw = (guint16)(card[0] << 8 | card[1]);
	g_set_error(error, QMI_PROTOCOL_ERROR, code, "QMI error 0x%04x", code);
	return FALSE;
}

gboolean
ql_qmi_answer_channel(QmiMessage *resp, guint8 *channel, GError **error)
{
	g_autoptr(GError) local = NULL;
	gsize tlv, off = 0;

	tlv = qmi_message_tlv_read_init(resp, 0x10, NULL, &local);
	if (tlv == 0 || !qmi_message_tlv_read_guint8(resp, tlv, &off, channel, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the modem opened a logical channel but did not say which: %s",
			    local->message);
		return FALSE;
	}
	return TRUE;
}

GBytes *
ql_qmi_answer_apdu(QmiMessage *resp, GError **error)
{
	g_autoptr(GError) local = NULL;
	gsize tlv, off = 0;
	guint16 len = 0, tlv_len = 0;
	const guint8 *raw;

	tlv = qmi_message_tlv_read_init(resp, 0x10, NULL, &local);
	if (tlv == 0 ||
	    !qmi_message_tlv_read_guint16(resp, tlv, &off, QMI_ENDIAN_LITTLE, &len, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the modem's answer to UIM Send APDU has no APDU response: %s",
			    local->message);
		return NULL;
	}
	raw = qmi_message_get_raw_tlv(resp, 0x10, &tlv_len);
	if (raw == NULL || (gsize)len + 2 != tlv_len || len < 2) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the modem's APDU response is %u bytes in a %u-byte field", len,
			    tlv_len);
		return NULL;
	}
	return g_bytes_new(raw + 2, len);
}
