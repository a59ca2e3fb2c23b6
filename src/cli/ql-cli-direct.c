/*
 * quantra-l's direct backend: the core in this process, on --direct DEVICE or on the port of
 * ModemManager's modem -m N (inhibited around a profile switch). Every state change it makes
 * goes into the audit trail (ql-cli-audit.c), whose readiness was checked before the change.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-cli-ofono.h"
#include "ql-cli.h"
#include "ql-device.h"

typedef struct {
	QlCliBackend parent;
	QlModemInfo *modem; /* -m */
	QlModemInhibit *inhibit;
	QlCliOfono *ofono; /* -o: oFono locked out of the modem while its port is in use */
	QlDevice *dev;
	QlChannel *ch;
} QlCliDirect;

static QlCliChip *
ql_cli_direct_chip_info(QlCliBackend *b, GError **error)
{
	QlChannel *ch = ((QlCliDirect *)b)->ch;
	g_autoptr(QlCliChip) chip = ql_cli_chip_new();
	g_autoptr(QlEuiccInfo2) info = NULL;

	chip->eid = ql_es10_get_eid(ch, error);
	if (chip->eid == NULL)
		return NULL;
	info = ql_es10_get_euicc_info2(ch, error);
	if (info == NULL)
		return NULL;
	if (!ql_es10_get_configured_addresses(ch, &chip->default_smdp, &chip->root_smds, error))
		return NULL;
	chip->svn = g_strdup(info->svn);
	chip->profile_version = g_strdup(info->profile_version);
	chip->firmware_version = g_strdup(info->firmware_version);
	chip->installed_apps = info->installed_apps;
	chip->free_nvm = info->free_nvm;
	chip->free_ram = info->free_ram;
	chip->category = info->category;
	chip->pp_version = g_strdup(info->pp_version);
	chip->sas_accreditation = g_strdup(info->sas_accreditation);
	for (guint i = 0; i < info->ci_pkid_verification->len; i++)
		g_ptr_array_add(chip->ci_key_ids_verification,
				g_bytes_ref(g_ptr_array_index(info->ci_pkid_verification, i)));
	for (guint i = 0; i < info->ci_pkid_signing->len; i++)
		g_ptr_array_add(chip->ci_key_ids_signing,
				g_bytes_ref(g_ptr_array_index(info->ci_pkid_signing, i)));
	return g_steal_pointer(&chip);
}

static gboolean
ql_cli_direct_get_default_smdp(QlCliBackend *b, gchar **address, GError **error)
{
	return ql_es10_get_configured_addresses(((QlCliDirect *)b)->ch, address, NULL, error);
}

static gboolean
ql_cli_direct_set_default_smdp(QlCliBackend *b, const gchar *address, GError **error)
{
	QlCliState *st = &b->cli->st;
	QlChannel *ch = ((QlCliDirect *)b)->ch;

	return ql_cli_audit_prepare(st, ch, error) &&
	       ql_es10_set_default_dp_address(ch, address, error) &&
	       ql_cli_audit_note(st, "default-smdp", error, "address", address, NULL);
}

static gboolean
ql_cli_direct_reset(QlCliBackend *b, guint options, GError **error)
{
	if (!ql_es10_memory_reset(((QlCliDirect *)b)->ch, options, error))
		return FALSE;
	return ql_cli_audit_note(&b->cli->st, "chip-reset", error, "operational",
				 options & QL_RESET_DELETE_OPERATIONAL ? "yes" : "no", "test",
				 options & QL_RESET_DELETE_TEST ? "yes" : "no", "default-smdp",
				 options & QL_RESET_DEFAULT_SMDP ? "yes" : "no", NULL);
}

static GPtrArray *
ql_cli_direct_profiles(QlCliBackend *b, GError **error)
{
	return ql_es10_get_profiles(((QlCliDirect *)b)->ch, NULL, error);
}

static gboolean
ql_cli_direct_profile(QlCliBackend *b, QlCliProfileAction action, const gchar *id,
		      const gchar *nickname, GError **error)
{
	QlChannel *ch = ((QlCliDirect *)b)->ch;
	QlCliState *st = &b->cli->st;
	gboolean refresh = !b->cli->no_refresh;

	switch (action) {
	case QL_CLI_PROFILE_ENABLE:
		return ql_es10_enable_profile(ch, id, refresh, error) &&
		       ql_cli_audit_note(st, "profile-enable", error, "iccid", id, NULL);
	case QL_CLI_PROFILE_DISABLE:
		return ql_es10_disable_profile(ch, id, refresh, error) &&
		       ql_cli_audit_note(st, "profile-disable", error, "iccid", id, NULL);
	case QL_CLI_PROFILE_DELETE:
		return ql_es10_delete_profile(ch, id, error) &&
		       ql_cli_audit_note(st, "profile-delete", error, "iccid", id, NULL);
	case QL_CLI_PROFILE_NICKNAME:
	default:
		return ql_es10_set_nickname(ch, id, nickname, error) &&
		       ql_cli_audit_note(st, "profile-nickname", error, "iccid", id, "nickname",
					 nickname, NULL);
	}
}

