/*
 * Plugin loading, device specs and logical channels.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gmodule.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-device.h"
#include "ql-tlv.h"

struct _QlDevice {
	const QlPluginInfo *plugin;
	QlPluginDevice *handle;
	GHashTable *params;
	guint open_channels;
};

struct _QlChannel {
	QlDevice *dev;
	guint8 number;
	gsize block_size;
	QlChannelStats stats;
};

gboolean
ql_device_spec_parse(const gchar *spec, gchar **scheme, gchar **path, GHashTable **params,
		     GError **error)
{
	const gchar *colon = strchr(spec, ':');
	const gchar *query;
	g_autoptr(GHashTable) p = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

	if (colon == NULL || colon == spec) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "'%s' is not a device spec (SCHEME:PATH, e.g. virtual:./state or "
			    "qmi:/dev/cdc-wdm0)",
			    spec);
		return FALSE;
	}
	for (const gchar *c = spec; c < colon; c++) {
		if (!g_ascii_isalnum(*c)) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "'%s' is not a device spec: bad scheme", spec);
			return FALSE;
		}
	}
	query = strchr(colon + 1, '?');
	if (query != NULL) {
		g_auto(GStrv) pairs = g_strsplit(query + 1, "&", -1);
		for (guint i = 0; pairs[i] != NULL; i++) {
			gchar *eq = strchr(pairs[i], '=');
			if (pairs[i][0] == '\0')
				continue;
			if (eq == NULL) {
				g_hash_table_insert(p, g_strdup(pairs[i]), g_strdup(""));
			} else {
				g_hash_table_insert(p, g_strndup(pairs[i], eq - pairs[i]),
						    g_strdup(eq + 1));
			}
		}
	}
	*scheme = g_ascii_strdown(spec, colon - spec);
	*path = query != NULL ? g_strndup(colon + 1, query - colon - 1) : g_strdup(colon + 1);
	*params = g_steal_pointer(&p);
	return TRUE;
}

/* When the running program sits in our build tree, its plugins are there too. */
gboolean
ql_running_uninstalled(void)
{
	g_autofree gchar *exe = g_file_read_link("/proc/self/exe", NULL);
	return exe != NULL && g_str_has_prefix(exe, QL_BUILD_ROOT "/");
}

GStrv
ql_device_plugin_dirs(void)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	const gchar *env = g_getenv("QL_PLUGIN_DIR");
	if (env != NULL && env[0] != '\0') {
		g_auto(GStrv) dirs = g_strsplit(env, ":", -1);
		for (guint i = 0; dirs[i] != NULL; i++) {
			if (dirs[i][0] != '\0')
				g_strv_builder_add(b, dirs[i]);
		}
	}
	if (ql_running_uninstalled())
		g_strv_builder_add(b, QL_BUILD_ROOT "/plugin");
	g_strv_builder_add(b, QL_PLUGINDIR);
	return g_strv_builder_end(b);
}

/* Plugins loaded in this process: scheme -> const QlPluginInfo *. A plugin is loaded once and
 * kept until the process exits: the libraries behind plugins (libqmi, libmbim) register GTypes,
 * which GLib cannot take back, so unloading them and loading them again aborts the process. */
static GMutex ql_device_plugins_lock;
static GHashTable *ql_device_plugins;

