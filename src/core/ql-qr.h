/*
 * Activation codes from QR code images (PNG, JPEG, ... anything gdk-pixbuf reads), with zbar.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The text of the first QR code in the image (a secret: never logged). */
gchar *ql_qr_decode_file(const gchar *path, GError **error);

G_END_DECLS
