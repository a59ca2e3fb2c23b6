/*
 * A GnuTLS test server in a thread on 127.0.0.1 (ephemeral port), and a CONNECT proxy, for
 * test-tls and test-http. Header-only so each test binary stays one source file.
 *
 * The server counts what it saw: accepted connections, completed and failed handshakes, and
 * application-data bytes received, so a test can prove a refused server got no request byte.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <errno.h>
#include <gio/gio.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ql-pki.h"

typedef struct _QlTestServer QlTestServer;
/* Runs after a completed handshake; returns when the connection should close. */
typedef void (*QlTestServerHandler)(QlTestServer *srv, gnutls_session_t session, gint fd);

struct _QlTestServer {
	GSocket *listener;
	guint16 port;
	GThread *thread;
	gnutls_certificate_credentials_t cred;
	gchar *priority;
	gboolean require_client_cert;
	QlTestServerHandler handler;
	gpointer user_data;
	gint stop;
	/* counters, atomic */
	gint accepted;
	gint handshakes_ok;
	gint handshakes_failed;
	gint connections_done;
	gint app_bytes;
	gint requests;
	gint client_cert_seen;
	gint abort_connection; /* set by a handler: no close_notify, the fd is closed as is */
	/* under lock */
	GMutex lock;
	gchar *last_request; /* head of the last HTTP request */
	gchar *negotiated;   /* "TLS1.3 TLS_AES_256_GCM_SHA384" */
};

/* ignore SIGPIPE? GnuTLS's default push sends with MSG_NOSIGNAL; tests call this anyway */
static inline gboolean
ql_test_server_stopping(QlTestServer *srv)
{
	return g_atomic_int_get(&srv->stop) != 0;
}

/* Reads application data; counts it. Returns bytes, 0 at EOF, <0 on error or stop. */
static inline gssize
ql_test_server_recv(QlTestServer *srv, gnutls_session_t session, guint8 *buf, gsize len)
{
	for (;;) {
		ssize_t n = gnutls_record_recv(session, buf, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED || n == GNUTLS_E_TIMEDOUT) {
			if (ql_test_server_stopping(srv))
				return -1;
			continue;
		}
		if (n > 0)
			g_atomic_int_add(&srv->app_bytes, (gint)n);
		return n;
	}
}

static inline gboolean
ql_test_server_send(gnutls_session_t session, const void *data, gsize len)
{
	const guint8 *p = data;
	while (len > 0) {
		ssize_t n = gnutls_record_send(session, p, len);
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0)
			return FALSE;
		p += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* Default handler: answers each received record with "pong". */
static inline void
ql_test_server_echo_handler(QlTestServer *srv, gnutls_session_t session, gint fd)
{
	guint8 buf[4096];
	for (;;) {
		gssize n = ql_test_server_recv(srv, session, buf, sizeof(buf));
		if (n <= 0)
			return;
		if (!ql_test_server_send(session, "pong", 4))
			return;
	}
}

static inline void
ql_test_server_serve(QlTestServer *srv, gint fd)
{
	gnutls_session_t session = NULL;
	gint rc;

	if (gnutls_init(&session, GNUTLS_SERVER) < 0)
		return;
	gnutls_priority_set_direct(session, srv->priority, NULL);
	gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, srv->cred);
	if (srv->require_client_cert) {
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
		/* make GnuTLS verify the client certificate against the credentials' CAs */
		gnutls_session_set_verify_cert(session, NULL, 0);
	}
	gnutls_transport_set_int(session, fd);
	gnutls_handshake_set_timeout(session, 10000);
	/* a short record timeout so the thread notices a stop request */
	gnutls_record_set_timeout(session, 200);
	do {
		rc = gnutls_handshake(session);
	} while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0) {
		g_atomic_int_inc(&srv->handshakes_failed);
		/* as real servers do: tell the client why */
		gnutls_alert_send_appropriate(session, rc);
		g_debug("test server: handshake failed: %s", gnutls_strerror(rc));
	} else {
		g_autofree gchar *desc = g_strdup_printf(
			"%s %s", gnutls_protocol_get_name(gnutls_protocol_get_version(session)),
			gnutls_ciphersuite_get(session));
		unsigned int n = 0;
		g_atomic_int_inc(&srv->handshakes_ok);
		if (gnutls_certificate_get_peers(session, &n) != NULL && n > 0)
			g_atomic_int_inc(&srv->client_cert_seen);
		g_mutex_lock(&srv->lock);
		g_free(srv->negotiated);
		srv->negotiated = g_steal_pointer(&desc);
		g_mutex_unlock(&srv->lock);
		g_atomic_int_set(&srv->abort_connection, 0);
		srv->handler(srv, session, fd);
		if (!g_atomic_int_get(&srv->abort_connection))
			gnutls_bye(session, GNUTLS_SHUT_WR);
	}
	gnutls_deinit(session);
}