static GModule *
ql_device_load_plugin(const gchar *scheme, const QlPluginInfo **info, GError **error)
{
	g_auto(GStrv) dirs = ql_device_plugin_dirs();
	g_autofree gchar *base = g_strdup_printf("libql-plugin-%s.so", scheme);

	for (guint i = 0; dirs[i] != NULL; i++) {
		/* installed: DIR/libql-plugin-X.so; build tree: DIR/NAME/libql-plugin-X.so, where
		 * one plugin directory may build several schemes (qmi/ builds qmi and qrtr) */
		g_autoptr(GPtrArray) candidates = g_ptr_array_new_with_free_func(g_free);
		g_autoptr(GDir) dir = g_dir_open(dirs[i], 0, NULL);
		const gchar *sub;
		g_ptr_array_add(candidates, g_build_filename(dirs[i], base, NULL));
		g_ptr_array_add(candidates, g_build_filename(dirs[i], scheme, base, NULL));
		while (dir != NULL && (sub = g_dir_read_name(dir)) != NULL) {
			if (g_strcmp0(sub, scheme) != 0)
				g_ptr_array_add(candidates,
						g_build_filename(dirs[i], sub, base, NULL));
		}
		for (guint j = 0; j < candidates->len; j++) {
			const gchar *candidate = g_ptr_array_index(candidates, j);
			GModule *module;
			QlPluginEntryFunc entry = NULL;
			if (!g_file_test(candidate, G_FILE_TEST_EXISTS))
				continue;
			module = g_module_open(candidate, G_MODULE_BIND_LOCAL);
			if (module == NULL) {
				g_set_error(error, QL_ERROR, QL_ERROR_PLUGIN,
					    "cannot load plugin %s: %s", candidate,
					    g_module_error());
				return NULL;
			}
			if (!g_module_symbol(module, QL_PLUGIN_ENTRY_SYMBOL, (gpointer *)&entry) ||
			    entry == NULL) {
				g_set_error(error, QL_ERROR, QL_ERROR_PLUGIN,
					    "%s is not a Quantra-L plugin (no %s symbol)",
					    candidate, QL_PLUGIN_ENTRY_SYMBOL);
				g_module_close(module);
				return NULL;
			}
			*info = entry();
			if (*info == NULL || (*info)->abi_version != QL_PLUGIN_ABI_VERSION) {
				g_set_error(error, QL_ERROR, QL_ERROR_PLUGIN,
					    "plugin %s has ABI version %u, this program needs %u",
					    candidate, *info != NULL ? (*info)->abi_version : 0,
					    (guint)QL_PLUGIN_ABI_VERSION);
				g_module_close(module);
				return NULL;
			}
			if (g_strcmp0((*info)->scheme, scheme) != 0) {
				g_set_error(error, QL_ERROR, QL_ERROR_PLUGIN,
					    "plugin %s serves '%s:', not '%s:'", candidate,
					    (*info)->scheme, scheme);
				g_module_close(module);
				return NULL;
			}
			g_debug("loaded plugin %s", candidate);
			return module;
		}
	}
	g_set_error(error, QL_ERROR, QL_ERROR_PLUGIN,
		    "no plugin for '%s:' devices (looked for %s in %s and %s)", scheme, base,
		    dirs[0], QL_PLUGINDIR);
	return NULL;
}

static const QlPluginInfo *
ql_device_get_plugin_for(const gchar *scheme, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&ql_device_plugins_lock);
	const QlPluginInfo *info = NULL;

	if (ql_device_plugins == NULL)
		ql_device_plugins = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	info = g_hash_table_lookup(ql_device_plugins, scheme);
	if (info != NULL)
		return info;
	/* the module is never closed (see above) */
	if (ql_device_load_plugin(scheme, &info, error) == NULL)
		return NULL;
	g_hash_table_insert(ql_device_plugins, g_strdup(scheme), (gpointer)info);
	return info;
}

/* The parameters the core itself takes, whatever the plugin */
static gboolean
ql_device_check_params(GHashTable *params, GError **error)
{
	const gchar *block = g_hash_table_lookup(params, "block");
	if (block != NULL) {
		guint64 n = 0;
		if (!g_ascii_string_to_unsigned(block, 10, 1, 255, &n, NULL)) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "block=%s: the STORE DATA block size must be 1 to 255", block);
			return FALSE;
		}
	}
	if (g_hash_table_contains(params, "isd-r")) {
		g_autoptr(GBytes) aid = ql_hex_decode(g_hash_table_lookup(params, "isd-r"), NULL);
		if (aid == NULL || g_bytes_get_size(aid) < 5 || g_bytes_get_size(aid) > 16) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    "isd-r=: the AID must be 5 to 16 bytes of hex");
			return FALSE;
		}
	}
	return TRUE;
}

QlDevice *
ql_device_open(const gchar *spec, GError **error)
{
	g_autofree gchar *scheme = NULL;
	g_autofree gchar *path = NULL;
	g_autoptr(GHashTable) params = NULL;
	g_autoptr(QlDevice) dev = NULL;

	if (!ql_device_spec_parse(spec, &scheme, &path, &params, error))
		return NULL;
	if (!ql_device_check_params(params, error))
		return NULL;
	dev = g_new0(QlDevice, 1);
	dev->params = g_hash_table_ref(params);
	dev->plugin = ql_device_get_plugin_for(scheme, error);
	if (dev->plugin == NULL)
		return NULL;
	dev->handle = dev->plugin->open(path, params, error);
	if (dev->handle == NULL)
		return NULL;
	return g_steal_pointer(&dev);
}

