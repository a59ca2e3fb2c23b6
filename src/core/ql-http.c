/*
 * HTTP/1.1 client. See ql-http.h.
 *
 * The parser is strict on purpose (RFC 9112): CRLF line ends, no folded headers, no space
 * before the colon, one Content-Length, and Transfer-Encoding and Content-Length never both,
 * because lenient parsers are where request smuggling and memory bugs live.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-crypto.h"
#include "ql-http.h"
#include "ql-text.h"

/* ------------------------------------------------------------------------------------------ */
/* Response parser                                                                             */

typedef enum {
	QL_HTTP_STATE_STATUS,
	QL_HTTP_STATE_HEADER,
	QL_HTTP_STATE_BODY_LENGTH,
	QL_HTTP_STATE_BODY_EOF,
	QL_HTTP_STATE_CHUNK_SIZE,
	QL_HTTP_STATE_CHUNK_DATA,
	QL_HTTP_STATE_CHUNK_END,
	QL_HTTP_STATE_TRAILER,
	QL_HTTP_STATE_DONE,
} QlHttpState;

struct _QlHttpParser {
	QlHttpState state;
	gsize max_body;
	gsize received;
	gsize header_bytes;
	GByteArray *line;
	GByteArray *body;
	guint64 remaining; /* of the Content-Length body or the current chunk */
	gint64 content_length;
	gboolean chunked;
	gboolean http10;
	gboolean conn_close;
	gboolean conn_keep_alive;
	QlHttpResponse *response;
	gsize body_seen; /* body bytes of this message, kept or given to the sink */
	QlHttpBodySink sink;
	gpointer sink_data;
	gboolean sink_failed; /* the error is the sink's own */
};

void
ql_http_response_free(QlHttpResponse *response)
{
	if (response == NULL)
		return;
	g_free(response->reason);
	if (response->headers != NULL)
		g_ptr_array_unref(response->headers);
	if (response->body != NULL)
		g_bytes_unref(response->body);
	g_free(response);
}

const gchar *
ql_http_response_get_header(const QlHttpResponse *response, const gchar *name)
{
	for (guint i = 0; response->headers != NULL && i < response->headers->len; i++) {
		QlHttpHeader *h = g_ptr_array_index(response->headers, i);
		if (g_ascii_strcasecmp(h->name, name) == 0)
			return h->value;
	}
	return NULL;
}

static void
ql_http_header_free(QlHttpHeader *h)
{
	g_free(h->name);
	g_free(h->value);
	g_free(h);
}

static QlHttpResponse *
ql_http_response_new(void)
{
	QlHttpResponse *r = g_new0(QlHttpResponse, 1);
	r->headers = g_ptr_array_new_with_free_func((GDestroyNotify)ql_http_header_free);
	return r;
}

static void
ql_http_parser_reset_message(QlHttpParser *p)
{
	ql_http_response_free(p->response);
	p->response = ql_http_response_new();
	p->state = QL_HTTP_STATE_STATUS;
	p->header_bytes = 0;
	p->content_length = -1;
	p->chunked = FALSE;
	p->http10 = FALSE;
	p->conn_close = FALSE;
	p->conn_keep_alive = FALSE;
	p->remaining = 0;
	g_byte_array_set_size(p->line, 0);
	g_byte_array_set_size(p->body, 0);
	p->body_seen = 0;
}

QlHttpParser *
ql_http_parser_new(gsize max_body)
{
	QlHttpParser *p = g_new0(QlHttpParser, 1);
	p->max_body = max_body;
	p->line = g_byte_array_new();
	p->body = g_byte_array_new();
	ql_http_parser_reset_message(p);
	return p;
}

void
ql_http_parser_free(QlHttpParser *parser)
{
	if (parser == NULL)
		return;
	g_byte_array_unref(parser->line);
	g_byte_array_unref(parser->body);
	ql_http_response_free(parser->response);
	g_free(parser);
}

gboolean
ql_http_parser_is_done(QlHttpParser *parser)
{
	return parser->state == QL_HTTP_STATE_DONE;
}

gsize
ql_http_parser_get_received(QlHttpParser *parser)
{
	return parser->received;
}

static gboolean G_GNUC_PRINTF(2, 3) ql_http_fail(GError **error, const gchar *format, ...)
{
	va_list args;
	g_autofree gchar *msg = NULL;
	va_start(args, format);
	msg = g_strdup_vprintf(format, args);
	va_end(args);
	g_set_error(error, QL_ERROR, QL_ERROR_HTTP, "HTTP: %s", msg);
	return FALSE;
}

static gboolean
ql_http_is_tchar(guchar c)
{
	return g_ascii_isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static gboolean
ql_http_parse_status(QlHttpParser *p, const gchar *line, gsize len, GError **error)
{
	guint status;

	/* HTTP-version SP 3DIGIT SP [reason] */
	if (len < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
	    line[8] != ' ' || !g_ascii_isdigit(line[9]) || !g_ascii_isdigit(line[10]) ||
	    !g_ascii_isdigit(line[11]) || (len > 12 && line[12] != ' '))
		return ql_http_fail(error, "malformed status line");
	status = (guint)(line[9] - '0') * 100 + (guint)(line[10] - '0') * 10 +
		 (guint)(line[11] - '0');
	if (status < 100 || status > 599)
		return ql_http_fail(error, "status code %u is out of range", status);
	for (gsize i = 13; i < len; i++) {
		guchar c = (guchar)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return ql_http_fail(error, "control character in the status line");
	}
	p->http10 = line[7] == '0';
	p->response->status = status;
	p->response->reason = g_strndup(len > 13 ? line + 13 : "", len > 13 ? len - 13 : 0);
	return TRUE;
}

static gboolean
ql_http_parse_uint(const gchar *s, guint base, guint64 max, guint64 *out)
{
	guint64 v = 0;
	if (*s == '\0')
		return FALSE;
	for (; *s != '\0'; s++) {
		gint d = base == 16 ? g_ascii_xdigit_value(*s) : g_ascii_digit_value(*s);
		if (d < 0)
			return FALSE;
		if (v > (max - (guint64)d) / base)
			return FALSE;
		v = v * base + (guint64)d;
	}
	*out = v;
	return TRUE;
}

static gboolean
ql_http_parse_header(QlHttpParser *p, const gchar *line, gsize len, GError **error)
{
	const gchar *colon = memchr(line, ':', len);
	const gchar *v;
	const gchar *end = line + len;
	QlHttpHeader *h;

	if (line[0] == ' ' || line[0] == '\t')
		return ql_http_fail(error, "folded header lines are not allowed");
	if (colon == NULL || colon == line)
		return ql_http_fail(error, "malformed header line");
	for (const gchar *c = line; c < colon; c++) {
		if (!ql_http_is_tchar((guchar)*c))
			return ql_http_fail(error, "invalid character in a header name");
	}
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const gchar *c = v; c < end; c++) {
		guchar ch = (guchar)*c;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return ql_http_fail(error, "control character in a header value");
	}
	h = g_new0(QlHttpHeader, 1);
	h->name = g_strndup(line, (gsize)(colon - line));
	h->value = g_strndup(v, (gsize)(end - v));
	g_ptr_array_add(p->response->headers, h);

	if (g_ascii_strcasecmp(h->name, "Content-Length") == 0) {
		guint64 cl = 0;
		if (!ql_http_parse_uint(h->value, 10, G_MAXINT64, &cl)) {
			g_autofree gchar *shown = ql_text_escape(h->value, -1, 32);
			return ql_http_fail(error, "invalid Content-Length '%s'", shown);
		}
		if (p->content_length >= 0 && (guint64)p->content_length != cl)
			return ql_http_fail(error, "conflicting Content-Length headers");
		p->content_length = (gint64)cl;
	} else if (g_ascii_strcasecmp(h->name, "Transfer-Encoding") == 0) {
		if (p->chunked || g_ascii_strcasecmp(h->value, "chunked") != 0) {
			g_autofree gchar *shown = ql_text_escape(h->value, -1, 32);
			return ql_http_fail(error, "unsupported Transfer-Encoding '%s'", shown);
		}
		p->chunked = TRUE;
	} else if (g_ascii_strcasecmp(h->name, "Connection") == 0) {
		g_auto(GStrv) tokens = g_strsplit(h->value, ",", -1);
		for (guint i = 0; tokens[i] != NULL; i++) {
			g_strstrip(tokens[i]);
			if (g_ascii_strcasecmp(tokens[i], "close") == 0)
				p->conn_close = TRUE;
			else if (g_ascii_strcasecmp(tokens[i], "keep-alive") == 0)
				p->conn_keep_alive = TRUE;
		}
	}
	return TRUE;
}

