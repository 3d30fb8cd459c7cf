/* libevent_server.c - libevent 2 echo server, raw events (link with -levent).
 *
 *   ./echo_libevent PORT      (PORT 0 picks a free port; prints "PORT <n>" once listening)
 *
 * How one writes a fast libevent server: a persistent EV_READ event per connection, added once;
 * the callback does one read and one write. Only a short write changes the registration (the
 * event is reassigned to EV_WRITE until the remainder is gone), so in the steady state libevent
 * adds nothing but its dispatch loop around the same epoll_wait/read/write the hand-written
 * server does. bufferevents are not used: they read through an evbuffer with an extra
 * ioctl(FIONREAD) per read and toggle EV_WRITE around every reply, which measures buffering,
 * not the event loop. SIGTERM/SIGINT break the loop through libevent's own signal events.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#define ACCEPT_BURST 64
#define BUF_SIZE     65536

struct conn {
	struct event *ev;
	char *pend;          /* unwritten part of a reply */
	size_t off, len;
};

static struct event_base *base;
static char buf[BUF_SIZE];

static void die(const char *what)
{
	fprintf(stderr, "echo_libevent: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
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

static void conn_free(struct conn *c, int fd)
{
	event_free(c->ev);
	free(c->pend);
	free(c);
	close(fd);
}

static void on_io(evutil_socket_t fd, short what, void *arg);

/* Re-register the connection for reading or for writing its parked remainder. */
static void conn_watch(struct conn *c, int fd, short what)
{
	event_del(c->ev);
	event_assign(c->ev, base, fd, what | EV_PERSIST, on_io, c);
	event_add(c->ev, NULL);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	ssize_t n, w;
	if (c->pend) {
		(void)what;
		w = write(fd, c->pend + c->off, c->len - c->off);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				conn_free(c, fd);
			return;
		}
		c->off += (size_t)w;
		if (c->off == c->len) {
			free(c->pend);
			c->pend = NULL;
			conn_watch(c, fd, EV_READ);
		}
		return;
	}
	n = read(fd, buf, sizeof buf);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			conn_free(c, fd);
		return;
	}
	w = write(fd, buf, (size_t)n);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			conn_free(c, fd);
			return;
		}
		w = 0;
	}
	if (w == n)
		return;
	c->pend = malloc((size_t)(n - w));
	if (!c->pend) {
		conn_free(c, fd);
		return;
	}
	memcpy(c->pend, buf + w, (size_t)(n - w));
	c->off = 0;
	c->len = (size_t)(n - w);
	conn_watch(c, fd, EV_WRITE);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	int i, one = 1;
	(void)what;
	(void)arg;
	for (i = 0; i < ACCEPT_BURST; i++) {
		struct conn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				fprintf(stderr, "echo_libevent: accept4: %s (RLIMIT_NOFILE)\n",
				        strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c = calloc(1, sizeof *c);
		if (!c || !(c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_io, c)) ||
		    event_add(c->ev, NULL) < 0) {
			free(c);
			close(fd);
			continue;
		}
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
	struct event *lev, *sterm, *sint;
	int lfd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (!base)
		die("event_base_new");
	lfd = listen_on(atoi(argv[1]));
	lev = event_new(base, lfd, EV_READ | EV_PERSIST, on_accept, NULL);
	sterm = evsignal_new(base, SIGTERM, on_signal, NULL);
	sint = evsignal_new(base, SIGINT, on_signal, NULL);
	if (!lev || !sterm || !sint || event_add(lev, NULL) < 0 || event_add(sterm, NULL) < 0 ||
	    event_add(sint, NULL) < 0)
		die("event_add");
	if (event_base_dispatch(base) < 0)
		die("event_base_dispatch");
	event_free(lev);
	event_free(sterm);
	event_free(sint);
	event_base_free(base);
	return 0;
}
