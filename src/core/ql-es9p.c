/*
 * ES9+ / ES11 client. See ql-es9p.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-activation.h"
#include "ql-es9p.h"
#include "ql-tlv.h"

/* ES9+ / ES11 answers nest a few levels; json-glib parses by recursion, so an answer nested
 * deeper than this is refused before it reaches the parser (a 1 MB one overflows the stack) */
#define QL_ES9P_MAX_JSON_DEPTH 32

struct _QlEs9p {
	GObject parent_instance;
	QlHttp *http;
	gchar *address;
};

G_DEFINE_TYPE(QlEs9p, ql_es9p, G_TYPE_OBJECT)

static void
ql_es9p_finalize(GObject *object)
{
	QlEs9p *self = QL_ES9P(object);
	g_clear_object(&self->http);
	g_free(self->address);
	G_OBJECT_CLASS(ql_es9p_parent_class)->finalize(object);
}

static void
ql_es9p_class_init(QlEs9pClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = ql_es9p_finalize;
}

static void
ql_es9p_init(QlEs9p *self)
{
}

QlEs9p *
ql_es9p_new(QlHttp *http, const gchar *address)
{
	QlEs9p *self = g_object_new(QL_TYPE_ES9P, NULL);
	self->http = g_object_ref(http);
	self->address = g_strdup(address);
	return self;
}

void
ql_init_auth_free(QlInitAuth *r)
{
	if (r == NULL)
		return;
	g_free(r->transaction_id);
	g_clear_pointer(&r->server_signed1, g_bytes_unref);
	g_clear_pointer(&r->server_signature1, g_bytes_unref);
	g_clear_pointer(&r->ci_pkid_to_be_used, g_bytes_unref);
	g_clear_pointer(&r->server_certificate, g_bytes_unref);
	g_free(r);
}

void
ql_auth_client_free(QlAuthClient *r)
{
	if (r == NULL)
		return;
	g_free(r->transaction_id);
	g_clear_pointer(&r->profile_metadata, g_bytes_unref);
	g_clear_pointer(&r->smdp_signed2, g_bytes_unref);
	g_clear_pointer(&r->smdp_signature2, g_bytes_unref);
	g_clear_pointer(&r->smdp_certificate, g_bytes_unref);
	g_free(r);
}

void
ql_event_free(QlEvent *e)
{
	if (e == NULL)
		return;
	g_free(e->event_id);
	g_free(e->rsp_server_address);
	g_free(e);
}

GBytes *
ql_es9p_base64_decode(const gchar *text, GError **error)
{
	gsize n = strlen(text), pad = 0, out_len = 0;
	guchar *out;

	if (n % 4 != 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "not base64: the length is not a multiple of 4");
		return NULL;
	}
	for (gsize i = 0; i < n; i++) {
		gchar c = text[i];
		if (c == '=') {
			if (i < n - 2) {
				g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
						    "not base64: '=' before the end");
				return NULL;
			}
			pad++;
			continue;
		}
		if (pad > 0 || !(g_ascii_isalnum(c) || c == '+' || c == '/')) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
					    "not base64: a character outside the alphabet");
			return NULL;
		}
	}
	out = g_base64_decode(text, &out_len);
	return g_bytes_new_take(out, out_len);
}

/* SGP.22 subject codes (the object) and reason codes (what went wrong) */
static const struct {
	const gchar *code;
	const gchar *words;
} ql_subjects[] =
	{
		{"8.1", "the eUICC"},
		{"8.1.1", "the EID"},
		{"8.1.2", "the EUM certificate"},
		{"8.1.3", "the eUICC certificate"},
		{"8.2", "the profile"},
		{"8.2.1", "the profile's ICCID"},
		{"8.2.5", "the profile type"},
		{"8.2.6", "the matching id"},
		{"8.2.7", "the confirmation code"},
		{"8.8", "the SM-DP+"},
		{"8.8.1", "the SM-DP+ address"},
		{"8.8.2", "the security configuration"},
		{"8.8.3", "the specification version"},
		{"8.8.4", "the SM-DP+ certificate"},
		{"8.8.5", "the download order"},
		{"8.9", "the SM-DS"},
		{"8.10.1", "the transaction id"},
		{"8.11.1", "the CI public key"},
},
  ql_reasons[] = {
	  {"1.1", "is not allowed to call this function"},
	  {"1.2", "is not allowed"},
	  {"1.3", "is not authorised"},
	  {"2.1", "is invalid"},
	  {"2.2", "is missing"},
	  {"2.3", "is missing a conditional element"},
	  {"2.4", "is not supported"},
	  {"3.1", "is not supported"},
	  {"3.3", "is already in use"},
	  {"3.7", "is unavailable"},
	  {"3.8", "was refused"},
	  {"3.9", "is unknown"},
	  {"3.10", "does not match"},
	  {"4.2", "failed to execute"},
	  {"4.8", "has not enough memory"},
	  {"4.10", "has expired"},
	  {"5.1", "is not reachable"},
	  {"6.1", "failed verification"},
	  {"6.3", "has expired"},
	  {"6.4", "has had too many attempts"},
};

