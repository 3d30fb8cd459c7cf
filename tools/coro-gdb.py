# coro-gdb.py - gdb commands for coro.h coroutines (and coro_sched.h tasks)
#
# Load it with   gdb -x tools/coro-gdb.py ./prog      (or "source tools/coro-gdb.py" in gdb, or
# that line in ~/.gdbinit). Needs gdb 10 or later built with Python (the unwinder method: 11+).
# x86-64, i386, aarch64. Build the program with -g, at any -O level: stacks are unwound with the
# compiler's CFI. See tools/README-gdb.md for a session.
#
# COMMANDS
#   coro list [-w] [LIMIT]            (alias: info coros)
#       Every live coroutine of the selected thread, newest first, then "main" (the thread's own
#       stack): address, id, name, status, stack in use now / stack size, entry function, and
#       for coroutines spawned by coro_sched.h the task's state and what it waits on ("read fd
#       4", "sleep (2490ms)", "chan recv", "join 3", "mutex", ...). Status is running, normal
#       (it resumed another coroutine and waits for it), suspended, not started, or dead; "*"
#       marks the running one. -w adds WHERE: the innermost frame outside coro.h/coro_sched.h.
#       LIMIT caps the rows (default 1000, 0 = all). Works on core files.
#   coro bt [WHO [BT-ARGS...]]
#       Backtrace of one coroutine, from the context it saved when it switched away; BT-ARGS go
#       to "backtrace" (full, -full, a count...): "coro bt walker full", "coro bt 3 5". WHO is
#       a coroutine's name, its id (coro_id; the low 32 bits are enough), "main", or an
#       expression for its address (a coro_t * variable, 0x7ffff7dbef00). A running coroutine
#       gets a plain "backtrace". Without WHO: the resumer chain, the running coroutine, then
#       every "normal" one that waits for it, down to main.
#   coro bt all [BT-ARGS...]          (alias: coro apply-all bt [BT-ARGS...])
#       The backtrace of every coroutine that has frames (running, normal, suspended after
#       starting), and of main when main is not running.
#   coro apply WHO|all COMMAND...
#       Any gdb command in a coroutine's context: "coro apply walker frame 5", "coro apply chain
#       info locals", "coro apply all bt 1". (coro apply-all COMMAND = coro apply all COMMAND.)
#       Do not give it commands that resume the program (step, continue, call...).
#   set coro-method auto|registers|unwinder     (show coro-method)
#       How the commands above reach a suspended coroutine's frames:
#       registers  (auto's choice on a live process) frame 0 of the selected thread is made the
#                  coroutine's: its saved stack pointer, frame pointer, resume address and
#                  callee-saved registers are written into the thread's registers, the command
#                  runs, and every register is written back, also when the command fails or is
#                  interrupted (checked afterwards: a difference prints a WARNING). The other
#                  general registers hold nothing meaningful for a suspended coroutine and are 0
#                  meanwhile, so optimised code shows 0 for variables kept in them.
#       unwinder   (auto's choice on a core file, or where registers cannot be written) the
#                  registers stay untouched: a Python unwinder makes the coroutine's context the
#                  caller of frame 0, whose line is hidden; the coroutine's frames are numbered
#                  from #1, and variables whose registers were not saved show <optimized out>.
#
# HOW IT WORKS
#   The thread's state is the thread-local coro__tls_state {current, main, all} (all -> next
#   ... is the list of live coroutines; under CORO_STATIC each translation unit has its own
#   copy and every copy is listed). gdb reads thread-locals with libthread_db; where it cannot
#   (a static binary, qemu-user's gdb stub) the script asks the live program
#   pthread_getspecific(coro__key), which coro.h sets to the same block.
#   A suspended coroutine's struct coro starts with its coro__ctx. Two layouts exist:
#   - coro__swap (x86-64, i386; ctx = {sp}): the naked coro__swap pushed the callee-saved
#     registers and is entered by a call (or a tail call) from the switching function, so sp
#     points at [r15 r14 r13 r12 rbx rbp ret] (i386: [edi esi ebx ebp ret]). Frame 0 is made
#     coro__swap itself at its "pop" of the resume address, with sp at that address: its CFI
#     (CFA = sp + word) then unwinds to the caller exactly as the CPU will return there.
#   - inline switch (aarch64, ASan builds; ctx = {sp, fp, ip[, bx on i386]}): ip is the label
#     right after the switch asm inside coro_yield/coro_resume/coro_transfer/coro_kill, where
#     the compiler's CFI describes the frame with the saved sp, so gdb unwinds from there.
#   Unwinding stops at coro__start, every coroutine's first frame (a frame filter ends the
#   backtrace there: above it is a zero return address, which gdb would still print as a
#   "0x0 in ?? ()" frame).
#   Registers are written with "set $reg" in frame 0 only (in another frame gdb would write
#   the register's save slot in memory) of the thread that was selected; orig_rax/orig_eax is
#   saved and restored too (gdb may reset it when the pc changes, which would cancel a system
#   call the thread is stopped in). The selected frame is selected again afterwards.
#
# LIMITS
#   Only the selected thread's coroutines are listed: "thread apply all coro list".
#   A coroutine's frames exist only inside the command: "frame N" after "coro bt" is the
#   thread's own frame N again.
#   With the registers method, values that optimised code keeps in call-clobbered registers
#   read as 0 (the unwinder method says <optimized out>).

