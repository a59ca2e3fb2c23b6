/*
 * quantra-l notification: list, remove, process (deliver to the SM-DP+).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "quantra-l/ql-error.h"
#include "ql-cli.h"

static JsonNode *
ql_cli_notification_operation(gconstpointer obj)
{
	return ql_cli_json_string_node(
		ql_notification_event_to_string(((const QlNotification *)obj)->operation));
}

const QlCliField ql_cli_notification_fields[] = {
	{"seq", N_("Seq"), QL_CLI_FIELD_INT, G_STRUCT_OFFSET(QlNotification, seq), NULL, NULL, 0},
	{"operation", N_("Operation"), QL_CLI_FIELD_CUSTOM, 0, ql_cli_notification_operation, NULL,
	 0},
	{"address", N_("SM-DP+ address"), QL_CLI_FIELD_STRING,
	 G_STRUCT_OFFSET(QlNotification, address), NULL, NULL, 0},
	{"iccid", N_("ICCID"), QL_CLI_FIELD_STRING, G_STRUCT_OFFSET(QlNotification, iccid), NULL,
	 NULL, 0},
	{NULL},
};

gboolean
ql_cli_notification_list(QlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GPtrArray) list = cli->backend->funcs->notifications(cli->backend, error);

	if (list == NULL)
		return FALSE;
	if (cli->json) {
		ql_cli_fields_json_array(ql_cli_notification_fields, "notifications", list,
					 cli->out);
		return TRUE;
	}
	if (list->len == 0) {
		g_print("%s\n", _("No pending notifications."));
		return TRUE;
	}
	ql_cli_fields_table(ql_cli_notification_fields, list);
	return TRUE;
}

/* SEQ or --all, exactly one; -1 for --all */
static gboolean
ql_cli_notification_seq(QlCli *cli, gchar **args, gint64 *seq, GError **error)
{
	guint64 v = 0;

	if (cli->all == (args[0] != NULL)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("give either a sequence number or --all"));
		return FALSE;
	}
	*seq = -1;
	if (cli->all)
		return TRUE;
	if (!g_ascii_string_to_unsigned(args[0], 10, 0, G_MAXINT32, &v, NULL)) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    _("'%s' is not a sequence number"), args[0]);
		return FALSE;
	}
	*seq = (gint64)v;
	return TRUE;
}

gboolean
ql_cli_notification_remove(QlCli *cli, gchar **args, GError **error)
{
	QlCliBackend *b = cli->backend;
	g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(gint64));
	gint64 seq;

	if (!ql_cli_notification_seq(cli, args, &seq, error))
		return FALSE;
	if (seq < 0) {
		g_autoptr(GPtrArray) list = b->funcs->notifications(b, error);
		if (list == NULL)
			return FALSE;
		for (guint i = 0; i < list->len; i++) {
			QlNotification *n = g_ptr_array_index(list, i);
			g_array_append_val(seqs, n->seq);
		}
	} else {
		g_array_append_val(seqs, seq);
	}
	for (guint i = 0; i < seqs->len; i++) {
		if (!b->funcs->remove_notification(b, g_array_index(seqs, gint64, i), error))
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

gboolean
ql_cli_notification_process(QlCli *cli, gchar **args, GError **error)
{
	QlCliBackend *b = cli->backend;
	g_autoptr(GPtrArray) failures = g_ptr_array_new_with_free_func(g_free);
	gint64 seq;
	gint delivered;

	if (!ql_cli_notification_seq(cli, args, &seq, error))
		return FALSE;
	ql_cli_long_begin(cli);
	delivered = b->funcs->process_notifications(b, seq, failures, error);
	ql_cli_long_end(cli);
	if (delivered < 0)
		return FALSE;
	if (cli->json) {
		json_builder_set_member_name(cli->out, "delivered");
		json_builder_add_int_value(cli->out, delivered);
		json_builder_set_member_name(cli->out, "failed");
		json_builder_begin_array(cli->out);
		for (guint i = 0; i < failures->len; i++)
			json_builder_add_value(
				cli->out, ql_cli_json_string_node(g_ptr_array_index(failures, i)));
		json_builder_end_array(cli->out);
	} else {
		g_print(g_dngettext(GETTEXT_PACKAGE, "Delivered %d notification\n",
				    "Delivered %d notifications\n", (gulong)delivered),
			delivered);
		for (guint i = 0; i < failures->len; i++) {
			g_autofree gchar *safe =
				ql_cli_safe(g_ptr_array_index(failures, i), QL_TEXT_MAX_MESSAGE);
			g_printerr(_("not delivered, kept on the eUICC: %s\n"), safe);
		}
	}
	if (failures->len > 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_HTTP,
			    _("%u notification(s) could not be delivered and stay on the eUICC"),
			    failures->len);
		return FALSE;
	}
	return TRUE;
}
