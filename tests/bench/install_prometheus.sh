#!/usr/bin/env bash
# Installs Debian's `prometheus`, `prometheus-alertmanager` and `prometheus-node-exporter` packages
# for the bench (tests/bench/prometheus.py, tests/bench/alertmanager.py; node_exporter's textfile
# collector is what users run to expose the collection's metrics file). Idempotent: installs only
# the packages whose binary is missing, and exits 0 at once when all are there. Needs root on Debian.
#
# The packages' maintainer scripts would start system services (:9090, :9093, :9100). The bench
# runs its own servers on free ports, so the install runs under a temporary policy-rc.d that forbids
# service starts (exit 101, see invoke-rc.d(8)), and any of these services that is running
# afterwards is stopped and disabled. Prints one line saying what it did.
set -euo pipefail

# package=binary, one per line
wanted="prometheus=/usr/bin/prometheus
prometheus-alertmanager=/usr/bin/prometheus-alertmanager
prometheus-node-exporter=/usr/bin/prometheus-node-exporter"

missing=()
while IFS='=' read -r package binary; do
  if [ ! -x "$binary" ]; then missing+=("$package"); fi
done <<<"$wanted"

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install_prometheus: already installed (prometheus, prometheus-alertmanager, prometheus-node-exporter)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install_prometheus: must run as root (apt-get install ${missing[*]})" >&2
  exit 1
fi

policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  made_policy=1
fi
apt_log=$(mktemp)
cleanup() {
  if [ "$made_policy" -eq 1 ]; then rm -f "$policy"; fi
  rm -f "$apt_log"
}
trap cleanup EXIT

# apt and dpkg chatter (debconf, invoke-rc.d) goes to a temporary log, shown only on failure.
start=$(date +%s)
if ! {
  apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Use-Pty=0 "${missing[@]}"
} >"$apt_log" 2>&1; then
  cat "$apt_log" >&2
  echo "install_prometheus: apt-get install ${missing[*]} failed" >&2
  exit 1
fi

# Belt and braces: leave no system service running or enabled, whatever the init system.
for service in prometheus prometheus-alertmanager prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl stop "$service.service" >/dev/null 2>&1 || true
    systemctl disable "$service.service" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$service" ]; then
    "/etc/init.d/$service" stop >/dev/null 2>&1 || true
    update-rc.d "$service" disable >/dev/null 2>&1 || true
  fi
done

versions=$(for binary in /usr/bin/prometheus /usr/bin/prometheus-alertmanager /usr/bin/prometheus-node-exporter; do
  "$binary" --version 2>&1 | head -n 1
done | paste -sd ';' -)
echo "install_prometheus: installed Debian packages ${missing[*]} in $(($(date +%s) - start)) s: ${versions}; no service left running"
