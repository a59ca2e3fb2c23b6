/*
 * quantra-l profile: list, enable, disable, delete, nickname (downloads: ql-cli-download.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "ql-cli.h"
#include "quantra-l/ql-error.h"

static JsonNode *
ql_cli_profile_state(gconstpointer obj)
{
	return ql_cli_json_string_node(
		ql_profile_state_to_string(((const QlProfileInfo *)obj)->state));
}

static JsonNode *
ql_cli_profile_class(gconstpointer obj)
{
	return ql_cli_json_string_node(
		ql_profile_class_to_string(((const QlProfileInfo *)obj)->profile_class));
}

static JsonNode *
ql_cli_profile_icon_type(gconstpointer obj)
{
	gint t = ((const QlProfileInfo *)obj)->icon_type;
	return ql_cli_json_string_node(t == 0 ? "jpg" : t == 1 ? "png" : NULL);
}

static JsonNode *
ql_cli_profile_icon(gconstpointer obj)
{
	GBytes *icon = ((const QlProfileInfo *)obj)->icon;
	g_autofree gchar *b64 = NULL;

	if (icon != NULL)
		b64 = g_base64_encode(g_bytes_get_data(icon, NULL), g_bytes_get_size(icon));
	return ql_cli_json_string_node(b64);
}

#define QL_PROFILE_STR(key, label, member)                                                         \
	{                                                                                          \
		key, label, QL_CLI_FIELD_STRING, G_STRUCT_OFFSET(QlProfileInfo, member), NULL,     \
			NULL, 0                                                                    \
	}
#define QL_PROFILE_CUSTOM(key, label, func)                                                        \
	{                                                                                          \
		key, label, QL_CLI_FIELD_CUSTOM, 0, func, NULL, 0                                  \
	}

static const QlCliField ql_cli_profile_fields[] = {
	QL_PROFILE_STR("iccid", N_("ICCID"), iccid),
	QL_PROFILE_STR("isdp_aid", NULL, isdp_aid),
	QL_PROFILE_CUSTOM("state", N_("State"), ql_cli_profile_state),
	QL_PROFILE_STR("nickname", N_("Nickname"), nickname),
	QL_PROFILE_STR("service_provider", N_("Provider"), service_provider),
	QL_PROFILE_STR("name", N_("Name"), name),
	QL_PROFILE_CUSTOM("class", N_("Class"), ql_cli_profile_class),
	QL_PROFILE_CUSTOM("icon_type", NULL, ql_cli_profile_icon_type),
	QL_PROFILE_CUSTOM("icon", NULL, ql_cli_profile_icon),
	QL_PROFILE_STR("owner_mccmnc", NULL, owner_mccmnc),
	{NULL},
};

gboolean
ql_cli_profile_list(QlCli *cli, gchar **args, GError **error)
{
	g_autoptr(GPtrArray) profiles = cli->backend->funcs->profiles(cli->backend, error);

	if (profiles == NULL)
		return FALSE;
	if (cli->json) {
		ql_cli_fields_json_array(ql_cli_profile_fields, "profiles", profiles, cli->out);
		return TRUE;
	}
	if (profiles->len == 0) {
		g_print("%s\n", _("No profiles on this eUICC."));
		return TRUE;
	}
	ql_cli_fields_table(ql_cli_profile_fields, profiles);
	return TRUE;
}

static gboolean
ql_cli_profile_do(QlCli *cli, QlCliProfileAction action, gchar **args, const gchar *message,
		  GError **error)
{
	QlCliBackend *b = cli->backend;

	if (!b->funcs->profile(b, action, args[0], args[1], error))
		return FALSE;
	if (cli->json) {
		ql_cli_json_string(cli->out, "result", "ok");
		ql_cli_json_string(cli->out, "iccid", args[0]);
		if (action == QL_CLI_PROFILE_NICKNAME)
			ql_cli_json_string(cli->out, "nickname", args[1]);
	} else {
		g_autofree gchar *safe = ql_cli_safe(message, QL_TEXT_MAX_MESSAGE);
		g_print("%s\n", safe);
	}
	return TRUE;
}

gboolean
ql_cli_profile_enable(QlCli *cli, gchar **args, GError **error)
{
	g_autofree gchar *msg = g_strdup_printf(_("Profile %s enabled"), args[0]);
	g_autoptr(QlCliConnect) connect = NULL;

	if (cli->apn != NULL && !cli->connect) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    _("--apn goes with --connect"));
		return FALSE;
	}
	if (cli->connect) {
		g_autoptr(GError) local = NULL;
		/* settled first: when no connection can be made, nothing is enabled */
		connect = ql_cli_connect_prepare(cli, args[0], &local);
		if (local != NULL) {
			g_propagate_error(error, g_steal_pointer(&local));
			return FALSE;
		}
	}
	if (!ql_cli_profile_do(cli, QL_CLI_PROFILE_ENABLE, args, msg, error))
		return FALSE;
	return connect == NULL || ql_cli_connect_run(cli, connect, error);
}

gboolean
ql_cli_profile_disable(QlCli *cli, gchar **args, GError **error)
{
	g_autofree gchar *msg = g_strdup_printf(_("Profile %s disabled"), args[0]);
	return ql_cli_profile_do(cli, QL_CLI_PROFILE_DISABLE, args, msg, error);
}

gboolean
ql_cli_profile_delete(QlCli *cli, gchar **args, GError **error)
{
	g_autofree gchar *msg = g_strdup_printf(_("Profile %s deleted"), args[0]);
	return ql_cli_profile_do(cli, QL_CLI_PROFILE_DELETE, args, msg, error);
}

gboolean
ql_cli_profile_nickname(QlCli *cli, gchar **args, GError **error)
{
	g_autofree gchar *msg =
		g_strdup_printf(_("Profile %s is now called '%s'"), args[0], args[1]);
	return ql_cli_profile_do(cli, QL_CLI_PROFILE_NICKNAME, args, msg, error);
}
