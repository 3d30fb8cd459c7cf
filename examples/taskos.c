/* taskos.c - a tiny operating system whose tasks are coroutines and whose traps are coro_yield.

   What it shows: Beazley's insight that a yield is a trap. A task never sees the scheduler or
   the other tasks; the only thing it can do besides computing is coro_yield a struct syscall
   describing a request. The scheduler (main, after boot) resumes one ready task at a time,
   gets the request back as the value coro_resume returns, carries it out, and passes the result
   to the task with the coro_resume that continues it. The calls, after Beazley's pyos:
     get_tid()          GetTid     the caller's task id
     new_task(name, fn, arg)
                        NewTask    start a task running fn(arg); its id, or -1
     kill_task(tid)     KillTask   coro_kill: the victim's coro_defer cleanups run on its stack
     wait_task(tid)     WaitTask   block until the task exits; its exit status (what its
                                   function returned, -1 if it was killed), -1 if no such task
     read_wait(fd)      ReadWait   block until fd is readable
     write_wait(fd)     WriteWait  block until fd is writable
     task_yield()                  a plain coro_yield(NULL): let the others run
   A blocked task is not resumed until its wait is over; when no task is ready the scheduler
   blocks in poll(2) on the fds that the waiting tasks named. Unlike Python generators, each task has its own stack, so the traps
   can sit in ordinary helper functions (write_all below) and not only at the task's top level:
   Beazley's "problem with the stack" does not arise.

   The demonstration: init starts a parent, which asks for its id, starts a worker and a
   spinner, waits for the worker's exit status, kills the spinner (whose cleanup frees its
   buffer) and exits. Then init connects a reader and a writer task with a non-blocking pipe:
   the writer sends five lines, each after a write_wait, then floods the pipe with 16384
   numbered records until a write fails with EAGAIN and it has to wait for the reader to make
   room; the reader read_waits, prints the lines and checks that every record arrives in order.
   Everything runs in one thread and the pipe is in-process, so the output is the same on every
   run.

   After the second half of David Beazley's course on coroutines: coroutines as tasks, a small
   operating system built on them, and the problem with the stack that stackful coroutines
   solve.

   Build and run, from the repository root:
       cc -O2 -I. examples/taskos.c -o taskos && ./taskos
   Exits 0 when everything happened as expected, 1 otherwise. */
#define CORO_IMPLEMENTATION
#include "coro.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INT2PTR(i) ((void *)(intptr_t)(i))
#define PTR2INT(p) ((long)(intptr_t)(p))

/* ==== the system call interface: everything a task knows about the OS ==================== */

enum syscall_no {
    SYS_GET_TID,
    SYS_NEW_TASK,
    SYS_KILL_TASK,
    SYS_WAIT_TASK,
    SYS_READ_WAIT,
    SYS_WRITE_WAIT
};

/* Lives on the calling task's stack, which stays put while the task is suspended in the trap. */
struct syscall {
    enum syscall_no no;
    long tid;         /* kill_task, wait_task */
    int fd;           /* read_wait, write_wait */
    const char *name; /* new_task */
    coro_fn fn;
    void *arg;
};

/* The trap: hand the request to the scheduler, get its result back when we are resumed. */
static long trap(struct syscall *sc) { return PTR2INT(coro_yield(sc)); }

static long get_tid(void) {
    struct syscall sc = {.no = SYS_GET_TID, .fd = -1};
    return trap(&sc);
}
static long new_task(const char *name, coro_fn fn, void *arg) {
    struct syscall sc = {.no = SYS_NEW_TASK, .fd = -1, .name = name, .fn = fn, .arg = arg};
    return trap(&sc);
}
static long kill_task(long tid) {
    struct syscall sc = {.no = SYS_KILL_TASK, .tid = tid, .fd = -1};
    return trap(&sc);
}
static long wait_task(long tid) {
    struct syscall sc = {.no = SYS_WAIT_TASK, .tid = tid, .fd = -1};
    return trap(&sc);
}
static void read_wait(int fd) {
    struct syscall sc = {.no = SYS_READ_WAIT, .fd = fd};
    trap(&sc);
}
static void write_wait(int fd) {
    struct syscall sc = {.no = SYS_WRITE_WAIT, .fd = fd};
    trap(&sc);
}
static void task_yield(void) { coro_yield(NULL); }

