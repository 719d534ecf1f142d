// DebugLog for the SparkFun Edge (TARGET=sparkfun_edge): formats with newlib's vsnprintf and
// prints on the board's USB serial console (115200 baud) through the BSP's UART printf.
// Written for tflm-build; replaces tensorflow/lite/micro/debug_log.cc.
#include "tensorflow/lite/micro/debug_log.h"

#include <cstdio>

#include "board.h"

extern "C" void DebugLog(const char* format, va_list args) {
#ifndef TF_LITE_STRIP_ERROR_STRINGS
  // am_util_stdio prints through a 256-byte buffer of its own: never hand it more.
  char line[256];
  vsnprintf(line, sizeof(line), format, args);
  tflm_edge_console_write(line);
#endif
}

#ifndef TF_LITE_STRIP_ERROR_STRINGS
// Only called from MicroVsnprintf (micro_log.h).
extern "C" int DebugVsnprintf(char* buffer, size_t buf_size, const char* format, va_list vlist) {
  return vsnprintf(buffer, buf_size, format, vlist);
}
#endif
