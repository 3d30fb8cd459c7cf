/* loadgen.c - ping-pong load generator for the echo-server benchmark.
 *
 * Single thread, one epoll set. Opens `idle` + `busy` TCP connections to an echo server, spread
 * evenly (every (busy+idle)/busy-th connection is busy), with at most SETUP_WINDOW (256, and at
 * most half of net.core.somaxconn) connection setups in flight so the server's listen backlog
 * never overflows; failed connects are retried. Every connection proves the server accepted it
 * with one verified echo (so idle connections really sit in the server's poll set before the
 * clock starts); idle connections then stay silent until the end.
 *
 * Then each busy connection plays ping-pong: write `size` bytes, read until exactly `size` bytes
 * have come back, compare them with what was sent (the pattern changes every round trip, so a
 * stale or misrouted reply is caught), repeat. Phases: setup (bounded by -T), warmup (-w),
 * measured window (-d). Only round trips completed inside the window are counted and timed.
 *
 * With -P PID the server's CPU time (utime+stime from /proc/PID/stat) is sampled at the window
 * edges and its VmRSS at the end of the window, so connection setup is excluded; so is the busy
 * time of the whole machine (/proc/stat), reported as other_cpu_pct: what neither the server nor
 * the load generator used (other processes, interrupt time charged to nobody). A large value
 * means the machine was shared and the run is noisy.
 *
 * Counted window (-F/-A): the window edges are signalled on a `perf stat --control
 * fifo:CTL,ACK` pair ("enable"/"disable", each waited for "ack"), so perf counts the window and
 * nothing else. To make "server syscalls / round trips" exact, this mode quiesces at the edges:
 * no new pings after the warmup until every echo is back, then "enable" and all connections
 * start; at the end no new pings, every outstanding echo is awaited (and counted), then
 * "disable". Every request the server handled while counting belongs to a counted round trip.
 * (Without quiescing, up to one round trip per connection falls on the wrong side of each edge,
 * which at 10,000 connections is a large error.) The rate reported in this mode includes the
 * drain and is not meant for timing.
 *
 *   loadgen -p PORT [-h host] [-c busy] [-i idle] [-d secs] [-w secs] [-s bytes] [-C cpu]
 *           [-T setup_secs] [-P server_pid] [-F ctl_fifo -A ack_fifo]
 *
 * Output, last lines on stdout: one human line, then one machine line
 *   RESULT rtt_per_sec=... p50_us=... p99_us=... errors=... busy=... idle=... ...
 * Exit status 0 if there were no errors, 1 otherwise, 2 on bad usage or setup failure.
 * If the server hangs, the run still ends after setup timeout (-T, default 3 s) + warmup +
 * duration. Should the load generator itself fall behind, an alarm 3 s later (13 s with -F) cuts
 * the run short and reports it with an "over time" error, and 2 s after that it exits anyway.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SETUP_WINDOW  256    /* connection setups in flight at most (and <= somaxconn / 2) */
#define MAX_RETRIES   20     /* connect attempts per connection */
#define MAX_EVENTS    1024
#define STALL_NS      2000000000ull  /* an unanswered ping older than this at the end is an error */
#define EDGE_WAIT_NS  2000000000ull  /* longest quiesce / drain at the counted window's edges */

/* Log-linear latency histogram: 32 sub-buckets per power of two (about 3 % resolution). */
#define HIST_SUB_BITS 5
#define HIST_SUB      (1 << HIST_SUB_BITS)
#define HIST_BUCKETS  (64 * HIST_SUB)

enum conn_state { C_FREE, C_CONNECTING, C_SETUP, C_READY, C_IDLE, C_ACTIVE, C_DEAD };
/* P_QUIESCE and P_DRAIN only with a control fifo: see "counted window" in the top comment. */
enum phase { P_SETUP, P_WARMUP, P_QUIESCE, P_MEASURE, P_DRAIN };