/* A task prints under its coroutine's name, which the OS set to "name[tid]". */
static void say(const char *fmt, ...) {
    va_list ap;
    printf("%s: ", coro_name(coro_current()));
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* What the tasks saw, for main to check at the end. Not part of the OS. */
static struct {
    long worker_status, kill_result, wait_after_kill, lines, records;
    int spinner_cleaned, records_in_order, pipe_was_full;
} seen = {0, 0, 0, 0, 0, 0, 1, 0};

/* ==== the tasks ========================================================================= */

static void *worker(void *arg) {
    long steps = PTR2INT(arg), i;
    for (i = 1; i <= steps; i++) {
        say("step %ld of %ld", i, steps);
        task_yield();
    }
    say("done, exiting with 42");
    return INT2PTR(42);
}

struct spinner_state {
    char *buffer;
    long rounds;
};

/* Runs when the spinner ends; it never returns by itself, so only kill_task ends it. */
static void spinner_cleanup(void *arg) {
    struct spinner_state *s = (struct spinner_state *)arg;
    say("cleanup after %ld rounds: freeing its buffer", s->rounds);
    free(s->buffer);
    seen.spinner_cleaned = 1;
}

static void *spinner(void *arg) {
    struct spinner_state s;
    (void)arg;
    s.rounds = 0;
    s.buffer = (char *)malloc(4096);
    if (!s.buffer || coro_defer(spinner_cleanup, &s) != 0) {
        free(s.buffer);
        return INT2PTR(-1);
    }
    for (;;) {
        s.rounds++;
        say("round %ld", s.rounds);
        task_yield();
    }
}

static void *parent(void *arg) {
    long me = get_tid(), w, s;
    (void)arg;
    say("my tid is %ld", me);
    w = new_task("worker", worker, INT2PTR(3));
    say("started worker as task %ld", w);
    s = new_task("spinner", spinner, NULL);
    say("started spinner as task %ld; waiting for task %ld", s, w);
    seen.worker_status = wait_task(w);
    say("task %ld exited with %ld", w, seen.worker_status);
    say("killing task %ld", s);
    seen.kill_result = kill_task(s);
    say("kill_task(%ld) returned %ld", s, seen.kill_result);
    seen.wait_after_kill = wait_task(s);
    say("wait_task(%ld) now returns %ld: no such task", s, seen.wait_after_kill);
    return INT2PTR(0);
}

static void close_fd(void *arg) { close((int)PTR2INT(arg)); }

/* Write all n bytes to a non-blocking fd, trapping into write_wait whenever it is full; the
   trap sits in a helper, below the task's own function. Returns how often the fd was full,
   or -1 on an error. */
static long write_all(int fd, const char *p, size_t n) {
    long full = 0;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
            full++;
            write_wait(fd);
            continue;
        }
        p += k;
        n -= (size_t)k;
    }
    return full;
}

static const char *const lines[] = {
    "yield is a kind of trap",
    "tasks do not see the scheduler",
    "tasks do not see other tasks",
    "yield is the only external interface",
    "multitasking using nothing but coroutines",
};
#define NLINES ((long)(sizeof lines / sizeof lines[0]))
#define NRECORDS 16384L /* of 16 bytes: 256 KiB, more than any pipe buffer */
#define RECORDS_PER_WRITE 32

static void *writer(void *arg) {
    int fd = (int)PTR2INT(arg);
    char buf[16 * RECORDS_PER_WRITE + 1];
    long i, j, full = 0, f;
    if (coro_defer(close_fd, INT2PTR(fd)) != 0) {
        close(fd);
        return INT2PTR(1);
    }
    for (i = 0; i < NLINES; i++) {
        int n = snprintf(buf, sizeof buf, "%s\n", lines[i]);
        write_wait(fd); /* Beazley's way: wait first, then write */
        if (write_all(fd, buf, (size_t)n) < 0) {
            say("write: %s", strerror(errno));
            return INT2PTR(1);
        }
        say("sent \"%s\"", lines[i]);
    }
    say("flooding the pipe with %ld records", NRECORDS);
    for (i = 0; i < NRECORDS && full >= 0; i += RECORDS_PER_WRITE) {
        for (j = 0; j < RECORDS_PER_WRITE; j++) sprintf(buf + 16 * j, "flood %09ld\n", i + j);
        f = write_all(fd, buf, 16 * RECORDS_PER_WRITE);
        if (f > 0 && full == 0) say("the pipe was full: write_wait waited for the reader");
        full = f < 0 ? -1 : full + f;
    }
    if (full < 0) {
        say("write: %s", strerror(errno));
        return INT2PTR(1);
    }
    seen.pipe_was_full = full > 0;
    say("all sent; exiting closes the pipe");
    return INT2PTR(0); /* close_fd runs now: the reader sees end of file */
}

static void reader_line(char *line) {
    if (strncmp(line, "flood ", 6) == 0) {
        if (strtol(line + 6, NULL, 10) != seen.records) seen.records_in_order = 0;
        seen.records++;
    } else {
        say("got \"%s\"", line);
        seen.lines++;
    }
}

