/*
 * GnuTLS client sessions. See ql-tls.h.
 *
 * The transport is our own push/pull over the socket's fd with poll(), so every read and
 * write has a deadline whatever the fd's blocking mode (GSocket makes it non-blocking). The
 * deadline is fixed when an operation starts (the handshake, a read or write call, or the
 * caller's whole exchange) and checked before every recv() and send(): a peer that trickles one
 * byte at a time cannot push it back, as a per-wait timeout would let it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "quantra-l/ql-error.h"
#include "ql-tls.h"

/* SGP.22 2.6.6 wants TLS 1.2 with TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 at least; nothing
 * without forward secrecy or with CBC, no SHA-1 handshake signatures, no FFDHE groups */
#define QL_TLS_PRIORITY_STANDARD                                                                   \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"           \
	"-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:+AES-256-CCM:+AES-128-CCM:"      \
	"-MAC-ALL:+AEAD:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"               \
	"+GROUP-SECP521R1:-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:%SAFE_RENEGOTIATION"
/* TLS 1.2 appears here only so a 1.2-only server answers with a TLS 1.2 ServerHello that we
 * can name in the error: ql_tls_server_hello_hook() aborts the handshake right there, before
 * any certificate, key exchange or data. A 1.3 server cannot be downgraded (RFC 8446 4.1.3
 * sentinel, checked by GnuTLS). Only AES-256-GCM and ChaCha20-Poly1305 are offered. */
#define QL_TLS_PRIORITY_STRICT                                                                     \
	"SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:"           \
	"-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:"                                             \
	"-MAC-ALL:+AEAD:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"               \
	"+GROUP-SECP521R1:-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1"

struct _QlTls {
	GObject parent_instance;
	QlTrust *trust;
	QlTlsPolicy policy;
	QlCertRole role;
	guint timeout_ms;
	gint64 deadline;   /* the caller's, monotonic; 0 = none */
	guint deadline_ms; /* what the caller's deadline stands for, for messages */
	gnutls_certificate_credentials_t cred;
	gboolean have_client_cert;
	QlTrustResult *pending_result; /* of the verification inside the running handshake */

	/* the current session */
	GSocket *socket;
	gint fd;
	gnutls_session_t session;
	gchar *host;
	GError *verify_error;
	gboolean verified;
	gint64 op_deadline; /* of the running operation; 0 = none */
	guint op_ms;	    /* its budget, for messages */
	gboolean timed_out;
	gboolean eof_unclean; /* the stream ended without close_notify */
	gboolean got_data;    /* the server sent application data: it took the handshake */
	gint last_errno;
	GCancellable *cancellable; /* wakes every wait; NULL = none */
	gboolean cancelled;

	/* of the last completed handshake */
	guint handshakes;
	gnutls_protocol_t version;
	gchar *version_name;
	gchar *suite_name;
	gnutls_x509_crt_t peer;
	QlTrustResult *trust_result;
	gboolean client_cert_requested;
	gboolean client_cert_sent;
	gchar *client_cert_subject;
};

G_DEFINE_TYPE(QlTls, ql_tls, G_TYPE_OBJECT)

const gchar *
ql_tls_policy_to_string(QlTlsPolicy policy)
{
	return policy == QL_TLS_POLICY_STRICT ? "strict" : "standard";
}

const gchar *
ql_tls_policy_priority(QlTlsPolicy policy)
{
	return policy == QL_TLS_POLICY_STRICT ? QL_TLS_PRIORITY_STRICT : QL_TLS_PRIORITY_STANDARD;
}

static void
ql_tls_drop_session(QlTls *self)
{
	if (self->session != NULL) {
		gnutls_deinit(self->session);
		self->session = NULL;
	}
	g_clear_object(&self->socket);
	self->fd = -1;
	g_clear_error(&self->verify_error);
	g_clear_pointer(&self->host, g_free);
	g_clear_pointer(&self->pending_result, ql_trust_result_free);
	self->verified = FALSE;
	self->timed_out = FALSE;
	self->eof_unclean = FALSE;
	self->got_data = FALSE;
	self->last_errno = 0;
	self->cancelled = FALSE;
}

