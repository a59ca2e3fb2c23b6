/*
 * quantra-l crl update. See ql-cli-crl.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "quantra-l/ql-error.h"
#include "ql-cli-crl.h"
#include "ql-cli.h"
#include "ql-crl.h"

static gchar *
ql_cli_crl_time(gint64 t)
{
	g_autoptr(GDateTime) dt = NULL;
	if (t < 0)
		return NULL;
	dt = g_date_time_new_from_unix_utc(t);
	return dt != NULL ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : NULL;
}

static void
ql_cli_crl_json(JsonBuilder *b, GPtrArray *results)
{
	json_builder_set_member_name(b, "cis");
	json_builder_begin_array(b);
	for (guint i = 0; i < results->len; i++) {
		QlCrlResult *r = g_ptr_array_index(results, i);
		g_autofree gchar *this_update = ql_cli_crl_time(r->this_update);
		g_autofree gchar *next_update = ql_cli_crl_time(r->next_update);
		json_builder_begin_object(b);
		ql_cli_json_string(b, "name", r->ci_name);
		ql_cli_json_string(b, "key_id", r->ci_key_id);
		ql_cli_json_string(b, "url", r->url);
		ql_cli_json_string(b, "result", ql_crl_outcome_to_string(r->outcome));
		ql_cli_json_string(b, "message", r->error != NULL ? r->error->message : NULL);
		ql_cli_json_string(b, "file", r->file);
		ql_cli_json_string(b, "this_update", this_update);
		ql_cli_json_string(b, "next_update", next_update);
		ql_cli_json_string(b, "crl_number", r->number);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

/* a CI's name, an address, a server's message: escaped for the terminal (ql_cli_safe) */
static void
ql_cli_crl_line(const gchar *label, const gchar *value)
{
	g_autofree gchar *safe = ql_cli_safe(value, QL_TEXT_MAX_MESSAGE);
	g_print("  %-12s %s\n", label, safe);
}

static void
ql_cli_crl_print(GPtrArray *results)
{
	for (guint i = 0; i < results->len; i++) {
		QlCrlResult *r = g_ptr_array_index(results, i);
		g_autofree gchar *this_update = ql_cli_crl_time(r->this_update);
		g_autofree gchar *next_update = ql_cli_crl_time(r->next_update);
		g_autofree gchar *name = ql_cli_safe(r->ci_name, QL_TEXT_MAX_FIELD);
		g_autofree gchar *kid = ql_cli_safe(r->ci_key_id, QL_TEXT_MAX_FIELD);

		g_print("%s (%s)\n", name, kid != NULL ? kid : "-");
		ql_cli_crl_line(_("result"), ql_crl_outcome_to_string(r->outcome));
		if (r->url != NULL)
			ql_cli_crl_line(_("from"), r->url);
		if (r->file != NULL) {
			g_autofree gchar *crl = g_strdup_printf(
				"%s (%s %s, %s %s, %s %s)", r->file, _("thisUpdate"),
				this_update != NULL ? this_update : "-", _("nextUpdate"),
				next_update != NULL ? next_update : "-", _("number"),
				r->number != NULL ? r->number : "-");
			ql_cli_crl_line(_("CRL"), crl);
		} else {
			ql_cli_crl_line(_("CRL"), _("none stored"));
		}
		if (r->error != NULL)
			ql_cli_crl_line(_("why"), r->error->message);
	}
}

gboolean
ql_cli_crl_update(QlConfig *cfg, gchar **trust_anchors, const gchar *crl_dir, guint timeout_ms,
		  gchar **key_ids, JsonBuilder *out, GError **error)
{
	g_autoptr(GPtrArray) results = NULL;
	g_autoptr(GString) failed = g_string_new(NULL);
	QlCrlUpdateOptions opts = {0};
	gint code = -1;
	guint n_failed = 0;

	for (guint i = 0; trust_anchors != NULL && trust_anchors[i] != NULL; i++)
		g_ptr_array_add(cfg->trust_anchor_files, g_strdup(trust_anchors[i]));
	opts.trust_anchor_files = cfg->trust_anchor_files;
	opts.crl_dir = crl_dir != NULL ? crl_dir : cfg->crl_dir;
	if (opts.crl_dir == NULL) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("no CRL directory is set: give --crl-dir DIR or set crl-dir= "
				      "in [tls] of the configuration"));
		return FALSE;
	}
	opts.urls = cfg->crl_urls;
	opts.max_size = cfg->crl_max_size;
	opts.timeout_ms = timeout_ms > 0 ? timeout_ms : cfg->timeout_ms;
	opts.only = key_ids != NULL && key_ids[0] != NULL ? (const gchar *const *)key_ids : NULL;
	results = ql_crl_update(&opts, error);
	if (results == NULL)
		return FALSE;
	if (out != NULL)
		ql_cli_crl_json(out, results);
	else
		ql_cli_crl_print(results);
	for (guint i = 0; i < results->len; i++) {
		QlCrlResult *r = g_ptr_array_index(results, i);
		if (r->outcome != QL_CRL_REFUSED && r->outcome != QL_CRL_FAILED)
			continue;
		n_failed++;
		if (code < 0)
			code = r->error->code;
		else if (code != r->error->code)
			code = QL_ERROR_FAILED;
		/* one line: the error is printed escaped */
		g_string_append_printf(failed, "%s%s", failed->len > 0 ? "; " : " ",
				       r->error->message);
	}
	if (n_failed > 0) {
		g_set_error(error, QL_ERROR, code,
			    g_dngettext(GETTEXT_PACKAGE, "%u CRL was not updated:%s",
					"%u CRLs were not updated:%s", n_failed),
			    n_failed, failed->str);
		return FALSE;
	}
	return TRUE;
}
