/*
 * The "pcsc" channel plugin: an eUICC in a smart card reader, reached through pcscd
 * (pcsc-lite). Device spec pcsc:READER[?params]: READER is the reader's name as pcscd gives it
 * (spaces may be written %20), a prefix of it, or empty / a number N for the (N+1)-th reader that
 * holds a card ("pcsc:" and "pcsc:0" are the first).
 *
 * Parameters:
 *   timeout=S   seconds one APDU may take before the card counts as mute (default 30)
 *   socket=P    talk to the pcscd listening on P instead of the system one (pcsc-lite reads
 *               PCSCLITE_CSOCK_NAME once per process, so one process can use one pcscd only)
 * block= and isd-r= belong to the core and are ignored here.
 *
 * The card is shared with other programs (SCARD_SHARE_SHARED): logical channels keep our
 * session apart from theirs, as they do on a phone. The protocol is T=0 when the card offers it:
 * pcscd keeps a card in the protocol its first client chose until the card is powered down, and
 * asking T=0|T=1 makes pcscd choose T=1, which locks out clients that speak T=0 only (lpac among
 * them: SCARD_E_PROTO_MISMATCH). T=1 is used when the card offers nothing else or when another
 * client already holds the card in T=1.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gmodule.h>
#include <string.h>
#include <winscard.h>

#include "quantra-l/ql-apdu-util.h"
#include "quantra-l/ql-error.h"
#include "quantra-l/ql-hex.h"
#include "quantra-l/ql-plugin.h"

#define QL_PCSC_DEFAULT_TIMEOUT_S 30
/* a short APDU answers at most 256 bytes plus SW; leave room for extended ones */
#define QL_PCSC_MAX_RESPONSE (65536 + 2)

/* SCardTransmit has no timeout of its own and a mute card blocks it for as long as the reader
 * driver waits; so every exchange runs on a worker thread that the caller waits for with a
 * deadline. A job that outlives its deadline keeps the worker (and the card) busy until it ends;
 * the structures it touches are reference counted so that the device can go away before it. */
typedef struct {
	gint ref;
	SCARDHANDLE card;
	const SCARD_IO_REQUEST *pci;
	guint8 *cmd;
	DWORD cmd_len;
	guint8 *resp;
	DWORD resp_len;
	LONG rv;
	gboolean done; /* under the worker's lock */
} QlPcscJob;

typedef struct {
	gint ref;
	GMutex lock;
	GCond cond;
	GAsyncQueue *queue;
} QlPcscWorker;

struct _QlPluginDevice {
	SCARDCONTEXT ctx;
	SCARDHANDLE card;
	DWORD protocol;
	gchar *reader;
	guint timeout_s;
	guint32 open_channels; /* bit n: channel n was opened through this device */
	QlPcscWorker *worker;
	GThread *thread;
	QlPcscJob *stuck;  /* a job that did not finish in time, or NULL */
	gboolean extended; /* T=1 and the ATR says the card takes extended lengths */
	gboolean reset_on_close; /* we asked for T=1: reset the card for T=0 clients after us */
};

static QlPcscJob ql_pcsc_quit_job; /* pushed to end the worker */

/* The pcscd socket this process talks to (NULL: the default); see socket= above. */
G_LOCK_DEFINE_STATIC(ql_pcsc_socket);
static gchar *ql_pcsc_socket = NULL;
static gboolean ql_pcsc_socket_fixed = FALSE;

static void
ql_pcsc_job_unref(QlPcscJob *job)
{
	if (!g_atomic_int_dec_and_test(&job->ref))
		return;
	g_free(job->cmd);
	g_free(job->resp);
	g_free(job);
}

static void
ql_pcsc_worker_unref(QlPcscWorker *w)
{
	if (!g_atomic_int_dec_and_test(&w->ref))
		return;
	g_async_queue_unref(w->queue);
	g_mutex_clear(&w->lock);
	g_cond_clear(&w->cond);
	g_free(w);
}

static gpointer
ql_pcsc_worker_run(gpointer data)
{
	QlPcscWorker *w = data;
	for (;;) {
		QlPcscJob *job = g_async_queue_pop(w->queue);
		if (job == &ql_pcsc_quit_job)
			break;
		job->resp_len = QL_PCSC_MAX_RESPONSE;
		job->rv = SCardTransmit(job->card, job->pci, job->cmd, job->cmd_len, NULL,
					job->resp, &job->resp_len);
		g_mutex_lock(&w->lock);
		job->done = TRUE;
		g_cond_broadcast(&w->cond);
		g_mutex_unlock(&w->lock);
		ql_pcsc_job_unref(job);
	}
	ql_pcsc_worker_unref(w);
	return NULL;
}

