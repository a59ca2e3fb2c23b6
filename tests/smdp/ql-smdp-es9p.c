/*
 * The SM-DP+ side of ES9+ (SGP.22 5.6) and the SM-DS side of ES11 (5.8) for the test server:
 * JSON in, JSON out, the common mutual authentication of SGP.22 3.1.2 / 3.1.3 done for real.
 *
 * What each signature covers (the same choices as osmo-smdpp and SGP.22 5.7.13 / 5.7.14):
 *   serverSignature1  DPauth over the whole DER of serverSigned1 (30 ...)
 *   euiccSignature1   eUICC over the whole DER of euiccSigned1 (30 ...) as it came
 *   smdpSignature2    DPpb over smdpSigned2 (30 ...) || euiccSignature1 (5F37 40 ...)
 *   euiccSignature2   eUICC over euiccSigned2 (30 ...) || smdpSignature2 (5F37 40 ...)
 *   smdpSign (BF23)   see ql-smdp-bpp.c
 *   euiccSignPIR      eUICC over ProfileInstallationResultData (BF27 ...)
 *   other notifications: eUICC over NotificationMetadata (BF2F ...)
 *   cancelSession     eUICC over euiccCancelSessionSigned (30 ...)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-smdp.h"
#include "ql-tlv.h"

#define QL_SMDP_TID_LEN 16
#define QL_SMDP_CHALLENGE_LEN 16
#define QL_SMDP_MAX_MATCHING_ID 256
#define QL_SMDP_PROFILE_SIZE 2600 /* the default; --profile-size sets another */
#define QL_SMDP_ADMIN_PROTOCOL "gsma/rsp/v2.2.0"

static GMutex ql_smdp_print_lock;

static FILE *ql_smdp_log_stream;

void
ql_smdp_set_log_stream(FILE *stream)
{
	ql_smdp_log_stream = stream;
}

void
ql_smdp_print(const gchar *format, ...)
{
	g_autofree gchar *line = NULL;
	va_list args;
	va_start(args, format);
	line = g_strdup_vprintf(format, args);
	va_end(args);
	g_mutex_lock(&ql_smdp_print_lock);
	{
		FILE *out = ql_smdp_log_stream != NULL ? ql_smdp_log_stream : stdout;
		fputs(line, out);
		fputc('\n', out);
		fflush(out);
	}
	g_mutex_unlock(&ql_smdp_print_lock);
}

static const gchar *const ql_smdp_fault_names[] = {
	"bad-signature", "wrong-transaction-id", "http-500", "reset", "slow", "tls12",
	"weak-cipher", "expired", "not-yet-valid", "wrong-host", "unknown-ci", "revoked",
	"wrong-role", "client-cert", "truncated-bpp", "tamper-86", "auth-wrong-role",
	/* the hostile answers (tests/test-hostile.py) */
	"trickle",	     /* the whole answer, one byte every QL_SMDP_TRICKLE_MS */
	"trickle-handshake", /* the TLS handshake, the same way */
	"garbage",	     /* HTTP 200 with a body that is not JSON */
	"huge",		     /* a Content-Length far over any client's limit */
	"status-text",	     /* a Failed status whose codes and message hold control characters */
	"hostile-names",     /* profile and provider names with control characters */
	"pb-wrong-role",     /* CERT.DPpb replaced by the TLS certificate */
	"unknown-ci-pkid",   /* euiccCiPKIdToBeUsed names a CI no eUICC knows */
};

gboolean
ql_smdp_fault_is_known(const gchar *name)
{
	g_auto(GStrv) parts = g_strsplit(name, "@", 2);
	return g_strv_contains(ql_smdp_fault_names, parts[0]);
}

typedef struct {
	gchar *name;
	gchar *function; /* NULL: every function */
} QlSmdpFault;

static void
ql_smdp_fault_free(QlSmdpFault *f)
{
	g_free(f->name);
	g_free(f->function);
	g_free(f);
}

/* A download order, per matching id: survives the sessions that try it */
typedef struct {
	gint wrong_cc;
	gchar *iccid; /* the profile bound for it, until an installation succeeds */
	gchar *eid;
	gboolean have_otpk;
	guint8 euicc_otpk[QL_CRYPTO_EC_PUB_LEN]; /* otPK.EUICC.ECKA the last BPP was bound to */
	QlEcKeyPair smdp_ot;
} QlSmdpOrder;

static void
ql_smdp_order_free(QlSmdpOrder *o)
{
	g_free(o->iccid);
	g_free(o->eid);
	ql_crypto_ec_keypair_clear(&o->smdp_ot);
	g_free(o);
}

typedef enum {
	QL_SMDP_STATE_AUTH_STARTED,  /* after initiateAuthentication */
	QL_SMDP_STATE_CLIENT_OK,     /* after authenticateClient */
	QL_SMDP_STATE_BPP_DELIVERED, /* after getBoundProfilePackage */
} QlSmdpState;

typedef struct {
	guint8 tid[QL_SMDP_TID_LEN];
	gchar *tid_hex;
	guint8 server_challenge[QL_SMDP_CHALLENGE_LEN];
	gchar *server_address;
	QlSmdpState state;
	gint64 created;
	gnutls_x509_crt_t euicc;
	gchar *eid;
	gchar *matching_id;
	gchar *iccid;
	gboolean cc_required;
	GBytes *smdp_signature2; /* the whole 5F37 TLV, as sent */
} QlSmdpSession;

static void
ql_smdp_session_free(QlSmdpSession *s)
{
	g_free(s->tid_hex);
	g_free(s->server_address);
	g_clear_pointer(&s->euicc, gnutls_x509_crt_deinit);
	g_free(s->eid);
	if (s->matching_id != NULL)
		ql_crypto_wipe(s->matching_id, strlen(s->matching_id));
	g_free(s->matching_id);
	g_free(s->iccid);
	g_clear_pointer(&s->smdp_signature2, g_bytes_unref);
	g_free(s);
}

struct _QlSmdpServer {
	QlSmdpPki *pki;
	gchar *address;
	GPtrArray *faults;
	GStrv events;
	GStrv accepted_addresses;
	GMutex lock;
	GHashTable *sessions;	 /* tid hex -> QlSmdpSession */
	GHashTable *orders;	 /* matching id -> QlSmdpOrder */
	GPtrArray *known_euiccs; /* eUICC certificates seen, for notifications after the session */
	gsize profile_size;	 /* of the unprotected profiles it binds */
};

