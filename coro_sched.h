/* coro_sched.h - v0.1 - an event loop for coro.h: sleep, fds with deadlines, sockets, sync,
   channels, join - MIT licence (or public domain, see coro.h)

   The optional second header. It turns coro.h's coroutines into a runtime for servers and
   clients with tens of thousands of connections on one core: an epoll (Linux) or poll() loop,
   a timer heap, non-blocking sockets whose calls block only the calling coroutine, condition
   variables, mutexes, semaphores, channels, join, blocking work moved to worker threads, and
   signals received as events. It uses only coro.h's public API (and coro.h's misuse report,
   so that CORO_DEBUG covers both headers). One scheduler per thread; run one per core for
   more: threads post coroutines to each other, wake each other's coroutines and share
   channels (see THREADS).

USAGE
   In exactly one file, before any #include:

       #define CORO_IMPLEMENTATION         // coro.h's implementation ...
       #define CORO_SCHED_IMPLEMENTATION   // ... and this one's
       #include "coro_sched.h"             // includes coro.h itself

   Link with -pthread on systems that need it (the worker threads); on Windows also with
   -lws2_32 (Winsock), and include this header before <windows.h> (Winsock 2's rule).

EXAMPLE: an echo server
       static void *echo(void *arg) {
           int fd = (int)(intptr_t)arg;
           char buf[512];
           ssize_t n;
           while ((n = coro_read(fd, buf, sizeof buf, coro_now() + 60000)) > 0)
               if (coro_write(fd, buf, (size_t)n, -1) < 0) break;
           coro_close(fd);
           return NULL;
       }
       static void *acceptor(void *arg) {
           int lfd = (int)(intptr_t)arg, fd;
           while ((fd = coro_accept(lfd, NULL, NULL, -1)) >= 0)
               coro_spawn(echo, (void *)(intptr_t)fd, 0);
           return NULL;
       }
       int main(void) {
           int lfd = coro_tcp_listen("127.0.0.1", 7000, 1024);
           coro_spawn(acceptor, (void *)(intptr_t)lfd, 0);
           return coro_run();
       }

TIME AND DEADLINES
   coro_now() is milliseconds on CLOCK_MONOTONIC. Every blocking call takes an absolute deadline
   on that clock (coro_now() + 500 means half a second from now); -1 (any negative value) means
   none, and a deadline already past (0, say) makes the call a non-blocking attempt. When the
   deadline passes the call fails with -1 and errno ETIMEDOUT. INT64_MAX is a deadline that
   never comes, and coro_sleep(ms) saturates there: a huge time means forever.

SPAWNED COROUTINES
   coro_spawn queues a coroutine; coro_run runs every ready one in FIFO order, then waits on
   fds and timers, until none is left. A spawned coroutine is freed by the scheduler when it
   ends (never coro_free it yourself: coro_free refuses with EBUSY). To collect its result,
   coro_join it while it runs, or mark it coro_joinable right after spawning: then it stays
   after its end until coro_join collects it (its handle and result only: its stack goes back
   to the pool when it ends).
   In a spawned coroutine:
   - every blocking call here saves errno around the wait, so errno is per coroutine;
   - coro_kill(co) from anywhere removes co from whatever it waits on (fd, timer, cond, mutex,
     semaphore, channel, join, suspend) and runs its cleanups; the loop never waits for it;
   - coro_raise(co, err) makes the call co is blocked in fail with -1 and errno = err
     (ECANCELED is the usual one); co runs until it blocks again, then coro_raise returns;
   - it may create and resume its own coro.h coroutines (generators); those must not call
     blocking functions of this header (they fail with EPERM);
   - a bare coro_yield(v) means coro_sched_yield(): it goes to the back of the ready queue and
     returns NULL when resumed (v is ignored);
   - blocking calls in a cleanup handler fail at once with ECANCELED.

FDS
   The I/O calls keep the shape of the calls they wrap and make the fd non-blocking on first use.
   coro_read returns what is there (like read(2)), coro_read_full exactly len bytes, coro_write
   all len bytes. One coroutine may read and another write the same fd at once; a second reader
   (or writer) that would have to wait fails at once with EBUSY. Outside a spawned coroutine,
   and with a deadline already past, each call makes one real attempt and fails (EPERM, or
   ETIMEDOUT) only if it would have to wait. Close fds with coro_close: waiters wake with EBADF. If
   you close an fd some other way, call coro_fd_forget(fd) first, or a new fd with the same
   number may wait forever. A negative or closed fd fails with EBADF in every call, like the
   calls these wrap. Writes to sockets use MSG_NOSIGNAL, and the scheduler ignores
   SIGPIPE (if it was SIG_DFL) so that a pipe whose reader went away gives EPIPE, not death;
   define CORO_SCHED_KEEP_SIGPIPE to leave SIGPIPE alone. (Windows: sockets only, see WINDOWS.)
   Syscalls: with epoll each fd is registered once, edge-triggered, when it first has to wait.
   The scheduler remembers what the kernel said (a short read means drained), so in
   request/response traffic a round trip costs one read, one write, and a share of one
   epoll_wait, with no read that fails with EAGAIN. A coroutine whose I/O never has to wait is
   sent to the back of the ready queue every CORO_SCHED_IO_BUDGET calls, so no connection can
   starve the others.

THREADS
   Share nothing, pass messages: each thread has its own scheduler, coroutines never move
   between threads (a compiler may keep a thread-local address, errno's included, across any
   call), and work and messages cross freely:
   - channels: any mix of coroutines of any threads and plain threads, buffered or rendezvous,
     and coro_chan_select over several of them;
   - coro_sched_post(s, fn, arg, 0) spawns fn(arg) on s's thread, from any thread;
   - coro_wake(co, v) from another thread resumes co's coro_suspend on co's thread;
   - coro_sched_stop(s), from anywhere including a signal handler, makes s's loop return;
   - coro_serve() keeps a loop running with nothing to do, serving posts, until stopped;
   - coro_threads_start(n, init, arg) runs n such serving threads; coro_threads_stop and
     coro_threads_join end them.
   cond, mutex and semaphore are per thread and cost no atomics. A loop pays for the others
   only when something arrives: one load of a flag per round, a wakeup fd written only while
   the target loop sleeps. Handles: a coro_sched_t stays valid while its scheduler lives or
   while a reference taken with coro_sched_ref is held; posting to one whose scheduler stopped,
   was freed or whose thread exited fails with ESHUTDOWN, never crashes.
       static void *job(void *arg) { ... }                 // runs on the thread it was posted to
       coro_threads_t *g = coro_threads_start(4, NULL, NULL);
       for (i = 0; i < 1000; i++)
           coro_sched_post(coro_threads_sched(g, i % 4), job, &jobs[i], 0);
       ...                                                 // gather results through a channel
       coro_threads_stop(g);                               // or from a SIGINT handler
       coro_threads_join(g);

BACKENDS
   epoll on Linux (default), poll() elsewhere or with CORO_SCHED_POLL. poll() costs O(all fds
   waited on) per wakeup: with 10 busy and 9,990 idle connections a poll() server manages about
   1% of the round trips per second of an epoll server (bench/echo, hand-written servers).
   coro_sched_backend() names the one compiled in. Windows: WSAPoll ("wsapoll"), the poll
   backend's logic with Winsock's call.

WINDOWS (x64, mingw-w64 with winpthreads, the "posix" flavour of its gcc)
   The loop, timers, sync, channels, join, threads and posts, offload and TCP sockets work as
   described here. An fd argument is a SOCKET cast to int (handles are 32-bit values and
   small in practice; a socket whose value would not fit is refused with EMFILE, and
   INVALID_SOCKET casts to -1), so coro_socket, coro_accept, coro_tcp_listen and
   coro_tcp_connect return SOCKETs, and close them with coro_close (closesocket). Winsock is
   started (WSAStartup, once per process, thread-safe) by the first call that needs it, and
   its errors reach errno through one table: WSAEWOULDBLOCK -> EAGAIN, WSAECONNRESET ->
   ECONNRESET, WSAECONNREFUSED -> ECONNREFUSED, WSAEADDRINUSE -> EADDRINUSE, WSAETIMEDOUT ->
   ETIMEDOUT, WSAENOTSOCK -> EBADF, and so on (coro__wsa_errno). What Windows lacks fails with
   ENOSYS, never silently: coro_pipe, coro_sendfile, coro_signal_wait and coro_signal_watch;
   CORO_TCP_REUSEPORT fails with ENOPROTOOPT. An fd that is not a socket (a file, a console,
   a CRT fd) cannot be waited on and fails with EBADF. A loop is woken from other threads
   through a loopback TCP socket pair. Tested with mingw-w64 under Wine, not on Windows
   itself; Windows 10 before version 2004 does not report a failed connect to WSAPoll, so
   coro_connect to a refused port waits until its deadline there. coro_sched_stop is safe
   from any thread (a console control handler runs on one). A thread that ends without
   coro_sched_free leaves its scheduler's memory behind (a few hundred bytes and its tables).

THE API (details at each declaration)
   loop:      coro_now coro_spawn coro_run coro_stop coro_sched_yield coro_suspend coro_wake
              coro_sleep coro_sleep_until coro_wait_fd coro_join coro_joinable coro_count
              coro_dump coro_find coro_sched_backend coro_sched_free coro_serve
   threads:   coro_sched_self coro_sched_ref coro_sched_unref coro_sched_post coro_sched_stop
              coro_threads_start coro_threads_sched coro_threads_stop coro_threads_join
   fds:       coro_socket coro_accept coro_connect coro_read coro_read_full coro_write
              coro_writev coro_sendfile coro_close coro_fd_forget coro_pipe coro_tcp_listen
              coro_tcp_listen_opt coro_tcp_connect coro_tcp_port
   sync:      coro_cond_* coro_mutex_* coro_sem_* coro_chan_* (coro_chan_select) coro_bcast_*
   off-loop:  coro_offload coro_signal_wait coro_signal_watch

CONFIGURATION (define before the implementation; defaults in brackets)
   CORO_SCHED_POLL          use poll() even where epoll exists
   CORO_SCHED_IO_BUDGET     I/O calls without waiting before a forced yield [64]
   CORO_SCHED_SPIN_US       microseconds a loop with coroutines waiting on channels watches for
                            another thread's completion before it sleeps in the kernel [20]
   CORO_SCHED_WORKERS       worker threads for coro_offload and name resolution [4]
   CORO_SCHED_KEEP_SIGPIPE  do not set SIGPIPE to SIG_IGN
   CORO_SCHED_NO_IOVEC      Windows: your code declares struct iovec itself (this header
                            declares one, as POSIX lays it out, otherwise)
   coro.h's macros (CORO_MALLOC/CORO_FREE, CORO_STATIC, ...) apply here too; with CORO_DEBUG
   every misuse of this header's calls also prints a line "coro: <call>: <why>" on stderr.
*/
#if defined(CORO_SCHED_IMPLEMENTATION) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1 /* before any system header: accept4, pipe2 */
#endif

#ifndef CORO_SCHED_H
#define CORO_SCHED_H

#include "coro.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#if defined(_WIN32)
/* Windows (mingw-w64): the fd arguments are SOCKETs cast to int (see WINDOWS in the top
   comment); struct iovec is declared here, with POSIX's layout, as Windows has none. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <sys/types.h>
#ifndef CORO_SCHED_NO_IOVEC
struct iovec {
    void *iov_base;
    size_t iov_len;
};
#endif
#if !defined(_POSIX) /* mingw-w64 declares sigset_t only for _POSIX; coro_signal_* need it */
typedef _sigset_t sigset_t;
#endif
#ifndef ESHUTDOWN
#define ESHUTDOWN WSAESHUTDOWN /* Windows' errno.h has none; Winsock's code, for posts refused */
#endif
#else
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/types.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum { CORO_READ = 1, CORO_WRITE = 2 };

/* ---- the loop ------------------------------------------------------------------------------ */

/* coro_now: milliseconds on CLOCK_MONOTONIC; the clock of every deadline. */
CORO_API int64_t coro_now(void);

/* coro_spawn: create a coroutine running fn(arg) and queue it at the back of the ready queue;
   it runs when coro_run gets to it, and gets its stack then (coro.h binds one at the first
   run: a spawned coroutine that has not run costs its handle and task record, about 600
   bytes). Where no memory can be had for that stack, it waits until other coroutines have
   ended and given theirs back (tried again after each end, and every 10 ms). Returns it, or
   NULL with errno EINVAL (fn NULL, absurd stack size) or ENOMEM. stack_size 0 = coro.h's
   default. */
CORO_API coro_t *coro_spawn(coro_fn fn, void *arg, size_t stack_size);

/* coro_run: the event loop. Runs ready coroutines, waits on fds and timers, and returns 0 when
   no spawned coroutine is left or after coro_stop(). -1 with errno: EBUSY if called from a
   spawned coroutine or while a loop already runs on this thread; EDEADLK if every coroutine left
   waits for something only another coroutine could do (a cond, mutex, channel, join, suspend)
   and no fd, timer or worker can ever wake one (they stay blocked; coro_run may be called
   again). EDEADLK is reported only while no other thread can reach this loop: not once
   coro_sched_self() has been called on this thread (a post or a coro_wake may come), nor while
   a coroutine waits on a channel (any thread may complete it); the loop then sleeps instead. */
CORO_API int coro_run(void);

/* coro_stop: make coro_run return 0 once the coroutines that are ready now have run. Called
   while no loop runs on this thread (before coro_run, say), it makes the next coro_run return
   after one round: due timers fire and the coroutines ready then run once. Either way the stop
   is used up when coro_run returns. */
CORO_API void coro_stop(void);

/* coro_sched_yield: go to the back of the ready queue: every other ready coroutine runs first.
   0, or -1 with errno EPERM outside a spawned coroutine, or err if raised into meanwhile. */
CORO_API int coro_sched_yield(void);

/* coro_suspend: park until coro_wake(self, value); returns value. A wake that came first is not
   lost: coro_suspend then returns at once. NULL with errno EPERM outside a spawned coroutine,
   or errno = err if raised into (set errno = 0 first if NULL is a legitimate value). */
CORO_API void *coro_suspend(void);

/* coro_wake: make co's coro_suspend return value: at once queued if co is suspended, else kept
   for its next coro_suspend. 0, or -1 with errno ESRCH (not a live spawned coroutine of this
   thread) or EBUSY (a wake is already pending). From another thread (co belongs to a scheduler
   whose handle was made, see coro_sched_self): 0 once the wake is sent to co's thread, which
   applies it at its next round (a wake that then finds co ended, or a wake already pending, is
   dropped), -1 with errno ESRCH (co is no live coroutine of any such scheduler) or ENOMEM. */
CORO_API int coro_wake(coro_t *co, void *value);

/* coro_sleep: sleep ms milliseconds (0: yield); coro_sleep_until: until coro_now() >= deadline.
   0, or -1 with errno EPERM outside a spawned coroutine, EINVAL for ms < 0 (or deadline < 0),
   or err if raised. A time too large for the clock (up to INT64_MAX) means forever. */
CORO_API int coro_sleep(int64_t ms);
CORO_API int coro_sleep_until(int64_t deadline);

/* coro_wait_fd: wait until fd is ready for events (CORO_READ | CORO_WRITE); returns the events
   that are ready (an error or hangup counts as both, so the next call reports it). -1 with
   errno: EINVAL (bad events), EBADF (fd negative, not open, or closed by coro_close meanwhile),
   EBUSY (another coroutine waits to read, or write, this fd), ETIMEDOUT, EPERM (not a spawned
   coroutine), ENOMEM, or err if raised. */
CORO_API int coro_wait_fd(int fd, int events, int64_t deadline);

/* coro_join: wait for co to end and store its return value in *result (if result is not NULL;
   NULL if co was killed). 0, or -1 with errno: ESRCH if co is not a spawned coroutine of this
   thread that is alive or joinable-and-not-yet-joined (a coroutine that ended without being
   joinable is freed at once; a freed coroutine's address can be reused by a new one, so join
   only what you keep track of), EDEADLK for co == self, ETIMEDOUT (co runs on), EPERM outside
   a spawned coroutine, or err if raised. Several coroutines may join the same one. */
CORO_API int coro_join(coro_t *co, void **result, int64_t deadline);

/* coro_joinable: keep co after its end until a coro_join collects it (call it right after
   coro_spawn); what is kept is its handle and result, its stack goes back to the pool at its
   end. 0, or -1 with errno ESRCH. */
CORO_API int coro_joinable(coro_t *co);

/* coro_count: spawned coroutines that have not ended (on this thread). */
CORO_API size_t coro_count(void);

/* coro_dump: write a table of every spawned coroutine (id, name, state, what it waits on,
   stack size and high-water mark) into buf like snprintf: returns the length the whole table
   needs, writes at most cap bytes including the terminating NUL. */
CORO_API size_t coro_dump(char *buf, size_t cap);

/* coro_find: the live spawned coroutine with this coro_id, or NULL. */
CORO_API coro_t *coro_find(uint64_t id);

/* coro_sched_backend: "epoll", "poll", or "wsapoll" (Windows). */
CORO_API const char *coro_sched_backend(void);

/* coro_sched_free: release this thread's scheduler (poller, fd table, worker threads, pooled
   records). Coroutines still alive are killed first. Also done when the thread exits. */
CORO_API void coro_sched_free(void);

/* ---- many threads: one scheduler per thread; posts, wakes and channels cross between them -- */
/* A coro_sched_t is a handle on one thread's scheduler that other threads may hold: they post
   coroutines to it, wake its coroutines and stop its loop. Coroutines never move between
   threads; work and messages do. The handle's memory lives as long as its references: the
   scheduler's thread holds one until coro_sched_free (or the thread's exit) retires the
   scheduler, and coro_sched_ref adds one for whoever must be able to post after that. A retired
   scheduler's handle stays valid for its remaining holders and refuses posts with ESHUTDOWN. */
typedef struct coro_sched coro_sched_t;

/* coro_sched_self: the calling thread's scheduler handle, made on first use. The pointer is
   borrowed: valid while the thread's scheduler lives (hand it to another thread together with a
   coro_sched_ref taken here if that thread may use it longer). Once it has been asked for, the
   loop can no longer conclude it is deadlocked (a post may always come): see coro_run. NULL with
   errno ENOMEM or as eventfd/pipe (no fd left). */
CORO_API coro_sched_t *coro_sched_self(void);

/* coro_sched_ref / coro_sched_unref: take and drop a reference on s, from any thread; the last
   unref frees the handle. ref: 0, or -1 with errno EINVAL (s NULL). */
CORO_API int coro_sched_ref(coro_sched_t *s);
CORO_API void coro_sched_unref(coro_sched_t *s);

/* coro_sched_post: from any thread, including one with no scheduler: spawn fn(arg) as a
   coroutine on s's thread (stack_size as coro_spawn), waking s's loop if it sleeps. A post that
   returned 0 is spawned by s's loop at its next round, and a loop stopped by coro_sched_stop
   spawns and starts every post it accepted before it returns. 0, or -1 with errno EINVAL (s or
   fn NULL), ENOMEM, ESHUTDOWN (s was stopped or its scheduler retired). Posts not yet spawned
   when s's scheduler is freed without being stopped first are dropped. */
CORO_API int coro_sched_post(coro_sched_t *s, coro_fn fn, void *arg, size_t stack_size);

/* coro_sched_stop: from any thread, and async-signal-safe (atomic stores and one write(2)):
   s's coro_run or coro_serve returns after its current round, having spawned and started every
   post it accepted; from then on posts to s fail with ESHUTDOWN (the thread's coroutines stay;
   coro_run may be called again to finish them). 0, or -1 with errno EINVAL (s NULL). */
CORO_API int coro_sched_stop(coro_sched_t *s);

/* coro_serve: coro_run for a loop that exists to serve posts: it does not return when no
   coroutine is left, only after coro_sched_stop (or coro_stop from one of its coroutines).
   Returns as coro_run, never EDEADLK; -1 with errno ENOMEM if the handle cannot be made. */
CORO_API int coro_serve(void);

/* coro_threads_start: n threads, each with its own scheduler, each calling init(index, arg)
   (if not NULL; it may coro_spawn) and then coro_serve until coro_threads_stop. NULL with errno
   EINVAL (n < 1, n > 1024), ENOMEM, EAGAIN (a thread could not be started; the others are
   stopped and joined). coro_threads_sched: thread index's scheduler, valid until
   coro_threads_join (NULL with errno EINVAL for a bad index). coro_threads_stop: stop them all,
   from any thread, async-signal-safe; 0 or -1 with errno EINVAL. coro_threads_join: wait for
   every thread to end (each frees its scheduler, killing its remaining coroutines) and free the
   group; 0 or -1 with errno EINVAL. */
typedef struct coro_threads coro_threads_t;
CORO_API coro_threads_t *coro_threads_start(int n, void (*init)(int index, void *arg), void *arg);
CORO_API coro_sched_t *coro_threads_sched(coro_threads_t *g, int index);
CORO_API int coro_threads_stop(coro_threads_t *g);
CORO_API int coro_threads_join(coro_threads_t *g);

/* ---- fds and sockets ----------------------------------------------------------------------- */

/* coro_socket: socket(2), non-blocking and close-on-exec. */
CORO_API int coro_socket(int domain, int type, int protocol);

/* coro_accept: accept4(2) a connection, non-blocking and close-on-exec, waiting as needed.
   When the process is out of fds (EMFILE, ENFILE) or memory it backs off (sleeping 1 ms,
   doubling up to 100 ms) instead of spinning, and retries until the deadline. -1 with errno as
   accept4, ETIMEDOUT, EBADF (closed meanwhile), EBUSY (another coroutine accepts on fd). */
CORO_API int coro_accept(int fd, struct sockaddr *addr, socklen_t *len, int64_t deadline);

/* coro_connect: connect(2), waiting for the handshake; the result comes from SO_ERROR.
   0, or -1 with errno as connect (ECONNREFUSED ...), ETIMEDOUT. */
CORO_API int coro_connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline);

/* coro_read: like read(2): waits until something is there, returns what is there (0 at end of
   file). coro_read_full: exactly len bytes, or -1 (errno EPIPE if the end of file came first;
   the bytes read so far are lost). coro_write: all len bytes, or -1 (the amount written before
   the error is lost). Errors as read/write, plus ETIMEDOUT, EBUSY, EBADF, EPERM, raised errs. */
CORO_API ssize_t coro_read(int fd, void *buf, size_t len, int64_t deadline);
CORO_API ssize_t coro_read_full(int fd, void *buf, size_t len, int64_t deadline);
CORO_API ssize_t coro_write(int fd, const void *buf, size_t len, int64_t deadline);

/* coro_writev: like coro_write for the iovcnt buffers of iov in order (a response head and its
   body, say) with as few syscalls as the kernel allows: all of their bytes, or -1. iov is not
   modified; any iovcnt >= 0 works (IOV_MAX is only a per-syscall limit). Returns the total.
   Errors as coro_write, plus EINVAL (iovcnt < 0, iov NULL with iovcnt > 0, or a total above
   SSIZE_MAX). */
CORO_API ssize_t coro_writev(int fd, const struct iovec *iov, int iovcnt, int64_t deadline);

/* coro_sendfile: count bytes of the file in_fd, from *offset on, to out_fd (a socket or pipe),
   as coro_write would write them, without copying them through user space where the kernel
   can (sendfile(2) on Linux; elsewhere pread into a buffer and write). *offset advances by
   every byte sent, also when the call fails, so a caller knows how far it got; in_fd's file
   position is not used or changed. Returns count, or fewer if the file ended first (it shrank:
   *offset is then its end), or -1 with errno as coro_write (ETIMEDOUT, EPIPE or ECONNRESET
   when the peer went away, EBADF for a bad or closed out_fd or a bad in_fd, raised errs), or
   EINVAL (offset NULL, *offset negative, count above SSIZE_MAX). The file's pages are read on
   the calling thread, like nginx without aio: fine for files in the page cache; for cold or
   remote files, read them with coro_offload instead. Windows: -1 with errno ENOSYS (after
   the checks above and of out_fd). */
CORO_API ssize_t coro_sendfile(int out_fd, int in_fd, off_t *offset, size_t count, int64_t deadline);

/* coro_close: close fd; coroutines waiting on it wake with -1, errno EBADF. Returns close's
   result. coro_fd_forget: the same without closing: the scheduler forgets fd (it stays open
   and non-blocking), for fds you close yourself. */
CORO_API int coro_close(int fd);
CORO_API void coro_fd_forget(int fd);

/* coro_pipe: pipe2(2), both ends non-blocking and close-on-exec. Windows: -1 with errno ENOSYS
   (it has no pipe a WSAPoll loop can wait on; a loopback TCP pair serves instead). */
CORO_API int coro_pipe(int fds[2]);

/* coro_tcp_listen: a listening TCP socket bound to host:port (host NULL = all IPv4 interfaces;
   port 0 = any free port, see coro_tcp_port), SO_REUSEADDR, non-blocking. Returns the fd, or
   -1 with errno as socket/bind/listen or EINVAL (bad host). A host that is a name is resolved
   on a worker thread when called from a spawned coroutine. */
CORO_API int coro_tcp_listen(const char *host, int port, int backlog);

