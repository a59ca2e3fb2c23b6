/*
 * Profile download. See ql-download.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-crypto.h"
#include "ql-download.h"
#include "ql-es10.h"
#include "ql-json.h"
#include "ql-pki.h"
#include "ql-text.h"
#include "ql-tlv.h"

gchar *
ql_data_dir(void)
{
	const gchar *env = g_getenv("QL_DATA_DIR");
	if (env != NULL && env[0] != '\0')
		return g_strdup(env);
	if (ql_running_uninstalled())
		return g_build_filename(QL_SOURCE_ROOT, "data", NULL);
	return g_strdup(QL_PKGDATADIR);
}

const gchar *
ql_download_step_to_string(QlDownloadStep step)
{
	static const gchar *names[] = {
		"reading the eUICC",	   "initiateAuthentication", "AuthenticateServer",
		"authenticateClient",	   "PrepareDownload",	     "getBoundProfilePackage",
		"LoadBoundProfilePackage", "handleNotification",     "done",
	};
	return step <= QL_DOWNLOAD_STEP_DONE ? names[step] : "unknown step";
}

void
ql_download_report_free(QlDownloadReport *r)
{
	if (r == NULL)
		return;
	g_free(r->iccid);
	g_free(r->profile_name);
	g_free(r->service_provider);
	g_free(r->isdp_aid);
	g_free(r->smdp_address);
	g_free(r->tls_version);
	g_free(r->cipher_suite);
	g_free(r->tls_policy);
	ql_trust_result_free(r->tls_trust);
	ql_trust_result_free(r->dpauth_trust);
	ql_trust_result_free(r->dppb_trust);
	g_free(r->client_cert_subject);
	g_free(r->notification_error);
	g_free(r);
}

static void
ql_download_progress(const QlDownloadOptions *opts, QlDownloadStep step, guint percent)
{
	if (opts->progress != NULL)
		opts->progress(step, percent, opts->user_data);
}

QlTrust *
ql_download_make_trust(const QlDownloadOptions *opts, GError **error)
{
	g_autoptr(QlTrust) trust = ql_trust_new();
	g_autofree gchar *data = NULL;
	g_autofree gchar *ci_dir = NULL;

	/* the shipped GSMA CIs, each checked against the SHA-256 compiled in */
	if (opts->ci_dir != NULL) {
		ci_dir = g_strdup(opts->ci_dir);
	} else {
		data = ql_data_dir();
		ci_dir = g_build_filename(data, "ci", NULL);
	}
	ql_trust_add_shipped_cis(trust, ci_dir);
	if (opts->tls_anchors_euicc_listed && opts->use_system_store) {
		g_set_error_literal(
			error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			"the TLS anchors are limited to the CIs the eUICC lists "
			"(tls-anchors=euicc-listed), so the system store cannot be used "
			"as well");
		return NULL;
	}
	ql_trust_set_tls_anchors(trust, opts->tls_anchors_euicc_listed
						? QL_TRUST_TLS_ANCHORS_EUICC_LISTED
						: QL_TRUST_TLS_ANCHORS_ALL);
	for (guint i = 0; opts->trust_anchor_files != NULL && i < opts->trust_anchor_files->len;
	     i++) {
		const gchar *path = g_ptr_array_index(opts->trust_anchor_files, i);
		if (!ql_trust_add_anchor_file(trust, path, TRUE, error))
			return NULL;
	}
	ql_trust_set_use_system_store(trust, opts->use_system_store);
	if (opts->crl_required && opts->crl_dir == NULL) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "CRLs are required but no CRL directory is set");
		return NULL;
	}
	if (opts->crl_dir != NULL)
		ql_trust_set_crl_dir(trust, opts->crl_dir);
	ql_trust_set_crl_required(trust, opts->crl_required);
	for (guint i = 0; opts->pins != NULL && i < opts->pins->len; i++) {
		const gchar *entry = g_ptr_array_index(opts->pins, i);
		const gchar *eq = strchr(entry, '=');
		g_autofree gchar *host = NULL;
		if (eq == NULL) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "a pin is HOST=sha256//BASE64, not '%s'", entry);
			return NULL;
		}
		host = g_strndup(entry, eq - entry);
		if (!ql_trust_add_pin(trust, host, eq + 1, error))
			return NULL;
	}
	if (opts->now != 0)
		ql_trust_set_now(trust, opts->now);
	return g_steal_pointer(&trust);
}

static QlHttp *
ql_download_make_http(QlTrust *trust, const QlDownloadOptions *opts, GError **error)
{
	g_autoptr(QlTls) tls = ql_tls_new(trust, opts->policy);
	QlHttp *http;

	if (opts->client_cert != NULL &&
	    !ql_tls_set_client_certificate(tls, opts->client_cert, opts->client_key, error))
		return NULL;
	if (opts->timeout_ms > 0)
		ql_tls_set_timeout(tls, opts->timeout_ms);
	http = ql_http_new(tls);
	if (opts->timeout_ms > 0)
		ql_http_set_timeout(http, opts->timeout_ms);
	if (opts->cancellable != NULL)
		ql_http_set_cancellable(http, opts->cancellable);
	if (opts->proxy != NULL)
		ql_http_set_proxy(http, opts->proxy);
	return http;
}

/* What every exchange with an RSP server starts from: what the eUICC trusts, a fresh challenge,
 * and one HTTPS client whose trust is narrowed to the CIs the eUICC lists. */
typedef struct {
	QlEuiccInfo1 *info1;
	GBytes *challenge;
	QlTrust *trust;
	QlHttp *http;
	QlEs9p *es9p;
	gint64 deadline; /* of the whole session, monotonic */
	guint deadline_ms;
	guint64 apdus_beside_connect; /* sent while the connection was being set up */
} QlRspSession;

static void
ql_rsp_session_clear(QlRspSession *s)
{
	g_clear_pointer(&s->info1, ql_euicc_info1_free);
	g_clear_pointer(&s->challenge, g_bytes_unref);
	g_clear_object(&s->trust);
	g_clear_object(&s->http);
	g_clear_object(&s->es9p);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QlRspSession, ql_rsp_session_clear)

/* The connection to the server, set up on a thread of its own while the eUICC is read: TCP at
 * once, the TLS handshake (whose verification needs the CIs the eUICC lists) once the gate
 * opens. A failure is kept by the HTTP client for the first request, so that it is reported
 * where it always was. */
typedef struct {
	QlHttp *http;
	gchar *url;
	GMutex lock;
	GCond cond;
	gint gate; /* 0: wait, 1: go on with the handshake, -1: give up */
	GThread *thread;
} QlPreconnect;

