/*
 * Bare-metal startup for TFLM programs run under qemu-system-arm (TARGET=cortex_m_qemu).
 *
 * Written for tflm-build.  Works for Armv6-M, Armv7-M, Armv8-M Mainline and
 * Armv8.1-M; the machine's memory map comes from the linker script
 * (targets/cortex_m_qemu/<machine>.ld), which must define:
 *   __stack_top__               initial main stack pointer (top of RAM)
 *   __stack_limit__             lowest address of the stack (the heap stops here)
 *   __data_load__               where the .data image sits in flash
 *   __data_start__/__data_end__ where .data lives in RAM
 *   __bss_start__/__bss_end__   the zero-initialised region
 *   end / __end__               first free byte after .bss (newlib's _sbrk starts here)
 *
 * Input and output go through Arm semihosting (newlib's librdimon, linked with
 * --specs=rdimon.specs -nostartfiles), so QEMU must run with
 * "-semihosting-config enable=on,target=native".  The value main() returns
 * becomes QEMU's exit status (exit() -> rdimon's _exit -> SYS_EXIT_EXTENDED).
 *
 * A fault (HardFault, MemManage, BusFault, UsageFault, SecureFault, NMI or any
 * unexpected interrupt) prints one line on the semihosting console and makes
 * QEMU exit with status 128 + exception number (HardFault: 131,
 * UsageFault: 134, ...), so a crashed test fails instead of hanging.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Armv7-M and later Mainline cores have the configurable fault status registers. */
#if !defined(__ARM_ARCH_6M__) && !defined(__ARM_ARCH_8M_BASE__)
#define TFLM_QEMU_HAS_CFSR 1
#endif

/* Armv8-M Mainline has a stack limit register: a stack overflow faults. */
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
#define TFLM_QEMU_HAS_MSPLIM 1
#endif

/* FP and MVE instructions (MVE even for integers) need CP10/CP11 enabled. */
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
#define TFLM_QEMU_ENABLE_FPU 1
#endif

/* Symbols from the linker script. */
extern uint32_t __stack_top__[];
extern uint32_t __stack_limit__[];
extern uint32_t __data_load__[];
extern uint32_t __data_start__[];
extern uint32_t __data_end__[];
extern uint32_t __bss_start__[];
extern uint32_t __bss_end__[];

/* From newlib / librdimon / the program. */
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern int main(int argc, char** argv);
/* rdimon's _sbrk refuses to grow the heap past this value (0xcafedead = "no limit");
 * rdimon's own crt0 fills it in, we link with -nostartfiles so we do. */
extern uint32_t __heap_limit;

/* System control block registers used here. */
#define SCB_CPACR (*(volatile uint32_t*)0xE000ED88u)
#define SCB_CFSR (*(volatile uint32_t*)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t*)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t*)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t*)0xE000ED38u)

/* ---- semihosting, used directly only when things went wrong ---------------- */

#define SEMIHOSTING_SYS_WRITE0 0x04
#define SEMIHOSTING_SYS_EXIT 0x18
#define SEMIHOSTING_SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static uint32_t semihost(uint32_t op, const void* arg) {
  register uint32_t r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static void semihost_exit(uint32_t code) __attribute__((noreturn));
static void semihost_exit(uint32_t code) {
  const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, code};
  semihost(SEMIHOSTING_SYS_EXIT_EXTENDED, block);
  /* A debugger without the extended call: plain SYS_EXIT reports "failure". */
  semihost(SEMIHOSTING_SYS_EXIT, (const void*)0x20023u /* ADP_Stopped_RunTimeErrorUnknown */);
  for (;;) {
  }
}

static char* append(char* out, const char* text) {
  while (*text != '\0') {
    *out++ = *text++;
  }
  return out;
}

static char* append_hex(char* out, uint32_t value) {
  static const char digits[] = "0123456789abcdef";
  out = append(out, "0x");
  for (int shift = 28; shift >= 0; shift -= 4) {
    *out++ = digits[(value >> shift) & 0xFu];
  }
  return out;
}

static char* append_decimal(char* out, uint32_t value) {
  char digits[10];
  int count = 0;
  do {
    digits[count++] = (char)('0' + value % 10u);
    value /= 10u;
  } while (value != 0u);
  while (count > 0) {
    *out++ = digits[--count];
  }
  return out;
}

static const char* exception_name(uint32_t number) {
  switch (number) {
    case 2: return "NMI";
    case 3: return "HardFault";
    case 4: return "MemManage";
    case 5: return "BusFault";
    case 6: return "UsageFault";
    case 7: return "SecureFault";
    case 11: return "SVCall";
    case 12: return "DebugMonitor";
    case 14: return "PendSV";
    case 15: return "SysTick";
    default: return number >= 16 ? "unexpected interrupt" : "reserved exception";
  }
}

