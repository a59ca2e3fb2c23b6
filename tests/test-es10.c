/*
 * ES10 commands against byte vectors written from SGP.22 (the requests the LPA must send and
 * answers a card gives), through the real APDU layer.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "ql-es10.h"
#include "ql-es10b.h"
#include "ql-test-script.h"

#define ICCID "8944476500001224158"
#define ICCID_BCD "984474560000214251F8"
#define ISDP_AID "A0000005591010FFFFFFFF8900001000"
#define GSMA_SKI "81370F5125D0B1D408D4C3B232E6D25E795BEBFB"
#define SMDP_HEX "736D64702E6578616D706C652E636F6D" /* smdp.example.com */
#define SMDS_HEX "6C70612E64732E67736D612E636F6D"   /* lpa.ds.gsma.com */

typedef struct {
	QlTestScript *script;
	QlDevice *dev;
	QlChannel *ch;
} Fixture;

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	f->script = ql_test_script_new(1);
}

static void
fixture_start(Fixture *f)
{
	f->ch = ql_test_script_channel(f->script, NULL, &f->dev);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	ql_test_script_assert_done(f->script);
	g_clear_pointer(&f->ch, ql_channel_free);
	g_assert_cmpuint(f->script->open_channels, ==, 0);
	g_clear_pointer(&f->dev, ql_device_free);
	ql_test_script_free(f->script);
}

static void
test_es10_eid(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *eid = NULL;

	/* the EID read of SGP.22 / ModemManager / Hermes, on channel 1 */
	ql_test_script_add(f->script, "81E2910006BF3E035C015A00",
			   "BF3E125A1089049032123451234512345678901235 9000");
	fixture_start(f);
	eid = ql_es10_get_eid(f->ch, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(eid, ==, "89049032123451234512345678901235");
}

static void
test_es10_euicc_info1(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlEuiccInfo1) info = NULL;
	g_autofree gchar *ski = NULL;

	/* with an unknown extension field 8C that must be skipped */
	ql_test_script_add(f->script, "81E2910003BF200000",
			   "BF2038 8203020202 A9160414" GSMA_SKI " AA160414" GSMA_SKI
			   " 8C0100 9000");
	fixture_start(f);
	info = ql_es10_get_euicc_info1(f->ch, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info->svn, ==, "2.2.2");
	g_assert_cmpuint(info->ci_pkid_verification->len, ==, 1);
	g_assert_cmpuint(info->ci_pkid_signing->len, ==, 1);
	ski = ql_hex_encode(g_bytes_get_data(g_ptr_array_index(info->ci_pkid_signing, 0), NULL),
			    20);
	g_assert_cmpstr(ski, ==, GSMA_SKI);
	g_assert_cmpstr(ql_ci_key_id_name(g_ptr_array_index(info->ci_pkid_signing, 0)), ==,
			"GSM Association - RSP2 Root CI1");
	/* the raw TLV goes to the SM-DP+ unchanged */
	g_assert_cmpuint(g_bytes_get_size(info->raw), ==, 3 + 0x38);
}

static void
test_es10_euicc_info2(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlEuiccInfo2) info = NULL;

	ql_test_script_add(f->script, "81E2910003BF220000",
			   "BF2264 8103020300 8203020202 8303010203"
			   " 840C 810105 820301E240 83022710"
			   " 85020780 88020490"
			   " A9160414" GSMA_SKI " AA160414" GSMA_SKI
			   " 8B0102 0403000201 0C0548454C4C4F 9000");
	fixture_start(f);
	info = ql_es10_get_euicc_info2(f->ch, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(info->profile_version, ==, "2.3.0");
	g_assert_cmpstr(info->svn, ==, "2.2.2");
	g_assert_cmpstr(info->firmware_version, ==, "1.2.3");
	g_assert_cmpint(info->installed_apps, ==, 5);
	g_assert_cmpint(info->free_nvm, ==, 123456);
	g_assert_cmpint(info->free_ram, ==, 10000);
	g_assert_cmpint(info->category, ==, 2);
	g_assert_cmpstr(info->pp_version, ==, "0.2.1");
	g_assert_cmpstr(info->sas_accreditation, ==, "HELLO");
	g_assert_cmpuint(info->ci_pkid_verification->len, ==, 1);
}

