/*
 * libFuzzer target for the configuration file (/etc/quantra-l/quantra-l.conf: [tls], [pins],
 * [client-certificate HOST], [modem SPEC] / [model MODEL], ...) and the carrier table
 * (data/carriers.conf): the input is the file. What loads is then used as the CLI uses it
 * (device parameters for a spec and a model, a carrier's address). Seeds in
 * tests/data/fuzz-config/; scripts/fuzz runs it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include "config.h"

#include <sys/mman.h>
#include <unistd.h>

#include "quantra-l/ql-error.h"
#include "ql-config.h"

int LLVMFuzzerTestOneInput(const guint8 *data, gsize size);

/* The file the loaders read: one in-memory file, rewritten for each input */
static const gchar *
fuzz_file(const guint8 *data, gsize size)
{
	static gint fd = -1;
	static gchar path[64];

	if (fd < 0) {
		fd = memfd_create("ql-fuzz-config", 0);
		g_assert(fd >= 0);
		g_snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	g_assert(ftruncate(fd, 0) == 0);
	g_assert(pwrite(fd, data, size, 0) == (ssize_t)size);
	return path;
}

int
LLVMFuzzerTestOneInput(const guint8 *data, gsize size)
{
	const gchar *path = fuzz_file(data, size);
	g_autoptr(GError) error = NULL;
	g_autoptr(QlConfig) cfg = ql_config_load(path, &error);
	g_autofree gchar *address = NULL;

	g_assert((cfg == NULL) != (error == NULL));
	if (cfg != NULL) {
		g_autofree gchar *p1 = ql_config_device_params(cfg, "qmi:/dev/cdc-wdm0", "EM7455");
		g_autofree gchar *p2 = ql_config_device_params(cfg, "mbim:/dev/wwan0mbim0", NULL);
		g_autofree gchar *spec = ql_config_spec_add_params("qmi:/dev/cdc-wdm0?slot=2", p1);
		g_assert(spec != NULL);
	}
	/* the same bytes as a carrier table */
	g_clear_error(&error);
	address = ql_config_carrier_address(path, "quantra-test", &error);
	g_assert((address == NULL) != (error == NULL));
	return 0;
}
