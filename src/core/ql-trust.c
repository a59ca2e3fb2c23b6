/*
 * The trust decision. See ql-trust.h.
 *
 * GnuTLS checks the chain (signatures, basic constraints, key usage, unknown critical
 * extensions) with its time checks off; validity, revocation, role, host and pins are then
 * checked here one by one so each refusal gets its own reason and words.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-crl.h"
#include "ql-trust.h"

#define QL_TRUST_MAX_DEPTH 8

typedef struct {
	gnutls_x509_crt_t crt;
	GBytes *ski; /* may be NULL */
	gboolean admin;
} QlTrustAnchor;

struct _QlTrust {
	GObject parent_instance;
	GPtrArray *anchors;	 /* of QlTrustAnchor */
	GPtrArray *allowed_kids; /* of GBytes, NULL = every anchor */
	QlTrustTlsAnchors tls_anchors;
	GPtrArray *refused; /* gchar *: shipped CI files refused, for the unknown-ci message */
	GHashTable *pins;   /* lower-case host -> GPtrArray of GBytes */
	gchar *crl_dir;
	gboolean crl_required;
	gboolean use_system_store;
	gint64 now;
};

G_DEFINE_TYPE(QlTrust, ql_trust, G_TYPE_OBJECT)

static const gchar *const ql_trust_failure_nicks[] = {
	"ok",
	"no-certificate",
	"bad-chain",
	"unknown-ci",
	"bad-signature",
	"expired",
	"not-yet-valid",
	"revoked",
	"wrong-role",
	"wrong-host",
	"pin-mismatch",
	"weak-protocol",
	"client-certificate-required",
	"weak-key",
	"bad-key-usage",
	"no-crl",
	"stale-crl",
	"timeout",
};
G_STATIC_ASSERT(G_N_ELEMENTS(ql_trust_failure_nicks) == QL_TRUST_FAILURE_LAST);

const gchar *
ql_trust_failure_to_string(QlTrustFailure failure)
{
	if ((guint)failure >= QL_TRUST_FAILURE_LAST)
		return "unknown";
	return ql_trust_failure_nicks[failure];
}

/* The tag our refusals put after "certificate refused " or "TLS refused " (the first one in
 * the message: a step name may come before it, words from the peer only after it). */
QlTrustFailure
ql_trust_failure_from_error(const GError *error)
{
	const gchar *tag;
	const gchar *end;

	if (error == NULL || error->domain != QL_ERROR)
		return QL_TRUST_OK;
	if (error->code == QL_ERROR_TIMEOUT)
		return QL_TRUST_FAILURE_TIMEOUT;
	if (error->code != QL_ERROR_TLS || error->message == NULL)
		return QL_TRUST_OK;
	for (tag = strstr(error->message, "refused ["); tag != NULL;
	     tag = strstr(tag + 1, "refused [")) {
		/* only our own words: "certificate refused [" or "TLS refused [" */
		gsize off = (gsize)(tag - error->message);
		if ((off >= 12 && strncmp(tag - 12, "certificate ", 12) == 0) ||
		    (off >= 4 && strncmp(tag - 4, "TLS ", 4) == 0))
			break;
	}
	if (tag == NULL)
		return QL_TRUST_OK;
	tag += strlen("refused [");
	end = strchr(tag, ']');
	if (end == NULL)
		return QL_TRUST_OK;
	for (guint i = 1; i < QL_TRUST_FAILURE_LAST; i++) {
		const gchar *nick = ql_trust_failure_nicks[i];
		if ((gsize)(end - tag) == strlen(nick) && strncmp(tag, nick, strlen(nick)) == 0)
			return (QlTrustFailure)i;
	}
	return QL_TRUST_OK;
}

const gchar *
ql_error_get_reason(const GError *error)
{
	QlTrustFailure failure = ql_trust_failure_from_error(error);
	return failure == QL_TRUST_OK ? NULL : ql_trust_failure_to_string(failure);
}

gboolean
ql_trust_anchor_source_from_string(const gchar *text, QlTrustAnchorSource *source)
{
	for (QlTrustAnchorSource s = QL_TRUST_ANCHOR_GSMA_CI; s <= QL_TRUST_ANCHOR_SYSTEM; s++) {
		if (g_strcmp0(text, ql_trust_anchor_source_to_string(s)) == 0) {
			*source = s;
			return TRUE;
		}
	}
	return FALSE;
}

const gchar *
ql_trust_anchor_source_to_string(QlTrustAnchorSource source)
{
	switch (source) {
	case QL_TRUST_ANCHOR_GSMA_CI:
		return "gsma-ci";
	case QL_TRUST_ANCHOR_ADMIN:
		return "admin";
	case QL_TRUST_ANCHOR_SYSTEM:
		return "system";
	default:
		return "unknown";
	}
}

const gchar *
ql_trust_depth_to_string(guint depth, guint path_len)
{
	if (depth == 0)
		return "leaf";
	if (depth + 1 >= path_len)
		return "anchor";
	return "intermediate";
}

static void
ql_trust_crl_use_free(QlTrustCrlUse *use)
{
	if (use == NULL)
		return;
	g_free(use->issuer);
	g_free(use->file);
	g_free(use);
}

void
ql_trust_result_free(QlTrustResult *result)
{
	if (result == NULL)
		return;
	g_free(result->subject);
	g_free(result->anchor_subject);
	g_free(result->anchor_key_id);
	g_free(result->host);
	g_free(result->pin_subject);
	g_free(result->pin);
	g_ptr_array_unref(result->crls);
	g_ptr_array_unref(result->rejected);
	g_ptr_array_unref(result->no_crl);
	g_free(result);
}

QlTrustResult *
ql_trust_result_new(void)
{
	QlTrustResult *result = g_new0(QlTrustResult, 1);
	result->crls = g_ptr_array_new_with_free_func((GDestroyNotify)ql_trust_crl_use_free);
	result->rejected = g_ptr_array_new_with_free_func((GDestroyNotify)ql_trust_crl_use_free);
	result->no_crl = g_ptr_array_new_with_free_func(g_free);
	return result;
}

static gpointer
ql_trust_crl_use_copy(gconstpointer src, gpointer user_data)
{
	const QlTrustCrlUse *use = src;
	QlTrustCrlUse *copy = g_memdup2(use, sizeof(*use));
	copy->issuer = g_strdup(use->issuer);
	copy->file = g_strdup(use->file);
	return copy;
}

static gpointer
ql_trust_strdup_copy(gconstpointer src, gpointer user_data)
{
	return g_strdup(src);
}

