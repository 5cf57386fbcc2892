/*
 * range-driver: the HTTP/2 load generator of benchmarks (a) and (b) in `npm run bench`.
 *
 * Its job: keep `connections x streams` GET requests in flight against one URL, each asking
 * for `range-bytes` bytes at a NEW random offset (a seeded PRNG, uniform over
 * [0, file-bytes - range-bytes]), for a fixed time, and report requests/s, MB/s and
 * latency percentiles as one JSON object on stdout. h2load can only send one fixed Range
 * header per run, and a Node client competes with the server for the machine's CPU; this
 * driver is one thread, non-blocking sockets on epoll, libnghttp2 for HTTP/2 framing and
 * OpenSSL for TLS, so it costs little CPU.
 *
 * It is also a correctness check. Every 206 must carry exactly the Content-Range that was
 * asked for and exactly that many body bytes. With --verify-salt, every body byte is compared
 * with the bench files' "offset encoding" (test/support/fixtures.ts, expectedBytes): each
 * 8-byte word at file offset W (a multiple of 8) holds W XOR salt as a big-endian 64-bit
 * integer. Corrupt bytes are counted and the first one is reported (stream and offset).
 *
 *   range-driver --url https://127.0.0.1:8443/media/bench-a.bin --file-bytes 67108864 \
 *     --range-bytes 65536 --connections 20 --streams 10 --duration-ms 12000 \
 *     --warmup-ms 1000 --seed 9 [--verify-salt 0xb1]
 *
 * https:// URLs: TLS with ALPN h2 (the certificate is NOT verified: this is a loopback bench
 * tool). http:// URLs: cleartext HTTP/2 with prior knowledge (h2c).
 *
 * Counting. The run is warm-up, then the measured window, then it stops (requests still in
 * flight are abandoned and reported as inFlightAtEnd). Request counters, bodyBytes, statuses,
 * rates and latency cover requests that COMPLETED in the measured window; `warmup` holds the
 * same counters for the warm-up. Connection events (resets, goaways, reconnects,
 * connectionErrors) and verification (verifiedBytes, corruptBytes, firstCorrupt) cover the
 * whole run. A request "succeeded" when it got 206, the exact Content-Range, every body byte,
 * no corrupt byte, and its stream closed without error; latency (submit -> last byte) is
 * recorded for those. A stream the server never processed (above the last-stream-id of a
 * GOAWAY) is counted as `unprocessed`, not as a request. On a GOAWAY the connection finishes
 * its remaining streams while a replacement connection opens at once; on a connection error
 * the connection is replaced (after 100 ms when it never got any response), so the run is
 * bounded by time, never by errors.
 *
 * Exit status: 0 after a run (the JSON says how it went), 1 when the target cannot be reached
 * at all or does not speak h2, 2 for a usage error.
 *
 * Build: bench/driver/build.sh (cc -O2, libnghttp2, libssl, libcrypto).
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* nghttp2 1.61 added nghttp2_ssize variants and deprecated the ssize_t ones; use whichever
 * the installed headers recommend, so neither old Debian nor new releases warn. */
#if NGHTTP2_VERSION_NUM >= 0x013d00
#define h2_mem_recv nghttp2_session_mem_recv2
#define h2_mem_send nghttp2_session_mem_send2
#define h2_submit_request nghttp2_submit_request2
#else
#define h2_mem_recv nghttp2_session_mem_recv
#define h2_mem_send nghttp2_session_mem_send
#define h2_submit_request nghttp2_submit_request
#endif

/* HTTP/2 receive windows we advertise: large, so flow control never limits a 1 MiB range
 * (the same figures as the Node driver, bench/workloads/range-load.ts). */
#define STREAM_WINDOW_BYTES (16 * 1024 * 1024)
#define CONNECTION_WINDOW_BYTES (64 * 1024 * 1024)
#define READ_BUFFER_BYTES (256 * 1024)
#define SEND_GATHER_BYTES (16 * 1024)      /* collect this much of nghttp2's output per write */
#define RECONNECT_AFTER_FAILURE_S 0.1      /* delay before replacing a connection that got nothing */
#define MAX_ERROR_MESSAGES 5               /* connection errors printed to stderr, then counted */
#define PROBE_TIMEOUT_MS 3000

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                    */

typedef struct {
  const char *url;
  bool tls;
  char host[256];      /* for getaddrinfo and SNI (no brackets) */
  char port[16];
  char authority[300]; /* :authority, as written in the URL */
  char path[4096];     /* :path, with the query */
  uint64_t file_bytes;
  uint64_t range_bytes;
  int connections;
  int streams;
  uint64_t duration_ms;
  uint64_t warmup_ms;
  uint64_t seed;
  bool verify;
  uint64_t salt;
} options_t;

static options_t opt;

/* "nghttp2/1.52.0, OpenSSL 3.0.19 ...": the libraries this binary runs with. */
static const char *library_versions(void) {
  static char text[160];
  snprintf(text, sizeof text, "nghttp2/%s, %s", nghttp2_version(0)->version_str, OpenSSL_version(OPENSSL_VERSION));
  return text;
}

