/*
 * quantra-l: the command line. In direct mode (--direct DEVICE) it runs the operation in this
 * process through the device's plugin; the service mode talks to quantra-esimd over D-Bus.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-device.h"
#include "ql-es10.h"
#include "ql-tlv.h"

/* Exit codes, documented in the README */
enum {
	QL_EXIT_OK = 0,
	QL_EXIT_FAILED = 1,
	QL_EXIT_USAGE = 2,
	QL_EXIT_NOT_FOUND = 3,
	QL_EXIT_REFUSED = 4, /* the eUICC or the SM-DP+ said no */
	QL_EXIT_DEVICE = 5,  /* plugin, modem, reader, state file */
	QL_EXIT_MALFORMED = 6,
	QL_EXIT_TRUST = 7, /* TLS / certificate refused */
	QL_EXIT_NETWORK = 8,
};

typedef struct {
	gchar *direct;
	gchar *modem;
	gboolean json;
	gboolean verbose;
	gboolean version;
	gboolean yes;
	gboolean all;
	gboolean no_refresh;
	gchar **reset_options;
	gchar **args;
	JsonBuilder *out; /* --json result */
} QlCli;

typedef gboolean (*QlCliFunc)(QlCli *cli, QlChannel *ch, gchar **args, GError **error);

typedef struct {
	const gchar *object;
	const gchar *verb;
	guint min_args;
	guint max_args;
	const gchar *usage; /* arguments, for --help */
	const gchar *summary;
	QlCliFunc func;
} QlCliCommand;

/* ---- output helpers ---- */

static void
ql_cli_table_print(GPtrArray *rows, guint ncols)
{
	/* rows: GStrv each; the first row is the header */
	g_autofree gsize *width = g_new0(gsize, ncols);
	for (guint r = 0; r < rows->len; r++) {
		gchar **row = g_ptr_array_index(rows, r);
		for (guint c = 0; c < ncols; c++)
			width[c] = MAX(width[c], (gsize)g_utf8_strlen(row[c], -1));
	}
	for (guint r = 0; r < rows->len; r++) {
		gchar **row = g_ptr_array_index(rows, r);
		g_autoptr(GString) line = g_string_new(NULL);
		for (guint c = 0; c < ncols; c++) {
			g_string_append(line, row[c]);
			if (c + 1 < ncols) {
				gsize pad = width[c] - g_utf8_strlen(row[c], -1) + 2;
				for (gsize i = 0; i < pad; i++)
					g_string_append_c(line, ' ');
			}
		}
		g_print("%s\n", line->str);
	}
}

static void
ql_cli_kv(const gchar *key, const gchar *value)
{
	g_print("  %-28s %s\n", key, value != NULL ? value : "-");
}

static void
ql_cli_json_string(JsonBuilder *b, const gchar *key, const gchar *value)
{
	json_builder_set_member_name(b, key);
	if (value != NULL)
		json_builder_add_string_value(b, value);
	else
		json_builder_add_null_value(b);
}

static void
ql_cli_json_int(JsonBuilder *b, const gchar *key, gint64 value)
{
	json_builder_set_member_name(b, key);
	if (value >= 0)
		json_builder_add_int_value(b, value);
	else
		json_builder_add_null_value(b);
}

static gchar *
ql_cli_bytes_human(gint64 n)
{
	if (n < 0)
		return g_strdup(_("unknown"));
	return g_format_size_full((guint64)n, G_FORMAT_SIZE_IEC_UNITS);
}

/* ---- chip ---- */

static void
ql_cli_key_ids(QlCli *cli, const gchar *json_key, const gchar *label, GPtrArray *ids)
{
	if (cli->json) {
		json_builder_set_member_name(cli->out, json_key);
		json_builder_begin_array(cli->out);
		for (guint i = 0; i < ids->len; i++) {
			GBytes *id = g_ptr_array_index(ids, i);
			g_autofree gchar *hex =
				ql_hex_encode(g_bytes_get_data(id, NULL), g_bytes_get_size(id));
			json_builder_begin_object(cli->out);
			ql_cli_json_string(cli->out, "key_id", hex);
			ql_cli_json_string(cli->out, "name", ql_ci_key_id_name(id));
			json_builder_end_object(cli->out);
		}
		json_builder_end_array(cli->out);
		return;
	}
	g_print("  %s\n", label);
	if (ids->len == 0)
		g_print("    %s\n", _("(none)"));
	for (guint i = 0; i < ids->len; i++) {
		GBytes *id = g_ptr_array_index(ids, i);
		g_autofree gchar *hex =
			ql_hex_encode(g_bytes_get_data(id, NULL), g_bytes_get_size(id));
		const gchar *name = ql_ci_key_id_name(id);
		g_print("    %s  %s\n", hex, name != NULL ? name : _("(unknown CI)"));
	}
}

