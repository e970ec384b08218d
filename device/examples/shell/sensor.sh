#!/bin/sh
# A sensor in POSIX shell (BusyBox ash, dash, bash): one reading every INTERVAL seconds, published at
# QoS 1 with mosquitto_pub (Debian/OpenWrt package mosquitto-clients).
#
# Each reading is its own short connection: mosquitto_pub connects, publishes, waits for the PUBACK
# and exits 0, or exits non-zero if anything failed before the PUBACK. A failed reading is sent again
# (with backoff) until it is acknowledged, so nothing is lost; a reading whose PUBACK was lost on the
# way is stored twice, which is QoS 1 (at least once). Cairn commits a message to its log before it
# sends the PUBACK, so an acknowledged reading survives even a power cut of the gateway.
#
# The sequence number is kept in STATE_FILE, so a restart of the script (or of the device) continues
# where it stopped and the receiver can see gaps and duplicates.
#
# Environment:
#   CAIRN_HOST (127.0.0.1)   CAIRN_PORT (1883)   DEVICE_ID (the host name)
#   TOPIC (sensors/$DEVICE_ID/temp)   INTERVAL seconds between readings (10)   COUNT readings, 0 = forever (0)
#   STATE_FILE (./$DEVICE_ID.seq)   MAX_BACKOFF seconds (60)
set -u

host=${CAIRN_HOST:-127.0.0.1}
port=${CAIRN_PORT:-1883}
device_id=${DEVICE_ID:-$(hostname)}
topic=${TOPIC:-sensors/$device_id/temp}
interval=${INTERVAL:-10}
count=${COUNT:-0}
state_file=${STATE_FILE:-./$device_id.seq}
max_backoff=${MAX_BACKOFF:-60}

# The reading: the SoC temperature where the kernel exposes one, else a made-up value.
read_sensor() {
  if [ -r /sys/class/thermal/thermal_zone0/temp ]; then
    awk '{ printf "%.1f", $1 / 1000 }' /sys/class/thermal/thermal_zone0/temp
  else
    awk -v seed="$1" 'BEGIN { srand(seed); printf "%.1f", 20 + rand() * 5 }'
  fi
}

# Milliseconds since the epoch; BusyBox date has no %N, so whole seconds there.
now_ms() {
  ms=$(date +%s%3N)
  case $ms in
    *N) echo "$(date +%s)000" ;;
    *) echo "$ms" ;;
  esac
}

seq=$(cat "$state_file" 2>/dev/null || echo 0)
sent=0
while [ "$count" -eq 0 ] || [ "$sent" -lt "$count" ]; do
  seq=$((seq + 1))
  payload="{\"device\":\"$device_id\",\"seq\":$seq,\"ts\":$(now_ms),\"value\":$(read_sensor "$seq")}"
  backoff=1
  # -i: a stable client id (one device, one id: a second connection with it replaces the first).
  # -k: keepalive; -q 1: wait for the PUBACK; exit status non-zero if it did not come.
  until mosquitto_pub -h "$host" -p "$port" -i "$device_id" -k 30 -q 1 -t "$topic" -m "$payload"; do
    echo "seq $seq not acknowledged, again in ${backoff}s" >&2
    sleep "$backoff"
    backoff=$((backoff * 2))
    [ "$backoff" -gt "$max_backoff" ] && backoff=$max_backoff
  done
  # Only an acknowledged reading moves the sequence on (written atomically: a power cut keeps one or the other).
  echo "$seq" >"$state_file.tmp" && mv "$state_file.tmp" "$state_file"
  sent=$((sent + 1))
  if [ "$count" -eq 0 ] || [ "$sent" -lt "$count" ]; then sleep "$interval"; fi
done
