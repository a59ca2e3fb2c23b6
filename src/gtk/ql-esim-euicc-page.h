/*
 * The page of one eUICC: EID (with a copy button), free memory, default SM-DP+, pending
 * notifications, and its profiles, kept up to date from the service's PropertiesChanged and
 * the object manager's InterfacesAdded/Removed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "ql-dbus-generated.h"

G_BEGIN_DECLS

#define QL_ESIM_TYPE_EUICC_PAGE (ql_esim_euicc_page_get_type())
G_DECLARE_FINAL_TYPE(QlEsimEuiccPage, ql_esim_euicc_page, QL_ESIM, EUICC_PAGE, AdwBin)

GtkWidget *ql_esim_euicc_page_new(QlDbusEuicc *euicc, GDBusObjectManager *manager);
QlDbusEuicc *ql_esim_euicc_page_get_euicc(QlEsimEuiccPage *self);
/* Matches the profile rows to the Profiles property and the objects there are now */
void ql_esim_euicc_page_sync(QlEsimEuiccPage *self);
/* The page's title: the configured name, else "eSIM" and the EID's last digits */
gchar *ql_esim_euicc_title(QlDbusEuicc *euicc);

G_END_DECLS
