/*
 * The virtual eUICC's state file (JSON) and identity (CI, EUM, eUICC certificate and key).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <json-glib/json-glib.h>

#include "quantra-l/ql-error.h"
#include "ql-ids.h"
#include "ql-tlv.h"
#include "ql-vcard-private.h"

#define QL_VCARD_STATE_VERSION 1
/* 20 years: long enough that a test or demo card never expires under its user */
#define QL_VCARD_CERT_LIFETIME (20 * 365 * 24 * 3600LL)

static const gchar *const ql_vcard_event_names[] = {"install", "enable", "disable", "delete"};
static const gchar *const ql_vcard_class_names[] = {"test", "provisioning", "operational"};

void
ql_vcard_notif_config_free(QlVcardNotifConfig *c)
{
	g_free(c->address);
	g_free(c);
}

void
ql_vcard_profile_free(QlVcardProfile *p)
{
	g_free(p->iccid);
	g_clear_pointer(&p->isdp_aid, g_bytes_unref);
	g_free(p->nickname);
	g_free(p->name);
	g_free(p->spn);
	g_clear_pointer(&p->icon, g_bytes_unref);
	g_clear_pointer(&p->owner_mccmnc, g_bytes_unref);
	g_clear_pointer(&p->notif_config, g_ptr_array_unref);
	g_free(p);
}

void
ql_vcard_notification_free(QlVcardNotification *n)
{
	g_free(n->address);
	g_free(n->iccid);
	g_clear_pointer(&n->pir, g_bytes_unref);
	g_free(n);
}

/* ---- EID and ICCID numbers ---- */

/* the check itself is the core's (ql-ids) */
gboolean
ql_vcard_eid_is_valid(const gchar *eid)
{
	return ql_eid_is_valid(eid);
}

/* SGP.29: "89", country code, issuer, version and serial digits, then two check digits chosen
 * so that the whole 32-digit number mod 97 is 1. Country code 999 and issuer 001 are not
 * assigned to anyone, so a virtual EID never looks like a real card's. */
gchar *
ql_vcard_make_eid(void)
{
	GString *s = g_string_new("89999001");

	/* version (5 digits) then 17 random digits */
	g_string_append(s, "00100");
	while (s->len < QL_EID_LEN - 2)
		g_string_append_c(s, (gchar)('0' + g_random_int_range(0, 10)));
	g_string_append_printf(s, "%02d", ql_eid_check_digits(s->str));
	return g_string_free(s, FALSE);
}

/* 19 digits ("8988" test issuer prefix, 6 digits from the EID, 9 from the index) + Luhn */
gchar *
ql_vcard_make_iccid(const gchar *eid, guint index)
{
	guint h = g_str_hash(eid) % 1000000;
	g_autofree gchar *body = g_strdup_printf("8988%06u%09u", h, index);
	return g_strdup_printf("%s%c", body, ql_luhn_digit(body));
}

/* ---- identity ---- */

static gchar *
ql_vcard_crt_to_pem(gnutls_x509_crt_t crt, GError **error)
{
	gnutls_datum_t d = {NULL, 0};
	gchar *out;
	int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &d);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED, "cannot export a certificate: %s",
			    gnutls_strerror(rc));
		return NULL;
	}
	out = g_strndup((const gchar *)d.data, d.size);
	gnutls_free(d.data);
	return out;
}

static gchar *
ql_vcard_key_to_pem(gnutls_x509_privkey_t key, GError **error)
{
	gnutls_datum_t d = {NULL, 0};
	gchar *out;
	int rc = gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED, "cannot export the eUICC key: %s",
			    gnutls_strerror(rc));
		return NULL;
	}
	out = g_strndup((const gchar *)d.data, d.size);
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);
	return out;
}

static gboolean
ql_vcard_check_eid(QlVcard *card, const gchar *where, GError **error)
{
	if (card->eid == NULL || strlen(card->eid) != 32) {
		g_set_error(
			error, QL_ERROR, QL_ERROR_MALFORMED,
			"%s: the eUICC certificate's subject serialNumber is not a 32-digit EID",
			where);
		return FALSE;
	}
	for (const gchar *p = card->eid; *p != '\0'; p++) {
		if (!g_ascii_isdigit(*p)) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "%s: the EID '%s' holds a non-digit", where, card->eid);
			return FALSE;
		}
	}
	if (!ql_vcard_eid_is_valid(card->eid))
		g_debug("EID %s has no valid check digits", card->eid);
	return TRUE;
}