/* PC/SC return codes in words, with the error code the core and the CLI act on. */
static void
ql_pcsc_set_error(GError **error, LONG rv, const gchar *reader, const gchar *what)
{
	const gchar *r = reader != NULL ? reader : "?";
	switch (rv) {
	case SCARD_E_NO_SERVICE:
	case SCARD_E_SERVICE_STOPPED:
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "pcsc: %s: pcscd is not running (start it, e.g. 'systemctl start "
			    "pcscd.socket')",
			    what);
		return;
	case SCARD_E_NO_READERS_AVAILABLE:
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "pcsc: %s: no smart card reader is connected", what);
		return;
	case SCARD_E_NO_SMARTCARD:
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND,
			    "pcsc: %s: there is no card in reader '%s' (SCARD_E_NO_SMARTCARD)",
			    what, r);
		return;
	case SCARD_W_REMOVED_CARD:
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "pcsc: %s: the card was removed from reader '%s'", what, r);
		return;
	case SCARD_W_RESET_CARD:
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "pcsc: %s: another program reset the card in reader '%s'; its logical "
			    "channels are gone",
			    what, r);
		return;
	case SCARD_E_READER_UNAVAILABLE:
	case SCARD_E_UNKNOWN_READER:
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "pcsc: %s: reader '%s' was removed or is not available", what, r);
		return;
	case SCARD_E_NOT_TRANSACTED:
	case SCARD_F_COMM_ERROR:
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "pcsc: %s: reader '%s' could not exchange the command with the card "
			    "(removed or mute card?)",
			    what, r);
		return;
	case SCARD_W_UNRESPONSIVE_CARD:
	case SCARD_W_UNPOWERED_CARD:
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "pcsc: %s: the card in reader '%s' does not respond", what, r);
		return;
	case SCARD_E_SHARING_VIOLATION:
		g_set_error(error, QL_ERROR, QL_ERROR_BUSY,
			    "pcsc: %s: another program holds reader '%s' exclusively", what, r);
		return;
	case SCARD_E_PROTO_MISMATCH:
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "pcsc: %s: the card in reader '%s' speaks neither T=0 nor T=1", what,
			    r);
		return;
	case SCARD_E_TIMEOUT:
		g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT, "pcsc: %s: reader '%s' timed out",
			    what, r);
		return;
	case SCARD_E_INSUFFICIENT_BUFFER:
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "pcsc: %s: the card in reader '%s' answered more than %u bytes", what,
			    r, (guint)QL_PCSC_MAX_RESPONSE);
		return;
	default:
		g_set_error(error, QL_ERROR, QL_ERROR_IO, "pcsc: %s: %s (0x%08lX)", what,
			    pcsc_stringify_error(rv), (unsigned long)rv);
		return;
	}
}

