/*
 * Tests for the ES9+ / ES11 client against canned answers from a TLS test server on 127.0.0.1:
 * what a hostile or broken SM-DP+ may send must end in an error, never in a crash.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <signal.h>

#include "quantra-l/ql-error.h"
#include "ql-es9p.h"
#include "ql-test-tls-server.h"

static QlPkiCert ci;
static QlPkiCert leaf;

/* ----------------------------------------------------------------------------------------- */
/* Canned answers: the request path picks one                                                 */

#define DEEP_JSON_LEVELS (1024 * 1024)

static gboolean
read_request(QlTestServer *srv, gnutls_session_t session, GString *head)
{
	guint8 buf[4096];
	gchar *end;
	const gchar *clh;
	guint64 cl = 0;
	gsize have;

	g_string_truncate(head, 0);
	while ((end = strstr(head->str, "\r\n\r\n")) == NULL) {
		gssize n = ql_test_server_recv(srv, session, buf, sizeof(buf));
		if (n <= 0)
			return FALSE;
		g_string_append_len(head, (const gchar *)buf, n);
	}
	clh = strstr(head->str, "Content-Length: ");
	if (clh != NULL)
		cl = g_ascii_strtoull(clh + 16, NULL, 10);
	have = head->len - (gsize)(end + 4 - head->str);
	while (have < cl) {
		gssize n = ql_test_server_recv(srv, session, buf, sizeof(buf));
		if (n <= 0)
			return FALSE;
		have += (gsize)n;
	}
	return TRUE;
}

static void
answer(gnutls_session_t session, const gchar *body, gsize len)
{
	g_autofree gchar *head =
		g_strdup_printf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				"Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n",
				len);
	ql_test_server_send(session, head, strlen(head));
	ql_test_server_send(session, body, len);
}

static void
es9p_handler(QlTestServer *srv, gnutls_session_t session, gint fd)
{
	g_autoptr(GString) head = g_string_new(NULL);

	while (read_request(srv, session, head)) {
		g_atomic_int_inc(&srv->requests);
		if (strstr(head->str, "/deep ") != NULL) {
			/* a valid-looking answer whose payload nests a million arrays deep */
			g_autoptr(GString) body =
				g_string_new("{\"header\":{\"functionExecutionStatus\":{\"status\":"
					     "\"Executed-Success\"}},\"x\":");
			for (guint i = 0; i < DEEP_JSON_LEVELS; i++)
				g_string_append_c(body, '[');
			for (guint i = 0; i < DEEP_JSON_LEVELS; i++)
				g_string_append_c(body, ']');
			g_string_append_c(body, '}');
			answer(session, body->str, body->len);
		} else if (strstr(head->str, "/shallow ") != NULL) {
			/* nesting an ES9+ answer really has, brackets inside strings not counted */
			const gchar *body =
				"{\"header\":{\"functionExecutionStatus\":{\"status\":"
				"\"Executed-Success\"}},\"a\":[[{\"b\":[\"[[[[[[[[[[[[[[[[[[[[[[[[["
				"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"{{{{{{{"
				"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\"]}]"
				"]}";
			answer(session, body, strlen(body));
		} else if (strstr(head->str, "/es11/authenticateClient ") != NULL) {
			/* events whose fields carry a terminal escape and a bogus address */
			const gchar *body =
				"{\"header\":{\"functionExecutionStatus\":{\"status\":"
				"\"Executed-Success\"}},\"transactionId\":\"0102\","
				"\"eventEntries\":["
				"{\"eventId\":\"EVT-1\",\"rspServerAddress\":\"smdp.test\"},"
				"{\"eventId\":\"EVT-2\\u001b[2J\",\"rspServerAddress\":\"smdp."
				"test\"},"
				"{\"eventId\":\"EVT-3\",\"rspServerAddress\":\"a b\\r\\nc\"}]}";
			answer(session, body, strlen(body));
		} else {
			const gchar *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
			ql_test_server_send(session, nf, strlen(nf));
		}
	}
}

typedef struct {
	QlTestServer *srv;
	QlTrust *trust;
	QlTls *tls;
	QlHttp *http;
	QlEs9p *es9p;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autofree gchar *address = NULL;

	f->srv = ql_test_server_new(&leaf, NULL, NULL, NULL, es9p_handler, NULL);
	f->trust = ql_trust_new();
	g_assert_true(ql_trust_add_anchor(f->trust, ci.crt, FALSE, NULL));
	f->tls = ql_tls_new(f->trust, QL_TLS_POLICY_STANDARD);
	f->http = ql_http_new(f->tls);
	ql_http_set_proxy(f->http, "");
	address = g_strdup_printf("127.0.0.1:%u", f->srv->port);
	f->es9p = ql_es9p_new(f->http, address);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	g_clear_object(&f->es9p);
	g_clear_object(&f->http);
	g_clear_object(&f->tls);
	g_clear_object(&f->trust);
	ql_test_server_free(f->srv);
}

static JsonNode *
empty_body(void)
{
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);
	json_node_take_object(node, json_object_new());
	return node;
}

static void
test_es9p_deep_json(Fixture *f, gconstpointer data)
{
	g_autoptr(JsonNode) body = empty_body();
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = NULL;

	/* json-glib parses by recursion: this used to overflow the stack of the process */
	obj = ql_es9p_call(f->es9p, "es9plus", "deep", body, &error);
	g_assert_null(obj);
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
	g_test_message("%s", error->message);
	g_assert_nonnull(strstr(error->message, "nest"));
	g_assert_cmpint(g_atomic_int_get(&f->srv->requests), ==, 1);
}

static void
test_es9p_shallow_json(Fixture *f, gconstpointer data)
{
	g_autoptr(JsonNode) body = empty_body();
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = NULL;

	obj = ql_es9p_call(f->es9p, "es9plus", "shallow", body, &error);
	g_assert_no_error(error);
	g_assert_nonnull(obj);
	g_assert_true(json_object_has_member(obj, "a"));
}

static void
test_es9p_es11_events(Fixture *f, gconstpointer data)
{
	g_autoptr(GBytes) asr = g_bytes_new_static("\x30\x00", 2);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) events = NULL;

	/* the SM-DS's words end up on the user's terminal and as the next download's address */
	events = ql_es9p_authenticate_client_es11(f->es9p, "0102", asr, &error);
	g_assert_null(events);
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
	g_test_message("%s", error->message);
	g_assert_null(strstr(error->message, "\x1b"));
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	const gchar *ips[] = {"127.0.0.1", NULL};
	QlPkiCertSpec ci_spec = {.role = QL_CERT_ROLE_CI, .common_name = "Test CI", .is_ca = TRUE};
	QlPkiCertSpec leaf_spec = {
		.role = QL_CERT_ROLE_DP_TLS, .common_name = "SM-DP+", .ip_addresses = ips};
	gint rc;

	signal(SIGPIPE, SIG_IGN);
	g_test_init(&argc, &argv, NULL);
	g_assert_true(ql_pki_make(&ci_spec, NULL, &ci, &error));
	g_assert_true(ql_pki_make(&leaf_spec, &ci, &leaf, &error));
	g_assert_no_error(error);

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/ql/es9p/deep-json", test_es9p_deep_json);
	ADD("/ql/es9p/shallow-json", test_es9p_shallow_json);
	ADD("/ql/es9p/es11-events", test_es9p_es11_events);
#undef ADD
	rc = g_test_run();
	ql_pki_cert_clear(&leaf);
	ql_pki_cert_clear(&ci);
	return rc;
}
