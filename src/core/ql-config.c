/*
 * Configuration. See ql-config.h.
 *
 * [tls]
 * policy=standard|strict
 * trust-anchors=/etc/quantra-l/extra-ci.pem;...
 * system-store=false
 * crl-dir=/var/lib/quantra-l/crl
 * crl=required
 * timeout=30                        (connect, handshake, each request and its answer)
 * download-timeout=300              (a whole download)
 * tls-anchors=all|euicc-listed    (TLS chains to any trusted CI, or only to those the eUICC lists)
 * carriers=/etc/quantra-l/carriers.conf
 * [crl]                            (quantra-l crl update)
 * url.KEYID=http://...              (where the CRL of the CI with this key id is fetched from)
 * max-size=1048576                  (a CRL larger than this is refused)
 * [pins]
 * smdp.example.com=sha256//BASE64;sha256//BASE64
 * [client-certificate smdp.example.com]
 * cert=/etc/quantra-l/client.pem   (or a pkcs11: URI)
 * key=/etc/quantra-l/client-key.pem
 * [modem qmi:/dev/cdc-wdm0]          (or [model EM7455], ModemManager's model string)
 * power-cycle=true                  (the modem does not refresh the SIM after a switch)
 * switch-slot=true
 * block=120                         (STORE DATA block size for cards that fail with 255)
 * isd-r=A0000005591010FFFFFFFF8900000100
 * [ofono /phonesim]                 (an oFono modem's object path)
 * device=at:/dev/ttyUSB2            (its eUICC's port, when its SystemPath does not tell)
 * shared-port=true                  (oFono does not use that port: lockdown only to switch)
 * [storage]
 * state-dir=/var/lib/quantra-l      (the vault and the audit trail)
 * vault-key=pkcs11:token=...;object=...   (or the path of a key file; default STATE/vault.key)
 * [device NAME]                     (a device quantra-esimd exports, ModemManager or not)
 * spec=virtual:/var/lib/quantra-l/demo.state
 * [daemon]                          (quantra-esimd)
 * uninhibit-delay=3                 (seconds: ModemManager gets the modem back this long after
 *                                    the last queued operation, so back-to-back ones share one)
 * modem-wait=60                     (seconds: how long to wait for ModemManager or oFono to show
 *                                    a modem given back, with its new SIM)
 * notification-retry=30             (seconds before the first retry of a background delivery,
 *                                    doubling each time; 0 turns background delivery off)
 * notification-retry-max=21600
 * crl-refresh=86400                 (seconds between CRL updates of the CIs, the first shortly
 *                                    after start-up, when crl-dir= is set; 0 turns it off)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-activation.h"
#include "ql-config.h"
#include "ql-device.h"
#include "ql-tlv.h"

static void
ql_device_rule_free(QlDeviceRule *rule)
{
	g_free(rule->match);
	g_free(rule->params);
	g_free(rule);
}

void
ql_config_free(QlConfig *cfg)
{
	if (cfg == NULL)
		return;
	g_free(cfg->path);
	g_clear_pointer(&cfg->trust_anchor_files, g_ptr_array_unref);
	g_free(cfg->crl_dir);
	g_clear_pointer(&cfg->crl_urls, g_hash_table_unref);
	g_clear_pointer(&cfg->pins, g_ptr_array_unref);
	g_clear_pointer(&cfg->client_certs, g_hash_table_unref);
	g_free(cfg->carriers_file);
	g_clear_pointer(&cfg->device_rules, g_ptr_array_unref);
	g_free(cfg->state_dir);
	g_free(cfg->vault_key);
	g_clear_pointer(&cfg->devices, g_ptr_array_unref);
	g_clear_pointer(&cfg->ofono_rules, g_hash_table_unref);
	g_free(cfg);
}

static gboolean
ql_config_bad(GError **error, const gchar *path, const gchar *group, const gchar *key,
	      const gchar *why)
{
	g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT, "%s: [%s] %s: %s", path, group, key,
		    why);
	return FALSE;
}

static gboolean
ql_config_load_device_rule(QlConfig *cfg, GKeyFile *kf, const gchar *path, const gchar *group,
			   GError **error)
{
	g_autoptr(GString) params = g_string_new(NULL);
	g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
	QlDeviceRule *rule;

	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		const gchar *k = keys[i];
		g_autoptr(GError) local = NULL;
		if (g_strcmp0(k, "power-cycle") == 0 || g_strcmp0(k, "switch-slot") == 0) {
			gboolean on = g_key_file_get_boolean(kf, group, k, &local);
			if (local != NULL)
				return ql_config_bad(error, path, group, k,
						     "must be true or false");
			if (on)
				g_string_append_printf(params, "%s%s=1", params->len > 0 ? "&" : "",
						       k);
		} else if (g_strcmp0(k, "block") == 0) {
			gint n = g_key_file_get_integer(kf, group, k, &local);
			if (local != NULL || n < 1 || n > 255)
				return ql_config_bad(error, path, group, k, "must be 1 to 255");
			g_string_append_printf(params, "%sblock=%d", params->len > 0 ? "&" : "", n);
		} else if (g_strcmp0(k, "extended") == 0) {
			g_autofree gchar *v = g_key_file_get_string(kf, group, k, NULL);
			if (g_strcmp0(v, "on") != 0 && g_strcmp0(v, "off") != 0)
				return ql_config_bad(error, path, group, k, "must be on or off");
			g_string_append_printf(params, "%sextended=%s", params->len > 0 ? "&" : "",
					       v);
		} else if (g_strcmp0(k, "isd-r") == 0) {
			g_autofree gchar *aid = g_key_file_get_string(kf, group, k, NULL);
			g_autoptr(GBytes) raw = aid != NULL ? ql_hex_decode(aid, NULL) : NULL;
			if (raw == NULL || g_bytes_get_size(raw) < 5 || g_bytes_get_size(raw) > 16)
				return ql_config_bad(error, path, group, k,
						     "must be an AID of 5 to 16 bytes in hex");
			g_string_append_printf(params, "%sisd-r=%s", params->len > 0 ? "&" : "",
					       aid);
		} else {
			return ql_config_bad(error, path, group, k, "unknown key");
		}
	}
	rule = g_new0(QlDeviceRule, 1);
	rule->by_model = g_str_has_prefix(group, "model ");
	rule->match = g_strdup(group + strlen("modem "));
	rule->params = g_string_free(g_steal_pointer(&params), FALSE);
	g_ptr_array_add(cfg->device_rules, rule);
	return TRUE;
}

static gboolean
ql_config_load_storage(QlConfig *cfg, GKeyFile *kf, const gchar *path, GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, "storage", NULL, NULL);

	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		g_autofree gchar *value = g_key_file_get_string(kf, "storage", keys[i], NULL);
		if (g_strcmp0(keys[i], "state-dir") != 0 && g_strcmp0(keys[i], "vault-key") != 0)
			return ql_config_bad(error, path, "storage", keys[i], "unknown key");
		if (value == NULL || value[0] == '\0')
			return ql_config_bad(error, path, "storage", keys[i], "is empty");
		if (g_strcmp0(keys[i], "state-dir") == 0) {
			g_free(cfg->state_dir);
			cfg->state_dir = g_steal_pointer(&value);
		} else {
			g_free(cfg->vault_key);
			cfg->vault_key = g_steal_pointer(&value);
		}
	}
	return TRUE;
}

/* [crl]: url.KEYID=URL, max-size=BYTES */
static gboolean
ql_config_load_crl(QlConfig *cfg, GKeyFile *kf, const gchar *path, GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, "crl", NULL, NULL);

	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		const gchar *k = keys[i];
		g_autoptr(GError) local = NULL;
		if (g_str_has_prefix(k, "url.")) {
			const gchar *kid = k + strlen("url.");
			g_autoptr(GBytes) raw = ql_hex_decode(kid, NULL);
			g_autofree gchar *url = g_key_file_get_string(kf, "crl", k, NULL);
			if (raw == NULL || g_bytes_get_size(raw) == 0 || g_bytes_get_size(raw) > 64)
				return ql_config_bad(error, path, "crl", k,
						     "url. must be followed by a CI's key id in "
						     "hex");
			if (url == NULL || (!g_str_has_prefix(url, "http://") &&
					    !g_str_has_prefix(url, "https://")))
				return ql_config_bad(error, path, "crl", k,
						     "must be an http:// or https:// URL");
			g_hash_table_insert(cfg->crl_urls, g_ascii_strup(kid, -1),
					    g_steal_pointer(&url));
		} else if (g_strcmp0(k, "max-size") == 0) {
			guint64 n = g_key_file_get_uint64(kf, "crl", k, &local);
			if (local != NULL || n < 1024 || n > 64 * 1024 * 1024)
				return ql_config_bad(error, path, "crl", k,
						     "must be 1024 to 67108864 bytes");
			cfg->crl_max_size = (gsize)n;
		} else {
			return ql_config_bad(error, path, "crl", k, "unknown key");
		}
	}
	return TRUE;
}