/* One APDU through the worker, waiting at most the device's timeout. */
static GBytes *
ql_pcsc_exchange(QlPluginDevice *dev, const guint8 *apdu, gsize apdu_len, GError **error)
{
	QlPcscWorker *w = dev->worker;
	QlPcscJob *job;
	gint64 deadline;
	gboolean done;
	GBytes *out = NULL;

	if (apdu_len < 4 || apdu_len > 65544) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "pcsc: a command APDU of %" G_GSIZE_FORMAT " bytes", apdu_len);
		return NULL;
	}
	if (dev->stuck != NULL) {
		g_mutex_lock(&w->lock);
		done = dev->stuck->done;
		g_mutex_unlock(&w->lock);
		if (!done) {
			g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
				    "pcsc: reader '%s' is still waiting for the card to answer an "
				    "earlier command",
				    dev->reader);
			return NULL;
		}
		g_clear_pointer(&dev->stuck, ql_pcsc_job_unref);
	}

	job = g_new0(QlPcscJob, 1);
	job->ref = 2; /* ours and the worker's */
	job->card = dev->card;
	job->pci = dev->protocol == SCARD_PROTOCOL_T1 ? SCARD_PCI_T1 : SCARD_PCI_T0;
	job->cmd = g_memdup2(apdu, apdu_len);
	job->cmd_len = (DWORD)apdu_len;
	job->resp = g_malloc(QL_PCSC_MAX_RESPONSE);
	g_async_queue_push(w->queue, job);

	deadline = g_get_monotonic_time() + (gint64)dev->timeout_s * G_TIME_SPAN_SECOND;
	g_mutex_lock(&w->lock);
	while (!job->done) {
		if (!g_cond_wait_until(&w->cond, &w->lock, deadline))
			break;
	}
	done = job->done;
	g_mutex_unlock(&w->lock);
	if (!done) {
		/* the card or reader is mute; the job stays with the worker */
		dev->stuck = job;
		g_set_error(error, QL_ERROR, QL_ERROR_TIMEOUT,
			    "pcsc: the card in reader '%s' did not answer within %u s", dev->reader,
			    dev->timeout_s);
		return NULL;
	}
	if (job->rv != SCARD_S_SUCCESS) {
		ql_pcsc_set_error(error, job->rv, dev->reader, "transmit");
	} else if (job->resp_len == 0) {
		/* what vpcd and some drivers report when the card went away mid-command */
		g_set_error(error, QL_ERROR, QL_ERROR_IO,
			    "pcsc: reader '%s' returned no answer at all (card removed?)",
			    dev->reader);
	} else if (job->resp_len < 2) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "pcsc: the card in reader '%s' answered %lu byte(s), without a status "
			    "word",
			    dev->reader, (unsigned long)job->resp_len);
	} else {
		out = g_bytes_new(job->resp, job->resp_len);
	}
	ql_pcsc_job_unref(job);
	return out;
}

static guint16
ql_pcsc_sw(GBytes *r)
{
	gsize len = 0;
	const guint8 *p = g_bytes_get_data(r, &len);
	return len >= 2 ? (guint16)((p[len - 2] << 8) | p[len - 1]) : 0;
}

static gboolean
ql_pcsc_close_channel(QlPluginDevice *dev, guint8 channel, GError **error)
{
	/* MANAGE CHANNEL close, sent on the basic channel, names the channel in P2 */
	const guint8 apdu[] = {0x00, 0x70, 0x80, channel};
	g_autoptr(GBytes) r = NULL;
	guint16 sw;

	r = ql_pcsc_exchange(dev, apdu, sizeof(apdu), error);
	if (r == NULL)
		return FALSE;
	dev->open_channels &= ~(1u << (channel & 0x1f));
	sw = ql_pcsc_sw(r);
	if (sw != 0x9000) {
		g_set_error(error, QL_ERROR, QL_ERROR_CARD,
			    "pcsc: closing logical channel %u failed with status %04X (%s)",
			    channel, sw, ql_apdu_sw_describe(sw));
		return FALSE;
	}
	return TRUE;
}