QlTrustResult *
ql_trust_result_copy(const QlTrustResult *src)
{
	QlTrustResult *copy = g_memdup2(src, sizeof(*src));
	copy->subject = g_strdup(src->subject);
	copy->anchor_subject = g_strdup(src->anchor_subject);
	copy->anchor_key_id = g_strdup(src->anchor_key_id);
	copy->host = g_strdup(src->host);
	copy->pin_subject = g_strdup(src->pin_subject);
	copy->pin = g_strdup(src->pin);
	copy->crls = g_ptr_array_copy(src->crls, ql_trust_crl_use_copy, NULL);
	copy->rejected = g_ptr_array_copy(src->rejected, ql_trust_crl_use_copy, NULL);
	copy->no_crl = g_ptr_array_copy(src->no_crl, ql_trust_strdup_copy, NULL);
	return copy;
}

void
ql_trust_set_error(GError **error, QlTrustFailure failure, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *msg = NULL;

	va_start(args, format);
	msg = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, QL_ERROR, QL_ERROR_TLS, "certificate refused [%s]: %s",
		    ql_trust_failure_to_string(failure), msg);
}

/* sets both the reason and the error; always returns FALSE */
static gboolean G_GNUC_PRINTF(4, 5)
	ql_trust_refuse(QlTrustFailure *out, GError **error, QlTrustFailure failure,
			const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *msg = NULL;

	va_start(args, format);
	msg = g_strdup_vprintf(format, args);
	va_end(args);
	if (out != NULL)
		*out = failure;
	if (failure == QL_TRUST_FAILURE_WEAK_PROTOCOL ||
	    failure == QL_TRUST_FAILURE_CLIENT_CERT_REQUIRED || failure == QL_TRUST_FAILURE_TIMEOUT)
		g_set_error(error, QL_ERROR, QL_ERROR_TLS, "TLS refused [%s]: %s",
			    ql_trust_failure_to_string(failure), msg);
	else
		ql_trust_set_error(error, failure, "%s", msg);
	return FALSE;
}

static void
ql_trust_anchor_free(QlTrustAnchor *anchor)
{
	gnutls_x509_crt_deinit(anchor->crt);
	if (anchor->ski != NULL)
		g_bytes_unref(anchor->ski);
	g_free(anchor);
}

static void
ql_trust_finalize(GObject *object)
{
	QlTrust *self = QL_TRUST(object);
	g_ptr_array_unref(self->anchors);
	if (self->allowed_kids != NULL)
		g_ptr_array_unref(self->allowed_kids);
	g_hash_table_unref(self->pins);
	g_ptr_array_unref(self->refused);
	g_free(self->crl_dir);
	G_OBJECT_CLASS(ql_trust_parent_class)->finalize(object);
}

static void
ql_trust_class_init(QlTrustClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = ql_trust_finalize;
}

static void
ql_trust_init(QlTrust *self)
{
	self->anchors = g_ptr_array_new_with_free_func((GDestroyNotify)ql_trust_anchor_free);
	self->pins = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					   (GDestroyNotify)g_ptr_array_unref);
	self->refused = g_ptr_array_new_with_free_func(g_free);
}

QlTrust *
ql_trust_new(void)
{
	return g_object_new(QL_TYPE_TRUST, NULL);
}

gboolean
ql_trust_add_anchor(QlTrust *self, gnutls_x509_crt_t crt, gboolean admin, GError **error)
{
	QlTrustAnchor *anchor;
	gnutls_x509_crt_t copy;

	g_return_val_if_fail(QL_IS_TRUST(self), FALSE);
	copy = ql_pki_crt_copy(crt, error);
	if (copy == NULL)
		return FALSE;
	anchor = g_new0(QlTrustAnchor, 1);
	anchor->crt = copy;
	anchor->ski = ql_pki_subject_key_id(copy, NULL);
	anchor->admin = admin;
	g_ptr_array_add(self->anchors, anchor);
	return TRUE;
}

gboolean
ql_trust_add_anchor_file(QlTrust *self, const gchar *path, gboolean admin, GError **error)
{
	g_autoptr(GPtrArray) crts = ql_pki_load_bundle(path, error);
	if (crts == NULL)
		return FALSE;
	for (guint i = 0; i < crts->len; i++) {
		if (!ql_trust_add_anchor(self, g_ptr_array_index(crts, i), admin, error))
			return FALSE;
	}
	return TRUE;
}

guint
ql_trust_get_anchor_count(QlTrust *self)
{
	g_return_val_if_fail(QL_IS_TRUST(self), 0);
	return self->anchors->len;
}

void
ql_trust_set_allowed_ci_key_ids(QlTrust *self, GPtrArray *key_ids)
{
	g_return_if_fail(QL_IS_TRUST(self));
	g_clear_pointer(&self->allowed_kids, g_ptr_array_unref);
	if (key_ids == NULL)
		return;
	self->allowed_kids = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	for (guint i = 0; i < key_ids->len; i++)
		g_ptr_array_add(self->allowed_kids, g_bytes_ref(g_ptr_array_index(key_ids, i)));
}

void
ql_trust_set_use_system_store(QlTrust *self, gboolean use_system_store)
{
	g_return_if_fail(QL_IS_TRUST(self));
	self->use_system_store = use_system_store;
}

void
ql_trust_set_crl_dir(QlTrust *self, const gchar *crl_dir)
{
	g_return_if_fail(QL_IS_TRUST(self));
	g_free(self->crl_dir);
	self->crl_dir = g_strdup(crl_dir);
}

void
ql_trust_set_crl_required(QlTrust *self, gboolean required)
{
	g_return_if_fail(QL_IS_TRUST(self));
	self->crl_required = required;
}

gboolean
ql_trust_get_crl_required(QlTrust *self)
{
	g_return_val_if_fail(QL_IS_TRUST(self), FALSE);
	return self->crl_required;
}

void
ql_trust_set_now(QlTrust *self, gint64 now)
{
	g_return_if_fail(QL_IS_TRUST(self));
	self->now = now;
}