static void
ql_http_parser_complete(QlHttpParser *p, gboolean closed_by_eof)
{
	/* a body given to a sink is not kept */
	p->response->body = p->sink != NULL && p->response->status == 200
				    ? NULL
				    : g_bytes_new(p->body->data, p->body->len);
	p->response->keep_alive =
		!closed_by_eof && !p->conn_close && (!p->http10 || p->conn_keep_alive);
	p->state = QL_HTTP_STATE_DONE;
}

static gboolean
ql_http_end_of_headers(QlHttpParser *p, GError **error)
{
	guint status = p->response->status;

	if (status >= 100 && status < 200) {
		if (status == 101)
			return ql_http_fail(error, "unexpected protocol switch (101)");
		/* an interim answer (100 Continue, 103 Early Hints): the real one follows */
		ql_http_parser_reset_message(p);
		return TRUE;
	}
	if (p->chunked && p->content_length >= 0)
		return ql_http_fail(error,
				    "both Transfer-Encoding and Content-Length in one response");
	if (status == 204 || status == 304) {
		ql_http_parser_complete(p, FALSE);
		return TRUE;
	}
	if (p->chunked) {
		p->state = QL_HTTP_STATE_CHUNK_SIZE;
		return TRUE;
	}
	if (p->content_length >= 0) {
		if ((guint64)p->content_length > p->max_body)
			return ql_http_fail(error,
					    "the response body of %" G_GINT64_FORMAT
					    " bytes is over the limit of %" G_GSIZE_FORMAT " bytes",
					    p->content_length, p->max_body);
		p->remaining = (guint64)p->content_length;
		if (p->remaining == 0)
			ql_http_parser_complete(p, FALSE);
		else
			p->state = QL_HTTP_STATE_BODY_LENGTH;
		return TRUE;
	}
	p->state = QL_HTTP_STATE_BODY_EOF;
	return TRUE;
}

static gboolean
ql_http_parse_chunk_size(QlHttpParser *p, const gchar *line, gsize len, GError **error)
{
	g_autofree gchar *hex = NULL;
	const gchar *semi = memchr(line, ';', len);
	gsize hex_len = semi != NULL ? (gsize)(semi - line) : len;
	guint64 size = 0;

	/* chunk extensions are allowed and ignored; whitespace before them is tolerated */
	while (hex_len > 0 && (line[hex_len - 1] == ' ' || line[hex_len - 1] == '\t'))
		hex_len--;
	hex = g_strndup(line, hex_len);
	if (hex_len == 0 || hex_len > 16 || !ql_http_parse_uint(hex, 16, G_MAXUINT64, &size))
		return ql_http_fail(error, "invalid chunk size line");
	if (size > p->max_body || p->body_seen + size > p->max_body)
		return ql_http_fail(
			error,
			"the chunked response body is over the limit of %" G_GSIZE_FORMAT " bytes",
			p->max_body);
	if (size == 0) {
		p->state = QL_HTTP_STATE_TRAILER;
		return TRUE;
	}
	p->remaining = size;
	p->state = QL_HTTP_STATE_CHUNK_DATA;
	return TRUE;
}

static gboolean
ql_http_parser_line(QlHttpParser *p, GError **error)
{
	const gchar *line = (const gchar *)p->line->data;
	gsize len = p->line->len;

	/* the caller stripped the LF; a line must end in CRLF */
	if (len == 0 || line[len - 1] != '\r')
		return ql_http_fail(error, "line not terminated by CRLF");
	len--;
	if (memchr(line, '\0', len) != NULL)
		return ql_http_fail(error, "NUL byte in the response head");

	switch (p->state) {
	case QL_HTTP_STATE_STATUS:
		return ql_http_parse_status(p, line, len, error);
	case QL_HTTP_STATE_HEADER:
		if (len == 0)
			return ql_http_end_of_headers(p, error);
		return ql_http_parse_header(p, line, len, error);
	case QL_HTTP_STATE_CHUNK_SIZE:
		return ql_http_parse_chunk_size(p, line, len, error);
	case QL_HTTP_STATE_CHUNK_END:
		if (len != 0)
			return ql_http_fail(error, "chunk data longer than its size");
		p->state = QL_HTTP_STATE_CHUNK_SIZE;
		return TRUE;
	case QL_HTTP_STATE_TRAILER:
		/* trailer fields are read and dropped */
		if (len == 0)
			ql_http_parser_complete(p, FALSE);
		return TRUE;
	default:
		g_assert_not_reached();
	}
	return FALSE;
}

static gboolean
ql_http_state_is_line(QlHttpState state)
{
	return state == QL_HTTP_STATE_STATUS || state == QL_HTTP_STATE_HEADER ||
	       state == QL_HTTP_STATE_CHUNK_SIZE || state == QL_HTTP_STATE_CHUNK_END ||
	       state == QL_HTTP_STATE_TRAILER;
}

void
ql_http_parser_set_sink(QlHttpParser *parser, QlHttpBodySink sink, gpointer user_data)
{
	parser->sink = sink;
	parser->sink_data = user_data;
}

gboolean
ql_http_parser_sink_failed(QlHttpParser *parser)
{
	return parser->sink_failed;
}

/* Body bytes: kept, or handed to the sink (of a 200 answer only: an error page is kept) */
static gboolean
ql_http_parser_body(QlHttpParser *p, const guint8 *data, gsize len, GError **error)
{
	p->body_seen += len;
	if (p->sink == NULL || p->response->status != 200) {
		g_byte_array_append(p->body, data, (guint)len);
		return TRUE;
	}
	if (!p->sink(p->response, data, len, p->sink_data, error)) {
		p->sink_failed = TRUE;
		return FALSE;
	}
	return TRUE;
}