static gboolean
ql_cli_chip_info(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autofree gchar *eid = NULL;
	g_autoptr(QlEuiccInfo2) info = NULL;
	g_autofree gchar *default_dp = NULL;
	g_autofree gchar *root_ds = NULL;

	eid = ql_es10_get_eid(ch, error);
	if (eid == NULL)
		return FALSE;
	info = ql_es10_get_euicc_info2(ch, error);
	if (info == NULL)
		return FALSE;
	if (!ql_es10_get_configured_addresses(ch, &default_dp, &root_ds, error))
		return FALSE;

	if (cli->json) {
		JsonBuilder *b = cli->out;
		ql_cli_json_string(b, "eid", eid);
		ql_cli_json_string(b, "svn", info->svn);
		ql_cli_json_string(b, "profile_version", info->profile_version);
		ql_cli_json_string(b, "firmware_version", info->firmware_version);
		ql_cli_json_int(b, "installed_apps", info->installed_apps);
		ql_cli_json_int(b, "free_nvm", info->free_nvm);
		ql_cli_json_int(b, "free_ram", info->free_ram);
		ql_cli_json_int(b, "category", info->category);
		ql_cli_json_string(b, "pp_version", info->pp_version);
		ql_cli_json_string(b, "sas_accreditation", info->sas_accreditation);
		ql_cli_json_string(b, "default_smdp", default_dp);
		ql_cli_json_string(b, "root_smds", root_ds);
		ql_cli_key_ids(cli, "ci_key_ids_verification", NULL, info->ci_pkid_verification);
		ql_cli_key_ids(cli, "ci_key_ids_signing", NULL, info->ci_pkid_signing);
		return TRUE;
	}
	{
		g_autofree gchar *nvm = ql_cli_bytes_human(info->free_nvm);
		g_autofree gchar *ram = ql_cli_bytes_human(info->free_ram);
		g_autofree gchar *apps = info->installed_apps >= 0
						 ? g_strdup_printf("%" G_GINT64_FORMAT,
								   info->installed_apps)
						 : NULL;
		g_print("%s\n", _("eUICC"));
		ql_cli_kv(_("EID"), eid);
		ql_cli_kv(_("SGP.22 version"), info->svn);
		ql_cli_kv(_("Profile package version"), info->profile_version);
		ql_cli_kv(_("Firmware version"), info->firmware_version);
		ql_cli_kv(_("Free memory (NVM)"), nvm);
		ql_cli_kv(_("Free memory (RAM)"), ram);
		ql_cli_kv(_("Installed applications"), apps);
		ql_cli_kv(_("Protection profile"), info->pp_version);
		ql_cli_kv(_("SAS accreditation"), info->sas_accreditation);
		ql_cli_kv(_("Default SM-DP+"), default_dp);
		ql_cli_kv(_("Root SM-DS"), root_ds);
		ql_cli_key_ids(cli, NULL, _("CI keys for verification:"),
			       info->ci_pkid_verification);
		ql_cli_key_ids(cli, NULL, _("CI keys for signing:"), info->ci_pkid_signing);
	}
	return TRUE;
}

static gboolean
ql_cli_chip_default_smdp(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autofree gchar *default_dp = NULL;

	if (args[0] != NULL) {
		if (!ql_es10_set_default_dp_address(ch, args[0], error))
			return FALSE;
	}
	if (!ql_es10_get_configured_addresses(ch, &default_dp, NULL, error))
		return FALSE;
	if (cli->json)
		ql_cli_json_string(cli->out, "default_smdp", default_dp);
	else
		g_print("%s\n", default_dp != NULL && default_dp[0] != '\0'
				       ? default_dp
				       : _("(no default SM-DP+ address)"));
	return TRUE;
}

