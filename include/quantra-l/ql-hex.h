/*
 * Hex helpers for plugins and the core: AIDs and APDUs in messages, AT commands and device
 * parameters (never secrets).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Upper-case hex of @len bytes, no separators. */
gchar *ql_hex_encode(const guint8 *data, gsize len);
/* Hex digits (either case; spaces and ':' ignored) to bytes; QL_ERROR_INVALID_ARGUMENT for a
 * character that is not a hex digit or an odd number of digits. */
GBytes *ql_hex_decode(const gchar *hex, GError **error);

G_END_DECLS
