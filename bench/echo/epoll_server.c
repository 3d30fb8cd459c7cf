/* epoll_server.c - single-thread epoll echo server: the baseline every ratio is measured against.
 *
 *   ./echo_epoll PORT      (PORT 0 picks a free port; prints "PORT <n>" once listening)
 *
 * What a careful C programmer writes when each syscall counts:
 * - every socket is registered once, level-triggered EPOLLIN, and never touched again unless a
 *   write comes up short; one epoll_pwait serves up to MAX_EVENTS ready connections;
 * - per ready connection exactly one read and one write (level-triggered, so there is no need
 *   to read until EAGAIN as edge-triggered mode would require: data left behind is reported
 *   again by the next epoll_pwait);
 * - fair: one read per connection per loop turn, and the kernel's ready list is round-robin
 *   (level-triggered entries that stay ready go to its tail), so no connection can starve others;
 *   accept4 is bounded per turn for the same reason;
 * - a short write parks the remainder, switches that socket to EPOLLOUT and stops reading it
 *   (back-pressure) until the remainder is gone;
 * - signals are blocked except inside epoll_pwait, so SIGTERM/SIGINT end the loop without races.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_EVENTS   1024
#define ACCEPT_BURST 64
#define BUF_SIZE     65536

struct pending { char *buf; size_t off, len; };   /* unwritten echo, indexed by fd */

static volatile sig_atomic_t stop;
static struct pending *pend;
static size_t npend;
static int epfd;
static char buf[BUF_SIZE];

static void on_signal(int sig) { (void)sig; stop = 1; }

static void die(const char *what)
{
	fprintf(stderr, "echo_epoll: %s: %s\n", what, strerror(errno));
	exit(1);
}

static size_t raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("getrlimit");
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1048576 ? 1048576 : (size_t)rl.rlim_cur;
}

static int listen_on(int port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
		die("bind");
	if (listen(fd, 65535) < 0)   /* the kernel caps this at net.core.somaxconn */
		die("listen");
	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("getsockname");
	printf("PORT %d\n", ntohs(a.sin_port));
	fflush(stdout);
	return fd;
}

static void ep_ctl(int op, int fd, uint32_t events)
{
	struct epoll_event ev;
	ev.events = events;
	ev.data.fd = fd;
	if (epoll_ctl(epfd, op, fd, &ev) < 0 && op != EPOLL_CTL_DEL)
		die("epoll_ctl");
}

static void conn_close(int fd)
{
	free(pend[fd].buf);
	pend[fd].buf = NULL;
	pend[fd].off = pend[fd].len = 0;
	close(fd);   /* also removes fd from the epoll set */
}

/* Write data; park what the socket does not take. 0 ok, -1 connection closed. */
static int conn_write(int fd, const char *data, size_t len)
{
	ssize_t n = write(fd, data, len);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			conn_close(fd);
			return -1;
		}
		n = 0;
	}
	if ((size_t)n == len)
		return 0;
	pend[fd].buf = malloc(len - (size_t)n);
	if (!pend[fd].buf) {
		conn_close(fd);
		return -1;
	}
	memcpy(pend[fd].buf, data + n, len - (size_t)n);
	pend[fd].off = 0;
	pend[fd].len = len - (size_t)n;
	ep_ctl(EPOLL_CTL_MOD, fd, EPOLLOUT);
	return 0;
}

static void on_writable(int fd)
{
	struct pending *p = &pend[fd];
	ssize_t n = write(fd, p->buf + p->off, p->len - p->off);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(fd);
		return;
	}
	p->off += (size_t)n;
	if (p->off < p->len)
		return;
	free(p->buf);
	p->buf = NULL;
	p->off = p->len = 0;
	ep_ctl(EPOLL_CTL_MOD, fd, EPOLLIN);
}

static void on_readable(int fd)
{
	ssize_t n = read(fd, buf, sizeof buf);
	if (n > 0) {
		conn_write(fd, buf, (size_t)n);
		return;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR))
		conn_close(fd);
}

static void on_accept(int lfd)
{
	int i, one = 1;
	for (i = 0; i < ACCEPT_BURST; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				fprintf(stderr, "echo_epoll: accept4: %s (RLIMIT_NOFILE)\n", strerror(errno));
			return;   /* EAGAIN: backlog empty; others: transient, retry next turn */
		}
		if ((size_t)fd >= npend) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		ep_ctl(EPOLL_CTL_ADD, fd, EPOLLIN);
	}
}

int main(int argc, char **argv)
{
	static struct epoll_event evs[MAX_EVENTS];
	struct sigaction sa;
	sigset_t block, waitmask;
	int lfd, i, n;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	npend = raise_nofile();
	pend = calloc(npend, sizeof *pend);
	if (!pend)
		die("calloc");

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);   /* delivered only inside epoll_pwait */

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	lfd = listen_on(atoi(argv[1]));
	ep_ctl(EPOLL_CTL_ADD, lfd, EPOLLIN);

	while (!stop) {
		n = epoll_pwait(epfd, evs, MAX_EVENTS, -1, &waitmask);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_pwait");
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd)
				on_accept(lfd);
			else if (pend[fd].buf)
				on_writable(fd);
			else
				on_readable(fd);
		}
	}
	return 0;
}