struct conn {
	int fd;
	unsigned char state;
	unsigned char busy;
	unsigned char want_out;   /* EPOLLOUT currently requested */
	unsigned char retries;
	unsigned char waiting;    /* a ping is out and its echo not complete */
	uint32_t seq;             /* message number, part of the byte pattern */
	uint32_t sent, got;       /* bytes of the current message written / echoed back */
	uint64_t t_send;          /* CLOCK_MONOTONIC ns when the current message was started */
	uint64_t retry_at;        /* for failed connects: not before this time */
	uint64_t window_rts;      /* round trips completed inside the window */
};

struct errors {
	uint64_t connect, closed, io, mismatch, setup_timeout, stalled, unexpected, deadline;
};

static struct {
	const char *host;
	int port, busy, idle, size, cpu;
	double duration, warmup, setup_timeout;
	int server_pid;
	const char *ctl_path, *ack_path;
} opt = { "127.0.0.1", 0, 100, 0, 64, -1, 5.0, 1.0, 3.0, 0, NULL, NULL };

static struct conn *conns;
static int nconns, epfd;
static struct sockaddr_in addr;
static unsigned char *wbuf, *rbuf;
static uint64_t hist[HIST_BUCKETS];
static uint64_t rt_window;
static struct errors err;
static enum phase phase = P_SETUP;
static int setup_window = SETUP_WINDOW;
static int inflight, next_conn, settled, established, retry_pending, outstanding;
static int ctl_fd = -1, ack_fd = -1;
static uint64_t t_meas, t_end;
static double srv_cpu0 = -1, srv_cpu1 = -1, self0, self1, mach0 = -1, mach1 = -1;
static long rss_kb = -1;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* First alarm: end the run at the next loop turn and report what there is. Second alarm (2 s
 * later): the loop is stuck, give up without a report. */
static volatile sig_atomic_t deadline_hit;

static void on_alarm(int sig)
{
	static const char msg[] = "loadgen: hard time limit reached, giving up\n";
	(void)sig;
	if (!deadline_hit) {
		deadline_hit = 1;
		alarm(2);
		return;
	}
	if (write(2, msg, sizeof msg - 1) < 0) { /* nothing left to do */ }
	_exit(3);
}

/* Byte i of message `seq` on connection `id`: changes with all three so a reply that belongs to
 * another message or another connection does not compare equal. */
static unsigned char pattern(int id, uint32_t seq, uint32_t i)
{
	return (unsigned char)((uint32_t)id * 131u + seq * 29u + i * 7u + (i >> 8));
}