/* coro_tcp_listen_opt: coro_tcp_listen with option flags, 0 or a bitwise or of:
     CORO_TCP_REUSEPORT  SO_REUSEPORT: several sockets (one per thread, each with its own
                         scheduler) may listen on the same host:port and the kernel spreads
                         new connections over them (Linux 3.9+; ENOPROTOOPT where missing,
                         Windows included)
   -1 with errno as coro_tcp_listen, setsockopt, or EINVAL (an unknown flag). */
#define CORO_TCP_REUSEPORT 1
CORO_API int coro_tcp_listen_opt(const char *host, int port, int backlog, int flags);

/* coro_tcp_connect: a connected TCP socket (TCP_NODELAY set) to host:port, trying each address
   the name resolves to; names are resolved on a worker thread so the loop never stalls. -1
   with errno as coro_connect, EHOSTUNREACH if the name does not resolve, ETIMEDOUT. */
CORO_API int coro_tcp_connect(const char *host, int port, int64_t deadline);

/* coro_tcp_port: the local port of a socket (after binding to port 0), -1 with errno. */
CORO_API int coro_tcp_port(int fd);

/* ---- blocking work off the loop ------------------------------------------------------------ */

/* coro_offload: run fn(arg) on a worker thread and wait for it; *result (if not NULL) gets its
   return value. Files, getaddrinfo, anything that would block the loop. 0, or -1 with errno
   EPERM (not a spawned coroutine), EAGAIN (no worker thread could be started), ENOMEM, or err if
   raised: at once if no worker has started fn yet (it is dropped and never runs), else when fn
   has run to its end on the worker, so memory fn uses stays valid. If the caller is killed, fn also runs to its end and the caller's stack is kept
   until then. (Under ASan with detect_stack_use_after_return=1, addressable locals live on
   ASan's fake stack instead, which ASan frees when the coroutine dies: if the caller may be
   killed, give fn heap memory.) */
CORO_API int coro_offload(void *(*fn)(void *), void *arg, void **result);

/* coro_signal_wait: wait until one of the signals in set is delivered to the process and return
   its number. The first call installs a handler for each signal in set (so their default
   action, such as terminating on SIGINT, no longer happens) that records the signal and wakes
   the loop through a pipe. -1 with errno ETIMEDOUT, EINVAL (empty set or SIGKILL/SIGSTOP),
   EPERM, or err if raised. Meant for one waiter per process (typically a shutdown coroutine).
   Windows: -1 with errno ENOSYS (no POSIX signals; a SetConsoleCtrlHandler handler may call
   coro_sched_stop instead). */
CORO_API int coro_signal_wait(const sigset_t *set, int64_t deadline);

/* coro_signal_watch: install those handlers now, from anywhere (main before coro_run, say), so
   that a signal arriving before the waiting coroutine first runs is recorded, not fatal. 0, or
   -1 with errno EINVAL (empty set, SIGKILL, SIGSTOP) or as pipe2/sigaction. Windows: -1 with
   errno ENOSYS. */
CORO_API int coro_signal_watch(const sigset_t *set);

/* ---- synchronisation ------------------------------------------------------------------------
   cond, mutex and semaphore serve the coroutines of one thread (no allocation, no atomics;
   zero-filled = initialised); channels work between any threads. */
/* A NULL object makes the int-returning calls fail with EINVAL and the void ones do nothing.
   A mutex, condition variable or semaphore belongs to the thread whose scheduler first uses it
   after its init; coroutines of one thread only can wait on it. A call from another thread
   (its coroutines or its main) fails with EPERM and the void ones do nothing; an init call
   hands the object over to the next thread that uses it. */
struct coro__task;
struct coro__sched;
typedef struct coro__waitq {
    struct coro__task *head, *tail;
} coro__waitq;

/* Condition variable. coro_cond_wait parks until signalled (no spurious wakeups): 0, or -1 with
   errno ETIMEDOUT, EPERM (not a spawned coroutine, or another thread's), or err if raised.
   signal wakes the longest waiter, broadcast all (another thread's: nothing). */
typedef struct coro_cond {
    coro__waitq waiters;
    struct coro__sched *sched; /* the owning thread's scheduler, set by the first use */
} coro_cond_t;
#define CORO_COND_INIT {{NULL, NULL}, NULL}
CORO_API void coro_cond_init(coro_cond_t *c);
CORO_API int coro_cond_wait(coro_cond_t *c, int64_t deadline);
CORO_API void coro_cond_signal(coro_cond_t *c);
CORO_API void coro_cond_broadcast(coro_cond_t *c);

/* Mutex, FIFO: unlock hands the lock to the longest waiter. lock: 0, or -1 with errno
   ETIMEDOUT, EDEADLK (the caller holds it), EPERM (not a spawned coroutine, or another
   thread's mutex), or err if raised. unlock: 0, or -1 with errno EPERM if the caller does not
   hold it. A coroutine killed while
   holding a mutex keeps it locked: register coro_defer(unlock) if that can happen. */
typedef struct coro_mutex {
    struct coro__task *owner;
    coro__waitq waiters;
    struct coro__sched *sched;
} coro_mutex_t;
#define CORO_MUTEX_INIT {NULL, {NULL, NULL}, NULL}
CORO_API void coro_mutex_init(coro_mutex_t *m);
CORO_API int coro_mutex_lock(coro_mutex_t *m, int64_t deadline);
CORO_API int coro_mutex_unlock(coro_mutex_t *m);

/* Counting semaphore, FIFO. wait: 0, or -1 with errno ETIMEDOUT, EPERM (not a spawned
   coroutine, or another thread's), or err if raised. post: 0, or -1 with errno EOVERFLOW at
   UINT_MAX, EPERM for another thread's. */
typedef struct coro_sem {
    unsigned count;
    coro__waitq waiters;
    struct coro__sched *sched;
} coro_sem_t;
CORO_API void coro_sem_init(coro_sem_t *s, unsigned count);
CORO_API int coro_sem_wait(coro_sem_t *s, int64_t deadline);
CORO_API int coro_sem_post(coro_sem_t *s);

/* Channel of fixed-size elements: capacity 0 is a rendezvous (send waits for a receiver),
   otherwise a FIFO buffer of capacity elements. Any mix of senders and receivers on any threads
   may use one channel: a call that must wait blocks only the calling coroutine, and a thread
   outside any coroutine that has no spawned coroutines of its own (main before coro_run, a
   worker pool, a foreign callback) blocks itself. coro_chan_new: NULL with errno EINVAL
   (elem_size 0 or too large) or ENOMEM. send/recv: 0, or -1 with errno EPIPE (closed; recv
   drains what was sent first), ETIMEDOUT, EPERM (it would have to wait in a coroutine not
   spawned by the scheduler, or outside coroutines on a thread that has spawned coroutines,
   which could not run meanwhile), ENOMEM (the scheduler's handle could not be made), or err if
   raised. close wakes every waiter, on every thread (EPIPE); free closes, waits until no
   waiter of another thread still touches the channel, then frees: no call may start on it
   after free. Elements are copied (memcpy). A send that returned 0 is received exactly once,
   also when the receiver's deadline passed at the same moment. */
typedef struct coro_chan coro_chan_t;
CORO_API coro_chan_t *coro_chan_new(size_t elem_size, size_t capacity);
CORO_API int coro_chan_send(coro_chan_t *ch, const void *elem, int64_t deadline);
CORO_API int coro_chan_recv(coro_chan_t *ch, void *elem, int64_t deadline);
CORO_API void coro_chan_close(coro_chan_t *ch);
CORO_API void coro_chan_free(coro_chan_t *ch);
CORO_API size_t coro_chan_len(const coro_chan_t *ch); /* elements buffered now */

/* coro_chan_select: wait until one of n channel operations can complete, complete exactly that
   one and return its index. ops[i].op is CORO_CHAN_SEND (send the element at ops[i].elem) or
   CORO_CHAN_RECV (receive into ops[i].elem); an op set to CORO_CHAN_CLOSED is skipped. When
   several are ready, the one completed is picked at random, so none starves. The deadline works
   as everywhere (-1: none; already past: one non-blocking attempt). The same channel may appear
   in several ops; works across threads like send and recv (any op may be on a channel other
   threads use, and a plain thread blocks like in send/recv). Returns the index, or -1 with errno:
   EPIPE: the channel of ops[i] is closed (a recv drains what was buffered first) and select has
     set ops[i].op = CORO_CHAN_CLOSED to say which; the same array can be passed again to go on
     with the others, and once every op is CORO_CHAN_CLOSED the call fails with EPIPE at once;
   EINVAL: ops NULL, n < 1, an op with a NULL ch or elem or an unknown op;
   ETIMEDOUT, EPERM, ENOMEM, or err if raised, as for send/recv. A select that fails completed
   nothing; one that is raised into or killed while waiting leaves no trace on the channels. */
enum { CORO_CHAN_SEND = 1, CORO_CHAN_RECV = 2, CORO_CHAN_CLOSED = 3 };
typedef struct coro_chan_op {
    coro_chan_t *ch;
    int op;     /* CORO_CHAN_SEND, CORO_CHAN_RECV or CORO_CHAN_CLOSED */
    void *elem; /* the element to send, or where to receive one */
} coro_chan_op;
CORO_API int coro_chan_select(coro_chan_op *ops, int n, int64_t deadline);

/* Broadcast: every message published reaches every subscriber, in the order its publisher
   published them, through a queue of capacity elements per subscriber. Works across threads
   like channels (publishers and subscribers on any threads, plain threads block). A subscriber
   that falls behind is never skipped silently: a publish that finds its queue full waits for
   room until its deadline, then drops that subscriber, whose recv returns what was queued for
   it and then fails with ENOBUFS. Elements are copied (memcpy); messages of concurrent
   publishers may interleave differently for different subscribers.
   coro_bcast_new: NULL with errno EINVAL (elem_size 0 or too large, capacity 0) or ENOMEM.
   coro_bcast_subscribe: a subscription that receives what is published from now on; NULL with
     errno EINVAL, EPIPE (closed) or ENOMEM.
   coro_bcast_publish: queue elem for every subscriber, waiting for room in full queues until
     deadline (-1: forever; a past deadline: drop whoever is full at once). Returns the number of
     subscribers it was queued for (dropped ones not counted), or -1 with errno EINVAL or EPIPE
     (closed). A publisher that is raised into while it waits for room (or may not wait: the
     EPERM cases of coro_chan_send) stops waiting: the subscribers not served yet are offered
     the message without waiting and dropped if full, the count is returned, and the raise makes
     the caller's next blocking call fail instead. (Killing a publisher that waits for room
     leaves the subscribers it had not reached without that message: raise it instead.)
   coro_bcast_recv: the next message for sub into elem. 0, or -1 with errno ENOBUFS (sub was
     dropped for falling behind; everything queued before is received first), EPIPE (closed,
     after the rest was received), ETIMEDOUT, EPERM, or err if raised, as coro_chan_recv.
   coro_bcast_chan: sub's queue, to wait on it in coro_chan_select next to other channels (a
     receive there is a coro_bcast_recv; when it reports EPIPE, coro_bcast_recv says which:
     ENOBUFS or EPIPE); NULL with errno EINVAL for NULL.
   coro_bcast_unsubscribe: end sub (its queue is dropped); no call on sub may be in progress or
     start after it. 0, or -1 with errno EINVAL for NULL.
   coro_bcast_close: publishes fail with EPIPE from now on; subscribers receive what is queued,
     then EPIPE. coro_bcast_free: closes and releases b; subscriptions stay valid until they are
     unsubscribed (the memory goes with the last); no call on b may start after it. */
typedef struct coro_bcast coro_bcast_t;
typedef struct coro_bcast_sub coro_bcast_sub_t;
CORO_API coro_bcast_t *coro_bcast_new(size_t elem_size, size_t capacity);
CORO_API coro_bcast_sub_t *coro_bcast_subscribe(coro_bcast_t *b);
CORO_API int coro_bcast_publish(coro_bcast_t *b, const void *elem, int64_t deadline);
CORO_API int coro_bcast_recv(coro_bcast_sub_t *sub, void *elem, int64_t deadline);
CORO_API coro_chan_t *coro_bcast_chan(coro_bcast_sub_t *sub);
CORO_API int coro_bcast_unsubscribe(coro_bcast_sub_t *sub);
CORO_API void coro_bcast_close(coro_bcast_t *b);
CORO_API void coro_bcast_free(coro_bcast_t *b);

#ifdef __cplusplus
}
#endif
#endif /* CORO_SCHED_H */

/* ============================================================================================ */
/*                                        IMPLEMENTATION                                        */
/* ============================================================================================ */
#if defined(CORO_SCHED_IMPLEMENTATION) && !defined(CORO_SCHED__IMPLEMENTED)
#define CORO_SCHED__IMPLEMENTED

/* >>config */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* The operating system is named here once (CORO__SCHED_WINDOWS); only the >>os-... blocks, and
   the blocks that exist once per system (>>sendfile, >>wakeup, >>signals), look at it. Windows
   means mingw-w64 with winpthreads (its "posix" flavour): the threads, mutexes, condition
   variables, clock_gettime and sched_yield used below are winpthreads'. */
#if defined(_WIN32)
#define CORO__SCHED_WINDOWS 1
#else
#define CORO__SCHED_WINDOWS 0
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#if !defined(SOCK_NONBLOCK) || !defined(MSG_NOSIGNAL)
#error "coro_sched.h: the implementation needs POSIX extensions: put the #defines before any #include, or compile with -D_GNU_SOURCE"
#endif
#endif
#if defined(__linux__) && !defined(CORO_SCHED_POLL)
#include <sys/epoll.h>
#define CORO__EPOLL 1
#else
#define CORO__EPOLL 0
#endif

/* >>sendfile: one non-blocking attempt to move bytes of a file to a socket or pipe, with
   sendfile(2)'s contract (bytes sent, 0 at the file's end, -1 with errno EAGAIN when out_fd is
   full); Linux's zero-copy call, elsewhere a pread into a buffer and one write of it. */
#if CORO__SCHED_WINDOWS
/* Windows: no such call here (TransmitFile takes a file HANDLE, not a CRT fd, and completes
   through overlapped I/O, which a WSAPoll loop does not have): ENOSYS. */
static ssize_t coro__sendfile_once(int out_fd, int in_fd, off_t *off, size_t count, int socket) {
    (void)out_fd;
    (void)in_fd;
    (void)off;
    (void)count;
    (void)socket;
    errno = ENOSYS;
    return -1;
}
#elif defined(__linux__)
#include <sys/sendfile.h>
static ssize_t coro__sendfile_copy(int out_fd, int in_fd, off_t *off, size_t count, int socket);
static ssize_t coro__sendfile_once(int out_fd, int in_fd, off_t *off, size_t count, int socket) {
    ssize_t n = sendfile(out_fd, in_fd, off, count);
    if (n < 0 && (errno == EINVAL || errno == ENOSYS) && *off >= 0) /* in_fd cannot be mapped */
        return coro__sendfile_copy(out_fd, in_fd, off, count, socket);
    return n;
}
#else
static ssize_t coro__sendfile_copy(int out_fd, int in_fd, off_t *off, size_t count, int socket);
static ssize_t coro__sendfile_once(int out_fd, int in_fd, off_t *off, size_t count, int socket) {
    return coro__sendfile_copy(out_fd, in_fd, off, count, socket);
}
#endif
#if !CORO__SCHED_WINDOWS
/* What the bytes read but not accepted by out_fd cost is a second read of them next time. */
static ssize_t coro__sendfile_copy(int out_fd, int in_fd, off_t *off, size_t count, int socket) {
    char buf[16384];
    ssize_t r, w;
    if (count > sizeof buf) count = sizeof buf;
    do r = pread(in_fd, buf, count, *off);
    while (r < 0 && errno == EINTR);
    if (r <= 0) return r;
    do w = socket ? send(out_fd, buf, (size_t)r, MSG_NOSIGNAL) : write(out_fd, buf, (size_t)r);
    while (w < 0 && errno == EINTR);
    if (w > 0) *off += (off_t)w;
    return w;
}
#endif

#ifndef CORO_MALLOC
#define CORO_MALLOC(sz) malloc(sz)
#define CORO_FREE(p) free(p)
#endif
#ifndef CORO_SCHED_IO_BUDGET
#define CORO_SCHED_IO_BUDGET 64
#endif
#ifndef CORO_SCHED_SPIN_US
#define CORO_SCHED_SPIN_US 20
#endif
#ifndef CORO_SCHED_WORKERS
#define CORO_SCHED_WORKERS 4
#endif
#ifndef CORO__TEST_BEFORE_PARK /* a test widens the race it must win: a post as the loop parks */
#define CORO__TEST_BEFORE_PARK() ((void)0)
#endif
#define CORO__TASK_MAGIC 0x7461736bu /* "task" */
#define CORO__HUP 4 /* with CORO_READ/CORO_WRITE in a backend's report: the peer hung up */
#define CORO__NO_HEAP ((size_t)-1)
#define CORO__SCHED_NOINLINE __attribute__((noinline))
#define CORO__SCHED_INLINE inline __attribute__((always_inline)) /* the yield path: no call, no spills */

/* Each >>os-socket block provides the same private functions; nothing else calls the system
   on an fd. On Windows an fd is a SOCKET cast to int (Windows documents that handles are
   32-bit values, and socket handles are small multiples of 4 in practice; one above INT_MAX is
   refused), and errno carries Winsock's error mapped through one table (coro__wsa_errno).
     coro__os_net_start()            once, before the first socket call (Winsock's WSAStartup)
     coro__os_sched_start()          once per scheduler (SIGPIPE ignored, unless kept)
     coro__os_fd_open(fd)            1 if fd is open, else 0 with errno EBADF
     coro__os_fd_learn(fd, &kind)    make fd non-blocking; kind: CORO__K_* bits
     coro__os_socket / _accept       new sockets, non-blocking, not inherited by children
     coro__os_connect                0, or -1 with errno (EINPROGRESS: the handshake goes on)
     coro__os_read / _write / _writev / _close / _pipe
     coro__os_setopt(fd, level, name, int)  coro__os_sock_error(fd)  coro__os_sockname
     coro__os_reuseaddr(fd)          what a listener needs to rebind a port in TIME_WAIT
     coro__os_bind_listen(fd, addr, len, backlog) */
enum { CORO__K_SOCKET = 1, CORO__K_STREAM = 2, CORO__K_REGULAR = 4 };

/* >>os-socket: POSIX */
#if !CORO__SCHED_WINDOWS
static inline void coro__os_net_start(void) {}
static void coro__os_sched_start(void) {
#ifndef CORO_SCHED_KEEP_SIGPIPE
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
        old.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
#endif
}
static int coro__os_fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }
static int coro__os_fd_learn(int fd, int *kind) {
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    *kind = 0;
    if (fl < 0 || fstat(fd, &st) != 0) return -1; /* EBADF */
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return -1;
    if (S_ISSOCK(st.st_mode)) {
        int type = 0;
        socklen_t len = sizeof type;
        *kind = CORO__K_SOCKET;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM)
            *kind |= CORO__K_STREAM;
    } else if (S_ISFIFO(st.st_mode)) {
        *kind = CORO__K_STREAM; /* a short read from a pipe means it is empty */
    } else if (S_ISREG(st.st_mode)) {
        *kind = CORO__K_REGULAR;
    }
    return 0;
}
static int coro__os_socket(int domain, int type, int protocol) {
    return socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
}
static int coro__os_accept(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
static int coro__os_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    return connect(fd, addr, len);
}
static inline ssize_t coro__os_read(int fd, void *buf, size_t len) { return read(fd, buf, len); }
static inline ssize_t coro__os_write(int fd, const void *buf, size_t len, int socket) {
    return socket ? send(fd, buf, len, MSG_NOSIGNAL) : write(fd, buf, len);
}
static ssize_t coro__os_writev(int fd, struct iovec *iov, int cnt, int socket) {
    struct msghdr m;
    if (!socket) return writev(fd, iov, cnt);
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)cnt;
    return sendmsg(fd, &m, MSG_NOSIGNAL);
}
static int coro__os_close(int fd) { return close(fd); }
static int coro__os_pipe(int fds[2]) { return pipe2(fds, O_NONBLOCK | O_CLOEXEC); }
static int coro__os_setopt(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof value);
}
static int coro__os_sock_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
    return err;
}
static int coro__os_sockname(int fd, struct sockaddr_storage *ss) {
    socklen_t len = sizeof *ss;
    return getsockname(fd, (struct sockaddr *)ss, &len);
}
static void coro__os_reuseaddr(int fd) { (void)coro__os_setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1); }
typedef int coro__pollfd_fd; /* the type of struct pollfd's fd */
#define CORO__OS_POLL_NAME "poll"
static int coro__os_poll(struct pollfd *p, size_t n, int timeout) {
    return poll(p, (nfds_t)n, timeout);
}
static int coro__os_bind_listen(int fd, const struct sockaddr *addr, socklen_t len, int backlog) {
    return bind(fd, addr, len) == 0 && listen(fd, backlog) == 0 ? 0 : -1;
}

/* >>os-socket: Windows (Winsock 2; WSAStartup once per process, errors mapped to errno) */
#else
static SOCKET coro__sock(int fd) { return (SOCKET)(unsigned)fd; }
/* Winsock's error codes as the errno values the POSIX calls would have set: the one table. */
static int coro__wsa_errno(int e) {
    switch (e) {
    case WSAEWOULDBLOCK: return EAGAIN;
    case WSAEINPROGRESS: return EINPROGRESS;
    case WSAEALREADY: return EALREADY;
    case WSAEINTR: return EINTR;
    case WSAENOTSOCK: /* not a socket, or a closed one: the fds here are sockets */
    case WSAEBADF:
    case WSA_INVALID_HANDLE: return EBADF;
    case WSAEINVAL: return EINVAL;
    case WSAEFAULT: return EFAULT;
    case WSAEACCES: return EACCES;
    case WSAEMFILE: return EMFILE;
    case WSAENOBUFS: return ENOBUFS;
    case WSA_NOT_ENOUGH_MEMORY: return ENOMEM;
    case WSAEMSGSIZE: return EMSGSIZE;
    case WSAEPROTOTYPE: return EPROTOTYPE;
    case WSAENOPROTOOPT: return ENOPROTOOPT;
    case WSAEPROTONOSUPPORT:
    case WSAESOCKTNOSUPPORT: return EPROTONOSUPPORT;
    case WSAEOPNOTSUPP: return EOPNOTSUPP;
    case WSAEPFNOSUPPORT:
    case WSAEAFNOSUPPORT: return EAFNOSUPPORT;
    case WSAEADDRINUSE: return EADDRINUSE;
    case WSAEADDRNOTAVAIL: return EADDRNOTAVAIL;
    case WSAENETDOWN: return ENETDOWN;
    case WSAENETUNREACH: return ENETUNREACH;
    case WSAENETRESET: return ENETRESET;
    case WSAECONNABORTED: return ECONNABORTED;
    case WSAECONNRESET: return ECONNRESET;
    case WSAEISCONN: return EISCONN;
    case WSAENOTCONN: return ENOTCONN;
    case WSAESHUTDOWN: return EPIPE; /* sending after shutdown: POSIX says EPIPE */
    case WSAETIMEDOUT: return ETIMEDOUT;
    case WSAECONNREFUSED: return ECONNREFUSED;
    case WSAEHOSTDOWN:
    case WSAEHOSTUNREACH: return EHOSTUNREACH;
    case WSAEDESTADDRREQ: return EDESTADDRREQ;
    case WSANOTINITIALISED: return ENETDOWN;
    default: return EIO;
    }
}
static int coro__os_fail(void) {
    errno = coro__wsa_errno(WSAGetLastError());
    return -1;
}
static pthread_once_t coro__wsa_once = PTHREAD_ONCE_INIT;
static void coro__wsa_start(void) {
    WSADATA d;
    (void)WSAStartup(MAKEWORD(2, 2), &d); /* on failure every call fails with ENETDOWN */
}
static void coro__os_net_start(void) { pthread_once(&coro__wsa_once, coro__wsa_start); }
static void coro__os_sched_start(void) { coro__os_net_start(); } /* (no SIGPIPE on Windows) */
static int coro__os_fd_open(int fd) {
    int type = 0, len = sizeof type;
    if (fd >= 0 && getsockopt(coro__sock(fd), SOL_SOCKET, SO_TYPE, (char *)&type, &len) == 0)
        return 1;
    errno = EBADF;
    return 0;
}
static int coro__os_nonblock(SOCKET h) {
    u_long one = 1;
    SetHandleInformation((HANDLE)h, HANDLE_FLAG_INHERIT, 0);
    return ioctlsocket(h, (long)FIONBIO, &one) == 0 ? 0 : coro__os_fail();
}
static int coro__os_fd_learn(int fd, int *kind) {
    int type = 0, len = sizeof type;
    *kind = 0;
    if (getsockopt(coro__sock(fd), SOL_SOCKET, SO_TYPE, (char *)&type, &len) != 0) {
        errno = EBADF; /* not a socket (Windows waits on nothing else here), or closed */
        return -1;
    }
    if (coro__os_nonblock(coro__sock(fd)) != 0) return -1;
    *kind = CORO__K_SOCKET | (type == SOCK_STREAM ? CORO__K_STREAM : 0);
    return 0;
}
/* A new SOCKET as an int: non-blocking, not inherited; a handle beyond INT_MAX (which Windows
   does not hand out) is refused with EMFILE rather than truncated. */