static GPtrArray *
ql_cli_direct_notifications(QlCliBackend *b, GError **error)
{
	return ql_es10_list_notifications(((QlCliDirect *)b)->ch, error);
}

static gboolean
ql_cli_direct_remove_notification(QlCliBackend *b, gint64 seq, GError **error)
{
	g_autofree gchar *text = g_strdup_printf("%" G_GINT64_FORMAT, seq);
	return ql_es10_remove_notification(((QlCliDirect *)b)->ch, seq, error) &&
	       ql_cli_audit_note(&b->cli->st, "notification-remove", error, "notification", text,
				 NULL);
}

static QlDownloadReport *
ql_cli_direct_download(QlCliBackend *b, const QlActivationCode *ac, GError **error)
{
	QlCli *cli = b->cli;
	g_autoptr(QlConfig) cfg = NULL;
	g_autoptr(QlDownloadReport) report = NULL;
	g_autofree gchar *host = NULL;
	guint16 port = 0;
	QlDownloadOptions opts;

	if (!ql_activation_split_address(ac->smdp_address, &host, &port, error) ||
	    !ql_cli_download_options(cli, &cfg, &opts, host, error))
		return NULL;
	opts.nickname = cli->nickname != NULL ? cli->nickname : cli->plan;
	report = ql_download_profile(((QlCliDirect *)b)->ch, ac, &opts, error);
	ql_cli_progress_end(cli);
	/* the trail takes the outcome, a failure too (whose own error stays the one reported) */
	if (!ql_cli_audit_download(&cli->st, ac->smdp_address, report, error ? *error : NULL,
				   report != NULL ? error : NULL) ||
	    report == NULL)
		return NULL;
	return g_steal_pointer(&report);
}

static GPtrArray *
ql_cli_direct_discover(QlCliBackend *b, const gchar *smds, gchar **smds_used, GError **error)
{
	QlChannel *ch = ((QlCliDirect *)b)->ch;
	g_autoptr(QlConfig) cfg = NULL;
	g_autofree gchar *root_ds = NULL;
	g_autofree gchar *host = NULL;
	guint16 port = 0;
	QlDownloadOptions opts;

	if (smds == NULL) {
		if (!ql_es10_get_configured_addresses(ch, NULL, &root_ds, error))
			return NULL;
		smds = root_ds != NULL && root_ds[0] != '\0' ? root_ds : "lpa.ds.gsma.com";
	}
	if (!ql_activation_check_address(smds, error) ||
	    !ql_activation_split_address(smds, &host, &port, error) ||
	    !ql_cli_download_options(b->cli, &cfg, &opts, host, error))
		return NULL;
	*smds_used = g_strdup(smds);
	return ql_download_discover(ch, smds, &opts, error);
}

static gint
ql_cli_direct_process(QlCliBackend *b, gint64 seq, GPtrArray *failures, GError **error)
{
	g_autoptr(QlConfig) cfg = NULL;
	QlDownloadOptions opts;
	gint delivered;

	if (!ql_cli_download_options(b->cli, &cfg, &opts, NULL, error))
		return -1;
	delivered = ql_download_process_notifications(((QlCliDirect *)b)->ch, seq, &opts, failures,
						      error);
	if (delivered > 0) {
		g_autofree gchar *n = g_strdup_printf("%d", delivered);
		g_autofree gchar *which =
			seq >= 0 ? g_strdup_printf("%" G_GINT64_FORMAT, seq) : NULL;
		if (!ql_cli_audit_note(&b->cli->st, "notification-deliver", error, "delivered", n,
				       "notification", which != NULL ? which : "all", NULL))
			return -1;
	}
	return delivered;
}

