/*
 * The activation-code wallet: codes (from QR images or typed) kept sealed in the vault until
 * they are used, record kind "code", one record per label, bound to no eUICC. The decoded code is
 * sealed at once; an image is never copied. Every change is written to the audit trail (the
 * label and the SM-DP+ host, never the code).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

#include "ql-activation.h"
#include "ql-vault.h"

G_BEGIN_DECLS

typedef struct {
	gchar *label;
	gchar *smdp_address;		     /* NULL when damaged */
	gboolean confirmation_code_required; /* the code says so ($1) */
	gint64 added;			     /* Unix time */
	GError *error;			     /* the record does not open (names it) */
} QlWalletEntry;

void ql_wallet_entry_free(QlWalletEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlWalletEntry, ql_wallet_entry_free)

/* Checks and seals @activation_code under @label (NULL: named after its SM-DP+ host, made
 * unique). Refuses a label in use and a code the wallet already holds. Returns the label. */
gchar *ql_wallet_add(QlVault *vault, const gchar *activation_code, const gchar *label,
		     GError **error);
/* Every code, sorted by label; damaged records are entries with @error set. */
GPtrArray *ql_wallet_list(QlVault *vault, GError **error);
/* One code's entry; QL_ERROR_NOT_FOUND when there is no such label. */
QlWalletEntry *ql_wallet_lookup(QlVault *vault, const gchar *label, GError **error);
/* The activation code itself (a secret, for moving it to another device); audited. */
gchar *ql_wallet_reveal(QlVault *vault, const gchar *label, GError **error);
/* The parsed code, for a download. Nothing is changed. */
QlActivationCode *ql_wallet_get(QlVault *vault, const gchar *label, GError **error);
/* After a successful install with the code of @label: audits the use and removes the code
 * unless @keep. */
gboolean ql_wallet_used(QlVault *vault, const gchar *label, const gchar *iccid, gboolean keep,
			GError **error);
gboolean ql_wallet_remove(QlVault *vault, const gchar *label, GError **error);

G_END_DECLS
