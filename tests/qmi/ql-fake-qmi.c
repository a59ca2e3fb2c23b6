/*
 * ql-fake-qmi: a fake qmi-proxy with a virtual eUICC behind it, for the transport tests.
 *
 * It listens on the abstract unix socket "qmi-proxy", as the real proxy does, and speaks its wire
 * protocol: a client first sends CTL "Internal Proxy Open" naming the port, then QMUX frames;
 * CTL allocates and releases client ids; UIM Open Logical Channel, Send APDU and Logical Channel
 * become MANAGE CHANNEL, SELECT and the APDUs themselves on the virtual card. Every frame is parsed
 * and built with libqmi's own message API. The port it names is a FIFO in a temporary folder
 * (libqmi wants a special file there); abstract sockets belong to a network namespace, so run it
 * and quantra-l together under `unshare --net` (see tests/qmi/ql-netns-run.py).
 *
 *   ql-fake-qmi --state FILE [--identity DIR] [--seed N] [--fault F]... [--euicc-slot N]
 *               [--scheme qmi|qrtr] [--port PATH]
 * prints "device SPEC" when ready, "open-channels N" on SIGUSR1 and, after SIGTERM, "open-channels
 * N" and "power-cycles N" before it exits 0. Each line on stdin "fault F" arms F from then on
 * ("fault vanish N": at the Nth Send APDU from then on, default 3),
 * "clear" disarms every fault; the fake answers "ok" or "error: ..." (end of stdin is ignored).
 *
 * For ModemManager (tests/mm/) it is a QMI modem too: with --port /dev/cdc-wdm0 (a special file
 * the caller made, in a private mount namespace) it serves that port name; it gives DMS, NAS and
 * UIM clients, answers DMS Get Capabilities, UIM Get Card Status with a ready USIM while a
 * profile is enabled, and UIM Read Transparent of EF ICCID (2FE2) with the enabled profile's
 * ICCID. Every other request gets a QMI error, never silence.
 *
 * Faults: access-denied (Open Logical Channel answers AccessDenied), timeout (Send APDU is never
 * answered), vanish (the connection is dropped at the third Send APDU and the card resets, as when
 * a modem is unplugged), unknown-status (the next ES10 command answers SW 6F00), qmi-error (Send
 * APDU answers a QMI error libqmi does not know), vanish-on-load and timeout-on-load (vanish, or
 * no answer to this and every later Send APDU, from the first profile segment (86) of a Bound
 * Profile Package on: mid-download).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <libqmi-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ql-vcard.h"
#include "../ql-fake-main.h"
#include "../ql-fake-sim.h"

#define QL_FAKE_SLOTS 2
#define QL_FAKE_SWITCH_DELAY_MS 800 /* a real card needs about a second after a switch */
#define QL_FAKE_VANISH_AT 3
#define QL_FAKE_UNKNOWN_QMI_ERR 0x0200

enum {
	QL_FAKE_FAULT_ACCESS_DENIED = 1 << 0,
	QL_FAKE_FAULT_TIMEOUT = 1 << 1,
	QL_FAKE_FAULT_VANISH = 1 << 2,
	QL_FAKE_FAULT_UNKNOWN_STATUS = 1 << 3,
	QL_FAKE_FAULT_QMI_ERROR = 1 << 4,
	QL_FAKE_FAULT_VANISH_ON_LOAD = 1 << 5,
	QL_FAKE_FAULT_TIMEOUT_ON_LOAD = 1 << 6,
};
#define QL_FAKE_FAULTS_ON_LOAD (QL_FAKE_FAULT_VANISH_ON_LOAD | QL_FAKE_FAULT_TIMEOUT_ON_LOAD)

typedef struct {
	QlVcard *card;
	gchar *dir;
	gchar *port; /* the path a client must name in Internal Proxy Open */
	guint faults;
	guint8 next_cid;
	guint euicc_slot;  /* physical slot holding the eUICC */
	guint active_slot; /* physical slot mapped to logical slot 1 */
	gint64 ready_at;   /* monotonic time the card takes commands again after a switch */
	gboolean powered;
	guint send_apdus;
	guint vanish_at;  /* the Send APDU (1-based) the vanish fault drops the connection at */
	gboolean loading; /* a profile segment has been seen (the on-load faults fire) */
	guint power_cycles;
	GMainLoop *loop;
} QlFake;

typedef struct {
	QlFake *fake;
	GSocketConnection *conn;
	GByteArray *buf;
	GSource *source;
	gboolean opened;
} QlFakeConn;

static QlFake fake;

/* --- the card ----------------------------------------------------------------------------- */

static GBytes *
ql_fake_card(const guint8 *apdu, gsize len)
{
	g_autoptr(GError) error = NULL;
	GBytes *r = ql_vcard_transmit(fake.card, apdu, len, &error);
	if (r == NULL)
		g_printerr("ql-fake-qmi: the card failed: %s\n", error->message);
	return r;
}