static int coro__os_adopt(SOCKET h) {
    if (h == INVALID_SOCKET) return coro__os_fail();
    if (h > (SOCKET)INT_MAX) {
        closesocket(h);
        errno = EMFILE;
        return -1;
    }
    if (coro__os_nonblock(h) != 0) {
        int e = errno;
        closesocket(h);
        errno = e;
        return -1;
    }
    return (int)h;
}
static int coro__os_socket(int domain, int type, int protocol) {
    coro__os_net_start();
    return coro__os_adopt(socket(domain, type, protocol));
}
static int coro__os_accept(int fd, struct sockaddr *addr, socklen_t *len) {
    return coro__os_adopt(accept(coro__sock(fd), addr, len));
}
static int coro__os_connect(int fd, const struct sockaddr *addr, socklen_t len) {
    if (connect(coro__sock(fd), addr, len) == 0) return 0;
    coro__os_fail();
    if (errno == EAGAIN) errno = EINPROGRESS; /* WSAEWOULDBLOCK: the handshake goes on */
    return -1;
}
static int coro__os_len(size_t len) { return len > (size_t)INT_MAX ? INT_MAX : (int)len; }
static ssize_t coro__os_read(int fd, void *buf, size_t len) {
    int n = recv(coro__sock(fd), (char *)buf, coro__os_len(len), 0);
    return n >= 0 ? (ssize_t)n : coro__os_fail();
}
static ssize_t coro__os_write(int fd, const void *buf, size_t len, int socket) {
    int n = send(coro__sock(fd), (const char *)buf, coro__os_len(len), 0);
    (void)socket;
    return n >= 0 ? (ssize_t)n : coro__os_fail();
}
static ssize_t coro__os_writev(int fd, struct iovec *iov, int cnt, int socket) {
    WSABUF b[64];
    DWORD sent = 0;
    int k;
    (void)socket;
    if (cnt > 64) cnt = 64;
    for (k = 0; k < cnt; k++) {
        b[k].buf = (char *)iov[k].iov_base;
        b[k].len = (ULONG)(iov[k].iov_len > (size_t)INT_MAX ? (size_t)INT_MAX : iov[k].iov_len);
        if (b[k].len != iov[k].iov_len) { /* the rest goes in the next call */
            k++;
            break;
        }
    }
    if (WSASend(coro__sock(fd), b, (DWORD)k, &sent, 0, NULL, NULL) != 0) return coro__os_fail();
    return (ssize_t)sent;
}
static int coro__os_close(int fd) {
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    return closesocket(coro__sock(fd)) == 0 ? 0 : coro__os_fail();
}
static int coro__os_pipe(int fds[2]) {
    (void)fds;
    errno = ENOSYS; /* Windows has no non-blocking pipe a WSAPoll loop could wait on */
    return -1;
}
static int coro__os_setopt(int fd, int level, int name, int value) {
    return setsockopt(coro__sock(fd), level, name, (const char *)&value, sizeof value) == 0
               ? 0 : coro__os_fail();
}
static int coro__os_sock_error(int fd) {
    int err = 0, len = sizeof err;
    if (getsockopt(coro__sock(fd), SOL_SOCKET, SO_ERROR, (char *)&err, &len) != 0) {
        coro__os_fail();
        return errno;
    }
    return err ? coro__wsa_errno(err) : 0;
}
static int coro__os_sockname(int fd, struct sockaddr_storage *ss) {
    int len = sizeof *ss;
    return getsockname(coro__sock(fd), (struct sockaddr *)ss, &len) == 0 ? 0 : coro__os_fail();
}
/* Windows' SO_REUSEADDR would let another socket take over a port that is listened on; its
   default already rebinds a port whose connections are in TIME_WAIT. */
static void coro__os_reuseaddr(int fd) { (void)fd; }
static int coro__os_bind_listen(int fd, const struct sockaddr *addr, socklen_t len, int backlog) {
    if (bind(coro__sock(fd), addr, len) != 0 || listen(coro__sock(fd), backlog) != 0)
        return coro__os_fail();
    return 0;
}
/* WSAPoll takes SOCKETs and refuses an empty set, which a loop waiting only on timers has: it
   then sleeps. (Windows 10 before version 2004 does not report a failed connect to WSAPoll:
   coro_connect then waits until its deadline.) */
typedef SOCKET coro__pollfd_fd;
#define CORO__OS_POLL_NAME "wsapoll"
static int coro__os_poll(struct pollfd *p, size_t n, int timeout) {
    int r;
    if (!n) {
        Sleep(timeout < 0 ? INFINITE : (DWORD)timeout);
        return 0;
    }
    r = WSAPoll(p, (ULONG)n, timeout);
    return r < 0 ? coro__os_fail() : r;
}
#endif


/* task states */
enum { CORO__READY = 1, CORO__RUNNING, CORO__WAITING, CORO__DONE };
/* what a waiting task waits on (for unlinking and for coro_dump) */
enum {
    CORO__W_NONE,
    CORO__W_YIELD,
    CORO__W_SLEEP,
    CORO__W_FD,
    CORO__W_COND,
    CORO__W_MUTEX,
    CORO__W_SEM,
    CORO__W_CHAN_SEND,
    CORO__W_CHAN_RECV,
    CORO__W_JOIN,
    CORO__W_SUSPEND,
    CORO__W_JOB,
    CORO__W_SIGNAL,
    CORO__W_BACKOFF,
    CORO__W_SELECT
};

typedef struct coro__sched coro__sched;
typedef struct coro__job coro__job;

typedef struct coro__task {
    /* What a switch reads and writes, first, within 64 bytes: with many tasks each one a switch
       goes to is a cache miss, and a yield touches only this part of it. */
    /* one link: the ready queue or a wait queue (a task is in at most one) */
    struct coro__task *next, *prev;
    coro__waitq *queue;
    coro_t *co;
    int state, wait;
    int pending_raise, budget;
    /* the wait in progress */
    int woken, reason;
    unsigned magic;
    coro__sched *s;
    coro_fn fn;
    void *arg, *result;
    void *value;   /* coro_wake's value, a joined result */
    void *elem;    /* a channel element to copy from or to */
    int fd, events, revents;
    int64_t deadline;
    size_t heap_idx;
    coro__waitq joiners;
    coro_t *join_target;
    int joinable, joined, has_wake;
    int started; /* its coroutine has run (its first resume can fail: no stack, ENOMEM) */
    void *wake_value;
    coro__job *job; /* an offloaded call in flight */
    /* a channel wait: the channel's queue links are separate, since another thread that
       completes the operation unlinks the task while its own thread may be using the others */
    struct coro_chan *xch;    /* the channel waited on, until the wait is over */
    coro__waitq *xq;          /* its senders or receivers */
    struct coro__task *cnext, *cprev, *xnext;
    int xstate, xreason;      /* CORO__X_*, atomic; the result another thread delivers */
    struct coro_sched *h;     /* the handle other threads deliver to */
    struct coro__tw *tw;      /* a plain thread's wait (a stand-in task on its stack) */
    struct coro__sel *sel;    /* a select in progress (its owner's record, on its stack) */
    struct coro__task *xowner; /* a select's stand-in in one channel queue: the selecting task */
    int xidx;                 /* ... and the index of its op */
    void *selmem;             /* a select's stand-ins: too many for its frame, or under ASan */
    struct coro__task *all_next, *all_prev; /* live tasks, or the zombie / free lists */
} coro__task;

typedef struct coro__fd {
    coro__task *reader, *writer;
    unsigned char known, socket, stream, ready, registered, always_ready, internal, hup;
    unsigned pidx; /* poll backend: index + 1 in the pollfd array, 0 if absent */
} coro__fd;

struct coro__job {
    void *(*fn)(void *);
    void *arg, *result;
    coro__task *task;
    struct coro__job *next;
};

/* A timer: the key is copied in, so ordering the heap reads only the heap's own array. */
typedef struct coro__hent {
    int64_t deadline;
    uint64_t seq;
    coro__task *task;
} coro__hent;

typedef struct coro__reg_slot {
    coro_t *key;
    coro__task *task;
} coro__reg_slot;

struct coro__sched {
    int ready_init, running, stop;
    coro__waitq ready;
    coro__waitq starved;     /* tasks whose first run found no memory for a stack */
    uint64_t ended;          /* tasks ended so far, and how many had when a starved one was */
    uint64_t starved_ended;  /* last tried */
    int64_t starved_at;      /* ... and when (ms) */
    size_t nready;
    struct coro__hent *heap;
    size_t nheap, cap_heap;
    uint64_t seq, resumes;
    coro__task *cur;         /* the task the loop (or a hand-off) switched to last */
    size_t budget;           /* switches to ready tasks left in this round of the loop */
    coro__fd *fds;
    size_t nfds;
    size_t nfdwait;          /* tasks waiting on fds: the loop has something to wait for */
    coro__task *all;         /* live tasks */
    size_t count;
    coro__task *zombies;     /* ended, to be freed by the loop */
    coro__task *kept;        /* ended joinable tasks waiting for coro_join */
    coro__task *free_tasks;  /* recycled records */
    coro__reg_slot *reg;     /* coro_t* -> task, for validating coro_join / coro_wake */
    size_t reg_cap, reg_n;
    /* poller */
    int pfd;                 /* epoll fd, or -1 */
    struct pollfd *pfds;
    size_t npfds, cap_pfds;
    int *evfd;               /* (fd, revents) pairs collected by a wait */
    size_t cap_ev;
    /* worker threads */
    pthread_mutex_t job_lock;
    pthread_cond_t job_cond;
    coro__job *jobs, *jobs_tail, *done_jobs;
    pthread_t workers[CORO_SCHED_WORKERS];
    int nworkers, idle_workers, workers_quit, job_lock_init;
    size_t jobs_pending, jobs_queued;
    int wake_rd, wake_wr;
    /* other threads */
    struct coro_sched *h;    /* the handle, once made */
    size_t nchanwait;        /* tasks queued on a channel or whose channel wake is on the way */
    int64_t spin_ns;         /* how long the last waits for mail paid off spinning (adapted) */
    unsigned spins;          /* waits for mail so far (every 256th spins a little anyway) */
    unsigned yield_skip;     /* waits left that skip the yielding phase (cores contended) */
    unsigned yield_backoff;  /* how many the last slow yield made skip */
    struct coro__msg *retry; /* posts whose coroutine could not be made yet */
};

/* What another thread sends: a post (fn set) or a coro_wake (fn NULL). */
typedef struct coro__msg {
    struct coro__msg *next;
    coro_fn fn;
    void *arg;
    size_t stack_size;
    coro_t *co;
    void *value;
} coro__msg;

/* a channel waiter's state, changed by compare-and-swap when threads may race for it */
enum { CORO__X_NONE, CORO__X_WAITING, CORO__X_CLAIMED, CORO__X_CANCELLED };

struct coro_sched {
    int lock;                       /* spinlock for the fields up to owner */
    int closed, given;
    struct coro__msg *msgs, *msgs_tail;
    coro__task *claimed;            /* channel waiters completed by other threads (xnext) */
    coro__sched *owner;             /* NULL once retired */
    int refs, stop, mail, sleeping; /* atomics */
    int wake_rd, wake_wr;
    struct coro_sched *next, *prev; /* the process's live handles */
};

/* The thread's scheduler. Coroutines never change threads, so the address taken before a
   switch is still this thread's after it; every switch is an opaque call (coro.h), so values
   read through the pointer are fetched again after one.
   >>os-thread  coro__s()  the thread's scheduler;  coro__os_sched_release(s)  forget it (zeroed
   or freed: the next coro__s() starts afresh). Nothing that runs at the thread's exit calls
   coro__s(): it reaches the scheduler through the handle (h->owner). */
#if !CORO__SCHED_WINDOWS
/* >>os-thread: POSIX (a __thread struct) */
static __thread coro__sched coro__sched_state;
static inline coro__sched *coro__s(void) { return &coro__sched_state; }
static void coro__os_sched_release(coro__sched *s) { memset(s, 0, sizeof *s); }
#else
/* >>os-thread: Windows (a heap block a thread-local pointer leads to: mingw-w64's emulated TLS
   frees __thread objects in winpthreads' key destructors, in no set order with the one that
   retires the handle, which still needs the scheduler) */
static __thread coro__sched *coro__sched_ptr;
static CORO__SCHED_NOINLINE coro__sched *coro__s_new(void) {
    coro__sched *s = (coro__sched *)calloc(1, sizeof *s);
    if (!s) { /* a few hundred bytes: nothing sensible is left to do */
        fputs("coro: out of memory for a thread's scheduler\n", stderr);
        abort();
    }
    coro__sched_ptr = s;
    return s;
}
static inline coro__sched *coro__s(void) {
    coro__sched *s = coro__sched_ptr;
    return s ? s : coro__s_new();
}
static void coro__os_sched_release(coro__sched *s) {
    coro__sched_ptr = NULL;
    free(s);
}
#endif

/* >>spinlock: guards a channel or an inbox for a few dozen instructions. One atomic exchange
   to take it, a release store to give it back: what a same-thread channel operation pays for
   being able to cross threads. A waiter that finds it taken for long yields its core. */
static CORO__SCHED_NOINLINE void coro__spin_wait(int *l) {
    int spins = 0;
    do
        while (__atomic_load_n(l, __ATOMIC_RELAXED))
            if (++spins > 100) {
                spins = 0;
                sched_yield();
            }
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE));
}
static inline void coro__spin_lock(int *l) {
    if (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE)) coro__spin_wait(l);
}
static void coro__spin_unlock(int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

/* One look of a spin-wait: tells the core (and a hypervisor) that this thread only waits, so a
   sibling hardware thread gets the pipeline and leaving the loop costs no mis-speculation. */
static inline void coro__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__) || (defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* >>wakeup: how another thread (or a signal handler) wakes a loop sleeping in the poller:
   open/signal/drain/close, an eventfd on Linux, a loopback socket pair on Windows, a pipe
   elsewhere. signal is async-signal-safe (on Windows: callable from any thread). */
#if defined(__linux__)
#include <sys/eventfd.h>
static int coro__wakeup_open(int *rd, int *wr) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return -1;
    *rd = *wr = fd;
    return 0;
}
static void coro__wakeup_signal(int wr) {
    uint64_t one = 1;
    ssize_t w = write(wr, &one, sizeof one); /* fails only when the counter is full: awake */
    (void)w;
}
static void coro__wakeup_drain(int rd) {
    uint64_t v;
    ssize_t r = read(rd, &v, sizeof v);
    (void)r;
}
static void coro__wakeup_close(int rd, int wr) {
    (void)wr;
    close(rd);
}
#elif CORO__SCHED_WINDOWS
/* Windows: a connected pair of loopback TCP sockets, made through a listener on 127.0.0.1
   that lives for the moment of the handshake (the classic socketpair). A connection some other
   local program slipped in first is told apart by its address and closed. The reader is polled
   by WSAPoll like any socket; signal sends a byte, from any thread. */
static int coro__wakeup_pair(SOCKET l, SOCKET *rd, SOCKET *wr) {
    struct sockaddr_in a, mine, peer;
    int len = sizeof a, tries;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 4) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0)
        return -1;
    if ((*wr = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)) == INVALID_SOCKET) return -1;
    len = sizeof mine;
    if (connect(*wr, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(*wr, (struct sockaddr *)&mine, &len) != 0)
        return -1;
    for (tries = 0; tries < 8; tries++) {
        len = sizeof peer;
        if ((*rd = accept(l, (struct sockaddr *)&peer, &len)) == INVALID_SOCKET) return -1;
        if (peer.sin_port == mine.sin_port && peer.sin_addr.s_addr == mine.sin_addr.s_addr)
            return 0;
        closesocket(*rd);
        *rd = INVALID_SOCKET;
    }
    WSASetLastError(WSAECONNREFUSED);
    return -1;
}
static int coro__wakeup_open(int *rd, int *wr) {
    SOCKET l, r = INVALID_SOCKET, w = INVALID_SOCKET;
    int ok, one = 1;
    coro__os_net_start();
    if ((l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)) == INVALID_SOCKET) return coro__os_fail();
    ok = coro__wakeup_pair(l, &r, &w) == 0;
    if (!ok) coro__os_fail();
    closesocket(l);
    if (ok) {
        (void)setsockopt(w, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
        if ((*rd = coro__os_adopt(r)) < 0) r = INVALID_SOCKET;
        else if ((*wr = coro__os_adopt(w)) < 0) w = INVALID_SOCKET;
        else return 0;
    }
    if (r != INVALID_SOCKET) closesocket(r);
    if (w != INVALID_SOCKET) closesocket(w);
    return -1;
}
static void coro__wakeup_signal(int wr) {
    char c = 1;
    (void)send(coro__sock(wr), &c, 1, 0); /* fails only when full: a wakeup is already pending */
}
static void coro__wakeup_drain(int rd) {
    char buf[64];
    while (recv(coro__sock(rd), buf, sizeof buf, 0) > 0)
        ;
}
static void coro__wakeup_close(int rd, int wr) {
    closesocket(coro__sock(rd));
    closesocket(coro__sock(wr));
}
#else
static int coro__wakeup_open(int *rd, int *wr) {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
    *rd = fds[0];
    *wr = fds[1];
    return 0;
}
static void coro__wakeup_signal(int wr) {
    char c = 1;
    ssize_t w = write(wr, &c, 1); /* a full pipe: a wakeup is already pending */
    (void)w;
}
static void coro__wakeup_drain(int rd) {
    char buf[64];
    while (read(rd, buf, sizeof buf) > 0)
        ;
}
static void coro__wakeup_close(int rd, int wr) {
    close(rd);
    close(wr);
}
#endif

/* >>time */
CORO_API int64_t coro_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
/* >>os-time: a condition variable whose timed waits end at a deadline on coro_now()'s clock:
   coro__os_cond_init(c), then pthread_cond_timedwait(c, m, ts) with coro__os_abstime(d, ts). */
#if !CORO__SCHED_WINDOWS
static void coro__os_cond_init(pthread_cond_t *c) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}
static void coro__os_abstime(int64_t deadline, struct timespec *ts) {
    ts->tv_sec = (time_t)(deadline / 1000);
    ts->tv_nsec = (long)(deadline % 1000) * 1000000L;
}
#else
/* winpthreads' condition variables wait on CLOCK_REALTIME only (setclock fails with EINVAL):
   the time left until the deadline is added to that clock's now (a change of the wall clock
   meanwhile moves the wake, as for any realtime wait; the caller's loop checks again). */
static void coro__os_cond_init(pthread_cond_t *c) { pthread_cond_init(c, NULL); }
static void coro__os_abstime(int64_t deadline, struct timespec *ts) {
    int64_t left = deadline - coro_now(), ns;
    struct timespec now;
    if (left < 0) left = 0;
    if (left > (int64_t)INT_MAX * 1000) left = (int64_t)INT_MAX * 1000;
    clock_gettime(CLOCK_REALTIME, &now);
    ns = (int64_t)now.tv_nsec + (left % 1000) * 1000000;
    ts->tv_sec = now.tv_sec + (time_t)(left / 1000 + ns / 1000000000);
    ts->tv_nsec = (long)(ns % 1000000000);
}
#endif

/* >>queues */
static void coro__q_push(coro__waitq *q, coro__task *t) {
    t->next = NULL;
    t->prev = q->tail;
    if (q->tail) q->tail->next = t;
    else q->head = t;
    q->tail = t;
    t->queue = q;
}
static void coro__q_remove(coro__waitq *q, coro__task *t) {
    if (t->prev) t->prev->next = t->next;
    else q->head = t->next;
    if (t->next) t->next->prev = t->prev;
    else q->tail = t->prev;
    t->next = t->prev = NULL;
    t->queue = NULL;
}
static coro__task *coro__q_pop(coro__waitq *q) {
    coro__task *t = q->head;
    if (t) coro__q_remove(q, t);
    return t;
}

/* >>heap: timers, ordered by (deadline, seq) so equal deadlines keep their order. A task's
   deadline does not change while it is in the heap (coro__block inserts, coro__unwait removes). */
static int coro__heap_less(const coro__hent *a, const coro__hent *b) {
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}
static void coro__heap_set(coro__sched *s, size_t i, const coro__hent *h) {
    s->heap[i] = *h;
    h->task->heap_idx = i;
}
static void coro__heap_up(coro__sched *s, size_t i) {
    coro__hent h = s->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!coro__heap_less(&h, &s->heap[parent])) break;
        coro__heap_set(s, i, &s->heap[parent]);
        i = parent;
    }
    coro__heap_set(s, i, &h);
}
static void coro__heap_down(coro__sched *s, size_t i) {
    coro__hent h = s->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->nheap) break;
        if (c + 1 < s->nheap && coro__heap_less(&s->heap[c + 1], &s->heap[c])) c++;
        if (!coro__heap_less(&s->heap[c], &h)) break;
        coro__heap_set(s, i, &s->heap[c]);
        i = c;
    }
    coro__heap_set(s, i, &h);
}
static int coro__heap_insert(coro__sched *s, coro__task *t) {
    coro__hent *h;
    if (s->nheap == s->cap_heap) {
        size_t cap = s->cap_heap ? s->cap_heap * 2 : 64;
        coro__hent *nh = (coro__hent *)CORO_MALLOC(cap * sizeof *nh);
        if (!nh) {
            errno = ENOMEM;
            return -1;
        }
        if (s->nheap) memcpy(nh, s->heap, s->nheap * sizeof *nh);
        CORO_FREE(s->heap);
        s->heap = nh;
        s->cap_heap = cap;
    }
    h = &s->heap[s->nheap];
    h->deadline = t->deadline;
    h->seq = ++s->seq;
    h->task = t;
    t->heap_idx = s->nheap++;
    coro__heap_up(s, t->heap_idx);
    return 0;
}
static void coro__heap_remove(coro__sched *s, coro__task *t) {
    size_t i = t->heap_idx;
    coro__hent last = s->heap[--s->nheap];
    t->heap_idx = CORO__NO_HEAP;
    if (i == s->nheap) return;
    coro__heap_set(s, i, &last);
    if (i > 0 && coro__heap_less(&last, &s->heap[(i - 1) / 2])) coro__heap_up(s, i);
    else coro__heap_down(s, i);
}

/* >>registry: coro_t* -> task, open addressing; lookups never dereference the coro_t */
static size_t coro__reg_hash(const coro_t *co, size_t cap) {
    uint64_t h = (uint64_t)(uintptr_t)co;
    h ^= h >> 29;
    h *= 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) & (cap - 1);
}
static coro__task *coro__reg_find(coro__sched *s, const coro_t *co) {
    size_t i;
    if (!s->reg_cap || !co) return NULL;
    for (i = coro__reg_hash(co, s->reg_cap); s->reg[i].key; i = (i + 1) & (s->reg_cap - 1))
        if (s->reg[i].key == co) return s->reg[i].task;
    return NULL;
}
static void coro__reg_put(coro__reg_slot *tab, size_t cap, coro_t *co, coro__task *t) {
    size_t i = coro__reg_hash(co, cap);
    while (tab[i].key) i = (i + 1) & (cap - 1);
    tab[i].key = co;
    tab[i].task = t;
}
static int coro__reg_insert(coro__sched *s, coro_t *co, coro__task *t) {
    if ((s->reg_n + 1) * 2 > s->reg_cap) {
        size_t cap = s->reg_cap ? s->reg_cap * 2 : 256, i;
        coro__reg_slot *tab = (coro__reg_slot *)CORO_MALLOC(cap * sizeof *tab);
        if (!tab) {
            errno = ENOMEM;
            return -1;
        }
        memset(tab, 0, cap * sizeof *tab);
        for (i = 0; i < s->reg_cap; i++)
            if (s->reg[i].key) coro__reg_put(tab, cap, s->reg[i].key, s->reg[i].task);
        CORO_FREE(s->reg);
        s->reg = tab;
        s->reg_cap = cap;
    }
    coro__reg_put(s->reg, s->reg_cap, co, t);
    s->reg_n++;
    return 0;
}
static void coro__reg_erase(coro__sched *s, const coro_t *co) {
    size_t mask = s->reg_cap - 1, i, j;
    if (!s->reg_cap) return;
    for (i = coro__reg_hash(co, s->reg_cap); s->reg[i].key != co; i = (i + 1) & mask)
        if (!s->reg[i].key) return;
    /* backward-shift deletion keeps every probe chain unbroken without tombstones */
    for (j = (i + 1) & mask; s->reg[j].key; j = (j + 1) & mask) {
        size_t home = coro__reg_hash(s->reg[j].key, s->reg_cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            s->reg[i] = s->reg[j];
            i = j;
        }
    }
    s->reg[i].key = NULL;
    s->reg[i].task = NULL;
    s->reg_n--;
}

/* Once other threads can look up coroutines here (coro_wake from them), changes take the
   handle's lock. */
static int coro__reg_add(coro__sched *s, coro_t *co, coro__task *t) {
    int r;
    if (!s->h) return coro__reg_insert(s, co, t);
    coro__spin_lock(&s->h->lock);
    r = coro__reg_insert(s, co, t);
    coro__spin_unlock(&s->h->lock);
    return r;
}
static void coro__reg_del(coro__sched *s, const coro_t *co) {
    if (!s->h) {
        coro__reg_erase(s, co);
        return;
    }
    coro__spin_lock(&s->h->lock);
    coro__reg_erase(s, co);
    coro__spin_unlock(&s->h->lock);
}