static void usage(FILE *to) {
  fprintf(to,
          "usage: range-driver --url URL --file-bytes N --range-bytes N [options]\n"
          "  --url URL            https://host:port/path (TLS, ALPN h2) or http:// (h2c prior knowledge)\n"
          "  --file-bytes N       size of the file behind URL\n"
          "  --range-bytes N      bytes per request (range bytes=S-(S+N-1), S random)\n"
          "  --connections N      connections (default 10)\n"
          "  --streams N          requests in flight per connection (default 4)\n"
          "  --duration-ms N      measured time (default 10000)\n"
          "  --warmup-ms N        time before measuring (default 1000)\n"
          "  --seed N             PRNG seed for the offsets (default 9)\n"
          "  --verify-salt N      check every body byte against the offset encoding with this salt\n"
          "  --version            print the driver's and its libraries' versions\n"
          "One JSON object on stdout; messages on stderr. Exit 0 after a run, 1 when the target\n"
          "is unreachable or not h2, 2 for a usage error.\n");
}

static void usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("range-driver: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  usage(stderr);
  exit(2);
}

static uint64_t parse_u64(const char *name, const char *text, uint64_t min, uint64_t max) {
  char *end = NULL;
  errno = 0;
  if (text[0] == '-') usage_error("%s must not be negative: %s", name, text);
  unsigned long long v = strtoull(text, &end, 0);
  if (errno || end == text || *end != '\0') usage_error("%s is not a number: %s", name, text);
  if (v < min || v > max) usage_error("%s must be in [%" PRIu64 ", %" PRIu64 "]: %s", name, min, max, text);
  return (uint64_t)v;
}

/* Splits scheme://host[:port]/path?query; IPv6 literals in brackets. */
static void parse_url(const char *url) {
  const char *rest;
  if (strncmp(url, "https://", 8) == 0) {
    opt.tls = true;
    rest = url + 8;
  } else if (strncmp(url, "http://", 7) == 0) {
    opt.tls = false;
    rest = url + 7;
  } else {
    usage_error("--url must start with https:// or http://: %s", url);
  }
  const char *slash = strchr(rest, '/');
  size_t alen = slash ? (size_t)(slash - rest) : strlen(rest);
  if (alen == 0 || alen >= sizeof opt.authority) usage_error("bad host in --url: %s", url);
  memcpy(opt.authority, rest, alen);
  opt.authority[alen] = '\0';
  snprintf(opt.path, sizeof opt.path, "%s", slash ? slash : "/");

  const char *host = opt.authority;
  const char *port = NULL;
  size_t hlen;
  if (host[0] == '[') {
    const char *close = strchr(host, ']');
    if (!close) usage_error("bad IPv6 literal in --url: %s", url);
    host++;
    hlen = (size_t)(close - host);
    if (close[1] == ':') port = close + 2;
    else if (close[1] != '\0') usage_error("bad authority in --url: %s", url);
  } else {
    const char *colon = strchr(host, ':');
    hlen = colon ? (size_t)(colon - host) : strlen(host);
    if (colon) port = colon + 1;
  }
  if (hlen == 0 || hlen >= sizeof opt.host) usage_error("bad host in --url: %s", url);
  memcpy(opt.host, host, hlen);
  opt.host[hlen] = '\0';
  if (port && *port) {
    parse_u64("port", port, 1, 65535);
    snprintf(opt.port, sizeof opt.port, "%s", port);
  } else {
    snprintf(opt.port, sizeof opt.port, "%s", opt.tls ? "443" : "80");
  }
}

static void parse_options(int argc, char **argv) {
  static const struct option longs[] = {
      {"url", required_argument, NULL, 'u'},          {"file-bytes", required_argument, NULL, 'f'},
      {"range-bytes", required_argument, NULL, 'r'},  {"connections", required_argument, NULL, 'c'},
      {"streams", required_argument, NULL, 'm'},      {"duration-ms", required_argument, NULL, 'd'},
      {"warmup-ms", required_argument, NULL, 'w'},    {"seed", required_argument, NULL, 's'},
      {"verify-salt", required_argument, NULL, 'v'},  {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},            {NULL, 0, NULL, 0},
  };
  opt.connections = 10;
  opt.streams = 4;
  opt.duration_ms = 10000;
  opt.warmup_ms = 1000;
  opt.seed = 9;
  int ch;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (ch) {
      case 'u': opt.url = optarg; break;
      case 'f': opt.file_bytes = parse_u64("--file-bytes", optarg, 1, UINT64_MAX / 2); break;
      case 'r': opt.range_bytes = parse_u64("--range-bytes", optarg, 1, UINT64_MAX / 2); break;
      case 'c': opt.connections = (int)parse_u64("--connections", optarg, 1, 10000); break;
      case 'm': opt.streams = (int)parse_u64("--streams", optarg, 1, 10000); break;
      case 'd': opt.duration_ms = parse_u64("--duration-ms", optarg, 1, 24ULL * 3600 * 1000); break;
      case 'w': opt.warmup_ms = parse_u64("--warmup-ms", optarg, 0, 24ULL * 3600 * 1000); break;
      case 's': opt.seed = parse_u64("--seed", optarg, 0, UINT64_MAX); break;
      case 'v':
        opt.verify = true;
        opt.salt = parse_u64("--verify-salt", optarg, 0, UINT64_MAX);
        break;
      case 'h': usage(stdout); exit(0);
      case 'V': printf("range-driver (%s)\n", library_versions()); exit(0);
      default: usage_error("unknown or incomplete option: %s", argv[optind - 1]);
    }
  }
  if (optind < argc) usage_error("unexpected argument: %s", argv[optind]);
  if (!opt.url) usage_error("--url is required");
  if (!opt.file_bytes) usage_error("--file-bytes is required");
  if (!opt.range_bytes) usage_error("--range-bytes is required");
  if (opt.range_bytes > opt.file_bytes) usage_error("--range-bytes is larger than --file-bytes");
  parse_url(opt.url);
}

