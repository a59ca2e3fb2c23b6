/*
 * The "at" channel plugin: an eUICC behind a modem's AT command port, through the logical channel
 * commands of 3GPP TS 27.007 (+CCHO open, +CGLA transmit, +CCHC close). Device spec
 * at:/dev/ttyUSB2[?params].
 *
 * Parameters:
 *   baud=N      line speed (default 115200; USB modems ignore it)
 *   timeout=S   seconds one command may take (default 20)
 * block= and isd-r= belong to the core and are ignored here.
 *
 * A tty has one reader: while ModemManager uses the same port, bytes go to whoever reads first.
 * Use a port ModemManager leaves alone, or let the core inhibit the modem first.
 *
 * Sessions and channels: +CCHO gives a session id, +CGLA takes one, and the CLA of each APDU the
 * core builds names a logical channel. Most modems use the channel number as the session id; when
 * the id is 1..19 we report it as the channel and pass APDUs unchanged. A modem whose ids are
 * something else (e.g. 256+n) manages the channel bits of the CLA itself; we then give the core
 * the lowest unused channel number, keep the session id for it, and leave the CLA as the core
 * built it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gmodule.h>
#include <poll.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "quantra-l/ql-error.h"
#include "quantra-l/ql-hex.h"
#include "quantra-l/ql-plugin.h"
#include "ql-at-parser.h"

#define QL_AT_DEFAULT_TIMEOUT_S 20
#define QL_AT_PROBE_TIMEOUT_MS 3000
/* after a timeout, the late answer is drained until the line is quiet this long */
#define QL_AT_QUIET_MS 300
#define QL_AT_MAX_CHANNEL 19

struct _QlPluginDevice {
	int fd;
	gchar *path;
	guint timeout_ms;
	guint32 session[QL_AT_MAX_CHANNEL + 1]; /* by channel; 0: not open */
	gboolean resync; /* a command timed out: its answer may still arrive */
};

static const struct {
	guint baud;
	speed_t speed;
} ql_at_speeds[] = {
	{9600, B9600},	   {19200, B19200},   {38400, B38400},
	{57600, B57600},   {115200, B115200}, {230400, B230400},
	{460800, B460800}, {921600, B921600}, {3000000, B3000000},
};

static void
ql_at_set_io_error(QlPluginDevice *dev, GError **error, int err, const gchar *what)
{
	if (err == EIO || err == ENXIO || err == ENODEV || err == 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "at: the modem on %s went away (%s)",
			    dev->path, err == 0 ? "hang-up" : g_strerror(err));
		return;
	}
	g_set_error(error, QL_ERROR, QL_ERROR_IO, "at: %s %s: %s", what, dev->path,
		    g_strerror(err));
}

/* Waits up to @timeout_ms for bytes from the modem and reads them: >0 bytes read, 0 when the
 * line stayed quiet, -1 (error set) when the modem went away or the port failed. */
static gssize
ql_at_read_wait(QlPluginDevice *dev, guint8 *buf, gsize len, gint timeout_ms, GError **error)
{
	for (;;) {
		struct pollfd pfd = {.fd = dev->fd, .events = POLLIN};
		int r = poll(&pfd, 1, timeout_ms);
		ssize_t n;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ql_at_set_io_error(dev, error, errno, "polling");
			return -1;
		}
		if (r == 0)
			return 0;
		/* a hang-up with nothing left to read: the modem is gone */
		if ((pfd.revents & POLLIN) == 0) {
			ql_at_set_io_error(dev, error, 0, NULL);
			return -1;
		}
		n = read(dev->fd, buf, len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			ql_at_set_io_error(dev, error, n == 0 ? 0 : errno, "reading");
			return -1;
		}
		return n;
	}
}

/* Throws away what the modem sent that nobody asked for; after a timeout, waits for the line to
 * go quiet so that the late answer is not taken for the next one. */
static gboolean
ql_at_drain(QlPluginDevice *dev, GError **error)
{
	guint8 buf[512];
	gint64 end = g_get_monotonic_time() + 2 * G_TIME_SPAN_SECOND;
	gint quiet = dev->resync ? QL_AT_QUIET_MS : 0;

	for (;;) {
		gssize n = ql_at_read_wait(dev, buf, sizeof(buf), quiet, error);
		if (n < 0)
			return FALSE;
		if (n == 0)
			break;
		/* a modem that never stops talking still gets its command */
		if (g_get_monotonic_time() > end)
			break;
	}
	dev->resync = FALSE;
	return TRUE;
}

