/*
 * Typed ES10 commands (SGP.22 5.7): each builds its request with the TLV codec, sends it as
 * STORE DATA on the ISD-R channel, and decodes the answer strictly (unknown fields skipped).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

#include "ql-device.h"

G_BEGIN_DECLS

typedef struct {
	gchar *svn;			 /* lowest SGP.22 version supported, "2.2.0" */
	GPtrArray *ci_pkid_verification; /* GBytes: CI subject key ids */
	GPtrArray *ci_pkid_signing;
	GBytes *raw; /* the whole BF20 TLV, sent to the SM-DP+ as euiccInfo1 */
} QlEuiccInfo1;

typedef struct {
	gchar *profile_version;
	gchar *svn;
	gchar *firmware_version;
	gint64 installed_apps; /* -1 when absent */
	gint64 free_nvm;
	gint64 free_ram;
	GBytes *uicc_capability; /* BIT STRING value, first byte = unused bits */
	GBytes *rsp_capability;
	GPtrArray *ci_pkid_verification;
	GPtrArray *ci_pkid_signing;
	gint64 category; /* -1 when absent */
	gchar *pp_version;
	gchar *sas_accreditation;
	GBytes *raw;
} QlEuiccInfo2;

typedef enum {
	QL_PROFILE_STATE_DISABLED = 0,
	QL_PROFILE_STATE_ENABLED = 1,
} QlProfileState;

typedef enum {
	QL_PROFILE_CLASS_UNKNOWN = -1,
	QL_PROFILE_CLASS_TEST = 0,
	QL_PROFILE_CLASS_PROVISIONING = 1,
	QL_PROFILE_CLASS_OPERATIONAL = 2,
} QlProfileClass;

typedef struct {
	gchar *iccid;
	gchar *isdp_aid; /* hex */
	gint state;	 /* QlProfileState, -1 when absent */
	gchar *nickname;
	gchar *service_provider;
	gchar *name;
	gint icon_type; /* 0 JPG, 1 PNG, -1 none */
	GBytes *icon;
	gint profile_class;  /* QlProfileClass */
	gchar *owner_mccmnc; /* from profileOwner, may be NULL */
} QlProfileInfo;

/* One of these, or all NULL / -1 for every profile. */
typedef struct {
	const gchar *iccid;
	const gchar *isdp_aid; /* hex */
	gint profile_class;    /* -1: any */
} QlProfileFilter;

/* NotificationEvent bits as they appear in the first byte of the BIT STRING */
typedef enum {
	QL_NOTIFICATION_INSTALL = 0x80,
	QL_NOTIFICATION_ENABLE = 0x40,
	QL_NOTIFICATION_DISABLE = 0x20,
	QL_NOTIFICATION_DELETE = 0x10,
} QlNotificationEvent;

typedef struct {
	gint64 seq;
	guint operation; /* QlNotificationEvent */
	gchar *address;
	gchar *iccid; /* may be NULL */
	GBytes *raw;  /* RetrieveNotificationsList only: the whole PendingNotification TLV */
} QlNotification;

typedef struct {
	GBytes *ppr_ids;	      /* BIT STRING value */
	GPtrArray *allowed_operators; /* gchar *: "MCCMNC" hex of the PLMN, or "*" */
	guint flags;
} QlRatRule;

/* EuiccMemoryReset resetOptions (first byte of the BIT STRING) */
typedef enum {
	QL_RESET_DELETE_OPERATIONAL = 0x80,
	QL_RESET_DELETE_TEST = 0x40,
	QL_RESET_DEFAULT_SMDP = 0x20,
} QlResetOptions;

void ql_euicc_info1_free(QlEuiccInfo1 *info);
void ql_euicc_info2_free(QlEuiccInfo2 *info);
void ql_profile_info_free(QlProfileInfo *info);
void ql_notification_free(QlNotification *n);
void ql_rat_rule_free(QlRatRule *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlEuiccInfo1, ql_euicc_info1_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlEuiccInfo2, ql_euicc_info2_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlProfileInfo, ql_profile_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlNotification, ql_notification_free)

const gchar *ql_profile_state_to_string(gint state);
const gchar *ql_profile_class_to_string(gint profile_class);
const gchar *ql_notification_event_to_string(guint operation);
/* A CI key id's known name ("GSM Association - RSP2 Root CI1"), or NULL */
const gchar *ql_ci_key_id_name(GBytes *key_id);

/* Sends an ES10 request and returns its answer, checked to be one well-formed TLV with @tag. */
GBytes *ql_es10_transceive(QlChannel *ch, GBytes *request, guint32 tag, GError **error);

QlEuiccInfo1 *ql_es10_get_euicc_info1(QlChannel *ch, GError **error);
QlEuiccInfo2 *ql_es10_get_euicc_info2(QlChannel *ch, GError **error);
gchar *ql_es10_get_eid(QlChannel *ch, GError **error);
GBytes *ql_es10_get_euicc_challenge(QlChannel *ch, GError **error);
/* GPtrArray of QlProfileInfo */
GPtrArray *ql_es10_get_profiles(QlChannel *ch, const QlProfileFilter *filter, GError **error);
/* @id: an ICCID (digits) or an ISD-P AID (32 hex digits). After the eUICC took the switch the
 * device's plugin is told (ql_device_profile_switched), so that the modem reads the card again;
 * the same after a memory reset that deleted profiles. Once the plugin has reset the card,
 * @ch may be closed already: close it, send nothing more on it. */
gboolean ql_es10_enable_profile(QlChannel *ch, const gchar *id, gboolean refresh, GError **error);
gboolean ql_es10_disable_profile(QlChannel *ch, const gchar *id, gboolean refresh, GError **error);
gboolean ql_es10_delete_profile(QlChannel *ch, const gchar *id, GError **error);
gboolean ql_es10_set_nickname(QlChannel *ch, const gchar *iccid, const gchar *nickname,
			      GError **error);
/* GPtrArray of QlNotification (metadata only) */
GPtrArray *ql_es10_list_notifications(QlChannel *ch, GError **error);
/* @seq < 0: all. GPtrArray of QlNotification with raw set. */
GPtrArray *ql_es10_retrieve_notifications(QlChannel *ch, gint64 seq, GError **error);
gboolean ql_es10_remove_notification(QlChannel *ch, gint64 seq, GError **error);
gboolean ql_es10_get_configured_addresses(QlChannel *ch, gchar **default_dp, gchar **root_ds,
					  GError **error);
gboolean ql_es10_set_default_dp_address(QlChannel *ch, const gchar *address, GError **error);
gboolean ql_es10_memory_reset(QlChannel *ch, guint options, GError **error);
GPtrArray *ql_es10_get_rat(QlChannel *ch, GError **error);

G_END_DECLS
