/*
 * quantra-l: the state directory, `audit show` and `audit verify`, and the audit record written
 * after each state change. See ql-cli-state.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <stdarg.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-audit.h"
#include "ql-cli-state.h"
#include "ql-config.h"
#include "ql-es10.h"

#define QL_CLI_STATE_DIR_ENV "QUANTRA_L_STATE_DIR"

void
ql_cli_state_clear(QlCliState *st)
{
	g_clear_pointer(&st->state_dir, g_free);
	g_clear_pointer(&st->label, g_free);
	g_clear_pointer(&st->code, g_free);
	g_clear_pointer(&st->vault, ql_vault_free);
	g_clear_pointer(&st->eid, g_free);
}

GOptionGroup *
ql_cli_state_option_group(QlCliState *st)
{
	const GOptionEntry entries[] = {
		{"label", 0, 0, G_OPTION_ARG_STRING, &st->label,
		 N_("code add: the name to keep the code under (default: its SM-DP+ host)"),
		 N_("LABEL")},
		{"reveal", 0, 0, G_OPTION_ARG_NONE, &st->reveal,
		 N_("code show: print the activation code itself (asks first; --yes for scripts)"),
		 NULL},
		{"code", 0, 0, G_OPTION_ARG_STRING, &st->code,
		 N_("download: the activation code kept in the wallet under LABEL"), N_("LABEL")},
		{"keep", 0, 0, G_OPTION_ARG_NONE, &st->keep,
		 N_("download --code: keep the code in the wallet after the install"), NULL},
		{NULL},
	};
	GOptionGroup *group = g_option_group_new("wallet", _("Wallet and audit options:"),
						 _("Show wallet and audit options"), NULL, NULL);
	g_option_group_add_entries(group, entries);
	g_option_group_set_translation_domain(group, GETTEXT_PACKAGE);
	return group;
}

gchar *
ql_cli_state_dir(QlCliState *st, gchar **vault_key, GError **error)
{
	g_autoptr(QlConfig) cfg = ql_config_load(st->config, error);
	const gchar *dir = st->state_dir;

	if (cfg == NULL)
		return NULL;
	if (dir == NULL)
		dir = g_getenv(QL_CLI_STATE_DIR_ENV);
	if (dir == NULL || dir[0] == '\0')
		dir = cfg->state_dir;
	if (dir == NULL)
		dir = QL_VAULT_DEFAULT_STATE_DIR;
	if (vault_key != NULL)
		*vault_key = g_strdup(cfg->vault_key);
	return g_strdup(dir);
}

gboolean
ql_cli_state_open(QlCliState *st, GError **error)
{
	g_autofree gchar *dir = NULL;
	g_autofree gchar *vault_key = NULL;

	if (st->vault != NULL)
		return TRUE;
	dir = ql_cli_state_dir(st, &vault_key, error);
	if (dir == NULL)
		return FALSE;
	st->vault = ql_vault_open(dir, vault_key, error);
	if (st->vault == NULL) {
		/* the core names no flag: the hint is the CLI's */
		if (error != NULL && *error != NULL && (*error)->code == QL_ERROR_IO &&
		    strstr((*error)->message, "PKCS#11") == NULL)
			g_prefix_error(error, "%s",
				       _("the state directory is not usable (choose "
					 "another with --state-dir DIR or state-dir= "
					 "in the configuration): "));
		return FALSE;
	}
	return TRUE;
}

/* ---- the record after each state change ---- */

gboolean
ql_cli_audit_prepare(QlCliState *st, QlChannel *ch, GError **error)
{
	if (!ql_cli_state_open(st, error) || !ql_audit_check_ready(st->vault, error))
		return FALSE;
	g_clear_pointer(&st->eid, g_free);
	/* the record names the eUICC; a card that cannot say its EID is still recorded */
	st->eid = ql_es10_get_eid(ch, NULL);
	return TRUE;
}

static gboolean
ql_cli_audit_notev(QlCliState *st, const gchar *action, GError **error, va_list ap)
{
	g_autoptr(GPtrArray) fields = g_ptr_array_new();
	g_autoptr(GError) local = NULL;
	const gchar *k;

	if (st->eid != NULL) {
		g_ptr_array_add(fields, (gpointer) "eid");
		g_ptr_array_add(fields, st->eid);
	}
	while ((k = va_arg(ap, const gchar *)) != NULL) {
		g_ptr_array_add(fields, (gpointer)k);
		g_ptr_array_add(fields, (gpointer)va_arg(ap, const gchar *));
	}
	g_ptr_array_add(fields, NULL);
	if (!ql_cli_state_open(st, &local) ||
	    !ql_audit_appendv(st->vault, action, (const gchar *const *)fields->pdata, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED,
			    _("the change was made, but its audit record could not be written: %s"),
			    local->message);
		return FALSE;
	}
	return TRUE;
}

