/*
 * Activation codes from QR code images (PNG, JPEG, ... anything gdk-pixbuf reads), with zbar.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What an image may be, checked from its header before it is decoded: a QR code fits in far
 * less, and a phone's photo of one (up to 8000x5000) still passes. */
#define QL_QR_MAX_PIXELS (40 * 1000 * 1000)
#define QL_QR_MAX_SIDE 16384
#define QL_QR_MAX_FILE_SIZE (32 * 1024 * 1024)

/* The text of the first QR code in the image (a secret: never logged). */
gchar *ql_qr_decode_file(const gchar *path, GError **error);

G_END_DECLS