/* ------------------------------------------------------------------------------------------ */
/* Clock, PRNG, offset encoding, latency histogram                                           */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: small, fast, good enough to spread offsets; the same seed gives the same offsets. */
static uint64_t prng_state;
static uint64_t prng_next(void) {
  uint64_t z = (prng_state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias (rejects the top partial block). */
static uint64_t prng_below(uint64_t n) {
  uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
  uint64_t x;
  do x = prng_next();
  while (x >= limit);
  return x % n;
}

/* The byte the bench file holds at `offset`: word W = offset rounded down to 8, stored as
 * (W XOR salt) big-endian; byte k of the word is bits 63-8k .. 56-8k. */
static uint8_t expected_byte(uint64_t offset) {
  uint64_t word = (offset & ~(uint64_t)7) ^ opt.salt;
  return (uint8_t)(word >> (8 * (7 - (offset & 7))));
}

/* Counts the bytes of data[0..n) (file offsets offset..) that differ from the encoding; sets
 * *first_bad to the index of the first one (or n). Compares whole aligned words at a time. */
static uint64_t count_corrupt(const uint8_t *data, size_t n, uint64_t offset, size_t *first_bad) {
  uint64_t bad = 0;
  size_t i = 0;
  *first_bad = n;
  for (; i < n && ((offset + i) & 7) != 0; i++) {
    if (data[i] != expected_byte(offset + i)) {
      if (*first_bad == n) *first_bad = i;
      bad++;
    }
  }
  /* Aligned 64-byte blocks: XOR each word with what it should be and OR the results, with no
   * branch inside the block (the compiler can vectorize it); look closer only when non-zero. */
  for (; i + 64 <= n; i += 64) {
    uint64_t diff = 0;
    for (size_t w = 0; w < 64; w += 8) {
      uint64_t got;
      memcpy(&got, data + i + w, 8);
      diff |= got ^ htobe64((offset + i + w) ^ opt.salt);
    }
    if (diff == 0) continue;
    for (size_t k = 0; k < 64; k++) {
      if (data[i + k] != expected_byte(offset + i + k)) {
        if (*first_bad == n) *first_bad = i + k;
        bad++;
      }
    }
  }
  for (; i < n; i++) {
    if (data[i] != expected_byte(offset + i)) {
      if (*first_bad == n) *first_bad = i;
      bad++;
    }
  }
  return bad;
}

/* Latency histogram in microseconds, log-linear: values below 128 us exactly, above that 64
 * buckets per power of two (under 1.6% error), up to about 2^40 us. */
#define HIST_SUB 64
#define HIST_BUCKETS (2 * HIST_SUB + 40 * HIST_SUB)
static uint64_t hist[HIST_BUCKETS];
static uint64_t hist_count;
static uint64_t hist_max_us;

static int hist_index(uint64_t us) {
  if (us < 2 * HIST_SUB) return (int)us;
  int shift = 63 - __builtin_clzll(us) - 6; /* us >> shift is in [64, 128) */
  int idx = 2 * HIST_SUB + (shift - 1) * HIST_SUB + (int)((us >> shift) - HIST_SUB);
  return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* The middle of bucket idx, in microseconds. */
static double hist_value(int idx) {
  if (idx < 2 * HIST_SUB) return idx;
  int shift = (idx - 2 * HIST_SUB) / HIST_SUB + 1;
  uint64_t low = (uint64_t)(HIST_SUB + (idx - 2 * HIST_SUB) % HIST_SUB) << shift;
  return (double)low + (double)(1ULL << shift) / 2.0;
}

static void hist_record(double seconds) {
  uint64_t us = seconds <= 0 ? 0 : (uint64_t)(seconds * 1e6 + 0.5);
  hist[hist_index(us)]++;
  hist_count++;
  if (us > hist_max_us) hist_max_us = us;
}

static double hist_percentile_ms(double p) {
  if (hist_count == 0) return 0;
  uint64_t rank = (uint64_t)(p / 100.0 * (double)hist_count + 0.999999);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < HIST_BUCKETS; i++) {
    seen += hist[i];
    if (seen >= rank) {
      double v = hist_value(i);
      if (v > (double)hist_max_us) v = (double)hist_max_us;
      return v / 1000.0;
    }
  }
  return (double)hist_max_us / 1000.0;
}

/* ------------------------------------------------------------------------------------------ */
/* Counters                                                                                   */

typedef struct {
  uint64_t requests, succeeded, non206, failed, body_bytes;
  uint64_t bad_content_range, wrong_length, stream_errors, lost_with_connection;
} request_counts;

static request_counts measured, warmup;
static uint64_t status_counts[600]; /* measured window, by status code */
static uint64_t unprocessed, resets, goaways, goaway_errors, reconnects, connection_errors;
static uint64_t verified_bytes, corrupt_bytes, corrupt_streams, in_flight_at_end;
static bool have_first_corrupt;
static struct {
  int connection;
  int32_t stream_id;
  uint64_t offset;
  uint8_t expected, got;
} first_corrupt;

enum phase { WARMUP, MEASURING, DONE };
static enum phase phase;

/* ------------------------------------------------------------------------------------------ */
/* Connections and requests                                                                   */

typedef struct conn conn;

typedef struct request {
  conn *c;
  struct request *prev, *next; /* the connection's requests in flight */
  int32_t stream_id;
  uint64_t start, length;      /* the range asked for */
  uint64_t received;           /* body bytes so far */
  uint64_t body_offset;        /* file offset of the first body byte, from Content-Range */
  uint64_t corrupt;
  double submitted_at;
  int status;
  bool range_ok;               /* Content-Range is exactly "bytes start-end/file-bytes" */
  bool verify_body;            /* a 206 with a parseable Content-Range: check its bytes */
  bool reset_by_peer;          /* RST_STREAM received */
} request;

enum conn_state { C_CONNECTING, C_HANDSHAKE, C_READY, C_DEAD };

struct conn {
  int slot;                 /* which of the --connections this is (or was, when draining) */
  int fd;
  SSL *ssl;
  nghttp2_session *h2;
  enum conn_state state;
  bool draining;            /* GOAWAY received: no new requests, close once empty */
  int32_t goaway_last_id;   /* the GOAWAY's last-stream-id: streams above it were never processed */
  uint32_t events;          /* what epoll watches now */
  request *head;            /* requests in flight */
  int inflight;
  uint64_t responses;       /* response heads received: did this connection ever work? */
  uint8_t *out;             /* bytes from nghttp2 not yet written */
  size_t out_len, out_off, out_cap;
  conn *prev_all, *next_all; /* in all_conns; next_all also links the dead list */
};

static int epfd = -1;
static SSL_CTX *ssl_ctx;
static nghttp2_session_callbacks *callbacks;
static struct sockaddr_storage target_addr;
static socklen_t target_len;
static conn *all_conns;        /* every open connection, active or draining */
static conn **active;          /* per slot: the connection that gets new requests */
static double *reconnect_at;   /* per slot: when to open a replacement (0: none pending) */
static conn *dead_conns;       /* closed in this event batch; freed after it */
static int errors_printed;

static void note_error(const char *fmt, ...) {
  if (errors_printed >= MAX_ERROR_MESSAGES) return;
  errors_printed++;
  va_list ap;
  va_start(ap, fmt);
  fputs("range-driver: ", stderr);
  vfprintf(stderr, fmt, ap);
  if (errors_printed == MAX_ERROR_MESSAGES) fputs(" (further connection errors only counted)", stderr);
  fputc('\n', stderr);
  va_end(ap);
}

static request_counts *counts_now(void) {
  return phase == MEASURING ? &measured : phase == WARMUP ? &warmup : NULL;
}

static void unlink_request(request *r) {
  conn *c = r->c;
  if (r->prev) r->prev->next = r->next;
  else c->head = r->next;
  if (r->next) r->next->prev = r->prev;
  c->inflight--;
}

/* Whether the server never processed this stream: above the last-stream-id of its GOAWAY. */
static bool never_processed(const request *r) {
  return r->c->draining && r->status == 0 && !r->reset_by_peer && r->stream_id > r->c->goaway_last_id;
}

/* A stream ended (or its connection did): classify it, then free it. */
static void finish_request(request *r, uint32_t error_code, bool connection_lost) {
  request_counts *k = counts_now();
  unlink_request(r);
  if (never_processed(r)) {
    unprocessed++; /* not a request: the slot asks again on the replacement connection */
  } else if (k) {
    k->requests++;
    k->body_bytes += r->received;
    if (k == &measured && r->status > 0 && r->status < 600) status_counts[r->status]++;
    bool complete = r->received == r->length;
    if (r->status == 206 && r->range_ok && complete && r->corrupt == 0 && error_code == NGHTTP2_NO_ERROR && !connection_lost) {
      k->succeeded++;
      if (k == &measured) hist_record(now_s() - r->submitted_at);
    } else if (r->status != 0 && r->status != 206) {
      k->non206++;
    } else {
      k->failed++;
      if (connection_lost) k->lost_with_connection++;
      else if (error_code != NGHTTP2_NO_ERROR) k->stream_errors++;
      else if (r->status == 206 && !r->range_ok) k->bad_content_range++;
      else if (!complete) k->wrong_length++;
    }
  }
  free(r);
}

static void set_events(conn *c, uint32_t events) {
  if (c->events == events) return;
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->events = events;
}

/* Closes a connection. `clean`: it ended normally (drained after a GOAWAY, or the run is over);
 * otherwise it is a connection error and its requests in flight are lost. A slot's active
 * connection is replaced unless the run is over. */
static void conn_close(conn *c, bool clean, const char *why) {
  if (c->state == C_DEAD) return;
  bool was_active = active[c->slot] == c;
  if (!clean) {
    connection_errors++;
    note_error("connection %d: %s", c->slot, why);
  }
  if (phase == DONE) {
    in_flight_at_end += (uint64_t)c->inflight;
    while (c->head) {
      request *r = c->head;
      unlink_request(r);
      free(r);
    }
  } else {
    /* Streams still open here were either never sent (queued behind a GOAWAY: unprocessed)
     * or cut off with the connection. */
    while (c->head) finish_request(c->head, NGHTTP2_NO_ERROR, true);
  }
  c->state = C_DEAD;
  if (c->h2) nghttp2_session_del(c->h2); /* calls no callbacks */
  c->h2 = NULL;
  if (c->ssl) SSL_free(c->ssl);
  c->ssl = NULL;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  if (was_active) {
    active[c->slot] = NULL;
    if (phase != DONE) reconnect_at[c->slot] = now_s() + (clean || c->responses > 0 ? 0 : RECONNECT_AFTER_FAILURE_S);
  }
  if (c->prev_all) c->prev_all->next_all = c->next_all;
  else all_conns = c->next_all;
  if (c->next_all) c->next_all->prev_all = c->prev_all;
  c->prev_all = NULL;
  c->next_all = dead_conns;
  dead_conns = c;
}

static void free_dead_conns(void) {
  while (dead_conns) {
    conn *c = dead_conns;
    dead_conns = c->next_all;
    free(c->out);
    free(c);
  }
}

/* ---- nghttp2 callbacks -------------------------------------------------------------------- */

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data) {
  (void)flags;
  (void)user_data;
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_RESPONSE) return 0;
  request *r = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
  if (!r) return 0;
  if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
    int status = valuelen == 3 ? 0 : 599;
    for (size_t i = 0; i < valuelen && status != 599; i++)
      status = value[i] >= '0' && value[i] <= '9' ? status * 10 + (value[i] - '0') : 599;
    r->status = status < 100 ? 599 : status;
  } else if (namelen == 13 && memcmp(name, "content-range", 13) == 0) {
    char want[96];
    int n = snprintf(want, sizeof want, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, r->start, r->start + r->length - 1,
                     opt.file_bytes);
    r->range_ok = (size_t)n == valuelen && memcmp(want, value, valuelen) == 0;
    /* Verify the body at the offset the server says it sent, so a wrong Content-Range shows
     * as a Content-Range failure and not as a flood of corrupt bytes. */
    char got[96];
    size_t len = valuelen < sizeof got - 1 ? valuelen : sizeof got - 1;
    memcpy(got, value, len);
    got[len] = '\0';
    unsigned long long first, last;
    if (sscanf(got, "bytes %llu-%llu/", &first, &last) == 2) {
      r->body_offset = first;
      r->verify_body = r->status == 206;
    }
  }
  return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
  conn *c = user_data;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      if (frame->headers.cat == NGHTTP2_HCAT_RESPONSE) c->responses++;
      break;
    case NGHTTP2_RST_STREAM: {
      resets++;
      request *r = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
      if (r) r->reset_by_peer = true;
      break;
    }
    case NGHTTP2_GOAWAY:
      goaways++;
      if (frame->goaway.error_code != NGHTTP2_NO_ERROR) goaway_errors++;
      if (!c->draining) {
        c->draining = true;
        c->goaway_last_id = frame->goaway.last_stream_id;
        /* A replacement opens now; this one finishes the streams the server accepted. */
        if (active[c->slot] == c) {
          active[c->slot] = NULL;
          if (phase != DONE) reconnect_at[c->slot] = now_s();
        }
      }
      break;
    default: break;
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t len,
                         void *user_data) {
  (void)flags;
  conn *c = user_data;
  request *r = nghttp2_session_get_stream_user_data(session, stream_id);
  if (!r) return 0;
  if (opt.verify && r->verify_body) {
    size_t first_bad;
    uint64_t offset = r->body_offset + r->received;
    uint64_t bad = count_corrupt(data, len, offset, &first_bad);
    verified_bytes += len;
    if (bad) {
      if (r->corrupt == 0) corrupt_streams++;
      r->corrupt += bad;
      corrupt_bytes += bad;
      if (!have_first_corrupt) {
        have_first_corrupt = true;
        first_corrupt.connection = c->slot;
        first_corrupt.stream_id = stream_id;
        first_corrupt.offset = offset + first_bad;
        first_corrupt.expected = expected_byte(offset + first_bad);
        first_corrupt.got = data[first_bad];
        fprintf(stderr,
                "range-driver: corrupt byte at file offset %" PRIu64 " (stream %d on connection %d, range %" PRIu64
                "-%" PRIu64 "): expected 0x%02x, got 0x%02x\n",
                first_corrupt.offset, stream_id, c->slot, r->start, r->start + r->length - 1, first_corrupt.expected,
                first_corrupt.got);
      }
    }
  }
  r->received += len;
  return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code, void *user_data) {
  (void)user_data;
  request *r = nghttp2_session_get_stream_user_data(session, stream_id);
  if (r) finish_request(r, error_code, false);
  return 0;
}

