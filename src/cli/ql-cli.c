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
#include <termios.h>
#include <unistd.h>

#include "ql-config.h"
#include "ql-crypto.h"
#include "ql-device.h"
#include "ql-download.h"
#include "ql-es10.h"
#include "ql-modem.h"
#include "ql-qr.h"
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
	QL_EXIT_TIMEOUT = 9, /* the modem, card or server did not answer in time */
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
	/* download */
	gchar *activation_code; /* secret */
	gchar *qr;
	gchar *smdp;
	gchar *matching_id;	  /* secret */
	gchar *confirmation_code; /* secret */
	gchar *event;
	gchar *smds;
	gchar *nickname;
	gchar *carrier;
	gchar *plan;
	gboolean secure;
	gchar **trust_anchors;
	gchar *crl_dir;
	gchar **pins;
	gchar *client_cert;
	gchar *client_key;
	gboolean system_store;
	gint timeout;
	gchar *config;
	gchar *carriers;
	gboolean power_cycle;
	gboolean switch_slot;
	JsonBuilder *out; /* --json result */
} QlCli;

typedef gboolean (*QlCliFunc)(QlCli *cli, QlChannel *ch, gchar **args, GError **error);

typedef enum {
	QL_CLI_FLAG_NONE = 0,
	QL_CLI_FLAG_NO_DEVICE = 1 << 0,	       /* runs without an eUICC (ch is NULL) */
	QL_CLI_FLAG_SWITCHES_PROFILE = 1 << 1, /* with -m: inhibit the modem, then wait for it */
} QlCliFlags;

