/*
 * oFono in the CLI. See ql-cli-ofono.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-cli-ofono.h"
#include "ql-cli.h"
#include "ql-config.h"
#include "ql-ofono.h"
#include "ql-text.h"

/* how long oFono may take to read the SIM after a switch */
#define QL_CLI_OFONO_SETTLE_MS 60000

struct _QlCliOfono {
	QlOfonoModem *modem;
	gchar *state_dir;  /* where the lockdown is noted */
	QlOfonoLock *lock; /* NULL when the port is not oFono's and nothing is switched */
	gboolean ended;
	gboolean watched; /* ql_cli_on_exit_signal() has ql_cli_ofono_undo */
};

GPtrArray *
ql_cli_ofono_list(const gchar *config, GError **error)
{
	g_autoptr(QlConfig) cfg = ql_config_load(config, error);
	if (cfg == NULL)
		return NULL;
	return ql_ofono_list(NULL, cfg, error);
}

static JsonNode *
ql_cli_ofono_bool(gboolean v)
{
	JsonNode *n = json_node_new(JSON_NODE_VALUE);
	json_node_set_boolean(n, v);
	return n;
}

static JsonNode *
ql_cli_ofono_stack(gconstpointer obj)
{
	return ql_cli_json_string_node("oFono");
}

static JsonNode *
ql_cli_ofono_powered(gconstpointer obj)
{
	return ql_cli_ofono_bool(((const QlOfonoModem *)obj)->powered);
}

static JsonNode *
ql_cli_ofono_online(gconstpointer obj)
{
	return ql_cli_ofono_bool(((const QlOfonoModem *)obj)->online);
}

static JsonNode *
ql_cli_ofono_lockdown(gconstpointer obj)
{
	return ql_cli_ofono_bool(((const QlOfonoModem *)obj)->lockdown);
}

static JsonNode *
ql_cli_ofono_sim_present(gconstpointer obj)
{
	return ql_cli_ofono_bool(((const QlOfonoModem *)obj)->sim_present);
}

static gchar *
ql_cli_ofono_model_text(gconstpointer obj)
{
	const QlOfonoModem *m = obj;
	return g_strdup_printf("[%s] %s", m->manufacturer != NULL ? m->manufacturer : "?",
			       m->model != NULL ? m->model : "?");
}

static gchar *
ql_cli_ofono_device_text(gconstpointer obj)
{
	const QlOfonoModem *m = obj;
	return m->spec != NULL ? g_strdup(m->spec) : g_strdup(_("unknown (see --json)"));
}

static gchar *
ql_cli_ofono_eid_text(gconstpointer obj)
{
	const QlOfonoModem *m = obj;
	return g_strdup(m->eid != NULL ? m->eid : "-"); /* quantra-esimd's, when it runs */
}

static gchar *
ql_cli_ofono_none_text(gconstpointer obj)
{
	return g_strdup("-"); /* oFono does not read the EID, the eSIM state, the operator here */
}

static gchar *
ql_cli_ofono_sim_text(gconstpointer obj)
{
	const QlOfonoModem *m = obj;
	return m->iccid != NULL && m->sim_present ? g_strdup(m->iccid)
	       : m->powered			  ? g_strdup(_("no SIM"))
	       : m->lockdown			  ? g_strdup(_("locked down"))
						  : g_strdup(_("powered off"));
}

#define QL_OFONO_STR(key, label, member, text)                                                     \
	{                                                                                          \
		key, label, QL_CLI_FIELD_STRING, G_STRUCT_OFFSET(QlOfonoModem, member), NULL,      \
			text, 0                                                                    \
	}
#define QL_OFONO_CUSTOM(key, label, func, text, flags)                                             \
	{                                                                                          \
		key, label, QL_CLI_FIELD_CUSTOM, 0, func, text, flags                              \
	}