gboolean
ql_vcard_identity_create(QlVcard *card, GError **error)
{
	g_auto(QlPkiCert) ci = {NULL, NULL};
	g_auto(QlPkiCert) eum = {NULL, NULL};
	g_auto(QlPkiCert) euicc = {NULL, NULL};
	g_autofree gchar *eid = ql_vcard_make_eid();
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	QlPkiCertSpec spec = {0};
	gnutls_x509_crt_t ci_copy;

	spec.not_before = now - 3600;
	spec.not_after = now + QL_VCARD_CERT_LIFETIME;

	/* SGP.22 4.5.2: CI (self-signed) -> EUM -> eUICC, the eUICC's serialNumber is its EID */
	spec.role = QL_CERT_ROLE_CI;
	spec.common_name = "Quantra-L Virtual CI";
	spec.organization = "Quantra-L";
	spec.is_ca = TRUE;
	if (!ql_pki_make(&spec, NULL, &ci, error))
		return FALSE;
	spec.role = QL_CERT_ROLE_EUM;
	spec.common_name = "Quantra-L Virtual EUM";
	if (!ql_pki_make(&spec, &ci, &eum, error))
		return FALSE;
	spec.role = QL_CERT_ROLE_EUICC;
	spec.common_name = "Quantra-L Virtual eUICC";
	spec.serial_number = eid;
	spec.is_ca = FALSE;
	if (!ql_pki_make(&spec, &eum, &euicc, error))
		return FALSE;

	card->ci_pem = ql_vcard_crt_to_pem(ci.crt, error);
	if (card->ci_pem == NULL)
		return FALSE;
	card->eum_pem = ql_vcard_crt_to_pem(eum.crt, error);
	if (card->eum_pem == NULL)
		return FALSE;
	card->euicc_pem = ql_vcard_crt_to_pem(euicc.crt, error);
	if (card->euicc_pem == NULL)
		return FALSE;
	card->euicc_key_pem = ql_vcard_key_to_pem(euicc.key, error);
	if (card->euicc_key_pem == NULL)
		return FALSE;

	ci_copy = g_steal_pointer(&ci.crt);
	g_ptr_array_add(card->trusted_ci, ci_copy);
	card->eum = eum;
	eum.crt = NULL;
	eum.key = NULL;
	card->euicc = euicc;
	euicc.crt = NULL;
	euicc.key = NULL;
	card->eid = g_steal_pointer(&eid);
	return TRUE;
}

gboolean
ql_vcard_identity_load_pems(QlVcard *card, GError **error)
{
	gnutls_datum_t d;
	gnutls_x509_crt_t ci;
	int rc;

	ci = ql_pki_crt_from_bytes((const guint8 *)card->ci_pem, strlen(card->ci_pem), error);
	if (ci == NULL)
		return FALSE;
	g_ptr_array_add(card->trusted_ci, ci);
	card->eum.crt =
		ql_pki_crt_from_bytes((const guint8 *)card->eum_pem, strlen(card->eum_pem), error);
	if (card->eum.crt == NULL)
		return FALSE;
	card->euicc.crt = ql_pki_crt_from_bytes((const guint8 *)card->euicc_pem,
						strlen(card->euicc_pem), error);
	if (card->euicc.crt == NULL)
		return FALSE;
	rc = gnutls_x509_privkey_init(&card->euicc.key);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED, "key init: %s", gnutls_strerror(rc));
		return FALSE;
	}
	d.data = (unsigned char *)card->euicc_key_pem;
	d.size = (unsigned int)strlen(card->euicc_key_pem);
	rc = gnutls_x509_privkey_import2(card->euicc.key, &d, GNUTLS_X509_FMT_PEM, NULL,
					 GNUTLS_PKCS_PLAIN);
	if (rc < 0) {
		/* never print the key itself */
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the embedded eUICC key is not a valid private key");
		return FALSE;
	}
	return TRUE;
}

static gint
ql_vcard_cmp_names(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const gchar *const *)a, *(const gchar *const *)b);
}