gchar *
ql_es9p_status_words(const gchar *subject, const gchar *reason)
{
	const gchar *s = NULL, *r = NULL;
	for (guint i = 0; i < G_N_ELEMENTS(ql_subjects); i++) {
		if (g_strcmp0(subject, ql_subjects[i].code) == 0)
			s = ql_subjects[i].words;
	}
	for (guint i = 0; i < G_N_ELEMENTS(ql_reasons); i++) {
		if (g_strcmp0(reason, ql_reasons[i].code) == 0)
			r = ql_reasons[i].words;
	}
	return g_strdup_printf("%s %s (subject %s, reason %s)", s != NULL ? s : "something",
			       r != NULL ? r : "failed", subject != NULL ? subject : "?",
			       reason != NULL ? reason : "?");
}

/* Whether no array or object in @data (JSON text) nests deeper than @max_depth. Brackets inside
 * strings do not count; malformed text is left to the parser. */
static gboolean
ql_es9p_json_depth_ok(const gchar *data, gsize len, guint max_depth)
{
	guint depth = 0;
	gboolean in_string = FALSE;

	for (gsize i = 0; i < len; i++) {
		gchar c = data[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = FALSE;
		} else if (c == '"') {
			in_string = TRUE;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return FALSE;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return TRUE;
}

static const gchar *
ql_es9p_get_string(JsonObject *obj, const gchar *member)
{
	JsonNode *n = json_object_get_member(obj, member);
	if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(n);
}

static JsonObject *
ql_es9p_get_object(JsonObject *obj, const gchar *member)
{
	JsonNode *n = json_object_get_member(obj, member);
	if (n == NULL || !JSON_NODE_HOLDS_OBJECT(n))
		return NULL;
	return json_node_get_object(n);
}

/* A base64 member holding one whole TLV with @tag (0: any) */
static GBytes *
ql_es9p_get_tlv(JsonObject *obj, const gchar *function, const gchar *member, guint32 tag,
		GError **error)
{
	const gchar *text = ql_es9p_get_string(obj, member);
	g_autoptr(GBytes) b = NULL;
	g_autoptr(GError) local = NULL;
	QlTlv tlv;

	if (text == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "%s: the answer has no %s",
			    function, member);
		return NULL;
	}
	b = ql_es9p_base64_decode(text, &local);
	if (b == NULL ||
	    !ql_tlv_read_exact(g_bytes_get_data(b, NULL), g_bytes_get_size(b), tag, &tlv, &local) ||
	    !ql_tlv_validate(g_bytes_get_data(b, NULL), g_bytes_get_size(b), QL_TLV_MAX_DEPTH,
			     &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "%s: %s is malformed: %s",
			    function, member, local->message);
		return NULL;
	}
	return g_steal_pointer(&b);
}

/* The transaction id of an answer must be the session's (a replay or a mix-up otherwise). */
static gboolean
ql_es9p_check_tid(JsonObject *obj, const gchar *function, const gchar *expected, gchar **out,
		  GError **error)
{
	const gchar *tid = ql_es9p_get_string(obj, "transactionId");
	gsize n = tid != NULL ? strlen(tid) : 0;

	if (tid == NULL || n == 0 || n > 32 || n % 2 != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "%s: the answer has no valid transactionId", function);
		return FALSE;
	}
	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isxdigit(tid[i])) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "%s: the transactionId is not hex", function);
			return FALSE;
		}
	}
	if (expected != NULL && g_ascii_strcasecmp(tid, expected) != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "%s: the SM-DP+ answered for another transaction (replayed or mixed "
			    "up answer), refused",
			    function);
		return FALSE;
	}
	if (out != NULL)
		*out = g_ascii_strup(tid, -1);
	return TRUE;
}