static gboolean
ql_cli_chip_reset(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	guint options = 0;

	if (!cli->yes) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("chip reset deletes profiles for good: add --yes to confirm"));
		return FALSE;
	}
	if (cli->reset_options == NULL) {
		options = QL_RESET_DELETE_OPERATIONAL | QL_RESET_DELETE_TEST |
			  QL_RESET_DEFAULT_SMDP;
	}
	for (guint i = 0; cli->reset_options != NULL && cli->reset_options[i] != NULL; i++) {
		const gchar *o = cli->reset_options[i];
		if (g_strcmp0(o, "operational") == 0)
			options |= QL_RESET_DELETE_OPERATIONAL;
		else if (g_strcmp0(o, "test") == 0)
			options |= QL_RESET_DELETE_TEST;
		else if (g_strcmp0(o, "default-smdp") == 0)
			options |= QL_RESET_DEFAULT_SMDP;
		else {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("unknown reset option '%s' (operational, test, default-smdp)"),
				    o);
			return FALSE;
		}
	}
	if (!ql_es10_memory_reset(ch, options, error))
		return FALSE;
	if (cli->json)
		ql_cli_json_string(cli->out, "result", "ok");
	else
		g_print("%s\n", _("eUICC memory reset"));
	return TRUE;
}

/* ---- profiles ---- */

static gboolean
ql_cli_profile_list(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autoptr(GPtrArray) profiles = ql_es10_get_profiles(ch, NULL, error);
	g_autoptr(GPtrArray) rows = NULL;

	if (profiles == NULL)
		return FALSE;
	if (cli->json) {
		json_builder_set_member_name(cli->out, "profiles");
		json_builder_begin_array(cli->out);
		for (guint i = 0; i < profiles->len; i++) {
			QlProfileInfo *p = g_ptr_array_index(profiles, i);
			g_autofree gchar *icon = NULL;
			json_builder_begin_object(cli->out);
			ql_cli_json_string(cli->out, "iccid", p->iccid);
			ql_cli_json_string(cli->out, "isdp_aid", p->isdp_aid);
			ql_cli_json_string(cli->out, "state", ql_profile_state_to_string(p->state));
			ql_cli_json_string(cli->out, "nickname", p->nickname);
			ql_cli_json_string(cli->out, "service_provider", p->service_provider);
			ql_cli_json_string(cli->out, "name", p->name);
			ql_cli_json_string(cli->out, "class",
					   ql_profile_class_to_string(p->profile_class));
			ql_cli_json_string(cli->out, "icon_type",
					   p->icon_type == 0   ? "jpg"
					   : p->icon_type == 1 ? "png"
							       : NULL);
			if (p->icon != NULL)
				icon = g_base64_encode(g_bytes_get_data(p->icon, NULL),
						       g_bytes_get_size(p->icon));
			ql_cli_json_string(cli->out, "icon", icon);
			ql_cli_json_string(cli->out, "owner_mccmnc", p->owner_mccmnc);
			json_builder_end_object(cli->out);
		}
		json_builder_end_array(cli->out);
		return TRUE;
	}
	if (profiles->len == 0) {
		g_print("%s\n", _("No profiles on this eUICC."));
		return TRUE;
	}
	rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	g_ptr_array_add(rows, g_strdupv((gchar *[]){_("ICCID"), _("State"), _("Class"),
						    _("Provider"), _("Name"), _("Nickname"),
						    NULL}));
	for (guint i = 0; i < profiles->len; i++) {
		QlProfileInfo *p = g_ptr_array_index(profiles, i);
		gchar **row = g_new0(gchar *, 7);
		row[0] = g_strdup(p->iccid);
		row[1] = g_strdup(ql_profile_state_to_string(p->state));
		row[2] = g_strdup(ql_profile_class_to_string(p->profile_class));
		row[3] = g_strdup(p->service_provider != NULL ? p->service_provider : "-");
		row[4] = g_strdup(p->name != NULL ? p->name : "-");
		row[5] = g_strdup(p->nickname != NULL && p->nickname[0] != '\0' ? p->nickname
										 : "-");
		g_ptr_array_add(rows, row);
	}
	ql_cli_table_print(rows, 6);
	return TRUE;
}