static gboolean
ql_preconnect_wait_gate(gpointer user_data)
{
	QlPreconnect *pc = user_data;
	gboolean go;
	g_mutex_lock(&pc->lock);
	while (pc->gate == 0)
		g_cond_wait(&pc->cond, &pc->lock);
	go = pc->gate > 0;
	g_mutex_unlock(&pc->lock);
	return go;
}

static gpointer
ql_preconnect_run(gpointer user_data)
{
	QlPreconnect *pc = user_data;
	g_autoptr(GError) error = NULL;
	if (!ql_http_preconnect(pc->http, pc->url, ql_preconnect_wait_gate, pc, &error))
		g_debug("no early connection: %s", error->message);
	return NULL;
}

static void
ql_preconnect_open_gate(QlPreconnect *pc, gboolean go)
{
	g_mutex_lock(&pc->lock);
	if (pc->gate == 0)
		pc->gate = go ? 1 : -1;
	g_cond_signal(&pc->cond);
	g_mutex_unlock(&pc->lock);
}

/* Waits for the connecting thread; @abandon breaks off what it is doing first. */
static void
ql_preconnect_finish(QlPreconnect *pc, gboolean abandon)
{
	if (pc->thread == NULL)
		return;
	if (abandon) {
		ql_preconnect_open_gate(pc, FALSE);
		ql_http_interrupt(pc->http);
	}
	g_thread_join(g_steal_pointer(&pc->thread));
	g_mutex_clear(&pc->lock);
	g_cond_clear(&pc->cond);
	g_free(pc->url);
}

static gboolean
ql_rsp_session_open(QlRspSession *s, QlChannel *ch, const gchar *address, gboolean es11,
		    const QlDownloadOptions *opts, GError **error)
{
	QlPreconnect pc = {0};
	guint64 apdus_before = ql_channel_get_stats(ch)->apdus;

	/* the whole session's clock starts now: every request, and the steps between them */
	s->deadline_ms = opts->download_timeout_ms > 0 ? opts->download_timeout_ms
						       : QL_DOWNLOAD_DEFAULT_TIMEOUT_MS;
	s->deadline = g_get_monotonic_time() + (gint64)s->deadline_ms * 1000;
	s->trust = ql_download_make_trust(opts, error);
	if (s->trust == NULL)
		return FALSE;
	s->http = ql_download_make_http(s->trust, opts, error);
	if (s->http == NULL)
		return FALSE;
	ql_http_set_deadline(s->http, s->deadline, s->deadline_ms);
	/* an SM-DS may run beside an SM-DP+ with its certificates: DS or DP roles, checked by the
	 * caller after the handshake */
	if (es11)
		ql_tls_set_expected_role(ql_http_get_tls(s->http), QL_CERT_ROLE_NONE);
	s->es9p = ql_es9p_new(s->http, address);

	/* the connection is set up while the eUICC's first reads run */
	pc.http = s->http;
	pc.url = g_strdup_printf("https://%s/gsma/rsp2/", address);
	g_mutex_init(&pc.lock);
	g_cond_init(&pc.cond);
	pc.thread = g_thread_new("ql-connect", ql_preconnect_run, &pc);
	s->info1 = ql_es10_get_euicc_info1(ch, error);
	if (s->info1 == NULL) {
		ql_preconnect_finish(&pc, TRUE);
		return FALSE;
	}
	ql_trust_set_allowed_ci_key_ids(s->trust, s->info1->ci_pkid_verification);
	ql_preconnect_open_gate(&pc, TRUE);
	s->challenge = ql_es10_get_euicc_challenge(ch, error);
	s->apdus_beside_connect = ql_channel_get_stats(ch)->apdus - apdus_before;
	ql_preconnect_finish(&pc, s->challenge == NULL);
	return s->challenge != NULL;
}

/* Between the steps that do not go through HTTP (the eUICC's, the user's confirmation code):
 * FALSE with QL_ERROR_TIMEOUT once the session's deadline has passed. A step already running on
 * the eUICC is never cut: the card decides when it ends. */
static gboolean
ql_rsp_session_in_time(QlRspSession *s, GError **error)
{
	if (g_get_monotonic_time() < s->deadline)
		return TRUE;
	if (s->deadline_ms % 1000 == 0)
		g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
			    "the download did not finish within its deadline of %u s",
			    s->deadline_ms / 1000);
	else
		g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
			    "the download did not finish within its deadline of %u ms",
			    s->deadline_ms);
	return FALSE;
}

/* The DPauth / DPpb certificate: chain to an accepted CI with the right role, and (for DPauth)
 * the server's signature over what it signed, before the eUICC sees any of it. */
static gboolean
ql_download_check_signer(QlTrust *trust, GBytes *cert_der, QlCertRole role, GBytes *signed_tlv,
			 GBytes *signature_tlv, const gchar *what, QlTrustResult **result,
			 GError **error)
{
	g_autoptr(GPtrArray) chain = g_ptr_array_new();
	g_autoptr(GError) local = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t d;
	guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN];
	gboolean ok;

	g_ptr_array_add(chain, cert_der);
	if (!ql_trust_verify_der_chain(trust, chain, NULL, role, result, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_TLS,
			    "the SM-DP+'s %s certificate was refused: %s", what, local->message);
		return FALSE;
	}
	if (signed_tlv == NULL)
		return TRUE;
	if (!ql_crypto_sig_from_tlv(g_bytes_get_data(signature_tlv, NULL),
				    g_bytes_get_size(signature_tlv), sig, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "the SM-DP+'s %s signature: %s",
			    what, local->message);
		return FALSE;
	}
	d.data = (guchar *)g_bytes_get_data(cert_der, NULL);
	d.size = (guint)g_bytes_get_size(cert_der);
	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) < 0) {
		if (crt != NULL)
			gnutls_x509_crt_deinit(crt);
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "the SM-DP+'s %s certificate cannot be read", what);
		return FALSE;
	}
	ok = ql_crypto_ecdsa_verify_crt(crt, g_bytes_get_data(signed_tlv, NULL),
					g_bytes_get_size(signed_tlv), sig, sizeof(sig), &local);
	gnutls_x509_crt_deinit(crt);
	if (!ok) {
		ql_trust_set_error(error, QL_TRUST_FAILURE_BAD_SIGNATURE,
				   "the SM-DP+'s %s signature does not verify (%s)", what,
				   local->message);
		return FALSE;
	}
	return TRUE;
}

