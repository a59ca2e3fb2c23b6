/*
 * quantra-l modems: the modems ModemManager shows (as `mmcli -L`), and what -m in this process
 * does after a profile switch (give the modem back, wait for the new SIM).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ql-cli.h"

static JsonNode *
ql_cli_modem_uint(guint v)
{
	JsonNode *n = json_node_new(JSON_NODE_VALUE);
	json_node_set_int(n, v);
	return n;
}

static JsonNode *
ql_cli_modem_index(gconstpointer obj)
{
	return ql_cli_modem_uint(((const QlModemInfo *)obj)->index);
}

static JsonNode *
ql_cli_modem_slots(gconstpointer obj)
{
	return ql_cli_modem_uint(((const QlModemInfo *)obj)->n_slots);
}

static JsonNode *
ql_cli_modem_slot(gconstpointer obj)
{
	return ql_cli_modem_uint(((const QlModemInfo *)obj)->slot);
}

static gchar *
ql_cli_modem_model_text(gconstpointer obj)
{
	const QlModemInfo *m = obj;
	return g_strdup_printf("[%s] %s", m->manufacturer != NULL ? m->manufacturer : "?",
			       m->model != NULL ? m->model : "?");
}

static JsonNode *
ql_cli_modem_exclusive(gconstpointer obj)
{
	JsonNode *n = json_node_new(JSON_NODE_VALUE);
	json_node_set_boolean(n, ((const QlModemInfo *)obj)->exclusive);
	return n;
}

#define QL_MODEM_STR(key, label, member, text)                                                     \
	{                                                                                          \
		key, label, QL_CLI_FIELD_STRING, G_STRUCT_OFFSET(QlModemInfo, member), NULL, text, \
			0                                                                          \
	}
#define QL_MODEM_UINT(key, func)                                                                   \
	{                                                                                          \
		key, NULL, QL_CLI_FIELD_CUSTOM, 0, func, NULL, 0                                   \
	}

static const QlCliField ql_cli_modem_fields[] = {
	QL_MODEM_UINT("index", ql_cli_modem_index),
	QL_MODEM_STR("path", N_("Modem"), path, NULL),
	QL_MODEM_STR("manufacturer", NULL, manufacturer, NULL),
	QL_MODEM_STR("model", N_("Model"), model, ql_cli_modem_model_text),
	QL_MODEM_STR("transport", N_("Transport"), transport, NULL),
	QL_MODEM_STR("spec", N_("Device"), spec, NULL),
	QL_MODEM_STR("at_port", NULL, at_port, NULL),
	/* a TTY ModemManager holds: reached only while the modem is inhibited */
	QL_MODEM_UINT("exclusive", ql_cli_modem_exclusive),
	QL_MODEM_UINT("slots", ql_cli_modem_slots),
	QL_MODEM_UINT("slot", ql_cli_modem_slot),
	QL_MODEM_STR("eid", N_("EID"), eid, NULL),
	QL_MODEM_STR("sim_type", NULL, sim_type, NULL),
	QL_MODEM_STR("esim_status", N_("eSIM"), esim_status, NULL),
	QL_MODEM_STR("iccid", N_("ICCID"), iccid, NULL),
	QL_MODEM_STR("operator", N_("Operator"), operator_name, NULL),
	QL_MODEM_STR("state", NULL, state, NULL),
	{NULL},
};

gboolean
ql_cli_modems(QlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GPtrArray) modems = ql_modem_list(NULL, error);

	if (modems == NULL)
		return FALSE;
	if (cli->json) {
		ql_cli_fields_json_array(ql_cli_modem_fields, "modems", modems, cli->out);
		return TRUE;
	}
	if (modems->len == 0) {
		g_print("%s\n", _("No modems were found"));
		return TRUE;
	}
	ql_cli_fields_table(ql_cli_modem_fields, modems);
	return TRUE;
}

/* After a profile switch through ModemManager: give the modem back and wait until it shows the
 * SIM the switch asked for (or just comes back, after a disable). */
gboolean
ql_cli_modem_settle(QlCli *cli, const QlCliCommand *cmd, gchar **args, QlModemInfo *modem,
		    QlModemInhibit *inhibit, GError **error)
{
	g_autoptr(QlModemInfo) now = NULL;
	const gchar *expected = NULL;

	if (!ql_modem_uninhibit(inhibit, error))
		return FALSE;
	if (cmd->func == ql_cli_profile_enable && !cli->no_refresh && strlen(args[0]) < 32)
		expected = args[0];
	now = ql_modem_wait_for_iccid(NULL, modem, expected, 60000, error);
	if (now == NULL)
		return FALSE;
	if (cli->json) {
		json_builder_set_member_name(cli->out, "modem");
		json_builder_begin_object(cli->out);
		ql_cli_json_string(cli->out, "path", now->path);
		ql_cli_json_string(cli->out, "iccid", now->iccid);
		json_builder_end_object(cli->out);
	} else {
		g_autofree gchar *path = ql_cli_safe(now->path, QL_TEXT_MAX_FIELD);
		g_autofree gchar *iccid = ql_cli_safe(now->iccid, QL_TEXT_MAX_FIELD);
		g_printerr(_("ModemManager shows the modem again as %s with SIM %s\n"), path,
			   iccid != NULL ? iccid : "-");
	}
	return TRUE;
}