static gboolean
ql_cli_done(QlCli *cli, const gchar *key, const gchar *value, const gchar *message)
{
	if (cli->json) {
		ql_cli_json_string(cli->out, "result", "ok");
		if (key != NULL)
			ql_cli_json_string(cli->out, key, value);
	} else {
		g_print("%s\n", message);
	}
	return TRUE;
}

static gboolean
ql_cli_profile_enable(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autofree gchar *msg = NULL;
	if (!ql_es10_enable_profile(ch, args[0], !cli->no_refresh, error))
		return FALSE;
	msg = g_strdup_printf(_("Profile %s enabled"), args[0]);
	return ql_cli_done(cli, "iccid", args[0], msg);
}

static gboolean
ql_cli_profile_disable(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autofree gchar *msg = NULL;
	if (!ql_es10_disable_profile(ch, args[0], !cli->no_refresh, error))
		return FALSE;
	msg = g_strdup_printf(_("Profile %s disabled"), args[0]);
	return ql_cli_done(cli, "iccid", args[0], msg);
}

static gboolean
ql_cli_profile_delete(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autofree gchar *msg = NULL;
	if (!ql_es10_delete_profile(ch, args[0], error))
		return FALSE;
	msg = g_strdup_printf(_("Profile %s deleted"), args[0]);
	return ql_cli_done(cli, "iccid", args[0], msg);
}

static gboolean
ql_cli_profile_nickname(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autofree gchar *msg = NULL;
	if (!ql_es10_set_nickname(ch, args[0], args[1], error))
		return FALSE;
	msg = g_strdup_printf(_("Profile %s is now called '%s'"), args[0], args[1]);
	if (cli->json)
		ql_cli_json_string(cli->out, "nickname", args[1]);
	return ql_cli_done(cli, "iccid", args[0], msg);
}

/* ---- notifications ---- */

static gboolean
ql_cli_notification_list(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autoptr(GPtrArray) list = ql_es10_list_notifications(ch, error);
	g_autoptr(GPtrArray) rows = NULL;

	if (list == NULL)
		return FALSE;
	if (cli->json) {
		json_builder_set_member_name(cli->out, "notifications");
		json_builder_begin_array(cli->out);
		for (guint i = 0; i < list->len; i++) {
			QlNotification *n = g_ptr_array_index(list, i);
			json_builder_begin_object(cli->out);
			json_builder_set_member_name(cli->out, "seq");
			json_builder_add_int_value(cli->out, n->seq);
			ql_cli_json_string(cli->out, "operation",
					   ql_notification_event_to_string(n->operation));
			ql_cli_json_string(cli->out, "address", n->address);
			ql_cli_json_string(cli->out, "iccid", n->iccid);
			json_builder_end_object(cli->out);
		}
		json_builder_end_array(cli->out);
		return TRUE;
	}
	if (list->len == 0) {
		g_print("%s\n", _("No pending notifications."));
		return TRUE;
	}
	rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	g_ptr_array_add(rows, g_strdupv((gchar *[]){_("Seq"), _("Operation"), _("ICCID"),
						    _("SM-DP+ address"), NULL}));
	for (guint i = 0; i < list->len; i++) {
		QlNotification *n = g_ptr_array_index(list, i);
		gchar **row = g_new0(gchar *, 5);
		row[0] = g_strdup_printf("%" G_GINT64_FORMAT, n->seq);
		row[1] = g_strdup(ql_notification_event_to_string(n->operation));
		row[2] = g_strdup(n->iccid != NULL ? n->iccid : "-");
		row[3] = g_strdup(n->address);
		g_ptr_array_add(rows, row);
	}
	ql_cli_table_print(rows, 4);
	return TRUE;
}

