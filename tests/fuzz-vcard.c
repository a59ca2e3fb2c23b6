/*
 * libFuzzer target for the virtual eUICC: arbitrary APDU sequences and ES10 commands into a
 * fresh card opened from a temporary state file, and arbitrary state files into ql_vcard_open.
 * Built with -Dfuzzing=true (clang); seeds in tests/data/fuzz-vcard/, e.g.
 *   build-fuzz/tests/fuzz-vcard -max_total_time=240 CORPUS-DIR tests/data/fuzz-vcard
 *
 * Input: byte 0 picks the mode, byte 1 the card's settings (chunk size, 6Cxx quirk, fault).
 *  0: the rest is APDUs, each one length byte then the bytes, on the card as it comes.
 *  1: the rest is ES10 commands, each two length bytes then the bytes, sent as an LPA does
 *     (logical channel, SELECT ISD-R, STORE DATA blocks, GET RESPONSE).
 *  2: the rest is a state file; "@ID@" stands for a valid identity object and "@EID@" for its
 *     EID, so that the fuzzer reaches past the certificates.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-tlv.h"
#include "ql-vcard.h"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static gchar *fuzz_dir;
static gchar *fuzz_state;
static gchar *fuzz_template; /* a seeded card's state file */
static gsize fuzz_template_len;
static gchar *fuzz_identity_json; /* its "identity" object */
static gchar *fuzz_eid;

static void
fuzz_log_quiet(const gchar *log_domain, GLogLevelFlags log_level, const gchar *message,
	       gpointer user_data)
{
}

/* the temporary folder holds test keys: it goes when the fuzzer ends */
static void
fuzz_cleanup(void)
{
	g_autoptr(GDir) d = g_dir_open(fuzz_dir, 0, NULL);
	const gchar *name;
	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		g_autofree gchar *path = g_build_filename(fuzz_dir, name, NULL);
		g_remove(path);
	}
	g_rmdir(fuzz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlVcard) card = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree gchar *template_path = NULL;
	const gchar *base = g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : NULL;
	JsonObject *root;

	g_log_set_default_handler(fuzz_log_quiet, NULL);
	fuzz_dir = base != NULL ? g_build_filename(base, "ql-fuzz-vcard-XXXXXX", NULL)
				: g_build_filename(g_get_tmp_dir(), "ql-fuzz-vcard-XXXXXX", NULL);
	g_assert_nonnull(g_mkdtemp(fuzz_dir));
	atexit(fuzz_cleanup);
	fuzz_state = g_build_filename(fuzz_dir, "card.json", NULL);
	template_path = g_build_filename(fuzz_dir, "template.json", NULL);

	/* a card with profiles and notifications, made once: making keys is slow */
	card = ql_vcard_open(template_path, NULL, &error);
	g_assert_no_error(error);
	g_assert_true(ql_vcard_seed(card, 2, &error));
	{
		/* enable profile 1 (queues a notification), through the card itself */
		guint8 ch = 0;
		guint16 sw = 0;
		g_autoptr(GBytes) sel = NULL;
		const guint8 isdr[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
				       0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00};
		g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
		g_autoptr(GBytes) cmd = NULL;
		g_autoptr(GBytes) r = NULL;
		g_autoptr(GByteArray) apdu = g_byte_array_new();
		guint8 hdr[5] = {0x81, 0xE2, 0x91, 0x00, 0};
		g_assert_true(ql_vcard_open_logical_channel(card, isdr, sizeof(isdr), 0x00, &ch,
							    &sel, &sw, &error));
		g_assert_cmpuint(sw, ==, 0x9000);
		ql_tlv_builder_begin(b, 0xBF31);
		ql_tlv_builder_begin(b, 0xA0);
		{
			/* the first seeded profile's AID */
			const guint8 aid[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
					      0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x10, 0x00};
			ql_tlv_builder_add(b, 0x4F, aid, sizeof(aid));
		}
		ql_tlv_builder_end(b);
		ql_tlv_builder_add(b, 0x81, (const guint8 *)"\xff", 1);
		ql_tlv_builder_end(b);
		cmd = ql_tlv_builder_finish(g_steal_pointer(&b));
		hdr[0] = (guint8)(0x80 | ch);
		hdr[4] = (guint8)g_bytes_get_size(cmd);
		g_byte_array_append(apdu, hdr, 5);
		g_byte_array_append(apdu, g_bytes_get_data(cmd, NULL),
				    (guint)g_bytes_get_size(cmd));
		r = ql_vcard_transmit(card, apdu->data, apdu->len, &error);
		g_assert_no_error(error);
		g_assert_true(ql_vcard_close_logical_channel(card, ch, &sw, &error));
	}
	g_assert_cmpuint(ql_vcard_get_notification_count(card), >, 0);
	fuzz_eid = g_strdup(ql_vcard_get_eid(card));
	g_assert_true(
		g_file_get_contents(template_path, &fuzz_template, &fuzz_template_len, &error));

	g_assert_true(json_parser_load_from_data(parser, fuzz_template, -1, &error));
	root = json_node_get_object(json_parser_get_root(parser));
	json_generator_set_root(gen, json_object_get_member(root, "identity"));
	fuzz_identity_json = json_generator_to_data(gen, NULL);
	return 0;
}

