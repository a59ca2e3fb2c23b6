/*
 * The trust anchors as shipped: the one CI table (names for `chip info`, shipped files and
 * their SHA-256), the check of the files in the CI directory against it and against the
 * README's table, the refusal of a modified or unknown file, the anchor rule with the real
 * production CIs (TLS to any shipped CI, signing only to a listed one), and where CRLs come
 * from.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "quantra-l/ql-hex.h"
#include "ql-crl.h"
#include "ql-es10.h"
#include "ql-pki.h"
#include "ql-trust.h"

#define CI1_KID "81370F5125D0B1D408D4C3B232E6D25E795BEBFB"
#define G1_KID "4C27967AD20C14B391E9601E41E604AD57C0222F"

static gchar *
source_path(const gchar *first, ...)
{
	const gchar *root = g_getenv("QL_SOURCE_ROOT");
	g_autoptr(GPtrArray) parts = g_ptr_array_new();
	const gchar *p;
	va_list args;

	g_ptr_array_add(parts, (gpointer)(root != NULL ? root : QL_SOURCE_ROOT));
	va_start(args, first);
	for (p = first; p != NULL; p = va_arg(args, const gchar *))
		g_ptr_array_add(parts, (gpointer)p);
	va_end(args);
	g_ptr_array_add(parts, NULL);
	return g_build_filenamev((gchar **)parts->pdata);
}

static gchar *
sha256_hex_upper(gnutls_x509_crt_t crt)
{
	g_autoptr(GBytes) der = ql_pki_export_der(crt, NULL);
	g_autofree gchar *sha = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, der);
	return g_ascii_strup(sha, -1);
}

/* one table: every entry well formed, named as chip info names it */
static void
test_anchors_table(void)
{
	guint n = 0;
	const QlCiInfo *table = ql_ci_table(&n);
	guint shipped = 0;
	guint tests = 0;

	g_assert_cmpuint(n, >=, 9);
	for (guint i = 0; i < n; i++) {
		const QlCiInfo *ci = &table[i];
		g_autoptr(GBytes) raw = ql_hex_decode(ci->key_id, NULL);
		g_autofree gchar *lower = g_ascii_strdown(ci->key_id, -1);

		g_assert_nonnull(raw);
		g_assert_cmpuint(g_bytes_get_size(raw), ==, 20);
		g_assert_true(ql_ci_lookup(raw) == ci);
		g_assert_true(ql_ci_lookup_hex(lower) == ci);
		/* chip info's names come from this very table */
		g_assert_cmpstr(ql_ci_key_id_name(raw), ==, ci->name);
		for (guint j = 0; j < i; j++) {
			g_assert_cmpstr(table[j].key_id, !=, ci->key_id);
			g_assert_cmpstr(table[j].name, !=, ci->name);
		}
		if (ci->file != NULL) {
			g_assert_cmpint(ci->kind, ==, QL_CI_PRODUCTION);
			g_assert_nonnull(ci->sha256);
			g_assert_cmpuint(strlen(ci->sha256), ==, 64);
			shipped++;
		}
		if (ci->kind == QL_CI_TEST) {
			/* the SGP.26 test CIs are never shipped */
			g_assert_null(ci->file);
			tests++;
		}
	}
	g_assert_cmpuint(shipped, ==, 2);
	g_assert_cmpuint(tests, ==, 4);
	g_assert_cmpstr(ql_ci_lookup_hex(CI1_KID)->file, ==, "gsma-rsp2-root-ci1.pem");
	g_assert_cmpstr(ql_ci_lookup_hex(G1_KID)->file, ==, "oiste-gsma-ci-g1.pem");
	g_assert_null(ql_ci_lookup_hex("0000000000000000000000000000000000000000"));
}