QlSmdpServer *
ql_smdp_server_new(QlSmdpPki *pki, const gchar *address, const gchar *const *faults,
		   const gchar *const *events)
{
	QlSmdpServer *s = g_new0(QlSmdpServer, 1);
	const gchar *port = strrchr(address, ':');

	s->pki = pki;
	s->address = g_strdup(address);
	s->profile_size = QL_SMDP_PROFILE_SIZE;
	s->faults = g_ptr_array_new_with_free_func((GDestroyNotify)ql_smdp_fault_free);
	for (guint i = 0; faults != NULL && faults[i] != NULL; i++) {
		g_auto(GStrv) parts = g_strsplit(faults[i], "@", 2);
		QlSmdpFault *f = g_new0(QlSmdpFault, 1);
		f->name = g_strdup(parts[0]);
		f->function = parts[1] != NULL && parts[1][0] != '\0' ? g_strdup(parts[1]) : NULL;
		g_ptr_array_add(s->faults, f);
	}
	s->events = g_strdupv((gchar **)events);
	/* SGP.22 5.6.1: the address the LPA asks for must be ours; on loopback that is any
	 * spelling of the loopback host with our port */
	s->accepted_addresses = g_new0(gchar *, 5);
	s->accepted_addresses[0] = g_strdup(address);
	if (port != NULL) {
		s->accepted_addresses[1] = g_strdup_printf("localhost%s", port);
		s->accepted_addresses[2] = g_strdup_printf("127.0.0.1%s", port);
		s->accepted_addresses[3] = g_strdup_printf("[::1]%s", port);
	}
	s->known_euiccs = g_ptr_array_new_with_free_func((GDestroyNotify)gnutls_x509_crt_deinit);
	g_mutex_init(&s->lock);
	s->sessions = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					    (GDestroyNotify)ql_smdp_session_free);
	s->orders = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					  (GDestroyNotify)ql_smdp_order_free);
	return s;
}

void
ql_smdp_server_free(QlSmdpServer *s)
{
	if (s == NULL)
		return;
	g_hash_table_unref(s->sessions);
	g_hash_table_unref(s->orders);
	g_ptr_array_unref(s->known_euiccs);
	g_mutex_clear(&s->lock);
	g_ptr_array_unref(s->faults);
	g_strfreev(s->events);
	g_strfreev(s->accepted_addresses);
	g_free(s->address);
	g_free(s);
}

void
ql_smdp_server_set_profile_size(QlSmdpServer *server, gsize size)
{
	server->profile_size = size;
}

QlSmdpPki *
ql_smdp_server_get_pki(QlSmdpServer *server)
{
	return server->pki;
}

gboolean
ql_smdp_server_fault(QlSmdpServer *server, const gchar *name, const gchar *function)
{
	for (guint i = 0; i < server->faults->len; i++) {
		QlSmdpFault *f = g_ptr_array_index(server->faults, i);
		if (g_strcmp0(f->name, name) != 0)
			continue;
		if (f->function == NULL || function == NULL ||
		    g_strcmp0(f->function, function) == 0)
			return TRUE;
	}
	return FALSE;
}

void
ql_smdp_reply_free(QlSmdpReply *reply)
{
	if (reply == NULL)
		return;
	g_free(reply->body);
	g_free(reply->log_status);
	g_free(reply);
}

/* ---- one call ---- */

typedef struct {
	QlSmdpServer *server;
	const gchar *function;
	gboolean es11;
	JsonObject *req;
	JsonObject *out; /* members after the header */
	guint http_status;
	const gchar *subject; /* set on failure */
	const gchar *reason;
	gchar *message;
} QlSmdpCall;

/* Records a failure (SGP.22 6.5.1.x statusCodeData) and returns FALSE */
static gboolean G_GNUC_PRINTF(4, 5) ql_smdp_fail(QlSmdpCall *call, const gchar *subject,
						 const gchar *reason, const gchar *format, ...)
{
	va_list args;
	call->subject = subject;
	call->reason = reason;
	g_free(call->message);
	va_start(args, format);
	call->message = g_strdup_vprintf(format, args);
	va_end(args);
	return FALSE;
}

static gboolean
ql_smdp_missing(QlSmdpCall *call, const gchar *what)
{
	return ql_smdp_fail(call, "1.2", "2.2", "%s is missing or malformed", what);
}

