/*
 * ql-fake-mbim: a fake MBIM modem on a pseudo-terminal, with the virtual eUICC as its card.
 *
 *   ql-fake-mbim --state FILE [--identity DIR] [--seed N] [--fault F]... [--no-proxy]
 *                [--card-slot N] [--slots N]
 *
 * It speaks the MBIM control protocol on the pty (OPEN -> OPEN_DONE, CLOSE -> CLOSE_DONE,
 * COMMAND -> COMMAND_DONE), with messages parsed and built through libmbim's message API, and
 * implements what a modem does for Microsoft's UICC low-level access service: OPEN CHANNEL is a
 * MANAGE CHANNEL and a SELECT sent to the card, APDU rewrites the class byte from the request's
 * type / channel / secure-messaging fields (as the MS specification tells the modem to) and
 * passes the command on, CLOSE CHANNEL is a MANAGE CHANNEL close (by channel, or a whole channel
 * group), RESET (without pass-through) resets the card: every logical channel on it is closed and
 * for the next 0.5 s the subscriber is not ready and OPEN CHANNEL is refused, as while a modem
 * reads a card again. It also answers the device slot mapping (MS Basic Connect Extensions) and
 * subscriber ready status (Basic Connect) requests, with the card sitting in slot --card-slot.
 *
 * libmbim opens a pty like a cdc-wdm port: the max-command ioctl fails, there is no USB
 * descriptor in sysfs, and it falls back to 4096-byte control transfers. The pty is put in raw
 * mode, so MBIM's binary frames pass unchanged.
 *
 * By default it starts a private mbim-proxy (refusing to run if one already listens in this
 * network namespace: run it under `unshare --net`, see ql-mbim-netns.py) and prints
 * `device mbim:/dev/pts/N`, which quantra-l opens through that proxy, as it would a real modem
 * beside ModemManager. With --no-proxy it prints `device mbim:/dev/pts/N?proxy=0`.
 *
 * Faults (each fires once, on the first APDU request after a channel was opened):
 *   timeout        the request is swallowed: no answer ever comes
 *   vanish         the pty is closed: the modem is gone (its card channels with it)
 *   status-error   the APDU request gets MBIM status FAILURE
 *   not-supported  OPEN CHANNEL gets MBIM status NO_DEVICE_SUPPORT (no APDU is reached)
 *   unknown-status the card answers 6F00 (no precise diagnosis) to the ES10 command
 * and, on the first APDU of the first profile segment (86) of a Bound Profile Package instead
 * (mid-download): timeout-on-load, vanish-on-load; and on the first UICC reset:
 *   reset-stuck    the card never answers again (the subscriber stays not initialised)
 *
 * On SIGUSR1 it prints `open-channels N` (the card's open logical channels). On SIGTERM it prints
 * `open-channels N` and `power-cycles N` (the UICC resets the host asked for) and exits 0.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
/* posix_openpt, grantpt, unlockpt, ptsname */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <libmbim-glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "ql-apdu.h"
#include "ql-vcard.h"
#include "../ql-fake-main.h"

#ifndef QL_MBIM_PROXY_PATH
#define QL_MBIM_PROXY_PATH "/usr/libexec/mbim-proxy"
#endif

#define QL_FAKE_MAX_MESSAGE 4096
#define QL_FAKE_MAX_CHANNEL 19
/* Microsoft's UICC low-level access status codes (libmbim names them from 1.32 only) */
#define QL_FAKE_STATUS_MS_NO_LOGICAL_CHANNELS 0x87430001
#define QL_FAKE_STATUS_MS_SELECT_FAILED 0x87430002
#define QL_FAKE_STATUS_MS_INVALID_LOGICAL_CHANNEL 0x87430003

typedef enum {
	QL_FAKE_FAULT_TIMEOUT = 1 << 0,
	QL_FAKE_FAULT_VANISH = 1 << 1,
	QL_FAKE_FAULT_STATUS_ERROR = 1 << 2,
	QL_FAKE_FAULT_NOT_SUPPORTED = 1 << 3,
	QL_FAKE_FAULT_UNKNOWN_STATUS = 1 << 4,
	QL_FAKE_FAULT_TIMEOUT_ON_LOAD = 1 << 5,
	QL_FAKE_FAULT_VANISH_ON_LOAD = 1 << 6,
	QL_FAKE_FAULT_RESET_STUCK = 1 << 7,
} QlFakeFault;

/* how long the card takes to come back after a UICC reset */
#define QL_FAKE_RESET_MS 500

