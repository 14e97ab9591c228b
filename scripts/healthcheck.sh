#!/usr/bin/env bash
# Health check of a megatts3-server deployment, as the guide describes it:
#   1. the service answers HTTP 200 on /health: it can synthesize (503 with the same JSON while the
#      model loads, after a failed load, or when it cannot serve; its "status" says which);
#   2. GPU memory through nvidia-smi, or a clear line that there is no NVIDIA GPU;
#   3. disk usage of the storage folder, with a warning over the threshold.
# Exit status: 0 healthy, 1 the service is down or unhealthy, 2 serving but with a warning (disk, or
# the service itself says "degraded").
#
# Usage: scripts/healthcheck.sh [-u URL] [-s STORAGE_DIR] [-t DISK_WARN_PERCENT]
#   defaults: MEGATTS3_URL or http://localhost:9000, MEGATTS3_STORAGE_DIR or ./storage, 80
set -uo pipefail

url="${MEGATTS3_URL:-http://localhost:9000}"
storage="${MEGATTS3_STORAGE_DIR:-storage}"
threshold=80

while getopts "u:s:t:h" option; do
    case "$option" in
        u) url="$OPTARG" ;;
        s) storage="$OPTARG" ;;
        t) threshold="$OPTARG" ;;
        h) sed -n '2,10p' "$0"; exit 0 ;;
        *) exit 64 ;;
    esac
done

status=0

echo "== service: $url/health"
answer=$(curl -sS --max-time 10 -w '\n%{http_code}' "$url/health" 2>&1)
code=$(tail -n 1 <<<"$answer")
body=$(sed '$d' <<<"$answer")
if [ "$code" = 200 ] && grep -q '^{"status":"degraded"' <<<"$body"; then
    echo "WARN HTTP 200, degraded: speech is served but a part is in trouble (see problems)"
    echo "     $body"
    status=2
elif [ "$code" = 200 ]; then
    echo "OK   HTTP 200"
    echo "     $body"
elif [ "$code" = 503 ]; then
    state=$(sed -n 's/^{"status":"\([a-z]*\)".*/\1/p' <<<"$body")
    echo "FAIL HTTP 503: the service cannot synthesize yet (status: ${state:-unknown})"
    echo "     $body"
    status=1
else
    echo "FAIL the service does not answer (HTTP ${code:-none}): $body"
    status=1
fi

echo "== GPU"
if command -v nvidia-smi >/dev/null 2>&1 && gpus=$(nvidia-smi --query-gpu=index,name,memory.used,memory.total,utilization.gpu --format=csv,noheader 2>/dev/null); then
    while IFS= read -r line; do echo "OK   $line"; done <<<"$gpus"
else
    echo "INFO no NVIDIA GPU found (nvidia-smi unavailable or no device); the service runs on the CPU"
fi

echo "== storage: $storage"
if [ -d "$storage" ]; then
    used=$(df -P "$storage" | awk 'NR==2 {gsub("%", "", $5); print $5}')
    size=$(du -sh "$storage" 2>/dev/null | cut -f1)
    if [ "$used" -gt "$threshold" ]; then
        echo "WARN disk ${used}% used (over ${threshold}%); storage holds ${size}"
        [ "$status" -eq 0 ] && status=2
    else
        echo "OK   disk ${used}% used; storage holds ${size}"
    fi
else
    echo "WARN storage folder $storage does not exist"
    [ "$status" -eq 0 ] && status=2
fi

exit "$status"