JsonObject *
ql_es9p_call(QlEs9p *self, const gchar *interface, const gchar *function, JsonNode *body,
	     GError **error)
{
	static const gchar *const headers[] = {"X-Admin-Protocol: " QL_ES9P_ADMIN_PROTOCOL,
					       "User-Agent: gsma-rsp-lpad", NULL};
	g_autofree gchar *url =
		g_strdup_printf("https://%s/gsma/rsp2/%s/%s", self->address, interface, function);
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree gchar *text = NULL;
	gsize text_len = 0;
	g_autoptr(GBytes) req = NULL;
	g_autoptr(QlHttpResponse) resp = NULL;
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) local = NULL;
	JsonNode *root;
	JsonObject *obj, *header, *status;
	const gchar *st;

	json_generator_set_root(gen, body);
	text = json_generator_to_data(gen, &text_len);
	req = g_bytes_new_take(g_steal_pointer(&text), text_len);
	resp = ql_http_post(self->http, url, headers, "application/json", req, &local);
	if (resp == NULL) {
		g_set_error(error, local->domain, local->code, "%s: %s", function, local->message);
		return NULL;
	}
	if (resp->status == 204)
		return NULL;
	if (resp->status != 200) {
		g_set_error(error, QL_ERROR, QL_ERROR_HTTP, "%s: the server answered HTTP %u %s",
			    function, resp->status, resp->reason != NULL ? resp->reason : "");
		return NULL;
	}
	if (resp->body != NULL &&
	    !ql_es9p_json_depth_ok(g_bytes_get_data(resp->body, NULL), g_bytes_get_size(resp->body),
				   QL_ES9P_MAX_JSON_DEPTH)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "%s: the answer nests deeper than %u levels, refused", function,
			    (guint)QL_ES9P_MAX_JSON_DEPTH);
		return NULL;
	}
	if (resp->body == NULL ||
	    !json_parser_load_from_data(parser, g_bytes_get_data(resp->body, NULL),
					(gssize)g_bytes_get_size(resp->body), &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "%s: the answer is not JSON: %s",
			    function, local != NULL ? local->message : "empty body");
		return NULL;
	}
	root = json_parser_get_root(parser);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "%s: the answer is not a JSON object", function);
		return NULL;
	}
	obj = json_node_get_object(root);
	header = ql_es9p_get_object(obj, "header");
	status = header != NULL ? ql_es9p_get_object(header, "functionExecutionStatus") : NULL;
	st = status != NULL ? ql_es9p_get_string(status, "status") : NULL;
	if (st == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "%s: the answer has no header.functionExecutionStatus", function);
		return NULL;
	}
	if (g_strcmp0(st, "Failed") == 0) {
		JsonObject *scd = ql_es9p_get_object(status, "statusCodeData");
		const gchar *subject = scd != NULL ? ql_es9p_get_string(scd, "subjectCode") : NULL;
		const gchar *reason = scd != NULL ? ql_es9p_get_string(scd, "reasonCode") : NULL;
		g_autofree gchar *words = ql_es9p_status_words(subject, reason);
		g_set_error(error, QL_ERROR, QL_ERROR_SMDP, "%s: the server refused: %s", function,
			    words);
		return NULL;
	}
	if (g_strcmp0(st, "Executed-Success") != 0 && g_strcmp0(st, "Executed-WithWarning") != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "%s: unknown execution status in the answer", function);
		return NULL;
	}
	return json_object_ref(obj);
}