typedef struct {
	const gchar *object;
	const gchar *verb;
	guint min_args;
	guint max_args;
	const gchar *usage; /* arguments, for --help */
	const gchar *summary;
	QlCliFunc func;
	QlCliFlags flags;
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
		g_autofree gchar *apps =
			info->installed_apps >= 0
				? g_strdup_printf("%" G_GINT64_FORMAT, info->installed_apps)
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
		g_set_error_literal(
			error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			_("chip reset deletes profiles for good: add --yes to confirm"));
		return FALSE;
	}
	if (cli->reset_options == NULL) {
		options =
			QL_RESET_DELETE_OPERATIONAL | QL_RESET_DELETE_TEST | QL_RESET_DEFAULT_SMDP;
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
			g_set_error(
				error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
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
	g_ptr_array_add(rows,
			g_strdupv((gchar *[]){_("ICCID"), _("State"), _("Class"), _("Provider"),
					      _("Name"), _("Nickname"), NULL}));
	for (guint i = 0; i < profiles->len; i++) {
		QlProfileInfo *p = g_ptr_array_index(profiles, i);
		gchar **row = g_new0(gchar *, 7);
		row[0] = g_strdup(p->iccid);
		row[1] = g_strdup(ql_profile_state_to_string(p->state));
		row[2] = g_strdup(ql_profile_class_to_string(p->profile_class));
		row[3] = g_strdup(p->service_provider != NULL ? p->service_provider : "-");
		row[4] = g_strdup(p->name != NULL ? p->name : "-");
		row[5] =
			g_strdup(p->nickname != NULL && p->nickname[0] != '\0' ? p->nickname : "-");
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

/* ---- downloads ---- */

/* Reads a secret from the terminal without echo. */
static gchar *
ql_cli_ask_secret(const gchar *prompt)
{
	FILE *tty = fopen("/dev/tty", "r+");
	struct termios old, quiet;
	gchar buf[128] = {0};
	gboolean restore = FALSE;

	if (tty == NULL)
		return NULL;
	fputs(prompt, tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
	}
	if (fgets(buf, sizeof(buf), tty) == NULL)
		buf[0] = '\0';
	if (restore)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	g_strchomp(buf);
	{
		gchar *out = g_strdup(buf);
		ql_crypto_wipe(buf, sizeof(buf));
		return out;
	}
}

static gchar *
ql_cli_ask_confirmation_code(gpointer user_data)
{
	QlCli *cli = user_data;
	if (cli->json || !isatty(STDIN_FILENO))
		return NULL; /* no prompts for scripts */
	if (isatty(STDERR_FILENO))
		g_printerr("\n"); /* off the progress line */
	return ql_cli_ask_secret(_("Confirmation code: "));
}

static void
ql_cli_progress(QlDownloadStep step, guint percent, gpointer user_data)
{
	QlCli *cli = user_data;
	if (cli->json || !isatty(STDERR_FILENO))
		return;
	g_printerr("\r[%3u%%] %-40s", percent, ql_download_step_to_string(step));
	if (step == QL_DOWNLOAD_STEP_DONE)
		g_printerr("\n");
}

/* The download options: the config file first, the command line over it. */
static gboolean
ql_cli_download_options(QlCli *cli, QlConfig **cfg_out, QlDownloadOptions *opts, const gchar *host,
			GError **error)
{
	g_autoptr(QlConfig) cfg = ql_config_load(cli->config, error);
	gchar **mtls;

	if (cfg == NULL)
		return FALSE;
	memset(opts, 0, sizeof(*opts));
	opts->policy = cli->secure ? QL_TLS_POLICY_STRICT : cfg->policy;
	for (guint i = 0; cli->trust_anchors != NULL && cli->trust_anchors[i] != NULL; i++)
		g_ptr_array_add(cfg->trust_anchor_files, g_strdup(cli->trust_anchors[i]));
	opts->trust_anchor_files = cfg->trust_anchor_files;
	opts->use_system_store = cli->system_store || cfg->use_system_store;
	opts->crl_dir = cli->crl_dir != NULL ? cli->crl_dir : cfg->crl_dir;
	for (guint i = 0; cli->pins != NULL && cli->pins[i] != NULL; i++)
		g_ptr_array_add(cfg->pins, g_strdup(cli->pins[i]));
	opts->pins = cfg->pins;
	mtls = host != NULL ? g_hash_table_lookup(cfg->client_certs, host) : NULL;
	if (cli->client_cert != NULL) {
		opts->client_cert = cli->client_cert;
		opts->client_key = cli->client_key;
	} else if (mtls != NULL) {
		opts->client_cert = mtls[0];
		opts->client_key = mtls[1];
	}
	if (cli->timeout < 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("--timeout takes a number of seconds"));
		return FALSE;
	}
	opts->timeout_ms = cli->timeout > 0 ? (guint)cli->timeout * 1000 : cfg->timeout_ms;
	opts->confirmation_code = cli->confirmation_code;
	opts->ask_confirmation_code = ql_cli_ask_confirmation_code;
	opts->progress = ql_cli_progress;
	opts->user_data = cli;
	*cfg_out = g_steal_pointer(&cfg);
	return TRUE;
}

/* Exactly one source of an activation code, turned into one. */
static QlActivationCode *
ql_cli_activation_code(QlCli *cli, GError **error)
{
	guint sources = (cli->activation_code != NULL) + (cli->qr != NULL) + (cli->smdp != NULL) +
			(cli->carrier != NULL);
	g_autofree gchar *text = NULL;
	QlActivationCode *ac;

	if (sources != 1) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("give one of --activation-code CODE, --qr IMAGE, --smdp "
				      "ADDRESS [--matching-id ID] or --carrier NAME"));
		return NULL;
	}
	if (cli->carrier != NULL) {
		g_autofree gchar *address =
			ql_config_carrier_address(cli->carriers, cli->carrier, error);
		if (address == NULL)
			return NULL;
		ac = g_new0(QlActivationCode, 1);
		ac->smdp_address = g_steal_pointer(&address);
		ac->matching_id = g_strdup(cli->matching_id != NULL ? cli->matching_id : "");
		return ac;
	}
	if (cli->smdp != NULL) {
		if (!ql_activation_check_address(cli->smdp, error))
			return NULL;
		ac = g_new0(QlActivationCode, 1);
		ac->smdp_address = g_strdup(cli->smdp);
		ac->matching_id = g_strdup(cli->matching_id != NULL ? cli->matching_id : "");
		return ac;
	}
	if (cli->qr != NULL) {
		text = ql_qr_decode_file(cli->qr, error);
		if (text == NULL)
			return NULL;
		ac = ql_activation_code_parse(text, error);
		ql_crypto_wipe(text, strlen(text));
		return ac;
	}
	return ql_activation_code_parse(cli->activation_code, error);
}

static void
ql_cli_report(QlCli *cli, const QlDownloadReport *r)
{
	if (cli->json) {
		ql_download_report_to_json(r, cli->out);
		return;
	}
	{
		g_autofree gchar *tls =
			g_strdup_printf(_("%s, %s (policy %s, no fallback)"), r->tls_version,
					r->cipher_suite, r->tls_policy);
		g_autofree gchar *chain = g_strdup_printf(
			_("TLS, DPauth and DPpb chains verified to %s; validity, host and roles "
			  "checked"),
			r->verified_ci != NULL ? r->verified_ci : _("a trusted CI"));
		g_autofree gchar *note = NULL;
		g_autofree gchar *counters = g_strdup_printf(
			_("%llu APDUs, %llu bytes to the eUICC, %u TLS handshake(s), %u HTTP "
			  "requests, %u BPP segments"),
			(unsigned long long)r->apdus, (unsigned long long)r->bytes_to_euicc,
			r->tls_handshakes, r->http_requests, r->bpp_segments);
		if (r->notification_delivered)
			note = g_strdup_printf(_("delivered to %s and removed from the eUICC"),
					       r->smdp_address);
		else
			note = g_strdup_printf(_("NOT delivered (%s); kept on the eUICC for "
						 "`notification process`"),
					       r->notification_error);
		g_print("%s\n", _("Profile installed"));
		ql_cli_kv(_("ICCID"), r->iccid);
		ql_cli_kv(_("Name"), r->profile_name);
		ql_cli_kv(_("Provider"), r->service_provider);
		ql_cli_kv(_("SM-DP+"), r->smdp_address);
		g_print("%s\n", _("Secure mode report"));
		ql_cli_kv(_("TLS"), tls);
		ql_cli_kv(_("Certificates"), chain);
		ql_cli_kv(_("Pins"), r->pins_checked ? _("matched") : _("none configured"));
		ql_cli_kv(_("CRL"), r->crl_checked ? _("checked, not revoked")
						   : _("no CRL directory configured"));
		ql_cli_kv(_("mTLS"), r->client_cert_presented ? _("client certificate presented")
							      : _("not configured"));
		ql_cli_kv(_("Confirmation code"),
			  r->confirmation_code_used ? _("sent as hashCc only") : _("not needed"));
		ql_cli_kv(_("Notification"), note);
		ql_cli_kv(_("Counters"), counters);
	}
}