static gboolean
ql_at_write_all(QlPluginDevice *dev, const gchar *data, gsize len, gint64 deadline, GError **error)
{
	gsize done = 0;
	while (done < len) {
		struct pollfd pfd = {.fd = dev->fd, .events = POLLOUT};
		gint64 left = (deadline - g_get_monotonic_time()) / 1000;
		ssize_t n;
		int r;
		if (left <= 0) {
			g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
				    "at: the modem on %s does not take input", dev->path);
			return FALSE;
		}
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ql_at_set_io_error(dev, error, errno, "polling");
			return FALSE;
		}
		if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) {
			ql_at_set_io_error(dev, error, 0, NULL);
			return FALSE;
		}
		if (r == 0)
			continue;
		n = write(dev->fd, data + done, len - done);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			ql_at_set_io_error(dev, error, errno, "writing to");
			return FALSE;
		}
		done += (gsize)n;
	}
	return TRUE;
}

/* Sends @cmd (without "AT" and CR: e.g. "+CGLA=1,8,\"...\"") and reads the answer into @p, which
 * the caller has set up with the prefix it waits for. @name names the command in errors (its
 * arguments may carry secrets, so they never appear there). */
static gboolean
ql_at_command(QlPluginDevice *dev, const gchar *cmd, const gchar *name, guint timeout_ms,
	      QlAtParser *p, GError **error)
{
	g_autofree gchar *line = g_strdup_printf("AT%s\r", cmd);
	gint64 deadline;

	if (!ql_at_drain(dev, error))
		return FALSE;
	deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	if (!ql_at_write_all(dev, line, strlen(line), deadline, error))
		return FALSE;
	for (;;) {
		guint8 buf[512];
		gint64 left = (deadline - g_get_monotonic_time()) / 1000;
		gssize n;
		if (left <= 0) {
			dev->resync = TRUE;
			g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
				    "at: the modem on %s did not answer %s within %u s", dev->path,
				    name, (timeout_ms + 999) / 1000);
			return FALSE;
		}
		n = ql_at_read_wait(dev, buf, sizeof(buf), (gint)left, error);
		if (n < 0)
			return FALSE;
		if (n > 0 && ql_at_parser_feed(p, buf, (gsize)n, NULL))
			break;
	}
	if (p->n_noise > 0 || p->n_overlong > 0)
		g_debug("%s: skipped %u noisy and %u overlong line(s)", name, p->n_noise,
			p->n_overlong);
	return ql_at_parser_check(p, name, error);
}

static gboolean
ql_at_close_channel(QlPluginDevice *dev, guint8 channel, GError **error)
{
	g_autofree gchar *cmd = NULL;
	QlAtParser p;
	gboolean ok;

	if (channel == 0 || channel > QL_AT_MAX_CHANNEL || dev->session[channel] == 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "at: logical channel %u is not open", channel);
		return FALSE;
	}
	cmd = g_strdup_printf("+CCHC=%u", dev->session[channel]);
	/* whatever the answer, the session is no longer ours to use */
	dev->session[channel] = 0;
	ql_at_parser_init(&p, "", FALSE);
	ok = ql_at_command(dev, cmd, "AT+CCHC", dev->timeout_ms, &p, error);
	ql_at_parser_clear(&p);
	return ok;
}

