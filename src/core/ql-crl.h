/*
 * Keeping the CIs' CRLs fresh (`quantra-l crl update`, and the service once a day): each CI's
 * CRL is fetched from the address it names (its CRL distribution point), or the one the
 * configuration gives for its key id, or the one the CI table knows; it is stored in the CRL
 * directory only when its issuer's signature verifies and it is newer than the stored one
 * (thisUpdate, then CRL number). Anything else leaves the stored CRL as it was.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>
#include <gnutls/x509.h>

#include "ql-http.h"

G_BEGIN_DECLS

#define QL_CRL_DEFAULT_MAX_SIZE (1024 * 1024)

typedef enum {
	QL_CRL_STORED,	/* newer than the stored one (or none was stored): stored */
	QL_CRL_CURRENT, /* the same as the stored one: kept */
	QL_CRL_REFUSED, /* fetched, but older, badly signed, malformed or too large: not stored */
	QL_CRL_FAILED,	/* could not be fetched */
	QL_CRL_SKIPPED, /* no address is known for this CI */
} QlCrlOutcome;

/* "stored", "current", "refused", "failed", "skipped" */
const gchar *ql_crl_outcome_to_string(QlCrlOutcome outcome);

typedef struct {
	gchar *ci_name;	  /* the CI's subject */
	gchar *ci_key_id; /* upper-case hex, NULL when it has none */
	gchar *url;	  /* where the CRL was fetched from, NULL when skipped */
	QlCrlOutcome outcome;
	GError *error; /* why, for refused, failed and skipped */
	gchar *file;   /* the CRL file for this CI in the directory afterwards, NULL when none */
	/* the CRL kept in the directory afterwards (the new one once stored); -1 when none */
	gint64 this_update;
	gint64 next_update;
	gchar *number; /* its CRL number in hex, NULL when it has none */
} QlCrlResult;

void ql_crl_result_free(QlCrlResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlCrlResult, ql_crl_result_free)

typedef struct {
	const gchar *ci_dir;	       /* the shipped CIs; NULL: the data directory's */
	GPtrArray *trust_anchor_files; /* gchar *: CIs the admin added, updated too */
	const gchar *crl_dir;	       /* where CRLs are kept (created if missing) */
	GHashTable *urls;	       /* upper-case key id -> URL: wins over the certificate */
	const gchar *const *only;      /* key ids (hex) to update; NULL: every CI */
	gsize max_size;		       /* a larger CRL is refused; 0: QL_CRL_DEFAULT_MAX_SIZE */
	guint timeout_ms;	       /* per CRL; 0: 30 s */
	gint64 now;		       /* unix time for messages; 0: the clock */
} QlCrlUpdateOptions;

/* Updates the CRL of every CI (the shipped ones that pass their check, then the admin's), one
 * QlCrlResult each, in that order. NULL (and @error) only when nothing could be tried: no CRL
 * directory, an unreadable anchor file, a key id in @only that names no CI. */
GPtrArray *ql_crl_update(const QlCrlUpdateOptions *opts, GError **error);

/* The same for one CI, from @url, with @http. */
QlCrlResult *ql_crl_update_one(gnutls_x509_crt_t ci, const gchar *url, QlHttp *http,
			       const gchar *crl_dir, gsize max_size);

/* Where @ci's CRL is published: @urls' entry for its key id, else its CRL distribution point
 * (the first http:// or https:// one), else the CI table's address; NULL when none is known. */
gchar *ql_crl_url_for(gnutls_x509_crt_t ci, GHashTable *urls);

/* One CRL read from a file of a CRL directory. */
typedef struct {
	gnutls_x509_crl_t crl;
	gchar *path;	 /* the file */
	gchar *name;	 /* its name in the directory */
	guint n_in_file; /* how many CRLs the file holds */
	gboolean pem;	 /* the file is PEM (else DER) */
} QlCrlFile;

void ql_crl_file_free(QlCrlFile *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlCrlFile, ql_crl_file_free)

/* Every CRL in the regular files of @crl_dir (QlCrlFile), read afresh, in directory order; a
 * file that is not a CRL list (DER or PEM) is passed over, a missing directory reads as empty.
 * @skip_hidden: pass over files whose names begin with a dot. */
GPtrArray *ql_crl_read_dir(const gchar *crl_dir, gboolean skip_hidden);

/* Does @crl name @issuer as its issuer (byte for byte), and does @issuer's signature on it
 * verify? Time is not judged here. @names_issuer (may be NULL): whether it names @issuer. */
gboolean ql_crl_issued_by(gnutls_x509_crl_t crl, gnutls_x509_crt_t issuer, gboolean *names_issuer);

G_END_DECLS
