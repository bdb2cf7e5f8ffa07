{
  "targets": [
    {
      "target_name": "vfun_shm",
      "sources": ["native/vfun_shm.c"],
      "cflags": ["-std=c11", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "cflags!": ["-O3"],
      "defines": ["NAPI_VERSION=8"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources!": ["native/vfun_shm.c"] }]
      ]
    }
  ]
}
