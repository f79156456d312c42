// Shared by the C++ kernels of emgrt/dsp: how the hot loops are compiled.
//
// EMGRT_CLONES compiles a kernel for AVX-512, AVX2 and the baseline, chosen at load time by the
// dynamic loader (GCC/Clang function multiversioning on x86-64 Linux), so a wheel built for the
// baseline still uses the wide registers of the machine it runs on.  The build compiles every
// kernel with -ffp-contract=off: no multiply-add is ever fused, so each clone performs exactly the
// IEEE operations of the numpy reference (scipy's sosfilt and pocketfft are built without FMA on
// x86-64) and all clones agree bit for bit.
#pragma once

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(EMGRT_NO_CLONES)
#define EMGRT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EMGRT_CLONES
#endif

#if defined(__GNUC__) || defined(__clang__)
#define EMGRT_INLINE inline __attribute__((always_inline))
#define EMGRT_RESTRICT __restrict__
#else
#define EMGRT_INLINE inline
#define EMGRT_RESTRICT
#endif