static gboolean
ql_cli_download_with(QlCli *cli, QlChannel *ch, QlActivationCode *ac, GError **error)
{
	g_autoptr(QlConfig) cfg = NULL;
	g_autoptr(QlDownloadReport) report = NULL;
	g_autofree gchar *host = NULL;
	guint16 port = 0;
	QlDownloadOptions opts;

	if (!ql_activation_split_address(ac->smdp_address, &host, &port, error) ||
	    !ql_cli_download_options(cli, &cfg, &opts, host, error))
		return FALSE;
	opts.nickname = cli->nickname != NULL ? cli->nickname : cli->plan;
	report = ql_download_profile(ch, ac, &opts, error);
	if (report == NULL)
		return FALSE;
	ql_cli_report(cli, report);
	return TRUE;
}

static gboolean
ql_cli_profile_download(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autoptr(QlActivationCode) ac = NULL;

	if (cli->event != NULL) {
		/* an event from `profile discover`: its SM-DP+, the event id as matching id */
		const gchar *dollar = strchr(cli->event, '@');
		if (dollar == NULL) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    _("--event takes EVENT-ID@SMDP-ADDRESS as `profile "
					      "discover` prints it"));
			return FALSE;
		}
		ac = g_new0(QlActivationCode, 1);
		ac->matching_id = g_strndup(cli->event, dollar - cli->event);
		ac->smdp_address = g_strdup(dollar + 1);
		if (!ql_activation_check_address(ac->smdp_address, error))
			return FALSE;
	} else {
		ac = ql_cli_activation_code(cli, error);
		if (ac == NULL)
			return FALSE;
	}
	return ql_cli_download_with(cli, ch, ac, error);
}

static gboolean
ql_cli_provision_esim(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autoptr(QlActivationCode) ac = NULL;

	if (cli->carrier == NULL && cli->activation_code == NULL && cli->qr == NULL &&
	    cli->smdp == NULL) {
		g_set_error_literal(
			error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			_("provision-esim needs --carrier NAME (or an activation code)"));
		return FALSE;
	}
	ac = ql_cli_activation_code(cli, error);
	if (ac == NULL)
		return FALSE;
	return ql_cli_download_with(cli, ch, ac, error);
}

static gboolean
ql_cli_profile_discover(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autoptr(QlConfig) cfg = NULL;
	g_autoptr(GPtrArray) events = NULL;
	g_autofree gchar *root_ds = NULL;
	g_autofree gchar *host = NULL;
	const gchar *smds = cli->smds;
	guint16 port = 0;
	QlDownloadOptions opts;

	if (smds == NULL) {
		if (!ql_es10_get_configured_addresses(ch, NULL, &root_ds, error))
			return FALSE;
		smds = root_ds != NULL && root_ds[0] != '\0' ? root_ds : "lpa.ds.gsma.com";
	}
	if (!ql_activation_check_address(smds, error) ||
	    !ql_activation_split_address(smds, &host, &port, error) ||
	    !ql_cli_download_options(cli, &cfg, &opts, host, error))
		return FALSE;
	events = ql_download_discover(ch, smds, &opts, error);
	if (events == NULL)
		return FALSE;
	if (cli->json) {
		json_builder_set_member_name(cli->out, "events");
		json_builder_begin_array(cli->out);
		for (guint i = 0; i < events->len; i++) {
			QlEvent *e = g_ptr_array_index(events, i);
			json_builder_begin_object(cli->out);
			ql_cli_json_string(cli->out, "event_id", e->event_id);
			ql_cli_json_string(cli->out, "smdp_address", e->rsp_server_address);
			json_builder_end_object(cli->out);
		}
		json_builder_end_array(cli->out);
		return TRUE;
	}
	if (events->len == 0) {
		g_print(_("No profiles waiting at %s.\n"), smds);
		return TRUE;
	}
	g_print(_("Profiles waiting (download one with `profile download --event ID@ADDRESS`):\n"));
	for (guint i = 0; i < events->len; i++) {
		QlEvent *e = g_ptr_array_index(events, i);
		g_print("  %s@%s\n", e->event_id, e->rsp_server_address);
	}
	return TRUE;
}

