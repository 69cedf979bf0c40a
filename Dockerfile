# Build the release binary, then run it on a slim Debian with nothing else.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/quotaplane --create-home quotaplane
COPY --from=build /src/target/release/quotaplane /usr/local/bin/quotaplane
USER quotaplane
WORKDIR /var/lib/quotaplane
ENV QUOTAPLANE_BIND=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["quotaplane"]
CMD ["serve"]
