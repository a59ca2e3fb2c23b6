/*
 * libFuzzer target for what an MBIM modem answers to the MS UICC low-level access commands
 * (open channel, APDU, close channel): the plugin's readers in plugin/mbim/ql-mbim-answer.c on a
 * COMMAND_DONE message made from the input. Byte 0: bits 0-1 pick the command; bit 2 set, the
 * rest is a whole MBIM message as the modem sends it (it must pass mbim_message_validate);
 * clear, the rest is the information buffer of a COMMAND_DONE for that command, status success.
 * Seeds in tests/data/fuzz-mbim/ are the answers the fake MBIM modem (tests/mbim) gives in a
 * real session; scripts/fuzz runs it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-mbim-answer.h"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);

static void
put32(GByteArray *b, guint32 v)
{
	guint32 le = GUINT32_TO_LE(v);
	g_byte_array_append(b, (const guint8 *)&le, 4);
}

/* A COMMAND_DONE of the MS UICC low-level access service (MBIM 1.0 9.1, 9.4.3) */
static MbimMessage *
fuzz_command_done(guint32 cid, const guint8 *info, gsize len)
{
	g_autoptr(GByteArray) b = g_byte_array_new();
	const MbimUuid *uuid = mbim_uuid_from_service(MBIM_SERVICE_MS_UICC_LOW_LEVEL_ACCESS);

	put32(b, MBIM_MESSAGE_TYPE_COMMAND_DONE);
	put32(b, (guint32)(48 + len));
	put32(b, 1); /* transaction id */
	put32(b, 1); /* fragments: total */
	put32(b, 0); /* fragments: current */
	g_byte_array_append(b, (const guint8 *)uuid, sizeof(*uuid));
	put32(b, cid);
	put32(b, MBIM_STATUS_ERROR_NONE);
	put32(b, (guint32)len);
	g_byte_array_append(b, info, (guint)len);
	return mbim_message_new(b->data, b->len);
}

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	static const guint32 cids[] = {MBIM_CID_MS_UICC_LOW_LEVEL_ACCESS_OPEN_CHANNEL,
				       MBIM_CID_MS_UICC_LOW_LEVEL_ACCESS_APDU,
				       MBIM_CID_MS_UICC_LOW_LEVEL_ACCESS_CLOSE_CHANNEL,
				       MBIM_CID_MS_UICC_LOW_LEVEL_ACCESS_APDU};
	g_autoptr(MbimMessage) m = NULL;
	g_autoptr(GError) error = NULL;
	guint which;

	if (size < 1)
		return 0;
	which = data[0] & 3;
	if (data[0] & 4) {
		m = mbim_message_new(data + 1, size - 1);
		if (!mbim_message_validate(m, NULL) ||
		    mbim_message_get_message_type(m) != MBIM_MESSAGE_TYPE_COMMAND_DONE)
			return 0;
	} else {
		m = fuzz_command_done(cids[which], data + 1, size - 1);
	}
	switch (which) {
	case 0: {
		guint32 channel = 0;
		guint16 sw = 0;
		g_assert(ql_mbim_answer_open_channel(m, "fuzz", &channel, &sw, &error) ==
			 (error == NULL));
		break;
	}
	case 2:
		g_assert(ql_mbim_answer_close_channel(m, "fuzz", &error) == (error == NULL));
		break;
	default: {
		g_autoptr(GBytes) r = ql_mbim_answer_apdu(m, "fuzz", &error);
		g_assert((r == NULL) != (error == NULL));
		if (r != NULL)
			g_assert_cmpuint(g_bytes_get_size(r), >=, 2);
		break;
	}
	}
	return 0;
}