/* a copy of what the TLS layer recorded about its last handshake */
static void
ql_download_record_tls(QlDownloadReport *r, QlTls *tls)
{
	const QlTrustResult *t = ql_tls_get_trust_result(tls);
	QlTrustResult *copy;

	r->client_cert_configured = ql_tls_get_client_cert_configured(tls);
	r->client_cert_requested = ql_tls_get_client_cert_requested(tls);
	r->client_cert_sent = ql_tls_get_client_cert_sent(tls);
	g_free(r->client_cert_subject);
	r->client_cert_subject = g_strdup(ql_tls_get_client_cert_subject(tls));
	g_clear_pointer(&r->tls_trust, ql_trust_result_free);
	if (t == NULL)
		return;
	copy = ql_trust_result_copy(t);
	r->tls_trust = copy;
}

/* ES10b CancelSession then ES9+ cancelSession, best effort: the step that failed is what the
 * user needs to hear about, so failures here are only logged. */
static void
ql_download_cancel(QlChannel *ch, QlEs9p *es9p, const gchar *tid, QlCancelReason reason)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) tid_raw = ql_hex_decode(tid, NULL);
	g_autoptr(GBytes) resp = NULL;

	if (tid_raw == NULL)
		return;
	resp = ql_es10b_cancel_session(ch, tid_raw, reason, &error);
	if (resp == NULL) {
		g_info("CancelSession on the eUICC: %s", error->message);
		return;
	}
	if (!ql_es9p_cancel_session(es9p, tid, resp, &error))
		g_info("cancelSession at the SM-DP+: %s", error->message);
}

/* SGP.22 3.1.2: the eUICC refused the server at AuthenticateServer; its answer goes to the
 * SM-DP+ in authenticateClient, which ends the session there (the eUICC holds none to cancel).
 * Best effort: the eUICC's reason is what the user hears about. */
static void
ql_download_report_refusal(QlEs9p *es9p, QlHttp *http, const gchar *tid, gboolean es11,
			   GBytes *refusal)
{
	g_autoptr(GError) error = NULL;

	ql_http_set_deadline(http, 0, 0);
	if (es11) {
		g_autoptr(GPtrArray) events =
			ql_es9p_authenticate_client_es11(es9p, tid, refusal, &error);
		if (events != NULL)
			g_info("the SM-DS took the eUICC's refusal without an error");
	} else {
		g_autoptr(QlAuthClient) ac =
			ql_es9p_authenticate_client(es9p, tid, refusal, &error);
		if (ac != NULL)
			g_info("the SM-DP+ took the eUICC's refusal without an error");
	}
	if (error != NULL)
		g_info("the eUICC's refusal was passed to the server: %s", error->message);
}

/* The APDUs and bytes of this download only: what the caller sent on the channel before (an
 * EID read for its audit record, say) is not the download's */
static void
ql_download_fill_counters(QlDownloadReport *r, QlChannel *ch, const QlChannelStats *start,
			  QlHttp *http)
{
	QlChannelStats *st = ql_channel_get_stats(ch);
	QlTls *tls = ql_http_get_tls(http);
	r->apdus = st->apdus - start->apdus;
	r->bytes_to_euicc = st->bytes_out - start->bytes_out;
	r->bytes_from_euicc = st->bytes_in - start->bytes_in;
	r->tls_handshakes = ql_tls_get_handshake_count(tls);
	r->http_requests = ql_http_get_request_count(http);
	r->apdus_minimum = st->apdus_minimum - start->apdus_minimum;
	r->store_data_block = (guint)ql_channel_get_block_size(ch);
	r->extended_length = ql_channel_get_extended(ch);
}

typedef struct {
	const QlDownloadOptions *opts;
} QlBppProgressCtx;

static gboolean
ql_download_bpp_progress(guint done, guint total, gpointer user_data)
{
	QlBppProgressCtx *ctx = user_data;
	ql_download_progress(ctx->opts, QL_DOWNLOAD_STEP_LOAD_BPP, 60 + 35 * done / MAX(total, 1));
	return !g_cancellable_is_cancelled(ctx->opts->cancellable);
}

/* Before each step: FALSE (and QL_ERROR_CANCELLED) once the caller cancelled */
static gboolean
ql_download_go_on(const QlDownloadOptions *opts, GError **error)
{
	if (!g_cancellable_is_cancelled(opts->cancellable))
		return TRUE;
	g_set_error_literal(error, QL_ERROR, QL_ERROR_CANCELLED, "cancelled");
	return FALSE;
}

/* the package's bytes, as they arrive, to the eUICC */
static gboolean
ql_download_bpp_feed(const guint8 *data, gsize len, gpointer user_data, GError **error)
{
	return ql_bpp_loader_feed(user_data, data, len, error);
}

static gboolean
ql_download_metadata(QlDownloadReport *r, GBytes *metadata)
{
	QlTlv top, t;
	if (!ql_tlv_read(g_bytes_get_data(metadata, NULL), g_bytes_get_size(metadata), &top, NULL,
			 NULL))
		return FALSE;
	if (ql_tlv_find(&top, 0x5A, &t, NULL))
		r->iccid = ql_iccid_from_bcd(t.value, t.len);
	/* the SM-DP+'s words: valid UTF-8 and bounded here, escaped where they are printed */
	if (ql_tlv_find(&top, 0x91, &t, NULL))
		r->service_provider =
			ql_text_valid((const gchar *)t.value, (gssize)t.len, QL_TEXT_MAX_FIELD);
	if (ql_tlv_find(&top, 0x92, &t, NULL))
		r->profile_name =
			ql_text_valid((const gchar *)t.value, (gssize)t.len, QL_TEXT_MAX_FIELD);
	return TRUE;
}

/* The install notification, delivered on a thread of its own (the HTTP client is its alone
 * until it is joined) while the eUICC is read back */
typedef struct {
	QlEs9p *es9p;
	GBytes *notification;
	gboolean delivered;
	GError *error;
	GThread *thread;
} QlNotify;

static gpointer
ql_download_notify_run(gpointer user_data)
{
	QlNotify *n = user_data;
	n->delivered = ql_es9p_handle_notification(n->es9p, n->notification, &n->error);
	return NULL;
}

/* After an install: the new profile's nickname, then the profile as the eUICC lists it (what
 * `profile list` shows). Failures here are warnings: the profile is installed. */
