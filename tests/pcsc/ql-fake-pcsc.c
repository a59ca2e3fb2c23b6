/*
 * ql-fake-pcsc: the virtual eUICC as a card in a real pcscd.
 *
 * It starts a private pcscd (in its own mount and network namespaces, so that it neither meets
 * the system's pcscd nor takes a TCP port of the host) whose only reader is vsmartcard's vpcd
 * driver, then plays the card: it connects to vpcd as the virtual ICC and answers its messages
 * (2-byte big-endian length, then either a 1-byte control code -- power off / on / reset / ATR --
 * or a command APDU) with ql_vcard_transmit. The pcscd socket lives in a private folder that is
 * bind-mounted on /run/pcscd inside pcscd's namespace; clients reach it with the pcsc plugin's
 * socket= parameter, which is part of the device line printed when the card is in:
 *   device pcsc:Virtual%20PCD%2000%2000?socket=/tmp/ql-fake-pcsc-XXXXXX/run/pcscd.comm
 * On SIGTERM it prints `open-channels N` and exits 0. Needs root (namespaces, mounts).
 *
 * Faults (--fault, once, on the STORE DATA that follows --fault-skip N others):
 *   removed         the card is pulled out instead of answering
 *   unknown-status  the card answers 6F00
 *   timeout         the card is mute for --hang S seconds (default 8), then the reader gives up
 *                   and the card is reinserted (as a CCID reader does with a mute card)
 * With the suffix -on-load (removed-on-load, timeout-on-load) the fault fires on the first block
 * of the first profile segment (86) of a Bound Profile Package instead: mid-download.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <winscard.h>

#include "ql-vcard.h"
#include "../ql-fake-main.h"

#define VPCD_PORT 35963
#define VPCD_READER "Virtual PCD 00 00"
#define VPCD_READER_SPEC "Virtual%20PCD%2000%2000"
#define VPCD_CTRL_OFF 0
#define VPCD_CTRL_ON 1
#define VPCD_CTRL_RESET 2
#define VPCD_CTRL_ATR 4
#define VPCD_DRIVER "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
#define READY_TIMEOUT_S 20

typedef enum {
	FAULT_NONE,
	FAULT_REMOVED,
	FAULT_UNKNOWN_STATUS,
	FAULT_TIMEOUT,
} Fault;

typedef struct {
	QlVcard *card;
	pid_t pcscd;
	gchar *dir;
	Fault fault;
	guint fault_skip;
	gboolean fault_on_load;
	guint hang_s;
	GMutex lock; /* guards sock and stopping */
	int sock;
	gboolean stopping;
	guint leaked; /* channels still open when pcscd powered the card down */
} Fake;

static gboolean
write_file(const gchar *path, const gchar *text)
{
	g_autoptr(GError) error = NULL;
	if (!g_file_set_contents(path, text, -1, &error)) {
		g_printerr("ql-fake-pcsc: %s\n", error->message);
		return FALSE;
	}
	return TRUE;
}

/* Runs in the child between fork and exec: only system calls here. */
static void
start_pcscd_child(const gchar *pcscd, const gchar *rundir, const gchar *confdir, const gchar *level,
		  int ready)
{
	struct ifreq ifr;
	int s;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) {
		perror("ql-fake-pcsc: unshare (needs root)");
		_exit(126);
	}
	/* keep our bind mount out of the host's namespace: make the mount holding /run/pcscd
	 * private; "/" is not a mount point inside a chroot, so try the nearer ones too */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 &&
	    mount(NULL, "/run", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		perror("ql-fake-pcsc: making the mounts private");
		_exit(126);
	}
	if (mount(rundir, "/run/pcscd", NULL, MS_BIND, NULL) != 0) {
		perror("ql-fake-pcsc: mount");
		_exit(126);
	}
	/* vpcd listens on the namespace's own loopback, which starts down */
	s = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) != 0)) {
		perror("ql-fake-pcsc: bringing up lo");
		_exit(126);
	}
	close(s);
	/* the parent may now join our network namespace */
	if (write(ready, "r", 1) != 1)
		_exit(126);
	close(ready);
	/* pcscd -f logs to stdout, which carries our device line */
	dup2(STDERR_FILENO, STDOUT_FILENO);
	execl(pcscd, pcscd, "--foreground", level, "--config", confdir, (char *)NULL);
	perror("ql-fake-pcsc: exec pcscd");
	_exit(127);
}

