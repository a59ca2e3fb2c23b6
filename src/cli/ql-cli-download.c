/*
 * quantra-l profile download / discover, provision-esim: where the activation code comes from,
 * the progress bar, the confirmation code prompt, and the secure-mode report.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "quantra-l/ql-error.h"
#include "ql-cli.h"
#include "ql-crypto.h"
#include "ql-qr.h"

/* ---- the progress bar ---- */

#define QL_CLI_BAR_WIDTH 30

void
ql_cli_progress(QlCli *cli, const gchar *step, guint percent)
{
	gchar bar[QL_CLI_BAR_WIDTH + 1];
	g_autofree gchar *safe = NULL;
	guint filled = MIN(percent, 100) * QL_CLI_BAR_WIDTH / 100;

	if (cli->json || !isatty(STDERR_FILENO))
		return;
	memset(bar, '#', filled);
	memset(bar + filled, '.', QL_CLI_BAR_WIDTH - filled);
	bar[QL_CLI_BAR_WIDTH] = '\0';
	/* the step names are SGP.22's function names (the service's, through it); \033[K clears
	 * what a longer one left */
	safe = ql_cli_safe(step, 64);
	g_printerr("\r[%s] %3u%%  %s\033[K", bar, MIN(percent, 100), safe);
	cli->progress_shown = TRUE;
}

void
ql_cli_progress_end(QlCli *cli)
{
	if (cli->progress_shown)
		g_printerr("\n");
	cli->progress_shown = FALSE;
}

/* ---- the confirmation code ---- */

/* Reads a secret from the terminal without echo; Ctrl-C (the cancellable) abandons it. */
static gchar *
ql_cli_ask_secret(QlCli *cli, const gchar *prompt)
{
	FILE *tty = fopen("/dev/tty", "r+");
	struct termios old, quiet;
	gchar buf[128] = {0};
	gsize len = 0;
	gboolean restore = FALSE;
	gboolean done = FALSE;
	gchar *out = NULL;
	GPollFD fds[2];

	if (tty == NULL)
		return NULL;
	fputs(prompt, tty);
	fflush(tty);
	if (tcgetattr(fileno(tty), &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		restore = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
	}
	fds[0].fd = fileno(tty);
	fds[0].events = G_IO_IN;
	g_cancellable_make_pollfd(cli->cancellable, &fds[1]);
	while (!done && len < sizeof(buf) - 1) {
		gssize n;
		if (g_poll(fds, 2, -1) < 0 || g_cancellable_is_cancelled(cli->cancellable))
			break;
		n = read(fds[0].fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (gsize)n;
		done = memchr(buf, '\n', len) != NULL;
	}
	g_cancellable_release_fd(cli->cancellable);
	if (restore)
		tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	if (done && !g_cancellable_is_cancelled(cli->cancellable)) {
		g_strchomp(buf);
		out = g_strdup(buf);
	}
	ql_crypto_wipe(buf, sizeof(buf));
	return out;
}

gchar *
ql_cli_confirmation_code(QlCli *cli)
{
	if (cli->confirmation_code != NULL)
		return g_strdup(cli->confirmation_code);
	if (cli->json || !isatty(STDIN_FILENO))
		return NULL; /* no prompts for scripts */
	if (cli->progress_shown)
		g_printerr("\n"); /* off the progress line */
	cli->progress_shown = FALSE;
	return ql_cli_ask_secret(cli, _("Confirmation code: "));
}

/* ---- options of a download in this process ---- */

static void
ql_cli_direct_progress(QlDownloadStep step, guint percent, gpointer user_data)
{
	ql_cli_progress(user_data, ql_download_step_to_string(step), percent);
}

static gchar *
ql_cli_direct_ask_code(gpointer user_data)
{
	QlCli *cli = user_data;
	/* --confirmation-code is in the options already: only the prompt is left */
	if (cli->json || !isatty(STDIN_FILENO))
		return NULL;
	return ql_cli_confirmation_code(cli);
}

gboolean
ql_cli_download_options(QlCli *cli, QlConfig **cfg_out, QlDownloadOptions *opts, const gchar *host,
			GError **error)
{
	g_autoptr(QlConfig) cfg = ql_config_load(cli->config, error);

	if (cfg == NULL)
		return FALSE;
	/* the command line adds anchors and pins to the configuration's */
	for (guint i = 0; cli->trust_anchors != NULL && cli->trust_anchors[i] != NULL; i++)
		g_ptr_array_add(cfg->trust_anchor_files, g_strdup(cli->trust_anchors[i]));
	for (guint i = 0; cli->pins != NULL && cli->pins[i] != NULL; i++)
		g_ptr_array_add(cfg->pins, g_strdup(cli->pins[i]));
	ql_config_download_options(cfg, host, opts);
	if (cli->secure)
		opts->policy = QL_TLS_POLICY_STRICT;
	opts->use_system_store |= cli->system_store;
	if (cli->crl_dir != NULL)
		opts->crl_dir = cli->crl_dir;
	opts->crl_required |= cli->crl_required;
	if (opts->crl_required && opts->crl_dir == NULL) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("CRLs are required (--crl-required or crl=required) but no "
				      "CRL directory is set (--crl-dir or crl-dir=)"));
		return FALSE;
	}
	if (cli->client_cert != NULL) {
		opts->client_cert = cli->client_cert;
		opts->client_key = cli->client_key;
	}
	if (cli->timeout < 0 || cli->timeout > 3600) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("--timeout takes 1 to 3600 seconds"));
		return FALSE;
	}
	if (cli->download_timeout < 0 || cli->download_timeout > 86400) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("--download-timeout takes 1 to 86400 seconds"));
		return FALSE;
	}
	if (cli->timeout > 0)
		opts->timeout_ms = (guint)cli->timeout * 1000;
	if (cli->download_timeout > 0)
		opts->download_timeout_ms = (guint)cli->download_timeout * 1000;
	opts->confirmation_code = cli->confirmation_code;
	opts->ask_confirmation_code = ql_cli_direct_ask_code;
	opts->progress = ql_cli_direct_progress;
	opts->user_data = cli;
	opts->cancellable = cli->cancellable;
	*cfg_out = g_steal_pointer(&cfg);
	return TRUE;
}

