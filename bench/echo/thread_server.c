/* thread_server.c - thread-per-connection echo server with blocking read/write.
 *
 *   ./echo_thread PORT      (PORT 0 picks a free port; prints "PORT <n>" once listening)
 *
 * The main thread blocks in accept(); each connection gets a detached thread with a 64 KiB stack
 * (so 10,000 connections need about 640 MiB of address space, most of it never touched) that
 * loops read -> write until the peer closes. Scheduling is the kernel's: every round trip is a
 * wake-up of a sleeping thread and a context switch, which is the cost this baseline shows.
 * SIGTERM/SIGINT are blocked in every thread and taken by sigwait() in the main thread's helper,
 * so no worker is ever interrupted by them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define STACK_SIZE (64 * 1024)
#define BUF_SIZE   16384

static void die(const char *what)
{
	fprintf(stderr, "echo_thread: %s: %s\n", what, strerror(errno));
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
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

static void *serve(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[BUF_SIZE];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf), off = 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		while (off < n) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				goto out;
			}
			off += w;
		}
	}
out:
	close(fd);
	return NULL;
}

static void *wait_signal(void *arg)
{
	sigset_t *set = arg;
	int sig;
	sigwait(set, &sig);
	exit(0);
}

int main(int argc, char **argv)
{
	static sigset_t set;
	pthread_attr_t attr;
	pthread_t t;
	int lfd, one = 1, e;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);   /* inherited by every thread created below */

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, STACK_SIZE);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if ((e = pthread_create(&t, &attr, wait_signal, &set)) != 0) {
		errno = e;
		die("pthread_create");
	}

	lfd = listen_on(atoi(argv[1]));
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				fprintf(stderr, "echo_thread: accept4: %s (RLIMIT_NOFILE)\n", strerror(errno));
				usleep(10000);
			}
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if ((e = pthread_create(&t, &attr, serve, (void *)(intptr_t)fd)) != 0) {
			fprintf(stderr, "echo_thread: pthread_create: %s (threads-max, pid_max, "
			        "vm.max_map_count, pids cgroup)\n", strerror(e));
			close(fd);
		}
	}
}
