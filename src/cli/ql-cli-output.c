/*
 * quantra-l: the printers every command shares. An object's field table drives its JSON
 * members, its key/value lines and its table columns alike. Text from outside is made safe here,
 * once for every command: escaped for a terminal (ql_text_escape), valid UTF-8 of a bounded
 * length for JSON (ql_text_valid).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "ql-cli.h"

gchar *
ql_cli_safe(const gchar *text, gsize max_chars)
{
	return ql_text_escape(text, -1, max_chars);
}

/* json-glib escapes control characters, but writes bytes that are not UTF-8 as they are and
 * any length: both are settled here */
JsonNode *
ql_cli_json_string_node(const gchar *value)
{
	g_autofree gchar *valid = ql_text_valid(value, -1, QL_TEXT_MAX_MESSAGE);
	JsonNode *n = json_node_new(valid != NULL ? JSON_NODE_VALUE : JSON_NODE_NULL);
	if (valid != NULL)
		json_node_set_string(n, valid);
	return n;
}

void
ql_cli_json_string(JsonBuilder *b, const gchar *key, const gchar *value)
{
	json_builder_set_member_name(b, key);
	json_builder_add_value(b, ql_cli_json_string_node(value));
}

static JsonNode *
ql_cli_field_value(const QlCliField *f, gconstpointer obj)
{
	const guint8 *base = obj;

	switch (f->type) {
	case QL_CLI_FIELD_STRING:
		return ql_cli_json_string_node(*(gchar *const *)(base + f->offset));
	case QL_CLI_FIELD_INT: {
		gint64 v = *(const gint64 *)(base + f->offset);
		JsonNode *n = json_node_new(v >= 0 ? JSON_NODE_VALUE : JSON_NODE_NULL);
		if (v >= 0)
			json_node_set_int(n, v);
		return n;
	}
	case QL_CLI_FIELD_CUSTOM:
	default:
		return f->value(obj);
	}
}

/* The human text of a field: its own text function, else its JSON value in words */
static gchar *
ql_cli_field_text(const QlCliField *f, gconstpointer obj)
{
	g_autoptr(JsonNode) n = NULL;

	if (f->text != NULL)
		return f->text(obj);
	n = ql_cli_field_value(f, obj);
	if (JSON_NODE_HOLDS_NULL(n))
		return g_strdup("-");
	switch (json_node_get_value_type(n)) {
	case G_TYPE_STRING: {
		const gchar *s = json_node_get_string(n);
		return g_strdup(s[0] != '\0' ? s : "-");
	}
	case G_TYPE_INT64:
		return g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(n));
	case G_TYPE_BOOLEAN:
		return g_strdup(json_node_get_boolean(n) ? _("yes") : _("no"));
	default:
		return g_strdup("-");
	}
}

void
ql_cli_fields_json(const QlCliField *fields, gconstpointer obj, JsonBuilder *b)
{
	for (const QlCliField *f = fields; f->key != NULL; f++) {
		if (f->flags & QL_CLI_FIELD_FLAG_TEXT_ONLY)
			continue;
		json_builder_set_member_name(b, f->key);
		json_builder_add_value(b, ql_cli_field_value(f, obj));
	}
}

void
ql_cli_fields_json_array(const QlCliField *fields, const gchar *key, GPtrArray *objs,
			 JsonBuilder *b)
{
	json_builder_set_member_name(b, key);
	json_builder_begin_array(b);
	for (guint i = 0; i < objs->len; i++) {
		json_builder_begin_object(b);
		ql_cli_fields_json(fields, g_ptr_array_index(objs, i), b);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

void
ql_cli_kv(const gchar *key, const gchar *value)
{
	g_autofree gchar *safe = ql_cli_safe(value, QL_TEXT_MAX_MESSAGE);
	g_print("  %-28s %s\n", key, safe != NULL ? safe : "-");
}

void
ql_cli_fields_print(const QlCliField *fields, gconstpointer obj)
{
	for (const QlCliField *f = fields; f->key != NULL; f++) {
		g_autofree gchar *text = NULL;
		if (f->label == NULL)
			continue;
		text = ql_cli_field_text(f, obj);
		if (f->flags & QL_CLI_FIELD_FLAG_BLOCK) {
			g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
			g_print("  %s\n", _(f->label));
			/* the lines are ours, what they hold is not */
			for (guint i = 0; lines[i] != NULL; i++) {
				g_autofree gchar *safe = ql_cli_safe(lines[i], QL_TEXT_MAX_FIELD);
				g_print("    %s\n", safe);
			}
		} else {
			ql_cli_kv(_(f->label), text);
		}
	}
}

void
ql_cli_fields_table_multi(const QlCliField *const *fields, GPtrArray *const *objs, guint n)
{
	g_autoptr(GPtrArray) cols = g_ptr_array_new(); /* per kind: the labelled fields */
	g_autoptr(GPtrArray) cells = g_ptr_array_new_with_free_func(g_free);
	g_autofree gsize *width = NULL;
	guint ncols = 0, nrows = 1;

	for (guint k = 0; k < n; k++) {
		guint c = 0;
		for (const QlCliField *f = fields[k]; f->key != NULL; f++) {
			if (f->label != NULL) {
				g_ptr_array_add(cols, (gpointer)f);
				c++;
			}
		}
		g_return_if_fail(k == 0 || c == ncols);
		ncols = c;
	}
	width = g_new0(gsize, ncols);
	/* row 0 is the header, from the first kind's labels */
	for (guint c = 0; c < ncols; c++) {
		const QlCliField *f = g_ptr_array_index(cols, c);
		g_ptr_array_add(cells, ql_cli_safe(_(f->label), QL_TEXT_MAX_FIELD));
	}
	for (guint k = 0; k < n; k++) {
		for (guint r = 0; r < objs[k]->len; r++, nrows++) {
			for (guint c = 0; c < ncols; c++) {
				const QlCliField *f = g_ptr_array_index(cols, k * ncols + c);
				g_autofree gchar *text =
					ql_cli_field_text(f, g_ptr_array_index(objs[k], r));
				g_ptr_array_add(cells, ql_cli_safe(text, QL_TEXT_MAX_FIELD));
			}
		}
	}
	for (guint i = 0; i < cells->len; i++) {
		const gchar *cell = g_ptr_array_index(cells, i);
		width[i % ncols] = MAX(width[i % ncols], (gsize)g_utf8_strlen(cell, -1));
	}
	for (guint r = 0; r < nrows; r++) {
		g_autoptr(GString) line = g_string_new(NULL);
		for (guint c = 0; c < ncols; c++) {
			const gchar *cell = g_ptr_array_index(cells, r * ncols + c);
			g_string_append(line, cell);
			if (c + 1 < ncols) {
				gsize pad = width[c] - g_utf8_strlen(cell, -1) + 2;
				for (gsize i = 0; i < pad; i++)
					g_string_append_c(line, ' ');
			}
		}
		g_print("%s\n", line->str);
	}
}

void
ql_cli_fields_table(const QlCliField *fields, GPtrArray *objs)
{
	ql_cli_fields_table_multi(&fields, &objs, 1);
}

void
ql_cli_print_json(JsonNode *root)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autofree gchar *text = NULL;

	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	text = json_generator_to_data(gen, NULL);
	g_print("%s\n", text);
}
