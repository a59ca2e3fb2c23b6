/*
 * A screenshot through the desktop portal (org.freedesktop.portal.Screenshot on the session
 * bus), for a QR code shown on screen.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Whether a portal with the Screenshot interface answers on the session bus */
void ql_esim_portal_check_async(GCancellable *cancellable, GAsyncReadyCallback callback,
				gpointer user_data);
gboolean ql_esim_portal_check_finish(GAsyncResult *result, GError **error);

/* Asks the portal for a screenshot (the portal lets the user choose and confirm); returns the
 * URI of the image it saved. G_IO_ERROR_CANCELLED when the user said no. */
void ql_esim_portal_screenshot_async(const gchar *parent_window, GCancellable *cancellable,
				     GAsyncReadyCallback callback, gpointer user_data);
gchar *ql_esim_portal_screenshot_finish(GAsyncResult *result, GError **error);

G_END_DECLS
