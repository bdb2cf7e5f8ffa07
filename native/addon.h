/*
 * addon.h: the base every part of the vfun_shm addon includes first (after
 * defining _GNU_SOURCE): the N-API version the addon is written for and
 * node_api.h. The addon is Linux only.
 */
#ifndef VFUN_ADDON_H
#define VFUN_ADDON_H

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif

#ifndef __linux__
#error "vfun_shm needs Linux (mmap MAP_SHARED + futex)"
#endif

#include <node_api.h>

#endif
