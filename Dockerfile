# syntax=docker/dockerfile:1
#
# The hem container image: one binary, every subcommand. hem uses cgo (DuckDB,
# for the local warehouse) and links libstdc++ dynamically, so it is built on
# Debian bookworm with CGO_ENABLED=1 and runs on distroless "cc" (glibc,
# libstdc++, CA certificates, tzdata; no shell, no package manager) as the
# non-root user 65532.
#
#   docker build --platform linux/amd64 \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     -t REGION-docker.pkg.dev/PROJECT/hem/hem:TAG .
#
# The build stage runs on the target platform: cgo does not cross-compile
# without a cross toolchain, so building linux/amd64 on an arm64 laptop goes
# through emulation (slow but correct), or build in CI on amd64. Cloud Run runs
# linux/amd64.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build

WORKDIR /src
ENV CGO_ENABLED=1

# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false \
      -ldflags="-s -w -X github.com/hemlabs/hem/internal/cli.Version=${VERSION}" \
      -o /out/hem ./cmd/hem

# Fail the build here, not at startup on Cloud Run, if the binary needs a
# shared library that distroless/cc does not ship.
RUN set -eu; \
    ldd /out/hem; \
    unexpected="$(ldd /out/hem | awk '{print $1}' \
      | grep -Ev '^(linux-vdso\.so|/lib64/ld-linux-x86-64\.so|/lib/ld-linux-aarch64\.so|libc\.so|libm\.so|libstdc\+\+\.so|libgcc_s\.so|libpthread\.so|libdl\.so|librt\.so)' \
      || true)"; \
    if [ -n "$unexpected" ]; then \
      echo "hem links libraries missing from distroless/cc: $unexpected" >&2; \
      exit 1; \
    fi; \
    /out/hem version

FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=dev
LABEL org.opencontainers.image.title="hem" \
      org.opencontainers.image.description="hem event pipeline: registry, collector, processors" \
      org.opencontainers.image.source="https://github.com/hemlabs/hem" \
      org.opencontainers.image.version="${VERSION}"

COPY --from=build /out/hem /usr/local/bin/hem
# The file source declarations: hem source run reads ./sources (--sources).
COPY --from=build /src/sources /home/nonroot/sources

# The nonroot user's home is writable (hem dev keeps .hem/ in the working
# directory; DuckDB spills to a temporary directory).
WORKDIR /home/nonroot
USER nonroot:nonroot

# Cloud Run sends traffic to 8080; terraform sets HEM_LISTEN=:8080.
EXPOSE 8080

ENTRYPOINT ["/usr/local/bin/hem"]
CMD ["--help"]