static gboolean
start_pcscd(Fake *f)
{
	g_autofree gchar *confdir = g_build_filename(f->dir, "reader.conf.d", NULL);
	g_autofree gchar *rundir = g_build_filename(f->dir, "run", NULL);
	g_autofree gchar *conf = g_build_filename(confdir, "vpcd", NULL);
	g_autofree gchar *text = NULL;
	g_autofree gchar *pcscd = g_find_program_in_path("pcscd");
	const gchar *level;
	int ready[2];
	gchar c;

	if (pcscd == NULL && g_file_test("/usr/sbin/pcscd", G_FILE_TEST_IS_EXECUTABLE))
		pcscd = g_strdup("/usr/sbin/pcscd");
	if (pcscd == NULL) {
		g_printerr("ql-fake-pcsc: pcscd is not installed (Debian package pcscd)\n");
		return FALSE;
	}
	if (!g_file_test(VPCD_DRIVER, G_FILE_TEST_EXISTS)) {
		g_printerr("ql-fake-pcsc: %s is missing (Debian package vsmartcard-vpcd)\n",
			   VPCD_DRIVER);
		return FALSE;
	}
	if (g_mkdir_with_parents(confdir, 0700) != 0 || g_mkdir_with_parents(rundir, 0755) != 0 ||
	    g_mkdir_with_parents("/run/pcscd", 0755) != 0) {
		g_printerr("ql-fake-pcsc: cannot make folders: %s\n", g_strerror(errno));
		return FALSE;
	}
	/* vpcd's DEVICENAME "/dev/null:PORT" makes it listen for the card on PORT (and the
	 * reader's second slot on PORT+1) */
	text = g_strdup_printf("FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:%d\n"
			       "LIBPATH %s\nCHANNELID %d\n",
			       VPCD_PORT, VPCD_DRIVER, VPCD_PORT);
	if (!write_file(conf, text))
		return FALSE;
	/* QL_FAKE_PCSC_DEBUG=1 shows pcscd's own log, APDUs included, on stderr */
	level = g_getenv("QL_FAKE_PCSC_DEBUG") != NULL ? "--debug" : "--error";
	if (!g_unix_open_pipe(ready, FD_CLOEXEC, NULL)) {
		g_printerr("ql-fake-pcsc: pipe: %s\n", g_strerror(errno));
		return FALSE;
	}
	fflush(NULL);
	f->pcscd = fork();
	if (f->pcscd < 0) {
		g_printerr("ql-fake-pcsc: fork: %s\n", g_strerror(errno));
		return FALSE;
	}
	if (f->pcscd == 0)
		start_pcscd_child(pcscd, rundir, confdir, level, ready[1]);
	close(ready[1]);
	/* until the child has its namespaces, /proc/PID/ns/net is still ours */
	if (read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		g_printerr("ql-fake-pcsc: could not set up pcscd's namespaces\n");
		return FALSE;
	}
	close(ready[0]);
	return TRUE;
}

static void
stop_pcscd(Fake *f)
{
	int status;
	if (f->pcscd <= 0)
		return;
	kill(f->pcscd, SIGTERM);
	for (guint i = 0; i < 100; i++) {
		if (waitpid(f->pcscd, &status, WNOHANG) == f->pcscd) {
			f->pcscd = 0;
			return;
		}
		g_usleep(50000);
	}
	kill(f->pcscd, SIGKILL);
	waitpid(f->pcscd, &status, 0);
	f->pcscd = 0;
}

static gboolean
is_stopping(Fake *f)
{
	gboolean s;
	g_mutex_lock(&f->lock);
	s = f->stopping;
	g_mutex_unlock(&f->lock);
	return s;
}

/* Sleeps up to @ms, waking early when the fake is told to stop. */
static void
nap(Fake *f, guint ms)
{
	for (guint t = 0; t < ms && !is_stopping(f); t += 50)
		g_usleep(50000);
}

static gboolean
recv_all(int fd, guint8 *buf, gsize len)
{
	gsize got = 0;
	const int on = 1;
	while (got < len) {
		ssize_t n;
		/* vpcd writes the length and the APDU apart: a delayed ACK of the first would hold
		 * the second back by Nagle's algorithm, tens of ms per APDU that no card costs */
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof(on));
		n = recv(fd, buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		got += (gsize)n;
	}
	return TRUE;
}