static GBytes *
ql_trust_parse_pin(const gchar *pin)
{
	g_autofree guchar *raw = NULL;
	gsize len = 0;
	const gchar *b64 = NULL;

	if (g_str_has_prefix(pin, "sha256//"))
		b64 = pin + strlen("sha256//");
	else if (g_str_has_prefix(pin, "pin-sha256:"))
		b64 = pin + strlen("pin-sha256:");
	if (b64 != NULL) {
		/* g_base64_decode() silently skips junk, so check the alphabet first */
		for (const gchar *p = b64; *p != '\0'; p++) {
			if (!g_ascii_isalnum(*p) && *p != '+' && *p != '/' && *p != '=')
				return NULL;
		}
		raw = g_base64_decode(b64, &len);
	} else if (strlen(pin) == 64) {
		raw = g_malloc(32);
		len = 32;
		for (guint i = 0; i < 32; i++) {
			gint hi = g_ascii_xdigit_value(pin[2 * i]);
			gint lo = g_ascii_xdigit_value(pin[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return NULL;
			raw[i] = (guchar)(hi << 4 | lo);
		}
	}
	if (raw == NULL || len != 32)
		return NULL;
	return g_bytes_new(raw, len);
}

gboolean
ql_trust_add_pin(QlTrust *self, const gchar *host, const gchar *pin, GError **error)
{
	GPtrArray *pins;
	GBytes *hash;
	g_autofree gchar *key = NULL;

	g_return_val_if_fail(QL_IS_TRUST(self), FALSE);
	hash = ql_trust_parse_pin(pin);
	if (hash == NULL || host == NULL || host[0] == '\0') {
		if (hash != NULL)
			g_bytes_unref(hash);
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "pin for '%s' is not a SHA-256 SPKI hash (sha256//BASE64, "
			    "pin-sha256:BASE64 or 64 hex digits)",
			    host != NULL ? host : "(no host)");
		return FALSE;
	}
	key = g_ascii_strdown(host, -1);
	pins = g_hash_table_lookup(self->pins, key);
	if (pins == NULL) {
		pins = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
		g_hash_table_insert(self->pins, g_steal_pointer(&key), pins);
	}
	g_ptr_array_add(pins, hash);
	return TRUE;
}

/* the eUICC lists @anchor's key id (FALSE while the list is not known) */
static gboolean
ql_trust_anchor_listed(QlTrust *self, QlTrustAnchor *anchor)
{
	if (self->allowed_kids == NULL || anchor->ski == NULL)
		return FALSE;
	for (guint i = 0; i < self->allowed_kids->len; i++) {
		if (g_bytes_equal(anchor->ski, g_ptr_array_index(self->allowed_kids, i)))
			return TRUE;
	}
	return FALSE;
}

/* The anchor rule (see ql_trust_set_allowed_ci_key_ids()): a signing chain needs a CI the eUICC
 * lists (the eUICC checks the same); a TLS chain any anchor, unless narrowed to the listed. */
static gboolean
ql_trust_anchor_usable(QlTrust *self, QlTrustAnchor *anchor, QlTrustPurpose purpose)
{
	if (self->allowed_kids == NULL)
		return TRUE;
	if (purpose == QL_TRUST_PURPOSE_TLS && self->tls_anchors == QL_TRUST_TLS_ANCHORS_ALL)
		return TRUE;
	return ql_trust_anchor_listed(self, anchor);
}

static QlTrustPurpose
ql_trust_purpose_of_role(QlCertRole role)
{
	if (role == QL_CERT_ROLE_NONE || role == QL_CERT_ROLE_DP_TLS || role == QL_CERT_ROLE_DS_TLS)
		return QL_TRUST_PURPOSE_TLS;
	return QL_TRUST_PURPOSE_SIGNING;
}

/* the system's WebPKI store counts for TLS chains only, and not once narrowed to the CIs the
 * eUICC lists */
static gboolean
ql_trust_use_system(QlTrust *self, QlTrustPurpose purpose)
{
	return self->use_system_store && purpose == QL_TRUST_PURPOSE_TLS &&
	       self->tls_anchors == QL_TRUST_TLS_ANCHORS_ALL;
}

void
ql_trust_set_tls_anchors(QlTrust *self, QlTrustTlsAnchors mode)
{
	g_return_if_fail(QL_IS_TRUST(self));
	self->tls_anchors = mode;
}

QlTrustTlsAnchors
ql_trust_get_tls_anchors(QlTrust *self)
{
	g_return_val_if_fail(QL_IS_TRUST(self), QL_TRUST_TLS_ANCHORS_ALL);
	return self->tls_anchors;
}

GStrv
ql_trust_get_anchor_key_ids(QlTrust *self, QlTrustPurpose purpose)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();

	g_return_val_if_fail(QL_IS_TRUST(self), NULL);
	for (guint i = 0; i < self->anchors->len; i++) {
		QlTrustAnchor *anchor = g_ptr_array_index(self->anchors, i);
		g_autofree gchar *hex = NULL;
		if (anchor->ski == NULL || !ql_trust_anchor_usable(self, anchor, purpose))
			continue;
		hex = ql_pki_hex(anchor->ski);
		g_strv_builder_add(b, hex);
	}
	return g_strv_builder_end(b);
}

static gchar *
ql_trust_crt_name(gnutls_x509_crt_t crt)
{
	return ql_pki_crt_name(crt, "(unnamed certificate)");
}

/* a trust list holding @all anchors, or only those usable for @purpose */
static gnutls_x509_trust_list_t
ql_trust_build_list(QlTrust *self, gboolean all, QlTrustPurpose purpose, gboolean with_system)
{
	gnutls_x509_trust_list_t tl = NULL;
	g_autofree gnutls_x509_crt_t *cas = NULL;
	guint n = 0;

	if (gnutls_x509_trust_list_init(&tl, 0) < 0)
		return NULL;
	cas = g_new0(gnutls_x509_crt_t, self->anchors->len + 1);
	for (guint i = 0; i < self->anchors->len; i++) {
		QlTrustAnchor *anchor = g_ptr_array_index(self->anchors, i);
		gnutls_x509_crt_t copy;
		if (!all && !ql_trust_anchor_usable(self, anchor, purpose))
			continue;
		copy = ql_pki_crt_copy(anchor->crt, NULL);
		if (copy != NULL)
			cas[n++] = copy;
	}
	/* the list takes ownership of the copies */
	if (n > 0 && gnutls_x509_trust_list_add_cas(tl, cas, n, 0) < 0) {
		for (guint i = 0; i < n; i++)
			gnutls_x509_crt_deinit(cas[i]);
	}
	if (with_system) {
		gint rc = gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
		if (rc < 0)
			g_debug("system trust store unavailable: %s", gnutls_strerror(rc));
	}
	return tl;
}

static void
ql_trust_list_free(gnutls_x509_trust_list_t tl)
{
	gnutls_x509_trust_list_deinit(tl, 1);
}

/* issuer of @crt among @chain (not @crt itself); NULL when none */
static gnutls_x509_crt_t
ql_trust_find_in_chain(gnutls_x509_crt_t crt, gnutls_x509_crt_t *chain, guint chain_len)
{
	for (guint i = 0; i < chain_len; i++) {
		unsigned int status = 0;
		if (chain[i] == crt || gnutls_x509_crt_equals(chain[i], crt))
			continue;
		if (!gnutls_x509_crt_check_issuer(crt, chain[i]))
			continue;
		if (gnutls_x509_crt_verify(crt, &chain[i], 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS,
					   &status) == 0 &&
		    status == 0)
			return chain[i];
	}
	return NULL;
}

