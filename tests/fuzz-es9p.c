/*
 * libFuzzer target for the SM-DP+'s answers (ES9+, and ES11 as an SM-DS): the input is what the
 * server sends back to one request, the whole HTTP response (status line, headers, JSON body),
 * and goes through the real HTTP parser, the JSON checks and the function's own checks
 * (strict base64, TLVs of the right tags, the session's transaction id, status codes).
 * Byte 0 picks the function: 0 initiateAuthentication, 1 authenticateClient, 2
 * getBoundProfilePackage, 3 handleNotification, 4 cancelSession, 5 ES11 initiateAuthentication,
 * 6 ES11 authenticateClient. The network is left out by linking with --wrap=ql_http_post.
 * Seeds in tests/data/fuzz-es9p/ are the test SM-DP+'s answers in a real download (transaction
 * id set to FUZZ_TID); scripts/fuzz runs it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "quantra-l/ql-error.h"
#include "ql-es9p.h"
#include "ql-http.h"
#include "ql-tls.h"
#include "ql-trust.h"

#define FUZZ_TID "00112233445566778899AABBCCDDEEFF"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);
QlHttpResponse *__wrap_ql_http_post(QlHttp *self, const gchar *url, const gchar *const *headers,
				    const gchar *content_type, GBytes *body, GError **error);

static const guint8 *fuzz_answer;
static gsize fuzz_answer_len;

/* What the server "sent": parsed as quantra-l parses a response off the wire */
QlHttpResponse *
__wrap_ql_http_post(QlHttp *self, const gchar *url, const gchar *const *headers,
		    const gchar *content_type, GBytes *body, GError **error)
{
	g_assert(g_str_has_prefix(url, "https://smdp.example.com/gsma/rsp2/"));
	return ql_http_parse_response(fuzz_answer, fuzz_answer_len, 1024 * 1024, error);
}

static QlEs9p *
fuzz_es9p(void)
{
	static QlEs9p *es9p = NULL;
	if (es9p == NULL) {
		g_autoptr(QlTrust) trust = ql_trust_new();
		g_autoptr(QlTls) tls = ql_tls_new(trust, QL_TLS_POLICY_STANDARD);
		g_autoptr(QlHttp) http = ql_http_new(tls);
		es9p = ql_es9p_new(http, "smdp.example.com");
	}
	return es9p;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	static const guint8 blob[] = {0xBF, 0x20, 0x03, 0x82, 0x01, 0x00};
	g_autoptr(GBytes) challenge = g_bytes_new_static("0123456789abcdef", 16);
	g_autoptr(GBytes) arg = g_bytes_new_static(blob, sizeof(blob));
	g_autoptr(GError) error = NULL;
	QlEs9p *es9p = fuzz_es9p();

	if (size < 1)
		return 0;
	fuzz_answer = data + 1;
	fuzz_answer_len = size - 1;
	switch (data[0] % 7) {
	case 0:
	case 5: {
		g_autoptr(QlInitAuth) r = ql_es9p_initiate_authentication(es9p, data[0] % 7 == 5,
									  challenge, arg, &error);
		g_assert((r == NULL) != (error == NULL));
		if (r != NULL)
			g_assert(r->transaction_id != NULL && r->server_signed1 != NULL);
		break;
	}
	case 1: {
		g_autoptr(QlAuthClient) r =
			ql_es9p_authenticate_client(es9p, FUZZ_TID, arg, &error);
		g_assert((r == NULL) != (error == NULL));
		if (r != NULL)
			g_assert(r->smdp_signed2 != NULL && r->smdp_signature2 != NULL);
		break;
	}
	case 2: {
		g_autoptr(GBytes) r =
			ql_es9p_get_bound_profile_package(es9p, FUZZ_TID, arg, &error);
		g_assert((r == NULL) != (error == NULL));
		break;
	}
	case 3:
		g_assert(ql_es9p_handle_notification(es9p, arg, &error) == (error == NULL));
		break;
	case 4:
		g_assert(ql_es9p_cancel_session(es9p, FUZZ_TID, arg, &error) == (error == NULL));
		break;
	default: {
		g_autoptr(GPtrArray) r =
			ql_es9p_authenticate_client_es11(es9p, FUZZ_TID, arg, &error);
		g_assert((r == NULL) != (error == NULL));
		break;
	}
	}
	return 0;
}
