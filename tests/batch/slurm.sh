#!/usr/bin/env bash
# slurm.sh: examples/slurm end to end (ctest batch.slurm) on a one-node Slurm cluster that it
# starts itself (its own munged, slurmctld and slurmd, configuration, ports, sockets and state
# in its temporary folder; nothing system-wide is used or touched). The node has one GPU as far
# as Slurm knows (a gres with no device), so the separation step asks for it as on a real
# cluster. Three recordings and a bad one: one array task each, the good ones give what
# examples/Makefile gives (make -q finds nothing to do, make check passes), the separation runs as
# a job step with --gres=gpu:1 and its cache is in OUT_DIR, the bad task fails; a second
# submission takes only the bad recording, and once it is gone a third submits nothing.
# Usage: bash tests/batch/slurm.sh SOURCE_DIR BIN_DIR
#   (needs root, slurm-wlm and munge, make and jq; skips visibly without them or when the cluster
#   does not come up)
set -euo pipefail
src=$(cd "${1:?usage: slurm.sh SOURCE_DIR BIN_DIR}" && pwd)
bin=$(cd "${2:?usage: slurm.sh SOURCE_DIR BIN_DIR}" && pwd)
me=batch.slurm
# shellcheck source=tests/batch/lib.sh
. "$src/tests/batch/lib.sh"
export PATH="$bin:$PATH:/usr/sbin:/sbin" LC_ALL=C
for tool in munged mungekey slurmctld slurmd sbatch srun squeue sinfo scontrol scancel make jq; do
  command -v "$tool" >/dev/null || skip "$tool not found (Debian: slurm-wlm munge)"
done
[ "$(id -u)" -eq 0 ] || skip "not root (slurmd starts the jobs as their user)"
# Nothing of a Slurm job this might run in, nor of a site's settings, reaches this cluster.
unset "${!SLURM_@}" "${!SBATCH_@}" "${!SRUN_@}" RZ_BIN RZ_CACHE_DIR RZ_GPU_GRES

kUpTimeoutS=60     # for the node to be idle: a few seconds on a 2-core VM
kJobsTimeoutS=240  # for the array: 4 tasks one at a time (one GPU), 5-10 s each with separation