/* The verified path leaf..anchor: @path gets borrowed chain certificates, @anchor_out a copy
 * of the anchor. GnuTLS already checked signatures; this only finds which certs were used. */
static gboolean
ql_trust_build_path(gnutls_x509_trust_list_t tl, gnutls_x509_crt_t *chain, guint chain_len,
		    GPtrArray *path, gnutls_x509_crt_t *anchor_out)
{
	gnutls_x509_crt_t cur = chain[0];

	for (guint depth = 0; depth < QL_TRUST_MAX_DEPTH; depth++) {
		gnutls_x509_crt_t issuer = NULL;
		gnutls_x509_crt_t next;

		g_ptr_array_add(path, cur);
		if (gnutls_x509_trust_list_get_issuer(tl, cur, &issuer, GNUTLS_TL_GET_COPY) == 0) {
			unsigned int status = 0;
			if (gnutls_x509_crt_verify(cur, &issuer, 1,
						   GNUTLS_VERIFY_DISABLE_TIME_CHECKS,
						   &status) == 0 &&
			    status == 0) {
				/* a root the server sent is the anchor itself: keep it once
				 * (unless the chain is only the anchor, e.g. a CI check) */
				if (path->len > 1 && gnutls_x509_crt_equals(cur, issuer))
					g_ptr_array_remove_index(path, path->len - 1);
				*anchor_out = issuer;
				return TRUE;
			}
			gnutls_x509_crt_deinit(issuer);
		}
		next = ql_trust_find_in_chain(cur, chain, chain_len);
		if (next == NULL)
			return FALSE;
		cur = next;
	}
	return FALSE;
}

static gboolean
ql_trust_check_time(QlTrust *self, gnutls_x509_crt_t crt, gboolean is_anchor, gint64 now,
		    QlTrustFailure *failure, GError **error)
{
	gint64 not_before = gnutls_x509_crt_get_activation_time(crt);
	gint64 not_after = gnutls_x509_crt_get_expiration_time(crt);
	g_autofree gchar *name = NULL;

	if (now < not_before) {
		g_autofree gchar *when = ql_pki_format_time(not_before);
		name = ql_trust_crt_name(crt);
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_NOT_YET_VALID,
				       "%s certificate '%s' is not valid before %s (check the "
				       "system clock)",
				       is_anchor ? "CI" : "the", name, when);
	}
	if (now > not_after) {
		g_autofree gchar *when = ql_pki_format_time(not_after);
		name = ql_trust_crt_name(crt);
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_EXPIRED,
				       "%s certificate '%s' expired on %s",
				       is_anchor ? "CI" : "the", name, when);
	}
	return TRUE;
}

static QlTrustCrlUse *
ql_trust_crl_use_new(QlCrlFile *f, const gchar *issuer_name, gint64 now)
{
	QlTrustCrlUse *use = g_new0(QlTrustCrlUse, 1);
	gint64 next = gnutls_x509_crl_get_next_update(f->crl);
	use->issuer = g_strdup(issuer_name);
	use->file = g_strdup(f->name);
	use->this_update = gnutls_x509_crl_get_this_update(f->crl);
	use->next_update = next == (time_t)-1 ? -1 : next;
	use->stale = use->next_update >= 0 && now > use->next_update;
	return use;
}

/* Each certificate of the path against the CRLs its own issuer signed. A CRL whose signature
 * does not verify is never used; a stale one still names revoked certificates. */
static gboolean
ql_trust_check_crls(QlTrust *self, GPtrArray *path, gnutls_x509_crt_t anchor, gint64 now,
		    QlTrustResult *result, QlTrustFailure *failure, GError **error)
{
	g_autoptr(GPtrArray) crls = ql_crl_read_dir(self->crl_dir, FALSE);

	result->crl_required = self->crl_required;
	for (guint i = 0; i < path->len; i++) {
		gnutls_x509_crt_t crt = g_ptr_array_index(path, i);
		gnutls_x509_crt_t issuer =
			i + 1 < path->len ? g_ptr_array_index(path, i + 1) : anchor;
		g_autofree gchar *issuer_name = ql_trust_crt_name(issuer);
		QlTrustCrlUse *stale = NULL;
		gboolean current = FALSE;

		for (guint j = 0; j < crls->len; j++) {
			QlCrlFile *f = g_ptr_array_index(crls, j);
			QlTrustCrlUse *use;
			gboolean names_issuer = FALSE;
			/* GnuTLS also flags a stale CRL (REVOCATION_DATA_SUPERSEDED): only the
			 * signature and the signer decide whether the CRL is used */
			gboolean signed_ok = ql_crl_issued_by(f->crl, issuer, &names_issuer);

			if (!names_issuer)
				continue;
			use = ql_trust_crl_use_new(f, issuer_name, now);
			if (!signed_ok) {
				g_debug("CRL %s names %s but its signature does not verify: not "
					"used",
					f->name, issuer_name);
				g_ptr_array_add(result->rejected, use);
				continue;
			}
			g_ptr_array_add(result->crls, use);
			if (gnutls_x509_crt_check_revocation(crt, &f->crl, 1) == 1) {
				g_autofree gchar *name = ql_trust_crt_name(crt);
				return ql_trust_refuse(
					failure, error, QL_TRUST_FAILURE_REVOKED,
					"certificate '%s' is revoked by its issuer's "
					"CRL (%s)",
					name, f->name);
			}
			if (use->stale)
				stale = use;
			else
				current = TRUE;
		}
		if (current)
			continue;
		if (self->crl_required && stale != NULL) {
			g_autofree gchar *when = ql_pki_format_time(stale->next_update);
			return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_STALE_CRL,
					       "the CRL of '%s' (%s) is stale: its next update was "
					       "due %s, and CRLs are required",
					       issuer_name, stale->file, when);
		}
		if (self->crl_required)
			return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_NO_CRL,
					       "no CRL of '%s' is in the CRL directory%s, and CRLs "
					       "are required",
					       issuer_name,
					       result->rejected->len > 0
						       ? " (one whose signature does not verify "
							 "was ignored)"
						       : "");
		if (stale == NULL)
			g_ptr_array_add(result->no_crl, g_steal_pointer(&issuer_name));
	}
	return TRUE;
}

