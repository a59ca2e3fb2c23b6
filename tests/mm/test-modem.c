/*
 * ql-modem against a mock ModemManager (tests/mm/ql-mm-mock, python-dbusmock on a private
 * system bus): listing, resolving -m N / -m PATH, the errors, inhibit, waiting for an ICCID.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

#include "quantra-l/ql-error.h"
#include "ql-modem.h"

#define EID_QMI "89049032000000000000000000000011"
#define EID_MBIM "89049032000000000000000000000022"
#define ICCID_QMI "8944500000000000000"
#define ICCID_NEW "8944500000000000999"
#define MM_PATH "/org/freedesktop/ModemManager1"

typedef struct {
	GSubprocess *mock;
	GDBusConnection *bus;
	gchar *address;
} Fixture;

/* Starts the mock with @extra_args after the standard modems, waits for its address line. */
static void
fixture_start(Fixture *f, const gchar *const *extra_args)
{
	const gchar *mock_path = g_getenv("QL_MM_MOCK");
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GDataInputStream) in = NULL;
	g_autofree gchar *line = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_nonnull(mock_path);
	g_ptr_array_add(argv, (gpointer)mock_path);
	for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
		g_ptr_array_add(argv, (gpointer)extra_args[i]);
	g_ptr_array_add(argv, NULL);
	f->mock = g_subprocess_newv((const gchar *const *)argv->pdata,
				    G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDIN_PIPE,
				    &error);
	g_assert_no_error(error);
	in = g_data_input_stream_new(g_subprocess_get_stdout_pipe(f->mock));
	line = g_data_input_stream_read_line(in, NULL, NULL, &error);
	g_assert_no_error(error);
	g_assert_nonnull(line);
	g_assert_true(g_str_has_prefix(line, "DBUS_SYSTEM_BUS_ADDRESS="));
	f->address = g_strdup(line + strlen("DBUS_SYSTEM_BUS_ADDRESS="));
	f->bus = g_dbus_connection_new_for_address_sync(
		f->address,
		G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
			G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
		NULL, NULL, &error);
	g_assert_no_error(error);
	g_dbus_connection_set_exit_on_close(f->bus, FALSE);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
	/* clang-format off */
	const gchar *const standard[] = {
		"--qmi", "qmi:/dev/cdc-wdm0", "--eid", EID_QMI, "--iccid", ICCID_QMI,
		"--mbim", "mbim:/dev/wwan0mbim0", "--eid", EID_MBIM, "--slots", "2",
		"--at", "at:/dev/ttyUSB0", "--no-sim",
		"--reprobe-ms", "200", NULL};
	const gchar *const absent[] = {"--absent", NULL};
	/* fakes of tests/qmi and tests/mbim live outside /dev: the port is then the full path */
	const gchar *const fakes[] = {"--qmi", "qmi:/tmp/ql-fake/qmi0", "--mbim",
				      "mbim:/tmp/ql-fake/mbim0?x=1", "--slots", "3",
				      "--primary-slot", "2", NULL};
	/* clang-format on */
	if (g_strcmp0(data, "absent") == 0)
		fixture_start(f, absent);
	else if (g_strcmp0(data, "fakes") == 0)
		fixture_start(f, fakes);
	else
		fixture_start(f, standard);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_dbus_connection_close_sync(f->bus, NULL, NULL);
	g_clear_object(&f->bus);
	g_subprocess_send_signal(f->mock, SIGTERM);
	g_subprocess_wait_check(f->mock, NULL, &error);
	g_assert_no_error(error);
	g_clear_object(&f->mock);
	g_free(f->address);
}

static QlModemInfo *
modem_at(GPtrArray *modems, guint index)
{
	for (guint i = 0; i < modems->len; i++) {
		QlModemInfo *m = g_ptr_array_index(modems, i);
		if (m->index == index)
			return m;
	}
	return NULL;
}