static void hist_add(uint64_t v)
{
	int idx;
	if (v < 2 * HIST_SUB) {
		idx = (int)v;
	} else {
		int msb = 63 - __builtin_clzll(v);
		idx = (msb - HIST_SUB_BITS + 1) * HIST_SUB +
		      (int)((v >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
	}
	hist[idx]++;
}

/* Midpoint of bucket idx in ns. */
static double hist_value(int idx)
{
	int o = idx / HIST_SUB, s = idx % HIST_SUB;
	double low, width;
	if (o <= 1)
		return (double)idx;
	low = (double)((uint64_t)(HIST_SUB + s) << (o - 1));
	width = (double)(1ull << (o - 1));
	return low + width / 2;
}

static double hist_percentile(double p)
{
	uint64_t total = 0, want, cum = 0;
	int i;
	for (i = 0; i < HIST_BUCKETS; i++)
		total += hist[i];
	if (total == 0)
		return 0;
	want = (uint64_t)(p * (double)total);
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		cum += hist[i];
		if (cum >= want)
			return hist_value(i);
	}
	return hist_value(HIST_BUCKETS - 1);
}

static void ep_set(struct conn *c, uint32_t events, int op)
{
	struct epoll_event ev;
	ev.events = events;
	ev.data.u32 = (uint32_t)(c - conns);
	if (epoll_ctl(epfd, op, c->fd, &ev) < 0)
		die("epoll_ctl");
	c->want_out = (events & EPOLLOUT) != 0;
}

static void setup_done_one(void)
{
	inflight--;
	settled++;
}

static void start_connect(struct conn *c);

/* A connection failed. During setup a failed connect is retried; anything else is counted and
 * the connection is dropped for the rest of the run. */
static void conn_fail(struct conn *c, uint64_t *counter, int may_retry)
{
	int was_setup = c->state == C_CONNECTING || c->state == C_SETUP;
	if (c->waiting && c->state == C_ACTIVE)
		outstanding--;
	c->waiting = 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (was_setup && may_retry && c->retries < MAX_RETRIES && phase == P_SETUP) {
		c->retries++;
		c->state = C_FREE;
		c->retry_at = now_ns() + 10000000ull * c->retries;
		inflight--;
		retry_pending++;
		return;
	}
	(*counter)++;
	if (was_setup)
		setup_done_one();
	c->state = C_DEAD;
}

/* Write as much of the current message as the socket takes. 0 ok, -1 connection failed. */
static int conn_send(struct conn *c)
{
	int id = (int)(c - conns);
	uint32_t i, n = (uint32_t)opt.size - c->sent;
	ssize_t w;
	for (i = 0; i < n; i++)
		wbuf[i] = pattern(id, c->seq, c->sent + i);
	w = write(c->fd, wbuf, n);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			conn_fail(c, &err.io, 1);
			return -1;
		}
		w = 0;
	}
	c->sent += (uint32_t)w;
	if (c->sent < (uint32_t)opt.size && !c->want_out)
		ep_set(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
	else if (c->sent == (uint32_t)opt.size && c->want_out)
		ep_set(c, EPOLLIN, EPOLL_CTL_MOD);
	return 0;
}

static int conn_ping(struct conn *c, uint64_t now)
{
	c->seq++;
	c->sent = c->got = 0;
	c->t_send = now;
	c->waiting = 1;
	if (c->state == C_ACTIVE)
		outstanding++;
	return conn_send(c);
}

static void start_connect(struct conn *c)
{
	int one = 1;
	struct linger lg = { 1, 0 };   /* close with RST: no TIME_WAIT pile-up across many runs */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		die("socket (is RLIMIT_NOFILE high enough?)");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	c->fd = fd;
	c->state = C_CONNECTING;
	inflight++;
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
		ep_set(c, EPOLLIN, EPOLL_CTL_ADD);
		c->state = C_SETUP;
		conn_ping(c, now_ns());
		return;
	}
	if (errno != EINPROGRESS) {
		conn_fail(c, &err.connect, 1);
		return;
	}
	ep_set(c, EPOLLOUT, EPOLL_CTL_ADD);
}

/* Open more connections while fewer than SETUP_WINDOW setups are in flight. */
static void setup_pump(uint64_t now)
{
	int i;
	for (i = 0; retry_pending > 0 && i < next_conn && inflight < setup_window; i++) {
		struct conn *c = &conns[i];
		if (c->state == C_FREE && c->retry_at <= now) {
			retry_pending--;
			start_connect(c);
		}
	}
	while (inflight < setup_window && next_conn < nconns)
		start_connect(&conns[next_conn++]);
}

static void on_reply_complete(struct conn *c, uint64_t now)
{
	if (c->state == C_SETUP) {
		setup_done_one();
		established++;
		c->state = c->busy ? C_READY : C_IDLE;
		c->waiting = 0;
		return;
	}
	c->waiting = 0;
	outstanding--;
	if (phase == P_MEASURE || phase == P_DRAIN) {
		hist_add(now - c->t_send);
		rt_window++;
		c->window_rts++;
	}
	if (phase == P_WARMUP || phase == P_MEASURE)
		conn_ping(c, now);
}