/* RSA and DSA below 2048 bits, EC below 256 bits */
static gboolean
ql_trust_check_key_size(gnutls_x509_crt_t crt, QlTrustFailure *failure, GError **error)
{
	unsigned int bits = 0;
	gint pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
	guint min = 0;
	const gchar *kind = NULL;

	switch (pk) {
	case GNUTLS_PK_RSA:
	case GNUTLS_PK_RSA_PSS:
		min = 2048;
		kind = "RSA";
		break;
	case GNUTLS_PK_DSA:
		min = 2048;
		kind = "DSA";
		break;
	case GNUTLS_PK_ECDSA:
		min = 256;
		kind = "EC";
		break;
	default:
		return TRUE;
	}
	if (bits >= min)
		return TRUE;
	{
		g_autofree gchar *name = ql_trust_crt_name(crt);
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_WEAK_KEY,
				       "'%s' has a %u-bit %s key; at least %u bits are needed",
				       name, bits, kind, min);
	}
}

/* A TLS server signs the handshake: a keyUsage must allow digitalSignature, an
 * extendedKeyUsage must name serverAuth. */
static gboolean
ql_trust_check_tls_usage(gnutls_x509_crt_t crt, QlTrustFailure *failure, GError **error)
{
	unsigned int usage = 0;
	gboolean any_eku = FALSE;
	gboolean server_auth = FALSE;
	g_autofree gchar *name = NULL;

	if (gnutls_x509_crt_get_key_usage(crt, &usage, NULL) >= 0 &&
	    (usage & GNUTLS_KEY_DIGITAL_SIGNATURE) == 0) {
		name = ql_trust_crt_name(crt);
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_BAD_KEY_USAGE,
				       "'%s' has a keyUsage without digitalSignature, so it cannot "
				       "sign a TLS handshake",
				       name);
	}
	for (guint idx = 0; idx < 64; idx++) {
		gchar oid[128];
		size_t size = sizeof(oid);
		gint rc = gnutls_x509_crt_get_key_purpose_oid(crt, idx, oid, &size, NULL);
		if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		any_eku = TRUE;
		if (rc >= 0 && g_strcmp0(oid, GNUTLS_KP_TLS_WWW_SERVER) == 0)
			server_auth = TRUE;
	}
	if (any_eku && !server_auth) {
		name = ql_trust_crt_name(crt);
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_BAD_KEY_USAGE,
				       "'%s' has an extendedKeyUsage without serverAuth", name);
	}
	return TRUE;
}

/* The host must be named by a subjectAltName: an iPAddress for an IP literal, a dNSName for a
 * name. The CN is never used (GnuTLS would fall back to it when no dNSName is present). */
static gboolean
ql_trust_check_host(gnutls_x509_crt_t crt, const gchar *host, QlTrustResult *result,
		    QlTrustFailure *failure, GError **error)
{
	g_autofree gchar *name = NULL;
	gboolean has_dns = FALSE;

	if (g_hostname_is_ip_address(host)) {
		g_autoptr(GInetAddress) ip = g_inet_address_new_from_string(host);
		if (ip != NULL &&
		    gnutls_x509_crt_check_ip(crt, g_inet_address_to_bytes(ip),
					     (unsigned int)g_inet_address_get_native_size(ip),
					     0) != 0) {
			result->host_via_ip = TRUE;
			return TRUE;
		}
	} else {
		for (guint idx = 0; idx < 1024; idx++) {
			guint8 buf[512];
			size_t size = sizeof(buf);
			unsigned int type = 0;
			gint rc = gnutls_x509_crt_get_subject_alt_name2(crt, idx, buf, &size, &type,
									NULL);
			if (rc == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
				break;
			if (rc >= 0 && type == GNUTLS_SAN_DNSNAME)
				has_dns = TRUE;
		}
		/* with a dNSName present GnuTLS does not look at the CN */
		if (has_dns && gnutls_x509_crt_check_hostname2(crt, host, 0))
			return TRUE;
	}
	name = ql_trust_crt_name(crt);
	if (gnutls_x509_crt_check_hostname2(crt, host, 0))
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_WRONG_HOST,
				       "the certificate '%s' names %s only in its common name; "
				       "the host must be in its subjectAltName",
				       name, host);
	return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_WRONG_HOST,
			       "the certificate '%s' is not valid for host %s", name, host);
}

/* What the table knows of the CI a chain names as its root: " (NAME, an SGP.26 test CI: ...)" */
static gchar *
ql_trust_ci_hint(gnutls_x509_crt_t top)
{
	g_autoptr(GBytes) kid = ql_pki_authority_key_id(top, NULL);
	const QlCiInfo *ci;

	if (kid == NULL)
		kid = ql_pki_subject_key_id(top, NULL);
	ci = kid != NULL ? ql_ci_lookup(kid) : NULL;
	if (ci == NULL)
		return g_strdup("");
	if (ci->kind == QL_CI_TEST)
		return g_strdup_printf(" (%s, an SGP.26 test CI: trusted only when added as an "
				       "anchor)",
				       ci->name);
	if (ci->file == NULL)
		return g_strdup_printf(" (%s, a production CI this release does not ship: add "
				       "it as an anchor to trust it)",
				       ci->name);
	return g_strdup_printf(" (%s)", ci->name);
}

/* "; refused: ..." for the shipped CI files that failed their check */
static gchar *
ql_trust_refused_note(QlTrust *self)
{
	g_autoptr(GString) s = g_string_new(NULL);
	for (guint i = 0; i < self->refused->len; i++)
		g_string_append_printf(s, "; %s",
				       (const gchar *)g_ptr_array_index(self->refused, i));
	return g_string_free(g_steal_pointer(&s), FALSE);
}

