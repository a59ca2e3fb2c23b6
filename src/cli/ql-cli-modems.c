/*
 * quantra-l modems: the modems ModemManager shows (as `mmcli -L`) and oFono's (ql-cli-ofono.c),
 * and what -m in this process does after a profile switch (give the modem back, wait for the
 * new SIM).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-cli-ofono.h"
#include "ql-ofono.h"
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
ql_cli_modem_stack(gconstpointer obj)
{
	return ql_cli_json_string_node("ModemManager");
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
	{"stack", N_("Stack"), QL_CLI_FIELD_CUSTOM, 0, ql_cli_modem_stack, NULL, 0},
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

/* The EIDs the stacks do not show (oFono never, ModemManager not for every modem), from
 * quantra-esimd when it runs */
static void
ql_cli_modems_add_eids(QlCli *cli, GPtrArray *mm, GPtrArray *ofono)
{
	g_autoptr(GHashTable) eids = NULL;

	if (mm->len == 0 && ofono->len == 0)
		return;
	eids = ql_cli_dbus_modem_eids(cli);
	for (guint i = 0; i < mm->len; i++) {
		QlModemInfo *m = g_ptr_array_index(mm, i);
		if (m->eid == NULL)
			m->eid = g_strdup(g_hash_table_lookup(eids, m->path));
	}
	for (guint i = 0; i < ofono->len; i++) {
		QlOfonoModem *m = g_ptr_array_index(ofono, i);
		m->eid = g_strdup(g_hash_table_lookup(eids, m->path));
	}
}

/* ModemManager's modems and oFono's: a stack that is not running is left out, unless neither is */
gboolean
ql_cli_modems(QlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GError) mm_error = NULL;
	g_autoptr(GError) ofono_error = NULL;
	g_autoptr(GPtrArray) mm = ql_modem_list(NULL, &mm_error);
	g_autoptr(GPtrArray) ofono = ql_cli_ofono_list(cli->config, &ofono_error);
	const QlCliField *fields[] = {ql_cli_modem_fields, ql_cli_ofono_modem_fields};
	GPtrArray *lists[2];

	if (mm == NULL && ofono == NULL) {
		g_set_error(error, QL_ERROR, mm_error->code, "%s; %s", mm_error->message,
			    ofono_error->message);
		return FALSE;
	}
	if (mm_error != NULL)
		g_debug("%s", mm_error->message);
	if (ofono_error != NULL)
		g_debug("%s", ofono_error->message);
	if (mm == NULL)
		mm = g_ptr_array_new();
	if (ofono == NULL)
		ofono = g_ptr_array_new();
	ql_cli_modems_add_eids(cli, mm, ofono);
	lists[0] = mm;
	lists[1] = ofono;
	if (cli->json) {
		json_builder_set_member_name(cli->out, "modems");
		json_builder_begin_array(cli->out);
		for (guint k = 0; k < G_N_ELEMENTS(lists); k++) {
			for (guint i = 0; i < lists[k]->len; i++) {
				json_builder_begin_object(cli->out);
				ql_cli_fields_json(fields[k], g_ptr_array_index(lists[k], i),
						   cli->out);
				json_builder_end_object(cli->out);
			}
		}
		json_builder_end_array(cli->out);
		return TRUE;
	}
	if (mm->len == 0 && ofono->len == 0) {
		g_print("%s\n", _("No modems were found"));
		return TRUE;
	}
	ql_cli_fields_table_multi(fields, lists, G_N_ELEMENTS(lists));
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
