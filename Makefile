# fastback — GNU make. `make` builds build/ (release); `make ASAN=1` builds
# build/asan/ with AddressSanitizer and UBSan; `make check` tests the ASan build.

CC      ?= cc
PKGS     = fcgi libpq jansson openssl hiredis libcurl libargon2 libcrypt \
           liboath libqrencode libpng

ifeq ($(ASAN),1)
OUT      = build/asan
LIB      = $(OUT)/libfastback.a
OPT      = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
OUT      = build
LIB      = shared/libfastback.a
OPT      = -O2 -g
endif

WARN     = -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
           -Wshadow -Wpointer-arith -Wcast-qual -Wformat=2 -Wvla
HARDEN   = -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) -MMD -MP \
           -Ishared -Iworkers $(shell pkg-config --cflags $(PKGS))
LDFLAGS += -pie -Wl,-z,relro,-z,now $(OPT)
LDLIBS  += $(shell pkg-config --libs $(PKGS)) -lzxcvbn -lm

SHARED_SRC = \
	shared/apikeys.c \
	shared/audit.c \
	shared/b64.c \
	shared/buf.c \
	shared/clock.c \
	shared/cms.c \
	shared/config.c \
	shared/crypto.c \
	shared/cursor.c \
	shared/db.c \
	shared/err.c \
	shared/generation.c \
	shared/httpc.c \
	shared/idempotency.c \
	shared/invitations.c \
	shared/ipaddr.c \
	shared/jobs.c \
	shared/jwt.c \
	shared/kv.c \
	shared/log.c \
	shared/mailtoken.c \
	shared/mail.c \
	shared/metrics.c \
	shared/mfa.c \
	shared/migrate.c \
	shared/notifications.c \
	shared/outbox.c \
	shared/password.c \
	shared/problem.c \
	shared/qr.c \
	shared/rand.c \
	shared/ratelimit.c \
	shared/sessions.c \
	shared/settings.c \
	shared/teams.c \
	shared/template.c \
	shared/token.c \
	shared/tokencache.c \
	shared/totp.c \
	shared/users.c \
	shared/validate.c

# Everything of the responder but main(), so unit tests can link it.
FCGI_SRC = \
	fcgi-app/admin.c \
	fcgi-app/apikeys.c \
	fcgi-app/app.c \
	fcgi-app/auth.c \
	fcgi-app/cms.c \
	fcgi-app/dispatch.c \
	fcgi-app/health.c \
	fcgi-app/invitations.c \
	fcgi-app/listen.c \
	fcgi-app/me.c \
	fcgi-app/mfa.c \
	fcgi-app/notifications.c \
	fcgi-app/openapi.c \
	fcgi-app/prefork.c \
	fcgi-app/request.c \
	fcgi-app/response.c \
	fcgi-app/router.c \
	fcgi-app/routes.c \
	fcgi-app/session.c \
	fcgi-app/settings.c \
	fcgi-app/teams.c

# Everything of fastback-worker but main(), so the test worker can link it.
WORKER_SRC = \
	workers/handlers.c \
	workers/worker.c

# fastbackctl's commands.
CTL_SRC = \
	workers/ctl_cron.c \
	workers/ctl_jobs.c \
	workers/ctl_keys.c \
	workers/ctl_mail.c \
	workers/ctl_users.c \
	workers/fastbackctl.c

