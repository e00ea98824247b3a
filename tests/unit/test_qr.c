/*
 * test_qr — QR codes of an otpauth URI as SVG and as a PNG data URI: the SVG's
 * shape (one path, a viewBox with the quiet zone, nothing external), the
 * PNG's header, that both draw the same modules, and — the real check — that
 * zbarimg(1) reads the PNG back as the exact text (skipped when zbar-tools is
 * not installed). Long texts up to the version 40-M capacity, and refusals.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <png.h>

#include "qr.h"
#include "tap.h"
#include "totp.h"

#define PNG_PREFIX "data:image/png;base64,"

static const char *otpauth =
    "otpauth://totp/Fast%20Back%20Inc:alice%2B2fa@example.com"
    "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Fast%20Back%20Inc"
    "&algorithm=SHA1&digits=6&period=30";

static bool	has_zbar;

static bool
have_tool(const char *name)
{
	char	cmd[128];

	if (snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name) >=
	    (int)sizeof(cmd))
		return false;
	return system(cmd) == 0;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t	n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/*
 * The module grid drawn by an SVG of qr_svg() (1 = dark) into *grid, its
 * side into *side: the viewBox and the "M x yhNv1h-Nz" runs of its path.
 */
static bool
svg_grid(const char *svg, unsigned char **grid, int *side)
{
	const char	*d;
	int		 n, x, y, w, w2, used, i;

	*grid = NULL;
	if ((d = strstr(svg, "viewBox=\"0 0 ")) == NULL ||
	    sscanf(d, "viewBox=\"0 0 %d %d\"", &n, &w) != 2 || n != w ||
	    n < 21 + 8 || n > 177 + 8)
		return false;
	if ((d = strstr(svg, " d=\"")) == NULL)
		return false;
	d += 4;
	if ((*grid = calloc((size_t)n * (size_t)n, 1)) == NULL)
		return false;
	while (*d == 'M') {
		if (sscanf(d, "M%d %dh%dv1h-%dz%n", &x, &y, &w, &w2, &used) != 4 ||
		    w != w2 || w < 1 || x < 0 || y < 0 || x + w > n || y >= n)
			goto bad;
		for (i = 0; i < w; i++)
			(*grid)[(size_t)y * (size_t)n + (size_t)(x + i)] = 1;
		d += used;
	}
	if (*d != '"')
		goto bad;
	*side = n;
	return true;
bad:
	free(*grid);
	*grid = NULL;
	return false;
}

/* The bytes of a data: URI of qr_png_data_uri(), *len their count. */
static unsigned char *
uri_png(const char *uri, size_t *len)
{
	const char	*b64;
	unsigned char	*out;
	size_t		 n;
	int		 got;

	if (uri == NULL || strncmp(uri, PNG_PREFIX, strlen(PNG_PREFIX)) != 0)
		return NULL;
	b64 = uri + strlen(PNG_PREFIX);
	n = strlen(b64);
	if (n == 0 || n % 4 != 0 || n > INT32_MAX)
		return NULL;
	if ((out = malloc(n / 4 * 3 + 1)) == NULL)
		return NULL;
	if ((got = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)n)) < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	*len = (size_t)got - (b64[n - 1] == '=') - (b64[n - 2] == '=');
	return out;
}