typedef struct {
	QlVcard *card;
	GMainLoop *loop;
	gint master;
	gint slave; /* kept open: the slave's raw termios live as long as one opener does */
	gchar *pts;
	guint watch;
	GByteArray *in;
	/* channels opened through OPEN CHANNEL, with their group (0 = none) */
	gboolean open[QL_FAKE_MAX_CHANNEL + 1];
	guint32 group[QL_FAKE_MAX_CHANNEL + 1];
	guint32 nslots;
	guint32 mapped_slot; /* 0-based */
	guint32 card_slot;   /* 0-based */
	guint faults;	     /* armed, QlFakeFault bits */
	GPid proxy;
	gboolean vanished;
	guint resets;	 /* UICC resets (power cycles) done */
	gint64 ready_at; /* monotonic time the card answers again after a reset */
} QlFake;

static void
ql_fake_put32(GByteArray *a, guint32 v)
{
	guint32 le = GUINT32_TO_LE(v);
	g_byte_array_append(a, (const guint8 *)&le, 4);
}

static guint32
ql_fake_get32(const guint8 *p)
{
	guint32 v;
	memcpy(&v, p, 4);
	return GUINT32_FROM_LE(v);
}

static void
ql_fake_pad(GByteArray *a)
{
	while (a->len % 4)
		g_byte_array_append(a, (const guint8[]){0}, 1);
}

static gboolean
ql_fake_write(QlFake *f, const guint8 *p, gsize len)
{
	while (len > 0) {
		gssize n = write(f->master, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_warning("writing to the pty: %s", g_strerror(errno));
			return FALSE;
		}
		p += n;
		len -= (gsize)n;
	}
	return TRUE;
}

static void
ql_fake_send(QlFake *f, MbimMessage *m)
{
	guint32 len = 0;
	const guint8 *raw = mbim_message_get_raw(m, &len, NULL);
	if (raw != NULL && !f->vanished)
		ql_fake_write(f, raw, len);
}

/* COMMAND_DONE. libmbim 1.28 exports no builder for it, but its layout is a COMMAND's with the
 * command type word replaced by the status: build the COMMAND with libmbim, then retype it. */
static void
ql_fake_done(QlFake *f, const MbimMessage *req, guint32 status, GByteArray *info)
{
	g_autoptr(MbimMessage) cmd = NULL;
	g_autoptr(MbimMessage) done = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree guint8 *copy = NULL;
	const guint8 *raw;
	guint32 len = 0, v;

	cmd = mbim_message_command_new(
		mbim_message_get_transaction_id(req), mbim_message_command_get_service(req),
		mbim_message_command_get_cid(req), MBIM_MESSAGE_COMMAND_TYPE_SET);
	if (info != NULL && info->len > 0)
		mbim_message_command_append(cmd, info->data, info->len);
	raw = mbim_message_get_raw(cmd, &len, NULL);
	copy = g_memdup2(raw, len);
	v = GUINT32_TO_LE(MBIM_MESSAGE_TYPE_COMMAND_DONE);
	memcpy(copy, &v, 4);
	v = GUINT32_TO_LE(status);
	memcpy(copy + 40, &v, 4);
	done = mbim_message_new(copy, len);
	if (!mbim_message_validate(done, &error)) {
		g_warning("built an invalid COMMAND_DONE: %s", error->message);
		return;
	}
	ql_fake_send(f, done);
}

static guint16
ql_fake_sw(GBytes *r)
{
	gsize len = 0;
	const guint8 *p = g_bytes_get_data(r, &len);
	return len >= 2 ? (guint16)((p[len - 2] << 8) | p[len - 1]) : 0x6F00;
}

/* MBIM's Status field: SW1 and SW2 as bytes, in a little-endian 32-bit word */
static guint32
ql_fake_status_word(guint16 sw)
{
	return (guint32)(sw >> 8) | ((guint32)(sw & 0xFF) << 8);
}

static GBytes *
ql_fake_card(QlFake *f, const guint8 *apdu, gsize len)
{
	g_autoptr(GError) error = NULL;
	GBytes *r = ql_vcard_transmit(f->card, apdu, len, &error);
	if (r == NULL) {
		g_warning("the virtual card failed: %s", error->message);
		return g_bytes_new((const guint8[]){0x6F, 0x00}, 2);
	}
	return r;
}

/* The first STORE DATA block (P2 0) of a profile segment (86, SGP.22 2.5.5): mid-download */
static gboolean
ql_fake_is_load(const guint8 *apdu, gsize len)
{
	return len > 5 && apdu[1] == 0xE2 && apdu[3] == 0x00 && apdu[4] > 0 && apdu[5] == 0x86;
}

/* The CLA the modem sends, from the request's fields (MS UICC APDU, class byte table) */
static guint8
ql_fake_cla(guint32 channel, gboolean extended, gboolean sm)
{
	guint8 cla = ql_apdu_cla((guint8)channel, extended);
	/* secure messaging, header not authenticated: b4-b3 10 / b6 1 (ISO/IEC 7816-4 5.4.1) */
	if (sm)
		cla |= channel <= 3 ? 0x08 : 0x20;
	return cla;
}

