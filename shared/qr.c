#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <png.h>
#include <qrencode.h>

#include "buf.h"
#include "log.h"
#include "qr.h"

#define QR_DATA_URI_PREFIX	"data:image/png;base64,"

/*
 * The symbol of text (level M, 8-bit mode, smallest version), *qr to be
 * released with QRcode_free. Errors as qr_svg() documents.
 */
static enum fb_err
qr_encode(const char *text, QRcode **qr)
{
	size_t	len;

	*qr = NULL;
	if (text == NULL)
		return FB_ERR_INVALID;
	len = strnlen(text, QR_TEXT_MAX + 1);
	if (len == 0)
		return FB_ERR_INVALID;
	if (len > QR_TEXT_MAX)
		return FB_ERR_TOOBIG;
	errno = 0;
	/* Version 0: the smallest that holds the text (up to 40). */
	if ((*qr = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_M)) == NULL) {
		switch (errno) {
		case ERANGE:
			return FB_ERR_TOOBIG;
		case ENOMEM:
			log_msg(FBLOG_ERROR, "QRcode_encodeString8bit: out of memory");
			return FB_ERR_NOMEM;
		default:
			log_msg(FBLOG_ERROR, "QRcode_encodeString8bit: errno %d",
			    errno);
			return FB_ERR_INTERNAL;
		}
	}
	/* ISO/IEC 18004 §5.3.1: versions 1 to 40 are 21 to 177 modules wide. */
	if ((*qr)->width < 21 || (*qr)->width > 177 || (*qr)->data == NULL) {
		log_msg(FBLOG_ERROR, "QRcode_encodeString8bit: width %d",
		    (*qr)->width);
		QRcode_free(*qr);
		*qr = NULL;
		return FB_ERR_INTERNAL;
	}
	return FB_OK;
}

/* Whether module (x, y) of the symbol is dark (bit 0 of its byte). */
static bool
qr_dark(const QRcode *qr, int x, int y)
{
	return (qr->data[(size_t)y * (size_t)qr->width + (size_t)x] & 1) != 0;
}

enum fb_err
qr_svg(const char *text, char **svg)
{
	struct buf	 b = BUF_INIT;
	QRcode		*qr = NULL;
	int		 n, x, y, run;
	enum fb_err	 e;

	if (svg == NULL)
		return FB_ERR_INVALID;
	*svg = NULL;
	if ((e = qr_encode(text, &qr)) != FB_OK)
		return e;
	n = qr->width + 2 * QR_QUIET;
	buf_printf(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">"
	    "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>"
	    "<path fill=\"#000000\" d=\"", n, n, n, n);
	/* One subpath per horizontal run of dark modules. */
	for (y = 0; y < qr->width; y++) {
		for (x = 0; x < qr->width; x += run) {
			for (run = 0; x + run < qr->width && qr_dark(qr, x + run, y);
			    run++)
				;
			if (run == 0) {
				run = 1;
				continue;
			}
			buf_printf(&b, "M%d %dh%dv1h-%dz", x + QR_QUIET,
			    y + QR_QUIET, run, run);
		}
	}
	buf_puts(&b, "\"/></svg>\n");
	if (buf_failed(&b)) {
		log_msg(FBLOG_ERROR, "qr_svg: out of memory");
		e = FB_ERR_NOMEM;
		goto out;
	}
	*svg = buf_take(&b);
	e = FB_OK;
out:
	buf_free(&b);
	if (qr != NULL)
		QRcode_free(qr);
	return e;
}

/* What qr_png_draw() works with; owned by qr_png() (outside the setjmp). */
struct qr_png {
	png_structp	 png;
	png_infop	 info;
	unsigned char	*row;		/* one pixel row, one byte per module */
	struct buf	*out;		/* the PNG file being written */
};

/* libpng's write callback: into memory. png_error() does not return. */
static void
qr_png_write(png_structp png, png_bytep data, size_t len)
{
	struct buf	*b = png_get_io_ptr(png);

	buf_append(b, data, len);
	if (buf_failed(b))
		png_error(png, "out of memory");
}

static void
qr_png_flush(png_structp png)
{
	(void)png;
}

static void qr_png_error(png_structp, png_const_charp)
    __attribute__((noreturn));
static void
qr_png_error(png_structp png, png_const_charp msg)
{
	log_msg(FBLOG_ERROR, "libpng: %s", msg);
	png_longjmp(png, 1);
}

static void
qr_png_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	log_msg(FBLOG_WARN, "libpng: %s", msg);
}

/*
 * Writes the PNG of qr into st->out. libpng reports errors by longjmp to
 * the setjmp here; only st (the caller's) is looked at after it.
 */
