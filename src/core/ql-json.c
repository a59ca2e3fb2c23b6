/*
 * JSON object members with null for what is absent. See ql-json.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "quantra-l/ql-hex.h"
#include "ql-es10.h"
#include "ql-json.h"

void
ql_json_string(JsonBuilder *b, const gchar *key, const gchar *value)
{
	json_builder_set_member_name(b, key);
	if (value != NULL)
		json_builder_add_string_value(b, value);
	else
		json_builder_add_null_value(b);
}

void
ql_json_int(JsonBuilder *b, const gchar *key, gint64 value)
{
	json_builder_set_member_name(b, key);
	if (value >= 0)
		json_builder_add_int_value(b, value);
	else
		json_builder_add_null_value(b);
}

void
ql_json_bool(JsonBuilder *b, const gchar *key, gboolean value)
{
	json_builder_set_member_name(b, key);
	json_builder_add_boolean_value(b, value);
}

void
ql_json_key_ids(JsonBuilder *b, GPtrArray *ids)
{
	json_builder_begin_array(b);
	for (guint i = 0; ids != NULL && i < ids->len; i++) {
		GBytes *id = g_ptr_array_index(ids, i);
		g_autofree gchar *hex =
			ql_hex_encode(g_bytes_get_data(id, NULL), g_bytes_get_size(id));
		json_builder_begin_object(b);
		ql_json_string(b, "key_id", hex);
		ql_json_string(b, "name", ql_ci_key_id_name(id));
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}
