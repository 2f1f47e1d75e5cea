/*
 * The benchmark's load generator for TLS handshakes and full IMAP sessions (bench/run.ts builds
 * it with `cc -O2 ... -lssl -lcrypto` and runs it). A C client, so that the generator is not
 * the bottleneck: per handshake it spends a fraction of what a proxy does, and its own CPU is
 * reported beside the proxy's so that its headroom is visible.
 *
 *   loadgen MODE PORT PROCS SECONDS MAXOPS [USER PASS]
 *
 * MODE   full13    TLS 1.3, no session offered (full handshake)
 *        full12    TLS 1.2, no session offered
 *        sessid12  TLS 1.2, tickets refused by the client: resumes by session ID
 *        ticket12  TLS 1.2, resumes with the ticket of the previous connection
 *        ticket13  TLS 1.3, resumes with the ticket of the previous connection
 *        imap      plaintext connect, greeting, STARTTLS, full TLS 1.3 handshake, LOGIN USER PASS,
 *                  LOGOUT (a full IMAP session)
 * A handshake operation is: connect, handshake, read the greeting line, close. PROCS processes
 * run one operation at a time each (PROCS concurrent operations), until SECONDS have passed or
 * MAXOPS operations were made in all. Everything is on 127.0.0.1; every read and write has a
 * 10 s timeout; a process stops after 50 failed operations.
 *
 * Prints one JSON line: {"ops","resumed","errors","wallMs","cpuMs","protocol","firstError"},
 * cpuMs being the CPU time (user + system) of the PROCS processes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum mode { FULL13, FULL12, SESSID12, TICKET12, TICKET13, IMAP };

struct tally {
  long ops, resumed, errors;
  int version;
  char first_error[160];
};

static enum mode mode;
static int port;
static const char *user = "user", *pass = "pass";

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int tcp_connect(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* A line reader over either the plain socket or the TLS connection. */
struct conn {
  int fd;
  SSL *ssl;
  char buf[8192];
  size_t len;
};

static int conn_read(struct conn *c) {
  if (c->len >= sizeof c->buf) c->len = 0; /* a line longer than the buffer: keep its tail only */
  /* ACK at once what arrives: a server that writes its reply in two segments without
   * TCP_NODELAY (nginx's mail module before it relays) would otherwise wait for our delayed ACK
   * (40 ms) and the rate would measure that wait instead of the server's capacity. */
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  int n = c->ssl ? SSL_read(c->ssl, c->buf + c->len, (int)(sizeof c->buf - c->len))
                 : (int)read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
  if (n <= 0) return -1;
  c->len += (size_t)n;
  return 0;
}

/* Reads lines until one starts with `prefix` (consumed with everything before it). Returns 1 when
 * that line also starts with `ok`, 0 when not, -1 on a read error or close. */
static int read_until(struct conn *c, const char *prefix, const char *ok) {
  size_t pl = strlen(prefix);
  for (;;) {
    char *start = c->buf, *nl;
    while ((nl = memchr(start, '\n', c->len - (size_t)(start - c->buf))) != NULL) {
      int match = (size_t)(nl - start) >= pl && memcmp(start, prefix, pl) == 0;
      int good = match && (size_t)(nl - start) >= strlen(ok) && memcmp(start, ok, strlen(ok)) == 0;
      start = nl + 1;
      if (match) {
        c->len -= (size_t)(start - c->buf);
        memmove(c->buf, start, c->len);
        return good;
      }
    }
    c->len -= (size_t)(start - c->buf);
    memmove(c->buf, start, c->len);
    if (conn_read(c) < 0) return -1;
  }
}

static int conn_write(struct conn *c, const char *s) {
  int n = (int)strlen(s);
  return (c->ssl ? SSL_write(c->ssl, s, n) : (int)write(c->fd, s, (size_t)n)) == n ? 0 : -1;
}

static void note(struct tally *t, const char *what) {
  if (t->first_error[0]) return;
  unsigned long e = ERR_peek_error();
  snprintf(t->first_error, sizeof t->first_error, "%s (errno %d%s%s)", what, errno, e ? ", " : "", e ? ERR_reason_error_string(e) : "");
}

