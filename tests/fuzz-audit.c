/*
 * libFuzzer target for the audit trail's record parser: every line either parses into a record
 * (sequence number from 1, time, action, fields with unescaped values, a MAC at the end) or
 * fails with an error; the MAC covers exactly the bytes before it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-audit.h"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlAuditRecord) rec = ql_audit_record_parse((const gchar *)data, size, &error);

	if (rec == NULL) {
		g_assert(error != NULL && error->domain == QL_ERROR);
		return 0;
	}
	g_assert(rec->seq >= 1);
	g_assert(rec->time != NULL && rec->action != NULL);
	g_assert(rec->keys->len == rec->values->len);
	/* "<TAB>mac=" and 64 hex digits follow the signed part */
	g_assert(rec->signed_len + 1 + 4 + 64 == size);
	g_assert(memcmp(data + rec->signed_len, "\tmac=", 5) == 0);
	for (guint i = 0; i < rec->values->len; i++) {
		const gchar *v = g_ptr_array_index(rec->values, i);
		g_assert(ql_audit_record_get(rec, g_ptr_array_index(rec->keys, i)) != NULL);
		g_assert(strlen(v) <= size);
	}
	return 0;
}