QlDevice *
ql_device_new_for_plugin(const QlPluginInfo *plugin, const gchar *path, GHashTable *params,
			 GError **error)
{
	g_autoptr(QlDevice) dev = g_new0(QlDevice, 1);
	dev->params = params != NULL
			      ? g_hash_table_ref(params)
			      : g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	dev->plugin = plugin;
	if (!ql_device_check_params(dev->params, error))
		return NULL;
	dev->handle = plugin->open(path, dev->params, error);
	if (dev->handle == NULL)
		return NULL;
	return g_steal_pointer(&dev);
}

void
ql_device_free(QlDevice *dev)
{
	if (dev == NULL)
		return;
	if (dev->open_channels > 0)
		g_warning("closing a device with %u logical channel(s) still open",
			  dev->open_channels);
	if (dev->handle != NULL)
		dev->plugin->close(dev->handle);
	if (dev->params != NULL)
		g_hash_table_unref(dev->params);
	g_free(dev);
}

const gchar *
ql_device_get_param(QlDevice *dev, const gchar *key)
{
	return g_hash_table_lookup(dev->params, key);
}

gboolean
ql_device_profile_switched(QlDevice *dev, GError **error)
{
	if (dev->plugin->profile_switched == NULL)
		return TRUE;
	g_debug("telling the %s plugin that the profile was switched", dev->plugin->scheme);
	return dev->plugin->profile_switched(dev->handle, error);
}

QlChannel *
ql_channel_open(QlDevice *dev, const guint8 *aid, gsize aid_len, GError **error)
{
	g_autoptr(GError) local = NULL;
	QlChannel *ch;
	guint8 number = 0;
	const gchar *block = ql_device_get_param(dev, "block");

	if (!dev->plugin->open_channel(dev->handle, aid, aid_len, &number, &local)) {
		g_autofree gchar *aid_hex = ql_hex_encode(aid, aid_len);
		g_set_error(error, local->domain, local->code,
			    "cannot open a logical channel to %s: %s", aid_hex, local->message);
		return NULL;
	}
	if (number < 1 || number > 19) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the %s plugin gave logical channel %u (must be 1 to 19)",
			    dev->plugin->scheme, number);
		dev->plugin->close_channel(dev->handle, number, NULL);
		return NULL;
	}
	ch = g_new0(QlChannel, 1);
	ch->dev = dev;
	ch->number = number;
	ch->block_size = block != NULL ? g_ascii_strtoull(block, NULL, 10) : 255;
	dev->open_channels++;
	return ch;
}

QlChannel *
ql_channel_open_isdr(QlDevice *dev, GError **error)
{
	const gchar *aid_hex = ql_device_get_param(dev, "isd-r");
	g_autoptr(GBytes) aid = ql_hex_decode(aid_hex != NULL ? aid_hex : QL_ISDR_AID, error);
	if (aid == NULL)
		return NULL;
	return ql_channel_open(dev, g_bytes_get_data(aid, NULL), g_bytes_get_size(aid), error);
}

void
ql_channel_free(QlChannel *ch)
{
	g_autoptr(GError) error = NULL;
	if (ch == NULL)
		return;
	if (!ch->dev->plugin->close_channel(ch->dev->handle, ch->number, &error))
		g_warning("closing logical channel %u: %s", ch->number, error->message);
	ch->dev->open_channels--;
	g_free(ch);
}

guint8
ql_channel_get_number(QlChannel *ch)
{
	return ch->number;
}

gsize
ql_channel_get_block_size(QlChannel *ch)
{
	return ch->block_size;
}

QlDevice *
ql_channel_get_device(QlChannel *ch)
{
	return ch->dev;
}

QlChannelStats *
ql_channel_get_stats(QlChannel *ch)
{
	return &ch->stats;
}

GBytes *
ql_channel_transmit_raw(QlChannel *ch, const guint8 *apdu, gsize len, GError **error)
{
	GBytes *resp;
	ch->stats.apdus++;
	ch->stats.bytes_out += len;
	resp = ch->dev->plugin->transmit(ch->dev->handle, ch->number, apdu, len, error);
	if (resp == NULL)
		return NULL;
	ch->stats.bytes_in += g_bytes_get_size(resp);
	if (g_bytes_get_size(resp) < 2) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the card's answer has no status word (%" G_GSIZE_FORMAT " bytes)",
			    g_bytes_get_size(resp));
		g_bytes_unref(resp);
		return NULL;
	}
	return resp;
}