static const gchar *
ql_smdp_get_string(QlSmdpCall *call, const gchar *name)
{
	JsonNode *n = json_object_get_member(call->req, name);
	if (n == NULL || JSON_NODE_TYPE(n) != JSON_NODE_VALUE ||
	    json_node_get_value_type(n) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(n);
}

/* Strict base64 of one whole TLV */
static GBytes *
ql_smdp_get_b64(QlSmdpCall *call, const gchar *name)
{
	const gchar *s = ql_smdp_get_string(call, name);
	gsize len, out_len = 0;
	guchar *data;
	if (s == NULL)
		return NULL;
	len = strlen(s);
	if (len == 0 || len % 4 != 0 || len > QL_SMDP_MAX_BODY)
		return NULL;
	for (gsize i = 0; i < len; i++) {
		gchar c = s[i];
		if (!(g_ascii_isalnum(c) || c == '+' || c == '/' || (c == '=' && i >= len - 2)))
			return NULL;
	}
	data = g_base64_decode(s, &out_len);
	return g_bytes_new_take(data, out_len);
}

/* Reads @name as base64 of exactly one well-formed TLV with @tag (0: any) */
static GBytes *
ql_smdp_get_tlv(QlSmdpCall *call, const gchar *name, guint32 tag, QlTlv *out)
{
	g_autoptr(GBytes) b = ql_smdp_get_b64(call, name);
	const guint8 *p;
	gsize len = 0;
	if (b == NULL) {
		ql_smdp_missing(call, name);
		return NULL;
	}
	p = g_bytes_get_data(b, &len);
	if (!ql_tlv_read_exact(p, len, tag, out, NULL) ||
	    !ql_tlv_validate(p, len, QL_TLV_MAX_DEPTH, NULL)) {
		ql_smdp_missing(call, name);
		return NULL;
	}
	return g_steal_pointer(&b);
}

static void
ql_smdp_put_b64(QlSmdpCall *call, const gchar *name, const guint8 *data, gsize len)
{
	g_autofree gchar *s = g_base64_encode(data, len);
	json_object_set_string_member(call->out, name, s);
}

static void
ql_smdp_put_b64_bytes(QlSmdpCall *call, const gchar *name, GBytes *b)
{
	ql_smdp_put_b64(call, name, g_bytes_get_data(b, NULL), g_bytes_get_size(b));
}

/* The metadata names of the profiles this server binds; the hostile-names fault puts what a
 * terminal would act on into them (valid UTF-8: SGP.22 names are UTF8String) */
static GBytes *
ql_smdp_metadata(QlSmdpServer *server, const gchar *iccid, GError **error)
{
	gboolean hostile = ql_smdp_server_fault(server, "hostile-names", NULL);
	return ql_smdp_make_metadata(iccid,
				     hostile ? "Prov\x1b[2J\x7f\xc2\x9b"
					       "1m"
					     : "Quantra-L Test SM-DP+",
				     hostile ? "Evil\x1b]0;pwned\x07\r\nFAKE: installed\xe2\x80\xae"
					     : "Quantra-L Test Profile",
				     2, server->address, error);
}

/* The transactionId of an answer; the wrong-transaction-id fault swaps in another one */
static void
ql_smdp_put_tid(QlSmdpCall *call, const gchar *tid_hex)
{
	if (ql_smdp_server_fault(call->server, "wrong-transaction-id", call->function)) {
		guint8 other[QL_SMDP_TID_LEN];
		g_autofree gchar *hex = NULL;
		ql_crypto_random(other, sizeof(other), NULL);
		hex = ql_hex_encode(other, sizeof(other));
		json_object_set_string_member(call->out, "transactionId", hex);
		return;
	}
	json_object_set_string_member(call->out, "transactionId", tid_hex);
}

static QlSmdpSession *
ql_smdp_lookup(QlSmdpCall *call)
{
	const gchar *tid = ql_smdp_get_string(call, "transactionId");
	QlSmdpSession *s;
	if (tid == NULL) {
		ql_smdp_missing(call, "transactionId");
		return NULL;
	}
	s = g_hash_table_lookup(call->server->sessions, tid);
	if (s == NULL) {
		/* also when the case differs: hex is hex */
		g_autofree gchar *up = g_ascii_strup(tid, -1);
		s = g_hash_table_lookup(call->server->sessions, up);
	}
	if (s == NULL)
		ql_smdp_fail(call, "8.10.1", "3.9", "the transactionId is unknown");
	return s;
}

static void
ql_smdp_drop_session(QlSmdpServer *server, QlSmdpSession *s)
{
	g_hash_table_remove(server->sessions, s->tid_hex);
}

/* Bounded: the oldest session goes when the table is full */
static void
ql_smdp_make_room(QlSmdpServer *server)
{
	GHashTableIter it;
	QlSmdpSession *s, *oldest = NULL;
	if (g_hash_table_size(server->sessions) < QL_SMDP_MAX_SESSIONS)
		return;
	g_hash_table_iter_init(&it, server->sessions);
	while (g_hash_table_iter_next(&it, NULL, (gpointer *)&s)) {
		if (oldest == NULL || s->created < oldest->created)
			oldest = s;
	}
	if (oldest != NULL)
		ql_smdp_drop_session(server, oldest);
}

static gboolean
ql_smdp_sign(gnutls_x509_privkey_t key, const guint8 *data, gsize len, gboolean corrupt,
	     GBytes **out_tlv, GError **error)
{
	guint8 sig[QL_CRYPTO_ECDSA_SIG_LEN];
	if (!ql_crypto_ecdsa_sign_x509(key, data, len, sig, error))
		return FALSE;
	if (corrupt)
		sig[QL_CRYPTO_ECDSA_SIG_LEN - 5] ^= 0x01;
	*out_tlv = ql_crypto_sig_to_tlv(sig);
	return TRUE;
}

/* The children of an AuthenticateResponseOk-like sequence, in order */
static gboolean
ql_smdp_children(const QlTlv *parent, QlTlv *out, guint n_max, guint *n)
{
	QlTlvIter it;
	QlTlv t;
	*n = 0;
	ql_tlv_iter_init_value(&it, parent);
	while (ql_tlv_iter_next(&it, &t, NULL)) {
		if (*n < n_max)
			out[*n] = t;
		(*n)++;
	}
	return *n <= n_max;
}

/* ---- initiateAuthentication (ES9+ 5.6.1, ES11 5.8.1) ---- */

static gboolean
ql_smdp_ci_listed(const QlTlv *info1, guint32 list_tag, GBytes *ski)
{
	QlTlv list, id;
	QlTlvIter it;
	if (!ql_tlv_find(info1, list_tag, &list, NULL))
		return FALSE;
	ql_tlv_iter_init_value(&it, &list);
	while (ql_tlv_iter_next(&it, &id, NULL)) {
		if (id.tag == 0x04 && id.len == g_bytes_get_size(ski) &&
		    memcmp(id.value, g_bytes_get_data(ski, NULL), id.len) == 0)
			return TRUE;
	}
	return FALSE;
}

static gboolean
ql_smdp_initiate_authentication(QlSmdpCall *call)
{
	QlSmdpServer *server = call->server;
	g_autoptr(GBytes) challenge = ql_smdp_get_b64(call, "euiccChallenge");
	g_autoptr(GBytes) info1 = NULL;
	g_autoptr(GBytes) ski = NULL;
	g_autoptr(GBytes) signed1 = NULL;
	g_autoptr(GBytes) sig = NULL;
	g_autoptr(GBytes) cert = NULL;
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GError) error = NULL;
	const gchar *address = ql_smdp_get_string(call, "smdpAddress");
	QlSmdpSession *s;
	const QlPkiCert *signer;
	QlTlv info1_tlv;
	guint8 ski_tlv[2 + 64];
	gboolean accepted = FALSE;

	if (challenge == NULL || g_bytes_get_size(challenge) != QL_SMDP_CHALLENGE_LEN)
		return ql_smdp_missing(call, "euiccChallenge");
	if (address == NULL)
		return ql_smdp_missing(call, "smdpAddress");
	info1 = ql_smdp_get_tlv(call, "euiccInfo1", 0xBF20, &info1_tlv);
	if (info1 == NULL)
		return FALSE;
	for (guint i = 0; server->accepted_addresses[i] != NULL; i++)
		accepted |= g_ascii_strcasecmp(address, server->accepted_addresses[i]) == 0;
	if (!accepted)
		return ql_smdp_fail(call, "8.8.1", "3.8", "this is not the SM-DP+ address");

	/* SGP.22 5.6.1: one of the CI key ids the eUICC lists must be one our certificates
	 * chain to (we have one CI) */
	ski = ql_pki_subject_key_id(server->pki->ci.crt, NULL);
	if (ski == NULL || g_bytes_get_size(ski) > 64)
		return ql_smdp_fail(call, "8.8.2", "3.1", "the SM-DP+ has no CI key id");
	if (!ql_smdp_ci_listed(&info1_tlv, 0xA9, ski) && !ql_smdp_ci_listed(&info1_tlv, 0xAA, ski))
		return ql_smdp_fail(call, "8.8.2", "3.1",
				    "none of the eUICC's CI key ids is supported");

	ql_smdp_make_room(server);
	s = g_new0(QlSmdpSession, 1);
	ql_crypto_random(s->tid, sizeof(s->tid), NULL);
	ql_crypto_random(s->server_challenge, sizeof(s->server_challenge), NULL);
	s->tid_hex = ql_hex_encode(s->tid, sizeof(s->tid));
	s->server_address = g_strdup(address);
	s->created = g_get_monotonic_time();
	s->state = QL_SMDP_STATE_AUTH_STARTED;
	g_hash_table_replace(server->sessions, s->tid_hex, s);

	ql_tlv_builder_begin(b, 0x30);
	ql_tlv_builder_add(b, 0x80, s->tid, sizeof(s->tid));
	ql_tlv_builder_add_bytes(b, 0x81, challenge);
	ql_tlv_builder_add_string(b, 0x83, address);
	ql_tlv_builder_add(b, 0x84, s->server_challenge, sizeof(s->server_challenge));
	ql_tlv_builder_end(b);
	signed1 = ql_tlv_builder_finish(g_steal_pointer(&b));
	/* auth-wrong-role: sign with the TLS key and present the TLS certificate, which chains to
	 * the right CI but carries the DP TLS role, not DP auth */
	signer = ql_smdp_server_fault(server, "auth-wrong-role", call->function)
			 ? &server->pki->dptls
			 : &server->pki->dpauth;
	if (!ql_smdp_sign(signer->key, g_bytes_get_data(signed1, NULL), g_bytes_get_size(signed1),
			  ql_smdp_server_fault(server, "bad-signature", call->function), &sig,
			  &error))
		return ql_smdp_fail(call, "8.8", "6.1", "signing failed: %s", error->message);
	cert = ql_pki_export_der(signer->crt, NULL);
	if (cert == NULL)
		return ql_smdp_fail(call, "8.8", "6.1", "no DPauth certificate");

	ql_smdp_put_tid(call, s->tid_hex);
	ql_smdp_put_b64_bytes(call, "serverSigned1", signed1);
	ql_smdp_put_b64_bytes(call, "serverSignature1", sig);
	ski_tlv[0] = 0x04;
	ski_tlv[1] = (guint8)g_bytes_get_size(ski);
	memcpy(ski_tlv + 2, g_bytes_get_data(ski, NULL), g_bytes_get_size(ski));
	/* unknown-ci-pkid: a key id no eUICC trusts, which only the eUICC checks */
	if (ql_smdp_server_fault(server, "unknown-ci-pkid", call->function))
		memset(ski_tlv + 2, 0xA5, g_bytes_get_size(ski));
	ql_smdp_put_b64(call, "euiccCiPKIdToBeUsed", ski_tlv, 2 + g_bytes_get_size(ski));
	ql_smdp_put_b64_bytes(call, "serverCertificate", cert);
	return TRUE;
}

