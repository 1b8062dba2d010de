{
  "targets": [
    {
      "target_name": "fsroot",
      "sources": ["fsroot.c", "netlink.c", "spawn.c"],
      "cflags": ["-Wall", "-O2"]
    }
  ]
}