static void
ql_fake_card_close(QlFake *f, guint32 ch)
{
	g_autoptr(GError) error = NULL;
	if (!ql_vcard_close_logical_channel(f->card, (guint8)ch, NULL, &error))
		g_warning("the virtual card failed: %s", error->message);
	f->open[ch] = FALSE;
	f->group[ch] = 0;
}

/* A reset card answers nothing until the modem has read it again */
static gboolean
ql_fake_card_resetting(QlFake *f)
{
	return g_get_monotonic_time() < f->ready_at;
}

static void
ql_fake_open_channel(QlFake *f, const MbimMessage *m, const guint8 *info, guint32 len)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(GBytes) fci = NULL;
	g_autoptr(GError) error = NULL;
	guint32 aid_len, aid_off, p2, group;
	gsize fci_len;
	guint8 ch = 0;
	guint16 sw = 0;

	if (len < 16 || (aid_len = ql_fake_get32(info)) > 32 ||
	    (aid_off = ql_fake_get32(info + 4)) > len || aid_len > len - aid_off) {
		ql_fake_done(f, m, MBIM_STATUS_ERROR_INVALID_PARAMETERS, NULL);
		return;
	}
	p2 = ql_fake_get32(info + 8);
	group = ql_fake_get32(info + 12);
	if (f->faults & QL_FAKE_FAULT_NOT_SUPPORTED) {
		f->faults &= ~QL_FAKE_FAULT_NOT_SUPPORTED;
		ql_fake_done(f, m, MBIM_STATUS_ERROR_NO_DEVICE_SUPPORT, NULL);
		return;
	}
	if (f->mapped_slot != f->card_slot) {
		ql_fake_done(f, m, MBIM_STATUS_ERROR_SIM_NOT_INSERTED, NULL);
		return;
	}
	if (ql_fake_card_resetting(f)) {
		ql_fake_done(f, m, MBIM_STATUS_ERROR_NOT_INITIALIZED, NULL);
		return;
	}
	/* the modem's MANAGE CHANNEL and SELECT (with the host's P2), and GET RESPONSE for a long
	 * FCI */
	if (!ql_vcard_open_logical_channel(f->card, info + aid_off, aid_len, (guint8)p2, &ch, &fci,
					   &sw, &error)) {
		g_warning("the virtual card failed: %s", error->message);
		sw = 0x6F00;
	}
	if (sw != 0x9000) {
		ql_fake_put32(out, ql_fake_status_word(sw));
		ql_fake_put32(out, 0);
		ql_fake_put32(out, 0);
		ql_fake_put32(out, 0);
		ql_fake_done(f, m,
			     ch == 0 ? QL_FAKE_STATUS_MS_NO_LOGICAL_CHANNELS
				     : QL_FAKE_STATUS_MS_SELECT_FAILED,
			     out);
		return;
	}
	f->open[ch] = TRUE;
	f->group[ch] = group;
	fci_len = MIN(g_bytes_get_size(fci) - 2, 256);
	ql_fake_put32(out, ql_fake_status_word(sw));
	ql_fake_put32(out, ch);
	ql_fake_put32(out, (guint32)fci_len);
	ql_fake_put32(out, 16);
	g_byte_array_append(out, g_bytes_get_data(fci, NULL), (guint)fci_len);
	ql_fake_pad(out);
	g_debug("channel %u opened (group %u)", ch, group);
	ql_fake_done(f, m, MBIM_STATUS_ERROR_NONE, out);
}

static void
ql_fake_close_channel(QlFake *f, const MbimMessage *m, const guint8 *info, guint32 len)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	guint32 ch, group;
	guint16 sw = 0x9000;

	if (len < 8) {
		ql_fake_done(f, m, MBIM_STATUS_ERROR_INVALID_PARAMETERS, NULL);
		return;
	}
	ch = ql_fake_get32(info);
	group = ql_fake_get32(info + 4);
	if (ch != 0) {
		if (ch > QL_FAKE_MAX_CHANNEL || !f->open[ch]) {
			ql_fake_done(f, m, QL_FAKE_STATUS_MS_INVALID_LOGICAL_CHANNEL, NULL);
			return;
		}
		ql_fake_card_close(f, ch);
	} else {
		/* channel 0: every channel of the group */
		for (guint32 c = 1; c <= QL_FAKE_MAX_CHANNEL; c++) {
			if (f->open[c] && f->group[c] == group)
				ql_fake_card_close(f, c);
		}
	}
	g_debug("channel %u (group %u) closed", ch, group);
	ql_fake_put32(out, ql_fake_status_word(sw));
	ql_fake_done(f, m, MBIM_STATUS_ERROR_NONE, out);
}

