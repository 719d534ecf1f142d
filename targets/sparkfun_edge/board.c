/*
 * SparkFun Edge board services for TFLM programs (TARGET=sparkfun_edge): console, tick counter,
 * start-up configuration and the few newlib system calls a bare-metal program needs.
 * Written for tflm-build on top of the Apollo3 HAL and the Edge BSP.
 */
#include "board.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "am_bsp.h"
#include "am_mcu_apollo.h"
#include "am_util_stdio.h"

/* CTIMER 0 with its A and B halves linked into one 32-bit counter, clocked by HFRC / 4. */
#define TICK_TIMER 0
#define TICK_RATE_HZ 12000000u

static bool initialised;
static bool console_on;
static bool timer_on;

static void console_enable(void) {
  if (!console_on) {
    console_on = true;
    am_bsp_uart_printf_enable();
    am_util_stdio_textmode_set(true); /* "\n" -> "\r\n" for serial terminals */
  }
}

static void timer_enable(void) {
  if (!timer_on) {
    timer_on = true;
    am_hal_ctimer_config_single(TICK_TIMER, AM_HAL_CTIMER_BOTH,
                                AM_HAL_CTIMER_FN_CONTINUOUS | AM_HAL_CTIMER_HFRC_12MHZ);
    am_hal_ctimer_start(TICK_TIMER, AM_HAL_CTIMER_BOTH);
  }
}

void tflm_edge_init(void) {
  if (initialised) {
    return;
  }
  initialised = true;
  am_hal_clkgen_control(AM_HAL_CLKGEN_CONTROL_SYSCLK_MAX, 0);
  am_hal_cachectrl_config(&am_hal_cachectrl_defaults);
  am_hal_cachectrl_enable();
  am_bsp_low_power_init();
  console_enable();
  timer_enable();
}

/* am_util_stdio_printf formats into a buffer of AM_PRINTF_BUFSIZE (256) bytes without a bound
 * check, and text mode may double every newline: print in pieces that fit even then. */
#define CONSOLE_PIECE ((AM_PRINTF_BUFSIZE - 1) / 2)

void tflm_edge_console_write(const char* text) {
  console_enable();
  char piece[CONSOLE_PIECE + 1];
  while (*text != '\0') {
    size_t n = 0;
    while (n < CONSOLE_PIECE && text[n] != '\0') {
      piece[n] = text[n];
      ++n;
    }
    piece[n] = '\0';
    am_util_stdio_printf("%s", piece);
    text += n;
  }
}

uint32_t tflm_edge_ticks(void) {
  timer_enable();
  return am_hal_ctimer_read(TICK_TIMER, AM_HAL_CTIMER_BOTH);
}

uint32_t tflm_edge_ticks_per_second(void) { return TICK_RATE_HZ; }

/* ---- newlib system calls -------------------------------------------------------------------
 * Defined here instead of linking libnosys, whose stubs make the linker warn (and the build
 * links with --fatal-warnings).  stdout and stderr go to the console UART, so printf works as
 * on a host; there is no input and no file system.  The heap runs from `end` (after .bss) to
 * the stack's limit. */

int _write(int fd, const char* data, int length) {
  if (fd != 1 && fd != 2) {
    errno = EBADF;
    return -1;
  }
  char piece[CONSOLE_PIECE + 1];
  for (int done = 0; done < length;) {
    int n = 0;
    while (n < CONSOLE_PIECE && done + n < length && data[done + n] != '\0') {
      piece[n] = data[done + n];
      ++n;
    }
    piece[n] = '\0';
    tflm_edge_console_write(piece);
    done += n > 0 ? n : 1; /* a NUL byte cannot travel through a C string: skip it */
  }
  return length;
}

int _read(int fd, char* data, int length) {
  (void)fd;
  (void)data;
  (void)length;
  return 0; /* end of file */
}

int _close(int fd) {
  (void)fd;
  errno = EBADF;
  return -1;
}

int _fstat(int fd, struct stat* status) {
  (void)fd;
  status->st_mode = S_IFCHR; /* a terminal: newlib then buffers stdout by line */
  return 0;
}

int _isatty(int fd) { return fd >= 0 && fd <= 2; }

int _lseek(int fd, int offset, int whence) {
  (void)fd;
  (void)offset;
  (void)whence;
  errno = ESPIPE;
  return -1;
}

extern char end[];
extern char __stack_limit__[];

void* _sbrk(ptrdiff_t increment) {
  static char* brk = end;
  if (increment > __stack_limit__ - brk || increment < end - brk) {
    errno = ENOMEM;
    return (void*)-1;
  }
  char* previous = brk;
  brk += increment;
  return previous;
}

/* There is nothing to return to: a program that ends (or aborts) waits for a reset. */
void _exit(int status) {
  (void)status;
  for (;;) {
    __asm__ volatile("wfi");
  }
}

int _kill(int pid, int sig) {
  (void)pid;
  (void)sig;
  errno = EINVAL;
  return -1;
}

int _getpid(void) { return 1; }