import struct

import gdb

try:
    from gdb.unwinder import Unwinder
    HAVE_UNWINDER = True
except ImportError:
    HAVE_UNWINDER = False

CORO_MAGIC = 0x636F726F
TASK_MAGIC = 0x7461736B
F_STARTED, F_KILL, F_DYING = 1, 2, 4
STATUS_NAMES = {0: "suspended", 1: "running", 2: "normal", 3: "dead"}
DEFAULT_LIMIT = 1000
MAX_WALK = 10000000
LIBRARY_FILES = ("coro.h", "coro_sched.h")

# coro_sched.h's task states and wait kinds, read from the debug information when it has
# them (fallback: the values of coro_sched.h v0.1)
TASK_STATES = {"CORO__READY": (1, "ready"), "CORO__RUNNING": (2, "running"),
               "CORO__WAITING": (3, "waiting"), "CORO__DONE": (4, "done")}
WAIT_KINDS = [("CORO__W_NONE", "-"), ("CORO__W_YIELD", "yield"), ("CORO__W_SLEEP", "sleep"),
              ("CORO__W_FD", "fd"), ("CORO__W_COND", "cond"), ("CORO__W_MUTEX", "mutex"),
              ("CORO__W_SEM", "semaphore"), ("CORO__W_CHAN_SEND", "chan send"),
              ("CORO__W_CHAN_RECV", "chan recv"), ("CORO__W_JOIN", "join"),
              ("CORO__W_SUSPEND", "suspend"), ("CORO__W_JOB", "offload"),
              ("CORO__W_SIGNAL", "signal"), ("CORO__W_BACKOFF", "accept backoff"),
              ("CORO__W_SELECT", "select")]


class CoroError(gdb.GdbError):
    pass


# ---- architecture ---------------------------------------------------------------------------

class Arch(object):
    """Register names of the context fields for the inferior's architecture."""

    def __init__(self, name, sp, fp, pc, extra, orig, scratch, ptr, block):
        self.name, self.sp, self.fp, self.pc = name, sp, fp, pc
        self.extra = extra      # inline switch: [(ctx field, register)] beyond sp/fp/ip
        self.orig = orig        # the syscall-restart register gdb may change with the pc
        self.scratch = scratch  # general registers not in the context: unknown when resumed
        self.ptr = ptr          # bytes in a pointer
        self.block = block      # coro__swap: the registers it pushes, lowest address first
                                # (the resume address follows), or None


def current_arch():
    try:
        name = gdb.selected_frame().architecture().name()
    except gdb.error:
        name = gdb.selected_inferior().architecture().name()
    if "x86-64" in name or "x86_64" in name:
        if "x32" in name:
            raise CoroError("coro: x32 is not supported")
        return Arch(name, "rsp", "rbp", "rip", [], "orig_rax",
                    ["rax", "rbx", "rcx", "rdx", "rsi", "rdi"] + ["r%d" % i for i in range(8, 16)],
                    8, ["r15", "r14", "r13", "r12", "rbx", "rbp"])
    if name.startswith("i386") or name.startswith("i8086"):
        return Arch(name, "esp", "ebp", "eip", [("bx", "ebx")], "orig_eax",
                    ["eax", "ebx", "ecx", "edx", "esi", "edi"], 4, ["edi", "esi", "ebx", "ebp"])
    if "aarch64" in name:
        return Arch(name, "sp", "x29", "pc", [], None, ["x%d" % i for i in range(29)] + ["x30"],
                    8, None)
    raise CoroError("coro: unsupported architecture %r (x86-64, i386, aarch64)" % name)


# ---- reading the library's state --------------------------------------------------------------

def cstr(arr):
    """A char array as a Python str, up to its NUL."""
    try:
        b = bytes(int(arr[i]) & 0xFF for i in range(arr.type.range()[1] + 1))
    except gdb.error:
        return "?"
    b = b.split(b"\0", 1)[0]
    return b.decode("utf-8", "replace")


def func_name(pc):
    """The function containing pc, or hex."""
    if not pc:
        return "0x0"
    try:
        block = gdb.block_for_pc(pc)
        while block is not None and block.function is None:
            block = block.superblock
        if block is not None:
            return block.function.print_name
    except (gdb.error, RuntimeError):
        pass
    try:
        s = gdb.execute("info symbol 0x%x" % pc, to_string=True).strip()
        if s and not s.startswith("No symbol"):
            return s.split(" in section")[0].split(" + ")[0]
    except gdb.error:
        pass
    return "0x%x" % pc


_swap_cache = {}


def swap_pop_pc(arch):
    """Address of coro__swap's "pop" of the resume address (the instruction before its final
    indirect jmp), or None."""
    key = (gdb.current_progspace().filename, arch.name)
    if key in _swap_cache:
        return _swap_cache[key]
    pc = None
    try:
        sym = gdb.lookup_static_symbol("coro__swap") if hasattr(gdb, "lookup_static_symbol") \
            else None
        if sym is None:
            sym = gdb.lookup_global_symbol("coro__swap")
        if sym is not None:
            start = int(sym.value().address)
            block = gdb.block_for_pc(start)
            end = block.end if block is not None else start + 64
            prev = None
            for insn in gdb.selected_frame().architecture().disassemble(start, end - 1):
                asm = insn["asm"].split()
                if asm and asm[0].startswith("jmp") and "*" in insn["asm"]:
                    if prev is not None and prev["asm"].split()[0].startswith("pop"):
                        pc = prev["addr"]
                    break
                prev = insn
    except (gdb.error, RuntimeError, AttributeError):
        pc = None
    _swap_cache[key] = pc
    return pc