/* ---- where the activation code comes from ---- */

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
ql_activation_code_wipe_free(QlActivationCode *ac)
{
	if (ac->matching_id != NULL)
		ql_crypto_wipe(ac->matching_id, strlen(ac->matching_id));
	ql_activation_code_free(ac);
}
typedef QlActivationCode QlActivationCodeSecret;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlActivationCodeSecret, ql_activation_code_wipe_free)

/* ---- the report ---- */

static gchar *
ql_cli_format_time(gint64 t)
{
	g_autoptr(GDateTime) dt = t >= 0 ? g_date_time_new_from_unix_utc(t) : NULL;
	return dt != NULL ? g_date_time_format(dt, "%Y-%m-%d %H:%M UTC") : g_strdup(_("none"));
}

static gchar *
ql_cli_crl_text(const QlTrustCrlUse *use)
{
	g_autofree gchar *this_update = ql_cli_format_time(use->this_update);
	g_autofree gchar *next_update = ql_cli_format_time(use->next_update);
	return g_strdup_printf(_("'%s' (%s, this update %s, next update %s)"), use->issuer,
			       use->file, this_update, next_update);
}

/* The lines of one verified chain, each from what the check recorded while it ran. */
static void
ql_cli_report_chain(const gchar *label, const QlTrustResult *t)
{
	g_autofree gchar *key_chain = g_strdup_printf(_("%s chain"), label);
	g_autofree gchar *key_pin = g_strdup_printf(_("%s pin"), label);
	g_autofree gchar *key_crl = g_strdup_printf(_("%s CRL"), label);
	g_autofree gchar *chain = NULL;
	g_autofree gchar *host = NULL;
	g_autoptr(GString) crl = g_string_new(NULL);

	if (t == NULL) {
		ql_cli_kv(key_chain, _("not verified"));
		return;
	}
	if (t->host != NULL)
		host = g_strdup_printf(_(" for %s (subjectAltName %s)"), t->host,
				       t->host_via_ip ? "iPAddress" : "dNSName");
	chain = g_strdup_printf(_("'%s'%s verified to anchor '%s' (key id %s, %s); %s"), t->subject,
				host != NULL ? host : "", t->anchor_subject,
				t->anchor_key_id != NULL ? t->anchor_key_id : _("none"),
				ql_trust_anchor_source_to_string(t->anchor_source),
				t->host != NULL
					? _("validity, role, key size and key usage checked")
					: _("validity, role and key size checked"));
	ql_cli_kv(key_chain, chain);
	if (t->host != NULL) {
		g_autofree gchar *pin = NULL;
		if (t->pin_checked)
			pin = g_strdup_printf(_("matched for %s by the %s '%s' (%s)"), t->host,
					      ql_trust_depth_to_string(t->pin_depth, t->path_len),
					      t->pin_subject, t->pin);
		else
			pin = g_strdup_printf(_("no pin for %s"), t->host);
		ql_cli_kv(key_pin, pin);
	}
	for (guint i = 0; i < t->crls->len; i++) {
		const QlTrustCrlUse *use = g_ptr_array_index(t->crls, i);
		g_autofree gchar *text = ql_cli_crl_text(use);
		if (crl->len > 0)
			g_string_append(crl, "; ");
		g_string_append_printf(crl,
				       use->stale ? _("CRL of %s consulted, not revoked, but STALE")
						  : _("CRL of %s consulted, not revoked"),
				       text);
	}
	for (guint i = 0; i < t->no_crl->len; i++) {
		if (crl->len > 0)
			g_string_append(crl, "; ");
		g_string_append_printf(crl, _("no CRL for '%s'"),
				       (const gchar *)g_ptr_array_index(t->no_crl, i));
	}
	for (guint i = 0; i < t->rejected->len; i++) {
		const QlTrustCrlUse *use = g_ptr_array_index(t->rejected, i);
		if (crl->len > 0)
			g_string_append(crl, "; ");
		g_string_append_printf(crl,
				       _("%s names '%s' but its signature does not verify: not "
					 "used"),
				       use->file, use->issuer);
	}
	ql_cli_kv(key_crl, crl->str);
}

