/*
 * ql-fake-at: a fake AT modem on a pseudo-terminal, with the virtual eUICC as its SIM.
 *
 * It answers AT+CCHO / AT+CGLA / AT+CCHC (3GPP TS 27.007 8.45, 8.43, 8.46) from ql_vcard, in the
 * V.250 verbose format (<CR><LF>answer<CR><LF>), with echo on until ATE0, and slips in unsolicited
 * result codes now and then as modems do. Prints `device at:/dev/pts/N` when ready; on SIGTERM
 * prints `open-channels N` and exits 0.
 *
 * Faults (--fault, on the STORE DATA that follows --fault-skip N others, once):
 *   garbage   binary noise and overlong lines around every answer, and echo that ATE0 does not
 *             turn off (not once: all the time; the commands still work)
 *   vanish    the modem disappears (the pty is closed) instead of answering; as after a real
 *             modem reset, the SIM has lost its channels
 *   error     +CME ERROR: 3 instead of the answer
 *   timeout   no answer at all
 * With the suffix -on-load (vanish-on-load, error-on-load, timeout-on-load) the fault fires on the
 * first block of the first profile segment (86) of a Bound Profile Package instead: mid-download.
 * Quirks (--quirk): session-offset (session ids are 256 + channel and the modem sets the CLA's
 * channel bits itself, as some modems do), bare-ccho (+CCHO answers the id without a prefix).
 *
 * For ModemManager (tests/mm/) the pty also answers what its probing and SIM reading need: ATI,
 * +CGMI/+CGMM/+CGMR, +GCAP (a 3GPP modem), +CPIN? (READY while a profile is enabled, else SIM
 * not inserted) and +CRSM on EF ICCID (the enabled profile's ICCID); everything else is ERROR.
 * Bytes before "AT" on a line (another protocol's probe) are dropped, as modems do. A TTY is one
 * line: while two processes hold it open (ModemManager has not let go of it), +CCHO is refused with
 * +CME ERROR: 14 and counted; after SIGTERM the count is printed as "shared-opens N".
 * (ModemManager's TIOCEXCL cannot show this on a pty, where it outlives ModemManager's close, and
 * root ignores it anyway.)
 *
 * With --tcp the modem also listens on a free loopback port (printed as `tcp 127.0.0.1:PORT`
 * before the `device` line), one client at a time: the port oFono's phonesim driver connects to.
 * That port starts with echo off and gets no unsolicited codes, and also answers what oFono's
 * phonesim and atmodem drivers ask while they bring the modem up (identity, +SIMSTATE, +CPIN,
 * +CIMI, +CRSM reads of EF.ICCID from the enabled profile, +CFUN); the eUICC commands work on
 * both ports. The pty stays the port for quantra-l's at: plugin (a modem's second AT port).
 * SIGUSR1 prints `open-channels N` at any time.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE /* posix_openpt and friends */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "ql-apdu.h"
#include "ql-vcard.h"
#include "../ql-fake-main.h"
#include "../ql-fake-sim.h"

#define MAX_COMMAND 4096

typedef enum {
	FAULT_NONE,
	FAULT_GARBAGE,
	FAULT_VANISH,
	FAULT_ERROR,
	FAULT_TIMEOUT,
} Fault;

/* One AT port: the pty, or the TCP client of --tcp. */
typedef struct {
	int fd;
	gboolean echo;
	gboolean urcs; /* slips in unsolicited result codes */
	GByteArray *in;
	guint watch;
} Port;

typedef struct {
	QlVcard *card;
	Port pty;
	int slave; /* kept open so that the pty lives on between clients */
	Port tcp;  /* fd -1 while no client is connected */
	int listener;
	Port *cur; /* the port the command being answered came from */
	gboolean cfun;
	Fault fault;
	gboolean fault_armed;
	guint fault_skip;
	gboolean fault_on_load;
	guint session_base;
	gboolean bare_ccho;
	guint answers;
	GRand *rand;
	guint shared_opens; /* +CCHO refused while another process also held the port */
	gboolean opened[QL_VCARD_MAX_CHANNELS + 1];
} Modem;

