/*
 * CRL updates. See ql-crl.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-crl.h"
#include "ql-download.h"
#include "ql-pki.h"
#include "ql-trust.h"

const gchar *
ql_crl_outcome_to_string(QlCrlOutcome outcome)
{
	switch (outcome) {
	case QL_CRL_STORED:
		return "stored";
	case QL_CRL_CURRENT:
		return "current";
	case QL_CRL_REFUSED:
		return "refused";
	case QL_CRL_FAILED:
		return "failed";
	case QL_CRL_SKIPPED:
		return "skipped";
	default:
		return "unknown";
	}
}

void
ql_crl_result_free(QlCrlResult *result)
{
	if (result == NULL)
		return;
	g_free(result->ci_name);
	g_free(result->ci_key_id);
	g_free(result->url);
	g_clear_error(&result->error);
	g_free(result->file);
	g_free(result->number);
	g_free(result);
}

static gchar *
ql_crl_key_id(gnutls_x509_crt_t crt)
{
	g_autoptr(GBytes) ski = ql_pki_subject_key_id(crt, NULL);
	return ski != NULL ? ql_pki_hex(ski) : NULL;
}

/* The CRL number as a big-endian unsigned integer without leading zero bytes; NULL if none */
static GBytes *
ql_crl_number(gnutls_x509_crl_t crl)
{
	guint8 buf[64];
	size_t size = sizeof(buf);
	unsigned int critical = 0;
	gsize off = 0;

	if (gnutls_x509_crl_get_number(crl, buf, &size, &critical) < 0)
		return NULL;
	while (off + 1 < size && buf[off] == 0)
		off++;
	return g_bytes_new(buf + off, size - off);
}

/* <0, 0, >0 as @a's number is below, equal to or above @b's */
static gint
ql_crl_number_cmp(GBytes *a, GBytes *b)
{
	gsize la = g_bytes_get_size(a);
	gsize lb = g_bytes_get_size(b);
	if (la != lb)
		return la < lb ? -1 : 1;
	return memcmp(g_bytes_get_data(a, NULL), g_bytes_get_data(b, NULL), la);
}

gboolean
ql_crl_issued_by(gnutls_x509_crl_t crl, gnutls_x509_crt_t issuer, gboolean *names_issuer)
{
	gnutls_datum_t crl_dn = {NULL, 0};
	gnutls_datum_t crt_dn = {NULL, 0};
	unsigned int status = 0;
	gboolean same = FALSE;

	if (gnutls_x509_crl_get_raw_issuer_dn(crl, &crl_dn) >= 0 &&
	    gnutls_x509_crt_get_raw_dn(issuer, &crt_dn) >= 0)
		same = crl_dn.size == crt_dn.size &&
		       memcmp(crl_dn.data, crt_dn.data, crl_dn.size) == 0;
	gnutls_free(crl_dn.data);
	gnutls_free(crt_dn.data);
	if (names_issuer != NULL)
		*names_issuer = same;
	if (!same)
		return FALSE;
	/* time is judged by the caller: only the signature and the signer count here */
	if (gnutls_x509_crl_verify(crl, &issuer, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status) < 0)
		return FALSE;
	return (status & (GNUTLS_CERT_SIGNATURE_FAILURE | GNUTLS_CERT_SIGNER_NOT_FOUND |
			  GNUTLS_CERT_SIGNER_NOT_CA | GNUTLS_CERT_INSECURE_ALGORITHM |
			  GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)) == 0;
}

/* is @a newer than @b: a later thisUpdate, or the same one with a higher number */
static gboolean
ql_crl_newer(gnutls_x509_crl_t a, gnutls_x509_crl_t b)
{
	gint64 ta = gnutls_x509_crl_get_this_update(a);
	gint64 tb = gnutls_x509_crl_get_this_update(b);
	g_autoptr(GBytes) na = NULL;
	g_autoptr(GBytes) nb = NULL;

	if (ta != tb)
		return ta > tb;
	na = ql_crl_number(a);
	nb = ql_crl_number(b);
	return na != NULL && nb != NULL && ql_crl_number_cmp(na, nb) > 0;
}

