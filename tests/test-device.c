/*
 * The device layer and the plugin ABI as the core library uses them: errors a loaded plugin
 * raises are the core's error domain (with its D-Bus names), and the core tells the plugin
 * when the eUICC switched profiles, and only then.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "quantra-l/ql-plugin.h"
#include "ql-device.h"
#include "ql-es10.h"
#include "ql-vcard.h"

/* ---- helpers ---- */

typedef struct {
	gchar *dir;
	gchar *state;
} Tmp;

static void
tmp_init(Tmp *t)
{
	g_autoptr(GError) error = NULL;
	t->dir = g_dir_make_tmp("ql-device-XXXXXX", &error);
	g_assert_no_error(error);
	t->state = g_build_filename(t->dir, "card.json", NULL);
}

static void
tmp_clear(Tmp *t)
{
	g_remove(t->state);
	g_rmdir(t->dir);
	g_free(t->dir);
	g_free(t->state);
}

/* ---- errors across the plugin and the core ---- */

static void
assert_invalid_argument(const gchar *spec)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlDevice) dev = ql_device_open(spec, &error);
	g_autofree gchar *dbus_name = NULL;

	g_assert_null(dev);
	/* raised by the plugin (it names the parameter), matched with the core's QL_ERROR */
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
	g_assert_nonnull(strstr(error->message, "bogus"));
	g_assert_cmpstr(ql_error_dbus_name(error->code), ==,
			"org.quantra.Esim1.Error.InvalidArgument");
	/* the D-Bus names the core registered apply to the plugin's error */
	dbus_name = g_dbus_error_encode_gerror(error);
	g_assert_cmpstr(dbus_name, ==, "org.quantra.Esim1.Error.InvalidArgument");
}

static void
test_device_error_domain(void)
{
	Tmp t;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *bad = NULL;
	g_autofree gchar *good = NULL;

	tmp_init(&t);
	bad = g_strdup_printf("virtual:%s?bogus=1", t.state);
	good = g_strdup_printf("virtual:%s?seed=2", t.state);

	assert_invalid_argument(bad);
	/* a device served by the same plugin, then the plugin's errors again */
	{
		g_autoptr(QlDevice) dev = ql_device_open(good, &error);
		g_autoptr(QlChannel) ch = NULL;
		g_autoptr(GPtrArray) profiles = NULL;
		g_assert_no_error(error);
		ch = ql_channel_open_isdr(dev, &error);
		g_assert_no_error(error);
		profiles = ql_es10_get_profiles(ch, NULL, &error);
		g_assert_no_error(error);
		g_assert_cmpuint(profiles->len, ==, 2);
	}
	assert_invalid_argument(bad);

	/* and a D-Bus error name comes back as the same domain and code */
	{
		g_autoptr(GError) remote =
			g_dbus_error_new_for_dbus_error("org.quantra.Esim1.Error.NotFound", "x");
		g_assert_error(remote, QL_ERROR, QL_ERROR_NOT_FOUND);
	}
	tmp_clear(&t);
}

/* A plugin is loaded once and kept: the libraries behind it (libmbim, libqmi) register GTypes,
 * which GLib cannot take back, so unloading and loading them again would crash the process (a
 * service opens devices again and again). */
static void
test_device_plugin_kept(void)
{
#ifdef QL_TEST_MBIM
	for (guint i = 0; i < 3; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(QlDevice) dev = ql_device_open("mbim:/dev/ql-test-no-such-port", &error);
		g_assert_null(dev);
		g_assert_error(error, QL_ERROR, QL_ERROR_IO);
		g_assert_nonnull(strstr(error->message, "/dev/ql-test-no-such-port"));
	}
#else
	g_test_skip("the mbim plugin is not built");
#endif
}

/* ---- profile_switched ---- */

/* A plugin in this process around the virtual card, counting profile_switched calls */
struct _QlPluginDevice {
	QlVcard *card;
	guint switched;
	gboolean fail;
};