static inline gpointer
ql_test_server_thread(gpointer data)
{
	QlTestServer *srv = data;
	gint lfd = g_socket_get_fd(srv->listener);

	while (!ql_test_server_stopping(srv)) {
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};
		gint fd;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		g_atomic_int_inc(&srv->accepted);
		ql_test_server_serve(srv, fd);
		close(fd);
		g_atomic_int_inc(&srv->connections_done);
	}
	return NULL;
}

static inline GSocket *
ql_test_listen_loopback(guint16 *port)
{
	g_autoptr(GSocket) sock = NULL;
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) addr = g_inet_socket_address_new(lo, 0);
	g_autoptr(GSocketAddress) bound = NULL;
	g_autoptr(GError) error = NULL;

	sock = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
			    &error);
	g_assert_no_error(error);
	g_assert_true(g_socket_bind(sock, addr, TRUE, &error));
	g_assert_no_error(error);
	g_assert_true(g_socket_listen(sock, &error));
	g_assert_no_error(error);
	bound = g_socket_get_local_address(sock, &error);
	g_assert_no_error(error);
	*port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
	return g_steal_pointer(&sock);
}

/* @chain: leaf first. @client_ca: when set, client certificates are required and checked. */
static inline QlTestServer *
ql_test_server_new(const QlPkiCert *leaf, const QlPkiCert *chain_extra, const gchar *priority,
		   const QlPkiCert *client_ca, QlTestServerHandler handler, gpointer user_data)
{
	QlTestServer *srv = g_new0(QlTestServer, 1);
	gnutls_x509_crt_t chain[2] = {leaf->crt, chain_extra != NULL ? chain_extra->crt : NULL};

	g_mutex_init(&srv->lock);
	g_assert_cmpint(gnutls_certificate_allocate_credentials(&srv->cred), ==, 0);
	g_assert_cmpint(gnutls_certificate_set_x509_key(srv->cred, chain,
							chain_extra != NULL ? 2 : 1, leaf->key),
			==, 0);
	if (client_ca != NULL) {
		gnutls_x509_crt_t ca = client_ca->crt;
		g_assert_cmpint(gnutls_certificate_set_x509_trust(srv->cred, &ca, 1), ==, 1);
		srv->require_client_cert = TRUE;
	}
	srv->priority = g_strdup(priority != NULL ? priority : "NORMAL");
	srv->handler = handler != NULL ? handler : ql_test_server_echo_handler;
	srv->user_data = user_data;
	srv->listener = ql_test_listen_loopback(&srv->port);
	srv->thread = g_thread_new("ql-test-server", ql_test_server_thread, srv);
	return srv;
}

/* Waits (bounded) until the server has finished @n connections. */
static inline void
ql_test_server_wait_done(QlTestServer *srv, gint n)
{
	for (guint i = 0; i < 1000 && g_atomic_int_get(&srv->connections_done) < n; i++)
		g_usleep(10000);
	g_assert_cmpint(g_atomic_int_get(&srv->connections_done), >=, n);
}

static inline void
ql_test_server_free(QlTestServer *srv)
{
	if (srv == NULL)
		return;
	g_atomic_int_set(&srv->stop, 1);
	g_thread_join(srv->thread);
	g_socket_close(srv->listener, NULL);
	g_object_unref(srv->listener);
	gnutls_certificate_free_credentials(srv->cred);
	g_free(srv->priority);
	g_free(srv->last_request);
	g_free(srv->negotiated);
	g_mutex_clear(&srv->lock);
	g_free(srv);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlTestServer, ql_test_server_free)