static void
ql_ofono_rule_free(QlOfonoRule *rule)
{
	g_free(rule->device);
	g_free(rule);
}

static gboolean
ql_config_load_ofono_rule(QlConfig *cfg, GKeyFile *kf, const gchar *path, const gchar *group,
			  GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
	QlOfonoRule *rule = g_new0(QlOfonoRule, 1);
	const gchar *modem = group + strlen("ofono ");

	g_hash_table_replace(cfg->ofono_rules, g_strdup(modem), rule);
	if (!g_variant_is_object_path(modem))
		return ql_config_bad(error, path, group, "", "not an oFono modem object path");
	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		g_autoptr(GError) local = NULL;
		if (g_strcmp0(keys[i], "device") == 0) {
			g_free(rule->device);
			rule->device = g_key_file_get_string(kf, group, keys[i], NULL);
			if (rule->device == NULL || strchr(rule->device, ':') == NULL)
				return ql_config_bad(
					error, path, group, keys[i],
					"must be a device spec (e.g. at:/dev/ttyUSB2)");
		} else if (g_strcmp0(keys[i], "shared-port") == 0) {
			rule->shared_port = g_key_file_get_boolean(kf, group, keys[i], &local);
			if (local != NULL)
				return ql_config_bad(error, path, group, keys[i],
						     "must be true or false");
		} else {
			return ql_config_bad(error, path, group, keys[i], "unknown key");
		}
	}
	return TRUE;
}

