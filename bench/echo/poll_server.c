/* poll_server.c - single-thread poll() echo server.
 *
 *   ./echo_poll PORT      (PORT 0 picks a free port; prints "PORT <n>" once listening)
 *
 * The same loop as epoll_server.c with poll(): one pollfd array kept up to date incrementally
 * (slot 0 is the listening socket; a new connection is appended, a closed one is replaced by the
 * last slot), one read and one write per ready connection per turn, short writes park the rest
 * and wait for POLLOUT. The scan stops as soon as all ready slots have been seen. What poll()
 * cannot avoid is handing the whole array to the kernel on every call, so its cost grows with
 * the number of connections, idle or not: that is what this baseline is here to show.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BURST 64
#define BUF_SIZE     65536

struct pending { char *buf; size_t off, len; };   /* unwritten echo, indexed by fd */

static volatile sig_atomic_t stop;
static struct pending *pend;
static struct pollfd *pfd;
static size_t maxfds, nfds;
static char buf[BUF_SIZE];

static void on_signal(int sig) { (void)sig; stop = 1; }

static void die(const char *what)
{
	fprintf(stderr, "echo_poll: %s: %s\n", what, strerror(errno));
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

/* Close the connection in slot i; the last slot moves into i. */
static void slot_close(size_t i)
{
	int fd = pfd[i].fd;
	free(pend[fd].buf);
	pend[fd].buf = NULL;
	pend[fd].off = pend[fd].len = 0;
	close(fd);
	pfd[i] = pfd[--nfds];
}

/* Serve slot i. Returns 1 if the slot now holds a different connection (look at it again). */
static int slot_serve(size_t i)
{
	struct pollfd *p = &pfd[i];
	struct pending *q = &pend[p->fd];
	ssize_t n;
	if (q->buf) {
		n = write(p->fd, q->buf + q->off, q->len - q->off);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			slot_close(i);
			return 1;
		}
		q->off += (size_t)n;
		if (q->off == q->len) {
			free(q->buf);
			q->buf = NULL;
			q->off = q->len = 0;
			p->events = POLLIN;
		}
		return 0;
	}
	n = read(p->fd, buf, sizeof buf);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		slot_close(i);
		return 1;
	}
	{
		ssize_t w = write(p->fd, buf, (size_t)n);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				slot_close(i);
				return 1;
			}
			w = 0;
		}
		if (w < n) {
			q->buf = malloc((size_t)(n - w));
			if (!q->buf) {
				slot_close(i);
				return 1;
			}
			memcpy(q->buf, buf + w, (size_t)(n - w));
			q->off = 0;
			q->len = (size_t)(n - w);
			p->events = POLLOUT;
		}
	}
	return 0;
}

static void on_accept(int lfd)
{
	int i, one = 1;
	for (i = 0; i < ACCEPT_BURST; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				fprintf(stderr, "echo_poll: accept4: %s (RLIMIT_NOFILE)\n", strerror(errno));
			return;
		}
		if ((size_t)fd >= maxfds || nfds >= maxfds) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		pfd[nfds].fd = fd;
		pfd[nfds].events = POLLIN;
		pfd[nfds].revents = 0;
		nfds++;
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t block, waitmask;
	size_t i;
	int n, lfd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	maxfds = raise_nofile();
	pend = calloc(maxfds, sizeof *pend);
	pfd = calloc(maxfds, sizeof *pfd);
	if (!pend || !pfd)
		die("calloc");

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);   /* delivered only inside ppoll */

	lfd = listen_on(atoi(argv[1]));
	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	nfds = 1;

	while (!stop) {
		int listen_ready;
		n = ppoll(pfd, nfds, NULL, &waitmask);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("ppoll");
		}
		listen_ready = pfd[0].revents != 0;
		if (listen_ready)
			n--;
		/* Stop scanning once every ready slot has been served. */
		for (i = 1; i < nfds && n > 0;) {
			if (!pfd[i].revents) {
				i++;
				continue;
			}
			n--;
			pfd[i].revents = 0;
			if (!slot_serve(i))
				i++;
		}
		if (listen_ready)
			on_accept(lfd);
	}
	return 0;
}