/* A card reset (slot switch, power off, a modem that goes away) closes every logical channel */
static void
ql_fake_card_reset(void)
{
	for (guint8 ch = 1; ch <= QL_VCARD_MAX_CHANNELS; ch++)
		ql_vcard_close_logical_channel(fake.card, ch, NULL, NULL);
}

/* The first STORE DATA block (P2 0) of a profile segment (86, SGP.22 2.5.5): mid-download */
static gboolean
ql_fake_is_load(const guint8 *apdu, gsize len)
{
	return len > 5 && apdu[1] == 0xE2 && apdu[3] == 0x00 && apdu[4] > 0 && apdu[5] == 0x86;
}

/* --- building answers --------------------------------------------------------------------- */

static void
ql_fake_tlv_bytes(QmiMessage *m, guint8 type, gboolean len16, const guint8 *p, gsize len)
{
	gsize tlv = qmi_message_tlv_write_init(m, type, NULL);
	if (len16)
		qmi_message_tlv_write_guint16(m, QMI_ENDIAN_LITTLE, (guint16)len, NULL);
	else
		qmi_message_tlv_write_guint8(m, (guint8)len, NULL);
	for (gsize i = 0; i < len; i++)
		qmi_message_tlv_write_guint8(m, p[i], NULL);
	qmi_message_tlv_write_complete(m, tlv, NULL);
}

static void
ql_fake_tlv_u8(QmiMessage *m, guint8 type, guint8 v)
{
	gsize tlv = qmi_message_tlv_write_init(m, type, NULL);
	qmi_message_tlv_write_guint8(m, v, NULL);
	qmi_message_tlv_write_complete(m, tlv, NULL);
}

/* SW1 SW2 in TLV @type (0x11 in the logical channel messages, 0x10 in Read Transparent) */
static void
ql_fake_tlv_sw(QmiMessage *m, guint8 type, guint16 sw)
{
	gsize tlv = qmi_message_tlv_write_init(m, type, NULL);
	qmi_message_tlv_write_guint8(m, sw >> 8, NULL);
	qmi_message_tlv_write_guint8(m, sw & 0xFF, NULL);
	qmi_message_tlv_write_complete(m, tlv, NULL);
}

static void
ql_fake_tlv_card_result(QmiMessage *m, guint16 sw)
{
	ql_fake_tlv_sw(m, 0x11, sw);
}

static gboolean
ql_fake_read_u8(QmiMessage *m, guint8 type, guint8 *out)
{
	gsize off = 0, tlv = qmi_message_tlv_read_init(m, type, NULL, NULL);
	return tlv != 0 && qmi_message_tlv_read_guint8(m, tlv, &off, out, NULL);
}

/* A counted byte array TLV; points into @m */
static const guint8 *
ql_fake_read_bytes(QmiMessage *m, guint8 type, gboolean len16, gsize *len)
{
	guint16 tlv_len = 0;
	const guint8 *raw = qmi_message_get_raw_tlv(m, type, &tlv_len);
	gsize hdr = len16 ? 2 : 1, n;
	if (raw == NULL || tlv_len < hdr)
		return NULL;
	n = len16 ? (gsize)(raw[0] | raw[1] << 8) : raw[0];
	if (n + hdr != tlv_len)
		return NULL;
	*len = n;
	return raw + hdr;
}

/* --- CTL ---------------------------------------------------------------------------------- */