static QlPluginDevice *
counting_open(const gchar *path, GHashTable *params, GError **error)
{
	g_autoptr(QlVcard) card = ql_vcard_open(path, NULL, error);
	QlPluginDevice *dev;
	if (card == NULL || !ql_vcard_seed(card, 3, error))
		return NULL;
	dev = g_new0(QlPluginDevice, 1);
	dev->card = g_steal_pointer(&card);
	return dev;
}

static void
counting_close(QlPluginDevice *dev)
{
	ql_vcard_free(dev->card);
	g_free(dev);
}

static gboolean
counting_open_channel(QlPluginDevice *dev, const guint8 *aid, gsize aid_len, guint8 *channel,
		      GError **error)
{
	guint16 sw = 0;
	if (!ql_vcard_open_logical_channel(dev->card, aid, aid_len, 0x00, channel, NULL, &sw,
					   error))
		return FALSE;
	if (sw != 0x9000) {
		g_set_error(error, QL_ERROR, QL_ERROR_CARD, "status %04X", sw);
		return FALSE;
	}
	return TRUE;
}

static GBytes *
counting_transmit(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize apdu_len,
		  GError **error)
{
	return ql_vcard_transmit(dev->card, apdu, apdu_len, error);
}

static gboolean
counting_close_channel(QlPluginDevice *dev, guint8 channel, GError **error)
{
	return ql_vcard_close_logical_channel(dev->card, channel, NULL, error);
}

static gboolean
counting_profile_switched(QlPluginDevice *dev, GError **error)
{
	dev->switched++;
	if (dev->fail) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_IO,
				    "the modem did not reset the SIM");
		return FALSE;
	}
	return TRUE;
}

static const QlPluginInfo counting_plugin = {
	.abi_version = QL_PLUGIN_ABI_VERSION,
	.scheme = "counting",
	.description = "the virtual card, counting profile switches",
	.open = counting_open,
	.close = counting_close,
	.open_channel = counting_open_channel,
	.transmit = counting_transmit,
	.close_channel = counting_close_channel,
	.profile_switched = counting_profile_switched,
};

typedef struct {
	Tmp tmp;
	QlDevice *dev;
	QlChannel *ch;
	gchar *disabled; /* the ICCID of a disabled profile */
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) profiles = NULL;
	QlPluginInfo *plugin = (QlPluginInfo *)data;

	tmp_init(&f->tmp);
	f->dev = ql_device_new_for_plugin(plugin, f->tmp.state, NULL, &error);
	g_assert_no_error(error);
	f->ch = ql_channel_open_isdr(f->dev, &error);
	g_assert_no_error(error);
	profiles = ql_es10_get_profiles(f->ch, NULL, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < profiles->len && f->disabled == NULL; i++) {
		QlProfileInfo *p = g_ptr_array_index(profiles, i);
		if (p->state == QL_PROFILE_STATE_DISABLED)
			f->disabled = g_strdup(p->iccid);
	}
	g_assert_nonnull(f->disabled);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	ql_channel_free(f->ch);
	ql_device_free(f->dev);
	g_free(f->disabled);
	tmp_clear(&f->tmp);
}

/* The handle the plugin gave: the device's only open handle is the last one counting_open made */
static QlPluginDevice *last_handle;

static QlPluginDevice *
counting_open_recorded(const gchar *path, GHashTable *params, GError **error)
{
	last_handle = counting_open(path, params, error);
	return last_handle;
}

static QlPluginInfo recorded_plugin;