static void
ql_tls_finalize(GObject *object)
{
	QlTls *self = QL_TLS(object);
	ql_tls_drop_session(self);
	g_clear_pointer(&self->peer, gnutls_x509_crt_deinit);
	g_clear_pointer(&self->trust_result, ql_trust_result_free);
	g_free(self->client_cert_subject);
	g_free(self->version_name);
	g_free(self->suite_name);
	gnutls_certificate_free_credentials(self->cred);
	g_clear_object(&self->trust);
	g_clear_object(&self->cancellable);
	G_OBJECT_CLASS(ql_tls_parent_class)->finalize(object);
}

static void
ql_tls_class_init(QlTlsClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = ql_tls_finalize;
}

/* Runs inside the handshake, when the server's Certificate message arrived: refusing here
 * aborts the handshake before we ever send application data. */
static int
ql_tls_verify_cb(gnutls_session_t session)
{
	QlTls *self = gnutls_session_get_ptr(session);
	const gnutls_datum_t *certs;
	gnutls_x509_crt_t chain[16];
	unsigned int n = 0;
	guint count = 0;
	gboolean ok;

	g_clear_error(&self->verify_error);
	g_clear_pointer(&self->pending_result, ql_trust_result_free);
	self->verified = FALSE;
	if (gnutls_certificate_type_get2(session, GNUTLS_CTYPE_SERVER) != GNUTLS_CRT_X509) {
		ql_trust_set_error(&self->verify_error, QL_TRUST_FAILURE_BAD_CHAIN,
				   "%s did not present an X.509 certificate", self->host);
		return -1;
	}
	certs = gnutls_certificate_get_peers(session, &n);
	if (certs == NULL || n == 0) {
		ql_trust_set_error(&self->verify_error, QL_TRUST_FAILURE_NO_CERTIFICATE,
				   "%s presented no certificate", self->host);
		return -1;
	}
	for (guint i = 0; i < n && count < G_N_ELEMENTS(chain); i++) {
		chain[count] = ql_pki_crt_from_bytes(certs[i].data, certs[i].size, NULL);
		if (chain[count] == NULL) {
			for (guint j = 0; j < count; j++)
				gnutls_x509_crt_deinit(chain[j]);
			ql_trust_set_error(&self->verify_error, QL_TRUST_FAILURE_BAD_CHAIN,
					   "certificate %u from %s is not valid X.509", i,
					   self->host);
			return -1;
		}
		count++;
	}
	ok = ql_trust_verify_chain_full(self->trust, chain, count, self->host, self->role,
					&self->pending_result, NULL, &self->verify_error);
	if (ok) {
		g_clear_pointer(&self->peer, gnutls_x509_crt_deinit);
		self->peer = chain[0];
		chain[0] = NULL;
	}
	for (guint j = 0; j < count; j++) {
		if (chain[j] != NULL)
			gnutls_x509_crt_deinit(chain[j]);
	}
	self->verified = ok;
	return ok ? 0 : -1;
}

/* strict policy: refuse anything below TLS 1.3 as soon as the ServerHello names it */
static int
ql_tls_server_hello_hook(gnutls_session_t session, unsigned int htype, unsigned int when,
			 unsigned int incoming, const gnutls_datum_t *msg)
{
	QlTls *self = gnutls_session_get_ptr(session);
	gnutls_protocol_t version = gnutls_protocol_get_version(session);

	if (self->policy != QL_TLS_POLICY_STRICT || version == GNUTLS_TLS1_3)
		return 0;
	g_clear_error(&self->verify_error);
	g_set_error(&self->verify_error, QL_ERROR, QL_ERROR_TLS,
		    "TLS refused [weak-protocol]: %s offers only %s; the strict policy (--secure) "
		    "needs TLS 1.3",
		    self->host, version == GNUTLS_TLS1_2 ? "TLS 1.2" : "an older TLS version");
	return GNUTLS_E_UNSUPPORTED_VERSION_PACKET;
}

static void
ql_tls_init(QlTls *self)
{
	self->fd = -1;
	self->role = QL_CERT_ROLE_DP_TLS;
	self->timeout_ms = QL_TLS_DEFAULT_TIMEOUT_MS;
	if (gnutls_certificate_allocate_credentials(&self->cred) < 0)
		g_error("out of memory");
	gnutls_certificate_set_verify_function(self->cred, ql_tls_verify_cb);
}

