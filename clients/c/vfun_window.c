/* See vfun_window.h. Layout: docs/region-format.md §13.1. */
#define _GNU_SOURCE
#include "vfun_window.h"
#include "vfun_err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WIN_VERSION 1u
#define WIN_HEADER_BYTES 64u
#define ENTRY_BYTES 256u
#define LAYOUT_HASH 0xDCE1DA4Eu
#define PAGE 4096u
#define MAX_CAPACITY 16777216u
#define MIN_WINDOW (64u * 1024u)
#define MAX_WINDOW (1024u * 1024u * 1024u)

#define U16(p, off) (*(const volatile uint16_t *)((p) + (off)))
#define U32(p, off) (*(const volatile uint32_t *)((p) + (off)))
#define AT32(p, off) ((_Atomic uint32_t *)((p) + (off)))

#define set_err vfun_set_err

static uint64_t round_up(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

size_t vfun_window_area_bytes(uint32_t capacity) {
  return (size_t)round_up(192u + round_up(capacity, 64), PAGE);
}

int vfun_window_check(vfun_window *w, char *err, size_t errcap) {
  const uint8_t *b = w->base;
  if (w->mapped < WIN_HEADER_BYTES) {
    set_err(err, errcap, "window %s: %zu bytes, smaller than its header", w->path, w->mapped);
    return -1;
  }
  /* The magic is written last: load it first, with an acquire (seq_cst) load. */
  uint32_t magic = atomic_load(AT32(w->base, 0));
  if (magic != VFUN_WINDOW_MAGIC) {
    set_err(err, errcap, "window %s: magic is 0x%08x, expected 0x%08x (not a VirtFun window, or not initialised yet)", w->path,
            magic, VFUN_WINDOW_MAGIC);
    return -1;
  }
  uint32_t version = U16(b, 4), header = U16(b, 6), hash = U32(b, 8), bytes = U32(b, 12), count = U32(b, 16),
           slot = U32(b, 20), table = U32(b, 24), entry = U32(b, 28), slots = U32(b, 32);
  if (version != WIN_VERSION || header != WIN_HEADER_BYTES || hash != LAYOUT_HASH) {
    set_err(err, errcap, "window %s: version %u, headerBytes %u, regionLayoutHash 0x%08x; expected %u, %u, 0x%08x", w->path,
            version, header, hash, WIN_VERSION, WIN_HEADER_BYTES, LAYOUT_HASH);
    return -1;
  }
  if (bytes > w->mapped || bytes < MIN_WINDOW || bytes > MAX_WINDOW || (bytes & (bytes - 1)) != 0) {
    set_err(err, errcap, "window %s: windowBytes %u is not a power of two in %u..%u no larger than the %zu bytes mapped", w->path,
            bytes, MIN_WINDOW, MAX_WINDOW, w->mapped);
    return -1;
  }
  if (table != WIN_HEADER_BYTES || entry != ENTRY_BYTES) {
    set_err(err, errcap, "window %s: table at %u with %u-byte entries, expected %u and %u", w->path, table, entry,
            WIN_HEADER_BYTES, ENTRY_BYTES);
    return -1;
  }
  if (count < 1 || slot == 0 || slot % PAGE != 0 || slots % PAGE != 0 ||
      (uint64_t)slots < (uint64_t)WIN_HEADER_BYTES + (uint64_t)count * ENTRY_BYTES ||
      (uint64_t)slots + (uint64_t)count * slot > bytes) {
    set_err(err, errcap, "window %s: %u slots of %u bytes from %u do not fit a %u-byte window after the table", w->path, count,
            slot, slots, bytes);
    return -1;
  }
  w->window_bytes = bytes;
  w->slot_count = count;
  w->slot_bytes = slot;
  w->slots_offset = slots;
  return 0;
}

static int map_window(vfun_window *w, const char *path, char *err, size_t errcap) {
  memset(w, 0, sizeof *w);
  snprintf(w->path, sizeof w->path, "%s", path);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    set_err(err, errcap, "open %s: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)WIN_HEADER_BYTES) {
    set_err(err, errcap, "%s: not a regular file of at least %u bytes (sysfs resource files are)", path, WIN_HEADER_BYTES);
    close(fd);
    return -1;
  }
  w->mapped = (size_t)st.st_size;
  void *p = mmap(NULL, w->mapped, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    set_err(err, errcap, "mmap %s (%zu bytes): %s", path, w->mapped, strerror(errno));
    w->mapped = 0;
    return -1;
  }
  w->base = p;
  return 0;
}

static int read_hex_file(const char *path, unsigned long *out) {
  char buf[32];
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char *ok = fgets(buf, sizeof buf, f);
  fclose(f);
  if (!ok) return -1;
  char *end;
  *out = strtoul(buf, &end, 16);
  return end == buf ? -1 : 0;
}

int vfun_window_find_pci(char *path, size_t cap, char *err, size_t errcap) {
  const char *root = "/sys/bus/pci/devices";
  DIR *d = opendir(root);
  if (!d) {
    set_err(err, errcap, "%s: %s (is sysfs mounted?)", root, strerror(errno));
    return -1;
  }
  char why[512] = "";
  int found = 0;
  struct dirent *ent;
  while ((ent = readdir(d)) != NULL) {
    if (ent->d_name[0] == '.') continue;
    char file[512];
    unsigned long vendor, device;
    snprintf(file, sizeof file, "%s/%s/vendor", root, ent->d_name);
    if (read_hex_file(file, &vendor) != 0 || vendor != VFUN_IVSHMEM_VENDOR) continue;
    snprintf(file, sizeof file, "%s/%s/device", root, ent->d_name);
    if (read_hex_file(file, &device) != 0 || device != VFUN_IVSHMEM_DEVICE) continue;
    found++;
    snprintf(file, sizeof file, "%s/%s/resource2", root, ent->d_name);
    vfun_window w;
    if (map_window(&w, file, why, sizeof why) != 0) continue;
    int good = vfun_window_check(&w, why, sizeof why) == 0;
    vfun_window_close(&w);
    if (good) {
      snprintf(path, cap, "%s", file);
      closedir(d);
      return 0;
    }
  }
  closedir(d);
  if (found == 0) set_err(err, errcap, "no ivshmem PCI device (vendor 0x%04x, device 0x%04x) under %s", VFUN_IVSHMEM_VENDOR,
                          VFUN_IVSHMEM_DEVICE, root);
  else set_err(err, errcap, "%d ivshmem device(s), none with a usable window: %s", found, why);
  return -1;
}

int vfun_window_open(vfun_window *w, const char *path, char *err, size_t errcap) {
  char found[512];
  if (!path) {
    if (vfun_window_find_pci(found, sizeof found, err, errcap) != 0) return -1;
    path = found;
  }
  if (map_window(w, path, err, errcap) != 0) return -1;
  if (vfun_window_check(w, err, errcap) != 0) {
    vfun_window_close(w);
    return -1;
  }
  return 0;
}

static void copy_name(char out[65], const uint8_t *field) {
  memcpy(out, field, 64);
  out[64] = '\0';
}

/* field (char[64], NUL-padded) holds exactly `name`. */
static int name_is(const uint8_t *field, const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 64 || memcmp(field, name, n) != 0) return 0;
  for (size_t i = n; i < 64; i++)
    if (field[i] != 0) return 0;
  return 1;
}