/* dbusmock's call log of InhibitDevice, as "UID true|false" lines */
static gchar *
inhibit_calls(Fixture *f)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret = NULL;
	g_autoptr(GVariant) calls = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	GVariantIter iter;
	GVariant *args;
	guint64 ts;

	ret = g_dbus_connection_call_sync(f->bus, "org.freedesktop.ModemManager1", MM_PATH,
					  "org.freedesktop.DBus.Mock", "GetMethodCalls",
					  g_variant_new("(s)", "InhibitDevice"),
					  G_VARIANT_TYPE("(a(tav))"), 0, 5000, NULL, &error);
	g_assert_no_error(error);
	calls = g_variant_get_child_value(ret, 0);
	g_variant_iter_init(&iter, calls);
	while (g_variant_iter_next(&iter, "(t@av)", &ts, &args)) {
		g_autoptr(GVariant) uid = g_variant_get_child_value(args, 0);
		g_autoptr(GVariant) inhibit = g_variant_get_child_value(args, 1);
		g_autoptr(GVariant) u = g_variant_get_variant(uid);
		g_autoptr(GVariant) b = g_variant_get_variant(inhibit);
		g_string_append_printf(out, "%s %s\n", g_variant_get_string(u, NULL),
				       g_variant_get_boolean(b) ? "true" : "false");
		g_variant_unref(args);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static void
mock_set_iccid(GDBusConnection *bus, const gchar *uid, const gchar *iccid)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GVariant) ret = g_dbus_connection_call_sync(
		bus, "org.freedesktop.ModemManager1", MM_PATH, "org.quantra.Test.MockModemManager",
		"SetIccid", g_variant_new("(ss)", uid, iccid), NULL, 0, 5000, NULL, &error);
	g_assert_no_error(error);
}

static void
test_list(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) modems = ql_modem_list(f->bus, &error);
	QlModemInfo *m;

	g_assert_no_error(error);
	g_assert_cmpuint(modems->len, ==, 3);

	m = modem_at(modems, 0);
	g_assert_nonnull(m);
	g_assert_cmpstr(m->path, ==, MM_PATH "/Modem/0");
	g_assert_cmpstr(m->manufacturer, ==, "Quectel");
	g_assert_cmpstr(m->model, ==, "EM120R-GL");
	g_assert_cmpstr(m->transport, ==, "qmi");
	g_assert_cmpstr(m->control_port, ==, "/dev/cdc-wdm0");
	g_assert_cmpstr(m->primary_port, ==, "cdc-wdm0");
	g_assert_cmpstr(m->at_port, ==, "/dev/ttyUSB2");
	g_assert_cmpstr(m->spec, ==, "qmi:/dev/cdc-wdm0");
	g_assert_false(m->exclusive); /* shared through qmi-proxy */
	g_assert_cmpstr(m->eid, ==, EID_QMI);
	g_assert_cmpstr(m->iccid, ==, ICCID_QMI);
	g_assert_cmpstr(m->operator_name, ==, "Quantra Test");
	g_assert_cmpstr(m->sim_type, ==, "esim");
	g_assert_cmpstr(m->esim_status, ==, "with profiles");
	g_assert_cmpstr(m->state, ==, "registered");
	g_assert_true(g_str_has_prefix(m->device, "/sys/devices/"));

	/* several slots: the spec names the active one */
	m = modem_at(modems, 1);
	g_assert_nonnull(m);
	g_assert_cmpstr(m->transport, ==, "mbim");
	g_assert_cmpuint(m->n_slots, ==, 2);
	g_assert_cmpuint(m->slot, ==, 1);
	g_assert_cmpstr(m->spec, ==, "mbim:/dev/wwan0mbim0?slot=1");
	g_assert_cmpstr(m->eid, ==, EID_MBIM);

	/* an AT port only: reached through it, once ModemManager has let go of the TTY */
	m = modem_at(modems, 2);
	g_assert_nonnull(m);
	g_assert_cmpstr(m->transport, ==, "at");
	g_assert_cmpstr(m->spec, ==, "at:/dev/ttyUSB0");
	g_assert_true(m->exclusive);
	g_assert_null(m->eid);
	g_assert_null(m->iccid);
	g_assert_cmpstr(m->esim_status, ==, "unknown");
	g_assert_cmpstr(m->at_port, ==, "/dev/ttyUSB0");
}

static void
test_resolve(Fixture *f, gconstpointer data)
{
	struct {
		const gchar *which;
		const gchar *spec; /* NULL: an error */
		gint code;
		const gchar *words;
	} cases[] = {
		{"0", "qmi:/dev/cdc-wdm0", 0, NULL},
		{MM_PATH "/Modem/1", "mbim:/dev/wwan0mbim0?slot=1", 0, NULL},
		{"1", "mbim:/dev/wwan0mbim0?slot=1", 0, NULL},
		{"any", "qmi:/dev/cdc-wdm0", 0, NULL},
		{"7", NULL, QL_ERROR_NOT_FOUND, "has no modem 7"},
		{MM_PATH "/Modem/9", NULL, QL_ERROR_NOT_FOUND, "has no modem"},
		{"modem0", NULL, QL_ERROR_INVALID_ARGUMENT, "index N or its object path"},
		{"-1", NULL, QL_ERROR_INVALID_ARGUMENT, "index N"},
		{"2", "at:/dev/ttyUSB0", 0, NULL},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(QlModemInfo) m = ql_modem_resolve(f->bus, cases[i].which, &error);
		if (cases[i].spec != NULL) {
			g_assert_no_error(error);
			g_assert_cmpstr(m->spec, ==, cases[i].spec);
			continue;
		}
		g_assert_null(m);
		g_assert_error(error, QL_ERROR, cases[i].code);
		g_assert_nonnull(strstr(error->message, cases[i].words));
	}
}