gboolean
ql_http_parser_feed(QlHttpParser *p, const guint8 *data, gsize len, gsize *consumed, GError **error)
{
	gsize pos = 0;

	/* framing overhead is bounded too (a body of one-byte chunks with long extensions) */
	if (p->received + len > p->max_body * 3 + 2 * QL_HTTP_MAX_HEADER_BYTES &&
	    p->state != QL_HTTP_STATE_DONE)
		return ql_http_fail(error, "the response is too large");
	while (pos < len && p->state != QL_HTTP_STATE_DONE) {
		if (ql_http_state_is_line(p->state)) {
			const guint8 *nl = memchr(data + pos, '\n', len - pos);
			gsize take = nl != NULL ? (gsize)(nl - (data + pos)) : len - pos;
			gboolean in_head = p->state == QL_HTTP_STATE_STATUS ||
					   p->state == QL_HTTP_STATE_HEADER ||
					   p->state == QL_HTTP_STATE_TRAILER;
			if (p->line->len + take > QL_HTTP_MAX_LINE)
				return ql_http_fail(error,
						    "a line of the response is longer than %u "
						    "bytes",
						    (guint)QL_HTTP_MAX_LINE);
			if (in_head && p->header_bytes + take > QL_HTTP_MAX_HEADER_BYTES)
				return ql_http_fail(error,
						    "the response header is longer than %u "
						    "bytes",
						    (guint)QL_HTTP_MAX_HEADER_BYTES);
			g_byte_array_append(p->line, data + pos, (guint)take);
			pos += take;
			p->received += take;
			if (in_head)
				p->header_bytes += take;
			if (nl == NULL)
				break;
			/* the LF itself */
			pos++;
			p->received++;
			if (in_head)
				p->header_bytes++;
			if (p->state == QL_HTTP_STATE_STATUS) {
				if (!ql_http_parser_line(p, error))
					return FALSE;
				p->state = QL_HTTP_STATE_HEADER;
			} else if (!ql_http_parser_line(p, error)) {
				return FALSE;
			}
			g_byte_array_set_size(p->line, 0);
			continue;
		}
		if (p->state == QL_HTTP_STATE_BODY_EOF) {
			gsize take = len - pos;
			if (p->body_seen + take > p->max_body)
				return ql_http_fail(error,
						    "the response body is over the limit of "
						    "%" G_GSIZE_FORMAT " bytes",
						    p->max_body);
			if (!ql_http_parser_body(p, data + pos, take, error))
				return FALSE;
			pos += take;
			p->received += take;
			continue;
		}
		/* BODY_LENGTH or CHUNK_DATA: @remaining more body bytes */
		{
			gsize take = (gsize)MIN((guint64)(len - pos), p->remaining);
			if (!ql_http_parser_body(p, data + pos, take, error))
				return FALSE;
			pos += take;
			p->received += take;
			p->remaining -= take;
			if (p->remaining == 0) {
				if (p->state == QL_HTTP_STATE_BODY_LENGTH)
					ql_http_parser_complete(p, FALSE);
				else
					p->state = QL_HTTP_STATE_CHUNK_END;
			}
		}
	}
	if (consumed != NULL)
		*consumed = pos;
	return TRUE;
}

gboolean
ql_http_parser_finish(QlHttpParser *p, GError **error)
{
	switch (p->state) {
	case QL_HTTP_STATE_DONE:
		return TRUE;
	case QL_HTTP_STATE_BODY_EOF:
		ql_http_parser_complete(p, TRUE);
		return TRUE;
	case QL_HTTP_STATE_STATUS:
		if (p->received == 0)
			return ql_http_fail(error, "the server closed the connection without "
						   "answering");
		return ql_http_fail(error, "the connection closed inside the status line");
	case QL_HTTP_STATE_HEADER:
		return ql_http_fail(error, "the connection closed inside the response header");
	case QL_HTTP_STATE_BODY_LENGTH:
		return ql_http_fail(error,
				    "the connection closed mid-body: %" G_GSIZE_FORMAT
				    " of %" G_GINT64_FORMAT " bytes received",
				    p->body_seen, p->content_length);
	default:
		return ql_http_fail(error,
				    "the connection closed mid-body (chunked, %" G_GSIZE_FORMAT
				    " bytes received)",
				    p->body_seen);
	}
}

QlHttpResponse *
ql_http_parser_steal_response(QlHttpParser *parser)
{
	QlHttpResponse *r;
	if (parser->state != QL_HTTP_STATE_DONE)
		return NULL;
	r = g_steal_pointer(&parser->response);
	parser->response = ql_http_response_new();
	return r;
}

QlHttpResponse *
ql_http_parse_response(const guint8 *data, gsize len, gsize max_body, GError **error)
{
	g_autoptr(QlHttpParser) p = ql_http_parser_new(max_body);
	gsize consumed = 0;

	if (!ql_http_parser_feed(p, data, len, &consumed, error))
		return NULL;
	if (!ql_http_parser_finish(p, error))
		return NULL;
	if (consumed != len) {
		ql_http_fail(error, "%" G_GSIZE_FORMAT " bytes after the end of the response",
			     len - consumed);
		return NULL;
	}
	return ql_http_parser_steal_response(p);
}

/* ------------------------------------------------------------------------------------------ */
/* Proxy selection                                                                             */

gboolean
ql_http_no_proxy_matches(const gchar *no_proxy, const gchar *host)
{
	g_auto(GStrv) entries = NULL;
	g_autofree gchar *h = NULL;

	if (no_proxy == NULL || host == NULL)
		return FALSE;
	h = g_ascii_strdown(host, -1);
	entries = g_strsplit(no_proxy, ",", -1);
	for (guint i = 0; entries[i] != NULL; i++) {
		g_autofree gchar *e = g_ascii_strdown(g_strstrip(entries[i]), -1);
		gchar *colon;
		gsize elen;
		gsize hlen = strlen(h);

		if (e[0] == '\0')
			continue;
		if (g_strcmp0(e, "*") == 0)
			return TRUE;
		/* "host:port" entries: the port is not ours to judge, match the host */
		colon = strrchr(e, ':');
		if (colon != NULL && strchr(e, ':') == colon && e[0] != '[')
			*colon = '\0';
		if (e[0] == '[' && e[strlen(e) - 1] == ']') {
			memmove(e, e + 1, strlen(e));
			e[strlen(e) - 1] = '\0';
		}
		if (e[0] == '.')
			memmove(e, e + 1, strlen(e));
		elen = strlen(e);
		if (g_strcmp0(e, h) == 0)
			return TRUE;
		/* a domain covers its subdomains, never a longer name that merely ends alike */
		if (!g_hostname_is_ip_address(h) && hlen > elen && h[hlen - elen - 1] == '.' &&
		    g_str_has_suffix(h, e))
			return TRUE;
	}
	return FALSE;
}