static void
ql_config_device_free(QlConfigDevice *dev)
{
	g_free(dev->name);
	g_free(dev->spec);
	g_free(dev);
}

static gboolean
ql_config_load_device(QlConfig *cfg, GKeyFile *kf, const gchar *path, const gchar *group,
		      GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
	g_autofree gchar *spec = NULL;
	g_autofree gchar *scheme = NULL;
	g_autofree gchar *dev_path = NULL;
	g_autoptr(GHashTable) params = NULL;
	g_autoptr(GError) local = NULL;
	const gchar *name = group + strlen("device ");
	QlConfigDevice *dev;

	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		if (g_strcmp0(keys[i], "spec") != 0)
			return ql_config_bad(error, path, group, keys[i], "unknown key");
	}
	if (name[0] == '\0')
		return ql_config_bad(error, path, group, "spec", "the section needs a name");
	spec = g_key_file_get_string(kf, group, "spec", NULL);
	if (spec == NULL)
		return ql_config_bad(error, path, group, "spec", "is missing");
	if (!ql_device_spec_parse(spec, &scheme, &dev_path, &params, &local))
		return ql_config_bad(error, path, group, "spec", local->message);
	dev = g_new0(QlConfigDevice, 1);
	dev->name = g_strdup(name);
	dev->spec = g_steal_pointer(&spec);
	g_ptr_array_add(cfg->devices, dev);
	return TRUE;
}

static gboolean
ql_config_get_seconds(GKeyFile *kf, const gchar *path, const gchar *key, guint min, guint max,
		      guint *out, GError **error)
{
	g_autoptr(GError) local = NULL;
	gint v;
	g_autofree gchar *why = NULL;

	if (!g_key_file_has_key(kf, "daemon", key, NULL))
		return TRUE;
	v = g_key_file_get_integer(kf, "daemon", key, &local);
	if (local != NULL || v < (gint)min || v > (gint)max) {
		why = g_strdup_printf("must be %u to %u seconds", min, max);
		return ql_config_bad(error, path, "daemon", key, why);
	}
	*out = (guint)v;
	return TRUE;
}

