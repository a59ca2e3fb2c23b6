/*
 * The administrator's configuration (/etc/quantra-l/quantra-l.conf, a GKeyFile) and the carrier
 * table (data/carriers.conf): TLS policy, trust anchors, CRLs, pins, client certificates, and
 * per-modem quirks.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

#include "ql-download.h"

G_BEGIN_DECLS

#define QL_CONFIG_DEFAULT_PATH "/etc/quantra-l/quantra-l.conf"

typedef struct {
	gchar *path;
	QlTlsPolicy policy;
	GPtrArray *trust_anchor_files; /* gchar * */
	gboolean use_system_store;
	gchar *crl_dir;
	gboolean crl_required;	  /* crl=required in [tls] */
	gboolean tls_anchors_euicc_listed; /* tls-anchors=euicc-listed in [tls] */
	GHashTable *crl_urls;	  /* [crl] url.KEYID=URL: upper-case key id -> URL */
	gsize crl_max_size;	  /* [crl] max-size=, bytes; 0 = the default */
	GPtrArray *pins;	  /* "host=pin" */
	GHashTable *client_certs; /* host -> gchar *[2] {cert, key} (GStrv) */
	guint timeout_ms;
	guint download_timeout_ms;
	gchar *carriers_file;
	GPtrArray *device_rules; /* QlDeviceRule: per-modem quirks */
	gchar *state_dir;	 /* [storage] state-dir: vault and audit trail; NULL = default */
	gchar *vault_key; /* [storage] vault-key: a pkcs11: URI or a key file; NULL = default */
	GPtrArray *devices;	 /* QlConfigDevice: [device NAME] sections, in file order */
	/* [daemon]: quantra-esimd only */
	guint uninhibit_delay_ms;      /* give a modem back this long after the last operation */
	guint modem_wait_ms;	       /* for ModemManager or oFono to show a modem given back */
	guint notification_retry_s;    /* first retry of a failed background delivery; 0 = off */
	guint notification_retry_max_s; /* the backoff's ceiling */
	guint crl_refresh_s;		/* CRL updates (when crl_dir is set); 0 = off */
	GHashTable *ofono_rules; /* [ofono PATH]: oFono modem path -> QlOfonoRule */
} QlConfig;

/* [device NAME] spec=SPEC: a device the service exports without ModemManager */
typedef struct {
	gchar *name;
	gchar *spec;
} QlConfigDevice;

#define QL_CONFIG_DEFAULT_UNINHIBIT_DELAY_MS 3000
#define QL_CONFIG_DEFAULT_MODEM_WAIT_MS 60000
#define QL_CONFIG_DEFAULT_NOTIFICATION_RETRY_S 30
#define QL_CONFIG_DEFAULT_NOTIFICATION_RETRY_MAX_S (6 * 3600)
#define QL_CONFIG_DEFAULT_CRL_REFRESH_S 86400

/* The download options the configuration gives for the SM-DP+ @host (may be NULL): policy,
 * anchors, CRLs, pins, timeout, and the host's client certificate. Pointers into @cfg: it must
 * outlive @opts. Callers then put their own choices (command line, D-Bus options) over them. */
void ql_config_download_options(const QlConfig *cfg, const gchar *host, QlDownloadOptions *opts);

/* [ofono PATH] (an oFono modem's object path): how to reach its eUICC when its SystemPath does
 * not tell (phonesim, a modem with several AT ports). */
typedef struct {
	gchar *device;	      /* device=SPEC; NULL: found under the modem's SystemPath */
	gboolean shared_port; /* shared-port=true: oFono does not use that port, so the modem is
				 locked down only around profile switches */
} QlOfonoRule;

/* [modem SPEC] (a device spec without its parameters, e.g. qmi:/dev/cdc-wdm0) or [model NAME]
 * (ModemManager's model string): device parameters to add for that modem. */
typedef struct {
	gboolean by_model;
	gchar *match;
	gchar *params; /* "power-cycle=1&block=128" */
} QlDeviceRule;

void ql_config_free(QlConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlConfig, ql_config_free)

/* @path NULL: the default path if it exists, else built-in defaults. A bad file is an error that
 * names the file and the key. */
QlConfig *ql_config_load(const gchar *path, GError **error);

/* The parameters the configuration adds for the device @spec (of the ModemManager model @model,
 * may be NULL), joined with '&', or NULL. */
gchar *ql_config_device_params(const QlConfig *cfg, const gchar *spec, const gchar *model);

/* @spec with @extra ("k=v&k=v", may be NULL) added; a key already in @spec wins. */
gchar *ql_config_spec_add_params(const gchar *spec, const gchar *extra);

/* The SM-DP+ address of @carrier in @carriers_file (NULL: the shipped data/carriers.conf). */
gchar *ql_config_carrier_address(const gchar *carriers_file, const gchar *carrier, GError **error);

G_END_DECLS
