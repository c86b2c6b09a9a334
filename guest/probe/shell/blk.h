/* The `blk` shell command (virtio-blk disks; formats fixed by team/STORAGE.md). */
#ifndef PROBE_SHELL_BLK_H
#define PROBE_SHELL_BLK_H

const char* cmd_blk(int argc, char** argv, const char* rest);

#endif