static void
test_fake_ports(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlModemInfo) qmi = ql_modem_resolve(f->bus, "0", &error);
	g_autoptr(QlModemInfo) mbim = NULL;

	g_assert_no_error(error);
	g_assert_cmpstr(qmi->spec, ==, "qmi:/tmp/ql-fake/qmi0");
	mbim = ql_modem_resolve(f->bus, "1", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(mbim->spec, ==, "mbim:/tmp/ql-fake/mbim0?slot=2");
	g_assert_cmpuint(mbim->n_slots, ==, 3);
	g_assert_null(mbim->eid); /* a plain SIM: no EID */
	g_assert_cmpstr(mbim->sim_type, ==, "physical");
}

static void
test_not_running(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error2 = NULL;
	g_autoptr(GPtrArray) modems = ql_modem_list(f->bus, &error);
	g_autoptr(QlModemInfo) m = ql_modem_resolve(f->bus, "0", &error2);

	g_assert_null(modems);
	g_assert_error(error, QL_ERROR, QL_ERROR_IO);
	g_assert_nonnull(strstr(error->message, "ModemManager is not running"));
	g_assert_null(m);
	g_assert_error(error2, QL_ERROR, QL_ERROR_IO);
}

/* bus == NULL: the system bus, which GLib finds through DBUS_SYSTEM_BUS_ADDRESS */
static void
test_system_bus_env(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GDBusConnection) system = NULL;
	g_autoptr(QlModemInfo) m = NULL;

	g_setenv("DBUS_SYSTEM_BUS_ADDRESS", f->address, TRUE);
	system = g_bus_get_sync(G_BUS_TYPE_SYSTEM, NULL, &error);
	g_assert_no_error(error);
	/* the mock's bus goes away at teardown: this test process must outlive it */
	g_dbus_connection_set_exit_on_close(system, FALSE);
	m = ql_modem_resolve(NULL, MM_PATH "/Modem/0", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(m->eid, ==, EID_QMI);
	g_dbus_connection_close_sync(system, NULL, NULL);
	g_unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
}

