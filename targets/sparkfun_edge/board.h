/*
 * The SparkFun Edge board services TFLM's glue needs, in C (board.c), so that the C++ glue
 * never includes the Ambiq SDK's C headers.  Written for tflm-build.
 */
#ifndef TFLM_BUILD_SPARKFUN_EDGE_BOARD_H_
#define TFLM_BUILD_SPARKFUN_EDGE_BOARD_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Clocks at 48 MHz, flash cache on, unused peripherals off, UART console on.  Idempotent. */
void tflm_edge_init(void);

/* Writes a NUL-terminated string to the console UART (115200 baud), enabling it first if needed. */
void tflm_edge_console_write(const char* text);

/* Free-running 32-bit tick counter (CTIMER 0, A and B linked) and its rate. */
uint32_t tflm_edge_ticks(void);
uint32_t tflm_edge_ticks_per_second(void);

#ifdef __cplusplus
}
#endif

#endif /* TFLM_BUILD_SPARKFUN_EDGE_BOARD_H_ */