gboolean
ql_vcard_identity_load_dir(QlVcard *card, const gchar *dir, GError **error)
{
	g_autofree gchar *eum_path = g_build_filename(dir, "eum.pem", NULL);
	g_autofree gchar *euicc_path = g_build_filename(dir, "euicc.pem", NULL);
	g_autofree gchar *key_path = g_build_filename(dir, "euicc-key.pem", NULL);
	g_autofree gchar *ci_dir = g_build_filename(dir, "ci", NULL);
	g_autoptr(GDir) d = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error_local = NULL;
	const gchar *name;

	if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "identity folder %s does not exist", dir);
		return FALSE;
	}
	if (!ql_pki_load(euicc_path, key_path, &card->euicc, error))
		return FALSE;
	if (!ql_pki_load(eum_path, NULL, &card->eum, error))
		return FALSE;
	d = g_dir_open(ci_dir, 0, &error_local);
	if (d == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "identity folder %s has no ci/ folder of trusted CIs: %s", dir,
			    error_local->message);
		return FALSE;
	}
	while ((name = g_dir_read_name(d)) != NULL) {
		if (g_str_has_suffix(name, ".pem"))
			g_ptr_array_add(names, g_strdup(name));
	}
	/* a stable order, so EUICCInfo lists the key ids the same way every time */
	g_ptr_array_sort(names, ql_vcard_cmp_names);
	for (guint i = 0; i < names->len; i++) {
		g_autofree gchar *path = g_build_filename(ci_dir, names->pdata[i], NULL);
		g_autoptr(GPtrArray) crts = ql_pki_load_bundle(path, error);
		if (crts == NULL)
			return FALSE;
		for (guint j = 0; j < crts->len; j++)
			g_ptr_array_add(card->trusted_ci, g_steal_pointer(&crts->pdata[j]));
		g_ptr_array_set_free_func(crts, NULL);
	}
	if (card->trusted_ci->len == 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "identity folder %s: ci/ holds no CI certificate", dir);
		return FALSE;
	}
	g_free(card->eid);
	card->eid = ql_pki_subject_serial_number(card->euicc.crt);
	return ql_vcard_check_eid(card, euicc_path, error);
}

/* ECDSA P-256 with SHA-256 over @data, the signature as raw r||s (SGP.22 2.6.2 / 5.7.10) */
gboolean
ql_vcard_sign(QlVcard *card, const guint8 *data, gsize len, guint8 sig[64], GError **error)
{
	gnutls_privkey_t pk = NULL;
	gnutls_datum_t in = {(unsigned char *)data, (unsigned int)len};
	gnutls_datum_t der = {NULL, 0};
	gnutls_datum_t r = {NULL, 0}, s = {NULL, 0};
	gboolean ok = FALSE;
	int rc;

	rc = gnutls_privkey_init(&pk);
	if (rc >= 0)
		rc = gnutls_privkey_import_x509(pk, card->euicc.key, 0);
	if (rc >= 0)
		rc = gnutls_privkey_sign_data2(pk, GNUTLS_SIGN_ECDSA_SHA256, 0, &in, &der);
	if (rc >= 0)
		rc = gnutls_decode_rs_value(&der, &r, &s);
	if (rc < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_FAILED, "eUICC signature failed: %s",
			    gnutls_strerror(rc));
		goto out;
	}
	/* the DER integers may carry a leading 00 or be shorter than 32 bytes */
	memset(sig, 0, 64);
	{
		const gnutls_datum_t *parts[2] = {&r, &s};
		for (guint i = 0; i < 2; i++) {
			const guint8 *p = parts[i]->data;
			gsize n = parts[i]->size;
			while (n > 32 && *p == 0) {
				p++;
				n--;
			}
			if (n > 32) {
				g_set_error_literal(error, QL_ERROR, QL_ERROR_FAILED,
						    "eUICC signature: unexpected integer size");
				goto out;
			}
			memcpy(sig + i * 32 + (32 - n), p, n);
		}
	}
	ok = TRUE;
out:
	gnutls_free(der.data);
	gnutls_free(r.data);
	gnutls_free(s.data);
	if (pk != NULL)
		gnutls_privkey_deinit(pk);
	return ok;
}

