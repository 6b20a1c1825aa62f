#!/usr/bin/env bash
# Puts buf/validate/validate.proto in place (third_party/protovalidate, git-ignored)
# from the Go module github.com/bufbuild/protovalidate. There is no Buf Schema
# Registry from our build machines, so buf reads it as a local module.
set -euo pipefail
PROTOVALIDATE_VERSION=v1.2.2
cd "$(dirname "$0")/.."
dir=$(go mod download -json "github.com/bufbuild/protovalidate@${PROTOVALIDATE_VERSION}" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
src="$dir/proto/protovalidate"
if [[ ! -f "$src/buf/validate/validate.proto" ]]; then
  echo "proto-deps: validate.proto not found under $src" >&2
  exit 1
fi
mkdir -p third_party
if [[ "$(readlink third_party/protovalidate 2>/dev/null)" != "$src" ]]; then
  rm -rf third_party/protovalidate
  ln -s "$src" third_party/protovalidate
fi
