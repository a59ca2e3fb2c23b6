/*
 * Activation codes (SGP.22 4.1): "LPA:1$SM-DP+ address$matching id[$SM-DP+ OID[$1]]".
 * The matching id is a secret: it never appears in messages or logs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
	gchar *smdp_address; /* host[:port] */
	gchar *matching_id;  /* may be empty; secret */
	gchar *smdp_oid;     /* may be NULL */
	gboolean confirmation_code_required;
} QlActivationCode;

void ql_activation_code_free(QlActivationCode *ac);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlActivationCode, ql_activation_code_free)

QlActivationCode *ql_activation_code_parse(const gchar *text, GError **error);
/* Checks an SM-DP+ / SM-DS address: a host name or IP literal, with an optional port. */
gboolean ql_activation_check_address(const gchar *address, GError **error);
/* Splits "host[:port]" / "[v6]:port"; @port gets 443 when absent. */
gboolean ql_activation_split_address(const gchar *address, gchar **host, guint16 *port,
				     GError **error);

G_END_DECLS
