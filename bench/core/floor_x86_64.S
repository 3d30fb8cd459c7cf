/* bench/core/floor_x86_64.S - the floor of the core benchmark: the least an x86-64 System V
   context switch between two C stacks can do.

   A switch is an ordinary call, so the ABI lets it clobber every caller-saved register and the
   FPU/SSE data registers: it must keep only the callee-saved rbx, rbp, r12-r15, the stack
   pointer and the return address. Nothing else is saved here: no MXCSR or x87 control word
   (the ABI calls their control bits callee-saved, coro.h and Boost keep them, the floor does
   not), no checks, no bookkeeping. Two variants differ only in how they leave:

     void *floor_switch_ret(void **save_sp, void *load_sp, void *value)
         push the six registers, store rsp in *save_sp, load load_sp, pop, ret: the textbook
         shape. The ret returns to a different call site than the call that entered, so the
         CPU's return-stack predictor misses on every switch.
     void *floor_switch_jmp(void **save_sp, void *load_sp, void *value)
         the same, but the resume address is popped into a scratch register and reached with
         an indirect jmp, which the branch target predictor learns. Same state saved.

   And one reference that is not the floor: floor_switch_fpu is floor_switch_jmp plus what
   coro.h's default does with the FPU control state: store MXCSR and the x87 control word in
   the frame, load the target's MXCSR, and its x87 control word only when it differs from ours.
   MXCSR is never read back to compare: stmxcsr is microcoded on some CPUs (about 4 ns on AMD
   Zen 4 and 5), and a comparison would wait for it (it doubles the switch there). Its
   distance from floor_switch_jmp is what keeping the control words costs on this CPU, and it
   is the least any switch can take that keeps them as coro.h does (and Boost fcontext).

   All return `value` (passed by whoever switches back to us) in rax. A new context is a
   7-word frame built by fl_ctx_init (bench_core.c): r15 r14 r13=arg r12=fn rbx rbp
   ret=floor_entry, lowest address first, its top 16-byte aligned; floor_switch_fpu's has an
   eighth word, MXCSR and the x87 control word, between rbp and ret. floor_entry calls
   fn(arg, value); fn must never return (it switches away for the last time instead). */

    .text

    .globl floor_switch_ret
    .type floor_switch_ret, @function
    .p2align 4
floor_switch_ret:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    movq %rdx, %rax
    ret
    .size floor_switch_ret, .-floor_switch_ret

    .globl floor_switch_jmp
    .type floor_switch_jmp, @function
    .p2align 4
floor_switch_jmp:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    popq %rcx               /* the resume address: rcx is caller-saved, free to use */
    movq %rdx, %rax
    jmpq *%rcx
    .size floor_switch_jmp, .-floor_switch_jmp

    .globl floor_switch_fpu
    .type floor_switch_fpu, @function
    .p2align 4
floor_switch_fpu:
    subq $8, %rsp
    stmxcsr (%rsp)          /* the only way to read MXCSR is through memory */
    fnstcw 4(%rsp)
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movzwl 52(%rsp), %r9d   /* our x87 control word, read back (cheap, unlike MXCSR) */
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ldmxcsr (%rsp)          /* the target's MXCSR, unconditionally */
    cmpw 4(%rsp), %r9w
    jne 2f
1:  addq $8, %rsp
    popq %rcx
    movq %rdx, %rax
    jmpq *%rcx
2:  fldcw 4(%rsp)           /* the target's x87 control word, only when it differs */
    jmp 1b
    .size floor_switch_fpu, .-floor_switch_fpu

    /* First entry of a new context: rsp is 16-byte aligned here, so the call below enters fn
       with the alignment the ABI promises. */
    .globl floor_entry
    .type floor_entry, @function
    .p2align 4
floor_entry:
    .byte 0xf3, 0x0f, 0x1e, 0xfa /* endbr64: floor_switch_jmp reaches us by an indirect jmp */
    movq %r13, %rdi
    movq %rax, %rsi
    callq *%r12
    ud2                     /* fn returned: a bug in the benchmark */
    .size floor_entry, .-floor_entry

    .section .note.GNU-stack, "", @progbits