/* the labelled fields are the columns of ModemManager's modems in ql-cli-modems.c */
const QlCliField ql_cli_ofono_modem_fields[] = {
	QL_OFONO_STR("path", N_("Modem"), path, NULL),
	QL_OFONO_CUSTOM("stack", N_("Stack"), ql_cli_ofono_stack, NULL, 0),
	QL_OFONO_STR("manufacturer", NULL, manufacturer, NULL),
	QL_OFONO_STR("model", N_("Model"), model, ql_cli_ofono_model_text),
	QL_OFONO_STR("serial", NULL, serial, NULL),
	QL_OFONO_STR("type", NULL, type, NULL),
	QL_OFONO_CUSTOM("powered", NULL, ql_cli_ofono_powered, NULL, 0),
	QL_OFONO_CUSTOM("online", NULL, ql_cli_ofono_online, NULL, 0),
	QL_OFONO_CUSTOM("lockdown", NULL, ql_cli_ofono_lockdown, NULL, 0),
	QL_OFONO_STR("system_path", NULL, system_path, NULL),
	QL_OFONO_STR("transport", N_("Transport"), transport, NULL),
	QL_OFONO_STR("spec", N_("Device"), spec, ql_cli_ofono_device_text),
	QL_OFONO_STR("spec_origin", NULL, spec_origin, NULL),
	QL_OFONO_STR("unresolved", NULL, unresolved, NULL),
	QL_OFONO_STR("eid", N_("EID"), eid, ql_cli_ofono_eid_text),
	QL_OFONO_CUSTOM("esim", N_("eSIM"), NULL, ql_cli_ofono_none_text,
			QL_CLI_FIELD_FLAG_TEXT_ONLY),
	QL_OFONO_CUSTOM("sim_present", NULL, ql_cli_ofono_sim_present, NULL, 0),
	QL_OFONO_STR("iccid", N_("ICCID"), iccid, ql_cli_ofono_sim_text),
	QL_OFONO_CUSTOM("operator", N_("Operator"), NULL, ql_cli_ofono_none_text,
			QL_CLI_FIELD_FLAG_TEXT_ONLY),
	{NULL},
};

/* --- SIGINT / SIGTERM while oFono is locked out --- */

/* Clears the lockdown and powers the modem as it was; then (or when oFono no longer has the
 * modem) the note goes */
static gboolean
ql_cli_ofono_unlock(QlCliOfono *o, GError **error)
{
	g_autoptr(GError) local = NULL;
	gboolean ok = ql_ofono_unlock(o->lock, &local);

	if (ok || g_error_matches(local, QL_ERROR, QL_ERROR_NOT_FOUND))
		ql_ofono_lockdown_forget(o->state_dir, o->modem->path);
	if (!ok)
		g_propagate_error(error, g_steal_pointer(&local));
	return ok;
}

/* Run by ql-cli.c's signal thread when a signal ends the process (not when Ctrl-C only
 * cancels a long operation, whose end then unlocks as usual). */
static void
ql_cli_ofono_undo(gpointer data)
{
	QlCliOfono *o = data;
	g_autoptr(GError) error = NULL;

	if (o->ended || o->lock == NULL)
		return;
	o->ended = TRUE;
	if (!ql_cli_ofono_unlock(o, &error)) {
		g_autofree gchar *safe = ql_text_escape(error->message, -1, QL_TEXT_MAX_MESSAGE);
		g_printerr("%s: %s\n", g_get_prgname(), safe);
	} else {
		g_autofree gchar *safe = ql_text_escape(o->modem->path, -1, QL_TEXT_MAX_FIELD);
		g_printerr(_("%s: interrupted: oFono has modem %s back\n"), g_get_prgname(), safe);
	}
}

static void
ql_cli_ofono_unwatch(QlCliOfono *o)
{
	if (!o->watched)
		return;
	ql_cli_on_exit_signal(NULL, NULL);
	o->watched = FALSE;
}

/* --- -o PATH --- */

