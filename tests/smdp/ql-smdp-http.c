/*
 * The HTTPS side of the test SM-DP+: GnuTLS, HTTP/1.1 with keep-alive, one thread per
 * connection (the protocol is a sequence of blocking exchanges; a thread reads like the spec).
 * Requests are bounded (header and body sizes, idle time, number of connections) and anything
 * malformed gets a 4xx and a closed connection, never a crash.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "quantra-l/ql-error.h"
#include "ql-smdp.h"
/* ql_test_server_send(): the same whole-buffer send as the unit tests' TLS server */
#include "../ql-test-tls-server.h"

/* SGP.22 2.6.6: TLS 1.2 or 1.3 with ECDHE and AEAD suites, ECDSA server keys */
#define QL_SMDP_PRIORITY_DEFAULT                                                                   \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"        \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA"
#define QL_SMDP_PRIORITY_TLS12                                                                     \
	"NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"                     \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA"
/* a chain from --tls-chain may carry an RSA key */
#define QL_SMDP_PRIORITY_ANY_KEY                                                                   \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"        \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"
/* the weak-cipher fault: what a client must refuse, CBC with HMAC and TLS 1.2 */
#define QL_SMDP_PRIORITY_WEAK                                                                      \
	"NORMAL:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+AES-128-CBC:+AES-256-CBC:-MAC-ALL:+SHA1:"      \
	"+SHA256:-KX-ALL:+ECDHE-ECDSA"

/* how long a closing connection keeps reading what the client still sends (see
 * ql_smdp_linger_close) */
#define QL_SMDP_LINGER_MS 5000

typedef struct {
	QlSmdpServer *server;
	gnutls_certificate_credentials_t cred;
	const gchar *priority;
	gboolean require_client_cert;
	gint connections;
} QlSmdpHttp;

typedef struct {
	QlSmdpHttp *http;
	GSocket *socket;
	gsize received; /* application bytes read from the client: the request bytes */
	/* the latency model (ql_smdp_http_set_rtt): monotonic microseconds */
	gint fd;
	gint64 established; /* the TCP handshake's round trip done, as the client sees it */
	gint64 last_in;	    /* the client's last bytes came in */
} QlSmdpConn;

static guint ql_smdp_rtt_ms;

void
ql_smdp_http_set_rtt(guint rtt_ms)
{
	ql_smdp_rtt_ms = rtt_ms;
}

typedef struct {
	gchar *method;
	gchar *path;
	gchar *admin_protocol;
	gboolean close;
	gboolean have_length;
	gsize content_length;
	gboolean chunked;
} QlSmdpRequest;

static void
ql_smdp_request_clear(QlSmdpRequest *r)
{
	g_clear_pointer(&r->method, g_free);
	g_clear_pointer(&r->path, g_free);
	g_clear_pointer(&r->admin_protocol, g_free);
	memset(r, 0, sizeof(*r));
}

static const gchar *
ql_smdp_reason_phrase(guint status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 411:
		return "Length Required";
	case 413:
		return "Payload Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	default:
		return "Unknown";
	}
}

/* Reads more into @buf, counting it in @received; FALSE at EOF, on error or timeout */
static gboolean
ql_smdp_recv_more(gnutls_session_t session, GByteArray *buf, gsize *received)
{
	guint8 tmp[16384];
	for (;;) {
		ssize_t n = gnutls_record_recv(session, tmp, sizeof(tmp));
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n <= 0)
			return FALSE;
		*received += (gsize)n;
		g_byte_array_append(buf, tmp, (guint)n);
		return TRUE;
	}
}

/* Position of the blank line that ends the head, or -1 */
static gssize
ql_smdp_find_head_end(const GByteArray *buf)
{
	for (gsize i = 0; i + 3 < buf->len; i++) {
		if (memcmp(buf->data + i, "\r\n\r\n", 4) == 0)
			return (gssize)i;
	}
	return -1;
}