static gboolean
ql_at_open_channel(QlPluginDevice *dev, const guint8 *aid, gsize aid_len, guint8 *channel,
		   GError **error)
{
	g_autoptr(GString) cmd = g_string_new("+CCHO=\"");
	g_autofree gchar *aid_hex = NULL;
	QlAtParser p;
	guint32 session = 0;
	guint8 ch = 0;

	if (aid_len < 5 || aid_len > 16) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "at: an AID of %" G_GSIZE_FORMAT " bytes (must be 5 to 16)", aid_len);
		return FALSE;
	}
	aid_hex = ql_hex_encode(aid, aid_len);
	g_string_append_printf(cmd, "%s\"", aid_hex);
	ql_at_parser_init(&p, "+CCHO:", TRUE);
	if (!ql_at_command(dev, cmd->str, "AT+CCHO", dev->timeout_ms, &p, error) ||
	    !ql_at_parse_ccho(p.info[0], &session, error)) {
		ql_at_parser_clear(&p);
		return FALSE;
	}
	ql_at_parser_clear(&p);

	if (session <= QL_AT_MAX_CHANNEL && dev->session[session] == 0) {
		ch = (guint8)session;
	} else {
		for (guint8 c = 1; c <= QL_AT_MAX_CHANNEL && ch == 0; c++) {
			if (dev->session[c] == 0)
				ch = c;
		}
	}
	if (ch == 0) {
		g_autofree gchar *close = g_strdup_printf("+CCHC=%u", session);
		ql_at_parser_init(&p, "", FALSE);
		ql_at_command(dev, close, "AT+CCHC", dev->timeout_ms, &p, NULL);
		ql_at_parser_clear(&p);
		g_set_error(error, QL_ERROR, QL_ERROR_BUSY,
			    "at: all %u logical channels are in use", QL_AT_MAX_CHANNEL);
		return FALSE;
	}
	if (ch != session)
		g_debug("session %u is reported as channel %u", session, ch);
	dev->session[ch] = session;
	*channel = ch;
	return TRUE;
}

static GBytes *
ql_at_transmit(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize apdu_len,
	       GError **error)
{
	g_autoptr(GString) cmd = NULL;
	g_autofree gchar *apdu_hex = NULL;
	QlAtParser p;
	GBytes *r;

	if (channel == 0 || channel > QL_AT_MAX_CHANNEL || dev->session[channel] == 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "at: logical channel %u is not open", channel);
		return NULL;
	}
	if (apdu_len < 4 || apdu_len > 261) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "at: a command APDU of %" G_GSIZE_FORMAT
			    " bytes (+CGLA takes 4 to 261)",
			    apdu_len);
		return NULL;
	}
	cmd = g_string_sized_new(32 + 2 * apdu_len);
	g_string_printf(cmd, "+CGLA=%u,%" G_GSIZE_FORMAT ",\"", dev->session[channel],
			2 * apdu_len);
	apdu_hex = ql_hex_encode(apdu, apdu_len);
	g_string_append_printf(cmd, "%s\"", apdu_hex);
	ql_at_parser_init(&p, "+CGLA:", FALSE);
	if (!ql_at_command(dev, cmd->str, "AT+CGLA", dev->timeout_ms, &p, error)) {
		ql_at_parser_clear(&p);
		return NULL;
	}
	r = ql_at_parse_cgla(p.info[0], error);
	ql_at_parser_clear(&p);
	return r;
}

static void
ql_at_close(QlPluginDevice *dev)
{
	if (dev == NULL)
		return;
	/* a device that goes away leaves no channel open on the card */
	for (guint8 ch = 1; ch <= QL_AT_MAX_CHANNEL && dev->fd >= 0; ch++) {
		if (dev->session[ch] != 0)
			ql_at_close_channel(dev, ch, NULL);
	}
	if (dev->fd >= 0)
		close(dev->fd);
	g_free(dev->path);
	g_free(dev);
}

static gboolean
ql_at_setup_line(QlPluginDevice *dev, speed_t speed, GError **error)
{
	struct termios tio;
	if (!isatty(dev->fd)) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "at: %s is not a serial port", dev->path);
		return FALSE;
	}
	if (tcgetattr(dev->fd, &tio) != 0) {
		ql_at_set_io_error(dev, error, errno, "reading the line settings of");
		return FALSE;
	}
	/* raw bytes: no echo, no line editing, no CR/LF translation, no flow control chars */
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	cfsetispeed(&tio, speed);
	cfsetospeed(&tio, speed);
	if (tcsetattr(dev->fd, TCSANOW, &tio) != 0) {
		ql_at_set_io_error(dev, error, errno, "setting up");
		return FALSE;
	}
	tcflush(dev->fd, TCIOFLUSH);
	return TRUE;
}