static void
ql_download_read_back(QlDownloadReport *r, QlChannel *ch, const QlInstallResult *result,
		      const QlDownloadOptions *opts)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GPtrArray) listed = NULL;
	QlProfileFilter filter = {NULL, NULL, -1};

	if (result->iccid != NULL) {
		g_free(r->iccid);
		r->iccid = g_strdup(result->iccid);
	}
	r->isdp_aid = g_strdup(result->isdp_aid);
	if (opts->nickname != NULL && r->iccid != NULL &&
	    !ql_es10_set_nickname(ch, r->iccid, opts->nickname, &local)) {
		g_warning("the profile is installed but its nickname could not be set: %s",
			  local->message);
		g_clear_error(&local);
	}
	if (r->isdp_aid == NULL)
		return;
	filter.isdp_aid = r->isdp_aid;
	listed = ql_es10_get_profiles(ch, &filter, &local);
	if (listed == NULL || listed->len == 0) {
		g_warning("the eUICC does not list the profile it installed: %s",
			  listed == NULL ? local->message : "not found");
		return;
	}
	{
		QlProfileInfo *p = g_ptr_array_index(listed, 0);
		if (p->name != NULL) {
			g_free(r->profile_name);
			r->profile_name = g_strdup(p->name);
		}
		if (p->service_provider != NULL) {
			g_free(r->service_provider);
			r->service_provider = g_strdup(p->service_provider);
		}
	}
}

/* "STEP failed: why", without naming the step twice when the cause already starts with it */
static void
ql_download_step_error(GError **error, QlDownloadStep step, const GError *cause)
{
	const gchar *name = ql_download_step_to_string(step);
	const gchar *why = cause->message;
	gsize n = strlen(name);

	if (strncmp(why, name, n) == 0 && why[n] == ':' && why[n + 1] == ' ')
		why += n + 2;
	g_set_error(error, cause->domain, cause->code, "%s failed: %s", name, why);
}

