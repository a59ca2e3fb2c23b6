/*
 * The audit trail. See ql-audit.h.
 *
 * Appends are serialised with flock() on the log, so the CLI and the service can both write.
 * The record that an append chains to is the sealed tail, not the last line of the file: a log
 * cut short stays visibly cut after the next append. The one exception is a record appended
 * whose tail update did not happen (a crash between the two): it is adopted if it chains
 * correctly from the tail.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quantra-l/ql-error.h"
#include "ql-audit.h"
#include "ql-tlv.h"

#define QL_AUDIT_KIND "audit"
#define QL_AUDIT_LOG "audit.log"
#define QL_AUDIT_TAG_TAIL 0xE3
#define QL_AUDIT_MAC_HEX (QL_CRYPTO_SHA256_LEN * 2)
#define QL_AUDIT_MAX_VALUE 1024
#define QL_AUDIT_MAX_LINE (64 * 1024)

/* --- records --- */

void
ql_audit_record_free(QlAuditRecord *rec)
{
	if (rec == NULL)
		return;
	g_free(rec->time);
	g_free(rec->action);
	g_clear_pointer(&rec->keys, g_ptr_array_unref);
	g_clear_pointer(&rec->values, g_ptr_array_unref);
	g_free(rec);
}

const gchar *
ql_audit_record_get(const QlAuditRecord *rec, const gchar *key)
{
	for (guint i = 0; i < rec->keys->len; i++) {
		if (g_strcmp0(g_ptr_array_index(rec->keys, i), key) == 0)
			return g_ptr_array_index(rec->values, i);
	}
	return NULL;
}

static gboolean
ql_audit_key_ok(const gchar *key, gsize len)
{
	if (len == 0 || len > 64)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		if (!g_ascii_islower(key[i]) && !g_ascii_isdigit(key[i]) && key[i] != '-' &&
		    key[i] != '_')
			return FALSE;
	}
	return TRUE;
}

static void
ql_audit_escape(GString *out, const gchar *value)
{
	gsize n = 0;
	for (const guchar *p = (const guchar *)value; *p != '\0' && n < QL_AUDIT_MAX_VALUE;
	     p++, n++) {
		if (*p == '%' || *p < 0x20 || *p == 0x7f)
			g_string_append_printf(out, "%%%02X", *p);
		else
			g_string_append_c(out, (gchar)*p);
	}
}

static gchar *
ql_audit_unescape(const gchar *s, gsize len, GError **error)
{
	g_autoptr(GString) out = g_string_sized_new(len);
	for (gsize i = 0; i < len; i++) {
		guchar c = (guchar)s[i];
		if (c == '%') {
			gint hi, lo;
			if (i + 2 >= len || (hi = g_ascii_xdigit_value(s[i + 1])) < 0 ||
			    (lo = g_ascii_xdigit_value(s[i + 2])) < 0) {
				g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
						    "bad %-escape in a value");
				return NULL;
			}
			c = (guchar)(hi * 16 + lo);
			if (c == 0) {
				g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
						    "NUL byte in a value");
				return NULL;
			}
			i += 2;
		} else if (c < 0x20 || c == 0x7f) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
					    "control byte in a value");
			return NULL;
		}
		g_string_append_c(out, (gchar)c);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/* Splits "key=value" (@len bytes at @s) and checks the key is @want (NULL: any valid key). */
static gboolean
ql_audit_field(const gchar *s, gsize len, const gchar *want, gchar **key, gchar **value,
	       GError **error)
{
	const gchar *eq = memchr(s, '=', len);
	gsize klen;

	if (eq == NULL || !ql_audit_key_ok(s, (gsize)(eq - s))) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "a field is not KEY=VALUE");
		return FALSE;
	}
	klen = (gsize)(eq - s);
	if (want != NULL && (strlen(want) != klen || strncmp(s, want, klen) != 0)) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "expected the field %s", want);
		return FALSE;
	}
	*value = ql_audit_unescape(eq + 1, len - klen - 1, error);
	if (*value == NULL)
		return FALSE;
	*key = g_strndup(s, klen);
	return TRUE;
}

