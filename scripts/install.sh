#!/bin/sh
# Installs the Debian packages bllm needs to build and test, when missing.
# Non-interactive; uses sudo when not root; does nothing when all are present.
set -eu
PACKAGES="gcc make pkg-config libcurl4-openssl-dev libjq-dev zlib1g-dev libedit-dev
libmd4c-dev libsqlite3-dev libmicrohttpd-dev jq curl bats bats-support bats-assert
tmux procps sqlite3 chromium git patch bubblewrap clang libclang-rt-14-dev
parallel openssh-client openssh-server"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install.sh: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "install.sh: need root or sudo to install:$missing" >&2
		exit 1
	}
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >&2