static gboolean
ql_config_load_daemon(QlConfig *cfg, GKeyFile *kf, const gchar *path, GError **error)
{
	const gchar *const known[] = {"uninhibit-delay", "modem-wait", "notification-retry",
				      "notification-retry-max", "crl-refresh", NULL};
	g_auto(GStrv) keys = g_key_file_get_keys(kf, "daemon", NULL, NULL);
	guint delay_s = cfg->uninhibit_delay_ms / 1000;
	guint wait_s = cfg->modem_wait_ms / 1000;

	for (guint i = 0; keys != NULL && keys[i] != NULL; i++) {
		if (!g_strv_contains(known, keys[i]))
			return ql_config_bad(error, path, "daemon", keys[i], "unknown key");
	}
	if (!ql_config_get_seconds(kf, path, "uninhibit-delay", 0, 600, &delay_s, error) ||
	    !ql_config_get_seconds(kf, path, "modem-wait", 1, 600, &wait_s, error) ||
	    !ql_config_get_seconds(kf, path, "notification-retry", 0, 86400,
				   &cfg->notification_retry_s, error) ||
	    !ql_config_get_seconds(kf, path, "notification-retry-max", 1, 7 * 86400,
				   &cfg->notification_retry_max_s, error) ||
	    !ql_config_get_seconds(kf, path, "crl-refresh", 0, 365 * 86400, &cfg->crl_refresh_s,
				   error))
		return FALSE;
	cfg->uninhibit_delay_ms = delay_s * 1000;
	cfg->modem_wait_ms = wait_s * 1000;
	return TRUE;
}