gchar *
ql_http_proxy_from_env(const gchar *const *envp, const gchar *host)
{
	const gchar *names[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
	const gchar *no_proxy = g_environ_getenv((gchar **)envp, "no_proxy");

	if (no_proxy == NULL)
		no_proxy = g_environ_getenv((gchar **)envp, "NO_PROXY");
	if (ql_http_no_proxy_matches(no_proxy, host))
		return NULL;
	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		const gchar *v = g_environ_getenv((gchar **)envp, names[i]);
		if (v != NULL && v[0] != '\0')
			return g_strdup(v);
	}
	return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Client                                                                                      */

struct _QlHttp {
	GObject parent_instance;
	QlTls *tls;
	gsize max_body;
	guint timeout_ms;
	gint64 deadline;   /* over every exchange (a whole download), monotonic; 0 = none */
	guint deadline_ms; /* what it stands for, for messages */
	gchar *proxy;	   /* NULL = environment */
	GSocketConnection *conn;
	gchar *conn_host;
	guint16 conn_port;
	guint requests;
	guint connections;
	GCancellable *cancellable;
	/* a connection being set up, which ql_http_interrupt may break off from another thread */
	GMutex connecting_lock;
	GCancellable *connecting;
	GSocket *connecting_socket;
	/* ql_http_preconnect: its hook, and a failure kept for the next post to that server */
	QlHttpBeforeHandshake before_handshake;
	gpointer before_handshake_data;
	GError *preconnect_error;
	gchar *preconnect_host;
	guint16 preconnect_port;
};

G_DEFINE_TYPE(QlHttp, ql_http, G_TYPE_OBJECT)

static void
ql_http_finalize(GObject *object)
{
	QlHttp *self = QL_HTTP(object);
	ql_http_close(self);
	g_clear_object(&self->tls);
	g_clear_object(&self->cancellable);
	g_free(self->proxy);
	g_clear_error(&self->preconnect_error);
	g_free(self->preconnect_host);
	g_mutex_clear(&self->connecting_lock);
	G_OBJECT_CLASS(ql_http_parent_class)->finalize(object);
}

static void
ql_http_class_init(QlHttpClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = ql_http_finalize;
}

static void
ql_http_init(QlHttp *self)
{
	self->max_body = QL_HTTP_DEFAULT_MAX_BODY;
	g_mutex_init(&self->connecting_lock);
}

QlHttp *
ql_http_new(QlTls *tls)
{
	QlHttp *self;
	g_return_val_if_fail(QL_IS_TLS(tls), NULL);
	self = g_object_new(QL_TYPE_HTTP, NULL);
	self->tls = g_object_ref(tls);
	self->timeout_ms = ql_tls_get_timeout(tls);
	return self;
}

QlTls *
ql_http_get_tls(QlHttp *self)
{
	g_return_val_if_fail(QL_IS_HTTP(self), NULL);
	return self->tls;
}

void
ql_http_set_max_body(QlHttp *self, gsize max_body)
{
	g_return_if_fail(QL_IS_HTTP(self));
	self->max_body = max_body;
}

void
ql_http_set_timeout(QlHttp *self, guint timeout_ms)
{
	g_return_if_fail(QL_IS_HTTP(self));
	self->timeout_ms = timeout_ms;
	ql_tls_set_timeout(self->tls, timeout_ms);
}

void
ql_http_set_deadline(QlHttp *self, gint64 deadline, guint budget_ms)
{
	g_return_if_fail(QL_IS_HTTP(self));
	self->deadline = deadline;
	self->deadline_ms = budget_ms;
}

/* "3 s", "1500 ms" */
static gchar *
ql_http_duration(guint ms)
{
	if (ms % 1000 == 0)
		return g_strdup_printf("%u s", ms / 1000);
	return g_strdup_printf("%u ms", ms);
}

/* The deadline of a step that starts now and may take the timeout: the client's deadline if it
 * comes first. *@budget_ms: the time it stands for. 0: none. */
static gint64
ql_http_step_deadline(QlHttp *self, guint *budget_ms)
{
	gint64 deadline = 0;
	*budget_ms = 0;
	if (self->timeout_ms > 0) {
		deadline = g_get_monotonic_time() + (gint64)self->timeout_ms * 1000;
		*budget_ms = self->timeout_ms;
	}
	if (self->deadline != 0 && (deadline == 0 || self->deadline < deadline)) {
		deadline = self->deadline;
		*budget_ms = self->deadline_ms;
	}
	return deadline;
}

/* Milliseconds left before @deadline: -1 without one, 0 when it has passed */
static gint
ql_http_left_ms(gint64 deadline)
{
	gint64 left;
	if (deadline == 0)
		return -1;
	left = deadline - g_get_monotonic_time();
	if (left <= 0)
		return 0;
	return (gint)MIN((left + 999) / 1000, (gint64)G_MAXINT);
}

static gboolean
ql_http_deadline_passed(QlHttp *self)
{
	return self->deadline != 0 && g_get_monotonic_time() >= self->deadline;
}

/* A timeout while the client's own deadline has passed is that deadline's doing: say so, and
 * what was under way */
static void
ql_http_blame_deadline(QlHttp *self, const gchar *doing, const gchar *host, GError **error)
{
	g_autofree gchar *budget = NULL;
	if (error == NULL || *error == NULL ||
	    !g_error_matches(*error, QL_ERROR, QL_ERROR_TIMEOUT) || !ql_http_deadline_passed(self))
		return;
	budget = ql_http_duration(self->deadline_ms);
	g_clear_error(error);
	g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
		    "HTTP: the deadline of %s for the whole exchange passed while %s %s", budget,
		    doing, host);
}

void
ql_http_set_proxy(QlHttp *self, const gchar *proxy_url)
{
	g_return_if_fail(QL_IS_HTTP(self));
	g_free(self->proxy);
	self->proxy = g_strdup(proxy_url);
}

void
ql_http_set_cancellable(QlHttp *self, GCancellable *cancellable)
{
	g_return_if_fail(QL_IS_HTTP(self));
	g_set_object(&self->cancellable, cancellable);
	ql_tls_set_cancellable(self->tls, cancellable);
}

guint
ql_http_get_request_count(QlHttp *self)
{
	g_return_val_if_fail(QL_IS_HTTP(self), 0);
	return self->requests;
}

guint
ql_http_get_connection_count(QlHttp *self)
{
	g_return_val_if_fail(QL_IS_HTTP(self), 0);
	return self->connections;
}

void
ql_http_close(QlHttp *self)
{
	g_return_if_fail(QL_IS_HTTP(self));
	g_mutex_lock(&self->connecting_lock);
	g_clear_object(&self->connecting_socket);
	g_mutex_unlock(&self->connecting_lock);
	if (self->tls != NULL)
		ql_tls_close(self->tls);
	if (self->conn != NULL)
		g_io_stream_close(G_IO_STREAM(self->conn), NULL, NULL);
	g_clear_object(&self->conn);
	g_clear_pointer(&self->conn_host, g_free);
	self->conn_port = 0;
}

