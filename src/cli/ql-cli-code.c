/*
 * quantra-l: the activation-code wallet (`code add|list|show|remove`, `profile download --code`).
 * See ql-cli-state.h. Codes are read, sealed and revealed here; nothing here prints a code except
 * `code show --reveal`, after asking.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "quantra-l/ql-error.h"
#include "ql-cli-state.h"
#include "ql-crypto.h"
#include "ql-qr.h"
#include "ql-wallet.h"

static void
ql_cli_code_secret_free(gchar *s)
{
	if (s != NULL)
		ql_crypto_wipe(s, strlen(s));
	g_free(s);
}

typedef gchar QlCliSecret;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlCliSecret, ql_cli_code_secret_free)

static gchar *
ql_cli_code_date(gint64 t)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_local(t);
	return dt != NULL ? g_date_time_format(dt, "%Y-%m-%d %H:%M") : g_strdup("?");
}

static void
ql_cli_code_json_entry(JsonBuilder *b, const QlWalletEntry *e)
{
	g_autoptr(GDateTime) dt = g_date_time_new_from_unix_utc(e->added);
	g_autofree gchar *added = dt != NULL ? g_date_time_format_iso8601(dt) : NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "label");
	json_builder_add_string_value(b, e->label);
	json_builder_set_member_name(b, "damaged");
	json_builder_add_boolean_value(b, e->error != NULL);
	if (e->error != NULL) {
		json_builder_set_member_name(b, "error");
		json_builder_add_string_value(b, e->error->message);
	} else {
		json_builder_set_member_name(b, "smdp_address");
		json_builder_add_string_value(b, e->smdp_address);
		json_builder_set_member_name(b, "added");
		json_builder_add_string_value(b, added);
		json_builder_set_member_name(b, "confirmation_code_required");
		json_builder_add_boolean_value(b, e->confirmation_code_required);
	}
	json_builder_end_object(b);
}

gboolean
ql_cli_code_add(QlCliState *st, gchar **args, GError **error)
{
	g_autoptr(QlCliSecret) text = NULL;
	g_autoptr(QlWalletEntry) e = NULL;
	g_autofree gchar *label = NULL;

	if ((st->activation_code != NULL) == (st->qr != NULL)) {
		g_set_error_literal(
			error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			_("code add takes one of --qr IMAGE or --activation-code CODE"));
		return FALSE;
	}
	/* the vault first: if it cannot be opened, nothing has been read */
	if (!ql_cli_state_open(st, error))
		return FALSE;
	if (st->qr != NULL) {
		/* decoded in memory and sealed at once; the image is never copied */
		text = ql_qr_decode_file(st->qr, error);
		if (text == NULL)
			return FALSE;
	} else {
		text = g_strdup(st->activation_code);
	}
	label = ql_wallet_add(st->vault, text, st->label, error);
	if (label == NULL)
		return FALSE;
	e = ql_wallet_lookup(st->vault, label, error);
	if (e == NULL)
		return FALSE;
	if (st->out != NULL) {
		json_builder_set_member_name(st->out, "result");
		json_builder_add_string_value(st->out, "ok");
		json_builder_set_member_name(st->out, "code");
		ql_cli_code_json_entry(st->out, e);
		return TRUE;
	}
	g_print(_("Added '%s' to the wallet (SM-DP+ %s%s)\n"), label, e->smdp_address,
		e->confirmation_code_required ? _(", needs a confirmation code") : "");
	return TRUE;
}

gboolean
ql_cli_code_list(QlCliState *st, gchar **args, GError **error)
{
	g_autoptr(GPtrArray) list = NULL;
	gsize w_label = strlen(_("Label")), w_host = strlen(_("SM-DP+"));

	if (!ql_cli_state_open(st, error))
		return FALSE;
	list = ql_wallet_list(st->vault, error);
	if (list == NULL)
		return FALSE;
	if (st->out != NULL) {
		json_builder_set_member_name(st->out, "codes");
		json_builder_begin_array(st->out);
		for (guint i = 0; i < list->len; i++)
			ql_cli_code_json_entry(st->out, g_ptr_array_index(list, i));
		json_builder_end_array(st->out);
	} else if (list->len == 0) {
		g_print("%s\n", _("The wallet is empty."));
	} else {
		for (guint i = 0; i < list->len; i++) {
			QlWalletEntry *e = g_ptr_array_index(list, i);
			w_label = MAX(w_label, strlen(e->label));
			if (e->smdp_address != NULL)
				w_host = MAX(w_host, strlen(e->smdp_address));
		}
		g_print("%-*s  %-*s  %-16s  %s\n", (int)w_label, _("Label"), (int)w_host,
			_("SM-DP+"), _("Added"), _("Confirmation code"));
		for (guint i = 0; i < list->len; i++) {
			QlWalletEntry *e = g_ptr_array_index(list, i);
			g_autofree gchar *date = NULL;
			if (e->error != NULL) {
				g_print("%-*s  %s\n", (int)w_label, e->label,
					_("DAMAGED: cannot be opened"));
				continue;
			}
			date = ql_cli_code_date(e->added);
			g_print("%-*s  %-*s  %-16s  %s\n", (int)w_label, e->label, (int)w_host,
				e->smdp_address, date,
				e->confirmation_code_required ? _("needed") : _("not needed"));
		}
	}
	/* a damaged record is named, and the others are still listed */
	for (guint i = 0; i < list->len; i++) {
		QlWalletEntry *e = g_ptr_array_index(list, i);
		if (e->error != NULL)
			g_printerr("%s: %s\n", g_get_prgname(), e->error->message);
	}
	return TRUE;
}