static void
port_close(Port *port)
{
	if (port->watch != 0)
		g_source_remove(port->watch);
	port->watch = 0;
	if (port->fd >= 0)
		close(port->fd);
	port->fd = -1;
	if (port->in != NULL)
		g_byte_array_set_size(port->in, 0);
}

static void
put(Modem *m, const gchar *data, gsize len)
{
	gsize done = 0;
	int fd = m->cur->fd;
	if (fd < 0)
		return;
	while (done < len) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		ssize_t n;
		if (poll(&pfd, 1, 2000) <= 0)
			return; /* nobody reads: drop it, as a modem's buffer would overflow */
		n = write(fd, data + done, len - done);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return;
		done += (gsize)n;
	}
}

static void
put_str(Modem *m, const gchar *s)
{
	put(m, s, strlen(s));
}

static void
put_noise(Modem *m, gboolean terminated)
{
	guint n = (guint)g_rand_int_range(m->rand, 4, 40);
	g_autofree gchar *buf = g_malloc(n);
	for (guint i = 0; i < n; i++) {
		guint8 c;
		do {
			c = (guint8)g_rand_int_range(m->rand, 0, 256);
		} while (c == '\r' || c == '\n');
		buf[i] = (gchar)c;
	}
	put(m, buf, n);
	if (terminated)
		put_str(m, "\r\n");
}

/* What comes before each answer: now and then an unsolicited result code; with the garbage
 * fault, noise and overlong lines too. */
static void
put_preamble(Modem *m)
{
	static const gchar *const urcs[] = {"+CREG: 1",
					    "RING",
					    "+CMTI: \"SM\",3",
					    "^RSSI: 20",
					    "+QIND: \"csq\",25,99",
					    "+CGEV: ME PDN ACT 1"};
	m->answers++;
	if (m->cur->urcs && m->answers % 3 == 0) {
		g_autofree gchar *u =
			g_strdup_printf("\r\n%s\r\n", urcs[(m->answers / 3) % G_N_ELEMENTS(urcs)]);
		put_str(m, u);
	}
	if (m->fault == FAULT_GARBAGE) {
		put_noise(m, TRUE);
		if (m->answers % 4 == 0) {
			g_autofree gchar *longline = g_strnfill(3000, 'Z');
			put_str(m, "\r\n+QIND: ");
			put_str(m, longline);
			put_str(m, "\r\n");
		}
	}
}

static void
answer(Modem *m, const gchar *info, const gchar *final)
{
	put_preamble(m);
	if (info != NULL) {
		put_str(m, "\r\n");
		put_str(m, info);
		put_str(m, "\r\n");
	}
	put_str(m, "\r\n");
	put_str(m, final);
	put_str(m, "\r\n");
	if (m->fault == FAULT_GARBAGE)
		put_noise(m, FALSE);
}

static GBytes *
card(Modem *m, const guint8 *apdu, gsize len)
{
	g_autoptr(GError) error = NULL;
	GBytes *r = ql_vcard_transmit(m->card, apdu, len, &error);
	if (r == NULL)
		g_printerr("ql-fake-at: card: %s\n", error->message);
	return r;
}

/* A modem that resets (or vanishes) takes its SIM's channels with it. */
static void
reset_card(Modem *m)
{
	for (guint8 ch = 1; ch <= QL_VCARD_MAX_CHANNELS; ch++) {
		g_autoptr(GError) error = NULL;
		if (!ql_vcard_close_logical_channel(m->card, ch, NULL, &error))
			g_printerr("ql-fake-at: card: %s\n", error->message);
		m->opened[ch] = FALSE;
	}
}

