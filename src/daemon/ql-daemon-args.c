/*
 * quantra-esimd: a method's arguments, checked in the main thread before anything is queued;
 * each refusal is an InvalidArgument error that names the option.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-activation.h"
#include "ql-daemon.h"

static gboolean ql_euicc_bad(GError **error, const gchar *format, ...) G_GNUC_PRINTF(2, 3);
static gboolean
ql_euicc_bad(GError **error, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *msg = NULL;
	va_start(args, format);
	msg = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT, msg);
	return FALSE;
}

/* One a{sv} option of the type wanted, or an error that names it */
static gboolean
ql_euicc_option(GVariant *value, const gchar *key, const GVariantType *type, GError **error)
{
	if (!g_variant_is_of_type(value, type))
		return ql_euicc_bad(error, "option '%s' must be of type '%s', not '%s'", key,
				    (const gchar *)type, g_variant_get_type_string(value));
	return TRUE;
}

static gboolean
ql_euicc_parse_download(QlOp *op, GVariant *options, GError **error)
{
	const gchar *code = NULL, *smdp = NULL, *matching_id = NULL, *event = NULL;
	const gchar *nickname = NULL;
	GVariantIter it;
	const gchar *key;
	GVariant *value;
	guint sources;

	g_variant_iter_init(&it, options);
	while (g_variant_iter_loop(&it, "{&sv}", &key, &value)) {
		const gchar **str = NULL;
		gboolean ok;
		if (g_strcmp0(key, "activation-code") == 0)
			str = &code;
		else if (g_strcmp0(key, "smdp") == 0)
			str = &smdp;
		else if (g_strcmp0(key, "matching-id") == 0)
			str = &matching_id;
		else if (g_strcmp0(key, "event") == 0)
			str = &event;
		else if (g_strcmp0(key, "nickname") == 0)
			str = &nickname;
		if (str != NULL) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_STRING, error);
			if (ok)
				*str = g_variant_get_string(value, NULL); /* @options holds it */
		} else if (g_strcmp0(key, "secure") == 0) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_BOOLEAN, error);
			if (ok)
				op->secure = g_variant_get_boolean(value);
		} else {
			ok = ql_euicc_bad(
				error,
				"unknown option '%s' (activation-code, smdp, matching-id, "
				"event, secure, nickname)",
				key);
		}
		if (!ok) {
			g_variant_unref(value);
			return FALSE;
		}
	}
	if (nickname != NULL && strlen(nickname) > 64)
		return ql_euicc_bad(error, "a nickname has at most 64 bytes");
	op->text = g_strdup(nickname);
	sources = (code != NULL) + (smdp != NULL) + (event != NULL);
	if (sources != 1)
		return ql_euicc_bad(error, "give exactly one of the options activation-code, smdp "
					   "(with matching-id) or event");
	if (matching_id != NULL && smdp == NULL)
		return ql_euicc_bad(error, "the option matching-id goes with smdp");
	if (code != NULL) {
		op->ac = ql_activation_code_parse(code, error);
		return op->ac != NULL;
	}
	op->ac = g_new0(QlActivationCode, 1);
	if (smdp != NULL) {
		op->ac->smdp_address = g_strdup(smdp);
		op->ac->matching_id = g_strdup(matching_id != NULL ? matching_id : "");
	} else {
		const gchar *at = strchr(event, '@');
		if (at == NULL || at == event)
			return ql_euicc_bad(error, "the option event is EVENT-ID@SMDP-ADDRESS, as "
						   "DiscoverProfiles reports it");
		op->ac->matching_id = g_strndup(event, at - event);
		op->ac->smdp_address = g_strdup(at + 1);
	}
	return ql_activation_check_address(op->ac->smdp_address, error);
}

static gboolean
ql_euicc_parse_options(QlOp *op, GVariant *options, GError **error)
{
	GVariantIter it;
	const gchar *key;
	GVariant *value;

	g_variant_iter_init(&it, options);
	while (g_variant_iter_loop(&it, "{&sv}", &key, &value)) {
		gboolean ok = FALSE;
		if (op->kind == QL_OP_DISCOVER && g_strcmp0(key, "smds") == 0) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_STRING, error);
			if (ok) {
				g_free(op->text);
				op->text = g_variant_dup_string(value, NULL);
				ok = ql_activation_check_address(op->text, error);
			}
		} else if (op->kind == QL_OP_PROCESS_NOTIFICATIONS && g_strcmp0(key, "seq") == 0) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_UINT32, error);
			if (ok)
				op->seq = g_variant_get_uint32(value);
		} else if ((op->kind == QL_OP_ENABLE || op->kind == QL_OP_DISABLE) &&
			   g_strcmp0(key, "refresh") == 0) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_BOOLEAN, error);
			if (ok)
				op->refresh = g_variant_get_boolean(value);
		} else if (op->kind == QL_OP_RESET &&
			   (g_strcmp0(key, "operational") == 0 || g_strcmp0(key, "test") == 0 ||
			    g_strcmp0(key, "default-smdp") == 0)) {
			ok = ql_euicc_option(value, key, G_VARIANT_TYPE_BOOLEAN, error);
			if (ok && g_variant_get_boolean(value))
				op->reset_options |= key[0] == 'o'   ? QL_RESET_DELETE_OPERATIONAL
						     : key[0] == 't' ? QL_RESET_DELETE_TEST
								     : QL_RESET_DEFAULT_SMDP;
		} else {
			ql_euicc_bad(error, "unknown option '%s' for %s", key,
				     ql_op_kind_to_string(op->kind));
		}
		if (!ok) {
			g_variant_unref(value);
			return FALSE;
		}
	}
	if (op->kind == QL_OP_RESET && op->reset_options == 0)
		op->reset_options =
			QL_RESET_DELETE_OPERATIONAL | QL_RESET_DELETE_TEST | QL_RESET_DEFAULT_SMDP;
	return TRUE;
}

gboolean
ql_op_parse_args(QlOp *op, GVariant *params, GError **error)
{
	switch (op->kind) {
	case QL_OP_DOWNLOAD: {
		g_autoptr(GVariant) options = g_variant_get_child_value(params, 0);
		return ql_euicc_parse_download(op, options, error);
	}
	case QL_OP_DISCOVER:
	case QL_OP_PROCESS_NOTIFICATIONS:
	case QL_OP_ENABLE:
	case QL_OP_DISABLE:
	case QL_OP_RESET: {
		g_autoptr(GVariant) options = g_variant_get_child_value(params, 0);
		return ql_euicc_parse_options(op, options, error);
	}
	case QL_OP_SET_NICKNAME:
		g_variant_get(params, "(s)", &op->text);
		if (strlen(op->text) > 64)
			return ql_euicc_bad(error, "a nickname has at most 64 bytes");
		return TRUE;
	case QL_OP_SET_DEFAULT_SMDP:
		g_variant_get(params, "(s)", &op->text);
		return op->text[0] == '\0' || ql_activation_check_address(op->text, error);
	case QL_OP_REMOVE_NOTIFICATION: {
		guint32 seq = 0;
		g_variant_get(params, "(u)", &seq);
		op->seq = seq;
		return TRUE;
	}
	default:
		return TRUE;
	}
}