/* Waits for @cond until @deadline (0: forever) */
static gboolean
ql_http_socket_wait(GSocket *socket, GIOCondition cond, gint64 deadline, guint budget_ms,
		    const gchar *what, GError **error)
{
	g_autoptr(GError) error_local = NULL;
	gint left = ql_http_left_ms(deadline);
	if (left == 0 ||
	    !g_socket_condition_timed_wait(socket, cond, left < 0 ? -1 : (gint64)left * 1000, NULL,
					   &error_local)) {
		if (left == 0 || g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
			g_autofree gchar *budget = ql_http_duration(budget_ms);
			g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
				    "%s timed out: not done within %s", what, budget);
		} else
			g_set_error(error, QL_ERROR, QL_ERROR_HTTP, "%s: %s", what,
				    error_local->message);
		return FALSE;
	}
	return TRUE;
}

/* A request that may carry proxy credentials: wiped whatever path frees it */
typedef GString QlSecretString;

static void
ql_secret_string_free(QlSecretString *s)
{
	ql_crypto_wipe(s->str, s->allocated_len);
	g_string_free(s, TRUE);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlSecretString, ql_secret_string_free)

/* CONNECT through an HTTP proxy (RFC 9110 9.3.6); the tunnel then carries our TLS */
static gboolean
ql_http_proxy_connect(QlHttp *self, GSocket *socket, GUri *proxy_uri, const gchar *host,
		      guint16 port, GError **error)
{
	g_autoptr(QlSecretString) req = g_string_sized_new(1024);
	g_autoptr(GByteArray) reply = g_byte_array_new();
	gboolean ipv6 = strchr(host, ':') != NULL;
	const gchar *userinfo = g_uri_get_userinfo(proxy_uri);
	gsize sent = 0;
	g_autofree gchar *head = NULL;
	g_autofree gchar *shown = NULL;
	guint budget_ms = 0;
	/* one deadline for the whole CONNECT exchange: a trickled reply ends there */
	gint64 deadline = ql_http_step_deadline(self, &budget_ms);

	g_string_append_printf(req, "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n",
			       ipv6 ? "[" : "", host, ipv6 ? "]" : "", port, ipv6 ? "[" : "", host,
			       ipv6 ? "]" : "", port);
	if (userinfo != NULL) {
		g_autofree gchar *plain = g_uri_unescape_string(userinfo, NULL);
		g_autofree gchar *b64 = NULL;
		if (plain == NULL)
			return ql_http_fail(error, "malformed proxy credentials");
		b64 = g_base64_encode((const guchar *)plain, strlen(plain));
		g_string_append_printf(req, "Proxy-Authorization: Basic %s\r\n", b64);
		ql_crypto_wipe(plain, strlen(plain));
		ql_crypto_wipe(b64, strlen(b64));
	}
	g_string_append(req, "\r\n");
	while (sent < req->len) {
		gssize n;
		if (!ql_http_socket_wait(socket, G_IO_OUT, deadline, budget_ms,
					 "sending to the proxy", error))
			return FALSE;
		n = g_socket_send(socket, req->str + sent, req->len - sent, NULL, NULL);
		if (n <= 0)
			return ql_http_fail(error, "the proxy closed the connection");
		sent += (gsize)n;
	}
	/* the reply head, byte by byte so nothing of the tunnel is swallowed */
	while (reply->len < 4 || memcmp(reply->data + reply->len - 4, "\r\n\r\n", 4) != 0) {
		guint8 c;
		gssize n;
		if (reply->len >= QL_HTTP_MAX_HEADER_BYTES)
			return ql_http_fail(error, "the proxy's reply is too long");
		if (!ql_http_socket_wait(socket, G_IO_IN, deadline, budget_ms,
					 "waiting for the proxy", error))
			return FALSE;
		n = g_socket_receive(socket, (gchar *)&c, 1, NULL, NULL);
		if (n <= 0)
			return ql_http_fail(error, "the proxy closed the connection before "
						   "answering CONNECT");
		g_byte_array_append(reply, &c, 1);
	}
	head = g_strndup((const gchar *)reply->data, MIN(reply->len, 64));
	if (strchr(head, '\r') != NULL)
		*strchr(head, '\r') = '\0';
	shown = ql_text_escape(head, -1, 64);
	if (reply->len < 12 || memcmp(reply->data, "HTTP/1.", 7) != 0 || reply->data[9] != '2')
		return ql_http_fail(error, "the proxy refused CONNECT to %s:%u: %s", host, port,
				    shown);
	return TRUE;
}

/* the caller's cancellable, passed on to a connection's own */
static void
ql_http_chain_cancel(GCancellable *source, gpointer data)
{
	g_cancellable_cancel(data);
}

static gboolean
ql_http_connect(QlHttp *self, const gchar *host, guint16 port, GError **error)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnectable) addr = NULL;
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(GUri) proxy_uri = NULL;
	g_autofree gchar *proxy = NULL;
	GSocket *socket;

	ql_http_close(self);
	if (self->proxy != NULL) {
		proxy = self->proxy[0] != '\0' ? g_strdup(self->proxy) : NULL;
	} else {
		g_auto(GStrv) env = g_get_environ();
		proxy = ql_http_proxy_from_env((const gchar *const *)env, host);
	}
	if (proxy != NULL) {
		g_autofree gchar *with_scheme = strstr(proxy, "://") != NULL
							? g_strdup(proxy)
							: g_strconcat("http://", proxy, NULL);
		proxy_uri = g_uri_parse(with_scheme, G_URI_FLAGS_HAS_PASSWORD, NULL);
		if (proxy_uri == NULL || g_strcmp0(g_uri_get_scheme(proxy_uri), "http") != 0 ||
		    g_uri_get_host(proxy_uri) == NULL) {
			/* the URL may hold a password: name only the scheme */
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "HTTP: unsupported proxy (only http://host:port proxies are "
				    "supported, got scheme '%s')",
				    proxy_uri != NULL ? g_uri_get_scheme(proxy_uri) : "?");
			return FALSE;
		}
		addr = g_network_address_new(
			g_uri_get_host(proxy_uri),
			g_uri_get_port(proxy_uri) > 0 ? (guint16)g_uri_get_port(proxy_uri) : 80);
	} else {
		addr = g_network_address_new(host, port);
	}

	/* GSocketClient counts in whole seconds */
	{
		guint budget_ms = 0;
		gint left = ql_http_left_ms(ql_http_step_deadline(self, &budget_ms));
		if (left == 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
				    "HTTP: no time was left to connect to %s", host);
			return FALSE;
		}
		g_socket_client_set_timeout(client, left < 0 ? 0 : ((guint)left + 999) / 1000);
	}
	{
		/* its own cancellable, for ql_http_interrupt; the caller's cancels it too */
		g_autoptr(GCancellable) cancellable = g_cancellable_new();
		gulong chained = self->cancellable != NULL
					 ? g_cancellable_connect(self->cancellable,
								 G_CALLBACK(ql_http_chain_cancel),
								 g_object_ref(cancellable),
								 g_object_unref)
					 : 0;
		g_mutex_lock(&self->connecting_lock);
		self->connecting = g_object_ref(cancellable);
		g_mutex_unlock(&self->connecting_lock);
		conn = g_socket_client_connect(client, addr, cancellable, &error_local);
		if (chained != 0)
			g_cancellable_disconnect(self->cancellable, chained);
		g_mutex_lock(&self->connecting_lock);
		g_clear_object(&self->connecting);
		if (conn != NULL)
			self->connecting_socket =
				g_object_ref(g_socket_connection_get_socket(conn));
		g_mutex_unlock(&self->connecting_lock);
	}
	if (conn == NULL && self->cancellable != NULL &&
	    g_cancellable_is_cancelled(self->cancellable)) {
		g_set_error(error, QL_ERROR, QL_ERROR_CANCELLED, "HTTP: connecting to %s: cancelled",
			    host);
		return FALSE;
	}
	if (conn == NULL) {
		gboolean timeout = g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
		/* GIO says "Could not connect to HOST: why": the host is ours to name */
		const gchar *why = strrchr(error_local->message, ':');
		why = why != NULL && why[1] == ' ' ? why + 2 : error_local->message;
		g_set_error(error, QL_ERROR, timeout ? QL_ERROR_TIMEOUT : QL_ERROR_HTTP,
			    "HTTP: cannot connect to %s%s port %u: %s",
			    proxy_uri != NULL ? "the proxy for " : "", host, (guint)port, why);
		return FALSE;
	}
	socket = g_socket_connection_get_socket(conn);
	if (proxy_uri != NULL && !ql_http_proxy_connect(self, socket, proxy_uri, host, port, error))
		return FALSE;
	if (self->before_handshake != NULL &&
	    !self->before_handshake(self->before_handshake_data)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED,
			    "HTTP: the connection to %s was given up", host);
		return FALSE;
	}
	self->connections++;
	/* the handshake: its own timeout, within the client's deadline */
	ql_tls_set_deadline(self->tls, self->deadline, self->deadline_ms);
	if (!ql_tls_connect(self->tls, socket, host, error))
		return FALSE;
	self->conn = g_steal_pointer(&conn);
	self->conn_host = g_strdup(host);
	self->conn_port = port;
	return TRUE;
}

