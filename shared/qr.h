/*
 * qr — QR codes (ISO/IEC 18004) of short texts such as an otpauth URI, for
 * 2FA enrolment, on libqrencode (symbol) and libpng (raster). Error
 * correction level M, the whole text in 8-bit byte mode, the smallest
 * version that holds it. Both renderings keep the 4-module quiet zone the
 * standard requires and draw dark modules black on white. Results are
 * malloc'd strings the caller frees; nothing is kept between calls.
 */
#ifndef FB_QR_H
#define FB_QR_H

#include "err.h"

/* The most bytes of text: the 8-bit capacity of version 40 at level M. */
#define QR_TEXT_MAX	2331
#define QR_QUIET	4	/* modules of white border on each side */
#define QR_PNG_SCALE	8	/* pixels per module in the PNG */

/*
 * The QR code of text as an SVG document in *svg: a viewBox of the symbol
 * and its quiet zone in module units, a white background <rect>, one <path>
 * of the dark modules, shape-rendering="crispEdges", no external references
 * (only the SVG namespace URI). The caller frees *svg.
 * FB_OK; FB_ERR_INVALID when text or svg is NULL or text is empty;
 * FB_ERR_TOOBIG when text is over QR_TEXT_MAX bytes (no version holds it);
 * FB_ERR_NOMEM; FB_ERR_INTERNAL when libqrencode failed otherwise.
 */
enum fb_err	qr_svg(const char *text, char **svg);

/*
 * The same symbol as a PNG (1-bit grayscale, QR_PNG_SCALE pixels per module,
 * the quiet zone included), written by libpng into memory and returned as a
 * "data:image/png;base64,..." URI (RFC 2397, standard base64 with padding)
 * in *uri. The caller frees *uri.
 * FB_OK; FB_ERR_INVALID, FB_ERR_TOOBIG and FB_ERR_NOMEM as qr_svg();
 * FB_ERR_INTERNAL when libqrencode or libpng failed otherwise.
 */
enum fb_err	qr_png_data_uri(const char *text, char **uri);

#endif
