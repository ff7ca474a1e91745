#!/bin/sh
# Entry point of the mchmc image: `docker compose run --rm mchmc <mchmc arguments>`.
#
# A Ray driver must run on a node of its cluster (it talks to a local raylet), so for
# `upscale` / `classify` with MCHMC_RAY_ADDRESS set and no --ray-address given, this container
# first joins the cluster as a node with no CPUs or GPUs (the work goes to the workers), then
# runs the command with --ray-address. Everything else is plain `mchmc "$@"`.
set -eu
cmd="${1:-}"
case "$cmd" in
  upscale|classify)
    if [ -n "${MCHMC_RAY_ADDRESS:-}" ]; then
      case " $* " in
        *" --ray-address"*) ;;  # the user chose; leave it alone
        *)
          ray start --address="$MCHMC_RAY_ADDRESS" --num-cpus=0 --num-gpus=0 --disable-usage-stats >/dev/null
          shift
          set -- "$cmd" --ray-address "$MCHMC_RAY_ADDRESS" "$@"
          ;;
      esac
    fi
    ;;
esac
exec mchmc "$@"