QlConfig *
ql_config_load(const gchar *path, GError **error)
{
	g_autoptr(QlConfig) cfg = g_new0(QlConfig, 1);
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) local = NULL;
	g_auto(GStrv) groups = NULL;

	cfg->trust_anchor_files = g_ptr_array_new_with_free_func(g_free);
	cfg->pins = g_ptr_array_new_with_free_func(g_free);
	cfg->client_certs =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
	cfg->device_rules = g_ptr_array_new_with_free_func((GDestroyNotify)ql_device_rule_free);
	cfg->devices = g_ptr_array_new_with_free_func((GDestroyNotify)ql_config_device_free);
	cfg->crl_urls = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	cfg->ofono_rules = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						 (GDestroyNotify)ql_ofono_rule_free);
	cfg->policy = QL_TLS_POLICY_STANDARD;
	cfg->uninhibit_delay_ms = QL_CONFIG_DEFAULT_UNINHIBIT_DELAY_MS;
	cfg->modem_wait_ms = QL_CONFIG_DEFAULT_MODEM_WAIT_MS;
	cfg->notification_retry_s = QL_CONFIG_DEFAULT_NOTIFICATION_RETRY_S;
	cfg->notification_retry_max_s = QL_CONFIG_DEFAULT_NOTIFICATION_RETRY_MAX_S;
	cfg->crl_refresh_s = QL_CONFIG_DEFAULT_CRL_REFRESH_S;
	if (path == NULL) {
		if (!g_file_test(QL_CONFIG_DEFAULT_PATH, G_FILE_TEST_EXISTS))
			return g_steal_pointer(&cfg);
		path = QL_CONFIG_DEFAULT_PATH;
	}
	cfg->path = g_strdup(path);
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "cannot read the configuration %s: %s", path, local->message);
		return NULL;
	}
	if (g_key_file_has_group(kf, "tls")) {
		g_autofree gchar *policy = g_key_file_get_string(kf, "tls", "policy", NULL);
		g_auto(GStrv) anchors =
			g_key_file_get_string_list(kf, "tls", "trust-anchors", NULL, NULL);
		if (policy != NULL) {
			if (g_strcmp0(policy, "standard") == 0)
				cfg->policy = QL_TLS_POLICY_STANDARD;
			else if (g_strcmp0(policy, "strict") == 0)
				cfg->policy = QL_TLS_POLICY_STRICT;
			else {
				ql_config_bad(error, path, "tls", "policy",
					      "must be 'standard' or 'strict'");
				return NULL;
			}
		}
		for (guint i = 0; anchors != NULL && anchors[i] != NULL; i++)
			g_ptr_array_add(cfg->trust_anchor_files, g_strdup(anchors[i]));
		if (g_key_file_has_key(kf, "tls", "system-store", NULL)) {
			cfg->use_system_store =
				g_key_file_get_boolean(kf, "tls", "system-store", &local);
			if (local != NULL) {
				ql_config_bad(error, path, "tls", "system-store",
					      "must be true or false");
				return NULL;
			}
		}
		cfg->crl_dir = g_key_file_get_string(kf, "tls", "crl-dir", NULL);
		if (g_key_file_has_key(kf, "tls", "crl", NULL)) {
			g_autofree gchar *crl = g_key_file_get_string(kf, "tls", "crl", NULL);
			if (g_strcmp0(crl, "required") == 0)
				cfg->crl_required = TRUE;
			else if (g_strcmp0(crl, "optional") != 0) {
				ql_config_bad(error, path, "tls", "crl",
					      "must be 'required' or 'optional'");
				return NULL;
			}
		}
		if (g_key_file_has_key(kf, "tls", "tls-anchors", NULL)) {
			g_autofree gchar *v = g_key_file_get_string(kf, "tls", "tls-anchors", NULL);
			if (g_strcmp0(v, "euicc-listed") == 0)
				cfg->tls_anchors_euicc_listed = TRUE;
			else if (g_strcmp0(v, "all") != 0) {
				ql_config_bad(error, path, "tls", "tls-anchors",
					      "must be 'all' or 'euicc-listed'");
				return NULL;
			}
		}
		cfg->carriers_file = g_key_file_get_string(kf, "tls", "carriers", NULL);
		if (g_key_file_has_key(kf, "tls", "timeout", NULL)) {
			gint t = g_key_file_get_integer(kf, "tls", "timeout", &local);
			if (local != NULL || t <= 0 || t > 3600) {
				ql_config_bad(error, path, "tls", "timeout",
					      "must be 1 to 3600 seconds");
				return NULL;
			}
			cfg->timeout_ms = (guint)t * 1000;
		}
		if (g_key_file_has_key(kf, "tls", "download-timeout", NULL)) {
			gint t = g_key_file_get_integer(kf, "tls", "download-timeout", &local);
			if (local != NULL || t <= 0 || t > 86400) {
				ql_config_bad(error, path, "tls", "download-timeout",
					      "must be 1 to 86400 seconds");
				return NULL;
			}
			cfg->download_timeout_ms = (guint)t * 1000;
		}
	}
	groups = g_key_file_get_groups(kf, NULL);
	for (guint i = 0; groups[i] != NULL; i++) {
		if (g_strcmp0(groups[i], "pins") == 0) {
			g_auto(GStrv) hosts = g_key_file_get_keys(kf, "pins", NULL, NULL);
			for (guint j = 0; hosts != NULL && hosts[j] != NULL; j++) {
				g_auto(GStrv) pins = g_key_file_get_string_list(
					kf, "pins", hosts[j], NULL, NULL);
				for (guint k = 0; pins != NULL && pins[k] != NULL; k++)
					g_ptr_array_add(
						cfg->pins,
						g_strdup_printf("%s=%s", hosts[j], pins[k]));
			}
		} else if (g_str_has_prefix(groups[i], "client-certificate ")) {
			const gchar *host = groups[i] + strlen("client-certificate ");
			gchar **pair = g_new0(gchar *, 3);
			pair[0] = g_key_file_get_string(kf, groups[i], "cert", NULL);
			pair[1] = g_key_file_get_string(kf, groups[i], "key", NULL);
			if (pair[0] == NULL) {
				/* g_strfreev() would stop at the missing cert and leak the key */
				g_free(pair[1]);
				g_free(pair);
				ql_config_bad(error, path, groups[i], "cert", "is missing");
				return NULL;
			}
			g_hash_table_insert(cfg->client_certs, g_strdup(host), pair);
		} else if (g_strcmp0(groups[i], "crl") == 0) {
			if (!ql_config_load_crl(cfg, kf, path, error))
				return NULL;
		} else if (g_str_has_prefix(groups[i], "modem ") ||
			   g_str_has_prefix(groups[i], "model ")) {
			if (!ql_config_load_device_rule(cfg, kf, path, groups[i], error))
				return NULL;
		} else if (g_strcmp0(groups[i], "storage") == 0) {
			if (!ql_config_load_storage(cfg, kf, path, error))
				return NULL;
		} else if (g_str_has_prefix(groups[i], "device ")) {
			if (!ql_config_load_device(cfg, kf, path, groups[i], error))
				return NULL;
		} else if (g_strcmp0(groups[i], "daemon") == 0) {
			if (!ql_config_load_daemon(cfg, kf, path, error))
				return NULL;
		} else if (g_str_has_prefix(groups[i], "ofono ")) {
			if (!ql_config_load_ofono_rule(cfg, kf, path, groups[i], error))
				return NULL;
		} else if (g_strcmp0(groups[i], "tls") != 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "%s: unknown section [%s]", path, groups[i]);
			return NULL;
		}
	}
	return g_steal_pointer(&cfg);
}