gboolean
ql_cli_audit_note(QlCliState *st, const gchar *action, GError **error, ...)
{
	va_list ap;
	gboolean ok;
	va_start(ap, error);
	ok = ql_cli_audit_notev(st, action, error, ap);
	va_end(ap);
	return ok;
}

gboolean
ql_cli_audit_download(QlCliState *st, const gchar *smdp_address, const QlDownloadReport *report,
		      const GError *failure, GError **error)
{
	if (report != NULL)
		return ql_cli_audit_note(st, "profile-download", error, "smdp", smdp_address,
					 "iccid", report->iccid, "outcome", "installed",
					 "notification",
					 report->notification_delivered ? "delivered" : "kept",
					 "label", st->code, NULL);
	return ql_cli_audit_note(st, "profile-download", error, "smdp", smdp_address, "outcome",
				 "failed", "error", failure != NULL ? failure->message : NULL,
				 "label", st->code, NULL);
}

/* ---- audit show ---- */

static void
ql_cli_audit_json_record(JsonBuilder *b, const QlAuditRecord *r)
{
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "seq");
	json_builder_add_int_value(b, (gint64)r->seq);
	json_builder_set_member_name(b, "time");
	json_builder_add_string_value(b, r->time);
	json_builder_set_member_name(b, "action");
	json_builder_add_string_value(b, r->action);
	json_builder_set_member_name(b, "fields");
	json_builder_begin_object(b);
	for (guint i = 0; i < r->keys->len; i++) {
		json_builder_set_member_name(b, g_ptr_array_index(r->keys, i));
		json_builder_add_string_value(b, g_ptr_array_index(r->values, i));
	}
	json_builder_end_object(b);
	json_builder_end_object(b);
}

/* A value for a terminal: control characters shown as '?', so a record cannot move the
 * cursor. */
static gchar *
ql_cli_audit_printable(const gchar *value)
{
	gchar *out = g_strdup(value);
	for (gchar *p = out; *p != '\0'; p++) {
		if ((guchar)*p < 0x20 || *p == 0x7f)
			*p = '?';
	}
	return out;
}

gboolean
ql_cli_audit_show(QlCliState *st, gchar **args, GError **error)
{
	g_autoptr(GPtrArray) recs = NULL;
	/* reading needs no key (nor the token): only verifying does */
	g_autofree gchar *dir = ql_cli_state_dir(st, NULL, error);

	if (dir == NULL)
		return FALSE;
	recs = ql_audit_read(dir, error);
	if (recs == NULL) {
		g_prefix_error(error, "%s", _("audit show: "));
		return FALSE;
	}
	if (st->out != NULL) {
		json_builder_set_member_name(st->out, "records");
		json_builder_begin_array(st->out);
		for (guint i = 0; i < recs->len; i++)
			ql_cli_audit_json_record(st->out, g_ptr_array_index(recs, i));
		json_builder_end_array(st->out);
		return TRUE;
	}
	if (recs->len == 0) {
		g_print("%s\n", _("The audit trail is empty."));
		return TRUE;
	}
	for (guint i = 0; i < recs->len; i++) {
		QlAuditRecord *r = g_ptr_array_index(recs, i);
		g_autoptr(GString) line = g_string_new(NULL);
		g_string_append_printf(line, "%5" G_GUINT64_FORMAT "  %s  %-18s", r->seq, r->time,
				       r->action);
		for (guint j = 0; j < r->keys->len; j++) {
			g_autofree gchar *v =
				ql_cli_audit_printable(g_ptr_array_index(r->values, j));
			g_string_append_printf(line, " %s=%s",
					       (const gchar *)g_ptr_array_index(r->keys, j), v);
		}
		g_print("%s\n", line->str);
	}
	return TRUE;
}

/* ---- audit verify ---- */

gboolean
ql_cli_audit_verify(QlCliState *st, gchar **args, GError **error)
{
	g_auto(QlAuditVerification) v = {0};

	if (!ql_cli_state_open(st, error) || !ql_audit_verify(st->vault, &v, error))
		return FALSE;
	if (v.problem != QL_AUDIT_OK) {
		g_set_error(error, QL_ERROR, QL_ERROR_AUTH, _("audit trail damaged (%s): %s"),
			    ql_audit_problem_to_string(v.problem), v.message);
		return FALSE;
	}
	if (st->out != NULL) {
		json_builder_set_member_name(st->out, "result");
		json_builder_add_string_value(st->out, "ok");
		json_builder_set_member_name(st->out, "records");
		json_builder_add_int_value(st->out, (gint64)v.records);
		return TRUE;
	}
	g_print(g_dngettext(
			GETTEXT_PACKAGE,
			"OK: %" G_GUINT64_FORMAT
			" record, chained and sealed; nothing edited, deleted, reordered or cut\n",
			"OK: %" G_GUINT64_FORMAT " records, chained and sealed; nothing edited, "
			"deleted, reordered or cut\n",
			(gulong)v.records),
		v.records);
	return TRUE;
}