static GBytes *
parse_hex(const gchar *s, gsize n)
{
	g_autoptr(GByteArray) b = g_byte_array_new();
	if (n % 2 != 0)
		return NULL;
	for (gsize i = 0; i < n; i += 2) {
		gint hi = g_ascii_xdigit_value(s[i]), lo = g_ascii_xdigit_value(s[i + 1]);
		guint8 v;
		if (hi < 0 || lo < 0)
			return NULL;
		v = (guint8)((hi << 4) | lo);
		g_byte_array_append(b, &v, 1);
	}
	return g_byte_array_free_to_bytes(g_steal_pointer(&b));
}

static gchar *
to_hex(GBytes *b)
{
	gsize len = 0;
	const guint8 *p = g_bytes_get_data(b, &len);
	GString *s = g_string_sized_new(2 * len);
	for (gsize i = 0; i < len; i++)
		g_string_append_printf(s, "%02X", p[i]);
	return g_string_free(s, FALSE);
}

/* Whether the armed fault fires on this APDU: the STORE DATA after --fault-skip others, or with
 * -on-load the first block (P2 0) of a profile segment (86, SGP.22 2.5.5) */
static gboolean
fault_due(Modem *m, const guint8 *apdu, gsize len)
{
	if (!m->fault_armed || len < 4 || apdu[1] != 0xE2)
		return FALSE;
	if (m->fault_on_load)
		return len > 5 && apdu[3] == 0x00 && apdu[4] > 0 && apdu[5] == 0x86;
	return m->fault_skip-- == 0;
}

/* session id -> channel, 0 when it is not one of ours */
static guint8
channel_of(Modem *m, guint64 session)
{
	if (session <= m->session_base || session > m->session_base + QL_VCARD_MAX_CHANNELS)
		return 0;
	if (!m->opened[session - m->session_base])
		return 0;
	return (guint8)(session - m->session_base);
}

/* Processes other than this one that have the pty's slave open (from /proc/PID/fd; the same
 * inode: another devpts instance has its own /dev/pts/N) */
static guint
other_openers(Modem *m)
{
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	const gchar *pid;
	struct stat self;
	guint n = 0;

	if (m->slave < 0 || fstat(m->slave, &self) != 0)
		return 0;

	while (proc != NULL && (pid = g_dir_read_name(proc)) != NULL) {
		g_autofree gchar *fds = NULL;
		g_autoptr(GDir) dir = NULL;
		const gchar *fd;
		if (!g_ascii_isdigit(pid[0]) || (pid_t)atoi(pid) == getpid())
			continue;
		fds = g_build_filename("/proc", pid, "fd", NULL);
		dir = g_dir_open(fds, 0, NULL);
		while (dir != NULL && (fd = g_dir_read_name(dir)) != NULL) {
			g_autofree gchar *link = g_build_filename(fds, fd, NULL);
			struct stat st;
			if (stat(link, &st) == 0 && st.st_dev == self.st_dev &&
			    st.st_ino == self.st_ino) {
				n++;
				break;
			}
		}
	}
	return n;
}

static void
do_ccho(Modem *m, const gchar *arg)
{
	g_autoptr(GBytes) aid = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree gchar *info = NULL;
	gsize alen = strlen(arg);
	guint8 ch = 0;
	guint16 sw = 0;

	if (other_openers(m) > 1) {
		g_printerr(
			"ql-fake-at: the port is open in two processes at once: +CCHO refused\n");
		m->shared_opens++;
		answer(m, NULL, "+CME ERROR: 14"); /* SIM busy */
		return;
	}
	if (alen < 2 || arg[0] != '"' || arg[alen - 1] != '"' ||
	    (aid = parse_hex(arg + 1, alen - 2)) == NULL || g_bytes_get_size(aid) < 5 ||
	    g_bytes_get_size(aid) > 16) {
		answer(m, NULL, "+CME ERROR: 50");
		return;
	}
	if (!ql_vcard_open_logical_channel(m->card, g_bytes_get_data(aid, NULL),
					   g_bytes_get_size(aid), 0x00, &ch, NULL, &sw, &error)) {
		g_printerr("ql-fake-at: card: %s\n", error->message);
		sw = 0x6F00;
	}
	if (sw != 0x9000) {
		/* no channel left (memory full), or the SELECT was refused (not found) */
		answer(m, NULL, ch == 0 ? "+CME ERROR: 4" : "+CME ERROR: 100");
		return;
	}
	m->opened[ch] = TRUE;
	info = m->bare_ccho ? g_strdup_printf("%u", m->session_base + ch)
			    : g_strdup_printf("+CCHO: %u", m->session_base + ch);
	answer(m, info, "OK");
}