QlTls *
ql_tls_new(QlTrust *trust, QlTlsPolicy policy)
{
	QlTls *self;
	g_return_val_if_fail(QL_IS_TRUST(trust), NULL);
	self = g_object_new(QL_TYPE_TLS, NULL);
	self->trust = g_object_ref(trust);
	self->policy = policy;
	return self;
}

QlTrust *
ql_tls_get_trust(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), NULL);
	return self->trust;
}

QlTlsPolicy
ql_tls_get_policy(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), QL_TLS_POLICY_STANDARD);
	return self->policy;
}

/* A path or PKCS#11 URI fit for a message: a PIN given in the URI (RFC 7512 pin-value) is
 * replaced by "***" */
static gchar *
ql_tls_redact_uri(const gchar *s)
{
	g_autoptr(GString) out = g_string_new(NULL);
	const gchar *p = s;
	const gchar *hit;

	while ((hit = strstr(p, "pin-value=")) != NULL) {
		g_string_append_len(out, p, hit - p + strlen("pin-value="));
		g_string_append(out, "***");
		p = hit + strlen("pin-value=");
		p += strcspn(p, "&;");
	}
	g_string_append(out, p);
	return g_string_free(g_steal_pointer(&out), FALSE);
}

gboolean
ql_tls_set_client_certificate(QlTls *self, const gchar *cert_file, const gchar *key_file,
			      GError **error)
{
	gint rc;
	g_return_val_if_fail(QL_IS_TLS(self), FALSE);
	g_return_val_if_fail(cert_file != NULL, FALSE);
	if (key_file == NULL)
		key_file = cert_file;
	/* set_x509_key_file2 takes PEM paths and PKCS#11 URIs alike; a token's key stays in the
	 * token and signs there */
	rc = gnutls_certificate_set_x509_key_file2(self->cred, cert_file, key_file,
						   GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		/* paths and URIs are not secret, but a PIN inside a URI is; the key material
		 * never reaches the message */
		g_autofree gchar *cert_name = ql_tls_redact_uri(cert_file);
		g_autofree gchar *key_name = ql_tls_redact_uri(key_file);
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "cannot use client certificate %s with key %s: %s%s", cert_name,
			    key_name, gnutls_strerror(rc),
			    rc == GNUTLS_E_PKCS11_PIN_ERROR
				    ? " (the token refused the PIN or needs one: give it with "
				      "?pin-source=FILE in the key's pkcs11: URI)"
				    : "");
		return FALSE;
	}
	self->have_client_cert = TRUE;
	return TRUE;
}

void
ql_tls_set_timeout(QlTls *self, guint timeout_ms)
{
	g_return_if_fail(QL_IS_TLS(self));
	self->timeout_ms = timeout_ms;
}

void
ql_tls_set_deadline(QlTls *self, gint64 deadline, guint budget_ms)
{
	g_return_if_fail(QL_IS_TLS(self));
	self->deadline = deadline;
	self->deadline_ms = budget_ms;
}

/* Fixes the deadline of an operation that starts now: the caller's deadline, and the timeout
 * counted from now for the handshake or when the caller set none; the earlier one wins. */
static void
ql_tls_begin_op(QlTls *self, gboolean handshake)
{
	self->op_deadline = 0;
	self->op_ms = 0;
	self->timed_out = FALSE;
	if ((handshake || self->deadline == 0) && self->timeout_ms > 0) {
		self->op_deadline = g_get_monotonic_time() + (gint64)self->timeout_ms * 1000;
		self->op_ms = self->timeout_ms;
	}
	if (self->deadline != 0 && (self->op_deadline == 0 || self->deadline < self->op_deadline)) {
		self->op_deadline = self->deadline;
		self->op_ms = self->deadline_ms;
	}
}

/* Milliseconds left before the operation's deadline: -1 without one, 0 when it has passed */
static gint
ql_tls_left_ms(QlTls *self)
{
	gint64 left;
	if (self->op_deadline == 0)
		return -1;
	left = self->op_deadline - g_get_monotonic_time();
	if (left <= 0)
		return 0;
	return (gint)MIN((left + 999) / 1000, (gint64)G_MAXINT);
}

guint
ql_tls_get_timeout(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), 0);
	return self->timeout_ms;
}

