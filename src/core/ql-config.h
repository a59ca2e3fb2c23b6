/*
 * The administrator's configuration (/etc/quantra-l/quantra-l.conf, a GKeyFile) and the carrier
 * table (data/carriers.conf): TLS policy, trust anchors, CRLs, pins, client certificates.
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
	GPtrArray *pins;	 /* "host=pin" */
	GHashTable *client_certs; /* host -> gchar *[2] {cert, key} (GStrv) */
	guint timeout_ms;
	gchar *carriers_file;
} QlConfig;

void ql_config_free(QlConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlConfig, ql_config_free)

/* @path NULL: the default path if it exists, else built-in defaults. A bad file is an error that
 * names the file and the key. */
QlConfig *ql_config_load(const gchar *path, GError **error);

/* The SM-DP+ address of @carrier in @carriers_file (NULL: the shipped data/carriers.conf). */
gchar *ql_config_carrier_address(const gchar *carriers_file, const gchar *carrier,
				 GError **error);

G_END_DECLS