static void
test_es10_challenge(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) c = NULL;

	ql_test_script_add(f->script, "81E2910003BF2E0000",
			   "BF2E128010 000102030405060708090A0B0C0D0E0F 9000");
	fixture_start(f);
	c = ql_es10_get_euicc_challenge(f->ch, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_bytes_get_size(c), ==, 16);
	g_assert_cmphex(((const guint8 *)g_bytes_get_data(c, NULL))[15], ==, 0x0F);
}

#define PROFILE_1                                                                                  \
	"E34D 5A0A" ICCID_BCD " 4F10" ISDP_AID " 9F700101 9004576F726B 910441434D45"               \
	" 9206506C616E2058 930101 940489504E47 950102 DF200100 B705800321F354"
#define PROFILE_2 "E310 5A0A98103254769810325 4F2 9F700100"

static void
test_es10_profile_list(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	QlProfileInfo *p;

	ql_test_script_add(f->script, "81E2910011BF2D0E5C0C5A4F9F70909192939495B6B700",
			   "BF2D63 A061 " PROFILE_1 PROFILE_2 " 9000");
	fixture_start(f);
	list = ql_es10_get_profiles(f->ch, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(list->len, ==, 2);
	p = g_ptr_array_index(list, 0);
	g_assert_cmpstr(p->iccid, ==, ICCID);
	g_assert_cmpstr(p->isdp_aid, ==, ISDP_AID);
	g_assert_cmpint(p->state, ==, QL_PROFILE_STATE_ENABLED);
	g_assert_cmpstr(p->nickname, ==, "Work");
	g_assert_cmpstr(p->service_provider, ==, "ACME");
	g_assert_cmpstr(p->name, ==, "Plan X");
	g_assert_cmpint(p->icon_type, ==, 1);
	g_assert_cmpuint(g_bytes_get_size(p->icon), ==, 4);
	g_assert_cmpint(p->profile_class, ==, QL_PROFILE_CLASS_OPERATIONAL);
	g_assert_cmpstr(p->owner_mccmnc, ==, "21F354");
	p = g_ptr_array_index(list, 1);
	g_assert_cmpstr(p->iccid, ==, "8901234567890123452");
	g_assert_cmpint(p->state, ==, QL_PROFILE_STATE_DISABLED);
	g_assert_null(p->nickname);
	g_assert_cmpint(p->profile_class, ==, QL_PROFILE_CLASS_UNKNOWN);
}

/* A ProfileInfo that repeats its fields (fuzzing found the first copies leaked): the first of
 * each is kept, as ql_tlv_find keeps it in every other decoder. */
static void
test_es10_profile_list_repeated_fields(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	QlProfileInfo *p;

	ql_test_script_add(f->script, "81E2910011BF2D0E5C0C5A4F9F70909192939495B6B700",
			   "BF2D77 A075 E373"
			   " 5A0A" ICCID_BCD " 5A0A98103254769810325476"
			   " 4F10" ISDP_AID " 4F0100 9F700101 9F700100"
			   " 9005466972737490065365636F6E64 910141 910142 920141 920142"
			   " 930101 930100 940489504E47 940100 950102 950100"
			   " B705800321F354 B70580031234F5 9000");
	fixture_start(f);
	list = ql_es10_get_profiles(f->ch, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(list->len, ==, 1);
	p = g_ptr_array_index(list, 0);
	g_assert_cmpstr(p->iccid, ==, ICCID);
	g_assert_cmpstr(p->isdp_aid, ==, ISDP_AID);
	g_assert_cmpint(p->state, ==, QL_PROFILE_STATE_ENABLED);
	g_assert_cmpstr(p->nickname, ==, "First");
	g_assert_cmpstr(p->service_provider, ==, "A");
	g_assert_cmpstr(p->name, ==, "A");
	g_assert_cmpint(p->icon_type, ==, 1);
	g_assert_cmpuint(g_bytes_get_size(p->icon), ==, 4);
	g_assert_cmpint(p->profile_class, ==, QL_PROFILE_CLASS_OPERATIONAL);
	g_assert_cmpstr(p->owner_mccmnc, ==, "21F354");
}

static void
test_es10_profile_list_filtered(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	QlProfileFilter by_iccid = {.iccid = ICCID, .profile_class = -1};
	QlProfileFilter by_aid = {.isdp_aid = ISDP_AID, .profile_class = -1};
	QlProfileFilter by_class = {.profile_class = QL_PROFILE_CLASS_TEST};

	ql_test_script_add(f->script,
			   "81E291001F BF2D1C A00C5A0A" ICCID_BCD
			   " 5C0C5A4F9F70909192939495B6B7 00",
			   "BF2D4F A04D E34B 5A0A" ICCID_BCD " 9F700101 9000");
	ql_test_script_add(f->script,
			   "81E2910025 BF2D22 A0124F10" ISDP_AID " 5C0C5A4F9F70909192939495B6B7 00",
			   "BF2D10A00E E30C5A0A" ICCID_BCD " 9000");
	ql_test_script_add(f->script,
			   "81E2910016 BF2D13 A003950100 5C0C5A4F9F70909192939495B6B7 00",
			   "BF2D02A000 9000");
	fixture_start(f);
	/* the first answer's E3 claims 0x4B bytes: malformed, refused */
	list = ql_es10_get_profiles(f->ch, &by_iccid, &error);
	g_assert_null(list);
	g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
	g_clear_error(&error);
	list = ql_es10_get_profiles(f->ch, &by_aid, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(list->len, ==, 1);
	g_clear_pointer(&list, g_ptr_array_unref);
	list = ql_es10_get_profiles(f->ch, &by_class, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(list->len, ==, 0);
}

typedef struct {
	const gchar *reply_result; /* hex of the INTEGER value */
	gint domain_code;	   /* -1: success */
	const gchar *message_part;
} ResultCase;

static void
test_es10_enable(Fixture *f, gconstpointer data)
{
	const ResultCase cases[] = {
		{"00", -1, NULL},
		{"01", QL_ERROR_NOT_FOUND, "no profile with this ICCID"},
		{"02", QL_ERROR_EUICC, "already enabled"},
		{"05", QL_ERROR_BUSY, "busy"},
		{"7F", QL_ERROR_EUICC, "undefined error (eUICC result 127)"},
	};
	fixture_start(f);
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *reply =
			g_strdup_printf("BF310380 01%s 9000", cases[i].reply_result);
		ql_test_script_add(f->script, "81E2910014 BF3111 A00C5A0A" ICCID_BCD " 8101FF 00",
				   reply);
		if (cases[i].domain_code < 0) {
			g_assert_true(ql_es10_enable_profile(f->ch, ICCID, TRUE, &error));
			g_assert_no_error(error);
		} else {
			g_assert_false(ql_es10_enable_profile(f->ch, ICCID, TRUE, &error));
			g_assert_error(error, QL_ERROR, cases[i].domain_code);
			g_assert_nonnull(strstr(error->message, cases[i].message_part));
		}
	}
}

static void
test_es10_disable_delete(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;

	ql_test_script_add(f->script, "81E2910014 BF3211 A00C5A0A" ICCID_BCD " 810100 00",
			   "BF3203800101 9000");
	ql_test_script_add(f->script, "81E2910014 BF3211 A00C5A0A" ICCID_BCD " 8101FF 00",
			   "BF3203800100 9000");
	ql_test_script_add(f->script, "81E291000F BF330C 5A0A" ICCID_BCD " 00",
			   "BF3303800102 9000");
	ql_test_script_add(f->script, "81E2910015 BF3312 4F10" ISDP_AID " 00", "BF3303800100 9000");
	fixture_start(f);
	g_assert_false(ql_es10_disable_profile(f->ch, ICCID, FALSE, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_true(ql_es10_disable_profile(f->ch, ICCID, TRUE, &error));
	g_assert_no_error(error);
	g_assert_false(ql_es10_delete_profile(f->ch, ICCID, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_EUICC);
	g_assert_nonnull(strstr(error->message, "disable it first"));
	g_clear_error(&error);
	g_assert_true(ql_es10_delete_profile(f->ch, ISDP_AID, &error));
	g_assert_no_error(error);
	/* not an ICCID: refused before anything is sent */
	g_assert_false(ql_es10_delete_profile(f->ch, "12ab", &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
}

static void
test_es10_nickname(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *long_name = g_strnfill(65, 'x');

	ql_test_script_add(f->script, "81E2910015 BF2912 5A0A" ICCID_BCD " 9004576F726B 00",
			   "BF2903800100 9000");
	ql_test_script_add(f->script, "81E2910011 BF290E 5A0A" ICCID_BCD " 9000 00",
			   "BF2903800101 9000");
	fixture_start(f);
	g_assert_true(ql_es10_set_nickname(f->ch, ICCID, "Work", &error));
	g_assert_no_error(error);
	g_assert_false(ql_es10_set_nickname(f->ch, ICCID, "", &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(ql_es10_set_nickname(f->ch, ICCID, long_name, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT);
}

#define METADATA "BF2F25 800105 81020520 0C10" SMDP_HEX " 5A0A" ICCID_BCD

static void
test_es10_notifications(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(GPtrArray) full = NULL;
	g_autofree gchar *sig = g_strnfill(128, 'A');
	g_autofree gchar *retrieve =
		g_strdup_printf("BF2B6F A06D 306B " METADATA " 5F3740%s 9000", sig);
	QlNotification *n;

	ql_test_script_add(f->script, "81E2910003BF280000", "BF282A A028 " METADATA " 9000");
	ql_test_script_add(f->script, "81E2910008BF2B05A00380010500", retrieve);
	ql_test_script_add(f->script, "81E2910006BF300380010500", "BF3003800100 9000");
	ql_test_script_add(f->script, "81E2910006BF300380010500", "BF3003800101 9000");
	ql_test_script_add(f->script, "81E2910003BF2B0000", "BF2B03810101 9000");
	fixture_start(f);

	list = ql_es10_list_notifications(f->ch, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(list->len, ==, 1);
	n = g_ptr_array_index(list, 0);
	g_assert_cmpint(n->seq, ==, 5);
	g_assert_cmpuint(n->operation, ==, QL_NOTIFICATION_DISABLE);
	g_assert_cmpstr(ql_notification_event_to_string(n->operation), ==, "disable");
	g_assert_cmpstr(n->address, ==, "smdp.example.com");
	g_assert_cmpstr(n->iccid, ==, ICCID);

	full = ql_es10_retrieve_notifications(f->ch, 5, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(full->len, ==, 1);
	n = g_ptr_array_index(full, 0);
	g_assert_cmpint(n->seq, ==, 5);
	/* the whole signed OtherSignedNotification, to be sent to the SM-DP+ as it is */
	g_assert_cmpuint(g_bytes_get_size(n->raw), ==, 2 + 0x6B);

	g_assert_true(ql_es10_remove_notification(f->ch, 5, &error));
	g_assert_no_error(error);
	g_assert_false(ql_es10_remove_notification(f->ch, 5, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_NOT_FOUND);
	g_clear_error(&error);

	/* noResultAvailable is an empty list, not an error */
	g_clear_pointer(&full, g_ptr_array_unref);
	full = ql_es10_retrieve_notifications(f->ch, -1, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(full->len, ==, 0);
}

static void
test_es10_addresses(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dp = NULL;
	g_autofree gchar *ds = NULL;

	ql_test_script_add(f->script, "81E2910003BF3C0000",
			   "BF3C23 8010" SMDP_HEX " 810F" SMDS_HEX " 9000");
	ql_test_script_add(f->script, "81E2910015BF3F128010" SMDP_HEX "00", "BF3F03800100 9000");
	ql_test_script_add(f->script, "81E2910007BF3404820205E000", "BF3403800100 9000");
	ql_test_script_add(f->script, "81E2910007BF3404820205C000", "BF3403800101 9000");
	fixture_start(f);
	g_assert_true(ql_es10_get_configured_addresses(f->ch, &dp, &ds, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(dp, ==, "smdp.example.com");
	g_assert_cmpstr(ds, ==, "lpa.ds.gsma.com");
	g_assert_true(ql_es10_set_default_dp_address(f->ch, "smdp.example.com", &error));
	g_assert_no_error(error);
	g_assert_true(ql_es10_memory_reset(
		f->ch, QL_RESET_DELETE_OPERATIONAL | QL_RESET_DELETE_TEST | QL_RESET_DEFAULT_SMDP,
		&error));
	g_assert_no_error(error);
	g_assert_false(ql_es10_memory_reset(
		f->ch, QL_RESET_DELETE_OPERATIONAL | QL_RESET_DELETE_TEST, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_NOT_FOUND);
}

static void
test_es10_rat(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) rules = NULL;
	QlRatRule *r;

	ql_test_script_add(f->script, "81E2910003BF430000",
			   "BF4315 A013 3011 80020640 A1073005800321F354 82020780 9000");
	fixture_start(f);
	rules = ql_es10_get_rat(f->ch, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(rules->len, ==, 1);
	r = g_ptr_array_index(rules, 0);
	g_assert_cmpuint(r->allowed_operators->len, ==, 1);
	g_assert_cmpstr(g_ptr_array_index(r->allowed_operators, 0), ==, "21F354");
	g_assert_cmphex(r->flags, ==, 0x80);
}

typedef struct {
	const gchar *name;
	const gchar *reply;
	gint code;
	const gchar *message_part;
} BadCase;

static void
test_es10_malformed(Fixture *f, gconstpointer data)
{
	const BadCase cases[] = {
		{"short EID", "BF3E115A0F890490321234512345123456789012 9000", QL_ERROR_MALFORMED,
		 "not 16"},
		{"wrong tag", "BF2003820100 9000", QL_ERROR_MALFORMED, "expected tag BF3E"},
		{"truncated", "BF3E125A108904 9000", QL_ERROR_MALFORMED, "exceeds"},
		{"no EID", "BF3E00 9000", QL_ERROR_MALFORMED, "EID (tag 5A) is missing"},
		{"empty", "9000", QL_ERROR_MALFORMED, "empty answer"},
		{"trailing bytes", "BF3E125A1089049032123451234512345678901235 00 9000",
		 QL_ERROR_MALFORMED, "unexpected bytes"},
		{"card error", "6A80", QL_ERROR_CARD, "incorrect data"},
	};
	fixture_start(f);
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree gchar *eid = NULL;
		g_test_message("case %s", cases[i].name);
		ql_test_script_add(f->script, "81E2910006BF3E035C015A00", cases[i].reply);
		eid = ql_es10_get_eid(f->ch, &error);
		g_assert_null(eid);
		g_assert_error(error, QL_ERROR, cases[i].code);
		g_assert_nonnull(strstr(error->message, cases[i].message_part));
	}
}

/* SGP.22 2.5.5: how a BPP is cut into ES10b commands, and the packages refused. Fuzzing found a
 * second BF23 made the LPA send the start of the package over again in one command. */
static void
test_es10_bpp_segments(void)
{
	const struct {
		const gchar *name;
		const gchar *bpp;
		const gchar *segments; /* joined with '|', NULL: refused */
		const gchar *message_part;
	} cases[] = {
		{"whole", "BF3613 BF2300 A0028700 A1048800 8800 A3048600 8600",
		 "BF3613BF2300|A0028700|A104|8800|8800|A304|8600|8600", NULL},
		{"with A2 and an unknown part",
		 "BF3613 BF2300 A000 A1028800 A2028700 8F00 A3028600",
		 "BF3613BF2300|A000|A102|8800|A2028700|A302|8600", NULL},
		{"BF23 twice", "BF3614 BF2300 A000 BF2300 A000 A1028800 A3048600 8600", NULL,
		 "out of order"},
		{"A0 twice", "BF360F BF2300 A000 A000 A1028800 A3028600", NULL, "out of order"},
		{"A2 before A1", "BF3611 BF2300 A000 A2028700 A1028800 A3028600", NULL,
		 "out of order"},
		{"A1 after A3", "BF360D BF2300 A000 A3028600 A1028800", NULL, "out of order"},
		{"A3 twice", "BF3611 BF2300 A000 A1028800 A3028600 A3028600", NULL, "out of order"},
		{"A0 first", "BF360D A000 BF2300 A1028800 A3028600", NULL, "out of order"},
		{"no A3", "BF3609 BF2300 A000 A1028800", NULL, "incomplete"},
		{"an 87 in A3", "BF360D BF2300 A000 A1028800 A3028700", NULL, "87 inside A3"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) bpp = ql_hex_decode(cases[i].bpp, &error);
		g_autoptr(GPtrArray) segs = NULL;
		g_autoptr(GString) joined = g_string_new(NULL);

		g_test_message("case %s", cases[i].name);
		g_assert_no_error(error);
		segs = ql_es10b_bpp_segments(bpp, &error);
		if (cases[i].segments == NULL) {
			g_assert_null(segs);
			g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
			g_assert_nonnull(strstr(error->message, cases[i].message_part));
			continue;
		}
		g_assert_no_error(error);
		for (guint j = 0; j < segs->len; j++) {
			GBytes *seg = g_ptr_array_index(segs, j);
			g_autofree gchar *h =
				ql_hex_encode(g_bytes_get_data(seg, NULL), g_bytes_get_size(seg));
			g_string_append_printf(joined, "%s%s", j > 0 ? "|" : "", h);
		}
		g_assert_cmpstr(joined->str, ==, cases[i].segments);
	}
}

static gboolean
test_es10_collect(GBytes *segment, gpointer user_data, GError **error)
{
	GString *joined = user_data;
	g_autofree gchar *h =
		ql_hex_encode(g_bytes_get_data(segment, NULL), g_bytes_get_size(segment));
	g_string_append_printf(joined, "%s%s", joined->len > 0 ? "|" : "", h);
	return TRUE;
}

/* A package that arrives one byte at a time is split as a whole one is, and what is wrong with
 * it is found as soon as it shows: the segments before the fault were handed on already. */
static void
test_es10_bpp_stream(void)
{
	const struct {
		const gchar *name;
		const gchar *bpp;
		const gchar *segments;	   /* handed on, joined with '|' */
		const gchar *message_part; /* NULL: accepted */
	} cases[] = {
		{"whole", "BF3613 BF2300 A0028700 A1048800 8800 A3048600 8600",
		 "BF3613BF2300|A0028700|A104|8800|8800|A304|8600|8600", NULL},
		{"with A2 and an unknown part",
		 "BF3613 BF2300 A000 A1028800 A2028700 8F00 A3028600",
		 "BF3613BF2300|A000|A102|8800|A2028700|A302|8600", NULL},
		{"cut in the last segment", "BF3613 BF2300 A0028700 A1048800 8800 A3048600 86",
		 "BF3613BF2300|A0028700|A104|8800|8800|A304|8600", "ends after 21 of 22"},
		{"A1 after A3", "BF360D BF2300 A000 A3028600 A1028800", "BF360DBF2300|A000",
		 "out of order"},
		{"an 87 in A3", "BF360D BF2300 A000 A1028800 A3028700",
		 "BF360DBF2300|A000|A102|8800|A302", "87 inside A3"},
		{"a segment longer than its part", "BF360D BF2300 A000 A1028801 00 A3028600",
		 "BF360DBF2300|A000|A102", "runs past its parent"},
		{"bytes after the package", "BF360D BF2300 A000 A1028800 A3028600 00",
		 "BF360DBF2300|A000|A102|8800|A302|8600", "after its end"},
		{"not a package", "BF3700", "", "expected tag BF36"},
		{"empty", "", "", "empty"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(GBytes) bpp = ql_hex_decode(cases[i].bpp, &error);
		g_autoptr(GString) joined = g_string_new(NULL);
		g_autoptr(QlBppSplitter) s = ql_bpp_splitter_new(test_es10_collect, joined);
		const guint8 *p;
		gsize n = 0;
		gboolean ok = TRUE;

		g_test_message("case %s", cases[i].name);
		g_assert_no_error(error);
		p = g_bytes_get_data(bpp, &n);
		for (gsize j = 0; j < n && ok; j++)
			ok = ql_bpp_splitter_feed(s, p + j, 1, &error);
		if (ok)
			ok = ql_bpp_splitter_finish(s, &error);
		g_assert_cmpstr(joined->str, ==, cases[i].segments);
		if (cases[i].message_part == NULL) {
			g_assert_no_error(error);
			g_assert_true(ok);
			continue;
		}
		g_assert_false(ok);
		g_assert_error(error, QL_ERROR, QL_ERROR_MALFORMED);
		g_assert_nonnull(strstr(error->message, cases[i].message_part));
	}
}

/* The same commands against the virtual eUICC, which computes its answers: the two sides of
 * the protocol, written separately, must agree. */
static void
test_es10_virtual(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *dir = g_dir_make_tmp("ql-es10-XXXXXX", &error);
	g_autofree gchar *spec = g_strdup_printf("virtual:%s/state?seed=2", dir);
	g_autoptr(QlDevice) dev = NULL;
	g_autoptr(QlChannel) ch = NULL;
	g_autoptr(QlEuiccInfo1) info1 = NULL;
	g_autoptr(QlEuiccInfo2) info2 = NULL;
	g_autoptr(GBytes) c1 = NULL;
	g_autoptr(GBytes) c2 = NULL;
	g_autoptr(GPtrArray) all = NULL;
	g_autoptr(GPtrArray) some = NULL;
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(GPtrArray) full = NULL;
	g_autoptr(GPtrArray) rat = NULL;
	g_autofree gchar *eid = NULL;
	g_autofree gchar *dp = NULL;
	g_autofree gchar *ds = NULL;
	g_autofree gchar *a = NULL;
	g_autofree gchar *aid_b = NULL;
	QlProfileFilter by_iccid = {.profile_class = -1};
	QlProfileFilter by_aid = {.profile_class = -1};
	QlProfileFilter by_class = {.profile_class = QL_PROFILE_CLASS_TEST};

	g_assert_no_error(error);
	dev = ql_device_open(spec, &error);
	g_assert_no_error(error);
	ch = ql_channel_open_isdr(dev, &error);
	g_assert_no_error(error);

	eid = ql_es10_get_eid(ch, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(strlen(eid), ==, 32);
	info1 = ql_es10_get_euicc_info1(ch, &error);
	g_assert_no_error(error);
	info2 = ql_es10_get_euicc_info2(ch, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(info1->ci_pkid_verification->len, >=, 1);
	g_assert_cmpuint(info1->ci_pkid_verification->len, ==, info2->ci_pkid_verification->len);
	g_assert_true(g_bytes_equal(g_ptr_array_index(info1->ci_pkid_verification, 0),
				    g_ptr_array_index(info2->ci_pkid_verification, 0)));
	g_assert_cmpint(info2->free_nvm, >, 0);
	c1 = ql_es10_get_euicc_challenge(ch, &error);
	g_assert_no_error(error);
	c2 = ql_es10_get_euicc_challenge(ch, &error);
	g_assert_no_error(error);
	g_assert_false(g_bytes_equal(c1, c2));

	all = ql_es10_get_profiles(ch, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(all->len, ==, 2);
	a = g_strdup(((QlProfileInfo *)g_ptr_array_index(all, 0))->iccid);
	aid_b = g_strdup(((QlProfileInfo *)g_ptr_array_index(all, 1))->isdp_aid);
	by_iccid.iccid = a;
	some = ql_es10_get_profiles(ch, &by_iccid, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(some->len, ==, 1);
	g_assert_cmpstr(((QlProfileInfo *)g_ptr_array_index(some, 0))->iccid, ==, a);
	g_clear_pointer(&some, g_ptr_array_unref);
	by_aid.isdp_aid = aid_b;
	some = ql_es10_get_profiles(ch, &by_aid, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(some->len, ==, 1);
	g_assert_cmpstr(((QlProfileInfo *)g_ptr_array_index(some, 0))->isdp_aid, ==, aid_b);
	g_clear_pointer(&some, g_ptr_array_unref);
	some = ql_es10_get_profiles(ch, &by_class, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(some->len, ==, 0);

	g_assert_true(ql_es10_enable_profile(ch, a, TRUE, &error));
	g_assert_no_error(error);
	g_assert_false(ql_es10_enable_profile(ch, a, TRUE, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_EUICC);
	g_clear_error(&error);
	g_assert_false(ql_es10_delete_profile(ch, a, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_EUICC);
	g_clear_error(&error);
	g_assert_true(ql_es10_disable_profile(ch, a, TRUE, &error));
	g_assert_true(ql_es10_set_nickname(ch, a, "Home", &error));
	g_assert_true(ql_es10_delete_profile(ch, aid_b, &error)); /* by ISD-P AID */
	g_assert_no_error(error);

	list = ql_es10_list_notifications(ch, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(list->len, ==, 3); /* enable, disable, delete */
	g_assert_cmpuint(((QlNotification *)g_ptr_array_index(list, 2))->operation, ==,
			 QL_NOTIFICATION_DELETE);
	full = ql_es10_retrieve_notifications(ch, -1, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(full->len, ==, 3);
	for (guint i = 0; i < full->len; i++) {
		QlNotification *n = g_ptr_array_index(full, i);
		g_assert_nonnull(n->raw);
		g_assert_true(ql_es10_remove_notification(ch, n->seq, &error));
		g_assert_no_error(error);
	}
	g_assert_false(ql_es10_remove_notification(ch, 1, &error));
	g_assert_error(error, QL_ERROR, QL_ERROR_NOT_FOUND);
	g_clear_error(&error);

	g_assert_true(ql_es10_set_default_dp_address(ch, "smdp.example.com", &error));
	g_assert_true(ql_es10_get_configured_addresses(ch, &dp, &ds, &error));
	g_assert_cmpstr(dp, ==, "smdp.example.com");
	g_assert_cmpstr(ds, ==, "lpa.ds.gsma.com");
	rat = ql_es10_get_rat(ch, &error);
	g_assert_no_error(error);
	g_assert_true(ql_es10_memory_reset(ch, QL_RESET_DELETE_OPERATIONAL, &error));
	g_assert_no_error(error);
	g_clear_pointer(&all, g_ptr_array_unref);
	all = ql_es10_get_profiles(ch, NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(all->len, ==, 0);
	g_clear_pointer(&ch, ql_channel_free);
	g_clear_pointer(&dev, ql_device_free);
	{
		g_autofree gchar *state = g_build_filename(dir, "state", NULL);
		g_unlink(state);
		g_rmdir(dir);
	}
}

#define ADD(path, func)                                                                            \
	g_test_add("/ql/es10/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	ADD("eid", test_es10_eid);
	ADD("euicc-info1", test_es10_euicc_info1);
	ADD("euicc-info2", test_es10_euicc_info2);
	ADD("challenge", test_es10_challenge);
	ADD("profile-list", test_es10_profile_list);
	ADD("profile-list-filtered", test_es10_profile_list_filtered);
	ADD("profile-list-repeated-fields", test_es10_profile_list_repeated_fields);
	ADD("enable", test_es10_enable);
	ADD("disable-delete", test_es10_disable_delete);
	ADD("nickname", test_es10_nickname);
	ADD("notifications", test_es10_notifications);
	ADD("addresses", test_es10_addresses);
	ADD("rat", test_es10_rat);
	ADD("malformed", test_es10_malformed);
	g_test_add_func("/ql/es10/bpp-segments", test_es10_bpp_segments);
	g_test_add_func("/ql/es10/bpp-stream", test_es10_bpp_stream);
	g_test_add_func("/ql/es10/virtual", test_es10_virtual);
	return g_test_run();
}
