/*
 * quantra-l crl update: the CIs' CRLs fetched, checked and stored (see ql-crl.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "ql-config.h"

G_BEGIN_DECLS

/* Updates the CRLs of the CIs named by @key_ids (NULL or empty: every shipped CI and every
 * anchor of @trust_anchors and the configuration) into @crl_dir (NULL: the configuration's).
 * Prints one line per CI, or adds `cis` to the JSON object open in @out (may be NULL). FALSE
 * when a CRL was refused or could not be fetched (the stored one is kept), with an error that
 * names each. */
gboolean ql_cli_crl_update(QlConfig *cfg, gchar **trust_anchors, const gchar *crl_dir,
			   guint timeout_ms, gchar **key_ids, JsonBuilder *out, GError **error);

G_END_DECLS