/* RESET: set resets the card (pass-through is not modelled), query reads the pass-through
 * status. A real reset closes every logical channel on the card, whoever opened it. */
static void
ql_fake_reset(QlFake *f, const MbimMessage *m, const guint8 *info, guint32 len)
{
	g_autoptr(GByteArray) out = g_byte_array_new();

	if (mbim_message_command_get_command_type(m) == MBIM_MESSAGE_COMMAND_TYPE_SET) {
		if (len < 4) {
			ql_fake_done(f, m, MBIM_STATUS_ERROR_INVALID_PARAMETERS, NULL);
			return;
		}
		if (ql_fake_get32(info) != MBIM_UICC_PASS_THROUGH_ACTION_DISABLE) {
			ql_fake_done(f, m, MBIM_STATUS_ERROR_NO_DEVICE_SUPPORT, NULL);
			return;
		}
		if (f->mapped_slot != f->card_slot) {
			ql_fake_done(f, m, MBIM_STATUS_ERROR_SIM_NOT_INSERTED, NULL);
			return;
		}
		for (guint32 c = 1; c <= QL_FAKE_MAX_CHANNEL; c++)
			ql_fake_card_close(f, c);
		f->resets++;
		f->ready_at = g_get_monotonic_time() + QL_FAKE_RESET_MS * G_TIME_SPAN_MILLISECOND;
		if (f->faults & QL_FAKE_FAULT_RESET_STUCK) {
			f->faults &= ~QL_FAKE_FAULT_RESET_STUCK;
			g_printerr("ql-fake-mbim: fault: the card does not come back after the "
				   "reset\n");
			f->ready_at = G_MAXINT64;
		}
		g_printerr("ql-fake-mbim: UICC reset\n");
	}
	ql_fake_put32(out, MBIM_UICC_PASS_THROUGH_STATUS_DISABLED);
	ql_fake_done(f, m, MBIM_STATUS_ERROR_NONE, out);
}

static void ql_fake_vanish(QlFake *f);

static void
ql_fake_apdu(QlFake *f, const MbimMessage *m, const guint8 *info, guint32 len)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(GByteArray) cmd = g_byte_array_new();
	g_autoptr(GBytes) r = NULL;
	guint32 ch, sm, type, clen, coff;
	gsize rlen;

	if (len < 20 || (ch = ql_fake_get32(info)) > QL_FAKE_MAX_CHANNEL ||
	    (clen = ql_fake_get32(info + 12)) > 261 || (coff = ql_fake_get32(info + 16)) > len ||
	    clen > len - coff || clen < 4) {
		ql_fake_done(f, m, MBIM_STATUS_ERROR_INVALID_PARAMETERS, NULL);
		return;
	}
	sm = ql_fake_get32(info + 4);
	type = ql_fake_get32(info + 8);
	if (!f->open[ch]) {
		ql_fake_done(f, m, QL_FAKE_STATUS_MS_INVALID_LOGICAL_CHANNEL, NULL);
		return;
	}
	if (f->faults & QL_FAKE_FAULT_TIMEOUT) {
		f->faults &= ~QL_FAKE_FAULT_TIMEOUT;
		g_printerr("ql-fake-mbim: fault: swallowing an APDU request\n");
		return;
	}
	if (f->faults & QL_FAKE_FAULT_VANISH) {
		f->faults &= ~QL_FAKE_FAULT_VANISH;
		g_printerr("ql-fake-mbim: fault: the modem vanishes\n");
		ql_fake_vanish(f);
		return;
	}
	if (f->faults & QL_FAKE_FAULT_STATUS_ERROR) {
		f->faults &= ~QL_FAKE_FAULT_STATUS_ERROR;
		ql_fake_done(f, m, MBIM_STATUS_ERROR_FAILURE, NULL);
		return;
	}
	if (f->faults & QL_FAKE_FAULT_UNKNOWN_STATUS) {
		f->faults &= ~QL_FAKE_FAULT_UNKNOWN_STATUS;
		/* the card itself breaks its next ES10 answer */
		ql_vcard_set_fault(f->card, QL_VCARD_FAULT_SW6F00, 0);
	}
	/* the modem sends its own class byte, built from the request's fields */
	g_byte_array_append(cmd, info + coff, clen);
	cmd->data[0] = ql_fake_cla(ch, type == MBIM_UICC_CLASS_BYTE_TYPE_EXTENDED,
				   sm == MBIM_UICC_SECURE_MESSAGING_NO_HDR_AUTH);
	if ((f->faults & QL_FAKE_FAULT_TIMEOUT_ON_LOAD) && ql_fake_is_load(cmd->data, cmd->len)) {
		f->faults &= ~QL_FAKE_FAULT_TIMEOUT_ON_LOAD;
		g_printerr("ql-fake-mbim: fault: swallowing the first profile segment\n");
		return;
	}
	if ((f->faults & QL_FAKE_FAULT_VANISH_ON_LOAD) && ql_fake_is_load(cmd->data, cmd->len)) {
		f->faults &= ~QL_FAKE_FAULT_VANISH_ON_LOAD;
		g_printerr("ql-fake-mbim: fault: the modem vanishes mid-download\n");
		ql_fake_vanish(f);
		return;
	}
	r = ql_fake_card(f, cmd->data, cmd->len);
	rlen = g_bytes_get_size(r);
	ql_fake_put32(out, ql_fake_status_word(ql_fake_sw(r)));
	ql_fake_put32(out, (guint32)rlen - 2);
	ql_fake_put32(out, 12);
	g_byte_array_append(out, g_bytes_get_data(r, NULL), (guint)rlen - 2);
	ql_fake_pad(out);
	ql_fake_done(f, m, MBIM_STATUS_ERROR_NONE, out);
}