static void *reader(void *arg) {
    int fd = (int)PTR2INT(arg);
    char buf[1024];
    size_t have = 0;
    if (coro_defer(close_fd, INT2PTR(fd)) != 0) {
        close(fd);
        return INT2PTR(1);
    }
    for (;;) {
        char *start, *nl;
        ssize_t n;
        read_wait(fd);
        n = read(fd, buf + have, sizeof buf - have);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
        if (n < 0) {
            say("read: %s", strerror(errno));
            return INT2PTR(1);
        }
        if (n == 0) break;
        have += (size_t)n;
        for (start = buf; (nl = (char *)memchr(start, '\n', have - (size_t)(start - buf)));
             start = nl + 1) {
            *nl = 0;
            reader_line(start);
        }
        have -= (size_t)(start - buf);
        memmove(buf, start, have);
        if (have == sizeof buf) break; /* a line longer than the buffer: not ours */
    }
    say("end of file after %ld lines and %ld records, %s", seen.lines, seen.records,
        seen.records_in_order ? "all in order" : "NOT in order");
    return INT2PTR(have == 0 ? 0 : 1);
}

static int set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void *init(void *arg) {
    int fds[2];
    long p, r, w;
    (void)arg;
    p = new_task("parent", parent, NULL);
    say("started parent as task %ld; waiting for it", p);
    say("task %ld exited with %ld", p, wait_task(p));

    if (pipe(fds) != 0) {
        say("pipe: %s", strerror(errno));
        return INT2PTR(1);
    }
#ifdef F_SETPIPE_SZ
    (void)fcntl(fds[1], F_SETPIPE_SZ, 4096); /* as small as the kernel allows */
#endif
    if (set_nonblocking(fds[0]) != 0 || set_nonblocking(fds[1]) != 0 ||
        (r = new_task("reader", reader, INT2PTR(fds[0]))) < 0) {
        close(fds[0]);
        close(fds[1]);
        return INT2PTR(1);
    }
    if ((w = new_task("writer", writer, INT2PTR(fds[1]))) < 0) {
        close(fds[1]); /* the reader sees end of file */
        return INT2PTR(1);
    }
    say("started reader as task %ld and writer as task %ld; waiting for both", r, w);
    say("task %ld exited with %ld", w, wait_task(w));
    say("task %ld exited with %ld", r, wait_task(r));
    return INT2PTR(0);
}

/* ==== the operating system ============================================================== */

enum task_state { READY, WAIT_TASK, WAIT_READ, WAIT_WRITE };

struct task {
    long tid; /* 0: a free slot */
    coro_t *co;
    void *sendval; /* what the next resume passes: the argument, then system call results */
    enum task_state state;
    long wait_tid;     /* WAIT_TASK */
    int wait_fd;       /* WAIT_READ, WAIT_WRITE */
    struct task *next; /* in the ready queue */
};

#define MAX_TASKS 16
static struct task tasks[MAX_TASKS];
static struct task *ready_head, *ready_tail;
static long last_tid, ntasks;

static void schedule(struct task *t, void *value) {
    t->state = READY;
    t->sendval = value;
    t->next = NULL;
    if (ready_tail) ready_tail->next = t;
    else ready_head = t;
    ready_tail = t;
}

static void unschedule(struct task *t) {
    struct task **pp, *prev = NULL;
    for (pp = &ready_head; *pp && *pp != t; pp = &(*pp)->next) prev = *pp;
    if (!*pp) return;
    *pp = t->next;
    if (ready_tail == t) ready_tail = prev;
    t->next = NULL;
}

static struct task *find_task(long tid) {
    int i;
    if (tid <= 0) return NULL; /* 0 marks a free slot */
    for (i = 0; i < MAX_TASKS; i++)
        if (tasks[i].tid == tid) return &tasks[i];
    return NULL;
}

static long task_new(const char *name, coro_fn fn, void *arg) {
    struct task *t = NULL;
    char label[32];
    int i;
    for (i = 0; i < MAX_TASKS && !t; i++)
        if (tasks[i].tid == 0) t = &tasks[i];
    if (!t || !(t->co = coro_new(fn, 0))) return -1;
    t->tid = ++last_tid;
    snprintf(label, sizeof label, "%s[%ld]", name, t->tid);
    coro_set_name(t->co, label);
    schedule(t, arg); /* the first resume passes arg to fn */
    ntasks++;
    return t->tid;
}

