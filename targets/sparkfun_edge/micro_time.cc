// Ticks for TFLM's profiler on the SparkFun Edge (TARGET=sparkfun_edge): CTIMER 0 as one 32-bit
// counter at 12 MHz (wraps after about 358 s).  Written for tflm-build; replaces
// tensorflow/lite/micro/micro_time.cc.
#include "tensorflow/lite/micro/micro_time.h"

#include "board.h"

namespace tflite {

uint32_t ticks_per_second() { return tflm_edge_ticks_per_second(); }

uint32_t GetCurrentTimeTicks() { return tflm_edge_ticks(); }

}  // namespace tflite
