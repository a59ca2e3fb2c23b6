/*
 * The APDU layer: class bytes for logical channels, GET RESPONSE on 61xx, repeat on 6Cxx,
 * status words turned into errors, and STORE DATA segmentation (GlobalPlatform 2.2, as used by
 * SGP.22 5.7 for every ES10 command).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

#include "quantra-l/ql-apdu-util.h"
#include "ql-device.h"

G_BEGIN_DECLS

#define QL_APDU_MAX_RESPONSE (1024 * 1024)

/* Sends one command APDU already built and collects the whole answer: 61xx -> GET RESPONSE
 * until 9000, 6Cxx -> repeated with Le=xx. Any other final status word is a QL_ERROR_CARD
 * error. Returns the data without SW. */
GBytes *ql_apdu_transceive_apdu(QlChannel *ch, GBytes *command, GError **error);

/* Splits @len bytes into STORE DATA commands of at most @block bytes for @channel: P1 0x11 for
 * every block but the last (0x91), P2 the block number, Le=00 on the last. Returns GBytes APDUs. */
GPtrArray *ql_apdu_store_data_build(guint8 channel, const guint8 *data, gsize len, gsize block);

/* Sends @data as STORE DATA blocks on @ch and returns the card's answer to the last block. */
GBytes *ql_apdu_store_data(QlChannel *ch, const guint8 *data, gsize len, GError **error);

G_END_DECLS