/* imports every CRL in @data: PEM when a PEM header stands in its first 4 KiB, else DER */
static gint
ql_crl_import(const gchar *data, gsize len, gnutls_x509_crl_t **list, unsigned int *n,
	      gboolean *pem)
{
	gnutls_datum_t d = {(unsigned char *)data, (unsigned int)len};
	*pem = len > 0 && g_strstr_len(data, MIN(len, 4096), "-----BEGIN") != NULL;
	return gnutls_x509_crl_list_import2(list, n, &d,
					    *pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, 0);
}

void
ql_crl_file_free(QlCrlFile *f)
{
	if (f == NULL)
		return;
	gnutls_x509_crl_deinit(f->crl);
	g_free(f->path);
	g_free(f->name);
	g_free(f);
}

GPtrArray *
ql_crl_read_dir(const gchar *crl_dir, gboolean skip_hidden)
{
	GPtrArray *files = g_ptr_array_new_with_free_func((GDestroyNotify)ql_crl_file_free);
	g_autoptr(GDir) dir = crl_dir != NULL ? g_dir_open(crl_dir, 0, NULL) : NULL;
	const gchar *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		g_autofree gchar *path = g_build_filename(crl_dir, name, NULL);
		g_autofree gchar *data = NULL;
		gsize len = 0;
		gnutls_x509_crl_t *list = NULL;
		unsigned int n = 0;
		gboolean pem = FALSE;

		if ((skip_hidden && name[0] == '.') || !g_file_test(path, G_FILE_TEST_IS_REGULAR))
			continue;
		if (!g_file_get_contents(path, &data, &len, NULL) || len > G_MAXUINT)
			continue;
		if (ql_crl_import(data, len, &list, &n, &pem) < 0) {
			g_debug("ignoring %s: not a CRL", path);
			continue;
		}
		for (guint i = 0; i < n; i++) {
			QlCrlFile *f = g_new0(QlCrlFile, 1);
			f->crl = list[i];
			f->path = g_strdup(path);
			f->name = g_strdup(name);
			f->n_in_file = n;
			f->pem = pem;
			g_ptr_array_add(files, f);
		}
		gnutls_free(list);
	}
	return files;
}

/* the newest CRL of @ci in the directory */
static QlCrlFile *
ql_crl_find_stored(gnutls_x509_crt_t ci, const gchar *crl_dir)
{
	g_autoptr(GPtrArray) files = ql_crl_read_dir(crl_dir, TRUE);
	QlCrlFile *best = NULL;
	guint best_i = 0;

	for (guint i = 0; i < files->len; i++) {
		QlCrlFile *f = g_ptr_array_index(files, i);
		if (ql_crl_issued_by(f->crl, ci, NULL) &&
		    (best == NULL || ql_crl_newer(f->crl, best->crl))) {
			best = f;
			best_i = i;
		}
	}
	return best != NULL ? g_ptr_array_steal_index(files, best_i) : NULL;
}

static void
ql_crl_describe(QlCrlResult *r, gnutls_x509_crl_t crl, const gchar *path)
{
	g_autoptr(GBytes) number = ql_crl_number(crl);
	gint64 next = gnutls_x509_crl_get_next_update(crl);
	g_free(r->file);
	g_free(r->number);
	r->file = g_strdup(path);
	r->this_update = gnutls_x509_crl_get_this_update(crl);
	r->next_update = next == (time_t)-1 ? -1 : next;
	r->number = number != NULL ? ql_pki_hex(number) : NULL;
}

static QlCrlResult *
ql_crl_result_new(gnutls_x509_crt_t ci, const gchar *url)
{
	QlCrlResult *r = g_new0(QlCrlResult, 1);
	r->ci_name = ql_pki_crt_name(ci, "(unnamed CI)");
	r->ci_key_id = ql_crl_key_id(ci);
	r->url = g_strdup(url);
	r->this_update = -1;
	r->next_update = -1;
	return r;
}

/* sets the outcome and its error on *@rp, and hands *@rp over */
static QlCrlResult *G_GNUC_PRINTF(4, 5) ql_crl_result_fail(QlCrlResult **rp, QlCrlOutcome outcome,
							   gint code, const gchar *format, ...)
{
	QlCrlResult *r = *rp;
	va_list args;
	g_autofree gchar *msg = NULL;

	va_start(args, format);
	msg = g_strdup_vprintf(format, args);
	va_end(args);
	r->outcome = outcome;
	g_set_error(&r->error, QL_ERROR, code, "the CRL of '%s' %s %s: %s", r->ci_name,
		    outcome == QL_CRL_REFUSED ? "from" : "at", r->url != NULL ? r->url : "-", msg);
	return g_steal_pointer(rp);
}

