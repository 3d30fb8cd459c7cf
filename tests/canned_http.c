/* canned_http.c - a deliberately plain HTTP peer for the client tests: listens on a free
   loopback port, prints "listening on 127.0.0.1:PORT", and answers each of COUNT connections by
   reading up to the end of the request head and then writing the bytes of FILE verbatim (so a
   test can send interim responses, header lines of any length, or nonsense) and closing.
   Exits after COUNT connections, or after 30 seconds whatever happens.

       usage: canned_http FILE [COUNT]       (COUNT defaults to 1) */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    static char answer[1 << 20];
    char head[65536];
    size_t alen;
    long count = argc > 2 ? strtol(argv[2], NULL, 10) : 1;
    struct sockaddr_in sa;
    socklen_t salen = sizeof sa;
    FILE *f;
    int lfd, one = 1;
    if (argc < 2 || count < 1) {
        fprintf(stderr, "usage: canned_http FILE [COUNT]\n");
        return 2;
    }
    if (!(f = fopen(argv[1], "rb"))) {
        perror(argv[1]);
        return 2;
    }
    alen = fread(answer, 1, sizeof answer, f);
    fclose(f);
    signal(SIGPIPE, SIG_IGN);
    alarm(30);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 16) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0) {
        perror("canned_http: listen");
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", ntohs(sa.sin_port));
    fflush(stdout);
    while (count-- > 0) {
        size_t have = 0, off = 0;
        int c = accept(lfd, NULL, NULL);
        if (c < 0) return 1;
        while (have < sizeof head - 1) { /* up to the empty line that ends the request head */
            ssize_t n = read(c, head + have, sizeof head - 1 - have);
            if (n <= 0) break;
            have += (size_t)n;
            head[have] = 0;
            if (strstr(head, "\r\n\r\n")) break;
        }
        while (off < alen) {
            ssize_t n = write(c, answer + off, alen - off);
            if (n <= 0) break;
            off += (size_t)n;
        }
        shutdown(c, SHUT_WR);
        while (read(c, head, sizeof head) > 0) /* until the client has read it all and closed */
            ;
        close(c);
    }
    return 0;
}
