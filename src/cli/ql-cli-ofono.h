/*
 * oFono in the CLI (ql-cli-ofono.c): oFono's modems in `quantra-l modems`, and `-o PATH`, which
 * reaches an oFono modem's eUICC through its ports while oFono is locked out of them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ql-cli.h"

G_BEGIN_DECLS

/* oFono's modems (QlOfonoModem), resolved with the configuration @config (NULL: the default) */
GPtrArray *ql_cli_ofono_list(const gchar *config, GError **error);
/* The fields of an oFono modem (QlOfonoModem): its JSON object in `modems`, and its row, in the
 * columns of ModemManager's modems (Modem, Stack, Model, Transport, Device, EID, eSIM, ICCID,
 * Operator) */
extern const QlCliField ql_cli_ofono_modem_fields[];

typedef struct _QlCliOfono QlCliOfono;

/* -o PATH: resolves the modem and, unless the configuration says its port is not oFono's and
 * the command does not switch profiles (@switches), locks it down, noting the lockdown in
 * @state_dir (a lockdown noted there that the process holding it left behind when it died is
 * first undone: the modem powered on again as it was). Until ql_cli_ofono_end(),
 * SIGINT and SIGTERM clear the lockdown and power the modem on again before quantra-l dies. */
QlCliOfono *ql_cli_ofono_begin(const gchar *config, const gchar *state_dir, const gchar *path,
			       gboolean switches, GError **error);
const gchar *ql_cli_ofono_spec(QlCliOfono *o);
const gchar *ql_cli_ofono_model(QlCliOfono *o);
/* After the command (the port closed): clears the lockdown and powers the modem on again; after
 * a profile switch (@switched) waits until oFono shows the SIM @expected_iccid (NULL: any, or
 * none), and tells what it shows (@out: a "modem" member; else a line on stderr). */
gboolean ql_cli_ofono_end(QlCliOfono *o, gboolean switched, const gchar *expected_iccid,
			  JsonBuilder *out, GError **error);
/* Ends when not ended yet (a failure is logged), then frees. */
void ql_cli_ofono_free(QlCliOfono *o);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlCliOfono, ql_cli_ofono_free)

G_END_DECLS
