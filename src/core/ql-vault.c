/*
 * The vault. See ql-vault.h.
 *
 * The vault key never touches the disk in clear when a PKCS#11 key wraps it: vault.key.p11 holds
 * the key encrypted to the token key's RSA public key, and only the token can decrypt it. Both
 * key files carry a check value (an empty record sealed under the vault key) so that a wrong or
 * damaged key is named as such, not as a thousand damaged records.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs11.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quantra-l/ql-error.h"
#include "ql-crypto.h"
#include "ql-tlv.h"
#include "ql-vault.h"

#define QL_VAULT_TAG_RECORD 0xE0
#define QL_VAULT_TAG_AD 0xE1
#define QL_VAULT_TAG_KEY_FILE 0xE4
#define QL_VAULT_TAG_WRAPPED_KEY 0xE5
#define QL_VAULT_TAG_VERSION 0x80
#define QL_VAULT_TAG_KIND 0x81
#define QL_VAULT_TAG_ID 0x82
#define QL_VAULT_TAG_EID 0x83
#define QL_VAULT_TAG_SEALED 0x84
/* in the key files */
#define QL_VAULT_TAG_KEY 0x81
#define QL_VAULT_TAG_WRAPPED 0x82
#define QL_VAULT_TAG_CHECK 0x83

#define QL_VAULT_MAX_FILE (64 * 1024)
#define QL_VAULT_CHECK_KIND "vault-key-check"

struct _QlVault {
	gchar *state_dir;
	gchar *dir; /* state_dir/vault */
	gchar *key_description;
	guint8 key[QL_CRYPTO_VAULT_KEY_LEN];
};

typedef gnutls_privkey_t QlVaultPrivkey;
typedef gnutls_pubkey_t QlVaultPubkey;
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(QlVaultPrivkey, gnutls_privkey_deinit, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(QlVaultPubkey, gnutls_pubkey_deinit, NULL)

/* --- names and files --- */

gboolean
ql_vault_check_name(const gchar *what, const gchar *name, GError **error)
{
	gsize len = name != NULL ? strlen(name) : 0;

	if (len == 0 || len > 64 || name[0] == '.') {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "a %s must be 1 to 64 characters and not start with '.'", what);
		return FALSE;
	}
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_isalnum(name[i]) && name[i] != '.' && name[i] != '_' &&
		    name[i] != '-') {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "a %s may only hold letters, digits, '.', '_' and '-'", what);
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
ql_vault_errno(GError **error, int err, const gchar *what, const gchar *path)
{
	g_set_error(error, QL_ERROR, QL_ERROR_IO, "cannot %s %s: %s", what, path, g_strerror(err));
	return FALSE;
}

static gboolean
ql_vault_fsync_dir(const gchar *dir, GError **error)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ql_vault_errno(error, errno, "open the directory", dir);
	if (fsync(fd) != 0 && errno != EINVAL) {
		int err = errno;
		close(fd);
		return ql_vault_errno(error, err, "sync the directory", dir);
	}
	close(fd);
	return TRUE;
}

gboolean
ql_vault_write_file_atomic(const gchar *path, const guint8 *data, gsize len, gboolean replace,
			   GError **error)
{
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_autofree gchar *base = g_path_get_basename(path);
	g_autofree gchar *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
	gsize done = 0;
	int fd;

	fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return ql_vault_errno(error, errno, "create a file in", dir);
	/* g_mkstemp_full honours the umask only to narrow; make sure of 0600 whatever it is */
	if (fchmod(fd, 0600) != 0)
		goto fail;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		done += (gsize)n;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (replace) {
		if (rename(tmp, path) != 0)
			goto fail;
	} else {
		/* link() does not replace: of two writers racing for one name, one wins */
		if (link(tmp, path) != 0) {
			int err = errno;
			g_unlink(tmp);
			if (err == EEXIST) {
				g_set_error(error, QL_ERROR, QL_ERROR_BUSY, "%s already exists",
					    path);
				return FALSE;
			}
			return ql_vault_errno(error, err, "write", path);
		}
		g_unlink(tmp);
	}
	return ql_vault_fsync_dir(dir, error);
fail : {
	int err = errno;
	if (fd >= 0)
		close(fd);
	g_unlink(tmp);
	return ql_vault_errno(error, err, "write", path);
}
}