static void
do_cgla(Modem *m, const gchar *arg)
{
	g_auto(GStrv) parts = g_strsplit(arg, ",", 3);
	guint64 session = 0, len = 0;
	g_autoptr(GBytes) apdu = NULL;
	g_autoptr(GBytes) r = NULL;
	g_autofree guint8 *cmd = NULL;
	g_autofree gchar *hex = NULL;
	g_autofree gchar *info = NULL;
	gsize hlen;
	guint8 ch;

	if (g_strv_length(parts) != 3 ||
	    !g_ascii_string_to_unsigned(parts[0], 10, 0, G_MAXUINT32, &session, NULL) ||
	    !g_ascii_string_to_unsigned(parts[1], 10, 0, 1024, &len, NULL)) {
		answer(m, NULL, "+CME ERROR: 50");
		return;
	}
	hlen = strlen(parts[2]);
	if (hlen < 2 || parts[2][0] != '"' || parts[2][hlen - 1] != '"' || hlen - 2 != len ||
	    (apdu = parse_hex(parts[2] + 1, hlen - 2)) == NULL || g_bytes_get_size(apdu) < 4) {
		answer(m, NULL, "+CME ERROR: 50");
		return;
	}
	ch = channel_of(m, session);
	if (ch == 0) {
		answer(m, NULL, "+CME ERROR: 21");
		return;
	}
	cmd = g_memdup2(g_bytes_get_data(apdu, NULL), g_bytes_get_size(apdu));
	if (fault_due(m, cmd, g_bytes_get_size(apdu))) {
		m->fault_armed = FALSE;
		switch (m->fault) {
		case FAULT_ERROR:
			g_printerr("ql-fake-at: fault: +CME ERROR: 3\n");
			answer(m, NULL, "+CME ERROR: 3");
			return;
		case FAULT_TIMEOUT:
			g_printerr("ql-fake-at: fault: no answer\n");
			return;
		case FAULT_VANISH:
			g_printerr("ql-fake-at: fault: the modem vanishes\n");
			port_close(m->cur);
			if (m->cur == &m->pty && m->slave >= 0) {
				close(m->slave);
				m->slave = -1;
			}
			reset_card(m);
			return;
		default:
			break;
		}
	}
	/* such a modem owns the channel bits: it puts its own channel in the CLA */
	if (m->session_base != 0)
		cmd[0] = ql_apdu_cla(ch, (cmd[0] & 0x80) != 0);
	r = card(m, cmd, g_bytes_get_size(apdu));
	if (r == NULL) {
		answer(m, NULL, "+CME ERROR: 13");
		return;
	}
	hex = to_hex(r);
	info = g_strdup_printf("+CGLA: %zu,\"%s\"", strlen(hex), hex);
	answer(m, info, "OK");
}

static void
do_cchc(Modem *m, const gchar *arg)
{
	guint64 session = 0;
	guint8 ch;
	guint16 sw = 0;
	g_autoptr(GError) error = NULL;
	if (!g_ascii_string_to_unsigned(arg, 10, 0, G_MAXUINT32, &session, NULL) ||
	    (ch = channel_of(m, session)) == 0) {
		answer(m, NULL, "+CME ERROR: 21");
		return;
	}
	if (!ql_vcard_close_logical_channel(m->card, ch, &sw, &error)) {
		g_printerr("ql-fake-at: card: %s\n", error->message);
		sw = 0x6F00;
	}
	m->opened[ch] = FALSE;
	answer(m, NULL, sw == 0x9000 ? "OK" : "+CME ERROR: 13");
}