static gboolean
send_msg(int fd, const guint8 *data, gsize len)
{
	guint8 hdr[2] = {(guint8)(len >> 8), (guint8)len};
	g_autofree guint8 *buf = g_malloc(len + 2);
	memcpy(buf, hdr, 2);
	memcpy(buf + 2, data, len);
	return send(fd, buf, len + 2, MSG_NOSIGNAL) == (ssize_t)(len + 2);
}

/* Whether the fault fires on this command: the STORE DATA after --fault-skip others, or with
 * -on-load the first block (P2 0) of a profile segment (86, SGP.22 2.5.5) */
static gboolean
fault_due(Fake *f, const guint8 *apdu, gsize len)
{
	if (len < 4 || apdu[1] != 0xE2 || f->fault == FAULT_NONE ||
	    f->fault == FAULT_UNKNOWN_STATUS)
		return FALSE;
	if (f->fault_on_load) {
		/* the data starts after a short Lc, or after 00 and a two-byte one (extended) */
		gsize data = len > 7 && apdu[4] == 0x00 ? 7 : 5;
		return len > data && apdu[3] == 0x00 && apdu[data] == 0x86;
	}
	return f->fault_skip-- == 0;
}

/* A card that loses power closes its logical channels. */
static guint
reset_card(Fake *f)
{
	guint open = ql_vcard_get_open_channels(f->card);
	for (guint8 ch = 1; ch <= QL_VCARD_MAX_CHANNELS; ch++)
		ql_vcard_close_logical_channel(f->card, ch, NULL, NULL);
	return open;
}

static int
connect_vpcd(Fake *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(VPCD_PORT)};
	gint64 deadline = g_get_monotonic_time() + READY_TIMEOUT_S * G_TIME_SPAN_SECOND;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (!is_stopping(f) && g_get_monotonic_time() < deadline) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
		nap(f, 100);
	}
	return -1;
}

static void
drop_connection(Fake *f)
{
	g_mutex_lock(&f->lock);
	if (f->sock >= 0) {
		close(f->sock);
		f->sock = -1;
	}
	g_mutex_unlock(&f->lock);
}

/* The card's side of vpcd: one connection is one insertion of the card. */
static gpointer
card_thread(gpointer data)
{
	Fake *f = data;
	g_autofree gchar *ns = g_strdup_printf("/proc/%d/ns/net", (int)f->pcscd);
	int nsfd = open(ns, O_RDONLY | O_CLOEXEC);

	/* sockets made from now on by this thread are in pcscd's network namespace */
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
		g_printerr("ql-fake-pcsc: cannot enter pcscd's network namespace: %s\n",
			   g_strerror(errno));
		if (nsfd >= 0)
			close(nsfd);
		return NULL;
	}
	close(nsfd);

	while (!is_stopping(f)) {
		int fd = connect_vpcd(f);
		if (fd < 0)
			return NULL;
		g_mutex_lock(&f->lock);
		f->sock = fd;
		g_mutex_unlock(&f->lock);
		for (;;) {
			guint8 hdr[2];
			g_autofree guint8 *msg = NULL;
			gsize len;
			if (!recv_all(fd, hdr, 2))
				break;
			len = ((gsize)hdr[0] << 8) | hdr[1];
			msg = g_malloc(len + 1);
			if (len == 0 || !recv_all(fd, msg, len))
				break;
			if (len == 1) {
				if (msg[0] == VPCD_CTRL_OFF || msg[0] == VPCD_CTRL_RESET) {
					guint left = reset_card(f);
					if (left > 0)
						g_printerr("ql-fake-pcsc: %u channel(s) were still "
							   "open when pcscd reset the card\n",
							   left);
					f->leaked += left;
				} else if (msg[0] == VPCD_CTRL_ATR) {
					/* the virtual card's own: T=1, extended lengths if taken */
					g_autoptr(GBytes) atr = ql_vcard_get_atr(f->card);
					if (!send_msg(fd, g_bytes_get_data(atr, NULL),
						      g_bytes_get_size(atr)))
						break;
				}
				continue;
			}
			if (fault_due(f, msg, len)) {
				Fault fault = f->fault;
				f->fault = FAULT_NONE;
				if (fault == FAULT_TIMEOUT) {
					g_printerr("ql-fake-pcsc: fault: mute for %u s\n",
						   f->hang_s);
					nap(f, f->hang_s * 1000);
					if (is_stopping(f))
						break;
				}
				g_printerr("ql-fake-pcsc: fault: card removed\n");
				drop_connection(f);
				reset_card(f);
				if (fault == FAULT_REMOVED) {
					/* stays out until the end */
					while (!is_stopping(f))
						nap(f, 1000);
					return NULL;
				}
				nap(f, 1000);
				goto reinsert;
			}
			{
				g_autoptr(GError) error = NULL;
				g_autoptr(GBytes) r = ql_vcard_transmit(f->card, msg, len, &error);
				const guint8 sw6f00[] = {0x6F, 0x00};
				gboolean ok;
				if (r == NULL)
					g_printerr("ql-fake-pcsc: card: %s\n", error->message);
				ok = r != NULL ? send_msg(fd, g_bytes_get_data(r, NULL),
							  g_bytes_get_size(r))
					       : send_msg(fd, sw6f00, 2);
				if (!ok)
					break;
			}
		}
		drop_connection(f);
	reinsert:;
	}
	return NULL;
}

