/* Freestanding helpers: memory, strings, number parsing, formatted console output. */
#ifndef PROBE_LIB_LIB_H
#define PROBE_LIB_LIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

void* memcpy(void* dst, const void* src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
int strcmp(const char* a, const char* b);

/* Parses a decimal (or 0x hex) unsigned number filling the whole string; 0 on success. */
int parse_u64(const char* s, uint64_t* out);

/* printf subset: %s %c %d %u %x (with l/ll: 64-bit), %%. Output goes to the console. */
void kprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
int ksnprintf(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
int kvsnprintf(char* buf, size_t size, const char* fmt, va_list ap);

#endif