work=$(mktemp -d "${TMPDIR:-/tmp}/rz-batch-slurm.XXXXXX")
chmod 755 "$work" # munged wants its socket's directories searchable by all
cd "$work"
pids=() jobs=()
cleanup() {
  local p
  [ ${#jobs[@]} -eq 0 ] || scancel "${jobs[@]}" 2>/dev/null || true
  for ((p = ${#pids[@]} - 1; p >= 0; p--)); do kill "${pids[$p]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  cd / && rm -rf "$work"
}
trap cleanup EXIT

# free_port: a TCP port on which nothing here answers, outside the range the kernel hands out to
# outgoing connections (one of those taken by a client made slurmd's bind fail).
free_port() {
  local p lo=32768 hi=60999 first last
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  if [ "$lo" -gt 11024 ]; then first=10000 last=$((lo - 1)); else first=$((hi + 1)) last=65535; fi
  for _ in {1..50}; do
    p=$((first + RANDOM % (last - first + 1)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# down WHY LOG: the cluster did not come up; skip with the log's last lines.
down() {
  echo "$me: $2:" >&2
  tail -n 5 "$2" >&2 || true
  skip "$1"
}

# 1. The cluster: munge, controller, one node with CPUs for a task and one GPU.
host=$(hostname -s 2>/dev/null || hostname)
ctl_port=$(free_port) || skip "no free TCP port"
node_port=$(free_port) || skip "no free TCP port"
[ "$node_port" != "$ctl_port" ] || node_port=$((ctl_port + 1))
cpus=$(nproc)
[ "$cpus" -ge 2 ] || cpus=2 # the tasks ask for 2; config_overrides lets the node claim them
mkdir -p state spool
mungekey -c -k munge.key
munged -F --socket="$work/munge.sock" --key-file=munge.key --pid-file=munged.pid \
  --seed-file=munged.seed >munged.log 2>&1 &
pids+=($!)
cat >slurm.conf <<EOF
ClusterName=rztest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$node_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge.sock
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus Gres=gpu:1 State=UNKNOWN
PartitionName=rz Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
echo "NodeName=$host Name=gpu File=/dev/null" >gres.conf
export SLURM_CONF=$work/slurm.conf
for _ in {1..50}; do
  [ -S munge.sock ] && break
  kill -0 "${pids[0]}" 2>/dev/null || down "munged did not start" munged.log
  sleep 0.1
done
[ -S munge.sock ] || down "munged did not start" munged.log
slurmctld -D >slurmctld.out 2>&1 &
pids+=($!)
slurmd -D -N "$host" >slurmd.out 2>&1 &
pids+=($!)
state=""
for ((i = 0; i < kUpTimeoutS; i++)); do
  state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
  [ "$state" = idle ] && break
  kill -0 "${pids[1]}" 2>/dev/null || down "slurmctld stopped" slurmctld.out
  kill -0 "${pids[2]}" 2>/dev/null || down "slurmd stopped" slurmd.out
  sleep 1
done
[ "$state" = idle ] || down "the node was not idle after $kUpTimeoutS s (state '$state')" slurmctld.log
timeout 30 srun --quiet true >srun.log 2>&1 || down "the cluster does not run a job" srun.log

# wait_for JOB: until the array has left the queue.
wait_for() {
  local i
  for ((i = 0; i < kJobsTimeoutS; i++)); do
    [ -n "$(squeue -h -j "$1" 2>/dev/null)" ] || return 0
    sleep 1
  done
  tail -n 20 out/.slurm/*.log slurmd.log >&2 || true
  fail "job $1 still queued or running after $kJobsTimeoutS s"
}

# tasks JOB STATE: how many of the array's tasks ended in STATE.
tasks() {
  scontrol -o show job "$1" | grep -c "JobState=$2 " || true
}

# task_logs JOB: each task's state and the end of its log, for a failure's message.
task_logs() {
  local line id
  scontrol -o show job "$1" | while read -r line; do
    id=$(grep -o 'ArrayTaskId=[0-9]*' <<<"$line" | cut -d= -f2)
    echo "task $id: $(grep -o 'JobState=[A-Z]*' <<<"$line") $(grep -o 'ExitCode=[0-9:]*' <<<"$line")"
    tail -n 5 "out/.slurm/${1}_$id.log" 2>&1 | sed 's/^/  /'
  done
}

# 2. Three recordings and a bad one: four tasks, three done, the bad one failed.
make_recordings in
echo "not audio" >in/bad.wav
if [ -f "$tiny_model" ]; then
  settings=(SEPARATE=yes "SEPARATE_FLAGS=--model $tiny_model") stems=4
else
  echo "$me: note: no $tiny_model: the separation step (srun --gres=gpu:1) is not checked"
  settings=(SEPARATE=no) stems=1
fi
submit=(env RZ_BIN="$bin" bash "$src/examples/slurm/submit.sh" in out "${settings[@]}")
steps_before=$(grep -c "launch task StepId=" slurmd.log || true)
expect 0 "${submit[@]}"
job=$(cat out.txt)
[[ "$job" =~ ^[0-9]+$ ]] || fail "submit.sh printed '$job', not a job id"
jobs+=("$job")
grep -q "4 of 4 recordings to do" err.txt || fail "submit.sh said: $(cat err.txt)"
wait_for "$job"
if [ "$(tasks "$job" COMPLETED)" -ne 3 ] || [ "$(tasks "$job" FAILED)" -ne 1 ]; then
  fail "expected 3 tasks COMPLETED and 1 FAILED:"$'\n'"$(task_logs "$job")"
fi
log=$(grep -l "bad.wav" out/.slurm/"${job}"_*.log) || fail "no task log names bad.wav"
grep -q "rz-ingest: error: .*bad\.wav" "$log" || fail "$log: $(cat "$log")"
for f in bad.flac bad.stems/manifest.json bad.metrics.json; do
  [ ! -e "out/$f" ] || fail "the failed task left out/$f"
done
check_results out "$stems" r1 r2 r3
steps=$(($(grep -c "launch task StepId=" slurmd.log || true) - steps_before))
if [ "$stems" -eq 4 ]; then
  [ "$(scontrol -o show job "$job" | grep -c 'TresPerNode=gres:gpu:1')" -eq 4 ] ||
    fail "the tasks did not all ask for --gres=gpu:1: $(scontrol -o show job "$job" |
      grep -o 'TresPerNode=[^ ]*' || true)"
  [ "$steps" -eq 3 ] || fail "expected 3 separation steps (srun), slurmd launched $steps"
  [ "$(find out/.cache -mindepth 1 -maxdepth 1 -type d | wc -l)" -eq 3 ] ||
    fail "expected 3 entries in the cache out/.cache: $(ls -A out/.cache 2>&1)"
else
  [ "$steps" -eq 0 ] || fail "no separation, yet slurmd launched $steps steps"
fi

# 3. Again: only the bad recording is submitted (and fails again).
expect 0 "${submit[@]}"
job=$(cat out.txt)
jobs+=("$job")
grep -q "1 of 4 recordings to do" err.txt || fail "second submission: $(cat err.txt)"
wait_for "$job"
[ "$(tasks "$job" FAILED)" -eq 1 ] || fail "the second array is not one failed task"

# 4. Once it is gone, everything is up to date: nothing submitted.
rm in/bad.wav
expect 0 "${submit[@]}"
[ ! -s out.txt ] || fail "a submission with nothing to do printed '$(cat out.txt)'"
grep -q "up to date" err.txt || fail "third submission: $(cat err.txt)"
make -s -f "$src/examples/Makefile" IN=in OUT=out "${settings[@]}" -q ||
  fail "make -q: the Makefile finds work left after the array"
make -s -f "$src/examples/Makefile" IN=in OUT=out "${settings[@]}" check >check.log 2>&1 ||
  fail "make check failed: $(cat check.log)"
echo "$me: all checks passed"