/* README rows "| file.pem | name | KEYID | SHA256 |" of the shipped-CI table */
static GPtrArray *
readme_rows(void)
{
	g_autofree gchar *path = source_path("README.md", NULL);
	g_autofree gchar *text = NULL;
	g_auto(GStrv) lines = NULL;
	GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) cells = NULL;
		g_autoptr(GStrvBuilder) b = NULL;
		if (!g_str_has_prefix(lines[i], "| `") || strstr(lines[i], ".pem` |") == NULL)
			continue;
		cells = g_strsplit(lines[i], "|", -1);
		b = g_strv_builder_new();
		for (guint j = 1; cells[j] != NULL && cells[j + 1] != NULL; j++) {
			g_autofree gchar *cell = g_strstrip(g_strdup(cells[j]));
			if (cell[0] == '`' && g_str_has_suffix(cell, "`")) {
				g_autofree gchar *inner = g_strndup(cell + 1, strlen(cell) - 2);
				g_strv_builder_add(b, inner);
			} else {
				g_strv_builder_add(b, cell);
			}
		}
		g_ptr_array_add(rows, g_strv_builder_end(b));
	}
	return rows;
}

/* the files in data/ci: each passes, each matches the table and the README's table */
static void
test_anchors_shipped_files(void)
{
	g_autofree gchar *ci_dir = source_path("data", "ci", NULL);
	g_autoptr(GPtrArray) infos = g_ptr_array_new();
	g_autoptr(GPtrArray) refused = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) crts = ql_trust_load_shipped_cis(ci_dir, infos, refused);
	g_autoptr(GPtrArray) rows = readme_rows();
	guint n = 0;
	const QlCiInfo *table = ql_ci_table(&n);
	guint shipped = 0;

	g_assert_cmpuint(refused->len, ==, 0);
	for (guint i = 0; i < n; i++)
		shipped += table[i].file != NULL;
	g_assert_cmpuint(crts->len, ==, shipped);
	g_assert_cmpuint(rows->len, ==, shipped);
	for (guint i = 0; i < crts->len; i++) {
		gnutls_x509_crt_t crt = g_ptr_array_index(crts, i);
		const QlCiInfo *ci = g_ptr_array_index(infos, i);
		g_autoptr(GBytes) ski = ql_pki_subject_key_id(crt, NULL);
		g_autofree gchar *kid = ql_pki_hex(ski);
		g_autofree gchar *sha = sha256_hex_upper(crt);
		gboolean in_readme = FALSE;

		g_test_message("%s: %s %s", ci->file, kid, sha);
		g_assert_cmpstr(kid, ==, ci->key_id);
		g_assert_cmpstr(sha, ==, ci->sha256);
		g_assert_cmpint(ql_pki_cert_role(crt), ==, QL_CERT_ROLE_CI);
		for (guint j = 0; j < rows->len; j++) {
			gchar **row = g_ptr_array_index(rows, j);
			g_assert_cmpuint(g_strv_length(row), >=, 4);
			if (g_strcmp0(row[0], ci->file) != 0)
				continue;
			g_assert_cmpstr(row[1], ==, ci->name);
			g_assert_cmpstr(row[2], ==, kid);
			g_assert_cmpstr(row[3], ==, sha);
			in_readme = TRUE;
		}
		g_assert_true(in_readme);
	}
}

static void
copy_file(const gchar *from, const gchar *to)
{
	g_autofree gchar *data = NULL;
	gsize len = 0;
	g_assert_true(g_file_get_contents(from, &data, &len, NULL));
	g_assert_true(g_file_set_contents(to, data, (gssize)len, NULL));
}

