#!/usr/bin/env bash
# Checks that the contracts under proto/ evolve safely: buf breaking (wire and
# JSON compatibility) and hem's own engine (hem schema check: BigQuery-safe
# evolution, docs/EVOLUTION.md), both against a git ref.
#
#   scripts/breaking.sh [REF]
#
# REF defaults to HEAD when proto/ has uncommitted changes (check what you are
# about to commit), else HEAD~1 (check the last commit).
#
# Escape hatch for an intended break (a new major, or hem's own API before its
# first release): a commit between REF and HEAD whose message carries the
# trailer
#     Breaking-Change: <why>
# turns the two checks into a loud notice naming that commit. Reviewers see it
# in the log; nothing is skipped silently.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tmp/bin:$PATH"

ref=${1:-}
if [[ -z "$ref" ]]; then
  if [[ -n "$(git status --porcelain -- proto)" ]]; then ref=HEAD; else ref=HEAD~1; fi
fi
if ! git rev-parse --verify --quiet "$ref^{commit}" >/dev/null; then
  echo "breaking: no commit $ref to compare against (first commit?): nothing to check"
  exit 0
fi
echo "breaking: checking proto/ against $ref"

if [[ "$ref" != HEAD ]]; then
  marker=$(git log --format='%h %(trailers:key=Breaking-Change,valueonly,separator=%x2C )' "$ref..HEAD" | awk 'NF>1' | head -n1)
  if [[ -n "$marker" ]]; then
    echo "breaking: *** SKIPPED by the Breaking-Change trailer of commit ${marker%% *}: ${marker#* } ***"
    exit 0
  fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git archive --format=tar "$ref" proto | tar -x -C "$tmp"
mkdir -p "$tmp/third_party"
ln -s "$PWD/third_party/protovalidate" "$tmp/third_party/protovalidate"
cp buf.yaml "$tmp/"

status=0
buf breaking --against "$tmp" --error-format=msvs || status=1
go run ./cmd/hem schema check proto --against "$ref" || status=1
exit $status