QlDownloadReport *
ql_download_profile(QlChannel *ch, const QlActivationCode *ac, const QlDownloadOptions *opts,
		    GError **error)
{
	g_autoptr(QlDownloadReport) r = g_new0(QlDownloadReport, 1);
	g_auto(QlRspSession) sess = {0};
	QlTrust *trust;
	QlHttp *http;
	QlEs9p *es9p;
	g_autoptr(QlInitAuth) init = NULL;
	g_autoptr(GBytes) auth_server = NULL;
	g_autoptr(GBytes) refusal = NULL;
	g_autoptr(QlAuthClient) auth_client = NULL;
	g_autoptr(GBytes) hash_cc = NULL;
	g_autoptr(GBytes) prepare = NULL;
	g_autoptr(QlBppLoader) loader = NULL;
	gboolean card_side = FALSE;
	g_autoptr(QlInstallResult) result = NULL;
	g_autoptr(GError) local = NULL;
	g_autofree gchar *code = NULL;
	QlCancelReason reason = QL_CANCEL_UNDEFINED;
	QlBppProgressCtx bpp_ctx = {opts};
	QlDownloadStep step = QL_DOWNLOAD_STEP_EUICC_INFO;
	QlChannelStats start = *ql_channel_get_stats(ch);
	gboolean ok;
	gint64 started = g_get_monotonic_time();
	QlNotify notify = {0};
	guint64 apdus_before;

	r->smdp_address = g_strdup(ac->smdp_address);
	r->tls_policy = g_strdup(ql_tls_policy_to_string(opts->policy));
	r->notification_seq = -1;

	/* 1. what the eUICC trusts, and a fresh challenge */
	ql_download_progress(opts, step, 0);
	if (!ql_download_go_on(opts, error) ||
	    !ql_rsp_session_open(&sess, ch, ac->smdp_address, FALSE, opts, error))
		return NULL;
	trust = sess.trust;
	http = sess.http;
	es9p = sess.es9p;
	r->apdus_beside_connect = sess.apdus_beside_connect;

	/* 2. initiateAuthentication: the TLS server is judged during the handshake */
	step = QL_DOWNLOAD_STEP_INITIATE_AUTH;
	ql_download_progress(opts, step, 10);
	if (!ql_download_go_on(opts, &local))
		goto fail_no_session;
	init = ql_es9p_initiate_authentication(es9p, FALSE, sess.challenge, sess.info1->raw,
					       &local);
	if (init == NULL)
		goto fail_no_session;
	r->tls_version = g_strdup(ql_tls_get_version_name(ql_http_get_tls(http)));
	r->cipher_suite = g_strdup(ql_tls_get_cipher_suite_name(ql_http_get_tls(http)));
	ql_download_record_tls(r, ql_http_get_tls(http));
	if (!ql_download_check_signer(trust, init->server_certificate, QL_CERT_ROLE_DP_AUTH,
				      init->server_signed1, init->server_signature1, "DPauth",
				      &r->dpauth_trust, &local))
		goto fail_es9;

	/* 3. the eUICC authenticates the server and signs for itself */
	step = QL_DOWNLOAD_STEP_AUTHENTICATE_SERVER;
	ql_download_progress(opts, step, 20);
	if (!ql_download_go_on(opts, &local) || !ql_rsp_session_in_time(&sess, &local))
		goto fail_es9;
	auth_server = ql_es10b_authenticate_server_full(
		ch, init->server_signed1, init->server_signature1, init->ci_pkid_to_be_used,
		init->server_certificate, ac->matching_id, NULL, &refusal, &local);
	if (auth_server == NULL && refusal != NULL) {
		ql_download_report_refusal(es9p, http, init->transaction_id, FALSE, refusal);
		goto fail_es9;
	}
	if (auth_server == NULL)
		goto fail_cancel;

	step = QL_DOWNLOAD_STEP_AUTHENTICATE_CLIENT;
	ql_download_progress(opts, step, 30);
	if (!ql_download_go_on(opts, &local))
		goto fail_cancel;
	auth_client = ql_es9p_authenticate_client(es9p, init->transaction_id, auth_server, &local);
	if (auth_client == NULL)
		goto fail_cancel;
	ql_download_metadata(r, auth_client->profile_metadata);
	/* DPpb signs smdpSigned2 || euiccSignature1; the eUICC checks that signature, we check
	 * the certificate before handing it over */
	if (!ql_download_check_signer(trust, auth_client->smdp_certificate, QL_CERT_ROLE_DP_PB,
				      NULL, NULL, "DPpb", &r->dppb_trust, &local))
		goto fail_cancel;

	/* 4. confirmation code, sent only as hashCc */
	if (ac->confirmation_code_required || auth_client->cc_required) {
		guint8 h[QL_CRYPTO_SHA256_LEN];
		g_autoptr(GBytes) tid = ql_hex_decode(init->transaction_id, NULL);
		if (opts->confirmation_code != NULL)
			code = g_strdup(opts->confirmation_code);
		else if (opts->ask_confirmation_code != NULL)
			code = opts->ask_confirmation_code(opts->user_data);
		if (!ql_download_go_on(opts, &local))
			goto fail_cancel;
		if (code == NULL || code[0] == '\0') {
			reason = QL_CANCEL_END_USER_REJECTION;
			g_set_error_literal(&local, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    "this profile needs a confirmation code: give it with "
					    "--confirmation-code or at the prompt");
			goto fail_cancel_reason;
		}
		ok = ql_crypto_hash_cc(code, g_bytes_get_data(tid, NULL), g_bytes_get_size(tid), h,
				       &local);
		ql_crypto_wipe(code, strlen(code));
		if (!ok) {
			ql_crypto_wipe(h, sizeof(h));
			goto fail_cancel;
		}
		hash_cc = g_bytes_new(h, sizeof(h));
		ql_crypto_wipe(h, sizeof(h));
		r->confirmation_code_used = TRUE;
	}

	step = QL_DOWNLOAD_STEP_PREPARE_DOWNLOAD;
	ql_download_progress(opts, step, 40);
	if (!ql_download_go_on(opts, &local) || !ql_rsp_session_in_time(&sess, &local))
		goto fail_cancel;
	prepare = ql_es10b_prepare_download(ch, auth_client->smdp_signed2,
					    auth_client->smdp_signature2, hash_cc,
					    auth_client->smdp_certificate, &local);
	if (prepare == NULL)
		goto fail_cancel;

	/* getBoundProfilePackage and LoadBoundProfilePackage at once: each segment goes to the
	 * eUICC while the rest of the answer is still arriving; the last one only once the whole
	 * answer is in and good, so a cut or bad answer leaves nothing installed (the session is
	 * cancelled below) */
	step = QL_DOWNLOAD_STEP_GET_BPP;
	ql_download_progress(opts, step, 50);
	if (!ql_download_go_on(opts, &local) || !ql_rsp_session_in_time(&sess, &local))
		goto fail_cancel;
	loader = ql_bpp_loader_new(ch, ql_download_bpp_progress, &bpp_ctx);
	ok = ql_es9p_get_bound_profile_package_stream(es9p, init->transaction_id, prepare,
						      ql_download_bpp_feed, loader, &card_side,
						      &local);
	r->bpp_segments = ql_bpp_loader_get_segments(loader);
	r->bpp_bytes = ql_bpp_loader_get_total(loader);
	if (ok) {
		result = ql_bpp_loader_finish(loader, &local);
		card_side = TRUE;
	}
	if (result == NULL && !card_side)
		goto fail_cancel; /* the exchange with the SM-DP+ failed */
	if (result == NULL) {
		/* a truncated or malformed package, or the eUICC (or the way to it) failed on a
		 * segment */
		if (ql_bpp_loader_card_failed(loader))
			step = QL_DOWNLOAD_STEP_LOAD_BPP;
		reason = QL_CANCEL_LOAD_BPP_EXECUTION_ERROR;
		goto fail_cancel_reason;
	}
	r->bpp_segments = ql_bpp_loader_get_segments(loader);

	/* 5. the signed result goes back to the SM-DP+, success or not, while the eUICC is read
	 * back; the notification leaves the eUICC only once it was delivered */
	step = QL_DOWNLOAD_STEP_NOTIFICATION;
	ql_download_progress(opts, step, 95);
	r->notification_seq = result->seq;
	notify.es9p = es9p;
	notify.notification = result->raw;
	apdus_before = ql_channel_get_stats(ch)->apdus;
	notify.thread = g_thread_new("ql-notify", ql_download_notify_run, &notify);
	if (result->success)
		ql_download_read_back(r, ch, result, opts);
	r->apdus_beside_notification = ql_channel_get_stats(ch)->apdus - apdus_before;
	g_thread_join(g_steal_pointer(&notify.thread));
	if (notify.delivered) {
		r->notification_delivered = TRUE;
		if (result->seq >= 0 && !ql_es10_remove_notification(ch, result->seq, &local)) {
			g_warning("the notification was delivered but stays on the eUICC: %s",
				  local->message);
			g_clear_error(&local);
		}
	} else {
		/* kept on the eUICC: `notification process` delivers it later */
		r->notification_error =
			ql_text_valid(notify.error->message, -1, QL_TEXT_MAX_MESSAGE);
		g_clear_error(&notify.error);
	}
	if (!result->success) {
		ql_download_fill_counters(r, ch, &start, http);
		g_set_error(error, QL_ERROR, QL_ERROR_EUICC,
			    "the eUICC refused the profile at %s: %s (reason %d)",
			    ql_bpp_command_to_string(result->bpp_command_id),
			    ql_install_error_reason_to_string(result->error_reason),
			    result->error_reason);
		return NULL;
	}
	/* a reconnection later in the session is a new handshake: report the last one */
	ql_download_record_tls(r, ql_http_get_tls(http));
	ql_download_fill_counters(r, ch, &start, http);
	r->elapsed_ms = (guint64)(g_get_monotonic_time() - started) / 1000;
	ql_download_progress(opts, QL_DOWNLOAD_STEP_DONE, 100);
	return g_steal_pointer(&r);

fail_cancel:
	/* what went wrong decides the reason the SM-DP+ hears */
	if (local->domain == QL_ERROR && (local->code == QL_ERROR_TIMEOUT))
		reason = QL_CANCEL_TIMEOUT;
fail_cancel_reason:
	/* the cancellation is owed even when the session's deadline has passed: it gets the
	 * per-request timeout of its own */
	ql_http_set_deadline(http, 0, 0);
	if (g_cancellable_is_cancelled(opts->cancellable)) {
		/* "postponed", not a rejection: the user may want this profile later. The
		 * cancellation must not stop the cancelSession itself. */
		reason = QL_CANCEL_POSTPONED;
		ql_http_set_cancellable(http, NULL);
		g_clear_error(&local);
		g_set_error_literal(&local, QL_ERROR, QL_ERROR_CANCELLED, "cancelled");
	}
	ql_download_cancel(ch, es9p, init->transaction_id, reason);
	ql_download_step_error(error, step, local);
	return NULL;
fail_es9:
fail_no_session:
	if (g_cancellable_is_cancelled(opts->cancellable)) {
		g_clear_error(&local);
		g_set_error_literal(&local, QL_ERROR, QL_ERROR_CANCELLED, "cancelled");
	}
	ql_download_step_error(error, step, local);
	return NULL;
}

