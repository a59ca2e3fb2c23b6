/*
 * The main job: download a profile into the eUICC (SGP.22 3.1.3), from the activation code to
 * the delivered notification, over one TLS connection, with everything released and the session
 * cancelled on both sides when a step fails.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ql-activation.h"
#include "ql-device.h"
#include "ql-es10b.h"
#include "ql-es9p.h"
#include "ql-tls.h"

G_BEGIN_DECLS

typedef enum {
	QL_DOWNLOAD_STEP_EUICC_INFO,
	QL_DOWNLOAD_STEP_INITIATE_AUTH,
	QL_DOWNLOAD_STEP_AUTHENTICATE_SERVER,
	QL_DOWNLOAD_STEP_AUTHENTICATE_CLIENT,
	QL_DOWNLOAD_STEP_PREPARE_DOWNLOAD,
	QL_DOWNLOAD_STEP_GET_BPP,
	QL_DOWNLOAD_STEP_LOAD_BPP,
	QL_DOWNLOAD_STEP_NOTIFICATION,
	QL_DOWNLOAD_STEP_DONE,
} QlDownloadStep;

const gchar *ql_download_step_to_string(QlDownloadStep step);

/* The whole of one download (or discovery), from the first eUICC read to the notification,
 * unless the options say otherwise */
#define QL_DOWNLOAD_DEFAULT_TIMEOUT_MS (300 * 1000)

/* Asks the user for the confirmation code (no echo); returns NULL to refuse. */
typedef gchar *(*QlConfirmationFunc)(gpointer user_data);
typedef void (*QlProgressFunc)(QlDownloadStep step, guint percent, gpointer user_data);

typedef struct {
	QlTlsPolicy policy;
	GPtrArray *trust_anchor_files; /* gchar *: PEM files the admin trusts (always used) */
	const gchar *ci_dir;	       /* the shipped GSMA CIs; NULL = the default data dir */
	gboolean use_system_store;
	gboolean tls_anchors_euicc_listed; /* TLS chains only to CIs the eUICC lists */
	const gchar *crl_dir;
	gboolean crl_required;	  /* every issuer needs a current CRL in crl_dir */
	GPtrArray *pins;	  /* gchar *: "host=sha256//..." */
	const gchar *client_cert; /* mTLS */
	const gchar *client_key;
	guint timeout_ms; /* the connect, the whole handshake, each whole request and answer;
			   * 0 = default (QL_TLS_DEFAULT_TIMEOUT_MS) */
	guint download_timeout_ms;	/* the whole download; 0 = QL_DOWNLOAD_DEFAULT_TIMEOUT_MS */
	const gchar *confirmation_code; /* secret */
	QlConfirmationFunc ask_confirmation_code;
	QlProgressFunc progress;
	gpointer user_data;
	const gchar *nickname; /* set on the new profile after the install */
	const gchar *proxy;    /* NULL: environment */
	gint64 now;	       /* for tests: trust clock; 0 = real */
	/* checked between steps and between profile segments, and wakes every network wait:
	 * a cancelled download ends with QL_ERROR_CANCELLED, its session cancelled on both
	 * sides as after any failure */
	GCancellable *cancellable;
} QlDownloadOptions;

typedef struct {
	gchar *iccid;
	gchar *profile_name;
	gchar *service_provider;
	gchar *isdp_aid;
	gchar *smdp_address;
	gchar *tls_version;
	gchar *cipher_suite;
	gchar *tls_policy;
	/* what the checks did, recorded while they ran (see QlTrustResult) */
	QlTrustResult *tls_trust;    /* the TLS server chain of the last handshake */
	QlTrustResult *dpauth_trust; /* CERT.DPauth.ECDSA */
	QlTrustResult *dppb_trust;   /* CERT.DPpb.ECDSA */
	gboolean client_cert_configured;
	gboolean client_cert_requested; /* the server asked for one */
	gboolean client_cert_sent;
	gchar *client_cert_subject;
	gboolean confirmation_code_used;
	gboolean notification_delivered;
	gchar *notification_error;
	gint64 notification_seq;
	guint64 apdus;
	guint64 bytes_to_euicc;
	guint64 bytes_from_euicc;
	guint tls_handshakes;
	guint http_requests;
	guint bpp_segments;
	guint64 bpp_bytes;
	/* for the benchmarks: the fewest APDUs the same ES10 commands could take with the STORE
	 * DATA block in use (see QlChannelStats), that block, and the download's wall time from
	 * the first eUICC read to the end */
	guint64 apdus_minimum;
	guint store_data_block;
	gboolean extended_length;
	guint64 elapsed_ms;
	/* APDUs sent while the connection was set up, and while the notification went out */
	guint64 apdus_beside_connect;
	guint64 apdus_beside_notification;
} QlDownloadReport;

void ql_download_report_free(QlDownloadReport *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlDownloadReport, ql_download_report_free)

/* Adds the report's fields (the CLI's --json, the service's Finished report) as members of the
 * JSON object open in @b. */
void ql_download_report_to_json(const QlDownloadReport *r, JsonBuilder *b);
/* The report that JSON describes (members absent where the JSON had null, as a D-Bus a{sv} has
 * them): ql_download_report_to_json() of the result gives the same JSON back. */
QlDownloadReport *ql_download_report_from_json(JsonObject *o);

/* The trust configuration the options describe (anchors, pins, CRLs), not yet narrowed to the
 * eUICC's CI key ids. */
QlTrust *ql_download_make_trust(const QlDownloadOptions *opts, GError **error);

QlDownloadReport *ql_download_profile(QlChannel *ch, const QlActivationCode *ac,
				      const QlDownloadOptions *opts, GError **error);

/* ES11 with an SM-DS: the events (QlEvent) waiting for this eUICC. */
GPtrArray *ql_download_discover(QlChannel *ch, const gchar *smds_address,
				const QlDownloadOptions *opts, GError **error);

/* Delivers pending notifications (all, or @seq) to their SM-DP+ and removes each delivered one
 * from the eUICC; a failed delivery leaves it there. Returns how many were delivered, or -1. */
gint ql_download_process_notifications(QlChannel *ch, gint64 seq, const QlDownloadOptions *opts,
				       GPtrArray *failures, GError **error);

/* The directory of the shipped data (CI roots, carriers.conf): the source tree when this program
 * runs from the build tree, else the installed one. */
gchar *ql_data_dir(void);

G_END_DECLS