/* ---- JSON ---- */

static const gchar *
ql_vcard_event_name(QlVcardEvent ev)
{
	return (guint)ev < G_N_ELEMENTS(ql_vcard_event_names) ? ql_vcard_event_names[ev] : "?";
}

static gboolean
ql_vcard_event_from_name(const gchar *name, QlVcardEvent *out)
{
	for (guint i = 0; i < G_N_ELEMENTS(ql_vcard_event_names); i++) {
		if (g_strcmp0(name, ql_vcard_event_names[i]) == 0) {
			*out = (QlVcardEvent)i;
			return TRUE;
		}
	}
	return FALSE;
}

static void
ql_vcard_json_add_bytes_b64(JsonBuilder *b, const gchar *member, GBytes *bytes)
{
	g_autofree gchar *s = NULL;
	if (bytes == NULL)
		return;
	s = g_base64_encode(g_bytes_get_data(bytes, NULL), g_bytes_get_size(bytes));
	json_builder_set_member_name(b, member);
	json_builder_add_string_value(b, s);
}

static void
ql_vcard_json_add_string(JsonBuilder *b, const gchar *member, const gchar *value)
{
	if (value == NULL)
		return;
	json_builder_set_member_name(b, member);
	json_builder_add_string_value(b, value);
}

static void
ql_vcard_json_add_int(JsonBuilder *b, const gchar *member, gint64 value)
{
	json_builder_set_member_name(b, member);
	json_builder_add_int_value(b, value);
}

static void
ql_vcard_json_add_profile(JsonBuilder *b, QlVcardProfile *p)
{
	g_autofree gchar *aid =
		ql_hex_encode(g_bytes_get_data(p->isdp_aid, NULL), g_bytes_get_size(p->isdp_aid));
	json_builder_begin_object(b);
	ql_vcard_json_add_string(b, "iccid", p->iccid);
	ql_vcard_json_add_string(b, "isdp_aid", aid);
	ql_vcard_json_add_string(b, "state", p->enabled ? "enabled" : "disabled");
	ql_vcard_json_add_string(b, "nickname", p->nickname);
	ql_vcard_json_add_string(b, "name", p->name);
	ql_vcard_json_add_string(b, "spn", p->spn);
	ql_vcard_json_add_string(b, "class", ql_vcard_class_names[p->profile_class]);
	if (p->icon_type >= 0) {
		ql_vcard_json_add_string(b, "icon_type", p->icon_type == 0 ? "jpg" : "png");
		ql_vcard_json_add_bytes_b64(b, "icon", p->icon);
	}
	if (p->owner_mccmnc != NULL) {
		g_autofree gchar *hex = ql_hex_encode(g_bytes_get_data(p->owner_mccmnc, NULL),
						      g_bytes_get_size(p->owner_mccmnc));
		ql_vcard_json_add_string(b, "owner_mccmnc", hex);
	}
	json_builder_set_member_name(b, "notification_config");
	json_builder_begin_array(b);
	for (guint i = 0; i < p->notif_config->len; i++) {
		QlVcardNotifConfig *c = g_ptr_array_index(p->notif_config, i);
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "events");
		json_builder_begin_array(b);
		for (guint ev = 0; ev < G_N_ELEMENTS(ql_vcard_event_names); ev++) {
			if (c->events & QL_VCARD_EVENT_MASK(ev))
				json_builder_add_string_value(b, ql_vcard_event_names[ev]);
		}
		json_builder_end_array(b);
		ql_vcard_json_add_string(b, "address", c->address);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
}