GPtrArray *
ql_download_discover(QlChannel *ch, const gchar *smds_address, const QlDownloadOptions *opts,
		     GError **error)
{
	g_auto(QlRspSession) sess = {0};
	g_autoptr(QlInitAuth) init = NULL;
	g_autoptr(GBytes) auth_server = NULL;
	g_autoptr(GBytes) refusal = NULL;
	g_autoptr(GError) local = NULL;
	GPtrArray *events;
	QlCertRole role;

	if (!ql_download_go_on(opts, error))
		return NULL;
	/* an SM-DS may run beside an SM-DP+ with its certificates: DS or DP roles, checked below */
	if (!ql_rsp_session_open(&sess, ch, smds_address, TRUE, opts, error))
		return NULL;
	init = ql_es9p_initiate_authentication(sess.es9p, TRUE, sess.challenge, sess.info1->raw,
					       error);
	if (init == NULL)
		return NULL;
	role = ql_pki_cert_role(ql_tls_get_peer_certificate(ql_http_get_tls(sess.http)));
	if (role != QL_CERT_ROLE_DS_TLS && role != QL_CERT_ROLE_DP_TLS) {
		ql_trust_set_error(error, QL_TRUST_FAILURE_WRONG_ROLE,
				   "the SM-DS's TLS certificate is not for an SM-DS or SM-DP+ (%s)",
				   ql_pki_role_name(role));
		return NULL;
	}
	if (!ql_download_check_signer(sess.trust, init->server_certificate, QL_CERT_ROLE_NONE,
				      init->server_signed1, init->server_signature1, "SM-DS auth",
				      NULL, error))
		return NULL;
	{
		/* the SM-DS signs as an SM-DS (DS auth) or, beside an SM-DP+, as DP auth */
		g_autoptr(GPtrArray) one =
			g_ptr_array_new_with_free_func((GDestroyNotify)gnutls_x509_crt_deinit);
		gnutls_x509_crt_t crt =
			ql_pki_crt_from_bytes(g_bytes_get_data(init->server_certificate, NULL),
					      g_bytes_get_size(init->server_certificate), error);
		if (crt == NULL)
			return NULL;
		g_ptr_array_add(one, crt);
		role = ql_pki_cert_role(crt);
		if (role != QL_CERT_ROLE_DS_AUTH && role != QL_CERT_ROLE_DP_AUTH) {
			ql_trust_set_error(
				error, QL_TRUST_FAILURE_WRONG_ROLE,
				"the SM-DS's signing certificate is not an SM-DS or SM-DP+ "
				"authentication certificate (%s)",
				ql_pki_role_name(role));
			return NULL;
		}
	}
	auth_server = ql_es10b_authenticate_server_full(
		ch, init->server_signed1, init->server_signature1, init->ci_pkid_to_be_used,
		init->server_certificate, NULL, NULL, &refusal, error);
	if (auth_server == NULL) {
		if (refusal != NULL)
			ql_download_report_refusal(sess.es9p, sess.http, init->transaction_id, TRUE,
						   refusal);
		return NULL;
	}
	events = ql_es9p_authenticate_client_es11(sess.es9p, init->transaction_id, auth_server,
						  &local);
	if (events == NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	return events;
}

gint
ql_download_process_notifications(QlChannel *ch, gint64 seq, const QlDownloadOptions *opts,
				  GPtrArray *failures, GError **error)
{
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(QlTrust) trust = NULL;
	g_autoptr(QlEuiccInfo1) info1 = NULL;
	g_autoptr(GHashTable) sessions =
		g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_object_unref);
	gint delivered = 0;

	list = ql_es10_retrieve_notifications(ch, seq, error);
	if (list == NULL)
		return -1;
	if (seq >= 0 && list->len == 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "no notification with sequence number %" G_GINT64_FORMAT, seq);
		return -1;
	}
	info1 = ql_es10_get_euicc_info1(ch, error);
	if (info1 == NULL)
		return -1;
	trust = ql_download_make_trust(opts, error);
	if (trust == NULL)
		return -1;
	ql_trust_set_allowed_ci_key_ids(trust, info1->ci_pkid_verification);
	for (guint i = 0; i < list->len; i++) {
		QlNotification *n = g_ptr_array_index(list, i);
		g_autoptr(GError) local = NULL;
		QlEs9p *es9p;

		if (!ql_download_go_on(opts, error))
			return -1;
		/* one connection per SM-DP+, reused for all its notifications */
		es9p = g_hash_table_lookup(sessions, n->address);
		if (es9p == NULL) {
			g_autoptr(QlHttp) http = NULL;
			if (!ql_activation_check_address(n->address, &local)) {
				if (failures != NULL)
					g_ptr_array_add(failures,
							g_strdup_printf("%" G_GINT64_FORMAT ": %s",
									n->seq, local->message));
				continue;
			}
			http = ql_download_make_http(trust, opts, error);
			if (http == NULL)
				return -1;
			es9p = ql_es9p_new(http, n->address);
			g_hash_table_insert(sessions, g_strdup(n->address), es9p);
		}
		if (!ql_es9p_handle_notification(es9p, n->raw, &local) ||
		    !ql_es10_remove_notification(ch, n->seq, &local)) {
			/* cancelled: the rest waits for the next run, this one included */
			if (!ql_download_go_on(opts, error))
				return -1;
			if (failures != NULL)
				g_ptr_array_add(failures,
						g_strdup_printf("%" G_GINT64_FORMAT ": %s", n->seq,
								local->message));
			continue;
		}
		delivered++;
	}
	return delivered;
}

static void
report_json_time(JsonBuilder *b, const gchar *key, gint64 t)
{
	g_autoptr(GDateTime) dt = t >= 0 ? g_date_time_new_from_unix_utc(t) : NULL;
	g_autofree gchar *text = dt != NULL ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%SZ") : NULL;
	ql_json_string(b, key, text);
}