/* ---- authenticateClient (ES9+ 5.6.3, ES11 5.8.2) ---- */

/* Certificates of the eUICC (30 ... DER) to verify against our CI */
static gboolean
ql_smdp_check_euicc(QlSmdpCall *call, const QlTlv *euicc_tlv, const QlTlv *eum_tlv,
		    gnutls_x509_crt_t *euicc_out, gchar **eid_out)
{
	g_auto(gnutls_x509_crt_t) euicc = NULL;
	g_auto(gnutls_x509_crt_t) eum = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *eid = NULL;

	euicc = ql_pki_crt_from_bytes(euicc_tlv->raw, euicc_tlv->raw_len, NULL);
	eum = ql_pki_crt_from_bytes(eum_tlv->raw, eum_tlv->raw_len, NULL);
	if (euicc == NULL || eum == NULL)
		return ql_smdp_fail(call, "8.1.3", "6.1",
				    "the eUICC or EUM certificate is invalid");
	if (!ql_smdp_verify_euicc_chain(call->server->pki, euicc, eum, &error))
		return ql_smdp_fail(call, "8.1.3", "6.1", "%s", error->message);
	eid = ql_pki_subject_serial_number(euicc);
	if (eid == NULL || strlen(eid) != 32 || strspn(eid, "0123456789") != 32)
		return ql_smdp_fail(call, "8.1.3", "6.1", "the eUICC certificate carries no EID");
	*euicc_out = g_steal_pointer(&euicc);
	*eid_out = g_steal_pointer(&eid);
	return TRUE;
}

static QlSmdpOrder *
ql_smdp_order_for(QlSmdpServer *server, const gchar *matching_id, const gchar *eid)
{
	QlSmdpOrder *o = g_hash_table_lookup(server->orders, matching_id);
	if (o == NULL) {
		o = g_new0(QlSmdpOrder, 1);
		g_hash_table_insert(server->orders, g_strdup(matching_id), o);
	}
	if (o->eid != NULL && g_strcmp0(o->eid, eid) != 0) {
		/* another eUICC: a fresh profile for it, not the other one's binding */
		g_clear_pointer(&o->iccid, g_free);
		o->have_otpk = FALSE;
	}
	g_free(o->eid);
	o->eid = g_strdup(eid);
	if (o->iccid == NULL)
		o->iccid = ql_smdp_make_iccid();
	return o;
}