static void
test_device_switched_enable_disable(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	QlPluginDevice *h = last_handle;

	g_assert_cmpuint(h->switched, ==, 0); /* listing is no switch */
	g_assert_true(ql_es10_enable_profile(f->ch, f->disabled, TRUE, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(h->switched, ==, 1);

	/* refused by the eUICC (already enabled): nothing switched, nothing to tell */
	g_assert_false(ql_es10_enable_profile(f->ch, f->disabled, TRUE, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_EUICC);
	g_clear_error(&error);
	g_assert_cmpuint(h->switched, ==, 1);
	g_assert_false(ql_es10_enable_profile(f->ch, "8944476500000000001", TRUE, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);
	g_assert_cmpuint(h->switched, ==, 1);

	/* without the REFRESH too: the plugin is told whenever the card switched */
	g_assert_true(ql_es10_disable_profile(f->ch, f->disabled, FALSE, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(h->switched, ==, 2);

	/* deleting a disabled profile switches nothing */
	g_assert_true(ql_es10_delete_profile(f->ch, f->disabled, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(h->switched, ==, 2);
}

static void
test_device_switched_reset(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	QlPluginDevice *h = last_handle;

	/* only the default SM-DP+ address: no profile goes, no switch */
	g_assert_true(ql_es10_set_default_dp_address(f->ch, "smdp.example.com", &error));
	g_assert_no_error(error);
	g_assert_true(ql_es10_memory_reset(f->ch, QL_RESET_DEFAULT_SMDP, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(h->switched, ==, 0);
	/* the enabled profile may go with the deleted ones */
	g_assert_true(ql_es10_memory_reset(
		f->ch, QL_RESET_DELETE_OPERATIONAL | QL_RESET_DELETE_TEST, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(h->switched, ==, 1);
}

/* The switch happened even when the plugin could not make the modem see it: the enable
 * succeeds, and the plugin's error is logged */
static void
test_device_switched_error(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	QlPluginDevice *h = last_handle;

	h->fail = TRUE;
	g_test_expect_message("ql-core", G_LOG_LEVEL_WARNING,
			      "after the profile switch: the modem did not reset the SIM");
	g_assert_true(ql_es10_enable_profile(f->ch, f->disabled, TRUE, &error));
	g_assert_no_error(error);
	g_test_assert_expected_messages();
	g_assert_cmpuint(h->switched, ==, 1);
}

/* A plugin without the entry (NULL) is fine: nothing to call */
static void
test_device_switched_none(void)
{
	Tmp t;
	g_autoptr(GError) error = NULL;
	QlPluginInfo plain = counting_plugin;
	g_autoptr(QlDevice) dev = NULL;
	g_autoptr(QlChannel) ch = NULL;
	g_autoptr(GPtrArray) profiles = NULL;

	plain.profile_switched = NULL;
	tmp_init(&t);
	dev = ql_device_new_for_plugin(&plain, t.state, NULL, &error);
	g_assert_no_error(error);
	ch = ql_channel_open_isdr(dev, &error);
	g_assert_no_error(error);
	profiles = ql_es10_get_profiles(ch, NULL, &error);
	g_assert_no_error(error);
	for (guint i = 0; i < profiles->len; i++) {
		QlProfileInfo *p = g_ptr_array_index(profiles, i);
		if (p->state != QL_PROFILE_STATE_DISABLED)
			continue;
		g_assert_true(ql_es10_enable_profile(ch, p->iccid, TRUE, &error));
		g_assert_no_error(error);
		break;
	}
	g_clear_pointer(&ch, ql_channel_free);
	g_clear_pointer(&dev, ql_device_free);
	tmp_clear(&t);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	recorded_plugin = counting_plugin;
	recorded_plugin.open = counting_open_recorded;
	g_test_add_func("/ql/device/error-domain", test_device_error_domain);
	g_test_add_func("/ql/device/plugin-kept", test_device_plugin_kept);
	g_test_add("/ql/device/switched/enable-disable", Fixture, &recorded_plugin, fixture_setup,
		   test_device_switched_enable_disable, fixture_teardown);
	g_test_add("/ql/device/switched/reset", Fixture, &recorded_plugin, fixture_setup,
		   test_device_switched_reset, fixture_teardown);
	g_test_add("/ql/device/switched/error", Fixture, &recorded_plugin, fixture_setup,
		   test_device_switched_error, fixture_teardown);
	g_test_add_func("/ql/device/switched/none", test_device_switched_none);
	return g_test_run();
}