void
ql_tls_set_expected_role(QlTls *self, QlCertRole role)
{
	g_return_if_fail(QL_IS_TLS(self));
	self->role = role;
}

/* >0 ready, 0 timed out, -1 error; @timeout_ms 0 waits forever */
static gint
ql_tls_poll(gint fd, gshort events, gint timeout_ms)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = events};
		gint rc = poll(&pfd, 1, timeout_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		return rc;
	}
}

void
ql_tls_set_cancellable(QlTls *self, GCancellable *cancellable)
{
	g_return_if_fail(QL_IS_TLS(self));
	g_set_object(&self->cancellable, cancellable);
}

/* ql_tls_poll() that also wakes when the cancellable fires: then -1 with errno ECANCELED */
static gint
ql_tls_wait(QlTls *self, gshort events, gint timeout_ms)
{
	struct pollfd pfd[2] = {{.fd = self->fd, .events = events}, {.fd = -1}};
	gint rc;

	if (self->cancellable == NULL)
		return ql_tls_poll(self->fd, events, timeout_ms);
	pfd[1].fd = g_cancellable_get_fd(self->cancellable);
	pfd[1].events = POLLIN;
	do {
		rc = g_cancellable_is_cancelled(self->cancellable) ? 0 : poll(pfd, 2, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	g_cancellable_release_fd(self->cancellable);
	if (g_cancellable_is_cancelled(self->cancellable)) {
		self->cancelled = TRUE;
		errno = ECANCELED;
		return -1;
	}
	return rc > 0 && pfd[0].revents == 0 ? 0 : rc;
}

/* Records a transport failure where GnuTLS and our error messages will find it. */
static ssize_t
ql_tls_io_failed(QlTls *self, gint err)
{
	self->last_errno = err;
	gnutls_transport_set_errno(self->session, err);
	return -1;
}

static ssize_t
ql_tls_timed_out(QlTls *self)
{
	self->timed_out = TRUE;
	return ql_tls_io_failed(self, ETIMEDOUT);
}

/* After EAGAIN: waits for @events until the deadline; 0 when ready, else -1 (recorded). */
static ssize_t
ql_tls_io_wait(QlTls *self, gshort events)
{
	gint left = ql_tls_left_ms(self);
	gint pr;
	if (left == 0)
		return ql_tls_timed_out(self);
	pr = ql_tls_wait(self, events, left);
	if (pr == 0)
		return ql_tls_timed_out(self);
	if (pr < 0)
		return ql_tls_io_failed(self, errno);
	return 0;
}

/* One send() of @out when @sending, else one recv() into @in, within the deadline: waits while
 * the socket would block, retries when interrupted. */
static ssize_t
ql_tls_transfer(QlTls *self, gboolean sending, void *in, const void *out, size_t len)
{
	for (;;) {
		ssize_t r;
		/* before every call: bytes that keep moving do not move the deadline */
		if (ql_tls_left_ms(self) == 0)
			return ql_tls_timed_out(self);
		/* MSG_NOSIGNAL: a peer that went away must be an error, not SIGPIPE */
		r = sending ? send(self->fd, out, len, MSG_NOSIGNAL) : recv(self->fd, in, len, 0);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return ql_tls_io_failed(self, errno);
		if (ql_tls_io_wait(self, sending ? POLLOUT : POLLIN) < 0)
			return -1;
	}
}

static ssize_t
ql_tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	return ql_tls_transfer(ptr, FALSE, buf, NULL, len);
}

static int
ql_tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	QlTls *self = ptr;
	gint wait = ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (gint)MIN(ms, (guint)G_MAXINT);
	gint left = ql_tls_left_ms(self);
	gint rc;
	if (left >= 0 && (wait < 0 || left < wait))
		wait = left;
	rc = ql_tls_wait(self, POLLIN, wait);
	if (rc == 0 && ms != 0)
		self->timed_out = TRUE;
	return rc;
}

static ssize_t
ql_tls_push(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
	return ql_tls_transfer(ptr, TRUE, NULL, buf, len);
}

static gboolean
ql_tls_is_ip_literal(const gchar *host)
{
	return g_hostname_is_ip_address(host);
}

