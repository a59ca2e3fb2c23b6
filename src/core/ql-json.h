/*
 * Members of a JSON object under construction, with null for what is absent: the download
 * report (the CLI's --json, the service's Finished report) and the service's EuiccInfo property
 * write their fields through these, so an absent field reads the same in all of them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* @key: @value, or null when @value is NULL */
void ql_json_string(JsonBuilder *b, const gchar *key, const gchar *value);
/* @key: @value, or null when @value is negative (unknown) */
void ql_json_int(JsonBuilder *b, const gchar *key, gint64 value);
/* @key: true or false */
void ql_json_bool(JsonBuilder *b, const gchar *key, gboolean value);
/* An array (at the builder's current place) of the CI key ids @ids (GBytes; NULL: empty), each
 * {"key_id": HEX, "name": the CI's name or null}: `chip info --json` and the service's EuiccInfo */
void ql_json_key_ids(JsonBuilder *b, GPtrArray *ids);

G_END_DECLS
