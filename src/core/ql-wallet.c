/*
 * The activation-code wallet. See ql-wallet.h.
 *
 * A record's plaintext is E2 { 80 activation code (UTF8String), 81 time added (Unix seconds) }.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-audit.h"
#include "ql-crypto.h"
#include "ql-tlv.h"
#include "ql-wallet.h"

#define QL_WALLET_KIND "code"
#define QL_WALLET_TAG 0xE2

void
ql_wallet_entry_free(QlWalletEntry *entry)
{
	if (entry == NULL)
		return;
	g_free(entry->label);
	g_free(entry->smdp_address);
	g_clear_error(&entry->error);
	g_free(entry);
}

/* The code and the time it was added, from a record's plaintext. The code is wiped when freed
 * by the caller (ql_wallet_secret_free). */
static gboolean
ql_wallet_decode(GBytes *plain, const gchar *label, gchar **code, gint64 *added, GError **error)
{
	g_autoptr(GError) local = NULL;
	QlTlv top, t;

	if (!ql_tlv_read_exact(g_bytes_get_data(plain, NULL), g_bytes_get_size(plain),
			       QL_WALLET_TAG, &top, &local) ||
	    !ql_tlv_require(&top, 0x81, "time added", &t, &local) ||
	    !ql_tlv_get_int(&t, added, &local) ||
	    !ql_tlv_require(&top, 0x80, "activation code", &t, &local)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "wallet code '%s' is damaged: %s",
			    label, local->message);
		return FALSE;
	}
	*code = g_strndup((const gchar *)t.value, t.len);
	return TRUE;
}

static void
ql_wallet_secret_free(gchar *s)
{
	if (s != NULL)
		ql_crypto_wipe(s, strlen(s));
	g_free(s);
}

typedef gchar QlWalletSecret;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlWalletSecret, ql_wallet_secret_free)

static QlWalletEntry *
ql_wallet_entry_from(const gchar *label, GBytes *plain, GError *damage)
{
	QlWalletEntry *e = g_new0(QlWalletEntry, 1);
	g_autoptr(QlWalletSecret) code = NULL;
	g_autoptr(QlActivationCode) ac = NULL;

	e->label = g_strdup(label);
	if (damage != NULL) {
		e->error = g_error_copy(damage);
		return e;
	}
	if (!ql_wallet_decode(plain, label, &code, &e->added, &e->error))
		return e;
	ac = ql_activation_code_parse(code, &e->error);
	if (ac == NULL) {
		g_prefix_error(&e->error, "wallet code '%s': ", label);
		return e;
	}
	e->smdp_address = g_strdup(ac->smdp_address);
	e->confirmation_code_required = ac->confirmation_code_required;
	return e;
}

static gint
ql_wallet_entry_cmp(gconstpointer a, gconstpointer b)
{
	const QlWalletEntry *ea = *(QlWalletEntry *const *)a;
	const QlWalletEntry *eb = *(QlWalletEntry *const *)b;
	return strcmp(ea->label, eb->label);
}

GPtrArray *
ql_wallet_list(QlVault *vault, GError **error)
{
	g_autoptr(GPtrArray) records = ql_vault_list(vault, QL_WALLET_KIND, error);
	GPtrArray *out;

	if (records == NULL)
		return NULL;
	out = g_ptr_array_new_with_free_func((GDestroyNotify)ql_wallet_entry_free);
	for (guint i = 0; i < records->len; i++) {
		QlVaultEntry *r = g_ptr_array_index(records, i);
		g_ptr_array_add(out, ql_wallet_entry_from(r->id, r->data, r->error));
	}
	g_ptr_array_sort(out, ql_wallet_entry_cmp);
	return out;
}

