/*
 * quantra-l: the command line. It talks to quantra-esimd on the system bus by default; with
 * --direct DEVICE it runs the operation in this process through the device's plugin. Both
 * backends hand the same objects to the same printers (ql-cli.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-cli-crl.h"
#include "ql-crypto.h"
#include "ql-cli.h"

/* the wallet and the audit trail (ql-cli-code.c, ql-cli-audit.c) run in this process, with or
 * without the service, and need no eUICC */
#define QL_CLI_STATE_COMMAND(name)                                                                 \
	static gboolean ql_cli_##name##_cmd(QlCli *cli, gchar **args, GError **error)              \
	{                                                                                          \
		return ql_cli_##name(&cli->st, args, error);                                       \
	}
QL_CLI_STATE_COMMAND(code_add)
QL_CLI_STATE_COMMAND(code_list)
QL_CLI_STATE_COMMAND(code_show)
QL_CLI_STATE_COMMAND(code_remove)
QL_CLI_STATE_COMMAND(audit_show)
QL_CLI_STATE_COMMAND(audit_verify)

/* crl update [KEY-ID...]: in this process, service or not (the work is in ql-cli-crl.c) */
static gboolean
ql_cli_crl_update_cmd(QlCli *cli, gchar **args, GError **error)
{
	g_autoptr(QlConfig) cfg = ql_config_load(cli->config, error);
	if (cfg == NULL)
		return FALSE;
	if (cli->timeout < 0 || cli->timeout > 3600) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("--timeout takes 1 to 3600 seconds"));
		return FALSE;
	}
	return ql_cli_crl_update(cfg, cli->trust_anchors, cli->crl_dir, (guint)cli->timeout * 1000,
				 args, cli->json ? cli->out : NULL, error);
}

