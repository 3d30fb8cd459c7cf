/* coro_sched.h - v0.1 - an event loop for coro.h: sleep, fds with deadlines, sockets, sync,
   channels, join - MIT licence (or public domain, see coro.h)

   The optional second header. It turns coro.h's coroutines into a runtime for servers and
   clients with tens of thousands of connections on one core: an epoll (Linux) or poll() loop,
   a timer heap, non-blocking sockets whose calls block only the calling coroutine, condition
   variables, mutexes, semaphores, channels, join, blocking work moved to worker threads, and
   signals received as events. It uses only coro.h's public API. One scheduler per thread; run
   one per core for more.

USAGE
   In exactly one file, before any #include:

       #define CORO_IMPLEMENTATION         // coro.h's implementation ...
       #define CORO_SCHED_IMPLEMENTATION   // ... and this one's
       #include "coro_sched.h"             // includes coro.h itself

   Link with -pthread on systems that need it (the worker threads).

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
   deadline passes the call fails with -1 and errno ETIMEDOUT.

SPAWNED COROUTINES
   coro_spawn queues a coroutine; coro_run runs every ready one in FIFO order, then waits on
   fds and timers, until none is left. A spawned coroutine is freed by the scheduler when it
   ends (never coro_free it yourself: coro_free refuses with EBUSY). To collect its result,
   coro_join it while it runs, or mark it coro_joinable right after spawning: then it stays
   (with its stack) after its end until coro_join collects it.
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
   number may wait forever. Writes to sockets use MSG_NOSIGNAL, and the scheduler ignores
   SIGPIPE (if it was SIG_DFL) so that a pipe whose reader went away gives EPIPE, not death;
   define CORO_SCHED_KEEP_SIGPIPE to leave SIGPIPE alone.
   Syscalls: with epoll each fd is registered once, edge-triggered, when it first has to wait.
   The scheduler remembers what the kernel said (a short read means drained), so in
   request/response traffic a round trip costs one read, one write, and a share of one
   epoll_wait, with no read that fails with EAGAIN. A coroutine whose I/O never has to wait is
   sent to the back of the ready queue every CORO_SCHED_IO_BUDGET calls, so no connection can
   starve the others.

BACKENDS
   epoll on Linux (default), poll() elsewhere or with CORO_SCHED_POLL. poll() costs O(all fds
   waited on) per wakeup: with 10 busy and 9,990 idle connections a poll() server manages about
   1% of the round trips per second of an epoll server (bench/echo, hand-written servers).
   coro_sched_backend() names the one compiled in.

THE API (details at each declaration)
   loop:      coro_now coro_spawn coro_run coro_stop coro_sched_yield coro_suspend coro_wake
              coro_sleep coro_sleep_until coro_wait_fd coro_join coro_joinable coro_count
              coro_dump coro_find coro_sched_backend coro_sched_free
   fds:       coro_socket coro_accept coro_connect coro_read coro_read_full coro_write
              coro_writev coro_sendfile coro_close coro_fd_forget coro_pipe coro_tcp_listen
              coro_tcp_listen_opt coro_tcp_connect coro_tcp_port
   sync:      coro_cond_* coro_mutex_* coro_sem_* coro_chan_*
   off-loop:  coro_offload coro_signal_wait coro_signal_watch

CONFIGURATION (define before the implementation; defaults in brackets)
   CORO_SCHED_POLL          use poll() even where epoll exists
   CORO_SCHED_IO_BUDGET     I/O calls without waiting before a forced yield [64]
   CORO_SCHED_WORKERS       worker threads for coro_offload and name resolution [4]
   CORO_SCHED_KEEP_SIGPIPE  do not set SIGPIPE to SIG_IGN
   coro.h's macros (CORO_MALLOC/CORO_FREE, CORO_STATIC, ...) apply here too.
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
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { CORO_READ = 1, CORO_WRITE = 2 };

/* ---- the loop ------------------------------------------------------------------------------ */

/* coro_now: milliseconds on CLOCK_MONOTONIC; the clock of every deadline. */
CORO_API int64_t coro_now(void);

/* coro_spawn: create a coroutine running fn(arg) and queue it at the back of the ready queue;
   it runs when coro_run gets to it. Returns it, or NULL with errno EINVAL (fn NULL, absurd
   stack size) or ENOMEM. stack_size 0 = coro.h's default. */
CORO_API coro_t *coro_spawn(coro_fn fn, void *arg, size_t stack_size);

/* coro_run: the event loop. Runs ready coroutines, waits on fds and timers, and returns 0 when
   no spawned coroutine is left or after coro_stop(). -1 with errno: EBUSY if called from a
   spawned coroutine or while a loop already runs on this thread; EDEADLK if every coroutine left
   waits for something only another coroutine could do (a cond, mutex, channel, join, suspend)
   and no fd, timer or worker can ever wake one (they stay blocked; coro_run may be called
   again). */
