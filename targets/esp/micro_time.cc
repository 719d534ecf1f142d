// TFLM's clock for ESP-IDF (TARGET=esp), written for tflm-build: esp_timer counts
// microseconds since boot in 64 bits; the profiler's 32-bit ticks wrap after ~71 minutes.
#include "tensorflow/lite/micro/micro_time.h"

#include "esp_timer.h"

namespace tflite {

uint32_t ticks_per_second() { return 1000000; }

uint32_t GetCurrentTimeTicks() { return static_cast<uint32_t>(esp_timer_get_time()); }

}  // namespace tflite
