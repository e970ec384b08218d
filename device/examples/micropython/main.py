# A sensor in MicroPython with umqtt.simple (micropython-lib; `mip.install("umqtt.simple")`), for an
# ESP32, ESP8266 or Raspberry Pi Pico W: one reading every INTERVAL_S seconds to
# sensors/<device id>/temp at QoS 1, in the same JSON format as device/simulator.
#
# umqtt.simple is small and blocking, and leaves the hard parts to the application. This file does them:
# - QoS 1: publish(qos=1) blocks until the PUBACK. If the link breaks first (OSError), the reading is
#   sent again on a new connection, so it is never lost; it may be stored twice if only the PUBACK was
#   lost (QoS 1 is at least once; the seq lets the receiver drop the copy). umqtt.simple keeps no
#   messages across connections, so the reading stays in `backlog` until its PUBACK.
# - Timeouts: umqtt.simple waits forever on a dead link. The socket gets ACK_TIMEOUT_S before each
#   publish (wait_msg() switches it back to blocking after every read, so it is set every time).
# - Keepalive: umqtt.simple sends no PINGREQ by itself; the broker closes a connection that is silent
#   for 1.5 x KEEPALIVE_S. A reading counts as traffic; when readings are further apart, ping().
# - Packet ids: umqtt.simple counts them up without wrapping; past 65535 its publish would fail.
# - Sequence numbers survive a reboot without writing flash on every reading: the file holds a value
#   SEQ_STRIDE ahead, so a reboot skips at most SEQ_STRIDE numbers (a gap, never a repeat).
#
# Not run by the test suite: it needs a board (network, machine) and umqtt.simple, which is not
# packaged for this machine. device/examples/python/sensor.py does the same with paho and is tested.
import json
import time

import machine
import network
from umqtt.simple import MQTTClient, MQTTException

WIFI_SSID = "my-network"
WIFI_PASSWORD = "secret"
BROKER = "192.168.1.10"  # the Cairn gateway
PORT = 1883
DEVICE_ID = "mp-" + "".join("%02x" % b for b in machine.unique_id())
TOPIC = "sensors/%s/temp" % DEVICE_ID
INTERVAL_S = 10
KEEPALIVE_S = 60
ACK_TIMEOUT_S = 10
MAX_BACKLOG = 100
SEQ_FILE = "seq.txt"
SEQ_STRIDE = 100


def epoch_offset_s():
    # Older ports count from 2000-01-01; the payload wants Unix time (set the RTC with ntptime first).
    return 946684800 if time.gmtime(0)[0] == 2000 else 0


def read_sensor():
    try:
        import esp32

        return round((esp32.raw_temperature() - 32) / 1.8, 1)  # the ESP32's die temperature
    except (ImportError, AttributeError):
        return round(machine.ADC(4).read_u16() * 3.3 / 65535 * -581 + 437, 1)  # RP2040's sensor


class Sequence:
    def __init__(self):
        try:
            with open(SEQ_FILE) as f:
                self.value = int(f.read())
        except (OSError, ValueError):
            self.value = 0
        self.saved = self.value
        self._save(self.value + SEQ_STRIDE)

    def next(self):
        self.value += 1
        if self.value >= self.saved:
            self._save(self.value + SEQ_STRIDE)
        return self.value

    def _save(self, value):
        with open(SEQ_FILE, "w") as f:
            f.write(str(value))
        self.saved = value


def wifi_up():
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(WIFI_SSID, WIFI_PASSWORD)
        for _ in range(30):
            if wlan.isconnected():
                break
            time.sleep(1)
    if wlan.isconnected():
        try:
            import ntptime

            ntptime.settime()
        except Exception:
            pass  # readings still go out; their ts is only as good as the RTC
    return wlan.isconnected()


def connect():
    client = MQTTClient(DEVICE_ID, BROKER, port=PORT, keepalive=KEEPALIVE_S)
    # clean_session=False: the same client id finds its session (and any subscriptions) again after a
    # reconnect. Cairn keeps it for mqtt.maxSessionExpirySec (7 days by default).
    client.connect(clean_session=False)
    return client


def main():
    seq = Sequence()
    backlog = []  # readings not acknowledged yet, oldest first
    client = None
    backoff_s = 1
    last_sent = time.ticks_ms()
    next_reading = time.ticks_ms()
    while True:
        if time.ticks_diff(time.ticks_ms(), next_reading) >= 0:
            next_reading = time.ticks_add(next_reading, INTERVAL_S * 1000)
            ts = (time.time() + epoch_offset_s()) * 1000
            backlog.append(json.dumps({"device": DEVICE_ID, "seq": seq.next(), "ts": ts, "value": read_sensor()}))
            if len(backlog) > MAX_BACKLOG:
                backlog.pop(0)  # offline too long: the oldest reading gives way
        try:
            if client is None:
                if not wifi_up():
                    raise OSError("no wifi")
                client = connect()
                backoff_s = 1
            while backlog:
                if client.pid >= 65535:
                    client.pid = 0
                client.sock.settimeout(ACK_TIMEOUT_S)
                client.publish(TOPIC, backlog[0], qos=1)  # returns after the PUBACK
                backlog.pop(0)
                last_sent = time.ticks_ms()
            if time.ticks_diff(time.ticks_ms(), last_sent) > KEEPALIVE_S * 500:
                client.ping()
                last_sent = time.ticks_ms()
        except (OSError, MQTTException, AssertionError) as error:
            # OSError: the link; MQTTException: CONNACK refused; AssertionError: umqtt.simple's answer to
            # a packet it did not expect. Each way, a fresh connection.
            print("link down (%s), retrying in %d s" % (error, backoff_s))
            if client is not None:
                try:
                    client.sock.close()
                except OSError:
                    pass
            client = None
            time.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, 60)
            continue
        time.sleep_ms(max(0, time.ticks_diff(next_reading, time.ticks_ms())))


main()
