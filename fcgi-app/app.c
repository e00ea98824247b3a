#include "app.h"

int
app_load_keys(struct app *app, FILE *errs)
{
	if (jwt_keyring_load(&app->cfg, &app->jwt) != FB_OK) {
		fprintf(errs, "config: the token keys (JWT_SECRET, JWT_PRIVATE_KEY_FILE, "
		    "JWT_PREVIOUS_*) cannot be loaded\n");
		return -1;
	}
	password_params_from_config(&app->cfg, &app->pw);
	if (crypto_keyring_load(app->cfg.encryption_keys, &app->keys) != FB_OK) {
		jwt_keyring_free(&app->jwt);
		fprintf(errs, "config: ENCRYPTION_KEYS cannot be loaded\n");
		return -1;
	}
	return 0;
}

void
app_free_keys(struct app *app)
{
	jwt_keyring_free(&app->jwt);
	crypto_keyring_free(&app->keys);
}
