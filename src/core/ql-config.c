/*
 * Configuration. See ql-config.h.
 *
 * [tls]
 * policy=standard|strict
 * trust-anchors=/etc/quantra-l/extra-ci.pem;...
 * system-store=false
 * crl-dir=/var/lib/quantra-l/crl
 * timeout=30
 * carriers=/etc/quantra-l/carriers.conf
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
	g_clear_pointer(&cfg->pins, g_ptr_array_unref);
	g_clear_pointer(&cfg->client_certs, g_hash_table_unref);
	g_free(cfg->carriers_file);
	g_clear_pointer(&cfg->device_rules, g_ptr_array_unref);
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
	cfg->policy = QL_TLS_POLICY_STANDARD;
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
		} else if (g_str_has_prefix(groups[i], "modem ") ||
			   g_str_has_prefix(groups[i], "model ")) {
			if (!ql_config_load_device_rule(cfg, kf, path, groups[i], error))
				return NULL;
		} else if (g_strcmp0(groups[i], "tls") != 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "%s: unknown section [%s]", path, groups[i]);
			return NULL;
		}
	}
	return g_steal_pointer(&cfg);
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
