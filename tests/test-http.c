/*
 * Tests for the HTTP/1.1 client: the pure parser, and POSTs to a TLS test server on 127.0.0.1.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <signal.h>

#include "quantra-l/ql-error.h"
#include "ql-es9p.h"
#include "ql-http.h"
#include "ql-test-tls-server.h"

#define TEST_HOST "smdp.test"

static QlPkiCert ci;
static QlPkiCert leaf;

/* ----------------------------------------------------------------------------------------- */
/* Parser                                                                                     */

static QlHttpResponse *
parse(const gchar *text, gsize max_body, GError **error)
{
	return ql_http_parse_response((const guint8 *)text, strlen(text), max_body, error);
}

static void
test_parser_content_length(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r =
		parse("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
		      "X-Admin-Protocol: gsma/rsp/v2.2.0\r\n\r\nhello",
		      1024, &error);
	g_assert_no_error(error);
	g_assert_nonnull(r);
	g_assert_cmpuint(r->status, ==, 200);
	g_assert_cmpstr(r->reason, ==, "OK");
	g_assert_cmpstr(ql_http_response_get_header(r, "x-admin-protocol"), ==, "gsma/rsp/v2.2.0");
	g_assert_cmpmem(g_bytes_get_data(r->body, NULL), g_bytes_get_size(r->body), "hello", 5);
	g_assert_true(r->keep_alive);
}

static void
test_parser_chunked_split(void)
{
	const gchar *text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			    "3\r\nhel\r\n5;ext=1\r\nlo wo\r\n3\r\nrld\r\n0\r\nTrailer: x\r\n\r\n";
	gsize len = strlen(text);

	/* every split point gives the same result: the parser keeps state across feeds */
	for (gsize split = 0; split <= len; split++) {
		g_autoptr(QlHttpParser) p = ql_http_parser_new(1024);
		g_autoptr(GError) error = NULL;
		g_autoptr(QlHttpResponse) r = NULL;
		gsize used = 0;
		g_assert_true(ql_http_parser_feed(p, (const guint8 *)text, split, &used, &error));
		g_assert_no_error(error);
		g_assert_cmpuint(used, ==, split);
		g_assert_true(ql_http_parser_feed(p, (const guint8 *)text + split, len - split,
						  &used, &error));
		g_assert_no_error(error);
		g_assert_true(ql_http_parser_is_done(p));
		r = ql_http_parser_steal_response(p);
		g_assert_cmpmem(g_bytes_get_data(r->body, NULL), g_bytes_get_size(r->body),
				"hello world", 11);
	}
}

