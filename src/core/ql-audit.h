/*
 * The audit trail: one line per state change in STATE_DIR/audit.log, append-only, each record
 * numbered and timed, chained by HMAC-SHA256 under a key kept in the vault (record audit/key):
 *
 *   seq=N<TAB>time=2025-01-31T12:00:00Z<TAB>action=ACTION[<TAB>KEY=VALUE]...<TAB>mac=HEX
 *
 * mac = HMAC-SHA256(key, mac of the previous record (32 zero bytes before the first) || the line
 * up to, without, "<TAB>mac="). Values are %-escaped (%, TAB, newline, control bytes). The vault
 * also holds a sealed record of the last sequence number and MAC (audit/tail), so a log cut at
 * its end, or replaced by an older copy, is caught as well as an edited, deleted or reordered
 * record. Secrets never go into the log: callers pass what identifies an operation (ICCIDs,
 * hosts, labels, outcomes), never codes or matching ids.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#pragma once

#include <glib.h>

#include "ql-crypto.h"
#include "ql-vault.h"

G_BEGIN_DECLS

typedef struct {
	guint64 seq;
	gchar *time;   /* ISO 8601, UTC */
	gchar *action; /* e.g. "profile-enable" */
	GPtrArray *keys;
	GPtrArray *values;		  /* unescaped */
	guint8 mac[QL_CRYPTO_SHA256_LEN]; /* as written in the record */
	gsize signed_len;		  /* bytes of the line the MAC covers */
} QlAuditRecord;

void ql_audit_record_free(QlAuditRecord *rec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QlAuditRecord, ql_audit_record_free)

/* The value of @key in @rec, or NULL. */
const gchar *ql_audit_record_get(const QlAuditRecord *rec, const gchar *key);

/* Parses one line (without its newline). Structure only: the MAC is not checked. */
QlAuditRecord *ql_audit_record_parse(const gchar *line, gsize len, GError **error);

/* Appends a record of @action with the NULL-terminated @fields (key, value, key, value, ...;
 * a NULL value is left out) to the trail of @vault's state directory, under a lock, and
 * updates the sealed tail. Keys: [a-z0-9_-]+. */
gboolean ql_audit_appendv(QlVault *vault, const gchar *action, const gchar *const *fields,
			  GError **error);
gboolean ql_audit_append(QlVault *vault, const gchar *action, GError **error,
			 ...) G_GNUC_NULL_TERMINATED;

/* Checks that the trail can be appended to (its key opens, its tail agrees with the log), so a
 * caller can refuse an operation before doing it rather than leave it unrecorded. */
gboolean ql_audit_check_ready(QlVault *vault, GError **error);

/* Every record of the log of @state_dir, in file order; no key needed. A line that does not parse
 * fails the read, naming its line. */
GPtrArray *ql_audit_read(const gchar *state_dir, GError **error);

typedef enum {
	QL_AUDIT_OK,
	QL_AUDIT_MALFORMED, /* a line is not a record */
	QL_AUDIT_EDITED,    /* its MAC does not match */
	QL_AUDIT_DELETED,   /* a sequence number is missing */
	QL_AUDIT_REORDERED, /* records out of order */
	QL_AUDIT_TRUNCATED, /* the log ends before the sealed tail */
	QL_AUDIT_TAIL,	    /* the sealed tail is missing or disagrees with the log */
} QlAuditProblem;

const gchar *ql_audit_problem_to_string(QlAuditProblem problem);

typedef struct {
	QlAuditProblem problem;
	guint64 records; /* records read, good or not */
	guint64 bad_seq; /* the first bad record's sequence number (0: none) */
	guint bad_line;	 /* its line in the log (0: none / past the end) */
	gchar *message;	 /* what is wrong, naming the record; NULL when OK */
} QlAuditVerification;

void ql_audit_verification_clear(QlAuditVerification *v);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QlAuditVerification, ql_audit_verification_clear)

/* Checks the whole trail: chain, order, sequence, and the sealed tail. FALSE (with @error) only
 * when it cannot check at all (vault key, I/O); a bad trail is TRUE with @out->problem set. */
gboolean ql_audit_verify(QlVault *vault, QlAuditVerification *out, GError **error);

G_END_DECLS
