/*
 * A line channel of a VirtFun guest: a Unix socket on the host, a virtio-serial port
 * (/dev/vportNpM, found by its name) in a virtual machine. It carries the control channel
 * (vfun_ctl.h) and the "vfun.net" port of the benchmark. Reads and writes have deadlines;
 * partial reads, a host end that is not connected yet, and input an earlier process left on a
 * port are handled. Linux, C11.
 */
#ifndef VFUN_CHAN_H
#define VFUN_CHAN_H

#include <stddef.h>

/* Longest line read, in bytes: the control protocol's (src/control/protocol.ts MAX_LINE). */
#define VFUN_CHAN_MAX_LINE 16384

typedef struct {
  int fd;
  int is_socket;                   /* 1: a Unix socket; 0: a character device (virtio-serial port) */
  size_t have;                     /* bytes buffered in buf */
  char buf[VFUN_CHAN_MAX_LINE + 1];
  char path[512];
} vfun_chan;

/* /dev/<port> of the virtio-serial port whose /sys/class/virtio-ports/<port>/name is `name`.
 * 0, or -1 when there is none. */
int vfun_port_find(const char *name, char *path, size_t cap);

/* Open `path`: connect to it if it is a Unix socket, else open it O_RDWR (a virtio-serial port).
 * Pending input of a character device (answers left over by an earlier guest process) is dropped.
 * 0, or -1 (err). */
int vfun_chan_open(vfun_chan *c, const char *path, char *err, size_t errcap);
/* Write all n bytes (partial writes and EINTR handled). 0, or -1 (err). */
int vfun_chan_write(vfun_chan *c, const void *buf, size_t n, int timeout_ms, char *err, size_t errcap);
/* Read one line (up to '\n', which is not stored) into line[cap] with a NUL: returns its length,
 * or -1 (err: timeout, closed, longer than VFUN_CHAN_MAX_LINE). */
int vfun_chan_read_line(vfun_chan *c, char *line, size_t cap, int timeout_ms, char *err, size_t errcap);
/* Read exactly n bytes. 0, or -1 (err). */
int vfun_chan_read_exact(vfun_chan *c, void *buf, size_t n, int timeout_ms, char *err, size_t errcap);
void vfun_chan_close(vfun_chan *c);
/* CLOCK_MONOTONIC in ms. */
double vfun_mono_ms(void);
/* poll() `fd` for `events` until `deadline` (vfun_mono_ms): 1 ready, 0 timed out, -1 error (errno). EINTR retried. */
int vfun_wait_fd(int fd, short events, double deadline);

#endif
