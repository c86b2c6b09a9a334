/* The COM1 command shell (team/VMM.md fixes the commands and their output lines). */
#ifndef PROBE_SHELL_SHELL_H
#define PROBE_SHELL_SHELL_H

#define SHELL_MAX_ARGS 8

/* A command prints its output lines and returns 0 (shell prints "OK") or a reason (shell
 * prints "ERR <reason>"). `rest` is the raw text after the command name (for echo). */
typedef const char* (*command_fn)(int argc, char** argv, const char* rest);

struct command {
  const char* name;
  const char* usage;
  command_fn fn;
};

extern const struct command commands[];
extern const unsigned command_count;

/* Prints the boot marker and the first prompt (input typed from now on is kept). */
void shell_banner(void);
/* Reads and runs lines forever. */
__attribute__((noreturn)) void shell_run(void);

#endif
