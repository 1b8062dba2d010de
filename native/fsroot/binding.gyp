{
  "targets": [
    {
      "target_name": "fsroot",
      "sources": ["fsroot.c", "netlink.c"],
      "cflags": ["-Wall", "-O2"]
    }
  ]
}
