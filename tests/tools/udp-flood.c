// Sends COUNT UDP datagrams to 127.0.0.1:PORT with sendmmsg, from a socket bound to an
// ephemeral loopback port that it prints first. Aimed at a closed port, the kernel drops every
// datagram (SKB_DROP_REASON_NO_SOCKET): the producer for drop tests and benchmarks.
// The socket is unconnected and has no IP_RECVERR, so ICMP port-unreachable never fails a send.
// Usage: udp-flood PORT COUNT [DEST]   (DEST defaults to 127.0.0.1)
//        → prints "sport=<port>" then "sent=<count>"
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 64

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: %s PORT COUNT [DEST]\n", argv[0]);
		return 2;
	}
	int port = atoi(argv[1]);
	long count = atol(argv[2]);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	const char *dest = argc == 4 ? argv[3] : "127.0.0.1";
	if (inet_pton(AF_INET, dest, &to.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", dest);
		return 2;
	}
	/* loopback traffic comes from loopback; anything else from the routed source address */
	struct sockaddr_in from = { .sin_family = AF_INET };
	if (argc == 3)
		inet_pton(AF_INET, "127.0.0.1", &from.sin_addr);
	socklen_t fromlen = sizeof(from);
	if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(from)) ||
	    getsockname(fd, (struct sockaddr *)&from, &fromlen)) {
		perror("socket");
		return 1;
	}
	printf("sport=%d\n", ntohs(from.sin_port));
	fflush(stdout);
	char payload[32] = "kpulse-bench";
	struct iovec iov = { payload, sizeof(payload) };
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_name = &to;
		msgs[i].msg_hdr.msg_namelen = sizeof(to);
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	long sent = 0;
	while (sent < count) {
		int n = count - sent < BATCH ? (int)(count - sent) : BATCH;
		int r = sendmmsg(fd, msgs, n, 0);
		if (r < 0) { perror("sendmmsg"); return 1; }
		sent += r;
	}
	printf("sent=%ld\n", sent);
	return 0;
}
