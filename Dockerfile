# rsflow: `docker build -t rsflow .` then `docker run -p 5000:5000 rsflow --host 0.0.0.0`;
# the MLflow web UI is at http://localhost:5000/.
# Build stage: the workspace in release mode (the toolchain must satisfy OpenDAL's MSRV, 1.91).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY .cargo ./.cargo
RUN cargo build --release --locked -p rsflow

# The web UI: the prebuilt React app of the pinned mlflow wheel (scripts/ui.sh: pip download
# mlflow==3.17.2 --no-deps, then only mlflow/server/js/build is kept).
FROM python:3.11-slim-bookworm AS ui
WORKDIR /src
COPY scripts/ui.sh ./scripts/ui.sh
RUN bash scripts/ui.sh /ui

# Runtime: the binary, the UI where the binary looks for it (<bin>/../share/rsflow/ui), CA
# certificates for HTTPS object stores, the ssh client for sftp:// destinations, and curl for
# health checks.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates openssh-client curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /home/rsflow rsflow
COPY --from=build /src/target/release/rsflow /usr/local/bin/rsflow
COPY --from=ui /ui /usr/local/share/rsflow/ui
USER rsflow
WORKDIR /home/rsflow
EXPOSE 5000
ENTRYPOINT ["rsflow", "server"]
CMD ["--host", "0.0.0.0", "--port", "5000"]
