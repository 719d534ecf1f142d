// InitializeTarget for the SparkFun Edge (TARGET=sparkfun_edge): 48 MHz, flash cache, low-power
// defaults, console UART and tick timer on.  Written for tflm-build; replaces
// tensorflow/lite/micro/system_setup.cc.
#include "tensorflow/lite/micro/system_setup.h"

#include "board.h"

namespace tflite {

void InitializeTarget() { tflm_edge_init(); }

}  // namespace tflite