static QmiMessage *
ql_fake_ctl(QlFakeConn *c, QmiMessage *req)
{
	QmiMessage *resp;
	gsize tlv, off = 0;

	switch (qmi_message_get_message_id(req)) {
	case 0xFF00: { /* Internal Proxy Open: TLV 0x01 the port's path */
		g_autofree gchar *path = NULL;
		tlv = qmi_message_tlv_read_init(req, 0x01, NULL, NULL);
		if (tlv == 0 || !qmi_message_tlv_read_string(req, tlv, &off, 0, 0, &path, NULL))
			return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_MALFORMED_MESSAGE);
		if (g_strcmp0(path, fake.port) != 0) {
			g_printerr("ql-fake-qmi: a client asked for %s, this fake serves %s\n",
				   path, fake.port);
			return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INTERNAL);
		}
		c->opened = TRUE;
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
	}
	case 0x0021: { /* Get Version Info: CTL 1.5, DMS 1.14, NAS 1.25, UIM 1.46 */
		const guint8 services[][2] = {{QMI_SERVICE_CTL, 1},
					      {QMI_SERVICE_DMS, 1},
					      {QMI_SERVICE_NAS, 1},
					      {QMI_SERVICE_UIM, 1}};
		const guint16 minors[] = {5, 14, 25, 46};
		resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
		tlv = qmi_message_tlv_write_init(resp, 0x01, NULL);
		qmi_message_tlv_write_guint8(resp, G_N_ELEMENTS(services), NULL);
		for (guint i = 0; i < G_N_ELEMENTS(services); i++) {
			qmi_message_tlv_write_guint8(resp, services[i][0], NULL);
			qmi_message_tlv_write_guint16(resp, QMI_ENDIAN_LITTLE, services[i][1],
						      NULL);
			qmi_message_tlv_write_guint16(resp, QMI_ENDIAN_LITTLE, minors[i], NULL);
		}
		qmi_message_tlv_write_complete(resp, tlv, NULL);
		return resp;
	}
	case 0x0022: { /* Allocate CID: TLV 0x01 service; answer TLV 0x01 {service, cid} */
		guint8 service = 0;
		if (!ql_fake_read_u8(req, 0x01, &service))
			return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_MISSING_ARGUMENT);
		if (service != QMI_SERVICE_UIM && service != QMI_SERVICE_DMS &&
		    service != QMI_SERVICE_NAS)
			return qmi_message_response_new(req,
							QMI_PROTOCOL_ERROR_INVALID_SERVICE_TYPE);
		resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
		tlv = qmi_message_tlv_write_init(resp, 0x01, NULL);
		qmi_message_tlv_write_guint8(resp, service, NULL);
		qmi_message_tlv_write_guint8(resp, fake.next_cid++, NULL);
		qmi_message_tlv_write_complete(resp, tlv, NULL);
		if (fake.next_cid == 0)
			fake.next_cid = 1;
		return resp;
	}
	case 0x0023: { /* Release CID: TLV 0x01 {service, cid}, echoed */
		guint16 len = 0;
		const guint8 *info = qmi_message_get_raw_tlv(req, 0x01, &len);
		if (info == NULL || len != 2)
			return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_MISSING_ARGUMENT);
		resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
		tlv = qmi_message_tlv_write_init(resp, 0x01, NULL);
		qmi_message_tlv_write_guint8(resp, info[0], NULL);
		qmi_message_tlv_write_guint8(resp, info[1], NULL);
		qmi_message_tlv_write_complete(resp, tlv, NULL);
		return resp;
	}
	case 0x0027: /* Sync */
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
	default:
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INVALID_QMI_COMMAND);
	}
}

/* --- UIM ---------------------------------------------------------------------------------- */

static QmiMessage *
ql_fake_uim_open_channel(QmiMessage *req)
{
	g_autoptr(GBytes) fci = NULL;
	g_autoptr(GError) error = NULL;
	const guint8 *aid;
	gsize aid_len = 0;
	guint8 ch = 0;
	guint16 sw = 0;
	QmiMessage *resp;

	if (fake.faults & QL_FAKE_FAULT_ACCESS_DENIED)
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_ACCESS_DENIED);
	aid = ql_fake_read_bytes(req, 0x10, FALSE, &aid_len);
	if (aid == NULL || aid_len < 1 || aid_len > 16)
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INVALID_ARGUMENT);

	/* the modem collects a long FCI itself (GET RESPONSE) */
	if (!ql_vcard_open_logical_channel(fake.card, aid, aid_len, 0x00, &ch, &fci, &sw, &error)) {
		g_printerr("ql-fake-qmi: the card failed: %s\n", error->message);
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INTERNAL);
	}
	if (sw != 0x9000) {
		/* no channel to give, or the SELECT was refused (the channel is closed again) */
		QmiProtocolError qerr = QMI_PROTOCOL_ERROR_INTERNAL;
		if (ch == 0)
			qerr = QMI_PROTOCOL_ERROR_INSUFFICIENT_RESOURCES;
		else if (sw == 0x6A82)
			qerr = QMI_PROTOCOL_ERROR_SIM_FILE_NOT_FOUND;
		resp = qmi_message_response_new(req, qerr);
		ql_fake_tlv_card_result(resp, sw);
		return resp;
	}
	resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
	ql_fake_tlv_u8(resp, 0x10, ch);
	ql_fake_tlv_card_result(resp, sw);
	/* the FCI without its status word */
	ql_fake_tlv_bytes(resp, 0x12, FALSE, g_bytes_get_data(fci, NULL),
			  MIN(g_bytes_get_size(fci) - 2, 255));
	return resp;
}

static QmiMessage *
ql_fake_uim_send_apdu(QlFakeConn *c, QmiMessage *req, gboolean *vanish)
{
	const guint8 *apdu;
	gsize len = 0;
	guint8 ch = 0;
	g_autoptr(GBytes) r = NULL;
	QmiMessage *resp;

	fake.send_apdus++;
	if (fake.faults & QL_FAKE_FAULT_TIMEOUT)
		return NULL; /* swallowed: the modem never answers */
	if ((fake.faults & QL_FAKE_FAULT_VANISH) && fake.send_apdus == fake.vanish_at) {
		*vanish = TRUE;
		return NULL;
	}
	if (fake.faults & QL_FAKE_FAULT_QMI_ERROR)
		return qmi_message_response_new(req, (QmiProtocolError)QL_FAKE_UNKNOWN_QMI_ERR);
	apdu = ql_fake_read_bytes(req, 0x02, TRUE, &len);
	if (apdu == NULL || len < 4 || !ql_fake_read_u8(req, 0x10, &ch))
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_MISSING_ARGUMENT);
	if ((fake.faults & QL_FAKE_FAULTS_ON_LOAD) && !fake.loading && ql_fake_is_load(apdu, len)) {
		g_printerr("ql-fake-qmi: fault: at the first profile segment\n");
		fake.loading = TRUE;
	}
	if (fake.loading && (fake.faults & QL_FAKE_FAULT_TIMEOUT_ON_LOAD))
		return NULL;
	if (fake.loading && (fake.faults & QL_FAKE_FAULT_VANISH_ON_LOAD)) {
		fake.faults &= ~QL_FAKE_FAULT_VANISH_ON_LOAD; /* the modem comes back */
		*vanish = TRUE;
		return NULL;
	}
	r = ql_fake_card(apdu, len);
	if (r == NULL)
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INTERNAL);
	resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
	ql_fake_tlv_bytes(resp, 0x10, TRUE, g_bytes_get_data(r, NULL), g_bytes_get_size(r));
	return resp;
}