/* ---- I/O ---------------------------------------------------------------------------------- */

/* Opens a non-blocking TCP connection for a slot; the handshake continues in the event loop. */
static void conn_open(int slot) {
  conn *c = calloc(1, sizeof *c);
  if (!c) {
    perror("range-driver: calloc");
    exit(1);
  }
  c->slot = slot;
  c->fd = socket(target_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    perror("range-driver: socket");
    exit(1);
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->state = C_CONNECTING;
  c->next_all = all_conns;
  if (all_conns) all_conns->prev_all = c;
  all_conns = c;
  active[slot] = c;
  c->events = EPOLLOUT;
  struct epoll_event ev = {.events = c->events, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
    perror("range-driver: epoll_ctl");
    exit(1);
  }
  if (connect(c->fd, (struct sockaddr *)&target_addr, target_len) != 0 && errno != EINPROGRESS) {
    char why[128];
    snprintf(why, sizeof why, "connect: %s", strerror(errno));
    conn_close(c, false, why);
  }
}

static bool out_append(conn *c, const uint8_t *data, size_t len) {
  if (c->out_len + len > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 64 * 1024;
    while (cap < c->out_len + len) cap *= 2;
    uint8_t *grown = realloc(c->out, cap);
    if (!grown) return false;
    c->out = grown;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
  return true;
}

/* Writes what nghttp2 has to send until the socket would block. False: the connection closed. */
static bool conn_flush(conn *c) {
  for (;;) {
    if (c->out_off == c->out_len) {
      c->out_off = c->out_len = 0;
      while (c->out_len < SEND_GATHER_BYTES) {
        const uint8_t *data;
        long n = (long)h2_mem_send(c->h2, &data);
        if (n < 0) {
          char why[128];
          snprintf(why, sizeof why, "nghttp2 send: %s", nghttp2_strerror((int)n));
          conn_close(c, false, why);
          return false;
        }
        if (n == 0) break;
        if (!out_append(c, data, (size_t)n)) {
          conn_close(c, false, "out of memory");
          return false;
        }
      }
      if (c->out_len == 0) break;
    }
    size_t left = c->out_len - c->out_off;
    if (c->ssl) {
      int n = SSL_write(c->ssl, c->out + c->out_off, left > INT_MAX ? INT_MAX : (int)left);
      if (n > 0) {
        c->out_off += (size_t)n;
        continue;
      }
      int err = SSL_get_error(c->ssl, n);
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        set_events(c, EPOLLIN | EPOLLOUT);
        return true;
      }
      conn_close(c, false, "TLS write failed");
      return false;
    }
    ssize_t n = send(c->fd, c->out + c->out_off, left, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += (size_t)n;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      set_events(c, EPOLLIN | EPOLLOUT);
      return true;
    }
    char why[128];
    snprintf(why, sizeof why, "write: %s", n < 0 ? strerror(errno) : "0 bytes");
    conn_close(c, false, why);
    return false;
  }
  set_events(c, EPOLLIN);
  /* nghttp2 has nothing more to read or write: after a GOAWAY with no streams left, or after
   * it terminated the session itself because of a protocol error. */
  if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)) {
    conn_close(c, c->draining || phase == DONE, "the HTTP/2 session ended (protocol error?)");
    return false;
  }
  return true;
}