static void
do_cpin(Modem *m)
{
	g_autoptr(GError) error = NULL;
	g_autofree gchar *iccid = ql_fake_sim_enabled_iccid(m->card, &error);
	if (iccid == NULL)
		answer(m, NULL, "+CME ERROR: 10");
	else
		answer(m, "+CPIN: READY", "OK");
}

/* AT+CRSM (27.007 8.18) on EF.ICCID only: the GSM 51.011 9.2.1 answer to GET RESPONSE (an EF of
 * 10 bytes, transparent, readable always) and READ BINARY. Other files are not found (6A82). */
static void
do_crsm(Modem *m, const gchar *arg)
{
	g_auto(GStrv) parts = g_strsplit(arg, ",", 0);
	guint64 command = 0, file = 0;
	g_autofree gchar *info = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) ef = NULL;

	if (g_strv_length(parts) < 2 ||
	    !g_ascii_string_to_unsigned(parts[0], 10, 0, 255, &command, NULL) ||
	    !g_ascii_string_to_unsigned(parts[1], 10, 0, 0xFFFF, &file, NULL)) {
		answer(m, NULL, "+CME ERROR: 50");
		return;
	}
	if (file != 0x2FE2) {
		answer(m, "+CRSM: 106,130", "OK"); /* 6A82: file not found */
		return;
	}
	ef = ql_fake_sim_ef_iccid(m->card, &error);
	if (ef == NULL) {
		answer(m, NULL, "+CME ERROR: 10"); /* SIM not inserted: no profile enabled */
	} else if (command == 192) {
		answer(m, "+CRSM: 144,0,\"0000000A2FE204000000000102000000\"", "OK");
	} else if (command == 176) {
		g_autofree gchar *hex = to_hex(ef);
		info = g_strdup_printf("+CRSM: 144,0,\"%s\"", hex);
		answer(m, info, "OK");
	} else {
		answer(m, "+CRSM: 109,0", "OK"); /* 6D00: instruction not supported */
	}
}

/* What oFono's phonesim and atmodem drivers ask while they bring a modem up; TRUE when @cmd
 * (after "AT") was one of them and is answered. */
