/*
 * ES10b: the eUICC's side of a profile download (SGP.22 5.7.13 - 5.7.14, 2.5.5).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

#include "ql-device.h"

G_BEGIN_DECLS

typedef enum {
	QL_CANCEL_END_USER_REJECTION = 0,
	QL_CANCEL_POSTPONED = 1,
	QL_CANCEL_TIMEOUT = 2,
	QL_CANCEL_PPR_NOT_ALLOWED = 3,
	QL_CANCEL_METADATA_MISMATCH = 4,
	QL_CANCEL_LOAD_BPP_EXECUTION_ERROR = 5,
	QL_CANCEL_UNDEFINED = 127,
} QlCancelReason;

typedef struct {
	gchar *tac;  /* 8 digits */
	gchar *imei; /* may be NULL */
} QlDeviceInfo;

typedef struct {
	gboolean success;
	gchar *iccid;	 /* from the notification metadata, may be NULL */
	gchar *isdp_aid; /* on success */
	gint64 seq;	 /* the install notification's sequence number */
	gchar *notification_address;
	gint bpp_command_id; /* on failure */
	gint error_reason;   /* on failure */
	GBytes *raw;	     /* the signed BF37, the notification for the SM-DP+ */
} QlInstallResult;

void ql_install_result_free(QlInstallResult *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlInstallResult, ql_install_result_free)

const gchar *ql_install_error_reason_to_string(gint reason);
const gchar *ql_bpp_command_to_string(gint id);
const gchar *ql_cancel_reason_to_string(QlCancelReason reason);

/* AuthenticateServer: the four TLVs as received from the SM-DP+ (each a whole TLV). Returns the
 * whole BF38 answer when the eUICC accepted the server, else an error in words. */
GBytes *ql_es10b_authenticate_server(QlChannel *ch, GBytes *server_signed1,
				     GBytes *server_signature1, GBytes *ci_pkid_to_be_used,
				     GBytes *server_certificate, const gchar *matching_id,
				     const QlDeviceInfo *device, GError **error);

/* PrepareDownload; @hash_cc (32 bytes) or NULL. Returns the whole BF21 answer. */
GBytes *ql_es10b_prepare_download(QlChannel *ch, GBytes *smdp_signed2, GBytes *smdp_signature2,
				  GBytes *hash_cc, GBytes *smdp_certificate, GError **error);

/* Splits a BF36 Bound Profile Package into the commands SGP.22 2.5.5 names (GBytes each). */
GPtrArray *ql_es10b_bpp_segments(GBytes *bpp, GError **error);

/* LoadBoundProfilePackage: sends the segments, stops at the first BF37 the card gives, and
 * decodes it. @progress (may be NULL) is called after each segment; when it returns FALSE the
 * load stops there with QL_ERROR_CANCELLED (the caller then cancels the session). */
typedef gboolean (*QlBppProgress)(guint done, guint total, gpointer user_data);
QlInstallResult *ql_es10b_load_bpp(QlChannel *ch, GBytes *bpp, QlBppProgress progress,
				   gpointer user_data, GError **error);

QlInstallResult *ql_es10b_parse_install_result(GBytes *bf37, GError **error);

/* CancelSession; returns the whole BF41 answer (sent to the SM-DP+'s cancelSession). */
GBytes *ql_es10b_cancel_session(QlChannel *ch, GBytes *transaction_id, QlCancelReason reason,
				GError **error);

G_END_DECLS