/* Whether the header line @line is called @name */
static gboolean
ql_http_header_is(const gchar *line, const gchar *name)
{
	gsize n = strlen(name);
	return g_ascii_strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static gboolean
ql_http_header_ok(const gchar *line)
{
	const gchar *colon = strchr(line, ':');
	g_autofree gchar *name = NULL;
	if (colon == NULL || colon == line || strpbrk(line, "\r\n") != NULL)
		return FALSE;
	for (const gchar *c = line; c < colon; c++) {
		if (!ql_http_is_tchar((guchar)*c))
			return FALSE;
	}
	/* framing is ours: a caller's Host or Content-Length would contradict it */
	name = g_strndup(line, (gsize)(colon - line));
	return g_ascii_strcasecmp(name, "Host") != 0 &&
	       g_ascii_strcasecmp(name, "Content-Length") != 0 &&
	       g_ascii_strcasecmp(name, "Transfer-Encoding") != 0 &&
	       g_ascii_strcasecmp(name, "Connection") != 0;
}

/* A host name or an IP literal: the host goes into the Host header and the CONNECT line */
static gboolean
ql_http_host_ok(const gchar *host)
{
	if (host == NULL || host[0] == '\0')
		return FALSE;
	if (g_hostname_is_ip_address(host))
		return TRUE;
	for (const gchar *c = host; *c != '\0'; c++) {
		if (!g_ascii_isalnum(*c) && *c != '-' && *c != '.' && *c != '_')
			return FALSE;
	}
	return TRUE;
}

/* The path or query of the request line: visible ASCII only (no space, no control) */
static gboolean
ql_http_target_ok(const gchar *s)
{
	for (const guchar *c = (const guchar *)s; *c != '\0'; c++) {
		if (*c <= 0x20 || *c >= 0x7f)
			return FALSE;
	}
	return TRUE;
}

static QlHttpResponse *
ql_http_read_response(QlHttp *self, guint budget_ms, QlHttpBodySink sink, gpointer sink_data,
		      GError **error)
{
	g_autoptr(QlHttpParser) parser = ql_http_parser_new(self->max_body);
	QlHttpResponse *response;
	gboolean extra = FALSE;
	gsize consumed = 0;
	guint8 buf[16384];

	ql_http_parser_set_sink(parser, sink, sink_data);
	while (!ql_http_parser_is_done(parser)) {
		g_autoptr(GError) error_local = NULL;
		gssize n;
		/* the deadline of the whole request is the TLS layer's: it holds however the
		 * bytes arrive */
		n = ql_tls_read(self->tls, buf, sizeof(buf), &error_local);
		if (n < 0) {
			if (g_error_matches(error_local, QL_ERROR, QL_ERROR_TIMEOUT)) {
				g_autofree gchar *budget = ql_http_duration(budget_ms);
				g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
					    "HTTP: %s did not send its whole answer within %s "
					    "(%" G_GSIZE_FORMAT " bytes received)",
					    self->conn_host, budget,
					    ql_http_parser_get_received(parser));
				return NULL;
			}
			if (ql_trust_failure_from_error(error_local) != QL_TRUST_OK) {
				g_propagate_error(error, g_steal_pointer(&error_local));
				return NULL;
			}
			g_set_error(error, QL_ERROR, QL_ERROR_HTTP,
				    "HTTP: the response from %s broke off after %" G_GSIZE_FORMAT
				    " bytes: %s",
				    self->conn_host, ql_http_parser_get_received(parser),
				    error_local->message);
			return NULL;
		}
		if (n == 0) {
			/* only close_notify proves that a body delimited by the close is whole */
			if (parser->state == QL_HTTP_STATE_BODY_EOF &&
			    !ql_tls_eof_was_clean(self->tls)) {
				g_set_error(error, QL_ERROR, QL_ERROR_HTTP,
					    "HTTP: %s: the response ended without TLS close_notify "
					    "after %" G_GSIZE_FORMAT
					    " body bytes; its length is not "
					    "known, so it may be truncated",
					    self->conn_host, parser->body_seen);
				return NULL;
			}
			if (!ql_http_parser_finish(parser, error)) {
				g_prefix_error(error, "%s: ", self->conn_host);
				return NULL;
			}
			break;
		}
		if (!ql_http_parser_feed(parser, buf, (gsize)n, &consumed, error)) {
			/* the sink's own error is its to word */
			if (!parser->sink_failed)
				g_prefix_error(error, "%s: ", self->conn_host);
			return NULL;
		}
		/* bytes after a complete answer that nobody asked for: this connection cannot be
		 * trusted to pair the next request with its answer */
		if (consumed < (gsize)n)
			extra = TRUE;
	}
	response = ql_http_parser_steal_response(parser);
	if (response != NULL && extra) {
		g_debug("%s sent bytes after its answer: not reusing the connection",
			self->conn_host);
		response->keep_alive = FALSE;
	}
	return response;
}