/* a modified file and an unknown one in the CI directory: refused with a message, never trusted */
static void
test_anchors_tampered(void)
{
	g_autofree gchar *tmp = g_dir_make_tmp("ql-anchors-XXXXXX", NULL);
	g_autofree gchar *src_ci1 = source_path("data", "ci", "gsma-rsp2-root-ci1.pem", NULL);
	g_autofree gchar *src_g1 = source_path("data", "ci", "oiste-gsma-ci-g1.pem", NULL);
	g_autofree gchar *ci1 = g_build_filename(tmp, "gsma-rsp2-root-ci1.pem", NULL);
	g_autofree gchar *g1 = g_build_filename(tmp, "oiste-gsma-ci-g1.pem", NULL);
	g_autofree gchar *extra = g_build_filename(tmp, "extra-ci.pem", NULL);
	g_autofree gchar *pem = NULL;
	g_autoptr(GPtrArray) infos = g_ptr_array_new();
	g_autoptr(GPtrArray) refused = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) crts = NULL;
	g_autoptr(QlTrust) trust = ql_trust_new();
	g_autoptr(GError) error = NULL;
	g_auto(QlPkiCert) ca = {NULL, NULL};
	g_auto(QlPkiCert) leaf = {NULL, NULL};
	const gchar *ips[] = {"127.0.0.1", NULL};
	QlPkiCertSpec ca_spec = {.role = QL_CERT_ROLE_CI, .common_name = "Extra CI", .is_ca = TRUE};
	QlPkiCertSpec leaf_spec = {
		.role = QL_CERT_ROLE_DP_TLS, .common_name = "tls", .ip_addresses = ips};
	gnutls_x509_crt_t chain[1];
	g_auto(GStrv) tls_ids = NULL;

	/* G1's certificate under CI1's name: a file whose content is not what was shipped */
	copy_file(src_g1, ci1);
	copy_file(src_g1, g1);
	/* a CI the table does not name, dropped into the directory */
	g_assert_true(ql_pki_make(&ca_spec, NULL, &ca, &error));
	g_assert_no_error(error);
	g_assert_true(ql_pki_save(&ca, extra, NULL, &error));
	g_assert_no_error(error);

	g_test_expect_message("ql-core", G_LOG_LEVEL_WARNING,
			      "*extra-ci.pem was refused*not a CI this release ships*");
	g_test_expect_message("ql-core", G_LOG_LEVEL_WARNING,
			      "*gsma-rsp2-root-ci1.pem was refused*SHA-256 9C9FA2E9*is not the "
			      "5E3E91FD*GSM Association - RSP2 Root CI1*");
	crts = ql_trust_load_shipped_cis(tmp, infos, refused);
	g_test_assert_expected_messages();
	g_assert_cmpuint(crts->len, ==, 1);
	g_assert_cmpstr(((const QlCiInfo *)g_ptr_array_index(infos, 0))->key_id, ==, G1_KID);
	g_assert_cmpuint(refused->len, ==, 2);

	/* two certificates in one shipped file: refused too */
	g_assert_true(g_file_get_contents(src_g1, &pem, NULL, NULL));
	{
		g_autofree gchar *two = g_strconcat(pem, pem, NULL);
		g_assert_true(g_file_set_contents(g1, two, -1, NULL));
	}
	g_assert_cmpint(g_unlink(ci1), ==, 0);
	g_test_expect_message("ql-core", G_LOG_LEVEL_WARNING,
			      "*extra-ci.pem was refused*not a CI this release ships*");
	g_test_expect_message("ql-core", G_LOG_LEVEL_WARNING,
			      "*oiste-gsma-ci-g1.pem was refused*holds 2 certificates*");
	g_assert_cmpuint(ql_trust_add_shipped_cis(trust, tmp), ==, 0);
	g_test_assert_expected_messages();
	tls_ids = ql_trust_get_anchor_key_ids(trust, QL_TRUST_PURPOSE_TLS);
	g_assert_cmpuint(g_strv_length(tls_ids), ==, 0);

	/* a chain to the dropped-in CI: not trusted, and the refusal is named */
	leaf_spec.dns_names = NULL;
	g_assert_true(ql_pki_make(&leaf_spec, &ca, &leaf, &error));
	chain[0] = leaf.crt;
	g_assert_false(
		ql_trust_verify_chain(trust, chain, 1, "127.0.0.1", QL_CERT_ROLE_DP_TLS, &error));
	g_test_message("%s", error->message);
	g_assert_cmpint(ql_trust_failure_from_error(error), ==, QL_TRUST_FAILURE_UNKNOWN_CI);
	g_assert_nonnull(strstr(error->message, "extra-ci.pem was refused"));
	g_assert_nonnull(strstr(error->message, "holds 2 certificates"));

	g_unlink(extra);
	g_unlink(g1);
	g_rmdir(tmp);
}

/* the rule with the real production CIs: an eUICC that lists only G1 (newer cards) or none of
 * them (older cards omit CI1) */
