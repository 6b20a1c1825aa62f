#!/usr/bin/env bash
# Installs the pinned build tools into .tmp/bin. Idempotent and fast when they
# are already there: a version stamp per tool.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.tmp/bin"
mkdir -p "$BIN"
install() { # name module@version
  local name=$1 pkg=$2 stamp="$BIN/.$1.version"
  if [[ -x "$BIN/$name" && "$(cat "$stamp" 2>/dev/null)" == "$pkg" ]]; then
    return
  fi
  echo "tools: installing $pkg" >&2
  GOBIN="$BIN" go install "$pkg"
  echo "$pkg" >"$stamp"
}
# buf_release fetches buf's prebuilt binary from the npm registry (the
# @bufbuild/buf-<platform> packages are buf's own releases): seconds, where
# building it from source takes minutes on a cold 2-core machine.
buf_release() { # version
  local version=$1 stamp="$BIN/.buf.version" platform
  case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64 ;;
  Linux-aarch64 | Linux-arm64) platform=linux-aarch64 ;;
  Darwin-x86_64) platform=darwin-x64 ;;
  Darwin-arm64) platform=darwin-arm64 ;;
  *) return 1 ;;
  esac
  if [[ -x "$BIN/buf" && "$(cat "$stamp" 2>/dev/null)" == "buf@v$version" ]]; then
    return
  fi
  command -v npm >/dev/null || return 1
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  echo "tools: fetching buf $version ($platform) from the npm registry" >&2
  (cd "$tmp" && npm pack --silent "@bufbuild/buf-$platform@$version" >/dev/null && tar -xzf ./*.tgz) || return 1
  "$tmp/package/bin/buf" --version >/dev/null || return 1
  cp "$tmp/package/bin/buf" "$BIN/buf"
  echo "buf@v$version" >"$stamp"
}
buf_release 1.75.0 || install buf github.com/bufbuild/buf/cmd/buf@v1.75.0
install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
# golangci-lint has no release in a registry this machine reaches, so it is
# built from source: the slowest install here on a fresh machine (see the
# README's development section), a link on one whose Go caches are warm.
install golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