/* Waits, as a PC/SC client of our pcscd, until it sees the card. */
static gboolean
wait_card_present(Fake *f)
{
	gint64 deadline = g_get_monotonic_time() + READY_TIMEOUT_S * G_TIME_SPAN_SECOND;
	SCARDCONTEXT ctx = 0;
	SCARD_READERSTATE st = {.szReader = VPCD_READER, .dwCurrentState = SCARD_STATE_UNAWARE};
	LONG rv = SCARD_E_NO_SERVICE;

	while (g_get_monotonic_time() < deadline) {
		int status;
		if (waitpid(f->pcscd, &status, WNOHANG) == f->pcscd) {
			f->pcscd = 0;
			g_printerr("ql-fake-pcsc: pcscd exited (status %d)\n", status);
			return FALSE;
		}
		if (ctx == 0 && SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx) !=
					SCARD_S_SUCCESS) {
			ctx = 0;
			g_usleep(100000);
			continue;
		}
		rv = SCardGetStatusChange(ctx, 500, &st, 1);
		if (rv == SCARD_S_SUCCESS || rv == SCARD_E_TIMEOUT) {
			if (st.dwEventState & SCARD_STATE_PRESENT) {
				SCardReleaseContext(ctx);
				return TRUE;
			}
			st.dwCurrentState = st.dwEventState & ~SCARD_STATE_CHANGED;
		} else {
			g_usleep(100000);
		}
	}
	g_printerr("ql-fake-pcsc: pcscd never saw the card in '%s': %s\n", VPCD_READER,
		   pcsc_stringify_error(rv));
	if (ctx != 0)
		SCardReleaseContext(ctx);
	return FALSE;
}

