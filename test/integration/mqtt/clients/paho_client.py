#!/usr/bin/env python3
"""Drives a broker on 127.0.0.1 with Eclipse Paho (python3-paho-mqtt) and prints one JSON object.

Usage: paho_client.py <port> <scenario> <protocol>
  scenario: roundtrip | session | alias (alias: protocol 5 only)
  protocol: 311 | 5

roundtrip: a subscriber takes QoS 1 on <base>/a/# and QoS 2 on <base>/b/#; a second client
  publishes N messages at QoS 1 and N at QoS 2 to each subtree (v5: with user properties) and
  waits for every acknowledgement; the subscriber waits for all 4N deliveries.
session: a persistent session (3.1.1: clean session 0; v5: session expiry) subscribes at QoS 2
  and disconnects; N messages are published (QoS 1 and 2) while it is away; it reconnects without
  clean start and must find its session and every message; a clean reconnect then finds none.
alias: a v5 publisher sends two topics by topic alias (the topic name only in the first PUBLISH of
  each); the subscriber must receive every message under its full topic name.

Works with paho-mqtt 1.6 (Debian 12) and 2.x (callback API version 1). Exit status 1 with
{"error": ...} on a timeout or a refused connection.
"""

import json
import sys
import threading

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TIMEOUT = 15.0
N = 20


class Failure(Exception):
    pass


def reason_value(code):
    """paho gives ints for 3.1.1 and ReasonCodes objects for v5."""
    return code if isinstance(code, int) else code.value


