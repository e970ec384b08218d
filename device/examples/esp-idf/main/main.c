// A sensor on ESP-IDF (v5.x) with its MQTT client, esp-mqtt: one reading every
// CONFIG_CAIRN_INTERVAL_MS to sensors/<device id>/temp at QoS 1, in the JSON format of
// device/simulator ({"device","seq","ts","value"}).
//
// - Persistent session (disable_clean_session) and a client id made from the MAC: the same device
//   always comes back as the same client and finds its session.
// - Every reading goes through esp_mqtt_client_enqueue(..., store = true): into esp-mqtt's outbox,
//   connected or not. A QoS 1 message stays there until its PUBACK and is sent again after a
//   reconnect; MQTT_EVENT_PUBLISHED reports the PUBACK. Cairn commits a message to its log before it
//   sends the PUBACK, so an acknowledged reading is stored. If only the PUBACK was lost, the resend is
//   stored a second time (QoS 1 is at least once); the seq lets the receiver drop the copy.
// - The outbox is bounded (MAX_OUTBOX_BYTES): during a long outage the sensor task stops adding
//   readings rather than exhausting the heap, and counts them as skipped. sdkconfig.defaults raises
//   esp-mqtt's outbox expiry from 30 s to an hour.
// - The keepalive (60 s) is what notices a link that died without a word; esp-mqtt sends the pings.
// - The sequence number survives a reboot without an NVS write per reading: NVS holds a value
//   SEQ_STRIDE ahead, so a reboot skips at most SEQ_STRIDE numbers (a gap, never a repeat).
//
// Not built by the test suite (it needs the ESP-IDF toolchain); device/examples/python/sensor.py does
// the same against a real broker in the tests.
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_netif_sntp.h"
#include "esp_random.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "mqtt_client.h"
#include "nvs.h"
#include "nvs_flash.h"
#include "protocol_examples_common.h"

#define KEEPALIVE_SEC 60
#define SEQ_STRIDE 100
#define MAX_OUTBOX_BYTES (32 * 1024)

static const char *TAG = "cairn-sensor";
static char device_id[24];
static char topic[64];
static volatile uint32_t acked;
static uint32_t skipped;

static nvs_handle_t nvs;
static uint32_t seq, seq_saved;

static void seq_save(uint32_t value) {
    ESP_ERROR_CHECK(nvs_set_u32(nvs, "seq", value));
    ESP_ERROR_CHECK(nvs_commit(nvs));
    seq_saved = value;
}

static uint32_t seq_next(void) {
    if (++seq >= seq_saved) seq_save(seq + SEQ_STRIDE);
    return seq;
}

// Replace with the real sensor; a random walk around 21.5 stands in for it.
static float read_sensor(void) {
    static float value = 21.5f;
    value += ((float)(esp_random() % 100) - 49.5f) / 200.0f;
    return value;
}

static int64_t now_ms(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void on_mqtt_event(void *arg, esp_event_base_t base, int32_t id, void *data) {
    esp_mqtt_event_handle_t event = data;
    switch ((esp_mqtt_event_id_t)id) {
    case MQTT_EVENT_CONNECTED:
        ESP_LOGI(TAG, "connected, session present: %d", event->session_present);
        break;
    case MQTT_EVENT_DISCONNECTED:
        ESP_LOGW(TAG, "disconnected; esp-mqtt reconnects and resends what is not acknowledged");
        break;
    case MQTT_EVENT_PUBLISHED:  // the PUBACK of message event->msg_id
        acked++;
        break;
    case MQTT_EVENT_DELETED:  // expired in the outbox before it was acknowledged: that reading is lost
        ESP_LOGE(TAG, "message %d expired in the outbox", event->msg_id);
        break;
    case MQTT_EVENT_ERROR:
        ESP_LOGE(TAG, "mqtt error type %d", event->error_handle->error_type);
        break;
    default:
        break;
    }
}

void app_main(void) {
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
    ESP_ERROR_CHECK(nvs_open("cairn", NVS_READWRITE, &nvs));
    if (nvs_get_u32(nvs, "seq", &seq) != ESP_OK) seq = 0;
    seq_save(seq + SEQ_STRIDE);

    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());
    ESP_ERROR_CHECK(example_connect());
    esp_sntp_config_t sntp = ESP_NETIF_SNTP_DEFAULT_CONFIG("pool.ntp.org");
    esp_netif_sntp_init(&sntp);
    if (esp_netif_sntp_sync_wait(pdMS_TO_TICKS(10000)) != ESP_OK) ESP_LOGW(TAG, "no NTP time yet");

    uint8_t mac[6];
    ESP_ERROR_CHECK(esp_read_mac(mac, ESP_MAC_WIFI_STA));
    snprintf(device_id, sizeof device_id, "esp-%02x%02x%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
    snprintf(topic, sizeof topic, "sensors/%s/temp", device_id);

    const esp_mqtt_client_config_t config = {
        .broker.address.uri = CONFIG_CAIRN_BROKER_URI,
        .credentials.client_id = device_id,
        .session.keepalive = KEEPALIVE_SEC,
        .session.disable_clean_session = true,
        .network.reconnect_timeout_ms = 2000,
        .network.timeout_ms = 10000,
    };
    esp_mqtt_client_handle_t client = esp_mqtt_client_init(&config);
    ESP_ERROR_CHECK(esp_mqtt_client_register_event(client, ESP_EVENT_ANY_ID, on_mqtt_event, NULL));
    ESP_ERROR_CHECK(esp_mqtt_client_start(client));

    char payload[128];
    TickType_t wake = xTaskGetTickCount();
    for (;;) {
        if (esp_mqtt_client_get_outbox_size(client) > MAX_OUTBOX_BYTES) {
            skipped++;  // offline too long: keep what is queued, drop this reading
        } else {
            int len = snprintf(payload, sizeof payload, "{\"device\":\"%s\",\"seq\":%" PRIu32 ",\"ts\":%" PRId64
                               ",\"value\":%.2f}", device_id, seq_next(), now_ms(), read_sensor());
            if (esp_mqtt_client_enqueue(client, topic, payload, len, 1, 0, true) < 0) skipped++;
        }
        ESP_LOGD(TAG, "seq %" PRIu32 " acked %" PRIu32 " skipped %" PRIu32, seq, acked, skipped);
        vTaskDelayUntil(&wake, pdMS_TO_TICKS(CONFIG_CAIRN_INTERVAL_MS));
    }
}
