/*
 * The vault: sealing, damage detection, nonce freshness, atomic writes, identity binding, and
 * the key file's rules.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quantra-l/ql-error.h"
#include "ql-crypto.h"
#include "ql-vault.h"

typedef struct {
	gchar *dir;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	f->dir = g_dir_make_tmp("ql-test-vault-XXXXXX", NULL);
	g_assert_nonnull(f->dir);
}

static void
rm_rf(const gchar *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const gchar *name;
	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		g_autofree gchar *p = g_build_filename(path, name, NULL);
		if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
			rm_rf(p);
		else
			g_unlink(p);
	}
	g_rmdir(path);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	rm_rf(f->dir);
	g_free(f->dir);
}

static QlVault *
open_vault(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	QlVault *v = ql_vault_open(f->dir, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(v);
	return v;
}

static void
put(QlVault *v, const gchar *kind, const gchar *id, const gchar *eid, const gchar *text)
{
	g_autoptr(GError) error = NULL;
	g_assert_true(
		ql_vault_put(v, kind, id, eid, (const guint8 *)text, strlen(text), TRUE, &error));
	g_assert_no_error(error);
}

static void
assert_opens(QlVault *v, const gchar *kind, const gchar *id, const gchar *eid, const gchar *text)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) b = ql_vault_get(v, kind, id, eid, &error);
	g_assert_no_error(error);
	g_assert_cmpmem(g_bytes_get_data(b, NULL), g_bytes_get_size(b), text, strlen(text));
}

static gchar *
record_path(Fixture *f, const gchar *kind, const gchar *id)
{
	return g_build_filename(f->dir, "vault", kind, id, NULL);
}

static void
test_roundtrip(Fixture *f, gconstpointer data)
{
	g_autoptr(QlVault) v = open_vault(f);
	g_autoptr(QlVault) again = NULL;
	g_autofree gchar *key = g_build_filename(f->dir, "vault.key", NULL);
	g_autofree gchar *rec = record_path(f, "code", "b");
	g_autoptr(GPtrArray) list = NULL;
	g_autofree gchar *raw = NULL;
	gsize raw_len = 0;
	GStatBuf st;

	put(v, "code", "a", NULL, "first secret");
	put(v, "code", "b", NULL, "second secret");
	put(v, "euicc", "n1", "89049032000000000000000000000001", "bound to one eUICC");
	assert_opens(v, "code", "a", NULL, "first secret");
	assert_opens(v, "euicc", "n1", "89049032000000000000000000000001", "bound to one eUICC");
	/* key file and records: owner only */
	g_assert_cmpint(g_stat(key, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_cmpint(g_stat(rec, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	/* the plaintext is nowhere in the record file */
	g_assert_true(g_file_get_contents(rec, &raw, &raw_len, NULL));
	g_assert_null(g_strstr_len(raw, (gssize)raw_len, "second secret"));
	list = ql_vault_list(v, "code", NULL);
	g_assert_cmpuint(list->len, ==, 2);
	g_assert_cmpstr(((QlVaultEntry *)g_ptr_array_index(list, 0))->id, ==, "a");
	g_assert_cmpstr(((QlVaultEntry *)g_ptr_array_index(list, 1))->id, ==, "b");
	/* a second opening uses the same key */
	again = open_vault(f);
	assert_opens(again, "code", "b", NULL, "second secret");
	g_assert_true(ql_vault_remove(again, "code", "b", NULL));
	g_assert_false(ql_vault_contains(again, "code", "b"));
}

/* Every single-bit change anywhere in one record's file is caught and named, and the other
 * records still open. */
static void
test_bit_flips(Fixture *f, gconstpointer data)
{
	g_autoptr(QlVault) v = open_vault(f);
	g_autofree gchar *path = record_path(f, "code", "middle");
	g_autofree gchar *orig = NULL;
	gsize len = 0;
	guint flips = 0;

	put(v, "code", "first", NULL, "LPA:1$a.example$ONE");
	put(v, "code", "middle", NULL, "LPA:1$b.example$TWO");
	put(v, "code", "last", NULL, "LPA:1$c.example$THREE");
	g_assert_true(g_file_get_contents(path, &orig, &len, NULL));
	for (gsize byte = 0; byte < len; byte++) {
		for (guint bit = 0; bit < 8; bit++) {
			g_autofree gchar *bad = g_memdup2(orig, len);
			g_autoptr(GPtrArray) list = NULL;
			g_autoptr(GError) error = NULL;
			g_autoptr(GBytes) got = NULL;
			bad[byte] ^= (gchar)(1 << bit);
			g_assert_true(g_file_set_contents(path, bad, (gssize)len, NULL));
			got = ql_vault_get(v, "code", "middle", NULL, &error);
			g_assert_null(got);
			g_assert_error(error, QL_ERROR, QL_ERROR_AUTH);
			g_assert_nonnull(strstr(error->message, "code/middle"));
			list = ql_vault_list(v, "code", NULL);
			g_assert_cmpuint(list->len, ==, 3);
			for (guint i = 0; i < list->len; i++) {
				QlVaultEntry *e = g_ptr_array_index(list, i);
				if (g_strcmp0(e->id, "middle") == 0) {
					g_assert_null(e->data);
					g_assert_nonnull(e->error);
					g_assert_nonnull(strstr(e->error->message, "middle"));
				} else {
					g_assert_no_error(e->error);
					g_assert_nonnull(e->data);
				}
			}
			flips++;
		}
	}
	g_assert_cmpuint(flips, ==, len * 8);
	g_assert_true(g_file_set_contents(path, orig, (gssize)len, NULL));
	assert_opens(v, "code", "middle", NULL, "LPA:1$b.example$TWO");
}

/* 100,000 seals under one key: no nonce comes twice. */
static void
test_nonces(void)
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_bytes_hash, g_bytes_equal,
							   (GDestroyNotify)g_bytes_unref, NULL);
	guint8 key[QL_CRYPTO_VAULT_KEY_LEN];
	const guint8 ad[] = "kind/id";
	const guint8 plain[] = "the same plaintext every time";

	g_assert_true(ql_crypto_random(key, sizeof(key), NULL));
	for (guint i = 0; i < 100000; i++) {
		g_autoptr(GBytes) sealed =
			ql_crypto_seal(key, ad, sizeof(ad), plain, sizeof(plain), NULL);
		GBytes *nonce;
		g_assert_nonnull(sealed);
		nonce = g_bytes_new(g_bytes_get_data(sealed, NULL), QL_CRYPTO_GCM_NONCE_LEN);
		g_assert_false(g_hash_table_contains(seen, nonce));
		g_hash_table_add(seen, nonce);
	}
	g_assert_cmpuint(g_hash_table_size(seen), ==, 100000);
}

static guint
count_entries(const gchar *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	guint n = 0;
	while (d != NULL && g_dir_read_name(d) != NULL)
		n++;
	return n;
}

/* A replacement is a new file renamed over the old one: a reader holding the old one reads it
 * whole, nothing temporary stays behind, and "add" never overwrites. */
static void
test_atomic(Fixture *f, gconstpointer data)
{
	g_autoptr(QlVault) v = open_vault(f);
	g_autofree gchar *path = record_path(f, "code", "x");
	g_autofree gchar *dir = g_path_get_dirname(path);
	g_autofree gchar *before = NULL;
	g_autofree gchar *stale = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	gchar buf[4096];
	gsize before_len = 0;
	GStatBuf st1, st2;
	mode_t old_mask;
	ssize_t n;
	int fd;

	put(v, "code", "x", NULL, "version one");
	g_assert_true(g_file_get_contents(path, &before, &before_len, NULL));
	g_assert_cmpint(g_stat(path, &st1), ==, 0);
	fd = open(path, O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	old_mask = umask(0);
	put(v, "code", "x", NULL, "version two, which is longer than version one");
	umask(old_mask);
	g_assert_cmpint(g_stat(path, &st2), ==, 0);
	g_assert_cmpuint(st1.st_ino, !=, st2.st_ino);
	g_assert_cmpint(st2.st_mode & 0777, ==, 0600);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	g_assert_cmpmem(buf, n, before, before_len);
	g_assert_cmpuint(count_entries(dir), ==, 1);
	assert_opens(v, "code", "x", NULL, "version two, which is longer than version one");

	/* without replace, an existing record stays as it is */
	g_assert_false(
		ql_vault_put(v, "code", "x", NULL, (const guint8 *)"three", 5, FALSE, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_BUSY);
	assert_opens(v, "code", "x", NULL, "version two, which is longer than version one");
	g_assert_cmpuint(count_entries(dir), ==, 1);

	/* what an interrupted write leaves (a temporary file) is not a record */
	stale = g_build_filename(dir, ".x.AB12CD", NULL);
	g_assert_true(g_file_set_contents(stale, "half", 4, NULL));
	list = ql_vault_list(v, "code", NULL);
	g_assert_cmpuint(list->len, ==, 1);
	g_assert_no_error(((QlVaultEntry *)g_ptr_array_index(list, 0))->error);
}

/* A record opens only as what it was sealed as: kind, name and EID. */
static void
test_wrong_ad(Fixture *f, gconstpointer data)
{
	g_autoptr(QlVault) v = open_vault(f);
	g_autofree gchar *a = record_path(f, "code", "a");
	g_autofree gchar *b = record_path(f, "code", "b");
	g_autofree gchar *raw = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) got = NULL;
	g_auto(QlVaultRecord) rec = {0};
	gsize len = 0;
	guint8 key[QL_CRYPTO_VAULT_KEY_LEN] = {0};

	put(v, "code", "a", "89049032000000000000000000000001", "for one eUICC");
	/* another EID */
	got = ql_vault_get(v, "code", "a", "89049032000000000000000000000002", &error);
	g_assert_null(got);
	g_assert_error(error, QL_ERROR, QL_ERROR_AUTH);
	g_clear_error(&error);
	/* copied under another name */
	g_assert_true(g_file_get_contents(a, &raw, &len, NULL));
	g_assert_true(g_file_set_contents(b, raw, (gssize)len, NULL));
	got = ql_vault_get(v, "code", "b", "89049032000000000000000000000001", &error);
	g_assert_null(got);
	g_assert_error(error, QL_ERROR, QL_ERROR_AUTH);
	g_assert_nonnull(strstr(error->message, "code/b"));
	g_clear_error(&error);
	/* the header is not trusted: the identity asked for is what must match */
	g_assert_true(ql_vault_record_parse((const guint8 *)raw, len, &rec, NULL));
	g_assert_cmpstr(rec.id, ==, "a");
	/* at the AEAD level: each part of the identity is bound */
	g_assert_true(ql_crypto_random(key, sizeof(key), NULL));
	{
		const gchar *eid = "89049032000000000000000000000001";
		g_autoptr(GBytes) ad = ql_vault_record_ad("code", "a", eid);
		g_autoptr(GBytes) sealed =
			ql_crypto_seal(key, g_bytes_get_data(ad, NULL), g_bytes_get_size(ad),
				       (const guint8 *)"x", 1, NULL);
		GBytes *others[] = {
			ql_vault_record_ad("code", "b", eid), ql_vault_record_ad("euicc", "a", eid),
			ql_vault_record_ad("code", "a", "89049032000000000000000000000002"),
			ql_vault_record_ad("code", "a", NULL)};
		g_autoptr(GBytes) ok = ql_crypto_open(
			key, g_bytes_get_data(ad, NULL), g_bytes_get_size(ad),
			g_bytes_get_data(sealed, NULL), g_bytes_get_size(sealed), NULL);
		g_assert_nonnull(ok);
		for (guint i = 0; i < G_N_ELEMENTS(others); i++) {
			g_autoptr(GError) e = NULL;
			g_autoptr(GBytes) no = ql_crypto_open(
				key, g_bytes_get_data(others[i], NULL), g_bytes_get_size(others[i]),
				g_bytes_get_data(sealed, NULL), g_bytes_get_size(sealed), &e);
			g_assert_null(no);
			g_assert_error(e, QL_ERROR, QL_ERROR_AUTH);
			g_bytes_unref(others[i]);
		}
	}
	assert_opens(v, "code", "a", "89049032000000000000000000000001", "for one eUICC");
}

static void
test_key_file_rules(Fixture *f, gconstpointer data)
{
	g_autofree gchar *key = g_build_filename(f->dir, "vault.key", NULL);
	g_autofree gchar *moved = g_build_filename(f->dir, "vault.key.away", NULL);
	g_autofree gchar *raw = NULL;
	g_autoptr(GError) error = NULL;
	QlVault *v = open_vault(f);
	gsize len = 0;

	put(v, "code", "a", NULL, "kept");
	ql_vault_free(v);
	/* readable by others: refused, and said so */
	g_assert_cmpint(g_chmod(key, 0644), ==, 0);
	v = ql_vault_open(f->dir, NULL, &error);
	g_assert_null(v);
	g_assert_error(error, QL_ERROR, QL_ERROR_AUTH);
	g_assert_nonnull(strstr(error->message, "0644"));
	g_clear_error(&error);
	g_assert_cmpint(g_chmod(key, 0600), ==, 0);
	/* missing while records exist: no new key silently */
	g_assert_cmpint(g_rename(key, moved), ==, 0);
	v = ql_vault_open(f->dir, NULL, &error);
	g_assert_null(v);
	g_assert_error(error, QL_ERROR, QL_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(g_file_test(key, G_FILE_TEST_EXISTS));
	g_assert_cmpint(g_rename(moved, key), ==, 0);
	/* damaged */
	g_assert_true(g_file_get_contents(key, &raw, &len, NULL));
	raw[len - 20] ^= 1;
	g_assert_true(g_file_set_contents(key, raw, (gssize)len, NULL));
	g_assert_cmpint(g_chmod(key, 0600), ==, 0);
	v = ql_vault_open(f->dir, NULL, &error);
	g_assert_null(v);
	g_assert_nonnull(strstr(error->message, "damaged"));
	g_clear_error(&error);
	raw[len - 20] ^= 1;
	g_assert_true(g_file_set_contents(key, raw, (gssize)len, NULL));
	g_assert_cmpint(g_chmod(key, 0600), ==, 0);
	v = open_vault(f);
	assert_opens(v, "code", "a", NULL, "kept");
	ql_vault_free(v);
}

static void
test_names(void)
{
	const gchar *bad[] = {"", ".hidden", "a/b", "..", "with space", "tab\t", "é"};
	const gchar *good[] = {"a", "smdp.example.com-2", "My_Code-1"};
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_assert_false(ql_vault_check_name("label", bad[i], &error));
		g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
	}
	for (guint i = 0; i < G_N_ELEMENTS(good); i++)
		g_assert_true(ql_vault_check_name("label", good[i], NULL));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/ql/vault/roundtrip", Fixture, NULL, fixture_setup, test_roundtrip,
		   fixture_teardown);
	g_test_add("/ql/vault/bit-flips", Fixture, NULL, fixture_setup, test_bit_flips,
		   fixture_teardown);
	g_test_add_func("/ql/vault/nonces", test_nonces);
	g_test_add("/ql/vault/atomic", Fixture, NULL, fixture_setup, test_atomic, fixture_teardown);
	g_test_add("/ql/vault/wrong-ad", Fixture, NULL, fixture_setup, test_wrong_ad,
		   fixture_teardown);
	g_test_add("/ql/vault/key-file", Fixture, NULL, fixture_setup, test_key_file_rules,
		   fixture_teardown);
	g_test_add_func("/ql/vault/names", test_names);
	return g_test_run();
}
