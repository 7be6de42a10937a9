#!/usr/bin/env bash
# The test command (README.md, .ci/run): installs what the tests need where it is missing
# (Debian: slurm-wlm, munge, nginx-light with libnginx-mod-http-dav-ext, faketime, strace; PyPI: DVC in a venv under target/), starts a
# one-node Slurm cluster and a WebDAV server on 127.0.0.1, runs the workspace's tests in the
# release profile, and stops both servers on exit. Needs root (the Slurm cluster writes
# /etc/slurm/slurm.conf). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${HF_HOME:-}" ]; then
    echo "set HF_HOME to a Hugging Face cache holding the offline models and data (here: ../shared/hf)" >&2
    exit 2
fi

apt_install() {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# DVC, pinned, for tests/dvc.rs (`dvc dag` edges against `pipe dag`).
if [ ! -x target/dvc-venv/bin/dvc ]; then
    python3 -m venv target/dvc-venv
    target/dvc-venv/bin/pip install --quiet --disable-pip-version-check dvc==3.67.1
fi
export PATH="$PWD/target/dvc-venv/bin:$PATH"

# A real one-node Slurm cluster for tests/slurm.rs.
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt_install slurm-wlm munge
fi
# strace, to count the fsync and rename calls of a run (tests/scale.rs).
if ! command -v strace >/dev/null; then
    apt_install strace
fi
# libfaketime, to run `pipe gc --remote` with a wrong clock (tests/remote.rs).
if ! command -v faketime >/dev/null; then
    apt_install faketime
fi
# A WebDAV server (nginx, with the dav-ext module for PROPFIND) for tests/remote.rs.
if { ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; } || [ ! -f /usr/lib/nginx/modules/ngx_http_dav_ext_module.so ]; then
    apt_install nginx-light libnginx-mod-http-dav-ext
fi

webdav_dir="$(mktemp -d)"
stop_servers() {
    scripts/slurm-cluster.sh stop || true
    scripts/webdav-server.sh stop "$webdav_dir" || true
    rm -rf "$webdav_dir"
}
trap stop_servers EXIT
scripts/slurm-cluster.sh start
webdav="$(scripts/webdav-server.sh start "$webdav_dir")"
# shellcheck disable=SC2086 # two assignments: PIPE_WEBDAV_URL=... PIPE_WEBDAV_ROOT=...
export $webdav

cargo test --workspace --release --locked "$@"