static const gchar *
ql_tls_cipher_list(QlTlsPolicy policy)
{
	return policy == QL_TLS_POLICY_STRICT
		       ? "TLS 1.3 with AES-256-GCM or ChaCha20-Poly1305"
		       : "TLS 1.2/1.3 with ECDHE and AES-GCM, AES-CCM or ChaCha20-Poly1305";
}

/* turns a failed record or handshake call into a clear error */
static void
ql_tls_set_io_error(QlTls *self, gint rc, const gchar *what, GError **error)
{
	const gchar *host = self->host != NULL ? self->host : "the server";

	if (self->cancelled) {
		g_set_error(error, QL_ERROR, QL_ERROR_CANCELLED, "%s %s: cancelled", what, host);
		return;
	}
	if (self->timed_out || rc == GNUTLS_E_TIMEDOUT) {
		if (self->op_ms % 1000 == 0)
			g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
				    "%s %s timed out: not done within %u s", what, host,
				    self->op_ms / 1000);
		else
			g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
				    "%s %s timed out: not done within %u ms", what, host,
				    self->op_ms);
		return;
	}
	/* the server asked for a client certificate, none is configured, and it then ended the
	 * handshake or the connection: whatever alert it chose (GnuTLS servers send 'decode
	 * error' for an empty Certificate under TLS 1.2), that is the reason. Under TLS 1.3 our
	 * side of the handshake may end first: the refusal (or a reset that lost it) then
	 * surfaces on the first write or read, which the server never decrypts. Once the
	 * server has answered, it took the session without a certificate: not this reason */
	if (!self->have_client_cert && self->session != NULL && !self->got_data &&
	    gnutls_certificate_client_get_request_status(self->session) &&
	    ((rc == GNUTLS_E_FATAL_ALERT_RECEIVED &&
	      gnutls_alert_get(self->session) != GNUTLS_A_PROTOCOL_VERSION) ||
	     rc == GNUTLS_E_PREMATURE_TERMINATION ||
	     ((rc == GNUTLS_E_PULL_ERROR || rc == GNUTLS_E_PUSH_ERROR) &&
	      (self->last_errno == ECONNRESET || self->last_errno == EPIPE)))) {
		g_set_error(error, QL_ERROR, QL_ERROR_TLS,
			    "TLS refused [client-certificate-required]: %s asked for a client "
			    "certificate (mTLS), none is configured for it, and it ended the "
			    "connection",
			    host);
		return;
	}
	if (rc == GNUTLS_E_KEY_USAGE_VIOLATION) {
		g_set_error(error, QL_ERROR, QL_ERROR_TLS,
			    "TLS refused [bad-key-usage]: %s signed the handshake with a key whose "
			    "certificate does not allow digital signatures",
			    host);
		return;
	}
	if (rc == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		gnutls_alert_description_t alert = gnutls_alert_get(self->session);
		const gchar *name = gnutls_alert_get_name(alert);
		gboolean requested = gnutls_certificate_client_get_request_status(self->session);

		if (alert == GNUTLS_A_PROTOCOL_VERSION) {
			g_set_error(
				error, QL_ERROR, QL_ERROR_TLS,
				self->policy == QL_TLS_POLICY_STRICT
					? "TLS refused [weak-protocol]: %s offers only TLS "
					  "1.2 or older; the strict policy (--secure) needs TLS "
					  "1.3"
					: "TLS refused [weak-protocol]: %s offers only a TLS "
					  "version older than 1.2",
				host);
			return;
		}
		if (requested && self->have_client_cert &&
		    (alert == GNUTLS_A_BAD_CERTIFICATE || alert == GNUTLS_A_UNKNOWN_CA ||
		     alert == GNUTLS_A_CERTIFICATE_UNKNOWN || alert == GNUTLS_A_ACCESS_DENIED ||
		     alert == GNUTLS_A_CERTIFICATE_EXPIRED || alert == GNUTLS_A_DECRYPT_ERROR)) {
			g_set_error(error, QL_ERROR, QL_ERROR_TLS,
				    "TLS: %s refused our client certificate (alert: %s)", host,
				    name != NULL ? name : "?");
			return;
		}
		if (alert == GNUTLS_A_HANDSHAKE_FAILURE ||
		    alert == GNUTLS_A_INSUFFICIENT_SECURITY) {
			g_set_error(error, QL_ERROR, QL_ERROR_TLS,
				    "TLS refused [weak-protocol]: %s accepts none of the cipher "
				    "suites the %s policy allows (%s)",
				    host, ql_tls_policy_to_string(self->policy),
				    ql_tls_cipher_list(self->policy));
			return;
		}
		g_set_error(error, QL_ERROR, QL_ERROR_TLS,
			    "%s %s failed: the server sent alert '%s'", what, host,
			    name != NULL ? name : "?");
		return;
	}
	switch (rc) {
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
		g_set_error(error, QL_ERROR, QL_ERROR_TLS,
			    "TLS refused [weak-protocol]: %s answered with a TLS version the %s "
			    "policy does not allow (%s)",
			    host, ql_tls_policy_to_string(self->policy),
			    ql_tls_cipher_list(self->policy));
		return;
	case GNUTLS_E_NO_CIPHER_SUITES:
	case GNUTLS_E_UNKNOWN_CIPHER_SUITE:
	case GNUTLS_E_INSUFFICIENT_SECURITY:
	case GNUTLS_E_NO_COMMON_KEY_SHARE:
	case GNUTLS_E_UNWANTED_ALGORITHM:
		g_set_error(
			error, QL_ERROR, QL_ERROR_TLS,
			"TLS refused [weak-protocol]: %s chose parameters the %s policy does not "
			"allow (%s): %s",
			host, ql_tls_policy_to_string(self->policy),
			ql_tls_cipher_list(self->policy), gnutls_strerror(rc));
		return;
	case GNUTLS_E_PREMATURE_TERMINATION:
		/* GnuTLS also reports a TCP reset met while sending as a premature end: a reset
		 * is told apart from a close by the errno our transport recorded */
		if (self->last_errno != ECONNRESET && self->last_errno != EPIPE) {
			if (!gnutls_session_is_resumed(self->session) &&
			    self->version_name == NULL && g_str_has_prefix(what, "TLS handshake")) {
				g_set_error(
					error, QL_ERROR, QL_ERROR_TLS,
					"%s %s failed: the server closed the connection (it may "
					"accept none of the versions and cipher suites of the "
					"%s policy: %s)",
					what, host, ql_tls_policy_to_string(self->policy),
					ql_tls_cipher_list(self->policy));
				return;
			}
			g_set_error(error, QL_ERROR, QL_ERROR_TLS,
				    "%s %s failed: the server closed the connection", what, host);
			return;
		}
		G_GNUC_FALLTHROUGH;
	case GNUTLS_E_PULL_ERROR:
	case GNUTLS_E_PUSH_ERROR:
		if (self->last_errno == ECONNRESET || self->last_errno == EPIPE) {
			g_set_error(error, QL_ERROR, QL_ERROR_TLS,
				    "%s %s failed: the connection was reset by the server", what,
				    host);
			return;
		}
		g_set_error(error, QL_ERROR, QL_ERROR_TLS, "%s %s failed: %s", what, host,
			    self->last_errno != 0 ? g_strerror(self->last_errno)
						  : gnutls_strerror(rc));
		return;
	case GNUTLS_E_REHANDSHAKE:
		g_set_error(error, QL_ERROR, QL_ERROR_TLS,
			    "%s %s failed: the server asked for a renegotiation, which we refuse",
			    what, host);
		return;
	default:
		g_set_error(error, QL_ERROR, QL_ERROR_TLS, "%s %s failed: %s", what, host,
			    gnutls_strerror(rc));
		return;
	}
}