static gboolean
ql_cli_notification_remove(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(gint64));

	if (cli->all == (args[0] != NULL)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("give either a sequence number or --all"));
		return FALSE;
	}
	if (cli->all) {
		g_autoptr(GPtrArray) list = ql_es10_list_notifications(ch, error);
		if (list == NULL)
			return FALSE;
		for (guint i = 0; i < list->len; i++) {
			QlNotification *n = g_ptr_array_index(list, i);
			g_array_append_val(seqs, n->seq);
		}
	} else {
		guint64 seq = 0;
		if (!g_ascii_string_to_unsigned(args[0], 10, 0, G_MAXINT32, &seq, NULL)) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("'%s' is not a sequence number"), args[0]);
			return FALSE;
		}
		g_array_append_val(seqs, (gint64){(gint64)seq});
	}
	for (guint i = 0; i < seqs->len; i++) {
		if (!ql_es10_remove_notification(ch, g_array_index(seqs, gint64, i), error))
			return FALSE;
	}
	if (cli->json) {
		ql_cli_json_string(cli->out, "result", "ok");
		json_builder_set_member_name(cli->out, "removed");
		json_builder_begin_array(cli->out);
		for (guint i = 0; i < seqs->len; i++)
			json_builder_add_int_value(cli->out, g_array_index(seqs, gint64, i));
		json_builder_end_array(cli->out);
	} else {
		g_print(g_dngettext(GETTEXT_PACKAGE, "Removed %u notification\n",
				    "Removed %u notifications\n", seqs->len),
			seqs->len);
	}
	return TRUE;
}

static const QlCliCommand ql_cli_commands[] = {
	{"chip", "info", 0, 0, "", N_("EID, SGP.22 version, free memory, trusted CIs"),
	 ql_cli_chip_info},
	{"chip", "default-smdp", 0, 1, "[ADDRESS]", N_("show or set the default SM-DP+ address"),
	 ql_cli_chip_default_smdp},
	{"chip", "reset", 0, 0, "--yes [--reset-option=WHAT]...",
	 N_("erase the eUICC (all profiles and the default SM-DP+ unless options say less)"),
	 ql_cli_chip_reset},
	{"profile", "list", 0, 0, "", N_("list the profiles"), ql_cli_profile_list},
	{"profile", "enable", 1, 1, "ICCID", N_("enable a profile (disables the enabled one)"),
	 ql_cli_profile_enable},
	{"profile", "disable", 1, 1, "ICCID", N_("disable a profile"), ql_cli_profile_disable},
	{"profile", "delete", 1, 1, "ICCID", N_("delete a disabled profile"),
	 ql_cli_profile_delete},
	{"profile", "nickname", 2, 2, "ICCID NAME", N_("set a profile's nickname (\"\" clears it)"),
	 ql_cli_profile_nickname},
	{"notification", "list", 0, 0, "", N_("list the notifications waiting on the eUICC"),
	 ql_cli_notification_list},
	{"notification", "remove", 0, 1, "SEQ|--all",
	 N_("remove notifications from the eUICC without delivering them"),
	 ql_cli_notification_remove},
};

static gchar *
ql_cli_commands_help(void)
{
	GString *s = g_string_new(_("Commands:"));
	g_string_append_c(s, '\n');
	for (guint i = 0; i < G_N_ELEMENTS(ql_cli_commands); i++) {
		const QlCliCommand *c = &ql_cli_commands[i];
		g_autofree gchar *left =
			g_strdup_printf("%s %s %s", c->object, c->verb, c->usage);
		g_string_append_printf(s, "  %-44s %s\n", left, _(c->summary));
	}
	g_string_append(s, _("\nDevices: virtual:STATEFILE[?seed=N&identity=DIR], and the "
			     "installed plugins' schemes; every device takes ?block=N and "
			     "?isd-r=AID.\nExit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 "
			     "refused by the eUICC, 5 device error, 6 malformed data."));
	return g_string_free(s, FALSE);
}

