#!/usr/bin/env bash
# ctest fixture for the tests labelled slurm: `up` starts the dev cluster
# (slurm/dev-cluster/start.sh) unless one already answers, and remembers
# whether it did; `down` stops it only if `up` started it. NODES >= 2: the
# multi-node cluster (start.sh --nodes NODES, in network namespaces).
#   slurm_fixture.sh up|down SOURCE_DIR [NODES]
set -euo pipefail
action=$1 src=$2 nodes=${3:-1}
if [ "$nodes" -gt 1 ]; then
  dir=${CHORUS_SLURM_DIR:-/var/tmp/chorus-slurm-multi}
  args=(--nodes "$nodes")
else
  dir=${CHORUS_SLURM_DIR:-/var/tmp/chorus-slurm}
  args=()
fi
marker=$dir/.started-by-tests
export SLURM_CONF=$dir/slurm.conf
case "$action" in
up)
  if [ -f "$SLURM_CONF" ] && timeout 10 sinfo -h > /dev/null 2>&1; then
    echo "dev Slurm cluster already up ($SLURM_CONF); using it"
    # Resumes a drained node, restarts a dead slurmd; a no-op when healthy.
    "$src/slurm/dev-cluster/start.sh" "${args[@]}" < /dev/null
  else
    "$src/slurm/dev-cluster/start.sh" "${args[@]}" < /dev/null
    touch "$marker"
  fi
  ;;
down)
  if [ -f "$marker" ]; then
    rm -f "$marker"
    "$src/slurm/dev-cluster/stop.sh" "${args[@]}" < /dev/null
  else
    echo "leaving the dev Slurm cluster running (the tests did not start it)"
  fi
  ;;
*) echo "usage: $0 up|down SOURCE_DIR [NODES]" >&2; exit 2 ;;
esac
