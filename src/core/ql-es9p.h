/*
 * ES9+ (LPA <-> SM-DP+) and ES11 (LPA <-> SM-DS) over HTTPS + JSON (SGP.22 6.5, 6.6): request
 * bodies built and answers checked strictly (strict base64, hex transaction ids that must match
 * the session's, SM-DP+ status codes turned into words).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib-object.h>
#include <json-glib/json-glib.h>

#include "ql-http.h"

G_BEGIN_DECLS

#define QL_ES9P_ADMIN_PROTOCOL "gsma/rsp/v2.2.0"

typedef struct {
	gchar *transaction_id; /* hex, upper case */
	GBytes *server_signed1;
	GBytes *server_signature1;
	GBytes *ci_pkid_to_be_used;
	GBytes *server_certificate;
} QlInitAuth;

typedef struct {
	gchar *transaction_id;
	GBytes *profile_metadata; /* BF25 */
	GBytes *smdp_signed2;
	GBytes *smdp_signature2;
	GBytes *smdp_certificate;
	gboolean cc_required; /* from smdpSigned2's ccRequiredFlag */
} QlAuthClient;

typedef struct {
	gchar *event_id;
	gchar *rsp_server_address;
} QlEvent;

void ql_init_auth_free(QlInitAuth *r);
void ql_auth_client_free(QlAuthClient *r);
void ql_event_free(QlEvent *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlInitAuth, ql_init_auth_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlAuthClient, ql_auth_client_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlEvent, ql_event_free)

/* Strict base64 (RFC 4648 alphabet, '=' padding only at the end). */
GBytes *ql_es9p_base64_decode(const gchar *text, GError **error);
/* "subject 8.2.6, reason 3.8" -> "the matching id was refused" */
gchar *ql_es9p_status_words(const gchar *subject, const gchar *reason);

#define QL_TYPE_ES9P (ql_es9p_get_type())
G_DECLARE_FINAL_TYPE(QlEs9p, ql_es9p, QL, ES9P, GObject)

/* @address: host[:port] of the SM-DP+ (or SM-DS); @http is referenced. */
QlEs9p *ql_es9p_new(QlHttp *http, const gchar *address);

/* One call: POST {json} to /gsma/rsp2/@interface/@function. Returns the answer's JSON object
 * (NULL with no error for a 204). A "Failed" status is a QL_ERROR_SMDP error. */
JsonObject *ql_es9p_call(QlEs9p *self, const gchar *interface, const gchar *function,
			 JsonNode *body, GError **error);

/* @es11: TRUE to talk to an SM-DS */
QlInitAuth *ql_es9p_initiate_authentication(QlEs9p *self, gboolean es11, GBytes *challenge,
					    GBytes *euicc_info1, GError **error);
QlAuthClient *ql_es9p_authenticate_client(QlEs9p *self, const gchar *transaction_id,
					  GBytes *authenticate_server_response, GError **error);
/* ES11 authenticateClient: the events (QlEvent) waiting for this eUICC */
GPtrArray *ql_es9p_authenticate_client_es11(QlEs9p *self, const gchar *transaction_id,
					    GBytes *authenticate_server_response, GError **error);
GBytes *ql_es9p_get_bound_profile_package(QlEs9p *self, const gchar *transaction_id,
					  GBytes *prepare_download_response, GError **error);
gboolean ql_es9p_handle_notification(QlEs9p *self, GBytes *pending_notification, GError **error);
gboolean ql_es9p_cancel_session(QlEs9p *self, const gchar *transaction_id,
				GBytes *cancel_session_response, GError **error);

G_END_DECLS