QlAuditRecord *
ql_audit_record_parse(const gchar *line, gsize len, GError **error)
{
	g_autoptr(QlAuditRecord) rec = g_new0(QlAuditRecord, 1);
	g_autoptr(GPtrArray) spans = g_ptr_array_new();
	g_autoptr(GBytes) mac = NULL;
	g_autofree gchar *seq = NULL, *k = NULL, *v = NULL;
	const gchar *start = line;
	const gchar *end = line + len;
	const gchar *last_tab;
	guint64 n = 0;

	rec->keys = g_ptr_array_new_with_free_func(g_free);
	rec->values = g_ptr_array_new_with_free_func(g_free);
	if (len == 0 || len > QL_AUDIT_MAX_LINE || memchr(line, '\n', len) != NULL ||
	    memchr(line, '\0', len) != NULL) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    len == 0 ? "empty line" : "not one line of text");
		return NULL;
	}
	/* the MAC: the last field, exactly "mac=" and 64 hex digits */
	last_tab = g_strrstr_len(line, (gssize)len, "\t");
	if (last_tab == NULL || (gsize)(end - last_tab) != 1 + 4 + QL_AUDIT_MAC_HEX ||
	    strncmp(last_tab + 1, "mac=", 4) != 0) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the record does not end with its MAC");
		return NULL;
	}
	{
		g_autofree gchar *hex = g_strndup(last_tab + 5, QL_AUDIT_MAC_HEX);
		mac = ql_hex_decode(hex, NULL);
		if (mac == NULL || g_bytes_get_size(mac) != QL_CRYPTO_SHA256_LEN) {
			g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
					    "the record's MAC is not 64 hex digits");
			return NULL;
		}
		memcpy(rec->mac, g_bytes_get_data(mac, NULL), QL_CRYPTO_SHA256_LEN);
	}
	rec->signed_len = (gsize)(last_tab - line);
	end = last_tab;
	for (guint i = 0; start <= end; i++) {
		const gchar *tab = memchr(start, '\t', (gsize)(end - start));
		const gchar *stop = tab != NULL ? tab : end;
		gsize flen = (gsize)(stop - start);
		g_clear_pointer(&k, g_free);
		g_clear_pointer(&v, g_free);
		if (!ql_audit_field(start, flen,
				    i == 0   ? "seq"
				    : i == 1 ? "time"
				    : i == 2 ? "action"
					     : NULL,
				    &k, &v, error))
			return NULL;
		if (i == 0)
			seq = g_steal_pointer(&v);
		else if (i == 1)
			rec->time = g_steal_pointer(&v);
		else if (i == 2)
			rec->action = g_steal_pointer(&v);
		else {
			g_ptr_array_add(rec->keys, g_steal_pointer(&k));
			g_ptr_array_add(rec->values, g_steal_pointer(&v));
		}
		if (tab == NULL)
			break;
		start = tab + 1;
	}
	if (seq == NULL || rec->time == NULL || rec->action == NULL) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the record lacks seq, time or action");
		return NULL;
	}
	if (seq[0] == '0' || !g_ascii_string_to_unsigned(seq, 10, 1, G_MAXUINT64, &n, NULL)) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the sequence number is not a number from 1");
		return NULL;
	}
	rec->seq = n;
	return g_steal_pointer(&rec);
}

/* --- the key and the tail in the vault --- */