static gboolean
ql_cli_notification_process(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autoptr(QlConfig) cfg = NULL;
	g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func(g_free);
	QlDownloadOptions opts;
	gint64 seq = -1;
	gint delivered;

	if (cli->all == (args[0] != NULL)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("give either a sequence number or --all"));
		return FALSE;
	}
	if (args[0] != NULL) {
		guint64 v = 0;
		if (!g_ascii_string_to_unsigned(args[0], 10, 0, G_MAXINT32, &v, NULL)) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("'%s' is not a sequence number"), args[0]);
			return FALSE;
		}
		seq = (gint64)v;
	}
	if (!ql_cli_download_options(cli, &cfg, &opts, NULL, error))
		return FALSE;
	delivered = ql_download_process_notifications(ch, seq, &opts, failures, error);
	if (delivered < 0)
		return FALSE;
	if (cli->json) {
		json_builder_set_member_name(cli->out, "delivered");
		json_builder_add_int_value(cli->out, delivered);
		json_builder_set_member_name(cli->out, "failed");
		json_builder_begin_array(cli->out);
		for (guint i = 0; i < failures->len; i++)
			json_builder_add_string_value(cli->out, g_ptr_array_index(failures, i));
		json_builder_end_array(cli->out);
	} else {
		g_print(g_dngettext(GETTEXT_PACKAGE, "Delivered %d notification\n",
				    "Delivered %d notifications\n", (gulong)delivered),
			delivered);
		for (guint i = 0; i < failures->len; i++)
			g_printerr(_("not delivered, kept on the eUICC: %s\n"),
				   (const gchar *)g_ptr_array_index(failures, i));
	}
	if (failures->len > 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_HTTP,
			    _("%u notification(s) could not be delivered and stay on the eUICC"),
			    failures->len);
		return FALSE;
	}
	return TRUE;
}

/* ---- modems ---- */

static gboolean
ql_cli_modems(QlCli *cli, QlChannel *ch, gchar **args, GError **error)
{
	g_autoptr(GPtrArray) modems = ql_modem_list(NULL, error);
	g_autoptr(GPtrArray) rows = NULL;

	if (modems == NULL)
		return FALSE;
	if (cli->json) {
		json_builder_set_member_name(cli->out, "modems");
		json_builder_begin_array(cli->out);
		for (guint i = 0; i < modems->len; i++) {
			QlModemInfo *m = g_ptr_array_index(modems, i);
			json_builder_begin_object(cli->out);
			json_builder_set_member_name(cli->out, "index");
			json_builder_add_int_value(cli->out, m->index);
			ql_cli_json_string(cli->out, "path", m->path);
			ql_cli_json_string(cli->out, "manufacturer", m->manufacturer);
			ql_cli_json_string(cli->out, "model", m->model);
			ql_cli_json_string(cli->out, "transport", m->transport);
			ql_cli_json_string(cli->out, "spec", m->spec);
			ql_cli_json_string(cli->out, "at_port", m->at_port);
			json_builder_set_member_name(cli->out, "slots");
			json_builder_add_int_value(cli->out, m->n_slots);
			json_builder_set_member_name(cli->out, "slot");
			json_builder_add_int_value(cli->out, m->slot);
			ql_cli_json_string(cli->out, "eid", m->eid);
			ql_cli_json_string(cli->out, "sim_type", m->sim_type);
			ql_cli_json_string(cli->out, "esim_status", m->esim_status);
			ql_cli_json_string(cli->out, "iccid", m->iccid);
			ql_cli_json_string(cli->out, "operator", m->operator_name);
			ql_cli_json_string(cli->out, "state", m->state);
			json_builder_end_object(cli->out);
		}
		json_builder_end_array(cli->out);
		return TRUE;
	}
	if (modems->len == 0) {
		g_print("%s\n", _("No modems were found"));
		return TRUE;
	}
	rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	g_ptr_array_add(
		rows, g_strdupv((gchar *[]){_("Modem"), _("Model"), _("Transport"), _("Device"),
					    _("EID"), _("eSIM"), _("ICCID"), _("Operator"), NULL}));
	for (guint i = 0; i < modems->len; i++) {
		QlModemInfo *m = g_ptr_array_index(modems, i);
		gchar **row = g_new0(gchar *, 9);
		row[0] = g_strdup(m->path);
		row[1] = g_strdup_printf("[%s] %s", m->manufacturer != NULL ? m->manufacturer : "?",
					 m->model != NULL ? m->model : "?");
		row[2] = g_strdup(m->transport != NULL ? m->transport : "-");
		row[3] = m->spec != NULL      ? g_strdup(m->spec)
			 : m->at_port != NULL ? g_strdup_printf(_("at only: %s"), m->at_port)
					      : g_strdup("-");
		row[4] = g_strdup(m->eid != NULL ? m->eid : "-");
		row[5] = g_strdup(m->esim_status != NULL ? m->esim_status : "-");
		row[6] = g_strdup(m->iccid != NULL ? m->iccid : "-");
		row[7] = g_strdup(m->operator_name != NULL ? m->operator_name : "-");
		g_ptr_array_add(rows, row);
	}
	ql_cli_table_print(rows, 8);
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
	 ql_cli_profile_enable, QL_CLI_FLAG_SWITCHES_PROFILE},
	{"profile", "disable", 1, 1, "ICCID", N_("disable a profile"), ql_cli_profile_disable,
	 QL_CLI_FLAG_SWITCHES_PROFILE},
	{"profile", "delete", 1, 1, "ICCID", N_("delete a disabled profile"),
	 ql_cli_profile_delete},
	{"profile", "nickname", 2, 2, "ICCID NAME", N_("set a profile's nickname (\"\" clears it)"),
	 ql_cli_profile_nickname},
	{"notification", "list", 0, 0, "", N_("list the notifications waiting on the eUICC"),
	 ql_cli_notification_list},
	{"notification", "remove", 0, 1, "SEQ|--all",
	 N_("remove notifications from the eUICC without delivering them"),
	 ql_cli_notification_remove},
	{"notification", "process", 0, 1, "SEQ|--all",
	 N_("deliver notifications to their SM-DP+, removing each delivered one"),
	 ql_cli_notification_process},
	{"profile", "download", 0, 0,
	 "--activation-code CODE | --qr IMAGE | --smdp ADDR [--matching-id ID] | --event ID@ADDR",
	 N_("download and install a profile from an SM-DP+"), ql_cli_profile_download},
	{"profile", "discover", 0, 0, "[--smds ADDRESS]",
	 N_("ask an SM-DS (default: the eUICC's root SM-DS) for profiles waiting"),
	 ql_cli_profile_discover},
	{"provision-esim", NULL, 0, 0, "--carrier NAME --plan NAME [--secure]",
	 N_("download the carrier's default profile, nicknamed after the plan"),
	 ql_cli_provision_esim},
	{"modems", NULL, 0, 0, "", N_("the modems ModemManager knows, with EID and transport"),
	 ql_cli_modems, QL_CLI_FLAG_NO_DEVICE},
};