static GBytes *
ql_wallet_open(QlVault *vault, const gchar *label, GError **error)
{
	g_autoptr(GError) local = NULL;
	GBytes *plain;

	if (!ql_vault_check_name("label", label, error))
		return NULL;
	plain = ql_vault_get(vault, QL_WALLET_KIND, label, NULL, &local);
	if (plain == NULL) {
		if (g_error_matches(local, QL_ERROR, QL_ERROR_NOT_FOUND))
			g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
				    "no code labelled '%s' in the wallet", label);
		else
			g_propagate_error(error, g_steal_pointer(&local));
	}
	return plain;
}

QlWalletEntry *
ql_wallet_lookup(QlVault *vault, const gchar *label, GError **error)
{
	g_autoptr(GBytes) plain = ql_wallet_open(vault, label, error);
	QlWalletEntry *e;

	if (plain == NULL)
		return NULL;
	e = ql_wallet_entry_from(label, plain, NULL);
	if (e->error != NULL) {
		g_propagate_error(error, g_steal_pointer(&e->error));
		ql_wallet_entry_free(e);
		return NULL;
	}
	return e;
}

/* A label from the SM-DP+ host: what the user will recognise, made unique with -2, -3... */
static gchar *
ql_wallet_default_label(QlVault *vault, const gchar *address)
{
	g_autoptr(GString) base = g_string_new(NULL);
	g_autofree gchar *host = NULL;
	guint16 port = 0;

	if (!ql_activation_split_address(address, &host, &port, NULL))
		host = g_strdup("code");
	for (const gchar *p = host; *p != '\0' && base->len < 56; p++)
		g_string_append_c(base, g_ascii_isalnum(*p) || *p == '.' || *p == '-' ? *p : '-');
	if (base->len == 0 || base->str[0] == '.')
		g_string_prepend(base, "code-");
	if (!ql_vault_contains(vault, QL_WALLET_KIND, base->str))
		return g_string_free(g_steal_pointer(&base), FALSE);
	for (guint n = 2;; n++) {
		gchar *label = g_strdup_printf("%s-%u", base->str, n);
		if (!ql_vault_contains(vault, QL_WALLET_KIND, label))
			return label;
		g_free(label);
	}
}

/* The label of the wallet code equal to @code, or NULL. */
static gchar *
ql_wallet_find_code(QlVault *vault, const gchar *code)
{
	g_autoptr(GPtrArray) records = ql_vault_list(vault, QL_WALLET_KIND, NULL);
	gsize len = strlen(code);

	for (guint i = 0; records != NULL && i < records->len; i++) {
		QlVaultEntry *r = g_ptr_array_index(records, i);
		g_autoptr(QlWalletSecret) other = NULL;
		gint64 added = 0;
		if (r->data == NULL || !ql_wallet_decode(r->data, r->id, &other, &added, NULL))
			continue;
		if (strlen(other) == len &&
		    ql_crypto_equal((const guint8 *)other, (const guint8 *)code, len))
			return g_strdup(r->id);
	}
	return NULL;
}