static gboolean
ql_audit_key(QlVault *vault, gboolean create, guint8 key[QL_CRYPTO_SHA256_LEN], GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GBytes) b = ql_vault_get(vault, QL_AUDIT_KIND, "key", NULL, &local);

	if (b == NULL && create && g_error_matches(local, QL_ERROR, QL_ERROR_NOT_FOUND)) {
		guint8 fresh[QL_CRYPTO_SHA256_LEN];
		g_clear_error(&local);
		if (!ql_crypto_random(fresh, sizeof(fresh), error))
			return FALSE;
		if (!ql_vault_put(vault, QL_AUDIT_KIND, "key", NULL, fresh, sizeof(fresh), FALSE,
				  &local) &&
		    !g_error_matches(local, QL_ERROR, QL_ERROR_BUSY)) {
			ql_crypto_wipe(fresh, sizeof(fresh));
			g_propagate_error(error, g_steal_pointer(&local));
			return FALSE;
		}
		ql_crypto_wipe(fresh, sizeof(fresh));
		g_clear_error(&local);
		b = ql_vault_get(vault, QL_AUDIT_KIND, "key", NULL, &local);
	}
	if (b == NULL) {
		g_propagate_prefixed_error(error, g_steal_pointer(&local), "the audit key: ");
		return FALSE;
	}
	if (g_bytes_get_size(b) != QL_CRYPTO_SHA256_LEN) {
		g_set_error_literal(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "the audit key in the vault has the wrong size");
		return FALSE;
	}
	memcpy(key, g_bytes_get_data(b, NULL), QL_CRYPTO_SHA256_LEN);
	return TRUE;
}

/* The sealed tail: FALSE with @error on damage; TRUE with *found FALSE when absent. */
static gboolean
ql_audit_tail(QlVault *vault, gboolean *found, guint64 *seq, guint8 mac[QL_CRYPTO_SHA256_LEN],
	      GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GBytes) b = ql_vault_get(vault, QL_AUDIT_KIND, "tail", NULL, &local);
	QlTlv top, t;
	gint64 n = 0;

	*found = FALSE;
	*seq = 0;
	memset(mac, 0, QL_CRYPTO_SHA256_LEN);
	if (b == NULL) {
		if (g_error_matches(local, QL_ERROR, QL_ERROR_NOT_FOUND))
			return TRUE;
		g_propagate_error(error, g_steal_pointer(&local));
		return FALSE;
	}
	if (!ql_tlv_read_exact(g_bytes_get_data(b, NULL), g_bytes_get_size(b), QL_AUDIT_TAG_TAIL,
			       &top, &local) ||
	    !ql_tlv_require(&top, 0x80, "sequence number", &t, &local) ||
	    !ql_tlv_get_int(&t, &n, &local) || n < 0 ||
	    !ql_tlv_require(&top, 0x81, "MAC", &t, &local) || t.len != QL_CRYPTO_SHA256_LEN) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "the sealed audit tail is bad: %s",
			    local != NULL ? local->message : "wrong MAC size");
		return FALSE;
	}
	memcpy(mac, t.value, QL_CRYPTO_SHA256_LEN);
	*seq = (guint64)n;
	*found = TRUE;
	return TRUE;
}

static gboolean
ql_audit_put_tail(QlVault *vault, guint64 seq, const guint8 mac[QL_CRYPTO_SHA256_LEN],
		  GError **error)
{
	g_autoptr(QlTlvBuilder) b = ql_tlv_builder_new();
	g_autoptr(GBytes) raw = NULL;
	ql_tlv_builder_begin(b, QL_AUDIT_TAG_TAIL);
	ql_tlv_builder_add_int(b, 0x80, (gint64)seq);
	ql_tlv_builder_add(b, 0x81, mac, QL_CRYPTO_SHA256_LEN);
	ql_tlv_builder_end(b);
	raw = ql_tlv_builder_finish(g_steal_pointer(&b));
	return ql_vault_put(vault, QL_AUDIT_KIND, "tail", NULL, g_bytes_get_data(raw, NULL),
			    g_bytes_get_size(raw), TRUE, error);
}

static gboolean
ql_audit_mac(const guint8 key[QL_CRYPTO_SHA256_LEN], const guint8 prev[QL_CRYPTO_SHA256_LEN],
	     const gchar *line, gsize len, guint8 out[QL_CRYPTO_SHA256_LEN], GError **error)
{
	g_autofree guint8 *buf = g_malloc(QL_CRYPTO_SHA256_LEN + len);
	memcpy(buf, prev, QL_CRYPTO_SHA256_LEN);
	memcpy(buf + QL_CRYPTO_SHA256_LEN, line, len);
	return ql_crypto_hmac_sha256(key, QL_CRYPTO_SHA256_LEN, buf, QL_CRYPTO_SHA256_LEN + len,
				     out, error);
}

/* --- appending --- */

