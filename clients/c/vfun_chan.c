/* See vfun_chan.h. */
#define _GNU_SOURCE
#include "vfun_chan.h"
#include "vfun_err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define set_err vfun_set_err

double vfun_mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void chomp(char *s) {
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
}

int vfun_port_find(const char *name, char *path, size_t cap) {
  DIR *d = opendir("/sys/class/virtio-ports");
  if (d) {
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
      if (ent->d_name[0] == '.') continue;
      char file[512], got[256];
      snprintf(file, sizeof file, "/sys/class/virtio-ports/%s/name", ent->d_name);
      FILE *f = fopen(file, "r");
      if (!f) continue;
      char *ok = fgets(got, sizeof got, f);
      fclose(f);
      if (!ok) continue;
      chomp(got);
      if (strcmp(got, name) == 0) {
        snprintf(path, cap, "/dev/%s", ent->d_name);
        closedir(d);
        return 0;
      }
    }
    closedir(d);
  }
  /* udev's symlink, where there is a udev */
  char link[512];
  snprintf(link, sizeof link, "/dev/virtio-ports/%s", name);
  if (access(link, F_OK) == 0) {
    snprintf(path, cap, "%s", link);
    return 0;
  }
  errno = ENOENT;
  return -1;
}

int vfun_chan_open(vfun_chan *c, const char *path, char *err, size_t errcap) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  snprintf(c->path, sizeof c->path, "%s", path);
  struct stat st;
  if (stat(path, &st) != 0) {
    set_err(err, errcap, "%s: %s", path, strerror(errno));
    return -1;
  }
  if (S_ISSOCK(st.st_mode)) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) {
      set_err(err, errcap, "%s: socket path longer than %zu bytes", path, sizeof sa.sun_path - 1);
      return -1;
    }
    strcpy(sa.sun_path, path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      set_err(err, errcap, "connect %s: %s", path, strerror(errno));
      vfun_chan_close(c);
      return -1;
    }
    c->is_socket = 1;
  } else {
    c->fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (c->fd < 0) {
      if (errno == EBUSY)
        set_err(err, errcap, "open %s: another process holds the control port (a virtio-serial port opens once at a time)", path);
      else
        set_err(err, errcap, "open %s: %s", path, strerror(errno));
      return -1;
    }
  }
  int fl = fcntl(c->fd, F_GETFL);
  if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) != 0) {
    set_err(err, errcap, "%s: cannot make it non-blocking: %s", path, strerror(errno));
    vfun_chan_close(c);
    return -1;
  }
  if (!c->is_socket) {
    /* A port outlives the processes that open it: drop what an earlier one left unread. */
    char junk[4096];
    for (int i = 0; i < 1024 && read(c->fd, junk, sizeof junk) > 0; i++) {
    }
  }
  return 0;
}

int vfun_wait_fd(int fd, short events, double deadline) {
  for (;;) {
    double left = deadline - vfun_mono_ms();
    if (left <= 0) return 0;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, left > 1e6 ? 1000000 : (int)left + 1);
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return -1;
  }
}

int vfun_chan_write(vfun_chan *c, const void *buf, size_t n, int timeout_ms, char *err, size_t errcap) {
  const char *p = buf;
  double deadline = vfun_mono_ms() + timeout_ms;
  while (n > 0) {
    ssize_t w = c->is_socket ? send(c->fd, p, n, MSG_NOSIGNAL) : write(c->fd, p, n);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      set_err(err, errcap, "write %s: %s", c->path, strerror(errno));
      return -1;
    }
    int r = vfun_wait_fd(c->fd, POLLOUT, deadline);
    if (r <= 0) {
      set_err(err, errcap, "write %s: %s", c->path, r == 0 ? "timed out" : strerror(errno));
      return -1;
    }
    if (r > 0 && w == 0) { /* a port with no host side: try again a little later */
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  return 0;
}

/* Read more bytes into c->buf until the deadline. 0, or -1 (err). */
static int fill(vfun_chan *c, double deadline, int timeout_ms, char *err, size_t errcap) {
  for (;;) {
    ssize_t r = read(c->fd, c->buf + c->have, VFUN_CHAN_MAX_LINE - c->have);
    if (r > 0) {
      c->have += (size_t)r;
      return 0;
    }
    if (r == 0 && c->is_socket) {
      set_err(err, errcap, "%s: closed by the other side", c->path);
      return -1;
    }
    if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
      set_err(err, errcap, "read %s: %s", c->path, strerror(errno));
      return -1;
    }
    if (vfun_mono_ms() >= deadline) {
      set_err(err, errcap, "%s: no answer within %d ms", c->path, timeout_ms);
      return -1;
    }
    if (r == 0) {
      /* A virtio-serial port whose host side is not connected reads as end of file (and polls as
       * POLLHUP): look again in a moment. */
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    } else if (r < 0 && errno != EINTR && vfun_wait_fd(c->fd, POLLIN, deadline) < 0) {
      set_err(err, errcap, "poll %s: %s", c->path, strerror(errno));
      return -1;
    }
  }
}

int vfun_chan_read_line(vfun_chan *c, char *line, size_t cap, int timeout_ms, char *err, size_t errcap) {
  double deadline = vfun_mono_ms() + timeout_ms;
  for (;;) {
    char *nl = memchr(c->buf, '\n', c->have);
    if (nl) {
      size_t n = (size_t)(nl - c->buf);
      if (n >= cap) {
        set_err(err, errcap, "%s: line of %zu bytes does not fit in %zu", c->path, n, cap);
        return -1;
      }
      memcpy(line, c->buf, n);
      line[n] = '\0';
      c->have -= n + 1;
      memmove(c->buf, nl + 1, c->have);
      return (int)n;
    }
    if (c->have >= VFUN_CHAN_MAX_LINE) {
      set_err(err, errcap, "%s: line longer than %d bytes", c->path, VFUN_CHAN_MAX_LINE);
      return -1;
    }
    if (fill(c, deadline, timeout_ms, err, errcap) != 0) return -1;
  }
}

int vfun_chan_read_exact(vfun_chan *c, void *buf, size_t n, int timeout_ms, char *err, size_t errcap) {
  double deadline = vfun_mono_ms() + timeout_ms;
  uint8_t *o = buf;
  while (n > 0) {
    if (c->have == 0 && fill(c, deadline, timeout_ms, err, errcap) != 0) return -1;
    size_t k = c->have < n ? c->have : n;
    memcpy(o, c->buf, k);
    memmove(c->buf, c->buf + k, c->have - k);
    c->have -= k;
    o += k;
    n -= k;
  }
  return 0;
}

void vfun_chan_close(vfun_chan *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  c->have = 0;
}
