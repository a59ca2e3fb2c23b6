/*
 * A scripted card for unit tests of the APDU and ES10 layers: an in-process plugin that checks
 * each command APDU against the bytes a test wrote from the spec and answers with the bytes the
 * test gives. The virtual eUICC tests cover the same commands against a card that computes its
 * answers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

#include "quantra-l/ql-error.h"
#include "quantra-l/ql-plugin.h"
#include "ql-device.h"
#include "ql-tlv.h"

typedef struct {
	GPtrArray *expect; /* hex strings, "*" = any command */
	GPtrArray *reply;  /* hex strings */
	guint pos;
	guint8 channel;
	guint open_channels;
	guint unexpected;
} QlTestScript;

static QlTestScript *ql_test_script_current;

static inline gchar *
ql_test_script_norm(const gchar *hex)
{
	GString *s = g_string_new(NULL);
	for (const gchar *p = hex; *p != '\0'; p++) {
		if (!g_ascii_isspace(*p))
			g_string_append_c(s, g_ascii_toupper(*p));
	}
	return g_string_free(s, FALSE);
}

static inline QlPluginDevice *
ql_test_script_open(const gchar *path, GHashTable *params, GError **error)
{
	return (QlPluginDevice *)ql_test_script_current;
}

static inline void
ql_test_script_close(QlPluginDevice *dev)
{
}

static inline gboolean
ql_test_script_open_channel(QlPluginDevice *dev, const guint8 *aid, gsize aid_len, guint8 *channel,
			    GError **error)
{
	QlTestScript *s = (QlTestScript *)dev;
	s->open_channels++;
	*channel = s->channel;
	return TRUE;
}

static inline GBytes *
ql_test_script_transmit(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize len,
			GError **error)
{
	QlTestScript *s = (QlTestScript *)dev;
	g_autofree gchar *got = ql_hex_encode(apdu, len);
	const gchar *want;

	if (s->pos >= s->expect->len) {
		s->unexpected++;
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "script: unexpected APDU %s", got);
		return NULL;
	}
	want = g_ptr_array_index(s->expect, s->pos);
	if (g_strcmp0(want, "*") != 0 && g_strcmp0(want, got) != 0) {
		s->unexpected++;
		g_test_message("script step %u: want %s got %s", s->pos, want, got);
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "script: want %s got %s", want, got);
		return NULL;
	}
	return ql_hex_decode(g_ptr_array_index(s->reply, s->pos++), error);
}

static inline gboolean
ql_test_script_close_channel(QlPluginDevice *dev, guint8 channel, GError **error)
{
	QlTestScript *s = (QlTestScript *)dev;
	s->open_channels--;
	return TRUE;
}

static const QlPluginInfo ql_test_script_plugin = {
	.abi_version = QL_PLUGIN_ABI_VERSION,
	.scheme = "script",
	.description = "scripted card for unit tests",
	.open = ql_test_script_open,
	.close = ql_test_script_close,
	.open_channel = ql_test_script_open_channel,
	.transmit = ql_test_script_transmit,
	.close_channel = ql_test_script_close_channel,
};

static inline QlTestScript *
ql_test_script_new(guint8 channel)
{
	QlTestScript *s = g_new0(QlTestScript, 1);
	s->expect = g_ptr_array_new_with_free_func(g_free);
	s->reply = g_ptr_array_new_with_free_func(g_free);
	s->channel = channel;
	return s;
}

/* Adds one exchange: the command we must send and the card's answer (data || SW). */
static inline void
ql_test_script_add(QlTestScript *s, const gchar *command, const gchar *response)
{
	g_ptr_array_add(s->expect, ql_test_script_norm(command));
	g_ptr_array_add(s->reply, ql_test_script_norm(response));
}

static inline void
ql_test_script_free(QlTestScript *s)
{
	g_ptr_array_unref(s->expect);
	g_ptr_array_unref(s->reply);
	g_free(s);
}

/* Opens a device and an ISD-R channel on @s; @params like "block=100" or NULL. */
static inline QlChannel *
ql_test_script_channel(QlTestScript *s, const gchar *params, QlDevice **dev)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) p = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	QlChannel *ch;

	if (params != NULL) {
		g_auto(GStrv) kv = g_strsplit(params, "=", 2);
		g_hash_table_insert(p, g_strdup(kv[0]), g_strdup(kv[1]));
	}
	ql_test_script_current = s;
	*dev = ql_device_new_for_plugin(&ql_test_script_plugin, "test", p, &error);
	g_assert_no_error(error);
	ch = ql_channel_open_isdr(*dev, &error);
	g_assert_no_error(error);
	return ch;
}

/* Every scripted exchange happened, nothing else. */
static inline void
ql_test_script_assert_done(QlTestScript *s)
{
	g_assert_cmpuint(s->unexpected, ==, 0);
	g_assert_cmpuint(s->pos, ==, s->expect->len);
}
