/*
 * Reading the modem's MS UICC low-level access answers. See ql-mbim-answer.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "quantra-l/ql-error.h"
#include "ql-mbim-answer.h"

guint16
ql_mbim_answer_sw(guint32 status)
{
	return (guint16)(((status & 0xff) << 8) | ((status >> 8) & 0xff));
}

gboolean
ql_mbim_answer_open_channel(const MbimMessage *response, const gchar *what, guint32 *channel,
			    guint16 *sw, GError **error)
{
	g_autoptr(GError) local = NULL;
	guint32 status = 0;

	if (!mbim_message_ms_uicc_low_level_access_open_channel_response_parse(
		    response, &status, channel, NULL, NULL, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "mbim: %s: %s", what,
			    local->message);
		return FALSE;
	}
	*sw = ql_mbim_answer_sw(status);
	return TRUE;
}

GBytes *
ql_mbim_answer_apdu(const MbimMessage *response, const gchar *what, GError **error)
{
	g_autoptr(GError) local = NULL;
	const guint8 *data = NULL;
	guint32 status = 0, data_len = 0;
	GByteArray *out;
	guint16 sw;

	if (!mbim_message_ms_uicc_low_level_access_apdu_response_parse(response, &status, &data_len,
								       &data, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "mbim: %s: unreadable answer: %s",
			    what, local->message);
		return NULL;
	}
	sw = ql_mbim_answer_sw(status);
	if ((sw >> 8) < 0x61 || (sw >> 8) > 0x9F || (status >> 16) != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "mbim: %s: the modem returned no valid status word (0x%08X)", what,
			    status);
		return NULL;
	}
	if (data_len > 256) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "mbim: %s: an answer of %u bytes is longer than a short APDU allows",
			    what, data_len);
		return NULL;
	}
	out = g_byte_array_sized_new(data_len + 2);
	if (data_len > 0)
		g_byte_array_append(out, data, data_len);
	g_byte_array_append(out, (const guint8[]){sw >> 8, sw & 0xFF}, 2);
	return g_byte_array_free_to_bytes(out);
}

gboolean
ql_mbim_answer_close_channel(const MbimMessage *response, const gchar *what, GError **error)
{
	g_autoptr(GError) local = NULL;
	guint32 status = 0;
	guint16 sw;

	if (!mbim_message_ms_uicc_low_level_access_close_channel_response_parse(response, &status,
										&local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "mbim: %s: %s", what,
			    local->message);
		return FALSE;
	}
	sw = ql_mbim_answer_sw(status);
	if (sw != 0x9000) {
		g_set_error(error, QL_ERROR, QL_ERROR_CARD, "mbim: %s: the card answered %04X",
			    what, sw);
		return FALSE;
	}
	return TRUE;
}