def enum_value(name, fallback):
    try:
        return int(gdb.parse_and_eval(name))
    except gdb.error:
        return fallback


_sched_cache = {}


def sched_tables():
    if "tables" not in _sched_cache:
        states = {}
        for k, (val, label) in TASK_STATES.items():
            states[enum_value(k, val)] = label
        waits = {}
        for i, (k, label) in enumerate(WAIT_KINDS):
            waits[enum_value(k, i)] = label
        _sched_cache["tables"] = (states, waits)
    return _sched_cache["tables"]


def task_type():
    if "task" not in _sched_cache:
        try:
            _sched_cache["task"] = gdb.lookup_type("coro__task").pointer()
        except gdb.error:
            _sched_cache["task"] = None
    return _sched_cache["task"]


def thread_states():
    """The coro__thread blocks of the selected thread (one per copy of the implementation)."""
    if gdb.selected_thread() is None:
        raise CoroError("coro: no thread selected (is the program running, or a core loaded?)")
    syms = []
    if hasattr(gdb, "lookup_static_symbols"):
        syms = list(gdb.lookup_static_symbols("coro__tls_state"))
    if not syms:
        s = gdb.lookup_static_symbol("coro__tls_state") if hasattr(
            gdb, "lookup_static_symbol") else None
        if s is None:
            s = gdb.lookup_global_symbol("coro__tls_state")
        if s is not None:
            syms = [s]
    if not syms:
        raise CoroError("coro: no symbol coro__tls_state: is the program built with coro.h "
                        "and -g?")
    out, seen, errors = [], set(), []
    for s in syms:
        try:
            v = s.value()
            if v.address is None:
                raise gdb.error("no address for the thread-local coro__tls_state")
            addr = int(v.address)
            v.fetch_lazy()
        except gdb.error as e:
            errors.append(str(e))
            continue
        if addr in seen:
            continue
        seen.add(addr)
        out.append(v)
    if not out:
        out = thread_state_by_call(errors)
    return out


def thread_state_by_call(errors):
    """gdb reads thread-local variables through libthread_db; a static binary, or a remote
    target such as qemu-user's gdb stub, has none. Ask the live program instead: coro.h
    registers each thread's state with pthread_setspecific(coro__key, t)."""
    try:
        ttype = gdb.lookup_type("coro__thread")
    except gdb.error:
        raise CoroError("coro: no type coro__thread: is the program built with coro.h and -g?")
    tries = ["(unsigned long)((void *(*)(unsigned int))pthread_getspecific)(coro__key)",
             "(unsigned long)coro__tls()"]
    for expr in tries:
        try:
            addr = int(gdb.parse_and_eval(expr))
        except gdb.error as e:
            errors.append(str(e))
            continue
        if addr:
            return [gdb.Value(addr).cast(ttype.pointer()).dereference()]
        errors.append("this thread has not used coro.h yet")
        return []
    raise CoroError("coro: cannot read the thread-local coro__tls_state (%s)" % "; ".join(errors))


