#!/usr/bin/env bash
# The README's main command: the quick imbalance benchmark, joint, OGM-GE, PMR, AGM, MLA and IGM
# on av-mnist-imbalanced with the quick preset, on this machine's CPU cores (one run per core at a
# time). Extra arguments go to `igm compare`.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
# The FSDD recordings: $FSDD_DIR, else (environment fallback) the mirror that the project's own
# machines keep beside the project root, when there is one (docs/datasets.md#fsdd-recordings).
# The fallback folder is also passed as --fsdd-dir, so that the command igm prints to continue a
# stopped demo finds the recordings in a shell without FSDD_DIR.
fsdd=()
if [ -z "${FSDD_DIR:-}" ] && [ -d ../shared/data/fsdd/recordings ]; then
  export FSDD_DIR="$(cd ../shared/data/fsdd/recordings && pwd)"
  fsdd=(--fsdd-dir "$FSDD_DIR")
fi
pnpm exec turbo run build --filter=@igm/cli... --output-logs=errors-only >&2
# A new `pnpm demo` replaces the previous demo's folder; `pnpm demo --resume` continues it.
replace=(--overwrite)
for arg in "$@"; do
  if [ "$arg" = "--resume" ]; then replace=(); fi
done
# The command igm prints to continue a stopped demo, runnable from this checkout.
export IGM_COMMAND="${IGM_COMMAND:-pnpm igm}"
exec node packages/cli/dist/bin.js compare \
  --dataset av-mnist-imbalanced --methods joint,ogm-ge,pmr,agm,mla,igm --seeds 1 --preset quick \
  --backend auto --jobs auto --out "runs/demo-av-mnist-imbalanced" ${fsdd[@]+"${fsdd[@]}"} \
  ${replace[@]+"${replace[@]}"} "$@"