gboolean
ql_tls_connect(QlTls *self, GSocket *socket, const gchar *host, GError **error)
{
	const gchar *err_pos = NULL;
	gint rc;

	g_return_val_if_fail(QL_IS_TLS(self), FALSE);
	g_return_val_if_fail(G_IS_SOCKET(socket), FALSE);
	g_return_val_if_fail(host != NULL, FALSE);

	ql_tls_close(self);
	self->socket = g_object_ref(socket);
	self->fd = g_socket_get_fd(socket);
	self->host = g_strdup(host);

	rc = gnutls_init(&self->session, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
	if (rc < 0) {
		self->session = NULL;
		g_set_error(error, QL_ERROR, QL_ERROR_TLS, "TLS: cannot start a session: %s",
			    gnutls_strerror(rc));
		ql_tls_drop_session(self);
		return FALSE;
	}
	gnutls_session_set_ptr(self->session, self);
	rc = gnutls_priority_set_direct(self->session, ql_tls_policy_priority(self->policy),
					&err_pos);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_TLS,
			    "TLS: the %s priority string is not accepted at '%s': %s",
			    ql_tls_policy_to_string(self->policy), err_pos != NULL ? err_pos : "?",
			    gnutls_strerror(rc));
		ql_tls_drop_session(self);
		return FALSE;
	}
	rc = gnutls_credentials_set(self->session, GNUTLS_CRD_CERTIFICATE, self->cred);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_TLS, "TLS: credentials: %s",
			    gnutls_strerror(rc));
		ql_tls_drop_session(self);
		return FALSE;
	}
	/* SNI carries names only (RFC 6066 3) */
	if (!ql_tls_is_ip_literal(host))
		gnutls_server_name_set(self->session, GNUTLS_NAME_DNS, host, strlen(host));
	if (self->policy == QL_TLS_POLICY_STRICT)
		gnutls_handshake_set_hook_function(self->session, GNUTLS_HANDSHAKE_SERVER_HELLO,
						   GNUTLS_HOOK_POST, ql_tls_server_hello_hook);
	gnutls_transport_set_ptr(self->session, self);
	gnutls_transport_set_pull_function(self->session, ql_tls_pull);
	gnutls_transport_set_pull_timeout_function(self->session, ql_tls_pull_timeout);
	gnutls_transport_set_push_function(self->session, ql_tls_push);
	/* the deadlines are ours (ql_tls_begin_op), checked in the transport: GnuTLS's own
	 * handshake and record timeouts stay off */
	gnutls_record_set_timeout(self->session, 0);
	gnutls_handshake_set_timeout(self->session, GNUTLS_INDEFINITE_TIMEOUT);

	ql_tls_begin_op(self, TRUE);
	do {
		rc = gnutls_handshake(self->session);
	} while (rc < 0 && !gnutls_error_is_fatal(rc) && !self->timed_out);

	if (rc < 0 || !self->verified) {
		if (self->verify_error != NULL)
			g_propagate_error(error, g_steal_pointer(&self->verify_error));
		else if (rc < 0)
			ql_tls_set_io_error(self, rc, "TLS handshake with", error);
		else
			ql_trust_set_error(error, QL_TRUST_FAILURE_NO_CERTIFICATE,
					   "the handshake with %s finished without a verified "
					   "certificate",
					   host);
		ql_tls_drop_session(self);
		return FALSE;
	}

	self->version = gnutls_protocol_get_version(self->session);
	/* belt and braces: the priority string already forbids this */
	if (self->policy == QL_TLS_POLICY_STRICT && self->version != GNUTLS_TLS1_3) {
		g_set_error(error, QL_ERROR, QL_ERROR_TLS,
			    "TLS refused [weak-protocol]: %s negotiated %s; the strict policy "
			    "(--secure) needs TLS 1.3",
			    host, gnutls_protocol_get_name(self->version));
		ql_tls_close(self);
		return FALSE;
	}
	self->handshakes++;
	/* what this handshake did, for the report: the verification, and whether the server
	 * asked for a client certificate and we sent one */
	g_clear_pointer(&self->trust_result, ql_trust_result_free);
	self->trust_result = g_steal_pointer(&self->pending_result);
	self->client_cert_requested =
		gnutls_certificate_client_get_request_status(self->session) != 0;
	self->client_cert_sent = gnutls_certificate_get_ours(self->session) != NULL;
	g_clear_pointer(&self->client_cert_subject, g_free);
	if (self->client_cert_sent) {
		const gnutls_datum_t *ours = gnutls_certificate_get_ours(self->session);
		g_auto(gnutls_x509_crt_t) crt = ql_pki_crt_from_bytes(ours->data, ours->size, NULL);
		gnutls_datum_t dn = {NULL, 0};
		if (crt != NULL && gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
			self->client_cert_subject = g_strndup((const gchar *)dn.data, dn.size);
			gnutls_free(dn.data);
		}
	}
	g_free(self->version_name);
	self->version_name = g_strdup(gnutls_protocol_get_name(self->version));
	g_free(self->suite_name);
	self->suite_name = g_strdup(gnutls_ciphersuite_get(self->session));
	g_debug("TLS with %s: %s %s (%s policy)", host, self->version_name, self->suite_name,
		ql_tls_policy_to_string(self->policy));
	return TRUE;
}