static void on_readable(struct conn *c, uint64_t now)
{
	int id = (int)(c - conns);
	uint32_t want = (uint32_t)opt.size - c->got, i;
	ssize_t n;
	if (c->state == C_IDLE || c->state == C_READY || !c->waiting) {
		/* Nothing is expected here: the server closed the connection or sent junk. */
		n = read(c->fd, rbuf, (size_t)opt.size);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_fail(c, n > 0 ? &err.unexpected : n == 0 ? &err.closed : &err.io, 0);
		return;
	}
	n = read(c->fd, rbuf, want);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_fail(c, &err.io, 1);
		return;
	}
	if (n == 0) {
		conn_fail(c, &err.closed, 1);
		return;
	}
	if (c->got + (uint32_t)n > c->sent) {
		conn_fail(c, &err.unexpected, 0);
		return;
	}
	for (i = 0; i < (uint32_t)n; i++) {
		if (rbuf[i] != pattern(id, c->seq, c->got + i)) {
			conn_fail(c, &err.mismatch, 0);
			return;
		}
	}
	c->got += (uint32_t)n;
	if (c->got == (uint32_t)opt.size)
		on_reply_complete(c, now);
}

static void on_event(struct conn *c, uint32_t events, uint64_t now)
{
	if (c->state == C_CONNECTING) {
		int e = 0;
		socklen_t len = sizeof e;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e != 0) {
			conn_fail(c, &err.connect, 1);
			return;
		}
		ep_set(c, EPOLLIN, EPOLL_CTL_MOD);
		c->state = C_SETUP;
		conn_ping(c, now);
		return;
	}
	if (c->state == C_DEAD || c->state == C_FREE)
		return;
	if ((events & EPOLLOUT) && c->sent < (uint32_t)opt.size) {
		if (conn_send(c) < 0)
			return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(c, now);
}