/* The one CRL in @body (DER or PEM) */
static gnutls_x509_crl_t
ql_crl_parse(GBytes *body, gchar **why)
{
	gnutls_x509_crl_t *list = NULL;
	gnutls_x509_crl_t crl;
	unsigned int n = 0;
	gsize len = 0;
	const gchar *data = g_bytes_get_data(body, &len);
	gboolean pem = FALSE;
	gint rc;

	if (len == 0) {
		*why = g_strdup("the answer is empty");
		return NULL;
	}
	rc = ql_crl_import(data, len, &list, &n, &pem);
	if (rc < 0 || n == 0) {
		*why = g_strdup_printf("the %" G_GSIZE_FORMAT
				       " bytes are not a whole CRL (truncated or malformed: %s)",
				       len, rc < 0 ? gnutls_strerror(rc) : "none found");
		return NULL;
	}
	for (guint i = 1; i < n; i++)
		gnutls_x509_crl_deinit(list[i]);
	crl = list[0];
	gnutls_free(list);
	if (n > 1) {
		gnutls_x509_crl_deinit(crl);
		*why = g_strdup_printf("the answer holds %u CRLs, not one", n);
		return NULL;
	}
	return crl;
}

/* Writes @crl to @path atomically (a new file, then renamed over the old one) */
static gboolean
ql_crl_write(gnutls_x509_crl_t crl, const gchar *path, gboolean pem, GError **error)
{
	gnutls_datum_t d = {NULL, 0};
	gboolean ok;
	gint rc = gnutls_x509_crl_export2(crl, pem ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, &d);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED, "cannot encode the CRL: %s",
			    gnutls_strerror(rc));
		return FALSE;
	}
	ok = g_file_set_contents_full(path, (const gchar *)d.data, d.size,
				      G_FILE_SET_CONTENTS_CONSISTENT, 0644, error);
	gnutls_free(d.data);
	return ok;
}