static gboolean
ql_trust_check_chain_status(QlTrust *self, gnutls_x509_crt_t *chain, guint chain_len,
			    QlTrustPurpose purpose, unsigned int status, QlTrustFailure *failure,
			    GError **error)
{
	g_autofree gchar *leaf = ql_trust_crt_name(chain[0]);

	if (status & GNUTLS_CERT_SIGNER_NOT_FOUND) {
		gnutls_x509_trust_list_t all = ql_trust_build_list(self, TRUE, purpose, FALSE);
		unsigned int all_status = 0xffff;
		g_autofree gchar *issuer = NULL;
		g_autofree gchar *hint = ql_trust_ci_hint(chain[chain_len - 1]);
		g_autofree gchar *refused = ql_trust_refused_note(self);
		gnutls_datum_t dn = {NULL, 0};

		/* name the CI the eUICC would not accept, if an excluded anchor is the issuer */
		if (all != NULL) {
			gnutls_x509_trust_list_verify_crt2(
				all, chain, chain_len, NULL, 0,
				GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
					GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
				&all_status, NULL);
			ql_trust_list_free(all);
		}
		if (gnutls_x509_crt_get_issuer_dn3(chain[chain_len - 1], &dn, 0) >= 0) {
			issuer = g_strndup((const gchar *)dn.data, dn.size);
			gnutls_free(dn.data);
		}
		if (all_status == 0 && purpose == QL_TRUST_PURPOSE_TLS)
			return ql_trust_refuse(
				failure, error, QL_TRUST_FAILURE_UNKNOWN_CI,
				"'%s' chains to CI '%s'%s, which this eUICC does not "
				"list, and the TLS anchors are limited to the CIs it "
				"lists (tls-anchors=euicc-listed)",
				leaf, issuer != NULL ? issuer : "?", hint);
		if (all_status == 0)
			return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_UNKNOWN_CI,
					       "'%s' chains to CI '%s'%s, which is not one this "
					       "eUICC accepts (euiccCiPKIdListForVerification)",
					       leaf, issuer != NULL ? issuer : "?", hint);
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_UNKNOWN_CI,
				       "'%s' does not chain to a trusted CI (issuer '%s'%s)%s",
				       leaf, issuer != NULL ? issuer : "?", hint, refused);
	}
	if (status & GNUTLS_CERT_SIGNATURE_FAILURE)
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_BAD_SIGNATURE,
				       "a signature in the chain of '%s' does not verify", leaf);
	if (status & GNUTLS_CERT_INSECURE_ALGORITHM)
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_BAD_SIGNATURE,
				       "the chain of '%s' uses an insecure signature algorithm",
				       leaf);
	if (status & GNUTLS_CERT_REVOKED)
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_REVOKED,
				       "'%s' or its issuer is revoked", leaf);
	if (status & GNUTLS_CERT_SIGNER_NOT_CA)
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_BAD_CHAIN,
				       "an issuer in the chain of '%s' is not a CA", leaf);
	if (status & GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE)
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_BAD_CHAIN,
				       "the chain of '%s' breaks its issuer's constraints", leaf);
	return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_BAD_CHAIN,
			       "the chain of '%s' is not valid (GnuTLS status 0x%x)", leaf, status);
}

static gboolean
ql_trust_check_pins(QlTrust *self, const gchar *host, GPtrArray *path, gnutls_x509_crt_t anchor,
		    QlTrustResult *result, QlTrustFailure *failure, GError **error)
{
	g_autofree gchar *key = NULL;
	GPtrArray *pins;

	if (host == NULL)
		return TRUE;
	key = g_ascii_strdown(host, -1);
	pins = g_hash_table_lookup(self->pins, key);
	if (pins == NULL)
		return TRUE;
	for (guint i = 0; i <= path->len; i++) {
		gnutls_x509_crt_t crt = i < path->len ? g_ptr_array_index(path, i) : anchor;
		g_autoptr(GBytes) spki = ql_pki_spki_sha256(crt, NULL);
		if (spki == NULL)
			continue;
		for (guint j = 0; j < pins->len; j++) {
			g_autofree gchar *b64 = NULL;
			if (!g_bytes_equal(spki, g_ptr_array_index(pins, j)))
				continue;
			b64 = g_base64_encode(g_bytes_get_data(spki, NULL), g_bytes_get_size(spki));
			result->pin_checked = TRUE;
			result->pin_depth = MIN(i, result->path_len - 1);
			result->pin_subject = ql_trust_crt_name(crt);
			result->pin = g_strdup_printf("sha256//%s", b64);
			return TRUE;
		}
	}
	{
		g_autoptr(GBytes) leaf_spki = ql_pki_spki_sha256(g_ptr_array_index(path, 0), NULL);
		g_autofree gchar *b64 = NULL;
		if (leaf_spki != NULL)
			b64 = g_base64_encode(g_bytes_get_data(leaf_spki, NULL),
					      g_bytes_get_size(leaf_spki));
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_PIN_MISMATCH,
				       "no key in the chain of %s matches its configured pins "
				       "(server key sha256//%s)",
				       host, b64 != NULL ? b64 : "?");
	}
}

/* where @anchor came from: a shipped CI wins over the same certificate added by the admin; one
 * of neither came from the system store. *@listed: the eUICC lists it. */
static QlTrustAnchorSource
ql_trust_anchor_source(QlTrust *self, gnutls_x509_crt_t anchor, QlTrustPurpose purpose,
		       gboolean *listed)
{
	gboolean admin = FALSE;
	*listed = FALSE;
	for (guint i = 0; i < self->anchors->len; i++) {
		QlTrustAnchor *a = g_ptr_array_index(self->anchors, i);
		if (!ql_trust_anchor_usable(self, a, purpose) ||
		    !gnutls_x509_crt_equals(a->crt, anchor))
			continue;
		*listed = ql_trust_anchor_listed(self, a);
		if (!a->admin)
			return QL_TRUST_ANCHOR_GSMA_CI;
		admin = TRUE;
	}
	return admin ? QL_TRUST_ANCHOR_ADMIN : QL_TRUST_ANCHOR_SYSTEM;
}

