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
install buf github.com/bufbuild/buf/cmd/buf@v1.75.0
install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