static void
ql_fake_slot_mappings(QlFake *f, const MbimMessage *m, const guint8 *info, guint32 len)
{
	g_autoptr(GByteArray) out = g_byte_array_new();

	if (mbim_message_command_get_command_type(m) == MBIM_MESSAGE_COMMAND_TYPE_SET) {
		guint32 count, off, slot;
		/* MapCount, then (offset, size) pairs, each pointing at a 32-bit slot index */
		if (len < 12 || (count = ql_fake_get32(info)) != 1 ||
		    (off = ql_fake_get32(info + 4)) > len - 4 || ql_fake_get32(info + 8) != 4 ||
		    (slot = ql_fake_get32(info + off)) >= f->nslots) {
			ql_fake_done(f, m, MBIM_STATUS_ERROR_INVALID_PARAMETERS, NULL);
			return;
		}
		g_printerr("ql-fake-mbim: slot %u mapped\n", slot + 1);
		f->mapped_slot = slot;
	}
	ql_fake_put32(out, 1);
	ql_fake_put32(out, 12);
	ql_fake_put32(out, 4);
	ql_fake_put32(out, f->mapped_slot);
	ql_fake_done(f, m, MBIM_STATUS_ERROR_NONE, out);
}

static void
ql_fake_ready_status(QlFake *f, const MbimMessage *m)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	MbimSubscriberReadyState state = MBIM_SUBSCRIBER_READY_STATE_NO_ESIM_PROFILE;

	if (f->mapped_slot != f->card_slot)
		state = MBIM_SUBSCRIBER_READY_STATE_SIM_NOT_INSERTED;
	else if (ql_fake_card_resetting(f))
		state = MBIM_SUBSCRIBER_READY_STATE_NOT_INITIALIZED;
	/* ReadyState, SubscriberId and SimIccId (empty strings), ReadyInfo, no phone numbers */
	ql_fake_put32(out, state);
	for (guint i = 0; i < 4; i++)
		ql_fake_put32(out, 0);
	ql_fake_put32(out, 0);
	ql_fake_put32(out, 0);
	ql_fake_done(f, m, MBIM_STATUS_ERROR_NONE, out);
}

static void
ql_fake_put_string(GByteArray *fixed, GByteArray *data, guint32 base, const gchar *s)
{
	/* MBIM strings: UTF-16LE, (offset, size) from the start of the information buffer */
	guint32 off = base + data->len;
	glong n = 0;
	g_autofree gunichar2 *u = g_utf8_to_utf16(s, -1, NULL, &n, NULL);
	for (glong i = 0; i < n; i++) {
		guint16 le = GUINT16_TO_LE(u[i]);
		g_byte_array_append(data, (const guint8 *)&le, 2);
	}
	ql_fake_pad(data);
	ql_fake_put32(fixed, off);
	ql_fake_put32(fixed, (guint32)n * 2);
}

/* mbim-proxy and ModemManager ask for the capabilities when they open the port */
static void
ql_fake_device_caps(QlFake *f, const MbimMessage *m)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autoptr(GByteArray) strings = g_byte_array_new();
	const guint32 base = 8 * 4 + 4 * 8;

	ql_fake_put32(out, MBIM_DEVICE_TYPE_EMBEDDED);
	ql_fake_put32(out, MBIM_CELLULAR_CLASS_GSM);
	ql_fake_put32(out, MBIM_VOICE_CLASS_NO_VOICE);
	ql_fake_put32(out, MBIM_SIM_CLASS_REMOVABLE);
	ql_fake_put32(out, MBIM_DATA_CLASS_LTE);
	ql_fake_put32(out, 0); /* no SMS */
	ql_fake_put32(out, 0); /* control caps */
	ql_fake_put32(out, 1); /* max sessions */
	ql_fake_put_string(out, strings, base, "");
	ql_fake_put_string(out, strings, base, "000000000000001");
	ql_fake_put_string(out, strings, base, "ql-fake-mbim");
	ql_fake_put_string(out, strings, base, "virtual eUICC");
	g_byte_array_append(out, strings->data, strings->len);
	ql_fake_done(f, m, MBIM_STATUS_ERROR_NONE, out);
}

