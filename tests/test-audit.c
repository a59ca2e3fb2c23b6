/*
 * The audit trail: a clean chain verifies; an edited, deleted, reordered or cut record is caught
 * and named; the sealed tail keeps a cut visible after later appends; interrupted appends heal.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-audit.h"
#include "ql-vault.h"

typedef struct {
	gchar *dir;
	gchar *log;
	QlVault *vault;
} Fixture;

static void
append(Fixture *f, guint n)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *iccid = g_strdup_printf("894400000000000000%02u", n);
	g_assert_true(ql_audit_append(f->vault, "profile-enable", &error, "iccid", iccid, "outcome",
				      "ok", NULL));
	g_assert_no_error(error);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	f->dir = g_dir_make_tmp("ql-test-audit-XXXXXX", NULL);
	f->log = g_build_filename(f->dir, "audit.log", NULL);
	f->vault = ql_vault_open(f->dir, NULL, &error);
	g_assert_no_error(error);
	for (guint i = 1; i <= 10; i++)
		append(f, i);
}

static void
rm_rf(const gchar *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const gchar *name;
	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		g_autofree gchar *p = g_build_filename(path, name, NULL);
		if (g_file_test(p, G_FILE_TEST_IS_DIR))
			rm_rf(p);
		else
			g_unlink(p);
	}
	g_rmdir(path);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	ql_vault_free(f->vault);
	rm_rf(f->dir);
	g_free(f->dir);
	g_free(f->log);
}

static gchar **
read_lines(Fixture *f)
{
	g_autofree gchar *text = NULL;
	g_assert_true(g_file_get_contents(f->log, &text, NULL, NULL));
	g_assert_true(g_str_has_suffix(text, "\n"));
	text[strlen(text) - 1] = '\0';
	return g_strsplit(text, "\n", -1);
}

static void
write_lines(Fixture *f, gchar **lines)
{
	g_autofree gchar *joined = g_strjoinv("\n", lines);
	g_autofree gchar *text = g_strconcat(joined, lines[0] != NULL ? "\n" : "", NULL);
	g_assert_true(g_file_set_contents(f->log, text, -1, NULL));
}

/* Verifies, expecting @problem at record @seq; the message must name the record. */
static void
assert_verify(Fixture *f, QlAuditProblem problem, guint64 seq)
{
	g_auto(QlAuditVerification) v = {0};
	g_autoptr(GError) error = NULL;
	g_assert_true(ql_audit_verify(f->vault, &v, &error));
	g_assert_no_error(error);
	if (v.problem != problem)
		g_error("expected %s, got %s: %s", ql_audit_problem_to_string(problem),
			ql_audit_problem_to_string(v.problem), v.message);
	g_assert_cmpuint(v.bad_seq, ==, seq);
	if (problem == QL_AUDIT_OK) {
		g_assert_null(v.message);
	} else {
		g_autofree gchar *named = g_strdup_printf("record %" G_GUINT64_FORMAT, seq);
		g_assert_nonnull(v.message);
		if (seq > 0 && strstr(v.message, named) == NULL)
			g_error("'%s' does not name %s", v.message, named);
	}
}

static void
test_clean(Fixture *f, gconstpointer data)
{
	g_auto(QlAuditVerification) v = {0};
	g_autoptr(GPtrArray) recs = ql_audit_read(f->dir, NULL);
	QlAuditRecord *r;

	g_assert_true(ql_audit_verify(f->vault, &v, NULL));
	g_assert_cmpint(v.problem, ==, QL_AUDIT_OK);
	g_assert_cmpuint(v.records, ==, 10);
	g_assert_cmpuint(recs->len, ==, 10);
	r = g_ptr_array_index(recs, 3);
	g_assert_cmpuint(r->seq, ==, 4);
	g_assert_cmpstr(r->action, ==, "profile-enable");
	g_assert_cmpstr(ql_audit_record_get(r, "iccid"), ==, "89440000000000000004");
	g_assert_true(g_str_has_suffix(r->time, "Z"));
}

static void
test_edited(Fixture *f, gconstpointer data)
{
	g_auto(GStrv) lines = read_lines(f);
	gchar *p = strstr(lines[3], "89440000000000000004");
	g_assert_nonnull(p);
	p[19] = '5'; /* the ICCID of record 4 changed by one digit */
	write_lines(f, lines);
	assert_verify(f, QL_AUDIT_EDITED, 4);
}

