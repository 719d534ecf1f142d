// TFLM's clock for Mbed (TARGET=mbed), written for tflm-build: the HAL's microsecond ticker,
// which every Mbed target provides and which runs in bare-metal builds too.
#include "tensorflow/lite/micro/micro_time.h"

#include "hal/us_ticker_api.h"

namespace tflite {

uint32_t ticks_per_second() { return 1000000; }

uint32_t GetCurrentTimeTicks() { return us_ticker_read(); }

}  // namespace tflite