QlCrlResult *
ql_crl_update_one(gnutls_x509_crt_t ci, const gchar *url, QlHttp *http, const gchar *crl_dir,
		  gsize max_size)
{
	g_autoptr(QlCrlResult) r = ql_crl_result_new(ci, url);
	g_autoptr(QlCrlFile) stored = ql_crl_find_stored(ci, crl_dir);
	g_autoptr(QlHttpResponse) response = NULL;
	g_autoptr(GError) local = NULL;
	g_auto(gnutls_x509_crl_t) crl = NULL;
	g_autoptr(GBytes) number = NULL;
	g_autoptr(GBytes) stored_number = NULL;
	g_autofree gchar *why = NULL;
	g_autofree gchar *path = NULL;
	gboolean names_issuer = FALSE;
	gint64 this_update;
	gint64 stored_this = -1;

	if (stored != NULL)
		ql_crl_describe(r, stored->crl, stored->path);
	if (max_size == 0)
		max_size = QL_CRL_DEFAULT_MAX_SIZE;
	ql_http_set_max_body(http, max_size);
	response = ql_http_get(http, url, &local);
	if (response == NULL) {
		if (local->domain == QL_ERROR && local->code == QL_ERROR_HTTP &&
		    strstr(local->message, "over the limit") != NULL)
			return ql_crl_result_fail(&r, QL_CRL_REFUSED, QL_ERROR_MALFORMED,
						  "it is larger than the limit of %" G_GSIZE_FORMAT
						  " bytes (%s); the stored CRL is kept",
						  max_size, local->message);
		return ql_crl_result_fail(&r, QL_CRL_FAILED,
					  local->domain == QL_ERROR ? local->code : QL_ERROR_HTTP,
					  "%s; the stored CRL is kept", local->message);
	}
	if (response->status != 200)
		return ql_crl_result_fail(&r, QL_CRL_FAILED, QL_ERROR_HTTP,
					  "the server answered HTTP %u; the stored CRL is kept",
					  response->status);
	crl = ql_crl_parse(response->body, &why);
	if (crl == NULL)
		return ql_crl_result_fail(&r, QL_CRL_REFUSED, QL_ERROR_MALFORMED,
					  "%s; the stored CRL is kept", why);
	if (!ql_crl_issued_by(crl, ci, &names_issuer))
		return ql_crl_result_fail(
			&r, QL_CRL_REFUSED, QL_ERROR_TLS, "%s; the stored CRL is kept",
			names_issuer ? "its signature does not verify with the CI's key"
				     : "it was not issued by this CI");

	/* newer than the stored one: a later thisUpdate, and a CRL number that did not go back */
	this_update = gnutls_x509_crl_get_this_update(crl);
	number = ql_crl_number(crl);
	if (stored != NULL) {
		stored_this = gnutls_x509_crl_get_this_update(stored->crl);
		stored_number = ql_crl_number(stored->crl);
	}
	if (stored != NULL && this_update < stored_this) {
		g_autofree gchar *got = ql_pki_format_time(this_update);
		g_autofree gchar *have = ql_pki_format_time(stored_this);
		return ql_crl_result_fail(&r, QL_CRL_REFUSED, QL_ERROR_FAILED,
					  "it is older than the stored one (thisUpdate %s, stored "
					  "%s); the stored CRL "
					  "is kept",
					  got, have);
	}
	if (stored != NULL && number != NULL && stored_number != NULL &&
	    ql_crl_number_cmp(number, stored_number) < 0) {
		g_autofree gchar *got = ql_pki_hex(number);
		g_autofree gchar *have = ql_pki_hex(stored_number);
		return ql_crl_result_fail(
			&r, QL_CRL_REFUSED, QL_ERROR_FAILED,
			"its CRL number %s is below the stored one's %s; the stored CRL is kept",
			got, have);
	}
	if (stored != NULL && !ql_crl_newer(crl, stored->crl)) {
		r->outcome = QL_CRL_CURRENT;
		return g_steal_pointer(&r);
	}

	/* replace the stored file in place when it holds this CRL alone, else a file of its own */
	if (stored != NULL && stored->n_in_file == 1) {
		path = g_strdup(stored->path);
	} else {
		g_autofree gchar *kid =
			r->ci_key_id != NULL ? g_ascii_strdown(r->ci_key_id, -1) : g_strdup("ci");
		g_autofree gchar *base = g_strdup_printf("%s.crl", kid);
		path = g_build_filename(crl_dir, base, NULL);
	}
	g_clear_error(&local);
	if (!ql_crl_write(crl, path, stored != NULL && stored->n_in_file == 1 && stored->pem,
			  &local))
		return ql_crl_result_fail(&r, QL_CRL_FAILED, QL_ERROR_IO, "cannot store it: %s",
					  local->message);
	ql_crl_describe(r, crl, path);
	r->outcome = QL_CRL_STORED;
	return g_steal_pointer(&r);
}

gchar *
ql_crl_url_for(gnutls_x509_crt_t ci, GHashTable *urls)
{
	g_autofree gchar *kid = ql_crl_key_id(ci);
	const QlCiInfo *info;

	if (kid != NULL && urls != NULL && g_hash_table_lookup(urls, kid) != NULL)
		return g_strdup(g_hash_table_lookup(urls, kid));
	for (guint seq = 0; seq < 16; seq++) {
		gchar buf[1024];
		size_t size = sizeof(buf) - 1;
		unsigned int reasons = 0;
		gint type =
			gnutls_x509_crt_get_crl_dist_points(ci, seq, buf, &size, &reasons, NULL);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type != GNUTLS_SAN_URI)
			continue;
		buf[size] = '\0';
		if (g_str_has_prefix(buf, "http://") || g_str_has_prefix(buf, "https://"))
			return g_strdup(buf);
	}
	info = ql_ci_lookup_hex(kid);
	if (info != NULL && info->crl_url != NULL)
		return g_strdup(info->crl_url);
	return NULL;
}

