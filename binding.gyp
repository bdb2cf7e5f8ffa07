{
  "targets": [
    {
      "target_name": "vfun_shm",
      "sources": [
        "native/addon.c",
        "native/errors.c",
        "native/args.c",
        "native/mapping.c",
        "native/map.c",
        "native/futex.c",
        "native/futex_async.c",
        "native/lock.c",
        "native/memfd.c",
        "native/deadline.c",
        "native/fdsend.c",
        "native/fdfetch.c",
        "native/sandbox.c",
        "native/seccomp.c",
        "native/stored.c",
        "native/peercred.c"
      ],
      "cflags": ["-std=c11", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "cflags!": ["-O3"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-ldl"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources=": [] }]
      ]
    }
  ]
}