static gboolean
ql_smdp_parse_size(const gchar *s, gsize *out)
{
	guint64 v = 0;
	const gchar *p = s;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return FALSE;
	for (; *p != '\0' && *p != ' ' && *p != '\t'; p++) {
		if (!g_ascii_isdigit(*p) || v > G_MAXSIZE / 10)
			return FALSE;
		v = v * 10 + (guint64)(*p - '0');
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0')
		return FALSE;
	*out = (gsize)v;
	return TRUE;
}

/* The request line and the headers we use; FALSE when the head is not HTTP/1.x */
static gboolean
ql_smdp_parse_head(const gchar *head, QlSmdpRequest *r)
{
	g_auto(GStrv) lines = g_strsplit(head, "\r\n", 0);
	g_auto(GStrv) words = NULL;

	if (lines[0] == NULL)
		return FALSE;
	words = g_strsplit(lines[0], " ", 0);
	if (g_strv_length(words) != 3 || words[0][0] == '\0' || words[1][0] != '/' ||
	    !g_str_has_prefix(words[2], "HTTP/1."))
		return FALSE;
	r->method = g_strdup(words[0]);
	r->path = g_strdup(words[1]);
	/* HTTP/1.0 closes unless asked otherwise; we do not bother with 1.0 keep-alive */
	r->close = g_strcmp0(words[2], "HTTP/1.0") == 0;
	for (guint i = 1; lines[i] != NULL; i++) {
		gchar *colon = strchr(lines[i], ':');
		g_autofree gchar *name = NULL;
		g_autofree gchar *value = NULL;
		if (colon == NULL || colon == lines[i])
			return FALSE;
		name = g_strndup(lines[i], (gsize)(colon - lines[i]));
		value = g_strstrip(g_strdup(colon + 1));
		if (g_ascii_strcasecmp(name, "Content-Length") == 0) {
			gsize len = 0;
			if (!ql_smdp_parse_size(value, &len) ||
			    (r->have_length && len != r->content_length))
				return FALSE;
			r->content_length = len;
			r->have_length = TRUE;
		} else if (g_ascii_strcasecmp(name, "Transfer-Encoding") == 0) {
			r->chunked = TRUE;
		} else if (g_ascii_strcasecmp(name, "Connection") == 0) {
			if (g_ascii_strcasecmp(value, "close") == 0)
				r->close = TRUE;
		} else if (g_ascii_strcasecmp(name, "X-Admin-Protocol") == 0) {
			g_free(r->admin_protocol);
			r->admin_protocol = g_steal_pointer(&value);
		}
	}
	return TRUE;
}

static gboolean
ql_smdp_send_status(gnutls_session_t session, guint status)
{
	g_autofree gchar *msg = g_strdup_printf("HTTP/1.1 %u %s\r\nContent-Length: 0\r\n"
						"Connection: close\r\n\r\n",
						status, ql_smdp_reason_phrase(status));
	return ql_test_server_send(session, msg, strlen(msg));
}

/* Sends @reply; FALSE when the connection must end (error, or the reset fault: @aborted) */
static gboolean
ql_smdp_send_reply(gnutls_session_t session, GSocket *socket, QlSmdpReply *reply, gboolean closing,
		   gboolean *aborted)
{
	g_autoptr(GString) head = g_string_new(NULL);

	g_string_append_printf(head, "HTTP/1.1 %u %s\r\n", reply->http_status,
			       ql_smdp_reason_phrase(reply->http_status));
	g_string_append(head, "X-Admin-Protocol: gsma/rsp/v2.2.0\r\n");
	if (reply->http_status != 204) {
		if (reply->body != NULL)
			g_string_append(head, "Content-Type: application/json;charset=UTF-8\r\n");
		/* the huge fault: a body no client should wait for */
		g_string_append_printf(head, "Content-Length: %" G_GSIZE_FORMAT "\r\n",
				       reply->huge ? (gsize)1 << 30 : reply->body_len);
	}
	g_string_append(head,
			closing ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n");
	if (reply->trickle) {
		/* the trickle fault: the whole answer, one byte per TLS record, for as long as
		 * the client reads it */
		if (reply->body_len > 0)
			g_string_append_len(head, reply->body, (gssize)reply->body_len);
		for (gsize i = 0; i < head->len; i++) {
			if (!ql_test_server_send(session, head->str + i, 1))
				return FALSE;
			g_usleep(QL_SMDP_TRICKLE_MS * 1000);
		}
		return TRUE;
	}
	if (!ql_test_server_send(session, head->str, head->len))
		return FALSE;
	if (reply->reset) {
		/* the reset fault: part of the body, then a TCP reset without close_notify */
		struct linger lg = {1, 0};
		gint fd = g_socket_get_fd(socket);
		if (reply->body_len > 1)
			ql_test_server_send(session, reply->body, reply->body_len / 2);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		shutdown(fd, SHUT_RDWR);
		*aborted = TRUE;
		return FALSE;
	}
	if (reply->body_len > 0 && !ql_test_server_send(session, reply->body, reply->body_len))
		return FALSE;
	return TRUE;
}

/* Serves requests on one established TLS session until it closes; @aborted tells that the
 * connection was reset on purpose (the reset fault) */
static void
ql_smdp_serve_requests(QlSmdpHttp *http, gnutls_session_t session, GSocket *socket, gsize *received,
		       gboolean *aborted)
{
	g_autoptr(GByteArray) buf = g_byte_array_new();

	for (;;) {
		QlSmdpRequest req = {0};
		g_autoptr(QlSmdpReply) reply = NULL;
		g_autofree gchar *head = NULL;
		gssize end;
		gsize head_len;
		gboolean ok;

		while ((end = ql_smdp_find_head_end(buf)) < 0) {
			if (buf->len > QL_SMDP_MAX_HEADER_BYTES) {
				ql_smdp_print("http 413 header too large");
				ql_smdp_send_status(session, 413);
				return;
			}
			if (!ql_smdp_recv_more(session, buf, received))
				return; /* closed, idle timeout or error: the connection ends */
		}
		head_len = (gsize)end + 4;
		if ((gsize)end > QL_SMDP_MAX_HEADER_BYTES) {
			ql_smdp_print("http 413 header too large");
			ql_smdp_send_status(session, 413);
			return;
		}
		head = g_strndup((const gchar *)buf->data, (gsize)end);
		if (strlen(head) != (gsize)end || !ql_smdp_parse_head(head, &req)) {
			ql_smdp_print("http 400 malformed request");
			ql_smdp_send_status(session, 400);
			ql_smdp_request_clear(&req);
			return;
		}
		if (req.chunked) {
			/* ES9+ clients send Content-Length (SGP.22 6.5) */
			ql_smdp_print("http 501 chunked request body");
			ql_smdp_send_status(session, 501);
			ql_smdp_request_clear(&req);
			return;
		}
		if (!req.have_length && g_strcmp0(req.method, "POST") == 0) {
			ql_smdp_print("http 411 no Content-Length");
			ql_smdp_send_status(session, 411);
			ql_smdp_request_clear(&req);
			return;
		}
		if (req.content_length > QL_SMDP_MAX_BODY) {
			ql_smdp_print("http 413 body too large");
			ql_smdp_send_status(session, 413);
			ql_smdp_request_clear(&req);
			return;
		}
		ok = TRUE;
		while (ok && buf->len - head_len < req.content_length)
			ok = ql_smdp_recv_more(session, buf, received);
		if (!ok) {
			ql_smdp_request_clear(&req);
			return;
		}
		reply = ql_smdp_server_handle(http->server, req.method, req.path,
					      req.admin_protocol, buf->data + head_len,
					      req.content_length);
		/* keep what follows (a pipelined request) */
		g_byte_array_remove_range(buf, 0, (guint)(head_len + req.content_length));
		if (reply->delay_s > 0)
			g_usleep((gulong)reply->delay_s * G_USEC_PER_SEC);
		ok = ql_smdp_send_reply(session, socket, reply, req.close, aborted);
		if (!ok || req.close) {
			ql_smdp_request_clear(&req);
			return;
		}
		ql_smdp_request_clear(&req);
	}
}

/* The trickle-handshake fault: what the server sends during the handshake, one byte at a time */
static ssize_t
ql_smdp_trickle_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
	gint fd = GPOINTER_TO_INT(ptr);
	g_usleep(QL_SMDP_TRICKLE_MS * 1000);
	return send(fd, data, len > 0 ? 1 : 0, MSG_NOSIGNAL);
}

static ssize_t
ql_smdp_plain_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
	return send(GPOINTER_TO_INT(ptr), data, len, MSG_NOSIGNAL);
}