static void
test_edited_mac(Fixture *f, gconstpointer data)
{
	g_auto(GStrv) lines = read_lines(f);
	gsize len = strlen(lines[6]);
	lines[6][len - 1] = lines[6][len - 1] == '0' ? '1' : '0';
	write_lines(f, lines);
	assert_verify(f, QL_AUDIT_EDITED, 7);
}

static void
test_deleted(Fixture *f, gconstpointer data)
{
	g_auto(GStrv) lines = read_lines(f);
	g_free(lines[4]);
	memmove(&lines[4], &lines[5], sizeof(gchar *) * 6); /* record 5 gone, NULL moved too */
	write_lines(f, lines);
	assert_verify(f, QL_AUDIT_DELETED, 5);
}

static void
test_reordered(Fixture *f, gconstpointer data)
{
	g_auto(GStrv) lines = read_lines(f);
	gchar *t = lines[2];
	lines[2] = lines[3];
	lines[3] = t;
	write_lines(f, lines);
	/* line 3 holds record 4: that is the first record out of place */
	assert_verify(f, QL_AUDIT_REORDERED, 4);
}

static void
test_truncated(Fixture *f, gconstpointer data)
{
	g_auto(GStrv) lines = read_lines(f);
	g_clear_pointer(&lines[8], g_free);
	g_clear_pointer(&lines[9], g_free);
	write_lines(f, lines);
	assert_verify(f, QL_AUDIT_TRUNCATED, 9);
}

static void
test_truncated_to_nothing(Fixture *f, gconstpointer data)
{
	g_assert_true(g_file_set_contents(f->log, "", 0, NULL));
	assert_verify(f, QL_AUDIT_TRUNCATED, 1);
}

/* An append after a cut chains to the sealed tail, so the cut stays visible. */
static void
test_cut_then_append(Fixture *f, gconstpointer data)
{
	g_auto(GStrv) lines = read_lines(f);
	g_clear_pointer(&lines[7], g_free);
	g_clear_pointer(&lines[8], g_free);
	g_clear_pointer(&lines[9], g_free);
	write_lines(f, lines);
	append(f, 11);
	assert_verify(f, QL_AUDIT_DELETED, 8);
}