gboolean
ql_trust_verify_chain_full(QlTrust *self, gnutls_x509_crt_t *chain, guint chain_len,
			   const gchar *host, QlCertRole role, QlTrustResult **result_out,
			   QlTrustFailure *failure, GError **error)
{
	g_autoptr(GPtrArray) path = g_ptr_array_new();
	g_autoptr(QlTrustResult) result = ql_trust_result_new();
	g_auto(gnutls_x509_crt_t) anchor = NULL;
	g_autoptr(GBytes) anchor_ski = NULL;
	gnutls_x509_trust_list_t tl;
	unsigned int status = 0;
	QlTrustPurpose purpose = ql_trust_purpose_of_role(role);
	gint64 now;
	gint rc;
	gboolean ok;

	g_return_val_if_fail(QL_IS_TRUST(self), FALSE);
	if (failure != NULL)
		*failure = QL_TRUST_OK;
	if (result_out != NULL)
		*result_out = NULL;
	if (chain == NULL || chain_len == 0)
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_NO_CERTIFICATE,
				       "no certificate was presented");
	if (chain_len > 16)
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_BAD_CHAIN,
				       "a chain of %u certificates is too long", chain_len);
	now = self->now != 0 ? self->now : g_get_real_time() / G_USEC_PER_SEC;

	/* 0. no weak key anywhere in what was presented (GnuTLS would call it a bad signature) */
	for (guint i = 0; i < chain_len; i++) {
		if (!ql_trust_check_key_size(chain[i], failure, error))
			return FALSE;
	}

	/* 1. the chain builds to a usable anchor, signatures and constraints hold */
	tl = ql_trust_build_list(self, FALSE, purpose, ql_trust_use_system(self, purpose));
	if (tl == NULL)
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_BAD_CHAIN,
				       "cannot set up the trust list");
	rc = gnutls_x509_trust_list_verify_crt2(tl, chain, chain_len, NULL, 0,
						GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
							GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
						&status, NULL);
	if (rc < 0) {
		ql_trust_list_free(tl);
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_BAD_CHAIN,
				       "the chain cannot be checked: %s", gnutls_strerror(rc));
	}
	if (status != 0) {
		ql_trust_list_free(tl);
		return ql_trust_check_chain_status(self, chain, chain_len, purpose, status, failure,
						   error);
	}
	ok = ql_trust_build_path(tl, chain, chain_len, path, &anchor);
	ql_trust_list_free(tl);
	if (!ok || path->len == 0)
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_BAD_CHAIN,
				       "the verified chain cannot be followed to its anchor");
	if (!ql_trust_check_key_size(anchor, failure, error))
		return FALSE;
	result->subject = ql_trust_crt_name(g_ptr_array_index(path, 0));
	result->anchor_subject = ql_trust_crt_name(anchor);
	anchor_ski = ql_pki_subject_key_id(anchor, NULL);
	result->anchor_key_id = anchor_ski != NULL ? ql_pki_hex(anchor_ski) : NULL;
	result->anchor_source =
		ql_trust_anchor_source(self, anchor, purpose, &result->anchor_listed);
	/* the anchor counts once, also when the path is the anchor alone */
	result->path_len = path->len;
	if (!gnutls_x509_crt_equals(g_ptr_array_index(path, path->len - 1), anchor))
		result->path_len++;

	/* 2. validity of every certificate, anchor included, against our clock */
	for (guint i = 0; i < path->len; i++) {
		if (!ql_trust_check_time(self, g_ptr_array_index(path, i), FALSE, now, failure,
					 error))
			return FALSE;
	}
	if (!ql_trust_check_time(self, anchor, TRUE, now, failure, error))
		return FALSE;

	/* 3. revocation: each certificate against CRLs its own issuer signed */
	if (!ql_trust_check_crls(self, path, anchor, now, result, failure, error))
		return FALSE;

	/* 4. role: a GSMA CI vouches only for the role its policy OID names (SGP.22 4.5.2). Only
	 * TLS certificates may come from elsewhere (WebPKI); a signing certificate from an anchor
	 * without the CI role would otherwise skip the role check */
	if (role != QL_CERT_ROLE_NONE && role != QL_CERT_ROLE_DP_TLS &&
	    role != QL_CERT_ROLE_DS_TLS && ql_pki_cert_role(anchor) != QL_CERT_ROLE_CI) {
		g_autofree gchar *name = ql_trust_crt_name(g_ptr_array_index(path, 0));
		g_autofree gchar *anchor_name = ql_trust_crt_name(anchor);
		return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_UNKNOWN_CI,
				       "'%s' chains to '%s', which is not a GSMA CI (policy %s); a "
				       "%s certificate must come from one",
				       name, anchor_name, ql_pki_role_oid(QL_CERT_ROLE_CI),
				       ql_pki_role_name(role));
	}
	if (role != QL_CERT_ROLE_NONE && ql_pki_cert_role(anchor) == QL_CERT_ROLE_CI) {
		QlCertRole got = ql_pki_cert_role(g_ptr_array_index(path, 0));
		if (got != role) {
			g_autofree gchar *name = ql_trust_crt_name(g_ptr_array_index(path, 0));
			return ql_trust_refuse(failure, error, QL_TRUST_FAILURE_WRONG_ROLE,
					       "'%s' is a %s certificate (policy %s), a %s "
					       "certificate (%s) is needed here",
					       name, ql_pki_role_name(got),
					       got == QL_CERT_ROLE_NONE ? "none"
									: ql_pki_role_oid(got),
					       ql_pki_role_name(role), ql_pki_role_oid(role));
		}
	}

	/* 5. a TLS server: host name on subjectAltName only, key usable for TLS server auth */
	if (host != NULL) {
		if (!ql_trust_check_host(g_ptr_array_index(path, 0), host, result, failure, error))
			return FALSE;
		if (!ql_trust_check_tls_usage(g_ptr_array_index(path, 0), failure, error))
			return FALSE;
		result->host = g_strdup(host);
	}

	/* 6. pins */
	if (!ql_trust_check_pins(self, host, path, anchor, result, failure, error))
		return FALSE;
	if (result_out != NULL)
		*result_out = g_steal_pointer(&result);
	return TRUE;
}

gboolean
ql_trust_verify_chain(QlTrust *self, gnutls_x509_crt_t *chain, guint chain_len, const gchar *host,
		      QlCertRole role, GError **error)
{
	return ql_trust_verify_chain_full(self, chain, chain_len, host, role, NULL, NULL, error);
}

gboolean
ql_trust_verify_der_chain(QlTrust *self, GPtrArray *der_chain, const gchar *host, QlCertRole role,
			  QlTrustResult **result, GError **error)
{
	g_autoptr(GPtrArray) crts =
		g_ptr_array_new_with_free_func((GDestroyNotify)gnutls_x509_crt_deinit);

	for (guint i = 0; der_chain != NULL && i < der_chain->len; i++) {
		GBytes *der = g_ptr_array_index(der_chain, i);
		gnutls_x509_crt_t crt = ql_pki_crt_from_bytes(g_bytes_get_data(der, NULL),
							      g_bytes_get_size(der), NULL);
		if (crt == NULL) {
			ql_trust_set_error(error, QL_TRUST_FAILURE_BAD_CHAIN,
					   "certificate %u of the chain is not valid X.509", i);
			return FALSE;
		}
		g_ptr_array_add(crts, crt);
	}
	return ql_trust_verify_chain_full(self, (gnutls_x509_crt_t *)crts->pdata, crts->len, host,
					  role, result, NULL, error);
}

/* ---- the CI table ---- */

/* One table for the anchors and for the names `chip info` prints. A shipped CI is trusted only
 * when its file's DER has the SHA-256 below (each compared with copies that two unrelated
 * public sources publish). Entrust's eSIM CA is named but not shipped: the only public copies
 * of its certificate found trace back to one source, so its fingerprint is not confirmed
 * independently; an administrator who has confirmed it adds it as an anchor. */
