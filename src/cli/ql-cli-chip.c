/*
 * quantra-l chip: what the eUICC says about itself, its default SM-DP+ address, memory reset.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "quantra-l/ql-error.h"
#include "quantra-l/ql-hex.h"
#include "ql-cli.h"
#include "ql-json.h"

QlCliChip *
ql_cli_chip_new(void)
{
	QlCliChip *c = g_new0(QlCliChip, 1);
	c->installed_apps = c->free_nvm = c->free_ram = c->category = -1;
	c->ci_key_ids_verification = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	c->ci_key_ids_signing = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	return c;
}

void
ql_cli_chip_free(QlCliChip *c)
{
	if (c == NULL)
		return;
	g_free(c->eid);
	g_free(c->svn);
	g_free(c->profile_version);
	g_free(c->firmware_version);
	g_free(c->pp_version);
	g_free(c->sas_accreditation);
	g_free(c->default_smdp);
	g_free(c->root_smds);
	g_ptr_array_unref(c->ci_key_ids_verification);
	g_ptr_array_unref(c->ci_key_ids_signing);
	g_free(c);
}

static JsonNode *
ql_cli_key_ids_value(GPtrArray *ids)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	ql_json_key_ids(b, ids);
	return json_builder_get_root(b);
}

static gchar *
ql_cli_key_ids_text(GPtrArray *ids)
{
	GString *s = g_string_new(NULL);

	if (ids->len == 0)
		g_string_append(s, _("(none)"));
	for (guint i = 0; i < ids->len; i++) {
		GBytes *id = g_ptr_array_index(ids, i);
		g_autofree gchar *hex =
			ql_hex_encode(g_bytes_get_data(id, NULL), g_bytes_get_size(id));
		const gchar *name = ql_ci_key_id_name(id);
		g_string_append_printf(s, "%s%s  %s", i > 0 ? "\n" : "", hex,
				       name != NULL ? name : _("(unknown CI)"));
	}
	return g_string_free(s, FALSE);
}

static JsonNode *
ql_cli_chip_verification(gconstpointer obj)
{
	return ql_cli_key_ids_value(((const QlCliChip *)obj)->ci_key_ids_verification);
}

static JsonNode *
ql_cli_chip_signing(gconstpointer obj)
{
	return ql_cli_key_ids_value(((const QlCliChip *)obj)->ci_key_ids_signing);
}

static gchar *
ql_cli_chip_verification_text(gconstpointer obj)
{
	return ql_cli_key_ids_text(((const QlCliChip *)obj)->ci_key_ids_verification);
}

static gchar *
ql_cli_chip_signing_text(gconstpointer obj)
{
	return ql_cli_key_ids_text(((const QlCliChip *)obj)->ci_key_ids_signing);
}

static gchar *
ql_cli_bytes_human(gint64 n)
{
	if (n < 0)
		return g_strdup(_("unknown"));
	return g_format_size_full((guint64)n, G_FORMAT_SIZE_IEC_UNITS);
}

static gchar *
ql_cli_chip_nvm_text(gconstpointer obj)
{
	return ql_cli_bytes_human(((const QlCliChip *)obj)->free_nvm);
}

static gchar *
ql_cli_chip_ram_text(gconstpointer obj)
{
	return ql_cli_bytes_human(((const QlCliChip *)obj)->free_ram);
}

#define QL_CHIP_STR(key, label, member)                                                            \
	{                                                                                          \
		key, label, QL_CLI_FIELD_STRING, G_STRUCT_OFFSET(QlCliChip, member), NULL, NULL, 0 \
	}
#define QL_CHIP_INT(key, label, member, text)                                                      \
	{                                                                                          \
		key, label, QL_CLI_FIELD_INT, G_STRUCT_OFFSET(QlCliChip, member), NULL, text, 0    \
	}

static const QlCliField ql_cli_chip_fields[] = {
	QL_CHIP_STR("eid", N_("EID"), eid),
	QL_CHIP_STR("svn", N_("SGP.22 version"), svn),
	QL_CHIP_STR("profile_version", N_("Profile package version"), profile_version),
	QL_CHIP_STR("firmware_version", N_("Firmware version"), firmware_version),
	QL_CHIP_INT("installed_apps", N_("Installed applications"), installed_apps, NULL),
	QL_CHIP_INT("free_nvm", N_("Free memory (NVM)"), free_nvm, ql_cli_chip_nvm_text),
	QL_CHIP_INT("free_ram", N_("Free memory (RAM)"), free_ram, ql_cli_chip_ram_text),
	QL_CHIP_INT("category", N_("Category"), category, NULL),
	QL_CHIP_STR("pp_version", N_("Protection profile"), pp_version),
	QL_CHIP_STR("sas_accreditation", N_("SAS accreditation"), sas_accreditation),
	QL_CHIP_STR("default_smdp", N_("Default SM-DP+"), default_smdp),
	QL_CHIP_STR("root_smds", N_("Root SM-DS"), root_smds),
	{"ci_key_ids_verification", N_("CI keys for verification:"), QL_CLI_FIELD_CUSTOM, 0,
	 ql_cli_chip_verification, ql_cli_chip_verification_text, QL_CLI_FIELD_FLAG_BLOCK},
	{"ci_key_ids_signing", N_("CI keys for signing:"), QL_CLI_FIELD_CUSTOM, 0,
	 ql_cli_chip_signing, ql_cli_chip_signing_text, QL_CLI_FIELD_FLAG_BLOCK},
	{NULL},
};

gboolean
ql_cli_chip_info(QlCli *cli, gchar **args, GError **error)
{
	g_autoptr(QlCliChip) chip = cli->backend->funcs->chip_info(cli->backend, error);

	if (chip == NULL)
		return FALSE;
	if (cli->json) {
		ql_cli_fields_json(ql_cli_chip_fields, chip, cli->out);
		return TRUE;
	}
	g_print("%s\n", _("eUICC"));
	ql_cli_fields_print(ql_cli_chip_fields, chip);
	return TRUE;
}

gboolean
ql_cli_chip_default_smdp(QlCli *cli, gchar **args, GError **error)
{
	QlCliBackend *b = cli->backend;
	g_autofree gchar *default_dp = NULL;

	if (args[0] != NULL && !b->funcs->set_default_smdp(b, args[0], error))
		return FALSE;
	if (!b->funcs->get_default_smdp(b, &default_dp, error))
		return FALSE;
	if (cli->json) {
		ql_cli_json_string(cli->out, "default_smdp", default_dp);
	} else {
		g_autofree gchar *safe = ql_cli_safe(default_dp, QL_TEXT_MAX_FIELD);
		g_print("%s\n",
			safe != NULL && safe[0] != '\0' ? safe : _("(no default SM-DP+ address)"));
	}
	return TRUE;
}

gboolean
ql_cli_chip_reset(QlCli *cli, gchar **args, GError **error)
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
	if (!cli->backend->funcs->reset(cli->backend, options, error))
		return FALSE;
	if (cli->json)
		ql_cli_json_string(cli->out, "result", "ok");
	else
		g_print("%s\n", _("eUICC memory reset"));
	return TRUE;
}
