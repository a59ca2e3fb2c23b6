/*
 * quantra-l profile enable ICCID --connect [--apn APN]: a NetworkManager gsm connection bound to
 * the enabled profile's ICCID (src/nm, libnm), its APN from --apn, else from
 * mobile-broadband-provider-info for the profile owner's MCC/MNC, else asked on a terminal.
 * The APN is settled before the profile is enabled, so a refusal changes nothing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include <glib/gi18n.h>

#include "ql-cli.h"
#include "quantra-l/ql-error.h"

#ifdef QL_CLI_HAVE_NM
#include "ql-nm.h"
#endif

struct _QlCliConnect {
	gchar *iccid;
	gchar *id;
	gchar *apn;
	gchar *username;
	gchar *password;
	const gchar *source; /* "option", "database" or "prompt" */
};

void
ql_cli_connect_free(QlCliConnect *c)
{
	if (c == NULL)
		return;
	g_free(c->iccid);
	g_free(c->id);
	g_free(c->apn);
	g_free(c->username);
	g_free(c->password);
	g_free(c);
}

#ifdef QL_CLI_HAVE_NM

/* The APN typed on the terminal; NULL when the answer is empty (declined) */
static gchar *
ql_cli_connect_ask(const gchar *name)
{
	gchar line[256];

	g_printerr(_("The access point of “%s” is not in the mobile broadband provider database.\n"
		     "Access point name (APN) from your carrier, empty for no connection: "),
		   name);
	if (fgets(line, sizeof line, stdin) == NULL)
		return NULL;
	g_strstrip(line);
	return line[0] != '\0' ? g_strdup(line) : NULL;
}

QlCliConnect *
ql_cli_connect_prepare(QlCli *cli, const gchar *iccid, GError **error)
{
	g_autoptr(GPtrArray) profiles = NULL;
	g_autofree gchar *mcc = NULL, *mnc = NULL;
	const QlProfileInfo *p = NULL;
	const gchar *label;
	QlCliConnect *c;

	profiles = cli->backend->funcs->profiles(cli->backend, error);
	if (profiles == NULL)
		return NULL;
	for (guint i = 0; i < profiles->len && p == NULL; i++)
		if (g_strcmp0(((const QlProfileInfo *)profiles->pdata[i])->iccid, iccid) == 0)
			p = profiles->pdata[i];
	if (p == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND, _("No profile with ICCID %s"),
			    iccid);
		return NULL;
	}
	c = g_new0(QlCliConnect, 1);
	c->iccid = g_strdup(iccid);
	label = p->nickname != NULL && *p->nickname != '\0' ? p->nickname : p->name;
	c->id = g_strdup_printf(_("eSIM %s"), label != NULL && *label != '\0' ? label : iccid);
	if (cli->apn != NULL) {
		g_autofree gchar *apn = g_strstrip(g_strdup(cli->apn));
		if (*apn == '\0') {
			ql_cli_connect_free(c);
			g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    _("--apn needs an access point name"));
			return NULL;
		}
		c->apn = g_steal_pointer(&apn);
		c->source = "option";
		return c;
	}
	if (p->owner_mccmnc != NULL && ql_nm_parse_mcc_mnc(p->owner_mccmnc, &mcc, &mnc, NULL)) {
		g_autoptr(GError) lookup_error = NULL;
		g_autoptr(GPtrArray) apns = ql_nm_lookup_apns(ql_nm_default_database(), mcc, mnc,
							      p->service_provider, &lookup_error);
		if (apns == NULL)
			g_debug("%s", lookup_error->message);
		else if (apns->len > 0) {
			QlNmApn *a = apns->pdata[0];
			c->apn = g_strdup(a->apn);
			c->username = g_strdup(a->username);
			c->password = g_strdup(a->password);
			c->source = "database";
			return c;
		}
	}
	if (!cli->json && isatty(STDIN_FILENO)) {
		c->apn = ql_cli_connect_ask(c->id);
		c->source = "prompt";
		/* an empty answer declines: the profile is enabled, nothing is created */
		return c;
	}
	ql_cli_connect_free(c);
	g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
		    _("The access point of profile %s is not in the mobile broadband provider "
		      "database: give it with --apn APN (nothing was changed)"),
		    iccid);
	return NULL;
}

static void
ql_cli_connect_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
	*(GAsyncResult **)user_data = g_object_ref(res);
}

gboolean
ql_cli_connect_run(QlCli *cli, QlCliConnect *c, GError **error)
{
	g_autoptr(GMainContext) ctx = g_main_context_new();
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(QlNmOutcome) outcome = NULL;
	QlNmSetup setup = {
		.iccid = c->iccid,
		.id = c->id,
		.apn = c->apn,
		.username = c->username,
		.password = c->password,
		.activate = TRUE,
	};

	if (c->apn == NULL) {
		g_print("%s\n", _("No NetworkManager connection created."));
		return TRUE;
	}
	g_main_context_push_thread_default(ctx);
	ql_nm_setup_connection_async(&setup, cli->cancellable, ql_cli_connect_done, &res);
	while (res == NULL)
		g_main_context_iteration(ctx, TRUE);
	outcome = ql_nm_setup_connection_finish(res, error);
	/* let libnm finish with the context before it goes */
	while (g_main_context_pending(ctx))
		g_main_context_iteration(ctx, FALSE);
	g_main_context_pop_thread_default(ctx);
	if (outcome == NULL) {
		g_prefix_error(error, _("Profile %s enabled, but no NetworkManager connection: "),
			       c->iccid);
		return FALSE;
	}
	if (cli->json) {
		json_builder_set_member_name(cli->out, "connection");
		json_builder_begin_object(cli->out);
		ql_cli_json_string(cli->out, "result", outcome->created ? "created" : "updated");
		ql_cli_json_string(cli->out, "id", outcome->id);
		ql_cli_json_string(cli->out, "uuid", outcome->uuid);
		ql_cli_json_string(cli->out, "apn", c->apn);
		ql_cli_json_string(cli->out, "apn_source", c->source);
		json_builder_set_member_name(cli->out, "activated");
		json_builder_add_boolean_value(cli->out, outcome->activated);
		if (outcome->activation_error != NULL)
			ql_cli_json_string(cli->out, "activation_error", outcome->activation_error);
		json_builder_end_object(cli->out);
	} else {
		g_autofree gchar *id = ql_cli_safe(outcome->id, QL_TEXT_MAX_MESSAGE);
		g_autofree gchar *apn = ql_cli_safe(c->apn, QL_TEXT_MAX_MESSAGE);
		g_print(outcome->created ? _("NetworkManager connection “%s” created (APN %s)\n")
					 : _("NetworkManager connection “%s” updated (APN %s)\n"),
			id, apn);
		if (outcome->activation_error != NULL) {
			g_autofree gchar *why =
				ql_cli_safe(outcome->activation_error, QL_TEXT_MAX_MESSAGE);
			g_print(_("NetworkManager did not activate it yet: %s\n"), why);
		} else if (outcome->activated) {
			g_print("%s\n", _("NetworkManager is activating it."));
		}
	}
	return TRUE;
}

#else /* !QL_CLI_HAVE_NM */

QlCliConnect *
ql_cli_connect_prepare(QlCli *cli, const gchar *iccid, GError **error)
{
	g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    _("--connect: this quantra-l was built without NetworkManager support "
			      "(libnm)"));
	return NULL;
}

gboolean
ql_cli_connect_run(QlCli *cli, QlCliConnect *c, GError **error)
{
	g_assert_not_reached();
	return FALSE;
}

#endif