gboolean
ql_tls_is_connected(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), FALSE);
	return self->session != NULL;
}

void
ql_tls_close(QlTls *self)
{
	g_return_if_fail(QL_IS_TLS(self));
	if (self->session != NULL && self->verified) {
		/* a short, best-effort close_notify; never wait for the peer's */
		guint ms = MIN(self->timeout_ms == 0 ? 1000 : self->timeout_ms, 1000);
		self->op_deadline = g_get_monotonic_time() + (gint64)ms * 1000;
		self->op_ms = ms;
		gnutls_bye(self->session, GNUTLS_SHUT_WR);
	}
	if (self->socket != NULL)
		g_socket_close(self->socket, NULL);
	ql_tls_drop_session(self);
}

static gboolean
ql_tls_check_session(QlTls *self, GError **error)
{
	if (self->session == NULL) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_TLS, "TLS: not connected");
		return FALSE;
	}
	return TRUE;
}

gboolean
ql_tls_write_all(QlTls *self, const guint8 *data, gsize len, GError **error)
{
	g_return_val_if_fail(QL_IS_TLS(self), FALSE);
	if (!ql_tls_check_session(self, error))
		return FALSE;
	ql_tls_begin_op(self, FALSE);
	while (len > 0) {
		ssize_t rc = gnutls_record_send(self->session, data, len);
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
			continue;
		if (rc < 0) {
			ql_tls_set_io_error(self, (gint)rc, "sending to", error);
			return FALSE;
		}
		data += rc;
		len -= (gsize)rc;
	}
	return TRUE;
}