class Coro(object):
    """One coroutine (or a thread's main) read from the inferior."""

    def __init__(self, val, tstate, is_main=False):
        self.val = val
        self.tstate = tstate
        self.is_main = is_main
        self.addr = int(val.address)
        self.id = int(val["id"])
        self.status = int(val["status"])
        self.flags = int(val["flags"])
        self.magic = int(val["magic"])
        self.name = "main" if is_main else cstr(val["name"])
        ctx = val["ctx"]
        self.ctx = ctx
        self.ctx_fields = [f.name for f in ctx.type.strip_typedefs().fields()]
        self.sp = int(ctx["sp"])
        self.fn = 0 if is_main else int(val["fn"])
        self.stack_size = 0 if is_main else int(val["stack_size"])
        # the stack (its header at the top) is bound when the coroutine first runs
        self.top = 0 if is_main else int(val["stack"])
        self.runtime = 0 if is_main else int(val["runtime"])
        self.current = int(tstate["current"]) == self.addr
        self.task = None
        if self.runtime and task_type() is not None:
            try:
                t = gdb.Value(self.runtime).cast(task_type()).dereference()
                if int(t["magic"]) == TASK_MAGIC and int(t["co"]) == self.addr:
                    self.task = t
            except gdb.error:
                self.task = None

    @property
    def started(self):
        return self.is_main or bool(self.flags & F_STARTED)

    def has_context(self):
        """True when ctx holds a resumable context worth unwinding (not running, not dead)."""
        if self.current or self.status in (1, 3):
            return False
        if self.status == 0 and not self.started:
            return False
        return self.sp != 0

    def status_text(self):
        if self.current and self.status != 1:
            return "running?"  # inconsistent: trust current
        if self.status == 0 and not self.started:
            s = "not started"
        else:
            s = STATUS_NAMES.get(self.status, "invalid(%d)" % self.status)
        if self.status == 3:
            pass
        elif self.flags & F_DYING:
            s += " (dying)"
        elif self.flags & F_KILL:
            s += " (kill pending)"
        if self.magic != CORO_MAGIC:
            s += " [bad magic 0x%x]" % self.magic
        return s

    def resume_state(self, arch):
        """(registers the coroutine has when it is switched to again, kind). kind "label": pc
        is the label after an inline switch asm (a frame-0 pc); "return": pc is a return
        address (coro__swap returns into its caller), so the frame is a caller's."""
        f = self.ctx_fields
        if "ip" in f and "fp" in f:  # the inline switch: sp, fp, ip (+ bx on i386)
            regs = {arch.sp: self.sp, arch.fp: int(self.ctx["fp"]), arch.pc: int(self.ctx["ip"])}
            for field, reg in arch.extra:
                if field in f:
                    regs[reg] = int(self.ctx[field])
            return regs, "label"
        if f == ["sp"] and arch.block:  # coro__swap: callee-saved registers pushed, then the
            n = len(arch.block) + 1  # resume address, at sp
            raw = gdb.selected_inferior().read_memory(self.sp, n * arch.ptr)
            words = struct.unpack("<%d%s" % (n, "Q" if arch.ptr == 8 else "I"), bytes(raw))
            regs = dict(zip(arch.block, words[:-1]))
            regs[arch.pc] = words[-1]
            regs[arch.sp] = self.sp + n * arch.ptr
            return regs, "return"
        raise CoroError("coro: unknown context layout %s for %s: tools/coro-gdb.py needs "
                        "updating for this coro.h" % (f, arch.name))

    def frame0_state(self, arch):
        """Registers that make this coroutine frame 0 of the thread. After an inline switch:
        its resume state (pc = the label inside coro_yield & co). After coro__swap: the state
        coro__swap itself has just before it pops the resume address (pc at that pop, sp at
        the resume address), which its CFI (CFA = sp + 8, return address at CFA - 8)
        describes, so frame 0 is coro__swap and the caller is unwound from the return address
        like any caller; without coro__swap, the resume state itself (frame 0 then shows the
        caller at the return address)."""
        regs, kind = self.resume_state(arch)
        if kind == "return":
            pop = swap_pop_pc(arch)
            if pop is not None:
                resume = dict(regs)
                regs[arch.sp] -= arch.ptr
                regs[arch.pc] = pop
                return regs, resume
        return regs, None

    def entry(self):
        if self.is_main:
            return "-"
        if self.task is not None:
            return func_name(int(self.task["fn"]))
        return func_name(self.fn)

    def stack_text(self):
        if self.is_main:
            return "-"
        size = self.stack_size
        if self.has_context() and self.top >= self.sp:
            return "%s/%s" % (human(self.top - self.sp), human(size))
        return "-/%s" % human(size)

    def task_text(self):
        if self.task is None:
            return ""
        t = self.task
        states, waits = sched_tables()
        st = int(t["state"])
        label = states.get(st, "state %d" % st)
        if label != "waiting":
            if label == "ready" and not self.started:
                return "ready (not started)"
            return label
        w = int(t["wait"])
        what = waits.get(w, "wait %d" % w)
        if what == "fd":
            ev = int(t["events"])
            what = "%s fd %d" % ({1: "read", 2: "write"}.get(ev, "rw"), int(t["fd"]))
        elif what == "join":
            target = int(t["join_target"])
            try:
                tid = int(gdb.Value(target).cast(self.val.address.type).dereference()["id"]) \
                    if target else 0
                what = "join %d" % tid
            except gdb.error:
                what = "join 0x%x" % target
        try:
            if int(t["heap_idx"]) != (1 << (8 * t["heap_idx"].type.sizeof)) - 1:
                ms = deadline_in_ms(int(t["deadline"]))
                what += " (%s)" % (("%dms" % ms) if ms is not None
                                   else "deadline %d" % int(t["deadline"]))
        except gdb.error:
            pass
        return "waiting: " + what


def deadline_in_ms(deadline):
    """deadline (coro_now() milliseconds, CLOCK_MONOTONIC) relative to now, for a live local
    process; None when the clock cannot be compared (core file, remote target)."""
    try:
        import time
        inf = gdb.selected_inferior()
        if inf.pid <= 0:
            return None
        conn = getattr(inf, "connection", None)
        if conn is not None and getattr(conn, "type", "native") != "native":
            return None
        return int(deadline - time.clock_gettime(time.CLOCK_MONOTONIC) * 1000)
    except Exception:
        return None


def human(n):
    """Bytes, short: 560B, 3.5K, 260K, 1.5M, 1G."""
    for unit, div in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= div:
            v = n / float(div)
            return ("%.1f%s" % (v, unit)).replace(".0" + unit, unit) if v < 10 else \
                "%d%s" % (int(round(v)), unit)
    return "%dB" % n


def coroutines(tstate, limit=0):
    """(list of Coro of tstate's thread, total count) walking tstate.all."""
    out, seen = [], set()
    p = tstate["all"]
    n = 0
    while int(p) and n < MAX_WALK:
        a = int(p)
        if a in seen:
            gdb.write("coro: warning: the list of coroutines loops at 0x%x\n" % a)
            break
        seen.add(a)
        n += 1
        if not limit or len(out) < limit:
            try:
                out.append(Coro(p.dereference(), tstate))
            except gdb.MemoryError:
                gdb.write("coro: warning: cannot read coroutine at 0x%x\n" % a)
                break
        try:
            p = p["next"]
        except gdb.MemoryError:
            break
    return out, n