/* A plain TCP connection to the server, as the client code expects. */
static inline GSocketConnection *
ql_test_connect_loopback(guint16 port)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnectable) addr = g_network_address_new("127.0.0.1", port);
	g_autoptr(GError) error = NULL;
	GSocketConnection *conn = g_socket_client_connect(client, addr, NULL, &error);
	g_assert_no_error(error);
	return conn;
}

/* ------------------------------------------------------------------------------------------ */
/* CONNECT proxy: one tunnel at a time, loopback targets only                                  */

typedef struct {
	GSocket *listener;
	guint16 port;
	GThread *thread;
	gint stop;
	gint tunnels;
	GMutex lock;
	gchar *last_connect; /* the request line */
} QlTestProxy;

static inline void
ql_test_proxy_relay(QlTestProxy *proxy, gint a, gint b)
{
	guint8 buf[16384];
	while (g_atomic_int_get(&proxy->stop) == 0) {
		struct pollfd pfd[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};
		if (poll(pfd, 2, 100) <= 0)
			continue;
		for (guint i = 0; i < 2; i++) {
			ssize_t n;
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
				continue;
			n = recv(pfd[i].fd, buf, sizeof(buf), 0);
			if (n <= 0)
				return;
			if (send(i == 0 ? b : a, buf, (gsize)n, MSG_NOSIGNAL) != n)
				return;
		}
	}
}

static inline gpointer
ql_test_proxy_thread(gpointer data)
{
	QlTestProxy *proxy = data;
	gint lfd = g_socket_get_fd(proxy->listener);

	while (g_atomic_int_get(&proxy->stop) == 0) {
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};
		GString *head = g_string_new(NULL);
		gint fd;
		guint port = 0;
		gchar line[256] = "";

		if (poll(&pfd, 1, 100) <= 0) {
			g_string_free(head, TRUE);
			continue;
		}
		fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			g_string_free(head, TRUE);
			continue;
		}
		while (!g_str_has_suffix(head->str, "\r\n\r\n") && head->len < 8192) {
			gchar c;
			if (recv(fd, &c, 1, 0) != 1)
				break;
			g_string_append_c(head, c);
		}
		sscanf(head->str, "%255[^\r]", line);
		g_mutex_lock(&proxy->lock);
		g_free(proxy->last_connect);
		proxy->last_connect = g_strdup(line);
		g_mutex_unlock(&proxy->lock);
		/* loopback only: anything else is refused */
		if (sscanf(line, "CONNECT 127.0.0.1:%u HTTP/1.1", &port) == 1 && port > 0 &&
		    port < 65536) {
			g_autoptr(GSocketConnection) up = ql_test_connect_loopback((guint16)port);
			gint ufd = g_socket_get_fd(g_socket_connection_get_socket(up));
			const gchar *ok = "HTTP/1.1 200 Connection established\r\n\r\n";
			g_atomic_int_inc(&proxy->tunnels);
			if (send(fd, ok, strlen(ok), MSG_NOSIGNAL) > 0)
				ql_test_proxy_relay(proxy, fd, ufd);
		} else {
			const gchar *no = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
			(void)!send(fd, no, strlen(no), MSG_NOSIGNAL);
		}
		close(fd);
		g_string_free(head, TRUE);
	}
	return NULL;
}

static inline QlTestProxy *
ql_test_proxy_new(void)
{
	QlTestProxy *proxy = g_new0(QlTestProxy, 1);
	g_mutex_init(&proxy->lock);
	proxy->listener = ql_test_listen_loopback(&proxy->port);
	proxy->thread = g_thread_new("ql-test-proxy", ql_test_proxy_thread, proxy);
	return proxy;
}

static inline void
ql_test_proxy_free(QlTestProxy *proxy)
{
	if (proxy == NULL)
		return;
	g_atomic_int_set(&proxy->stop, 1);
	g_thread_join(proxy->thread);
	g_socket_close(proxy->listener, NULL);
	g_object_unref(proxy->listener);
	g_free(proxy->last_connect);
	g_mutex_clear(&proxy->lock);
	g_free(proxy);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlTestProxy, ql_test_proxy_free)
