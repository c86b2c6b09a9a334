/* Commands that poke the monitor where nothing is (hostile-guest tests) or count exits. */
#ifndef PROBE_SHELL_HOSTILE_H
#define PROBE_SHELL_HOSTILE_H

const char* cmd_pio(int argc, char** argv, const char* rest);
const char* cmd_ports(int argc, char** argv, const char* rest);
const char* cmd_mmio(int argc, char** argv, const char* rest);

#endif