static gboolean
ql_smdp_authenticate_client(QlSmdpCall *call)
{
	QlSmdpServer *server = call->server;
	QlSmdpSession *s = ql_smdp_lookup(call);
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(GBytes) metadata = NULL;
	g_autoptr(GBytes) signed2 = NULL;
	g_autoptr(GByteArray) tbs = NULL;
	g_autoptr(GBytes) sig = NULL;
	g_autoptr(GBytes) cert = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(QlTlvBuilder) b = NULL;
	g_autofree gchar *matching_id = NULL;
	g_autofree gchar *address = NULL;
	gnutls_x509_crt_t euicc = NULL;
	gchar *eid = NULL;
	QlTlv top, ok, parts[4], field, ctx;
	QlSmdpOrder *order;
	guint n = 0;
	const guint8 cc_flag_true = 0xFF, cc_flag_false = 0x00;

	if (s == NULL)
		return FALSE;
	if (s->state != QL_SMDP_STATE_AUTH_STARTED)
		return ql_smdp_fail(call, "8.10.1", "3.9", "the session is past this step");
	resp = ql_smdp_get_tlv(call, "authenticateServerResponse", 0xBF38, &top);
	if (resp == NULL)
		return FALSE;
	if (!ql_tlv_find(&top, 0xA0, &ok, NULL)) {
		ql_smdp_drop_session(server, s);
		return ql_smdp_fail(call, "8.1", "6.1",
				    "the eUICC answered AuthenticateServer with an error");
	}
	/* AuthenticateResponseOk: euiccSigned1, euiccSignature1, euiccCertificate,
	 * eumCertificate (SGP.22 5.7.13) */
	if (!ql_smdp_children(&ok, parts, G_N_ELEMENTS(parts), &n) || n != 4 ||
	    parts[0].tag != 0x30 || parts[1].tag != QL_CRYPTO_SIG_TAG || parts[2].tag != 0x30 ||
	    parts[3].tag != 0x30)
		return ql_smdp_missing(call, "authenticateResponseOk");
	if (!ql_smdp_check_euicc(call, &parts[2], &parts[3], &euicc, &eid))
		return FALSE;
	s->euicc = euicc;
	g_free(s->eid);
	s->eid = eid;
	/* bounded: the oldest goes first */
	if (server->known_euiccs->len >= 64)
		g_ptr_array_remove_index(server->known_euiccs, 0);
	g_ptr_array_add(server->known_euiccs, ql_pki_crt_copy(euicc, NULL));
	if (!ql_crypto_ecdsa_verify_crt(s->euicc, parts[0].raw, parts[0].raw_len, parts[1].value,
					parts[1].len, &error))
		return ql_smdp_fail(call, "8.1", "6.1", "euiccSignature1 is invalid");

	/* euiccSigned1 { 80 transactionId, 83 serverAddress, 84 serverChallenge, BF22
	 * euiccInfo2, A0 ctxParams1 } */
	if (!ql_tlv_require(&parts[0], 0x80, "transactionId", &field, NULL) ||
	    field.len != sizeof(s->tid) || !ql_crypto_equal(field.value, s->tid, sizeof(s->tid)))
		return ql_smdp_fail(call, "8.10.1", "3.9", "the signed transactionId differs");
	if (!ql_tlv_require(&parts[0], 0x84, "serverChallenge", &field, NULL) ||
	    field.len != sizeof(s->server_challenge) ||
	    !ql_crypto_equal(field.value, s->server_challenge, sizeof(s->server_challenge)))
		return ql_smdp_fail(call, "8.1", "6.1", "the serverChallenge does not match");
	if (!ql_tlv_require(&parts[0], 0x83, "serverAddress", &field, NULL))
		return ql_smdp_missing(call, "serverAddress");
	address = ql_tlv_get_string(&field);
	if (g_ascii_strcasecmp(address, s->server_address) != 0)
		return ql_smdp_fail(call, "8.1", "6.1", "the signed serverAddress differs");
	if (!ql_tlv_require(&parts[0], 0xA0, "ctxParams1", &ctx, NULL))
		return ql_smdp_missing(call, "ctxParams1");
	/* ctxParamsForCommonAuthentication is [0] IMPLICIT: A0 { 80 matchingId, A1 deviceInfo };
	 * also take it wrapped in one more A0, as some LPAs (and ours so far) send it */
	if (!ql_tlv_find(&ctx, 0xA1, &field, NULL) && ql_tlv_find(&ctx, 0xA0, &field, NULL))
		ctx = field;
	if (ql_tlv_find(&ctx, 0x80, &field, NULL)) {
		if (field.len > QL_SMDP_MAX_MATCHING_ID ||
		    !g_utf8_validate((const gchar *)field.value, (gssize)field.len, NULL))
			return ql_smdp_fail(call, "8.2.6", "3.8", "the matchingId is refused");
		matching_id = g_strndup((const gchar *)field.value, field.len);
	}

	if (call->es11) {
		/* SGP.22 5.8.2: the events registered for this eUICC (here: all of them) */
		JsonArray *entries = json_array_new();
		for (guint i = 0; server->events != NULL && server->events[i] != NULL; i++) {
			JsonObject *e = json_object_new();
			json_object_set_string_member(e, "eventId", server->events[i]);
			json_object_set_string_member(e, "rspServerAddress", server->address);
			json_array_add_object_element(entries, e);
		}
		ql_smdp_put_tid(call, s->tid_hex);
		json_object_set_array_member(call->out, "eventEntries", entries);
		ql_smdp_drop_session(server, s);
		return TRUE;
	}

	/* SGP.22 3.1.2: an empty matchingId asks for an order made for this EID; the test
	 * server has one for every eUICC */
	if (matching_id == NULL || matching_id[0] == '\0') {
		g_free(matching_id);
		matching_id = g_strdup_printf("EID:%s", s->eid);
	}
	order = ql_smdp_order_for(server, matching_id, s->eid);
	if (order->wrong_cc >= QL_SMDP_CC_MAX_TRIES)
		return ql_smdp_fail(call, "8.2.7", "6.4",
				    "too many wrong confirmation codes for this order");
	s->matching_id = g_strdup(matching_id);
	s->iccid = g_strdup(order->iccid);
	s->cc_required = g_str_has_prefix(matching_id, "CC-");

	metadata = ql_smdp_metadata(server, s->iccid, &error);
	if (metadata == NULL)
		return ql_smdp_fail(call, "8.2", "6.1", "%s", error->message);

	/* smdpSigned2 { 80 transactionId, 01 ccRequiredFlag, [5F49 bppEuiccOtpk] } */
	b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, 0x30);
	ql_tlv_builder_add(b, 0x80, s->tid, sizeof(s->tid));
	ql_tlv_builder_add(b, 0x01, s->cc_required ? &cc_flag_true : &cc_flag_false, 1);
	if (order->have_otpk)
		ql_tlv_builder_add(b, 0x5F49, order->euicc_otpk, sizeof(order->euicc_otpk));
	ql_tlv_builder_end(b);
	signed2 = ql_tlv_builder_finish(g_steal_pointer(&b));
	tbs = g_byte_array_new();
	g_byte_array_append(tbs, g_bytes_get_data(signed2, NULL), g_bytes_get_size(signed2));
	g_byte_array_append(tbs, parts[1].raw, (guint)parts[1].raw_len);
	if (!ql_smdp_sign(server->pki->dppb.key, tbs->data, tbs->len,
			  ql_smdp_server_fault(server, "bad-signature", call->function), &sig,
			  &error))
		return ql_smdp_fail(call, "8.2", "6.1", "signing failed: %s", error->message);
	/* pb-wrong-role: a certificate of the right CI with the wrong role, for the LPA's own
	 * DPpb check after the eUICC has opened its session */
	cert = ql_pki_export_der(ql_smdp_server_fault(server, "pb-wrong-role", call->function)
					 ? server->pki->dptls.crt
					 : server->pki->dppb.crt,
				 NULL);
	if (cert == NULL)
		return ql_smdp_fail(call, "8.2", "6.1", "no DPpb certificate");
	g_clear_pointer(&s->smdp_signature2, g_bytes_unref);
	s->smdp_signature2 = g_bytes_ref(sig);
	s->state = QL_SMDP_STATE_CLIENT_OK;

	ql_smdp_put_tid(call, s->tid_hex);
	ql_smdp_put_b64_bytes(call, "profileMetadata", metadata);
	ql_smdp_put_b64_bytes(call, "smdpSigned2", signed2);
	ql_smdp_put_b64_bytes(call, "smdpSignature2", sig);
	ql_smdp_put_b64_bytes(call, "smdpCertificate", cert);
	return TRUE;
}

/* ---- getBoundProfilePackage (5.6.2) ---- */

static gboolean
ql_smdp_check_cc(QlSmdpCall *call, QlSmdpSession *s, QlSmdpOrder *order, const QlTlv *signed2)
{
	g_autofree gchar *code = NULL;
	guint8 expected[QL_CRYPTO_SHA256_LEN];
	gboolean good;
	QlTlv hash;

	if (!s->cc_required)
		return TRUE;
	if (order->wrong_cc >= QL_SMDP_CC_MAX_TRIES)
		return ql_smdp_fail(call, "8.2.7", "6.4",
				    "too many wrong confirmation codes for this order");
	if (!ql_tlv_find(signed2, 0x04, &hash, NULL) || hash.len != QL_CRYPTO_SHA256_LEN)
		return ql_smdp_fail(call, "8.2.7", "2.2", "the confirmation code is missing");
	code = ql_smdp_confirmation_code(call->server->pki, s->matching_id);
	if (code == NULL || !ql_crypto_hash_cc(code, s->tid, sizeof(s->tid), expected, NULL))
		return ql_smdp_fail(call, "8.2.7", "3.8", "cannot compute hashCc");
	ql_crypto_wipe(code, strlen(code));
	good = ql_crypto_equal(hash.value, expected, sizeof(expected));
	ql_crypto_wipe(expected, sizeof(expected));
	if (good)
		return TRUE;
	/* SGP.22 3.1.3.3: the order allows a few tries, then it is refused for good */
	if (++order->wrong_cc >= QL_SMDP_CC_MAX_TRIES)
		return ql_smdp_fail(call, "8.2.7", "6.4",
				    "too many wrong confirmation codes for this order");
	return ql_smdp_fail(call, "8.2.7", "3.8", "the confirmation code is wrong");
}