gssize
ql_tls_read(QlTls *self, guint8 *buf, gsize len, GError **error)
{
	g_return_val_if_fail(QL_IS_TLS(self), -1);
	if (!ql_tls_check_session(self, error))
		return -1;
	ql_tls_begin_op(self, FALSE);
	for (;;) {
		ssize_t rc = gnutls_record_recv(self->session, buf, len);
		if (rc > 0)
			self->got_data = TRUE;
		if (rc >= 0)
			return rc;
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
			continue;
		/* a TCP close without close_notify: the caller's framing (Content-Length,
		 * chunked) decides whether anything is missing */
		if (rc == GNUTLS_E_PREMATURE_TERMINATION && self->last_errno == 0) {
			self->eof_unclean = TRUE;
			return 0;
		}
		ql_tls_set_io_error(self, (gint)rc, "reading from", error);
		return -1;
	}
}

gboolean
ql_tls_eof_was_clean(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), FALSE);
	return !self->eof_unclean;
}

gboolean
ql_tls_has_input(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), FALSE);
	if (self->session == NULL)
		return FALSE;
	if (gnutls_record_check_pending(self->session) > 0)
		return TRUE;
	return ql_tls_poll(self->fd, POLLIN, 0) != 0;
}

const gchar *
ql_tls_get_version_name(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), NULL);
	return self->version_name;
}

const gchar *
ql_tls_get_cipher_suite_name(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), NULL);
	return self->suite_name;
}

gnutls_protocol_t
ql_tls_get_version(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), GNUTLS_VERSION_UNKNOWN);
	return self->version;
}

guint
ql_tls_get_handshake_count(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), 0);
	return self->handshakes;
}

gnutls_x509_crt_t
ql_tls_get_peer_certificate(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), NULL);
	return self->session != NULL ? self->peer : NULL;
}

const QlTrustResult *
ql_tls_get_trust_result(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), NULL);
	return self->trust_result;
}

gboolean
ql_tls_get_client_cert_configured(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), FALSE);
	return self->have_client_cert;
}

gboolean
ql_tls_get_client_cert_requested(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), FALSE);
	return self->client_cert_requested;
}

gboolean
ql_tls_get_client_cert_sent(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), FALSE);
	return self->client_cert_sent;
}

const gchar *
ql_tls_get_client_cert_subject(QlTls *self)
{
	g_return_val_if_fail(QL_IS_TLS(self), NULL);
	return self->client_cert_subject;
}
