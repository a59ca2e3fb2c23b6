/*
 * What the CLI keeps on the host: the state directory, the activation-code wallet (`code ...`,
 * ql-cli-code.c) and the audit trail (`audit ...`, and a record after each state change,
 * ql-cli-audit.c). ql-cli.c owns a QlCliState and fills the "set per command" fields before it
 * calls into these files.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ql-activation.h"
#include "ql-device.h"
#include "ql-download.h"
#include "ql-vault.h"

G_BEGIN_DECLS

typedef struct {
	/* options */
	gchar *state_dir; /* --state-dir */
	gchar *label;	  /* code add --label */
	gchar *code;	  /* profile download --code LABEL */
	gboolean reveal;  /* code show --reveal */
	gboolean keep;	  /* profile download --code LABEL --keep */
	/* set per command by ql-cli.c */
	const gchar *config;
	const gchar *activation_code; /* secret */
	const gchar *qr;
	gboolean yes;
	JsonBuilder *out; /* --json, else NULL */
	/* opened on demand */
	QlVault *vault;
	gchar *eid; /* the eUICC the current state change is made on */
} QlCliState;

void ql_cli_state_clear(QlCliState *st);
/* The options of this file's commands (--label, --reveal, --code, --keep). */
GOptionGroup *ql_cli_state_option_group(QlCliState *st);
/* Opens the vault of the state directory (--state-dir, else $QUANTRA_L_STATE_DIR, else the
 * configuration's state-dir, else /var/lib/quantra-l). */
gboolean ql_cli_state_open(QlCliState *st, GError **error);
/* The state directory: --state-dir, $QUANTRA_L_STATE_DIR, state-dir=, the default; @vault_key
 * (may be NULL) gets vault-key= */
gchar *ql_cli_state_dir(QlCliState *st, gchar **vault_key, GError **error);

/* --- the audit trail (ql-cli-audit.c) --- */

/* Before a state change on @ch: opens the vault, checks the trail can take a record, and reads
 * the EID. Refusing here changes nothing. */
gboolean ql_cli_audit_prepare(QlCliState *st, QlChannel *ch, GError **error);
/* After a state change: one record (key, value, ..., NULL; NULL values left out). */
gboolean ql_cli_audit_note(QlCliState *st, const gchar *action, GError **error,
			   ...) G_GNUC_NULL_TERMINATED;
/* After a download, successful (@report) or not (@failure). */
gboolean ql_cli_audit_download(QlCliState *st, const gchar *smdp_address,
			       const QlDownloadReport *report, const GError *failure,
			       GError **error);
gboolean ql_cli_audit_show(QlCliState *st, gchar **args, GError **error);
gboolean ql_cli_audit_verify(QlCliState *st, gchar **args, GError **error);

/* --- the wallet (ql-cli-code.c) --- */

gboolean ql_cli_code_add(QlCliState *st, gchar **args, GError **error);
gboolean ql_cli_code_list(QlCliState *st, gchar **args, GError **error);
gboolean ql_cli_code_show(QlCliState *st, gchar **args, GError **error);
gboolean ql_cli_code_remove(QlCliState *st, gchar **args, GError **error);
/* profile download --code LABEL: the code to download with (@other_sources: another source of a
 * code was given too, an error). */
QlActivationCode *ql_cli_code_for_download(QlCliState *st, gboolean other_sources, GError **error);
/* After a successful download with --code: records the use, removes the code unless --keep. */
gboolean ql_cli_code_downloaded(QlCliState *st, const QlDownloadReport *report, GError **error);

G_END_DECLS
