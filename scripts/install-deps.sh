#!/usr/bin/env bash
# Installs the Debian packages rkt's demo or test suite needs, skipping the
# ones already installed. Usage: install-deps.sh demo|test|bench
set -euo pipefail

case "${1:-test}" in
demo)  pkgs=(busybox-static docker-registry skopeo umoci iptables iproute2) ;;
test)  pkgs=(busybox-static docker-registry skopeo umoci apache2-utils git iptables iproute2 gnupg) ;;
bench) pkgs=(busybox-static docker-registry skopeo umoci debootstrap podman crun runc docker.io containerd systemd-container bubblewrap hyperfine jq iptables iproute2 containernetworking-plugins) ;;
*) echo "usage: $0 demo|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