static gchar *
ql_audit_log_path(const gchar *state_dir)
{
	return g_build_filename(state_dir, QL_AUDIT_LOG, NULL);
}

/* Reads the last @max bytes of @fd (all of it when smaller); @size gets the file size. */
static gchar *
ql_audit_read_end(int fd, gsize max, gsize *size, gsize *got, GError **error)
{
	struct stat st;
	gsize want, done = 0;
	g_autofree gchar *buf = NULL;

	if (fstat(fd, &st) != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "audit log: %s", g_strerror(errno));
		return NULL;
	}
	*size = (gsize)st.st_size;
	want = MIN(*size, max);
	buf = g_malloc(want + 1);
	while (done < want) {
		ssize_t n = pread(fd, buf + done, want - done, (off_t)(*size - want + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_IO, "audit log: %s",
				    n < 0 ? g_strerror(errno) : "short read");
			return NULL;
		}
		done += (gsize)n;
	}
	buf[want] = '\0';
	*got = want;
	return g_steal_pointer(&buf);
}

static gboolean
ql_audit_write_all(int fd, const gchar *data, gsize len, GError **error)
{
	gsize done = 0;
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_IO, "cannot write the audit log: %s",
				    n < 0 ? g_strerror(errno) : "short write");
			return FALSE;
		}
		done += (gsize)n;
	}
	return TRUE;
}

static int
ql_audit_open_locked(const gchar *path, GError **error)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "cannot open the audit log %s: %s", path,
			    g_strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			g_set_error(error, QL_ERROR, QL_ERROR_IO, "cannot lock the audit log: %s",
				    g_strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* Under the lock: where the next record chains from. Adopts a last record that chains from the
 * tail (appended, but the tail not updated), and cuts an incomplete last line (an interrupted
 * write) off. */
static gboolean
ql_audit_position(QlVault *vault, int fd, const guint8 key[QL_CRYPTO_SHA256_LEN], guint64 *seq,
		  guint8 mac[QL_CRYPTO_SHA256_LEN], GError **error)
{
	g_autofree gchar *end = NULL;
	gsize size = 0, got = 0;
	gboolean found = FALSE;
	const gchar *nl;

	if (!ql_audit_tail(vault, &found, seq, mac, error))
		return FALSE;
	end = ql_audit_read_end(fd, QL_AUDIT_MAX_LINE + 2, &size, &got, error);
	if (end == NULL)
		return FALSE;
	if (!found && size > 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_AUTH,
			    "the audit trail's sealed tail record is missing from the vault, so "
			    "the log in %s can no longer be trusted; nothing is done until it is "
			    "moved aside",
			    ql_vault_get_state_dir(vault));
		return FALSE;
	}
	if (got > 0 && end[got - 1] != '\n') {
		/* an interrupted append: never sealed, so never part of the trail */
		const gchar *last_nl = g_strrstr_len(end, (gssize)got, "\n");
		gsize keep = last_nl != NULL ? size - got + (gsize)(last_nl - end) + 1 : 0;
		if ((last_nl == NULL && got < size) || ftruncate(fd, (off_t)keep) != 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_IO,
				    "the audit log ends in an incomplete line that cannot be cut");
			return FALSE;
		}
		got = last_nl != NULL ? (gsize)(last_nl - end) + 1 : 0;
		size = keep;
	}
	if (got < 2)
		return TRUE;
	/* the last complete line */
	end[got - 1] = '\0';
	nl = strrchr(end, '\n');
	{
		const gchar *line = nl != NULL ? nl + 1 : end;
		g_autoptr(QlAuditRecord) rec = NULL;
		guint8 want[QL_CRYPTO_SHA256_LEN];
		if (nl == NULL && got < size)
			return TRUE; /* longer than any record: leave it to verify */
		rec = ql_audit_record_parse(line, strlen(line), NULL);
		if (rec == NULL || rec->seq != *seq + 1)
			return TRUE;
		if (!ql_audit_mac(key, mac, line, rec->signed_len, want, error))
			return FALSE;
		if (ql_crypto_equal(want, rec->mac, QL_CRYPTO_SHA256_LEN)) {
			*seq = rec->seq;
			memcpy(mac, rec->mac, QL_CRYPTO_SHA256_LEN);
		}
	}
	return TRUE;
}

