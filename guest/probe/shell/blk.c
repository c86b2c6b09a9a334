/* blk info | use N | write LBA COUNT SEED | verify LBA COUNT SEED | flush | discard LBA COUNT |
 * zeroes LBA COUNT | bench seq|rand read|write MIB. Output lines: team/STORAGE.md. Everything
 * here runs in ring 3 and polls the used ring; no interrupt is involved. */
#include "shell/blk.h"

#include "hw/clock.h"
#include "hw/io.h"
#include "lib/heap.h"
#include "lib/lib.h"
#include "virtio/virtio_blk.h"

/* Queue depths (requests in flight). The seq bench keeps 4 requests of 1 MiB in flight (4 MiB
 * of buffers); the rand bench 32 requests of 4 KiB (96 of the 128 descriptors). write, verify,
 * discard and zeroes use up to 4. A device with a smaller ring, or a small size_max/seg_max,
 * gets less (blk_max_depth). */
#define SEQ_DEPTH 4
#define RAND_DEPTH 32
#define IO_DEPTH 4
#define RAND_BYTES 4096u
/* A device that completes nothing for this long is reported as hung. */
#define STALL_US 30000000ull

static unsigned current;
static char err_buf[96];

/* The buffer pool for data: 4 MiB from the heap (less if the guest is small), once. 2 MiB
 * aligned when possible, so no 1 MiB buffer straddles a 2 MiB page of the host's mapping of
 * guest RAM (a monitor backing RAM with huge pages then hands the host kernel one physically
 * contiguous segment per request). */
static uint8_t* pool;
static uint32_t pool_bytes;

static int pool_get(void) {
  if (pool) return 0;
  for (uint32_t bytes = SEQ_DEPTH * BLK_MAX_REQUEST_BYTES; bytes >= 64 * 1024; bytes /= 2) {
    pool = heap_alloc(bytes, 2u << 20);
    if (!pool) pool = heap_alloc(bytes, 4096);
    if (pool) {
      pool_bytes = bytes;
      return 0;
    }
  }
  return -1;
}

/* The pattern of team/STORAGE.md (host copy: tests/support/blk_pattern.h). */
static uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x;
}

static void pattern_sector(uint64_t seed, uint64_t lba, uint64_t* out) {
  uint64_t base = seed * 0x9E3779B97F4A7C15ull + lba * 64;
  for (unsigned j = 0; j < 64; ++j) out[j] = mix(base + j); /* x86: little-endian in memory */
}

static int sector_matches(uint64_t seed, uint64_t lba, const uint64_t* got) {
  uint64_t base = seed * 0x9E3779B97F4A7C15ull + lba * 64;
  for (unsigned j = 0; j < 64; ++j)
    if (got[j] != mix(base + j)) return 0;
  return 1;
}

static const char* status_name(uint8_t s) {
  switch (s) {
    case VIRTIO_BLK_S_IOERR:
      return "IOERR";
    case VIRTIO_BLK_S_UNSUPP:
      return "UNSUPP";
    case 0xff:
      return "NONE"; /* the device completed the request without writing the status */
    default:
      return "UNKNOWN";
  }
}

static const char* status_error(uint8_t status, uint64_t lba) {
  ksnprintf(err_buf, sizeof err_buf, "blk status=%s lba=%lu", status_name(status), lba);
  return err_buf;
}

/* Tracks the first failure (lowest LBA) among completions. */
struct failure {
  int failed;
  uint8_t status;
  uint64_t lba;
};

static void note_failure(struct failure* f, const struct blk_done* done) {
  if (done->status == VIRTIO_BLK_S_OK) return;
  if (!f->failed || done->lba < f->lba) {
    f->failed = 1;
    f->status = done->status;
    f->lba = done->lba;
  }
}

/* Waits for one completion; 0 if the device stalls. */
static int wait_one(struct blk_dev* d, struct blk_done* done) {
  blk_kick(d);
  return blk_wait(d, done, STALL_US);
}

static struct blk_dev* selected(void) {
  return blk_get(current);
}

static const char* cmd_info(void) {
  unsigned n = blk_count();
  if (!n) return "no virtio-blk device";
  for (unsigned i = 0; i < n; ++i) {
    struct blk_dev* d = blk_get(i);
    kprintf("blk dev=%u sectors=%lu size_bytes=%lu features=0x%lx ro=%u seg_max=%u id=%s\r\n", i,
            d->sectors, d->sectors * BLK_SECTOR, d->vdev->features, d->ro ? 1u : 0u, d->seg_max,
            d->id[0] ? d->id : "-");
  }
  return 0;
}