/* Asks on the terminal before a secret is printed. */
static gboolean
ql_cli_code_confirm_reveal(QlCliState *st, const gchar *label, GError **error)
{
	FILE *tty;
	gchar answer[16] = {0};

	if (st->yes)
		return TRUE;
	if (st->out != NULL || !isatty(STDIN_FILENO) || (tty = fopen("/dev/tty", "r+")) == NULL) {
		g_set_error_literal(
			error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			_("--reveal prints a secret and there is no terminal to confirm "
			  "on: add --yes"));
		return FALSE;
	}
	fprintf(tty, _("Print the activation code '%s' on the screen? [y/N] "), label);
	fflush(tty);
	if (fgets(answer, sizeof(answer), tty) == NULL)
		answer[0] = '\0';
	fclose(tty);
	g_strstrip(answer);
	if (g_ascii_strcasecmp(answer, "y") != 0 && g_ascii_strcasecmp(answer, "yes") != 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_CANCELLED,
				    _("not revealed: not confirmed"));
		return FALSE;
	}
	return TRUE;
}

gboolean
ql_cli_code_show(QlCliState *st, gchar **args, GError **error)
{
	g_autoptr(QlWalletEntry) e = NULL;
	g_autoptr(QlCliSecret) code = NULL;
	g_autofree gchar *date = NULL;

	if (!ql_cli_state_open(st, error))
		return FALSE;
	e = ql_wallet_lookup(st->vault, args[0], error);
	if (e == NULL)
		return FALSE;
	if (st->reveal) {
		if (!ql_cli_code_confirm_reveal(st, args[0], error))
			return FALSE;
		code = ql_wallet_reveal(st->vault, args[0], error);
		if (code == NULL)
			return FALSE;
	}
	if (st->out != NULL) {
		json_builder_set_member_name(st->out, "code");
		ql_cli_code_json_entry(st->out, e);
		if (code != NULL) {
			json_builder_set_member_name(st->out, "activation_code");
			json_builder_add_string_value(st->out, code);
		}
		return TRUE;
	}
	date = ql_cli_code_date(e->added);
	g_print("  %-20s %s\n", _("Label"), e->label);
	g_print("  %-20s %s\n", _("SM-DP+"), e->smdp_address);
	g_print("  %-20s %s\n", _("Added"), date);
	g_print("  %-20s %s\n", _("Confirmation code"),
		e->confirmation_code_required ? _("needed") : _("not needed"));
	if (code != NULL)
		g_print("  %-20s %s\n", _("Activation code"), code);
	return TRUE;
}

gboolean
ql_cli_code_remove(QlCliState *st, gchar **args, GError **error)
{
	if (!ql_cli_state_open(st, error) || !ql_wallet_remove(st->vault, args[0], error))
		return FALSE;
	if (st->out != NULL) {
		json_builder_set_member_name(st->out, "result");
		json_builder_add_string_value(st->out, "ok");
		json_builder_set_member_name(st->out, "label");
		json_builder_add_string_value(st->out, args[0]);
	} else {
		g_print(_("Removed '%s' from the wallet\n"), args[0]);
	}
	return TRUE;
}

QlActivationCode *
ql_cli_code_for_download(QlCliState *st, gboolean other_sources, GError **error)
{
	if (other_sources) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("--code LABEL is the activation code: give no other"));
		return NULL;
	}
	if (!ql_cli_state_open(st, error))
		return NULL;
	return ql_wallet_get(st->vault, st->code, error);
}

gboolean
ql_cli_code_downloaded(QlCliState *st, const QlDownloadReport *report, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (st->code == NULL)
		return TRUE;
	if (!ql_wallet_used(st->vault, st->code, report->iccid, st->keep, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED,
			    _("the profile %s is installed, but the wallet code '%s' could not be "
			      "%s: %s"),
			    report->iccid, st->code, st->keep ? _("marked used") : _("removed"),
			    local->message);
		return FALSE;
	}
	return TRUE;
}
