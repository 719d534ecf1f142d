// DebugLog through the C library's stdout, written for tflm-build.
// Shared by targets whose SDK retargets stdio to the console: ESP-IDF (UART0 or
// USB-Serial-JTAG, as sdkconfig chooses) and Mbed (the board's USBTX/USBRX serial at
// platform.stdio-baud-rate).
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