static QlVcard *
fuzz_card_from(const gchar *text, gsize len, GError **error)
{
	g_assert_true(g_file_set_contents(fuzz_state, text, (gssize)len, NULL));
	return ql_vcard_open(fuzz_state, NULL, error);
}

static void
fuzz_settings(QlVcard *card, guint8 flags)
{
	static const guint chunks[] = {256, 1, 7, 255};
	ql_vcard_set_chunk_size(card, chunks[flags & 3]);
	ql_vcard_set_quirk_6c(card, (flags & 4) != 0);
	if (flags & 8)
		ql_vcard_set_fault(card, (QlVcardFault)(1 + (flags >> 4) % 3), (flags >> 6) & 3);
}

/* Checks an answer's form; returns its status word, 0 when there is no answer */
static guint16
fuzz_sw(GBytes *r, GError *error)
{
	gsize len = 0;
	const guint8 *p;
	if (r == NULL) {
		g_assert_nonnull(error);
		return 0;
	}
	g_assert_null(error);
	p = g_bytes_get_data(r, &len);
	g_assert_cmpuint(len, >=, 2);
	g_assert_cmpuint(len, <=, 256 + 2);
	return (guint16)((p[len - 2] << 8) | p[len - 1]);
}

static void
fuzz_apdus(QlVcard *card, const guint8 *p, gsize left)
{
	while (left > 0) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) r = NULL;
		gsize n = MIN(p[0], left - 1);
		r = ql_vcard_transmit(card, p + 1, n, &error);
		if (fuzz_sw(r, error) == 0)
			return;
		p += 1 + n;
		left -= 1 + n;
	}
}

/* One ES10 command as an LPA sends it on @ch: STORE DATA blocks, then GET RESPONSE */
static gboolean
fuzz_es10(QlVcard *card, guint8 ch, const guint8 *cmd, gsize len)
{
	gsize off = 0;
	guint8 block = 0;
	guint16 sw = 0;
	g_autoptr(GByteArray) answer = g_byte_array_new();

	do {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) r = NULL;
		g_autoptr(GByteArray) apdu = g_byte_array_new();
		gsize n = MIN(len - off, 255);
		gboolean last = off + n >= len;
		guint8 hdr[5] = {(guint8)(0x80 | ch), 0xE2, last ? 0x91 : 0x11, block++, (guint8)n};
		g_byte_array_append(apdu, hdr, 5);
		g_byte_array_append(apdu, cmd + off, (guint)n);
		if (last)
			g_byte_array_append(apdu, (const guint8 *)"\x00", 1);
		r = ql_vcard_transmit(card, apdu->data, apdu->len, &error);
		sw = fuzz_sw(r, error);
		if (sw == 0)
			return FALSE;
		if (g_bytes_get_size(r) > 2)
			g_byte_array_append(answer, g_bytes_get_data(r, NULL),
					    (guint)g_bytes_get_size(r) - 2);
		off += n;
	} while (off < len && sw == 0x9000);
	for (guint round = 0; (sw & 0xFF00) == 0x6100 || (sw & 0xFF00) == 0x6C00; round++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) r = NULL;
		const guint8 get[] = {(guint8)(0x80 | ch), 0xC0, 0x00, 0x00, (guint8)(sw & 0xFF)};
		g_assert_cmpuint(round, <, 70000);
		r = ql_vcard_transmit(card, get, sizeof(get), &error);
		sw = fuzz_sw(r, error);
		if (sw == 0)
			return FALSE;
		if ((sw & 0xFF00) != 0x6C00 && g_bytes_get_size(r) > 2)
			g_byte_array_append(answer, g_bytes_get_data(r, NULL),
					    (guint)g_bytes_get_size(r) - 2);
	}
	return TRUE;
}