int
main(int argc, char **argv)
{
	g_autofree gchar *state = NULL;
	g_autofree gchar *identity = NULL;
	g_autofree gchar *fault = NULL;
	g_autofree gchar *sock = NULL;
	gint seed = 0, skip = 0, hang = 8, apdu_delay = 0, rc;
	g_autofree gchar *extended = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) oc = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	GThread *thread;
	Fake f = {.sock = -1};
	guint open;
	const GOptionEntry entries[] = {
		{"state", 0, 0, G_OPTION_ARG_FILENAME, &state, "Card state file", "FILE"},
		{"identity", 0, 0, G_OPTION_ARG_FILENAME, &identity, "Card identity folder", "DIR"},
		{"seed", 0, 0, G_OPTION_ARG_INT, &seed, "Test profiles to seed", "N"},
		{"fault", 0, 0, G_OPTION_ARG_STRING, &fault,
		 "removed, unknown-status, timeout, removed-on-load, timeout-on-load", "F"},
		{"fault-skip", 0, 0, G_OPTION_ARG_INT, &skip,
		 "STORE DATA commands before the fault", "N"},
		{"hang", 0, 0, G_OPTION_ARG_INT, &hang, "Seconds the card stays mute (timeout)",
		 "S"},
		{"apdu-delay", 0, 0, G_OPTION_ARG_INT, &apdu_delay,
		 "Latency model: answer each APDU this many ms after it came", "MS"},
		{"extended", 0, 0, G_OPTION_ARG_STRING, &extended,
		 "Whether the card takes extended-length APDUs (its ATR says so; default on)",
		 "on|off"},
		{NULL},
	};

	oc = g_option_context_new("- the virtual eUICC in a real pcscd (through vpcd)");
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error) || state == NULL || seed < 0 ||
	    skip < 0 || hang < 1) {
		g_printerr("ql-fake-pcsc: %s\n",
			   error != NULL ? error->message : "--state FILE is required");
		return 2;
	}
	if (apdu_delay < 0 || apdu_delay > 10000 ||
	    (extended != NULL && g_strcmp0(extended, "on") != 0 &&
	     g_strcmp0(extended, "off") != 0)) {
		g_printerr(
			"ql-fake-pcsc: --apdu-delay takes 0 to 10000 ms, --extended on or off\n");
		return 2;
	}
	if (g_strcmp0(fault, "removed-on-load") == 0 || g_strcmp0(fault, "timeout-on-load") == 0) {
		fault[strlen(fault) - strlen("-on-load")] = '\0';
		f.fault_on_load = TRUE;
	}
	if (fault == NULL)
		f.fault = FAULT_NONE;
	else if (g_strcmp0(fault, "removed") == 0)
		f.fault = FAULT_REMOVED;
	else if (g_strcmp0(fault, "unknown-status") == 0)
		f.fault = FAULT_UNKNOWN_STATUS;
	else if (g_strcmp0(fault, "timeout") == 0)
		f.fault = FAULT_TIMEOUT;
	else {
		g_printerr("ql-fake-pcsc: unknown fault '%s' (removed, unknown-status, timeout, "
			   "removed-on-load, timeout-on-load)\n",
			   fault);
		return 2;
	}
	f.fault_skip = (guint)skip;
	f.hang_s = (guint)hang;
	g_mutex_init(&f.lock);

	/* --apdu-delay was checked above, with --extended */
	if ((rc = ql_fake_main_open_card("ql-fake-pcsc", state, identity, seed, apdu_delay,
					 &f.card)) != 0)
		return rc;
	if (f.fault == FAULT_UNKNOWN_STATUS)
		ql_vcard_set_fault(f.card, QL_VCARD_FAULT_SW6F00, f.fault_skip);
	ql_vcard_set_extended_length(f.card, g_strcmp0(extended, "off") != 0);

	f.dir = g_dir_make_tmp("ql-fake-pcsc-XXXXXX", &error);
	if (f.dir == NULL) {
		g_printerr("ql-fake-pcsc: %s\n", error->message);
		return 1;
	}
	sock = g_build_filename(f.dir, "run", "pcscd.comm", NULL);
	/* our own PC/SC client (wait_card_present) talks to our pcscd only */
	g_setenv("PCSCLITE_CSOCK_NAME", sock, TRUE);
	if (!start_pcscd(&f))
		goto fail;
	thread = g_thread_new("card", card_thread, &f);
	if (!wait_card_present(&f)) {
		g_mutex_lock(&f.lock);
		f.stopping = TRUE;
		g_mutex_unlock(&f.lock);
		drop_connection(&f);
		g_thread_join(thread);
		goto fail;
	}

	loop = g_main_loop_new(NULL, FALSE);
	ql_fake_main_quit_on_signals(loop);
	printf("device pcsc:%s?socket=%s\n", VPCD_READER_SPEC, sock);
	fflush(stdout);
	g_main_loop_run(loop);

	g_mutex_lock(&f.lock);
	f.stopping = TRUE;
	if (f.sock >= 0)
		shutdown(f.sock, SHUT_RDWR);
	g_mutex_unlock(&f.lock);
	g_thread_join(thread);
	drop_connection(&f);
	/* channels the card still holds, and those a client left to a power-down */
	open = ql_vcard_get_open_channels(f.card) + f.leaked;
	stop_pcscd(&f);
	printf("open-channels %u\n", open);
	fflush(stdout);
	ql_vcard_free(f.card);
	{
		g_autofree gchar *confdir = g_build_filename(f.dir, "reader.conf.d", NULL);
		g_autofree gchar *conf = g_build_filename(confdir, "vpcd", NULL);
		g_autofree gchar *rundir = g_build_filename(f.dir, "run", NULL);
		g_unlink(conf);
		g_rmdir(confdir);
		g_rmdir(rundir);
		g_rmdir(f.dir);
	}
	g_free(f.dir);
	return 0;

fail:
	stop_pcscd(&f);
	ql_vcard_free(f.card);
	return 1;
}