/* >>fdtable */
static void coro__sched_init(coro__sched *s);
static coro__fd *coro__fd_slot(coro__sched *s, int fd) {
    coro__sched_init(s);
    if (fd < 0) {
        CORO__MISUSE("coro fd call", EBADF, "negative fd");
        return NULL;
    }
    if ((size_t)fd >= s->nfds) {
        size_t n = s->nfds ? s->nfds : 64;
        coro__fd *f;
        /* a number beyond the table must be an open fd before the table grows to it: a closed
           one is EBADF, not a table of 2^31 entries */
        if (!coro__os_fd_open(fd)) return NULL;
        while (n <= (size_t)fd) n *= 2;
        if (n > (size_t)-1 / sizeof *f) {
            errno = ENOMEM;
            return NULL;
        }
        f = (coro__fd *)CORO_MALLOC(n * sizeof *f);
        if (!f) {
            errno = ENOMEM;
            return NULL;
        }
        memset(f, 0, n * sizeof *f);
        if (s->nfds) memcpy(f, s->fds, s->nfds * sizeof *f);
        CORO_FREE(s->fds);
        s->fds = f;
        s->nfds = n;
    }
    return &s->fds[fd];
}
/* An fd we created ourselves: its kind is known, no syscall needed. */
static coro__fd *coro__fd_fresh(coro__sched *s, int fd, int socket, int stream) {
    coro__fd *e = coro__fd_slot(s, fd);
    if (!e) return NULL;
    memset(e, 0, sizeof *e);
    e->known = 1;
    e->socket = (unsigned char)socket;
    e->stream = (unsigned char)stream;
    e->ready = CORO_READ | CORO_WRITE; /* optimistic: the first call just tries */
    return e;
}
/* An fd from elsewhere: check it is open, make it non-blocking, learn its kind (once). */
static coro__fd *coro__fd_get(coro__sched *s, int fd) {
    coro__fd *e = coro__fd_slot(s, fd);
    int kind;
    if (!e || e->known) return e;
    if (coro__os_fd_learn(fd, &kind) != 0) return NULL;
    e = coro__fd_fresh(s, fd, (kind & CORO__K_SOCKET) != 0, (kind & CORO__K_STREAM) != 0);
    if (e && (kind & CORO__K_REGULAR)) e->always_ready = 1;
    return e;
}

/* >>poller: init/add/update/del/wait/free, one implementation per backend; nothing else knows
   which is compiled in. add: fd has a new waiter (e->reader/e->writer set). update: a waiter
   left. del: the fd is closed or forgotten. wait: collect (fd, revents) pairs in s->evfd and
   return their count. */
static void coro__fd_events(coro__sched *s, int fd, int ready, int invalid);

#if CORO__EPOLL
/* >>epoll: every fd is registered once, edge-triggered for both directions, when it first has
   to wait; the ready bits in the fd table remember what the edges said. */
static int coro__poller_init(coro__sched *s) {
    s->pfd = epoll_create1(EPOLL_CLOEXEC);
    return s->pfd < 0 ? -1 : 0;
}
static int coro__poller_add(coro__sched *s, int fd, coro__fd *e) {
    struct epoll_event ev;
    if (e->registered) return 0;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.fd = fd;
    if (epoll_ctl(s->pfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno != EEXIST) return -1;
    e->registered = 1;
    return 0;
}
static void coro__poller_update(coro__sched *s, int fd, coro__fd *e) {
    (void)s;
    (void)fd;
    (void)e;
}
static void coro__poller_del(coro__sched *s, int fd, coro__fd *e) {
    if (e->registered) epoll_ctl(s->pfd, EPOLL_CTL_DEL, fd, NULL);
    e->registered = 0;
}
static int coro__poller_wait(coro__sched *s, int timeout) {
    struct epoll_event evs[256];
    int n = epoll_wait(s->pfd, evs, 256, timeout), i;
    for (i = 0; i < n; i++) {
        unsigned ev = evs[i].events;
        int ready = 0;
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready |= CORO_READ;
        if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ready |= CORO_WRITE;
        if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready |= CORO__HUP;
        coro__fd_events(s, evs[i].data.fd, ready, 0);
    }
    return n < 0 ? -1 : 0;
}
static void coro__poller_free(coro__sched *s) {
    if (s->pfd >= 0) close(s->pfd);
    s->pfd = -1;
}
#define CORO__BACKEND "epoll"

#else
/* >>poll: the pollfd array holds exactly the fds somebody waits on (poll is level-triggered: an
   fd nobody waits on would wake every poll); each entry knows its index. On Windows this is
   the WSAPoll backend (coro__os_poll in >>os-socket: the call and the pollfd's fd type). */
#define CORO__BACKEND CORO__OS_POLL_NAME
static int coro__poller_init(coro__sched *s) {
    s->pfd = -1;
    return 0;
}
static int coro__poll_want(const coro__fd *e) {
    return (e->reader || e->internal ? POLLIN : 0) | (e->writer ? POLLOUT : 0);
}
static int coro__poller_add(coro__sched *s, int fd, coro__fd *e) {
    short want = (short)coro__poll_want(e);
    if (e->pidx) {
        s->pfds[e->pidx - 1].events = want;
        return 0;
    }
    if (s->npfds == s->cap_pfds) {
        size_t cap = s->cap_pfds ? s->cap_pfds * 2 : 64;
        struct pollfd *p = (struct pollfd *)CORO_MALLOC(cap * sizeof *p);
        if (!p) {
            errno = ENOMEM;
            return -1;
        }
        if (s->npfds) memcpy(p, s->pfds, s->npfds * sizeof *p);
        CORO_FREE(s->pfds);
        s->pfds = p;
        s->cap_pfds = cap;
    }
    s->pfds[s->npfds].fd = (coro__pollfd_fd)fd;
    s->pfds[s->npfds].events = want;
    s->pfds[s->npfds].revents = 0;
    e->pidx = (unsigned)++s->npfds;
    return 0;
}
static void coro__poller_del(coro__sched *s, int fd, coro__fd *e) {
    size_t i;
    (void)fd;
    if (!e->pidx) return;
    i = e->pidx - 1;
    e->pidx = 0;
    if (i != --s->npfds) {
        s->pfds[i] = s->pfds[s->npfds];
        s->fds[s->pfds[i].fd].pidx = (unsigned)(i + 1);
    }
}
static void coro__poller_update(coro__sched *s, int fd, coro__fd *e) {
    if (!e->pidx) return;
    if (coro__poll_want(e)) s->pfds[e->pidx - 1].events = (short)coro__poll_want(e);
    else coro__poller_del(s, fd, e);
}
static int coro__poller_wait(coro__sched *s, int timeout) {
    size_t i, n = 0;
    int r = coro__os_poll(s->pfds, s->npfds, timeout);
    if (r <= 0) return r;
    if (s->cap_ev < s->npfds * 2) {
        int *ev = (int *)CORO_MALLOC(s->npfds * 2 * sizeof *ev);
        if (!ev) return 0; /* try again next round */
        CORO_FREE(s->evfd);
        s->evfd = ev;
        s->cap_ev = s->npfds * 2;
    }
    /* collect first: waking a task changes the array */
    for (i = 0; i < s->npfds; i++)
        if (s->pfds[i].revents) {
            s->evfd[n++] = (int)s->pfds[i].fd;
            s->evfd[n++] = s->pfds[i].revents;
        }
    for (i = 0; i < n; i += 2) {
        int ev = s->evfd[i + 1], ready = 0;
        if (ev & (POLLIN | POLLHUP | POLLERR)) ready |= CORO_READ;
        if (ev & (POLLOUT | POLLHUP | POLLERR)) ready |= CORO_WRITE;
        coro__fd_events(s, s->evfd[i], ready, (ev & POLLNVAL) != 0);
    }
    return 0;
}
static void coro__poller_free(coro__sched *s) {
    CORO_FREE(s->pfds);
    s->pfds = NULL;
    s->npfds = s->cap_pfds = 0;
}
#endif

/* >>core: waiting and waking */
static void coro__jobs_drain(coro__sched *s);

static void coro__sched_init(coro__sched *s) {
    if (s->ready_init) return;
    s->pfd = -1;
    s->wake_rd = s->wake_wr = -1;
    s->spin_ns = (int64_t)CORO_SCHED_SPIN_US * 1000;
    coro__os_sched_start();
    s->ready_init = 1;
}

static int coro__poller_ready(coro__sched *s) {
    if (s->ready_init == 2) return 0;
    coro__sched_init(s);
    if (coro__poller_init(s) != 0) return -1;
    s->ready_init = 2;
    return 0;
}

static int coro__chan_cancel(coro__sched *s, coro__task *t);

/* Take t out of whatever it waits on. Returns 0, or 1 if another thread has already completed
   t's channel operation: t's wake is then on its way through the inbox and t must wait for it. */
static int coro__unwait(coro__sched *s, coro__task *t) {
    if (t->queue) coro__q_remove(t->queue, t);
    if (t->heap_idx != CORO__NO_HEAP) coro__heap_remove(s, t);
    if (t->xch && coro__chan_cancel(s, t)) return 1;
    if (t->wait == CORO__W_FD || t->wait == CORO__W_SIGNAL) {
        coro__fd *e = &s->fds[t->fd];
        if (e->reader == t) e->reader = NULL;
        if (e->writer == t) e->writer = NULL;
        coro__poller_update(s, t->fd, e);
        s->nfdwait--;
    }
    t->wait = CORO__W_NONE;
    return 0;
}

/* Wake t: it leaves what it waits on and joins the back of the ready queue; its blocking call
   will return reason (0 = done, or an errno value). */
static void coro__wake(coro__sched *s, coro__task *t, int reason) {
    if (coro__unwait(s, t)) return; /* a timeout lost the race: the completion is coming */
    t->woken = 1;
    t->reason = reason;
    t->state = CORO__READY;
    coro__q_push(&s->ready, t);
    s->nready++;
}

static void coro__fd_events(coro__sched *s, int fd, int ready, int invalid) {
    coro__fd *e = &s->fds[fd];
    coro__task *r = e->reader, *w = e->writer;
    if (e->internal) {
        if (e->internal == 2) coro__wakeup_drain(fd); /* the inbox is read by the loop */
        else coro__jobs_drain(s);
        return;
    }
    if (ready & CORO__HUP) e->hup = 1; /* no more edges will come: stop trusting short reads */
    ready &= CORO_READ | CORO_WRITE;
    e->ready = (unsigned char)(e->ready | ready);
    if (r && (invalid || (ready & CORO_READ))) {
        r->revents = ready & r->events;
        coro__wake(s, r, invalid ? EBADF : 0);
    }
    if (w && w != r && (invalid || (ready & CORO_WRITE))) {
        w->revents = ready & w->events;
        coro__wake(s, w, invalid ? EBADF : 0);
    }
}

/* The running task of s, or NULL when the caller is not a spawned coroutine of s's thread. */
static CORO__SCHED_NOINLINE coro__task *coro__me_slow(coro__sched *s, coro_t *co) {
    coro__task *t;
    if (!co) return NULL;
    t = (coro__task *)coro_runtime_data(co);
    return t && t->magic == CORO__TASK_MAGIC && t->s == s && t->co == co ? t : NULL;
}
static inline coro__task *coro__me(coro__sched *s) {
    coro_t *co = coro_current();
    coro__task *t = s->cur; /* nearly always: the task the loop or a hand-off switched to last
                               (a live task while set) */
    if (__builtin_expect(t && t->co == co && co, 1)) return t;
    return coro__me_slow(s, co);
}

/* A raise that arrived after t's previous call completed: deliver it now (errno, nonzero). */
static int coro__raise_pending(coro__task *t) {
    if (!t || !t->pending_raise) return 0;
    errno = t->pending_raise;
    t->pending_raise = 0;
    return 1;
}

/* Every blocking call starts here: the caller must be a spawned coroutine, and a raise that
   arrived after its previous call had already completed is delivered now. fn names the call
   for CORO_DEBUG. */
static coro__task *coro__enter(coro__sched *s, const char *fn) {
    coro__task *t = coro__me(s);
    if (!t) {
        CORO__MISUSE(fn, EPERM, "not called from a spawned coroutine");
        return NULL;
    }
    return coro__raise_pending(t) ? NULL : t;
}

static int coro__deadline_passed(int64_t deadline) { return deadline >= 0 && coro_now() >= deadline; }

/* The deadline ms (>= 0) milliseconds from now. A time too far away for the clock saturates
   to INT64_MAX, which never comes: a huge relative time means "as good as forever". */
static int64_t coro__deadline_in(int64_t ms) {
    int64_t now = coro_now();
    return ms >= INT64_MAX - now ? INT64_MAX : now + ms;
}

/* Whether a hand-off may go on: the round has switches left, or the loop would have nothing
   to do between rounds besides starting the next one (no timer, no fd, no job, no stop, no
   ended coroutine to free, no post to retry, no mail from other threads), and then a new
   round of one switch per ready task starts here, as the loop would start it (ready: those in
   the queue, and the yielding task if it is not in it yet: unqueued). The idle test costs one
   look per round, not one per switch, and what arrives meanwhile waits for the round's end,
   as under the loop: a coro_stop lets the tasks that were ready run once. */
static CORO__SCHED_INLINE int coro__round_left(coro__sched *s, size_t unqueued) {
    if (__builtin_expect(s->budget != 0, 1)) return 1;
    if (s->nheap || s->nfdwait || s->jobs_pending || s->stop || s->zombies || s->retry ||
        (s->h && __atomic_load_n(&s->h->mail, __ATOMIC_RELAXED))) /* other threads' mail */
        return 0;
    s->budget = s->nready + unqueued;
    return 1;
}

/* A hand-off to n failed (a cleanup handler cannot switch away: coro_transfer refused with
   ECANCELED and left n untouched): n goes back to the front of the ready queue. */
static CORO__SCHED_NOINLINE void coro__handoff_undo(coro__sched *s, coro__task *t, coro__task *n) {
    s->cur = t;
    s->resumes--;
    n->state = CORO__READY;
    n->next = s->ready.head;
    n->prev = NULL;
    if (s->ready.head) s->ready.head->prev = n;
    else s->ready.tail = n;
    s->ready.head = n;
    n->queue = &s->ready;
    s->nready++;
}

/* Whether the transfer from t to n came back without switching (see coro__handoff_undo), or
   found no memory for the stack of n's first run (then t goes to the loop, which starts n
   when it can). */
static CORO__SCHED_INLINE int coro__handoff_failed(coro__sched *s, coro__task *n) {
    return __builtin_expect(errno == ECANCELED || errno == ENOMEM, 0) && s->cur == n &&
           n->state == CORO__RUNNING && coro_status(n->co) == CORO_SUSPENDED;
}

/* Leave the running task t for the next one. While the loop's round has switches left and t
   was itself switched to by the loop (not resumed or raised by another coroutine), control goes
   straight to the head of the ready queue by a transfer, which puts that task where t was in
   the resumer chain, under the loop; t itself, when it is the head, just keeps running. Else,
   and when the round is spent (timers and fds wait between rounds), back to the loop. */
static CORO__SCHED_INLINE void coro__switch_out(coro__sched *s, coro__task *t) {
    coro__task *n = s->ready.head;
    if (n && s->cur == t && (n == t || coro_status(n->co) == CORO_SUSPENDED) &&
        coro__round_left(s, 0)) {
        coro__q_remove(&s->ready, n);
        s->nready--;
        s->budget--;
        n->state = CORO__RUNNING;
        s->resumes++;
        if (n == t) return;
        s->cur = n;
        errno = 0;
        coro_transfer(n->co, NULL);
        /* t is continued (by whoever), or the transfer failed */
        if (coro__handoff_failed(s, n)) {
            int nomem = errno == ENOMEM;
            coro__handoff_undo(s, t, n);
            if (nomem) coro_yield(NULL);
        }
        return;
    }
    coro_yield(NULL);
}

/* Park t (already registered where it waits) until woken, with an optional deadline. Returns
   0 or an errno value. errno is preserved across the wait. */
static int coro__block(coro__sched *s, coro__task *t, int64_t deadline) {
    int saved = errno, err;
    t->deadline = deadline;
    if (deadline >= 0 && t->heap_idx == CORO__NO_HEAP && coro__heap_insert(s, t) != 0 &&
        !coro__unwait(s, t)) { /* (unless already completed by another thread: wait for it) */
        errno = saved;
        return ENOMEM;
    }
    if (!t->woken) t->state = CORO__WAITING; /* (coro_sched_yield queues itself first) */
    for (;;) {
        uint64_t r = s->resumes;
        errno = 0;
        coro__switch_out(s, t);
        err = coro_raised();
        if (t->queue == &s->ready) { /* continued by a raise after it was woken */
            coro__q_remove(&s->ready, t);
            s->nready--;
        }
        t->state = CORO__RUNNING;
        if (t->woken) {
            if (err) t->pending_raise = err; /* the call completed: the next one fails */
            break;
        }
        if (err || (s->resumes == r && errno == ECANCELED)) { /* raised, or inside a cleanup */
            if (coro__unwait(s, t)) { /* completed by another thread meanwhile: take that */
                if (err) t->pending_raise = err;
                t->state = CORO__WAITING;
                continue;
            }
            t->state = CORO__RUNNING;
            errno = saved;
            return err ? err : ECANCELED;
        }
        t->state = CORO__WAITING; /* resumed by someone else: keep waiting */
    }
    t->woken = 0;
    t->budget = CORO_SCHED_IO_BUDGET;
    errno = saved;
    return t->reason;
}

/* >>tasks */
static void *coro__task_main(void *unused);
static void coro__task_exit(void *arg);

static coro__task *coro__task_alloc(coro__sched *s) {
    coro__task *t = s->free_tasks;
    if (t) s->free_tasks = t->all_next;
    else if (!(t = (coro__task *)CORO_MALLOC(sizeof *t))) return NULL;
    memset(t, 0, sizeof *t);
    t->magic = CORO__TASK_MAGIC;
    t->s = s;
    t->heap_idx = CORO__NO_HEAP;
    t->fd = -1;
    t->budget = CORO_SCHED_IO_BUDGET;
    return t;
}
static void coro__task_release(coro__sched *s, coro__task *t) {
    t->magic = 0;
    t->all_next = s->free_tasks;
    s->free_tasks = t;
}

CORO_API coro_t *coro_spawn(coro_fn fn, void *arg, size_t stack_size) {
    coro__sched *s = coro__s();
    coro__task *t;
    coro_t *co;
    if (!fn) {
        CORO__MISUSE("coro_spawn", EINVAL, "NULL function");
        return NULL;
    }
    coro__sched_init(s);
    if (!(t = coro__task_alloc(s))) {
        errno = ENOMEM;
        return NULL;
    }
    if (!(co = coro_new(coro__task_main, stack_size))) {
        coro__task_release(s, t);
        return NULL;
    }
    if (coro__reg_add(s, co, t) != 0) {
        coro_free(co);
        coro__task_release(s, t);
        return NULL;
    }
    t->co = co;
    t->fn = fn;
    t->arg = arg;
    coro_set_runtime(co, t, coro__task_exit); /* runs after the user's cleanups */
    t->all_prev = NULL;
    t->all_next = s->all;
    if (s->all) s->all->all_prev = t;
    s->all = t;
    s->count++;
    t->state = CORO__READY;
    coro__q_push(&s->ready, t);
    s->nready++;
    return co;
}

static void *coro__task_main(void *unused) {
    coro__task *t = (coro__task *)coro_runtime_data(coro_current());
    coro__sched *s = t->s;
    int err = coro_raised();
    (void)unused;
    t->started = 1;
    if (t->queue == &s->ready) { /* started by coro_raise rather than by the loop */
        coro__q_remove(&s->ready, t);
        s->nready--;
    } else if (t->queue == &s->starved) {
        coro__q_remove(&s->starved, t);
    }
    if (err) t->pending_raise = err; /* its first blocking call fails with it */
    t->state = CORO__RUNNING;
    t->result = t->fn(t->arg);
    return t->result;
}

/* Runs on the ending task's own stack, after the user's cleanups (coro.h's runtime exit hook). */
static void coro__task_exit(void *arg) {
    coro__task *t = (coro__task *)arg, *j;
    coro__sched *s = t->s;
    coro__unwait(s, t);
    if (t->queue == &s->ready) {
        coro__q_remove(&s->ready, t);
        s->nready--;
    }
    t->state = CORO__DONE;
    s->ended++;
    while ((j = coro__q_pop(&t->joiners)) != NULL) {
        j->value = t->result;
        t->joined = 1;
        coro__wake(s, j, 0);
    }
    if (t->all_prev) t->all_prev->all_next = t->all_next;
    else s->all = t->all_next;
    if (t->all_next) t->all_next->all_prev = t->all_prev;
    s->count--;
    t->all_prev = NULL;
    t->all_next = s->zombies;
    s->zombies = t;
}

/* Free a task whose coroutine is dead. */
static void coro__task_free(coro__sched *s, coro__task *t) {
    if (t->selmem) CORO_FREE(t->selmem); /* killed in a select: its channels let go of them */
    coro__reg_del(s, t->co);
    coro_set_runtime(t->co, NULL, NULL);
    coro_free(t->co);
    coro__task_release(s, t);
}

/* A task killed before it ever ran has no cleanup of ours: finish it here. */
static void coro__task_died_unstarted(coro__task *t) {
    void *saved = t->result;
    t->result = NULL;
    coro__task_exit(t);
    t->result = saved;
}

/* The zombies that nothing uses any more are freed (or kept for a join); with all == 0 only
   those at the head of the list, up to the first still in use: the ones that just ended (a
   task that ends goes to the head), freed right after their last switch so that the next
   task to start takes the stack back while it is still warm. */
static void coro__reclaim_some(coro__sched *s, int all) {
    coro__task **pp = &s->zombies;
    while (*pp) {
        coro__task *t = *pp;
        if (t->job || t->xch || coro_status(t->co) != CORO_DEAD) { /* an offloaded call, or a
                                                 channel wake from another thread, still uses it */
            if (!all) return;
            pp = &t->all_next;
            continue;
        }
        *pp = t->all_next;
        if (t->joinable && !t->joined) { /* kept for its join, without its stack */
            coro_stack_release(t->co);
            t->all_next = s->kept;
            s->kept = t;
        } else {
            coro__task_free(s, t);
        }
    }
}
static void coro__reclaim(coro__sched *s) { coro__reclaim_some(s, 1); }

/* Tasks short of memory. A task whose first run found no memory for a stack (coro.h binds one
   at the first switch) waits on the starved queue. The loop retries its head once a task has
   ended since the last try (its stack went back to the pool) or 10 ms later, waiting no longer
   than that meanwhile; when one starts, all of them go back to the ready queue. */
static CORO__SCHED_NOINLINE void coro__starve(coro__sched *s, coro__task *t) {
    t->state = CORO__READY;
    coro__q_push(&s->starved, t);
    s->starved_ended = s->ended;
    s->starved_at = coro_now();
}
static CORO__SCHED_NOINLINE void coro__starved_all(coro__sched *s) {
    coro__task *t;
    while ((t = coro__q_pop(&s->starved)) != NULL) {
        coro__q_push(&s->ready, t);
        s->nready++;
    }
}
/* The loop's look between rounds: returns the longest it may wait (ms), -1 for no limit. */
static int coro__starved_retry(coro__sched *s) {
    coro__task *t = s->starved.head;
    int64_t now;
    if (!t) return -1;
    now = coro_now();
    if (s->ended != s->starved_ended || now - s->starved_at >= 10) {
        coro__q_remove(&s->starved, t);
        coro__q_push(&s->ready, t);
        s->nready++;
        return 0;
    }
    return (int)(s->starved_at + 10 - now);
}

static void coro__resume_task(coro__sched *s, coro__task *t) {
    if (coro_status(t->co) == CORO_DEAD) { /* killed before it started */
        if (t->state != CORO__DONE) coro__task_died_unstarted(t);
        return;
    }
    t->state = CORO__RUNNING;
    s->resumes++;
    s->cur = t;
    coro_runtime_resume(t->co, t, NULL);
    t = s->cur; /* who came back: t may have handed its place on (coro__switch_out) */
    s->cur = NULL;
    if (__builtin_expect(!t->started, 0) && coro_status(t->co) == CORO_SUSPENDED) {
        coro__starve(s, t); /* no stack for it: it waits until others end */
        return;
    }
    if (__builtin_expect(s->starved.head != NULL, 0) && t->started) coro__starved_all(s);
    if (t->state == CORO__RUNNING && coro_status(t->co) == CORO_SUSPENDED) {
        /* a bare coro_yield: to the back of the queue, like coro_sched_yield */
        t->state = CORO__READY;
        coro__q_push(&s->ready, t);
        s->nready++;
    }
}

/* >>xthread: the handle, its inbox, posts, remote wakes, stop.
   The inbox is a spinlocked list plus an atomic "mail" flag the loop reads once per round: a
   loop nobody posts to pays one plain load per round. The loop sets "sleeping" before it would
   block in the poller and then reads "mail" again; a poster sets "mail" and then takes
   "sleeping": with a sequentially consistent fence between each side's store and its load, at
   least one of them sees the other, so either the loop does not sleep or the poster writes the
   wakeup fd (and only the first poster does). In full: the two fences fall in one total order.
   If the poster's comes first, its store of mail is visible to the loop's load after the loop's
   fence: the loop sees mail and does not sleep. Else the loop's store of sleeping is visible to
   the poster's load: that load sees the 1 or a later value (0 from another poster's exchange,
   which writes the fd, or from the loop once awake), and the exchange that takes the 1 writes
   the fd. Fences, not sequentially consistent accesses: on aarch64 those are a release store and
   an acquire load (stlr, ldar), which qemu-user on x86 let pass each other, and a ping-pong
   between threads lost a wakeup in 3 of 26 runs there (0 of 48 with the fences); on x86 the
   fence costs what the exchange did. A loop spinning before it parks (coro__spin_for_mail) reads
   mail with plain loads: it only looks early; a post it misses is caught by the above. */
static coro_sched_t *coro__handles; /* every handle whose thread lives, for cross-thread wakes */
static pthread_mutex_t coro__handles_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t coro__handle_key;
static pthread_once_t coro__handle_once = PTHREAD_ONCE_INIT;

static void coro__handle_detach(coro__sched *s);
static void coro__handle_thread_exit(void *arg) {
    coro_sched_t *h = (coro_sched_t *)arg; /* set while the thread's handle lives */
    if (h && h->owner) coro__handle_detach(h->owner);
}
static void coro__handle_key_make(void) {
    (void)pthread_key_create(&coro__handle_key, coro__handle_thread_exit);
}

static coro_sched_t *coro__handle(coro__sched *s) {
    coro_sched_t *h;
    coro__fd *e;
    if (s->h) return s->h;
    if (coro__poller_ready(s) != 0) return NULL;
    if (!(h = (coro_sched_t *)CORO_MALLOC(sizeof *h))) {
        errno = ENOMEM;
        return NULL;
    }
    memset(h, 0, sizeof *h);
    h->refs = 1; /* the thread's */
    if (coro__wakeup_open(&h->wake_rd, &h->wake_wr) != 0) {
        CORO_FREE(h);
        return NULL;
    }
    if (!(e = coro__fd_fresh(s, h->wake_rd, 0, 1))) {
        coro__wakeup_close(h->wake_rd, h->wake_wr);
        CORO_FREE(h);
        errno = ENOMEM;
        return NULL;
    }
    e->internal = 2;
    if (coro__poller_add(s, h->wake_rd, e) != 0) {
        memset(e, 0, sizeof *e);
        coro__wakeup_close(h->wake_rd, h->wake_wr);
        CORO_FREE(h);
        return NULL;
    }
    h->owner = s;
    pthread_once(&coro__handle_once, coro__handle_key_make);
    pthread_setspecific(coro__handle_key, h);
    pthread_mutex_lock(&coro__handles_lock);
    h->next = coro__handles;
    if (coro__handles) coro__handles->prev = h;
    coro__handles = h;
    pthread_mutex_unlock(&coro__handles_lock);
    s->h = h;
    return h;
}

CORO_API coro_sched_t *coro_sched_self(void) {
    coro__sched *s = coro__s();
    coro_sched_t *h;
    coro__sched_init(s);
    if (!(h = coro__handle(s))) return NULL;
    h->given = 1;
    return h;
}

CORO_API int coro_sched_ref(coro_sched_t *h) {
    if (!h) {
        errno = EINVAL;
        return -1;
    }
    __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED);
    return 0;
}

