#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, for the Slurm executor's tests
# and for trying `pipe run --executor slurm` by hand. Needs root and Debian's
# `slurm-wlm` and `munge` packages; runs without systemd.
#
#   scripts/slurm-cluster.sh start   writes /etc/slurm/slurm.conf, starts munged,
#                                    slurmctld and slurmd, waits for the node to be idle
#   scripts/slurm-cluster.sh start --accounting
#                                    also MariaDB and slurmdbd (apt-get install slurmdbd
#                                    mariadb-server), so that `sacct` works
#   scripts/slurm-cluster.sh stop    stops the daemons this script started
#
# State, spool and daemon logs live in $PIPE_SLURM_STATE (default /var/tmp/pipe-slurm).
# Without --accounting `sacct` is unavailable, as on clusters without slurmdbd.
set -euo pipefail

state="${PIPE_SLURM_STATE:-/var/tmp/pipe-slurm}"
conf=/etc/slurm/slurm.conf
host="$(hostname -s)"

stop() {
    for daemon in slurmd slurmctld slurmdbd mariadbd; do
        if [ -f "$state/$daemon.pid" ]; then
            kill "$(cat "$state/$daemon.pid")" 2>/dev/null || true
            rm -f "$state/$daemon.pid"
        fi
    done
    if [ -f "$state/munged.pid" ]; then
        kill "$(cat "$state/munged.pid")" 2>/dev/null || true
        rm -f "$state/munged.pid"
    fi
}

start() {
    if [ "$(id -u)" != 0 ]; then
        echo "slurm-cluster.sh: run as root (slurmd and munged need it)" >&2
        exit 1
    fi
    for tool in munged mungekey slurmctld slurmd sinfo; do
        command -v "$tool" >/dev/null || { echo "slurm-cluster.sh: no $tool: apt-get install slurm-wlm munge" >&2; exit 1; }
    done
    stop
    mkdir -p "$state/ctld" "$state/d" /etc/slurm /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    [ -s /etc/munge/munge.key ] || mungekey -c
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
    su -s /bin/sh munge -c "/usr/sbin/munged --pid-file=/run/munge/munged.pid"
    cp /run/munge/munged.pid "$state/munged.pid"

    storage=accounting_storage/none
    if [ "${1:-}" = --accounting ]; then
        accounting
        storage=accounting_storage/slurmdbd
    fi

    cpus="$(nproc)"
    memory="$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)"
    cat > "$conf" <<CONF
ClusterName=pipe
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=$storage
AccountingStorageHost=localhost
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ReturnToService=2
DefMemPerCPU=$((memory / cpus))
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    slurmctld -i
    slurmd
    for _ in $(seq 60); do
        if sinfo --noheader --format=%t 2>/dev/null | grep -qx idle; then
            echo "slurm-cluster.sh: node $host idle ($cpus CPUs, ${memory} MB), partition main"
            return
        fi
        sleep 1
    done
    echo "slurm-cluster.sh: the node did not become idle; see $state/slurmctld.log and $state/slurmd.log" >&2
    sinfo >&2 || true
    exit 1
}

# MariaDB on a local socket, slurmdbd over it, and the cluster registered before slurmctld starts.
accounting() {
    for tool in mariadbd slurmdbd sacctmgr; do
        command -v "$tool" >/dev/null || { echo "slurm-cluster.sh: no $tool: apt-get install slurmdbd mariadb-server" >&2; exit 1; }
    done
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    mariadbd --user=mysql --bind-address=127.0.0.1 --pid-file=/run/mysqld/mariadbd.pid >"$state/mariadb.log" 2>&1 &
    for _ in $(seq 30); do mysql -e 'select 1' >/dev/null 2>&1 && break; sleep 1; done
    cp /run/mysqld/mariadbd.pid "$state/mariadbd.pid"
    mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'pipe';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=pipe
StorageLoc=slurm_acct_db
PidFile=$state/slurmdbd.pid
LogFile=$state/slurmdbd.log
CONF
    chmod 600 /etc/slurm/slurmdbd.conf
    slurmdbd
    for _ in $(seq 30); do sacctmgr --noheader list cluster >/dev/null 2>&1 && break; sleep 1; done
    sacctmgr --immediate add cluster pipe >/dev/null || true
}

case "${1:-}" in
    start) start "${2:-}" ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
