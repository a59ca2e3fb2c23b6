/*
 * QR decoding. See ql-qr.h.
 *
 * The image's size is read from its header, through the loader's size-prepared signal, before
 * anything is decoded: an image over the pixel budget is refused there, so a small file that
 * claims a huge canvas (a 76 KB PNG of 20000x20000 pixels decodes to 1.2 GB) costs nothing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zbar.h>

#include "quantra-l/ql-error.h"
#include "ql-qr.h"

typedef struct {
	gint width;
	gint height;
	gboolean refused;
} QlQrSize;

/* Emitted by the loader as soon as the header names the size, before the image is allocated */
static void
ql_qr_size_prepared(GdkPixbufLoader *loader, gint width, gint height, gpointer user_data)
{
	QlQrSize *size = user_data;

	size->width = width;
	size->height = height;
	if (width <= 0 || height <= 0 || width > QL_QR_MAX_SIDE || height > QL_QR_MAX_SIDE ||
	    (gint64)width * height > QL_QR_MAX_PIXELS) {
		size->refused = TRUE;
		/* a 0x0 target makes every loader stop here, before it allocates anything */
		gdk_pixbuf_loader_set_size(loader, 0, 0);
	}
}

/* Decodes @path into a pixbuf within the budgets, or fails with a clear message */
static GdkPixbuf *
ql_qr_load(const gchar *path, GError **error)
{
	g_autoptr(GdkPixbufLoader) loader = gdk_pixbuf_loader_new();
	g_autoptr(GError) local = NULL;
	QlQrSize size = {0};
	gboolean failed = FALSE;
	struct stat st;
	guint8 buf[65536];
	gint fd;

	fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		gint err = errno;
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "cannot read the image %s: %s", path, g_strerror(err));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > QL_QR_MAX_FILE_SIZE) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "the image %s is not a regular file of at most %u MiB", path,
			    (guint)(QL_QR_MAX_FILE_SIZE / (1024 * 1024)));
		close(fd);
		return NULL;
	}
	g_signal_connect(loader, "size-prepared", G_CALLBACK(ql_qr_size_prepared), &size);
	for (;;) {
		gssize n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			gint err = errno;
			g_set_error(&local, G_FILE_ERROR, g_file_error_from_errno(err), "%s",
				    g_strerror(err));
			break;
		}
		if (n == 0)
			break;
		/* a failed write has closed the loader */
		if (!gdk_pixbuf_loader_write(loader, buf, (gsize)n, &local)) {
			failed = TRUE;
			break;
		}
		if (size.refused)
			break;
	}
	close(fd);
	if (!failed && !gdk_pixbuf_loader_close(loader, local == NULL ? &local : NULL))
		failed = TRUE;
	if (size.refused) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "the image %s is %dx%d pixels: a QR code image may have at most %u "
			    "megapixels and %u pixels a side; crop or scale it down",
			    path, size.width, size.height, (guint)(QL_QR_MAX_PIXELS / 1000000),
			    (guint)QL_QR_MAX_SIDE);
		return NULL;
	}
	if (local != NULL || failed || gdk_pixbuf_loader_get_pixbuf(loader) == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "cannot read the image %s: %s", path,
			    local != NULL ? local->message
					  : "not an image format this system reads");
		return NULL;
	}
	return g_object_ref(gdk_pixbuf_loader_get_pixbuf(loader));
}

gchar *
ql_qr_decode_file(const gchar *path, GError **error)
{
	g_autoptr(GdkPixbuf) pixbuf = NULL;
	zbar_image_scanner_t *scanner;
	zbar_image_t *image;
	const zbar_symbol_t *sym;
	guint8 *gray;
	gint w, h, stride, channels;
	const guchar *px;
	gchar *out = NULL;

	pixbuf = ql_qr_load(path, error);
	if (pixbuf == NULL)
		return NULL;
	w = gdk_pixbuf_get_width(pixbuf);
	h = gdk_pixbuf_get_height(pixbuf);
	stride = gdk_pixbuf_get_rowstride(pixbuf);
	channels = gdk_pixbuf_get_n_channels(pixbuf);
	px = gdk_pixbuf_read_pixels(pixbuf);
	/* the loader kept to the size it announced; checked again, as the scan relies on it */
	if (w <= 0 || h <= 0 || w > QL_QR_MAX_SIDE || h > QL_QR_MAX_SIDE ||
	    (gint64)w * h > QL_QR_MAX_PIXELS || channels < 3) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "the image %s has an unusable size or format", path);
		return NULL;
	}
	/* zbar reads 8-bit grey ("Y800"); transparent pixels count as white */
	gray = g_malloc((gsize)w * (gsize)h);
	for (gint y = 0; y < h; y++) {
		for (gint x = 0; x < w; x++) {
			const guchar *p = px + (gsize)y * stride + (gsize)x * channels;
			guint v = (p[0] * 299u + p[1] * 587u + p[2] * 114u) / 1000u;
			if (channels == 4)
				v = (v * p[3] + 255u * (255u - p[3])) / 255u;
			gray[(gsize)y * w + x] = (guint8)v;
		}
	}
	scanner = zbar_image_scanner_create();
	zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
	zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
	image = zbar_image_create();
	zbar_image_set_format(image, zbar_fourcc('Y', '8', '0', '0'));
	zbar_image_set_size(image, (unsigned)w, (unsigned)h);
	zbar_image_set_data(image, gray, (unsigned long)w * (unsigned long)h, zbar_image_free_data);
	if (zbar_scan_image(scanner, image) > 0) {
		for (sym = zbar_image_first_symbol(image); sym != NULL;
		     sym = zbar_symbol_next(sym)) {
			if (zbar_symbol_get_type(sym) == ZBAR_QRCODE) {
				out = g_strdup(zbar_symbol_get_data(sym));
				break;
			}
		}
	}
	zbar_image_destroy(image);
	zbar_image_scanner_destroy(scanner);
	if (out == NULL)
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT, "no QR code found in %s",
			    path);
	return out;
}
