/*
 * The main window of quantra-esim: a client of quantra-esimd's D-Bus API only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define QL_ESIM_TYPE_WINDOW (ql_esim_window_get_type())
G_DECLARE_FINAL_TYPE(QlEsimWindow, ql_esim_window, QL_ESIM, WINDOW, AdwApplicationWindow)

GtkWidget *ql_esim_window_new(AdwApplication *app);

G_END_DECLS