gboolean
ql_vcard_state_save(QlVcard *card, GError **error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *text = NULL;
	gsize len = 0;

	json_builder_begin_object(b);
	ql_vcard_json_add_int(b, "version", QL_VCARD_STATE_VERSION);
	ql_vcard_json_add_string(b, "eid", card->eid);
	ql_vcard_json_add_int(b, "next_seq", card->next_seq);
	ql_vcard_json_add_int(b, "next_isdp", card->next_isdp);
	ql_vcard_json_add_int(b, "seeded", card->seeded);
	ql_vcard_json_add_string(b, "default_dp_address", card->default_dp);
	ql_vcard_json_add_string(b, "root_ds_address", card->root_ds);

	json_builder_set_member_name(b, "identity");
	json_builder_begin_object(b);
	if (card->identity_dir != NULL) {
		ql_vcard_json_add_string(b, "dir", card->identity_dir);
	} else {
		ql_vcard_json_add_string(b, "ci", card->ci_pem);
		ql_vcard_json_add_string(b, "eum", card->eum_pem);
		ql_vcard_json_add_string(b, "euicc", card->euicc_pem);
		ql_vcard_json_add_string(b, "euicc_key", card->euicc_key_pem);
	}
	json_builder_end_object(b);

	json_builder_set_member_name(b, "profiles");
	json_builder_begin_array(b);
	for (guint i = 0; i < card->profiles->len; i++)
		ql_vcard_json_add_profile(b, g_ptr_array_index(card->profiles, i));
	json_builder_end_array(b);

	json_builder_set_member_name(b, "notifications");
	json_builder_begin_array(b);
	for (guint i = 0; i < card->notifications->len; i++) {
		QlVcardNotification *n = g_ptr_array_index(card->notifications, i);
		json_builder_begin_object(b);
		ql_vcard_json_add_int(b, "seq", n->seq);
		ql_vcard_json_add_string(b, "operation", ql_vcard_event_name(n->event));
		ql_vcard_json_add_string(b, "address", n->address);
		ql_vcard_json_add_string(b, "iccid", n->iccid);
		ql_vcard_json_add_bytes_b64(b, "pir", n->pir);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);

	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	text = json_generator_to_data(gen, &len);
	/* atomic (temporary file + rename), and 0600: the state holds the eUICC private key */
	if (!g_file_set_contents_full(card->state_path, text, (gssize)len,
				      G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error_local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "cannot write the virtual eUICC state file %s: %s", card->state_path,
			    error_local->message);
		return FALSE;
	}
	return TRUE;
}

/* -- typed getters: every problem is an error, the caller prefixes the file name -- */

static gboolean
ql_vcard_json_get_string(JsonObject *obj, const gchar *member, gboolean required, gchar **out,
			 GError **error)
{
	JsonNode *n = json_object_get_member(obj, member);
	if (n == NULL || JSON_NODE_HOLDS_NULL(n)) {
		if (!required) {
			*out = NULL;
			return TRUE;
		}
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "'%s' is missing", member);
		return FALSE;
	}
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "'%s' is not a string", member);
		return FALSE;
	}
	*out = g_strdup(json_node_get_string(n));
	return TRUE;
}

static gboolean
ql_vcard_json_get_uint(JsonObject *obj, const gchar *member, guint max, guint *out, GError **error)
{
	JsonNode *n = json_object_get_member(obj, member);
	gint64 v;
	if (n == NULL || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "'%s' is missing or not an integer", member);
		return FALSE;
	}
	v = json_node_get_int(n);
	if (v < 0 || v > (gint64)max) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "'%s' is out of range", member);
		return FALSE;
	}
	*out = (guint)v;
	return TRUE;
}

static GBytes *
ql_vcard_json_get_hex(JsonObject *obj, const gchar *member, gsize min, gsize max, GError **error)
{
	g_autofree gchar *s = NULL;
	g_autoptr(GBytes) b = NULL;
	if (!ql_vcard_json_get_string(obj, member, TRUE, &s, error))
		return NULL;
	b = ql_hex_decode(s, error);
	if (b == NULL) {
		g_prefix_error(error, "'%s': ", member);
		return NULL;
	}
	if (g_bytes_get_size(b) < min || g_bytes_get_size(b) > max) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "'%s' has a wrong size", member);
		return NULL;
	}
	return g_steal_pointer(&b);
}

static JsonArray *
ql_vcard_json_get_array(JsonObject *obj, const gchar *member, GError **error)
{
	JsonNode *n = json_object_get_member(obj, member);
	if (n == NULL || !JSON_NODE_HOLDS_ARRAY(n)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "'%s' is missing or not a list",
			    member);
		return NULL;
	}
	return json_node_get_array(n);
}

static JsonObject *
ql_vcard_json_element_object(JsonArray *arr, guint i, const gchar *what, GError **error)
{
	JsonNode *n = json_array_get_element(arr, i);
	if (!JSON_NODE_HOLDS_OBJECT(n)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "%s %u is not an object", what,
			    i + 1);
		return NULL;
	}
	return json_node_get_object(n);
}

