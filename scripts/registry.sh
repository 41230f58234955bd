#!/usr/bin/env bash
# Starts Debian's docker-registry on 127.0.0.1:PORT with storage in DIR and
# prints its PID: registry.sh DIR PORT. Stop it with kill.
set -euo pipefail
dir=$1
port=$2
mkdir -p "$dir/data"
cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	if \
	   (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "$pid"
		exit 0
	fi
	sleep 0.1
done
echo "registry did not start; log:" >&2
cat "$dir/registry.log" >&2
kill "$pid"
exit 1
