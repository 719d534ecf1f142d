// DebugLog for Mbed (TARGET=mbed), written for tflm-build.
// Mbed retargets stdio to the board's console serial port (USBTX/USBRX: on most boards the
// debug probe's virtual COM port) at platform.stdio-baud-rate (mbed_app.json5).
#include "tensorflow/lite/micro/debug_log.h"

#ifndef TF_LITE_STRIP_ERROR_STRINGS
#include <cstdio>
#endif

extern "C" void DebugLog(const char* format, va_list args) {
#ifndef TF_LITE_STRIP_ERROR_STRINGS
  vprintf(format, args);
#endif
}

#ifndef TF_LITE_STRIP_ERROR_STRINGS
extern "C" int DebugVsnprintf(char* buffer, size_t buf_size, const char* format, va_list vlist) {
  return vsnprintf(buffer, buf_size, format, vlist);
}
#endif
