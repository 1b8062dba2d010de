{
  "targets": [
    {
      "target_name": "fsroot",
      "sources": ["fsroot.c", "netlink.c", "spawn.c", "mount-async.c"],
      "cflags": ["-Wall", "-O2"]
    }
  ]
}
