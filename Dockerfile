# fastback: the responder pool and a worker in one image (Debian 12).
#   docker build -t fastback .
#   docker run -e DATABASE_URL=... -e JWT_SECRET=... -p 9000:9000 fastback
# The pool speaks FastCGI on 0.0.0.0:9000: put nginx (conf/nginx) in front.

FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
	build-essential pkg-config perl libfcgi-dev libpq-dev libjansson-dev \
	libssl-dev libhiredis-dev libcurl4-openssl-dev libargon2-dev libcrypt-dev \
	libzxcvbn-dev liboath-dev libqrencode-dev libpng-dev \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY shared shared
COPY fcgi-app fcgi-app
COPY workers workers
COPY schema schema
COPY scripts/embed-schema scripts/embed-schema
RUN make -j"$(nproc)" build/fastback-fcgi build/fastback-worker build/fastbackctl

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
	libfcgi0ldbl libpq5 libjansson4 libssl3 libhiredis0.14 libcurl4 \
	libargon2-1 libcrypt1 libzxcvbn0 liboath0 libqrencode4 libpng16-16 \
	ca-certificates tini \
	&& rm -rf /var/lib/apt/lists/* \
	&& useradd --system --no-create-home --shell /usr/sbin/nologin fastback
COPY --from=build /src/build/fastback-fcgi /src/build/fastback-worker \
	/src/build/fastbackctl /usr/local/bin/
COPY conf/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY conf/templates /usr/local/share/fastback/templates
USER fastback
ENV FCGI_LISTEN=0.0.0.0:9000 \
    MAIL_TEMPLATES_DIR=/usr/local/share/fastback/templates
EXPOSE 9000
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/docker-entrypoint.sh"]