/* The latency model: what the client sent counts as come in when the kernel got it (its
 * timestamp: the server may have been busy sending), and no earlier than when the connection is
 * up (a client's connect() returns at once on loopback, where the model says it takes a round
 * trip) */
static ssize_t
ql_smdp_lag_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	QlSmdpConn *conn = ptr;
	union {
		struct cmsghdr align;
		gchar buf[CMSG_SPACE(sizeof(struct timespec))];
	} control;
	struct iovec iov = {data, len};
	struct msghdr msg = {0};
	ssize_t n;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	n = recvmsg(conn->fd, &msg, 0);
	if (n > 0) {
		gint64 now = g_get_monotonic_time();
		gint64 came = now;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
				struct timespec ts;
				memcpy(&ts, CMSG_DATA(c), sizeof(ts));
				came = now -
				       (g_get_real_time() -
					((gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000));
			}
		}
		conn->last_in = MAX(MIN(came, now), conn->established);
	}
	return n;
}

static int
ql_smdp_lag_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	QlSmdpConn *conn = ptr;
	struct pollfd p = {conn->fd, POLLIN, 0};
	return poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
}

/* ... and what the server sends leaves a round trip after what it answers came in */
static ssize_t
ql_smdp_lag_push(gnutls_transport_ptr_t ptr, const void *data, size_t len)
{
	QlSmdpConn *conn = ptr;
	gint64 left = conn->last_in + (gint64)ql_smdp_rtt_ms * 1000 - g_get_monotonic_time();
	if (left > 0)
		g_usleep((gulong)left);
	return send(conn->fd, data, len, MSG_NOSIGNAL);
}

