/*
 * NetworkManager connections for eSIM profiles, shared by the window (quantra-esim) and the
 * command line: the APN for an operator from mobile-broadband-provider-info, and a gsm
 * connection bound to a profile's ICCID (gsm.sim-id) created or updated through libnm, then
 * activated.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* One access point of the provider database */
typedef struct {
	gchar *provider; /* the provider's name in the database */
	gchar *apn;
	gchar *username; /* NULL when the database gives none */
	gchar *password; /* NULL when the database gives none (a public default, not a secret) */
} QlNmApn;

void ql_nm_apn_free(QlNmApn *apn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlNmApn, ql_nm_apn_free)

/* The database mobile-broadband-provider-info installs (serviceproviders.xml) */
const gchar *ql_nm_default_database(void);

/* An operator's MCC and MNC from the forms a profile gives them: the 3 bytes of a PLMN as six
 * hex digits (3GPP TS 24.008 10.5.1.3: "62F210" = 262 01, "130014" = 310 410; SGP.22
 * profileOwner, what the service's OwnerMccMnc holds), or the digits themselves: five
 * ("26201") or with a separator ("262-01", "262 01", "310-410"). */
gboolean ql_nm_parse_mcc_mnc(const gchar *text, gchar **mcc, gchar **mnc, GError **error);

/* The internet APNs (usage "internet" or unspecified) of the providers with network-id
 * @mcc/@mnc in @database, in the database's order, those of a provider whose name matches
 * @provider_hint (case-insensitive, may be NULL) first. Empty when the operator is unknown;
 * NULL with @error when the database cannot be read. */
GPtrArray *ql_nm_lookup_apns(const gchar *database, const gchar *mcc, const gchar *mnc,
			     const gchar *provider_hint, GError **error);

/* What a connection for a profile holds */
typedef struct {
	const gchar *iccid;    /* gsm.sim-id: NetworkManager uses it on the modem with this SIM */
	const gchar *id;       /* connection.id, e.g. the profile's name */
	const gchar *apn;      /* required */
	const gchar *username; /* may be NULL */
	const gchar *password; /* may be NULL */
	gboolean activate;     /* activate it once saved */
} QlNmSetup;

/* What was done */
typedef struct {
	gboolean created;	 /* a new connection (else an existing one was updated) */
	gchar *uuid;		 /* the connection's */
	gchar *id;		 /* the connection's id */
	gboolean activated;	 /* NetworkManager accepted the activation */
	gchar *activation_error; /* why not, when @activate was asked and failed */
} QlNmOutcome;

void ql_nm_outcome_free(QlNmOutcome *outcome);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlNmOutcome, ql_nm_outcome_free)

/* Creates the gsm connection for @setup->iccid, or updates the one that already has this
 * gsm.sim-id (its APN, user name and password; its other settings are kept), then activates it
 * when asked. A failed activation is reported in the outcome: the connection stays saved. */
void ql_nm_setup_connection_async(const QlNmSetup *setup, GCancellable *cancellable,
				  GAsyncReadyCallback callback, gpointer user_data);
QlNmOutcome *ql_nm_setup_connection_finish(GAsyncResult *result, GError **error);

G_END_DECLS
