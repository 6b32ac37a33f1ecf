# rsflow: `docker build -t rsflow .` then `docker run -p 5000:5000 rsflow --host 0.0.0.0`.
# Build stage: the workspace in release mode (the toolchain must satisfy OpenDAL's MSRV, 1.91).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY .cargo ./.cargo
RUN cargo build --release --locked -p rsflow

# Runtime: the binary, CA certificates for HTTPS object stores, the ssh client for sftp://
# destinations, and curl for health checks.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates openssh-client curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /home/rsflow rsflow
COPY --from=build /src/target/release/rsflow /usr/local/bin/rsflow
USER rsflow
WORKDIR /home/rsflow
EXPOSE 5000
ENTRYPOINT ["rsflow", "server"]
CMD ["--host", "0.0.0.0", "--port", "5000"]