static const QlCliCommand ql_cli_commands[] = {
	{"chip", "info", 0, 0, "", N_("EID, SGP.22 version, free memory, trusted CIs"),
	 ql_cli_chip_info},
	{"chip", "default-smdp", 0, 1, "[ADDRESS]", N_("show or set the default SM-DP+ address"),
	 ql_cli_chip_default_smdp},
	{"chip", "reset", 0, 0, "--yes [--reset-option=WHAT]...",
	 N_("erase the eUICC (all profiles and the default SM-DP+ unless options say less)"),
	 ql_cli_chip_reset, QL_CLI_FLAG_AUDITED},
	{"profile", "list", 0, 0, "", N_("list the profiles"), ql_cli_profile_list},
	{"profile", "enable", 1, 1, "ICCID", N_("enable a profile (disables the enabled one)"),
	 ql_cli_profile_enable, QL_CLI_FLAG_SWITCHES_PROFILE | QL_CLI_FLAG_AUDITED},
	{"profile", "disable", 1, 1, "ICCID", N_("disable a profile"), ql_cli_profile_disable,
	 QL_CLI_FLAG_SWITCHES_PROFILE | QL_CLI_FLAG_AUDITED},
	{"profile", "delete", 1, 1, "ICCID", N_("delete a disabled profile"), ql_cli_profile_delete,
	 QL_CLI_FLAG_AUDITED},
	{"profile", "nickname", 2, 2, "ICCID NAME", N_("set a profile's nickname (\"\" clears it)"),
	 ql_cli_profile_nickname, QL_CLI_FLAG_AUDITED},
	{"notification", "list", 0, 0, "", N_("list the notifications waiting on the eUICC"),
	 ql_cli_notification_list},
	{"notification", "remove", 0, 1, "SEQ|--all",
	 N_("remove notifications from the eUICC without delivering them"),
	 ql_cli_notification_remove, QL_CLI_FLAG_AUDITED},
	{"notification", "process", 0, 1, "SEQ|--all",
	 N_("deliver notifications to their SM-DP+, removing each delivered one"),
	 ql_cli_notification_process, QL_CLI_FLAG_AUDITED},
	{"profile", "download", 0, 0,
	 "--activation-code CODE | --qr IMAGE | --smdp ADDR [--matching-id ID] | --event ID@ADDR "
	 "| --code LABEL [--keep]",
	 N_("download and install a profile from an SM-DP+"), ql_cli_profile_download,
	 QL_CLI_FLAG_AUDITED},
	{"profile", "discover", 0, 0, "[--smds ADDRESS]",
	 N_("ask an SM-DS (default: the eUICC's root SM-DS) for profiles waiting"),
	 ql_cli_profile_discover},
	{"provision-esim", NULL, 0, 0, "--carrier NAME --plan NAME [--secure]",
	 N_("download the carrier's default profile, nicknamed after the plan"),
	 ql_cli_provision_esim, QL_CLI_FLAG_AUDITED},
	{"modems", NULL, 0, 0, "",
	 N_("the modems ModemManager and oFono know, with their stack, transport and device"),
	 ql_cli_modems, QL_CLI_FLAG_NO_DEVICE},
	{"monitor", NULL, 0, 0, "",
	 N_("print the service's events as they happen (eUICCs, profiles, notifications)"),
	 ql_cli_monitor, QL_CLI_FLAG_NO_DEVICE | QL_CLI_FLAG_SERVICE_ONLY},
	{"code", "add", 0, 0, "--qr IMAGE | --activation-code CODE [--label LABEL]",
	 N_("keep an activation code, sealed, in the wallet until it is used"), ql_cli_code_add_cmd,
	 QL_CLI_FLAG_NO_DEVICE},
	{"code", "list", 0, 0, "",
	 N_("the codes in the wallet: label, SM-DP+, date added, confirmation code needed"),
	 ql_cli_code_list_cmd, QL_CLI_FLAG_NO_DEVICE},
	{"code", "show", 1, 1, "LABEL [--reveal [--yes]]",
	 N_("one code; --reveal prints the code itself (to move it to another device)"),
	 ql_cli_code_show_cmd, QL_CLI_FLAG_NO_DEVICE},
	{"code", "remove", 1, 1, "LABEL", N_("remove a code from the wallet"),
	 ql_cli_code_remove_cmd, QL_CLI_FLAG_NO_DEVICE},
	{"audit", "show", 0, 0, "", N_("the audit trail of every state change"),
	 ql_cli_audit_show_cmd, QL_CLI_FLAG_NO_DEVICE},
	{"audit", "verify", 0, 0, "",
	 N_("check the audit trail: OK, or the first record edited, deleted, reordered or cut"),
	 ql_cli_audit_verify_cmd, QL_CLI_FLAG_NO_DEVICE},
	{"crl", "update", 0, 16, "[KEY-ID]... [--crl-dir DIR]",
	 N_("fetch the CIs' CRLs into the CRL directory, each only if newer and signed by its CI"),
	 ql_cli_crl_update_cmd, QL_CLI_FLAG_NO_DEVICE},
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
		s,
		_("\nWithout --direct, quantra-l asks quantra-esimd on the system bus (another "
		  "bus: "
		  "--bus-address or QUANTRA_L_BUS_ADDRESS); with several eUICCs, -e EID (or its "
		  "configured name or device spec) or -m MODEM picks one. -m without the service "
		  "runs in this process. code, audit and crl update always run in this process; "
		  "the audit "
		  "trail records the changes made in this process (--direct, -m without the "
		  "service).\n"
		  "Devices: virtual:STATEFILE[?seed=N&identity=DIR], and the "
		  "installed plugins' schemes; every device takes ?block=N and "
		  "?isd-r=AID.\nExit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 "
		  "refused by the eUICC, SM-DP+ or polkit, 5 device error or no service, 6 "
		  "malformed data, 7 TLS or certificate refused, 8 network, 9 timeout, 130 "
		  "cancelled (Ctrl-C)."));
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
	case QL_ERROR_AUTH:
		return ql_cli_dbus_refused(error) ? QL_EXIT_REFUSED : QL_EXIT_FAILED;
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
	case QL_ERROR_CANCELLED:
		return QL_EXIT_CANCELLED;
	default:
		return QL_EXIT_FAILED;
	}
}

