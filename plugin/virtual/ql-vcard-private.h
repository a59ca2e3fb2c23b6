/*
 * Internals of the virtual eUICC shared by its source files (not installed, not used elsewhere).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ql-crypto.h"
#include "ql-pki.h"
#include "ql-tlv.h"
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

/* Where a download session stands (SGP.22 3.1.3): it lives in memory only, as on a card,
 * so a new process (a reset) has none. */
typedef enum {
	QL_VCARD_SESSION_NONE,
	QL_VCARD_SESSION_AUTHENTICATED, /* AuthenticateServer accepted the SM-DP+ */
	QL_VCARD_SESSION_PREPARED,	/* PrepareDownload made the one-time key */
	QL_VCARD_SESSION_LOADING,	/* the Bound Profile Package is arriving */
} QlVcardSessionState;

/* The next piece of the Bound Profile Package the card expects (SGP.22 2.5.5) */
typedef enum {
	QL_VCARD_BPP_A0,       /* firstSequenceOf87 (ConfigureISDP), whole */
	QL_VCARD_BPP_A1,       /* the sequenceOf88 header */
	QL_VCARD_BPP_IN_A1,    /* 88 segments (StoreMetadata) */
	QL_VCARD_BPP_A2_OR_A3, /* secondSequenceOf87 (ReplaceSessionKeys), or the sequenceOf86
				  header */
	QL_VCARD_BPP_IN_A3,    /* 86 segments (profile elements) */
} QlVcardBppStage;

typedef struct {
	QlVcardSessionState state;
	GBytes *transaction_id;
	gchar *server_address;
	gchar *matching_id;	/* NULL when ctxParams1 had none */
	gchar *smdp_oid;	/* dotted, from CERT.DPauth */
	gnutls_x509_crt_t ci;	/* the CI named by euiccCiPKIdToBeUsed (a copy) */
	gnutls_x509_crt_t dppb; /* CERT.DPpb, after PrepareDownload */
	GBytes *euicc_sig1_tlv; /* the 5F37 euiccSignature1 this card gave */
	QlEcKeyPair otk;	/* otPK/otSK.EUICC.ECKA */
	gboolean have_otk;
	/* the load */
	QlVcardBppStage stage;
	gsize bpp_left; /* bytes of the BF36 value still to come */
	gsize seq_left; /* bytes of the current A1 / A3 value still to come */
	gboolean seen_a2;
	QlBsp *bsp;
	GByteArray *metadata;	 /* StoreMetadataRequest, joined from the 88 segments */
	GByteArray *profile;	 /* profile elements, joined from the 86 segments (wiped) */
	QlVcardProfile *pending; /* the profile as StoreMetadata describes it, not installed yet */
} QlVcardSession;

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
	gboolean chunk_set;  /* pieces of an extended-length answer are @chunk too */
	gboolean extended;   /* takes extended-length APDUs (ISO/IEC 7816-4 5.1) */
	guint apdu_delay_ms; /* latency model: each APDU is answered this long after it came */
	QlVcardFault fault;
	guint fault_skip;
	gboolean quirk_6c;
	QlVcardSession session;
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
/* Encoders shared with the download functions */
void ql_vcard_put_bits(QlTlvBuilder *b, guint32 tag, guint32 mask);
gboolean ql_vcard_get_bits(const QlTlv *tlv, guint32 *mask, GError **error);
void ql_vcard_put_iccid(QlTlvBuilder *b, const gchar *iccid);
void ql_vcard_put_metadata(QlTlvBuilder *b, QlVcardNotification *n);
QlVcardProfile *ql_vcard_find_iccid(QlVcard *card, const gchar *iccid);
gboolean ql_vcard_put_euicc_info2(QlVcard *card, QlTlvBuilder *b, GError **error);

/* ql-vcard.c */
GBytes *ql_vcard_next_isdp_aid(QlVcard *card);

/* ql-vcard-download.c: ES10b AuthenticateServer, PrepareDownload, CancelSession (SGP.22
 * 5.7.13, 5.7.14), LoadBoundProfilePackage (2.5.5) */
gboolean ql_vcard_dl_authenticate(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error);
gboolean ql_vcard_dl_prepare(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error);
gboolean ql_vcard_dl_cancel(QlVcard *card, const QlTlv *req, QlTlvBuilder *b, GError **error);
/* TRUE when @cmd starts like a piece of a Bound Profile Package (BF36, A0-A3, 86, 88) */
gboolean ql_vcard_dl_is_bpp(const guint8 *cmd, gsize len);
/* One piece of the BPP: an empty answer in between, BF37 at the end or on failure */
GBytes *ql_vcard_dl_bpp(QlVcard *card, const guint8 *cmd, gsize len, guint16 *sw, GError **error);
/* Forgets the download session (and wipes its keys) */
void ql_vcard_session_clear(QlVcardSession *s);

G_END_DECLS
