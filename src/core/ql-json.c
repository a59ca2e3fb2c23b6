/*
 * JSON object members with null for what is absent. See ql-json.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

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
