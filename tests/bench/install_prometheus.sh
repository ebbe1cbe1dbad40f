#!/usr/bin/env bash
# Installs Debian's `prometheus` package for the bench (tests/bench/prometheus.py). Idempotent:
# exits 0 at once when a prometheus binary is already there. Needs root on Debian.
#
# The package's maintainer scripts would start a system service on :9090. The bench runs its own
# server on a free port, so the install runs under a temporary policy-rc.d that forbids service
# starts (exit 101, see invoke-rc.d(8)), and any prometheus service that is running afterwards is
# stopped and disabled. Prints one line saying what it did.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]; then
  echo "install_prometheus: already installed ($(command -v prometheus || echo /usr/bin/prometheus))"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install_prometheus: must run as root (apt-get install prometheus)" >&2
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
      -o Dpkg::Use-Pty=0 prometheus
} >"$apt_log" 2>&1; then
  cat "$apt_log" >&2
  echo "install_prometheus: apt-get install prometheus failed" >&2
  exit 1
fi

# Belt and braces: leave no system service running or enabled, whatever the init system.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl stop prometheus.service >/dev/null 2>&1 || true
  systemctl disable prometheus.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus ]; then
  /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  update-rc.d prometheus disable >/dev/null 2>&1 || true
fi

version=$(/usr/bin/prometheus --version 2>&1 | head -n 1)
echo "install_prometheus: installed Debian package prometheus in $(($(date +%s) - start)) s: ${version}; no service left running"
