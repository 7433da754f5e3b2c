#!/usr/bin/env bash
# Makes sure Debian's Chromium is there for the browser test (test/browser/), installing it
# with apt-get when missing (as services.sh does for PostgreSQL and Redis). Exits non-zero
# when it cannot: the browser test then fails (it is never skipped, in CI or elsewhere).
#   CHROMIUM_PATH overrides the executable (default /usr/bin/chromium).
set -euo pipefail
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$chromium" ] && exit 0
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "ensure-chromium: installing chromium" >&2
  apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >/dev/null
fi
if [ ! -x "$chromium" ]; then
  echo "ensure-chromium: no Chromium at $chromium (install it: apt-get install chromium, or set CHROMIUM_PATH)" >&2
  exit 1
fi