static void
report_json_crls(JsonBuilder *b, const gchar *key, GPtrArray *uses)
{
	json_builder_set_member_name(b, key);
	json_builder_begin_array(b);
	for (guint i = 0; i < uses->len; i++) {
		const QlTrustCrlUse *use = g_ptr_array_index(uses, i);
		json_builder_begin_object(b);
		ql_json_string(b, "issuer", use->issuer);
		ql_json_string(b, "file", use->file);
		report_json_time(b, "this_update", use->this_update);
		report_json_time(b, "next_update", use->next_update);
		ql_json_bool(b, "stale", use->stale);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

/* one verified chain: what was matched, pinned and consulted (null when not verified) */
static void
report_json_chain(JsonBuilder *b, const gchar *key, const QlTrustResult *t)
{
	json_builder_set_member_name(b, key);
	if (t == NULL) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_object(b);
	ql_json_string(b, "certificate", t->subject);
	json_builder_set_member_name(b, "anchor");
	json_builder_begin_object(b);
	ql_json_string(b, "subject", t->anchor_subject);
	ql_json_string(b, "key_id", t->anchor_key_id);
	ql_json_string(b, "source", ql_trust_anchor_source_to_string(t->anchor_source));
	json_builder_set_member_name(b, "euicc_listed");
	json_builder_add_boolean_value(b, t->anchor_listed);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "path_length");
	json_builder_add_int_value(b, t->path_len);
	json_builder_set_member_name(b, "host");
	if (t->host != NULL) {
		json_builder_begin_object(b);
		ql_json_string(b, "name", t->host);
		ql_json_string(b, "matched", t->host_via_ip ? "ip-address" : "dns-name");
		json_builder_end_object(b);
	} else {
		json_builder_add_null_value(b);
	}
	json_builder_set_member_name(b, "pin");
	if (t->host == NULL) {
		json_builder_add_null_value(b);
	} else {
		json_builder_begin_object(b);
		ql_json_string(b, "host", t->host);
		ql_json_string(b, "result", t->pin_checked ? "matched" : "no-pin");
		if (t->pin_checked) {
			ql_json_string(b, "certificate",
				       ql_trust_depth_to_string(t->pin_depth, t->path_len));
			ql_json_string(b, "subject", t->pin_subject);
			ql_json_string(b, "pin", t->pin);
		}
		json_builder_end_object(b);
	}
	json_builder_set_member_name(b, "crl");
	json_builder_begin_object(b);
	ql_json_string(b, "policy", t->crl_required ? "required" : "optional");
	report_json_crls(b, "consulted", t->crls);
	json_builder_set_member_name(b, "missing");
	json_builder_begin_array(b);
	for (guint i = 0; i < t->no_crl->len; i++)
		json_builder_add_string_value(b, g_ptr_array_index(t->no_crl, i));
	json_builder_end_array(b);
	report_json_crls(b, "rejected", t->rejected);
	json_builder_end_object(b);
	json_builder_end_object(b);
}

/* The report as the members of the JSON object open in @b: one builder for the CLI's --json and
 * the service's Finished report, so the two cannot drift apart. */
void
ql_download_report_to_json(const QlDownloadReport *r, JsonBuilder *b)
{
	ql_json_string(b, "result", "ok");
	ql_json_string(b, "iccid", r->iccid);
	ql_json_string(b, "name", r->profile_name);
	ql_json_string(b, "service_provider", r->service_provider);
	ql_json_string(b, "isdp_aid", r->isdp_aid);
	ql_json_string(b, "smdp_address", r->smdp_address);
	ql_json_string(b, "tls_version", r->tls_version);
	ql_json_string(b, "cipher_suite", r->cipher_suite);
	ql_json_string(b, "tls_policy", r->tls_policy);
	json_builder_set_member_name(b, "chains");
	json_builder_begin_object(b);
	report_json_chain(b, "tls", r->tls_trust);
	report_json_chain(b, "dpauth", r->dpauth_trust);
	report_json_chain(b, "dppb", r->dppb_trust);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "client_certificate");
	json_builder_begin_object(b);
	ql_json_bool(b, "configured", r->client_cert_configured);
	ql_json_bool(b, "requested", r->client_cert_requested);
	ql_json_bool(b, "sent", r->client_cert_sent);
	ql_json_string(b, "subject", r->client_cert_subject);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "confirmation_code_used");
	json_builder_add_boolean_value(b, r->confirmation_code_used);
	json_builder_set_member_name(b, "notification_delivered");
	json_builder_add_boolean_value(b, r->notification_delivered);
	ql_json_int(b, "notification_seq", r->notification_seq);
	ql_json_string(b, "notification_error", r->notification_error);
	json_builder_set_member_name(b, "apdus");
	json_builder_add_int_value(b, (gint64)r->apdus);
	json_builder_set_member_name(b, "bytes_to_euicc");
	json_builder_add_int_value(b, (gint64)r->bytes_to_euicc);
	json_builder_set_member_name(b, "bytes_from_euicc");
	json_builder_add_int_value(b, (gint64)r->bytes_from_euicc);
	json_builder_set_member_name(b, "tls_handshakes");
	json_builder_add_int_value(b, r->tls_handshakes);
	json_builder_set_member_name(b, "http_requests");
	json_builder_add_int_value(b, r->http_requests);
	json_builder_set_member_name(b, "bpp_segments");
	json_builder_add_int_value(b, r->bpp_segments);
	json_builder_set_member_name(b, "bpp_bytes");
	json_builder_add_int_value(b, (gint64)r->bpp_bytes);
	json_builder_set_member_name(b, "apdus_minimum");
	json_builder_add_int_value(b, (gint64)r->apdus_minimum);
	json_builder_set_member_name(b, "store_data_block");
	json_builder_add_int_value(b, r->store_data_block);
	ql_json_bool(b, "extended_length", r->extended_length);
	json_builder_set_member_name(b, "elapsed_ms");
	json_builder_add_int_value(b, (gint64)r->elapsed_ms);
	json_builder_set_member_name(b, "apdus_beside_connect");
	json_builder_add_int_value(b, (gint64)r->apdus_beside_connect);
	json_builder_set_member_name(b, "apdus_beside_notification");
	json_builder_add_int_value(b, (gint64)r->apdus_beside_notification);
}

/* ---- the report read back (a service's Finished report, JSON nulls left out) ---- */

static JsonNode *
report_member(JsonObject *o, const gchar *key, JsonNodeType type)
{
	JsonNode *n = o != NULL ? json_object_get_member(o, key) : NULL;
	return n != NULL && json_node_get_node_type(n) == type ? n : NULL;
}

static gchar *
report_get_string(JsonObject *o, const gchar *key)
{
	JsonNode *n = report_member(o, key, JSON_NODE_VALUE);
	return n != NULL && json_node_get_value_type(n) == G_TYPE_STRING
		       ? g_strdup(json_node_get_string(n))
		       : NULL;
}

static gint64
report_get_int(JsonObject *o, const gchar *key, gint64 absent)
{
	JsonNode *n = report_member(o, key, JSON_NODE_VALUE);
	return n != NULL && json_node_get_value_type(n) == G_TYPE_INT64 ? json_node_get_int(n)
									: absent;
}

static gboolean
report_get_bool(JsonObject *o, const gchar *key)
{
	JsonNode *n = report_member(o, key, JSON_NODE_VALUE);
	return n != NULL && json_node_get_value_type(n) == G_TYPE_BOOLEAN &&
	       json_node_get_boolean(n);
}

static JsonObject *
report_get_object(JsonObject *o, const gchar *key)
{
	JsonNode *n = report_member(o, key, JSON_NODE_OBJECT);
	return n != NULL ? json_node_get_object(n) : NULL;
}

static JsonArray *
report_get_array(JsonObject *o, const gchar *key)
{
	JsonNode *n = report_member(o, key, JSON_NODE_ARRAY);
	return n != NULL ? json_node_get_array(n) : NULL;
}