static gboolean
ql_vcard_is_digits(const gchar *s, gsize min, gsize max)
{
	gsize n = strlen(s);
	if (n < min || n > max)
		return FALSE;
	for (gsize i = 0; i < n; i++) {
		if (!g_ascii_isdigit(s[i]))
			return FALSE;
	}
	return TRUE;
}

static QlVcardProfile *
ql_vcard_json_read_profile(JsonObject *o, GError **error)
{
	QlVcardProfile *p = g_new0(QlVcardProfile, 1);
	g_autofree gchar *state = NULL;
	g_autofree gchar *klass = NULL;
	g_autofree gchar *icon_type = NULL;
	g_autofree gchar *icon = NULL;
	JsonArray *arr;

	p->notif_config =
		g_ptr_array_new_with_free_func((GDestroyNotify)ql_vcard_notif_config_free);
	p->icon_type = -1;
	p->profile_class = QL_VCARD_CLASS_OPERATIONAL;
	if (!ql_vcard_json_get_string(o, "iccid", TRUE, &p->iccid, error))
		goto fail;
	if (!ql_vcard_is_digits(p->iccid, 18, 20)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "'%s' is not an ICCID", p->iccid);
		goto fail;
	}
	p->isdp_aid = ql_vcard_json_get_hex(o, "isdp_aid", 5, 16, error);
	if (p->isdp_aid == NULL)
		goto fail;
	if (!ql_vcard_json_get_string(o, "state", TRUE, &state, error))
		goto fail;
	if (g_strcmp0(state, "enabled") == 0) {
		p->enabled = TRUE;
	} else if (g_strcmp0(state, "disabled") != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "unknown profile state '%s'",
			    state);
		goto fail;
	}
	if (!ql_vcard_json_get_string(o, "nickname", FALSE, &p->nickname, error) ||
	    !ql_vcard_json_get_string(o, "name", TRUE, &p->name, error) ||
	    !ql_vcard_json_get_string(o, "spn", TRUE, &p->spn, error) ||
	    !ql_vcard_json_get_string(o, "class", TRUE, &klass, error) ||
	    !ql_vcard_json_get_string(o, "icon_type", FALSE, &icon_type, error) ||
	    !ql_vcard_json_get_string(o, "icon", FALSE, &icon, error))
		goto fail;
	p->profile_class = -1;
	for (guint i = 0; i < G_N_ELEMENTS(ql_vcard_class_names); i++) {
		if (g_strcmp0(klass, ql_vcard_class_names[i]) == 0)
			p->profile_class = (gint)i;
	}
	if (p->profile_class < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "unknown profile class '%s'",
			    klass);
		goto fail;
	}
	if (icon_type != NULL) {
		gsize len = 0;
		guchar *raw;
		if (g_strcmp0(icon_type, "jpg") == 0) {
			p->icon_type = 0;
		} else if (g_strcmp0(icon_type, "png") == 0) {
			p->icon_type = 1;
		} else {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "unknown icon type '%s'",
				    icon_type);
			goto fail;
		}
		if (icon == NULL) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
					    "an icon type without an icon");
			goto fail;
		}
		raw = g_base64_decode(icon, &len);
		p->icon = g_bytes_new_take(raw, len);
		if (len > 1024) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
					    "icon larger than 1024 bytes");
			goto fail;
		}
	}
	if (json_object_has_member(o, "owner_mccmnc")) {
		p->owner_mccmnc = ql_vcard_json_get_hex(o, "owner_mccmnc", 3, 3, error);
		if (p->owner_mccmnc == NULL)
			goto fail;
	}
	arr = ql_vcard_json_get_array(o, "notification_config", error);
	if (arr == NULL)
		goto fail;
	for (guint i = 0; i < json_array_get_length(arr); i++) {
		JsonObject *co = ql_vcard_json_element_object(arr, i, "notification config", error);
		QlVcardNotifConfig *c;
		JsonArray *evs;
		if (co == NULL)
			goto fail;
		c = g_new0(QlVcardNotifConfig, 1);
		g_ptr_array_add(p->notif_config, c);
		if (!ql_vcard_json_get_string(co, "address", TRUE, &c->address, error))
			goto fail;
		evs = ql_vcard_json_get_array(co, "events", error);
		if (evs == NULL)
			goto fail;
		for (guint j = 0; j < json_array_get_length(evs); j++) {
			JsonNode *en = json_array_get_element(evs, j);
			const gchar *name = NULL;
			QlVcardEvent ev;
			if (JSON_NODE_HOLDS_VALUE(en) &&
			    json_node_get_value_type(en) == G_TYPE_STRING)
				name = json_node_get_string(en);
			if (!ql_vcard_event_from_name(name, &ev)) {
				g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
					    "unknown notification event '%s'",
					    name != NULL ? name : "(not a string)");
				goto fail;
			}
			c->events |= QL_VCARD_EVENT_MASK(ev);
		}
	}
	return p;