/* write (fill with the pattern) or verify (read and compare) COUNT sectors from LBA. */
static const char* rw_pattern(struct blk_dev* d, int write, uint64_t lba, uint64_t count,
                              uint64_t seed) {
  if (pool_get()) return "no memory for blk buffers";
  uint32_t chunk = blk_max_request_bytes(d);
  if (chunk > pool_bytes / IO_DEPTH) chunk = pool_bytes / IO_DEPTH;
  unsigned depth = blk_max_depth(d, chunk);
  if (depth > IO_DEPTH) depth = IO_DEPTH;
  if (!depth) return "blk queue too small";
  uint32_t chunk_sectors = chunk / BLK_SECTOR;
  uint64_t next = lba, end = lba + count, mismatches = 0, first_bad = 0;
  unsigned free_bufs[IO_DEPTH], nfree = 0;
  for (unsigned i = 0; i < depth; ++i) free_bufs[nfree++] = i;
  struct failure f = {0, 0, 0};
  while (next < end || d->inflight) {
    while (next < end && nfree && !f.failed) {
      unsigned b = free_bufs[--nfree];
      uint8_t* buf = pool + (uint64_t)b * chunk;
      uint32_t n = end - next < chunk_sectors ? (uint32_t)(end - next) : chunk_sectors;
      if (write)
        for (uint32_t s = 0; s < n; ++s) pattern_sector(seed, next + s, (uint64_t*)(buf + s * 512));
      if (blk_submit(d, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, next, buf, n * BLK_SECTOR, b)) {
        free_bufs[nfree++] = b;
        break;
      }
      next += n;
    }
    if (!d->inflight) {
      if (next < end && !f.failed) return "blk request does not fit the queue";
      break; /* a failure stopped new requests and all are back */
    }
    struct blk_done done;
    if (!wait_one(d, &done)) return "blk device stalled";
    do {
      note_failure(&f, &done);
      if (!write && done.status == VIRTIO_BLK_S_OK) {
        const uint8_t* buf = pool + done.tag * chunk;
        for (uint32_t s = 0; s < done.bytes / BLK_SECTOR; ++s) {
          if (sector_matches(seed, done.lba + s, (const uint64_t*)(buf + s * 512))) continue;
          if (!mismatches || done.lba + s < first_bad) first_bad = done.lba + s;
          ++mismatches;
        }
      }
      free_bufs[nfree++] = (unsigned)done.tag;
    } while (blk_reap(d, &done));
  }
  if (f.failed) return status_error(f.status, f.lba);
  if (write) {
    kprintf("blk write lba=%lu count=%lu seed=%lu\r\n", lba, count, seed);
    return 0;
  }
  if (mismatches)
    kprintf("blk verify lba=%lu count=%lu seed=%lu mismatches=%lu first_bad=%lu\r\n", lba, count,
            seed, mismatches, first_bad);
  else
    kprintf("blk verify lba=%lu count=%lu seed=%lu mismatches=0 first_bad=-\r\n", lba, count, seed);
  return mismatches ? "verify failed" : 0;
}

static const char* cmd_flush(struct blk_dev* d) {
  if (blk_submit(d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0)) return "blk queue full";
  struct blk_done done;
  if (!wait_one(d, &done)) return "blk device stalled";
  if (done.status != VIRTIO_BLK_S_OK) return status_error(done.status, 0);
  kprintf("blk flush\r\n");
  return 0;
}

/* DISCARD or WRITE_ZEROES over [lba, lba+count), split at the device's per-request maximum. */
static const char* range_op(struct blk_dev* d, uint32_t type, uint64_t lba, uint64_t count) {
  uint32_t max =
      type == VIRTIO_BLK_T_DISCARD ? d->max_discard_sectors : d->max_write_zeroes_sectors;
  if (!max) max = 0xffffffffu & ~(uint32_t)7; /* not offered: one request, the device decides */
  uint64_t next = lba, end = lba + count;
  struct failure f = {0, 0, 0};
  while (next < end || d->inflight) {
    while (next < end && d->inflight < IO_DEPTH && !f.failed) {
      uint32_t n = end - next < max ? (uint32_t)(end - next) : max;
      if (blk_submit_range(d, type, next, n, 0)) break;
      next += n;
    }
    if (!d->inflight) {
      if (next < end && !f.failed) return "blk request does not fit the queue";
      break;
    }
    struct blk_done done;
    if (!wait_one(d, &done)) return "blk device stalled";
    do note_failure(&f, &done);
    while (blk_reap(d, &done));
  }
  if (f.failed) return status_error(f.status, f.lba);
  kprintf("blk %s lba=%lu count=%lu\r\n", type == VIRTIO_BLK_T_DISCARD ? "discard" : "zeroes", lba,
          count);
  return 0;
}

/* The benchmark: `mib` MiB in 1 MiB requests at increasing offsets (seq) or in 4 KiB requests
 * at pseudo-random 4 KiB-aligned offsets within the first `mib` MiB (rand), keeping the queue
 * full. Timed with the TSC from the first submission to the last completion. Write data is
 * whatever the buffers hold. */