static gboolean
ql_pcsc_open_channel(QlPluginDevice *dev, const guint8 *aid, gsize aid_len, guint8 *channel,
		     GError **error)
{
	const guint8 open_apdu[] = {0x00, 0x70, 0x00, 0x00, 0x01};
	g_autoptr(GBytes) r = NULL;
	g_autoptr(GByteArray) select = g_byte_array_new();
	const guint8 *p;
	gsize len = 0;
	guint8 ch, hdr[5];
	guint16 sw;
	guint rounds = 0;

	if (aid_len < 5 || aid_len > 16) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "pcsc: an AID of %" G_GSIZE_FORMAT " bytes (must be 5 to 16)", aid_len);
		return FALSE;
	}
	r = ql_pcsc_exchange(dev, open_apdu, sizeof(open_apdu), error);
	if (r == NULL)
		return FALSE;
	p = g_bytes_get_data(r, &len);
	sw = ql_pcsc_sw(r);
	if (sw != 0x9000) {
		g_set_error(error, QL_ERROR, sw == 0x6A81 ? QL_ERROR_BUSY : QL_ERROR_CARD,
			    "pcsc: MANAGE CHANNEL open failed with status %04X (%s)", sw,
			    sw == 0x6A81 ? "no free logical channel" : ql_apdu_sw_describe(sw));
		return FALSE;
	}
	if (len != 3 || p[0] == 0 || p[0] > 19) {
		g_set_error(error, QL_ERROR, QL_ERROR_MALFORMED,
			    "pcsc: MANAGE CHANNEL open gave no channel number from 1 to 19");
		return FALSE;
	}
	ch = p[0];
	dev->open_channels |= 1u << ch;

	/* T=0 cannot carry Lc and Le in one command: the card answers 61xx instead */
	hdr[0] = ql_apdu_cla(ch, FALSE);
	hdr[1] = 0xA4;
	hdr[2] = 0x04;
	hdr[3] = 0x00;
	hdr[4] = (guint8)aid_len;
	g_byte_array_append(select, hdr, sizeof(hdr));
	g_byte_array_append(select, aid, (guint)aid_len);
	if (dev->protocol == SCARD_PROTOCOL_T1) {
		const guint8 le = 0x00;
		g_byte_array_append(select, &le, 1);
	}
	g_clear_pointer(&r, g_bytes_unref);
	r = ql_pcsc_exchange(dev, select->data, select->len, error);
	if (r == NULL)
		goto fail;
	sw = ql_pcsc_sw(r);
	/* the FCI is of no use here, but a card that has it ready wants it fetched */
	while (((sw & 0xFF00) == 0x6100 || (sw & 0xFF00) == 0x6C00) && rounds++ < 64) {
		const guint8 get[] = {hdr[0], 0xC0, 0x00, 0x00, sw & 0xFF};
		g_clear_pointer(&r, g_bytes_unref);
		r = ql_pcsc_exchange(dev, get, sizeof(get), error);
		if (r == NULL)
			goto fail;
		sw = ql_pcsc_sw(r);
	}
	if (sw != 0x9000) {
		g_autofree gchar *hex = ql_hex_encode(aid, aid_len);
		ql_pcsc_close_channel(dev, ch, NULL);
		g_set_error(error, QL_ERROR, sw == 0x6A82 ? QL_ERROR_NOT_FOUND : QL_ERROR_CARD,
			    "pcsc: SELECT %s failed with status %04X (%s)", hex, sw,
			    ql_apdu_sw_describe(sw));
		return FALSE;
	}
	*channel = ch;
	return TRUE;

fail:
	/* best effort: a card that is gone or mute has lost the channel anyway */
	if (dev->stuck == NULL)
		ql_pcsc_close_channel(dev, ch, NULL);
	return FALSE;
}

static GBytes *
ql_pcsc_transmit(QlPluginDevice *dev, guint8 channel, const guint8 *apdu, gsize apdu_len,
		 GError **error)
{
	return ql_pcsc_exchange(dev, apdu, apdu_len, error);
}

/* Names in a multi-string as returned by SCardListReaders. */
static GPtrArray *
ql_pcsc_list_readers(SCARDCONTEXT ctx, GError **error)
{
	g_autofree gchar *buf = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	DWORD len = 0;
	LONG rv;

	rv = SCardListReaders(ctx, NULL, NULL, &len);
	if (rv == SCARD_S_SUCCESS) {
		buf = g_malloc0(len + 1);
		rv = SCardListReaders(ctx, NULL, buf, &len);
	}
	if (rv != SCARD_S_SUCCESS) {
		ql_pcsc_set_error(error, rv, NULL, "listing readers");
		return NULL;
	}
	for (const gchar *p = buf; p < buf + len && *p != '\0'; p += strlen(p) + 1)
		g_ptr_array_add(names, g_strdup(p));
	if (names->len == 0) {
		ql_pcsc_set_error(error, SCARD_E_NO_READERS_AVAILABLE, NULL, "listing readers");
		return NULL;
	}
	return g_steal_pointer(&names);
}

static gchar *
ql_pcsc_find_reader(SCARDCONTEXT ctx, const gchar *want, GError **error)
{
	g_autoptr(GPtrArray) names = ql_pcsc_list_readers(ctx, error);
	g_autofree gchar *all = NULL;
	guint64 index = 0;

	if (names == NULL)
		return NULL;
	g_ptr_array_add(names, NULL);
	all = g_strjoinv("', '", (gchar **)names->pdata);
	g_ptr_array_remove_index(names, names->len - 1);

	if (want[0] == '\0' || g_ascii_string_to_unsigned(want, 10, 0, 63, &index, NULL)) {
		g_autofree SCARD_READERSTATE *st = g_new0(SCARD_READERSTATE, names->len);
		LONG rv;
		guint64 seen = 0;
		for (guint i = 0; i < names->len; i++) {
			st[i].szReader = g_ptr_array_index(names, i);
			st[i].dwCurrentState = SCARD_STATE_UNAWARE;
		}
		rv = SCardGetStatusChange(ctx, 0, st, names->len);
		if (rv != SCARD_S_SUCCESS && rv != SCARD_E_TIMEOUT) {
			ql_pcsc_set_error(error, rv, NULL, "reading the readers' state");
			return NULL;
		}
		for (guint i = 0; i < names->len; i++) {
			if ((st[i].dwEventState & SCARD_STATE_PRESENT) == 0)
				continue;
			if (seen++ == index)
				return g_strdup(g_ptr_array_index(names, i));
		}
		g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND, "pcsc: %s (readers: '%s')",
			    seen == 0 ? "no reader holds a card" : "fewer readers hold a card",
			    all);
		return NULL;
	}
	for (guint i = 0; i < names->len; i++) {
		if (g_strcmp0(g_ptr_array_index(names, i), want) == 0)
			return g_strdup(want);
	}
	for (guint i = 0; i < names->len; i++) {
		if (g_str_has_prefix(g_ptr_array_index(names, i), want))
			return g_strdup(g_ptr_array_index(names, i));
	}
	g_set_error(error, QL_ERROR, QL_ERROR_NOT_FOUND, "pcsc: no reader '%s' (readers: '%s')",
		    want, all);
	return NULL;
}

