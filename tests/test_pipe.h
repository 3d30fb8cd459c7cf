/* test_pipe.h - a connected pair of fds for the scheduler's tests, fds[0] reading what fds[1]
   writes: coro_pipe on POSIX; on Windows, which has no pipe a WSAPoll loop can wait on
   (coro_pipe fails there with ENOSYS), a pair of loopback TCP sockets made through a listener.
   Include after coro_sched.h. */
#ifndef TEST_PIPE_H
#define TEST_PIPE_H
#ifdef _WIN32
static __attribute__((unused)) int test_fd_pair(int fds[2]) {
    struct sockaddr_in a;
    int len = sizeof a;
    SOCKET l, w = INVALID_SOCKET, r = INVALID_SOCKET;
    WSADATA d;
    if (WSAStartup(MAKEWORD(2, 2), &d) != 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)) == INVALID_SOCKET) return -1;
    if (bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 1) == 0 &&
        getsockname(l, (struct sockaddr *)&a, &len) == 0 &&
        (w = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)) != INVALID_SOCKET &&
        connect(w, (struct sockaddr *)&a, sizeof a) == 0)
        r = accept(l, NULL, NULL);
    closesocket(l);
    if (r == INVALID_SOCKET) {
        if (w != INVALID_SOCKET) closesocket(w);
        return -1;
    }
    fds[0] = (int)r;
    fds[1] = (int)w;
    return 0;
}
/* close an fd of such a pair without the scheduler (which must not know it any more) */
static __attribute__((unused)) void test_fd_close(int fd) { closesocket((SOCKET)(unsigned)fd); }
#else
#include <unistd.h>
static __attribute__((unused)) int test_fd_pair(int fds[2]) { return coro_pipe(fds); }
static __attribute__((unused)) void test_fd_close(int fd) { close(fd); }
#endif
#endif