static QmiMessage *
ql_fake_uim_close_channel(QmiMessage *req)
{
	guint8 ch = 0;
	g_autoptr(GError) error = NULL;
	guint16 sw = 0;
	QmiMessage *resp;

	if (!ql_fake_read_u8(req, 0x11, &ch))
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_MISSING_ARGUMENT);
	if (!ql_vcard_close_logical_channel(fake.card, ch, &sw, &error)) {
		g_printerr("ql-fake-qmi: the card failed: %s\n", error->message);
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INTERNAL);
	}
	if (sw == 0x9000)
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
	resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INVALID_ARGUMENT);
	ql_fake_tlv_card_result(resp, sw);
	return resp;
}

static gboolean
ql_fake_card_ready(void)
{
	return fake.powered && fake.active_slot == fake.euicc_slot &&
	       g_get_monotonic_time() >= fake.ready_at;
}

/* The enabled profile's EF ICCID, NULL when the card is not ready or has no enabled profile */
static GBytes *
ql_fake_ef_iccid(void)
{
	g_autoptr(GError) error = NULL;
	GBytes *ef;

	if (!ql_fake_card_ready())
		return NULL;
	ef = ql_fake_sim_ef_iccid(fake.card, &error);
	if (ef == NULL)
		g_debug("no ICCID to give: %s", error->message);
	return ef;
}

/* One card; with an enabled profile it holds a USIM, ready, PIN disabled (the primary GW
 * application ModemManager looks for), else no application at all (an empty eUICC). */
static QmiMessage *
ql_fake_uim_card_status(QmiMessage *req)
{
	QmiMessage *resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
	gsize tlv = qmi_message_tlv_write_init(resp, 0x10, NULL);
	g_autoptr(GBytes) ef = ql_fake_ef_iccid();
	const guint8 usim_aid[] = {0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02};

	/* index GW primary: card 0, application 0; the others unknown */
	qmi_message_tlv_write_guint16(resp, QMI_ENDIAN_LITTLE, ef != NULL ? 0x0000 : 0xFFFF, NULL);
	for (guint i = 0; i < 3; i++)
		qmi_message_tlv_write_guint16(resp, QMI_ENDIAN_LITTLE, 0xFFFF, NULL);
	qmi_message_tlv_write_guint8(resp, 1, NULL); /* one card */
	qmi_message_tlv_write_guint8(
		resp, ql_fake_card_ready() ? QMI_UIM_CARD_STATE_PRESENT : QMI_UIM_CARD_STATE_ABSENT,
		NULL);
	for (guint i = 0; i < 4; i++) /* UPIN state, retries, PUK retries, error code */
		qmi_message_tlv_write_guint8(resp, 0, NULL);
	qmi_message_tlv_write_guint8(resp, ef != NULL ? 1 : 0, NULL);
	if (ef != NULL) {
		const guint8 app[] = {QMI_UIM_CARD_APPLICATION_TYPE_USIM,
				      QMI_UIM_CARD_APPLICATION_STATE_READY,
				      QMI_UIM_CARD_APPLICATION_PERSONALIZATION_STATE_READY,
				      0,
				      0,
				      0};
		for (guint i = 0; i < G_N_ELEMENTS(app); i++)
			qmi_message_tlv_write_guint8(resp, app[i], NULL);
		qmi_message_tlv_write_guint8(resp, sizeof(usim_aid), NULL);
		for (guint i = 0; i < sizeof(usim_aid); i++)
			qmi_message_tlv_write_guint8(resp, usim_aid[i], NULL);
		qmi_message_tlv_write_guint8(resp, 0, NULL); /* UPIN does not replace PIN1 */
		/* PIN1 disabled, 3 tries, 10 PUK tries; PIN2 the same */
		for (guint i = 0; i < 2; i++) {
			qmi_message_tlv_write_guint8(resp, QMI_UIM_PIN_STATE_DISABLED, NULL);
			qmi_message_tlv_write_guint8(resp, 3, NULL);
			qmi_message_tlv_write_guint8(resp, 10, NULL);
		}
	}
	qmi_message_tlv_write_complete(resp, tlv, NULL);
	return resp;
}