static gboolean
ql_smdp_get_bpp(QlSmdpCall *call)
{
	QlSmdpServer *server = call->server;
	QlSmdpSession *s = ql_smdp_lookup(call);
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(GBytes) eid = NULL;
	g_autoptr(GBytes) profile = NULL;
	g_autoptr(GBytes) metadata = NULL;
	g_autoptr(GBytes) bpp = NULL;
	g_autoptr(GByteArray) tbs = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *b64 = NULL;
	QlTlv top, ok, parts[2], field, otpk;
	QlSmdpOrder *order;
	QlSmdpBppParams params;
	guint n = 0;

	if (s == NULL)
		return FALSE;
	if (s->state != QL_SMDP_STATE_CLIENT_OK)
		return ql_smdp_fail(call, "8.10.1", "3.9", "the session is not at this step");
	resp = ql_smdp_get_tlv(call, "prepareDownloadResponse", 0xBF21, &top);
	if (resp == NULL)
		return FALSE;
	if (!ql_tlv_find(&top, 0xA0, &ok, NULL))
		return ql_smdp_fail(call, "8.1", "6.1",
				    "the eUICC answered PrepareDownload with an error");
	if (!ql_smdp_children(&ok, parts, G_N_ELEMENTS(parts), &n) || n != 2 ||
	    parts[0].tag != 0x30 || parts[1].tag != QL_CRYPTO_SIG_TAG)
		return ql_smdp_missing(call, "downloadResponseOk");

	/* SGP.22 5.7.14: euiccSignature2 covers euiccSigned2 || smdpSignature2 */
	tbs = g_byte_array_new();
	g_byte_array_append(tbs, parts[0].raw, (guint)parts[0].raw_len);
	g_byte_array_append(tbs, g_bytes_get_data(s->smdp_signature2, NULL),
			    (guint)g_bytes_get_size(s->smdp_signature2));
	if (!ql_crypto_ecdsa_verify_crt(s->euicc, tbs->data, tbs->len, parts[1].value, parts[1].len,
					&error))
		return ql_smdp_fail(call, "8.1", "6.1", "euiccSignature2 is invalid");
	if (!ql_tlv_require(&parts[0], 0x80, "transactionId", &field, NULL) ||
	    field.len != sizeof(s->tid) || !ql_crypto_equal(field.value, s->tid, sizeof(s->tid)))
		return ql_smdp_fail(call, "8.10.1", "3.9", "the signed transactionId differs");
	if (!ql_tlv_require(&parts[0], 0x5F49, "euiccOtpk", &otpk, NULL) ||
	    !ql_crypto_ec_check_public(otpk.value, otpk.len, NULL))
		return ql_smdp_missing(call, "euiccOtpk");

	order = ql_smdp_order_for(server, s->matching_id, s->eid);
	if (!ql_smdp_check_cc(call, s, order, &parts[0]))
		return FALSE;

	/* SGP.22 3.1.3.2: a retry with the otPK.EUICC.ECKA the BPP was bound to before keeps
	 * that binding; any other key gets a new one-time key pair */
	if (!order->have_otpk || otpk.len != sizeof(order->euicc_otpk) ||
	    memcmp(order->euicc_otpk, otpk.value, otpk.len) != 0) {
		ql_crypto_ec_keypair_clear(&order->smdp_ot);
		if (!ql_crypto_ec_generate(&order->smdp_ot, &error))
			return ql_smdp_fail(call, "8.2", "6.1", "%s", error->message);
		memcpy(order->euicc_otpk, otpk.value, sizeof(order->euicc_otpk));
		order->have_otpk = TRUE;
	}

	eid = ql_hex_decode(s->eid, NULL);
	metadata = ql_smdp_metadata(server, s->iccid, &error);
	profile = ql_smdp_make_profile(s->iccid, server->profile_size, &error);
	if (eid == NULL || g_bytes_get_size(eid) != 16 || metadata == NULL || profile == NULL)
		return ql_smdp_fail(call, "8.2", "6.1", "cannot prepare the profile");
	memset(&params, 0, sizeof(params));
	params.transaction_id = s->tid;
	params.transaction_id_len = sizeof(s->tid);
	params.host_id = (const guint8 *)QL_SMDP_HOST_ID;
	params.host_id_len = strlen(QL_SMDP_HOST_ID);
	params.eid = g_bytes_get_data(eid, NULL);
	params.smdp_ot = &order->smdp_ot;
	params.euicc_otpk = otpk.value;
	params.euicc_otpk_len = otpk.len;
	params.dppb_key = server->pki->dppb.key;
	params.metadata = metadata;
	params.profile = profile;
	params.use_ppk = strstr(s->matching_id, "PPK") != NULL;
	params.tamper_86 = ql_smdp_server_fault(server, "tamper-86", call->function);
	params.bad_signature = ql_smdp_server_fault(server, "bad-signature", call->function);
	bpp = ql_smdp_bpp_build(&params, &error);
	if (bpp == NULL)
		return ql_smdp_fail(call, "8.2", "6.1", "binding failed: %s", error->message);
	s->state = QL_SMDP_STATE_BPP_DELIVERED;

	b64 = g_base64_encode(g_bytes_get_data(bpp, NULL), g_bytes_get_size(bpp));
	if (ql_smdp_server_fault(server, "truncated-bpp", call->function))
		b64[(strlen(b64) * 2 / 3) & ~(gsize)3] = '\0';
	ql_smdp_put_tid(call, s->tid_hex);
	json_object_set_string_member(call->out, "boundProfilePackage", b64);
	return TRUE;
}

/* ---- handleNotification (5.6.4) ---- */

static const gchar *
ql_smdp_event_name(const QlTlv *bits)
{
	static const gchar *const names[] = {"install", "enable", "disable", "delete"};
	/* NotificationEvent: exactly one named bit set */
	if (bits->len < 2)
		return NULL;
	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		if (bits->value[1] & (0x80 >> i))
			return names[i];
	}
	return NULL;
}

/* Prints the line for a verified NotificationMetadata (BF2F) */
static gboolean
ql_smdp_print_notification(const QlTlv *meta, const gchar *want_event, GError **error)
{
	g_autofree gchar *iccid = NULL;
	const gchar *event;
	gint64 seq = -1;
	QlTlv t;

	if (!ql_tlv_require(meta, 0x80, "seqNumber", &t, error) || !ql_tlv_get_int(&t, &seq, error))
		return FALSE;
	if (!ql_tlv_require(meta, 0x81, "profileManagementOperation", &t, error))
		return FALSE;
	event = ql_smdp_event_name(&t);
	if (event == NULL || (want_event != NULL && g_strcmp0(event, want_event) != 0)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the notification names no valid operation");
		return FALSE;
	}
	if (ql_tlv_find(meta, 0x5A, &t, NULL) && t.len == 10)
		iccid = ql_iccid_from_bcd(t.value, t.len);
	ql_smdp_print("notification %s seq=%" G_GINT64_FORMAT " iccid=%s", event, seq,
		      iccid != NULL ? iccid : "none");
	return TRUE;
}