CORO_API void coro_sched_unref(coro_sched_t *h) {
    coro__msg *m;
    if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    while ((m = h->msgs) != NULL) { /* posted after the owner had gone: never accepted */
        h->msgs = m->next;
        CORO_FREE(m);
    }
    coro__wakeup_close(h->wake_rd, h->wake_wr);
    CORO_FREE(h);
}

static void coro__handle_notify(coro_sched_t *h) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST); /* the mail just stored, before sleeping is read */
    if (__atomic_load_n(&h->sleeping, __ATOMIC_RELAXED) &&
        __atomic_exchange_n(&h->sleeping, 0, __ATOMIC_SEQ_CST))
        coro__wakeup_signal(h->wake_wr);
}

static int64_t coro__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Before sleeping while a coroutine waits on a channel: another thread is often about to
   complete it (a ping-pong partner), and a wakeup through the kernel costs several system calls
   on both sides. So watch the inbox for up to CORO_SCHED_SPIN_US first, in two phases:
   - spinning on the core (a pause per look, no system call): pays off when the partner runs on
     another core right now and answers within a microsecond or so;
   - then yielding the core once per look: pays off when the partner waits for a core, maybe
     this one (on a busy machine a plain spin made a cross-thread ping-pong 4x slower, a
     yielding one 3x faster).
   How long the first phase lasts adapts: twice what the last answer took while spinning, halved
   each time spinning did not pay; every 256th wait spins at least 2 us, to notice when the
   partner has come back to a core of its own.
   The second phase stops at a yield that took over 500 us: another thread held this core for
   about a time slice, so the cores are contended, and a yield then gives the core away for the
   rest of the others' slices (a partner that answers on this core holds it for tens of us,
   well under that). With 4 busy loops on this 2-core VM every wait paid that: a cross-thread
   ping-pong took 0.8-1.0 ms a message. The next waits then skip the second phase and park at
   once: 1 wait after the first slow yield, twice as many after each next one, up to 1024,
   until a second phase runs its full CORO_SCHED_SPIN_US without mail and without a slow yield.
   Same load, interleaved: 25-178 us a message (parking at once every time: 19-115 us, but 6x
   slower than this on an idle machine, where this is unchanged at about 1 us).
   1 if mail came. */
static int coro__spin_for_mail(coro__sched *s, coro_sched_t *h) {
    const int64_t full = (int64_t)CORO_SCHED_SPIN_US * 1000;
    int64_t start = coro__now_ns(), now = start;
    int64_t spin = s->spin_ns;
    unsigned i;
    if ((++s->spins & 255) == 0 && spin < 2000) spin = 2000 < full ? 2000 : full; /* a probe */
    while (now - start < spin) {
        for (i = 0; i < 8; i++) {
            if (__atomic_load_n(&h->mail, __ATOMIC_RELAXED)) {
                now = coro__now_ns();
                s->spin_ns = 2 * (now - start) + 1000;
                if (s->spin_ns > full) s->spin_ns = full;
                return 1;
            }
            coro__cpu_relax();
        }
        now = coro__now_ns();
    }
    s->spin_ns /= 2;
    if (s->yield_skip) {
        s->yield_skip--;
        return __atomic_load_n(&h->mail, __ATOMIC_RELAXED) != 0;
    }
    for (;;) {
        int64_t before;
        if (__atomic_load_n(&h->mail, __ATOMIC_RELAXED)) return 1;
        if (now - start >= full) {
            s->yield_backoff = 0;
            return 0;
        }
        before = now;
        sched_yield();
        now = coro__now_ns();
        if (now - before > 500000) { /* the core was taken: park for a while */
            s->yield_backoff = s->yield_backoff ? 2 * s->yield_backoff : 1;
            if (s->yield_backoff > 1024) s->yield_backoff = 1024;
            s->yield_skip = s->yield_backoff;
            return __atomic_load_n(&h->mail, __ATOMIC_RELAXED) != 0;
        }
    }
}

/* Queue m on h unless h refuses posts; 0 or ESHUTDOWN. */
static int coro__handle_send(coro_sched_t *h, coro__msg *m) {
    m->next = NULL;
    coro__spin_lock(&h->lock);
    if (h->closed || !h->owner || __atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
        coro__spin_unlock(&h->lock);
        return ESHUTDOWN;
    }
    if (h->msgs_tail) h->msgs_tail->next = m;
    else h->msgs = m;
    h->msgs_tail = m;
    __atomic_store_n(&h->mail, 1, __ATOMIC_RELEASE);
    coro__spin_unlock(&h->lock);
    coro__handle_notify(h);
    return 0;
}

CORO_API int coro_sched_post(coro_sched_t *h, coro_fn fn, void *arg, size_t stack_size) {
    coro__msg *m;
    int r;
    if (!h || !fn) {
        errno = EINVAL;
        return -1;
    }
    if (!(m = (coro__msg *)CORO_MALLOC(sizeof *m))) {
        errno = ENOMEM;
        return -1;
    }
    memset(m, 0, sizeof *m);
    m->fn = fn;
    m->arg = arg;
    m->stack_size = stack_size;
    if ((r = coro__handle_send(h, m)) != 0) {
        CORO_FREE(m);
        errno = r;
        return -1;
    }
    return 0;
}

CORO_API int coro_sched_stop(coro_sched_t *h) {
    int saved = errno;
    if (!h) {
        errno = EINVAL;
        return -1;
    }
    __atomic_store_n(&h->stop, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&h->mail, 1, __ATOMIC_SEQ_CST);
    coro__wakeup_signal(h->wake_wr);
    errno = saved;
    return 0;
}

/* A task of this thread whose channel operation another thread completed: wake it. */
static void coro__claimed_deliver(coro__sched *s, coro__task *t) {
    __atomic_store_n(&t->xstate, CORO__X_NONE, __ATOMIC_RELAXED);
    t->xch = NULL;
    t->sel = NULL;
    s->nchanwait--;
    if (t->state != CORO__DONE) coro__wake(s, t, t->xreason); /* (else killed meanwhile) */
}

/* Deliver what other threads sent: channel completions, then wakes and posts in order. */
static void coro__inbox_drain(coro__sched *s) {
    coro_sched_t *h = s->h;
    coro__msg *m, *retry = s->retry;
    coro__task *t, *rev = NULL;
    coro__spin_lock(&h->lock);
    __atomic_store_n(&h->mail, 0, __ATOMIC_RELAXED);
    m = h->msgs;
    h->msgs = h->msgs_tail = NULL;
    t = h->claimed;
    h->claimed = NULL;
    coro__spin_unlock(&h->lock);
    while (t) { /* pushed newest first: deliver oldest first */
        coro__task *n = t->xnext;
        t->xnext = rev;
        rev = t;
        t = n;
    }
    while ((t = rev) != NULL) {
        rev = t->xnext;
        coro__claimed_deliver(s, t);
    }
    s->retry = NULL;
    if (retry) { /* posts that failed to spawn last time go first */
        coro__msg *last = retry;
        while (last->next) last = last->next;
        last->next = m;
        m = retry;
    }
    while (m) {
        coro__msg *next = m->next;
        if (m->fn) {
            if (!coro_spawn(m->fn, m->arg, m->stack_size)) { /* out of memory: try next round */
                m->next = s->retry;
                s->retry = m;
                m = next;
                continue;
            }
        } else {
            (void)coro_wake(m->co, m->value); /* ended meanwhile, or a wake pending: dropped */
        }
        CORO_FREE(m);
        m = next;
    }
}

/* Retire this thread's handle (coro_sched_free, or the thread's exit): posts fail from now on.
   Its reference is dropped unless a task of this thread still sits in a channel's queue (a
   thread that exits without freeing its scheduler): then a sender may still reach the handle,
   which is kept. */
static void coro__handle_detach(coro__sched *s) {
    coro_sched_t *h = s->h;
    coro__msg *m;
    pthread_mutex_lock(&coro__handles_lock);
    if (h->prev) h->prev->next = h->next;
    else coro__handles = h->next;
    if (h->next) h->next->prev = h->prev;
    pthread_mutex_unlock(&coro__handles_lock);
    coro__spin_lock(&h->lock);
    h->closed = 1;
    h->owner = NULL;
    m = h->msgs;
    h->msgs = h->msgs_tail = NULL;
    coro__spin_unlock(&h->lock);
    while (m) {
        coro__msg *n = m->next;
        CORO_FREE(m);
        m = n;
    }
    while ((m = s->retry) != NULL) {
        s->retry = m->next;
        CORO_FREE(m);
    }
    if (s->fds && (size_t)h->wake_rd < s->nfds) {
        coro__fd *e = &s->fds[h->wake_rd];
        coro__poller_del(s, h->wake_rd, e);
        memset(e, 0, sizeof *e);
    }
    pthread_setspecific(coro__handle_key, NULL);
    s->h = NULL;
    if (!s->nchanwait) coro_sched_unref(h);
}

/* coro_wake from a thread that does not own co: find co's scheduler and send it the wake. */
static int coro__wake_remote(coro_t *co, void *value) {
    coro__msg *m;
    coro_sched_t *h;
    if (!co || !(m = (coro__msg *)CORO_MALLOC(sizeof *m))) {
        errno = co ? ENOMEM : ESRCH;
        return -1;
    }
    memset(m, 0, sizeof *m);
    m->co = co;
    m->value = value;
    pthread_mutex_lock(&coro__handles_lock);
    for (h = coro__handles; h; h = h->next) {
        coro__task *t;
        coro__spin_lock(&h->lock); /* the owner changes its registry under this lock */
        t = h->owner ? coro__reg_find(h->owner, co) : NULL;
        coro__spin_unlock(&h->lock);
        if (t) break;
    }
    if (h && coro__handle_send(h, m) == 0) {
        pthread_mutex_unlock(&coro__handles_lock);
        return 0;
    }
    pthread_mutex_unlock(&coro__handles_lock);
    CORO_FREE(m);
    errno = ESRCH;
    return -1;
}

/* >>loop */
static void coro__timers_fire(coro__sched *s) {
    int64_t now;
    if (!s->nheap) return;
    now = coro_now();
    while (s->nheap && s->heap[0].deadline <= now) coro__wake(s, s->heap[0].task, ETIMEDOUT);
}

static int coro__loop_timeout(coro__sched *s) {
    int64_t d;
    if (s->ready.head) return 0;
    if (!s->nheap) return -1;
    d = s->heap[0].deadline - coro_now();
    if (d <= 0) return 0;
    return d > INT_MAX ? INT_MAX : (int)d;
}

static void coro__workers_stop(coro__sched *s);

static void coro__inbox_drain(coro__sched *s);

/* One round of the ready queue: those ready now, not the ones they make ready. */
static inline void coro__run_round(coro__sched *s) {
    for (s->budget = s->nready; s->budget && s->ready.head;) {
        coro__task *t = coro__q_pop(&s->ready);
        s->nready--;
        s->budget--;
        coro__resume_task(s, t);
        if (s->zombies) coro__reclaim_some(s, 0);
    }
}

/* coro_sched_stop was seen: refuse posts from now on, spawn and start the ones accepted.
   A post whose coroutine could not be made for want of memory (a flood of posts: thousands of
   stacks at once) is retried after each round that ran something, since coroutines that end
   give their stacks back; it is dropped only when nothing is left to run. */
static void coro__loop_stopped(coro__sched *s) {
    coro_sched_t *h = s->h;
    int ran;
    coro__spin_lock(&h->lock);
    h->closed = 1;
    coro__spin_unlock(&h->lock);
    do {
        coro__inbox_drain(s); /* the retried posts first */
        ran = s->nready != 0;
        coro__run_round(s);
        if (s->zombies) coro__reclaim(s);
    } while (s->retry && ran);
    __atomic_store_n(&h->stop, 0, __ATOMIC_RELAXED);
}

static int coro__run(int serve) {
    coro__sched *s = coro__s();
    coro_sched_t *h;
    if (s->running || coro__me(s)) {
        CORO__MISUSE("coro_run", EBUSY, "called from a spawned coroutine, or a loop already runs");
        return -1;
    }
    if (coro__poller_ready(s) != 0) return -1;
    if (serve && !coro__handle(s)) return -1;
    s->running = 1;
    for (;;) { /* a stop asked for before coro_run still gives one round */
        int timeout;
        /* (stop is read on its own too: a drain that cleared mail just after a stop set it
           must not hide the stop) */
        if ((h = s->h) != NULL && (__atomic_load_n(&h->mail, __ATOMIC_ACQUIRE) ||
                                   __atomic_load_n(&h->stop, __ATOMIC_ACQUIRE))) {
            if (__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
                coro__loop_stopped(s);
                break;
            }
            coro__inbox_drain(s);
        }
        if (!s->count && !serve) break;
        coro__timers_fire(s);
        coro__run_round(s);
        if (s->zombies) coro__reclaim(s);
        if (s->stop || (!s->count && !serve)) break;
        h = s->h;
        timeout = coro__loop_timeout(s);
        if (s->starved.head) { /* tasks short of a stack */
            int wait = coro__starved_retry(s);
            if (timeout < 0 || wait < timeout) timeout = wait;
        }
        if (s->retry && (timeout < 0 || timeout > 10)) timeout = 10; /* posts short of memory */
        if (timeout == 0 && !s->nfdwait && !s->jobs_pending) continue; /* nothing to poll for */
        if (timeout < 0 && !s->nfdwait && !s->jobs_pending && !s->nchanwait && !serve &&
            !(h && h->given)) {
            s->running = 0;
            errno = EDEADLK;
            return -1;
        }
        if (timeout != 0) { /* stacks a burst left free go back once they have waited */
            long due = coro_pool_collect();
            if (due >= 0 && (timeout < 0 || due < timeout)) timeout = (int)due;
        }
        if (h && timeout != 0 && s->nchanwait && CORO_SCHED_SPIN_US > 0 && coro__spin_for_mail(s, h))
            continue;
        if (h && timeout != 0) { /* tell posters to write the wakeup fd, then look once more */
            CORO__TEST_BEFORE_PARK();
            __atomic_store_n(&h->sleeping, 1, __ATOMIC_RELAXED);
            __atomic_thread_fence(__ATOMIC_SEQ_CST); /* sleeping stored, before mail is read */
            if (__atomic_load_n(&h->mail, __ATOMIC_RELAXED)) {
                __atomic_store_n(&h->sleeping, 0, __ATOMIC_RELAXED);
                continue;
            }
        }
        if (coro__poller_wait(s, timeout) != 0 && errno != EINTR) {
            if (h) __atomic_store_n(&h->sleeping, 0, __ATOMIC_RELAXED);
            s->running = 0;
            return -1;
        }
        if (h) __atomic_store_n(&h->sleeping, 0, __ATOMIC_RELAXED);
    }
    if (s->zombies) coro__reclaim(s);
    s->running = 0;
    s->stop = 0;
    if (!s->count && !s->jobs_pending) coro__workers_stop(s);
    return 0;
}

CORO_API int coro_run(void) { return coro__run(0); }
CORO_API int coro_serve(void) { return coro__run(1); }

CORO_API void coro_stop(void) { coro__s()->stop = 1; }

CORO_API int coro_sched_yield(void) {
    coro__sched *s = coro__s();
    coro__task *t = s->cur, *n;
    int saved, err;
    /* The caller is nearly always the task the loop or a hand-off switched to last (s->cur is
       a live task while set): one comparison instead of coro__enter's lookup. */
    if (__builtin_expect(!t || t->co != coro_current() || t->pending_raise, 0) &&
        !(t = coro__enter(s, "coro_sched_yield")))
        return -1;
    /* coro__block's work for a task that waits on nothing and is woken already: to the back of
       the queue, switch out, and once continued take note of a raise that came meanwhile (the
       yield itself has completed: the next blocking call fails with it) */
    saved = errno;
    t->wait = CORO__W_YIELD;
    t->state = CORO__READY;
    n = s->ready.head;
    if (n && s->cur == t && coro_status(n->co) == CORO_SUSPENDED && coro__round_left(s, 1)) {
        /* coro__switch_out's hand-off, with t's push and n's pop done as one rotation: n
           leaves the front, t joins the back, and the count of ready tasks stays */
        coro__waitq *q = &s->ready;
        coro__task *nn = n->next;
        if (nn) {
            __builtin_prefetch(nn->co); /* the next yield's target: its coroutine is read first */
            nn->prev = NULL;
            q->head = nn;
            t->prev = q->tail;
            q->tail->next = t;
        } else {
            q->head = t;
            t->prev = NULL;
        }
        q->tail = t;
        t->next = NULL;
        t->queue = q;
        n->next = NULL;
        n->queue = NULL;
        s->budget--;
        n->state = CORO__RUNNING;
        s->resumes++;
        s->cur = n;
        errno = 0;
        coro_transfer(n->co, NULL);
        if (coro__handoff_failed(s, n)) { /* t stays, n goes back to the front */
            int nomem = errno == ENOMEM;
            coro__q_remove(q, t);
            s->nready--;
            coro__handoff_undo(s, t, n);
            if (nomem) coro_yield(NULL); /* the loop starts n when it can */
        }
    } else {
        coro__q_push(&s->ready, t);
        s->nready++;
        coro__switch_out(s, t);
    }
    err = coro_raised();
    if (t->queue == &s->ready) { /* continued by a raise before its turn came */
        coro__q_remove(&s->ready, t);
        s->nready--;
    }
    if (err) t->pending_raise = err;
    t->state = CORO__RUNNING;
    t->wait = CORO__W_NONE;
    t->budget = CORO_SCHED_IO_BUDGET;
    errno = saved;
    return 0;
}

/* After an I/O call that did not have to wait: every CORO_SCHED_IO_BUDGET of them, let the
   others run, so a peer that always has data cannot starve them. */
static void coro__spend(coro__sched *s, coro__task *t) {
    if (t && --t->budget <= 0) {
        int saved = errno;
        t->budget = CORO_SCHED_IO_BUDGET;
        t->wait = CORO__W_YIELD;
        coro__wake(s, t, 0);
        if (coro__block(s, t, -1) != 0) {
            /* raised while yielding: the I/O itself succeeded, report the error next time */
        }
        errno = saved;
    }
}

CORO_API void *coro_suspend(void) {
    coro__sched *s = coro__s();
    coro__task *t = coro__enter(s, "coro_suspend");
    int r;
    if (!t) return NULL;
    if (t->has_wake) {
        t->has_wake = 0;
        return t->wake_value;
    }
    t->wait = CORO__W_SUSPEND;
    r = coro__block(s, t, -1);
    if (r) {
        errno = r;
        return NULL;
    }
    return t->value;
}

CORO_API int coro_wake(coro_t *co, void *value) {
    coro__sched *s = coro__s();
    coro__task *t = coro__reg_find(s, co);
    if (!t) return coro__wake_remote(co, value);
    if (t->state == CORO__DONE) {
        CORO__MISUSE("coro_wake", ESRCH, "not a live spawned coroutine");
        return -1;
    }
    if (t->wait == CORO__W_SUSPEND && t->state == CORO__WAITING) {
        t->value = value;
        coro__wake(s, t, 0);
        return 0;
    }
    if (t->has_wake) {
        CORO__MISUSE("coro_wake", EBUSY, "a wake is already pending");
        return -1;
    }
    t->has_wake = 1;
    t->wake_value = value;
    return 0;
}

static int coro__sleep_until(int64_t deadline, const char *fn) {
    coro__sched *s = coro__s();
    coro__task *t = coro__enter(s, fn);
    int r;
    if (!t) return -1;
    t->wait = CORO__W_SLEEP;
    r = coro__block(s, t, deadline);
    if (r && r != ETIMEDOUT) {
        errno = r;
        return -1;
    }
    return 0;
}

CORO_API int coro_sleep_until(int64_t deadline) {
    if (deadline < 0) {
        CORO__MISUSE("coro_sleep_until", EINVAL, "negative deadline");
        return -1;
    }
    return coro__sleep_until(deadline, "coro_sleep_until");
}

CORO_API int coro_sleep(int64_t ms) {
    if (ms < 0) {
        CORO__MISUSE("coro_sleep", EINVAL, "negative time");
        return -1;
    }
    if (ms == 0) return coro_sched_yield();
    return coro__sleep_until(coro__deadline_in(ms), "coro_sleep");
}

/* Register t as the reader and/or writer of fd and wait. Returns the ready events or -1. */
static int coro__fd_wait(coro__sched *s, coro__task *t, int fd, int events, int64_t deadline,
                         int kind) {
    coro__fd *e;
    int r;
    if (coro__poller_ready(s) != 0) return -1;
    if (!(e = coro__fd_get(s, fd))) return -1;
    if (((events & CORO_READ) && e->reader && e->reader != t) ||
        ((events & CORO_WRITE) && e->writer && e->writer != t)) {
        CORO__MISUSE("coro fd wait", EBUSY, "another coroutine waits on this fd for that event");
        return -1;
    }
    if (e->always_ready) return events; /* regular files: epoll refuses them, poll says ready */
    if (coro__deadline_passed(deadline)) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (events & CORO_READ) e->reader = t;
    if (events & CORO_WRITE) e->writer = t;
    if (coro__poller_add(s, fd, e) != 0) {
        int err = errno;
        if (e->reader == t) e->reader = NULL;
        if (e->writer == t) e->writer = NULL;
        if (err == EPERM) { /* epoll: a file that is always ready */
            e->always_ready = 1;
            return events;
        }
        errno = err;
        return -1;
    }
    t->wait = kind;
    t->fd = fd;
    t->events = events;
    t->revents = 0;
    s->nfdwait++;
    r = coro__block(s, t, deadline);
    if (r) {
        errno = r;
        return -1;
    }
    return t->revents ? t->revents : events;
}