static void
ql_fake_command(QlFake *f, const MbimMessage *m)
{
	MbimService service = mbim_message_command_get_service(m);
	guint32 cid = mbim_message_command_get_cid(m);
	MbimMessageCommandType type = mbim_message_command_get_command_type(m);
	guint32 len = 0;
	const guint8 *info = mbim_message_command_get_raw_information_buffer(m, &len);

	if (service == MBIM_SERVICE_MS_UICC_LOW_LEVEL_ACCESS &&
	    cid == MBIM_CID_MS_UICC_LOW_LEVEL_ACCESS_RESET) {
		ql_fake_reset(f, m, info, len);
		return;
	}
	if (service == MBIM_SERVICE_MS_UICC_LOW_LEVEL_ACCESS &&
	    type == MBIM_MESSAGE_COMMAND_TYPE_SET) {
		switch (cid) {
		case MBIM_CID_MS_UICC_LOW_LEVEL_ACCESS_OPEN_CHANNEL:
			ql_fake_open_channel(f, m, info, len);
			return;
		case MBIM_CID_MS_UICC_LOW_LEVEL_ACCESS_CLOSE_CHANNEL:
			ql_fake_close_channel(f, m, info, len);
			return;
		case MBIM_CID_MS_UICC_LOW_LEVEL_ACCESS_APDU:
			ql_fake_apdu(f, m, info, len);
			return;
		default:
			break;
		}
	}
	if (service == MBIM_SERVICE_MS_BASIC_CONNECT_EXTENSIONS &&
	    cid == MBIM_CID_MS_BASIC_CONNECT_EXTENSIONS_DEVICE_SLOT_MAPPINGS) {
		ql_fake_slot_mappings(f, m, info, len);
		return;
	}
	if (service == MBIM_SERVICE_BASIC_CONNECT && cid == MBIM_CID_BASIC_CONNECT_DEVICE_CAPS &&
	    type == MBIM_MESSAGE_COMMAND_TYPE_QUERY) {
		ql_fake_device_caps(f, m);
		return;
	}
	if (service == MBIM_SERVICE_BASIC_CONNECT &&
	    cid == MBIM_CID_BASIC_CONNECT_SUBSCRIBER_READY_STATUS &&
	    type == MBIM_MESSAGE_COMMAND_TYPE_QUERY) {
		ql_fake_ready_status(f, m);
		return;
	}
	g_debug("unsupported command %s %u", mbim_service_get_string(service), cid);
	ql_fake_done(f, m, MBIM_STATUS_ERROR_NO_DEVICE_SUPPORT, NULL);
}

static void
ql_fake_message(QlFake *f, const guint8 *p, guint32 len)
{
	g_autoptr(MbimMessage) m = mbim_message_new(p, len);
	g_autoptr(MbimMessage) reply = NULL;
	g_autoptr(GError) error = NULL;

	if (!mbim_message_validate(m, &error)) {
		g_warning("dropping an invalid message: %s", error->message);
		return;
	}
	switch (mbim_message_get_message_type(m)) {
	case MBIM_MESSAGE_TYPE_OPEN:
		reply = mbim_message_open_done_new(mbim_message_get_transaction_id(m),
						   MBIM_STATUS_ERROR_NONE);
		ql_fake_send(f, reply);
		return;
	case MBIM_MESSAGE_TYPE_CLOSE:
		/* channels stay as the host left them, so the tests see what the plugin closed */
		reply = mbim_message_close_done_new(mbim_message_get_transaction_id(m),
						    MBIM_STATUS_ERROR_NONE);
		ql_fake_send(f, reply);
		return;
	case MBIM_MESSAGE_TYPE_COMMAND:
		if (ql_fake_get32(p + 12) != 1) {
			/* every request we serve fits in one fragment */
			reply = mbim_message_error_new(
				mbim_message_get_transaction_id(m),
				MBIM_PROTOCOL_ERROR_FRAGMENT_OUT_OF_SEQUENCE);
			ql_fake_send(f, reply);
			return;
		}
		ql_fake_command(f, m);
		return;
	default:
		g_debug("ignoring message type 0x%08x", mbim_message_get_message_type(m));
		return;
	}
}