static gchar *
ql_cli_commands_help(void)
{
	GString *s = g_string_new(_("Commands:"));
	g_string_append_c(s, '\n');
	for (guint i = 0; i < G_N_ELEMENTS(ql_cli_commands); i++) {
		const QlCliCommand *c = &ql_cli_commands[i];
		g_autofree gchar *left = g_strdup_printf("%s %s %s", c->object,
							 c->verb != NULL ? c->verb : "", c->usage);
		if (strlen(left) > 44)
			g_string_append_printf(s, "  %s\n  %-44s %s\n", left, "", _(c->summary));
		else
			g_string_append_printf(s, "  %-44s %s\n", left, _(c->summary));
	}
	g_string_append(
		s, _("\nDevices: virtual:STATEFILE[?seed=N&identity=DIR], and the "
		     "installed plugins' schemes; every device takes ?block=N and "
		     "?isd-r=AID.\nExit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 "
		     "refused by the eUICC or SM-DP+, 5 device error, 6 malformed data, 7 TLS or "
		     "certificate refused, 8 network, 9 timeout."));
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
		return QL_EXIT_DEVICE;
	case QL_ERROR_TIMEOUT:
		return QL_EXIT_TIMEOUT;
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

static void
ql_cli_print_result(QlCli *cli)
{
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

/* After a profile switch through ModemManager: give the modem back and wait until it shows the
 * SIM the switch asked for (or just comes back, after a disable). */
static gboolean
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
		g_printerr(_("ModemManager shows the modem again as %s with SIM %s\n"), now->path,
			   now->iccid != NULL ? now->iccid : "-");
	}
	return TRUE;
}

/* The device spec with the configuration's quirks for that modem and the command line's
 * --power-cycle / --switch-slot added (the spec's own parameters win). */
static gchar *
ql_cli_device_spec(QlCli *cli, const gchar *spec, const gchar *model, GError **error)
{
	g_autoptr(QlConfig) cfg = ql_config_load(cli->config, error);
	g_autofree gchar *extra = NULL;
	g_autofree gchar *with_flags = NULL;
	g_autoptr(GString) flags = g_string_new(NULL);
	gboolean modem_scheme = g_str_has_prefix(spec, "qmi:") || g_str_has_prefix(spec, "qrtr:") ||
				g_str_has_prefix(spec, "mbim:");

	if (cfg == NULL)
		return NULL;
	if ((cli->power_cycle || cli->switch_slot) && !modem_scheme) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("--power-cycle and --switch-slot are for QMI, QRTR and MBIM "
				      "modems"));
		return NULL;
	}
	if (cli->power_cycle)
		g_string_append(flags, "power-cycle=1");
	/* an MBIM modem maps the slot whenever slot= is given: only QMI needs asking */
	if (cli->switch_slot && !g_str_has_prefix(spec, "mbim:"))
		g_string_append_printf(flags, "%sswitch-slot=1", flags->len > 0 ? "&" : "");
	with_flags = ql_config_spec_add_params(spec, flags->str);
	extra = ql_config_device_params(cfg, spec, model);
	return ql_config_spec_add_params(with_flags, extra);
}