/* One report from either backend: the core's JSON, or these lines */
static void
ql_cli_report(QlCli *cli, const QlDownloadReport *r)
{
	g_autofree gchar *tls = NULL;
	g_autofree gchar *note = NULL;
	g_autofree gchar *mtls = NULL;
	g_autofree gchar *counters = NULL;

	if (cli->json) {
		ql_download_report_to_json(r, cli->out);
		return;
	}
	tls = g_strdup_printf(_("%s, %s (policy %s, no fallback)"), r->tls_version, r->cipher_suite,
			      r->tls_policy);
	counters = g_strdup_printf(
		_("%llu APDUs, %llu bytes to the eUICC, %u TLS handshake(s), %u HTTP requests, %u "
		  "BPP segments"),
		(unsigned long long)r->apdus, (unsigned long long)r->bytes_to_euicc,
		r->tls_handshakes, r->http_requests, r->bpp_segments);
	if (r->notification_delivered)
		note = g_strdup_printf(_("delivered to %s and removed from the eUICC"),
				       r->smdp_address);
	else
		note = g_strdup_printf(_("NOT delivered (%s); kept on the eUICC for "
					 "`notification process`"),
				       r->notification_error);
	if (r->client_cert_requested && r->client_cert_sent)
		mtls = g_strdup_printf(_("the server asked for a client certificate; '%s' was "
					 "sent"),
				       r->client_cert_subject != NULL ? r->client_cert_subject
								      : "?");
	else if (r->client_cert_requested)
		mtls = g_strdup(r->client_cert_configured
					? _("the server asked for a client certificate; the "
					    "configured one was NOT sent")
					: _("the server asked for a client certificate; none is "
					    "configured, none sent"));
	else
		mtls = g_strdup(r->client_cert_configured
					? _("the server did not ask for a client certificate; "
					    "the configured one was not sent")
					: _("the server did not ask for a client certificate; "
					    "none sent"));
	g_print("%s\n", _("Profile installed"));
	ql_cli_kv(_("ICCID"), r->iccid);
	ql_cli_kv(_("Name"), r->profile_name);
	ql_cli_kv(_("Provider"), r->service_provider);
	ql_cli_kv(_("SM-DP+"), r->smdp_address);
	g_print("%s\n", _("Secure mode report"));
	ql_cli_kv(_("TLS"), tls);
	ql_cli_report_chain("TLS", r->tls_trust);
	ql_cli_report_chain("DPauth", r->dpauth_trust);
	ql_cli_report_chain("DPpb", r->dppb_trust);
	ql_cli_kv(_("mTLS"), mtls);
	ql_cli_kv(_("Confirmation code"),
		  r->confirmation_code_used ? _("sent as hashCc only") : _("not needed"));
	ql_cli_kv(_("Notification"), note);
	ql_cli_kv(_("Counters"), counters);
}