/* Reads a small file whole; QL_ERROR_NOT_FOUND when it does not exist. */
static GBytes *
ql_vault_read_file(const gchar *path, GError **error)
{
	g_autoptr(GError) local = NULL;
	gchar *contents = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &contents, &len, &local)) {
		gboolean missing = g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT);
		g_set_error(error, QL_ERROR, missing ? QL_ERROR_NOT_FOUND : QL_ERROR_IO, "%s",
			    local->message);
		return NULL;
	}
	if (len > QL_VAULT_MAX_FILE) {
		ql_crypto_wipe(contents, len);
		g_free(contents);
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "%s is too large", path);
		return NULL;
	}
	{
		GBytes *b = ql_crypto_secret_bytes_new((const guint8 *)contents, len);
		ql_crypto_wipe(contents, len);
		g_free(contents);
		return b;
	}
}

/* --- the record format --- */

void
ql_vault_record_clear(QlVaultRecord *rec)
{
	g_clear_pointer(&rec->kind, g_free);
	g_clear_pointer(&rec->id, g_free);
	g_clear_pointer(&rec->eid, g_free);
	g_clear_pointer(&rec->sealed, g_bytes_unref);
}

GBytes *
ql_vault_record_ad(const gchar *kind, const gchar *id, const gchar *eid)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, QL_VAULT_TAG_AD);
	ql_tlv_builder_add_int(b, QL_VAULT_TAG_VERSION, QL_VAULT_RECORD_VERSION);
	ql_tlv_builder_add_string(b, QL_VAULT_TAG_KIND, kind);
	ql_tlv_builder_add_string(b, QL_VAULT_TAG_ID, id);
	ql_tlv_builder_add_string(b, QL_VAULT_TAG_EID, eid != NULL ? eid : "");
	ql_tlv_builder_end(b);
	return ql_tlv_builder_finish(g_steal_pointer(&b));
}

static gboolean
ql_vault_field_string(const QlTlv *parent, guint32 tag, const gchar *what, gchar **out,
		      GError **error)
{
	QlTlv t;
	if (!ql_tlv_require(parent, tag, what, &t, error))
		return FALSE;
	if (memchr(t.value, 0, t.len) != NULL ||
	    !g_utf8_validate((const gchar *)t.value, t.len, NULL)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "vault record: bad %s", what);
		return FALSE;
	}
	*out = g_strndup((const gchar *)t.value, t.len);
	return TRUE;
}

gboolean
ql_vault_record_parse(const guint8 *data, gsize len, QlVaultRecord *out, GError **error)
{
	g_auto(QlVaultRecord) rec = {0};
	QlTlv top, t;
	gint64 version = 0;

	if (!ql_tlv_read_exact(data, len, QL_VAULT_TAG_RECORD, &top, error) ||
	    !ql_tlv_validate(data, len, 2, error))
		return FALSE;
	if (!ql_tlv_require(&top, QL_VAULT_TAG_VERSION, "version", &t, error) ||
	    !ql_tlv_get_int(&t, &version, error))
		return FALSE;
	if (version != QL_VAULT_RECORD_VERSION) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "vault record version %" G_GINT64_FORMAT " is not supported", version);
		return FALSE;
	}
	rec.version = (guint)version;
	if (!ql_vault_field_string(&top, QL_VAULT_TAG_KIND, "kind", &rec.kind, error) ||
	    !ql_vault_field_string(&top, QL_VAULT_TAG_ID, "id", &rec.id, error) ||
	    !ql_vault_field_string(&top, QL_VAULT_TAG_EID, "EID", &rec.eid, error))
		return FALSE;
	if (!ql_tlv_require(&top, QL_VAULT_TAG_SEALED, "sealed data", &t, error))
		return FALSE;
	if (t.len < QL_CRYPTO_GCM_NONCE_LEN + QL_CRYPTO_GCM_TAG_LEN) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "vault record: sealed data too short");
		return FALSE;
	}
	rec.sealed = g_bytes_new(t.value, t.len);
	*out = rec;
	memset(&rec, 0, sizeof(rec));
	return TRUE;
}