/* Read Transparent (TLV 0x02: file id, path): EF ICCID only; other files are not found */
static QmiMessage *
ql_fake_uim_read_transparent(QmiMessage *req)
{
	gsize tlv, off = 0;
	guint16 file_id = 0;
	g_autoptr(GBytes) ef = NULL;
	QmiMessage *resp;

	tlv = qmi_message_tlv_read_init(req, 0x02, NULL, NULL);
	if (tlv == 0 ||
	    !qmi_message_tlv_read_guint16(req, tlv, &off, QMI_ENDIAN_LITTLE, &file_id, NULL))
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_MISSING_ARGUMENT);
	if (file_id == QL_FAKE_SIM_EF_ICCID)
		ef = ql_fake_ef_iccid();
	if (ef == NULL) {
		resp = qmi_message_response_new(req, ql_fake_card_ready()
							     ? QMI_PROTOCOL_ERROR_SIM_FILE_NOT_FOUND
							     : QMI_PROTOCOL_ERROR_NO_SIM);
		ql_fake_tlv_sw(resp, 0x10, 0x6A82);
		return resp;
	}
	resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
	ql_fake_tlv_sw(resp, 0x10, 0x9000);
	ql_fake_tlv_bytes(resp, 0x11, TRUE, g_bytes_get_data(ef, NULL), g_bytes_get_size(ef));
	return resp;
}

static QmiMessage *
ql_fake_uim_slot_status(QmiMessage *req)
{
	QmiMessage *resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
	gsize tlv = qmi_message_tlv_write_init(resp, 0x10, NULL);
	qmi_message_tlv_write_guint8(resp, QL_FAKE_SLOTS, NULL);
	for (guint s = 1; s <= QL_FAKE_SLOTS; s++) {
		gboolean active = s == fake.active_slot;
		qmi_message_tlv_write_guint32(resp, QMI_ENDIAN_LITTLE,
					      s == fake.euicc_slot
						      ? QMI_UIM_PHYSICAL_CARD_STATE_PRESENT
						      : QMI_UIM_PHYSICAL_CARD_STATE_ABSENT,
					      NULL);
		qmi_message_tlv_write_guint32(
			resp, QMI_ENDIAN_LITTLE,
			active ? QMI_UIM_SLOT_STATE_ACTIVE : QMI_UIM_SLOT_STATE_INACTIVE, NULL);
		qmi_message_tlv_write_guint8(resp, active ? 1 : 0, NULL);
		qmi_message_tlv_write_guint8(resp, 0, NULL); /* no ICCID */
	}
	qmi_message_tlv_write_complete(resp, tlv, NULL);
	return resp;
}

static QmiMessage *
ql_fake_uim_switch_slot(QmiMessage *req)
{
	gsize tlv, off = 0;
	guint8 logical = 0;
	guint32 physical = 0;

	tlv = qmi_message_tlv_read_init(req, 0x02, NULL, NULL);
	if (!ql_fake_read_u8(req, 0x01, &logical) || tlv == 0 ||
	    !qmi_message_tlv_read_guint32(req, tlv, &off, QMI_ENDIAN_LITTLE, &physical, NULL))
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_MISSING_ARGUMENT);
	if (logical != 1 || physical < 1 || physical > QL_FAKE_SLOTS)
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INVALID_ARGUMENT);
	if (physical == fake.active_slot)
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NO_EFFECT);
	ql_fake_card_reset();
	fake.active_slot = physical;
	fake.ready_at = g_get_monotonic_time() + QL_FAKE_SWITCH_DELAY_MS * G_TIME_SPAN_MILLISECOND;
	return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
}

static QmiMessage *
ql_fake_uim(QlFakeConn *c, QmiMessage *req, gboolean *vanish)
{
	guint16 id = qmi_message_get_message_id(req);
	guint8 slot = 0;

	switch (id) {
	case 0x002F:
		return ql_fake_uim_card_status(req);
	case 0x0020:
		return ql_fake_uim_read_transparent(req);
	case 0x0047:
		return ql_fake_uim_slot_status(req);
	case 0x0046:
		return ql_fake_uim_switch_slot(req);
	case 0x0030: /* Power Off SIM */
	case 0x0031: /* Power On SIM */
	case 0x003B: /* Send APDU */
	case 0x003F: /* Logical Channel */
	case 0x0042: /* Open Logical Channel */
		break;
	default:
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INVALID_QMI_COMMAND);
	}
	/* one active logical slot, as on most single-SIM-active modems */
	if (!ql_fake_read_u8(req, 0x01, &slot))
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_MISSING_ARGUMENT);
	if (slot != 1)
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INVALID_ARGUMENT);
	if (id == 0x0030) {
		ql_fake_card_reset();
		fake.powered = FALSE;
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
	}
	if (id == 0x0031) {
		if (!fake.powered)
			fake.power_cycles++;
		fake.powered = TRUE;
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
	}
	if (fake.active_slot != fake.euicc_slot)
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NO_SIM);
	if (!ql_fake_card_ready())
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_DEVICE_NOT_READY);
	if (id == 0x0042)
		return ql_fake_uim_open_channel(req);
	if (id == 0x003B)
		return ql_fake_uim_send_apdu(c, req, vanish);
	return ql_fake_uim_close_channel(req);
}