static gboolean
do_modem_command(Modem *m, const gchar *cmd)
{
	static const struct {
		const gchar *cmd;
		const gchar *info;
	} fixed[] = {
		{"+CGMI", "Quantra-L"},	    {"+CGMM", "ql-fake-at"},
		{"+CGMR", "1.0"},	    {"+CGSN", "356938035643809"},
		{"+GCAP", "+GCAP: +CGSM"},  {"+CIMI", "001010123456789"},
		{"+CPIN?", "+CPIN: READY"}, {"+CLCK=?", "+CLCK: (\"SC\")"},
		{"+CBC", "+CBC: 0,100"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(fixed); i++) {
		if (g_ascii_strcasecmp(cmd, fixed[i].cmd) == 0) {
			answer(m, fixed[i].info, "OK");
			return TRUE;
		}
	}
	if (g_ascii_strncasecmp(cmd, "+CSCS=", 6) == 0) {
		answer(m, NULL, "OK");
	} else if (g_ascii_strcasecmp(cmd, "+SIMSTATE?") == 0) {
		/* phonesim's: a SIM is there when the eUICC has a profile enabled */
		answer(m,
		       ql_vcard_get_enabled_iccid(m->card) != NULL ? "+SIMSTATE: 1"
								   : "+SIMSTATE: 0",
		       "OK");
	} else if (g_ascii_strncasecmp(cmd, "+CFUN=", 6) == 0) {
		m->cfun = cmd[6] == '1';
		answer(m, NULL, "OK");
	} else if (g_ascii_strcasecmp(cmd, "+CFUN?") == 0) {
		answer(m, m->cfun ? "+CFUN: 1" : "+CFUN: 4", "OK");
	} else if (g_ascii_strncasecmp(cmd, "+CRSM=", 6) == 0) {
		do_crsm(m, cmd + 6);
	} else {
		return FALSE;
	}
	return TRUE;
}

static void
do_command(Modem *m, gchar *line)
{
	gchar *at;

	g_strstrip(line);
	if (line[0] == '\0')
		return;
	/* noise before the command (a probe in another protocol) is dropped */
	at = g_strstr_len(line, -1, "AT");
	if (at == NULL)
		at = g_strstr_len(line, -1, "at");
	if (at == NULL) {
		answer(m, NULL, "ERROR");
		return;
	}
	line = at + 2;
	if (*line == '\0' || g_ascii_strncasecmp(line, "+CMEE=", 6) == 0) {
		answer(m, NULL, "OK");
	} else if (g_ascii_strcasecmp(line, "E0") == 0 || g_ascii_strcasecmp(line, "E1") == 0) {
		/* a noisy modem that also ignores ATE0 */
		if (m->fault != FAULT_GARBAGE)
			m->cur->echo = line[1] == '1';
		answer(m, NULL, "OK");
	} else if (g_ascii_strncasecmp(line, "+CCHO=", 6) == 0) {
		do_ccho(m, line + 6);
	} else if (g_ascii_strncasecmp(line, "+CGLA=", 6) == 0) {
		do_cgla(m, line + 6);
	} else if (g_ascii_strncasecmp(line, "+CCHC=", 6) == 0) {
		do_cchc(m, line + 6);
	} else if (m->cur == &m->tcp) {
		/* oFono's port: what its phonesim and atmodem drivers ask */
		if (!do_modem_command(m, line))
			answer(m, NULL, "ERROR");
	} else if (g_ascii_strcasecmp(line, "I") == 0) {
		/* the pty: what ModemManager's probing and SIM reading ask, and nothing more */
		answer(m, "Quantra-L fake modem", "OK");
	} else if (g_ascii_strcasecmp(line, "+CGMI") == 0) {
		answer(m, "Quantra-L", "OK");
	} else if (g_ascii_strcasecmp(line, "+CGMM") == 0) {
		answer(m, "Fake AT modem", "OK");
	} else if (g_ascii_strcasecmp(line, "+CGMR") == 0) {
		answer(m, "1.0", "OK");
	} else if (g_ascii_strcasecmp(line, "+GCAP") == 0) {
		answer(m, "+GCAP: +CGSM", "OK");
	} else if (g_ascii_strcasecmp(line, "+CPIN?") == 0) {
		do_cpin(m);
	} else if (g_ascii_strncasecmp(line, "+CRSM=", 6) == 0) {
		do_crsm(m, line + 6);
	} else {
		answer(m, NULL, "ERROR");
	}
}

static gboolean
on_input(gint fd, GIOCondition cond, gpointer data)
{
	Modem *m = data;
	Port *port = fd == m->pty.fd ? &m->pty : &m->tcp;
	guint8 buf[1024];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0 && port == &m->tcp && (n == 0 || (errno != EAGAIN && errno != EINTR))) {
		/* oFono let go of the modem (lockdown, power off, exit) */
		port->watch = 0;
		port_close(port);
		return G_SOURCE_REMOVE;
	}
	if (n <= 0)
		return G_SOURCE_CONTINUE; /* no client right now */
	m->cur = port;
	if (port->echo)
		put(m, (const gchar *)buf, (gsize)n);
	g_byte_array_append(port->in, buf, (guint)n);
	for (;;) {
		guint8 *cr = memchr(port->in->data, '\r', port->in->len);
		g_autofree gchar *line = NULL;
		if (cr == NULL)
			break;
		line = g_strndup((const gchar *)port->in->data, cr - port->in->data);
		g_byte_array_remove_range(port->in, 0, (guint)(cr - port->in->data + 1));
		do_command(m, line);
		if (port->fd < 0)
			return G_SOURCE_REMOVE;
	}
	if (port->in->len > MAX_COMMAND) {
		g_byte_array_set_size(port->in, 0);
		answer(m, NULL, "ERROR");
	}
	return G_SOURCE_CONTINUE;
}