gboolean
ql_audit_appendv(QlVault *vault, const gchar *action, const gchar *const *fields, GError **error)
{
	g_autofree gchar *path = ql_audit_log_path(ql_vault_get_state_dir(vault));
	g_autoptr(GString) line = g_string_new(NULL);
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree gchar *time = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");
	g_autofree gchar *mac_hex = NULL;
	guint8 key[QL_CRYPTO_SHA256_LEN];
	guint8 mac[QL_CRYPTO_SHA256_LEN];
	guint64 seq = 0;
	gboolean ok = FALSE;
	int fd;

	if (!ql_audit_key_ok(action, strlen(action))) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT, "bad audit action '%s'",
			    action);
		return FALSE;
	}
	for (guint i = 0; fields != NULL && fields[i] != NULL; i += 2) {
		if (!ql_audit_key_ok(fields[i], strlen(fields[i])) ||
		    g_strcmp0(fields[i], "seq") == 0 || g_strcmp0(fields[i], "time") == 0 ||
		    g_strcmp0(fields[i], "action") == 0 || g_strcmp0(fields[i], "mac") == 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "bad audit field '%s'", fields[i]);
			return FALSE;
		}
	}
	if (!ql_audit_key(vault, TRUE, key, error))
		return FALSE;
	fd = ql_audit_open_locked(path, error);
	if (fd < 0)
		goto out;
	if (!ql_audit_position(vault, fd, key, &seq, mac, error))
		goto out;
	seq++;
	g_string_append_printf(line, "seq=%" G_GUINT64_FORMAT "\ttime=%s\taction=%s", seq, time,
			       action);
	for (guint i = 0; fields != NULL && fields[i] != NULL; i += 2) {
		if (fields[i + 1] == NULL)
			continue;
		g_string_append_printf(line, "\t%s=", fields[i]);
		ql_audit_escape(line, fields[i + 1]);
	}
	if (!ql_audit_mac(key, mac, line->str, line->len, mac, error))
		goto out;
	mac_hex = ql_hex_encode(mac, sizeof(mac));
	g_string_append_printf(line, "\tmac=%s\n", mac_hex);
	if (lseek(fd, 0, SEEK_END) < 0 || !ql_audit_write_all(fd, line->str, line->len, error))
		goto out;
	if (fsync(fd) != 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "cannot sync the audit log: %s",
			    g_strerror(errno));
		goto out;
	}
	ok = ql_audit_put_tail(vault, seq, mac, error);
out:
	ql_crypto_wipe(key, sizeof(key));
	if (fd >= 0)
		close(fd); /* releases the lock */
	return ok;
}

gboolean
ql_audit_append(QlVault *vault, const gchar *action, GError **error, ...)
{
	g_autoptr(GPtrArray) fields = g_ptr_array_new();
	va_list ap;
	const gchar *k;

	va_start(ap, error);
	while ((k = va_arg(ap, const gchar *)) != NULL) {
		g_ptr_array_add(fields, (gpointer)k);
		g_ptr_array_add(fields, (gpointer)va_arg(ap, const gchar *));
	}
	va_end(ap);
	g_ptr_array_add(fields, NULL);
	return ql_audit_appendv(vault, action, (const gchar *const *)fields->pdata, error);
}

gboolean
ql_audit_check_ready(QlVault *vault, GError **error)
{
	g_autofree gchar *path = ql_audit_log_path(ql_vault_get_state_dir(vault));
	guint8 key[QL_CRYPTO_SHA256_LEN];
	guint8 mac[QL_CRYPTO_SHA256_LEN];
	gboolean found = FALSE;
	guint64 seq = 0;
	GStatBuf st;

	if (!ql_audit_key(vault, TRUE, key, error))
		return FALSE;
	ql_crypto_wipe(key, sizeof(key));
	if (!ql_audit_tail(vault, &found, &seq, mac, error))
		return FALSE;
	if (!found && g_stat(path, &st) == 0 && st.st_size > 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_AUTH,
			    "the audit trail's sealed tail record is missing from the vault, so "
			    "the log %s can no longer be trusted; nothing is done until it is "
			    "moved aside",
			    path);
		return FALSE;
	}
	return TRUE;
}