static GBytes *
ql_vault_record_build(const gchar *kind, const gchar *id, const gchar *eid, GBytes *sealed)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, QL_VAULT_TAG_RECORD);
	ql_tlv_builder_add_int(b, QL_VAULT_TAG_VERSION, QL_VAULT_RECORD_VERSION);
	ql_tlv_builder_add_string(b, QL_VAULT_TAG_KIND, kind);
	ql_tlv_builder_add_string(b, QL_VAULT_TAG_ID, id);
	ql_tlv_builder_add_string(b, QL_VAULT_TAG_EID, eid != NULL ? eid : "");
	ql_tlv_builder_add_bytes(b, QL_VAULT_TAG_SEALED, sealed);
	ql_tlv_builder_end(b);
	return ql_tlv_builder_finish(g_steal_pointer(&b));
}

GBytes *
ql_vault_record_open(const guint8 *key, const QlVaultRecord *rec, const gchar *kind,
		     const gchar *id, const gchar *eid, GError **error)
{
	g_autoptr(GBytes) ad = ql_vault_record_ad(kind, id, eid);
	g_autoptr(GError) local = NULL;
	GBytes *plain;

	/* the AD is built from what the caller asked for, not from the header: a record renamed,
	 * or re-labelled in its header, does not open */
	plain = ql_crypto_open(key, g_bytes_get_data(ad, NULL), g_bytes_get_size(ad),
			       g_bytes_get_data(rec->sealed, NULL), g_bytes_get_size(rec->sealed),
			       &local);
	if (plain == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_AUTH,
			    "vault record %s/%s is damaged or was changed: %s", kind, id,
			    local->message);
		return NULL;
	}
	return plain;
}

/* --- the vault key --- */

static GBytes *
ql_vault_key_check_new(const guint8 *key, GError **error)
{
	g_autoptr(GBytes) ad = ql_vault_record_ad(QL_VAULT_CHECK_KIND, "key", NULL);
	return ql_crypto_seal(key, g_bytes_get_data(ad, NULL), g_bytes_get_size(ad), NULL, 0,
			      error);
}

static gboolean
ql_vault_key_check(const guint8 *key, const QlTlv *check)
{
	g_autoptr(GBytes) ad = ql_vault_record_ad(QL_VAULT_CHECK_KIND, "key", NULL);
	g_autoptr(GBytes) plain =
		ql_crypto_open(key, g_bytes_get_data(ad, NULL), g_bytes_get_size(ad), check->value,
			       check->len, NULL);
	return plain != NULL;
}

/* Parses a key file (E4 or E5): the key or the wrapped key, and the check value. */
static gboolean
ql_vault_key_file_parse(GBytes *file, guint32 want_tag, const gchar *path, QlTlv *payload,
			QlTlv *check, GError **error)
{
	QlTlv top, t;
	gint64 version = 0;
	g_autoptr(GError) local = NULL;

	if (!ql_tlv_read_exact(g_bytes_get_data(file, NULL), g_bytes_get_size(file), want_tag, &top,
			       &local) ||
	    !ql_tlv_require(&top, QL_VAULT_TAG_VERSION, "version", &t, &local) ||
	    !ql_tlv_get_int(&t, &version, &local) ||
	    !ql_tlv_require(&top,
			    want_tag == QL_VAULT_TAG_KEY_FILE ? QL_VAULT_TAG_KEY
							      : QL_VAULT_TAG_WRAPPED,
			    "key", payload, &local) ||
	    !ql_tlv_require(&top, QL_VAULT_TAG_CHECK, "check value", check, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the vault key file %s is damaged (%s)", path, local->message);
		return FALSE;
	}
	if (version != 1) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the vault key file %s has an unknown version", path);
		return FALSE;
	}
	return TRUE;
}