CORO_API int coro_run(void);

/* coro_stop: make coro_run return 0 once the coroutines that are ready now have run. */
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
   thread) or EBUSY (a wake is already pending). */
CORO_API int coro_wake(coro_t *co, void *value);

/* coro_sleep: sleep ms milliseconds (0: yield); coro_sleep_until: until coro_now() >= deadline.
   0, or -1 with errno EPERM outside a spawned coroutine, EINVAL for ms < 0, or err if raised. */
CORO_API int coro_sleep(int64_t ms);
CORO_API int coro_sleep_until(int64_t deadline);

/* coro_wait_fd: wait until fd is ready for events (CORO_READ | CORO_WRITE); returns the events
   that are ready (an error or hangup counts as both, so the next call reports it). -1 with
   errno: EINVAL (bad events or fd < 0), EBADF (fd closed by coro_close meanwhile or not open),
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
   coro_spawn). 0, or -1 with errno ESRCH. */
CORO_API int coro_joinable(coro_t *co);

/* coro_count: spawned coroutines that have not ended (on this thread). */
CORO_API size_t coro_count(void);

/* coro_dump: write a table of every spawned coroutine (id, name, state, what it waits on,
   stack size and high-water mark) into buf like snprintf: returns the length the whole table
   needs, writes at most cap bytes including the terminating NUL. */
CORO_API size_t coro_dump(char *buf, size_t cap);

/* coro_find: the live spawned coroutine with this coro_id, or NULL. */
CORO_API coro_t *coro_find(uint64_t id);

/* coro_sched_backend: "epoll" or "poll". */
CORO_API const char *coro_sched_backend(void);

/* coro_sched_free: release this thread's scheduler (poller, fd table, worker threads, pooled
   records). Coroutines still alive are killed first. Also done when the thread exits. */
CORO_API void coro_sched_free(void);

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
   remote files, read them with coro_offload instead. */
CORO_API ssize_t coro_sendfile(int out_fd, int in_fd, off_t *offset, size_t count, int64_t deadline);

/* coro_close: close fd; coroutines waiting on it wake with -1, errno EBADF. Returns close's
   result. coro_fd_forget: the same without closing: the scheduler forgets fd (it stays open
   and non-blocking), for fds you close yourself. */
CORO_API int coro_close(int fd);
CORO_API void coro_fd_forget(int fd);

/* coro_pipe: pipe2(2), both ends non-blocking and close-on-exec. */
CORO_API int coro_pipe(int fds[2]);

/* coro_tcp_listen: a listening TCP socket bound to host:port (host NULL = all IPv4 interfaces;
   port 0 = any free port, see coro_tcp_port), SO_REUSEADDR, non-blocking. Returns the fd, or
   -1 with errno as socket/bind/listen or EINVAL (bad host). A host that is a name is resolved
   on a worker thread when called from a spawned coroutine. */
CORO_API int coro_tcp_listen(const char *host, int port, int backlog);

/* coro_tcp_listen_opt: coro_tcp_listen with option flags, 0 or a bitwise or of:
     CORO_TCP_REUSEPORT  SO_REUSEPORT: several sockets (one per thread, each with its own
                         scheduler) may listen on the same host:port and the kernel spreads
                         new connections over them (Linux 3.9+; ENOPROTOOPT where missing)
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
   raised (fn still runs to its end on the worker; the call returns only then, so memory fn uses
   stays valid). If the caller is killed, fn also runs to its end and the caller's stack is kept
   until then. (Under ASan with detect_stack_use_after_return=1, addressable locals live on
   ASan's fake stack instead, which ASan frees when the coroutine dies: if the caller may be
   killed, give fn heap memory.) */
CORO_API int coro_offload(void *(*fn)(void *), void *arg, void **result);

/* coro_signal_wait: wait until one of the signals in set is delivered to the process and return
   its number. The first call installs a handler for each signal in set (so their default
   action, such as terminating on SIGINT, no longer happens) that records the signal and wakes
   the loop through a pipe. -1 with errno ETIMEDOUT, EINVAL (empty set or SIGKILL/SIGSTOP),
   EPERM, or err if raised. Meant for one waiter per process (typically a shutdown coroutine). */
CORO_API int coro_signal_wait(const sigset_t *set, int64_t deadline);

/* coro_signal_watch: install those handlers now, from anywhere (main before coro_run, say), so
   that a signal arriving before the waiting coroutine first runs is recorded, not fatal. 0, or
   -1 with errno EINVAL (empty set, SIGKILL, SIGSTOP) or as pipe2/sigaction. */
CORO_API int coro_signal_watch(const sigset_t *set);

/* ---- synchronisation (coroutines of one thread; no allocation; zero-filled = initialised) -- */
/* A NULL object makes the int-returning calls fail with EINVAL and the void ones do nothing. */
struct coro__task;
typedef struct coro__waitq {
    struct coro__task *head, *tail;
} coro__waitq;