static void
test_parser_misc(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r = NULL;
	g_autoptr(QlHttpResponse) r2 = NULL;
	g_autoptr(QlHttpResponse) r3 = NULL;

	/* interim 100 skipped; 204 has no body; Connection: close ends keep-alive */
	r = parse(
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
		16, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(r->status, ==, 204);
	g_assert_cmpuint(g_bytes_get_size(r->body), ==, 0);
	g_assert_false(r->keep_alive);

	/* body delimited by the close; HTTP/1.0 is not keep-alive */
	r2 = parse("HTTP/1.0 200 OK\r\n\r\nuntil close", 1024, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(r2->body), ==, 11);
	g_assert_false(r2->keep_alive);

	/* no reason phrase */
	r3 = parse("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", 16, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(r3->status, ==, 404);
}

static void
test_parser_malformed(void)
{
	struct {
		const gchar *text;
		gsize max_body;
		const gchar *phrase;
	} cases[] = {
		{"HTTP/1.1 2xx OK\r\n\r\n", 16, "malformed status line"},
		{"HTTP/2 200 OK\r\n\r\n", 16, "malformed status line"},
		{"HTTP/1.1 200 OK\n\n", 16, "CRLF"},
		{"HTTP/1.1 099 Low\r\n\r\n", 16, "out of range"},
		{"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", 16, "header name"},
		{"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", 16, "malformed header"},
		{"HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n", 16, "folded"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 16, "invalid Content-Length"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 16,
		 "conflicting"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 16, "Transfer-Encoding"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 16,
		 "both"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 16, "chunk size"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", 16, "chunk size"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 16, "chunk size"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "fffffffffffffffff\r\n",
		 16, "chunk size"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 16,
		 "longer than its size"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n", 16,
		 "over the limit"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n", 16, "over the limit"},
		{"HTTP/1.1 200 OK\r\n\r\n01234567890123456", 16, "over the limit"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 16, "mid-body"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 16, "mid-body"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n", 16, "inside the response header"},
		{"", 16, "without answering"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", 16, "after the end"},
		{"HTTP/1.1 101 Switching\r\n\r\n", 16, "protocol switch"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(QlHttpResponse) r = parse(cases[i].text, cases[i].max_body, &error);
		g_assert_null(r);
		g_assert_error(error, QL_ERROR, QL_ERROR_HTTP);
		if (strstr(error->message, cases[i].phrase) == NULL)
			g_error("case %u: '%s' lacks '%s'", i, error->message, cases[i].phrase);
	}
}

static void
test_parser_long_header(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) s = g_string_new("HTTP/1.1 200 OK\r\nX-Long: ");
	g_autoptr(GString) many = g_string_new("HTTP/1.1 200 OK\r\n");
	g_autoptr(QlHttpResponse) r = NULL;

	for (guint i = 0; i < QL_HTTP_MAX_LINE; i++)
		g_string_append_c(s, 'a');
	g_string_append(s, "\r\n\r\n");
	r = parse(s->str, 16, &error);
	g_assert_null(r);
	g_assert_error(error, QL_ERROR, QL_ERROR_HTTP);
	g_assert_nonnull(strstr(error->message, "longer than"));
	g_clear_error(&error);

	for (guint i = 0; many->len <= QL_HTTP_MAX_HEADER_BYTES; i++)
		g_string_append_printf(many, "X-H%u: %0100u\r\n", i, i);
	g_string_append(many, "\r\n");
	r = parse(many->str, 16, &error);
	g_assert_null(r);
	g_assert_nonnull(strstr(error->message, "response header is longer"));
}

static void
test_no_proxy(void)
{
	const gchar *env[] = {"https_proxy=http://127.0.0.1:3128",
			      "no_proxy=.example.com,10.1.2.3,"
			      "localhost:8443",
			      NULL};
	const gchar *env_all[] = {"ALL_PROXY=http://127.0.0.1:1", "NO_PROXY=*", NULL};
	const gchar *env_none[] = {"HOME=/", NULL};
	g_autofree gchar *p1 = ql_http_proxy_from_env(env, "smdp.test");
	g_autofree gchar *p2 = ql_http_proxy_from_env(env, "a.example.com");
	g_autofree gchar *p3 = ql_http_proxy_from_env(env, "badexample.com");
	g_autofree gchar *p4 = ql_http_proxy_from_env(env, "10.1.2.3");
	g_autofree gchar *p5 = ql_http_proxy_from_env(env_all, "x.test");
	g_autofree gchar *p6 = ql_http_proxy_from_env(env_none, "x.test");
	g_autofree gchar *p7 = ql_http_proxy_from_env(env, "localhost");

	g_assert_cmpstr(p1, ==, "http://127.0.0.1:3128");
	g_assert_null(p2);
	g_assert_cmpstr(p3, ==, "http://127.0.0.1:3128");
	g_assert_null(p4);
	g_assert_null(p5);
	g_assert_null(p6);
	g_assert_null(p7);
	g_assert_true(ql_http_no_proxy_matches("example.com", "EXAMPLE.com"));
	g_assert_false(ql_http_no_proxy_matches("example.com", "notexample.com"));
}

/* ----------------------------------------------------------------------------------------- */
/* Against the test server                                                                    */

/* Reads one request head and its Content-Length body; FALSE at EOF. */
static gboolean
read_request(QlTestServer *srv, gnutls_session_t session, GString *head)
{
	guint8 buf[4096];
	gssize n;
	gchar *end;
	guint64 cl = 0;
	const gchar *clh;
	gsize have;

	g_string_truncate(head, 0);
	while ((end = strstr(head->str, "\r\n\r\n")) == NULL) {
		n = ql_test_server_recv(srv, session, buf, sizeof(buf));
		if (n <= 0)
			return FALSE;
		g_string_append_len(head, (const gchar *)buf, n);
	}
	clh = strstr(head->str, "Content-Length: ");
	if (clh != NULL)
		cl = g_ascii_strtoull(clh + 16, NULL, 10);
	have = head->len - (gsize)(end + 4 - head->str);
	while (have < cl) {
		n = ql_test_server_recv(srv, session, buf, sizeof(buf));
		if (n <= 0)
			return FALSE;
		have += (gsize)n;
	}
	return TRUE;
}

static void
send_str(gnutls_session_t session, const gchar *s)
{
	ql_test_server_send(session, s, strlen(s));
}

static void
http_handler(QlTestServer *srv, gnutls_session_t session, gint fd)
{
	g_autoptr(GString) head = g_string_new(NULL);

	while (read_request(srv, session, head)) {
		gchar path[128] = "";
		g_atomic_int_inc(&srv->requests);
		g_mutex_lock(&srv->lock);
		g_free(srv->last_request);
		srv->last_request = g_strdup(head->str);
		g_mutex_unlock(&srv->lock);
		sscanf(head->str, "POST %127s HTTP/1.1", path);

		if (g_strcmp0(path, "/cl") == 0) {
			send_str(session,
				 "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world");
		} else if (g_strcmp0(path, "/extra") == 0) {
			/* an answer, then a second one nobody asked for, in the same record */
			send_str(session, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
					  "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged");
		} else if (g_strcmp0(path, "/chunked") == 0) {
			send_str(session, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
			send_str(session, "3\r\nhel\r\n");
			send_str(session, "8\r\nlo world\r\n0\r\n\r\n");
		} else if (g_strcmp0(path, "/big") == 0) {
			g_autofree gchar *body = g_malloc0(4096);
			memset(body, 'x', 4096);
			send_str(session, "HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n");
			ql_test_server_send(session, body, 4096);
		} else if (g_strcmp0(path, "/big-chunked") == 0) {
			g_autofree gchar *body = g_malloc0(1024);
			memset(body, 'x', 1024);
			send_str(session, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
			for (guint i = 0; i < 4; i++) {
				send_str(session, "400\r\n");
				ql_test_server_send(session, body, 1024);
				send_str(session, "\r\n");
			}
			send_str(session, "0\r\n\r\n");
		} else if (g_strcmp0(path, "/close") == 0) {
			send_str(session, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: "
					  "2\r\n\r\nok");
			return;
		} else if (g_strcmp0(path, "/reset") == 0) {
			struct linger lg = {.l_onoff = 1, .l_linger = 0};
			send_str(session, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
			g_usleep(100000);
			/* SO_LINGER 0: the server thread's close() sends a TCP RST, not a FIN */
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			g_atomic_int_set(&srv->abort_connection, 1);
			return;
		} else if (g_strcmp0(path, "/slow") == 0) {
			for (guint i = 0; i < 50 && !ql_test_server_stopping(srv); i++)
				g_usleep(100000);
			return;
		} else if (g_strcmp0(path, "/eof") == 0) {
			/* a body delimited by the close, ended with close_notify */
			send_str(session, "HTTP/1.1 200 OK\r\n\r\n{\"complete\":true}");
			return;
		} else if (g_strcmp0(path, "/eof-cut") == 0) {
			/* the same, cut by a bare TCP FIN (what an attacker on the path can do) */
			send_str(session, "HTTP/1.1 200 OK\r\n\r\n{\"compl");
			g_atomic_int_set(&srv->abort_connection, 1);
			return;
		} else if (g_strcmp0(path, "/malformed") == 0) {
			send_str(session, "HTTP/1.1 2xx OK\r\n\r\n");
			return;
		} else if (g_strcmp0(path, "/trickle") == 0) {
			/* a whole, valid answer, one byte every 50 ms: each byte is progress, and
			 * the answer would be complete after 6 s */
			g_autofree gchar *body = g_strnfill(80, 'x');
			g_autofree gchar *answer = g_strdup_printf(
				"HTTP/1.1 200 OK\r\nContent-Length: 80\r\n\r\n%s", body);
			for (gsize i = 0; answer[i] != '\0' && !ql_test_server_stopping(srv); i++) {
				if (!ql_test_server_send(session, answer + i, 1))
					return;
				g_usleep(50000);
			}
		} else if (g_str_has_prefix(path, "/gsma/rsp2/")) {
			send_str(session,
				 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				 "Content-Length: 68\r\n\r\n{\"header\":{\"functionExecution"
				 "Status\":{\"status\":\"Executed-Success\"}}}");
		} else {
			send_str(session, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
		}
	}
}

typedef struct {
	QlTestServer *srv;
	QlTrust *trust;
	QlTls *tls;
	QlHttp *http;
	gchar *base;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) kids = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	f->srv = ql_test_server_new(&leaf, NULL, NULL, NULL, http_handler, NULL);
	f->trust = ql_trust_new();
	g_assert_true(ql_trust_add_anchor(f->trust, ci.crt, FALSE, NULL));
	g_ptr_array_add(kids, ql_pki_subject_key_id(ci.crt, NULL));
	ql_trust_set_allowed_ci_key_ids(f->trust, kids);
	f->tls = ql_tls_new(f->trust, QL_TLS_POLICY_STANDARD);
	f->http = ql_http_new(f->tls);
	/* never a proxy from the environment the tests run in */
	ql_http_set_proxy(f->http, "");
	f->base = g_strdup_printf("https://127.0.0.1:%u", f->srv->port);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	g_clear_object(&f->http);
	g_clear_object(&f->tls);
	g_clear_object(&f->trust);
	ql_test_server_free(f->srv);
	g_free(f->base);
}

static QlHttpResponse *
post(Fixture *f, const gchar *path, GError **error)
{
	g_autofree gchar *url = g_strconcat(f->base, path, NULL);
	g_autoptr(GBytes) body = g_bytes_new_static("{\"x\":1}", 7);
	const gchar *headers[] = {"X-Admin-Protocol: gsma/rsp/v2.2.0", NULL};
	return ql_http_post(f->http, url, headers, "application/json", body, error);
}

static void
test_http_keepalive(Fixture *f, gconstpointer data)
{
	for (guint i = 0; i < 3; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(QlHttpResponse) r = post(f, "/cl", &error);
		g_assert_no_error(error);
		g_assert_cmpuint(r->status, ==, 200);
		g_assert_cmpmem(g_bytes_get_data(r->body, NULL), g_bytes_get_size(r->body),
				"hello world", 11);
	}
	g_assert_cmpuint(ql_http_get_request_count(f->http), ==, 3);
	g_assert_cmpuint(ql_http_get_connection_count(f->http), ==, 1);
	g_assert_cmpuint(ql_tls_get_handshake_count(f->tls), ==, 1);
	g_assert_cmpint(g_atomic_int_get(&f->srv->requests), ==, 3);
	g_assert_cmpint(g_atomic_int_get(&f->srv->accepted), ==, 1);
	/* what went on the wire */
	g_mutex_lock(&f->srv->lock);
	g_assert_true(g_str_has_prefix(f->srv->last_request, "POST /cl HTTP/1.1\r\n"));
	g_assert_nonnull(strstr(f->srv->last_request, "\r\nHost: 127.0.0.1:"));
	g_assert_nonnull(strstr(f->srv->last_request, "\r\nX-Admin-Protocol: gsma/rsp/v2.2.0\r\n"));
	g_assert_nonnull(strstr(f->srv->last_request, "\r\nContent-Length: 7\r\n"));
	g_assert_nonnull(strstr(f->srv->last_request, "\r\nContent-Type: application/json\r\n"));
	g_mutex_unlock(&f->srv->lock);
}

static void
test_http_reconnect(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r1 = post(f, "/close", &error);
	g_autoptr(QlHttpResponse) r2 = NULL;
	g_assert_no_error(error);
	g_assert_false(r1->keep_alive);
	r2 = post(f, "/cl", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(r2->status, ==, 200);
	g_assert_cmpuint(ql_tls_get_handshake_count(f->tls), ==, 2);
	g_assert_cmpuint(ql_http_get_connection_count(f->http), ==, 2);
}

/* Bytes after a complete answer must not become the answer to the next request. */
static void
test_http_extra_bytes(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r1 = post(f, "/extra", &error);
	g_autoptr(QlHttpResponse) r2 = NULL;
	g_assert_no_error(error);
	g_assert_cmpmem(g_bytes_get_data(r1->body, NULL), g_bytes_get_size(r1->body), "ok", 2);
	g_assert_false(r1->keep_alive);
	r2 = post(f, "/cl", &error);
	g_assert_no_error(error);
	g_assert_cmpmem(g_bytes_get_data(r2->body, NULL), g_bytes_get_size(r2->body), "hello world",
			11);
	g_assert_cmpuint(ql_http_get_connection_count(f->http), ==, 2);
}

static void
test_http_chunked(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r = post(f, "/chunked", &error);
	g_autoptr(QlHttpResponse) r2 = NULL;
	g_assert_no_error(error);
	g_assert_cmpmem(g_bytes_get_data(r->body, NULL), g_bytes_get_size(r->body), "hello world",
			11);
	/* and the connection is still good after a chunked body */
	r2 = post(f, "/cl", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(ql_tls_get_handshake_count(f->tls), ==, 1);
}

static void
test_http_status(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r = post(f, "/nope", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(r->status, ==, 404);
}

static void
test_http_limit(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) ok = NULL;
	g_autoptr(QlHttpResponse) r = NULL;

	ql_http_set_max_body(f->http, 4096);
	ok = post(f, "/big", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(ok->body), ==, 4096);

	ql_http_set_max_body(f->http, 4095);
	r = post(f, "/big", &error);
	g_assert_null(r);
	g_assert_error(error, QL_ERROR, QL_ERROR_HTTP);
	g_assert_nonnull(strstr(error->message, "over the limit of 4095 bytes"));
	g_clear_error(&error);
	r = post(f, "/big-chunked", &error);
	g_assert_null(r);
	g_assert_error(error, QL_ERROR, QL_ERROR_HTTP);
	g_assert_nonnull(strstr(error->message, "over the limit"));
}

static void
test_http_reset(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r = post(f, "/reset", &error);
	g_assert_null(r);
	g_assert_error(error, QL_ERROR, QL_ERROR_HTTP);
	g_test_message("%s", error->message);
	g_assert_true(strstr(error->message, "reset") != NULL ||
		      strstr(error->message, "mid-body") != NULL);
	g_assert_false(ql_tls_is_connected(f->tls));
}

static void
test_http_timeout(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r = NULL;
	ql_http_set_timeout(f->http, 1000);
	r = post(f, "/slow", &error);
	g_assert_null(r);
	g_assert_error(error, QL_ERROR, QL_ERROR_TIMEOUT);
	g_test_message("%s", error->message);
}

/* A server that trickles a valid answer one byte at a time: every byte is progress, and a
 * timeout that starts again at each byte would wait for all of them. The request ends at its
 * timeout instead. */
static void
test_http_trickle(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r = NULL;
	guint64 got = 0;
	const gchar *p;

	ql_http_set_timeout(f->http, 1000);
	r = post(f, "/trickle", &error);
	g_assert_null(r);
	g_assert_error(error, QL_ERROR, QL_ERROR_TIMEOUT);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, "did not send its whole answer within 1 s"));
	/* bytes did arrive (each inside a per-byte timeout), and not all of them */
	p = strstr(error->message, "(");
	g_assert_nonnull(p);
	got = g_ascii_strtoull(p + 1, NULL, 10);
	g_assert_cmpuint(got, >, 1);
	g_assert_cmpuint(got, <, 118);
	g_assert_false(ql_tls_is_connected(f->tls));
}

/* The deadline over a whole exchange (a download's): past it nothing starts, and a trickled
 * answer is cut at it with a message that names it. */
static void
test_http_deadline(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r = NULL;

	ql_http_set_timeout(f->http, 30000);
	ql_http_set_deadline(f->http, g_get_monotonic_time() + 800 * 1000, 800);
	r = post(f, "/trickle", &error);
	g_assert_null(r);
	g_assert_error(error, QL_ERROR, QL_ERROR_TIMEOUT);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, "deadline of 800 ms for the whole exchange"));
	g_assert_nonnull(strstr(error->message, "waiting for the answer from 127.0.0.1"));
	g_clear_error(&error);

	/* past the deadline: refused before any connection */
	r = post(f, "/cl", &error);
	g_assert_null(r);
	g_assert_error(error, QL_ERROR, QL_ERROR_TIMEOUT);
	g_assert_nonnull(strstr(error->message, "passed before the request"));
	g_assert_cmpint(g_atomic_int_get(&f->srv->accepted), ==, 1);
	g_clear_error(&error);

	/* lifted: the next request works */
	ql_http_set_deadline(f->http, 0, 0);
	r = post(f, "/cl", &error);
	g_assert_no_error(error);
	g_assert_cmpuint(r->status, ==, 200);
}

/* A TCP server that reads the ClientHello, then answers with the header of a 16 KB handshake
 * record and trickles its body, one byte every 50 ms, until the client goes away. */
typedef struct {
	GSocket *listener;
	guint16 port;
	GThread *thread;
	gint sent;
} TrickleServer;

static gpointer
trickle_server_thread(gpointer data)
{
	TrickleServer *t = data;
	struct pollfd pfd = {.fd = g_socket_get_fd(t->listener), .events = POLLIN};
	guint8 hello[4096];
	const guint8 head[] = {0x16, 0x03, 0x03, 0x40, 0x00, 0x02};
	gint fd;

	/* the listener is non-blocking (GSocket's) */
	if (poll(&pfd, 1, 10000) != 1)
		return NULL;
	fd = accept(pfd.fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	(void)!recv(fd, hello, sizeof(hello), 0);
	if (send(fd, head, sizeof(head), MSG_NOSIGNAL) == sizeof(head)) {
		/* 10 s at most: then the close, which a client still waiting sees as an error
		 * that is not a timeout */
		for (guint i = 0; i < 200; i++) {
			guint8 b = 0;
			if (send(fd, &b, 1, MSG_NOSIGNAL) != 1)
				break;
			g_atomic_int_inc(&t->sent);
			g_usleep(50000);
		}
	}
	close(fd);
	return NULL;
}

static void
test_http_trickle_handshake(void)
{
	TrickleServer t = {0};
	g_autoptr(QlTrust) trust = ql_trust_new();
	g_autoptr(QlTls) tls = NULL;
	g_autoptr(QlHttp) http = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r = NULL;
	g_autofree gchar *url = NULL;

	t.listener = ql_test_listen_loopback(&t.port);
	t.thread = g_thread_new("ql-test-trickle", trickle_server_thread, &t);
	g_assert_true(ql_trust_add_anchor(trust, ci.crt, FALSE, NULL));
	tls = ql_tls_new(trust, QL_TLS_POLICY_STANDARD);
	http = ql_http_new(tls);
	ql_http_set_proxy(http, "");
	ql_http_set_timeout(http, 1000);
	url = g_strdup_printf("https://127.0.0.1:%u/x", t.port);
	r = ql_http_post(http, url, NULL, NULL, NULL, &error);
	g_assert_null(r);
	g_assert_error(error, QL_ERROR, QL_ERROR_TIMEOUT);
	g_test_message("%s (the server had sent %d bytes)", error->message,
		       g_atomic_int_get(&t.sent));
	g_assert_nonnull(strstr(error->message, "TLS handshake with 127.0.0.1"));
	g_assert_nonnull(strstr(error->message, "within 1 s"));
	/* bytes kept coming: a per-byte timeout would still be waiting */
	g_assert_cmpint(g_atomic_int_get(&t.sent), >, 1);
	g_thread_join(t.thread);
	g_socket_close(t.listener, NULL);
	g_object_unref(t.listener);
}

/* SGP.22 6.5.1: the head of an ES9+ request is exactly Host, one User-Agent "gsma-rsp-lpad",
 * X-Admin-Protocol, Content-Type application/json and Content-Length, as the server reads it */
static void
test_http_es9p_headers(Fixture *f, gconstpointer data)
{
	g_autofree gchar *address = g_strdup_printf("127.0.0.1:%u", f->srv->port);
	g_autoptr(QlEs9p) es9p = ql_es9p_new(f->http, address);
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) body = NULL;
	g_autoptr(JsonObject) answer = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree gchar *text = NULL;
	g_autofree gchar *want = NULL;
	g_autofree gchar *head = NULL;
	gsize text_len = 0;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "euiccChallenge");
	json_builder_add_string_value(b, "AAAAAAAAAAAAAAAAAAAAAA==");
	json_builder_end_object(b);
	body = json_builder_get_root(b);
	json_generator_set_root(gen, body);
	text = json_generator_to_data(gen, &text_len);
	answer = ql_es9p_call(es9p, "es9plus", "initiateAuthentication", body, &error);
	g_assert_no_error(error);
	g_assert_nonnull(answer);

	want = g_strdup_printf("POST /gsma/rsp2/es9plus/initiateAuthentication HTTP/1.1\r\n"
			       "Host: 127.0.0.1:%u\r\n"
			       "User-Agent: gsma-rsp-lpad\r\n"
			       "X-Admin-Protocol: gsma/rsp/v2.2.0\r\n"
			       "Content-Type: application/json\r\n"
			       "Content-Length: %" G_GSIZE_FORMAT "\r\n"
			       "\r\n",
			       f->srv->port, text_len);
	g_mutex_lock(&f->srv->lock);
	head = g_strndup(f->srv->last_request, strlen(want));
	g_test_message("request: %s", f->srv->last_request);
	g_assert_cmpstr(head, ==, want);
	/* and the body that follows is the JSON, nothing else */
	g_assert_cmpstr(f->srv->last_request + strlen(want), ==, text);
	g_mutex_unlock(&f->srv->lock);
}

static void
test_http_eof_truncated(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) ok = post(f, "/eof", &error);
	g_autoptr(QlHttpResponse) cut = NULL;

	g_assert_no_error(error);
	g_assert_cmpmem(g_bytes_get_data(ok->body, NULL), g_bytes_get_size(ok->body),
			"{\"complete\":true}", 17);
	g_assert_false(ok->keep_alive);

	/* without close_notify nothing says the body is whole: refused, not a short body */
	cut = post(f, "/eof-cut", &error);
	g_assert_null(cut);
	g_assert_error(error, QL_ERROR, QL_ERROR_HTTP);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, "truncated"));
}

static void
test_http_malformed(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r = post(f, "/malformed", &error);
	g_assert_null(r);
	g_assert_error(error, QL_ERROR, QL_ERROR_HTTP);
	g_assert_nonnull(strstr(error->message, "malformed status line"));
}

static void
test_http_bad_args(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	const gchar *bad_headers[] = {"X-Evil: a\r\nInjected: b", NULL};
	const gchar *framing[] = {"Content-Length: 1", NULL};
	g_autofree gchar *url = g_strconcat(f->base, "/cl", NULL);

	g_assert_null(ql_http_post(f->http, "http://127.0.0.1/", NULL, NULL, NULL, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_null(ql_http_post(f->http, url, bad_headers, NULL, NULL, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
	g_clear_error(&error);
	g_assert_null(ql_http_post(f->http, url, framing, NULL, NULL, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
	g_assert_cmpint(g_atomic_int_get(&f->srv->accepted), ==, 0);
}

static void
test_http_no_injection(Fixture *f, gconstpointer data)
{
	g_autoptr(QlTestProxy) proxy = ql_test_proxy_new();
	g_autofree gchar *proxy_url = g_strdup_printf("http://127.0.0.1:%u", proxy->port);
	g_autofree gchar *url = g_strconcat(f->base, "/cl%0d%0aX-Injected:%201", NULL);
	g_autofree gchar *spaced = g_strconcat(f->base, "/a b", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r = NULL;

	/* an escaped CRLF in the path stays escaped on the wire: no header of its own */
	r = ql_http_post(f->http, url, NULL, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(r);
	g_mutex_lock(&f->srv->lock);
	g_test_message("request: %s", f->srv->last_request);
	g_assert_null(strstr(f->srv->last_request, "\r\nX-Injected"));
	g_assert_cmpint(g_ascii_strncasecmp(f->srv->last_request,
					    "POST /cl%0d%0aX-Injected:%201 HTTP/1.1\r\n", 40),
			==, 0);
	g_mutex_unlock(&f->srv->lock);
	ql_http_close(f->http);

	/* a raw space would split the request line: it goes out escaped */
	g_clear_pointer(&r, ql_http_response_free);
	r = ql_http_post(f->http, spaced, NULL, NULL, NULL, &error);
	g_assert_no_error(error);
	g_mutex_lock(&f->srv->lock);
	g_assert_true(g_str_has_prefix(f->srv->last_request, "POST /a%20b HTTP/1.1\r\n"));
	g_mutex_unlock(&f->srv->lock);
	ql_http_close(f->http);

	/* an escaped CRLF in the host would reach the Host header and the proxy's CONNECT line */
	ql_http_set_proxy(f->http, proxy_url);
	g_assert_null(ql_http_post(f->http, "https://smdp.test%0d%0aX-Injected:%201/x", NULL, NULL,
				   NULL, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
	g_mutex_lock(&proxy->lock);
	g_assert_null(proxy->last_connect);
	g_mutex_unlock(&proxy->lock);
	g_assert_cmpint(g_atomic_int_get(&f->srv->accepted), ==, 2);
}

static void
test_http_trust_refused(Fixture *f, gconstpointer data)
{
	/* name mismatch: the TLS refusal comes through, and no request byte is sent */
	g_autoptr(GError) error = NULL;
	g_autofree gchar *url = g_strdup_printf("https://127.0.0.1:%u/cl", f->srv->port);
	g_autoptr(QlHttpResponse) r = NULL;
	ql_trust_add_pin(f->trust, "127.0.0.1",
			 "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", NULL);
	r = ql_http_post(f->http, url, NULL, NULL, NULL, &error);
	g_assert_null(r);
	g_assert_cmpint(ql_trust_failure_from_error(error), ==, QL_TRUST_FAILURE_PIN_MISMATCH);
	ql_test_server_wait_done(f->srv, 1);
	g_assert_cmpint(g_atomic_int_get(&f->srv->app_bytes), ==, 0);
	g_assert_cmpint(g_atomic_int_get(&f->srv->requests), ==, 0);
}

static void
test_http_proxy(Fixture *f, gconstpointer data)
{
	g_autoptr(QlTestProxy) proxy = ql_test_proxy_new();
	g_autofree gchar *proxy_url = g_strdup_printf("http://127.0.0.1:%u", proxy->port);
	g_autofree gchar *want = g_strdup_printf("CONNECT 127.0.0.1:%u HTTP/1.1", f->srv->port);
	g_autoptr(GError) error = NULL;

	ql_http_set_proxy(f->http, proxy_url);
	for (guint i = 0; i < 2; i++) {
		g_autoptr(QlHttpResponse) r = post(f, "/cl", &error);
		g_assert_no_error(error);
		g_assert_cmpuint(r->status, ==, 200);
	}
	g_assert_cmpint(g_atomic_int_get(&proxy->tunnels), ==, 1);
	g_assert_cmpuint(ql_tls_get_handshake_count(f->tls), ==, 1);
	g_mutex_lock(&proxy->lock);
	g_assert_cmpstr(proxy->last_connect, ==, want);
	g_mutex_unlock(&proxy->lock);
	ql_http_close(f->http);
}

static void
test_http_proxy_refused(Fixture *f, gconstpointer data)
{
	g_autoptr(QlTestProxy) proxy = ql_test_proxy_new();
	g_autofree gchar *proxy_url = g_strdup_printf("http://127.0.0.1:%u", proxy->port);
	g_autoptr(GError) error = NULL;
	g_autoptr(QlHttpResponse) r = NULL;

	/* the test proxy refuses names (it tunnels to 127.0.0.1 only); no DNS is involved */
	ql_http_set_proxy(f->http, proxy_url);
	r = ql_http_post(f->http, "https://smdp.test/x", NULL, NULL, NULL, &error);
	g_assert_null(r);
	g_assert_error(error, QL_ERROR, QL_ERROR_HTTP);
	g_assert_nonnull(strstr(error->message, "proxy refused CONNECT"));
	g_assert_nonnull(strstr(error->message, "403"));
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	const gchar *dns[] = {TEST_HOST, NULL};
	const gchar *ips[] = {"127.0.0.1", NULL};
	QlPkiCertSpec ci_spec = {.role = QL_CERT_ROLE_CI, .common_name = "Test CI", .is_ca = TRUE};
	QlPkiCertSpec leaf_spec = {.role = QL_CERT_ROLE_DP_TLS,
				   .common_name = TEST_HOST,
				   .dns_names = dns,
				   .ip_addresses = ips};
	gint rc;

	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	g_assert_true(ql_pki_make(&ci_spec, NULL, &ci, &error));
	g_assert_true(ql_pki_make(&leaf_spec, &ci, &leaf, &error));
	g_assert_no_error(error);

	g_test_add_func("/ql/http/parser/content-length", test_parser_content_length);
	g_test_add_func("/ql/http/parser/chunked-split", test_parser_chunked_split);
	g_test_add_func("/ql/http/parser/misc", test_parser_misc);
	g_test_add_func("/ql/http/parser/malformed", test_parser_malformed);
	g_test_add_func("/ql/http/parser/long-header", test_parser_long_header);
	g_test_add_func("/ql/http/no-proxy", test_no_proxy);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/ql/http/keepalive", test_http_keepalive);
	ADD("/ql/http/reconnect", test_http_reconnect);
	ADD("/ql/http/extra-bytes", test_http_extra_bytes);
	ADD("/ql/http/chunked", test_http_chunked);
	ADD("/ql/http/status", test_http_status);
	ADD("/ql/http/limit", test_http_limit);
	ADD("/ql/http/reset", test_http_reset);
	ADD("/ql/http/timeout", test_http_timeout);
	ADD("/ql/http/trickle", test_http_trickle);
	ADD("/ql/http/deadline", test_http_deadline);
	g_test_add_func("/ql/http/trickle-handshake", test_http_trickle_handshake);
	ADD("/ql/http/es9p-headers", test_http_es9p_headers);
	ADD("/ql/http/eof-truncated", test_http_eof_truncated);
	ADD("/ql/http/malformed", test_http_malformed);
	ADD("/ql/http/bad-args", test_http_bad_args);
	ADD("/ql/http/no-injection", test_http_no_injection);
	ADD("/ql/http/trust-refused", test_http_trust_refused);
	ADD("/ql/http/proxy", test_http_proxy);
	ADD("/ql/http/proxy-refused", test_http_proxy_refused);
#undef ADD
	rc = g_test_run();
	ql_pki_cert_clear(&leaf);
	ql_pki_cert_clear(&ci);
	return rc;
}
