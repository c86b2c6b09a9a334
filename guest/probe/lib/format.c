#include "hw/uart.h"
#include "lib/lib.h"

struct sink {
  char* buf;
  size_t size;
  size_t len;
};

static void put(struct sink* s, char c) {
  if (s->len + 1 < s->size) s->buf[s->len] = c;
  s->len++;
}

static void put_num(struct sink* s, uint64_t v, unsigned base, int negative) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v);
  if (negative) put(s, '-');
  while (n) put(s, tmp[--n]);
}

int kvsnprintf(char* buf, size_t size, const char* fmt, va_list ap) {
  struct sink s = {buf, size, 0};
  for (; *fmt; ++fmt) {
    if (*fmt != '%') {
      put(&s, *fmt);
      continue;
    }
    int longs = 0;
    while (*++fmt == 'l') ++longs;
    switch (*fmt) {
      case 's': {
        const char* str = va_arg(ap, const char*);
        while (*str) put(&s, *str++);
        break;
      }
      case 'c':
        put(&s, (char)va_arg(ap, int));
        break;
      case 'd': {
        int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
        put_num(&s, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0);
        break;
      }
      case 'u':
      case 'x': {
        uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
        put_num(&s, v, *fmt == 'u' ? 10 : 16, 0);
        break;
      }
      case '%':
        put(&s, '%');
        break;
      default:
        return -1;
    }
  }
  if (size) buf[s.len < size ? s.len : size - 1] = 0;
  return (int)s.len;
}

int ksnprintf(char* buf, size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = kvsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

void kprintf(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = kvsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof buf - 1) n = sizeof buf - 1;
  if (n > 0) uart_write(buf, (size_t)n);
}