static gint
ql_cli_exit_code(const GError *error)
{
	if (error->domain != QL_ERROR)
		return QL_EXIT_FAILED;
	switch (error->code) {
	case QL_ERROR_INVALID_ARGUMENT:
		return QL_EXIT_USAGE;
	case QL_ERROR_NOT_FOUND:
		return QL_EXIT_NOT_FOUND;
	case QL_ERROR_CARD:
	case QL_ERROR_EUICC:
	case QL_ERROR_SMDP:
	case QL_ERROR_BUSY:
		return QL_EXIT_REFUSED;
	case QL_ERROR_IO:
	case QL_ERROR_PLUGIN:
	case QL_ERROR_TIMEOUT:
		return QL_EXIT_DEVICE;
	case QL_ERROR_MALFORMED:
		return QL_EXIT_MALFORMED;
	case QL_ERROR_TLS:
		return QL_EXIT_TRUST;
	case QL_ERROR_HTTP:
		return QL_EXIT_NETWORK;
	default:
		return QL_EXIT_FAILED;
	}
}

static gint
ql_cli_fail(QlCli *cli, const GError *error)
{
	gint code = ql_cli_exit_code(error);
	g_printerr("%s: %s\n", g_get_prgname(), error->message);
	if (cli->json) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonGenerator) gen = json_generator_new();
		g_autoptr(JsonNode) root = NULL;
		g_autofree gchar *text = NULL;
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "error");
		json_builder_begin_object(b);
		ql_cli_json_string(b, "name",
				   error->domain == QL_ERROR ? ql_error_dbus_name(error->code)
							     : "org.quantra.Esim1.Error.Failed");
		ql_cli_json_string(b, "message", error->message);
		json_builder_set_member_name(b, "exit_code");
		json_builder_add_int_value(b, code);
		json_builder_end_object(b);
		json_builder_end_object(b);
		root = json_builder_get_root(b);
		json_generator_set_root(gen, root);
		json_generator_set_pretty(gen, TRUE);
		text = json_generator_to_data(gen, NULL);
		g_print("%s\n", text);
	}
	return code;
}

static gint
ql_cli_run(QlCli *cli, const QlCliCommand *cmd, gchar **args)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlDevice) dev = NULL;
	g_autoptr(QlChannel) ch = NULL;
	gboolean ok;

	if (cli->direct == NULL) {
		g_set_error_literal(&error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("no device given: use --direct DEVICE (for example "
				      "--direct virtual:./euicc.state); the quantra-esimd service "
				      "mode is not available in this build"));
		return ql_cli_fail(cli, error);
	}
	dev = ql_device_open(cli->direct, &error);
	if (dev == NULL)
		return ql_cli_fail(cli, error);
	ch = ql_channel_open_isdr(dev, &error);
	if (ch == NULL)
		return ql_cli_fail(cli, error);
	if (cli->json) {
		cli->out = json_builder_new();
		json_builder_begin_object(cli->out);
	}
	ok = cmd->func(cli, ch, args, &error);
	g_clear_pointer(&ch, ql_channel_free);
	if (!ok) {
		g_clear_object(&cli->out);
		return ql_cli_fail(cli, error);
	}
	if (cli->json) {
		g_autoptr(JsonGenerator) gen = json_generator_new();
		g_autoptr(JsonNode) root = NULL;
		g_autofree gchar *text = NULL;
		json_builder_end_object(cli->out);
		root = json_builder_get_root(cli->out);
		json_generator_set_root(gen, root);
		json_generator_set_pretty(gen, TRUE);
		text = json_generator_to_data(gen, NULL);
		g_print("%s\n", text);
		g_clear_object(&cli->out);
	}
	return QL_EXIT_OK;
}

static void
ql_cli_log_handler(const gchar *domain, GLogLevelFlags level, const gchar *message,
		   gpointer user_data)
{
	QlCli *cli = user_data;
	if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) && !cli->verbose)
		return;
	g_printerr("%s: %s\n", domain != NULL ? domain : "quantra-l", message);
}