static gboolean
ql_cli_direct_finish(QlCliBackend *b, const QlCliCommand *cmd, gchar **args, GError **error)
{
	QlCliDirect *d = (QlCliDirect *)b;

	/* the channel and the port are released before ModemManager takes the modem back */
	g_clear_pointer(&d->ch, ql_channel_free);
	g_clear_pointer(&d->dev, ql_device_free);
	if (d->inhibit != NULL) {
		g_autoptr(QlModemInhibit) inhibit = g_steal_pointer(&d->inhibit);
		return ql_cli_modem_settle(b->cli, cmd, args, d->modem, inhibit, error);
	}
	if (d->ofono != NULL) {
		/* oFono gets the modem back, and after a switch shows the new SIM */
		QlCli *cli = b->cli;
		gboolean switched = (cmd->flags & QL_CLI_FLAG_SWITCHES_PROFILE) != 0;
		const gchar *expected = switched && cmd->func == ql_cli_profile_enable &&
							!cli->no_refresh && strlen(args[0]) < 32
						? args[0]
						: NULL;
		return ql_cli_ofono_end(d->ofono, switched, expected, cli->out, error);
	}
	return TRUE;
}

static void
ql_cli_direct_free(QlCliBackend *b)
{
	QlCliDirect *d = (QlCliDirect *)b;
	g_clear_pointer(&d->ch, ql_channel_free);
	g_clear_pointer(&d->dev, ql_device_free);
	/* freeing an inhibition that was not given back gives it back; an oFono lockdown is
	 * cleared whether the command worked or not */
	g_clear_pointer(&d->inhibit, ql_modem_inhibit_free);
	g_clear_pointer(&d->ofono, ql_cli_ofono_free);
	g_clear_pointer(&d->modem, ql_modem_info_free);
	g_free(d);
}

static const QlCliBackendFuncs ql_cli_direct_funcs = {
	.chip_info = ql_cli_direct_chip_info,
	.get_default_smdp = ql_cli_direct_get_default_smdp,
	.set_default_smdp = ql_cli_direct_set_default_smdp,
	.reset = ql_cli_direct_reset,
	.profiles = ql_cli_direct_profiles,
	.profile = ql_cli_direct_profile,
	.notifications = ql_cli_direct_notifications,
	.remove_notification = ql_cli_direct_remove_notification,
	.download = ql_cli_direct_download,
	.discover = ql_cli_direct_discover,
	.process_notifications = ql_cli_direct_process,
	.finish = ql_cli_direct_finish,
	.free = ql_cli_direct_free,
};

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

QlCliBackend *
ql_cli_direct_open(QlCli *cli, const QlCliCommand *cmd, GError **error)
{
	g_autoptr(QlCliBackend) b = NULL;
	QlCliDirect *d = g_new0(QlCliDirect, 1);
	g_autofree gchar *full_spec = NULL;
	const gchar *spec = cli->direct;

	d->parent.funcs = &ql_cli_direct_funcs;
	d->parent.cli = cli;
	b = &d->parent;
	if (cli->ofono != NULL) {
		g_autofree gchar *state_dir = ql_cli_state_dir(&cli->st, NULL, error);
		if (state_dir == NULL)
			return NULL;
		/* oFono lets go of the modem's ports while it is locked down */
		d->ofono =
			ql_cli_ofono_begin(cli->config, state_dir, cli->ofono,
					   (cmd->flags & QL_CLI_FLAG_SWITCHES_PROFILE) != 0, error);
		if (d->ofono == NULL)
			return NULL;
		spec = ql_cli_ofono_spec(d->ofono);
	}
	if (cli->modem != NULL) {
		/* resolved before any inhibit: the modem object goes away while inhibited */
		d->modem = ql_modem_resolve(NULL, cli->modem, error);
		if (d->modem == NULL)
			return NULL;
		spec = d->modem->spec;
		/* a port ModemManager holds exclusively is opened only once it let go of it */
		if ((cmd->flags & QL_CLI_FLAG_SWITCHES_PROFILE) || d->modem->exclusive) {
			d->inhibit = ql_modem_inhibit(NULL, d->modem, error);
			if (d->inhibit == NULL)
				return NULL;
		}
	}
	full_spec = ql_cli_device_spec(cli, spec,
				       d->modem != NULL	  ? d->modem->model
				       : d->ofono != NULL ? ql_cli_ofono_model(d->ofono)
							  : NULL,
				       error);
	if (full_spec == NULL)
		return NULL;
	d->dev = ql_device_open(full_spec, error);
	if (d->dev == NULL)
		return NULL;
	d->ch = ql_channel_open_isdr(d->dev, error);
	if (d->ch == NULL)
		return NULL;
	/* a change the audit trail cannot take is not made */
	if ((cmd->flags & QL_CLI_FLAG_AUDITED) && !ql_cli_audit_prepare(&cli->st, d->ch, error))
		return NULL;
	return g_steal_pointer(&b);
}

void
ql_cli_backend_free(QlCliBackend *b)
{
	if (b != NULL)
		b->funcs->free(b);
}