static void
ql_pcsc_close(QlPluginDevice *dev)
{
	if (dev == NULL)
		return;
	if (dev->card != 0 && dev->stuck == NULL) {
		/* a device that goes away leaves no channel open on the card */
		for (guint8 ch = 1; ch <= 19 && dev->stuck == NULL; ch++) {
			if (dev->open_channels & (1u << ch))
				ql_pcsc_close_channel(dev, ch, NULL);
		}
	}
	if (dev->worker != NULL) {
		g_async_queue_push(dev->worker->queue, &ql_pcsc_quit_job);
		if (dev->stuck == NULL)
			g_thread_join(dev->thread);
		else
			g_thread_unref(dev->thread);
		ql_pcsc_worker_unref(dev->worker);
	}
	if (dev->stuck != NULL) {
		/* the worker is still inside SCardTransmit on this handle and context, and
		 * pcsc-lite would block us on them: leave both to pcscd, which releases a
		 * client's handles when it goes away */
		g_warning("reader '%s' is still busy; leaving its handle to pcscd", dev->reader);
		ql_pcsc_job_unref(dev->stuck);
	} else {
		if (dev->card != 0)
			SCardDisconnect(dev->card,
					dev->reset_on_close ? SCARD_RESET_CARD : SCARD_LEAVE_CARD);
		if (dev->ctx != 0)
			SCardReleaseContext(dev->ctx);
	}
	g_free(dev->reader);
	g_free(dev);
}

static gboolean
ql_pcsc_use_socket(const gchar *socket, GError **error)
{
	gboolean ok = TRUE;
	G_LOCK(ql_pcsc_socket);
	if (!ql_pcsc_socket_fixed) {
		if (socket != NULL)
			g_setenv("PCSCLITE_CSOCK_NAME", socket, TRUE);
		ql_pcsc_socket = g_strdup(socket);
		ql_pcsc_socket_fixed = TRUE;
	} else if (g_strcmp0(socket, ql_pcsc_socket) != 0) {
		ok = FALSE;
	}
	G_UNLOCK(ql_pcsc_socket);
	if (!ok) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "pcsc: this process already talks to the pcscd at '%s'; it cannot use "
			    "another one at '%s'",
			    ql_pcsc_socket != NULL ? ql_pcsc_socket : "(default)",
			    socket != NULL ? socket : "(default)");
	}
	return ok;
}