int
main(int argc, char **argv)
{
	QlCli cli = {0};
	g_autoptr(GOptionContext) ctx = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *help = NULL;
	GOptionGroup *group;
	guint nargs;
	const GOptionEntry main_entries[] = {
		{"direct", 'd', 0, G_OPTION_ARG_STRING, &cli.direct,
		 N_("Run in this process on DEVICE (e.g. virtual:./state, qmi:/dev/cdc-wdm0)"),
		 N_("DEVICE")},
		{"json", 'J', 0, G_OPTION_ARG_NONE, &cli.json,
		 N_("Print the result as JSON (no prompts, no progress)"), NULL},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &cli.verbose, N_("Print debug messages"),
		 NULL},
		{"version", 'V', 0, G_OPTION_ARG_NONE, &cli.version, N_("Print the version"),
		 NULL},
		{G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &cli.args, NULL,
		 N_("OBJECT VERB [ARGS]")},
		{NULL},
	};
	const GOptionEntry profile_entries[] = {
		{"no-refresh", 0, 0, G_OPTION_ARG_NONE, &cli.no_refresh,
		 N_("enable/disable: do not ask the modem to refresh the SIM"), NULL},
		{NULL},
	};
	const GOptionEntry chip_entries[] = {
		{"yes", 'y', 0, G_OPTION_ARG_NONE, &cli.yes,
		 N_("reset: confirm that profiles are to be deleted"), NULL},
		{"reset-option", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cli.reset_options,
		 N_("reset: only this part (operational, test, default-smdp); repeatable"),
		 N_("WHAT")},
		{NULL},
	};
	const GOptionEntry notification_entries[] = {
		{"all", 'a', 0, G_OPTION_ARG_NONE, &cli.all, N_("remove: every notification"),
		 NULL},
		{NULL},
	};

	setlocale(LC_ALL, "");
	bindtextdomain(GETTEXT_PACKAGE, QL_LOCALEDIR);
	bind_textdomain_codeset(GETTEXT_PACKAGE, "UTF-8");
	textdomain(GETTEXT_PACKAGE);
	g_set_prgname("quantra-l");
	g_log_set_default_handler(ql_cli_log_handler, &cli);

	ctx = g_option_context_new(_("- manage the eSIM profiles of an eUICC"));
	g_option_context_set_translation_domain(ctx, GETTEXT_PACKAGE);
	g_option_context_add_main_entries(ctx, main_entries, GETTEXT_PACKAGE);
	group = g_option_group_new("profile", _("Profile options:"), _("Show profile options"),
				   NULL, NULL);
	g_option_group_add_entries(group, profile_entries);
	g_option_group_set_translation_domain(group, GETTEXT_PACKAGE);
	g_option_context_add_group(ctx, group);
	group = g_option_group_new("chip", _("Chip options:"), _("Show chip options"), NULL,
				   NULL);
	g_option_group_add_entries(group, chip_entries);
	g_option_group_set_translation_domain(group, GETTEXT_PACKAGE);
	g_option_context_add_group(ctx, group);
	group = g_option_group_new("notification", _("Notification options:"),
				   _("Show notification options"), NULL, NULL);
	g_option_group_add_entries(group, notification_entries);
	g_option_group_set_translation_domain(group, GETTEXT_PACKAGE);
	g_option_context_add_group(ctx, group);
	help = ql_cli_commands_help();
	g_option_context_set_description(ctx, help);

	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		g_printerr("%s: %s\n", g_get_prgname(), error->message);
		return QL_EXIT_USAGE;
	}
	if (cli.version) {
		g_print("quantra-l %s\n", PACKAGE_VERSION);
		return QL_EXIT_OK;
	}
	nargs = cli.args != NULL ? g_strv_length(cli.args) : 0;
	if (nargs < 2) {
		g_autofree gchar *usage = g_option_context_get_help(ctx, TRUE, NULL);
		g_printerr("%s", usage);
		return QL_EXIT_USAGE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(ql_cli_commands); i++) {
		const QlCliCommand *c = &ql_cli_commands[i];
		gint rc;
		if (g_strcmp0(c->object, cli.args[0]) != 0 || g_strcmp0(c->verb, cli.args[1]) != 0)
			continue;
		if (nargs - 2 < c->min_args || nargs - 2 > c->max_args) {
			g_printerr(_("usage: quantra-l [OPTIONS] %s %s %s\n"), c->object, c->verb,
				   c->usage);
			return QL_EXIT_USAGE;
		}
		rc = ql_cli_run(&cli, c, cli.args + 2);
		g_free(cli.direct);
		g_strfreev(cli.args);
		g_strfreev(cli.reset_options);
		return rc;
	}
	g_printerr(_("%s: unknown command '%s %s' (see --help)\n"), g_get_prgname(), cli.args[0],
		   cli.args[1]);
	return QL_EXIT_USAGE;
}