/* --- reading and verifying --- */

/* The lines of the log; @complete is FALSE when the last one has no newline. */
static gchar **
ql_audit_lines(const gchar *state_dir, gboolean *complete, GError **error)
{
	g_autofree gchar *path = ql_audit_log_path(state_dir);
	g_autofree gchar *text = NULL;
	g_autoptr(GError) local = NULL;
	gsize len = 0;

	*complete = TRUE;
	if (!g_file_get_contents(path, &text, &len, &local)) {
		if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return g_new0(gchar *, 1);
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "%s", local->message);
		return NULL;
	}
	if (memchr(text, '\0', len) != NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED, "the audit log %s holds NUL bytes",
			    path);
		return NULL;
	}
	if (len == 0)
		return g_new0(gchar *, 1);
	*complete = text[len - 1] == '\n';
	if (*complete)
		text[len - 1] = '\0';
	return g_strsplit(text, "\n", -1);
}

GPtrArray *
ql_audit_read(const gchar *state_dir, GError **error)
{
	g_autoptr(GPtrArray) out =
		g_ptr_array_new_with_free_func((GDestroyNotify)ql_audit_record_free);
	gboolean complete = TRUE;
	g_auto(GStrv) lines = ql_audit_lines(state_dir, &complete, error);

	if (lines == NULL)
		return NULL;
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autoptr(GError) local = NULL;
		QlAuditRecord *rec = ql_audit_record_parse(lines[i], strlen(lines[i]), &local);
		if (rec == NULL) {
			g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
				    "audit log line %u is not a record: %s", i + 1, local->message);
			return NULL;
		}
		g_ptr_array_add(out, rec);
	}
	return g_steal_pointer(&out);
}

const gchar *
ql_audit_problem_to_string(QlAuditProblem problem)
{
	switch (problem) {
	case QL_AUDIT_OK:
		return "ok";
	case QL_AUDIT_MALFORMED:
		return "malformed";
	case QL_AUDIT_EDITED:
		return "edited";
	case QL_AUDIT_DELETED:
		return "deleted";
	case QL_AUDIT_REORDERED:
		return "reordered";
	case QL_AUDIT_TRUNCATED:
		return "truncated";
	case QL_AUDIT_TAIL:
		return "tail";
	}
	return "unknown";
}

void
ql_audit_verification_clear(QlAuditVerification *v)
{
	g_clear_pointer(&v->message, g_free);
}

static gboolean
ql_audit_bad(QlAuditVerification *out, QlAuditProblem problem, guint64 seq, guint line,
	     gchar *message)
{
	out->problem = problem;
	out->bad_seq = seq;
	out->bad_line = line;
	out->message = message;
	return TRUE;
}

