/*
 * quantra-esimd: JSON to D-Bus values, errors.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include "quantra-l/ql-error.h"
#include "ql-daemon.h"
#include "ql-trust.h"

/* The element type an array gets: one type for all its (non-null) elements, else v */
static const GVariantType *
ql_json_array_type(JsonArray *array)
{
	const GVariantType *type = NULL;

	for (guint i = 0; i < json_array_get_length(array); i++) {
		JsonNode *n = json_array_get_element(array, i);
		const GVariantType *t;
		if (JSON_NODE_HOLDS_NULL(n))
			continue;
		if (JSON_NODE_HOLDS_OBJECT(n))
			t = G_VARIANT_TYPE_VARDICT;
		else if (JSON_NODE_HOLDS_ARRAY(n))
			t = G_VARIANT_TYPE_VARIANT; /* nested arrays: each its own type */
		else if (json_node_get_value_type(n) == G_TYPE_STRING)
			t = G_VARIANT_TYPE_STRING;
		else if (json_node_get_value_type(n) == G_TYPE_INT64)
			t = G_VARIANT_TYPE_INT64;
		else if (json_node_get_value_type(n) == G_TYPE_BOOLEAN)
			t = G_VARIANT_TYPE_BOOLEAN;
		else
			t = G_VARIANT_TYPE_DOUBLE;
		if (type != NULL && !g_variant_type_equal(type, t))
			return G_VARIANT_TYPE_VARIANT;
		type = t;
	}
	return type != NULL ? type : G_VARIANT_TYPE_VARIANT;
}

static GVariant *ql_json_to_variant_typed(JsonNode *node, const GVariantType *want);

/* JSON as the service's reports carry it: objects a{sv} (null members left out: D-Bus has no
 * null), arrays typed by their elements (as, ax, aa{sv}; av when mixed or empty), numbers x or
 * d. One generic walk, so a field added to a JSON builder reaches D-Bus unchanged. */
GVariant *
ql_json_to_variant(JsonNode *node)
{
	return ql_json_to_variant_typed(node, NULL);
}

static GVariant *
ql_json_to_variant_typed(JsonNode *node, const GVariantType *want)
{
	GVariant *v;

	if (JSON_NODE_HOLDS_OBJECT(node)) {
		JsonObject *o = json_node_get_object(node);
		g_autoptr(GList) members = json_object_get_members(o);
		GVariantBuilder b;
		g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
		for (GList *l = members; l != NULL; l = l->next) {
			JsonNode *m = json_object_get_member(o, l->data);
			if (JSON_NODE_HOLDS_NULL(m))
				continue;
			g_variant_builder_add(&b, "{sv}", (const gchar *)l->data,
					      ql_json_to_variant_typed(m, NULL));
		}
		v = g_variant_builder_end(&b);
	} else if (JSON_NODE_HOLDS_ARRAY(node)) {
		JsonArray *a = json_node_get_array(node);
		const GVariantType *elem = ql_json_array_type(a);
		g_autoptr(GVariantType) type = g_variant_type_new_array(elem);
		GVariantBuilder b;
		g_variant_builder_init(&b, type);
		for (guint i = 0; i < json_array_get_length(a); i++) {
			JsonNode *n = json_array_get_element(a, i);
			if (JSON_NODE_HOLDS_NULL(n))
				continue;
			g_variant_builder_add_value(&b, ql_json_to_variant_typed(n, elem));
		}
		v = g_variant_builder_end(&b);
	} else if (JSON_NODE_HOLDS_NULL(node)) {
		v = g_variant_new_string(""); /* only inside mixed arrays, which skip it */
	} else if (json_node_get_value_type(node) == G_TYPE_STRING) {
		v = g_variant_new_string(json_node_get_string(node));
	} else if (json_node_get_value_type(node) == G_TYPE_INT64) {
		v = g_variant_new_int64(json_node_get_int(node));
	} else if (json_node_get_value_type(node) == G_TYPE_BOOLEAN) {
		v = g_variant_new_boolean(json_node_get_boolean(node));
	} else {
		v = g_variant_new_double(json_node_get_double(node));
	}
	if (want != NULL && g_variant_type_equal(want, G_VARIANT_TYPE_VARIANT))
		return g_variant_new_variant(v);
	return v;
}

GError *
ql_daemon_error_copy(const GError *error)
{
	if (error->domain == QL_ERROR)
		return g_error_copy(error);
	if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
		return g_error_new_literal(QL_ERROR, QL_ERROR_CANCELLED, error->message);
	return g_error_new_literal(QL_ERROR, QL_ERROR_FAILED, error->message);
}

void
ql_daemon_return_error(GDBusMethodInvocation *invocation, const GError *error)
{
	g_autoptr(GError) copy = ql_daemon_error_copy(error);
	g_dbus_method_invocation_return_gerror(invocation, copy);
}

const gchar *
ql_daemon_error_reason(const GError *error)
{
	QlTrustFailure failure = ql_trust_failure_from_error(error);
	return failure != QL_TRUST_OK ? ql_trust_failure_to_string(failure) : NULL;
}