gchar *
ql_wallet_add(QlVault *vault, const gchar *activation_code, const gchar *label, GError **error)
{
	g_autoptr(QlActivationCode) ac = NULL;
	g_autoptr(QlWalletSecret) code = g_strstrip(g_strdup(activation_code));
	g_autoptr(QlTlvBuilder) b = NULL;
	g_autoptr(GBytes) plain = NULL;
	g_autoptr(GError) local = NULL;
	g_autofree gchar *chosen = NULL;
	g_autofree gchar *same = NULL;

	ac = ql_activation_code_parse(code, error);
	if (ac == NULL)
		return NULL;
	if (label != NULL && !ql_vault_check_name("label", label, error))
		return NULL;
	same = ql_wallet_find_code(vault, code);
	if (same != NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_BUSY,
			    "this activation code is already in the wallet as '%s'", same);
		return NULL;
	}
	chosen = label != NULL ? g_strdup(label) : ql_wallet_default_label(vault, ac->smdp_address);
	b = ql_tlv_builder_new();
	ql_tlv_builder_begin(b, QL_WALLET_TAG);
	ql_tlv_builder_add_string(b, 0x80, code);
	ql_tlv_builder_add_int(b, 0x81, g_get_real_time() / G_USEC_PER_SEC);
	ql_tlv_builder_end(b);
	{
		g_autoptr(GBytes) raw = ql_tlv_builder_finish(g_steal_pointer(&b));
		plain = ql_crypto_secret_bytes_new(g_bytes_get_data(raw, NULL),
						   g_bytes_get_size(raw));
		ql_crypto_wipe((gpointer)g_bytes_get_data(raw, NULL), g_bytes_get_size(raw));
	}
	/* the audit trail must take the record before the code is kept: an unrecorded change
	 * is worse than a refused one */
	if (!ql_audit_check_ready(vault, error))
		return NULL;
	if (!ql_vault_put(vault, QL_WALLET_KIND, chosen, NULL, g_bytes_get_data(plain, NULL),
			  g_bytes_get_size(plain), FALSE, &local)) {
		if (g_error_matches(local, QL_ERROR, QL_ERROR_BUSY))
			g_set_error(error, QL_ERROR, QL_ERROR_BUSY,
				    "a code labelled '%s' is already in the wallet", chosen);
		else
			g_propagate_error(error, g_steal_pointer(&local));
		return NULL;
	}
	if (!ql_audit_append(vault, "code-add", error, "label", chosen, "smdp", ac->smdp_address,
			     "confirmation-code", ac->confirmation_code_required ? "yes" : "no",
			     NULL)) {
		/* nothing unrecorded stays behind */
		ql_vault_remove(vault, QL_WALLET_KIND, chosen, NULL);
		return NULL;
	}
	return g_steal_pointer(&chosen);
}

gchar *
ql_wallet_reveal(QlVault *vault, const gchar *label, GError **error)
{
	g_autoptr(GBytes) plain = ql_wallet_open(vault, label, error);
	g_autoptr(QlWalletSecret) code = NULL;
	gint64 added = 0;

	if (plain == NULL || !ql_wallet_decode(plain, label, &code, &added, error))
		return NULL;
	if (!ql_audit_append(vault, "code-reveal", error, "label", label, NULL))
		return NULL;
	return g_steal_pointer(&code);
}

QlActivationCode *
ql_wallet_get(QlVault *vault, const gchar *label, GError **error)
{
	g_autoptr(GBytes) plain = ql_wallet_open(vault, label, error);
	g_autoptr(QlWalletSecret) code = NULL;
	QlActivationCode *ac;
	gint64 added = 0;

	if (plain == NULL || !ql_wallet_decode(plain, label, &code, &added, error))
		return NULL;
	ac = ql_activation_code_parse(code, error);
	if (ac == NULL)
		g_prefix_error(error, "wallet code '%s': ", label);
	return ac;
}

gboolean
ql_wallet_used(QlVault *vault, const gchar *label, const gchar *iccid, gboolean keep,
	       GError **error)
{
	if (!ql_audit_append(vault, "code-use", error, "label", label, "iccid", iccid, "kept",
			     keep ? "yes" : "no", NULL))
		return FALSE;
	if (keep)
		return TRUE;
	if (!ql_vault_remove(vault, QL_WALLET_KIND, label, error))
		return FALSE;
	return TRUE;
}

gboolean
ql_wallet_remove(QlVault *vault, const gchar *label, GError **error)
{
	g_autoptr(GError) local = NULL;

	if (!ql_vault_check_name("label", label, error))
		return FALSE;
	if (!ql_vault_contains(vault, QL_WALLET_KIND, label)) {
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "no code labelled '%s' in the wallet", label);
		return FALSE;
	}
	if (!ql_audit_check_ready(vault, error))
		return FALSE;
	if (!ql_vault_remove(vault, QL_WALLET_KIND, label, error))
		return FALSE;
	return ql_audit_append(vault, "code-remove", error, "label", label, NULL);
}