static gboolean
ql_smdp_notification_pir(QlSmdpServer *server, const QlTlv *top, GError **error)
{
	QlTlv pird, sig, tid, meta, result, err;
	QlSmdpSession *s;
	g_autofree gchar *tid_hex = NULL;

	if (!ql_tlv_require(top, 0xBF27, "profileInstallationResultData", &pird, error) ||
	    !ql_tlv_require(top, QL_CRYPTO_SIG_TAG, "euiccSignPIR", &sig, error) ||
	    !ql_tlv_require(&pird, 0x80, "transactionId", &tid, error) ||
	    !ql_tlv_require(&pird, 0xBF2F, "notificationMetadata", &meta, error) ||
	    !ql_tlv_require(&pird, 0xA2, "finalResult", &result, error))
		return FALSE;
	tid_hex = ql_hex_encode(tid.value, tid.len);
	s = g_hash_table_lookup(server->sessions, tid_hex);
	/* SGP.22 5.7.14 (euiccSignPIR): over the DER of profileInstallationResultData. A result
	 * delivered late (after a restart) has no session: it is checked against the eUICCs
	 * known, the PKI's own first */
	if (s != NULL && s->euicc != NULL) {
		if (!ql_crypto_ecdsa_verify_crt(s->euicc, pird.raw, pird.raw_len, sig.value,
						sig.len, error))
			return FALSE;
	} else {
		gboolean verified =
			server->pki->euicc != NULL &&
			ql_crypto_ecdsa_verify_crt(server->pki->euicc, pird.raw, pird.raw_len,
						   sig.value, sig.len, NULL);
		for (guint i = 0; !verified && i < server->known_euiccs->len; i++)
			verified = ql_crypto_ecdsa_verify_crt(
				g_ptr_array_index(server->known_euiccs, i), pird.raw, pird.raw_len,
				sig.value, sig.len, NULL);
		if (!verified) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_AUTH,
					    "no session, and no known eUICC made this signature");
			return FALSE;
		}
	}
	if (!ql_smdp_print_notification(&meta, "install", error))
		return FALSE;
	if (ql_tlv_find(&result, 0xA1, &err, NULL)) {
		gint64 cmd = -1, reason = -1;
		QlTlv t;
		if (ql_tlv_find(&err, 0x80, &t, NULL))
			ql_tlv_get_int(&t, &cmd, NULL);
		if (ql_tlv_find(&err, 0x81, &t, NULL))
			ql_tlv_get_int(&t, &reason, NULL);
		ql_smdp_print("install failed bppCommandId=%" G_GINT64_FORMAT
			      " errorReason=%" G_GINT64_FORMAT,
			      cmd, reason);
	} else if (s != NULL && s->matching_id != NULL) {
		/* installed: the next download of this order gets a new profile */
		g_hash_table_remove(server->orders, s->matching_id);
	}
	if (s != NULL)
		ql_smdp_drop_session(server, s);
	return TRUE;
}

static gboolean
ql_smdp_notification_other(QlSmdpServer *server, const QlTlv *top, GError **error)
{
	g_auto(gnutls_x509_crt_t) euicc = NULL;
	g_auto(gnutls_x509_crt_t) eum = NULL;
	QlTlv parts[4];
	guint n = 0;

	/* OtherSignedNotification { BF2F tbsOtherNotification, 5F37, euicc 30, eum 30 } */
	if (!ql_smdp_children(top, parts, G_N_ELEMENTS(parts), &n) || n != 4 ||
	    parts[0].tag != 0xBF2F || parts[1].tag != QL_CRYPTO_SIG_TAG || parts[2].tag != 0x30 ||
	    parts[3].tag != 0x30) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "not an OtherSignedNotification");
		return FALSE;
	}
	euicc = ql_pki_crt_from_bytes(parts[2].raw, parts[2].raw_len, error);
	if (euicc == NULL)
		return FALSE;
	eum = ql_pki_crt_from_bytes(parts[3].raw, parts[3].raw_len, error);
	if (eum == NULL)
		return FALSE;
	if (!ql_smdp_verify_euicc_chain(server->pki, euicc, eum, error))
		return FALSE;
	if (!ql_crypto_ecdsa_verify_crt(euicc, parts[0].raw, parts[0].raw_len, parts[1].value,
					parts[1].len, error))
		return FALSE;
	return ql_smdp_print_notification(&parts[0], NULL, error);
}

static gboolean
ql_smdp_handle_notification(QlSmdpCall *call)
{
	g_autoptr(GBytes) pn = NULL;
	g_autoptr(GError) error = NULL;
	QlTlv top;
	gboolean ok;

	pn = ql_smdp_get_tlv(call, "pendingNotification", 0, &top);
	if (pn == NULL)
		return FALSE;
	/* SGP.22 6.3: the answer is 204 whatever the notification held */
	call->http_status = 204;
	if (top.tag == 0xBF37)
		ok = ql_smdp_notification_pir(call->server, &top, &error);
	else if (top.tag == 0x30)
		ok = ql_smdp_notification_other(call->server, &top, &error);
	else
		ok = FALSE;
	if (!ok)
		ql_smdp_print("notification rejected: %s",
			      error != NULL ? error->message : "unknown notification type");
	return TRUE;
}

/* ---- cancelSession (5.6.5) ---- */

static gboolean
ql_smdp_cancel_session(QlSmdpCall *call)
{
	QlSmdpSession *s = ql_smdp_lookup(call);
	g_autoptr(GBytes) resp = NULL;
	g_autoptr(GError) error = NULL;
	QlTlv top, ok, parts[2], tid, reason;
	gint64 why = -1;
	guint n = 0;

	if (s == NULL)
		return FALSE;
	resp = ql_smdp_get_tlv(call, "cancelSessionResponse", 0xBF41, &top);
	if (resp == NULL)
		return FALSE;
	if (!ql_tlv_find(&top, 0xA0, &ok, NULL))
		return ql_smdp_fail(call, "8.1", "6.1",
				    "the eUICC answered CancelSession with an error");
	/* CancelSessionResponseOk { euiccCancelSessionSigned 30 { 80 transactionId,
	 * 81 smdpOid, 82 reason }, 5F37 } */
	if (!ql_smdp_children(&ok, parts, G_N_ELEMENTS(parts), &n) || n != 2 ||
	    parts[0].tag != 0x30 || parts[1].tag != QL_CRYPTO_SIG_TAG)
		return ql_smdp_missing(call, "cancelSessionResponseOk");
	/* the reason the eUICC signed, for the tests that check what the LPA said */
	if (ql_tlv_find(&parts[0], 0x82, &reason, NULL))
		ql_tlv_get_int(&reason, &why, NULL);
	ql_smdp_print("cancelSession reason %" G_GINT64_FORMAT, why);
	if (!ql_tlv_require(&parts[0], 0x80, "transactionId", &tid, NULL) ||
	    tid.len != sizeof(s->tid) || !ql_crypto_equal(tid.value, s->tid, sizeof(s->tid)))
		return ql_smdp_fail(call, "8.10.1", "3.9", "the signed transactionId differs");
	/* before authenticateClient the eUICC's certificate is not known yet: nothing can be
	 * verified, and nothing is lost by ending the session */
	if (s->euicc != NULL &&
	    !ql_crypto_ecdsa_verify_crt(s->euicc, parts[0].raw, parts[0].raw_len, parts[1].value,
					parts[1].len, &error))
		return ql_smdp_fail(call, "8.1", "6.1", "euiccCancelSessionSignature is invalid");
	ql_smdp_drop_session(call->server, s);
	return TRUE;
}

/* ---- dispatch ---- */

typedef gboolean (*QlSmdpFunc)(QlSmdpCall *call);