/* utime+stime of a process in ns; -1 if unreadable. */
static double proc_cpu_ns(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	ssize_t n;
	int fd;
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strrchr(buf, ')');   /* comm may contain spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	                 &utime, &stime) != 2)
		return -1;
	return (double)(utime + stime) * 1e9 / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(int pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Busy time of all CPUs together in ns (from /proc/stat), to see how much of the machine
 * something other than the server and this process used during the window. */
static double machine_busy_ns(void)
{
	unsigned long long v[8] = { 0 };
	char line[512];
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	if (!fgets(line, sizeof line, f) ||
	    sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	           &v[4], &v[5], &v[6], &v[7]) < 8) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* user nice system [idle] [iowait] irq softirq steal */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * 1e9 / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

/* perf stat --control protocol: send a command, wait (bounded) for "ack". */
static void perf_ctl(const char *cmd)
{
	char buf[16];
	fd_set rd;
	struct timeval tv = { 2, 0 };
	if (ctl_fd < 0)
		return;
	if (write(ctl_fd, cmd, strlen(cmd)) < 0)
		die("write control fifo");
	if (ack_fd < 0)
		return;
	FD_ZERO(&rd);
	FD_SET(ack_fd, &rd);
	if (select(ack_fd + 1, &rd, NULL, NULL, &tv) <= 0 || read(ack_fd, buf, sizeof buf) <= 0)
		fprintf(stderr, "loadgen: no ack for '%.*s' on control fifo\n",
		        (int)strlen(cmd) - 1, cmd);
}

/* Window start: snapshot the CPU counters, forget what happened before. */
static void begin_window(void)
{
	int i;
	if (opt.server_pid > 0)
		srv_cpu0 = proc_cpu_ns(opt.server_pid);
	self0 = self_cpu_ns();
	mach0 = machine_busy_ns();
	memset(hist, 0, sizeof hist);
	rt_window = 0;
	for (i = 0; i < nconns; i++)
		conns[i].window_rts = 0;
	phase = P_MEASURE;
	t_meas = now_ns();
	t_end = t_meas + (uint64_t)(opt.duration * 1e9);
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)nconns + 16)
		fprintf(stderr, "loadgen: warning: RLIMIT_NOFILE %lu is below %d connections\n",
		        (unsigned long)rl.rlim_cur, nconns);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: loadgen -p port [-h host] [-c busy] [-i idle] [-d secs] [-w secs] [-s bytes]\n"
	        "               [-C cpu] [-T setup_secs] [-P server_pid] [-F ctl_fifo -A ack_fifo]\n"
	        "  -h host   server IPv4 address (127.0.0.1)\n"
	        "  -p port   server port (required)\n"
	        "  -c n      busy (ping-pong) connections (100)\n"
	        "  -i n      idle connections, opened and kept open, never used (0)\n"
	        "  -d secs   measured window (5)\n"
	        "  -w secs   warmup before the window (1)\n"
	        "  -s bytes  message size (64)\n"
	        "  -C cpu    pin the load generator to this CPU\n"
	        "  -T secs   connection setup time limit (3)\n"
	        "  -P pid    server pid: report its CPU time per round trip and VmRSS\n"
	        "  -F/-A     perf stat --control fifos: counted, quiesced window\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct epoll_event evs[MAX_EVENTS];
	uint64_t t_setup0, t_warm = 0, t_setup_end = 0, t_edge = 0, now;
	double window_s;
	uint64_t rt_min = UINT64_MAX, rt_max = 0, oldest = 0, errors;
	int c, i, busy_ok = 0, idle_ok = 0;
	unsigned alarm_s;

	while ((c = getopt(argc, argv, "h:p:c:i:d:w:s:C:T:P:F:A:")) != -1) {
		switch (c) {
		case 'h': opt.host = optarg; break;
		case 'p': opt.port = atoi(optarg); break;
		case 'c': opt.busy = atoi(optarg); break;
		case 'i': opt.idle = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 's': opt.size = atoi(optarg); break;
		case 'C': opt.cpu = atoi(optarg); break;
		case 'T': opt.setup_timeout = atof(optarg); break;
		case 'P': opt.server_pid = atoi(optarg); break;
		case 'F': opt.ctl_path = optarg; break;
		case 'A': opt.ack_path = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || opt.port <= 0 || opt.port > 65535 || opt.busy < 0 || opt.idle < 0 ||
	    opt.busy + opt.idle <= 0 || opt.size <= 0 || opt.duration <= 0 || opt.warmup < 0 ||
	    opt.setup_timeout <= 0)
		usage();
	nconns = opt.busy + opt.idle;

	/* Normal worst case (server hangs): setup timeout + warmup + duration. The alarm is the
	 * backstop for anything else; with a control fifo add the bounded edge waits and acks. */
	alarm_s = (unsigned)(opt.setup_timeout + opt.warmup + opt.duration + 3.999 +
	                     (opt.ctl_path ? 10 : 0));
	{
		struct sigaction sa;   /* no SA_RESTART: the alarm must interrupt epoll_wait */
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_alarm;
		sigaction(SIGALRM, &sa, NULL);
	}
	alarm(alarm_s);
	signal(SIGPIPE, SIG_IGN);

	if (opt.cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((size_t)opt.cpu, &set);
		if (sched_setaffinity(0, sizeof set, &set) < 0)
			die("sched_setaffinity");
	}
	raise_nofile();
	{
		/* Never more connects in flight than half the server's accept queue can hold. */
		FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
		int somaxconn;
		if (f && fscanf(f, "%d", &somaxconn) == 1 && somaxconn / 2 < setup_window)
			setup_window = somaxconn / 2 > 8 ? somaxconn / 2 : 8;
		if (f)
			fclose(f);
	}

	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
		fprintf(stderr, "loadgen: bad IPv4 address '%s'\n", opt.host);
		return 2;
	}

	conns = calloc((size_t)nconns, sizeof *conns);
	wbuf = malloc((size_t)opt.size);
	rbuf = malloc((size_t)opt.size);
	if (!conns || !wbuf || !rbuf)
		die("malloc");
	for (i = 0; i < nconns; i++) {
		conns[i].fd = -1;
		/* Spread the busy connections evenly among the idle ones. */
		conns[i].busy = (uint64_t)(i + 1) * (uint64_t)opt.busy / (uint64_t)nconns !=
		                (uint64_t)i * (uint64_t)opt.busy / (uint64_t)nconns;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");

	/* perf opens CTL (read side) then ACK (write side); open in the same order. */
	if (opt.ctl_path) {
		ctl_fd = open(opt.ctl_path, O_WRONLY | O_CLOEXEC);
		if (ctl_fd < 0)
			die(opt.ctl_path);
	}
	if (opt.ack_path) {
		ack_fd = open(opt.ack_path, O_RDONLY | O_CLOEXEC);
		if (ack_fd < 0)
			die(opt.ack_path);
	}
	/* perf opens the fifos before it attaches to the target, and threads the server creates in
	 * between would be missed. perf answers commands only once attached: a first (no-op)
	 * "disable" waited for makes sure it is. */
	perf_ctl("disable\n");

	t_setup0 = now_ns();
	for (;;) {
		int timeout = 10, n;
		now = now_ns();
		if (deadline_hit) {
			/* Over time (a starved or stuck run): report what there is, as an error. */
			err.deadline++;
			if (phase != P_MEASURE && phase != P_DRAIN)
				begin_window();
			t_end = now_ns();
			self1 = self_cpu_ns();
			mach1 = machine_busy_ns();
			if (opt.server_pid > 0) {
				srv_cpu1 = proc_cpu_ns(opt.server_pid);
				rss_kb = proc_rss_kb(opt.server_pid);
			}
			break;
		}
		if (phase == P_SETUP) {
			setup_pump(now);
			if (settled == nconns || now - t_setup0 >= (uint64_t)(opt.setup_timeout * 1e9)) {
				/* Setup over: whatever did not finish is an error; start the clock. */
				for (i = 0; i < nconns; i++) {
					struct conn *k = &conns[i];
					if (k->state == C_CONNECTING || k->state == C_SETUP || k->state == C_FREE) {
						if (k->fd >= 0)
							close(k->fd);
						k->fd = -1;
						k->state = C_DEAD;
						err.setup_timeout++;
					}
				}
				t_setup_end = t_warm = now;
				t_meas = t_warm + (uint64_t)(opt.warmup * 1e9);
				t_end = t_meas + (uint64_t)(opt.duration * 1e9);
				phase = P_WARMUP;
				for (i = 0; i < nconns; i++)
					if (conns[i].state == C_READY) {
						conns[i].state = C_ACTIVE;
						conn_ping(&conns[i], now);
					}
				continue;
			}
		} else if (phase == P_WARMUP && now >= t_meas) {
			if (ctl_fd >= 0) {
				phase = P_QUIESCE;
				t_edge = now + EDGE_WAIT_NS;
				continue;
			}
			begin_window();
			continue;
		} else if (phase == P_QUIESCE && (outstanding == 0 || now >= t_edge)) {
			perf_ctl("enable\n");
			begin_window();
			now = now_ns();
			for (i = 0; i < nconns; i++)
				if (conns[i].state == C_ACTIVE && !conns[i].waiting)
					conn_ping(&conns[i], now);
			continue;
		} else if (phase == P_MEASURE && now >= t_end && ctl_fd >= 0) {
			phase = P_DRAIN;
			t_edge = now + EDGE_WAIT_NS;
			continue;
		} else if ((phase == P_MEASURE && now >= t_end) ||
		           (phase == P_DRAIN && (outstanding == 0 || now >= t_edge))) {
			t_end = now;
			self1 = self_cpu_ns();
			mach1 = machine_busy_ns();
			if (opt.server_pid > 0) {
				srv_cpu1 = proc_cpu_ns(opt.server_pid);
				rss_kb = proc_rss_kb(opt.server_pid);
			}
			perf_ctl("disable\n");
			break;
		}
		if (phase == P_WARMUP || phase == P_MEASURE) {
			uint64_t edge = phase == P_WARMUP ? t_meas : t_end;
			timeout = (int)((edge - now + 999999) / 1000000);
		}
		n = epoll_wait(epfd, evs, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++)
			on_event(&conns[evs[i].data.u32], evs[i].events, now_ns());
	}

	for (i = 0; i < nconns; i++) {
		struct conn *k = &conns[i];
		if (k->state == C_ACTIVE) {
			busy_ok++;
			if (k->window_rts < rt_min) rt_min = k->window_rts;
			if (k->window_rts > rt_max) rt_max = k->window_rts;
			if (k->waiting && (phase == P_DRAIN || t_end - k->t_send > STALL_NS))
				err.stalled++;
			if (k->waiting && t_end - k->t_send > oldest)
				oldest = t_end - k->t_send;
		} else if (k->state == C_IDLE) {
			idle_ok++;
		}
	}
	if (busy_ok == 0)
		rt_min = 0;
	errors = err.connect + err.closed + err.io + err.mismatch + err.setup_timeout +
	         err.stalled + err.unexpected + err.deadline;
	window_s = (double)(t_end - t_meas) / 1e9;
	if (window_s <= 0)
		window_s = 1e-9;

	printf("loadgen: %d busy + %d idle connections (%d+%d asked), %d-byte messages, setup %.2f s: "
	       "%.0f round trips/s over %.2f s, p50 %.1f us, p99 %.1f us, per-connection %llu..%llu; "
	       "errors %llu (connect %llu, closed %llu, io %llu, mismatch %llu, setup-timeout %llu, "
	       "stalled %llu, unexpected %llu, over time %llu)\n",
	       busy_ok, idle_ok, opt.busy, opt.idle, opt.size,
	       (double)(t_setup_end - t_setup0) / 1e9,
	       (double)rt_window / window_s, window_s, hist_percentile(0.50) / 1e3,
	       hist_percentile(0.99) / 1e3, (unsigned long long)rt_min, (unsigned long long)rt_max,
	       (unsigned long long)errors, (unsigned long long)err.connect,
	       (unsigned long long)err.closed, (unsigned long long)err.io,
	       (unsigned long long)err.mismatch, (unsigned long long)err.setup_timeout,
	       (unsigned long long)err.stalled, (unsigned long long)err.unexpected,
	       (unsigned long long)err.deadline);
	printf("RESULT rtt_per_sec=%.1f p50_us=%.1f p99_us=%.1f errors=%llu busy=%d idle=%d "
	       "stalled=%llu rt=%llu window_s=%.3f setup_s=%.3f conn_rt_min=%llu conn_rt_max=%llu "
	       "oldest_wait_ms=%.1f client_cpu_pct=%.1f",
	       (double)rt_window / window_s, hist_percentile(0.50) / 1e3,
	       hist_percentile(0.99) / 1e3, (unsigned long long)errors, busy_ok, idle_ok,
	       (unsigned long long)err.stalled,
	       (unsigned long long)rt_window, window_s, (double)(t_setup_end - t_setup0) / 1e9,
	       (unsigned long long)rt_min, (unsigned long long)rt_max, (double)oldest / 1e6,
	       100.0 * (self1 - self0) / ((double)(t_end - t_meas)));
	if (srv_cpu0 >= 0 && srv_cpu1 >= 0 && rt_window > 0)
		printf(" server_cpu_ns_per_rt=%.1f server_cpu_pct=%.1f",
		       (srv_cpu1 - srv_cpu0) / (double)rt_window,
		       100.0 * (srv_cpu1 - srv_cpu0) / (double)(t_end - t_meas));
	if (rss_kb >= 0)
		printf(" server_rss_kb=%ld", rss_kb);
	/* Everything else that ran: other processes, and interrupt time not charged to either. */
	if (mach0 >= 0 && mach1 >= 0 && srv_cpu0 >= 0 && srv_cpu1 >= 0)
		printf(" other_cpu_pct=%.1f",
		       100.0 * ((mach1 - mach0) - (srv_cpu1 - srv_cpu0) - (self1 - self0)) /
		       (double)(t_end - t_meas));
	printf("\n");
	fflush(stdout);
	return errors ? 1 : 0;
}
