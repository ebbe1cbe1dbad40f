#!/usr/bin/env bash
# Debian's cron daemon, for tests/e2e/test_cron.py (the test starts and stops the daemon itself).
# The package's install scripts would start the service: a policy-rc.d that refuses (exit 101) is put
# in place for the install when the machine has none, so no daemon is left running by `make tools`.
set -euo pipefail
if command -v cron >/dev/null && command -v crontab >/dev/null; then
    exit 0
fi
policy=/usr/sbin/policy-rc.d
added=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    added=yes
fi
install_cron() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cron
}
status=0
install_cron || { apt-get update -qq && install_cron; } || status=$?
if [ -n "$added" ]; then
    rm -f "$policy"
fi
exit "$status"