static GBytes *
ql_vault_key_file_build(guint32 tag, guint32 payload_tag, const guint8 *payload, gsize len,
			GBytes *check)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) raw = NULL;
	ql_tlv_builder_begin(b, tag);
	ql_tlv_builder_add_int(b, QL_VAULT_TAG_VERSION, 1);
	ql_tlv_builder_add(b, payload_tag, payload, len);
	ql_tlv_builder_add_bytes(b, QL_VAULT_TAG_CHECK, check);
	ql_tlv_builder_end(b);
	raw = ql_tlv_builder_finish(g_steal_pointer(&b));
	/* the plain key file holds the key itself: its buffer is wiped when freed */
	return ql_crypto_secret_bytes_new(g_bytes_get_data(raw, NULL), g_bytes_get_size(raw));
}

/* TRUE if the vault already holds records (then a missing key is an error, not a first use). */
static gboolean
ql_vault_has_records(const gchar *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const gchar *kind;

	while (d != NULL && (kind = g_dir_read_name(d)) != NULL) {
		g_autofree gchar *sub = g_build_filename(dir, kind, NULL);
		g_autoptr(GDir) k = g_dir_open(sub, 0, NULL);
		const gchar *name;
		while (k != NULL && (name = g_dir_read_name(k)) != NULL) {
			if (name[0] != '.')
				return TRUE;
		}
	}
	return FALSE;
}

static gboolean
ql_vault_load_key_file(QlVault *v, const gchar *path, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GBytes) file = NULL;
	QlTlv key, check;
	GStatBuf st;

	if (g_stat(path, &st) == 0 && (st.st_mode & 077) != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_AUTH,
			    "the vault key file %s can be read by others (mode %04o); only its "
			    "owner may read it (chmod 600)",
			    path, (guint)(st.st_mode & 07777));
		return FALSE;
	}
	file = ql_vault_read_file(path, &local);
	if (file == NULL) {
		g_propagate_prefixed_error(error, g_steal_pointer(&local), "vault key: ");
		return FALSE;
	}
	if (!ql_vault_key_file_parse(file, QL_VAULT_TAG_KEY_FILE, path, &key, &check, error))
		return FALSE;
	if (key.len != QL_CRYPTO_VAULT_KEY_LEN || !ql_vault_key_check(key.value, &check)) {
		g_set_error(error, QL_ERROR, QL_ERROR_AUTH,
			    "the vault key file %s is damaged: its key fails its check value",
			    path);
		return FALSE;
	}
	memcpy(v->key, key.value, QL_CRYPTO_VAULT_KEY_LEN);
	return TRUE;
}

static gboolean
ql_vault_write_key_file(const guint8 *key, const gchar *path, GError **error)
{
	g_autoptr(GBytes) check = ql_vault_key_check_new(key, error);
	g_autoptr(GBytes) file = NULL;
	if (check == NULL)
		return FALSE;
	file = ql_vault_key_file_build(QL_VAULT_TAG_KEY_FILE, QL_VAULT_TAG_KEY, key,
				       QL_CRYPTO_VAULT_KEY_LEN, check);
	return ql_vault_write_file_atomic(path, g_bytes_get_data(file, NULL),
					  g_bytes_get_size(file), FALSE, error);
}