/* Submits requests until `streams` are in flight (only on a slot's active connection). */
static void conn_top_up(conn *c) {
  if (c->state != C_READY || c->draining || phase == DONE || active[c->slot] != c) return;
  static const char *user_agent = "seekable-range-driver";
  while (c->inflight < opt.streams) {
    request *r = calloc(1, sizeof *r);
    if (!r) return;
    r->c = c;
    r->length = opt.range_bytes;
    r->start = prng_below(opt.file_bytes - opt.range_bytes + 1);
    char range[64];
    snprintf(range, sizeof range, "bytes=%" PRIu64 "-%" PRIu64, r->start, r->start + r->length - 1);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nva[] = {
        NV(":method", "GET"),      NV(":scheme", opt.tls ? "https" : "http"), NV(":authority", opt.authority),
        NV(":path", opt.path),     NV("range", range),                         NV("user-agent", user_agent),
    };
#undef NV
    r->submitted_at = now_s();
    int32_t id = h2_submit_request(c->h2, NULL, nva, sizeof nva / sizeof nva[0], NULL, r);
    if (id < 0) {
      free(r);
      c->draining = true; /* no more stream ids, or GOAWAY: let it finish and replace it */
      c->goaway_last_id = INT32_MAX;
      if (active[c->slot] == c) {
        active[c->slot] = NULL;
        reconnect_at[c->slot] = now_s();
      }
      return;
    }
    r->stream_id = id;
    r->next = c->head;
    if (c->head) c->head->prev = r;
    c->head = r;
    c->inflight++;
  }
}