CORO_API int coro_wait_fd(int fd, int events, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t;
    coro__fd *e;
    if (fd < 0) {
        CORO__MISUSE("coro_wait_fd", EBADF, "negative fd");
        return -1;
    }
    if (!events || (events & ~(CORO_READ | CORO_WRITE))) {
        CORO__MISUSE("coro_wait_fd", EINVAL, "events must be CORO_READ, CORO_WRITE or both");
        return -1;
    }
    t = coro__me(s);
    if (coro__raise_pending(t)) return -1;
    if (!(e = coro__fd_get(s, fd))) return -1;
    if ((e->ready & events) || !t || coro__deadline_passed(deadline)) {
        /* The edge-triggered bits may be stale (the caller read without telling us): ask the
           kernel once, so this wait has level-triggered meaning like the seed's. */
        struct pollfd p;
        int r;
        p.fd = (coro__pollfd_fd)fd;
        p.events = (short)(((events & CORO_READ) ? POLLIN : 0) | ((events & CORO_WRITE) ? POLLOUT : 0));
        p.revents = 0;
        r = coro__os_poll(&p, 1, 0);
        if (r > 0) {
            int ready = 0;
            if (p.revents & POLLNVAL) {
                errno = EBADF;
                return -1;
            }
            if (p.revents & (POLLIN | POLLHUP | POLLERR)) ready |= CORO_READ;
            if (p.revents & (POLLOUT | POLLHUP | POLLERR)) ready |= CORO_WRITE;
            if (ready & events) return ready & events;
        }
        e->ready = (unsigned char)(e->ready & ~events);
    }
    if (!t) {
        CORO__MISUSE("coro_wait_fd", EPERM, "would wait outside a spawned coroutine");
        return -1;
    }
    return coro__fd_wait(s, t, fd, events, deadline, CORO__W_FD);
}

CORO_API int coro_join(coro_t *co, void **result, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *me, *t;
    int r;
    if (!(me = coro__enter(s, "coro_join"))) return -1;
    if (!(t = coro__reg_find(s, co)) || (t->state == CORO__DONE && t->joined)) {
        CORO__MISUSE("coro_join", ESRCH, "not a live or joinable spawned coroutine of this thread");
        return -1;
    }
    if (t == me) {
        CORO__MISUSE("coro_join", EDEADLK, "a coroutine cannot join itself");
        return -1;
    }
    if (t->state == CORO__DONE) { /* joinable and ended: collect it */
        if (result) *result = t->result;
        t->joined = 1;
        if (coro_status(t->co) == CORO_DEAD) {
            coro__task **pp = &s->kept;
            while (*pp && *pp != t) pp = &(*pp)->all_next;
            if (*pp) {
                *pp = t->all_next;
                coro__task_free(s, t);
            }
        }
        return 0;
    }
    if (coro__deadline_passed(deadline)) {
        errno = ETIMEDOUT;
        return -1;
    }
    me->wait = CORO__W_JOIN;
    me->join_target = co;
    coro__q_push(&t->joiners, me);
    r = coro__block(s, me, deadline);
    if (r) {
        errno = r;
        return -1;
    }
    if (result) *result = me->value;
    return 0;
}

CORO_API int coro_joinable(coro_t *co) {
    coro__task *t = coro__reg_find(coro__s(), co);
    if (!t) {
        CORO__MISUSE("coro_joinable", ESRCH, "not a live spawned coroutine of this thread");
        return -1;
    }
    t->joinable = 1;
    return 0;
}

CORO_API size_t coro_count(void) { return coro__s()->count; }

CORO_API coro_t *coro_find(uint64_t id) {
    coro__task *t;
    for (t = coro__s()->all; t; t = t->all_next)
        if (coro_id(t->co) == id) return t->co;
    return NULL;
}

CORO_API const char *coro_sched_backend(void) { return CORO__BACKEND; }

/* >>io */
CORO_API int coro_socket(int domain, int type, int protocol) {
    coro__sched *s = coro__s();
    int fd = coro__os_socket(domain, type, protocol);
    if (fd < 0) return -1;
    if (!coro__fd_fresh(s, fd, 1, (type & 0xf) == SOCK_STREAM)) {
        coro__os_close(fd);
        errno = ENOMEM;
        return -1;
    }
    return fd;
}