static const char* bench(struct blk_dev* d, int rand, int write, uint64_t mib) {
  if (pool_get()) return "no memory for blk buffers";
  if (mib * 2048 > d->sectors) return "bench range larger than the disk";
  uint32_t req = rand ? RAND_BYTES : blk_max_request_bytes(d);
  if (!rand && req > pool_bytes / SEQ_DEPTH) req = pool_bytes / SEQ_DEPTH;
  unsigned depth = blk_max_depth(d, req);
  unsigned want = rand ? RAND_DEPTH : SEQ_DEPTH;
  if (depth > want) depth = want;
  if (depth > pool_bytes / req) depth = pool_bytes / req;
  if (!depth) return "blk queue too small";
  uint32_t type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
  uint64_t total_bytes = mib << 20;
  uint64_t requests = (total_bytes + req - 1) / req;
  uint64_t blocks = total_bytes / RAND_BYTES; /* rand: 4 KiB blocks in range */
  uint64_t x = 0x2545F4914F6CDD1Dull;         /* xorshift64 state */
  uint64_t issued = 0, completed = 0, seq_next = 0;
  unsigned free_bufs[RAND_DEPTH], nfree = 0;
  for (unsigned i = 0; i < depth; ++i) free_bufs[nfree++] = i;
  struct failure f = {0, 0, 0};
  uint64_t t0 = rdtsc(), last_progress = t0;
  uint64_t stall = clock_info.tsc_hz / 1000000 * STALL_US;
  while (completed < issued || (issued < requests && !f.failed)) {
    while (issued < requests && nfree && !f.failed) {
      unsigned b = free_bufs[--nfree];
      uint64_t lba;
      uint32_t bytes = req;
      if (rand) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        lba = (x % blocks) * (RAND_BYTES / BLK_SECTOR);
      } else {
        lba = seq_next / BLK_SECTOR;
        if (total_bytes - seq_next < bytes) bytes = (uint32_t)(total_bytes - seq_next);
        seq_next += bytes;
      }
      if (blk_submit(d, type, lba, pool + (uint64_t)b * req, bytes, b)) {
        free_bufs[nfree++] = b;
        break;
      }
      ++issued;
    }
    blk_kick(d);
    struct blk_done done;
    int got = 0;
    while (blk_reap(d, &done)) {
      note_failure(&f, &done);
      free_bufs[nfree++] = (unsigned)done.tag;
      ++completed;
      got = 1;
    }
    uint64_t now = rdtsc();
    if (got)
      last_progress = now;
    else if (now - last_progress > stall)
      return "blk device stalled";
    else
      cpu_relax();
  }
  uint64_t cycles = rdtsc() - t0;
  if (f.failed) return status_error(f.status, f.lba);
  if (!cycles) cycles = 1;
  uint64_t hz = clock_info.tsc_hz;
  uint64_t ms = cycles * 1000 / hz;
  /* MiB/s with one decimal, rounded; 128-bit safe for any realistic run (mib < 2^20). */
  uint64_t tenths = (mib * 10 * hz + cycles / 2) / cycles;
  uint64_t iops = (requests * hz + cycles / 2) / cycles;
  kprintf("blk bench pattern=%s op=%s mib=%lu ms=%lu mib_per_s=%lu.%lu iops=%lu\r\n",
          rand ? "rand" : "seq", write ? "write" : "read", mib, ms, tenths / 10, tenths % 10, iops);
  return 0;
}

static int streq(const char* a, const char* b) {
  return !strcmp(a, b);
}

const char* cmd_blk(int argc, char** argv, const char* rest) {
  (void)rest;
  static const char usage[] =
      "usage: blk info | use N | write LBA COUNT SEED | verify LBA COUNT SEED | flush | "
      "discard LBA COUNT | zeroes LBA COUNT | bench seq|rand read|write MIB";
  if (argc < 2) return usage;
  const char* sub = argv[1];
  if (streq(sub, "info") && argc == 2) return cmd_info();
  if (!blk_count()) return "no virtio-blk device";
  uint64_t a = 0, b = 0, c = 0;
  if (streq(sub, "use") && argc == 3 && !parse_u64(argv[2], &a)) {
    if (a >= blk_count()) return "no such blk device";
    current = (unsigned)a;
    kprintf("blk dev=%u\r\n", current);
    return 0;
  }
  struct blk_dev* d = selected();
  if ((streq(sub, "write") || streq(sub, "verify")) && argc == 5 && !parse_u64(argv[2], &a) &&
      !parse_u64(argv[3], &b) && !parse_u64(argv[4], &c) && a + b >= a)
    return rw_pattern(d, streq(sub, "write"), a, b, c);
  if (streq(sub, "flush") && argc == 2) return cmd_flush(d);
  if ((streq(sub, "discard") || streq(sub, "zeroes")) && argc == 4 && !parse_u64(argv[2], &a) &&
      !parse_u64(argv[3], &b) && a + b >= a)
    return range_op(d, streq(sub, "discard") ? VIRTIO_BLK_T_DISCARD : VIRTIO_BLK_T_WRITE_ZEROES, a,
                    b);
  if (streq(sub, "bench") && argc == 5 && (streq(argv[2], "seq") || streq(argv[2], "rand")) &&
      (streq(argv[3], "read") || streq(argv[3], "write")) && !parse_u64(argv[4], &a) && a > 0 &&
      a <= (1u << 20))
    return bench(d, streq(argv[2], "rand"), streq(argv[3], "write"), a);
  return usage;
}
