/*
 * One profile in an eUICC's list: icon, name, provider, nickname, state, and its actions
 * (window actions with the profile's object path as target).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "ql-dbus-generated.h"

G_BEGIN_DECLS

#define QL_ESIM_TYPE_PROFILE_ROW (ql_esim_profile_row_get_type())
G_DECLARE_FINAL_TYPE(QlEsimProfileRow, ql_esim_profile_row, QL_ESIM, PROFILE_ROW, AdwActionRow)

GtkWidget *ql_esim_profile_row_new(QlDbusProfile *profile);
QlDbusProfile *ql_esim_profile_row_get_profile(QlEsimProfileRow *self);

/* What the user calls a profile: its nickname, else its name, else its ICCID */
gchar *ql_esim_profile_display_name(QlDbusProfile *profile);
/* The profile's icon, or NULL when it has none (or it is not an image) */
GdkTexture *ql_esim_profile_icon(QlDbusProfile *profile);

G_END_DECLS