static QlPluginDevice *
ql_at_open(const gchar *path, GHashTable *params, GError **error)
{
	const gchar *const known[] = {"baud", "timeout", "block", "isd-r", NULL};
	QlPluginDevice *dev;
	guint64 baud = 115200, timeout = QL_AT_DEFAULT_TIMEOUT_S;
	speed_t speed = 0;
	QlAtParser p;
	gboolean ok = FALSE;
	g_autoptr(GError) probe_error = NULL;

	if (params != NULL) {
		GHashTableIter it;
		gpointer key;
		const gchar *v;
		g_hash_table_iter_init(&it, params);
		while (g_hash_table_iter_next(&it, &key, NULL)) {
			if (!g_strv_contains(known, key)) {
				g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    "at: unknown parameter '%s' (known: baud, timeout)",
					    (const gchar *)key);
				return NULL;
			}
		}
		v = g_hash_table_lookup(params, "timeout");
		if (v != NULL && !g_ascii_string_to_unsigned(v, 10, 1, 600, &timeout, NULL)) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "at: timeout=%s is not a number of seconds from 1 to 600", v);
			return NULL;
		}
		v = g_hash_table_lookup(params, "baud");
		if (v != NULL && !g_ascii_string_to_unsigned(v, 10, 1, G_MAXUINT32, &baud, NULL))
			baud = 0;
	}
	for (guint i = 0; i < G_N_ELEMENTS(ql_at_speeds); i++) {
		if (ql_at_speeds[i].baud == baud)
			speed = ql_at_speeds[i].speed;
	}
	if (speed == 0) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "at: baud=%s is not a supported line speed (e.g. 9600, 115200, "
			    "921600)",
			    (const gchar *)g_hash_table_lookup(params, "baud"));
		return NULL;
	}
	if (path[0] == '\0') {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "at: no serial port given (e.g. at:/dev/ttyUSB2)");
		return NULL;
	}

	dev = g_new0(QlPluginDevice, 1);
	dev->path = g_strdup(path);
	dev->timeout_ms = (guint)timeout * 1000;
	dev->fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (dev->fd < 0) {
		int err = errno;
		g_set_error(error, QL_ERROR, err == ENOENT ? QL_ERROR_NOT_FOUND : QL_ERROR_IO,
			    "at: cannot open %s: %s%s", path, g_strerror(err),
			    err == EACCES ? " (root or the dialout group may open it)" : "");
		ql_at_close(dev);
		return NULL;
	}
	if (!ql_at_setup_line(dev, speed, error)) {
		ql_at_close(dev);
		return NULL;
	}
	/* echo off, but a modem that keeps echoing is handled as well; a second try wakes
	 * modems that drop the first command after the port opens */
	for (guint attempt = 0; attempt < 2 && !ok; attempt++) {
		g_clear_error(&probe_error);
		ql_at_parser_init(&p, "", FALSE);
		ok = ql_at_command(dev, "E0", "ATE0", MIN(dev->timeout_ms, QL_AT_PROBE_TIMEOUT_MS),
				   &p, &probe_error);
		ql_at_parser_clear(&p);
		if (!ok && probe_error->code != QL_ERROR_TIMEOUT)
			break;
	}
	if (!ok) {
		g_set_error(error, QL_ERROR, probe_error->code,
			    "at: %s does not answer AT commands: %s", path, probe_error->message);
		ql_at_close(dev);
		return NULL;
	}
	/* numeric +CME ERROR codes, which we put in words; not every modem has it */
	ql_at_parser_init(&p, "", FALSE);
	ql_at_command(dev, "+CMEE=1", "AT+CMEE", MIN(dev->timeout_ms, QL_AT_PROBE_TIMEOUT_MS), &p,
		      NULL);
	ql_at_parser_clear(&p);
	return dev;
}

static const QlPluginInfo ql_plugin_at_info = {
	.abi_version = QL_PLUGIN_ABI_VERSION,
	.scheme = "at",
	.description = "eUICC behind a modem's AT port (+CCHO/+CGLA/+CCHC)",
	.open = ql_at_open,
	.close = ql_at_close,
	.open_channel = ql_at_open_channel,
	.transmit = ql_at_transmit,
	.close_channel = ql_at_close_channel,
};

G_MODULE_EXPORT const QlPluginInfo *ql_plugin_entry(void);

G_MODULE_EXPORT const QlPluginInfo *
ql_plugin_entry(void)
{
	return &ql_plugin_at_info;
}