/* Ends the connection with a FIN, never a reset. close() with unread input (the client's last
 * handshake flight, or a request it sent before reading our alert) makes the kernel answer with
 * a TCP reset, and the reset can overtake what we sent last: the client then sees "connection
 * reset" or an early end instead of our alert or answer, depending on timing. So, as HTTP
 * servers do (RFC 9112 9.6, lingering close): FIN after our last byte, then read and drop what
 * the client still sends until it closes, for a bounded time. */
static void
ql_smdp_linger_close(GSocket *socket)
{
	gint fd = g_socket_get_fd(socket);
	gint64 end = g_get_monotonic_time() + (gint64)QL_SMDP_LINGER_MS * 1000;
	guint8 sink[4096];

	if (shutdown(fd, SHUT_WR) < 0)
		return;
	for (;;) {
		gint64 left_ms = (end - g_get_monotonic_time()) / 1000;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		gint rc;
		if (left_ms <= 0)
			return;
		rc = poll(&pfd, 1, (gint)left_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0 || recv(fd, sink, sizeof(sink), 0) <= 0)
			return;
	}
}

static gpointer
ql_smdp_conn_thread(gpointer data)
{
	QlSmdpConn *conn = data;
	QlSmdpHttp *http = conn->http;
	gnutls_session_t session = NULL;
	gboolean handshake_done = FALSE;
	gboolean aborted = FALSE;
	gint rc;

	if (gnutls_init(&session, GNUTLS_SERVER) < 0)
		goto out;
	rc = gnutls_priority_set_direct(session, http->priority, NULL);
	if (rc >= 0)
		rc = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, http->cred);
	if (rc < 0) {
		ql_smdp_print("tls handshake failed: %s", gnutls_strerror(rc));
		goto out;
	}
	if (http->require_client_cert) {
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
		/* GnuTLS checks the client's chain against client-ca.pem in the handshake */
		gnutls_session_set_verify_cert(session, NULL, 0);
	}
	gnutls_transport_set_int(session, g_socket_get_fd(conn->socket));
	/* a head and a body sent apart must not wait for the client's delayed ACK (Nagle) */
	g_socket_set_option(conn->socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
	if (ql_smdp_rtt_ms > 0) {
		const int on = 1;
		conn->fd = g_socket_get_fd(conn->socket);
		setsockopt(conn->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
		conn->established = g_get_monotonic_time() + (gint64)ql_smdp_rtt_ms * 1000;
		conn->last_in = conn->established;
		gnutls_transport_set_ptr(session, conn);
		gnutls_transport_set_pull_function(session, ql_smdp_lag_pull);
		gnutls_transport_set_pull_timeout_function(session, ql_smdp_lag_pull_timeout);
		gnutls_transport_set_push_function(session, ql_smdp_lag_push);
	}
	gnutls_handshake_set_timeout(session, 15000);
	if (ql_smdp_server_fault(http->server, "trickle-handshake", NULL)) {
		/* as long as the trickle lasts; the client must give up first */
		gnutls_handshake_set_timeout(session, GNUTLS_INDEFINITE_TIMEOUT);
		gnutls_transport_set_push_function(session, ql_smdp_trickle_push);
	}
	do {
		rc = gnutls_handshake(session);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	gnutls_transport_set_push_function(session, ql_smdp_rtt_ms > 0 ? ql_smdp_lag_push
								       : ql_smdp_plain_push);
	if (rc < 0) {
		gnutls_alert_send_appropriate(session, rc);
		ql_smdp_print("tls handshake failed: %s", gnutls_strerror(rc));
		goto out;
	}
	handshake_done = TRUE;
	gnutls_record_set_timeout(session, QL_SMDP_IDLE_TIMEOUT_MS);
	ql_smdp_serve_requests(http, session, conn->socket, &conn->received, &aborted);
	if (!aborted)
		gnutls_bye(session, GNUTLS_SHUT_WR);
out:
	/* what the client's HTTP layer got to send us: none when it refused the handshake */
	ql_smdp_print("connection ended (%s): %" G_GSIZE_FORMAT " request bytes",
		      handshake_done ? "handshake done" : "no handshake", conn->received);
	if (session != NULL)
		gnutls_deinit(session);
	if (!aborted)
		ql_smdp_linger_close(conn->socket);
	g_socket_close(conn->socket, NULL);
	g_object_unref(conn->socket);
	g_free(conn);
	g_atomic_int_add(&http->connections, -1);
	return NULL;
}

/* The TLS certificate the faults ask for, else CERT.DP.TLS */
static const QlPkiCert *
ql_smdp_tls_cert(QlSmdpServer *server)
{
	QlSmdpPki *pki = ql_smdp_server_get_pki(server);
	if (ql_smdp_server_fault(server, "expired", NULL))
		return &pki->tls_expired;
	if (ql_smdp_server_fault(server, "not-yet-valid", NULL))
		return &pki->tls_not_yet_valid;
	if (ql_smdp_server_fault(server, "wrong-host", NULL))
		return &pki->tls_wrong_host;
	if (ql_smdp_server_fault(server, "unknown-ci", NULL))
		return &pki->tls_unknown_ci;
	if (ql_smdp_server_fault(server, "revoked", NULL))
		return &pki->tls_revoked;
	if (ql_smdp_server_fault(server, "wrong-role", NULL))
		return &pki->tls_wrong_role;
	return &pki->dptls;
}

gboolean
ql_smdp_http_check_tls(const QlSmdpTlsOverride *tls, GError **error)
{
	gnutls_certificate_credentials_t cred = NULL;
	gnutls_priority_t prio = NULL;
	const gchar *err_pos = NULL;
	gint rc;

	if (tls->priority != NULL) {
		rc = gnutls_priority_init(&prio, tls->priority, &err_pos);
		if (rc < 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "TLS priority string not accepted at '%s': %s",
				    err_pos != NULL ? err_pos : "?", gnutls_strerror(rc));
			return FALSE;
		}
		gnutls_priority_deinit(prio);
	}
	if (tls->chain_file == NULL)
		return TRUE;
	rc = gnutls_certificate_allocate_credentials(&cred);
	if (rc >= 0)
		rc = gnutls_certificate_set_x509_key_file2(
			cred, tls->chain_file,
			tls->key_file != NULL ? tls->key_file : tls->chain_file,
			GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT, "cannot serve %s: %s",
			    tls->chain_file, gnutls_strerror(rc));
		return FALSE;
	}
	return TRUE;
}