def all_coroutines():
    """Every (tstate, [Coro...]) of the selected thread that has started using coro.h."""
    res = []
    for ts in thread_states():
        if not int(ts["current"]):
            continue
        cs, _ = coroutines(ts)
        res.append((ts, cs))
    return res


def main_of(tstate):
    return Coro(tstate["main"], tstate, is_main=True)


def find(who):
    """Resolve WHO (name, id, low id, 'main', address expression) to a Coro."""
    who = who.strip()
    worlds = all_coroutines()
    if not worlds:
        raise CoroError("coro: this thread has not used coro.h yet")
    if who == "main":
        if len(worlds) > 1:
            gdb.write("coro: several copies of coro.h in this program: using the first\n")
        return main_of(worlds[0][0])
    everything = [c for _, cs in worlds for c in cs]
    by_name = [c for c in everything if c.name == who]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise CoroError("coro: %d coroutines are named %r: give an id or address" %
                        (len(by_name), who))
    try:
        v = gdb.parse_and_eval(who)
    except gdb.error as e:
        raise CoroError("coro: no coroutine named %r, and it is not an expression (%s)"
                        % (who, e))
    try:
        if v.type.strip_typedefs().code == gdb.TYPE_CODE_FUNC:
            v = v.address
        n = int(v)
    except (gdb.error, TypeError, ValueError):
        raise CoroError("coro: %r is neither a coroutine's name nor an address or id" % who)
    for c in everything:
        if c.id == n or c.addr == n:
            return c
    if v.type.strip_typedefs().code != gdb.TYPE_CODE_PTR and 0 < n < (1 << 32):
        low = [c for c in everything if c.id & 0xFFFFFFFF == n]
        if len(low) == 1:
            return low[0]
    for ts, _ in worlds:
        if int(ts["main"].address) == n:
            return main_of(ts)
    raise CoroError("coro: %s is not a live coroutine of this thread (see coro list)" % who)


# ---- switching registers ------------------------------------------------------------------------

def read_regs(frame, names):
    out = {}
    for r in names:
        try:
            out[r] = int(frame.read_register(r))
        except (gdb.error, ValueError):
            pass
    return out


def set_reg(name, value):
    """Write a register of frame 0 (selected first: elsewhere "set $reg" writes memory).
    After the write gdb finds its selected frame again, which can fail while the registers
    are half switched ("failed to find previous frame ..."): the write itself is done then,
    which reading the register back confirms."""
    gdb.newest_frame().select()
    try:
        gdb.execute("set $%s = %d" % (name, value), to_string=True)
    except gdb.error:
        reg = gdb.newest_frame().read_register(name)
        if (int(reg) - value) % (1 << (8 * reg.type.sizeof)) != 0:
            raise


def selected_level():
    try:
        f = gdb.selected_frame()
    except gdb.error:
        return 0
    return f.level() if hasattr(f, "level") else 0


def select_level(level):
    f = gdb.newest_frame()
    while level > 0 and f.older() is not None:
        f = f.older()
        level -= 1
    f.select()


class Switched(object):
    """Context manager: frame 0 of the selected thread shows coroutine c while inside.

    Registers are written with "set $reg = ..." in frame 0 only: in any other frame gdb would
    write the register's save slot in memory instead. The other general registers are ones the
    switch clobbers or receives from the next resumer: their values at the resume label do not
    exist yet, so they are set to 0, and optimized code shows 0 for variables the debug info
    places there (the switch's from/to/value) rather than a stale value of the stopped thread.
    Callee-saved registers of the outer frames still come from their save slots (the CFI)."""

    first_level = 0

    def __init__(self, c):
        self.c = c

    def __enter__(self):
        th = gdb.selected_thread()
        if th is None or not th.is_valid():
            raise CoroError("coro: no thread selected")
        if th.is_running():
            raise CoroError("coro: the selected thread is running: interrupt it first")
        self.thread = th
        self.arch = a = current_arch()
        self.level = selected_level()
        regs, fallback = self.c.frame0_state(a)
        self.order = []
        for r in [a.pc, a.sp, a.fp] + [r for _, r in a.extra] + sorted(regs) + a.scratch + \
                ([a.orig] if a.orig else []):
            if r not in self.order:
                self.order.append(r)
        self.saved = read_regs(gdb.newest_frame(), self.order)
        for r in (a.pc, a.sp, a.fp):
            if r not in self.saved:
                raise CoroError("coro: cannot read register %s" % r)
        try:
            self.load(regs)
            if fallback is not None and not self.unwinds_to(fallback[a.pc]):
                # coro__swap without usable CFI: show the resume state itself (frame 0 is
                # then the caller, at the return address)
                self.load(fallback)
        except gdb.error as e:
            self.restore()
            raise CoroError("coro: cannot set registers (%s)" % e)
        return self

    def load(self, regs):
        for r in self.order:
            if r in regs:
                set_reg(r, regs[r])
            elif r in self.arch.scratch and r in self.saved:
                set_reg(r, 0)

    @staticmethod
    def unwinds_to(pc):
        """True if a caller of frame 0 is at pc (gdb may put inline frames, and tail-call
        frames it reconstructs from call-site information, in between)."""
        try:
            f = gdb.newest_frame()
            for _ in range(8):
                f = f.older()
                if f is None:
                    return False
                if f.pc() == pc:
                    return True
        except gdb.error:
            pass
        return False

    def restore(self):
        a = self.arch
        errs = []
        try:
            if gdb.selected_thread() != self.thread and self.thread.is_valid():
                self.thread.switch()
        except gdb.error as e:
            errs.append("thread: %s" % e)
        # the pc first: writing it may reset orig_rax/orig_eax, which is written last
        for r in self.order:
            if r in self.saved:
                try:
                    set_reg(r, self.saved[r])
                except gdb.error as e:
                    if r != a.orig:
                        errs.append("%s: %s" % (r, e))
        now = read_regs(gdb.newest_frame(), self.order)
        for r in self.order:
            if r in self.saved and r in now and now[r] != self.saved[r] and r != a.orig:
                errs.append("%s is 0x%x, was 0x%x" % (r, now[r], self.saved[r]))
        try:
            select_level(self.level)
        except gdb.error:
            pass
        if errs:
            gdb.write("coro: WARNING: registers not restored: %s\n" % "; ".join(errs),
                      gdb.STDERR)

    def __exit__(self, *exc):
        self.restore()
        return False