/* Called by Fault_Handler with the exception stack frame (r0-r3, r12, lr, pc, xpsr). */
void tflm_qemu_fault(const uint32_t* frame) __attribute__((noreturn, used));
void tflm_qemu_fault(const uint32_t* frame) {
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  const uint32_t number = ipsr & 0x1FFu;
  char line[200];
  char* out = append(line, "\n*** ");
  out = append(out, exception_name(number));
  out = append(out, " (exception ");
  out = append_decimal(out, number);
  out = append(out, "): pc=");
  out = append_hex(out, frame[6]);
  out = append(out, " lr=");
  out = append_hex(out, frame[5]);
#ifdef TFLM_QEMU_HAS_CFSR
  out = append(out, " cfsr=");
  out = append_hex(out, SCB_CFSR);
  out = append(out, " hfsr=");
  out = append_hex(out, SCB_HFSR);
  out = append(out, " mmfar=");
  out = append_hex(out, SCB_MMFAR);
  out = append(out, " bfar=");
  out = append_hex(out, SCB_BFAR);
#endif
  out = append(out, "\n");
  *out = '\0';
  semihost(SEMIHOSTING_SYS_WRITE0, line);
  semihost_exit(128u + number);
}

/* Every fault and unexpected interrupt lands here: hand the stacked frame to C. */
void Fault_Handler(void) __attribute__((naked));
void Fault_Handler(void) {
  __asm__ volatile(
      "mov r0, sp\n"
      "ldr r1, =tflm_qemu_fault\n"
      "bx r1\n"
      ".ltorg\n");
}

/* Weak, so a program may define its own handlers. */
#define ALIAS_FAULT __attribute__((weak, alias("Fault_Handler")))
void NMI_Handler(void) ALIAS_FAULT;
void HardFault_Handler(void) ALIAS_FAULT;
void MemManage_Handler(void) ALIAS_FAULT;
void BusFault_Handler(void) ALIAS_FAULT;
void UsageFault_Handler(void) ALIAS_FAULT;
void SecureFault_Handler(void) ALIAS_FAULT;
void SVC_Handler(void) ALIAS_FAULT;
void DebugMon_Handler(void) ALIAS_FAULT;
void PendSV_Handler(void) ALIAS_FAULT;
void SysTick_Handler(void) ALIAS_FAULT;
void Default_Handler(void) ALIAS_FAULT;

void Reset_Handler(void) __attribute__((noreturn));

typedef void (*vector_t)(void);

/* 16 system vectors + 32 interrupts (we enable none); VTOR needs 256-byte alignment. */
__attribute__((section(".vectors"), used, aligned(256)))
const vector_t tflm_qemu_vectors[16 + 32] = {
    (vector_t)__stack_top__,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    SecureFault_Handler,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
    [16 ... 47] = Default_Handler,
};

/* crti.o/crtn.o and crtbegin.o are not linked (-nostartfiles); __libc_init_array
 * calls _init, the C++ runtime registers destructors against __dso_handle. */
__attribute__((weak)) void _init(void) {}
__attribute__((weak)) void _fini(void) {}
__attribute__((weak)) void* __dso_handle = 0;

void Reset_Handler(void) {
#ifdef TFLM_QEMU_HAS_MSPLIM
  __asm__ volatile("msr msplim, %0" : : "r"(__stack_limit__));
#endif
#ifdef TFLM_QEMU_ENABLE_FPU
  /* CP10 and CP11 full access, before any FP/MVE instruction can run. */
  SCB_CPACR |= (0xFu << 20);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
#ifdef TFLM_QEMU_HAS_CFSR
  /* Report MemManage, BusFault and UsageFault as themselves, not as HardFault. */
  (*(volatile uint32_t*)0xE000ED24u) |= (1u << 16) | (1u << 17) | (1u << 18);
#endif

  /* Volatile word loops: the compiler cannot turn them into memcpy/memset calls (the C library
   * is not set up yet) or into vector code. */
  const volatile uint32_t* from = __data_load__;
  for (volatile uint32_t* to = __data_start__; to < __data_end__;) {
    *to++ = *from++;
  }
  for (volatile uint32_t* to = __bss_start__; to < __bss_end__;) {
    *to++ = 0;
  }
  __heap_limit = (uint32_t)__stack_limit__;

  initialise_monitor_handles();
  __libc_init_array();
  static char* argv[] = {NULL};
  exit(main(0, argv));
}