/* The URL of a request: https, a valid host, no userinfo, a path and query of visible ASCII */
static GUri *
ql_http_parse_url(const gchar *url, GError **error)
{
	/* ENCODED: the path and query go on the wire as the caller escaped them; decoding them
	 * would turn a "%0D%0A" into a line break inside the request line */
	g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_ENCODED, NULL);
	if (uri == NULL || g_strcmp0(g_uri_get_scheme(uri), "https") != 0 ||
	    !ql_http_host_ok(g_uri_get_host(uri)) || g_uri_get_userinfo(uri) != NULL ||
	    !ql_http_target_ok(g_uri_get_path(uri)) ||
	    (g_uri_get_query(uri) != NULL && !ql_http_target_ok(g_uri_get_query(uri)))) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "HTTP: '%s' is not an https://host[:port]/path URL", url);
		return NULL;
	}
	return g_steal_pointer(&uri);
}

gboolean
ql_http_preconnect(QlHttp *self, const gchar *url, QlHttpBeforeHandshake before, gpointer user_data,
		   GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GError) local = NULL;
	const gchar *host;
	gint port;

	g_return_val_if_fail(QL_IS_HTTP(self), FALSE);
	uri = ql_http_parse_url(url, error);
	if (uri == NULL)
		return FALSE;
	host = g_uri_get_host(uri);
	port = g_uri_get_port(uri) > 0 ? g_uri_get_port(uri) : 443;
	g_clear_error(&self->preconnect_error);
	g_clear_pointer(&self->preconnect_host, g_free);
	self->before_handshake = before;
	self->before_handshake_data = user_data;
	/* what ql_http_post does when it has no connection, and what it says when that fails */
	if (!ql_http_connect(self, host, (guint16)port, &local)) {
		ql_http_blame_deadline(self, "connecting to", host, &local);
		ql_http_close(self);
		self->preconnect_error = g_steal_pointer(&local);
		self->preconnect_host = g_strdup(host);
		self->preconnect_port = (guint16)port;
	}
	self->before_handshake = NULL;
	self->before_handshake_data = NULL;
	return TRUE;
}

void
ql_http_interrupt(QlHttp *self)
{
	g_return_if_fail(QL_IS_HTTP(self));
	g_mutex_lock(&self->connecting_lock);
	if (self->connecting != NULL)
		g_cancellable_cancel(self->connecting);
	if (self->connecting_socket != NULL)
		g_socket_shutdown(self->connecting_socket, TRUE, TRUE, NULL);
	g_mutex_unlock(&self->connecting_lock);
}

QlHttpResponse *
ql_http_post(QlHttp *self, const gchar *url, const gchar *const *headers, const gchar *content_type,
	     GBytes *body, GError **error)
{
	return ql_http_post_sink(self, url, headers, content_type, body, NULL, NULL, error);
}

QlHttpResponse *
ql_http_post_sink(QlHttp *self, const gchar *url, const gchar *const *headers,
		  const gchar *content_type, GBytes *body, QlHttpBodySink sink, gpointer sink_data,
		  GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GString) req = g_string_new(NULL);
	g_autoptr(QlHttpResponse) response = NULL;
	const gchar *host;
	const gchar *path;
	const gchar *query;
	gint port;
	gsize body_len = body != NULL ? g_bytes_get_size(body) : 0;
	gboolean ipv6;
	guint budget_ms = 0;
	gint64 deadline;
	const gchar *agent = NULL;

	g_return_val_if_fail(QL_IS_HTTP(self), NULL);
	g_return_val_if_fail(url != NULL, NULL);

	uri = ql_http_parse_url(url, error);
	if (uri == NULL)
		return NULL;
	host = g_uri_get_host(uri);
	port = g_uri_get_port(uri) > 0 ? g_uri_get_port(uri) : 443;
	path = g_uri_get_path(uri);
	query = g_uri_get_query(uri);
	ipv6 = strchr(host, ':') != NULL;
	for (guint i = 0; headers != NULL && headers[i] != NULL; i++) {
		if (!ql_http_header_ok(headers[i])) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "HTTP: header %u is not a valid 'Name: value' line or sets a "
				    "framing header",
				    i);
			return NULL;
		}
		/* the caller's User-Agent replaces ours: a request carries one */
		if (ql_http_header_is(headers[i], "User-Agent")) {
			if (agent != NULL) {
				g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
						    "HTTP: more than one User-Agent header");
				return NULL;
			}
			agent = headers[i];
		}
	}
	if (content_type != NULL && strpbrk(content_type, "\r\n") != NULL) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "HTTP: invalid content type");
		return NULL;
	}

	g_string_append_printf(req, "POST %s%s%s HTTP/1.1\r\n", path[0] != '\0' ? path : "/",
			       query != NULL ? "?" : "", query != NULL ? query : "");
	/* the order of SGP.22 6.5.1: Host, User-Agent, the caller's (X-Admin-Protocol),
	 * Content-Type, Content-Length */
	g_string_append_printf(req, "Host: %s%s%s", ipv6 ? "[" : "", host, ipv6 ? "]" : "");
	if (port != 443)
		g_string_append_printf(req, ":%d", port);
	g_string_append_printf(req, "\r\n%s\r\n",
			       agent != NULL ? agent : "User-Agent: quantra-l/" PACKAGE_VERSION);
	for (guint i = 0; headers != NULL && headers[i] != NULL; i++) {
		if (headers[i] != agent)
			g_string_append_printf(req, "%s\r\n", headers[i]);
	}
	if (content_type != NULL)
		g_string_append_printf(req, "Content-Type: %s\r\n", content_type);
	g_string_append_printf(req, "Content-Length: %" G_GSIZE_FORMAT "\r\n", body_len);
	g_string_append(req, "\r\n");
	if (body_len > 0)
		g_string_append_len(req, g_bytes_get_data(body, NULL), (gssize)body_len);

	if (ql_http_deadline_passed(self)) {
		g_autofree gchar *budget = ql_http_duration(self->deadline_ms);
		g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
			    "HTTP: the deadline of %s for the whole exchange passed before the "
			    "request to %s",
			    budget, host);
		return NULL;
	}

	/* reuse the connection unless it is for another server, or the server closed it
	 * (anything readable between responses is a close or garbage) */
	if (self->conn != NULL &&
	    (g_strcmp0(self->conn_host, host) != 0 || self->conn_port != (guint16)port ||
	     !ql_tls_is_connected(self->tls) || ql_tls_has_input(self->tls))) {
		g_debug("HTTP: not reusing the connection to %s", self->conn_host);
		ql_http_close(self);
	}
	/* a connection set up ahead that failed: its error, as if connecting now */
	if (self->conn == NULL && self->preconnect_error != NULL) {
		gboolean same = g_strcmp0(self->preconnect_host, host) == 0 &&
				self->preconnect_port == (guint16)port;
		GError *kept = g_steal_pointer(&self->preconnect_error);
		g_clear_pointer(&self->preconnect_host, g_free);
		if (same) {
			g_propagate_error(error, kept);
			return NULL;
		}
		g_error_free(kept);
	}
	if (self->conn == NULL && !ql_http_connect(self, host, (guint16)port, error)) {
		ql_http_blame_deadline(self, "connecting to", host, error);
		ql_http_close(self);
		return NULL;
	}

	/* one deadline for the request and its whole answer, from now */
	deadline = ql_http_step_deadline(self, &budget_ms);
	ql_tls_set_deadline(self->tls, deadline, budget_ms);

	/* no automatic retry after this point: an ES9+ POST is not idempotent */
	self->requests++;
	if (!ql_tls_write_all(self->tls, (const guint8 *)req->str, req->len, error)) {
		ql_http_blame_deadline(self, "sending the request to", host, error);
		ql_http_close(self);
		return NULL;
	}
	response = ql_http_read_response(self, budget_ms, sink, sink_data, error);
	if (response == NULL)
		ql_http_blame_deadline(self, "waiting for the answer from", host, error);
	if (response == NULL || !response->keep_alive)
		ql_http_close(self);
	return g_steal_pointer(&response);
}