/* --- DMS ---------------------------------------------------------------------------------- */

/* Get Capabilities (what ModemManager must have to make a modem of it); the rest: errors */
static QmiMessage *
ql_fake_dms(QmiMessage *req)
{
	QmiMessage *resp;
	gsize tlv;

	if (qmi_message_get_message_id(req) != 0x0020) {
		g_debug("DMS 0x%04x: not served", qmi_message_get_message_id(req));
		return qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INVALID_QMI_COMMAND);
	}
	resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_NONE);
	tlv = qmi_message_tlv_write_init(resp, 0x01, NULL);
	qmi_message_tlv_write_guint32(resp, QMI_ENDIAN_LITTLE, 50000000, NULL);	 /* max tx */
	qmi_message_tlv_write_guint32(resp, QMI_ENDIAN_LITTLE, 150000000, NULL); /* max rx */
	qmi_message_tlv_write_guint8(resp, QMI_DMS_DATA_SERVICE_CAPABILITY_SIMULTANEOUS_CS_PS,
				     NULL);
	qmi_message_tlv_write_guint8(resp, QMI_DMS_SIM_CAPABILITY_SUPPORTED, NULL);
	qmi_message_tlv_write_guint8(resp, 1, NULL);
	qmi_message_tlv_write_guint8(resp, QMI_DMS_RADIO_INTERFACE_LTE, NULL);
	qmi_message_tlv_write_complete(resp, tlv, NULL);
	return resp;
}

/* --- connections -------------------------------------------------------------------------- */

static void
ql_fake_conn_free(QlFakeConn *c)
{
	if (c->source != NULL) {
		g_source_destroy(c->source);
		g_source_unref(c->source);
	}
	g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
	g_object_unref(c->conn);
	g_byte_array_unref(c->buf);
	g_free(c);
}

static gboolean
ql_fake_conn_send(QlFakeConn *c, QmiMessage *m)
{
	gsize len = 0;
	const guint8 *raw = qmi_message_get_raw(m, &len, NULL);
	GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->conn));
	return raw != NULL && g_output_stream_write_all(out, raw, len, NULL, NULL, NULL);
}

/* FALSE: drop the connection */
static gboolean
ql_fake_conn_handle(QlFakeConn *c, QmiMessage *req)
{
	g_autoptr(QmiMessage) resp = NULL;
	gboolean vanish = FALSE;

	if (!qmi_message_is_request(req))
		return TRUE;
	if (qmi_message_get_service(req) == QMI_SERVICE_CTL) {
		resp = ql_fake_ctl(c, req);
	} else if (!c->opened) {
		g_printerr("ql-fake-qmi: a request before Internal Proxy Open\n");
		return FALSE;
	} else if (qmi_message_get_service(req) == QMI_SERVICE_UIM) {
		resp = ql_fake_uim(c, req, &vanish);
	} else if (qmi_message_get_service(req) == QMI_SERVICE_DMS) {
		resp = ql_fake_dms(req);
	} else if (qmi_message_get_service(req) == QMI_SERVICE_NAS) {
		g_debug("NAS 0x%04x: not served", qmi_message_get_message_id(req));
		resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INVALID_QMI_COMMAND);
	} else {
		resp = qmi_message_response_new(req, QMI_PROTOCOL_ERROR_INVALID_SERVICE_TYPE);
	}
	if (vanish) {
		ql_fake_card_reset();
		return FALSE;
	}
	return resp == NULL || ql_fake_conn_send(c, resp);
}

static gboolean
ql_fake_conn_readable(GObject *stream, gpointer user_data)
{
	QlFakeConn *c = user_data;
	guint8 chunk[4096];
	g_autoptr(GError) error = NULL;
	gssize n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(stream), chunk,
							    sizeof(chunk), NULL, &error);
	if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
		return G_SOURCE_CONTINUE;
	if (n <= 0)
		goto drop;
	g_byte_array_append(c->buf, chunk, (guint)n);
	while (c->buf->len > 0) {
		g_autoptr(GError) perr = NULL;
		g_autoptr(QmiMessage) m = NULL;
		if (c->buf->data[0] != QMI_MESSAGE_QMUX_MARKER) {
			g_printerr("ql-fake-qmi: lost QMUX framing\n");
			goto drop;
		}
		m = qmi_message_new_from_raw(c->buf, &perr);
		if (m == NULL) {
			if (perr == NULL)
				break; /* more data needed */
			g_printerr("ql-fake-qmi: invalid QMI message: %s\n", perr->message);
			goto drop;
		}
		if (!ql_fake_conn_handle(c, m))
			goto drop;
	}
	return G_SOURCE_CONTINUE;
