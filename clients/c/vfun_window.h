/*
 * The ivshmem window of a VirtFun guest in a virtual machine (docs/region-format.md §13): find
 * the ivshmem-plain PCI device and map its BAR 2 (or map a given file, on the host), check the
 * window header, find an instance's entry in the instance table, and point at its two areas.
 * Linux, C11.
 */
#ifndef VFUN_WINDOW_H
#define VFUN_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define VFUN_WINDOW_MAGIC 0x4E574656u /* 'VFWN' */
#define VFUN_IVSHMEM_VENDOR 0x1af4u
#define VFUN_IVSHMEM_DEVICE 0x1110u

typedef struct {
  uint8_t *base;        /* the mapping, read-write */
  size_t mapped;        /* bytes mapped (st_size of the file or of resource2) */
  uint32_t window_bytes, slot_count, slot_bytes, slots_offset;
  char path[512];       /* what was mapped */
} vfun_window;

typedef struct {
  uint32_t slot;
  uint32_t capacity, dataout_offset, datain_offset, serial;
  char instance[65], app[65], fn[65]; /* NUL-terminated copies */
} vfun_window_entry;

/* The resource2 path of the first ivshmem PCI device (vendor 0x1af4, device 0x1110) under
 * /sys/bus/pci/devices whose window header checks; 0, or -1 (err says what was found). */
int vfun_window_find_pci(char *path, size_t cap, char *err, size_t errcap);

/* Map `path` MAP_SHARED read-write (NULL: the ivshmem device's BAR 2) and check the window header
 * (§13.1). 0, or -1 (err). */
int vfun_window_open(vfun_window *w, const char *path, char *err, size_t errcap);

/* Check the header of a mapped window; fills the geometry fields. 0, or -1 (err). */
int vfun_window_check(vfun_window *w, char *err, size_t errcap);

/* The active entry whose instance id is `instance`, checked against the window's geometry.
 * 0 found, -1 not found or inconsistent (err). */
int vfun_window_lookup(const vfun_window *w, const char *instance, vfun_window_entry *e, char *err, size_t errcap);

/* Bytes available to each area of an entry's slot: roundUp(areaBytes(capacity), 4096). */
size_t vfun_window_area_bytes(uint32_t capacity);

/* Unmap. */
void vfun_window_close(vfun_window *w);

#endif
