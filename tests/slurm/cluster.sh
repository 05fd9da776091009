#!/usr/bin/env bash
# tests/slurm/cluster.sh -- bring up / stop a real one-node Slurm cluster on
# this machine, for majmin's end-to-end tests (CI, Debian 12, run as root).
#
# Usage:
#   bash tests/slurm/cluster.sh up       # install if needed, start, wait until the node is idle
#   bash tests/slurm/cluster.sh status   # print sinfo (exit 1 if the controller does not answer)
#   bash tests/slurm/cluster.sh down     # stop slurmd, slurmctld, munged (succeeds if nothing runs)
#   bash tests/slurm/cluster.sh down --purge   # ... and delete the state folder
#
# What `up` does:
#   * installs Debian's slurmctld, slurmd, slurm-client and munge with apt-get
#     when one of them is missing (`apt-get update` only if the package lists
#     do not know them or the install fails). Package scripts must not start
#     services (there is no systemd, and the stock init scripts would start a
#     munged/slurmd with Debian's default config): if /usr/sbin/policy-rc.d is
#     missing, a temporary one answering 101 ("action forbidden") is installed
#     for the duration of apt-get and removed afterwards.
#   * keeps everything in one folder, ${MAJMIN_SLURM_DIR:-/tmp/majmin-slurm}:
#       etc/slurm.conf          the configuration (written on every `up`)
#       munge/                  munge key (1024 random bytes, munge:munge 0400),
#                               socket, pid, log and seed files of munged
#       state/ spool/ log/ run/ slurmctld state, slurmd spool, daemon logs, pid files
#   * starts munged (as user munge, with -f), then slurmctld, then slurmd, and
#     waits (at most ${MAJMIN_SLURM_TIMEOUT:-60} s) until `sinfo` shows the node
#     idle; on failure it prints the tail of the daemons' logs and exits 1.
#   * is idempotent: if the cluster is already up and the node is usable, it
#     says so and exits 0; a half-running cluster is stopped and restarted.
#   * prints `export SLURM_CONF=<folder>/etc/slurm.conf` (eval-able) and
#     MaxArraySize as reported by `scontrol show config`.
#
# Configuration path (decision): the daemons are started with -f on our file
# and with SLURM_CONF exported. So that sbatch/squeue/scontrol started later by
# other processes work without SLURM_CONF, `up` also makes Debian's default
# path /etc/slurm/slurm.conf a symlink to our file -- but only if that path
# does not exist or is already such a symlink of ours (this is meant for
# throwaway CI machines where we are root). An existing foreign
# /etc/slurm/slurm.conf is left alone (with a warning); then use SLURM_CONF.
# `down --purge` removes the symlink together with the folder.
#
# Slurm settings: SlurmUser=root, SlurmdUser=root, ProctrackType=linuxproc,
# TaskPlugin=task/none, SelectType=select/cons_tres with CR_Core (cores only,
# no memory accounting: several array tasks run side by side, one per CPU),
# JobAcctGatherType=none, no accounting database, KillWait=5 (a cancelled job
# gets SIGTERM, then SIGKILL 5 s later), MaxArraySize=1001 (Slurm's default;
# override with MAJMIN_SLURM_MAX_ARRAY_SIZE), one node
# NodeName=$(hostname -s) CPUs=$(nproc) at 127.0.0.1, and one default partition
# named ${MAJMIN_SLURM_PARTITION:-debug}.
#
# Jobs run as the submitting user in the directory sbatch was called from.
# Slurm does not create the folders of --output/--error: create them before
# calling sbatch (e.g. mkdir -p DIR/slurm/logs).

set -euo pipefail

DIR=${MAJMIN_SLURM_DIR:-/tmp/majmin-slurm}
TIMEOUT=${MAJMIN_SLURM_TIMEOUT:-60}
PARTITION=${MAJMIN_SLURM_PARTITION:-debug}
MAX_ARRAY_SIZE=${MAJMIN_SLURM_MAX_ARRAY_SIZE:-1001}
CONF=$DIR/etc/slurm.conf
MUNGE_DIR=$DIR/munge
MUNGE_SOCKET=$MUNGE_DIR/munge.socket.2
DEFAULT_CONF=/etc/slurm/slurm.conf
PACKAGES=(slurmctld slurmd slurm-client munge)

NODE=$(hostname -s 2>/dev/null || uname -n)
NODE=${NODE%%.*}

log() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --------------------------------------------------------------------------
# installation

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != *'install ok installed'* ]]; then
            printf '%s\n' "$p"
        fi
    done
}

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get"
    log "installing ${missing[*]} with apt-get"
    local start=$SECONDS policy=/usr/sbin/policy-rc.d our_policy=0
    if [[ ! -e $policy ]]; then
        # forbid package scripts to start services; removed again below
        printf '#!/bin/sh\n# temporary, from majmin tests/slurm/cluster.sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        our_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    local rc=0 p need_update=0
    for p in "${missing[@]}"; do
        # (no `| grep -q`: with pipefail, an early exit of grep can fail the pipe)
        if [[ $(apt-cache policy "$p" 2>/dev/null || true) != *'Candidate: '[0-9]* ]]; then
            need_update=1
        fi
    done
    if ((need_update)); then
        "${apt[@]}" update || rc=$?
    fi
    if ! "${apt[@]}" install --no-install-recommends "${missing[@]}"; then
        # stale package lists (404 on a superseded version): refresh and retry once
        "${apt[@]}" update && "${apt[@]}" install --no-install-recommends "${missing[@]}" || rc=$?
    fi
    if ((our_policy)); then
        rm -f "$policy"
    fi
    ((rc == 0)) || die "apt-get failed (exit $rc)"
    mapfile -t missing < <(missing_packages)
    ((${#missing[@]} == 0)) || die "still missing after apt-get: ${missing[*]}"
    log "installed in $((SECONDS - start)) s"
}

# --------------------------------------------------------------------------
# processes

# pid from a pid file, if that process is alive
pid_of() {
    local f=$1 pid
    [[ -r $f ]] || return 1
    read -r pid <"$f" || return 1
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}

# pids of processes named $1 that belong to this cluster (command line or
# environment mentions our folder); used as a fallback for missing pid files
our_pids() {
    local name=$1 pid text
    for pid in $(pgrep -x "$name" || true); do
        # (the process may vanish meanwhile: silence the redirection too)
        text=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null || true)
        text+=$({ tr '\0' ' ' <"/proc/$pid/environ"; } 2>/dev/null || true)
        if [[ $text == *"$DIR/"* ]]; then
            printf '%s\n' "$pid"
        fi
    done
}

# stop_daemon NAME PIDFILE: SIGTERM, wait up to 10 s, then SIGKILL
stop_daemon() {
    local name=$1 pidfile=$2 pids=() pid i
    if pid=$(pid_of "$pidfile"); then
        pids+=("$pid")
    fi
    mapfile -t -O "${#pids[@]}" pids < <(our_pids "$name" | grep -vxF "${pids[0]:-x}" || true)
    if ((${#pids[@]} == 0)); then
        rm -f "$pidfile"
        return 0
    fi
    log "stopping $name (pid ${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        local alive=0
        for pid in "${pids[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then alive=1; fi
        done
        ((alive)) || break
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    rm -f "$pidfile"
}

# --------------------------------------------------------------------------
# configuration

write_munge_key() {
    mkdir -p "$MUNGE_DIR"
    chown munge:munge "$MUNGE_DIR"
    # 755: users other than root must reach the socket to submit jobs
    chmod 755 "$MUNGE_DIR"
    if [[ ! -s $MUNGE_DIR/munge.key ]]; then
        (umask 077 && head -c 1024 /dev/urandom >"$MUNGE_DIR/munge.key")
    fi
    chown munge:munge "$MUNGE_DIR/munge.key"
    chmod 400 "$MUNGE_DIR/munge.key"
}

write_config() {
    mkdir -p "$DIR/etc" "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run"
    chmod 755 "$DIR" "$DIR/etc"
    local tmp=$CONF.tmp
    cat >"$tmp" <<EOF
# Written by majmin tests/slurm/cluster.sh -- overwritten on every 'up'.
ClusterName=majmin
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=5
MaxArraySize=$MAX_ARRAY_SIZE
MaxJobCount=100000
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$(nproc) State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$tmp" "$CONF"
    chmod 644 "$CONF"
    link_default_conf
}

link_default_conf() {
    # ours to (re)write: missing (no dangling symlink either), or our symlink
    if { [[ ! -e $DEFAULT_CONF ]] && [[ ! -L $DEFAULT_CONF ]]; } ||
        { [[ -L $DEFAULT_CONF ]] && [[ $(readlink "$DEFAULT_CONF") == "$CONF" ]]; }; then
        mkdir -p "$(dirname "$DEFAULT_CONF")"
        ln -sfn "$CONF" "$DEFAULT_CONF"
        return 0
    fi
    log "warning: $DEFAULT_CONF exists and is not ours; left alone -- use SLURM_CONF=$CONF"
}

# --------------------------------------------------------------------------
# health

ctl_answers() { [[ $(scontrol ping 2>/dev/null || true) == *UP* ]]; }

node_state() { sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1; }

node_usable() {
    case "$(node_state)" in
    idle | mixed | allocated | completing) return 0 ;;
    *) return 1 ;;
    esac
}

healthy() {
    pid_of "$MUNGE_DIR/munged.pid" >/dev/null &&
        pid_of "$DIR/run/slurmctld.pid" >/dev/null &&
        pid_of "$DIR/run/slurmd.pid" >/dev/null &&
        ctl_answers && node_usable
}

show_logs() {
    local f
    for f in "$MUNGE_DIR/munged.log" "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" \
        "$DIR/log/munged.out" "$DIR/log/slurmctld.out" "$DIR/log/slurmd.out"; do
        if [[ -s $f ]]; then
            printf '==> %s <==\n' "$f" >&2
            tail -n 30 "$f" >&2
        fi
    done
}

report() {
    printf 'export SLURM_CONF=%s\n' "$CONF"
    scontrol show config 2>/dev/null | grep -E '^MaxArraySize' || true
    sinfo
}

# --------------------------------------------------------------------------
# commands

cmd_up() {
    [[ $(id -u) == 0 ]] || die "must run as root"
    install_packages
    export SLURM_CONF=$CONF
    if [[ -r $CONF ]] && healthy; then
        log "already up and healthy"
        link_default_conf
        report
        return 0
    fi
    # partially running or stale: start from a clean process state
    stop_all
    local start=$SECONDS
    write_munge_key
    write_config
    mkdir -p "$DIR/log"

    log "starting munged"
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
    runuser -u munge -- munged -f \
        --key-file="$MUNGE_DIR/munge.key" \
        --socket="$MUNGE_SOCKET" \
        --pid-file="$MUNGE_DIR/munged.pid" \
        --log-file="$MUNGE_DIR/munged.log" \
        --seed-file="$MUNGE_DIR/munged.seed" \
        </dev/null >>"$DIR/log/munged.out" 2>&1 ||
        { show_logs; die "munged did not start"; }
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -S $MUNGE_SOCKET ]] && break
        sleep 0.1
    done
    [[ -S $MUNGE_SOCKET ]] || { show_logs; die "munged socket did not appear"; }

    log "starting slurmctld"
    slurmctld -f "$CONF" </dev/null >>"$DIR/log/slurmctld.out" 2>&1 ||
        { show_logs; die "slurmctld did not start"; }
    for ((i = 0; i < 10 * TIMEOUT; i++)); do
        ctl_answers && break
        sleep 0.1
    done
    ctl_answers || { show_logs; die "slurmctld does not answer after ${TIMEOUT} s"; }

    log "starting slurmd"
    slurmd -f "$CONF" -N "$NODE" </dev/null >>"$DIR/log/slurmd.out" 2>&1 ||
        { show_logs; die "slurmd did not start"; }

    local deadline=$((SECONDS + TIMEOUT)) resumed=0 state
    while :; do
        state=$(node_state || true)
        case $state in
        idle | mixed | allocated | completing) break ;;
        down* | drain* | fail*)
            # e.g. DOWN from a previous run's saved state
            if ((!resumed)); then
                log "node is '$state'; resuming it"
                scontrol update NodeName="$NODE" State=RESUME || true
                resumed=1
            fi
            ;;
        esac
        if ((SECONDS >= deadline)); then
            log "node '$NODE' not idle after ${TIMEOUT} s (state '${state:-?}')"
            sinfo -N -l >&2 || true
            show_logs
            exit 1
        fi
        sleep 0.5
    done
    log "up in $((SECONDS - start)) s (node $NODE, $(nproc) CPUs, partition $PARTITION, folder $DIR)"
    report
}