static gint
ql_cli_run(QlCli *cli, const QlCliCommand *cmd, gchar **args)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlModemInfo) modem = NULL;
	g_autoptr(QlModemInhibit) inhibit = NULL;
	g_autoptr(QlDevice) dev = NULL;
	g_autoptr(QlChannel) ch = NULL;
	g_autofree gchar *full_spec = NULL;
	const gchar *spec = cli->direct;
	gboolean ok;

	if (cli->json) {
		cli->out = json_builder_new();
		json_builder_begin_object(cli->out);
	}
	if (cmd->flags & QL_CLI_FLAG_NO_DEVICE) {
		if (!cmd->func(cli, NULL, args, &error))
			return ql_cli_fail(cli, error);
		if (cli->json)
			ql_cli_print_result(cli);
		return QL_EXIT_OK;
	}
	if (cli->direct != NULL && cli->modem != NULL) {
		g_set_error_literal(&error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("give either --direct DEVICE or -m MODEM, not both"));
		return ql_cli_fail(cli, error);
	}
	if (cli->modem != NULL) {
		/* resolved before any inhibit: the modem object goes away while inhibited */
		modem = ql_modem_resolve(NULL, cli->modem, &error);
		if (modem == NULL)
			return ql_cli_fail(cli, error);
		spec = modem->spec;
		if (cmd->flags & QL_CLI_FLAG_SWITCHES_PROFILE) {
			inhibit = ql_modem_inhibit(NULL, modem, &error);
			if (inhibit == NULL)
				return ql_cli_fail(cli, error);
		}
	}
	if (spec == NULL) {
		g_set_error_literal(
			&error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			_("no device given: use --direct DEVICE (for example "
			  "--direct virtual:./euicc.state) or -m MODEM; the quantra-esimd "
			  "service mode is not available in this build"));
		return ql_cli_fail(cli, error);
	}
	full_spec = ql_cli_device_spec(cli, spec, modem != NULL ? modem->model : NULL, &error);
	if (full_spec == NULL)
		return ql_cli_fail(cli, error);
	dev = ql_device_open(full_spec, &error);
	if (dev == NULL)
		return ql_cli_fail(cli, error);
	ch = ql_channel_open_isdr(dev, &error);
	if (ch == NULL)
		return ql_cli_fail(cli, error);
	ok = cmd->func(cli, ch, args, &error);
	/* the channel and the port are released before ModemManager takes the modem back */
	g_clear_pointer(&ch, ql_channel_free);
	g_clear_pointer(&dev, ql_device_free);
	if (ok && inhibit != NULL)
		ok = ql_cli_modem_settle(cli, cmd, args, modem, inhibit, &error);
	if (!ok)
		return ql_cli_fail(cli, error);
	if (cli->json)
		ql_cli_print_result(cli);
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

/* Frees what option parsing allocated, wiping the secrets. */
static void
ql_cli_clear(QlCli *cli)
{
	gchar **secrets[] = {&cli->activation_code, &cli->matching_id, &cli->confirmation_code};
	for (guint i = 0; i < G_N_ELEMENTS(secrets); i++) {
		if (*secrets[i] != NULL)
			ql_crypto_wipe(*secrets[i], strlen(*secrets[i]));
		g_clear_pointer(secrets[i], g_free);
	}
	g_clear_pointer(&cli->direct, g_free);
	g_clear_pointer(&cli->modem, g_free);
	g_clear_pointer(&cli->args, g_strfreev);
	g_clear_pointer(&cli->reset_options, g_strfreev);
	g_clear_pointer(&cli->qr, g_free);
	g_clear_pointer(&cli->smdp, g_free);
	g_clear_pointer(&cli->event, g_free);
	g_clear_pointer(&cli->smds, g_free);
	g_clear_pointer(&cli->nickname, g_free);
	g_clear_pointer(&cli->carrier, g_free);
	g_clear_pointer(&cli->plan, g_free);
	g_clear_pointer(&cli->trust_anchors, g_strfreev);
	g_clear_pointer(&cli->crl_dir, g_free);
	g_clear_pointer(&cli->pins, g_strfreev);
	g_clear_pointer(&cli->client_cert, g_free);
	g_clear_pointer(&cli->client_key, g_free);
	g_clear_pointer(&cli->config, g_free);
	g_clear_pointer(&cli->carriers, g_free);
	g_clear_object(&cli->out);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QlCli, ql_cli_clear)