/* One operation. `session` in: the session to offer (or NULL); out: the one to offer next. */
static int one(SSL_CTX *ctx, SSL_SESSION **session, struct tally *t, int *reused) {
  struct conn c = {.fd = tcp_connect()};
  int rc = -1;
  if (c.fd < 0) {
    note(t, "connect");
    return -1;
  }
  if (mode == IMAP) {
    if (read_until(&c, "* OK", "* OK") != 1) goto fail_plain;
    if (conn_write(&c, "s STARTTLS\r\n") < 0 || read_until(&c, "s ", "s OK") != 1) goto fail_plain;
  }
  c.ssl = SSL_new(ctx);
  SSL_set_fd(c.ssl, c.fd);
  if (*session) SSL_set_session(c.ssl, *session);
  if (SSL_connect(c.ssl) != 1) {
    note(t, "handshake");
    goto out;
  }
  if (mode == IMAP) {
    char login[256];
    snprintf(login, sizeof login, "l LOGIN %s %s\r\n", user, pass);
    if (conn_write(&c, login) < 0 || read_until(&c, "l ", "l OK") != 1) {
      note(t, "LOGIN");
      goto out;
    }
    if (conn_write(&c, "o LOGOUT\r\n") < 0 || read_until(&c, "o ", "o OK") != 1) {
      note(t, "LOGOUT");
      goto out;
    }
  } else if (read_until(&c, "* OK", "* OK") != 1) { /* the greeting; TLS 1.3 tickets come before it */
    note(t, "greeting");
    goto out;
  }
  *reused = SSL_session_reused(c.ssl);
  t->version = SSL_version(c.ssl);
  if (mode == SESSID12 || mode == TICKET12 || mode == TICKET13) {
    SSL_SESSION *next = SSL_get1_session(c.ssl);
    if (*session) SSL_SESSION_free(*session);
    *session = next;
  }
  rc = 0;
out:
  /* Close without close_notify, as a client that is done does; keep the session resumable. */
  SSL_set_shutdown(c.ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(c.ssl);
  close(c.fd);
  return rc;
fail_plain:
  note(t, "IMAP before STARTTLS");
  close(c.fd);
  return -1;
}

static void child(int out, double deadline, long maxops) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  int v = (mode == FULL12 || mode == SESSID12 || mode == TICKET12) ? TLS1_2_VERSION : TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(ctx, v);
  SSL_CTX_set_max_proto_version(ctx, v);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  if (mode == SESSID12) SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  struct tally t = {0};
  SSL_SESSION *session = NULL;
  int reused = 0;
  int resume = mode == SESSID12 || mode == TICKET12 || mode == TICKET13;
  if (resume && one(ctx, &session, &t, &reused) < 0) t.errors++; /* priming: not counted */
  while (now_ms() < deadline && t.ops < maxops && t.errors < 50) {
    if (one(ctx, &session, &t, &reused) < 0) {
      t.errors++;
      continue;
    }
    t.ops++;
    if (reused) t.resumed++;
  }
  if (write(out, &t, sizeof t) != sizeof t) _exit(3);
  _exit(0);
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: loadgen full13|full12|sessid12|ticket12|ticket13|imap PORT PROCS SECONDS MAXOPS [USER PASS]\n");
    return 2;
  }
  const char *m = argv[1];
  mode = !strcmp(m, "full13") ? FULL13 : !strcmp(m, "full12") ? FULL12 : !strcmp(m, "sessid12") ? SESSID12
       : !strcmp(m, "ticket12") ? TICKET12 : !strcmp(m, "ticket13") ? TICKET13 : !strcmp(m, "imap") ? IMAP : -1;
  if ((int)mode < 0) {
    fprintf(stderr, "loadgen: unknown mode %s\n", m);
    return 2;
  }
  port = atoi(argv[2]);
  int procs = atoi(argv[3]);
  double seconds = atof(argv[4]);
  long maxops = atol(argv[5]);
  if (argc >= 8) user = argv[6], pass = argv[7];
  if (port <= 0 || procs <= 0 || procs > 256 || seconds <= 0 || seconds > 600 || maxops <= 0) {
    fprintf(stderr, "loadgen: bad arguments\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  double start = now_ms(), deadline = start + seconds * 1e3;
  int fds[256];
  pid_t pids[256];
  for (int i = 0; i < procs; i++) {
    int p[2];
    if (pipe(p) < 0) return 1;
    pids[i] = fork();
    if (pids[i] == 0) {
      close(p[0]);
      child(p[1], deadline, (maxops + procs - 1) / procs);
    }
    close(p[1]);
    fds[i] = p[0];
  }
  struct tally sum = {0};
  for (int i = 0; i < procs; i++) {
    struct tally t;
    if (read(fds[i], &t, sizeof t) == sizeof t) {
      sum.ops += t.ops, sum.resumed += t.resumed, sum.errors += t.errors;
      if (t.version) sum.version = t.version;
      if (!sum.first_error[0] && t.first_error[0]) memcpy(sum.first_error, t.first_error, sizeof t.first_error);
    } else {
      sum.errors += 50;
    }
    close(fds[i]);
    waitpid(pids[i], NULL, 0);
  }
  double wall = now_ms() - start;
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  double cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  const char *proto = sum.version == TLS1_3_VERSION ? "TLSv1.3" : sum.version == TLS1_2_VERSION ? "TLSv1.2" : "";
  for (char *q = sum.first_error; *q; q++)
    if (*q == '"' || *q == '\\') *q = '\'';
  printf("{\"ops\":%ld,\"resumed\":%ld,\"errors\":%ld,\"wallMs\":%.1f,\"cpuMs\":%.1f,\"protocol\":\"%s\",\"firstError\":\"%s\"}\n",
         sum.ops, sum.resumed, sum.errors, wall, cpu, proto, sum.first_error);
  return 0;
}
