#!/usr/bin/env bash
# Builds a small busybox image as an OCI layout: mkbusybox.sh LAYOUT_DIR [TAG]
# Uses Debian's busybox-static and umoci; no network needed.
set -euo pipefail
layout=$1
tag=${2:-latest}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

umoci init --layout "$layout" 2>/dev/null || true
umoci new --image "$layout:$tag"
umoci unpack --image "$layout:$tag" "$work/bundle" >/dev/null
root=$work/bundle/rootfs
mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root,usr/bin,usr/sbin,sbin}
cp /bin/busybox "$root/bin/busybox"
for app in sh ash true false echo cat ls sleep env id ps mkdir rm cp mv ln hostname uname wc head tail grep sed vi; do
	ln -sf busybox "$root/bin/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
chmod 1777 "$root/tmp"
umoci repack --image "$layout:$tag" "$work/bundle" >/dev/null
umoci config --image "$layout:$tag" \
	--config.cmd /bin/sh \
	--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--config.workingdir / >/dev/null
umoci gc --layout "$layout"