/* The URI without its PIN attributes, for messages. */
static gchar *
ql_vault_uri_redact(const gchar *uri)
{
	g_auto(GStrv) parts = g_strsplit_set(uri, ";?&", -1);
	g_autoptr(GString) out = g_string_new(NULL);
	for (guint i = 0; parts[i] != NULL; i++) {
		if (g_str_has_prefix(parts[i], "pin-value=") ||
		    g_str_has_prefix(parts[i], "pin-source="))
			continue;
		g_string_append_printf(out, "%s%s", out->len > 0 ? ";" : "", parts[i]);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static gboolean
ql_vault_token_key(const gchar *uri, gnutls_privkey_t *priv_out, gnutls_pubkey_t *pub_out,
		   GError **error)
{
	g_auto(QlVaultPrivkey) priv = NULL;
	g_auto(QlVaultPubkey) pub = NULL;
	g_autofree gchar *shown = ql_vault_uri_redact(uri);
	int rc;

	if (gnutls_privkey_init(&priv) < 0 || gnutls_pubkey_init(&pub) < 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_FAILED, "out of memory");
		return FALSE;
	}
	rc = gnutls_privkey_import_url(priv, uri, 0);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "the PKCS#11 key that wraps the vault key (%s) is not available: %s "
			    "(is the token present, and its PIN given?); nothing was changed",
			    shown, gnutls_strerror(rc));
		return FALSE;
	}
	if (gnutls_privkey_get_pk_algorithm(priv, NULL) != GNUTLS_PK_RSA) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "the PKCS#11 key %s is not an RSA key: the vault key can only be "
			    "wrapped by an RSA key",
			    shown);
		return FALSE;
	}
	rc = gnutls_pubkey_import_privkey(pub, priv, 0, 0);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "cannot read the public part of the PKCS#11 key %s: %s", shown,
			    gnutls_strerror(rc));
		return FALSE;
	}
	*priv_out = g_steal_pointer(&priv);
	*pub_out = g_steal_pointer(&pub);
	return TRUE;
}

static gboolean
ql_vault_write_wrapped(gnutls_pubkey_t pub, const guint8 *key, const gchar *path, GError **error)
{
	gnutls_datum_t plain = {(guint8 *)key, QL_CRYPTO_VAULT_KEY_LEN};
	gnutls_datum_t wrapped = {NULL, 0};
	g_autoptr(GBytes) check = ql_vault_key_check_new(key, error);
	g_autoptr(GBytes) file = NULL;
	int rc;

	if (check == NULL)
		return FALSE;
	rc = gnutls_pubkey_encrypt_data(pub, 0, &plain, &wrapped);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED,
			    "cannot wrap the vault key with the PKCS#11 key: %s",
			    gnutls_strerror(rc));
		return FALSE;
	}
	file = ql_vault_key_file_build(QL_VAULT_TAG_WRAPPED_KEY, QL_VAULT_TAG_WRAPPED, wrapped.data,
				       wrapped.size, check);
	gnutls_free(wrapped.data);
	return ql_vault_write_file_atomic(path, g_bytes_get_data(file, NULL),
					  g_bytes_get_size(file), FALSE, error);
}

static gboolean
ql_vault_unwrap(QlVault *v, gnutls_privkey_t priv, const gchar *path, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GBytes) file = ql_vault_read_file(path, &local);
	gnutls_datum_t wrapped;
	guint8 key[QL_CRYPTO_VAULT_KEY_LEN];
	QlTlv payload, check;
	int rc;

	if (file == NULL) {
		g_propagate_prefixed_error(error, g_steal_pointer(&local), "vault key: ");
		return FALSE;
	}
	if (!ql_vault_key_file_parse(file, QL_VAULT_TAG_WRAPPED_KEY, path, &payload, &check, error))
		return FALSE;
	wrapped.data = (guint8 *)payload.value;
	wrapped.size = (guint)payload.len;
	/* decrypt_data2: a fixed-size output, no padding oracle in how the result is handled */
	rc = gnutls_privkey_decrypt_data2(priv, 0, &wrapped, key, sizeof(key));
	if (rc < 0 || !ql_vault_key_check(key, &check)) {
		ql_crypto_wipe(key, sizeof(key));
		g_set_error(error, QL_ERROR, QL_ERROR_AUTH,
			    "the PKCS#11 key does not unwrap the vault key in %s%s%s (another "
			    "token or key?)",
			    path, rc < 0 ? ": " : "", rc < 0 ? gnutls_strerror(rc) : "");
		return FALSE;
	}
	memcpy(v->key, key, sizeof(key));
	ql_crypto_wipe(key, sizeof(key));
	return TRUE;
}