static void
ql_es9p_add_b64(JsonBuilder *b, const gchar *member, GBytes *data)
{
	g_autofree gchar *text =
		g_base64_encode(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
	json_builder_set_member_name(b, member);
	json_builder_add_string_value(b, text);
}

static void
ql_es9p_add_string(JsonBuilder *b, const gchar *member, const gchar *value)
{
	json_builder_set_member_name(b, member);
	json_builder_add_string_value(b, value);
}

QlInitAuth *
ql_es9p_initiate_authentication(QlEs9p *self, gboolean es11, GBytes *challenge, GBytes *euicc_info1,
				GError **error)
{
	const gchar *fn = "initiateAuthentication";
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) body = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(QlInitAuth) r = g_new0(QlInitAuth, 1);

	json_builder_begin_object(b);
	ql_es9p_add_b64(b, "euiccChallenge", challenge);
	ql_es9p_add_b64(b, "euiccInfo1", euicc_info1);
	ql_es9p_add_string(b, "smdpAddress", self->address);
	json_builder_end_object(b);
	body = json_builder_get_root(b);
	obj = ql_es9p_call(self, es11 ? "es11" : "es9plus", fn, body, error);
	if (obj == NULL) {
		if (error != NULL && *error == NULL)
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "%s: empty answer", fn);
		return NULL;
	}
	if (!ql_es9p_check_tid(obj, fn, NULL, &r->transaction_id, error))
		return NULL;
	r->server_signed1 = ql_es9p_get_tlv(obj, fn, "serverSigned1", 0x30, error);
	if (r->server_signed1 == NULL)
		return NULL;
	r->server_signature1 = ql_es9p_get_tlv(obj, fn, "serverSignature1", 0x5F37, error);
	if (r->server_signature1 == NULL)
		return NULL;
	r->ci_pkid_to_be_used = ql_es9p_get_tlv(obj, fn, "euiccCiPKIdToBeUsed", 0x04, error);
	if (r->ci_pkid_to_be_used == NULL)
		return NULL;
	r->server_certificate = ql_es9p_get_tlv(obj, fn, "serverCertificate", 0x30, error);
	if (r->server_certificate == NULL)
		return NULL;
	{
		/* serverSigned1 names the transaction and echoes our challenge (SGP.22 5.6.1) */
		QlTlv top, t;
		g_autofree gchar *tid = NULL;
		ql_tlv_read(g_bytes_get_data(r->server_signed1, NULL),
			    g_bytes_get_size(r->server_signed1), &top, NULL, NULL);
		if (!ql_tlv_require(&top, 0x80, "transactionId", &t, error))
			return NULL;
		tid = ql_hex_encode(t.value, t.len);
		if (g_ascii_strcasecmp(tid, r->transaction_id) != 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "%s: serverSigned1 names another transaction than the answer",
				    fn);
			return NULL;
		}
		if (!ql_tlv_require(&top, 0x81, "euiccChallenge", &t, error))
			return NULL;
		if (t.len != g_bytes_get_size(challenge) ||
		    memcmp(t.value, g_bytes_get_data(challenge, NULL), t.len) != 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "%s: the SM-DP+ signed another challenge than ours (stale or "
				    "replayed answer), refused",
				    fn);
			return NULL;
		}
	}
	return g_steal_pointer(&r);
}

static JsonObject *
ql_es9p_call_tid(QlEs9p *self, const gchar *interface, const gchar *fn, const gchar *tid,
		 const gchar *member, GBytes *data, GError **error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) body = NULL;
	JsonObject *obj;

	json_builder_begin_object(b);
	ql_es9p_add_string(b, "transactionId", tid);
	ql_es9p_add_b64(b, member, data);
	json_builder_end_object(b);
	body = json_builder_get_root(b);
	obj = ql_es9p_call(self, interface, fn, body, error);
	if (obj == NULL) {
		if (error != NULL && *error == NULL)
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "%s: empty answer", fn);
		return NULL;
	}
	if (!ql_es9p_check_tid(obj, fn, tid, NULL, error)) {
		json_object_unref(obj);
		return NULL;
	}
	return obj;
}

QlAuthClient *
ql_es9p_authenticate_client(QlEs9p *self, const gchar *transaction_id,
			    GBytes *authenticate_server_response, GError **error)
{
	const gchar *fn = "authenticateClient";
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(QlAuthClient) r = g_new0(QlAuthClient, 1);
	QlTlv top, t;

	obj = ql_es9p_call_tid(self, "es9plus", fn, transaction_id, "authenticateServerResponse",
			       authenticate_server_response, error);
	if (obj == NULL)
		return NULL;
	r->transaction_id = g_strdup(transaction_id);
	r->profile_metadata = ql_es9p_get_tlv(obj, fn, "profileMetadata", 0xBF25, error);
	if (r->profile_metadata == NULL)
		return NULL;
	r->smdp_signed2 = ql_es9p_get_tlv(obj, fn, "smdpSigned2", 0x30, error);
	if (r->smdp_signed2 == NULL)
		return NULL;
	r->smdp_signature2 = ql_es9p_get_tlv(obj, fn, "smdpSignature2", 0x5F37, error);
	if (r->smdp_signature2 == NULL)
		return NULL;
	r->smdp_certificate = ql_es9p_get_tlv(obj, fn, "smdpCertificate", 0x30, error);
	if (r->smdp_certificate == NULL)
		return NULL;
	ql_tlv_read(g_bytes_get_data(r->smdp_signed2, NULL), g_bytes_get_size(r->smdp_signed2),
		    &top, NULL, NULL);
	if (!ql_tlv_require(&top, 0x80, "transactionId", &t, error))
		return NULL;
	{
		g_autofree gchar *tid = ql_hex_encode(t.value, t.len);
		if (g_ascii_strcasecmp(tid, transaction_id) != 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "%s: smdpSigned2 names another transaction, refused", fn);
			return NULL;
		}
	}
	if (ql_tlv_find(&top, 0x01, &t, NULL))
		r->cc_required = t.len == 1 && t.value[0] != 0;
	return g_steal_pointer(&r);
}