drop:
	g_source_unref(c->source);
	c->source = NULL;
	ql_fake_conn_free(c);
	return G_SOURCE_REMOVE;
}

static gboolean
ql_fake_incoming(GSocketService *service, GSocketConnection *conn, GObject *src, gpointer data)
{
	QlFakeConn *c = g_new0(QlFakeConn, 1);
	GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
	c->conn = g_object_ref(conn);
	c->buf = g_byte_array_new();
	c->source = g_pollable_input_stream_create_source(G_POLLABLE_INPUT_STREAM(in), NULL);
	g_source_set_callback(c->source, (GSourceFunc)(void (*)(void))ql_fake_conn_readable, c,
			      NULL);
	g_source_attach(c->source, NULL);
	return TRUE;
}

/* --- control on stdin -------------------------------------------------------------------- */

static gboolean ql_fake_parse_faults(GStrv faults, GError **error);

static gboolean
ql_fake_control_cb(GIOChannel *io, GIOCondition cond, gpointer data)
{
	g_autofree gchar *line = NULL;
	g_autoptr(GError) error = NULL;
	GIOStatus st = g_io_channel_read_line(io, &line, NULL, NULL, NULL);

	if (st == G_IO_STATUS_AGAIN)
		return G_SOURCE_CONTINUE;
	if (st != G_IO_STATUS_NORMAL)
		return G_SOURCE_REMOVE; /* the controller went away: keep serving */
	g_strstrip(line);
	if (g_str_has_prefix(line, "fault ")) {
		g_auto(GStrv) one = g_strsplit(line + strlen("fault "), " ", 2);
		guint64 at = QL_FAKE_VANISH_AT;
		if (one[0] != NULL && one[1] != NULL &&
		    (g_strcmp0(one[0], "vanish") != 0 ||
		     !g_ascii_string_to_unsigned(one[1], 10, 1, 1000, &at, &error))) {
			g_print("error: only vanish takes a number (1..1000)\n");
		} else if (g_free(g_steal_pointer(&one[1])), !ql_fake_parse_faults(one, &error)) {
			g_print("error: %s\n", error->message);
		} else {
			fake.send_apdus = 0; /* "vanish" counts from here */
			fake.vanish_at = (guint)at;
			if (fake.faults & QL_FAKE_FAULT_UNKNOWN_STATUS)
				ql_vcard_set_fault(fake.card, QL_VCARD_FAULT_SW6F00, 0);
			g_print("ok\n");
		}
	} else if (g_strcmp0(line, "clear") == 0) {
		fake.faults = 0;
		ql_vcard_set_fault(fake.card, QL_VCARD_FAULT_NONE, 0);
		fake.loading = FALSE;
		fake.send_apdus = 0;
		fake.vanish_at = QL_FAKE_VANISH_AT;
		g_print("ok\n");
	} else {
		g_print("error: unknown command '%s' (fault F, clear)\n", line);
	}
	fflush(stdout);
	return G_SOURCE_CONTINUE;
}

/* Commands come only from a pipe or socket: a terminal or /dev/null is left alone */
static void
ql_fake_control_watch(void)
{
	struct stat st;
	GIOChannel *io;

	if (fstat(0, &st) != 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return;
	io = g_io_channel_unix_new(0);
	g_io_add_watch(io, G_IO_IN | G_IO_HUP | G_IO_ERR, ql_fake_control_cb, NULL);
	g_io_channel_unref(io);
}

/* --- main --------------------------------------------------------------------------------- */

static gboolean
ql_fake_parse_faults(GStrv faults, GError **error)
{
	for (guint i = 0; faults != NULL && faults[i] != NULL; i++) {
		const gchar *names[] = {"access-denied",  "timeout",   "vanish",
					"unknown-status", "qmi-error", "vanish-on-load",
					"timeout-on-load"};
		guint j;
		for (j = 0; j < G_N_ELEMENTS(names); j++) {
			if (g_strcmp0(faults[i], names[j]) == 0)
				break;
		}
		if (j == G_N_ELEMENTS(names)) {
			g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
				    "unknown fault '%s' (known: access-denied, timeout, vanish, "
				    "unknown-status, qmi-error, vanish-on-load, timeout-on-load)",
				    faults[i]);
			return FALSE;
		}
		fake.faults |= 1u << j;
	}
	return TRUE;
}