static gboolean
ql_fake_readable(gint fd, GIOCondition cond, gpointer user_data)
{
	QlFake *f = user_data;
	guint8 buf[QL_FAKE_MAX_MESSAGE];
	gssize n = read(fd, buf, sizeof(buf));

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return G_SOURCE_CONTINUE;
		g_warning("reading the pty: %s", n == 0 ? "end of file" : g_strerror(errno));
		f->watch = 0;
		return G_SOURCE_REMOVE;
	}
	g_byte_array_append(f->in, buf, (guint)n);
	while (f->in->len >= 12 && !f->vanished) {
		guint32 len = ql_fake_get32(f->in->data + 4);
		if (len < 12 || len > QL_FAKE_MAX_MESSAGE) {
			g_warning("garbage on the pty (message length %u): dropped", len);
			g_byte_array_set_size(f->in, 0);
			break;
		}
		if (f->in->len < len)
			break;
		ql_fake_message(f, f->in->data, len);
		if (f->vanished)
			break;
		g_byte_array_remove_range(f->in, 0, len);
	}
	return f->vanished ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

/* The modem is unplugged: the port disappears and the card loses its channels with it */
static void
ql_fake_vanish(QlFake *f)
{
	f->vanished = TRUE;
	if (f->watch != 0) {
		g_source_remove(f->watch);
		f->watch = 0;
	}
	close(f->master);
	close(f->slave);
	f->master = f->slave = -1;
	for (guint32 c = 1; c <= QL_FAKE_MAX_CHANNEL; c++) {
		if (f->open[c])
			ql_fake_card_close(f, c);
	}
}

static gboolean
ql_fake_open_pty(QlFake *f, GError **error)
{
	struct termios t;
	const gchar *name;

	f->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (f->master < 0 || grantpt(f->master) < 0 || unlockpt(f->master) < 0 ||
	    (name = ptsname(f->master)) == NULL) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "no pty: %s",
			    g_strerror(errno));
		return FALSE;
	}
	f->pts = g_strdup(name);
	f->slave = open(f->pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (f->slave < 0 || tcgetattr(f->slave, &t) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", f->pts,
			    g_strerror(errno));
		return FALSE;
	}
	/* binary frames: no echo, no line editing, no CR/LF translation, no signals */
	cfmakeraw(&t);
	if (tcsetattr(f->slave, TCSANOW, &t) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: raw mode: %s",
			    f->pts, g_strerror(errno));
		return FALSE;
	}
	f->watch = g_unix_fd_add(f->master, G_IO_IN | G_IO_HUP | G_IO_ERR, ql_fake_readable, f);
	return TRUE;
}

static gboolean
ql_fake_proxy_listening(void)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new_with_type(
		"mbim-proxy", -1, G_UNIX_SOCKET_ADDRESS_ABSTRACT);
	g_autoptr(GSocketConnection) conn = NULL;
	conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, NULL);
	return conn != NULL;
}

static void
ql_fake_proxy_child_setup(gpointer user_data)
{
	/* never outlive the fake, even if it crashes */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static gboolean
ql_fake_start_proxy(QlFake *f, GError **error)
{
	const gchar *path =
		g_getenv("QL_MBIM_PROXY") != NULL ? g_getenv("QL_MBIM_PROXY") : QL_MBIM_PROXY_PATH;
	gchar *argv[] = {(gchar *)path, (gchar *)"--no-exit", NULL};

	if (ql_fake_proxy_listening()) {
		g_set_error(
			error, G_IO_ERROR, G_IO_ERROR_EXISTS,
			"an mbim-proxy already listens in this network namespace (ModemManager's?)"
			"; run the fake in a private one (unshare --net, as ql-mbim-netns.py "
			"does) or pass --no-proxy");
		return FALSE;
	}
	if (!g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
			   ql_fake_proxy_child_setup, NULL, &f->proxy, error))
		return FALSE;
	for (guint i = 0; i < 200; i++) {
		if (ql_fake_proxy_listening())
			return TRUE;
		g_usleep(50 * 1000);
	}
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
		    "%s did not listen within 10 s (it needs root)", path);
	return FALSE;
}

static void
ql_fake_stop_proxy(QlFake *f)
{
	if (f->proxy <= 0)
		return;
	kill(f->proxy, SIGTERM);
	waitpid(f->proxy, NULL, 0);
	g_spawn_close_pid(f->proxy);
	f->proxy = 0;
}