static gint
ql_cli_fail(QlCli *cli, const GError *error)
{
	gint code = ql_cli_exit_code(error);

	g_autofree gchar *safe = ql_cli_safe(error->message, QL_TEXT_MAX_MESSAGE);

	ql_cli_progress_end(cli);
	/* a message may quote what a server or the card said */
	g_printerr("%s: %s\n", g_get_prgname(), safe);
	if (cli->json) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonNode) root = NULL;
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "error");
		json_builder_begin_object(b);
		ql_cli_json_string(b, "name",
				   error->domain == QL_ERROR ? ql_error_dbus_name(error->code)
							     : "org.quantra.Esim1.Error.Failed");
		ql_cli_json_string(b, "message", error->message);
		/* a trust refusal or a timeout: the machine-readable reason */
		ql_cli_json_string(b, "reason", ql_error_get_reason(error));
		json_builder_set_member_name(b, "exit_code");
		json_builder_add_int_value(b, code);
		json_builder_end_object(b);
		json_builder_end_object(b);
		root = json_builder_get_root(b);
		ql_cli_print_json(root);
	}
	return code;
}

static void
ql_cli_print_result(QlCli *cli)
{
	g_autoptr(JsonNode) root = NULL;

	json_builder_end_object(cli->out);
	root = json_builder_get_root(cli->out);
	ql_cli_print_json(root);
	g_clear_object(&cli->out);
}

/* ---- Ctrl-C ---- */

static QlCli *ql_cli_signal_target;
static GMutex ql_cli_undo_lock;
static void (*ql_cli_undo)(gpointer data);
static gpointer ql_cli_undo_data;

void
ql_cli_on_exit_signal(void (*undo)(gpointer data), gpointer data)
{
	g_mutex_lock(&ql_cli_undo_lock);
	ql_cli_undo = undo;
	ql_cli_undo_data = data;
	g_mutex_unlock(&ql_cli_undo_lock);
}

void
ql_cli_long_begin(QlCli *cli)
{
	g_atomic_int_set(&cli->long_running, 1);
}

void
ql_cli_long_end(QlCli *cli)
{
	g_atomic_int_set(&cli->long_running, 0);
}

/* SIGINT and SIGTERM are blocked in every thread and taken here: during a long operation the
 * first one cancels it (the session is cancelled on both sides, a running service operation
 * gets Cancel), a second one, or one at any other time, ends the process as the signal would. */
static gpointer
ql_cli_signal_thread(gpointer user_data)
{
	sigset_t *set = user_data;
	gboolean cancelled = FALSE;

	for (;;) {
		gint sig = 0;
		if (sigwait(set, &sig) != 0)
			continue;
		if (!cancelled && g_atomic_int_get(&ql_cli_signal_target->long_running)) {
			cancelled = TRUE;
			g_cancellable_cancel(ql_cli_signal_target->cancellable);
			continue;
		}
		/* what must not stay as it is when the process ends (an oFono lockdown) */
		g_mutex_lock(&ql_cli_undo_lock);
		if (ql_cli_undo != NULL)
			ql_cli_undo(ql_cli_undo_data);
		ql_cli_undo = NULL;
		g_mutex_unlock(&ql_cli_undo_lock);
		signal(sig, SIG_DFL);
		pthread_sigmask(SIG_UNBLOCK, set, NULL);
		raise(sig);
	}
	return NULL;
}

static void
ql_cli_signals_take(QlCli *cli)
{
	static sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	ql_cli_signal_target = cli;
	g_thread_unref(g_thread_new("signals", ql_cli_signal_thread, &set));
}

/* ---- running a command ---- */

static QlCliBackend *
ql_cli_backend_open(QlCli *cli, const QlCliCommand *cmd, GError **error)
{
	g_autoptr(GDBusConnection) bus = NULL;
	g_autoptr(GError) local = NULL;

	if ((cli->direct != NULL) + (cli->modem != NULL) + (cli->ofono != NULL) > 1) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("give one of --direct DEVICE, -m MODEM and -o PATH"));
		return NULL;
	}
	if (cli->direct != NULL) {
		if (cli->euicc != NULL) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    _("-e picks one of the service's eUICCs; with --direct "
					      "the device is the eUICC"));
			return NULL;
		}
		return ql_cli_direct_open(cli, cmd, error);
	}
	bus = ql_cli_dbus_connect(cli, &local);
	/* -m or -o without the service: ModemManager's or oFono's modem in this process, as before
	 * the service */
	if ((cli->modem != NULL || cli->ofono != NULL) && cli->euicc == NULL &&
	    (bus == NULL || !ql_cli_dbus_service_running(bus)))
		return ql_cli_direct_open(cli, cmd, error);
	if (bus == NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	return ql_cli_dbus_open(cli, bus, error);
}