gboolean
ql_smdp_http_run(QlSmdpServer *server, GSocket *listener, const QlSmdpTlsOverride *tls,
		 GError **error)
{
	QlSmdpHttp http = {0};
	const QlPkiCert *cert = ql_smdp_tls_cert(server);
	gnutls_x509_crt_t crt = cert->crt;
	gint rc;

	http.server = server;
	http.priority = QL_SMDP_PRIORITY_DEFAULT;
	if (tls != NULL && tls->chain_file != NULL)
		http.priority = QL_SMDP_PRIORITY_ANY_KEY;
	if (ql_smdp_server_fault(server, "tls12", NULL))
		http.priority = QL_SMDP_PRIORITY_TLS12;
	if (ql_smdp_server_fault(server, "weak-cipher", NULL))
		http.priority = QL_SMDP_PRIORITY_WEAK;
	if (tls != NULL && tls->priority != NULL)
		http.priority = tls->priority;
	rc = gnutls_certificate_allocate_credentials(&http.cred);
	if (rc >= 0 && tls != NULL && tls->chain_file != NULL)
		/* a hostile chain made by the tests (certtool): served as it is */
		rc = gnutls_certificate_set_x509_key_file2(
			http.cred, tls->chain_file,
			tls->key_file != NULL ? tls->key_file : tls->chain_file,
			GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
	else if (rc >= 0)
		rc = gnutls_certificate_set_x509_key(http.cred, &crt, 1, cert->key);
	if (rc >= 0 && ql_smdp_server_fault(server, "client-cert", NULL)) {
		http.require_client_cert = TRUE;
		rc = gnutls_certificate_set_x509_trust_file(
			http.cred, ql_smdp_server_get_pki(server)->client_ca_path,
			GNUTLS_X509_FMT_PEM);
		if (rc == 0)
			rc = GNUTLS_E_NO_CERTIFICATE_FOUND;
	}
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_TLS, "TLS credentials: %s",
			    gnutls_strerror(rc));
		if (http.cred != NULL)
			gnutls_certificate_free_credentials(http.cred);
		return FALSE;
	}
	for (;;) {
		g_autoptr(GError) error_local = NULL;
		GSocket *client = g_socket_accept(listener, NULL, &error_local);
		QlSmdpConn *conn;
		GThread *thread;
		if (client == NULL) {
			if (g_error_matches(error_local, G_IO_ERROR,
					    G_IO_ERROR_TOO_MANY_OPEN_FILES))
				g_usleep(100000);
			continue;
		}
		if (g_atomic_int_get(&http.connections) >= QL_SMDP_MAX_CONNECTIONS) {
			ql_smdp_print("tls handshake failed: too many connections");
			g_socket_close(client, NULL);
			g_object_unref(client);
			continue;
		}
		g_socket_set_blocking(client, TRUE);
		g_atomic_int_inc(&http.connections);
		conn = g_new0(QlSmdpConn, 1);
		conn->http = &http;
		conn->socket = client;
		thread = g_thread_try_new("ql-smdp-conn", ql_smdp_conn_thread, conn, &error_local);
		if (thread == NULL) {
			g_socket_close(client, NULL);
			g_object_unref(client);
			g_free(conn);
			g_atomic_int_add(&http.connections, -1);
			continue;
		}
		g_thread_unref(thread);
	}
	/* not reached: the program ends by a signal */
	return TRUE;
}