static void
test_tail_missing(Fixture *f, gconstpointer data)
{
	g_autofree gchar *tail = g_build_filename(f->dir, "vault", "audit", "tail", NULL);
	g_autoptr(GError) error = NULL;
	g_assert_cmpint(g_unlink(tail), ==, 0);
	assert_verify(f, QL_AUDIT_TAIL, 0);
	/* nothing is appended to a trail that can no longer be trusted */
	g_assert_false(ql_audit_check_ready(f->vault, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_AUTH);
	g_clear_error(&error);
	g_assert_false(ql_audit_append(f->vault, "profile-delete", &error, NULL));
	g_assert_error(error, QL_ERROR, QL_ERROR_AUTH);
}

/* A whole log swapped for an older copy of the same length is caught by the tail's MAC. */
static void
test_replaced(Fixture *f, gconstpointer data)
{
	g_autofree gchar *old = NULL;
	g_auto(GStrv) lines = NULL;
	g_assert_true(g_file_get_contents(f->log, &old, NULL, NULL));
	append(f, 11);
	/* put back the old ten and a record 11 from another run of the same key: here, simply
	 * the old file, which ends at 10 while the tail says 11 */
	g_assert_true(g_file_set_contents(f->log, old, -1, NULL));
	assert_verify(f, QL_AUDIT_TRUNCATED, 11);
	lines = read_lines(f);
	g_assert_cmpuint(g_strv_length(lines), ==, 10);
}

/* A crash between writing a record and sealing the tail: the record is adopted. */
static void
test_tail_lagging(Fixture *f, gconstpointer data)
{
	g_autofree gchar *tail = g_build_filename(f->dir, "vault", "audit", "tail", NULL);
	g_autofree gchar *saved = NULL;
	gsize len = 0;
	g_assert_true(g_file_get_contents(tail, &saved, &len, NULL));
	append(f, 11);
	g_assert_true(g_file_set_contents(tail, saved, (gssize)len, NULL));
	assert_verify(f, QL_AUDIT_OK, 0);
	append(f, 12);
	assert_verify(f, QL_AUDIT_OK, 0);
	{
		g_autoptr(GPtrArray) recs = ql_audit_read(f->dir, NULL);
		g_assert_cmpuint(recs->len, ==, 12);
		g_assert_cmpuint(((QlAuditRecord *)g_ptr_array_index(recs, 11))->seq, ==, 12);
	}
}

/* An interrupted write leaves half a line: verify says so, the next append cuts it off. */
static void
test_interrupted(Fixture *f, gconstpointer data)
{
	g_autofree gchar *text = NULL;
	g_autofree gchar *half = NULL;
	g_auto(QlAuditVerification) v = {0};
	g_assert_true(g_file_get_contents(f->log, &text, NULL, NULL));
	half = g_strconcat(text, "seq=11\ttime=2025-", NULL);
	g_assert_true(g_file_set_contents(f->log, half, -1, NULL));
	g_assert_true(ql_audit_verify(f->vault, &v, NULL));
	g_assert_cmpint(v.problem, ==, QL_AUDIT_MALFORMED);
	g_assert_cmpuint(v.bad_line, ==, 11);
	append(f, 11);
	assert_verify(f, QL_AUDIT_OK, 0);
}

static void
test_escaping(Fixture *f, gconstpointer data)
{
	g_autoptr(GPtrArray) recs = NULL;
	QlAuditRecord *r;
	g_assert_true(ql_audit_append(f->vault, "profile-nickname", NULL, "nickname",
				      "tab\there\nnewline 100% \x01", NULL));
	recs = ql_audit_read(f->dir, NULL);
	g_assert_cmpuint(recs->len, ==, 11);
	r = g_ptr_array_index(recs, 10);
	g_assert_cmpstr(ql_audit_record_get(r, "nickname"), ==, "tab\there\nnewline 100% \x01");
	assert_verify(f, QL_AUDIT_OK, 0);
}

static void
test_parse_refuses(void)
{
	const gchar *mac = "\tmac=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	const gchar *bodies[] = {
		"",
		"seq=1\ttime=t\taction=a",			/* no MAC */
		"seq=0\ttime=t\taction=a%s",			/* seq from 1 */
		"seq=01\ttime=t\taction=a%s",			/* no leading zeros */
		"seq=x\ttime=t\taction=a%s",			/* not a number */
		"time=t\tseq=1\taction=a%s",			/* order */
		"seq=1\ttime=t%s",				/* no action */
		"seq=1\ttime=t\taction=a\tBAD=x%s",		/* key charset */
		"seq=1\ttime=t\taction=a\tk=%%4%s",		/* bad escape */
		"seq=1\ttime=t\taction=a\tk=%%00%s",		/* NUL */
		"seq=1\ttime=t\taction=a\tnoequals%s",		/* not KEY=VALUE */
		"seq=18446744073709551616\ttime=t\taction=a%s", /* too large */
	};
	for (guint i = 0; i < G_N_ELEMENTS(bodies); i++) {
		g_autofree gchar *line = g_strdup_printf(bodies[i], mac);
		g_autoptr(GError) error = NULL;
		g_autoptr(QlAuditRecord) r = ql_audit_record_parse(line, strlen(line), &error);
		if (r != NULL)
			g_error("accepted: %s", line);
		g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
	}
	{
		g_autofree gchar *line = g_strdup_printf("seq=7\ttime=t\taction=a\tk=v%%25%s", mac);
		g_autoptr(QlAuditRecord) r = ql_audit_record_parse(line, strlen(line), NULL);
		g_assert_nonnull(r);
		g_assert_cmpuint(r->seq, ==, 7);
		g_assert_cmpstr(ql_audit_record_get(r, "k"), ==, "v%");
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
	ADD("/ql/audit/clean", test_clean);
	ADD("/ql/audit/edited", test_edited);
	ADD("/ql/audit/edited-mac", test_edited_mac);
	ADD("/ql/audit/deleted", test_deleted);
	ADD("/ql/audit/reordered", test_reordered);
	ADD("/ql/audit/truncated", test_truncated);
	ADD("/ql/audit/truncated-to-nothing", test_truncated_to_nothing);
	ADD("/ql/audit/cut-then-append", test_cut_then_append);
	ADD("/ql/audit/tail-missing", test_tail_missing);
	ADD("/ql/audit/replaced", test_replaced);
	ADD("/ql/audit/tail-lagging", test_tail_lagging);
	ADD("/ql/audit/interrupted", test_interrupted);
	ADD("/ql/audit/escaping", test_escaping);
#undef ADD
	g_test_add_func("/ql/audit/parse-refuses", test_parse_refuses);
	return g_test_run();
}