QlCliOfono *
ql_cli_ofono_begin(const gchar *config, const gchar *state_dir, const gchar *path,
		   gboolean switches, GError **error)
{
	g_autoptr(QlConfig) cfg = ql_config_load(config, error);
	g_autoptr(QlCliOfono) o = NULL;
	g_autoptr(GError) local = NULL;

	if (cfg == NULL)
		return NULL;
	o = g_new0(QlCliOfono, 1);
	o->state_dir = g_strdup(state_dir);
	o->modem = ql_ofono_resolve(NULL, cfg, path, error);
	if (o->modem == NULL) {
		o->ended = TRUE;
		return NULL;
	}
	/* a lockdown a quantra-l (or quantra-esimd) that died left behind: the modem as it was */
	if (!ql_ofono_lockdown_recover(NULL, state_dir, o->modem, &local))
		g_warning("%s", local->message);
	if (o->modem->shared_port && !switches)
		return g_steal_pointer(&o);
	/* (the lockdown reads the modem's power afresh: it gives it back as it is now) */
	o->lock = ql_ofono_lockdown(NULL, o->modem, error);
	if (o->lock == NULL)
		return NULL;
	ql_ofono_lockdown_note(state_dir, o->lock);
	/* a signal that ends quantra-l from now on gives oFono its modem back first */
	ql_cli_on_exit_signal(ql_cli_ofono_undo, o);
	o->watched = TRUE;
	return g_steal_pointer(&o);
}

const gchar *
ql_cli_ofono_spec(QlCliOfono *o)
{
	return o->modem->spec;
}

const gchar *
ql_cli_ofono_model(QlCliOfono *o)
{
	return o->modem->model;
}

gboolean
ql_cli_ofono_end(QlCliOfono *o, gboolean switched, const gchar *expected_iccid, JsonBuilder *out,
		 GError **error)
{
	g_autoptr(QlOfonoModem) now = NULL;
	const gchar *path = o->modem->path;
	gboolean ok = TRUE;

	/* waits for an undo the signal thread runs: then it is ended */
	ql_cli_ofono_unwatch(o);
	if (o->ended)
		return TRUE;
	o->ended = TRUE;
	if (o->lock != NULL)
		ok = ql_cli_ofono_unlock(o, error);
	if (!ok || !switched)
		return ok;
	if (o->lock != NULL && !ql_ofono_lock_was_powered(o->lock)) {
		g_printerr(_("oFono's modem %s is powered off: oFono reads the new SIM when it is "
			     "powered on\n"),
			   path);
		return TRUE;
	}
	now = ql_ofono_wait_for_iccid(NULL, path, expected_iccid, QL_CLI_OFONO_SETTLE_MS, error);
	if (now == NULL)
		return FALSE;
	if (out != NULL) {
		json_builder_set_member_name(out, "modem");
		json_builder_begin_object(out);
		ql_cli_json_string(out, "stack", "oFono");
		ql_cli_json_string(out, "path", now->path);
		ql_cli_json_string(out, "iccid", now->sim_present ? now->iccid : NULL);
		json_builder_end_object(out);
	} else {
		g_autofree gchar *safe_path = ql_text_escape(now->path, -1, QL_TEXT_MAX_FIELD);
		g_autofree gchar *iccid =
			ql_text_escape(now->sim_present ? now->iccid : NULL, -1, QL_TEXT_MAX_FIELD);
		g_printerr(_("oFono shows modem %s again with SIM %s\n"), safe_path,
			   iccid != NULL ? iccid : "-");
	}
	return TRUE;
}

void
ql_cli_ofono_free(QlCliOfono *o)
{
	g_autoptr(GError) error = NULL;

	if (o == NULL)
		return;
	if (!o->ended && !ql_cli_ofono_end(o, FALSE, NULL, NULL, &error)) {
		g_autofree gchar *safe = ql_text_escape(error->message, -1, QL_TEXT_MAX_MESSAGE);
		g_printerr("%s: %s\n", g_get_prgname(), safe);
	}
	ql_cli_ofono_unwatch(o);
	g_clear_pointer(&o->lock, ql_ofono_lock_free);
	g_clear_pointer(&o->modem, ql_ofono_modem_free);
	g_free(o->state_dir);
	g_free(o);
}