static gboolean
ql_vault_load_token_key(QlVault *v, const gchar *uri, GError **error)
{
	g_autofree gchar *wrapped_path = g_build_filename(v->state_dir, "vault.key.p11", NULL);
	g_autofree gchar *plain_path = g_build_filename(v->state_dir, "vault.key", NULL);
	g_auto(QlVaultPrivkey) priv = NULL;
	g_auto(QlVaultPubkey) pub = NULL;
	g_autoptr(GError) local = NULL;

	/* the token first: without it nothing is read, created or moved */
	if (!ql_vault_token_key(uri, &priv, &pub, error))
		return FALSE;
	if (g_file_test(wrapped_path, G_FILE_TEST_EXISTS))
		return ql_vault_unwrap(v, priv, wrapped_path, error);
	if (g_file_test(plain_path, G_FILE_TEST_EXISTS)) {
		/* a token was configured after the key file: move the key under the token */
		if (!ql_vault_load_key_file(v, plain_path, error))
			return FALSE;
	} else if (ql_vault_has_records(v->dir)) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "the vault key (%s) is missing: the records in %s cannot be opened",
			    wrapped_path, v->dir);
		return FALSE;
	} else if (!ql_crypto_random(v->key, sizeof(v->key), error)) {
		return FALSE;
	}
	if (!ql_vault_write_wrapped(pub, v->key, wrapped_path, &local)) {
		if (!g_error_matches(local, QL_ERROR, QL_ERROR_BUSY)) {
			g_propagate_error(error, g_steal_pointer(&local));
			return FALSE;
		}
		/* another process made it first: use theirs */
		return ql_vault_unwrap(v, priv, wrapped_path, error);
	}
	/* the wrapped copy is on disk: only now the clear one goes */
	if (g_file_test(plain_path, G_FILE_TEST_EXISTS)) {
		if (!ql_vault_unwrap(v, priv, wrapped_path, error))
			return FALSE;
		{
			int fd = open(plain_path, O_WRONLY | O_CLOEXEC);
			if (fd >= 0) {
				GStatBuf st;
				if (fstat(fd, &st) == 0 && st.st_size > 0) {
					g_autofree guint8 *zero = g_malloc0((gsize)st.st_size);
					if (write(fd, zero, (gsize)st.st_size) < 0) {
						/* unlinked below anyway */
					}
					fsync(fd);
				}
				close(fd);
			}
		}
		if (g_unlink(plain_path) != 0)
			return ql_vault_errno(error, errno, "remove", plain_path);
	}
	return TRUE;
}

static gboolean
ql_vault_load_plain_key(QlVault *v, const gchar *path, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (g_file_test(path, G_FILE_TEST_EXISTS))
		return ql_vault_load_key_file(v, path, error);
	{
		g_autofree gchar *wrapped = g_build_filename(v->state_dir, "vault.key.p11", NULL);
		if (g_file_test(wrapped, G_FILE_TEST_EXISTS)) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "the vault key of %s is wrapped by a PKCS#11 token "
				    "(%s): configure its vault-key=pkcs11: URI",
				    v->state_dir, wrapped);
			return FALSE;
		}
	}
	if (ql_vault_has_records(v->dir)) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "the vault key file %s is missing: the records in %s cannot be opened",
			    path, v->dir);
		return FALSE;
	}
	if (!ql_crypto_random(v->key, sizeof(v->key), error))
		return FALSE;
	if (!ql_vault_write_key_file(v->key, path, &local)) {
		if (!g_error_matches(local, QL_ERROR, QL_ERROR_BUSY)) {
			g_propagate_error(error, g_steal_pointer(&local));
			return FALSE;
		}
		return ql_vault_load_key_file(v, path, error);
	}
	return TRUE;
}

