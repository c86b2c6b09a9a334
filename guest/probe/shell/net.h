/* The `net` shell command (virtio-net NICs; formats fixed by team/NETWORK.md). */
#ifndef PROBE_SHELL_NET_H
#define PROBE_SHELL_NET_H

const char* cmd_net(int argc, char** argv, const char* rest);

#endif
