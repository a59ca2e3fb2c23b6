/*
 * The virtual eUICC: a software card that answers command APDUs as an SGP.22 v2 eUICC does
 * (logical channels, SELECT of the ISD-R, ES10a/b/c over STORE DATA, 61xx chaining), keeping its
 * profiles, notifications and identity in a JSON state file. Linked by the virtual plugin and by
 * the fake modems of the test suite.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define QL_VCARD_MAX_CHANNELS 19 /* logical channels 1..19, ISO/IEC 7816-4 */
#define QL_VCARD_DEFAULT_CHUNK 256
#define QL_VCARD_DEFAULT_ROOT_DS "lpa.ds.gsma.com"
#define QL_VCARD_TEST_SMDP_ADDRESS "testsmdpplus1.example.com"

typedef struct _QlVcard QlVcard;

/* Test-only faults, so that the core can check how it handles a misbehaving card. */
typedef enum {
	QL_VCARD_FAULT_NONE,
	QL_VCARD_FAULT_MALFORMED, /* the ES10 answer is broken BER (indefinite length) */
	QL_VCARD_FAULT_TRUNCATED, /* the ES10 answer is cut short */
	QL_VCARD_FAULT_SW6F00,	  /* STORE DATA answers 6F00 (no precise diagnosis) */
} QlVcardFault;

/* Opens (or, when @state_path does not exist yet, creates) a card. @identity_dir (nullable)
 * holds eum.pem, euicc.pem, euicc-key.pem and the trusted CIs as PEM files in ci/; without it a new
 * card makes its own CI, EUM and eUICC certificate and keeps them in the state file.
 * Errors name the file: QL_ERROR_IO when its folder is missing or it is unreadable or corrupt
 * (never reset), QL_ERROR_INVALID_ARGUMENT when it belongs to another identity,
 * QL_ERROR_NOT_FOUND when the identity folder lacks a file. */
QlVcard *ql_vcard_open(const gchar *state_path, const gchar *identity_dir, GError **error);
void ql_vcard_free(QlVcard *card);

/* Makes sure @count test profiles have been seeded in this card's lifetime: adds the missing
 * ones (numbered from the last seeded + 1), never brings back deleted ones. */
gboolean ql_vcard_seed(QlVcard *card, guint count, GError **error);

/* One command APDU in, response data || SW1 SW2 out. Card-level errors are status words; the
 * GError is only for real failures (e.g. the state file cannot be written). */
GBytes *ql_vcard_transmit(QlVcard *card, const guint8 *apdu, gsize len, GError **error);

/* Opens a logical channel and selects @aid on it the way a terminal does, through
 * ql_vcard_transmit: MANAGE CHANNEL open, SELECT by DF name with @select_p2 (00: answer the FCI;
 * 0C: no answer, and no Le is sent), GET RESPONSE while the answer comes in pieces.
 * The card's verdict is @sw: 9000 when the channel is open and @aid selected on it; otherwise
 * the status word it refused with and no channel is left open. @channel tells which step was
 * refused: the channel opened (1..19), the one opened and closed again when the SELECT was
 * refused, 0 when MANAGE CHANNEL was (e.g. 6A81: every channel in use).
 * @select_response (nullable) gets the SELECT's whole answer, data || 90 00, on success, else NULL.
 * As for ql_vcard_transmit, FALSE and @error are only for real failures (no channel left open). */
gboolean ql_vcard_open_logical_channel(QlVcard *card, const guint8 *aid, gsize aid_len,
				       guint8 select_p2, guint8 *channel, GBytes **select_response,
				       guint16 *sw, GError **error);
/* MANAGE CHANNEL close of @channel; @sw (nullable) gets 9000, or the status word the card
 * refused with (6881: the channel is not open, 6A86: not a channel that can be closed). */
gboolean ql_vcard_close_logical_channel(QlVcard *card, guint8 channel, guint16 *sw, GError **error);

/* Logical channels (1..19) currently open; fakes assert 0 when a test ends. */
guint ql_vcard_get_open_channels(QlVcard *card);
const gchar *ql_vcard_get_eid(QlVcard *card);
guint ql_vcard_get_profile_count(QlVcard *card);
guint ql_vcard_get_notification_count(QlVcard *card);

/* Size of the pieces a long answer is returned in (61xx), 1..256. */
void ql_vcard_set_chunk_size(QlVcard *card, guint chunk);
/* Arms @fault for the ES10 command that comes after @skip further ES10 commands; it fires once. */
void ql_vcard_set_fault(QlVcard *card, QlVcardFault fault, guint skip);
/* When set, GET RESPONSE whose Le is not exactly the size of the next piece gets 6Cxx. */
void ql_vcard_set_quirk_6c(QlVcard *card, gboolean enabled);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlVcard, ql_vcard_free)

G_END_DECLS