static gboolean
ql_vault_mkdir(const gchar *dir, GError **error)
{
	if (g_mkdir_with_parents(dir, 0700) != 0)
		return ql_vault_errno(error, errno, "create the directory", dir);
	return TRUE;
}

QlVault *
ql_vault_open(const gchar *state_dir, const gchar *key_spec, GError **error)
{
	g_autoptr(QlVault) v = g_new0(QlVault, 1);

	if (state_dir == NULL || state_dir[0] == '\0')
		state_dir = QL_VAULT_DEFAULT_STATE_DIR;
	v->state_dir = g_strdup(state_dir);
	v->dir = g_build_filename(state_dir, "vault", NULL);
	if (!ql_vault_mkdir(v->dir, error))
		return NULL;
	if (key_spec != NULL && g_str_has_prefix(key_spec, "pkcs11:")) {
		if (!ql_vault_load_token_key(v, key_spec, error))
			return NULL;
		v->key_description = g_strdup("PKCS#11 token key");
	} else {
		g_autofree gchar *path = key_spec != NULL && key_spec[0] != '\0'
						 ? g_strdup(key_spec)
						 : g_build_filename(state_dir, "vault.key", NULL);
		if (!ql_vault_load_plain_key(v, path, error))
			return NULL;
		v->key_description = g_strdup_printf("key file %s", path);
	}
	return g_steal_pointer(&v);
}

void
ql_vault_free(QlVault *vault)
{
	if (vault == NULL)
		return;
	ql_crypto_wipe(vault->key, sizeof(vault->key));
	g_free(vault->state_dir);
	g_free(vault->dir);
	g_free(vault->key_description);
	g_free(vault);
}

const gchar *
ql_vault_get_state_dir(const QlVault *vault)
{
	return vault->state_dir;
}

const gchar *
ql_vault_get_key_description(const QlVault *vault)
{
	return vault->key_description;
}

/* --- records --- */

static gchar *
ql_vault_path(QlVault *v, const gchar *kind, const gchar *id, GError **error)
{
	if (!ql_vault_check_name("record kind", kind, error) ||
	    (id != NULL && !ql_vault_check_name("record name", id, error)))
		return NULL;
	return g_build_filename(v->dir, kind, id, NULL);
}

gboolean
ql_vault_put(QlVault *vault, const gchar *kind, const gchar *id, const gchar *eid,
	     const guint8 *data, gsize len, gboolean replace, GError **error)
{
	g_autofree gchar *path = ql_vault_path(vault, kind, id, error);
	g_autofree gchar *dir = NULL;
	g_autoptr(GBytes) ad = NULL;
	g_autoptr(GBytes) sealed = NULL;
	g_autoptr(GBytes) file = NULL;

	if (path == NULL)
		return FALSE;
	if (eid != NULL && strlen(eid) > 64) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "an EID is at most 64 characters");
		return FALSE;
	}
	dir = g_path_get_dirname(path);
	if (!ql_vault_mkdir(dir, error))
		return FALSE;
	ad = ql_vault_record_ad(kind, id, eid);
	sealed = ql_crypto_seal(vault->key, g_bytes_get_data(ad, NULL), g_bytes_get_size(ad), data,
				len, error);
	if (sealed == NULL)
		return FALSE;
	file = ql_vault_record_build(kind, id, eid, sealed);
	return ql_vault_write_file_atomic(path, g_bytes_get_data(file, NULL),
					  g_bytes_get_size(file), replace, error);
}