class Peer:
    """One paho client with its network loop on a thread, and waits on what it received."""

    def __init__(self, port, client_id, protocol, clean, session_expiry=None):
        self.port = port
        self.protocol = protocol
        self.clean = clean
        self.session_expiry = session_expiry
        self.cond = threading.Condition()
        self.connack = None
        self.subacks = {}
        self.acked = set()
        self.messages = []
        kwargs = {"client_id": client_id, "protocol": protocol}
        if protocol != mqtt.MQTTv5:
            kwargs["clean_session"] = clean
        if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
            self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, **kwargs)
        else:
            self.client = mqtt.Client(**kwargs)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message

    # ---- callbacks (network thread) ----

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.cond:
            self.connack = {"rc": reason_value(rc), "sessionPresent": bool(flags.get("session present"))}
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.cond:
            self.subacks[mid] = [reason_value(g) for g in granted]
            self.cond.notify_all()

    def _on_publish(self, client, userdata, mid):
        with self.cond:
            self.acked.add(mid)
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        props = getattr(msg, "properties", None)
        user = getattr(props, "UserProperty", None) if props is not None else None
        with self.cond:
            self.messages.append(
                {
                    "topic": msg.topic,
                    "payload": msg.payload.decode("utf-8"),
                    "qos": msg.qos,
                    "retain": bool(msg.retain),
                    "userProperties": [list(p) for p in user] if user else [],
                }
            )
            self.cond.notify_all()

    # ---- calls (main thread) ----

    def _wait(self, predicate, what):
        with self.cond:
            if not self.cond.wait_for(predicate, TIMEOUT):
                raise Failure(f"{self.client._client_id.decode()}: timed out waiting for {what}")

    def connect(self):
        if self.protocol == mqtt.MQTTv5:
            props = None
            if self.session_expiry is not None:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self.session_expiry
            self.client.connect("127.0.0.1", self.port, keepalive=30, clean_start=self.clean, properties=props)
        else:
            self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        self._wait(lambda: self.connack is not None, "CONNACK")
        if self.connack["rc"] != 0:
            raise Failure(f"connection refused: {self.connack}")
        return self.connack

    def subscribe(self, topic, qos):
        rc, mid = self.client.subscribe(topic, qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise Failure(f"subscribe {topic}: {mqtt.error_string(rc)}")
        self._wait(lambda: mid in self.subacks, f"SUBACK for {topic}")
        return self.subacks[mid]

    def publish(self, topic, payload, qos, user_properties=None, topic_alias=None):
        props = None
        if user_properties or topic_alias:
            props = Properties(PacketTypes.PUBLISH)
            if user_properties:
                props.UserProperty = user_properties
            if topic_alias:
                props.TopicAlias = topic_alias
        info = self.client.publish(topic, payload, qos, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise Failure(f"publish {topic}: {mqtt.error_string(info.rc)}")
        return info.mid

    def wait_acked(self, mids):
        self._wait(lambda: set(mids) <= self.acked, f"{len(mids)} publish acknowledgements")

    def wait_messages(self, count):
        self._wait(lambda: len(self.messages) >= count, f"{count} messages (have {len(self.messages)})")
        return list(self.messages)

    def disconnect(self):
        self.client.disconnect()
        self.client.loop_stop()


def roundtrip(port, protocol, tag):
    base = f"paho/{tag}/roundtrip"
    v5 = protocol == mqtt.MQTTv5
    sub = Peer(port, f"paho-sub-{tag}", protocol, clean=True)
    pub = Peer(port, f"paho-pub-{tag}", protocol, clean=True)
    result = {"subConnack": sub.connect(), "pubConnack": pub.connect()}
    result["granted"] = sub.subscribe(f"{base}/a/#", 1) + sub.subscribe(f"{base}/b/#", 2)
    mids = []
    for sub_tree in ("a", "b"):
        for qos in (1, 2):
            for i in range(N):
                props = [("seq", str(i)), ("qos", str(qos))] if v5 else None
                mids.append(pub.publish(f"{base}/{sub_tree}/q{qos}", f"{sub_tree}-q{qos}-{i}", qos, props))
    pub.wait_acked(mids)
    result["acked"] = len(mids)
    result["received"] = sub.wait_messages(len(mids))
    pub.disconnect()
    sub.disconnect()
    return result


def session(port, protocol, tag):
    topic = f"paho/{tag}/session"
    client_id = f"paho-session-{tag}"
    v5 = protocol == mqtt.MQTTv5
    # 3.1.1: clean session 0 makes it persistent; v5: a session expiry with clean start 1 on the first connect.
    first = Peer(port, client_id, protocol, clean=v5, session_expiry=300 if v5 else None)
    result = {"first": first.connect(), "granted": first.subscribe(topic, 2)}
    first.disconnect()

    pub = Peer(port, f"paho-session-pub-{tag}", protocol, clean=True)
    pub.connect()
    mids = [pub.publish(topic, f"away-{i}", 1 if i % 2 == 0 else 2) for i in range(N)]
    pub.wait_acked(mids)
    pub.disconnect()

    resumed = Peer(port, client_id, protocol, clean=False, session_expiry=300 if v5 else None)
    result["resumed"] = resumed.connect()
    result["received"] = resumed.wait_messages(N)
    resumed.disconnect()

    fresh = Peer(port, client_id, protocol, clean=True)
    result["fresh"] = fresh.connect()
    fresh.disconnect()
    return result


def alias(port, protocol, tag):
    """v5: the publisher names each topic once with a topic alias, then sends by alias (empty topic)."""
    base = f"paho/{tag}/alias"
    sub = Peer(port, f"paho-alias-sub-{tag}", protocol, clean=True)
    pub = Peer(port, f"paho-alias-pub-{tag}", protocol, clean=True)
    result = {"subConnack": sub.connect(), "pubConnack": pub.connect(), "granted": sub.subscribe(f"{base}/#", 1)}
    mids = []
    for i in range(N):
        for alias_id, name in ((1, "left"), (2, "right")):
            topic = f"{base}/{name}" if i == 0 else ""
            mids.append(pub.publish(topic, f"{name}-{i}", 1, topic_alias=alias_id))
    pub.wait_acked(mids)
    result["acked"] = len(mids)
    result["received"] = sub.wait_messages(len(mids))
    pub.disconnect()
    sub.disconnect()
    return result


SCENARIOS = {"roundtrip": roundtrip, "session": session, "alias": alias}


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in SCENARIOS or sys.argv[3] not in ("311", "5"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    port = int(sys.argv[1])
    protocol = mqtt.MQTTv5 if sys.argv[3] == "5" else mqtt.MQTTv311
    scenario = SCENARIOS[sys.argv[2]]
    try:
        result = scenario(port, protocol, f"v{sys.argv[3]}")
    except Failure as error:
        print(json.dumps({"error": str(error)}))
        sys.exit(1)
    result["pahoVersion"] = paho.mqtt.__version__
    print(json.dumps(result))


if __name__ == "__main__":
    main()