static void
fuzz_es10_commands(QlVcard *card, const guint8 *p, gsize left)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) sel = NULL;
	const guint8 isdr[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
			       0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00};
	guint8 ch = 0;
	guint16 sw = 0;

	if (!ql_vcard_open_logical_channel(card, isdr, sizeof(isdr), 0x00, &ch, &sel, &sw, &error))
		return;
	g_assert_cmpuint(sw, ==, 0x9000);
	while (left >= 2) {
		gsize n = MIN(((gsize)p[0] << 8) | p[1], left - 2);
		if (n == 0 || !fuzz_es10(card, ch, p + 2, n))
			break;
		p += 2 + n;
		left -= 2 + n;
	}
	(void)ql_vcard_close_logical_channel(card, ch, &sw, NULL);
}

static void
fuzz_state_file(const guint8 *data, gsize size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlVcard) card = NULL;
	g_autofree gchar *text = g_strndup((const gchar *)data, size);
	g_autoptr(GString) s = g_string_new(text);

	g_string_replace(s, "@ID@", fuzz_identity_json, 0);
	g_string_replace(s, "@EID@", fuzz_eid, 0);
	/* the bytes after a NUL too: the loader is given the file's length */
	if (strlen(text) < size)
		g_string_append_len(s, (const gchar *)data + strlen(text) + 1,
				    (gssize)(size - strlen(text) - 1));
	card = fuzz_card_from(s->str, s->len, &error);
	if (card == NULL) {
		g_assert_nonnull(error);
		if (g_getenv("QL_FUZZ_VERBOSE") != NULL)
			g_printerr("state refused: %s\n", error->message);
		return;
	}
	g_assert_no_error(error);
	/* what was loaded is answered and saved back */
	{
		/* GetProfilesInfo (every tag), ListNotification, RetrieveNotificationsList,
		 * EUICCInfo2, SetDefaultDpAddress (a save) */
		static const guint8 cmds[] = {
			0x00, 0x03, 0xBF, 0x2D, 0x00, 0x00, 0x03, 0xBF, 0x28, 0x00,
			0x00, 0x03, 0xBF, 0x2B, 0x00, 0x00, 0x03, 0xBF, 0x22, 0x00,
			0x00, 0x08, 0xBF, 0x3F, 0x05, 0x80, 0x03, 0x61, 0x2E, 0x62,
		};
		fuzz_es10_commands(card, cmds, sizeof(cmds));
	}
	g_clear_pointer(&card, ql_vcard_free);
	/* and what was saved opens again */
	card = ql_vcard_open(fuzz_state, NULL, &error);
	g_assert_no_error(error);
}

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlVcard) card = NULL;

	if (size < 2)
		return 0;
	if (data[0] % 3 == 2) {
		fuzz_state_file(data + 2, size - 2);
		return 0;
	}
	card = fuzz_card_from(fuzz_template, fuzz_template_len, &error);
	g_assert_no_error(error);
	fuzz_settings(card, data[1]);
	if (data[0] % 3 == 0)
		fuzz_apdus(card, data + 2, size - 2);
	else
		fuzz_es10_commands(card, data + 2, size - 2);
	return 0;
}
