/*
 * libFuzzer target for what a QMI modem answers to the UIM requests quantra-l builds itself
 * (libqmi < 1.36: Open Logical Channel 0x0042, Send APDU 0x003B, Logical Channel 0x003F): the
 * plugin's readers in plugin/qmi/ql-qmi-answer.c on an answer made from the input.
 * Byte 0: bit 0 clear, the rest is a list of TLVs (type, 16-bit little-endian length, value;
 * a length past the end takes what is left) written into a UIM response; bit 0 set, the rest is
 * a whole QMUX frame as the modem sends it (qmi_message_new_from_raw checks its framing).
 * Bits 1-2 pick the reader as the plugin calls them after each request. Seeds in
 * tests/data/fuzz-qmi/ are the answers the fake QMI modem (tests/qmi) gives in a real session;
 * scripts/fuzz runs it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "quantra-l/ql-error.h"
#include "ql-qmi-answer.h"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);

static QmiMessage *
fuzz_message(const guint8 *data, gsize size, gboolean raw)
{
	QmiMessage *m;
	gsize off = 0;

	if (raw) {
		g_autoptr(GByteArray) buf = g_byte_array_new();
		g_byte_array_append(buf, data, (guint)size);
		return qmi_message_new_from_raw(buf, NULL);
	}
	m = qmi_message_new(QMI_SERVICE_UIM, 1, 1, 0x003B);
	while (off + 3 <= size) {
		guint8 type = data[off];
		gsize len = data[off + 1] | (gsize)data[off + 2] << 8;
		gsize init;
		off += 3;
		len = MIN(len, size - off);
		init = qmi_message_tlv_write_init(m, type, NULL);
		if (init == 0)
			break;
		for (gsize i = 0; i < len; i++)
			qmi_message_tlv_write_guint8(m, data[off + i], NULL);
		qmi_message_tlv_write_complete(m, init, NULL);
		off += len;
	}
	return m;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	g_autoptr(QmiMessage) m = NULL;
	g_autoptr(GError) error = NULL;
	guint16 sw = 0;
	gboolean ok;

	if (size < 1)
		return 0;
	m = fuzz_message(data + 1, size - 1, (data[0] & 1) != 0);
	if (m == NULL)
		return 0;
	ok = ql_qmi_answer_result(m, &sw, &error);
	g_assert(ok == (error == NULL));
	if (!ok)
		return 0;
	switch ((data[0] >> 1) & 3) {
	case 0: {
		guint8 channel = 0;
		g_assert(ql_qmi_answer_channel(m, &channel, &error) == (error == NULL));
		break;
	}
	case 1: {
		g_autoptr(GBytes) r = ql_qmi_answer_apdu(m, &error);
		g_assert((r == NULL) != (error == NULL));
		if (r != NULL)
			g_assert_cmpuint(g_bytes_get_size(r), >=, 2);
		break;
	}
	default:
		break; /* Logical Channel (close): the result is all */
	}
	return 0;
}