/* Writes png to a temporary file and has zbarimg read it: its text or NULL. */
static char *
zbar_read(const unsigned char *png, size_t len)
{
	char		 path[] = "/tmp/test_qr.XXXXXX.png";
	char		 cmd[128], chunk[4096];
	FILE		*p;
	char		*text = NULL, *t;
	size_t		 n, tlen = 0;
	int		 fd, st;

	if ((fd = mkstemps(path, 4)) < 0)
		return NULL;
	if (write(fd, png, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		return NULL;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "zbarimg --raw -q '%s' 2>/dev/null", path);
	if ((p = popen(cmd, "r")) == NULL) {
		unlink(path);
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		if ((t = realloc(text, tlen + n + 1)) == NULL) {
			free(text);
			text = NULL;
			break;
		}
		text = t;
		memcpy(text + tlen, chunk, n);
		tlen += n;
		text[tlen] = '\0';
	}
	st = pclose(p);
	unlink(path);
	if (st != 0 || text == NULL) {
		free(text);
		return NULL;
	}
	/* zbarimg ends each symbol with a newline. */
	if (tlen > 0 && text[tlen - 1] == '\n')
		text[tlen - 1] = '\0';
	return text;
}

/* Checks one text through both renderings; label names it in the output. */
static void
check_text(const char *text, const char *label)
{
	char		*svg = NULL, *uri = NULL, *back, *ns;
	unsigned char	*grid = NULL, *png = NULL;
	png_image	 img;
	unsigned char	*px = NULL;
	size_t		 len = 0, i;
	int		 side = 0, x, y, bad;
	uint32_t	 w, h;

	/* The SVG. */
	if (!is_int(qr_svg(text, &svg), FB_OK, "%s: qr_svg", label))
		return;
	ok(strncmp(svg, "<svg ", 5) == 0, "%s: starts with <svg", label);
	has_str(svg, "viewBox=\"0 0 ", "%s: a viewBox", label);
	has_str(svg, "shape-rendering=\"crispEdges\"", "%s: crispEdges", label);
	is_int(count(svg, "<path "), 1, "%s: one path", label);
	ok(strlen(svg) > 7 && strcmp(svg + strlen(svg) - 7, "</svg>\n") == 0,
	    "%s: ends with </svg>", label);
	is_int(count(svg, "<"), count(svg, ">"), "%s: < and > balance", label);
	/* Nothing external: the namespace is the only URI. */
	is_int(count(svg, "http"), 1, "%s: one http (the xmlns)", label);
	has_str(svg, "xmlns=\"http://www.w3.org/2000/svg\"", "%s: xmlns", label);
	ns = strstr(svg, "http");
	ok(ns != NULL && strncmp(ns, "http://www.w3.org/2000/svg\"", 27) == 0,
	    "%s: and that http is the xmlns", label);
	lacks_str(svg, "href", "%s: no href", label);
	lacks_str(svg, "url(", "%s: no url()", label);
	lacks_str(svg, "<script", "%s: no script", label);
	lacks_str(svg, "<image", "%s: no image", label);
	if (ok(svg_grid(svg, &grid, &side), "%s: path parses into modules", label)) {
		/* ISO/IEC 18004: 17 + 4·version modules, plus 2·4 of quiet zone. */
		ok((side - 8 - 17) % 4 == 0, "%s: side %d = 17 + 4v + 8", label, side);
		bad = 0;
		for (y = 0; y < side; y++)
			for (x = 0; x < side; x++)
				if ((x < 4 || y < 4 || x >= side - 4 || y >= side - 4) &&
				    grid[y * side + x])
					bad++;
		is_int(bad, 0, "%s: quiet zone of 4 modules is empty", label);
		/* The top-left finder pattern: a 7×7 dark ring. */
		ok(grid[4 * side + 4] && grid[4 * side + 10] &&
		    grid[10 * side + 4] && !grid[5 * side + 5] && grid[6 * side + 6],
		    "%s: a finder pattern at the top left", label);
	}

	/* The PNG. */
	if (!is_int(qr_png_data_uri(text, &uri), FB_OK, "%s: qr_png_data_uri",
	    label))
		goto out;
	ok(strncmp(uri, PNG_PREFIX, strlen(PNG_PREFIX)) == 0,
	    "%s: data:image/png;base64, URI", label);
	png = uri_png(uri, &len);
	if (!ok(png != NULL && len > 33, "%s: base64 decodes", label))
		goto out;
	ok(memcmp(png, "\x89PNG\r\n\x1a\n", 8) == 0, "%s: PNG signature", label);
	/* IHDR (PNG §11.2.2): width, height, bit depth 1, colour type 0. */
	ok(memcmp(png + 12, "IHDR", 4) == 0, "%s: IHDR first", label);
	w = (uint32_t)png[16] << 24 | (uint32_t)png[17] << 16 |
	    (uint32_t)png[18] << 8 | png[19];
	h = (uint32_t)png[20] << 24 | (uint32_t)png[21] << 16 |
	    (uint32_t)png[22] << 8 | png[23];
	is_int(w, side * 8, "%s: width 8 px per module", label);
	is_int(h, side * 8, "%s: height 8 px per module", label);
	is_int(png[24], 1, "%s: 1 bit per pixel", label);
	is_int(png[25], 0, "%s: grayscale", label);

	/* Both renderings draw the same modules. */
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	if (ok(png_image_begin_read_from_memory(&img, png, len) != 0,
	    "%s: libpng reads it", label)) {
		img.format = PNG_FORMAT_GRAY;
		px = malloc(PNG_IMAGE_SIZE(img));
		if (ok(px != NULL && png_image_finish_read(&img, NULL, px, 0,
		    NULL) != 0, "%s: libpng decodes it", label) && grid != NULL &&
		    img.width == (uint32_t)side * 8 && img.height == img.width) {
			bad = 0;
			for (i = 0; i < (size_t)img.width * img.height; i++) {
				x = (int)(i % img.width) / 8;
				y = (int)(i / img.width) / 8;
				if ((px[i] == 0) != (grid[y * side + x] == 1) ||
				    (px[i] != 0 && px[i] != 255))
					bad++;
			}
			is_int(bad, 0, "%s: PNG pixels match the SVG's modules", label);
		} else
			skip(1, "no pixels to compare");
		png_image_free(&img);
	} else
		skip(2, "PNG unreadable");

	if (!has_zbar) {
		skip(1, "zbarimg not installed (zbar-tools)");
		goto out;
	}
	back = zbar_read(png, len);
	is_str(back, text, "%s: zbarimg reads the PNG back exactly", label);
	free(back);
out:
	free(px);
	free(png);
	free(grid);
	free(uri);
	free(svg);
}

static void
test_otpauth(void)
{
	unsigned char	 secret[TOTP_SECRET_BYTES];
	char		 b32[TOTP_BASE32_LEN + 1];
	char		*uri = NULL;

	check_text(otpauth, "otpauth URI");
	/* A fresh enrolment, as POST /2fa/enroll builds it. */
	if (totp_secret_new(secret, b32) != FB_OK ||
	    totp_uri("fastback", "bob.o'neil+x@example.org", b32, &uri) != FB_OK)
		bail_out("totp_secret_new/totp_uri failed");
	check_text(uri, "fresh otpauth URI");
	free(uri);
	check_text("A", "one byte");
}

static void
test_long(void)
{
	char	*text, *svg = NULL, *uri = NULL;
	size_t	 i;

	if ((text = malloc(4096 + 1)) == NULL)
		bail_out("malloc");
	for (i = 0; i < 4096; i++)
		text[i] = "abcdefghijklmnopqrstuvwxyz0123456789:/?&=%"[i % 42];
	text[2048] = '\0';
	check_text(text, "2 KiB");

	text[2048] = 'x';
	text[QR_TEXT_MAX] = '\0';
	is_int(qr_svg(text, &svg), FB_OK, "QR_TEXT_MAX bytes fit (version 40-M)");
	has_str(svg, "viewBox=\"0 0 185 185\"", "version 40: 177 + 8 modules");
	free(svg);
	svg = NULL;
	is_int(qr_png_data_uri(text, &uri), FB_OK, "QR_TEXT_MAX bytes as PNG");
	free(uri);
	uri = (char *)"sentinel";

	text[QR_TEXT_MAX] = 'x';
	text[QR_TEXT_MAX + 1] = '\0';
	is_int(qr_svg(text, &svg), FB_ERR_TOOBIG, "QR_TEXT_MAX + 1 bytes: TOOBIG");
	ok(svg == NULL, "no SVG");
	is_int(qr_png_data_uri(text, &uri), FB_ERR_TOOBIG,
	    "QR_TEXT_MAX + 1 bytes as PNG: TOOBIG");
	ok(uri == NULL, "no URI");
	text[QR_TEXT_MAX + 1] = 'x';
	text[4096] = '\0';
	is_int(qr_svg(text, &svg), FB_ERR_TOOBIG, "4 KiB: TOOBIG");
	is_int(qr_png_data_uri(text, &uri), FB_ERR_TOOBIG, "4 KiB as PNG: TOOBIG");
	free(text);
}

static void
test_invalid(void)
{
	char	*out = (char *)"sentinel";

	is_int(qr_svg(NULL, &out), FB_ERR_INVALID, "qr_svg(NULL)");
	ok(out == NULL, "*svg NULL after a failure");
	out = (char *)"sentinel";
	is_int(qr_svg("", &out), FB_ERR_INVALID, "qr_svg(\"\")");
	ok(out == NULL, "*svg NULL after a failure");
	out = (char *)"sentinel";
	is_int(qr_png_data_uri(NULL, &out), FB_ERR_INVALID, "qr_png_data_uri(NULL)");
	ok(out == NULL, "*uri NULL after a failure");
	is_int(qr_png_data_uri("", &out), FB_ERR_INVALID, "qr_png_data_uri(\"\")");
	is_int(qr_svg("x", NULL), FB_ERR_INVALID, "qr_svg without out");
	is_int(qr_png_data_uri("x", NULL), FB_ERR_INVALID,
	    "qr_png_data_uri without out");
}

int
main(void)
{
	has_zbar = have_tool("zbarimg");
	test_otpauth();
	test_long();
	test_invalid();
	return done_testing();
}
