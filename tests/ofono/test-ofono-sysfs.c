/*
 * ql_ofono_spec_from_sysfs: an oFono modem's SystemPath (its USB or PCI device in sysfs) to the
 * device spec of its eUICC's port, on fake sysfs trees laid out as the kernel lays them out.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "quantra-l/ql-error.h"
#include "ql-ofono.h"

typedef struct {
	const gchar *name;
	const gchar *const *dirs;  /* below the device */
	const gchar *const *links; /* "PATH=TARGET" symlinks below the device */
	const gchar *spec;	   /* NULL: an error is expected */
	const gchar *transport;
	const gchar *error; /* a part of the message */
} Case;

#define DIRS(...) ((const gchar *const[]){__VA_ARGS__, NULL})
#define NONE ((const gchar *const[]){NULL})

static const Case cases[] = {
	{"qmi-first",
	 DIRS("1-2:1.2/ttyUSB2", "1-2:1.3/ttyUSB3", "1-2:1.4/usbmisc/cdc-wdm0",
	      "1-2:1.4/net/wwan0"),
	 DIRS("1-2:1.4/driver=../../../../bus/usb/drivers/qmi_wwan"), "qmi:/dev/cdc-wdm0", "qmi",
	 NULL},
	{"mbim", DIRS("1-3:1.0/usbmisc/cdc-wdm1", "1-3:1.2/tty/ttyACM0"),
	 DIRS("1-3:1.0/driver=../../../../bus/usb/drivers/cdc_mbim"), "mbim:/dev/cdc-wdm1", "mbim",
	 NULL},
	{"cdc-wdm-of-another-driver", DIRS("1-4:1.1/usbmisc/cdc-wdm2", "1-4:1.2/tty/ttyACM1"),
	 DIRS("1-4:1.1/driver=../../../../bus/usb/drivers/huawei_cdc_ncm"), "at:/dev/ttyACM1", "at",
	 NULL},
	{"wwan-mbim", DIRS("wwan/wwan0/wwan0at0", "wwan/wwan0/wwan0mbim0", "net/wwan0"), NONE,
	 "mbim:/dev/wwan0mbim0", "mbim", NULL},
	{"wwan-qmi", DIRS("wwan/wwan1/wwan1qmi0", "wwan/wwan1/wwan1at0"), NONE,
	 "qmi:/dev/wwan1qmi0", "qmi", NULL},
	{"wwan-at", DIRS("wwan/wwan0/wwan0at1", "wwan/wwan0/wwan0at0", "wwan/wwan0/wwan0qcdm0"),
	 NONE, "at:/dev/wwan0at0", "at", NULL},
	{"several-ttys", DIRS("1-5:1.10/ttyUSB10", "1-5:1.0/ttyUSB0", "1-5:1.1/ttyUSB1"), NONE,
	 NULL, NULL, "several AT ports (/dev/ttyUSB0, /dev/ttyUSB1, /dev/ttyUSB10)"},
	{"no-port", DIRS("1-6:1.0/net/usb0", "1-6:1.0/wwan0x"), NONE, NULL, NULL,
	 "no QMI, MBIM or AT port was found under"},
	/* sysfs links lead out of the device (and into loops): never followed */
	{"links-not-followed", DIRS("1-7:1.0/ep_81", "elsewhere/1-8:1.0/ttyUSB7"),
	 DIRS("1-7:1.0/port=../../elsewhere", "1-7:1.0/loop=.."), NULL, NULL,
	 "no QMI, MBIM or AT port"},
};

static void
make_tree(const gchar *root, const Case *c)
{
	for (guint i = 0; c->dirs[i] != NULL; i++) {
		g_autofree gchar *d = g_build_filename(root, c->dirs[i], NULL);
		g_assert_cmpint(g_mkdir_with_parents(d, 0755), ==, 0);
	}
	for (guint i = 0; c->links[i] != NULL; i++) {
		g_auto(GStrv) kv = g_strsplit(c->links[i], "=", 2);
		g_autofree gchar *l = g_build_filename(root, kv[0], NULL);
		g_autofree gchar *dir = g_path_get_dirname(l);
		g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
		g_assert_cmpint(symlink(kv[1], l), ==, 0);
	}
}

static void
test_case(gconstpointer data)
{
	const Case *c = data;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *tmp = g_dir_make_tmp("ql-ofono-sysfs-XXXXXX", &error);
	g_autofree gchar *dev = NULL;
	g_autofree gchar *transport = NULL;
	g_autofree gchar *spec = NULL;
	g_autofree gchar *rm = NULL;

	g_assert_no_error(error);
	/* the elsewhere/ of links-not-followed lies beside the device, not below it */
	dev = g_build_filename(tmp, "devices", "usb1", c->name, NULL);
	g_assert_cmpint(g_mkdir_with_parents(dev, 0755), ==, 0);
	if (g_strcmp0(c->name, "links-not-followed") == 0) {
		g_autofree gchar *other = g_build_filename(dev, "..", NULL);
		make_tree(other, &(Case){.dirs = DIRS("elsewhere/1-8:1.0/ttyUSB7"), .links = NONE});
		make_tree(dev, &(Case){.dirs = DIRS("1-7:1.0/ep_81"), .links = c->links});
	} else {
		make_tree(dev, c);
	}
	spec = ql_ofono_spec_from_sysfs(dev, &transport, &error);
	if (c->spec != NULL) {
		g_assert_no_error(error);
		g_assert_cmpstr(spec, ==, c->spec);
		g_assert_cmpstr(transport, ==, c->transport);
	} else {
		g_assert_error(error, QL_ERROR, QL_ERROR_NOT_FOUND);
		g_assert_null(spec);
		g_assert_null(transport);
		g_assert_nonnull(strstr(error->message, c->error));
	}
	rm = g_strdup_printf("rm -rf '%s'", tmp);
	g_assert_true(g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL));
}

static void
test_missing(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *transport = NULL;
	g_autofree gchar *spec =
		ql_ofono_spec_from_sysfs("/nonexistent/devices/usb9/9-9", &transport, &error);
	g_assert_null(spec);
	g_assert_error(error, QL_ERROR, QL_ERROR_NOT_FOUND);
	g_assert_cmpstr(error->message, ==,
			"the modem's device /nonexistent/devices/usb9/9-9 is not in sysfs");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree gchar *path = g_strdup_printf("/ql/ofono/sysfs/%s", cases[i].name);
		g_test_add_data_func(path, &cases[i], test_case);
	}
	g_test_add_func("/ql/ofono/sysfs/missing", test_missing);
	return g_test_run();
}
