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
/* The same; when the eUICC refuses the server, *@refusal gets its whole BF38 answer
 * (authenticateResponseError, naming the transaction): SGP.22 3.1.2 has the LPA pass it to the
 * SM-DP+ in authenticateClient, which ends the session there. */
GBytes *ql_es10b_authenticate_server_full(QlChannel *ch, GBytes *server_signed1,
					  GBytes *server_signature1, GBytes *ci_pkid_to_be_used,
					  GBytes *server_certificate, const gchar *matching_id,
					  const QlDeviceInfo *device, GBytes **refusal,
					  GError **error);

/* PrepareDownload; @hash_cc (32 bytes) or NULL. Returns the whole BF21 answer. */
GBytes *ql_es10b_prepare_download(QlChannel *ch, GBytes *smdp_signed2, GBytes *smdp_signature2,
				  GBytes *hash_cc, GBytes *smdp_certificate, GError **error);

/* Splits a BF36 Bound Profile Package into the commands SGP.22 2.5.5 names (GBytes each). */
/* The ES10b commands a Bound Profile Package is loaded with (SGP.22 2.5.5), all checked before
 * any is returned. */
GPtrArray *ql_es10b_bpp_segments(GBytes *bpp, GError **error);

/* The same split, on a package that arrives in pieces: each command is handed to @emit as soon
 * as it is whole, in order; memory is bounded by the largest part, not the package. */
typedef gboolean (*QlBppSegmentFunc)(GBytes *segment, gpointer user_data, GError **error);
typedef struct _QlBppSplitter QlBppSplitter;
QlBppSplitter *ql_bpp_splitter_new(QlBppSegmentFunc emit, gpointer user_data);
void ql_bpp_splitter_free(QlBppSplitter *s);
gboolean ql_bpp_splitter_feed(QlBppSplitter *s, const guint8 *data, gsize len, GError **error);
/* FALSE when the package is cut short or lacks a mandatory part */
gboolean ql_bpp_splitter_finish(QlBppSplitter *s, GError **error);
guint ql_bpp_splitter_get_segments(QlBppSplitter *s);
gsize ql_bpp_splitter_get_total(QlBppSplitter *s);    /* from the BF36 header, 0 before */
gsize ql_bpp_splitter_get_consumed(QlBppSplitter *s); /* bytes split so far */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlBppSplitter, ql_bpp_splitter_free)

/* LoadBoundProfilePackage: sends the segments, stops at the first BF37 the card gives, and
 * decodes it. @progress (may be NULL) is called after each segment; when it returns FALSE the
 * load stops there with QL_ERROR_CANCELLED (the caller then cancels the session). */
typedef gboolean (*QlBppProgress)(guint done, guint total, gpointer user_data);
QlInstallResult *ql_es10b_load_bpp(QlChannel *ch, GBytes *bpp, QlBppProgress progress,
				   gpointer user_data, GError **error);

QlInstallResult *ql_es10b_parse_install_result(GBytes *bf37, GError **error);

/* LoadBoundProfilePackage while the package arrives: each command goes to the eUICC once the
 * next one is whole, and the last only at ql_bpp_loader_finish, when the caller has the whole
 * answer that carried the package; so a package cut short or an answer found bad at its end
 * never completes an installation (the caller cancels the session). Stops sending when the
 * eUICC answers early (its refusal is then the result). */
typedef struct _QlBppLoader QlBppLoader;
QlBppLoader *ql_bpp_loader_new(QlChannel *ch, QlBppProgress progress, gpointer user_data);
void ql_bpp_loader_free(QlBppLoader *l);
gboolean ql_bpp_loader_feed(QlBppLoader *l, const guint8 *data, gsize len, GError **error);
QlInstallResult *ql_bpp_loader_finish(QlBppLoader *l, GError **error);
/* whether the error was the eUICC's (or its transport's), not the package's */
gboolean ql_bpp_loader_card_failed(QlBppLoader *l);
guint ql_bpp_loader_get_sent(QlBppLoader *l);
guint ql_bpp_loader_get_segments(QlBppLoader *l);
gsize ql_bpp_loader_get_total(QlBppLoader *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlBppLoader, ql_bpp_loader_free)

/* CancelSession; returns the whole BF41 answer (sent to the SM-DP+'s cancelSession). */
GBytes *ql_es10b_cancel_session(QlChannel *ch, GBytes *transaction_id, QlCancelReason reason,
				GError **error);

G_END_DECLS