void
ql_config_download_options(const QlConfig *cfg, const gchar *host, QlDownloadOptions *opts)
{
	gchar **mtls = host != NULL ? g_hash_table_lookup(cfg->client_certs, host) : NULL;

	memset(opts, 0, sizeof(*opts));
	opts->policy = cfg->policy;
	opts->trust_anchor_files = cfg->trust_anchor_files;
	opts->use_system_store = cfg->use_system_store;
	opts->tls_anchors_euicc_listed = cfg->tls_anchors_euicc_listed;
	opts->crl_dir = cfg->crl_dir;
	opts->crl_required = cfg->crl_required;
	opts->pins = cfg->pins;
	if (mtls != NULL) {
		opts->client_cert = mtls[0];
		opts->client_key = mtls[1];
	}
	opts->timeout_ms = cfg->timeout_ms;
	opts->download_timeout_ms = cfg->download_timeout_ms;
}

gchar *
ql_config_carrier_address(const gchar *carriers_file, const gchar *carrier, GError **error)
{
	g_autoptr(GKeyFile) kf = g_key_file_new();
	g_autoptr(GError) local = NULL;
	g_autofree gchar *data = NULL;
	g_autofree gchar *path = NULL;
	g_autofree gchar *group = g_strdup_printf("carrier %s", carrier);
	g_autofree gchar *address = NULL;

	if (carriers_file == NULL) {
		data = ql_data_dir();
		path = g_build_filename(data, "carriers.conf", NULL);
	} else {
		path = g_strdup(carriers_file);
	}
	if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "cannot read the carrier table %s: %s", path, local->message);
		return NULL;
	}
	if (!g_key_file_has_group(kf, group)) {
		g_auto(GStrv) groups = g_key_file_get_groups(kf, NULL);
		g_autoptr(GString) known = g_string_new(NULL);
		for (guint i = 0; groups[i] != NULL; i++) {
			if (!g_str_has_prefix(groups[i], "carrier "))
				continue;
			g_string_append_printf(known, "%s%s", known->len > 0 ? ", " : "",
					       groups[i] + strlen("carrier "));
		}
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND, "unknown carrier '%s' (known: %s)",
			    carrier, known->len > 0 ? known->str : "none");
		return NULL;
	}
	address = g_key_file_get_string(kf, group, "smdp", NULL);
	if (address == NULL || !ql_activation_check_address(address, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT, "%s: [%s] smdp: %s", path,
			    group, local != NULL ? local->message : "is missing");
		return NULL;
	}
	return g_steal_pointer(&address);
}

gchar *
ql_config_device_params(const QlConfig *cfg, const gchar *spec, const gchar *model)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree gchar *base = g_strdup(spec);
	gchar *q = strchr(base, '?');

	if (q != NULL)
		*q = '\0';
	for (guint i = 0; cfg->device_rules != NULL && i < cfg->device_rules->len; i++) {
		QlDeviceRule *rule = g_ptr_array_index(cfg->device_rules, i);
		gboolean hit = rule->by_model
				       ? (model != NULL && g_strcmp0(rule->match, model) == 0)
				       : g_strcmp0(rule->match, base) == 0;
		if (hit && rule->params[0] != '\0')
			g_string_append_printf(out, "%s%s", out->len > 0 ? "&" : "", rule->params);
	}
	if (out->len == 0)
		return NULL;
	return g_string_free(g_steal_pointer(&out), FALSE);
}

gchar *
ql_config_spec_add_params(const gchar *spec, const gchar *extra)
{
	g_autoptr(GString) out = g_string_new(spec);
	g_autoptr(GHashTable) own = NULL;
	g_autofree gchar *scheme = NULL;
	g_autofree gchar *path = NULL;
	g_auto(GStrv) pairs = NULL;

	if (extra == NULL || extra[0] == '\0' ||
	    !ql_device_spec_parse(spec, &scheme, &path, &own, NULL))
		return g_strdup(spec);
	pairs = g_strsplit(extra, "&", -1);
	for (guint i = 0; pairs[i] != NULL; i++) {
		g_autofree gchar *key = g_strdup(pairs[i]);
		gchar *eq = strchr(key, '=');
		if (eq != NULL)
			*eq = '\0';
		/* the spec's own parameters win over the configuration's */
		if (key[0] == '\0' || g_hash_table_contains(own, key))
			continue;
		g_string_append_c(out, strchr(out->str, '?') != NULL ? '&' : '?');
		g_string_append(out, pairs[i]);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}