/* TCP (and TLS) are up: start the HTTP/2 session. */
static bool conn_start_h2(conn *c) {
  if (nghttp2_session_client_new(&c->h2, callbacks, c) != 0) {
    conn_close(c, false, "nghttp2_session_client_new failed");
    return false;
  }
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW_BYTES},
  };
  nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, settings, sizeof settings / sizeof settings[0]);
  nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, CONNECTION_WINDOW_BYTES);
  c->state = C_READY;
  set_events(c, EPOLLIN);
  conn_top_up(c);
  return conn_flush(c);
}

/* Reads until the socket would block, feeding nghttp2. False: the connection closed. */
static bool conn_read(conn *c) {
  static uint8_t buf[READ_BUFFER_BYTES];
  for (;;) {
    long n;
    if (c->ssl) {
      n = SSL_read(c->ssl, buf, sizeof buf);
      if (n <= 0) {
        int err = SSL_get_error(c->ssl, (int)n);
        if (err == SSL_ERROR_WANT_READ) return true;
        if (err == SSL_ERROR_WANT_WRITE) {
          set_events(c, EPOLLIN | EPOLLOUT);
          return true;
        }
        ERR_clear_error();
        bool quiet = c->draining && c->inflight == 0;
        conn_close(c, quiet, err == SSL_ERROR_ZERO_RETURN ? "closed by the server (TLS close_notify)" : "closed by the server (TLS)");
        return false;
      }
    } else {
      n = recv(c->fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
        char why[128];
        snprintf(why, sizeof why, "read: %s", strerror(errno));
        conn_close(c, false, why);
        return false;
      }
      if (n == 0) {
        conn_close(c, c->draining && c->inflight == 0, "closed by the server");
        return false;
      }
    }
    long used = (long)h2_mem_recv(c->h2, buf, (size_t)n);
    if (used < 0) {
      char why[128];
      snprintf(why, sizeof why, "nghttp2: %s", nghttp2_strerror((int)used));
      conn_close(c, false, why);
      return false;
    }
  }
}