static enum fb_err
qr_png_draw(struct qr_png *st, const QRcode *qr)
{
	int	n, x, y, k;

	if (setjmp(png_jmpbuf(st->png)))
		return buf_failed(st->out) ? FB_ERR_NOMEM : FB_ERR_INTERNAL;
	n = qr->width + 2 * QR_QUIET;
	png_set_write_fn(st->png, st->out, qr_png_write, qr_png_flush);
	png_set_IHDR(st->png, st->info, (png_uint_32)(n * QR_PNG_SCALE),
	    (png_uint_32)(n * QR_PNG_SCALE), 1, PNG_COLOR_TYPE_GRAY,
	    PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
	    PNG_FILTER_TYPE_DEFAULT);
	png_set_compression_level(st->png, 9);
	png_write_info(st->png, st->info);
	/*
	 * At 1 bit per pixel a module of QR_PNG_SCALE (8) pixels is one byte:
	 * 0x00 dark, 0xff light (1 is white in grayscale).
	 */
	for (y = -QR_QUIET; y < qr->width + QR_QUIET; y++) {
		for (x = -QR_QUIET; x < qr->width + QR_QUIET; x++)
			st->row[x + QR_QUIET] = (y >= 0 && y < qr->width &&
			    x >= 0 && x < qr->width && qr_dark(qr, x, y)) ?
			    0x00 : 0xff;
		for (k = 0; k < QR_PNG_SCALE; k++)
			png_write_row(st->png, st->row);
	}
	png_write_end(st->png, NULL);
	return FB_OK;
}

/* The PNG file of qr into out. */
static enum fb_err
qr_png(const QRcode *qr, struct buf *out)
{
	struct qr_png	st = { NULL, NULL, NULL, out };
	enum fb_err	e;

	/* The row packing of qr_png_draw() holds for 8 pixels per module only. */
	_Static_assert(QR_PNG_SCALE == 8, "one byte per module");
	st.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
	    qr_png_error, qr_png_warning);
	if (st.png == NULL) {
		log_msg(FBLOG_ERROR, "png_create_write_struct failed");
		e = FB_ERR_NOMEM;
		goto out;
	}
	if ((st.info = png_create_info_struct(st.png)) == NULL) {
		log_msg(FBLOG_ERROR, "png_create_info_struct failed");
		e = FB_ERR_NOMEM;
		goto out;
	}
	if ((st.row = malloc((size_t)qr->width + 2 * QR_QUIET)) == NULL) {
		log_msg(FBLOG_ERROR, "qr_png: out of memory");
		e = FB_ERR_NOMEM;
		goto out;
	}
	e = qr_png_draw(&st, qr);
out:
	if (st.png != NULL)
		png_destroy_write_struct(&st.png, &st.info);
	free(st.row);
	return e;
}

enum fb_err
qr_png_data_uri(const char *text, char **uri)
{
	struct buf	 png = BUF_INIT;
	QRcode		*qr = NULL;
	char		*s = NULL;
	size_t		 plen = sizeof(QR_DATA_URI_PREFIX) - 1;
	int		 n;
	enum fb_err	 e;

	if (uri == NULL)
		return FB_ERR_INVALID;
	*uri = NULL;
	if ((e = qr_encode(text, &qr)) != FB_OK)
		return e;
	if ((e = qr_png(qr, &png)) != FB_OK)
		goto out;
	/* EVP_EncodeBlock takes an int; a QR PNG is a few KiB at most. */
	if (png.len == 0 || png.len > INT_MAX / 4 * 3 - 3) {
		log_msg(FBLOG_ERROR, "qr_png_data_uri: PNG of %zu bytes", png.len);
		e = FB_ERR_INTERNAL;
		goto out;
	}
	if ((s = malloc(plen + (png.len + 2) / 3 * 4 + 1)) == NULL) {
		log_msg(FBLOG_ERROR, "qr_png_data_uri: out of memory");
		e = FB_ERR_NOMEM;
		goto out;
	}
	memcpy(s, QR_DATA_URI_PREFIX, plen);
	/* Standard alphabet with padding, no line breaks, NUL-terminated. */
	n = EVP_EncodeBlock((unsigned char *)s + plen,
	    (const unsigned char *)png.data, (int)png.len);
	if (n < 0 || (size_t)n != (png.len + 2) / 3 * 4) {
		log_msg(FBLOG_ERROR, "EVP_EncodeBlock: %d", n);
		e = FB_ERR_INTERNAL;
		goto out;
	}
	*uri = s;
	s = NULL;
	e = FB_OK;
out:
	free(s);
	buf_free(&png);
	if (qr != NULL)
		QRcode_free(qr);
	return e;
}