/* ------------------------------------------------------------------------------------------ */
/* GET, for CRLs: plain http:// (as CRL distribution points are) or https://                   */

/* Waits for @cond on @socket until @deadline (monotonic) */
static gboolean
ql_http_plain_wait(GSocket *socket, GIOCondition cond, gint64 deadline, const gchar *host,
		   GError **error)
{
	g_autoptr(GError) error_local = NULL;
	gint64 left = deadline - g_get_monotonic_time();
	if (left <= 0 || !g_socket_condition_timed_wait(socket, cond, left, NULL, &error_local)) {
		if (left <= 0 || g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
			g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
				    "HTTP: %s did not answer in time", host);
		else
			g_set_error(error, QL_ERROR, QL_ERROR_HTTP, "HTTP: %s: %s", host,
				    error_local->message);
		return FALSE;
	}
	return TRUE;
}

/* One request and its whole answer over plain TCP, all within the client's timeout */
static QlHttpResponse *
ql_http_plain_exchange(QlHttp *self, const gchar *host, guint16 port, GString *req, GError **error)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autoptr(QlHttpParser) parser = ql_http_parser_new(self->max_body);
	guint timeout_ms = self->timeout_ms > 0 ? self->timeout_ms : 30000;
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	GSocket *socket;
	gsize sent = 0;
	guint8 buf[16384];

	g_socket_client_set_timeout(client, (timeout_ms + 999) / 1000);
	conn = g_socket_client_connect_to_host(client, host, port, NULL, &error_local);
	if (conn == NULL) {
		gboolean timeout = g_error_matches(error_local, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
		const gchar *why = strrchr(error_local->message, ':');
		why = why != NULL && why[1] == ' ' ? why + 2 : error_local->message;
		g_set_error(error, QL_ERROR, timeout ? QL_ERROR_TIMEOUT : QL_ERROR_HTTP,
			    "HTTP: cannot connect to %s port %u: %s", host, (guint)port, why);
		return NULL;
	}
	self->connections++;
	self->requests++;
	socket = g_socket_connection_get_socket(conn);
	while (sent < req->len) {
		gssize n;
		if (!ql_http_plain_wait(socket, G_IO_OUT, deadline, host, error))
			return NULL;
		n = g_socket_send(socket, req->str + sent, req->len - sent, NULL, NULL);
		if (n <= 0) {
			ql_http_fail(error, "%s closed the connection", host);
			return NULL;
		}
		sent += (gsize)n;
	}
	while (!ql_http_parser_is_done(parser)) {
		gsize consumed = 0;
		gssize n;
		if (!ql_http_plain_wait(socket, G_IO_IN, deadline, host, error))
			return NULL;
		n = g_socket_receive(socket, (gchar *)buf, sizeof(buf), NULL, &error_local);
		if (n < 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_HTTP,
				    "HTTP: the response from %s broke off after %" G_GSIZE_FORMAT
				    " bytes: %s",
				    host, ql_http_parser_get_received(parser),
				    error_local->message);
			return NULL;
		}
		if (n == 0) {
			if (!ql_http_parser_finish(parser, error)) {
				g_prefix_error(error, "%s: ", host);
				return NULL;
			}
			break;
		}
		if (!ql_http_parser_feed(parser, buf, (gsize)n, &consumed, error)) {
			g_prefix_error(error, "%s: ", host);
			return NULL;
		}
	}
	g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
	return ql_http_parser_steal_response(parser);
}

QlHttpResponse *
ql_http_get(QlHttp *self, const gchar *url, GError **error)
{
	g_autoptr(GUri) uri = NULL;
	g_autoptr(GString) req = g_string_new(NULL);
	QlHttpResponse *response;
	guint budget_ms = 0;
	gint64 deadline;
	const gchar *scheme;
	const gchar *host;
	const gchar *path;
	const gchar *query;
	gboolean tls;
	gboolean ipv6;
	gint port;

	g_return_val_if_fail(QL_IS_HTTP(self), NULL);
	g_return_val_if_fail(url != NULL, NULL);
	uri = g_uri_parse(url, G_URI_FLAGS_ENCODED, NULL);
	scheme = uri != NULL ? g_uri_get_scheme(uri) : NULL;
	if (uri == NULL || (g_strcmp0(scheme, "http") != 0 && g_strcmp0(scheme, "https") != 0) ||
	    !ql_http_host_ok(g_uri_get_host(uri)) || g_uri_get_userinfo(uri) != NULL ||
	    !ql_http_target_ok(g_uri_get_path(uri)) ||
	    (g_uri_get_query(uri) != NULL && !ql_http_target_ok(g_uri_get_query(uri)))) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "HTTP: '%s' is not an http:// or https://host[:port]/path URL", url);
		return NULL;
	}
	tls = g_strcmp0(scheme, "https") == 0;
	host = g_uri_get_host(uri);
	port = g_uri_get_port(uri) > 0 ? g_uri_get_port(uri) : (tls ? 443 : 80);
	path = g_uri_get_path(uri);
	query = g_uri_get_query(uri);
	ipv6 = strchr(host, ':') != NULL;
	g_string_append_printf(req, "GET %s%s%s HTTP/1.1\r\n", path[0] != '\0' ? path : "/",
			       query != NULL ? "?" : "", query != NULL ? query : "");
	g_string_append_printf(req, "Host: %s%s%s", ipv6 ? "[" : "", host, ipv6 ? "]" : "");
	if (port != (tls ? 443 : 80))
		g_string_append_printf(req, ":%d", port);
	g_string_append(req, "\r\nUser-Agent: quantra-l/" PACKAGE_VERSION
			     "\r\nAccept: */*\r\nConnection: close\r\n\r\n");

	/* one connection per GET: a CRL fetch is a single request */
	ql_http_close(self);
	if (!tls)
		return ql_http_plain_exchange(self, host, (guint16)port, req, error);
	if (!ql_http_connect(self, host, (guint16)port, error)) {
		ql_http_close(self);
		return NULL;
	}
	/* one deadline for the request and its whole answer, as for a POST */
	deadline = ql_http_step_deadline(self, &budget_ms);
	ql_tls_set_deadline(self->tls, deadline, budget_ms);
	self->requests++;
	if (!ql_tls_write_all(self->tls, (const guint8 *)req->str, req->len, error)) {
		ql_http_close(self);
		return NULL;
	}
	response = ql_http_read_response(self, budget_ms, NULL, NULL, error);
	ql_http_close(self);
	return response;
}
