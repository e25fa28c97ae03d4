# Konnektid server image. Build: docker build -t konnektid .
# Run:   docker run -p 8080:8080 -v konnektid-data:/data konnektid
# The admin token is generated on first start into /data/admin-token unless
# KONNEKTID_AUTH_ADMIN_TOKEN is set; override any key with KONNEKTID_<SECTION>_<KEY>,
# or mount your own file over /etc/konnektid/config.toml.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin konnektid

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin konnektid \
    && mkdir -p /data /etc/konnektid \
    && chown konnektid /data
COPY --from=build /src/target/release/konnektid /usr/local/bin/konnektid
COPY config.toml /etc/konnektid/config.toml
ENV KONNEKTID_STORAGE_DATA_DIR=/data \
    KONNEKTID_SERVER_BIND=0.0.0.0:8080
USER konnektid
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ok <&3"]
ENTRYPOINT ["konnektid"]
CMD ["serve", "--config", "/etc/konnektid/config.toml"]
