/*
 * QR decoding. See ql-qr.h.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "config.h"

#include <gdk-pixbuf/gdk-pixbuf.h>
#include <zbar.h>

#include "quantra-l/ql-error.h"
#include "ql-qr.h"

gchar *
ql_qr_decode_file(const gchar *path, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(GdkPixbuf) pixbuf = NULL;
	zbar_image_scanner_t *scanner;
	zbar_image_t *image;
	const zbar_symbol_t *sym;
	guint8 *gray;
	gint w, h, stride, channels;
	const guchar *px;
	gchar *out = NULL;

	pixbuf = gdk_pixbuf_new_from_file(path, &local);
	if (pixbuf == NULL) {
		g_set_error(error, QL_ERROR, QL_ERROR_INVALID_ARGUMENT,
			    "cannot read the image %s: %s", path, local->message);
		return NULL;
	}
	w = gdk_pixbuf_get_width(pixbuf);
	h = gdk_pixbuf_get_height(pixbuf);
	stride = gdk_pixbuf_get_rowstride(pixbuf);
	channels = gdk_pixbuf_get_n_channels(pixbuf);
	px = gdk_pixbuf_read_pixels(pixbuf);
	if (w <= 0 || h <= 0 || w > 16384 || h > 16384 || channels < 3) {
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