/* Option parsing copied the secrets; the command line itself (@argv as main() got it, also
 * readable in /proc/PID/cmdline) still holds them: wipe them there. Of a pkcs11: URI given for
 * the client certificate or key, only the PIN (pin-value=) is secret. */
static void
ql_cli_wipe_argv_secrets(gint argc, gchar **argv)
{
	const gchar *const names[] = {"--activation-code", "--matching-id", "--confirmation-code",
				      "--client-key", "--client-cert"};
	for (gint i = 1; i < argc; i++) {
		gchar *value = NULL;
		gboolean uri = FALSE;
		if (g_strcmp0(argv[i], "--") == 0)
			return;
		if (g_str_has_prefix(argv[i], "-a") && !g_str_has_prefix(argv[i], "--"))
			value = argv[i][2] != '\0' ? argv[i] + 2
						   : (i + 1 < argc ? argv[++i] : NULL);
		for (guint n = 0; value == NULL && n < G_N_ELEMENTS(names); n++) {
			gsize len = strlen(names[n]);
			if (strncmp(argv[i], names[n], len) != 0)
				continue;
			if (argv[i][len] == '=')
				value = argv[i] + len + 1;
			else if (argv[i][len] == '\0' && i + 1 < argc)
				value = argv[++i];
			uri = g_str_has_prefix(names[n], "--client-");
		}
		if (value != NULL && uri) {
			gchar *pin = strstr(value, "pin-value=");
			if (pin != NULL) {
				pin += strlen("pin-value=");
				ql_crypto_wipe(pin, strcspn(pin, "&;"));
			}
		} else if (value != NULL) {
			ql_crypto_wipe(value, strlen(value));
		}
	}
}