# ---- the other way: an unwinder (core files; "set coro-method unwinder") ----------------------

class _FrameId(object):
    def __init__(self, sp, pc):
        self.sp, self.pc = sp, pc


_view = {}  # while set: the coroutine whose frames follow the selected thread's frame 0


class ViewUnwinder(Unwinder if "Unwinder" in globals() else object):
    """While a coroutine is viewed, frame 0's caller is the coroutine's saved context: gdb
    then unwinds the coroutine's stack as frames 1, 2, ... of the selected thread. Nothing in
    the inferior changes, so this works on core files too."""

    def __init__(self):
        super(ViewUnwinder, self).__init__("coro-view")

    def __call__(self, pf):
        if not _view or pf.level() != 0:
            return None
        a = _view["arch"]
        if gdb.selected_thread() is not None and _view["thread"] != gdb.selected_thread().num:
            return None
        sp = pf.read_register(a.sp)
        pc = pf.read_register(a.pc)
        ui = pf.create_unwind_info(_FrameId(sp, pc))
        for reg, val in _view["regs"].items():
            ui.add_saved_register(reg, gdb.Value(val).cast(pc.type if reg == a.pc else sp.type))
        return ui


class Viewed(object):
    """Context manager: frames 1... of the selected thread are coroutine c's while inside
    (frame 0, the thread's real one, is hidden from backtraces by ViewFrameFilter)."""

    first_level = 1

    def __init__(self, c):
        self.c = c

    def __enter__(self):
        if not HAVE_UNWINDER:
            raise CoroError("coro: this gdb has no Python unwinder API (gdb 11 or later)")
        th = gdb.selected_thread()
        if th is None:
            raise CoroError("coro: no thread selected")
        self.level = selected_level()
        arch = current_arch()
        regs, _ = self.c.resume_state(arch)
        _view.update(coro=self.c, arch=arch, regs=regs, thread=th.num)
        gdb.invalidate_cached_frames()
        try:
            select_level(1)  # the coroutine's innermost frame, for "coro apply" commands
        except gdb.error:
            pass
        return self

    def __exit__(self, *exc):
        _view.clear()
        gdb.invalidate_cached_frames()
        try:
            select_level(self.level)
        except gdb.error:
            pass
        return False


class ViewFrameFilter(object):
    """Hide the thread's real frame 0 while a coroutine is viewed through ViewUnwinder."""

    def __init__(self):
        self.name = "coro-view"
        self.priority = 200
        self.enabled = True
        gdb.frame_filters[self.name] = self

    def filter(self, frames):
        if not _view:
            return frames
        return (fd for fd in frames if fd.inferior_frame().level() != 0)


class MethodParam(gdb.Parameter):
    """How coro bt/apply/list -w show a suspended coroutine's frames.
auto: registers on a live process, unwinder on a core file (or where registers cannot be
written). registers: switch sp/fp/pc of the selected thread and restore them afterwards.
unwinder: leave the registers alone; the coroutine's frames follow frame 0 (hidden), numbered
from #1."""

    set_doc = "Set how coro commands reach a suspended coroutine's frames."
    show_doc = "Show how coro commands reach a suspended coroutine's frames."

    def __init__(self):
        super(MethodParam, self).__init__("coro-method", gdb.COMMAND_STACK, gdb.PARAM_ENUM,
                                          ["auto", "registers", "unwinder"])
        self.value = "auto"

    def get_set_string(self):
        return ""

    def get_show_string(self, svalue):
        return "coro commands reach suspended coroutines with: %s" % svalue


def is_core():
    inf = gdb.selected_inferior()
    conn = getattr(inf, "connection", None)
    if conn is not None:
        return getattr(conn, "type", "") == "core"
    try:
        return "core" in gdb.execute("info target", to_string=True).split("\n", 2)[1]
    except (gdb.error, IndexError):
        return False


