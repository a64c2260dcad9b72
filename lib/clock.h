#ifndef BLLM_CLOCK_H
#define BLLM_CLOCK_H
/* The clocks every module reads: one place, so durations and timeouts agree. */

/* Seconds on the monotonic clock (durations, deadlines). */
double clock_mono_s(void);
/* Milliseconds on the monotonic clock. */
double clock_mono_ms(void);
/* Seconds since the epoch (ages of files, TTLs). */
double clock_real_s(void);

#endif