static gint
ql_cli_run(QlCli *cli, const QlCliCommand *cmd, gchar **args)
{
	g_autoptr(GError) error = NULL;
	gboolean ok;

	if (cli->json) {
		cli->out = json_builder_new();
		json_builder_begin_object(cli->out);
	}
	cli->st.config = cli->config;
	cli->st.activation_code = cli->activation_code;
	cli->st.qr = cli->qr;
	cli->st.yes = cli->yes;
	cli->st.out = cli->out;
	if ((cmd->flags & QL_CLI_FLAG_SERVICE_ONLY) && cli->direct != NULL) {
		g_set_error(&error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    _("%s watches quantra-esimd: it has no --direct"), cmd->object);
		return ql_cli_fail(cli, error);
	}
	if (!(cmd->flags & QL_CLI_FLAG_NO_DEVICE)) {
		cli->backend = ql_cli_backend_open(cli, cmd, &error);
		if (cli->backend == NULL)
			return ql_cli_fail(cli, error);
	}
	ok = cmd->func(cli, args, &error);
	if (ok && cli->backend != NULL)
		ok = cli->backend->funcs->finish(cli->backend, cmd, args, &error);
	g_clear_pointer(&cli->backend, ql_cli_backend_free);
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
	g_autofree gchar *safe = NULL;
	if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) && !cli->verbose)
		return;
	/* one log line stays one line, whatever a server or the card put in it */
	safe = ql_cli_safe(message, QL_TEXT_MAX_MESSAGE);
	g_printerr("%s: %s\n", domain != NULL ? domain : "quantra-l", safe);
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
	g_clear_pointer(&cli->ofono, g_free);
	g_clear_pointer(&cli->euicc, g_free);
	g_clear_pointer(&cli->bus_address, g_free);
	g_clear_pointer(&cli->args, g_strfreev);
	g_clear_pointer(&cli->reset_options, g_strfreev);
	g_clear_pointer(&cli->qr, g_free);
	g_clear_pointer(&cli->smdp, g_free);
	g_clear_pointer(&cli->event, g_free);
	g_clear_pointer(&cli->smds, g_free);
	g_clear_pointer(&cli->nickname, g_free);
	g_clear_pointer(&cli->apn, g_free);
	g_clear_pointer(&cli->carrier, g_free);
	g_clear_pointer(&cli->plan, g_free);
	g_clear_pointer(&cli->trust_anchors, g_strfreev);
	g_clear_pointer(&cli->crl_dir, g_free);
	g_clear_pointer(&cli->pins, g_strfreev);
	g_clear_pointer(&cli->client_cert, g_free);
	g_clear_pointer(&cli->client_key, g_free);
	g_clear_pointer(&cli->config, g_free);
	g_clear_pointer(&cli->carriers, g_free);
	g_clear_pointer(&cli->backend, ql_cli_backend_free);
	g_clear_object(&cli->out);
	g_clear_object(&cli->cancellable);
	ql_cli_state_clear(&cli->st);
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
		 N_("Run in this process on DEVICE (e.g. virtual:./state, qmi:/dev/cdc-wdm0), "
		    "without quantra-esimd"),
		 N_("DEVICE")},
		{"euicc", 'e', 0, G_OPTION_ARG_STRING, &cli.euicc,
		 N_("The service's eUICC with this EID (or configured name, or device spec)"),
		 N_("EID")},
		{"modem", 'm', 0, G_OPTION_ARG_STRING, &cli.modem,
		 N_("The eUICC of ModemManager's modem N or object path (as mmcli -m); in this "
		    "process when quantra-esimd does not run"),
		 N_("N|PATH")},
		{"ofono", 'o', 0, G_OPTION_ARG_STRING, &cli.ofono,
		 N_("The eUICC of oFono's modem PATH (e.g. /quectelqmi_0), locked down while its "
		    "port is in use; in this process when quantra-esimd does not run"),
		 N_("PATH")},
		{"bus-address", 0, 0, G_OPTION_ARG_STRING, &cli.bus_address,
		 N_("Find quantra-esimd on this D-Bus address, not the system bus"), N_("ADDRESS")},
		{"json", 'J', 0, G_OPTION_ARG_NONE, &cli.json,
		 N_("Print the result as JSON (no prompts, no progress)"), NULL},
		{"verbose", 'v', 0, G_OPTION_ARG_NONE, &cli.verbose, N_("Print debug messages"),
		 NULL},
		{"version", 'V', 0, G_OPTION_ARG_NONE, &cli.version, N_("Print the version"), NULL},
		{"state-dir", 0, 0, G_OPTION_ARG_FILENAME, &cli.st.state_dir,
		 N_("Keep the wallet, the vault and the audit trail in DIR (default: "
		    "$QUANTRA_L_STATE_DIR, state-dir= in the configuration, /var/lib/quantra-l)"),
		 N_("DIR")},
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
		{"connect", 0, 0, G_OPTION_ARG_NONE, &cli.connect,
		 N_("enable: then create or update the profile's NetworkManager connection"), NULL},
		{"apn", 0, 0, G_OPTION_ARG_STRING, &cli.apn,
		 N_("enable --connect: the access point name (default: the provider database's)"),
		 N_("APN")},
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
		 N_("also trust this CI (PEM; crl update: update its CRL too); repeatable"),
		 N_("FILE")},
		{"crl-dir", 0, 0, G_OPTION_ARG_FILENAME, &cli.crl_dir,
		 N_("check revocation against the CRLs in DIR (crl update: store them there)"),
		 N_("DIR")},
		{"crl-required", 0, 0, G_OPTION_ARG_NONE, &cli.crl_required,
		 N_("refuse a chain whose issuers have no current CRL in the CRL directory"), NULL},
		{"pin", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cli.pins,
		 N_("pin a host's key: HOST=sha256//BASE64; repeatable"), N_("HOST=PIN")},
		{"client-cert", 0, 0, G_OPTION_ARG_STRING, &cli.client_cert,
		 N_("mTLS client certificate (PEM file or pkcs11: URI)"), N_("FILE")},
		{"client-key", 0, 0, G_OPTION_ARG_STRING, &cli.client_key,
		 N_("mTLS client key (PEM file or pkcs11: URI)"), N_("FILE")},
		{"system-store", 0, 0, G_OPTION_ARG_NONE, &cli.system_store,
		 N_("also trust the system's CA store (WebPKI TLS certificates)"), NULL},
		{"timeout", 0, 0, G_OPTION_ARG_INT, &cli.timeout,
		 N_("bound on the connect, the whole TLS handshake and each whole request and "
		    "answer, in seconds (default 30)"),
		 N_("SECONDS")},
		{"download-timeout", 0, 0, G_OPTION_ARG_INT, &cli.download_timeout,
		 N_("bound on a whole download or discovery, in seconds (default 300)"),
		 N_("SECONDS")},
		{"config", 'c', 0, G_OPTION_ARG_FILENAME, &cli.config,
		 N_("configuration file (default /etc/quantra-l/quantra-l.conf)"), N_("FILE")},
		{NULL},
	};
	const GOptionEntry chip_entries[] = {
		{"yes", 'y', 0, G_OPTION_ARG_NONE, &cli.yes,
		 N_("reset: confirm that profiles are to be deleted; code show --reveal: do not "
		    "ask"),
		 NULL},
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
	(void)ql_error_quark(); /* the org.quantra.Esim1.Error names, for the service's errors */
	cli.cancellable = g_cancellable_new();
	ql_cli_signals_take(&cli);

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
	g_option_context_add_group(ctx, ql_cli_state_option_group(&cli.st));
	help = ql_cli_commands_help();
	g_option_context_set_description(ctx, help);

	/* parsing reorders @argv: keep the original order to find the secrets in it */
	argv_orig = g_memdup2(argv, sizeof(gchar *) * (gsize)(argc + 1));
	argc_orig = argc;
	if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
		g_autofree gchar *safe = ql_cli_safe(error->message, QL_TEXT_MAX_MESSAGE);
		ql_cli_wipe_argv_secrets(argc_orig, argv_orig);
		g_printerr("%s: %s\n", g_get_prgname(), safe);
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
	{
		g_autofree gchar *object = ql_cli_safe(cli.args[0], QL_TEXT_MAX_FIELD);
		g_autofree gchar *verb =
			ql_cli_safe(nargs > 1 ? cli.args[1] : "", QL_TEXT_MAX_FIELD);
		g_printerr(_("%s: unknown command '%s%s%s' (see --help)\n"), g_get_prgname(),
			   object, nargs > 1 ? " " : "", verb);
	}
	return QL_EXIT_USAGE;
}