/* --tcp: one client at a time; a second one waits until the first has gone */
static gboolean
on_accept(gint fd, GIOCondition cond, gpointer data)
{
	Modem *m = data;
	int c;

	if (m->tcp.fd >= 0)
		return G_SOURCE_CONTINUE;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return G_SOURCE_CONTINUE;
	m->tcp.fd = c;
	m->tcp.echo = FALSE;
	m->cfun = FALSE;
	g_byte_array_set_size(m->tcp.in, 0);
	m->tcp.watch = g_unix_fd_add(c, G_IO_IN | G_IO_HUP | G_IO_ERR, on_input, m);
	return G_SOURCE_CONTINUE;
}

/* A loopback listener on a free port; its port number, or 0 */
static guint
listen_tcp(Modem *m)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);

	m->listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (m->listener < 0 || bind(m->listener, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(m->listener, 4) != 0 ||
	    getsockname(m->listener, (struct sockaddr *)&a, &alen) != 0)
		return 0;
	g_unix_fd_add(m->listener, G_IO_IN, on_accept, m);
	return ntohs(a.sin_port);
}

int
main(int argc, char **argv)
{
	g_autofree gchar *state = NULL;
	g_autofree gchar *identity = NULL;
	g_autofree gchar *fault = NULL;
	g_autofree gchar *quirk = NULL;
	gint seed = 0, skip = 0, apdu_delay = 0, rc;
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) oc = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	Modem m = {.pty = {.fd = -1, .echo = TRUE, .urcs = TRUE},
		   .slave = -1,
		   .tcp = {.fd = -1},
		   .listener = -1};
	gboolean tcp = FALSE;
	guint tcp_port = 0;
	struct termios tio;
	const gchar *pts;
	const GOptionEntry entries[] = {
		{"state", 0, 0, G_OPTION_ARG_FILENAME, &state, "Card state file", "FILE"},
		{"identity", 0, 0, G_OPTION_ARG_FILENAME, &identity, "Card identity folder", "DIR"},
		{"seed", 0, 0, G_OPTION_ARG_INT, &seed, "Test profiles to seed", "N"},
		{"apdu-delay", 0, 0, G_OPTION_ARG_INT, &apdu_delay,
		 "Latency model: answer each APDU this many ms after it came", "MS"},
		{"fault", 0, 0, G_OPTION_ARG_STRING, &fault,
		 "garbage, vanish, error, timeout (the last three also with -on-load)", "F"},
		{"fault-skip", 0, 0, G_OPTION_ARG_INT, &skip,
		 "STORE DATA commands before the fault", "N"},
		{"quirk", 0, 0, G_OPTION_ARG_STRING, &quirk, "session-offset, bare-ccho", "Q"},
		{"tcp", 0, 0, G_OPTION_ARG_NONE, &tcp,
		 "Also listen on a free loopback TCP port (for oFono's phonesim driver)", NULL},
		{NULL},
	};

	oc = g_option_context_new(
		"- a fake AT modem on a pty (and TCP), with the virtual eUICC as its SIM");
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error) || state == NULL || seed < 0 ||
	    skip < 0) {
		g_printerr("ql-fake-at: %s\n",
			   error != NULL ? error->message : "--state FILE is required");
		return 2;
	}
	if (fault != NULL && g_str_has_suffix(fault, "-on-load") &&
	    g_strcmp0(fault, "garbage-on-load") != 0) {
		fault[strlen(fault) - strlen("-on-load")] = '\0';
		m.fault_on_load = TRUE;
	}
	if (fault == NULL)
		m.fault = FAULT_NONE;
	else if (g_strcmp0(fault, "garbage") == 0)
		m.fault = FAULT_GARBAGE;
	else if (g_strcmp0(fault, "vanish") == 0)
		m.fault = FAULT_VANISH;
	else if (g_strcmp0(fault, "error") == 0)
		m.fault = FAULT_ERROR;
	else if (g_strcmp0(fault, "timeout") == 0)
		m.fault = FAULT_TIMEOUT;
	else {
		g_printerr("ql-fake-at: unknown fault '%s' (garbage, vanish, error, timeout; the "
			   "last three also with -on-load)\n",
			   fault);
		return 2;
	}
	m.fault_armed = m.fault != FAULT_NONE && m.fault != FAULT_GARBAGE;
	m.fault_skip = (guint)skip;
	if (g_strcmp0(quirk, "session-offset") == 0) {
		m.session_base = 256;
	} else if (g_strcmp0(quirk, "bare-ccho") == 0) {
		m.bare_ccho = TRUE;
	} else if (quirk != NULL) {
		g_printerr("ql-fake-at: unknown quirk '%s' (session-offset, bare-ccho)\n", quirk);
		return 2;
	}

	if ((rc = ql_fake_main_open_card("ql-fake-at", state, identity, seed, apdu_delay,
					 &m.card)) != 0)
		return rc;
	m.pty.fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m.pty.fd < 0 || grantpt(m.pty.fd) != 0 || unlockpt(m.pty.fd) != 0 ||
	    (pts = ptsname(m.pty.fd)) == NULL) {
		g_printerr("ql-fake-at: cannot make a pty: %s\n", g_strerror(errno));
		return 1;
	}
	m.slave = open(pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
	/* raw until the plugin sets the line up itself: the tty's own echo would feed our answers
	 * back to us as commands */
	if (m.slave < 0 || tcgetattr(m.slave, &tio) != 0) {
		g_printerr("ql-fake-at: cannot open %s: %s\n", pts, g_strerror(errno));
		return 1;
	}
	cfmakeraw(&tio);
	tcsetattr(m.slave, TCSANOW, &tio);
	g_unix_set_fd_nonblocking(m.pty.fd, TRUE, NULL);
	m.pty.in = g_byte_array_new();
	m.tcp.in = g_byte_array_new();
	m.cur = &m.pty;
	m.rand = g_rand_new_with_seed(0x5eed);

	/* a TCP client (oFono's phonesim driver) that hangs up while an answer is on its way must
	 * cost the answer, not the modem: writing to it then fails with EPIPE instead of killing us */
	signal(SIGPIPE, SIG_IGN);
	loop = g_main_loop_new(NULL, FALSE);
	m.pty.watch = g_unix_fd_add(m.pty.fd, G_IO_IN, on_input, &m);
	ql_fake_main_report_on_usr1(m.card);
	if (tcp && (tcp_port = listen_tcp(&m)) == 0) {
		g_printerr("ql-fake-at: cannot listen on 127.0.0.1: %s\n", g_strerror(errno));
		return 1;
	}
	if (tcp_port != 0)
		printf("tcp 127.0.0.1:%u\n", tcp_port);
	ql_fake_main_quit_on_signals(loop);
	printf("device at:%s\n", pts);
	fflush(stdout);
	g_main_loop_run(loop);

	printf("open-channels %u\n", ql_vcard_get_open_channels(m.card));
	printf("shared-opens %u\n", m.shared_opens);
	fflush(stdout);
	port_close(&m.pty);
	port_close(&m.tcp);
	if (m.listener >= 0)
		close(m.listener);
	if (m.slave >= 0)
		close(m.slave);
	g_byte_array_unref(m.pty.in);
	g_byte_array_unref(m.tcp.in);
	g_rand_free(m.rand);
	ql_vcard_free(m.card);
	return 0;
}