static const struct {
	gboolean es11;
	const gchar *name;
	QlSmdpFunc func;
} ql_smdp_functions[] = {
	{FALSE, "initiateAuthentication", ql_smdp_initiate_authentication},
	{FALSE, "authenticateClient", ql_smdp_authenticate_client},
	{FALSE, "getBoundProfilePackage", ql_smdp_get_bpp},
	{FALSE, "handleNotification", ql_smdp_handle_notification},
	{FALSE, "cancelSession", ql_smdp_cancel_session},
	{TRUE, "initiateAuthentication", ql_smdp_initiate_authentication},
	{TRUE, "authenticateClient", ql_smdp_authenticate_client},
};

static QlSmdpReply *
ql_smdp_reply_new(guint status, const gchar *iface, const gchar *function, const gchar *log)
{
	QlSmdpReply *r = g_new0(QlSmdpReply, 1);
	r->http_status = status;
	r->log_status = g_strdup_printf("%s %s %s", iface, function, log);
	return r;
}

/* Only printable, bounded: the path comes from the network */
static gchar *
ql_smdp_clean(const gchar *s)
{
	GString *out = g_string_new(NULL);
	for (const gchar *p = s; *p != '\0' && out->len < 64; p++)
		g_string_append_c(out, g_ascii_isgraph(*p) ? *p : '?');
	return g_string_free(out, FALSE);
}

QlSmdpReply *
ql_smdp_server_handle(QlSmdpServer *server, const gchar *method, const gchar *path,
		      const gchar *admin_protocol, const guint8 *body, gsize len)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(JsonGenerator) gen = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree gchar *function = NULL;
	QlSmdpCall call;
	QlSmdpReply *reply;
	QlSmdpFunc func = NULL;
	const gchar *iface;
	const gchar *rest;
	JsonObject *header, *status;
	JsonNode *req_node = NULL;
	gboolean ok;

	if (g_str_has_prefix(path, "/gsma/rsp2/es9plus/")) {
		iface = "es9+";
		rest = path + strlen("/gsma/rsp2/es9plus/");
	} else if (g_str_has_prefix(path, "/gsma/rsp2/es11/")) {
		iface = "es11";
		rest = path + strlen("/gsma/rsp2/es11/");
	} else {
		g_autofree gchar *p = ql_smdp_clean(path);
		reply = ql_smdp_reply_new(404, "http", p, "404");
		ql_smdp_print("%s", reply->log_status);
		return reply;
	}
	function = ql_smdp_clean(rest);
	for (guint i = 0; i < G_N_ELEMENTS(ql_smdp_functions); i++) {
		if (ql_smdp_functions[i].es11 == g_str_equal(iface, "es11") &&
		    g_strcmp0(ql_smdp_functions[i].name, rest) == 0)
			func = ql_smdp_functions[i].func;
	}
	if (func == NULL)
		reply = ql_smdp_reply_new(404, iface, function, "404");
	else if (g_strcmp0(method, "POST") != 0)
		reply = ql_smdp_reply_new(405, iface, function, "405");
	else if (admin_protocol == NULL || !g_str_has_prefix(admin_protocol, "gsma/rsp/v2."))
		/* SGP.22 6.5.1: a protocol version the server does not speak */
		reply = ql_smdp_reply_new(400, iface, function, "400");
	else if (ql_smdp_server_fault(server, "http-500", function))
		reply = ql_smdp_reply_new(500, iface, function, "500");
	else if (!json_parser_load_from_data(parser, (const gchar *)body, (gssize)len, NULL) ||
		 (req_node = json_parser_get_root(parser)) == NULL ||
		 JSON_NODE_TYPE(req_node) != JSON_NODE_OBJECT)
		reply = ql_smdp_reply_new(400, iface, function, "400");
	else
		reply = NULL;
	if (reply != NULL) {
		ql_smdp_print("%s", reply->log_status);
		return reply;
	}

	memset(&call, 0, sizeof(call));
	call.server = server;
	call.function = function;
	call.es11 = g_str_equal(iface, "es11");
	call.req = json_node_get_object(req_node);
	call.out = json_object_new();
	call.http_status = 200;
	g_mutex_lock(&server->lock);
	ok = func(&call);
	g_mutex_unlock(&server->lock);
	if (ql_smdp_server_fault(server, "status-text", function)) {
		/* what a terminal would act on, where a client might print it */
		ok = FALSE;
		call.subject = "8.2.6\x1b]0;pwned\x07";
		call.reason = "3.8\r\nFAKE: ok";
		g_free(call.message);
		call.message = g_strdup("\x1b[2J\x1b[Hall is well\r\n");
	}

	/* SGP.22 6.5.1.4: header.functionExecutionStatus first, then the function's fields */
	status = json_object_new();
	json_object_set_string_member(status, "status", ok ? "Executed-Success" : "Failed");
	if (!ok) {
		JsonObject *scd = json_object_new();
		json_object_set_string_member(scd, "subjectCode", call.subject);
		json_object_set_string_member(scd, "reasonCode", call.reason);
		json_object_set_string_member(scd, "message", call.message);
		json_object_set_object_member(status, "statusCodeData", scd);
	}
	header = json_object_new();
	json_object_set_object_member(header, "functionExecutionStatus", status);
	if (ok && call.http_status == 204) {
		reply = ql_smdp_reply_new(204, iface, function, "204");
		json_object_unref(header);
	} else {
		JsonObject *top = json_object_new();
		GList *members = ok ? json_object_get_members(call.out) : NULL;
		json_object_set_object_member(top, "header", header);
		for (GList *l = members; l != NULL; l = l->next) {
			json_object_set_member(
				top, l->data,
				json_node_copy(json_object_get_member(call.out, l->data)));
		}
		g_list_free(members);
		root = json_node_init_object(json_node_alloc(), top);
		json_object_unref(top);
		gen = json_generator_new();
		json_generator_set_root(gen, root);
		reply = g_new0(QlSmdpReply, 1);
		reply->http_status = 200;
		reply->body = json_generator_to_data(gen, &reply->body_len);
		if (ok) {
			reply->log_status =
				g_strdup_printf("%s %s Executed-Success", iface, function);
		} else {
			reply->log_status = g_strdup_printf("%s %s Failed %s/%s", iface, function,
							    call.subject, call.reason);
		}
	}
	json_object_unref(call.out);
	g_free(call.message);

	if (ql_smdp_server_fault(server, "garbage", function)) {
		g_free(reply->body);
		reply->http_status = 200;
		reply->body = g_strdup("<html>\x1b[2Jnot JSON\r\n</html>");
		reply->body_len = strlen(reply->body);
		g_free(reply->log_status);
		reply->log_status = g_strdup_printf("%s %s garbage", iface, function);
	}
	if (ql_smdp_server_fault(server, "slow", function))
		reply->delay_s = 30;
	if (ql_smdp_server_fault(server, "reset", function))
		reply->reset = TRUE;
	if (ql_smdp_server_fault(server, "trickle", function))
		reply->trickle = TRUE;
	if (ql_smdp_server_fault(server, "huge", function))
		reply->huge = TRUE;
	ql_smdp_print("%s", reply->log_status);
	return reply;
}