/* The task is gone: wake whoever waits for it with its status and free its coroutine. */
static void task_exit(struct task *t, long status, int killed) {
    int i;
    if (killed) printf("os: task %ld (%s) killed\n", t->tid, coro_name(t->co));
    else printf("os: task %ld (%s) exited with %ld\n", t->tid, coro_name(t->co), status);
    for (i = 0; i < MAX_TASKS; i++)
        if (tasks[i].tid && tasks[i].state == WAIT_TASK && tasks[i].wait_tid == t->tid)
            schedule(&tasks[i], INT2PTR(status));
    coro_free(t->co);
    t->co = NULL;
    t->tid = 0;
    ntasks--;
}

static long sys_kill(struct task *victim) {
    if (!victim) return -1;
    if (victim->state == READY) unschedule(victim);
    printf("os: killing task %ld (%s): its cleanups run now\n", victim->tid, coro_name(victim->co));
    if (coro_kill(victim->co) != 0) return -1;
    task_exit(victim, -1, 1);
    return 0;
}

/* Carry out t's request: either reply at once (t is ready again) or block t. */
static void handle(struct task *t, const struct syscall *sc) {
    long result = -1;
    switch (sc->no) {
    case SYS_GET_TID: result = t->tid; break;
    case SYS_NEW_TASK: result = task_new(sc->name, sc->fn, sc->arg); break;
    case SYS_KILL_TASK:
        result = sys_kill(find_task(sc->tid));
        if (!t->tid) return; /* it killed itself */
        break;
    case SYS_WAIT_TASK:
        if (sc->tid == t->tid || !find_task(sc->tid)) break;
        t->state = WAIT_TASK;
        t->wait_tid = sc->tid;
        return;
    case SYS_READ_WAIT:
    case SYS_WRITE_WAIT:
        t->state = sc->no == SYS_READ_WAIT ? WAIT_READ : WAIT_WRITE;
        t->wait_fd = sc->fd;
        return;
    }
    schedule(t, INT2PTR(result));
}

/* Poll the fds the blocked tasks wait for and make ready those whose fd is ready (or in error:
   their read or write will say so). Returns how many tasks wait for I/O, -1 if poll failed. */
static int io_poll(int timeout) {
    struct pollfd pfd[MAX_TASKS];
    struct task *who[MAX_TASKS];
    int i, n = 0, r;
    for (i = 0; i < MAX_TASKS; i++) {
        if (!tasks[i].tid || (tasks[i].state != WAIT_READ && tasks[i].state != WAIT_WRITE))
            continue;
        pfd[n].fd = tasks[i].wait_fd;
        pfd[n].events = tasks[i].state == WAIT_READ ? POLLIN : POLLOUT;
        pfd[n].revents = 0;
        who[n++] = &tasks[i];
    }
    if (n == 0) return 0;
    do r = poll(pfd, (nfds_t)n, timeout);
    while (r < 0 && errno == EINTR);
    if (r < 0) return -1;
    for (i = 0; i < n; i++)
        if (pfd[i].revents) schedule(who[i], INT2PTR(0));
    return n;
}

/* The scheduler: run until every task has exited. Returns 0, or -1 on a deadlock. */
static int run(void) {
    while (ntasks > 0) {
        struct task *t;
        void *v;
        if (!ready_head) { /* everyone is blocked: sleep in poll until an fd is ready */
            int n = io_poll(-1);
            if (n <= 0) {
                printf("os: %s with %ld tasks blocked\n", n == 0 ? "deadlock" : "poll failed",
                       ntasks);
                return -1;
            }
            continue;
        }
        t = ready_head;
        ready_head = t->next;
        if (!ready_head) ready_tail = NULL;
        v = coro_resume(t->co, t->sendval);
        if (coro_status(t->co) == CORO_DEAD) task_exit(t, PTR2INT(v), 0);
        else if (!v) schedule(t, NULL); /* task_yield */
        else handle(t, (const struct syscall *)v);
    }
    return 0;
}

int main(void) {
    int ok, i;
    printf("os: booting\n");
    if (task_new("init", init, NULL) < 0) {
        printf("os: cannot start init: %s\n", strerror(errno));
        return 1;
    }
    ok = run() == 0;
    if (ok) {
        printf("os: all tasks finished\n");
    } else {
        for (i = 0; i < MAX_TASKS; i++) /* free what is left: coro_free kills it */
            if (tasks[i].tid) coro_free(tasks[i].co);
        printf("os: killed the tasks left\n");
    }
    printf("os: coroutines still alive: %zu\n", coro_count_alive());
    ok = ok && coro_count_alive() == 0 && seen.worker_status == 42 && seen.kill_result == 0 &&
         seen.wait_after_kill == -1 && seen.spinner_cleaned && seen.lines == NLINES &&
         seen.records == NRECORDS && seen.records_in_order && seen.pipe_was_full;
    printf("%s\n", ok ? "all checks passed" : "FAILED");
    return ok ? 0 : 1;
}