int
main(int argc, char **argv)
{
	g_auto(QlCli) cli = {0};
	g_autoptr(GOptionContext) ctx = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *help = NULL;
	g_autofree gchar **argv_orig = NULL;
	gint argc_orig;
	GOptionGroup *group;
	guint nargs;
	const GOptionEntry main_entries[] = {
		{"direct", 'd', 0, G_OPTION_ARG_STRING, &cli.direct,
		 N_("Run in this process on DEVICE (e.g. virtual:./state, qmi:/dev/cdc-wdm0)"),
		 N_("DEVICE")},
		{"modem", 'm', 0, G_OPTION_ARG_STRING, &cli.modem,
		 N_("Use ModemManager's modem N or object path (as mmcli -m), in this process"),
		 N_("N|PATH")},
		{"json", 'J', 0, G_OPTION_ARG_NONE, &cli.json,
		 N_("Print the result as JSON (no prompts, no progress)"), NULL},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &cli.verbose, N_("Print debug messages"),
		 NULL},
		{"version", 'V', 0, G_OPTION_ARG_NONE, &cli.version, N_("Print the version"), NULL},
		{G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &cli.args, NULL,
		 N_("OBJECT VERB [ARGS]")},
		{NULL},
	};
	const GOptionEntry profile_entries[] = {
		{"no-refresh", 0, 0, G_OPTION_ARG_NONE, &cli.no_refresh,
		 N_("enable/disable: do not ask the modem to refresh the SIM"), NULL},
		{"power-cycle", 0, 0, G_OPTION_ARG_NONE, &cli.power_cycle,
		 N_("enable/disable: power the SIM off and on afterwards, for modems that do not "
		    "refresh it (QMI, MBIM)"),
		 NULL},
		{"switch-slot", 0, 0, G_OPTION_ARG_NONE, &cli.switch_slot,
		 N_("make the device's SIM slot the active one first (QMI)"), NULL},
		{NULL},
	};
	const GOptionEntry download_entries[] = {
		{"activation-code", 'a', 0, G_OPTION_ARG_STRING, &cli.activation_code,
		 N_("download: the activation code, LPA:1$ADDRESS$MATCHING-ID[$OID[$1]]"),
		 N_("CODE")},
		{"qr", 0, 0, G_OPTION_ARG_FILENAME, &cli.qr,
		 N_("download: read the activation code from a QR code image"), N_("IMAGE")},
		{"smdp", 0, 0, G_OPTION_ARG_STRING, &cli.smdp, N_("download: the SM-DP+ address"),
		 N_("ADDRESS")},
		{"matching-id", 0, 0, G_OPTION_ARG_STRING, &cli.matching_id,
		 N_("download: the matching id for --smdp"), N_("ID")},
		{"confirmation-code", 0, 0, G_OPTION_ARG_STRING, &cli.confirmation_code,
		 N_("download: the confirmation code (else asked for, without echo)"), N_("CODE")},
		{"event", 0, 0, G_OPTION_ARG_STRING, &cli.event,
		 N_("download: an event from `profile discover`"), N_("ID@ADDRESS")},
		{"smds", 0, 0, G_OPTION_ARG_STRING, &cli.smds,
		 N_("discover: the SM-DS address (default: the eUICC's root SM-DS)"),
		 N_("ADDRESS")},
		{"nickname", 0, 0, G_OPTION_ARG_STRING, &cli.nickname,
		 N_("download: nickname for the new profile"), N_("NAME")},
		{"carrier", 0, 0, G_OPTION_ARG_STRING, &cli.carrier,
		 N_("provision-esim: the carrier (see data/carriers.conf)"), N_("NAME")},
		{"plan", 0, 0, G_OPTION_ARG_STRING, &cli.plan,
		 N_("provision-esim: the plan, used as the profile's nickname"), N_("NAME")},
		{"carriers", 0, 0, G_OPTION_ARG_FILENAME, &cli.carriers,
		 N_("provision-esim: another carrier table"), N_("FILE")},
		{"secure", 's', 0, G_OPTION_ARG_NONE, &cli.secure,
		 N_("strict TLS: 1.3 only, AES-256-GCM or ChaCha20-Poly1305"), NULL},
		{"trust-anchor", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &cli.trust_anchors,
		 N_("also trust this CI (PEM); repeatable"), N_("FILE")},
		{"crl-dir", 0, 0, G_OPTION_ARG_FILENAME, &cli.crl_dir,
		 N_("check revocation against the CRLs in DIR"), N_("DIR")},
		{"pin", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cli.pins,
		 N_("pin a host's key: HOST=sha256//BASE64; repeatable"), N_("HOST=PIN")},
		{"client-cert", 0, 0, G_OPTION_ARG_STRING, &cli.client_cert,
		 N_("mTLS client certificate (PEM file or pkcs11: URI)"), N_("FILE")},
		{"client-key", 0, 0, G_OPTION_ARG_STRING, &cli.client_key,
		 N_("mTLS client key (PEM file or pkcs11: URI)"), N_("FILE")},
		{"system-store", 0, 0, G_OPTION_ARG_NONE, &cli.system_store,
		 N_("also trust the system's CA store (WebPKI TLS certificates)"), NULL},
		{"timeout", 0, 0, G_OPTION_ARG_INT, &cli.timeout,
		 N_("network timeout in seconds (default 30)"), N_("SECONDS")},
		{"config", 'c', 0, G_OPTION_ARG_FILENAME, &cli.config,
		 N_("configuration file (default /etc/quantra-l/quantra-l.conf)"), N_("FILE")},
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
		{"all", 0, 0, G_OPTION_ARG_NONE, &cli.all, N_("remove/process: every notification"),
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
	group = g_option_group_new("download", _("Download and TLS options:"),
				   _("Show download and TLS options"), NULL, NULL);
	g_option_group_add_entries(group, download_entries);
	g_option_group_set_translation_domain(group, GETTEXT_PACKAGE);
	g_option_context_add_group(ctx, group);
	group = g_option_group_new("chip", _("Chip options:"), _("Show chip options"), NULL, NULL);
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

	/* parsing reorders @argv: keep the original order to find the secrets in it */
	argv_orig = g_memdup2(argv, sizeof(gchar *) * (gsize)(argc + 1));
	argc_orig = argc;
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		ql_cli_wipe_argv_secrets(argc_orig, argv_orig);
		g_printerr("%s: %s\n", g_get_prgname(), error->message);
		return QL_EXIT_USAGE;
	}
	ql_cli_wipe_argv_secrets(argc_orig, argv_orig);
	if (cli.version) {
		g_print("quantra-l %s\n", PACKAGE_VERSION);
		return QL_EXIT_OK;
	}
	nargs = cli.args != NULL ? g_strv_length(cli.args) : 0;
	if (nargs < 1) {
		g_autofree gchar *usage = g_option_context_get_help(ctx, TRUE, NULL);
		g_printerr("%s", usage);
		return QL_EXIT_USAGE;
	}
	for (guint i = 0; i < G_N_ELEMENTS(ql_cli_commands); i++) {
		const QlCliCommand *c = &ql_cli_commands[i];
		guint skip = c->verb != NULL ? 2 : 1; /* "object verb" or a one-word command */
		if (g_strcmp0(c->object, cli.args[0]) != 0 ||
		    (c->verb != NULL && g_strcmp0(c->verb, cli.args[1]) != 0))
			continue;
		if (nargs - skip < c->min_args || nargs - skip > c->max_args) {
			g_printerr(_("usage: quantra-l [OPTIONS] %s %s %s\n"), c->object,
				   c->verb != NULL ? c->verb : "", c->usage);
			return QL_EXIT_USAGE;
		}
		return ql_cli_run(&cli, c, cli.args + skip);
	}
	g_printerr(_("%s: unknown command '%s%s%s' (see --help)\n"), g_get_prgname(), cli.args[0],
		   nargs > 1 ? " " : "", nargs > 1 ? cli.args[1] : "");
	return QL_EXIT_USAGE;
}