SHARED_OBJ = $(SHARED_SRC:%.c=$(OUT)/obj/%.o) $(OUT)/obj/schema_embed.o
WORKER_OBJ = $(WORKER_SRC:%.c=$(OUT)/obj/%.o)
CTL_OBJ    = $(CTL_SRC:%.c=$(OUT)/obj/%.o)
SCHEMA     = $(sort $(wildcard schema/*.sql))
FCGI_OBJ   = $(FCGI_SRC:%.c=$(OUT)/obj/%.o)

UNIT_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_BIN   = $(UNIT_SRC:tests/unit/%.c=$(OUT)/tests/%)

PROGS = $(OUT)/fastback-fcgi $(OUT)/fastback-worker $(OUT)/fastbackctl \
	$(OUT)/tests/fastback-worker-test

all: $(LIB) $(PROGS) $(UNIT_BIN)

$(OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The migrations are compiled in, so a binary carries the schema it expects.
$(OUT)/obj/schema_embed.c: $(SCHEMA) scripts/embed-schema
	@mkdir -p $(dir $@)
	scripts/embed-schema $(SCHEMA) > $@.tmp && mv $@.tmp $@

$(OUT)/obj/schema_embed.o: $(OUT)/obj/schema_embed.c
	$(CC) $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(LIB): $(SHARED_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $(SHARED_OBJ)

$(OUT)/libfcgiapp.a: $(FCGI_OBJ)
	rm -f $@
	ar rcs $@ $(FCGI_OBJ)

$(OUT)/fastback-fcgi: $(OUT)/obj/fcgi-app/main.o $(OUT)/libfcgiapp.a $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/libworker.a: $(WORKER_OBJ)
	rm -f $@
	ar rcs $@ $(WORKER_OBJ)

$(OUT)/fastback-worker: $(OUT)/obj/workers/worker_main.o $(OUT)/libworker.a $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The worker with extra job kinds for the integration tests (tests/workers/).
$(OUT)/tests/fastback-worker-test: $(OUT)/obj/tests/workers/test_kinds.o $(OUT)/libworker.a $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/fastbackctl: $(CTL_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(OUT)/tests/%: $(OUT)/obj/tests/unit/%.o $(OUT)/libfcgiapp.a $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	scripts/install-deps

# The two commands of the README.
run: deps all
	scripts/stack start

stop:
	scripts/stack stop

check: deps
	$(MAKE) ASAN=1 all
	$(MAKE) valgrind
	FASTBACK_BUILD=build/asan scripts/run-tests

# The unit tests of the release build under valgrind (leaks are errors).
valgrind: all
	prove --exec 'valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect' $(UNIT_BIN)

bench: all
	scripts/bench

clean:
	rm -rf build shared/libfastback.a

# ---- fuzzing (libFuzzer; not part of all or check) ----------------------
# `make fuzz` builds tests/fuzz/fuzz_*.c with clang, ASan and UBSan into
# build/fuzz/ and runs each for FUZZ_SECONDS over a copy of its seed corpus.
FUZZ_CC      = clang
FUZZ_SECONDS ?= 20
FUZZ_OUT     = build/fuzz
FUZZ_CFLAGS  = -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
	       -Ishared -Ifcgi-app -Iworkers $(shell pkg-config --cflags $(PKGS)) -MMD -MP
FUZZ_SRC     = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     = $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_OUT)/bin/%)
FUZZ_OBJ     = $(SHARED_SRC:%.c=$(FUZZ_OUT)/obj/%.o) $(FCGI_SRC:%.c=$(FUZZ_OUT)/obj/%.o) \
	       $(FUZZ_OUT)/obj/schema_embed.o

$(FUZZ_OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_OUT)/obj/schema_embed.c: $(SCHEMA) scripts/embed-schema
	@mkdir -p $(dir $@)
	scripts/embed-schema $(SCHEMA) > $@.tmp && mv $@.tmp $@

$(FUZZ_OUT)/obj/schema_embed.o: $(FUZZ_OUT)/obj/schema_embed.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_OUT)/bin/%: $(FUZZ_OUT)/obj/tests/fuzz/%.o $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(LDLIBS)

fuzz: $(FUZZ_BIN)
	@for t in $(FUZZ_BIN); do \
		n=$$(basename $$t); c=$(FUZZ_OUT)/corpus/$$n; \
		mkdir -p $$c $(FUZZ_OUT)/artifacts && { cp -n tests/fuzz/corpus/$$n/* $$c/ || true; } && \
		echo "== $$n ($(FUZZ_SECONDS)s)" && \
		$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		    -artifact_prefix=$(FUZZ_OUT)/artifacts/$$n- $$c || exit 1; \
	done

.PHONY: all deps run stop check valgrind bench clean
.PHONY: fuzz
-include $(shell find build -name '*.d' 2>/dev/null)