def context_for(c):
    method = _method.value if _method is not None else "auto"
    if method == "unwinder" or (method == "auto" and is_core()):
        return Viewed(c)
    return Switched(c)


def header(c):
    if c.is_main:
        return "main (%s)" % c.status_text()
    name = (' "%s"' % c.name) if c.name else ""
    extra = c.task_text()
    if extra == c.status_text() or extra.startswith("ready (not"):
        extra = ""
    return "coroutine 0x%x id %d%s (%s%s)" % (c.addr, c.id, name, c.status_text(),
                                            ("; " + extra) if extra else "")


def run_in(c, command, announce=True):
    """Run a gdb command with frame 0 showing coroutine c."""
    if announce:
        gdb.write("%s:\n" % header(c))
    if c.current:
        gdb.execute(command)
        return
    if not c.has_context():
        if c.status == 3:
            gdb.write("  dead: its stack has no frames left\n")
        elif not c.started:
            gdb.write("  not started: its first resume will call %s\n" % c.entry())
        else:
            gdb.write("  no saved context\n")
        return
    with_context(c, lambda ctx: gdb.execute(command))


def with_context(c, fn):
    """fn(context) with c's frames reachable; falls back to the unwinder when the registers
    cannot be written (method auto)."""
    ctx = context_for(c)
    try:
        ctx.__enter__()
    except CoroError as e:
        if not isinstance(ctx, Switched) or _method is None or _method.value != "auto" or \
                "without a process" not in str(e):
            raise
        ctx = Viewed(c)
        ctx.__enter__()
    try:
        return fn(ctx)
    finally:
        ctx.__exit__(None, None, None)


def bt_command(args):
    return "backtrace" + ((" " + args) if args else "")


def resumer_chain():
    """The running coroutine, then its resumers, then main: the logical call stack."""
    res = []
    for ts, cs in all_coroutines():
        by_addr = dict((c.addr, c) for c in cs)
        cur = int(ts["current"])
        m = main_of(ts)
        seen = set()
        while cur and cur not in seen:
            seen.add(cur)
            if cur == m.addr:
                res.append(m)
                break
            c = by_addr.get(cur)
            if c is None:
                break
            res.append(c)
            r = int(c.val["resumer"])
            cur = r if r else m.addr
    return res


def apply_all(command):
    worlds = all_coroutines()
    first = True
    for ts, cs in worlds:
        m = main_of(ts)
        for c in cs + [m]:
            if c.is_main and c.current:
                continue  # main running: plain "backtrace" shows it
            if not c.current and not c.has_context():
                continue
            if not first:
                gdb.write("\n")
            first = False
            run_in(c, command)
    if first:
        gdb.write("coro: no coroutine has a stack to show\n")


# ---- commands -------------------------------------------------------------------------------------

def clean_errors(invoke):
    """gdb errors inside a command (a bad backtrace argument, unreadable memory) reported as
    plain gdb errors, without a Python traceback banner."""

    def wrapper(self, arg, from_tty):
        try:
            return invoke(self, arg, from_tty)
        except gdb.GdbError:
            raise
        except gdb.error as e:
            raise gdb.GdbError(str(e))

    wrapper.__doc__ = invoke.__doc__
    return wrapper


