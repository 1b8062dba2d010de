{
  "targets": [
    {
      "target_name": "fsroot",
      "sources": ["fsroot.c"],
      "cflags": ["-Wall", "-O2"]
    }
  ]
}
