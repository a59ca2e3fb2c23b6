/*
 * APDU layer. See ql-apdu.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-apdu.h"

#define QL_APDU_INS_GET_RESPONSE 0xC0
#define QL_APDU_INS_STORE_DATA 0xE2
/* a card that keeps answering 61xx / 6Cxx forever must not keep us here */
#define QL_APDU_MAX_ROUNDS 8192

guint8
ql_apdu_cla(guint8 channel, gboolean proprietary)
{
	guint8 b8 = proprietary ? 0x80 : 0x00;
	if (channel <= 3)
		return b8 | channel;
	return b8 | 0x40 | ((channel - 4) & 0x0f);
}

guint8
ql_apdu_cla_channel(guint8 cla)
{
	if (cla & 0x40)
		return 4 + (cla & 0x0f);
	return cla & 0x03;
}

const gchar *
ql_apdu_sw_describe(guint16 sw)
{
	switch (sw) {
	case 0x6581:
		return "memory failure";
	case 0x6700:
		return "wrong length";
	case 0x6881:
		return "logical channel not supported or not open";
	case 0x6882:
		return "secure messaging not supported";
	case 0x6985:
		return "conditions of use not satisfied";
	case 0x6982:
		return "security status not satisfied";
	case 0x6A80:
		return "incorrect data";
	case 0x6A81:
		return "function not supported";
	case 0x6A82:
		return "application not found";
	case 0x6A84:
		return "not enough memory";
	case 0x6A86:
		return "incorrect P1/P2";
	case 0x6A88:
		return "referenced data not found";
	case 0x6D00:
		return "instruction not supported";
	case 0x6E00:
		return "class not supported";
	case 0x6F00:
		return "unknown card error";
	default:
		break;
	}
	if ((sw & 0xff00) == 0x6400 || (sw & 0xff00) == 0x6500)
		return "execution error";
	if ((sw & 0xff00) == 0x6A00)
		return "wrong parameters";
	return "unexpected status";
}

static GBytes *
ql_apdu_build(guint8 cla, guint8 ins, guint8 p1, guint8 p2, const guint8 *data, gsize len,
	      gboolean with_le, guint8 le)
{
	GByteArray *a = g_byte_array_sized_new(len + 6);
	guint8 hdr[4] = {cla, ins, p1, p2};
	g_byte_array_append(a, hdr, 4);
	if (len > 0) {
		guint8 lc = (guint8)len;
		g_byte_array_append(a, &lc, 1);
		g_byte_array_append(a, data, (guint)len);
	}
	if (with_le)
		g_byte_array_append(a, &le, 1);
	return g_byte_array_free_to_bytes(a);
}

GBytes *
ql_apdu_transceive_apdu(QlChannel *ch, GBytes *command, GError **error)
{
	g_autoptr(GByteArray) answer = g_byte_array_new();
	g_autoptr(GBytes) apdu = g_bytes_ref(command);
	gsize clen = 0;
	const guint8 *c = g_bytes_get_data(command, &clen);
	gboolean in_get_response = FALSE;

	g_return_val_if_fail(clen >= 4, NULL);
	for (guint round = 0; round < QL_APDU_MAX_ROUNDS; round++) {
		g_autoptr(GBytes) resp = NULL;
		const guint8 *r;
		gsize rlen;
		guint8 sw1, sw2;

		resp = ql_channel_transmit_raw(ch, g_bytes_get_data(apdu, NULL),
					       g_bytes_get_size(apdu), error);
		if (resp == NULL)
			return NULL;
		r = g_bytes_get_data(resp, &rlen);
		sw1 = r[rlen - 2];
		sw2 = r[rlen - 1];
		if (sw1 != 0x6C)
			g_byte_array_append(answer, r, (guint)(rlen - 2));
		if (answer->len > QL_APDU_MAX_RESPONSE) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the card's answer is longer than %u bytes",
				    QL_APDU_MAX_RESPONSE);
			return NULL;
		}
		if (sw1 == 0x90 && sw2 == 0x00)
			return g_byte_array_free_to_bytes(g_steal_pointer(&answer));
		g_clear_pointer(&apdu, g_bytes_unref);
		if (sw1 == 0x61) {
			/* more data waits: fetch it on the same channel */
			apdu = ql_apdu_build(c[0], QL_APDU_INS_GET_RESPONSE, 0x00, 0x00, NULL, 0,
					     TRUE, sw2);
			in_get_response = TRUE;
			continue;
		}
		if (sw1 == 0x6C) {
			/* wrong Le: repeat the last command with the length the card asks for */
			if (in_get_response) {
				apdu = ql_apdu_build(c[0], QL_APDU_INS_GET_RESPONSE, 0x00, 0x00,
						     NULL, 0, TRUE, sw2);
			} else {
				/* same command, its Le (last byte if present) replaced */
				gsize body = clen > 5 ? 5 + c[4] : 4;
				g_autoptr(GByteArray) a = g_byte_array_new();
				g_byte_array_append(a, c, (guint)MIN(body, clen));
				g_byte_array_append(a, &sw2, 1);
				apdu = g_byte_array_free_to_bytes(g_steal_pointer(&a));
			}
			continue;
		}
		g_set_error(error, QL_ERROR, QL_ERROR_CARD,
			    "the card answered %02X%02X (%s) to %02X%02X%02X%02X", sw1, sw2,
			    ql_apdu_sw_describe((guint16)((sw1 << 8) | sw2)), c[0], c[1], c[2],
			    c[3]);
		return NULL;
	}
	g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the card keeps asking for more GET RESPONSE rounds");
	return NULL;
}

GPtrArray *
ql_apdu_store_data_build(guint8 channel, const guint8 *data, gsize len, gsize block)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	guint8 cla = ql_apdu_cla(channel, TRUE);
	gsize nblocks = len == 0 ? 1 : (len + block - 1) / block;

	for (gsize i = 0; i < nblocks; i++) {
		gsize off = i * block;
		gsize n = MIN(block, len - off);
		gboolean last = i + 1 == nblocks;
		g_ptr_array_add(out, ql_apdu_build(cla, QL_APDU_INS_STORE_DATA, last ? 0x91 : 0x11,
						   (guint8)i, data + off, n, last, 0x00));
	}
	return out;
}

GBytes *
ql_apdu_store_data(QlChannel *ch, const guint8 *data, gsize len, GError **error)
{
	g_autoptr(GPtrArray) blocks = NULL;
	gsize block = ql_channel_get_block_size(ch);

	if (len > 256 * block) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "%" G_GSIZE_FORMAT " bytes need more than 256 STORE DATA blocks", len);
		return NULL;
	}
	ql_channel_get_stats(ch)->store_data_payload += len;
	blocks = ql_apdu_store_data_build(ql_channel_get_number(ch), data, len, block);
	for (guint i = 0; i < blocks->len; i++) {
		g_autoptr(GBytes) resp =
			ql_apdu_transceive_apdu(ch, g_ptr_array_index(blocks, i), error);
		if (resp == NULL)
			return NULL;
		if (i + 1 == blocks->len)
			return g_steal_pointer(&resp);
	}
	g_assert_not_reached();
}
