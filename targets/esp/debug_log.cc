// DebugLog for ESP-IDF (TARGET=esp), written for tflm-build.
// TFLM's log lines (MicroPrintf) go to the IDF console through printf: UART0 or the
// USB-Serial-JTAG port, as the project's sdkconfig chooses.
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
