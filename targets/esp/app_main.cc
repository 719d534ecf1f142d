// app_main for ESP-IDF (TARGET=esp), written for tflm-build.
//
// ESP-IDF starts an application at app_main().  The example's sources are compiled with
// -Dmain=tflm_example_main (main/CMakeLists.txt), so this file calls, in order of preference:
// the example's setup() then loop() forever (Arduino-style examples), or its main, whichever
// of main(int, char**) and main() it defines.  The weak declarations resolve to null for
// what the example does not define.
#include <cstdio>

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

void setup() __attribute__((weak));
void loop() __attribute__((weak));
int tflm_example_main(int argc, char* argv[]) __attribute__((weak));
int tflm_example_main() __attribute__((weak));

extern "C" void app_main(void) {
  if (setup != nullptr && loop != nullptr) {
    setup();
    for (;;) {
      loop();
      vTaskDelay(1);  // let the idle task run, or the task watchdog fires
    }
  }
  int (*with_args)(int, char*[]) = tflm_example_main;
  int (*without_args)() = tflm_example_main;
  static char name[] = "tflm";
  char* argv[] = {name, nullptr};
  int status = with_args != nullptr ? with_args(1, argv) : without_args != nullptr ? without_args() : -1;
  std::printf("example finished with status %d\n", status);
}
