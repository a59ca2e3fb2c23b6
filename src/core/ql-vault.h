/*
 * The vault: small secrets kept on the host (activation codes from the wallet, the audit trail's
 * key and its sealed tail), each sealed with AES-256-GCM under one 256-bit vault key.
 *
 * Layout in the state directory (default /var/lib/quantra-l, mode 0700):
 *   vault.key            the vault key in a 0600 file (no token configured), or
 *   vault.key.p11        the vault key wrapped (RSA) by a key in a PKCS#11 token;
 *   vault/KIND/ID        one sealed record per file, mode 0600, written atomically.
 *
 * A record is a BER-TLV structure E0 { 80 version, 81 kind, 82 id, 83 EID, 84 sealed } where
 * sealed = nonce (12, fresh and random for every seal) || ciphertext || tag (16). The associated
 * data is E1 { 80 version, 81 kind, 82 id, 83 EID }: a record moved to another name, kind or
 * eUICC does not open. One damaged record never keeps the others from opening.
 *
 * Plain functions taking a state directory, for the CLI and the service alike. Nothing here logs;
 * no message carries a secret (record contents, keys, PINs).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define QL_VAULT_DEFAULT_STATE_DIR "/var/lib/quantra-l"
#define QL_VAULT_RECORD_VERSION 1

typedef struct _QlVault QlVault;

/* Opens the vault of @state_dir, creating the directory and the vault key on first use.
 * @key_spec: NULL for the key file @state_dir/vault.key; a "pkcs11:" URI for a vault key wrapped
 * by that (RSA) key of a PKCS#11 token (the PIN may come with the URI as pin-value or
 * pin-source); any other string is the path of the key file. An existing plain key file is moved
 * under the token when one is configured. Fails with QL_ERROR_IO when the token is absent, and
 * then changes nothing. */
QlVault *ql_vault_open(const gchar *state_dir, const gchar *key_spec, GError **error);
void ql_vault_free(QlVault *vault);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlVault, ql_vault_free)

const gchar *ql_vault_get_state_dir(const QlVault *vault);
/* "key file PATH" or "PKCS#11 token key" (no PIN), for messages. */
const gchar *ql_vault_get_key_description(const QlVault *vault);

/* Kinds and ids: 1-64 characters of [A-Za-z0-9._-], not starting with '.'. */
gboolean ql_vault_check_name(const gchar *what, const gchar *name, GError **error);

/* Seals @data as record @kind/@id bound to @eid (NULL or "" for none) and writes it atomically
 * (temporary file, fsync, rename, fsync of the directory), replacing any record of that name
 * when @replace, else failing with QL_ERROR_BUSY if one exists. */
gboolean ql_vault_put(QlVault *vault, const gchar *kind, const gchar *id, const gchar *eid,
		      const guint8 *data, gsize len, gboolean replace, GError **error);
/* The plaintext of record @kind/@id (wiped when freed). QL_ERROR_NOT_FOUND when absent,
 * QL_ERROR_AUTH (naming the record) when it was changed or belongs elsewhere. */
GBytes *ql_vault_get(QlVault *vault, const gchar *kind, const gchar *id, const gchar *eid,
		     GError **error);
gboolean ql_vault_contains(QlVault *vault, const gchar *kind, const gchar *id);
/* QL_ERROR_NOT_FOUND when absent. */
gboolean ql_vault_remove(QlVault *vault, const gchar *kind, const gchar *id, GError **error);

typedef struct {
	gchar *id;
	gchar *eid;    /* NULL when the record is damaged */
	GBytes *data;  /* the plaintext, wiped when freed; NULL when damaged */
	GError *error; /* why it does not open (names the record) */
} QlVaultEntry;

void ql_vault_entry_free(QlVaultEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlVaultEntry, ql_vault_entry_free)

/* Every record of @kind, sorted by id; a damaged one is an entry with @error set. */
GPtrArray *ql_vault_list(QlVault *vault, const gchar *kind, GError **error);

/* --- the record format, for the vault itself, its tests and its fuzzer --- */

typedef struct {
	guint version;
	gchar *kind;
	gchar *id;
	gchar *eid;
	GBytes *sealed; /* nonce || ciphertext || tag */
} QlVaultRecord;

void ql_vault_record_clear(QlVaultRecord *rec);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QlVaultRecord, ql_vault_record_clear)

/* Parses a record file's bytes (structure only: nothing is opened). */
gboolean ql_vault_record_parse(const guint8 *data, gsize len, QlVaultRecord *out, GError **error);
/* The associated data that binds a record to its identity. */
GBytes *ql_vault_record_ad(const gchar *kind, const gchar *id, const gchar *eid);
/* Opens a parsed record with @key, for @kind/@id/@eid. */
GBytes *ql_vault_record_open(const guint8 *key, const QlVaultRecord *rec, const gchar *kind,
			     const gchar *id, const gchar *eid, GError **error);

/* Writes @data to @path through a temporary file in the same directory, fsync and rename (or
 * link, failing with QL_ERROR_BUSY when @path exists and !@replace), then fsyncs the directory.
 * Mode 0600. */
gboolean ql_vault_write_file_atomic(const gchar *path, const guint8 *data, gsize len,
				    gboolean replace, GError **error);

G_END_DECLS
