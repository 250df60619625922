// TCP resets on demand, for the tcpreset probe's tests. Every client binds an ephemeral port
// first and prints it ("sport=<port>") so the test can find its own resets. ADDR is an IPv4 or
// an IPv6 address.
//
//   tcpreset listen ADDR PORT hold|close SECONDS
//       listen on ADDR:PORT, print "listening"; accept connections and keep them open until the
//       peer goes (hold) or close each at once (close); exit after SECONDS
//   tcpreset refused ADDR PORT     connect to a port nobody listens on: the peer's stack answers
//                                  with a reset (no socket); prints "refused" on ECONNREFUSED
//   tcpreset linger ADDR PORT      connect, set SO_LINGER {on, 0}, close: an abortive close
//   tcpreset late-write ADDR PORT  connect, wait for the peer's FIN, then write: the closed peer
//                                  answers the data with a reset; prints "reset" on ECONNRESET/EPIPE
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>

static int usage(const char *argv0)
{
	fprintf(stderr, "usage: %s listen ADDR PORT hold|close SECONDS | refused|linger|late-write ADDR PORT\n", argv0);
	return 2;
}

/* An IPv4 or IPv6 address (by its form) and a port. */
static struct sockaddr_storage address(const char *addr, int port, socklen_t *len)
{
	struct sockaddr_storage a = {};
	struct sockaddr_in *v4 = (struct sockaddr_in *)&a;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a;

	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		*len = sizeof(*v4);
	} else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		*len = sizeof(*v6);
	} else {
		fprintf(stderr, "bad address %s\n", addr);
		exit(2);
	}
	return a;
}

/* A socket bound to an ephemeral port (kept even when connect fails), its port printed. */
static int client(int family)
{
	struct sockaddr_storage me = { .ss_family = family };
	socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int fd = socket(family, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&me, len) || getsockname(fd, (struct sockaddr *)&me, &len)) {
		perror("socket");
		exit(1);
	}
	printf("sport=%d\n", ntohs(((struct sockaddr_in *)&me)->sin_port)); /* same offset in sockaddr_in6 */
	fflush(stdout);
	return fd;
}

static int serve(struct sockaddr_storage a, socklen_t alen, int hold, int seconds)
{
	int one = 1, fd = socket(a.ss_family, SOCK_STREAM, 0);
	struct pollfd fds[65];
	int n = 1;
	time_t end = time(NULL) + seconds;

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, alen) || listen(fd, 64)) {
		perror("listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	fds[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
	while (time(NULL) < end) {
		if (poll(fds, n, 100) <= 0)
			continue;
		if (fds[0].revents & POLLIN) {
			int c = accept(fd, NULL, NULL);

			if (c >= 0 && (!hold || n == 65))
				close(c);
			else if (c >= 0)
				fds[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
		}
		for (int i = 1; i < n; i++) {
			char buf[512];

			if (!(fds[i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			if (read(fds[i].fd, buf, sizeof(buf)) <= 0) {
				close(fds[i].fd);
				fds[i--] = fds[--n];
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return usage(argv[0]);
	const char *mode = argv[1];
	socklen_t plen;
	struct sockaddr_storage peer = address(argv[2], atoi(argv[3]), &plen);

	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(mode, "listen")) {
		if (argc != 6 || (strcmp(argv[4], "hold") && strcmp(argv[4], "close")))
			return usage(argv[0]);
		return serve(peer, plen, !strcmp(argv[4], "hold"), atoi(argv[5]));
	}
	if (argc != 4)
		return usage(argv[0]);
	int fd = client(peer.ss_family);
	int rc = connect(fd, (struct sockaddr *)&peer, plen);

	if (!strcmp(mode, "refused")) {
		if (rc == 0 || errno != ECONNREFUSED) {
			fprintf(stderr, "connect: expected ECONNREFUSED, got %s\n", rc == 0 ? "success" : strerror(errno));
			return 1;
		}
		printf("refused\n");
		return 0;
	}
	if (rc) {
		perror("connect");
		return 1;
	}
	if (!strcmp(mode, "linger")) {
		struct linger l = { .l_onoff = 1, .l_linger = 0 };

		if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l))) {
			perror("SO_LINGER");
			return 1;
		}
		close(fd);
		printf("closed\n");
		return 0;
	}
	if (!strcmp(mode, "late-write")) {
		char buf[64];
		struct pollfd p = { .fd = fd, .events = POLLIN };

		/* the peer's FIN: read returns 0 */
		if (poll(&p, 1, 5000) != 1 || read(fd, buf, sizeof(buf)) != 0) {
			fprintf(stderr, "no FIN from the peer\n");
			return 1;
		}
		if (write(fd, "late", 4) != 4) {
			perror("write");
			return 1;
		}
		/* the reset arrives: a later write fails */
		for (int i = 0; i < 50; i++) {
			if (write(fd, "x", 1) < 0 && (errno == EPIPE || errno == ECONNRESET)) {
				printf("reset\n");
				return 0;
			}
			poll(&p, 1, 100);
		}
		fprintf(stderr, "no reset from the peer\n");
		return 1;
	}
	return usage(argv[0]);
}
