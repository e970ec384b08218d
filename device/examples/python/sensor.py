#!/usr/bin/env python3
"""A sensor in Python with Eclipse Paho (paho-mqtt 1.6, as in Debian 12, or 2.x).

One reading every --interval seconds to sensors/<device-id>/temp at QoS 1, over one long-lived
connection with a persistent session (clean_session=False, a fixed client id):

- paho keeps every QoS 1 message until its PUBACK and, after a reconnect, sends again whatever was not
  acknowledged. Readings taken while the link is down wait in a bounded backlog here (--max-backlog;
  when it is full the oldest reading is dropped and counted as skipped).
- Cairn commits a message to its log before it sends the PUBACK: an acknowledged reading is stored. A
  message whose PUBACK was lost is sent again and may be stored twice (QoS 1 is at least once); the
  sequence number in the payload lets the receiver drop the copy.
- The keepalive (30 s) is how both sides notice a link that died without a word (a radio gap, a NAT
  that forgot the connection): after 1.5 keepalives of silence the broker closes the connection.
- One thread does everything (client.loop() here, no loop_start()). With paho's background thread, a
  reading published between the TCP connect and the CONNACK goes out before the older messages paho
  resends on CONNACK, so readings arrive out of order after every reconnect. Publishing only once
  on_connect has run, from the thread that handles the CONNACK, keeps them in order.

Payload: {"device": id, "seq": n, "ts": epoch ms, "value": reading}, as device/simulator's json format.
At the end (after --count readings, or Ctrl-C) it waits up to --drain-sec for the last PUBACKs,
disconnects, and prints {"device", "published", "acked", "skipped", "connects", "sessions_resumed"}.
Exit status 0 when every reading was acknowledged.

Usage: sensor.py [--host H] [--port P] [--device-id ID] [--count N] [--interval SEC] [--qos 0|1|2]
"""

import argparse
import collections
import json
import random
import socket
import sys
import time

import paho.mqtt.client as mqtt


def make_client(device_id):
    # paho-mqtt 2.x wants the callback API version; 1.x does not know the argument.
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device_id, clean_session=False)
    return mqtt.Client(client_id=device_id, clean_session=False)


def session_present(flags):
    """1.x passes a dict, 2.x a ConnectFlags object."""
    if isinstance(flags, dict):
        return bool(flags.get("session present"))
    return bool(getattr(flags, "session_present", False))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--device-id", default=socket.gethostname())
    parser.add_argument("--count", type=int, default=0, help="readings to send, 0 = until Ctrl-C")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between readings")
    parser.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    parser.add_argument("--keepalive", type=int, default=30)
    parser.add_argument("--max-backlog", type=int, default=1000)
    parser.add_argument("--drain-sec", type=float, default=30.0)
    args = parser.parse_args()

    topic = "sensors/%s/temp" % args.device_id
    s = {"connects": 0, "sessions_resumed": 0, "acked": 0, "connected": False, "stopping": False, "closing": False}

    def on_connect(client, userdata, flags, rc, properties=None):
        if rc != 0:
            print("connection refused: %s" % rc, file=sys.stderr)
            return
        s["connected"] = True
        s["connects"] += 1
        if session_present(flags):
            s["sessions_resumed"] += 1

    def on_disconnect(client, userdata, *rest):
        # 1.x passes (rc); 2.x (flags, reason_code, properties).
        s["connected"] = False
        if not s["closing"]:
            print("disconnected (%s)" % (rest[-2] if len(rest) > 1 else rest[0]), file=sys.stderr)

    def on_publish(client, userdata, mid, *rest):
        # Once per message: at QoS 1 on its PUBACK, at QoS 2 on its PUBCOMP.
        s["acked"] += 1

    client = make_client(args.device_id)
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_publish = on_publish
    client.max_inflight_messages_set(20)
    # Only records where to connect; the loop below connects, and retries with backoff: the device may
    # boot before the network or the broker is up.
    client.connect_async(args.host, args.port, keepalive=args.keepalive)

    backlog = collections.deque()
    seq = published = handed = skipped = 0
    value = random.uniform(18, 24)
    next_reading = time.monotonic()
    link_up = False
    retry_at, backoff = 0.0, 1.0
    drain_deadline = None

    while True:
        now = time.monotonic()
        try:
            if not s["stopping"] and now >= next_reading:
                seq += 1
                published += 1
                value += random.uniform(-0.2, 0.2)
                reading = {"device": args.device_id, "seq": seq, "ts": int(time.time() * 1000), "value": round(value, 2)}
                if len(backlog) >= args.max_backlog:
                    backlog.popleft()  # offline too long: the oldest reading gives way
                    skipped += 1
                backlog.append(json.dumps(reading, separators=(",", ":")))
                next_reading += args.interval
                if args.count and seq >= args.count:
                    s["stopping"] = True

            if not link_up and now >= retry_at:
                try:
                    client.reconnect()
                    link_up, backoff = True, 1.0
                except OSError as error:
                    print("connect failed (%s), again in %.0fs" % (error, backoff), file=sys.stderr)
                    retry_at, backoff = now + backoff, min(backoff * 2, 60.0)

            # Only after on_connect: paho has queued its resends by then, so new readings follow them.
            while s["connected"] and backlog:
                if client.publish(topic, backlog[0], qos=args.qos).rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                    break
                backlog.popleft()
                handed += 1

            if s["stopping"]:
                drain_deadline = drain_deadline or now + args.drain_sec
                done = not backlog and (args.qos == 0 or s["acked"] >= handed)
                if done or now >= drain_deadline:
                    break

            if link_up and client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                link_up, retry_at = False, time.monotonic() + backoff
            elif not link_up:
                time.sleep(0.05)
        except KeyboardInterrupt:
            s["stopping"] = True

    s["closing"] = True
    client.disconnect()
    acked = s["acked"] if args.qos > 0 else 0
    print(
        json.dumps(
            {
                "device": args.device_id,
                "published": published,
                "acked": acked,
                "skipped": skipped,
                "connects": s["connects"],
                "sessions_resumed": s["sessions_resumed"],
            }
        )
    )
    return 0 if skipped == 0 and not backlog and (args.qos == 0 or acked == published) else 1


if __name__ == "__main__":
    sys.exit(main())