/* Condition variable. coro_cond_wait parks until signalled (no spurious wakeups): 0, or -1 with
   errno ETIMEDOUT, EPERM, or err if raised. signal wakes the longest waiter, broadcast all. */
typedef struct coro_cond {
    coro__waitq waiters;
} coro_cond_t;
#define CORO_COND_INIT {{NULL, NULL}}
CORO_API void coro_cond_init(coro_cond_t *c);
CORO_API int coro_cond_wait(coro_cond_t *c, int64_t deadline);
CORO_API void coro_cond_signal(coro_cond_t *c);
CORO_API void coro_cond_broadcast(coro_cond_t *c);

/* Mutex, FIFO: unlock hands the lock to the longest waiter. lock: 0, or -1 with errno
   ETIMEDOUT, EDEADLK (the caller holds it), EPERM (not a spawned coroutine), or err if raised.
   unlock: 0, or -1 with errno EPERM if the caller does not hold it. A coroutine killed while
   holding a mutex keeps it locked: register coro_defer(unlock) if that can happen. */
typedef struct coro_mutex {
    struct coro__task *owner;
    coro__waitq waiters;
} coro_mutex_t;
#define CORO_MUTEX_INIT {NULL, {NULL, NULL}}
CORO_API void coro_mutex_init(coro_mutex_t *m);
CORO_API int coro_mutex_lock(coro_mutex_t *m, int64_t deadline);
CORO_API int coro_mutex_unlock(coro_mutex_t *m);

/* Counting semaphore, FIFO. wait: 0, or -1 with errno ETIMEDOUT, EPERM, or err if raised.
   post: 0, or -1 with errno EOVERFLOW at UINT_MAX. */
typedef struct coro_sem {
    unsigned count;
    coro__waitq waiters;
} coro_sem_t;
CORO_API void coro_sem_init(coro_sem_t *s, unsigned count);
CORO_API int coro_sem_wait(coro_sem_t *s, int64_t deadline);
CORO_API int coro_sem_post(coro_sem_t *s);

/* Channel of fixed-size elements: capacity 0 is a rendezvous (send waits for a receiver),
   otherwise a FIFO buffer of capacity elements. coro_chan_new: NULL with errno EINVAL
   (elem_size 0 or too large) or ENOMEM. send/recv: 0, or -1 with errno EPIPE (closed; recv
   drains what was sent first), ETIMEDOUT, EPERM (a blocking call outside a spawned coroutine;
   main may send and receive when that need not wait), or err if raised. close wakes every
   waiter (EPIPE); free closes then frees. Elements are copied (memcpy). */
typedef struct coro_chan coro_chan_t;
CORO_API coro_chan_t *coro_chan_new(size_t elem_size, size_t capacity);
CORO_API int coro_chan_send(coro_chan_t *ch, const void *elem, int64_t deadline);
CORO_API int coro_chan_recv(coro_chan_t *ch, void *elem, int64_t deadline);
CORO_API void coro_chan_close(coro_chan_t *ch);
CORO_API void coro_chan_free(coro_chan_t *ch);
CORO_API size_t coro_chan_len(const coro_chan_t *ch); /* elements buffered now */

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
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__) && !defined(CORO_SCHED_POLL)
#include <sys/epoll.h>
#define CORO__EPOLL 1
#else
#define CORO__EPOLL 0
#endif

/* >>sendfile: one non-blocking attempt to move bytes of a file to a socket or pipe, with
   sendfile(2)'s contract (bytes sent, 0 at the file's end, -1 with errno EAGAIN when out_fd is
   full); Linux's zero-copy call, elsewhere a pread into a buffer and one write of it. */
#if defined(__linux__)
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

#if !defined(SOCK_NONBLOCK) || !defined(MSG_NOSIGNAL)
#error "coro_sched.h: the implementation needs POSIX extensions: put the #defines before any #include, or compile with -D_GNU_SOURCE"
#endif

#ifndef CORO_MALLOC
#define CORO_MALLOC(sz) malloc(sz)
#define CORO_FREE(p) free(p)
#endif
#ifndef CORO_SCHED_IO_BUDGET
#define CORO_SCHED_IO_BUDGET 64
#endif
#ifndef CORO_SCHED_WORKERS
#define CORO_SCHED_WORKERS 4
#endif
#define CORO__TASK_MAGIC 0x7461736bu /* "task" */
#define CORO__HUP 4 /* with CORO_READ/CORO_WRITE in a backend's report: the peer hung up */
#define CORO__NO_HEAP ((size_t)-1)


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
    CORO__W_BACKOFF
};

typedef struct coro__sched coro__sched;
typedef struct coro__job coro__job;

