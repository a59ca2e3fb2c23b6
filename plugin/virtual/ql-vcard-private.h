/*
 * Internals of the virtual eUICC shared by its source files (not installed, not used elsewhere).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ql-pki.h"
#include "ql-vcard.h"

G_BEGIN_DECLS

/* NotificationEvent bits, SGP.22 2.4 / 5.7.9 (bit numbers of the BIT STRING) */
typedef enum {
	QL_VCARD_EVENT_INSTALL = 0,
	QL_VCARD_EVENT_ENABLE = 1,
	QL_VCARD_EVENT_DISABLE = 2,
	QL_VCARD_EVENT_DELETE = 3,
} QlVcardEvent;

#define QL_VCARD_EVENT_MASK(ev) (1u << (ev))

/* ProfileClass, SGP.22 2.4 */
enum {
	QL_VCARD_CLASS_TEST = 0,
	QL_VCARD_CLASS_PROVISIONING = 1,
	QL_VCARD_CLASS_OPERATIONAL = 2,
};

typedef struct {
	guint events; /* QL_VCARD_EVENT_MASK bits */
	gchar *address;
} QlVcardNotifConfig;

typedef struct {
	gchar *iccid; /* digits */
	GBytes *isdp_aid;
	gboolean enabled;
	gchar *nickname; /* NULL when unset */
	gchar *name;
	gchar *spn;
	gint profile_class;
	gint icon_type; /* -1: no icon, 0 jpg, 1 png */
	GBytes *icon;
	GBytes *owner_mccmnc;	 /* 3 bytes or NULL */
	GPtrArray *notif_config; /* of QlVcardNotifConfig */
} QlVcardProfile;

typedef struct {
	guint seq;
	QlVcardEvent event;
	gchar *address;
	gchar *iccid;
	GBytes *pir; /* a stored ProfileInstallationResult (BF37) for install events, else NULL */
} QlVcardNotification;

typedef struct {
	gboolean open;
	gboolean isdr_selected;
	GByteArray *store;  /* STORE DATA blocks received so far */
	guint next_block;   /* the P2 the next STORE DATA block must carry */
	QlVcardFault fault; /* test fault armed for the command being received */
	GBytes *pending;    /* answer not fetched yet (GET RESPONSE) */
	gsize pending_off;
} QlVcardChannel;

struct _QlVcard {
	gchar *state_path;
	gchar *identity_dir; /* NULL when the identity is embedded in the state */
	gchar *eid;
	GPtrArray *profiles;	  /* of QlVcardProfile */
	GPtrArray *notifications; /* of QlVcardNotification */
	guint next_seq;
	guint next_isdp;
	guint seeded;
	gchar *default_dp; /* NULL when unset */
	gchar *root_ds;

	/* identity */
	QlPkiCert euicc;				     /* certificate and key */
	QlPkiCert eum;					     /* certificate only needed */
	GPtrArray *trusted_ci;				     /* of gnutls_x509_crt_t */
	gchar *ci_pem, *eum_pem, *euicc_pem, *euicc_key_pem; /* when embedded */

	/* session (not persisted) */
	QlVcardChannel channels[QL_VCARD_MAX_CHANNELS + 1]; /* [0] is the basic channel */
	guint8 challenge[16];
	gboolean have_challenge;
	guint chunk;
	QlVcardFault fault;
	guint fault_skip;
	gboolean quirk_6c;
};

void ql_vcard_profile_free(QlVcardProfile *p);
void ql_vcard_notification_free(QlVcardNotification *n);
void ql_vcard_notif_config_free(QlVcardNotifConfig *c);

/* ql-vcard-state.c */
gboolean ql_vcard_state_load(QlVcard *card, GError **error);
gboolean ql_vcard_state_save(QlVcard *card, GError **error);
gboolean ql_vcard_identity_create(QlVcard *card, GError **error);
gboolean ql_vcard_identity_load_dir(QlVcard *card, const gchar *dir, GError **error);
gboolean ql_vcard_identity_load_pems(QlVcard *card, GError **error);
gchar *ql_vcard_make_eid(void);
gboolean ql_vcard_eid_is_valid(const gchar *eid);
gchar *ql_vcard_make_iccid(const gchar *eid, guint index);
gboolean ql_vcard_sign(QlVcard *card, const guint8 *data, gsize len, guint8 sig[64],
		       GError **error);

/* ql-vcard-es10.c: handles one whole ES10 command; *sw gets the status word for the answer. */
GBytes *ql_vcard_es10_dispatch(QlVcard *card, const guint8 *cmd, gsize len, guint16 *sw,
			       GError **error);
/* Queues the notifications @p's configuration asks for on @event. */
void ql_vcard_queue_notification(QlVcard *card, QlVcardProfile *p, QlVcardEvent event);

G_END_DECLS