CORO_API int coro_pipe(int fds[2]) {
    coro__sched *s = coro__s();
    if (coro__os_pipe(fds) != 0) return -1;
    if (!coro__fd_fresh(s, fds[0], 0, 1) || !coro__fd_fresh(s, fds[1], 0, 1)) {
        coro__os_close(fds[0]);
        coro__os_close(fds[1]);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

static int coro__backoff(coro__sched *s, coro__task *t, int64_t *delay, int64_t deadline) {
    int64_t until = coro__deadline_in(*delay);
    int r;
    if (deadline >= 0 && until > deadline) until = deadline;
    t->wait = CORO__W_BACKOFF;
    r = coro__block(s, t, until);
    if (*delay < 100) *delay *= 2;
    if (r && r != ETIMEDOUT) {
        errno = r;
        return -1;
    }
    if (coro__deadline_passed(deadline)) {
        errno = ETIMEDOUT;
        return -1;
    }
    return 0;
}

CORO_API int coro_accept(int fd, struct sockaddr *addr, socklen_t *len, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t = coro__me(s);
    int64_t delay = 1;
    coro__fd *e;
    int tried = 0, saved = errno;
    if (coro__raise_pending(t)) return -1;
    for (;;) {
        int c;
        if (!(e = coro__fd_get(s, fd))) return -1;
        if ((e->ready & CORO_READ) || (!tried && (!t || coro__deadline_passed(deadline)))) {
            c = coro__os_accept(fd, addr, len);
            tried = 1;
            if (c >= 0) {
                if (!coro__fd_fresh(s, c, 1, 1)) {
                    coro__os_close(c);
                    errno = ENOMEM;
                    return -1;
                }
                coro__spend(s, t);
                errno = saved;
                return c;
            }
            switch (errno) {
            case EINTR:
            case ECONNABORTED:
            case EPROTO: continue;
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM: /* out of fds or memory: do not spin on a listener that stays ready */
                if (!t) return -1;
                if (coro__backoff(s, t, &delay, deadline) != 0) return -1;
                continue;
            case EAGAIN:
#if EAGAIN != EWOULDBLOCK
            case EWOULDBLOCK:
#endif
                e->ready = (unsigned char)(e->ready & ~CORO_READ);
                break;
            default: return -1;
            }
        }
        if (!t) {
            CORO__MISUSE("coro_accept", EPERM, "would wait outside a spawned coroutine");
            return -1;
        }
        if (coro__fd_wait(s, t, fd, CORO_READ, deadline, CORO__W_FD) < 0) return -1;
    }
}

CORO_API int coro_connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t;
    int err, saved = errno;
    if (!coro__fd_get(s, fd)) return -1;
    if (coro__os_connect(fd, addr, len) == 0) return 0;
    if (errno != EINPROGRESS && errno != EINTR) return -1;
    if (!(t = coro__enter(s, "coro_connect"))) return -1;
    if (coro__fd_wait(s, t, fd, CORO_WRITE, deadline, CORO__W_FD) < 0) return -1;
    if ((err = coro__os_sock_error(fd)) != 0) {
        errno = err;
        return -1;
    }
    errno = saved;
    return 0;
}

CORO_API ssize_t coro_read(int fd, void *buf, size_t len, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t = coro__me(s);
    coro__fd *e;
    int tried = 0, saved = errno;
    if (coro__raise_pending(t)) return -1;
    for (;;) {
        if (!(e = coro__fd_get(s, fd))) return -1;
        if ((e->ready & CORO_READ) || (!tried && (!t || coro__deadline_passed(deadline)))) {
            ssize_t n = coro__os_read(fd, buf, len);
            tried = 1;
            if (n >= 0) {
                /* a short read from a stream drains it: the next call waits for the edge
                   instead of paying for a read that fails with EAGAIN */
                if (n > 0 && (size_t)n < len && e->stream && !e->hup) e->ready &= (unsigned char)~CORO_READ;
                coro__spend(s, t);
                errno = saved;
                return n;
            }
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            e->ready = (unsigned char)(e->ready & ~CORO_READ);
        }
        if (!t) {
            CORO__MISUSE("coro_read", EPERM, "would wait outside a spawned coroutine");
            return -1;
        }
        if (coro__fd_wait(s, t, fd, CORO_READ, deadline, CORO__W_FD) < 0) return -1;
    }
}

CORO_API ssize_t coro_read_full(int fd, void *buf, size_t len, int64_t deadline) {
    size_t got = 0;
    if (!len) return coro__fd_get(coro__s(), fd) ? 0 : -1; /* like read(2): the fd is checked */
    while (got < len) {
        ssize_t n = coro_read(fd, (char *)buf + got, len - got, deadline);
        if (n < 0) return -1;
        if (n == 0) {
            errno = EPIPE;
            return -1;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* All the bytes of iov[0..cnt), in as few syscalls as the kernel allows: a single buffer goes
   to send/write, several to sendmsg/writev in windows of at most CORO__IOV_WINDOW entries
   copied from where the last call stopped (the caller's array is never written). */
#define CORO__IOV_WINDOW 64
static ssize_t coro__write_all(int fd, const struct iovec *iov, int cnt, size_t total, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t = coro__me(s);
    size_t done = 0, skip = 0; /* bytes written; bytes of iov[0] already written */
    coro__fd *e;
    int tried = 0, saved = errno;
    if (coro__raise_pending(t)) return -1;
    for (;;) {
        while (cnt > 0 && skip >= iov[0].iov_len) { /* step past what went out, and empty buffers */
            skip -= iov[0].iov_len;
            iov++;
            cnt--;
        }
        if (!(e = coro__fd_get(s, fd))) return -1;
        if (done == total) { /* nothing (left) to write: the fd was still checked */
            coro__spend(s, t);
            errno = saved;
            return (ssize_t)total;
        }
        if ((e->ready & CORO_WRITE) || (!tried && (!t || coro__deadline_passed(deadline)))) {
            ssize_t n;
            size_t want; /* offered to this call */
            if (cnt == 1) {
                const char *p = (const char *)iov[0].iov_base + skip;
                want = iov[0].iov_len - skip;
                n = coro__os_write(fd, p, want, e->socket);
            } else {
                struct iovec w[CORO__IOV_WINDOW];
                int k = cnt < CORO__IOV_WINDOW ? cnt : CORO__IOV_WINDOW, j;
                memcpy(w, iov, (size_t)k * sizeof *w);
                for (want = 0, j = 0; j < k; j++) want += w[j].iov_len;
                want -= skip;
                w[0].iov_base = (char *)w[0].iov_base + skip;
                w[0].iov_len -= skip;
                n = coro__os_writev(fd, w, k, e->socket);
            }
            tried = 1;
            if (n >= 0) {
                done += (size_t)n;
                skip += (size_t)n;
                if ((size_t)n < want) e->ready = (unsigned char)(e->ready & ~CORO_WRITE); /* full */
                continue;
            } else if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                e->ready = (unsigned char)(e->ready & ~CORO_WRITE);
            } else {
                return -1;
            }
        }
        if (!t) {
            CORO__MISUSE("coro_write", EPERM, "would wait outside a spawned coroutine");
            return -1;
        }
        if (coro__fd_wait(s, t, fd, CORO_WRITE, deadline, CORO__W_FD) < 0) return -1;
    }
}

CORO_API ssize_t coro_write(int fd, const void *buf, size_t len, int64_t deadline) {
    struct iovec v;
    if (len > (size_t)SSIZE_MAX) {
        CORO__MISUSE("coro_write", EINVAL, "length above SSIZE_MAX");
        return -1;
    }
    v.iov_base = (void *)(uintptr_t)buf;
    v.iov_len = len;
    return coro__write_all(fd, &v, 1, len, deadline);
}

CORO_API ssize_t coro_writev(int fd, const struct iovec *iov, int iovcnt, int64_t deadline) {
    size_t total = 0;
    int i;
    if (iovcnt < 0 || (!iov && iovcnt > 0)) {
        CORO__MISUSE("coro_writev", EINVAL, "bad iovec array");
        return -1;
    }
    for (i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - total) {
            CORO__MISUSE("coro_writev", EINVAL, "total length above SSIZE_MAX");
            return -1;
        }
        total += iov[i].iov_len;
    }
    return coro__write_all(fd, iov, iovcnt, total, deadline);
}

CORO_API ssize_t coro_sendfile(int out_fd, int in_fd, off_t *offset, size_t count, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t = coro__me(s);
    size_t done = 0;
    coro__fd *e;
    int tried = 0, saved = errno;
    if (!offset || *offset < 0 || count > (size_t)SSIZE_MAX) {
        CORO__MISUSE("coro_sendfile", EINVAL, "NULL or negative offset, or count above SSIZE_MAX");
        return -1;
    }
    if (in_fd < 0) {
        CORO__MISUSE("coro_sendfile", EBADF, "negative fd");
        return -1;
    }
    if (coro__raise_pending(t)) return -1;
    for (;;) {
        if (!(e = coro__fd_get(s, out_fd))) return -1;
        if (done == count) {
            coro__spend(s, t);
            errno = saved;
            return (ssize_t)count;
        }
        if ((e->ready & CORO_WRITE) || (!tried && (!t || coro__deadline_passed(deadline)))) {
            size_t want = count - done;
            ssize_t n = coro__sendfile_once(out_fd, in_fd, offset, want, e->socket);
            tried = 1;
            if (n > 0) {
                done += (size_t)n; /* short: out_fd is full or the file ended; the next try says which */
                continue;
            } else if (n == 0) { /* the file ended before count */
                coro__spend(s, t);
                errno = saved;
                return (ssize_t)done;
            } else if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                e->ready = (unsigned char)(e->ready & ~CORO_WRITE);
            } else {
                return -1;
            }
        }
        if (!t) {
            CORO__MISUSE("coro_sendfile", EPERM, "would wait outside a spawned coroutine");
            return -1;
        }
        if (coro__fd_wait(s, t, out_fd, CORO_WRITE, deadline, CORO__W_FD) < 0) return -1;
    }
}

static void coro__fd_drop(coro__sched *s, int fd) {
    coro__fd *e;
    if (fd < 0 || (size_t)fd >= s->nfds) return;
    e = &s->fds[fd];
    if (e->reader) coro__wake(s, e->reader, EBADF);
    if (e->writer) coro__wake(s, e->writer, EBADF);
    if (s->ready_init == 2) coro__poller_del(s, fd, e);
    memset(e, 0, sizeof *e);
}

CORO_API int coro_close(int fd) {
    coro__fd_drop(coro__s(), fd);
    return coro__os_close(fd);
}

CORO_API void coro_fd_forget(int fd) { coro__fd_drop(coro__s(), fd); }

/* >>offload: worker threads run blocking calls; completions come back through a >>wakeup pair
   the loop watches like any fd. */
static void *coro__worker(void *arg) {
    coro__sched *s = (coro__sched *)arg;
    pthread_mutex_lock(&s->job_lock);
    for (;;) {
        coro__job *j;
        while (!s->jobs && !s->workers_quit) {
            s->idle_workers++;
            pthread_cond_wait(&s->job_cond, &s->job_lock);
            s->idle_workers--;
        }
        if (!s->jobs) break; /* told to quit and nothing left */
        j = s->jobs;
        s->jobs_queued--;
        s->jobs = j->next;
        if (!s->jobs) s->jobs_tail = NULL;
        pthread_mutex_unlock(&s->job_lock);
        j->result = j->fn(j->arg);
        pthread_mutex_lock(&s->job_lock);
        j->next = s->done_jobs;
        s->done_jobs = j;
        if (s->wake_wr >= 0) coro__wakeup_signal(s->wake_wr);
    }
    pthread_mutex_unlock(&s->job_lock);
    return NULL;
}

static int coro__workers_ready(coro__sched *s) {
    if (!s->job_lock_init) {
        int rd, wr;
        coro__fd *e;
        if (coro__wakeup_open(&rd, &wr) != 0) return -1;
        if (!(e = coro__fd_fresh(s, rd, 0, 1))) {
            coro__wakeup_close(rd, wr);
            errno = ENOMEM;
            return -1;
        }
        e->internal = 1;
        if (coro__poller_add(s, rd, e) != 0) {
            memset(e, 0, sizeof *e);
            coro__wakeup_close(rd, wr);
            return -1;
        }
        s->wake_rd = rd;
        s->wake_wr = wr;
        pthread_mutex_init(&s->job_lock, NULL);
        pthread_cond_init(&s->job_cond, NULL);
        s->job_lock_init = 1;
    }
    return 0;
}

static void coro__jobs_drain(coro__sched *s) {
    coro__job *done;
    coro__wakeup_drain(s->wake_rd);
    pthread_mutex_lock(&s->job_lock);
    done = s->done_jobs;
    s->done_jobs = NULL;
    pthread_mutex_unlock(&s->job_lock);
    while (done) {
        coro__job *j = done;
        coro__task *t = j->task;
        done = j->next;
        s->jobs_pending--;
        t->job = NULL;
        t->value = j->result;
        if (t->state == CORO__WAITING && t->wait == CORO__W_JOB) coro__wake(s, t, 0);
        /* else the task was killed: its zombie is freed now that nothing uses its stack */
        CORO_FREE(j);
    }
}

/* Take t's job out of the queue if no worker has started it yet; 1 if it was dropped. */
static int coro__job_drop(coro__sched *s, coro__task *t) {
    coro__job **pp, *prev = NULL;
    int dropped = 0;
    pthread_mutex_lock(&s->job_lock);
    for (pp = &s->jobs; *pp; prev = *pp, pp = &(*pp)->next)
        if (*pp == t->job) {
            *pp = t->job->next;
            if (s->jobs_tail == t->job) s->jobs_tail = prev;
            s->jobs_queued--;
            dropped = 1;
            break;
        }
    pthread_mutex_unlock(&s->job_lock);
    if (dropped) {
        CORO_FREE(t->job);
        t->job = NULL;
        s->jobs_pending--;
    }
    return dropped;
}

static void coro__workers_stop(coro__sched *s) {
    int i, n;
    if (!s->job_lock_init) return;
    pthread_mutex_lock(&s->job_lock);
    s->workers_quit = 1;
    n = s->nworkers;
    pthread_cond_broadcast(&s->job_cond);
    pthread_mutex_unlock(&s->job_lock);
    for (i = 0; i < n; i++) pthread_join(s->workers[i], NULL);
    s->nworkers = 0;
    s->workers_quit = 0;
}

CORO_API int coro_offload(void *(*fn)(void *), void *arg, void **result) {
    coro__sched *s = coro__s();
    coro__task *t;
    coro__job *j;
    int r, raised = 0;
    if (!fn) {
        CORO__MISUSE("coro_offload", EINVAL, "NULL function");
        return -1;
    }
    if (!(t = coro__enter(s, "coro_offload"))) return -1;
    if (coro__poller_ready(s) != 0 || coro__workers_ready(s) != 0) return -1;
    if (!(j = (coro__job *)CORO_MALLOC(sizeof *j))) {
        errno = ENOMEM;
        return -1;
    }
    j->fn = fn;
    j->arg = arg;
    j->result = NULL;
    j->task = t;
    j->next = NULL;
    pthread_mutex_lock(&s->job_lock);
    if ((size_t)s->idle_workers <= s->jobs_queued && s->nworkers < CORO_SCHED_WORKERS) {
        if (pthread_create(&s->workers[s->nworkers], NULL, coro__worker, s) == 0) s->nworkers++;
        else if (!s->nworkers) {
            pthread_mutex_unlock(&s->job_lock);
            CORO_FREE(j);
            errno = EAGAIN;
            return -1;
        }
    }
    if (s->jobs_tail) s->jobs_tail->next = j;
    else s->jobs = j;
    s->jobs_tail = j;
    s->jobs_queued++;
    pthread_cond_signal(&s->job_cond);
    pthread_mutex_unlock(&s->job_lock);
    s->jobs_pending++;
    t->job = j;
    /* fn may use memory on this stack: when raised into, drop the job if no worker has
       started it, else wait until it has finished */
    for (;;) {
        t->wait = CORO__W_JOB;
        r = coro__block(s, t, -1);
        if (!t->job) break;
        if (r && !raised) raised = r;
        if (raised && coro__job_drop(s, t)) break;
    }
    if (raised || r) {
        errno = raised ? raised : r;
        return -1;
    }
    if (result) *result = t->value;
    return 0;
}

/* >>tcp */
typedef struct coro__resolve {
    const char *host;
    char port[16];
    int passive, err;
    struct addrinfo *res;
} coro__resolve;

static void *coro__getaddrinfo(void *arg) {
    coro__resolve *r = (coro__resolve *)arg;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = r->passive ? AI_PASSIVE : 0;
    r->err = getaddrinfo(r->host, r->port, &hints, &r->res);
    return NULL;
}

/* Numeric addresses need no resolver; names go to a worker thread when we are in a spawned
   coroutine (the loop must not stall on DNS), or are resolved here otherwise. */
static int coro__resolve_host(const char *host, int port, int passive, struct addrinfo **out) {
    coro__resolve r;
    struct addrinfo hints;
    memset(&r, 0, sizeof r);
    r.host = host;
    r.passive = passive;
    coro__os_net_start();
    snprintf(r.port, sizeof r.port, "%d", port);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    if (getaddrinfo(host, r.port, &hints, &r.res) == 0) {
        *out = r.res;
        return 0;
    }
    r.res = NULL;
    if (coro__me(coro__s())) {
        if (coro_offload(coro__getaddrinfo, &r, NULL) != 0) return -1;
    } else {
        coro__getaddrinfo(&r);
    }
    if (r.err) {
#ifdef EAI_SYSTEM
        errno = r.err == EAI_SYSTEM ? errno : EHOSTUNREACH;
#else
        errno = EHOSTUNREACH;
#endif
        if (r.err == EAI_MEMORY) errno = ENOMEM;
        return -1;
    }
    *out = r.res;
    return 0;
}

CORO_API int coro_tcp_listen(const char *host, int port, int backlog) {
    return coro_tcp_listen_opt(host, port, backlog, 0);
}

CORO_API int coro_tcp_listen_opt(const char *host, int port, int backlog, int flags) {
    struct addrinfo *ai = NULL, *a;
    int fd = -1, err = EINVAL;
    if (port < 0 || port > 65535 || (flags & ~CORO_TCP_REUSEPORT)) {
        errno = EINVAL;
        return -1;
    }
    if (coro__resolve_host(host ? host : "0.0.0.0", port, 1, &ai) != 0) {
        if (errno == EHOSTUNREACH) errno = EINVAL;
        return -1;
    }
    for (a = ai; a; a = a->ai_next) {
        fd = coro_socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        coro__os_reuseaddr(fd);
#ifdef SO_REUSEPORT
        if ((flags & CORO_TCP_REUSEPORT) && coro__os_setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0) {
            err = errno;
            coro_close(fd);
            fd = -1;
            break; /* the same on every address */
        }
#else
        if (flags & CORO_TCP_REUSEPORT) {
            coro_close(fd);
            fd = -1;
            err = ENOPROTOOPT;
            break;
        }
#endif
        if (coro__os_bind_listen(fd, a->ai_addr, (socklen_t)a->ai_addrlen, backlog > 0 ? backlog : 128) == 0)
            break;
        err = errno;
        coro_close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) errno = err;
    return fd;
}

CORO_API int coro_tcp_connect(const char *host, int port, int64_t deadline) {
    struct addrinfo *ai = NULL, *a;
    int fd = -1, err = EHOSTUNREACH;
    if (!host || port <= 0 || port > 65535) {
        errno = EINVAL;
        return -1;
    }
    if (coro__resolve_host(host, port, 0, &ai) != 0) return -1;
    for (a = ai; a; a = a->ai_next) {
        fd = coro_socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        (void)coro__os_setopt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
        if (coro_connect(fd, a->ai_addr, (socklen_t)a->ai_addrlen, deadline) == 0) break;
        err = errno;
        coro_close(fd);
        fd = -1;
        if (err == ETIMEDOUT || err == EPERM) break;
    }
    freeaddrinfo(ai);
    if (fd < 0) errno = err;
    return fd;
}

CORO_API int coro_tcp_port(int fd) {
    struct sockaddr_storage ss;
    if (coro__os_sockname(fd, &ss) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    errno = EINVAL;
    return -1;
}

/* >>signals: a handler records the signal in a process-wide mask and writes to a pipe the
   waiting coroutine's loop watches (a self-pipe: async-signal-safe, and any thread may take
   the signal). */
#if !CORO__SCHED_WINDOWS
static volatile uint64_t coro__sig_pending;
static int coro__sig_pipe[2] = {-1, -1};
static uint64_t coro__sig_installed;
static pthread_mutex_t coro__sig_lock = PTHREAD_MUTEX_INITIALIZER;

static void coro__sig_handler(int sig) {
    int saved = errno;
    char c = (char)sig;
    ssize_t w;
    __atomic_or_fetch(&coro__sig_pending, (uint64_t)1 << (sig & 63), __ATOMIC_SEQ_CST);
    w = write(coro__sig_pipe[1], &c, 1);
    (void)w;
    errno = saved;
}

/* Check set: at least one signal, none that cannot be caught. */
static int coro__sig_set_ok(const sigset_t *set) {
    int sig, any = 0;
    if (!set) return 0;
    for (sig = 1; sig < 64 && sig < NSIG; sig++)
        if (sigismember(set, sig) == 1) {
            if (sig == SIGKILL || sig == SIGSTOP) return 0;
            any = 1;
        }
    return any;
}

CORO_API int coro_signal_watch(const sigset_t *set) {
    int sig, r = 0;
    if (!coro__sig_set_ok(set)) {
        CORO__MISUSE("coro_signal_watch", EINVAL, "empty set, or SIGKILL/SIGSTOP in it");
        return -1;
    }
    pthread_mutex_lock(&coro__sig_lock);
    if (coro__sig_pipe[0] < 0 && pipe2(coro__sig_pipe, O_NONBLOCK | O_CLOEXEC) != 0) r = -1;
    for (sig = 1; r == 0 && sig < 64 && sig < NSIG; sig++)
        if (sigismember(set, sig) == 1 && !(coro__sig_installed & ((uint64_t)1 << sig))) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = coro__sig_handler;
            sa.sa_flags = SA_RESTART;
            sigemptyset(&sa.sa_mask);
            if (sigaction(sig, &sa, NULL) == 0) coro__sig_installed |= (uint64_t)1 << sig;
            else r = -1;
        }
    pthread_mutex_unlock(&coro__sig_lock);
    return r;
}

CORO_API int coro_signal_wait(const sigset_t *set, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t;
    coro__fd *e;
    uint64_t mask = 0;
    int sig;
    if (!coro__sig_set_ok(set)) {
        CORO__MISUSE("coro_signal_wait", EINVAL, "empty set, or SIGKILL/SIGSTOP in it");
        return -1;
    }
    if (!(t = coro__enter(s, "coro_signal_wait"))) return -1;
    if (coro_signal_watch(set) != 0) return -1;
    if (!(e = coro__fd_slot(s, coro__sig_pipe[0]))) return -1;
    if (!e->known) coro__fd_fresh(s, coro__sig_pipe[0], 0, 1);
    for (sig = 1; sig < 64 && sig < NSIG; sig++)
        if (sigismember(set, sig) == 1) mask |= (uint64_t)1 << sig;
    for (;;) {
        char buf[64];
        uint64_t pending = __atomic_load_n(&coro__sig_pending, __ATOMIC_SEQ_CST) & mask;
        for (sig = 1; pending && sig < 64; sig++)
            if (pending & ((uint64_t)1 << sig)) {
                __atomic_and_fetch(&coro__sig_pending, ~((uint64_t)1 << sig), __ATOMIC_SEQ_CST);
                return sig;
            }
        while (read(coro__sig_pipe[0], buf, sizeof buf) > 0)
            ;
        if (__atomic_load_n(&coro__sig_pending, __ATOMIC_SEQ_CST) & mask)
            continue; /* arrived between the check and the drain */
        s->fds[coro__sig_pipe[0]].ready = 0;
        if (coro__fd_wait(s, t, coro__sig_pipe[0], CORO_READ, deadline, CORO__W_SIGNAL) < 0)
            return -1;
    }
}
#else
/* >>signals: Windows (no POSIX signals to wait for: console events reach a program through
   SetConsoleCtrlHandler, whose handler may call coro_sched_stop) */
CORO_API int coro_signal_watch(const sigset_t *set) {
    (void)set;
    errno = ENOSYS;
    return -1;
}
CORO_API int coro_signal_wait(const sigset_t *set, int64_t deadline) {
    (void)set;
    (void)deadline;
    errno = ENOSYS;
    return -1;
}
#endif

/* >>sync */
/* The check every sync and channel call makes: the object belongs to the scheduler that first
   used it (claimed here, atomically, in case two threads start at once); another thread's
   coroutines would link their tasks into this one's queues, so they get EPERM. */
static int coro__foreign(coro__sched *s, coro__sched **owner, const char *fn) {
    coro__sched *o = __atomic_load_n(owner, __ATOMIC_ACQUIRE);
    if (o == s) return 0;
    if (!o && __atomic_compare_exchange_n(owner, &o, s, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 0;
    CORO__MISUSE(fn, EPERM, "the object belongs to a scheduler of another thread");
    return 1;
}

static int coro__wait_on(coro__sched *s, coro__task *t, coro__waitq *q, int kind,
                         int64_t deadline) {
    int r;
    if (coro__deadline_passed(deadline)) {
        errno = ETIMEDOUT;
        return -1;
    }
    t->wait = kind;
    coro__q_push(q, t);
    r = coro__block(s, t, deadline);
    if (r) {
        errno = r;
        return -1;
    }
    return 0;
}

CORO_API void coro_cond_init(coro_cond_t *c) {
    if (!c) return;
    c->waiters.head = c->waiters.tail = NULL;
    __atomic_store_n(&c->sched, NULL, __ATOMIC_RELEASE);
}
CORO_API int coro_cond_wait(coro_cond_t *c, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t;
    if (!c) {
        CORO__MISUSE("coro_cond_wait", EINVAL, "NULL condition variable");
        return -1;
    }
    if (coro__foreign(s, &c->sched, "coro_cond_wait")) return -1;
    if (!(t = coro__enter(s, "coro_cond_wait"))) return -1;
    return coro__wait_on(s, t, &c->waiters, CORO__W_COND, deadline);
}
CORO_API void coro_cond_signal(coro_cond_t *c) {
    coro__task *t;
    if (!c || coro__foreign(coro__s(), &c->sched, "coro_cond_signal")) return;
    if ((t = c->waiters.head) != NULL) coro__wake(t->s, t, 0);
}
CORO_API void coro_cond_broadcast(coro_cond_t *c) {
    coro__task *t;
    if (!c || coro__foreign(coro__s(), &c->sched, "coro_cond_broadcast")) return;
    while ((t = c->waiters.head) != NULL) coro__wake(t->s, t, 0);
}

CORO_API void coro_mutex_init(coro_mutex_t *m) {
    if (!m) return;
    m->owner = NULL;
    m->waiters.head = m->waiters.tail = NULL;
    __atomic_store_n(&m->sched, NULL, __ATOMIC_RELEASE);
}
CORO_API int coro_mutex_lock(coro_mutex_t *m, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t;
    if (!m) {
        CORO__MISUSE("coro_mutex_lock", EINVAL, "NULL mutex");
        return -1;
    }
    if (coro__foreign(s, &m->sched, "coro_mutex_lock")) return -1;
    if (!(t = coro__enter(s, "coro_mutex_lock"))) return -1;
    if (!m->owner) {
        m->owner = t;
        return 0;
    }
    if (m->owner == t) {
        CORO__MISUSE("coro_mutex_lock", EDEADLK, "the caller already holds the mutex");
        return -1;
    }
    return coro__wait_on(s, t, &m->waiters, CORO__W_MUTEX, deadline); /* unlock hands it over */
}
CORO_API int coro_mutex_unlock(coro_mutex_t *m) {
    coro__sched *s = coro__s();
    coro__task *next;
    if (!m) {
        CORO__MISUSE("coro_mutex_unlock", EINVAL, "NULL mutex");
        return -1;
    }
    if (coro__foreign(s, &m->sched, "coro_mutex_unlock")) return -1;
    if (!m->owner || m->owner != coro__me(s)) {
        CORO__MISUSE("coro_mutex_unlock", EPERM, "the caller does not hold the mutex");
        return -1;
    }
    next = m->waiters.head;
    m->owner = next;
    if (next) coro__wake(s, next, 0);
    return 0;
}

CORO_API void coro_sem_init(coro_sem_t *sem, unsigned count) {
    if (!sem) return;
    sem->count = count;
    sem->waiters.head = sem->waiters.tail = NULL;
    __atomic_store_n(&sem->sched, NULL, __ATOMIC_RELEASE);
}
CORO_API int coro_sem_wait(coro_sem_t *sem, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t;
    if (!sem) {
        CORO__MISUSE("coro_sem_wait", EINVAL, "NULL semaphore");
        return -1;
    }
    if (coro__foreign(s, &sem->sched, "coro_sem_wait")) return -1;
    if (!(t = coro__enter(s, "coro_sem_wait"))) return -1;
    if (sem->count) {
        sem->count--;
        return 0;
    }
    return coro__wait_on(s, t, &sem->waiters, CORO__W_SEM, deadline); /* post hands it over */
}
CORO_API int coro_sem_post(coro_sem_t *sem) {
    coro__task *t;
    if (!sem) {
        CORO__MISUSE("coro_sem_post", EINVAL, "NULL semaphore");
        return -1;
    }
    if (coro__foreign(coro__s(), &sem->sched, "coro_sem_post")) return -1;
    if ((t = sem->waiters.head) != NULL) {
        coro__wake(t->s, t, 0);
        return 0;
    }
    if (sem->count == UINT_MAX) {
        errno = EOVERFLOW;
        return -1;
    }
    sem->count++;
    return 0;
}

/* >>chan: any thread may use a channel, and a plain thread (no scheduler) may block on one.
   The channel's spinlock guards its buffer and its two queues of waiters. A waiter belongs to
   one thread; whoever completes its operation copies the element to or from it and then wakes
   it: directly if it is a coroutine of the same thread, through its scheduler's inbox if it is
   another thread's, through a condition variable if it is a plain thread. A waiter that gives up
   (deadline, raise, kill) races with a completer from another thread: a compare-and-swap on its
   state decides, and a completed operation is never undone.
   A select queues one stand-in per op (a task record whose xowner is the selecting task); the
   owner's state is the one that is claimed, so exactly one op completes. Whoever decides the
   outcome (the completer that claims the owner, or the owner giving up) takes the other
   stand-ins out of their queues before the owner is woken; nobody else ever unlinks them. */
typedef struct coro__sel {
    coro__task *nodes; /* one stand-in per op, xq NULL when not queued */
    int n, win;        /* win: the op completed (or whose channel closed), -1 until then */
} coro__sel;

typedef struct coro__tw {
    pthread_mutex_t m;
    pthread_cond_t c;
    int done;
} coro__tw;

struct coro_chan {
    int lock;
    int closed;
    size_t elem, cap, head, len;
    coro__waitq senders, receivers;
    unsigned char *buf;
};

static void coro__cq_push(coro__waitq *q, coro__task *t) {
    t->cnext = NULL;
    t->cprev = q->tail;
    if (q->tail) q->tail->cnext = t;
    else q->head = t;
    q->tail = t;
}
static void coro__cq_remove(coro__waitq *q, coro__task *t) {
    if (t->cprev) t->cprev->cnext = t->cnext;
    else q->head = t->cnext;
    if (t->cnext) t->cnext->cprev = t->cprev;
    else q->tail = t->cprev;
    t->cnext = t->cprev = NULL;
}

/* The first waiter of q that this thread may complete, taken out of q (channel locked).
   A select's stand-in yields its owner, with the owner's elem and sel->win set to the op's. */
static CORO__SCHED_NOINLINE coro__task *coro__chan_take_slow(coro__sched *me, coro__waitq *q) {
    coro__task *w;
    for (w = q->head; w; w = w->cnext) {
        coro__task *o = w->xowner ? w->xowner : w;
        if (o != w || o->s != me) { /* another thread's, or a select another op may complete */
            int expect = CORO__X_WAITING;
            if (!__atomic_compare_exchange_n(&o->xstate, &expect, CORO__X_CLAIMED, 0,
                                             __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                continue; /* it gave up and removes itself, or its select completed elsewhere */
        }
        coro__cq_remove(q, w);
        if (o != w) {
            w->xq = NULL;
            o->elem = w->elem;
            o->sel->win = w->xidx;
        }
        return o;
    }
    return NULL;
}
static inline coro__task *coro__chan_take(coro__sched *me, coro__waitq *q) {
    coro__task *w = q->head;
    if (!w) return NULL;
    if (w->s != me) return coro__chan_take_slow(me, q);
    q->head = w->cnext; /* the head, of this thread: nobody races for it */
    if (q->head) q->head->cprev = NULL;
    else q->tail = NULL;
    w->cnext = NULL;
    return w;
}

/* A select's outcome is decided: take its stand-ins out of the queues they are still in (the
   completed op's is out already). Called once, by the decider, with no channel locked; the
   owner's stack, where the stand-ins are, stays until the owner is woken. */
static void coro__sel_finish(coro__task *o) {
    coro__sel *sel = o->sel;
    int i;
    for (i = 0; i < sel->n; i++) {
        coro__task *w = &sel->nodes[i];
        if (!w->xq) continue;
        coro__spin_lock(&w->xch->lock);
        coro__cq_remove(w->xq, w);
        coro__spin_unlock(&w->xch->lock);
        w->xq = NULL;
    }
}

/* What coro__wake does for w of this thread, knowing where w waits: in no other queue, maybe
   on a timer. */
static inline void coro__chan_wake_here(coro__sched *me, coro__task *w, int reason) {
    w->xch = NULL;
    me->nchanwait--;
    if (w->heap_idx != CORO__NO_HEAP) coro__heap_remove(me, w);
    w->wait = CORO__W_NONE;
    w->woken = 1;
    w->reason = reason;
    w->state = CORO__READY;
    coro__q_push(&me->ready, w);
    me->nready++;
}

/* Wake w, whose operation the caller completed with result reason (channel unlocked): a
   waiter of another thread or a plain thread, or a select. */
static CORO__SCHED_NOINLINE void coro__chan_done_remote(coro__sched *me, coro__task *w,
                                                        int reason) {
    coro_sched_t *h;
    if (w->sel) {
        coro__sel_finish(w);
        if (w->s == me) {
            w->sel = NULL;
            coro__chan_wake_here(me, w, reason);
            return;
        }
    }
    w->xreason = reason;
    if (w->tw) {
        pthread_mutex_lock(&w->tw->m);
        w->tw->done = 1;
        pthread_cond_signal(&w->tw->c);
        pthread_mutex_unlock(&w->tw->m);
        return;
    }
    h = w->h;
    coro__spin_lock(&h->lock);
    w->xnext = h->claimed;
    h->claimed = w;
    __atomic_store_n(&h->mail, 1, __ATOMIC_RELEASE);
    coro__spin_unlock(&h->lock);
    coro__handle_notify(h);
}
static inline void coro__chan_done(coro__sched *me, coro__task *w, int reason) {
    if (w->s != me || w->sel) {
        coro__chan_done_remote(me, w, reason);
        return;
    }
    coro__chan_wake_here(me, w, reason);
}

/* An element's copy: the usual sizes as one move, the others through memcpy. */
static CORO__SCHED_INLINE void coro__elem_copy(void *to, const void *from, size_t n) {
    switch (n) {
    case 4: memcpy(to, from, 4); break;
    case 8: memcpy(to, from, 8); break;
    case 16: memcpy(to, from, 16); break;
    default: memcpy(to, from, n);
    }
}

/* Slot i of the ring after the head (i <= cap, head < cap: one subtraction, no division). */
static inline unsigned char *coro__chan_slot(coro_chan_t *ch, size_t i) {
    size_t k = ch->head + i;
    if (k >= ch->cap) k -= ch->cap;
    return ch->buf + k * ch->elem;
}

/* What an operation that does not wait found (coro__chan_offer, coro__chan_accept). */
enum { CORO__CH_DONE, CORO__CH_WAIT, CORO__CH_CLOSED };

/* Offer elem to ch without waiting (ch locked by the caller): to the longest waiting receiver
   (then *wake is set to it: complete it with coro__chan_done once ch is unlocked), else into
   the buffer if it has room: CORO__CH_DONE. CORO__CH_WAIT if a sender would have to wait,
   CORO__CH_CLOSED if ch is closed. The one place a send's moves are written: coro_chan_send,
   a select's send and a broadcast's offer all come here. */
static CORO__SCHED_INLINE int coro__chan_offer(coro__sched *s, coro_chan_t *ch, const void *elem,
                                               coro__task **wake) {
    coro__task *r;
    if (ch->closed) return CORO__CH_CLOSED;
    if ((r = coro__chan_take(s, &ch->receivers)) != NULL) { /* the buffer is empty */
        coro__elem_copy(r->elem, elem, ch->elem);
        *wake = r;
        return CORO__CH_DONE;
    }
    if (ch->len == ch->cap) return CORO__CH_WAIT;
    coro__elem_copy(coro__chan_slot(ch, ch->len), elem, ch->elem);
    ch->len++;
    return CORO__CH_DONE;
}

/* Take an element of ch into elem without waiting (ch locked by the caller): the buffer's
   oldest (and the longest waiting sender's element moves in behind the others), else the
   longest waiting sender's: CORO__CH_DONE, with *wake set to a sender to complete once ch is
   unlocked. CORO__CH_WAIT if a receiver would have to wait, CORO__CH_CLOSED if ch is closed
   and empty. coro_chan_recv and a select's receive come here. */
static CORO__SCHED_INLINE int coro__chan_accept(coro__sched *s, coro_chan_t *ch, void *elem,
                                                coro__task **wake) {
    coro__task *w;
    if (ch->len) {
        coro__elem_copy(elem, ch->buf + ch->head * ch->elem, ch->elem);
        if (++ch->head == ch->cap) ch->head = 0;
        ch->len--;
        if ((w = coro__chan_take(s, &ch->senders)) != NULL) { /* the longest sender moves in */
            coro__elem_copy(coro__chan_slot(ch, ch->len), w->elem, ch->elem);
            ch->len++;
            *wake = w;
        }
        return CORO__CH_DONE;
    }
    if ((w = coro__chan_take(s, &ch->senders)) != NULL) { /* rendezvous */
        coro__elem_copy(elem, w->elem, ch->elem);
        *wake = w;
        return CORO__CH_DONE;
    }
    return ch->closed ? CORO__CH_CLOSED : CORO__CH_WAIT;
}

/* t (of s) gives up its channel wait. 0 if it left the queue, 1 if another thread completed
   the operation first (its wake comes through the inbox). */
static int coro__chan_cancel(coro__sched *s, coro__task *t) {
    coro_chan_t *ch = t->xch;
    int expect = CORO__X_WAITING;
    if (!__atomic_compare_exchange_n(&t->xstate, &expect, CORO__X_CANCELLED, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return 1;
    if (t->sel) {
        coro__sel_finish(t);
        t->sel = NULL;
    } else {
        coro__spin_lock(&ch->lock);
        coro__cq_remove(t->xq, t);
        coro__spin_unlock(&ch->lock);
    }
    t->xch = NULL;
    s->nchanwait--;
    return 0;
}

/* Queue t on q of ch (locked by the caller; unlocked here) and wait for a completer. */
static CORO__SCHED_INLINE int coro__chan_wait(coro__sched *s, coro__task *t, coro_chan_t *ch,
                                              coro__waitq *q, void *elem, int kind,
                                              int64_t deadline) {
    int r;
    t->wait = kind;
    t->elem = elem;
    t->xch = ch;
    t->xq = q;
    t->h = s->h;
    __atomic_store_n(&t->xstate, CORO__X_WAITING, __ATOMIC_RELAXED);
    coro__cq_push(q, t);
    s->nchanwait++;
    coro__spin_unlock(&ch->lock);
    if ((r = coro__block(s, t, deadline)) != 0) {
        errno = r;
        return -1;
    }
    return 0;
}

/* A plain thread waits as a stand-in task w on its stack, woken through a condvar:
   tw_init before queueing w, tw_wait after (it destroys tw). */
static void coro__tw_init(coro__task *w, coro__tw *tw) {
    memset(w, 0, sizeof *w);
    tw->done = 0;
    pthread_mutex_init(&tw->m, NULL);
    coro__os_cond_init(&tw->c);
    w->tw = tw;
    w->xstate = CORO__X_WAITING;
}
static int coro__tw_wait(coro__task *w, int64_t deadline) {
    coro__tw *tw = w->tw;
    int r = 0, expect;
    pthread_mutex_lock(&tw->m);
    while (!tw->done) {
        struct timespec ts;
        if (deadline < 0) {
            pthread_cond_wait(&tw->c, &tw->m);
            continue;
        }
        coro__os_abstime(deadline, &ts);
        if (pthread_cond_timedwait(&tw->c, &tw->m, &ts) != ETIMEDOUT || tw->done) continue;
        expect = CORO__X_WAITING;
        if (__atomic_compare_exchange_n(&w->xstate, &expect, CORO__X_CANCELLED, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            if (w->sel) {
                coro__sel_finish(w);
            } else {
                coro__spin_lock(&w->xch->lock);
                coro__cq_remove(w->xq, w);
                coro__spin_unlock(&w->xch->lock);
            }
            r = ETIMEDOUT;
            break;
        }
        deadline = -1; /* completed meanwhile: its signal is coming */
    }
    if (!r) r = w->xreason;
    pthread_mutex_unlock(&tw->m);
    pthread_cond_destroy(&tw->c);
    pthread_mutex_destroy(&tw->m);
    return r;
}

/* A plain thread waits on q of ch (locked by the caller; unlocked here). */
static int coro__chan_thread_wait(coro_chan_t *ch, coro__waitq *q, void *elem, int kind,
                                  int64_t deadline) {
    coro__task w;
    coro__tw tw;
    int r;
    coro__tw_init(&w, &tw);
    w.wait = kind;
    w.elem = elem;
    w.xch = ch;
    w.xq = q;
    coro__cq_push(q, &w);
    coro__spin_unlock(&ch->lock);
    if ((r = coro__tw_wait(&w, deadline)) != 0) {
        errno = r;
        return -1;
    }
    return 0;
}

/* Coroutine t must wait on q (channel locked by the caller; unlocked here). */
static CORO__SCHED_INLINE int coro__chan_block(coro__sched *s, coro__task *t, coro_chan_t *ch,
                                               coro__waitq *q, void *elem, int kind,
                                               int64_t deadline) {
    if (coro__raise_pending(t)) {
        coro__spin_unlock(&ch->lock);
        return -1;
    }
    if (coro__deadline_passed(deadline)) {
        coro__spin_unlock(&ch->lock);
        errno = ETIMEDOUT;
        return -1;
    }
    return coro__chan_wait(s, t, ch, q, elem, kind, deadline);
}

/* A plain thread waits on q (channel locked by the caller; unlocked here). */
static int coro__chan_tblock(coro_chan_t *ch, coro__waitq *q, void *elem, int kind,
                             int64_t deadline) {
    if (coro__deadline_passed(deadline)) {
        coro__spin_unlock(&ch->lock);
        errno = ETIMEDOUT;
        return -1;
    }
    return coro__chan_thread_wait(ch, q, elem, kind, deadline);
}

CORO_API coro_chan_t *coro_chan_new(size_t elem_size, size_t capacity) {
    coro_chan_t *ch;
    size_t bytes;
    if (!elem_size || elem_size > ((size_t)1 << 30) ||
        (capacity && capacity > ((size_t)-1 - sizeof *ch) / elem_size)) {
        CORO__MISUSE("coro_chan_new", EINVAL, "element size 0 or too large");
        return NULL;
    }
    bytes = sizeof *ch + capacity * elem_size;
    if (!(ch = (coro_chan_t *)CORO_MALLOC(bytes))) {
        errno = ENOMEM;
        return NULL;
    }
    memset(ch, 0, sizeof *ch);
    ch->elem = elem_size;
    ch->cap = capacity;
    ch->buf = (unsigned char *)(ch + 1);
    return ch;
}

/* Before a wait: a coroutine needs its scheduler's handle (completers on other threads deliver
   to it); a plain thread with coroutines of its own may not block. 0 to go on waiting, 1 to
   wait as a plain thread, -1 on error. Called unlocked. */
static int coro__chan_prepare(coro__sched *s) {
    if (coro__me(s)) return s->h || coro__handle(s) ? 0 : -1;
    if (coro_current() || s->count) {
        errno = EPERM;
        return -1;
    }
    return 1;
}

CORO_API int coro_chan_send(coro_chan_t *ch, const void *elem, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *w, *t;
    int how = 0, r;
    if (!ch || !elem) {
        CORO__MISUSE("coro_chan_send", EINVAL, "NULL channel or element");
        return -1;
    }
    for (;;) {
        w = NULL;
        coro__spin_lock(&ch->lock);
        if ((r = coro__chan_offer(s, ch, elem, &w)) != CORO__CH_WAIT) {
            coro__spin_unlock(&ch->lock);
            if (w) coro__chan_done(s, w, 0);
            if (r == CORO__CH_DONE) return 0;
            errno = EPIPE;
            return -1;
        }
        if (how == 1)
            return coro__chan_tblock(ch, &ch->senders, (void *)(uintptr_t)elem, CORO__W_CHAN_SEND,
                                     deadline);
        if (s->h && (t = coro__me(s)) != NULL)
            return coro__chan_block(s, t, ch, &ch->senders, (void *)(uintptr_t)elem,
                                    CORO__W_CHAN_SEND, deadline);
        coro__spin_unlock(&ch->lock);
        if ((how = coro__chan_prepare(s)) < 0) return -1;
    }
}

CORO_API int coro_chan_recv(coro_chan_t *ch, void *elem, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *w, *t;
    int how = 0, r;
    if (!ch || !elem) {
        CORO__MISUSE("coro_chan_recv", EINVAL, "NULL channel or element");
        return -1;
    }
    for (;;) {
        w = NULL;
        coro__spin_lock(&ch->lock);
        if ((r = coro__chan_accept(s, ch, elem, &w)) != CORO__CH_WAIT) {
            coro__spin_unlock(&ch->lock);
            if (w) coro__chan_done(s, w, 0);
            if (r == CORO__CH_DONE) return 0;
            errno = EPIPE;
            return -1;
        }
        if (how == 1) return coro__chan_tblock(ch, &ch->receivers, elem, CORO__W_CHAN_RECV, deadline);
        if (s->h && (t = coro__me(s)) != NULL)
            return coro__chan_block(s, t, ch, &ch->receivers, elem, CORO__W_CHAN_RECV, deadline);
        coro__spin_unlock(&ch->lock);
        if ((how = coro__chan_prepare(s)) < 0) return -1;
    }
}

CORO_API void coro_chan_close(coro_chan_t *ch) {
    coro__sched *s = coro__s();
    coro__task *t, *list = NULL;
    if (!ch) return;
    coro__spin_lock(&ch->lock);
    ch->closed = 1;
    while ((t = coro__chan_take(s, &ch->receivers)) != NULL || (t = coro__chan_take(s, &ch->senders)) != NULL) {
        t->xnext = list;
        list = t;
    }
    coro__spin_unlock(&ch->lock);
    while ((t = list) != NULL) {
        list = t->xnext;
        coro__chan_done(s, t, EPIPE);
    }
}

CORO_API void coro_chan_free(coro_chan_t *ch) {
    if (!ch) return;
    coro_chan_close(ch);
    for (;;) { /* waiters of other threads that were giving up leave the queues */
        int empty;
        coro__spin_lock(&ch->lock);
        empty = !ch->senders.head && !ch->receivers.head;
        coro__spin_unlock(&ch->lock);
        if (empty) break;
        sched_yield();
    }
    CORO_FREE(ch);
}

CORO_API size_t coro_chan_len(const coro_chan_t *ch) {
    coro_chan_t *c = (coro_chan_t *)(uintptr_t)ch;
    size_t n;
    if (!c) return 0;
    coro__spin_lock(&c->lock);
    n = c->len;
    coro__spin_unlock(&c->lock);
    return n;
}

/* Select's fair pick: the ops are tried in a random order (a shuffle, as a random starting
   point would favour an op that follows one that is not ready), from a xorshift per thread. */
static __thread uint32_t coro__sel_seed;
static void coro__sel_shuffle(int *order, int n) {
    uint32_t x = coro__sel_seed;
    int i;
    if (!x) x = (uint32_t)((uintptr_t)&coro__sel_seed ^ (uintptr_t)coro_now()) | 1u;
    for (i = 0; i < n; i++) order[i] = i;
    for (i = n - 1; i > 0; i--) {
        int j, tmp;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        j = (int)(x % (uint32_t)(i + 1));
        tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    coro__sel_seed = x;
}

/* Try op with its channel locked: 1 done (*wake: a waiter to complete once unlocked), 0 it would
   have to wait, -1 the channel is closed. The same moves as coro_chan_send and coro_chan_recv. */
static int coro__sel_try(coro__sched *s, const coro_chan_op *op, coro__task **wake) {
    int r = op->op == CORO_CHAN_SEND ? coro__chan_offer(s, op->ch, op->elem, wake)
                                     : coro__chan_accept(s, op->ch, op->elem, wake);
    return r == CORO__CH_DONE ? 1 : r == CORO__CH_WAIT ? 0 : -1;
}

/* Every channel of the select locked at once, in address order (locks[0..m), no repeats), so
   that no op can become ready between the scan and the queueing of the stand-ins. Every other
   path holds one channel lock at a time. */
static void coro__sel_lock(coro_chan_t **locks, int m) {
    int i;
    for (i = 0; i < m; i++) coro__spin_lock(&locks[i]->lock);
}
static void coro__sel_unlock(coro_chan_t **locks, int m) {
    int i;
    for (i = m - 1; i >= 0; i--) coro__spin_unlock(&locks[i]->lock);
}

#define CORO__SEL_INLINE 4 /* ops whose stand-ins fit in select's own frame */

CORO_API int coro_chan_select(coro_chan_op *ops, int n, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task inl_nodes[CORO__SEL_INLINE], *nodes = inl_nodes, *t = NULL, *o, *w;
    coro_chan_t *inl_locks[CORO__SEL_INLINE], **locks = inl_locks;
    int inl_order[CORO__SEL_INLINE], *order = inl_order;
    coro__task stand_in; /* a plain thread's owner */
    coro__tw tw;
    coro__sel inl_sel, *sel = &inl_sel;
    void *mem = NULL;
    int i, j, k = 0, m = 0, live = 0, how = 0, r, result = -1, err = 0;
    if (!ops || n < 1) {
        CORO__MISUSE("coro_chan_select", EINVAL, "NULL ops or n < 1");
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (ops[i].op == CORO_CHAN_CLOSED) continue;
        if (!ops[i].ch || !ops[i].elem ||
            (ops[i].op != CORO_CHAN_SEND && ops[i].op != CORO_CHAN_RECV)) {
            CORO__MISUSE("coro_chan_select", EINVAL, "an op with a NULL channel or element, or no op");
            return -1;
        }
        live++;
    }
    if (!live) {
        errno = EPIPE;
        return -1;
    }
    if (n > CORO__SEL_INLINE || CORO__ASAN) {
        /* (Under ASan the stand-ins and their record never live in this frame: with
           detect_stack_use_after_return, addressable locals sit on ASan's fake stack, which
           ASan frees when a killed coroutine dies, while the thread that completed its select
           may still be taking the stand-ins out of their queues. The heap block stays until
           the task is freed, which waits for that thread's wake.) */
        size_t each = sizeof(coro__task) + sizeof(coro_chan_t *) + sizeof(int);
        if ((size_t)n > ((size_t)-1 - sizeof(coro__sel)) / each ||
            !(mem = CORO_MALLOC(sizeof(coro__sel) + (size_t)n * each))) {
            errno = ENOMEM;
            return -1;
        }
        nodes = (coro__task *)mem;
        sel = (coro__sel *)(void *)(nodes + n);
        locks = (coro_chan_t **)(void *)(sel + 1);
        order = (int *)(void *)(locks + n);
    }
    for (i = 0; i < n; i++) { /* the channels, sorted by address, each once */
        coro_chan_t *ch = ops[i].ch;
        if (ops[i].op == CORO_CHAN_CLOSED) continue;
        for (j = m; j > 0 && (uintptr_t)locks[j - 1] > (uintptr_t)ch; j--) locks[j] = locks[j - 1];
        if (j > 0 && locks[j - 1] == ch) {
            for (; j < m; j++) locks[j] = locks[j + 1];
            continue;
        }
        locks[j] = ch;
        m++;
    }
    for (;;) {
        coro__sel_shuffle(order, n);
        coro__sel_lock(locks, m);
        for (i = 0, r = 0; i < n && !r; i++) {
            k = order[i];
            w = NULL;
            if (ops[k].op != CORO_CHAN_CLOSED) r = coro__sel_try(s, &ops[k], &w);
        }
        if (r) {
            coro__sel_unlock(locks, m);
            if (w) coro__chan_done(s, w, 0);
            if (r > 0) result = k;
            else err = EPIPE;
            break;
        }
        if (coro__deadline_passed(deadline)) {
            coro__sel_unlock(locks, m);
            err = ETIMEDOUT;
            break;
        }
        if (how == 0 && !(s->h && (t = coro__me(s)) != NULL)) {
            coro__sel_unlock(locks, m);
            if ((how = coro__chan_prepare(s)) < 0) {
                err = errno;
                break;
            }
            continue;
        }
        if (t && coro__raise_pending(t)) {
            coro__sel_unlock(locks, m);
            err = errno;
            break;
        }
        if (how == 1) coro__tw_init(o = &stand_in, &tw);
        else o = t;
        sel->nodes = nodes;
        sel->n = n;
        sel->win = -1;
        for (i = 0; i < n; i++) {
            coro__task *nd = &nodes[i];
            memset(nd, 0, sizeof *nd);
            if (ops[i].op == CORO_CHAN_CLOSED) continue;
            nd->xowner = o;
            nd->xidx = i;
            nd->elem = ops[i].elem;
            nd->xch = ops[i].ch;
            nd->xq = ops[i].op == CORO_CHAN_SEND ? &nd->xch->senders : &nd->xch->receivers;
            coro__cq_push(nd->xq, nd);
        }
        o->wait = CORO__W_SELECT;
        o->xch = locks[0];
        o->xq = NULL;
        o->sel = sel;
        __atomic_store_n(&o->xstate, CORO__X_WAITING, __ATOMIC_RELAXED);
        if (how == 1) {
            coro__sel_unlock(locks, m);
            err = coro__tw_wait(o, deadline);
        } else {
            o->h = s->h;
            o->selmem = mem; /* freed with the task if it is killed meanwhile */
            s->nchanwait++;
            coro__sel_unlock(locks, m);
            err = coro__block(s, t, deadline);
            t->selmem = NULL;
        }
        if (!err) result = sel->win;
        else if (err == EPIPE && sel->win >= 0) k = sel->win; /* its channel was closed */
        else k = -1; /* gave up (deadline, raise): nothing completed */
        break;
    }
    if (mem) CORO_FREE(mem);
    if (result >= 0) return result;
    if (err == EPIPE && k >= 0) ops[k].op = CORO_CHAN_CLOSED; /* says which */
    errno = err;
    return -1;
}

/* >>bcast: a broadcast is a list of subscriptions, each with a channel of its own. Publishers
   walk the list (its lock is never held across a channel operation); a subscription that is
   unsubscribed while a publisher stands on it is freed by the last one to leave it. A dropped
   subscriber's channel is closed in the same critical section that found it full, so what it
   received is exactly what was queued before the drop. */
struct coro_bcast_sub {
    coro_bcast_t *b;
    coro_chan_t *ch;
    int refs;    /* publishers standing on it (b's lock) */
    int gone;    /* unsubscribed (b's lock) */
    int dropped; /* atomic: fell behind */
    struct coro_bcast_sub *prev, *next;
};
struct coro_bcast {
    int lock;  /* the list, refs, closed, users */
    int closed;
    int users; /* the creator (until coro_bcast_free) and each subscription */
    size_t elem, cap;
    coro_bcast_sub_t *head, *tail;
};

/* Offer elem to sub's channel without waiting: 0 queued (or handed to a receiver), -1 the
   channel is closed, 1 full; with drop, a full channel is closed in the same critical section
   (2), so that the subscriber has received exactly what was queued before. */
static int coro__bcast_offer(coro__sched *s, coro_bcast_sub_t *sub, const void *elem, int drop) {
    coro_chan_t *ch = sub->ch;
    coro__task *w = NULL;
    int r;
    coro__spin_lock(&ch->lock);
    if ((r = coro__chan_offer(s, ch, elem, &w)) != CORO__CH_WAIT) {
        coro__spin_unlock(&ch->lock);
        if (w) coro__chan_done(s, w, 0);
        return r == CORO__CH_DONE ? 0 : -1;
    }
    if (!drop) {
        coro__spin_unlock(&ch->lock);
        return 1;
    }
    __atomic_store_n(&sub->dropped, 1, __ATOMIC_RELAXED);
    ch->closed = 1; /* nothing more gets in; the waiters are woken by the close below */
    coro__spin_unlock(&ch->lock);
    coro_chan_close(ch);
    return 2;
}

/* One subscriber's share of a publish: 0 queued, else not (closed, or dropped now). *err is
   set when the publisher was raised into (or may not wait): it waits for nobody after that. */
static int coro__bcast_give(coro__sched *s, coro_bcast_sub_t *sub, const void *elem,
                            int64_t deadline, int *err) {
    int r = coro__bcast_offer(s, sub, elem, *err);
    if (r != 1) return r;
    if (coro__deadline_passed(deadline)) return coro__bcast_offer(s, sub, elem, 1);
    if (coro_chan_send(sub->ch, elem, deadline) == 0) return 0;
    if (errno == EPIPE) return -1; /* unsubscribed or closed meanwhile */
    if (errno != ETIMEDOUT) *err = errno;
    return coro__bcast_offer(s, sub, elem, 1); /* room may have come just now; else drop */
}

static void coro__bcast_release(coro_bcast_t *b) { /* b's lock held; frees b at the last user */
    int last = --b->users == 0;
    coro__spin_unlock(&b->lock);
    if (last) CORO_FREE(b);
}

static void coro__bcast_sub_free(coro_bcast_sub_t *sub) { /* unlinked already */
    coro_bcast_t *b = sub->b;
    coro_chan_free(sub->ch);
    CORO_FREE(sub);
    coro__spin_lock(&b->lock);
    coro__bcast_release(b);
}

static void coro__bcast_unlink(coro_bcast_t *b, coro_bcast_sub_t *sub) {
    if (sub->prev) sub->prev->next = sub->next;
    else b->head = sub->next;
    if (sub->next) sub->next->prev = sub->prev;
    else b->tail = sub->prev;
}

CORO_API coro_bcast_t *coro_bcast_new(size_t elem_size, size_t capacity) {
    coro_bcast_t *b;
    if (!elem_size || elem_size > ((size_t)1 << 30) || !capacity ||
        capacity > ((size_t)-1 - sizeof(coro_chan_t)) / elem_size) {
        CORO__MISUSE("coro_bcast_new", EINVAL, "element size 0 or too large, or capacity 0");
        return NULL;
    }
    if (!(b = (coro_bcast_t *)CORO_MALLOC(sizeof *b))) {
        errno = ENOMEM;
        return NULL;
    }
    memset(b, 0, sizeof *b);
    b->users = 1;
    b->elem = elem_size;
    b->cap = capacity;
    return b;
}

CORO_API coro_bcast_sub_t *coro_bcast_subscribe(coro_bcast_t *b) {
    coro_bcast_sub_t *sub;
    if (!b) {
        CORO__MISUSE("coro_bcast_subscribe", EINVAL, "NULL broadcast");
        return NULL;
    }
    if (!(sub = (coro_bcast_sub_t *)CORO_MALLOC(sizeof *sub))) {
        errno = ENOMEM;
        return NULL;
    }
    memset(sub, 0, sizeof *sub);
    if (!(sub->ch = coro_chan_new(b->elem, b->cap))) {
        CORO_FREE(sub);
        errno = ENOMEM;
        return NULL;
    }
    sub->b = b;
    coro__spin_lock(&b->lock);
    if (b->closed) {
        coro__spin_unlock(&b->lock);
        coro_chan_free(sub->ch);
        CORO_FREE(sub);
        errno = EPIPE;
        return NULL;
    }
    b->users++;
    sub->prev = b->tail;
    if (b->tail) b->tail->next = sub;
    else b->head = sub;
    b->tail = sub;
    coro__spin_unlock(&b->lock);
    return sub;
}

CORO_API int coro_bcast_publish(coro_bcast_t *b, const void *elem, int64_t deadline) {
    coro__sched *s = coro__s();
    coro_bcast_sub_t *sub, *next;
    coro__task *t;
    int reached = 0, err = 0;
    if (!b || !elem) {
        CORO__MISUSE("coro_bcast_publish", EINVAL, "NULL broadcast or element");
        return -1;
    }
    coro__spin_lock(&b->lock);
    if (b->closed) {
        coro__spin_unlock(&b->lock);
        errno = EPIPE;
        return -1;
    }
    for (sub = b->head; sub; sub = next) {
        if (!sub->gone) {
            sub->refs++;
            coro__spin_unlock(&b->lock);
            if (coro__bcast_give(s, sub, elem, deadline, &err) == 0) reached++;
            coro__spin_lock(&b->lock);
            sub->refs--;
        }
        next = sub->next;
        if (sub->gone && !sub->refs) {
            coro__bcast_unlink(b, sub);
            coro__spin_unlock(&b->lock);
            coro__bcast_sub_free(sub);
            coro__spin_lock(&b->lock);
        }
    }
    coro__spin_unlock(&b->lock);
    if (err && err != EPERM && err != ENOMEM && (t = coro__me(s)) != NULL)
        t->pending_raise = err; /* the publish completed: the next blocking call fails */
    return reached;
}

CORO_API int coro_bcast_recv(coro_bcast_sub_t *sub, void *elem, int64_t deadline) {
    if (!sub || !elem) {
        CORO__MISUSE("coro_bcast_recv", EINVAL, "NULL subscription or element");
        return -1;
    }
    if (coro_chan_recv(sub->ch, elem, deadline) == 0) return 0;
    if (errno == EPIPE && __atomic_load_n(&sub->dropped, __ATOMIC_RELAXED)) errno = ENOBUFS;
    return -1;
}

CORO_API coro_chan_t *coro_bcast_chan(coro_bcast_sub_t *sub) {
    if (!sub) {
        CORO__MISUSE("coro_bcast_chan", EINVAL, "NULL subscription");
        return NULL;
    }
    return sub->ch;
}

CORO_API int coro_bcast_unsubscribe(coro_bcast_sub_t *sub) {
    coro_bcast_t *b;
    int now;
    if (!sub) {
        CORO__MISUSE("coro_bcast_unsubscribe", EINVAL, "NULL subscription");
        return -1;
    }
    b = sub->b;
    coro_chan_close(sub->ch); /* a publisher waiting for room in it moves on */
    coro__spin_lock(&b->lock);
    sub->gone = 1;
    if ((now = !sub->refs) != 0) coro__bcast_unlink(b, sub);
    coro__spin_unlock(&b->lock);
    if (now) coro__bcast_sub_free(sub); /* else the last publisher on it frees it */
    return 0;
}

CORO_API void coro_bcast_close(coro_bcast_t *b) {
    coro_bcast_sub_t *sub;
    if (!b) return;
    coro__spin_lock(&b->lock);
    b->closed = 1;
    for (sub = b->head; sub; sub = sub->next) coro_chan_close(sub->ch);
    coro__spin_unlock(&b->lock);
}

CORO_API void coro_bcast_free(coro_bcast_t *b) {
    if (!b) return;
    coro_bcast_close(b);
    coro__spin_lock(&b->lock);
    coro__bcast_release(b);
}

/* >>dump */
static const char *coro__wait_name(int wait) {
    switch (wait) {
    case CORO__W_YIELD: return "yield";
    case CORO__W_SLEEP: return "sleep";
    case CORO__W_FD: return "fd";
    case CORO__W_COND: return "cond";
    case CORO__W_MUTEX: return "mutex";
    case CORO__W_SEM: return "semaphore";
    case CORO__W_CHAN_SEND: return "chan send";
    case CORO__W_CHAN_RECV: return "chan recv";
    case CORO__W_JOIN: return "join";
    case CORO__W_SUSPEND: return "suspend";
    case CORO__W_SELECT: return "select";
    case CORO__W_JOB: return "offload";
    case CORO__W_SIGNAL: return "signal";
    case CORO__W_BACKOFF: return "accept backoff";
    default: return "-";
    }
}

static void coro__dump_put(char *buf, size_t cap, size_t *need, const char *line, int n) {
    if (n <= 0) return;
    if (*need < cap) {
        size_t room = cap - *need, k = (size_t)n < room ? (size_t)n : room - 1;
        memcpy(buf + *need, line, k);
        buf[*need + k] = 0;
    }
    *need += (size_t)n;
}

CORO_API size_t coro_dump(char *buf, size_t cap) {
    coro__sched *s = coro__s();
    coro__task *t;
    size_t need = 0;
    int64_t now = coro_now();
    char line[256], what[64];
    coro__dump_put(buf, cap, &need, line,
                   snprintf(line, sizeof line, "%-8s %-16s %-8s %-24s %8s %8s\n", "id", "name",
                            "state", "waits on", "stack", "used"));
    for (t = s->all; t; t = t->all_next) {
        const char *state = t->state == CORO__READY     ? "ready"
                            : t->state == CORO__RUNNING ? "running"
                            : t->state == CORO__WAITING ? "waiting"
                                                        : "done";
        if (t->state != CORO__WAITING) snprintf(what, sizeof what, "-");
        else if (t->wait == CORO__W_FD)
            snprintf(what, sizeof what, "%s fd %d",
                     t->events == CORO_READ ? "read" : t->events == CORO_WRITE ? "write" : "rw", t->fd);
        else if (t->wait == CORO__W_JOIN)
            snprintf(what, sizeof what, "join %llu", (unsigned long long)coro_id(t->join_target));
        else snprintf(what, sizeof what, "%s", coro__wait_name(t->wait));
        if (t->state == CORO__WAITING && t->heap_idx != CORO__NO_HEAP) {
            size_t l = strlen(what);
            snprintf(what + l, sizeof what - l, " (%lldms)", (long long)(t->deadline - now));
        }
        coro__dump_put(buf, cap, &need, line,
                       snprintf(line, sizeof line, "%-8llu %-16.16s %-8s %-24.24s %8zu %8ld\n",
                                (unsigned long long)coro_id(t->co), coro_name(t->co), state, what,
                                coro_stack_size(t->co), coro_stack_used(t->co)));
    }
    if (cap && need == 0) buf[0] = 0;
    return need;
}

/* >>free */
CORO_API void coro_sched_free(void) {
    coro__sched *s = coro__s();
    coro__task *t;
    if (s->running) return;
    while ((t = s->all) != NULL) {
        if (coro_status(t->co) == CORO_SUSPENDED && coro_kill(t->co) == 0 && t->state != CORO__DONE)
            coro__task_died_unstarted(t); /* never started: no cleanup of ours ran */
        if (s->all == t && t->state != CORO__DONE) break; /* cannot kill it (running?) */
    }
    while (s->jobs_pending) { /* let offloaded calls of killed tasks finish */
        coro__poller_wait(s, 100);
    }
    while (s->nchanwait) { /* channel completions from other threads still on their way */
        coro__inbox_drain(s);
        if (s->nchanwait) sched_yield();
    }
    if (s->h) coro__handle_detach(s);
    coro__reclaim(s);
    while ((t = s->kept) != NULL) {
        s->kept = t->all_next;
        coro__task_free(s, t);
    }
    coro__workers_stop(s);
    if (s->job_lock_init) {
        coro__wakeup_close(s->wake_rd, s->wake_wr);
        pthread_mutex_destroy(&s->job_lock);
        pthread_cond_destroy(&s->job_cond);
    }
    if (s->ready_init == 2) coro__poller_free(s);
    while ((t = s->free_tasks) != NULL) {
        s->free_tasks = t->all_next;
        CORO_FREE(t);
    }
    CORO_FREE(s->heap);
    CORO_FREE(s->fds);
    CORO_FREE(s->reg);
    CORO_FREE(s->evfd);
    coro__os_sched_release(s);
}

/* >>threads: coro_threads_*, a scheduler per thread serving posts until stopped */
typedef struct coro__member {
    pthread_t thread;
    coro_sched_t *h;
    int index, started;
    struct coro_threads *g;
} coro__member;

struct coro_threads {
    int n;
    void (*init)(int index, void *arg);
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int ready, failed;
    coro__member m[1]; /* n of them */
};

static void *coro__member_main(void *arg) {
    coro__member *m = (coro__member *)arg;
    struct coro_threads *g = m->g;
    coro_sched_t *h = coro_sched_self();
    if (h) coro_sched_ref(h); /* the group's: valid until coro_threads_join */
    pthread_mutex_lock(&g->lock);
    m->h = h;
    if (!h) g->failed = 1;
    g->ready++;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    if (!h) return NULL;
    if (g->init) g->init(m->index, g->arg);
    (void)coro_serve();
    coro_sched_free();
    return NULL;
}

CORO_API coro_threads_t *coro_threads_start(int n, void (*init)(int index, void *arg), void *arg) {
    struct coro_threads *g;
    int i, failed;
    if (n < 1 || n > 1024) {
        errno = EINVAL;
        return NULL;
    }
    if (!(g = (struct coro_threads *)CORO_MALLOC(sizeof *g + (size_t)(n - 1) * sizeof g->m[0]))) {
        errno = ENOMEM;
        return NULL;
    }
    memset(g, 0, sizeof *g + (size_t)(n - 1) * sizeof g->m[0]);
    g->n = n;
    g->init = init;
    g->arg = arg;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    for (i = 0; i < n; i++) {
        g->m[i].g = g;
        g->m[i].index = i;
        if (pthread_create(&g->m[i].thread, NULL, coro__member_main, &g->m[i]) != 0) break;
        g->m[i].started = 1;
    }
    pthread_mutex_lock(&g->lock);
    while (g->ready < i) pthread_cond_wait(&g->cond, &g->lock);
    failed = g->failed || i < n;
    pthread_mutex_unlock(&g->lock);
    if (failed) {
        int err = i < n ? EAGAIN : ENOMEM;
        coro_threads_stop(g);
        coro_threads_join(g);
        errno = err;
        return NULL;
    }
    return g;
}

CORO_API coro_sched_t *coro_threads_sched(coro_threads_t *g, int index) {
    if (!g || index < 0 || index >= g->n) {
        errno = EINVAL;
        return NULL;
    }
    return g->m[index].h;
}

CORO_API int coro_threads_stop(coro_threads_t *g) {
    int i;
    if (!g) {
        errno = EINVAL;
        return -1;
    }
    for (i = 0; i < g->n; i++)
        if (g->m[i].h) coro_sched_stop(g->m[i].h);
    return 0;
}

CORO_API int coro_threads_join(coro_threads_t *g) {
    int i;
    if (!g) {
        errno = EINVAL;
        return -1;
    }
    for (i = 0; i < g->n; i++) {
        if (!g->m[i].started) continue;
        pthread_join(g->m[i].thread, NULL);
        coro_sched_unref(g->m[i].h);
    }
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
    CORO_FREE(g);
    return 0;
}

#endif /* CORO_SCHED_IMPLEMENTATION */
