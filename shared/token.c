#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "b64.h"
#include "rand.h"
#include "token.h"

static enum fb_err
sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int	n = 0;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return FB_ERR_INTERNAL;
	return FB_OK;
}

enum fb_err
token_new(char text[TOKEN_TEXT_LEN + 1], unsigned char hash[32])
{
	unsigned char	raw[TOKEN_BYTES];
	enum fb_err	e;

	if ((e = rand_bytes(raw, sizeof(raw))) != FB_OK)
		return e;
	b64url_encode(raw, sizeof(raw), text);
	OPENSSL_cleanse(raw, sizeof(raw));
	return sha256(text, TOKEN_TEXT_LEN, hash);
}

enum fb_err
token_hash(const char *text, unsigned char hash[32])
{
	size_t	i;

	if (text == NULL || strlen(text) != TOKEN_TEXT_LEN)
		return FB_ERR_INVALID;
	for (i = 0; i < TOKEN_TEXT_LEN; i++)
		if (!((text[i] >= 'A' && text[i] <= 'Z') || (text[i] >= 'a' && text[i] <= 'z') ||
		    (text[i] >= '0' && text[i] <= '9') || text[i] == '-' || text[i] == '_'))
			return FB_ERR_INVALID;
	return sha256(text, TOKEN_TEXT_LEN, hash);
}

void
token_hex(const unsigned char hash[32], char out[TOKEN_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	size_t	i;

	out[0] = '\\';
	out[1] = 'x';
	for (i = 0; i < 32; i++) {
		out[2 + 2 * i] = hex[hash[i] >> 4];
		out[3 + 2 * i] = hex[hash[i] & 15];
	}
	out[TOKEN_HEX_LEN] = '\0';
}

bool
token_matches(const char *stored_hex, const unsigned char hash[32])
{
	char	want[TOKEN_HEX_LEN + 1];

	if (stored_hex == NULL || strlen(stored_hex) != TOKEN_HEX_LEN)
		return false;
	token_hex(hash, want);
	return CRYPTO_memcmp(stored_hex, want, TOKEN_HEX_LEN) == 0;
}