static const QlCiInfo ql_ci_infos[] = {
	{"81370F5125D0B1D408D4C3B232E6D25E795BEBFB", "GSM Association - RSP2 Root CI1",
	 QL_CI_PRODUCTION, "gsma-rsp2-root-ci1.pem",
	 "5E3E91FD454327C3AF5D32A7A73BBC59FE43AA7D85FD32D5DB44423F80A56BB3", NULL},
	{"4C27967AD20C14B391E9601E41E604AD57C0222F", "OISTE GSMA CI G1", QL_CI_PRODUCTION,
	 "oiste-gsma-ci-g1.pem", "9C9FA2E94602C260137122D9704D79993A6EF6D067CE0999EC2F4C109DD7A1A2",
	 /* the certificate names no CRL distribution point; WISeKey publishes it here */
	 "http://public.wisekey.com/crl/ogsmacig1.crl"},
	{"16704B7F351E3607F18C4B70005C3A003DFD414A", "Entrust eSIM Certification Authority",
	 QL_CI_PRODUCTION, NULL, NULL, NULL},
	{"CD6E60B72D7A063CBC84625B91E80FE30406E13E", "MC4 OT ROOT CI v1 (IDEMIA)", QL_CI_PRODUCTION,
	 NULL, NULL, NULL},
	{"B60F0B897FD630B88CFED6161F8EA808C5382AC3", "SubMan V4.2 CI Google Pixel (G+D)",
	 QL_CI_PRODUCTION, NULL, NULL, NULL},
	{"F54172BDF98A95D65CBEB88A38A1C11D800A85C3", "GSMA SGP.26 test CI (NIST P-256)", QL_CI_TEST,
	 NULL, NULL, NULL},
	{"C0BC70BA36929D43B467FF57570530E57AB8FCD8", "GSMA SGP.26 test CI (brainpool)", QL_CI_TEST,
	 NULL, NULL, NULL},
	{"34EECF13156518D48D30BDF06853404D115F955D", "GSMA SGP.26 v3 test CI (NIST P-256)",
	 QL_CI_TEST, NULL, NULL, NULL},
	{"2209F61CD9EC5C9C854E787341FF83ECF9776A5B", "GSMA SGP.26 v3 test CI (brainpool)",
	 QL_CI_TEST, NULL, NULL, NULL},
};

const QlCiInfo *
ql_ci_table(guint *n_entries)
{
	if (n_entries != NULL)
		*n_entries = G_N_ELEMENTS(ql_ci_infos);
	return ql_ci_infos;
}

const QlCiInfo *
ql_ci_lookup_hex(const gchar *key_id_hex)
{
	for (guint i = 0; key_id_hex != NULL && i < G_N_ELEMENTS(ql_ci_infos); i++) {
		if (g_ascii_strcasecmp(key_id_hex, ql_ci_infos[i].key_id) == 0)
			return &ql_ci_infos[i];
	}
	return NULL;
}

const QlCiInfo *
ql_ci_lookup(GBytes *key_id)
{
	g_autofree gchar *hex = NULL;
	if (key_id == NULL)
		return NULL;
	hex = ql_pki_hex(key_id);
	return ql_ci_lookup_hex(hex);
}

static const QlCiInfo *
ql_ci_lookup_file(const gchar *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(ql_ci_infos); i++) {
		if (g_strcmp0(ql_ci_infos[i].file, name) == 0)
			return &ql_ci_infos[i];
	}
	return NULL;
}

/* The one certificate of a shipped file, if its DER has the SHA-256 of @ci; else NULL and
 * @why says what is wrong */
static gnutls_x509_crt_t
ql_trust_check_shipped_file(const gchar *path, const QlCiInfo *ci, gchar **why)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GPtrArray) crts = ql_pki_load_bundle(path, &local);
	g_autoptr(GBytes) der = NULL;
	g_autofree gchar *sha = NULL;

	if (crts == NULL) {
		*why = g_strdup_printf("it cannot be read as a certificate: %s", local->message);
		return NULL;
	}
	if (crts->len != 1) {
		*why = g_strdup_printf("it holds %u certificates, a shipped CI file holds one",
				       crts->len);
		return NULL;
	}
	der = ql_pki_export_der(g_ptr_array_index(crts, 0), NULL);
	if (der != NULL)
		sha = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, der);
	if (sha == NULL || g_ascii_strcasecmp(sha, ci->sha256) != 0) {
		g_autofree gchar *upper = sha != NULL ? g_ascii_strup(sha, -1) : NULL;
		*why = g_strdup_printf("its SHA-256 %s is not the %s compiled in for %s",
				       upper != NULL ? upper : "?", ci->sha256, ci->name);
		return NULL;
	}
	return ql_pki_crt_copy(g_ptr_array_index(crts, 0), NULL);
}

static gint
ql_trust_cmp_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

GPtrArray *
ql_trust_load_shipped_cis(const gchar *ci_dir, GPtrArray *infos, GPtrArray *refused)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)gnutls_x509_crt_deinit);
	g_autoptr(GDir) dir = g_dir_open(ci_dir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const gchar *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		if (name[0] != '.')
			g_ptr_array_add(names, g_strdup(name));
	}
	g_ptr_array_sort(names, ql_trust_cmp_names);
	for (guint i = 0; i < names->len; i++) {
		const gchar *file = g_ptr_array_index(names, i);
		g_autofree gchar *path = g_build_filename(ci_dir, file, NULL);
		const QlCiInfo *ci = ql_ci_lookup_file(file);
		g_autofree gchar *why = NULL;
		gnutls_x509_crt_t crt = NULL;

		if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
			continue;
		if (ci == NULL)
			why = g_strdup("it is not a CI this release ships (add it as a trust "
				       "anchor to trust it)");
		else
			crt = ql_trust_check_shipped_file(path, ci, &why);
		if (crt == NULL) {
			g_autofree gchar *msg = g_strdup_printf(
				"the CI file %s was refused and is not trusted: %s", path, why);
			g_warning("%s", msg);
			if (refused != NULL)
				g_ptr_array_add(refused, g_steal_pointer(&msg));
			continue;
		}
		g_ptr_array_add(out, crt);
		if (infos != NULL)
			g_ptr_array_add(infos, (gpointer)ci);
	}
	return out;
}

guint
ql_trust_add_shipped_cis(QlTrust *self, const gchar *ci_dir)
{
	g_autoptr(GPtrArray) crts = NULL;
	guint added = 0;

	g_return_val_if_fail(QL_IS_TRUST(self), 0);
	crts = ql_trust_load_shipped_cis(ci_dir, NULL, self->refused);
	for (guint i = 0; i < crts->len; i++) {
		if (ql_trust_add_anchor(self, g_ptr_array_index(crts, i), FALSE, NULL))
			added++;
	}
	return added;
}