gboolean
ql_audit_verify(QlVault *vault, QlAuditVerification *out, GError **error)
{
	g_autoptr(GPtrArray) recs =
		g_ptr_array_new_with_free_func((GDestroyNotify)ql_audit_record_free);
	gboolean complete = TRUE, found = FALSE;
	g_auto(GStrv) lines = NULL;
	guint8 key[QL_CRYPTO_SHA256_LEN];
	guint8 prev[QL_CRYPTO_SHA256_LEN] = {0};
	guint8 tail_mac[QL_CRYPTO_SHA256_LEN];
	guint64 tail_seq = 0, expected = 1;
	gboolean ok = FALSE;

	memset(out, 0, sizeof(*out));
	lines = ql_audit_lines(ql_vault_get_state_dir(vault), &complete, error);
	if (lines == NULL)
		return FALSE;
	if (!ql_audit_tail(vault, &found, &tail_seq, tail_mac, error))
		return FALSE;
	if (!found && lines[0] == NULL)
		return TRUE; /* nothing recorded yet */
	if (!ql_audit_key(vault, FALSE, key, error))
		return FALSE;
	/* parse everything first: telling a deletion from a reordering needs what comes later */
	for (guint i = 0; lines[i] != NULL; i++) {
		g_autoptr(GError) local = NULL;
		QlAuditRecord *rec = ql_audit_record_parse(lines[i], strlen(lines[i]), &local);
		out->records++;
		if (rec == NULL || (lines[i + 1] == NULL && !complete)) {
			ok = ql_audit_bad(
				out, QL_AUDIT_MALFORMED, 0, i + 1,
				g_strdup_printf("line %u of the audit log is not a record%s%s",
						i + 1, rec == NULL ? ": " : " (no end of line)",
						rec == NULL ? local->message : ""));
			ql_audit_record_free(rec);
			goto out;
		}
		g_ptr_array_add(recs, rec);
	}
	for (guint i = 0; i < recs->len; i++) {
		QlAuditRecord *rec = g_ptr_array_index(recs, i);
		guint8 want[QL_CRYPTO_SHA256_LEN];
		if (rec->seq != expected) {
			guint later = 0;
			for (guint j = i + 1; j < recs->len && later == 0; j++) {
				QlAuditRecord *r = g_ptr_array_index(recs, j);
				if (r->seq == expected)
					later = j + 1;
			}
			if (later != 0 || rec->seq < expected)
				ok = ql_audit_bad(
					out, QL_AUDIT_REORDERED, rec->seq, i + 1,
					g_strdup_printf("record %" G_GUINT64_FORMAT
							" is out of order: line %u holds it where "
							"record %" G_GUINT64_FORMAT " belongs",
							rec->seq, i + 1, expected));
			else
				ok = ql_audit_bad(
					out, QL_AUDIT_DELETED, expected, i + 1,
					g_strdup_printf("record %" G_GUINT64_FORMAT
							" was deleted: line %u holds record "
							"%" G_GUINT64_FORMAT " in its place",
							expected, i + 1, rec->seq));
			goto out;
		}
		if (!ql_audit_mac(key, prev, lines[i], rec->signed_len, want, error))
			goto fail;
		if (!ql_crypto_equal(want, rec->mac, sizeof(want))) {
			ok = ql_audit_bad(out, QL_AUDIT_EDITED, rec->seq, i + 1,
					  g_strdup_printf("record %" G_GUINT64_FORMAT
							  " (line %u) was changed: its MAC does "
							  "not match",
							  rec->seq, i + 1));
			goto out;
		}
		if (found && rec->seq == tail_seq &&
		    !ql_crypto_equal(rec->mac, tail_mac, sizeof(tail_mac))) {
			ok = ql_audit_bad(out, QL_AUDIT_TAIL, rec->seq, i + 1,
					  g_strdup_printf("record %" G_GUINT64_FORMAT
							  " (line %u) is not the one the sealed "
							  "tail recorded: the log was replaced",
							  rec->seq, i + 1));
			goto out;
		}
		memcpy(prev, rec->mac, sizeof(prev));
		expected++;
	}
	if (!found) {
		ok = ql_audit_bad(out, QL_AUDIT_TAIL, 0, 0,
				  g_strdup("the sealed tail record of the audit trail is missing "
					   "from the vault"));
	} else if (tail_seq > expected - 1) {
		ok = ql_audit_bad(
			out, QL_AUDIT_TRUNCATED, expected, recs->len + 1,
			g_strdup_printf("the log was cut: record %" G_GUINT64_FORMAT
					" and those after it, up to record %" G_GUINT64_FORMAT
					" (the last the sealed tail recorded), are missing",
					expected, tail_seq));
	} else if (expected - 1 > tail_seq + 1) {
		/* one record past the tail is an append whose tail update was cut short */
		ok = ql_audit_bad(out, QL_AUDIT_TAIL, tail_seq + 2, (guint)(tail_seq + 2),
				  g_strdup_printf("records from %" G_GUINT64_FORMAT
						  " on are not covered by the sealed tail",
						  tail_seq + 2));
	} else {
		ok = TRUE;
	}
out:
	ql_crypto_wipe(key, sizeof(key));
	return ok;
fail:
	ql_crypto_wipe(key, sizeof(key));
	return FALSE;
}