stop_all() {
    export SLURM_CONF=$CONF
    # cancel jobs first, so that no slurmstepd/job process outlives slurmd
    if [[ -r $CONF ]] && pid_of "$DIR/run/slurmctld.pid" >/dev/null && ctl_answers; then
        local jobs
        jobs=$(squeue -h -o '%A' 2>/dev/null | tr '\n' ' ' || true)
        if [[ -n ${jobs// /} ]]; then
            log "cancelling jobs $jobs"
            # shellcheck disable=SC2086 # word splitting of the job id list is wanted
            scancel $jobs 2>/dev/null || true
            local i
            for ((i = 0; i < 100; i++)); do
                [[ -z $(squeue -h -o '%A' 2>/dev/null || true) ]] && break
                sleep 0.1
            done
        fi
    fi
    stop_daemon slurmd "$DIR/run/slurmd.pid"
    stop_daemon slurmstepd /nonexistent
    stop_daemon slurmctld "$DIR/run/slurmctld.pid"
    stop_daemon munged "$MUNGE_DIR/munged.pid"
}

cmd_down() {
    stop_all
    if [[ ${1:-} == --purge ]]; then
        if [[ -L $DEFAULT_CONF ]] && [[ $(readlink "$DEFAULT_CONF") == "$CONF" ]]; then
            rm -f "$DEFAULT_CONF"
        fi
        rm -rf "$DIR"
        log "purged $DIR"
    fi
    log "down"
}

cmd_status() {
    export SLURM_CONF=$CONF
    command -v sinfo >/dev/null || die "slurm is not installed"
    if ! ctl_answers; then
        log "slurmctld does not answer (cluster is down?)"
        exit 1
    fi
    printf 'export SLURM_CONF=%s\n' "$CONF"
    sinfo
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down "${2:-}" ;;
status) cmd_status ;;
*)
    echo "usage: $0 up|down [--purge]|status" >&2
    exit 2
    ;;
esac