int
main(int argc, char **argv)
{
	g_autofree gchar *state = NULL;
	g_autofree gchar *identity = NULL;
	g_autofree gchar *scheme = NULL;
	g_autofree gchar *port = NULL;
	g_auto(GStrv) faults = NULL;
	gint seed = 0, euicc_slot = 1, apdu_delay = 0, rc;
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) ctx = NULL;
	g_autoptr(GSocketService) service = NULL;
	g_autoptr(GSocketAddress) addr = NULL;
	g_autofree gchar *spec = NULL;
	g_autofree gchar *fifo = NULL;
	const GOptionEntry entries[] = {
		{"state", 0, 0, G_OPTION_ARG_FILENAME, &state, "the card's state file", "FILE"},
		{"identity", 0, 0, G_OPTION_ARG_FILENAME, &identity, "the card's identity", "DIR"},
		{"seed", 0, 0, G_OPTION_ARG_INT, &seed, "test profiles to seed", "N"},
		{"apdu-delay", 0, 0, G_OPTION_ARG_INT, &apdu_delay,
		 "Latency model: answer each APDU this many ms after it came", "MS"},
		{"fault", 0, 0, G_OPTION_ARG_STRING_ARRAY, &faults, "a fault to inject", "F"},
		{"euicc-slot", 0, 0, G_OPTION_ARG_INT, &euicc_slot,
		 "the physical slot (1 or 2) holding the eUICC; slot 1 is active at start", "N"},
		{"scheme", 0, 0, G_OPTION_ARG_STRING, &scheme, "qmi (default) or qrtr", "S"},
		{"port", 0, 0, G_OPTION_ARG_FILENAME, &port,
		 "serve this port (a special file that exists) instead of a FIFO of our own",
		 "PATH"},
		{NULL},
	};

	ctx = g_option_context_new("- a fake qmi-proxy with a virtual eUICC behind it");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &error) ||
	    !ql_fake_parse_faults(faults, &error)) {
		g_printerr("ql-fake-qmi: %s\n", error->message);
		return 2;
	}
	if (state == NULL || seed < 0 || euicc_slot < 1 || euicc_slot > QL_FAKE_SLOTS ||
	    (scheme != NULL && g_strcmp0(scheme, "qmi") != 0 && g_strcmp0(scheme, "qrtr") != 0)) {
		g_printerr("ql-fake-qmi: --state FILE is required; --seed >= 0; --euicc-slot 1 "
			   "or 2; --scheme qmi or qrtr\n");
		return 2;
	}

	if ((rc = ql_fake_main_open_card("ql-fake-qmi", state, identity, seed, apdu_delay,
					 &fake.card)) != 0)
		return rc;
	if (fake.faults & QL_FAKE_FAULT_UNKNOWN_STATUS)
		ql_vcard_set_fault(fake.card, QL_VCARD_FAULT_SW6F00, 0);
	fake.next_cid = 1;
	fake.vanish_at = QL_FAKE_VANISH_AT;
	fake.euicc_slot = (guint)euicc_slot;
	fake.active_slot = 1;
	fake.powered = TRUE;

	if (g_strcmp0(scheme, "qrtr") == 0) {
		fake.port = g_strdup("qrtr://0");
		spec = g_strdup("qrtr:0");
	} else if (port != NULL) {
		fake.port = g_strdup(port);
		spec = g_strdup_printf("qmi:%s", port);
	} else {
		/* libqmi checks that the port is a special file; a FIFO is one */
		fake.dir = g_dir_make_tmp("ql-fake-qmi-XXXXXX", &error);
		if (fake.dir == NULL) {
			g_printerr("ql-fake-qmi: %s\n", error->message);
			return 1;
		}
		fifo = g_build_filename(fake.dir, "cdc-wdm0", NULL);
		if (mkfifo(fifo, 0600) != 0) {
			g_printerr("ql-fake-qmi: mkfifo %s: %s\n", fifo, g_strerror(errno));
			return 1;
		}
		fake.port = g_strdup(fifo);
		spec = g_strdup_printf("qmi:%s", fifo);
	}

	service = g_socket_service_new();
	addr = g_unix_socket_address_new_with_type(QMI_PROXY_SOCKET_PATH, -1,
						   G_UNIX_SOCKET_ADDRESS_ABSTRACT);
	if (!g_socket_listener_add_address(G_SOCKET_LISTENER(service), addr, G_SOCKET_TYPE_STREAM,
					   G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, &error)) {
		g_printerr("ql-fake-qmi: cannot listen on the abstract socket '%s': %s (a real "
			   "qmi-proxy in this network namespace? run under `unshare --net`)\n",
			   QMI_PROXY_SOCKET_PATH, error->message);
		return 1;
	}
	g_signal_connect(service, "incoming", G_CALLBACK(ql_fake_incoming), NULL);
	g_socket_service_start(service);

	fake.loop = g_main_loop_new(NULL, FALSE);
	ql_fake_main_quit_on_signals(fake.loop);
	ql_fake_main_report_on_usr1(fake.card);
	ql_fake_control_watch();
	g_print("device %s\n", spec);
	fflush(stdout);
	g_main_loop_run(fake.loop);

	g_socket_service_stop(service);
	g_socket_listener_close(G_SOCKET_LISTENER(service));
	g_print("open-channels %u\n", ql_vcard_get_open_channels(fake.card));
	g_print("power-cycles %u\n", fake.power_cycles);
	fflush(stdout);
	if (fifo != NULL)
		g_unlink(fifo);
	if (fake.dir != NULL)
		g_rmdir(fake.dir);
	g_main_loop_unref(fake.loop);
	ql_vcard_free(fake.card);
	g_free(fake.port);
	g_free(fake.dir);
	return 0;
}
