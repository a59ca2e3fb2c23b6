/*
 * Activation code parsing. See ql-activation.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-activation.h"
#include "ql-crypto.h"
#include "ql-text.h"

void
ql_activation_code_free(QlActivationCode *ac)
{
	if (ac == NULL)
		return;
	g_free(ac->smdp_address);
	if (ac->matching_id != NULL) {
		ql_crypto_wipe(ac->matching_id, strlen(ac->matching_id));
		g_free(ac->matching_id);
	}
	g_free(ac->smdp_oid);
	g_free(ac);
}

gboolean
ql_activation_split_address(const gchar *address, gchar **host, guint16 *port, GError **error)
{
	const gchar *colon;
	guint64 p = 443;
	/* an address may come from a QR code, the eUICC or an SM-DS: quoted escaped */
	g_autofree gchar *shown = ql_text_escape(address, -1, QL_TEXT_MAX_FIELD);

	if (address[0] == '[') {
		const gchar *end = strchr(address, ']');
		if (end == NULL) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "'%s' is not a valid address: unclosed '['", shown);
			return FALSE;
		}
		*host = g_strndup(address + 1, end - address - 1);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "'%s' is not a valid address", shown);
			g_clear_pointer(host, g_free);
			return FALSE;
		}
	} else {
		colon = strrchr(address, ':');
		*host = colon != NULL ? g_strndup(address, colon - address) : g_strdup(address);
	}
	if (colon != NULL && !g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &p, NULL)) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "'%s' is not a valid address: bad port", shown);
		g_clear_pointer(host, g_free);
		return FALSE;
	}
	*port = (guint16)p;
	return TRUE;
}

gboolean
ql_activation_check_address(const gchar *address, GError **error)
{
	g_autofree gchar *host = NULL;
	g_autofree gchar *shown = NULL;
	guint16 port = 0;

	if (address == NULL || address[0] == '\0') {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "the SM-DP+ address is empty");
		return FALSE;
	}
	if (!ql_activation_split_address(address, &host, &port, error))
		return FALSE;
	shown = ql_text_escape(address, -1, QL_TEXT_MAX_FIELD);
	if (g_hostname_is_ip_address(host))
		return TRUE;
	/* RFC 1123 host name: labels of letters, digits and hyphens */
	if (host[0] == '\0' || strlen(host) > 253) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "'%s' is not a valid host name", shown);
		return FALSE;
	}
	for (const gchar *c = host; *c != '\0'; c++) {
		if (!g_ascii_isalnum(*c) && *c != '-' && *c != '.') {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "'%s' is not a valid host name", shown);
			return FALSE;
		}
	}
	/* a trailing dot is a valid FQDN, but certificates never name one: say so here rather
	 * than let it fail later as a wrong host */
	if (g_str_has_suffix(host, ".")) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "'%s': remove the trailing dot from the host name", shown);
		return FALSE;
	}
	if (host[0] == '.' || host[0] == '-' || strstr(host, "..") != NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "'%s' is not a valid host name", shown);
		return FALSE;
	}
	return TRUE;
}

/* The split fields of an activation code: wiped whatever path the parser leaves by. */
typedef gchar **QlSecretStrv;

static void
ql_secret_strv_free(QlSecretStrv parts)
{
	for (guint i = 0; parts != NULL && parts[i] != NULL; i++)
		ql_crypto_wipe(parts[i], strlen(parts[i]));
	g_strfreev(parts);
}

G_DEFINE_AUTO_CLEANUP_FREE_FUNC(QlSecretStrv, ql_secret_strv_free, NULL)

QlActivationCode *
ql_activation_code_parse(const gchar *text, GError **error)
{
	g_autoptr(QlActivationCode) ac = g_new0(QlActivationCode, 1);
	g_auto(QlSecretStrv) parts = NULL;
	const gchar *body = text;
	guint n;

	if (g_ascii_strncasecmp(body, "LPA:", 4) == 0)
		body += 4;
	parts = g_strsplit(body, "$", -1);
	n = g_strv_length(parts);
	/* never echo the code: the matching id is a secret */
	if (n < 3 || n > 5) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "not an activation code: expected LPA:1$ADDRESS$MATCHING-ID with up "
			    "to two more '$' fields, got %u field(s)",
			    n);
		return NULL;
	}
	if (g_strcmp0(parts[0], "1") != 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "not an activation code: only format 1 (LPA:1$...) is known");
		return NULL;
	}
	if (!ql_activation_check_address(parts[1], error))
		return NULL;
	ac->smdp_address = g_strdup(parts[1]);
	/* SGP.22 4.1: the matching id is made of 0-9, A-Z and '-' */
	for (const gchar *c = parts[2]; *c != '\0'; c++) {
		if (!g_ascii_isalnum(*c) && *c != '-') {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    "not an activation code: the matching id may hold only "
					    "letters, digits and '-'");
			return NULL;
		}
	}
	ac->matching_id = g_strdup(parts[2]);
	if (n >= 4 && parts[3][0] != '\0') {
		for (const gchar *c = parts[3]; *c != '\0'; c++) {
			if (!g_ascii_isdigit(*c) && *c != '.') {
				g_set_error_literal(
					error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					"not an activation code: the SM-DP+ OID must be "
					"dotted digits");
				return NULL;
			}
		}
		ac->smdp_oid = g_strdup(parts[3]);
	}
	if (n == 5) {
		if (g_strcmp0(parts[4], "1") != 0 && parts[4][0] != '\0') {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    "not an activation code: the confirmation code flag "
					    "must be 1");
			return NULL;
		}
		ac->confirmation_code_required = g_strcmp0(parts[4], "1") == 0;
	}
	return g_steal_pointer(&ac);
}