static void conn_on_event(conn *c, uint32_t events) {
  if (c->state == C_DEAD) return;
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err) {
      char why[128];
      snprintf(why, sizeof why, "connect: %s", strerror(err));
      conn_close(c, false, why);
      return;
    }
    if (!(events & EPOLLOUT)) return;
    if (!opt.tls) {
      conn_start_h2(c);
      return;
    }
    c->ssl = SSL_new(ssl_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
      conn_close(c, false, "SSL_new failed");
      return;
    }
    SSL_set_connect_state(c->ssl);
    struct in6_addr ignored;
    if (inet_pton(AF_INET, opt.host, &ignored) != 1 && inet_pton(AF_INET6, opt.host, &ignored) != 1)
      SSL_set_tlsext_host_name(c->ssl, opt.host);
    c->state = C_HANDSHAKE;
  }
  if (c->state == C_HANDSHAKE) {
    int r = SSL_do_handshake(c->ssl);
    if (r != 1) {
      int err = SSL_get_error(c->ssl, r);
      if (err == SSL_ERROR_WANT_READ) set_events(c, EPOLLIN);
      else if (err == SSL_ERROR_WANT_WRITE) set_events(c, EPOLLIN | EPOLLOUT);
      else {
        char why[200];
        snprintf(why, sizeof why, "TLS handshake: %s", ERR_reason_error_string(ERR_peek_last_error()) ?: "failed");
        ERR_clear_error();
        conn_close(c, false, why);
      }
      return;
    }
    const unsigned char *alpn = NULL;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
      fprintf(stderr, "range-driver: %s:%s did not select h2 with ALPN (got \"%.*s\")\n", opt.host, opt.port,
              (int)alpn_len, alpn ? (const char *)alpn : "");
      exit(1);
    }
    conn_start_h2(c);
    return;
  }
  if (c->state == C_READY) {
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !conn_read(c)) return;
    conn_top_up(c);
    conn_flush(c);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Setup, main loop, report                                                                   */

/* Resolves the host and keeps the first address that accepts a connection (localhost may
 * resolve to ::1 first while the server listens on 127.0.0.1 only). */
static void resolve_target(void) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC}, *list = NULL;
  int rc = getaddrinfo(opt.host, opt.port, &hints, &list);
  if (rc != 0) {
    fprintf(stderr, "range-driver: cannot resolve %s: %s\n", opt.host, gai_strerror(rc));
    exit(1);
  }
  int last_error = 0;
  for (struct addrinfo *a = list; a; a = a->ai_next) {
    int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    if (!ok && errno == EINPROGRESS) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      if (poll(&p, 1, PROBE_TIMEOUT_MS) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        ok = err == 0;
        last_error = err;
      } else {
        last_error = ETIMEDOUT;
      }
    } else if (!ok) {
      last_error = errno;
    }
    close(fd);
    if (ok) {
      memcpy(&target_addr, a->ai_addr, a->ai_addrlen);
      target_len = a->ai_addrlen;
      freeaddrinfo(list);
      return;
    }
  }
  freeaddrinfo(list);
  fprintf(stderr, "range-driver: cannot connect to %s:%s: %s\n", opt.host, opt.port, strerror(last_error ?: ECONNREFUSED));
  exit(1);
}

static void setup(void) {
  signal(SIGPIPE, SIG_IGN);
  prng_state = opt.seed;
  resolve_target();
  if (opt.tls) {
    OPENSSL_init_ssl(0, NULL);
    ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!ssl_ctx) {
      fprintf(stderr, "range-driver: SSL_CTX_new failed\n");
      exit(1);
    }
    SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL); /* loopback bench: self-signed certs */
    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read ahead: one read() can fetch several TLS records, fewer system calls per MB. */
    SSL_CTX_set_read_ahead(ssl_ctx, 1);
    SSL_CTX_set_default_read_buffer_len(ssl_ctx, 64 * 1024);
    static const unsigned char alpn[] = {2, 'h', '2'};
    if (SSL_CTX_set_alpn_protos(ssl_ctx, alpn, sizeof alpn) != 0) {
      fprintf(stderr, "range-driver: cannot set ALPN\n");
      exit(1);
    }
  }
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    perror("range-driver: epoll_create1");
    exit(1);
  }
  active = calloc((size_t)opt.connections, sizeof *active);
  reconnect_at = calloc((size_t)opt.connections, sizeof *reconnect_at);
  if (!active || !reconnect_at) exit(1);
}

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') printf("\\%c", ch);
    else if (ch < 0x20) printf("\\u%04x", ch);
    else putchar(ch);
  }
  putchar('"');
}

static void print_counts(const request_counts *k) {
  printf("\"requests\":%" PRIu64 ",\"succeeded\":%" PRIu64 ",\"non206\":%" PRIu64 ",\"failed\":%" PRIu64
         ",\"bodyBytes\":%" PRIu64 ",\"badContentRange\":%" PRIu64 ",\"wrongLength\":%" PRIu64
         ",\"streamErrors\":%" PRIu64 ",\"lostWithConnection\":%" PRIu64,
         k->requests, k->succeeded, k->non206, k->failed, k->body_bytes, k->bad_content_range, k->wrong_length,
         k->stream_errors, k->lost_with_connection);
}