/* SGP.22 EventID: up to 128 characters; printable ASCII without space or '@' here */
static gboolean
ql_es9p_event_id_ok(const gchar *id)
{
	gsize n = strlen(id);
	if (n == 0 || n > 128)
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		if (id[i] <= 0x20 || id[i] >= 0x7f || id[i] == '@')
			return FALSE;
	}
	return TRUE;
}

GPtrArray *
ql_es9p_authenticate_client_es11(QlEs9p *self, const gchar *transaction_id,
				 GBytes *authenticate_server_response, GError **error)
{
	const gchar *fn = "authenticateClient";
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)ql_event_free);
	JsonNode *entries;
	JsonArray *arr;

	obj = ql_es9p_call_tid(self, "es11", fn, transaction_id, "authenticateServerResponse",
			       authenticate_server_response, error);
	if (obj == NULL)
		return NULL;
	entries = json_object_get_member(obj, "eventEntries");
	if (entries == NULL)
		return g_steal_pointer(&out);
	if (!JSON_NODE_HOLDS_ARRAY(entries)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "%s: eventEntries is not a list",
			    fn);
		return NULL;
	}
	arr = json_node_get_array(entries);
	for (guint i = 0; i < json_array_get_length(arr); i++) {
		JsonNode *n = json_array_get_element(arr, i);
		JsonObject *e = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
		const gchar *id = e != NULL ? ql_es9p_get_string(e, "eventId") : NULL;
		const gchar *addr = e != NULL ? ql_es9p_get_string(e, "rspServerAddress") : NULL;
		QlEvent *ev;
		if (id == NULL || addr == NULL) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "%s: an event entry without eventId or rspServerAddress", fn);
			return NULL;
		}
		/* both are printed for the user and come back as ID@ADDRESS for a download */
		if (!ql_es9p_event_id_ok(id) || !ql_activation_check_address(addr, NULL)) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "%s: event entry %u has an invalid eventId or rspServerAddress",
				    fn, i);
			return NULL;
		}
		ev = g_new0(QlEvent, 1);
		ev->event_id = g_strdup(id);
		ev->rsp_server_address = g_strdup(addr);
		g_ptr_array_add(out, ev);
	}
	return g_steal_pointer(&out);
}

GBytes *
ql_es9p_get_bound_profile_package(QlEs9p *self, const gchar *transaction_id,
				  GBytes *prepare_download_response, GError **error)
{
	const gchar *fn = "getBoundProfilePackage";
	g_autoptr(JsonObject) obj = NULL;
	const gchar *text;
	g_autoptr(GError) local = NULL;
	GBytes *bpp;

	obj = ql_es9p_call_tid(self, "es9plus", fn, transaction_id, "prepareDownloadResponse",
			       prepare_download_response, error);
	if (obj == NULL)
		return NULL;
	/* the BPP's structure is checked when it is split for the eUICC */
	text = ql_es9p_get_string(obj, "boundProfilePackage");
	if (text == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "%s: the answer has no "
			    "boundProfilePackage",
			    fn);
		return NULL;
	}
	bpp = ql_es9p_base64_decode(text, &local);
	if (bpp == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "%s: boundProfilePackage: %s", fn,
			    local->message);
		return NULL;
	}
	return bpp;
}

gboolean
ql_es9p_handle_notification(QlEs9p *self, GBytes *pending_notification, GError **error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) body = NULL;
	g_autoptr(JsonObject) obj = NULL;
	g_autoptr(GError) local = NULL;

	json_builder_begin_object(b);
	ql_es9p_add_b64(b, "pendingNotification", pending_notification);
	json_builder_end_object(b);
	body = json_builder_get_root(b);
	obj = ql_es9p_call(self, "es9plus", "handleNotification", body, &local);
	if (local != NULL) {
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	return TRUE;
}

gboolean
ql_es9p_cancel_session(QlEs9p *self, const gchar *transaction_id, GBytes *cancel_session_response,
		       GError **error)
{
	g_autoptr(JsonObject) obj =
		ql_es9p_call_tid(self, "es9plus", "cancelSession", transaction_id,
				 "cancelSessionResponse", cancel_session_response, error);
	return obj != NULL;
}
