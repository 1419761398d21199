// The headers of core/cpu/isa/ are compiled once per instruction set: a
// translation unit defines TENSOROPS_CPU_ISA, the namespace of its
// instruction set (generic, avx2, avx512), and includes them; everything they
// define lands in tensorops::cpu::TENSOROPS_CPU_ISA (see
// core/cpu/topk_kernel.cc for the dispatch between them). Each of them includes
// this header first.
#ifndef TENSOROPS_CPU_ISA
#error "define TENSOROPS_CPU_ISA (the instruction set) before this header"
#endif
