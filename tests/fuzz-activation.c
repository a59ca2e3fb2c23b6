/*
 * libFuzzer target for activation codes (SGP.22 4.1: LPA:1$ADDRESS$MATCHING-ID[$OID[$1]]), as
 * typed, pasted or decoded from a QR code: the parser, the address checks, and the host/port
 * split. Whatever parses must hold a valid address and re-parse to the same fields.
 * Seeds in tests/data/fuzz-activation/; scripts/fuzz runs it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-activation.h"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	g_autofree gchar *text = g_strndup((const gchar *)data, size);
	g_autoptr(GError) error = NULL;
	g_autoptr(QlActivationCode) ac = ql_activation_code_parse(text, &error);
	g_autofree gchar *host = NULL;
	guint16 port = 0;

	g_assert((ac == NULL) != (error == NULL));
	/* the same text as an address alone (the --smdp option) */
	g_clear_error(&error);
	if (ql_activation_check_address(text, &error)) {
		g_autofree gchar *h = NULL;
		g_assert(ql_activation_split_address(text, &h, &port, NULL));
	}
	if (ac == NULL)
		return 0;
	g_assert(ac->smdp_address != NULL && ac->matching_id != NULL);
	g_assert(ql_activation_check_address(ac->smdp_address, NULL));
	g_assert(ql_activation_split_address(ac->smdp_address, &host, &port, NULL));
	g_assert(host != NULL && host[0] != '\0');
	{
		/* the fields, joined again, parse to the same code */
		g_autofree gchar *again = g_strdup_printf(
			"LPA:1$%s$%s%s%s%s", ac->smdp_address, ac->matching_id,
			ac->smdp_oid != NULL || ac->confirmation_code_required ? "$" : "",
			ac->smdp_oid != NULL ? ac->smdp_oid : "",
			ac->confirmation_code_required ? "$1" : "");
		g_autoptr(QlActivationCode) ac2 = ql_activation_code_parse(again, NULL);
		g_assert(ac2 != NULL);
		g_assert_cmpstr(ac2->smdp_address, ==, ac->smdp_address);
		g_assert_cmpstr(ac2->matching_id, ==, ac->matching_id);
		g_assert_cmpstr(ac2->smdp_oid, ==, ac->smdp_oid);
		g_assert(ac2->confirmation_code_required == ac->confirmation_code_required);
	}
	return 0;
}