/* ---- the commands ---- */

static gboolean
ql_cli_download_with(QlCli *cli, QlActivationCode *ac, GError **error)
{
	g_autoptr(QlDownloadReport) report = NULL;

	ql_cli_long_begin(cli);
	report = cli->backend->funcs->download(cli->backend, ac, error);
	ql_cli_long_end(cli);
	/* a wallet code is used up (or marked used, --keep) once its profile is installed */
	if (report == NULL || !ql_cli_code_downloaded(&cli->st, report, error))
		return FALSE;
	ql_cli_report(cli, report);
	return TRUE;
}

gboolean
ql_cli_profile_download(QlCli *cli, gchar **args, GError **error)
{
	g_autoptr(QlActivationCodeSecret) ac = NULL;

	if (cli->event != NULL) {
		/* an event from `profile discover`: its SM-DP+, the event id as matching id */
		const gchar *at = strchr(cli->event, '@');
		if (at == NULL) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    _("--event takes EVENT-ID@SMDP-ADDRESS as `profile "
					      "discover` prints it"));
			return FALSE;
		}
		ac = g_new0(QlActivationCode, 1);
		ac->matching_id = g_strndup(cli->event, at - cli->event);
		ac->smdp_address = g_strdup(at + 1);
		if (!ql_activation_check_address(ac->smdp_address, error))
			return FALSE;
	} else if (cli->st.code != NULL) {
		ac = ql_cli_code_for_download(&cli->st,
					      cli->activation_code != NULL || cli->qr != NULL ||
						      cli->smdp != NULL || cli->carrier != NULL,
					      error);
		if (ac == NULL)
			return FALSE;
	} else {
		ac = ql_cli_activation_code(cli, error);
		if (ac == NULL)
			return FALSE;
	}
	return ql_cli_download_with(cli, ac, error);
}

gboolean
ql_cli_provision_esim(QlCli *cli, gchar **args, GError **error)
{
	g_autoptr(QlActivationCodeSecret) ac = NULL;

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
	return ql_cli_download_with(cli, ac, error);
}

static const QlCliField ql_cli_event_fields[] = {
	{"event_id", N_("Event"), QL_CLI_FIELD_STRING, G_STRUCT_OFFSET(QlEvent, event_id), NULL,
	 NULL, 0},
	{"smdp_address", N_("SM-DP+"), QL_CLI_FIELD_STRING,
	 G_STRUCT_OFFSET(QlEvent, rsp_server_address), NULL, NULL, 0},
	{NULL},
};

gboolean
ql_cli_profile_discover(QlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GPtrArray) events = NULL;
	g_autofree gchar *smds = NULL;

	if (cli->smds != NULL && !ql_activation_check_address(cli->smds, error))
		return FALSE;
	ql_cli_long_begin(cli);
	events = cli->backend->funcs->discover(cli->backend, cli->smds, &smds, error);
	ql_cli_long_end(cli);
	if (events == NULL)
		return FALSE;
	if (cli->json) {
		ql_cli_fields_json_array(ql_cli_event_fields, "events", events, cli->out);
		return TRUE;
	}
	if (events->len == 0) {
		g_autofree gchar *safe = ql_cli_safe(smds, QL_TEXT_MAX_FIELD);
		g_print(_("No profiles waiting at %s.\n"), safe);
		return TRUE;
	}
	g_print(_("Profiles waiting (download one with `profile download --event ID@ADDRESS`):\n"));
	for (guint i = 0; i < events->len; i++) {
		QlEvent *e = g_ptr_array_index(events, i);
		g_autofree gchar *id = ql_cli_safe(e->event_id, QL_TEXT_MAX_FIELD);
		g_autofree gchar *address = ql_cli_safe(e->rsp_server_address, QL_TEXT_MAX_FIELD);
		g_print("  %s@%s\n", id, address);
	}
	return TRUE;
}