int
main(int argc, char **argv)
{
	g_autofree gchar *state = NULL;
	g_autofree gchar *identity = NULL;
	g_auto(GStrv) faults = NULL;
	g_autoptr(GOptionContext) octx = NULL;
	g_autoptr(GError) error = NULL;
	gint seed = 0, card_slot = 1, slots = 2, apdu_delay = 0, rc;
	gboolean no_proxy = FALSE;
	QlFake f = {.master = -1, .slave = -1};
	const GOptionEntry entries[] = {
		{"state", 0, 0, G_OPTION_ARG_FILENAME, &state, "The card's state file", "FILE"},
		{"identity", 0, 0, G_OPTION_ARG_FILENAME, &identity, "The card's identity", "DIR"},
		{"seed", 0, 0, G_OPTION_ARG_INT, &seed, "Seed N test profiles", "N"},
		{"apdu-delay", 0, 0, G_OPTION_ARG_INT, &apdu_delay,
		 "Latency model: answer each APDU this many ms after it came", "MS"},
		{"fault", 0, 0, G_OPTION_ARG_STRING_ARRAY, &faults,
		 "timeout, vanish, status-error, not-supported, unknown-status, timeout-on-load, "
		 "vanish-on-load, reset-stuck",
		 "F"},
		{"no-proxy", 0, 0, G_OPTION_ARG_NONE, &no_proxy,
		 "Let quantra-l open the pty directly (proxy=0)", NULL},
		{"card-slot", 0, 0, G_OPTION_ARG_INT, &card_slot, "The card's slot (1-based)", "N"},
		{"slots", 0, 0, G_OPTION_ARG_INT, &slots, "Number of SIM slots", "N"},
		{NULL},
	};

	octx = g_option_context_new("- a fake MBIM modem with a virtual eUICC");
	g_option_context_add_main_entries(octx, entries, NULL);
	if (!g_option_context_parse(octx, &argc, &argv, &error) || state == NULL || slots < 1 ||
	    slots > 8 || card_slot < 1 || card_slot > slots) {
		g_printerr("ql-fake-mbim: %s\n",
			   error != NULL ? error->message : "--state FILE is required");
		return 2;
	}
	for (guint i = 0; faults != NULL && faults[i] != NULL; i++) {
		if (g_strcmp0(faults[i], "timeout") == 0)
			f.faults |= QL_FAKE_FAULT_TIMEOUT;
		else if (g_strcmp0(faults[i], "vanish") == 0)
			f.faults |= QL_FAKE_FAULT_VANISH;
		else if (g_strcmp0(faults[i], "status-error") == 0)
			f.faults |= QL_FAKE_FAULT_STATUS_ERROR;
		else if (g_strcmp0(faults[i], "not-supported") == 0)
			f.faults |= QL_FAKE_FAULT_NOT_SUPPORTED;
		else if (g_strcmp0(faults[i], "unknown-status") == 0)
			f.faults |= QL_FAKE_FAULT_UNKNOWN_STATUS;
		else if (g_strcmp0(faults[i], "timeout-on-load") == 0)
			f.faults |= QL_FAKE_FAULT_TIMEOUT_ON_LOAD;
		else if (g_strcmp0(faults[i], "vanish-on-load") == 0)
			f.faults |= QL_FAKE_FAULT_VANISH_ON_LOAD;
		else if (g_strcmp0(faults[i], "reset-stuck") == 0)
			f.faults |= QL_FAKE_FAULT_RESET_STUCK;
		else {
			g_printerr("ql-fake-mbim: unknown fault '%s'\n", faults[i]);
			return 2;
		}
	}
	f.nslots = (guint32)slots;
	f.card_slot = (guint32)card_slot - 1;
	f.mapped_slot = 0;
	f.in = g_byte_array_new();
	if ((rc = ql_fake_main_open_card("ql-fake-mbim", state, identity, seed, apdu_delay,
					 &f.card)) != 0)
		return rc;
	if (!ql_fake_open_pty(&f, &error) || (!no_proxy && !ql_fake_start_proxy(&f, &error))) {
		g_printerr("ql-fake-mbim: %s\n", error->message);
		ql_fake_stop_proxy(&f);
		return 1;
	}
	f.loop = g_main_loop_new(NULL, FALSE);
	ql_fake_main_quit_on_signals(f.loop);
	ql_fake_main_report_on_usr1(f.card);
	printf("device mbim:%s%s\n", f.pts, no_proxy ? "?proxy=0" : "");
	fflush(stdout);
	g_main_loop_run(f.loop);

	/* what the host left open, before anything here tidies up */
	printf("open-channels %u\n", ql_vcard_get_open_channels(f.card));
	printf("power-cycles %u\n", f.resets);
	fflush(stdout);
	ql_fake_stop_proxy(&f);
	if (f.watch != 0)
		g_source_remove(f.watch);
	if (f.master >= 0)
		close(f.master);
	if (f.slave >= 0)
		close(f.slave);
	g_main_loop_unref(f.loop);
	g_byte_array_unref(f.in);
	ql_vcard_free(f.card);
	g_free(f.pts);
	return 0;
}
