// Selection kernels for any x86-64 (SSE2) or other processor.
#define TENSOROPS_CPU_ISA generic
#include "core/cpu/isa/selection_dispatch.h"