typedef struct coro__task {
    unsigned magic;
    int state, wait;
    coro_t *co;
    coro__sched *s;
    coro_fn fn;
    void *arg, *result;
    /* one link: the ready queue or a wait queue (a task is in at most one) */
    struct coro__task *next, *prev;
    coro__waitq *queue;
    /* the wait in progress */
    int woken, reason, pending_raise;
    void *value;   /* coro_wake's value, a joined result */
    void *elem;    /* a channel element to copy from or to */
    int fd, events, revents;
    int64_t deadline;
    size_t heap_idx;
    coro__waitq joiners;
    coro_t *join_target;
    int joinable, joined, has_wake, budget;
    void *wake_value;
    coro__job *job; /* an offloaded call in flight */
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
};

/* The thread's scheduler. Coroutines never change threads, so the address taken before a
   switch is still this thread's after it; every switch is an opaque call (coro.h), so values
   read through the pointer are fetched again after one. */
static __thread coro__sched coro__sched_state;
static inline coro__sched *coro__s(void) { return &coro__sched_state; }

/* >>time */
CORO_API int64_t coro_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
static int coro__reg_add(coro__sched *s, coro_t *co, coro__task *t) {
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
static void coro__reg_del(coro__sched *s, const coro_t *co) {
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

/* >>fdtable */
static void coro__sched_init(coro__sched *s);
static coro__fd *coro__fd_slot(coro__sched *s, int fd) {
    coro__sched_init(s);
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    if ((size_t)fd >= s->nfds) {
        size_t n = s->nfds ? s->nfds : 64;
        coro__fd *f;
        while (n <= (size_t)fd) n *= 2;
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
    struct stat st;
    int fl, socket = 0, stream = 0;
    if (!e || e->known) return e;
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fstat(fd, &st) != 0) return NULL; /* EBADF */
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return NULL;
    if (S_ISSOCK(st.st_mode)) {
        int type = 0;
        socklen_t len = sizeof type;
        socket = 1;
        stream = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
    } else if (S_ISFIFO(st.st_mode)) {
        stream = 1; /* a short read from a pipe means it is empty */
    }
    e = coro__fd_fresh(s, fd, socket, stream);
    if (e && S_ISREG(st.st_mode)) e->always_ready = 1;
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
   fd nobody waits on would wake every poll); each entry knows its index. */
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
    s->pfds[s->npfds].fd = fd;
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
    int r = poll(s->pfds, (nfds_t)s->npfds, timeout);
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
            s->evfd[n++] = s->pfds[i].fd;
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
#define CORO__BACKEND "poll"
#endif

/* >>core: waiting and waking */
static void coro__jobs_drain(coro__sched *s);

static void coro__sched_init(coro__sched *s) {
    if (s->ready_init) return;
    s->pfd = -1;
    s->wake_rd = s->wake_wr = -1;
#ifndef CORO_SCHED_KEEP_SIGPIPE
    {
        struct sigaction old;
        if (sigaction(SIGPIPE, NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_DFL)
            signal(SIGPIPE, SIG_IGN);
    }
#endif
    s->ready_init = 1;
}

static int coro__poller_ready(coro__sched *s) {
    if (s->ready_init == 2) return 0;
    coro__sched_init(s);
    if (coro__poller_init(s) != 0) return -1;
    s->ready_init = 2;
    return 0;
}

/* Take t out of whatever it waits on. */
static void coro__unwait(coro__sched *s, coro__task *t) {
    if (t->queue) coro__q_remove(t->queue, t);
    if (t->heap_idx != CORO__NO_HEAP) coro__heap_remove(s, t);
    if (t->wait == CORO__W_FD || t->wait == CORO__W_SIGNAL) {
        coro__fd *e = &s->fds[t->fd];
        if (e->reader == t) e->reader = NULL;
        if (e->writer == t) e->writer = NULL;
        coro__poller_update(s, t->fd, e);
        s->nfdwait--;
    }
    t->wait = CORO__W_NONE;
}

/* Wake t: it leaves what it waits on and joins the back of the ready queue; its blocking call
   will return reason (0 = done, or an errno value). */
static void coro__wake(coro__sched *s, coro__task *t, int reason) {
    coro__unwait(s, t);
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
        coro__jobs_drain(s);
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

static coro__task *coro__me(coro__sched *s) {
    coro_t *co = coro_current();
    coro__task *t;
    if (!co) return NULL;
    t = (coro__task *)coro_runtime_data(co);
    return t && t->magic == CORO__TASK_MAGIC && t->s == s && t->co == co ? t : NULL;
}

/* Every blocking call starts here: the caller must be a spawned coroutine, and a raise that
   arrived after its previous call had already completed is delivered now. */
/* A raise that arrived after t's previous call completed: deliver it now (errno, nonzero). */
static int coro__raise_pending(coro__task *t) {
    if (!t || !t->pending_raise) return 0;
    errno = t->pending_raise;
    t->pending_raise = 0;
    return 1;
}

static coro__task *coro__enter(coro__sched *s) {
    coro__task *t = coro__me(s);
    if (!t) {
        errno = EPERM;
        return NULL;
    }
    return coro__raise_pending(t) ? NULL : t;
}

static int coro__deadline_passed(int64_t deadline) { return deadline >= 0 && coro_now() >= deadline; }

/* Leave the running task t for the next one. While the loop's round has switches left and t
   was itself switched to by the loop (not resumed or raised by another coroutine), control goes
   straight to the head of the ready queue by a transfer, which puts that task where t was in
   the resumer chain, under the loop; t itself, when it is the head, just keeps running. Else,
   and when the round is spent (timers and fds wait between rounds), back to the loop. */
/* Whether the loop has anything to do between rounds besides starting the next one: when it
   does not, hand-offs need not stop at the end of the round. */
static int coro__loop_idle(const coro__sched *s) {
    return !s->nheap && !s->nfdwait && !s->jobs_pending && !s->stop;
}

static void coro__switch_out(coro__sched *s, coro__task *t) {
    coro__task *n = s->ready.head;
    if ((s->budget || coro__loop_idle(s)) && n && s->cur == t &&
        (n == t || coro_status(n->co) == CORO_SUSPENDED)) {
        coro__q_remove(&s->ready, n);
        s->nready--;
        if (s->budget) s->budget--;
        n->state = CORO__RUNNING;
        s->resumes++;
        if (n == t) return;
        s->cur = n;
        errno = 0;
        coro_transfer(n->co, NULL);
        /* t is continued (by whoever), or the transfer failed: a cleanup handler cannot switch
           away, and then n is untouched and stays first in line */
        if (errno != ECANCELED || s->cur != n || n->state != CORO__RUNNING ||
            coro_status(n->co) != CORO_SUSPENDED)
            return;
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
        return;
    }
    coro_yield(NULL);
}

/* Park t (already registered where it waits) until woken, with an optional deadline. Returns
   0 or an errno value. errno is preserved across the wait. */
static int coro__block(coro__sched *s, coro__task *t, int64_t deadline) {
    int saved = errno, err;
    t->deadline = deadline;
    if (deadline >= 0 && t->heap_idx == CORO__NO_HEAP && coro__heap_insert(s, t) != 0) {
        coro__unwait(s, t);
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
            coro__unwait(s, t);
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
        errno = EINVAL;
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
    if (t->queue == &s->ready) { /* started by coro_raise rather than by the loop */
        coro__q_remove(&s->ready, t);
        s->nready--;
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

static void coro__reclaim(coro__sched *s) {
    coro__task **pp = &s->zombies;
    while (*pp) {
        coro__task *t = *pp;
        if (t->job || coro_status(t->co) != CORO_DEAD) { /* an offloaded call still uses it */
            pp = &t->all_next;
            continue;
        }
        *pp = t->all_next;
        if (t->joinable && !t->joined) {
            t->all_next = s->kept;
            s->kept = t;
        } else {
            coro__task_free(s, t);
        }
    }
}

static void coro__resume_task(coro__sched *s, coro__task *t) {
    if (coro_status(t->co) == CORO_DEAD) { /* killed before it started */
        if (t->state != CORO__DONE) coro__task_died_unstarted(t);
        return;
    }
    t->state = CORO__RUNNING;
    s->resumes++;
    s->cur = t;
    coro_resume(t->co, NULL);
    t = s->cur; /* who came back: t may have handed its place on (coro__switch_out) */
    s->cur = NULL;
    if (t->state == CORO__RUNNING && coro_status(t->co) == CORO_SUSPENDED) {
        /* a bare coro_yield: to the back of the queue, like coro_sched_yield */
        t->state = CORO__READY;
        coro__q_push(&s->ready, t);
        s->nready++;
    }
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

CORO_API int coro_run(void) {
    coro__sched *s = coro__s();
    if (s->running || coro__me(s)) {
        errno = EBUSY;
        return -1;
    }
    if (coro__poller_ready(s) != 0) return -1;
    s->running = 1;
    s->stop = 0;
    while (s->count && !s->stop) {
        int timeout;
        coro__timers_fire(s);
        for (s->budget = s->nready; s->budget && s->ready.head;) {
            coro__task *t = coro__q_pop(&s->ready);
            s->nready--;
            s->budget--;
            coro__resume_task(s, t);
        }
        if (s->zombies) coro__reclaim(s);
        if (!s->count || s->stop) break;
        timeout = coro__loop_timeout(s);
        if (timeout < 0 && !s->nfdwait && !s->jobs_pending) {
            s->running = 0;
            errno = EDEADLK;
            return -1;
        }
        if (timeout == 0 && !s->nfdwait && !s->jobs_pending) continue; /* nothing to poll for */
        if (coro__poller_wait(s, timeout) != 0 && errno != EINTR) {
            s->running = 0;
            return -1;
        }
    }
    if (s->zombies) coro__reclaim(s);
    s->running = 0;
    s->stop = 0;
    if (!s->count && !s->jobs_pending) coro__workers_stop(s);
    return 0;
}

CORO_API void coro_stop(void) { coro__s()->stop = 1; }

CORO_API int coro_sched_yield(void) {
    coro__sched *s = coro__s();
    coro__task *t = coro__enter(s);
    int saved, err;
    if (!t) return -1;
    /* coro__block's work for a task that waits on nothing and is woken already: to the back of
       the queue, switch out, and once continued take note of a raise that came meanwhile (the
       yield itself has completed: the next blocking call fails with it) */
    saved = errno;
    t->wait = CORO__W_YIELD;
    t->state = CORO__READY;
    coro__q_push(&s->ready, t);
    s->nready++;
    coro__switch_out(s, t);
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
    coro__task *t = coro__enter(s);
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
    if (!t || t->state == CORO__DONE) {
        errno = ESRCH;
        return -1;
    }
    if (t->wait == CORO__W_SUSPEND && t->state == CORO__WAITING) {
        t->value = value;
        coro__wake(s, t, 0);
        return 0;
    }
    if (t->has_wake) {
        errno = EBUSY;
        return -1;
    }
    t->has_wake = 1;
    t->wake_value = value;
    return 0;
}

CORO_API int coro_sleep_until(int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t = coro__enter(s);
    int r;
    if (!t) return -1;
    if (deadline < 0) {
        errno = EINVAL;
        return -1;
    }
    t->wait = CORO__W_SLEEP;
    r = coro__block(s, t, deadline);
    if (r && r != ETIMEDOUT) {
        errno = r;
        return -1;
    }
    return 0;
}

CORO_API int coro_sleep(int64_t ms) {
    if (ms < 0) {
        errno = EINVAL;
        return -1;
    }
    if (ms == 0) return coro_sched_yield();
    return coro_sleep_until(coro_now() + ms);
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
        errno = EBUSY;
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
    if (fd < 0 || !events || (events & ~(CORO_READ | CORO_WRITE))) {
        errno = EINVAL;
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
        p.fd = fd;
        p.events = (short)(((events & CORO_READ) ? POLLIN : 0) | ((events & CORO_WRITE) ? POLLOUT : 0));
        p.revents = 0;
        r = poll(&p, 1, 0);
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
        errno = EPERM;
        return -1;
    }
    return coro__fd_wait(s, t, fd, events, deadline, CORO__W_FD);
}

CORO_API int coro_join(coro_t *co, void **result, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *me, *t;
    int r;
    if (!(me = coro__enter(s))) return -1;
    if (!(t = coro__reg_find(s, co)) || (t->state == CORO__DONE && t->joined)) {
        errno = ESRCH;
        return -1;
    }
    if (t == me) {
        errno = EDEADLK;
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
        errno = ESRCH;
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
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (fd < 0) return -1;
    if (!coro__fd_fresh(s, fd, 1, (type & 0xf) == SOCK_STREAM)) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    return fd;
}

CORO_API int coro_pipe(int fds[2]) {
    coro__sched *s = coro__s();
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
    if (!coro__fd_fresh(s, fds[0], 0, 1) || !coro__fd_fresh(s, fds[1], 0, 1)) {
        close(fds[0]);
        close(fds[1]);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

static int coro__backoff(coro__sched *s, coro__task *t, int64_t *delay, int64_t deadline) {
    int64_t until = coro_now() + *delay;
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
            c = accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
            tried = 1;
            if (c >= 0) {
                if (!coro__fd_fresh(s, c, 1, 1)) {
                    close(c);
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
            errno = EPERM;
            return -1;
        }
        if (coro__fd_wait(s, t, fd, CORO_READ, deadline, CORO__W_FD) < 0) return -1;
    }
}

CORO_API int coro_connect(int fd, const struct sockaddr *addr, socklen_t len, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t;
    int err = 0, saved = errno;
    socklen_t elen = sizeof err;
    if (!coro__fd_get(s, fd)) return -1;
    if (connect(fd, addr, len) == 0) return 0;
    if (errno != EINPROGRESS && errno != EINTR) return -1;
    if (!(t = coro__enter(s))) return -1;
    if (coro__fd_wait(s, t, fd, CORO_WRITE, deadline, CORO__W_FD) < 0) return -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) return -1;
    if (err) {
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
            ssize_t n = read(fd, buf, len);
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
            errno = EPERM;
            return -1;
        }
        if (coro__fd_wait(s, t, fd, CORO_READ, deadline, CORO__W_FD) < 0) return -1;
    }
}

CORO_API ssize_t coro_read_full(int fd, void *buf, size_t len, int64_t deadline) {
    size_t got = 0;
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
                n = e->socket ? send(fd, p, want, MSG_NOSIGNAL) : write(fd, p, want);
            } else {
                struct iovec w[CORO__IOV_WINDOW];
                int k = cnt < CORO__IOV_WINDOW ? cnt : CORO__IOV_WINDOW, j;
                memcpy(w, iov, (size_t)k * sizeof *w);
                for (want = 0, j = 0; j < k; j++) want += w[j].iov_len;
                want -= skip;
                w[0].iov_base = (char *)w[0].iov_base + skip;
                w[0].iov_len -= skip;
                if (e->socket) {
                    struct msghdr m;
                    memset(&m, 0, sizeof m);
                    m.msg_iov = w;
                    m.msg_iovlen = (size_t)k;
                    n = sendmsg(fd, &m, MSG_NOSIGNAL);
                } else {
                    n = writev(fd, w, k);
                }
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
            errno = EPERM;
            return -1;
        }
        if (coro__fd_wait(s, t, fd, CORO_WRITE, deadline, CORO__W_FD) < 0) return -1;
    }
}

CORO_API ssize_t coro_write(int fd, const void *buf, size_t len, int64_t deadline) {
    struct iovec v;
    if (len > (size_t)SSIZE_MAX) {
        errno = EINVAL;
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
        errno = EINVAL;
        return -1;
    }
    for (i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - total) {
            errno = EINVAL;
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
        errno = EINVAL;
        return -1;
    }
    if (in_fd < 0) {
        errno = EBADF;
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
            errno = EPERM;
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
    return close(fd);
}

CORO_API void coro_fd_forget(int fd) { coro__fd_drop(coro__s(), fd); }

/* >>offload: worker threads run blocking calls; completions come back through a pipe the loop
   watches like any fd. */
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
        if (s->wake_wr >= 0) {
            char c = 1;
            ssize_t w = write(s->wake_wr, &c, 1); /* full pipe: a wakeup is already pending */
            (void)w;
        }
    }
    pthread_mutex_unlock(&s->job_lock);
    return NULL;
}

static int coro__workers_ready(coro__sched *s) {
    if (!s->job_lock_init) {
        int fds[2];
        coro__fd *e;
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
        if (!(e = coro__fd_fresh(s, fds[0], 0, 1))) {
            close(fds[0]);
            close(fds[1]);
            errno = ENOMEM;
            return -1;
        }
        e->internal = 1;
        if (coro__poller_add(s, fds[0], e) != 0) {
            memset(e, 0, sizeof *e);
            close(fds[0]);
            close(fds[1]);
            return -1;
        }
        s->wake_rd = fds[0];
        s->wake_wr = fds[1];
        pthread_mutex_init(&s->job_lock, NULL);
        pthread_cond_init(&s->job_cond, NULL);
        s->job_lock_init = 1;
    }
    return 0;
}

static void coro__jobs_drain(coro__sched *s) {
    char buf[64];
    coro__job *done;
    while (read(s->wake_rd, buf, sizeof buf) > 0)
        ;
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
        errno = EINVAL;
        return -1;
    }
    if (!(t = coro__enter(s))) return -1;
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
    /* fn may use memory on this stack: even when raised into, wait until it has finished */
    for (;;) {
        t->wait = CORO__W_JOB;
        r = coro__block(s, t, -1);
        if (!t->job) break;
        if (r && !raised) raised = r;
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
        errno = r.err == EAI_SYSTEM ? errno : EHOSTUNREACH;
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
    int fd = -1, one = 1, err = EINVAL;
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
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
#ifdef SO_REUSEPORT
        if ((flags & CORO_TCP_REUSEPORT) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
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
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, backlog > 0 ? backlog : 128) == 0)
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
    int fd = -1, one = 1, err = EHOSTUNREACH;
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
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (coro_connect(fd, a->ai_addr, a->ai_addrlen, deadline) == 0) break;
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
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    errno = EINVAL;
    return -1;
}

/* >>signals: a handler records the signal in a process-wide mask and writes to a pipe the
   waiting coroutine's loop watches (a self-pipe: async-signal-safe, and any thread may take
   the signal). */
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
        errno = EINVAL;
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
        errno = EINVAL;
        return -1;
    }
    if (!(t = coro__enter(s))) return -1;
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

/* >>sync */
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
    if (c) c->waiters.head = c->waiters.tail = NULL;
}
CORO_API int coro_cond_wait(coro_cond_t *c, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t;
    if (!c) {
        errno = EINVAL;
        return -1;
    }
    if (!(t = coro__enter(s))) return -1;
    return coro__wait_on(s, t, &c->waiters, CORO__W_COND, deadline);
}
CORO_API void coro_cond_signal(coro_cond_t *c) {
    coro__task *t;
    if (c && (t = c->waiters.head) != NULL) coro__wake(t->s, t, 0);
}
CORO_API void coro_cond_broadcast(coro_cond_t *c) {
    coro__task *t;
    while (c && (t = c->waiters.head) != NULL) coro__wake(t->s, t, 0);
}

CORO_API void coro_mutex_init(coro_mutex_t *m) {
    if (!m) return;
    m->owner = NULL;
    m->waiters.head = m->waiters.tail = NULL;
}
CORO_API int coro_mutex_lock(coro_mutex_t *m, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t;
    if (!m) {
        errno = EINVAL;
        return -1;
    }
    if (!(t = coro__enter(s))) return -1;
    if (!m->owner) {
        m->owner = t;
        return 0;
    }
    if (m->owner == t) {
        errno = EDEADLK;
        return -1;
    }
    return coro__wait_on(s, t, &m->waiters, CORO__W_MUTEX, deadline); /* unlock hands it over */
}
CORO_API int coro_mutex_unlock(coro_mutex_t *m) {
    coro__sched *s = coro__s();
    coro__task *next;
    if (!m) {
        errno = EINVAL;
        return -1;
    }
    if (!m->owner || m->owner != coro__me(s)) {
        errno = EPERM;
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
}
CORO_API int coro_sem_wait(coro_sem_t *sem, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *t;
    if (!sem) {
        errno = EINVAL;
        return -1;
    }
    if (!(t = coro__enter(s))) return -1;
    if (sem->count) {
        sem->count--;
        return 0;
    }
    return coro__wait_on(s, t, &sem->waiters, CORO__W_SEM, deadline); /* post hands it over */
}
CORO_API int coro_sem_post(coro_sem_t *sem) {
    coro__task *t;
    if (!sem) {
        errno = EINVAL;
        return -1;
    }
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

/* >>chan */
struct coro_chan {
    size_t elem, cap, head, len;
    int closed;
    coro__waitq senders, receivers;
    unsigned char *buf;
};

CORO_API coro_chan_t *coro_chan_new(size_t elem_size, size_t capacity) {
    coro_chan_t *ch;
    size_t bytes;
    if (!elem_size || elem_size > ((size_t)1 << 30) ||
        (capacity && capacity > ((size_t)-1 - sizeof *ch) / elem_size)) {
        errno = EINVAL;
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

CORO_API int coro_chan_send(coro_chan_t *ch, const void *elem, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *r, *t;
    if (!ch || !elem) {
        errno = EINVAL;
        return -1;
    }
    if (ch->closed) {
        errno = EPIPE;
        return -1;
    }
    if ((r = ch->receivers.head) != NULL) { /* a receiver waits: the buffer is empty */
        memcpy(r->elem, elem, ch->elem);
        coro__wake(s, r, 0);
        return 0;
    }
    if (ch->len < ch->cap) {
        memcpy(ch->buf + ((ch->head + ch->len) % ch->cap) * ch->elem, elem, ch->elem);
        ch->len++;
        return 0;
    }
    if (!(t = coro__enter(s))) return -1;
    t->elem = (void *)(uintptr_t)elem; /* a receiver copies it out and wakes us */
    return coro__wait_on(s, t, &ch->senders, CORO__W_CHAN_SEND, deadline);
}

CORO_API int coro_chan_recv(coro_chan_t *ch, void *elem, int64_t deadline) {
    coro__sched *s = coro__s();
    coro__task *w, *t;
    if (!ch || !elem) {
        errno = EINVAL;
        return -1;
    }
    if (ch->len) {
        memcpy(elem, ch->buf + ch->head * ch->elem, ch->elem);
        ch->head = (ch->head + 1) % ch->cap;
        ch->len--;
        if ((w = ch->senders.head) != NULL) { /* room now: the longest sender moves in */
            memcpy(ch->buf + ((ch->head + ch->len) % ch->cap) * ch->elem, w->elem, ch->elem);
            ch->len++;
            coro__wake(s, w, 0);
        }
        return 0;
    }
    if ((w = ch->senders.head) != NULL) { /* rendezvous */
        memcpy(elem, w->elem, ch->elem);
        coro__wake(s, w, 0);
        return 0;
    }
    if (ch->closed) {
        errno = EPIPE;
        return -1;
    }
    if (!(t = coro__enter(s))) return -1;
    t->elem = elem;
    return coro__wait_on(s, t, &ch->receivers, CORO__W_CHAN_RECV, deadline);
}

CORO_API void coro_chan_close(coro_chan_t *ch) {
    coro__task *t;
    if (!ch) return;
    ch->closed = 1;
    while ((t = ch->receivers.head) != NULL) coro__wake(t->s, t, EPIPE);
    while ((t = ch->senders.head) != NULL) coro__wake(t->s, t, EPIPE);
}

CORO_API void coro_chan_free(coro_chan_t *ch) {
    if (!ch) return;
    coro_chan_close(ch);
    CORO_FREE(ch);
}

CORO_API size_t coro_chan_len(const coro_chan_t *ch) { return ch ? ch->len : 0; }

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
    coro__reclaim(s);
    while ((t = s->kept) != NULL) {
        s->kept = t->all_next;
        coro__task_free(s, t);
    }
    coro__workers_stop(s);
    if (s->job_lock_init) {
        close(s->wake_rd);
        close(s->wake_wr);
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
    memset(s, 0, sizeof *s);
}

#endif /* CORO_SCHED_IMPLEMENTATION */