/* Reads and opens one record file; errors name the record. */
static GBytes *
ql_vault_open_file(QlVault *v, const gchar *path, const gchar *kind, const gchar *id,
		   const gchar *eid, gchar **eid_out, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GBytes) file = ql_vault_read_file(path, &local);
	g_auto(QlVaultRecord) rec = {0};
	GBytes *plain;

	if (file == NULL) {
		if (g_error_matches(local, QL_ERROR, QL_ERROR_NOT_FOUND))
			g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND, "no vault record %s/%s",
				    kind, id);
		else
			g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	if (!ql_vault_record_parse(g_bytes_get_data(file, NULL), g_bytes_get_size(file), &rec,
				   &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_AUTH, "vault record %s/%s is damaged: %s",
			    kind, id, local->message);
		return NULL;
	}
	if (g_strcmp0(rec.kind, kind) != 0 || g_strcmp0(rec.id, id) != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_AUTH,
			    "vault record %s/%s is damaged: its header names another record", kind,
			    id);
		return NULL;
	}
	plain = ql_vault_record_open(v->key, &rec, kind, id, eid != NULL ? eid : rec.eid, error);
	if (plain != NULL && eid_out != NULL)
		*eid_out = g_strdup(rec.eid);
	return plain;
}

GBytes *
ql_vault_get(QlVault *vault, const gchar *kind, const gchar *id, const gchar *eid, GError **error)
{
	g_autofree gchar *path = ql_vault_path(vault, kind, id, error);
	if (path == NULL)
		return NULL;
	return ql_vault_open_file(vault, path, kind, id, eid != NULL ? eid : "", NULL, error);
}

gboolean
ql_vault_contains(QlVault *vault, const gchar *kind, const gchar *id)
{
	g_autofree gchar *path = ql_vault_path(vault, kind, id, NULL);
	return path != NULL && g_file_test(path, G_FILE_TEST_EXISTS);
}

gboolean
ql_vault_remove(QlVault *vault, const gchar *kind, const gchar *id, GError **error)
{
	g_autofree gchar *path = ql_vault_path(vault, kind, id, error);
	g_autofree gchar *dir = NULL;

	if (path == NULL)
		return FALSE;
	if (g_unlink(path) != 0) {
		if (errno == ENOENT) {
			g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND, "no vault record %s/%s",
				    kind, id);
			return FALSE;
		}
		return ql_vault_errno(error, errno, "remove", path);
	}
	dir = g_path_get_dirname(path);
	return ql_vault_fsync_dir(dir, error);
}

void
ql_vault_entry_free(QlVaultEntry *entry)
{
	if (entry == NULL)
		return;
	g_free(entry->id);
	g_free(entry->eid);
	g_clear_pointer(&entry->data, g_bytes_unref);
	g_clear_error(&entry->error);
	g_free(entry);
}

static gint
ql_vault_entry_cmp(gconstpointer a, gconstpointer b)
{
	const QlVaultEntry *ea = *(QlVaultEntry *const *)a;
	const QlVaultEntry *eb = *(QlVaultEntry *const *)b;
	return strcmp(ea->id, eb->id);
}

GPtrArray *
ql_vault_list(QlVault *vault, const gchar *kind, GError **error)
{
	g_autofree gchar *dir = ql_vault_path(vault, kind, NULL, error);
	g_autoptr(GPtrArray) out = NULL;
	g_autoptr(GDir) d = NULL;
	g_autoptr(GError) local = NULL;
	const gchar *name;

	if (dir == NULL)
		return NULL;
	out = g_ptr_array_new_with_free_func((GDestroyNotify)ql_vault_entry_free);
	d = g_dir_open(dir, 0, &local);
	if (d == NULL) {
		if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return g_steal_pointer(&out);
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "%s", local->message);
		return NULL;
	}
	while ((name = g_dir_read_name(d)) != NULL) {
		g_autofree gchar *path = NULL;
		QlVaultEntry *e;
		/* temporary files of writes in progress (or interrupted) are not records */
		if (name[0] == '.')
			continue;
		e = g_new0(QlVaultEntry, 1);
		e->id = g_strdup(name);
		path = g_build_filename(dir, name, NULL);
		if (!ql_vault_check_name("record name", name, &e->error))
			g_prefix_error(&e->error, "vault record %s/%s: ", kind, name);
		else
			e->data = ql_vault_open_file(vault, path, kind, name, NULL, &e->eid,
						     &e->error);
		g_ptr_array_add(out, e);
	}
	g_ptr_array_sort(out, ql_vault_entry_cmp);
	return g_steal_pointer(&out);
}
