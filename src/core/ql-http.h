/*
 * A small HTTP/1.1 client over a QlTls session, enough for ES9+ (SGP.22 6.5): POSTs over one
 * keep-alive connection, Content-Length and chunked answers, a size limit, timeouts and an
 * HTTP CONNECT proxy. The response parser is a pure function over bytes (fuzzable).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib-object.h>

#include "ql-tls.h"

G_BEGIN_DECLS

#define QL_HTTP_DEFAULT_MAX_BODY (4 * 1024 * 1024)
#define QL_HTTP_MAX_LINE 8192	       /* one status or header line */
#define QL_HTTP_MAX_HEADER_BYTES 65536 /* all header lines of one response */

typedef struct {
	gchar *name;
	gchar *value;
} QlHttpHeader;

typedef struct {
	guint status;
	gchar *reason;
	GPtrArray *headers; /* of QlHttpHeader, in arrival order */
	GBytes *body;
	gboolean keep_alive; /* the server lets us send another request on this connection */
} QlHttpResponse;

void ql_http_response_free(QlHttpResponse *response);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlHttpResponse, ql_http_response_free)
/* The first header called @name (case-insensitive), or NULL. */
const gchar *ql_http_response_get_header(const QlHttpResponse *response, const gchar *name);

/* Incremental response parser: no I/O, no globals. */
/* Takes the body of a 200 answer as it arrives, instead of keeping it (the response's body is
 * then NULL); FALSE with an error ends the exchange with that error, as the sink worded it. */
typedef gboolean (*QlHttpBodySink)(const QlHttpResponse *head, const guint8 *data, gsize len,
				   gpointer user_data, GError **error);

typedef struct _QlHttpParser QlHttpParser;
QlHttpParser *ql_http_parser_new(gsize max_body);
void ql_http_parser_free(QlHttpParser *parser);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlHttpParser, ql_http_parser_free)
/* Takes bytes until the response is complete; *@consumed says how many were used (the rest
 * belongs to whatever follows). FALSE with QL_ERROR_HTTP on malformed input. */
gboolean ql_http_parser_feed(QlHttpParser *parser, const guint8 *data, gsize len, gsize *consumed,
			     GError **error);
/* The peer closed the stream: completes a body delimited by the close, else an error. */
gboolean ql_http_parser_finish(QlHttpParser *parser, GError **error);
void ql_http_parser_set_sink(QlHttpParser *parser, QlHttpBodySink sink, gpointer user_data);
gboolean ql_http_parser_sink_failed(QlHttpParser *parser);
gboolean ql_http_parser_is_done(QlHttpParser *parser);
/* Total bytes fed so far. */
gsize ql_http_parser_get_received(QlHttpParser *parser);
/* The parsed response once done, else NULL. */
QlHttpResponse *ql_http_parser_steal_response(QlHttpParser *parser);
/* One-shot: @data must hold exactly one full response (then EOF). */
QlHttpResponse *ql_http_parse_response(const guint8 *data, gsize len, gsize max_body,
				       GError **error);

/* The proxy URL for @host from @envp (https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY,
 * minus no_proxy / NO_PROXY), or NULL for a direct connection. */
gchar *ql_http_proxy_from_env(const gchar *const *envp, const gchar *host);
/* Whether a no_proxy list ("a.com,.b.org,10.0.0.1,*") covers @host. */
gboolean ql_http_no_proxy_matches(const gchar *no_proxy, const gchar *host);

#define QL_TYPE_HTTP (ql_http_get_type())
G_DECLARE_FINAL_TYPE(QlHttp, ql_http, QL, HTTP, GObject)

/* @tls is referenced; its timeout is the client's (see ql_http_set_timeout()). */
QlHttp *ql_http_new(QlTls *tls);
QlTls *ql_http_get_tls(QlHttp *self);
void ql_http_set_max_body(QlHttp *self, gsize max_body);
/* Bounds the TCP connect (with the proxy's CONNECT), the whole TLS handshake, and each whole
 * request with its whole answer, each counted from its start: an answer trickled byte by byte
 * ends there (QL_ERROR_TIMEOUT). Sets the QlTls timeout too. 0 = none. */
void ql_http_set_timeout(QlHttp *self, guint timeout_ms);
/* A deadline over everything the client does until it is changed (a whole download): monotonic
 * time (g_get_monotonic_time()), 0 for none; @budget_ms is the time it stands for, for the
 * message. Past it, every call fails with QL_ERROR_TIMEOUT at once. */
void ql_http_set_deadline(QlHttp *self, gint64 deadline, guint budget_ms);
/* NULL: from the environment (the default); "": never; else "http://host:port". */
void ql_http_set_proxy(QlHttp *self, const gchar *proxy_url);
/* Connecting, the TLS handshake and every read and write end when @cancellable fires
 * (QL_ERROR_CANCELLED); NULL removes it. */
void ql_http_set_cancellable(QlHttp *self, GCancellable *cancellable);

/* POSTs @body to @url ("https://host[:port]/path"). @headers: extra "Name: value" lines (the
 * ES9+ X-Admin-Protocol etc.), NULL-terminated, may be NULL. Any status is a response; only
 * transport and framing problems are errors. */
QlHttpResponse *ql_http_post(QlHttp *self, const gchar *url, const gchar *const *headers,
			     const gchar *content_type, GBytes *body, GError **error);
/* The same, the body of a 200 answer handed to @sink as it arrives (bounded memory however
 * large it is); the connection is kept only when the whole answer was read. */
QlHttpResponse *ql_http_post_sink(QlHttp *self, const gchar *url, const gchar *const *headers,
				  const gchar *content_type, GBytes *body, QlHttpBodySink sink,
				  gpointer sink_data, GError **error);
/* GETs @url ("http://" or "https://host[:port]/path") on a connection of its own, the whole
 * answer within the client's timeout and size limit (plain http:// for CRL distribution
 * points; no proxy for those). Any status is a response. */
QlHttpResponse *ql_http_get(QlHttp *self, const gchar *url, GError **error);
void ql_http_close(QlHttp *self);

/* Called on the connecting thread once TCP (and a proxy's CONNECT) is up, before the TLS
 * handshake, whose verification needs the trust configured; FALSE gives the connection up. */
typedef gboolean (*QlHttpBeforeHandshake)(gpointer user_data);
/* Sets up now the connection (TCP, proxy, TLS handshake) that a request to @url would, so that
 * the next ql_http_post to that host and port finds it ready: a caller runs it on a thread of
 * its own while it does something else, and touches @self again only after it returned. A
 * failure to connect is kept and returned by that next post, as if the post had connected
 * itself; FALSE for a URL no post could use. */
gboolean ql_http_preconnect(QlHttp *self, const gchar *url, QlHttpBeforeHandshake before,
			    gpointer user_data, GError **error);
/* From any thread: breaks off a connection being set up (the TCP connect or the handshake). */
void ql_http_interrupt(QlHttp *self);
guint ql_http_get_request_count(QlHttp *self);
/* TCP connections opened (each with one TLS handshake). */
guint ql_http_get_connection_count(QlHttp *self);

G_END_DECLS