class CoroPrefix(gdb.Command):
    """Inspect coro.h coroutines: coro list, coro bt, coro apply (see tools/coro-gdb.py)."""

    def __init__(self):
        super(CoroPrefix, self).__init__("coro", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class CoroList(gdb.Command):
    """List the coroutines of the selected thread.
Usage: coro list [-w] [LIMIT]
  -w      also show where each suspended coroutine is (innermost frame outside coro.h)
  LIMIT   show at most LIMIT coroutines (default 1000, 0 = all)
Columns: address, id, name, status (running, normal, suspended, not started, dead),
stack in use now / stack size, entry function, and for coro_sched.h tasks their state."""

    def __init__(self, name="coro list"):
        super(CoroList, self).__init__(name, gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    @clean_errors
    def invoke(self, arg, from_tty):
        where = False
        limit = DEFAULT_LIMIT
        for a in gdb.string_to_argv(arg):
            if a in ("-w", "--where"):
                where = True
            else:
                try:
                    limit = int(a, 0)
                except ValueError:
                    raise CoroError("usage: coro list [-w] [LIMIT]")
        states = thread_states()
        th = gdb.selected_thread()
        if not states or not any(int(ts["current"]) for ts in states):
            gdb.write("Thread %d: has not used coro.h yet\n" % th.num)
            return
        for ts in states:
            if not int(ts["current"]):
                continue
            if len(states) > 1:
                gdb.write("coro.h copy with its state at 0x%x (CORO_STATIC):\n"
                          % int(ts.address))
            cs, total = coroutines(ts, limit)
            m = main_of(ts)
            cur = [c for c in cs + [m] if c.current]
            curtxt = ("main" if cur and cur[0].is_main else
                      (("%s (id %d)" % (cur[0].name or "0x%x" % cur[0].addr, cur[0].id))
                       if cur else "0x%x" % int(ts["current"])))
            gdb.write("Thread %d: %d coroutine%s alive, running: %s\n" % (
                th.num, total, "" if total == 1 else "s", curtxt))
            rows = []
            for c in cs + [m]:
                row = ["*" if c.current else " ",
                       "0x%x" % c.addr if not c.is_main else "-",
                       str(c.id) if not c.is_main else "-",
                       c.name if c.name else "-",
                       c.status_text(), c.stack_text(), c.entry(), c.task_text() or "-"]
                if where:
                    row.append(where_of(c))
                rows.append(row)
            titles = [" ", "ADDRESS", "ID", "NAME", "STATUS", "STACK", "ENTRY", "TASK"]
            if where:
                titles.append("WHERE")
            if not any(c.task is not None for c in cs):
                titles.pop(7)
                for r in rows:
                    r.pop(7)
            widths = [max(len(r[i]) for r in rows + [titles]) for i in range(len(titles))]
            for r in [titles] + rows:
                gdb.write(" ".join(r[i].ljust(widths[i]) for i in range(len(r))).rstrip() + "\n")
            if total > len(cs):
                gdb.write("... %d more (coro list %d shows them)\n" % (total - len(cs), 0))


def where_of(c):
    """Innermost frame of c outside coro.h/coro_sched.h: 'func (file:line)'."""
    if not c.current and not c.has_context():
        return "-"
    try:
        if c.current:
            return describe_user_frame(0)
        return with_context(c, lambda ctx: describe_user_frame(ctx.first_level))
    except (gdb.error, CoroError) as e:
        return "? (%s)" % e


def describe_user_frame(first_level):
    f = gdb.newest_frame()
    while f is not None and first_level > 0:
        f = f.older()
        first_level -= 1
    n = 0
    while f is not None and n < 64:
        sal = f.find_sal()
        fname = sal.symtab.filename if sal.symtab is not None else ""
        base = fname.rsplit("/", 1)[-1]
        if base not in LIBRARY_FILES:
            if f.name() is None:
                return "0x%x" % f.pc()
            return "%s (%s:%d)" % (f.name(), base or "?", sal.line)
        f = f.older()
        n += 1
    return "-"


class InfoCoros(CoroList):
    """List the coroutines of the selected thread (same as coro list).
Usage: info coros [-w] [LIMIT]"""

    def __init__(self):
        super(InfoCoros, self).__init__("info coros")


class CoroBt(gdb.Command):
    """Backtrace of a coroutine, from its saved registers.
Usage: coro bt [WHO [BT-ARGS...]]
  WHO      a coroutine's name, its id (or the low 32 bits of it), main, an expression for its
           address, or "all" (every coroutine with frames, and main if it is not running)
  BT-ARGS  passed to backtrace: full, -full, a count, ...
Without WHO: the chain from the running coroutine through its resumers down to main.
The registers of the selected thread are restored afterwards."""

    def __init__(self):
        super(CoroBt, self).__init__("coro bt", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    @clean_errors
    def invoke(self, arg, from_tty):
        argv = arg.split(None, 1)
        if not argv:
            chain = resumer_chain()
            if not chain:
                raise CoroError("coro: this thread has not used coro.h yet")
            for i, c in enumerate(chain):
                if i:
                    gdb.write("\n")
                run_in(c, "backtrace")
            return
        who, rest = argv[0], (argv[1] if len(argv) > 1 else "")
        if who == "all":
            apply_all(bt_command(rest))
            return
        run_in(find(who), bt_command(rest))


class CoroApply(gdb.Command):
    """Run a gdb command in a coroutine's context (registers restored afterwards).
Usage: coro apply WHO|all COMMAND...
Example: coro apply walker info frame    coro apply chain frame 3    coro apply all bt 2"""

    def __init__(self):
        super(CoroApply, self).__init__("coro apply", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    @clean_errors
    def invoke(self, arg, from_tty):
        argv = arg.split(None, 1)
        if len(argv) < 2:
            raise CoroError("usage: coro apply WHO|all COMMAND...")
        if argv[0] == "all":
            apply_all(argv[1])
        else:
            run_in(find(argv[0]), argv[1])


class CoroApplyAll(gdb.Command):
    """Run a gdb command in the context of every coroutine that has frames.
Usage: coro apply-all COMMAND...     (coro apply-all bt = coro bt all)"""

    def __init__(self):
        super(CoroApplyAll, self).__init__("coro apply-all", gdb.COMMAND_STACK,
                                           gdb.COMPLETE_NONE)

    @clean_errors
    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise CoroError("usage: coro apply-all COMMAND...")
        apply_all(arg.strip())


class StartFrameFilter(object):
    """End every backtrace at coro__start, the first frame of every coroutine. On x86-64 and
    i386 coro__ctx_init leaves a zero return address above it, and on aarch64 the entry stub
    zeroes x29 and x30 before coro__start saves them; gdb would still show that as
    "#N 0x0 in ?? ()"."""

    def __init__(self):
        self.name = "coro-start"
        self.priority = 100
        self.enabled = True
        gdb.frame_filters[self.name] = self

    def filter(self, frames):
        for fd in frames:
            yield fd
            try:
                if fd.inferior_frame().name() == "coro__start":
                    return
            except (gdb.error, RuntimeError):
                pass


StartFrameFilter()
ViewFrameFilter()
_method = MethodParam()
if HAVE_UNWINDER:
    gdb.unwinder.register_unwinder(None, ViewUnwinder(), replace=True)
CoroPrefix()
CoroList()
InfoCoros()
CoroBt()
CoroApply()
CoroApplyAll()