static void report(double seconds, double cpu_seconds) {
  double rps = seconds > 0 ? (double)measured.succeeded / seconds : 0;
  double mbps = seconds > 0 ? (double)measured.body_bytes / 1e6 / seconds : 0;
  printf("{\"url\":");
  json_string(opt.url);
  printf(",\"driver\":");
  json_string(library_versions());
  printf(",\"protocol\":\"%s\",\"connections\":%d,\"streams\":%d,\"rangeBytes\":%" PRIu64 ",\"fileBytes\":%" PRIu64
         ",\"seed\":%" PRIu64 ",",
         opt.tls ? "h2" : "h2c", opt.connections, opt.streams, opt.range_bytes, opt.file_bytes, opt.seed);
  if (opt.verify) printf("\"verifySalt\":%" PRIu64 ",", opt.salt);
  else printf("\"verifySalt\":null,");
  print_counts(&measured);
  printf(",\"unprocessed\":%" PRIu64 ",\"resets\":%" PRIu64 ",\"reconnects\":%" PRIu64 ",\"goaways\":%" PRIu64
         ",\"goawayErrors\":%" PRIu64 ",\"connectionErrors\":%" PRIu64 ",\"inFlightAtEnd\":%" PRIu64,
         unprocessed, resets, reconnects, goaways, goaway_errors, connection_errors, in_flight_at_end);
  printf(",\"verifiedBytes\":%" PRIu64 ",\"corruptBytes\":%" PRIu64 ",\"corruptStreams\":%" PRIu64, verified_bytes,
         corrupt_bytes, corrupt_streams);
  if (have_first_corrupt)
    printf(",\"firstCorrupt\":{\"connection\":%d,\"streamId\":%d,\"offset\":%" PRIu64 ",\"expected\":%u,\"got\":%u}",
           first_corrupt.connection, first_corrupt.stream_id, first_corrupt.offset, first_corrupt.expected,
           first_corrupt.got);
  else printf(",\"firstCorrupt\":null");
  printf(",\"statuses\":{");
  bool first = true;
  for (int s = 0; s < 600; s++) {
    if (!status_counts[s]) continue;
    printf("%s\"%d\":%" PRIu64, first ? "" : ",", s, status_counts[s]);
    first = false;
  }
  printf("},\"seconds\":%.3f,\"requestsPerSec\":%.1f,\"megabytesPerSec\":%.1f", seconds, rps, mbps);
  printf(",\"latency\":{\"p50Ms\":%.3f,\"p90Ms\":%.3f,\"p99Ms\":%.3f,\"maxMs\":%.3f}", hist_percentile_ms(50),
         hist_percentile_ms(90), hist_percentile_ms(99), (double)hist_max_us / 1000.0);
  printf(",\"warmup\":{");
  print_counts(&warmup);
  printf("},\"cpuSeconds\":%.3f}\n", cpu_seconds);
  fflush(stdout);
}

static double cpu_time(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  parse_options(argc, argv);
  setup();
  fprintf(stderr,
          "range-driver: %s to %s:%s, %d connections x %d streams, %" PRIu64 "-byte ranges of %" PRIu64
          ", %" PRIu64 " ms after %" PRIu64 " ms warm-up%s\n",
          opt.tls ? "h2 (TLS)" : "h2c", opt.host, opt.port, opt.connections, opt.streams, opt.range_bytes,
          opt.file_bytes, opt.duration_ms, opt.warmup_ms, opt.verify ? ", verifying every byte" : "");

  double begin = now_s();
  double measure_from = begin + (double)opt.warmup_ms / 1000.0;
  double end = measure_from + (double)opt.duration_ms / 1000.0;
  double measure_cpu_from = 0;
  phase = opt.warmup_ms == 0 ? MEASURING : WARMUP;
  if (phase == MEASURING) measure_cpu_from = cpu_time();
  for (int i = 0; i < opt.connections; i++) conn_open(i);

  struct epoll_event events[256];
  for (;;) {
    double t = now_s();
    if (phase == WARMUP && t >= measure_from) {
      phase = MEASURING;
      measure_cpu_from = cpu_time();
    }
    if (t >= end) break;
    /* Replace connections whose time has come. */
    double next = phase == WARMUP ? measure_from : end;
    for (int i = 0; i < opt.connections; i++) {
      if (active[i] || reconnect_at[i] == 0) continue;
      if (reconnect_at[i] <= t) {
        reconnect_at[i] = 0;
        reconnects++;
        conn_open(i);
      } else if (reconnect_at[i] < next) {
        next = reconnect_at[i];
      }
    }
    free_dead_conns();
    int timeout_ms = (int)((next - t) * 1000.0 + 0.999);
    if (timeout_ms < 0) timeout_ms = 0;
    int n = epoll_wait(epfd, events, (int)(sizeof events / sizeof events[0]), timeout_ms);
    if (n < 0 && errno != EINTR) {
      perror("range-driver: epoll_wait");
      exit(1);
    }
    for (int i = 0; i < n; i++) conn_on_event(events[i].data.ptr, events[i].events);
    free_dead_conns();
  }

  /* The measured window is over: abandon what is in flight, say goodbye, report. */
  double seconds = now_s() - measure_from;
  double cpu_seconds = cpu_time() - measure_cpu_from;
  phase = DONE;
  while (all_conns) {
    conn *c = all_conns;
    if (c->state == C_READY) {
      nghttp2_session_terminate_session(c->h2, NGHTTP2_NO_ERROR);
      if (!conn_flush(c)) continue; /* conn_flush closed it */
    }
    conn_close(c, true, "end of run");
    free_dead_conns();
  }
  free_dead_conns();
  report(seconds, cpu_seconds);
  if (corrupt_bytes) fprintf(stderr, "range-driver: %" PRIu64 " corrupt bytes in %" PRIu64 " streams\n", corrupt_bytes, corrupt_streams);
  return 0;
}