/* the CIs to update: shipped ones first, then the admin's, each once */
static GPtrArray *
ql_crl_collect_cis(const QlCrlUpdateOptions *opts, GError **error)
{
	g_autoptr(GPtrArray) cis = NULL;
	g_autofree gchar *data = NULL;
	g_autofree gchar *ci_dir = NULL;

	if (opts->ci_dir != NULL) {
		ci_dir = g_strdup(opts->ci_dir);
	} else {
		data = ql_data_dir();
		ci_dir = g_build_filename(data, "ci", NULL);
	}
	cis = ql_trust_load_shipped_cis(ci_dir, NULL, NULL);
	for (guint i = 0; opts->trust_anchor_files != NULL && i < opts->trust_anchor_files->len;
	     i++) {
		g_autoptr(GPtrArray) crts =
			ql_pki_load_bundle(g_ptr_array_index(opts->trust_anchor_files, i), error);
		if (crts == NULL)
			return NULL;
		for (guint j = 0; j < crts->len; j++) {
			gnutls_x509_crt_t crt = g_ptr_array_index(crts, j);
			gboolean dup = FALSE;
			for (guint k = 0; k < cis->len && !dup; k++)
				dup = gnutls_x509_crt_equals(crt, g_ptr_array_index(cis, k)) != 0;
			if (!dup)
				g_ptr_array_add(cis, ql_pki_crt_copy(crt, NULL));
		}
	}
	g_ptr_array_remove(cis, NULL);
	return g_steal_pointer(&cis);
}

GPtrArray *
ql_crl_update(const QlCrlUpdateOptions *opts, GError **error)
{
	g_autoptr(GPtrArray) cis = NULL;
	g_autoptr(GPtrArray) results =
		g_ptr_array_new_with_free_func((GDestroyNotify)ql_crl_result_free);
	g_autoptr(QlTrust) trust = ql_trust_new();
	g_autoptr(QlTls) tls = NULL;
	g_autoptr(QlHttp) http = NULL;

	if (opts->crl_dir == NULL || opts->crl_dir[0] == '\0') {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "no CRL directory is set");
		return NULL;
	}
	if (g_mkdir_with_parents(opts->crl_dir, 0755) < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "cannot create the CRL directory %s: %s",
			    opts->crl_dir, g_strerror(errno));
		return NULL;
	}
	cis = ql_crl_collect_cis(opts, error);
	if (cis == NULL)
		return NULL;
	for (guint i = 0; opts->only != NULL && opts->only[i] != NULL; i++) {
		gboolean found = FALSE;
		for (guint j = 0; j < cis->len && !found; j++) {
			g_autofree gchar *kid = ql_crl_key_id(g_ptr_array_index(cis, j));
			found = kid != NULL && g_ascii_strcasecmp(kid, opts->only[i]) == 0;
		}
		if (!found) {
			g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
				    "no trusted CI has the key id '%s'", opts->only[i]);
			return NULL;
		}
	}

	/* an https:// CRL address is a WebPKI server, or one of the CIs' own TLS servers */
	for (guint i = 0; i < cis->len; i++)
		ql_trust_add_anchor(trust, g_ptr_array_index(cis, i), TRUE, NULL);
	ql_trust_set_use_system_store(trust, TRUE);
	tls = ql_tls_new(trust, QL_TLS_POLICY_STANDARD);
	ql_tls_set_timeout(tls, opts->timeout_ms > 0 ? opts->timeout_ms : 30000);
	http = ql_http_new(tls);
	ql_http_set_timeout(http, opts->timeout_ms > 0 ? opts->timeout_ms : 30000);

	for (guint i = 0; i < cis->len; i++) {
		gnutls_x509_crt_t ci = g_ptr_array_index(cis, i);
		g_autofree gchar *kid = ql_crl_key_id(ci);
		g_autofree gchar *url = NULL;
		QlCrlResult *r;

		if (opts->only != NULL) {
			gboolean hit = FALSE;
			for (guint j = 0; kid != NULL && opts->only[j] != NULL; j++)
				hit = hit || g_ascii_strcasecmp(kid, opts->only[j]) == 0;
			if (!hit)
				continue;
		}
		url = ql_crl_url_for(ci, opts->urls);
		if (url == NULL) {
			g_autoptr(QlCrlFile) stored = ql_crl_find_stored(ci, opts->crl_dir);
			r = ql_crl_result_new(ci, NULL);
			if (stored != NULL)
				ql_crl_describe(r, stored->crl, stored->path);
			r = ql_crl_result_fail(
				&r, QL_CRL_SKIPPED, QL_ERROR_NOT_FOUND,
				"no address is known for it (set [crl] url.%s= in the "
				"configuration)",
				kid != NULL ? kid : "KEYID");
		} else {
			g_debug("fetching the CRL of CI %s from %s", kid != NULL ? kid : "-", url);
			r = ql_crl_update_one(ci, url, http, opts->crl_dir, opts->max_size);
		}
		g_ptr_array_add(results, r);
	}
	return g_steal_pointer(&results);
}