static gint64
report_get_time(JsonObject *o, const gchar *key)
{
	g_autofree gchar *text = report_get_string(o, key);
	g_autoptr(GDateTime) dt = text != NULL ? g_date_time_new_from_iso8601(text, NULL) : NULL;
	return dt != NULL ? g_date_time_to_unix(dt) : -1;
}

static void
report_read_crls(JsonObject *o, const gchar *key, GPtrArray *out)
{
	JsonArray *a = report_get_array(o, key);
	for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
		JsonNode *n = json_array_get_element(a, i);
		JsonObject *c = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
		QlTrustCrlUse *use;
		if (c == NULL)
			continue;
		use = g_new0(QlTrustCrlUse, 1);
		use->issuer = report_get_string(c, "issuer");
		use->file = report_get_string(c, "file");
		use->this_update = report_get_time(c, "this_update");
		use->next_update = report_get_time(c, "next_update");
		use->stale = report_get_bool(c, "stale");
		g_ptr_array_add(out, use);
	}
}

static QlTrustResult *
report_read_chain(JsonObject *chains, const gchar *key)
{
	JsonObject *o = report_get_object(chains, key);
	JsonObject *anchor, *host, *pin, *crl;
	JsonArray *missing;
	g_autofree gchar *source = NULL;
	g_autofree gchar *matched = NULL;
	g_autofree gchar *result = NULL;
	g_autofree gchar *depth = NULL;
	QlTrustResult *t;

	if (o == NULL)
		return NULL;
	t = ql_trust_result_new();
	t->subject = report_get_string(o, "certificate");
	anchor = report_get_object(o, "anchor");
	t->anchor_subject = report_get_string(anchor, "subject");
	t->anchor_key_id = report_get_string(anchor, "key_id");
	source = report_get_string(anchor, "source");
	if (!ql_trust_anchor_source_from_string(source, &t->anchor_source))
		t->anchor_source = QL_TRUST_ANCHOR_GSMA_CI;
	t->anchor_listed = report_get_bool(anchor, "euicc_listed");
	t->path_len = (guint)MAX(report_get_int(o, "path_length", 0), 0);
	host = report_get_object(o, "host");
	t->host = report_get_string(host, "name");
	matched = report_get_string(host, "matched");
	t->host_via_ip = g_strcmp0(matched, "ip-address") == 0;
	pin = report_get_object(o, "pin");
	result = report_get_string(pin, "result");
	t->pin_checked = g_strcmp0(result, "matched") == 0;
	if (t->pin_checked) {
		/* the depth as ql_trust_depth_to_string() names it */
		depth = report_get_string(pin, "certificate");
		t->pin_depth = g_strcmp0(depth, "leaf") == 0	 ? 0
			       : g_strcmp0(depth, "anchor") == 0 ? MAX(t->path_len, 1) - 1
								 : 1;
		t->pin_subject = report_get_string(pin, "subject");
		t->pin = report_get_string(pin, "pin");
	}
	crl = report_get_object(o, "crl");
	{
		g_autofree gchar *policy = report_get_string(crl, "policy");
		t->crl_required = g_strcmp0(policy, "required") == 0;
	}
	report_read_crls(crl, "consulted", t->crls);
	report_read_crls(crl, "rejected", t->rejected);
	missing = report_get_array(crl, "missing");
	for (guint i = 0; missing != NULL && i < json_array_get_length(missing); i++) {
		JsonNode *n = json_array_get_element(missing, i);
		if (JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING)
			g_ptr_array_add(t->no_crl, g_strdup(json_node_get_string(n)));
	}
	return t;
}

QlDownloadReport *
ql_download_report_from_json(JsonObject *o)
{
	QlDownloadReport *r = g_new0(QlDownloadReport, 1);
	JsonObject *chains = report_get_object(o, "chains");
	JsonObject *cc = report_get_object(o, "client_certificate");

	r->iccid = report_get_string(o, "iccid");
	r->profile_name = report_get_string(o, "name");
	r->service_provider = report_get_string(o, "service_provider");
	r->isdp_aid = report_get_string(o, "isdp_aid");
	r->smdp_address = report_get_string(o, "smdp_address");
	r->tls_version = report_get_string(o, "tls_version");
	r->cipher_suite = report_get_string(o, "cipher_suite");
	r->tls_policy = report_get_string(o, "tls_policy");
	r->tls_trust = report_read_chain(chains, "tls");
	r->dpauth_trust = report_read_chain(chains, "dpauth");
	r->dppb_trust = report_read_chain(chains, "dppb");
	r->client_cert_configured = report_get_bool(cc, "configured");
	r->client_cert_requested = report_get_bool(cc, "requested");
	r->client_cert_sent = report_get_bool(cc, "sent");
	r->client_cert_subject = report_get_string(cc, "subject");
	r->confirmation_code_used = report_get_bool(o, "confirmation_code_used");
	r->notification_delivered = report_get_bool(o, "notification_delivered");
	r->notification_seq = report_get_int(o, "notification_seq", -1);
	r->notification_error = report_get_string(o, "notification_error");
	r->apdus = (guint64)MAX(report_get_int(o, "apdus", 0), 0);
	r->bytes_to_euicc = (guint64)MAX(report_get_int(o, "bytes_to_euicc", 0), 0);
	r->bytes_from_euicc = (guint64)MAX(report_get_int(o, "bytes_from_euicc", 0), 0);
	r->tls_handshakes = (guint)CLAMP(report_get_int(o, "tls_handshakes", 0), 0, G_MAXUINT);
	r->http_requests = (guint)CLAMP(report_get_int(o, "http_requests", 0), 0, G_MAXUINT);
	r->bpp_segments = (guint)CLAMP(report_get_int(o, "bpp_segments", 0), 0, G_MAXUINT);
	r->bpp_bytes = (guint64)MAX(report_get_int(o, "bpp_bytes", 0), 0);
	r->apdus_minimum = (guint64)MAX(report_get_int(o, "apdus_minimum", 0), 0);
	r->store_data_block =
		(guint)CLAMP(report_get_int(o, "store_data_block", 0), 0, G_MAXUINT);
	r->extended_length = report_get_bool(o, "extended_length");
	r->elapsed_ms = (guint64)MAX(report_get_int(o, "elapsed_ms", 0), 0);
	r->apdus_beside_connect = (guint64)MAX(report_get_int(o, "apdus_beside_connect", 0), 0);
	r->apdus_beside_notification =
		(guint64)MAX(report_get_int(o, "apdus_beside_notification", 0), 0);
	return r;
}