static void
test_inhibit(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlModemInfo) m = ql_modem_resolve(f->bus, "0", &error);
	g_autoptr(QlModemInhibit) inhibit = NULL;
	g_autoptr(GPtrArray) during = NULL;
	g_autoptr(QlModemInfo) back = NULL;
	g_autofree gchar *calls = NULL;
	g_autofree gchar *expected = NULL;

	g_assert_no_error(error);
	inhibit = ql_modem_inhibit(f->bus, m, &error);
	g_assert_no_error(error);
	g_assert_nonnull(inhibit);

	/* ModemManager lets go of the modem: its object disappears */
	during = ql_modem_list(f->bus, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(during->len, ==, 2);
	g_assert_null(modem_at(during, 0));

	g_assert_true(ql_modem_uninhibit(inhibit, &error));
	g_assert_no_error(error);
	g_assert_true(ql_modem_uninhibit(inhibit, &error)); /* a second call does nothing */
	calls = inhibit_calls(f);
	expected = g_strdup_printf("%s true\n%s false\n", m->device, m->device);
	g_assert_cmpstr(calls, ==, expected);

	/* re-probed under a new index, same SIM */
	back = ql_modem_wait_for_iccid(f->bus, m, NULL, 5000, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(back->index, ==, 3);
	g_clear_pointer(&back, ql_modem_info_free);
	back = ql_modem_wait_for_iccid(f->bus, m, ICCID_QMI, 5000, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(back->index, ==, 3);
	g_assert_cmpstr(back->spec, ==, "qmi:/dev/cdc-wdm0");
	g_assert_cmpstr(back->device, ==, m->device);
}

/* Dropping a held inhibit (an error path) gives the modem back */
static void
test_inhibit_free(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlModemInfo) m = ql_modem_resolve(f->bus, "1", &error);
	QlModemInhibit *inhibit;
	g_autofree gchar *calls = NULL;
	g_autofree gchar *expected = NULL;

	g_assert_no_error(error);
	inhibit = ql_modem_inhibit(f->bus, m, &error);
	g_assert_no_error(error);
	/* ModemManager refuses a second inhibit of the same device: the error is in words */
	{
		g_autoptr(GError) error2 = NULL;
		g_autoptr(QlModemInhibit) again = ql_modem_inhibit(f->bus, m, &error2);
		g_assert_null(again);
		g_assert_error(error2, QL_ERROR, QL_ERROR_IO);
		g_assert_nonnull(strstr(error2->message, "would not release modem 1"));
	}
	ql_modem_inhibit_free(inhibit);
	calls = inhibit_calls(f);
	expected = g_strdup_printf("%s true\n%s true\n%s false\n", m->device, m->device, m->device);
	g_assert_cmpstr(calls, ==, expected);
}

typedef struct {
	GDBusConnection *bus;
	gchar *uid;
} IccidChange;

/* What the card does after a profile switch: ModemManager later shows another ICCID */
static gpointer
change_iccid_later(gpointer data)
{
	IccidChange *c = data;
	g_usleep(700 * 1000);
	mock_set_iccid(c->bus, c->uid, ICCID_NEW);
	return NULL;
}

static void
test_wait_for_iccid(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(QlModemInfo) m = ql_modem_resolve(f->bus, "0", &error);
	g_autoptr(QlModemInhibit) inhibit = NULL;
	g_autoptr(QlModemInfo) back = NULL;
	IccidChange change;
	GThread *thread;

	g_assert_no_error(error);
	inhibit = ql_modem_inhibit(f->bus, m, &error);
	g_assert_no_error(error);
	g_assert_true(ql_modem_uninhibit(inhibit, &error));

	change.bus = f->bus;
	change.uid = m->device;
	thread = g_thread_new("iccid", change_iccid_later, &change);
	back = ql_modem_wait_for_iccid(f->bus, m, ICCID_NEW, 5000, &error);
	g_thread_join(thread);
	g_assert_no_error(error);
	g_assert_cmpstr(back->iccid, ==, ICCID_NEW);
	g_assert_cmpuint(back->index, !=, m->index);

	/* ICCIDs match with or without the filler F */
	g_clear_pointer(&back, ql_modem_info_free);
	back = ql_modem_wait_for_iccid(f->bus, m, ICCID_NEW "F", 1000, &error);
	g_assert_no_error(error);
}

static void
test_wait_timeout(Fixture *f, gconstpointer data)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GError) error2 = NULL;
	g_autoptr(QlModemInfo) m = ql_modem_resolve(f->bus, "0", &error);
	g_autoptr(QlModemInfo) back = NULL;
	g_autoptr(GVariant) ret = NULL;

	g_assert_no_error(error);
	back = ql_modem_wait_for_iccid(f->bus, m, ICCID_NEW, 800, &error);
	g_assert_null(back);
	g_assert_error(error, QL_ERROR, QL_ERROR_TIMEOUT);
	g_assert_nonnull(
		strstr(error->message, "still shows the SIM " ICCID_QMI ", not " ICCID_NEW));

	/* the modem goes away and stays away */
	ret = g_dbus_connection_call_sync(f->bus, "org.freedesktop.ModemManager1", MM_PATH,
					  "org.quantra.Test.MockModemManager", "RemoveModem",
					  g_variant_new("(s)", m->device), NULL, 0, 5000, NULL,
					  &error2);
	g_assert_no_error(error2);
	back = ql_modem_wait_for_iccid(f->bus, m, ICCID_QMI, 500, &error2);
	g_assert_null(back);
	g_assert_error(error2, QL_ERROR, QL_ERROR_IO);
	g_assert_nonnull(strstr(error2->message, "did not come back"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add("/ql/modem/list", Fixture, NULL, fixture_setup, test_list, fixture_teardown);
	g_test_add("/ql/modem/resolve", Fixture, NULL, fixture_setup, test_resolve,
		   fixture_teardown);
	g_test_add("/ql/modem/fake-ports", Fixture, "fakes", fixture_setup, test_fake_ports,
		   fixture_teardown);
	g_test_add("/ql/modem/not-running", Fixture, "absent", fixture_setup, test_not_running,
		   fixture_teardown);
	g_test_add("/ql/modem/system-bus-env", Fixture, NULL, fixture_setup, test_system_bus_env,
		   fixture_teardown);
	g_test_add("/ql/modem/inhibit", Fixture, NULL, fixture_setup, test_inhibit,
		   fixture_teardown);
	g_test_add("/ql/modem/inhibit-free", Fixture, NULL, fixture_setup, test_inhibit_free,
		   fixture_teardown);
	g_test_add("/ql/modem/wait-for-iccid", Fixture, NULL, fixture_setup, test_wait_for_iccid,
		   fixture_teardown);
	g_test_add("/ql/modem/wait-timeout", Fixture, NULL, fixture_setup, test_wait_timeout,
		   fixture_teardown);
	return g_test_run();
}