static QlPluginDevice *
ql_pcsc_open(const gchar *path, GHashTable *params, GError **error)
{
	const gchar *const known[] = {"timeout", "socket", "block", "isd-r", "extended", NULL};
	g_autofree gchar *want = g_uri_unescape_string(path, NULL);
	g_autofree gchar *socket = NULL;
	QlPluginDevice *dev;
	guint64 timeout = QL_PCSC_DEFAULT_TIMEOUT_S;
	gboolean want_t1;
	LONG rv;

	if (want == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "pcsc: '%s' is not a valid reader name (bad %%-escape)", path);
		return NULL;
	}
	if (params != NULL) {
		GHashTableIter it;
		gpointer key, value;
		g_hash_table_iter_init(&it, params);
		while (g_hash_table_iter_next(&it, &key, &value)) {
			if (!g_strv_contains(known, key)) {
				g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
					    "pcsc: unknown parameter '%s' (known: timeout, socket, block, isd-r, extended)",
					    (const gchar *)key);
				return NULL;
			}
		}
		if (g_hash_table_contains(params, "timeout") &&
		    !g_ascii_string_to_unsigned(g_hash_table_lookup(params, "timeout"), 10, 1, 3600,
						&timeout, NULL)) {
			g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
				    "pcsc: timeout=%s is not a number of seconds from 1 to 3600",
				    (const gchar *)g_hash_table_lookup(params, "timeout"));
			return NULL;
		}
		if (g_hash_table_contains(params, "socket"))
			socket = g_uri_unescape_string(g_hash_table_lookup(params, "socket"), NULL);
	}
	if (!ql_pcsc_use_socket(socket, error))
		return NULL;

	dev = g_new0(QlPluginDevice, 1);
	dev->timeout_s = (guint)timeout;
	rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &dev->ctx);
	if (rv != SCARD_S_SUCCESS) {
		dev->ctx = 0;
		ql_pcsc_set_error(error, rv, NULL, "connecting to pcscd");
		ql_pcsc_close(dev);
		return NULL;
	}
	dev->reader = ql_pcsc_find_reader(dev->ctx, want, error);
	if (dev->reader == NULL) {
		ql_pcsc_close(dev);
		return NULL;
	}
	/* T=0 first (see above); a mismatch means a T=1-only card or a card held in T=1.
	 * extended=on asks for T=1, which carries extended lengths: the card is then reset when we
	 * leave it, so that a T=0-only client finds it as it was */
	want_t1 = params != NULL && g_strcmp0(g_hash_table_lookup(params, "extended"), "on") == 0;
	rv = SCardConnect(dev->ctx, dev->reader, SCARD_SHARE_SHARED,
			  want_t1 ? SCARD_PROTOCOL_T1 : SCARD_PROTOCOL_T0, &dev->card,
			  &dev->protocol);
	dev->reset_on_close = want_t1 && rv == SCARD_S_SUCCESS;
	if (rv == SCARD_E_PROTO_MISMATCH)
		rv = SCardConnect(dev->ctx, dev->reader, SCARD_SHARE_SHARED,
				  SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &dev->card,
				  &dev->protocol);
	if (rv != SCARD_S_SUCCESS) {
		dev->card = 0;
		ql_pcsc_set_error(error, rv, dev->reader, "connecting to the card");
		ql_pcsc_close(dev);
		return NULL;
	}
	{
		/* extended lengths: the card's ATR says it takes them, and T=1 carries them as
		 * they are (T=0 would need ENVELOPE, which not every reader driver does) */
		BYTE atr[MAX_ATR_SIZE];
		DWORD atr_len = sizeof(atr), state = 0, proto = 0, name_len = 0;
		rv = SCardStatus(dev->card, NULL, &name_len, &state, &proto, atr, &atr_len);
		dev->extended = rv == SCARD_S_SUCCESS && dev->protocol == SCARD_PROTOCOL_T1 &&
				ql_apdu_atr_extended_length(atr, atr_len);
	}
	g_debug("connected to '%s' with T=%d%s", dev->reader,
		dev->protocol == SCARD_PROTOCOL_T1 ? 1 : 0,
		dev->extended ? ", extended lengths" : "");
	dev->worker = g_new0(QlPcscWorker, 1);
	dev->worker->ref = 2; /* the device's and the thread's */
	g_mutex_init(&dev->worker->lock);
	g_cond_init(&dev->worker->cond);
	dev->worker->queue = g_async_queue_new();
	dev->thread = g_thread_new("ql-pcsc", ql_pcsc_worker_run, dev->worker);
	return dev;
}

static gboolean
ql_pcsc_extended_length(QlPluginDevice *dev)
{
	return dev->extended;
}

static const QlPluginInfo ql_plugin_pcsc_info = {
	.abi_version = QL_PLUGIN_ABI_VERSION,
	.scheme = "pcsc",
	.description = "eUICC in a smart card reader, through pcscd",
	.open = ql_pcsc_open,
	.close = ql_pcsc_close,
	.open_channel = ql_pcsc_open_channel,
	.transmit = ql_pcsc_transmit,
	.close_channel = ql_pcsc_close_channel,
	.extended_length = ql_pcsc_extended_length,
};

G_MODULE_EXPORT const QlPluginInfo *ql_plugin_entry(void);

G_MODULE_EXPORT const QlPluginInfo *
ql_plugin_entry(void)
{
	return &ql_plugin_pcsc_info;
}