fail:
	g_prefix_error(error, "profile %s: ", p->iccid != NULL ? p->iccid : "?");
	ql_vcard_profile_free(p);
	return NULL;
}

static QlVcardNotification *
ql_vcard_json_read_notification(JsonObject *o, GError **error)
{
	QlVcardNotification *n = g_new0(QlVcardNotification, 1);
	g_autofree gchar *op = NULL;
	g_autofree gchar *pir = NULL;

	if (!ql_vcard_json_get_uint(o, "seq", G_MAXINT32, &n->seq, error) ||
	    !ql_vcard_json_get_string(o, "operation", TRUE, &op, error) ||
	    !ql_vcard_json_get_string(o, "address", TRUE, &n->address, error) ||
	    !ql_vcard_json_get_string(o, "iccid", FALSE, &n->iccid, error) ||
	    !ql_vcard_json_get_string(o, "pir", FALSE, &pir, error))
		goto fail;
	if (!ql_vcard_event_from_name(op, &n->event)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "unknown operation '%s'", op);
		goto fail;
	}
	if (n->iccid != NULL && !ql_vcard_is_digits(n->iccid, 18, 20)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "'%s' is not an ICCID", n->iccid);
		goto fail;
	}
	if (pir != NULL) {
		gsize len = 0;
		guchar *raw = g_base64_decode(pir, &len);
		QlTlv tlv;
		n->pir = g_bytes_new_take(raw, len);
		/* it goes into RetrieveNotificationsList as it is: anything but one well-formed
		 * BF37 would break the whole answer */
		if (!ql_tlv_read_exact(raw, len, 0xBF37, &tlv, NULL) ||
		    !ql_tlv_validate(raw, len, QL_TLV_MAX_DEPTH, NULL)) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
					    "'pir' is not a ProfileInstallationResult");
			goto fail;
		}
	}
	return n;
fail:
	g_prefix_error(error, "notification: ");
	ql_vcard_notification_free(n);
	return NULL;
}