int vfun_window_lookup(const vfun_window *w, const char *instance, vfun_window_entry *e, char *err, size_t errcap) {
  _Atomic uint32_t *generation = AT32(w->base, 36);
  /* vFunD bumps the generation after every table change: scan again if it moved under us. */
  for (int attempt = 0; attempt < 100; attempt++) {
    uint32_t gen = atomic_load(generation);
    int hit = -1;
    for (uint32_t i = 0; i < w->slot_count && hit < 0; i++) {
      const uint8_t *ent = w->base + WIN_HEADER_BYTES + (size_t)i * ENTRY_BYTES;
      if (atomic_load(AT32((uint8_t *)ent, 0)) != 1) continue; /* state: written last */
      if (!name_is(ent + 32, instance)) continue;
      e->slot = i;
      e->capacity = U32(ent, 4);
      e->dataout_offset = U32(ent, 8);
      e->datain_offset = U32(ent, 12);
      e->serial = U32(ent, 16);
      copy_name(e->instance, ent + 32);
      copy_name(e->app, ent + 96);
      copy_name(e->fn, ent + 160);
      hit = (int)i;
    }
    if (atomic_load(generation) != gen) continue;
    if (hit < 0) {
      set_err(err, errcap, "instance %.64s has no active entry in the window's %u-slot table", instance, w->slot_count);
      return -1;
    }
    uint64_t area = vfun_window_area_bytes(e->capacity);
    uint64_t out = (uint64_t)w->slots_offset + (uint64_t)e->slot * w->slot_bytes;
    if (e->capacity < 1 || e->capacity > MAX_CAPACITY || e->dataout_offset != out || e->datain_offset != out + area ||
        2 * area > w->slot_bytes || out + w->slot_bytes > w->window_bytes) {
      set_err(err, errcap,
              "entry of slot %u (instance %.64s) is inconsistent: capacity %u, dataoutOffset %u, datainOffset %u; expected "
              "dataoutOffset %llu, datainOffset %llu, both areas in a %u-byte slot",
              e->slot, instance, e->capacity, e->dataout_offset, e->datain_offset, (unsigned long long)out,
              (unsigned long long)(out + area), w->slot_bytes);
      return -1;
    }
    return 0;
  }
  set_err(err, errcap, "the window's instance table keeps changing (generation)");
  return -1;
}

void vfun_window_close(vfun_window *w) {
  if (w->base) munmap(w->base, w->mapped);
  w->base = NULL;
  w->mapped = 0;
}