static void
test_anchors_rule(void)
{
	g_autofree gchar *ci_dir = source_path("data", "ci", NULL);
	g_autoptr(QlTrust) trust = ql_trust_new();
	g_autoptr(GPtrArray) kids = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	g_auto(GStrv) tls_ids = NULL;
	g_auto(GStrv) signing_ids = NULL;

	g_assert_cmpuint(ql_trust_add_shipped_cis(trust, ci_dir), ==, 2);
	g_ptr_array_add(kids, ql_hex_decode(G1_KID, NULL));
	ql_trust_set_allowed_ci_key_ids(trust, kids);

	tls_ids = ql_trust_get_anchor_key_ids(trust, QL_TRUST_PURPOSE_TLS);
	signing_ids = ql_trust_get_anchor_key_ids(trust, QL_TRUST_PURPOSE_SIGNING);
	g_assert_cmpuint(g_strv_length(tls_ids), ==, 2);
	g_assert_true(g_strv_contains((const gchar *const *)tls_ids, CI1_KID));
	g_assert_true(g_strv_contains((const gchar *const *)tls_ids, G1_KID));
	g_assert_cmpuint(g_strv_length(signing_ids), ==, 1);
	g_assert_cmpstr(signing_ids[0], ==, G1_KID);

	ql_trust_set_tls_anchors(trust, QL_TRUST_TLS_ANCHORS_EUICC_LISTED);
	g_strfreev(tls_ids);
	tls_ids = ql_trust_get_anchor_key_ids(trust, QL_TRUST_PURPOSE_TLS);
	g_assert_cmpuint(g_strv_length(tls_ids), ==, 1);
	g_assert_cmpstr(tls_ids[0], ==, G1_KID);

	/* an older card that lists neither: TLS still to both by default, no signing CI */
	g_ptr_array_set_size(kids, 0);
	ql_trust_set_allowed_ci_key_ids(trust, kids);
	ql_trust_set_tls_anchors(trust, QL_TRUST_TLS_ANCHORS_ALL);
	g_strfreev(tls_ids);
	g_strfreev(signing_ids);
	tls_ids = ql_trust_get_anchor_key_ids(trust, QL_TRUST_PURPOSE_TLS);
	signing_ids = ql_trust_get_anchor_key_ids(trust, QL_TRUST_PURPOSE_SIGNING);
	g_assert_cmpuint(g_strv_length(tls_ids), ==, 2);
	g_assert_cmpuint(g_strv_length(signing_ids), ==, 0);
}

/* where each shipped CI's CRL is fetched from */
static void
test_anchors_crl_urls(void)
{
	g_autofree gchar *ci_dir = source_path("data", "ci", NULL);
	g_autoptr(GPtrArray) infos = g_ptr_array_new();
	g_autoptr(GPtrArray) crts = ql_trust_load_shipped_cis(ci_dir, infos, NULL);
	g_autoptr(GHashTable) urls = g_hash_table_new(g_str_hash, g_str_equal);

	g_assert_cmpuint(crts->len, ==, 2);
	for (guint i = 0; i < crts->len; i++) {
		const QlCiInfo *ci = g_ptr_array_index(infos, i);
		g_autofree gchar *url = ql_crl_url_for(g_ptr_array_index(crts, i), NULL);
		g_autofree gchar *mirror = NULL;
		if (g_strcmp0(ci->key_id, CI1_KID) == 0)
			/* named by the certificate's CRL distribution point */
			g_assert_cmpstr(
				url, ==,
				"http://gsma-crl.symauth.com/offlineca/gsma-rsp2-root-ci1.crl");
		else
			/* the certificate names none: the table's published address */
			g_assert_cmpstr(url, ==, "http://public.wisekey.com/crl/ogsmacig1.crl");
		/* the configuration wins */
		g_hash_table_insert(urls, (gpointer)ci->key_id, (gpointer) "http://127.0.0.1:1/x");
		mirror = ql_crl_url_for(g_ptr_array_index(crts, i), urls);
		g_assert_cmpstr(mirror, ==, "http://127.0.0.1:1/x");
		g_hash_table_remove_all(urls);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/ql/anchors/table", test_anchors_table);
	g_test_add_func("/ql/anchors/shipped-files", test_anchors_shipped_files);
	g_test_add_func("/ql/anchors/tampered", test_anchors_tampered);
	g_test_add_func("/ql/anchors/rule", test_anchors_rule);
	g_test_add_func("/ql/anchors/crl-urls", test_anchors_crl_urls);
	return g_test_run();
}