static gboolean
ql_vcard_state_parse(QlVcard *card, JsonNode *root, GError **error)
{
	JsonObject *o, *id;
	JsonNode *idn;
	JsonArray *arr;
	guint version = 0;
	g_autofree gchar *dir = NULL;

	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED, "not a JSON object");
		return FALSE;
	}
	o = json_node_get_object(root);
	if (!ql_vcard_json_get_uint(o, "version", G_MAXINT32, &version, error))
		return FALSE;
	if (version != QL_VCARD_STATE_VERSION) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "unsupported state version %u",
			    version);
		return FALSE;
	}
	if (!ql_vcard_json_get_uint(o, "next_seq", G_MAXINT32, &card->next_seq, error) ||
	    !ql_vcard_json_get_uint(o, "next_isdp", 0xEFFF, &card->next_isdp, error) ||
	    !ql_vcard_json_get_uint(o, "seeded", 1000000, &card->seeded, error) ||
	    !ql_vcard_json_get_string(o, "default_dp_address", FALSE, &card->default_dp, error) ||
	    !ql_vcard_json_get_string(o, "root_ds_address", TRUE, &card->root_ds, error))
		return FALSE;

	idn = json_object_get_member(o, "identity");
	if (idn == NULL || !JSON_NODE_HOLDS_OBJECT(idn)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "'identity' is missing or not an object");
		return FALSE;
	}
	id = json_node_get_object(idn);
	if (!ql_vcard_json_get_string(id, "dir", FALSE, &dir, error))
		return FALSE;
	if (dir != NULL) {
		/* the same folder however it is spelt (state files store it absolute) */
		g_autofree gchar *canon = g_canonicalize_filename(dir, NULL);
		if (card->identity_dir != NULL && g_strcmp0(card->identity_dir, canon) != 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "it belongs to the identity in %s, not %s", dir,
				    card->identity_dir);
			return FALSE;
		}
		if (!ql_vcard_identity_load_dir(card, dir, error))
			return FALSE;
		g_free(card->identity_dir);
		card->identity_dir = g_steal_pointer(&dir);
	} else {
		if (card->identity_dir != NULL) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "it has its own identity, it cannot take the one in %s",
				    card->identity_dir);
			return FALSE;
		}
		if (!ql_vcard_json_get_string(id, "ci", TRUE, &card->ci_pem, error) ||
		    !ql_vcard_json_get_string(id, "eum", TRUE, &card->eum_pem, error) ||
		    !ql_vcard_json_get_string(id, "euicc", TRUE, &card->euicc_pem, error) ||
		    !ql_vcard_json_get_string(id, "euicc_key", TRUE, &card->euicc_key_pem, error))
			return FALSE;
		if (!ql_vcard_identity_load_pems(card, error))
			return FALSE;
		g_free(card->eid);
		card->eid = ql_pki_subject_serial_number(card->euicc.crt);
		if (!ql_vcard_check_eid(card, "embedded eUICC certificate", error))
			return FALSE;
	}
	/* the EID recorded must be the certificate's: a mismatch means a hand-edited file */
	{
		g_autofree gchar *eid = NULL;
		if (!ql_vcard_json_get_string(o, "eid", TRUE, &eid, error))
			return FALSE;
		if (g_strcmp0(eid, card->eid) != 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "EID %s does not match the eUICC certificate's %s", eid,
				    card->eid);
			return FALSE;
		}
	}

	arr = ql_vcard_json_get_array(o, "profiles", error);
	if (arr == NULL)
		return FALSE;
	for (guint i = 0; i < json_array_get_length(arr); i++) {
		JsonObject *po = ql_vcard_json_element_object(arr, i, "profile", error);
		QlVcardProfile *p;
		if (po == NULL)
			return FALSE;
		p = ql_vcard_json_read_profile(po, error);
		if (p == NULL)
			return FALSE;
		g_ptr_array_add(card->profiles, p);
	}
	arr = ql_vcard_json_get_array(o, "notifications", error);
	if (arr == NULL)
		return FALSE;
	for (guint i = 0; i < json_array_get_length(arr); i++) {
		JsonObject *no = ql_vcard_json_element_object(arr, i, "notification", error);
		QlVcardNotification *n;
		if (no == NULL)
			return FALSE;
		n = ql_vcard_json_read_notification(no, error);
		if (n == NULL)
			return FALSE;
		g_ptr_array_add(card->notifications, n);
	}
	return TRUE;
}

gboolean
ql_vcard_state_load(QlVcard *card, GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new();
	g_autoptr(GError) error_local = NULL;
	g_autofree gchar *text = NULL;
	gsize len = 0;

	if (!g_file_get_contents(card->state_path, &text, &len, &error_local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "cannot read the virtual eUICC state file %s: %s", card->state_path,
			    error_local->message);
		return FALSE;
	}
	/* a broken state file is a broken device (QL_ERROR_IO, as ql-error.h files the state
	 * file), not data the card sent */
	if (!json_parser_load_from_data(parser, text, (gssize)len, &error_local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "the virtual eUICC state file %s is corrupt: %s", card->state_path,
			    error_local->message);
		return FALSE;
	}
	if (!ql_vcard_state_parse(card, json_parser_get_root(parser), &error_local)) {
		gint code =
			error_local->domain == QL_ERROR && error_local->code != QL_ERROR_MALFORMED
				? error_local->code
				: QL_ERROR_IO;
		g_set_error(error, QL_ERROR, code,
			    "the virtual eUICC state file %s is not usable: %s", card->state_path,
			    error_local->message);
		return FALSE;
	}
	return TRUE;
}
