/*
 * Start-up code for TFLM programs on the SparkFun Edge (Ambiq Apollo3 Blue, Cortex-M4F),
 * TARGET=sparkfun_edge.  Written for tflm-build.
 *
 * The SparkFun bootloader (flash 0x0000-0xBFFF) starts the application at 0xC000 the way the
 * core starts after reset: stack pointer from the first word, then the reset vector.  The
 * linker script (apollo3_app_0xc000.ld) puts the vector table below first in the image and
 * defines __stack_top__, __data_load__/__data_start__/__data_end__ and __bss_start__/__bss_end__.
 *
 * Interrupt handlers use the AmbiqSuite names (am_ctimer_isr, am_uart_isr, ...), weak, so code
 * written for the SDK's examples links unchanged; none is enabled by TFLM's glue.
 */
#include <stdint.h>

extern uint32_t __stack_top__[];
extern uint32_t __data_load__[];
extern uint32_t __data_start__[];
extern uint32_t __data_end__[];
extern uint32_t __bss_start__[];
extern uint32_t __bss_end__[];

extern void __libc_init_array(void);
extern int main(int argc, char** argv);

#define SCB_VTOR (*(volatile uint32_t*)0xE000ED08u)
#define SCB_CPACR (*(volatile uint32_t*)0xE000ED88u)

/* An unexpected exception or interrupt stops here, where a debugger finds it. */
void Default_Handler(void) {
  for (;;) {
  }
}

#define WEAK_DEFAULT __attribute__((weak, alias("Default_Handler")))
void NMI_Handler(void) WEAK_DEFAULT;
void HardFault_Handler(void) WEAK_DEFAULT;
void MemManage_Handler(void) WEAK_DEFAULT;
void BusFault_Handler(void) WEAK_DEFAULT;
void UsageFault_Handler(void) WEAK_DEFAULT;
void SVC_Handler(void) WEAK_DEFAULT;
void DebugMon_Handler(void) WEAK_DEFAULT;
void PendSV_Handler(void) WEAK_DEFAULT;
void SysTick_Handler(void) WEAK_DEFAULT;
/* Apollo3 interrupts 0-31, in IRQ number order. */
void am_brownout_isr(void) WEAK_DEFAULT;
void am_watchdog_isr(void) WEAK_DEFAULT;
void am_rtc_isr(void) WEAK_DEFAULT;
void am_vcomp_isr(void) WEAK_DEFAULT;
void am_ioslave_ios_isr(void) WEAK_DEFAULT;
void am_ioslave_acc_isr(void) WEAK_DEFAULT;
void am_iomaster0_isr(void) WEAK_DEFAULT;
void am_iomaster1_isr(void) WEAK_DEFAULT;
void am_iomaster2_isr(void) WEAK_DEFAULT;
void am_iomaster3_isr(void) WEAK_DEFAULT;
void am_iomaster4_isr(void) WEAK_DEFAULT;
void am_iomaster5_isr(void) WEAK_DEFAULT;
void am_ble_isr(void) WEAK_DEFAULT;
void am_gpio_isr(void) WEAK_DEFAULT;
void am_ctimer_isr(void) WEAK_DEFAULT;
void am_uart_isr(void) WEAK_DEFAULT;
void am_uart1_isr(void) WEAK_DEFAULT;
void am_scard_isr(void) WEAK_DEFAULT;
void am_adc_isr(void) WEAK_DEFAULT;
void am_pdm0_isr(void) WEAK_DEFAULT;
void am_mspi0_isr(void) WEAK_DEFAULT;
void am_software0_isr(void) WEAK_DEFAULT;
void am_stimer_isr(void) WEAK_DEFAULT;
void am_stimer_cmpr0_isr(void) WEAK_DEFAULT;
void am_stimer_cmpr1_isr(void) WEAK_DEFAULT;
void am_stimer_cmpr2_isr(void) WEAK_DEFAULT;
void am_stimer_cmpr3_isr(void) WEAK_DEFAULT;
void am_stimer_cmpr4_isr(void) WEAK_DEFAULT;
void am_stimer_cmpr5_isr(void) WEAK_DEFAULT;
void am_stimer_cmpr6_isr(void) WEAK_DEFAULT;
void am_stimer_cmpr7_isr(void) WEAK_DEFAULT;
void am_clkgen_isr(void) WEAK_DEFAULT;

void Reset_Handler(void) __attribute__((noreturn));

typedef void (*vector_t)(void);

/* 16 system vectors + 32 interrupts = 192 bytes; VTOR needs the table 256-byte aligned. */
__attribute__((section(".vectors"), used, aligned(256)))
const vector_t tflm_edge_vectors[16 + 32] = {
    (vector_t)__stack_top__,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
    am_brownout_isr,
    am_watchdog_isr,
    am_rtc_isr,
    am_vcomp_isr,
    am_ioslave_ios_isr,
    am_ioslave_acc_isr,
    am_iomaster0_isr,
    am_iomaster1_isr,
    am_iomaster2_isr,
    am_iomaster3_isr,
    am_iomaster4_isr,
    am_iomaster5_isr,
    am_ble_isr,
    am_gpio_isr,
    am_ctimer_isr,
    am_uart_isr,
    am_uart1_isr,
    am_scard_isr,
    am_adc_isr,
    am_pdm0_isr,
    am_mspi0_isr,
    am_software0_isr,
    am_stimer_isr,
    am_stimer_cmpr0_isr,
    am_stimer_cmpr1_isr,
    am_stimer_cmpr2_isr,
    am_stimer_cmpr3_isr,
    am_stimer_cmpr4_isr,
    am_stimer_cmpr5_isr,
    am_stimer_cmpr6_isr,
    am_stimer_cmpr7_isr,
    am_clkgen_isr,
};

/* -nostartfiles drops crti/crtn and crtbegin: __libc_init_array calls _init, and C++ static
 * destructors register against __dso_handle. */
__attribute__((weak)) void _init(void) {}
__attribute__((weak)) void _fini(void) {}
__attribute__((weak)) void* __dso_handle = 0;

void Reset_Handler(void) {
  /* The bootloader may leave VTOR at its own table: interrupts must come to ours. */
  SCB_VTOR = (uint32_t)tflm_edge_vectors;
  /* CP10/CP11 full access before any floating-point instruction (the build is hard float). */
  SCB_CPACR |= (0xFu << 20);
  __asm__ volatile("dsb\n\tisb" ::: "memory");

  /* Volatile word loops: the compiler must not turn them into library calls, which are not
   * usable before .data and .bss exist. */
  const volatile uint32_t* from = __data_load__;
  for (volatile uint32_t* to = __data_start__; to < __data_end__;) {
    *to++ = *from++;
  }
  for (volatile uint32_t* to = __bss_start__; to < __bss_end__;) {
    *to++ = 0;
  }

  __libc_init_array();
  static char* argv[] = {0};
  (void)main(0, argv);
  for (;;) {
    __asm__ volatile("wfi");
  }
}
